//! The server a bench drives and its client: a release `kith serve` on a fresh database
//! (a SQLite file, or a PostgreSQL database made for the run and dropped after it), the bench
//! admin and API tokens made with the `kith` CLI, and a keep-alive HTTP client that times
//! every answer read to its end and counts the server errors it sees.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{RequestBuilder, StatusCode, Url};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use uuid::Uuid;

use super::TempDir;

pub(crate) const ADMIN_EMAIL: &str = "bench@kith.local";
pub(crate) const ADMIN_PASSWORD: &str = "benchpass1";
pub(crate) const WORKSPACE: &str = "bench";
/// Idle keep-alive connections a client keeps per server: enough for the concurrent writers.
const IDLE_CONNECTIONS: usize = 16;
/// The password of the users [`create_users`] makes.
pub(crate) const USER_PASSWORD: &str = "benchpass1";

/// The databases a bench runs on: `--db` and `--postgres-url`.
#[derive(Debug, clap::Args)]
pub(crate) struct Databases {
    /// Databases to benchmark.
    #[arg(long, value_enum, default_value_t = DbChoice::Both)]
    db: DbChoice,
    /// PostgreSQL URL to connect to; the bench creates (and drops) its own database there.
    #[arg(long, env = "KITH_TEST_POSTGRES_URL")]
    postgres_url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DbChoice {
    Sqlite,
    Postgres,
    Both,
}

impl Databases {
    /// The databases to run on, and a note for any skipped.
    pub(crate) fn backends(&self) -> anyhow::Result<(Vec<Backend>, Vec<String>)> {
        let postgres_url = self
            .postgres_url
            .clone()
            .filter(|url| !url.trim().is_empty());
        let mut notes = Vec::new();
        let backends = match (self.db, postgres_url) {
            (DbChoice::Sqlite, _) => vec![Backend::Sqlite],
            (DbChoice::Postgres, Some(url)) => vec![Backend::Postgres(url)],
            (DbChoice::Postgres, None) => {
                bail!(
                    "--db postgres needs a server: pass --postgres-url or set KITH_TEST_POSTGRES_URL"
                )
            }
            (DbChoice::Both, Some(url)) => vec![Backend::Sqlite, Backend::Postgres(url)],
            (DbChoice::Both, None) => {
                let note = "PostgreSQL was skipped: neither --postgres-url nor KITH_TEST_POSTGRES_URL was given.";
                eprintln!("note: {note}");
                notes.push(note.to_owned());
                vec![Backend::Sqlite]
            }
        };
        Ok((backends, notes))
    }
}

pub(crate) enum Backend {
    Sqlite,
    /// The URL of a PostgreSQL server, whose database is left alone.
    Postgres(String),
}

impl Backend {
    pub(crate) fn label(&self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres(_) => "PostgreSQL",
        }
    }
}

/// Runs `bench` with the URL of a fresh, empty database of `backend` (a SQLite file, or a
/// PostgreSQL database dropped afterwards) and a temporary directory for the server's local
/// state, removed afterwards.
pub(crate) async fn on_fresh_database<T, F, Fut>(backend: &Backend, bench: F) -> anyhow::Result<T>
where
    F: FnOnce(String, PathBuf) -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let dir = TempDir::create()?;
    match backend {
        Backend::Sqlite => bench(dir.sqlite_url(), dir.path().to_owned()).await,
        Backend::Postgres(server) => {
            let database = PgDatabase::create(server).await?;
            let result = bench(database.url.clone(), dir.path().to_owned()).await;
            database.remove().await;
            result
        }
    }
}

/// Creates the bench admin (`ADMIN_EMAIL`, `ADMIN_PASSWORD` in `WORKSPACE`), starts the server
/// on the database and waits until it answers; the client sends the admin's API token.
pub(crate) async fn start_server(
    kith: &Path,
    url: &str,
    dir: &Path,
) -> anyhow::Result<(Server, Api)> {
    start_server_with(kith, url, dir, &[]).await
}

/// [`start_server`] with more arguments to `kith serve` (`--nats URL`).
pub(crate) async fn start_server_with(
    kith: &Path,
    url: &str,
    dir: &Path,
    extra: &[&str],
) -> anyhow::Result<(Server, Api)> {
    let token = create_admin_token(kith, url, dir)?;
    let mut server = Server::start(kith, url, dir, extra)?;
    let api = Api::new(server.addr, &token)?;
    server.wait_until_ready(&api).await?;
    Ok((server, api))
}

/// Creates the bench admin with the CLI and returns a fresh API token of theirs.
fn create_admin_token(kith: &Path, url: &str, dir: &Path) -> anyhow::Result<String> {
    create_admin(kith, url, dir, ADMIN_EMAIL, WORKSPACE)
}

