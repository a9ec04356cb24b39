//! Mailboxes polled over IMAP; the plugin that sent a message (its hourly grant counts them);
//! the indexes that thread mail and list the mail log.
//!
//! Mailboxes: where each is (host, port, security, folder), who reads it (the
//! password sealed by the server's key), and its bookmark — the folder's UIDVALIDITY and the
//! highest UID stored — so a restart, a second replica or a crash never fetches a message
//! twice into the log or skips one. A lease says which process polls it now.

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
                    .table(MailMailboxes::Table)
                    .col(uuid(MailMailboxes::Id).primary_key())
                    .col(uuid(MailMailboxes::WorkspaceId))
                    .col(string(MailMailboxes::Name))
                    .col(string(MailMailboxes::Host))
                    .col(integer(MailMailboxes::Port))
                    // tls | starttls | none
                    .col(string(MailMailboxes::Security))
                    .col(string(MailMailboxes::Username))
                    .col(text_null(MailMailboxes::PasswordSealed))
                    .col(string(MailMailboxes::Folder))
                    .col(boolean(MailMailboxes::Enabled))
                    .col(integer(MailMailboxes::PollSeconds))
                    // The admin who saved it: received mail is logged as them.
                    .col(uuid(MailMailboxes::ActingUser))
                    .col(big_integer_null(MailMailboxes::UidValidity))
                    .col(big_integer(MailMailboxes::LastUid).default(0))
                    .col(big_integer(MailMailboxes::Received).default(0))
                    .col(big_integer(MailMailboxes::Skipped).default(0))
                    .col(big_integer(MailMailboxes::NextPollAt))
                    .col(uuid_null(MailMailboxes::LeaseOwner))
                    .col(big_integer(MailMailboxes::LeaseUntil).default(0))
                    .col(big_integer_null(MailMailboxes::LastPolledAt))
                    .col(text_null(MailMailboxes::LastError))
                    .col(big_integer(MailMailboxes::CreatedAt))
                    .col(big_integer(MailMailboxes::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("mail_mailboxes_due")
                    .table(MailMailboxes::Table)
                    .col(MailMailboxes::NextPollAt)
                    .to_owned(),
            )
            .await?;
        // Mail a plugin sent, counted against its hourly grant.
        manager
            .alter_table(
                Table::alter()
                    .table(MailMessages::Table)
                    .add_column(string_null(MailMessages::SentByPlugin))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("mail_messages_plugin")
                    .table(MailMessages::Table)
                    .col(MailMessages::WorkspaceId)
                    .col(MailMessages::SentByPlugin)
                    .col(MailMessages::CreatedAt)
                    .to_owned(),
            )
            .await?;
        // Threads: the replies that name a message, and the messages of a thread.
        manager
            .create_index(
                Index::create()
                    .name("mail_messages_in_reply_to")
                    .table(MailMessages::Table)
                    .col(MailMessages::WorkspaceId)
                    .col(MailMessages::InReplyTo)
                    .to_owned(),
            )
            .await?;
        // The mail log, newest first per workspace.
        manager
            .create_index(
                Index::create()
                    .name("mail_messages_log")
                    .table(MailMessages::Table)
                    .col(MailMessages::WorkspaceId)
                    .col(MailMessages::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("mail_messages_thread")
                    .table(MailMessages::Table)
                    .col(MailMessages::WorkspaceId)
                    .col(MailMessages::ThreadId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in [
            "mail_messages_thread",
            "mail_messages_log",
            "mail_messages_in_reply_to",
        ] {
            manager
                .drop_index(
                    Index::drop()
                        .name(name)
                        .table(MailMessages::Table)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(MailMailboxes::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden)]
enum MailMessages {
    Table,
    WorkspaceId,
    InReplyTo,
    ThreadId,
    CreatedAt,
    SentByPlugin,
}

#[derive(DeriveIden)]
enum MailMailboxes {
    Table,
    Id,
    WorkspaceId,
    Name,
    Host,
    Port,
    Security,
    Username,
    PasswordSealed,
    Folder,
    Enabled,
    PollSeconds,
    ActingUser,
    UidValidity,
    LastUid,
    Received,
    Skipped,
    NextPollAt,
    LeaseOwner,
    LeaseUntil,
    LastPolledAt,
    LastError,
    CreatedAt,
    UpdatedAt,
}
