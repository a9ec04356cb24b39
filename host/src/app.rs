//! The application: shared state, the router, and `Application::build`, which connects and
//! migrates the database and binds the listener (port 0 in tests) before anything is served.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

use crate::auth::session::LoginGuard;
use crate::changes::Change;
use crate::config::Config;
use crate::db::Db;
use crate::error::{ApiError, ErrorCode};
use crate::i18n::text;
use crate::integrations::{self, outbound::Outbound, stream::StreamTarget, webhooks::Deliverer};
use crate::plugins::{self, Plugins};
use crate::records::{self, Store};
use crate::search::SearchIndex;
use crate::search::indexer::Indexer;
use crate::secrets::Sealer;
use crate::web::themes::Themes;

/// Largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub store: Arc<Store>,
    pub search: SearchIndex,
    pub login: Arc<LoginGuard>,
    pub plugins: Arc<Plugins>,
    pub themes: Arc<Themes>,
    /// Seals secrets the database holds (SMTP passwords).
    pub sealer: Arc<Sealer>,
}

/// Connects to the database, applies migrations and prepares the record store.
pub async fn open_store(database_url: &str) -> anyhow::Result<Arc<Store>> {
    let db = Db::connect(database_url).await?;
    db.migrate().await?;
    let store = Arc::new(Store::new(db));
    store
        .ensure_builtin_indexes()
        .await
        .context("cannot create the built-in indexes")?;
    Ok(store)
}

/// The search index of a data directory.
pub fn search_dir(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("search")
}

/// A router that keeps the path template of each route it serves, so that the OpenAPI
/// document can be checked against the routes themselves ([`api_paths`]).
#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    paths: Vec<&'static str>,
}

impl Routes {
    pub fn new() -> Routes {
        Routes::default()
    }

    pub fn route(mut self, path: &'static str, methods: MethodRouter<AppState>) -> Routes {
        self.router = self.router.route(path, methods);
        self.paths.push(path);
        self
    }

    pub fn merge(mut self, other: Routes) -> Routes {
        self.router = self.router.merge(other.router);
        self.paths.extend(other.paths);
        self
    }
}

/// Everything under `/api/v1`.
fn api_routes() -> Routes {
    Routes::new()
        .route("/search", get(crate::search::api::search))
        .merge(crate::auth::api::routes())
        .merge(plugins::api::routes())
        .merge(crate::web::api_routes())
        .merge(crate::integrations::api::routes())
        .merge(crate::mail::api::routes())
        .merge(crate::mail::mailboxes::routes())
        .merge(crate::transfer::api::routes())
        .merge(records::api::routes())
}

/// The path template of every route of the API — `/api/v1/…` and plugins' `/p/…` — as the
/// router serves them (`/api/v1/{plural}/{id}`). `tests/all/openapi.rs` checks that the
/// OpenAPI document describes each, with every method it answers.
pub fn api_paths() -> Vec<String> {
    let api = api_routes()
        .paths
        .into_iter()
        .map(|p| format!("/api/v1{p}"));
    let plugins = plugins::api::plugin_routes().paths.into_iter();
    api.chain(plugins.map(str::to_owned)).collect()
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/healthz",
            get(|| async { Json(json!({ "status": "ok" })) }),
        )
        .nest("/api/v1", api_routes().router)
        .merge(crate::web::routes())
        .merge(plugins::api::plugin_routes().router)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("request handler panicked");
            ApiError::new(ErrorCode::Internal, text!("api-internal")).into_response()
        }))
        .layer(axum::middleware::from_fn(crate::error::in_callers_language))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// The policy of every response that sets none of its own: nothing it contains may run or
/// load anything. Pages (`web::render_with`) set [`page_policy`] instead, and plugin routes
/// their sandbox (`plugins::api`).
pub const DEFAULT_POLICY: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The policy of a page: only the script and stylesheet tags that carry this response's
/// `nonce` load — the theme's own, which `layout.html` writes — so markup that reaches a page
/// any other way (a plugin panel, a stored value) cannot load script or style, not even from
/// this origin.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
         img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'self'"
    )
}

/// Headers every response carries: a content security policy, no framing, no MIME sniffing,
/// no referrer leaks to other sites.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", DEFAULT_POLICY),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "same-origin"),
    ] {
        // A handler's own policy (a page's nonce, the sandboxed logo) is kept.
        headers
            .entry(name)
            .or_insert(axum::http::HeaderValue::from_static(value));
    }
    response
}

async fn not_found(uri: Uri) -> Response {
    ApiError::new(
        ErrorCode::NotFound,
        text!("api-no-route", path = uri.path()),
    )
    .into_response()
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        text!(
            "api-method-not-allowed",
            method = method.as_str(),
            path = uri.path()
        ),
    )
    .into_response()
}

