//! What processes cache, announced: every change to a workspace's schema, plugins or look is a
//! row here, which every process (replicas, and CLI commands beside a server) follows to drop
//! what it cached. Rows are kept for an hour.

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
                    .table(Changes::Table)
                    .col(big_integer(Changes::Seq).primary_key().auto_increment())
                    .col(uuid_null(Changes::WorkspaceId))
                    .col(string(Changes::Kind))
                    .col(big_integer(Changes::At))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("changes_at")
                    .table(Changes::Table)
                    .col(Changes::At)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Changes::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Changes {
    Table,
    Seq,
    WorkspaceId,
    Kind,
    At,
}
