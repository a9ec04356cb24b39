//! The pages of the working day: home, lists with filters and saved views, boards, record
//! pages with their timeline, related records and plugin panels, forms, and search. One set of
//! handlers serves every entity type — built-in, custom and plugin-defined.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::Response;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::conflict;
use super::display::{self, Names, cell, humanize, label, read_form};
use super::model::saved_view;
use super::pick;
use super::{Form, Web, encode, redirect_with};
use crate::auth::model::user;
use crate::auth::permissions::{Operation, Scope};
use crate::error::{ApiError, ApiResult, ErrorCode, FieldError};
use crate::i18n::Language;
use crate::i18n::text;
use crate::ids::RecordId;
use crate::plugins::manifest::{Action, PanelLocation};
use crate::plugins::registry::Enabled;
use crate::records::AuditQuery;
use crate::records::aggregate::AggregateQuery;
use crate::records::schema::{EntityType, FieldKind, FieldSpec, Schema};
use crate::records::{ListQuery, Record, UpdateItem, now_micros};

/// Rows per list page; cards per board column.
const PAGE_ROWS: u64 = 50;
const BOARD_CARDS: u64 = 50;
/// A list counts the records its filter matches up to this many, then says "10,000+".
const LIST_COUNT_CAP: u64 = 10_000;
/// Related records a record page lists per type, and how many of them its timeline rolls up.
const RELATED_ROWS: usize = 10;
const ROLLUP_RECORDS: u64 = 50;
/// Open tasks on the home page.
const HOME_TASKS: u64 = 20;
/// Choices offered for a reference input (a longer list takes the record's id).
const REFERENCE_CHOICES: u64 = 200;

/// Runs a page body and turns its error into the error page.
pub(super) async fn page(web: &Web, body: impl Future<Output = ApiResult<Response>>) -> Response {
    match body.await {
        Ok(response) => response,
        Err(error) => web.fail(error).await,
    }
}

/// The message of a refusal a page shows in place; a server failure stays an error.
pub(super) fn shown(error: ApiError, lang: Language) -> ApiResult<String> {
    if error.code.status().is_server_error() {
        Err(error)
    } else {
        Ok(error.message.render(lang))
    }
}

/// Back to `back` with the refusal's message, in the reader's language, as the notice.
fn refused(web: &Web, back: &str, error: ApiError) -> ApiResult<Response> {
    Ok(redirect_with(back, "error", &shown(error, web.lang)?))
}

pub(super) async fn entity(web: &Web, plural: &str) -> ApiResult<Arc<EntityType>> {
    let ty = web.state.store.view(&web.actor(), plural).await?;
    Ok(display::localized(&ty, web.lang))
}

pub(super) fn parse_id(raw: &str) -> ApiResult<RecordId> {
    Uuid::parse_str(raw)
        .map(RecordId)
        .map_err(|_| ApiError::new(ErrorCode::NotFound, text!("api-web-no-record-with-id")))
}

pub(super) fn entity_json(ty: &EntityType) -> Value {
    json!({
        "name": ty.name,
        "plural": ty.plural,
        "label": ty.label,
        "label_plural": ty.label_plural,
        "url": format!("/records/{}", ty.plural),
        "source": ty.source,
    })
}

pub(super) fn record_url(ty: &EntityType, id: RecordId) -> String {
    format!("/records/{}/{id}", ty.plural)
}

pub(super) fn title_of(ty: &EntityType, record: &Record) -> String {
    let title = crate::records::value::title(ty, &record.data);
    if title.trim().is_empty() {
        format!("{} {}", ty.label, &record.id.to_string()[..8])
    } else {
        title
    }
}

/// The titles and user names the values of `rows` point at, as the reader may see them.
pub(super) async fn names(
    web: &Web,
    fields: &[&FieldSpec],
    rows: &[&Map<String, Value>],
) -> ApiResult<Names> {
    let ids = Names::references(fields, rows.iter().copied());
    let records = web.state.store.titles(&web.actor(), &ids).await?;
    let wants_users = fields.iter().any(|f| f.kind == FieldKind::User);
    let users = if wants_users {
        users(web).await?
    } else {
        Default::default()
    };
    Ok(Names {
        records,
        users,
        zone: web.zone,
        locale: web.locale,
        lang: web.lang,
    })
}

/// The workspace's users by id, as pages name them (`people::shown_name`), deactivated ones
/// included: records keep their owners.
async fn users(web: &Web) -> ApiResult<HashMap<Uuid, String>> {
    Ok(workspace_users(web)
        .await?
        .iter()
        .map(|u| (u.id, crate::auth::people::shown_name(u)))
        .collect())
}

/// The users a person may choose as an owner or for a user field: the active and invited
/// ones, by name.
pub(super) async fn choosable_users(web: &Web) -> ApiResult<Vec<(Uuid, String)>> {
    let mut people: Vec<(Uuid, String)> = workspace_users(web)
        .await?
        .iter()
        .filter(|u| u.deactivated_at.is_none())
        .map(|u| (u.id, crate::auth::people::shown_name(u)))
        .collect();
    people.sort_by_key(|(_, name)| name.to_lowercase());
    Ok(people)
}

async fn workspace_users(web: &Web) -> ApiResult<Vec<user::Model>> {
    user::Entity::find()
        .filter(user::Column::WorkspaceId.eq(web.identity.workspace.0))
        .order_by_asc(user::Column::Email)
        .all(&web.state.db.read)
        .await
        .map_err(ApiError::internal)
}

/// The type a reference field points at, when the reader may read it: what its picker
/// searches (a reference to a type the reader cannot read offers no choices).
fn readable_target<'a>(
    web: &Web,
    schema: &'a Schema,
    field: &FieldSpec,
) -> Option<&'a Arc<EntityType>> {
    if field.kind != FieldKind::Reference {
        return None;
    }
    let target = schema.by_name(field.target.as_deref()?)?;
    let readable = !matches!(
        web.identity.access.scope(Operation::Read, &target.name),
        Scope::Nothing
    );
    readable.then_some(target)
}

