//! The integrations' settings pages — Email, Mailboxes, Webhooks — as an admin's browser reads
//! them: the stored settings, the mail log, each mailbox's last poll and error, each webhook's
//! delivery log; refused to members, hostile values escaped, passwords and signing secrets never
//! on a page, and another workspace's data nowhere. (The forms post to the JSON API, whose
//! checks `mail.rs`, `mailboxes.rs` and `webhooks.rs` test; the browser test at the end drives
//! the forms' script.)

use reqwest::{Method, StatusCode};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, on_both};
use crate::web::{Session, user};

const HOSTILE: &str = "<script>window.pwned=1</script>";

/// Fails when a page carries markup from stored values instead of escaped text.
fn assert_inert(path: &str, html: &str) {
    for needle in ["<script>window.pwned", "<script>alert", "<b>bold"] {
        assert!(!html.contains(needle), "{path} carries {needle} unescaped");
    }
}

async fn workspace_id(app: &TestApp, slug: &str) -> Uuid {
    use host::auth::model::workspace;
    workspace::Entity::find()
        .filter(workspace::Column::Slug.eq(slug))
        .one(&app.state.db.read)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no workspace {slug}"))
        .id
}

async fn allow(app: &TestApp, token: &str, hosts: &[&str]) {
    let reply = app
        .request(
            Method::PUT,
            "/api/v1/admin/outbound-hosts",
            Some(&json!({ "hosts": hosts })),
            Some(token),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

async fn receive(app: &TestApp, token: &str, subject: &str, message_id: &str) {
    let raw = format!(
        "From: Ada <ada@example.com>\r\nTo: crm@acme.test\r\nSubject: {subject}\r\n\
         Message-ID: <{message_id}>\r\nDate: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\nHello.\r\n"
    );
    let reply = app
        .client
        .post(format!("{}/api/v1/mail/inbound", app.base))
        .bearer_auth(token)
        .header("content-type", "message/rfc822")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::CREATED);
}

/// A sent message that failed for good, stored as the sender leaves one (no sender touches a
/// failed row, so nothing races the test).
async fn failed_message(app: &TestApp, workspace: Uuid, subject: &str) -> Uuid {
    use host::mail::model::message;
    let id = Uuid::now_v7();
    let now = host::records::now_micros();
    message::Entity::insert(message::ActiveModel {
        id: Set(id),
        workspace_id: Set(workspace),
        direction: Set("out".into()),
        activity_id: Set(None),
        message_id: Set(format!("<{id}@acme.test>")),
        in_reply_to: Set(None),
        thread_id: Set(format!("<{id}@acme.test>")),
        from_address: Set("crm@acme.test".into()),
        to_addresses: Set(json!(["ada@example.com"])),
        cc_addresses: Set(json!([])),
        subject: Set(subject.into()),
        body_text: Set("The quote.".into()),
        attachments: Set(json!([])),
        status: Set("failed".into()),
        attempts: Set(8),
        next_at: Set(now),
        lease_until: Set(0),
        last_error: Set(Some("the server refused the recipient".into())),
        server_reply: Set(Some("550 5.1.1 <b>bold</b> user unknown".into())),
        sent_by_plugin: Set(None),
        created_by: Set(None),
        created_at: Set(now),
        sent_at: Set(None),
    })
    .exec_without_returning(&app.state.db.write)
    .await
    .unwrap();
    id
}

async fn save_smtp(app: &TestApp, token: &str, body: &Value) {
    let reply = app
        .request(
            Method::PUT,
            "/api/v1/admin/mail",
            Some(body),
            Some(token),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

async fn add_mailbox(app: &TestApp, token: &str, body: &Value) -> String {
    let reply = app
        .request(
            Method::POST,
            "/api/v1/admin/mailboxes",
            Some(body),
            Some(token),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_owned()
}

async fn subscribe(app: &TestApp, token: &str, body: &Value) -> (String, String) {
    let reply = app
        .request(
            Method::POST,
            "/api/v1/webhooks",
            Some(body),
            Some(token),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    (
        reply.body["id"].as_str().unwrap().to_owned(),
        reply.body["secret"].as_str().unwrap().to_owned(),
    )
}

on_both! {
    async fn the_settings_navigation_offers_the_integration_pages_to_admins_only(app: TestApp) {
        user(&app, "sam@acme.test", "admin").await;
        user(&app, "kim@acme.test", "member").await;
        let sam = Session::login(&app, "sam@acme.test").await;
        let kim = Session::login(&app, "kim@acme.test").await;
        let users = sam.get("/settings/users").await.text();
        for link in ["href=\"/settings/mail\"", "href=\"/settings/mailboxes\"", "href=\"/settings/webhooks\""] {
            assert!(users.contains(link), "the admin's settings navigation has {link}");
        }
        for section in ["mail", "mailboxes", "webhooks"] {
            let page = sam.get(&format!("/settings/{section}")).await;
            assert_eq!(page.status, StatusCode::OK, "{section}: {}", page.html);
            let current = format!("href=\"/settings/{section}\" aria-current=\"page\"");
            assert!(page.text().contains(&current), "{section} is the current section");
            assert_eq!(page.text().matches("aria-current=\"page\"").count(), 2, "Settings and {section} only");
        }
        let tokens = kim.get("/settings/tokens").await.text();
        assert!(!tokens.contains("/settings/mail") && !tokens.contains("/settings/webhooks"), "a member's has none");
        for path in ["/settings/mail", "/settings/mailboxes", "/settings/webhooks", &format!("/settings/webhooks/{}", Uuid::now_v7())] {
            let refused = kim.get(path).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
            assert_eq!(refused.status, kim.get("/settings/users").await.status, "the answer of every admin page");
            assert!(refused.html.contains("</html>"), "a page saying why: {}", refused.html);
        }
        let anonymous = Session::anonymous(&app).get("/settings/mail").await;
        assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
        assert!(anonymous.location.unwrap().starts_with("/login"));
    }

    async fn the_email_page_shows_the_smtp_settings_and_the_mail_log_but_never_the_password(app: TestApp) {
        user(&app, "sam@acme.test", "admin").await;
        let sam = Session::login(&app, "sam@acme.test").await;
        let empty = sam.get("/settings/mail").await;
        assert_eq!(empty.status, StatusCode::OK, "{}", empty.html);
        assert!(empty.html.contains("Mail is not set up yet"), "{}", empty.html);
        assert!(empty.html.contains("No mail has been sent or received yet"));

        allow(&app, &app.token, &["smtp.acme.test"]).await;
        save_smtp(&app, &app.token, &json!({
            "host": "smtp.acme.test", "port": 2525, "security": "starttls", "username": "crm-login",
            "password": "hunter2-smtp-password", "from_address": "crm@acme.test", "from_name": HOSTILE,
        })).await;
        let acme = workspace_id(&app, "acme").await;
        receive(&app, &app.token, "<script>alert(1)</script> about the quote", "inbound-1@example.com").await;
        let failed = failed_message(&app, acme, "Your quote <b>bold</b>").await;

        // Another workspace's settings and mail stay there.
        let other = app.user("other", "admin@other.test", "admin").await;
        allow(&app, &other, &["smtp.other.test"]).await;
        save_smtp(&app, &other, &json!({
            "host": "smtp.other.test", "port": 25, "security": "none",
            "from_address": "crm@other.test",
        })).await;
        receive(&app, &other, "Other workspace's private subject", "inbound-2@example.com").await;

        let page = sam.get("/settings/mail").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        let html = page.text();
        assert!(html.contains("value=\"smtp.acme.test\""), "the saved server: {html}");
        assert!(html.contains("value=\"2525\""));
        assert!(html.contains("<option value=\"starttls\" selected>"));
        assert!(html.contains("value=\"crm-login\""));
        assert!(html.contains("value=\"crm@acme.test\""));
        assert!(html.contains("A password is stored; it is never shown."));
        assert!(html.contains("Remove the stored password"));
        assert!(html.contains("data-api=\"/api/v1/admin/mail/test\""), "the connection test");
        assert!(!html.contains("hunter2-smtp-password"), "the password is never on the page");
        let sealed = host::mail::model::settings::Entity::find_by_id(acme)
            .one(&app.state.db.read).await.unwrap().unwrap().password_sealed.unwrap();
        assert!(!html.contains(&sealed), "nor its sealed form");
        assert_inert("/settings/mail", &page.html);
        assert!(html.contains("value=\"&lt;script&gt;window.pwned=1&lt;/script&gt;\""), "the hostile from name, escaped");

        // The log: newest first, received and failed mail, the server's answer, Retry.
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; about the quote"), "the received subject, escaped");
        assert!(html.contains("Your quote &lt;b&gt;bold&lt;/b&gt;"));
        assert!(html.contains("550 5.1.1 &lt;b&gt;bold&lt;/b&gt; user unknown"), "the server's last answer");
        assert!(html.contains("the server refused the recipient"));
        let retry = format!("data-api=\"/api/v1/mail/{failed}/retry\"");
        assert!(html.contains(&retry), "failed mail has Retry");
        assert_eq!(html.matches("/retry\"").count(), 1, "only failed mail has Retry");
        assert!(html.find("Your quote").unwrap() < html.find("about the quote").unwrap(), "newest first");
        assert!(!html.contains("smtp.other.test") && !html.contains("Other workspace"), "nothing of another workspace");

        // Filters, as plain links.
        let failed_only = sam.get("/settings/mail?status=failed").await.text();
        assert!(failed_only.contains("Your quote") && !failed_only.contains("about the quote"));
        assert!(failed_only.contains("<option value=\"failed\" selected>"));
        let received = sam.get("/settings/mail?direction=in").await.text();
        assert!(received.contains("about the quote") && !received.contains("Your quote"));
        let none = sam.get("/settings/mail?status=queued").await.text();
        assert!(none.contains("No mail matches."));
        let nonsense = sam.get("/settings/mail?status=%3Cscript%3E&direction=sideways").await;
        assert_eq!(nonsense.status, StatusCode::OK, "an unknown filter is no filter");
        assert!(nonsense.text().contains("Your quote") && nonsense.text().contains("about the quote"));

        // The button's call works for the admin and puts the message back in the queue.
        let retried = app.post(&format!("/api/v1/mail/{failed}/retry"), &json!({})).await;
        assert_eq!(retried.status, StatusCode::ACCEPTED, "{}", retried.body);
        let after = sam.get("/settings/mail").await.text();
        assert!(!after.contains(&retry), "a queued message has no Retry");

        // Removing the password, as the page's small form sends it: the page says so.
        let removed = app.put("/api/v1/admin/mail", &json!({
            "host": "smtp.acme.test", "port": 2525, "security": "starttls", "username": "crm-login",
            "from_address": "crm@acme.test", "from_name": "Acme", "password": null,
        })).await;
        assert_eq!(removed.status, StatusCode::OK, "{}", removed.body);
        let after = sam.get("/settings/mail").await.text();
        assert!(after.contains("No password is stored.") && !after.contains("Remove the stored password"));
    }

    async fn the_mailboxes_page_shows_each_mailbox_with_its_counts_and_last_error_but_never_its_password(app: TestApp) {
        user(&app, "sam@acme.test", "admin").await;
        let sam = Session::login(&app, "sam@acme.test").await;
        let empty = sam.get("/settings/mailboxes").await;
        assert_eq!(empty.status, StatusCode::OK, "{}", empty.html);
        assert!(empty.html.contains("No mailboxes yet."));

        allow(&app, &app.token, &["imap.acme.test"]).await;
        // Disabled, so that no poller touches it while the test sets its results.
        let id = add_mailbox(&app, &app.token, &json!({
            "name": format!("Sales {HOSTILE}"), "host": "imap.acme.test", "port": 993, "security": "tls",
            "username": "sales@acme.test", "password": "imap-secret-password", "folder": "Kith <b>bold</b>",
            "enabled": false, "poll_seconds": 120,
        })).await;
                {
            use host::mail::model::mailbox;
            use sea_orm::sea_query::Expr;
            mailbox::Entity::update_many()
                .col_expr(mailbox::Column::Received, Expr::value(7))
                .col_expr(mailbox::Column::Skipped, Expr::value(2))
                .col_expr(mailbox::Column::LastPolledAt, Expr::value(host::records::now_micros()))
                .col_expr(mailbox::Column::LastError, Expr::value("login refused: <b>bold</b> credentials"))
                .filter(mailbox::Column::Id.eq(Uuid::parse_str(&id).unwrap()))
                .exec(&app.state.db.write).await.unwrap();
        }
        let other = app.user("other", "admin@other.test", "admin").await;
        allow(&app, &other, &["imap.other.test"]).await;
        let other_id = add_mailbox(&app, &other, &json!({
            "name": "Other workspace's inbox", "host": "imap.other.test", "port": 993, "security": "tls",
            "username": "x@other.test", "password": "pw", "enabled": false,
        })).await;

        let page = sam.get("/settings/mailboxes").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        let html = page.text();
        assert_inert("/settings/mailboxes", &page.html);
        assert!(html.contains("Sales &lt;script&gt;window.pwned=1&lt;/script&gt;"), "the name, escaped");
        assert!(html.contains("value=\"imap.acme.test\"") && html.contains("value=\"sales@acme.test\""));
        assert!(html.contains("value=\"120\""), "the poll interval");
        assert!(html.contains("Kith &lt;b&gt;bold&lt;/b&gt;"), "the folder, escaped");
        assert!(html.contains("login refused: &lt;b&gt;bold&lt;/b&gt; credentials"), "the last error: {html}");
        assert!(html.contains("<dt>Received</dt><dd>7</dd>"), "{html}");
        assert!(html.contains("<dt>Skipped</dt><dd>2 "));
        assert!(!html.contains("<dt>Last polled</dt><dd>never"), "the last poll's time");
        assert!(html.contains("<span class=\"badge\">disabled</span>"));
        assert!(html.contains("mail is logged as admin"), "as whom mail is logged");
        assert!(html.contains("A password is stored; it is never shown."));
        assert!(!html.contains("imap-secret-password"), "the password is never on the page");
        for action in ["/test\" data-method=\"POST\"", "\" data-method=\"DELETE\"", "\" data-method=\"PUT\""] {
            assert!(html.contains(&format!("data-api=\"/api/v1/admin/mailboxes/{id}{action}")), "{action}");
        }
        assert!(!html.contains("/poll\""), "a disabled mailbox is not polled now");
        assert!(html.contains("data-api=\"/api/v1/admin/mailboxes\" data-method=\"POST\""), "the add form");
        assert!(!html.contains("imap.other.test") && !html.contains(&other_id), "nothing of another workspace");

        // Enabled (through the API, as the edit form sends it: the password kept), it offers Poll now.
        let saved = app.put(&format!("/api/v1/admin/mailboxes/{id}"), &json!({
            "name": "Sales", "host": "imap.acme.test", "port": 993, "security": "tls",
            "username": "sales@acme.test", "folder": "INBOX", "enabled": true, "poll_seconds": 600,
        })).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        let html = sam.get("/settings/mailboxes").await.text();
        assert!(html.contains(&format!("data-api=\"/api/v1/admin/mailboxes/{id}/poll\"")), "Poll now");
        assert!(html.contains("A password is stored"), "the password was kept");
    }

    async fn the_webhooks_pages_show_subscriptions_and_their_deliveries_but_never_a_secret(app: TestApp) {
        user(&app, "sam@acme.test", "admin").await;
        let sam = Session::login(&app, "sam@acme.test").await;
        let empty = sam.get("/settings/webhooks").await;
        assert_eq!(empty.status, StatusCode::OK, "{}", empty.html);
        assert!(empty.html.contains("No webhooks yet.") && empty.html.contains("No private hosts are allowed."));

        allow(&app, &app.token, &["hooks.acme.test"]).await;
        // Disabled, so that no deliverer touches the log the test writes.
        let (id, secret) = subscribe(&app, &app.token, &json!({
            "url": "http://hooks.acme.test/kith?x=<b>bold</b>", "events": ["contact.updated", "company.*"],
            "description": format!("Warehouse {HOSTILE}"), "enabled": false,
        })).await;
        let contact = app.create("contacts", json!({ "first_name": "Ada" })).await;
        let contact_id = contact["id"].as_str().unwrap();
        let acme = workspace_id(&app, "acme").await;
        let delivery = Uuid::now_v7();
        {
            use host::integrations::model::webhook_delivery as d;
            let now = host::records::now_micros();
            d::Entity::insert(d::ActiveModel {
                id: Set(delivery),
                webhook_id: Set(Uuid::parse_str(&id).unwrap()),
                workspace_id: Set(acme),
                seq: Set(41),
                record_id: Set(Uuid::parse_str(contact_id).unwrap()),
                event_type: Set("contact.updated".into()),
                body: Set("{\"secret-body\":true}".into()),
                status: Set("failed".into()),
                attempts: Set(16),
                next_at: Set(now),
                last_status: Set(Some(502)),
                last_error: Set(Some("the endpoint answered 502".into())),
                last_response: Set(Some("<script>alert(1)</script>".into())),
                created_at: Set(now),
                delivered_at: Set(None),
            }).exec_without_returning(&app.state.db.write).await.unwrap();
        }

        let other = app.user("other", "admin@other.test", "admin").await;
        allow(&app, &other, &["hooks.other.test"]).await;
        let (other_id, other_secret) = subscribe(&app, &other, &json!({
            "url": "http://hooks.other.test/x", "events": ["*"], "description": "Other workspace's hook",
        })).await;

        let page = sam.get("/settings/webhooks").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        let html = page.text();
        assert_inert("/settings/webhooks", &page.html);
        assert!(html.contains("http://hooks.acme.test/kith?x=&lt;b&gt;bold&lt;/b&gt;"), "the URL, escaped: {html}");
        assert!(html.contains("Warehouse &lt;script&gt;window.pwned=1&lt;/script&gt;"), "the description, escaped");
        assert!(html.contains("<span class=\"tag\">contact.updated</span>") && html.contains("<span class=\"tag\">company.*</span>"));
        assert!(html.contains("value=\"contact.updated, company.*\""), "the edit form's events");
        assert!(html.contains("<span class=\"badge danger\">1 failed</span>"));
        assert!(html.contains("<span class=\"badge\">disabled</span>"));
        assert!(html.contains(&format!("href=\"/settings/webhooks/{id}\"")), "the delivery log");
        assert!(html.contains(&format!("data-api=\"/api/v1/webhooks/{id}/secret\"")), "rotate");
        assert!(html.contains(&format!("data-api=\"/api/v1/webhooks/{id}\" data-method=\"DELETE\"")));
        assert!(html.contains("<input type=\"hidden\" name=\"enabled\" value=\"true\" data-type=\"bool\">"), "Enable");
        assert!(html.contains("value=\"hooks.acme.test\""), "the allowed hosts");
        assert!(!html.contains(&secret) && !html.contains("whsec_"), "the secret is never on the page");
        assert!(!html.contains("hooks.other.test") && !html.contains(&other_id) && !html.contains(&other_secret), "nothing of another workspace");

        let log_path = format!("/settings/webhooks/{id}");
        let log = sam.get(&log_path).await;
        assert_eq!(log.status, StatusCode::OK, "{}", log.html);
        let html = log.text();
        assert_inert(&log_path, &log.html);
        assert!(html.contains("<code>contact.updated</code>") && html.contains("evt_41"));
        assert!(html.contains(&format!("href=\"/records/contacts/{contact_id}\"")), "the record");
        assert!(html.contains("<span class=\"badge danger\">failed</span>") && html.contains(">16</td>"));
        assert!(html.contains("HTTP 502") && html.contains("the endpoint answered 502"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "the answer, escaped");
        let replay = format!("data-api=\"/api/v1/webhooks/{id}/deliveries/{delivery}/replay\"");
        assert!(html.contains(&replay), "failed deliveries have Replay");
        assert!(!html.contains(&secret) && !html.contains("secret-body"), "neither the secret nor the body");
        let pending = sam.get(&format!("{log_path}?status=pending")).await.text();
        assert!(pending.contains("No deliveries match.") && !pending.contains("evt_41"));
        let older = sam.get(&format!("{log_path}?before=41")).await.text();
        assert!(!older.contains("evt_41"), "paged by event");

        // The buttons' calls: Replay puts it back in the queue; a rotated secret stays off the page.
        let replayed = app.post(&format!("/api/v1/webhooks/{id}/deliveries/{delivery}/replay"), &json!({})).await;
        assert_eq!(replayed.status, StatusCode::ACCEPTED, "{}", replayed.body);
        let html = sam.get(&log_path).await.text();
        assert!(html.contains("<span class=\"badge warning\">pending</span>") && !html.contains(&replay));
        let rotated = app.post(&format!("/api/v1/webhooks/{id}/secret"), &json!({})).await;
        let rotated = rotated.body["secret"].as_str().unwrap().to_owned();
        assert!(!sam.get("/settings/webhooks").await.html.contains(&rotated));

        // Another workspace's log is missing, like a missing one.
        assert_eq!(sam.get(&format!("/settings/webhooks/{other_id}")).await.status, StatusCode::NOT_FOUND);
        assert_eq!(sam.get("/settings/webhooks/not-an-id").await.status, StatusCode::NOT_FOUND);
    }
}

/// The forms' script in a real browser (the harness is `browser.rs`'s): SMTP settings saved
/// through the form, a refusal said next to its field, the connection test's answer, and a new
/// webhook's secret shown once.
mod in_browser {
    use reqwest::StatusCode;
    use serde_json::json;

    use crate::browser::{admin, browser_available, login, start_browser};
    use crate::support::{Backend, TestApp};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn smtp_settings_are_saved_and_tested_through_the_email_page() {
        if !browser_available() {
            return;
        }
        let app = TestApp::spawn(Backend::Sqlite)
            .await
            .expect("sqlite always runs");
        admin(&app, "sam@acme.test").await;
        // Nothing listens on a port just freed: the test's connection is refused at once.
        let closed = crate::restart::free_port();
        let allowed = app
            .put(
                "/api/v1/admin/outbound-hosts",
                &json!({ "hosts": ["127.0.0.1"] }),
            )
            .await;
        assert_eq!(allowed.status, StatusCode::OK);
        let (driver, mut b) = start_browser(&app, "integration-pages").await;
        login(&mut b, "sam@acme.test", "correct horse battery", "acme").await;

        b.step("a refused server is said next to its field");
        b.goto("/settings/mail").await;
        b.fill("#smtp-host", "not a host name!").await;
        b.fill("#smtp-port", &closed.to_string()).await;
        b.fill("#smtp-password", "smtp-password-typed").await;
        b.fill("#smtp-from", "crm@acme.test").await;
        b.click("#smtp-form button[type=submit]").await;
        let said: String = b
            .until(
                "the refusal next to the server field",
                |client| async move {
                    let text = client
                        .find(fantoccini::Locator::Css("#smtp-form [data-error-for=host]"))
                        .await
                        .ok()?
                        .text()
                        .await
                        .ok()?;
                    (!text.is_empty()).then_some(text)
                },
            )
            .await;
        let invalid = b
            .js("return document.querySelector('#smtp-host').getAttribute('aria-invalid')")
            .await;
        assert_eq!(invalid, json!("true"), "the field is marked: {said}");
        b.screenshot("smtp-refused").await;
        assert_eq!(
            app.get("/api/v1/admin/mail").await.status,
            StatusCode::CONFLICT,
            "nothing was saved"
        );

        b.step("the settings are saved and shown after the reload");
        b.fill("#smtp-host", "127.0.0.1").await;
        b.click_and_reload("#smtp-form button[type=submit]").await;
        let host = b
            .js("return document.querySelector('#smtp-host').value")
            .await;
        assert_eq!(host, json!("127.0.0.1"));
        let hint = b.text("#smtp-password-hint").await;
        assert!(hint.starts_with("A password is stored"), "{hint}");
        let password = b
            .js("return document.querySelector('#smtp-password').value")
            .await;
        assert_eq!(password, json!(""), "the password is not shown");
        let saved = app.get("/api/v1/admin/mail").await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        assert_eq!(saved.body["host"], "127.0.0.1");
        assert_eq!(saved.body["port"], json!(closed));
        assert_eq!(saved.body["from_address"], "crm@acme.test");
        assert_eq!(saved.body["password_set"], true);
        b.screenshot("smtp-saved").await;

        b.step("the connection test shows the answer");
        b.click("button[data-api='/api/v1/admin/mail/test']").await;
        let result: String = b
            .until("the test's answer", |client| async move {
                let text = client
                    .find(fantoccini::Locator::Css("#smtp-test-result.failed"))
                    .await
                    .ok()?
                    .text()
                    .await
                    .ok()?;
                text.starts_with("Failed: ").then_some(text)
            })
            .await;
        assert!(result.len() > "Failed: ".len(), "with the reason: {result}");
        b.screenshot("smtp-tested").await;

        b.step("a new webhook's secret is shown once");
        b.goto("/settings/webhooks").await;
        b.fill("#new-wh-url", "http://127.0.0.1:9/hook").await;
        b.fill("#new-wh-events", "contact.created, company.*").await;
        b.click("#new-webhook button[type=submit]").await;
        let shown = b.text("#new-webhook [data-show-token] code").await;
        assert!(shown.starts_with("whsec_"), "{shown}");
        let hooks = app.get("/api/v1/webhooks").await;
        assert_eq!(hooks.data().len(), 1, "{}", hooks.body);
        assert_eq!(
            hooks.data()[0]["events"],
            json!(["contact.created", "company.*"])
        );
        b.screenshot("webhook-secret").await;
        b.goto("/settings/webhooks").await;
        b.wait_for("#new-webhook").await;
        let source = b.client.source().await.expect("page source");
        assert!(
            source.contains("http://127.0.0.1:9/hook") && !source.contains(&shown),
            "listed, its secret gone"
        );
        b.assert_no_script_errors().await;
        b.client.clone().close().await.ok();
        drop(driver);
    }
}
