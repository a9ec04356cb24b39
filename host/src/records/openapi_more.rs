//! The OpenAPI document's endpoints beyond each type's records: metadata, the audit log, this
//! document, search, sessions and the caller's account, API tokens, the administration of
//! users, roles, teams and the theme, and plugins — their administration, actions, panels,
//! jobs, deliveries and own routes. Built with the `openapi.rs` builder; `openapi::document`
//! is the one entry point.

use serde_json::{Map, Value, json};

use super::api::{DEFAULT_LIMIT, MAX_LIMIT};
use super::openapi::{Op, Paths, closed, data_of, json_content, reference};
use super::schema::FieldKind;

pub(super) fn add_paths(paths: &mut Paths, components: &mut Map<String, Value>) {
    components.extend(schemas());
    add_common_paths(paths);
    add_search(paths);
    add_sessions(paths);
    add_tokens(paths);
    add_users(paths);
    add_roles_and_teams(paths);
    add_theme(paths);
    add_plugins(paths);
    add_webhooks(paths, components);
    add_mail(paths, components);
    add_mailboxes(paths, components);
    add_imports(paths, components);
}

fn uuid() -> Value {
    json!({ "type": "string", "format": "uuid" })
}

fn text() -> Value {
    json!({ "type": "string" })
}

fn datetime() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

fn or_null(kind: &str) -> Value {
    json!({ "type": [kind, "null"] })
}

fn strings() -> Value {
    json!({ "type": "array", "items": { "type": "string" } })
}

/// `{"data": item}`, the theme endpoints' answer.
fn data_one(item: Value) -> Value {
    json!({ "type": "object", "properties": { "data": item }, "required": ["data"] })
}

/// An object body: these properties (the `required` ones must be sent), no others.
fn body(properties: Value, required: &[&str]) -> Value {
    json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": false })
}

fn schemas() -> Map<String, Value> {
    let level =
        json!({ "type": "string", "enum": ["none", "own", "team", "all"], "default": "none" });
    let user = closed(json!({
        "id": uuid(),
        "email": { "type": "string", "format": "email" },
        "name": text(),
        "role": text(),
        "time_zone": text(),
        "status": { "type": "string", "enum": ["active", "invited", "deactivated"] },
        "created_at": datetime(),
        "deactivated_at": { "type": ["string", "null"], "format": "date-time" },
    }));
    let token = closed(json!({
        "id": uuid(),
        "user": uuid(),
        "name": text(),
        "created_at": datetime(),
        "last_used_at": { "type": ["string", "null"], "format": "date-time" },
        "expires_at": { "type": ["string", "null"], "format": "date-time" },
        "revoked_at": { "type": ["string", "null"], "format": "date-time" },
    }));
    let mut new_token = token.clone();
    new_token["properties"]["token"] =
        json!({ "type": "string", "description": "The secret: shown once, never again." });
    if let Some(required) = new_token["required"].as_array_mut() {
        required.push(json!("token"));
    }
    let plugin = closed(json!({
        "id": text(),
        "name": text(),
        "description": or_null("string"),
        "versions": strings(),
        "enabled": { "type": ["string", "null"], "description": "The version enabled in this workspace." },
        "suspended": { "type": ["string", "null"], "description": "Why it is suspended, when it is." },
        "permissions": { "allOf": [reference("Permissions")], "description": "What the newest version asks for." },
        "granted": { "anyOf": [reference("Permissions"), { "type": "null" }], "description": "What an admin granted." },
    }));
    let mut plugin_detail = plugin.clone();
    if let Some(properties) = plugin_detail["properties"].as_object_mut() {
        properties.insert("failures".into(), json!({ "type": "array", "description": "The latest failures, newest first.", "items": closed(json!({ "version": text(), "kind": text(), "message": text(), "at": datetime() })) }));
        properties.insert(
            "storage".into(),
            closed(json!({ "keys": { "type": "integer" }, "bytes": { "type": "integer" }, "quota": { "type": "integer" } })),
        );
        properties.insert(
            "deliveries".into(),
            closed(json!({ "retrying": { "type": "integer" }, "dead": { "type": "integer" } })),
        );
    }
    if let Some(required) = plugin_detail["required"].as_array_mut() {
        required.extend([json!("failures"), json!("storage"), json!("deliveries")]);
    }
    let all = [
        ("AuditEntry", audit_schema()),
        ("EntityType", entity_type_schema()),
        ("FieldSpec", field_spec_schema()),
        (
            "SearchHit",
            closed(json!({
                "type": { "type": "string", "description": "The entity type's plural." },
                "id": uuid(),
                "title": text(),
                "snippet": { "type": "string", "description": "HTML: the best matching passage, matched words in <b>, everything else escaped." },
                "score": { "type": "number" },
            })),
        ),
        (
            "Session",
            closed(json!({
                "user": closed(json!({ "id": uuid(), "email": text(), "role": text() })),
                "workspace": { "type": "string", "description": "The workspace's slug." },
                "csrf_token": { "type": "string", "description": "Send as X-CSRF-Token with every cookie-authenticated POST, PUT, PATCH and DELETE." },
            })),
        ),
        (
            "Me",
            closed(json!({
                "id": uuid(),
                "email": or_null("string"),
                "name": or_null("string"),
                "time_zone": or_null("string"),
                "language": { "type": ["string", "null"], "description": "The language the web app is shown in; null: the browser's." },
                "workspace": uuid(),
                "role": { "allOf": [reference("Role")], "description": "The caller's role and what it grants." },
            })),
        ),
        ("Token", token),
        ("NewToken", new_token),
        ("User", user),
        (
            "Invitation",
            closed(json!({
                "user": reference("User"),
                "invite_path": { "type": "string", "description": "The one-time link's path: shown once, never again." },
                "invite_url": { "type": ["string", "null"], "description": "The link with this server's address, when the request named it." },
                "expires_at": datetime(),
            })),
        ),
        (
            "Role",
            json!({
                "type": "object",
                "properties": {
                    "name": text(),
                    "types": { "type": "object", "additionalProperties": reference("TypeGrant"), "description": "Grants per entity type name; `*` covers the types not listed." },
                    "fields": { "type": "object", "additionalProperties": { "type": "object", "additionalProperties": reference("FieldRule") }, "description": "Field rules per entity type name and field name." },
                    "admin": { "type": "boolean", "description": "Administers the workspace (users, roles, teams, metadata, audit, plugins, theme)." },
                    "builtin": { "type": "boolean", "readOnly": true },
                },
                "required": ["name"],
                "additionalProperties": false,
            }),
        ),
        (
            "TypeGrant",
            json!({
                "type": "object",
                "description": "How far each operation reaches: no records, the caller's own, their teams', or all.",
                "properties": { "create": level, "read": level, "edit": level, "delete": level },
                "additionalProperties": false,
            }),
        ),
        (
            "FieldRule",
            json!({
                "type": "object",
                "description": "`read: false` hides the field everywhere; `edit: false` makes it read-only.",
                "properties": { "read": { "type": "boolean", "default": true }, "edit": { "type": "boolean", "default": true } },
                "additionalProperties": false,
            }),
        ),
        (
            "Team",
            closed(
                json!({ "id": uuid(), "name": text(), "members": { "type": "array", "items": uuid() } }),
            ),
        ),
        (
            "Theme",
            closed(json!({
                "theme": { "type": "string", "description": "The workspace's theme." },
                "themes": { "type": "array", "items": closed(json!({ "name": text(), "title": text(), "description": text() })) },
                "tokens": { "type": "object", "additionalProperties": text(), "description": "The theme's tokens with the workspace's changes." },
                "changed": { "type": "object", "additionalProperties": text(), "description": "The tokens the workspace changed." },
                "logo": { "type": "boolean", "description": "Whether a logo was uploaded." },
                "logo_url": { "type": "string", "description": "The logo shown (uploaded, or the theme's); empty when none." },
                "overrides": { "allOf": [strings()], "description": "The templates the workspace overrides." },
                "templates": { "allOf": [strings()], "description": "Every template of the theme." },
                "language": { "type": ["string", "null"], "enum": ["en", "zh-CN", null], "description": "The workspace's default language: pages read in it when neither the reader's setting nor their browser chooses one; null is English." },
            })),
        ),
        (
            "Permissions",
            json!({
                "type": "object",
                "description": "Entity type names to read and write (`*` for all), outbound HTTP hosts (`host` or `host:port`), and emails per hour the plugin may send from the workspace's address.",
                "properties": { "read": strings(), "write": strings(), "http": strings(), "mail": { "type": "integer", "minimum": 0, "maximum": 10000, "default": 0 } },
                "additionalProperties": false,
            }),
        ),
        ("Plugin", plugin),
        ("PluginDetail", plugin_detail),
        (
            "Delivery",
            closed(json!({
                "seq": { "type": "integer", "format": "int64" },
                "entity_type": or_null("string"),
                "record_id": uuid(),
                "action": or_null("string"),
                "attempts": { "type": "integer" },
                "next_at": { "type": ["string", "null"], "format": "date-time", "description": "The next try; null for a dead letter." },
                "dead_at": { "type": ["string", "null"], "format": "date-time" },
                "last_error": or_null("string"),
            })),
        ),
    ];
    all.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

// -- metadata, audit, this document -------------------------------------------------------------

fn add_common_paths(paths: &mut Paths) {
    let entities = "/api/v1/meta/entities";
    paths.add(
        entities,
        "get",
        Op::new(
            "list_entities",
            "Every entity type the caller may read, and its fields",
            "Metadata",
        )
        .answer(200, "The types.", data_of(reference("EntityType"))),
    );
    paths.add(
        entities,
        "post",
        Op::new("create_entity", "Add a custom entity type", "Metadata")
            .admin()
            .json_body(reference("EntityType"))
            .answer(201, "The created type.", reference("EntityType"))
            .errors(&[409, 422]),
    );
    paths.add(
        "/api/v1/meta/entities/{entity}",
        "get",
        Op::new(
            "get_entity",
            "One entity type, as the caller sees it",
            "Metadata",
        )
        .answer(200, "The type.", reference("EntityType"))
        .errors(&[404]),
    );
    paths.add(
        "/api/v1/meta/entities/{entity}/fields",
        "post",
        Op::new("create_field", "Add a custom field to a type", "Metadata")
            .admin()
            .json_body(reference("FieldSpec"))
            .answer(201, "The created field.", reference("FieldSpec"))
            .errors(&[404, 409, 422]),
    );
    let audit = json!({
        "type": "object",
        "properties": {
            "data": { "type": "array", "items": reference("AuditEntry") },
            "next_cursor": { "type": ["string", "null"] },
        },
        "required": ["data", "next_cursor"],
    });
    let instant = json!({ "type": "string", "description": "A date, a datetime, or a relative date such as today-7d." });
    let audit_op = Op::new("list_audit", "Who changed what, when: records and security events", "Audit")
        .admin()
        .describe("Oldest first. No path changes an audit entry.")
        .query("record", "Only this record's trail (or this user's, team's… for security events).", uuid())
        .query("action", "Only this action: created, updated, deleted, restored, merged, or a security event such as login, login_failed, role_changed, token_created, plugin_enabled.", text())
        .query("entity_type", "Only entries of this entity type (`contact`), or of `user`, `role`, `team`, `api_token`, `plugin`, `workspace` for security events.", text())
        .query("actor", "Only changes made by this user.", uuid())
        .query("since", "Entries at or after this instant.", instant.clone())
        .query("until", "Entries before this instant.", instant)
        .query("cursor", "The next_cursor of the previous page.", text())
        .query("limit", "Page size (ignored by csv).", json!({ "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT }))
        .query("format", "`json`, or `csv` for an export of every matching entry.", json!({ "type": "string", "enum": ["json", "csv"], "default": "json" }))
        .respond(200, json!({
            "description": "Audit entries, oldest first; with format=csv a download of columns id, at, actor, action, entity_type, record_id, changes.",
            "content": {
                "application/json": { "schema": audit },
                "text/csv": { "schema": { "type": "string" } },
            },
        }))
        .errors(&[400]);
    paths.add("/api/v1/audit", "get", audit_op);
    paths.add(
        "/api/v1/openapi.json",
        "get",
        Op::new(
            "get_openapi",
            "This document, for the caller's workspace and role",
            "Metadata",
        )
        .answer(200, "The OpenAPI document.", json!({ "type": "object" })),
    );
}

fn audit_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": { "type": "integer", "format": "int64" },
            "record_id": { "type": "string", "format": "uuid", "description": "The record; for a security event, the user, team… it concerns (nil when none)." },
            "entity_type": { "type": "string" },
            "action": { "type": "string", "description": "created, updated, deleted, restored, merged, or a security event (login, role_changed, token_created…)." },
            "actor": { "type": ["string", "null"], "format": "uuid" },
            "at": { "type": "string", "format": "date-time" },
            "changes": { "description": "For a record: field → {before, after}. For a security event: its details." },
        },
        "required": ["id", "record_id", "entity_type", "action", "actor", "at", "changes"],
    })
}