/// The titles of the records a reference value names, as JSON for a picker (`{id: title}`).
fn titles_json(value: Option<&Value>, names: &Names) -> String {
    let ids: Vec<&str> = match value {
        Some(Value::String(id)) => vec![id.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let titles: Map<String, Value> = ids
        .into_iter()
        .filter_map(|id| {
            let (_, title) = names.records.get(&Uuid::parse_str(id).ok()?)?;
            Some((id.to_owned(), Value::from(title.as_str())))
        })
        .collect();
    Value::Object(titles).to_string()
}

/// Quotes a value for the filter language.
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

// -- home ---------------------------------------------------------------------------------------

pub async fn home(web: Web) -> Response {
    page(&web, async {
        let actor = web.actor();
        let schema = web.state.store.schema(web.identity.workspace).await?;
        let mut tasks = Vec::new();
        if let Some(activities) = schema.by_name("activity")
            && !matches!(
                web.identity.access.scope(Operation::Read, "activity"),
                Scope::Nothing
            )
        {
            let view = display::localized(&web.identity.access.view(activities), web.lang);
            // Dated tasks first, soonest first, then undated ones, newest first. The dated
            // query names a lower bound so the planner seeks past the many activities that
            // have no due date instead of walking them.
            let open = format!(
                "kind[eq]:task,owner[eq]:{},or(done[eq]:false,done[is_empty]:true)",
                web.identity.user
            );
            for (filter, sort) in [
                (
                    format!("and({open},due_at[gte]:1970-01-01T00:00:00Z)"),
                    "due_at",
                ),
                (format!("and({open},due_at[is_empty]:true)"), "-created_at"),
            ] {
                let wanted = HOME_TASKS.saturating_sub(tasks.len() as u64);
                if wanted == 0 {
                    break;
                }
                let query = ListQuery {
                    filter: Some(filter),
                    sort: Some(sort.into()),
                    limit: wanted,
                    ..ListQuery::default()
                };
                let found = web.state.store.list(&actor, &view, &query).await?;
                tasks.extend(
                    found
                        .records
                        .iter()
                        .map(|t| activity_json(&view, t, None, web.zone, web.lang)),
                );
            }
        }
        let audit = web
            .state
            .store
            .audit(
                web.identity.workspace,
                &AuditQuery {
                    actor: Some(web.identity.user),
                    limit: 40,
                    newest_first: true,
                    ..AuditQuery::default()
                },
            )
            .await?;
        let mut seen = Vec::new();
        for entry in &audit {
            if !seen.contains(&entry.record_id.0) && entry.action != "delete" {
                seen.push(entry.record_id.0);
            }
        }
        let titles = web.state.store.titles(&actor, &seen).await?;
        let recent: Vec<Value> = seen
            .iter()
            .filter_map(|id| {
                let (plural, title) = titles.get(id)?;
                let ty = schema.by_plural(plural)?;
                let at = audit.iter().find(|e| e.record_id.0 == *id)?.at;
                Some(json!({
                    "title": if title.is_empty() { web.lang.t("untitled") } else { title.clone() },
                    "type_label": display::type_label(web.lang, ty),
                    "url": format!("/records/{plural}/{id}"),
                    "at": display::local_stamp(at, web.zone, web.lang),
                }))
            })
            .take(10)
            .collect();
        let panels = panels(&web, &PanelLocation::Dashboard, None).await;
        // My day: what is overdue, what is due today, what comes later, what has no date.
        // Days are the reader's: "due" is shown on their clock, so its date is their date.
        let today = display::local_today(web.zone);
        let mut groups: Vec<(&str, String, Vec<Value>)> = vec![
            ("overdue", web.lang.t("home-overdue"), Vec::new()),
            ("today", web.lang.t("home-today"), Vec::new()),
            ("upcoming", web.lang.t("home-upcoming"), Vec::new()),
            ("undated", web.lang.t("task-no-due"), Vec::new()),
        ];
        for task in tasks {
            let due = task["due_day"].as_str().unwrap_or("");
            let group = if task["overdue"] == true {
                0
            } else if due.starts_with(&today) {
                1
            } else if !due.is_empty() {
                2
            } else {
                3
            };
            groups[group].2.push(task);
        }
        let groups: Vec<Value> = groups
            .into_iter()
            .filter(|(_, _, tasks)| !tasks.is_empty())
            .map(|(key, label, tasks)| json!({ "key": key, "label": label, "tasks": tasks }))
            .collect();
        Ok(web
            .render(
                "home.html",
                json!({ "task_groups": groups, "here": "/", "recent": recent, "panels": panels }),
            )
            .await)
    })
    .await
}

fn activity_json(
    ty: &EntityType,
    activity: &Record,
    author: Option<&str>,
    zone: chrono_tz::Tz,
    lang: Language,
) -> Value {
    let text = |name: &str| {
        activity
            .data
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let kind = text("kind");
    let due = activity
        .data
        .get("due_at")
        .and_then(Value::as_str)
        .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
        .map(|d| d.with_timezone(&chrono::Utc));
    let done = activity.data.get("done") == Some(&Value::Bool(true));
    let now = chrono::Utc::now();
    // Snoozing moves the due time a day on from whichever is later: the due time or now.
    let snoozed = due.map(|d| d.max(now) + chrono::Duration::days(1));
    json!({
        "id": activity.id,
        "version": activity.version,
        "is_task": kind == "task",
        "overdue": !done && due.is_some_and(|d| d < now),
        "set_url": format!("{}/set", record_url(ty, activity.id)),
        "snooze_to": snoozed.map(|d| display::local_input(d, zone)),
        "kind": kind,
        "kind_label": lang.lookup(&format!("activity-kind-{kind}")).unwrap_or_else(|| humanize(&kind)),
        "subject": text("subject"),
        "body": text("body"),
        "due": activity.data.get("due_at").and_then(Value::as_str).map(|d| display::short_datetime(d, zone, lang)),
        // The reader's date it is due on (`2026-11-27`), for grouping "My day".
        "due_day": due.map(|d| d.with_timezone(&zone).format("%Y-%m-%d").to_string()),
        "done": done,
        "created": display::local_stamp(activity.created_at, zone, lang),
        "author": author,
        "url": record_url(ty, activity.id),
    })
}

/// The panels plugins enabled in the workspace show at `location`, each rendered as the
/// reader; a failing panel shows its error in place and never breaks the page.
async fn panels(
    web: &Web,
    location: &PanelLocation,
    record: Option<(&EntityType, &Record)>,
) -> Vec<Value> {
    let mut out = Vec::new();
    for enabled in web.state.plugins.enabled_in(web.identity.workspace).iter() {
        for spec in enabled
            .plugin
            .manifest
            .panels
            .iter()
            .filter(|p| &p.location == location)
        {
            let wit = record.map(|(ty, r)| crate::plugins::convert::record_to_wit(ty, r));
            let rendered = crate::plugins::api::panel_html(
                &web.state,
                enabled,
                web.actor(),
                &spec.name,
                wit,
                web.lang,
                web.locale,
            )
            .await;
            let (html, error) = match rendered {
                Ok(html) => (Some(html), None),
                Err(error) => (None, Some(error.message)),
            };
            out.push(json!({
                "plugin": enabled.id(),
                "name": spec.name,
                "title": enabled.plugin.messages.panel_title(web.lang, spec),
                "html": html,
                "error": error,
            }));
        }
    }
    out
}

// -- lists --------------------------------------------------------------------------------------

/// The list state a URL (or a saved view) holds: columns, filter rows and sort.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct ListState {
    columns: Vec<String>,
    filters: Vec<(String, String, String)>,
    sort: Option<String>,
}

impl ListState {
    fn from_form(form: &Form) -> ListState {
        // `cols=a,b` (links) or one `col` per ticked box (the column picker).
        let mut columns: Vec<String> = form
            .get("cols")
            .map(|c| {
                c.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if columns.is_empty() {
            columns = form.all("col").map(str::to_owned).collect();
        }
        let fields: Vec<&str> = form.all("f").collect();
        let ops: Vec<&str> = form.all("op").collect();
        let values: Vec<&str> = form.all("v").collect();
        let filters = fields
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.is_empty())
            .map(|(i, f)| {
                (
                    (*f).to_owned(),
                    ops.get(i).copied().unwrap_or("eq").to_owned(),
                    values.get(i).copied().unwrap_or("").to_owned(),
                )
            })
            .collect();
        let sort = form
            .get("sort")
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        ListState {
            columns,
            filters,
            sort,
        }
    }

    /// The store's filter expression of the rows.
    fn filter(&self) -> Option<String> {
        let parts: Vec<String> = self
            .filters
            .iter()
            .map(|(field, op, value)| match op.as_str() {
                "is_empty" => format!("{field}[is_empty]:true"),
                "not_empty" => format!("{field}[is_empty]:false"),
                // A list field against several values: "tag a, tag b".
                "has_any" => format!("{field}[in]:{}", listed(value).join("|")),
                "has_none" => format!("not({field}[in]:{})", listed(value).join("|")),
                "has_all" => {
                    let each: Vec<String> = listed(value)
                        .iter()
                        .map(|v| format!("{field}[contains]:{v}"))
                        .collect();
                    format!("and({})", each.join(","))
                }
                op => format!("{field}[{op}]:{}", quoted(value)),
            })
            .collect();
        match parts.len() {
            0 => None,
            1 => parts.into_iter().next(),
            _ => Some(format!("and({})", parts.join(","))),
        }
    }

    fn query_string(&self, sort: Option<&str>, cursor: Option<&str>) -> String {
        let mut pairs = form_urlencoded::Serializer::new(String::new());
        if !self.columns.is_empty() {
            pairs.append_pair("cols", &self.columns.join(","));
        }
        for (field, op, value) in &self.filters {
            pairs
                .append_pair("f", field)
                .append_pair("op", op)
                .append_pair("v", value);
        }
        if let Some(sort) = sort.or(self.sort.as_deref()) {
            pairs.append_pair("sort", sort);
        }
        if let Some(cursor) = cursor {
            pairs.append_pair("cursor", cursor);
        }
        pairs.finish()
    }
}

/// Where a filter on a tags or multi-select field finds the values to suggest.
fn values_url(ty: &EntityType, field: &FieldSpec) -> Option<String> {
    matches!(field.kind, FieldKind::Tags | FieldKind::MultiSelect)
        .then(|| format!("/records/{}/values/{}", ty.plural, field.name))
}

/// The values of a "has any / all / none" condition, comma separated, each quoted for the
/// filter language.
fn listed(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(quoted)
        .collect()
}

/// The operators the filter builder offers (each one's words: `filter-op-<op>`).
const OPS: &[&str] = &[
    "eq",
    "neq",
    "has_any",
    "has_all",
    "has_none",
    "contains",
    "starts_with",
    "gt",
    "lt",
    "is_empty",
    "not_empty",
];

/// The operators that work for a field's kind, as the filter builder offers them.
fn ops_for(field: &FieldSpec) -> &'static [&'static str] {
    use FieldKind as K;
    match field.kind {
        K::Integer | K::Number | K::Money | K::Date | K::Datetime => {
            &["eq", "neq", "gt", "lt", "is_empty", "not_empty"]
        }
        K::Boolean => &["eq", "is_empty", "not_empty"],
        K::Reference if field.multiple => &["contains", "is_empty", "not_empty"],
        K::Select | K::User | K::Reference => &["eq", "neq", "is_empty", "not_empty"],
        K::Tags | K::MultiSelect => &["has_any", "has_all", "has_none", "is_empty", "not_empty"],
        K::Json => &["is_empty", "not_empty"],
        K::Text | K::LongText | K::Email | K::Phone | K::Url => &[
            "eq",
            "neq",
            "contains",
            "starts_with",
            "is_empty",
            "not_empty",
        ],
    }
}

fn default_columns(ty: &EntityType) -> Vec<String> {
    let mut columns: Vec<String> = ty.title_fields.clone();
    for field in &ty.fields {
        if columns.len() >= 5 {
            break;
        }
        if !columns.contains(&field.name)
            && !matches!(field.kind, FieldKind::LongText | FieldKind::Json)
        {
            columns.push(field.name.clone());
        }
    }
    columns
}

pub async fn list(web: Web, Path(plural): Path<String>, RawQuery(raw): RawQuery) -> Response {
    page(&web, async {
        let ty = entity(&web, &plural).await?;
        let form = Form::parse(raw.as_deref().unwrap_or("").as_bytes());
        let views = saved_views(&web, &ty).await?;
        let view_id = form.get("view").and_then(|v| Uuid::parse_str(v).ok());
        let mut state = ListState::from_form(&form);
        if let Some(view) = view_id.and_then(|id| views.iter().find(|v| v.id == id))
            && state.columns.is_empty()
            && state.filters.is_empty()
            && state.sort.is_none()
        {
            state = serde_json::from_value(view.query.clone()).unwrap_or_default();
        }
        let mut columns: Vec<&FieldSpec> = state.columns.iter().filter_map(|c| ty.field(c)).collect();
        if columns.is_empty() {
            columns = default_columns(&ty).iter().filter_map(|c| ty.field(c)).collect();
        }
        let query = ListQuery {
            filter: state.filter(),
            sort: state.sort.clone().or_else(|| ty.sort.clone()),
            limit: PAGE_ROWS,
            cursor: form.get("cursor").map(str::to_owned),
            ..ListQuery::default()
        };
        let base = format!("/records/{}", ty.plural);
        let unlisted = state.filters.iter().find(|(_, op, value)| op.starts_with("has_") && listed(value).is_empty());
        let listing = match unlisted {
            Some((field, _, _)) => Err(ApiError::new(ErrorCode::InvalidFilter, text!("list-pick-a-value", field = ty.field(field).map_or_else(|| field.clone(), label)))),
            None => web.state.store.list(&web.actor(), &ty, &query).await.map_err(ApiError::from),
        };
        let (found, error) = match listing {
            Ok(found) => (Some(found), None),
            // A filter the store refuses is shown on the page, with the builder to fix it.
            Err(error) => (None, Some(shown(error, web.lang)?)),
        };
        let records: Vec<&Record> = found.iter().flat_map(|p| p.records.iter()).collect();
        let data: Vec<&Map<String, Value>> = records.iter().map(|r| &r.data).collect();
        let names = names(&web, &columns, &data).await?;
        let rows: Vec<Value> = records
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "url": record_url(&ty, r.id),
                    "title": title_of(&ty, r),
                    "cells": columns.iter().map(|f| cell(f, r.data.get(&f.name), &names)).collect::<Vec<_>>(),
                })
            })
            .collect();
        let sort = state.sort.clone().unwrap_or_default();
        let column_json: Vec<Value> = columns
            .iter()
            .map(|f| {
                let (sorted, next) = if sort == f.name {
                    ("asc", format!("-{}", f.name))
                } else if sort == format!("-{}", f.name) {
                    ("desc", f.name.clone())
                } else {
                    ("", f.name.clone())
                };
                json!({
                    "name": f.name,
                    "label": label(f),
                    "kind": f.kind.as_str(),
                    "numeric": matches!(f.kind, FieldKind::Integer | FieldKind::Number | FieldKind::Money),
                    "sorted": sorted,
                    "sort_url": format!("{base}?{}", state.query_string(Some(&next), None)),
                })
            })
            .collect();
        let schema = web.state.store.schema(web.identity.workspace).await?;
        let field_json: Vec<Value> = ty
            .fields
            .iter()
            .map(|f| json!({
                "name": f.name,
                "label": label(f),
                "kind": f.kind.as_str(),
                "checked": columns.iter().any(|c| c.name == f.name),
                "ops": serde_json::to_string(ops_for(f)).unwrap_or_default(),
                "target": readable_target(&web, &schema, f).map(|t| t.plural.clone()),
                "values": values_url(&ty, f),
            }))
            .collect();
        // A reference condition shows the title of the record it names, through a picker.
        let named: Vec<Uuid> = state.filters.iter().filter_map(|(_, _, v)| Uuid::parse_str(v).ok()).collect();
        let filter_names = Names { records: web.state.store.titles(&web.actor(), &named).await?, users: Default::default(), zone: web.zone, locale: web.locale, lang: web.lang };
        let mut filters: Vec<Value> = state
            .filters
            .iter()
            .map(|(field, op, value)| {
                let target = ty.field(field).and_then(|f| readable_target(&web, &schema, f));
                json!({
                    "field": field,
                    "op": op,
                    "value": value,
                    "picker": target.map(|t| t.plural.clone()),
                    "titles": titles_json(Some(&Value::from(value.as_str())), &filter_names),
                    "values": ty.field(field).and_then(|f| values_url(&ty, f)),
                })
            })
            .collect();
        // One empty row to add a condition without JavaScript.
        filters.push(json!({ "field": "", "op": "eq", "value": "" }));
        let next_url = found
            .as_ref()
            .and_then(|p| p.next_cursor.as_deref())
            .map(|c| format!("{base}?{}", state.query_string(None, Some(c))));
        let paged = form.get("cursor").is_some();
        // One "Board" per type: its first select or reference; the board page switches.
        let board_url = default_board_field(&ty, &schema).map(|f| format!("{base}/board?field={}", f.name));
        let view_json: Vec<Value> = views
            .iter()
            .map(|v| {
                json!({
                    "id": v.id,
                    "name": v.name,
                    "shared": v.shared,
                    "mine": v.owner_id == web.identity.user.0,
                    "url": format!("{base}?view={}", v.id),
                    "active": Some(v.id) == view_id,
                    "delete_url": format!("{base}/views/{}/delete", v.id),
                })
            })
            .collect();
        let may_create = !matches!(web.identity.access.scope(Operation::Create, &ty.name), Scope::Nothing);
        // How many records the filter matches, of those the reader may see (past
        // `LIST_COUNT_CAP`, "10,000+").
        let total = match error {
            Some(_) => None,
            None => web.state.store.count_up_to(&web.actor(), &ty, state.filter().as_deref(), LIST_COUNT_CAP).await.ok(),
        };
        Ok(web
            .render(
                "list.html",
                json!({
                    "entity": entity_json(&ty),
                    "columns": column_json,
                    "fields": field_json,
                    "rows": rows,
                    "filters": filters,
                    "ops": OPS.iter().map(|v| json!({ "value": v, "label": web.lang.t(&format!("filter-op-{v}")) })).collect::<Vec<_>>(),
                    "views": view_json,
                    "board_url": board_url,
                    "sort": sort,
                    "columns_param": columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(","),
                    "state": state.query_string(None, None),
                    "next_url": next_url,
                    "first_url": paged.then(|| format!("{base}?{}", state.query_string(None, None))),
                    "may_create": may_create,
                    "import_url": may_create.then(|| format!("{base}/import")),
                    "exports": export_urls(&ty, &state, &columns),
                    "total": total.map(|(n, more)| format!("{}{}", web.locale.number(&n.to_string(), 0), if more { "+" } else { "" })),
                    "bulk": {
                        "url": format!("{base}/bulk"),
                        "choices": super::bulk::choices(&ty, web.lang),
                        "users": choosable_users(&web).await?.into_iter().map(|(id, name)| json!({ "id": id, "name": name })).collect::<Vec<_>>(),
                    },
                    "total_one": total == Some((1, false)),
                    "error": error,
                }),
            )
            .await)
    })
    .await
}

