//! Email: each workspace's SMTP settings (the password sealed with the server's secret key),
//! and every message sent or received — the outgoing queue (durable before a send is
//! accepted, retried with backoff) and the received mail, threaded by Message-ID.

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
                    .table(MailSettings::Table)
                    .col(uuid(MailSettings::WorkspaceId).primary_key())
                    .col(string(MailSettings::Host))
                    .col(integer(MailSettings::Port))
                    // starttls | tls | none
                    .col(string(MailSettings::Security))
                    .col(string(MailSettings::Username).default(""))
                    .col(text_null(MailSettings::PasswordSealed))
                    .col(string(MailSettings::FromAddress))
                    .col(string(MailSettings::FromName).default(""))
                    .col(big_integer(MailSettings::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(MailMessages::Table)
                    .col(uuid(MailMessages::Id).primary_key())
                    .col(uuid(MailMessages::WorkspaceId))
                    // out | in
                    .col(string(MailMessages::Direction))
                    .col(uuid_null(MailMessages::ActivityId))
                    .col(string(MailMessages::MessageId))
                    .col(string_null(MailMessages::InReplyTo))
                    .col(string(MailMessages::ThreadId))
                    .col(string(MailMessages::FromAddress))
                    .col(json(MailMessages::ToAddresses))
                    .col(json(MailMessages::CcAddresses))
                    .col(text(MailMessages::Subject))
                    .col(text(MailMessages::BodyText))
                    // Attachments of received mail: name, type, size.
                    .col(json(MailMessages::Attachments))
                    // queued | sent | failed (out); received (in)
                    .col(string(MailMessages::Status))
                    .col(integer(MailMessages::Attempts))
                    .col(big_integer(MailMessages::NextAt))
                    .col(big_integer(MailMessages::LeaseUntil).default(0))
                    .col(text_null(MailMessages::LastError))
                    .col(text_null(MailMessages::ServerReply))
                    .col(uuid_null(MailMessages::CreatedBy))
                    .col(big_integer(MailMessages::CreatedAt))
                    .col(big_integer_null(MailMessages::SentAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("mail_messages_message_id")
                    .table(MailMessages::Table)
                    .col(MailMessages::WorkspaceId)
                    .col(MailMessages::MessageId)
                    .col(MailMessages::Direction)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("mail_messages_queue")
                    .table(MailMessages::Table)
                    .col(MailMessages::Status)
                    .col(MailMessages::NextAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(MailMessages::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(MailSettings::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum MailSettings {
    Table,
    WorkspaceId,
    Host,
    Port,
    Security,
    Username,
    PasswordSealed,
    FromAddress,
    FromName,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum MailMessages {
    Table,
    Id,
    WorkspaceId,
    Direction,
    ActivityId,
    MessageId,
    InReplyTo,
    ThreadId,
    FromAddress,
    ToAddresses,
    CcAddresses,
    Subject,
    BodyText,
    Attachments,
    Status,
    Attempts,
    NextAt,
    LeaseUntil,
    LastError,
    ServerReply,
    CreatedBy,
    CreatedAt,
    SentAt,
}
