//! The sandbox against a plugin written as an attacker would write it (`tests/plugins/hostile`),
//! installed and enabled by an admin: what reaches the browser, what outlives a disable, what
//! a plugin sees of hidden fields, whose types it may take, how much it may store, and how
//! much of the server a database-heavy plugin may hold. Each test is an attack that once
//! worked.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::plugins::{enable, eventually, install, package};
use crate::support::{Reply, TestApp, on_both};

async fn action(app: &TestApp, token: &str, name: &str, input: Value) -> Reply {
    app.request(
        Method::POST,
        &format!("/api/v1/plugins/hostile/actions/{name}"),
        Some(&input),
        Some(token),
        &[],
    )
    .await
}

/// Contacts whose last name is `creep` (made by the hostile plugin's job).
async fn creeps(app: &TestApp) -> usize {
    app.all("contacts", "filter=last_name%5Beq%5D%3Acreep")
        .await
        .len()
}

/// Waits `for_how_long` and answers whether `count` stayed where it was all along.
async fn stays<F, Fut>(for_how_long: Duration, mut count: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    // What was under way when the change was made may still land.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let first = count().await;
    let until = std::time::Instant::now() + for_how_long;
    while std::time::Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if count().await != first {
            return false;
        }
    }
    true
}

/// A copy of a package with its manifest changed by `edit`.
fn variant(name: &str, edit: impl Fn(String) -> String) -> std::path::PathBuf {
    let dir = package(name);
    let manifest = std::fs::read_to_string(dir.join("plugin.toml")).unwrap();
    std::fs::write(dir.join("plugin.toml"), edit(manifest)).unwrap();
    dir
}

async fn install_dir(app: &TestApp, dir: &std::path::Path) {
    let package = host::plugins::package::Package::load(dir).expect("package loads");
    app.state.plugins.install(package).await.expect("installs");
}