/// The list as it is shown — its filter, sort and columns — as CSV and XLSX downloads.
fn export_urls(ty: &EntityType, state: &ListState, columns: &[&FieldSpec]) -> Vec<Value> {
    ["csv", "xlsx"]
        .into_iter()
        .map(|format| {
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("format", format);
            if let Some(filter) = state.filter() {
                query.append_pair("filter", &filter);
            }
            if let Some(sort) = state.sort.clone().or_else(|| ty.sort.clone()) {
                query.append_pair("sort", &sort);
            }
            let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
            query.append_pair("fields", &names.join(","));
            json!({ "format": format, "url": format!("/api/v1/{}/export?{}", ty.plural, query.finish()) })
        })
        .collect()
}

/// The saved views of a type the reader may use: their own and the shared ones.
async fn saved_views(web: &Web, ty: &EntityType) -> ApiResult<Vec<saved_view::Model>> {
    let all = saved_view::Entity::find()
        .filter(saved_view::Column::WorkspaceId.eq(web.identity.workspace.0))
        .filter(saved_view::Column::Entity.eq(ty.name.as_str()))
        .order_by_asc(saved_view::Column::Name)
        .all(&web.state.db.read)
        .await
        .map_err(ApiError::internal)?;
    Ok(all
        .into_iter()
        .filter(|v| v.shared || v.owner_id == web.identity.user.0)
        .collect())
}

pub async fn save_view(web: Web, Path(plural): Path<String>, body: Bytes) -> Response {
    page(&web, async {
        let form = web.form(&body)?;
        let ty = entity(&web, &plural).await?;
        let name = form.get("name").unwrap_or("").trim().to_owned();
        if name.is_empty() || name.chars().count() > 80 {
            return Err(ApiError::validation(vec![FieldError::new(
                "name",
                "invalid_value",
                text!("api-web-view-name"),
            )]));
        }
        let shared = form.get("shared") == Some("true");
        if shared && !web.is_admin() {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                text!("api-web-view-share-admins"),
            ));
        }
        let state = ListState::from_form(&Form::parse(form.get("state").unwrap_or("").as_bytes()));
        // The filter must be one the store accepts, so a saved view always opens.
        let probe = ListQuery {
            filter: state.filter(),
            sort: state.sort.clone(),
            limit: 1,
            ..ListQuery::default()
        };
        web.state.store.list(&web.actor(), &ty, &probe).await?;
        let id = Uuid::now_v7();
        saved_view::Entity::insert(saved_view::ActiveModel {
            id: Set(id),
            workspace_id: Set(web.identity.workspace.0),
            owner_id: Set(web.identity.user.0),
            entity: Set(ty.name.clone()),
            name: Set(name.clone()),
            shared: Set(shared),
            query: Set(serde_json::to_value(&state).map_err(ApiError::internal)?),
            created_at: Set(now_micros()),
        })
        .exec_without_returning(&web.state.db.write)
        .await
        .map_err(ApiError::internal)?;
        Ok(redirect_with(
            &format!("/records/{}?view={id}", ty.plural),
            "success",
            &web.lang
                .t_with("flash-view-saved", &[("name", name.as_str().into())]),
        ))
    })
    .await
}

pub async fn delete_view(
    web: Web,
    Path((plural, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    page(&web, async {
        web.form(&body)?;
        let ty = entity(&web, &plural).await?;
        let id = Uuid::parse_str(&id)
            .map_err(|_| ApiError::new(ErrorCode::NotFound, text!("api-web-no-such-view")))?;
        let view = saved_views(&web, &ty)
            .await?
            .into_iter()
            .find(|v| v.id == id)
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound, text!("api-web-no-such-view")))?;
        if view.owner_id != web.identity.user.0 && !web.is_admin() {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                text!("api-web-view-remove-owner"),
            ));
        }
        saved_view::Entity::delete_by_id(id)
            .exec(&web.state.db.write)
            .await
            .map_err(ApiError::internal)?;
        Ok(redirect_with(
            &format!("/records/{}", ty.plural),
            "success",
            &web.lang.t("flash-view-removed"),
        ))
    })
    .await
}

// -- board --------------------------------------------------------------------------------------

/// Whether a field can be a board's columns: a select (its options) or a single reference to
/// one type (that type's records).
fn is_board_field(field: &FieldSpec) -> bool {
    field.kind == FieldKind::Select
        || (field.kind == FieldKind::Reference && !field.multiple && field.target.is_some())
}

/// The field a type's board opens on: a reference to records that share a scope with it (a
/// deal's stage, within its pipeline), else its first select, else its first reference.
fn default_board_field<'a>(ty: &'a EntityType, schema: &Schema) -> Option<&'a FieldSpec> {
    let fields = || ty.fields.iter().filter(|f| is_board_field(f));
    fields()
        .find(|f| {
            f.kind == FieldKind::Reference
                && f.target
                    .as_deref()
                    .and_then(|t| schema.by_name(t))
                    .is_some_and(|target| shared_reference(ty, target).is_some())
        })
        .or_else(|| fields().find(|f| f.kind == FieldKind::Select))
        .or_else(|| fields().next())
}

/// A board's column: the value its cards hold and its heading.
struct Column {
    value: String,
    label: String,
}

/// What narrows a reference board: a reference field the cards and the column records share
/// (deals and stages both point to a pipeline), and the record chosen for it.
struct BoardScope {
    field: String,
    id: RecordId,
    choices: Vec<Value>,
    label: String,
}

