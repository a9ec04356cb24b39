//! The HTTP routes under `/p/sales`: `GET /forecast` and `GET /deals/{id}/history`.
//!
//! Failures are answered in the API's error shape rather than returned as the plugin's own
//! error: a bad parameter or a record the user may not read is the caller's problem, and must
//! not count towards suspending the plugin. The SDK's `Router` answers a host refusal with the
//! status the API gives its code (`forbidden` 403, …).

use plugin_sdk::prelude::*;

use crate::forecast::{self, Answer, Params, Target};
use crate::history::{self, HistoryView};
use crate::month::Month;

/// The routes of plugin.toml's `[[routes]]`; the host sends no others.
pub fn router() -> Router {
    Router::new()
        .get_json("/forecast", forecast)
        .get_json("/deals/*", deal_history)
}

/// `GET /forecast?pipeline=ID&from=YYYY-MM&months=N` → see [`forecast::Answer`].
fn forecast(_ctx: &Context, request: &HttpRequest) -> Result<Answer, RouteError> {
    let this_month = Month::of(clock::today());
    let params = Params::from_request(request, this_month).map_err(RouteError::bad_request)?;
    if let Some(pipeline) = &params.pipeline {
        check_pipeline(pipeline)?;
    }
    Ok(forecast::load(&params, &Target::from_settings())?)
}

/// A pipeline parameter names an existing pipeline; a malformed id is as bad as an unknown one.
fn check_pipeline(id: &str) -> Result<(), RouteError> {
    match records::get("pipeline", id) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(RouteError::bad_request(format!(
            "there is no pipeline `{id}`"
        ))),
        Err(error) if error.code == "forbidden" => Err(error.into()),
        Err(_) => Err(RouteError::bad_request(format!(
            "`{id}` is not a pipeline id"
        ))),
    }
}

/// `GET /deals/{id}/history` → see [`history::HistoryView`].
fn deal_history(_ctx: &Context, request: &HttpRequest) -> Result<HistoryView, RouteError> {
    let rest = request.path_rest("/deals/").unwrap_or_default();
    let Some((id, "history")) = rest.split_once('/') else {
        return Err(RouteError::not_found("this plugin has no such route"));
    };
    let deal = records::get("deal", id)?.ok_or_else(|| {
        RouteError::status(404, "record_not_found", format!("there is no deal `{id}`"))
    })?;
    Ok(history::load(&deal, clock::now())?)
}

/// A sum too large to add up exactly is the plugin's problem, not the caller's.
impl From<forecast::Error> for RouteError {
    fn from(error: forecast::Error) -> RouteError {
        match error {
            forecast::Error::Host(error) => error.into(),
            forecast::Error::Overflow(overflow) => {
                RouteError::status(500, "internal_error", overflow.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use plugin_sdk::serde_json::{self, Value as Json, json};
    use plugin_sdk::testing::{Installed, TestHost};

    use super::*;
    use crate::Sales;

    fn get(host: &Installed, path: &str) -> (u16, Json) {
        let answer = Sales::handle_http(host.context(), TestHost::request("GET", path, b""));
        let answer = answer.unwrap_or_else(|error| panic!("{error}"));
        (
            answer.status,
            serde_json::from_slice(&answer.body).unwrap_or_default(),
        )
    }

    fn host() -> Installed {
        TestHost::from_manifest(include_str!("../plugin.toml"))
            .with_setting("monthly_target", "7500")
            .install()
    }

    #[test]
    fn the_forecast_sums_the_deals_of_its_months() {
        let host = host();
        let pipeline = host.insert("pipeline", fields([("name", "Sales")]));
        let stage = |probability: i64, outcome: &str| {
            let values = fields([
                ("pipeline", Value::reference(&pipeline.id)),
                ("probability", probability.into()),
                ("outcome", outcome.into()),
            ]);
            host.insert("stage", values).id
        };
        let (proposal, won) = (stage(50, "open"), stage(100, "won"));
        for (stage, status, date_field, date, amount) in [
            (&proposal, "open", "expected_close", "2031-01-10", "1234.57"),
            (&proposal, "open", "expected_close", "2031-01-20", "0.01"),
            (&won, "won", "close_date", "2031-02-03", "800.50"),
            (&proposal, "open", "expected_close", "2031-03-01", "99"),
        ] {
            host.insert(
                "deal",
                fields([
                    ("pipeline", Value::reference(&pipeline.id)),
                    ("stage", Value::reference(stage)),
                    ("status", status.into()),
                    (date_field, Value::Date(date.into())),
                    ("amount", Money::new(amount, "EUR").into()),
                ]),
            );
        }
        let path = format!("/forecast?from=2031-01&months=2&pipeline={}", pipeline.id);
        let (status, answer) = get(&host, &path);
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["months"], json!(["2031-01", "2031-02"]));
        assert_eq!(
            answer["currency_rows"][0],
            json!({"month": "2031-01", "owner": "test-user", "currency": "EUR",
                   "open": "1234.58", "weighted": "617.29", "won": "0.00", "deals": 2})
        );
        assert_eq!(answer["totals"][1]["won"], "800.50");
        assert_eq!(answer["totals"][1]["target"], "7500.00");
    }

    #[test]
    fn bad_parameters_and_unknown_records_are_the_callers_problem() {
        let host = host();
        for bad in [
            "months=0",
            "months=25",
            "from=2031-13",
            "from=01-2031",
            "pipeline=nope",
        ] {
            let (status, answer) = get(&host, &format!("/forecast?{bad}"));
            assert_eq!(
                (status, &answer["error"]["code"]),
                (400, &json!("invalid_parameter")),
                "{bad}"
            );
        }
        let (status, answer) = get(&host, "/deals/d1/history");
        assert_eq!(
            (status, &answer["error"]["code"]),
            (404, &json!("record_not_found"))
        );
        let (status, answer) = get(&host, "/deals/d1/other");
        assert_eq!(
            (status, &answer["error"]["code"]),
            (404, &json!("not_found"))
        );
    }
}
