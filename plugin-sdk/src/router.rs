//! Routes and actions as typed handlers: JSON in and out through serde, and the host's refusals
//! answered with the HTTP status the REST API gives their codes.
//!
//! ```no_run
//! use plugin_sdk::prelude::*;
//! use plugin_sdk::router::{Router, RouteError};
//!
//! #[derive(serde::Deserialize)]
//! struct Convert { id: String }
//!
//! #[derive(serde::Serialize)]
//! struct Converted { contact: String }
//!
//! fn routes() -> Router {
//!     Router::new()
//!         .get_json("/forecast", |_ctx, request| {
//!             let months = request.query_param("months").unwrap_or_else(|| "6".into());
//!             Ok(serde_json::json!({ "months": months }))
//!         })
//!         .post_json("/convert", |_ctx, input: Convert| {
//!             let lead = records::get("lead", &input.id)?.ok_or(RouteError::not_found("no such lead"))?;
//!             Ok(Converted { contact: lead.id })
//!         })
//! }
//!
//! struct Sales;
//! impl Plugin for Sales {
//!     fn handle_http(ctx: Context, request: HttpRequest) -> Result<HttpResponse, String> {
//!         Ok(routes().handle(&ctx, &request))
//!     }
//! }
//! # register_plugin!(Sales);
//! ```
//!
//! A path not in the router answers 404; a path it serves with another method, 405 with an
//! `Allow` header. A [`HostError`] returned by a handler (`?` on any import) answers its
//! code's status: `forbidden` 403, `record_not_found` 404, `version_conflict` 412, `conflict`
//! 409, `validation_failed` 422 (with its field details), `invalid_parameter` (and the other
//! `invalid_*` codes) 400, `limit_exceeded` 429; any other code 502. A body that does not parse
//! as the handler's input type is a 400 `invalid_body`.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{ActionError, Context, HostError, HttpRequest, HttpResponse};

/// Why a handler answers with an error.
#[derive(Debug)]
pub enum RouteError {
    /// The host refused a request of the handler (its code decides the status).
    Host(HostError),
    /// An error of the handler's own: status, code and message.
    Status {
        status: u16,
        code: String,
        message: String,
    },
}

impl RouteError {
    /// A 400 `invalid_parameter`.
    pub fn bad_request(message: impl Into<String>) -> RouteError {
        RouteError::status(400, "invalid_parameter", message)
    }

    /// A 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> RouteError {
        RouteError::status(404, "not_found", message)
    }

    /// Any status, with a stable snake_case code.
    pub fn status(status: u16, code: impl Into<String>, message: impl Into<String>) -> RouteError {
        RouteError::Status {
            status,
            code: code.into(),
            message: message.into(),
        }
    }
}

impl From<HostError> for RouteError {
    fn from(error: HostError) -> RouteError {
        RouteError::Host(error)
    }
}

/// The HTTP status the REST API answers a host error's code with (host errors carry the API's
/// codes; Kith's own tests check this table against the server's), plus the host calls' own
/// `limit_exceeded`, `quota_exceeded` and `rate_limited` (429). Any other code answers 500.
pub fn status_of(code: &str) -> u16 {
    match code {
        "unauthorized" => 401,
        "forbidden" | "csrf_failed" => 403,
        "not_found" | "unknown_entity" | "record_not_found" | "invalid_id"
        | "plugin_not_enabled" => 404,
        "method_not_allowed" => 405,
        "conflict" => 409,
        "version_conflict" => 412,
        "payload_too_large" | "batch_too_large" => 413,
        "unsupported_media_type" => 415,
        "validation_failed" | "action_refused" => 422,
        "plugin_failed" | "plugin_suspended" => 424,
        "too_many_attempts" | "limit_exceeded" | "quota_exceeded" | "rate_limited" => 429,
        "plugin_busy" => 503,
        code if code.starts_with("invalid_") => 400,
        _ => 500,
    }
}

