//! The SDK for writing Kith plugins in Rust.
//!
//! A Kith plugin is a WebAssembly component built with
//! `cargo build --target wasm32-wasip2 --release`. It exports the functions of the `guest`
//! interface of the WIT world in `plugin-sdk/wit/plugin.wit` (the contract with the host) and
//! reaches the host only through the imports that world declares. This crate hides the
//! generated bindings behind:
//!
//! - the [`Plugin`] trait: one associated function per export, each with a default, so a plugin
//!   implements only what it needs;
//! - the [`register_plugin!`] macro: exports a type implementing [`Plugin`] and records
//!   [`API_VERSION`] in the `kith:api-version` custom section the host checks before loading;
//! - one module per host capability: [`records`], [`search`], [`kv`], [`config`], [`log`],
//!   [`http`] and [`clock`];
//! - the contract's types ([`Value`], [`Record`], [`Change`], [`Verdict`], [`HttpRequest`], …)
//!   with typed accessors and builders.
//!
//! ```no_run
//! use plugin_sdk::prelude::*;
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     fn before_save(_ctx: Context, changes: Vec<Change>) -> Result<Vec<Verdict>, String> {
//!         Ok(changes
//!             .iter()
//!             .map(|change| match change.text("email") {
//!                 Some(email) if !email.contains('@') => {
//!                     Verdict::reject_field("email", "invalid_email", "an email needs an @")
//!                 }
//!                 _ => Verdict::Proceed,
//!             })
//!             .collect())
//!     }
//!
//!     fn handle_http(ctx: Context, request: HttpRequest) -> Result<HttpResponse, String> {
//!         match (request.method.as_str(), request.path.as_str()) {
//!             ("GET", "/hello") => Ok(HttpResponse::json(
//!                 200,
//!                 &serde_json::json!({ "hello": ctx.user, "greeting": config::get("greeting") }),
//!             )),
//!             _ => Ok(HttpResponse::not_found()),
//!         }
//!     }
//! }
//!
//! register_plugin!(Hello);
//! ```
//!
//! # Errors
//!
//! Three kinds, never mixed:
//! - a [`HostError`] is the host refusing one request (`forbidden`, `record_not_found`,
//!   `limit_exceeded`, …): every import returns it in a `Result`, and the plugin may handle it;
//! - an `Err(String)` returned by an export is the plugin's own failure: the host logs it and
//!   answers the caller with a generic error;
//! - a trap (a panic, running out of fuel, time or memory, breaching a host-call counter) ends
//!   the call at once; nothing the call did in `before-save` is stored.
//!
//! `plugin-sdk/README.md` is the full guide: manifest, packaging, limits and permissions.

// Keeps `plugin_sdk::…` paths valid inside this crate too (the export macro uses them).
extern crate self as plugin_sdk;

mod guest;
mod imports;
mod values;

pub mod clock;
pub mod config;
pub mod filter;
pub mod http;
pub mod kv;
pub mod log;
pub mod mail;
pub mod records;
pub mod router;
pub mod search;
#[cfg(not(target_family = "wasm"))]
pub mod testing;

/// The bindings `wit-bindgen` generates from `wit/plugin.wit`. Not part of the API: use the
/// re-exports and the modules of the crate root.
#[doc(hidden)]
#[allow(unsafe_code, clippy::all, clippy::unwrap_used, missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "wit",
        pub_export_macro: true,
        export_macro_name: "__export_kith_plugin",
        default_bindings_module: "plugin_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

pub use bindings::exports::kith::plugin::guest::{
    ActionError, Change, Event, FieldChange, HttpRequest, HttpResponse, JobStep, Operation, Panel,
    Verdict,
};
pub use bindings::kith::plugin::types::{
    Context, EntityRecord, EntityRecord as Record, Field, FieldError, HostError, Money, Value,
};
pub use guest::Plugin;
pub use values::{FieldList, fields};

/// `chrono`, for date and datetime fields (`Record::day`, `Record::instant`).
pub use chrono;
/// `rust_decimal`, for exact arithmetic on money (`Money::decimal`).
pub use rust_decimal;
/// `serde_json`, re-exported so a plugin can build JSON without depending on it itself.
pub use serde_json;

/// The version of the plugin API (the WIT package `kith:plugin`) this SDK implements.
/// [`register_plugin!`] writes it into the plugin's `kith:api-version` custom section; the
/// host refuses a plugin whose version it does not support, and the manifest's
/// `api_version` must name the same version.
pub const API_VERSION: &str = "0.4.1";

/// [`API_VERSION`] as an array, for the custom section [`register_plugin!`] emits.
#[doc(hidden)]
pub const __API_VERSION_BYTES: [u8; API_VERSION.len()] = {
    let text = API_VERSION.as_bytes();
    let mut bytes = [0u8; API_VERSION.len()];
    let mut i = 0;
    while i < text.len() {
        bytes[i] = text[i];
        i += 1;
    }
    bytes
};

/// Everything a plugin usually needs: `use plugin_sdk::prelude::*;`.
pub mod prelude {
    pub use crate::filter::Filter;
    pub use crate::records::Query;
    pub use crate::router::{RouteError, Router, json_action};
    pub use crate::{
        API_VERSION, ActionError, Change, Context, Event, Field, FieldChange, FieldError,
        FieldList, HostError, HttpRequest, HttpResponse, JobStep, Money, Operation, Panel, Plugin,
        Record, Value, Verdict, clock, config, fields, http, kv, log, records, register_plugin,
        search,
    };
}

/// Exports a type implementing [`Plugin`] as the plugin's `guest` and records [`API_VERSION`]
/// in the component's `kith:api-version` custom section.
///
/// Call it once, at the root of the plugin's crate (a `cdylib`), with the type's name:
/// `register_plugin!(MyPlugin);`.
#[macro_export]
macro_rules! register_plugin {
    ($plugin:ident) => {
        // The exports and the section are unsafe attributes (`export_name`, `link_section`):
        // allowed here, so a plugin crate may deny `unsafe_code` (not forbid it: a forbid
        // cannot be allowed back).
        #[allow(unsafe_code)]
        const _: () = {
    $crate::bindings::__export_kith_plugin!($plugin with_types_in $crate::bindings);

            // The host reads this section (UTF-8 text) from the component's core module and
            // refuses a plugin built against an API version it does not support.
            #[cfg(target_arch = "wasm32")]
            #[unsafe(link_section = "kith:api-version")]
            #[used]
            static KITH_API_VERSION: [u8; $crate::API_VERSION.len()] = $crate::__API_VERSION_BYTES;
        };
    };
}
