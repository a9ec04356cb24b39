//! The record picker's answers (`GET /records/<plural>/pick?q=`): the records of one type a
//! person may read that match what they type, found through the search index and kept in its
//! order, each as `{id, title, detail}` — a title and a second line (an email, a domain), so a
//! person picks by name and never reads an id. With nothing typed, the first records in the
//! type's order. Every reference control of the web app (forms, inline edit, list filters)
//! asks here.

use axum::Json;
use axum::extract::{Path, RawQuery};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Form, Web};
use crate::auth::permissions::{Operation, Scope};
use crate::error::ApiResult;
use crate::records::schema::{EntityType, FieldKind};
use crate::records::{ListQuery, Record};

/// Records a picker shows at once.
pub const PICK_ROWS: usize = 10;

pub async fn pick(web: Web, Path(plural): Path<String>, RawQuery(raw): RawQuery) -> Response {
    match matches(&web, &plural, raw.as_deref().unwrap_or("")).await {
        Ok(data) => Json(json!({ "data": data })).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn matches(web: &Web, plural: &str, raw: &str) -> ApiResult<Vec<Value>> {
    let actor = web.actor();
    let store = &web.state.store;
    let ty = store.view(&actor, plural).await?;
    let form = Form::parse(raw.as_bytes());
    let q = form.get("q").unwrap_or("").trim();
    let records: Vec<Record> = if q.is_empty() {
        let query = ListQuery {
            sort: ty.sort.clone().or_else(|| ty.title_fields.first().cloned()),
            limit: PICK_ROWS as u64,
            ..ListQuery::default()
        };
        store.list(&actor, &ty, &query).await?.records
    } else {
        let hits =
            crate::search::api::find(&web.state, &web.identity, q, Some(&ty.plural), PICK_ROWS)
                .await?;
        let ids: Vec<&str> = hits.iter().filter_map(|h| h["id"].as_str()).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let query = ListQuery {
            filter: Some(format!("id[in]:{}", ids.join("|"))),
            limit: PICK_ROWS as u64,
            ..ListQuery::default()
        };
        let mut found = store.list(&actor, &ty, &query).await?.records;
        found.sort_by_key(|r| ids.iter().position(|id| *id == r.id.to_string()));
        found
    };
    Ok(records
        .iter()
        .map(|r| json!({ "id": r.id, "title": super::pages::title_of(&ty, r), "detail": detail(&ty, r) }))
        .collect())
}

/// The values a tag filter suggests (`GET /records/<plural>/values/<field>?q=`), in the
/// picker's shape (`{id, title}`, both the value): a tags field's values among the records the
/// person may read, a multi-select's options; those starting with what was typed first, then
/// those containing it.
pub async fn values(
    web: Web,
    Path((plural, field)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    match value_matches(&web, &plural, &field, raw.as_deref().unwrap_or("")).await {
        Ok(data) => Json(json!({ "data": data })).into_response(),
        Err(error) => error.into_response(),
    }
}

/// Distinct tag values read at most for one suggestion list.
const VALUES_READ: u64 = 2000;

async fn value_matches(web: &Web, plural: &str, field: &str, raw: &str) -> ApiResult<Vec<Value>> {
    let actor = web.actor();
    let ty = super::display::localized(&web.state.store.view(&actor, plural).await?, web.lang);
    let form = Form::parse(raw.as_bytes());
    let q = form.get("q").unwrap_or("").trim().to_lowercase();
    let all: Vec<(String, String)> = match ty.field(field) {
        Some(spec) if spec.kind == FieldKind::MultiSelect => spec
            .options
            .iter()
            .map(|o| {
                (
                    o.value.clone(),
                    super::display::option_label(spec, &o.value),
                )
            })
            .collect(),
        _ => web
            .state
            .store
            .list_values(&actor, &ty, field, VALUES_READ)
            .await?
            .into_iter()
            .map(|v| (v.clone(), v))
            .collect(),
    };
    let starts = |(_, label): &&(String, String)| label.to_lowercase().starts_with(&q);
    let contains = |(_, label): &&(String, String)| {
        let label = label.to_lowercase();
        label.contains(&q) && !label.starts_with(&q)
    };
    Ok(all
        .iter()
        .filter(starts)
        .chain(all.iter().filter(contains))
        .take(PICK_ROWS)
        .map(|(value, label)| json!({ "id": value, "title": label }))
        .collect())
}

/// The second line a picker shows under a record's title: its email, domain, web address or
/// phone, whichever comes first among its fields.
pub fn detail(ty: &EntityType, record: &Record) -> Option<String> {
    ty.fields
        .iter()
        .filter(|f| !ty.title_fields.contains(&f.name))
        .filter(|f| {
            matches!(f.kind, FieldKind::Email | FieldKind::Url | FieldKind::Phone)
                || f.name == "domain"
        })
        .find_map(|f| {
            record
                .data
                .get(&f.name)
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_owned)
        })
}

/// How a picker of `target` may create a record from what was typed: the one title field to
/// fill, when the reader may create such records and nothing else is required of them.
pub fn create_field(web: &Web, target: &EntityType) -> Option<String> {
    let [title] = target.title_fields.as_slice() else {
        return None;
    };
    let others_required = target.fields.iter().any(|f| f.required && f.name != *title);
    let may = !matches!(
        web.identity.access.scope(Operation::Create, &target.name),
        Scope::Nothing
    );
    (may && !others_required).then(|| title.clone())
}