impl RouteError {
    fn into_response(self) -> HttpResponse {
        match self {
            RouteError::Status {
                status,
                code,
                message,
            } => HttpResponse::error(status, &code, &message),
            RouteError::Host(error) => {
                let details: Vec<serde_json::Value> = (error.details.iter())
                    .map(|d| serde_json::json!({ "field": d.field, "code": d.code, "message": d.message }))
                    .collect();
                let mut body = serde_json::json!({ "error": { "code": error.code, "message": error.message } });
                if !details.is_empty() {
                    body["error"]["details"] = serde_json::Value::Array(details);
                }
                HttpResponse::json(status_of(&error.code), &body)
            }
        }
    }
}

type Handler = Box<dyn Fn(&Context, &HttpRequest) -> Result<HttpResponse, RouteError>>;

/// A plugin's routes: method and path (as declared in `plugin.toml`; a path ending in `/*`
/// matches every path under it) to handler.
#[derive(Default)]
pub struct Router {
    routes: Vec<(&'static str, String, Handler)>,
}

impl Router {
    pub fn new() -> Router {
        Router::default()
    }

    /// Serves `method` on `path` with a handler answering any response.
    pub fn route(
        mut self,
        method: &'static str,
        path: impl Into<String>,
        handler: impl Fn(&Context, &HttpRequest) -> Result<HttpResponse, RouteError> + 'static,
    ) -> Router {
        self.routes.push((method, path.into(), Box::new(handler)));
        self
    }

    /// `GET path` answering JSON (200).
    pub fn get_json<Out: Serialize>(
        self,
        path: impl Into<String>,
        handler: impl Fn(&Context, &HttpRequest) -> Result<Out, RouteError> + 'static,
    ) -> Router {
        self.route("GET", path, move |ctx, request| {
            handler(ctx, request).map(|out| HttpResponse::json(200, &out))
        })
    }

    /// `POST path` taking and answering JSON (200).
    pub fn post_json<In: DeserializeOwned, Out: Serialize>(
        self,
        path: impl Into<String>,
        handler: impl Fn(&Context, In) -> Result<Out, RouteError> + 'static,
    ) -> Router {
        self.body_json("POST", path, handler)
    }

    /// `PUT path` taking and answering JSON (200).
    pub fn put_json<In: DeserializeOwned, Out: Serialize>(
        self,
        path: impl Into<String>,
        handler: impl Fn(&Context, In) -> Result<Out, RouteError> + 'static,
    ) -> Router {
        self.body_json("PUT", path, handler)
    }

    /// `PATCH path` taking and answering JSON (200).
    pub fn patch_json<In: DeserializeOwned, Out: Serialize>(
        self,
        path: impl Into<String>,
        handler: impl Fn(&Context, In) -> Result<Out, RouteError> + 'static,
    ) -> Router {
        self.body_json("PATCH", path, handler)
    }

    fn body_json<In: DeserializeOwned, Out: Serialize>(
        self,
        method: &'static str,
        path: impl Into<String>,
        handler: impl Fn(&Context, In) -> Result<Out, RouteError> + 'static,
    ) -> Router {
        self.route(method, path, move |ctx, request| {
            let input = request.json::<In>().map_err(|e| {
                RouteError::status(
                    400,
                    "invalid_body",
                    format!("the body is not the JSON this route takes: {e}"),
                )
            })?;
            handler(ctx, input).map(|out| HttpResponse::json(200, &out))
        })
    }

