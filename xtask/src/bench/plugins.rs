//! `cargo xtask bench-plugins`: what the plugin runtime costs, measured in one optimised
//! process (a debug `xtask` builds the release one and re-runs itself from it, as
//! `bench-api` does) on SQLite, and reported as one markdown table for BENCHMARKS.md.
//!
//! The bench builds the test plugins (`cargo xtask plugins`) and installs them from
//! `target/wasm/wasm32-wasip2/release`, then measures, in this order:
//!
//! 1. **a no-op before-save hook on a record write**: `Store::create` of a contact with 6
//!    fields on a real, migrated SQLite database (`host::app::open_store` in a temporary data
//!    directory), in a workspace without plugins and in one where the `noop` plugin (hook on
//!    contact create and update, answering Proceed) is enabled — a fresh instance per call, as
//!    in production. The two workspaces share the database and are written alternately, one
//!    create each in turn (which goes first alternates too), so drift in the machine's load
//!    hits both alike. The hooked writes' calls are timed too, from the registry's `plugin
//!    call` debug event: on a virtual machine the difference of the medians can hide the call
//!    (see [`Writes::cost_micros`]);
//! 2. **invocations per second on one core**, a current-thread tokio runtime calling
//!    before-save with the same one change (a contact with 6 fields) in a loop, four ways:
//!    (a) a native Rust function building the same verdicts, (b) the `noop` component with
//!    one instance reused for every call (`Runtime::reusable_instance`), (c) a fresh instance
//!    per call (`Plugins::invoke`, exactly as the record store's hook does; every thread of
//!    the process confined to one CPU, so the epoch ticker's share is counted), and (d) an HTTP
//!    webhook: JSON over loopback to an axum server answering a JSON list of verdicts, with
//!    reqwest as the client. Each way gets a warm-up, one untimed loop (calls per second) and
//!    one loop timing every call (p50/p99). Three more rows take (c) apart: a fresh store and
//!    instance without a call, and, timed alone, the first call on a fresh instance and
//!    dropping the instance after it; one more times (c) with the caches cold, 8 MiB of other
//!    memory written before each call, as a write's own work leaves them;
//! 3. **an infinite loop is stopped**: the `hostile` plugin with setting `mode = "loop"` in a
//!    third workspace; each contact create must fail with a plugin failure (the deadline or
//!    the fuel budget, whichever ends the loop first: both are counted), and the figure is its
//!    wall-clock time minus the before-save deadline. Five failures in a row suspend a plugin,
//!    so the bench enables it again (which lifts the count) after every fourth failure;
//! 4. **other requests while a plugin is being stopped**: a real server
//!    (`Application::build` on 127.0.0.1:0, temporary SQLite data directory, 2 tokio workers
//!    as `kith serve` has on this machine) with `hostile` enabled; `GET /api/v1/contacts/{id}`
//!    paced at one request every 5 ms from a client on its own thread, in quiet and loaded
//!    windows taken in turn (20 of each, so that a slow spell of the machine falls on both):
//!    in a loaded window a second client thread keeps calling the `loop` action (stopped by
//!    its 2 s deadline or its fuel), one call at a time, each followed by a call of the `ok`
//!    action (a success ends the run of failures, so the plugin is not suspended; if it ever
//!    is, the client enables it again through the API and counts it);
//! 5. **other requests while 16 clients call a database-heavy route**: the same server, GETs
//!    and windows, with 16 clients at once calling `GET /p/hostile/r/slow` (a route running
//!    `records::find` until a budget stops it) in the loaded windows;
//! 6. **server start with 4 plugins installed and enabled** (`good`, `hostile`, `noop`, and
//!    `noop` again under the id `noop_copy` with a custom section appended to its component,
//!    so it is a distinct component with its own compilation and cache file): the first
//!    `Application::build` after emptying `<data-dir>/plugin-cache` (cold: every component is
//!    compiled), then several more with the cache warm; and, for reference, the same start of a
//!    data directory without plugins.
//!
//! Latencies are nearest-rank percentiles over the sorted samples; the warm-ups are not
//! counted. The machine's load average is printed at the start and at the end of the run,
//! because other work on the machine shows up in every figure.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{
    self as bench, Machine, Stats, TempDir, human, publish_section, signed_micros, thousands,
    yes_no,
};

use anyhow::{Context as _, anyhow, bail};
use host::app::Application;
use host::config::Config;
use host::plugins::package::Package;
use host::plugins::registry::SUSPEND_AFTER;
use host::plugins::runtime::{CallKind, Reusable, guest, types};
use host::plugins::{CallState, Enabled, Plugins};
use host::records::{Actor, Extensions, RecordError, Store, WriteOp};
use serde_json::{Map, Value, json};

const SECTION_START: &str = "<!-- bench-plugins:start -->";
const SECTION_END: &str = "<!-- bench-plugins:end -->";
const MARKERS: (&str, &str) = (SECTION_START, SECTION_END);

/// The targets.
const HOOK_COST_TARGET: Duration = Duration::from_micros(25);
const CALLS_PER_SECOND_TARGET: f64 = 20_000.0;
const DEADLINE_SLACK_TARGET: Duration = Duration::from_millis(10);
/// GET p99 while a hostile plugin spins, over the quiet p99 (issue 22; issue 3 asked 1.2×).
const P99_GROWTH_TARGET: f64 = 1.5;
const START_TARGET: Duration = Duration::from_millis(500);

/// Creates per workspace before the timed ones.
const WRITE_WARMUP: usize = 100;
/// Calls per way before the loops that count.
const CALL_WARMUP: usize = 1_000;
/// Memory written before each call of the cold series: more than a core's L1 and L2 caches hold
/// (2 MiB of L2 per core on the machines benched so far), as a write's own work between two
/// hooks leaves them. Its calls are capped at [`COLD_CALLS`]: each costs a few ms of writing.
const COLD_BYTES: usize = 8 << 20;
const COLD_CALLS: usize = 2_000;
/// GETs before the first isolation window, not counted.
const GET_WARMUP: usize = 50;
const GET_EVERY: Duration = Duration::from_millis(5);
/// Clients calling the database-heavy route at once, as in the report of issue 21.
const HEAVY_CLIENTS: usize = 16;
/// How long a heavy client waits after a 503 `plugin_busy` before calling again.
const HEAVY_RETRY: Duration = Duration::from_millis(100);
/// The isolation GETs alternate between this many quiet and as many loaded windows.
const WINDOWS: usize = 20;
/// The looping action runs this long in each loaded window before its GETs start.
const LOAD_RAMP: Duration = Duration::from_millis(200);
/// Contacts seeded on the server, the GETs' targets.
const SEEDED: usize = 1_000;

