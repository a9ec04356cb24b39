//! The record store's one write path, driven directly (`Store::write`) on both databases:
//! steps of several kinds and types in one transaction, all or nothing; hooks at one point for
//! every kind of step; the journal of exactly what changed.

use host::ids::RecordId;
use host::records::{Actor, Op, RecordError, Step};
use reqwest::StatusCode;
use serde_json::{Map, Value, json};

use crate::support::{TestApp, on_both};

async fn admin(app: &TestApp) -> Actor {
    let db = &app.state.db.read;
    let workspace = host::auth::find_workspace(db, "acme")
        .await
        .unwrap()
        .unwrap();
    let user = host::auth::first_admin(db, workspace)
        .await
        .unwrap()
        .unwrap();
    Actor::system(workspace, user)
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

fn id(record: &Value) -> RecordId {
    RecordId(record["id"].as_str().unwrap().parse().unwrap())
}

on_both! {
    async fn a_merge_refuses_records_changed_since_the_versions_its_caller_saw(app: TestApp) {
        let actor = admin(&app).await;
        let store = &app.state.store;
        let ty = store.schema(actor.workspace).await.unwrap().by_name("contact").unwrap().clone();
        let keep = app.create("contacts", json!({ "last_name": "Keep", "email": "same@example.com" })).await;
        let other = app.create("contacts", json!({ "last_name": "Other", "email": "same@example.com" })).await;
        let seen = [(id(&keep), 1), (id(&other), 1)];
        // A colleague edits the other record after the caller decided.
        let edited = app.request(reqwest::Method::PATCH, &format!("/api/v1/contacts/{}", id(&other).0), Some(&json!({ "phone": "+1 555 0100" })), Some(&app.token), &[]).await;
        assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
        let before = app.digest().await;
        let stale = store.merge(&actor, &ty, id(&keep), &[id(&other)], &Map::new(), &seen).await;
        assert!(matches!(stale, Err(RecordError::VersionConflict { current: 2 })), "{stale:?}");
        assert_eq!(app.digest().await, before, "nothing was merged");
        // At the versions as they are now, it merges (and fills the empty phone).
        let merged = store.merge(&actor, &ty, id(&keep), &[id(&other)], &Map::new(), &[(id(&keep), 1), (id(&other), 2)]).await.unwrap();
        assert_eq!(merged.data["phone"], "+1 555 0100");
    }

    async fn counts_stop_at_their_cap_and_count_only_what_the_filter_and_role_let_through(app: TestApp) {
        let actor = admin(&app).await;
        let store = &app.state.store;
        let ty = store.schema(actor.workspace).await.unwrap().by_name("contact").unwrap().clone();
        for i in 0..5 {
            app.create("contacts", json!({ "last_name": format!("Smith {i}") })).await;
        }
        app.create("contacts", json!({ "last_name": "Jones" })).await;
        let smiths = Some("last_name[starts_with]:Smith");
        assert_eq!(store.count_up_to(&actor, &ty, smiths, 3).await.unwrap(), (3, true));
        assert_eq!(store.count_up_to(&actor, &ty, smiths, 5).await.unwrap(), (5, false));
        assert_eq!(store.count_up_to(&actor, &ty, None, 100).await.unwrap(), (6, false));
        let bad = store.count_up_to(&actor, &ty, Some("last_name[like]:x"), 3).await;
        assert!(matches!(bad, Err(RecordError::Filter(_))), "{bad:?}");
        // Deleted records and another workspace's are not counted.
        let gone = app.create("contacts", json!({ "last_name": "Smith gone" })).await;
        assert!(app.delete(&format!("/api/v1/contacts/{}", id(&gone).0)).await.status.is_success());
        let other = app.user("other", "admin@other.test", "admin").await;
        let theirs = app.request(reqwest::Method::POST, "/api/v1/contacts", Some(&json!({ "last_name": "Smith theirs" })), Some(&other), &[]).await;
        assert_eq!(theirs.status, StatusCode::CREATED);
        assert_eq!(store.count_up_to(&actor, &ty, smiths, 100).await.unwrap(), (5, false));
    }

    async fn one_write_of_several_types_and_kinds_is_all_or_nothing(app: TestApp) {
        let actor = admin(&app).await;
        let store = &app.state.store;
        let schema = store.schema(actor.workspace).await.unwrap();
        let (contact, company, activity) = (
            schema.by_name("contact").unwrap(),
            schema.by_name("company").unwrap(),
            schema.by_name("activity").unwrap(),
        );
        let acme = app.create("companies", json!({ "name": "Acme" })).await;
        let note = app.create("activities", json!({ "kind": "note", "subject": "old" })).await;
        let head = store.outbox_head().await.unwrap();

        let written = store
            .write(&actor, vec![
                Step::create(contact, object(json!({ "last_name": "Lovelace", "company": acme["id"] }))),
                Step::update(company, id(&acme), object(json!({ "industry": "manufacturing" })), Some(1)),
                Step { ty: activity, op: Op::Delete { id: id(&note), if_match: None } },
            ], false)
            .await
            .unwrap();
        assert_eq!(written.len(), 3);
        assert_eq!(written[0].data["last_name"], "Lovelace");
        assert_eq!((written[1].version, written[1].data["industry"].clone()), (2, json!("manufacturing")));
        assert!(written[2].deleted_at.is_some());
        let events = store.outbox_after(head, 10).await.unwrap();
        let actions: Vec<(&str, &str)> = events.iter().map(|e| (e.entity_type.as_str(), e.event.as_str())).collect();
        assert_eq!(actions, [("contact", "created"), ("company", "updated"), ("activity", "deleted")], "journalled in the steps' order");

        // A later step that fails (a stale version; a reference to nothing) leaves nothing.
        let before = app.digest().await;
        for steps in [
            vec![
                Step::create(contact, object(json!({ "last_name": "Babbage" }))),
                Step::update(company, id(&acme), object(json!({ "industry": "energy" })), Some(1)),
            ],
            vec![
                Step::update(company, id(&acme), object(json!({ "industry": "energy" })), Some(2)),
                Step::create(contact, object(json!({ "last_name": "Babbage", "company": note["id"] }))),
            ],
        ] {
            let error = store.write(&actor, steps, false).await.unwrap_err();
            let RecordError::Invalid(details) = error else { panic!("{error:?}") };
            assert_eq!(details.len(), 1, "{details:?}");
            assert!(["version_conflict", "reference_not_found"].contains(&&*details[0].code), "{details:?}");
            assert_eq!(details[0].index, Some(1), "{details:?}");
            assert_eq!(app.digest().await, before);
        }
        // A single step answers its own error.
        let stale = store
            .write(&actor, vec![Step::update(company, id(&acme), object(json!({ "industry": "energy" })), Some(1))], true)
            .await
            .unwrap_err();
        assert!(matches!(stale, RecordError::VersionConflict { current: 2 }), "{stale:?}");
        // The same record twice in one write is refused; an update that changes nothing
        // journals nothing.
        let twice = store
            .write(&actor, vec![
                Step::update(company, id(&acme), object(json!({ "name": "A" })), None),
                Step { ty: company, op: Op::Delete { id: id(&acme), if_match: None } },
            ], false)
            .await
            .unwrap_err();
        assert!(matches!(&twice, RecordError::Invalid(d) if d[0].code == "duplicate_id"), "{twice:?}");
        let head = store.outbox_head().await.unwrap();
        let same = store
            .write(&actor, vec![Step::update(company, id(&acme), object(json!({ "industry": "manufacturing" })), None)], true)
            .await
            .unwrap();
        assert_eq!(same[0].version, 2);
        assert_eq!(store.outbox_head().await.unwrap(), head);
    }

    async fn hooks_check_every_kind_of_write_at_the_same_point(app: TestApp) {
        let actor = admin(&app).await;
        let store = &app.state.store;
        let kept = app.create("contacts", json!({ "last_name": "Kept" })).await;
        let gone = app.create("contacts", json!({ "last_name": "Gone" })).await;
        assert_eq!(app.delete(&format!("/api/v1/contacts/{}", gone["id"].as_str().unwrap())).await.status, StatusCode::OK);
        crate::plugins::install(&app, "hostile").await;
        assert_eq!(crate::plugins::enable(&app, "hostile", json!({ "mode": "echo" })).await.status, StatusCode::OK);
        let schema = store.schema(actor.workspace).await.unwrap();
        let contact = schema.by_name("contact").unwrap();
        let before = app.digest().await;
        // The hostile plugin's hook (contact create, update, delete) rejects every change it
        // sees, echoing it: each kind of step meets it, and nothing is written.
        for (what, step) in [
            ("create", Step::create(contact, object(json!({ "last_name": "New" })))),
            ("update", Step::update(contact, id(&kept), object(json!({ "first_name": "K" })), None)),
            ("upsert", Step { ty: contact, op: Op::Upsert { key: "last_name".into(), input: object(json!({ "last_name": "Kept", "title": "x" })) } }),
            ("delete", Step { ty: contact, op: Op::Delete { id: id(&kept), if_match: None } }),
            ("restore", Step { ty: contact, op: Op::Restore { id: id(&gone), if_match: None } }),
        ] {
            let error = store.write(&actor, vec![step], true).await.unwrap_err();
            let RecordError::Invalid(details) = error else { panic!("{what}: {error:?}") };
            assert_eq!(details[0].code, "echo", "{what}: {details:?}");
            assert_eq!(app.digest().await, before, "{what}");
        }
        // The change of an update carries the fields it sets, on top of the stored ones.
        let error = store
            .write(&actor, vec![Step::update(contact, id(&kept), object(json!({ "first_name": "K" })), None)], true)
            .await
            .unwrap_err();
        let RecordError::Invalid(details) = error else { panic!() };
        let message = details[0].message.to_string();
        assert!(message.contains("first_name=\"K\"") && message.contains("last_name=\"Kept\""), "{message}");
        assert!(message.ends_with("changed: first_name"), "{message}");
    }
}
