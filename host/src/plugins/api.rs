//! Plugin routes: administration under `/api/v1/plugins` (admins), actions and panels (any
//! user of the workspace, acting as themselves), and each plugin's own routes under
//! `/p/{plugin-id}/…`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::hooks::context;
use super::manifest::{PanelLocation, Permissions};
use super::package::Package;
use std::sync::Arc;

use super::registry::Enabled;
use super::runtime::{CallKind, MAX_VALUE_BYTES, guest, types};
use crate::app::{AppState, Routes};
use crate::auth::Identity;
use crate::error::{ApiError, ApiResult, ErrorCode, FieldError};
use crate::extract::{AnyJson, ApiPath, ApiQuery, JsonBody};
use crate::i18n::Language;
use crate::i18n::{Text, text};
use crate::ids::RecordId;
use crate::locale::Locale;
use crate::records::Actor;

/// The header a plugin route's request carries with the reader's language (`en`, `zh-CN`),
/// chosen as the web app chooses a page's; one a client sends is replaced.
pub const LANGUAGE_HEADER: &str = "kith-language";

/// The language `identity` reads in, as the web app chooses a page's
/// (`Language::choose`): their setting, else their browser's, else the workspace's, else
/// English.
pub async fn reader_language(
    state: &AppState,
    identity: &Identity,
    headers: &HeaderMap,
) -> Language {
    use crate::auth::model::user;
    use sea_orm::{EntityTrait, QuerySelect};
    let setting: Option<Option<String>> = user::Entity::find_by_id(identity.user.0)
        .select_only()
        .column(user::Column::Language)
        .into_tuple()
        .one(&state.db.read)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot read a user's language");
            None
        });
    let workspace = match state.themes.look(&state.db, identity.workspace).await {
        Ok(look) => look.language,
        Err(error) => {
            tracing::warn!(%error, "cannot read a workspace's language");
            None
        }
    };
    Language::choose(
        setting.flatten().as_deref(),
        headers,
        workspace.map(Language::tag),
    )
}

/// Largest plugin package accepted by `POST /api/v1/plugins`.
const MAX_PACKAGE_BYTES: usize = 40 * 1024 * 1024;

pub fn routes() -> Routes {
    Routes::new()
        .route(
            "/plugins",
            get(list_plugins)
                .post(install_plugin)
                .layer(DefaultBodyLimit::max(MAX_PACKAGE_BYTES)),
        )
        .route("/plugins/{id}", get(get_plugin))
        .route("/plugins/{id}/enable", post(enable_plugin))
        .route("/plugins/{id}/disable", post(disable_plugin))
        .route("/plugins/{id}/actions/{action}", post(run_action))
        .route("/plugins/{id}/panels/{panel}", get(panel))
        .route("/plugins/{id}/jobs/{job}/run", post(run_job_now))
        .route("/plugins/{id}/deliveries", get(list_deliveries))
        .route(
            "/plugins/{id}/deliveries/{seq}",
            axum::routing::delete(drop_delivery),
        )
        .route("/plugins/{id}/deliveries/{seq}/retry", post(retry_delivery))
}

/// `/p/{plugin-id}/…`, outside `/api/v1`.
pub fn plugin_routes() -> Routes {
    Routes::new()
        .route("/p/{id}", any(plugin_route))
        .route("/p/{id}/{*rest}", any(plugin_route))
}

async fn list_plugins(State(state): State<AppState>, identity: Identity) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let list = state.plugins.list(identity.workspace).await?;
    Ok(Json(json!({ "data": list })))
}