const PASSWORD: &str = "benchpass1";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Contact creates timed in each workspace (with and without the no-op hook).
    #[arg(long, default_value_t = 2_000)]
    writes: usize,
    /// Before-save calls timed per way in the invocation comparison.
    #[arg(long, default_value_t = 20_000)]
    calls: usize,
    /// Contact creates timed against the looping hook.
    #[arg(long, default_value_t = 60)]
    loops: usize,
    /// GETs timed on the server, quiet and under load (each; spread over 20 windows of each).
    #[arg(long, default_value_t = 4_000)]
    gets: usize,
    /// Warm server starts timed.
    #[arg(long, default_value_t = 7)]
    starts: usize,
    /// Write the results into this markdown file (e.g. BENCHMARKS.md), replacing the section
    /// between `<!-- bench-plugins:start -->` and `<!-- bench-plugins:end -->`.
    #[arg(long)]
    write: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.writes == 0 || args.calls == 0 || args.loops == 0 || args.gets == 0 || args.starts == 0
    {
        bail!("every count must be at least 1");
    }
    if args.gets < WINDOWS {
        bail!("--gets must be at least {WINDOWS} (one per window)");
    }
    if bench::first_run() {
        crate::plugins()?;
    }
    if bench::rerun_release_build(&[])? {
        return Ok(());
    }
    let wasm_dir = bench::target_dir().join("wasm/wasm32-wasip2/release");
    let machine = Machine::probe();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;

    let call_log = CallLog::default();
    call_log.install()?;

    eprintln!("== record writes, with and without a no-op before-save hook ==");
    let rig = Arc::new(runtime.block_on(Rig::new(&wasm_dir))?);
    // On a worker, as a request's write runs in `kith serve` (`block_on` runs its future on
    // this thread, where whatever the write spawns would have to wake a worker).
    let writes = runtime.block_on(runtime.spawn({
        let rig = rig.clone();
        async move { bench_writes(&rig, args.writes, &call_log).await }
    }))??;

    eprintln!("== before-save calls on one core ==");
    let one_core = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    let calls = one_core.block_on(bench_calls(&rig, args.calls))?;
    drop(one_core);

    eprintln!("== an infinite loop in before-save ==");
    let looping = runtime.block_on(bench_loop(&rig, args.loops))?;
    // Its runtime's epoch ticker would otherwise go on waking a core through the GETs.
    drop(rig);

    eprintln!("== GETs while a plugin is being stopped ==");
    let isolation = runtime.block_on(bench_isolation(&wasm_dir, args.gets, Hostility::Loops))?;

    eprintln!("== GETs while {HEAVY_CLIENTS} clients call a database-heavy route ==");
    let heavy = runtime.block_on(bench_isolation(&wasm_dir, args.gets, Hostility::HeavyRoute))?;

    eprintln!("== server start with 4 plugins ==");
    let startup = runtime.block_on(bench_startup(&wasm_dir, args.starts))?;

    let report = Report {
        writes,
        calls,
        looping,
        isolation,
        heavy,
        startup,
    };
    let section = render_section(&report, &machine);
    publish_section(&section, args.write.as_deref(), MARKERS)
}

// -- statistics ----------------------------------------------------------------------------------

// -- plugins and workspaces ----------------------------------------------------------------------

impl TempDir {
    /// A server's configuration on a SQLite database in this directory.
    fn config(&self) -> anyhow::Result<Config> {
        Ok(Config {
            database_url: self.sqlite_url(),
            listen: "127.0.0.1:0".parse()?,
            data_dir: self.path().to_owned(),
            retention_days: 30,
            plugin_cache: None,
            stream: None,
        })
    }
}

/// The package of a test plugin: its `plugin.toml` (with the id replaced by `id`), its
/// templates, its catalogues and the component `cargo xtask plugins` built. With `distinct`, a custom section
/// naming `id` is appended to the component, so that a copy is a different component (its own
/// hash, compilation and cache file).
fn package(wasm_dir: &Path, crate_name: &str, id: &str, distinct: bool) -> anyhow::Result<Package> {
    let source = crate::workspace_root()
        .join("tests/plugins")
        .join(crate_name);
    let manifest_path = source.join("plugin.toml");
    let manifest = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let mut rewritten = String::with_capacity(manifest.len());
    for line in manifest.lines() {
        if line.starts_with("id = ") {
            rewritten.push_str(&format!("id = \"{id}\""));
        } else {
            rewritten.push_str(line);
        }
        rewritten.push('\n');
    }
    let wasm_path = wasm_dir.join(format!("{crate_name}.wasm"));
    let mut wasm = std::fs::read(&wasm_path).with_context(|| {
        format!(
            "cannot read {} (build the test plugins with `cargo xtask plugins`)",
            wasm_path.display()
        )
    })?;
    if distinct {
        append_custom_section(&mut wasm, "kith:bench-copy", id.as_bytes());
    }
    let mut templates = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(source.join("templates")) {
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            templates.insert(name, std::fs::read_to_string(entry.path())?);
        }
    }
    let mut locales = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(source.join("locales")) {
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(tag) = name.strip_suffix(".ftl") {
                locales.insert(tag.to_owned(), std::fs::read_to_string(entry.path())?);
            }
        }
    }
    Package::from_parts(rewritten, wasm, templates, locales)
        .map_err(|e| anyhow!("the {crate_name} package as {id}: {e}"))
}

/// Appends a custom section (id 0) to a WebAssembly binary; the component model allows one
/// anywhere between sections.
fn append_custom_section(wasm: &mut Vec<u8>, name: &str, payload: &[u8]) {
    let mut body = Vec::new();
    leb128(&mut body, name.len());
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    wasm.push(0);
    leb128(wasm, body.len());
    wasm.extend_from_slice(&body);
}

