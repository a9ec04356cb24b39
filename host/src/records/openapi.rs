//! The OpenAPI 3.1 document of a workspace's API, generated from the same metadata that
//! validates writes — so custom fields and custom types appear in it as soon as they exist.
//! This file holds the document's frame, the builder every operation is made with, and the
//! record endpoints of each type; `openapi_more.rs` holds the rest (metadata, audit, search,
//! sessions, tokens, administration, plugins). `tests/all/openapi.rs` checks the document
//! against the routes the server serves.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::MAX_BATCH;
use super::api::{DEFAULT_LIMIT, MAX_LIMIT};
use super::schema::{EntityType, FieldKind, FieldSpec, Schema};
use crate::error::ErrorCode;

pub fn document(schema: &Schema, server: &str) -> Value {
    let mut paths = Paths::default();
    let mut components = Map::new();
    components.insert("Error".into(), error_schema());
    components.insert("Empty".into(), empty_schema());
    for ty in schema.types() {
        let name = component_name(&ty.name);
        components.insert(name.clone(), record_schema(ty, Shape::Record));
        components.insert(format!("{name}Input"), record_schema(ty, Shape::Input));
        components.insert(format!("{name}Patch"), record_schema(ty, Shape::Patch));
        add_type_paths(&mut paths, ty, &name);
    }
    super::openapi_more::add_paths(&mut paths, &mut components);
    add_examples(&mut paths, &components);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Kith API",
            "version": "1",
            "description": "Records of every entity type of this workspace, and the endpoints \
                around them. Errors are always {\"error\": {\"code\", \"message\", \"details\"}} \
                with stable snake_case codes. Authenticate with an API token \
                (`Authorization: Bearer kith_…`), or as the web app's script does: with the \
                `kith_session` cookie a login sets, plus the session's `X-CSRF-Token` header on \
                every POST, PUT, PATCH and DELETE. Operations whose description starts with \
                \"Admins only\" answer 403 to every other role.",
        },
        "servers": [{ "url": server }],
        "security": [{ "bearer": [] }, { "session": [], "csrf": [] }],
        "paths": paths.0,
        "components": {
            "schemas": components,
            "securitySchemes": security_schemes(),
            "responses": standard_responses(),
        },
    })
}

fn security_schemes() -> Value {
    json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (`kith_…`), from POST /api/v1/tokens or `kith token create`.",
        },
        "session": {
            "type": "apiKey",
            "in": "cookie",
            "name": crate::auth::session::COOKIE,
            "description": "The browser session POST /api/v1/auth/login starts. Enough for GET; \
                POST, PUT, PATCH and DELETE also need `csrf`.",
        },
        "csrf": {
            "type": "apiKey",
            "in": "header",
            "name": "X-CSRF-Token",
            "description": "The session's `csrf_token` (the login's answer). A cookie-authenticated \
                POST, PUT, PATCH or DELETE without it answers 403 `csrf_failed`.",
        },
    })
}

// -- the builder --------------------------------------------------------------------------------

/// The document's paths, filled one operation at a time.
#[derive(Default)]
pub(super) struct Paths(pub(super) Map<String, Value>);

impl Paths {
    /// Adds `op` as `method` (lowercase) of `path`: the path's parameters are declared once,
    /// on the path, from [`path_parameter`].
    pub(super) fn add(&mut self, path: &str, method: &str, op: Op) {
        let item = self.0.entry(path).or_insert_with(|| {
            let parameters: Vec<Value> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(path_parameter)
                .collect();
            if parameters.is_empty() {
                json!({})
            } else {
                json!({ "parameters": parameters })
            }
        });
        item[method] = op.finish(method);
    }
}

/// A path parameter, described by its name: the document names them by what they hold.
fn path_parameter(name: &str) -> Value {
    let uuid = json!({ "type": "string", "format": "uuid" });
    let text = json!({ "type": "string" });
    let (description, schema) = match name {
        "id" => ("The record's id.", uuid),
        "entity" => (
            "An entity type's name or plural (`contact` or `contacts`).",
            text,
        ),
        "user" => ("A user's id.", uuid),
        "token" => ("An API token's id.", uuid),
        "team" => ("A team's id.", uuid),
        "role" => ("A custom role's name; the body's `name` must match.", text),
        "template" => ("The overridden template's name (`home.html`).", text),
        "plugin" => ("A plugin's id.", text),
        "action" => ("An action the plugin's manifest declares.", text),
        "panel" => ("A panel the plugin's manifest declares.", text),
        "job" => ("A job the plugin's manifest declares.", text),
        "webhook" => ("A webhook subscription's id.", uuid),
        "delivery" => ("A delivery's id, from the delivery log.", uuid),
        "message" => ("A sent or received email's id.", uuid),
        "mailbox" => ("A polled mailbox's id.", uuid),
        "position" => (
            "The attachment's place in the message's `attachments`, from 0.",
            json!({ "type": "integer", "minimum": 0 }),
        ),
        "seq" => (
            "The event's sequence number.",
            json!({ "type": "integer", "format": "int64" }),
        ),
        "path" => (
            "The rest of the path, matched against the routes the plugin's manifest declares; \
             it may hold `/`.",
            text,
        ),
        _ => ("", text),
    };
    json!({ "name": name, "in": "path", "required": true, "description": description, "schema": schema })
}

