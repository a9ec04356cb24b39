//! Polling mailboxes over IMAP. Each mailbox keeps a bookmark: the folder's UIDVALIDITY and
//! the highest UID stored. A poll opens the folder read-only (EXAMINE: nothing is marked
//! read or moved), asks for the UIDs above the bookmark, fetches them in chunks with
//! `BODY.PEEK[]`, receives each through [`inbound::receive`] (the same path as a POSTed
//! message: parsed, threaded, matched to contacts, logged) and moves the bookmark after each
//! chunk. What that gives:
//! - **restarts and crashes:** a message stored but not yet bookmarked is fetched again and
//!   found by its Message-ID (stored once per workspace), so nothing is stored twice or
//!   skipped;
//! - **replicas:** a mailbox is polled by the process that holds its lease (taken by a
//!   conditional update, renewed with each chunk); a bookmark is moved only by the holder;
//! - **a new UIDVALIDITY** (the folder was recreated): the bookmark starts again from 0 and
//!   Message-IDs keep what was stored from coming twice.
//!
//! A message over [`MAX_MESSAGE_BYTES`] or that is not a message at all is skipped with a
//! log line and counted on the mailbox; a connection or login failure is kept as the
//! mailbox's `last_error` and tried again at the next poll.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_imap::{Client, Session};
use futures_util::TryStreamExt;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::{self, pki_types::ServerName};
use uuid::Uuid;

use super::model::mailbox;
use super::{Security, inbound};
use crate::ids::{UserId, WorkspaceId};
use crate::integrations::outbound;
use crate::records::{Actor, Store, now_micros};
use crate::secrets::Sealer;

/// Largest message fetched (the same limit as `POST /mail/inbound`).
pub const MAX_MESSAGE_BYTES: usize = super::api::MAX_INBOUND_BYTES;
/// Messages fetched per command, and their bytes at most (one larger message goes alone).
const CHUNK_MESSAGES: usize = 200;
const CHUNK_BYTES: u64 = 32 * 1024 * 1024;
/// Messages received at once within a chunk.
const RECEIVING: usize = 8;
/// Mailboxes polled at once by one process.
const POLLING: usize = 4;
/// How long a poll holds its mailbox without renewing (each chunk renews).
const LEASE_MICROS: i64 = 30_000_000;
/// How long connecting, logging in or one command may take.
const TIMEOUT: Duration = Duration::from_secs(60);
const TICK: Duration = Duration::from_secs(1);

/// Where a mailbox's password is sealed (its associated data).
pub fn password_place(mailbox: Uuid) -> String {
    format!("imap:{mailbox}")
}

/// Where to log in: a mailbox's connection settings with the password opened.
#[derive(Debug, Clone)]
pub struct Account {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    pub password: String,
    pub folder: String,
}

impl Account {
    pub fn of(row: &mailbox::Model, sealer: &Sealer) -> Result<Account, String> {
        let password = row
            .password_sealed
            .as_deref()
            .and_then(|sealed| sealer.open(sealed, &password_place(row.id)))
            .ok_or(
                "the password cannot be opened (the server's secret key changed): an admin \
                 saves it again",
            )?;
        Ok(Account {
            host: row.host.clone(),
            port: u16::try_from(row.port).unwrap_or(993),
            security: Security::parse(&row.security).unwrap_or(Security::Tls),
            username: row.username.clone(),
            password,
            folder: row.folder.clone(),
        })
    }
}

/// A connection, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + std::fmt::Debug> Io for T {}

pub type ImapSession = Session<Box<dyn Io>>;

async fn timed<T, E: std::fmt::Display>(
    what: &str,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, String> {
    match tokio::time::timeout(TIMEOUT, work).await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(error)) => Err(format!("{what}: {error}")),
        Err(_) => Err(format!("{what}: no answer within {} s", TIMEOUT.as_secs())),
    }
}

async fn tls(host: &str, stream: impl Io + 'static) -> Result<Box<dyn Io>, String> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_platform_verifier())
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_owned()).map_err(|e| format!("TLS: {e}"))?;
    let stream = timed(
        "TLS",
        TlsConnector::from(Arc::new(config)).connect(name, stream),
    )
    .await?;
    Ok(Box::new(stream))
}

