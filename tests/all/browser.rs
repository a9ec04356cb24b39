//! The web UI in a real headless browser: Debian's chromium, driven over WebDriver through
//! chromedriver (both installed by `cargo xtask test`), against a real server. Every step saves
//! a screenshot under `target/browser-artifacts/`.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::actions::{
    InputSource, KeyAction, KeyActions, MOUSE_BUTTON_LEFT, MouseActions, PointerAction,
};
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Backend, TestApp};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long a step waits for the page before it fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// Whether the browser tests can run: outside CI they are skipped without a browser; CI must
/// have one.
pub(crate) fn browser_available() -> bool {
    if Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must have {CHROMIUM} and {CHROMEDRIVER} for the browser tests: \
         `cargo xtask test` installs them (Debian's chromium and chromium-driver)"
    );
    eprintln!(
        "note: {CHROMIUM} or {CHROMEDRIVER} is missing: browser tests skipped \
         (`cargo xtask test` installs them)"
    );
    false
}

/// Where a test's screenshots go: `<target dir>/browser-artifacts/<test>`, emptied of a
/// previous run's.
fn artifacts_dir(test: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
            manifest.parent().unwrap_or(manifest).join("target")
        });
    let dir = target.join("browser-artifacts").join(test);
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).expect("browser artifacts dir");
    dir
}

/// A chromedriver process on a free local port, killed on drop.
pub(crate) struct Driver {
    child: Child,
    url: String,
    profile: PathBuf,
}

impl Driver {
    async fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        // A process group of its own, which the browsers it starts join: a failed test
        // that never closes its session still ends them all (see `drop`).
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile: std::env::temp_dir()
                .join(format!("kith-chromium-{}", Uuid::now_v7().simple())),
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let status = client.get(format!("{}/status", driver.url)).send().await;
            if let Ok(response) = status
                && let Ok(body) = response.json::<Value>().await
                && body["value"]["ready"] == true
            {
                return driver;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on {}/status",
                driver.url
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A browser session: headless chromium with a fresh profile, console logs kept.
    async fn session(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", self.profile.display()),
                ],
            }),
        );
        caps.insert("goog:loggingPrefs".to_owned(), json!({ "browser": "ALL" }));
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("no browser session from chromedriver at {}: {e}", self.url))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver and the browsers it started: TERM lets chromium take its helpers
        // (crash handlers in sessions of their own) down with it.
        let group = format!("-{}", self.child.id());
        for signal in ["-TERM", "-KILL"] {
            Command::new("kill")
                .args([signal, "--", &group])
                .stderr(Stdio::null())
                .status()
                .ok();
            std::thread::sleep(Duration::from_millis(200));
        }
        self.child.wait().ok();
        std::fs::remove_dir_all(&self.profile).ok();
    }
}

/// A browser session over a test server, numbering the steps' screenshots.
pub(crate) struct Browser<'a> {
    pub(crate) client: Client,
    app: &'a TestApp,
    driver_url: String,
    artifacts: PathBuf,
    shots: u32,
    step: &'static str,
}

