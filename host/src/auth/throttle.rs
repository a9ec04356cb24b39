//! Login throttling: failures counted per key (an account, an address) in a fixed window, in
//! bounded memory — when the table is full, expired entries go first, then the oldest.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Throttle {
    max_failures: u32,
    window: Duration,
    capacity: usize,
    entries: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Throttle {
    pub fn new(max_failures: u32, window: Duration, capacity: usize) -> Throttle {
        Throttle {
            max_failures,
            window,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(wait)` while the key has used up its failures in the current window.
    pub fn check(&self, key: &str) -> Result<(), Duration> {
        let Ok(entries) = self.entries.lock() else {
            return Ok(());
        };
        match entries.get(key) {
            Some((failures, since))
                if *failures >= self.max_failures && since.elapsed() < self.window =>
            {
                Err(self.window.saturating_sub(since.elapsed()))
            }
            _ => Ok(()),
        }
    }

    pub fn fail(&self, key: &str) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.capacity && !entries.contains_key(key) {
            let window = self.window;
            entries.retain(|_, (_, since)| since.elapsed() < window);
            if entries.len() >= self.capacity {
                let mut by_age: Vec<(String, Instant)> =
                    entries.iter().map(|(k, (_, t))| (k.clone(), *t)).collect();
                by_age.sort_by_key(|(_, t)| *t);
                for (key, _) in by_age.into_iter().take(self.capacity / 10 + 1) {
                    entries.remove(&key);
                }
            }
        }
        let entry = entries.entry(key.to_owned()).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= self.window {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }

    pub fn reset(&self, key: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }

    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_allowed_failures_and_resets_on_success() {
        let throttle = Throttle::new(3, Duration::from_secs(60), 100);
        for _ in 0..3 {
            assert!(throttle.check("ada").is_ok());
            throttle.fail("ada");
        }
        assert!(throttle.check("ada").is_err());
        assert!(throttle.check("bob").is_ok(), "keys are independent");
        throttle.reset("ada");
        assert!(throttle.check("ada").is_ok());
    }

    #[test]
    fn memory_stays_bounded() {
        let throttle = Throttle::new(3, Duration::from_secs(60), 1000);
        for i in 0..50_000 {
            throttle.fail(&format!("address-{i}"));
        }
        assert!(throttle.len() <= 1000, "{} entries", throttle.len());
    }
}
