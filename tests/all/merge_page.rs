//! Merging duplicates in the web app, as a browser without JavaScript does it: the record
//! page's notice, the merge page's field-by-field choices, and the merge through the store —
//! and the ways to abuse it: stale pages, roles that may not delete, ids of other workspaces,
//! forged forms and hostile values.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, id_of, on_both};
use crate::web::{Page, Session, user};

/// The `value` of the page's hidden input `name`.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// What a person reads: the page without its tags (ids in links and hidden inputs are fine).
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// A page's HTML with the escapes of URLs undone, to find links in it.
fn links(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&#x3d;", "=")
        .replace("&amp;", "&")
}

/// Posts the merge form as the page holds it, with `choices` added.
async fn submit(
    session: &Session<'_>,
    page: &str,
    plural: &str,
    id: &str,
    choices: &[(&str, &str)],
) -> Page {
    let (with, version, with_version) = (
        hidden(page, "with"),
        hidden(page, "version"),
        hidden(page, "with_version"),
    );
    let mut fields = vec![
        ("with", with.as_str()),
        ("version", version.as_str()),
        ("with_version", with_version.as_str()),
    ];
    fields.extend_from_slice(choices);
    session
        .post(&format!("/records/{plural}/{id}/merge"), &fields)
        .await
}

async fn contact(app: &TestApp, body: Value) -> String {
    id_of(&app.create("contacts", body).await)
}

