//! `hostile`: a plugin that misbehaves in one chosen way at a time, so the host's end-to-end
//! tests can check that each misbehaviour is stopped (or refused) and that the server keeps
//! serving. Keep this list true.
//!
//! before-save (hook: `contact` create and update), by the setting `mode`:
//! - `proceed` (the default, and any unknown mode) → Proceed for every change;
//! - `loop` → loops forever; `panic` → panics; `alloc` → allocates 1 MiB blocks (each written
//!   to) forever; `recurse` → recurses without end;
//! - `write` → tries `records::create("contact", …)`, which before-save may not do: Reject
//!   `[{field: "mode", code: <the host error's code>}]`, or code `write_allowed` if the host
//!   let it through.
//!
//! after-save: mode `after_fail` → Err for every batch (so the host retries); otherwise adds the
//! number of events to the decimal counter in kv `after_save_seen`.
//!
//! run-action, by name (the answers are JSON):
//! - `loop`, `alloc`, `recurse`, `panic`: as above;
//! - `huge` → answers a 16 MiB string (within its memory, over the host's 4 MiB cap);
//! - `flood` → calls `clock::now` 1,000,000 times, then `{}`;
//! - `log_flood` → logs a 1 MiB line 100 times, then `{}`;
//! - `read_ungranted` → `records::find("company")` (not granted): `{"code": <host error code>}`
//!   or `{"code": "allowed"}`;
//! - `write_other_workspace`, input `{"id"}` → `records::update("contact", id, first_name =
//!   "pwned")`: `{"code": <host error code>}` or `{"code": "allowed"}`;
//! - `read_other_workspace`, input `{"id"}` → `records::get("contact", id)`: `{"code": "none"}`
//!   for Ok(None), `{"code": "found"}` for a record, `{"code": <host error code>}`;
//! - `http_forbidden` → `GET http://10.0.0.1/` (only 127.0.0.1:1 is declared): `{"code": <host
//!   error code>}` or `{"code": "allowed"}`;
//! - `kv_flood` → sets keys `flood/0` … `flood/99999`: stops at the first host error with
//!   `{"code": <its code>, "written": n}`, else `{"code": "allowed", "written": 100000}`;
//! - `ok` → `{}`; any other name → Err.
//!
//! handle-http: `GET /loop` loops forever; `GET /ok` → 200 text `ok`; `GET /seen` → 200 text
//! of kv `after_save_seen` (`0` when absent); anything else → 404.

use std::hint::black_box;

use plugin_sdk::prelude::*;
use plugin_sdk::records::Query;
use serde_json::{Value as Json, json};

struct Hostile;

impl Plugin for Hostile {
    fn before_save(_ctx: Context, changes: Vec<Change>) -> Result<Vec<Verdict>, String> {
        let mode = config::get("mode").unwrap_or_default();
        let verdict = match mode.as_str() {
            "loop" => spin(),
            "panic" => panic!("the hostile plugin panics in before-save"),
            "alloc" => allocate_forever(),
            "recurse" => recurse_forever(),
            "write" => {
                let code = match records::create("contact", &fields([("first_name", "sneaky")])) {
                    Ok(_) => "write_allowed".to_owned(),
                    Err(error) => error.code,
                };
                Verdict::reject_field("mode", code, "before-save tried to write a record")
            }
            _ => Verdict::Proceed,
        };
        Ok(changes.iter().map(|_| verdict.clone()).collect())
    }

    fn after_save(_ctx: Context, events: Vec<Event>) -> Result<(), String> {
        if config::get("mode").as_deref() == Some("after_fail") {
            return Err("the hostile plugin refuses these events".into());
        }
        let seen: usize = kv::get_text("after_save_seen")?
            .and_then(|text| text.parse().ok())
            .unwrap_or(0);
        kv::set_text("after_save_seen", &(seen + events.len()).to_string())?;
        Ok(())
    }

    fn handle_http(_ctx: Context, request: HttpRequest) -> Result<HttpResponse, String> {
        match request.path.as_str() {
            "/loop" => spin(),
            "/ok" => Ok(HttpResponse::text(200, "ok")),
            "/seen" => {
                let seen = kv::get_text("after_save_seen")?.unwrap_or_else(|| "0".into());
                Ok(HttpResponse::text(200, seen))
            }
            _ => Ok(HttpResponse::not_found()),
        }
    }

    fn run_action(_ctx: Context, action: String, input: String) -> Result<String, ActionError> {
        let input: Json = serde_json::from_str(&input).unwrap_or(Json::Null);
        let id = input.get("id").and_then(Json::as_str).unwrap_or_default();
        let answer = match action.as_str() {
            "loop" => spin(),
            "alloc" => allocate_forever(),
            "recurse" => recurse_forever(),
            "panic" => panic!("the hostile plugin panics in run-action"),
            "huge" => return Ok("x".repeat(16 << 20)),
            "flood" => {
                for _ in 0..1_000_000 {
                    black_box(clock::now_micros());
                }
                json!({})
            }
            "log_flood" => {
                let line = "x".repeat(1 << 20);
                for _ in 0..100 {
                    log::info(&line);
                }
                json!({})
            }
            "read_ungranted" => code_of(records::find("company", &Query::new()).map(|_| "allowed")),
            "write_other_workspace" => code_of(
                records::update("contact", id, &fields([("first_name", "pwned")]), None)
                    .map(|_| "allowed"),
            ),
            "read_other_workspace" => code_of(
                records::get("contact", id)
                    .map(|found| if found.is_some() { "found" } else { "none" }),
            ),
            "http_forbidden" => code_of(http::get("http://10.0.0.1/").map(|_| "allowed")),
            "kv_flood" => kv_flood(),
            "ok" => json!({}),
            other => {
                return Err(ActionError::Failed(format!(
                    "action `{other}` is not implemented by this plugin"
                )));
            }
        };
        Ok(answer.to_string())
    }
}

plugin_sdk::register_plugin!(Hostile);

/// `{"code": …}`: the outcome's own code, or the host error's.
fn code_of(outcome: Result<&str, HostError>) -> Json {
    match outcome {
        Ok(code) => json!({ "code": code }),
        Err(error) => json!({ "code": error.code }),
    }
}

/// Loops forever; `black_box` keeps the optimiser from proving the loop does nothing.
fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Allocates 1 MiB blocks, writing to every page of each, and keeps them all.
fn allocate_forever() -> ! {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; 1 << 20];
        for byte in block.iter_mut().step_by(4096) {
            *byte = 1;
        }
        blocks.push(black_box(block));
    }
}

/// Recurses without end (until the stack overflows or the host stops it).
fn recurse_forever() -> ! {
    recurse(0);
    // `recurse` only returns at a depth no stack reaches.
    spin()
}

/// One frame holds a 1 KiB array the optimiser cannot drop, and the call is not in tail
/// position, so each level costs stack.
fn recurse(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return 0;
    }
    let frame = black_box([depth as u8; 1024]);
    let below = recurse(depth + 1);
    below.wrapping_add(u64::from(black_box(frame)[(depth % 1024) as usize]))
}

/// Sets 100,000 keys, stopping at the first refusal.
fn kv_flood() -> Json {
    for i in 0..100_000u32 {
        if let Err(error) = kv::set(&format!("flood/{i}"), b"x") {
            return json!({ "code": error.code, "written": i });
        }
    }
    json!({ "code": "allowed", "written": 100_000 })
}
