//! The OpenAPI 3.1 document of a workspace's API, generated from the same metadata that
//! validates writes — so custom fields and custom types appear in it as soon as they exist.

use serde_json::{Map, Value, json};

use super::MAX_BATCH;
use super::api::{DEFAULT_LIMIT, MAX_LIMIT};
use super::schema::{EntityType, FieldKind, FieldSpec, Schema};

pub fn document(schema: &Schema, server: &str) -> Value {
    let mut paths = Map::new();
    let mut components = Map::new();
    components.insert("Error".into(), error_schema());
    components.insert("AuditEntry".into(), audit_schema());
    components.insert("EntityType".into(), json!({ "type": "object", "description": "An entity type and its fields, as served by /api/v1/meta/entities." }));
    for ty in schema.types() {
        let name = component_name(&ty.name);
        components.insert(name.clone(), record_schema(ty, true));
        components.insert(format!("{name}Input"), record_schema(ty, false));
        add_type_paths(&mut paths, ty, &name);
    }
    add_common_paths(&mut paths);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Kith API",
            "version": "1",
            "description": "Records of every entity type of this workspace. Errors are always \
                {\"error\": {\"code\", \"message\", \"details\"}} with stable snake_case codes.",
        },
        "servers": [{ "url": server }],
        "security": [{ "bearer": [] }],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "responses": standard_responses(),
        },
    })
}

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

fn field_schema(field: &FieldSpec) -> Value {
    let text = |extra: Value| {
        let mut schema = json!({ "type": "string", "maxLength": field.text_limit() });
        if let (Some(schema), Value::Object(extra)) = (schema.as_object_mut(), extra) {
            schema.extend(extra);
        }
        schema
    };
    let options: Vec<&str> = field.options.iter().map(|o| o.value.as_str()).collect();
    let id = json!({ "type": "string", "format": "uuid" });
    let mut schema = match field.kind {
        FieldKind::Text | FieldKind::LongText | FieldKind::Phone => text(json!({})),
        FieldKind::Email => text(json!({ "format": "email" })),
        FieldKind::Url => text(json!({ "format": "uri" })),
        FieldKind::Integer => json!({ "type": "integer", "format": "int64" }),
        FieldKind::Number => json!({ "type": "number" }),
        FieldKind::Money => json!({
            "type": "object",
            "properties": {
                "amount": { "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$" },
                "currency": { "type": "string", "pattern": "^[A-Z]{3}$" },
            },
            "required": ["amount", "currency"],
            "additionalProperties": false,
        }),
        FieldKind::Boolean => json!({ "type": "boolean" }),
        FieldKind::Date => json!({ "type": "string", "format": "date" }),
        FieldKind::Datetime => json!({ "type": "string", "format": "date-time" }),
        FieldKind::Select => json!({ "type": "string", "enum": options }),
        FieldKind::MultiSelect => {
            json!({ "type": "array", "items": { "type": "string", "enum": options }, "uniqueItems": true })
        }
        FieldKind::Reference if field.multiple => {
            json!({ "type": "array", "items": id, "uniqueItems": true })
        }
        FieldKind::Reference | FieldKind::User => id,
        FieldKind::Tags => {
            json!({ "type": "array", "items": { "type": "string", "minLength": 1, "maxLength": 64 }, "uniqueItems": true })
        }
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

/// A record (`full`: with system keys, as returned) or a request body (fields only).
fn record_schema(ty: &EntityType, full: bool) -> Value {
    let mut properties = Map::new();
    let timestamp = json!({ "type": "string", "format": "date-time", "readOnly": true });
    if full {
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
        properties.insert("deleted_at".into(), timestamp);
    }
    properties.insert("owner".into(), json!({ "type": ["string", "null"], "format": "uuid", "description": "The owning user; defaults to the creator." }));
    for field in &ty.fields {
        properties.insert(field.name.clone(), field_schema(field));
    }
    let mut schema = json!({
        "type": "object",
        "title": ty.label,
        "properties": properties,
        "additionalProperties": false,
    });
    let required: Vec<&str> = if full {
        vec!["id", "version", "created_at", "updated_at"]
    } else {
        ty.fields
            .iter()
            .filter(|f| f.required)
            .map(|f| f.name.as_str())
            .collect()
    };
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_content(schema: Value) -> Value {
    json!({ "application/json": { "schema": schema } })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": json_content(schema) })
}

fn error_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

fn standard_responses() -> Value {
    let error = |description: &str| json!({ "description": description, "content": json_content(reference("Error")) });
    json!({
        "BadRequest": error("Malformed JSON, parameters, filter, sort or cursor."),
        "Unauthorized": error("Missing, invalid, expired or revoked token."),
        "Forbidden": error("The caller's role does not allow this."),
        "NotFound": error("Unknown entity type, or no such record in this workspace."),
        "PreconditionFailed": error("If-Match named a version that is no longer current."),
        "PayloadTooLarge": error("The body or the batch is too large."),
        "UnprocessableEntity": error("Field values failed validation; `details` lists each."),
    })
}

fn with_errors(mut responses: Map<String, Value>, codes: &[(&str, &str)]) -> Value {
    for (status, name) in codes {
        responses.insert((*status).to_owned(), error_ref(name));
    }
    responses.insert("401".into(), error_ref("Unauthorized"));
    Value::Object(responses)
}

fn list_parameters() -> Value {
    let query = |name: &str, description: &str, schema: Value| json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema });
    json!([
        query(
            "filter",
            "Conditions `field[op]:value` combined with and(…), or(…), not(…). Ops: eq, neq, lt, lte, gt, gte, in (values split by |), contains, starts_with, is_empty; dates accept now, today, start_of_month… with offsets such as today-7d.",
            json!({ "type": "string" })
        ),
        query(
            "sort",
            "Comma-separated fields; a leading - sorts descending. The id breaks ties.",
            json!({ "type": "string" })
        ),
        query(
            "fields",
            "Comma-separated fields to return (id and version always are).",
            json!({ "type": "string" })
        ),
        query(
            "limit",
            "Page size.",
            json!({ "type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT })
        ),
        query(
            "cursor",
            "The next_cursor of the previous page.",
            json!({ "type": "string" })
        ),
        query(
            "total",
            "Also count every matching record.",
            json!({ "type": "boolean", "default": false })
        ),
        query(
            "deleted",
            "List soft-deleted records (the trash) instead.",
            json!({ "type": "boolean", "default": false })
        ),
    ])
}

fn id_parameter() -> Value {
    json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } })
}

