//! Plugins end to end: real components built for wasm32-wasip2 (`tests/plugins/good` and
//! `tests/plugins/hostile`, built by `cargo xtask test`), installed and enabled in a real
//! server, driven over HTTP.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Backend, TestApp, on_both};

/// The workspace's root folder.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_owned()
}

/// Where `cargo xtask plugins` (and host's build script) build the plugins for wasm32-wasip2:
/// `target/wasm` beside the target folder this test binary was built into.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors().nth(3).expect("target dir").join("wasm")
}

/// Lays out the package of a plugin in a fresh folder: plugin.toml, templates/, locales/ and
/// the component built by `cargo xtask test` (`cargo xtask plugins`). The sources are those of the
/// test plugin `tests/plugins/<name>`, else of the shipped plugin `plugins/<name>`.
pub fn package(name: &str) -> PathBuf {
    let wasm = target_dir().join(format!("wasm32-wasip2/release/{name}.wasm"));
    assert!(
        wasm.exists(),
        "{} is missing: build the plugins with `cargo xtask plugins` \
         (or `cargo build --target wasm32-wasip2 --release --target-dir target/wasm -p {name}`)",
        wasm.display()
    );
    let test_plugin = root().join("tests/plugins").join(name);
    let source = if test_plugin.exists() {
        test_plugin
    } else {
        root().join("plugins").join(name)
    };
    let dir =
        std::env::temp_dir().join(format!("kith-pkg-{name}-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(dir.join("templates")).expect("package dir");
    std::fs::copy(source.join("plugin.toml"), dir.join("plugin.toml")).expect("manifest");
    std::fs::copy(&wasm, dir.join("plugin.wasm")).expect("wasm");
    for entry in std::fs::read_dir(source.join("templates")).expect("templates") {
        let entry = entry.expect("template");
        std::fs::copy(entry.path(), dir.join("templates").join(entry.file_name())).expect("copy");
    }
    if let Ok(entries) = std::fs::read_dir(source.join("locales")) {
        std::fs::create_dir_all(dir.join("locales")).expect("locales dir");
        for entry in entries {
            let entry = entry.expect("catalogue");
            std::fs::copy(entry.path(), dir.join("locales").join(entry.file_name())).expect("copy");
        }
    }
    dir
}

pub(crate) async fn install(app: &TestApp, name: &str) {
    let package = host::plugins::package::Package::load(&package(name)).expect("package loads");
    app.state.plugins.install(package).await.expect("installs");
}

/// Enables a plugin granting what it asks for.
pub(crate) async fn enable(app: &TestApp, name: &str, settings: Value) -> crate::support::Reply {
    let asks = app
        .state
        .plugins
        .requested_permissions(name, None)
        .await
        .expect("installed");
    app.post(
        &format!("/api/v1/plugins/{name}/enable"),
        &json!({ "grant": asks, "settings": settings }),
    )
    .await
}

/// Polls `check` until it holds (background work: after-save, jobs, the index).
pub(crate) async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A company of the aggregate test: industry, employees, revenue and its currency.
type Company = (
    Option<&'static str>,
    Option<i64>,
    Option<&'static str>,
    &'static str,
);
/// A group's expected count, revenue in cents and employees.
type Totals = (u64, Option<i128>, Option<i64>);

/// Cents of an exact decimal amount with at most two decimals ("-3.3" → -330); the tests' own
/// arithmetic.
pub(crate) fn cents(amount: &str) -> i128 {
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    assert!(
        fraction.len() <= 2,
        "the tests use amounts with two decimals, not {amount}"
    );
    let negative = whole.starts_with('-');
    let fraction = format!("{fraction:0<2}");
    let value = whole
        .trim_start_matches('-')
        .parse::<i128>()
        .expect("whole")
        * 100
        + fraction[..2].parse::<i128>().expect("cents");
    if negative { -value } else { value }
}

on_both! {
    async fn aggregates_group_and_sum_exactly_within_the_callers_reach(app: TestApp) {
        install(&app, "good").await;
        assert_eq!(enable(&app, "good", json!({})).await.status, StatusCode::OK);
        let rows: &[Company] = &[
            (Some("retail"), Some(10), Some("1000.10"), "EUR"),
            (Some("retail"), Some(5), Some("0.05"), "EUR"),
            (Some("retail"), None, Some("-3.3"), "EUR"),
            (Some("finance"), Some(7), Some("99999999.99"), "EUR"),
            (Some("finance"), Some(1), None, "EUR"),
            (None, Some(2), Some("12.34"), "EUR"),
            (Some("technology"), Some(3), Some("0.1"), "USD"),
            (Some("technology"), None, Some("0.2"), "USD"),
        ];
        for (i, (industry, employees, revenue, currency)) in rows.iter().enumerate() {
            let mut body = json!({ "name": format!("Company {i}") });
            if let Some(industry) = industry {
                body["industry"] = json!(industry);
            }
            if let Some(employees) = employees {
                body["employees"] = json!(employees);
            }
            if let Some(revenue) = revenue {
                body["annual_revenue"] = json!({ "amount": revenue, "currency": currency });
            }
            app.create("companies", body).await;
        }
        let totals = |query: &str| {
            let app = &app;
            let path = format!("/p/good/totals?type=company&{query}");
            async move { app.get(&path).await }
        };

        let reply = totals("group_by=industry,annual_revenue:currency&sum=annual_revenue,employees").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        // The same totals, computed here: groups in key order, records without a key first.
        let mut expected: std::collections::BTreeMap<(Option<&str>, Option<&str>), Totals> = Default::default();
        for (industry, employees, revenue, currency) in rows {
            let group = expected.entry((*industry, revenue.map(|_| *currency))).or_default();
            group.0 += 1;
            if let Some(revenue) = revenue {
                group.1 = Some(group.1.unwrap_or(0) + cents(revenue));
            }
            if let Some(employees) = employees {
                group.2 = Some(group.2.unwrap_or(0) + employees);
            }
        }
        let groups = reply.body.as_array().unwrap();
        assert_eq!(groups.len(), expected.len(), "{}", reply.body);
        for (group, ((industry, currency), (count, revenue, employees))) in groups.iter().zip(&expected) {
            assert_eq!(group["keys"], json!([industry, currency]), "{group}");
            assert_eq!(group["count"], json!(count), "{group}");
            let sum = &group["sums"][0];
            match revenue {
                Some(cents_total) => {
                    assert_eq!(sum["currency"], json!(currency), "{group}");
                    assert_eq!(cents(sum["amount"].as_str().unwrap()), *cents_total, "{group}");
                }
                None => assert!(sum.is_null(), "{group}"),
            }
            assert_eq!(group["sums"][1], json!(employees), "{group}");
        }

        // Filters narrow the records; no keys gives one group of all of them.
        let retail = totals("filter=industry%5Beq%5D%3Aretail&sum=employees").await;
        assert_eq!(retail.body, json!([{ "keys": [], "count": 3, "sums": [15] }]));
        let owners = totals("group_by=owner").await;
        assert_eq!(owners.body[0]["count"], json!(rows.len()), "{}", owners.body);

        // An amount that is not a number (written while the field had another kind) adds
        // nothing, and the rest still add up.
        let db = &app.state.db;
        let sql = match db.backend {
            sea_orm::DbBackend::Postgres => "UPDATE records SET data = jsonb_set(data, '{annual_revenue,amount}', '\"n/a\"') WHERE data->>'name' = 'Company 1'",
            _ => "UPDATE records SET data = json_set(data, '$.annual_revenue.amount', 'n/a') WHERE json_extract(data, '$.name') = 'Company 1'",
        };
        let changed = sea_orm::ConnectionTrait::execute_unprepared(&db.write, sql).await.unwrap();
        assert_eq!(changed.rows_affected(), 1);
        let stale = totals("filter=industry%5Beq%5D%3Aretail&sum=annual_revenue").await;
        assert_eq!(stale.status, StatusCode::OK, "{}", stale.body);
        assert_eq!(stale.body[0]["count"], 3, "{}", stale.body);
        assert_eq!(cents(stale.body[0]["sums"][0]["amount"].as_str().unwrap()), cents("1000.10") + cents("-3.3"), "{}", stale.body);

        // Mixed currencies in one group, unknown fields and keys that are not keys are refused.
        for (query, words) in [
            ("sum=annual_revenue", "mixes currencies"),
            ("group_by=nope", "no field `nope`"),
            ("group_by=annual_revenue", "cannot group by"),
            ("group_by=name:month", "not a group key"),
            ("sum=name", "cannot sum"),
        ] {
            let refused = totals(query).await;
            assert_eq!(refused.status, StatusCode::BAD_GATEWAY, "{query}: {}", refused.body);
            assert_eq!(refused.body["code"], "invalid_parameter", "{query}: {}", refused.body);
            assert!(refused.body["message"].as_str().unwrap().contains(words), "{query}: {}", refused.body);
        }
        // Types the plugin was not granted stay out of reach.
        let ungranted = app.get("/p/good/totals?type=activity&group_by=kind").await;
        assert_eq!(ungranted.body["code"], "forbidden", "{}", ungranted.body);
    }
}

on_both! {
    async fn good_plugin_validates_patches_and_serves_routes(app: TestApp) {
        install(&app, "good").await;
        good_plugin_scenario(&app).await;
    }

    async fn a_plugin_built_for_api_0_4_0_runs_on_the_0_4_1_host(app: TestApp) {
        // Built before the `mail` import was added: the linker matches its 0.4.0 imports
        // with 0.4.1's, and it is never offered what it does not import.
        let fixture = root().join("tests/fixtures/good-0.4.0");
        let package = host::plugins::package::Package::load(&fixture).expect("the fixture loads");
        assert_eq!(package.manifest.api_version, "0.4.0");
        app.state.plugins.install(package).await.expect("a 0.4.1 host installs a 0.4.0 plugin");
        good_plugin_scenario(&app).await;
    }

    async fn a_plugin_built_for_api_0_3_runs_unchanged(app: TestApp) {
        let fixture = root().join("tests/fixtures/good-0.3.0");
        let package = host::plugins::package::Package::load(&fixture).expect("the fixture loads");
        assert_eq!(package.manifest.api_version, "0.3.0");
        app.state.plugins.install(package).await.expect("a 0.4 host installs a 0.3 plugin");
        good_plugin_scenario(&app).await;
    }
}

/// What the `good` plugin does, end to end (`good_plugin_validates_patches_and_serves_routes`,
/// and the same plugin built for an older API).
async fn good_plugin_scenario(app: &TestApp) {
    let before = app.digest().await;
    let stingy = app
        .post(
            "/api/v1/plugins/good/enable",
            &json!({ "grant": { "read": ["contact"], "write": [], "http": [] } }),
        )
        .await;
    assert_eq!(
        (stingy.status, stingy.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
    );
    assert!(
        stingy.body["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "not_granted")
    );
    assert_eq!(
        app.digest().await,
        before,
        "a refused enable changes nothing"
    );
    let enabled = enable(app, "good", json!({})).await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);

    // before-save: a reject is a 422 naming the field, and nothing is stored.
    let before = app.digest().await;
    let blocked = app
        .post(
            "/api/v1/contacts",
            &json!({ "first_name": "Eve", "last_name": "Spy", "email": "eve@blocked.test" }),
        )
        .await;
    assert_eq!(blocked.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(blocked.body["error"]["details"][0]["field"], "email");
    assert_eq!(
        blocked.body["error"]["details"][0]["code"],
        "blocked_domain"
    );
    assert_eq!(app.digest().await, before);

    // before-save: a patch is stored with the write.
    let ada = app
        .create(
            "contacts",
            json!({ "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com" }),
        )
        .await;
    assert_eq!(ada["score"], 8);
    let id = ada["id"].as_str().unwrap().to_owned();
    let renamed = app
        .patch(
            &format!("/api/v1/contacts/{id}"),
            &json!({ "last_name": "King" }),
            None,
        )
        .await;
    assert_eq!(renamed.body["score"], 4, "{}", renamed.body);

    // The plugin's own type is a full API type.
    let widget = app
        .create(
            "widgets",
            json!({ "name": "Sprocket", "price": { "amount": "9.50", "currency": "EUR" } }),
        )
        .await;
    assert_eq!(widget["status"], "draft");
    let negative = app
        .post(
            "/api/v1/widgets",
            &json!({ "name": "Debt", "price": { "amount": "-1.00", "currency": "EUR" } }),
        )
        .await;
    assert_eq!(negative.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        negative.body["error"]["details"][0]["code"],
        "negative_price"
    );
    let meta = app.get("/api/v1/meta/entities").await;
    assert!(
        meta.data()
            .iter()
            .any(|t| t["plural"] == "widgets" && t["source"] == "plugin:good")
    );
    let openapi = app.get("/api/v1/openapi.json").await;
    assert!(
        openapi.body["paths"].get("/api/v1/widgets").is_some(),
        "plugin types are documented"
    );

    // Routes run as the caller, with the plugin's settings.
    let hello = app.get("/p/good/hello").await;
    assert_eq!(hello.status, StatusCode::OK, "{}", hello.body);
    assert_eq!(hello.body["plugin"], "good");
    assert_eq!(hello.body["greeting"], "hello");
    let acme = host::auth::find_workspace(&app.state.db.read, "acme")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hello.body["workspace"], acme.0.to_string());
    // Every call has a fresh instance (the plugin counts its calls in a static) and runs
    // as its caller.
    let member = app.user("acme", "member@acme.test", "member").await;
    for (i, token) in [&app.token, &member, &member, &app.token]
        .into_iter()
        .enumerate()
    {
        let again = app
            .request(Method::GET, "/p/good/hello", None, Some(token), &[])
            .await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.body);
        assert_eq!(again.body["calls"], 1, "call {i} ran in a used instance");
        let as_admin = *token == app.token;
        assert_eq!(
            again.body["user"] == hello.body["user"],
            as_admin,
            "call {i} ran as {}",
            again.body["user"]
        );
        assert_eq!(again.body["workspace"], acme.0.to_string());
    }
    let echo = app
        .raw(
            Method::POST,
            "/p/good/echo",
            b"ping".to_vec(),
            Some("text/plain"),
            &[],
        )
        .await;
    assert_eq!(echo.status, StatusCode::OK);
    let contacts = app.get("/p/good/contacts").await;
    assert_eq!(contacts.body["count"], 1);
    assert_eq!(contacts.body["names"], json!(["King"]));
    let missing = app.get("/p/good/nowhere").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // before-save gets the records its `references` fields point at, as the user reads them.
    let analytical = app
        .create("companies", json!({ "name": "Analytical Engines" }))
        .await;
    let employed = app
        .patch(
            &format!("/api/v1/contacts/{id}"),
            &json!({ "company": analytical["id"] }),
            None,
        )
        .await;
    assert_eq!(
        employed.body["employer"], "Analytical Engines",
        "{}",
        employed.body
    );
    let gone = app.create("companies", json!({ "name": "Gone Ltd" })).await;
    let gone_id = gone["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/v1/companies/{gone_id}"))
            .await
            .status,
        StatusCode::OK
    );
    let before = app.digest().await;
    let dangling = app
        .patch(
            &format!("/api/v1/contacts/{id}"),
            &json!({ "company": gone_id }),
            None,
        )
        .await;
    assert_eq!(
        dangling.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        dangling.body
    );
    assert_eq!(
        dangling.body["error"]["details"][0]["code"], "reference_not_found",
        "{}",
        dangling.body
    );
    assert_eq!(
        app.digest().await,
        before,
        "a deleted company is not passed along, nor stored"
    );
    let byron = app
        .create(
            "contacts",
            json!({ "last_name": "Byron", "company": analytical["id"] }),
        )
        .await;
    assert_eq!(
        (byron["score"].clone(), byron["employer"].clone()),
        (json!(5), json!("Analytical Engines"))
    );
    let byron_id = byron["id"].as_str().unwrap();
    assert_eq!(
        app.delete(&format!("/api/v1/contacts/{byron_id}"))
            .await
            .status,
        StatusCode::OK
    );

    // Actions and panels.
    let tagged = app
        .post(
            "/api/v1/plugins/good/actions/tag",
            &json!({ "id": id, "tag": "vip" }),
        )
        .await;
    assert_eq!(tagged.status, StatusCode::OK, "{}", tagged.body);
    assert_eq!(
        app.get(&format!("/api/v1/contacts/{id}")).await.body["tags"],
        json!(["vip"])
    );
    let panel = app
        .get(&format!("/api/v1/plugins/good/panels/summary?record={id}"))
        .await;
    assert_eq!(panel.status, StatusCode::OK, "{}", panel.body);
    assert!(
        panel.body["html"].as_str().unwrap().contains("Ada King"),
        "{}",
        panel.body
    );

    // Jobs: queued now, run step by step with a cursor (pages of 10 contacts).
    for i in 0..12 {
        app.create("contacts", json!({ "last_name": format!("Batch{i:02}") }))
            .await;
    }
    let queued = app
        .post("/api/v1/plugins/good/jobs/recount/run", &json!({}))
        .await;
    assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.body);
    eventually("the recount job to finish", || async {
        app.get("/p/good/kv/recount/total").await.status == StatusCode::OK
    })
    .await;
    assert_eq!(app.get("/p/good/kv/recount/total").await.body, json!(13));

    // after-save: every contact event is seen once (idempotent by event id).
    eventually("after-save to count the events", || async {
        app.get("/p/good/kv/after_save_count").await.status == StatusCode::OK
    })
    .await;

    // Disabling hides types, routes and panels, and keeps the data.
    let off = app.post("/api/v1/plugins/good/disable", &json!({})).await;
    assert_eq!(off.status, StatusCode::OK);
    assert_eq!(app.get("/api/v1/widgets").await.code(), "unknown_entity");
    assert_eq!(app.get("/p/good/hello").await.code(), "plugin_not_enabled");
    let free = app
        .post(
            "/api/v1/contacts",
            &json!({ "last_name": "Free", "email": "x@blocked.test" }),
        )
        .await;
    assert_eq!(
        free.status,
        StatusCode::CREATED,
        "no hook runs once disabled"
    );
    assert_eq!(enable(app, "good", json!({})).await.status, StatusCode::OK);
    let widgets = app.get("/api/v1/widgets").await;
    assert_eq!(
        widgets.data().len(),
        1,
        "the plugin's records come back with it"
    );
}

