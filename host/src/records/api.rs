//! `/api/v1` handlers for records, metadata, the audit log and the OpenAPI document. Each
//! handler parses, calls the store, and shapes the answer; nothing else.

use axum::Json;
use axum::extract::State;
use axum::http::header::{ETAG, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::schema::{EntityType, FieldSpec};
use super::{ListQuery, MAX_BATCH, Record, UpdateItem, openapi};
use crate::app::{AppState, Routes};
use crate::auth::Identity;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{ApiPath, ApiQuery, IfMatch, JsonBody};
use crate::i18n::text;
use crate::ids::RecordId;

/// Default and largest page sizes of list endpoints.
pub const DEFAULT_LIMIT: u64 = 50;
pub const MAX_LIMIT: u64 = 500;

pub fn routes() -> Routes {
    Routes::new()
        .route("/meta/entities", get(list_entities).post(create_entity))
        .route("/meta/entities/{entity}", get(get_entity))
        .route("/meta/entities/{entity}/fields", post(create_field))
        .route("/openapi.json", get(get_openapi))
        .route("/audit", get(list_audit))
        .route("/{plural}", get(list_records).post(create_record))
        .route("/{plural}/batch", post(batch_records))
        .route("/{plural}/duplicates", post(find_duplicates))
        .route(
            "/{plural}/{id}",
            get(get_record).patch(update_record).delete(delete_record),
        )
        .route("/{plural}/{id}/restore", post(restore_record))
        .route("/{plural}/{id}/duplicates", get(record_duplicates))
        .route("/{plural}/{id}/merge", post(merge_records))
}

fn parse_id(raw: &str) -> ApiResult<RecordId> {
    Uuid::parse_str(raw).map(RecordId).map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidId,
            text!(
                "api-records-not-a-record-id",
                id = raw.chars().take(64).collect::<String>()
            ),
        )
    })
}

/// A record with its `ETag`.
fn record_response(status: StatusCode, record: &Record, fields: Option<&[String]>) -> Response {
    let mut response = (status, Json(record.to_json(fields))).into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", record.version)) {
        response.headers_mut().insert(ETAG, etag);
    }
    response
}

fn data(records: &[Record]) -> Json<Value> {
    Json(json!({ "data": records.iter().map(|r| r.to_json(None)).collect::<Vec<_>>() }))
}

// -- records ------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    filter: Option<String>,
    sort: Option<String>,
    fields: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    total: Option<bool>,
    deleted: Option<bool>,
}

/// A list's `limit`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent (every list of the API).
pub(crate) fn parse_limit(raw: Option<&str>) -> ApiResult<u64> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    match raw.parse::<u64>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::new(
            ErrorCode::InvalidParameter,
            text!("api-records-limit", max = MAX_LIMIT),
        )),
    }
}

pub(crate) fn parse_fields(raw: Option<&str>, ty: &EntityType) -> ApiResult<Option<Vec<String>>> {
    let Some(raw) = raw else { return Ok(None) };
    let fields: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    for field in &fields {
        let system = super::schema::SYSTEM_KEYS.contains(&field.as_str());
        if !system && ty.field(field).is_none() {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                text!(
                    "api-records-unknown-field",
                    plural = &ty.plural,
                    field = field.chars().take(64).collect::<String>()
                ),
            ));
        }
    }
    Ok(Some(fields))
}

