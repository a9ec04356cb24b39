//! `/api/v1/admin/mailboxes` (admins): the IMAP mailboxes a workspace polls — add, change,
//! remove, test the connection, poll now — and each one's bookmark and last result.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::api::some_or_null;
use super::imap::{self, Account, password_place};
use super::model::mailbox;
use super::{Security, check_header_text};
use crate::app::{AppState, Routes};
use crate::auth::Identity;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{ApiPath, JsonBody};
use crate::i18n::text;
use crate::ids::WorkspaceId;
use crate::integrations::outbound;
use crate::records::now_micros;
use crate::records::value::format_micros;

/// Mailboxes per workspace at most.
const MAX_MAILBOXES: usize = 50;

pub fn routes() -> Routes {
    Routes::new()
        .route("/admin/mailboxes", get(list).post(create))
        .route(
            "/admin/mailboxes/{id}",
            get(show).put(update).delete(remove),
        )
        .route("/admin/mailboxes/{id}/test", post(test))
        .route("/admin/mailboxes/{id}/poll", post(poll_now))
}

pub fn mailbox_json(row: &mailbox::Model) -> Value {
    json!({
        "id": row.id,
        "name": row.name,
        "host": row.host,
        "port": row.port,
        "security": row.security,
        "username": row.username,
        "password_set": row.password_sealed.is_some(),
        "folder": row.folder,
        "enabled": row.enabled,
        "poll_seconds": row.poll_seconds,
        "uid_validity": row.uid_validity,
        "last_uid": row.last_uid,
        "received": row.received,
        "skipped": row.skipped,
        "next_poll_at": row.enabled.then(|| format_micros(row.next_poll_at)),
        "last_polled_at": row.last_polled_at.map(format_micros),
        "last_error": row.last_error,
        "created_at": format_micros(row.created_at),
        "updated_at": format_micros(row.updated_at),
    })
}

/// A mailbox as an admin sends it; `password` absent keeps the stored one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxBody {
    pub name: String,
    pub host: String,
    pub port: u16,
    pub security: String,
    pub username: String,
    #[serde(default, deserialize_with = "some_or_null")]
    pub password: Option<Option<String>>,
    #[serde(default = "inbox")]
    pub folder: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default = "minute")]
    pub poll_seconds: i32,
}

fn inbox() -> String {
    "INBOX".into()
}

fn yes() -> bool {
    true
}

fn minute() -> i32 {
    60
}

/// A checked body: what is stored.
struct Checked {
    name: String,
    host: String,
    port: i32,
    security: String,
    username: String,
    folder: String,
}

async fn check(state: &AppState, workspace: WorkspaceId, body: &MailboxBody) -> ApiResult<Checked> {
    let name = body.name.trim();
    if name.is_empty() || body.name.chars().count() > 100 {
        return Err(ApiError::invalid("name", text!("api-access-mailbox-name")));
    }
    let host = outbound::parse_host(&body.host).map_err(|m| ApiError::invalid("host", m))?;
    if body.port == 0 {
        return Err(ApiError::invalid("port", text!("api-access-port")));
    }
    if Security::parse(&body.security).is_none() {
        return Err(ApiError::invalid(
            "security",
            text!("api-access-imap-security"),
        ));
    }
    let username =
        check_header_text(&body.username, 254).map_err(|m| ApiError::invalid("username", m))?;
    if username.is_empty() {
        return Err(ApiError::invalid(
            "username",
            text!("api-access-login-required"),
        ));
    }
    let folder =
        check_header_text(&body.folder, 200).map_err(|m| ApiError::invalid("folder", m))?;
    if folder.is_empty() {
        return Err(ApiError::invalid(
            "folder",
            text!("api-access-folder-required"),
        ));
    }
    if !(10..=86_400).contains(&body.poll_seconds) {
        return Err(ApiError::invalid(
            "poll_seconds",
            text!("api-access-poll-seconds"),
        ));
    }
    if let Some(Some(password)) = &body.password
        && password.len() > 1024
    {
        return Err(ApiError::invalid(
            "password",
            text!("api-access-password-too-long"),
        ));
    }
    // Last, as it resolves the name: private hosts need allowing, as for webhooks and SMTP.
    let allowed = outbound::allowed_hosts(&state.db.read, workspace)
        .await
        .map_err(ApiError::internal)?;
    outbound::check_host(&host, body.port, &allowed)
        .await
        .map_err(|m| ApiError::invalid("host", m))?;
    Ok(Checked {
        name: name.to_owned(),
        host,
        port: i32::from(body.port),
        security: body.security.clone(),
        username,
        folder,
    })
}

fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, text!("api-access-no-such-mailbox"))
}

async fn find(state: &AppState, identity: &Identity, id: &str) -> ApiResult<mailbox::Model> {
    identity.require_admin()?;
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    mailbox::Entity::find_by_id(id)
        .filter(mailbox::Column::WorkspaceId.eq(identity.workspace.0))
        .one(&state.db.read)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(not_found)
}

async fn audit(
    state: &AppState,
    identity: &Identity,
    row: &mailbox::Model,
    action: &str,
) -> ApiResult<()> {
    state
        .store
        .security_event(
            identity.workspace,
            Some(identity.user),
            "mailbox",
            row.id,
            action,
            json!({ "name": row.name, "host": row.host, "username": row.username }),
        )
        .await?;
    Ok(())
}