/// Installs a package sent as a `.tar.gz` body.
async fn install_plugin(
    State(state): State<AppState>,
    identity: Identity,
    body: Bytes,
) -> ApiResult<Response> {
    identity.require_admin()?;
    if body.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidBody,
            text!("api-plugins-send-package"),
        ));
    }
    let dir = std::env::temp_dir().join(format!("kith-upload-{}", uuid::Uuid::now_v7()));
    let path = dir.join("package.tar.gz");
    let package = tokio::task::spawn_blocking(move || {
        let kept = |error: std::io::Error| {
            tracing::error!(%error, "cannot keep an uploaded plugin package");
            super::PluginError::Storage(error.to_string())
        };
        std::fs::create_dir_all(&dir).map_err(kept)?;
        let loaded = std::fs::write(&path, &body).map_err(kept).and_then(|()| {
            // Errors name the upload, not the temporary file it was kept in.
            Package::load_archive_as(&path, "the uploaded package")
                .map_err(|e| super::PluginError::Package(e.to_string()))
        });
        let _ = std::fs::remove_dir_all(&dir);
        loaded
    })
    .await
    .map_err(ApiError::internal)??;
    let (manifest, created) = state.plugins.install(package).await?;
    audit(
        &state,
        &identity,
        "plugin_installed",
        json!({ "plugin": manifest.id, "version": manifest.version }),
    )
    .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({ "id": manifest.id, "version": manifest.version, "permissions": manifest.permissions_summary() })))
        .into_response())
}

async fn get_plugin(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let list = state.plugins.list(identity.workspace).await?;
    let info = list.into_iter().find(|p| p.id == id).ok_or_else(|| {
        ApiError::from(super::PluginError::NotInstalled(
            id.chars().take(64).collect(),
        ))
    })?;
    let failures: Vec<Value> = state
        .plugins
        .failures(identity.workspace, &id, 50)
        .await?
        .into_iter()
        .map(|f| {
            json!({
                "version": f.version,
                "kind": f.kind,
                "message": f.message,
                "at": crate::records::value::format_micros(f.at),
            })
        })
        .collect();
    let mut out = serde_json::to_value(info).unwrap_or_default();
    out["failures"] = Value::Array(failures);
    let storage = super::kv::usage(&state.db, identity.workspace.0, &id)
        .await
        .map_err(ApiError::internal)?;
    out["storage"] = serde_json::to_value(storage).unwrap_or_default();
    let waiting =
        super::background::deliveries(state.plugins.services(), identity.workspace, &id, 1000)
            .await
            .map_err(ApiError::internal)?;
    let dead = waiting
        .iter()
        .filter(|(row, _)| row.dead_at.is_some())
        .count();
    out["deliveries"] = json!({ "retrying": waiting.len() - dead, "dead": dead });
    Ok(Json(out))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnableBody {
    /// The version to run; the newest installed when absent.
    version: Option<String>,
    /// What the admin grants: must cover what the plugin asks for.
    grant: Permissions,
    #[serde(default)]
    settings: Map<String, Value>,
}

async fn enable_plugin(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
    JsonBody(body): JsonBody<EnableBody>,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let actor = identity.actor();
    let enabled = state
        .plugins
        .enable(
            &actor,
            &id,
            body.version.as_deref(),
            &body.grant,
            body.settings,
        )
        .await?;
    let version = enabled.plugin.manifest.version.clone();
    audit(
        &state,
        &identity,
        "plugin_enabled",
        json!({ "plugin": id, "version": version, "grant": body.grant }),
    )
    .await?;
    Ok(Json(
        json!({ "id": id, "version": version, "enabled": true }),
    ))
}

async fn disable_plugin(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    state.plugins.disable(identity.workspace, &id).await?;
    audit(
        &state,
        &identity,
        "plugin_disabled",
        json!({ "plugin": id }),
    )
    .await?;
    Ok(Json(json!({ "id": id, "enabled": false })))
}

/// Records an administrator's plugin change in the audit log.
async fn audit(
    state: &AppState,
    identity: &Identity,
    action: &str,
    details: Value,
) -> ApiResult<()> {
    state
        .store
        .security_event(
            identity.workspace,
            Some(identity.user),
            "plugin",
            uuid::Uuid::nil(),
            action,
            details,
        )
        .await?;
    Ok(())
}

/// A failed call as the API's error, naming the plugin.
fn call_failed(id: &str, kind: CallKind, failure: super::runtime::Failure) -> ApiError {
    match failure {
        super::runtime::Failure::Busy(_) => ApiError::new(
            ErrorCode::PluginBusy,
            text!(
                "api-plugins-busy",
                plugin = id,
                failure = failure.to_string()
            ),
        ),
        _ => ApiError::new(
            ErrorCode::PluginFailed,
            text!(
                "api-plugins-call-failed",
                plugin = id,
                failure = failure.to_string(),
                call = kind.as_str()
            ),
        ),
    }
}

async fn run_action(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath((id, action)): ApiPath<(String, String)>,
    AnyJson(input): AnyJson,
) -> ApiResult<Json<Value>> {
    let enabled = state.plugins.enabled_plugin(identity.workspace, &id)?;
    let value = call_action(&state.plugins, &enabled, identity.actor(), &action, &input).await?;
    Ok(Json(json!({ "data": value })))
}

/// Runs a plugin's action as `actor`: the plugin's answer, its refusal as the matching 4xx,
/// or its failure as `plugin_failed`.
pub async fn call_action(
    plugins: &super::registry::Plugins,
    enabled: &Arc<Enabled>,
    actor: Actor,
    action: &str,
    input: &Value,
) -> ApiResult<Value> {
    let id = enabled.id().to_owned();
    if !enabled
        .plugin
        .manifest
        .actions
        .iter()
        .any(|a| a.name == action)
    {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            text!(
                "api-plugins-no-action",
                plugin = id,
                action = action.chars().take(64).collect::<String>()
            ),
        ));
    }
    let ctx = context(enabled, &actor);
    let input = input.to_string();
    let name = action.to_owned();
    let answer = plugins
        .invoke(enabled, actor, CallKind::Action, move |plugin, store| {
            Box::pin(async move {
                let answer = plugin.run_action(store, &ctx, &name, &input).await?;
                // A refusal is the caller's problem, not a failure of the plugin.
                Ok(match answer {
                    Ok(output) => Ok(Ok(output)),
                    Err(guest::ActionError::Refused(refusal)) => Ok(Err(refusal)),
                    Err(guest::ActionError::Failed(message)) => Err(message),
                })
            })
        })
        .await
        .map_err(|failure| call_failed(&id, CallKind::Action, failure))?;
    let output = answer.map_err(|refusal| refused(&id, refusal))?;
    if output.len() > MAX_VALUE_BYTES {
        return Err(ApiError::new(
            ErrorCode::PluginFailed,
            text!(
                "api-plugins-answer-too-large",
                plugin = id,
                max = MAX_VALUE_BYTES
            ),
        ));
    }
    serde_json::from_str(&output).map_err(|_| {
        ApiError::new(
            ErrorCode::PluginFailed,
            text!("api-plugins-answer-not-json", plugin = id),
        )
    })
}

