//! The bytes of received mail's attachments, each at most 10 MiB (a larger one is listed on
//! its message but not kept), stored with the message in one transaction.

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
                    .table(MailAttachments::Table)
                    .col(uuid(MailAttachments::MessageId))
                    .col(integer(MailAttachments::Position))
                    .col(uuid(MailAttachments::WorkspaceId))
                    .col(string(MailAttachments::Name))
                    .col(string(MailAttachments::ContentType))
                    .col(binary(MailAttachments::Content))
                    .primary_key(
                        Index::create()
                            .col(MailAttachments::MessageId)
                            .col(MailAttachments::Position),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MailAttachments::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum MailAttachments {
    Table,
    MessageId,
    Position,
    WorkspaceId,
    Name,
    ContentType,
    Content,
}
