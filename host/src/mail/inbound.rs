//! Receiving: a raw RFC 822 message is parsed (MIME, encoded words, charsets such as GB2312,
//! GBK, Big5 and ISO-8859-x through mail-parser), stored once per Message-ID (a provider that
//! posts it again gets the first result), put in its thread (In-Reply-To, then References,
//! naming a message Kith holds), matched to contacts by address, and logged on their
//! timelines as an `email` activity. Attachments are listed (name, type, size) and their
//! bytes kept, each up to [`MAX_ATTACHMENT_BYTES`] (a larger one is listed as not kept).
//!
//! A reply that arrives before the message it answers starts a thread of its own and joins
//! the answered message's thread when that arrives.
//!
//! Storing the message and logging its activity are two writes: the stored row is claimed
//! while it is logged, and a row whose receiver died in between (its claim ran out) is logged
//! by [`log_unlogged`], which the mailbox poller runs, so a crash never leaves a message off
//! the timeline nor logs it twice.

use mail_parser::{Address, HeaderValue, MessageParser, MimeHeaders};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, TransactionTrait,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::model::{attachment, message};
use super::{check_header_text, contacts_by_address, links_of, log_activity};
use crate::db::Db;
use crate::i18n::text;
use crate::ids::{RecordId, UserId, WorkspaceId, hex};
use crate::records::{Actor, RecordError, Store, now_micros};
use crate::secrets::Sealer;

#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    #[error("{}", text!("api-access-not-a-message"))]
    NotAMessage,
    #[error(transparent)]
    Store(#[from] RecordError),
    #[error(transparent)]
    Database(#[from] DbErr),
}

/// Largest attachment whose bytes are kept.
pub const MAX_ATTACHMENT_BYTES: usize = 10 * 1024 * 1024;

/// What became of a received message.
#[derive(Debug)]
pub struct Received {
    pub message: message::Model,
    pub contacts: Vec<RecordId>,
    /// The message was received before (same Message-ID): nothing new was stored.
    pub duplicate: bool,
}

/// A Message-ID without its angle brackets and surrounding space.
fn bare_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(500)
        .collect()
}

/// The ids a header names (In-Reply-To, References): one or a list.
fn ids_of(header: &HeaderValue<'_>) -> Vec<String> {
    match header {
        HeaderValue::Text(text) => vec![bare_id(text)],
        HeaderValue::TextList(list) => list.iter().map(|t| bare_id(t)).collect(),
        _ => Vec::new(),
    }
    .into_iter()
    .filter(|id| !id.is_empty())
    .collect()
}

/// The lowercase addresses of an address header.
fn addresses(header: Option<&Address<'_>>) -> Vec<String> {
    header
        .map(|list| {
            list.iter()
                .filter_map(|addr| addr.address())
                .map(|a| a.trim().to_lowercase())
                .filter(|a| !a.is_empty() && !a.chars().any(char::is_control))
                .collect()
        })
        .unwrap_or_default()
}

