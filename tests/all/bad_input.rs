//! Malformed input at every route: each request answers a precise 4xx with a stable code in
//! the JSON error shape, never a 5xx, and the stored data is exactly as it was.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{TestApp, on_both};

/// One hostile request and the status it must get (`None`: any 4xx).
struct Case {
    method: Method,
    path: String,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
    status: Option<StatusCode>,
}

fn case(
    method: Method,
    path: impl Into<String>,
    body: impl Into<Vec<u8>>,
    status: Option<StatusCode>,
) -> Case {
    Case {
        method,
        path: path.into(),
        body: body.into(),
        content_type: Some("application/json"),
        headers: Vec::new(),
        status,
    }
}

fn bad_bodies() -> Vec<(Vec<u8>, StatusCode)> {
    let deep = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    vec![
        (b"{".to_vec(), StatusCode::BAD_REQUEST),
        (b"".to_vec(), StatusCode::BAD_REQUEST),
        (b"null".to_vec(), StatusCode::BAD_REQUEST),
        (b"[1, 2]".to_vec(), StatusCode::BAD_REQUEST),
        // serde reads an array as a struct's fields in order; a body is an object.
        (b"[null, null]".to_vec(), StatusCode::BAD_REQUEST),
        (b"\"text\"".to_vec(), StatusCode::BAD_REQUEST),
        (
            b"{\"first_name\": \"\xff\xfe\"}".to_vec(),
            StatusCode::BAD_REQUEST,
        ),
        (b"{\"a\": 1,}".to_vec(), StatusCode::BAD_REQUEST),
        (b"{\"a\": 1} trailing".to_vec(), StatusCode::BAD_REQUEST),
        (deep.into_bytes(), StatusCode::BAD_REQUEST),
    ]
}

