//! Run-time metadata: custom fields of every type, custom entity types, and the OpenAPI
//! document generated from them.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, on_both};

/// One custom field of each kind, with a valid and an invalid value.
fn field_table(company_id: &str, user_id: &str) -> Vec<(Value, Value, Value, &'static str)> {
    vec![
        (
            json!({"name": "nickname", "type": "text", "max_length": 5}),
            json!("Ada"),
            json!("Adaline"),
            "too_long",
        ),
        (
            json!({"name": "bio", "type": "long_text"}),
            json!("Line one\nLine two"),
            json!(7),
            "invalid_type",
        ),
        (
            json!({"name": "work_email", "type": "email"}),
            json!("Ada@Work.example"),
            json!("ada@"),
            "invalid_email",
        ),
        (
            json!({"name": "mobile", "type": "phone"}),
            json!("+44 7700 900123"),
            json!("mobile"),
            "invalid_phone",
        ),
        (
            json!({"name": "blog", "type": "url"}),
            json!("https://ada.example/blog"),
            json!("ada.example"),
            "invalid_url",
        ),
        (
            json!({"name": "age", "type": "integer", "indexed": true}),
            json!(36),
            json!("36"),
            "invalid_type",
        ),
        (
            json!({"name": "score", "type": "number"}),
            json!(0.75),
            json!(true),
            "invalid_type",
        ),
        (
            json!({"name": "budget", "type": "money"}),
            json!({"amount": "1500.00", "currency": "gbp"}),
            json!({"amount": "1500"}),
            "invalid_currency",
        ),
        (
            json!({"name": "active", "type": "boolean"}),
            json!(true),
            json!("yes"),
            "invalid_type",
        ),
        (
            json!({"name": "birthday", "type": "date"}),
            json!("1815-12-10"),
            json!("10/12/1815"),
            "invalid_date",
        ),
        (
            json!({"name": "last_seen", "type": "datetime"}),
            json!("2026-11-22T10:00:00Z"),
            json!("yesterday"),
            "invalid_datetime",
        ),
        (
            json!({"name": "level", "type": "select", "options": [{"value": "gold"}, {"value": "silver"}]}),
            json!("gold"),
            json!("bronze"),
            "invalid_option",
        ),
        (
            json!({"name": "channels", "type": "multi_select", "options": [{"value": "email"}, {"value": "phone"}]}),
            json!(["email"]),
            json!(["fax"]),
            "invalid_option",
        ),
        (
            json!({"name": "employer", "type": "reference", "target": "company"}),
            json!(company_id),
            json!("not-an-id"),
            "invalid_reference",
        ),
        (
            json!({"name": "account_manager", "type": "user"}),
            json!(user_id),
            json!(company_id),
            "user_not_found",
        ),
        (
            json!({"name": "labels", "type": "tags"}),
            json!(["a", "b"]),
            json!([""]),
            "invalid_tag",
        ),
        (
            json!({"name": "extra", "type": "json"}),
            json!({"any": ["thing", 1]}),
            json!({"big": "x".repeat(70_000)}),
            "too_long",
        ),
    ]
}