/// Each record's next open task: of the tasks linked to it and not done, the one due first
/// (undated ones last). Empty for activities themselves and for readers of no tasks.
async fn next_tasks<'r>(
    web: &Web,
    ty: &EntityType,
    records: impl Iterator<Item = &'r Record>,
) -> HashMap<RecordId, Record> {
    let ids: Vec<String> = records.map(|r| r.id.to_string()).collect();
    if ty.name == "activity" || ids.is_empty() {
        return HashMap::new();
    }
    let Ok(activities) = entity(web, "activities").await else {
        return HashMap::new();
    };
    let query = ListQuery {
        filter: Some(format!(
            "and(kind[eq]:task,done[neq]:true,links[in]:{})",
            ids.join("|")
        )),
        sort: Some("due_at".into()),
        limit: 1000,
        ..ListQuery::default()
    };
    let Ok(found) = web
        .state
        .store
        .list(&web.actor(), &activities, &query)
        .await
    else {
        return HashMap::new();
    };
    // Dated tasks before undated ones (NULLs sort first in an ascending sort).
    let (dated, undated): (Vec<Record>, Vec<Record>) = found
        .records
        .into_iter()
        .partition(|t| t.data.get("due_at").is_some_and(|d| !d.is_null()));
    let mut next = HashMap::new();
    for task in dated.into_iter().chain(undated) {
        for linked in task
            .data
            .get("links")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(id) = linked.as_str().and_then(|id| Uuid::parse_str(id).ok()) {
                next.entry(RecordId(id)).or_insert_with(|| task.clone());
            }
        }
    }
    next
}

/// A task as a card shows it: its subject, when it is due and whether that has passed.
fn task_json(task: &Record, names: &Names, now: chrono::DateTime<chrono::Utc>) -> Value {
    let due = task.data.get("due_at").and_then(Value::as_str);
    let overdue = due
        .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
        .is_some_and(|d| d < now);
    json!({
        "subject": task.data.get("subject").and_then(Value::as_str).unwrap_or(""),
        "due": due.map(|d| display::short_datetime(d, names.zone, names.lang)),
        "overdue": overdue,
        "url": format!("/records/activities/{}", task.id),
    })
}