/// A label per language: `{"zh-CN": "行业细分"}`.
fn labels(default: &str) -> Value {
    let tags: Vec<&str> = crate::i18n::Language::ALL.iter().map(|l| l.tag()).collect();
    json!({
        "type": "object",
        "propertyNames": { "enum": tags },
        "additionalProperties": { "type": "string", "minLength": 1, "maxLength": 100 },
        "description": format!("The label in other languages (`en`, `zh-CN`), 1 to 100 characters without control characters; a language without one reads `{default}`. Absent when none is given."),
    })
}

fn entity_type_schema() -> Value {
    let names = json!({ "type": "array", "items": { "type": "string" } });
    json!({
        "type": "object",
        "description": "An entity type and its fields, as served by /api/v1/meta/entities.",
        "properties": {
            "name": { "type": "string", "description": "Singular machine name (`contact`)." },
            "plural": { "type": "string", "description": "The API name (`contacts`), used in /api/v1/{plural}." },
            "label": { "type": "string" },
            "label_plural": { "type": "string" },
            "labels": labels("label"),
            "labels_plural": labels("label_plural"),
            "title_fields": { "allOf": [names.clone()], "description": "Fields whose values, joined by spaces, make a record's title." },
            "duplicate_key": { "type": "string", "description": "The field duplicate checks and merges compare." },
            "fields": { "type": "array", "items": reference("FieldSpec") },
            "sort": { "type": "string", "description": "The default order, in the API's sort form." },
            "setup": { "type": "boolean", "description": "A type that configures others (listed under Settings)." },
            "indexes": { "type": "array", "items": names, "description": "Indexes over several keys, in order." },
            "source": { "type": "string", "readOnly": true, "description": "`builtin`, `custom`, or the plugin that added it." },
        },
        "required": ["name", "plural"],
        "additionalProperties": false,
    })
}

fn field_spec_schema() -> Value {
    let kinds: Vec<&str> = FieldKind::ALL.iter().map(|k| k.as_str()).collect();
    let option = json!({ "type": "object", "properties": { "value": { "type": "string" }, "label": { "type": "string" }, "labels": labels("label") }, "required": ["value"], "additionalProperties": false });
    json!({
        "type": "object",
        "description": "One field of an entity type.",
        "properties": {
            "name": { "type": "string" },
            "label": { "type": "string" },
            "labels": labels("label"),
            "type": { "type": "string", "enum": kinds },
            "required": { "type": "boolean" },
            "indexed": { "type": "boolean", "description": "Filters and sorts use an expression index." },
            "searchable": { "type": "boolean", "description": "Full-text search covers the field." },
            "lowercase": { "type": "boolean", "description": "Text is stored lowercased." },
            "options": { "type": "array", "items": { "oneOf": [option, { "type": "string" }] }, "description": "select and multi_select: the allowed values." },
            "target": { "type": "string", "description": "reference: the entity type pointed to; any type when absent." },
            "multiple": { "type": "boolean", "description": "reference: a list of ids." },
            "max_length": { "type": "integer", "minimum": 1 },
            "default": { "description": "The value a create that leaves the field out gets." },
            "custom": { "type": "boolean", "readOnly": true },
            "read_only": { "type": "boolean", "readOnly": true, "description": "The caller's role may read but not change the field." },
            "source": { "type": "string", "readOnly": true, "description": "The plugin that added the field (`plugin:ID`)." },
        },
        "required": ["name", "type"],
        "additionalProperties": false,
    })
}