impl Browser<'_> {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.base)
    }

    /// Starts a step: its name prefixes failure messages and names its screenshot.
    pub(crate) fn step(&mut self, name: &'static str) {
        eprintln!("browser step: {name}");
        self.step = name;
    }

    /// Saves `<NN>-<name>.png` under the artifacts folder.
    pub(crate) async fn screenshot(&mut self, name: &str) {
        self.shots += 1;
        let path = self.artifacts.join(format!("{:02}-{name}.png", self.shots));
        match self.client.screenshot().await {
            Ok(png) => std::fs::write(&path, png).expect("write screenshot"),
            Err(e) => eprintln!("no screenshot {}: {e}", path.display()),
        }
    }

    /// The message a failed step panics with, after a screenshot of the page.
    async fn failure(&mut self, what: &str) -> String {
        let name = format!("FAILED-{}", self.step);
        self.screenshot(&name).await;
        let url = self
            .client
            .current_url()
            .await
            .map_or_else(|e| format!("(no URL: {e})"), |u| u.to_string());
        format!(
            "browser step `{}` failed at {url}: {what} (screenshot in {})",
            self.step,
            self.artifacts.display()
        )
    }

    pub(crate) async fn goto(&mut self, path: &str) {
        let url = self.url(path);
        if let Err(e) = self.client.goto(&url).await {
            let message = self.failure(&format!("cannot open {url}: {e}")).await;
            panic!("{message}");
        }
    }

    /// The path of the current page (`/records/contacts/…`), with its query if any.
    async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current URL");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Polls until `check` holds (up to `PATIENCE`), failing the step with `what` otherwise.
    pub(crate) async fn until<F, Fut, T>(&mut self, what: &str, mut check: F) -> T
    where
        F: FnMut(Client) -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(found) = check(self.client.clone()).await {
                return found;
            }
            if Instant::now() > deadline {
                let message = self.failure(&format!("timed out waiting for {what}")).await;
                panic!("{message}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The first element matching a CSS selector, waiting for it to appear.
    pub(crate) async fn wait_for(&mut self, selector: &str) -> Element {
        let what = format!("an element `{selector}`");
        self.until(&what, |client| async move {
            client.find(Locator::Css(selector)).await.ok()
        })
        .await
    }

    /// Waits for the browser to be on `path` (exactly, query included).
    pub(crate) async fn wait_for_path(&mut self, path: &str) {
        let what = format!("the page {path}");
        self.until(&what, |client| async move {
            let url = client.current_url().await.ok()?;
            let here = match url.query() {
                Some(query) => format!("{}?{query}", url.path()),
                None => url.path().to_owned(),
            };
            (here == path).then_some(())
        })
        .await;
    }

    /// Types into the input matching `selector`, replacing what it held.
    pub(crate) async fn fill(&mut self, selector: &str, text: &str) {
        let input = self.wait_for(selector).await;
        let typed = async {
            input.clear().await?;
            input.send_keys(text).await
        };
        if let Err(e) = typed.await {
            let message = self
                .failure(&format!("cannot type into `{selector}`: {e}"))
                .await;
            panic!("{message}");
        }
    }

    pub(crate) async fn click(&mut self, selector: &str) {
        let element = self.wait_for(selector).await;
        if let Err(e) = element.click().await {
            let message = self
                .failure(&format!("cannot click `{selector}`: {e}"))
                .await;
            panic!("{message}");
        }
    }

    pub(crate) async fn text(&mut self, selector: &str) -> String {
        let element = self.wait_for(selector).await;
        element.text().await.unwrap_or_default()
    }

    /// Runs a script in the page and returns its value.
    /// Clicks `selector` (a form's submit button whose script reloads the page on success)
    /// and waits for the new page.
    pub(crate) async fn click_and_reload(&mut self, selector: &str) {
        self.js("window.__kithBefore = true; return null").await;
        self.click(selector).await;
        self.until("the page to reload", |client| async move {
            let fresh = client
                .execute(
                    "return window.__kithBefore !== true && document.readyState === 'complete'",
                    Vec::new(),
                )
                .await
                .ok()?;
            (fresh == true).then_some(())
        })
        .await;
    }

    pub(crate) async fn js(&mut self, script: &str) -> Value {
        match self.client.execute(script, Vec::new()).await {
            Ok(value) => value,
            Err(e) => {
                let message = self
                    .failure(&format!("script `{script}` failed: {e}"))
                    .await;
                panic!("{message}");
            }
        }
    }

    /// Presses and releases one key, sent to whatever has the focus (the body on a fresh page).
    async fn press(&mut self, key: char) {
        let keys = KeyActions::new("keyboard".to_owned())
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
        if let Err(e) = self.client.perform_actions(keys).await {
            let message = self.failure(&format!("cannot press {key:?}: {e}")).await;
            panic!("{message}");
        }
    }

    /// Drags `from` onto the centre of `to` with a mouse, in small moves: the page implements
    /// drag with Pointer Events (not HTML5 drag and drop), which needs real pointer moves.
    async fn drag(&mut self, from: &Element, to: &Element) {
        let (fx, fy, fw, fh) = from.rectangle().await.expect("card rectangle");
        let (tx, ty, tw, th) = to.rectangle().await.expect("column rectangle");
        let (dx, dy) = (
            (tx + tw / 2.0) - (fx + fw / 2.0),
            (ty + th / 2.0) - (fy + fh / 2.0),
        );
        let mut mouse = MouseActions::new("mouse".to_owned())
            .then(PointerAction::MoveToElement {
                element: from.clone(),
                duration: None,
                x: 0.0,
                y: 0.0,
            })
            .then(PointerAction::Down {
                button: MOUSE_BUTTON_LEFT,
            })
            .pause(Duration::from_millis(100));
        let steps = 12;
        for _ in 0..steps {
            mouse = mouse.then(PointerAction::MoveBy {
                duration: Some(Duration::from_millis(25)),
                x: (dx / f64::from(steps)).round(),
                y: (dy / f64::from(steps)).round(),
            });
        }
        let mouse = mouse
            .then(PointerAction::MoveToElement {
                element: to.clone(),
                duration: Some(Duration::from_millis(25)),
                x: 0.0,
                y: 0.0,
            })
            .pause(Duration::from_millis(100))
            .then(PointerAction::Up {
                button: MOUSE_BUTTON_LEFT,
            });
        let dragged = self.client.perform_actions(mouse).await;
        self.client.release_actions().await.ok();
        if let Err(e) = dragged {
            let message = self.failure(&format!("the drag failed: {e}")).await;
            panic!("{message}");
        }
    }

    /// The browser console's entries since the last call (chromedriver's log endpoint:
    /// WebDriver has none).
    /// Fails on any error the page's scripts logged (a refused request the page handled, which
    /// the browser logs as a failed resource, is not one).
    pub(crate) async fn assert_no_script_errors(&self) {
        let errors: Vec<Value> = self
            .console()
            .await
            .into_iter()
            .filter(|m| {
                m["level"] == "SEVERE"
                    && !m["message"]
                        .as_str()
                        .unwrap_or("")
                        .contains("Failed to load resource")
            })
            .collect();
        assert!(errors.is_empty(), "no script errors: {errors:?}");
    }

    async fn console(&self) -> Vec<Value> {
        let session = self
            .client
            .session_id()
            .await
            .ok()
            .flatten()
            .expect("a session id");
        let response = reqwest::Client::new()
            .post(format!("{}/session/{session}/se/log", self.driver_url))
            .json(&json!({ "type": "browser" }))
            .send()
            .await
            .expect("chromedriver answers");
        let body: Value = response.json().await.expect("log JSON");
        body["value"].as_array().cloned().unwrap_or_default()
    }
}

/// The id of the record page the browser is on (`/records/{plural}/{uuid}`), if it is one.
fn record_id(path: &str, plural: &str) -> Option<String> {
    let rest = path.strip_prefix(&format!("/records/{plural}/"))?;
    Uuid::parse_str(rest).ok().map(|id| id.to_string())
}

/// `rgb(r, g, b)` or `rgba(r, g, b, a)` → r + g + b.
fn rgb_sum(css: &str) -> u32 {
    css.trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')')
        .split(',')
        .take(3)
        .map(|c| c.trim().parse::<f64>().unwrap_or(255.0) as u32)
        .sum()
}

