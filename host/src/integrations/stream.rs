//! The event stream: with `--nats URL`, every committed outbox event is published to a NATS
//! JetStream stream, on the subject `<prefix>.<workspace>.<entity type>.<action>`, with the
//! event id as the message id (`Nats-Msg-Id`), so JetStream drops a message published twice
//! within its duplicate window and a consumer can drop any other repeat by that id.
//!
//! One process publishes (a lease on the cursor row); the cursor moves only past events whose
//! publication JetStream acknowledged, so a restart or kill -9 resumes from the last
//! acknowledged event, republishing at most the batch in flight.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, message::PublishMessage, stream};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::model::stream_cursor as cursor;
use super::{LEASE_MICROS, RENEW_EVERY, event_id, event_json};
use crate::db::Db;
use crate::records::model::outbox;
use crate::records::{Store, micros, now_micros};

/// Events published per step, at most.
const EVENTS_PER_STEP: u64 = 1_000;

/// How long JetStream remembers message ids to drop repeats: longer than any failover (a
/// lease runs out in a minute).
const DUPLICATE_WINDOW: Duration = Duration::from_secs(600);

/// Where the stream goes: the NATS server and the subject prefix (the stream is named after
/// the prefix: `kith` → `KITH`).
#[derive(Debug, Clone)]
pub struct StreamTarget {
    pub url: String,
    pub prefix: String,
}

impl StreamTarget {
    /// The JetStream stream's name: the prefix in capitals, other characters as `_`.
    pub fn stream_name(&self) -> String {
        self.prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    }

    /// The subject of an event.
    pub fn subject(&self, event: &outbox::Model) -> String {
        format!(
            "{}.{}.{}.{}",
            self.prefix, event.workspace_id, event.entity_type, event.event
        )
    }

    /// Checks the prefix: NATS subject tokens, no wildcards or spaces.
    pub fn check(&self) -> Result<(), String> {
        let valid = !self.prefix.is_empty()
            && self.prefix.split('.').all(|token| {
                !token.is_empty()
                    && token
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            });
        if valid {
            Ok(())
        } else {
            Err(format!(
                "`{}` is not a NATS subject prefix (letters, digits, _ and -, in tokens \
                 separated by dots)",
                self.prefix
            ))
        }
    }
}

/// Publishes the outbox to the stream until the process ends, reconnecting after failures.
pub async fn run(store: Arc<Store>, target: StreamTarget) {
    loop {
        if let Err(error) = publish(&store, &target).await {
            tracing::warn!(%error, url = %target.url, "the NATS event stream stopped; retrying");
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Connects, makes sure the stream exists, and publishes while this process holds the lease.
async fn publish(store: &Store, target: &StreamTarget) -> Result<(), Error> {
    let db = store.db();
    let client = async_nats::ConnectOptions::new()
        .name("kith")
        .connect(target.url.as_str())
        .await?;
    let js = jetstream::new(client);
    js.get_or_create_stream(stream::Config {
        name: target.stream_name(),
        subjects: vec![format!("{}.>", target.prefix)],
        duplicate_window: DUPLICATE_WINDOW,
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await?;
    let name = format!("nats:{}", target.stream_name());
    start_cursor(store, &name).await?;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut lease = 0i64;
    let mut seq = 0i64;
    loop {
        tick.tick().await;
        if lease < now_micros() + LEASE_MICROS - micros(RENEW_EVERY) {
            let Some(row) = cursor::Entity::find_by_id(name.clone())
                .one(&db.read)
                .await?
            else {
                start_cursor(store, &name).await?;
                continue;
            };
            if row.lease_until != lease && row.lease_until > now_micros() {
                // Another process publishes.
                lease = 0;
                continue;
            }
            let until = now_micros() + LEASE_MICROS;
            let claimed = cursor::Entity::update_many()
                .col_expr(cursor::Column::LeaseUntil, Expr::value(until))
                .filter(cursor::Column::Name.eq(name.as_str()))
                .filter(cursor::Column::LeaseUntil.eq(row.lease_until))
                .exec(&db.write)
                .await?;
            if claimed.rows_affected != 1 {
                lease = 0;
                continue;
            }
            (lease, seq) = (until, row.seq);
        }
        while let Some(next) = publish_step(db, &js, target, seq).await? {
            let moved = cursor::Entity::update_many()
                .col_expr(cursor::Column::Seq, Expr::value(next))
                .filter(cursor::Column::Name.eq(name.as_str()))
                .filter(cursor::Column::LeaseUntil.eq(lease))
                .exec(&db.write)
                .await?;
            if moved.rows_affected != 1 {
                // The lease was lost (this process stalled past it): start over.
                lease = 0;
                break;
            }
            seq = next;
            if lease < now_micros() + LEASE_MICROS - micros(RENEW_EVERY) {
                break;
            }
        }
    }
}

/// Creates the cursor at the current end of the outbox, the first time the stream is used.
async fn start_cursor(store: &Store, name: &str) -> Result<(), Error> {
    let head = store.outbox_head().await?;
    cursor::Entity::insert(cursor::ActiveModel {
        name: Set(name.to_owned()),
        seq: Set(head),
        lease_until: Set(0),
    })
    .on_conflict(
        OnConflict::column(cursor::Column::Name)
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&store.db().write)
    .await?;
    Ok(())
}

/// Publishes the events after `after` (all workspaces), pipelined, and waits for their acks
/// in order. Answers the last event acknowledged, or `None` when there was nothing new. A
/// failed publish ends the step at the event before it (the error is returned when no event
/// was acknowledged, so the caller reconnects).
async fn publish_step(
    db: &Db,
    js: &jetstream::Context,
    target: &StreamTarget,
    after: i64,
) -> Result<Option<i64>, Error> {
    let events = outbox::Entity::find()
        .filter(outbox::Column::Seq.gt(after))
        .order_by_asc(outbox::Column::Seq)
        .limit(EVENTS_PER_STEP)
        .all(&db.read)
        .await?;
    if events.is_empty() {
        return Ok(None);
    }
    let mut pending = Vec::with_capacity(events.len());
    for event in &events {
        let message = PublishMessage::build()
            .message_id(event_id(event.seq))
            .payload(event_json(event).to_string().into());
        match js.send_publish(target.subject(event), message).await {
            Ok(ack) => pending.push((event.seq, ack)),
            Err(error) => {
                if pending.is_empty() {
                    return Err(error.into());
                }
                break;
            }
        }
    }
    let mut acked = None;
    for (seq, ack) in pending {
        match ack.await {
            Ok(_) => acked = Some(seq),
            Err(error) => match acked {
                Some(_) => break,
                None => return Err(error.into()),
            },
        }
    }
    Ok(acked)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(prefix: &str) -> StreamTarget {
        StreamTarget {
            url: "nats://127.0.0.1:4222".into(),
            prefix: prefix.into(),
        }
    }

    #[test]
    fn a_subject_prefix_is_nats_tokens() {
        for good in ["kith", "acme.crm", "kith-prod_1"] {
            assert!(target(good).check().is_ok(), "{good}");
        }
        for bad in ["", "kith.*", "kith.>", "a b", "a..b", ".kith"] {
            assert!(target(bad).check().is_err(), "{bad:?}");
        }
        assert_eq!(target("acme.crm-1").stream_name(), "ACME_CRM_1");
    }
}
