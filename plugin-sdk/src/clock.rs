//! The host's clock (import `clock`).

/// Now, in microseconds since the Unix epoch.
pub fn now_micros() -> i64 {
    crate::imports::now_micros()
}

/// Now, as an instant.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(now_micros()).unwrap_or_default()
}

/// Today's date in UTC.
pub fn today() -> chrono::NaiveDate {
    now().date_naive()
}
