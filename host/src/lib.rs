//! Kith's host: the server that owns the data, its API and its command line.
//!
//! Reading order: `cli` (the commands) → `app` (state and router) → `records` (the record
//! store, its schema, queries and handlers) → `search` (the index and its indexer) → `auth` (workspaces, users, tokens) → `plugins` → `transfer` (imports and exports) → `web` (the pages and themes) → the
//! shared pieces `db`, `changes` (coherence between processes), `error`, `extract`, `ids`; `demo` generates demo data.

pub mod app;
pub mod auth;
pub mod changes;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod extract;
pub mod i18n;
pub mod ids;
pub mod integrations;
pub mod locale;
pub mod mail;
pub mod plugins;
pub mod records;
pub mod search;
pub mod secrets;
pub mod transfer;
pub mod web;
