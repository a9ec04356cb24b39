//! `/api/v1/webhooks` (admins): subscriptions, their delivery log and replays; and
//! `/api/v1/admin/outbound-hosts`, the private hosts outbound calls may reach.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::model::{webhook, webhook_delivery as delivery};
use super::{outbound, webhooks};
use crate::app::{AppState, Routes};
use crate::auth::Identity;
use crate::error::{ApiError, ApiResult, ErrorCode, FieldError};
use crate::extract::{ApiPath, ApiQuery, JsonBody};
use crate::i18n::{Text, text};
use crate::records::now_micros;
use crate::records::value::format_micros;

pub fn routes() -> Routes {
    Routes::new()
        .route("/webhooks", get(list).post(create))
        .route("/webhooks/{id}", get(show).patch(update).delete(remove))
        .route("/webhooks/{id}/secret", post(rotate_secret))
        .route("/webhooks/{id}/deliveries", get(deliveries))
        .route("/webhooks/{id}/deliveries/{delivery}/replay", post(replay))
        .route("/admin/outbound-hosts", get(list_hosts).put(save_hosts))
}

/// A subscription as the API shows it: never its secret.
fn shown(hook: &webhook::Model) -> Value {
    json!({
        "id": hook.id,
        "url": hook.url,
        "events": hook.events,
        "description": hook.description,
        "enabled": hook.enabled,
        "created_by": hook.created_by,
        "created_at": format_micros(hook.created_at),
    })
}

/// The subscription `id` of the caller's workspace (another workspace's answers 404, like a
/// missing one).
async fn find(state: &AppState, identity: &Identity, id: &str) -> ApiResult<webhook::Model> {
    let missing = || ApiError::new(ErrorCode::NotFound, text!("api-access-no-such-webhook"));
    let id = Uuid::parse_str(id).map_err(|_| missing())?;
    webhook::Entity::find_by_id(id)
        .filter(webhook::Column::WorkspaceId.eq(identity.workspace.0))
        .one(&state.db.read)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(missing)
}

/// Checks a subscription's URL and event types for the caller's workspace.
async fn check(
    state: &AppState,
    identity: &Identity,
    url: Option<&str>,
    events: Option<&[String]>,
) -> ApiResult<Option<Vec<String>>> {
    if let Some(url) = url {
        let allowed = outbound::allowed_hosts(&state.db.read, identity.workspace)
            .await
            .map_err(ApiError::internal)?;
        outbound::check_url(url, &allowed)
            .await
            .map_err(|message| ApiError::invalid("url", message))?;
    }
    let Some(events) = events else {
        return Ok(None);
    };
    let schema = state.store.schema(identity.workspace).await?;
    let types: Vec<String> = schema.types().iter().map(|t| t.name.clone()).collect();
    webhooks::check_events(events, &types)
        .map(Some)
        .map_err(|message| ApiError::invalid("events", message))
}

fn check_description(description: Option<&str>) -> ApiResult<()> {
    match description {
        Some(d) if d.chars().count() > 500 => Err(ApiError::invalid(
            "description",
            text!("api-access-too-many-characters", max = 500),
        )),
        _ => Ok(()),
    }
}