/// Sends list requests until told to stop; every answer's status is kept.
fn keep_asking(
    app: &TestApp,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Vec<StatusCode>>,
) {
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let client = app.client.clone();
    let url = format!("{}/api/v1/contacts?limit=5", app.base);
    let token = app.token.clone();
    let asking = tokio::spawn(async move {
        let mut statuses = Vec::new();
        loop {
            if stopped.try_recv().is_ok() {
                return statuses;
            }
            let status = match client.get(&url).bearer_auth(&token).send().await {
                Ok(response) => response.status(),
                Err(_) => StatusCode::SERVICE_UNAVAILABLE,
            };
            statuses.push(status);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    (stop, asking)
}

/// Whether `message` names one of the `|`-separated reasons.
fn mentions(message: &str, reasons: &str) -> bool {
    reasons.split('|').any(|r| message.contains(r))
}

async fn action(app: &TestApp, name: &str, input: Value) -> crate::support::Reply {
    app.post(&format!("/api/v1/plugins/hostile/actions/{name}"), &input)
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_plugin_is_stopped_refused_and_the_server_keeps_serving() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    install(&app, "hostile").await;
    assert_eq!(
        enable(&app, "hostile", json!({})).await.status,
        StatusCode::OK
    );
    let other = app.user("other", "owner@other.test", "admin").await;
    let theirs = app
        .request(
            Method::POST,
            "/api/v1/contacts",
            Some(&json!({ "last_name": "Theirs" })),
            Some(&other),
            &[],
        )
        .await;
    assert_eq!(theirs.status, StatusCode::CREATED);
    let their_id = theirs.body["id"].as_str().unwrap().to_owned();
    app.create("contacts", json!({ "last_name": "Mine" })).await;
    let before = app.digest().await;
    let (stop, asking) = keep_asking(&app);

    // Each misbehaviour ends its own call with a clear error naming the plugin and the limit.
    for (name, reason) in [
        ("loop", "time limit|fuel"),
        ("alloc", "memory"),
        ("recurse", "stack"),
        ("panic", "panicked"),
        ("huge", "bytes"),
        ("flood", "host calls"),
        ("log_flood", "logged more than"),
        ("kv_flood", "writes"),
    ] {
        let reply = action(&app, name, json!({})).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::FAILED_DEPENDENCY, "plugin_failed"),
            "{name}: {}",
            reply.body
        );
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("plugin `hostile`") && mentions(message, reason),
            "{name}: {message}"
        );
        // A good call in between: failures in a row are what suspends a plugin.
        assert_eq!(action(&app, "ok", json!({})).await.status, StatusCode::OK);
    }
    let looping_route = app.get("/p/hostile/loop").await;
    assert_eq!(looping_route.code(), "plugin_failed");

    // Host calls outside the grant or the workspace are refused, not performed.
    for (name, input, code) in [
        ("read_ungranted", json!({}), "forbidden"),
        (
            "write_other_workspace",
            json!({ "id": their_id }),
            "record_not_found",
        ),
        ("read_other_workspace", json!({ "id": their_id }), "none"),
        ("http_forbidden", json!({}), "forbidden"),
    ] {
        let reply = action(&app, name, input).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}: {}", reply.body);
        assert_eq!(reply.body["data"]["code"], code, "{name}");
    }

    stop.send(()).unwrap();
    let statuses = asking.await.unwrap();
    assert!(!statuses.is_empty());
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "other requests kept answering: {statuses:?}"
    );
    assert_eq!(
        app.digest().await,
        before,
        "no record, audit row or event changed"
    );
    let their_record = app
        .request(
            Method::GET,
            &format!("/api/v1/contacts/{their_id}"),
            None,
            Some(&other),
            &[],
        )
        .await;
    assert_eq!(their_record.body["last_name"], "Theirs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_before_save_hook_rolls_back_and_repeated_failures_suspend_the_plugin() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    install(&app, "hostile").await;
    let contact = json!({ "last_name": "Hooked" });
    for (mode, reason) in [
        ("loop", "time limit|fuel"),
        ("panic", "panicked"),
        // 64 MiB in 50 ms is a race between the two limits.
        ("alloc", "memory|time limit"),
        ("recurse", "stack"),
    ] {
        assert_eq!(
            enable(&app, "hostile", json!({ "mode": mode }))
                .await
                .status,
            StatusCode::OK
        );
        let before = app.digest().await;
        let reply = app.post("/api/v1/contacts", &contact).await;
        assert_eq!(
            (reply.status, reply.code()),
            (StatusCode::FAILED_DEPENDENCY, "plugin_failed"),
            "{mode}: {}",
            reply.body
        );
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("hostile")
                && mentions(message, reason)
                && message.contains("before-save"),
            "{mode}: {message}"
        );
        assert_eq!(
            app.digest().await,
            before,
            "{mode}: the write was rolled back"
        );
    }
    // A hook may read but not write.
    assert_eq!(
        enable(&app, "hostile", json!({ "mode": "write" }))
            .await
            .status,
        StatusCode::OK
    );
    let refused = app.post("/api/v1/contacts", &contact).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert_eq!(refused.body["error"]["details"][0]["field"], "mode");
    assert_eq!(refused.body["error"]["details"][0]["code"], "forbidden");

    // Five traps in a row suspend it in the workspace; writes go on without it.
    assert_eq!(
        enable(&app, "hostile", json!({ "mode": "panic" }))
            .await
            .status,
        StatusCode::OK
    );
    for _ in 0..host::plugins::registry::SUSPEND_AFTER {
        assert_eq!(
            app.post("/api/v1/contacts", &contact).await.code(),
            "plugin_failed"
        );
    }
    // A validating hook that cannot run fails closed: nothing is saved unchecked.
    let before = app.digest().await;
    let refused = app.post("/api/v1/contacts", &contact).await;
    assert_eq!(refused.code(), "plugin_suspended", "{}", refused.body);
    assert_eq!(app.digest().await, before);
    eventually("the suspension and failures to be recorded", || async {
        let info = app.get("/api/v1/plugins/hostile").await;
        info.body["suspended"].is_string()
            && info.body["failures"]
                .as_array()
                .is_some_and(|f| f.len() >= 5)
    })
    .await;
}