/// A built server, bound and ready to run.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    indexer: Indexer,
    retention_days: u32,
    stream: Option<StreamTarget>,
}

impl Application {
    pub async fn build(config: &Config) -> anyhow::Result<Application> {
        let store = open_store(&config.database_url).await?;
        let dir = search_dir(&config.data_dir);
        let search = SearchIndex::open(&dir)
            .with_context(|| format!("cannot open the search index in {}", dir.display()))?;
        let indexer = Indexer::new(search.clone(), store.clone()).with_context(|| {
            format!(
                "cannot lock the search index in {} (is another kith serve using it?)",
                dir.display()
            )
        })?;
        let sealer =
            Arc::new(Sealer::load(&config.data_dir).context("cannot load the secret key")?);
        let plugins = plugins::start(
            store.clone(),
            search.clone(),
            sealer.clone(),
            &config.plugin_cache_dir(),
        )
        .await
        .context("cannot start the plugin runtime")?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let state = AppState {
            db: store.db().clone(),
            store,
            search,
            login: Arc::new(LoginGuard::default()),
            plugins,
            themes: Arc::new(Themes::load().context("cannot load the bundled themes")?),
            sealer,
        };
        Ok(Application {
            listener,
            state,
            indexer,
            retention_days: config.retention_days,
            stream: config.stream.clone(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let purge = tokio::spawn(purge_loop(self.state.store.clone(), self.retention_days));
        let indexer = tokio::spawn(self.indexer.run());
        let deliveries = tokio::spawn(plugins::background::deliver_loop(
            self.state.plugins.clone(),
        ));
        let jobs = tokio::spawn(plugins::background::job_loop(self.state.plugins.clone()));
        let coherence = tokio::spawn(follow_changes(self.state.clone()));
        let outbound = Outbound::new().context("cannot build the outbound HTTP client")?;
        let webhooks = tokio::spawn(Deliverer::new(self.state.store.clone(), outbound).run());
        let mail = tokio::spawn(
            crate::mail::send::Sender::new(self.state.db.clone(), self.state.sealer.clone()).run(),
        );
        let mailboxes = tokio::spawn(
            crate::mail::imap::Poller::new(self.state.store.clone(), self.state.sealer.clone())
                .run(),
        );
        let imports = tokio::spawn(crate::transfer::run_loop(self.state.store.clone()));
        let stream = self.stream.map(|target| {
            tokio::spawn(integrations::stream::run(self.state.store.clone(), target))
        });
        let service = router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        let result = axum::serve(self.listener, service)
            .with_graceful_shutdown(shutdown)
            .await;
        purge.abort();
        indexer.abort();
        deliveries.abort();
        jobs.abort();
        coherence.abort();
        webhooks.abort();
        mail.abort();
        mailboxes.abort();
        imports.abort();
        if let Some(stream) = stream {
            stream.abort();
        }
        result.context("server error")
    }
}

/// How often a server looks for changes other processes made.
const FOLLOW_EVERY: Duration = Duration::from_millis(250);

/// Drops what this process cached of what other processes changed (`changes`): a custom
/// field, a plugin enabled or disabled, a theme changed through another replica or a CLI
/// command is honoured here within a second.
async fn follow_changes(state: AppState) {
    let mut follower = loop {
        match crate::changes::Follower::start(&state.db).await {
            Ok(follower) => break follower,
            Err(error) => {
                tracing::warn!(%error, "cannot follow changes yet");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let mut tick = tokio::time::interval(FOLLOW_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks: u64 = 0;
    loop {
        tick.tick().await;
        ticks += 1;
        let changed = match follower.next(&state.db).await {
            Ok(changed) => changed,
            Err(error) => {
                tracing::warn!(%error, "cannot read changes");
                continue;
            }
        };
        for (workspace, what) in changed {
            match what {
                Change::Schema => state.store.forget_schema(workspace),
                Change::Plugins => {
                    if let Err(error) = state.plugins.reload(workspace).await {
                        tracing::warn!(%error, "cannot reload a workspace's plugins");
                    }
                }
                Change::Look => state.themes.forget(workspace),
            }
        }
        // Every ten minutes, announcements every process has read go.
        if ticks.is_multiple_of(2400)
            && let Err(error) = crate::changes::prune(&state.db).await
        {
            tracing::warn!(%error, "cannot prune old changes");
        }
    }
}

/// Hourly: soft-deleted records past their retention are deleted for good.
async fn purge_loop(store: Arc<Store>, retention_days: u32) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        let cutoff = records::now_micros() - i64::from(retention_days) * 86_400_000_000;
        match store.purge_deleted(cutoff).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(purged, "purged deleted records past retention"),
            Err(error) => tracing::warn!(%error, "purge of deleted records failed"),
        }
    }
}
