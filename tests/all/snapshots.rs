//! Snapshots of API responses, so a change to what clients see is a reviewed change.
//! Ids, owners and timestamps are redacted.

use insta::assert_json_snapshot;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{Backend, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_error_and_metadata_shapes() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    let created = app.post("/api/v1/contacts", &json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ADA@example.com", "tags": ["vip", "vip"]})).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_json_snapshot!("created_contact", created.body, {
        ".id" => "[id]",
        ".owner" => "[user]",
        ".created_at" => "[time]",
        ".updated_at" => "[time]",
    });

    let invalid = app
        .post(
            "/api/v1/contacts",
            &json!({"email": "nope", "shoe_size": 9}),
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_json_snapshot!("validation_error", invalid.body);

    let contact_type = app.get("/api/v1/meta/entities/contacts").await;
    assert_json_snapshot!("contact_type", contact_type.body);

    let openapi = app.get("/api/v1/openapi.json").await;
    let paths: Vec<&String> = openapi.body["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .collect();
    assert_json_snapshot!("openapi_paths", paths);
}
