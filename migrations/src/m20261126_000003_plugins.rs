//! Plugins: installed packages (manifest, templates and wasm, so every replica can load them),
//! their enablement and grants per workspace, failures, their key-value stores, after-save
//! delivery cursors and job schedules.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Plugins::Table)
                    .col(string(Plugins::Id))
                    .col(string(Plugins::Version))
                    .col(json_binary(Plugins::Manifest))
                    .col(json_binary(Plugins::Templates))
                    .col(text(Plugins::ManifestText))
                    .col(binary(Plugins::Wasm))
                    .col(string(Plugins::Sha256))
                    .col(big_integer(Plugins::InstalledAt))
                    .primary_key(Index::create().col(Plugins::Id).col(Plugins::Version))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WorkspacePlugins::Table)
                    .col(uuid(WorkspacePlugins::WorkspaceId))
                    .col(string(WorkspacePlugins::PluginId))
                    .col(string(WorkspacePlugins::Version))
                    .col(boolean(WorkspacePlugins::Enabled))
                    .col(json_binary(WorkspacePlugins::Granted))
                    .col(json_binary(WorkspacePlugins::Settings))
                    .col(uuid(WorkspacePlugins::GrantedBy))
                    .col(big_integer(WorkspacePlugins::UpdatedAt))
                    .col(text_null(WorkspacePlugins::Suspended))
                    .primary_key(
                        Index::create()
                            .col(WorkspacePlugins::WorkspaceId)
                            .col(WorkspacePlugins::PluginId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PluginFailures::Table)
                    .col(
                        big_integer(PluginFailures::Id)
                            .primary_key()
                            .auto_increment(),
                    )
                    .col(uuid(PluginFailures::WorkspaceId))
                    .col(string(PluginFailures::PluginId))
                    .col(string(PluginFailures::Version))
                    .col(string(PluginFailures::Kind))
                    .col(text(PluginFailures::Message))
                    .col(big_integer(PluginFailures::At))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("plugin_failures_plugin")
                    .table(PluginFailures::Table)
                    .col(PluginFailures::WorkspaceId)
                    .col(PluginFailures::PluginId)
                    .col(PluginFailures::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PluginKv::Table)
                    .col(uuid(PluginKv::WorkspaceId))
                    .col(string(PluginKv::PluginId))
                    .col(string(PluginKv::Key))
                    .col(binary(PluginKv::Value))
                    .primary_key(
                        Index::create()
                            .col(PluginKv::WorkspaceId)
                            .col(PluginKv::PluginId)
                            .col(PluginKv::Key),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PluginCursors::Table)
                    .col(uuid(PluginCursors::WorkspaceId))
                    .col(string(PluginCursors::PluginId))
                    .col(big_integer(PluginCursors::Seq))
                    .col(integer(PluginCursors::Attempts))
                    .col(big_integer(PluginCursors::RetryAt))
                    .primary_key(
                        Index::create()
                            .col(PluginCursors::WorkspaceId)
                            .col(PluginCursors::PluginId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PluginJobs::Table)
                    .col(uuid(PluginJobs::WorkspaceId))
                    .col(string(PluginJobs::PluginId))
                    .col(string(PluginJobs::Job))
                    .col(big_integer(PluginJobs::NextRun))
                    .col(text_null(PluginJobs::Cursor))
                    .col(big_integer(PluginJobs::LeaseUntil))
                    .col(big_integer_null(PluginJobs::LastDone))
                    .primary_key(
                        Index::create()
                            .col(PluginJobs::WorkspaceId)
                            .col(PluginJobs::PluginId)
                            .col(PluginJobs::Job),
                    )
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            PluginJobs::Table.into_iden(),
            PluginCursors::Table.into_iden(),
            PluginKv::Table.into_iden(),
            PluginFailures::Table.into_iden(),
            WorkspacePlugins::Table.into_iden(),
            Plugins::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Plugins {
    Table,
    Id,
    Version,
    Manifest,
    Templates,
    ManifestText,
    Wasm,
    Sha256,
    InstalledAt,
}

#[derive(DeriveIden)]
enum WorkspacePlugins {
    Table,
    WorkspaceId,
    PluginId,
    Version,
    Enabled,
    Granted,
    Settings,
    GrantedBy,
    UpdatedAt,
    Suspended,
}

#[derive(DeriveIden)]
enum PluginFailures {
    Table,
    Id,
    WorkspaceId,
    PluginId,
    Version,
    Kind,
    Message,
    At,
}

#[derive(DeriveIden)]
enum PluginKv {
    Table,
    WorkspaceId,
    PluginId,
    Key,
    Value,
}

#[derive(DeriveIden)]
enum PluginCursors {
    Table,
    WorkspaceId,
    PluginId,
    Seq,
    Attempts,
    RetryAt,
}

#[derive(DeriveIden)]
enum PluginJobs {
    Table,
    WorkspaceId,
    PluginId,
    Job,
    NextRun,
    Cursor,
    LeaseUntil,
    LastDone,
}
