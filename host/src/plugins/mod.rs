//! Plugins (DESIGN §4): packages (`package`, `manifest`, their catalogues `messages`), the wasmtime sandbox (`runtime`),
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
pub mod messages;
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
use crate::i18n::{Text, text};

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
            // What a package check says names the file and line for the plugin's author.
            PluginError::Package(_) | PluginError::Component(_) => {
                let what = Text::verbatim(error.to_string());
                ApiError::validation(vec![FieldError::new("package", "invalid_package", what)])
            }
            PluginError::NotInstalled(id) => ApiError::new(
                ErrorCode::NotFound,
                text!("api-plugins-not-installed", plugin = id),
            ),
            PluginError::NotEnabled(id) => ApiError::new(
                ErrorCode::PluginNotEnabled,
                text!("api-plugins-not-enabled", plugin = id),
            ),
            PluginError::Suspended(id) => ApiError::new(
                ErrorCode::PluginSuspended,
                text!("api-plugins-suspended", plugin = id),
            ),
            PluginError::Conflict(m) => ApiError::new(ErrorCode::Conflict, Text::verbatim(m)),
            PluginError::NotGranted(ref missing) => {
                let details = missing
                    .iter()
                    .map(|m| FieldError::new("grant", "not_granted", Text::verbatim(m.clone())))
                    .collect();
                let mut api = ApiError::validation(details);
                api.message = text!("api-plugins-not-granted");
                api
            }
            PluginError::Settings(m) => {
                let what = Text::verbatim(m);
                ApiError::validation(vec![FieldError::new("settings", "invalid_setting", what)])
            }
            PluginError::Schema(ref problems) => {
                let details = problems
                    .iter()
                    .map(|p| {
                        FieldError::new("manifest", "schema_conflict", Text::verbatim(p.clone()))
                    })
                    .collect();
                let mut api = ApiError::validation(details);
                api.message = text!("api-plugins-schema");
                api
            }
            PluginError::Setup(m) => ApiError::new(ErrorCode::PluginFailed, Text::verbatim(m)),
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
