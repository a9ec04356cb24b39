//! `good`: a well-behaved plugin that uses every export and every import. The host's
//! end-to-end tests assert the behaviours listed here; keep them deterministic and keep this
//! list true.
//!
//! before-save (hooks: `contact` and `widget`, on create and update), one verdict per change:
//! - contact whose `email` ends with `@blocked.test` (ASCII case ignored) → Reject
//!   `[{field: "email", code: "blocked_domain"}]`;
//! - otherwise a contact create, or an update that sets `last_name` → Patch `score` = the
//!   number of characters (not bytes) of `last_name` (0 when absent or empty);
//! - and a contact write that sets `company`, when the host passed the company along
//!   (`references = ["company"]`) → Patch `employer` = the company's `name` (null without one);
//! - otherwise → Proceed;
//! - widget whose `price` amount is negative → Reject `[{field: "price", code:
//!   "negative_price"}]`;
//! - widget create without `status` (absent, null or empty text) → Patch `status` = `"draft"`;
//! - otherwise, and for any other type or a delete → Proceed.
//!
//! after-save: for each event, when kv key `event/{id}` is absent: set it (to the event's
//! action), then add 1 to the decimal counter in kv key `after_save_count` (absent = 0).
//! Redelivered events are not counted twice. Logs one debug line per call.
//!
//! handle-http (every request logs one info line `"{METHOD} {path}"`):
//! - `GET /hello` → 200 `{"plugin", "workspace", "user", "greeting", "language", "calls"}`
//!   (ctx, `config::get("greeting")`, null when unset: the manifest's default is `"hello"`, the
//!   reader's language the host sent, and the calls this instance has served, counted in a
//!   static: 1 when each call has its own);
//! - `POST /echo` → 200 with the request's body and its `content-type` (when it had one);
//! - `GET /contacts` → 200 `{"count": n, "names": [last_name or null, …]}` of the first page of
//!   `records::find("contact")` with limit 100, in the host's default order;
//! - `GET /companies` → 200 `{"count": n}` of the first page of `records::find("company")`
//!   with limit 100;
//! - `GET /search?q=…` → 200 `[{"entity_type", "id", "title", "score"}, …]`: `search::search(q,
//!   all types, limit 20)`;
//! - `GET /kv/{key}` → 200 text/plain with the stored value, or 404 when absent; `PUT /kv/{key}`
//!   stores the body → 204; `DELETE /kv/{key}` → 204 (the key is percent-decoded);
//! - `GET /keys?prefix=…` → 200 `["key", …]` (`kv::keys`);
//! - `GET /time` → 200 `{"now": clock::now_micros()}`;
//! - `GET /totals?type=…&group_by=a,b&sum=c,d&filter=…` → 200 `[{"keys": [..], "count": n,
//!   "sums": [..]}, …]`: `records::aggregate` with those lists (comma-separated, empty when
//!   absent), values as JSON (`Value::to_json`);
//! - `GET /fetch?url=…` → http-out `GET url` → 200 `{"status": s, "body": text}`; without `url`
//!   → 400;
//! - a host error in any route → 502 `{"code": e.code, "message": e.message}`;
//! - any other path → 404 (the host itself answers 404 for paths and methods the manifest
//!   does not declare, without calling the plugin).
//!
//! run-job `recount`: each step reads one page of 10 contacts (`records::find` with limit 10
//! and the step's cursor, which is the previous page's `next_cursor`) and keeps the running
//! count in kv `recount/partial` (a first step, without cursor, starts from 0). When a page has
//! no `next_cursor`: kv `recount/total` = the count, and the step answers done. Any other job
//! → Err.
//!
//! render-panel:
//! - `summary` (location `record:contact`, template `summary.html`) → context `{"name":
//!   first_name + " " + last_name (missing parts as "", then trimmed), "score": score or null,
//!   "email": email or null}`; without a record → Err;
//! - `overview` (dashboard, template `overview.html`) → context `{"contacts": n}`, n = the number
//!   of records in the first page of `records::find("contact")` with limit 1000.
//!
//! run-action (a host error is passed on as the action's refusal; bad input is a failure):
//! - `tag`, input `{"id": contact id, "tag": "x"}` → appends `tag` to the contact's `tags`
//!   (unless already there) with `records::update(…, expected_version = the version read)` and
//!   answers `{"id", "version", "tags"}` of the updated record; a missing contact →
//!   `Err("record_not_found: …")`; bad input → `Err("invalid_input: …")`;
//! - `note`, input `{"subject": "…"}` → creates an `activity` (kind `note`, that subject) and
//!   answers `{"id"}`;
//! - `unnote`, input `{"id": activity id}` → deletes it and answers `{"deleted": id}`;
//! - `mail`, input `{"to", "subject", "body", "reply_to"?}` → `mail::send` and answers
//!   `{"id", "message_id", "thread_id", "activity_id"}` (the manifest asks for 3 an hour).
//!
//! Settings: `greeting`, default `"hello"`.

