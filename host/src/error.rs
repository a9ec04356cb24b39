//! The HTTP edge's error: one `ApiError` with a stable snake_case code, rendered as
//! `{"error": {"code", "message", "details"}}` (DESIGN §3). Domain errors convert into it here,
//! and nowhere else decides a status code.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::i18n::{Language, Text, text};
use crate::records::RecordError;

/// Every error code the API can answer, with its status. The table is the contract: codes are
/// stable and documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Unauthorized,
    Forbidden,
    CsrfFailed,
    TooManyAttempts,
    NotFound,
    UnknownEntity,
    RecordNotFound,
    MethodNotAllowed,
    InvalidJson,
    InvalidBody,
    UnsupportedMediaType,
    PayloadTooLarge,
    InvalidParameter,
    InvalidFilter,
    InvalidSort,
    InvalidCursor,
    InvalidId,
    ValidationFailed,
    VersionConflict,
    Conflict,
    BatchTooLarge,
    PluginFailed,
    PluginNotEnabled,
    PluginSuspended,
    PluginBusy,
    ActionRefused,
    Internal,
}

impl ErrorCode {
    /// Every code, in the enum's order.
    pub const ALL: &[ErrorCode] = &[
        Self::Unauthorized,
        Self::Forbidden,
        Self::CsrfFailed,
        Self::TooManyAttempts,
        Self::NotFound,
        Self::UnknownEntity,
        Self::RecordNotFound,
        Self::MethodNotAllowed,
        Self::InvalidJson,
        Self::InvalidBody,
        Self::UnsupportedMediaType,
        Self::PayloadTooLarge,
        Self::InvalidParameter,
        Self::InvalidFilter,
        Self::InvalidSort,
        Self::InvalidCursor,
        Self::InvalidId,
        Self::ValidationFailed,
        Self::VersionConflict,
        Self::Conflict,
        Self::BatchTooLarge,
        Self::PluginFailed,
        Self::PluginNotEnabled,
        Self::PluginSuspended,
        Self::PluginBusy,
        Self::ActionRefused,
        Self::Internal,
    ];

    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            Unauthorized => StatusCode::UNAUTHORIZED,
            Forbidden | CsrfFailed => StatusCode::FORBIDDEN,
            TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            NotFound | UnknownEntity | RecordNotFound | InvalidId => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            InvalidJson | InvalidBody | InvalidParameter | InvalidFilter | InvalidSort
            | InvalidCursor => StatusCode::BAD_REQUEST,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            PayloadTooLarge | BatchTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ValidationFailed | ActionRefused => StatusCode::UNPROCESSABLE_ENTITY,
            VersionConflict => StatusCode::PRECONDITION_FAILED,
            Conflict => StatusCode::CONFLICT,
            PluginFailed | PluginSuspended => StatusCode::FAILED_DEPENDENCY,
            PluginBusy => StatusCode::SERVICE_UNAVAILABLE,
            PluginNotEnabled => StatusCode::NOT_FOUND,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            Unauthorized => "unauthorized",
            Forbidden => "forbidden",
            CsrfFailed => "csrf_failed",
            TooManyAttempts => "too_many_attempts",
            NotFound => "not_found",
            UnknownEntity => "unknown_entity",
            RecordNotFound => "record_not_found",
            MethodNotAllowed => "method_not_allowed",
            InvalidJson => "invalid_json",
            InvalidBody => "invalid_body",
            UnsupportedMediaType => "unsupported_media_type",
            PayloadTooLarge => "payload_too_large",
            InvalidParameter => "invalid_parameter",
            InvalidFilter => "invalid_filter",
            InvalidSort => "invalid_sort",
            InvalidCursor => "invalid_cursor",
            InvalidId => "invalid_id",
            ValidationFailed => "validation_failed",
            VersionConflict => "version_conflict",
            Conflict => "conflict",
            BatchTooLarge => "batch_too_large",
            PluginFailed => "plugin_failed",
            PluginNotEnabled => "plugin_not_enabled",
            PluginSuspended => "plugin_suspended",
            PluginBusy => "plugin_busy",
            ActionRefused => "action_refused",
            Internal => "internal_error",
        }
    }
}

/// One problem with one field (or one item of a batch), as listed in `details`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    /// Index of the item in a batch request; absent for single-record requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    pub field: String,
    /// Stable snake_case code; plugins' rejections bring codes of their own.
    pub code: std::borrow::Cow<'static, str>,
    /// Written in the reader's language when the answer is (English when serialized alone).
    pub message: Text,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<Text>) -> Self {
        Self {
            index: None,
            field: field.into(),
            code: std::borrow::Cow::Borrowed(code),
            message: message.into(),
        }
    }

    /// A field error whose code is decided at run time (by a plugin).
    pub fn with_code(field: impl Into<String>, code: String, message: impl Into<Text>) -> Self {
        Self {
            index: None,
            field: field.into(),
            code: std::borrow::Cow::Owned(code),
            message: message.into(),
        }
    }

    pub fn at(mut self, index: usize) -> Self {
        self.index = Some(index);
        self
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: Text,
    pub details: Vec<FieldError>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<Text>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn validation(details: Vec<FieldError>) -> Self {
        let message = match details.as_slice() {
            [one] => text!(
                "api-invalid-field",
                field = one.field.as_str(),
                message = &one.message
            ),
            many => text!("api-invalid-fields", count = many.len()),
        };
        Self {
            code: ErrorCode::ValidationFailed,
            message,
            details,
        }
    }

    /// One field's value refused (`invalid_value`), with why.
    pub fn invalid(field: &str, message: impl Into<Text>) -> Self {
        Self::validation(vec![FieldError::new(field, "invalid_value", message)])
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::Internal, text!("api-internal"))
    }

    /// The answer's body in `language`: `{"error": {"code", "message", "details"}}`.
    fn body(&self, language: Language) -> Vec<u8> {
        let details: Vec<Detail<'_>> = self
            .details
            .iter()
            .map(|d| Detail {
                index: d.index,
                field: &d.field,
                code: &d.code,
                message: d.message.render(language),
            })
            .collect();
        let body = Body {
            error: Inner {
                code: self.code.as_str(),
                message: self.message.render(language),
                details,
            },
        };
        serde_json::to_vec(&body).unwrap_or_default()
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'static str,
    message: String,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    details: Vec<Detail<'a>>,
}

