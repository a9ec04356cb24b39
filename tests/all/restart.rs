//! The search index survives kill -9 of the server mid-indexing: a restart resumes from the
//! last commit without missing or duplicating documents; `kith reindex` rebuilds it. Bundled
//! plugins are enabled on a first start and an admin's disable survives restarts.

use std::net::TcpListener;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use uuid::Uuid;

use crate::cli::kith;

pub(crate) struct Server {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn start(db: &str, data_dir: &str) -> Server {
    start_with(db, data_dir, &[], Stdio::null()).await
}

/// `kith serve` with extra arguments, its stderr going to `stderr`.
pub(crate) async fn start_with(db: &str, data_dir: &str, extra: &[&str], stderr: Stdio) -> Server {
    start_env(db, data_dir, extra, &[], stderr).await
}

/// `kith serve` with extra arguments and environment variables.
pub(crate) async fn start_env(
    db: &str,
    data_dir: &str,
    extra: &[&str],
    env: &[(&str, &str)],
    stderr: Stdio,
) -> Server {
    let port = free_port();
    let child = kith()
        .args(["--db", db, "--data-dir", data_dir, "serve", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(extra)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("kith serve starts");
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Server { child, base }
}

/// Creates an admin in the default workspace of a data directory with the CLI; answers their
/// API token.
pub(crate) fn admin_token(db: &str, data_dir: &str) -> String {
    let cli = |args: &[&str]| {
        kith()
            .args(["--db", db, "--data-dir", data_dir])
            .args(args)
            .output()
            .expect("kith runs")
    };
    let created = cli(&[
        "user",
        "create",
        "--email",
        "a@b.test",
        "--password",
        "password1",
        "--role",
        "admin",
    ]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    String::from_utf8(cli(&["token", "create", "--email", "a@b.test"]).stdout)
        .expect("utf8")
        .trim()
        .to_owned()
}

pub(crate) async fn create_batch(
    client: &reqwest::Client,
    server: &Server,
    token: &str,
    from: usize,
) {
    let records: Vec<Value> = (from..from + 1000)
        .map(|i| json!({"last_name": format!("Marker{i:05}")}))
        .collect();
    let reply = client
        .post(format!("{}/api/v1/contacts/batch", server.base))
        .bearer_auth(token)
        .json(&json!({"operation": "create", "records": records}))
        .send()
        .await
        .expect("batch");
    assert!(reply.status().is_success());
}

/// How many hits are titled exactly `title`; panics if a record is returned twice.
async fn hits(client: &reqwest::Client, server: &Server, token: &str, title: &str) -> usize {
    let query = title.to_lowercase();
    let reply: Value = client
        .get(format!("{}/api/v1/search?q={query}&limit=10", server.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("search")
        .json()
        .await
        .expect("json");
    let hits = reply["data"].as_array().cloned().unwrap_or_default();
    let ids: std::collections::HashSet<&str> =
        hits.iter().filter_map(|h| h["id"].as_str()).collect();
    assert_eq!(ids.len(), hits.len(), "a record is indexed twice: {reply}");
    hits.iter().filter(|h| h["title"] == title).count()
}

/// Every marker is found exactly once (waiting for the indexer to catch up).
async fn assert_each_once(client: &reqwest::Client, server: &Server, token: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for i in (0..count).step_by(7).chain([count - 1]) {
        let query = format!("Marker{i:05}");
        loop {
            let n = hits(client, server, token, &query).await;
            if n == 1 {
                break;
            }
            assert!(n == 0 && Instant::now() < deadline, "{query}: {n} hits");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_resumes_after_kill_9_and_reindex_rebuilds_it() {
    let dir = std::env::temp_dir().join(format!("kith-restart-{}", Uuid::now_v7().simple()));
    let data_dir = dir.to_string_lossy().into_owned();
    let db = format!("sqlite://{}", dir.join("kith.db").display());
    std::fs::create_dir_all(&dir).expect("dir");
    let cli = |args: &[&str]| {
        kith()
            .args(["--db", &db, "--data-dir", &data_dir])
            .args(args)
            .output()
            .expect("kith runs")
    };
    let token = admin_token(&db, &data_dir);
    let client = reqwest::Client::new();

    // Write and kill -9 at once, while the indexer is busy with the batch.
    let mut server = start(&db, &data_dir).await;
    create_batch(&client, &server, &token, 0).await;
    create_batch(&client, &server, &token, 1000).await;
    server.child.kill().expect("SIGKILL");
    server.child.wait().ok();

    let server = start(&db, &data_dir).await;
    create_batch(&client, &server, &token, 2000).await;
    assert_each_once(&client, &server, &token, 3000).await;
    drop(server);

    std::fs::remove_dir_all(dir.join("search")).expect("remove the index");
    let rebuilt = cli(&["reindex"]);
    assert!(
        rebuilt.status.success(),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    assert!(
        String::from_utf8_lossy(&rebuilt.stderr).contains("indexed 3000 records"),
        "{}",
        String::from_utf8_lossy(&rebuilt.stderr)
    );
    let server = start(&db, &data_dir).await;
    for i in [0, 1500, 2999] {
        assert_eq!(
            hits(&client, &server, &token, &format!("Marker{i:05}")).await,
            1,
            "Marker{i:05} after reindex"
        );
    }
    drop(server);
    std::fs::remove_dir_all(&dir).ok();
}

/// The API token `kith serve --demo` printed in its log.
fn printed_token(log: &std::path::Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    let at =
        text.find("API token for admin@kith.local: ")? + "API token for admin@kith.local: ".len();
    Some(text[at..].split_whitespace().next()?.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundled_plugins_are_enabled_on_the_first_start_and_a_disable_sticks() {
    let dir = std::env::temp_dir().join(format!("kith-bundled-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(dir.join("data")).expect("data dir");
    let data_dir = dir.join("data").to_string_lossy().into_owned();
    let db = format!("sqlite://{data_dir}/kith.db");
    let client = reqwest::Client::new();
    let get = |server: &Server, token: &str, path: &str| {
        client
            .get(format!("{}{path}", server.base))
            .bearer_auth(token)
            .send()
    };
    let get_json = |server: &Server, token: &str, path: &str| {
        let answer = get(server, token, path);
        async move {
            answer
                .await
                .expect("answer")
                .json::<Value>()
                .await
                .expect("json")
        }
    };

    // The binary alone, no plugin folder: the first-party plugins are in it. Each start prints
    // a fresh token for the demo admin.
    let start_demo = |name: &str| {
        let log = dir.join(name);
        let (db, data_dir) = (&db, &data_dir);
        async move {
            let stderr = Stdio::from(std::fs::File::create(&log).expect("log"));
            let server = start_with(db, data_dir, &["--demo"], stderr).await;
            (server, printed_token(&log).expect("a token in the log"))
        }
    };

    let (server, token) = start_demo("first.log").await;
    let sales = get_json(&server, &token, "/api/v1/plugins/sales").await;
    assert_eq!(
        sales["enabled"], "0.1.0",
        "the bundled plugin is enabled: {sales}"
    );
    let deals = get_json(&server, &token, "/api/v1/deals?total=true&limit=1").await;
    assert!(
        deals["total"].as_u64().unwrap_or(0) > 0,
        "the plugin's demo data is loaded: {deals}"
    );
    let off = client
        .post(format!("{}/api/v1/plugins/sales/disable", server.base))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .expect("disable");
    assert!(
        off.status().is_success(),
        "{}",
        off.text().await.unwrap_or_default()
    );
    drop(server);

    let (server, token) = start_demo("second.log").await;
    let deals = get(&server, &token, "/api/v1/deals").await.expect("deals");
    assert_eq!(
        deals.status(),
        reqwest::StatusCode::NOT_FOUND,
        "the admin's disable sticks: no deal type"
    );
    let sales = get_json(&server, &token, "/api/v1/plugins/sales").await;
    assert!(sales["enabled"].is_null(), "{sales}");
    drop(server);

    // The command line lists what is installed, and what a newer host would refuse.
    let cli = |args: &[&str]| {
        let output = kith()
            .args(["--db", &db, "--data-dir", &data_dir])
            .args(args)
            .output()
            .expect("kith runs");
        assert!(
            output.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let listed = cli(&["plugin", "list"]);
    assert!(
        listed.starts_with("sales\t0.1.0\tSales\tapi 0.4.1"),
        "{listed}"
    );
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/good-0.3.0");
    cli(&["plugin", "install", fixture.to_str().expect("path")]);
    let checked = cli(&["plugin", "check"]);
    assert!(
        checked.contains("good 0.1.0: built for plugin API 0.3.0") && !checked.contains("sales"),
        "{checked}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
