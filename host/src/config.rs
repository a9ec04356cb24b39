//! The server's configuration: one tree, filled from flags and the environment (flags win), with
//! defaults that run Kith on SQLite under `./kith-data`.

use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Config {
    /// `sqlite://…` or `postgres://…`.
    pub database_url: String,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Days a soft-deleted record stays restorable before it is purged.
    pub retention_days: u32,
    /// Where compiled plugins are cached; `<data_dir>/plugin-cache` when `None`. Entries are
    /// keyed by the component's hash and the engine's, and written atomically, so servers may
    /// share one (the test suite does: each plugin is compiled once per run).
    pub plugin_cache: Option<PathBuf>,
    /// Where committed events are also published (NATS JetStream), if anywhere.
    pub stream: Option<crate::integrations::stream::StreamTarget>,
}

impl Config {
    /// The folder compiled plugins are cached in.
    pub fn plugin_cache_dir(&self) -> PathBuf {
        self.plugin_cache
            .clone()
            .unwrap_or_else(|| plugin_cache_in(&self.data_dir))
    }
}

/// The default cache of compiled plugins of a data directory.
pub fn plugin_cache_in(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("plugin-cache")
}

impl Config {
    /// The database URL to use: the one given, or a SQLite file in the data directory.
    pub fn database_url(explicit: Option<&str>, data_dir: &std::path::Path) -> String {
        match explicit {
            Some(url) => url.to_owned(),
            None => format!("sqlite://{}", data_dir.join("kith.db").display()),
        }
    }
}
