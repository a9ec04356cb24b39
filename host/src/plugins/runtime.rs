//! The sandbox: one wasmtime `Engine` (pooling allocator, fuel, epoch interruption), plugin
//! components compiled once and cached on disk, and one fresh `Store` and instance per
//! invocation with its limits, dropped when the call ends. Nothing here knows what a record
//! is; `host` implements the imports.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    CallHook, Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
    StoreLimits, StoreLimitsBuilder, Trap, UpdateDeadline,
};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use tokio::sync::Semaphore;

use super::epoch::Ticker;
use super::host::CallState;
use super::versions::{Guest, Pre};

/// The generated bindings of `plugin-sdk/wit` (world `plugin`): the current contract, the only
/// one the host's logic speaks.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../plugin-sdk/wit",
        world: "plugin",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// The bindings of contract 0.3.0 (`plugin-sdk/wit-legacy/0.3.0`), kept so that plugins built
/// for it run unchanged (`plugins::versions` converts at the edge). Its `types` interface is
/// the current one's, unchanged since.
pub mod bindings_v0_3 {
    wasmtime::component::bindgen!({
        path: "../plugin-sdk/wit-legacy/0.3.0",
        world: "plugin",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "kith:plugin/types@0.3.0": super::bindings::kith::plugin::types,
        },
    });
}

pub use bindings::exports::kith::plugin::guest;
pub use bindings::kith::plugin::types;

pub use super::epoch::EPOCH_TICK;
/// Linear memory one invocation may use.
pub const MEMORY_LIMIT: usize = 64 * 1024 * 1024;
/// Most bytes a guest may hand the host in one value (strings, lists, bodies, results).
pub const MAX_VALUE_BYTES: usize = 4 * 1024 * 1024;
/// Invocations running at once; more wait (the pool has slots for this many instances).
const CONCURRENT_CALLS: usize = 64;
/// Bytes of a guest's stderr kept for its failure report (panic messages).
const STDERR_BYTES: usize = 4096;

/// What an invocation is, which decides its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    BeforeSave,
    AfterSave,
    Route,
    Job,
    Panel,
    Action,
    /// `on-enable`: an action's limits, but it waits for a running slot as after-save does.
    Enable,
}

impl CallKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CallKind::BeforeSave => "before-save",
            CallKind::AfterSave => "after-save",
            CallKind::Route => "route",
            CallKind::Job => "job",
            CallKind::Panel => "panel",
            CallKind::Action => "action",
            CallKind::Enable => "on-enable",
        }
    }

    pub fn limits(self) -> Limits {
        match self {
            CallKind::BeforeSave => Limits {
                deadline: Duration::from_millis(50),
                host_time: Duration::from_secs(1),
                fuel: 200_000_000,
                host_calls: 100,
                writes: 0,
                rows: 1_000,
                http_calls: 0,
                log_bytes: 16 * 1024,
                kv_bytes: 0,
            },
            CallKind::Job => Limits {
                deadline: Duration::from_secs(10),
                host_time: Duration::from_secs(30),
                fuel: 20_000_000_000,
                host_calls: 100_000,
                writes: 10_000,
                rows: 100_000,
                http_calls: 100,
                log_bytes: 256 * 1024,
                kv_bytes: 64 * 1024 * 1024,
            },
            CallKind::AfterSave
            | CallKind::Route
            | CallKind::Panel
            | CallKind::Action
            | CallKind::Enable => Limits {
                deadline: Duration::from_secs(2),
                host_time: Duration::from_secs(5),
                fuel: 4_000_000_000,
                host_calls: 10_000,
                writes: 1_000,
                rows: 10_000,
                http_calls: 20,
                log_bytes: 64 * 1024,
                kv_bytes: 8 * 1024 * 1024,
            },
        }
    }
}

/// The limits of one invocation (the SDK's README documents this table).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The plugin's own wall-clock time (not counting host calls), checked every epoch tick.
    pub deadline: Duration,
    /// Wall-clock time inside host calls (queries, key-value, outbound HTTP…), checked as each
    /// host call returns: database-heavy calls are bounded like CPU-heavy ones.
    pub host_time: Duration,
    /// WebAssembly instructions, roughly.
    pub fuel: u64,
    /// Calls into any host import.
    pub host_calls: u32,
    /// Records created, updated or deleted, and key-value writes.
    pub writes: u32,
    /// Records read.
    pub rows: u32,
    pub http_calls: u32,
    pub log_bytes: usize,
    /// Bytes (keys and values) written to the key-value store.
    pub kv_bytes: usize,
}

