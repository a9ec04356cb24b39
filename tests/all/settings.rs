//! Settings a person can use: users with names, deactivation, invitations, time zones, the
//! roles editor's API and the add-field form's answers — each with its attacks (non-admins,
//! other workspaces, bad input, used, expired and forged links), checking nothing changed.

use reqwest::header::{CONTENT_TYPE, COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, on_both};
use crate::web::{FORM, Session, form, send};

const PASSWORD: &str = "correct horse battery";
async fn user(app: &TestApp, email: &str, role: &str, name: &str) -> String {
    let created = app
        .post(
            "/api/v1/admin/users",
            &json!({ "email": email, "password": PASSWORD, "role": role, "name": name }),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["name"], name);
    assert_eq!(created.body["status"], "active");
    created.body["id"].as_str().unwrap().to_owned()
}

async fn token_of(app: &TestApp, email: &str) -> String {
    host::auth::create_token(&app.state.db, email, "acme", "test")
        .await
        .unwrap()
}

async fn user_row(app: &TestApp, email: &str) -> Value {
    let users = app.get("/api/v1/admin/users").await;
    users
        .data()
        .iter()
        .find(|u| u["email"] == email)
        .unwrap_or_else(|| panic!("no {email} in {}", users.body))
        .clone()
}

async fn me(app: &TestApp, token: &str) -> (StatusCode, Value) {
    let reply = app
        .request(Method::GET, "/api/v1/me", None, Some(token), &[])
        .await;
    (reply.status, reply.body)
}

async fn invite(app: &TestApp, email: &str, name: &str) -> (String, String) {
    let invited = app
        .post(
            "/api/v1/admin/invitations",
            &json!({ "email": email, "name": name, "role": "member" }),
        )
        .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    assert_eq!(invited.body["user"]["status"], "invited");
    let path = invited.body["invite_path"].as_str().unwrap().to_owned();
    assert!(path.starts_with("/invite/") && path.len() > 40, "{path}");
    assert!(
        invited.body["invite_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http://") && u.ends_with(&path)),
        "{}",
        invited.body
    );
    (
        invited.body["user"]["id"].as_str().unwrap().to_owned(),
        path,
    )
}

/// The audit actions recorded about users.
async fn user_events(app: &TestApp) -> Vec<String> {
    app.get("/api/v1/audit?entity_type=user")
        .await
        .data()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect()
}

/// Sets a column of the invitations table for every row (to age links in tests).
async fn age_invitations(app: &TestApp) {
    sea_orm::ConnectionTrait::execute_unprepared(
        &app.state.db.write,
        "UPDATE invitations SET expires_at = 1",
    )
    .await
    .unwrap();
}

