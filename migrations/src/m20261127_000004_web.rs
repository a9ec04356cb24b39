//! The web app: each workspace's look (theme, token overrides, logo), its template overrides,
//! saved list views, and an index for each user's newest audit rows.

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
                    .table(WorkspaceLooks::Table)
                    .col(uuid(WorkspaceLooks::WorkspaceId).primary_key())
                    .col(string(WorkspaceLooks::Theme))
                    .col(json_binary(WorkspaceLooks::Tokens))
                    .col(binary_null(WorkspaceLooks::Logo))
                    .col(string_null(WorkspaceLooks::LogoType))
                    .col(big_integer(WorkspaceLooks::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TemplateOverrides::Table)
                    .col(uuid(TemplateOverrides::WorkspaceId))
                    .col(string(TemplateOverrides::Name))
                    .col(text(TemplateOverrides::Source))
                    .col(uuid(TemplateOverrides::UpdatedBy))
                    .col(big_integer(TemplateOverrides::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(TemplateOverrides::WorkspaceId)
                            .col(TemplateOverrides::Name),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SavedViews::Table)
                    .col(uuid(SavedViews::Id).primary_key())
                    .col(uuid(SavedViews::WorkspaceId))
                    .col(uuid(SavedViews::OwnerId))
                    .col(string(SavedViews::Entity))
                    .col(string(SavedViews::Name))
                    .col(boolean(SavedViews::Shared))
                    .col(json_binary(SavedViews::Query))
                    .col(big_integer(SavedViews::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("saved_views_entity")
                    .table(SavedViews::Table)
                    .col(SavedViews::WorkspaceId)
                    .col(SavedViews::Entity)
                    .to_owned(),
            )
            .await?;
        // "Recently changed by you" on the home page reads a user's newest audit rows.
        manager
            .create_index(
                Index::create()
                    .name("audit_log_actor")
                    .table(AuditLog::Table)
                    .col(AuditLog::WorkspaceId)
                    .col(AuditLog::ActorId)
                    .col(AuditLog::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("audit_log_actor")
                    .table(AuditLog::Table)
                    .to_owned(),
            )
            .await?;
        for table in [
            SavedViews::Table.into_iden(),
            TemplateOverrides::Table.into_iden(),
            WorkspaceLooks::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum WorkspaceLooks {
    Table,
    WorkspaceId,
    Theme,
    Tokens,
    Logo,
    LogoType,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum TemplateOverrides {
    Table,
    WorkspaceId,
    Name,
    Source,
    UpdatedBy,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SavedViews {
    Table,
    Id,
    WorkspaceId,
    OwnerId,
    Entity,
    Name,
    Shared,
    Query,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    WorkspaceId,
    ActorId,
    Id,
}
