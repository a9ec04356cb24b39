//! Security: custom roles, teams and their members, browser sessions, when a user's password
//! last changed, and the index that keeps owner-scoped lists fast.

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
                    .table(Roles::Table)
                    .col(uuid(Roles::WorkspaceId))
                    .col(string(Roles::Name))
                    .col(json_binary(Roles::Spec))
                    .col(big_integer(Roles::UpdatedAt))
                    .primary_key(Index::create().col(Roles::WorkspaceId).col(Roles::Name))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Teams::Table)
                    .col(uuid(Teams::Id).primary_key())
                    .col(uuid(Teams::WorkspaceId))
                    .col(string(Teams::Name))
                    .col(big_integer(Teams::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("teams_workspace_name")
                    .table(Teams::Table)
                    .col(Teams::WorkspaceId)
                    .col(Teams::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(TeamMembers::Table)
                    .col(uuid(TeamMembers::TeamId))
                    .col(uuid(TeamMembers::UserId))
                    .primary_key(
                        Index::create()
                            .col(TeamMembers::TeamId)
                            .col(TeamMembers::UserId),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("team_members_user")
                    .table(TeamMembers::Table)
                    .col(TeamMembers::UserId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .col(string(Sessions::TokenHash).primary_key())
                    .col(uuid(Sessions::UserId))
                    .col(uuid(Sessions::WorkspaceId))
                    .col(string(Sessions::CsrfToken))
                    .col(big_integer(Sessions::CreatedAt))
                    .col(big_integer(Sessions::ExpiresAt))
                    .col(big_integer_null(Sessions::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sessions_user")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .to_owned(),
            )
            .await?;
        // Lists limited to "own" or "team" records walk this index in id order.
        manager
            .create_index(
                Index::create()
                    .name("records_owner")
                    .table(Records::Table)
                    .col(Records::WorkspaceId)
                    .col(Records::EntityType)
                    .col(Records::OwnerId)
                    .col(Records::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(big_integer(Users::PasswordChangedAt).default(0))
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("records_owner")
                    .table(Records::Table)
                    .to_owned(),
            )
            .await?;
        // Lists limited to "own" or "team" records walk this index in id order.
        manager
            .create_index(
                Index::create()
                    .name("records_owner")
                    .table(Records::Table)
                    .col(Records::WorkspaceId)
                    .col(Records::EntityType)
                    .col(Records::OwnerId)
                    .col(Records::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::PasswordChangedAt)
                    .to_owned(),
            )
            .await?;
        for table in [
            Sessions::Table.into_iden(),
            TeamMembers::Table.into_iden(),
            Teams::Table.into_iden(),
            Roles::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    WorkspaceId,
    Name,
    Spec,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Teams {
    Table,
    Id,
    WorkspaceId,
    Name,
    CreatedAt,
}

#[derive(DeriveIden)]
enum TeamMembers {
    Table,
    TeamId,
    UserId,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    TokenHash,
    UserId,
    WorkspaceId,
    CsrfToken,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Records {
    Table,
    WorkspaceId,
    EntityType,
    OwnerId,
    Id,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    PasswordChangedAt,
}
