//! Plugins (DESIGN §4): packages (`package`, `manifest`), the wasmtime sandbox (`runtime`),
//! the host imports plugins call (`host`, `convert`), the registry of what is installed and
//! enabled per workspace (`registry`), plugins inside record writes (`hooks`), after-save
//! delivery and jobs (`background`), and the HTTP routes (`api`).
//!
//! The contract is the WIT package in `plugin-sdk/wit/`; the host binds to that path, so the
//! SDK and the host can never disagree about it.

pub mod api;
pub mod background;
pub mod bundled;
pub mod convert;
mod epoch;
mod hooks;
mod host;
pub mod kv;
pub mod manifest;
mod model;
pub mod package;
pub mod panel;
pub mod registry;
pub mod runtime;
pub mod versions;

use std::path::Path;
use std::sync::Arc;

pub use host::{CallState, Services};
pub use registry::{Enabled, Plugins};

use crate::error::{ApiError, ErrorCode, FieldError};

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("{0}")]
    Package(String),
    #[error("the component cannot be used: {0}")]
    Component(String),
    #[error("plugin `{0}` is not installed")]
    NotInstalled(String),
    #[error("plugin `{0}` is not enabled in this workspace")]
    NotEnabled(String),
    #[error(
        "plugin `{0}` is suspended in this workspace after repeated failures: an admin can see them and enable it again"
    )]
    Suspended(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the plugin asks for permissions that were not granted")]
    NotGranted(Vec<String>),
    #[error("{0}")]
    Settings(String),
    #[error("the plugin does not fit this workspace's schema")]
    Schema(Vec<String>),
    #[error("stored plugin data is unreadable: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("cannot store a file: {0}")]
    Storage(String),
    #[error("{0}")]
    Setup(String),
}

impl From<PluginError> for ApiError {
    fn from(error: PluginError) -> Self {
        match error {
            PluginError::Package(m) | PluginError::Component(m) => {
                ApiError::validation(vec![FieldError::new("package", "invalid_package", m)])
            }
            PluginError::NotInstalled(_) => ApiError::new(ErrorCode::NotFound, error.to_string()),
            PluginError::NotEnabled(_) => {
                ApiError::new(ErrorCode::PluginNotEnabled, error.to_string())
            }
            PluginError::Suspended(_) => {
                ApiError::new(ErrorCode::PluginSuspended, error.to_string())
            }
            PluginError::Conflict(m) => ApiError::new(ErrorCode::Conflict, m),
            PluginError::NotGranted(ref missing) => {
                let details = missing
                    .iter()
                    .map(|m| FieldError::new("grant", "not_granted", m.clone()))
                    .collect();
                let mut api = ApiError::validation(details);
                api.message = error.to_string();
                api
            }
            PluginError::Settings(m) => {
                ApiError::validation(vec![FieldError::new("settings", "invalid_setting", m)])
            }
            PluginError::Schema(ref problems) => {
                let details = problems
                    .iter()
                    .map(|p| FieldError::new("manifest", "schema_conflict", p.clone()))
                    .collect();
                let mut api = ApiError::validation(details);
                api.message = error.to_string();
                api
            }
            PluginError::Setup(m) => ApiError::new(ErrorCode::PluginFailed, m),
            PluginError::Corrupt(m) | PluginError::Database(m) | PluginError::Storage(m) => {
                ApiError::internal(m)
            }
        }
    }
}

/// Starts the plugin system for a server or a command: the engine (compiled components cached
/// in `cache_dir`), the registry with every enabled plugin loaded, and the store's hooks.
pub async fn start(
    store: Arc<crate::records::Store>,
    search: crate::search::SearchIndex,
    sealer: Arc<crate::secrets::Sealer>,
    cache_dir: &Path,
) -> anyhow::Result<Arc<Plugins>> {
    let runtime = runtime::Runtime::new(Some(cache_dir.to_owned()))?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let services = Arc::new(Services {
        db: store.db().clone(),
        store: store.clone(),
        search,
        http,
        server: tokio::runtime::Handle::current(),
        enablements: registry::Enablements::default(),
        sealer,
    });
    let plugins = Plugins::start(runtime, services)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let weak = Arc::downgrade(&plugins);
    let extensions: std::sync::Weak<dyn crate::records::Extensions> = weak;
    store.set_extensions(extensions);
    Ok(plugins)
}