/// A plugin's refusal of an action as the API's error: the codes the API knows keep their
/// status; any other code is a 422 `action_refused` that carries it in `details`.
fn refused(plugin: &str, refusal: types::HostError) -> ApiError {
    let known = [
        ErrorCode::Conflict,
        ErrorCode::RecordNotFound,
        ErrorCode::Forbidden,
        ErrorCode::ValidationFailed,
        ErrorCode::InvalidParameter,
        ErrorCode::VersionConflict,
    ];
    let cap = |text: &str, max: usize| text.chars().take(max).collect::<String>();
    let mut details: Vec<FieldError> = refusal
        .details
        .iter()
        .take(100)
        .map(|d| {
            FieldError::with_code(
                cap(&d.field, 128),
                cap(&d.code, 64),
                Text::verbatim(cap(&d.message, 1000)),
            )
        })
        .collect();
    let code = match known.into_iter().find(|c| c.as_str() == refusal.code) {
        Some(code) => code,
        None => {
            if details.is_empty() {
                details.push(FieldError::with_code(
                    "",
                    cap(&refusal.code, 64),
                    Text::verbatim(cap(&refusal.message, 1000)),
                ));
            }
            ErrorCode::ActionRefused
        }
    };
    let mut error = ApiError::new(
        code,
        text!(
            "api-plugins-refused",
            plugin = plugin,
            message = cap(&refusal.message, 1000)
        ),
    );
    error.details = details;
    error
}