fn add_search(paths: &mut Paths) {
    let limit = json!({ "type": "integer", "minimum": 1, "maximum": crate::search::MAX_LIMIT, "default": 20 });
    paths.add(
        "/api/v1/search",
        "get",
        Op::new("search", "Search every type the caller may read", "Search")
            .describe("Prefixes, typos, accents, emails, phones and \"quoted phrases\" match. Hidden fields neither match nor show in snippets.")
            .param(json!({ "name": "q", "in": "query", "required": true, "description": "The words to search for.", "schema": { "type": "string", "minLength": 1 } }))
            .query("types", "Comma-separated plurals (`contacts,companies`); every readable type when absent.", text())
            .query("limit", "How many hits.", limit)
            .answer(200, "Hits, best first.", data_of(reference("SearchHit")))
            .errors(&[400, 403]),
    );
}

fn add_sessions(paths: &mut Paths) {
    let cookie =
        json!({ "description": "The `kith_session` cookie.", "schema": { "type": "string" } });
    let login = body(
        json!({
            "email": text(),
            "password": text(),
            "workspace": { "type": "string", "default": crate::auth::DEFAULT_WORKSPACE, "description": "The workspace's slug." },
        }),
        &["email", "password"],
    );
    paths.add(
        "/api/v1/auth/login",
        "post",
        Op::new("login", "Log in: start a browser session", "Sessions")
            .public()
            .describe("Sets the `kith_session` cookie (HttpOnly, SameSite=Lax; Secure behind HTTPS) and answers the session's CSRF token. An unknown email and a wrong password get the same 401; a deactivated account 403; failures are throttled per account and address (429).")
            .json_body(login)
            .respond(200, json!({ "description": "Logged in.", "headers": { "Set-Cookie": cookie }, "content": json_content(reference("Session")) }))
            .errors(&[401, 403, 429]),
    );
    paths.add(
        "/api/v1/auth/logout",
        "post",
        Op::new("logout", "Log out: end the browser session", "Sessions")
            .describe("Clears the cookie. With a token there is no session to end; still 204.")
            .respond(
                204,
                json!({ "description": "Logged out.", "headers": { "Set-Cookie": cookie } }),
            ),
    );
    let password = body(
        json!({ "current_password": text(), "new_password": { "type": "string", "minLength": 8 } }),
        &["current_password", "new_password"],
    );
    paths.add(
        "/api/v1/auth/password",
        "post",
        Op::new("change_password", "Change the caller's password", "Sessions")
            .describe("Ends the caller's other sessions. A wrong current password is a 422 on `current_password`.")
            .json_body(password)
            .no_content("Changed.")
            .errors(&[422]),
    );
    paths.add(
        "/api/v1/me",
        "get",
        Op::new("get_me", "Who the caller is", "Sessions").answer(
            200,
            "The caller.",
            reference("Me"),
        ),
    );
    let profile = body(
        json!({ "name": { "type": ["string", "null"], "description": "Unchanged when absent or null." }, "time_zone": { "type": ["string", "null"], "description": "An IANA time zone (`Europe/Paris`); unchanged when absent or null." }, "language": { "type": ["string", "null"], "enum": ["en", "zh-CN", "", null], "description": "The web app's language: `en` or `zh-CN`, or an empty string for the browser's (its Accept-Language); unchanged when absent or null." } }),
        &[],
    );
    paths.add(
        "/api/v1/me",
        "patch",
        Op::new(
            "update_me",
            "Change the caller's name, time zone or language",
            "Sessions",
        )
        .json_body(profile)
        .answer(200, "The caller.", reference("Me"))
        .errors(&[422]),
    );
}

fn add_tokens(paths: &mut Paths) {
    paths.add(
        "/api/v1/tokens",
        "get",
        Op::new("list_tokens", "The caller's API tokens", "Tokens")
            .describe("Secrets are never shown again. `all=true` (admins only) lists every token of the workspace.")
            .query("all", "Every token of the workspace (admins).", json!({ "type": "boolean", "default": false }))
            .answer(200, "Tokens, oldest first.", data_of(reference("Token")))
            .errors(&[400, 403]),
    );
    let new = body(
        json!({
            "name": { "type": "string", "minLength": 1, "maxLength": 100 },
            "expires_in_days": { "type": ["integer", "null"], "minimum": 1, "maximum": 3650, "description": "Never expires when absent or null." },
        }),
        &["name"],
    );
    paths.add(
        "/api/v1/tokens",
        "post",
        Op::new(
            "create_token",
            "Create an API token for the caller",
            "Tokens",
        )
        .json_body(new)
        .answer(
            201,
            "The token, with its secret (shown once).",
            reference("NewToken"),
        )
        .errors(&[422]),
    );
    paths.add(
        "/api/v1/tokens/{token}",
        "delete",
        Op::new("revoke_token", "Revoke a token", "Tokens")
            .describe("One of the caller's tokens; admins may revoke any of the workspace's. It stops working at once.")
            .answer(200, "The revoked token.", reference("Token"))
            .errors(&[404]),
    );
}

fn add_users(paths: &mut Paths) {
    let zone = json!({ "type": "string", "default": "UTC", "description": "An IANA time zone." });
    let role = json!({ "type": "string", "description": "A built-in (admin, manager, member, read_only) or custom role.", "examples": ["member"] });
    let user = || reference("User");
    paths.add(
        "/api/v1/admin/users",
        "get",
        Op::new("list_users", "Every user of the workspace", "Users")
            .admin()
            .answer(200, "Users, by email.", data_of(user())),
    );
    let new_user = body(
        json!({
            "email": { "type": "string", "format": "email" },
            "password": { "type": "string", "minLength": 8 },
            "role": role,
            "name": text(),
            "time_zone": zone,
        }),
        &["email", "password", "role"],
    );
    paths.add(
        "/api/v1/admin/users",
        "post",
        Op::new("create_user", "Create a user with a password", "Users")
            .admin()
            .describe("409 when the email is taken in this workspace.")
            .json_body(new_user)
            .answer(201, "The user.", user())
            .errors(&[409, 422]),
    );
    let change = body(
        json!({
            "role": role,
            "password": { "type": "string", "minLength": 8, "description": "A new password; ends the user's sessions." },
            "name": text(),
            "time_zone": { "type": "string", "description": "An IANA time zone." },
        }),
        &[],
    );
    paths.add(
        "/api/v1/admin/users/{user}",
        "patch",
        Op::new(
            "update_user",
            "Change a user's role, name or time zone, or reset their password",
            "Users",
        )
        .admin()
        .describe("409 for the caller's own role, or a change that would leave no active admin.")
        .json_body(change)
        .answer(200, "The user.", user())
        .errors(&[404, 409, 422]),
    );
    paths.add(
        "/api/v1/admin/users/{user}/deactivate",
        "post",
        Op::new("deactivate_user", "Deactivate a user", "Users")
            .admin()
            .describe("Their sessions end and their tokens stop working at once. 409 for the caller's own account or the last active admin.")
            .answer(200, "The user.", user())
            .errors(&[404, 409]),
    );
    paths.add(
        "/api/v1/admin/users/{user}/reactivate",
        "post",
        Op::new("reactivate_user", "Reactivate a user", "Users")
            .admin()
            .answer(200, "The user.", user())
            .errors(&[404]),
    );
    paths.add(
        "/api/v1/admin/users/{user}/invitation",
        "post",
        Op::new("reinvite_user", "A new invitation link for an invited user", "Users")
            .admin()
            .describe("The old link stops working. 409 when the user already set a password or is deactivated.")
            .answer(201, "The invitation.", reference("Invitation"))
            .errors(&[404, 409]),
    );
    let invitation = body(
        json!({ "email": { "type": "string", "format": "email" }, "name": text(), "role": role, "time_zone": zone }),
        &["email", "role"],
    );
    paths.add(
        "/api/v1/admin/invitations",
        "post",
        Op::new(
            "invite_user",
            "Invite a user: they set their own password",
            "Users",
        )
        .admin()
        .json_body(invitation)
        .answer(
            201,
            "The invitation, with its one-time link.",
            reference("Invitation"),
        )
        .errors(&[409, 422]),
    );
}

