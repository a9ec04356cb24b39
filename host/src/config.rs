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
