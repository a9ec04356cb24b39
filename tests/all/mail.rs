//! Email against a real SMTP server: Debian's aiosmtpd (installed by `cargo xtask test`),
//! storing what it receives in a Maildir that the test reads back with mail-parser. Sending
//! queues, sends, records the server's answer and logs the email on the contact's timeline;
//! receiving parses charsets, threads replies, matches contacts and stores each Message-ID
//! once; settings keep the password sealed; bad input is refused and stores nothing.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::restart::free_port;
use crate::support::{TestApp, on_both};
use crate::web::{Session, user};

/// aiosmtpd on 127.0.0.1, delivering into a Maildir.
struct SmtpServer {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
        std::fs::remove_dir_all(&self.maildir).ok();
    }
}

impl SmtpServer {
    async fn start() -> SmtpServer {
        SmtpServer::start_on(free_port()).await
    }

    async fn start_on(port: u16) -> SmtpServer {
        SmtpServer::spawn(port, &[]).await
    }

    /// One that requires STARTTLS, with this certificate.
    async fn start_tls(cert: &Path, key: &Path) -> SmtpServer {
        let tls = [
            "--tlscert".as_ref(),
            cert.as_os_str(),
            "--tlskey".as_ref(),
            key.as_os_str(),
        ];
        SmtpServer::spawn(free_port(), &tls).await
    }

