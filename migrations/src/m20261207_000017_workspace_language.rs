//! The language a workspace's pages are shown in when neither the reader nor their browser
//! chooses one (`en`, `zh-CN`; none means English), kept with the workspace's look.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WorkspaceLooks::Table)
                    .add_column(string_null(WorkspaceLooks::Language))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WorkspaceLooks::Table)
                    .drop_column(WorkspaceLooks::Language)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum WorkspaceLooks {
    Table,
    Language,
}