/// Creates an admin `email` (password `ADMIN_PASSWORD`) of `workspace`, the workspace too if
/// new, with the CLI, and returns a fresh API token of theirs.
pub(crate) fn create_admin(
    kith: &Path,
    url: &str,
    dir: &Path,
    email: &str,
    workspace: &str,
) -> anyhow::Result<String> {
    let user = [
        "user",
        "create",
        "--email",
        email,
        "--password",
        ADMIN_PASSWORD,
        "--role",
        "admin",
        "--workspace",
        workspace,
    ];
    kith_cli(kith, url, dir, &user)?;
    create_token(kith, url, dir, email, workspace)
}

/// A fresh API token of the user `email` of `workspace`, made with the CLI.
pub(crate) fn create_token(
    kith: &Path,
    url: &str,
    dir: &Path,
    email: &str,
    workspace: &str,
) -> anyhow::Result<String> {
    let token = kith_cli(
        kith,
        url,
        dir,
        &[
            "token",
            "create",
            "--email",
            email,
            "--workspace",
            workspace,
        ],
    )?;
    let token = token.trim();
    if token.is_empty() {
        bail!("`kith token create` printed no token");
    }
    Ok(token.to_owned())
}

/// A `kith` command on the bench's database, keeping its local state (the search index) in
/// `dir`.
fn kith_command(kith: &Path, url: &str, dir: &Path) -> Command {
    let mut command = Command::new(kith);
    command
        .arg("--db")
        .arg(url)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .current_dir(dir)
        .stdin(Stdio::null());
    command
}

/// Runs a `kith` command and returns its stdout.
pub(crate) fn kith_cli(
    kith: &Path,
    url: &str,
    dir: &Path,
    args: &[&str],
) -> anyhow::Result<String> {
    let output = kith_command(kith, url, dir)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {}", kith.display()))?;
    if !output.status.success() {
        bail!(
            "`kith {}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout).context("`kith` printed something other than UTF-8")
}

/// A running `kith serve`, killed when dropped.
pub(crate) struct Server {
    child: Child,
    addr: std::net::SocketAddr,
    log: PathBuf,
}

impl Server {
    fn start(kith: &Path, url: &str, dir: &Path, extra: &[&str]) -> anyhow::Result<Server> {
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .context("cannot find a free port")?;
        let log = dir.join("server.log");
        let log_file = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let child = kith_command(kith, url, dir)
            .args(["serve", "--listen", &addr.to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {}", kith.display()))?;
        Ok(Server { child, addr, log })
    }

    async fn wait_until_ready(&mut self, api: &Api) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().context("cannot watch the server")? {
                bail!(
                    "the server exited ({status}) before answering:\n{}",
                    self.log_tail()
                );
            }
            if api.is_healthy().await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "the server did not answer /healthz within 60 s:\n{}",
            self.log_tail()
        )
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub(crate) fn memory(&self) -> anyhow::Result<Memory> {
        let path = format!("/proc/{}/status", self.child.id());
        let status =
            std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .with_context(|| format!("{path} has no {name}"))
        };
        Ok(Memory {
            rss_kib: field("VmRSS:")?,
            peak_kib: field("VmHWM:")?,
        })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The server may already be gone; there is nothing more to do then.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The server's resident memory, in KiB as `/proc` reports it.
pub(crate) struct Memory {
    pub(crate) rss_kib: u64,
    pub(crate) peak_kib: u64,
}

impl Memory {
    pub(crate) fn megabytes(kib: u64) -> f64 {
        kib as f64 * 1024.0 / 1e6
    }

    /// "123.4 MB (peak 150.0 MB)".
    pub(crate) fn describe(&self) -> String {
        format!(
            "{:.1} MB (peak {:.1} MB)",
            Memory::megabytes(self.rss_kib),
            Memory::megabytes(self.peak_kib)
        )
    }
}

/// A database created for the run on a PostgreSQL server; [`PgDatabase::remove`] drops it.
struct PgDatabase {
    server: String,
    name: String,
    url: String,
}

impl PgDatabase {
    async fn create(server: &str) -> anyhow::Result<PgDatabase> {
        let name = format!("kith_bench_{}", Uuid::now_v7().simple());
        let mut url = Url::parse(server).context("the PostgreSQL URL is malformed")?;
        url.set_path(&name);
        let conn = sea_orm::Database::connect(server)
            .await
            .context("cannot connect to PostgreSQL")?;
        conn.execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("cannot create the database {name}"))?;
        conn.close().await?;
        eprintln!("created the PostgreSQL database {name}");
        Ok(PgDatabase {
            server: server.to_owned(),
            name,
            url: url.to_string(),
        })
    }

    /// Drops the database, even with connections still open; failures are only reported.
    async fn remove(self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let result = match sea_orm::Database::connect(self.server.as_str()).await {
            Ok(conn) => conn.execute_unprepared(&sql).await.map(|_| ()),
            Err(error) => Err(error),
        };
        match result {
            Ok(()) => eprintln!("dropped the PostgreSQL database {}", self.name),
            Err(error) => eprintln!(
                "warning: cannot drop the PostgreSQL database {}: {error}",
                self.name
            ),
        }
    }
}

/// One keep-alive client for the API, counting the server errors it sees.
#[derive(Clone)]
pub(crate) struct Api {
    client: reqwest::Client,
    /// `http://ADDR/api/v1/`.
    base: Url,
    server_errors: Arc<AtomicU64>,
}

/// An answer, read to the end, and how long it took.
pub(crate) struct Reply {
    pub(crate) request: String,
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
    pub(crate) elapsed: Duration,
}

impl Reply {
    pub(crate) fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_str(&self.body).with_context(|| {
            format!(
                "{} answered something other than JSON: {}",
                self.request,
                excerpt(&self.body)
            )
        })
    }

    pub(crate) fn unexpected(&self, expected: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "{} answered {} (expected {expected}): {}",
            self.request,
            self.status,
            excerpt(&self.body)
        )
    }
}

fn excerpt(text: &str) -> String {
    const MAX: usize = 600;
    match text.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// A keep-alive client sending `token` (if any) as a bearer token.
pub(crate) fn http_client(token: Option<&str>) -> anyhow::Result<reqwest::Client> {
    let mut headers = HeaderMap::new();
    if let Some(token) = token {
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}"))
            .context("the token is not a valid header")?;
        auth.set_sensitive(true);
        headers.insert(AUTHORIZATION, auth);
    }
    client_with_headers(headers)
}

/// A keep-alive client sending `headers` with every request and following no redirect.
fn client_with_headers(headers: HeaderMap) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(IDLE_CONNECTIONS)
        .timeout(Duration::from_secs(120))
        .build()
        .context("cannot build the HTTP client")
}

