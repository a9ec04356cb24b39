//! The HTTP routes under `/p/sales`: `GET /forecast` and `GET /deals/{id}/history`.
//!
//! Failures are answered in the API's error shape rather than returned as the plugin's own
//! error: a bad parameter or a record the user may not read is the caller's problem, and must
//! not count towards suspending the plugin.

use plugin_sdk::prelude::*;

use crate::dates::{self, Month};
use crate::forecast::{self, Params, Target};
use crate::history;

/// Why a route could not answer, as an HTTP status and the API's error code.
struct Failure {
    status: u16,
    code: String,
    message: String,
}

impl Failure {
    fn new(status: u16, code: &str, message: impl Into<String>) -> Failure {
        Failure {
            status,
            code: code.to_owned(),
            message: message.into(),
        }
    }

    fn bad_parameter(message: impl Into<String>) -> Failure {
        Failure::new(400, "invalid_parameter", message)
    }

    fn response(&self) -> HttpResponse {
        HttpResponse::error(self.status, &self.code, &self.message)
    }
}

/// A host refusal keeps its code; the status says whose problem it is.
impl From<HostError> for Failure {
    fn from(error: HostError) -> Failure {
        let status = match error.code.as_str() {
            "forbidden" => 403,
            "record_not_found" => 404,
            "invalid_parameter" | "validation_failed" => 400,
            _ => 500,
        };
        Failure {
            status,
            code: error.code,
            message: error.message,
        }
    }
}

impl From<forecast::Error> for Failure {
    fn from(error: forecast::Error) -> Failure {
        match error {
            forecast::Error::Host(error) => error.into(),
            forecast::Error::Overflow(overflow) => {
                Failure::new(500, "internal", overflow.to_string())
            }
        }
    }
}

/// Answers a request to one of the manifest's routes (the host sends no others).
pub fn handle(request: &HttpRequest) -> HttpResponse {
    let answer = if request.method != "GET" {
        Err(Failure::new(
            405,
            "method_not_allowed",
            "these routes answer GET only",
        ))
    } else if request.path == "/forecast" {
        forecast_route(request)
    } else if let Some(rest) = request.path_rest("/deals/") {
        history_route(&rest)
    } else {
        Ok(HttpResponse::not_found())
    };
    answer.unwrap_or_else(|failure| failure.response())
}

/// `GET /forecast?pipeline=ID&from=YYYY-MM&months=N` → see [`forecast::Answer`].
fn forecast_route(request: &HttpRequest) -> Result<HttpResponse, Failure> {
    let this_month = Month::of_micros(dates::now());
    let params = Params::from_request(request, this_month).map_err(Failure::bad_parameter)?;
    if let Some(pipeline) = &params.pipeline {
        check_pipeline(pipeline)?;
    }
    let answer = forecast::load(&params)?
        .answer(&Target::from_settings())
        .map_err(forecast::Error::from)?;
    Ok(HttpResponse::json(200, &answer))
}

/// A pipeline parameter names an existing pipeline; a malformed id is as bad as an unknown one.
fn check_pipeline(id: &str) -> Result<(), Failure> {
    match records::get("pipeline", id) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(Failure::bad_parameter(format!(
            "there is no pipeline `{id}`"
        ))),
        Err(error) if error.code == "forbidden" => Err(error.into()),
        Err(_) => Err(Failure::bad_parameter(format!(
            "`{id}` is not a pipeline id"
        ))),
    }
}

/// `GET /deals/{id}/history` → see [`history::HistoryView`].
fn history_route(rest: &str) -> Result<HttpResponse, Failure> {
    let Some((id, "history")) = rest.split_once('/') else {
        return Ok(HttpResponse::not_found());
    };
    let deal = records::get("deal", id)?
        .ok_or_else(|| Failure::new(404, "record_not_found", format!("there is no deal `{id}`")))?;
    Ok(HttpResponse::json(
        200,
        &history::load(&deal, dates::now())?,
    ))
}