use std::sync::atomic::{AtomicU32, Ordering};

use plugin_sdk::mail;
use plugin_sdk::prelude::*;
use plugin_sdk::records::{AggregateQuery, Query};
use serde_json::{Value as Json, json};

struct Good;

impl Plugin for Good {
    fn before_save(_ctx: Context, changes: Vec<Change>) -> Result<Vec<Verdict>, String> {
        Ok(changes.iter().map(verdict).collect())
    }

    fn after_save(_ctx: Context, events: Vec<Event>) -> Result<(), String> {
        log::debug(&format!("after-save got {} events", events.len()));
        for event in &events {
            let key = format!("event/{}", event.id);
            if kv::get(&key)?.is_some() {
                continue;
            }
            kv::set_text(&key, &event.action)?;
            let count = kv::get_text("after_save_count")?
                .and_then(|text| text.parse::<u64>().ok())
                .unwrap_or(0);
            kv::set_text("after_save_count", &(count + 1).to_string())?;
        }
        Ok(())
    }

    fn handle_http(ctx: Context, request: HttpRequest) -> Result<HttpResponse, String> {
        log::info(&format!("{} {}", request.method, request.path));
        Ok(route(&ctx, &request).unwrap_or_else(|error| {
            log::error(&format!("host error: {}", error.summary()));
            HttpResponse::json(
                502,
                &json!({ "code": error.code, "message": error.message }),
            )
        }))
    }

    fn run_job(_ctx: Context, job: String, cursor: Option<String>) -> Result<JobStep, String> {
        if job != "recount" {
            return Err(format!("job `{job}` is not implemented by this plugin"));
        }
        let partial = match cursor {
            None => 0,
            Some(_) => kv::get_text("recount/partial")?
                .and_then(|text| text.parse::<u64>().ok())
                .unwrap_or(0),
        };
        let page = records::find("contact", &Query::new().limit(10).cursor(cursor))?;
        let count = partial + page.records.len() as u64;
        kv::set_text("recount/partial", &count.to_string())?;
        match page.next_cursor {
            Some(next) => Ok(JobStep::next(next)),
            None => {
                kv::set_text("recount/total", &count.to_string())?;
                Ok(JobStep::done())
            }
        }
    }

    fn render_panel(_ctx: Context, panel: String, record: Option<Record>) -> Result<Panel, String> {
        match panel.as_str() {
            "summary" => {
                let record = record.ok_or("the summary panel needs a record")?;
                let name = format!(
                    "{} {}",
                    record.text("first_name").unwrap_or(""),
                    record.text("last_name").unwrap_or("")
                );
                Panel::new(
                    "summary.html",
                    &json!({
                        "name": name.trim(),
                        "score": record.integer("score"),
                        "email": record.text("email"),
                    }),
                )
            }
            "overview" => {
                let page = records::find("contact", &Query::new().limit(1000))?;
                Panel::new("overview.html", &json!({ "contacts": page.records.len() }))
            }
            other => Err(format!("panel `{other}` is not implemented by this plugin")),
        }
    }

