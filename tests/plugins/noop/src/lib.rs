//! `noop`: the cheapest plugin there is, for measuring what the plugin machinery itself costs
//! (`cargo xtask bench-plugins`). Keep this list true.
//!
//! before-save (hook: `contact` create and update): the SDK's default, Proceed for every
//! change — no host call, no allocation beyond the answer.
//!
//! handle-http: `GET /ok` → 200 text `ok`; anything else → 404.

use plugin_sdk::prelude::*;

struct Noop;

impl Plugin for Noop {
    fn handle_http(_ctx: Context, request: HttpRequest) -> Result<HttpResponse, String> {
        match request.path.as_str() {
            "/ok" => Ok(HttpResponse::text(200, "ok")),
            _ => Ok(HttpResponse::not_found()),
        }
    }
}

plugin_sdk::register_plugin!(Noop);
