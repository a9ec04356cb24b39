//! Sending: a message is queued (a durable row) before the request that sends it is answered;
//! a sender takes due messages by leasing them (one conditional update per batch, so replicas
//! never send the same message at once), sends them over a pooled SMTP connection per
//! workspace, and records each server's answer. A temporary failure (4xx, a connection that
//! fails) is retried after 1 min, 5 min, 15 min, 1 h, 4 h; a permanent one (5xx) fails at
//! once. A process killed between the server's answer and its recording sends that message
//! again when the lease runs out (at least once; the Message-ID is the same, so a receiving
//! client can tell).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    TransactionTrait,
};
use serde_json::json;
use uuid::Uuid;

use super::model::message;
use super::{Security, Settings};
use crate::db::Db;
use crate::error::error_chain;
use crate::ids::WorkspaceId;
use crate::records::now_micros;
use crate::secrets::Sealer;

/// Waits between tries: 1 min, 5 min, 15 min, 1 h, 4 h; six tries in all.
const RETRY_SECONDS: [i64; 5] = [60, 300, 900, 3_600, 14_400];
pub const MAX_ATTEMPTS: i32 = RETRY_SECONDS.len() as i32 + 1;
/// Messages taken per round, and in flight per workspace.
const BATCH: u64 = 200;
const IN_FLIGHT: usize = 16;
/// How long a taken message is the taker's.
const LEASE_MICROS: i64 = 120_000_000;
/// How long one SMTP exchange may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A message to queue: addresses already checked.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub to: Vec<String>,
    pub cc: Vec<String>,
    pub subject: String,
    pub body: String,
    /// The message this one answers (its Message-ID), and that message's thread.
    pub in_reply_to: Option<(String, String)>,
}

/// Queues a message from the workspace's address, parked (never due) until the caller sets
/// `next_at`; answers its row. The Message-ID is made here (`<uuid@from-domain>`), so it is
/// known before anything is sent.
pub async fn queue(
    db: &Db,
    workspace: WorkspaceId,
    settings: &Settings,
    created_by: Option<Uuid>,
    plugin: Option<&str>,
    outgoing: &Outgoing,
) -> Result<message::Model, DbErr> {
    let id = Uuid::now_v7();
    let domain = settings
        .from_address
        .rsplit_once('@')
        .map_or("kith.invalid", |(_, d)| d);
    let message_id = format!("{}@{domain}", id.simple());
    let thread = outgoing
        .in_reply_to
        .as_ref()
        .map_or_else(|| message_id.clone(), |(_, thread)| thread.clone());
    let now = now_micros();
    let row = message::ActiveModel {
        id: Set(id),
        workspace_id: Set(workspace.0),
        direction: Set("out".to_owned()),
        activity_id: Set(None),
        message_id: Set(message_id),
        in_reply_to: Set(outgoing.in_reply_to.as_ref().map(|(id, _)| id.clone())),
        thread_id: Set(thread),
        from_address: Set(settings.from_address.clone()),
        to_addresses: Set(json!(outgoing.to)),
        cc_addresses: Set(json!(outgoing.cc)),
        subject: Set(outgoing.subject.clone()),
        body_text: Set(outgoing.body.clone()),
        attachments: Set(json!([])),
        status: Set("queued".to_owned()),
        attempts: Set(0),
        // Parked: the caller makes it due once its activity is logged.
        next_at: Set(i64::MAX),
        lease_until: Set(0),
        last_error: Set(None),
        server_reply: Set(None),
        created_by: Set(created_by),
        sent_by_plugin: Set(plugin.map(str::to_owned)),
        created_at: Set(now),
        sent_at: Set(None),
    };
    message::Entity::insert(row)
        .exec_with_returning(&db.write)
        .await
}

/// How many messages `plugin` queued in the workspace since `since` (micros): what its hourly
/// grant is counted against.
pub async fn sent_by_plugin_since(
    db: &Db,
    workspace: WorkspaceId,
    plugin: &str,
    since: i64,
) -> Result<u64, DbErr> {
    use sea_orm::PaginatorTrait;
    message::Entity::find()
        .filter(message::Column::WorkspaceId.eq(workspace.0))
        .filter(message::Column::SentByPlugin.eq(plugin))
        .filter(message::Column::CreatedAt.gt(since))
        .count(&db.read)
        .await
}

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// A transport for the settings: pooled connections, STARTTLS required or TLS from the start
/// (certificates checked against the system's roots), credentials when a user is set.
pub fn transport(settings: &Settings) -> Result<Transport, String> {
    let builder = match settings.security {
        Security::StartTls => Transport::starttls_relay(&settings.host),
        Security::Tls => Transport::relay(&settings.host),
        Security::None => Ok(Transport::builder_dangerous(&settings.host)),
    }
    .map_err(|e| format!("cannot use {}: {e}", settings.host))?;
    let mut builder = builder
        .port(settings.port)
        .timeout(Some(TIMEOUT))
        .pool_config(PoolConfig::new().max_size(8));
    if !settings.username.is_empty() {
        builder = builder.credentials(Credentials::new(
            settings.username.clone(),
            settings.password.clone().unwrap_or_default(),
        ));
    }
    Ok(builder.build())
}

