//! List queries: every filter operator checked against the same predicate computed in Rust,
//! multi-key sorts, projections, totals, and cursors that neither skip nor repeat while others
//! write.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, on_both};

/// Forty companies with varied, partly missing values, and a custom `tier` field.
async fn seed_companies(app: &TestApp) -> Vec<Value> {
    let field = app
        .post(
            "/api/v1/meta/entities/companies/fields",
            &json!({"name": "tier", "type": "integer"}),
        )
        .await;
    assert_eq!(field.status, StatusCode::CREATED, "{}", field.body);
    let industries = ["technology", "finance", "retail"];
    let records: Vec<Value> = (0..40)
        .map(|i: i64| {
            let mut record =
                json!({"name": format!("Company {i:02}"), "domain": format!("c{i}.example")});
            if i % 4 != 0 {
                record["industry"] = json!(industries[(i % 3) as usize]);
            }
            if i % 5 != 0 {
                record["employees"] = json!(i * 10);
                record["annual_revenue"] =
                    json!({"amount": format!("{}.50", i * 1000), "currency": "EUR"});
            }
            if i % 2 == 0 {
                record["tier"] = json!(i % 7);
            }
            record
        })
        .collect();
    let created = app
        .post(
            "/api/v1/companies/batch",
            &json!({"operation": "create", "records": records}),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    created.data().clone()
}

fn names(records: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = records
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

fn num(record: &Value, key: &str) -> Option<f64> {
    match &record[key] {
        Value::Number(n) => n.as_f64(),
        Value::Object(money) => money["amount"].as_str().and_then(|a| a.parse().ok()),
        _ => None,
    }
}

on_both! {
    async fn every_filter_operator_matches_an_independent_computation(app: TestApp) {
        let all = seed_companies(&app).await;
        let industry = |r: &Value| r["industry"].as_str().map(str::to_owned);
        type Predicate = Box<dyn Fn(&Value) -> bool>;
        let cases: Vec<(&str, Predicate)> = vec![
            ("industry[eq]:finance", Box::new(move |r| industry(r).as_deref() == Some("finance"))),
            ("industry[neq]:finance", Box::new(move |r| industry(r).as_deref() != Some("finance"))),
            ("employees[lt]:120", Box::new(|r| num(r, "employees").is_some_and(|n| n < 120.0))),
            ("employees[lte]:120", Box::new(|r| num(r, "employees").is_some_and(|n| n <= 120.0))),
            ("employees[gt]:120", Box::new(|r| num(r, "employees").is_some_and(|n| n > 120.0))),
            ("employees[gte]:120", Box::new(|r| num(r, "employees").is_some_and(|n| n >= 120.0))),
            ("annual_revenue[gte]:20000.5", Box::new(|r| num(r, "annual_revenue").is_some_and(|n| n >= 20000.5))),
            ("industry[in]:retail|technology", Box::new(|r| matches!(r["industry"].as_str(), Some("retail" | "technology")))),
            ("name[contains]:ANY 1", Box::new(|r| r["name"].as_str().unwrap().contains("any 1"))),
            ("name[starts_with]:company 3", Box::new(|r| r["name"].as_str().unwrap().starts_with("Company 3"))),
            ("industry[is_empty]", Box::new(|r| r.get("industry").is_none())),
            ("industry[is_empty]:false", Box::new(|r| r.get("industry").is_some())),
            ("tier[eq]:3", Box::new(|r| num(r, "tier") == Some(3.0))),
            ("tier[gte]:4", Box::new(|r| num(r, "tier").is_some_and(|n| n >= 4.0))),
            ("or(tier[eq]:0,employees[is_empty])", Box::new(|r| num(r, "tier") == Some(0.0) || r.get("employees").is_none())),
            ("and(industry[eq]:retail,not(employees[lt]:100))", Box::new(|r| r["industry"] == "retail" && !num(r, "employees").is_some_and(|n| n < 100.0))),
            ("not(industry[eq]:retail)", Box::new(|r| r["industry"] != "retail")),
            ("created_at[gte]:today-1d", Box::new(|_| true)),
            ("created_at[lt]:start_of_year-1y", Box::new(|_| false)),
            (r#"name[eq]:"Company 07""#, Box::new(|r| r["name"] == "Company 07")),
        ];
        for (filter, predicate) in cases {
            let expected: Vec<Value> = all.iter().filter(|r| predicate(r)).cloned().collect();
            let query = format!("filter={}", urlencode(filter));
            let found = app.all("companies", &query).await;
            assert_eq!(names(&found), names(&expected), "filter {filter}");
            let counted = app.get(&format!("/api/v1/companies?{query}&total=true&limit=1")).await;
            assert_eq!(counted.body["total"], json!(expected.len()), "total of {filter}");
        }
    }

    async fn lists_of_references_filter_through_their_index(app: TestApp) {
        let a = app.create("contacts", json!({"last_name": "A"})).await["id"].as_str().unwrap().to_owned();
        let b = app.create("companies", json!({"name": "B"})).await["id"].as_str().unwrap().to_owned();
        let first = app.create("activities", json!({"kind": "note", "subject": "1", "links": [a]})).await;
        app.create("activities", json!({"kind": "note", "subject": "2", "links": [a, b]})).await;
        app.create("activities", json!({"kind": "note", "subject": "3", "links": [b]})).await;
        app.create("activities", json!({"kind": "note", "subject": "4"})).await;
        assert_eq!(linked(&app, &format!("links[contains]:{a}")).await, ["1", "2"]);
        assert_eq!(linked(&app, &format!("links[in]:{a}|{b}")).await, ["1", "2", "3"]);
        // Updates, deletes and restores keep the index in step.
        let id = first["id"].as_str().unwrap();
        let moved = app.patch(&format!("/api/v1/activities/{id}"), &json!({"links": [b]}), None).await;
        assert_eq!(moved.status, StatusCode::OK);
        assert_eq!(linked(&app, &format!("links[contains]:{a}")).await, ["2"]);
        assert_eq!(linked(&app, &format!("links[contains]:{b}")).await, ["1", "2", "3"]);
        assert_eq!(app.delete(&format!("/api/v1/activities/{id}")).await.status, StatusCode::OK);
        assert_eq!(linked(&app, &format!("links[contains]:{b}")).await, ["2", "3"]);
        assert_eq!(app.post(&format!("/api/v1/activities/{id}/restore"), &json!({})).await.status, StatusCode::OK);
        assert_eq!(linked(&app, &format!("links[contains]:{b}")).await, ["1", "2", "3"]);
        let cleared = app.patch(&format!("/api/v1/activities/{id}"), &json!({"links": null}), None).await;
        assert_eq!(cleared.status, StatusCode::OK);
        assert_eq!(linked(&app, &format!("links[contains]:{b}")).await, ["2", "3"]);
        let bad = app.get(&format!("/api/v1/activities?filter={}", urlencode("links[contains]:nope"))).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    }

    async fn list_fields_on_tags_and_dates(app: TestApp) {
        app.create("contacts", json!({"last_name": "A", "tags": ["vip", "trial"]})).await;
        app.create("contacts", json!({"last_name": "B", "tags": ["trial"]})).await;
        app.create("contacts", json!({"last_name": "C"})).await;
        let vip = app.all("contacts", &format!("filter={}", urlencode("tags[contains]:vip"))).await;
        assert_eq!(vip.len(), 1);
        let any = app.all("contacts", &format!("filter={}", urlencode("tags[in]:vip|trial"))).await;
        assert_eq!(any.len(), 2);
        let untagged = app.all("contacts", &format!("filter={}", urlencode("tags[is_empty]"))).await;
        assert_eq!(untagged[0]["last_name"], "C");
        let bad = app.get(&format!("/api/v1/contacts?filter={}", urlencode("tags[gt]:a"))).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
        assert_eq!(bad.code(), "invalid_filter");

        app.create("activities", json!({"kind": "task", "subject": "Past", "due_at": "2020-01-01T10:00:00+02:00"})).await;
        app.create("activities", json!({"kind": "task", "subject": "Soon", "due_at": chrono_in_days(3)})).await;
        let overdue = app.all("activities", &format!("filter={}", urlencode("due_at[lt]:now"))).await;
        assert_eq!(overdue.len(), 1);
        assert_eq!(overdue[0]["due_at"], "2020-01-01T08:00:00.000Z");
        let this_week = app.all("activities", &format!("filter={}", urlencode("and(due_at[gte]:today,due_at[lt]:today+7d)"))).await;
        assert_eq!(this_week[0]["subject"], "Soon");
    }

    async fn filters_read_whitespace_of_any_script_around_their_terms(app: TestApp) {
        app.create("contacts", json!({ "first_name": "Ada", "last_name": "王小明" })).await;
        app.create("contacts", json!({ "first_name": "Grace", "last_name": "Hopper" })).await;
        // A no-break space before the term, an ideographic space after it, and a CJK value.
        let found = app.all("contacts", "filter=%C2%A0first_name%5Beq%5D%3AAda%E3%80%80").await;
        assert_eq!(found.len(), 1, "{found:?}");
        let found = app.all("contacts", "filter=and(%E2%80%83last_name%5Beq%5D%3A%E7%8E%8B%E5%B0%8F%E6%98%8E)").await;
        assert_eq!(found.iter().map(|c| c["first_name"].as_str().unwrap()).collect::<Vec<_>>(), ["Ada"]);
    }

    async fn multi_key_sort_with_nulls_and_projection(app: TestApp) {
        let all = seed_companies(&app).await;
        let sorted = app.all("companies", "sort=-industry,employees&fields=name,industry,employees").await;
        assert_eq!(sorted.len(), all.len());
        for record in &sorted {
            let keys: HashSet<&str> = record.as_object().unwrap().keys().map(String::as_str).collect();
            assert!(keys.is_subset(&HashSet::from(["id", "version", "name", "industry", "employees"])), "{keys:?}");
        }
        let key = |r: &Value| (r["industry"].as_str().map(str::to_owned), num(r, "employees").map(|n| n as i64));
        let mut expected: Vec<Value> = all.clone();
        // Missing values sort lowest: last when descending, first when ascending.
        expected.sort_by(|a, b| {
            let (ia, ea) = key(a);
            let (ib, eb) = key(b);
            ib.cmp(&ia).then(ea.cmp(&eb)).then(a["id"].as_str().cmp(&b["id"].as_str()))
        });
        let got: Vec<&Value> = sorted.iter().map(|r| &r["id"]).collect();
        let want: Vec<&Value> = expected.iter().map(|r| &r["id"]).collect();
        assert_eq!(got, want);
        let bad = app.get("/api/v1/companies?sort=-nope").await;
        assert_eq!(bad.code(), "invalid_sort");
    }

    async fn references_sort_by_the_title_they_point_at_as_the_reader_may_see_it(app: TestApp) {
        // A rep who reads every contact but only their own companies.
        let role = json!({
            "name": "own_companies",
            "types": {"company": {"create": "all", "read": "own", "edit": "own", "delete": "own"}, "*": {"create": "all", "read": "all", "edit": "all", "delete": "none"}},
        });
        app.save_role("own_companies", &role).await;
        let rep = app.user("acme", "rep@acme.test", "own_companies").await;
        let mut companies = Vec::new();
        for (name, mine) in [("Delta", true), ("Alpha", false), ("Charlie", true), ("Bravo", true), ("Echo", true)] {
            let token = if mine { &rep } else { &app.token };
            let made = app.request(reqwest::Method::POST, "/api/v1/companies", Some(&json!({ "name": name })), Some(token), &[]).await;
            assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
            companies.push((made.body["id"].as_str().unwrap().to_owned(), name, mine));
        }
        for i in 0..14 {
            let mut contact = json!({ "last_name": format!("Person {i:02}") });
            if i % 6 != 5 {
                contact["company"] = json!(companies[i % companies.len()].0);
            }
            app.create("contacts", contact).await;
        }
        // Echo goes to the trash: a reference to it sorts like an empty one.
        let echo = &companies[4].0;
        assert!(app.delete(&format!("/api/v1/companies/{echo}")).await.status.is_success());
        // What each reader should see as a contact's company title.
        let title_for = |company: &Value, admin: bool| -> Option<String> {
            let id = company.as_str()?;
            let (_, name, mine) = companies.iter().find(|(c, ..)| c == id)?;
            (*name != "Echo" && (admin || *mine)).then(|| (*name).to_owned())
        };
        for (token, admin) in [(&app.token, true), (&rep, false)] {
            let all = app.all("contacts", "").await;
            for descending in [false, true] {
                let mut want: Vec<(Option<String>, String)> = all
                    .iter()
                    .map(|c| (title_for(&c["company"], admin), c["id"].as_str().unwrap().to_owned()))
                    .collect();
                // Empty titles lowest: first ascending, last descending; ties by id in the
                // last key's direction.
                want.sort();
                if descending {
                    want.reverse();
                }
                let want: Vec<String> = want.into_iter().map(|(_, id)| id).collect();
                let sort = if descending { "-company" } else { "company" };
                let mut got = Vec::new();
                let mut cursor: Option<String> = None;
                loop {
                    let mut path = format!("/api/v1/contacts?limit=4&sort={sort}");
                    if let Some(c) = &cursor {
                        path.push_str(&format!("&cursor={c}"));
                    }
                    let page = app.request(reqwest::Method::GET, &path, None, Some(token), &[]).await;
                    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
                    got.extend(page.data().iter().map(|r| r["id"].as_str().unwrap().to_owned()));
                    match page.body["next_cursor"].as_str() {
                        Some(next) => cursor = Some(next.to_owned()),
                        None => break,
                    }
                }
                assert_eq!(got, want, "sorted by {sort} as the {} sees it", if admin { "admin" } else { "rep" });
            }
        }
    }

    async fn cursors_neither_skip_nor_repeat_while_others_write(app: TestApp) {
        let all = seed_companies(&app).await;
        let original: HashSet<String> = all.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
        for sort in ["", "sort=name", "sort=-annual_revenue,name", "sort=-tier,industry"] {
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            let mut page_no = 0;
            loop {
                let mut path = format!("/api/v1/companies?limit=7&{sort}");
                if let Some(c) = &cursor {
                    path.push_str(&format!("&cursor={c}"));
                }
                let page = app.get(&path).await;
                assert_eq!(page.status, StatusCode::OK, "{}", page.body);
                seen.extend(page.data().iter().map(|r| r["id"].as_str().unwrap().to_owned()));
                // Others write between pages: new records, and deletes of records not yet
                // reached would be legitimate skips, so only insert and update here.
                page_no += 1;
                app.create("companies", json!({"name": format!("Intruder {sort} {page_no}"), "tier": 3})).await;
                match page.body["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => break,
                }
            }
            let unique: HashSet<&String> = seen.iter().collect();
            assert_eq!(unique.len(), seen.len(), "no record repeats ({sort})");
            let missing: Vec<&String> = original.iter().filter(|id| !unique.contains(id)).collect();
            assert!(missing.is_empty(), "no original record is skipped ({sort}): {missing:?}");
        }
        let wrong = app.get("/api/v1/companies?limit=2").await;
        let cursor = wrong.body["next_cursor"].as_str().unwrap().to_owned();
        let reused = app.get(&format!("/api/v1/companies?limit=2&sort=name&cursor={cursor}")).await;
        assert_eq!(reused.status, StatusCode::BAD_REQUEST);
        assert_eq!(reused.code(), "invalid_cursor");
    }
}

/// The subjects of the activities a filter finds.
async fn linked(app: &TestApp, filter: &str) -> Vec<String> {
    let found = app
        .all("activities", &format!("filter={}", urlencode(filter)))
        .await;
    found
        .iter()
        .map(|r| r["subject"].as_str().unwrap().to_owned())
        .collect()
}

pub fn urlencode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn chrono_in_days(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}
