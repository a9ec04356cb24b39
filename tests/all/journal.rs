//! The audit log and the outbox: every write journalled in its transaction, outbox sequence
//! gap-free and ordered, and optimistic concurrency that never loses an update.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestApp, on_both};

on_both! {
    async fn audit_records_who_changed_what_and_when(app: TestApp) {
        let created = app.create("contacts", json!({"first_name": "Ada", "title": "Analyst"})).await;
        let id = created["id"].as_str().unwrap();
        app.patch(&format!("/api/v1/contacts/{id}"), &json!({"title": "Countess", "first_name": "Ada"}), None).await;
        app.delete(&format!("/api/v1/contacts/{id}")).await;
        let audit = app.get(&format!("/api/v1/audit?record={id}")).await;
        assert_eq!(audit.status, StatusCode::OK);
        let entries = audit.data();
        let actions: Vec<&str> = entries.iter().map(|e| e["action"].as_str().unwrap()).collect();
        assert_eq!(actions, ["created", "updated", "deleted"]);
        assert_eq!(entries[0]["changes"]["first_name"], json!({"after": "Ada"}));
        assert_eq!(entries[1]["changes"], json!({"title": {"before": "Analyst", "after": "Countess"}}), "unchanged fields are not listed");
        assert_eq!(entries[1]["actor"], created["owner"]);
        assert!(entries.iter().all(|e| e["at"].is_string()));

        let page = app.get(&format!("/api/v1/audit?record={id}&limit=2")).await;
        assert_eq!(page.data().len(), 2);
        let next = page.body["next_cursor"].as_str().unwrap();
        let rest = app.get(&format!("/api/v1/audit?record={id}&limit=2&cursor={next}")).await;
        assert_eq!(rest.data()[0]["action"], "deleted");
        // A record or actor that is not an id at all is a malformed parameter, not a missing thing.
        for query in ["record=nope", "actor=nope"] {
            let bad = app.get(&format!("/api/v1/audit?{query}")).await;
            assert_eq!((bad.status, bad.code()), (StatusCode::BAD_REQUEST, "invalid_parameter"), "{query}: {}", bad.body);
        }

        let member = app.user("acme", "m@acme.test", "member").await;
        let everything = app.request(reqwest::Method::GET, "/api/v1/audit", None, Some(&member), &[]).await;
        assert_eq!(everything.status, StatusCode::FORBIDDEN, "the workspace-wide trail is for admins");
    }

    async fn outbox_is_gap_free_ordered_and_skips_failed_writes(app: TestApp) {
        let a = app.create("companies", json!({"name": "A"})).await;
        let failed = app.post("/api/v1/companies", &json!({})).await;
        assert_eq!(failed.status, StatusCode::UNPROCESSABLE_ENTITY);
        let batch: Vec<_> = (0..5).map(|i| json!({"name": format!("B{i}")})).collect();
        app.post("/api/v1/companies/batch", &json!({"operation": "create", "records": batch})).await;
        app.patch(&format!("/api/v1/companies/{}", a["id"].as_str().unwrap()), &json!({"industry": "retail"}), Some(1)).await;
        app.patch(&format!("/api/v1/companies/{}", a["id"].as_str().unwrap()), &json!({"industry": "media"}), Some(1)).await;
        app.delete(&format!("/api/v1/companies/{}", a["id"].as_str().unwrap())).await;

        let events = app.state.store.outbox_after(0, 1000).await.unwrap();
        let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=8).collect::<Vec<i64>>(), "one event per successful write, no gaps");
        let kinds: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
        assert_eq!(kinds, ["created", "created", "created", "created", "created", "created", "updated", "deleted"]);
        assert_eq!(events[6].payload["fields"], json!(["industry"]));
        assert_eq!(events[7].version, 3);
    }

    async fn concurrent_writers_with_if_match_lose_no_update(app: TestApp) {
        let field = app.post("/api/v1/meta/entities/companies/fields", &json!({"name": "hits", "type": "integer"})).await;
        assert_eq!(field.status, StatusCode::CREATED);
        let records: Vec<_> = (0..10).map(|i| json!({"name": format!("C{i}"), "hits": 0})).collect();
        let created = app.post("/api/v1/companies/batch", &json!({"operation": "create", "records": records})).await;
        let ids: Vec<String> = created.data().iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
        let app = Arc::new(app);
        let successes = Arc::new(AtomicU64::new(0));
        let conflicts = Arc::new(AtomicU64::new(0));
        let mut writers = Vec::new();
        for writer in 0..8 {
            let (app, ids, successes, conflicts) = (app.clone(), ids.clone(), successes.clone(), conflicts.clone());
            writers.push(tokio::spawn(async move {
                for round in 0..15 {
                    let id = &ids[(writer + round) % ids.len()];
                    loop {
                        let current = app.get(&format!("/api/v1/companies/{id}")).await;
                        let version = current.body["version"].as_i64().unwrap();
                        let hits = current.body["hits"].as_i64().unwrap();
                        let reply = app.patch(&format!("/api/v1/companies/{id}"), &json!({"hits": hits + 1}), Some(version)).await;
                        assert!(!reply.status.is_server_error(), "{}", reply.body);
                        if reply.status == StatusCode::OK {
                            successes.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        assert_eq!(reply.status, StatusCode::PRECONDITION_FAILED, "{}", reply.body);
                        conflicts.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        for writer in writers {
            writer.await.unwrap();
        }
        let total: i64 = app.all("companies", "").await.iter().map(|r| r["hits"].as_i64().unwrap()).sum();
        assert_eq!(successes.load(Ordering::Relaxed), 8 * 15);
        assert_eq!(total, 8 * 15, "every successful update is kept");
        let events = app.state.store.outbox_after(0, 10_000).await.unwrap();
        let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "gap-free under concurrency");
        assert_eq!(seqs.len(), 10 + 8 * 15);
    }
}
