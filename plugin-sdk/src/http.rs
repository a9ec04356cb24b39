//! Outbound HTTP (import `http-out`), to the hosts the manifest's `permissions.http` lists and
//! an admin granted only. The host refuses any other destination with `forbidden` before
//! opening a connection.

use serde::de::DeserializeOwned;

use crate::HostError;
use crate::imports as wit;

pub use crate::bindings::kith::plugin::http_out::{Request, Response};

/// Sends `request` and returns the response (any status: a 500 from the server is an
/// `Ok(response)`); a refused destination, a network failure or a timeout is a [`HostError`].
pub fn fetch(request: &Request) -> Result<Response, HostError> {
    wit::fetch(request)
}

/// `GET url`.
pub fn get(url: &str) -> Result<Response, HostError> {
    fetch(&Request::get(url))
}

impl Request {
    /// A request with `method` to `url`, no headers and no body.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Request {
        Request {
            method: method.into(),
            url: url.into(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// `GET url`.
    pub fn get(url: impl Into<String>) -> Request {
        Request::new("GET", url)
    }

    /// `POST url` with a JSON body (`content-type: application/json`).
    pub fn post_json(url: impl Into<String>, body: &serde_json::Value) -> Request {
        Request::new("POST", url)
            .header("content-type", "application/json")
            .body(body.to_string().into_bytes())
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }
}

impl Response {
    /// The first value of the header `name` (compared ignoring ASCII case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as text (invalid UTF-8 becomes U+FFFD).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}
