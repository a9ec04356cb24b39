//! The sales plugin (`plugins/sales`) end to end: the real component, installed and enabled
//! over the API as an admin, driven over HTTP — its default pipeline, the deal, stage and lead
//! rules of its before-save hook, stage history, lead conversion, the forecast checked against
//! the test's own exact arithmetic, permissions, disabling and panels.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::lists::urlencode;
use crate::plugins::{cents, enable, install};
use crate::support::{Reply, TestApp, id_of, on_both};

/// The stages on-enable gives the default pipeline, in order: name, probability, outcome.
const DEFAULT_STAGES: [(&str, i64, &str); 6] = [
    ("Qualification", 10, "open"),
    ("Discovery", 20, "open"),
    ("Proposal", 50, "open"),
    ("Negotiation", 75, "open"),
    ("Won", 100, "won"),
    ("Lost", 0, "lost"),
];

/// A pipeline and its stages' ids by name.
struct Pipeline {
    id: String,
    stages: BTreeMap<String, String>,
}

impl Pipeline {
    fn stage(&self, name: &str) -> &str {
        self.stages
            .get(name)
            .unwrap_or_else(|| panic!("no stage {name} in {:?}", self.stages))
    }
}

fn money(amount: &str, currency: &str) -> Value {
    json!({ "amount": amount, "currency": currency })
}

/// Today in UTC, as the plugin dates closed deals.
fn today() -> String {
    chrono::Utc::now().date_naive().to_string()
}