pub async fn board(web: Web, Path(plural): Path<String>, RawQuery(raw): RawQuery) -> Response {
    page(&web, async {
        let ty = entity(&web, &plural).await?;
        let form = Form::parse(raw.as_deref().unwrap_or("").as_bytes());
        let fields: Vec<&FieldSpec> = ty.fields.iter().filter(|f| is_board_field(f)).collect();
        let field = match form.get("field") {
            Some(name) => fields.iter().find(|f| f.name == name).copied().ok_or_else(|| {
                ApiError::new(ErrorCode::InvalidParameter, text!("api-web-board-no-field", label = ty.label_plural.as_str(), field = name.chars().take(64).collect::<String>()))
            })?,
            None => default_board_field(&ty, &*web.state.store.schema(web.identity.workspace).await?).ok_or_else(|| {
                ApiError::new(ErrorCode::InvalidParameter, text!("api-web-board-no-fields", label = ty.label_plural.as_str()))
            })?,
        };
        let base = format!("/records/{}", ty.plural);
        let (columns, scope) = board_columns(&web, &ty, field, form.get("scope")).await?;
        let scope_filter = scope.as_ref().map(|s| format!("{}[eq]:{},", s.field, s.id.0)).unwrap_or_default();
        let actor = web.actor();
        // What a card shows besides its title: `?card=a,b` or the type's first amount and
        // date; with the owner's initials and, where the type records when a card entered its
        // column (`<field>_entered_at`, as the sales plugin's deals do), the days since.
        let card_fields: Vec<&FieldSpec> = match form.get("card") {
            Some(list) => list.split(',').filter_map(|n| ty.field(n.trim())).filter(|f| f.name != field.name).take(4).collect(),
            None => [
                ty.fields.iter().find(|f| f.kind == FieldKind::Money),
                ty.fields.iter().find(|f| f.kind == FieldKind::Date),
            ]
            .into_iter()
            .flatten()
            .collect(),
        };
        let entered = ty.field(&format!("{}_entered_at", field.name)).filter(|f| f.kind == FieldKind::Datetime);
        let mut found_columns = Vec::with_capacity(columns.len());
        for column in &columns {
            let query = ListQuery {
                filter: Some(format!("and({scope_filter}{}[eq]:{})", field.name, quoted(&column.value))),
                sort: Some("-updated_at".into()),
                limit: BOARD_CARDS,
                ..ListQuery::default()
            };
            found_columns.push(web.state.store.list(&actor, &ty, &query).await?);
        }
        let data: Vec<&Map<String, Value>> = found_columns.iter().flat_map(|p| p.records.iter().map(|r| &r.data)).collect();
        let names = names(&web, &card_fields, &data).await?;
        let owners = users(&web).await?;
        let tasks = next_tasks(&web, &ty, found_columns.iter().flat_map(|p| &p.records)).await;
        // Counts and totals of each column's amount, per currency, over all its cards (not only
        // the ones shown), as the reader may see them.
        let money = ty.fields.iter().find(|f| f.kind == FieldKind::Money);
        let mut group_by = vec![field.name.clone()];
        group_by.extend(money.map(|m| format!("{}:currency", m.name)));
        let totals = web
            .state
            .store
            .aggregate(
                &actor,
                &ty,
                &AggregateQuery {
                    filter: scope.as_ref().map(|s| format!("{}[eq]:{}", s.field, s.id.0)),
                    group_by,
                    sum: money.map(|m| vec![m.name.clone()]).unwrap_or_default(),
                },
            )
            .await
            .ok();
        let now = chrono::Utc::now();
        let mut column_json = Vec::new();
        for (column, found) in columns.iter().zip(&found_columns) {
            let more = found.next_cursor.is_some();
            let cards: Vec<Value> = found
                .records
                .iter()
                .map(|r| {
                    let shown: Vec<Value> = card_fields
                        .iter()
                        .filter_map(|f| {
                            let text = cell(f, r.data.get(&f.name), &names)["text"].as_str()?.to_owned();
                            (!text.is_empty()).then(|| json!({ "name": f.name, "label": label(f), "text": text }))
                        })
                        .collect();
                    let owner = r.owner.and_then(|o| owners.get(&o.0));
                    let days = entered
                        .and_then(|f| r.data.get(&f.name)?.as_str().map(str::to_owned))
                        .and_then(|at| chrono::DateTime::parse_from_rfc3339(&at).ok())
                        .map(|at| (now - at.with_timezone(&chrono::Utc)).num_days().max(0));
                    json!({
                        "id": r.id,
                        "version": r.version,
                        "title": title_of(&ty, r),
                        "url": record_url(&ty, r.id),
                        "fields": shown,
                        "owner": owner,
                        "initials": owner.map(|name| display::initials(name)),
                        "days": days,
                        "task": tasks.get(&r.id).map(|task| task_json(task, &names, now)),
                    })
                })
                .collect();
            let key = Value::String(column.value.clone());
            let groups: Vec<&crate::records::aggregate::Group> = totals
                .iter()
                .flat_map(|t| t.groups.iter())
                .filter(|g| g.keys.first() == Some(&key))
                .collect();
            let count = match &totals {
                Some(_) => groups.iter().map(|g| g.count).sum::<u64>().to_string(),
                None if more => format!("{}+", cards.len()),
                None => cards.len().to_string(),
            };
            let sums: Vec<String> = money
                .map(|m| {
                    groups
                        .iter()
                        .filter_map(|g| cell(m, g.sums.first(), &names)["text"].as_str().map(str::to_owned))
                        .filter(|t| !t.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            column_json.push(json!({
                "value": column.value,
                "label": column.label,
                "cards": cards,
                "count": count,
                "totals": sums,
                "more_url": more.then(|| format!("{base}?f={}&op=eq&v={}", field.name, encode(&column.value))),
            }));
        }
        let boards: Vec<Value> = fields
            .iter()
            .map(|f| json!({ "name": f.name, "label": label(f), "url": format!("{base}/board?field={}", f.name), "active": f.name == field.name }))
            .collect();
        Ok(web
            .render(
                "board.html",
                json!({
                    "entity": entity_json(&ty),
                    "field": { "name": field.name, "label": label(field), "editable": !field.read_only },
                    "boards": boards,
                    "columns": column_json,
                    "scope": scope.map(|s| json!({ "id": s.id.0, "label": s.label, "choices": s.choices })),
                }),
            )
            .await)
    })
    .await
}

/// A board's columns for `field`: a select's options, or a reference's records (within the
/// chosen `scope` when they share one).
async fn board_columns(
    web: &Web,
    ty: &EntityType,
    field: &FieldSpec,
    scope: Option<&str>,
) -> Result<(Vec<Column>, Option<BoardScope>), ApiError> {
    match &field.target {
        Some(target) if field.kind == FieldKind::Reference => {
            reference_columns(web, ty, field, target, scope).await
        }
        _ => {
            let options = field.options.iter().map(|o| Column {
                value: o.value.clone(),
                label: display::option_label(field, &o.value),
            });
            Ok((options.collect(), None))
        }
    }
}

/// The columns of a board over a reference to `target`: the target's records in its type's
/// order. When both types point to a third (deal → pipeline ← stage), the board shows one of
/// those at a time — `scope`, or the first — with the others to pick from.
async fn reference_columns(
    web: &Web,
    ty: &EntityType,
    field: &FieldSpec,
    target: &str,
    scope: Option<&str>,
) -> Result<(Vec<Column>, Option<BoardScope>), ApiError> {
    let schema = web.state.store.schema(web.identity.workspace).await?;
    let target_ty = match schema.by_name(target) {
        Some(found) => web.state.store.view(&web.actor(), &found.plural).await?,
        None => {
            return Err(ApiError::new(
                ErrorCode::UnknownEntity,
                text!("api-unknown-entity", name = target),
            ));
        }
    };
    let shared = shared_reference(ty, &target_ty);
    let mut scope_choice = None;
    if let Some(shared) = shared
        && let Some(scope_name) = &shared.target
        && let Some(scope_ty) = schema.by_name(scope_name)
    {
        let scope_ty = web.state.store.view(&web.actor(), &scope_ty.plural).await?;
        let query = ListQuery {
            sort: scope_ty.sort.clone(),
            limit: BOARD_CARDS,
            ..ListQuery::default()
        };
        let choices = web
            .state
            .store
            .list(&web.actor(), &scope_ty, &query)
            .await?
            .records;
        let chosen = scope
            .and_then(|raw| uuid::Uuid::parse_str(raw).ok())
            .and_then(|id| choices.iter().find(|r| r.id.0 == id))
            .or_else(|| choices.first());
        if let Some(chosen) = chosen {
            let base = format!("/records/{}/board?field={}", ty.plural, field.name);
            scope_choice = Some(BoardScope {
                field: shared.name.clone(),
                id: chosen.id,
                label: label(shared),
                choices: choices
                    .iter()
                    .map(|r| json!({ "id": r.id.0, "title": title_of(&scope_ty, r), "url": format!("{base}&scope={}", r.id.0), "active": r.id == chosen.id }))
                    .collect(),
            });
        }
    }
    let query = ListQuery {
        filter: scope_choice
            .as_ref()
            .map(|s| format!("{}[eq]:{}", s.field, s.id.0)),
        sort: target_ty.sort.clone(),
        limit: BOARD_CARDS,
        ..ListQuery::default()
    };
    let records = web
        .state
        .store
        .list(&web.actor(), &target_ty, &query)
        .await?
        .records;
    let columns = records
        .iter()
        .map(|r| Column {
            value: r.id.0.to_string(),
            label: title_of(&target_ty, r),
        })
        .collect();
    Ok((columns, scope_choice))
}

/// One field set from a small form (a task's "done" box, its snooze button): `field`,
/// `value` (as the full form would send it), `version`, and `back`, the page to return to.
pub async fn set_field(
    web: Web,
    Path((plural, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    page(&web, async {
        let form = web.form(&body)?;
        let ty = entity(&web, &plural).await?;
        let field = form.get("field").unwrap_or("");
        let spec = ty.field(field).filter(|f| !f.read_only).ok_or_else(|| {
            ApiError::new(
                ErrorCode::InvalidParameter,
                text!("api-web-not-editable-field"),
            )
        })?;
        // Only a path on this site: never a redirect elsewhere.
        let back = form
            .get("back")
            .filter(|b| {
                b.starts_with('/')
                    && !b.starts_with("//")
                    && !b.contains('\\')
                    && !b.chars().any(char::is_control)
            })
            .map_or_else(|| format!("/records/{}/{id}", ty.plural), str::to_owned);
        set_one(
            &web,
            &ty,
            &id,
            spec,
            &form,
            &back,
            &web.lang.t("flash-saved"),
        )
        .await
    })
    .await
}

/// Sets `spec` to the form's `value` at the form's `version`, then goes `back` with a notice.
async fn set_one(
    web: &Web,
    ty: &EntityType,
    id: &str,
    spec: &FieldSpec,
    form: &Form,
    back: &str,
    done: &str,
) -> ApiResult<Response> {
    let id = parse_id(id)?;
    let version = form.get("version").and_then(|v| v.parse::<i64>().ok());
    let patch = match display::read_one(spec, form.get("value").unwrap_or(""), web.zone, web.lang) {
        Ok(patch) => patch,
        Err(message) => return Ok(redirect_with(back, "error", &message)),
    };
    match web
        .state
        .store
        .update(
            &web.actor(),
            ty,
            UpdateItem {
                id,
                patch,
                if_match: version,
            },
        )
        .await
    {
        Ok(record) => Ok(redirect_with(
            back,
            "success",
            &format!("{done} “{}”.", title_of(ty, &record)),
        )),
        // Another workspace's record, or one the reader cannot see, is not there.
        Err(error) => match ApiError::from(error) {
            error if error.code.status() == StatusCode::NOT_FOUND => Err(error),
            error => refused(web, back, error),
        },
    }
}

// -- record page --------------------------------------------------------------------------------

pub async fn record(
    web: Web,
    Path((plural, id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    page(&web, async {
        let ty = entity(&web, &plural).await?;
        let id = parse_id(&id)?;
        let actor = web.actor();
        let store = &web.state.store;
        let record = store.get(&actor, &ty, id).await?;
        let duplicates = super::merge::duplicates_of(&web, &ty, &record).await?;
        let owner = record.owner.map(|o| o.0);
        let may_edit = actor.allows(Operation::Edit, &ty.name, owner);
        let may_delete = actor.allows(Operation::Delete, &ty.name, owner);
        let all: Vec<&FieldSpec> = ty.fields.iter().collect();
        let mut names = names(&web, &all, &[&record.data]).await?;
        if let Some(owner) = owner
            && let Some(found) = user::Entity::find_by_id(owner).one(&web.state.db.read).await.map_err(ApiError::internal)?
        {
            names.users.insert(owner, crate::auth::people::shown_name(&found));
        }
        let schema = store.schema(web.identity.workspace).await?;
        let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
        for field in &ty.fields {
            let group = match (&field.source, field.custom) {
                (Some(source), _) => web.lang.t_with("record-group-from", &[("source", source.trim_start_matches("plugin:").into())]),
                (None, true) => web.lang.t("record-group-custom"),
                (None, false) => web.lang.t("record-group-details"),
            };
            let value = record.data.get(&field.name);
            // A reference is edited with a picker of its type, so only when that is readable.
            let target = readable_target(&web, &schema, field);
            let editable = may_edit && !field.read_only && (field.kind != FieldKind::Reference || target.is_some());
            let options: Vec<Value> = field.options.iter().map(|o| json!({ "value": o.value, "label": display::option_label(field, &o.value) })).collect();
            let entry = json!({
                "name": field.name,
                "label": label(field),
                "kind": field.kind.as_str(),
                "cell": cell(field, value, &names),
                "raw": value.map_or_else(|| "null".to_owned(), Value::to_string),
                "options": serde_json::to_string(&options).unwrap_or_default(),
                "editable": editable,
                "target": target.map(|t| t.plural.clone()),
                "multiple": field.multiple,
                "titles": titles_json(value, &names),
            });
            match groups.iter_mut().find(|(name, _)| *name == group) {
                Some((_, fields)) => fields.push(entry),
                None => groups.push((group, vec![entry])),
            }
        }
        // Related records: every reference to this record from any type the reader may read,
        // with a link to add one already pointing here.
        let mut related = Vec::new();
        let mut rolled_up: Vec<(RecordId, String, String)> = Vec::new();
        for (other, field) in schema.references_to(&ty.name) {
            if matches!(web.identity.access.scope(Operation::Read, &other.name), Scope::Nothing)
                || other.name == "activity" && field.name == "links"
            {
                continue;
            }
            let view = display::localized(&web.identity.access.view(other), web.lang);
            if view.field(&field.name).is_none() {
                continue;
            }
            let op = if field.multiple { "contains" } else { "eq" };
            let query = ListQuery { filter: Some(format!("{}[{op}]:{id}", field.name)), limit: ROLLUP_RECORDS, ..ListQuery::default() };
            let found = store.list(&actor, &view, &query).await?;
            let may_add = !field.multiple && !matches!(web.identity.access.scope(Operation::Create, &other.name), Scope::Nothing);
            if found.records.is_empty() && !may_add {
                continue;
            }
            rolled_up.extend(found.records.iter().map(|r| (r.id, title_of(&view, r), record_url(&view, r.id))));
            let more = found.next_cursor.is_some() || found.records.len() > RELATED_ROWS;
            related.push(json!({
                "label": format!("{} ({})", view.label_plural, label(field).to_lowercase()),
                "rows": found.records.iter().take(RELATED_ROWS).map(|r| json!({ "title": title_of(&view, r), "url": record_url(&view, r.id) })).collect::<Vec<_>>(),
                "more_url": more.then(|| format!("/records/{}?f={}&op={op}&v={id}", view.plural, field.name)),
                "new_url": may_add.then(|| format!("/records/{}/new?{}={id}", view.plural, field.name)),
                "new_label": web.lang.t_with("list-new", &[("label", view.label.to_lowercase().into())]),
            }));
        }
        // The timeline, newest first: this record's activities and those of the records that
        // point at it (a company's contacts and deals), each of those saying whose it is;
        // `?kind=` keeps one kind.
        let query_form = Form::parse(raw.as_deref().unwrap_or("").as_bytes());
        let kind_filter = query_form.get("kind").filter(|k| ["note", "task", "call", "meeting", "email"].contains(k));
        let mut timeline = Vec::new();
        let activity_type = schema.by_name("activity").filter(|_| ty.name != "activity");
        let may_log = activity_type.is_some_and(|_| !matches!(web.identity.access.scope(Operation::Create, "activity"), Scope::Nothing));
        if let Some(activities) = activity_type
            && !matches!(web.identity.access.scope(Operation::Read, "activity"), Scope::Nothing)
        {
            let view = display::localized(&web.identity.access.view(activities), web.lang);
            let ids: Vec<String> = std::iter::once(id.to_string()).chain(rolled_up.iter().map(|(r, _, _)| r.to_string())).collect();
            let links = format!("links[in]:{}", ids.join("|"));
            let query = ListQuery {
                filter: Some(match kind_filter {
                    Some(kind) => format!("and({links},kind[eq]:{kind})"),
                    None => links,
                }),
                sort: Some("-created_at".into()),
                limit: 30,
                ..ListQuery::default()
            };
            let found = store.list(&actor, &view, &query).await?;
            let authors = users(&web).await?;
            for activity in &found.records {
                let author = activity.owner.and_then(|o| authors.get(&o.0)).map(String::as_str);
                let mut entry = activity_json(&view, activity, author, web.zone, web.lang);
                // Whose it is, when it is not this record's own.
                let linked = |r: &RecordId| activity.data.get("links").and_then(Value::as_array).is_some_and(|l| l.iter().any(|v| v.as_str() == Some(&r.to_string())));
                if !linked(&id)
                    && let Some((_, title, url)) = rolled_up.iter().find(|(r, _, _)| linked(r))
                    && let Value::Object(entry) = &mut entry
                {
                    entry.insert("on".into(), json!({ "title": title, "url": url }));
                }
                timeline.push(entry);
            }
        }
        let timeline_kinds: Vec<Value> = ["", "note", "task", "call", "meeting", "email"]
            .into_iter()
            .map(|k| (k, web.lang.t(&format!("timeline-kind-{}", if k.is_empty() { "all" } else { k }))))
            .map(|(k, label)| json!({ "label": label, "url": if k.is_empty() { format!("{}#timeline", record_url(&ty, id)) } else { format!("{}?kind={k}#timeline", record_url(&ty, id)) }, "active": kind_filter.unwrap_or("") == k }))
            .collect();
        let panels = panels(&web, &PanelLocation::Record(ty.name.clone()), Some((&ty, &record))).await;
        let title = title_of(&ty, &record);
        let url = record_url(&ty, id);
        let mut actions = Vec::new();
        for enabled in web.state.plugins.enabled_in(web.identity.workspace).iter() {
            for action in enabled.plugin.manifest.actions.iter().filter(|a| a.entity.as_deref() == Some(ty.name.as_str())) {
                if !offered(&web, &ty, id, action).await? {
                    continue;
                }
                let shown = enabled.plugin.messages.action(web.lang, action);
                actions.push(json!({
                    "title": shown.title,
                    "description": shown.description,
                    "url": format!("{url}/actions/{}/{}", enabled.id(), action.name),
                    "dialog": !action.fields.is_empty(),
                }));
            }
        }
        let kinds: Vec<Value> = ["note", "task", "call", "meeting"]
            .iter()
            .map(|k| json!({ "value": k, "label": web.lang.t(&format!("activity-kind-{k}")) }))
            .collect();
        // Contacts and companies offer an email when the workspace can send one.
        let email = (may_log
            && ["contact", "company"].contains(&ty.name.as_str())
            && crate::mail::is_set_up(&web.state.db, web.identity.workspace).await.map_err(ApiError::internal)?)
        .then(|| json!({ "url": format!("{url}/email"), "to": record.data.get("email").and_then(Value::as_str).unwrap_or("") }));
        Ok(web
            .render(
                "record.html",
                json!({
                    "entity": entity_json(&ty),
                    "record": {
                        "id": id,
                        "title": title,
                        "version": record.version,
                        "url": url,
                        "edit_url": format!("{url}/edit"),
                        "delete_url": format!("{url}/delete"),
                        "activity_url": format!("{url}/activities"),
                        "owner": owner.and_then(|o| names.users.get(&o)).cloned(),
                        "created": display::local_stamp(record.created_at, web.zone, web.lang),
                        "updated": display::local_stamp(record.updated_at, web.zone, web.lang),
                        "may_edit": may_edit,
                        "may_delete": may_delete,
                    },
                    "groups": groups.into_iter().map(|(label, fields)| json!({ "label": label, "fields": fields })).collect::<Vec<_>>(),
                    "duplicates": duplicates,
                    "timeline": timeline,
                    "timeline_kinds": timeline_kinds,
                    "may_log": may_log,
                    "activity_kinds": kinds,
                    "email": email,
                    "related": related,
                    "panels": panels,
                    "actions": actions,
                }),
            )
            .await)
    })
    .await
}

/// Whether the record matches the action's `when` (always, without one).
async fn offered(web: &Web, ty: &EntityType, id: RecordId, action: &Action) -> ApiResult<bool> {
    let Some(when) = &action.when else {
        return Ok(true);
    };
    let query = ListQuery {
        filter: Some(format!("and(id[eq]:{id},{when})")),
        limit: 1,
        ..ListQuery::default()
    };
    Ok(!web
        .state
        .store
        .list(&web.actor(), ty, &query)
        .await?
        .records
        .is_empty())
}

/// A plugin action on a record of `ty`, with the plugin that has it; 404 when there is none.
fn record_action(
    web: &Web,
    ty: &EntityType,
    plugin: &str,
    action: &str,
) -> ApiResult<(Arc<Enabled>, Action)> {
    let enabled = web
        .state
        .plugins
        .enabled_plugin(web.identity.workspace, plugin)?;
    let spec = enabled
        .plugin
        .manifest
        .actions
        .iter()
        .find(|a| a.name == action && a.entity.as_deref() == Some(ty.name.as_str()))
        .map(|a| enabled.plugin.messages.action(web.lang, a))
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotFound,
                text!(
                    "api-web-no-action",
                    action = action.chars().take(64).collect::<String>(),
                    label = ty.label_plural.as_str()
                ),
            )
        })?;
    Ok((enabled, spec))
}

/// A plugin action about to run on a record: the record's type, the record, the plugin and
/// the action's declaration.
struct ActionTarget {
    ty: Arc<EntityType>,
    record: Record,
    enabled: Arc<Enabled>,
    spec: Action,
}

/// The record an action runs on, readable by the person, and the action; when the action is
/// not offered for the record (a lead already converted), the way back to the record saying so.
async fn action_target(
    web: &Web,
    (plural, id, plugin, action): &(String, String, String, String),
) -> ApiResult<Result<ActionTarget, Response>> {
    let ty = entity(web, plural).await?;
    let record = web
        .state
        .store
        .get(&web.actor(), &ty, parse_id(id)?)
        .await?;
    let (enabled, spec) = record_action(web, &ty, plugin, action)?;
    if !offered(web, &ty, record.id, &spec).await? {
        let why = format!(
            "{} is not offered for {} now.",
            spec.title,
            title_of(&ty, &record)
        );
        return Ok(Err(redirect_with(
            &record_url(&ty, record.id),
            "error",
            &why,
        )));
    }
    Ok(Ok(ActionTarget {
        ty,
        record,
        enabled,
        spec,
    }))
}

/// The dialog of an action that asks for fields: its starting values are the fields'
/// defaults, then what the plugin prefills.
pub async fn action_form(web: Web, Path(path): Path<(String, String, String, String)>) -> Response {
    page(&web, async {
        let target = match action_target(&web, &path).await? {
            Ok(target) => target,
            Err(not_offered) => return Ok(not_offered),
        };
        let back = record_url(&target.ty, target.record.id);
        let spec = &target.spec;
        let mut values: Map<String, Value> = spec
            .fields
            .iter()
            .filter_map(|f| f.default.clone().map(|d| (f.name.clone(), d)))
            .collect();
        if spec.prefill {
            let input = json!({ "id": target.record.id, "prefill": true });
            let answer = crate::plugins::api::call_action(
                &web.state.plugins,
                &target.enabled,
                web.actor(),
                &spec.name,
                &input,
            )
            .await;
            match answer {
                Ok(Value::Object(prefilled)) => values.extend(
                    prefilled
                        .into_iter()
                        .filter(|(k, _)| spec.fields.iter().any(|f| &f.name == k)),
                ),
                Ok(_) => {}
                Err(error) => return refused(&web, &back, error),
            }
        }
        render_action_form(&web, &target, &values, &[], StatusCode::OK).await
    })
    .await
}

async fn render_action_form(
    web: &Web,
    target: &ActionTarget,
    values: &Map<String, Value>,
    errors: &[FieldError],
    status: StatusCode,
) -> ApiResult<Response> {
    let ActionTarget {
        ty, record, spec, ..
    } = target;
    let fields: Vec<&FieldSpec> = spec.fields.iter().collect();
    let (inputs, general) = form_inputs(web, &spec.fields, &fields, values, errors).await?;
    let url = record_url(ty, record.id);
    Ok(web
        .render_status(
            status,
            "action.html",
            json!({
                "entity": entity_json(ty),
                "record": { "title": title_of(ty, record), "url": url },
                "action": {
                    "title": spec.title,
                    "description": spec.description,
                    "url": format!("{url}/actions/{}/{}", target.enabled.id(), spec.name),
                },
                "inputs": inputs,
                "errors": general,
            }),
        )
        .await)
}

/// Runs a plugin's action on the record (`{"id": …}` and the dialog's answers are its input)
/// and comes back to the record with the outcome; a refusal keeps the dialog open.
pub async fn run_action(
    web: Web,
    Path(path): Path<(String, String, String, String)>,
    body: Bytes,
) -> Response {
    page(&web, async {
        let form = web.form(&body)?;
        let target = match action_target(&web, &path).await? {
            Ok(target) => target,
            Err(not_offered) => return Ok(not_offered),
        };
        let back = record_url(&target.ty, target.record.id);
        let spec = &target.spec;
        let fields: Vec<&FieldSpec> = spec.fields.iter().collect();
        let values = match read_form(&fields, &form, web.zone) {
            Ok(values) => values,
            Err(errors) => {
                let typed = as_typed(&fields, &form);
                let status = StatusCode::UNPROCESSABLE_ENTITY;
                return render_action_form(&web, &target, &typed, &errors, status).await;
            }
        };
        let mut input = values.clone();
        input.insert("id".into(), json!(target.record.id));
        let outcome = crate::plugins::api::call_action(
            &web.state.plugins,
            &target.enabled,
            web.actor(),
            &spec.name,
            &Value::Object(input),
        )
        .await;
        match outcome {
            Ok(_) => Ok(redirect_with(
                &back,
                "success",
                &web.lang.t_with(
                    "flash-action-done",
                    &[("action", spec.title.as_str().into())],
                ),
            )),
            // A dialog stays open with the refusal beside the fields it names.
            Err(error) if !spec.fields.is_empty() && !error.code.status().is_server_error() => {
                let mut errors = error.details.clone();
                if errors.is_empty() {
                    errors.push(FieldError::new("", error.code.as_str(), error.message));
                }
                let status = StatusCode::UNPROCESSABLE_ENTITY;
                render_action_form(&web, &target, &values, &errors, status).await
            }
            Err(error) => refused(&web, &back, error),
        }
    })
    .await
}

/// Adds a note, task, call or meeting to a record's timeline.
pub async fn add_activity(
    web: Web,
    Path((plural, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    page(&web, async {
        let form = web.form(&body)?;
        let ty = entity(&web, &plural).await?;
        let id = parse_id(&id)?;
        // The record must be one the author may read.
        web.state.store.get(&web.actor(), &ty, id).await?;
        let activities = entity(&web, "activities").await?;
        let fields: Vec<&FieldSpec> = ["kind", "subject", "body", "due_at"]
            .iter()
            .filter_map(|f| activities.field(f))
            .collect();
        let mut body = read_form(&fields, &form, web.zone).map_err(ApiError::validation)?;
        body.insert("links".into(), json!([id]));
        let back = format!("{}#timeline", record_url(&ty, id));
        match web
            .state
            .store
            .create(&web.actor(), &activities, body)
            .await
        {
            Ok(_) => Ok(redirect_with(
                &back,
                "success",
                &web.lang.t("flash-added-to-timeline"),
            )),
            Err(error) => refused(&web, &back, error.into()),
        }
    })
    .await
}

/// Sends an email from a contact's or company's page (the API's one way to send), logged on
/// its timeline.
pub async fn send_email(
    web: Web,
    Path((plural, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    page(&web, async {
        let form = web.form(&body)?;
        let ty = entity(&web, &plural).await?;
        let id = parse_id(&id)?;
        web.state.store.get(&web.actor(), &ty, id).await?;
        let back = format!("{}#timeline", record_url(&ty, id));
        let request = crate::mail::api::SendBody {
            to: form
                .get("to")
                .unwrap_or_default()
                .split([',', ';'])
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect(),
            subject: form.get("subject").unwrap_or_default().to_owned(),
            body: form.get("body").unwrap_or_default().to_owned(),
            links: vec![id.to_string()],
            ..Default::default()
        };
        match crate::mail::api::send(
            &web.state.store,
            &web.state.sealer,
            &web.identity.actor(),
            None,
            request,
        )
        .await
        {
            Ok(_) => Ok(redirect_with(
                &back,
                "success",
                &web.lang.t("flash-email-queued"),
            )),
            Err(error) => refused(&web, &back, error),
        }
    })
    .await
}

// -- forms --------------------------------------------------------------------------------------

/// The fields a form offers: the reader's view, without the ones they may only read.
fn form_fields(ty: &EntityType) -> Vec<&FieldSpec> {
    ty.fields.iter().filter(|f| !f.read_only).collect()
}

/// The single reference field `ty` shares with `target` — same name, same target type (deals
/// and stages both point to a pipeline): it scopes which `target` records go with a record of
/// `ty` (a deal's stages are its pipeline's).
fn shared_reference<'a>(ty: &'a EntityType, target: &EntityType) -> Option<&'a FieldSpec> {
    shared_reference_in(&ty.fields, target)
}

/// [`shared_reference`] among any fields (an action's dialog scopes its stage by its pipeline).
fn shared_reference_in<'a>(fields: &'a [FieldSpec], target: &EntityType) -> Option<&'a FieldSpec> {
    let single =
        |f: &FieldSpec| f.kind == FieldKind::Reference && !f.multiple && f.target.is_some();
    fields.iter().find(|f| {
        single(f)
            && f.target.as_deref() != Some(target.name.as_str())
            && target
                .field(&f.name)
                .is_some_and(|t| single(t) && t.target == f.target)
    })
}

/// Choices for reference and user inputs: the first records of the target type, in its order
/// (else by title) — only those of the record's scope when the types share a reference (a
/// deal's stage among its pipeline's stages).
async fn choices(
    web: &Web,
    scope: &[FieldSpec],
    fields: &[&FieldSpec],
    values: &Map<String, Value>,
) -> ApiResult<Vec<Option<Vec<(String, String)>>>> {
    let mut out = Vec::new();
    for field in fields {
        let choices = match (field.kind, field.target.as_deref()) {
            (FieldKind::User, _) => Some(
                choosable_users(web)
                    .await?
                    .into_iter()
                    .map(|(id, name)| (id.to_string(), name))
                    .collect(),
            ),
            (FieldKind::Reference, Some(_)) => {
                let schema = web.state.store.schema(web.identity.workspace).await?;
                match readable_target(web, &schema, field) {
                    Some(target) => {
                        let view = display::localized(&web.identity.access.view(target), web.lang);
                        let scope = shared_reference_in(scope, &view).and_then(|shared| {
                            let id = values.get(&shared.name)?.as_str()?;
                            Uuid::parse_str(id)
                                .ok()
                                .map(|id| format!("{}[eq]:{id}", shared.name))
                        });
                        let query = ListQuery {
                            filter: scope,
                            sort: view.sort.clone(),
                            limit: REFERENCE_CHOICES,
                            ..ListQuery::default()
                        };
                        let found = web.state.store.list(&web.actor(), &view, &query).await?;
                        let mut list: Vec<(String, String)> = found
                            .records
                            .iter()
                            .map(|r| (r.id.to_string(), title_of(&view, r)))
                            .collect();
                        if view.sort.is_none() {
                            list.sort_by_key(|(_, title)| title.to_lowercase());
                        }
                        Some(list)
                    }
                    _ => None,
                }
            }
            _ => None,
        };
        out.push(choices);
    }
    Ok(out)
}

/// The record a form edits, with the version and the values the person started from (kept
/// as they were when the form is shown again after an error, so a later save still compares
/// with what they saw).
struct Editing<'a> {
    record: &'a Record,
    version: i64,
    base: &'a Map<String, Value>,
}

impl<'a> Editing<'a> {
    fn fresh(record: &'a Record) -> Self {
        Editing {
            record,
            version: record.version,
            base: &record.data,
        }
    }
}

/// The inputs of a form of `fields` (among `scope`, the fields that scope each other's
/// choices) holding `values`, each with its error, and the errors of no input.
async fn form_inputs(
    web: &Web,
    scope: &[FieldSpec],
    fields: &[&FieldSpec],
    values: &Map<String, Value>,
    errors: &[FieldError],
) -> ApiResult<(Vec<Value>, Vec<String>)> {
    let choices = choices(web, scope, fields, values).await?;
    let schema = web.state.store.schema(web.identity.workspace).await?;
    let inputs: Vec<Value> = fields
        .iter()
        .zip(&choices)
        .map(|(f, c)| {
            let error = errors
                .iter()
                .find(|e| e.field == f.name)
                .map(|e| e.message.render(web.lang));
            let mut input = display::input(
                f,
                values.get(&f.name),
                error.as_deref(),
                c.as_deref(),
                web.zone,
                web.lang,
            );
            // The picker that takes over the reference's list of choices with JavaScript.
            if let (Some(target), Value::Object(input)) =
                (readable_target(web, &schema, f), &mut input)
            {
                input.insert("picker".into(), Value::from(target.plural.as_str()));
                input.insert("create".into(), pick::create_field(web, target).into());
            }
            input
        })
        .collect();
    let general: Vec<String> = errors
        .iter()
        .filter(|e| fields.iter().all(|f| f.name != e.field))
        .map(|e| e.message.render(web.lang))
        .collect();
    Ok((inputs, general))
}

async fn render_form(
    web: &Web,
    ty: &EntityType,
    editing: Option<Editing<'_>>,
    values: &Map<String, Value>,
    errors: &[FieldError],
    status: StatusCode,
) -> ApiResult<Response> {
    render_form_warning(web, ty, editing, values, errors, status, &[]).await
}

/// [`render_form`], with the records a new one would duplicate (a create form asks before
/// adding a second contact with the same email).
async fn render_form_warning(
    web: &Web,
    ty: &EntityType,
    editing: Option<Editing<'_>>,
    values: &Map<String, Value>,
    errors: &[FieldError],
    status: StatusCode,
    duplicates: &[Value],
) -> ApiResult<Response> {
    let fields = form_fields(ty);
    let (inputs, general) = form_inputs(web, &ty.fields, &fields, values, errors).await?;
    let (mode, action, record_json) = match editing {
        Some(Editing {
            record: r,
            version,
            base,
        }) => (
            "edit",
            format!("{}/edit", record_url(ty, r.id)),
            json!({
                "id": r.id,
                "version": version,
                "base": form_values_json(&fields, base),
                "title": title_of(ty, r),
                "url": record_url(ty, r.id),
            }),
        ),
        None => ("create", format!("/records/{}/new", ty.plural), Value::Null),
    };
    Ok(web
        .render_status(
            status,
            "form.html",
            json!({
                "entity": entity_json(ty),
                "mode": mode,
                "action": action,
                "record": record_json,
                "inputs": inputs,
                "errors": general,
                "duplicates": duplicates,
                "duplicate_key": ty.duplicate_key.as_deref().and_then(|k| ty.field(k)).map(label),
            }),
        )
        .await)
}

pub async fn new_form(web: Web, Path(plural): Path<String>, RawQuery(raw): RawQuery) -> Response {
    page(&web, async {
        let ty = entity(&web, &plural).await?;
        // `?company=<id>` and the like prefill fields (links from related lists).
        let form = Form::parse(raw.as_deref().unwrap_or("").as_bytes());
        let fields: Vec<&FieldSpec> = form_fields(&ty)
            .into_iter()
            .filter(|f| form.get(&f.name).is_some())
            .collect();
        let values = read_form(&fields, &form, web.zone).unwrap_or_default();
        render_form(&web, &ty, None, &values, &[], StatusCode::OK).await
    })
    .await
}

/// Posted values when the form itself could not be read: shown back as typed.
fn as_typed(fields: &[&FieldSpec], form: &Form) -> Map<String, Value> {
    fields
        .iter()
        .filter_map(|f| {
            form.get(&f.name)
                .map(|v| (f.name.clone(), Value::String(v.to_owned())))
        })
        .collect()
}

pub async fn create(web: Web, Path(plural): Path<String>, body: Bytes) -> Response {
    page(&web, async {
        let form = web.form(&body)?;
        let ty = entity(&web, &plural).await?;
        let fields = form_fields(&ty);
        let values = match read_form(&fields, &form, web.zone) {
            Ok(values) => values,
            Err(errors) => {
                return render_form(
                    &web,
                    &ty,
                    None,
                    &as_typed(&fields, &form),
                    &errors,
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
        };
        let mut input = values.clone();
        input.retain(|_, v| !v.is_null());
        // A second contact with the same email (company with the same domain) is asked about
        // first, with links to the ones that exist; "create anyway" goes on.
        if ty.duplicate_key.is_some() && form.get("_duplicate_ok").is_none() {
            let existing = web
                .state
                .store
                .duplicates(&web.actor(), &ty, &input, None)
                .await
                .unwrap_or_default();
            if !existing.is_empty() {
                let found: Vec<Value> = existing
                    .iter()
                    .take(5)
                    .map(|r| json!({ "title": title_of(&ty, r), "url": record_url(&ty, r.id) }))
                    .collect();
                return render_form_warning(
                    &web,
                    &ty,
                    None,
                    &values,
                    &[],
                    StatusCode::CONFLICT,
                    &found,
                )
                .await;
            }
        }
        match web.state.store.create(&web.actor(), &ty, input).await {
            Ok(record) => Ok(redirect_with(
                &record_url(&ty, record.id),
                "success",
                &web.lang
                    .t_with("flash-created", &[("label", ty.label.as_str().into())]),
            )),
            Err(error) => form_failure(&web, &ty, None, &values, error.into()).await,
        }
    })
    .await
}

/// A refused write shows the form again with the server's messages by field.
async fn form_failure(
    web: &Web,
    ty: &EntityType,
    editing: Option<Editing<'_>>,
    values: &Map<String, Value>,
    error: ApiError,
) -> ApiResult<Response> {
    if error.code.status().is_server_error() || error.code == ErrorCode::NotFound {
        return Err(error);
    }
    let errors = if error.details.is_empty() {
        vec![FieldError::with_code(
            "",
            error.code.as_str().to_owned(),
            error.message,
        )]
    } else {
        error.details
    };
    render_form(web, ty, editing, values, &errors, error.code.status()).await
}

pub async fn edit_form(web: Web, Path((plural, id)): Path<(String, String)>) -> Response {
    page(&web, async {
        let ty = entity(&web, &plural).await?;
        let record = web
            .state
            .store
            .get(&web.actor(), &ty, parse_id(&id)?)
            .await?;
        if !web
            .actor()
            .allows(Operation::Edit, &ty.name, record.owner.map(|o| o.0))
        {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                text!("error-may-not-edit", label = ty.label.to_lowercase()),
            ));
        }
        render_form(
            &web,
            &ty,
            Some(Editing::fresh(&record)),
            &record.data,
            &[],
            StatusCode::OK,
        )
        .await
    })
    .await
}

pub async fn update(web: Web, Path((plural, id)): Path<(String, String)>, body: Bytes) -> Response {
    page(&web, async {
        let form = web.form(&body)?;
        let ty = entity(&web, &plural).await?;
        let id = parse_id(&id)?;
        let record = web.state.store.get(&web.actor(), &ty, id).await?;
        let fields = form_fields(&ty);
        let version = form.get("version").and_then(|v| v.parse::<i64>().ok());
        let base = posted_values(&form, "_base")?;
        let (values, base) = match posted_values(&form, "_mine")? {
            // The answer of the conflict page: what was stored when it was shown, with the
            // person's choices.
            Some(mine) => {
                let theirs = posted_values(&form, "_theirs")?.unwrap_or_default();
                let choice = |field: &str| form.get(&format!("_keep.{field}")).map(str::to_owned);
                match conflict::resolve(
                    &fields,
                    base.as_ref(),
                    &theirs,
                    &mine,
                    form.get("_all"),
                    choice,
                ) {
                    conflict::Resolution::Values(values) => (values, Some(theirs)),
                    conflict::Resolution::Unchosen(unchosen) => {
                        let labels: Vec<String> = unchosen
                            .iter()
                            .filter_map(|name| ty.field(name))
                            .map(label)
                            .collect();
                        let shown = Shown {
                            version: version.unwrap_or(record.version),
                            base: base.as_ref(),
                            theirs: &theirs,
                            mine: &mine,
                        };
                        let error = web.lang.t_with(
                            "conflict-choose-for",
                            &[("fields", labels.join(", ").into())],
                        );
                        return render_conflict(&web, &ty, &record, shown, Some(&error)).await;
                    }
                }
            }
            None => match read_form(&fields, &form, web.zone) {
                Ok(values) => (values, base),
                Err(errors) => {
                    let editing = Editing {
                        record: &record,
                        version: version.unwrap_or(record.version),
                        base: base.as_ref().unwrap_or(&record.data),
                    };
                    return render_form(
                        &web,
                        &ty,
                        Some(editing),
                        &as_typed(&fields, &form),
                        &errors,
                        StatusCode::UNPROCESSABLE_ENTITY,
                    )
                    .await;
                }
            },
        };
        save_edit(&web, &ty, record, version, base.as_ref(), values).await
    })
    .await
}

/// The values of a form's fields as JSON, for a hidden input.
fn form_values_json(fields: &[&FieldSpec], data: &Map<String, Value>) -> String {
    let kept: Map<String, Value> = fields
        .iter()
        .filter_map(|f| data.get(&f.name).map(|v| (f.name.clone(), v.clone())))
        .collect();
    Value::Object(kept).to_string()
}

/// JSON values a form carries in a hidden input (the conflict page's copies of the fields).
fn posted_values(form: &Form, name: &str) -> ApiResult<Option<Map<String, Value>>> {
    form.get(name)
        .map(|raw| {
            serde_json::from_str(raw).map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidBody,
                    text!("api-web-form-not-object", name = name),
                )
            })
        })
        .transpose()
}

