//! `sales`: pipelines with ordered stages, leads converted into contacts, companies and deals,
//! deals that follow their stage, and a monthly forecast. The behaviour is specified in Kith
//! issue 7; each module documents its part:
//!
//! - [`rules`] — before-save on deals, stages and leads;
//! - [`convert`] — the `convert` action on a lead;
//! - [`demo`] — the `demo` action, sample data;
//! - [`routes`] — `GET /forecast` ([`forecast`]) and `GET /deals/{id}/history` ([`history`]);
//! - [`panels`] — the dashboard forecast, a company's or contact's deals, a deal's stage
//!   history and a lead's conversion;
//! - [`pipeline`] — pipelines and stages, and the default "Sales" pipeline `on_enable` creates;
//! - [`money`], [`month`], [`store`] — exact sums of money, calendar months, record helpers.
//!
//! It is the SDK's worked example (plugin-sdk/README.md), built on its helpers alone:
//! filters built from values with `Filter` (never text with values in it) and every page of a
//! query with `records::find_all`; dates and instants as `chrono` types (`clock::now`,
//! `Record::day`, `Value::from(NaiveDate)`); exact money as `rust_decimal` through
//! `Money::decimal`; the routes as a `Router` whose handlers answer JSON or a `RouteError`;
//! the actions through `json_action`; the rules compare a deal's stage with its stage before
//! the write (`Change::old`, API 0.4) instead of reading it. Every module is unit-tested
//! against `plugin_sdk::testing::TestHost`, an in-memory host; `tests/all/sales.rs` drives the
//! built component in a real server.

mod convert;
mod demo;
mod forecast;
mod history;
mod money;
mod month;
mod panels;
mod pipeline;
mod routes;
mod rules;
mod store;

use plugin_sdk::prelude::*;

struct Sales;

impl Plugin for Sales {
    fn before_save(ctx: Context, changes: Vec<Change>) -> Result<Vec<Verdict>, String> {
        Ok(rules::before_save(&ctx, &changes)?)
    }

    fn handle_http(ctx: Context, request: HttpRequest) -> Result<HttpResponse, String> {
        Ok(routes::router().handle(&ctx, &request))
    }

    fn render_panel(_ctx: Context, panel: String, record: Option<Record>) -> Result<Panel, String> {
        panels::render(&panel, record)
    }

    fn run_action(_ctx: Context, action: String, input: String) -> Result<String, ActionError> {
        match action.as_str() {
            "convert" => json_action(&input, convert::run),
            "demo" => json_action(&input, demo::run),
            other => Err(ActionError::Failed(format!("there is no action `{other}`"))),
        }
    }

    /// A workspace starts with the default "Sales" pipeline (once: enabling again keeps what
    /// exists).
    fn on_enable(_ctx: Context) -> Result<(), String> {
        pipeline::ensure_default()?;
        Ok(())
    }
}

register_plugin!(Sales);