/// The after-save events of a plugin whose delivery failed (admins): retrying, or dead
/// letters once their retries are spent.
async fn list_deliveries(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    installed(&state, &identity, &id).await?;
    let rows =
        super::background::deliveries(state.plugins.services(), identity.workspace, &id, 200)
            .await
            .map_err(ApiError::internal)?;
    let at = crate::records::value::format_micros;
    let data: Vec<Value> = rows
        .into_iter()
        .map(|(row, event)| {
            json!({
                "seq": row.seq,
                "entity_type": event.as_ref().map(|e| e.entity_type.clone()),
                "record_id": row.record_id,
                "action": event.as_ref().map(|e| e.event.clone()),
                "attempts": row.attempts,
                "next_at": row.dead_at.is_none().then(|| at(row.next_at)),
                "dead_at": row.dead_at.map(at),
                "last_error": row.last_error,
            })
        })
        .collect();
    Ok(Json(json!({ "data": data })))
}

/// Tries a failed after-save event again now, its attempts counted afresh (admins).
async fn retry_delivery(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath((id, seq)): ApiPath<(String, i64)>,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let found =
        super::background::retry_delivery(state.plugins.services(), identity.workspace, &id, seq)
            .await
            .map_err(ApiError::internal)?;
    delivery_answer(&state, &identity, &id, seq, found, "delivery_retried").await
}

/// Gives up a failed after-save event: it will not be delivered (admins).
async fn drop_delivery(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath((id, seq)): ApiPath<(String, i64)>,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let found =
        super::background::drop_delivery(state.plugins.services(), identity.workspace, &id, seq)
            .await
            .map_err(ApiError::internal)?;
    delivery_answer(&state, &identity, &id, seq, found, "delivery_dropped").await
}

/// The answer to a retry or drop: audited when there was such an event, 404 otherwise.
async fn delivery_answer(
    state: &AppState,
    identity: &Identity,
    id: &str,
    seq: i64,
    found: bool,
    action: &str,
) -> ApiResult<Json<Value>> {
    if !found {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            text!("api-plugins-no-failed-delivery", plugin = id, seq = seq),
        ));
    }
    audit(
        state,
        identity,
        action,
        json!({ "plugin": id, "event": seq }),
    )
    .await?;
    Ok(Json(json!({ "plugin": id, "seq": seq })))
}

/// A 404 for a plugin not installed (by its exact id).
async fn installed(state: &AppState, identity: &Identity, id: &str) -> ApiResult<()> {
    let list = state.plugins.list(identity.workspace).await?;
    if list.iter().any(|p| p.id == id) {
        Ok(())
    } else {
        Err(super::PluginError::NotInstalled(id.chars().take(64).collect()).into())
    }
}

/// Queues a run of a job now (admins).
async fn run_job_now(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath((id, job)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    identity.require_admin()?;
    let enabled = state.plugins.enabled_plugin(identity.workspace, &id)?;
    if !enabled.plugin.manifest.jobs.iter().any(|j| j.name == job) {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            text!(
                "api-plugins-no-job",
                plugin = id,
                job = job.chars().take(64).collect::<String>()
            ),
        ));
    }
    super::background::queue_job(state.plugins.services(), &enabled, &job)
        .await
        .map_err(ApiError::internal)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": id, "job": job, "queued": true })),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PanelParams {
    /// The record the panel is shown on (record panels).
    record: Option<String>,
}

