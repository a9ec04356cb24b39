//! The HTTP edge's error: one `ApiError` with a stable snake_case code, rendered as
//! `{"error": {"code", "message", "details"}}` (DESIGN §3). Domain errors convert into it here,
//! and nowhere else decides a status code.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Index of the item in a batch request; absent for single-record requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    pub field: String,
    /// Stable snake_case code; plugins' rejections bring codes of their own.
    pub code: std::borrow::Cow<'static, str>,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            index: None,
            field: field.into(),
            code: std::borrow::Cow::Borrowed(code),
            message: message.into(),
        }
    }

    /// A field error whose code is decided at run time (by a plugin).
    pub fn with_code(field: impl Into<String>, code: String, message: impl Into<String>) -> Self {
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
    pub message: String,
    pub details: Vec<FieldError>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn validation(details: Vec<FieldError>) -> Self {
        let message = match details.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            many => format!("{} fields are invalid", many.len()),
        };
        Self {
            code: ErrorCode::ValidationFailed,
            message,
            details,
        }
    }

    /// One field's value refused (`invalid_value`), with why.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::validation(vec![FieldError::new(field, "invalid_value", message)])
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::Internal, "internal server error")
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Inner<'a>,
}

#[derive(Serialize)]
struct Inner<'a> {
    code: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    details: &'a [FieldError],
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Inner {
                code: self.code.as_str(),
                message: &self.message,
                details: &self.details,
            },
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (self.code.status(), bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.code == ErrorCode::PluginBusy {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl From<RecordError> for ApiError {
    fn from(error: RecordError) -> Self {
        use RecordError as E;
        match error {
            E::UnknownEntity(name) => ApiError::new(
                ErrorCode::UnknownEntity,
                format!("unknown entity type `{name}`"),
            ),
            E::NotFound => ApiError::new(ErrorCode::RecordNotFound, "record not found"),
            E::Forbidden(message) => ApiError::new(ErrorCode::Forbidden, message),
            E::Invalid(details) => ApiError::validation(details),
            E::VersionConflict { current } => ApiError::new(
                ErrorCode::VersionConflict,
                format!("the record has changed: its current version is {current}"),
            ),
            E::Filter(message) => ApiError::new(ErrorCode::InvalidFilter, message),
            E::Sort(message) => ApiError::new(ErrorCode::InvalidSort, message),
            E::Cursor => ApiError::new(
                ErrorCode::InvalidCursor,
                "the cursor is malformed or belongs to a different query",
            ),
            E::BatchTooLarge { max } => ApiError::new(
                ErrorCode::BatchTooLarge,
                format!("a batch holds at most {max} records"),
            ),
            E::Conflict(message) => ApiError::new(ErrorCode::Conflict, message),
            E::BadRequest(message) => ApiError::new(ErrorCode::InvalidBody, message),
            E::Parameter(message) => ApiError::new(ErrorCode::InvalidParameter, message),
            E::Plugin { plugin, message } => ApiError::new(
                ErrorCode::PluginFailed,
                format!("plugin `{plugin}` failed: {message}"),
            ),
            E::PluginSuspended { plugin } => ApiError::new(
                ErrorCode::PluginSuspended,
                format!(
                    "plugin `{plugin}` checks these writes but is suspended after repeated failures; \
                     nothing was saved. An admin can enable it again or disable it"
                ),
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