on_both! {
    async fn deactivated_users_lose_logins_sessions_and_tokens_at_once_but_keep_their_records(app: TestApp) {
        let kim = user(&app, "kim@acme.test", "member", "Kim Lee").await;
        let token = token_of(&app, "kim@acme.test").await;
        let mut browser = Session::anonymous(&app);
        assert_eq!(browser.sign_in("kim@acme.test", PASSWORD).await.status, StatusCode::SEE_OTHER);
        let contact = app.request(Method::POST, "/api/v1/contacts", Some(&json!({ "first_name": "Ada", "last_name": "Kim's" })), Some(&token), &[]).await;
        assert_eq!(contact.status, StatusCode::CREATED, "{}", contact.body);
        let contact_id = contact.body["id"].as_str().unwrap().to_owned();

        let off = app.post(&format!("/api/v1/admin/users/{kim}/deactivate"), &json!({})).await;
        assert_eq!(off.status, StatusCode::OK, "{}", off.body);
        assert_eq!(off.body["status"], "deactivated");
        assert!(off.body["deactivated_at"].is_string());

        assert_eq!(me(&app, &token).await.0, StatusCode::UNAUTHORIZED, "the token stops at once");
        let home = browser.get("/").await;
        assert_eq!(home.status, StatusCode::SEE_OTHER, "the session ends at once");
        assert!(home.location.unwrap().starts_with("/login"));
        let api_session = send(browser.client.get(format!("{}/api/v1/me", app.base)).header(COOKIE, &browser.cookie)).await;
        assert_eq!(api_session.status, StatusCode::UNAUTHORIZED);
        let again = Session::anonymous(&app).sign_in("kim@acme.test", PASSWORD).await;
        assert_eq!(again.status, StatusCode::FORBIDDEN);
        assert!(again.text().contains("deactivated"), "{}", again.text());
        assert!(again.cookie.is_none());
        let wrong = Session::anonymous(&app).sign_in("kim@acme.test", "not the password").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "a wrong password does not learn the state");
        let api_login = app.request(Method::POST, "/api/v1/auth/login", Some(&json!({ "email": "kim@acme.test", "password": PASSWORD, "workspace": "acme" })), None, &[]).await;
        assert_eq!(api_login.status, StatusCode::FORBIDDEN);

        // Their records keep their owner, and the owner keeps a name.
        let record = app.get(&format!("/api/v1/contacts/{contact_id}")).await;
        assert_eq!(record.body["owner"], kim.as_str());
        let row = user_row(&app, "kim@acme.test").await;
        assert_eq!((row["name"].as_str(), row["status"].as_str()), (Some("Kim Lee"), Some("deactivated")));
        let mut admin = Session::anonymous(&app);
        user(&app, "boss@acme.test", "admin", "Boss").await;
        admin.sign_in("boss@acme.test", PASSWORD).await;
        let page = admin.get("/settings/users").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text().contains("Kim Lee") && page.text().contains("deactivated"), "{}", page.text());
        assert!(page.text().contains("Reactivate"));
        // Pages name the owner by name, and nobody is offered a deactivated person to assign.
        let record_page = admin.get(&format!("/records/contacts/{contact_id}")).await;
        assert!(record_page.text().contains("Kim Lee") && !record_page.text().contains("kim@acme.test"), "{}", record_page.text());
        let list = admin.get("/records/contacts").await.text();
        let owners = &list[list.find("id=\"bulk-owner\"").expect("the bulk owner choice")..];
        let owners = &owners[..owners.find("</select>").unwrap()];
        assert!(owners.contains(">Boss</option>") && !owners.contains("Kim Lee"), "{owners}");

        let on = app.post(&format!("/api/v1/admin/users/{kim}/reactivate"), &json!({})).await;
        assert_eq!((on.status, on.body["status"].as_str()), (StatusCode::OK, Some("active")));
        assert_eq!(me(&app, &token).await.0, StatusCode::OK, "tokens work again");
        assert_eq!(browser.get("/").await.status, StatusCode::SEE_OTHER, "old sessions stay ended");
        let events = user_events(&app).await;
        assert!(events.contains(&"user_deactivated".to_owned()) && events.contains(&"user_reactivated".to_owned()), "{events:?}");
    }

    async fn user_changes_refuse_non_admins_other_workspaces_bad_input_and_themselves(app: TestApp) {
        let kim = user(&app, "kim@acme.test", "member", "Kim Lee").await;
        let member = token_of(&app, "kim@acme.test").await;
        let foreign = app.user("globex", "admin@globex.test", "admin").await;
        let admin_id = user_row(&app, "admin@acme.test").await["id"].as_str().unwrap().to_owned();
        let before = app.get("/api/v1/admin/users").await.body;

        let mine = app.post(&format!("/api/v1/admin/users/{admin_id}/deactivate"), &json!({})).await;
        assert_eq!((mine.status, mine.code()), (StatusCode::CONFLICT, "conflict"), "{}", mine.body);
        for path in [format!("/api/v1/admin/users/{kim}/deactivate"), format!("/api/v1/admin/users/{kim}/reactivate"), format!("/api/v1/admin/users/{kim}/invitation"), "/api/v1/admin/invitations".to_owned()] {
            let refused = app.request(Method::POST, &path, Some(&json!({ "email": "x@acme.test", "role": "member" })), Some(&member), &[]).await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}: {}", refused.body);
            if path.ends_with("invitations") {
                continue; // another workspace's admin invites into their own workspace
            }
            let elsewhere = app.request(Method::POST, &path, None, Some(&foreign), &[]).await;
            assert_eq!(elsewhere.status, StatusCode::NOT_FOUND, "{path}: {}", elsewhere.body);
        }
        for bad in ["nope", "0190a5c4-0000-7000-8000-0000000000aa"] {
            assert_eq!(app.post(&format!("/api/v1/admin/users/{bad}/deactivate"), &json!({})).await.status, StatusCode::NOT_FOUND);
        }
        let patch = |body: Value| {
            let path = format!("/api/v1/admin/users/{kim}");
            let app = &app;
            async move { app.patch(&path, &body, None).await }
        };
        let zone = patch(json!({ "time_zone": "Mars/Olympus_Mons", "name": "Kim" })).await;
        assert_eq!(zone.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(zone.body["error"]["details"][0]["field"], "time_zone", "{}", zone.body);
        let long = patch(json!({ "name": "x".repeat(101) })).await;
        assert_eq!(long.body["error"]["details"][0]["field"], "name", "{}", long.body);
        let unknown = patch(json!({ "nickname": "K" })).await;
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
        let role = patch(json!({ "role": "emperor" })).await;
        assert_eq!(role.body["error"]["details"][0]["field"], "role");
        let own_role = app.patch(&format!("/api/v1/admin/users/{admin_id}"), &json!({ "role": "member" }), None).await;
        assert_eq!(own_role.status, StatusCode::CONFLICT);
        let foreign_patch = app.request(Method::PATCH, &format!("/api/v1/admin/users/{kim}"), Some(&json!({ "name": "Pwned" })), Some(&foreign), &[]).await;
        assert_eq!(foreign_patch.status, StatusCode::NOT_FOUND);
        assert_eq!(app.get("/api/v1/admin/users").await.body, before, "nothing changed");

        let renamed = patch(json!({ "name": "Kim Park", "time_zone": "Europe/Berlin" })).await;
        assert_eq!((renamed.body["name"].as_str(), renamed.body["time_zone"].as_str()), (Some("Kim Park"), Some("Europe/Berlin")), "{}", renamed.body);
        let (_, kim_me) = me(&app, &member).await;
        assert_eq!(kim_me["name"], "Kim Park");
    }

    async fn an_invitation_sets_a_password_once_and_signs_the_person_in(app: TestApp) {
        let (id, path) = invite(&app, "nia@acme.test", "Nia Okafor").await;
        // Invited, not yet a login: no password works.
        for password in ["", PASSWORD] {
            let login = Session::anonymous(&app).sign_in("nia@acme.test", password).await;
            assert_ne!(login.status, StatusCode::SEE_OTHER, "{password:?}");
        }
        let visitor = Session::anonymous(&app);
        let page = visitor.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.text());
        assert!(page.text().contains("Nia Okafor") && page.text().contains("nia@acme.test"));

        let differ = visitor.post_raw(&path, &[("new_password", "long enough 1"), ("confirm_password", "long enough 2")]).await;
        assert_eq!(differ.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(differ.text().contains("The two passwords differ."));
        let weak = visitor.post_raw(&path, &[("new_password", "short"), ("confirm_password", "short")]).await;
        assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(weak.text().contains("at least 8 characters"), "{}", weak.text());
        let foreign_site = send(visitor.client.post(format!("{}{path}", app.base)).header(CONTENT_TYPE, FORM).header("origin", "https://evil.example").header("host", app.base.trim_start_matches("http://")).body(form(&[("new_password", "evil password"), ("confirm_password", "evil password")]))).await;
        assert_eq!(foreign_site.status, StatusCode::FORBIDDEN);
        assert_eq!(user_row(&app, "nia@acme.test").await["status"], "invited", "refused posts change nothing");

        let accepted = visitor.post_raw(&path, &[("new_password", "nia's own password"), ("confirm_password", "nia's own password")]).await;
        assert_eq!(accepted.status, StatusCode::SEE_OTHER, "{}", accepted.text());
        assert_eq!(accepted.location.as_deref(), Some("/"));
        let mut signed_in = Session::anonymous(&app);
        signed_in.adopt(accepted.cookie.expect("a session")).await;
        let home = signed_in.get("/").await;
        assert!(home.text().contains("Nia Okafor"), "the home page greets them by name");
        let row = user_row(&app, "nia@acme.test").await;
        assert_eq!((row["id"].as_str(), row["status"].as_str()), (Some(id.as_str()), Some("active")));

        // The link works once.
        assert_eq!(visitor.get(&path).await.status, StatusCode::NOT_FOUND);
        let reuse = visitor.post_raw(&path, &[("new_password", "taken over pw"), ("confirm_password", "taken over pw")]).await;
        assert_eq!(reuse.status, StatusCode::NOT_FOUND);
        assert!(reuse.cookie.is_none());
        assert_eq!(Session::anonymous(&app).sign_in("nia@acme.test", "taken over pw").await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(Session::anonymous(&app).sign_in("nia@acme.test", "nia's own password").await.status, StatusCode::SEE_OTHER);
        let again = app.post(&format!("/api/v1/admin/users/{id}/invitation"), &json!({})).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "someone with a password is not invited again");
        let events = user_events(&app).await;
        assert!(events.contains(&"user_invited".to_owned()) && events.contains(&"invitation_accepted".to_owned()), "{events:?}");
    }

    async fn dead_invitation_links_never_sign_anyone_in(app: TestApp) {
        let visitor = Session::anonymous(&app);
        let accept = |path: String| {
            let visitor = &visitor;
            async move { visitor.post_raw(&path, &[("new_password", "attacker pw 1"), ("confirm_password", "attacker pw 1")]).await }
        };
        // Forged.
        for forged in ["/invite/0000000000000000000000000000000000000000000000000000000000000000", "/invite/x", "/invite/%00"] {
            assert_eq!(visitor.get(forged).await.status, StatusCode::NOT_FOUND, "{forged}");
            assert_eq!(accept(forged.to_owned()).await.status, StatusCode::NOT_FOUND, "{forged}");
        }
        // Replaced by a new invitation.
        let (bob, first) = invite(&app, "bob@acme.test", "Bob").await;
        let again = app.post(&format!("/api/v1/admin/users/{bob}/invitation"), &json!({})).await;
        assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
        let second = again.body["invite_path"].as_str().unwrap().to_owned();
        assert_ne!(first, second);
        assert_eq!(accept(first.clone()).await.status, StatusCode::NOT_FOUND, "the old link stops working");
        assert_eq!(visitor.get(&second).await.status, StatusCode::OK);
        // Expired.
        age_invitations(&app).await;
        assert_eq!(visitor.get(&second).await.status, StatusCode::NOT_FOUND);
        assert_eq!(accept(second).await.status, StatusCode::NOT_FOUND);
        assert_eq!(user_row(&app, "bob@acme.test").await["status"], "invited");
        // Its user deactivated.
        let (carol, link) = invite(&app, "carol@acme.test", "Carol").await;
        assert_eq!(app.post(&format!("/api/v1/admin/users/{carol}/deactivate"), &json!({})).await.status, StatusCode::OK);
        assert_eq!(accept(link).await.status, StatusCode::NOT_FOUND);
        let reinvite = app.post(&format!("/api/v1/admin/users/{carol}/invitation"), &json!({})).await;
        assert_eq!(reinvite.status, StatusCode::CONFLICT, "{}", reinvite.body);
        // Another workspace's admin can neither invite nor re-invite here, and their own link
        // signs into their own workspace only.
        let foreign = app.user("globex", "admin@globex.test", "admin").await;
        let theirs = app.request(Method::POST, &format!("/api/v1/admin/users/{bob}/invitation"), None, Some(&foreign), &[]).await;
        assert_eq!(theirs.status, StatusCode::NOT_FOUND);
        let invited = app.request(Method::POST, "/api/v1/admin/invitations", Some(&json!({ "email": "dan@globex.test", "name": "Dan", "role": "member" })), Some(&foreign), &[]).await;
        assert_eq!(invited.status, StatusCode::CREATED);
        let accepted = accept(invited.body["invite_path"].as_str().unwrap().to_owned()).await;
        assert_eq!(accepted.status, StatusCode::SEE_OTHER);
        let mut dan = Session::anonymous(&app);
        dan.adopt(accepted.cookie.unwrap()).await;
        let (status, who) = {
            let r = send(dan.client.get(format!("{}/api/v1/me", app.base)).header(COOKIE, &dan.cookie)).await;
            (r.status, serde_json::from_str::<Value>(&r.text()).unwrap())
        };
        assert_eq!(status, StatusCode::OK);
        assert_ne!(who["workspace"], app.get("/api/v1/me").await.body["workspace"], "dan is in globex, not acme");
        assert!(app.get("/api/v1/admin/users").await.data().iter().all(|u| u["email"] != "dan@globex.test"));

        // Bad invitations: precise 4xx, nobody created.
        let count = app.get("/api/v1/admin/users").await.data().len();
        for (body, status, field) in [
            (json!({ "email": "not an email", "name": "X", "role": "member" }), StatusCode::UNPROCESSABLE_ENTITY, "email"),
            (json!({ "email": "x@acme.test", "name": "X", "role": "emperor" }), StatusCode::UNPROCESSABLE_ENTITY, "role"),
            (json!({ "email": "x@acme.test", "name": "X", "role": "member", "time_zone": "Nowhere/Land" }), StatusCode::UNPROCESSABLE_ENTITY, "time_zone"),
            (json!({ "email": "x@acme.test", "name": "line\nbreak", "role": "member" }), StatusCode::UNPROCESSABLE_ENTITY, "name"),
            (json!({ "email": "bob@acme.test", "name": "Bob", "role": "member" }), StatusCode::CONFLICT, ""),
        ] {
            let refused = app.post("/api/v1/admin/invitations", &body).await;
            assert_eq!(refused.status, status, "{body}: {}", refused.body);
            if !field.is_empty() {
                assert_eq!(refused.body["error"]["details"][0]["field"], field, "{}", refused.body);
            }
        }
        assert_eq!(app.get("/api/v1/admin/users").await.data().len(), count);
    }

    async fn time_zones_are_picked_on_my_account_and_due_dates_use_them(app: TestApp) {
        user(&app, "kim@acme.test", "member", "Kim").await;
        let token = token_of(&app, "kim@acme.test").await;
        let mut kim = Session::anonymous(&app);
        kim.sign_in("kim@acme.test", PASSWORD).await;
        let page = kim.get("/settings/account").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.text().contains("<option selected>UTC</option>") && page.text().contains("Asia/Tokyo"));

        let bad = kim.post("/settings/account", &[("name", "Kim Lee"), ("time_zone", "Mars/Olympus")]).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad.text().contains("is not a time zone"), "{}", bad.text());
        let forged = kim.post_raw("/settings/account", &[("name", "Kim"), ("time_zone", "Asia/Tokyo")]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "no CSRF token");
        assert_eq!(me(&app, &token).await.1["time_zone"], "UTC", "refused forms change nothing");

        let saved = kim.post("/settings/account", &[("name", "Kim Lee"), ("time_zone", "Asia/Tokyo")]).await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text());
        let (_, who) = me(&app, &token).await;
        assert_eq!((who["name"].as_str(), who["time_zone"].as_str()), (Some("Kim Lee"), Some("Asia/Tokyo")));

        // Typed on Tokyo's clock, stored in UTC, shown on Tokyo's clock; the API stays UTC.
        let created = kim.post("/records/activities/new", &[("kind", "task"), ("subject", "Call Ada"), ("due_at", "2026-12-01T09:30")]).await;
        assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text());
        let task_url = created.location.unwrap();
        let id = task_url.rsplit('/').next().unwrap();
        let stored = app.get(&format!("/api/v1/activities/{id}")).await;
        assert_eq!(stored.body["due_at"], "2026-12-01T00:30:00.000Z", "{}", stored.body);
        let shown = kim.get(&task_url).await;
        assert!(shown.text().contains("2026-12-01 09:30"), "{}", shown.text());
        let edit = kim.get(&format!("{task_url}/edit")).await;
        assert!(edit.text().contains("value=\"2026-12-01T09:30\""), "the input holds Tokyo's time");
        assert!(edit.text().contains("Asia/Tokyo"), "the form says which zone");
    }

    async fn my_day_splits_today_from_upcoming_on_the_readers_clock(app: TestApp) {
        use chrono::{Duration, FixedOffset, Timelike, Utc};
        user(&app, "kim@acme.test", "member", "Kim").await;
        let token = token_of(&app, "kim@acme.test").await;
        // Zones without summer time, 25 hours apart: at any moment one of them is on another
        // date than UTC — Kiritimati (UTC+14) from 10:00 UTC, Pago Pago (UTC−11) before 11:00
        // UTC. Due 23:59 there today (or 00:30 tomorrow), the task is "Today" (or "Upcoming")
        // by the reader's days and the other by UTC days.
        let now = Utc::now();
        let (zone, offset) = if now.hour() >= 10 { ("Pacific/Kiritimati", 14) } else { ("Pacific/Pago_Pago", -11) };
        let local = now.with_timezone(&FixedOffset::east_opt(offset * 3600).unwrap());
        let (due_local, expected) = if offset > 0 {
            (local.date_naive().and_hms_opt(23, 59, 0).unwrap(), "today")
        } else {
            ((local.date_naive() + Duration::days(1)).and_hms_opt(0, 30, 0).unwrap(), "upcoming")
        };
        let due_utc = due_local - Duration::hours(offset.into());
        let utc_group = if due_utc.date() == now.date_naive() { "today" } else { "upcoming" };
        assert_ne!(utc_group, expected, "the case tells the two day boundaries apart");

        let mut kim = Session::anonymous(&app);
        kim.sign_in("kim@acme.test", PASSWORD).await;
        assert_eq!(kim.post("/settings/account", &[("name", "Kim"), ("time_zone", zone)]).await.status, StatusCode::SEE_OTHER);
        let due = due_utc.and_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let task = app.request(Method::POST, "/api/v1/activities", Some(&json!({ "kind": "task", "subject": "Edge of the day", "due_at": due })), Some(&token), &[]).await;
        assert_eq!(task.status, StatusCode::CREATED, "{}", task.body);
        let home = kim.get("/").await;
        let group = home.text().split("task-group task-group-").skip(1).find(|part| part.contains("Edge of the day")).map(|part| part.split('"').next().unwrap().to_owned());
        assert_eq!(group.as_deref(), Some(expected), "{zone}: {}", home.text());
        assert!(home.text().contains(&due_local.format("%Y-%m-%d %H:%M").to_string()), "shown on their clock");
    }

    async fn roles_editor_saves_levels_and_field_rules_and_shows_built_in_roles_as_they_are(app: TestApp) {
        user(&app, "boss@acme.test", "admin", "Boss").await;
        let mut admin = Session::anonymous(&app);
        admin.sign_in("boss@acme.test", PASSWORD).await;
        let page = admin.get("/settings/roles").await;
        assert_eq!(page.status, StatusCode::OK);
        let text = page.text();
        let admin_section = text.split("<section").find(|s| s.contains(">admin <span")).expect("the admin role");
        assert!(admin_section.contains("level-all") && !admin_section.contains("level-none"), "admin shows all, never none: {admin_section}");
        assert!(page.text().contains("data-new-role"));

        // What the editor sends (see kith.js roleBody).
        let role = json!({ "name": "support", "admin": false, "types": { "contact": { "create": "none", "read": "team", "edit": "own", "delete": "none" }, "*": { "create": "none", "read": "all", "edit": "none", "delete": "none" } }, "fields": { "contact": { "email": { "read": false, "edit": false }, "phone": { "read": true, "edit": false } } } });
        let saved = app.put("/api/v1/admin/roles/support", &role).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        let text = admin.get("/settings/roles").await.text();
        let section = text.split("<section").find(|s| s.contains(">support<")).expect("the support role");
        assert!(section.contains("data-role-editor"));
        assert!(section.contains("name=\"types.contact.read\"") && section.contains("<option value=\"team\" selected>team</option>"), "{section}");
        assert!(section.contains("name=\"fields.contact.email\"") && section.contains("<option value=\"hidden\" selected>hidden</option>"));
        assert!(section.contains("<option value=\"read_only\" selected>read-only</option>"));

        // Built-in roles cannot be redefined; bad names and levels are refused; non-admins
        // and other workspaces cannot save.
        user(&app, "kim@acme.test", "member", "Kim").await;
        let kim = token_of(&app, "kim@acme.test").await;
        let foreign = app.user("globex", "admin@globex.test", "admin").await;
        let builtin = app.put("/api/v1/admin/roles/admin", &json!({ "name": "admin", "types": {} })).await;
        assert_eq!(builtin.status, StatusCode::UNPROCESSABLE_ENTITY);
        let bad_level = app.put("/api/v1/admin/roles/support", &json!({ "name": "support", "types": { "contact": { "read": "some" } } })).await;
        assert_eq!(bad_level.status, StatusCode::BAD_REQUEST, "{}", bad_level.body);
        let bad_name = app.put("/api/v1/admin/roles/Sales%20Rep", &json!({ "name": "Sales Rep" })).await;
        assert_eq!(bad_name.status, StatusCode::UNPROCESSABLE_ENTITY);
        let by_member = app.request(Method::PUT, "/api/v1/admin/roles/support", Some(&json!({ "name": "support" })), Some(&kim), &[]).await;
        assert_eq!(by_member.status, StatusCode::FORBIDDEN);
        let by_foreign = app.request(Method::PUT, "/api/v1/admin/roles/support", Some(&json!({ "name": "support" })), Some(&foreign), &[]).await;
        assert_eq!(by_foreign.status, StatusCode::OK, "globex has its own roles");
        let ours = app.get("/api/v1/admin/roles").await;
        let support = ours.data().iter().find(|r| r["name"] == "support").unwrap();
        assert_eq!(support["types"]["contact"]["read"], "team", "acme's role is untouched");
        assert_eq!(admin.get("/settings/roles").await.status, StatusCode::OK);
        let mut member_browser = Session::anonymous(&app);
        member_browser.sign_in("kim@acme.test", PASSWORD).await;
        assert_eq!(member_browser.get("/settings/roles").await.status, StatusCode::FORBIDDEN);
        assert_eq!(member_browser.get("/settings/users").await.status, StatusCode::FORBIDDEN);
        assert_eq!(member_browser.get("/settings/account").await.status, StatusCode::OK, "everyone has an account page");
    }

    async fn teams_get_members_from_the_roles_page(app: TestApp) {
        let kim = user(&app, "kim@acme.test", "member", "Kim Lee").await;
        let team = app.post("/api/v1/admin/teams", &json!({ "name": "North" })).await;
        assert_eq!(team.status, StatusCode::CREATED);
        let team_id = team.body["id"].as_str().unwrap().to_owned();
        user(&app, "boss@acme.test", "admin", "Boss").await;
        let mut admin = Session::anonymous(&app);
        admin.sign_in("boss@acme.test", PASSWORD).await;
        let page = admin.get("/settings/roles").await;
        assert!(page.text().contains(&format!("/api/v1/admin/teams/{team_id}/members")), "a members form per team");
        assert!(page.text().contains(&format!("value=\"{kim}\"")) && page.text().contains("Kim Lee"));
        let set = app.put(&format!("/api/v1/admin/teams/{team_id}/members"), &json!({ "members": [kim] })).await;
        assert_eq!(set.status, StatusCode::OK, "{}", set.body);
        let page = admin.get("/settings/roles").await;
        assert!(page.text().contains("(1 member)"), "{}", page.text());
        let foreign = app.user("globex", "admin@globex.test", "admin").await;
        let theirs = app.request(Method::PUT, &format!("/api/v1/admin/teams/{team_id}/members"), Some(&json!({ "members": [] })), Some(&foreign), &[]).await;
        assert_eq!(theirs.status, StatusCode::NOT_FOUND);
        let stranger = app.put(&format!("/api/v1/admin/teams/{team_id}/members"), &json!({ "members": ["0190a5c4-0000-7000-8000-0000000000aa"] })).await;
        assert_eq!(stranger.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(app.get("/api/v1/admin/teams").await.data()[0]["members"], json!([kim]), "nothing changed");
    }
}

