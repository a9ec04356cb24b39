//! Log lines (import `log`), kept by the host with the plugin and workspace attached. Each
//! call may log a limited number of bytes (64 KiB for routes, actions, panels and after-save);
//! logging past that budget traps the call.

pub use crate::bindings::kith::plugin::log::Level;

/// Logs `message` at `level`.
pub fn log(level: Level, message: &str) {
    crate::imports::log(level, message);
}

/// Logs `message` at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs `message` at info level.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs `message` at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs `message` at error level.
pub fn error(message: &str) {
    log(Level::Error, message);
}