async fn list_records(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(plural): ApiPath<String>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<Value>> {
    let actor = identity.actor();
    let ty = state.store.view(&actor, &plural).await?;
    let fields = parse_fields(params.fields.as_deref(), &ty)?;
    let request = ListQuery {
        limit: parse_limit(params.limit.as_deref())?,
        filter: params.filter.filter(|f| !f.trim().is_empty()),
        sort: params.sort,
        cursor: params.cursor.filter(|c| !c.is_empty()),
        total: params.total.unwrap_or(false),
        deleted: params.deleted.unwrap_or(false),
    };
    let page = state.store.list(&actor, &ty, &request).await?;
    let mut body = json!({
        "data": page.records.iter().map(|r| r.to_json(fields.as_deref())).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
    });
    if let Some(total) = page.total {
        body["total"] = json!(total);
    }
    Ok(Json(body))
}

async fn create_record(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(plural): ApiPath<String>,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    let actor = identity.actor();
    let ty = state.store.view(&actor, &plural).await?;
    let record = state.store.create(&actor, &ty, body).await?;
    let mut response = record_response(StatusCode::CREATED, &record, None);
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/{}/{}", ty.plural, record.id)) {
        response.headers_mut().insert(LOCATION, location);
    }
    Ok(response)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GetParams {
    fields: Option<String>,
}

async fn get_record(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath((plural, id)): ApiPath<(String, String)>,
    ApiQuery(params): ApiQuery<GetParams>,
) -> ApiResult<Response> {
    let actor = identity.actor();
    let ty = state.store.view(&actor, &plural).await?;
    let fields = parse_fields(params.fields.as_deref(), &ty)?;
    let record = state.store.get(&actor, &ty, parse_id(&id)?).await?;
    Ok(record_response(StatusCode::OK, &record, fields.as_deref()))
}

async fn update_record(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath((plural, id)): ApiPath<(String, String)>,
    IfMatch(if_match): IfMatch,
    JsonBody(patch): JsonBody<Map<String, Value>>,
) -> ApiResult<Response> {
    let actor = identity.actor();
    let ty = state.store.view(&actor, &plural).await?;
    let item = UpdateItem {
        id: parse_id(&id)?,
        patch,
        if_match,
    };
    let record = state.store.update(&actor, &ty, item).await?;
    Ok(record_response(StatusCode::OK, &record, None))
}

async fn delete_record(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath((plural, id)): ApiPath<(String, String)>,
    IfMatch(if_match): IfMatch,
) -> ApiResult<Response> {
    let actor = identity.actor();
    let ty = state.store.view(&actor, &plural).await?;
    let record = state
        .store
        .delete(&actor, &ty, parse_id(&id)?, if_match)
        .await?;
    Ok(record_response(StatusCode::OK, &record, None))
}

async fn restore_record(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath((plural, id)): ApiPath<(String, String)>,
    IfMatch(if_match): IfMatch,
) -> ApiResult<Response> {
    let actor = identity.actor();
    let ty = state.store.view(&actor, &plural).await?;
    let record = state
        .store
        .restore(&actor, &ty, parse_id(&id)?, if_match)
        .await?;
    Ok(record_response(StatusCode::OK, &record, None))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum BatchOperation {
    Create,
    Update,
    Upsert,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    operation: BatchOperation,
    records: Vec<Map<String, Value>>,
    /// The field upserts match existing records by.
    key: Option<String>,
}

/// `POST /{plural}/batch`: create, update (each item carries `id` and optionally `version`)
/// or upsert by `key`, all or nothing, at most [`MAX_BATCH`] records.
async fn batch_records(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(plural): ApiPath<String>,
    JsonBody(body): JsonBody<BatchBody>,
) -> ApiResult<Json<Value>> {
    let actor = identity.actor();
    let ty = state.store.view(&actor, &plural).await?;
    if body.records.len() > MAX_BATCH {
        return Err(super::RecordError::BatchTooLarge { max: MAX_BATCH }.into());
    }
    let records = match body.operation {
        BatchOperation::Create => state.store.create_many(&actor, &ty, body.records).await?,
        BatchOperation::Upsert => {
            let key = body.key.ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidBody,
                    text!("api-records-upsert-needs-key"),
                )
            })?;
            state
                .store
                .upsert_many(&actor, &ty, &key, body.records)
                .await?
        }
        BatchOperation::Update => {
            let mut items = Vec::with_capacity(body.records.len());
            for (index, mut patch) in body.records.into_iter().enumerate() {
                let id = patch
                    .remove("id")
                    .and_then(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()));
                let Some(id) = id else {
                    return Err(ApiError::validation(vec![
                        crate::error::FieldError::new(
                            "id",
                            "invalid_id",
                            text!("api-records-batch-item-needs-id"),
                        )
                        .at(index),
                    ]));
                };
                let if_match = match patch.remove("version") {
                    None => None,
                    Some(v) => Some(v.as_i64().ok_or_else(|| {
                        ApiError::validation(vec![
                            crate::error::FieldError::new(
                                "version",
                                "invalid_type",
                                text!("api-records-expected-whole-number"),
                            )
                            .at(index),
                        ])
                    })?),
                };
                items.push(UpdateItem {
                    id: RecordId(id),
                    patch,
                    if_match,
                });
            }
            state.store.update_many(&actor, &ty, items).await?
        }
    };
    Ok(data(&records))
}