on_both! {
    async fn plugin_routes_cannot_serve_script_set_host_headers_or_redirect_off_site(app: TestApp) {
        install(&app, "hostile").await;
        assert_eq!(enable(&app, "hostile", json!({})).await.status, StatusCode::OK);

        // Script is refused; any other document is served sandboxed, with the host's headers.
        let script = app.get("/p/hostile/r/js").await;
        assert_eq!((script.status, script.code()), (StatusCode::FAILED_DEPENDENCY, "plugin_failed"), "{}", script.body);
        assert!(script.body["error"]["message"].as_str().unwrap().contains("JavaScript"), "{}", script.body);
        let page = app.get("/p/hostile/r/page").await;
        assert_eq!(page.status, StatusCode::OK);
        let header = |reply: &Reply, name: &str| {
            reply.headers.get(name).map(|v| v.to_str().unwrap().to_owned())
        };
        let policy = header(&page, "content-security-policy").unwrap();
        assert!(policy.starts_with("sandbox;") && policy.contains("default-src 'none'"), "{policy}");
        assert_eq!(header(&page, "x-content-type-options").as_deref(), Some("nosniff"));

        let headers = app.get("/p/hostile/r/headers").await;
        assert_eq!(headers.status, StatusCode::OK);
        for name in ["set-cookie", "access-control-allow-origin", "access-control-allow-credentials", "clear-site-data"] {
            assert!(headers.headers.get(name).is_none(), "a route set {name}: {:?}", headers.headers);
        }
        assert_eq!(header(&headers, "referrer-policy").as_deref(), Some("same-origin"));
        assert_eq!(header(&headers, "x-content-type-options").as_deref(), Some("nosniff"));
        assert_eq!(header(&headers, "x-frame-options").as_deref(), Some("DENY"));
        assert!(header(&headers, "content-security-policy").unwrap().starts_with("sandbox;"));
        assert_eq!(header(&headers, "cache-control").as_deref(), Some("no-cache"), "a route may say how to cache it");

        // Redirects stay on this server.
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let redirect = |to: &str| {
            let url = format!("{}/p/hostile/r/redirect?to={}", app.base, form_urlencoded::byte_serialize(to.as_bytes()).collect::<String>());
            let request = client.get(url).bearer_auth(&app.token);
            async move { request.send().await.unwrap() }
        };
        let home = redirect("/records/contacts").await;
        assert_eq!(home.status(), StatusCode::FOUND);
        assert_eq!(home.headers()["location"], "/records/contacts");
        for off_site in ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", ""] {
            let refused = redirect(off_site).await;
            assert_eq!(refused.status(), StatusCode::FAILED_DEPENDENCY, "{off_site:?}");
            assert!(refused.headers().get("location").is_none(), "{off_site:?}");
        }

        // Panels carry no script, style, frame or form, whatever their template's extension.
        let contact = app.create("contacts", json!({ "last_name": "Target" })).await;
        let id = contact["id"].as_str().unwrap();
        let html = app.get(&format!("/api/v1/plugins/hostile/panels/evil?record={id}")).await;
        assert_eq!(html.status, StatusCode::OK, "{}", html.body);
        let html = html.body["html"].as_str().unwrap().to_owned();
        assert!(html.contains("Nothing to see here"), "{html}");
        for active in ["<script", "onerror", "<iframe", "<form", "<link", "javascript:", "<button"] {
            assert!(!html.to_ascii_lowercase().contains(active), "{active} in {html}");
        }
        let text = app.get(&format!("/api/v1/plugins/hostile/panels/evil_txt?record={id}")).await;
        let text = text.body["html"].as_str().unwrap().to_owned();
        assert!(text.contains("&lt;script") && !text.contains("<script"), "{text}");
    }

    async fn jobs_stop_when_the_plugin_is_disabled_or_its_grant_shrinks(app: TestApp) {
        install(&app, "hostile").await;
        assert_eq!(enable(&app, "hostile", json!({})).await.status, StatusCode::OK);
        let nothing = json!({});
        let run = || app.post("/api/v1/plugins/hostile/jobs/creep/run", &nothing);
        assert_eq!(run().await.status, StatusCode::ACCEPTED);
        eventually("the job to create contacts", || async { creeps(&app).await >= 3 }).await;

        // Disabled: the running job stops at its next step or host call.
        assert_eq!(app.post("/api/v1/plugins/hostile/disable", &json!({})).await.status, StatusCode::OK);
        assert!(stays(Duration::from_secs(2), || creeps(&app)).await, "the job kept writing after the disable");

        // Enabled again, it runs again; a version granted no writes stops it.
        assert_eq!(enable(&app, "hostile", json!({})).await.status, StatusCode::OK);
        assert_eq!(run().await.status, StatusCode::ACCEPTED);
        let before = creeps(&app).await;
        eventually("the job to run again", || async { creeps(&app).await >= before + 3 }).await;
        let read_only = variant("hostile", |m| {
            m.replacen("version = \"0.1.0\"", "version = \"0.2.0\"", 1)
                .replacen("write = [\"contact\"]", "write = []", 1)
        });
        install_dir(&app, &read_only).await;
        let regrant = app
            .post("/api/v1/plugins/hostile/enable", &json!({ "version": "0.2.0", "grant": { "read": ["contact"], "write": [], "http": ["127.0.0.1:1"] } }))
            .await;
        assert_eq!(regrant.status, StatusCode::OK, "{}", regrant.body);
        assert!(stays(Duration::from_secs(2), || creeps(&app)).await, "the job kept writing under a grant without writes");
    }

    async fn plugin_search_and_before_save_see_only_what_the_acting_user_may(app: TestApp) {
        install(&app, "hostile").await;
        assert_eq!(enable(&app, "hostile", json!({})).await.status, StatusCode::OK);
        let role = json!({
            "name": "discreet",
            "types": {"*": {"create": "all", "read": "all", "edit": "all", "delete": "all"}},
            "fields": {"contact": {"phone": {"read": false}, "last_name": {"read": false}}},
        });
        app.save_role("discreet", &role).await;
        let discreet = app.user("acme", "discreet@acme.test", "discreet").await;
        let contact = app.create("contacts", json!({ "first_name": "Hedda", "last_name": "Secretsson", "phone": "+1 555 0142" })).await;
        let id = contact["id"].as_str().unwrap().to_owned();
        eventually("the index to have the contact", || async {
            action(&app, &app.token, "search", json!({ "q": "Secretsson" })).await.body["data"]["titles"]
                .as_array().is_some_and(|t| !t.is_empty())
        }).await;

        // The plugin, acting for the user, finds nothing through the hidden fields, exactly
        // as the user's own search does.
        for q in ["Secretsson", "5550142", "+1 555 0142"] {
            let found = action(&app, &discreet, "search", json!({ "q": q })).await;
            assert_eq!(found.body["data"], json!({ "code": "ok", "titles": [] }), "{q}");
            let own = app.request(Method::GET, &format!("/api/v1/search?q={}", form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()), None, Some(&discreet), &[]).await;
            assert_eq!(own.body["data"], json!([]), "{q}");
        }
        let by_first_name = action(&app, &discreet, "search", json!({ "q": "Hedda" })).await;
        let titles = by_first_name.body["data"]["titles"].to_string();
        assert!(titles.contains("Hedda") && !titles.contains("Secretsson"), "{titles}");

        // before-save sees the change through the user's view: the hook echoes what it got.
        assert_eq!(enable(&app, "hostile", json!({ "mode": "echo" })).await.status, StatusCode::OK);
        for (method, body) in [(Method::PATCH, Some(json!({ "first_name": "Hilde" }))), (Method::DELETE, None)] {
            let echoed = app.request(method.clone(), &format!("/api/v1/contacts/{id}"), body.as_ref(), Some(&discreet), &[]).await;
            assert_eq!(echoed.status, StatusCode::UNPROCESSABLE_ENTITY, "{method}: {}", echoed.body);
            let message = echoed.body["error"]["details"][0]["message"].as_str().unwrap();
            assert!(message.contains("first_name="), "{method}: {message}");
            for hidden in ["Secretsson", "555", "last_name", "phone"] {
                assert!(!message.contains(hidden), "{method}: {hidden} in {message}");
            }
        }
        // The admin's view has them (the echo is not blind).
        let as_admin = app.patch(&format!("/api/v1/contacts/{id}"), &json!({ "first_name": "Hilde" }), None).await;
        assert!(as_admin.body["error"]["details"][0]["message"].as_str().unwrap().contains("Secretsson"), "{}", as_admin.body);
    }

    async fn a_plugins_types_and_fields_stay_its_own_while_it_is_disabled(app: TestApp) {
        install(&app, "good").await;
        assert_eq!(enable(&app, "good", json!({})).await.status, StatusCode::OK);
        app.create("widgets", json!({ "name": "Secret sprocket" })).await;
        assert_eq!(app.post("/api/v1/plugins/good/disable", &json!({})).await.status, StatusCode::OK);

        // Another plugin declaring `widget` (or good's field on contacts) cannot be enabled.
        let squatter = variant("hostile", |m| {
            m.replacen("id = \"hostile\"", "id = \"squatter\"", 1)
                + "\n[[entities]]\nname = \"widget\"\nplural = \"widgets\"\ntitle_fields = [\"name\"]\nfields = [{ name = \"name\", type = \"text\" }]\n"
        });
        install_dir(&app, &squatter).await;
        let before = app.digest().await;
        let refused = enable(&app, "squatter", json!({})).await;
        assert_eq!(refused.code(), "validation_failed", "{}", refused.body);
        assert!(refused.body["error"]["details"].to_string().contains("belong to plugin `good`"), "{}", refused.body);
        assert_eq!(app.get("/api/v1/widgets").await.code(), "unknown_entity", "nobody serves good's widgets");
        assert_eq!(app.digest().await, before);
        let field_squatter = variant("hostile", |m| {
            m.replacen("id = \"hostile\"", "id = \"fieldsquatter\"", 1)
                + "\n[[fields.contact]]\nname = \"score\"\ntype = \"integer\"\n"
        });
        install_dir(&app, &field_squatter).await;
        let refused = enable(&app, "fieldsquatter", json!({})).await;
        assert!(refused.body["error"]["details"].to_string().contains("fields.contact.score"), "{}", refused.body);

        // Nor can an admin take the name with a custom type or field.
        let custom = app.post("/api/v1/meta/entities", &json!({ "name": "widget", "plural": "widgets", "title_fields": ["name"], "fields": [{ "name": "name", "type": "text" }] })).await;
        assert_eq!(custom.code(), "validation_failed", "{}", custom.body);
        assert_eq!(custom.body["error"]["details"][0]["code"], "taken", "{}", custom.body);
        let field = app.post("/api/v1/meta/entities/contact/fields", &json!({ "name": "score", "type": "integer" })).await;
        assert_eq!(field.body["error"]["details"][0]["code"], "taken", "{}", field.body);

        // Its owner comes back to its records.
        assert_eq!(enable(&app, "good", json!({})).await.status, StatusCode::OK);
        assert_eq!(app.get("/api/v1/widgets").await.data().len(), 1);
    }

    async fn key_value_stores_have_a_byte_quota_per_call_and_per_workspace(app: TestApp) {
        install(&app, "hostile").await;
        assert_eq!(enable(&app, "hostile", json!({})).await.status, StatusCode::OK);
        // One call may write 8 MiB.
        let greedy = action(&app, &app.token, "kv_fill", json!({ "prefix": "greedy", "mib": 1000 })).await;
        assert_eq!(greedy.code(), "plugin_failed", "{}", greedy.body);
        assert!(greedy.body["error"]["message"].as_str().unwrap().contains("key-value store"), "{}", greedy.body);
        assert_eq!(action(&app, &app.token, "ok", json!({})).await.status, StatusCode::OK);

        // The store holds at most its quota; the refusal is the plugin's to handle.
        let quota = host::plugins::kv::QUOTA;
        let mut stored: i64 = 0;
        for call in 0.. {
            assert!(call < 20, "the quota never stopped the writes");
            let filled = action(&app, &app.token, "kv_fill", json!({ "prefix": format!("fill{call}"), "mib": 7 })).await;
            assert_eq!(filled.status, StatusCode::OK, "{}", filled.body);
            stored += filled.body["data"]["written"].as_i64().unwrap() << 20;
            if filled.body["data"]["code"] == "quota_exceeded" {
                break;
            }
            assert_eq!(filled.body["data"]["code"], "allowed", "{}", filled.body);
        }
        let info = app.get("/api/v1/plugins/hostile").await;
        let storage = &info.body["storage"];
        assert_eq!(storage["quota"], json!(quota), "{}", info.body);
        // What the greedy call wrote before it was stopped stays, and counts.
        let bytes = storage["bytes"].as_i64().unwrap();
        assert!(bytes >= stored && bytes <= quota && bytes > quota - (1 << 20) - 4096, "{storage} ({stored} by the filling calls)");
        // Overwriting a key counts its new size once.
        let (keys, bytes) = (storage["keys"].as_i64().unwrap(), storage["bytes"].as_i64().unwrap());
        for (body, expected) in [("abc", bytes + 7), ("abcdef", bytes + 10), ("", bytes + 4)] {
            let put = app.raw(Method::PUT, "/p/hostile/r/loot", body.as_bytes().to_vec(), Some("text/plain"), &[]).await;
            assert_eq!(put.status, StatusCode::NO_CONTENT, "{}", put.body);
            let storage = app.get("/api/v1/plugins/hostile").await.body["storage"].clone();
            assert_eq!((storage["keys"].as_i64().unwrap(), storage["bytes"].as_i64().unwrap()), (keys + 1, expected), "{body:?}");
        }
        // Other workspaces have their own store and quota.
        let other = app.user("other", "admin@other.test", "admin").await;
        let grant = app.state.plugins.requested_permissions("hostile", None).await.unwrap();
        let enabled = app.request(Method::POST, "/api/v1/plugins/hostile/enable", Some(&json!({ "grant": grant })), Some(&other), &[]).await;
        assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
        let theirs = action(&app, &other, "kv_fill", json!({ "prefix": "theirs", "mib": 1 })).await;
        assert_eq!(theirs.body["data"]["code"], "allowed", "{}", theirs.body);
    }

    async fn database_heavy_calls_are_bounded_queued_and_suspend_a_plugin_whose_hooks_then_fail_closed(app: TestApp) {
        // Enough contacts that every find scans for a while, written before the plugin is on:
        // its hook's own time limit, met on a busy machine, is not what this test is about.
        let batch: Vec<Value> = (0..1000).map(|i| json!({ "first_name": format!("Many{i}"), "last_name": "Contact" })).collect();
        for _ in 0..2 {
            let created = app.post("/api/v1/contacts/batch", &json!({ "operation": "create", "records": batch })).await;
            assert!(created.status.is_success(), "{}", created.body);
        }
        install(&app, "hostile").await;
        assert_eq!(enable(&app, "hostile", json!({})).await.status, StatusCode::OK);
        let members: Vec<String> = futures_of_users(&app, 16).await;
        let other = app.user("other", "admin@other.test", "admin").await;
        let grant = app.state.plugins.requested_permissions("hostile", None).await.unwrap();
        let enabled = app.request(Method::POST, "/api/v1/plugins/hostile/enable", Some(&json!({ "grant": grant })), Some(&other), &[]).await;
        assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);

        // Sixteen people call the heavy route at once: the plugin runs two calls at a time,
        // the others are told it is busy, and each call that runs is stopped by its budget
        // of time in host calls. Another workspace meanwhile finds the plugin free: its
        // slots are its own.
        let elsewhere = {
            let client = app.client.clone();
            let url = format!("{}/p/hostile/ok", app.base);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let response = client.get(url).bearer_auth(other).send().await.unwrap();
                (response.status(), response.text().await.unwrap())
            })
        };
        let calls = members.iter().map(|token| {
            let client = app.client.clone();
            let url = format!("{}/p/hostile/r/slow", app.base);
            let token = token.clone();
            async move {
                let response = client.get(url).bearer_auth(token).send().await.unwrap();
                let status = response.status();
                (status, response.headers().get("retry-after").is_some(), response.text().await.unwrap())
            }
        });
        let answers = join_all(calls).await;
        let busy = answers.iter().filter(|(s, retry, _)| *s == StatusCode::SERVICE_UNAVAILABLE && *retry).count();
        // Stopped by whichever budget it met first: its time in host calls, its number of
        // host calls, or its own time (which the waits for a CPU the queries share count in).
        let stopped = answers.iter().filter(|(s, _, body)| *s == StatusCode::FAILED_DEPENDENCY && (body.contains("host calls") || body.contains("time limit"))).count();
        assert_eq!(busy + stopped, answers.len(), "{answers:?}");
        assert!(busy >= 8 && (1..=4).contains(&stopped), "{busy} busy, {stopped} stopped: {answers:?}");
        let (status, body) = elsewhere.await.unwrap();
        assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"), "the other workspace's call");

        // Failures in a row suspend it; its validating hook then refuses writes (fails
        // closed) until an admin enables it again or disables it.
        for _ in 0..host::plugins::registry::SUSPEND_AFTER {
            let reply = app.get("/p/hostile/r/slow").await;
            if reply.code() == "plugin_suspended" {
                break;
            }
            assert_eq!(reply.code(), "plugin_failed", "{}", reply.body);
        }
        eventually("the plugin to be suspended", || async {
            app.get("/p/hostile/ok").await.code() == "plugin_suspended"
        }).await;
        let before = app.digest().await;
        let unchecked = app.post("/api/v1/contacts", &json!({ "last_name": "Unchecked" })).await;
        assert_eq!((unchecked.status, unchecked.code()), (StatusCode::FAILED_DEPENDENCY, "plugin_suspended"), "{}", unchecked.body);
        assert_eq!(app.digest().await, before, "nothing was saved unchecked");
        assert_eq!(app.post("/api/v1/plugins/hostile/disable", &json!({})).await.status, StatusCode::OK);
        app.create("contacts", json!({ "last_name": "Checked by nobody, as the admin chose" })).await;
    }

    async fn upsert_by_key_ignores_records_the_caller_cannot_read(app: TestApp) {
        let role = json!({
            "name": "own_contacts",
            "types": {"*": {"create": "all", "read": "own", "edit": "own", "delete": "own"}},
        });
        app.save_role("own_contacts", &role).await;
        let rep = app.user("acme", "rep@acme.test", "own_contacts").await;
        let theirs = app.create("contacts", json!({ "last_name": "Admin's", "email": "shared@example.com" })).await;
        let upsert = json!({ "operation": "upsert", "key": "email", "records": [{ "last_name": "Rep's", "email": "shared@example.com" }] });
        let reply = app.request(Method::POST, "/api/v1/contacts/batch", Some(&upsert), Some(&rep), &[]).await;
        assert!(reply.status.is_success(), "the record the rep cannot read does not exist for them: {}", reply.body);
        assert_ne!(reply.body["data"][0]["id"], theirs["id"], "{}", reply.body);
        let untouched = app.get(&format!("/api/v1/contacts/{}", theirs["id"].as_str().unwrap())).await;
        assert_eq!(untouched.body["last_name"], "Admin's");
    }

    async fn merges_run_the_before_save_hooks_of_every_write_they_make(app: TestApp) {
        let survivor = app.create("contacts", json!({ "last_name": "Keep" })).await;
        let blocked = app.create("contacts", json!({ "last_name": "Merge", "email": "eve@blocked.test" })).await;
        install(&app, "good").await;
        assert_eq!(enable(&app, "good", json!({})).await.status, StatusCode::OK);
        let before = app.digest().await;
        let merged = app
            .post(&format!("/api/v1/contacts/{}/merge", survivor["id"].as_str().unwrap()), &json!({ "ids": [blocked["id"]] }))
            .await;
        assert_eq!(merged.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", merged.body);
        assert_eq!(merged.body["error"]["details"][0]["code"], "blocked_domain", "{}", merged.body);
        assert_eq!(app.digest().await, before, "the merge wrote nothing");
        // A merge the hook accepts gets its patches, like any update.
        let other = app.create("contacts", json!({ "last_name": "Other" })).await;
        let merged = app
            .post(&format!("/api/v1/contacts/{}/merge", survivor["id"].as_str().unwrap()), &json!({ "ids": [other["id"]], "values": { "last_name": "Keeper" } }))
            .await;
        assert_eq!(merged.status, StatusCode::OK, "{}", merged.body);
        assert_eq!(merged.body["score"], 6, "{}", merged.body);
    }
}

