//! The OpenAPI document is true to the router: every route the server serves, with every method
//! it answers, is documented, and nothing is documented that no route serves. The route
//! templates come from the host (`host::app::api_paths`, what the router is built from); which
//! methods each serves is asked of the running server, without credentials, so nothing changes
//! (405 means "not this method"). The document is also checked to hold together as OpenAPI 3.1.

use std::collections::{BTreeSet, HashSet};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Backend, TestApp, on_both};

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

fn parameter(segment: &str) -> Option<&str> {
    segment.strip_prefix('{')?.strip_suffix('}')
}

/// A template with a value in place of each parameter, to send.
fn concrete(template: &str) -> String {
    let segments: Vec<&str> = template
        .split('/')
        .map(|s| if parameter(s).is_some() { "probe" } else { s })
        .collect();
    segments.join("/")
}

/// The route template that serves a documented path (its parameters left as they are): of
/// the templates that match it, the one whose static segments come first, as the router picks.
fn serving<'a>(templates: &'a [String], path: &str) -> Option<&'a str> {
    let segments: Vec<&str> = path.split('/').collect();
    let rank = |template: &str| -> Option<Vec<u8>> {
        let parts: Vec<&str> = template.split('/').collect();
        let mut rank = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let segment = segments.get(i)?;
            match parameter(part) {
                Some(name) if name.starts_with('*') => return Some([rank, vec![2]].concat()),
                Some(_) => rank.push(1),
                None if part == segment => rank.push(0),
                None => return None,
            }
        }
        (parts.len() == segments.len()).then_some(rank)
    };
    templates
        .iter()
        .filter_map(|t| Some((rank(t)?, t.as_str())))
        .min()
        .map(|(_, t)| t)
}

/// Every (method, template) the running server serves.
async fn served(app: &TestApp, templates: &[String]) -> BTreeSet<(String, String)> {
    let mut served = BTreeSet::new();
    for template in templates {
        let path = concrete(template);
        let mut any = false;
        for method in METHODS {
            let reply = app.request(method.clone(), &path, None, None, &[]).await;
            if reply.status == StatusCode::METHOD_NOT_ALLOWED {
                continue;
            }
            // Without credentials a served route refuses (401) or, for the login, finds no body.
            assert!(
                [StatusCode::UNAUTHORIZED, StatusCode::BAD_REQUEST].contains(&reply.status),
                "{method} {path}: {} {}",
                reply.status,
                reply.body
            );
            served.insert((method.as_str().to_lowercase(), template.clone()));
            any = true;
        }
        assert!(any, "{template} ({path}) answers no method");
    }
    served
}

/// Every (method, template) the document describes, each path mapped to the template serving it.
fn documented(doc: &Value, templates: &[String]) -> BTreeSet<(String, String)> {
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let template = serving(templates, path)
            .unwrap_or_else(|| panic!("{path} is documented, but no route serves it"));
        for method in item.as_object().expect("path item").keys() {
            if method != "parameters" {
                documented.insert((method.clone(), template.to_owned()));
            }
        }
    }
    documented
}

on_both! {
    async fn every_served_route_is_documented_and_every_documented_one_served(app: TestApp) {
        let templates = host::app::api_paths();
        assert!(templates.iter().any(|t| t == "/api/v1/{plural}/{id}"), "{templates:?}");
        let doc = app.get("/api/v1/openapi.json").await;
        assert_eq!(doc.status, StatusCode::OK);
        let served = served(&app, &templates).await;
        let documented = documented(&doc.body, &templates);
        let undocumented: Vec<_> = served.difference(&documented).collect();
        assert!(undocumented.is_empty(), "served but not documented: {undocumented:?}");
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(unserved.is_empty(), "documented but not served: {unserved:?}");

        // Each entity type the caller may read has its record endpoints.
        let types = app.get("/api/v1/meta/entities").await;
        for ty in types.data() {
            let plural = ty["plural"].as_str().unwrap();
            for path in [format!("/api/v1/{plural}"), format!("/api/v1/{plural}/{{id}}")] {
                assert!(doc.body["paths"].get(&path).is_some(), "{path} is not documented");
            }
        }
    }
}

/// The path parameters declared on a path item or an operation.
fn path_parameters(node: &Value) -> Vec<&Value> {
    let all = node["parameters"].as_array().into_iter().flatten();
    all.filter(|p| p["in"] == "path").collect()
}