/// An RFC 3339 instant in milliseconds.
fn millis(text: &Value) -> i64 {
    let text = text
        .as_str()
        .unwrap_or_else(|| panic!("{text} is not a datetime"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .timestamp_millis()
}

/// Cents as the plugin writes amounts: `"1234.50"`.
fn fixed(cents: i128) -> String {
    assert!(cents >= 0);
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// Hundredths of a cent (amount × percent) rounded half up to cents.
fn round_to_cents(ten_thousandths: i128) -> i128 {
    assert!(ten_thousandths >= 0);
    (ten_thousandths + 50) / 100
}

/// The (field, code) pairs of an error answer, sorted.
fn details_of(reply: &Reply) -> Vec<(String, String)> {
    let mut details: Vec<(String, String)> = reply.body["error"]["details"]
        .as_array()
        .map(|details| {
            details
                .iter()
                .map(|d| {
                    (
                        d["field"].as_str().unwrap_or("").to_owned(),
                        d["code"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    details.sort();
    details
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = expected
        .iter()
        .map(|(f, c)| ((*f).to_owned(), (*c).to_owned()))
        .collect();
    pairs.sort();
    pairs
}

/// Installs the sales plugin and enables it as the admin with `settings`.
async fn enable_sales(app: &TestApp, settings: Value) -> Pipeline {
    install(app, "sales").await;
    let enabled = enable(app, "sales", settings).await;
    assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);
    default_pipeline(app).await
}

/// The stages of a pipeline in position order, as the API lists them.
async fn stages_of(app: &TestApp, pipeline: &str) -> Vec<Value> {
    let filter = urlencode(&format!("pipeline[eq]:{pipeline}"));
    app.all("stages", &format!("filter={filter}&sort=position"))
        .await
}

async fn pipeline(app: &TestApp, id: &str) -> Pipeline {
    let stages = stages_of(app, id)
        .await
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_owned(), id_of(s)))
        .collect();
    Pipeline {
        id: id.to_owned(),
        stages,
    }
}

/// The workspace's only pipeline, the one on-enable created.
async fn default_pipeline(app: &TestApp) -> Pipeline {
    let pipelines = app.all("pipelines", "").await;
    assert_eq!(pipelines.len(), 1, "{pipelines:?}");
    pipeline(app, &id_of(&pipelines[0])).await
}

/// Creates a pipeline with stages (name, position, probability, outcome), in the given order.
async fn create_pipeline(app: &TestApp, name: &str, stages: &[(&str, i64, i64, &str)]) -> Pipeline {
    let created = app
        .create("pipelines", json!({ "name": name, "is_default": false }))
        .await;
    let id = id_of(&created);
    for (stage, position, probability, outcome) in stages {
        app.create(
            "stages",
            json!({ "name": stage, "pipeline": id, "position": position, "probability": probability, "outcome": outcome }),
        )
        .await;
    }
    pipeline(app, &id).await
}

/// Creates a deal as the holder of `token`, asserting a 201.
async fn create_deal(app: &TestApp, token: &str, body: Value) -> Value {
    let reply = app
        .request(Method::POST, "/api/v1/deals", Some(&body), Some(token), &[])
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{body}: {}", reply.body);
    reply.body
}

/// Reads a record as the admin, asserting a 200.
async fn read(app: &TestApp, plural: &str, id: &str) -> Value {
    let reply = app.get(&format!("/api/v1/{plural}/{id}")).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{plural}/{id}: {}",
        reply.body
    );
    reply.body
}

/// Patches a record as the admin at its current version (If-Match), asserting a 200.
async fn patch(app: &TestApp, plural: &str, record: &Value, body: Value) -> Value {
    let path = format!("/api/v1/{plural}/{}", id_of(record));
    let reply = app.patch(&path, &body, record["version"].as_i64()).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{path} {body}: {}",
        reply.body
    );
    reply.body
}

/// Sends a write the plugin must refuse: a 422 `validation_failed` whose details are exactly
/// `expected` (field, code), and nothing stored — for a PATCH, the record reads back as before.
async fn assert_refused(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Value,
    expected: &[(&str, &str)],
) {
    let before = app.digest().await;
    let record_before = (method == Method::PATCH).then_some(app.get(path).await.body);
    let reply = app
        .request(method.clone(), path, Some(&body), Some(&app.token), &[])
        .await;
    assert_eq!(
        (reply.status, reply.code()),
        (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        "{method} {path} {body}: {}",
        reply.body
    );
    assert_eq!(
        details_of(&reply),
        pairs(expected),
        "{method} {path} {body}: {}",
        reply.body
    );
    if let Some(record_before) = record_before {
        assert_eq!(
            app.get(path).await.body,
            record_before,
            "{path} {body}: the record is unchanged (version and fields)"
        );
    }
    assert_eq!(
        app.digest().await,
        before,
        "{method} {path} {body}: a refused write stores nothing"
    );
}

/// The id of the holder of `token`.
async fn user_id(app: &TestApp, token: &str) -> String {
    let me = app
        .request(Method::GET, "/api/v1/me", None, Some(token), &[])
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    me.body["id"].as_str().unwrap().to_owned()
}

/// A custom role that reads, edits and deletes only its own deals (and creates them), and
/// reads everything else.
async fn own_deals_user(app: &TestApp, email: &str) -> String {
    let role = json!({
        "name": "rep",
        "types": {
            "*": { "create": "own", "read": "all", "edit": "own", "delete": "own" },
            "deal": { "create": "own", "read": "own", "edit": "own", "delete": "own" },
        },
    });
    let saved = app
        .request(
            Method::PUT,
            "/api/v1/admin/roles/rep",
            Some(&role),
            Some(&app.token),
            &[],
        )
        .await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    app.user("acme", email, "rep").await
}

async fn convert(app: &TestApp, input: Value) -> Reply {
    app.post("/api/v1/plugins/sales/actions/convert", &input)
        .await
}

/// How many records of each type the conversion touches exist.
async fn counts(app: &TestApp) -> [usize; 3] {
    [
        app.all("contacts", "").await.len(),
        app.all("companies", "").await.len(),
        app.all("deals", "").await.len(),
    ]
}

async fn panel(app: &TestApp, token: &str, name: &str, record: Option<&str>) -> Reply {
    let query = record.map(|id| format!("?record={id}")).unwrap_or_default();
    app.request(
        Method::GET,
        &format!("/api/v1/plugins/sales/panels/{name}{query}"),
        None,
        Some(token),
        &[],
    )
    .await
}

/// A web page as the admin sees it after logging in through the login form.
async fn web_page(app: &TestApp, path: &str) -> (StatusCode, String) {
    let page = crate::web::Session::login(app, "admin@acme.test")
        .await
        .get(path)
        .await;
    (page.status, page.html)
}

/// One forecast row's exact sums: cents, and hundredths of a cent for the weighted amount.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
struct Sums {
    open: i128,
    weighted: i128,
    won: i128,
    deals: u64,
}

impl Sums {
    fn add(&mut self, other: Sums) {
        self.open += other.open;
        self.weighted += other.weighted;
        self.won += other.won;
        self.deals += other.deals;
    }
}

/// The test's own forecast of `deals` (as read through the API): per (month, owner,
/// currency), open deals by expected close (weighted by their probability) and won deals by
/// close date, in `months`; deals without an amount or a date count nowhere.
fn expected_forecast(
    deals: &[Value],
    months: &[String],
    pipeline: Option<&str>,
) -> BTreeMap<(String, Option<String>, String), Sums> {
    let mut rows: BTreeMap<(String, Option<String>, String), Sums> = BTreeMap::new();
    for deal in deals {
        if pipeline.is_some_and(|p| deal["pipeline"] != p) {
            continue;
        }
        let Some(amount) = deal["amount"]["amount"].as_str() else {
            continue;
        };
        let amount = cents(amount);
        let (date, sums) = match deal["status"].as_str() {
            Some("open") => (
                &deal["expected_close"],
                Sums {
                    open: amount,
                    weighted: amount * i128::from(deal["probability"].as_i64().unwrap_or(0)),
                    won: 0,
                    deals: 1,
                },
            ),
            Some("won") => (
                &deal["close_date"],
                Sums {
                    won: amount,
                    deals: 1,
                    ..Sums::default()
                },
            ),
            _ => continue,
        };
        let Some(month) = date.as_str().map(|d| d[..7].to_owned()) else {
            continue;
        };
        if !months.contains(&month) {
            continue;
        }
        let currency = deal["amount"]["currency"].as_str().unwrap().to_owned();
        rows.entry((month, deal["owner"].as_str().map(str::to_owned), currency))
            .or_default()
            .add(sums);
    }
    rows
}

/// Checks a forecast answer against the test's own computation: every row, and the totals
/// per month and currency (rounded from the exact sums; the target currency in every month,
/// with the target).
fn check_forecast(
    answer: &Value,
    expected: &BTreeMap<(String, Option<String>, String), Sums>,
    months: &[String],
    target: (&str, &str),
) {
    assert_eq!(answer["months"], json!(months), "{answer}");
    let rows = answer["currency_rows"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows: {answer}"));
    let got: BTreeMap<(String, Option<String>, String), Value> = rows
        .iter()
        .map(|r| {
            (
                (
                    r["month"].as_str().unwrap().to_owned(),
                    r["owner"].as_str().map(str::to_owned),
                    r["currency"].as_str().unwrap().to_owned(),
                ),
                json!([r["open"], r["weighted"], r["won"], r["deals"]]),
            )
        })
        .collect();
    assert_eq!(
        got.len(),
        rows.len(),
        "one row per month, owner and currency"
    );
    let want: BTreeMap<(String, Option<String>, String), Value> = expected
        .iter()
        .map(|(key, s)| {
            let values = json!([
                fixed(s.open),
                fixed(round_to_cents(s.weighted)),
                fixed(s.won),
                s.deals
            ]);
            (key.clone(), values)
        })
        .collect();
    assert_eq!(got, want, "forecast rows");

    let (target_currency, target) = target;
    let mut totals: BTreeMap<(String, String), Sums> = months
        .iter()
        .map(|m| ((m.clone(), target_currency.to_owned()), Sums::default()))
        .collect();
    for ((month, _, currency), sums) in expected {
        totals
            .entry((month.clone(), currency.clone()))
            .or_default()
            .add(*sums);
    }
    let want: BTreeMap<(String, String), Value> = totals
        .iter()
        .map(|((month, currency), s)| {
            let target = if currency == target_currency {
                json!(target)
            } else {
                Value::Null
            };
            (
                (month.clone(), currency.clone()),
                json!([
                    fixed(s.open),
                    fixed(round_to_cents(s.weighted)),
                    fixed(s.won),
                    target
                ]),
            )
        })
        .collect();
    let listed = answer["totals"].as_array().unwrap();
    let got: BTreeMap<(String, String), Value> = listed
        .iter()
        .map(|t| {
            (
                (
                    t["month"].as_str().unwrap().to_owned(),
                    t["currency"].as_str().unwrap().to_owned(),
                ),
                json!([t["open"], t["weighted"], t["won"], t["target"]]),
            )
        })
        .collect();
    assert_eq!(got.len(), listed.len(), "one total per month and currency");
    assert_eq!(got, want, "forecast totals");
}

on_both! {
    async fn enabling_creates_the_default_pipeline_once(app: TestApp) {
        let app = &app;
        install(app, "sales").await;
        let enabled = enable(app, "sales", json!({})).await;
        assert_eq!(enabled.status, StatusCode::OK, "{}", enabled.body);

        let meta = app.get("/api/v1/meta/entities").await;
        for plural in ["pipelines", "stages", "leads", "deals"] {
            assert!(meta.data().iter().any(|t| t["plural"] == plural && t["source"] == "plugin:sales"), "{plural}: {}", meta.body);
        }
        // Fields the manifest gives no label get one from their name, as custom fields do.
        let deals = meta.data().iter().find(|t| t["plural"] == "deals").unwrap();
        let expected_close = deals["fields"].as_array().unwrap().iter().find(|f| f["name"] == "expected_close").unwrap();
        assert_eq!(expected_close["label"], "Expected close", "{expected_close}");
        let pipelines = app.all("pipelines", "").await;
        assert_eq!(pipelines.len(), 1, "{pipelines:?}");
        assert_eq!(pipelines[0]["name"], "Sales");
        assert_eq!(pipelines[0]["is_default"], true);
        let id = id_of(&pipelines[0]);
        let stages = stages_of(app, &id).await;
        let got: Vec<(&str, i64, &str)> = stages
            .iter()
            .map(|s| (s["name"].as_str().unwrap(), s["probability"].as_i64().unwrap(), s["outcome"].as_str().unwrap()))
            .collect();
        assert_eq!(got, DEFAULT_STAGES, "the stages, in position order");
        let positions: Vec<i64> = stages.iter().map(|s| s["position"].as_i64().unwrap()).collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "distinct positions: {positions:?}");
        assert!(stages.iter().all(|s| s["pipeline"] == id.as_str()));

        // Enabling again (re-enable, upgrade) keeps what exists: same records, same versions.
        let again = enable(app, "sales", json!({})).await;
        assert_eq!(again.status, StatusCode::OK, "{}", again.body);
        assert_eq!(app.all("pipelines", "").await, pipelines);
        assert_eq!(stages_of(app, &id).await, stages);
        assert_eq!(app.all("stages", "").await.len(), DEFAULT_STAGES.len());
    }

    async fn enables_at_once_set_the_workspace_up_once(app: TestApp) {
        let app = &app;
        install(app, "sales").await;
        // Double clicks, or several admins: all succeed, and the workspace ends with one
        // complete default pipeline, not two and not half of one.
        let grant = app.state.plugins.requested_permissions("sales", None).await.unwrap();
        let enables: Vec<_> = (0..6)
            .map(|_| {
                let request = app.client.post(format!("{}/api/v1/plugins/sales/enable", app.base)).bearer_auth(&app.token).json(&json!({ "grant": grant }));
                tokio::spawn(async move {
                    let response = request.send().await.unwrap();
                    (response.status(), response.text().await.unwrap())
                })
            })
            .collect();
        for enabled in enables {
            let (status, body) = enabled.await.unwrap();
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        let listed = app.get("/api/v1/plugins/sales").await;
        assert!(listed.body["enabled"].is_string(), "{}", listed.body);
        let pipelines = app.all("pipelines", "").await;
        assert_eq!(pipelines.len(), 1, "{pipelines:?}");
        assert_eq!(stages_of(app, &id_of(&pipelines[0])).await.len(), DEFAULT_STAGES.len());
    }

    async fn before_save_refuses_bad_writes_and_derives_the_rest(app: TestApp) {
        let app = &app;
        let today_at_start = today();
        let is_today = |date: &Value| date == today_at_start.as_str() || *date == today();
        let sales = enable_sales(app, json!({})).await;
        // A second pipeline: stages created out of position order; `qualification` matches
        // the default pipeline's Qualification but for the case; nothing is named Discovery.
        let partners = create_pipeline(app, "Partners", &[
            ("Demo", 2, 40, "open"),
            ("qualification", 1, 15, "open"),
            ("Signed", 3, 100, "won"),
        ]).await;

        // Defaults: the default pipeline and its first open stage.
        let deal = create_deal(app, &app.token, json!({ "name": "Defaults", "amount": money("1000.00", "EUR") })).await;
        assert_eq!(deal["pipeline"], sales.id.as_str(), "{deal}");
        assert_eq!(deal["stage"], sales.stage("Qualification"));
        assert_eq!((&deal["status"], &deal["probability"]), (&json!("open"), &json!(10)));
        assert!(deal.get("close_date").is_none(), "{deal}");
        let elsewhere = create_deal(app, &app.token, json!({ "name": "Elsewhere", "pipeline": partners.id })).await;
        assert_eq!(elsewhere["stage"], partners.stage("qualification"), "the first open stage by position");
        assert_eq!(elsewhere["probability"], 15);

        // Every rule refuses with the field and a stable code, and nothing is stored.
        let path = format!("/api/v1/deals/{}", id_of(&deal));
        let refusals: Vec<(Value, Vec<(&str, &str)>)> = vec![
            (json!({ "stage": partners.stage("Demo") }), vec![("stage", "stage_not_in_pipeline")]),
            (json!({ "amount": money("-5.00", "EUR") }), vec![("amount", "negative_amount")]),
            (json!({ "stage": sales.stage("Lost") }), vec![("lost_reason", "required_when_lost")]),
            (json!({ "stage": sales.stage("Lost"), "lost_reason": "   " }), vec![("lost_reason", "required_when_lost")]),
            (json!({ "stage_history": [] }), vec![("stage_history", "read_only")]),
            (json!({ "status": "won" }), vec![("status", "read_only")]),
            (json!({ "probability": 90 }), vec![("probability", "read_only")]),
            (json!({ "stage_entered_at": "2030-01-01T00:00:00.000Z" }), vec![("stage_entered_at", "read_only")]),
            (
                json!({ "status": "lost", "probability": 0, "amount": money("-1.00", "EUR") }),
                vec![("status", "read_only"), ("probability", "read_only"), ("amount", "negative_amount")],
            ),
        ];
        for (body, expected) in refusals {
            assert_refused(app, Method::PATCH, &path, body, &expected).await;
        }
        assert_refused(
            app,
            Method::POST,
            "/api/v1/deals",
            json!({ "name": "Wrong stage", "pipeline": sales.id, "stage": partners.stage("Signed") }),
            &[("stage", "stage_not_in_pipeline")],
        )
        .await;
        assert_refused(
            app,
            Method::POST,
            "/api/v1/deals",
            json!({ "name": "Debt", "amount": money("-0.01", "USD") }),
            &[("amount", "negative_amount")],
        )
        .await;

        // Stages hold a percentage.
        assert_refused(
            app,
            Method::POST,
            "/api/v1/stages",
            json!({ "name": "Hope", "pipeline": sales.id, "position": 9, "probability": 101, "outcome": "open" }),
            &[("probability", "out_of_range")],
        )
        .await;
        let demo = format!("/api/v1/stages/{}", partners.stage("Demo"));
        assert_refused(app, Method::PATCH, &demo, json!({ "probability": -1 }), &[("probability", "out_of_range")]).await;
        let stage = app.patch(&demo, &json!({ "probability": 100 }), None).await;
        assert_eq!(stage.status, StatusCode::OK, "the bounds are allowed: {}", stage.body);

        // Leads are converted by the action only.
        assert_refused(
            app,
            Method::POST,
            "/api/v1/leads",
            json!({ "last_name": "Byhand", "status": "converted" }),
            &[("status", "use_convert_action")],
        )
        .await;
        let lead = app.create("leads", json!({ "last_name": "Lead", "status": "working" })).await;
        let lead_path = format!("/api/v1/leads/{}", id_of(&lead));
        assert_refused(app, Method::PATCH, &lead_path, json!({ "status": "converted" }), &[("status", "use_convert_action")]).await;

        // Won: status, probability and today's close date (UTC) follow the stage.
        let won = patch(app, "deals", &deal, json!({ "stage": sales.stage("Won") })).await;
        assert_eq!((&won["status"], &won["probability"]), (&json!("won"), &json!(100)), "{won}");
        assert!(is_today(&won["close_date"]), "{won}");
        // Back to an open stage: the close date goes.
        let reopened = patch(app, "deals", &won, json!({ "stage": sales.stage("Proposal") })).await;
        assert_eq!((&reopened["status"], &reopened["probability"]), (&json!("open"), &json!(50)), "{reopened}");
        assert!(reopened.get("close_date").is_none(), "{reopened}");
        // Lost, with a reason.
        let lost = patch(app, "deals", &reopened, json!({ "stage": sales.stage("Lost"), "lost_reason": "Budget cut" })).await;
        assert_eq!((&lost["status"], &lost["probability"]), (&json!("lost"), &json!(0)), "{lost}");
        assert!(is_today(&lost["close_date"]), "{lost}");
        // A closed deal keeps the close date it is given.
        let dated = create_deal(app, &app.token, json!({ "name": "Dated", "stage": sales.stage("Won"), "close_date": "2030-06-30" })).await;
        assert_eq!((&dated["status"], &dated["close_date"]), (&json!("won"), &json!("2030-06-30")), "{dated}");

        // Changing pipeline maps the stage by name (ignoring case)…
        let moving = create_deal(app, &app.token, json!({ "name": "Moving" })).await;
        assert_eq!(moving["stage"], sales.stage("Qualification"));
        let moved = patch(app, "deals", &moving, json!({ "pipeline": partners.id })).await;
        assert_eq!(moved["stage"], partners.stage("qualification"), "{moved}");
        assert_eq!((&moved["status"], &moved["probability"]), (&json!("open"), &json!(15)));
        // …and clears it when the new pipeline has no stage of that name.
        let discovering = create_deal(app, &app.token, json!({ "name": "Discovering", "stage": sales.stage("Discovery") })).await;
        assert_eq!(discovering["probability"], 20);
        let cleared = patch(app, "deals", &discovering, json!({ "pipeline": partners.id })).await;
        assert_eq!(cleared["pipeline"], partners.id.as_str());
        assert!(cleared.get("stage").is_none() && cleared.get("probability").is_none(), "{cleared}");
        assert_eq!(cleared["status"], "open");
        // A won deal moved to a pipeline without a "Won" stage is open again, without a close date.
        let reopened = patch(app, "deals", &dated, json!({ "pipeline": partners.id })).await;
        assert!(reopened.get("stage").is_none() && reopened.get("close_date").is_none(), "{reopened}");
        assert_eq!(reopened["status"], "open");
    }

    async fn stage_changes_are_recorded_in_the_history(app: TestApp) {
        let app = &app;
        let sales = enable_sales(app, json!({})).await;
        let member = app.user("acme", "rep@acme.test", "member").await;
        let (member_id, admin_id) = (user_id(app, &member).await, user_id(app, &app.token).await);

        let created = create_deal(app, &member, json!({ "name": "Tracked", "amount": money("500.00", "EUR") })).await;
        let path = format!("/api/v1/deals/{}", id_of(&created));
        let discovery = app.patch(&path, &json!({ "stage": sales.stage("Discovery") }), created["version"].as_i64()).await;
        assert_eq!(discovery.status, StatusCode::OK, "{}", discovery.body);
        let stale = app.patch(&path, &json!({ "stage": sales.stage("Negotiation") }), created["version"].as_i64()).await;
        assert_eq!(stale.code(), "version_conflict", "{}", stale.body);
        let proposal = app.patch(&path, &json!({ "stage": sales.stage("Proposal") }), discovery.body["version"].as_i64()).await;
        assert_eq!(proposal.status, StatusCode::OK, "{}", proposal.body);
        // A write that leaves the stage alone adds nothing.
        let renamed = patch(app, "deals", &proposal.body, json!({ "name": "Tracked deal" })).await;
        assert_eq!(renamed["stage_history"], proposal.body["stage_history"]);
        assert_eq!(renamed["stage_entered_at"], proposal.body["stage_entered_at"]);

        let history = renamed["stage_history"].as_array().unwrap_or_else(|| panic!("{renamed}"));
        let stage = |name: &str| json!(sales.stage(name));
        let expected = [
            (Value::Null, stage("Qualification"), Value::Null, json!("Qualification"), &member_id),
            (stage("Qualification"), stage("Discovery"), json!("Qualification"), json!("Discovery"), &admin_id),
            (stage("Discovery"), stage("Proposal"), json!("Discovery"), json!("Proposal"), &admin_id),
        ];
        assert_eq!(history.len(), expected.len(), "{renamed}");
        for (entry, (from, to, from_name, to_name, by)) in history.iter().zip(&expected) {
            assert_eq!((&entry["from"], &entry["to"]), (from, to), "{entry}");
            assert_eq!((&entry["from_name"], &entry["to_name"]), (from_name, to_name), "{entry}");
            assert_eq!(entry["by"], by.as_str(), "{entry}");
        }
        assert!(history[0]["seconds_in_from"].is_null());
        for pair in history.windows(2) {
            let (before, after) = (millis(&pair[0]["at"]), millis(&pair[1]["at"]));
            assert!(before < after, "entries in time order: {pair:?}");
            assert_eq!(pair[1]["seconds_in_from"], (after - before).div_euclid(1000), "{pair:?}");
        }
        assert_eq!(millis(&created["stage_entered_at"]), millis(&history[0]["at"]));
        assert_eq!(millis(&renamed["stage_entered_at"]), millis(&history[2]["at"]));

        // The history route: the current stage, and how long each stage lasted.
        let route = app.get(&format!("/p/sales/deals/{}/history", id_of(&created))).await;
        assert_eq!(route.status, StatusCode::OK, "{}", route.body);
        let view = &route.body;
        assert_eq!(view["deal"], id_of(&created).as_str());
        assert_eq!(view["current"]["stage"], stage("Proposal"));
        assert_eq!(view["current"]["name"], "Proposal");
        assert_eq!(millis(&view["current"]["since"]), millis(&renamed["stage_entered_at"]));
        let seconds = view["current"]["seconds"].as_i64().unwrap_or_else(|| panic!("{view}"));
        assert!(seconds >= 0, "{view}");
        let timed = view["history"].as_array().unwrap();
        assert_eq!(timed.len(), history.len());
        for (i, (timed, entry)) in timed.iter().zip(history).enumerate() {
            for key in ["from", "to", "from_name", "to_name", "at", "by", "seconds_in_from"] {
                assert_eq!(timed[key], entry[key], "{key} of entry {i}");
            }
            let lasted = match history.get(i + 1) {
                Some(next) => next["seconds_in_from"].clone(),
                None => json!(seconds),
            };
            assert_eq!(timed["seconds_in_stage"], lasted, "entry {i}: {view}");
        }
        let nowhere = app.get(&format!("/p/sales/deals/{}/history", uuid::Uuid::now_v7())).await;
        assert_eq!(nowhere.status, StatusCode::NOT_FOUND, "{}", nowhere.body);
    }

    async fn converting_a_lead_creates_or_reuses_its_records_once(app: TestApp) {
        let app = &app;
        let sales = enable_sales(app, json!({})).await;

        // A company with the lead's domain exists: reused, not created.
        let globex = app.create("companies", json!({ "name": "Globex", "domain": "globex.test" })).await;
        let lead = app.create("leads", json!({
            "first_name": "Hank", "last_name": "Scorpio", "email": "hank@globex.test",
            "company_name": "Globex Corporation", "title": "CEO", "status": "qualified",
            "expected_amount": money("4200.50", "EUR"),
        })).await;
        let before = counts(app).await;
        let reply = convert(app, json!({ "id": id_of(&lead) })).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let answer = &reply.body["data"];
        assert_eq!(answer["lead"], id_of(&lead).as_str());
        assert_eq!(answer["company"], id_of(&globex).as_str(), "found by domain: {answer}");
        assert_eq!((&answer["company_created"], &answer["contact_created"]), (&json!(false), &json!(true)));
        assert_eq!(counts(app).await, [before[0] + 1, before[1], before[2] + 1], "a contact and a deal, no company");
        let contact = read(app, "contacts", answer["contact"].as_str().unwrap()).await;
        assert_eq!((&contact["first_name"], &contact["last_name"], &contact["email"]), (&json!("Hank"), &json!("Scorpio"), &json!("hank@globex.test")));
        assert_eq!(contact["company"], id_of(&globex).as_str());
        let deal = read(app, "deals", answer["deal"].as_str().unwrap()).await;
        assert_eq!(deal["name"], "Globex deal", "named after the company: {deal}");
        assert_eq!(deal["amount"], lead["expected_amount"]);
        assert_eq!((&deal["company"], &deal["contact"], &deal["lead"]), (&json!(id_of(&globex)), &answer["contact"], &json!(id_of(&lead))));
        assert_eq!((&deal["pipeline"], &deal["stage"]), (&json!(sales.id), &json!(sales.stage("Qualification"))));
        let converted = read(app, "leads", &id_of(&lead)).await;
        assert_eq!(converted["status"], "converted");
        assert_eq!((&converted["converted_contact"], &converted["converted_company"], &converted["converted_deal"]), (&answer["contact"], &answer["company"], &answer["deal"]));
        assert!(converted["converted_at"].is_string(), "{converted}");

        // Once only: a second conversion is a conflict and changes nothing.
        let before = app.digest().await;
        let again = convert(app, json!({ "id": id_of(&lead) })).await;
        assert_eq!((again.status, again.code()), (StatusCode::CONFLICT, "conflict"), "{}", again.body);
        assert_eq!(app.digest().await, before, "nothing new");

        // No such company yet: created from the lead's name and domain; an existing contact
        // with the lead's email is reused; no deal when asked for none.
        let peter = app.create("contacts", json!({ "first_name": "Peter", "last_name": "Gibbons", "email": "peter@initech.test" })).await;
        let lead = app.create("leads", json!({
            "first_name": "Peter", "last_name": "Gibbons", "email": "peter@initech.test",
            "company_name": "Initech", "domain": "Initech.test",
        })).await;
        let before = counts(app).await;
        let reply = convert(app, json!({ "id": id_of(&lead), "create_deal": false })).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let answer = &reply.body["data"];
        assert_eq!((&answer["company_created"], &answer["contact_created"]), (&json!(true), &json!(false)), "{answer}");
        assert_eq!(answer["contact"], id_of(&peter).as_str());
        assert!(answer["deal"].is_null(), "{answer}");
        assert_eq!(counts(app).await, [before[0], before[1] + 1, before[2]], "only the company");
        let initech = read(app, "companies", answer["company"].as_str().unwrap()).await;
        assert_eq!((&initech["name"], &initech["domain"]), (&json!("Initech"), &json!("initech.test")));
        let converted = read(app, "leads", &id_of(&lead)).await;
        assert_eq!(converted["status"], "converted");
        assert_eq!(converted["converted_company"], initech["id"]);
        assert!(converted.get("converted_deal").is_none(), "{converted}");

        // A free-mail address names no company; the deal takes the input's name and amount.
        let lead = app.create("leads", json!({ "last_name": "Solo", "email": "han.solo@gmail.com" })).await;
        let before = counts(app).await;
        let reply = convert(app, json!({ "id": id_of(&lead), "deal_name": "Falcon repairs", "amount": money("999.99", "USD") })).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let answer = &reply.body["data"];
        assert!(answer["company"].is_null() && answer["company_created"] == false, "{answer}");
        assert_eq!(counts(app).await, [before[0] + 1, before[1], before[2] + 1], "a contact and a deal, no company");
        let gmail = app.all("companies", &format!("filter={}", urlencode("domain[eq]:gmail.com"))).await;
        assert!(gmail.is_empty(), "{gmail:?}");
        let deal = read(app, "deals", answer["deal"].as_str().unwrap()).await;
        assert_eq!((&deal["name"], &deal["amount"]), (&json!("Falcon repairs"), &money("999.99", "USD")));
        assert!(deal.get("company").is_none(), "{deal}");

        // Refusals map to HTTP: no such lead, a disqualified lead, input that is not a conversion.
        let disqualified = app.create("leads", json!({ "last_name": "Nope", "status": "disqualified" })).await;
        let before = app.digest().await;
        let missing = convert(app, json!({ "id": uuid::Uuid::now_v7().to_string() })).await;
        assert_eq!((missing.status, missing.code()), (StatusCode::NOT_FOUND, "record_not_found"), "{}", missing.body);
        let refused = convert(app, json!({ "id": id_of(&disqualified) })).await;
        assert_eq!((refused.status, refused.code()), (StatusCode::CONFLICT, "conflict"), "{}", refused.body);
        let malformed = convert(app, json!({ "create_deal": true })).await;
        assert_eq!((malformed.status, malformed.code()), (StatusCode::UNPROCESSABLE_ENTITY, "action_refused"), "{}", malformed.body);
        assert_eq!(details_of(&malformed), [(String::new(), "invalid_input".to_owned())]);
        assert_eq!(app.digest().await, before, "refused conversions change nothing");
    }

    async fn forecast_matches_an_independent_computation(app: TestApp) {
        let app = &app;
        let sales = enable_sales(app, json!({ "monthly_target": "12500.5" })).await;
        let partners = create_pipeline(app, "Partners", &[("Demo", 1, 40, "open"), ("Signed", 2, 100, "won")]).await;
        let member = own_deals_user(app, "rep@acme.test").await;
        let member_id = user_id(app, &member).await;
        let admin_id = user_id(app, &app.token).await;

        // 32 deals: amounts with cents, EUR and USD, both owners, every stage, five months
        // around the three forecast; one without an amount and one without dates.
        let calendar = ["2030-12", "2031-01", "2031-02", "2031-03", "2031-04"];
        let stage_names = ["Qualification", "Discovery", "Proposal", "Negotiation", "Won", "Lost"];
        for i in 0..32_usize {
            let mut body = json!({ "name": format!("Forecast {i:02}") });
            if i != 7 {
                let amount = format!("{}.{:02}", 40 + (i * 7919) % 25_000, (i * 37 + 11) % 100);
                body["amount"] = money(&amount, if i % 3 == 0 { "USD" } else { "EUR" });
            }
            let date = |shift: usize| format!("{}-{:02}", calendar[(i * 3 + shift) % calendar.len()], 1 + (i * 13) % 28);
            if i % 8 == 5 {
                body["pipeline"] = json!(partners.id);
                if i == 13 {
                    body["stage"] = json!(partners.stage("Signed"));
                    body["close_date"] = json!(date(1));
                } else {
                    body["stage"] = json!(partners.stage("Demo"));
                    body["expected_close"] = json!(date(0));
                }
            } else {
                let stage = stage_names[(i / 2) % stage_names.len()];
                body["stage"] = json!(sales.stage(stage));
                match stage {
                    "Won" => {
                        body["close_date"] = json!(date(1));
                        body["expected_close"] = json!(date(3));
                    }
                    "Lost" => {
                        body["lost_reason"] = json!("Went with a competitor");
                        body["close_date"] = json!(date(0));
                        body["expected_close"] = json!(date(1));
                    }
                    _ if i == 12 => {}
                    _ => body["expected_close"] = json!(date(0)),
                }
            }
            let token = if i % 2 == 0 { &app.token } else { &member };
            create_deal(app, token, body).await;
        }
        // Half a cent each: each owner's row rounds 0.125 up, the month's total rounds the
        // exact sum of both.
        for token in [&app.token, &member] {
            let body = json!({ "name": "Half cent", "amount": money("0.25", "CHF"), "stage": sales.stage("Proposal"), "expected_close": "2031-02-14" });
            create_deal(app, token, body).await;
        }
        let deals = app.all("deals", "").await;
        assert_eq!(deals.len(), 34);
        for deal in &deals {
            let stage = read(app, "stages", deal["stage"].as_str().unwrap()).await;
            assert_eq!(deal["probability"], stage["probability"], "{deal}");
        }

        let months: Vec<String> = calendar[1..4].iter().map(|m| (*m).to_owned()).collect();
        let everything = expected_forecast(&deals, &months, None);
        // The data covers what the forecast distinguishes.
        let owners: BTreeSet<Option<&str>> = everything.keys().map(|(_, owner, _)| owner.as_deref()).collect();
        assert_eq!(owners, BTreeSet::from([Some(admin_id.as_str()), Some(member_id.as_str())]));
        let currencies: BTreeSet<&str> = everything.keys().map(|(_, _, c)| c.as_str()).collect();
        assert_eq!(currencies, BTreeSet::from(["CHF", "EUR", "USD"]));
        let chf: Vec<i128> = everything.iter().filter(|((_, _, c), _)| c == "CHF").map(|(_, s)| s.weighted).collect();
        assert_ne!(
            chf.iter().map(|w| round_to_cents(*w)).sum::<i128>(),
            round_to_cents(chf.iter().sum()),
            "the CHF deals tell rounding each row from rounding the total"
        );
        assert!(everything.values().any(|s| s.won > 0) && everything.values().any(|s| s.weighted > 0));
        let counted: u64 = everything.values().map(|s| s.deals).sum();
        assert!(counted < 34, "some deals fall outside the months or the open and won ones");

        let target = ("EUR", "12500.50");
        let all = app.get("/p/sales/forecast?from=2031-01&months=3").await;
        assert_eq!(all.status, StatusCode::OK, "{}", all.body);
        check_forecast(&all.body, &everything, &months, target);
        let only_sales = app.get(&format!("/p/sales/forecast?from=2031-01&months=3&pipeline={}", sales.id)).await;
        assert_eq!(only_sales.status, StatusCode::OK, "{}", only_sales.body);
        let expected = expected_forecast(&deals, &months, Some(&sales.id));
        assert_ne!(expected, everything, "the partner deals count");
        check_forecast(&only_sales.body, &expected, &months, target);
        let longer: Vec<String> = calendar.iter().map(|m| (*m).to_owned()).collect();
        let wide = app.get("/p/sales/forecast?from=2030-12&months=5").await;
        check_forecast(&wide.body, &expected_forecast(&deals, &longer, None), &longer, target);

        // A user who reads only their own deals forecasts only those.
        let theirs: Vec<Value> = deals.iter().filter(|d| d["owner"] == member_id.as_str()).cloned().collect();
        let as_member = app.request(Method::GET, "/p/sales/forecast?from=2031-01&months=3", None, Some(&member), &[]).await;
        assert_eq!(as_member.status, StatusCode::OK, "{}", as_member.body);
        let expected = expected_forecast(&theirs, &months, None);
        assert!(!expected.is_empty());
        check_forecast(&as_member.body, &expected, &months, target);

        for bad in ["months=0", "months=25", "months=two", "from=2031-13", "from=01-2031"] {
            let reply = app.get(&format!("/p/sales/forecast?{bad}")).await;
            assert_eq!((reply.status, reply.code()), (StatusCode::BAD_REQUEST, "invalid_parameter"), "{bad}: {}", reply.body);
        }
    }

    async fn a_user_who_reads_own_deals_sees_only_theirs(app: TestApp) {
        let app = &app;
        let sales = enable_sales(app, json!({})).await;
        let member = own_deals_user(app, "rep@acme.test").await;
        let member_id = user_id(app, &member).await;
        let acme = app.create("companies", json!({ "name": "Acme" })).await;
        let admins = create_deal(app, &app.token, json!({ "name": "Admin deal", "company": id_of(&acme) })).await;
        let theirs = create_deal(app, &member, json!({ "name": "Member deal", "company": id_of(&acme), "stage": sales.stage("Proposal") })).await;
        assert_eq!(theirs["owner"], member_id.as_str());

        let listed = app.request(Method::GET, "/api/v1/deals", None, Some(&member), &[]).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
        let ids: Vec<&str> = listed.data().iter().map(|d| d["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [theirs["id"].as_str().unwrap()]);
        assert_eq!(app.all("deals", "").await.len(), 2, "the admin sees both");

        let path = format!("/api/v1/deals/{}", id_of(&admins));
        let read = app.request(Method::GET, &path, None, Some(&member), &[]).await;
        assert_eq!((read.status, read.code()), (StatusCode::NOT_FOUND, "record_not_found"), "{}", read.body);
        let before = app.digest().await;
        let write = app.request(Method::PATCH, &path, Some(&json!({ "name": "Mine now" })), Some(&member), &[]).await;
        assert_eq!(write.status, StatusCode::NOT_FOUND, "{}", write.body);
        assert_eq!(app.digest().await, before);
        let history = app.request(Method::GET, &format!("/p/sales/deals/{}/history", id_of(&admins)), None, Some(&member), &[]).await;
        assert_eq!(history.status, StatusCode::NOT_FOUND, "{}", history.body);
        let own_history = app.request(Method::GET, &format!("/p/sales/deals/{}/history", id_of(&theirs)), None, Some(&member), &[]).await;
        assert_eq!(own_history.status, StatusCode::OK, "{}", own_history.body);

        // Panels run as the reader too.
        let panel = panel(app, &member, "company_deals", Some(&id_of(&acme))).await;
        assert_eq!(panel.status, StatusCode::OK, "{}", panel.body);
        let html = panel.body["html"].as_str().unwrap();
        assert!(html.contains("Member deal") && !html.contains("Admin deal"), "{html}");
    }

    async fn disabling_hides_everything_and_keeps_the_data(app: TestApp) {
        let app = &app;
        let sales = enable_sales(app, json!({})).await;
        let acme = app.create("companies", json!({ "name": "Acme" })).await;
        create_deal(app, &app.token, json!({ "name": "Kept", "amount": money("10.00", "EUR"), "company": id_of(&acme) })).await;
        let moved = create_deal(app, &app.token, json!({ "name": "Moved" })).await;
        patch(app, "deals", &moved, json!({ "stage": sales.stage("Negotiation") })).await;
        app.create("leads", json!({ "last_name": "Waiting" })).await;
        let mut stored = BTreeMap::new();
        for plural in ["pipelines", "stages", "leads", "deals"] {
            stored.insert(plural, app.all(plural, "").await);
        }

        let off = app.post("/api/v1/plugins/sales/disable", &json!({})).await;
        assert_eq!(off.status, StatusCode::OK, "{}", off.body);
        for plural in ["pipelines", "stages", "leads", "deals"] {
            let reply = app.get(&format!("/api/v1/{plural}")).await;
            assert_eq!((reply.status, reply.code()), (StatusCode::NOT_FOUND, "unknown_entity"), "{plural}: {}", reply.body);
        }
        let meta = app.get("/api/v1/meta/entities").await;
        assert!(!meta.data().is_empty());
        for name in ["pipeline", "stage", "lead", "deal"] {
            assert!(!meta.data().iter().any(|t| t["name"] == name), "{name}: {}", meta.body);
        }
        let route = app.get("/p/sales/forecast").await;
        assert_eq!(route.status, StatusCode::NOT_FOUND, "{}", route.body);
        let forecast = panel(app, &app.token, "forecast", None).await;
        assert_eq!((forecast.status, forecast.code()), (StatusCode::NOT_FOUND, "plugin_not_enabled"), "{}", forecast.body);
        let deals_panel = panel(app, &app.token, "company_deals", Some(&id_of(&acme))).await;
        assert_eq!(deals_panel.code(), "plugin_not_enabled", "{}", deals_panel.body);
        assert_eq!(read(app, "companies", &id_of(&acme)).await, acme, "core records are untouched");

        // Enabled again: the same records at the same versions, and still one pipeline.
        let on = enable(app, "sales", json!({})).await;
        assert_eq!(on.status, StatusCode::OK, "{}", on.body);
        for (plural, records) in &stored {
            assert_eq!(&app.all(plural, "").await, records, "{plural} are back unchanged");
        }
        assert_eq!(app.get("/p/sales/forecast").await.status, StatusCode::OK);
    }

    async fn panels_render_deals_the_forecast_and_on_the_web_pages(app: TestApp) {
        let app = &app;
        let sales = enable_sales(app, json!({ "monthly_target": "7500" })).await;
        let acme = app.create("companies", json!({ "name": "Acme" })).await;
        let globex = app.create("companies", json!({ "name": "Globex" })).await;
        let wile = app.create("contacts", json!({ "first_name": "Wile", "last_name": "Coyote", "company": id_of(&acme) })).await;
        let this_month = today();
        // Open, this month, Proposal (50 %): an odd number of cents rounds half up.
        let (open_amount, won_amount) = ("1234.57", "800.50");
        let anvils = create_deal(app, &app.token, json!({
            "name": "Anvil order", "amount": money(open_amount, "EUR"), "company": id_of(&acme),
            "contact": id_of(&wile), "stage": sales.stage("Proposal"), "expected_close": this_month,
        })).await;
        let skates = create_deal(app, &app.token, json!({
            "name": "Rocket skates", "amount": money(won_amount, "EUR"), "company": id_of(&acme),
            "stage": sales.stage("Won"), "close_date": "2031-02-03",
        })).await;
        create_deal(app, &app.token, json!({ "name": "Exploding tennis balls", "company": id_of(&globex) })).await;

        let reply = panel(app, &app.token, "company_deals", Some(&id_of(&acme))).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["title"], "Deals");
        // The template's autoescape writes the slashes of links as `&#x2f;`.
        let html = reply.body["html"].as_str().unwrap().replace("&#x2f;", "/");
        for deal in [&anvils, &skates] {
            assert!(html.contains(deal["name"].as_str().unwrap()), "{html}");
            assert!(html.contains(&format!("/records/deals/{}", id_of(deal))), "{html}");
        }
        assert!(!html.contains("Exploding tennis balls"), "another company's deal: {html}");
        // Money reads as the reader's language writes it: English without a preference.
        assert!(html.contains("€1,234.57") && html.contains("€800.50"), "open and won totals: {html}");
        let german = app
            .request(Method::GET, &format!("/api/v1/plugins/sales/panels/company_deals?record={}", id_of(&acme)), None, Some(&app.token), &[("accept-language", "de-DE,de;q=0.9,en;q=0.5")])
            .await;
        let html = german.body["html"].as_str().unwrap_or_else(|| panic!("{}", german.body));
        // (The panel's sanitiser writes the no-break space as `&nbsp;`.)
        assert!(html.contains("1.234,57&nbsp;€") && html.contains("800,50&nbsp;€"), "in German: {html}");
        let contact_panel = panel(app, &app.token, "contact_deals", Some(&id_of(&wile))).await;
        let html = contact_panel.body["html"].as_str().unwrap_or_else(|| panic!("{}", contact_panel.body));
        assert!(html.contains("Anvil order") && !html.contains("Rocket skates"), "{html}");
        let history = panel(app, &app.token, "stage_history", Some(&id_of(&anvils))).await;
        assert!(history.body["html"].as_str().is_some_and(|h| h.contains("Proposal")), "{}", history.body);
        let no_record = panel(app, &app.token, "company_deals", None).await;
        assert_eq!(no_record.code(), "invalid_parameter", "{}", no_record.body);

        // The dashboard forecast: this month's weighted amount and the target.
        let weighted = fixed(round_to_cents(cents(open_amount) * 50));
        let reply = panel(app, &app.token, "forecast", None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["title"], "Sales forecast");
        let html = reply.body["html"].as_str().unwrap();
        assert!(html.contains(&format!("€{weighted}")) && html.contains("€7,500.00"), "{weighted}: {html}");

        // The web app shows the panels on the company's page and the dashboard.
        let (status, page) = web_page(app, &format!("/records/companies/{}", id_of(&acme))).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("sales-deals") && page.contains("€1,234.57"), "{page}");
        let (status, page) = web_page(app, "/").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("Sales forecast") && page.contains(&weighted), "{page}");
    }
}