/// Receives one raw message into the actor's workspace, acting as `actor` (whose rights decide
/// which contacts it can be matched to and whether it can be logged).
pub async fn receive(
    store: &Store,
    actor: &Actor,
    own_address: Option<&str>,
    raw: &[u8],
) -> Result<Received, InboundError> {
    let parsed = MessageParser::default()
        .parse(raw)
        .filter(|m| {
            m.from().is_some()
                || m.subject().is_some()
                || m.date().is_some()
                || m.message_id().is_some()
        })
        .ok_or(InboundError::NotAMessage)?;
    let message_id = parsed
        .message_id()
        .map(bare_id)
        .filter(|id| !id.is_empty())
        .unwrap_or_else(|| format!("kith-{}", &hex(&Sha256::digest(raw))[..40]));
    let db = store.db();
    let workspace = actor.workspace.0;
    let existing = |id: String| {
        message::Entity::find()
            .filter(message::Column::WorkspaceId.eq(workspace))
            .filter(message::Column::MessageId.eq(id))
            .filter(message::Column::Direction.eq("in"))
            .one(&db.read)
    };
    if let Some(first) = existing(message_id.clone()).await? {
        return Ok(Received {
            message: first,
            contacts: Vec::new(),
            duplicate: true,
        });
    }
    let from = addresses(parsed.from())
        .into_iter()
        .next()
        .unwrap_or_default();
    let to = addresses(parsed.to());
    let cc = addresses(parsed.cc());
    let subject = parsed
        .subject()
        .map(|s| {
            let clean: String = s
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            check_header_text(&clean, 10_000).unwrap_or_default()
        })
        .unwrap_or_default();
    let body = parsed
        .body_text(0)
        .map(|b| b.chars().take(super::MAX_BODY_CHARS).collect::<String>())
        .unwrap_or_default();
    let in_reply_to = ids_of(parsed.in_reply_to()).into_iter().next();
    let mut named = ids_of(parsed.references());
    named.extend(in_reply_to.clone());
    let thread = message::Entity::find()
        .filter(message::Column::WorkspaceId.eq(workspace))
        .filter(message::Column::MessageId.is_in(named))
        .one(&db.read)
        .await?
        .map_or_else(|| message_id.clone(), |parent| parent.thread_id);
    let parts: Vec<(String, String, &[u8])> = parsed
        .attachments()
        .map(|part| {
            let kind = part.content_type().map_or_else(
                || "application/octet-stream".to_owned(),
                |t| match t.subtype() {
                    Some(sub) => format!("{}/{sub}", t.ctype()),
                    None => t.ctype().to_owned(),
                },
            );
            let name: String = part
                .attachment_name()
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_control())
                .take(255)
                .collect();
            (name, kind.chars().take(255).collect(), part.contents())
        })
        .collect();
    let attachments: Vec<Value> = parts
        .iter()
        .map(|(name, kind, bytes)| {
            json!({
                "name": name,
                "type": kind,
                "size": bytes.len(),
                "kept": bytes.len() <= MAX_ATTACHMENT_BYTES,
            })
        })
        .collect();
    let now = now_micros();
    let id = Uuid::now_v7();
    let row = message::ActiveModel {
        id: Set(id),
        workspace_id: Set(workspace),
        direction: Set("in".to_owned()),
        activity_id: Set(None),
        message_id: Set(message_id.clone()),
        in_reply_to: Set(in_reply_to),
        thread_id: Set(thread),
        from_address: Set(from),
        to_addresses: Set(json!(to)),
        cc_addresses: Set(json!(cc)),
        subject: Set(subject),
        body_text: Set(body),
        attachments: Set(Value::Array(attachments)),
        // Receiving until its activity is logged, claimed till `next_at`: a process that
        // dies before logging it leaves the claim to run out, and [`log_unlogged`] logs it.
        status: Set("receiving".to_owned()),
        attempts: Set(0),
        next_at: Set(now + LOGGING_LEASE_MICROS),
        lease_until: Set(0),
        last_error: Set(None),
        server_reply: Set(None),
        created_by: Set(Some(actor.user.0)),
        sent_by_plugin: Set(None),
        created_at: Set(now),
        sent_at: Set(None),
    };
    // The unique (workspace, Message-ID, direction) index makes one of two concurrent posts
    // of the same message the receiver; the other reads what it stored.
    // The message and its attachments' bytes are stored together or not at all.
    let inserted = async {
        let txn = db.write.begin().await?;
        let stored = message::Entity::insert(row)
            .exec_with_returning(&txn)
            .await?;
        for (position, (name, kind, bytes)) in parts.iter().enumerate() {
            if bytes.len() > MAX_ATTACHMENT_BYTES {
                continue;
            }
            attachment::Entity::insert(attachment::ActiveModel {
                message_id: Set(id),
                position: Set(i32::try_from(position).unwrap_or(i32::MAX)),
                workspace_id: Set(workspace),
                name: Set(name.clone()),
                content_type: Set(kind.clone()),
                content: Set(bytes.to_vec()),
            })
            .exec_without_returning(&txn)
            .await?;
        }
        txn.commit().await?;
        Ok::<_, DbErr>(stored)
    }
    .await;
    let stored = match inserted {
        Ok(stored) => stored,
        Err(error) => {
            return match existing(message_id).await? {
                Some(first) => Ok(Received {
                    message: first,
                    contacts: Vec::new(),
                    duplicate: true,
                }),
                None => Err(error.into()),
            };
        }
    };
    adopt_replies(db, &stored).await?;
    match log(store, actor, own_address, &stored).await {
        Ok(done) => Ok(done),
        Err(error) => {
            attachment::Entity::delete_many()
                .filter(attachment::Column::MessageId.eq(stored.id))
                .exec(&db.write)
                .await?;
            message::Entity::delete_by_id(stored.id)
                .exec(&db.write)
                .await?;
            Err(error)
        }
    }
}

