//! The web app over HTTP, as a browser without JavaScript uses it: sessions, every page kind,
//! forms with the server's field errors, boards, saved views, permissions, hostile values, and
//! the theme API. (The real browser drives the same pages in `browser.rs`.)

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::support::{Backend, TestApp, id_of, on_both};

/// A browser without JavaScript: no redirects followed, one session cookie, and the CSRF
/// token pages carry. The web, settings and merge tests all drive the pages through it.
pub(crate) struct Session<'a> {
    app: &'a TestApp,
    pub(crate) client: reqwest::Client,
    pub(crate) cookie: String,
    csrf: String,
}

/// An HTML answer.
pub(crate) struct Page {
    pub status: StatusCode,
    pub(crate) location: Option<String>,
    pub html: String,
    pub(crate) headers: reqwest::header::HeaderMap,
    /// The session cookie it sets (not one that ends a session).
    pub(crate) cookie: Option<String>,
}

impl Page {
    /// The HTML with the templates' escapes of `/` undone, read as a person reads links.
    /// The notice the page sets for the next one (`kith_flash=<kind>…`), or "".
    pub(crate) fn flash(&self) -> String {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|c| c.to_str().ok())
            .find(|c| c.starts_with("kith_flash="))
            .unwrap_or_default()
            .to_owned()
    }

    pub(crate) fn text(&self) -> String {
        self.html.replace("&#x2f;", "/")
    }
}

pub(crate) const FORM: &str = "application/x-www-form-urlencoded";

pub(crate) fn form(fields: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) async fn send(request: reqwest::RequestBuilder) -> Page {
    let response = request.send().await.expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    let location = headers
        .get(LOCATION)
        .map(|v| v.to_str().unwrap().to_owned());
    let cookie = headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|v| v.starts_with("kith_session=") && !v.starts_with("kith_session=;"))
        .map(|v| v.split(';').next().unwrap().to_owned());
    let html = response.text().await.unwrap();
    Page {
        status,
        location,
        html,
        headers,
        cookie,
    }
}

