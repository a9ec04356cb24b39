//! The journal: every write's audit rows and outbox events (appended in its transaction), the
//! audit log as read back, and security events.

use chrono::Utc;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Statement,
};
use serde_json::{Value, json};
use uuid::Uuid;

use super::super::model::{audit, outbox};
use super::super::{Actor, RecordError, from_micros, now_micros};
use super::{Journal, Store};
use crate::ids::{RecordId, UserId, WorkspaceId};

/// Rows per multi-row INSERT (keeps bound parameters under both databases' limits).
const INSERT_CHUNK: usize = 1_000;

/// Which audit entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub record: Option<RecordId>,
    pub action: Option<String>,
    pub entity_type: Option<String>,
    pub actor: Option<UserId>,
    /// Microseconds since the epoch, inclusive.
    pub since: Option<i64>,
    /// Microseconds since the epoch, exclusive.
    pub until: Option<i64>,
    /// Entries after this id (the cursor).
    pub after: Option<i64>,
    pub limit: u64,
    /// Newest entries first (otherwise oldest first, the order a cursor walks).
    pub newest_first: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub id: i64,
    pub record_id: RecordId,
    pub entity_type: String,
    pub action: String,
    pub actor: Option<UserId>,
    pub at: chrono::DateTime<Utc>,
    pub changes: Value,
}

impl Store {
    /// Audit entries of the workspace matching `query`, oldest first.
    pub async fn audit(
        &self,
        workspace: WorkspaceId,
        query: &AuditQuery,
    ) -> Result<Vec<AuditEntry>, RecordError> {
        let mut select = audit::Entity::find().filter(audit::Column::WorkspaceId.eq(workspace.0));
        if let Some(record) = query.record {
            select = select.filter(audit::Column::RecordId.eq(record.0));
        }
        if let Some(action) = &query.action {
            select = select.filter(audit::Column::Action.eq(action.as_str()));
        }
        if let Some(entity) = &query.entity_type {
            select = select.filter(audit::Column::EntityType.eq(entity.as_str()));
        }
        if let Some(actor) = query.actor {
            select = select.filter(audit::Column::ActorId.eq(actor.0));
        }
        if let Some(since) = query.since {
            select = select.filter(audit::Column::At.gte(since));
        }
        if let Some(until) = query.until {
            select = select.filter(audit::Column::At.lt(until));
        }
        if let Some(after) = query.after {
            select = select.filter(audit::Column::Id.gt(after));
        }
        let select = if query.newest_first {
            select.order_by_desc(audit::Column::Id)
        } else {
            select.order_by_asc(audit::Column::Id)
        };
        let rows = select.limit(query.limit).all(&self.db.read).await?;
        Ok(rows
            .into_iter()
            .map(|row| AuditEntry {
                id: row.id,
                record_id: RecordId(row.record_id),
                entity_type: row.entity_type,
                actor: row.actor_id.map(UserId),
                at: from_micros(row.at),
                changes: match row.changes {
                    Value::Object(values) if row.action == "created" => Value::Object(
                        values
                            .into_iter()
                            .map(|(k, v)| (k, json!({ "after": v })))
                            .collect(),
                    ),
                    changes => changes,
                },
                action: row.action,
            })
            .collect())
    }

    /// Appends a security event (login, token created, role changed, …) to the audit log.
    /// Like every audit row it can never be changed afterwards: no path updates or deletes
    /// audit rows.
    pub async fn security_event(
        &self,
        workspace: WorkspaceId,
        actor: Option<UserId>,
        subject_type: &str,
        subject: Uuid,
        action: &str,
        details: Value,
    ) -> Result<(), RecordError> {
        let row = audit::ActiveModel {
            id: sea_orm::ActiveValue::NotSet,
            workspace_id: Set(workspace.0),
            record_id: Set(subject),
            entity_type: Set(subject_type.to_owned()),
            action: Set(action.to_owned()),
            actor_id: Set(actor.map(|a| a.0)),
            at: Set(now_micros()),
            changes: Set(details),
        };
        audit::Entity::insert(row)
            .exec_without_returning(&self.db.write)
            .await?;
        Ok(())
    }

