//! The web app in English and Simplified Chinese: how a request's language is chosen (the
//! person's setting, their browser's, English), that a page in Chinese shows none of the
//! English catalogue, and that values put into messages stay escaped.

use host::i18n::Language;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT_LANGUAGE, COOKIE};
use serde_json::json;

use crate::support::{TestApp, id_of, on_both};
use crate::web::{Page, Session, send, user};

/// A page fetched through a session with an `Accept-Language` header.
async fn get_in(app: &TestApp, session: &Session<'_>, path: &str, accept: &str) -> Page {
    send(
        session
            .client
            .get(format!("{}{path}", app.base))
            .header(COOKIE, &session.cookie)
            .header(ACCEPT_LANGUAGE, accept),
    )
    .await
}

/// `html` without the elements `tag` (their content too).
fn without(html: &str, tag: &str) -> String {
    let (open, close) = (format!("<{tag}"), format!("</{tag}>"));
    let mut rest = html;
    let mut text = String::new();
    while let Some(start) = rest.find(&open) {
        text.push_str(&rest[..start]);
        rest = rest[start..]
            .find(&close)
            .map_or("", |end| &rest[start + end + close.len()..]);
    }
    text.push_str(rest);
    text
}

/// What a reader sees of a page: its text and the words of `title`, `aria-label`,
/// `placeholder`, `alt` and `data-confirm`, with scripts, the script's messages and code
/// (API names such as `done`) left out.
fn visible_text(html: &str) -> String {
    let text = without(&without(&without(html, "script"), "template"), "code");
    let mut out = String::new();
    let mut in_tag = false;
    let mut tag = String::new();
    for c in text.chars() {
        match c {
            '<' => {
                in_tag = true;
                tag.clear();
            }
            '>' if in_tag => {
                in_tag = false;
                for name in ["title", "aria-label", "placeholder", "alt", "data-confirm"] {
                    let marker = format!(" {name}=\"");
                    if let Some(at) = tag.find(&marker) {
                        let value = tag[at + marker.len()..].split('"').next().unwrap_or("");
                        out.push('\n');
                        out.push_str(value);
                    }
                }
                out.push('\n');
            }
            _ if in_tag => tag.push(c),
            _ => out.push(c),
        }
    }
    out.replace("&#x27;", "'")
        .replace("&quot;", "\"")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Whether `needle` stands in `haystack` as words (not inside a longer word).
fn contains_words(haystack: &str, needle: &str) -> bool {
    haystack.match_indices(needle).any(|(at, _)| {
        let before = haystack[..at].chars().next_back();
        let after = haystack[at + needle.len()..].chars().next();
        let word = |c: char| c.is_alphanumeric() || c == '_';
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// The English words of the catalogue a Chinese page must not show: each message's text
/// between its placeables, 4 characters or longer, and not also part of its Chinese message
/// (`HTTP`, `STARTTLS`).
fn english_words() -> Vec<(String, String)> {
    let mut words = Vec::new();
    for key in host::i18n::keys(Language::En) {
        let english = Language::En.t(&key);
        let chinese = Language::ZhCn.t(&key);
        // A placeable without its argument formats as `{$name}`.
        for piece in english.split(['{', '}']) {
            let piece = piece.trim();
            if piece.starts_with('$') || piece.chars().count() < 4 || chinese.contains(piece) {
                continue;
            }
            if !piece.chars().any(char::is_alphabetic) {
                continue;
            }
            words.push((key.clone(), piece.to_owned()));
        }
    }
    words
}

/// Words of the catalogue that pages also show as data, not as text to translate: a
/// built-in role's name (`admin`) and time zone names (`America/Port-au-Prince`) are
/// identifiers, the same in every language.
const DATA_WORDS: &[&str] = &["admin", "Port"];

on_both! {
    async fn pages_in_chinese_show_no_english_of_the_catalogue(app: TestApp) {
        user(&app, "mei@acme.test", "admin").await;
        let session = Session::login(&app, "mei@acme.test").await;
        let saved = session
            .post("/settings/account", &[("name", "Mei"), ("time_zone", "Asia/Shanghai"), ("language", "zh-CN")])
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
        let notice: String = form_urlencoded::byte_serialize("已保存".as_bytes()).collect();
        assert!(saved.flash().contains(&notice), "{}", saved.flash());
        let company = app.post("/api/v1/companies", &json!({ "name": "Acme" })).await;
        assert_eq!(company.status, StatusCode::CREATED, "{}", company.body);
        let contact = app
            .post(
                "/api/v1/contacts",
                &json!({ "first_name": "Ada", "last_name": "Lovelace", "company": id_of(&company.body), "tags": ["vip"] }),
            )
            .await;
        assert_eq!(contact.status, StatusCode::CREATED, "{}", contact.body);
        let id = id_of(&contact.body);
        let task = app
            .post(
                "/api/v1/activities",
                &json!({ "kind": "task", "subject": "Ring Ada", "due_at": "2026-03-08T07:00:00Z", "links": [id] }),
            )
            .await;
        assert_eq!(task.status, StatusCode::CREATED, "{}", task.body);
        let words = english_words();
        assert!(words.len() > 200, "{} English words", words.len());
        let pages = [
            "/".to_owned(),
            "/records/contacts".to_owned(),
            format!("/records/contacts/{id}"),
            "/records/contacts/new".to_owned(),
            format!("/records/contacts/{id}/edit"),
            "/records/companies/board".to_owned(),
            "/search?q=Ada".to_owned(),
            "/settings/account".to_owned(),
            "/settings/users".to_owned(),
            "/settings/fields".to_owned(),
            "/settings/roles".to_owned(),
            "/settings/tokens".to_owned(),
        ];
        for path in pages {
            // The setting wins over the browser's English.
            let page = get_in(&app, &session, &path, "en-US,en;q=0.9").await;
            assert!(
                page.status == StatusCode::OK || page.status == StatusCode::UNPROCESSABLE_ENTITY,
                "{path}: {}",
                page.status
            );
            assert!(page.html.contains("<html lang=\"zh-CN\">"), "{path}");
            let text = visible_text(&page.html);
            let left: Vec<_> = words
                .iter()
                .filter(|(_, word)| !DATA_WORDS.contains(&word.as_str()))
                .filter(|(_, word)| contains_words(&text, word))
                .collect();
            assert!(left.is_empty(), "{path} shows English: {left:?}\n{text}");
        }
        let record = session.get(&format!("/records/contacts/{id}")).await;
        let text = visible_text(&record.html);
        assert!(text.contains("联系人"), "the type's Chinese label: {text}");
        assert!(text.contains("\n名\n"), "the field's Chinese label: {text}");
        // Datetimes on the reader's clock (Shanghai, UTC+8), written the Chinese way.
        assert!(record.html.contains("2026年3月8日 15:00"), "{}", record.html);
    }

    async fn the_language_is_the_setting_then_the_browsers_then_english(app: TestApp) {
        let visitor = Session::anonymous(&app);
        let login = get_in(&app, &visitor, "/login", "zh-Hans,en;q=0.5").await;
        assert!(login.html.contains("<html lang=\"zh-CN\">"), "{}", login.html);
        assert!(login.html.contains("登录"));
        let login = get_in(&app, &visitor, "/login", "de-DE,fr;q=0.8").await;
        assert!(login.html.contains("<html lang=\"en\">"));
        assert!(login.html.contains("Log in"));

        user(&app, "li@acme.test", "member").await;
        let session = Session::login(&app, "li@acme.test").await;
        let home = get_in(&app, &session, "/", "zh-SG").await;
        assert!(home.html.contains("<html lang=\"zh-CN\">"), "no setting: the browser's");
        let home = get_in(&app, &session, "/", "de").await;
        assert!(home.html.contains("<html lang=\"en\">"), "neither: English");
        let saved = session
            .post("/settings/account", &[("name", "Li"), ("time_zone", "UTC"), ("language", "en")])
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
        let home = get_in(&app, &session, "/", "zh-CN").await;
        assert!(home.html.contains("<html lang=\"en\">"), "the setting wins");
        let refused = session
            .post("/settings/account", &[("name", "Li"), ("time_zone", "UTC"), ("language", "fr")])
            .await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.html.contains("id=\"account-language-error\" role=\"alert\">use"), "{}", refused.html);

        // The API takes it where the profile is set, and says it back.
        let me = app.patch("/api/v1/me", &json!({ "language": "zh-CN" }), None).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.body);
        assert_eq!(me.body["language"], "zh-CN");
        let cleared = app.patch("/api/v1/me", &json!({ "language": "" }), None).await;
        assert_eq!(cleared.body["language"], json!(null), "{}", cleared.body);
        let bad = app.patch("/api/v1/me", &json!({ "language": "klingon" }), None).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
        assert_eq!(bad.body["error"]["details"][0]["field"], "language", "{}", bad.body);
    }

    async fn a_title_put_into_a_message_stays_escaped(app: TestApp) {
        user(&app, "wu@acme.test", "admin").await;
        let session = Session::login(&app, "wu@acme.test").await;
        let hostile = "<script>alert(1)</script>";
        let contact = app.post("/api/v1/contacts", &json!({ "first_name": hostile })).await;
        assert_eq!(contact.status, StatusCode::CREATED, "{}", contact.body);
        let id = id_of(&contact.body);
        for (accept, words) in [("en", "Edit "), ("zh-CN", "编辑 ")] {
            let edit = get_in(&app, &session, &format!("/records/contacts/{id}/edit"), accept).await;
            assert_eq!(edit.status, StatusCode::OK);
            assert!(!edit.html.contains(hostile), "{}", edit.html);
            assert!(
                edit.html.contains(&format!("<h1>{words}&lt;script&gt;alert(1)&lt;&#x2f;script&gt;</h1>")),
                "{}",
                edit.html
            );
        }
    }

    async fn a_custom_fields_label_is_shown_in_the_readers_language(app: TestApp) {
        let field = app
            .post(
                "/api/v1/meta/entities/companies/fields",
                &json!({ "name": "segment", "label": "Segment", "type": "text", "labels": { "zh-cn": "行业细分" } }),
            )
            .await;
        assert_eq!(field.status, StatusCode::CREATED, "{}", field.body);
        assert_eq!(field.body["labels"], json!({ "zh-CN": "行业细分" }), "the tag is canonical");
        let meta = app.get("/api/v1/meta/entities/companies").await;
        let stored = meta.body["fields"]
            .as_array()
            .and_then(|fields| fields.iter().find(|f| f["name"] == "segment"))
            .cloned();
        assert_eq!(stored.map(|f| f["labels"].clone()), Some(json!({ "zh-CN": "行业细分" })), "{}", meta.body);
        let kind = app
            .post(
                "/api/v1/meta/entities",
                &json!({
                    "name": "project", "plural": "projects", "label": "Project", "label_plural": "Projects",
                    "labels": { "zh-CN": "项目" }, "labels_plural": { "zh-CN": "项目们" },
                    "title_fields": ["name"], "fields": [{ "name": "name", "type": "text", "labels": { "zh-CN": "项目名称" } }],
                }),
            )
            .await;
        assert_eq!(kind.status, StatusCode::CREATED, "{}", kind.body);
        let company = app.post("/api/v1/companies", &json!({ "name": "Acme", "segment": "Retail" })).await;
        assert_eq!(company.status, StatusCode::CREATED, "{}", company.body);
        let id = id_of(&company.body);

        user(&app, "fang@acme.test", "admin").await;
        let session = Session::login(&app, "fang@acme.test").await;
        for path in [
            format!("/records/companies/{id}"),
            format!("/records/companies/{id}/edit"),
            "/records/companies?columns=name,segment".to_owned(),
            "/settings/fields".to_owned(),
        ] {
            let chinese = get_in(&app, &session, &path, "zh-CN").await;
            assert_eq!(chinese.status, StatusCode::OK, "{path}");
            assert!(visible_text(&chinese.html).contains("行业细分"), "{path}: {}", chinese.html);
            let english = get_in(&app, &session, &path, "en").await;
            assert!(!english.html.contains("行业细分"), "{path}");
            assert!(visible_text(&english.html).contains("Segment"), "{path}: {}", english.html);
        }
        let projects = get_in(&app, &session, "/records/projects/new", "zh-CN").await;
        let text = visible_text(&projects.html);
        assert!(text.contains("项目名称"), "{text}");
        assert!(text.contains("项目"), "{text}");
        let projects = get_in(&app, &session, "/records/projects/new", "en").await;
        assert!(!projects.html.contains("项目"), "{}", projects.html);
        // The settings form asks for the Chinese label.
        let settings = get_in(&app, &session, "/settings/fields", "en").await;
        assert!(settings.html.contains("name=\"labels.zh-CN\""), "{}", settings.html);
    }

    async fn bad_labels_are_refused_and_nothing_is_stored(app: TestApp) {
        let long = "字".repeat(101);
        let bad = [
            (json!({ "klingon": "Segment" }), "labels.klingon", "unknown_language"),
            (json!({ "zh-CN": "" }), "labels.zh-CN", "invalid_label"),
            (json!({ "zh-CN": "   " }), "labels.zh-CN", "invalid_label"),
            (json!({ "zh-CN": long }), "labels.zh-CN", "invalid_label"),
            (json!({ "zh-CN": "行业\u{7}细分" }), "labels.zh-CN", "invalid_label"),
            (json!({ "zh-CN": "行业\n细分" }), "labels.zh-CN", "invalid_label"),
        ];
        for (labels, field, code) in bad {
            let refused = app
                .post("/api/v1/meta/entities/companies/fields", &json!({ "name": "segment", "type": "text", "labels": labels }))
                .await;
            assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "{labels}: {}", refused.body);
            assert_eq!(refused.body["error"]["details"][0]["field"], field, "{}", refused.body);
            assert_eq!(refused.body["error"]["details"][0]["code"], code, "{}", refused.body);
            let kind = app
                .post(
                    "/api/v1/meta/entities",
                    &json!({ "name": "project", "plural": "projects", "labels_plural": labels, "title_fields": ["name"], "fields": [{ "name": "name", "type": "text" }] }),
                )
                .await;
            assert_eq!(kind.status, StatusCode::UNPROCESSABLE_ENTITY, "{labels}: {}", kind.body);
        }
        let not_text = app
            .post("/api/v1/meta/entities/companies/fields", &json!({ "name": "segment", "type": "text", "labels": { "zh-CN": 7 } }))
            .await;
        assert!(not_text.status.is_client_error(), "{}", not_text.body);
        let exactly = "字".repeat(100);
        let meta = app.get("/api/v1/meta/entities/companies").await;
        assert!(!meta.body.to_string().contains("segment"), "nothing stored: {}", meta.body);
        let types = app.get("/api/v1/meta/entities").await;
        assert!(!types.body.to_string().contains("projects"), "nothing stored: {}", types.body);
        let longest = app
            .post("/api/v1/meta/entities/companies/fields", &json!({ "name": "segment", "type": "text", "labels": { "zh-CN": exactly } }))
            .await;
        assert_eq!(longest.status, StatusCode::CREATED, "100 characters are fine: {}", longest.body);
    }

    async fn a_hostile_label_is_escaped_on_the_page(app: TestApp) {
        let hostile = "<script>alert(1)</script>";
        let field = app
            .post(
                "/api/v1/meta/entities/contacts/fields",
                &json!({ "name": "nickname", "type": "text", "labels": { "zh-CN": hostile } }),
            )
            .await;
        assert_eq!(field.status, StatusCode::CREATED, "{}", field.body);
        let contact = app.post("/api/v1/contacts", &json!({ "first_name": "Ada", "nickname": "Countess" })).await;
        let id = id_of(&contact.body);
        user(&app, "gao@acme.test", "admin").await;
        let session = Session::login(&app, "gao@acme.test").await;
        for path in [format!("/records/contacts/{id}"), format!("/records/contacts/{id}/edit"), "/settings/fields".to_owned()] {
            let page = get_in(&app, &session, &path, "zh-CN").await;
            assert_eq!(page.status, StatusCode::OK, "{path}");
            assert!(!page.html.contains(hostile), "{path}: {}", page.html);
            assert!(page.html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "{path}: {}", page.html);
        }
    }

    async fn the_workspace_language_comes_after_the_readers_and_the_browsers(app: TestApp) {
        user(&app, "zhou@acme.test", "member").await;
        let member = Session::login(&app, "zhou@acme.test").await;
        let home = get_in(&app, &member, "/", "de").await;
        assert!(home.html.contains("<html lang=\"en\">"), "no workspace language yet");

        let token = app.user("acme", "zhou-api@acme.test", "member").await;
        let refused = app
            .request(reqwest::Method::PUT, "/api/v1/admin/theme", Some(&json!({ "language": "zh-CN" })), Some(&token), &[])
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        let bad = app.put("/api/v1/admin/theme", &json!({ "language": "klingon" })).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
        assert_eq!(bad.body["error"]["details"][0]["field"], "language", "{}", bad.body);
        let home = get_in(&app, &member, "/", "de").await;
        assert!(home.html.contains("<html lang=\"en\">"), "neither change was stored");

        let set = app.put("/api/v1/admin/theme", &json!({ "language": "zh-cn" })).await;
        assert_eq!(set.status, StatusCode::OK, "{}", set.body);
        assert_eq!(set.body["data"]["language"], "zh-CN", "{}", set.body);
        let home = get_in(&app, &member, "/", "de").await;
        assert!(home.html.contains("<html lang=\"zh-CN\">"), "neither the reader nor the browser chose");
        let home = get_in(&app, &member, "/records/contacts", "de-DE,fr;q=0.5").await;
        assert!(home.html.contains("<html lang=\"zh-CN\">"), "every page of the workspace");
        let home = get_in(&app, &member, "/", "en-GB").await;
        assert!(home.html.contains("<html lang=\"en\">"), "the browser's beats the workspace's");
        let saved = member
            .post("/settings/account", &[("name", "Zhou"), ("time_zone", "UTC"), ("language", "en")])
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
        let home = get_in(&app, &member, "/", "de").await;
        assert!(home.html.contains("<html lang=\"en\">"), "the reader's setting beats the workspace's");

        // Admins see and change it on Settings → Theme; a theme change leaves it alone.
        user(&app, "qian@acme.test", "admin").await;
        let admin = Session::login(&app, "qian@acme.test").await;
        let page = get_in(&app, &admin, "/settings/theme", "de").await;
        assert!(page.html.contains("<option value=\"zh-CN\" lang=\"zh-CN\" selected>"), "{}", page.html);
        let member_page = get_in(&app, &member, "/settings/theme", "de").await;
        assert_eq!(member_page.status, StatusCode::FORBIDDEN);
        let tokens = app.put("/api/v1/admin/theme", &json!({ "tokens": { "radius": "4px" } })).await;
        assert_eq!(tokens.status, StatusCode::OK, "{}", tokens.body);
        assert_eq!(tokens.body["data"]["language"], "zh-CN", "{}", tokens.body);
        let cleared = app.put("/api/v1/admin/theme", &json!({ "language": "" })).await;
        assert_eq!(cleared.body["data"]["language"], json!(null), "{}", cleared.body);
        let home = get_in(&app, &admin, "/", "de").await;
        assert!(home.html.contains("<html lang=\"en\">"), "cleared: English");
    }
}

// -- plugins' catalogues ------------------------------------------------------------------------

/// The sales plugin's catalogues, as its package ships them.
fn sales_messages() -> (host::plugins::messages::Messages, Vec<String>) {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins/sales/locales");
    let mut catalogues = std::collections::BTreeMap::new();
    for tag in ["en", "zh-CN"] {
        let text = std::fs::read_to_string(folder.join(format!("{tag}.ftl")))
            .expect("the sales catalogue");
        catalogues.insert(tag.to_owned(), text);
    }
    // A message starts a line with its key and `=`.
    let keys = catalogues["en"]
        .lines()
        .filter_map(|line| line.split_once(" = ").map(|(key, _)| key))
        .filter(|key| key.starts_with(|c: char| c.is_ascii_lowercase()) && !key.contains(' '))
        .map(str::to_owned)
        .collect();
    (host::plugins::messages::Messages::load(&catalogues), keys)
}

/// The English words of the sales plugin's catalogue a Chinese page must not show, as
/// `english_words` finds the host's.
fn sales_english_words() -> Vec<(String, String)> {
    let (messages, keys) = sales_messages();
    let mut words = Vec::new();
    for key in keys {
        let english = messages.t(Language::En, &key, None);
        let chinese = messages.t(Language::ZhCn, &key, None);
        for piece in english.split(['{', '}']) {
            let piece = piece.trim();
            if piece.starts_with('$') || piece.chars().count() < 4 || chinese.contains(piece) {
                continue;
            }
            if piece.chars().any(char::is_alphabetic) {
                words.push((key.clone(), piece.to_owned()));
            }
        }
    }
    words
}

/// Installs and enables the sales plugin; a company with an open deal (in the default
/// pipeline's Proposal stage, closing today) and a won one, a contact, a lead.
/// Returns the ids of the company, the open deal, the lead and the contact.
async fn sales_data(app: &TestApp) -> (String, String, String, String) {
    crate::plugins::install(app, "sales").await;
    let enabled = crate::plugins::enable(app, "sales", json!({})).await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    let stages = app.all("stages", "sort=position").await;
    let stage = |name: &str| {
        id_of(
            stages
                .iter()
                .find(|s| s["name"] == name)
                .unwrap_or_else(|| panic!("{name}")),
        )
    };
    let company = id_of(&app.create("companies", json!({ "name": "Acme" })).await);
    let contact = id_of(
        &app.create(
            "contacts",
            json!({ "first_name": "Wile", "last_name": "Coyote", "company": company }),
        )
        .await,
    );
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let deal = app
        .create("deals", json!({
            "name": "Anvil order", "amount": { "amount": "1234.50", "currency": "EUR" }, "company": company,
            "contact": contact, "stage": stage("Proposal"), "expected_close": today,
        }))
        .await;
    app.create(
        "deals",
        json!({ "name": "Rocket skates", "company": company, "stage": stage("Won") }),
    )
    .await;
    let lead = app.create("leads", json!({ "first_name": "Grace", "last_name": "Hopper", "source": "referral", "status": "working" })).await;
    (company, id_of(&deal), id_of(&lead), contact)
}

on_both! {
    async fn the_sales_plugin_speaks_the_readers_language(app: TestApp) {
        let (company, deal, lead, _) = sales_data(&app).await;
        user(&app, "lin@acme.test", "admin").await;
        let session = Session::login(&app, "lin@acme.test").await;
        // (path, what a Chinese reader sees, what an English reader sees)
        let pages: [(String, &[&str], &[&str]); 9] = [
            ("/records/deals".to_owned(), &["商机", "销售阶段", "金额"], &["Deals", "Stage", "Amount"]),
            (format!("/records/deals/{deal}"), &["商机", "销售阶段", "预计成交日期", "商机状态", "进行中", "阶段历史", "当前阶段", "停留时长"], &["Deal", "Stage", "Expected close", "Status", "Open", "Stage history", "Now in", "Time in stage"]),
            ("/records/deals/new".to_owned(), &["销售管道", "输单原因"], &["Pipeline", "Lost reason"]),
            ("/records/deals/board".to_owned(), &["商机"], &["Deals"]),
            (format!("/records/leads/{lead}"), &["线索", "线索来源", "客户推荐", "跟进中", "转化线索", "线索转化", "尚未转化。"], &["Lead", "Source", "Referral", "Working", "Convert lead", "Conversion", "Not converted yet."]),
            (format!("/records/leads/{lead}/actions/sales/convert"), &["转化线索", "同时创建商机", "公司（留空则根据线索新建）"], &["Convert lead", "Create a deal", "Company (empty: create one from the lead)"]),
            (format!("/records/companies/{company}"), &["商机", "币种", "进行中", "已赢单", "赢单", "Anvil order"], &["Deals", "Currency", "Open", "Won", "Anvil order"]),
            ("/".to_owned(), &["销售预测", "加权金额", "目标", "年"], &["Sales forecast", "Weighted", "Target"]),
            ("/records/pipelines".to_owned(), &["销售管道"], &["Pipelines"]),
        ];
        for (path, chinese, english) in &pages {
            let page = get_in(&app, &session, path, "zh-CN,zh;q=0.9").await;
            assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.html);
            let text = visible_text(&page.html);
            for words in *chinese {
                assert!(text.contains(words), "{path} in Chinese lacks {words}: {text}");
            }
            let page = get_in(&app, &session, path, "en-US,en;q=0.9").await;
            assert_eq!(page.status, StatusCode::OK, "{path}");
            let text = visible_text(&page.html);
            for words in *english {
                assert!(text.contains(words), "{path} in English lacks {words}: {text}");
            }
            for words in ["商机", "销售", "线索"] {
                assert!(!text.contains(words), "{path} in English shows {words}: {text}");
            }
        }

        // The API's panels and schema speak it too: the reader's setting, else the browser's.
        let forecast = app
            .request(reqwest::Method::GET, "/api/v1/plugins/sales/panels/forecast", None, Some(&app.token), &[("accept-language", "zh-CN")])
            .await;
        assert_eq!(forecast.status, StatusCode::OK, "{}", forecast.body);
        assert_eq!(forecast.body["title"], "销售预测");
        let html = forecast.body["html"].as_str().unwrap_or_default();
        assert!(html.contains("加权金额") && html.contains("€617.25"), "{html}");
        let month = chrono::Utc::now().format("%Y年%-m月").to_string();
        assert!(html.contains(&month), "{month}: {html}");
        let forecast = app.get("/api/v1/plugins/sales/panels/forecast").await;
        assert_eq!(forecast.body["title"], "Sales forecast");
        let month = chrono::Utc::now().format("%b %Y").to_string();
        assert!(forecast.body["html"].as_str().unwrap_or_default().contains(&month), "{month}: {}", forecast.body);
        let meta = app.get("/api/v1/meta/entities/deals").await;
        assert_eq!(meta.body["label"], "Deal", "{}", meta.body);
        assert_eq!(meta.body["labels"], json!({ "zh-CN": "商机" }), "{}", meta.body);
        let status = meta.body["fields"].as_array().and_then(|f| f.iter().find(|f| f["name"] == "status")).cloned().unwrap_or_default();
        assert_eq!(status["options"][1], json!({ "value": "won", "label": "Won", "labels": { "zh-CN": "赢单" } }), "{status}");
    }

    async fn sales_pages_in_chinese_show_no_english_of_either_catalogue(app: TestApp) {
        let (company, deal, lead, contact) = sales_data(&app).await;
        user(&app, "he@acme.test", "admin").await;
        let session = Session::login(&app, "he@acme.test").await;
        let saved = session
            .post("/settings/account", &[("name", "He"), ("time_zone", "Asia/Shanghai"), ("language", "zh-CN")])
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.html);
        let sales_words = sales_english_words();
        assert!(sales_words.len() > 60, "{} English words of the sales plugin", sales_words.len());
        let mut words = english_words();
        words.extend(sales_words);
        // Data, not words: the default pipeline's stage names ("Won", "Lost") and its name.
        let data: Vec<&str> = DATA_WORDS.iter().copied().chain(["Lost", "Sales"]).collect();
        let pages = [
            "/".to_owned(),
            "/records/deals".to_owned(),
            format!("/records/deals/{deal}"),
            "/records/deals/new".to_owned(),
            format!("/records/deals/{deal}/edit"),
            "/records/deals/board".to_owned(),
            "/records/leads".to_owned(),
            format!("/records/leads/{lead}"),
            format!("/records/leads/{lead}/actions/sales/convert"),
            "/records/pipelines".to_owned(),
            "/records/stages".to_owned(),
            format!("/records/companies/{company}"),
            format!("/records/contacts/{contact}"),
        ];
        for path in pages {
            let page = get_in(&app, &session, &path, "en-US,en;q=0.9").await;
            assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.html);
            assert!(page.html.contains("<html lang=\"zh-CN\">"), "{path}");
            // A JSON field's editor holds data (a deal's stage history: `"from": …`).
            let text = visible_text(&without(&page.html, "textarea"));
            let left: Vec<_> = words
                .iter()
                .filter(|(_, word)| !data.contains(&word.as_str()))
                .filter(|(_, word)| contains_words(&text, word))
                .collect();
            assert!(left.is_empty(), "{path} shows English: {left:?}\n{text}");
        }
    }

    async fn a_plugin_route_gets_the_readers_language(app: TestApp) {
        crate::plugins::install(&app, "good").await;
        assert_eq!(crate::plugins::enable(&app, "good", json!({})).await.status, StatusCode::OK);
        let ask = |accept: &'static str, forged: Option<&'static str>| {
            let app = &app;
            async move {
                let mut headers = vec![("accept-language", accept)];
                headers.extend(forged.map(|f| ("kith-language", f)));
                let reply = app.request(reqwest::Method::GET, "/p/good/hello", None, Some(&app.token), &headers).await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                reply.body["language"].as_str().unwrap_or_default().to_owned()
            }
        };
        assert_eq!(ask("zh-CN,zh;q=0.9", None).await, "zh-CN");
        assert_eq!(ask("de-DE", None).await, "en");
        assert_eq!(ask("zh-TW", Some("en")).await, "zh-CN", "the host's header, not the client's");
        // The reader's own setting wins over the browser's.
        let me = app.patch("/api/v1/me", &json!({ "language": "en" }), None).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.body);
        assert_eq!(ask("zh-CN", None).await, "en");
    }

    async fn a_plugins_messages_are_plain_text_and_its_own(app: TestApp) {
        // The well-behaved test plugin, given catalogues whose messages carry markup and a
        // template that asks for a key only the host's catalogue has.
        let dir = crate::plugins::package("good");
        std::fs::create_dir_all(dir.join("locales")).unwrap();
        std::fs::write(
            dir.join("locales/en.ftl"),
            "type-widget = <b>Widget</b>\ntype-widget-plural = <b>Widgets</b>\nfield-contact-score = Score\noverview-contacts = <script>alert(1)</script> { $count } contacts\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("locales/zh-CN.ftl"),
            "type-widget = <b>小部件</b>\ntype-widget-plural = <b>小部件</b>\nfield-contact-score = 积分\noverview-contacts = <script>alert(1)</script> { $count } 位联系人\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("templates/overview.html"),
            "<div class=\"good-overview\">\n  <p class=\"contacts\">{{ t(\"overview-contacts\", count=contacts) }}</p>\n  {% set other = \"contact\" %}<p class=\"other\">{{ t(\"type-\" ~ other) }}</p>\n</div>\n",
        )
        .unwrap();
        let package = host::plugins::package::Package::load(&dir).expect("the package loads");
        app.state.plugins.install(package).await.expect("installs");
        assert_eq!(crate::plugins::enable(&app, "good", json!({})).await.status, StatusCode::OK);
        app.create("contacts", json!({ "first_name": "Ada", "score": 7 })).await;
        app.create("widgets", json!({ "name": "Sprocket" })).await;

        for (accept, count) in [("zh-CN", "1 位联系人"), ("en", "1 contacts")] {
            let panel = app
                .request(reqwest::Method::GET, "/api/v1/plugins/good/panels/overview", None, Some(&app.token), &[("accept-language", accept)])
                .await;
            let html = panel.body["html"].as_str().unwrap_or_else(|| panic!("{}", panel.body)).replace("&#x2f;", "/");
            // Escaped by the template, not removed by the sanitiser: the message is text.
            assert!(html.contains(&format!("&lt;script&gt;alert(1)&lt;/script&gt; {count}")), "{html}");
            assert!(!html.contains("<script"), "{html}");
            // `t` reads the plugin's catalogue only: the host's `type-contact` is not its.
            assert!(html.contains("<p class=\"other\">type-contact</p>"), "{html}");
        }
        user(&app, "bai@acme.test", "admin").await;
        let session = Session::login(&app, "bai@acme.test").await;
        for path in ["/records/widgets", "/"] {
            let page = get_in(&app, &session, path, "zh-CN").await;
            assert_eq!(page.status, StatusCode::OK, "{path}");
            assert!(!page.html.contains("<b>小部件") && !page.html.contains("<script>alert"), "{path}: {}", page.html);
        }
        let widgets = get_in(&app, &session, "/records/widgets", "zh-CN").await;
        assert!(widgets.html.contains("&lt;b&gt;小部件&lt;&#x2f;b&gt;"), "{}", widgets.html);
        // The plugin labels the field it adds to contacts; the built-in type keeps the host's.
        let contacts = get_in(&app, &session, "/records/contacts?columns=first_name,score", "zh-CN").await;
        let text = visible_text(&contacts.html);
        assert!(text.contains("积分") && text.contains("联系人") && !text.contains("Score"), "{text}");
    }

    async fn a_catalogue_cannot_relabel_what_its_plugin_does_not_declare(app: TestApp) {
        let before = app.digest().await;
        for (hostile, words) in [
            ("type-contact = Hacked\n", "`type-contact` labels nothing this plugin declares"),
            ("field-contact-first_name = Hacked\n", "`field-contact-first_name` labels nothing"),
            ("option-company-industry-retail = Hacked\n", "`option-company-industry-retail` labels nothing"),
            // Another plugin's type (the sales plugin's deals).
            ("type-deal = Hacked\n", "`type-deal` labels nothing"),
            ("panel-forecast = Hacked\n", "`panel-forecast` labels nothing"),
            // Its messages cannot reach the host's.
            ("greeting = { type-contact }\n", "refers to the message `type-contact`, which this catalogue does not have"),
        ] {
            let dir = crate::plugins::package("good");
            std::fs::create_dir_all(dir.join("locales")).unwrap();
            std::fs::write(dir.join("locales/en.ftl"), hostile).unwrap();
            let error = host::plugins::package::Package::load(&dir).unwrap_err().to_string();
            let file = dir.join("locales/en.ftl");
            assert!(error.starts_with(&format!("{}:1: ", file.display())), "{hostile}: {error}");
            assert!(error.contains(words), "{hostile}: {error}");
            // Uploaded, it is refused the same way, naming the file in the upload.
            let refused = app
                .raw(reqwest::Method::POST, "/api/v1/plugins", crate::plugins::archive(&dir), Some("application/gzip"), &[])
                .await;
            assert_eq!(refused.code(), "validation_failed", "{}", refused.body);
            let message = refused.body["error"]["details"][0]["message"].as_str().unwrap_or_default();
            assert!(message.contains("locales/en.ftl:1: ") && message.contains(words), "{}", refused.body);
        }
        assert_eq!(app.digest().await, before, "nothing was installed");
    }
}
