//! `GET /api/v1/search?q=…&types=…&limit=…`: ranked hits across the types the caller may read.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use std::sync::Arc;

use super::{MAX_LIMIT, SearchError, TypeScope};
use crate::app::AppState;
use crate::auth::Identity;
use crate::auth::permissions::{Operation, Scope};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::extract::ApiQuery;
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
                    format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
                )
            })?,
    };
    let q = params.q.unwrap_or_default();
    let data = find(&state, &identity, &q, params.types.as_deref(), limit).await?;
    Ok(Json(json!({ "data": data })))
}

/// Ranked hits (`{type, id, title, snippet, score}`) across the types the caller may read,
/// or the ones named in `types` (comma-separated plurals). The API and the web app's search
/// page both answer through this.
pub async fn find(
    state: &AppState,
    identity: &Identity,
    q: &str,
    types: Option<&str>,
    limit: usize,
) -> ApiResult<Vec<Value>> {
    let q = q.to_owned();
    let schema = state.store.schema(identity.workspace).await?;
    let wanted: Vec<&Arc<EntityType>> = match types.filter(|t| !t.trim().is_empty()) {
        None => schema.types().iter().collect(),
        Some(list) => list
            .split(',')
            .map(|plural| {
                schema.by_plural(plural.trim()).ok_or_else(|| {
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
    // The caller's read permissions, exactly as the record store applies them.
    let types: Vec<TypeScope> = wanted
        .iter()
        .filter_map(
            |ty| match identity.access.scope(Operation::Read, &ty.name) {
                Scope::Nothing => None,
                Scope::All => Some(TypeScope {
                    entity: ty.name.clone(),
                    owners: None,
                }),
                Scope::Owners(owners) => Some(TypeScope {
                    entity: ty.name.clone(),
                    owners: Some(owners),
                }),
            },
        )
        .collect();
    let index = state.search.clone();
    let workspace = identity.workspace;
    let query = q.clone();
    let hits = tokio::task::spawn_blocking(move || index.search(workspace, &query, &types, limit))
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
    let actor = identity.actor();
    let mut data = Vec::with_capacity(hits.len());
    for mut hit in hits {
        let Some(ty) = schema.by_name(&hit.entity) else {
            continue;
        };
        let view = identity.access.view(ty);
        if !Arc::ptr_eq(&view, ty) {
            // The role hides fields of this type: match and quote only what it may see.
            let Ok(record) = state.store.get(&actor, &view, hit.id).await else {
                continue;
            };
            let Some(snippet) = state.search.rematch(&q, workspace, &view, &record) else {
                continue;
            };
            hit.snippet = snippet;
            hit.title = crate::records::value::title(&view, &record.data);
        }
        data.push(json!({ "type": ty.plural, "id": hit.id, "title": hit.title, "snippet": hit.snippet, "score": hit.score }));
    }
    Ok(data)
}
