//! Single-record life cycle, validation, batches, duplicates and merges.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, on_both};

on_both! {
    async fn create_get_patch_delete_restore_round_trip(app: TestApp) {
        let created = app.create("contacts", json!({"first_name": "Ada", "last_name": "Lovelace", "email": "Ada@Example.com", "tags": ["vip"]})).await;
        let id = created["id"].as_str().unwrap().to_owned();
        assert_eq!(created["version"], 1);
        assert_eq!(created["email"], "ada@example.com", "emails are stored lowercased");
        assert!(created["owner"].is_string() && created["created_at"].is_string());

        let fetched = app.get(&format!("/api/v1/contacts/{id}")).await;
        assert_eq!(fetched.status, StatusCode::OK);
        assert_eq!(fetched.body, created);
        assert_eq!(fetched.headers["etag"], "\"1\"");

        let patched = app.patch(&format!("/api/v1/contacts/{id}"), &json!({"title": "Countess", "tags": null}), Some(1)).await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
        assert_eq!(patched.body["version"], 2);
        assert_eq!(patched.body["title"], "Countess");
        assert!(patched.body.get("tags").is_none(), "null clears a field");
        assert_eq!(patched.body["first_name"], "Ada", "a patch keeps untouched fields");

        let stale = app.patch(&format!("/api/v1/contacts/{id}"), &json!({"title": "Lady"}), Some(1)).await;
        assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED);
        assert_eq!(stale.code(), "version_conflict");
        assert_eq!(app.get(&format!("/api/v1/contacts/{id}")).await.body["title"], "Countess", "a stale write changes nothing");

        let deleted = app.delete(&format!("/api/v1/contacts/{id}")).await;
        assert_eq!(deleted.status, StatusCode::OK);
        assert!(deleted.body["deleted_at"].is_string());
        assert_eq!(app.get(&format!("/api/v1/contacts/{id}")).await.status, StatusCode::NOT_FOUND);
        assert!(app.all("contacts", "").await.is_empty());
        let trash = app.all("contacts", "deleted=true").await;
        assert_eq!(trash.len(), 1);

        let restored = app.post(&format!("/api/v1/contacts/{id}/restore"), &json!({})).await;
        assert_eq!(restored.status, StatusCode::OK, "{}", restored.body);
        assert_eq!(restored.body["version"], 4);
        assert!(restored.body.get("deleted_at").is_none());
        assert_eq!(app.get(&format!("/api/v1/contacts/{id}")).await.body["title"], "Countess");
        let again = app.post(&format!("/api/v1/contacts/{id}/restore"), &json!({})).await;
        assert_eq!(again.status, StatusCode::CONFLICT);
    }

    // `If-Match: *` matches whatever version is current (RFC 9110 §13.1.1), on every method
    // that takes If-Match; a record that does not exist is still a 404.
    async fn if_match_star_matches_any_current_version(app: TestApp) {
        let created = app.create("contacts", json!({"first_name": "Ada"})).await;
        let path = format!("/api/v1/contacts/{}", created["id"].as_str().unwrap());
        app.patch(&path, &json!({"title": "Countess"}), Some(1)).await;
        let star = [("If-Match", "*")];
        let token = Some(app.token.as_str());
        let patched = app.request(Method::PATCH, &path, Some(&json!({"title": "Lady"})), token, &star).await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
        assert_eq!(patched.body["version"], 3);
        assert_eq!(patched.headers["etag"], "\"3\"");
        let deleted = app.request(Method::DELETE, &path, None, token, &star).await;
        assert_eq!(deleted.status, StatusCode::OK, "{}", deleted.body);
        let restored = app.request(Method::POST, &format!("{path}/restore"), Some(&json!({})), token, &star).await;
        assert_eq!(restored.status, StatusCode::OK, "{}", restored.body);
        assert_eq!(restored.body["version"], 5);
        let missing = format!("/api/v1/contacts/{}", uuid::Uuid::now_v7());
        let nothing = app.request(Method::PATCH, &missing, Some(&json!({"title": "X"})), token, &star).await;
        assert_eq!(nothing.status, StatusCode::NOT_FOUND, "{}", nothing.body);
    }

    async fn every_invalid_field_is_reported_with_a_stable_code(app: TestApp) {
        let reply = app.post("/api/v1/companies", &json!({
            "domain": 42,
            "industry": "piracy",
            "employees": 12.5,
            "annual_revenue": {"amount": "lots", "currency": "EUR"},
            "website": "ftp://example.com",
            "phone": "call me maybe",
            "owner": "00000000-0000-0000-0000-000000000000",
            "version": 3,
            "colour": "red",
        })).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.code(), "validation_failed");
        let mut found: Vec<(String, String)> = reply.body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| (d["field"].as_str().unwrap().to_owned(), d["code"].as_str().unwrap().to_owned()))
            .collect();
        found.sort();
        let expected = [
            ("annual_revenue", "invalid_money"),
            ("colour", "unknown_field"),
            ("domain", "invalid_type"),
            ("employees", "invalid_type"),
            ("industry", "invalid_option"),
            ("name", "required"),
            ("phone", "invalid_phone"),
            ("version", "read_only"),
            ("website", "invalid_url"),
        ];
        assert_eq!(found, expected.map(|(f, c)| (f.to_owned(), c.to_owned())));
        assert!(app.all("companies", "").await.is_empty());
    }

    async fn references_must_point_at_live_records_of_the_right_type(app: TestApp) {
        let company = app.create("companies", json!({"name": "Acme"})).await;
        let contact = app.create("contacts", json!({"last_name": "Doe"})).await;
        let wrong_type = app.post("/api/v1/contacts", &json!({"company": contact["id"]})).await;
        assert_eq!(wrong_type.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(wrong_type.body["error"]["details"][0]["code"], "wrong_reference_type");
        let missing = app.post("/api/v1/contacts", &json!({"company": "01900000-0000-7000-8000-000000000000"})).await;
        assert_eq!(missing.body["error"]["details"][0]["code"], "reference_not_found");
        let bad_owner = app.post("/api/v1/contacts", &json!({"owner": contact["id"]})).await;
        assert_eq!(bad_owner.body["error"]["details"][0]["code"], "user_not_found");
        let ok = app.create("contacts", json!({"company": company["id"]})).await;
        assert_eq!(ok["company"], company["id"]);
        let activity = app.create("activities", json!({"kind": "note", "subject": "Met", "links": [company["id"], contact["id"], company["id"]]})).await;
        assert_eq!(activity["links"], json!([company["id"], contact["id"]]), "links are deduplicated, any type allowed");
        app.delete(&format!("/api/v1/companies/{}", company["id"].as_str().unwrap())).await;
        let to_deleted = app.post("/api/v1/contacts", &json!({"company": company["id"]})).await;
        assert_eq!(to_deleted.body["error"]["details"][0]["code"], "reference_not_found");
    }

    async fn batch_create_update_upsert_are_all_or_nothing(app: TestApp) {
        let records: Vec<Value> = (0..250).map(|i| json!({"first_name": format!("P{i}"), "email": format!("p{i}@example.com")})).collect();
        let created = app.post("/api/v1/contacts/batch", &json!({"operation": "create", "records": records})).await;
        assert_eq!(created.status, StatusCode::OK, "{}", created.body);
        assert_eq!(created.data().len(), 250);
        assert_eq!(created.data()[7]["first_name"], "P7", "results keep request order");

        let before = app.digest().await;
        let mixed = app.post("/api/v1/contacts/batch", &json!({"operation": "create", "records": [{"first_name": "ok"}, {"email": "bad"}, {"tags": 3}]})).await;
        assert_eq!(mixed.status, StatusCode::UNPROCESSABLE_ENTITY);
        let indexes: Vec<u64> = mixed.body["error"]["details"].as_array().unwrap().iter().map(|d| d["index"].as_u64().unwrap()).collect();
        assert_eq!(indexes, [1, 2], "every bad item is reported with its index");
        assert_eq!(app.digest().await, before, "a failed batch writes nothing");

        let first = &created.data()[0];
        let second = &created.data()[1];
        let updates = json!({"operation": "update", "records": [
            {"id": first["id"], "version": 1, "title": "CEO"},
            {"id": second["id"], "title": "CTO"},
        ]});
        let updated = app.post("/api/v1/contacts/batch", &updates).await;
        assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
        assert_eq!(updated.data()[0]["version"], 2);
        let stale = app.post("/api/v1/contacts/batch", &json!({"operation": "update", "records": [{"id": first["id"], "version": 1, "title": "x"}]})).await;
        assert_eq!(stale.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(stale.body["error"]["details"][0]["code"], "version_conflict");

        let upsert = json!({"operation": "upsert", "key": "email", "records": [
            {"email": "P0@EXAMPLE.COM", "title": "Chair"},
            {"email": "new@example.com", "first_name": "New"},
        ]});
        let upserted = app.post("/api/v1/contacts/batch", &upsert).await;
        assert_eq!(upserted.status, StatusCode::OK, "{}", upserted.body);
        assert_eq!(upserted.data()[0]["id"], first["id"], "matched by normalised email");
        assert_eq!(upserted.data()[0]["title"], "Chair");
        assert_eq!(upserted.data()[0]["first_name"], "P0");
        assert_eq!(upserted.data()[1]["first_name"], "New");
        assert_eq!(app.all("contacts", "").await.len(), 251);

        let too_many: Vec<Value> = (0..1001).map(|_| json!({})).collect();
        let big = app.post("/api/v1/contacts/batch", &json!({"operation": "create", "records": too_many})).await;
        assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(big.code(), "batch_too_large");
        let no_key = app.post("/api/v1/contacts/batch", &json!({"operation": "upsert", "records": [{"email": "x@example.com"}]})).await;
        assert_eq!(no_key.status, StatusCode::BAD_REQUEST);
    }

    async fn duplicates_are_found_and_merged_with_references_repointed(app: TestApp) {
        let acme = app.create("companies", json!({"name": "Acme", "domain": "acme.com", "phone": "+1 555 0100"})).await;
        let acme2 = app.create("companies", json!({"name": "ACME Inc", "domain": "ACME.com", "industry": "retail"})).await;
        let other = app.create("companies", json!({"name": "Other", "domain": "other.com"})).await;
        let dupes = app.get(&format!("/api/v1/companies/{}/duplicates", acme["id"].as_str().unwrap())).await;
        assert_eq!(dupes.status, StatusCode::OK);
        assert_eq!(dupes.data().iter().map(|r| r["id"].clone()).collect::<Vec<_>>(), [acme2["id"].clone()]);
        let check = app.post("/api/v1/companies/duplicates", &json!({"domain": "Acme.COM"})).await;
        assert_eq!(check.data().len(), 2);

        let employee = app.create("contacts", json!({"last_name": "Doe", "company": acme2["id"]})).await;
        let note = app.create("activities", json!({"kind": "note", "subject": "Call", "links": [acme2["id"], other["id"], acme["id"]]})).await;

        let merged = app.post(&format!("/api/v1/companies/{}/merge", acme["id"].as_str().unwrap()), &json!({"ids": [acme2["id"]], "values": {"name": "Acme Corporation"}})).await;
        assert_eq!(merged.status, StatusCode::OK, "{}", merged.body);
        assert_eq!(merged.body["name"], "Acme Corporation", "explicit values win");
        assert_eq!(merged.body["industry"], "retail", "empty fields are filled from the merged record");
        assert_eq!(merged.body["phone"], "+1 555 0100", "the survivor's values are kept");

        assert_eq!(app.get(&format!("/api/v1/companies/{}", acme2["id"].as_str().unwrap())).await.status, StatusCode::NOT_FOUND);
        let employee = app.get(&format!("/api/v1/contacts/{}", employee["id"].as_str().unwrap())).await;
        assert_eq!(employee.body["company"], acme["id"], "references are re-pointed");
        let note = app.get(&format!("/api/v1/activities/{}", note["id"].as_str().unwrap())).await;
        assert_eq!(note.body["links"], json!([acme["id"], other["id"]]), "list references are re-pointed and deduplicated");

        let audit = app.get(&format!("/api/v1/audit?record={}", acme2["id"].as_str().unwrap())).await;
        assert_eq!(audit.data().last().unwrap()["action"], "merged");
        let self_merge = app.post(&format!("/api/v1/companies/{}/merge", acme["id"].as_str().unwrap()), &json!({"ids": [acme["id"]]})).await;
        assert_eq!(self_merge.status, StatusCode::BAD_REQUEST);
    }
}
