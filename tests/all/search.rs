//! Search: relevance on generated data with known answers, ranking of names over emails over
//! notes, freshness and deletion, workspace isolation, bad queries.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::lists::urlencode;
use crate::support::{TestApp, on_both};

/// Searches until `done` accepts the hits (the index follows writes within a second; the
/// deadline here is generous so a loaded machine does not fail the test).
async fn search_until(app: &TestApp, query: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let reply = app
            .get(&format!("/api/v1/search?q={}&limit=20", urlencode(query)))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{query}: {}", reply.body);
        let hits = reply.data().clone();
        if done(&hits) || Instant::now() > deadline {
            return hits;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ids(hits: &[Value]) -> Vec<&str> {
    hits.iter().map(|h| h["id"].as_str().unwrap()).collect()
}

fn rank_of(hits: &[Value], id: &str) -> Option<usize> {
    hits.iter().position(|h| h["id"] == id)
}

/// A generated CRM: companies, contacts at them, and notes about them.
async fn seed(app: &TestApp) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let mut rng = host::demo::Rng::new(42);
    let companies: Vec<_> = (0..60)
        .map(|i| Value::Object(host::demo::company(&mut rng, i)))
        .collect();
    let companies = app
        .post(
            "/api/v1/companies/batch",
            &json!({"operation": "create", "records": companies}),
        )
        .await
        .data()
        .clone();
    let contacts: Vec<_> = (0..400)
        .map(|i| {
            let company = &companies[i % companies.len()];
            let company = Some((
                uuid::Uuid::parse_str(company["id"].as_str().unwrap()).unwrap(),
                company["domain"].as_str().unwrap(),
            ));
            Value::Object(host::demo::contact(&mut rng, i, company))
        })
        .collect();
    let contacts = app
        .post(
            "/api/v1/contacts/batch",
            &json!({"operation": "create", "records": contacts}),
        )
        .await
        .data()
        .clone();
    let now = chrono::Utc::now();
    let activities: Vec<_> = (0..200)
        .map(|i| {
            let link = uuid::Uuid::parse_str(contacts[i % contacts.len()]["id"].as_str().unwrap())
                .unwrap();
            Value::Object(host::demo::activity(&mut rng, &[link], now))
        })
        .collect();
    let activities = app
        .post(
            "/api/v1/activities/batch",
            &json!({"operation": "create", "records": activities}),
        )
        .await
        .data()
        .clone();
    let last = activities.last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let subject = activities.last().unwrap()["subject"]
        .as_str()
        .unwrap()
        .to_owned();
    search_until(app, &subject, |hits| rank_of(hits, &last).is_some()).await;
    (companies, contacts, activities)
}

fn field<'a>(record: &'a Value, key: &str) -> &'a str {
    record[key].as_str().unwrap_or_default()
}

/// Swaps two inner letters: a one-edit typo.
fn typo(word: &str) -> String {
    let mut chars: Vec<char> = word.chars().collect();
    let i = chars.len() / 2;
    chars.swap(i - 1, i);
    chars.into_iter().collect()
}

fn fold(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'õ' | 'ø' => 'o',
            'ú' | 'ù' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            'ł' | 'Ł' => 'l',
            other => other,
        })
        .collect()
}