/// Replies that arrived before the message they answer began threads of their own: they (and
/// what threaded onto them) join its thread now.
async fn adopt_replies(db: &Db, stored: &message::Model) -> Result<(), DbErr> {
    let early: Vec<String> = message::Entity::find()
        .select_only()
        .column(message::Column::MessageId)
        .filter(message::Column::WorkspaceId.eq(stored.workspace_id))
        .filter(message::Column::InReplyTo.eq(stored.message_id.as_str()))
        .filter(Expr::col(message::Column::ThreadId).eq(Expr::col(message::Column::MessageId)))
        .into_tuple()
        .all(&db.read)
        .await?;
    if early.is_empty() {
        return Ok(());
    }
    message::Entity::update_many()
        .col_expr(
            message::Column::ThreadId,
            Expr::value(stored.thread_id.as_str()),
        )
        .filter(message::Column::WorkspaceId.eq(stored.workspace_id))
        .filter(message::Column::ThreadId.is_in(early))
        .exec(&db.write)
        .await?;
    Ok(())
}

/// Whether a raw message names others in its header (In-Reply-To, References): a reply,
/// received after the messages before it so that it finds their thread.
pub fn is_reply(raw: &[u8]) -> bool {
    let lf = raw.windows(2).position(|w| w == b"\n\n");
    let crlf = raw.windows(4).position(|w| w == b"\r\n\r\n");
    let header_end = lf.into_iter().chain(crlf).min().unwrap_or(raw.len());
    raw[..header_end].split(|b| *b == b'\n').any(|line| {
        let line = line.to_ascii_lowercase();
        line.starts_with(b"in-reply-to:") || line.starts_with(b"references:")
    })
}

/// How long a receiver has to log a stored message before another process may.
const LOGGING_LEASE_MICROS: i64 = 30_000_000;

/// Logs a stored received message on the timelines of the contacts it names (as `actor`) and
/// records the activity on it.
async fn log(
    store: &Store,
    actor: &Actor,
    own_address: Option<&str>,
    stored: &message::Model,
) -> Result<Received, InboundError> {
    let everyone: Vec<String> = std::iter::once(stored.from_address.clone())
        .chain(super::address_list(&stored.to_addresses))
        .chain(super::address_list(&stored.cc_addresses))
        .filter(|a| !a.is_empty() && Some(a.as_str()) != own_address)
        .collect();
    let contacts = contacts_by_address(store, actor, &everyone).await?;
    let activity = log_activity(store, actor, stored, links_of(&contacts, &[])).await?;
    message::Entity::update_many()
        .col_expr(message::Column::ActivityId, Expr::value(activity.id.0))
        .col_expr(message::Column::Status, Expr::value("received"))
        .filter(message::Column::Id.eq(stored.id))
        .exec(&store.db().write)
        .await?;
    Ok(Received {
        message: message::Model {
            activity_id: Some(activity.id.0),
            status: "received".to_owned(),
            ..stored.clone()
        },
        contacts: contacts.into_iter().map(|c| c.id).collect(),
        duplicate: false,
    })
}

/// Logs the received messages whose receiver died between storing and logging them (their
/// claim ran out), each claimed first so that one process logs it. Answers how many.
pub async fn log_unlogged(store: &Store, sealer: &Sealer) -> Result<usize, InboundError> {
    let db = store.db();
    let now = now_micros();
    let stale = message::Entity::find()
        .filter(message::Column::Status.eq("receiving"))
        .filter(message::Column::NextAt.lt(now))
        .limit(100)
        .all(&db.read)
        .await?;
    let mut logged = 0;
    for row in stale {
        let claimed = message::Entity::update_many()
            .col_expr(
                message::Column::NextAt,
                Expr::value(now + LOGGING_LEASE_MICROS),
            )
            .filter(message::Column::Id.eq(row.id))
            .filter(message::Column::Status.eq("receiving"))
            .filter(message::Column::NextAt.eq(row.next_at))
            .exec(&db.write)
            .await?
            .rows_affected
            == 1;
        let Some(user) = row.created_by.filter(|_| claimed) else {
            continue;
        };
        let workspace = WorkspaceId(row.workspace_id);
        let own = super::settings(db, sealer, workspace)
            .await?
            .map(|s| s.from_address);
        let actor = Actor::system(workspace, UserId(user));
        match log(store, &actor, own.as_deref(), &row).await {
            Ok(_) => logged += 1,
            Err(error) => {
                tracing::warn!(message = %row.id, %error, "logging a received message failed");
            }
        }
    }
    Ok(logged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_told_by_their_header_only() {
        assert!(is_reply(b"From: a@b.c\r\nIn-Reply-To: <x@y>\r\n\r\nbody"));
        assert!(is_reply(b"Subject: s\nreferences: <x@y>\n\nbody"));
        assert!(!is_reply(b"Subject: s\r\n\r\nIn-Reply-To: <x@y>\r\n"));
        assert!(!is_reply(b"Subject: Re: s\r\nX-In-Reply-To: <x@y>\r\n\r\n"));
        assert!(!is_reply(b""));
        assert!(!is_reply(b"Subject: s\r\n\r\nbody\n\nReferences: <x@y>\n"));
    }
}