    fn run_action(_ctx: Context, action: String, input: String) -> Result<String, ActionError> {
        let input: Json = serde_json::from_str(&input)
            .map_err(|error| format!("invalid_input: the input is not JSON: {error}"))?;
        let answer = match action.as_str() {
            "tag" => tag(&input)?,
            "note" => {
                let subject = input_text(&input, "subject")?;
                let note = records::create(
                    "activity",
                    &fields([("kind", "note"), ("subject", subject)]),
                )?;
                json!({ "id": note.id })
            }
            "unnote" => {
                let id = input_text(&input, "id")?;
                records::delete("activity", id)?;
                json!({ "deleted": id })
            }
            "mail" => {
                let to = input_text(&input, "to")?;
                let mut message = mail::Outgoing::new(
                    [to],
                    input_text(&input, "subject")?,
                    input_text(&input, "body")?,
                );
                if let Some(parent) = input["reply_to"].as_str() {
                    message = message.reply_to(parent);
                }
                let queued = mail::send(&message)?;
                json!({ "id": queued.id, "message_id": queued.message_id, "thread_id": queued.thread_id, "activity_id": queued.activity_id })
            }
            other => {
                return Err(ActionError::Failed(format!(
                    "action `{other}` is not implemented by this plugin"
                )));
            }
        };
        Ok(answer.to_string())
    }
}

plugin_sdk::register_plugin!(Good);

/// The before-save verdict for one change (see the list at the top).
fn verdict(change: &Change) -> Verdict {
    if change.is_delete() {
        return Verdict::Proceed;
    }
    match change.entity_type.as_str() {
        "contact" => {
            let email = change.text("email").unwrap_or("").to_ascii_lowercase();
            if email.ends_with("@blocked.test") {
                return Verdict::reject_field(
                    "email",
                    "blocked_domain",
                    "addresses at blocked.test are not accepted",
                );
            }
            let mut patch = Vec::new();
            if change.is_create() || change.sets("last_name") {
                let length = change
                    .text("last_name")
                    .map_or(0, |name| name.chars().count());
                patch.push(("score", Value::from(length as i64)));
            }
            if let Some(company) = change.referenced("company") {
                let name = company.text("name").map_or(Value::Null, Value::from);
                patch.push(("employer", name));
            }
            if patch.is_empty() {
                Verdict::Proceed
            } else {
                Verdict::patch(patch)
            }
        }
        "widget" => {
            if change.money("price").is_some_and(Money::is_negative) {
                return Verdict::reject_field(
                    "price",
                    "negative_price",
                    "a widget's price cannot be negative",
                );
            }
            let has_status = change
                .text("status")
                .is_some_and(|status| !status.is_empty());
            if change.is_create() && !has_status {
                return Verdict::patch([("status", "draft")]);
            }
            Verdict::Proceed
        }
        _ => Verdict::Proceed,
    }
}

/// The routes; a host error becomes a 502 in `handle_http`.
/// Calls served by this instance (see `/hello`).
static CALLS: AtomicU32 = AtomicU32::new(0);