async fn list(State(state): State<AppState>, identity: Identity) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let rows = mailbox::Entity::find()
        .filter(mailbox::Column::WorkspaceId.eq(identity.workspace.0))
        .order_by_asc(mailbox::Column::CreatedAt)
        .all(&state.db.read)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(
        json!({ "data": rows.iter().map(mailbox_json).collect::<Vec<_>>() }),
    ))
}

async fn show(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(mailbox_json(&find(&state, &identity, &id).await?)))
}

/// Adds a mailbox (polled at once): its password is sealed with the server's key.
pub async fn create(
    State(state): State<AppState>,
    identity: Identity,
    JsonBody(body): JsonBody<MailboxBody>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    identity.require_admin()?;
    let checked = check(&state, identity.workspace, &body).await?;
    let Some(Some(password)) = &body.password else {
        return Err(ApiError::invalid(
            "password",
            text!("api-access-password-required"),
        ));
    };
    let count = mailbox::Entity::find()
        .filter(mailbox::Column::WorkspaceId.eq(identity.workspace.0))
        .count(&state.db.read)
        .await
        .map_err(ApiError::internal)?;
    if count >= MAX_MAILBOXES as u64 {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            text!("api-access-too-many-mailboxes", max = MAX_MAILBOXES),
        ));
    }
    let id = Uuid::now_v7();
    let now = now_micros();
    let row = mailbox::ActiveModel {
        id: Set(id),
        workspace_id: Set(identity.workspace.0),
        name: Set(checked.name),
        host: Set(checked.host),
        port: Set(checked.port),
        security: Set(checked.security),
        username: Set(checked.username),
        password_sealed: Set(Some(state.sealer.seal(password, &password_place(id)))),
        folder: Set(checked.folder),
        enabled: Set(body.enabled),
        poll_seconds: Set(body.poll_seconds),
        acting_user: Set(identity.user.0),
        uid_validity: Set(None),
        last_uid: Set(0),
        received: Set(0),
        skipped: Set(0),
        next_poll_at: Set(now),
        lease_owner: Set(None),
        lease_until: Set(0),
        last_polled_at: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let stored = mailbox::Entity::insert(row)
        .exec_with_returning(&state.db.write)
        .await
        .map_err(ApiError::internal)?;
    audit(&state, &identity, &stored, "mailbox_added").await?;
    Ok((StatusCode::CREATED, Json(mailbox_json(&stored))))
}

/// Changes a mailbox. Another server, login or folder is another mailbox: its bookmark
/// starts again (what was stored before is found by Message-ID, not stored twice).
async fn update(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
    JsonBody(body): JsonBody<MailboxBody>,
) -> ApiResult<Json<Value>> {
    let row = find(&state, &identity, &id).await?;
    let checked = check(&state, identity.workspace, &body).await?;
    let moved = checked.host != row.host
        || checked.port != row.port
        || checked.username != row.username
        || checked.folder != row.folder;
    let password = match &body.password {
        Some(Some(password)) => Some(state.sealer.seal(password, &password_place(row.id))),
        Some(None) => {
            return Err(ApiError::invalid(
                "password",
                text!("api-access-mailbox-needs-password"),
            ));
        }
        None => row.password_sealed.clone(),
    };
    let now = now_micros();
    let mut change = mailbox::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(row.id),
        name: Set(checked.name),
        host: Set(checked.host),
        port: Set(checked.port),
        security: Set(checked.security),
        username: Set(checked.username),
        password_sealed: Set(password),
        folder: Set(checked.folder),
        enabled: Set(body.enabled),
        poll_seconds: Set(body.poll_seconds),
        acting_user: Set(identity.user.0),
        next_poll_at: Set(now),
        last_error: Set(None),
        updated_at: Set(now),
        ..Default::default()
    };
    if moved {
        change.uid_validity = Set(None);
        change.last_uid = Set(0);
    }
    // `row` was found in the caller's workspace.
    let saved = mailbox::Entity::update(change)
        .exec(&state.db.write)
        .await
        .map_err(|error| match error {
            sea_orm::DbErr::RecordNotUpdated => not_found(),
            error => ApiError::internal(error),
        })?;
    audit(&state, &identity, &saved, "mailbox_changed").await?;
    Ok(Json(mailbox_json(&saved)))
}

async fn remove(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let row = find(&state, &identity, &id).await?;
    mailbox::Entity::delete_by_id(row.id)
        .exec(&state.db.write)
        .await
        .map_err(ApiError::internal)?;
    audit(&state, &identity, &row, "mailbox_removed").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Connects, logs in and opens the folder: the answer says whether it worked (an unreachable
/// server is `ok: false` with the reason, not an error of Kith's).
async fn test(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    let row = find(&state, &identity, &id).await?;
    let allowed = outbound::allowed_hosts(&state.db.read, identity.workspace)
        .await
        .map_err(ApiError::internal)?;
    let result = match Account::of(&row, &state.sealer) {
        Ok(account) => imap::test(&account, &allowed).await,
        Err(error) => Err(error),
    };
    Ok(Json(match result {
        Ok(messages) => json!({ "ok": true, "messages": messages }),
        Err(error) => json!({ "ok": false, "error": error }),
    }))
}

/// Makes the mailbox due now (the poller takes it within a second).
async fn poll_now(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let row = find(&state, &identity, &id).await?;
    if !row.enabled {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            text!("api-access-mailbox-disabled"),
        ));
    }
    mailbox::Entity::update_many()
        .col_expr(mailbox::Column::NextPollAt, Expr::value(0))
        .filter(mailbox::Column::Id.eq(row.id))
        .exec(&state.db.write)
        .await
        .map_err(ApiError::internal)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": row.id, "status": "due" })),
    ))
}