on_both! {
    async fn a_person_merges_a_duplicate_choosing_field_by_field(app: TestApp) {
        user(&app, "sam@acme.test", "admin").await;
        let sam = Session::login(&app, "sam@acme.test").await;
        let ada = contact(&app, json!({ "first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "phone": "+44 20 7946 0001", "tags": ["vip"] })).await;
        let twin = contact(&app, json!({ "first_name": "Ada", "last_name": "L.", "email": "ADA@example.com", "phone": "+44 20 7946 0002", "title": "Countess", "tags": ["press"] })).await;
        let other = contact(&app, json!({ "first_name": "Grace", "email": "grace@example.com" })).await;
        let note = id_of(&app.create("activities", json!({ "kind": "note", "subject": "Met at the fair", "links": [twin] })).await);

        // The record page names its duplicate and offers the merge; one without any says nothing.
        let page = sam.get(&format!("/records/contacts/{ada}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.html);
        let found = links(&page.html);
        assert!(found.contains("Possible duplicate") && found.contains(&format!("href=\"/records/contacts/{twin}\">Ada L.</a>")), "{found}");
        let merge_url = format!("/records/contacts/{ada}/merge?with={twin}");
        assert!(found.contains(&format!("href=\"{merge_url}\"")), "{found}");
        assert!(!sam.get(&format!("/records/contacts/{other}")).await.html.contains("Possible duplicate"));

        // The merge page: the fields that differ, by title and value, never by id.
        let form = sam.get(&merge_url).await;
        assert_eq!(form.status, StatusCode::OK, "{}", form.html);
        let shown = text(&form.html);
        for expected in ["Merge “Ada L.” into “Ada Lovelace”", "+44 20 7946 0001", "+44 20 7946 0002", "Countess", "Lovelace", "L.", "moved to the trash", "links, notes and tasks"] {
            assert!(shown.contains(expected), "{expected} in {shown}");
        }
        assert!(!shown.contains(&ada) && !shown.contains(&twin), "no id reaches a person: {shown}");
        assert!(!form.html.contains("name=\"keep.first_name\"") && !form.html.contains("name=\"keep.email\""), "equal fields are not asked about");
        // Defaults follow the store's merge: own phone, the other's title for an empty one,
        // lists combined.
        assert!(form.html.contains("name=\"keep.phone\" value=\"this\" checked"), "{}", form.html);
        assert!(form.html.contains("name=\"keep.title\" value=\"other\" checked"));
        assert!(form.html.contains("name=\"keep.tags\" value=\"both\" checked"));

        // Their phone, my name.
        let done = submit(&sam, &form.html, "contacts", &ada, &[("keep.phone", "other"), ("keep.last_name", "this")]).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
        assert_eq!(done.location.as_deref(), Some(format!("/records/contacts/{ada}").as_str()));
        let notice = done.flash();
        assert!(notice.starts_with("kith_flash=success") && notice.contains(&host::web::encode("Merged “Ada L.” into “Ada Lovelace”.")), "{notice}");

        let survivor = app.get(&format!("/api/v1/contacts/{ada}")).await.body;
        assert_eq!((survivor["first_name"].as_str(), survivor["last_name"].as_str()), (Some("Ada"), Some("Lovelace")));
        assert_eq!(survivor["phone"], "+44 20 7946 0002");
        assert_eq!(survivor["title"], "Countess");
        assert_eq!(survivor["tags"], json!(["vip", "press"]));
        assert_eq!(app.get(&format!("/api/v1/contacts/{twin}")).await.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get(&format!("/api/v1/activities/{note}")).await.body["links"], json!([ada]));
        assert!(!sam.get(&format!("/records/contacts/{ada}")).await.html.contains("Possible duplicate"));
        // The page of the merged record is gone like any deleted one.
        assert_eq!(sam.get(&merge_url).await.status, StatusCode::NOT_FOUND);
    }
}

on_both! {
    async fn a_record_changed_after_the_page_was_opened_is_not_merged(app: TestApp) {
        user(&app, "sam@acme.test", "admin").await;
        let sam = Session::login(&app, "sam@acme.test").await;
        let ada = contact(&app, json!({ "first_name": "Ada", "email": "ada@example.com", "phone": "+44 20 7946 0001" })).await;
        let twin = contact(&app, json!({ "first_name": "Ada", "email": "ada@example.com", "phone": "+44 20 7946 0002" })).await;
        let form = sam.get(&format!("/records/contacts/{ada}/merge?with={twin}")).await;
        assert_eq!(form.status, StatusCode::OK);

        // Someone edits the other record in between: the choice made on the old values is
        // refused, nothing is written, and the page shows what is there now.
        let edited = app.patch(&format!("/api/v1/contacts/{twin}"), &json!({ "phone": "+44 20 7946 0003" }), None).await;
        assert_eq!(edited.status, StatusCode::OK, "{}", edited.body);
        let before = app.digest().await;
        let stale = submit(&sam, &form.html, "contacts", &ada, &[("keep.phone", "other")]).await;
        eprintln!("STALE {} {}", stale.status, text(&stale.html).replace("\n", " "));
        assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.html);
        assert!(stale.html.contains("nothing was merged") && stale.html.contains("+44 20 7946 0003"), "{}", stale.html);
        assert_eq!(app.digest().await, before, "nothing was written");

        // The page shown again carries the new versions: choosing again merges.
        let done = submit(&sam, &stale.html, "contacts", &ada, &[("keep.phone", "other")]).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.html);
        assert_eq!(app.get(&format!("/api/v1/contacts/{ada}")).await.body["phone"], "+44 20 7946 0003");
    }
}

on_both! {
    async fn only_who_may_change_one_and_delete_the_other_merges(app: TestApp) {
        user(&app, "mia@acme.test", "member").await;
        let mia = Session::login(&app, "mia@acme.test").await;
        let mia_token = host::auth::create_token(&app.state.db, "mia@acme.test", "acme", "test").await.unwrap();
        let theirs = contact(&app, json!({ "first_name": "Ada", "email": "ada@example.com", "phone": "+44 20 7946 0001" })).await;
        let mine = app.request(reqwest::Method::POST, "/api/v1/contacts", Some(&json!({ "first_name": "Ada", "email": "ada@example.com", "phone": "+44 20 7946 0002" })), Some(&mia_token), &[]).await;
        assert_eq!(mine.status, StatusCode::CREATED, "{}", mine.body);
        let mine = id_of(&mine.body);

        // A member reads the admin's record but may not delete it: the notice names it, with
        // no merge offered.
        let page = links(&mia.get(&format!("/records/contacts/{mine}")).await.html);
        assert!(page.contains("Possible duplicate") && page.contains(&format!("/records/contacts/{theirs}\"")), "{page}");
        assert!(!page.contains("/merge?with="), "{page}");

        // Opening the page anyway says why, without a merge button.
        let form = mia.get(&format!("/records/contacts/{mine}/merge?with={theirs}")).await;
        assert_eq!(form.status, StatusCode::FORBIDDEN, "{}", form.html);
        assert!(form.html.contains("may not merge") && !form.html.contains("type=\"submit\" class=\"button primary\""), "{}", form.html);

        // Posting anyway is refused by the store, shown as a refusal, and writes nothing —
        // either way round.
        let before = app.digest().await;
        for (keep, other) in [(&mine, &theirs), (&theirs, &mine)] {
            let page = mia.get(&format!("/records/contacts/{keep}/merge?with={other}")).await;
            let refused = submit(&mia, &page.html, "contacts", keep, &[("keep.phone", "other")]).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.html);
            let shown = text(&refused.html);
            assert!(shown.contains("may not merge") && !shown.contains(&theirs) && !shown.contains(&mine), "{shown}");
        }
        assert_eq!(app.digest().await, before, "nothing was written");
    }
}

on_both! {
    async fn merge_forms_refuse_foreign_ids_forged_tokens_and_render_values_inert(app: TestApp) {
        let role = json!({ "name": "no_titles", "types": { "*": { "create": "all", "read": "all", "edit": "all", "delete": "all" } }, "fields": { "contact": { "title": { "read": false, "edit": false } } } });
        app.save_role("no_titles", &role).await;
        user(&app, "sam@acme.test", "admin").await;
        user(&app, "nia@acme.test", "no_titles").await;
        let sam = Session::login(&app, "sam@acme.test").await;
        let nia = Session::login(&app, "nia@acme.test").await;
        let ada = contact(&app, json!({ "first_name": "Ada", "email": "ada@example.com" })).await;
        let twin = contact(&app, json!({ "first_name": "Ada", "last_name": "<script>alert(1)</script>", "email": "ada@example.com", "title": "Secret title" })).await;
        let other_workspace = app.user("other", "admin@other.test", "admin").await;
        let foreign = app.request(reqwest::Method::POST, "/api/v1/contacts", Some(&json!({ "first_name": "Ada", "email": "ada@example.com" })), Some(&other_workspace), &[]).await;
        let foreign = id_of(&foreign.body);
        let before = app.digest().await;

        // Hostile values are text on the notice and on the merge page.
        let page = sam.get(&format!("/records/contacts/{ada}")).await;
        assert!(page.html.contains("Possible duplicate") && !page.html.contains("<script>alert") && page.html.contains("&lt;script&gt;"), "{}", page.html);
        let form = sam.get(&format!("/records/contacts/{ada}/merge?with={twin}")).await;
        assert_eq!(form.status, StatusCode::OK);
        assert!(!form.html.contains("<script>alert") && form.html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "{}", form.html);

        // A field the reader may not read is not on the page at all.
        let hidden_page = nia.get(&format!("/records/contacts/{ada}/merge?with={twin}")).await;
        assert_eq!(hidden_page.status, StatusCode::OK, "{}", hidden_page.html);
        assert!(!hidden_page.html.contains("Secret title") && !hidden_page.html.contains("keep.title"), "{}", hidden_page.html);
        assert!(form.html.contains("Secret title"), "the admin sees it");

        // Another workspace's record, a non-id, no record, the same record: a 404 or a 400
        // page, never a 500, and nothing written.
        let cases = [(foreign.as_str(), StatusCode::NOT_FOUND), ("not-an-id", StatusCode::NOT_FOUND), ("", StatusCode::NOT_FOUND), (ada.as_str(), StatusCode::BAD_REQUEST)];
        for (with, status) in cases {
            let got = sam.get(&format!("/records/contacts/{ada}/merge?with={with}")).await;
            assert_eq!(got.status, status, "GET with={with}: {}", got.html);
            let posted = sam.post(&format!("/records/contacts/{ada}/merge"), &[("with", with), ("version", "1"), ("with_version", "1")]).await;
            assert_eq!(posted.status, status, "POST with={with}: {}", posted.html);
            assert!(posted.html.contains("</html>"), "a page, not a bare error");
        }
        assert_eq!(sam.get(&format!("/records/contacts/{ada}/merge")).await.status, StatusCode::BAD_REQUEST, "no with at all");
        assert_eq!(sam.get(&format!("/records/contacts/{foreign}/merge?with={ada}")).await.status, StatusCode::NOT_FOUND);

        // A form without the session's CSRF token, or with another, is refused.
        let fields = [("with", twin.as_str()), ("version", "1"), ("with_version", "1")];
        let path = format!("/records/contacts/{ada}/merge");
        assert_eq!(sam.post_raw(&path, &fields).await.status, StatusCode::FORBIDDEN);
        let mut forged = vec![("_csrf", "forged-token")];
        forged.extend_from_slice(&fields);
        assert_eq!(sam.post_raw(&path, &forged).await.status, StatusCode::FORBIDDEN);
        assert_eq!(app.digest().await, before, "nothing was written");
    }
}
