//! The host's clock (import `clock`).

/// Now, in microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    crate::bindings::kith::plugin::clock::now()
}
