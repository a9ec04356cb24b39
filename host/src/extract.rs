//! Request extractors whose rejections are API errors with stable codes, so malformed input
//! never reaches a handler and never answers in a format other than DESIGN §3's.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::header::{CONTENT_TYPE, IF_MATCH};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};
use crate::i18n::text;

/// A JSON object body, parsed with precise errors: syntax (`invalid_json`, with line and
/// column), shape (`invalid_body`: anything but an object, such as the array serde would
/// otherwise read as a struct's fields in order), size (`payload_too_large`) and media type.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_bytes(req, state).await?;
        let object = bytes
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            .is_none_or(|b| *b == b'{');
        if !object {
            return Err(ApiError::new(
                ErrorCode::InvalidBody,
                text!("api-records-body-not-object"),
            ));
        }
        parse(&bytes).map(JsonBody)
    }
}

/// Any JSON document as the body (a plugin action's input), read like [`JsonBody`].
pub struct AnyJson(pub serde_json::Value);

impl<S: Send + Sync> FromRequest<S> for AnyJson {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = json_bytes(req, state).await?;
        parse(&bytes).map(AnyJson)
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|error| {
        let detail = error.to_string();
        if error.is_data() {
            ApiError::new(
                ErrorCode::InvalidBody,
                text!("api-records-body-shape", detail = detail),
            )
        } else {
            ApiError::new(
                ErrorCode::InvalidJson,
                text!("api-records-body-syntax", detail = detail),
            )
        }
    })
}

/// The body of a JSON request: its media type checked, its size bounded, not empty.
async fn json_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    if let Some(content_type) = req.headers().get(CONTENT_TYPE) {
        let json = content_type.to_str().is_ok_and(|ct| {
            let mime = ct
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        });
        if !json {
            return Err(ApiError::new(
                ErrorCode::UnsupportedMediaType,
                text!("api-records-body-media-type"),
            ));
        }
    }
    let bytes = bounded_body(req, state, crate::app::MAX_BODY_BYTES).await?;
    if bytes.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            text!("api-records-body-empty"),
        ));
    }
    Ok(bytes)
}

/// The body, read up to the route's limit (`max`, named in the error when it is passed).
async fn bounded_body<S: Send + Sync>(
    req: Request,
    state: &S,
    max: usize,
) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                text!("api-records-body-too-large", max = max),
            )
        } else {
            ApiError::new(
                ErrorCode::InvalidBody,
                text!(
                    "api-records-body-unreadable",
                    detail = rejection.body_text()
                ),
            )
        }
    })
}

/// An uploaded file as the raw body (any media type), at most `max` bytes (the route sets
/// the same limit), not empty.
pub struct FileBody(pub Bytes);

/// The most bytes a [`FileBody`] takes.
pub const MAX_FILE_BODY: usize = 64 * 1024 * 1024;

impl<S: Send + Sync> FromRequest<S> for FileBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = bounded_body(req, state, MAX_FILE_BODY).await?;
        if bytes.is_empty() {
            return Err(ApiError::new(
                ErrorCode::InvalidBody,
                text!("api-import-empty"),
            ));
        }
        Ok(FileBody(bytes))
    }
}

/// Query parameters; unknown or malformed ones are a 400 `invalid_parameter`.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|rejection| {
                ApiError::new(
                    ErrorCode::InvalidParameter,
                    text!("api-records-bad-query", detail = rejection.body_text()),
                )
            })
    }
}

/// Path parameters; undecodable ones are a 400 `invalid_parameter`.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|rejection| {
                ApiError::new(
                    ErrorCode::InvalidParameter,
                    text!("api-records-bad-path", detail = rejection.body_text()),
                )
            })
    }
}

/// `If-Match: "<version>"` (a weak `W/` prefix is accepted): the version a change is based on.
/// `None` when not sent, and for `If-Match: *`, which any current version matches (RFC 9110
/// §13.1.1) — a record that does not exist is a 404 all the same.
pub struct IfMatch(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Some(header) = parts.headers.get(IF_MATCH) else {
            return Ok(IfMatch(None));
        };
        if header.to_str().is_ok_and(|v| v.trim() == "*") {
            return Ok(IfMatch(None));
        }
        let version = header
            .to_str()
            .ok()
            .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|v| *v > 0);
        match version {
            Some(version) => Ok(IfMatch(Some(version))),
            None => Err(ApiError::new(
                ErrorCode::InvalidParameter,
                text!("api-records-if-match"),
            )),
        }
    }
}

/// The peer address of the connection (absent when the server was not started with
/// connection info, as in router-level tests).
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let info = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
        Ok(ClientAddr(
            info.map(|axum::extract::ConnectInfo(addr)| addr.ip()),
        ))
    }
}