/// Whether the server of the settings answers and accepts the login: the answer for an admin
/// who is setting it up (never a server error of Kith's own).
pub async fn test_connection(settings: &Settings) -> Result<(), String> {
    let transport = transport(settings)?;
    match tokio::time::timeout(TIMEOUT, transport.test_connection()).await {
        Ok(Ok(true)) => Ok(()),
        Ok(Ok(false)) => Err(format!(
            "{}:{} did not accept the connection",
            settings.host, settings.port
        )),
        Ok(Err(error)) => Err(error_chain(&error)),
        Err(_) => Err(format!(
            "{}:{} did not answer within {} s",
            settings.host,
            settings.port,
            TIMEOUT.as_secs()
        )),
    }
}

/// The RFC 5322 message of a queued row.
fn build(row: &message::Model, settings: &Settings) -> Result<lettre::Message, String> {
    let from_address = settings
        .from_address
        .parse()
        .map_err(|_| format!("the from address `{}` is invalid", settings.from_address))?;
    let from_name = (!settings.from_name.is_empty()).then(|| settings.from_name.clone());
    let mut builder = lettre::Message::builder()
        .from(Mailbox::new(from_name, from_address))
        .subject(row.subject.clone())
        .message_id(Some(format!("<{}>", row.message_id)));
    let addresses = |list: &serde_json::Value| -> Vec<String> {
        serde_json::from_value(list.clone()).unwrap_or_default()
    };
    for to in addresses(&row.to_addresses) {
        builder = builder.to(to
            .parse()
            .map_err(|_| format!("`{to}` is not an address"))?);
    }
    for cc in addresses(&row.cc_addresses) {
        builder = builder.cc(cc
            .parse()
            .map_err(|_| format!("`{cc}` is not an address"))?);
    }
    if let Some(parent) = &row.in_reply_to {
        builder = builder
            .in_reply_to(format!("<{parent}>"))
            .references(format!("<{}> <{parent}>", row.thread_id));
    }
    builder
        .header(ContentType::TEXT_PLAIN)
        .body(row.body_text.clone())
        .map_err(|e| format!("cannot build the message: {e}"))
}

/// Sends queued mail of every workspace, twice a second.
pub struct Sender {
    db: Db,
    sealer: Arc<Sealer>,
    transports: Mutex<HashMap<Uuid, (i64, Transport)>>,
}

/// What became of one try.
enum Outcome {
    Sent(String),
    Retry(String),
    Failed(String),
}

impl Sender {
    pub fn new(db: Db, sealer: Arc<Sealer>) -> Arc<Sender> {
        Arc::new(Sender {
            db,
            sealer,
            transports: Mutex::new(HashMap::new()),
        })
    }

