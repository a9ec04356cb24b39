//! Webhooks against a real HTTP receiver in the test: deliveries signed as Standard Webhooks
//! says (checked by Python's own hmac, not the server's code), in order per record, retried
//! until a failing endpoint recovers, logged and replayable; private targets refused unless an
//! admin allowed them; admins only, one workspace's events never reaching another's hooks; a
//! slow endpoint holding up only itself.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use reqwest::Method;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use std::process::Stdio;

use crate::restart::{Server, admin_token, create_batch, start_with};
use crate::support::{TestApp, on_both};

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Got {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
    answered: u16,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// A webhook receiver on 127.0.0.1: records every request; answers 500 to the first
/// `failures` requests, and waits `delay` before answering.
#[derive(Clone)]
struct Receiver {
    url: String,
    got: Arc<Mutex<Vec<Got>>>,
    failures: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start(failures: usize, delay: Duration) -> Receiver {
        let got = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(AtomicUsize::new(failures));
        let state = (got.clone(), failures.clone(), delay);
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, got, failures }
    }

    fn got(&self) -> Vec<Got> {
        self.got.lock().expect("lock").clone()
    }

    /// The requests answered 2xx, waiting up to 30 s until there are `n`.
    async fn delivered(&self, n: usize) -> Vec<Got> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok: Vec<Got> = self
                .got()
                .into_iter()
                .filter(|g| g.answered < 300)
                .collect();
            if ok.len() >= n || Instant::now() > deadline {
                return ok;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

type ReceiverState = (Arc<Mutex<Vec<Got>>>, Arc<AtomicUsize>, Duration);

async fn receive(
    State((got, failures, delay)): State<ReceiverState>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    tokio::time::sleep(delay).await;
    let fail = failures
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    got.lock().expect("lock").push(Got {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body,
        answered: status.as_u16(),
    });
    status
}

/// The signature Python's standard library computes for a message (an implementation that
/// shares nothing with the server's).
fn python_signature(secret: &str, got: &Got) -> String {
    let script = "import base64,hashlib,hmac,sys\n\
                  key = base64.b64decode(sys.argv[1].removeprefix('whsec_'))\n\
                  message = (sys.argv[2] + '.' + sys.argv[3] + '.').encode() + sys.stdin.buffer.read()\n\
                  print('v1,' + base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode())";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, secret, &got.id, &got.timestamp])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(got.body.as_bytes())
        .expect("write body");
    let out = child.wait_with_output().expect("python3 finishes");
    assert!(out.status.success(), "python3 failed");
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// Lets webhooks reach the test receiver on 127.0.0.1.
async fn allow_localhost(app: &TestApp) {
    let reply = app
        .put(
            "/api/v1/admin/outbound-hosts",
            &json!({"hosts": ["127.0.0.1"]}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

async fn subscribe(app: &TestApp, url: &str, events: &[&str]) -> (String, String) {
    let reply = app
        .post("/api/v1/webhooks", &json!({"url": url, "events": events}))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let id = reply.body["id"].as_str().expect("id").to_owned();
    assert_eq!(
        reply.headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/api/v1/webhooks/{id}").as_str())
    );
    let secret = reply.body["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    (id, secret)
}

fn record_id(record: &Value) -> &str {
    record["id"].as_str().expect("record id")
}

on_both! {
    async fn deliveries_are_signed_ordered_and_logged(app: TestApp) {
        let receiver = Receiver::start(0, Duration::ZERO).await;
        allow_localhost(&app).await;
        let (hook, secret) = subscribe(&app, &receiver.url, &["contact.*"]).await;

        let ada = app.create("contacts", json!({"first_name": "Ada", "last_name": "Lovelace"})).await;
        let path = format!("/api/v1/contacts/{}", record_id(&ada));
        let changed = app.patch(&path, &json!({"email": "ada@example.com"}), None).await;
        assert_eq!(changed.status, StatusCode::OK, "{}", changed.body);
        // Not subscribed to: companies.
        app.create("companies", json!({"name": "Acme"})).await;

        let got = receiver.delivered(2).await;
        assert_eq!(got.len(), 2, "{got:?}");
        let types: Vec<Value> = got.iter().map(|g| g.json()["type"].clone()).collect();
        assert_eq!(types, [json!("contact.created"), json!("contact.updated")]);
        for g in &got {
            assert_eq!(python_signature(&secret, g), g.signature, "signature of {}", g.id);
            let body = g.json();
            assert_eq!(body["id"], json!(g.id));
            assert_eq!(body["data"]["id"], ada["id"]);
            let age = chrono::Utc::now().timestamp() - g.timestamp.parse::<i64>().expect("a timestamp");
            assert!((0..300).contains(&age), "timestamp {age} s old");
        }
        let update = got[1].json();
        assert_eq!(update["data"]["changes"]["email"], json!({"before": null, "after": "ada@example.com"}));
        assert_eq!(update["data"]["version"], json!(2));
        // Nothing else arrives (the company event was not wanted).
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(receiver.got().len(), 2);

        // The log, newest first; the secret never shown again.
        let log = app.get(&format!("/api/v1/webhooks/{hook}/deliveries")).await;
        assert_eq!(log.status, StatusCode::OK, "{}", log.body);
        let rows = log.body["data"].as_array().expect("rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0]["event_type"], json!("contact.updated"));
        assert_eq!(rows[0]["status"], json!("delivered"));
        assert_eq!(rows[0]["last_status"], json!(200));
        assert_eq!(rows[0]["event_id"], json!(got[1].id));
        let shown = app.get(&format!("/api/v1/webhooks/{hook}")).await;
        assert!(shown.body.get("secret").is_none(), "{}", shown.body);
        assert_eq!(shown.body["deliveries"], json!({"pending": 0, "failed": 0}));
        let listed = app.get("/api/v1/webhooks").await;
        assert!(!listed.body.to_string().contains(&secret));

        // Replay: the same event, the same id and bytes, signed again.
        let replay = app
            .post(&format!("/api/v1/webhooks/{hook}/deliveries/{}/replay", rows[1]["id"].as_str().expect("id")), &json!({}))
            .await;
        assert_eq!(replay.status, StatusCode::ACCEPTED, "{}", replay.body);
        let again = receiver.delivered(3).await;
        assert_eq!(again.len(), 3);
        assert_eq!(again[2].id, got[0].id);
        assert_eq!(again[2].body, got[0].body);
        assert_eq!(python_signature(&secret, &again[2]), again[2].signature);

        // A rotated secret signs what follows.
        let rotated = app.post(&format!("/api/v1/webhooks/{hook}/secret"), &json!({})).await;
        let new_secret = rotated.body["secret"].as_str().expect("secret").to_owned();
        assert_ne!(new_secret, secret);
        app.delete(&path).await;
        let last = receiver.delivered(4).await;
        assert_eq!(last[3].json()["type"], json!("contact.deleted"));
        assert_eq!(python_signature(&new_secret, &last[3]), last[3].signature);
        assert_ne!(python_signature(&secret, &last[3]), last[3].signature);
    }

    async fn a_failing_endpoint_is_retried_and_a_record_keeps_its_order(app: TestApp) {
        // The first request fails: Ada's creation waits 5 s for its retry, and her update
        // waits behind it; Bob's creation, another record, does not.
        let receiver = Receiver::start(1, Duration::ZERO).await;
        allow_localhost(&app).await;
        let (hook, _) = subscribe(&app, &receiver.url, &["*"]).await;
        let ada = app.create("contacts", json!({"last_name": "Lovelace"})).await;
        let first = receiver.got();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut first = first;
        while first.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            first = receiver.got();
        }
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].answered, 500);
        app.patch(&format!("/api/v1/contacts/{}", record_id(&ada)), &json!({"first_name": "Ada"}), None).await;
        let bob = app.create("contacts", json!({"last_name": "Babbage"})).await;

        let got = receiver.delivered(3).await;
        assert_eq!(got.len(), 3, "{got:?}");
        let order: Vec<(Value, Value)> = got
            .iter()
            .map(|g| (g.json()["data"]["id"].clone(), g.json()["type"].clone()))
            .collect();
        assert_eq!(order[0], (bob["id"].clone(), json!("contact.created")), "Bob is not held up");
        assert_eq!(order[1], (ada["id"].clone(), json!("contact.created")));
        assert_eq!(order[2], (ada["id"].clone(), json!("contact.updated")));
        // The failed try and the retry carried the same event id.
        assert_eq!(first[0].id, got[1].id);

        let log = app.get(&format!("/api/v1/webhooks/{hook}/deliveries?status=delivered")).await;
        let created = log.body["data"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["event_id"] == json!(first[0].id))
            .cloned()
            .expect("Ada's creation in the log");
        assert_eq!(created["attempts"], json!(2));
        assert_eq!(receiver.failures.load(Ordering::SeqCst), 0);
    }

    async fn a_slow_endpoint_holds_up_only_itself(app: TestApp) {
        let slow = Receiver::start(0, Duration::from_secs(8)).await;
        let quick = Receiver::start(0, Duration::ZERO).await;
        allow_localhost(&app).await;
        subscribe(&app, &slow.url, &["contact.created"]).await;
        subscribe(&app, &quick.url, &["contact.created"]).await;
        let started = Instant::now();
        for name in ["One", "Two", "Three"] {
            app.create("contacts", json!({"last_name": name})).await;
        }
        let got = quick.delivered(3).await;
        assert_eq!(got.len(), 3);
        assert!(slow.got().is_empty(), "the slow endpoint has not answered yet");
        assert!(started.elapsed() < Duration::from_secs(8), "the quick endpoint waited for the slow one");
    }

    async fn private_targets_need_an_admin_to_allow_them(app: TestApp) {
        let receiver = Receiver::start(0, Duration::ZERO).await;
        for url in [
            receiver.url.as_str(),
            "http://localhost:9/hook",
            "http://[::1]:9/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/hook",
            "http://0.0.0.0:9/hook",
            "http://[::ffff:127.0.0.1]:9/hook",
        ] {
            let reply = app.post("/api/v1/webhooks", &json!({"url": url, "events": ["*"]})).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {}", reply.body);
            assert_eq!(reply.body["error"]["details"][0]["field"], json!("url"), "{}", reply.body);
        }
        // Allowing 127.0.0.1 allows that host only.
        allow_localhost(&app).await;
        subscribe(&app, &receiver.url, &["*"]).await;
        let other = app.post("/api/v1/webhooks", &json!({"url": "http://localhost:9/hook", "events": ["*"]})).await;
        assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
        // Taking the host off the list stops deliveries at once, without a new check of the URL.
        let reply = app.put("/api/v1/admin/outbound-hosts", &json!({"hosts": []})).await;
        assert_eq!(reply.status, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(500)).await;
        app.create("contacts", json!({"last_name": "Nobody"})).await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(receiver.got().is_empty(), "{:?}", receiver.got());
    }

    async fn webhooks_are_for_admins_of_their_own_workspace(app: TestApp) {
        let receiver = Receiver::start(0, Duration::ZERO).await;
        allow_localhost(&app).await;
        let (hook, secret) = subscribe(&app, &receiver.url, &["*"]).await;
        let member = app.user("acme", "rep@acme.test", "member").await;
        let other = app.user("globex", "admin@globex.test", "admin").await;
        for (method, path, body) in [
            (Method::GET, "/api/v1/webhooks".to_owned(), None),
            (Method::POST, "/api/v1/webhooks".to_owned(), Some(json!({"url": receiver.url, "events": ["*"]}))),
            (Method::GET, format!("/api/v1/webhooks/{hook}"), None),
            (Method::GET, "/api/v1/admin/outbound-hosts".to_owned(), None),
        ] {
            let reply = app.request(method.clone(), &path, body.as_ref(), Some(&member), &[]).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "member {method} {path}");
        }
        for (method, path, body) in [
            (Method::GET, format!("/api/v1/webhooks/{hook}"), None),
            (Method::PATCH, format!("/api/v1/webhooks/{hook}"), Some(json!({"enabled": false}))),
            (Method::DELETE, format!("/api/v1/webhooks/{hook}"), None),
            (Method::POST, format!("/api/v1/webhooks/{hook}/secret"), Some(json!({}))),
            (Method::GET, format!("/api/v1/webhooks/{hook}/deliveries"), None),
        ] {
            let reply = app.request(method.clone(), &path, body.as_ref(), Some(&other), &[]).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "globex {method} {path}: {}", reply.body);
        }
        let theirs = app.request(Method::GET, "/api/v1/webhooks", None, Some(&other), &[]).await;
        assert_eq!(theirs.body["data"], json!([]));
        // Globex's writes move Acme's cursor too (to the head, with nothing to deliver), so the
        // subscription of a quiet workspace goes idle instead of working every tick.
        for i in 0..3 {
            app.request(Method::POST, "/api/v1/contacts", Some(&json!({"last_name": format!("Quiet{i}")})), Some(&other), &[]).await;
        }
        let head = app.state.store.outbox_head().await.expect("head");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let rows = app
                .state
                .db
                .read
                .query_all_raw(sea_orm::Statement::from_string(app.state.db.backend, "SELECT seq FROM webhooks".to_owned()))
                .await
                .expect("cursor");
            let seq: i64 = rows[0].try_get("", "seq").expect("seq");
            if seq >= head {
                break;
            }
            assert!(Instant::now() < deadline, "the cursor stayed at {seq}, the head is {head}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(receiver.got().is_empty(), "Globex's events reached Acme's hook");
        // Globex's records never reach Acme's hook; Acme's do, signed with Acme's secret.
        app.request(Method::POST, "/api/v1/contacts", Some(&json!({"last_name": "Globex"})), Some(&other), &[]).await;
        let ours = app.create("contacts", json!({"last_name": "Acme"})).await;
        let got = receiver.delivered(1).await;
        tokio::time::sleep(Duration::from_millis(600)).await;
        let got_all = receiver.got();
        assert_eq!(got_all.len(), 1, "{got_all:?}");
        assert_eq!(got[0].json()["data"]["id"], ours["id"]);
        assert_eq!(python_signature(&secret, &got[0]), got[0].signature);
        // A script in a value is delivered as data, JSON-escaped, never interpreted.
        let script = "<script>alert(1)</script>\"},\"type\":\"forged";
        app.create("contacts", json!({"last_name": script})).await;
        let got = receiver.delivered(2).await;
        let body = got[1].json();
        assert_eq!(body["type"], json!("contact.created"));
        assert_eq!(body["data"]["changes"]["last_name"]["after"], json!(script));
        // Disabled: nothing more is sent.
        let off = app.patch(&format!("/api/v1/webhooks/{hook}"), &json!({"enabled": false}), None).await;
        assert_eq!(off.status, StatusCode::OK, "{}", off.body);
        assert_eq!(off.body["enabled"], json!(false));
        tokio::time::sleep(Duration::from_millis(500)).await;
        app.create("contacts", json!({"last_name": "Later"})).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(receiver.got().len(), 2);
        // Every change is in the audit log.
        let audit = app.get("/api/v1/audit?entity_type=webhook").await;
        let actions: Vec<Value> = audit.body["data"].as_array().expect("entries").iter().map(|e| e["action"].clone()).collect();
        assert!(actions.contains(&json!("webhook_created")), "{actions:?}");
        assert!(actions.contains(&json!("webhook_changed")), "{actions:?}");
    }

    async fn bad_webhook_input_is_refused_and_stores_nothing(app: TestApp) {
        allow_localhost(&app).await;
        let url = "http://127.0.0.1:9/hook";
        for (body, status, field) in [
            (json!({"url": url, "events": []}), 422, Some("events")),
            (json!({"url": url, "events": ["ghost.created"]}), 422, Some("events")),
            (json!({"url": url, "events": ["contact.exploded"]}), 422, Some("events")),
            (json!({"url": url, "events": ["contact"]}), 422, Some("events")),
            (json!({"url": "ftp://127.0.0.1/x", "events": ["*"]}), 422, Some("url")),
            (json!({"url": "http://user:pw@127.0.0.1/x", "events": ["*"]}), 422, Some("url")),
            (json!({"url": "not a url", "events": ["*"]}), 422, Some("url")),
            (json!({"url": url, "events": ["*"], "description": "x".repeat(501)}), 422, Some("description")),
            (json!({"url": url, "events": ["*"], "secret": "mine"}), 400, None),
            (json!({"url": url}), 400, None),
            (json!({"url": 42, "events": ["*"]}), 400, None),
        ] {
            let reply = app.post("/api/v1/webhooks", &body).await;
            assert_eq!(reply.status.as_u16(), status, "{body}: {}", reply.body);
            if let Some(field) = field {
                assert_eq!(reply.body["error"]["details"][0]["field"], json!(field), "{}", reply.body);
            }
        }
        assert_eq!(app.get("/api/v1/webhooks").await.body["data"], json!([]));
        let (hook, _) = subscribe(&app, url, &["*"]).await;
        let bad_patch = app.patch(&format!("/api/v1/webhooks/{hook}"), &json!({"events": ["nope.created"]}), None).await;
        assert_eq!(bad_patch.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.get(&format!("/api/v1/webhooks/{hook}")).await.body["events"], json!(["*"]));
        for path in [
            format!("/api/v1/webhooks/{hook}/deliveries?limit=0"),
            format!("/api/v1/webhooks/{hook}/deliveries?limit=abc"),
            format!("/api/v1/webhooks/{hook}/deliveries?status=lost"),
            format!("/api/v1/webhooks/{hook}/deliveries?before=x"),
            format!("/api/v1/webhooks/{hook}/deliveries?colour=red"),
        ] {
            assert_eq!(app.get(&path).await.status, StatusCode::BAD_REQUEST, "{path}");
        }
        for path in ["/api/v1/webhooks/not-a-uuid", "/api/v1/webhooks/0192f5f0-0000-7000-8000-000000000000"] {
            assert_eq!(app.get(path).await.status, StatusCode::NOT_FOUND, "{path}");
        }
        let replay = app.post(&format!("/api/v1/webhooks/{hook}/deliveries/0192f5f0-0000-7000-8000-000000000000/replay"), &json!({})).await;
        assert_eq!(replay.status, StatusCode::NOT_FOUND);
        for (hosts, index) in [
            (json!(["http://example.com"]), 0),
            (json!(["ok.example.com", "bad host"]), 1),
            (json!(["example.com:8080"]), 0),
        ] {
            let reply = app.put("/api/v1/admin/outbound-hosts", &json!({"hosts": hosts})).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{hosts}");
            assert_eq!(reply.body["error"]["details"][0]["index"], json!(index), "{}", reply.body);
        }
        let hosts = app.get("/api/v1/admin/outbound-hosts").await;
        assert_eq!(hosts.body["hosts"], json!(["127.0.0.1"]));
        let too_many: Vec<String> = (0..51).map(|i| format!("h{i}.example.com")).collect();
        let reply = app.put("/api/v1/admin/outbound-hosts", &json!({"hosts": too_many})).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        let deleted = app.delete(&format!("/api/v1/webhooks/{hook}")).await;
        assert_eq!(deleted.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&format!("/api/v1/webhooks/{hook}")).await.status, StatusCode::NOT_FOUND);
    }
}

/// kill -9 while deliveries are in flight: after a restart every event arrives, and what
/// arrives twice carries the same id and body (the receiver drops it by id).
/// Allows 127.0.0.1 and subscribes `url` to contact creations, through a server process.
async fn subscribe_on(client: &reqwest::Client, server: &Server, token: &str, url: &str) {
    let call = |method: Method, path: &str, body: Value| {
        client
            .request(method, format!("{}{path}", server.base))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let allowed = call(
        Method::PUT,
        "/api/v1/admin/outbound-hosts",
        json!({"hosts": ["127.0.0.1"]}),
    )
    .await
    .expect("allow");
    assert!(allowed.status().is_success());
    let hook = call(
        Method::POST,
        "/api/v1/webhooks",
        json!({"url": url, "events": ["contact.created"]}),
    )
    .await
    .expect("subscribe");
    assert_eq!(hook.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_survive_kill_9_and_repeats_carry_their_id() {
    let receiver = Receiver::start(0, Duration::from_millis(2)).await;
    let dir = std::env::temp_dir().join(format!("kith-hooks-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let data_dir = dir.to_string_lossy().into_owned();
    let db = format!("sqlite://{}", dir.join("kith.db").display());
    let token = admin_token(&db, &data_dir);
    let client = reqwest::Client::new();
    let mut server = start_with(&db, &data_dir, &[], Stdio::null()).await;
    subscribe_on(&client, &server, &token, &receiver.url).await;
    create_batch(&client, &server, &token, 0).await;
    // Killed once some, not all, have been delivered.
    let deadline = Instant::now() + Duration::from_secs(30);
    while receiver.got().len() < 100 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().ok();
    let before_restart = receiver.got().len();
    assert!(before_restart < 1000, "all were delivered before the kill");
    let server = start_with(&db, &data_dir, &[], Stdio::null()).await;
    // The killed server's lease runs out within 15 s; then the rest arrive.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut unique = std::collections::HashMap::new();
    while unique.len() < 1000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        for g in receiver.got().into_iter().filter(|g| g.answered < 300) {
            if let Some(body) = unique.insert(g.id.clone(), g.body.clone()) {
                assert_eq!(body, g.body, "{} came twice with different bodies", g.id);
            }
        }
    }
    drop(server);
    assert_eq!(unique.len(), 1000, "every event arrived");
    std::fs::remove_dir_all(&dir).ok();
}

/// Two servers on one database (replicas), each taking writes: every event reaches the
/// subscription once — the deliverer's lease keeps the other replica from sending it too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_deliver_each_event_once() {
    let receiver = Receiver::start(0, Duration::from_millis(1)).await;
    let dir = std::env::temp_dir().join(format!("kith-hooks2-{}", uuid::Uuid::now_v7().simple()));
    let (one, two) = (dir.join("one"), dir.join("two"));
    std::fs::create_dir_all(&one).expect("dir");
    std::fs::create_dir_all(&two).expect("dir");
    let (one, two) = (
        one.to_string_lossy().into_owned(),
        two.to_string_lossy().into_owned(),
    );
    let db = format!("sqlite://{}", dir.join("kith.db").display());
    let token = admin_token(&db, &one);
    let client = reqwest::Client::new();
    let first = start_with(&db, &one, &[], Stdio::null()).await;
    let second = start_with(&db, &two, &[], Stdio::null()).await;
    subscribe_on(&client, &second, &token, &receiver.url).await;
    create_batch(&client, &first, &token, 0).await;
    create_batch(&client, &second, &token, 1000).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    while receiver.got().len() < 2000 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Anything sent twice would arrive by now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let got = receiver.got();
    drop((first, second));
    let mut ids: Vec<&str> = got.iter().map(|g| g.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 2000, "every event arrived");
    assert_eq!(got.len(), 2000, "and none twice");
    std::fs::remove_dir_all(&dir).ok();
}
