//! The host's imports as the SDK's modules call them: the real host's in a plugin built for
//! WebAssembly; the in-memory [`testing`](crate::testing) host's in a native build (a plugin's
//! own unit tests, `cargo test`).

use crate::bindings::kith::plugin::records::{AggregateQuery, Group, Page, Query};
use crate::bindings::kith::plugin::{http_out, log, mail, search};
use crate::{Field, HostError, Record};

#[cfg(target_family = "wasm")]
use crate::bindings::kith::plugin as wit;

/// The expression for WebAssembly, or the test host's for a native build.
macro_rules! either {
    ($wasm:expr, |$host:ident| $native:expr) => {{
        #[cfg(target_family = "wasm")]
        {
            $wasm
        }
        #[cfg(not(target_family = "wasm"))]
        {
            crate::testing::with_host(|$host| $native)
        }
    }};
}

pub fn get(entity_type: &str, id: &str) -> Result<Option<Record>, HostError> {
    either!(wit::records::get(entity_type, id), |h| h
        .get(entity_type, id))
}

pub fn find(entity_type: &str, query: &Query) -> Result<Page, HostError> {
    either!(wit::records::find(entity_type, query), |h| h
        .find(entity_type, query))
}

pub fn aggregate(entity_type: &str, query: &AggregateQuery) -> Result<Vec<Group>, HostError> {
    either!(wit::records::aggregate(entity_type, query), |h| h
        .aggregate(entity_type, query))
}

pub fn create(entity_type: &str, fields: &[Field]) -> Result<Record, HostError> {
    either!(wit::records::create(entity_type, fields), |h| h
        .create(entity_type, fields))
}

pub fn update(
    entity_type: &str,
    id: &str,
    fields: &[Field],
    expected_version: Option<i64>,
) -> Result<Record, HostError> {
    either!(
        wit::records::update(entity_type, id, fields, expected_version),
        |h| h.update(entity_type, id, fields, expected_version)
    )
}

pub fn delete(entity_type: &str, id: &str) -> Result<(), HostError> {
    either!(wit::records::delete(entity_type, id), |h| h
        .delete(entity_type, id))
}

pub fn search(
    query: &str,
    entity_types: &[String],
    limit: u32,
) -> Result<Vec<search::Hit>, HostError> {
    either!(wit::search::search(query, entity_types, limit), |h| h
        .search(query, entity_types, limit))
}

pub fn kv_get(key: &str) -> Result<Option<Vec<u8>>, HostError> {
    either!(wit::kv::get(key), |h| h.kv_get(key))
}

pub fn kv_set(key: &str, value: &[u8]) -> Result<(), HostError> {
    either!(wit::kv::set(key, value), |h| h.kv_set(key, value))
}

pub fn kv_delete(key: &str) -> Result<(), HostError> {
    either!(wit::kv::delete(key), |h| h.kv_delete(key))
}

pub fn kv_keys(prefix: &str) -> Result<Vec<String>, HostError> {
    either!(wit::kv::keys(prefix), |h| h.kv_keys(prefix))
}

pub fn config_get(name: &str) -> Option<String> {
    either!(wit::config::get(name), |h| h.config_get(name))
}

pub fn log(level: log::Level, message: &str) {
    either!(wit::log::log(level, message), |h| h.log(level, message))
}

pub fn fetch(request: &http_out::Request) -> Result<http_out::Response, HostError> {
    either!(wit::http_out::fetch(request), |h| h.fetch(request))
}

pub fn mail_send(message: &mail::Outgoing) -> Result<mail::Queued, HostError> {
    either!(wit::mail::send(message), |h| h.mail_send(message))
}

pub fn now_micros() -> i64 {
    either!(wit::clock::now(), |h| h.now())
}