fn leb128(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Creates an admin of a new workspace and returns them as an actor.
async fn admin(store: &Store, plugins: &Plugins, workspace: &str) -> anyhow::Result<Actor> {
    let email = format!("admin@{workspace}.bench");
    let user = host::auth::create_user(store.db(), &email, PASSWORD, "admin", workspace).await?;
    let id = host::auth::find_workspace(&store.db().read, workspace)
        .await?
        .context("the workspace was just created")?;
    plugins
        .actor_for(id, user)
        .await
        .context("cannot load the bench admin's permissions")
}

/// Enables an installed plugin in the admin's workspace, granting what it asks for.
async fn enable(
    plugins: &Plugins,
    admin: &Actor,
    id: &str,
    settings: Value,
) -> anyhow::Result<Arc<Enabled>> {
    let grant = plugins.requested_permissions(id, None).await?;
    let settings = settings.as_object().cloned().unwrap_or_default();
    Ok(plugins.enable(admin, id, None, &grant, settings).await?)
}

/// A contact with 6 fields, as the API takes it.
fn contact_input(i: usize) -> Map<String, Value> {
    let value = json!({
        "first_name": "Ada",
        "last_name": format!("Lovelace{i}"),
        "email": format!("ada{i}@example.com"),
        "phone": "+44 20 7946 0123",
        "title": "Analyst",
        "tags": ["bench", "plugins"],
    });
    value.as_object().cloned().unwrap_or_default()
}

/// The same contact as one change, as the before-save export receives it.
fn contact_change() -> guest::Change {
    let text = |name: &str, value: &str| types::Field {
        name: name.to_owned(),
        value: types::Value::Text(value.to_owned()),
    };
    let fields = vec![
        text("first_name", "Ada"),
        text("last_name", "Lovelace"),
        text("email", "ada@example.com"),
        text("phone", "+442079460123"),
        text("title", "Analyst"),
        types::Field {
            name: "tags".to_owned(),
            value: types::Value::Texts(vec!["bench".to_owned(), "plugins".to_owned()]),
        },
    ];
    let changed = fields.iter().map(|f| f.name.clone()).collect();
    guest::Change {
        operation: guest::Operation::Create,
        entity_type: "contact".to_owned(),
        id: None,
        fields,
        old_fields: Vec::new(),
        changed,
        references: Vec::new(),
    }
}

/// The same change as a webhook would get it: JSON.
fn contact_change_json() -> Value {
    json!({
        "operation": "create",
        "entity_type": "contact",
        "id": null,
        "fields": {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": "ada@example.com",
            "phone": "+442079460123",
            "title": "Analyst",
            "tags": ["bench", "plugins"],
        },
        "changed": ["first_name", "last_name", "email", "phone", "title", "tags"],
    })
}

/// The context every export gets (as `plugins::hooks::context` builds it).
fn context(enabled: &Enabled, actor: &Actor) -> types::Context {
    types::Context {
        workspace: actor.workspace.0.to_string(),
        user: actor.user.0.to_string(),
        plugin: enabled.id().to_owned(),
        plugin_version: enabled.plugin.manifest.version.clone(),
    }
}

/// One database, the plugin runtime, and three workspaces: one without plugins, one with
/// `noop`, one with `hostile` looping in before-save.
struct Rig {
    store: Arc<Store>,
    plugins: Arc<Plugins>,
    plain: Actor,
    hooked: Actor,
    looping: Actor,
    noop: Arc<Enabled>,
    _dir: TempDir,
}

impl Rig {
    /// A fresh store and instance of the no-op plugin, acting for the hooked workspace, kept
    /// for the caller to call (the parts of a fresh-instance call, timed apart).
    async fn noop_instance(&self) -> anyhow::Result<Reusable> {
        let state = CallState::new(
            self.plugins.services().clone(),
            self.noop.clone(),
            self.hooked.clone(),
            CallKind::BeforeSave,
        );
        self.plugins
            .runtime()
            .reusable_instance(&self.noop.plugin.compiled, CallKind::BeforeSave, state)
            .await
            .map_err(|failure| anyhow!("cannot instantiate noop: {failure}"))
    }

    async fn new(wasm_dir: &Path) -> anyhow::Result<Rig> {
        let dir = TempDir::create()?;
        let store = host::app::open_store(&dir.sqlite_url()).await?;
        let search = host::search::SearchIndex::open(&host::app::search_dir(dir.path()))?;
        let sealer = std::sync::Arc::new(host::secrets::Sealer::load(dir.path())?);
        let plugins = host::plugins::start(
            store.clone(),
            search,
            sealer,
            &host::config::plugin_cache_in(dir.path()),
        )
        .await?;
        plugins
            .install(package(wasm_dir, "noop", "noop", false)?)
            .await?;
        plugins
            .install(package(wasm_dir, "hostile", "hostile", false)?)
            .await?;
        let plain = admin(&store, &plugins, "plain").await?;
        let hooked = admin(&store, &plugins, "hooked").await?;
        let looping = admin(&store, &plugins, "looping").await?;
        let noop = enable(&plugins, &hooked, "noop", json!({})).await?;
        enable(&plugins, &looping, "hostile", json!({ "mode": "loop" })).await?;
        for (actor, hooked) in [(&plain, false), (&hooked, true), (&looping, true)] {
            if plugins.hooks(actor.workspace, "contact", WriteOp::Create) != hooked {
                bail!("the plugins are not enabled as the bench expects");
            }
        }
        Ok(Rig {
            store,
            plugins,
            plain,
            hooked,
            looping,
            noop,
            _dir: dir,
        })
    }
}

// -- 1. record writes ----------------------------------------------------------------------------

/// The `plugin call` debug events of before-save calls (`Plugins::invoke` times each call: the
/// permit, a fresh store and instance, the call, the drop), while recording: what a hook's
/// call costs inside a write, with the caches the write's other work left behind. Installed as
/// the process's subscriber; outside a recording it enables nothing, so the other series pay
/// no more than a relaxed load per event.
#[derive(Clone, Default)]
struct CallLog {
    recording: Arc<AtomicBool>,
    calls: Arc<std::sync::Mutex<Vec<Duration>>>,
}

impl CallLog {
    fn install(&self) -> anyhow::Result<()> {
        use tracing_subscriber::layer::SubscriberExt;
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(self.clone()))
            .context("cannot install the bench's tracing subscriber")
    }

    fn start(&self) {
        self.calls.lock().expect("call log").clear();
        self.recording.store(true, Ordering::Relaxed);
    }

    fn stop(&self) -> Vec<Duration> {
        self.recording.store(false, Ordering::Relaxed);
        std::mem::take(&mut *self.calls.lock().expect("call log"))
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CallLog {
    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if metadata.is_event() && metadata.target() == "host::plugins::registry" {
            tracing::subscriber::Interest::sometimes()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn enabled(
        &self,
        metadata: &tracing::Metadata<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        self.recording.load(Ordering::Relaxed) && metadata.fields().field("micros").is_some()
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        #[derive(Default)]
        struct Call {
            before_save: bool,
            micros: Option<u64>,
        }
        impl tracing::field::Visit for Call {
            fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
                if field.name() == "micros" {
                    self.micros = Some(value);
                }
            }
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                if field.name() == "kind" {
                    self.before_save = value == CallKind::BeforeSave.as_str();
                }
            }
            fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
        }
        let mut call = Call::default();
        event.record(&mut call);
        if let (true, Some(micros)) = (call.before_save, call.micros) {
            self.calls
                .lock()
                .expect("call log")
                .push(Duration::from_micros(micros));
        }
    }
}

struct Writes {
    plain: Stats,
    hooked: Stats,
    /// The hooked writes' before-save calls, as the registry timed them.
    calls: Stats,
}

impl Writes {
    /// The difference of the medians, in µs.
    fn difference_micros(&self) -> f64 {
        (self.hooked.p50.as_secs_f64() - self.plain.p50.as_secs_f64()) * 1e6
    }

    /// The hook's cost: the larger of the difference of the medians and the call's own median
    /// inside the writes. On a virtual machine the difference alone can come out below the
    /// call, even negative: a write is 200–700 µs of hand-offs to SQLite's thread, and how
    /// fast an idle virtual CPU wakes for them shifts with what ran before.
    fn cost_micros(&self) -> f64 {
        self.difference_micros()
            .max(self.calls.p50.as_secs_f64() * 1e6)
    }
}

async fn bench_writes(rig: &Rig, writes: usize, call_log: &CallLog) -> anyhow::Result<Writes> {
    let plain_type = rig.store.entity(rig.plain.workspace, "contacts").await?;
    let hooked_type = rig.store.entity(rig.hooked.workspace, "contacts").await?;
    let mut plain = Vec::with_capacity(writes);
    let mut hooked = Vec::with_capacity(writes);
    for i in 0..WRITE_WARMUP + writes {
        let order: [usize; 2] = if i.is_multiple_of(2) { [0, 1] } else { [1, 0] };
        for side in order {
            let (actor, ty, samples) = if side == 0 {
                (&rig.plain, &plain_type, &mut plain)
            } else {
                (&rig.hooked, &hooked_type, &mut hooked)
            };
            let input = contact_input(2 * i + side);
            if i == WRITE_WARMUP {
                call_log.start();
            }
            let started = Instant::now();
            rig.store.create(actor, ty, input).await?;
            let elapsed = started.elapsed();
            if i >= WRITE_WARMUP {
                samples.push(elapsed);
            }
        }
    }
    let calls = call_log.stop();
    if calls.len() != hooked.len() {
        bail!(
            "{} before-save calls were logged for {} hooked writes",
            calls.len(),
            hooked.len()
        );
    }
    let writes = Writes {
        plain: Stats::of(plain),
        hooked: Stats::of(hooked),
        calls: Stats::of(calls),
    };
    eprintln!(
        "  no plugin: p50 {} p99 {}; noop hook: p50 {} p99 {}; its call inside them: p50 {}",
        human(writes.plain.p50),
        human(writes.plain.p99),
        human(writes.hooked.p50),
        human(writes.hooked.p99),
        human(writes.calls.p50)
    );
    Ok(writes)
}

// -- 2. before-save calls on one core ------------------------------------------------------------

/// One way of calling before-save.
struct Series {
    stats: Stats,
    per_second: f64,
}

struct Calls {
    native: Series,
    reused: Series,
    /// A fresh store and instance without a call: what (c) adds to (b).
    instantiate: Series,
    /// The first call on a fresh instance, and dropping an instance after one call.
    first_call: Stats,
    drop_after_call: Stats,
    fresh: Series,
    /// (c) with the caches cold (see [`COLD_BYTES`]).
    cold: Stats,
    webhook: Series,
}

/// Runs `$call` (an expression that may use `?` and `.await`) `CALL_WARMUP` times, then
/// `$calls` times untimed (for the rate), then `$calls` times timing each call.
macro_rules! measure {
    ($calls:expr, $call:expr) => {{
        let calls: usize = $calls;
        for _ in 0..CALL_WARMUP {
            $call;
        }
        let started = Instant::now();
        for _ in 0..calls {
            $call;
        }
        let per_second = calls as f64 / started.elapsed().as_secs_f64();
        let mut samples = Vec::with_capacity(calls);
        for _ in 0..calls {
            let started = Instant::now();
            $call;
            samples.push(started.elapsed());
        }
        Series {
            stats: Stats::of(samples),
            per_second,
        }
    }};
}

/// The native equivalent of the no-op plugin.
#[inline(never)]
fn native_before_save(_ctx: &types::Context, changes: &[guest::Change]) -> Vec<guest::Verdict> {
    changes.iter().map(|_| guest::Verdict::Proceed).collect()
}

/// Every thread of this process confined to one CPU until [`OneCpu::release`]: the calls' own
/// thread and the plugin runtime's epoch ticker, so calls per second on one core count all of
/// a call's work. Linux only; elsewhere
/// nothing is confined.
struct OneCpu {
    #[cfg(target_os = "linux")]
    all: libc::cpu_set_t,
}

impl OneCpu {
    fn confine() -> anyhow::Result<OneCpu> {
        #[cfg(target_os = "linux")]
        {
            let all = affinity::get()?;
            let one = affinity::first_of(&all).context("this process may run on no CPU")?;
            affinity::set_all(&one)?;
            Ok(OneCpu { all })
        }
        #[cfg(not(target_os = "linux"))]
        Ok(OneCpu {})
    }

    fn release(self) -> anyhow::Result<()> {
        #[cfg(target_os = "linux")]
        affinity::set_all(&self.all)?;
        Ok(())
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod affinity {
    use anyhow::{Context, bail};
    use libc::{CPU_ISSET, CPU_SET, CPU_SETSIZE, cpu_set_t};

    const SIZE: usize = size_of::<cpu_set_t>();

    fn empty() -> cpu_set_t {
        // SAFETY: cpu_set_t is a plain bit array; all zeroes is the empty set.
        unsafe { std::mem::zeroed() }
    }

    /// The CPUs this process may run on.
    pub fn get() -> anyhow::Result<cpu_set_t> {
        let mut set = empty();
        // SAFETY: the kernel writes at most SIZE bytes into `set`.
        if unsafe { libc::sched_getaffinity(0, SIZE, &mut set) } != 0 {
            bail!("sched_getaffinity: {}", std::io::Error::last_os_error());
        }
        Ok(set)
    }

    /// The set of the first CPU in `set`.
    pub fn first_of(set: &cpu_set_t) -> Option<cpu_set_t> {
        let cpus = usize::try_from(CPU_SETSIZE).unwrap_or(0);
        // SAFETY: CPU_ISSET and CPU_SET stay within the set for indices below CPU_SETSIZE.
        let cpu = (0..cpus).find(|&cpu| unsafe { CPU_ISSET(cpu, set) })?;
        let mut one = empty();
        unsafe { CPU_SET(cpu, &mut one) };
        Some(one)
    }

    /// Confines every thread of this process to `set`.
    pub fn set_all(set: &cpu_set_t) -> anyhow::Result<()> {
        let tasks =
            std::fs::read_dir("/proc/self/task").context("cannot list this process's threads")?;
        for task in tasks {
            let name = task?.file_name();
            let Some(tid) = name.to_str().and_then(|n| n.parse::<libc::pid_t>().ok()) else {
                continue;
            };
            // SAFETY: the kernel reads SIZE bytes from `set`; a thread that has ended since it
            // was listed fails with ESRCH, which is skipped.
            if unsafe { libc::sched_setaffinity(tid, SIZE, set) } != 0 {
                let error = std::io::Error::last_os_error();
                if error.raw_os_error() != Some(libc::ESRCH) {
                    bail!("sched_setaffinity of thread {tid}: {error}");
                }
            }
        }
        Ok(())
    }
}

fn expect_proceed(verdicts: &[guest::Verdict]) -> anyhow::Result<()> {
    match verdicts {
        [guest::Verdict::Proceed] => Ok(()),
        _ => bail!(
            "expected one Proceed verdict, got {} verdicts",
            verdicts.len()
        ),
    }
}

fn expect_proceed_json(verdicts: &[Value]) -> anyhow::Result<()> {
    match verdicts {
        [verdict] if verdict["verdict"] == "proceed" => Ok(()),
        _ => bail!("the webhook answered {verdicts:?}"),
    }
}

async fn bench_calls(rig: &Rig, calls: usize) -> anyhow::Result<Calls> {
    let enabled = &rig.noop;
    let actor = &rig.hooked;
    let ctx = context(enabled, actor);
    let changes = vec![contact_change()];

    let native = measure!(
        calls,
        expect_proceed(&black_box(native_before_save(
            black_box(&ctx),
            black_box(&changes)
        )))?
    );
    log_series("(a) native", &native);

    let (instance, mut store) = rig.noop_instance().await?;
    let reused = measure!(
        calls,
        expect_proceed(
            &instance
                .before_save(&mut store, &ctx, &changes)
                .await
                .map_err(|e| anyhow!("noop trapped: {e:#}"))?
                .map_err(|e| anyhow!("noop failed: {e}"))?
        )?
    );
    drop((instance, store));
    log_series("(b) wasm, reused instance", &reused);

    let instantiate = measure!(calls, {
        drop(black_box(rig.noop_instance().await?));
    });
    log_series("new store and instance, no call", &instantiate);

    // The first call on a fresh instance, and dropping the instance after it, timed apart.
    let mut first_calls = Vec::with_capacity(calls);
    let mut drops = Vec::with_capacity(calls);
    for i in 0..CALL_WARMUP + calls {
        let (instance, mut store) = rig.noop_instance().await?;
        let started = Instant::now();
        let verdicts = instance
            .before_save(&mut store, &ctx, &changes)
            .await
            .map_err(|e| anyhow!("noop trapped: {e:#}"))?
            .map_err(|e| anyhow!("noop failed: {e}"))?;
        let called = started.elapsed();
        expect_proceed(&verdicts)?;
        let started = Instant::now();
        drop((instance, store));
        let dropped = started.elapsed();
        if i >= CALL_WARMUP {
            first_calls.push(called);
            drops.push(dropped);
        }
    }
    let first_call = Stats::of(first_calls);
    let drop_after_call = Stats::of(drops);
    eprintln!(
        "  first call on a fresh instance: p50 {}; dropping it after: p50 {}",
        human(first_call.p50),
        human(drop_after_call.p50)
    );

    let one_cpu = OneCpu::confine()?;
    let fresh = measure!(calls, {
        // Owned, as the record store's hook builds them for every call.
        let changes = changes.clone();
        let verdicts = rig
            .plugins
            .call_before_save(enabled, actor, changes)
            .await
            .map_err(|failure| anyhow!("noop failed: {failure}"))?;
        expect_proceed(&verdicts)?;
    });
    log_series("(c) wasm, fresh instance per call", &fresh);

    let mut other = vec![0u8; COLD_BYTES];
    let cold_calls = calls.min(COLD_CALLS);
    let warmup = CALL_WARMUP.min(cold_calls);
    let mut samples = Vec::with_capacity(cold_calls);
    for i in 0..warmup + cold_calls {
        for byte in other.iter_mut().step_by(64) {
            *byte = byte.wrapping_add(1);
        }
        black_box(&mut other);
        let changes = changes.clone();
        let started = Instant::now();
        let verdicts = rig
            .plugins
            .call_before_save(enabled, actor, changes)
            .await
            .map_err(|failure| anyhow!("noop failed: {failure}"))?;
        let elapsed = started.elapsed();
        expect_proceed(&verdicts)?;
        if i >= warmup {
            samples.push(elapsed);
        }
    }
    one_cpu.release()?;
    let cold = Stats::of(samples);
    eprintln!(
        "  (c) with the caches cold: p50 {} p99 {}",
        human(cold.p50),
        human(cold.p99)
    );

    let webhook = Webhook::start()?;
    let client = reqwest::Client::builder()
        .build()
        .context("cannot build the HTTP client")?;
    let payload = json!([contact_change_json()]);
    let webhook_series = measure!(calls, {
        let reply = client.post(&webhook.url).json(&payload).send().await?;
        if !reply.status().is_success() {
            bail!("the webhook answered {}", reply.status());
        }
        let verdicts: Vec<Value> = reply.json().await?;
        expect_proceed_json(&verdicts)?
    });
    webhook.stop();
    log_series("(d) HTTP webhook", &webhook_series);

    Ok(Calls {
        native,
        reused,
        instantiate,
        first_call,
        drop_after_call,
        fresh,
        cold,
        webhook: webhook_series,
    })
}

fn log_series(name: &str, series: &Series) {
    eprintln!(
        "  {name}: {} calls/s, p50 {} p99 {}",
        thousands(series.per_second),
        human(series.stats.p50),
        human(series.stats.p99)
    );
}

/// A webhook receiver on 127.0.0.1: its own thread, with a current-thread tokio runtime (a
/// separate service, as a webhook would be).
struct Webhook {
    url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Webhook {
    fn start() -> anyhow::Result<Webhook> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}/before-save", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("bench-webhook".into())
            .spawn(move || {
                if let Err(error) = serve_webhook(listener, stopped) {
                    eprintln!("the webhook server failed: {error:#}");
                }
            })?;
        Ok(Webhook { url, stop, thread })
    }

    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

fn serve_webhook(
    listener: std::net::TcpListener,
    stopped: tokio::sync::oneshot::Receiver<()>,
) -> anyhow::Result<()> {
    use axum::serve::ListenerExt;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let router =
            axum::Router::new().route("/before-save", axum::routing::post(webhook_before_save));
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await?;
        Ok(())
    })
}

/// The webhook's before-save: a verdict per change, all Proceed.
async fn webhook_before_save(
    axum::Json(changes): axum::Json<Vec<Value>>,
) -> axum::Json<Vec<Value>> {
    axum::Json(
        changes
            .iter()
            .map(|_| json!({ "verdict": "proceed" }))
            .collect(),
    )
}

// -- 3. an infinite loop in before-save ----------------------------------------------------------

struct Looping {
    /// Wall-clock time of each failed create.
    elapsed: Stats,
    deadline: Duration,
    /// Creates whose hook was stopped by the deadline, and by running out of fuel.
    by_deadline: usize,
    by_fuel: usize,
    reenabled: usize,
}

impl Looping {
    /// `time` minus the deadline, in ms, signed (a hook out of fuel stops before it).
    fn over(&self, time: Duration) -> String {
        let ms = (time.as_secs_f64() - self.deadline.as_secs_f64()) * 1e3;
        format!("{}{:.1} ms", if ms < 0.0 { "−" } else { "+" }, ms.abs())
    }
}

async fn bench_loop(rig: &Rig, attempts: usize) -> anyhow::Result<Looping> {
    let deadline = CallKind::BeforeSave.limits().deadline;
    let ty = rig.store.entity(rig.looping.workspace, "contacts").await?;
    let every = usize::try_from(SUSPEND_AFTER.saturating_sub(1).max(1)).unwrap_or(1);
    let mut elapsed = Vec::with_capacity(attempts);
    let (mut by_deadline, mut by_fuel, mut reenabled) = (0, 0, 0);
    for i in 0..attempts {
        if i > 0 && i.is_multiple_of(every) {
            enable(
                &rig.plugins,
                &rig.looping,
                "hostile",
                json!({ "mode": "loop" }),
            )
            .await?;
            reenabled += 1;
        }
        let input = contact_input(i);
        let started = Instant::now();
        let result = rig.store.create(&rig.looping, &ty, input).await;
        elapsed.push(started.elapsed());
        match result {
            Err(RecordError::Plugin { message, .. }) if message.contains("time limit") => {
                by_deadline += 1;
            }
            Err(RecordError::Plugin { message, .. }) if message.contains("out of fuel") => {
                by_fuel += 1;
            }
            Err(other) => bail!("the looping hook failed otherwise: {other}"),
            Ok(_) => bail!("the looping hook let a write through: is it suspended?"),
        }
    }
    let looping = Looping {
        elapsed: Stats::of(elapsed),
        deadline,
        by_deadline,
        by_fuel,
        reenabled,
    };
    eprintln!(
        "  against the {} ms deadline: p50 {} max {} ({by_deadline} stopped by the deadline, {by_fuel} out of fuel)",
        deadline.as_millis(),
        looping.over(looping.elapsed.p50),
        looping.over(looping.elapsed.max)
    );
    Ok(looping)
}

// -- 4. other requests while a plugin is being stopped -------------------------------------------

/// What the hostile client does in a loaded window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hostility {
    /// Calls the `loop` action (a spin loop the deadline or fuel stops), then `ok`.
    Loops,
    /// `HEAVY_CLIENTS` clients at once call `GET /p/hostile/r/slow`, a route that runs
    /// `records::find` over and over until a budget stops it.
    HeavyRoute,
}