/// Renders a panel to HTML: the plugin builds the context, the host renders its template.
async fn panel(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath((id, name)): ApiPath<(String, String)>,
    ApiQuery(params): ApiQuery<PanelParams>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let enabled = state.plugins.enabled_plugin(identity.workspace, &id)?;
    let spec = enabled
        .plugin
        .manifest
        .panels
        .iter()
        .find(|p| p.name == name)
        .cloned()
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                text!(
                    "api-plugins-no-panel",
                    plugin = &id,
                    panel = name.chars().take(64).collect::<String>()
                ),
            )
        })?;
    let actor = identity.actor();
    let record = match (&spec.location, params.record.as_deref()) {
        (PanelLocation::Dashboard, _) => None,
        (PanelLocation::Record(entity), Some(raw)) => {
            let record_id = uuid::Uuid::parse_str(raw).map(RecordId).map_err(|_| {
                ApiError::new(ErrorCode::InvalidId, text!("api-plugins-record-not-id"))
            })?;
            let schema = state.store.schema(identity.workspace).await?;
            let ty = schema.by_name(entity).ok_or_else(|| {
                ApiError::new(
                    ErrorCode::UnknownEntity,
                    text!("api-unknown-entity", name = entity),
                )
            })?;
            let view = state.store.view(&actor, &ty.plural).await?;
            let record = state.store.get(&actor, &view, record_id).await?;
            Some(super::convert::record_to_wit(&view, &record))
        }
        (PanelLocation::Record(_), None) => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                text!("api-plugins-record-required"),
            ));
        }
    };
    let language = reader_language(&state, &identity, &headers).await;
    let html = panel_html(
        &state,
        &enabled,
        actor,
        &name,
        record,
        language,
        Locale::of_request(&headers),
    )
    .await?;
    let title = enabled.plugin.messages.panel_title(language, &spec);
    Ok(Json(
        json!({ "plugin": id, "panel": name, "title": title, "html": html }),
    ))
}

/// Renders one panel of an enabled plugin to HTML as `actor`, in the reader's `language` (the
/// plugin's messages, `t`) with figures as `locale` writes them: the plugin builds the
/// context, the host renders the plugin's template (autoescaped). The API and the web app
/// both use it.
pub async fn panel_html(
    state: &AppState,
    enabled: &Arc<Enabled>,
    actor: Actor,
    name: &str,
    record: Option<types::EntityRecord>,
    language: Language,
    locale: Locale,
) -> ApiResult<String> {
    let id = enabled.id().to_owned();
    let ctx = context(enabled, &actor);
    let panel_name = name.to_owned();
    let built: guest::Panel = state
        .plugins
        .invoke(enabled, actor, CallKind::Panel, move |plugin, store| {
            Box::pin(async move {
                plugin
                    .render_panel(store, &ctx, &panel_name, record.as_ref())
                    .await
            })
        })
        .await
        .map_err(|failure| call_failed(&id, CallKind::Panel, failure))?;
    let rendered = super::panel::render(
        &enabled.plugin,
        &built.template,
        &built.context,
        language,
        locale,
    );
    rendered.map_err(|message| {
        ApiError::new(
            ErrorCode::PluginFailed,
            text!(
                "api-plugins-panel-failed",
                plugin = id,
                panel = name,
                message = message.to_string()
            ),
        )
    })
}

/// Serves a route a plugin declared, as the calling user.
async fn plugin_route(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(params): ApiPath<Vec<(String, String)>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let id = params
        .iter()
        .find(|(k, _)| k == "id")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let rest = params
        .iter()
        .find(|(k, _)| k == "rest")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let path = format!("/{rest}");
    let enabled = state.plugins.enabled_plugin(identity.workspace, &id)?;
    if enabled
        .plugin
        .manifest
        .route(method.as_str(), &path)
        .is_none()
    {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            text!(
                "api-plugins-no-route",
                plugin = id,
                method = method.as_str(),
                path = path.chars().take(200).collect::<String>()
            ),
        ));
    }
    let language = reader_language(&state, &identity, &headers).await;
    let mut forwarded: Vec<(String, String)> = headers
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "authorization" | "cookie" | LANGUAGE_HEADER))
        .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_owned())))
        .collect();
    forwarded.push((LANGUAGE_HEADER.to_owned(), language.tag().to_owned()));
    let request = guest::HttpRequest {
        method: method.to_string(),
        path,
        query: uri.query().unwrap_or_default().to_owned(),
        headers: forwarded,
        body: body.to_vec(),
    };
    let actor = identity.actor();
    let ctx = context(&enabled, &actor);
    let answer = state
        .plugins
        .invoke(&enabled, actor, CallKind::Route, move |plugin, store| {
            Box::pin(async move { plugin.handle_http(store, &ctx, &request).await })
        })
        .await
        .map_err(|failure| call_failed(&id, CallKind::Route, failure))?;
    route_response(&id, answer)
}