fn add_roles_and_teams(paths: &mut Paths) {
    let tag = "Roles and teams";
    paths.add(
        "/api/v1/admin/roles",
        "get",
        Op::new("list_roles", "Every role: built-in and custom", tag)
            .admin()
            .answer(200, "Roles.", data_of(reference("Role"))),
    );
    paths.add(
        "/api/v1/admin/roles/{role}",
        "put",
        Op::new("save_role", "Create or replace a custom role", tag)
            .admin()
            .describe("Built-in roles cannot be redefined (422).")
            .json_body(reference("Role"))
            .answer(200, "The role.", reference("Role"))
            .errors(&[422]),
    );
    paths.add(
        "/api/v1/admin/teams",
        "get",
        Op::new("list_teams", "Every team and its members", tag)
            .admin()
            .answer(200, "Teams, by name.", data_of(reference("Team"))),
    );
    paths.add(
        "/api/v1/admin/teams",
        "post",
        Op::new("create_team", "Create a team", tag)
            .admin()
            .json_body(body(
                json!({ "name": { "type": "string", "minLength": 1, "maxLength": 100 } }),
                &["name"],
            ))
            .answer(201, "The team.", reference("Team"))
            .errors(&[409, 422]),
    );
    let members = json!({ "type": "array", "items": uuid() });
    paths.add(
        "/api/v1/admin/teams/{team}/members",
        "put",
        Op::new("set_team_members", "Set a team's members", tag)
            .admin()
            .describe("Replaces the members; an id that is no user of the workspace is a 422.")
            .json_body(body(json!({ "members": members }), &["members"]))
            .answer(
                200,
                "The team's members.",
                closed(json!({ "id": uuid(), "members": members })),
            )
            .errors(&[404, 422]),
    );
}

fn add_theme(paths: &mut Paths) {
    let tag = "Theme";
    let theme = || data_one(reference("Theme"));
    paths.add(
        "/api/v1/admin/theme",
        "get",
        Op::new("get_theme", "The workspace's look", tag)
            .admin()
            .answer(200, "The look.", theme()),
    );
    let change = body(
        json!({
            "theme": { "type": ["string", "null"], "description": "One of `themes`; unchanged when absent or null." },
            "tokens": { "type": "object", "additionalProperties": { "type": ["string", "null"] }, "description": "Token values to set; null returns a token to the theme's value." },
            "language": { "type": ["string", "null"], "description": "The workspace's default language (`en`, `zh-CN`); empty for none (English); unchanged when absent or null." },
        }),
        &[],
    );
    paths.add(
        "/api/v1/admin/theme",
        "put",
        Op::new("update_theme", "Pick the theme and change its tokens", tag)
            .admin()
            .json_body(change)
            .answer(200, "The look.", theme())
            .errors(&[422]),
    );
    let image = json!({ "schema": { "type": "string", "contentMediaType": "image/*" } });
    let logo = [
        "image/png",
        "image/jpeg",
        "image/webp",
        "image/gif",
        "image/svg+xml",
    ]
    .into_iter()
    .map(|kind| (kind.to_owned(), image.clone()))
    .collect::<Map<String, Value>>();
    paths.add(
        "/api/v1/admin/theme/logo",
        "put",
        Op::new("upload_logo", "Upload the workspace's logo", tag)
            .admin()
            .describe("The image is the body, at most 512 KB; its content type must match it (415 for another type, 422 for a body that is not that image).")
            .body(Value::Object(logo))
            .answer(200, "The look.", theme())
            .errors(&[413, 415, 422]),
    );
    paths.add(
        "/api/v1/admin/theme/logo",
        "delete",
        Op::new("delete_logo", "Remove the uploaded logo", tag)
            .admin()
            .no_content("Removed (or there was none)."),
    );
    let template = body(
        json!({ "name": { "type": "string", "description": "One of the theme's `templates`." }, "source": { "type": "string", "description": "The template's MiniJinja source." } }),
        &["name", "source"],
    );
    paths.add(
        "/api/v1/admin/theme/templates",
        "put",
        Op::new("override_template", "Override one template of the theme", tag)
            .admin()
            .describe("The template is compiled and every sample page rendered with it first; a failure is a 422 on `source` carrying the error, and nothing is saved.")
            .json_body(template)
            .answer(200, "The look.", theme())
            .errors(&[422]),
    );
    paths.add(
        "/api/v1/admin/theme/templates/{template}",
        "delete",
        Op::new(
            "delete_template_override",
            "Go back to the theme's own template",
            tag,
        )
        .admin()
        .no_content("Removed.")
        .errors(&[404]),
    );
}

fn add_plugins(paths: &mut Paths) {
    let tag = "Plugins";
    let call = [404, 424, 503];
    paths.add(
        "/api/v1/plugins",
        "get",
        Op::new(
            "list_plugins",
            "Installed plugins and their state here",
            tag,
        )
        .admin()
        .answer(200, "Plugins.", data_of(reference("Plugin"))),
    );
    let installed =
        closed(json!({ "id": text(), "version": text(), "permissions": reference("Permissions") }));
    paths.add(
        "/api/v1/plugins",
        "post",
        Op::new("install_plugin", "Install a plugin package", tag)
            .admin()
            .describe("The body is the package (.tar.gz with plugin.toml, plugin.wasm, templates/), at most 40 MiB. 201 for a new version, 200 for one already installed.")
            .body(json!({ "application/octet-stream": { "schema": { "type": "string", "format": "binary", "description": "The .tar.gz package; any content type is read as one." } } }))
            .answer(201, "Installed.", installed.clone())
            .answer(200, "Already installed.", installed)
            .errors(&[400, 409, 413, 422]),
    );
    paths.add(
        "/api/v1/plugins/{plugin}",
        "get",
        Op::new(
            "get_plugin",
            "A plugin: state, grant, recent failures, storage and deliveries",
            tag,
        )
        .admin()
        .answer(200, "The plugin.", reference("PluginDetail"))
        .errors(&[404]),
    );
    let enable = body(
        json!({
            "version": { "type": "string", "description": "The version to run; the newest installed when absent." },
            "grant": { "allOf": [reference("Permissions")], "description": "Must cover what the plugin asks for (422 with a `not_granted` detail per missing permission)." },
            "settings": { "type": "object", "description": "Values of the settings the manifest declares." },
        }),
        &["grant"],
    );
    paths.add(
        "/api/v1/plugins/{plugin}/enable",
        "post",
        Op::new("enable_plugin", "Enable a plugin in this workspace", tag)
            .admin()
            .json_body(enable)
            .answer(
                200,
                "Enabled.",
                closed(json!({ "id": text(), "version": text(), "enabled": { "const": true } })),
            )
            .errors(&[404, 409, 422, 424]),
    );
    paths.add(
        "/api/v1/plugins/{plugin}/disable",
        "post",
        Op::new("disable_plugin", "Disable a plugin in this workspace", tag)
            .admin()
            .answer(
                200,
                "Disabled.",
                closed(json!({ "id": text(), "enabled": { "const": false } })),
            )
            .errors(&[404]),
    );
    paths.add(
        "/api/v1/plugins/{plugin}/actions/{action}",
        "post",
        Op::new("run_plugin_action", "Run a plugin's action", tag)
            .describe("Any user, acting as themselves. The body is the action's input (any JSON). A refusal keeps its status when its code is the API's (forbidden 403, record_not_found 404, conflict 409, version_conflict 412, validation_failed 422, invalid_parameter 400); any other code is a 422 `action_refused` carrying it in `details`.")
            .json_body(json!({}))
            .answer(200, "The action's answer.", json!({ "type": "object", "properties": { "data": {} }, "required": ["data"] }))
            .errors(&call)
            .errors(&[409, 412, 422]),
    );
    paths.add(
        "/api/v1/plugins/{plugin}/panels/{panel}",
        "get",
        Op::new("render_plugin_panel", "Render a plugin's panel to HTML", tag)
            .describe("Any user, acting as themselves. A record panel needs `record` (400 without it).")
            .query("record", "The record the panel is shown on (record panels).", uuid())
            .answer(200, "The panel.", closed(json!({ "plugin": text(), "panel": text(), "title": text(), "html": { "type": "string", "description": "Rendered and sanitised HTML." } })))
            .errors(&call)
            .errors(&[400, 403]),
    );
    paths.add(
        "/api/v1/plugins/{plugin}/jobs/{job}/run",
        "post",
        Op::new("run_plugin_job", "Queue a run of a plugin's job now", tag)
            .admin()
            .answer(
                202,
                "Queued.",
                closed(json!({ "id": text(), "job": text(), "queued": { "const": true } })),
            )
            .errors(&[404, 424]),
    );
    paths.add(
        "/api/v1/plugins/{plugin}/deliveries",
        "get",
        Op::new(
            "list_plugin_deliveries",
            "After-save events whose delivery failed",
            tag,
        )
        .admin()
        .describe("Events being retried, and dead letters once their retries are spent.")
        .answer(200, "Events.", data_of(reference("Delivery")))
        .errors(&[404]),
    );
    let delivery =
        closed(json!({ "plugin": text(), "seq": { "type": "integer", "format": "int64" } }));
    paths.add(
        "/api/v1/plugins/{plugin}/deliveries/{seq}",
        "delete",
        Op::new(
            "drop_plugin_delivery",
            "Give up a failed event: it will not be delivered",
            tag,
        )
        .admin()
        .answer(200, "Dropped.", delivery.clone())
        .errors(&[400, 404]),
    );
    paths.add(
        "/api/v1/plugins/{plugin}/deliveries/{seq}/retry",
        "post",
        Op::new("retry_plugin_delivery", "Try a failed event again now", tag)
            .admin()
            .describe("Its attempts are counted afresh.")
            .answer(200, "Queued again.", delivery)
            .errors(&[400, 404]),
    );
    add_plugin_routes(paths);
}