/// What makes the document unusable as OpenAPI 3.1: unresolved `$ref`s, operations without
/// responses or with a repeated id, path parameters not declared (or declared and absent),
/// security requirements naming no scheme.
fn problems(doc: &Value) -> Vec<String> {
    fn refs<'a>(node: &'a Value, out: &mut Vec<&'a str>) {
        match node {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    out.push(target);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut problems = Vec::new();
    if doc["openapi"] != "3.1.0" {
        problems.push(format!("openapi is {}", doc["openapi"]));
    }
    let mut targets = Vec::new();
    refs(doc, &mut targets);
    for target in targets {
        let resolved = target
            .strip_prefix('#')
            .and_then(|pointer| doc.pointer(pointer));
        if !target.starts_with("#/components/") || resolved.is_none() {
            problems.push(format!("$ref {target} does not resolve to a component"));
        }
    }
    let schemes = &doc["components"]["securitySchemes"];
    let mut ids = HashSet::new();
    let mut requirements: Vec<&Value> = doc["security"].as_array().into_iter().flatten().collect();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        let in_template: BTreeSet<&str> = path.split('/').filter_map(parameter).collect();
        let shared = path_parameters(item);
        for (method, op) in item.as_object().into_iter().flatten() {
            if method == "parameters" {
                continue;
            }
            let here = format!("{} {path}", method.to_uppercase());
            match op["operationId"].as_str() {
                Some(id) if ids.insert(id.to_owned()) => {}
                id => problems.push(format!("{here}: operationId {id:?} missing or repeated")),
            }
            if op["responses"].as_object().is_none_or(|r| r.is_empty()) {
                problems.push(format!("{here}: no responses"));
            }
            let params: Vec<&Value> = shared.iter().copied().chain(path_parameters(op)).collect();
            let declared: BTreeSet<&str> =
                params.iter().filter_map(|p| p["name"].as_str()).collect();
            if declared != in_template {
                problems.push(format!(
                    "{here}: path parameters {declared:?}, template {in_template:?}"
                ));
            }
            if params.iter().any(|p| p["required"] != true) {
                problems.push(format!("{here}: a path parameter is not required"));
            }
            requirements.extend(op["security"].as_array().into_iter().flatten());
        }
    }
    for requirement in requirements {
        for scheme in requirement
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, _)| name)
        {
            if schemes.get(scheme).is_none() {
                problems.push(format!("security names no scheme `{scheme}`"));
            }
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_valid_openapi_3_1() {
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    let doc = app.get("/api/v1/openapi.json").await.body;
    assert_eq!(problems(&doc), Vec::<String>::new());
    // The check finds what it looks for.
    let breaks = |edit: &dyn Fn(&mut Value), expected: &str| {
        let mut broken = doc.clone();
        edit(&mut broken);
        let found = problems(&broken);
        assert!(
            found.iter().any(|p| p.contains(expected)),
            "{expected}: {found:?}"
        );
    };
    breaks(
        &|d| {
            d["paths"]["/api/v1/contacts/{id}"]
                .as_object_mut()
                .unwrap()
                .remove("parameters");
        },
        "PATCH /api/v1/contacts/{id}: path parameters {}",
    );
    breaks(
        &|d| d["paths"]["/api/v1/search"]["get"]["responses"] = json!({}),
        "GET /api/v1/search: no responses",
    );
    breaks(
        &|d| {
            d["components"]["responses"]
                .as_object_mut()
                .unwrap()
                .remove("Conflict");
        },
        "$ref #/components/responses/Conflict does not resolve",
    );
    breaks(
        &|d| d["paths"]["/api/v1/me"]["get"]["security"] = json!([{"cookie": []}]),
        "security names no scheme `cookie`",
    );

    // Browsers' sessions are described: the cookie, and its CSRF header on writes.
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["session"]["in"], "cookie");
    assert_eq!(schemes["session"]["name"], "kith_session");
    assert_eq!(schemes["csrf"]["name"], "X-CSRF-Token");
    assert_eq!(
        doc["security"],
        json!([{"bearer": []}, {"session": [], "csrf": []}])
    );
    assert_eq!(
        doc["paths"]["/api/v1/auth/login"]["post"]["security"],
        json!([])
    );
    let audit: Vec<&str> = doc["paths"]["/api/v1/audit"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in ["action", "since", "format"] {
        assert!(audit.contains(&name), "{audit:?}");
    }
}

/// The `st` of the virtualenv `cargo xtask test` installs schemathesis into:
/// `target/schemathesis`.
fn schemathesis() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let target = exe.ancestors().nth(3).expect("target dir");
    target.join("schemathesis").join("bin").join("st")
}

/// Examples per operation: enough to find what the fuzz found before (a panic on non-ASCII
/// whitespace, 390 schema violations), few enough to stay within about three minutes.
const FUZZ_EXAMPLES: &str = "25";