/// The policy of everything a plugin route answers: a sandboxed document (an opaque origin in
/// which no script runs, no form is sent and nothing but this server's images and styles
/// load), never framed, never embedded by another site.
const ROUTE_POLICY: &str = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'self'; \
     media-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// The headers a plugin route may set; every other header it answers is dropped (cookies,
/// CORS, security headers, `clear-site-data`… stay the host's).
const ROUTE_HEADERS: &[&str] = &[
    "content-type",
    "content-disposition",
    "content-language",
    "cache-control",
    "etag",
    "last-modified",
    "expires",
    "vary",
    "retry-after",
    "location",
];

/// Whether a content type is one a browser would run as script (the HTML standard's
/// JavaScript MIME types, and modules' JSON is not one of them).
fn is_script_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    matches!(
        essence.as_str(),
        "application/ecmascript"
            | "application/javascript"
            | "application/x-ecmascript"
            | "application/x-javascript"
            | "text/ecmascript"
            | "text/javascript"
            | "text/javascript1.0"
            | "text/javascript1.1"
            | "text/javascript1.2"
            | "text/javascript1.3"
            | "text/javascript1.4"
            | "text/javascript1.5"
            | "text/jscript"
            | "text/livescript"
            | "text/x-ecmascript"
            | "text/x-javascript"
    )
}

/// A redirect target on this server: a path (`/…`), not a scheme or another host (`//…`,
/// `/\…`, which browsers read as one).
fn same_site_location(location: &str) -> bool {
    let bytes = location.as_bytes();
    bytes.first() == Some(&b'/')
        && !matches!(bytes.get(1), Some(b'/' | b'\\'))
        && !location.chars().any(|c| c.is_control() || c == '\\')
}

/// A plugin route's answer as this server's response: its status, body and the headers it may
/// set, served sandboxed. Script, redirects off-site and bodies over the size limit are the
/// plugin's failure.
fn route_response(id: &str, answer: guest::HttpResponse) -> ApiResult<Response> {
    let failed = |why: Text| ApiError::new(ErrorCode::PluginFailed, why);
    if answer.body.len() > MAX_VALUE_BYTES {
        return Err(failed(text!(
            "api-plugins-answer-too-large",
            plugin = id,
            max = MAX_VALUE_BYTES
        )));
    }
    let status = StatusCode::from_u16(answer.status)
        .ok()
        .filter(|s| s.as_u16() >= 200)
        .ok_or_else(|| {
            failed(text!(
                "api-plugins-route-status",
                plugin = id,
                status = answer.status
            ))
        })?;
    let mut response = (status, answer.body).into_response();
    let headers = response.headers_mut();
    for (name, value) in answer.headers {
        let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value))
        else {
            continue;
        };
        if !ROUTE_HEADERS.contains(&name.as_str()) {
            continue;
        }
        let text = value.to_str().unwrap_or_default();
        if name == axum::http::header::CONTENT_TYPE && is_script_type(text) {
            return Err(failed(text!("api-plugins-route-script", plugin = id)));
        }
        if name == axum::http::header::LOCATION && !same_site_location(text) {
            return Err(failed(text!("api-plugins-route-off-site", plugin = id)));
        }
        headers.insert(name, value);
    }
    if status.is_redirection() && !headers.contains_key(axum::http::header::LOCATION) {
        return Err(failed(text!(
            "api-plugins-route-no-location",
            plugin = id,
            status = status.to_string()
        )));
    }
    headers
        .entry(axum::http::header::CONTENT_TYPE)
        .or_insert(HeaderValue::from_static("application/octet-stream"));
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static(ROUTE_POLICY),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    Ok(response)
}