/// Why an invocation failed. Each reads as "plugin `x` …" in an error message.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error("exceeded its time limit ({0} ms)")]
    Deadline(u128),
    #[error("spent more than its limit of {0} ms in host calls")]
    HostTime(u128),
    #[error("ran out of fuel (its CPU budget)")]
    Fuel,
    #[error("exceeded its memory limit ({} MiB)", MEMORY_LIMIT / (1024 * 1024))]
    Memory,
    #[error("overflowed its stack")]
    Stack,
    #[error("panicked: {0}")]
    Panic(String),
    #[error("exceeded a limit: {0}")]
    Limit(String),
    #[error("trapped: {0}")]
    Trap(String),
    #[error("returned an error: {0}")]
    Guest(String),
    #[error("could not start: {0}")]
    Instantiate(String),
    /// Not the plugin's fault: an admin disabled it (or it was suspended, or given another
    /// grant) while the call ran, and the call ended at its next host call.
    #[error("was disabled, suspended or given another grant while it ran")]
    Revoked,
    /// Not run: as many of its calls as it may run at once were running, and none ended in
    /// time.
    #[error("is busy: {0} of its calls are running")]
    Busy(usize),
}

impl Failure {
    /// Whether the failure is the plugin's own, to be recorded and counted towards its
    /// suspension.
    pub fn is_plugins_fault(&self) -> bool {
        !matches!(self, Failure::Revoked | Failure::Busy(_))
    }
}

/// A limit breached inside a host import: raised as a trap so the call ends at once.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LimitExceeded(pub String);

/// Raised as a host call returns past the invocation's time in host calls.
#[derive(Debug, thiserror::Error)]
#[error("spent too long in host calls")]
struct HostTimeExceeded;

/// Raised by a host import when the call's plugin is no longer enabled as it was when the call
/// began (see [`Failure::Revoked`]).
#[derive(Debug, thiserror::Error)]
#[error("the plugin was disabled or given another grant during the call")]
pub struct Revoked;

/// The future of one export's call, borrowing the bindings and the store: what the closure given
/// to [`Runtime::invoke`] returns.
pub type CallFuture<'a, R> =
    std::pin::Pin<Box<dyn Future<Output = wasmtime::Result<Result<R, String>>> + Send + 'a>>;

/// An instance with its store, as [`Runtime::reusable_instance`] hands it out.
pub type Reusable = (Guest, Store<State>);

/// The data of one invocation's store.
pub struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    /// Time spent inside host imports so far, and since when the current one runs: the
    /// deadline counts the plugin's own time, not the database's.
    in_host: Duration,
    host_since: Option<Instant>,
    /// How long the invocation may spend inside host imports.
    host_time: Duration,
    /// When the invocation began and how long it may run.
    started: Instant,
    deadline: Duration,
    /// The invocation this store serves.
    pub(super) call: CallState,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A compiled plugin version, ready to instantiate with the bindings of its API version.
#[derive(Clone)]
pub struct Compiled {
    pre: Pre,
}

pub struct Runtime {
    engine: Engine,
    linker: Linker<State>,
    cache_dir: Option<PathBuf>,
    permits: Arc<Semaphore>,
    /// Advances the epoch while calls run.
    ticker: Ticker,
    /// The threads every call but before-save runs on, at a lower CPU priority than the
    /// server's own (see [`Runtime::invoke`]); `None` once shut down.
    plugin_threads: Option<tokio::runtime::Runtime>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Calls still running end with their threads; the server may drop this inside a task.
        if let Some(threads) = self.plugin_threads.take() {
            threads.shutdown_background();
        }
    }
}

/// How much plugin threads yield to the server's: a nice value, from 0 (the server's own) to
/// 19 (yields most — a plugin then gets about 1/70 of a core the server wants). Linux only;
/// elsewhere plugin threads run at the server's priority.
pub const PLUGIN_NICE: i32 = 19;

/// Lowers the calling thread's CPU priority to [`PLUGIN_NICE`]. It needs no privilege; should
/// the kernel refuse anyway, the thread keeps the server's priority and calls still run.
#[allow(unsafe_code)]
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its three integers; on Linux the nice value belongs to a
    // thread, and `who = 0` with PRIO_PROCESS names the calling one.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, PLUGIN_NICE);
    }
}