struct Isolation {
    quiet: Stats,
    loaded: Stats,
    load: Load,
}

#[derive(Default)]
struct Load {
    /// Hostile calls answered 424 `plugin_failed` (stopped by a limit), with their durations.
    stopped: Vec<Duration>,
    /// Of those, the ones stopped by the deadline (the others ran out of fuel, or of host calls
    /// or host time).
    by_deadline: usize,
    /// Heavy calls answered 503 `plugin_busy` (the plugin already ran its calls at a time).
    busy: usize,
    /// Calls answered 200 (`ok` actions, or heavy calls that finished).
    ok: usize,
    /// Times the plugin was found suspended and enabled again.
    reenabled: usize,
}

async fn bench_isolation(
    wasm_dir: &Path,
    gets: usize,
    hostility: Hostility,
) -> anyhow::Result<Isolation> {
    let dir = TempDir::create()?;
    let app = Application::build(&dir.config()?).await?;
    let base = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    let actor = admin(&state.store, &state.plugins, "isolation").await?;
    let token =
        host::auth::create_token(&state.db, "admin@isolation.bench", "isolation", "bench").await?;
    state
        .plugins
        .install(package(wasm_dir, "hostile", "hostile", false)?)
        .await?;
    let grant = state.plugins.requested_permissions("hostile", None).await?;
    state
        .plugins
        .enable(&actor, "hostile", None, &grant, Map::new())
        .await?;
    let ty = state.store.entity(actor.workspace, "contacts").await?;
    let inputs = (0..SEEDED).map(contact_input).collect();
    let ids: Arc<[String]> = state
        .store
        .create_many(&actor, &ty, inputs)
        .await?
        .iter()
        .map(|record| record.id.to_string())
        .collect();
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));

    let gate = Arc::new(tokio::sync::RwLock::new(()));
    let stop = Arc::new(AtomicBool::new(false));
    let hostile = Hostile {
        client: bench::http_client(Some(&token))?,
        base: base.clone(),
        grant: serde_json::to_value(&grant)?,
        gate: gate.clone(),
        stop: stop.clone(),
    };
    let load = tokio::spawn(on_own_thread(async move {
        match hostility {
            Hostility::Loops => hostile.loops().await,
            Hostility::HeavyRoute => hostile.heavy_route().await,
        }
    }));
    let gets = on_own_thread(alternating_gets(base, token, ids, gets, gate)).await;
    stop.store(true, Ordering::Relaxed);
    let load = load.await??;
    let (quiet, loaded) = gets?;
    eprintln!("  quiet: p50 {} p99 {}", human(quiet.p50), human(quiet.p99));
    eprintln!(
        "  loaded: p50 {} p99 {} ({} hostile calls stopped, {} busy, {} ok)",
        human(loaded.p50),
        human(loaded.p99),
        load.stopped.len(),
        load.busy,
        load.ok
    );
    let _ = shutdown.send(());
    server.await??;
    Ok(Isolation {
        quiet,
        loaded,
        load,
    })
}

