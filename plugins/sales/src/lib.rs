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
//! - [`money`], [`dates`], [`store`] — exact decimals, calendar arithmetic, query helpers.

mod convert;
mod dates;
mod demo;
mod forecast;
mod history;
mod money;
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

    fn handle_http(_ctx: Context, request: HttpRequest) -> Result<HttpResponse, String> {
        Ok(routes::handle(&request))
    }

    fn render_panel(_ctx: Context, panel: String, record: Option<Record>) -> Result<Panel, String> {
        panels::render(&panel, record)
    }

    fn run_action(_ctx: Context, action: String, input: String) -> Result<String, ActionError> {
        match action.as_str() {
            "convert" => convert::run(&input),
            "demo" => demo::run(&input),
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