/// `/p/{plugin}/…`: whatever routes a plugin declares, served sandboxed as the calling user.
fn add_plugin_routes(paths: &mut Paths) {
    let answer = json!({
        "description": "The plugin's answer: its status, body and the headers it may set, served sandboxed.",
        "content": { "*/*": { "schema": {} } },
    });
    for (path, id) in [
        ("/p/{plugin}", "plugin_root"),
        ("/p/{plugin}/{path}", "plugin_route"),
    ] {
        for method in ["get", "post", "put", "patch", "delete"] {
            let mut op = Op::new(
                &format!("{id}_{method}"),
                format!("{} a route the plugin declares", method.to_uppercase()),
                "Plugin routes",
            )
            .describe("A route of the plugin's manifest, run as the caller; a 404 when it declares none for this method and path. The request's headers but Authorization and Cookie reach the plugin.")
            .respond(200, answer.clone())
            .errors(&[404, 424, 503]);
            if method != "get" {
                op = op.body(json!({ "*/*": { "schema": {} } }));
            }
            paths.add(path, method, op);
        }
    }
}

fn add_webhooks(paths: &mut Paths, components: &mut Map<String, Value>) {
    let tag = "Webhooks";
    let events = json!({
        "type": "array",
        "minItems": 1,
        "maxItems": 50,
        "items": { "type": "string", "examples": ["contact.created", "deal.*", "*.deleted", "*"] },
        "description": "Event types: `<entity type>.<action>` (created, updated, deleted, restored, merged), with `*` for any type or action, or `*` for every event.",
    });
    let webhook = json!({
        "id": uuid(),
        "url": { "type": "string", "format": "uri" },
        "events": events,
        "description": text(),
        "enabled": { "type": "boolean" },
        "created_by": uuid(),
        "created_at": datetime(),
    });
    let with = |extra: Value| {
        let mut properties = webhook.clone();
        if let (Some(to), Some(from)) = (properties.as_object_mut(), extra.as_object()) {
            to.extend(from.clone());
        }
        closed(properties)
    };
    let secret = json!({ "type": "string", "description": "`whsec_` and the base64 of the HMAC key: shown only in this answer." });
    let counts =
        closed(json!({ "pending": { "type": "integer" }, "failed": { "type": "integer" } }));
    let delivery = closed(json!({
        "id": uuid(),
        "event_id": { "type": "string", "description": "The `webhook-id` sent: `evt_` and the event's number." },
        "event_seq": { "type": "integer", "format": "int64" },
        "event_type": text(),
        "record_id": uuid(),
        "status": { "type": "string", "enum": ["pending", "delivered", "failed"] },
        "attempts": { "type": "integer" },
        "next_at": { "type": ["string", "null"], "format": "date-time" },
        "last_status": or_null("integer"),
        "last_error": or_null("string"),
        "last_response": { "type": ["string", "null"], "description": "The first KiB of the endpoint's last non-2xx answer." },
        "created_at": datetime(),
        "delivered_at": { "type": ["string", "null"], "format": "date-time" },
    }));
    components.insert("Webhook".into(), closed(webhook.clone()));
    components.insert("NewWebhook".into(), with(json!({ "secret": secret })));
    components.insert(
        "WebhookDetail".into(),
        with(json!({ "deliveries": counts })),
    );
    components.insert("WebhookDelivery".into(), delivery);
    let signing = "Each delivery is a POST of the event as JSON with the headers `webhook-id` \
        (the event's id, the same on every retry and replay: deduplicate by it), \
        `webhook-timestamp` (Unix seconds) and `webhook-signature`: `v1,` and the base64 \
        HMAC-SHA256, keyed with the base64-decoded part of the secret after `whsec_`, of \
        `{webhook-id}.{webhook-timestamp}.{body}` (the Standard Webhooks scheme). A 2xx answer \
        delivers it; anything else is retried after 5 s, 30 s, 1 min … 6 h, 16 tries over \
        about 29 hours, in order per record. URLs that resolve to private addresses are refused \
        unless their host is in `/api/v1/admin/outbound-hosts`.";
    let new_body = body(
        json!({
            "url": { "type": "string", "format": "uri", "maxLength": 2048 },
            "events": events,
            "description": { "type": "string", "maxLength": 500 },
            "enabled": { "type": "boolean", "default": true },
        }),
        &["url", "events"],
    );
    paths.add(
        "/api/v1/webhooks",
        "get",
        Op::new("list_webhooks", "Every webhook subscription", tag)
            .admin()
            .answer(
                200,
                "Subscriptions, oldest first; never their secrets.",
                data_of(reference("Webhook")),
            ),
    );
    paths.add(
        "/api/v1/webhooks",
        "post",
        Op::new("create_webhook", "Subscribe a URL to events", tag)
            .admin()
            .describe(signing)
            .json_body(new_body)
            .answer(
                201,
                "The subscription and its secret, shown this once.",
                reference("NewWebhook"),
            )
            .errors(&[409, 422]),
    );
    paths.add(
        "/api/v1/webhooks/{webhook}",
        "get",
        Op::new("get_webhook", "A subscription and its deliveries owed", tag)
            .admin()
            .answer(200, "The subscription.", reference("WebhookDetail"))
            .errors(&[404]),
    );
    paths.add(
        "/api/v1/webhooks/{webhook}",
        "patch",
        Op::new("update_webhook", "Change a subscription", tag)
            .admin()
            .json_body(body(
                json!({
                    "url": { "type": "string", "format": "uri", "maxLength": 2048 },
                    "events": events,
                    "description": { "type": "string", "maxLength": 500 },
                    "enabled": { "type": "boolean" },
                }),
                &[],
            ))
            .answer(200, "The subscription.", reference("Webhook"))
            .errors(&[404, 422]),
    );
    paths.add(
        "/api/v1/webhooks/{webhook}",
        "delete",
        Op::new("delete_webhook", "End a subscription", tag)
            .admin()
            .no_content("Ended; its delivery log is gone and nothing more is sent.")
            .errors(&[404]),
    );
    paths.add(
        "/api/v1/webhooks/{webhook}/secret",
        "post",
        Op::new("rotate_webhook_secret", "A new signing secret", tag)
            .admin()
            .answer(
                200,
                "The new secret, shown this once.",
                closed(json!({ "id": uuid(), "secret": secret })),
            )
            .errors(&[404]),
    );
    paths.add(
        "/api/v1/webhooks/{webhook}/deliveries",
        "get",
        Op::new("list_webhook_deliveries", "The delivery log", tag)
            .admin()
            .query(
                "status",
                "Only deliveries of this status.",
                json!({ "type": "string", "enum": ["pending", "delivered", "failed"] }),
            )
            .query(
                "before",
                "Deliveries of events before this `event_seq` (the last answer's `next_before`).",
                json!({ "type": "integer", "format": "int64" }),
            )
            .query(
                "limit",
                "At most this many (1 to 500; 50 when absent).",
                json!({ "type": "integer", "minimum": 1, "maximum": 500 }),
            )
            .answer(
                200,
                "Deliveries, newest event first.",
                closed(json!({
                    "data": { "type": "array", "items": reference("WebhookDelivery") },
                    "next_before": { "type": ["string", "null"] },
                })),
            )
            .errors(&[400, 404]),
    );
    paths.add(
        "/api/v1/webhooks/{webhook}/deliveries/{delivery}/replay",
        "post",
        Op::new("replay_webhook_delivery", "Send a delivery again", tag)
            .admin()
            .describe("The same event id and body, signed anew, its tries counted afresh.")
            .answer(
                202,
                "Queued.",
                closed(
                    json!({ "id": uuid(), "status": { "type": "string", "enum": ["pending"] } }),
                ),
            )
            .errors(&[404]),
    );
    let hosts = closed(
        json!({ "hosts": { "type": "array", "maxItems": 50, "items": { "type": "string" } } }),
    );
    paths.add(
        "/api/v1/admin/outbound-hosts",
        "get",
        Op::new(
            "list_outbound_hosts",
            "Private hosts outbound calls may reach",
            tag,
        )
        .admin()
        .answer(200, "The hosts, sorted.", hosts.clone()),
    );
    paths.add(
        "/api/v1/admin/outbound-hosts",
        "put",
        Op::new("set_outbound_hosts", "Allow private hosts", tag)
            .admin()
            .describe("Replaces the list: host names or IP addresses (no scheme, port or path) that webhooks may call although they resolve to private, loopback or link-local addresses.")
            .json_body(hosts.clone())
            .answer(200, "The hosts.", hosts)
            .errors(&[422]),
    );
}