fn if_match_parameter() -> Value {
    json!({ "name": "If-Match", "in": "header", "required": false, "description": "The version the change is based on, e.g. \"3\"; a stale one answers 412.", "schema": { "type": "string" } })
}

fn add_type_paths(paths: &mut Map<String, Value>, ty: &EntityType, name: &str) {
    let base = format!("/api/v1/{}", ty.plural);
    let record = reference(name);
    let input = reference(&format!("{name}Input"));
    let list = json!({
        "type": "object",
        "properties": {
            "data": { "type": "array", "items": record },
            "next_cursor": { "type": ["string", "null"] },
            "total": { "type": "integer" },
        },
        "required": ["data", "next_cursor"],
    });
    let records = json!({ "type": "object", "properties": { "data": { "type": "array", "items": record } }, "required": ["data"] });
    let tag = json!([ty.label_plural]);
    let op = |id: &str, summary: String, responses: Value| json!({ "operationId": id, "summary": summary, "tags": tag, "responses": responses });

    let mut collection = Map::new();
    let mut list_op = op(
        &format!("list_{}", ty.plural),
        format!("List {}", ty.label_plural),
        with_errors(
            Map::from_iter([("200".to_owned(), ok("A page of records.", list.clone()))]),
            &[("400", "BadRequest"), ("404", "NotFound")],
        ),
    );
    list_op["parameters"] = list_parameters();
    collection.insert("get".into(), list_op);
    let mut create = op(
        &format!("create_{}", ty.name),
        format!("Create a {}", ty.label),
        with_errors(
            Map::from_iter([("201".to_owned(), ok("The created record.", record.clone()))]),
            &[
                ("400", "BadRequest"),
                ("413", "PayloadTooLarge"),
                ("422", "UnprocessableEntity"),
            ],
        ),
    );
    create["requestBody"] = json!({ "required": true, "content": json_content(input.clone()) });
    collection.insert("post".into(), create);
    paths.insert(base.clone(), Value::Object(collection));

    let mut item = Map::new();
    let mut get_op = op(
        &format!("get_{}", ty.name),
        format!("Get a {}", ty.label),
        with_errors(
            Map::from_iter([("200".to_owned(), ok("The record.", record.clone()))]),
            &[("404", "NotFound")],
        ),
    );
    get_op["parameters"] = json!([{ "name": "fields", "in": "query", "required": false, "schema": { "type": "string" } }]);
    item.insert("get".into(), get_op);
    let mut patch = op(
        &format!("update_{}", ty.name),
        format!("Update a {} (partial)", ty.label),
        with_errors(
            Map::from_iter([("200".to_owned(), ok("The updated record.", record.clone()))]),
            &[
                ("400", "BadRequest"),
                ("404", "NotFound"),
                ("412", "PreconditionFailed"),
                ("422", "UnprocessableEntity"),
            ],
        ),
    );
    patch["parameters"] = json!([if_match_parameter()]);
    patch["requestBody"] = json!({ "required": true, "content": json_content(input.clone()) });
    item.insert("patch".into(), patch);
    let mut delete = op(
        &format!("delete_{}", ty.name),
        format!("Delete a {} (soft; restorable)", ty.label),
        with_errors(
            Map::from_iter([("200".to_owned(), ok("The deleted record.", record.clone()))]),
            &[("404", "NotFound"), ("412", "PreconditionFailed")],
        ),
    );
    delete["parameters"] = json!([if_match_parameter()]);
    item.insert("delete".into(), delete);
    item.insert("parameters".into(), json!([id_parameter()]));
    paths.insert(format!("{base}/{{id}}"), Value::Object(item));

    let restore = op(
        &format!("restore_{}", ty.name),
        format!("Restore a deleted {}", ty.label),
        with_errors(
            Map::from_iter([("200".to_owned(), ok("The restored record.", record.clone()))]),
            &[("404", "NotFound"), ("412", "PreconditionFailed")],
        ),
    );
    paths.insert(
        format!("{base}/{{id}}/restore"),
        json!({ "parameters": [id_parameter()], "post": restore }),
    );

    let mut batch = op(
        &format!("batch_{}", ty.plural),
        format!(
            "Create, update or upsert up to {MAX_BATCH} {} at once, all or nothing",
            ty.label_plural
        ),
        with_errors(
            Map::from_iter([(
                "200".to_owned(),
                ok("The written records, in request order.", records.clone()),
            )]),
            &[
                ("400", "BadRequest"),
                ("413", "PayloadTooLarge"),
                ("422", "UnprocessableEntity"),
            ],
        ),
    );
    batch["requestBody"] = json!({ "required": true, "content": json_content(json!({
        "type": "object",
        "properties": {
            "operation": { "type": "string", "enum": ["create", "update", "upsert"] },
            "records": { "type": "array", "maxItems": MAX_BATCH, "items": { "type": "object" } },
            "key": { "type": "string", "description": "For upsert: the field matched against existing records." },
        },
        "required": ["operation", "records"],
        "additionalProperties": false,
    })) });
    paths.insert(format!("{base}/batch"), json!({ "post": batch }));

    if ty.duplicate_key.is_some() {
        let mut check = op(
            &format!("find_duplicate_{}", ty.plural),
            format!(
                "Find {} with the same {}",
                ty.label_plural,
                ty.duplicate_key.as_deref().unwrap_or_default()
            ),
            with_errors(
                Map::from_iter([("200".to_owned(), ok("Matching records.", records.clone()))]),
                &[("400", "BadRequest"), ("422", "UnprocessableEntity")],
            ),
        );
        check["requestBody"] = json!({ "required": true, "content": json_content(input) });
        paths.insert(format!("{base}/duplicates"), json!({ "post": check }));
        let of_record = op(
            &format!("duplicates_of_{}", ty.name),
            format!("Duplicates of a {}", ty.label),
            with_errors(
                Map::from_iter([("200".to_owned(), ok("Matching records.", records))]),
                &[("404", "NotFound")],
            ),
        );
        paths.insert(
            format!("{base}/{{id}}/duplicates"),
            json!({ "parameters": [id_parameter()], "get": of_record }),
        );
        let mut merge = op(
            &format!("merge_{}", ty.plural),
            format!("Merge {} into this one", ty.label_plural),
            with_errors(
                Map::from_iter([("200".to_owned(), ok("The surviving record.", record))]),
                &[
                    ("400", "BadRequest"),
                    ("404", "NotFound"),
                    ("422", "UnprocessableEntity"),
                ],
            ),
        );
        merge["requestBody"] = json!({ "required": true, "content": json_content(json!({
            "type": "object",
            "properties": {
                "ids": { "type": "array", "items": { "type": "string", "format": "uuid" }, "minItems": 1, "maxItems": super::merge::MAX_MERGE },
                "values": { "type": "object" },
            },
            "required": ["ids"],
            "additionalProperties": false,
        })) });
        paths.insert(
            format!("{base}/{{id}}/merge"),
            json!({ "parameters": [id_parameter()], "post": merge }),
        );
    }
}