impl Runtime {
    /// Builds the engine and starts its epoch ticker; compiled components are cached in
    /// `cache_dir` when given.
    pub fn new(cache_dir: Option<PathBuf>) -> anyhow::Result<Arc<Runtime>> {
        let mut pool = PoolingAllocationConfig::default();
        let slots = u32::try_from(CONCURRENT_CALLS).unwrap_or(64);
        pool.total_component_instances(slots)
            .total_core_instances(slots * 16)
            .total_memories(slots * 2)
            .total_tables(slots * 8)
            .total_stacks(slots)
            .max_memory_size(MEMORY_LIMIT)
            .max_component_instance_size(1 << 20)
            .max_core_instance_size(1 << 20)
            .max_memories_per_component(8)
            .max_tables_per_component(16)
            // Reset the pages an instance wrote with memset instead of handing them back to the
            // kernel, so a fresh instance per call does not page-fault its way back in. 4 MiB:
            // Rust guests put a 1 MiB stack below their heap. Where Linux can say which pages
            // were written (PAGEMAP_SCAN, 6.7+), only those are reset rather than every page up
            // to the limit: a no-op call's instance then costs ~13 µs instead of ~55 µs.
            .linear_memory_keep_resident(4 << 20)
            .pagemap_scan(Enabled::Auto)
            .decommit_batch_size(16)
            .table_keep_resident(64 << 10)
            .async_stack_keep_resident(64 << 10);
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(1 << 20)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)
            .map_err(|e| anyhow::anyhow!("{e:#}"))?;
        super::versions::add_to_linker(&mut linker).map_err(|e| anyhow::anyhow!("{e:#}"))?;
        let weak = engine.weak();
        let ticker = Ticker::start(move || match weak.upgrade() {
            Some(engine) => {
                engine.increment_epoch();
                true
            }
            None => false,
        })?;
        if let Some(dir) = &cache_dir {
            std::fs::create_dir_all(dir)?;
        }
        let plugin_threads = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
            .thread_name("kith-plugin")
            .on_thread_start(lower_priority)
            .enable_all()
            .build()?;
        Ok(Arc::new(Runtime {
            engine,
            linker,
            cache_dir,
            permits: Arc::new(Semaphore::new(CONCURRENT_CALLS)),
            ticker,
            plugin_threads: Some(plugin_threads),
        }))
    }

    /// Compiles a component built for plugin API `api_version` (or loads it from the cache),
    /// and checks that everything it imports is provided. Runs on a blocking thread: compiling
    /// takes seconds.
    pub async fn compile(
        self: &Arc<Self>,
        wasm: Arc<Vec<u8>>,
        sha256: &str,
        api_version: &str,
    ) -> Result<Compiled, String> {
        let runtime = self.clone();
        let sha256 = sha256.to_owned();
        let api_version = api_version.to_owned();
        tokio::task::spawn_blocking(move || runtime.compile_blocking(&wasm, &sha256, &api_version))
            .await
            .map_err(|e| format!("compilation task failed: {e}"))?
    }

    fn compile_blocking(
        &self,
        wasm: &[u8],
        sha256: &str,
        api_version: &str,
    ) -> Result<Compiled, String> {
        let component = match self.cached_path(sha256) {
            Some(path) => match self.load_cached(&path) {
                Some(component) => component,
                None => {
                    let bytes = self
                        .engine
                        .precompile_component(wasm)
                        .map_err(|e| format!("{e:#}"))?;
                    if let Err(error) = write_atomically(&path, &bytes) {
                        tracing::warn!(%error, path = %path.display(), "cannot cache a compiled plugin");
                    }
                    self.load_cached(&path)
                        .ok_or_else(|| "the compiled plugin cannot be loaded".to_owned())?
                }
            },
            None => Component::new(&self.engine, wasm).map_err(|e| format!("{e:#}"))?,
        };
        let pre = Pre::new(&self.linker, &component, api_version)?;
        Ok(Compiled { pre })
    }

    /// The cache file of a component: its content hash and the engine's compatibility hash.
    fn cached_path(&self, sha256: &str) -> Option<PathBuf> {
        let dir = self.cache_dir.as_ref()?;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.engine
            .precompile_compatibility_hash()
            .hash(&mut hasher);
        Some(dir.join(format!("{sha256}-{:016x}.cwasm", hasher.finish())))
    }

    fn load_cached(&self, path: &Path) -> Option<Component> {
        if !path.exists() {
            return None;
        }
        match deserialize(&self.engine, path) {
            Ok(component) => Some(component),
            Err(error) => {
                tracing::warn!(%error, path = %path.display(), "discarding an unusable compiled plugin");
                let _ = std::fs::remove_file(path);
                None
            }
        }
    }

    /// Runs one export in a fresh instance, never used before, with the limits of `kind`. `call` gets the bindings and the store; a trap, a
    /// breached limit or the guest's own `Err` come back as a [`Failure`].
    ///
    /// Before-save runs where the write runs (it is short, and a hand-off between threads
    /// would cost more than the call). Every other call runs on the plugin threads, whose
    /// lower CPU priority keeps a plugin that spins until its deadline from slowing the
    /// server's own requests: the kernel runs them when the server's threads have nothing to
    /// do.
    pub async fn invoke<R, F>(
        self: &Arc<Self>,
        compiled: &Compiled,
        kind: CallKind,
        call_state: CallState,
        call: F,
    ) -> Result<R, Failure>
    where
        R: Send + 'static,
        F: for<'a> FnOnce(&'a Guest, &'a mut Store<State>) -> CallFuture<'a, R> + Send + 'static,
    {
        let threads = match &self.plugin_threads {
            Some(threads) if kind != CallKind::BeforeSave => threads,
            _ => return self.run(compiled, kind, call_state, call).await,
        };
        let runtime = self.clone();
        let compiled = compiled.clone();
        threads
            .spawn(async move { runtime.run(&compiled, kind, call_state, call).await })
            .await
            .map_err(|e| Failure::Trap(format!("its call did not finish: {e}")))?
    }

    /// [`Runtime::invoke`]'s work, on whichever thread it was given.
    async fn run<R, F>(
        &self,
        compiled: &Compiled,
        kind: CallKind,
        call_state: CallState,
        call: F,
    ) -> Result<R, Failure>
    where
        R: Send,
        F: for<'a> FnOnce(&'a Guest, &'a mut Store<State>) -> CallFuture<'a, R>,
    {
        let _running = self.ticker.running();
        let _permit = (self.permits.acquire().await)
            .map_err(|_| Failure::Instantiate("the runtime is shutting down".into()))?;
        let limits = kind.limits();
        let (instance, mut store, stderr) =
            instantiate(&self.engine, compiled, kind, call_state).await?;
        // The store (and its instance) is dropped here, before the permit: the pool's slots
        // are never overbooked.
        match call(&instance, &mut store).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(message)) => Err(Failure::Guest(truncate(message))),
            Err(error) => Err(classify(error, &stderr, limits)),
        }
    }

    /// One instance kept for many calls (no isolation between them): only for the benchmark
    /// that compares it with a fresh instance per call.
    pub async fn reusable_instance(
        &self,
        compiled: &Compiled,
        kind: CallKind,
        call_state: CallState,
    ) -> Result<Reusable, Failure> {
        let (instance, mut store, _) =
            instantiate(&self.engine, compiled, kind, call_state).await?;
        store
            .set_fuel(u64::MAX)
            .map_err(|e| Failure::Instantiate(e.to_string()))?;
        store.epoch_deadline_callback(|_| Ok(UpdateDeadline::Yield(1)));
        Ok((instance, store))
    }
}