    async fn spawn(port: u16, extra: &[&std::ffi::OsStr]) -> SmtpServer {
        let maildir =
            std::env::temp_dir().join(format!("kith-maildir-{}", Uuid::now_v7().simple()));
        let child = Command::new("/usr/bin/python3")
            .args(["-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .args(["-l", &format!("127.0.0.1:{port}")])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd runs (cargo xtask test installs python3-aiosmtpd)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "aiosmtpd did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        SmtpServer {
            child,
            port,
            maildir,
        }
    }

    /// The raw messages in the Maildir once there are `n` (waiting up to 30 s).
    async fn messages(&self, n: usize) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = read_maildir(&self.maildir.join("new"));
            if found.len() >= n || Instant::now() > deadline {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn read_maildir(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    files.sort();
    files.iter().filter_map(|f| std::fs::read(f).ok()).collect()
}

async fn set_up(app: &TestApp, port: u16) {
    let allowed = app
        .put(
            "/api/v1/admin/outbound-hosts",
            &json!({"hosts": ["127.0.0.1"]}),
        )
        .await;
    assert_eq!(allowed.status, StatusCode::OK);
    let saved = app
        .put(
            "/api/v1/admin/mail",
            &json!({
                "host": "127.0.0.1", "port": port, "security": "none",
                "username": "", "password": "s3cret-smtp",
                "from_address": "sales@acme.test", "from_name": "Acme Sales",
            }),
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
}

/// The mail row's status once it is no longer queued (waiting up to 30 s).
async fn settled(app: &TestApp, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let row = app.get(&format!("/api/v1/mail/{id}")).await.body;
        if row["status"] != json!("queued") || Instant::now() > deadline {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn raw_mail(headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut raw = Vec::new();
    for (name, value) in headers {
        raw.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    raw.extend_from_slice(b"\r\n");
    raw.extend_from_slice(body);
    raw
}

async fn post_raw(
    app: &TestApp,
    raw: Vec<u8>,
    content_type: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let reply = app
        .client
        .post(format!("{}/api/v1/mail/inbound", app.base))
        .bearer_auth(token.unwrap_or(&app.token))
        .header("content-type", content_type)
        .body(raw)
        .send()
        .await
        .expect("request");
    let status = reply.status();
    (status, reply.json().await.unwrap_or(Value::Null))
}

on_both! {
    async fn mail_goes_out_through_a_real_smtp_server_and_onto_the_timeline(app: TestApp) {
        let smtp = SmtpServer::start().await;
        set_up(&app, smtp.port).await;
        // The password is sealed: not in the answer, not in the database as written.
        let shown = app.get("/api/v1/admin/mail").await;
        assert_eq!(shown.body["password_set"], json!(true));
        assert!(!shown.body.to_string().contains("s3cret-smtp"));
        let stored = app
            .state
            .db
            .read
            .query_all_raw(Statement::from_string(
                app.state.db.backend,
                "SELECT password_sealed FROM mail_settings".to_owned(),
            ))
            .await
            .expect("read settings");
        let sealed: String = stored[0].try_get("", "password_sealed").expect("sealed");
        assert!(sealed.starts_with("v1:") && !sealed.contains("s3cret"));

        let company = app.create("companies", json!({"name": "Analytical Engines"})).await;
        let ada = app
            .create("contacts", json!({"first_name": "Ada", "email": "ada@example.com", "company": company["id"]}))
            .await;
        let sent = app
            .post("/api/v1/mail", &json!({"to": ["Ada@Example.com"], "subject": "Renewal 续约", "body": "Hello Ada,\nthe renewal is ready."}))
            .await;
        assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.body);
        let id = sent.body["id"].as_str().expect("id").to_owned();
        let row = settled(&app, &id).await;
        assert_eq!(row["status"], json!("sent"), "{row}");
        assert!(row["server_reply"].as_str().expect("reply").starts_with("250"), "{row}");

        // What the server received, read by an independent parser.
        let got = smtp.messages(1).await;
        assert_eq!(got.len(), 1);
        let parsed = mail_parser::MessageParser::default().parse(&got[0]).expect("a message");
        assert_eq!(parsed.subject(), Some("Renewal 续约"));
        assert_eq!(parsed.message_id(), sent.body["message_id"].as_str());
        let from = parsed.from().and_then(|a| a.first()).expect("from");
        assert_eq!(from.address(), Some("sales@acme.test"));
        assert_eq!(from.name(), Some("Acme Sales"));
        assert_eq!(parsed.to().and_then(|a| a.first()).and_then(|a| a.address()), Some("ada@example.com"));
        assert!(parsed.body_text(0).expect("text").contains("the renewal is ready"));

        // On Ada's and her company's timeline.
        let activity = app.get(&format!("/api/v1/activities/{}", sent.body["activity_id"].as_str().expect("activity"))).await;
        assert_eq!(activity.body["kind"], json!("email"), "{}", activity.body);
        assert_eq!(activity.body["subject"], json!("Renewal 续约"));
        let links = activity.body["links"].as_array().expect("links");
        assert!(links.contains(&ada["id"]) && links.contains(&company["id"]), "{links:?}");

        // A reply threads: In-Reply-To and References name the first message.
        let reply = app
            .post("/api/v1/mail", &json!({"to": ["ada@example.com"], "subject": "Re: Renewal", "body": "One more thing", "reply_to": id}))
            .await;
        assert_eq!(reply.status, StatusCode::ACCEPTED, "{}", reply.body);
        assert_eq!(reply.body["thread_id"], sent.body["message_id"]);
        let got = smtp.messages(2).await;
        let second = got
            .iter()
            .map(|raw| mail_parser::MessageParser::default().parse(raw).expect("a message").subject().map(str::to_owned))
            .collect::<Vec<_>>();
        assert!(second.contains(&Some("Re: Renewal".to_owned())), "{second:?}");
        let reply_raw = got
            .iter()
            .find(|raw| String::from_utf8_lossy(raw).contains("Re: Renewal"))
            .expect("the reply");
        let reply_parsed = mail_parser::MessageParser::default().parse(reply_raw).expect("a message");
        assert_eq!(reply_parsed.in_reply_to().as_text(), sent.body["message_id"].as_str());

        // The log, for admins.
        let log = app.get("/api/v1/mail?direction=out").await;
        assert_eq!(log.body["data"].as_array().expect("rows").len(), 2);
    }

    async fn mail_comes_in_threaded_matched_and_stored_once(app: TestApp) {
        let bob = app.create("contacts", json!({"first_name": "Bob", "email": "bob@example.com"})).await;
        // A subject and body in GBK, as many Chinese mail clients send.
        let raw = raw_mail(
            &[
                ("From", "Bob <Bob@Example.com>"),
                ("To", "sales@acme.test"),
                ("Subject", "=?GBK?B?0PjUvLzbuPE=?="),
                ("Message-ID", "<first@example.com>"),
                ("MIME-Version", "1.0"),
                ("Content-Type", "text/plain; charset=GBK"),
                ("Content-Transfer-Encoding", "base64"),
            ],
            b"v827p7bU0PjUvLzbuPHT0NLJzso=\r\n",
        );
        let (status, first) = post_raw(&app, raw.clone(), "message/rfc822", None).await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        assert_eq!(first["subject"], json!("续约价格"));
        assert_eq!(first["contacts"], json!([bob["id"]]));
        assert_eq!(first["thread_id"], json!("first@example.com"));
        let activity = app.get(&format!("/api/v1/activities/{}", first["activity_id"].as_str().expect("activity"))).await;
        assert_eq!(activity.body["body"], json!("客户对续约价格有疑问"), "{}", activity.body);
        assert_eq!(activity.body["links"], json!([bob["id"]]));

        // Posted again (a provider's retry): the same result, nothing new stored.
        let (status, again) = post_raw(&app, raw, "message/rfc822", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(again["duplicate"], json!(true));
        assert_eq!(again["id"], first["id"]);

        // A reply names the first message: the same thread. Its subject tries to add a header.
        let reply = raw_mail(
            &[
                ("From", "bob@example.com"),
                ("To", "sales@acme.test"),
                ("Subject", "=?UTF-8?B?UmU6IHByaWNlDQpCY2M6IGV2ZXJ5b25lQGV4YW1wbGUuY29t?="),
                ("Message-ID", "<second@example.com>"),
                ("In-Reply-To", "<first@example.com>"),
                ("References", "<first@example.com>"),
            ],
            b"<script>alert(1)</script> thanks",
        );
        let (status, second) = post_raw(&app, reply, "message/rfc822", None).await;
        assert_eq!(status, StatusCode::CREATED, "{second}");
        assert_eq!(second["thread_id"], json!("first@example.com"));
        let subject = second["subject"].as_str().expect("subject");
        assert!(!subject.contains('\r') && !subject.contains('\n'), "{subject:?}");
        let activities = app.get("/api/v1/activities?filter=kind[eq]:email").await;
        assert_eq!(activities.body["data"].as_array().expect("rows").len(), 2);

        // An attachment is listed; a message in an unknown charset is still stored.
        let with_file = raw_mail(
            &[
                ("From", "carol@example.org"),
                ("Subject", "Contract"),
                ("Message-ID", "<third@example.org>"),
                ("MIME-Version", "1.0"),
                ("Content-Type", "multipart/mixed; boundary=XX"),
            ],
            b"--XX\r\nContent-Type: text/plain; charset=x-unknown-9\r\n\r\nsee attached\r\n--XX\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=contract.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--XX--\r\n",
        );
        let (status, third) = post_raw(&app, with_file, "message/rfc822", None).await;
        assert_eq!(status, StatusCode::CREATED, "{third}");
        assert_eq!(third["contacts"], json!([]));
        assert_eq!(third["attachments"][0]["name"], json!("contract.pdf"));
        assert_eq!(third["attachments"][0]["type"], json!("application/pdf"));
        assert_eq!(third["attachments"][0]["kept"], json!(true));
        let id = third["id"].as_str().unwrap();
        let file = app.client.get(format!("{}/api/v1/mail/{id}/attachments/0", app.base)).bearer_auth(&app.token).send().await.unwrap();
        assert_eq!(file.status(), StatusCode::OK);
        let headers = file.headers().clone();
        assert_eq!(headers["content-type"], "application/pdf");
        assert!(headers["content-disposition"].to_str().unwrap().starts_with("attachment; filename=\"contract.pdf\""));
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(file.bytes().await.unwrap().as_ref(), b"%PDF-1.4\n");
        for missing in [format!("/api/v1/mail/{id}/attachments/1"), format!("/api/v1/mail/{id}/attachments/x"), format!("/api/v1/mail/{}/attachments/0", Uuid::now_v7())] {
            assert_eq!(app.get(&missing).await.status, StatusCode::NOT_FOUND, "{missing}");
        }
        // An HTML attachment is someone else's script: a download, sandboxed, never a page.
        let html = raw_mail(
            &[("From", "eve@example.org"), ("Subject", "Invoice"), ("Message-ID", "<html@example.org>"), ("MIME-Version", "1.0"), ("Content-Type", "multipart/mixed; boundary=XX")],
            b"--XX\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--XX\r\nContent-Type: text/html\r\nContent-Disposition: attachment; filename=\"in\\\"voice.html\"\r\n\r\n<script>fetch('/api/v1/tokens')</script>\r\n--XX--\r\n",
        );
        let (status, stored) = post_raw(&app, html, "message/rfc822", None).await;
        assert_eq!(status, StatusCode::CREATED, "{stored}");
        let file = app.client.get(format!("{}/api/v1/mail/{}/attachments/0", app.base, stored["id"].as_str().unwrap())).bearer_auth(&app.token).send().await.unwrap();
        let disposition = file.headers()["content-disposition"].to_str().unwrap().to_owned();
        assert!(disposition.starts_with("attachment;") && disposition.matches('"').count() == 2, "{disposition}");
        assert!(file.headers()["content-security-policy"].to_str().unwrap().contains("sandbox"));

        // Posted by several at once (a provider retrying while the first post runs): stored once.
        let racing = raw_mail(&[("From", "dan@example.com"), ("Subject", "Race"), ("Message-ID", "<race@example.com>")], b"once");
        let posts = (0..6).map(|_| post_raw(&app, racing.clone(), "message/rfc822", None));
        let answers = futures_util::future::join_all(posts).await;
        let created = answers.iter().filter(|(status, _)| *status == StatusCode::CREATED).count();
        assert_eq!(created, 1, "{answers:?}");
        assert!(answers.iter().all(|(status, body)| *status == StatusCode::CREATED || body["duplicate"] == json!(true)));

        // Refused: not a message, the wrong media type, a member, nothing stored by any.
        let member = app.user("acme", "rep@acme.test", "member").await;
        for (raw, content_type, token, expected) in [
            (b"".to_vec(), "message/rfc822", None, StatusCode::UNPROCESSABLE_ENTITY),
            (b"\x00\x01\x02".to_vec(), "message/rfc822", None, StatusCode::UNPROCESSABLE_ENTITY),
            (b"Subject: hi\r\n\r\nbody".to_vec(), "application/json", None, StatusCode::UNSUPPORTED_MEDIA_TYPE),
            (b"Subject: hi\r\n\r\nbody".to_vec(), "message/rfc822", Some(member.as_str()), StatusCode::FORBIDDEN),
        ] {
            let (status, body) = post_raw(&app, raw, content_type, token).await;
            assert_eq!(status, expected, "{body}");
        }
        // Near the 25 MiB limit: stored, the timeline keeps the first 100,000 characters; over
        // it: 413 and nothing stored.
        let big = raw_mail(&[("From", "big@example.com"), ("Subject", "Big"), ("Message-ID", "<big@example.com>")], &b"x".repeat(24 * 1024 * 1024));
        let (status, stored) = post_raw(&app, big, "message/rfc822", None).await;
        assert_eq!(status, StatusCode::CREATED, "{stored}");
        let activity = app.get(&format!("/api/v1/activities/{}", stored["activity_id"].as_str().unwrap())).await.body;
        assert_eq!(activity["body"].as_str().unwrap().chars().count(), 100_000);
        // (over a raw connection: the server answers before reading it all)
        let huge = app.oversized("POST", "/api/v1/mail/inbound", 26 * 1024 * 1024).await;
        assert_eq!(huge.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", huge.body);
        let log = app.get("/api/v1/mail?direction=in").await;
        assert_eq!(log.body["data"].as_array().expect("rows").len(), 6, "the three, the HTML one, the raced one and the big one");
    }

    async fn bad_mail_settings_and_sends_are_refused_and_store_nothing(app: TestApp) {
        let not_set_up = app.post("/api/v1/mail", &json!({"to": ["a@example.com"], "subject": "x", "body": "y"})).await;
        assert_eq!(not_set_up.status, StatusCode::CONFLICT);
        assert_eq!(app.get("/api/v1/admin/mail").await.status, StatusCode::CONFLICT);
        let good = json!({"host": "127.0.0.1", "port": 2525, "security": "none", "from_address": "sales@acme.test"});
        let with = |key: &str, value: Value| {
            let mut body = good.clone();
            body[key] = value;
            body
        };
        for (body, status, field) in [
            (with("port", json!(0)), 422, Some("port")),
            (with("port", json!(70000)), 400, None),
            (with("security", json!("ssl")), 422, Some("security")),
            (with("from_address", json!("nobody")), 422, Some("from_address")),
            (with("from_name", json!("Acme\r\nBcc: x@y.z")), 422, Some("from_name")),
            (with("host", json!("smtp://mail.example.com")), 422, Some("host")),
            (good.clone(), 422, Some("host")), // 127.0.0.1 is private and not yet allowed
            (with("extra", json!(1)), 400, None),
        ] {
            let reply = app.put("/api/v1/admin/mail", &body).await;
            assert_eq!(reply.status.as_u16(), status, "{body}: {}", reply.body);
            if let Some(field) = field {
                assert_eq!(reply.body["error"]["details"][0]["field"], json!(field), "{}", reply.body);
            }
        }
        assert_eq!(app.get("/api/v1/admin/mail").await.status, StatusCode::CONFLICT);

        // Nothing listens on the port: the test says so, as an answer.
        let port = free_port();
        app.put("/api/v1/admin/outbound-hosts", &json!({"hosts": ["127.0.0.1"]})).await;
        let saved = app.put("/api/v1/admin/mail", &with("port", json!(port))).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        assert_eq!(saved.body["password_set"], json!(false));
        let test = app.post("/api/v1/admin/mail/test", &json!({})).await;
        assert_eq!(test.status, StatusCode::OK);
        assert_eq!(test.body["ok"], json!(false), "{}", test.body);
        assert!(test.body["error"].as_str().is_some_and(|e| !e.is_empty()));

        for (body, field) in [
            (json!({"to": [], "subject": "x", "body": "y"}), "to"),
            (json!({"to": ["a@example.com\r\nBcc: all@example.com"], "subject": "x", "body": "y"}), "to"),
            (json!({"to": ["a@example.com"], "subject": "x\r\nBcc: all@example.com", "body": "y"}), "subject"),
            (json!({"to": ["a@example.com"], "cc": ["nope"], "subject": "x", "body": "y"}), "cc"),
            (json!({"to": ["a@example.com"], "subject": "x", "body": "y", "links": ["nope"]}), "links"),
            (json!({"to": ["a@example.com"], "subject": "x", "body": "y", "reply_to": Uuid::now_v7().to_string()}), "reply_to"),
        ] {
            let reply = app.post("/api/v1/mail", &body).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {}", reply.body);
            assert_eq!(reply.body["error"]["details"][0]["field"], json!(field), "{}", reply.body);
        }
        assert_eq!(app.get("/api/v1/mail").await.body["data"], json!([]));

        // A send to a server that is down stays queued with the reason and a later try.
        let queued = app.post("/api/v1/mail", &json!({"to": ["a@example.com"], "subject": "x", "body": "y"})).await;
        assert_eq!(queued.status, StatusCode::ACCEPTED, "{}", queued.body);
        let id = queued.body["id"].as_str().expect("id").to_owned();
        let deadline = Instant::now() + Duration::from_secs(30);
        let row = loop {
            let row = app.get(&format!("/api/v1/mail/{id}")).await.body;
            if row["attempts"] != json!(0) || Instant::now() > deadline {
                break row;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(row["status"], json!("queued"), "{row}");
        assert_eq!(row["attempts"], json!(1), "{row}");
        assert!(row["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{row}");
        assert!(row["next_at"].as_str().is_some(), "{row}");

        // Another workspace sees none of it; a member sees only their own.
        let other = app.user("globex", "admin@globex.test", "admin").await;
        for (method, path) in [
            (Method::GET, format!("/api/v1/mail/{id}")),
            (Method::POST, format!("/api/v1/mail/{id}/retry")),
        ] {
            let reply = app.request(method, &path, Some(&json!({})), Some(&other), &[]).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        }
        let theirs = app.request(Method::GET, "/api/v1/mail", None, Some(&other), &[]).await;
        assert_eq!(theirs.body["data"], json!([]));
        let member = app.user("acme", "rep@acme.test", "member").await;
        let reply = app.request(Method::GET, &format!("/api/v1/mail/{id}"), None, Some(&member), &[]).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        let reply = app.request(Method::PUT, "/api/v1/admin/mail", Some(&good), Some(&member), &[]).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
    }

    async fn a_contact_page_sends_an_email_onto_its_timeline(app: TestApp) {
        let smtp = SmtpServer::start().await;
        user(&app, "rep@acme.test", "member").await;
        let rep = Session::login(&app, "rep@acme.test").await;
        let ada = app.create("contacts", json!({"first_name": "Ada", "email": "ada@example.com"})).await;
        let page_url = format!("/records/contacts/{}", ada["id"].as_str().expect("id"));
        // No form until mail is set up.
        let page = rep.get(&page_url).await;
        assert!(!page.html.contains("Send an email"), "offered before mail is set up");
        set_up(&app, smtp.port).await;
        let page = rep.get(&page_url).await;
        assert!(page.html.contains("Send an email"));
        assert!(page.html.contains("value=\"ada@example.com\""));

        let email_url = format!("{page_url}/email");
        // A forged post (no CSRF token) sends nothing.
        let forged = rep.post_raw(&email_url, &[("to", "ada@example.com"), ("subject", "Forged"), ("body", "x")]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        // Header injection through the form is refused with the reason on the page.
        let injected = rep.post(&email_url, &[("to", "ada@example.com"), ("subject", "Hi\r\nBcc: all@example.com"), ("body", "x")]).await;
        assert_eq!(injected.status, StatusCode::SEE_OTHER);
        let notice = injected.flash();
        assert!(notice.starts_with("kith_flash=error") && notice.contains(&host::web::encode("line breaks")), "{notice}");

        let sent = rep
            .post(&email_url, &[("to", "ada@example.com"), ("subject", "<b>Proposal</b>"), ("body", "Dear Ada, here it is.")])
            .await;
        assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.html);
        let got = smtp.messages(1).await;
        assert_eq!(got.len(), 1);
        let parsed = mail_parser::MessageParser::default().parse(&got[0]).expect("a message");
        assert_eq!(parsed.subject(), Some("<b>Proposal</b>"));
        // On the timeline, escaped, under Emails.
        let timeline = rep.get(&format!("{page_url}?kind=email")).await;
        assert!(timeline.html.contains("&lt;b&gt;Proposal&lt;&#x2f;b&gt;"), "{}", timeline.html);
        assert!(!timeline.html.contains("<b>Proposal</b>"));
        // Another workspace's record id answers not found and sends nothing.
        let other = app.user("globex", "admin@globex.test", "admin").await;
        let theirs = app
            .request(Method::POST, "/api/v1/contacts", Some(&json!({"last_name": "Globex", "email": "g@example.com"})), Some(&other), &[])
            .await;
        let foreign = rep
            .post(&format!("/records/contacts/{}/email", theirs.body["id"].as_str().expect("id")), &[("to", "g@example.com"), ("subject", "x"), ("body", "y")])
            .await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND);
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert_eq!(smtp.messages(1).await.len(), 1);
    }
}

on_both! {
    async fn a_plugin_sends_mail_only_as_granted_and_within_its_hourly_number(app: TestApp) {
        let smtp = SmtpServer::start().await;
        set_up(&app, smtp.port).await;
        crate::plugins::install(&app, "good").await;
        // It asks for 3 emails an hour: a grant without them is refused.
        let mut grant = serde_json::to_value(
            app.state.plugins.requested_permissions("good", None).await.unwrap(),
        )
        .unwrap();
        assert_eq!(grant["mail"], json!(3));
        grant["mail"] = json!(0);
        let stingy = app.post("/api/v1/plugins/good/enable", &json!({ "grant": grant })).await;
        assert_eq!(stingy.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", stingy.body);
        assert!(stingy.body.to_string().contains("mail: 3 an hour"), "{}", stingy.body);
        let enabled = crate::plugins::enable(&app, "good", json!({})).await;
        assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
        let ada = app
            .create("contacts", json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"}))
            .await;
        let send = |subject: &str| {
            let input = json!({ "to": "ada@example.com", "subject": subject, "body": "We are on it." });
            let app = &app;
            async move { app.post("/api/v1/plugins/good/actions/mail", &input).await }
        };
        // A header injected through the subject is refused, and not counted.
        let injected = send("Ticket\r\nBcc: everyone@example.com").await;
        assert_eq!(injected.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", injected.body);
        assert!(injected.body.to_string().contains("subject"), "{}", injected.body);

        let first = send("Your ticket #1").await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        let queued = &first.body["data"];
        let id = queued["id"].as_str().unwrap_or_else(|| panic!("{}", first.body)).to_owned();
        let row = settled(&app, &id).await;
        assert_eq!(row["status"], json!("sent"), "{row}");
        assert_eq!(row["sent_by_plugin"], json!("good"));
        let delivered = smtp.messages(1).await;
        let parsed = mail_parser::MessageParser::default().parse(&delivered[0]).unwrap();
        assert_eq!(parsed.subject(), Some("Your ticket #1"));
        assert_eq!(parsed.from().unwrap().first().unwrap().address(), Some("sales@acme.test"));
        let activity = app
            .get(&format!("/api/v1/activities/{}", queued["activity_id"].as_str().unwrap()))
            .await
            .body;
        assert_eq!(activity["kind"], json!("email"));
        assert_eq!(activity["direction"], json!("out"));
        assert_eq!(activity["email_to"], json!("ada@example.com"));
        assert_eq!(activity["message_id"], queued["message_id"]);
        assert!(activity["links"].as_array().unwrap().contains(&ada["id"]), "{activity}");

        assert_eq!(send("Your ticket #2").await.status, StatusCode::OK);
        assert_eq!(send("Your ticket #3").await.status, StatusCode::OK);
        let fourth = send("Your ticket #4").await;
        assert_eq!(fourth.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", fourth.body);
        assert!(fourth.body.to_string().contains("rate_limited"), "{}", fourth.body);
        let sent: Vec<Value> = app.get("/api/v1/mail?direction=out").await.body["data"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(sent.len(), 3, "nothing past the grant was queued");
    }
}

/// STARTTLS to an SMTP server whose certificate the server trusts (a CA given by
/// `SSL_CERT_FILE`) sends; the same server untrusted is refused before anything is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_checks_the_smtp_servers_certificate() {
    use crate::mailboxes::{Node, temp_dir, test_certificate};
    let dir = temp_dir("smtp-tls");
    let (ca, cert, key) = test_certificate(&dir);
    let smtp = SmtpServer::start_tls(&cert, &key).await;
    let db = format!("sqlite://{}/kith.db", dir.display());
    let trusted = ca.to_string_lossy().into_owned();
    let node = Node::start(&db, &dir, &[("SSL_CERT_FILE", &trusted)]).await;
    let (status, _) = node
        .call(
            Method::PUT,
            "/api/v1/admin/outbound-hosts",
            Some(&json!({"hosts": ["localhost"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let settings = json!({
        "host": "localhost", "port": smtp.port, "security": "starttls",
        "from_address": "sales@acme.test",
    });
    let (status, saved) = node
        .call(Method::PUT, "/api/v1/admin/mail", Some(&settings))
        .await;
    assert_eq!(status, StatusCode::OK, "{saved}");
    let (_, tested) = node
        .call(Method::POST, "/api/v1/admin/mail/test", None)
        .await;
    assert_eq!(tested["ok"], json!(true), "{tested}");
    let (status, queued) = node
        .call(
            Method::POST,
            "/api/v1/mail",
            Some(&json!({"to": ["ada@example.com"], "subject": "Over TLS", "body": "Hello"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let delivered = smtp.messages(1).await;
    assert_eq!(delivered.len(), 1, "sent over STARTTLS");
    let token = node.token.clone();
    drop(node);

    // Not trusted (no CA given): the test says why, and a send is not made in the clear.
    let node = Node::start_with_token(&db, &dir, &[], token).await;
    let (_, tested) = node
        .call(Method::POST, "/api/v1/admin/mail/test", None)
        .await;
    assert_eq!(tested["ok"], json!(false), "{tested}");
    assert!(
        !tested["error"].as_str().unwrap_or_default().is_empty(),
        "{tested}"
    );
    let (status, _) = node
        .call(
            Method::POST,
            "/api/v1/mail",
            Some(&json!({"to": ["bob@example.com"], "subject": "Untrusted", "body": "Hello"})),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        read_maildir(&smtp.maildir.join("new")).len(),
        1,
        "nothing more arrived"
    );
    drop(node);
    std::fs::remove_dir_all(&dir).ok();
}