/// The settings editors in a real browser (see `browser.rs` for the harness).
mod in_browser {
    use serde_json::{Value, json};

    use crate::browser::{admin, browser_available, login, start_browser};
    use crate::support::{Backend, TestApp};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_roles_editor_saves_a_new_role_and_changes_to_it() {
        if !browser_available() {
            return;
        }
        let app = TestApp::spawn(Backend::Sqlite)
            .await
            .expect("sqlite always runs");
        admin(&app, "sam@acme.test").await;
        let (driver, mut b) = start_browser(&app, "roles-editor").await;
        login(&mut b, "sam@acme.test", "correct horse battery", "acme").await;

        b.step("a new role from the matrix and the field rules");
        b.goto("/settings/roles").await;
        b.fill("#new-role-name", "sales_rep").await;
        let set = r#"const [form, name, value] = arguments;
            const select = document.querySelector(`${form} select[name="${name}"]`);
            select.value = value; select.dispatchEvent(new Event("change", { bubbles: true }));
            return select.value;"#;
        for (name, value) in [
            ("types.contact.read", "team"),
            ("types.contact.delete", "none"),
            ("fields.contact.email", "hidden"),
            ("fields.contact.phone", "read_only"),
        ] {
            let chosen = b
                .client
                .execute(
                    set,
                    vec![json!("form[data-new-role]"), json!(name), json!(value)],
                )
                .await
                .expect("select");
            assert_eq!(chosen, json!(value), "{name}");
        }
        b.screenshot("new-role").await;
        b.click("form[data-new-role] button[type=submit]").await;
        b.wait_for("form[data-api='/api/v1/admin/roles/sales_rep']")
            .await;
        let roles = app.get("/api/v1/admin/roles").await;
        let saved = roles
            .data()
            .iter()
            .find(|r| r["name"] == "sales_rep")
            .cloned()
            .expect("the role is saved");
        assert_eq!(saved["types"]["contact"]["read"], "team", "{saved}");
        assert_eq!(saved["types"]["contact"]["delete"], "none");
        assert_eq!(
            saved["types"]["company"]["edit"], "own",
            "the new role starts as a member"
        );
        assert_eq!(
            saved["fields"]["contact"]["email"],
            json!({ "read": false, "edit": false })
        );
        assert_eq!(
            saved["fields"]["contact"]["phone"],
            json!({ "read": true, "edit": false })
        );

        b.step("the saved role is edited in place");
        let form = "form[data-api='/api/v1/admin/roles/sales_rep']";
        b.client
            .execute(
                set,
                vec![json!(form), json!("types.contact.read"), json!("all")],
            )
            .await
            .expect("select");
        b.client
            .execute(
                set,
                vec![json!(form), json!("fields.contact.email"), json!("visible")],
            )
            .await
            .expect("select");
        b.click(&format!("{form} button[type=submit]")).await;
        let status = b.text(&format!("{form} .form-status")).await;
        assert!(status.starts_with("Saved."), "{status}");
        b.screenshot("role-saved").await;
        let roles = app.get("/api/v1/admin/roles").await;
        let saved = roles
            .data()
            .iter()
            .find(|r| r["name"] == "sales_rep")
            .cloned()
            .unwrap();
        assert_eq!(saved["types"]["contact"]["read"], "all");
        assert!(saved["fields"]["contact"].get("email").is_none(), "{saved}");

        b.step("a refused name is said in words next to the field");
        b.goto("/settings/roles").await;
        b.fill("#new-role-name", "admin").await;
        b.click("form[data-new-role] button[type=submit]").await;
        let said = b.text("form[data-new-role] [data-error-for=name]").await;
        assert_eq!(said, "That is a built-in role: choose another name.");

        b.step("the add-field form suggests the name and explains refusals");
        b.goto("/settings/fields").await;
        b.click("section[aria-labelledby=type-contact] details summary")
            .await;
        b.fill("#nf-contact-label", "Annual revenue (€)").await;
        let suggested = b
            .js("return document.querySelector('#nf-contact-name').value")
            .await;
        assert_eq!(suggested, json!("annual_revenue"));
        b.fill("#nf-contact-label", "Phone").await;
        b.click("section[aria-labelledby=type-contact] form[data-field-form] button[type=submit]")
            .await;
        let said = b
            .text("section[aria-labelledby=type-contact] [data-error-for=name]")
            .await;
        assert_eq!(said, "A field named `phone` already exists on Contacts.");
        b.fill("#nf-contact-name", "9lives").await;
        b.js("document.querySelector('#nf-contact-name').removeAttribute('pattern')")
            .await;
        b.click("section[aria-labelledby=type-contact] form[data-field-form] button[type=submit]")
            .await;
        let said: Value = b
            .until("a plain-language name error", |client| async move {
                let text = client
                    .find(fantoccini::Locator::Css(
                        "section[aria-labelledby=type-contact] [data-error-for=name]",
                    ))
                    .await
                    .ok()?
                    .text()
                    .await
                    .ok()?;
                text.starts_with("Names start")
                    .then_some(Value::String(text))
            })
            .await;
        assert_eq!(
            said,
            json!("Names start with a letter and use only a–z, 0–9 and _ (48 characters at most).")
        );
        b.screenshot("field-errors").await;
        b.assert_no_script_errors().await;
        b.client.clone().close().await.ok();
        drop(driver);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_invited_person_joins_with_the_link_the_admin_passes_on() {
        if !browser_available() {
            return;
        }
        let app = TestApp::spawn(Backend::Sqlite)
            .await
            .expect("sqlite always runs");
        admin(&app, "sam@acme.test").await;
        let (driver, mut b) = start_browser(&app, "invitation").await;
        login(&mut b, "sam@acme.test", "correct horse battery", "acme").await;

        b.step("the admin invites and gets a link");
        b.goto("/settings/users").await;
        b.fill("#inv-name", "Nia Okafor").await;
        b.fill("#inv-email", "nia@acme.test").await;
        b.click("form[data-invite] button[type=submit]").await;
        b.wait_for("#invite-link").await;
        b.screenshot("invitation-link").await;
        let link = b
            .js("return document.querySelector('#invite-link').value")
            .await;
        let link = link.as_str().expect("a link").to_owned();
        assert!(link.starts_with(&format!("{}/invite/", app.base)), "{link}");

        b.step("the person opens it, sets a password and is in");
        b.client
            .delete_all_cookies()
            .await
            .expect("log the admin out");
        b.client.goto(&link).await.expect("open the link");
        b.fill("#new_password", "nia's own password").await;
        b.fill("#confirm_password", "nia's own password").await;
        b.screenshot("set-password").await;
        b.click("button[type=submit]").await;
        b.wait_for_path("/").await;
        let greeting = b.text("h1").await;
        assert_eq!(greeting, "Good to see you, Nia Okafor");
        b.screenshot("joined").await;

        b.step("the link works once");
        b.client.goto(&link).await.expect("open the link again");
        let said = b.text("main").await;
        assert!(said.contains("does not work any more"), "{said}");
        b.assert_no_script_errors().await;
        b.client.clone().close().await.ok();
        drop(driver);
    }
}