async fn list(State(state): State<AppState>, identity: Identity) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let hooks = webhook::Entity::find()
        .filter(webhook::Column::WorkspaceId.eq(identity.workspace.0))
        .order_by_asc(webhook::Column::CreatedAt)
        .all(&state.db.read)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(
        json!({ "data": hooks.iter().map(shown).collect::<Vec<_>>() }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWebhook {
    url: String,
    events: Vec<String>,
    #[serde(default)]
    description: String,
    #[serde(default = "yes")]
    enabled: bool,
}

fn yes() -> bool {
    true
}

/// Subscribes a URL; answers the subscription with its secret, shown this once. Deliveries
/// start with the events committed after it.
async fn create(
    State(state): State<AppState>,
    identity: Identity,
    JsonBody(body): JsonBody<NewWebhook>,
) -> ApiResult<(StatusCode, [(&'static str, String); 1], Json<Value>)> {
    identity.require_admin()?;
    check_description(Some(&body.description))?;
    let events = check(&state, &identity, Some(&body.url), Some(&body.events))
        .await?
        .unwrap_or_default();
    let count = webhook::Entity::find()
        .filter(webhook::Column::WorkspaceId.eq(identity.workspace.0))
        .count(&state.db.read)
        .await
        .map_err(ApiError::internal)?;
    if count >= webhooks::MAX_WEBHOOKS {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            text!("api-access-too-many-webhooks", max = webhooks::MAX_WEBHOOKS),
        ));
    }
    let secret = webhooks::new_secret().map_err(ApiError::internal)?;
    let head = state.store.outbox_head().await?;
    let hook = webhook::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(identity.workspace.0),
        url: Set(body.url.clone()),
        events: Set(json!(events)),
        secret: Set(secret.clone()),
        description: Set(body.description.trim().to_owned()),
        enabled: Set(body.enabled),
        created_by: Set(identity.user.0),
        created_at: Set(now_micros()),
        seq: Set(head),
        lease_until: Set(0),
    };
    let hook = webhook::Entity::insert(hook)
        .exec_with_returning(&state.db.write)
        .await
        .map_err(ApiError::internal)?;
    audit(
        &state,
        &identity,
        hook.id,
        "webhook_created",
        json!({ "url": hook.url, "events": hook.events }),
    )
    .await?;
    let mut out = shown(&hook);
    out["secret"] = json!(secret);
    Ok((
        StatusCode::CREATED,
        [("location", format!("/api/v1/webhooks/{}", hook.id))],
        Json(out),
    ))
}

async fn audit(
    state: &AppState,
    identity: &Identity,
    id: Uuid,
    action: &str,
    details: Value,
) -> ApiResult<()> {
    state
        .store
        .security_event(
            identity.workspace,
            Some(identity.user),
            "webhook",
            id,
            action,
            details,
        )
        .await?;
    Ok(())
}

async fn show(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let hook = find(&state, &identity, &id).await?;
    let mut out = shown(&hook);
    let count = |status: &'static str| {
        delivery::Entity::find()
            .filter(delivery::Column::WebhookId.eq(hook.id))
            .filter(delivery::Column::Status.eq(status))
            .count(&state.db.read)
    };
    out["deliveries"] = json!({
        "pending": count("pending").await.map_err(ApiError::internal)?,
        "failed": count("failed").await.map_err(ApiError::internal)?,
    });
    Ok(Json(out))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebhookChange {
    url: Option<String>,
    events: Option<Vec<String>>,
    description: Option<String>,
    enabled: Option<bool>,
}

async fn update(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
    JsonBody(body): JsonBody<WebhookChange>,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let hook = find(&state, &identity, &id).await?;
    check_description(body.description.as_deref())?;
    let events = check(
        &state,
        &identity,
        body.url.as_deref(),
        body.events.as_deref(),
    )
    .await?;
    let mut change = webhook::ActiveModel {
        id: sea_orm::ActiveValue::Unchanged(hook.id),
        ..Default::default()
    };
    if let Some(url) = &body.url {
        change.url = Set(url.clone());
    }
    if let Some(events) = events {
        change.events = Set(json!(events));
    }
    if let Some(description) = &body.description {
        change.description = Set(description.trim().to_owned());
    }
    if let Some(enabled) = body.enabled {
        change.enabled = Set(enabled);
    }
    let hook = webhook::Entity::update(change)
        .exec(&state.db.write)
        .await
        .map_err(ApiError::internal)?;
    audit(
        &state,
        &identity,
        hook.id,
        "webhook_changed",
        json!({ "url": hook.url, "events": hook.events, "enabled": hook.enabled }),
    )
    .await?;
    Ok(Json(shown(&hook)))
}

/// Ends a subscription and drops its delivery log (nothing more is sent).
async fn remove(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    identity.require_admin()?;
    let hook = find(&state, &identity, &id).await?;
    webhook::Entity::delete_by_id(hook.id)
        .exec(&state.db.write)
        .await
        .map_err(ApiError::internal)?;
    delivery::Entity::delete_many()
        .filter(delivery::Column::WebhookId.eq(hook.id))
        .exec(&state.db.write)
        .await
        .map_err(ApiError::internal)?;
    audit(
        &state,
        &identity,
        hook.id,
        "webhook_deleted",
        json!({ "url": hook.url }),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new secret for the subscription, shown this once; the old one signs nothing more.
async fn rotate_secret(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let hook = find(&state, &identity, &id).await?;
    let secret = webhooks::new_secret().map_err(ApiError::internal)?;
    webhook::Entity::update_many()
        .col_expr(webhook::Column::Secret, Expr::value(secret.clone()))
        .filter(webhook::Column::Id.eq(hook.id))
        .exec(&state.db.write)
        .await
        .map_err(ApiError::internal)?;
    audit(
        &state,
        &identity,
        hook.id,
        "webhook_secret_rotated",
        json!({}),
    )
    .await?;
    Ok(Json(json!({ "id": hook.id, "secret": secret })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogParams {
    status: Option<String>,
    /// Deliveries of events before this one (the cursor: the last page's smallest `event_seq`).
    before: Option<String>,
    limit: Option<String>,
}

/// The delivery log, newest event first: each delivery's status, tries and the endpoint's last
/// answer.
async fn deliveries(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<LogParams>,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let hook = find(&state, &identity, &id).await?;
    let bad = |message: Text| ApiError::new(ErrorCode::InvalidParameter, message);
    let limit = crate::records::api::parse_limit(params.limit.as_deref())?;
    let mut select = delivery::Entity::find().filter(delivery::Column::WebhookId.eq(hook.id));
    if let Some(status) = params.status.as_deref() {
        if !["pending", "delivered", "failed"].contains(&status) {
            return Err(bad(text!("api-access-delivery-status")));
        }
        select = select.filter(delivery::Column::Status.eq(status));
    }
    if let Some(before) = params.before.as_deref() {
        let before: i64 = before
            .parse()
            .map_err(|_| bad(text!("api-access-delivery-before")))?;
        select = select.filter(delivery::Column::Seq.lt(before));
    }
    let rows = select
        .order_by_desc(delivery::Column::Seq)
        .limit(limit)
        .all(&state.db.read)
        .await
        .map_err(ApiError::internal)?;
    let next = (rows.len() as u64 == limit)
        .then(|| rows.last().map(|r| r.seq.to_string()))
        .flatten();
    let data: Vec<Value> = rows
        .iter()
        .map(|row| {
            json!({
                "id": row.id,
                "event_id": super::event_id(row.seq),
                "event_seq": row.seq,
                "event_type": row.event_type,
                "record_id": row.record_id,
                "status": row.status,
                "attempts": row.attempts,
                "next_at": (row.status == "pending").then(|| format_micros(row.next_at)),
                "last_status": row.last_status,
                "last_error": row.last_error,
                "last_response": row.last_response,
                "created_at": format_micros(row.created_at),
                "delivered_at": row.delivered_at.map(format_micros),
            })
        })
        .collect();
    Ok(Json(json!({ "data": data, "next_before": next })))
}

/// Sends a delivery again now (failed or delivered alike), its tries counted afresh; the body
/// and event id are the ones first sent, so the receiver can tell it is the same event.
async fn replay(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath((id, delivery_id)): ApiPath<(String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    identity.require_admin()?;
    let hook = find(&state, &identity, &id).await?;
    let missing = || ApiError::new(ErrorCode::NotFound, text!("api-access-no-such-delivery"));
    let delivery_id = Uuid::parse_str(&delivery_id).map_err(|_| missing())?;
    let replayed = delivery::Entity::update_many()
        .col_expr(delivery::Column::Status, Expr::value("pending"))
        .col_expr(delivery::Column::Attempts, Expr::value(0))
        .col_expr(delivery::Column::NextAt, Expr::value(now_micros()))
        .filter(delivery::Column::Id.eq(delivery_id))
        .filter(delivery::Column::WebhookId.eq(hook.id))
        .exec(&state.db.write)
        .await
        .map_err(ApiError::internal)?;
    if replayed.rows_affected == 0 {
        return Err(missing());
    }
    audit(
        &state,
        &identity,
        hook.id,
        "webhook_replayed",
        json!({ "delivery": delivery_id }),
    )
    .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "id": delivery_id, "status": "pending" })),
    ))
}

async fn list_hosts(State(state): State<AppState>, identity: Identity) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    let hosts = outbound::allowed_hosts(&state.db.read, identity.workspace)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "hosts": hosts })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Hosts {
    hosts: Vec<String>,
}

