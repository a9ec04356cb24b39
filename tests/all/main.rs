//! Kith's end-to-end tests: one binary; every test boots a real server over a real database
//! (SQLite, and PostgreSQL when `KITH_TEST_POSTGRES_URL` is set) and speaks HTTP to it.

#![allow(clippy::unwrap_used)]

mod support;

mod bad_input;
mod browser;
mod cli;
mod integration_pages;
mod journal;
mod languages;
mod lists;
mod mail;
mod mailboxes;
mod merge_page;
mod meta;
mod openapi;
mod plugins;
mod records;
mod replicas;
mod restart;
mod sales;
mod sandbox;
mod search;
mod security;
mod settings;
mod snapshots;
mod store;
mod stream;
mod transfer;
mod web;
mod webhooks;
mod workspaces;
