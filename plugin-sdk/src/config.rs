//! The plugin's settings (import `config`): declared in the manifest's `[[settings]]`, set by
//! an admin per workspace.

/// The setting `name`'s value, or its declared default; `None` when neither exists.
pub fn get(name: &str) -> Option<String> {
    crate::imports::config_get(name)
}
