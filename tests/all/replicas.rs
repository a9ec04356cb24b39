//! Several processes over one database, as Kith scales past one machine: two `kith serve`
//! replicas on one PostgreSQL database, and CLI commands beside a running server. What one
//! changes, the others honour within a second (DESIGN §7); starting together is safe.

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::cli::kith;
use crate::restart::{Server, start_with};

/// How soon another process must honour a change (the followers poll every 250 ms).
const WITHIN: Duration = Duration::from_millis(1500);

/// Polls `check` until it holds, for at most `WITHIN`; answers how long it took.
async fn honoured<F, Fut>(what: &str, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            let took = started.elapsed();
            eprintln!("{what}: honoured after {} ms", took.as_millis());
            return took;
        }
        assert!(
            started.elapsed() < WITHIN,
            "{what}: not honoured within {WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A fresh PostgreSQL database (dropped by the returned guard), or `None` outside CI without
/// one.
struct TempDatabase {
    url: String,
    admin_url: String,
    name: String,
}

impl Drop for TempDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    admin
                        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await
                        .ok();
                }
            });
        })
        .join()
        .ok();
    }
}

async fn postgres_database() -> Option<TempDatabase> {
    let admin_url = crate::support::postgres_url()?;
    let name = format!("kith_r_{}", Uuid::now_v7().simple());
    let admin = Database::connect(&admin_url).await.expect("connect");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    admin.close().await.ok();
    let url = crate::support::with_database(&admin_url, &name);
    Some(TempDatabase {
        url,
        admin_url,
        name,
    })
}

fn temp_dir(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("kith-{name}-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir.to_string_lossy().into_owned()
}

/// Runs a `kith` command, asserting it succeeds; its stdout.
fn cli(db: &str, data_dir: &str, args: &[&str]) -> String {
    let output = kith()
        .args(["--db", db, "--data-dir", data_dir])
        .args(args)
        .output()
        .expect("kith runs");
    assert!(
        output.status.success(),
        "kith {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A workspace `acme` with an admin, and a token for them.
fn admin_token(db: &str, data_dir: &str) -> String {
    cli(
        db,
        data_dir,
        &[
            "user",
            "create",
            "--email",
            "admin@acme.test",
            "--password",
            "correct horse battery",
            "--role",
            "admin",
            "--workspace",
            "acme",
        ],
    );
    cli(
        db,
        data_dir,
        &[
            "token",
            "create",
            "--email",
            "admin@acme.test",
            "--workspace",
            "acme",
        ],
    )
}

struct Client {
    http: reqwest::Client,
    token: String,
}

impl Client {
    async fn send(
        &self,
        server: &Server,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", server.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgresql_honour_each_others_changes() {
    let Some(database) = postgres_database().await else {
        return;
    };
    let db = database.url.clone();
    let (dir_a, dir_b) = (temp_dir("replica-a"), temp_dir("replica-b"));
    // Both start at the same moment over a database nobody migrated, installing the same
    // bundled plugin.
    let bundled = temp_dir("bundled");
    std::fs::rename(
        crate::plugins::package("good"),
        std::path::Path::new(&bundled).join("good"),
    )
    .expect("bundle");
    let with_bundled = ["--plugins", bundled.as_str()];
    let (a, b) = tokio::join!(
        start_with(&db, &dir_a, &with_bundled, Stdio::null()),
        start_with(&db, &dir_b, &with_bundled, Stdio::null()),
    );
    let token = admin_token(&db, &dir_a);
    let client = Client {
        http: reqwest::Client::new(),
        token,
    };
    use reqwest::Method;

    // A CLI command beside the servers: enabling the plugin takes effect on both.
    cli(
        &db,
        &dir_a,
        &["plugin", "enable", "good", "--workspace", "acme"],
    );
    for server in [&a, &b] {
        honoured("a plugin enabled by the CLI", || async {
            client
                .send(server, Method::GET, "/p/good/hello", None)
                .await
                .0
                == StatusCode::OK
        })
        .await;
    }

    // A custom field added through A is accepted by B.
    let (status, body) = client
        .send(
            &a,
            Method::POST,
            "/api/v1/meta/entities/contact/fields",
            Some(json!({ "name": "loyalty", "type": "integer" })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    honoured("a custom field", || async {
        let (status, _) = client
            .send(
                &b,
                Method::POST,
                "/api/v1/contacts",
                Some(json!({ "last_name": "Loyal", "loyalty": 3 })),
            )
            .await;
        status == StatusCode::CREATED
    })
    .await;

    // A plugin disabled through A stops on B.
    let (status, body) = client.send(&b, Method::GET, "/p/good/hello", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = client
        .send(
            &a,
            Method::POST,
            "/api/v1/plugins/good/disable",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    honoured("a plugin disable", || async {
        let (_, body) = client.send(&b, Method::GET, "/p/good/hello", None).await;
        body["error"]["code"] == "plugin_not_enabled"
    })
    .await;

    // A role changed through A binds its users on B.
    let reader = json!({ "name": "reader", "types": { "*": { "read": "all" } } });
    let (status, body) = client
        .send(&a, Method::PUT, "/api/v1/admin/roles/reader", Some(reader))
        .await;
    assert!(status.is_success(), "{body}");
    let (status, body) = client.send(&a, Method::POST, "/api/v1/admin/users", Some(json!({ "email": "reader@acme.test", "password": "correct horse battery", "role": "reader" }))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let reader_token = cli(
        &db,
        &dir_a,
        &[
            "token",
            "create",
            "--email",
            "reader@acme.test",
            "--workspace",
            "acme",
        ],
    );
    let as_reader = Client {
        http: reqwest::Client::new(),
        token: reader_token,
    };
    let (status, _) = as_reader
        .send(&b, Method::GET, "/api/v1/contacts", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let blind = json!({ "name": "reader", "types": { "*": { "read": "all" }, "contact": { "read": "none" } } });
    let (status, body) = client
        .send(&a, Method::PUT, "/api/v1/admin/roles/reader", Some(blind))
        .await;
    assert!(status.is_success(), "{body}");
    honoured("a role change", || async {
        let (status, _) = as_reader
            .send(&b, Method::GET, "/api/v1/contacts", None)
            .await;
        status == StatusCode::FORBIDDEN
    })
    .await;

    drop((a, b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_command_beside_a_sqlite_server_takes_effect_without_a_restart() {
    let dir = temp_dir("cli-beside");
    let db = format!("sqlite://{dir}/kith.db");
    let token = admin_token(&db, &dir);
    let good = crate::plugins::package("good");
    cli(&db, &dir, &["plugin", "install", good.to_str().unwrap()]);
    let server = start_with(&db, &dir, &[], Stdio::null()).await;
    let client = Client {
        http: reqwest::Client::new(),
        token,
    };
    let (status, _) = client
        .send(&server, reqwest::Method::GET, "/p/good/hello", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not enabled yet");
    cli(
        &db,
        &dir,
        &[
            "plugin",
            "enable",
            "good",
            "--workspace",
            "acme",
            "--set",
            "greeting=hej",
        ],
    );
    honoured("a plugin enabled by the CLI", || async {
        let (_, body) = client
            .send(&server, reqwest::Method::GET, "/p/good/hello", None)
            .await;
        body["greeting"] == "hej"
    })
    .await;
    cli(
        &db,
        &dir,
        &["plugin", "disable", "good", "--workspace", "acme"],
    );
    honoured("a plugin disabled by the CLI", || async {
        let (_, body) = client
            .send(&server, reqwest::Method::GET, "/p/good/hello", None)
            .await;
        body["error"]["code"] == "plugin_not_enabled"
    })
    .await;
}
