//! Data in and out: imports of ugly files row by row (preview, commit, result file, undo),
//! imports that cannot duplicate (twice, or killed and run again), and exports a list's
//! reader may see.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Reply, TestApp, on_both};
use crate::web::Session;

/// Uploads `bytes` as an import of `plural` (with `query` parameters), as `token`.
async fn upload(app: &TestApp, token: &str, plural: &str, query: &str, bytes: Vec<u8>) -> Reply {
    let response = app
        .client
        .post(format!("{}/api/v1/imports?type={plural}{query}", app.base))
        .bearer_auth(token)
        .header("content-type", "text/csv")
        .body(bytes)
        .send()
        .await
        .expect("request reaches the server");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    Reply {
        status,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        headers,
    }
}

/// The body of a GET as text (CSV downloads).
async fn text(app: &TestApp, path: &str) -> (StatusCode, String) {
    let response = app
        .client
        .get(format!("{}{path}", app.base))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("request reaches the server");
    let status = response.status();
    (status, response.text().await.expect("text"))
}

/// Commits a previewed import and waits until it is no longer running.
async fn commit(app: &TestApp, id: &str) -> Value {
    let started = app
        .post(&format!("/api/v1/imports/{id}/commit"), &json!({}))
        .await;
    assert_eq!(started.status, StatusCode::ACCEPTED, "{}", started.body);
    for _ in 0..600 {
        let import = app.get(&format!("/api/v1/imports/{id}")).await.body;
        if import["status"] != "running" {
            return import;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("import {id} still running after a minute");
}

/// Uploads, previews with `plan` and commits; answers the preview and the finished import.
async fn import_file(app: &TestApp, plural: &str, bytes: Vec<u8>, plan: &Value) -> (Value, Value) {
    let uploaded = upload(app, &app.token, plural, "", bytes).await;
    assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
    let id = uploaded.body["import"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let preview = app
        .post(&format!("/api/v1/imports/{id}/preview"), plan)
        .await;
    assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
    let done = commit(app, &id).await;
    (preview.body["preview"].clone(), done)
}

/// The live contact with this email.
async fn by_email(app: &TestApp, email: &str) -> Value {
    let filter: String =
        form_urlencoded::byte_serialize(format!("email[eq]:{email}").as_bytes()).collect();
    let found = app.get(&format!("/api/v1/contacts?filter={filter}")).await;
    found
        .data()
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("no contact {email}"))
}

async fn emails(app: &TestApp) -> Vec<String> {
    let list = app.get("/api/v1/contacts?limit=500&sort=email").await;
    let mut emails: Vec<String> = (list.data().iter())
        .filter_map(|c| c["email"].as_str().map(str::to_owned))
        .collect();
    emails.sort();
    emails
}

/// The ugly file: a byte-order mark, `;` delimiters, CRLF, a quoted newline, a bad email, a
/// key repeated further down, a company nobody has, a ragged row, a 300 KB cell, a blank line.
fn ugly_file() -> Vec<u8> {
    let long = "x".repeat(300 * 1024);
    let rows = [
        "First name;Last name;E-mail;Company;Tags;Title;Remarks",
        "Ada;Lovelace;Ada@Example.com;Acme;vip, math;Countess;first",
        "\"Grace\";\"Hopper\";grace@example.com;\"Acme\";;\"Rear; Admiral\";",
        "\"Multi\nLine\";Person;multi@example.com;;;;",
        "Bad;Email;not-an-email;;;;",
        "Second;Ada;ADA@example.com;;;;dup",
        "Missing;Company;missing@example.com;Nowhere Ltd;;;",
        "Too;Many;extra@example.com;;;;;surplus",
        &format!("Long;Cell;long@example.com;;;{long};"),
        "",
        "<script>alert(1)</script>;=HYPERLINK(\"http://evil\");script@example.com;;;;",
    ];
    let mut bytes = "\u{feff}".as_bytes().to_vec();
    bytes.extend(rows.join("\r\n").into_bytes());
    bytes
}

fn upsert_by_email() -> Value {
    json!({
        "mapping": {
            "First name": "first_name",
            "Last name": "last_name",
            "E-mail": "email",
            "Company": "company",
            "Tags": "tags",
            "Title": "title",
        },
        "mode": "upsert",
        "key": "email",
    })
}

/// Per spreadsheet row: its outcome and the column at fault.
fn expected_outcomes() -> Vec<(u64, &'static str, Option<&'static str>)> {
    vec![
        (2, "created", None),
        (3, "created", None),
        (4, "failed", Some("First name")),
        (5, "failed", Some("E-mail")),
        (6, "skipped", Some("E-mail")),
        (7, "failed", Some("Company")),
        (8, "failed", None),
        (9, "failed", Some("Title")),
        (10, "created", None),
    ]
}

on_both! {
    /// Every row of an ugly file ends as the corpus says, with its column and reason; the
    /// preview writes nothing and predicts the commit; the result file lists every row; the
    /// same file again changes nothing; the undo takes the import back.
    async fn an_ugly_file_ends_row_by_row_as_expected(app: TestApp) {
        let acme = app.create("companies", json!({ "name": "Acme", "domain": "acme.test" })).await;
        let uploaded = upload(&app, &app.token, "contacts", "&file_name=people.csv", ugly_file()).await;
        assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
        let import = &uploaded.body["import"];
        assert_eq!(import["reading"]["delimiter"], ";");
        assert_eq!(import["reading"]["encoding"], "utf-8");
        assert_eq!(import["total_rows"], 9, "the blank line is no row");
        // The suggestion maps headers to fields by name or label, and leaves the rest.
        assert_eq!(import["plan"]["mapping"]["E-mail"], "email");
        assert_eq!(import["plan"]["mapping"]["First name"], "first_name");
        assert!(import["plan"]["mapping"].get("Remarks").is_none());
        let id = import["id"].as_str().expect("id").to_owned();

        let preview = app.post(&format!("/api/v1/imports/{id}/preview"), &upsert_by_email()).await;
        assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
        let counts = &preview.body["preview"]["counts"];
        assert_eq!(counts, &json!({ "created": 3, "updated": 0, "unchanged": 0, "skipped": 1, "failed": 5 }));
        let listed: Vec<(u64, String, Option<String>)> = (preview.body["preview"]["problems"].as_array().expect("problems").iter())
            .map(|p| (
                p["row"].as_u64().expect("row"),
                p["outcome"].as_str().expect("outcome").to_owned(),
                p["problems"][0]["column"].as_str().map(str::to_owned),
            ))
            .collect();
        let expected: Vec<(u64, String, Option<String>)> = (expected_outcomes().into_iter())
            .filter(|(_, outcome, _)| *outcome != "created")
            .map(|(row, outcome, column)| (row, outcome.to_owned(), column.map(str::to_owned)))
            .collect();
        assert_eq!(listed, expected);
        assert!(emails(&app).await.is_empty(), "a preview writes nothing");

        let done = commit(&app, &id).await;
        assert_eq!(done["status"], "done", "{done}");
        assert_eq!(&done["counts"], counts, "the commit does what the preview said");
        assert_eq!(done["done_rows"], 9);
        assert_eq!(emails(&app).await, ["ada@example.com", "grace@example.com", "script@example.com"]);
        let ada = &by_email(&app, "ada@example.com").await;
        assert_eq!(ada["company"], acme["id"], "the company found by its name");
        assert_eq!(ada["tags"], json!(["vip", "math"]));
        assert_eq!(ada["first_name"], "Ada", "the first of two rows with one key wins");
        assert_eq!(by_email(&app, "grace@example.com").await["title"], "Rear; Admiral");

        // The result file: every row, its outcome, its record, its reason.
        let (status, csv) = text(&app, &format!("/api/v1/imports/{id}/result")).await;
        assert_eq!(status, StatusCode::OK);
        let mut reader = csv::ReaderBuilder::new().from_reader(csv.as_bytes());
        let headers = reader.headers().expect("headers").clone();
        let at = |name: &str| headers.iter().position(|h| h == name).expect(name);
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
        assert_eq!(rows.len(), 9);
        for ((row, outcome, column), record) in expected_outcomes().into_iter().zip(&rows) {
            assert_eq!(record[at("kith_row")], row.to_string());
            assert_eq!(&record[at("kith_outcome")], outcome, "row {row}");
            assert_eq!(record[at("kith_record_id")].is_empty(), outcome != "created", "row {row}");
            if let Some(column) = column {
                assert!(record[at("kith_reason")].starts_with(&format!("{column}: ")), "row {row}: {}", &record[at("kith_reason")]);
            }
        }
        // The formula a cell held comes back inert.
        assert!(rows[8][at("Last name")].starts_with("'="), "{}", &rows[8][at("Last name")]);

        // The same file again: nothing new, nothing changed.
        // …whose upload suggests the plan committed last time for the same columns.
        let reused = upload(&app, &app.token, "contacts", "", ugly_file()).await;
        assert_eq!(reused.body["import"]["plan"]["key"], "email", "{}", reused.body);
        assert_eq!(reused.body["import"]["plan"]["mapping"]["Title"], "title");
        let (_, again) = import_file(&app, "contacts", ugly_file(), &upsert_by_email()).await;
        assert_eq!(again["counts"], json!({ "created": 0, "updated": 0, "unchanged": 3, "skipped": 1, "failed": 5 }));
        assert_eq!(emails(&app).await.len(), 3);

        // An undo deletes what the import created (a record changed since is kept).
        let script_id = by_email(&app, "script@example.com").await["id"].as_str().expect("id").to_owned();
        let edited = app.patch(&format!("/api/v1/contacts/{script_id}"), &json!({ "title": "Changed later" }), None).await;
        assert_eq!(edited.status, StatusCode::OK);
        let undone = app.post(&format!("/api/v1/imports/{id}/undo"), &json!({})).await;
        assert_eq!(undone.status, StatusCode::OK, "{}", undone.body);
        assert_eq!(undone.body["deleted"], 2);
        assert_eq!(undone.body["kept"][0]["row"], 10);
        assert_eq!(emails(&app).await, ["script@example.com"]);
        let again = app.post(&format!("/api/v1/imports/{id}/preview"), &upsert_by_email()).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "an undone import is not previewed again");
    }

    /// An upsert's updates are kept with their old values: the undo puts them back, and
    /// update-only rows whose key finds nothing are skipped.
    async fn updates_are_undone_to_their_old_values(app: TestApp) {
        let kept = app.create("contacts", json!({ "first_name": "Kept", "email": "kept@example.com", "title": "CTO" })).await;
        let file = "email,title\nKEPT@example.com,CEO\nnobody@example.com,Intern\n".as_bytes().to_vec();
        let plan = json!({ "mapping": { "email": "email", "title": "title" }, "mode": "update", "key": "email" });
        let (preview, done) = import_file(&app, "contacts", file, &plan).await;
        assert_eq!(preview["counts"], json!({ "created": 0, "updated": 1, "unchanged": 0, "skipped": 1, "failed": 0 }));
        assert_eq!(done["counts"], preview["counts"]);
        let path = format!("/api/v1/contacts/{}", kept["id"].as_str().expect("id"));
        assert_eq!(app.get(&path).await.body["title"], "CEO");
        let id = done["id"].as_str().expect("id");
        let undone = app.post(&format!("/api/v1/imports/{id}/undo"), &json!({})).await;
        assert_eq!(undone.body["reverted"], 1, "{}", undone.body);
        assert_eq!(app.get(&path).await.body["title"], "CTO");
    }

    /// GBK and Windows-1252 files are detected and read as written; an XLSX's formulas are
    /// imported as their values, its dates as dates.
    async fn legacy_encodings_and_workbooks_read_as_written(app: TestApp) {
        let (gbk, _, unmappable) = encoding_rs::GBK.encode("名,姓,邮箱,备注\n小明,王,wang@example.cn,客户对续约价格有疑问，需要销售经理跟进\n伟,张,zhang@example.cn,北京字节跳动科技有限公司的采购负责人\n");
        assert!(!unmappable);
        let gbk = gbk.into_owned();
        let uploaded = upload(&app, &app.token, "contacts", "", gbk).await;
        assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
        assert_eq!(uploaded.body["import"]["reading"]["encoding"], "gbk");
        assert_eq!(uploaded.body["columns"][0]["samples"], json!(["小明", "伟"]));
        let id = uploaded.body["import"]["id"].as_str().expect("id").to_owned();
        let plan = json!({ "mapping": { "名": "first_name", "姓": "last_name", "邮箱": "email" } });
        let preview = app.post(&format!("/api/v1/imports/{id}/preview"), &plan).await;
        assert_eq!(preview.body["preview"]["counts"]["created"], 2, "{}", preview.body);
        assert_eq!(commit(&app, &id).await["status"], "done");
        let wang = by_email(&app, "wang@example.cn").await;
        assert_eq!((wang["first_name"].as_str(), wang["last_name"].as_str()), (Some("小明"), Some("王")));

        let workbook = host_workbook();
        let uploaded = upload(&app, &app.token, "companies", "&file_name=firms.xlsx", workbook).await;
        assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
        let id = uploaded.body["import"]["id"].as_str().expect("id").to_owned();
        let plan = json!({ "mapping": { "Name": "name", "Employees": "employees", "Industry": "industry" }, "mode": "upsert", "key": "name" });
        let preview = app.post(&format!("/api/v1/imports/{id}/preview"), &plan).await;
        assert_eq!(preview.body["preview"]["counts"]["created"], 2, "{}", preview.body);
        assert_eq!(commit(&app, &id).await["status"], "done");
        let firms = app.get("/api/v1/companies?sort=name").await;
        let firms: Vec<(Value, Value, Value)> = firms.data().iter().map(|f| (f["name"].clone(), f["employees"].clone(), f["industry"].clone())).collect();
        assert_eq!(firms, vec![
            (json!("Formula Works"), json!(42), json!("technology")),
            (json!("Plain Ltd"), json!(7), json!("retail")),
        ]);
    }

    /// A member imports only what they may write; another workspace cannot see, preview,
    /// commit, read or undo an import; a hidden or unknown field cannot be mapped.
    async fn imports_keep_to_the_importers_permissions(app: TestApp) {
        let admins = app.create("contacts", json!({ "first_name": "Admin's", "email": "owned@example.com", "title": "Boss" })).await;
        let member = app.user("acme", "member@acme.test", "member").await;
        let reader = app.user("acme", "reader@acme.test", "read_only").await;
        let stranger = app.user("globex", "spy@globex.test", "admin").await;

        let file = "email,title\nowned@example.com,Pwned\nmine@example.com,Mine\n".as_bytes().to_vec();
        let refused = upload(&app, &reader, "contacts", "", file.clone()).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);

        let uploaded = upload(&app, &member, "contacts", "", file).await;
        assert_eq!(uploaded.status, StatusCode::CREATED, "{}", uploaded.body);
        let id = uploaded.body["import"]["id"].as_str().expect("id").to_owned();
        let as_member = |method: Method, path: String, body: Value| {
            let token = member.clone();
            let app = &app;
            async move { app.request(method, &path, Some(&body), Some(&token), &[]).await }
        };
        let plan = json!({ "mapping": { "email": "email", "title": "title" }, "mode": "upsert", "key": "email" });
        let preview = as_member(Method::POST, format!("/api/v1/imports/{id}/preview"), plan.clone()).await;
        assert_eq!(preview.status, StatusCode::OK, "{}", preview.body);
        assert_eq!(preview.body["preview"]["counts"]["failed"], 1, "{}", preview.body);
        assert_eq!(preview.body["preview"]["problems"][0]["problems"][0]["code"], "forbidden");

        for (method, path) in [
            (Method::GET, format!("/api/v1/imports/{id}")),
            (Method::POST, format!("/api/v1/imports/{id}/preview")),
            (Method::POST, format!("/api/v1/imports/{id}/commit")),
            (Method::GET, format!("/api/v1/imports/{id}/result")),
            (Method::POST, format!("/api/v1/imports/{id}/undo")),
        ] {
            let body = if method == Method::POST { Some(&plan) } else { None };
            let answer = app.request(method.clone(), &path, body, Some(&stranger), &[]).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method} {path}: {}", answer.body);
        }
        let listed = app.request(Method::GET, "/api/v1/imports", None, Some(&stranger), &[]).await;
        assert!(listed.data().is_empty());

        let started = as_member(Method::POST, format!("/api/v1/imports/{id}/commit"), json!({})).await;
        assert_eq!(started.status, StatusCode::ACCEPTED);
        for _ in 0..300 {
            let status = as_member(Method::GET, format!("/api/v1/imports/{id}"), json!(null)).await;
            if status.body["status"] != "running" {
                assert_eq!(status.body["counts"]["created"], 1, "{}", status.body);
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let path = format!("/api/v1/contacts/{}", admins["id"].as_str().expect("id"));
        assert_eq!(app.get(&path).await.body["title"], "Boss", "the admin's record is untouched");

        let hidden = json!({ "mapping": { "email": "password_hash" } });
        let uploaded = upload(&app, &app.token, "contacts", "", b"email\nx@example.com\n".to_vec()).await;
        let id = uploaded.body["import"]["id"].as_str().expect("id").to_owned();
        let answer = app.post(&format!("/api/v1/imports/{id}/preview"), &hidden).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "invalid_body"));
    }

    /// Malformed uploads and plans get a precise 4xx and change nothing.
    async fn malformed_imports_are_refused_precisely(app: TestApp) {
        let cases: Vec<(&str, &str, Vec<u8>, StatusCode)> = vec![
            ("nobody", "", b"a\n1\n".to_vec(), StatusCode::NOT_FOUND),
            ("contacts", "", Vec::new(), StatusCode::BAD_REQUEST),
            ("contacts", "&format=xlsx", b"PK\x03\x04 broken".to_vec(), StatusCode::BAD_REQUEST),
            ("contacts", "&encoding=utf-8", b"name\n\xff\xfe\n".to_vec(), StatusCode::BAD_REQUEST),
            ("contacts", "&encoding=klingon", b"name\nx\n".to_vec(), StatusCode::BAD_REQUEST),
            ("contacts", "&delimiter=ab", b"name\nx\n".to_vec(), StatusCode::BAD_REQUEST),
            ("contacts", "&format=pdf", b"name\nx\n".to_vec(), StatusCode::BAD_REQUEST),
            ("contacts", "&surprise=1", b"name\nx\n".to_vec(), StatusCode::BAD_REQUEST),
            ("contacts", "", b"\"unclosed\nx\n".to_vec(), StatusCode::CREATED),
        ];
        for (plural, query, bytes, status) in cases {
            let answer = upload(&app, &app.token, plural, query, bytes).await;
            assert_eq!(answer.status, status, "{plural}{query}: {}", answer.body);
            if status != StatusCode::CREATED {
                assert!(answer.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", answer.body);
            }
        }
        let uploaded = upload(&app, &app.token, "contacts", "", b"Email,Name\nx@example.com,X\n".to_vec()).await;
        let id = uploaded.body["import"]["id"].as_str().expect("id").to_owned();
        let early = app.post(&format!("/api/v1/imports/{id}/commit"), &json!({})).await;
        assert_eq!(early.status, StatusCode::CONFLICT, "commit needs a preview first");
        let plans = [
            json!({ "mapping": { "Nope": "email" } }),
            json!({ "mapping": { "Email": "nope" } }),
            json!({ "mapping": { "Email": "email", "Name": "email" } }),
            json!({ "mapping": {} }),
            json!({ "mapping": { "Email": "email" }, "mode": "upsert" }),
            json!({ "mapping": { "Email": "email" }, "mode": "upsert", "key": "first_name" }),
            json!({ "mapping": { "Email": "email" }, "mode": "sideways" }),
            json!({ "mapping": { "Email": "email" }, "extra": true }),
            json!({ "mapping": { "Email": "email" }, "references": { "email": { "by": "name" } } }),
            json!({ "mapping": { "Email": "email" }, "references": { "company": { "by": "nope" } } }),
        ];
        for plan in plans {
            let answer = app.post(&format!("/api/v1/imports/{id}/preview"), &plan).await;
            assert!(answer.status == StatusCode::BAD_REQUEST || answer.status == StatusCode::UNPROCESSABLE_ENTITY, "{plan}: {} {}", answer.status, answer.body);
        }
        for path in ["/api/v1/imports/not-a-uuid", "/api/v1/imports/00000000-0000-0000-0000-000000000000"] {
            let answer = app.get(path).await;
            assert!(answer.status == StatusCode::BAD_REQUEST || answer.status == StatusCode::NOT_FOUND, "{path}");
        }
        assert_eq!(app.get(&format!("/api/v1/imports/{id}")).await.body["status"], "uploaded", "nothing changed");
        assert!(emails(&app).await.is_empty());
        let export = app.get("/api/v1/contacts/export?format=pdf").await;
        assert_eq!(export.code(), "invalid_parameter");
        let export = app.get("/api/v1/contacts/export?filter=nope%5Beq%5D%3A1").await;
        assert_eq!(export.status, StatusCode::BAD_REQUEST);
    }

    /// An export is the list as its reader sees it — filter, sort, columns, hidden fields —
    /// in CSV, JSON lines and XLSX; a CSV export imported again (update by id) changes
    /// nothing.
    async fn exports_are_the_readers_list_and_import_back_unchanged(app: TestApp) {
        let acme = app.create("companies", json!({ "name": "Acme", "annual_revenue": { "amount": "1200.50", "currency": "EUR" } })).await;
        for (first, title) in [("Ada", "=SUM(A1)"), ("Grace", "Admiral"), ("Linus", "Kernel")] {
            app.create("contacts", json!({ "first_name": first, "title": title, "email": format!("{}@example.com", first.to_lowercase()), "company": acme["id"], "tags": ["a", "b"] })).await;
        }
        let (status, csv) = text(&app, "/api/v1/contacts/export?sort=-first_name&filter=first_name%5Bne%5D%3ALinus&fields=first_name,title,tags").await;
        assert_eq!(status, StatusCode::OK);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines[0], "id,first_name,title,tags");
        assert_eq!(lines.len(), 3, "{csv}");
        assert!(lines[1].contains(",Grace,Admiral,a; b"), "{csv}");
        assert!(lines[2].contains(",Ada,'=SUM(A1),"), "a formula is made inert: {csv}");

        let (_, jsonl) = text(&app, "/api/v1/contacts/export?format=jsonl").await;
        let records: Vec<Value> = jsonl.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
        assert_eq!(records.len(), 3);
        assert_eq!(records[0]["company"], acme["id"]);

        let response = app.client.get(format!("{}/api/v1/companies/export?format=xlsx", app.base)).bearer_auth(&app.token).send().await.expect("export");
        let workbook = response.bytes().await.expect("bytes").to_vec();
        let mut reading = host::transfer::source::Reading { format: host::transfer::source::Format::Xlsx, ..Default::default() };
        let table = host::transfer::source::read(&workbook, &mut reading).expect("our own workbook reads");
        let revenue = table.headers.iter().position(|h| h == "annual_revenue").expect("column");
        assert_eq!(table.rows[0][revenue], "1200.50 EUR");

        // Hidden from the reader: a role without `title` exports no such column.
        app.save_role("no_titles", &json!({ "name": "no_titles", "types": { "*": { "create": "all", "read": "all", "edit": "all" } }, "fields": { "contact": { "title": { "read": false } } } })).await;
        let limited = app.user("acme", "limited@acme.test", "no_titles").await;
        let response = app.client.get(format!("{}/api/v1/contacts/export", app.base)).bearer_auth(&limited).send().await.expect("export");
        let csv = response.text().await.expect("text");
        assert!(!csv.lines().next().unwrap_or_default().contains("title"), "{csv}");
        assert!(!csv.contains("Admiral"));
        // …and cannot import into it either.
        let uploaded = upload(&app, &limited, "contacts", "", b"email,title\nx@example.com,Spy\n".to_vec()).await;
        let id = uploaded.body["import"]["id"].as_str().expect("id").to_owned();
        assert!(uploaded.body["import"]["plan"]["mapping"].get("title").is_none(), "not suggested");
        let mapped = json!({ "mapping": { "email": "email", "title": "title" } });
        let answer = app.request(Method::POST, &format!("/api/v1/imports/{id}/preview"), Some(&mapped), Some(&limited), &[]).await;
        assert_eq!((answer.status, answer.code()), (StatusCode::BAD_REQUEST, "invalid_body"), "{}", answer.body);

        // Export, then import the same file as an update by id: nothing changes.
        let (_, csv) = text(&app, "/api/v1/contacts/export").await;
        let plan = json!({ "mapping": { "id": "id", "first_name": "first_name", "title": "title", "tags": "tags", "company": "company", "email": "email" }, "mode": "update", "key": "id" });
        let (preview, done) = import_file(&app, "contacts", csv.into_bytes(), &plan).await;
        assert_eq!(preview["counts"]["unchanged"], 2, "{preview}");
        // The inert `'=SUM(A1)` is what the file says now: the one row that changes.
        assert_eq!(done["counts"]["updated"], 1, "{done}");
    }

    /// The import pages without JavaScript: upload (CSRF-checked), map, check every row,
    /// commit, watch, and the outcome; sample values are escaped; another person's import
    /// is not found; the list offers the import and its exports.
    async fn the_import_pages_take_a_file_from_upload_to_outcome(app: TestApp) {
        crate::web::user(&app, "importer@acme.test", "admin").await;
        crate::web::user(&app, "other@acme.test", "member").await;
        let web = Session::login(&app, "importer@acme.test").await;
        let list = web.get("/records/contacts").await;
        assert!(list.text().contains("href=\"/records/contacts/import\""), "{}", list.html);
        assert!(list.text().contains("/api/v1/contacts/export?format=csv"), "{}", list.html);

        let file = "Given name,Mail\n<script>alert(1)</script>,web@example.com\nBad,not-an-email\n".as_bytes();
        let forged = web.post_file("/records/contacts/import", &[], ("file", "people.csv", file), false).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.html);
        let uploaded = web.post_file("/records/contacts/import", &[("encoding", "auto"), ("delimiter", "auto")], ("file", "people.csv", file), true).await;
        assert_eq!(uploaded.status, StatusCode::SEE_OTHER, "{}", uploaded.html);
        let url = uploaded.location.clone().expect("to the import");
        assert!(url.starts_with("/imports/"), "{url}");
        assert_eq!(app.get("/api/v1/imports").await.data().len(), 1, "the forged upload stored nothing");

        let mapping = web.get(&url).await;
        assert_eq!(mapping.status, StatusCode::OK);
        assert!(mapping.html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "a sample is escaped: {}", mapping.html);
        assert!(!mapping.html.contains("<script>alert(1)"));
        let checked = web.post(&format!("{url}/preview"), &[("col.0", "first_name"), ("col.1", "email"), ("mode", "create")]).await;
        assert_eq!(checked.status, StatusCode::OK, "{}", checked.html);
        assert!(checked.text().contains("1 created, 0 updated, 0 unchanged, 0 skipped, 1 failed"), "{}", checked.html);
        assert!(checked.text().contains("Mail"), "the failing column is named");

        // The reasons are in the reader's language (the API's Accept-Language here).
        let zh = app.request(Method::POST, &format!("/api/v1/imports/{}/preview", url.trim_start_matches("/imports/")), Some(&json!({ "mapping": { "Given name": "first_name", "Mail": "email" } })), Some(&app.token), &[("accept-language", "zh-CN")]).await;
        let reason = zh.body["preview"]["problems"][0]["problems"][0]["message"].as_str().unwrap_or_default().to_owned();
        assert!(reason.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{reason}");

        let stranger = Session::login(&app, "other@acme.test").await;
        assert_eq!(stranger.get(&url).await.status, StatusCode::NOT_FOUND);
        assert_eq!(stranger.post(&format!("{url}/commit"), &[]).await.status, StatusCode::NOT_FOUND);

        let committed = web.post(&format!("{url}/commit"), &[]).await;
        assert_eq!(committed.status, StatusCode::SEE_OTHER, "{}", committed.html);
        let mut outcome = String::new();
        for _ in 0..300 {
            let page = web.get(&url).await;
            if !page.html.contains("http-equiv=\"refresh\"") {
                outcome = page.text();
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(outcome.contains("Imported"), "{outcome}");
        assert!(outcome.contains("/result"), "the result file is offered");
        assert_eq!(by_email(&app, "web@example.com").await["first_name"], "<script>alert(1)</script>");
        let undone = web.post(&format!("{url}/undo"), &[]).await;
        assert_eq!(undone.status, StatusCode::SEE_OTHER);
        assert!(emails(&app).await.is_empty());
    }

    /// A custom type imports like a built-in one: owners by email, money with the plan's
    /// currency, a reference whose missing targets the plan creates (once, however many rows
    /// name them), and a user nobody has fails its row.
    async fn custom_types_owners_and_missing_references(app: TestApp) {
        app.user("acme", "rep@acme.test", "member").await;
        let deal_type = app.post("/api/v1/meta/entities", &json!({
            "name": "deal", "plural": "deals", "title_fields": ["title"],
            "fields": [
                { "name": "title", "type": "text", "required": true },
                { "name": "amount", "type": "money" },
                { "name": "company", "type": "reference", "target": "company" },
                { "name": "stage", "type": "select", "options": [{ "value": "won", "label": "Won", "labels": { "zh-CN": "赢单" } }] },
            ],
        })).await;
        assert_eq!(deal_type.status, StatusCode::CREATED, "{}", deal_type.body);
        let file = "Deal,Value,Client,Rep,Stage\nBig one,\"1,200.50\",New Co,rep@acme.test,赢单\nSecond,99,New Co,REP@acme.test,won\nThird,5 USD,Other Co,ghost@acme.test,won\n";
        let plan = json!({
            "mapping": { "Deal": "title", "Value": "amount", "Client": "company", "Rep": "owner", "Stage": "stage" },
            "references": { "company": { "by": "name", "create_missing": true } },
            "currency": "EUR",
        });
        let uploaded = upload(&app, &app.token, "deals", "", file.as_bytes().to_vec()).await;
        let id = uploaded.body["import"]["id"].as_str().expect("id").to_owned();
        let preview = app.post(&format!("/api/v1/imports/{id}/preview"), &plan).await;
        let preview = &preview.body["preview"];
        assert_eq!(preview["counts"]["created"], 2, "{preview}");
        assert_eq!(preview["problems"][0]["problems"][0]["column"], "Rep");
        assert_eq!(app.get("/api/v1/companies").await.data().len(), 0, "the preview created no company");
        let done = commit(&app, &id).await;
        assert_eq!(done["counts"], preview["counts"], "{done}");
        let companies = app.get("/api/v1/companies").await;
        assert_eq!(companies.data().len(), 1, "New Co once, and not Other Co of the failed row: {}", companies.body);
        let new_co = companies.data()[0]["id"].clone();
        let deals = app.get("/api/v1/deals?sort=title").await;
        let rep = app.get("/api/v1/admin/users").await;
        let rep_id = rep.data().iter().find(|u| u["email"] == "rep@acme.test").map(|u| u["id"].clone()).expect("rep");
        for deal in deals.data() {
            assert_eq!(deal["company"], new_co);
            assert_eq!(deal["owner"], rep_id);
            assert_eq!(deal["stage"], "won");
        }
        assert_eq!(deals.data()[0]["amount"], json!({ "amount": "1200.50", "currency": "EUR" }));
    }

    /// A backup taken while contacts are being written is one snapshot (every record has its
    /// created event and audit row, none more); a backup of a quiet database restored into
    /// the other engine has exactly the same content, table by table; a damaged archive is
    /// refused before anything is written.
    async fn backups_restore_into_the_other_engine_identically(app: TestApp) {
        use host::transfer::backup;
        // Something in most tables: records of built-in and custom types, a role, users and
        // tokens, an import with its file and rows, the audit log and the outbox.
        app.post("/api/v1/meta/entities", &json!({ "name": "project", "plural": "projects", "title_fields": ["name"], "fields": [{ "name": "name", "type": "text" }, { "name": "budget", "type": "money" }, { "name": "done", "type": "boolean" }] })).await;
        app.create("projects", json!({ "name": "Moonshot", "budget": { "amount": "1000000.00", "currency": "CNY" }, "done": false })).await;
        app.save_role("auditor", &json!({ "name": "auditor", "types": { "*": { "read": "all" } } })).await;
        app.user("acme", "member@acme.test", "member").await;
        import_file(&app, "contacts", ugly_file(), &upsert_by_email()).await;

        let dir = std::env::temp_dir().join(format!("kith-backup-test-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        let writing = {
            let (client, base, token) = (app.client.clone(), app.base.clone(), app.token.clone());
            tokio::spawn(async move {
                for n in 0.. {
                    let body = json!({ "first_name": format!("Busy {n}"), "email": format!("busy{n}@example.com") });
                    let sent = client.post(format!("{base}/api/v1/contacts")).bearer_auth(&token).json(&body).send().await;
                    assert!(sent.is_ok_and(|r| r.status().is_success()));
                }
            })
        };
        tokio::time::sleep(Duration::from_millis(300)).await;
        let online = dir.join("online.tar.gz");
        backup::backup(&app.state.db, &online).await.expect("an online backup");
        writing.abort();

        let other = other_engine(&app, &dir).await;
        let target = host::db::Db::connect(&other.0).await.expect("target");
        target.migrate().await.expect("migrated");
        backup::restore(&target, &online).await.expect("restored");
        let count = |sql: &'static str| {
            let target = &target;
            async move {
                use sea_orm::ConnectionTrait;
                let row = target.read.query_one_raw(sea_orm::Statement::from_string(target.backend, sql)).await.expect("query").expect("row");
                row.try_get_by_index::<i64>(0).expect("count")
            }
        };
        let contacts = count("SELECT COUNT(*) FROM records WHERE entity_type = 'contact'").await;
        assert!(contacts > 3, "contacts were written during the backup: {contacts}");
        assert_eq!(count("SELECT COUNT(*) FROM outbox WHERE entity_type = 'contact' AND event = 'created'").await, contacts, "one snapshot");
        assert_eq!(count("SELECT COUNT(*) FROM audit_log WHERE entity_type = 'contact' AND action = 'created'").await, contacts, "one snapshot");

        // Quiet now: the restored copy in the other engine is the same, table by table.
        let quiet = dir.join("quiet.tar.gz");
        let manifest = backup::backup(&app.state.db, &quiet).await.expect("backup");
        assert!(manifest.tables.iter().any(|t| t.name == "import_rows" && t.rows == 9), "{manifest:?}");
        let second = other_engine(&app, &dir).await;
        let copy = host::db::Db::connect(&second.0).await.expect("target");
        copy.migrate().await.expect("migrated");
        backup::restore(&copy, &quiet).await.expect("restored");
        let (source, restored) = (backup::digest(&app.state.db).await.expect("digest"), backup::digest(&copy).await.expect("digest"));
        assert_eq!(source.keys().collect::<Vec<_>>(), restored.keys().collect::<Vec<_>>());
        for (table, hash) in &source {
            assert_eq!(Some(hash), restored.get(table), "table {table} differs after restore");
        }
        // Restoring again into a database that holds data is refused.
        let again = backup::restore(&copy, &quiet).await.expect_err("not empty");
        assert!(again.to_string().contains("already holds data"), "{again}");

        // A flipped byte or a cut archive is refused, and nothing is written.
        let mut bytes = std::fs::read(&quiet).expect("archive");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x5a;
        let damaged = dir.join("damaged.tar.gz");
        std::fs::write(&damaged, &bytes).expect("write");
        let cut = dir.join("cut.tar.gz");
        std::fs::write(&cut, &std::fs::read(&quiet).expect("archive")[..middle]).expect("write");
        for broken in [&damaged, &cut] {
            let third = other_engine(&app, &dir).await;
            let empty = host::db::Db::connect(&third.0).await.expect("target");
            empty.migrate().await.expect("migrated");
            let refused = backup::restore(&empty, broken).await.expect_err("refused");
            assert!(refused.downcast_ref::<backup::Refusal>().is_some(), "{refused}");
            use sea_orm::ConnectionTrait;
            let users = empty.read.query_one_raw(sea_orm::Statement::from_string(empty.backend, "SELECT COUNT(*) FROM users")).await.expect("query").expect("row");
            assert_eq!(users.try_get_by_index::<i64>(0).expect("count"), 0);
            drop_databases(std::slice::from_ref(&third.0)).await;
        }
        drop_databases(&[other.0, second.0]).await;
        std::fs::remove_dir_all(&dir).ok();
    }

    /// Scheduled backups keep the newest `keep` archives, each a whole backup.
    async fn scheduled_backups_keep_the_newest(app: TestApp) {
        use host::transfer::backup;
        let dir = std::env::temp_dir().join(format!("kith-scheduled-{}", uuid::Uuid::now_v7().simple()));
        let schedule = backup::Schedule { dir: dir.clone(), every: Duration::from_secs(3600), keep: 2 };
        let mut written = Vec::new();
        for n in 0..3 {
            app.create("contacts", json!({ "first_name": format!("Backup {n}") })).await;
            written.push(backup::scheduled_once(&app.state.db, &schedule).await.expect("a backup"));
        }
        let mut kept: Vec<_> = std::fs::read_dir(&dir).expect("dir").map(|e| e.expect("entry").path()).collect();
        kept.sort();
        assert_eq!(kept, written[1..].to_vec(), "the oldest is gone");
        let newest = backup::verify(&written[2]).expect("a whole archive");
        assert_eq!(newest.tables.iter().find(|t| t.name == "records").map(|t| t.rows), Some(3));
        std::fs::remove_dir_all(&dir).ok();
    }
}

/// A workbook with a formula and a date, written by the same library exports use.
fn host_workbook() -> Vec<u8> {
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook.add_worksheet();
    for (col, header) in ["Name", "Employees", "Industry", "Founded"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, col as u16, *header).expect("header");
    }
    sheet.write_string(1, 0, "Formula Works").expect("cell");
    sheet
        .write_formula(
            1,
            1,
            rust_xlsxwriter::Formula::new("=40+2").set_result("42"),
        )
        .expect("formula");
    sheet.write_string(1, 2, "Technology").expect("cell");
    let founded = rust_xlsxwriter::ExcelDateTime::from_ymd(2020, 2, 29).expect("date");
    sheet
        .write_datetime_with_format(
            1,
            3,
            &founded,
            &rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd"),
        )
        .expect("date");
    sheet.write_string(2, 0, "Plain Ltd").expect("cell");
    sheet.write_number(2, 1, 7.0).expect("cell");
    sheet.write_string(2, 2, "retail").expect("cell");
    workbook.save_to_buffer().expect("workbook")
}

/// A new empty database in the engine the app does not use (SQLite when PostgreSQL is not
/// configured): its URL.
async fn other_engine(app: &TestApp, dir: &std::path::Path) -> (String,) {
    let name = format!("kith_r_{}", uuid::Uuid::now_v7().simple());
    match (app.state.db.backend, crate::support::postgres_url()) {
        (sea_orm::DbBackend::Sqlite, Some(admin)) => {
            use sea_orm::ConnectionTrait;
            let server = sea_orm::Database::connect(&admin).await.expect("postgres");
            server
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create");
            (crate::support::with_database(&admin, &name),)
        }
        _ => (format!(
            "sqlite://{}",
            dir.join(format!("{name}.db")).display()
        ),),
    }
}

/// Drops the PostgreSQL databases among `urls` (SQLite files go with the test's folder).
async fn drop_databases(urls: &[String]) {
    let Some(admin) = crate::support::postgres_url() else {
        return;
    };
    use sea_orm::ConnectionTrait;
    let server = sea_orm::Database::connect(&admin).await.expect("postgres");
    for url in urls.iter().filter(|u| u.starts_with("postgres")) {
        let name = url
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .split('?')
            .next()
            .unwrap_or_default();
        server
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .expect("drop");
    }
}
