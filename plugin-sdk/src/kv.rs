//! A key-value store of the plugin's own, one per workspace (import `kv`). Needs no permission;
//! every call counts as a host call and `set` and `delete` as writes.

use crate::HostError;
use crate::imports as wit;

/// The value stored under `key`, if any.
pub fn get(key: &str) -> Result<Option<Vec<u8>>, HostError> {
    wit::kv_get(key)
}

/// The value stored under `key` as text (invalid UTF-8 becomes U+FFFD), if any.
pub fn get_text(key: &str) -> Result<Option<String>, HostError> {
    Ok(wit::kv_get(key)?.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
}

/// Stores `value` under `key`, replacing any value.
pub fn set(key: &str, value: &[u8]) -> Result<(), HostError> {
    wit::kv_set(key, value)
}

/// Stores the text `value` under `key`.
pub fn set_text(key: &str, value: &str) -> Result<(), HostError> {
    wit::kv_set(key, value.as_bytes())
}

/// Removes `key` (nothing happens when it is absent).
pub fn delete(key: &str) -> Result<(), HostError> {
    wit::kv_delete(key)
}

/// The keys starting with `prefix`, in order, at most 1000.
pub fn keys(prefix: &str) -> Result<Vec<String>, HostError> {
    wit::kv_keys(prefix)
}