/// Saves what changed between `values` and the stored record. A form `loaded` at an older
/// version saves only when the other saves touched no field this person sees differently —
/// they changed nothing the form shows, or changed it to the same value; otherwise the person
/// decides on the conflict page. Nothing is overwritten unseen, also when someone saves
/// between this read and this write.
async fn save_edit(
    web: &Web,
    ty: &EntityType,
    mut record: Record,
    loaded: Option<i64>,
    base: Option<&Map<String, Value>>,
    values: Map<String, Value>,
) -> ApiResult<Response> {
    let mut stale = loaded.is_some_and(|v| v != record.version);
    loop {
        if stale {
            let fields = form_fields(ty);
            let differences = conflict::differences(&fields, base, &record.data, &values);
            if differences
                .iter()
                .any(|d| d.changed_by != conflict::ChangedBy::Me)
            {
                let shown = Shown {
                    version: record.version,
                    base,
                    theirs: &record.data,
                    mine: &values,
                };
                return render_conflict(web, ty, &record, shown, None).await;
            }
        }
        let patch: Map<String, Value> = values
            .iter()
            .filter(|(k, v)| record.data.get(*k).unwrap_or(&Value::Null) != *v)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let url = record_url(ty, record.id);
        if patch.is_empty() {
            return Ok(redirect_with(
                &url,
                "success",
                &web.lang.t("flash-nothing-changed"),
            ));
        }
        let item = UpdateItem {
            id: record.id,
            patch,
            if_match: Some(record.version),
        };
        match web.state.store.update(&web.actor(), ty, item).await {
            Ok(_) => return Ok(redirect_with(&url, "success", &web.lang.t("flash-saved"))),
            Err(crate::records::RecordError::VersionConflict { .. }) => {
                record = web.state.store.get(&web.actor(), ty, record.id).await?;
                stale = true;
            }
            Err(error) => {
                let editing = Some(Editing::fresh(&record));
                return form_failure(web, ty, editing, &values, error.into()).await;
            }
        }
    }
}

