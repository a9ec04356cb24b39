//! `/api/v1/admin/mail` (a workspace's SMTP settings and a connection test, admins),
//! `/api/v1/mail` (send; the log of sent and received mail), and `/api/v1/mail/inbound` (a raw
//! RFC 822 message POSTed by a mail provider).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::OnConflict,
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::model::{message, settings};
use super::send::{self, Outgoing};
use super::{Security, check_address, check_header_text, inbound, password_place};
use crate::app::{AppState, Routes};
use crate::auth::Identity;
use crate::error::{ApiError, ApiResult, ErrorCode, FieldError};
use crate::extract::{ApiPath, ApiQuery, JsonBody};
use crate::i18n::{Text, text};
use crate::ids::RecordId;
use crate::integrations::outbound;
use crate::records::value::format_micros;
use crate::records::{Actor, Store, now_micros};
use crate::secrets::Sealer;

/// Largest raw message `/mail/inbound` takes.
pub const MAX_INBOUND_BYTES: usize = 25 * 1024 * 1024;

pub fn routes() -> Routes {
    Routes::new()
        .route("/admin/mail", get(show_settings).put(save_settings))
        .route("/admin/mail/test", post(test_settings))
        .route("/mail", get(list).post(send_mail))
        .route(
            "/mail/inbound",
            post(receive).layer(DefaultBodyLimit::max(MAX_INBOUND_BYTES)),
        )
        .route("/mail/{id}", get(show))
        .route("/mail/{id}/attachments/{position}", get(attachment))
        .route("/mail/{id}/retry", post(retry))
}

fn not_set_up() -> ApiError {
    ApiError::new(ErrorCode::Conflict, text!("api-access-mail-not-set-up"))
}

fn settings_json(row: &settings::Model) -> Value {
    json!({
        "host": row.host,
        "port": row.port,
        "security": row.security,
        "username": row.username,
        "password_set": row.password_sealed.is_some(),
        "from_address": row.from_address,
        "from_name": row.from_name,
        "updated_at": format_micros(row.updated_at),
    })
}

