//! Kith's database migrations: one `Migrator`, shared by the server, the CLI and the tests, that
//! builds the same schema on SQLite and PostgreSQL.
//!
//! Record data lives in one `records` table (DESIGN §2): entity types and custom fields are
//! metadata, so no migration here ever depends on a plugin or a workspace's customisation.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_init;
mod m20261122_000002_security;
mod m20261126_000003_plugins;
mod m20261127_000004_web;
mod m20261127_000005_record_refs;
mod m20261206_000006_plugin_claims;
mod m20261206_000007_changes;
mod m20261206_000008_deliveries;
mod m20261207_000009_people;
mod m20261207_000010_integrations;
mod m20261207_000011_mail;
mod m20261207_000012_webhook_due;
mod m20261207_000013_mailboxes;
mod m20261207_000014_mail_attachments;
mod m20261207_000015_scalar_refs;
mod m20261207_000016_languages;
mod m20261207_000017_workspace_language;
mod m20261208_000018_plugin_locales;
mod m20261209_000019_imports;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_init::Migration),
            Box::new(m20261122_000002_security::Migration),
            Box::new(m20261126_000003_plugins::Migration),
            Box::new(m20261127_000004_web::Migration),
            Box::new(m20261127_000005_record_refs::Migration),
            Box::new(m20261206_000006_plugin_claims::Migration),
            Box::new(m20261206_000007_changes::Migration),
            Box::new(m20261206_000008_deliveries::Migration),
            Box::new(m20261207_000009_people::Migration),
            Box::new(m20261207_000010_integrations::Migration),
            Box::new(m20261207_000011_mail::Migration),
            Box::new(m20261207_000012_webhook_due::Migration),
            Box::new(m20261207_000013_mailboxes::Migration),
            Box::new(m20261207_000014_mail_attachments::Migration),
            Box::new(m20261207_000015_scalar_refs::Migration),
            Box::new(m20261207_000016_languages::Migration),
            Box::new(m20261207_000017_workspace_language::Migration),
            Box::new(m20261208_000018_plugin_locales::Migration),
            Box::new(m20261209_000019_imports::Migration),
        ]
    }
}
