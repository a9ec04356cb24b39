//! Imports: the uploaded file with its mapping and options, its progress (committed in the same
//! transaction as each batch of records, so a resumed import neither skips nor repeats rows),
//! and the outcome of every row (what the result file and the undo read).

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
                    .table(Imports::Table)
                    .col(uuid(Imports::Id).primary_key())
                    .col(uuid(Imports::WorkspaceId))
                    .col(uuid(Imports::CreatedBy))
                    .col(string(Imports::EntityType))
                    .col(string(Imports::FileName))
                    .col(binary(Imports::Source))
                    .col(json(Imports::Reading))
                    .col(json(Imports::Options))
                    .col(string(Imports::Status))
                    .col(big_integer(Imports::TotalRows))
                    .col(big_integer(Imports::DoneRows))
                    .col(json(Imports::Counts))
                    .col(string(Imports::Language))
                    .col(text_null(Imports::Error))
                    .col(big_integer(Imports::LeaseUntil))
                    .col(big_integer(Imports::CreatedAt))
                    .col(big_integer_null(Imports::FinishedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("imports_by_workspace")
                    .table(Imports::Table)
                    .col(Imports::WorkspaceId)
                    .col(Imports::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ImportRows::Table)
                    .col(uuid(ImportRows::ImportId))
                    .col(big_integer(ImportRows::Row))
                    .col(string(ImportRows::Outcome))
                    .col(uuid_null(ImportRows::RecordId))
                    .col(json_null(ImportRows::Changes))
                    .col(json_null(ImportRows::Problems))
                    .primary_key(
                        Index::create()
                            .col(ImportRows::ImportId)
                            .col(ImportRows::Row),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ImportRows::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Imports::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum Imports {
    Table,
    Id,
    WorkspaceId,
    CreatedBy,
    EntityType,
    FileName,
    Source,
    Reading,
    Options,
    Status,
    TotalRows,
    DoneRows,
    Counts,
    Language,
    Error,
    LeaseUntil,
    CreatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum ImportRows {
    Table,
    ImportId,
    Row,
    Outcome,
    RecordId,
    Changes,
    Problems,
}
