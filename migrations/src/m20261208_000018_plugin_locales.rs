//! Plugins' message catalogues (`locales/<lang>.ftl` of their packages), kept with the rest of
//! the package: a JSON object of language tag → Fluent source. None for packages installed
//! before plugins could ship catalogues (they have none).

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
                    .table(Plugins::Table)
                    .add_column(json_binary_null(Plugins::Locales))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Plugins::Table)
                    .drop_column(Plugins::Locales)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Plugins {
    Table,
    Locales,
}