/// A user with a password (the test app's admin has only a token).
pub(crate) async fn user(app: &TestApp, email: &str, role: &str) {
    let created = app
        .post(
            "/api/v1/admin/users",
            &json!({ "email": email, "password": "correct horse battery", "role": role }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}

fn csrf_of(html: &str) -> String {
    let start = html
        .find("name=\"csrf-token\" content=\"")
        .expect("the page carries a CSRF token")
        + "name=\"csrf-token\" content=\"".len();
    html[start..].split('"').next().unwrap().to_owned()
}

impl<'a> Session<'a> {
    /// A browser that has not signed in yet.
    pub(crate) fn anonymous(app: &'a TestApp) -> Session<'a> {
        Session {
            app,
            client: no_redirects(),
            cookie: String::new(),
            csrf: String::new(),
        }
    }

    /// Logs `email` in through the login form (every test user's password is
    /// "correct horse battery"), which must succeed.
    pub(crate) async fn login(app: &'a TestApp, email: &str) -> Session<'a> {
        let mut session = Session::anonymous(app);
        let answer = session.sign_in(email, "correct horse battery").await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.html);
        assert_eq!(answer.location.as_deref(), Some("/"));
        assert!(answer.cookie.is_some(), "a session cookie");
        session
    }

    /// Posts the login form; the page that answers. A session it starts is this browser's.
    pub(crate) async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let fields = [
            ("email", email),
            ("password", password),
            ("workspace", "acme"),
            ("next", "/"),
        ];
        let page = self.post_raw("/login", &fields).await;
        if let Some(cookie) = &page.cookie {
            self.adopt(cookie.clone()).await;
        }
        page
    }

    /// Uses a session cookie, and reads the CSRF token of home.
    pub(crate) async fn adopt(&mut self, cookie: String) {
        self.cookie = cookie;
        let home = self.get("/").await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.html);
        self.csrf = csrf_of(&home.html);
    }

    pub(crate) async fn get(&self, path: &str) -> Page {
        send(
            self.client
                .get(format!("{}{path}", self.app.base))
                .header(COOKIE, &self.cookie),
        )
        .await
    }

    /// Posts a form with the session's CSRF token.
    pub(crate) async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut all = vec![("_csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Posts a multipart form (a file upload) with the session's CSRF token unless `csrf`
    /// is false: `fields` are text parts, `file` is (part name, file name, bytes).
    pub(crate) async fn post_file(
        &self,
        path: &str,
        fields: &[(&str, &str)],
        file: (&str, &str, &[u8]),
        csrf: bool,
    ) -> Page {
        let boundary = "kith-test-boundary-7d1f";
        let mut body = Vec::new();
        let mut text = |name: &str, value: &str| {
            body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").into_bytes());
        };
        if csrf {
            text("_csrf", &self.csrf);
        }
        for (name, value) in fields {
            text(name, value);
        }
        let (name, file_name, bytes) = file;
        body.extend(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{file_name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").into_bytes());
        body.extend_from_slice(bytes);
        body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
        send(
            self.client
                .post(format!("{}{path}", self.app.base))
                .header(COOKIE, &self.cookie)
                .header(
                    CONTENT_TYPE,
                    format!("multipart/form-data; boundary={boundary}"),
                )
                .body(body),
        )
        .await
    }

    pub(crate) async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        send(
            self.client
                .post(format!("{}{path}", self.app.base))
                .header(COOKIE, &self.cookie)
                .header(CONTENT_TYPE, FORM)
                .body(form(fields)),
        )
        .await
    }

    /// A JSON API call through the session (cookie + X-CSRF-Token), as the pages' script does.
    async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.app.base))
            .header(COOKIE, &self.cookie)
            .header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// The rows of the first table body of a page.
fn rows(html: &str) -> usize {
    html.split("<tbody>").nth(1).map_or(0, |body| {
        body.split("</tbody>")
            .next()
            .unwrap()
            .matches("<tr>")
            .count()
    })
}

/// The `href` of the link marked `rel="next"`, unescaped.
fn next_link(html: &str) -> Option<String> {
    let at = html.find("rel=\"next\"")?;
    let start = html[..at].rfind("href=\"")? + 6;
    let raw = html[start..].split('"').next()?;
    Some(
        raw.replace("&#x2f;", "/")
            .replace("&amp;", "&")
            .replace("&#x3d;", "="),
    )
}

async fn deal_type(app: &TestApp) {
    let created = app
        .post(
            "/api/v1/meta/entities",
            &json!({
                "name": "deal", "plural": "deals", "title_fields": ["title"],
                "fields": [
                    { "name": "title", "type": "text", "required": true, "searchable": true },
                    { "name": "stage", "type": "select", "indexed": true, "options": ["new", "qualified", "won"] },
                    { "name": "amount", "type": "money" },
                    { "name": "company", "type": "reference", "target": "company" },
                ]
            }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}

on_both! {
    async fn a_day_in_the_web_app_without_javascript(app: TestApp) {
        // Pages need a session: without one they send the visitor to log in, and come back.
        let anonymous = send(no_redirects().get(format!("{}/records/contacts", app.base))).await;
        assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
        assert_eq!(anonymous.location.as_deref(), Some("/login?next=%2Frecords%2Fcontacts"));
        user(&app, "sam@acme.test", "admin").await;
        user(&app, "kim@acme.test", "member").await;
        let wrong = send(no_redirects().post(format!("{}/login", app.base)).header(CONTENT_TYPE, FORM).body(form(&[("email", "sam@acme.test"), ("password", "nope nope nope"), ("workspace", "acme")]))).await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert!(wrong.html.contains("Wrong email, password or workspace."), "{}", wrong.html);
        assert!(!wrong.headers.contains_key(SET_COOKIE));
        let elsewhere = send(no_redirects().post(format!("{}/login", app.base)).header(CONTENT_TYPE, FORM).body(form(&[("email", "sam@acme.test"), ("password", "correct horse battery"), ("workspace", "acme"), ("next", "//evil.example/")]))).await;
        assert_eq!(elsewhere.location.as_deref(), Some("/"), "never redirected off the site");
        let forged = send(
            no_redirects()
                .post(format!("{}/login", app.base))
                .header("origin", "https://evil.example")
                .header(CONTENT_TYPE, FORM)
                .body(form(&[("email", "sam@acme.test"), ("password", "correct horse battery"), ("workspace", "acme")])),
        )
        .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "a login posted from another site is refused");
        assert!(!forged.headers.contains_key(SET_COOKIE));
        let sam = Session::login(&app, "sam@acme.test").await;

        // Every type has its list, including one an admin adds at run time.
        deal_type(&app).await;
        let company = app.create("companies", json!({ "name": "Acme Corp", "domain": "acme.test" })).await;
        let company_id = company["id"].as_str().unwrap().to_owned();
        let deals: Vec<Value> = (0..60)
            .map(|i| json!({ "title": format!("Deal {i:02}"), "stage": if i % 3 == 0 { "won" } else { "new" }, "amount": { "amount": format!("{}.50", i * 100), "currency": "EUR" }, "company": company_id }))
            .collect();
        let batch = app.post("/api/v1/deals/batch", &json!({ "operation": "create", "records": deals })).await;
        assert_eq!(batch.status, StatusCode::OK, "{}", batch.body);
        let home = sam.get("/").await;
        assert!(home.html.contains("href=\"&#x2f;records&#x2f;deals\""), "the new type is in the navigation");
        let list = sam.get("/records/deals").await;
        assert_eq!(list.status, StatusCode::OK);
        assert_eq!(rows(&list.html), 50, "a page holds 50 rows");
        let by_amount = sam.get("/records/deals?sort=-amount").await;
        assert!(by_amount.html.contains("€5,900.50"), "money reads like money: {}", by_amount.html);
        let next = next_link(&list.html).expect("a next page");
        let second = sam.get(&next).await;
        assert_eq!(rows(&second.html), 10, "the second page holds the rest");
        assert!(next_link(&second.html).is_none());
        let sorted = sam.get("/records/deals?sort=-title&cols=title,stage").await;
        let first_row = sorted.html.split("<tbody>").nth(1).unwrap();
        assert!(first_row.find("Deal 59").unwrap() < first_row.find("Deal 58").unwrap(), "sorted descending");
        let won = sam.get("/records/deals?f=stage&op=eq&v=won&cols=title,stage").await;
        assert_eq!(rows(&won.html), 20, "the filter builder's condition applies");
        let bad = sam.get("/records/deals?f=no_such_field&op=eq&v=x").await;
        assert_eq!(bad.status, StatusCode::OK, "a refused filter is shown, not an error page");
        assert!(bad.html.contains("class=\"alert error\""), "{}", bad.html);

        // Saved views: personal unless an admin shares them.
        let saved = sam.post("/records/deals/views", &[("name", "Won deals"), ("state", "f=stage&op=eq&v=won&cols=title,stage")]).await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
        let view_url = saved.location.unwrap();
        let view = sam.get(&view_url).await;
        assert_eq!(rows(&view.html), 20);
        assert!(view.html.contains("Won deals"));
        let kim = Session::login(&app, "kim@acme.test").await;
        assert!(!kim.get("/records/deals").await.html.contains("Won deals"), "a personal view is its owner's");
        let shared = sam.post("/records/deals/views", &[("name", "Team won"), ("shared", "true"), ("state", "f=stage&op=eq&v=won")]).await;
        assert_eq!(shared.status, StatusCode::SEE_OTHER);
        assert!(kim.get("/records/deals").await.html.contains("Team won"), "a shared view is everyone's");
        let refused = kim.post("/records/deals/views", &[("name", "Mine"), ("shared", "true"), ("state", "")]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "members do not share views");

        // Create through the form: CSRF checked, field errors from the store, then the record.
        let no_token = sam.post_raw("/records/contacts/new", &[("first_name", "Ada")]).await;
        assert_eq!(no_token.status, StatusCode::FORBIDDEN);
        let invalid = sam.post("/records/contacts/new", &[("first_name", "Ada"), ("last_name", "Lovelace"), ("email", "not-an-email"), ("company", &company_id)]).await;
        assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
        let error_at = invalid.html.find("id=\"f-email-error\"").expect("the email field's error slot");
        assert!(invalid.html[error_at..].split("</p>").next().unwrap().contains("email"), "the message sits by the field");
        assert!(invalid.html.contains("value=\"Ada\""), "what was typed is kept");
        let created = sam.post("/records/contacts/new", &[("first_name", "Ada"), ("last_name", "Lovelace"), ("email", "ada@example.com"), ("tags", "vip, math"), ("company", &company_id)]).await;
        assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.html);
        let record_url = created.location.unwrap();
        let record = sam.get(&record_url).await;
        assert_eq!(record.status, StatusCode::OK);
        assert!(record.html.contains("<h1>Ada Lovelace</h1>"));
        assert!(record.html.contains("Acme Corp"), "the reference shows its record's title");
        assert!(record.html.contains("<span class=\"tag\">vip</span>"));
        let id = record_url.rsplit('/').next().unwrap().to_owned();
        let stored = app.get(&format!("/api/v1/contacts/{id}")).await;
        assert_eq!(stored.body["tags"], json!(["vip", "math"]));

        // The company's page lists the contact and the deals pointing at it.
        let company_page = sam.get(&format!("/records/companies/{company_id}")).await;
        assert!(company_page.html.contains("Ada Lovelace") && company_page.html.contains("Deal 00"), "related records");

        // Edit: only changes are sent, with the version the form was loaded at.
        let stale = sam.post(&format!("{record_url}/edit"), &[("version", "1"), ("title", "Countess")]).await;
        assert_eq!(stale.status, StatusCode::SEE_OTHER);
        let concurrent = app.patch(&format!("/api/v1/contacts/{id}"), &json!({ "title": "Analyst" }), Some(2)).await;
        assert_eq!(concurrent.status, StatusCode::OK, "{}", concurrent.body);
        let lost = sam.post(&format!("{record_url}/edit"), &[("version", "2"), ("title", "Mathematician")]).await;
        assert_eq!(lost.status, StatusCode::CONFLICT, "a stale edit is shown beside the saved values, never saved blindly");
        assert!(lost.html.contains("changed-by-both") && lost.html.contains("Analyst") && lost.html.contains("Mathematician"), "{}", lost.html);
        assert_eq!(app.get(&format!("/api/v1/contacts/{id}")).await.body["title"], "Analyst");
        // The conflict page's copies are checked: not JSON is a clear 400; fields that are not
        // the form's (the owner, anything hidden) are ignored, whatever the copies say.
        let before = app.get(&format!("/api/v1/contacts/{id}")).await.body;
        let forged = sam.post(&format!("{record_url}/edit"), &[("version", "3"), ("_theirs", "{}"), ("_mine", "not json")]).await;
        assert_eq!(forged.status, StatusCode::BAD_REQUEST, "{}", forged.html);
        let owner = json!({ "title": "Mathematician", "owner": "00000000-0000-0000-0000-000000000000", "id": "00000000-0000-0000-0000-000000000000" }).to_string();
        let kept = sam.post(&format!("{record_url}/edit"), &[("version", "3"), ("_theirs", "{}"), ("_mine", &owner), ("_all", "mine")]).await;
        assert_eq!(kept.status, StatusCode::SEE_OTHER, "{}", kept.html);
        let after = app.get(&format!("/api/v1/contacts/{id}")).await.body;
        assert_eq!((&after["title"], &after["owner"], &after["id"]), (&json!("Mathematician"), &before["owner"], &before["id"]));

        // The timeline: a task lands on the record and on the owner's home page.
        let logged = sam.post(&format!("{record_url}/activities"), &[("kind", "task"), ("subject", "Send the proposal"), ("due_at", "2026-12-01T09:30")]).await;
        assert_eq!(logged.status, StatusCode::SEE_OTHER);
        assert!(sam.get(&record_url).await.html.contains("Send the proposal"));
        let sam_home = sam.get("/").await;
        assert!(sam_home.html.contains("Send the proposal") && sam_home.html.contains("2026-12-01 09:30"), "my open tasks");
        assert!(sam_home.html.contains("Ada Lovelace"), "recently changed records");

        // The board reads without JavaScript; its cards carry their versions for the script's
        // moves. A one-field form sets the stage with the version, and refuses a stale one.
        let board = sam.get("/records/deals/board?field=stage").await;
        assert_eq!(board.status, StatusCode::OK);
        assert!(board.html.contains("data-value=\"qualified\"") && board.html.contains("data-editable"));
        let deal = app.all("deals", "filter=title[eq]:\"Deal 01\"").await.remove(0);
        let deal_id = deal["id"].as_str().unwrap();
        assert!(board.html.contains(&format!("data-id=\"{deal_id}\" data-version=\"1\"")));
        let back = "/records/deals/board?field=stage";
        let moved = sam.post(&format!("/records/deals/{deal_id}/set"), &[("field", "stage"), ("value", "qualified"), ("version", "1"), ("back", back)]).await;
        assert_eq!((moved.status, moved.location.as_deref()), (StatusCode::SEE_OTHER, Some(back)));
        assert_eq!(app.get(&format!("/api/v1/deals/{deal_id}")).await.body["stage"], "qualified");
        let stale_move = sam.post(&format!("/records/deals/{deal_id}/set"), &[("field", "stage"), ("value", "won"), ("version", "1"), ("back", back)]).await;
        assert_eq!(stale_move.status, StatusCode::SEE_OTHER);
        let flash = stale_move.headers.get_all(SET_COOKIE).iter().any(|c| c.to_str().unwrap().starts_with("kith_flash=error"));
        assert!(flash, "a stale move comes back with an error notice");
        assert_eq!(app.get(&format!("/api/v1/deals/{deal_id}")).await.body["stage"], "qualified");

        // Search finds records as they are indexed.
        let mut found = false;
        for _ in 0..50 {
            if sam.get("/search?q=lovelace").await.html.contains("Ada Lovelace") {
                found = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(found, "the search page finds the new contact");

        // Permissions: members see no settings; missing records and types are 404 pages.
        assert_eq!(kim.get("/settings/users").await.status, StatusCode::FORBIDDEN);
        assert_eq!(kim.get("/settings/tokens").await.status, StatusCode::OK, "everyone manages their own tokens");
        for path in ["/settings/users", "/settings/roles", "/settings/fields", "/settings/plugins", "/settings/theme", "/settings/tokens", "/account/password"] {
            assert_eq!(sam.get(path).await.status, StatusCode::OK, "{path}");
        }
        assert_eq!(sam.get("/records/contacts/not-an-id").await.status, StatusCode::NOT_FOUND);
        assert_eq!(sam.get(&format!("/records/contacts/{deal_id}")).await.status, StatusCode::NOT_FOUND);
        assert_eq!(sam.get("/records/nothings").await.status, StatusCode::NOT_FOUND);

        // Delete goes to the trash; logging out ends the session.
        let deleted = sam.post(&format!("{record_url}/delete"), &[]).await;
        assert_eq!(deleted.status, StatusCode::SEE_OTHER);
        assert_eq!(sam.get(&record_url).await.status, StatusCode::NOT_FOUND);
        let out = sam.post("/logout", &[]).await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        assert_eq!(sam.get("/").await.status, StatusCode::SEE_OTHER, "the old cookie no longer works");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_checks_the_current_password_and_ends_other_sessions() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    user(&app, "sam@acme.test", "member").await;
    let laptop = Session::login(&app, "sam@acme.test").await;
    let phone = Session::login(&app, "sam@acme.test").await;
    let wrong = laptop
        .post(
            "/account/password",
            &[
                ("current_password", "guess guess"),
                ("new_password", "a new long secret"),
                ("confirm_password", "a new long secret"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong.html.contains("the current password is wrong"),
        "{}",
        wrong.html
    );
    let mismatch = laptop
        .post(
            "/account/password",
            &[
                ("current_password", "correct horse battery"),
                ("new_password", "a new long secret"),
                ("confirm_password", "another"),
            ],
        )
        .await;
    assert!(mismatch.html.contains("The two new passwords differ."));
    let short = laptop
        .post(
            "/account/password",
            &[
                ("current_password", "correct horse battery"),
                ("new_password", "short"),
                ("confirm_password", "short"),
            ],
        )
        .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    let done = laptop
        .post(
            "/account/password",
            &[
                ("current_password", "correct horse battery"),
                ("new_password", "a new long secret"),
                ("confirm_password", "a new long secret"),
            ],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    assert_eq!(
        laptop.get("/").await.status,
        StatusCode::OK,
        "this session goes on"
    );
    assert_eq!(
        phone.get("/").await.status,
        StatusCode::SEE_OTHER,
        "the other session ended"
    );
}

/// Strings that would run script, break out of attributes or templates if a page ever
/// printed them unescaped.
const HOSTILE: &[&str] = &[
    "<script>window.pwned=1</script>",
    "\"><img src=x onerror=alert(1)>",
    "'><svg onload=alert(1)>",
    "</textarea><script>alert(2)</script>",
    "\" autofocus onfocus=\"alert(3)",
    "{{ 7 * 7 }}{% raw %}",
    "javascript:alert(4)",
];

/// No hostile string's active form appears in a page.
fn assert_inert(page: &str, html: &str) {
    for needle in [
        "<script>window.pwned",
        "<script>alert",
        "<img src=x",
        "<svg onload",
        "onfocus=\"alert",
        "href=\"javascript:",
        "href=\"javascript&#x3a;",
    ] {
        assert!(!html.contains(needle), "{page} prints `{needle}` unescaped");
    }
    assert!(
        !html.contains(">49<") && !html.contains("49{%"),
        "{page} evaluated a template in a value"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_render_inert_on_every_page() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    crate::plugins::install(&app, "good").await;
    assert_eq!(
        crate::plugins::enable(&app, "good", json!({})).await.status,
        StatusCode::OK
    );
    user(&app, "sam@acme.test", "admin").await;
    // A type with a field of every kind but json and user, and hostile option labels.
    let hostile_label = HOSTILE[1];
    let ty = app
        .post(
            "/api/v1/meta/entities",
            &json!({
                "name": "thing", "plural": "things", "label": HOSTILE[0], "label_plural": HOSTILE[3], "title_fields": ["name"],
                "fields": [
                    { "name": "name", "type": "text", "searchable": true, "label": HOSTILE[2] },
                    { "name": "notes", "type": "long_text" },
                    { "name": "site", "type": "url" },
                    { "name": "stage", "type": "select", "options": [{ "value": "a", "label": hostile_label }, { "value": "b" }] },
                    { "name": "labels", "type": "tags" },
                    { "name": "kinds", "type": "multi_select", "options": [{ "value": "x", "label": HOSTILE[4] }] },
                    { "name": "data", "type": "json" },
                    { "name": "contact", "type": "reference", "target": "contact" },
                ]
            }),
        )
        .await;
    assert_eq!(ty.status, StatusCode::CREATED, "{}", ty.body);
    let contact = app.create("contacts", json!({ "first_name": HOSTILE[0], "last_name": HOSTILE[1], "title": HOSTILE[5], "tags": HOSTILE })).await;
    let contact_id = contact["id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for (i, text) in HOSTILE.iter().enumerate() {
        let thing = app
            .create(
                "things",
                json!({ "name": text, "notes": text, "site": format!("https://x.test/?q={}", text.replace(' ', "")), "stage": "a", "labels": [text], "kinds": ["x"], "data": { "k": text }, "contact": contact_id }),
            )
            .await;
        ids.push(thing["id"].as_str().unwrap().to_owned());
        let activity = app
            .create(
                "activities",
                json!({ "kind": "note", "subject": text, "body": text, "links": [contact_id] }),
            )
            .await;
        assert!(activity["id"].is_string(), "{i}: {activity}");
    }
    // A URL field holding a script URL is stored only if the store lets it; either way it must
    // never become a link.
    let _ = app
        .post(
            "/api/v1/things",
            &json!({ "name": "link", "site": HOSTILE[6] }),
        )
        .await;
    let sam = Session::login(&app, "sam@acme.test").await;
    let saved = sam
        .post(
            "/records/things/views",
            &[
                ("name", HOSTILE[0]),
                ("state", "f=name&op=contains&v=%3Cscript"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    let mut pages = vec![
        "/".to_owned(),
        "/records/things".to_owned(),
        "/records/things?cols=name,notes,site,stage,labels,kinds,data,contact".to_owned(),
        format!(
            "/records/things?f=name&op=contains&v={}",
            host::web::encode(HOSTILE[1])
        ),
        "/records/things/board?field=stage".to_owned(),
        "/records/things/new".to_owned(),
        format!("/records/contacts/{contact_id}"),
        format!("/records/contacts/{contact_id}/edit"),
        "/records/contacts".to_owned(),
        "/settings/fields".to_owned(),
        format!("/search?q={}", host::web::encode(HOSTILE[0])),
    ];
    for id in &ids {
        pages.push(format!("/records/things/{id}"));
        pages.push(format!("/records/things/{id}/edit"));
    }
    for path in &pages {
        let page = sam.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.html);
        assert_inert(path, &page.html);
    }
    // The plugin's panel shows the contact's hostile name, escaped by the host's renderer.
    let record = sam.get(&format!("/records/contacts/{contact_id}")).await;
    assert!(
        record.html.contains("class=\"good-summary\""),
        "the plugin panel is on the page"
    );
    assert!(
        record
            .html
            .contains("&lt;script&gt;window.pwned=1&lt;&#x2f;script&gt;"),
        "escaped, still readable"
    );
    // A form sent back with errors repeats hostile input escaped.
    let invalid = sam
        .post(
            "/records/things/new",
            &[("name", HOSTILE[3]), ("data", "{not json")],
        )
        .await;
    assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_inert("the refused form", &invalid.html);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn theme_changes_are_checked_and_never_break_the_site() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    user(&app, "sam@acme.test", "admin").await;
    user(&app, "kim@acme.test", "member").await;
    let sam = Session::login(&app, "sam@acme.test").await;
    let kim = Session::login(&app, "kim@acme.test").await;
    let theme = app.get("/api/v1/admin/theme").await;
    assert_eq!(theme.body["data"]["theme"], "default");
    let names: Vec<&str> = theme.body["data"]["themes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"default") && names.contains(&"dark"),
        "{names:?}"
    );
    let digest = app.digest().await;

    // Refusals: not an admin, unknown theme and tokens, values that would inject CSS.
    let (status, _) = kim
        .api(
            reqwest::Method::PUT,
            "/api/v1/admin/theme",
            Some(&json!({ "theme": "dark" })),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let unknown = app
        .put("/api/v1/admin/theme", &json!({ "theme": "neon" }))
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.body["error"]["details"][0]["field"], "theme");
    let injected = app.put("/api/v1/admin/theme", &json!({ "tokens": { "color_bg": "#fff;}body{display:none", "radius": "99px", "glow": "1" } })).await;
    assert_eq!(injected.status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = injected.body["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["tokens.color_bg", "tokens.glow", "tokens.radius"]);
    let bad_body = app
        .raw(
            reqwest::Method::PUT,
            "/api/v1/admin/theme",
            b"{\"theme\":".to_vec(),
            Some("application/json"),
            &[],
        )
        .await;
    assert_eq!(bad_body.status, StatusCode::BAD_REQUEST);

    // Bad templates are refused with the error; nothing is saved.
    let syntax = app.put("/api/v1/admin/theme/templates", &json!({ "name": "home.html", "source": "{% extends \"layout.html\" %}{% block content %}{% if %}{% endblock %}" })).await;
    assert_eq!(syntax.status, StatusCode::UNPROCESSABLE_ENTITY);
    let message = syntax.body["error"]["details"][0]["message"]
        .as_str()
        .unwrap();
    assert!(message.contains("home.html:1"), "{message}");
    let failing = app
        .put(
            "/api/v1/admin/theme/templates",
            &json!({ "name": "record.html", "source": "{{ record.title | no_such_filter }}" }),
        )
        .await;
    assert_eq!(
        failing.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        failing.body
    );
    let unknown_template = app
        .put(
            "/api/v1/admin/theme/templates",
            &json!({ "name": "../etc/passwd", "source": "x" }),
        )
        .await;
    assert_eq!(unknown_template.status, StatusCode::UNPROCESSABLE_ENTITY);
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let not_png = app
        .raw(
            reqwest::Method::PUT,
            "/api/v1/admin/theme/logo",
            b"GIF89a".to_vec(),
            Some("image/png"),
            &[],
        )
        .await;
    assert_eq!(not_png.status, StatusCode::UNPROCESSABLE_ENTITY);
    let wrong_type = app
        .raw(
            reqwest::Method::PUT,
            "/api/v1/admin/theme/logo",
            png.clone(),
            Some("text/html"),
            &[],
        )
        .await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(app.digest().await, digest, "refused changes store nothing");
    assert!(sam.get("/").await.html.contains("Good to see you"));

    // Accepted: tokens reach /theme.css, the dark theme its static files, the logo its URL.
    let tokens = app
        .put(
            "/api/v1/admin/theme",
            &json!({ "tokens": { "color_primary": "#7a1fa2", "density": "compact" } }),
        )
        .await;
    assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
    let own_bg = theme.body["data"]["tokens"]["color_bg"].clone();
    let same = app
        .put(
            "/api/v1/admin/theme",
            &json!({ "tokens": { "color_bg": own_bg } }),
        )
        .await;
    assert_eq!(
        same.body["data"]["changed"],
        json!({ "color_primary": "#7a1fa2", "density": "compact" }),
        "a token set to the theme's own value is no change"
    );
    let css = sam.get("/theme.css").await;
    assert!(
        css.html.contains("--color-primary:#7a1fa2;") && css.html.contains("--space:6px;"),
        "{}",
        css.html
    );
    assert!(
        css.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
    let dark = app
        .put("/api/v1/admin/theme", &json!({ "theme": "dark" }))
        .await;
    assert_eq!(dark.status, StatusCode::OK);
    let home = sam.get("/").await;
    assert!(
        home.html.contains("&#x2f;static&#x2f;dark&#x2f;kith.css")
            || home.html.contains("/static/dark/kith.css"),
        "{}",
        &home.html[..600]
    );
    assert!(
        sam.get("/theme.css")
            .await
            .html
            .contains("color-scheme:dark")
    );
    let stylesheet = sam.get("/static/dark/kith.css").await;
    assert_eq!(
        stylesheet.status,
        StatusCode::OK,
        "the dark theme falls back to default's stylesheet"
    );
    assert!(
        stylesheet.html.len() < 50 * 1024,
        "the stylesheet stays under 50 KB"
    );
    let logo = app
        .raw(
            reqwest::Method::PUT,
            "/api/v1/admin/theme/logo",
            png.clone(),
            Some("image/png"),
            &[],
        )
        .await;
    assert_eq!(logo.status, StatusCode::OK, "{}", logo.body);
    let logo_url = logo.body["data"]["logo_url"].as_str().unwrap().to_owned();
    let served = sam.get(&logo_url).await;
    assert_eq!(served.status, StatusCode::OK);
    assert_eq!(served.headers["content-type"], "image/png");
    assert!(
        served.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );

    // A good override shows at once; removing it restores the theme's template.
    let custom = app.put("/api/v1/admin/theme/templates", &json!({ "name": "home.html", "source": "{% extends \"layout.html\" %}{% block content %}<p class=\"welcome\">Hello {{ user.email }}, {{ tasks|length }} tasks</p>{% endblock %}" })).await;
    assert_eq!(custom.status, StatusCode::OK, "{}", custom.body);
    let home = sam.get("/").await;
    assert!(
        home.html
            .contains("<p class=\"welcome\">Hello sam@acme.test, 0 tasks</p>"),
        "{}",
        home.html
    );
    let removed = app.delete("/api/v1/admin/theme/templates/home.html").await;
    assert_eq!(removed.status, StatusCode::NO_CONTENT);
    assert!(sam.get("/").await.html.contains("Good to see you"));
    assert_eq!(
        app.delete("/api/v1/admin/theme/templates/home.html")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let audit = app.get("/api/v1/audit?action=theme_changed").await;
    assert!(
        audit.data().len() >= 5,
        "theme changes are audited: {}",
        audit.body
    );
}

on_both! {
    async fn the_sales_board_shows_one_pipeline_at_a_time_and_record_pages_run_actions(app: TestApp) {
        crate::plugins::install(&app, "sales").await;
        assert_eq!(crate::plugins::enable(&app, "sales", json!({})).await.status, StatusCode::OK);
        user(&app, "sam@acme.test", "admin").await;
        let sam = Session::login(&app, "sam@acme.test").await;

        let sales = app.all("pipelines", "").await.remove(0);
        let enterprise = app.create("pipelines", json!({ "name": "Enterprise" })).await;
        let (sales_id, enterprise_id) = (id_of(&sales), id_of(&enterprise));
        // Stages listed out of order: the board follows `position`.
        let review = app.create("stages", json!({ "name": "Security review", "pipeline": enterprise_id, "position": 2, "probability": 60, "outcome": "open" })).await;
        let pitch = app.create("stages", json!({ "name": "Pitch", "pipeline": enterprise_id, "position": 1, "probability": 30, "outcome": "open" })).await;
        let big = app.create("deals", json!({ "name": "Big rollout", "pipeline": enterprise_id, "stage": id_of(&pitch) })).await;
        app.create("deals", json!({ "name": "Small renewal" })).await;

        // The first pipeline by default, with its own stages as columns and its deals only.
        let board = sam.get("/records/deals/board?field=stage").await;
        assert_eq!(board.status, StatusCode::OK, "{}", board.html);
        assert!(board.html.contains("Qualification") && board.html.contains("Small renewal"), "{}", board.html);
        assert!(!board.html.contains("Big rollout") && !board.html.contains("Security review"));
        assert!(board.html.contains(&format!("scope={enterprise_id}")), "the other pipeline is one click away");

        let board = sam.get(&format!("/records/deals/board?field=stage&scope={enterprise_id}")).await;
        let (at_pitch, at_review) = (board.html.find(">Pitch<").unwrap(), board.html.find(">Security review<").unwrap());
        assert!(at_pitch < at_review, "columns in position order");
        assert!(board.html.contains("Big rollout") && !board.html.contains("Small renewal"));

        // A move goes through the plugin's rules, and back to the pipeline's board.
        let big_id = id_of(&big);
        let back = format!("/records/deals/board?field=stage&scope={enterprise_id}");
        let moved = sam.post(&format!("/records/deals/{big_id}/set"), &[("field", "stage"), ("value", &id_of(&review)), ("version", "1"), ("back", &back)]).await;
        assert_eq!(moved.location.as_deref(), Some(back.as_str()));
        let after = app.get(&format!("/api/v1/deals/{big_id}")).await.body;
        assert_eq!((after["stage"].as_str(), after["probability"].as_i64()), (Some(id_of(&review).as_str()), Some(60)));
        // The deal's form offers its pipeline's stages only, in position order.
        let form = sam.get(&format!("/records/deals/{big_id}/edit")).await;
        let (pitch_at, review_at) = (form.html.find(">Pitch</option>").unwrap(), form.html.find(">Security review</option>").unwrap());
        assert!(pitch_at < review_at && !form.html.contains(">Qualification</option>"), "{}", form.html);
        // A stage of another pipeline is refused by the plugin and nothing changes.
        let first_sales_stage = app.all("stages", &format!("filter=pipeline[eq]:{sales_id}&sort=position")).await.remove(0);
        let refused = sam.post(&format!("/records/deals/{big_id}/set"), &[("field", "stage"), ("value", &id_of(&first_sales_stage)), ("version", "2")]).await;
        assert_eq!(refused.status, StatusCode::SEE_OTHER);
        assert!(refused.headers.get_all(SET_COOKIE).iter().any(|c| c.to_str().unwrap().starts_with("kith_flash=error")));
        assert_eq!(app.get(&format!("/api/v1/deals/{big_id}")).await.body["version"], 2);

        // A lead's page offers Convert; pressing it converts, pressing it again is refused.
        let lead = app.create("leads", json!({ "first_name": "Grace", "last_name": "Hopper", "email": "grace@navy.example", "company_name": "Navy" })).await;
        let lead_url = format!("/records/leads/{}", id_of(&lead));
        let page = sam.get(&lead_url).await;
        let convert = format!("{lead_url}/actions/sales/convert");
        assert!(page.html.contains(&convert.replace('/', "&#x2f;")) && page.html.contains("Convert lead"), "{}", page.html);
        let done = sam.post(&convert, &[]).await;
        assert_eq!(done.location.as_deref(), Some(lead_url.as_str()));
        let converted = app.get(&format!("/api/v1/leads/{}", id_of(&lead))).await.body;
        assert_eq!(converted["status"], "converted", "{converted}");
        let contact = app.get(&format!("/api/v1/contacts/{}", converted["converted_contact"].as_str().unwrap())).await;
        assert_eq!(contact.body["last_name"], "Hopper");
        let again = sam.post(&convert, &[]).await;
        let notice = again.headers.get_all(SET_COOKIE).iter().map(|c| c.to_str().unwrap().to_owned()).find(|c| c.starts_with("kith_flash=")).unwrap();
        assert!(notice.starts_with("kith_flash=error") && notice.contains("not+offered"), "{notice}");
        assert!(!sam.get(&lead_url).await.html.contains("Convert lead"), "no Convert once converted");
        let forged = sam.post_raw(&convert, &[]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "no CSRF token, no action");
    }
}

on_both! {
    async fn converting_a_lead_asks_with_the_matching_company_and_trusts_no_forged_answer(app: TestApp) {
        crate::plugins::install(&app, "sales").await;
        assert_eq!(crate::plugins::enable(&app, "sales", json!({})).await.status, StatusCode::OK);
        user(&app, "sam@acme.test", "admin").await;
        let sam = Session::login(&app, "sam@acme.test").await;
        let acme = id_of(&app.create("companies", json!({ "name": "Acme", "domain": "acme.example" })).await);
        let companies = app.all("companies", "").await.len();
        let lead = app.create("leads", json!({ "first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.example", "company_name": "ACME Corporation", "status": "qualified", "expected_amount": { "amount": "5000", "currency": "EUR" } })).await;
        let lead_url = format!("/records/leads/{}", id_of(&lead));
        let convert = format!("{lead_url}/actions/sales/convert");

        // The dialog (a page of its own without JavaScript) starts from the company with the
        // lead's email domain, a deal named after it, in the default pipeline.
        let dialog = sam.get(&convert).await;
        assert_eq!(dialog.status, StatusCode::OK, "{}", dialog.html);
        assert!(dialog.html.contains(&format!("<option value=\"{acme}\" selected>Acme</option>")), "{}", dialog.html);
        assert!(dialog.html.contains("value=\"Acme deal\""), "{}", dialog.html);
        let pipeline = app.all("pipelines", "").await.remove(0);
        let stages = app.all("stages", &format!("filter=pipeline[eq]:{}&sort=position", id_of(&pipeline))).await;
        assert!(dialog.html.contains(&format!("<option value=\"{}\" selected>", id_of(&pipeline))), "the default pipeline");

        // Forged answers are refused in the dialog and change nothing: another workspace's
        // company, an id that is no company.
        let other = app.user("other", "admin@other.test", "admin").await;
        let theirs = id_of(&app.request(reqwest::Method::POST, "/api/v1/companies", Some(&json!({ "name": "Theirs" })), Some(&other), &[]).await.body);
        for forged in [theirs.as_str(), "not-an-id"] {
            let refused = sam.post(&convert, &[("company", forged), ("create_deal", "false"), ("create_deal", "true"), ("deal_name", "Stolen"), ("pipeline", &id_of(&pipeline))]).await;
            assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", refused.html);
            assert!(refused.html.contains("no company") && refused.html.contains("value=\"Stolen\""), "the error, and what was typed: {}", refused.html);
        }
        assert_eq!(app.get(&format!("/api/v1/leads/{}", id_of(&lead))).await.body["status"], "qualified");
        assert!(app.all("contacts", "").await.is_empty() && app.all("deals", "").await.is_empty(), "nothing was made");

        // The answers as chosen: the existing company, the deal named, in the second stage.
        let done = sam.post(&convert, &[("company", &acme), ("create_deal", "false"), ("create_deal", "true"), ("deal_name", "Acme renewal"), ("pipeline", &id_of(&pipeline)), ("stage", &id_of(&stages[1]))]).await;
        assert_eq!(done.location.as_deref(), Some(lead_url.as_str()), "{}", done.html);
        let converted = app.get(&format!("/api/v1/leads/{}", id_of(&lead))).await.body;
        assert_eq!((converted["status"].as_str(), converted["converted_company"].as_str()), (Some("converted"), Some(acme.as_str())));
        let deal = app.get(&format!("/api/v1/deals/{}", converted["converted_deal"].as_str().unwrap())).await.body;
        assert_eq!((deal["name"].as_str(), deal["stage"].as_str(), deal["company"].as_str()), (Some("Acme renewal"), Some(id_of(&stages[1]).as_str()), Some(acme.as_str())));
        assert_eq!(app.all("companies", "").await.len(), companies, "no second Acme");
        // Converted: the page links what it became instead of offering Convert again.
        let page = sam.get(&lead_url).await.html;
        assert!(!page.contains("Convert lead") && page.contains("Acme renewal") && page.contains("Ada Lovelace"), "{page}");
        assert_eq!(sam.get(&convert).await.status, StatusCode::SEE_OTHER, "the dialog is not offered again");

        // A disqualified lead is offered no conversion; skipping the deal makes none.
        let cold = app.create("leads", json!({ "last_name": "Cold", "status": "disqualified" })).await;
        assert!(!sam.get(&format!("/records/leads/{}", id_of(&cold))).await.html.contains("Convert lead"));
        let warm = app.create("leads", json!({ "last_name": "Warm", "company_name": "Warm Ltd", "status": "new" })).await;
        let warm_convert = format!("/records/leads/{}/actions/sales/convert", id_of(&warm));
        let skipped = sam.post(&warm_convert, &[("company", ""), ("create_deal", "false"), ("deal_name", "")]).await;
        assert_eq!(skipped.status, StatusCode::SEE_OTHER, "{}", skipped.html);
        let warm = app.get(&format!("/api/v1/leads/{}", id_of(&warm))).await.body;
        assert!(warm["converted_deal"].is_null() && warm["converted_company"].is_string(), "{warm}");
        let made = app.get(&format!("/api/v1/companies/{}", warm["converted_company"].as_str().unwrap())).await.body;
        assert_eq!(made["name"], "Warm Ltd", "an emptied company creates one from the lead");
    }
}

on_both! {
    async fn tag_filters_match_any_all_or_none_and_suggest_only_readable_tags(app: TestApp) {
        let role = json!({
            "name": "own",
            "types": { "*": { "create": "all", "read": "all", "edit": "all", "delete": "all" }, "contact": { "create": "all", "read": "own", "edit": "own", "delete": "own" } },
        });
        app.save_role("own", &role).await;
        user(&app, "sam@acme.test", "admin").await;
        user(&app, "olly@acme.test", "own").await;
        for (name, tags) in [("Avery", json!(["vip", "partner"])), ("Blake", json!(["vip"])), ("Casey", json!(["partner", "<b>bold</b>"])), ("Drew", json!([]))] {
            app.create("contacts", json!({ "last_name": name, "tags": tags })).await;
        }
        let other = app.user("other", "admin@other.test", "admin").await;
        let theirs = app.request(reqwest::Method::POST, "/api/v1/contacts", Some(&json!({ "last_name": "Foreign", "tags": ["foreign"] })), Some(&other), &[]).await;
        assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.body);
        let sam = Session::login(&app, "sam@acme.test").await;
        let olly = Session::login(&app, "olly@acme.test").await;
        let (made, _) = olly.api(reqwest::Method::POST, "/api/v1/contacts", Some(&json!({ "last_name": "Olly's", "tags": ["olly-only"] }))).await;
        assert_eq!(made, StatusCode::CREATED);

        let shown = |html: &str| ["Avery", "Blake", "Casey", "Drew", "Olly&#x27;s"].iter().filter(|n| html.contains(&format!(">{n}<"))).map(|n| n.to_string()).collect::<Vec<_>>();
        for (op, value, expected) in [
            ("has_any", "vip, partner", vec!["Avery", "Blake", "Casey"]),
            ("has_all", "vip,partner", vec!["Avery"]),
            ("has_none", "vip", vec!["Casey", "Drew", "Olly&#x27;s"]),
            ("has_any", "<b>bold</b>", vec!["Casey"]),
        ] {
            let page = sam.get(&format!("/records/contacts?{}", form(&[("f", "tags"), ("op", op), ("v", value)]))).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.html);
            assert_eq!(shown(&page.html), expected, "{op} {value}");
        }
        // An empty list is a clear error on the page, not a 500.
        let empty = sam.get("/records/contacts?f=tags&op=has_any&v=%2C").await;
        assert_eq!(empty.status, StatusCode::OK);
        assert!(empty.html.contains("alert error"), "{}", empty.html);

        // Suggestions: the workspace's tags the reader may read, what was typed first.
        let values = |body: &Value| body["data"].as_array().unwrap().iter().map(|v| v["title"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
        let (status, all) = sam.api(reqwest::Method::GET, "/records/contacts/values/tags?q=", None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(values(&all), ["<b>bold</b>", "olly-only", "partner", "vip"], "never another workspace's");
        let (_, typed) = sam.api(reqwest::Method::GET, "/records/contacts/values/tags?q=P", None).await;
        assert_eq!(values(&typed), ["partner", "vip"], "starting with it, then containing it");
        let (_, own) = olly.api(reqwest::Method::GET, "/records/contacts/values/tags?q=", None).await;
        assert_eq!(values(&own), ["olly-only"], "only the tags of records Olly may read");
        // Not a tags field, a type that is not there.
        assert_eq!(sam.api(reqwest::Method::GET, "/records/contacts/values/last_name", None).await.0, StatusCode::BAD_REQUEST);
        assert_eq!(sam.api(reqwest::Method::GET, "/records/nothing/values/tags", None).await.0, StatusCode::NOT_FOUND);
    }
}

on_both! {
    async fn the_picker_finds_readable_records_by_name_with_a_second_line(app: TestApp) {
        let role = json!({
            "name": "discreet",
            "types": { "*": { "create": "all", "read": "all", "edit": "all", "delete": "all" }, "company": { "read": "none" } },
            "fields": { "contact": { "email": { "read": false } } },
        });
        app.save_role("discreet", &role).await;
        user(&app, "sam@acme.test", "admin").await;
        user(&app, "dee@acme.test", "discreet").await;
        let acme = app.create("companies", json!({ "name": "Acme Corp", "domain": "acme.example" })).await;
        app.create("companies", json!({ "name": "Globex", "domain": "globex.example" })).await;
        app.create("companies", json!({ "name": "<img src=x onerror=alert(1)> Hack" })).await;
        let acme_id = id_of(&acme);
        app.create("contacts", json!({ "first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.example", "company": acme_id })).await;
        // Another workspace's company of the same name.
        let other = app.user("other", "admin@other.test", "admin").await;
        let theirs = app.request(reqwest::Method::POST, "/api/v1/companies", Some(&json!({ "name": "Acme Other" })), Some(&other), &[]).await;
        assert_eq!(theirs.status, StatusCode::CREATED, "{}", theirs.body);
        crate::plugins::eventually("the index to have the records", || async {
            app.get("/api/v1/search?q=ada&types=contacts").await.data().len() == 1
                && app.get("/api/v1/search?q=acme&types=companies").await.data().len() == 1
        })
        .await;

        let sam = Session::login(&app, "sam@acme.test").await;
        let dee = Session::login(&app, "dee@acme.test").await;
        let shown = |body: &Value| -> Vec<(String, Value)> {
            body["data"].as_array().unwrap().iter().map(|r| (r["title"].as_str().unwrap().to_owned(), r["detail"].clone())).collect()
        };

        // Typed: found by the index, this workspace only, with the domain as the second line.
        let (status, found) = pick(&sam, "/records/companies/pick?q=acm").await;
        assert_eq!(status, StatusCode::OK, "{found}");
        assert_eq!(shown(&found), vec![("Acme Corp".to_owned(), json!("acme.example"))]);
        assert_eq!(found["data"][0]["id"], acme_id.as_str());
        // Nothing typed: the first records in the type's order; a title with markup is data.
        let (_, first) = pick(&sam, "/records/companies/pick?q=").await;
        let mut titles: Vec<String> = shown(&first).into_iter().map(|(t, _)| t).collect();
        titles.sort();
        assert_eq!(titles, ["<img src=x onerror=alert(1)> Hack", "Acme Corp", "Globex"]);
        let (_, ada) = pick(&sam, "/records/contacts/pick?q=lovelace").await;
        assert_eq!(shown(&ada), vec![("Ada Lovelace".to_owned(), json!("ada@acme.example"))]);

        // A role that may not see emails gets no email as the second line, and cannot find
        // the contact by it; one that may not read companies gets no company picker.
        let (_, hidden) = pick(&dee, "/records/contacts/pick?q=lovelace").await;
        assert_eq!(shown(&hidden), vec![("Ada Lovelace".to_owned(), Value::Null)]);
        let (_, by_email) = pick(&dee, "/records/contacts/pick?q=ada%40acme.example").await;
        assert!(shown(&by_email).is_empty(), "{by_email}");
        let (status, refused) = pick(&dee, "/records/companies/pick?q=acme").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
        assert!(refused["error"]["message"].is_string(), "{refused}");
        let (status, _) = pick(&sam, "/records/nonsense/pick?q=a").await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // The controls that use it: the form's reference (with "create" where a name is all a
        // company needs), the record page's inline edit, the list filter on a reference.
        let form = sam.get("/records/contacts/new").await.html;
        assert!(form.contains(r#"data-picker="companies" data-create="name""#), "{form}");
        assert!(!dee.get("/records/contacts/new").await.html.contains("data-picker=\"companies\""));
        let contact = app.all("contacts", "").await.remove(0);
        let page = sam.get(&format!("/records/contacts/{}", id_of(&contact))).await.html;
        assert!(page.contains(r#"data-target="companies""#) && page.contains("Acme Corp"), "{page}");
        let list = sam.get(&format!("/records/contacts?f=company&op=eq&v={acme_id}")).await.html;
        assert!(list.contains(r#"data-picker="companies""#) && list.contains("Lovelace"), "{list}");
        assert!(list.contains("&quot;Acme Corp&quot;"), "the condition's record by its title: {list}");
    }
}

on_both! {
    async fn one_field_forms_set_only_editable_fields_and_return_only_to_this_site(app: TestApp) {
        user(&app, "sam@acme.test", "admin").await;
        let sam = Session::login(&app, "sam@acme.test").await;
        let task = app.create("activities", json!({ "kind": "task", "subject": "Call back" })).await;
        let id = id_of(&task);
        let set = format!("/records/activities/{id}/set");
        let api = format!("/api/v1/activities/{id}");
        let flash_of = |page: &Page| page.headers.get_all(SET_COOKIE).iter().filter_map(|c| c.to_str().ok()).find(|c| c.starts_with("kith_flash=")).map(str::to_owned).unwrap_or_default();

        // Done in one post; the way back is a path on this site or the record.
        let done = sam.post(&set, &[("field", "done"), ("value", "true"), ("version", "1"), ("back", "https://evil.example/x")]).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
        assert_eq!(done.location.as_deref(), Some(format!("/records/activities/{id}").as_str()));
        assert_eq!(app.get(&api).await.body["done"], true);
        for back in ["//evil.example/x", "/\\evil.example", "/x\r\nSet-Cookie: kith_session=stolen"] {
            let again = sam.post(&set, &[("field", "done"), ("value", "false"), ("back", back)]).await;
            assert_eq!(again.location.as_deref(), Some(format!("/records/activities/{id}").as_str()), "{back}");
        }
        let home = sam.post(&set, &[("field", "done"), ("value", "true"), ("back", "/")]).await;
        assert_eq!(home.location.as_deref(), Some("/"));

        // Refused, with nothing changed: an unknown or read-only field, a bad value, a stale
        // version, a record of another workspace.
        let before = app.get(&api).await.body;
        for field in ["nonsense", "created_at", "id"] {
            let refused = sam.post(&set, &[("field", field), ("value", "x")]).await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{field}: {}", refused.html);
        }
        let bad = sam.post(&set, &[("field", "due_at"), ("value", "next tuesday"), ("back", "/")]).await;
        assert!(flash_of(&bad).starts_with("kith_flash=error"), "{:?}", flash_of(&bad));
        let stale = sam.post(&set, &[("field", "subject"), ("value", "Changed"), ("version", "1"), ("back", "/")]).await;
        assert!(flash_of(&stale).starts_with("kith_flash=error"), "a stale version is refused");
        assert_eq!(app.get(&api).await.body, before);
        let other = app.user("other", "admin@other.test", "admin").await;
        let theirs = app.request(reqwest::Method::POST, "/api/v1/activities", Some(&json!({ "kind": "task", "subject": "Theirs" })), Some(&other), &[]).await;
        let foreign = sam.post(&format!("/records/activities/{}/set", theirs.body["id"].as_str().unwrap()), &[("field", "done"), ("value", "true")]).await;
        assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    }
}

/// A JSON answer of a page route, as the session sees it.
async fn pick(session: &Session<'_>, path: &str) -> (StatusCode, Value) {
    let page = session.get(path).await;
    (
        page.status,
        serde_json::from_str(&page.html).unwrap_or(Value::Null),
    )
}

on_both! {
    async fn a_company_timeline_rolls_up_its_contacts_activities_by_kind(app: TestApp) {
        user(&app, "sam@acme.test", "admin").await;
        let sam = Session::login(&app, "sam@acme.test").await;
        let company = app.create("companies", json!({ "name": "Acme Corp" })).await;
        let company_id = id_of(&company);
        let ada = app.create("contacts", json!({ "first_name": "Ada", "last_name": "Lovelace", "company": company_id })).await;
        let other = app.create("contacts", json!({ "first_name": "Bob", "last_name": "Elsewhere" })).await;
        app.create("activities", json!({ "kind": "note", "subject": "Company kickoff", "links": [company_id] })).await;
        app.create("activities", json!({ "kind": "task", "subject": "Call Ada about renewal", "links": [id_of(&ada)] })).await;
        app.create("activities", json!({ "kind": "note", "subject": "Bob's unrelated note", "links": [id_of(&other)] })).await;

        let page = sam.get(&format!("/records/companies/{company_id}")).await.html;
        assert!(page.contains("Company kickoff") && page.contains("Call Ada about renewal"), "rolled up: {page}");
        assert!(!page.contains("unrelated note"), "only this company's people");
        assert!(page.contains(&format!("on <a href=\"&#x2f;records&#x2f;contacts&#x2f;{}\">Ada Lovelace</a>", id_of(&ada))), "whose activity it is: {page}");
        let tasks = sam.get(&format!("/records/companies/{company_id}?kind=task")).await.html;
        assert!(tasks.contains("Call Ada about renewal") && !tasks.contains("Company kickoff"), "one kind");
        // A made-up kind is ignored, not an error.
        assert_eq!(sam.get(&format!("/records/companies/{company_id}?kind=%3Cscript%3E")).await.status, StatusCode::OK);
        // Quick-add from the company: the new contact form comes with the company chosen.
        assert!(page.contains(&format!("&#x2f;records&#x2f;contacts&#x2f;new?company={company_id}")), "{page}");
        let form = sam.get(&format!("/records/contacts/new?company={company_id}")).await.html;
        assert!(form.contains(&format!("<option value=\"{company_id}\" selected>Acme Corp</option>")), "{form}");
    }
}

on_both! {
    async fn a_new_contact_with_a_known_email_is_asked_about_not_silently_duplicated(app: TestApp) {
        let role = json!({
            "name": "own_contacts",
            "types": { "*": { "create": "all", "read": "all", "edit": "all", "delete": "all" }, "contact": { "create": "all", "read": "own", "edit": "own", "delete": "own" } },
        });
        app.save_role("own_contacts", &role).await;
        user(&app, "sam@acme.test", "admin").await;
        user(&app, "olga@acme.test", "own_contacts").await;
        let sam = Session::login(&app, "sam@acme.test").await;
        let olga = Session::login(&app, "olga@acme.test").await;
        let ada = app.create("contacts", json!({ "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com" })).await;

        // The same email, typed differently: the form comes back with a link to the one that
        // exists, and nothing is created.
        let fields = [("first_name", "Ada"), ("last_name", "L."), ("email", "ADA@example.com")];
        let asked = sam.post("/records/contacts/new", &fields).await;
        assert_eq!(asked.status, StatusCode::CONFLICT, "{}", asked.html);
        assert!(asked.html.contains(&format!("&#x2f;records&#x2f;contacts&#x2f;{}", id_of(&ada))) && asked.html.contains("already exists"), "{}", asked.html);
        assert!(asked.html.contains("value=\"L.\""), "what was typed is kept");
        assert_eq!(app.all("contacts", "").await.len(), 1);
        // Creating anyway is the person's choice.
        let mut anyway = fields.to_vec();
        anyway.push(("_duplicate_ok", "1"));
        assert_eq!(sam.post("/records/contacts/new", &anyway).await.status, StatusCode::SEE_OTHER);
        assert_eq!(app.all("contacts", "").await.len(), 2);
        // Someone who may not read those contacts is not told they exist.
        let unseen = olga.post("/records/contacts/new", &[("last_name", "Mine"), ("email", "ada@example.com")]).await;
        assert_eq!(unseen.status, StatusCode::SEE_OTHER, "{}", unseen.html);
        // The list counts what the reader may see.
        assert!(sam.get("/records/contacts").await.html.contains("3 contacts"));
        assert!(olga.get("/records/contacts").await.html.contains("1 contact<"));
    }
}

on_both! {
    async fn bulk_actions_change_only_the_ticked_records_the_reader_may_change(app: TestApp) {
        let role = json!({
            "name": "own_contacts",
            "types": { "*": { "create": "all", "read": "all", "edit": "all", "delete": "all" }, "contact": { "create": "all", "read": "all", "edit": "own", "delete": "own" } },
        });
        app.save_role("own_contacts", &role).await;
        let kind = json!({ "name": "kind", "type": "select", "options": [{ "value": "lead" }, { "value": "customer" }, { "value": "partner" }] });
        let added = app.post("/api/v1/meta/entities/contacts/fields", &kind).await;
        assert!(added.status.is_success(), "{}", added.body);
        user(&app, "sam@acme.test", "admin").await;
        user(&app, "olga@acme.test", "own_contacts").await;
        let sam = Session::login(&app, "sam@acme.test").await;
        let olga = Session::login(&app, "olga@acme.test").await;
        let mut ids = Vec::new();
        for name in ["Ada", "Grace", "=HYPERLINK(\"http://evil.example\")"] {
            ids.push(id_of(&app.create("contacts", json!({ "first_name": name, "last_name": "Bulk", "kind": "lead" })).await));
        }
        let flash_of = |page: &Page| page.headers.get_all(SET_COOKIE).iter().filter_map(|c| c.to_str().ok()).find(|c| c.starts_with("kith_flash=")).map(str::to_owned).unwrap_or_default();
        let list = sam.get("/records/contacts").await.html;
        assert!(list.contains("value=\"kind:customer\"") && list.contains("form=\"bulk\""), "{list}");

        // Set a choice field on two of three.
        let set = sam.post("/records/contacts/bulk", &[("action", "set"), ("set", "kind:customer"), ("ids", &ids[0]), ("ids", &ids[1]), ("state", "sort=first_name")]).await;
        assert_eq!(set.location.as_deref(), Some("/records/contacts?sort=first_name"));
        assert!(flash_of(&set).starts_with("kith_flash=success"), "{}", flash_of(&set));
        let kinds: Vec<Value> = futures_kinds(&app, &ids).await;
        assert_eq!(kinds, [json!("customer"), json!("customer"), json!("lead")]);

        // Export: only the ticked, references by title, no formula left live.
        let export = sam.post("/records/contacts/bulk", &[("action", "export"), ("ids", &ids[0]), ("ids", &ids[2])]).await;
        assert_eq!(export.status, StatusCode::OK);
        assert!(export.headers[CONTENT_TYPE].to_str().unwrap().starts_with("text/csv"));
        assert_eq!(export.html.lines().count(), 3, "{}", export.html);
        assert!(export.html.contains("'=HYPERLINK") && !export.html.contains(",=HYPERLINK"), "{}", export.html);
        assert!(!export.html.contains("Grace"));

        // Someone who may change only their own: the others are reported, not changed.
        let theirs = id_of(&app.request(reqwest::Method::POST, "/api/v1/contacts", Some(&json!({ "last_name": "Olga's" })), Some(&olga_token(&app).await), &[]).await.body);
        let mixed = olga.post("/records/contacts/bulk", &[("action", "set"), ("set", "kind:partner"), ("ids", &ids[2]), ("ids", &theirs)]).await;
        assert!(flash_of(&mixed).starts_with("kith_flash=error"), "{}", flash_of(&mixed));
        assert_eq!(futures_kinds(&app, &ids).await[2], json!("lead"));
        assert_eq!(app.get(&format!("/api/v1/contacts/{theirs}")).await.body["kind"], "partner");

        // Refused outright: no CSRF token, nothing ticked, an unknown action, a field that is
        // not a choice, another workspace's record.
        assert_eq!(sam.post_raw("/records/contacts/bulk", &[("action", "delete"), ("ids", &ids[0])]).await.status, StatusCode::FORBIDDEN);
        assert!(flash_of(&sam.post("/records/contacts/bulk", &[("action", "delete")]).await).starts_with("kith_flash=error"));
        assert_eq!(sam.post("/records/contacts/bulk", &[("action", "explode"), ("ids", &ids[0])]).await.status, StatusCode::BAD_REQUEST);
        assert!(flash_of(&sam.post("/records/contacts/bulk", &[("action", "set"), ("set", "created_at:2020-01-01"), ("ids", &ids[0])]).await).starts_with("kith_flash=error"));
        let other = app.user("other", "admin@other.test", "admin").await;
        let foreign = id_of(&app.request(reqwest::Method::POST, "/api/v1/contacts", Some(&json!({ "last_name": "Foreign" })), Some(&other), &[]).await.body);
        let deleted = sam.post("/records/contacts/bulk", &[("action", "delete"), ("ids", &ids[0]), ("ids", &foreign)]).await;
        assert!(flash_of(&deleted).starts_with("kith_flash=error"), "the foreign one is reported");
        assert_eq!(app.request(reqwest::Method::GET, &format!("/api/v1/contacts/{foreign}"), None, Some(&other), &[]).await.status, StatusCode::OK);
        assert_eq!(app.get(&format!("/api/v1/contacts/{}", ids[0])).await.status, StatusCode::NOT_FOUND, "the ticked one is in the trash");
    }
}

async fn futures_kinds(app: &TestApp, ids: &[String]) -> Vec<Value> {
    let mut kinds = Vec::new();
    for id in ids {
        kinds.push(app.get(&format!("/api/v1/contacts/{id}")).await.body["kind"].clone());
    }
    kinds
}

async fn olga_token(app: &TestApp) -> String {
    host::auth::create_token(&app.state.db, "olga@acme.test", "acme", "test")
        .await
        .expect("token")
}
