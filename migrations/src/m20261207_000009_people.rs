//! People, not just logins: a user's display name and time zone (an IANA name), deactivation
//! (the row stays, so records keep their owner's name), and invitations — one-time links to set
//! a first password, stored as hashes of their secret.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        for column in [
            string(Users::Name).default("").to_owned(),
            string(Users::TimeZone).default("UTC").to_owned(),
            big_integer_null(Users::DeactivatedAt),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Invitations::Table)
                    .col(string(Invitations::TokenHash).primary_key())
                    .col(uuid(Invitations::WorkspaceId))
                    .col(uuid(Invitations::UserId))
                    .col(uuid(Invitations::InvitedBy))
                    .col(big_integer(Invitations::CreatedAt))
                    .col(big_integer(Invitations::ExpiresAt))
                    .col(big_integer_null(Invitations::UsedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Invitations::Table, Invitations::UserId)
                            .to(Users::Table, Users::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("invitations_user")
                    .table(Invitations::Table)
                    .col(Invitations::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Invitations::Table).to_owned())
            .await?;
        for column in [Users::DeactivatedAt, Users::TimeZone, Users::Name] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Name,
    TimeZone,
    DeactivatedAt,
}

#[derive(DeriveIden)]
enum Invitations {
    Table,
    TokenHash,
    WorkspaceId,
    UserId,
    InvitedBy,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}