/// `n` members of the test workspace, each with a token.
async fn futures_of_users(app: &TestApp, n: usize) -> Vec<String> {
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        tokens.push(
            app.user("acme", &format!("member{i}@acme.test"), "member")
                .await,
        );
    }
    tokens
}

/// Runs futures at once and collects their outputs in order.
async fn join_all<F: std::future::Future + Send + 'static>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_errors_name_the_upload_not_the_servers_files() {
    let app = TestApp::spawn(crate::support::Backend::Sqlite)
        .await
        .expect("sqlite");
    for body in [
        b"not an archive".to_vec(),
        vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3],
    ] {
        let reply = app
            .raw(
                Method::POST,
                "/api/v1/plugins",
                body,
                Some("application/gzip"),
                &[],
            )
            .await;
        assert_eq!(reply.code(), "validation_failed", "{}", reply.body);
        let text = reply.body.to_string();
        let temp = std::env::temp_dir().display().to_string();
        assert!(
            !text.contains(&temp) && !text.contains("kith-upload"),
            "{text}"
        );
        assert!(text.contains("the uploaded package"), "{text}");
    }
}

/// `GET /p/hostile/seen`: the events the hostile plugin's after-save counted.
async fn seen(app: &TestApp) -> u64 {
    app.get("/p/hostile/seen").await.body.as_u64().unwrap_or(0)
}