/// A fresh store for one invocation, with the guest's stderr (panic messages), under the
/// limits of `kind`; its time starts now.
fn new_store(
    engine: &Engine,
    kind: CallKind,
    call_state: CallState,
) -> Result<(Store<State>, MemoryOutputPipe), Failure> {
    let stderr = MemoryOutputPipe::new(STDERR_BYTES);
    let wasi = WasiCtxBuilder::new()
        .stderr(stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    let limits = kind.limits();
    let state = State {
        wasi,
        table: ResourceTable::new(),
        limits: StoreLimitsBuilder::new()
            .memory_size(MEMORY_LIMIT)
            .trap_on_grow_failure(true)
            .build(),
        in_host: Duration::ZERO,
        host_since: None,
        host_time: limits.host_time,
        started: Instant::now(),
        deadline: limits.deadline,
        call: call_state,
    };
    let mut store = Store::new(engine, state);
    store
        .set_fuel(limits.fuel)
        .map_err(|e| Failure::Instantiate(e.to_string()))?;
    store.set_epoch_deadline(1);
    store.call_hook(|mut ctx, hook| {
        let state = ctx.data_mut();
        match hook {
            CallHook::CallingHost => state.host_since = Some(Instant::now()),
            CallHook::ReturningFromHost => {
                if let Some(since) = state.host_since.take() {
                    state.in_host += since.elapsed();
                }
                if state.in_host > state.host_time {
                    return Err(wasmtime::Error::new(HostTimeExceeded));
                }
            }
            CallHook::CallingWasm | CallHook::ReturningFromWasm => {}
        }
        Ok(())
    });
    store.limiter(|state| &mut state.limits);
    // Time waiting on host imports (a query under load) does not count here: it has its own
    // budget, checked as each host call returns; the deadline stops a plugin that runs too long.
    store.epoch_deadline_callback(|ctx| {
        let state = ctx.data();
        if state.started.elapsed().saturating_sub(state.in_host) >= state.deadline {
            return Ok(UpdateDeadline::Interrupt);
        }
        // A plugin still running after a tick yields to tokio, so other calls on its thread
        // go on, and its thread yields its core to any thread waiting for it: the kernel does
        // not always let a woken server thread preempt a spinning plugin at once (not even a
        // nice-19 one), which then waits for the scheduler's own tick. Without this yield the
        // GETs' p99 while a plugin spins went from 1.2× to 1.8× quiet (BENCHMARKS.md).
        std::thread::yield_now();
        Ok(UpdateDeadline::Yield(1))
    });
    Ok((store, stderr))
}

/// A fresh store for one invocation (see [`new_store`]), with the component instantiated in
/// it: its start code runs under the call's limits.
async fn instantiate(
    engine: &Engine,
    compiled: &Compiled,
    kind: CallKind,
    call_state: CallState,
) -> Result<(Guest, Store<State>, MemoryOutputPipe), Failure> {
    let (mut store, stderr) = new_store(engine, kind, call_state)?;
    let instance = (compiled.pre.instantiate(&mut store).await)
        .map_err(|e| classify(e, &stderr, kind.limits()))?;
    Ok((instance, store, stderr))
}

/// Names what ended a call.
fn classify(error: wasmtime::Error, stderr: &MemoryOutputPipe, limits: Limits) -> Failure {
    if let Some(limit) = error.downcast_ref::<LimitExceeded>() {
        return Failure::Limit(limit.0.clone());
    }
    if error.downcast_ref::<Revoked>().is_some() {
        return Failure::Revoked;
    }
    if error.downcast_ref::<HostTimeExceeded>().is_some() {
        return Failure::HostTime(limits.host_time.as_millis());
    }
    if let Some(trap) = error.downcast_ref::<Trap>() {
        return match trap {
            Trap::Interrupt => Failure::Deadline(limits.deadline.as_millis()),
            Trap::OutOfFuel => Failure::Fuel,
            Trap::StackOverflow => Failure::Stack,
            // Rust keeps its stack in linear memory below the data: running off its end is
            // the usual cause of this trap.
            Trap::MemoryOutOfBounds => Failure::Trap(
                "accessed memory out of bounds (most often a stack overflow in the plugin)".into(),
            ),
            Trap::UnreachableCodeReached => {
                let text = String::from_utf8_lossy(&stderr.contents())
                    .trim()
                    .to_owned();
                Failure::Panic(if text.is_empty() {
                    "unreachable code reached".into()
                } else {
                    truncate(panic_message(&text))
                })
            }
            other => Failure::Trap(other.to_string()),
        };
    }
    let text = format!("{error:#}");
    if text.contains("growing memory") || text.contains("memory") && text.contains("limit") {
        Failure::Memory
    } else {
        Failure::Trap(truncate(text))
    }
}

/// The interesting line of a Rust panic report on stderr.
fn panic_message(stderr: &str) -> String {
    stderr
        .lines()
        .find(|line| line.contains("panicked at"))
        .map(|line| {
            let rest: Vec<&str> = stderr
                .lines()
                .skip_while(|l| *l != line)
                .skip(1)
                .take(1)
                .collect();
            match rest.first() {
                Some(message) if !message.starts_with("note:") => format!("{message} ({line})"),
                _ => line.to_owned(),
            }
        })
        .unwrap_or_else(|| stderr.lines().next().unwrap_or_default().to_owned())
}

/// Messages from plugins are kept short in errors and failure reports.
pub fn truncate(mut message: String) -> String {
    const MAX: usize = 500;
    if message.len() > MAX {
        let mut end = MAX;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Loads a component this engine precompiled into the cache directory.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, path: &Path) -> wasmtime::Result<Component> {
    // SAFETY: the file was written by `Engine::precompile_component` of an engine with the same
    // compatibility hash (it is in the file name) into Kith's own data directory; wasmtime
    // still checks the header and the engine settings before using it.
    unsafe { Component::deserialize_file(engine, path) }
}
