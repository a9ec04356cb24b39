//! Kith talking to the world: webhook subscriptions (each following the outbox with a cursor of
//! its own), their deliveries (durable, retried, a log admins read and replay), the hosts an
//! admin lets outbound calls reach although they are private, and the cursor of the event stream
//! published to NATS.

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
                    .table(Webhooks::Table)
                    .col(uuid(Webhooks::Id).primary_key())
                    .col(uuid(Webhooks::WorkspaceId))
                    .col(text(Webhooks::Url))
                    // The event types subscribed to: `["contact.created", "deal.*", "*"]`.
                    .col(json(Webhooks::Events))
                    .col(string(Webhooks::Secret))
                    .col(string(Webhooks::Description).default(""))
                    .col(boolean(Webhooks::Enabled))
                    .col(uuid(Webhooks::CreatedBy))
                    .col(big_integer(Webhooks::CreatedAt))
                    // The last outbox event looked at, and who is looking (one process).
                    .col(big_integer(Webhooks::Seq))
                    .col(big_integer(Webhooks::LeaseUntil).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhooks_workspace")
                    .table(Webhooks::Table)
                    .col(Webhooks::WorkspaceId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookDeliveries::Table)
                    .col(uuid(WebhookDeliveries::Id).primary_key())
                    .col(uuid(WebhookDeliveries::WebhookId))
                    .col(uuid(WebhookDeliveries::WorkspaceId))
                    .col(big_integer(WebhookDeliveries::Seq))
                    .col(uuid(WebhookDeliveries::RecordId))
                    .col(string(WebhookDeliveries::EventType))
                    // The signed body, fixed when the event was taken: retries and replays send
                    // the same bytes.
                    .col(text(WebhookDeliveries::Body))
                    // pending | delivered | failed
                    .col(string(WebhookDeliveries::Status))
                    .col(integer(WebhookDeliveries::Attempts))
                    .col(big_integer(WebhookDeliveries::NextAt))
                    .col(integer_null(WebhookDeliveries::LastStatus))
                    .col(text_null(WebhookDeliveries::LastError))
                    .col(text_null(WebhookDeliveries::LastResponse))
                    .col(big_integer(WebhookDeliveries::CreatedAt))
                    .col(big_integer_null(WebhookDeliveries::DeliveredAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_event")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::WebhookId)
                    .col(WebhookDeliveries::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("webhook_deliveries_status")
                    .table(WebhookDeliveries::Table)
                    .col(WebhookDeliveries::WebhookId)
                    .col(WebhookDeliveries::Status)
                    .col(WebhookDeliveries::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OutboundHosts::Table)
                    .col(uuid(OutboundHosts::WorkspaceId))
                    .col(string(OutboundHosts::Host))
                    .primary_key(
                        Index::create()
                            .col(OutboundHosts::WorkspaceId)
                            .col(OutboundHosts::Host),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(StreamCursors::Table)
                    .col(string(StreamCursors::Name).primary_key())
                    .col(big_integer(StreamCursors::Seq))
                    .col(big_integer(StreamCursors::LeaseUntil).default(0))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            StreamCursors::Table.into_iden(),
            OutboundHosts::Table.into_iden(),
            WebhookDeliveries::Table.into_iden(),
            Webhooks::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}

#[derive(DeriveIden)]
enum Webhooks {
    Table,
    Id,
    WorkspaceId,
    Url,
    Events,
    Secret,
    Description,
    Enabled,
    CreatedBy,
    CreatedAt,
    Seq,
    LeaseUntil,
}

#[derive(DeriveIden)]
enum WebhookDeliveries {
    Table,
    Id,
    WebhookId,
    WorkspaceId,
    Seq,
    RecordId,
    EventType,
    Body,
    Status,
    Attempts,
    NextAt,
    LastStatus,
    LastError,
    LastResponse,
    CreatedAt,
    DeliveredAt,
}

#[derive(DeriveIden)]
enum OutboundHosts {
    Table,
    WorkspaceId,
    Host,
}

#[derive(DeriveIden)]
enum StreamCursors {
    Table,
    Name,
    Seq,
    LeaseUntil,
}