async fn show_settings(
    State(state): State<AppState>,
    identity: Identity,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let row = settings::Entity::find_by_id(identity.workspace.0)
        .one(&state.db.read)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(not_set_up)?;
    Ok(Json(settings_json(&row)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    host: String,
    port: u16,
    security: String,
    #[serde(default)]
    username: String,
    /// A string sets the password, `null` removes it, absent keeps the one stored.
    #[serde(default, deserialize_with = "some_or_null")]
    password: Option<Option<String>>,
    from_address: String,
    #[serde(default)]
    from_name: String,
}

/// Tells a `null` (`Some(None)`) from an absent field (`None`).
pub(crate) fn some_or_null<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// Saves the SMTP settings (admins). The password is sealed by the server's key and never
/// shown again.
async fn save_settings(
    State(state): State<AppState>,
    identity: Identity,
    JsonBody(body): JsonBody<SettingsBody>,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let host = outbound::parse_host(&body.host).map_err(|m| ApiError::invalid("host", m))?;
    if body.port == 0 {
        return Err(ApiError::invalid("port", text!("api-access-port")));
    }
    if Security::parse(&body.security).is_none() {
        return Err(ApiError::invalid(
            "security",
            text!("api-access-smtp-security"),
        ));
    }
    let username =
        check_header_text(&body.username, 254).map_err(|m| ApiError::invalid("username", m))?;
    let from_address =
        check_address(&body.from_address).map_err(|m| ApiError::invalid("from_address", m))?;
    let from_name =
        check_header_text(&body.from_name, 200).map_err(|m| ApiError::invalid("from_name", m))?;
    // Last, as it resolves the name: the same rule as webhooks (private hosts need allowing).
    let allowed = outbound::allowed_hosts(&state.db.read, identity.workspace)
        .await
        .map_err(ApiError::internal)?;
    outbound::check_host(&host, body.port, &allowed)
        .await
        .map_err(|m| ApiError::invalid("host", m))?;
    let place = password_place(identity.workspace);
    let sealed = match &body.password {
        Some(Some(password)) if password.len() > 1024 => {
            return Err(ApiError::invalid(
                "password",
                text!("api-access-password-too-long"),
            ));
        }
        Some(Some(password)) => Some(Some(state.sealer.seal(password, &place))),
        Some(None) => Some(None),
        None => None,
    };
    let mut row = settings::ActiveModel {
        workspace_id: Set(identity.workspace.0),
        host: Set(host),
        port: Set(i32::from(body.port)),
        security: Set(body.security.clone()),
        username: Set(username),
        password_sealed: Set(None),
        from_address: Set(from_address),
        from_name: Set(from_name),
        updated_at: Set(now_micros()),
    };
    let mut columns = vec![
        settings::Column::Host,
        settings::Column::Port,
        settings::Column::Security,
        settings::Column::Username,
        settings::Column::FromAddress,
        settings::Column::FromName,
        settings::Column::UpdatedAt,
    ];
    if let Some(sealed) = sealed {
        row.password_sealed = Set(sealed);
        columns.push(settings::Column::PasswordSealed);
    }
    settings::Entity::insert(row)
        .on_conflict(
            OnConflict::column(settings::Column::WorkspaceId)
                .update_columns(columns)
                .to_owned(),
        )
        .exec_without_returning(&state.db.write)
        .await
        .map_err(ApiError::internal)?;
    let saved = settings::Entity::find_by_id(identity.workspace.0)
        .one(&state.db.write)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(not_set_up)?;
    state
        .store
        .security_event(
            identity.workspace,
            Some(identity.user),
            "mail_settings",
            identity.workspace.0,
            "mail_settings_changed",
            json!({ "host": saved.host, "port": saved.port, "password_changed": body.password.is_some() }),
        )
        .await?;
    Ok(Json(settings_json(&saved)))
}

/// Connects to the SMTP server with the saved settings and logs in: the result is the answer
/// (an unreachable server is `ok: false` with the reason, not an error of Kith's).
async fn test_settings(
    State(state): State<AppState>,
    identity: Identity,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let settings = super::settings(&state.db, &state.sealer, identity.workspace)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(not_set_up)?;
    Ok(Json(match send::test_connection(&settings).await {
        Ok(()) => json!({ "ok": true }),
        Err(error) => json!({ "ok": false, "error": error }),
    }))
}

/// An email to send, as the API takes it (and the record page's form is turned into).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    pub subject: String,
    pub body: String,
    /// Records to log the email on besides the contacts found by address.
    #[serde(default)]
    pub links: Vec<String>,
    /// The message (sent or received) this one answers: its id in the mail log, or its
    /// Message-ID.
    pub reply_to: Option<String>,
}

fn check_list(field: &str, list: &[String], min: usize) -> ApiResult<Vec<String>> {
    if list.len() < min || list.len() > 50 {
        return Err(ApiError::invalid(
            field,
            text!("api-access-address-count", min = min),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let address = check_address(entry).map_err(|m| {
            ApiError::validation(vec![FieldError::new(field, "invalid_value", m).at(i)])
        })?;
        if !out.contains(&address) {
            out.push(address);
        }
    }
    Ok(out)
}

/// `POST /mail`: 202, as sending happens after.
async fn send_mail(
    State(state): State<AppState>,
    identity: Identity,
    JsonBody(body): JsonBody<SendBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let queued = send(&state.store, &state.sealer, &identity.actor(), None, body).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "id": queued.id,
            "status": "queued",
            "message_id": queued.message_id,
            "thread_id": queued.thread_id,
            "activity_id": queued.activity_id,
        })),
    ))
}

/// A queued email: its row in the mail log, its headers' ids and its timeline entry.
#[derive(Debug, Clone)]
pub struct Queued {
    pub id: Uuid,
    pub message_id: String,
    pub thread_id: String,
    pub activity_id: Uuid,
}

