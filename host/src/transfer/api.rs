//! `/api/v1/imports` and `/api/v1/{plural}/export`.

use axum::Json;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::TryStreamExt;
use sea_orm::EntityTrait;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use super::export::{self, Format};
use super::import::Plan;
use super::source::{self, Reading};
use crate::app::{AppState, Routes};
use crate::auth::Identity;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::{ApiPath, ApiQuery, FileBody, JsonBody, MAX_FILE_BODY};
use crate::i18n::{Language, text};

pub fn routes() -> Routes {
    Routes::new()
        .route(
            "/imports",
            get(list_imports)
                .post(upload)
                .layer(DefaultBodyLimit::max(MAX_FILE_BODY)),
        )
        .route("/imports/{id}", get(get_import))
        .route("/imports/{id}/preview", post(preview))
        .route("/imports/{id}/commit", post(commit))
        .route("/imports/{id}/result", get(result))
        .route("/imports/{id}/undo", post(undo))
        .route("/{plural}/export", get(export_records))
}

fn import_id(raw: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidId,
            text!(
                "api-import-not-an-import-id",
                id = raw.chars().take(64).collect::<String>()
            ),
        )
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadParams {
    /// The entity type's API name (`contacts`).
    #[serde(rename = "type")]
    plural: String,
    file_name: Option<String>,
    format: Option<String>,
    encoding: Option<String>,
    delimiter: Option<String>,
    sheet: Option<String>,
}

async fn upload(
    State(state): State<AppState>,
    identity: Identity,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<UploadParams>,
    FileBody(body): FileBody,
) -> ApiResult<Response> {
    let actor = identity.actor();
    let file_name = params.file_name.unwrap_or_default();
    let format = match params.format.as_deref() {
        None | Some("auto") => source::Format::guess(&file_name, &body),
        Some("csv") => source::Format::Csv,
        Some("xlsx") => source::Format::Xlsx,
        Some(other) => {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                text!(
                    "api-import-format",
                    format = other.chars().take(20).collect::<String>()
                ),
            ));
        }
    };
    let reading = Reading {
        format,
        encoding: params.encoding.unwrap_or_else(|| "auto".into()),
        delimiter: params.delimiter.unwrap_or_else(|| "auto".into()),
        sheet: params.sheet,
    };
    let time_zone = crate::auth::model::user::Entity::find_by_id(identity.user.0)
        .one(&state.db.read)
        .await
        .map_err(ApiError::internal)?
        .map(|u| u.time_zone)
        .unwrap_or_else(|| "UTC".to_owned());
    let upload = super::Upload {
        plural: params.plural,
        file_name,
        bytes: body.to_vec(),
        reading,
        language: Language::of_request(&headers).unwrap_or_default(),
        time_zone,
    };
    let (import, columns) = super::upload(&state.store, &actor, upload).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "import": import, "columns": columns })),
    )
        .into_response())
}

async fn list_imports(State(state): State<AppState>, identity: Identity) -> ApiResult<Response> {
    let imports = super::list(&state.store, &identity.actor()).await?;
    Ok(Json(json!({ "data": imports })).into_response())
}

async fn get_import(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let import = super::get(&state.store, &identity.actor(), import_id(&id)?).await?;
    Ok(Json(json!(import)).into_response())
}

async fn preview(
    State(state): State<AppState>,
    identity: Identity,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    JsonBody(plan): JsonBody<Plan>,
) -> ApiResult<Response> {
    let id = import_id(&id)?;
    let language = Language::of_request(&headers).unwrap_or_default();
    let actor = identity.actor();
    let (import, preview) = super::preview(&state.store, &actor, id, plan, language).await?;
    Ok(Json(json!({ "import": import, "preview": preview })).into_response())
}

async fn commit(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let id = import_id(&id)?;
    let import = super::commit(&state.store, &identity.actor(), id).await?;
    // This server starts on it at once; the runner of any server takes it over should this
    // one stop.
    let store = state.store.clone();
    tokio::spawn(async move {
        if let Err(error) = super::run(&store, id, &|_, _| {}).await {
            tracing::warn!(%error, %id, "import failed");
        }
    });
    Ok((StatusCode::ACCEPTED, Json(json!(import))).into_response())
}

async fn result(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let id = import_id(&id)?;
    let (name, rows) = super::result_rows(&state.store, &identity.actor(), id).await?;
    Ok(crate::records::api::csv_download(&name, &rows))
}

async fn undo(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let id = import_id(&id)?;
    let undone = super::undo(&state.store, &identity.actor(), id).await?;
    Ok(Json(json!(undone)).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    format: Option<String>,
    filter: Option<String>,
    sort: Option<String>,
    fields: Option<String>,
}

async fn export_records(
    State(state): State<AppState>,
    identity: Identity,
    ApiPath(plural): ApiPath<String>,
    ApiQuery(params): ApiQuery<ExportParams>,
) -> ApiResult<Response> {
    let actor = identity.actor();
    let ty = state.store.view(&actor, &plural).await?;
    let format = Format::parse(params.format.as_deref().unwrap_or("csv"))
        .map_err(|message| ApiError::new(ErrorCode::InvalidParameter, message))?;
    let fields = crate::records::api::parse_fields(params.fields.as_deref(), &ty)?;
    let request = export::Request {
        filter: params.filter,
        sort: params.sort,
        fields,
    };
    let name = format!("{}.{}", ty.plural, format.extension());
    let chunks = export::stream(state.store.clone(), actor, ty, request, format).await?;
    let body = Body::from_stream(chunks.map_err(|error| std::io::Error::other(error.to_string())));
    Ok((
        [
            (CONTENT_TYPE, format.content_type().to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}
