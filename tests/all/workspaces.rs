//! Authentication and tenant isolation: a token sees only its own workspace.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, on_both};

on_both! {
    async fn missing_or_invalid_tokens_get_a_json_401(app: TestApp) {
        for token in [None, Some("kith_0000"), Some("")] {
            let reply = app.request(Method::GET, "/api/v1/contacts", None, token, &[]).await;
            assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{token:?}");
            assert_eq!(reply.code(), "unauthorized");
        }
        let basic = app.request(Method::GET, "/api/v1/contacts", None, None, &[("Authorization", "Basic YTpi")]).await;
        assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    }

    async fn workspaces_never_see_each_other(app: TestApp) {
        let other = app.user("globex", "admin@globex.test", "admin").await;
        let mine = app.create("contacts", json!({"first_name": "Ada", "email": "same@example.com"})).await;
        let theirs = app.request(Method::POST, "/api/v1/contacts", Some(&json!({"first_name": "Eve", "email": "same@example.com"})), Some(&other), &[]).await;
        assert_eq!(theirs.status, StatusCode::CREATED, "the same email may exist in two workspaces");

        let id = mine["id"].as_str().unwrap();
        for (method, path, body) in [
            (Method::GET, format!("/api/v1/contacts/{id}"), None),
            (Method::PATCH, format!("/api/v1/contacts/{id}"), Some(json!({"first_name": "Mallory"}))),
            (Method::DELETE, format!("/api/v1/contacts/{id}"), None),
            (Method::POST, format!("/api/v1/contacts/{id}/restore"), Some(json!({}))),
            (Method::GET, format!("/api/v1/contacts/{id}/duplicates"), None),
            (Method::POST, format!("/api/v1/contacts/{}/merge", theirs.body["id"].as_str().unwrap()), Some(json!({"ids": [id]}))),
        ] {
            let reply = app.request(method.clone(), &path, body.as_ref(), Some(&other), &[]).await;
            assert!(matches!(reply.status, StatusCode::NOT_FOUND | StatusCode::UNPROCESSABLE_ENTITY), "{method} {path}: {}", reply.status);
        }
        let list = app.request(Method::GET, "/api/v1/contacts", None, Some(&other), &[]).await;
        assert_eq!(list.data().len(), 1);
        assert_eq!(list.data()[0]["first_name"], "Eve");
        let dupes = app.request(Method::POST, "/api/v1/contacts/duplicates", Some(&json!({"email": "same@example.com"})), Some(&other), &[]).await;
        assert_eq!(dupes.data().len(), 1, "duplicate checks stay in the workspace");
        let reference = app.request(Method::POST, "/api/v1/activities", Some(&json!({"kind": "note", "subject": "x", "links": [id]})), Some(&other), &[]).await;
        assert_eq!(reference.body["error"]["details"][0]["code"], "reference_not_found", "references cannot cross workspaces");
        let audit = app.request(Method::GET, &format!("/api/v1/audit?record={id}"), None, Some(&other), &[]).await;
        assert!(audit.data().is_empty());
        let batch = app.request(Method::POST, "/api/v1/contacts/batch", Some(&json!({"operation": "update", "records": [{"id": id, "first_name": "Mallory"}]})), Some(&other), &[]).await;
        assert_eq!(batch.body["error"]["details"][0]["code"], "record_not_found");
        let field = app.request(Method::POST, "/api/v1/meta/entities/contacts/fields", Some(&json!({"name": "globex_only", "type": "text"})), Some(&other), &[]).await;
        assert_eq!(field.status, StatusCode::CREATED);
        let mine_meta = app.get("/api/v1/meta/entities/contacts").await;
        assert!(!mine_meta.body.to_string().contains("globex_only"), "custom fields are per workspace");

        assert_eq!(app.get(&format!("/api/v1/contacts/{id}")).await.body["first_name"], "Ada");

        // Administration never reaches into another workspace either.
        let acme_users = app.get("/api/v1/admin/users").await;
        let acme_admin = acme_users.data()[0]["id"].as_str().unwrap().to_owned();
        let acme_token = app.post("/api/v1/tokens", &json!({"name": "mine"})).await.body["id"].as_str().unwrap().to_owned();
        let acme_team = app.post("/api/v1/admin/teams", &json!({"name": "sales"})).await.body["id"].as_str().unwrap().to_owned();
        for (method, path, body) in [
            (Method::PATCH, format!("/api/v1/admin/users/{acme_admin}"), json!({"role": "read_only"})),
            (Method::DELETE, format!("/api/v1/tokens/{acme_token}"), json!({})),
            (Method::PUT, format!("/api/v1/admin/teams/{acme_team}/members"), json!({"members": []})),
        ] {
            let reply = app.request(method.clone(), &path, Some(&body), Some(&other), &[]).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method} {path}: {}", reply.body);
        }
        let their_users = app.request(Method::GET, "/api/v1/admin/users", None, Some(&other), &[]).await;
        assert_eq!(their_users.data().len(), 1, "{}", their_users.body);
        let their_tokens = app.request(Method::GET, "/api/v1/tokens?all=true", None, Some(&other), &[]).await;
        assert!(!their_tokens.body.to_string().contains(&acme_token));
        let their_audit = app.request(Method::GET, "/api/v1/audit", None, Some(&other), &[]).await;
        assert!(!their_audit.body.to_string().contains(id), "audit stays in the workspace");
        let members = app.request(Method::PUT, &format!("/api/v1/admin/teams/{acme_team}/members"), Some(&json!({"members": [acme_admin]})), Some(&app.token), &[]).await;
        assert_eq!(members.status, StatusCode::OK);
        let their_team = app.request(Method::POST, "/api/v1/admin/teams", Some(&json!({"name": "sales"})), Some(&other), &[]).await;
        let their_team = their_team.body["id"].as_str().unwrap().to_owned();
        let smuggle = app.request(Method::PUT, &format!("/api/v1/admin/teams/{their_team}/members"), Some(&json!({"members": [acme_admin]})), Some(&other), &[]).await;
        assert_eq!(smuggle.status, StatusCode::UNPROCESSABLE_ENTITY, "users of another workspace cannot join a team");
    }
}