/// A `.tar.gz` of a package folder, made with the system's tar.
pub(crate) fn archive(dir: &Path) -> Vec<u8> {
    let out = dir.with_extension("tar.gz");
    let status = std::process::Command::new("tar")
        .arg("-czf")
        .arg(&out)
        .arg("-C")
        .arg(dir)
        .arg(".")
        .status()
        .expect("tar runs");
    assert!(status.success());
    std::fs::read(out).expect("archive")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_administration_refuses_bad_input_and_changes_nothing() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    let member = app.user("acme", "rep@acme.test", "member").await;
    let before = app.digest().await;
    let listed = app
        .request(Method::GET, "/api/v1/plugins", None, Some(&member), &[])
        .await;
    assert_eq!(listed.code(), "forbidden", "plugins are for admins");
    for (body, content_type, code) in [
        (b"".to_vec(), "application/gzip", "invalid_body"),
        (
            b"not an archive".to_vec(),
            "application/gzip",
            "validation_failed",
        ),
    ] {
        let reply = app
            .raw(
                Method::POST,
                "/api/v1/plugins",
                body,
                Some(content_type),
                &[],
            )
            .await;
        assert_eq!(reply.code(), code, "{}", reply.body);
    }
    let grant = json!({ "grant": { "read": [], "write": [], "http": [] } });
    assert_eq!(
        app.post("/api/v1/plugins/nope/enable", &grant).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/plugins/good").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post("/api/v1/plugins/good/actions/tag", &json!({}))
            .await
            .code(),
        "plugin_not_enabled"
    );
    assert_eq!(app.get("/p/good/hello").await.code(), "plugin_not_enabled");
    assert_eq!(app.digest().await, before);

    // A core module is not a component: refused with what to do about it.
    let core = package("good");
    std::fs::write(core.join("plugin.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let refused = app
        .raw(
            Method::POST,
            "/api/v1/plugins",
            archive(&core),
            Some("application/gzip"),
            &[],
        )
        .await;
    assert_eq!(refused.code(), "validation_failed", "{}", refused.body);
    assert!(
        refused.body["error"]["details"][0]["message"]
            .as_str()
            .unwrap()
            .contains("--target wasm32-wasip2"),
        "{}",
        refused.body
    );

    // Installing over the API; the same package again is a no-op.
    let body = archive(&package("good"));
    let installed = app
        .raw(
            Method::POST,
            "/api/v1/plugins",
            body.clone(),
            Some("application/gzip"),
            &[],
        )
        .await;
    assert_eq!(installed.status, StatusCode::CREATED, "{}", installed.body);
    assert_eq!(installed.body["id"], "good");
    let again = app
        .raw(
            Method::POST,
            "/api/v1/plugins",
            body,
            Some("application/gzip"),
            &[],
        )
        .await;
    assert_eq!(again.status, StatusCode::OK);
    let listed = app.get("/api/v1/plugins").await;
    assert_eq!(listed.data().len(), 1);
    assert!(
        listed.data()[0]["enabled"].is_null(),
        "installing enables nothing"
    );

    // Enabling: malformed bodies, unknown settings and missing grants are refused.
    for (body, code) in [
        (json!({}), "invalid_body"),
        (json!({ "grant": { "read": "contact" } }), "invalid_body"),
        (
            json!({ "grant": { "read": [], "write": [], "http": [] }, "surprise": 1 }),
            "invalid_body",
        ),
        (
            json!({ "grant": { "read": [], "write": [], "http": [] } }),
            "validation_failed",
        ),
    ] {
        let reply = app.post("/api/v1/plugins/good/enable", &body).await;
        assert_eq!(reply.code(), code, "{body}: {}", reply.body);
    }
    let unknown_setting = enable(&app, "good", json!({ "colour": "red" })).await;
    assert_eq!(unknown_setting.code(), "validation_failed");
    assert!(app.get("/api/v1/plugins/good").await.body["enabled"].is_null());
    let enabled = enable(&app, "good", json!({ "greeting": "hej" })).await;
    assert_eq!(enabled.status, StatusCode::OK);
    assert_eq!(app.get("/p/good/hello").await.body["greeting"], "hej");
    let no_record = app.get("/api/v1/plugins/good/panels/summary").await;
    assert_eq!(no_record.code(), "invalid_parameter");
    let no_panel = app.get("/api/v1/plugins/good/panels/nope").await;
    assert_eq!(no_panel.status, StatusCode::NOT_FOUND);
    let no_action = app
        .post("/api/v1/plugins/good/actions/nope", &json!({}))
        .await;
    assert_eq!(no_action.status, StatusCode::NOT_FOUND);
    let not_json = app
        .raw(
            Method::POST,
            "/api/v1/plugins/good/actions/tag",
            b"{".to_vec(),
            Some("application/json"),
            &[],
        )
        .await;
    assert_eq!(not_json.code(), "invalid_json");
}

#[test]
fn plugin_commands_install_enable_list_and_disable() {
    let dir = std::env::temp_dir().join(format!(
        "kith-cli-plugins-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let db = format!("sqlite://{}", dir.join("kith.db").display());
    let kith = |args: &[&str]| {
        crate::cli::kith()
            .arg("--db")
            .arg(&db)
            .arg("--data-dir")
            .arg(&dir)
            .args(args)
            .output()
            .expect("kith runs")
    };
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    let admin = kith(&[
        "user",
        "create",
        "--email",
        "ops@example.com",
        "--password",
        "s3cret-pass",
        "--role",
        "admin",
        "--workspace",
        "ops",
    ]);
    assert!(admin.status.success(), "{}", text(&admin.stderr));

    let good = package("good");
    let install = kith(&["plugin", "install", good.to_str().unwrap()]);
    assert!(install.status.success(), "{}", text(&install.stderr));
    assert!(
        text(&install.stderr).contains("installed good 0.1.0"),
        "{}",
        text(&install.stderr)
    );
    let again = kith(&["plugin", "install", good.to_str().unwrap()]);
    assert!(
        text(&again.stderr).contains("already installed"),
        "{}",
        text(&again.stderr)
    );

    let enable = kith(&[
        "plugin",
        "enable",
        "good",
        "--workspace",
        "ops",
        "--set",
        "greeting=hi",
    ]);
    assert!(enable.status.success(), "{}", text(&enable.stderr));
    assert!(
        text(&enable.stderr).contains("granting"),
        "{}",
        text(&enable.stderr)
    );
    let list = kith(&["plugin", "list", "--workspace", "ops"]);
    assert_eq!(
        text(&list.stdout).trim(),
        "good\t0.1.0\tGood\tenabled (0.1.0)\nsales\t0.1.0\tSales\tdisabled",
        "the plugins this binary ships are installed too"
    );
    let disable = kith(&["plugin", "disable", "good", "--workspace", "ops"]);
    assert!(disable.status.success(), "{}", text(&disable.stderr));
    let list = kith(&["plugin", "list", "--workspace", "ops"]);
    assert!(
        text(&list.stdout)
            .trim()
            .starts_with("good\t0.1.0\tGood\tdisabled"),
        "{}",
        text(&list.stdout)
    );

    // Mistakes are one clear line and a non-zero exit.
    let broken = package("good");
    std::fs::remove_file(broken.join("plugin.wasm")).unwrap();
    for (args, expected) in [
        (
            vec!["plugin", "install", broken.to_str().unwrap()],
            "plugin.wasm",
        ),
        (
            vec!["plugin", "enable", "nope", "--workspace", "ops"],
            "not installed",
        ),
        (
            vec!["plugin", "enable", "good", "--workspace", "nowhere"],
            "no workspace",
        ),
        (
            vec![
                "plugin",
                "enable",
                "good",
                "--workspace",
                "ops",
                "--set",
                "oops",
            ],
            "NAME=VALUE",
        ),
        (
            vec!["plugin", "disable", "good", "--workspace", "ops"],
            "not enabled",
        ),
    ] {
        let output = kith(&args);
        assert!(!output.status.success(), "{args:?}");
        let stderr = text(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_is_bounded_by_its_grant_and_the_users_role_and_upgrades_ask_again() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    install(&app, "good").await;
    assert_eq!(enable(&app, "good", json!({})).await.status, StatusCode::OK);
    app.create("companies", json!({ "name": "Acme" })).await;
    app.create(
        "contacts",
        json!({ "first_name": "Grace", "last_name": "Hopper" }),
    )
    .await;

    // The acting user's role applies inside the plugin too.
    let role = app
        .request(
            Method::PUT,
            "/api/v1/admin/roles/no_companies",
            Some(&json!({ "name": "no_companies", "types": { "*": { "read": "all" }, "company": { "read": "none" } } })),
            Some(&app.token),
            &[],
        )
        .await;
    assert!(role.status.is_success(), "{}", role.body);
    let limited = app.user("acme", "limited@acme.test", "no_companies").await;
    let as_admin = app.get("/p/good/companies").await;
    assert_eq!(as_admin.body["count"], 1);
    let as_limited = app
        .request(Method::GET, "/p/good/companies", None, Some(&limited), &[])
        .await;
    assert_eq!(
        as_limited.status,
        StatusCode::BAD_GATEWAY,
        "{}",
        as_limited.body
    );
    assert_eq!(as_limited.body["code"], "forbidden");

    // Search, the clock and outbound calls to an allowed host.
    eventually("the index to have the contact", || async {
        app.get("/p/good/search?q=hopper")
            .await
            .body
            .as_array()
            .is_some_and(|hits| !hits.is_empty())
    })
    .await;
    let now = app.get("/p/good/time").await.body["now"].as_i64().unwrap();
    let micros = chrono::Utc::now().timestamp_micros();
    assert!(
        (micros - now).abs() < 60_000_000,
        "the plugin's clock is the host's"
    );
    let fetched = app
        .get(&format!("/p/good/fetch?url={}/healthz", app.base))
        .await;
    assert_eq!(fetched.body["status"], 200, "{}", fetched.body);

    // A new version asking for more runs only once an admin grants it.
    let v2 = package("good");
    let manifest = std::fs::read_to_string(v2.join("plugin.toml")).unwrap();
    let manifest = manifest
        .replacen("version = \"0.1.0\"", "version = \"0.2.0\"", 1)
        .replacen("http = [", "http = [\"api.example.com\", ", 1);
    assert!(manifest.contains("0.2.0") && manifest.contains("api.example.com"));
    std::fs::write(v2.join("plugin.toml"), manifest).unwrap();
    let package = host::plugins::package::Package::load(&v2).expect("v2 loads");
    app.state
        .plugins
        .install(package)
        .await
        .expect("v2 installs");
    assert_eq!(
        app.get("/api/v1/plugins/good").await.body["enabled"],
        "0.1.0",
        "installing changes nothing"
    );
    let old_grant = app.get("/api/v1/plugins/good").await.body["granted"].clone();
    let refused = app
        .post(
            "/api/v1/plugins/good/enable",
            &json!({ "version": "0.2.0", "grant": old_grant }),
        )
        .await;
    assert_eq!(refused.code(), "validation_failed", "{}", refused.body);
    assert!(
        refused.body["error"]["details"]
            .to_string()
            .contains("api.example.com")
    );
    assert_eq!(
        app.get("/api/v1/plugins/good").await.body["enabled"],
        "0.1.0"
    );
    assert_eq!(enable(&app, "good", json!({})).await.status, StatusCode::OK);
    let info = app.get("/api/v1/plugins/good").await;
    assert_eq!(info.body["enabled"], "0.2.0");
    assert_eq!(info.body["versions"], json!(["0.1.0", "0.2.0"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_save_is_retried_until_delivered() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    install(&app, "hostile").await;
    assert_eq!(
        enable(&app, "hostile", json!({ "mode": "after_fail" }))
            .await
            .status,
        StatusCode::OK
    );
    app.create("contacts", json!({ "last_name": "First" }))
        .await;
    app.create("contacts", json!({ "last_name": "Second" }))
        .await;
    eventually("a failed after-save delivery to be recorded", || async {
        let info = app.get("/api/v1/plugins/hostile").await;
        info.body["failures"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["kind"] == "after-save"))
    })
    .await;
    assert_eq!(
        app.get("/p/hostile/seen").await.body,
        json!(0),
        "nothing was delivered"
    );
    // Fixed: the same events arrive on a later attempt, each once.
    assert_eq!(
        enable(&app, "hostile", json!({})).await.status,
        StatusCode::OK
    );
    eventually("the events to be delivered on retry", || async {
        app.get("/p/hostile/seen").await.body == json!(2)
    })
    .await;
    app.create("contacts", json!({ "last_name": "Third" }))
        .await;
    eventually("a new event to be delivered", || async {
        app.get("/p/hostile/seen").await.body == json!(3)
    })
    .await;
}