async fn greeting(client: &mut Client<Box<dyn Io>>) -> Result<(), String> {
    timed("the server's greeting", async {
        match client.read_response().await {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err("the connection closed".to_owned()),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

/// Connects to the account's server (to an address that passed the workspace's outbound
/// rules), secures the connection as set, and logs in.
pub async fn connect(account: &Account, allowed: &[String]) -> Result<ImapSession, String> {
    let addresses = outbound::resolve_checked(&account.host, account.port, allowed)
        .await
        .map_err(|why| why.to_string())?;
    let where_ = format!("{}:{}", account.host, account.port);
    let tcp = timed(
        &format!("cannot connect to {where_}"),
        TcpStream::connect(&addresses[..]),
    )
    .await?;
    let mut client = match account.security {
        Security::Tls => Client::new(tls(&account.host, tcp).await?),
        Security::None => Client::new(Box::new(tcp) as Box<dyn Io>),
        Security::StartTls => {
            let mut plain = Client::new(Box::new(tcp) as Box<dyn Io>);
            greeting(&mut plain).await?;
            timed("STARTTLS", plain.run_command_and_check_ok("STARTTLS", None)).await?;
            Client::new(tls(&account.host, plain.into_inner()).await?)
        }
    };
    // A server greets once per connection: before STARTTLS, not after it.
    if account.security != Security::StartTls {
        greeting(&mut client).await?;
    }
    timed("login", async {
        client
            .login(&account.username, &account.password)
            .await
            .map_err(|(error, _)| format!("the server refused the login ({error})"))
    })
    .await
}

/// Whether the account's server answers, takes the login and has the folder: the answer for
/// an admin setting a mailbox up, with the number of messages in the folder.
pub async fn test(account: &Account, allowed: &[String]) -> Result<u32, String> {
    let mut session = connect(account, allowed).await?;
    let folder = timed("opening the folder", session.examine(&account.folder)).await?;
    timed("logout", session.logout()).await.ok();
    Ok(folder.exists)
}

/// Polls the workspaces' mailboxes that are due.
pub struct Poller {
    store: Arc<Store>,
    sealer: Arc<Sealer>,
    /// This process, as the holder of the leases it takes.
    owner: Uuid,
}

/// What one poll did.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    received: i64,
    skipped: i64,
}

impl Poller {
    pub fn new(store: Arc<Store>, sealer: Arc<Sealer>) -> Arc<Poller> {
        Arc::new(Poller {
            store,
            sealer,
            owner: Uuid::now_v7(),
        })
    }

    pub async fn run(self: Arc<Self>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut polling = JoinSet::new();
        loop {
            tick.tick().await;
            while polling.try_join_next().is_some() {}
            if let Err(error) = inbound::log_unlogged(&self.store, &self.sealer).await {
                tracing::warn!(%error, "logging received mail failed");
            }
            let room = POLLING.saturating_sub(polling.len());
            if room == 0 {
                continue;
            }
            match self.take(room).await {
                Ok(taken) => {
                    for row in taken {
                        let me = self.clone();
                        polling.spawn(async move { me.poll_and_record(row).await });
                    }
                }
                Err(error) => tracing::warn!(%error, "finding mailboxes to poll failed"),
            }
        }
    }

    /// Leases up to `room` due mailboxes to this process.
    async fn take(&self, room: usize) -> Result<Vec<mailbox::Model>, DbErr> {
        let db = self.store.db();
        let now = now_micros();
        let due = mailbox::Entity::find()
            .filter(mailbox::Column::Enabled.eq(true))
            .filter(mailbox::Column::NextPollAt.lte(now))
            .filter(mailbox::Column::LeaseUntil.lt(now))
            .order_by_asc(mailbox::Column::NextPollAt)
            .limit(room as u64)
            .all(&db.read)
            .await?;
        let mut taken = Vec::new();
        for row in due {
            let won = mailbox::Entity::update_many()
                .col_expr(mailbox::Column::LeaseOwner, Expr::value(self.owner))
                .col_expr(mailbox::Column::LeaseUntil, Expr::value(now + LEASE_MICROS))
                .filter(mailbox::Column::Id.eq(row.id))
                .filter(mailbox::Column::LeaseUntil.lt(now))
                .exec(&db.write)
                .await?
                .rows_affected
                == 1;
            if won {
                taken.push(row);
            }
        }
        Ok(taken)
    }

    async fn poll_and_record(&self, row: mailbox::Model) {
        let outcome = self.poll(&row).await;
        if let Err(error) = &outcome {
            tracing::warn!(mailbox = %row.id, %error, "polling a mailbox failed");
        }
        let now = now_micros();
        let next = now + Ord::max(i64::from(row.poll_seconds), 1) * 1_000_000;
        let finished = mailbox::Entity::update_many()
            .col_expr(mailbox::Column::LastPolledAt, Expr::value(now))
            .col_expr(mailbox::Column::LastError, Expr::value(outcome.err()))
            .col_expr(mailbox::Column::NextPollAt, Expr::value(next))
            .col_expr(mailbox::Column::LeaseUntil, Expr::value(0))
            .col_expr(
                mailbox::Column::LeaseOwner,
                Expr::value(Option::<Uuid>::None),
            )
            .filter(mailbox::Column::Id.eq(row.id))
            .filter(mailbox::Column::LeaseOwner.eq(self.owner))
            .exec(&self.store.db().write)
            .await;
        if let Err(error) = finished {
            tracing::warn!(mailbox = %row.id, %error, "recording a poll failed");
        }
    }

    /// Moves the bookmark (and renews the lease) if this process still holds the mailbox.
    async fn bookmark(
        &self,
        id: Uuid,
        validity: i64,
        last_uid: i64,
        counts: Counts,
    ) -> Result<(), String> {
        let moved = mailbox::Entity::update_many()
            .col_expr(mailbox::Column::UidValidity, Expr::value(validity))
            .col_expr(mailbox::Column::LastUid, Expr::value(last_uid))
            .col_expr(
                mailbox::Column::Received,
                Expr::col(mailbox::Column::Received).add(counts.received),
            )
            .col_expr(
                mailbox::Column::Skipped,
                Expr::col(mailbox::Column::Skipped).add(counts.skipped),
            )
            .col_expr(
                mailbox::Column::LeaseUntil,
                Expr::value(now_micros() + LEASE_MICROS),
            )
            .filter(mailbox::Column::Id.eq(id))
            .filter(mailbox::Column::LeaseOwner.eq(self.owner))
            .exec(&self.store.db().write)
            .await
            .map_err(|e| format!("saving the bookmark: {e}"))?;
        if moved.rows_affected == 0 {
            return Err("another process took this mailbox over (this poll ran too long)".into());
        }
        Ok(())
    }

    /// One poll: everything above the bookmark, in chunks, the bookmark moved after each.
    async fn poll(&self, row: &mailbox::Model) -> Result<(), String> {
        let db = self.store.db();
        let workspace = WorkspaceId(row.workspace_id);
        let account = Account::of(row, &self.sealer)?;
        let allowed = outbound::allowed_hosts(&db.read, workspace)
            .await
            .map_err(|e| e.to_string())?;
        let own = super::settings(db, &self.sealer, workspace)
            .await
            .map_err(|e| e.to_string())?
            .map(|s| s.from_address);
        let mut session = connect(&account, &allowed).await?;
        let folder = timed(
            &format!("opening {}", account.folder),
            session.examine(&account.folder),
        )
        .await?;
        let validity = i64::from(
            folder
                .uid_validity
                .ok_or("the server did not give the folder's UIDVALIDITY")?,
        );
        // A new UIDVALIDITY: the old UIDs mean nothing; start again (Message-IDs keep what
        // was stored from being stored twice).
        let mut last = row.last_uid;
        if row.uid_validity != Some(validity) {
            last = 0;
            self.bookmark(row.id, validity, 0, Counts::default())
                .await?;
        }
        let found = timed(
            "searching for new messages",
            session.uid_search(format!("UID {}:*", last + 1)),
        )
        .await?;
        // `n:*` names the highest UID even when it is below n.
        let mut uids: Vec<u32> = found
            .into_iter()
            .filter(|uid| i64::from(*uid) > last)
            .collect();
        uids.sort_unstable();
        let actor = Actor::system(workspace, UserId(row.acting_user));
        for group in uids.chunks(CHUNK_MESSAGES) {
            let sizes = fetch_sizes(&mut session, group).await?;
            for chunk in by_bytes(group, &sizes) {
                let mut counts = Counts::default();
                let small: Vec<u32> = chunk
                    .iter()
                    .copied()
                    .filter(|uid| {
                        let size = sizes.get(uid).copied().unwrap_or(0);
                        let fits = usize::try_from(size).is_ok_and(|s| s <= MAX_MESSAGE_BYTES);
                        if !fits {
                            tracing::warn!(mailbox = %row.id, uid, size, "a message over 25 MiB was skipped");
                            counts.skipped += 1;
                        }
                        fits
                    })
                    .collect();
                let bodies = fetch_bodies(&mut session, &small).await?;
                counts.skipped += (small.len() - bodies.len()) as i64;
                let results = self.receive_all(&actor, own.as_deref(), bodies).await;
                for (uid, result) in results {
                    match result {
                        Ok(true) => counts.received += 1,
                        Ok(false) => {}
                        Err(inbound::InboundError::NotAMessage) => {
                            tracing::warn!(mailbox = %row.id, uid, "a message that is not RFC 822 was skipped");
                            counts.skipped += 1;
                        }
                        Err(error) => {
                            // The bookmark stays before this chunk: it is fetched again at
                            // the next poll, and what was stored is found by Message-ID.
                            return Err(format!("storing message UID {uid}: {error}"));
                        }
                    }
                }
                if let Some(highest) = chunk.last() {
                    last = i64::from(*highest);
                }
                self.bookmark(row.id, validity, last, counts).await?;
            }
        }
        timed("logout", session.logout()).await.ok();
        Ok(())
    }

    /// Receives a chunk's messages: those that answer none [`RECEIVING`] at a time, then the
    /// replies one by one in UID order, so each finds the thread of what it answers. Answers
    /// per UID whether each was new.
    async fn receive_all(
        &self,
        actor: &Actor,
        own: Option<&str>,
        bodies: Vec<(u32, Vec<u8>)>,
    ) -> Vec<(u32, Result<bool, inbound::InboundError>)> {
        use futures_util::StreamExt;
        let receive = |(uid, raw): (u32, Vec<u8>)| async move {
            let result = inbound::receive(&self.store, actor, own, &raw)
                .await
                .map(|received| !received.duplicate);
            (uid, result)
        };
        let (replies, firsts): (Vec<_>, Vec<_>) = bodies
            .into_iter()
            .partition(|(_, raw)| inbound::is_reply(raw));
        let mut results: Vec<_> = futures_util::stream::iter(firsts)
            .map(receive)
            .buffered(RECEIVING)
            .collect()
            .await;
        for reply in replies {
            results.push(receive(reply).await);
        }
        results
    }
}

fn uid_set(uids: &[u32]) -> String {
    uids.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

async fn fetch_sizes(
    session: &mut ImapSession,
    uids: &[u32],
) -> Result<BTreeMap<u32, u32>, String> {
    timed("fetching sizes", async {
        session
            .uid_fetch(uid_set(uids), "(UID RFC822.SIZE)")
            .await?
            .try_filter_map(|fetch| async move { Ok(fetch.uid.zip(fetch.size)) })
            .try_collect::<BTreeMap<u32, u32>>()
            .await
    })
    .await
}

async fn fetch_bodies(
    session: &mut ImapSession,
    uids: &[u32],
) -> Result<Vec<(u32, Vec<u8>)>, String> {
    if uids.is_empty() {
        return Ok(Vec::new());
    }
    let mut bodies: Vec<(u32, Vec<u8>)> = timed("fetching messages", async {
        session
            .uid_fetch(uid_set(uids), "(UID BODY.PEEK[])")
            .await?
            .try_filter_map(
                |fetch| async move { Ok(fetch.uid.zip(fetch.body().map(<[u8]>::to_vec))) },
            )
            .try_collect()
            .await
    })
    .await?;
    bodies.sort_unstable_by_key(|(uid, _)| *uid);
    Ok(bodies)
}

/// Splits UIDs into runs of at most [`CHUNK_BYTES`] (a larger message alone).
fn by_bytes<'a>(uids: &'a [u32], sizes: &BTreeMap<u32, u32>) -> Vec<&'a [u32]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, uid) in uids.iter().enumerate() {
        let size = u64::from(sizes.get(uid).copied().unwrap_or(0));
        if i > start && bytes + size > CHUNK_BYTES {
            chunks.push(&uids[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < uids.len() {
        chunks.push(&uids[start..]);
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_keep_order_and_stay_under_the_byte_limit() {
        let uids = [1, 2, 3, 4, 5];
        let mb = 1024 * 1024;
        let sizes: BTreeMap<u32, u32> =
            [(1, 10 * mb), (2, 20 * mb), (3, 40 * mb), (4, mb), (5, mb)].into();
        assert_eq!(
            by_bytes(&uids, &sizes),
            vec![&[1, 2][..], &[3][..], &[4, 5][..]]
        );
        assert!(by_bytes(&[], &sizes).is_empty());
        assert_eq!(uid_set(&[3, 7, 9]), "3,7,9");
    }
}