    pub async fn run(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            loop {
                match self.round().await {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(error) => {
                        tracing::warn!(%error, "sending mail failed");
                        break;
                    }
                }
            }
        }
    }

    /// Takes the due messages (a batch, leased to this process) and sends them; answers how
    /// many it took.
    async fn round(&self) -> Result<usize, DbErr> {
        let now = now_micros();
        let due: Vec<Uuid> = message::Entity::find()
            .select_only()
            .column(message::Column::Id)
            .filter(message::Column::Status.eq("queued"))
            .filter(message::Column::NextAt.lte(now))
            .filter(message::Column::LeaseUntil.lt(now))
            .order_by_asc(message::Column::NextAt)
            .limit(BATCH)
            .into_tuple()
            .all(&self.db.read)
            .await?;
        if due.is_empty() {
            return Ok(0);
        }
        // A lease value of this round alone: the rows that carry it are the ones it took.
        let mut salt = [0u8; 2];
        getrandom::fill(&mut salt).ok();
        let lease = now + LEASE_MICROS + i64::from(u16::from_le_bytes(salt));
        message::Entity::update_many()
            .col_expr(message::Column::LeaseUntil, Expr::value(lease))
            .filter(message::Column::Id.is_in(due))
            .filter(message::Column::Status.eq("queued"))
            .filter(message::Column::LeaseUntil.lt(now))
            .exec(&self.db.write)
            .await?;
        let taken = message::Entity::find()
            .filter(message::Column::LeaseUntil.eq(lease))
            .filter(message::Column::Status.eq("queued"))
            .all(&self.db.read)
            .await?;
        let count = taken.len();
        let mut by_workspace: HashMap<Uuid, Vec<message::Model>> = HashMap::new();
        for row in taken {
            by_workspace.entry(row.workspace_id).or_default().push(row);
        }
        let mut outcomes = Vec::with_capacity(count);
        for (workspace, rows) in by_workspace {
            outcomes.extend(self.send_workspace(WorkspaceId(workspace), rows).await?);
        }
        self.record(outcomes).await?;
        Ok(count)
    }

    /// Sends one workspace's taken messages, [`IN_FLIGHT`] at a time.
    async fn send_workspace(
        &self,
        workspace: WorkspaceId,
        rows: Vec<message::Model>,
    ) -> Result<Vec<(message::Model, Outcome)>, DbErr> {
        let Some(settings) = super::settings(&self.db, &self.sealer, workspace).await? else {
            let why = "mail is not set up in this workspace (Settings → Mail)";
            return Ok(rows
                .into_iter()
                .map(|row| (row, Outcome::Retry(why.to_owned())))
                .collect());
        };
        let transport = match self.transport_for(workspace, &settings) {
            Ok(transport) => transport,
            Err(why) => {
                return Ok(rows
                    .into_iter()
                    .map(|row| (row, Outcome::Retry(why.clone())))
                    .collect());
            }
        };
        let gate = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        let mut sends = tokio::task::JoinSet::new();
        for row in rows {
            let (transport, gate, settings) = (transport.clone(), gate.clone(), settings.clone());
            sends.spawn(async move {
                let _permit = gate.acquire_owned().await;
                let outcome = match build(&row, &settings) {
                    Err(why) => Outcome::Failed(why),
                    Ok(message) => match transport.send(message).await {
                        Ok(reply) => Outcome::Sent(format!(
                            "{} {}",
                            reply.code(),
                            reply.message().collect::<Vec<_>>().join(" ")
                        )),
                        Err(error) if error.is_permanent() => Outcome::Failed(error_chain(&error)),
                        Err(error) => Outcome::Retry(error_chain(&error)),
                    },
                };
                (row, outcome)
            });
        }
        let mut outcomes = Vec::new();
        while let Some(joined) = sends.join_next().await {
            if let Ok(outcome) = joined {
                outcomes.push(outcome);
            }
        }
        Ok(outcomes)
    }

    /// The workspace's pooled transport, rebuilt when its settings changed.
    fn transport_for(
        &self,
        workspace: WorkspaceId,
        settings: &Settings,
    ) -> Result<Transport, String> {
        let mut cache = self
            .transports
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((at, transport)) = cache.get(&workspace.0)
            && *at == settings.updated_at
        {
            return Ok(transport.clone());
        }
        let transport = transport(settings)?;
        cache.insert(workspace.0, (settings.updated_at, transport.clone()));
        Ok(transport)
    }

    /// Writes the outcomes in one transaction and lets the leases go: the sent in one
    /// statement per distinct server answer, each other outcome on its own.
    async fn record(&self, outcomes: Vec<(message::Model, Outcome)>) -> Result<(), DbErr> {
        let now = now_micros();
        let mut sent: HashMap<String, Vec<Uuid>> = HashMap::new();
        let txn = self.db.write.begin().await?;
        for (row, outcome) in outcomes {
            let attempts = row.attempts.saturating_add(1);
            let update = message::Entity::update_many()
                .col_expr(message::Column::Attempts, Expr::value(attempts))
                .col_expr(message::Column::LeaseUntil, Expr::value(0i64))
                .filter(message::Column::Id.eq(row.id));
            let update = match outcome {
                Outcome::Sent(reply) => {
                    sent.entry(reply).or_default().push(row.id);
                    continue;
                }
                Outcome::Retry(why) if attempts < MAX_ATTEMPTS => {
                    let index = usize::try_from(attempts - 1).unwrap_or(0);
                    let wait = RETRY_SECONDS[index.min(RETRY_SECONDS.len() - 1)];
                    update
                        .col_expr(message::Column::LastError, Expr::value(why))
                        .col_expr(message::Column::NextAt, Expr::value(now + wait * 1_000_000))
                }
                Outcome::Retry(why) | Outcome::Failed(why) => update
                    .col_expr(message::Column::Status, Expr::value("failed"))
                    .col_expr(message::Column::LastError, Expr::value(why)),
            };
            update.exec(&txn).await?;
        }
        for (reply, ids) in sent {
            message::Entity::update_many()
                .col_expr(
                    message::Column::Attempts,
                    sea_orm::sea_query::ExprTrait::add(Expr::col(message::Column::Attempts), 1),
                )
                .col_expr(message::Column::LeaseUntil, Expr::value(0i64))
                .col_expr(message::Column::Status, Expr::value("sent"))
                .col_expr(message::Column::ServerReply, Expr::value(reply))
                .col_expr(
                    message::Column::LastError,
                    Expr::value(Option::<String>::None),
                )
                .col_expr(message::Column::SentAt, Expr::value(now))
                .filter(message::Column::Id.is_in(ids))
                .exec(&txn)
                .await?;
        }
        txn.commit().await
    }
}

/// Puts a failed message back in the queue now, its tries counted afresh (admins).
pub async fn retry(db: &Db, workspace: WorkspaceId, id: Uuid) -> Result<bool, DbErr> {
    let done = message::Entity::update_many()
        .col_expr(message::Column::Status, Expr::value("queued"))
        .col_expr(message::Column::Attempts, Expr::value(0))
        .col_expr(message::Column::NextAt, Expr::value(now_micros()))
        .filter(message::Column::Id.eq(id))
        .filter(message::Column::WorkspaceId.eq(workspace.0))
        .filter(message::Column::Status.eq("failed"))
        .exec(&db.write)
        .await?;
    Ok(done.rows_affected == 1)
}
