//! The first schema: workspaces, users, API tokens, entity metadata, records, the audit log
//! and the outbox. Timestamps are integer microseconds since the Unix epoch (UTC) on both
//! databases, so comparisons and ordering behave the same everywhere.

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
                    .table(Workspaces::Table)
                    .col(uuid(Workspaces::Id).primary_key())
                    .col(string_uniq(Workspaces::Slug))
                    .col(string(Workspaces::Name))
                    .col(big_integer(Workspaces::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(uuid(Users::Id).primary_key())
                    .col(uuid(Users::WorkspaceId))
                    .col(string(Users::Email))
                    .col(string(Users::PasswordHash))
                    .col(string(Users::Role))
                    .col(big_integer(Users::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Users::Table, Users::WorkspaceId)
                            .to(Workspaces::Table, Workspaces::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("users_workspace_email")
                    .table(Users::Table)
                    .col(Users::WorkspaceId)
                    .col(Users::Email)
                    .unique()
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ApiTokens::Table)
                    .col(uuid(ApiTokens::Id).primary_key())
                    .col(uuid(ApiTokens::WorkspaceId))
                    .col(uuid(ApiTokens::UserId))
                    .col(string(ApiTokens::Name))
                    .col(string_uniq(ApiTokens::TokenHash))
                    .col(big_integer(ApiTokens::CreatedAt))
                    .col(big_integer_null(ApiTokens::LastUsedAt))
                    .col(big_integer_null(ApiTokens::ExpiresAt))
                    .col(big_integer_null(ApiTokens::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ApiTokens::Table, ApiTokens::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(EntityTypes::Table)
                    .col(uuid(EntityTypes::WorkspaceId))
                    .col(string(EntityTypes::Name))
                    .col(json_binary(EntityTypes::Spec))
                    .col(big_integer(EntityTypes::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(EntityTypes::WorkspaceId)
                            .col(EntityTypes::Name),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(CustomFields::Table)
                    .col(uuid(CustomFields::WorkspaceId))
                    .col(string(CustomFields::EntityType))
                    .col(string(CustomFields::Name))
                    .col(json_binary(CustomFields::Spec))
                    .col(big_integer(CustomFields::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(CustomFields::WorkspaceId)
                            .col(CustomFields::EntityType)
                            .col(CustomFields::Name),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Records::Table)
                    .col(uuid(Records::Id).primary_key())
                    .col(uuid(Records::WorkspaceId))
                    .col(string(Records::EntityType))
                    .col(json_binary(Records::Data))
                    .col(big_integer(Records::Version))
                    .col(uuid_null(Records::OwnerId))
                    .col(big_integer(Records::CreatedAt))
                    .col(big_integer(Records::UpdatedAt))
                    .col(big_integer_null(Records::DeletedAt))
                    .col(uuid_null(Records::MergedInto))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("records_type_id", Records::Id),
            ("records_type_created", Records::CreatedAt),
            ("records_type_updated", Records::UpdatedAt),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Records::Table)
                        .col(Records::WorkspaceId)
                        .col(Records::EntityType)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name("records_deleted")
                    .table(Records::Table)
                    .col(Records::DeletedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditLog::Table)
                    .col(big_pk_auto(AuditLog::Id))
                    .col(uuid(AuditLog::WorkspaceId))
                    .col(uuid(AuditLog::RecordId))
                    .col(string(AuditLog::EntityType))
                    .col(string(AuditLog::Action))
                    .col(uuid_null(AuditLog::ActorId))
                    .col(big_integer(AuditLog::At))
                    .col(json_binary(AuditLog::Changes))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_log_record")
                    .table(AuditLog::Table)
                    .col(AuditLog::WorkspaceId)
                    .col(AuditLog::RecordId)
                    .col(AuditLog::Id)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Outbox::Table)
                    .col(big_integer(Outbox::Seq).primary_key())
                    .col(uuid(Outbox::WorkspaceId))
                    .col(string(Outbox::EntityType))
                    .col(uuid(Outbox::RecordId))
                    .col(string(Outbox::Event))
                    .col(big_integer(Outbox::Version))
                    .col(json_binary(Outbox::Payload))
                    .col(big_integer(Outbox::At))
                    .to_owned(),
            )
            .await?;
        // The outbox head is one row; bumping it inside each write transaction is what keeps
        // the sequence gap-free and in commit order (a rolled-back bump is undone with it).
        manager
            .create_table(
                Table::create()
                    .table(OutboxHead::Table)
                    .col(integer(OutboxHead::Id).primary_key())
                    .col(big_integer(OutboxHead::Seq))
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(OutboxHead::Table)
                    .columns([OutboxHead::Id, OutboxHead::Seq])
                    .values_panic([1.into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            OutboxHead::Table.into_iden(),
            Outbox::Table.into_iden(),
            AuditLog::Table.into_iden(),
            Records::Table.into_iden(),
            CustomFields::Table.into_iden(),
            EntityTypes::Table.into_iden(),
            ApiTokens::Table.into_iden(),
            Users::Table.into_iden(),
            Workspaces::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Workspaces {
    Table,
    Id,
    Slug,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    WorkspaceId,
    Email,
    PasswordHash,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    WorkspaceId,
    UserId,
    Name,
    TokenHash,
    CreatedAt,
    LastUsedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum EntityTypes {
    Table,
    WorkspaceId,
    Name,
    Spec,
    CreatedAt,
}

#[derive(DeriveIden)]
enum CustomFields {
    Table,
    WorkspaceId,
    EntityType,
    Name,
    Spec,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Records {
    Table,
    Id,
    WorkspaceId,
    EntityType,
    Data,
    Version,
    OwnerId,
    CreatedAt,
    UpdatedAt,
    DeletedAt,
    MergedInto,
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Id,
    WorkspaceId,
    RecordId,
    EntityType,
    Action,
    ActorId,
    At,
    Changes,
}

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Seq,
    WorkspaceId,
    EntityType,
    RecordId,
    Event,
    Version,
    Payload,
    At,
}

#[derive(DeriveIden)]
enum OutboxHead {
    Table,
    Id,
    Seq,
}