fn add_mail(paths: &mut Paths, components: &mut Map<String, Value>) {
    let tag = "Mail";
    let addresses = json!({ "type": "array", "items": { "type": "string", "format": "email" } });
    let settings = closed(json!({
        "host": text(),
        "port": { "type": "integer", "minimum": 1, "maximum": 65535 },
        "security": { "type": "string", "enum": ["starttls", "tls", "none"] },
        "username": text(),
        "password_set": { "type": "boolean", "description": "Whether a password is stored (it is never shown)." },
        "from_address": { "type": "string", "format": "email" },
        "from_name": text(),
        "updated_at": datetime(),
    }));
    let message = closed(json!({
        "id": uuid(),
        "direction": { "type": "string", "enum": ["out", "in"] },
        "status": { "type": "string", "enum": ["queued", "sent", "failed", "receiving", "received"], "description": "`receiving`: stored, its timeline entry not yet written." },
        "message_id": { "type": "string", "description": "The Message-ID header, without angle brackets." },
        "in_reply_to": or_null("string"),
        "thread_id": { "type": "string", "description": "The Message-ID of the thread's first message." },
        "from": text(),
        "to": addresses,
        "cc": addresses,
        "subject": text(),
        "attachments": { "type": "array", "description": "Received mail's attachments; `kept` ones (up to 10 MiB each) download from `/api/v1/mail/{message}/attachments/{position}`, their place in this list.", "items": closed(json!({ "name": text(), "type": or_null("string"), "size": { "type": "integer" }, "kept": { "type": "boolean" } })) },
        "activity_id": { "type": ["string", "null"], "format": "uuid" },
        "attempts": { "type": "integer" },
        "next_at": { "type": ["string", "null"], "format": "date-time" },
        "last_error": or_null("string"),
        "server_reply": { "type": ["string", "null"], "description": "The SMTP server's answer to the send (`250 …`)." },
        "sent_by_plugin": { "type": ["string", "null"], "description": "The plugin that sent it, if one did." },
        "created_at": datetime(),
        "sent_at": { "type": ["string", "null"], "format": "date-time" },
    }));
    let mut received = message.clone();
    if let Some(properties) = received["properties"].as_object_mut() {
        properties.insert(
            "contacts".into(),
            json!({ "type": "array", "items": uuid() }),
        );
        properties.insert("duplicate".into(), json!({ "type": "boolean" }));
    }
    if let Some(required) = received["required"].as_array_mut() {
        required.extend([json!("contacts"), json!("duplicate")]);
    }
    components.insert("MailSettings".into(), settings);
    components.insert("MailMessage".into(), message);
    components.insert("ReceivedMail".into(), received);
    paths.add(
        "/api/v1/admin/mail",
        "get",
        Op::new("get_mail_settings", "The workspace's SMTP settings", tag)
            .admin()
            .answer(
                200,
                "The settings, without the password.",
                reference("MailSettings"),
            )
            .errors(&[409]),
    );
    paths.add(
        "/api/v1/admin/mail",
        "put",
        Op::new("save_mail_settings", "Set the workspace's SMTP server", tag)
            .admin()
            .describe("The password is sealed with the server's key and never shown; absent keeps the stored one, null removes it. A host that resolves to a private address must be in `/api/v1/admin/outbound-hosts`.")
            .json_body(body(
                json!({
                    "host": { "type": "string", "minLength": 1, "maxLength": 253 },
                    "port": { "type": "integer", "minimum": 1, "maximum": 65535 },
                    "security": { "type": "string", "enum": ["starttls", "tls", "none"] },
                    "username": { "type": "string", "maxLength": 254 },
                    "password": { "type": ["string", "null"], "maxLength": 1024 },
                    "from_address": { "type": "string", "format": "email" },
                    "from_name": { "type": "string", "maxLength": 200 },
                }),
                &["host", "port", "security", "from_address"],
            ))
            .answer(200, "The settings.", reference("MailSettings"))
            .errors(&[422]),
    );
    paths.add(
        "/api/v1/admin/mail/test",
        "post",
        Op::new("test_mail_settings", "Connect to the SMTP server and log in", tag)
            .admin()
            .answer(
                200,
                "Whether it worked; why not if it did not.",
                json!({ "type": "object", "properties": { "ok": { "type": "boolean" }, "error": text() }, "required": ["ok"], "additionalProperties": false }),
            )
            .errors(&[409]),
    );
    paths.add(
        "/api/v1/mail",
        "get",
        Op::new("list_mail", "Sent and received mail", tag)
            .admin()
            .query(
                "status",
                "Only messages of this status.",
                json!({ "type": "string", "enum": ["queued", "sent", "failed", "receiving", "received"] }),
            )
            .query(
                "direction",
                "Only sent (`out`) or received (`in`) mail.",
                json!({ "type": "string", "enum": ["in", "out"] }),
            )
            .query(
                "limit",
                "At most this many (1 to 500; 50 when absent).",
                json!({ "type": "integer", "minimum": 1, "maximum": 500 }),
            )
            .answer(
                200,
                "Messages, newest first.",
                data_of(reference("MailMessage")),
            )
            .errors(&[400]),
    );
    paths.add(
        "/api/v1/mail",
        "post",
        Op::new("send_mail", "Send an email", tag)
            .describe("Queued before the answer, sent right after from the workspace's address, retried after 1 min, 5 min, 15 min, 1 h and 4 h on temporary failures. Logged as an `email` activity linked to the contacts it goes to (found by address), their companies and `links`.")
            .json_body(body(
                json!({
                    "to": { "type": "array", "minItems": 1, "maxItems": 50, "items": { "type": "string", "format": "email" } },
                    "cc": { "type": "array", "maxItems": 50, "items": { "type": "string", "format": "email" } },
                    "subject": { "type": "string", "maxLength": 998 },
                    "body": { "type": "string", "description": "Plain text, at most 1 MiB." },
                    "links": { "type": "array", "items": uuid() },
                    "reply_to": { "type": "string", "description": "The message this one answers: its id in the mail log, or its Message-ID." },
                }),
                &["to", "subject", "body"],
            ))
            .answer(
                202,
                "Queued.",
                closed(json!({ "id": uuid(), "status": { "type": "string", "enum": ["queued"] }, "message_id": text(), "thread_id": text(), "activity_id": uuid() })),
            )
            .errors(&[404, 409, 422]),
    );
    paths.add(
        "/api/v1/mail/inbound",
        "post",
        Op::new("receive_mail", "Receive a raw email", tag)
            .admin()
            .describe("For mail providers that POST inbound mail: the raw RFC 822 message (at most 25 MiB). It is threaded by In-Reply-To and References, matched to contacts by address and logged on their timelines; a Message-ID received before answers 200 with the first result.")
            .body(json!({
                "message/rfc822": { "schema": { "type": "string", "format": "binary" } },
                "application/octet-stream": { "schema": { "type": "string", "format": "binary" } },
            }))
            .answer(201, "Stored.", reference("ReceivedMail"))
            .answer(200, "Received before; nothing new stored.", reference("ReceivedMail"))
            .errors(&[413, 415, 422]),
    );
    paths.add(
        "/api/v1/mail/{message}",
        "get",
        Op::new("get_mail", "One message", tag)
            .describe("Admins see any message; others the ones they sent.")
            .answer(200, "The message.", reference("MailMessage"))
            .errors(&[404]),
    );
    paths.add(
        "/api/v1/mail/{message}/attachments/{position}",
        "get",
        Op::new("get_mail_attachment", "An attachment of a received email", tag)
            .describe("Its bytes as a download (`Content-Disposition: attachment`, `nosniff`, a sandboxing CSP): never shown inline. Admins see any message's; others those of messages they sent.")
            .respond(200, json!({ "description": "The attachment's bytes, with its media type.", "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } }))
            .errors(&[404]),
    );
    paths.add(
        "/api/v1/mail/{message}/retry",
        "post",
        Op::new("retry_mail", "Send a failed message again", tag)
            .admin()
            .answer(
                202,
                "Queued.",
                closed(json!({ "id": uuid(), "status": { "type": "string", "enum": ["queued"] } })),
            )
            .errors(&[404]),
    );
}

fn add_mailboxes(paths: &mut Paths, components: &mut Map<String, Value>) {
    let tag = "Mail";
    let security = json!({ "type": "string", "enum": ["tls", "starttls", "none"] });
    let mailbox = closed(json!({
        "id": uuid(),
        "name": text(),
        "host": text(),
        "port": { "type": "integer", "minimum": 1, "maximum": 65535 },
        "security": security,
        "username": text(),
        "password_set": { "type": "boolean" },
        "folder": text(),
        "enabled": { "type": "boolean" },
        "poll_seconds": { "type": "integer" },
        "uid_validity": { "type": ["integer", "null"], "format": "int64", "description": "The folder's UIDVALIDITY when last polled." },
        "last_uid": { "type": "integer", "format": "int64", "description": "The highest UID stored: the next poll fetches the UIDs above it." },
        "received": { "type": "integer", "format": "int64", "description": "Messages stored from this mailbox (not counting ones received before by Message-ID)." },
        "skipped": { "type": "integer", "format": "int64", "description": "Messages not stored: over 25 MiB, or not a message." },
        "next_poll_at": { "type": ["string", "null"], "format": "date-time" },
        "last_polled_at": { "type": ["string", "null"], "format": "date-time" },
        "last_error": or_null("string"),
        "created_at": datetime(),
        "updated_at": datetime(),
    }));
    components.insert("Mailbox".into(), mailbox);
    let new_body = body(
        json!({
            "name": { "type": "string", "minLength": 1, "maxLength": 100 },
            "host": { "type": "string", "minLength": 1, "maxLength": 253 },
            "port": { "type": "integer", "minimum": 1, "maximum": 65535, "examples": [993] },
            "security": security,
            "username": { "type": "string", "minLength": 1, "maxLength": 254 },
            "password": { "type": ["string", "null"], "maxLength": 1024, "description": "Required when adding; absent keeps the stored one." },
            "folder": { "type": "string", "minLength": 1, "maxLength": 200, "default": "INBOX" },
            "enabled": { "type": "boolean", "default": true },
            "poll_seconds": { "type": "integer", "minimum": 10, "maximum": 86400, "default": 60 },
        }),
        &["name", "host", "port", "security", "username"],
    );
    let polling = "Each mailbox is polled over IMAP by one process at a time: the folder is opened read-only (nothing is marked read), the messages above the bookmark (`uid_validity`, `last_uid`) are fetched and received as `POST /api/v1/mail/inbound` receives them (threaded, matched to contacts, logged on their timelines, each Message-ID once), and the bookmark moves after each chunk. Received mail is logged as the admin who last saved the mailbox. A host that resolves to a private address must be in `/api/v1/admin/outbound-hosts`.";
    paths.add(
        "/api/v1/admin/mailboxes",
        "get",
        Op::new("list_mailboxes", "The mailboxes the workspace polls", tag)
            .admin()
            .answer(
                200,
                "Mailboxes, oldest first; never their passwords.",
                data_of(reference("Mailbox")),
            ),
    );
    paths.add(
        "/api/v1/admin/mailboxes",
        "post",
        Op::new("create_mailbox", "Poll a mailbox over IMAP", tag)
            .admin()
            .describe(polling)
            .json_body(new_body.clone())
            .answer(201, "Added; polled within a second.", reference("Mailbox"))
            .errors(&[409, 422]),
    );
    paths.add(
        "/api/v1/admin/mailboxes/{mailbox}",
        "get",
        Op::new("get_mailbox", "One mailbox and its last poll", tag)
            .admin()
            .answer(200, "The mailbox.", reference("Mailbox"))
            .errors(&[404]),
    );
    paths.add(
        "/api/v1/admin/mailboxes/{mailbox}",
        "put",
        Op::new("update_mailbox", "Change a mailbox", tag)
            .admin()
            .describe("Another host, port, login or folder is another mailbox: its bookmark starts again (messages stored before are known by Message-ID and not stored twice).")
            .json_body(new_body)
            .answer(200, "The mailbox.", reference("Mailbox"))
            .errors(&[404, 422]),
    );
    paths.add(
        "/api/v1/admin/mailboxes/{mailbox}",
        "delete",
        Op::new("delete_mailbox", "Stop polling a mailbox", tag)
            .admin()
            .no_content("Removed; mail received from it stays.")
            .errors(&[404]),
    );
    paths.add(
        "/api/v1/admin/mailboxes/{mailbox}/test",
        "post",
        Op::new("test_mailbox", "Connect, log in and open the folder", tag)
            .admin()
            .answer(
                200,
                "Whether it worked, with the folder's message count; why not if it did not.",
                json!({ "type": "object", "properties": { "ok": { "type": "boolean" }, "messages": { "type": "integer" }, "error": text() }, "required": ["ok"], "additionalProperties": false }),
            )
            .errors(&[404]),
    );
    paths.add(
        "/api/v1/admin/mailboxes/{mailbox}/poll",
        "post",
        Op::new("poll_mailbox", "Poll a mailbox now", tag)
            .admin()
            .answer(
                202,
                "Due now.",
                closed(json!({ "id": uuid(), "status": { "type": "string", "enum": ["due"] } })),
            )
            .errors(&[404, 409]),
    );
}

fn add_imports(paths: &mut Paths, components: &mut Map<String, Value>) {
    let tag = "Imports";
    let counts = closed(json!({
        "created": { "type": "integer" },
        "updated": { "type": "integer" },
        "unchanged": { "type": "integer" },
        "skipped": { "type": "integer" },
        "failed": { "type": "integer" },
    }));
    let plan = json!({
        "type": "object",
        "description": "What to do with the rows.",
        "properties": {
            "mapping": { "type": "object", "additionalProperties": { "type": "string" }, "description": "Column header → field name; `owner` sets the owner (by email or id), `id` names the record to update (mode update, key id). Unmapped columns are not imported." },
            "mode": { "type": "string", "enum": ["create", "update", "upsert"], "default": "create", "description": "create: every row is a new record. update: a row updates the record its key finds; a row whose key finds none is skipped. upsert: updates it, or creates one." },
            "key": { "type": ["string", "null"], "description": "update and upsert: the mapped field that finds each row's record (`email`, `domain`, an external id, or `id` for update). A key repeated further down the file skips those later rows." },
            "references": { "type": "object", "additionalProperties": closed(json!({ "by": text(), "create_missing": { "type": "boolean", "default": false } })), "description": "Per reference field: `by` is `id` or a field of the target type naming the record (default: a cell holding an id is an id, anything else is the target's first title field); `create_missing` creates a record for a name none has." },
            "empty_cells": { "type": "string", "enum": ["ignore", "clear"], "default": "ignore", "description": "ignore: an empty cell leaves the field as it is; clear: it clears the field of an updated record." },
            "currency": { "type": ["string", "null"], "description": "The currency of a money cell that names none." },
            "time_zone": { "type": ["string", "null"], "description": "The clock of datetimes without a zone (IANA name); the importer's by default." },
        },
        "required": ["mapping"],
        "additionalProperties": false,
    });
    components.insert("ImportPlan".into(), plan);
    let import = closed(json!({
        "id": uuid(),
        "entity_type": text(),
        "file_name": text(),
        "status": { "type": "string", "enum": ["uploaded", "previewed", "running", "done", "failed", "undoing", "undone"] },
        "reading": { "type": "object", "description": "How the file is read: format, the encoding and delimiter found." },
        "plan": { "type": "object", "description": "The suggested plan until previewed; then the plan previewed and committed." },
        "total_rows": { "type": "integer" },
        "done_rows": { "type": "integer", "description": "Rows committed so far." },
        "counts": counts,
        "error": or_null("string"),
        "created_at": datetime(),
        "finished_at": or_null("string"),
    }));
    components.insert("Import".into(), import);
    let problems = json!({ "type": "array", "items": closed(json!({
        "column": text(), "field": text(), "code": text(), "message": text(),
    })) });
    paths.add(
        "/api/v1/imports",
        "post",
        Op::new("upload_import", "Upload a CSV or XLSX file to import", tag)
            .describe("The body is the file itself (at most 64 MiB, 1,000,000 rows; the first row is the header). CSV in any delimiter and encoding (detected: a byte-order mark, else UTF-8, else the likeliest legacy encoding such as GBK or Windows-1252), quoted fields with newlines; XLSX: the first sheet or `sheet`, formulas as their computed values. Nothing is written to records yet: the answer's `plan` is the one your last committed import of a file with these columns used, or else a mapping suggested from the headers (a field's name or label in any language).")
            .query("type", "The entity type's API name (`contacts`).", text())
            .query("file_name", "The file's name (shown in the list; `.xlsx` chooses XLSX).", text())
            .query("format", "`csv`, `xlsx`, or `auto` (default).", json!({ "type": "string", "enum": ["auto", "csv", "xlsx"] }))
            .query("encoding", "A CSV's encoding, or `auto` (default).", text())
            .query("delimiter", "A CSV's delimiter (`,`, `;`, `tab`, `|`), or `auto` (default).", text())
            .query("sheet", "An XLSX sheet's name.", text())
            .respond(201, json!({
                "description": "The import and the file's columns with sample values.",
                "content": { "application/json": { "schema": {
                    "type": "object",
                    "properties": {
                        "import": reference("Import"),
                        "columns": { "type": "array", "items": closed(json!({ "header": text(), "samples": strings() })) },
                    },
                    "required": ["import", "columns"],
                } } },
            }))
            .errors(&[400, 403, 404, 413]),
    );
    paths.add(
        "/api/v1/imports",
        "get",
        Op::new("list_imports", "Imports, newest first", tag)
            .describe("Your own imports; an admin sees everyone's.")
            .answer(200, "The last 200 imports.", data_of(reference("Import"))),
    );
    paths.add(
        "/api/v1/imports/{id}",
        "get",
        Op::new("get_import", "An import and its progress", tag)
            .answer(200, "The import.", reference("Import"))
            .errors(&[400, 404]),
    );
    paths.add(
        "/api/v1/imports/{id}/preview",
        "post",
        Op::new("preview_import", "Check every row with a plan, writing nothing", tag)
            .describe("Runs every row through the same checks as the commit — values, permissions, references, plugins' before-save hooks — and rolls them back. Keeps the plan for the commit; preview again to change it.")
            .json_body(reference("ImportPlan"))
            .answer(200, "The counts by outcome and the first 1,000 rows with problems.", json!({
                "type": "object",
                "properties": {
                    "import": reference("Import"),
                    "preview": closed(json!({
                        "counts": counts,
                        "problems": { "type": "array", "items": closed(json!({ "row": { "type": "integer", "description": "The row in the file (the header is row 1)." }, "outcome": text(), "problems": problems })) },
                        "unlisted": { "type": "integer", "description": "Rows with problems beyond those listed." },
                    })),
                },
                "required": ["import", "preview"],
            }))
            .errors(&[400, 404, 409]),
    );
    paths.add(
        "/api/v1/imports/{id}/commit",
        "post",
        Op::new("commit_import", "Write a previewed import", tag)
            .describe("Written in batches of 500 rows in the background; each batch's rows and the import's progress commit together, so an import stopped anywhere (a restart, kill -9, a lost replica) goes on from its first unwritten row within a minute, never writing a row twice. Poll the import for `status` done or failed. Committing again changes nothing.")
            .answer(202, "The import, running.", reference("Import"))
            .errors(&[400, 404, 409]),
    );
    paths.add(
        "/api/v1/imports/{id}/result",
        "get",
        Op::new("import_result", "Every row's outcome, as CSV", tag)
            .describe("The file's rows with four more columns: kith_row (the row in the file), kith_outcome (created, updated, unchanged, skipped, failed, or not_run), kith_record_id and kith_reason (each problem as `column: message`).")
            .respond(200, json!({ "description": "The result file.", "content": { "text/csv": { "schema": { "type": "string" } } } }))
            .errors(&[400, 404]),
    );
    paths.add(
        "/api/v1/imports/{id}/undo",
        "post",
        Op::new("undo_import", "Delete what an import created and put back what it updated", tag)
            .describe("Created records go to the trash; updated fields get their values from before the import. A record changed since the import is left as it is and listed. Running it again finishes an undo that stopped.")
            .answer(200, "What was undone.", closed(json!({
                "deleted": { "type": "integer" },
                "reverted": { "type": "integer" },
                "kept": { "type": "array", "items": closed(json!({ "row": { "type": "integer" }, "record_id": uuid(), "reason": text() })) },
            })))
            .errors(&[400, 404, 409]),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_lists_only_properties_it_has_as_required() {
        for (name, schema) in schemas() {
            let properties = schema["properties"].as_object();
            for required in schema["required"].as_array().into_iter().flatten() {
                let key = required.as_str().unwrap_or_default();
                assert!(
                    properties.is_some_and(|p| p.contains_key(key)),
                    "{name} requires `{key}`"
                );
            }
        }
    }
}
