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
//!   let it through;
//! - `echo` → Reject `[{field: "mode", code: "echo", message}]` whose message lists every field
//!   the change carries (`name=value; …`) and then `changed: a, b` (what a hook must not see
//!   would show in the 422).
//!
//! after-save: mode `after_fail` → Err for every batch (so the host retries); mode
//! `after_poison` → Err when one of the events is of a contact whose `last_name` is `Poison`
//! (read with `records::get`); mode `after_touch` → `records::update("contact", <setting
//! target>, title = "touched")` for each event, Err with the host error's code when refused;
//! then (every mode that did not fail) adds the number of events to the decimal counter in kv
//! `after_save_seen`.
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
//! - `kv_fill`, input `{"prefix", "mib"}` → sets keys `{prefix}/0` … of 1 MiB each, `mib` of
//!   them: `{"code": <the first host error's code> or "allowed", "written": n}`;
//! - `search`, input `{"q"}` → `search::search(q, ["contact"], 20)`: `{"code": "ok", "titles":
//!   [..]}` or `{"code": <host error code>}`;
//! - `ok` → `{}`; any other name → Err.
//!
//! handle-http: `GET /loop` loops forever; `GET /ok` → 200 text `ok`; `GET /seen` → 200 text
//! of kv `after_save_seen` (`0` when absent); and under `/r/` (GET unless said):
//! - `/r/js` → 200 `application/javascript`: [`ATTACK`], which creates an API token with the
//!   session it runs in and stores it in kv `loot`;
//! - `/r/page` → 200 `text/html`: a page running [`ATTACK`] inline;
//! - `/r/css` → 200 `text/css` that hides the page;
//! - `/r/loot` → 200 text of kv `loot` (empty when absent); `PUT /r/loot` stores the body there;
//! - `/r/headers` → 200 text with headers a route may not set (cookies, CORS, security
//!   headers, `clear-site-data`);
//! - `/r/redirect?to=URL` → 302 to `URL`;
//! - `/r/slow` → `records::find("contact", last_name contains "no such name", limit 1)` 20,000
//!   times (a database-heavy call, over the host-call limit), then 200 `done`; a host error →
//!   502 with its code;
//! - anything else → 404.
//!
//! run-job `creep`: every step creates a contact `{"last_name": "creep"}` and asks for the next
//! step (it never ends by itself); a host error ends the step with that error.
//!
//! render-panel: `evil` (`evil.html`) and `evil_txt` (`evil.txt`), context `{"raw": <a script
//! tag loading /r/js>}`: templates whose markup and values carry script, style, frames, forms
//! and handlers.

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
            "echo" => {
                let change = changes.first().ok_or("no change")?;
                let fields: Vec<String> = change
                    .fields
                    .iter()
                    .map(|f| format!("{}={}", f.name, f.value.to_json()))
                    .collect();
                let message = format!(
                    "{}; changed: {}",
                    fields.join("; "),
                    change.changed.join(", ")
                );
                Verdict::reject_field("mode", "echo", message)
            }
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
        match config::get("mode").as_deref() {
            Some("after_fail") => return Err("the hostile plugin refuses these events".into()),
            Some("after_poison") => {
                for event in &events {
                    let record = records::get("contact", &event.record_id)?;
                    if record.as_ref().and_then(|r| r.text("last_name")) == Some("Poison") {
                        return Err(format!("poisoned by event {}", event.id));
                    }
                }
            }
            Some("after_touch") => {
                let target = config::get("target").unwrap_or_default();
                for _ in &events {
                    records::update("contact", &target, &fields([("title", "touched")]), None)
                        .map_err(|e| e.code)?;
                }
            }
            _ => {}
        }
        let seen: usize = kv::get_text("after_save_seen")?
            .and_then(|text| text.parse().ok())
            .unwrap_or(0);
        kv::set_text("after_save_seen", &(seen + events.len()).to_string())?;
        Ok(())
    }

    fn handle_http(_ctx: Context, request: HttpRequest) -> Result<HttpResponse, String> {
        match (request.method.as_str(), request.path.as_str()) {
            (_, "/loop") => spin(),
            (_, "/ok") => Ok(HttpResponse::text(200, "ok")),
            (_, "/seen") => {
                let seen = kv::get_text("after_save_seen")?.unwrap_or_else(|| "0".into());
                Ok(HttpResponse::text(200, seen))
            }
            ("GET", "/r/js") => Ok(HttpResponse::bytes(
                200,
                "application/javascript",
                ATTACK.as_bytes().to_vec(),
            )),
            ("GET", "/r/page") => Ok(HttpResponse::html(
                200,
                format!("<!doctype html><title>page</title><script>{ATTACK}</script>"),
            )),
            ("GET", "/r/css") => Ok(HttpResponse::bytes(
                200,
                "text/css",
                b"body { display: none }".to_vec(),
            )),
            ("GET", "/r/loot") => Ok(HttpResponse::text(
                200,
                kv::get_text("loot")?.unwrap_or_default(),
            )),
            ("PUT", "/r/loot") => {
                kv::set("loot", &request.body)?;
                Ok(HttpResponse::new(204))
            }
            ("GET", "/r/headers") => Ok(HttpResponse::text(200, "headers")
                .with_header("set-cookie", "kith_session=stolen; Path=/")
                .with_header("access-control-allow-origin", "*")
                .with_header("access-control-allow-credentials", "true")
                .with_header("clear-site-data", "\"*\"")
                .with_header("referrer-policy", "unsafe-url")
                .with_header("x-content-type-options", "sniff")
                .with_header("content-security-policy", "script-src *")
                .with_header("x-frame-options", "ALLOWALL")
                .with_header("cache-control", "no-cache")),
            ("GET", "/r/redirect") => Ok(HttpResponse::new(302)
                .with_header("location", request.query_param("to").unwrap_or_default())),
            ("GET", "/r/slow") => {
                let query = Query::new()
                    .filter("last_name[contains]:no such name")
                    .limit(1);
                for _ in 0..20_000 {
                    if let Err(error) = records::find("contact", &query) {
                        return Ok(HttpResponse::error(502, &error.code, &error.message));
                    }
                }
                Ok(HttpResponse::text(200, "done"))
            }
            _ => Ok(HttpResponse::not_found()),
        }
    }

    fn run_job(_ctx: Context, job: String, cursor: Option<String>) -> Result<JobStep, String> {
        if job != "creep" {
            return Err(format!("job `{job}` is not implemented by this plugin"));
        }
        records::create("contact", &fields([("last_name", "creep")]))?;
        let step: u64 = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        Ok(JobStep::next((step + 1).to_string()))
    }

    fn render_panel(
        _ctx: Context,
        panel: String,
        _record: Option<Record>,
    ) -> Result<Panel, String> {
        let context = json!({ "raw": "<script src=\"/p/hostile/r/js\"></script>" });
        match panel.as_str() {
            "evil" => Panel::new("evil.html", &context),
            "evil_txt" => Panel::new("evil.txt", &context),
            other => Err(format!("no panel `{other}`")),
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
            "kv_fill" => {
                let prefix = input.get("prefix").and_then(Json::as_str).unwrap_or("fill");
                let mib = input.get("mib").and_then(Json::as_u64).unwrap_or(1);
                kv_fill(prefix, mib)
            }
            "search" => {
                let q = input.get("q").and_then(Json::as_str).unwrap_or_default();
                match search::search(q, &["contact"], 20) {
                    Ok(hits) => {
                        let titles: Vec<String> = hits.into_iter().map(|h| h.title).collect();
                        json!({ "code": "ok", "titles": titles })
                    }
                    Err(error) => json!({ "code": error.code }),
                }
            }
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

/// The script a hostile plugin would like to run in a signed-in person's browser: it creates an
/// API token with their session and hands it to the plugin, where anyone calling `/r/loot`
/// reads it.
const ATTACK: &str = r#"(async () => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";
  const made = await fetch("/api/v1/tokens", {
    method: "POST",
    headers: { "content-type": "application/json", "x-csrf-token": csrf },
    body: JSON.stringify({ name: "stolen by hostile" }),
  });
  const token = await made.text();
  await fetch("/p/hostile/r/loot", { method: "PUT", headers: { "x-csrf-token": csrf }, body: token });
  document.title = "pwned";
})();"#;

/// Sets `mib` keys of 1 MiB each under `prefix`, stopping at the first refusal.
fn kv_fill(prefix: &str, mib: u64) -> Json {
    let value = vec![b'x'; 1 << 20];
    for i in 0..mib {
        if let Err(error) = kv::set(&format!("{prefix}/{i}"), &value) {
            return json!({ "code": error.code, "written": i });
        }
    }
    json!({ "code": "allowed", "written": mib })
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
