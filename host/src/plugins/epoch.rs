//! The epoch ticker: a thread that advances the engine's epoch every [`EPOCH_TICK`] while plugin
//! calls run — the clock their deadlines and yields are counted on. After [`IDLE_TICKS`] ticks
//! with no call, it parks until the next call starts, so an idle server is not woken a thousand
//! times a second.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::Thread;
use std::time::Duration;

/// How often the epoch ticks; deadlines are counted in ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);
/// Ticks without a call before the ticker parks: long enough that a server handling requests
/// (a hook call every few writes) never pays for waking it.
pub const IDLE_TICKS: u32 = 100;

#[derive(Default)]
struct Shared {
    /// Calls running now.
    running: AtomicUsize,
    /// Calls started so far (a call that began and ended between two ticks still counts).
    started: AtomicU64,
    /// The ticker is parked, or about to park: a call that starts must wake it.
    parked: AtomicBool,
    /// The ticker's owner is gone.
    stop: AtomicBool,
}

pub struct Ticker {
    shared: Arc<Shared>,
    thread: Thread,
}

/// A call in progress: the ticker keeps ticking until every one is dropped.
pub struct Running<'a>(&'a Shared);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Ticker {
    /// Starts the ticker's thread, which calls `tick` at every tick and ends when `tick`
    /// answers false (its engine is gone) or the ticker is dropped.
    pub fn start(tick: impl Fn() -> bool + Send + 'static) -> std::io::Result<Ticker> {
        let shared = Arc::new(Shared::default());
        let state = shared.clone();
        let handle = std::thread::Builder::new()
            .name("kith-plugin-epoch".into())
            .spawn(move || run(&state, tick))?;
        Ok(Ticker {
            shared,
            thread: handle.thread().clone(),
        })
    }

    /// Marks a call as running, waking the ticker if it was parked.
    pub fn running(&self) -> Running<'_> {
        // SeqCst on both sides: either the ticker sees this call before it parks, or this sees
        // `parked` and wakes it (an unpark before the park makes the park return at once).
        self.shared.running.fetch_add(1, Ordering::SeqCst);
        self.shared.started.fetch_add(1, Ordering::Relaxed);
        if self.shared.parked.load(Ordering::SeqCst) {
            self.thread.unpark();
        }
        Running(&self.shared)
    }

    /// Whether the ticker is parked (or about to park).
    #[cfg(test)]
    fn is_parked(&self) -> bool {
        self.shared.parked.load(Ordering::SeqCst)
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

fn run(shared: &Shared, tick: impl Fn() -> bool) {
    let mut idle = 0;
    let mut seen = shared.started.load(Ordering::Relaxed);
    loop {
        // Sleep first: a call that just woke the ticker gets a whole tick before its first.
        std::thread::sleep(EPOCH_TICK);
        if shared.stop.load(Ordering::SeqCst) || !tick() {
            return;
        }
        let started = shared.started.load(Ordering::Relaxed);
        if started != seen || shared.running.load(Ordering::SeqCst) > 0 {
            seen = started;
            idle = 0;
            continue;
        }
        idle += 1;
        if idle < IDLE_TICKS {
            continue;
        }
        shared.parked.store(true, Ordering::SeqCst);
        while shared.running.load(Ordering::SeqCst) == 0 && !shared.stop.load(Ordering::SeqCst) {
            std::thread::park();
        }
        shared.parked.store(false, Ordering::SeqCst);
        idle = 0;
        seen = shared.started.load(Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Waits (up to 10 s, so a loaded machine cannot fail it) until `done` holds.
    fn eventually(what: &str, done: impl Fn() -> bool) {
        let until = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < until, "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    fn counting_ticker() -> (Ticker, Arc<AtomicU64>) {
        let ticks = Arc::new(AtomicU64::new(0));
        let counter = ticks.clone();
        let ticker = Ticker::start(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            true
        })
        .expect("ticker thread");
        (ticker, ticks)
    }

    #[test]
    fn parks_when_idle_and_ticks_again_for_a_call() {
        let (ticker, ticks) = counting_ticker();
        eventually("the idle ticker parks", || ticker.is_parked());
        let parked_at = ticks.load(Ordering::SeqCst);
        assert!(
            parked_at >= u64::from(IDLE_TICKS),
            "parked after {parked_at} ticks"
        );
        std::thread::sleep(EPOCH_TICK * 20);
        assert_eq!(
            ticks.load(Ordering::SeqCst),
            parked_at,
            "a parked ticker ticked"
        );

        let call = ticker.running();
        eventually("a call wakes the ticker", || {
            ticks.load(Ordering::SeqCst) >= parked_at + 3
        });
        assert!(!ticker.is_parked());
        // It goes on ticking for as long as the call runs, idle ticks or not.
        let before = ticks.load(Ordering::SeqCst);
        eventually("a running call keeps it ticking", || {
            ticks.load(Ordering::SeqCst) >= before + u64::from(IDLE_TICKS) + 10
        });
        assert!(!ticker.is_parked(), "parked under a running call");
        drop(call);
        eventually("it parks again once the call ended", || ticker.is_parked());
    }

    #[test]
    fn stops_with_its_owner_or_its_engine() {
        let (ticker, ticks) = counting_ticker();
        let call = ticker.running();
        eventually("it ticks", || ticks.load(Ordering::SeqCst) > 0);
        drop(call);
        drop(ticker);
        let stopped = ticks.load(Ordering::SeqCst);
        std::thread::sleep(EPOCH_TICK * 20);
        assert!(
            ticks.load(Ordering::SeqCst) <= stopped + 1,
            "ticked after its owner went"
        );

        let ticks = Arc::new(AtomicU64::new(0));
        let counter = ticks.clone();
        let ticker = Ticker::start(move || counter.fetch_add(1, Ordering::SeqCst) < 4)
            .expect("ticker thread");
        let _call = ticker.running();
        eventually("the engine goes", || ticks.load(Ordering::SeqCst) >= 5);
        std::thread::sleep(EPOCH_TICK * 20);
        assert_eq!(
            ticks.load(Ordering::SeqCst),
            5,
            "ticked after its engine went"
        );
    }
}
