//! The test harness: every test boots a real Kith server on port 0 over a fresh, migrated
//! database — a SQLite file, or a new PostgreSQL database when `KITH_TEST_POSTGRES_URL` is set —
//! and talks to it over HTTP.

use std::path::PathBuf;
use std::time::Duration;

use host::app::{AppState, Application};
use host::config::Config;
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;
use tokio::sync::oneshot;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs the test body once on SQLite and once on PostgreSQL. A doc comment on a test says
/// what it proves.
macro_rules! on_both {
    ($($(#[$meta:meta])* async fn $name:ident($app:ident: TestApp) $body:block)*) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn body($app: TestApp) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                body($crate::support::TestApp::spawn($crate::support::Backend::Sqlite).await.expect("sqlite always runs")).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(app) = $crate::support::TestApp::spawn($crate::support::Backend::Postgres).await {
                    body(app).await
                }
            }
        }
    )*};
}
pub(crate) use on_both;

pub struct TestApp {
    pub base: String,
    pub token: String,
    pub client: reqwest::Client,
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    cleanup: Cleanup,
}

/// What a test leaves behind: its data directory, and its PostgreSQL database if any.
struct Cleanup {
    dir: PathBuf,
    database: Option<(String, String)>,
}

/// A response: status and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The stable error code of an error body.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    pub fn data(&self) -> &Vec<Value> {
        self.body["data"]
            .as_array()
            .unwrap_or_else(|| panic!("no data array in {}", self.body))
    }
}

/// The id of a record in an API answer.
pub fn id_of(record: &Value) -> String {
    record["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {record}"))
        .to_owned()
}

/// The compiled-plugin cache the tests share: `target/plugin-cache-tests` (entries are keyed by
/// the component's hash and the engine's, so a stale one is never used).
fn shared_plugin_cache() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let target = exe.ancestors().nth(3).expect("target dir");
    target.join("plugin-cache-tests")
}

pub fn postgres_url() -> Option<String> {
    match std::env::var("KITH_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must set KITH_TEST_POSTGRES_URL so PostgreSQL tests run"
            );
            None
        }
    }
}

pub(crate) fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(head, _)| head);
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

