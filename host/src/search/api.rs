//! `GET /api/v1/search?q=…&types=…&limit=…`: ranked hits across the types the caller may read.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{MAX_LIMIT, SearchError};
use crate::app::AppState;
use crate::auth::Identity;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::ApiQuery;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    q: Option<String>,
    /// Comma-separated plurals (`contacts,companies`); all readable types when absent.
    types: Option<String>,
    limit: Option<String>,
}

pub async fn search(
    State(state): State<AppState>,
    identity: Identity,
    ApiQuery(params): ApiQuery<SearchParams>,
) -> ApiResult<Json<Value>> {
    let schema = state.store.schema(identity.workspace).await?;
    let q = params.q.unwrap_or_default();
    let limit = match params.limit.as_deref() {
        None => 20,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidParameter,
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    let types: Vec<String> = match params.types.as_deref().filter(|t| !t.trim().is_empty()) {
        None => schema.types().iter().map(|t| t.name.clone()).collect(),
        Some(list) => list
            .split(',')
            .map(|plural| {
                schema
                    .by_plural(plural.trim())
                    .map(|t| t.name.clone())
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::InvalidParameter,
                            format!(
                                "unknown entity type `{}` in types",
                                plural.trim().chars().take(64).collect::<String>()
                            ),
                        )
                    })
            })
            .collect::<ApiResult<_>>()?,
    };
    let index = state.search.clone();
    let workspace = identity.workspace;
    let hits = tokio::task::spawn_blocking(move || index.search(workspace, &q, &types, limit))
        .await
        .map_err(ApiError::internal)?
        .map_err(|error| match error {
            SearchError::EmptyQuery => ApiError::new(
                ErrorCode::InvalidParameter,
                "q is required: the words to search for",
            ),
            SearchError::QueryTooLong => {
                ApiError::new(ErrorCode::InvalidParameter, error.to_string())
            }
            other => ApiError::internal(other),
        })?;
    let data: Vec<Value> = hits
        .into_iter()
        .filter_map(|hit| {
            let ty = schema.by_name(&hit.entity)?;
            Some(json!({ "type": ty.plural, "id": hit.id, "title": hit.title, "snippet": hit.snippet, "score": hit.score }))
        })
        .collect();
    Ok(Json(json!({ "data": data })))
}