on_both! {
    async fn field_defaults_fill_creates_that_leave_them_out(app: TestApp) {
        let field = app.post("/api/v1/meta/entities/contact/fields", &json!({ "name": "tier", "type": "select", "options": ["bronze", "gold"], "default": "bronze" })).await;
        assert_eq!(field.status, StatusCode::CREATED, "{}", field.body);
        let bad = app.post("/api/v1/meta/entities/contact/fields", &json!({ "name": "stars", "type": "integer", "default": "many" })).await;
        assert_eq!(bad.body["error"]["details"][0]["code"], "invalid_default", "{}", bad.body);
        let wrong_option = app.post("/api/v1/meta/entities/contact/fields", &json!({ "name": "level", "type": "select", "options": ["a"], "default": "b" })).await;
        assert_eq!(wrong_option.body["error"]["details"][0]["field"], "default", "{}", wrong_option.body);
        let left_out = app.create("contacts", json!({ "last_name": "Plain" })).await;
        assert_eq!(left_out["tier"], "bronze");
        let given = app.create("contacts", json!({ "last_name": "Shiny", "tier": "gold" })).await;
        assert_eq!(given["tier"], "gold");
        let cleared = app.create("contacts", json!({ "last_name": "None", "tier": null })).await;
        assert!(cleared.get("tier").is_none(), "an explicit null is kept: {cleared}");
        let id = left_out["id"].as_str().unwrap();
        let updated = app.patch(&format!("/api/v1/contacts/{id}"), &json!({ "tier": null }), None).await;
        assert!(updated.body.get("tier").is_none(), "defaults apply to creates only");
        let batch = app.post("/api/v1/contacts/batch", &json!({ "operation": "upsert", "key": "last_name", "records": [{ "last_name": "Fresh" }] })).await;
        assert_eq!(batch.body["data"][0]["tier"], "bronze", "{}", batch.body);
    }

    async fn custom_fields_of_every_type_are_validated_filtered_and_sorted(app: TestApp) {
        let company = app.create("companies", json!({"name": "Acme"})).await;
        let me = app.create("contacts", json!({})).await["owner"].as_str().unwrap().to_owned();
        for (spec, valid, invalid, code) in field_table(company["id"].as_str().unwrap(), &me) {
            let name = spec["name"].as_str().unwrap().to_owned();
            let created = app.post("/api/v1/meta/entities/contacts/fields", &spec).await;
            assert_eq!(created.status, StatusCode::CREATED, "{name}: {}", created.body);
            assert_eq!(created.body["custom"], true);
            let ok = app.post("/api/v1/contacts", &json!({ name.as_str(): valid })).await;
            assert_eq!(ok.status, StatusCode::CREATED, "{name} accepts {valid}: {}", ok.body);
            let bad = app.post("/api/v1/contacts", &json!({ name.as_str(): invalid })).await;
            assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{name} refuses {invalid}");
            assert_eq!(bad.body["error"]["details"][0]["code"], code, "{name}: {}", bad.body);
        }
        let by_age = app.all("contacts", "filter=age%5Bgte%5D%3A30&sort=-age").await;
        assert_eq!(by_age.len(), 1);
        assert_eq!(by_age[0]["age"], 36);
        let gold = app.all("contacts", "filter=level%5Beq%5D%3Agold").await;
        assert_eq!(gold.len(), 1);
        let dup = app.post("/api/v1/meta/entities/contacts/fields", &json!({"name": "age", "type": "integer"})).await;
        assert_eq!(dup.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(dup.body["error"]["details"][0]["code"], "already_exists");
        let reserved = app.post("/api/v1/meta/entities/contacts/fields", &json!({"name": "owner", "type": "text"})).await;
        assert_eq!(reserved.body["error"]["details"][0]["code"], "reserved_name");
        let unknown_kind = app.post("/api/v1/meta/entities/contacts/fields", &json!({"name": "x", "type": "colour"})).await;
        assert_eq!(unknown_kind.status, StatusCode::BAD_REQUEST);
        assert_eq!(unknown_kind.code(), "invalid_body");
        let meta = app.get("/api/v1/meta/entities/contacts").await;
        let names: Vec<&str> = meta.body["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
        assert!(names.ends_with(&["extra"]) && names.contains(&"age"), "{names:?}");
    }

    async fn custom_types_become_full_api_types_with_openapi(app: TestApp) {
        let ty = json!({
            "name": "project",
            "plural": "projects",
            "title_fields": ["title"],
            "fields": [
                {"name": "title", "type": "text", "required": true, "indexed": true},
                {"name": "client", "type": "reference", "target": "company"},
                {"name": "stage", "type": "select", "options": [{"value": "planned"}, {"value": "running"}]},
            ],
            "indexes": [["stage", "owner", "client"]],
        });
        // An index over a key the type does not have is refused, naming the index.
        let mut bad_index = ty.clone();
        bad_index["indexes"] = json!([["stage"], ["stage", "budget"]]);
        let refused = app.post("/api/v1/meta/entities", &bad_index).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        assert_eq!(refused.body["error"]["details"][0]["field"], "indexes.1", "{}", refused.body);
        assert_eq!(refused.body["error"]["details"][0]["code"], "invalid_index", "{}", refused.body);
        let created = app.post("/api/v1/meta/entities", &ty).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["indexes"], json!([["stage", "owner", "client"]]), "{}", created.body);
        let again = app.post("/api/v1/meta/entities", &ty).await;
        assert_eq!(again.status, StatusCode::UNPROCESSABLE_ENTITY);
        let project = app.create("projects", json!({"title": "Rollout", "stage": "running"})).await;
        let listed = app.all("projects", "filter=stage%5Beq%5D%3Arunning").await;
        assert_eq!(listed[0]["id"], project["id"]);
        let missing = app.post("/api/v1/projects", &json!({"stage": "planned"})).await;
        assert_eq!(missing.body["error"]["details"][0]["field"], "title");

        app.post("/api/v1/meta/entities/contacts/fields", &json!({"name": "shoe_size", "type": "integer"})).await;
        let doc = app.get("/api/v1/openapi.json").await;
        assert_eq!(doc.status, StatusCode::OK);
        assert_eq!(doc.body["openapi"], "3.1.0");
        let schemas = &doc.body["components"]["schemas"];
        assert_eq!(schemas["Contact"]["properties"]["shoe_size"]["type"], "integer");
        assert_eq!(schemas["ProjectInput"]["required"], json!(["title"]));
        assert_eq!(schemas["Project"]["properties"]["stage"]["enum"], json!(["planned", "running"]));
        for path in ["/api/v1/projects", "/api/v1/projects/{id}", "/api/v1/projects/batch", "/api/v1/contacts/{id}/merge"] {
            assert!(doc.body["paths"].get(path).is_some(), "{path} documented");
        }
        assert!(doc.body["paths"].get("/api/v1/projects/{id}/merge").is_none(), "no merge without a duplicate key");
    }

    async fn only_admins_change_metadata(app: TestApp) {
        let member = app.user("acme", "member@acme.test", "member").await;
        let reply = app.request(reqwest::Method::POST, "/api/v1/meta/entities/contacts/fields", Some(&json!({"name": "x", "type": "text"})), Some(&member), &[]).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert_eq!(reply.code(), "forbidden");
        let read = app.request(reqwest::Method::GET, "/api/v1/meta/entities", None, Some(&member), &[]).await;
        assert_eq!(read.status, StatusCode::OK);
        assert_eq!(read.data().len(), 3);
    }
}