/// The three copies of the fields a conflict page compares, and the version it answers.
struct Shown<'a> {
    version: i64,
    base: Option<&'a Map<String, Value>>,
    theirs: &'a Map<String, Value>,
    mine: &'a Map<String, Value>,
}

/// The conflict page: each field the two sides disagree on, theirs beside mine, who changed
/// it, and a choice; it posts back to the edit route with the three copies.
async fn render_conflict(
    web: &Web,
    ty: &EntityType,
    record: &Record,
    shown: Shown<'_>,
    error: Option<&str>,
) -> ApiResult<Response> {
    let fields = form_fields(ty);
    let differences = conflict::differences(&fields, shown.base, shown.theirs, shown.mine);
    let names = names(web, &fields, &[shown.theirs, shown.mine]).await?;
    let text = |field: &FieldSpec, value: &Value| {
        let cell = cell(field, Some(value), &names);
        cell["text"].as_str().unwrap_or_default().to_owned()
    };
    let rows: Vec<Value> = differences
        .iter()
        .filter_map(|d| {
            let field = ty.field(&d.field)?;
            Some(json!({
                "name": d.field,
                "label": label(field),
                "theirs": text(field, &d.theirs),
                "mine": text(field, &d.mine),
                "changed_by": d.changed_by.as_str(),
                "keep": d.changed_by.default_keep().map(conflict::Keep::as_str),
            }))
        })
        .collect();
    let last = web
        .state
        .store
        .audit(
            web.identity.workspace,
            &AuditQuery {
                record: Some(record.id),
                limit: 1,
                newest_first: true,
                ..AuditQuery::default()
            },
        )
        .await?;
    let by = match last.first().and_then(|e| e.actor) {
        Some(actor) if actor == web.identity.user => Some(web.lang.t("conflict-you-elsewhere")),
        Some(actor) => users(web).await?.remove(&actor.0),
        None => None,
    };
    let only = |data: &Map<String, Value>| form_values_json(&fields, data);
    let url = record_url(ty, record.id);
    Ok(web
        .render_status(
            StatusCode::CONFLICT,
            "conflict.html",
            json!({
                "entity": entity_json(ty),
                "record": { "id": record.id, "title": title_of(ty, record), "url": url },
                "action": format!("{url}/edit"),
                "version": shown.version,
                "base": shown.base.map(only),
                "theirs": only(shown.theirs),
                "mine": only(shown.mine),
                "by": by,
                "at": format!("{} {}", display::local_stamp(record.updated_at, web.zone, web.lang), web.zone.name()),
                "rows": rows,
                "error": error,
            }),
        )
        .await)
}