async fn find_duplicates(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(plural): ApiPath<String>,
    JsonBody(candidate): JsonBody<Map<String, Value>>,
) -> ApiResult<Json<Value>> {
    let actor = identity.actor();
    let ty = state.store.view(&actor, &plural).await?;
    // A candidate is a record body like any other: unknown fields and bad values are refused.
    super::value::check(&ty, &candidate, super::value::Mode::Patch)
        .map_err(super::RecordError::Invalid)?;
    let found = state
        .store
        .duplicates(&actor, &ty, &candidate, None)
        .await?;
    Ok(data(&found))
}

async fn record_duplicates(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath((plural, id)): ApiPath<(String, String)>,
) -> ApiResult<Json<Value>> {
    let actor = identity.actor();
    let ty = state.store.view(&actor, &plural).await?;
    let record = state.store.get(&actor, &ty, parse_id(&id)?).await?;
    let found = state
        .store
        .duplicates(&actor, &ty, &record.data, Some(record.id))
        .await?;
    Ok(data(&found))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeBody {
    /// The records merged into this one.
    ids: Vec<String>,
    /// Values that win over both the survivor's and the merged records'.
    #[serde(default)]
    values: Map<String, Value>,
}

async fn merge_records(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath((plural, id)): ApiPath<(String, String)>,
    JsonBody(body): JsonBody<MergeBody>,
) -> ApiResult<Response> {
    let actor = identity.actor();
    let ty = state.store.view(&actor, &plural).await?;
    let survivor = parse_id(&id)?;
    let others = body
        .ids
        .iter()
        .map(|raw| parse_id(raw).map_err(|e| ApiError::new(ErrorCode::InvalidBody, e.message)))
        .collect::<ApiResult<Vec<_>>>()?;
    let record = state
        .store
        .merge(&actor, &ty, survivor, &others, &body.values, &[])
        .await?;
    Ok(record_response(StatusCode::OK, &record, None))
}

// -- metadata -----------------------------------------------------------------------------------

/// The types the caller may read, as they see them (hidden fields left out).
fn visible_types(
    schema: &super::schema::Schema,
    identity: &Identity,
) -> Vec<std::sync::Arc<EntityType>> {
    use crate::auth::permissions::{Level, Operation};
    schema
        .types()
        .iter()
        .filter(|t| identity.access.level(Operation::Read, &t.name) != Level::None)
        .map(|t| identity.access.view(t))
        .collect()
}

async fn list_entities(
    State(state): State<AppState>,
    identity: Identity,
) -> ApiResult<Json<Value>> {
    let schema = state.store.schema(identity.workspace).await?;
    Ok(Json(json!({ "data": visible_types(&schema, &identity) })))
}

async fn get_entity(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(entity): ApiPath<String>,
) -> ApiResult<Json<EntityType>> {
    let schema = state.store.schema(identity.workspace).await?;
    let ty = visible_types(&schema, &identity)
        .into_iter()
        .find(|t| t.name == entity || t.plural == entity)
        .ok_or_else(|| super::RecordError::UnknownEntity(entity.chars().take(64).collect()))?;
    Ok(Json(ty.as_ref().clone()))
}

async fn create_entity(
    State(state): State<AppState>,
    identity: Identity,
    JsonBody(ty): JsonBody<EntityType>,
) -> ApiResult<(StatusCode, Json<EntityType>)> {
    identity.require_admin()?;
    let created = state.store.add_type(&identity.actor(), ty).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn create_field(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(entity): ApiPath<String>,
    JsonBody(field): JsonBody<FieldSpec>,
) -> ApiResult<(StatusCode, Json<FieldSpec>)> {
    identity.require_admin()?;
    let created = state
        .store
        .add_field(&identity.actor(), &entity, field)
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn get_openapi(
    State(state): State<AppState>,
    identity: Identity,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let schema = state.store.schema(identity.workspace).await?;
    let schema = super::schema::Schema::new(
        visible_types(&schema, &identity)
            .iter()
            .map(|t| t.as_ref().clone())
            .collect(),
    );
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1:8080");
    Ok(Json(openapi::document(&schema, &format!("http://{host}"))))
}

// -- audit --------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    record: Option<String>,
    action: Option<String>,
    entity_type: Option<String>,
    actor: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
    /// `json` (default) or `csv` (an export).
    format: Option<String>,
}

fn parse_instant(raw: Option<&str>, name: &str) -> ApiResult<Option<i64>> {
    raw.filter(|r| !r.is_empty())
        .map(|r| {
            super::query::parse_instant(r, chrono::Utc::now())
                .map(|at| at.timestamp_micros())
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidParameter,
                        text!("api-records-instant-parameter", name = name),
                    )
                })
        })
        .transpose()
}

