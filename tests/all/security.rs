//! Security: the permission matrix generated from role definitions, hidden and read-only
//! fields on every path, sessions and CSRF, tokens, throttling, headers, security audit.

use std::collections::{BTreeMap, HashSet};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Reply, TestApp, on_both};

/// A role definition as the test reads it: (create, read, edit, delete) levels for contacts.
#[derive(Debug, Clone, Copy)]
struct Levels {
    create: &'static str,
    read: &'static str,
    edit: &'static str,
    delete: &'static str,
}

/// Who owns a record, seen from the subject user.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Owner {
    Own,
    Team,
    Other,
    Foreign,
}

const OWNERS: [Owner; 4] = [Owner::Own, Owner::Team, Owner::Other, Owner::Foreign];

/// Whether a level reaches a record of this owner (the test's own reading of the rules).
fn reaches(level: &str, owner: Owner) -> bool {
    match (level, owner) {
        (_, Owner::Foreign) => false,
        ("all", _) => true,
        ("team", Owner::Own | Owner::Team) => true,
        ("own", Owner::Own) => true,
        _ => false,
    }
}

fn roles() -> Vec<(&'static str, Levels, Option<Value>)> {
    let custom = |levels: Levels| json!({"types": {"contact": {"create": levels.create, "read": levels.read, "edit": levels.edit, "delete": levels.delete}, "*": {"read": "all"}}});
    let rep = Levels {
        create: "team",
        read: "team",
        edit: "team",
        delete: "own",
    };
    let clerk = Levels {
        create: "own",
        read: "own",
        edit: "own",
        delete: "none",
    };
    let auditor = Levels {
        create: "none",
        read: "all",
        edit: "none",
        delete: "none",
    };
    vec![
        (
            "admin",
            Levels {
                create: "all",
                read: "all",
                edit: "all",
                delete: "all",
            },
            None,
        ),
        (
            "manager",
            Levels {
                create: "all",
                read: "all",
                edit: "all",
                delete: "all",
            },
            None,
        ),
        (
            "member",
            Levels {
                create: "own",
                read: "all",
                edit: "own",
                delete: "own",
            },
            None,
        ),
        (
            "read_only",
            Levels {
                create: "none",
                read: "all",
                edit: "none",
                delete: "none",
            },
            None,
        ),
        ("rep", rep, Some(custom(rep))),
        ("clerk", clerk, Some(custom(clerk))),
        ("auditor", auditor, Some(custom(auditor))),
    ]
}

fn hidden_leak(body: &Value, secret: &str) -> bool {
    body.to_string().contains(secret)
}

async fn id_of(reply: Reply) -> String {
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_owned()
}

