//! Settings pages of the integrations, for admins: Email (`/settings/mail`: the SMTP settings,
//! a connection test and the log of sent and received mail), Mailboxes (`/settings/mailboxes`:
//! the IMAP mailboxes polled for mail) and Webhooks (`/settings/webhooks`: subscriptions, each
//! one's delivery log at `/settings/webhooks/{id}`, and the hosts on private networks that
//! outbound calls may reach).
//!
//! Like the other settings pages they read the tables directly, and their forms and buttons
//! change data through the JSON API (`mail::api`, `mail::mailboxes`, `integrations::api`) from
//! the theme's script, so every change passes the API's checks and lands in the audit log.
//! Passwords and signing secrets never reach a page: a page says whether a password is stored,
//! and a new signing secret is shown once, by the script, from the API's answer.

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Path, RawQuery};
use axum::response::Response;
use axum::routing::get;
use sea_orm::{
    ColumnTrait, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::display::local_stamp;
use super::settings::admin_page;
use super::{Form, Web, encode};
use crate::app::AppState;
use crate::auth::model::user;
use crate::auth::people;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::i18n::text;
use crate::integrations::model::{webhook, webhook_delivery as delivery};
use crate::integrations::{event_id, outbound, webhooks};
use crate::mail::model::{mailbox, message, settings};
use crate::records::from_micros;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/settings/mail", get(mail_page))
        .route("/settings/mailboxes", get(mailboxes_page))
        .route("/settings/webhooks", get(webhooks_page))
        .route("/settings/webhooks/{id}", get(webhook_page))
}

/// Rows of the mail log a page shows, newest first.
const MAIL_LOG_ROWS: u64 = 100;
/// Deliveries a page of a subscription's log shows.
const DELIVERY_ROWS: u64 = 50;
const MAIL_STATUSES: [&str; 5] = ["queued", "sent", "failed", "receiving", "received"];
const DELIVERY_STATUSES: [&str; 3] = ["pending", "delivered", "failed"];