on_both! {
    async fn a_failing_after_save_event_holds_up_only_its_own_record(app: TestApp) {
        install(&app, "hostile").await;
        assert_eq!(enable(&app, "hostile", json!({ "mode": "after_poison" })).await.status, StatusCode::OK);
        let poison = app.create("contacts", json!({ "last_name": "Poison" })).await;
        let poison_id = poison["id"].as_str().unwrap().to_owned();
        let first = app.create("contacts", json!({ "last_name": "First" })).await;
        app.create("contacts", json!({ "last_name": "Second" })).await;
        app.create("contacts", json!({ "last_name": "Third" })).await;
        // The other records' events are delivered at once; the poisoned one waits for its
        // retries, and a later change of the same record waits behind it.
        eventually("the other records' events", || async { seen(&app).await == 3 }).await;
        let patched = app.patch(&format!("/api/v1/contacts/{poison_id}"), &json!({ "first_name": "Still" }), None).await;
        assert_eq!(patched.status, StatusCode::OK);
        app.patch(&format!("/api/v1/contacts/{}", first["id"].as_str().unwrap()), &json!({ "first_name": "Again" }), None).await;
        eventually("a later event of another record", || async { seen(&app).await == 4 }).await;
        let listed = app.get("/api/v1/plugins/hostile/deliveries").await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        let waiting = listed.data().clone();
        assert_eq!(waiting.len(), 2, "{}", listed.body);
        assert!(waiting.iter().all(|d| d["record_id"] == json!(poison_id) && d["dead_at"].is_null()), "{}", listed.body);
        let earliest = waiting.iter().min_by_key(|d| d["seq"].as_i64()).unwrap();
        assert!(earliest["attempts"].as_i64().unwrap() >= 1 && earliest["last_error"].as_str().unwrap().contains("poisoned"), "{earliest}");
        let info = app.get("/api/v1/plugins/hostile").await;
        assert_eq!(info.body["deliveries"], json!({ "retrying": 2, "dead": 0 }), "{}", info.body);

        // Fixed, and retried by an admin: both of the record's events arrive, in order.
        assert_eq!(enable(&app, "hostile", json!({})).await.status, StatusCode::OK);
        let seq = earliest["seq"].as_i64().unwrap();
        let member = app.user("acme", "member@acme.test", "member").await;
        let as_member = app.request(Method::POST, &format!("/api/v1/plugins/hostile/deliveries/{seq}/retry"), Some(&json!({})), Some(&member), &[]).await;
        assert_eq!(as_member.code(), "forbidden");
        let retried = app.post(&format!("/api/v1/plugins/hostile/deliveries/{seq}/retry"), &json!({})).await;
        assert_eq!(retried.status, StatusCode::OK, "{}", retried.body);
        eventually("the record's events after the retry", || async { seen(&app).await == 6 }).await;
        eventually("the list to empty", || async { app.get("/api/v1/plugins/hostile/deliveries").await.data().is_empty() }).await;

        // Dropped: never delivered.
        assert_eq!(enable(&app, "hostile", json!({ "mode": "after_poison" })).await.status, StatusCode::OK);
        app.patch(&format!("/api/v1/contacts/{poison_id}"), &json!({ "first_name": "Once more" }), None).await;
        eventually("the failure to be set aside", || async { !app.get("/api/v1/plugins/hostile/deliveries").await.data().is_empty() }).await;
        let listed = app.get("/api/v1/plugins/hostile/deliveries").await;
        let seq = listed.data()[0]["seq"].as_i64().unwrap();
        assert_eq!(app.delete(&format!("/api/v1/plugins/hostile/deliveries/{seq}")).await.status, StatusCode::OK);
        assert_eq!(app.delete(&format!("/api/v1/plugins/hostile/deliveries/{seq}")).await.status, StatusCode::NOT_FOUND);
        assert!(app.get("/api/v1/plugins/hostile/deliveries").await.data().is_empty());
        let audit = app.get("/api/v1/audit?action=delivery_dropped").await;
        assert_eq!(audit.data().len(), 1, "{}", audit.body);
    }

    async fn after_save_can_act_as_the_plugin_rather_than_the_user(app: TestApp) {
        let target = app.create("contacts", json!({ "last_name": "Admin's" })).await;
        let target_id = target["id"].as_str().unwrap().to_owned();
        let role = json!({ "name": "own", "types": { "*": { "create": "all", "read": "own", "edit": "own", "delete": "own" } } });
        app.save_role("own", &role).await;
        let rep = app.user("acme", "rep@acme.test", "own").await;
        install(&app, "hostile").await;
        let settings = json!({ "mode": "after_touch", "target": target_id });
        assert_eq!(enable(&app, "hostile", settings.clone()).await.status, StatusCode::OK);
        // As the rep, who may not change the admin's contact: refused, set aside.
        let made = app.request(Method::POST, "/api/v1/contacts", Some(&json!({ "last_name": "Rep's" })), Some(&rep), &[]).await;
        assert_eq!(made.status, StatusCode::CREATED);
        eventually("the refusal to be set aside", || async {
            let listed = app.get("/api/v1/plugins/hostile/deliveries").await;
            listed.data().iter().any(|d| d["last_error"].as_str().is_some_and(|e| e.contains("record_not_found")))
        }).await;
        assert!(app.get(&format!("/api/v1/contacts/{target_id}")).await.body.get("title").is_none());

        // A version whose manifest says `after_save_as = "plugin"` acts with its grant.
        let as_plugin = variant("hostile", |m| {
            let m = m.replacen("version = \"0.1.0\"", "version = \"0.2.0\"", 1);
            m.replacen("[permissions]", "after_save_as = \"plugin\"\n\n[permissions]", 1)
        });
        install_dir(&app, &as_plugin).await;
        assert_eq!(enable(&app, "hostile", settings).await.status, StatusCode::OK);
        let made = app.request(Method::POST, "/api/v1/contacts", Some(&json!({ "last_name": "Rep's too" })), Some(&rep), &[]).await;
        assert_eq!(made.status, StatusCode::CREATED);
        eventually("the plugin to touch the admin's contact", || async {
            app.get(&format!("/api/v1/contacts/{target_id}")).await.body["title"] == "touched"
        }).await;
    }
}