pub async fn delete(web: Web, Path((plural, id)): Path<(String, String)>, body: Bytes) -> Response {
    page(&web, async {
        let form = web.form(&body)?;
        let ty = entity(&web, &plural).await?;
        let version = form.get("version").and_then(|v| v.parse::<i64>().ok());
        let record = web
            .state
            .store
            .delete(&web.actor(), &ty, parse_id(&id)?, version)
            .await?;
        Ok(redirect_with(
            &format!("/records/{}", ty.plural),
            "success",
            &format!(
                "“{}” moved to the trash (restore it within 30 days through the API).",
                title_of(&ty, &record)
            ),
        ))
    })
    .await
}

// -- search -------------------------------------------------------------------------------------

pub async fn search(web: Web, RawQuery(raw): RawQuery) -> Response {
    page(&web, async {
        let form = Form::parse(raw.as_deref().unwrap_or("").as_bytes());
        let q = form.get("q").unwrap_or("").trim().to_owned();
        let schema = web.state.store.schema(web.identity.workspace).await?;
        let (results, error) = if q.is_empty() {
            (Vec::new(), None)
        } else {
            match crate::search::api::find(&web.state, &web.identity, &q, None, 50).await {
                Ok(hits) => (hits, None),
                Err(error) => (Vec::new(), Some(shown(error, web.lang)?)),
            }
        };
        // Grouped by type, the groups in the order of their best hit, ranks kept inside.
        let mut groups: Vec<(String, Vec<Value>)> = Vec::new();
        for hit in &results {
            let plural = hit["type"].as_str().unwrap_or("");
            let label = schema
                .by_plural(plural)
                .map(|t| display::type_label_plural(web.lang, t))
                .unwrap_or_default();
            let row = json!({
                "title": hit["title"],
                "snippet": display::highlights(hit["snippet"].as_str().unwrap_or("")),
                "url": format!("/records/{plural}/{}", hit["id"].as_str().unwrap_or("")),
            });
            match groups.iter_mut().find(|(l, _)| *l == label) {
                Some((_, rows)) => rows.push(row),
                None => groups.push((label, vec![row])),
            }
        }
        let groups: Vec<Value> = groups
            .into_iter()
            .map(|(label, rows)| json!({ "label": label, "results": rows }))
            .collect();
        Ok(web
            .render(
                "search.html",
                json!({ "q": q, "groups": groups, "error": error }),
            )
            .await)
    })
    .await
}