/// A stored moment as the page shows it: on the reader's clock, and as RFC 3339 for `<time>`.
fn when(web: &Web, micros: i64) -> Value {
    let at = from_micros(micros);
    json!({
        "text": local_stamp(at, web.zone, web.lang),
        "iso": at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

/// The workspace's users by id, named as pages name them.
async fn user_names(web: &Web) -> ApiResult<HashMap<Uuid, String>> {
    let rows = user::Entity::find()
        .filter(user::Column::WorkspaceId.eq(web.identity.workspace.0))
        .all(&web.state.db.read)
        .await
        .map_err(ApiError::internal)?;
    Ok(rows.iter().map(|u| (u.id, people::shown_name(u))).collect())
}

/// A query parameter when it is one of `allowed`, else "" (no filter).
fn choice(query: &Form, name: &str, allowed: &[&str]) -> String {
    query
        .get(name)
        .filter(|v| allowed.contains(v))
        .unwrap_or_default()
        .to_owned()
}

fn options(pairs: &[(&str, String)]) -> Value {
    pairs
        .iter()
        .map(|(value, label)| json!({ "value": value, "label": label }))
        .collect()
}

// -- Email ----------------------------------------------------------------------------------

/// What the mail log shows of a message (not its body, which may be large).
#[derive(Debug, FromQueryResult)]
struct LogRow {
    id: Uuid,
    direction: String,
    status: String,
    from_address: String,
    to_addresses: Value,
    subject: String,
    attempts: i32,
    next_at: i64,
    last_error: Option<String>,
    server_reply: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
}

/// `/settings/mail`: the SMTP settings form (the password is never shown: the page says
/// whether one is stored), a connection test, and the mail log with a retry for failed mail,
/// filtered by `?status=` and `?direction=`.
async fn mail_page(web: Web, RawQuery(raw): RawQuery) -> Response {
    let query = Form::parse(raw.unwrap_or_default().as_bytes());
    admin_page(&web, "mail", "settings/mail.html", async {
        let workspace = web.identity.workspace.0;
        let stored = settings::Entity::find_by_id(workspace)
            .one(&web.state.db.read)
            .await
            .map_err(ApiError::internal)?;
        let smtp = match &stored {
            Some(row) => json!({
                "host": row.host,
                "port": row.port,
                "security": row.security,
                "username": row.username,
                "password_set": row.password_sealed.is_some(),
                "from_address": row.from_address,
                "from_name": row.from_name,
                "updated": when(&web, row.updated_at),
            }),
            None => json!({
                "host": "", "port": 587, "security": "starttls", "username": "",
                "password_set": false, "from_address": "", "from_name": "", "updated": null,
            }),
        };
        let status = choice(&query, "status", &MAIL_STATUSES);
        let direction = choice(&query, "direction", &["in", "out"]);
        let mut select = message::Entity::find()
            .select_only()
            .columns([
                message::Column::Id,
                message::Column::Direction,
                message::Column::Status,
                message::Column::FromAddress,
                message::Column::ToAddresses,
                message::Column::Subject,
                message::Column::Attempts,
                message::Column::NextAt,
                message::Column::LastError,
                message::Column::ServerReply,
                message::Column::CreatedAt,
                message::Column::SentAt,
            ])
            .filter(message::Column::WorkspaceId.eq(workspace));
        if !status.is_empty() {
            select = select.filter(message::Column::Status.eq(status.as_str()));
        }
        if !direction.is_empty() {
            select = select.filter(message::Column::Direction.eq(direction.as_str()));
        }
        let rows = select
            .order_by_desc(message::Column::CreatedAt)
            .limit(MAIL_LOG_ROWS)
            .into_model::<LogRow>()
            .all(&web.state.db.read)
            .await
            .map_err(ApiError::internal)?;
        let more = rows.len() as u64 == MAIL_LOG_ROWS;
        let messages: Vec<Value> = rows
            .iter()
            .map(|m| {
                let to: Vec<&str> = m
                    .to_addresses
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                json!({
                    "id": m.id,
                    "out": m.direction == "out",
                    "status": m.status,
                    "from": m.from_address,
                    "to": to.join(", "),
                    "subject": m.subject,
                    "attempts": m.attempts,
                    "created": when(&web, m.created_at),
                    "sent": m.sent_at.map(|at| when(&web, at)),
                    "next": (m.status == "queued").then(|| when(&web, m.next_at)),
                    "error": m.last_error,
                    "reply": m.server_reply,
                    "retry_url": (m.status == "failed" && m.direction == "out")
                        .then(|| format!("/api/v1/mail/{}/retry", m.id)),
                })
            })
            .collect();
        Ok(json!({
            "set_up": stored.is_some(),
            "smtp": smtp,
            "securities": options(&[
                ("starttls", web.lang.t("security-starttls-587")),
                ("tls", web.lang.t("security-tls-465")),
                ("none", web.lang.t("security-none")),
            ]),
            "messages": messages,
            "more": more,
            "limit": MAIL_LOG_ROWS,
            "filter": { "status": status, "direction": direction },
            "statuses": MAIL_STATUSES,
        }))
    })
    .await
}

// -- Mailboxes ------------------------------------------------------------------------------

/// `/settings/mailboxes`: each mailbox with what it received and skipped, its last poll and
/// last error, an edit form (the password is never shown), Test, Poll now and Delete; and the
/// form that adds one.
async fn mailboxes_page(web: Web) -> Response {
    admin_page(&web, "mailboxes", "settings/mailboxes.html", async {
        let rows = mailbox::Entity::find()
            .filter(mailbox::Column::WorkspaceId.eq(web.identity.workspace.0))
            .order_by_asc(mailbox::Column::CreatedAt)
            .all(&web.state.db.read)
            .await
            .map_err(ApiError::internal)?;
        let names = user_names(&web).await?;
        let mailboxes: Vec<Value> = rows
            .iter()
            .map(|m| {
                let url = format!("/api/v1/admin/mailboxes/{}", m.id);
                json!({
                    "id": m.id,
                    "name": m.name,
                    "host": m.host,
                    "port": m.port,
                    "security": m.security,
                    "username": m.username,
                    "password_set": m.password_sealed.is_some(),
                    "folder": m.folder,
                    "enabled": m.enabled,
                    "poll_seconds": m.poll_seconds,
                    "received": m.received,
                    "skipped": m.skipped,
                    "last_polled": m.last_polled_at.map(|at| when(&web, at)),
                    "next_poll": m.enabled.then(|| when(&web, m.next_poll_at)),
                    "last_error": m.last_error,
                    "acting_user": names.get(&m.acting_user),
                    "url": url,
                    "test_url": format!("{url}/test"),
                    "poll_url": format!("{url}/poll"),
                })
            })
            .collect();
        Ok(json!({
            "mailboxes": mailboxes,
            "securities": options(&[
                ("tls", web.lang.t("security-tls-993")),
                ("starttls", web.lang.t("security-starttls-143")),
                ("none", web.lang.t("security-none")),
            ]),
        }))
    })
    .await
}

// -- Webhooks -------------------------------------------------------------------------------

fn events_of(hook: &webhook::Model) -> Vec<String> {
    hook.events
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// A subscription as its pages show it (never its secret).
async fn hook_json(
    web: &Web,
    hook: &webhook::Model,
    names: &HashMap<Uuid, String>,
) -> ApiResult<Value> {
    let count = |status: &'static str| {
        delivery::Entity::find()
            .filter(delivery::Column::WebhookId.eq(hook.id))
            .filter(delivery::Column::Status.eq(status))
            .count(&web.state.db.read)
    };
    let pending = count("pending").await.map_err(ApiError::internal)?;
    let failed = count("failed").await.map_err(ApiError::internal)?;
    let events = events_of(hook);
    let url = format!("/api/v1/webhooks/{}", hook.id);
    Ok(json!({
        "id": hook.id,
        "url": hook.url,
        "events": events,
        "events_text": events.join(", "),
        "description": hook.description,
        "enabled": hook.enabled,
        "created": when(web, hook.created_at),
        "created_by": names.get(&hook.created_by),
        "pending": pending,
        "failed": failed,
        "api_url": url,
        "secret_url": format!("{url}/secret"),
        "log_url": format!("/settings/webhooks/{}", hook.id),
    }))
}

/// `/settings/webhooks`: the subscriptions (each with its pending and failed deliveries, an
/// edit form, enable or disable, a new secret, delete), the form that adds one, and the hosts
/// on private networks that webhooks and mail may reach.
async fn webhooks_page(web: Web) -> Response {
    admin_page(&web, "webhooks", "settings/webhooks.html", async {
        let rows = webhook::Entity::find()
            .filter(webhook::Column::WorkspaceId.eq(web.identity.workspace.0))
            .order_by_asc(webhook::Column::CreatedAt)
            .all(&web.state.db.read)
            .await
            .map_err(ApiError::internal)?;
        let names = user_names(&web).await?;
        let mut hooks = Vec::with_capacity(rows.len());
        for hook in &rows {
            hooks.push(hook_json(&web, hook, &names).await?);
        }
        let hosts = outbound::allowed_hosts(&web.state.db.read, web.identity.workspace)
            .await
            .map_err(ApiError::internal)?;
        let schema = web.state.store.schema(web.identity.workspace).await?;
        let types: Vec<&str> = schema.types().iter().map(|t| t.name.as_str()).collect();
        Ok(json!({
            "webhooks": hooks,
            "types": types,
            "actions": webhooks::ACTIONS,
            "hosts": hosts,
            "hosts_text": hosts.join(", "),
            "max_hosts": outbound::MAX_ALLOWED_HOSTS,
        }))
    })
    .await
}

/// What a subscription's log shows of a delivery (not its body).
#[derive(Debug, FromQueryResult)]
struct DeliveryRow {
    id: Uuid,
    seq: i64,
    record_id: Uuid,
    event_type: String,
    status: String,
    attempts: i32,
    next_at: i64,
    last_status: Option<i32>,
    last_error: Option<String>,
    last_response: Option<String>,
    created_at: i64,
    delivered_at: Option<i64>,
}

/// `/settings/webhooks/{id}`: one subscription and its delivery log, newest event first,
/// filtered by `?status=` and paged by `?before=<event seq>`, with Replay.
async fn webhook_page(web: Web, Path(id): Path<String>, RawQuery(raw): RawQuery) -> Response {
    let query = Form::parse(raw.unwrap_or_default().as_bytes());
    admin_page(&web, "webhooks", "settings/webhook.html", async {
        let missing = || ApiError::new(ErrorCode::NotFound, text!("api-web-no-such-webhook"));
        let id = Uuid::parse_str(&id).map_err(|_| missing())?;
        let hook = webhook::Entity::find_by_id(id)
            .filter(webhook::Column::WorkspaceId.eq(web.identity.workspace.0))
            .one(&web.state.db.read)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(missing)?;
        let names = user_names(&web).await?;
        let shown = hook_json(&web, &hook, &names).await?;
        let status = choice(&query, "status", &DELIVERY_STATUSES);
        let before = query.get("before").and_then(|b| b.parse::<i64>().ok());
        let mut select = delivery::Entity::find()
            .select_only()
            .columns([
                delivery::Column::Id,
                delivery::Column::Seq,
                delivery::Column::RecordId,
                delivery::Column::EventType,
                delivery::Column::Status,
                delivery::Column::Attempts,
                delivery::Column::NextAt,
                delivery::Column::LastStatus,
                delivery::Column::LastError,
                delivery::Column::LastResponse,
                delivery::Column::CreatedAt,
                delivery::Column::DeliveredAt,
            ])
            .filter(delivery::Column::WebhookId.eq(hook.id));
        if !status.is_empty() {
            select = select.filter(delivery::Column::Status.eq(status.as_str()));
        }
        if let Some(before) = before {
            select = select.filter(delivery::Column::Seq.lt(before));
        }
        let rows = select
            .order_by_desc(delivery::Column::Seq)
            .limit(DELIVERY_ROWS)
            .into_model::<DeliveryRow>()
            .all(&web.state.db.read)
            .await
            .map_err(ApiError::internal)?;
        let schema = web.state.store.schema(web.identity.workspace).await?;
        let page = format!("/settings/webhooks/{}", hook.id);
        let with_status = |extra: &str| {
            let mut params = Vec::new();
            if !status.is_empty() {
                params.push(format!("status={}", encode(&status)));
            }
            if !extra.is_empty() {
                params.push(extra.to_owned());
            }
            if params.is_empty() {
                page.clone()
            } else {
                format!("{page}?{}", params.join("&"))
            }
        };
        let older = (rows.len() as u64 == DELIVERY_ROWS)
            .then(|| {
                rows.last()
                    .map(|r| with_status(&format!("before={}", r.seq)))
            })
            .flatten();
        let deliveries: Vec<Value> = rows
            .iter()
            .map(|d| {
                let record_url = d
                    .event_type
                    .split_once('.')
                    .and_then(|(entity, _)| schema.by_name(entity))
                    .map(|t| format!("/records/{}/{}", t.plural, d.record_id));
                json!({
                    "id": d.id,
                    "event_id": event_id(d.seq),
                    "event_type": d.event_type,
                    "record_id": d.record_id,
                    "record_url": record_url,
                    "status": d.status,
                    "attempts": d.attempts,
                    "last_status": d.last_status,
                    "last_error": d.last_error,
                    "last_response": d.last_response,
                    "created": when(&web, d.created_at),
                    "next": (d.status == "pending").then(|| when(&web, d.next_at)),
                    "delivered": d.delivered_at.map(|at| when(&web, at)),
                    "replay_url": (d.status != "pending").then(|| {
                        format!("/api/v1/webhooks/{}/deliveries/{}/replay", hook.id, d.id)
                    }),
                })
            })
            .collect();
        Ok(json!({
            "webhook": shown,
            "deliveries": deliveries,
            "filter": { "status": status, "before": before },
            "statuses": DELIVERY_STATUSES,
            "newest_url": with_status(""),
            "older_url": older,
            "max_attempts": webhooks::MAX_ATTEMPTS,
        }))
    })
    .await
}