/// One operation, built call by call; [`Paths::add`] finishes it with what its method implies.
pub(super) struct Op {
    fields: Map<String, Value>,
    description: Option<String>,
    parameters: Vec<Value>,
    responses: BTreeMap<String, Value>,
    errors: Vec<u16>,
    admin: bool,
    public: bool,
}

impl Op {
    pub(super) fn new(id: &str, summary: impl Into<String>, tag: &str) -> Op {
        let mut fields = Map::new();
        fields.insert("operationId".into(), json!(id));
        fields.insert("summary".into(), json!(summary.into()));
        fields.insert("tags".into(), json!([tag]));
        Op {
            fields,
            description: None,
            parameters: Vec::new(),
            responses: BTreeMap::new(),
            errors: Vec::new(),
            admin: false,
            public: false,
        }
    }

    pub(super) fn describe(mut self, text: &str) -> Op {
        self.description = Some(text.to_owned());
        self
    }

    /// Only admins may call it: the description says so first, and 403 is among the answers.
    pub(super) fn admin(mut self) -> Op {
        self.admin = true;
        self.errors(&[403])
    }

    /// Needs no credentials (the login).
    pub(super) fn public(mut self) -> Op {
        self.public = true;
        self
    }

    pub(super) fn param(mut self, parameter: Value) -> Op {
        self.parameters.push(parameter);
        self
    }

    /// An optional query parameter.
    pub(super) fn query(self, name: &str, description: &str, schema: Value) -> Op {
        self.param(json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema }))
    }

    /// A required JSON body, and the errors reading one can answer.
    pub(super) fn json_body(self, schema: Value) -> Op {
        self.body(json_content(schema)).errors(&[400, 413, 415])
    }

    /// A required body of the given content (`{media type: {schema}}`).
    pub(super) fn body(mut self, content: Value) -> Op {
        self.fields.insert(
            "requestBody".into(),
            json!({ "required": true, "content": content }),
        );
        self
    }

    /// A JSON answer.
    pub(super) fn answer(self, status: u16, description: &str, schema: Value) -> Op {
        self.respond(status, ok(description, schema))
    }

    /// An answer without a body.
    pub(super) fn no_content(self, description: &str) -> Op {
        self.respond(204, json!({ "description": description }))
    }

    pub(super) fn respond(mut self, status: u16, response: Value) -> Op {
        self.responses.insert(status.to_string(), response);
        self
    }

    /// Error statuses it can answer, each with the shared response of that status.
    pub(super) fn errors(mut self, statuses: &[u16]) -> Op {
        self.errors.extend_from_slice(statuses);
        self
    }

    /// The operation as `method`: a GET takes a token or the session cookie, every other
    /// method a token or the cookie with its CSRF header (the document's default), and each
    /// answers what those credentials can fail with.
    fn finish(mut self, method: &str) -> Value {
        let safe = method == "get";
        if self.public {
            self.fields.insert("security".into(), json!([]));
        } else {
            self.errors.push(401);
            if safe {
                self.fields.insert(
                    "security".into(),
                    json!([{ "bearer": [] }, { "session": [] }]),
                );
            } else {
                self.errors.push(403);
            }
        }
        let description = match (self.admin, self.description) {
            (true, Some(text)) => Some(format!("Admins only. {text}")),
            (true, None) => Some("Admins only.".to_owned()),
            (false, text) => text,
        };
        if let Some(text) = description {
            self.fields.insert("description".into(), json!(text));
        }
        if !self.parameters.is_empty() {
            self.fields
                .insert("parameters".into(), Value::Array(self.parameters));
        }
        for status in self.errors {
            self.responses
                .entry(status.to_string())
                .or_insert_with(|| error_ref(status));
        }
        self.fields.insert(
            "responses".into(),
            Value::Object(self.responses.into_iter().collect()),
        );
        Value::Object(self.fields)
    }
}

pub(super) fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

pub(super) fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

pub(super) fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": json_content(schema) })
}

/// `{"data": [item…]}`, the shape of every list.
pub(super) fn data_of(item: Value) -> Value {
    json!({
        "type": "object",
        "properties": { "data": { "type": "array", "items": item } },
        "required": ["data"],
    })
}

/// An object of the given properties, all of them required and no others allowed.
pub(super) fn closed(properties: Value) -> Value {
    let required: Vec<&String> = properties
        .as_object()
        .map(|p| p.keys().collect())
        .unwrap_or_default();
    json!({ "type": "object", "properties": properties, "required": required, "additionalProperties": false })
}