#[derive(Serialize)]
struct Detail<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    index: Option<usize>,
    field: &'a str,
    code: &'a str,
    message: String,
}

/// An error answer as it left its handler, kept on the response so that [`in_callers_language`]
/// can write it again in the caller's language.
#[derive(Clone)]
struct Written(std::sync::Arc<ApiError>);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let bytes = self.body(Language::En);
        let mut response = (self.code.status(), bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static("en"));
        if self.code == ErrorCode::PluginBusy {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
            .extensions_mut()
            .insert(Written(std::sync::Arc::new(self)));
        response
    }
}

/// Middleware: an error answer is written in the language of the request's
/// `Accept-Language` (negotiated against the catalogues), else English. The web app's script
/// sends the page's language, so a reader's own setting holds for its calls too.
pub async fn in_callers_language(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let language = Language::of_request(request.headers());
    let mut response = next.run(request).await;
    let Some(Written(error)) = response.extensions_mut().remove::<Written>() else {
        return response;
    };
    match language {
        Some(language) if language != Language::En => {
            let (mut parts, _) = response.into_parts();
            if let Ok(tag) = HeaderValue::from_str(language.tag()) {
                parts.headers.insert(header::CONTENT_LANGUAGE, tag);
            }
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, axum::body::Body::from(error.body(language)))
        }
        _ => response,
    }
}

impl From<RecordError> for ApiError {
    fn from(error: RecordError) -> Self {
        use RecordError as E;
        match error {
            E::UnknownEntity(name) => ApiError::new(
                ErrorCode::UnknownEntity,
                text!("api-unknown-entity", name = name),
            ),
            E::NotFound => ApiError::new(ErrorCode::RecordNotFound, text!("api-record-not-found")),
            E::Forbidden(message) => ApiError::new(ErrorCode::Forbidden, message),
            E::Invalid(details) => ApiError::validation(details),
            E::VersionConflict { current } => ApiError::new(
                ErrorCode::VersionConflict,
                text!("api-version-conflict", current = current),
            ),
            E::Filter(message) => ApiError::new(ErrorCode::InvalidFilter, message),
            E::Sort(message) => ApiError::new(ErrorCode::InvalidSort, message),
            E::Cursor => ApiError::new(ErrorCode::InvalidCursor, text!("api-invalid-cursor")),
            E::BatchTooLarge { max } => ApiError::new(
                ErrorCode::BatchTooLarge,
                text!("api-batch-too-large", max = max),
            ),
            E::Conflict(message) => ApiError::new(ErrorCode::Conflict, message),
            E::BadRequest(message) => ApiError::new(ErrorCode::InvalidBody, message),
            E::Parameter(message) => ApiError::new(ErrorCode::InvalidParameter, message),
            E::Plugin { plugin, message } => ApiError::new(
                ErrorCode::PluginFailed,
                text!("api-plugin-failed", plugin = plugin, message = message),
            ),
            E::PluginSuspended { plugin } => ApiError::new(
                ErrorCode::PluginSuspended,
                text!("api-plugin-suspended", plugin = plugin),
            ),
            E::Database(cause) => ApiError::internal(cause),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// An error and its causes on one line (`error: cause: cause`), at most 500 characters: what
/// a person reads in a delivery log or a connection test.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(500).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's table of codes is the contract: every code, with its status, and no other.
    #[test]
    fn the_readme_documents_every_code_with_its_status() {
        let readme = include_str!("../../README.md");
        let table = readme
            .split("batches). Codes: ")
            .nth(1)
            .and_then(|rest| rest.split(" Field-level codes").next())
            .expect("the README's Errors section lists the codes");
        let mut documented = Vec::new();
        let mut pending: Vec<String> = Vec::new();
        // "`a` 401, `b`, `c` 403, …": codes, each run of them followed by its status.
        for word in table.split(|c: char| c.is_whitespace() || c == ',') {
            if let Some(code) = word.strip_prefix('`').and_then(|w| w.strip_suffix('`')) {
                pending.push(code.to_owned());
            } else if let Ok(status @ 100..=599) = word.parse::<u16>() {
                documented.extend(pending.drain(..).map(|code| (code, status)));
            }
        }
        for code in ErrorCode::ALL {
            let status = documented
                .iter()
                .find(|(name, _)| name == code.as_str())
                .map(|(_, status)| *status);
            assert_eq!(status, Some(code.status().as_u16()), "{}", code.as_str());
        }
        assert_eq!(documented.len(), ErrorCode::ALL.len(), "{documented:?}");
    }

    /// A plugin's route answers a host error with the API's status for its code (the SDK's
    /// `Router`), so a plugin's API and Kith's agree.
    #[test]
    fn the_sdk_answers_every_code_with_the_api_status() {
        for code in ErrorCode::ALL {
            assert_eq!(
                plugin_sdk::router::status_of(code.as_str()),
                code.status().as_u16(),
                "{}",
                code.as_str()
            );
        }
    }
}