fn add_common_paths(paths: &mut Map<String, Value>) {
    let entities = json!({ "type": "object", "properties": { "data": { "type": "array", "items": reference("EntityType") } } });
    paths.insert("/api/v1/meta/entities".into(), json!({
        "get": { "operationId": "list_entities", "summary": "Every entity type and its fields", "tags": ["Metadata"], "responses": with_errors(Map::from_iter([("200".to_owned(), ok("The types.", entities))]), &[]) },
        "post": {
            "operationId": "create_entity",
            "summary": "Add a custom entity type (admins)",
            "tags": ["Metadata"],
            "requestBody": { "required": true, "content": json_content(reference("EntityType")) },
            "responses": with_errors(Map::from_iter([("201".to_owned(), ok("The created type.", reference("EntityType")))]), &[("400", "BadRequest"), ("403", "Forbidden"), ("422", "UnprocessableEntity")]),
        },
    }));
    paths.insert("/api/v1/meta/entities/{entity}/fields".into(), json!({
        "parameters": [{ "name": "entity", "in": "path", "required": true, "schema": { "type": "string" } }],
        "post": {
            "operationId": "create_field",
            "summary": "Add a custom field to a type (admins)",
            "tags": ["Metadata"],
            "requestBody": { "required": true, "content": json_content(json!({ "type": "object" })) },
            "responses": with_errors(Map::from_iter([("201".to_owned(), ok("The created field.", json!({ "type": "object" })))]), &[("400", "BadRequest"), ("403", "Forbidden"), ("404", "NotFound"), ("422", "UnprocessableEntity")]),
        },
    }));
    let audit = json!({ "type": "object", "properties": { "data": { "type": "array", "items": reference("AuditEntry") }, "next_cursor": { "type": ["string", "null"] } } });
    paths.insert("/api/v1/audit".into(), json!({
        "get": {
            "operationId": "list_audit",
            "summary": "Who changed what, when: a record's trail, or the workspace's (admins)",
            "tags": ["Audit"],
            "parameters": [
                { "name": "record", "in": "query", "required": false, "schema": { "type": "string", "format": "uuid" } },
                { "name": "cursor", "in": "query", "required": false, "schema": { "type": "string" } },
                { "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": MAX_LIMIT } },
            ],
            "responses": with_errors(Map::from_iter([("200".to_owned(), ok("Audit entries, oldest first.", audit))]), &[("400", "BadRequest"), ("403", "Forbidden")]),
        },
    }));
    paths.insert("/api/v1/openapi.json".into(), json!({
        "get": { "operationId": "get_openapi", "summary": "This document", "tags": ["Metadata"], "responses": with_errors(Map::from_iter([("200".to_owned(), ok("The OpenAPI document.", json!({ "type": "object" })))]), &[]) },
    }));
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": { "type": "string", "description": "Stable snake_case code." },
                    "message": { "type": "string" },
                    "details": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "index": { "type": "integer", "description": "Item of a batch." },
                                "field": { "type": "string" },
                                "code": { "type": "string" },
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

fn audit_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": { "type": "integer" },
            "record_id": { "type": "string", "format": "uuid" },
            "entity_type": { "type": "string" },
            "action": { "type": "string", "enum": ["created", "updated", "deleted", "restored", "merged"] },
            "actor": { "type": ["string", "null"], "format": "uuid" },
            "at": { "type": "string", "format": "date-time" },
            "changes": { "type": "object", "description": "field → {before, after}" },
        },
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
}
