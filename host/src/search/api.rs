//! `GET /api/v1/search?q=…&types=…&limit=…`: ranked hits across the types the caller may read.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use std::sync::Arc;

use super::find::{FindError, Found};
use super::{MAX_LIMIT, MAX_QUERY_CHARS, SearchError};
use crate::app::AppState;
use crate::auth::Identity;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::ApiQuery;
use crate::i18n::text;
use crate::records::schema::EntityType;

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
    let limit = match params.limit.as_deref() {
        None => 20,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::InvalidParameter,
                    text!("api-records-limit", max = MAX_LIMIT),
                )
            })?,
    };
    let q = params.q.unwrap_or_default();
    let data = find(&state, &identity, &q, params.types.as_deref(), limit).await?;
    Ok(Json(json!({ "data": data })))
}

/// Ranked hits (`{type, id, title, snippet, score}`) across the types the caller may read,
/// or the ones named in `types` (comma-separated plurals), through [`super::find::find`]. The
/// API and the web app's search page both answer through this.
pub async fn find(
    state: &AppState,
    identity: &Identity,
    q: &str,
    types: Option<&str>,
    limit: usize,
) -> ApiResult<Vec<Value>> {
    let schema = state.store.schema(identity.workspace).await?;
    let wanted: Option<Vec<Arc<EntityType>>> = match types.filter(|t| !t.trim().is_empty()) {
        None => None,
        Some(list) => Some(
            list.split(',')
                .map(|plural| {
                    schema.by_plural(plural.trim()).cloned().ok_or_else(|| {
                        ApiError::new(
                            ErrorCode::InvalidParameter,
                            text!(
                                "api-records-search-unknown-type",
                                name = plural.trim().chars().take(64).collect::<String>()
                            ),
                        )
                    })
                })
                .collect::<ApiResult<_>>()?,
        ),
    };
    let found = super::find::find(
        &state.store,
        &state.search,
        &identity.actor(),
        q,
        wanted,
        limit,
    )
    .await
    .map_err(|error| match error {
        FindError::Search(SearchError::EmptyQuery) => ApiError::new(
            ErrorCode::InvalidParameter,
            text!("api-records-search-query-required"),
        ),
        FindError::Search(SearchError::QueryTooLong) => ApiError::new(
            ErrorCode::InvalidParameter,
            text!("api-records-search-query-too-long", max = MAX_QUERY_CHARS),
        ),
        FindError::Record(error) => error.into(),
        other => ApiError::internal(other),
    })?;
    Ok(found
        .into_iter()
        .map(|Found { ty, hit }| {
            json!({ "type": ty.plural, "id": hit.id, "title": hit.title, "snippet": hit.snippet, "score": hit.score })
        })
        .collect())
}