/// The shared error responses: status, component name, and the codes it carries.
const ERRORS: &[(u16, &str, &str)] = &[
    (
        400,
        "BadRequest",
        "`invalid_json`, `invalid_body`, `invalid_parameter`, `invalid_filter`, `invalid_sort` \
         or `invalid_cursor`: the body or a parameter is malformed.",
    ),
    (
        401,
        "Unauthorized",
        "`unauthorized`: no credentials, or a token or session that is invalid, expired, revoked \
         or of a deactivated user.",
    ),
    (
        403,
        "Forbidden",
        "`forbidden`: the caller's role does not allow this. `csrf_failed`: a cookie-authenticated \
         POST, PUT, PATCH or DELETE without the session's X-CSRF-Token.",
    ),
    (
        404,
        "NotFound",
        "`not_found`, `unknown_entity`, `record_not_found`, `invalid_id` (not an id at all) or \
         `plugin_not_enabled`: nothing of that name or id in this workspace.",
    ),
    (
        409,
        "Conflict",
        "`conflict`: the request contradicts the current state (a name taken, a record that is \
         not deleted, the last admin…).",
    ),
    (
        412,
        "PreconditionFailed",
        "`version_conflict`: If-Match named a version that is no longer current.",
    ),
    (
        413,
        "PayloadTooLarge",
        "`payload_too_large` (a body over 4 MiB) or `batch_too_large`.",
    ),
    (
        415,
        "UnsupportedMediaType",
        "`unsupported_media_type`: the body is not of a type this operation reads.",
    ),
    (
        422,
        "UnprocessableEntity",
        "`validation_failed` (`details` lists each field, with `index` in a batch) or \
         `action_refused` (a plugin's refusal; its code is in `details`).",
    ),
    (
        424,
        "FailedDependency",
        "`plugin_failed` or `plugin_suspended`: a plugin failed (the message names it); nothing \
         was stored.",
    ),
    (
        429,
        "TooManyRequests",
        "`too_many_attempts`: too many failed logins; `Retry-After` says how many seconds to wait.",
    ),
    (
        503,
        "ServiceUnavailable",
        "`plugin_busy`: the plugin runs as many calls as it may; retry after `Retry-After` \
         seconds.",
    ),
];

fn error_ref(status: u16) -> Value {
    match ERRORS.iter().find(|(s, _, _)| *s == status) {
        Some((_, name, _)) => json!({ "$ref": format!("#/components/responses/{name}") }),
        None => json!({ "description": "An error.", "content": json_content(reference("Error")) }),
    }
}

fn standard_responses() -> Value {
    let responses: Map<String, Value> = ERRORS
        .iter()
        .map(|(status, name, description)| {
            let mut response = ok(description, reference("Error"));
            // The first code the description names, with the description as the message.
            let code = description.split('`').nth(1).unwrap_or("invalid_parameter");
            response["content"]["application/json"]["example"] = json!({ "error": { "code": code, "message": description.split(": ").last().unwrap_or(description) } });
            if matches!(status, 429 | 503) {
                response["headers"] = json!({ "Retry-After": { "description": "Seconds to wait.", "schema": { "type": "integer" } } });
            }
            ((*name).to_owned(), response)
        })
        .collect();
    Value::Object(responses)
}

// -- examples -----------------------------------------------------------------------------------