/// Replaces the hosts outbound calls may reach although they resolve to private addresses
/// (a receiver on the company network, a test server on localhost).
async fn save_hosts(
    State(state): State<AppState>,
    identity: Identity,
    JsonBody(body): JsonBody<Hosts>,
) -> ApiResult<Json<Value>> {
    identity.require_admin()?;
    if body.hosts.len() > outbound::MAX_ALLOWED_HOSTS {
        return Err(ApiError::invalid(
            "hosts",
            text!(
                "api-access-too-many-hosts",
                max = outbound::MAX_ALLOWED_HOSTS
            ),
        ));
    }
    let mut hosts = Vec::with_capacity(body.hosts.len());
    for (i, entry) in body.hosts.iter().enumerate() {
        let host = outbound::parse_host(entry).map_err(|message| {
            ApiError::validation(vec![
                FieldError::new("hosts", "invalid_value", message).at(i),
            ])
        })?;
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    outbound::set_allowed_hosts(&state.db.write, identity.workspace, &hosts)
        .await
        .map_err(ApiError::internal)?;
    audit(
        &state,
        &identity,
        identity.workspace.0,
        "outbound_hosts_changed",
        json!({ "hosts": hosts }),
    )
    .await?;
    Ok(Json(json!({ "hosts": hosts })))
}