    /// Appends the audit rows and outbox events of a write, inside its transaction. The outbox
    /// head row is bumped by the number of events, which serialises writers on it: sequence
    /// numbers are gap-free and in commit order.
    /// Appends the audit rows and outbox events of a write, inside its transaction. The outbox
    /// head row is bumped by the number of events, which serialises writers on it: sequence
    /// numbers are gap-free and in commit order.
    pub(super) async fn journal(
        &self,
        txn: &DatabaseTransaction,
        actor: &Actor,
        entries: Vec<Journal>,
    ) -> Result<(), RecordError> {
        if entries.is_empty() {
            return Ok(());
        }
        let now = now_micros();
        let count = i64::try_from(entries.len()).unwrap_or(i64::MAX);
        let bump = Statement::from_sql_and_values(
            self.db.backend,
            match self.db.backend {
                DbBackend::Postgres => {
                    "UPDATE outbox_head SET seq = seq + $1 WHERE id = 1 RETURNING seq"
                }
                _ => "UPDATE outbox_head SET seq = seq + ? WHERE id = 1 RETURNING seq",
            },
            [count.into()],
        );
        let last: i64 = txn
            .query_one_raw(bump)
            .await?
            .ok_or_else(|| sea_orm::DbErr::RecordNotFound("outbox_head".into()))?
            .try_get("", "seq")?;
        let first = last - count + 1;
        let mut audits = Vec::with_capacity(entries.len());
        let mut events = Vec::with_capacity(entries.len());
        for (offset, entry) in entries.into_iter().enumerate() {
            let fields: Vec<&String> = entry.changes.keys().collect();
            events.push(outbox::ActiveModel {
                seq: Set(first + i64::try_from(offset).unwrap_or(0)),
                workspace_id: Set(actor.workspace.0),
                entity_type: Set(entry.entity_type.clone()),
                record_id: Set(entry.record_id),
                event: Set(entry.action.to_owned()),
                version: Set(entry.version),
                payload: Set(json!({
                    "fields": fields,
                    "actor": actor.user,
                    "values": event_values(entry.action, &entry.changes),
                })),
                at: Set(now),
            });
            audits.push(audit::ActiveModel {
                id: sea_orm::ActiveValue::NotSet,
                workspace_id: Set(actor.workspace.0),
                record_id: Set(entry.record_id),
                entity_type: Set(entry.entity_type),
                action: Set(entry.action.to_owned()),
                actor_id: Set(Some(actor.user.0)),
                at: Set(now),
                changes: Set(Value::Object(entry.changes)),
            });
        }
        while !audits.is_empty() {
            let rest = audits.split_off(audits.len().min(INSERT_CHUNK));
            audit::Entity::insert_many(std::mem::replace(&mut audits, rest))
                .exec_without_returning(txn)
                .await?;
        }
        while !events.is_empty() {
            let rest = events.split_off(events.len().min(INSERT_CHUNK));
            outbox::Entity::insert_many(std::mem::replace(&mut events, rest))
                .exec_without_returning(txn)
                .await?;
        }
        Ok(())
    }
}

/// The values an event carries (its consumers' "before and after" of each field it set):
/// `{field: [before, after]}`. A creation's audit entry holds its initial values flat; an
/// update's, `{before, after}` per field; the others carry their own small maps.
fn event_values(action: &str, changes: &serde_json::Map<String, Value>) -> Value {
    let pairs = changes.iter().map(|(name, change)| {
        let pair = match (action, change) {
            ("created", value) => json!([null, value]),
            (_, Value::Object(change)) => json!([
                change.get("before").cloned().unwrap_or(Value::Null),
                change.get("after").cloned().unwrap_or(Value::Null)
            ]),
            (_, value) => json!([null, value]),
        };
        (name.clone(), pair)
    });
    Value::Object(pairs.collect())
}