on_both! {
    async fn malformed_requests_get_clear_4xx_and_change_nothing(app: TestApp) {
        let contact = app.create("contacts", json!({"first_name": "Ada", "email": "ada@example.com"})).await;
        let company = app.create("companies", json!({"name": "Acme", "domain": "acme.com"})).await;
        app.post("/api/v1/meta/entities/contacts/fields", &json!({"name": "score", "type": "integer"})).await;
        let other = app.user("globex", "admin@globex.test", "admin").await;
        let foreign = app.request(Method::POST, "/api/v1/contacts", Some(&json!({"first_name": "Eve"})), Some(&other), &[]).await;
        let foreign_id = foreign.body["id"].as_str().unwrap().to_owned();
        let id = contact["id"].as_str().unwrap().to_owned();
        let company_id = company["id"].as_str().unwrap().to_owned();
        let uploaded = app.raw(Method::POST, "/api/v1/imports?type=contacts", b"email\nx@example.com\n".to_vec(), Some("text/csv"), &[]).await;
        let import = uploaded.body["import"]["id"].as_str().unwrap().to_owned();

        let mut cases = Vec::new();
        // Every body-taking route, with every malformed body.
        let body_routes = [
            (Method::POST, "/api/v1/contacts".to_owned()),
            (Method::PATCH, format!("/api/v1/contacts/{id}")),
            (Method::POST, "/api/v1/contacts/batch".to_owned()),
            (Method::POST, "/api/v1/contacts/duplicates".to_owned()),
            (Method::POST, format!("/api/v1/companies/{company_id}/merge")),
            (Method::POST, "/api/v1/meta/entities".to_owned()),
            (Method::POST, "/api/v1/meta/entities/contacts/fields".to_owned()),
            (Method::PATCH, "/api/v1/me".to_owned()),
            (Method::POST, "/api/v1/admin/teams".to_owned()),
            (Method::POST, format!("/api/v1/imports/{import}/preview")),
        ];
        for (method, path) in &body_routes {
            for (body, status) in bad_bodies() {
                cases.push(case(method.clone(), path.clone(), body, Some(status)));
            }
            let mut form = case(method.clone(), path.clone(), "first_name=Ada", Some(StatusCode::UNSUPPORTED_MEDIA_TYPE));
            form.content_type = Some("application/x-www-form-urlencoded");
            cases.push(form);
        }
        // Wrong shapes and values.
        let unprocessable = Some(StatusCode::UNPROCESSABLE_ENTITY);
        let bad_request = Some(StatusCode::BAD_REQUEST);
        let not_found = Some(StatusCode::NOT_FOUND);
        for body in [
            json!({"first_name": ["Ada"]}),
            json!({"email": "not an email"}),
            json!({"unknown": 1}),
            json!({"id": "01900000-0000-7000-8000-000000000000"}),
            json!({"created_at": "2020-01-01T00:00:00Z"}),
            json!({"score": "12"}),
            json!({"score": 1e300}),
            json!({"score": 12.5}),
            json!({"company": foreign_id}),
            json!({"owner": "someone"}),
            json!({"tags": [1, 2]}),
            json!({"first_name": "x".repeat(1001)}),
            json!({"first_name": "bell\u{7}"}),
            json!({"first_name": {}, "x-unknown": 42}),
        ] {
            cases.push(case(Method::POST, "/api/v1/contacts", body.to_string(), unprocessable));
            cases.push(case(Method::PATCH, format!("/api/v1/contacts/{id}"), body.to_string(), unprocessable));
            // A duplicate check reads its candidate as a record body (it writes nothing, so
            // references are not looked up).
            if body.get("company").is_none() {
                cases.push(case(Method::POST, "/api/v1/contacts/duplicates", body.to_string(), unprocessable));
            }
        }
        for money in [json!({"amount": "1", "currency": "QQQ"}), json!({"amount": "1", "currency": "XTS"}), json!({"amount": "1", "currency": "EURO"})] {
            let body = json!({ "name": "Acme", "annual_revenue": money }).to_string();
            cases.push(case(Method::POST, "/api/v1/companies", body.clone(), unprocessable));
            cases.push(case(Method::PATCH, format!("/api/v1/companies/{company_id}"), body, unprocessable));
        }
        for body in [
            json!({"operation": "create"}),
            json!({"operation": "explode", "records": []}),
            json!({"operation": "create", "records": []}),
            json!({"operation": "create", "records": [1]}),
            json!({"operation": "update", "records": [{"first_name": "no id"}]}),
            json!({"operation": "update", "records": [{"id": foreign_id, "first_name": "x"}]}),
            json!({"operation": "update", "records": [{"id": id, "version": "one"}]}),
            json!({"operation": "upsert", "key": "tags", "records": [{"tags": ["a"]}]}),
            json!({"operation": "upsert", "key": "email", "records": [{"first_name": "no key"}]}),
            json!({"operation": "create", "records": [{}], "extra": true}),
        ] {
            cases.push(case(Method::POST, "/api/v1/contacts/batch", body.to_string(), None));
        }
        for body in [
            json!({"ids": []}),
            json!({"ids": [company_id]}),
            json!({"ids": ["nope"]}),
            json!({"ids": [foreign_id]}),
            json!({"ids": [id]}),
            json!({"ids": [], "values": {"name": 3}}),
        ] {
            cases.push(case(Method::POST, format!("/api/v1/companies/{company_id}/merge"), body.to_string(), None));
        }
        for body in [
            json!({"name": "Bad Name", "type": "text"}),
            json!({"name": "x", "type": "select"}),
            json!({"name": "x", "type": "reference", "target": "nothing"}),
            json!({"name": "x", "type": "text", "options": [{"value": "a"}]}),
            json!({"name": "x", "type": "tags", "indexed": true}),
            json!({"name": "first_name", "type": "text"}),
            json!({"name": "x", "type": "text", "surprise": 1}),
        ] {
            cases.push(case(Method::POST, "/api/v1/meta/entities/contacts/fields", body.to_string(), None));
        }
        for body in [
            json!({"name": "contact", "plural": "contacts"}),
            json!({"name": "thing", "plural": "thing"}),
            json!({"name": "thing", "plural": "audit"}),
            json!({"name": "thing", "plural": "things", "title_fields": ["missing"]}),
            json!({"name": "Thing", "plural": "things"}),
        ] {
            cases.push(case(Method::POST, "/api/v1/meta/entities", body.to_string(), None));
        }
        // Query strings, paths and headers.
        for query in [
            "limit=0", "limit=-1", "limit=1000000", "limit=abc", "limit=99999999999999999999999",
            "filter=name", "filter=and(", "filter=first_name%5Blike%5D%3Ax", "filter=nope%5Beq%5D%3A1",
            "filter=created_at%5Bgt%5D%3Asoon", "filter=score%5Bgt%5D%3Aabc", "filter=tags%5Blt%5D%3Aa",
            "sort=nope", "sort=-tags", "sort=name,name", "fields=nope", "cursor=garbage", "cursor=eyJ2IjpbXX0",
            "total=maybe", "deleted=2", "unknown=1", "filter=%FF",
            // Text outside ASCII where a name or operator goes.
            "filter=%E5%90%8D%5Beq%5D%3Aa", "filter=last_name%C2%A0%5Beq%5D%3A1", "filter=a%5B%C3%A9q%5D%3A1",
            "sort=%E5%90%8D", "fields=%E5%90%8D",
        ] {
            cases.push(case(Method::GET, format!("/api/v1/contacts?{query}"), "", bad_request));
        }
        let long_filter = format!("filter=first_name%5Beq%5D%3A{}", "x".repeat(9000));
        cases.push(case(Method::GET, format!("/api/v1/contacts?{long_filter}"), "", bad_request));
        for path in [
            "/api/v1/nothing".to_owned(),
            "/api/v1/contacts/not-a-uuid".to_owned(),
            format!("/api/v1/contacts/{foreign_id}"),
            format!("/api/v1/companies/{id}"),
            "/api/v1/meta/entities/nothing".to_owned(),
            "/api/v2/contacts".to_owned(),
        ] {
            cases.push(case(Method::GET, path, "", not_found));
        }
        cases.push(case(Method::GET, "/api/v1/contacts/%FF", "", bad_request));
        cases.push(case(Method::POST, "/api/v1/nothing/batch", r#"{"operation": "create", "records": [{}]}"#, not_found));
        cases.push(case(Method::POST, "/api/v1/nothing", "{}", not_found));
        cases.push(case(Method::DELETE, format!("/api/v1/contacts/{foreign_id}"), "", not_found));
        cases.push(case(Method::POST, format!("/api/v1/contacts/{foreign_id}/restore"), "{}", not_found));
        cases.push(case(Method::PUT, "/api/v1/contacts".to_owned(), "{}", Some(StatusCode::METHOD_NOT_ALLOWED)));
        cases.push(case(Method::GET, "/api/v1/contacts/batch".to_owned(), "", Some(StatusCode::METHOD_NOT_ALLOWED)));
        cases.push(case(Method::GET, "/api/v1/audit?record=nope".to_owned(), "", bad_request));
        cases.push(case(Method::GET, "/api/v1/audit?actor=nope".to_owned(), "", bad_request));
        cases.push(case(Method::GET, format!("/api/v1/audit?record={id}&cursor=x"), "", bad_request));
        cases.push(case(Method::GET, format!("/api/v1/audit?record={id}&limit=0"), "", bad_request));
        for if_match in ["\"abc\"", "\"-1\"", "\"*\"", "**", "\"1\", \"2\""] {
            let mut stale = case(Method::PATCH, format!("/api/v1/contacts/{id}"), "{\"first_name\": \"X\"}", bad_request);
            stale.headers.push(("If-Match", if_match.to_owned()));
            cases.push(stale);
        }
        let mut stale = case(Method::PATCH, format!("/api/v1/contacts/{id}"), "{\"first_name\": \"X\"}", Some(StatusCode::PRECONDITION_FAILED));
        stale.headers.push(("If-Match", "\"7\"".to_owned()));
        cases.push(stale);
        let mut stale_delete = case(Method::DELETE, format!("/api/v1/contacts/{id}"), "", Some(StatusCode::PRECONDITION_FAILED));
        stale_delete.headers.push(("If-Match", "\"7\"".to_owned()));
        cases.push(stale_delete);

        let before = app.digest().await;
        for case in &cases {
            let headers: Vec<(&str, &str)> = case.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let reply = app.raw(case.method.clone(), &case.path, case.body.clone(), case.content_type, &headers).await;
            let label = format!("{} {} {}", case.method, case.path.chars().take(120).collect::<String>(), String::from_utf8_lossy(&case.body).chars().take(80).collect::<String>());
            assert!(reply.status.is_client_error(), "{label}: got {} {}", reply.status, reply.body);
            if let Some(expected) = case.status {
                assert_eq!(reply.status, expected, "{label}: {}", reply.body);
            }
            let code = reply.code();
            assert!(!code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_'), "{label}: error body {}", reply.body);
            assert!(reply.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{label}");
            assert_eq!(reply.headers["content-language"], "en", "{label}");
            // The same refusal for a reader of Chinese: same status and codes, every message
            // of it in Chinese (through the catalogue, never a key in its place).
            let mut chinese = headers.clone();
            chinese.push(("Accept-Language", "zh-CN,zh;q=0.9,en;q=0.5"));
            let zh = app.raw(case.method.clone(), &case.path, case.body.clone(), case.content_type, &chinese).await;
            assert_eq!((zh.status, zh.code()), (reply.status, code), "{label}: {}", zh.body);
            assert_eq!(zh.headers["content-language"], "zh-CN", "{label}");
            let details = zh.body["error"]["details"].as_array().cloned().unwrap_or_default();
            assert_eq!(details.len(), reply.body["error"]["details"].as_array().map_or(0, Vec::len), "{label}");
            let messages = std::iter::once(&zh.body["error"]["message"]).chain(details.iter().map(|d| &d["message"]));
            for message in messages {
                let message = message.as_str().unwrap_or_default();
                assert!(message.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "{label}: not in Chinese: {message}");
                assert!(!message.contains("api-"), "{label}: a key in place of a message: {message}");
            }
        }
        for (method, path) in &body_routes {
            let reply = app.oversized(method.as_str(), path, 5 * 1024 * 1024).await;
            assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{method} {path}: {}", reply.body);
            assert_eq!(reply.code(), "payload_too_large");
        }
        assert!(cases.len() > 150, "the table covers every route ({} cases)", cases.len());
        assert_eq!(app.digest().await, before, "no malformed request changed stored data");
    }
}

on_both! {
    // A form's refusal is written in the reader's own language — their setting, whatever
    // their browser asks for — beside the field it names, and a value put into it stays
    // escaped.
    async fn a_form_refusal_is_in_the_readers_language(app: TestApp) {
        crate::web::user(&app, "li@acme.test", "admin").await;
        let token = host::auth::create_token(&app.state.db, "li@acme.test", "acme", "test").await.expect("token");
        let set = app.request(Method::PATCH, "/api/v1/me", Some(&json!({"language": "zh-CN"})), Some(&token), &[]).await;
        assert_eq!(set.status, StatusCode::OK, "{}", set.body);
        let li = crate::web::Session::login(&app, "li@acme.test").await;
        let invalid = li.post("/records/contacts/new", &[("last_name", "李"), ("email", "<script>alert(1)</script>")]).await;
        assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
        let slot = invalid.html.find("id=\"f-email-error\"").expect("the email field's error slot");
        let message = invalid.html[slot..].split("</p>").next().unwrap_or_default();
        assert!(message.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "not in Chinese: {message}");
        assert!(!invalid.html.contains("<script>alert(1)"), "the typed value is escaped");
        // The same refusal through the API, asked in English, is English.
        let api = app.request(Method::POST, "/api/v1/contacts", Some(&json!({"email": "nope"})), Some(&token), &[("Accept-Language", "en-GB")]).await;
        assert_eq!(api.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(api.body["error"]["details"][0]["message"].as_str().is_some_and(|m| m.is_ascii()), "{}", api.body);
    }
}