on_both! {
    async fn known_items_are_found_by_name_prefix_typo_accent_email_phone_and_phrase(app: TestApp) {
        let (companies, contacts, activities) = seed(&app).await;
        let mut checked = 0;
        for contact in contacts.iter().step_by(37) {
            let id = contact["id"].as_str().unwrap();
            let (first, last) = (field(contact, "first_name"), field(contact, "last_name"));
            let full = format!("{first} {last}");
            let same_name = contacts.iter().filter(|c| field(c, "first_name") == first && field(c, "last_name") == last).count();
            let top = same_name.max(1);
            let cases = [
                (full.clone(), top),
                (format!("{} {}", &first[..first.char_indices().nth(2).map_or(first.len(), |(i, _)| i)], last), top + 2),
                (format!("{first} {}", typo(last)), top + 2),
                (fold(&full), top),
                (field(contact, "email").to_owned(), 1),
                (field(contact, "email").split('@').next().unwrap().to_owned(), 1),
                (host::search::phone_digits(field(contact, "phone")), 2),
            ];
            for (query, within) in cases {
                let hits = search_until(&app, &query, |hits| rank_of(hits, id).is_some_and(|r| r < within)).await;
                let rank = rank_of(&hits, id);
                assert!(rank.is_some_and(|r| r < within), "`{query}` should find {full} in the top {within}, got rank {rank:?}: {:?}", ids(&hits));
                checked += 1;
            }
        }
        for company in companies.iter().step_by(13) {
            let hits = search_until(&app, field(company, "name"), |_| true).await;
            assert_eq!(rank_of(&hits, company["id"].as_str().unwrap()), Some(0), "company {}", field(company, "name"));
            checked += 1;
        }
        for note in activities.iter().step_by(41) {
            let body = field(note, "body");
            let phrase: Vec<&str> = body.split_whitespace().take(5).collect();
            let query = format!("\"{}\"", phrase.join(" ").trim_end_matches(['.', ',']));
            let hits = search_until(&app, &query, |_| true).await;
            assert!(rank_of(&hits, note["id"].as_str().unwrap()).is_some(), "phrase {query} finds its note");
            assert!(hits[0]["snippet"].as_str().unwrap().contains("<b>"), "snippets highlight: {}", hits[0]["snippet"]);
            checked += 1;
        }
        assert!(checked > 60, "{checked} known-item checks");
    }

    async fn the_last_letter_typed_after_a_word_narrows_by_prefix(app: TestApp) {
        let sinead = app.create("contacts", json!({ "first_name": "Sinead", "last_name": "O'Connor" })).await;
        let dermot = app.create("contacts", json!({ "first_name": "Dermot", "last_name": "O'Brien" })).await;
        let ada = app.create("contacts", json!({ "first_name": "Ada", "last_name": "Lovelace" })).await;
        app.create("contacts", json!({ "first_name": "Ada", "last_name": "Byron" })).await;
        app.create("contacts", json!({ "first_name": "Olivia", "last_name": "Connor" })).await;
        // A person types the first letters of "O'Connor": the apostrophe splits the words.
        for (query, expected) in [("O'C", &sinead), ("O'B", &dermot), ("Ada L", &ada)] {
            let id = expected["id"].as_str().unwrap();
            let hits = search_until(&app, query, |hits| rank_of(hits, id) == Some(0)).await;
            assert_eq!(rank_of(&hits, id), Some(0), "`{query}`: {:?}", ids(&hits));
            assert_eq!(hits.len(), 1, "`{query}` narrows to one: {:?}", ids(&hits));
        }
        // One letter alone is not a prefix (it would match most of a large workspace).
        let alone = app.get("/api/v1/search?q=c").await;
        assert_eq!(alone.status, StatusCode::OK, "{}", alone.body);
        assert!(alone.data().is_empty(), "{}", alone.body);
    }

    async fn chinese_names_companies_and_words_inside_notes_are_found(app: TestApp) {
        let company = app.create("companies", json!({"name": "北京字节跳动科技有限公司"})).await;
        let branch = app.create("companies", json!({"name": "ACME 北京分公司"})).await;
        let wang = app.create("contacts", json!({"last_name": "王小明", "title": "总经理", "company": company["id"]})).await;
        let ouyang = app.create("contacts", json!({"last_name": "欧阳娜娜", "title": "采购经理"})).await;
        let note = app
            .create("activities", json!({"kind": "note", "subject": "跟进", "body": "客户对续约价格有疑问，需要销售经理跟进"}))
            .await;
        let latin = app.create("contacts", json!({"first_name": "Ada", "last_name": "Lovelace"})).await;
        for (query, expected) in [
            ("王小明", &wang),
            ("小明", &wang),
            ("王", &wang),
            ("wangxiaoming", &wang),
            ("wxm", &wang),
            ("Wang Xiao", &wang),
            ("zijie", &company),
            ("字节跳动", &company),
            ("字节", &company),
            ("续约", &note),
            ("销售经理", &note),
            ("北京分公司", &branch),
            ("acme 北京", &branch),
            ("ＡＣＭＥ", &branch),
            ("Lovelace", &latin),
            ("字節跳動", &company),
            ("銷售經理", &note),
            ("王总", &wang),
            ("王經理", &wang),
            ("王小明 字节", &wang),
            ("欧阳经理", &ouyang),
            ("欧阳总", &ouyang),
        ] {
            let id = expected["id"].as_str().unwrap();
            let hits = search_until(&app, query, |hits| rank_of(hits, id).is_some()).await;
            assert!(rank_of(&hits, id).is_some(), "{query} finds {id}: {hits:?}");
        }
        // A family name with a title ranks the one who holds that title first.
        let other_wang = app.create("contacts", json!({"last_name": "王芳", "title": "会计"})).await;
        let hits = search_until(&app, "王总", |hits| rank_of(hits, other_wang["id"].as_str().unwrap()).is_some()).await;
        assert_eq!(rank_of(&hits, wang["id"].as_str().unwrap()), Some(0), "{hits:?}");
        let hits = search_until(&app, "欧阳经理", |_| true).await;
        assert!(rank_of(&hits, wang["id"].as_str().unwrap()).is_none(), "another family name: {hits:?}");
        // A part that is not in the text finds nothing of it: 字跳 is not a run of 字节跳动.
        let hits = search_until(&app, "字跳", |_| true).await;
        assert!(rank_of(&hits, company["id"].as_str().unwrap()).is_none(), "{hits:?}");
        let hits = search_until(&app, "销售总监", |_| true).await;
        assert!(rank_of(&hits, note["id"].as_str().unwrap()).is_none(), "{hits:?}");
    }

    async fn records_are_found_through_the_titles_they_reference_and_follow_renames(app: TestApp) {
        let company = app.create("companies", json!({"name": "Quillfeather Analytics"})).await;
        let company_id = company["id"].as_str().unwrap();
        let contact = app
            .create("contacts", json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.org", "company": company_id}))
            .await;
        let contact_id = contact["id"].as_str().unwrap();
        let other = app.create("contacts", json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada2@example.org"})).await;
        let note = app
            .create("activities", json!({"kind": "note", "subject": "Call", "body": "Talked pricing", "links": [contact_id]}))
            .await;
        // Only the reference holds "Quillfeather": the email is elsewhere.
        let hits = search_until(&app, "Lovelace Quillfeather", |hits| rank_of(hits, contact_id).is_some()).await;
        assert_eq!(rank_of(&hits, contact_id), Some(0), "{hits:?}");
        assert!(rank_of(&hits, other["id"].as_str().unwrap()).is_none(), "the Lovelace elsewhere does not match: {hits:?}");
        let typed = search_until(&app, "Lovelace Quill", |hits| rank_of(hits, contact_id).is_some()).await;
        assert_eq!(rank_of(&typed, contact_id), Some(0), "a reference's prefix while typing: {typed:?}");
        let note_hits = search_until(&app, "pricing lovelace", |hits| rank_of(hits, note["id"].as_str().unwrap()).is_some()).await;
        assert!(rank_of(&note_hits, note["id"].as_str().unwrap()).is_some(), "a note by what it links: {note_hits:?}");
        // The company's own name still ranks the company first.
        let by_name = search_until(&app, "Quillfeather", |hits| hits.len() >= 2).await;
        assert_eq!(by_name[0]["id"], company_id, "{by_name:?}");

        // Renaming the company rewrites the documents that reference it.
        app.patch(&format!("/api/v1/companies/{company_id}"), &json!({"name": "Brightwater Labs"}), None).await;
        let renamed = search_until(&app, "Lovelace Brightwater", |hits| rank_of(hits, contact_id).is_some()).await;
        assert_eq!(rank_of(&renamed, contact_id), Some(0), "{renamed:?}");
        let old = search_until(&app, "Lovelace Quillfeather", |hits| rank_of(hits, contact_id).is_none()).await;
        assert!(rank_of(&old, contact_id).is_none(), "not by the old name any more: {old:?}");
        // A change that keeps the title leaves them as they are; deleting the company drops it.
        app.patch(&format!("/api/v1/companies/{company_id}"), &json!({"website": "https://brightwater.example"}), None).await;
        app.delete(&format!("/api/v1/companies/{company_id}")).await;
        let gone = search_until(&app, "Lovelace Brightwater", |hits| rank_of(hits, contact_id).is_none()).await;
        assert!(rank_of(&gone, contact_id).is_none(), "a deleted company's name finds nothing: {gone:?}");
        app.post(&format!("/api/v1/companies/{company_id}/restore"), &json!({})).await;
        let back = search_until(&app, "Lovelace Brightwater", |hits| rank_of(hits, contact_id).is_some()).await;
        assert!(rank_of(&back, contact_id).is_some(), "restored, found again: {back:?}");
        // Pointing the contact elsewhere drops the old company from its document.
        let moved_to = app.create("companies", json!({"name": "Zephyrine Mills"})).await;
        app.patch(&format!("/api/v1/contacts/{contact_id}"), &json!({"company": moved_to["id"]}), None).await;
        let moved = search_until(&app, "Lovelace Zephyrine", |hits| rank_of(hits, contact_id).is_some()).await;
        assert!(rank_of(&moved, contact_id).is_some(), "{moved:?}");
        let before = search_until(&app, "Lovelace Brightwater", |hits| rank_of(hits, contact_id).is_none()).await;
        assert!(rank_of(&before, contact_id).is_none(), "{before:?}");
    }

    async fn renaming_a_company_with_many_contacts_reaches_every_one_of_them(app: TestApp) {
        let company = app.create("companies", json!({"name": "Halcyon Freight"})).await;
        let records: Vec<Value> = (0..600)
            .map(|i| json!({"first_name": format!("Person{i}"), "last_name": "Mercator", "company": company["id"]}))
            .collect();
        for chunk in records.chunks(300) {
            let created = app.post("/api/v1/contacts/batch", &json!({"operation": "create", "records": chunk})).await;
            assert_eq!(created.status, StatusCode::OK, "{}", created.body);
        }
        let count = |hits: &[Value]| hits.iter().filter(|h| h["type"] == "contacts").count();
        // The query asks for up to 20: the bar is that the renamed name finds contacts and
        // the old one none, for every one of the 600 (checked through a filter below).
        search_until(&app, "Mercator Halcyon", |hits| count(hits) == 20).await;
        let renamed = app.patch(&format!("/api/v1/companies/{}", company["id"].as_str().unwrap()), &json!({"name": "Solstice Shipping"}), None).await;
        assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
        let old = search_until(&app, "Mercator Halcyon", |hits| count(hits) == 0).await;
        assert_eq!(count(&old), 0, "every contact dropped the old name: {old:?}");
        for i in [0, 299, 300, 599] {
            let query = format!("Person{i} Solstice");
            let hits = search_until(&app, &query, |hits| count(hits) == 1).await;
            assert_eq!(count(&hits), 1, "{query}: {hits:?}");
        }
    }

    async fn a_referenced_title_the_reader_may_not_see_finds_nothing(app: TestApp) {
        let app = &app;
        // Members read every contact, but only their own companies, and never a contact's
        // `company` field in the second role.
        let role = json!({
            "name": "scout",
            "types": {"*": {"create": "all", "read": "all", "edit": "all", "delete": "all"}, "company": {"create": "all", "read": "own", "edit": "own", "delete": "own"}},
        });
        app.save_role("scout", &role).await;
        let blind = json!({
            "name": "blind",
            "types": {"*": {"create": "all", "read": "all", "edit": "all", "delete": "all"}},
            "fields": {"contact": {"company": {"read": false}}},
        });
        app.save_role("blind", &blind).await;
        let scout = app.user("acme", "scout@acme.test", "scout").await;
        let blind = app.user("acme", "blind@acme.test", "blind").await;
        let secret = app.create("companies", json!({"name": "Obsidian Holdings"})).await;
        let contact = app.create("contacts", json!({"first_name": "Grace", "last_name": "Hopper", "company": secret["id"]})).await;
        let id = contact["id"].as_str().unwrap();
        search_until(app, "Hopper Obsidian", |hits| rank_of(hits, id).is_some()).await;
        for (who, token) in [("a reader of their own companies only", &scout), ("a reader without the company field", &blind)] {
            for query in ["Hopper Obsidian", "Obsidian", "Obsid"] {
                let hits = app
                    .request(Method::GET, &format!("/api/v1/search?q={}", urlencode(query)), None, Some(token), &[])
                    .await;
                assert_eq!(hits.status, StatusCode::OK);
                assert!(rank_of(hits.data(), id).is_none(), "{who}: {query} finds through an unreadable title: {}", hits.body);
            }
            let by_name = app.request(Method::GET, "/api/v1/search?q=Grace%20Hopper", None, Some(token), &[]).await;
            assert_eq!(ids(by_name.data()), [id], "{who} still finds the contact by its name");
        }
        // A company the scout owns is matched through.
        let own = app.request(Method::POST, "/api/v1/companies", Some(&json!({"name": "Tangerine Partners"})), Some(&scout), &[]).await;
        assert_eq!(own.status, StatusCode::CREATED, "{}", own.body);
        app.patch(&format!("/api/v1/contacts/{id}"), &json!({"company": own.body["id"]}), None).await;
        search_until(app, "Hopper Tangerine", |hits| rank_of(hits, id).is_some()).await;
        let hits = app.request(Method::GET, "/api/v1/search?q=Hopper%20Tangerine", None, Some(&scout), &[]).await;
        assert_eq!(ids(hits.data()), [id], "{}", hits.body);
    }

    async fn names_outrank_emails_which_outrank_notes(app: TestApp) {
        let named = app.create("contacts", json!({"first_name": "Quimby", "last_name": "Zed"})).await;
        let emailed = app.create("contacts", json!({"first_name": "Ann", "email": "quimby@example.org"})).await;
        let noted = app.create("activities", json!({"kind": "note", "subject": "Lunch", "body": "Talked to quimby about the renewal."})).await;
        let hits = search_until(&app, "quimby", |hits| hits.len() == 3).await;
        assert_eq!(ids(&hits), [named["id"].as_str().unwrap(), emailed["id"].as_str().unwrap(), noted["id"].as_str().unwrap()]);
        assert_eq!(hits[0]["type"], "contacts");
        assert_eq!(hits[0]["title"], "Quimby Zed");
        assert!(hits[2]["snippet"].as_str().unwrap().starts_with("Talked to <b>quimby</b> about the renewal"), "{}", hits[2]["snippet"]);
        let only_notes = app.get("/api/v1/search?q=quimby&types=activities").await;
        assert_eq!(ids(only_notes.data()), [noted["id"].as_str().unwrap()]);
    }

    async fn writes_updates_and_deletes_reach_the_index(app: TestApp) {
        let created = app.create("companies", json!({"name": "Xylophone Works"})).await;
        let id = created["id"].as_str().unwrap();
        search_until(&app, "xylophone", |hits| rank_of(hits, id).is_some()).await;
        let typed = search_until(&app, "xylo", |hits| rank_of(hits, id).is_some()).await;
        assert_eq!(typed[0]["snippet"], "Xylophone Works", "a prefix match still shows its title");
        app.patch(&format!("/api/v1/companies/{id}"), &json!({"name": "Marimba Works"}), None).await;
        let renamed = search_until(&app, "marimba", |hits| rank_of(hits, id).is_some()).await;
        assert!(rank_of(&renamed, id).is_some(), "an update is findable by its new text");
        let old = search_until(&app, "xylophone", |hits| hits.is_empty()).await;
        assert!(old.is_empty(), "and no longer by its old text");
        app.delete(&format!("/api/v1/companies/{id}")).await;
        let gone = search_until(&app, "marimba", |hits| hits.is_empty()).await;
        assert!(gone.is_empty(), "a deleted record disappears");
        app.post(&format!("/api/v1/companies/{id}/restore"), &json!({})).await;
        let back = search_until(&app, "marimba", |hits| !hits.is_empty()).await;
        assert_eq!(ids(&back), [id], "a restored record comes back");

        app.post("/api/v1/meta/entities/companies/fields", &json!({"name": "motto", "type": "text", "searchable": true})).await;
        let with_motto = app.create("companies", json!({"name": "Plain", "motto": "Vorsprung durch Technik"})).await;
        let found = search_until(&app, "vorsprung", |hits| !hits.is_empty()).await;
        assert_eq!(ids(&found), [with_motto["id"].as_str().unwrap()], "custom searchable fields are indexed");
    }

    async fn search_stays_inside_the_workspace_and_refuses_bad_queries(app: TestApp) {
        let other = app.user("globex", "admin@globex.test", "admin").await;
        let mine = app.create("contacts", json!({"last_name": "Zanzibar"})).await;
        search_until(&app, "zanzibar", |hits| !hits.is_empty()).await;
        let theirs = app.request(Method::GET, "/api/v1/search?q=zanzibar", None, Some(&other), &[]).await;
        assert_eq!(theirs.status, StatusCode::OK);
        assert!(theirs.data().is_empty(), "another workspace finds nothing: {}", theirs.body);
        assert_eq!(ids(&search_until(&app, "zanzibar", |_| true).await), [mine["id"].as_str().unwrap()]);

        for (query, status) in [
            ("q=", StatusCode::BAD_REQUEST),
            ("", StatusCode::BAD_REQUEST),
            ("q=%00%07", StatusCode::BAD_REQUEST),
            (&format!("q={}", "a".repeat(10_000)), StatusCode::BAD_REQUEST),
            ("q=zanzibar&types=nothing", StatusCode::BAD_REQUEST),
            ("q=zanzibar&limit=0", StatusCode::BAD_REQUEST),
            ("q=zanzibar&limit=1000", StatusCode::BAD_REQUEST),
            ("q=zanzibar&sort=x", StatusCode::BAD_REQUEST),
            ("q=%22zanzibar", StatusCode::OK),
            ("q=zan%22zi%22bar%22", StatusCode::OK),
            ("q=*%3F(%5B", StatusCode::OK),
            ("q=zanzibar%01", StatusCode::OK),
        ] {
            let reply = app.get(&format!("/api/v1/search?{query}")).await;
            assert_eq!(reply.status, status, "{}: {}", query.chars().take(40).collect::<String>(), reply.body);
            if status != StatusCode::OK {
                assert_eq!(reply.code(), "invalid_parameter");
            }
        }
        let unauthenticated = app.request(Method::GET, "/api/v1/search?q=zanzibar", None, None, &[]).await;
        assert_eq!(unauthenticated.status, StatusCode::UNAUTHORIZED);
    }
}