/// Queues an email from the workspace's address and logs it on the timeline of the contacts
/// it goes to (and their companies, and `links`), as `actor` (for `plugin`, when a plugin
/// sends it): the API's, the record page's and plugins' one way to send.
pub async fn send(
    store: &Store,
    sealer: &Sealer,
    actor: &Actor,
    plugin: Option<&str>,
    body: SendBody,
) -> ApiResult<Queued> {
    let db = store.db();
    let to = check_list("to", &body.to, 1)?;
    let cc = check_list("cc", &body.cc, 0)?;
    let subject =
        check_header_text(&body.subject, 998).map_err(|m| ApiError::invalid("subject", m))?;
    if body.body.len() > 1024 * 1024 {
        return Err(ApiError::invalid(
            "body",
            text!("api-access-body-too-large"),
        ));
    }
    let mut links = Vec::new();
    for (i, link) in body.links.iter().enumerate() {
        let id = Uuid::parse_str(link).map_err(|_| {
            ApiError::validation(vec![
                FieldError::new("links", "invalid_id", text!("api-access-not-a-record-id")).at(i),
            ])
        })?;
        links.push(RecordId(id));
    }
    let settings = super::settings(db, sealer, actor.workspace)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(not_set_up)?;
    let in_reply_to = match &body.reply_to {
        None => None,
        Some(named) => {
            let missing = || ApiError::invalid("reply_to", text!("api-access-no-reply-to"));
            // The mail log's id, or the Message-ID header (an email activity's `message_id`).
            let parent = match Uuid::parse_str(named) {
                Ok(id) => super::find_message(db, actor.workspace, id).await,
                Err(_) => super::find_by_message_id(db, actor.workspace, named).await,
            }
            .map_err(ApiError::internal)?
            .ok_or_else(missing)?;
            Some((parent.message_id, parent.thread_id))
        }
    };
    let outgoing = Outgoing {
        to: to.clone(),
        cc: cc.clone(),
        subject: subject.clone(),
        body: body.body.clone(),
        in_reply_to,
    };
    let queued = send::queue(
        db,
        actor.workspace,
        &settings,
        Some(actor.user.0),
        plugin,
        &outgoing,
    )
    .await
    .map_err(ApiError::internal)?;
    // Parked (due never) until its activity is logged: a refused activity (the sender may not
    // create activities, or a link is not theirs) means nothing is sent.
    let logged = async {
        let mut addresses = to.clone();
        addresses.extend(cc.iter().cloned());
        let contacts = super::contacts_by_address(store, actor, &addresses).await?;
        super::log_activity(store, actor, &queued, super::links_of(&contacts, &links)).await
    }
    .await;
    let activity = match logged {
        Ok(activity) => activity,
        Err(error) => {
            message::Entity::delete_by_id(queued.id)
                .exec(&db.write)
                .await
                .map_err(ApiError::internal)?;
            return Err(error.into());
        }
    };
    message::Entity::update_many()
        .col_expr(message::Column::ActivityId, Expr::value(activity.id.0))
        .col_expr(message::Column::NextAt, Expr::value(now_micros()))
        .filter(message::Column::Id.eq(queued.id))
        .exec(&db.write)
        .await
        .map_err(ApiError::internal)?;
    Ok(Queued {
        id: queued.id,
        message_id: queued.message_id,
        thread_id: queued.thread_id,
        activity_id: activity.id.0,
    })
}