/// Gives every JSON request body and every JSON answer of `paths` an example made from its
/// schema, so the examples say what the schemas say, for custom types and fields too.
fn add_examples(paths: &mut Paths, components: &Map<String, Value>) {
    for item in paths.0.values_mut().filter_map(Value::as_object_mut) {
        for (method, op) in item.iter_mut() {
            if method == "parameters" {
                continue;
            }
            if let Some(media) = op.pointer_mut("/requestBody/content/application~1json") {
                media["example"] = example(&media["schema"], components, Purpose::Request, 0);
            }
            let responses = op.get_mut("responses").and_then(Value::as_object_mut);
            for (_, response) in responses.into_iter().flatten() {
                if let Some(media) = response.pointer_mut("/content/application~1json") {
                    media["example"] = example(&media["schema"], components, Purpose::Answer, 0);
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// A request body: the required properties (or, when none is, the first plain one).
    Request,
    /// An answer: every property.
    Answer,
}

/// A value `schema` accepts: its own `examples`, `const`, `default` or first option when it
/// has one, else one built from its type and format.
fn example(schema: &Value, components: &Map<String, Value>, purpose: Purpose, depth: u8) -> Value {
    if depth > 8 {
        return Value::Null;
    }
    let next = |schema: &Value| example(schema, components, purpose, depth + 1);
    if let Some(target) = schema["$ref"].as_str() {
        let name = target.trim_start_matches("#/components/schemas/");
        return components.get(name).map(next).unwrap_or(Value::Null);
    }
    if let Some(value) = schema["examples"]
        .get(0)
        .or(schema.get("const"))
        .or(schema.get("default"))
    {
        return value.clone();
    }
    if let Some(options) = schema["enum"].as_array() {
        let option = options.iter().find(|o| !o.is_null() && *o != "");
        return option.cloned().unwrap_or(Value::Null);
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(first) = schema[key].get(0) {
            return next(first);
        }
    }
    let kind = match &schema["type"] {
        Value::String(kind) => kind.as_str(),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => return json!({}),
    };
    match kind {
        "object" => {
            let properties = schema["properties"].as_object();
            let required: Vec<&str> = schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            // An id in a request example would name nothing that exists: leave ids out.
            let plain = |(name, property): &(&String, &Value)| {
                *name != "owner"
                    && !property["readOnly"].as_bool().unwrap_or(false)
                    && !matches!(property["x-kith-type"].as_str(), Some("reference" | "user"))
            };
            let chosen: Vec<(&String, &Value)> = match purpose {
                Purpose::Answer => properties.into_iter().flatten().collect(),
                Purpose::Request if !required.is_empty() => properties
                    .into_iter()
                    .flatten()
                    .filter(|(name, _)| required.contains(&name.as_str()))
                    .collect(),
                Purpose::Request => properties
                    .into_iter()
                    .flatten()
                    .filter(|p| plain(p))
                    .take(1)
                    .collect(),
            };
            Value::Object(
                chosen
                    .into_iter()
                    .map(|(name, property)| (name.clone(), next(property)))
                    .collect(),
            )
        }
        "array" => {
            let items = schema.get("items").map(next).unwrap_or(json!("Example"));
            let max = schema["maxItems"].as_u64().unwrap_or(1);
            Value::Array(if max == 0 { Vec::new() } else { vec![items] })
        }
        "string" => json!(match schema["format"].as_str() {
            Some("uuid") => "0193a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d".to_owned(),
            Some("date-time") => "2026-11-22T14:30:00.000Z".to_owned(),
            Some("date") => "2026-11-22".to_owned(),
            Some("email") => "ada@example.com".to_owned(),
            Some("uri") => "https://example.com".to_owned(),
            _ => {
                let min = schema["minLength"].as_u64().unwrap_or(0) as usize;
                let mut text = "Example".to_owned();
                while text.len() < min {
                    text.push_str(" example");
                }
                text
            }
        }),
        "integer" => json!(
            schema["minimum"]
                .as_i64()
                .unwrap_or(1)
                .max(1)
                .min(schema["maximum"].as_i64().unwrap_or(i64::MAX))
        ),
        "number" => json!(1.5),
        "boolean" => json!(true),
        _ => Value::Null,
    }
}

// -- records ------------------------------------------------------------------------------------

fn component_name(name: &str) -> String {
    name.split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Text without control characters (what every text field but long text takes).
const NO_CONTROLS: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";
/// A field's value as the server reads it, for `shape`: a required field refuses empty values
/// (blank text, an empty list), which an optional one takes to clear it ([`or_empty`]).
fn field_schema(field: &FieldSpec, shape: Shape) -> Value {
    let required = field.required && shape != Shape::Record;
    let text = |extra: Value| {
        let mut schema = json!({ "type": "string", "maxLength": field.text_limit() });
        let pattern = match (field.kind, required) {
            (FieldKind::LongText, false) => None,
            (FieldKind::LongText, true) => Some("\\S"),
            (_, false) => Some(NO_CONTROLS),
            // Control characters are refused too (422); a pattern saying both at once is
            // more than generators handle.
            (_, true) => Some("\\S"),
        };
        if let Some(pattern) = pattern {
            schema["pattern"] = json!(pattern);
        }
        if required {
            schema["minLength"] = json!(1);
        }
        if let (Some(schema), Value::Object(extra)) = (schema.as_object_mut(), extra) {
            schema.extend(extra);
        }
        schema
    };
    let options: Vec<&str> = field.options.iter().map(|o| o.value.as_str()).collect();
    let id = json!({ "type": "string", "format": "uuid" });
    // An answer holds each entry once; a body may repeat one, which is kept once.
    let list = |items: Value| {
        let mut schema =
            json!({ "type": "array", "items": items, "maxItems": super::value::MAX_LIST_LEN });
        if shape == Shape::Record {
            schema["uniqueItems"] = json!(true);
        } else {
            schema["description"] = json!("An entry sent twice is kept once.");
        }
        if required {
            schema["minItems"] = json!(1);
        }
        schema
    };
    let mut schema = match field.kind {
        FieldKind::Text | FieldKind::LongText => text(json!({})),
        FieldKind::Phone => text(json!({ "examples": ["+1 (555) 010-2030"] })),
        FieldKind::Email => text(json!({ "format": "email", "examples": ["ada@example.com"] })),
        FieldKind::Url => text(json!({ "format": "uri", "examples": ["https://example.com"] })),
        FieldKind::Integer => json!({ "type": "integer", "format": "int64" }),
        FieldKind::Number => json!({ "type": "number" }),
        FieldKind::Money => json!({
            "type": "object",
            "properties": {
                // Answered as an exact decimal string; a body may also send a JSON number.
                "amount": { "type": if shape == Shape::Record { json!("string") } else { json!(["string", "number"]) }, "pattern": "^-?[0-9]+(\\.[0-9]+)?$", "examples": ["1250.00"] },
                "currency": { "type": "string", "pattern": "^[A-Z]{3}$", "description": "An ISO 4217 code.", "examples": ["EUR"] },
            },
            "required": ["amount", "currency"],
            "additionalProperties": false,
        }),
        FieldKind::Boolean => json!({ "type": "boolean" }),
        FieldKind::Date => json!({ "type": "string", "format": "date" }),
        FieldKind::Datetime => json!({ "type": "string", "format": "date-time" }),
        FieldKind::Select => json!({ "type": "string", "enum": options }),
        FieldKind::MultiSelect => list(json!({ "type": "string", "enum": options })),
        FieldKind::Reference if field.multiple => list(id),
        FieldKind::Reference | FieldKind::User => id,
        FieldKind::Tags => list(
            json!({ "type": "string", "minLength": 1, "maxLength": 64, "pattern": "\\S", "examples": ["vip"] }),
        ),
        FieldKind::Json => json!({}),
    };
    if let Some(object) = schema.as_object_mut() {
        object.insert("title".into(), json!(field.label));
        object.insert("x-kith-type".into(), json!(field.kind.as_str()));
        if let Some(target) = &field.target {
            object.insert("x-kith-target".into(), json!(target));
        }
    }
    schema
}

/// An optional field's schema in a body: its values, or an empty one (`null`, blank text or
/// `[]`), which clears it. The field's annotations stay on the outside.
fn or_empty(mut schema: Value) -> Value {
    let mut outer = Map::new();
    if let Some(inner) = schema.as_object_mut() {
        for key in ["title", "x-kith-type", "x-kith-target", "default"] {
            if let Some(value) = inner.remove(key) {
                outer.insert(key.into(), value);
            }
        }
    }
    outer.insert("anyOf".into(), json!([schema, reference("Empty")]));
    Value::Object(outer)
}

/// What clears a field: `null`, text that is blank, an empty list.
fn empty_schema() -> Value {
    json!({
        "description": "An empty value: clears the field (a create leaves it empty).",
        "anyOf": [
            { "type": "null" },
            { "type": "string", "pattern": "^\\s*$" },
            { "type": "array", "maxItems": 0 },
        ],
    })
}

/// The three shapes of a record: as answered, as a create's body, as an update's body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Record,
    Input,
    Patch,
}

fn record_schema(ty: &EntityType, shape: Shape) -> Value {
    let mut properties = Map::new();
    if shape == Shape::Record {
        let timestamp = json!({ "type": "string", "format": "date-time", "readOnly": true });
        properties.insert(
            "id".into(),
            json!({ "type": "string", "format": "uuid", "readOnly": true }),
        );
        properties.insert(
            "version".into(),
            json!({ "type": "integer", "minimum": 1, "readOnly": true }),
        );
        properties.insert("created_at".into(), timestamp.clone());
        properties.insert("updated_at".into(), timestamp.clone());
        let mut deleted_at = timestamp;
        deleted_at["description"] = json!("Only on a deleted record.");
        properties.insert("deleted_at".into(), deleted_at);
    }
    properties.insert("owner".into(), json!({ "type": ["string", "null"], "format": "uuid", "description": "The owning user; defaults to the creator." }));
    for field in &ty.fields {
        // A field the caller's role may not change is answered, never accepted.
        if shape != Shape::Record && field.read_only {
            continue;
        }
        let mut schema = field_schema(field, shape);
        if let (Shape::Input, Some(default)) = (shape, &field.default) {
            schema["default"] = default.clone();
        }
        match shape {
            Shape::Record if field.read_only => schema["readOnly"] = json!(true),
            Shape::Record => {}
            Shape::Input | Shape::Patch if !field.required => schema = or_empty(schema),
            Shape::Input | Shape::Patch => {}
        }
        properties.insert(field.name.clone(), schema);
    }
    let (title, description, required): (String, &str, Vec<&str>) = match shape {
        Shape::Record => (
            ty.label.clone(),
            "A record as answered. `owner`, `created_at` and `updated_at` are there unless a \
             `fields` projection leaves them out; `deleted_at` only on a deleted record; a field \
             without a value is left out.",
            vec!["id", "version"],
        ),
        Shape::Input => (
            format!("New {}", ty.label),
            "A new record's fields. `null`, \"\" or [] leaves a field empty.",
            ty.fields
                .iter()
                .filter(|f| f.required && !f.read_only)
                .map(|f| f.name.as_str())
                .collect(),
        ),
        Shape::Patch => (
            format!("Changes to a {}", ty.label),
            "Only the fields to change; `null`, \"\" or [] clears a field that is not required.",
            Vec::new(),
        ),
    };
    let mut schema = json!({
        "type": "object",
        "title": title,
        "description": description,
        "properties": properties,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

fn if_match_parameter() -> Value {
    json!({ "name": "If-Match", "in": "header", "required": false, "description": "The version the change is based on, e.g. \"3\" (the ETag); a stale one answers 412. `*` matches any current version. Anything else is a 400.", "schema": { "type": "string", "pattern": "^\\s*(\\*|(W/)?\"?[1-9][0-9]{0,17}\"?)\\s*$" } })
}

/// A record answer, with its version as the ETag.
fn record_answer(description: &str, record: &Value) -> Value {
    let mut response = ok(description, record.clone());
    response["headers"] = json!({ "ETag": { "description": "The record's version, quoted.", "schema": { "type": "string" } } });
    response
}

fn add_type_paths(paths: &mut Paths, ty: &EntityType, name: &str) {
    let base = format!("/api/v1/{}", ty.plural);
    let item = format!("{base}/{{id}}");
    let record = reference(name);
    let input = reference(&format!("{name}Input"));
    let patch = reference(&format!("{name}Patch"));
    let records = data_of(record.clone());
    let tag = ty.label_plural.as_str();
    let op = |id: String, summary: String| Op::new(&id, summary, tag);
    // Every write may pass through a plugin's before-save hook.
    let write = [403, 404, 424];

    let list = json!({
        "type": "object",
        "properties": {
            "data": { "type": "array", "items": record },
            "next_cursor": { "type": ["string", "null"] },
            "total": { "type": "integer", "description": "With `total=true` only." },
        },
        "required": ["data", "next_cursor"],
    });
    let list_op = list_parameters()
        .into_iter()
        .fold(
            op(
                format!("list_{}", ty.plural),
                format!("List {}", ty.label_plural),
            ),
            Op::param,
        )
        .answer(200, "A page of records.", list)
        .errors(&[400, 403]);
    paths.add(&base, "get", list_op);
    let mut created = record_answer("The created record.", &record);
    created["headers"]["Location"] =
        json!({ "description": "The record's URL.", "schema": { "type": "string" } });
    paths.add(
        &base,
        "post",
        op(
            format!("create_{}", ty.name),
            format!("Create a {}", ty.label),
        )
        .json_body(input)
        .respond(201, created)
        .errors(&write)
        .errors(&[422]),
    );

    paths.add(
        &item,
        "get",
        op(format!("get_{}", ty.name), format!("Get a {}", ty.label))
            .query(
                "fields",
                "Comma-separated fields to return (id and version always are).",
                json!({ "type": "string" }),
            )
            .respond(200, record_answer("The record.", &record))
            .errors(&[400, 403, 404]),
    );
    // A change to one record: based on the version If-Match names, answered with the record.
    let change = |verb: &str, summary: String, answer: &str| {
        op(format!("{verb}_{}", ty.name), summary)
            .param(if_match_parameter())
            .respond(200, record_answer(answer, &record))
            .errors(&write)
            .errors(&[400, 412])
    };
    let update = change(
        "update",
        format!("Update a {} (partial)", ty.label),
        "The updated record.",
    );
    paths.add(
        &item,
        "patch",
        update.json_body(patch.clone()).errors(&[422]),
    );
    let delete = change(
        "delete",
        format!("Delete a {} (soft; restorable)", ty.label),
        "The deleted record.",
    );
    paths.add(&item, "delete", delete);
    let restore = change(
        "restore",
        format!("Restore a deleted {}", ty.label),
        "The restored record.",
    );
    paths.add(
        &format!("{item}/restore"),
        "post",
        restore
            .describe("409 when the record is not deleted.")
            .errors(&[409]),
    );

    let batch = json!({
        "type": "object",
        "properties": {
            "operation": { "type": "string", "enum": ["create", "update", "upsert"] },
            "records": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_BATCH,
                "items": {
                    "type": "object",
                    "description": format!("create and upsert: a {name}Input; update: a {name}Patch with the record's `id` and, optionally, the `version` it is based on."),
                },
            },
            "key": { "type": ["string", "null"], "description": "For upsert (required): the field matched against existing records." },
        },
        "required": ["operation", "records"],
        "additionalProperties": false,
    });
    paths.add(
        &format!("{base}/batch"),
        "post",
        op(
            format!("batch_{}", ty.plural),
            format!(
                "Create, update or upsert up to {MAX_BATCH} {} at once, all or nothing",
                ty.label_plural
            ),
        )
        .describe("An item's problem (invalid, not found, forbidden, stale version) fails the batch with 422; `details` carry the item's `index`.")
        .json_body(batch)
        .answer(200, "The written records, in request order.", records.clone())
        .errors(&write)
        .errors(&[422]),
    );

    paths.add(
        &format!("{base}/export"),
        "get",
        op(
            format!("export_{}", ty.plural),
            format!("Export {} as CSV, XLSX or JSON lines", ty.label_plural),
        )
        .describe("The records a list with the same filter and sort shows, as the caller may read them, streamed a page at a time. Columns: `id`, the fields (or `fields`), `owner`, `created_at`, `updated_at`. Cells read back by an import as the same values: money as `1200.50 EUR`, lists joined by `; `, references as ids. A CSV cell that a spreadsheet would run as a formula starts with `'`; XLSX cells are never formulas.")
        .query("format", "`csv`, `xlsx` (at most 1,048,575 rows) or `jsonl` (one record's JSON per line).", json!({ "type": "string", "enum": ["csv", "xlsx", "jsonl"], "default": "csv" }))
        .query("filter", "As for the list.", json!({ "type": "string" }))
        .query("sort", "As for the list.", json!({ "type": "string" }))
        .query("fields", "Comma-separated columns.", json!({ "type": "string" }))
        .respond(200, json!({
            "description": "The file, as an attachment.",
            "content": {
                "text/csv": { "schema": { "type": "string" } },
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": { "schema": { "type": "string", "format": "binary" } },
                "application/x-ndjson": { "schema": { "type": "string" } },
            },
        }))
        .errors(&[400]),
    );

    let Some(key) = ty.duplicate_key.as_deref() else {
        return;
    };
    paths.add(
        &format!("{base}/duplicates"),
        "post",
        op(
            format!("find_duplicate_{}", ty.plural),
            format!("Find {} with the same {key}", ty.label_plural),
        )
        .json_body(patch.clone())
        .answer(200, "Matching records.", records.clone())
        .errors(&[403, 422]),
    );
    paths.add(
        &format!("{item}/duplicates"),
        "get",
        op(
            format!("duplicates_of_{}", ty.name),
            format!("Duplicates of a {}", ty.label),
        )
        .answer(200, "Matching records.", records)
        .errors(&[403, 404]),
    );
    let merge = json!({
        "type": "object",
        "properties": {
            "ids": { "type": "array", "items": { "type": "string", "format": "uuid" }, "minItems": 1, "maxItems": super::merge::MAX_MERGE, "description": "The records merged into this one." },
            "values": { "allOf": [patch], "description": "Values that win over the survivor's and the merged records'." },
        },
        "required": ["ids"],
        "additionalProperties": false,
    });
    paths.add(
        &format!("{item}/merge"),
        "post",
        op(format!("merge_{}", ty.plural), format!("Merge {} into this one", ty.label_plural))
            .describe("One write: the survivor is updated, references to the merged records point to it, and the merged records are deleted. A record changed since it was read refuses the merge with 412.")
            .json_body(merge)
            .respond(200, record_answer("The surviving record.", &record))
            .errors(&write)
            .errors(&[412, 422]),
    );
}

fn list_parameters() -> Vec<Value> {
    let query = |name: &str, description: &str, schema: Value| json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema });
    vec![
        query(
            "filter",
            "Conditions `field[op]:value` combined with and(…), or(…), not(…). Ops: eq, neq, lt, lte, gt, gte, in (values split by |), contains, starts_with, is_empty; dates accept now, today, start_of_month… with offsets such as today-7d.",
            json!({ "type": "string" }),
        ),
        query(
            "sort",
            "Comma-separated fields; a leading - sorts descending. The id breaks ties.",
            json!({ "type": "string" }),
        ),
        query(
            "fields",
            "Comma-separated fields to return (id and version always are).",
            json!({ "type": "string" }),
        ),
        query(
            "limit",
            "Page size.",
            json!({ "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT }),
        ),
        query(
            "cursor",
            "The next_cursor of the previous page.",
            json!({ "type": "string" }),
        ),
        query(
            "total",
            "Also count every matching record.",
            json!({ "type": "boolean", "default": false }),
        ),
        query(
            "deleted",
            "List soft-deleted records (the trash) instead.",
            json!({ "type": "boolean", "default": false }),
        ),
    ]
}

fn error_schema() -> Value {
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    json!({
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": { "type": "string", "enum": codes, "description": "Stable snake_case code." },
                    "message": { "type": "string" },
                    "details": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "index": { "type": "integer", "description": "Item of a batch." },
                                "field": { "type": "string" },
                                "code": { "type": "string", "description": "Stable snake_case code; a plugin's refusals bring codes of their own." },
                                "message": { "type": "string" },
                            },
                            "required": ["field", "code", "message"],
                        },
                    },
                },
                "required": ["code", "message"],
            },
        },
        "required": ["error"],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::schema::builtin_types;

    /// Every `$ref` in the document points at something that exists.
    fn dangling_refs(doc: &Value, node: &Value, out: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    let path = target.trim_start_matches("#/");
                    if doc.pointer(&format!("/{path}")).is_none() {
                        out.push(target.clone());
                    }
                }
                map.values().for_each(|v| dangling_refs(doc, v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| dangling_refs(doc, v, out)),
            _ => {}
        }
    }

    #[test]
    fn document_is_openapi_3_1_with_resolvable_refs_and_unique_operation_ids() {
        let doc = document(&Schema::new(builtin_types()), "http://127.0.0.1:8080");
        assert_eq!(doc["openapi"], "3.1.0");
        let mut dangling = Vec::new();
        dangling_refs(&doc, &doc, &mut dangling);
        assert!(dangling.is_empty(), "dangling refs: {dangling:?}");
        let mut ids = std::collections::HashSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("item") {
                if method == "parameters" {
                    continue;
                }
                let id = op["operationId"].as_str().expect("operationId");
                assert!(ids.insert(id.to_owned()), "{id} repeated ({path})");
                assert!(
                    op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                    "{path} {method}"
                );
            }
        }
        assert_eq!(
            doc["components"]["schemas"]["Contact"]["properties"]["company"]["x-kith-target"],
            "company"
        );
        assert_eq!(
            doc["components"]["schemas"]["CompanyInput"]["required"],
            json!(["name"])
        );
    }

    /// What the server refuses, the schemas refuse: a required text field blank, a required
    /// list empty, an empty batch; and an optional field takes each empty value, which clears it.
    #[test]
    fn schemas_refuse_what_the_server_refuses_and_take_empty_values_for_optional_fields() {
        let doc = document(&Schema::new(builtin_types()), "http://127.0.0.1:8080");
        let schemas = &doc["components"]["schemas"];
        for shape in ["CompanyInput", "CompanyPatch"] {
            let name = &schemas[shape]["properties"]["name"];
            assert_eq!(name["minLength"], 1, "{shape}");
            let pattern = name["pattern"].as_str().expect("pattern");
            assert_eq!(pattern, "\\S", "{shape}");
        }
        assert_eq!(
            schemas["Company"]["properties"]["name"].get("minLength"),
            None
        );
        let empty = &schemas["Empty"]["anyOf"];
        assert_eq!(empty[0]["type"], "null");
        assert_eq!(empty[1]["pattern"], "^\\s*$");
        assert_eq!(empty[2]["maxItems"], 0);
        let batch = &doc["paths"]["/api/v1/companies/batch"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"];
        assert_eq!(batch["properties"]["records"]["minItems"], 1);
        assert_eq!(
            schemas["Company"]["required"],
            json!(["id", "version"]),
            "a projection may leave the rest out"
        );
    }

    /// Every operation shows an example of what it takes and what it answers, made from its
    /// schemas; a create's example holds what the type requires.
    #[test]
    fn every_json_body_and_answer_has_an_example() {
        let doc = document(&Schema::new(builtin_types()), "http://127.0.0.1:8080");
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("item") {
                if method == "parameters" {
                    continue;
                }
                if let Some(media) = op.pointer("/requestBody/content/application~1json") {
                    assert!(media["example"].is_object(), "{method} {path}: {media}");
                }
                for (status, response) in op["responses"].as_object().expect("responses") {
                    if let Some(media) = response.pointer("/content/application~1json") {
                        assert!(!media["example"].is_null(), "{method} {path} {status}");
                    }
                }
            }
        }
        for (name, response) in doc["components"]["responses"]
            .as_object()
            .expect("responses")
        {
            let code = &response["content"]["application/json"]["example"]["error"]["code"];
            assert!(
                code.as_str()
                    .is_some_and(|c| ErrorCode::ALL.iter().any(|e| e.as_str() == c)),
                "{name}: {code}"
            );
        }
        let create = &doc["paths"]["/api/v1/companies"]["post"]["requestBody"]["content"]["application/json"]
            ["example"];
        assert_eq!(create, &json!({ "name": "Example" }));
        let created = &doc["paths"]["/api/v1/companies"]["post"]["responses"]["201"];
        assert!(created["content"]["application/json"]["example"]["id"].is_string());
        assert!(
            created["headers"]["Location"].is_object() && created["headers"]["ETag"].is_object()
        );
    }

    /// An update sends only what changes: nothing in its body is required, and an optional
    /// field may be cleared with `null`; a create must send the required fields.
    #[test]
    fn patch_bodies_require_nothing_and_accept_null_for_optional_fields() {
        let doc = document(&Schema::new(builtin_types()), "http://127.0.0.1:8080");
        let schemas = &doc["components"]["schemas"];
        assert!(schemas["CompanyPatch"].get("required").is_none());
        assert_eq!(
            schemas["CompanyPatch"]["properties"]["name"]["type"],
            "string"
        );
        let domain = &schemas["CompanyPatch"]["properties"]["domain"];
        assert_eq!(domain["anyOf"][0]["type"], "string");
        assert_eq!(domain["anyOf"][1]["$ref"], "#/components/schemas/Empty");
        let patch = &doc["paths"]["/api/v1/companies/{id}"]["patch"];
        assert_eq!(
            patch["requestBody"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/CompanyPatch"
        );
        assert_eq!(
            doc["paths"]["/api/v1/companies/{id}/restore"]["post"]["responses"]["409"]["$ref"],
            "#/components/responses/Conflict"
        );
    }
}
