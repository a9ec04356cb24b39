//! After-save delivery that does not jam: the events a plugin's after-save failed on wait here
//! for their retries (and, after the last, as dead letters for an admin to retry or drop)
//! while the plugin's cursor moves on; and a lease on each cursor, so one process delivers.

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
                    .table(PluginDeliveries::Table)
                    .col(uuid(PluginDeliveries::WorkspaceId))
                    .col(string(PluginDeliveries::PluginId))
                    // The event's outbox sequence number.
                    .col(big_integer(PluginDeliveries::Seq))
                    .col(uuid(PluginDeliveries::RecordId))
                    .col(integer(PluginDeliveries::Attempts))
                    .col(big_integer(PluginDeliveries::NextAt))
                    .col(text_null(PluginDeliveries::LastError))
                    .col(big_integer_null(PluginDeliveries::DeadAt))
                    .primary_key(
                        Index::create()
                            .col(PluginDeliveries::WorkspaceId)
                            .col(PluginDeliveries::PluginId)
                            .col(PluginDeliveries::Seq),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("plugin_deliveries_record")
                    .table(PluginDeliveries::Table)
                    .col(PluginDeliveries::WorkspaceId)
                    .col(PluginDeliveries::PluginId)
                    .col(PluginDeliveries::RecordId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PluginCursors::Table)
                    .add_column(big_integer(PluginCursors::LeaseUntil).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(PluginCursors::Table)
                    .drop_column(PluginCursors::LeaseUntil)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(PluginDeliveries::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum PluginDeliveries {
    Table,
    WorkspaceId,
    PluginId,
    Seq,
    RecordId,
    Attempts,
    NextAt,
    LastError,
    DeadAt,
}

#[derive(DeriveIden)]
enum PluginCursors {
    Table,
    LeaseUntil,
}