impl TestApp {
    /// A fresh server, with an admin of workspace `acme` whose token is `self.token`.
    /// `None` when PostgreSQL is asked for but not configured (outside CI).
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        TestApp::spawn_with(backend, None).await
    }

    /// A fresh server as [`TestApp::spawn`], publishing its events to `stream` if given.
    pub async fn spawn_with(
        backend: Backend,
        stream: Option<host::integrations::stream::StreamTarget>,
    ) -> Option<TestApp> {
        let dir = std::env::temp_dir().join(format!("kith-test-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (database_url, database) = match backend {
            Backend::Sqlite => (format!("sqlite://{}", dir.join("kith.db").display()), None),
            Backend::Postgres => {
                let admin_url = postgres_url()?;
                let name = format!("kith_t_{}", Uuid::now_v7().simple());
                let admin = Database::connect(&admin_url)
                    .await
                    .expect("connect to KITH_TEST_POSTGRES_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                (with_database(&admin_url, &name), Some((admin_url, name)))
            }
        };
        let cleanup = Cleanup {
            dir: dir.clone(),
            database,
        };
        let config = Config {
            database_url,
            listen: "127.0.0.1:0".parse().expect("address"),
            data_dir: dir,
            retention_days: 30,
            // One cache for the whole run: each test plugin is compiled once, not per test.
            plugin_cache: Some(shared_plugin_cache()),
            stream,
        };
        let app = Application::build(&config)
            .await
            .expect("application builds");
        let base = format!("http://{}", app.local_addr());
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(app.run_until(async {
            rx.await.ok();
        }));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let mut test = TestApp {
            base,
            token: String::new(),
            client,
            state,
            shutdown: Some(tx),
            cleanup,
        };
        test.token = test.user("acme", "admin@acme.test", "admin").await;
        Some(test)
    }

    /// Creates a user in a workspace (created if new) and returns a token for them.
    pub async fn user(&self, workspace: &str, email: &str, role: &str) -> String {
        host::auth::create_user(
            &self.state.db,
            email,
            "correct horse battery",
            role,
            workspace,
        )
        .await
        .expect("user");
        host::auth::create_token(&self.state.db, email, workspace, "test")
            .await
            .expect("token")
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request reaches the server");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            body,
            headers,
        }
    }

    /// Sends raw bytes (possibly not JSON, possibly not UTF-8) with a content type.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{}", self.base, path))
            .bearer_auth(&self.token)
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request reaches the server");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        Reply {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            headers,
        }
    }

    /// Sends a body of `len` bytes over a raw connection, reading the answer while still
    /// writing: a server that refuses an oversized body answers before reading it all, and an
    /// HTTP client library would report the reset instead of the answer.
    pub async fn oversized(&self, method: &str, path: &str, len: usize) -> Reply {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://").to_owned();
        let stream = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let (mut reader, mut writer) = stream.into_split();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
            self.token
        );
        let writing = tokio::spawn(async move {
            writer.write_all(head.as_bytes()).await.ok()?;
            let chunk = vec![b' '; 64 * 1024];
            let mut sent = 0;
            while sent < len {
                let n = chunk.len().min(len - sent);
                writer.write_all(&chunk[..n]).await.ok()?;
                sent += n;
            }
            Some(())
        });
        let mut response = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut response))
            .await
            .expect("answer in time")
            .ok();
        writing.abort();
        let text = String::from_utf8_lossy(&response);
        let status: u16 = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        Reply {
            status: StatusCode::from_u16(status).expect("status"),
            body: serde_json::from_str(body).unwrap_or(Value::Null),
            headers: reqwest::header::HeaderMap::new(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.request(Method::GET, path, None, Some(&self.token), &[])
            .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.request(Method::POST, path, Some(body), Some(&self.token), &[])
            .await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.request(Method::PUT, path, Some(body), Some(&self.token), &[])
            .await
    }

    pub async fn patch(&self, path: &str, body: &Value, if_match: Option<i64>) -> Reply {
        let etag = if_match.map(|v| format!("\"{v}\""));
        let headers: Vec<(&str, &str)> = etag.iter().map(|e| ("If-Match", e.as_str())).collect();
        self.request(Method::PATCH, path, Some(body), Some(&self.token), &headers)
            .await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.request(Method::DELETE, path, None, Some(&self.token), &[])
            .await
    }

    /// Saves a role (`PUT /api/v1/admin/roles/{name}`) as the admin, asserting a 200.
    pub async fn save_role(&self, name: &str, role: &Value) {
        let saved = self
            .request(
                Method::PUT,
                &format!("/api/v1/admin/roles/{name}"),
                Some(role),
                Some(&self.token),
                &[],
            )
            .await;
        assert_eq!(saved.status, StatusCode::OK, "role {name}: {}", saved.body);
    }

    /// Creates a record and returns it, asserting a 201.
    pub async fn create(&self, plural: &str, body: Value) -> Value {
        let reply = self.post(&format!("/api/v1/{plural}"), &body).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "create {plural}: {}",
            reply.body
        );
        reply.body
    }

    /// Every record of a type, following cursors.
    pub async fn all(&self, plural: &str, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/{plural}?limit=500&{query}");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let reply = self.get(&path).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
            out.extend(reply.data().iter().cloned());
            match reply.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return out,
            }
        }
    }

    /// A digest of everything stored: row counts of every table and the outbox head, plus
    /// every record's id, version, deletion and data. Equal digests mean nothing changed.
    pub async fn digest(&self) -> String {
        let db = &self.state.db.read;
        let backend = db.get_database_backend();
        let mut out = String::new();
        for table in [
            "workspaces",
            "users",
            "api_tokens",
            "entity_types",
            "custom_fields",
            "records",
            "audit_log",
            "outbox",
        ] {
            let row = db
                .query_one_raw(sea_orm::Statement::from_string(
                    backend,
                    format!("SELECT COUNT(*) AS n FROM {table}"),
                ))
                .await
                .expect("count")
                .expect("row");
            let n: i64 = row.try_get("", "n").expect("n");
            out.push_str(&format!("{table}={n};"));
        }
        let head = db
            .query_one_raw(sea_orm::Statement::from_string(
                backend,
                "SELECT seq FROM outbox_head".to_owned(),
            ))
            .await
            .expect("head")
            .expect("row");
        let seq: i64 = head.try_get("", "seq").expect("seq");
        out.push_str(&format!("head={seq};"));
        let data_expr = if backend == sea_orm::DbBackend::Postgres {
            "data::text"
        } else {
            "data"
        };
        let rows = db
            .query_all_raw(sea_orm::Statement::from_string(
                backend,
                format!(
                    "SELECT id, version, deleted_at, {data_expr} AS d FROM records ORDER BY id"
                ),
            ))
            .await
            .expect("records");
        for row in rows {
            let id: Uuid = row.try_get("", "id").expect("id");
            let version: i64 = row.try_get("", "version").expect("version");
            let deleted: Option<i64> = row.try_get("", "deleted_at").expect("deleted_at");
            let data: String = row.try_get("", "d").expect("data");
            out.push_str(&format!("{id}:{version}:{deleted:?}:{data};"));
        }
        out
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            tx.send(()).ok();
        }
        std::fs::remove_dir_all(&self.cleanup.dir).ok();
        if let Some((admin_url, name)) = self.cleanup.database.clone() {
            // Dropping runs inside the test's runtime: do the async cleanup on a thread of
            // its own.
            let done = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                runtime.block_on(async {
                    if let Ok(admin) = Database::connect(&admin_url).await {
                        admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await
                            .ok();
                    }
                });
            });
            done.join().ok();
        }
    }
}