impl Api {
    fn new(addr: std::net::SocketAddr, token: &str) -> anyhow::Result<Api> {
        let base = Url::parse(&format!("http://{addr}/api/v1/"))?;
        Ok(Api {
            client: http_client(Some(token))?,
            base,
            server_errors: Arc::default(),
        })
    }

    /// A client of the same server with its own connections, sending `token` (or none),
    /// whose server errors count with this one's.
    pub(crate) fn with_token(&self, token: Option<&str>) -> anyhow::Result<Api> {
        Ok(Api {
            client: http_client(token)?,
            base: self.base.clone(),
            server_errors: Arc::clone(&self.server_errors),
        })
    }

    /// A client of the same server with its own connections, sending `headers` (and no
    /// token), whose server errors count with this one's.
    pub(crate) fn with_headers(&self, headers: HeaderMap) -> anyhow::Result<Api> {
        Ok(Api {
            client: client_with_headers(headers)?,
            base: self.base.clone(),
            server_errors: Arc::clone(&self.server_errors),
        })
    }

    pub(crate) fn server_errors(&self) -> u64 {
        self.server_errors.load(Ordering::Relaxed)
    }

    fn url(&self, path: &str) -> anyhow::Result<Url> {
        self.base
            .join(path)
            .with_context(|| format!("bad API path {path}"))
    }

    /// A GET of `path`, relative to `/api/v1/` (or absolute: `/records/contacts`).
    pub(crate) fn get(&self, path: &str) -> anyhow::Result<RequestBuilder> {
        Ok(self.client.get(self.url(path)?))
    }

    /// A POST of an already serialized JSON body.
    pub(crate) fn post_raw(&self, path: &str, body: String) -> anyhow::Result<RequestBuilder> {
        self.post_typed(path, "application/json", body)
    }

    /// A POST of an already encoded body of type `content_type`.
    pub(crate) fn post_typed(
        &self,
        path: &str,
        content_type: &str,
        body: String,
    ) -> anyhow::Result<RequestBuilder> {
        Ok(self
            .client
            .post(self.url(path)?)
            .header(CONTENT_TYPE, content_type)
            .body(body))
    }

    pub(crate) fn post(&self, path: &str, body: &Value) -> anyhow::Result<RequestBuilder> {
        Ok(self.client.post(self.url(path)?).json(body))
    }

