//! Mailboxes polled over IMAP against a real IMAP server: Debian's Dovecot (installed by
//! `cargo xtask test`), started per test on free ports with a Maildir store and a
//! self-signed certificate. Each message is stored once, whatever restarts, replicas,
//! kill -9 or a recreated folder (a new UIDVALIDITY) do; the folder is only read (nothing
//! is marked seen); TLS checks the server's certificate; bad settings are refused.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use async_imap::Session;
use futures_util::TryStreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use uuid::Uuid;

use crate::restart::{Server, admin_token, free_port, start_env};
use crate::support::{TestApp, on_both};

/// Every login's password on the test server.
const PASSWORD: &str = "imap-secret";

/// Dovecot on 127.0.0.1: IMAP (plain, STARTTLS offered) on `port`, IMAPS on `tls_port`,
/// any user name logging in with [`PASSWORD`] to their own Maildir.
pub(crate) struct Dovecot {
    child: Child,
    dir: PathBuf,
    pub port: u16,
    pub tls_port: u16,
    /// The certificate authority (PEM) that signed the server's certificate, for a client
    /// that should trust it.
    pub ca: PathBuf,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM: the master stops its children before it exits.
        Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .ok();
        self.child.wait().ok();
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

fn output(command: &mut Command) -> String {
    let out = command.output().expect("command runs");
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A certificate authority of the test's own in `dir`, and a server certificate for
/// `localhost` and 127.0.0.1 signed by it: (the CA's PEM, the certificate, its key).
pub(crate) fn test_certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (ca, ca_key) = (dir.join("ca.pem"), dir.join("ca.key"));
    let (cert, key, request) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("cert.csr"),
    );
    let extensions = dir.join("cert.ext");
    std::fs::write(
        &extensions,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("extensions");
    output(
        Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=Kith test CA", "-keyout"])
            .arg(&ca_key)
            .arg("-out")
            .arg(&ca),
    );
    output(
        Command::new("openssl")
            .args([
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
            ])
            .arg(&key)
            .arg("-out")
            .arg(&request),
    );
    output(
        Command::new("openssl")
            .args(["x509", "-req", "-days", "2", "-CAcreateserial", "-in"])
            .arg(&request)
            .arg("-CA")
            .arg(&ca)
            .arg("-CAkey")
            .arg(&ca_key)
            .arg("-extfile")
            .arg(&extensions)
            .arg("-out")
            .arg(&cert),
    );
    (ca, cert, key)
}

impl Dovecot {
    pub(crate) async fn start() -> Dovecot {
        let dir = std::env::temp_dir().join(format!("kith-dovecot-{}", Uuid::now_v7().simple()));
        let mail = dir.join("mail");
        std::fs::create_dir_all(dir.join("run")).expect("dir");
        std::fs::create_dir_all(&mail).expect("dir");
        let (ca, cert, key) = test_certificate(&dir);
        // As root, Dovecot's own unprivileged users run the logins and own the mail; as
        // anyone else, that user runs everything.
        let me = output(Command::new("id").arg("-un"));
        let (login, internal, mail_user) = if me == "root" {
            ("dovenull", "dovecot", "dovecot")
        } else {
            (me.as_str(), me.as_str(), me.as_str())
        };
        if me == "root" {
            let uid: u32 = output(Command::new("id").args(["-u", mail_user]))
                .parse()
                .expect("uid");
            let gid: u32 = output(Command::new("id").args(["-g", mail_user]))
                .parse()
                .expect("gid");
            std::os::unix::fs::chown(&mail, Some(uid), Some(gid)).expect("chown");
        }
        let (port, tls_port) = (free_port(), free_port());
        let d = dir.display();
        let config = format!(
            "protocols = imap\n\
             listen = 127.0.0.1\n\
             base_dir = {d}/run\n\
             state_dir = {d}/run/state\n\
             log_path = {d}/dovecot.log\n\
             ssl = yes\n\
             ssl_cert = <{cert}\n\
             ssl_key = <{key}\n\
             disable_plaintext_auth = no\n\
             auth_mechanisms = plain login\n\
             default_login_user = {login}\n\
             default_internal_user = {internal}\n\
             default_internal_group = {internal}\n\
             first_valid_uid = 1\n\
             mail_fsync = never\n\
             mail_location = maildir:{d}/mail/%u\n\
             passdb {{\n  driver = static\n  args = password={PASSWORD}\n}}\n\
             userdb {{\n  driver = static\n  args = uid={mail_user} gid={mail_user} home={d}/mail/%u\n}}\n\
             service imap-login {{\n  chroot =\n  inet_listener imap {{\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = {tls_port}\n    ssl = yes\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\n",
            cert = cert.display(),
            key = key.display(),
        );
        std::fs::write(dir.join("dovecot.conf"), config).expect("config");
        let child = Command::new("/usr/sbin/dovecot")
            .arg("-F")
            .arg("-c")
            .arg(dir.join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dovecot runs (cargo xtask test installs dovecot-imapd)");
        let server = Dovecot {
            child,
            dir,
            port,
            tls_port,
            ca,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).await.is_err()
            || TcpStream::connect(("127.0.0.1", tls_port)).await.is_err()
        {
            assert!(
                Instant::now() < deadline,
                "dovecot did not start: {}",
                std::fs::read_to_string(server.dir.join("dovecot.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    /// A session of `user` over the plain port.
    pub(crate) async fn login(&self, user: &str) -> Session<TcpStream> {
        let tcp = TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect");
        let mut client = async_imap::Client::new(tcp);
        client.read_response().await.expect("greeting");
        client
            .login(user, PASSWORD)
            .await
            .map_err(|(e, _)| e)
            .expect("login")
    }

    /// Appends raw messages to a folder of `user` (made if missing).
    pub(crate) async fn append(&self, user: &str, folder: &str, messages: &[Vec<u8>]) {
        let mut session = self.login(user).await;
        session.create(folder).await.ok();
        for raw in messages {
            session
                .append(folder, None, None, raw)
                .await
                .expect("append");
        }
        session.logout().await.ok();
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default()
    }
}

pub(crate) fn message(id: &str, from: &str, subject: &str, extra: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: support@acme.test\r\nSubject: {subject}\r\nMessage-ID: <{id}>\r\n\
         Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n{extra}\r\nHello from {from}.\r\n"
    )
    .into_bytes()
}

fn mailbox_body(port: u16, user: &str, folder: &str) -> Value {
    json!({
        "name": format!("{user} {folder}"),
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "username": user,
        "password": PASSWORD,
        "folder": folder,
    })
}

async fn allow_localhost(app: &TestApp) {
    let allowed = app
        .put(
            "/api/v1/admin/outbound-hosts",
            &json!({"hosts": ["127.0.0.1", "localhost"]}),
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK, "{}", allowed.body);
}

/// The first value `read` gives that `done` accepts, read every 100 ms for up to `secs`
/// seconds; the last one read if none is (the caller's assertion then shows it).
async fn eventually<F, Fut>(secs: u64, mut read: F, done: impl Fn(&Value) -> bool) -> Value
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Value>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let value = read().await;
        if done(&value) || Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn mailbox(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/api/v1/admin/mailboxes/{id}")).await.body
}

/// The mailbox once its last poll has finished with `received + skipped >= total` (30 s).
async fn polled(app: &TestApp, id: &str, total: i64) -> Value {
    eventually(
        30,
        || mailbox(app, id),
        |row| {
            let done = row["received"].as_i64().unwrap_or(0) + row["skipped"].as_i64().unwrap_or(0);
            done >= total && !row["last_polled_at"].is_null()
        },
    )
    .await
}

async fn poll_now(app: &TestApp, id: &str) {
    let due = app
        .post(&format!("/api/v1/admin/mailboxes/{id}/poll"), &json!({}))
        .await;
    assert_eq!(due.status, StatusCode::ACCEPTED, "{}", due.body);
}

async fn received(app: &TestApp) -> Vec<Value> {
    app.get("/api/v1/mail?direction=in&limit=500").await.body["data"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

on_both! {
    async fn a_polled_mailbox_stores_each_message_once_and_leaves_it_unread(app: TestApp) {
        let imap = Dovecot::start().await;
        allow_localhost(&app).await;
        let ada = app
            .create("contacts", json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}))
            .await;
        imap.append("support", "INBOX", &[
            message("m1@example.com", "ada@example.com", "Renewal price", ""),
            message("m2@example.com", "ada@example.com", "Re: Renewal price", "In-Reply-To: <m1@example.com>\r\n"),
            // The same Message-ID again (a copy in the folder): stored once.
            message("m1@example.com", "ada@example.com", "Renewal price", ""),
            b"just some words, no headers at all".to_vec(),
        ]).await;
        let created = app.post("/api/v1/admin/mailboxes", &mailbox_body(imap.port, "support", "INBOX")).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["password_set"], json!(true));
        assert!(created.body.get("password").is_none());
        let id = created.body["id"].as_str().unwrap().to_owned();
        let row = polled(&app, &id, 3).await;
        assert_eq!(row["last_error"], Value::Null, "{row}\n{}", imap.log());
        assert_eq!(row["received"], json!(2), "{row}");
        assert_eq!(row["skipped"], json!(1), "the headerless text: {row}");
        assert_eq!(row["last_uid"], json!(4));
        assert!(row["uid_validity"].as_i64().is_some());

        let mail = received(&app).await;
        assert_eq!(mail.len(), 2, "{mail:?}");
        let reply = mail.iter().find(|m| m["message_id"] == "m2@example.com").unwrap();
        assert_eq!(reply["thread_id"], json!("m1@example.com"), "threaded by In-Reply-To");
        let activity = app
            .get(&format!("/api/v1/activities/{}", reply["activity_id"].as_str().unwrap()))
            .await
            .body;
        assert_eq!(activity["kind"], json!("email"));
        // The headers a plugin's after-save on activities reads to act on mail.
        assert_eq!(activity["direction"], json!("in"));
        assert_eq!(activity["email_from"], json!("ada@example.com"));
        assert_eq!(activity["email_to"], json!("support@acme.test"));
        assert_eq!(activity["message_id"], json!("m2@example.com"));
        assert_eq!(activity["thread_id"], json!("m1@example.com"));
        let links: Vec<&str> = activity["links"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        assert!(links.contains(&ada["id"].as_str().unwrap()), "on Ada's timeline: {activity}");

        // Polling again finds nothing new; new mail is picked up from the bookmark.
        poll_now(&app, &id).await;
        imap.append("support", "INBOX", &[message("m3@example.com", "bob@example.com", "Hello", "")]).await;
        poll_now(&app, &id).await;
        let row = polled(&app, &id, 4).await;
        assert_eq!(row["received"], json!(3), "{row}");
        assert_eq!(row["last_uid"], json!(5));
        assert_eq!(received(&app).await.len(), 3);

        // Read-only: the messages are still unread in the mailbox.
        let mut session = imap.login("support").await;
        session.select("INBOX").await.unwrap();
        let flags: Vec<String> = session
            .fetch("1:*", "FLAGS")
            .await
            .unwrap()
            .map_ok(|f| format!("{:?}", f.flags().collect::<Vec<_>>()))
            .try_collect()
            .await
            .unwrap();
        assert_eq!(flags.len(), 5);
        assert!(flags.iter().all(|f| !f.contains("Seen")), "{flags:?}");
        session.logout().await.ok();
    }

    async fn a_recreated_folder_starts_again_without_storing_anything_twice(app: TestApp) {
        let imap = Dovecot::start().await;
        allow_localhost(&app).await;
        let first = [
            message("a1@example.com", "ann@example.com", "One", ""),
            message("a2@example.com", "ann@example.com", "Two", ""),
        ];
        imap.append("ann", "Support", &first).await;
        let created = app.post("/api/v1/admin/mailboxes", &mailbox_body(imap.port, "ann", "Support")).await;
        let id = created.body["id"].as_str().unwrap().to_owned();
        let before = polled(&app, &id, 2).await;
        assert_eq!(before["received"], json!(2), "{before}");

        // Deleted and made again: a new UIDVALIDITY, and UIDs from 1 again.
        let mut session = imap.login("ann").await;
        session.delete("Support").await.unwrap();
        session.logout().await.ok();
        let mut again = first.to_vec();
        again.push(message("a3@example.com", "ann@example.com", "Three", ""));
        imap.append("ann", "Support", &again).await;
        poll_now(&app, &id).await;
        let after = eventually(30, || mailbox(&app, &id), |row| {
            row["uid_validity"] != before["uid_validity"] && row["last_uid"] == json!(3)
        })
        .await;
        assert_ne!(after["uid_validity"], before["uid_validity"], "{after}");
        assert_eq!(after["last_uid"], json!(3), "{after}");
        assert_eq!(after["received"], json!(3), "only the new message is new: {after}");
        assert_eq!(received(&app).await.len(), 3);
    }

    async fn mailbox_settings_are_checked_and_kept_to_admins_of_the_workspace(app: TestApp) {
        let imap = Dovecot::start().await;
        let good = mailbox_body(imap.port, "support", "INBOX");
        // A private host that no admin allowed.
        let refused = app.post("/api/v1/admin/mailboxes", &good).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.body);
        assert!(refused.body.to_string().contains("outbound-hosts"), "{}", refused.body);
        allow_localhost(&app).await;
        let with = |key: &str, value: Value| {
            let mut body = good.clone();
            body[key] = value;
            body
        };
        let mut no_password = good.clone();
        no_password.as_object_mut().unwrap().remove("password");
        for (bad, field) in [
            (with("port", json!(0)), "port"),
            (with("security", json!("ssl3")), "security"),
            (with("username", json!("")), "username"),
            (with("username", json!("a\r\nb")), "username"),
            (with("folder", json!("INBOX\r\nA1 DELETE INBOX")), "folder"),
            (with("poll_seconds", json!(1)), "poll_seconds"),
            (with("name", json!("")), "name"),
            (with("host", json!("http://127.0.0.1/")), "host"),
            (no_password, "password"),
        ] {
            let answer = app.post("/api/v1/admin/mailboxes", &bad).await;
            assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {}", answer.body);
            assert!(answer.body.to_string().contains(field), "{field}: {}", answer.body);
        }
        let unknown = app.post("/api/v1/admin/mailboxes", &with("pasword", json!("x"))).await;
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
        assert_eq!(unknown.code(), "invalid_body");
        assert_eq!(app.get("/api/v1/admin/mailboxes").await.body["data"], json!([]), "nothing stored");

        // A wrong password: the test says why, the poll keeps the reason, nothing breaks.
        let wrong = app.post("/api/v1/admin/mailboxes", &with("password", json!("wrong"))).await;
        assert_eq!(wrong.status, StatusCode::CREATED, "{}", wrong.body);
        let id = wrong.body["id"].as_str().unwrap().to_owned();
        let tested = app.post(&format!("/api/v1/admin/mailboxes/{id}/test"), &json!({})).await;
        assert_eq!(tested.status, StatusCode::OK);
        assert_eq!(tested.body["ok"], json!(false));
        assert!(tested.body["error"].as_str().unwrap().contains("login"), "{}", tested.body);
        let row = eventually(30, || mailbox(&app, &id), |row| !row["last_error"].is_null()).await;
        assert!(row["last_error"].as_str().unwrap_or_default().contains("login"), "{row}");
        // Fixed: the password is kept sealed, never shown.
        let fixed = app.put(&format!("/api/v1/admin/mailboxes/{id}"), &good).await;
        assert_eq!(fixed.status, StatusCode::OK, "{}", fixed.body);
        let tested = app.post(&format!("/api/v1/admin/mailboxes/{id}/test"), &json!({})).await;
        assert_eq!(tested.body["ok"], json!(true), "{}", tested.body);
        // Nothing listens there: a test result, not a server error.
        let closed = app.put(&format!("/api/v1/admin/mailboxes/{id}"), &with("port", json!(free_port()))).await;
        assert_eq!(closed.status, StatusCode::OK);
        let tested = app.post(&format!("/api/v1/admin/mailboxes/{id}/test"), &json!({})).await;
        assert_eq!(tested.body["ok"], json!(false), "{}", tested.body);

        // Members and other workspaces see nothing of it.
        let member = app.user("acme", "member@acme.test", "member").await;
        for (method, path) in [
            (reqwest::Method::GET, "/api/v1/admin/mailboxes".to_owned()),
            (reqwest::Method::GET, format!("/api/v1/admin/mailboxes/{id}")),
            (reqwest::Method::POST, format!("/api/v1/admin/mailboxes/{id}/poll")),
            (reqwest::Method::DELETE, format!("/api/v1/admin/mailboxes/{id}")),
        ] {
            let answer = app.request(method, &path, Some(&json!({})), Some(&member), &[]).await;
            assert_eq!(answer.status, StatusCode::FORBIDDEN, "{path}");
        }
        let other = app.user("globex", "admin@globex.test", "admin").await;
        for (method, path) in [
            (reqwest::Method::GET, format!("/api/v1/admin/mailboxes/{id}")),
            (reqwest::Method::PUT, format!("/api/v1/admin/mailboxes/{id}")),
            (reqwest::Method::POST, format!("/api/v1/admin/mailboxes/{id}/test")),
            (reqwest::Method::DELETE, format!("/api/v1/admin/mailboxes/{id}")),
        ] {
            let answer = app.request(method, &path, Some(&good), Some(&other), &[]).await;
            assert_eq!(answer.status, StatusCode::NOT_FOUND, "{path}: {}", answer.body);
        }
        let gone = app.delete(&format!("/api/v1/admin/mailboxes/{id}")).await;
        assert_eq!(gone.status, StatusCode::NO_CONTENT);
        assert_eq!(app.get(&format!("/api/v1/admin/mailboxes/{id}")).await.status, StatusCode::NOT_FOUND);
    }
}

/// A server process of its own, with the environment given (the TLS tests set the trusted
/// roots; replicas share the secret key).
pub(crate) struct Node {
    server: Server,
    pub(crate) token: String,
    http: reqwest::Client,
}

impl Node {
    pub(crate) async fn start(db: &str, dir: &Path, env: &[(&str, &str)]) -> Node {
        let dir_text = dir.to_string_lossy().into_owned();
        let token = admin_token(db, &dir_text);
        Node::start_with_token(db, dir, env, token).await
    }

    pub(crate) async fn start_with_token(
        db: &str,
        dir: &Path,
        env: &[(&str, &str)],
        token: String,
    ) -> Node {
        let dir_text = dir.to_string_lossy().into_owned();
        let server = start_env(db, &dir_text, &[], env, Stdio::null()).await;
        Node {
            server,
            token,
            http: reqwest::Client::new(),
        }
    }

    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.server.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn mailbox(&self, id: &str) -> Value {
        self.call(
            reqwest::Method::GET,
            &format!("/api/v1/admin/mailboxes/{id}"),
            None,
        )
        .await
        .1
    }
}

pub(crate) fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kith-{name}-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_checks_the_servers_certificate() {
    let imap = Dovecot::start().await;
    let dir = temp_dir("imap-tls");
    let db = format!("sqlite://{}/kith.db", dir.display());
    let trusted = imap.ca.to_string_lossy().into_owned();
    let node = Node::start(&db, &dir, &[("SSL_CERT_FILE", &trusted)]).await;
    node.call(
        reqwest::Method::PUT,
        "/api/v1/admin/outbound-hosts",
        Some(&json!({"hosts": ["localhost"]})),
    )
    .await;
    imap.append(
        "tls",
        "INBOX",
        &[message("t1@example.com", "ann@example.com", "Over TLS", "")],
    )
    .await;
    let mut body = mailbox_body(imap.tls_port, "tls", "INBOX");
    body["host"] = json!("localhost");
    body["security"] = json!("tls");
    let (status, created) = node
        .call(
            reqwest::Method::POST,
            "/api/v1/admin/mailboxes",
            Some(&body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let row = eventually(30, || node.mailbox(&id), |row| row["received"] == json!(1)).await;
    assert_eq!(
        row["received"],
        json!(1),
        "not received over TLS: {row}\n{}",
        imap.log()
    );
    assert_eq!(row["last_error"], Value::Null);
    let mut starttls = mailbox_body(imap.port, "tls", "INBOX");
    starttls["host"] = json!("localhost");
    starttls["security"] = json!("starttls");
    let (_, upgraded) = node
        .call(
            reqwest::Method::POST,
            "/api/v1/admin/mailboxes",
            Some(&starttls),
        )
        .await;
    let (_, tested) = node
        .call(
            reqwest::Method::POST,
            &format!(
                "/api/v1/admin/mailboxes/{}/test",
                upgraded["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(tested["ok"], json!(true), "STARTTLS: {tested}");
    drop(node);

    // The same server, not trusted (a stranger's certificate): refused before the login.
    let logins = || imap.log().matches("Login: user=<tls>").count();
    let before = logins();
    let node = Node::start_with_token(&db, &dir, &[], admin_token_again(&db, &dir)).await;
    let (_, tested) = node
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/admin/mailboxes/{id}/test"),
            None,
        )
        .await;
    assert_eq!(tested["ok"], json!(false), "{tested}");
    assert!(
        tested["error"].as_str().unwrap().contains("TLS"),
        "{tested}"
    );
    assert_eq!(
        logins(),
        before,
        "the password never reached the untrusted server"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A second token for the data directory's admin (the first went with the first server).
fn admin_token_again(db: &str, dir: &Path) -> String {
    let out = crate::cli::kith()
        .args(["--db", db, "--data-dir"])
        .arg(dir)
        .args(["token", "create", "--email", "a@b.test"])
        .output()
        .expect("kith runs");
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_owned()
}

/// Two replicas poll one mailbox of 600 messages; one is killed (kill -9) mid-poll and
/// started again: every message is stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_and_kill_9_store_every_message_exactly_once() {
    const MESSAGES: usize = 600;
    let imap = Dovecot::start().await;
    let dir = temp_dir("imap-replicas");
    let (one, two) = (dir.join("one"), dir.join("two"));
    std::fs::create_dir_all(&one).unwrap();
    std::fs::create_dir_all(&two).unwrap();
    let db = format!("sqlite://{}/kith.db", dir.display());
    let key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let env = [("KITH_SECRET_KEY", key)];
    let first = Node::start(&db, &one, &env).await;
    let second = Node::start_with_token(&db, &two, &env, first.token.clone()).await;
    first
        .call(
            reqwest::Method::PUT,
            "/api/v1/admin/outbound-hosts",
            Some(&json!({"hosts": ["127.0.0.1"]})),
        )
        .await;
    let messages: Vec<Vec<u8>> = (0..MESSAGES)
        .map(|i| {
            message(
                &format!("r{i}@example.com"),
                "ann@example.com",
                &format!("Message {i}"),
                "",
            )
        })
        .collect();
    imap.append("replicas", "INBOX", &messages).await;
    let mut body = mailbox_body(imap.port, "replicas", "INBOX");
    body["poll_seconds"] = json!(10);
    let (status, created) = first
        .call(
            reqwest::Method::POST,
            "/api/v1/admin/mailboxes",
            Some(&body),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    // Kill whichever holds it once some of it is stored.
    let deadline = Instant::now() + Duration::from_secs(60);
    while second.mailbox(&id).await["received"].as_i64().unwrap_or(0) == 0 {
        assert!(Instant::now() < deadline, "nothing received");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut first = first;
    first.server.child.kill().unwrap();
    first.server.child.wait().unwrap();
    let restarted = Node::start_with_token(&db, &one, &env, second.token.clone()).await;
    for node in [&second, &restarted] {
        node.call(
            reqwest::Method::POST,
            &format!("/api/v1/admin/mailboxes/{id}/poll"),
            None,
        )
        .await;
    }
    // A message stored by the killed process but not yet logged is logged by a live one once
    // its claim (30 s) runs out.
    let state = || async {
        let (_, receiving) = second
            .call(reqwest::Method::GET, "/api/v1/mail?status=receiving", None)
            .await;
        json!({ "mailbox": second.mailbox(&id).await, "receiving": receiving["data"] })
    };
    let done = eventually(120, state, |s| {
        s["mailbox"]["last_uid"] == json!(MESSAGES) && s["receiving"] == json!([])
    })
    .await;
    assert_eq!(
        done["mailbox"]["last_uid"],
        json!(MESSAGES),
        "not all polled: {done}"
    );
    assert_eq!(done["receiving"], json!([]), "not all logged: {done}");
    let (_, mail) = second
        .call(
            reqwest::Method::GET,
            "/api/v1/mail?direction=in&limit=500",
            None,
        )
        .await;
    assert_eq!(mail["data"].as_array().unwrap().len(), 500, "a full page");
    // Exactly once: count the rows and the email activities in the database.
    let conn = sea_orm::Database::connect(&db).await.unwrap();
    use sea_orm::{ConnectionTrait, Statement};
    let count = |sql: &str| {
        let conn = &conn;
        let sql = sql.to_owned();
        async move {
            let row = conn
                .query_one_raw(Statement::from_string(conn.get_database_backend(), sql))
                .await
                .unwrap()
                .unwrap();
            row.try_get_by_index::<i64>(0).unwrap()
        }
    };
    assert_eq!(
        count("SELECT COUNT(*) FROM mail_messages WHERE direction = 'in'").await,
        MESSAGES as i64
    );
    assert_eq!(
        count("SELECT COUNT(DISTINCT message_id) FROM mail_messages WHERE direction = 'in'").await,
        MESSAGES as i64
    );
    assert_eq!(
        count("SELECT COUNT(*) FROM mail_messages WHERE direction = 'in' AND activity_id IS NULL")
            .await,
        0,
        "every stored message is logged"
    );
    conn.close().await.ok();
    drop((second, restarted));
    std::fs::remove_dir_all(&dir).ok();
}