fn message_json(row: &message::Model) -> Value {
    json!({
        "id": row.id,
        "direction": row.direction,
        "status": row.status,
        "message_id": row.message_id,
        "in_reply_to": row.in_reply_to,
        "thread_id": row.thread_id,
        "from": row.from_address,
        "to": row.to_addresses,
        "cc": row.cc_addresses,
        "subject": row.subject,
        "attachments": row.attachments,
        "activity_id": row.activity_id,
        "attempts": row.attempts,
        "next_at": (row.status == "queued").then(|| format_micros(row.next_at)),
        "last_error": row.last_error,
        "server_reply": row.server_reply,
        "sent_by_plugin": row.sent_by_plugin,
        "created_at": format_micros(row.created_at),
        "sent_at": row.sent_at.map(format_micros),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogParams {
    status: Option<String>,
    direction: Option<String>,
    limit: Option<String>,
}

/// Sent and received mail, newest first (admins): each message's status, tries and the
/// server's last answer.
async fn list(
    State(state): State<AppState>,
    identity: Identity,
    ApiQuery(params): ApiQuery<LogParams>,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let bad = |m: Text| ApiError::new(ErrorCode::InvalidParameter, m);
    let limit = crate::records::api::parse_limit(params.limit.as_deref())?;
    let mut select =
        message::Entity::find().filter(message::Column::WorkspaceId.eq(identity.workspace.0));
    if let Some(status) = params.status.as_deref() {
        if !["queued", "sent", "failed", "receiving", "received"].contains(&status) {
            return Err(bad(text!("api-access-mail-status")));
        }
        select = select.filter(message::Column::Status.eq(status));
    }
    if let Some(direction) = params.direction.as_deref() {
        if !["in", "out"].contains(&direction) {
            return Err(bad(text!("api-access-mail-direction")));
        }
        select = select.filter(message::Column::Direction.eq(direction));
    }
    let rows = select
        .order_by_desc(message::Column::CreatedAt)
        .limit(limit)
        .all(&state.db.read)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(
        json!({ "data": rows.iter().map(message_json).collect::<Vec<_>>() }),
    ))
}

/// One message: admins see any, others the ones they sent.
async fn show(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let missing = || ApiError::new(ErrorCode::NotFound, text!("api-access-no-such-message"));
    let id = Uuid::parse_str(&id).map_err(|_| missing())?;
    let row = super::find_message(&state.db, identity.workspace, id)
        .await
        .map_err(ApiError::internal)?
        .filter(|row| identity.is_admin() || row.created_by == Some(identity.user.0))
        .ok_or_else(missing)?;
    Ok(Json(message_json(&row)))
}

/// The bytes of a received message's attachment, to whoever may see the message. Served as a
/// download, never rendered: an HTML or SVG attachment is someone else's script.
async fn attachment(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath((id, position)): ApiPath<(String, String)>,
) -> ApiResult<axum::response::Response> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let missing = || ApiError::new(ErrorCode::NotFound, text!("api-access-no-such-attachment"));
    let id = Uuid::parse_str(&id).map_err(|_| missing())?;
    let position: i32 = position.parse().map_err(|_| missing())?;
    let message = super::find_message(&state.db, identity.workspace, id)
        .await
        .map_err(ApiError::internal)?
        .filter(|row| identity.is_admin() || row.created_by == Some(identity.user.0))
        .ok_or_else(missing)?;
    let file = super::model::attachment::Entity::find_by_id((message.id, position))
        .one(&state.db.read)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(missing)?;
    let name: String = file
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_ ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let name = if name.trim().is_empty() {
        "attachment".to_owned()
    } else {
        name
    };
    let content_type = file
        .content_type
        .parse::<axum::http::HeaderValue>()
        .unwrap_or(axum::http::HeaderValue::from_static(
            "application/octet-stream",
        ));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\"")
                    .parse()
                    .unwrap_or(axum::http::HeaderValue::from_static("attachment")),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                axum::http::HeaderValue::from_static("nosniff"),
            ),
            (
                header::CONTENT_SECURITY_POLICY,
                axum::http::HeaderValue::from_static("sandbox; default-src 'none'"),
            ),
        ],
        file.content,
    )
        .into_response())
}

/// Queues a failed message again now (admins).
async fn retry(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    identity.require_admin()?;
    let missing = || ApiError::new(ErrorCode::NotFound, text!("api-access-no-failed-message"));
    let id = Uuid::parse_str(&id).map_err(|_| missing())?;
    if !send::retry(&state.db, identity.workspace, id)
        .await
        .map_err(ApiError::internal)?
    {
        return Err(missing());
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": id, "status": "queued" })),
    ))
}

/// Receives a raw RFC 822 message (admins: a mail provider's inbound hook with an admin's
/// token). 201 with what was stored; 200 when the Message-ID was received before.
async fn receive(
    State(state): State<AppState>,
    identity: Identity,
    headers: HeaderMap,
    raw: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    identity.require_admin()?;
    let media = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    if !matches!(
        media.as_deref(),
        Some("message/rfc822" | "application/octet-stream")
    ) {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            text!("api-access-raw-message"),
        ));
    }
    let own = super::settings(&state.db, &state.sealer, identity.workspace)
        .await
        .map_err(ApiError::internal)?
        .map(|s| s.from_address);
    let received = inbound::receive(&state.store, &identity.actor(), own.as_deref(), &raw)
        .await
        .map_err(|error| match error {
            inbound::InboundError::NotAMessage => ApiError::new(
                ErrorCode::ValidationFailed,
                text!("api-access-not-a-message"),
            ),
            inbound::InboundError::Store(error) => error.into(),
            inbound::InboundError::Database(error) => ApiError::internal(error),
        })?;
    let mut out = message_json(&received.message);
    out["contacts"] = json!(received.contacts.iter().map(|c| c.0).collect::<Vec<_>>());
    out["duplicate"] = json!(received.duplicate);
    let status = if received.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(out)))
}