/// Runs a client on its own thread with a current-thread runtime (a separate client, sharing
/// no tokio worker with the server).
async fn on_own_thread<T, F>(client: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the client's runtime")?
            .block_on(client)
    })
    .await
    .context("the client thread failed")?
}

/// GETs of contacts one at a time, one every `GET_EVERY` (later if one is slower), in
/// `WINDOWS` quiet windows and as many loaded ones, taken in turn — so that a slow spell of the
/// machine falls on both series alike. A quiet window holds `gate` alone, which the hostile
/// clients share for each of their calls: it begins once the calls in flight have ended, and
/// none starts during it. A loaded window lets go of `gate` and waits `LOAD_RAMP` first. The first
/// `GET_WARMUP` GETs (quiet) are not counted. Answers the quiet and the loaded latencies.
async fn alternating_gets(
    base: String,
    token: String,
    ids: Arc<[String]>,
    gets: usize,
    gate: Arc<tokio::sync::RwLock<()>>,
) -> anyhow::Result<(Stats, Stats)> {
    let client = bench::http_client(Some(&token))?;
    let mut interval = tokio::time::interval(GET_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next = 0;
    let mut get = async || -> anyhow::Result<Duration> {
        let url = format!("{base}/api/v1/contacts/{}", ids[(next * 7_919) % ids.len()]);
        next += 1;
        interval.tick().await;
        let started = Instant::now();
        let reply = client.get(url).send().await?;
        let status = reply.status();
        reply.bytes().await?;
        let elapsed = started.elapsed();
        if status != reqwest::StatusCode::OK {
            bail!("GET /contacts/{{id}} answered {status}");
        }
        Ok(elapsed)
    };
    let (mut quiet, mut loaded) = (Vec::with_capacity(gets), Vec::with_capacity(gets));
    for window in 0..WINDOWS {
        // The windows share out `gets` as evenly as they can.
        let count = gets * (window + 1) / WINDOWS - gets * window / WINDOWS;
        let quiet_turn = gate.write().await;
        if window == 0 {
            for _ in 0..GET_WARMUP {
                get().await?;
            }
        }
        for _ in 0..count {
            quiet.push(get().await?);
        }
        drop(quiet_turn);
        tokio::time::sleep(LOAD_RAMP).await;
        for _ in 0..count {
            loaded.push(get().await?);
        }
    }
    Ok((Stats::of(quiet), Stats::of(loaded)))
}

/// The hostile client: it calls the plugin while it may hold `gate` (shared), until `stop`;
/// it enables the plugin again whenever it finds it suspended.
struct Hostile {
    client: reqwest::Client,
    base: String,
    grant: Value,
    gate: Arc<tokio::sync::RwLock<()>>,
    stop: Arc<AtomicBool>,
}

impl Hostile {
    /// Calls the `loop` action, then the `ok` action, one pair at a time.
    async fn loops(self) -> anyhow::Result<Load> {
        let mut load = Load::default();
        loop {
            let _turn = self.gate.read().await;
            if self.stop.load(Ordering::Relaxed) {
                return Ok(load);
            }
            for name in ["loop", "ok"] {
                let url = format!("{}/api/v1/plugins/hostile/actions/{name}", self.base);
                let (status, body, elapsed) =
                    self.call(self.client.post(url).json(&json!({}))).await?;
                match (name, status, code_of(&body)) {
                    ("loop", 424, "plugin_failed") => load.note_stopped(&body, elapsed),
                    ("ok", 200, _) => load.ok += 1,
                    (_, _, "plugin_suspended" | "plugin_not_enabled") => {
                        self.enable_again(&mut load).await?;
                    }
                    _ => bail!("the `{name}` action answered {status}: {body}"),
                }
            }
        }
    }

    /// `HEAVY_CLIENTS` clients call the database-heavy route, each again as soon as it is
    /// answered — `HEAVY_RETRY` after a 503 `plugin_busy`, as a person clicking again would.
    async fn heavy_route(self) -> anyhow::Result<Load> {
        let this = Arc::new(self);
        let clients = (0..HEAVY_CLIENTS).map(|_| {
            let this = this.clone();
            tokio::spawn(async move {
                let mut load = Load::default();
                loop {
                    let turn = this.gate.read().await;
                    if this.stop.load(Ordering::Relaxed) {
                        return Ok::<_, anyhow::Error>(load);
                    }
                    let url = format!("{}/p/hostile/r/slow", this.base);
                    let (status, body, elapsed) = this.call(this.client.get(url)).await?;
                    drop(turn);
                    match (status, code_of(&body)) {
                        (424, "plugin_failed") => load.note_stopped(&body, elapsed),
                        (503, "plugin_busy") => {
                            load.busy += 1;
                            tokio::time::sleep(HEAVY_RETRY).await;
                        }
                        (200, _) => load.ok += 1,
                        (_, "plugin_suspended" | "plugin_not_enabled") => {
                            this.enable_again(&mut load).await?;
                        }
                        _ => bail!("GET /p/hostile/r/slow answered {status}: {body}"),
                    }
                }
            })
        });
        let mut total = Load::default();
        for client in clients.collect::<Vec<_>>() {
            let load = client.await??;
            total.stopped.extend(load.stopped);
            total.by_deadline += load.by_deadline;
            total.busy += load.busy;
            total.ok += load.ok;
            total.reenabled += load.reenabled;
        }
        Ok(total)
    }

    /// Sends a request: its status, its JSON answer (`null` if it is not JSON) and its time.
    async fn call(
        &self,
        request: reqwest::RequestBuilder,
    ) -> anyhow::Result<(u16, Value, Duration)> {
        let started = Instant::now();
        let reply = request.send().await?;
        let status = reply.status().as_u16();
        let body = reply.json().await.unwrap_or(Value::Null);
        Ok((status, body, started.elapsed()))
    }

    async fn enable_again(&self, load: &mut Load) -> anyhow::Result<()> {
        let enabled = self
            .client
            .post(format!("{}/api/v1/plugins/hostile/enable", self.base))
            .json(&json!({ "grant": self.grant, "settings": {} }))
            .send()
            .await?;
        if !enabled.status().is_success() {
            bail!("cannot enable hostile again: {}", enabled.status());
        }
        load.reenabled += 1;
        Ok(())
    }
}

impl Load {
    fn note_stopped(&mut self, body: &Value, elapsed: Duration) {
        self.stopped.push(elapsed);
        let message = body["error"]["message"].as_str().unwrap_or("");
        if message.contains("time limit") {
            self.by_deadline += 1;
        }
    }
}

/// The API error code of an answer, `""` for a success.
fn code_of(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

// -- 5. server start -----------------------------------------------------------------------------

struct Startup {
    /// The first start after emptying the plugin cache (every component compiled).
    cold: Duration,
    warm: Stats,
    /// The same start of a data directory without plugins.
    bare: Stats,
    cache_files: usize,
}

/// The plugins installed for the start-up figures: (crate, id, distinct component).
const START_PLUGINS: [(&str, &str, bool); 4] = [
    ("good", "good", false),
    ("hostile", "hostile", false),
    ("noop", "noop", false),
    ("noop", "noop_copy", true),
];

async fn bench_startup(wasm_dir: &Path, starts: usize) -> anyhow::Result<Startup> {
    let dir = TempDir::create()?;
    let config = dir.config()?;
    let app = Application::build(&config).await?;
    let state = app.state().clone();
    let actor = admin(&state.store, &state.plugins, "startup").await?;
    for (crate_name, id, distinct) in START_PLUGINS {
        state
            .plugins
            .install(package(wasm_dir, crate_name, id, distinct)?)
            .await?;
        enable(&state.plugins, &actor, id, json!({})).await?;
    }
    drop(state);
    drop(app);
    let cache = dir.path().join("plugin-cache");
    std::fs::remove_dir_all(&cache).with_context(|| format!("cannot empty {}", cache.display()))?;

    let started = Instant::now();
    let app = Application::build(&config).await?;
    let cold = started.elapsed();
    check_enabled(&app, &actor)?;
    drop(app);
    let cache_files = std::fs::read_dir(&cache)?.count();
    eprintln!(
        "  cold (empty cache, {cache_files} components compiled): {}",
        human(cold)
    );

    let mut warm = Vec::with_capacity(starts);
    for _ in 0..starts {
        let started = Instant::now();
        let app = Application::build(&config).await?;
        warm.push(started.elapsed());
        check_enabled(&app, &actor)?;
        drop(app);
    }
    let warm = Stats::of(warm);
    eprintln!("  warm: median {} max {}", human(warm.p50), human(warm.max));

    let bare_dir = TempDir::create()?;
    let bare_config = bare_dir.config()?;
    drop(Application::build(&bare_config).await?);
    let mut bare = Vec::with_capacity(starts);
    for _ in 0..starts {
        let started = Instant::now();
        let app = Application::build(&bare_config).await?;
        bare.push(started.elapsed());
        drop(app);
    }
    let bare = Stats::of(bare);
    eprintln!("  without plugins: median {}", human(bare.p50));
    Ok(Startup {
        cold,
        warm,
        bare,
        cache_files,
    })
}

fn check_enabled(app: &Application, actor: &Actor) -> anyhow::Result<()> {
    let enabled = app.state().plugins.enabled_in(actor.workspace).len();
    if enabled != START_PLUGINS.len() {
        bail!(
            "the server started with {enabled} plugins enabled, not {}",
            START_PLUGINS.len()
        );
    }
    Ok(())
}

// -- the report ----------------------------------------------------------------------------------

struct Report {
    writes: Writes,
    calls: Calls,
    looping: Looping,
    isolation: Isolation,
    heavy: Isolation,
    startup: Startup,
}

/// One line of the table.
struct Line {
    measure: String,
    n: String,
    p50: String,
    p99: String,
    max: String,
    result: String,
    target: String,
    met: String,
}

impl Line {
    fn timed(measure: impl Into<String>, stats: &Stats) -> Line {
        Line {
            measure: measure.into(),
            n: stats.n.to_string(),
            p50: human(stats.p50),
            p99: human(stats.p99),
            max: human(stats.max),
            result: "—".into(),
            target: "—".into(),
            met: "—".into(),
        }
    }

    fn result(mut self, result: String, target: impl Into<String>, met: Option<bool>) -> Line {
        self.result = result;
        self.target = target.into();
        self.met = met.map_or("—", yes_no).to_owned();
        self
    }
}

fn lines(report: &Report) -> Vec<Line> {
    let Report {
        writes,
        calls,
        looping,
        isolation,
        heavy,
        startup,
    } = report;
    let mut lines = vec![
        Line::timed(
            "`Store::create`, contact (6 fields), no plugin",
            &writes.plain,
        ),
        Line::timed(
            "`Store::create`, same, `noop` before-save (fresh instance)",
            &writes.hooked,
        )
        .result(
            format!(
                "{} at p50: the larger of {} (difference of medians) and its call's p50",
                signed_micros(writes.cost_micros()),
                signed_micros(writes.difference_micros())
            ),
            "≤ 25 µs added at p50",
            Some(writes.cost_micros() <= HOOK_COST_TARGET.as_secs_f64() * 1e6),
        ),
        Line::timed(
            "the `noop` before-save call inside those writes (`Plugins::invoke`)",
            &writes.calls,
        ),
    ];
    let series_line = |name: &str, series: &Series| {
        Line::timed(format!("before-save, 1 change: {name}"), &series.stats).result(
            format!("{} calls/s", thousands(series.per_second)),
            "—",
            None,
        )
    };
    lines.push(series_line("(a) native Rust function", &calls.native));
    lines.push(series_line("(b) wasm, one reused instance", &calls.reused));
    lines.push(series_line(
        "(b→c) wasm, a fresh store + instance per iteration, no call",
        &calls.instantiate,
    ));
    lines.push(Line::timed(
        "before-save, 1 change: (b→c) the first call on a fresh instance (the call alone)",
        &calls.first_call,
    ));
    lines.push(Line::timed(
        "before-save, 1 change: (b→c) dropping an instance after its one call",
        &calls.drop_after_call,
    ));
    lines.push(
        series_line(
            "(c) wasm, fresh instance per call (`Plugins::invoke`)",
            &calls.fresh,
        )
        .result(
            format!("{} calls/s", thousands(calls.fresh.per_second)),
            "≥ 20,000 calls/s on one core",
            Some(calls.fresh.per_second >= CALLS_PER_SECOND_TARGET),
        ),
    );
    lines.push(Line::timed(
        format!(
            "before-save, 1 change: (c) the same, caches cold ({} MiB of other memory written before each call)",
            COLD_BYTES >> 20
        ),
        &calls.cold,
    ));
    lines.push(series_line(
        "(d) HTTP webhook, loopback (reqwest → axum, JSON)",
        &calls.webhook,
    ));
    let mut stopped = Line::timed(
        format!(
            "looping before-save: create's time − {} ms deadline",
            looping.deadline.as_millis()
        ),
        &looping.elapsed,
    )
    .result(
        format!(
            "all {} stopped: {} by the deadline, {} out of fuel",
            looping.elapsed.n, looping.by_deadline, looping.by_fuel
        ),
        "≤ +10 ms (max)",
        Some(looping.elapsed.max <= looping.deadline + DEADLINE_SLACK_TARGET),
    );
    stopped.p50 = looping.over(looping.elapsed.p50);
    stopped.p99 = looping.over(looping.elapsed.p99);
    stopped.max = looping.over(looping.elapsed.max);
    lines.push(stopped);
    lines.extend(isolation_lines(
        isolation,
        "while `hostile` loops are stopped",
        "`loop` action's time (2 s deadline), during the GETs",
    ));
    lines.extend(isolation_lines(
        heavy,
        &format!("while {HEAVY_CLIENTS} clients call a database-heavy route"),
        "`GET /p/hostile/r/slow` stopped by a budget, during the GETs",
    ));
    let mut cold = Line::timed(
        format!(
            "server start, 4 plugins, empty cache ({} components compiled)",
            startup.cache_files
        ),
        &Stats::of(vec![startup.cold]),
    );
    cold.p99 = "—".into();
    cold.max = "—".into();
    lines.push(cold);
    lines.push(
        Line::timed(
            "server start, 4 plugins, cache warm (`Application::build`)",
            &startup.warm,
        )
        .result(
            format!("median {}", human(startup.warm.p50)),
            "≤ 500 ms",
            Some(startup.warm.p50 <= START_TARGET),
        ),
    );
    lines.push(Line::timed(
        "server start, no plugin (reference)",
        &startup.bare,
    ));
    lines
}

/// The GETs on the quiet server, the same while hostile, and what the hostile calls met.
fn isolation_lines(isolation: &Isolation, hostile: &str, calls: &str) -> Vec<Line> {
    let ratio = isolation.loaded.p99_ratio(&isolation.quiet);
    let load = &isolation.load;
    let busy = match load.busy {
        0 => String::new(),
        n => format!("; {n} answered 503 `plugin_busy`"),
    };
    vec![
        Line::timed(
            "GET /api/v1/contacts/{id}, paced, quiet server",
            &isolation.quiet,
        ),
        Line::timed(
            format!("GET /api/v1/contacts/{{id}}, paced, {hostile}"),
            &isolation.loaded,
        )
        .result(
            format!(
                "p50 {:.2}×, p99 {ratio:.2}× quiet",
                isolation.loaded.p50_ratio(&isolation.quiet)
            ),
            format!("p99 ≤ {P99_GROWTH_TARGET}× quiet"),
            Some(ratio <= P99_GROWTH_TARGET),
        ),
        Line::timed(calls, &Stats::of(load.stopped.iter().copied())).result(
            format!(
                "{} stopped: {} by the deadline, {} by another limit{busy}; {} answered 200; re-enabled {}×",
                load.stopped.len(),
                load.by_deadline,
                load.stopped.len() - load.by_deadline,
                load.ok,
                load.reenabled
            ),
            "—",
            None,
        ),
    ]
}

fn render_section(report: &Report, machine: &Machine) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Plugins (issue 3)\n");
    let _ = writeln!(
        out,
        "{} One release process (`xtask` built with `--release`), SQLite in a temporary directory.\n",
        machine.run_line()
    );
    let _ = writeln!(
        out,
        "| measure | n | p50 | p99 | max | result | target | met? |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|---|---|");
    for line in lines(report) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            line.measure, line.n, line.p50, line.p99, line.max, line.result, line.target, line.met
        );
    }
    let _ = writeln!(out);
    for note in notes(report) {
        let _ = writeln!(out, "- {note}");
    }
    out
}