    /// The answer to a request: its route's handler's, or 404, or 405.
    pub fn handle(&self, ctx: &Context, request: &HttpRequest) -> HttpResponse {
        let matches = |pattern: &str| match pattern.strip_suffix("/*") {
            Some(prefix) => {
                request.path == prefix || request.path.starts_with(&format!("{prefix}/"))
            }
            None => request.path == pattern,
        };
        let on_path: Vec<&(&'static str, String, Handler)> = self
            .routes
            .iter()
            .filter(|(_, path, _)| matches(path))
            .collect();
        if on_path.is_empty() {
            return HttpResponse::not_found();
        }
        let method = request.method.to_ascii_uppercase();
        match on_path.iter().find(|(m, ..)| *m == method) {
            Some((_, _, handler)) => {
                handler(ctx, request).unwrap_or_else(RouteError::into_response)
            }
            None => {
                let mut allowed: Vec<&str> = on_path.iter().map(|(m, ..)| *m).collect();
                allowed.dedup();
                HttpResponse::error(
                    405,
                    "method_not_allowed",
                    &format!("{method} is not allowed here"),
                )
                .with_header("allow", allowed.join(", "))
            }
        }
    }
}

/// Runs an action whose input and answer are JSON types: the input parsed (a malformed one is
/// refused as `invalid_input`, naming what is wrong), the answer serialized.
///
/// ```no_run
/// # use plugin_sdk::prelude::*;
/// #[derive(serde::Deserialize)]
/// struct Tag { id: String, tag: String }
///
/// fn run_action(_ctx: Context, action: String, input: String) -> Result<String, ActionError> {
///     match action.as_str() {
///         "tag" => plugin_sdk::router::json_action(&input, |input: Tag| {
///             let record = records::get("contact", &input.id)?
///                 .ok_or_else(|| ActionError::refuse("record_not_found", "no such contact"))?;
///             Ok(serde_json::json!({ "id": record.id, "tag": input.tag }))
///         }),
///         other => Err(ActionError::Failed(format!("no action `{other}`"))),
///     }
/// }
/// ```
pub fn json_action<In: DeserializeOwned, Out: Serialize>(
    input: &str,
    handler: impl FnOnce(In) -> Result<Out, ActionError>,
) -> Result<String, ActionError> {
    let input: In = serde_json::from_str(input).map_err(|e| {
        ActionError::refuse(
            "invalid_input",
            format!("the input is not what this action takes: {e}"),
        )
    })?;
    let answer = handler(input)?;
    serde_json::to_string(&answer)
        .map_err(|e| ActionError::Failed(format!("the answer is not JSON: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ctx() -> Context {
        Context {
            workspace: "w".into(),
            user: "u".into(),
            plugin: "p".into(),
            plugin_version: "0.1.0".into(),
        }
    }

    fn request(method: &str, path: &str, body: &str) -> HttpRequest {
        HttpRequest {
            method: method.into(),
            path: path.into(),
            query: String::new(),
            headers: Vec::new(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[derive(serde::Deserialize)]
    struct Input {
        n: i64,
    }

    fn router() -> Router {
        Router::new()
            .get_json("/hello", |_, _| Ok(serde_json::json!({ "hello": true })))
            .post_json("/double", |_, input: Input| {
                Ok(serde_json::json!({ "n": input.n * 2 }))
            })
            .get_json("/refused", |_, _| -> Result<(), RouteError> {
                Err(HostError {
                    code: "version_conflict".into(),
                    message: "stale".into(),
                    details: Vec::new(),
                }
                .into())
            })
            .route("GET", "/files/*", |_, request| {
                Ok(HttpResponse::text(200, request.path.clone()))
            })
    }

    #[test]
    fn routes_answer_json_404_405_and_the_apis_statuses() {
        let router = router();
        let answer = |m, p, b| router.handle(&ctx(), &request(m, p, b));
        assert_eq!(answer("GET", "/hello", "").status, 200);
        let doubled = answer("POST", "/double", r#"{"n": 21}"#);
        assert_eq!(
            (doubled.status, doubled.body),
            (200, br#"{"n":42}"#.to_vec())
        );
        assert_eq!(answer("POST", "/double", "{").status, 400);
        assert_eq!(answer("GET", "/nowhere", "").status, 404);
        let wrong = answer("DELETE", "/hello", "");
        assert_eq!(wrong.status, 405);
        assert!(
            wrong
                .headers
                .contains(&("allow".to_owned(), "GET".to_owned()))
        );
        assert_eq!(answer("GET", "/refused", "").status, 412);
        assert_eq!(answer("GET", "/files/a/b", "").status, 200);
        assert_eq!(answer("GET", "/filesx", "").status, 404);
    }

    #[test]
    fn actions_take_and_answer_json() {
        let ok = json_action(r#"{"n": 2}"#, |input: Input| {
            Ok(serde_json::json!([input.n]))
        });
        assert_eq!(ok.unwrap(), "[2]");
        let refused = json_action(r#"{"m": 2}"#, |input: Input| Ok(input.n));
        assert!(matches!(refused, Err(ActionError::Refused(e)) if e.code == "invalid_input"));
    }
}
