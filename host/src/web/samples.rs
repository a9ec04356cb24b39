//! A sample context for every page template, shaped exactly like the handlers' contexts: a
//! template override must render all of them before it is saved, and the render tests
//! snapshot the bundled themes with them.

use serde_json::{Value, json};

fn globals(mut page: Value) -> Value {
    let globals = json!({
        "user": { "id": "0190a5c4-0000-7000-8000-000000000001", "email": "sam@example.com", "name": "Sam Reed", "time_zone": "Europe/Berlin", "role": "admin", "is_admin": true },
        "workspace": { "slug": "acme", "name": "Acme" },
        "csrf": "sample-csrf-token",
        "csp_nonce": "sample-nonce",
        "nav": [
            { "label": "Home", "url": "/", "active": false },
            { "label": "Contacts", "url": "/records/contacts", "active": true },
            { "label": "Companies", "url": "/records/companies", "active": false },
            { "label": "Settings", "url": "/settings", "active": false },
        ],
        "theme": { "name": "default", "logo_url": "/static/default/logo.svg?v=1", "version": "1", "css_version": "1" },
        "static": "/static/default/",
        "flash": { "kind": "success", "text": "Saved." },
        "sections": [
            { "label": "Users", "url": "/settings/users", "active": true },
            { "label": "Theme", "url": "/settings/theme", "active": false },
        ],
    });
    if let (Value::Object(page), Value::Object(globals)) = (&mut page, globals) {
        for (key, value) in globals {
            page.entry(key).or_insert(value);
        }
    }
    page
}

const ID: &str = "0190a5c4-0000-7000-8000-0000000000aa";

fn entity() -> Value {
    json!({ "name": "contact", "plural": "contacts", "label": "Contact", "label_plural": "Contacts", "url": "/records/contacts", "source": "builtin" })
}

/// A moment as the integrations' pages show it.
fn at() -> Value {
    json!({ "text": "2026-11-27 11:00", "iso": "2026-11-27T10:00:00Z" })
}

/// A webhook subscription as its pages show it.
fn hook() -> Value {
    json!({ "id": ID, "url": "https://hooks.example.com/kith", "events": ["contact.*", "deal.updated"], "events_text": "contact.*, deal.updated", "description": "Sync to the warehouse", "enabled": true, "created": at(), "created_by": "Sam Reed", "pending": 3, "failed": 1, "api_url": format!("/api/v1/webhooks/{ID}"), "secret_url": format!("/api/v1/webhooks/{ID}/secret"), "log_url": format!("/settings/webhooks/{ID}") })
}

fn panel() -> Value {
    json!({ "plugin": "sales", "name": "summary", "title": "Deals", "html": "<p>3 open deals</p>", "error": null })
}