    pub(crate) fn put(&self, path: &str, body: &Value) -> anyhow::Result<RequestBuilder> {
        Ok(self.client.put(self.url(path)?).json(body))
    }

    pub(crate) fn patch(&self, path: &str, body: &Value) -> anyhow::Result<RequestBuilder> {
        Ok(self.client.patch(self.url(path)?).json(body))
    }

    async fn is_healthy(&self) -> bool {
        let Ok(url) = self.base.join("/healthz") else {
            return false;
        };
        self.client
            .get(url)
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    /// Sends a request and reads the whole answer, timing both.
    pub(crate) async fn send(&self, request: RequestBuilder) -> anyhow::Result<Reply> {
        let request = request.build().context("cannot build a request")?;
        let label = format!("{} {}", request.method(), request.url());
        let started = Instant::now();
        let response = self
            .client
            .execute(request)
            .await
            .with_context(|| format!("{label} failed"))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .text()
            .await
            .with_context(|| format!("cannot read the answer to {label}"))?;
        let elapsed = started.elapsed();
        if status.is_server_error() {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Reply {
            request: label,
            status,
            headers,
            body,
            elapsed,
        })
    }

    /// Sends a request that must answer `expected`; anything else stops the bench.
    pub(crate) async fn expect(
        &self,
        request: RequestBuilder,
        expected: StatusCode,
    ) -> anyhow::Result<Reply> {
        let reply = self.send(request).await?;
        if reply.status != expected {
            return Err(reply.unexpected(expected.as_str()));
        }
        Ok(reply)
    }

    /// Sends requests one after the other, each having to answer `expected`.
    pub(crate) async fn expect_each(
        &self,
        requests: Vec<RequestBuilder>,
        expected: StatusCode,
    ) -> anyhow::Result<Vec<Reply>> {
        let mut replies = Vec::with_capacity(requests.len());
        for request in requests {
            replies.push(self.expect(request, expected).await?);
        }
        Ok(replies)
    }
}

// -- users and records ---------------------------------------------------------------------------

/// A user made by [`create_users`] (in `bench-api`, one with the `own`-only role).
pub(crate) struct Rep {
    pub(crate) id: String,
    pub(crate) email: String,
    /// A client sending the user's token.
    pub(crate) api: Api,
}

/// Users of `WORKSPACE` to create, all holding one custom role.
pub(crate) struct Users<'a> {
    pub(crate) role: &'a str,
    /// The role's grants per entity type (`"*"` for the others), as `PUT /admin/roles` takes them.
    pub(crate) types: Value,
    pub(crate) count: usize,
    /// User `i` is `{email_prefix}{i}@bench.test`, with the password `USER_PASSWORD`.
    pub(crate) email_prefix: &'a str,
}

/// Saves the role and creates the users holding it through the API, each with a CLI token.
pub(crate) async fn create_users(
    kith: &Path,
    url: &str,
    dir: &Path,
    api: &Api,
    users: &Users<'_>,
) -> anyhow::Result<Vec<Rep>> {
    let role = json!({ "name": users.role, "types": users.types });
    api.expect(
        api.put(&format!("admin/roles/{}", users.role), &role)?,
        StatusCode::OK,
    )
    .await?;
    let mut reps = Vec::with_capacity(users.count);
    for i in 0..users.count {
        let email = format!("{}{i}@bench.test", users.email_prefix);
        let body = json!({ "email": email, "password": USER_PASSWORD, "role": users.role });
        let reply = api
            .expect(api.post("admin/users", &body)?, StatusCode::CREATED)
            .await?;
        let id = reply
            .json()?
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| reply.unexpected("an `id`"))?;
        let token = create_token(kith, url, dir, &email, WORKSPACE)?;
        reps.push(Rep {
            id,
            email,
            api: api.with_token(Some(&token))?,
        });
    }
    eprintln!(
        "  created the role {} and {} users holding it",
        users.role, users.count
    );
    Ok(reps)
}

/// The `data` array of a reply.
pub(crate) fn records_of(reply: &Reply) -> anyhow::Result<Vec<Value>> {
    match reply.json()? {
        Value::Object(mut body) => match body.remove("data") {
            Some(Value::Array(records)) => Ok(records),
            _ => Err(reply.unexpected("a `data` array")),
        },
        _ => Err(reply.unexpected("a JSON object")),
    }
}

/// `pairs` as an `application/x-www-form-urlencoded` body.
pub(crate) fn form_body(pairs: &[(&str, &str)]) -> String {
    let mut url = reqwest::Url::parse("http://form.invalid/").expect("a valid URL");
    url.query_pairs_mut().extend_pairs(pairs);
    url.query().unwrap_or_default().to_owned()
}