/// `GET /audit`: who changed what and when — data changes and security events — oldest first,
/// filtered by record, action, entity type, actor and time; `format=csv` exports. Admins only;
/// no path can change an audit entry.
async fn list_audit(
    State(state): State<AppState>,
    identity: Identity,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Response> {
    identity.require_admin()?;
    let csv = match params.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                text!(
                    "api-records-audit-format",
                    format = other.chars().take(20).collect::<String>()
                ),
            ));
        }
    };
    let limit = if csv {
        100_000
    } else {
        parse_limit(params.limit.as_deref())?
    };
    // A query parameter that is not an id is malformed (400), not a thing that is missing.
    let id_parameter = |raw: Option<&str>, name: &str| {
        raw.map(|raw| {
            Uuid::parse_str(raw).map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidParameter,
                    text!("api-records-id-parameter", name = name),
                )
            })
        })
        .transpose()
    };
    let query = super::AuditQuery {
        record: id_parameter(params.record.as_deref(), "record")?.map(RecordId),
        action: params.action,
        entity_type: params.entity_type,
        actor: id_parameter(params.actor.as_deref(), "actor")?.map(crate::ids::UserId),
        since: parse_instant(params.since.as_deref(), "since")?,
        until: parse_instant(params.until.as_deref(), "until")?,
        after: match params.cursor.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(raw.parse::<i64>().map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidCursor,
                    text!("api-records-cursor-malformed"),
                )
            })?),
        },
        limit,
        newest_first: false,
    };
    let entries = state.store.audit(identity.workspace, &query).await?;
    if csv {
        return Ok(audit_csv(&entries));
    }
    let next_cursor = (entries.len() as u64 == limit)
        .then(|| entries.last().map(|e| e.id.to_string()))
        .flatten();
    let data: Vec<Value> = entries.iter().map(audit_json).collect();
    Ok(Json(json!({ "data": data, "next_cursor": next_cursor })).into_response())
}

fn audit_json(e: &super::AuditEntry) -> Value {
    json!({
        "id": e.id,
        "record_id": e.record_id,
        "entity_type": e.entity_type,
        "action": e.action,
        "actor": e.actor,
        "at": super::value::format_datetime(e.at),
        "changes": e.changes,
    })
}

fn audit_csv(entries: &[super::AuditEntry]) -> Response {
    let mut rows = vec![
        [
            "id",
            "at",
            "actor",
            "action",
            "entity_type",
            "record_id",
            "changes",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    rows.extend(entries.iter().map(|e| {
        vec![
            e.id.to_string(),
            super::value::format_datetime(e.at),
            e.actor.map(|a| a.to_string()).unwrap_or_default(),
            e.action.clone(),
            e.entity_type.clone(),
            e.record_id.to_string(),
            e.changes.to_string(),
        ]
    }));
    csv_download("audit.csv", &rows)
}

/// Rows as a CSV download. A cell a spreadsheet would run as a formula (`=…`, `+…`, `@…`, a
/// `-` not starting a number) is prefixed with `'`, so an export never carries one.
pub fn csv_download(filename: &str, rows: &[Vec<String>]) -> Response {
    let inert = |cell: &String| crate::transfer::export::inert(cell).into_owned();
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in rows {
        if let Err(error) = writer.write_record(row.iter().map(inert)) {
            return ApiError::internal(error).into_response();
        }
    }
    let disposition = format!(
        "attachment; filename=\"{}\"",
        filename.replace(
            |c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '_' && c != '-',
            "_"
        )
    );
    match writer.into_inner() {
        Ok(bytes) => (
            [
                (
                    axum::http::header::CONTENT_TYPE,
                    "text/csv; charset=utf-8".to_owned(),
                ),
                (axum::http::header::CONTENT_DISPOSITION, disposition),
            ],
            bytes,
        )
            .into_response(),
        Err(error) => ApiError::internal(error.to_string()).into_response(),
    }
}