/// What the scenario needs that the UI does not create: a user with a password, a deal type
/// with a select field, a deal, and the `good` plugin (its `summary` panel on contacts).
async fn seed(app: &TestApp) -> String {
    admin(app, "sam@acme.test").await;
    let deal_type = app
        .post(
            "/api/v1/meta/entities",
            &json!({
                "name": "deal",
                "plural": "deals",
                "title_fields": ["title"],
                "fields": [
                    { "name": "title", "type": "text", "required": true },
                    { "name": "stage", "type": "select", "indexed": true, "options": [
                        { "value": "new", "label": "New" },
                        { "value": "qualified", "label": "Qualified" },
                        { "value": "won", "label": "Won" },
                    ] },
                ],
            }),
        )
        .await;
    assert_eq!(
        deal_type.status,
        StatusCode::CREATED,
        "create the deal type: {}",
        deal_type.body
    );
    let deal = app
        .create("deals", json!({ "title": "Big deal", "stage": "new" }))
        .await;
    crate::plugins::install(app, "good").await;
    let enabled = crate::plugins::enable(app, "good", json!({})).await;
    assert_eq!(
        enabled.status,
        StatusCode::OK,
        "enable good: {}",
        enabled.body
    );
    deal["id"].as_str().expect("deal id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_user_can_do_a_day_of_work() {
    if !browser_available() {
        return;
    }
    let started = Instant::now();
    let app = TestApp::spawn(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let deal = seed(&app).await;
    let (driver, mut b) = start_browser(&app, "day-of-work").await;

    // Smoke: the browser reaches the server.
    b.step("healthz");
    b.goto("/healthz").await;
    let health = b.text("body").await;
    assert!(
        health.contains(r#""status":"ok""#),
        "healthz shows {health}"
    );
    b.screenshot("healthz").await;
    // Reading the console empties it: what the JSON page logged (a missing favicon) is not
    // the UI's.
    b.console().await;

    // Log in.
    b.step("login");
    login(&mut b, "sam@acme.test", "correct horse battery", "acme").await;
    b.screenshot("logged-in").await;

    // Create a contact through the form.
    b.step("create-contact");
    b.goto("/records/contacts/new").await;
    b.wait_for("form.form").await;
    b.fill("#f-first_name", "Ada").await;
    b.fill("#f-last_name", "Lovelace").await;
    b.fill("#f-email", "ada@example.com").await;
    b.screenshot("contact-form").await;
    b.click("form.form button[type=submit]").await;
    let contact = b
        .until(
            "the new contact's page /records/contacts/<id>",
            |client| async move {
                let url = client.current_url().await.ok()?;
                record_id(url.path(), "contacts")
            },
        )
        .await;
    let title = b.text("h1").await;
    if !title.contains("Ada Lovelace") {
        let message = b.failure(&format!("the h1 reads {title:?}")).await;
        panic!("{message}");
    }
    let found = app
        .get("/api/v1/contacts?filter=email%5Beq%5D%3Aada%40example.com")
        .await;
    assert_eq!(found.status, StatusCode::OK, "{}", found.body);
    assert_eq!(
        found.data().len(),
        1,
        "the form's contact through the API: {}",
        found.body
    );
    assert_eq!(found.data()[0]["id"], contact.as_str());
    assert_eq!(found.data()[0]["first_name"], "Ada");
    b.screenshot("contact-created").await;

    // Find it with global search: "/" focuses the search box.
    b.step("global-search");
    b.goto("/").await;
    b.wait_for("#global-search").await;
    b.press('/').await;
    let focused = b
        .js("return document.activeElement && document.activeElement.id")
        .await;
    if focused != "global-search" {
        eprintln!("note: \"/\" did not focus #global-search (focus: {focused}): clicking it");
        b.click("#global-search").await;
    }
    let search = b.wait_for("#global-search").await;
    search.send_keys("lovel").await.expect("type in the search");
    let typed = search
        .prop("value")
        .await
        .ok()
        .flatten()
        .unwrap_or_default();
    assert_eq!(
        typed, "lovel",
        "#global-search holds what was typed (the \"/\" shortcut must not type itself)"
    );
    let hit = b
        .until(
            "a `#search-results a` reading \"Ada Lovelace\"",
            |client| async move {
                for link in client
                    .find_all(Locator::Css("#search-results a"))
                    .await
                    .ok()?
                {
                    if link.text().await.ok()?.contains("Ada Lovelace") {
                        return Some(link);
                    }
                }
                None
            },
        )
        .await;
    b.screenshot("search-results").await;
    hit.click().await.expect("click the search hit");
    b.wait_for_path(&format!("/records/contacts/{contact}"))
        .await;
    b.screenshot("search-hit-opened").await;

    // The good plugin's summary panel, rendered into the record page.
    b.step("plugin-panel");
    let panel = b
        .until(
            "a `.panel` with the good plugin's summary",
            |client| async move {
                for panel in client.find_all(Locator::Css(".panel")).await.ok()? {
                    let text = panel.text().await.ok()?;
                    if text.contains("Score: 8") && text.contains("ada@example.com") {
                        return Some(text);
                    }
                }
                None
            },
        )
        .await;
    assert!(panel.contains("Ada Lovelace"), "the panel reads {panel:?}");
    b.screenshot("plugin-panel").await;

    // Inline edit: change one field in place; the PATCH carries the page's version.
    b.step("inline-edit");
    b.click(".field[data-field=title] button.inline-edit").await;
    b.fill(".field[data-field=title] .inline-editor input", "Countess")
        .await;
    b.click(".field[data-field=title] .inline-editor button.primary")
        .await;
    let shown = b
        .until(
            "the title field to read \"Countess\" after saving",
            |client| async move {
                let value = client
                    .find(Locator::Css(".field[data-field=title] .value"))
                    .await
                    .ok()?
                    .text()
                    .await
                    .ok()?;
                value.contains("Countess").then_some(value)
            },
        )
        .await;
    assert!(shown.contains("Countess"));
    let saved = app.get(&format!("/api/v1/contacts/{contact}")).await;
    assert_eq!(saved.body["title"], "Countess", "{}", saved.body);
    assert_eq!(
        saved.body["version"], 2,
        "one update, with the page's version"
    );
    b.screenshot("inline-edit").await;

    // Move the deal from "new" to "won" on the kanban.
    b.step("kanban");
    b.goto("/records/deals/board?field=stage").await;
    let card = b
        .wait_for(&format!(
            r#".board-column[data-value="new"] .board-card[data-id="{deal}"]"#
        ))
        .await;
    let won = b
        .wait_for(r#".board-column[data-value="won"] .board-cards"#)
        .await;
    b.screenshot("board-before").await;
    b.drag(&card, &won).await;
    let mut stored = Value::Null;
    for _ in 0..50 {
        stored = app.get(&format!("/api/v1/deals/{deal}")).await.body;
        if stored["stage"] == "won" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if stored["stage"] != "won" || stored["version"] != 2 {
        let message = b
            .failure(&format!("after the drag the API has {stored}"))
            .await;
        panic!("{message}");
    }
    b.wait_for(&format!(
        r#".board-column[data-value="won"] .board-card[data-id="{deal}"]"#
    ))
    .await;
    b.screenshot("board-after").await;
    b.goto("/records/deals/board?field=stage").await;
    b.wait_for(&format!(
        r#".board-column[data-value="won"] .board-card[data-id="{deal}"]"#
    ))
    .await;

    // Switch the theme to dark.
    b.step("theme");
    b.goto("/settings/theme").await;
    b.wait_for("form#theme-form").await;
    let script = "return getComputedStyle(document.body).backgroundColor";
    let before = b.js(script).await;
    b.screenshot("theme-before").await;
    let select = b.wait_for("form#theme-form select[name=theme]").await;
    if let Err(e) = select.select_by_value("dark").await {
        let message = b.failure(&format!("no `dark` option: {e}")).await;
        panic!("{message}");
    }
    // A mark on this document tells the reload apart.
    b.click_and_reload("form#theme-form button[type=submit]")
        .await;
    let after = b.js(script).await;
    let after = after.as_str().unwrap_or_default().to_owned();
    if after == before.as_str().unwrap_or_default() || rgb_sum(&after) >= 200 {
        let message = b
            .failure(&format!(
                "the body's background went from {before} to {after:?}, not to a dark one"
            ))
            .await;
        panic!("{message}");
    }
    let theme = app.get("/api/v1/admin/theme").await;
    assert_eq!(theme.status, StatusCode::OK, "{}", theme.body);
    assert_eq!(
        theme.body["data"]["theme"], "dark",
        "the theme through the API: {}",
        theme.body
    );
    b.screenshot("theme-dark").await;

    // Our pages logged no errors in the console.
    b.step("console");
    let errors: Vec<Value> = b
        .console()
        .await
        .into_iter()
        .filter(|entry| entry["level"] == "SEVERE")
        .collect();
    assert!(
        errors.is_empty(),
        "the browser console has errors: {}",
        Value::Array(errors)
    );

    b.client.clone().close().await.ok();
    drop(driver);
    eprintln!(
        "browser scenario passed in {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        b.artifacts.display()
    );
}

/// Logs in through the login form and lands on the home page.
pub(crate) async fn login(b: &mut Browser<'_>, email: &str, password: &str, workspace: &str) {
    b.goto("/login").await;
    b.fill("input#email", email).await;
    b.fill("input#password", password).await;
    b.fill("input#workspace", workspace).await;
    b.screenshot("login-form").await;
    b.click("button[type=submit]").await;
    b.wait_for_path("/").await;
    b.wait_for("header.topbar").await;
    let path = b.path().await;
    assert_eq!(path, "/", "after login");
}

/// The attack a hostile plugin made: its panel on a contact page loaded a script from its own
/// route (same origin, so `script-src 'self'` let it run) with the admin's session; the script
/// created an API token and stored it in the plugin's key-value store, where a member read it.
/// Panels are sanitised, routes cannot serve script and are sandboxed, and pages let only the
/// theme's nonce-carrying script run: nothing of it may run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugins_panels_and_routes_run_no_script_in_a_signed_in_browser() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    admin(&app, "boss@acme.test").await;
    crate::plugins::install(&app, "hostile").await;
    let enabled = crate::plugins::enable(&app, "hostile", json!({})).await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    let member = app.user("acme", "member@acme.test", "member").await;
    let contact = app
        .create(
            "contacts",
            json!({ "first_name": "Ada", "last_name": "Target" }),
        )
        .await;
    let contact = contact["id"].as_str().expect("id").to_owned();
    let (driver, mut b) = start_browser(&app, "plugin-script").await;
    login(&mut b, "boss@acme.test", "correct horse battery", "acme").await;

    b.step("contact page with the hostile panels");
    b.goto(&format!("/records/contacts/{contact}")).await;
    b.wait_for("#record").await;
    let panels = b.text(".record-side").await;
    assert!(
        panels.contains("Nothing to see here"),
        "the panel rendered: {panels}"
    );
    // Long enough for the attack's two fetches, had it run.
    tokio::time::sleep(Duration::from_secs(2)).await;
    b.screenshot("contact-page").await;
    let title = b.js("return document.title").await;
    assert!(
        title.as_str().is_some_and(|t| t.contains("Ada")),
        "a script changed the title: {title}"
    );
    let scripts = b
        .js("return [...document.scripts].map(s => s.src || 'inline')")
        .await;
    assert!(
        scripts.as_array().is_some_and(|all| all
            .iter()
            .all(|s| s.as_str().is_some_and(|s| s.contains("/static/")))),
        "only the theme's script is on the page: {scripts}"
    );

    b.step("the plugin's page, opened directly");
    b.goto("/p/hostile/r/page").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    b.screenshot("plugin-page").await;
    let title = b.js("return document.title").await;
    assert_eq!(title, json!("page"), "the sandboxed page ran its script");

    b.step("nothing was stolen");
    let loot = app
        .client
        .get(format!("{}/p/hostile/r/loot", app.base))
        .bearer_auth(&member)
        .send()
        .await
        .expect("the route answers");
    assert_eq!(loot.status(), StatusCode::OK);
    let loot = loot.text().await.expect("text");
    assert_eq!(loot, "", "the member read what the plugin stole");
    let tokens = app.get("/api/v1/tokens?all=true").await;
    assert!(
        !tokens.body.to_string().contains("stolen by hostile"),
        "a token was created: {}",
        tokens.body
    );
    b.client.clone().close().await.ok();
    drop(driver);
}

/// A colleague saves while a person has the full form open. Saving must not overwrite what the
/// colleague changed: the person sees both sides of every field that differs and chooses; a
/// third save while they choose brings the comparison back instead of being overwritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_full_form_edit_shows_both_sides_and_loses_nothing() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    admin(&app, "sam@acme.test").await;
    let kim = app.user("acme", "kim@acme.test", "manager").await;
    let contact = app
        .create(
            "contacts",
            json!({ "first_name": "Ada", "last_name": "Lovelace", "phone": "+44 20 7946 0001", "title": "Engineer", "email": "ada@old.example" }),
        )
        .await;
    let id = contact["id"].as_str().expect("id").to_owned();
    let url = format!("/api/v1/contacts/{id}");
    let kim_saves = |patch: Value| {
        let app = &app;
        let (url, kim) = (url.clone(), kim.clone());
        async move {
            let saved = app
                .request(reqwest::Method::PATCH, &url, Some(&patch), Some(&kim), &[])
                .await;
            assert_eq!(saved.status, StatusCode::OK, "kim's save: {}", saved.body);
        }
    };
    let (driver, mut b) = start_browser(&app, "edit-conflict").await;
    login(&mut b, "sam@acme.test", "correct horse battery", "acme").await;

    b.step("sam edits while kim saves");
    b.goto(&format!("/records/contacts/{id}/edit")).await;
    b.wait_for("form.form").await;
    b.fill("#f-email", "ada@new.example").await;
    b.fill("#f-title", "CEO").await;
    kim_saves(json!({ "phone": "+44 20 7946 0002", "title": "CTO" })).await;
    b.click("form.form button[type=submit]").await;

    b.step("the conflict page shows both sides");
    b.wait_for("table.conflict-table").await;
    b.screenshot("conflict").await;
    let rows = b
        .js("return [...document.querySelectorAll('.conflict-table tbody tr')].map(r => [r.className, r.querySelector('th').textContent, [...r.querySelectorAll('input')].filter(i => i.checked).map(i => i.value).join()])")
        .await;
    assert_eq!(
        rows,
        json!([
            ["changed-by-me", "Emailchanged by you", "mine"],
            ["changed-by-them", "Phonechanged by them", "theirs"],
            ["changed-by-both", "Titlechanged by both of you", ""],
        ]),
        "one row per field that differs, the side that changed it chosen"
    );
    let text = b.text(".conflict-table").await;
    assert!(
        [
            "+44 20 7946 0002",
            "+44 20 7946 0001",
            "ada@new.example",
            "ada@old.example",
            "CTO",
            "CEO"
        ]
        .iter()
        .all(|v| text.contains(v)),
        "both values of each field: {text}"
    );
    let said = b.text("form.conflict > p").await;
    assert!(
        said.starts_with("kim saved"),
        "who saved, by the name people see: {said}"
    );
    assert_eq!(
        app.get(&url).await.body["email"],
        "ada@old.example",
        "nothing of sam's is saved before sam chooses"
    );

    b.step("saving without choosing the field both changed is refused by the page");
    b.click("form.conflict button.primary").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let invalid = b
        .js("return document.querySelector('input[name=\"_keep.title\"]:invalid') !== null")
        .await;
    assert_eq!(invalid, json!(true), "the unchosen field is marked invalid");
    assert!(b.path().await.ends_with("/edit"));

    b.step("a third save while sam chooses starts the comparison again");
    b.click("input[name=\"_keep.title\"][value=mine]").await;
    kim_saves(json!({ "phone": "+44 20 7946 0003" })).await;
    b.click("form.conflict button.primary").await;
    b.until(
        "the conflict page shown again, with kim's newest phone",
        |client| async move {
            let rows = client
                .find_all(Locator::Css(".conflict-table tbody tr"))
                .await
                .ok()?;
            let mut texts = Vec::new();
            for row in rows {
                texts.push(row.text().await.ok()?);
            }
            texts
                .iter()
                .any(|t| t.contains("+44 20 7946 0003"))
                .then_some(())
        },
    )
    .await;
    b.screenshot("conflict-again").await;
    let phone = b
        .js("return [...document.querySelectorAll('input[name=\"_keep.phone\"]')].filter(i => i.checked).map(i => i.value).join()")
        .await;
    assert_eq!(
        phone,
        json!("theirs"),
        "kim's newest phone is kept by default"
    );

    b.step("sam's choices saved; kim's phone kept");
    b.click("form.conflict button.primary").await;
    b.wait_for_path(&format!("/records/contacts/{id}")).await;
    b.screenshot("saved").await;
    let saved = app.get(&url).await;
    assert_eq!(
        (
            &saved.body["phone"],
            &saved.body["email"],
            &saved.body["title"]
        ),
        (
            &json!("+44 20 7946 0003"),
            &json!("ada@new.example"),
            &json!("CEO")
        ),
        "{}",
        saved.body
    );

    b.step("keeping all mine, by keyboard");
    b.goto(&format!("/records/contacts/{id}/edit")).await;
    b.wait_for("form.form").await;
    b.fill("#f-title", "Founder").await;
    kim_saves(json!({ "title": "Chair" })).await;
    b.click("form.form button[type=submit]").await;
    b.wait_for("table.conflict-table").await;
    let keep_mine = b.wait_for("button[name=_all][value=mine]").await;
    keep_mine.send_keys("\u{E007}").await.expect("press Enter");
    b.wait_for_path(&format!("/records/contacts/{id}")).await;
    assert_eq!(app.get(&url).await.body["title"], "Founder");
    b.client.clone().close().await.ok();
    drop(driver);
}

/// One picker for every reference, by keyboard: the form's company, the record page's inline
/// edit, creating a company from what was typed, and a list filter on the company — titles
/// and second lines shown, never an id, and a title with markup shown as text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_record_picker_works_in_forms_inline_edit_and_filters() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    admin(&app, "sam@acme.test").await;
    let globex = app
        .create(
            "companies",
            json!({ "name": "Globex", "domain": "globex.example" }),
        )
        .await;
    let acme = app
        .create(
            "companies",
            json!({ "name": "Acme Corp", "domain": "acme.example" }),
        )
        .await;
    app.create(
        "companies",
        json!({ "name": "<img src=x id=injected> Hack" }),
    )
    .await;
    for i in 0..30 {
        app.create("companies", json!({ "name": format!("Filler {i:02}") }))
            .await;
    }
    let (globex, acme) = (
        globex["id"].as_str().expect("id").to_owned(),
        acme["id"].as_str().expect("id").to_owned(),
    );
    crate::plugins::eventually("the index to have the companies", || async {
        app.get("/api/v1/search?q=globex&types=companies")
            .await
            .data()
            .len()
            == 1
    })
    .await;
    let (driver, mut b) = start_browser(&app, "picker").await;
    login(&mut b, "sam@acme.test", "correct horse battery", "acme").await;
    let options = "return [...document.querySelectorAll('.picker-list [role=option]')].map(o => o.textContent)";

    b.step("the form's company, typed and picked by keyboard");
    b.goto("/records/contacts/new").await;
    b.wait_for(".picker input#f-company").await;
    b.fill("#f-last_name", "Lovelace").await;
    b.fill("#f-company", "glob").await;
    b.until(
        "the picker to offer Globex with its domain",
        |client| async move {
            let found = client.execute(options, vec![]).await.ok()?;
            found
                .as_array()?
                .iter()
                .any(|o| o.as_str() == Some("Globexglobex.example"))
                .then_some(())
        },
    )
    .await;
    b.screenshot("form-picker").await;
    b.press('\u{E007}').await; // Enter picks the first match
    let shown = b
        .js("return document.querySelector('#f-company').value")
        .await;
    assert_eq!(shown, json!("Globex"), "the picked title, not an id");
    b.click("form.form button[type=submit]").await;
    let contact = b
        .until("the new contact's page", |client| async move {
            let url = client.current_url().await.ok()?;
            record_id(url.path(), "contacts")
        })
        .await;
    let url = format!("/api/v1/contacts/{contact}");
    assert_eq!(app.get(&url).await.body["company"], globex.as_str());

    b.step("inline edit picks another company");
    b.click(".field[data-field=company] .inline-edit").await;
    b.wait_for(".field[data-field=company] .picker-input").await;
    b.js("const i = document.querySelector('.field[data-field=company] .picker-input'); i.value = ''; i.dispatchEvent(new Event('input'))").await;
    b.fill(".field[data-field=company] .picker-input", "acme")
        .await;
    b.until("the picker to offer Acme Corp", |client| async move {
        let found = client.execute(options, vec![]).await.ok()?;
        found
            .as_array()?
            .iter()
            .any(|o| o.as_str() == Some("Acme Corpacme.example"))
            .then_some(())
    })
    .await;
    b.press('\u{E015}').await; // ArrowDown wraps past the single match back to it
    b.press('\u{E007}').await; // Enter picks
    // A person sees the pick before saving; a second Enter sent at once can land while the
    // list is still open on a busy machine.
    b.until("Acme Corp to be picked", |client| async move {
        let v = client
            .execute(
                "const i = document.querySelector('.field[data-field=company] .picker-input'); \
                 return i && !document.querySelector('.field[data-field=company] .picker-list:not([hidden]) li') ? i.value : null",
                vec![],
            )
            .await
            .ok()?;
        (v == json!("Acme Corp")).then_some(())
    })
    .await;
    b.press('\u{E007}').await; // Enter saves
    let api_url = url.clone();
    let app_ref = &app;
    let acme_id = acme.clone();
    b.until("the inline edit to save Acme Corp", |_| {
        let api_url = api_url.clone();
        let acme_id = acme_id.clone();
        async move { (app_ref.get(&api_url).await.body["company"] == acme_id.as_str()).then_some(()) }
    })
    .await;

    b.step("a title with markup is shown as text");
    b.goto(&format!("/records/contacts/{contact}/edit")).await;
    b.wait_for(".picker input#f-company").await;
    // WebDriver types after what the input shows (a person's typing replaces it: the title is
    // selected on focus), so empty it first.
    b.js("const i = document.querySelector('#f-company'); i.value = ''; i.dispatchEvent(new Event('input'))").await;
    b.fill("#f-company", "hack").await;
    b.until(
        "the picker to offer the hostile title as text",
        |client| async move {
            let found = client.execute(options, vec![]).await.ok()?;
            found
                .as_array()?
                .iter()
                .any(|o| o.as_str().is_some_and(|t| t.starts_with("<img")))
                .then_some(())
        },
    )
    .await;
    let injected = b
        .js("return document.getElementById('injected') === null")
        .await;
    assert_eq!(injected, json!(true), "no element was made from a title");

    b.step("create a company from what was typed");
    b.js("const i = document.querySelector('#f-company'); i.value = ''; i.dispatchEvent(new Event('input'))").await;
    b.fill("#f-company", "Initech").await;
    b.until(
        "the picker to offer to create Initech",
        |client| async move {
            let found = client.execute(options, vec![]).await.ok()?;
            found
                .as_array()?
                .iter()
                .any(|o| o.as_str() == Some("Create “Initech”"))
                .then_some(())
        },
    )
    .await;
    b.click(".picker-list li.create").await;
    b.until("Initech to be picked", |client| async move {
        let v = client
            .execute("return document.querySelector('#f-company').value", vec![])
            .await
            .ok()?;
        (v == json!("Initech")).then_some(())
    })
    .await;
    b.click("form.form button[type=submit]").await;
    b.wait_for_path(&format!("/records/contacts/{contact}"))
        .await;
    let initech = app.all("companies", "filter=name[eq]:Initech").await;
    assert_eq!(initech.len(), 1, "one company created from the picker");
    assert_eq!(app.get(&url).await.body["company"], initech[0]["id"]);

    b.step("a list filter on the company, by its title");
    b.goto("/records/contacts").await;
    let last = "document.querySelectorAll('.filter-row').length";
    b.js(&format!("const rows = document.querySelectorAll('.filter-row'); const s = rows[{last} - 1].querySelector('select[name=f]'); s.value = 'company'; s.dispatchEvent(new Event('change'))")).await;
    let ops = b
        .js(&format!("const rows = document.querySelectorAll('.filter-row'); return [...rows[{last} - 1].querySelectorAll('select[name=op] option')].filter(o => !o.disabled).map(o => o.value)"))
        .await;
    assert_eq!(
        ops,
        json!(["eq", "neq", "is_empty", "not_empty"]),
        "only the conditions a reference has"
    );
    // The list has no conditions yet, so its one (empty) row is the first.
    b.fill(".picker #filter-value-1", "initech").await;
    b.until(
        "the filter's picker to offer Initech",
        |client| async move {
            let found = client.execute(options, vec![]).await.ok()?;
            found
                .as_array()?
                .iter()
                .any(|o| o.as_str() == Some("Initech"))
                .then_some(())
        },
    )
    .await;
    b.press('\u{E007}').await; // pick
    b.click("form.filters button[type=submit]").await;
    b.until("the filtered list", |client| async move {
        let url = client.current_url().await.ok()?;
        url.query()?.contains("f=company").then_some(())
    })
    .await;
    b.wait_for(".filter-row .picker-input").await;
    b.screenshot("filtered").await;
    let value = b
        .js("return document.querySelector('.filter-row .picker-input').value")
        .await;
    assert_eq!(
        value,
        json!("Initech"),
        "the condition shows the company's title"
    );
    let rows = b.text("table.grid tbody").await;
    assert!(rows.contains("Lovelace"), "{rows}");
    let visible = b.text("main").await;
    assert!(
        !visible.contains(initech[0]["id"].as_str().unwrap()) && !visible.contains(&globex),
        "no id is shown: {visible}"
    );
    b.assert_no_script_errors().await;
    b.client.clone().close().await.ok();
    drop(driver);
}

/// Tasks as a seller works them: "My day" groups them, an overdue one stands out, the box
/// marks a task done in one click (no JavaScript needed), and snooze moves it a day on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_is_done_in_one_click_and_overdue_ones_stand_out() {
    if !browser_available() {
        return;
    }
    let app = TestApp::spawn(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let owner = admin(&app, "sam@acme.test").await;
    let contact = app
        .create(
            "contacts",
            json!({ "first_name": "Ada", "last_name": "Lovelace" }),
        )
        .await;
    let at = |days: i64| (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339();
    let task = |subject: &str, due: String| json!({ "kind": "task", "subject": subject, "due_at": due, "owner": owner, "links": [contact["id"]] });
    let late = app
        .create("activities", task("Call Ada back", at(-2)))
        .await;
    let later = app
        .create("activities", task("Send the proposal", at(3)))
        .await;
    let (driver, mut b) = start_browser(&app, "tasks").await;
    login(&mut b, "sam@acme.test", "correct horse battery", "acme").await;

    b.step("my day groups the tasks, the late one in red");
    b.wait_for(".task-group-overdue").await;
    b.screenshot("my-day").await;
    let groups = b
        .js("return [...document.querySelectorAll('h3.task-group')].map(h => h.firstChild.textContent.trim())")
        .await;
    assert_eq!(groups, json!(["Overdue", "Upcoming"]));
    let late_colour = b
        .js("return getComputedStyle(document.querySelector('li.overdue .meta')).color")
        .await;
    let calm_colour = b
        .js("return getComputedStyle(document.querySelector('li.task:not(.overdue) .meta')).color")
        .await;
    assert_ne!(late_colour, calm_colour, "the overdue task stands out");
    let late_text = b.text("li.overdue").await;
    assert!(
        late_text.contains("Call Ada back") && late_text.contains("overdue"),
        "{late_text}"
    );

    b.step("one click on the box marks it done");
    let late_url = format!("/api/v1/activities/{}", late["id"].as_str().unwrap());
    b.click("li.overdue button.task-check").await;
    b.until("the done task to leave my day", |client| async move {
        let items = client.find_all(Locator::Css("li.task")).await.ok()?;
        (items.len() == 1).then_some(())
    })
    .await;
    assert_eq!(app.get(&late_url).await.body["done"], true);

    b.step("snooze moves the other a day on, by keyboard");
    let before = app
        .get(&format!(
            "/api/v1/activities/{}",
            later["id"].as_str().unwrap()
        ))
        .await
        .body["due_at"]
        .as_str()
        .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())
        .expect("a due time");
    let snooze = b.wait_for(".task-snooze button").await;
    snooze
        .send_keys("\u{E007}")
        .await
        .expect("press Enter on Snooze");
    let later_url = format!("/api/v1/activities/{}", later["id"].as_str().unwrap());
    let app_ref = &app;
    b.until("the due time to move a day on", |_| {
        let later_url = later_url.clone();
        async move {
            let due = app_ref.get(&later_url).await.body["due_at"]
                .as_str()
                .and_then(|d| chrono::DateTime::parse_from_rfc3339(d).ok())?;
            let moved = due - before;
            (moved >= chrono::Duration::hours(23) && moved <= chrono::Duration::hours(25))
                .then_some(())
        }
    })
    .await;

    b.step("the record's timeline has the same box");
    b.goto(&format!(
        "/records/contacts/{}",
        contact["id"].as_str().unwrap()
    ))
    .await;
    let done_box = b
        .js("return [...document.querySelectorAll('#timeline li.task')].map(li => [li.querySelector('.title').textContent, li.querySelector('.task-check').getAttribute('aria-pressed')])")
        .await;
    assert_eq!(
        done_box,
        json!([["Send the proposal", "false"], ["Call Ada back", "true"]])
    );
    b.screenshot("timeline").await;
    b.client.clone().close().await.ok();
    drop(driver);
}

/// The sales board as a seller uses it: cards with amount, close date, owner and days in the
/// stage, column counts and totals; moving a deal to Lost asks for the reason the sales rules
/// need instead of snapping back, and the move is made with it. Then the day's pages at phone
/// width: no sideways scrolling of the page, the navigation behind a menu button.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_board_shows_what_a_seller_needs_and_asks_for_a_lost_reason() {
    if !browser_available() {
        return;
    }
    let (app, owner) = sales_app("sam.lee@acme.test").await;
    let stages = app.all("stages", "").await;
    let stage = |name: &str| {
        stages
            .iter()
            .find(|s| s["name"] == name)
            .and_then(|s| s["id"].as_str())
            .expect("a default stage")
            .to_owned()
    };
    let deal = |name: &str, amount: &str| json!({ "name": name, "stage": stage("Qualification"), "amount": { "amount": amount, "currency": "EUR" }, "expected_close": "2027-03-31", "owner": owner });
    let big = app.create("deals", deal("Big renewal", "12000.00")).await;
    app.create("deals", deal("Small add-on", "500.50")).await;
    // The big deal's next task is the overdue one, not the later one or the done one.
    for (subject, due, done) in [
        ("Send the contract", "2027-05-01T09:00:00Z", false),
        ("Call about pricing", "2026-01-05T09:00:00Z", false),
        ("Kick-off", "2025-12-01T09:00:00Z", true),
    ] {
        app.create("activities", json!({ "kind": "task", "subject": subject, "due_at": due, "done": done, "links": [big["id"]] })).await;
    }
    let contact = app
        .create(
            "contacts",
            json!({ "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com" }),
        )
        .await;
    let (driver, mut b) = start_browser(&app, "board").await;
    login(&mut b, "sam.lee@acme.test", "correct horse battery", "acme").await;
    let widgets_too_wide = "return [...document.querySelectorAll('.panel-body')].filter(p => p.scrollWidth > p.clientWidth + 1).map(p => p.closest('.panel').getAttribute('aria-label'))";
    b.wait_for(".panel-body").await;
    assert_eq!(
        b.js(widgets_too_wide).await,
        json!([]),
        "the forecast fits its column"
    );

    b.step("one Board entry, cards and totals");
    b.goto("/records/deals").await;
    let boards = b
        .js("return [...document.querySelectorAll('.page-head .actions a')].map(a => a.textContent.trim()).filter(t => t.startsWith('Board'))")
        .await;
    assert_eq!(boards, json!(["Board"]), "one board entry");
    b.click(".page-head .actions a[href*='/board']").await;
    b.wait_for(".board-card").await;
    b.screenshot("board").await;
    let column = b
        .js("const c = [...document.querySelectorAll('.board-column')].find(c => c.querySelector('h2').textContent === 'Qualification'); return [c.querySelector('.board-count').textContent, c.querySelector('.board-total').textContent]")
        .await;
    assert_eq!(
        column,
        json!(["2", "€12,500.50"]),
        "count and total of the column"
    );
    let card = b
        .js(&format!("const c = document.querySelector('.board-card[data-id=\"{}\"]'); return [...c.querySelectorAll('.card-fields dd')].map(d => d.textContent.trim())", big["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        card,
        json!(["€12,000.00", "2027-03-31", "0 d", "SL"]),
        "amount, close date, days in stage, owner"
    );
    let task = b
        .js(&format!("const t = document.querySelector('.board-card[data-id=\"{}\"] .card-task'); return [t.querySelector('a').textContent, t.classList.contains('overdue')]", big["id"].as_str().unwrap()))
        .await;
    assert_eq!(
        task,
        json!(["Call about pricing", true]),
        "the next task, overdue"
    );

    b.step("moving to Lost asks for the reason, by keyboard");
    let select = format!(
        ".board-card[data-id=\"{}\"] select.move-select",
        big["id"].as_str().unwrap()
    );
    let lost = stage("Lost");
    b.js(&format!("const s = document.querySelector('{}'); s.value = '{lost}'; s.dispatchEvent(new Event('change'))", select.replace('\'', "\\'")))
        .await;
    b.wait_for("dialog.ask-fields textarea[name=lost_reason]")
        .await;
    b.screenshot("lost-reason").await;
    b.fill(
        "dialog.ask-fields textarea[name=lost_reason]",
        "Went with a competitor",
    )
    .await;
    b.click("dialog.ask-fields button[type=submit]").await;
    let big_url = format!("/api/v1/deals/{}", big["id"].as_str().unwrap());
    let app_ref = &app;
    b.until("the deal to be lost, with its reason", |_| {
        let big_url = big_url.clone();
        let lost = lost.clone();
        async move {
            let now = app_ref.get(&big_url).await.body;
            (now["stage"] == lost.as_str()
                && now["lost_reason"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("Went with a competitor")))
            .then_some(())
        }
    })
    .await;
    let in_lost = b
        .js(&format!("return document.querySelector('.board-card[data-id=\"{}\"]').closest('.board-column').querySelector('h2').textContent", big["id"].as_str().unwrap()))
        .await;
    assert_eq!(in_lost, json!("Lost"));

    b.step("phone width: no sideways scrolling, navigation behind a menu");
    b.client.set_window_size(390, 844).await.expect("resize");
    for path in [
        "/".to_owned(),
        "/records/contacts".to_owned(),
        format!("/records/contacts/{}", contact["id"].as_str().unwrap()),
        format!("/records/contacts/{}/edit", contact["id"].as_str().unwrap()),
        "/records/deals/board".to_owned(),
        "/search?q=ada".to_owned(),
        "/settings".to_owned(),
    ] {
        b.goto(&path).await;
        b.wait_for("main").await;
        let overflow = b
            .js("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            .await;
        if overflow.as_i64().unwrap_or(1) > 0 {
            let message = b
                .failure(&format!("{path} scrolls sideways by {overflow} px"))
                .await;
            panic!("{message}");
        }
    }
    b.goto("/").await;
    // The home page's widgets (the sales forecast) fit their column, nothing cut off.
    assert_eq!(
        b.js(widgets_too_wide).await,
        json!([]),
        "widgets fit a phone"
    );
    let nav_hidden = b
        .js("return getComputedStyle(document.getElementById('main-nav')).display")
        .await;
    assert_eq!(nav_hidden, json!("none"), "the navigation is folded");
    b.click(".menu-button").await;
    let nav_shown = b
        .js("return getComputedStyle(document.getElementById('main-nav')).display")
        .await;
    assert_eq!(nav_shown, json!("block"), "the menu button opens it");
    b.screenshot("phone-menu").await;
    b.assert_no_script_errors().await;
    b.client.clone().close().await.ok();
    drop(driver);
}

/// Converting a lead opens a dialog over its page that starts from the company matching the
/// lead's domain; the converted lead links what it became.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_converts_in_a_dialog_into_the_company_it_belongs_to() {
    if !browser_available() {
        return;
    }
    let (app, _) = sales_app("sam@acme.test").await;
    let acme = app
        .create(
            "companies",
            json!({ "name": "Acme", "domain": "acme.example" }),
        )
        .await;
    let lead = app
        .create(
            "leads",
            json!({ "first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.example", "company_name": "ACME Corporation", "status": "qualified" }),
        )
        .await;
    let lead_id = lead["id"].as_str().expect("id").to_owned();
    let (driver, mut b) = start_browser(&app, "convert").await;
    login(&mut b, "sam@acme.test", "correct horse battery", "acme").await;

    b.step("the dialog starts from the matching company");
    b.goto(&format!("/records/leads/{lead_id}")).await;
    b.click("a[data-dialog]").await;
    b.wait_for("dialog.ask-fields form.dialog-form").await;
    let company = b
        .js("return document.querySelector('dialog #f-company').value")
        .await;
    assert_eq!(
        company,
        json!("Acme"),
        "the company by the lead's domain, by name"
    );
    b.js("const i = document.querySelector('dialog #f-deal_name'); i.value = ''; i.dispatchEvent(new Event('input'))")
        .await;
    b.fill("dialog #f-deal_name", "Acme renewal").await;
    b.screenshot("convert-dialog").await;
    b.click("dialog button[type=submit]").await;

    b.step("the converted lead links what it became");
    let app_ref = &app;
    let converted = b
        .until("the lead to be converted", |_| {
            let url = format!("/api/v1/leads/{lead_id}");
            async move {
                let now = app_ref.get(&url).await.body;
                (now["status"] == "converted").then_some(now)
            }
        })
        .await;
    assert_eq!(converted["converted_company"], acme["id"], "no second Acme");
    b.wait_for(".alert.success").await;
    let page = b
        .js("return [document.querySelector('a[data-dialog]') === null, [...document.querySelectorAll('main a')].map(a => a.textContent.trim())]")
        .await;
    assert_eq!(page[0], json!(true), "no Convert button any more");
    let links = page[1].as_array().expect("links");
    for title in ["Acme", "Ada Lovelace", "Acme renewal"] {
        assert!(
            links.iter().any(|l| l == title),
            "a link to {title}: {links:?}"
        );
    }
    b.screenshot("converted").await;
    b.assert_no_script_errors().await;
    b.client.clone().close().await.ok();
    drop(driver);
}

/// A SQLite app with the sales plugin enabled and an admin `email` (the test password); and
/// the admin's id.
async fn sales_app(email: &str) -> (TestApp, String) {
    let app = TestApp::spawn(Backend::Sqlite)
        .await
        .expect("sqlite always runs");
    let id = admin(&app, email).await;
    crate::plugins::install(&app, "sales").await;
    let enabled = crate::plugins::enable(&app, "sales", json!({})).await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    (app, id)
}

/// An admin of the test workspace with the test password; answers their id.
pub(crate) async fn admin(app: &TestApp, email: &str) -> String {
    let created = app
        .post(
            "/api/v1/admin/users",
            &json!({ "email": email, "password": "correct horse battery", "role": "admin" }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    created.body["id"]
        .as_str()
        .expect("the user's id")
        .to_owned()
}

/// A browser on `app`, its screenshots under `artifacts`.
pub(crate) async fn start_browser<'a>(app: &'a TestApp, artifacts: &str) -> (Driver, Browser<'a>) {
    let driver = Driver::start().await;
    let browser = Browser {
        client: driver.session().await,
        app,
        driver_url: driver.url.clone(),
        artifacts: artifacts_dir(artifacts),
        shots: 0,
        step: "start",
    };
    (driver, browser)
}

/// What an accessibility checker counts as serious, checked in the page: every control has a
/// name a screen reader reads (a label, `aria-label`, `aria-labelledby` or `title`), every
/// link and button says what it does, images have `alt`, ids are unique and the ids ARIA
/// attributes name exist, the page has a language, a title and one `main`.
const ACCESSIBILITY_AUDIT: &str = r#"
const problems = [];
const visible = (el) => !!(el.offsetWidth || el.offsetHeight || el.getClientRects().length);
const nameOf = (el) => {
  const labelled = (el.getAttribute('aria-labelledby') || '').split(/\s+/).filter(Boolean)
    .map((id) => document.getElementById(id)?.textContent || '').join(' ');
  const labels = el.labels ? [...el.labels].map((l) => l.textContent).join(' ') : '';
  const images = [...el.querySelectorAll('img[alt]')].map((i) => i.alt).join(' ');
  return [el.getAttribute('aria-label'), labelled, labels, el.getAttribute('title'),
    ['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName) ? '' : el.textContent, images]
    .filter(Boolean).join(' ').trim();
};
const where = (el) => el.outerHTML.slice(0, 120);
for (const el of document.querySelectorAll('input:not([type=hidden]), select, textarea')) {
  if (!visible(el)) continue;
  if (['submit', 'button', 'reset'].includes(el.type)) { if (!(el.value || nameOf(el))) problems.push('button without a name: ' + where(el)); continue; }
  if (!nameOf(el)) problems.push('control without a label: ' + where(el));
}
for (const el of document.querySelectorAll('a[href], button, [role=button], [role=option], [role=combobox]')) {
  if (visible(el) && !nameOf(el) && !(el.tagName === 'INPUT' && el.value)) problems.push('nameless ' + el.tagName.toLowerCase() + ': ' + where(el));
}
for (const img of document.querySelectorAll('img')) if (!img.hasAttribute('alt')) problems.push('image without alt: ' + where(img));
const ids = {};
for (const el of document.querySelectorAll('[id]')) { if (ids[el.id]) problems.push('duplicate id ' + el.id); ids[el.id] = true; }
for (const attr of ['aria-labelledby', 'aria-describedby', 'aria-controls']) {
  for (const el of document.querySelectorAll(`[${attr}]`)) {
    for (const id of el.getAttribute(attr).split(/\s+/).filter(Boolean)) {
      if (!document.getElementById(id)) problems.push(`${attr} names a missing id ${id}: ` + where(el));
    }
  }
}
if (!document.documentElement.lang) problems.push('no lang on <html>');
if (!document.title.trim()) problems.push('no title');
if (document.querySelectorAll('main').length !== 1) problems.push('not exactly one <main>');
return problems;
"#;

/// The day's pages, checked as an accessibility checker would, and the keyboard's focus shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_main_pages_have_labels_names_and_a_visible_focus() {
    if !browser_available() {
        return;
    }
    let (app, _) = sales_app("sam@acme.test").await;
    let company = app
        .create("companies", json!({ "name": "Acme Corp" }))
        .await;
    let contact = app
        .create(
            "contacts",
            json!({ "first_name": "Ada", "last_name": "Lovelace", "company": company["id"] }),
        )
        .await;
    let contact = contact["id"].as_str().expect("id").to_owned();
    app.create(
        "activities",
        json!({ "kind": "task", "subject": "Call Ada", "links": [contact] }),
    )
    .await;
    let (driver, mut b) = start_browser(&app, "accessibility").await;
    login(&mut b, "sam@acme.test", "correct horse battery", "acme").await;
    for path in [
        "/".to_owned(),
        "/records/contacts".to_owned(),
        "/records/contacts?f=company&op=eq&v=".to_owned() + company["id"].as_str().unwrap(),
        format!("/records/contacts/{contact}"),
        format!("/records/contacts/{contact}/edit"),
        "/records/contacts/new".to_owned(),
        format!("/records/companies/{}", company["id"].as_str().unwrap()),
        "/records/deals/board".to_owned(),
        "/search?q=ada".to_owned(),
        "/settings/users".to_owned(),
        "/settings/roles".to_owned(),
        "/settings/fields".to_owned(),
        "/settings/plugins".to_owned(),
        "/settings/theme".to_owned(),
        "/settings/tokens".to_owned(),
        "/account/password".to_owned(),
    ] {
        b.goto(&path).await;
        b.wait_for("main").await;
        let problems = b.js(ACCESSIBILITY_AUDIT).await;
        if problems.as_array().is_none_or(|p| !p.is_empty()) {
            let message = b.failure(&format!("{path}: {problems}")).await;
            panic!("{message}");
        }
    }
    // The keyboard's focus is visible: Tab to the first control and look at it.
    b.goto("/records/contacts").await;
    b.wait_for("main").await;
    b.press('\u{E004}').await;
    let shown = b
        .js("const s = getComputedStyle(document.activeElement); return s.outlineStyle !== 'none' && s.outlineWidth !== '0px' || s.boxShadow !== 'none'")
        .await;
    assert_eq!(shown, json!(true), "the focused element is marked");
    b.assert_no_script_errors().await;
    b.client.clone().close().await.ok();
    drop(driver);
}