fn route(ctx: &Context, request: &HttpRequest) -> Result<HttpResponse, HostError> {
    let method = request.method.as_str();
    let path = request.path.as_str();
    if let Some(key) = request.path_rest("/kv/") {
        return kv_route(method, &key, request);
    }
    let allowed = match path {
        "/hello" | "/contacts" | "/companies" | "/search" | "/keys" | "/time" | "/fetch"
        | "/totals" => "GET",
        "/echo" => "POST",
        _ => return Ok(HttpResponse::not_found()),
    };
    if method != allowed {
        return Ok(HttpResponse::error(
            405,
            "method_not_allowed",
            "this route does not take that method",
        ));
    }
    let response = match path {
        "/hello" => HttpResponse::json(
            200,
            &json!({
                "plugin": ctx.plugin,
                "workspace": ctx.workspace,
                "user": ctx.user,
                "greeting": config::get("greeting"),
                "language": request.language(),
                // Counts the calls this instance has served: always 1, since every call gets
                // an instance of its own.
                "calls": CALLS.fetch_add(1, Ordering::Relaxed) + 1,
            }),
        ),
        "/echo" => {
            let mut response = HttpResponse::new(200);
            if let Some(content_type) = request.header("content-type") {
                response = response.with_header("content-type", content_type);
            }
            response.body = request.body.clone();
            response
        }
        "/contacts" => {
            let page = records::find("contact", &Query::new().limit(100))?;
            let names: Vec<Option<&str>> = page
                .records
                .iter()
                .map(|record| record.text("last_name"))
                .collect();
            HttpResponse::json(200, &json!({ "count": page.records.len(), "names": names }))
        }
        "/companies" => {
            let page = records::find("company", &Query::new().limit(100))?;
            HttpResponse::json(200, &json!({ "count": page.records.len() }))
        }
        "/search" => {
            let query = request.query_param("q").unwrap_or_default();
            let hits: Vec<Json> = search::search(&query, &[], 20)?
                .into_iter()
                .map(|hit| {
                    json!({
                        "entity_type": hit.entity_type,
                        "id": hit.id,
                        "title": hit.title,
                        "score": hit.score,
                    })
                })
                .collect();
            HttpResponse::json(200, &hits)
        }
        "/keys" => {
            let prefix = request.query_param("prefix").unwrap_or_default();
            HttpResponse::json(200, &kv::keys(&prefix)?)
        }
        "/time" => HttpResponse::json(200, &json!({ "now": clock::now_micros() })),
        "/totals" => {
            let list = |name: &str| -> Vec<String> {
                request
                    .query_param(name)
                    .map(|v| {
                        v.split(',')
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let mut query = AggregateQuery::new()
                .group_by(list("group_by"))
                .sum(list("sum"));
            if let Some(filter) = request.query_param("filter") {
                query = query.filter(filter);
            }
            let entity = request.query_param("type").unwrap_or_default();
            let groups: Vec<Json> = records::aggregate(&entity, &query)?
                .iter()
                .map(|group| {
                    json!({
                        "keys": group.keys.iter().map(Value::to_json).collect::<Vec<_>>(),
                        "count": group.count,
                        "sums": group.sums.iter().map(Value::to_json).collect::<Vec<_>>(),
                    })
                })
                .collect();
            HttpResponse::json(200, &groups)
        }
        _ => match request.query_param("url") {
            None => HttpResponse::error(400, "invalid_input", "give the url to fetch as ?url="),
            Some(url) => {
                let response = http::get(&url)?;
                HttpResponse::json(
                    200,
                    &json!({ "status": response.status, "body": response.text() }),
                )
            }
        },
    };
    Ok(response)
}

/// `/kv/{key}`: GET, PUT and DELETE of one key of the plugin's store.
fn kv_route(method: &str, key: &str, request: &HttpRequest) -> Result<HttpResponse, HostError> {
    Ok(match method {
        "GET" => match kv::get_text(key)? {
            Some(value) => HttpResponse::text(200, value),
            None => HttpResponse::error(404, "not_found", "no such key"),
        },
        "PUT" => {
            kv::set(key, &request.body)?;
            HttpResponse::new(204)
        }
        "DELETE" => {
            kv::delete(key)?;
            HttpResponse::new(204)
        }
        _ => HttpResponse::error(405, "method_not_allowed", "use GET, PUT or DELETE"),
    })
}

/// The `tag` action: appends a tag to a contact (see the list at the top).
fn tag(input: &Json) -> Result<Json, String> {
    let id = input_text(input, "id")?;
    let tag = input_text(input, "tag")?;
    let contact = records::get("contact", id)?
        .ok_or_else(|| format!("record_not_found: there is no contact {id}"))?;
    let mut tags = contact.texts("tags").unwrap_or_default().to_vec();
    if !tags.iter().any(|existing| existing == tag) {
        tags.push(tag.to_owned());
    }
    let updated = records::update(
        "contact",
        id,
        &fields([("tags", tags)]),
        Some(contact.version),
    )?;
    Ok(json!({
        "id": updated.id,
        "version": updated.version,
        "tags": updated.texts("tags").unwrap_or_default(),
    }))
}

/// The text member `name` of an action's input.
fn input_text<'a>(input: &'a Json, name: &str) -> Result<&'a str, String> {
    input
        .get(name)
        .and_then(Json::as_str)
        .ok_or_else(|| format!("invalid_input: `{name}` must be a string"))
}