on_both! {
    async fn permission_matrix_matches_the_role_definitions(app: TestApp) {
        let app = &app;
        let foreign = app.user("globex", "admin@globex.test", "admin").await;
        let mut cases = 0;
        for (role, levels, spec) in roles() {
            if let Some(spec) = spec {
                let mut body = spec.clone();
                body["name"] = json!(role);
                let saved = app.request(Method::PUT, &format!("/api/v1/admin/roles/{role}"), Some(&body), Some(&app.token), &[]).await;
                assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
            }
            let subject_email = format!("subject-{role}@acme.test");
            let subject = app.user("acme", &subject_email, role).await;
            let mate_email = format!("{role}-mate@acme.test");
            app.user("acme", &mate_email, "member").await;
            let users = app.get("/api/v1/admin/users").await;
            let user_id = |email: &str| users.data().iter().find(|u| u["email"] == email).unwrap()["id"].as_str().unwrap().to_owned();
            let (me, mate) = (user_id(&subject_email), user_id(&mate_email));
            let team = app.post("/api/v1/admin/teams", &json!({"name": format!("team-{role}")})).await;
            let team_id = team.body["id"].as_str().unwrap().to_owned();
            let set = app.request(Method::PUT, &format!("/api/v1/admin/teams/{team_id}/members"), Some(&json!({"members": [me, mate]})), Some(&app.token), &[]).await;
            assert_eq!(set.status, StatusCode::OK, "{}", set.body);
            let outsider = users.data().iter().find(|u| u["email"] == "admin@acme.test").unwrap()["id"].as_str().unwrap().to_owned();

            let owner_id = |owner: Owner| match owner {
                Owner::Own => me.clone(),
                Owner::Team => mate.clone(),
                Owner::Other | Owner::Foreign => outsider.clone(),
            };
            let make = |owner: Owner| {
                let body = json!({"first_name": "Subject", "last_name": format!("{role}-{owner:?}"), "owner": if owner == Owner::Foreign { Value::Null } else { json!(owner_id(owner)) }});
                let token = if owner == Owner::Foreign { foreign.clone() } else { app.token.clone() };
                async move { id_of(app.request(Method::POST, "/api/v1/contacts", Some(&body), Some(&token), &[]).await).await }
            };
            for owner in OWNERS {
                // read
                let id = make(owner).await;
                let read = app.request(Method::GET, &format!("/api/v1/contacts/{id}"), None, Some(&subject), &[]).await;
                let expected = if reaches(levels.read, owner) { StatusCode::OK } else { StatusCode::NOT_FOUND };
                assert_eq!(read.status, expected, "{role} read {owner:?}: {}", read.body);
                let listed = app.request(Method::GET, "/api/v1/contacts?limit=500", None, Some(&subject), &[]).await;
                let visible = listed.status == StatusCode::OK && listed.data().iter().any(|r| r["id"] == id.as_str());
                assert_eq!(visible, reaches(levels.read, owner), "{role} list {owner:?}");
                // edit
                let id = make(owner).await;
                let edit = app.request(Method::PATCH, &format!("/api/v1/contacts/{id}"), Some(&json!({"title": "Changed"})), Some(&subject), &[]).await;
                let expected = match (reaches(levels.read, owner), reaches(levels.edit, owner)) {
                    (false, _) => StatusCode::NOT_FOUND,
                    (true, true) => StatusCode::OK,
                    (true, false) => StatusCode::FORBIDDEN,
                };
                assert_eq!(edit.status, expected, "{role} edit {owner:?}: {}", edit.body);
                // delete
                let id = make(owner).await;
                let delete = app.request(Method::DELETE, &format!("/api/v1/contacts/{id}"), None, Some(&subject), &[]).await;
                let expected = match (reaches(levels.read, owner), reaches(levels.delete, owner)) {
                    (false, _) => StatusCode::NOT_FOUND,
                    (true, true) => StatusCode::OK,
                    (true, false) => StatusCode::FORBIDDEN,
                };
                assert_eq!(delete.status, expected, "{role} delete {owner:?}: {}", delete.body);
                // create, for this owner
                if owner != Owner::Foreign {
                    let create = app.request(Method::POST, "/api/v1/contacts", Some(&json!({"last_name": "New", "owner": owner_id(owner)})), Some(&subject), &[]).await;
                    let expected = match (levels.create, reaches(levels.create, owner)) {
                        ("none", _) => StatusCode::FORBIDDEN,
                        (_, true) => StatusCode::CREATED,
                        (_, false) => StatusCode::UNPROCESSABLE_ENTITY,
                    };
                    assert_eq!(create.status, expected, "{role} create for {owner:?}: {}", create.body);
                    cases += 1;
                }
                cases += 4;
            }
            // Reassigning a record to someone outside the edit scope is refused.
            if levels.edit != "all" && levels.edit != "none" {
                let id = make(Owner::Own).await;
                let moved = app.request(Method::PATCH, &format!("/api/v1/contacts/{id}"), Some(&json!({"owner": outsider})), Some(&subject), &[]).await;
                assert_eq!(moved.status, StatusCode::FORBIDDEN, "{role} gives a record away: {}", moved.body);
                cases += 1;
            }
            // Admin-only routes.
            for (method, path) in [(Method::GET, "/api/v1/admin/users"), (Method::GET, "/api/v1/admin/roles"), (Method::GET, "/api/v1/audit"), (Method::GET, "/api/v1/tokens?all=true")] {
                let reply = app.request(method.clone(), path, None, Some(&subject), &[]).await;
                let expected = if role == "admin" { StatusCode::OK } else { StatusCode::FORBIDDEN };
                assert_eq!(reply.status, expected, "{role} {method} {path}");
                cases += 1;
            }
        }
        eprintln!("permission matrix: {cases} cases checked");
        assert!(cases >= 150, "{cases}");
    }

    async fn hidden_and_read_only_fields_hold_on_every_path(app: TestApp) {
        let app = &app;
        let role = json!({
            "name": "support",
            "types": {"*": {"create": "all", "read": "all", "edit": "all", "delete": "all"}},
            "fields": {"contact": {"email": {"read": false}, "phone": {"edit": false}}},
        });
        app.save_role("support", &role).await;
        let support = app.user("acme", "support@acme.test", "support").await;
        let secret = "hidden.person@secret-domain.test";
        let contact = app.create("contacts", json!({"first_name": "Hilda", "last_name": "Secretary", "email": secret, "phone": "+1 555 0199"})).await;
        let id = contact["id"].as_str().unwrap();
        let as_support = |method: Method, path: String, body: Option<Value>| {
            let support = support.clone();
            async move { app.request(method, &path, body.as_ref(), Some(&support), &[]).await }
        };

        let got = as_support(Method::GET, format!("/api/v1/contacts/{id}"), None).await;
        assert_eq!(got.status, StatusCode::OK);
        assert!(got.body.get("email").is_none() && !hidden_leak(&got.body, secret), "{}", got.body);
        assert_eq!(got.body["phone"], "+1 555 0199");
        let listed = as_support(Method::GET, "/api/v1/contacts".into(), None).await;
        assert!(!hidden_leak(&listed.body, secret));
        for query in ["filter=email%5Beq%5D%3Ax", "sort=email", "fields=email"] {
            let reply = as_support(Method::GET, format!("/api/v1/contacts?{query}"), None).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query} must not reveal the hidden field");
        }
        let write_hidden = as_support(Method::PATCH, format!("/api/v1/contacts/{id}"), Some(json!({"email": "x@y.test"}))).await;
        assert_eq!(write_hidden.status, StatusCode::UNPROCESSABLE_ENTITY);
        let write_frozen = as_support(Method::PATCH, format!("/api/v1/contacts/{id}"), Some(json!({"phone": "+1 555 0100"}))).await;
        assert_eq!(write_frozen.body["error"]["details"][0]["code"], "read_only");
        let patched = as_support(Method::PATCH, format!("/api/v1/contacts/{id}"), Some(json!({"title": "Clerk"}))).await;
        assert_eq!(patched.status, StatusCode::OK);
        assert!(!hidden_leak(&patched.body, secret));
        assert_eq!(app.get(&format!("/api/v1/contacts/{id}")).await.body["email"], secret, "the admin still sees it, unchanged");

        let meta = as_support(Method::GET, "/api/v1/meta/entities/contacts".into(), None).await;
        let fields: BTreeMap<String, Value> = meta.body["fields"].as_array().unwrap().iter().map(|f| (f["name"].as_str().unwrap().to_owned(), f.clone())).collect();
        assert!(!fields.contains_key("email"));
        assert_eq!(fields["phone"]["read_only"], true);
        let openapi = as_support(Method::GET, "/api/v1/openapi.json".into(), None).await;
        assert!(openapi.body["components"]["schemas"]["Contact"]["properties"].get("email").is_none());

        // Search: the hidden email neither finds the record nor shows in snippets.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let admin_hits = app.get("/api/v1/search?q=secret-domain").await;
            if !admin_hits.data().is_empty() || std::time::Instant::now() > deadline {
                assert_eq!(admin_hits.data().len(), 1, "indexed for the admin");
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        for query in ["secret-domain", "hidden.person", secret] {
            let hits = as_support(Method::GET, format!("/api/v1/search?q={}", crate::lists::urlencode(query)), None).await;
            assert!(hits.data().is_empty(), "{query} finds the record through a hidden field: {}", hits.body);
        }
        let by_name = as_support(Method::GET, "/api/v1/search?q=hilda".into(), None).await;
        assert_eq!(by_name.data().len(), 1);
        assert!(!hidden_leak(&by_name.body, secret));
    }

    async fn sessions_use_cookies_with_csrf_and_end_on_logout_and_password_change(app: TestApp) {
        app.user("acme", "ada@acme.test", "member").await;
        let credentials = json!({"email": "Ada@acme.test", "password": "correct horse battery", "workspace": "acme"});
        let first = app.request(Method::POST, "/api/v1/auth/login", Some(&credentials), None, &[("Cookie", "kith_session=planted-by-attacker")]).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        let set_cookie = first.headers["set-cookie"].to_str().unwrap().to_owned();
        assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax") && !set_cookie.contains("Secure"), "{set_cookie}");
        let secret = set_cookie.split(';').next().unwrap().trim_start_matches("kith_session=").to_owned();
        assert_ne!(secret, "planted-by-attacker", "a login never adopts a cookie it did not issue");
        let cookie = format!("kith_session={secret}");
        let csrf = first.body["csrf_token"].as_str().unwrap().to_owned();
        let planted = app.request(Method::GET, "/api/v1/me", None, None, &[("Cookie", "kith_session=planted-by-attacker")]).await;
        assert_eq!(planted.status, StatusCode::UNAUTHORIZED);

        let me = app.request(Method::GET, "/api/v1/me", None, None, &[("Cookie", &cookie)]).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.body);
        assert_eq!(me.body["email"], "ada@acme.test");
        let body = json!({"last_name": "Via browser"});
        let no_csrf = app.request(Method::POST, "/api/v1/contacts", Some(&body), None, &[("Cookie", &cookie)]).await;
        assert_eq!((no_csrf.status, no_csrf.code()), (StatusCode::FORBIDDEN, "csrf_failed"));
        let wrong = app.request(Method::POST, "/api/v1/contacts", Some(&body), None, &[("Cookie", &cookie), ("X-CSRF-Token", "0000")]).await;
        assert_eq!(wrong.code(), "csrf_failed");
        let ok = app.request(Method::POST, "/api/v1/contacts", Some(&body), None, &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)]).await;
        assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.body);

        let secure = app.request(Method::POST, "/api/v1/auth/login", Some(&json!({"email": "ada@acme.test", "password": "correct horse battery", "workspace": "acme"})), None, &[("X-Forwarded-Proto", "https")]).await;
        assert!(secure.headers["set-cookie"].to_str().unwrap().contains("; Secure"));
        let other_cookie = format!("kith_session={}", secure.headers["set-cookie"].to_str().unwrap().split(';').next().unwrap().trim_start_matches("kith_session="));
        let changed = app.request(Method::POST, "/api/v1/auth/password", Some(&json!({"current_password": "correct horse battery", "new_password": "a new long password"})), None, &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)]).await;
        assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
        let revoked = app.request(Method::GET, "/api/v1/me", None, None, &[("Cookie", &other_cookie)]).await;
        assert_eq!(revoked.status, StatusCode::UNAUTHORIZED, "a password change ends the other sessions");
        let still = app.request(Method::GET, "/api/v1/me", None, None, &[("Cookie", &cookie)]).await;
        assert_eq!(still.status, StatusCode::OK, "but keeps the current one");

        let logout = app.request(Method::POST, "/api/v1/auth/logout", None, None, &[("Cookie", &cookie), ("X-CSRF-Token", &csrf)]).await;
        assert_eq!(logout.status, StatusCode::NO_CONTENT);
        assert!(logout.headers["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
        let after = app.request(Method::GET, "/api/v1/me", None, None, &[("Cookie", &cookie)]).await;
        assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    }

    async fn logins_fail_generically_and_are_throttled(app: TestApp) {
        app.user("acme", "bob@acme.test", "member").await;
        let app = &app;
        let attempt = |email: &'static str, password: &'static str| async move {
            let body = json!({"email": email, "password": password, "workspace": "acme"});
            app.request(Method::POST, "/api/v1/auth/login", Some(&body), None, &[]).await
        };
        let unknown = attempt("nobody@acme.test", "whatever-it-is").await;
        let wrong = attempt("bob@acme.test", "wrong password").await;
        assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
        assert_eq!(unknown.body, wrong.body, "no hint whether the email exists");
        for _ in 0..4 {
            assert_eq!(attempt("bob@acme.test", "wrong password").await.status, StatusCode::UNAUTHORIZED);
        }
        let blocked = attempt("bob@acme.test", "correct horse battery").await;
        assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS, "{}", blocked.body);
        assert!(blocked.headers.contains_key("retry-after"));
        let audit = app.get("/api/v1/audit?action=login_failed").await;
        assert_eq!(audit.data().len(), 6);
        assert_eq!(audit.data()[1]["changes"]["email"], "bob@acme.test");
    }

    async fn tokens_are_named_listed_revoked_and_expire(app: TestApp) {
        let created = app.post("/api/v1/tokens", &json!({"name": "ci", "expires_in_days": 30})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let secret = created.body["token"].as_str().unwrap().to_owned();
        assert!(created.body["expires_at"].is_string());
        let works = app.request(Method::GET, "/api/v1/me", None, Some(&secret), &[]).await;
        assert_eq!(works.status, StatusCode::OK);
        let listed = app.get("/api/v1/tokens").await;
        assert!(!listed.body.to_string().contains(&secret), "secrets are shown once");
        let ci = listed.data().iter().find(|t| t["name"] == "ci").unwrap();
        let id = ci["id"].as_str().unwrap().to_owned();

        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let listed = app.get("/api/v1/tokens").await;
            if listed.data().iter().any(|t| t["id"] == id.as_str() && t["last_used_at"].is_string()) {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "last use is recorded");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let member = app.user("acme", "m@acme.test", "member").await;
        let not_theirs = app.request(Method::DELETE, &format!("/api/v1/tokens/{id}"), None, Some(&member), &[]).await;
        assert_eq!(not_theirs.status, StatusCode::NOT_FOUND);
        let revoked = app.delete(&format!("/api/v1/tokens/{id}")).await;
        assert_eq!(revoked.status, StatusCode::OK);
        assert_eq!(app.request(Method::GET, "/api/v1/me", None, Some(&secret), &[]).await.status, StatusCode::UNAUTHORIZED);

        let short = app.post("/api/v1/tokens", &json!({"name": "short", "expires_in_days": 1})).await;
        let short_secret = short.body["token"].as_str().unwrap().to_owned();
        let sql = format!("UPDATE api_tokens SET expires_at = 1 WHERE id = '{}'", short.body["id"].as_str().unwrap());
        let db = &app.state.db.write;
        if db.get_database_backend() == sea_orm::DbBackend::Postgres {
            sea_orm::ConnectionTrait::execute_unprepared(db, &sql).await.unwrap();
        } else {
            let id = uuid::Uuid::parse_str(short.body["id"].as_str().unwrap()).unwrap();
            let stmt = sea_orm::Statement::from_sql_and_values(sea_orm::DbBackend::Sqlite, "UPDATE api_tokens SET expires_at = 1 WHERE id = ?", [id.into()]);
            sea_orm::ConnectionTrait::execute_raw(db, stmt).await.unwrap();
        }
        assert_eq!(app.request(Method::GET, "/api/v1/me", None, Some(&short_secret), &[]).await.status, StatusCode::UNAUTHORIZED, "expired");

        let actions: HashSet<String> = app.get("/api/v1/audit?entity_type=api_token").await.data().iter().map(|e| e["action"].as_str().unwrap().to_owned()).collect();
        assert_eq!(actions, HashSet::from(["token_created".to_owned(), "token_revoked".to_owned()]));
    }

    async fn security_events_are_audited_exportable_and_immutable(app: TestApp) {
        let created = app.post("/api/v1/admin/users", &json!({"email": "carol@acme.test", "password": "long enough pw", "role": "member"})).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let id = created.body["id"].as_str().unwrap();
        let promoted = app.patch(&format!("/api/v1/admin/users/{id}"), &json!({"role": "manager"}), None).await;
        assert_eq!(promoted.status, StatusCode::OK);
        let bad_role = app.patch(&format!("/api/v1/admin/users/{id}"), &json!({"role": "emperor"}), None).await;
        assert_eq!(bad_role.status, StatusCode::UNPROCESSABLE_ENTITY);
        let changed = app.get("/api/v1/audit?action=role_changed").await;
        assert_eq!(changed.data()[0]["changes"], json!({"role": {"before": "member", "after": "manager"}}));
        let csv = app.client.get(format!("{}/api/v1/audit?format=csv", app.base)).bearer_auth(&app.token).send().await.unwrap();
        assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
        let text = csv.text().await.unwrap();
        assert!(text.starts_with("id,at,actor,action,entity_type,record_id,changes\n") && text.contains("role_changed"), "{text}");
        for method in [Method::PATCH, Method::DELETE, Method::PUT] {
            let reply = app.request(method.clone(), "/api/v1/audit", Some(&json!({})), Some(&app.token), &[]).await;
            assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method} on the audit log");
        }
    }

    async fn every_response_carries_security_headers(app: TestApp) {
        for path in ["/api/v1/contacts", "/api/v1/nothing", "/healthz", "/no/route"] {
            let reply = app.get(path).await;
            assert_eq!(reply.headers["x-content-type-options"], "nosniff", "{path}");
            assert_eq!(reply.headers["x-frame-options"], "DENY");
            assert_eq!(reply.headers["referrer-policy"], "same-origin");
            let csp = reply.headers["content-security-policy"].to_str().unwrap();
            assert!(csp.starts_with("default-src 'none'") && !csp.contains("script-src"), "{csp}");
        }
        // A page runs only the script tags carrying its response's nonce, new for each one.
        let mut nonces = Vec::new();
        for _ in 0..2 {
            let page = app.client.get(format!("{}/login", app.base)).send().await.unwrap();
            let csp = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
            let nonce = csp
                .split("script-src 'nonce-")
                .nth(1)
                .and_then(|rest| rest.split('\'').next())
                .unwrap_or_else(|| panic!("no nonce in {csp}"))
                .to_owned();
            assert!(!csp.contains("'self' 'unsafe") && !csp.contains("script-src 'self'"), "{csp}");
            let html = page.text().await.unwrap();
            let scripts: Vec<&str> = html.split("<script").skip(1).collect();
            assert!(!scripts.is_empty() && scripts.iter().all(|tag| tag.contains(&format!("nonce=\"{nonce}\""))), "{html}");
            nonces.push(nonce);
        }
        assert_ne!(nonces[0], nonces[1]);
    }
}