/// Every page template with its sample context.
pub fn pages() -> Vec<(&'static str, minijinja::Value)> {
    let text = |t: &str| json!({ "text": t });
    let pages = vec![
        (
            "login.html",
            json!({ "email": "sam@example.com", "workspace_slug": "acme", "next": "/", "error": "Wrong email, password or workspace.", "theme": { "name": "default", "logo_url": "", "version": "1", "css_version": "1" }, "static": "/static/default/", "nav": [], "csp_nonce": "sample-nonce" }),
        ),
        (
            "password.html",
            globals(
                json!({ "errors": { "current_password": "the current password is wrong" }, "done": false }),
            ),
        ),
        (
            "error.html",
            globals(json!({ "status": 404, "message": "no record has this id" })),
        ),
        (
            "invite.html",
            json!({ "action": "/invite/sample-token", "email": "kim@example.com", "name": "Kim Lee", "errors": { "new_password": "the password must be at least 8 characters" }, "theme": { "name": "default", "logo_url": "", "version": "1", "css_version": "1" }, "static": "/static/default/", "nav": [], "csp_nonce": "sample-nonce" }),
        ),
        (
            "home.html",
            globals(json!({
                "here": "/",
                "task_groups": [
                    { "key": "overdue", "label": "Overdue", "tasks": [{ "id": ID, "version": 2, "kind": "task", "kind_label": "Task", "is_task": true, "subject": "Call Ada", "body": "", "due": "2026-12-01 09:30", "overdue": true, "done": false, "snooze_to": "2026-12-07T10:00", "set_url": format!("/records/activities/{ID}/set"), "created": "2026-11-27 10:00", "author": null, "url": format!("/records/activities/{ID}") }] },
                    { "key": "undated", "label": "No due date", "tasks": [{ "id": ID, "version": 1, "kind": "task", "kind_label": "Task", "is_task": true, "subject": "Send the deck", "body": "", "due": null, "overdue": false, "done": false, "snooze_to": null, "set_url": format!("/records/activities/{ID}/set"), "created": "2026-11-27 10:00", "author": null, "url": format!("/records/activities/{ID}") }] },
                ],
                "recent": [{ "title": "Ada Lovelace", "type_label": "Contact", "url": format!("/records/contacts/{ID}"), "at": "2026-11-27 10:00" }],
                "panels": [panel(), { "plugin": "broken", "name": "x", "title": "Broken", "html": null, "error": "plugin `broken` panel `x`: out of fuel" }],
            })),
        ),
        (
            "list.html",
            globals(json!({
                "entity": entity(),
                "columns": [
                    { "name": "first_name", "label": "First name", "kind": "text", "numeric": false, "sorted": "asc", "sort_url": "/records/contacts?sort=-first_name" },
                    { "name": "email", "label": "Email", "kind": "email", "numeric": false, "sorted": "", "sort_url": "/records/contacts?sort=email" },
                    { "name": "tags", "label": "Tags", "kind": "tags", "numeric": false, "sorted": "", "sort_url": "/records/contacts?sort=tags" },
                ],
                "fields": [
                    { "name": "first_name", "label": "First name", "kind": "text", "checked": true, "ops": r#"["eq","neq","contains","starts_with","is_empty","not_empty"]"#, "target": null },
                    { "name": "company", "label": "Company", "kind": "reference", "checked": false, "ops": r#"["eq","neq","is_empty","not_empty"]"#, "target": "companies" },
                    { "name": "tags", "label": "Tags", "kind": "tags", "checked": true, "ops": r#"["has_any","has_all","has_none","is_empty","not_empty"]"#, "target": null, "values": "/records/contacts/values/tags" },
                ],
                "rows": [{ "id": ID, "url": format!("/records/contacts/{ID}"), "title": "Ada Lovelace", "cells": [text("Ada"), { "text": "ada@example.com", "url": "mailto:ada@example.com" }, { "text": "vip", "items": ["vip"] }] }],
                "filters": [
                    { "field": "email", "op": "contains", "value": "example", "picker": null, "titles": "{}" },
                    { "field": "company", "op": "eq", "value": ID, "picker": "companies", "titles": format!(r#"{{"{ID}":"Acme"}}"#) },
                    { "field": "tags", "op": "has_any", "value": "vip, partner", "picker": null, "titles": "{}", "values": "/records/contacts/values/tags" },
                    { "field": "", "op": "eq", "value": "" },
                ],
                "ops": [{ "value": "eq", "label": "is" }, { "value": "contains", "label": "contains" }],
                "views": [{ "id": ID, "name": "VIPs", "shared": true, "mine": true, "url": format!("/records/contacts?view={ID}"), "active": false, "delete_url": format!("/records/contacts/views/{ID}/delete") }],
                "board_url": "/records/contacts/board?field=stage",
                "sort": "first_name",
                "columns_param": "first_name,email,tags",
                "state": "f=email&op=contains&v=example",
                "next_url": "/records/contacts?cursor=abc",
                "first_url": "/records/contacts",
                "may_create": true,
                "import_url": "/records/contacts/import",
                "exports": [
                    { "format": "csv", "url": "/api/v1/contacts/export?format=csv&fields=first_name%2Cemail%2Ctags" },
                    { "format": "xlsx", "url": "/api/v1/contacts/export?format=xlsx&fields=first_name%2Cemail%2Ctags" },
                ],
                "total": "1,204",
                "bulk": {
                    "url": "/records/contacts/bulk",
                    "choices": [{ "label": "Kind", "choices": [{ "value": "kind:customer", "label": "Customer" }] }],
                    "users": [{ "id": ID, "email": "sam@example.com" }],
                },
                "total_one": false,
                "error": null,
            })),
        ),
        (
            "import.html",
            globals(json!({
                "step": "upload",
                "entity": entity(),
                "imports": [{ "url": format!("/imports/{ID}"), "file_name": "people.csv", "status": "done", "counts": { "created": 3, "updated": 1, "unchanged": 0, "skipped": 1, "failed": 2 }, "total": 7 }],
            })),
        ),
        (
            "import.html",
            globals(json!({
                "step": "map",
                "entity": entity(),
                "import": { "id": ID, "file_name": "people.csv", "status": "previewed", "total_rows": 7, "done_rows": 0, "counts": {} },
                "columns": [
                    { "index": 0, "header": "E-mail", "samples": ["ada@example.com", "<b>bold</b>"], "field": "email" },
                    { "index": 1, "header": "Remarks", "samples": [], "field": null },
                ],
                "fields": [{ "name": "email", "label": "Email" }, { "name": "first_name", "label": "First name" }],
                "plan": { "mapping": { "E-mail": "email" }, "mode": "upsert", "key": "email", "empty_cells": "ignore" },
                "preview": {
                    "counts": { "created": 3, "updated": 1, "unchanged": 0, "skipped": 1, "failed": 2 },
                    "problems": [{ "row": 5, "outcome": "failed", "problems": [{ "column": "E-mail", "field": "email", "code": "invalid_value", "message": "must be an email address" }] }],
                    "unlisted": 0,
                },
                "url": format!("/imports/{ID}"),
                "result_url": format!("/api/v1/imports/{ID}/result"),
            })),
        ),
        (
            "import.html",
            globals(json!({
                "step": "finished",
                "entity": entity(),
                "import": { "id": ID, "file_name": "people.csv", "status": "done", "total_rows": 7, "done_rows": 7, "counts": { "created": 3, "updated": 1, "unchanged": 0, "skipped": 1, "failed": 2 }, "error": null },
                "url": format!("/imports/{ID}"),
                "result_url": format!("/api/v1/imports/{ID}/result"),
            })),
        ),
        (
            "board.html",
            globals(json!({
                "entity": entity(),
                "field": { "name": "stage", "label": "Stage", "editable": true },
                "boards": [{ "name": "stage", "label": "Stage", "url": "/records/contacts/board?field=stage", "active": true }, { "name": "kind", "label": "Kind", "url": "/records/contacts/board?field=kind", "active": false }],
                "columns": [
                    { "value": "new", "label": "New", "count": "1", "totals": ["€12,000.00"], "more_url": null, "cards": [{ "id": ID, "version": 3, "title": "Big deal", "url": format!("/records/contacts/{ID}"), "fields": [{ "name": "amount", "label": "Amount", "text": "€12,000.00" }, { "name": "expected_close", "label": "Expected close", "text": "2027-03-31" }], "owner": "sam@example.com", "initials": "S", "days": 4, "task": { "subject": "Call back", "due": "2026-12-01 09:30", "overdue": true, "url": "u" } }] },
                    { "value": "won", "label": "Won", "count": "73", "totals": [], "more_url": "/records/contacts?f=stage&op=eq&v=won", "cards": [] },
                ],
                "scope": { "id": ID, "label": "Pipeline", "choices": [{ "id": ID, "title": "Sales", "url": format!("/records/contacts/board?field=stage&scope={ID}"), "active": true }] },
            })),
        ),
        (
            "record.html",
            globals(json!({
                "entity": entity(),
                "record": { "id": ID, "title": "Ada Lovelace", "version": 2, "url": format!("/records/contacts/{ID}"), "edit_url": "e", "delete_url": "d", "activity_url": "a", "owner": "sam@example.com", "created": "2026-11-27 10:00", "updated": "2026-11-27 11:00", "may_edit": true, "may_delete": true },
                "duplicates": [
                    { "title": "Ada L.", "url": format!("/records/contacts/{ID}"), "merge_url": format!("/records/contacts/{ID}/merge?with={ID}") },
                    { "title": "A. Lovelace", "url": format!("/records/contacts/{ID}"), "merge_url": null },
                ],
                "groups": [{ "label": "Details", "fields": [
                    { "name": "first_name", "label": "First name", "kind": "text", "cell": text("Ada"), "raw": "\"Ada\"", "options": "[]", "editable": true },
                    { "name": "company", "label": "Company", "kind": "reference", "cell": { "text": "Acme", "url": format!("/records/companies/{ID}") }, "raw": format!("\"{ID}\""), "options": "[]", "editable": true, "target": "companies", "multiple": false, "titles": format!(r#"{{"{ID}":"Acme"}}"#) },
                    { "name": "title", "label": "Title", "kind": "text", "cell": { "text": "", "empty": true }, "raw": "null", "options": "[]", "editable": true },
                ] }],
                "timeline": [
                    { "id": ID, "version": 1, "kind": "note", "kind_label": "Note", "is_task": false, "subject": "Met at the fair", "body": "Wants a demo", "due": null, "overdue": false, "done": false, "snooze_to": null, "set_url": "s", "created": "2026-11-27 10:00", "author": "sam@example.com", "url": "u" },
                    { "id": ID, "version": 3, "kind": "task", "kind_label": "Task", "is_task": true, "on": { "title": "Big deal", "url": "u" }, "subject": "Send the proposal", "body": "", "due": "2026-12-01 09:30", "overdue": true, "done": false, "snooze_to": "2026-12-07T10:00", "set_url": "s", "created": "2026-11-27 10:00", "author": "sam@example.com", "url": "u" },
                ],
                "may_log": true,
                "activity_kinds": [{ "value": "note", "label": "Note" }, { "value": "task", "label": "Task" }],
                "email": { "url": "/records/contacts/0192f5f0-0000-7000-8000-000000000001/email", "to": "ada@example.com" },
                "related": [
                    { "label": "Deals (company)", "rows": [{ "title": "Big deal", "url": "u" }], "more_url": "m", "new_url": format!("/records/deals/new?company={ID}"), "new_label": "New deal" },
                    { "label": "Contacts (company)", "rows": [], "more_url": null, "new_url": format!("/records/contacts/new?company={ID}"), "new_label": "New contact" },
                ],
                "timeline_kinds": [{ "label": "All", "url": "u#timeline", "active": true }, { "label": "Tasks", "url": "u?kind=task#timeline", "active": false }],
                "panels": [panel()],
                "actions": [
                    { "title": "Convert lead", "description": "Turns the lead into a contact", "url": format!("/records/contacts/{ID}/actions/sales/convert"), "dialog": true },
                    { "title": "Tag", "description": null, "url": format!("/records/contacts/{ID}/actions/tagger/tag"), "dialog": false },
                ],
            })),
        ),
        (
            "action.html",
            globals(json!({
                "entity": entity(),
                "record": { "title": "Ada Lovelace", "url": format!("/records/contacts/{ID}") },
                "action": { "title": "Convert lead", "description": "Turns the lead into a contact", "url": format!("/records/contacts/{ID}/actions/sales/convert") },
                "inputs": [
                    { "name": "company", "id": "f-company", "label": "Company", "kind": "reference", "control": "select", "input_type": "", "step": "1", "required": false, "value": ID, "checked": false, "amount": "", "currency": "", "options": [{ "value": ID, "label": "Acme", "selected": true }], "hint": "", "error": "there is no company", "picker": "companies", "create": "name" },
                    { "name": "create_deal", "id": "f-create_deal", "label": "Create a deal", "kind": "boolean", "control": "checkbox", "input_type": "checkbox", "step": "1", "required": false, "value": "", "checked": true, "amount": "", "currency": "", "options": [], "hint": "", "error": null },
                ],
                "errors": ["lead 1 was already converted"],
            })),
        ),
        (
            "form.html",
            globals(json!({
                "entity": entity(),
                "mode": "edit",
                "action": format!("/records/contacts/{ID}/edit"),
                "record": { "id": ID, "version": 2, "base": r#"{"first_name":"Ada"}"#, "title": "Ada Lovelace", "url": format!("/records/contacts/{ID}") },
                "inputs": [
                    { "name": "first_name", "id": "f-first_name", "label": "First name", "kind": "text", "control": "text", "input_type": "text", "step": "1", "required": false, "value": "Ada", "checked": false, "amount": "", "currency": "", "options": [], "hint": "", "error": null },
                    { "name": "email", "id": "f-email", "label": "Email", "kind": "email", "control": "text", "input_type": "email", "step": "1", "required": false, "value": "ada@", "checked": false, "amount": "", "currency": "", "options": [], "hint": "", "error": "is not a valid email address" },
                    { "name": "vip", "id": "f-vip", "label": "Vip", "kind": "boolean", "control": "checkbox", "input_type": "checkbox", "step": "1", "required": false, "value": "", "checked": true, "amount": "", "currency": "", "options": [], "hint": "", "error": null },
                    { "name": "stage", "id": "f-stage", "label": "Stage", "kind": "select", "control": "select", "input_type": "", "step": "1", "required": true, "value": "new", "checked": false, "amount": "", "currency": "", "options": [{ "value": "new", "label": "New", "selected": true }], "hint": "", "error": null },
                    { "name": "company", "id": "f-company", "label": "Company", "kind": "reference", "control": "select", "input_type": "", "step": "1", "required": false, "value": ID, "checked": false, "amount": "", "currency": "", "options": [{ "value": ID, "label": "Acme", "selected": true }], "hint": "", "error": null, "picker": "companies", "create": "name" },
                    { "name": "colours", "id": "f-colours", "label": "Colours", "kind": "multi_select", "control": "multiselect", "input_type": "", "step": "1", "required": false, "value": "", "checked": false, "amount": "", "currency": "", "options": [{ "value": "red", "label": "Red", "selected": false }], "hint": "", "error": null },
                    { "name": "budget", "id": "f-budget", "label": "Budget", "kind": "money", "control": "money", "input_type": "", "step": "1", "required": false, "value": "", "checked": false, "amount": "10.00", "currency": "EUR", "options": [], "hint": "", "error": null },
                    { "name": "notes", "id": "f-notes", "label": "Notes", "kind": "long_text", "control": "textarea", "input_type": "", "step": "1", "required": false, "value": "Long\ntext", "checked": false, "amount": "", "currency": "", "options": [], "hint": "", "error": null },
                ],
                "errors": ["the record was changed by someone else"],
                "duplicates": [{ "title": "Ada Lovelace", "url": format!("/records/contacts/{ID}") }],
                "duplicate_key": "Email",
            })),
        ),
        (
            "conflict.html",
            globals(json!({
                "entity": entity(),
                "record": { "id": ID, "title": "Ada Lovelace", "url": format!("/records/contacts/{ID}") },
                "action": format!("/records/contacts/{ID}/edit"),
                "version": 5,
                "base": r#"{"phone":"+44 1","city":"London"}"#,
                "theirs": r#"{"phone":"+44 2","city":"London"}"#,
                "mine": r#"{"phone":"+44 1","city":"Paris"}"#,
                "by": "kim@example.com",
                "at": "2026-12-06 10:00 UTC",
                "rows": [
                    { "name": "phone", "label": "Phone", "theirs": "+44 2", "mine": "+44 1", "changed_by": "them", "keep": "theirs" },
                    { "name": "city", "label": "City", "theirs": "London", "mine": "Paris", "changed_by": "me", "keep": "mine" },
                    { "name": "email", "label": "Email", "theirs": "", "mine": "ada@example.com", "changed_by": "both", "keep": null },
                ],
                "error": "Choose which value to keep for Email.",
            })),
        ),
        (
            "merge.html",
            globals(json!({
                "entity": entity(),
                "keep": { "title": "Ada Lovelace", "url": format!("/records/contacts/{ID}"), "version": 4 },
                "other": { "title": "Ada L.", "url": format!("/records/contacts/{ID}"), "version": 2 },
                "with": ID,
                "action": format!("/records/contacts/{ID}/merge"),
                "swap_url": format!("/records/contacts/{ID}/merge?with={ID}"),
                "rows": [
                    { "name": "phone", "label": "Phone", "this": "+44 1", "other": "+44 2", "both": null, "choose": true, "keep": "this" },
                    { "name": "title", "label": "Title", "this": "", "other": "<script>alert(1)</script>", "both": null, "choose": true, "keep": "other" },
                    { "name": "tags", "label": "Tags", "this": "vip", "other": "press", "both": "vip, press", "choose": true, "keep": "both" },
                    { "name": "email", "label": "Email", "this": "ada@example.com", "other": "ada@example.org", "both": null, "choose": false, "keep": "this" },
                ],
                "same": 2,
                "may_merge": true,
                "error": "One of the two records was changed after this page was opened, so nothing was merged. Check the values below and merge again.",
            })),
        ),
        (
            "search.html",
            globals(json!({
                "q": "ada",
                "groups": [{ "label": "Contacts", "results": [{ "title": "Ada Lovelace", "snippet": [{ "text": "Ada", "hit": true }, { "text": " Lovelace, ada@example.com", "hit": false }], "url": format!("/records/contacts/{ID}") }] }],
                "error": null,
            })),
        ),
        (
            "settings/users.html",
            globals(json!({
                "users": [
                    { "id": ID, "email": "sam@example.com", "name": "Sam Reed", "shown_name": "Sam Reed", "role": "admin", "status": "active", "me": true, "url": "u", "deactivate_url": "u/deactivate", "reactivate_url": "u/reactivate", "invite_url": "u/invitation" },
                    { "id": "x", "email": "kim@example.com", "name": "", "shown_name": "kim", "role": "member", "status": "invited", "me": false, "url": "x", "deactivate_url": "x/deactivate", "reactivate_url": "x/reactivate", "invite_url": "x/invitation" },
                    { "id": "y", "email": "lee@example.com", "name": "Lee Park", "shown_name": "Lee Park", "role": "manager", "status": "deactivated", "me": false, "url": "y", "deactivate_url": "y/deactivate", "reactivate_url": "y/reactivate", "invite_url": "y/invitation" },
                ],
                "roles": ["admin", "manager", "member", "read_only"],
            })),
        ),
        (
            "settings/roles.html",
            globals(json!({
                "roles": [
                    { "name": "admin", "admin": true, "builtin": true, "url": "/api/v1/admin/roles/admin", "grants": [{ "entity": "contact", "label": "Contacts", "create": "all", "read": "all", "edit": "all", "delete": "all" }, { "entity": "*", "label": "Other types (and types added later)", "create": "all", "read": "all", "edit": "all", "delete": "all" }], "field_rules": [{ "entity": "contact", "label": "Contacts", "special": 0, "fields": [{ "name": "email", "label": "Email", "rule": "visible" }] }] },
                    { "name": "support", "admin": false, "builtin": false, "url": "/api/v1/admin/roles/support", "grants": [{ "entity": "contact", "label": "Contacts", "create": "none", "read": "team", "edit": "own", "delete": "none" }, { "entity": "*", "label": "Other types (and types added later)", "create": "none", "read": "all", "edit": "none", "delete": "none" }], "field_rules": [{ "entity": "contact", "label": "Contacts", "special": 2, "fields": [{ "name": "email", "label": "Email", "rule": "hidden" }, { "name": "phone", "label": "Phone", "rule": "read_only" }, { "name": "title", "label": "Title", "rule": "visible" }] }] },
                ],
                "new_role": { "grants": [{ "entity": "contact", "label": "Contacts", "create": "own", "read": "all", "edit": "own", "delete": "own" }], "field_rules": [{ "entity": "contact", "label": "Contacts", "special": 0, "fields": [{ "name": "email", "label": "Email", "rule": "visible" }] }] },
                "levels": ["none", "own", "team", "all"],
                "teams": [{ "id": ID, "name": "North", "count": 1, "url": "/api/v1/admin/teams/t/members", "members": [{ "id": ID, "name": "Sam Reed", "email": "sam@example.com", "member": true, "deactivated": false }, { "id": "y", "name": "Lee Park", "email": "lee@example.com", "member": false, "deactivated": true }] }],
            })),
        ),
        (
            "settings/fields.html",
            globals(json!({
                "types": [{ "name": "contact", "plural": "contacts", "label": "Contacts", "source": "builtin", "add_url": "/api/v1/meta/entities/contacts/fields", "fields": [{ "name": "email", "label": "Email", "kind": "Email", "required": false, "indexed": true, "custom": false, "source": null }] }],
                "kinds": [{ "value": "text", "label": "Text" }],
                "label_languages": [{ "tag": "zh-CN", "name": "简体中文" }],
            })),
        ),
        (
            "settings/plugins.html",
            globals(json!({
                "plugins": [{ "id": "sales", "name": "Sales", "description": "Deals", "versions": ["1.0.0"], "enabled": null, "suspended": null, "asks": ["Read contact"], "grant": "{\"read\":[\"contact\"],\"write\":[],\"http\":[]}", "enable_url": "e", "disable_url": "d", "failures": [{ "kind": "panel", "message": "out of fuel", "at": "2026-11-27 10:00:00" }], "deliveries": [{ "seq": 42, "what": "deal updated", "record": "0190a5c4-0000-7000-8000-0000000000aa", "attempts": 8, "dead": true, "when": "2026-11-27 10:05:00", "error": "returned an error: forbidden", "retry_url": "r", "drop_url": "x" }] }],
            })),
        ),
        (
            "settings/theme.html",
            globals(json!({
                "look": { "theme": "default", "themes": [{ "name": "default", "title": "Default", "description": "Light" }], "tokens": {}, "changed": {}, "logo": false, "logo_url": "", "overrides": ["home.html"], "templates": ["home.html", "layout.html"], "language": "zh-CN" },
                "languages": [{ "tag": "en", "name": "English" }, { "tag": "zh-CN", "name": "简体中文" }],
                "tokens": [{ "name": "color_bg", "label": "Color bg", "value": "#ffffff", "kind": "color", "changed": true }, { "name": "density", "label": "Density", "value": "compact", "kind": "density", "changed": false }],
            })),
        ),
        (
            "settings/account.html",
            globals(json!({
                "email": "sam@example.com",
                "name": "Sam Reed",
                "time_zone": "Europe/Berlin",
                "zones": ["America/New_York", "Europe/Berlin", "UTC"],
                "language": "",
                "languages": [{ "tag": "en", "name": "English" }, { "tag": "zh-CN", "name": "简体中文" }],
                "local_now": "2026-11-27 11:00",
                "errors": { "name": "a name is at most 100 characters, without line breaks" },
            })),
        ),
        (
            "settings/tokens.html",
            globals(json!({
                "tokens": [{ "id": ID, "name": "laptop", "created": "2026-11-27 10:00", "last_used": null, "expires": null, "revoke_url": "u" }],
            })),
        ),
        (
            "settings/mail.html",
            globals(json!({
                "set_up": true,
                "smtp": { "host": "smtp.example.com", "port": 587, "security": "starttls", "username": "crm@example.com", "password_set": true, "from_address": "crm@example.com", "from_name": "Acme", "updated": at() },
                "securities": [{ "value": "starttls", "label": "STARTTLS (usually port 587)" }, { "value": "tls", "label": "TLS from the start (usually port 465)" }],
                "messages": [
                    { "id": ID, "out": true, "status": "failed", "from": "crm@example.com", "to": "ada@example.com", "subject": "Your quote", "attempts": 8, "created": at(), "sent": null, "next": null, "error": "550 mailbox unavailable", "reply": null, "retry_url": format!("/api/v1/mail/{ID}/retry") },
                    { "id": ID, "out": true, "status": "sent", "from": "crm@example.com", "to": "kim@example.com, lee@example.com", "subject": "Hello", "attempts": 1, "created": at(), "sent": at(), "next": null, "error": null, "reply": "250 2.0.0 OK queued", "retry_url": null },
                    { "id": ID, "out": false, "status": "received", "from": "ada@example.com", "to": "crm@example.com", "subject": "Re: Your quote", "attempts": 0, "created": at(), "sent": null, "next": null, "error": null, "reply": null, "retry_url": null },
                ],
                "more": false,
                "limit": 100,
                "filter": { "status": "", "direction": "" },
                "statuses": ["queued", "sent", "failed", "receiving", "received"],
            })),
        ),
        (
            "settings/mailboxes.html",
            globals(json!({
                "mailboxes": [
                    { "id": ID, "name": "Sales inbox", "host": "imap.example.com", "port": 993, "security": "tls", "username": "sales@example.com", "password_set": true, "folder": "INBOX", "enabled": true, "poll_seconds": 60, "received": 42, "skipped": 1, "last_polled": at(), "next_poll": at(), "last_error": "login refused: invalid credentials", "acting_user": "Sam Reed", "url": format!("/api/v1/admin/mailboxes/{ID}"), "test_url": format!("/api/v1/admin/mailboxes/{ID}/test"), "poll_url": format!("/api/v1/admin/mailboxes/{ID}/poll") },
                ],
                "securities": [{ "value": "tls", "label": "TLS from the start (usually port 993)" }, { "value": "starttls", "label": "STARTTLS (usually port 143)" }],
            })),
        ),
        (
            "settings/webhooks.html",
            globals(json!({
                "webhooks": [hook()],
                "types": ["contact", "company"],
                "actions": ["created", "updated", "deleted", "restored", "merged"],
                "hosts": ["hooks.internal"],
                "hosts_text": "hooks.internal",
                "max_hosts": 50,
            })),
        ),
        (
            "settings/webhook.html",
            globals(json!({
                "webhook": hook(),
                "deliveries": [
                    { "id": ID, "event_id": "evt_42", "event_type": "contact.updated", "record_id": ID, "record_url": format!("/records/contacts/{ID}"), "status": "failed", "attempts": 16, "last_status": 500, "last_error": "the endpoint answered 500", "last_response": "Internal Server Error", "created": at(), "next": null, "delivered": null, "replay_url": format!("/api/v1/webhooks/{ID}/deliveries/{ID}/replay") },
                    { "id": ID, "event_id": "evt_43", "event_type": "contact.created", "record_id": ID, "record_url": null, "status": "pending", "attempts": 1, "last_status": null, "last_error": "connection refused", "last_response": null, "created": at(), "next": at(), "delivered": null, "replay_url": null },
                ],
                "filter": { "status": "", "before": null },
                "statuses": ["pending", "delivered", "failed"],
                "newest_url": format!("/settings/webhooks/{ID}"),
                "older_url": format!("/settings/webhooks/{ID}?before=43"),
                "max_attempts": 16,
            })),
        ),
    ];
    pages
        .into_iter()
        .map(|(name, context)| {
            (
                name,
                minijinja::Value::from(minijinja::value::Serde(&context)),
            )
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::web::themes::Themes;

    /// Every page type of every bundled theme, rendered with its sample: a change to what a
    /// page prints is a reviewed snapshot change.
    #[test]
    fn every_page_type_renders_in_every_theme() {
        let themes = Themes::load().unwrap();
        for theme in themes.all() {
            let look = themes
                .build(&theme.name, Default::default(), Default::default(), None)
                .unwrap();
            for (template, context) in pages() {
                let step = context.get_attr("step").ok().filter(|s| !s.is_undefined());
                let html = look.render(template, context).unwrap();
                assert!(
                    html.contains("</html>"),
                    "{template} in {} is a whole page",
                    theme.name
                );
                let mut name = format!("{}__{}", theme.name, template.replace(['/', '.'], "_"));
                // A template with several samples (one per step) gets one snapshot each.
                if let Some(step) = step {
                    name = format!("{name}_{step}");
                }
                insta::assert_snapshot!(name, html);
            }
        }
    }
}