/// The API as an integrator's fuzzer sees it: schemathesis reads the document of a workspace
/// holding a custom field and a custom type, sends what the schemas allow (and what they do
/// not), and runs every check of its own — no 5xx, every status, content type, header and body
/// as documented, invalid input refused, valid input accepted. None may fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let st = schemathesis();
    assert!(
        st.exists(),
        "{} is missing: `cargo xtask test` installs schemathesis there",
        st.display()
    );
    let app = TestApp::spawn(Backend::Sqlite).await.expect("sqlite");
    let field = json!({"name": "shoe_size", "type": "integer"});
    let added = app
        .post("/api/v1/meta/entities/contacts/fields", &field)
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    let project = json!({
        "name": "project",
        "plural": "projects",
        "title_fields": ["title"],
        "duplicate_key": "title",
        "fields": [
            {"name": "title", "type": "text", "required": true, "indexed": true},
            {"name": "client", "type": "reference", "target": "company"},
            {"name": "stage", "type": "select", "options": [{"value": "planned"}, {"value": "running"}]},
            {"name": "budget", "type": "money"},
            {"name": "due", "type": "date"},
            {"name": "notes", "type": "long_text"},
        ],
    });
    let added = app.post("/api/v1/meta/entities", &project).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
    let company = app.create("companies", json!({"name": "Acme"})).await;
    app.create(
        "projects",
        json!({"title": "Rollout", "client": company["id"]}),
    )
    .await;

    let reports = std::env::temp_dir().join(format!("kith-fuzz-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&reports).expect("report dir");
    // Valid data may still be refused for what no schema can say: a filter, sort or cursor
    // that does not parse, or a `fields` naming no field (400); a version that is not the
    // current one (412); an id that names no record or user, a role's name that differs from
    // its path, a template the theme lacks (422). Invalid data may be refused as too large: a
    // batch over its documented `maxItems` is a 413 `batch_too_large`.
    let config = reports.join("schemathesis.toml");
    std::fs::write(
        &config,
        "[checks.positive_data_acceptance]\n\
         expected-statuses = [\"2xx\", \"400\", \"401\", \"403\", \"404\", \"409\", \"412\", \"422\", \"429\"]\n\
         [checks.negative_data_rejection]\n\
         expected-statuses = [\"400\", \"401\", \"403\", \"404\", \"405\", \"406\", \"409\", \"413\", \"415\", \"422\", \"428\", \"429\"]\n",
    )
    .expect("config");
    let started = std::time::Instant::now();
    let mut command = std::process::Command::new(&st);
    command
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", app.base))
        .args(["--header", &format!("Authorization: Bearer {}", app.token)])
        .args([
            "--checks",
            "all",
            "--max-examples",
            FUZZ_EXAMPLES,
            "--seed",
            "24",
        ])
        .args([
            "--workers",
            "2",
            "--no-color",
            "--suppress-health-check",
            "data_too_large,filter_too_much,too_slow,large_base_example",
        ])
        // Text as JSON carries it: no lone surrogates, which a JSON reader pairs up.
        .args(["--generation-codec", "utf-8"])
        // Nothing kept between runs; what it writes anyway (a crash cache) goes to the
        // report directory, removed after the run, not the working tree.
        .args(["--generation-database", "none"])
        // Revoking a token GET /tokens lists would revoke the fuzzer's own.
        .args(["--exclude-operation-id", "revoke_token"])
        // These resolve and connect to the hosts they are given (a webhook's URL, an SMTP
        // server, an IMAP server): made-up names would only time the fuzzer out on DNS.
        // Their bad input is tested in webhooks.rs, mail.rs and mailboxes.rs.
        .args(["--exclude-operation-id", "create_webhook"])
        .args(["--exclude-operation-id", "update_webhook"])
        .args(["--exclude-operation-id", "save_mail_settings"])
        .args(["--exclude-operation-id", "test_mail_settings"])
        .args(["--exclude-operation-id", "create_mailbox"])
        .args(["--exclude-operation-id", "update_mailbox"])
        .args(["--exclude-operation-id", "test_mailbox"])
        .args(["--report", "junit", "--report-dir"])
        .arg(&reports)
        .current_dir(&reports);
    // The server answers on this runtime's workers while the fuzzer runs.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .expect("schemathesis thread")
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("schemathesis took {:.0?}\n{stdout}", started.elapsed());
    std::fs::remove_dir_all(&reports).ok();
    assert!(
        output.status.success(),
        "schemathesis failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