fn notes(report: &Report) -> Vec<String> {
    let calls = &report.calls;
    vec![
        format!(
            "Writes: `Store::create` of one contact with 6 fields (first and last name, email, phone, title, tags) on a migrated SQLite database (WAL), {WRITE_WARMUP} warm-up creates per workspace not counted; one workspace without plugins and one with `noop` enabled share the database and are written in turn (which goes first alternates). The search indexer is not running. The hook's cost is the larger of two figures: the difference of the two medians, and the median of the hook's call inside the hooked writes (the registry's `plugin call` debug event, which times `Plugins::invoke`: a permit, a fresh store and instance with the call's limits, the call, and dropping them; recorded through a tracing layer that is off outside the timed writes). The difference alone is not enough on a virtual machine: a write is a few hundred µs of hand-offs to SQLite's thread, how fast an idle virtual CPU wakes for them shifts with what ran just before, and it has come out anywhere from −110 µs to +78 µs for the same hook."
        ),
        format!(
            "Calls: one thread (a current-thread tokio runtime) calls before-save with the same one change (that contact) {CALL_WARMUP} times to warm up, then N times untimed (calls/s = N ÷ wall time), then N times timing each call (p50/p99; the clock itself adds ~20–40 ns, which is most of (a)). (b) is one instance and one store for every call (no isolation between calls); the (b→c) rows take (c) apart: a fresh store (WASI context, limits) and instance created and dropped without a call (timed like the others), then, timed alone, the first call on a fresh instance (the guest's first allocations grow and touch fresh memory) and dropping that instance (the pooling allocator resets the memory and stack it dirtied) — the last two are timed over the same N + warm-up iterations; (c) is what a hook does: a permit, a fresh store and instance with its limits, the call, the owned context and change the hook builds (cloned per call), and dropping the store. (c) and its cold row run with every thread of the process confined to one CPU, so the epoch ticker's share is counted in calls/s. The cold row is (c) with {} MiB of other memory written before each call (untimed; more than a core's L1 and L2 hold, as a write's own work between two hooks leaves them), over at most {COLD_CALLS} calls after up to {CALL_WARMUP} warm-ups. (d) serialises the change to JSON, POSTs it over a keep-alive loopback connection to an axum server in the same process on its own thread (so it uses the second core too), which parses it and answers `[{{\"verdict\":\"proceed\"}}]`, parsed by the client: the fresh instance is {:.1}× faster than the webhook at p50.",
            COLD_BYTES >> 20,
            calls.webhook.stats.p50.as_secs_f64() / calls.fresh.stats.p50.as_secs_f64().max(1e-12)
        ),
        format!(
            "Infinite loop: `hostile` with setting `mode = \"loop\"` hooks contact creates; every timed create failed (a 424 through the API), with \"exceeded its time limit\" or \"ran out of fuel\": whichever of before-save's limits comes first stops the spin loop — the deadline or its fuel budget ({} units) — and the result column says which did. The figure is the create's whole wall-clock time (checks, the hook's permit and instance, the loop until the epoch check at 1 ms ticks sees the deadline or the fuel runs out, the failure) minus the {} ms deadline; negative when the fuel ran out first. Five failures in a row would suspend the plugin ({SUSPEND_AFTER} = `registry::SUSPEND_AFTER`), so the bench enabled it again after every {}th failure ({} times); enabling is not timed.",
            thousands(CallKind::BeforeSave.limits().fuel as f64),
            report.looping.deadline.as_millis(),
            SUSPEND_AFTER.saturating_sub(1).max(1),
            report.looping.reenabled
        ),
        format!(
            "Isolation: a real server (`Application::build`, port 0, SQLite, 2 tokio workers — the machine's 2 cores) with `hostile` enabled and {SEEDED} contacts; `GET /api/v1/contacts/{{id}}` one every {} ms from a client thread of its own ({GET_WARMUP} warm-up GETs not counted), in {WINDOWS} quiet windows and {WINDOWS} loaded ones taken in turn (each window 1/{WINDOWS} of the GETs of its series), so that a slow spell of the machine falls on both series alike. In a loaded window, from {} ms before its first GET, a second client thread calls `POST /api/v1/plugins/hostile/actions/loop` one at a time — each stopped by its {} s deadline or its {} units of fuel, whichever comes first (the row below the GETs says which), so a plugin is spinning nearly all the time — on the runtime's plugin threads (one per core, at nice {}), not on the server's 2 workers (wasmtime yields to tokio at every 1 ms epoch tick, and the plugin's thread to any thread waiting for its core) — each followed by the `ok` action, whose success ends the run of failures so the plugin is never suspended (the client would enable it again through the API if it were). A quiet window begins once the loop in flight has been stopped. Client threads, server workers, plugin threads and the 1 ms epoch ticker share the 2 cores with whatever else the machine runs.",
            GET_EVERY.as_millis(),
            LOAD_RAMP.as_millis(),
            CallKind::Action.limits().deadline.as_secs(),
            thousands(CallKind::Action.limits().fuel as f64),
            host::plugins::runtime::PLUGIN_NICE
        ),
        format!(
            "Database-heavy route: the same server and windows; in a loaded window {HEAVY_CLIENTS} clients at once call `GET /p/hostile/r/slow`, which runs `records::find` (contacts whose last name contains a word none has: each find reads all {SEEDED}) up to 20,000 times — the attack of issue 21, where 16 members on such a route took other users' GET median from 1.5 ms to 425 ms. The plugin runs at most {} calls at once (`registry::CALLS_PER_PLUGIN`); a call waiting longer than 1 s is answered `503 plugin_busy`, and its client calls again after {} ms. A running call is stopped by its budget of host calls or of time in host calls (a `424 plugin_failed`, counted); failures in a row suspend the plugin, and the client enables it again.",
            host::plugins::registry::CALLS_PER_PLUGIN,
            HEAVY_RETRY.as_millis()
        ),
        "Start: `Application::build` (connect, migrations check, built-in indexes, search index, plugin runtime with every enabled plugin loaded, bind) of a data directory with `good`, `hostile`, `noop` and `noop_copy` installed and enabled in one workspace — `noop_copy` is `noop` with its id rewritten and a custom section appended, so it is compiled and cached on its own. Cold: the first start after deleting `<data-dir>/plugin-cache` (each component compiled with Cranelift, then written to the cache). Warm: the following starts, loading the cached artifacts. The reference row is the same start of a data directory with no plugin. Each server is built and dropped without serving.".to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_sections_are_framed_with_leb128_sizes() {
        let mut wasm = b"\0asm".to_vec();
        append_custom_section(&mut wasm, "ab", &[7; 200]);
        // id 0, size 203 = 0xcb 0x01, name length 2, "ab", then the payload.
        assert_eq!(&wasm[4..10], &[0, 0xcb, 0x01, 2, b'a', b'b']);
        assert_eq!(wasm.len(), 4 + 3 + 203);
    }
}
