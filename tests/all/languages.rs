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
