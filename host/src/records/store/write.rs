//! The one write path. Every write — a create, an update, an upsert, a delete, a restore, a
//! batch of them, a merge — is a list of [`Step`]s run by [`Store::write`], always in the same
//! order, in one transaction:
//!
//! 1. **validate** each step's values against its type (outside the transaction);
//! 2. **resolve** its record: lock the rows it changes, find an upsert's record by its key;
//! 3. **permission scope**: the actor's role may read, create, edit or delete each record (for
//!    its owner, and for a new owner it is given);
//! 4. **versions**: an `If-Match` that is stale refuses the write;
//! 5. **hooks**: the plugins' before-save hooks, once per type and kind of change, always here
//!    (creates, updates, deletes, restores, and the writes of a merge alike), may patch or
//!    reject;
//! 6. **references**: every record and user a value points at exists, live, in the workspace;
//! 7. **apply** the rows;
//! 8. **journal**: an audit row and an outbox event per changed record;
//! 9. **commit**.
//!
//! A problem anywhere leaves nothing written. A single-step write answers "not found",
//! "forbidden" and "stale version" as such; a batch reports them, and every value problem, as
//! field errors of the items at fault (by index), all at once.

use std::collections::{HashMap, HashSet};

use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::super::model::record;
use super::super::schema::{EntityType, FieldSpec};
use super::super::value::{self, Draft, Mode};
use super::super::{Actor, PendingChange, Record, RecordError, WriteOp, now_micros};
use super::{Journal, KnownRefs, Store, corrupt_data, to_record};
use crate::auth::permissions::{Level, Operation};
use crate::error::FieldError;
use crate::i18n::{Text, text};
use crate::ids::RecordId;

/// Most records in one batch request.
pub const MAX_BATCH: usize = 1_000;
/// Rows per multi-row INSERT (keeps bound parameters under both databases' limits).
const INSERT_CHUNK: usize = 1_000;

/// One operation of a write, on a record of `ty`.
#[derive(Debug, Clone)]
pub struct Step<'a> {
    pub ty: &'a EntityType,
    pub op: Op,
}

#[derive(Debug, Clone)]
pub enum Op {
    Create(Map<String, Value>),
    /// Sets the fields of `patch` (a null clears one).
    Update {
        id: RecordId,
        patch: Map<String, Value>,
        if_match: Option<i64>,
    },
    /// Updates the live record whose `key` field holds the input's value, or creates one. A
    /// record the actor may not read does not exist for them.
    Upsert {
        key: String,
        input: Map<String, Value>,
    },
    /// A soft delete.
    Delete {
        id: RecordId,
        if_match: Option<i64>,
    },
    /// Brings a soft-deleted record back.
    Restore {
        id: RecordId,
        if_match: Option<i64>,
    },
    /// A merge re-pointing a reference to the surviving record: the system's consequence of a
    /// merge the actor may make, so the actor's scope over this record is not asked. Its
    /// hooks run like an update's.
    Repoint {
        id: RecordId,
        patch: Map<String, Value>,
        if_match: Option<i64>,
    },
    /// A merge retiring a record into the survivor `into`: soft-deleted with `merged_into`.
    MergeAway {
        id: RecordId,
        into: RecordId,
        if_match: Option<i64>,
    },
}

impl<'a> Step<'a> {
    pub fn create(ty: &'a EntityType, input: Map<String, Value>) -> Step<'a> {
        Step {
            ty,
            op: Op::Create(input),
        }
    }

    pub fn update(
        ty: &'a EntityType,
        id: RecordId,
        patch: Map<String, Value>,
        if_match: Option<i64>,
    ) -> Step<'a> {
        Step {
            ty,
            op: Op::Update {
                id,
                patch,
                if_match,
            },
        }
    }
}

/// What a resolved step does to its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Insert,
    Update,
    Repoint,
    Delete,
    Restore,
    MergeAway(Uuid),
}

impl Kind {
    /// The hooks a step of this kind runs.
    fn hook(self) -> WriteOp {
        match self {
            Kind::Insert => WriteOp::Create,
            Kind::Update | Kind::Repoint | Kind::Restore => WriteOp::Update,
            Kind::Delete | Kind::MergeAway(_) => WriteOp::Delete,
        }
    }
}

/// A step as it moves through the write: its record (locked) and its checked values.
struct Entry<'a> {
    index: usize,
    ty: &'a EntityType,
    kind: Kind,
    id: Option<Uuid>,
    if_match: Option<i64>,
    /// The upsert key it was found by (errors name that field).
    key: Option<String>,
    row: Option<record::Model>,
    draft: Draft,
}

/// Field errors of a write, shaped for a single step (plain) or a batch (indexed).
struct Problems {
    single: bool,
    errors: Vec<FieldError>,
}

impl Problems {
    fn add(&mut self, index: usize, error: FieldError) {
        self.errors
            .push(if self.single { error } else { error.at(index) });
    }

    /// A problem that a single step answers as its own error (not found, forbidden, stale),
    /// and a batch as a field error of the item.
    fn refuse(&mut self, index: usize, error: RecordError) -> Result<(), RecordError> {
        if self.single {
            return Err(error);
        }
        let field = match &error {
            RecordError::VersionConflict { .. } => "version",
            _ => "id",
        };
        let (code, message): (&'static str, Text) = match error {
            RecordError::NotFound => ("record_not_found", text!("api-records-no-live-record")),
            RecordError::Forbidden(message) => ("forbidden", message),
            RecordError::VersionConflict { current } => (
                "version_conflict",
                text!("api-records-at-version", current = current),
            ),
            RecordError::Conflict(message) => ("conflict", message),
            other => return Err(other),
        };
        self.add(index, FieldError::new(field, code, message));
        Ok(())
    }

    fn done(self) -> Result<(), RecordError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(RecordError::Invalid(self.errors))
        }
    }
}

/// How [`Store::write_with`] runs a write.
#[derive(Default)]
pub struct WriteOptions<'r> {
    /// Errors shaped for one record rather than by item.
    pub single: bool,
    /// Check everything (hooks and references included), then roll back.
    pub dry_run: bool,
    /// Statements run in the write's transaction after its rows, from what it did to each
    /// step's record (in step order): whoever asked for the write records its own progress
    /// atomically with it (an import's rows).
    pub receipt: Option<Receipt<'r>>,
}

/// See [`WriteOptions::receipt`].
pub type Receipt<'r> = &'r (dyn Fn(&[Written<'_>]) -> Vec<sea_orm::Statement> + Send + Sync);

/// What a write did to one step's record.
pub struct Written<'w> {
    pub record: &'w Record,
    /// What changed, as the audit log holds it; `None` when nothing did (an update to the
    /// values the record already had).
    pub change: Option<Change<'w>>,
}

/// A journal entry: `action` (`created`, `updated`, …) and its audit `changes`.
#[derive(Clone, Copy)]
pub struct Change<'w> {
    pub action: &'w str,
    pub changes: &'w Map<String, Value>,
}

/// One item of a batch update.
#[derive(Debug, Clone)]
pub struct UpdateItem {
    pub id: RecordId,
    pub patch: Map<String, Value>,
    pub if_match: Option<i64>,
}

impl Store {
    pub async fn create(
        &self,
        actor: &Actor,
        ty: &EntityType,
        input: Map<String, Value>,
    ) -> Result<Record, RecordError> {
        self.write_one(actor, Step::create(ty, input)).await
    }

    /// Creates every record or none; problems are reported for every item, by index.
    pub async fn create_many(
        &self,
        actor: &Actor,
        ty: &EntityType,
        inputs: Vec<Map<String, Value>>,
    ) -> Result<Vec<Record>, RecordError> {
        check_batch_size(inputs.len())?;
        let steps = inputs.into_iter().map(|i| Step::create(ty, i)).collect();
        self.write(actor, steps, false).await
    }

    pub async fn update(
        &self,
        actor: &Actor,
        ty: &EntityType,
        item: UpdateItem,
    ) -> Result<Record, RecordError> {
        let step = Step::update(ty, item.id, item.patch, item.if_match);
        self.write_one(actor, step).await
    }

    /// Applies partial updates to every record or to none.
    pub async fn update_many(
        &self,
        actor: &Actor,
        ty: &EntityType,
        items: Vec<UpdateItem>,
    ) -> Result<Vec<Record>, RecordError> {
        check_batch_size(items.len())?;
        let steps = (items.into_iter())
            .map(|i| Step::update(ty, i.id, i.patch, i.if_match))
            .collect();
        self.write(actor, steps, false).await
    }

    /// Creates or updates by the value of `key`: items whose key matches a live record the
    /// actor may read update it, the others are created. Keys must be unique within the batch
    /// and match at most one record.
    pub async fn upsert_many(
        &self,
        actor: &Actor,
        ty: &EntityType,
        key: &str,
        inputs: Vec<Map<String, Value>>,
    ) -> Result<Vec<Record>, RecordError> {
        check_batch_size(inputs.len())?;
        let steps = (inputs.into_iter())
            .map(|input| Step {
                ty,
                op: Op::Upsert {
                    key: key.to_owned(),
                    input,
                },
            })
            .collect();
        self.write(actor, steps, false).await
    }

    pub async fn delete(
        &self,
        actor: &Actor,
        ty: &EntityType,
        id: RecordId,
        if_match: Option<i64>,
    ) -> Result<Record, RecordError> {
        let op = Op::Delete { id, if_match };
        self.write_one(actor, Step { ty, op }).await
    }

    pub async fn restore(
        &self,
        actor: &Actor,
        ty: &EntityType,
        id: RecordId,
        if_match: Option<i64>,
    ) -> Result<Record, RecordError> {
        let op = Op::Restore { id, if_match };
        self.write_one(actor, Step { ty, op }).await
    }

    /// Soft-deleted records whose retention has passed are removed for good.
    pub async fn purge_deleted(&self, older_than_micros: i64) -> Result<u64, RecordError> {
        let result = record::Entity::delete_many()
            .filter(record::Column::DeletedAt.lt(older_than_micros))
            .exec(&self.db.write)
            .await?;
        Ok(result.rows_affected)
    }

    /// A write of one step, its errors those of one record.
    pub async fn write_one(&self, actor: &Actor, step: Step<'_>) -> Result<Record, RecordError> {
        let mut written = self.write(actor, vec![step], true).await?;
        written.pop().ok_or(RecordError::NotFound)
    }

    /// Runs a write (see the module comment). `single` shapes its errors for one record. The
    /// records come back in the order of the steps, as `ty` shows them.
    pub async fn write(
        &self,
        actor: &Actor,
        steps: Vec<Step<'_>>,
        single: bool,
    ) -> Result<Vec<Record>, RecordError> {
        let options = WriteOptions {
            single,
            ..WriteOptions::default()
        };
        self.write_with(actor, steps, options).await
    }

    /// [`Store::write`] with its options: a dry run, a receipt written with the records.
    pub async fn write_with(
        &self,
        actor: &Actor,
        steps: Vec<Step<'_>>,
        options: WriteOptions<'_>,
    ) -> Result<Vec<Record>, RecordError> {
        let WriteOptions {
            single,
            dry_run,
            receipt,
        } = options;
        if steps.is_empty() {
            return Err(RecordError::BadRequest(text!("api-records-batch-empty")));
        }
        // 1. validate
        let mut entries = Vec::with_capacity(steps.len());
        let mut upserts = Vec::new();
        let mut problems = Problems {
            single,
            errors: Vec::new(),
        };
        let mut patched = HashSet::new();
        for (index, step) in steps.into_iter().enumerate() {
            let ty = step.ty;
            let (kind, id, if_match, input) = match step.op {
                Op::Create(input) => (Kind::Insert, None, None, Some((input, Mode::Create))),
                Op::Update {
                    id,
                    patch,
                    if_match,
                } => (Kind::Update, Some(id), if_match, Some((patch, Mode::Patch))),
                Op::Repoint {
                    id,
                    patch,
                    if_match,
                } => (
                    Kind::Repoint,
                    Some(id),
                    if_match,
                    Some((patch, Mode::Patch)),
                ),
                Op::Upsert { key, input } => {
                    match value::check(ty, &input, Mode::Patch) {
                        Ok(draft) => upserts.push((index, ty, key, input, draft)),
                        Err(found) => found.into_iter().for_each(|e| problems.add(index, e)),
                    }
                    continue;
                }
                Op::Delete { id, if_match } => (Kind::Delete, Some(id), if_match, None),
                Op::Restore { id, if_match } => (Kind::Restore, Some(id), if_match, None),
                Op::MergeAway { id, into, if_match } => {
                    (Kind::MergeAway(into.0), Some(id), if_match, None)
                }
            };
            if let Some(id) = id.filter(|id| !patched.insert(*id)) {
                problems.add(
                    index,
                    FieldError::new(
                        "id",
                        "duplicate_id",
                        text!("api-records-batch-same-record-twice", id = id.to_string()),
                    ),
                );
                continue;
            }
            let input = input.map(|(input, mode)| match mode {
                Mode::Create => (with_defaults(ty, input), mode),
                Mode::Patch => (input, mode),
            });
            let draft = match input.map(|(input, mode)| value::check(ty, &input, mode)) {
                None => Draft::default(),
                Some(Ok(draft)) => draft,
                Some(Err(found)) => {
                    found.into_iter().for_each(|e| problems.add(index, e));
                    continue;
                }
            };
            entries.push(Entry {
                index,
                ty,
                kind,
                id: id.map(|id| id.0),
                if_match,
                key: None,
                row: None,
                draft,
            });
        }
        let keys = check_upsert_keys(&upserts, &mut problems)?;
        problems.done()?;

        // 2. resolve
        let txn = self.db.write.begin().await?;
        let mut problems = Problems {
            single,
            errors: Vec::new(),
        };
        self.lock_entries(&txn, actor, &mut entries).await?;
        self.resolve_upserts(&txn, actor, upserts, keys, &mut entries, &mut problems)
            .await?;
        problems.done()?;
        entries.sort_by_key(|e| e.index);

        // 3. permission scope, 4. versions
        let mut problems = Problems {
            single,
            errors: Vec::new(),
        };
        check_scopes(actor, &entries, &mut problems)?;
        problems.done()?;

        // 5. hooks
        let known = self.run_hooks(&txn, actor, &mut entries).await?;

        // 6. references
        let drafts = entries.iter().map(|e| (e.index, &e.draft));
        self.check_refs(&txn, actor, drafts, &known).await?;

        // 7. apply, 8. journal
        let mut journal = Vec::with_capacity(entries.len());
        let records = self.apply(&txn, actor, entries, &mut journal).await?;
        if let Some(receipt) = receipt {
            let changed: HashMap<Uuid, Change> = (journal.iter())
                .map(|j| {
                    let change = Change {
                        action: j.action,
                        changes: &j.changes,
                    };
                    (j.record_id, change)
                })
                .collect();
            let written: Vec<Written> = (records.iter())
                .map(|record| Written {
                    record,
                    change: changed.get(&record.id.0).copied(),
                })
                .collect();
            for statement in receipt(&written) {
                txn.execute_raw(statement).await?;
            }
        }
        self.journal(&txn, actor, journal).await?;

        // 9. commit (a dry run rolls back: everything was checked, nothing is kept)
        if dry_run {
            txn.rollback().await?;
        } else {
            self.commit(txn).await?;
        }
        Ok(records)
    }

    /// Locks the rows the entries change (live or deleted: the scope check says which may be
    /// changed how), per type. PostgreSQL locks them in id order; SQLite has one writer.
    async fn lock_entries(
        &self,
        txn: &DatabaseTransaction,
        actor: &Actor,
        entries: &mut [Entry<'_>],
    ) -> Result<(), RecordError> {
        let mut by_type: HashMap<&str, Vec<Uuid>> = HashMap::new();
        for entry in entries.iter() {
            if let Some(id) = entry.id {
                by_type.entry(&entry.ty.name).or_default().push(id);
            }
        }
        let mut rows: HashMap<Uuid, record::Model> = HashMap::new();
        for (entity, ids) in by_type {
            for chunk in ids.chunks(500) {
                let mut select = record::Entity::find()
                    .filter(record::Column::WorkspaceId.eq(actor.workspace.0))
                    .filter(record::Column::EntityType.eq(entity))
                    .filter(record::Column::Id.is_in(chunk.iter().copied()));
                if self.db.backend == DbBackend::Postgres {
                    select = select.order_by_asc(record::Column::Id).lock_exclusive();
                }
                for row in select.all(txn).await? {
                    rows.insert(row.id, row);
                }
            }
        }
        for entry in entries {
            if let Some(id) = entry.id {
                entry.row = rows.remove(&id);
            }
        }
        Ok(())
    }

    /// Finds each upsert's record by its key: one the actor may read becomes an update of it
    /// (checked as a patch), none a create (checked as one); several are refused.
    async fn resolve_upserts<'a>(
        &self,
        txn: &DatabaseTransaction,
        actor: &Actor,
        upserts: Vec<Upsert<'a>>,
        keys: HashMap<(String, String), Vec<Value>>,
        entries: &mut Vec<Entry<'a>>,
        problems: &mut Problems,
    ) -> Result<(), RecordError> {
        let mut found: HashMap<(String, String), HashMap<String, Vec<record::Model>>> =
            HashMap::new();
        for ((entity, key), values) in keys {
            let Some((_, ty, ..)) = upserts.iter().find(|u| u.1.name == entity && u.2 == key)
            else {
                continue;
            };
            let Some(field) = ty.field(&key) else {
                continue;
            };
            let mut rows = self
                .find_by_values(txn, actor.workspace, ty, field, &values)
                .await?;
            // Records the actor may not read do not exist for them: an upsert neither
            // updates them nor says that they hold a key.
            for matches in rows.values_mut() {
                matches.retain(|row| actor.allows(Operation::Read, &ty.name, row.owner_id));
            }
            found.insert((entity, key), rows);
        }
        for (index, ty, key, input, draft) in upserts {
            let value = draft
                .fields
                .get(&key)
                .map(Value::to_string)
                .unwrap_or_default();
            let matches = found
                .get(&(ty.name.clone(), key.clone()))
                .and_then(|rows| rows.get(&value))
                .map(Vec::as_slice)
                .unwrap_or_default();
            let mut entry = Entry {
                index,
                ty,
                kind: Kind::Update,
                id: None,
                if_match: None,
                key: Some(key.clone()),
                row: None,
                draft,
            };
            match matches {
                [] => match value::check(ty, &with_defaults(ty, input), Mode::Create) {
                    Ok(draft) => {
                        entry.kind = Kind::Insert;
                        entry.draft = draft;
                        entries.push(entry);
                    }
                    Err(found) => found.into_iter().for_each(|e| problems.add(index, e)),
                },
                [row] => {
                    entry.id = Some(row.id);
                    entry.row = Some(row.clone());
                    entries.push(entry);
                }
                _ => problems.add(
                    index,
                    FieldError::new(key, "ambiguous_key", text!("api-records-ambiguous-key")),
                ),
            }
        }
        Ok(())
    }

    /// Runs the before-save hooks of every entry, per type and kind of change in the order
    /// they first appear, and merges the fields they patch into the drafts (checked like any
    /// input). Answers the referenced records the hooks were given, which were found live and
    /// readable in this transaction.
    async fn run_hooks(
        &self,
        txn: &DatabaseTransaction,
        actor: &Actor,
        entries: &mut [Entry<'_>],
    ) -> Result<KnownRefs, RecordError> {
        let mut known = KnownRefs::new();
        let Some(extensions) = self.extensions() else {
            return Ok(known);
        };
        let mut groups: Vec<(&str, WriteOp)> = Vec::new();
        for entry in entries.iter() {
            let group = (entry.ty.name.as_str(), entry.kind.hook());
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
        for (entity, op) in groups {
            if !extensions.hooks(actor.workspace, entity, op) {
                continue;
            }
            let members: Vec<usize> = (0..entries.len())
                .filter(|&i| entries[i].ty.name == entity && entries[i].kind.hook() == op)
                .collect();
            let Some(ty) = members.first().map(|&i| entries[i].ty) else {
                continue;
            };
            let wanted = extensions.references(actor.workspace, entity, op);
            let drafts: Vec<&Draft> = members.iter().map(|&i| &entries[i].draft).collect();
            let (found, references) = self.referenced(txn, actor, &drafts, &wanted).await?;
            known.extend(found);
            let mut changes: Vec<PendingChange> = members
                .iter()
                .zip(references)
                .map(|(&i, references)| pending_change(&entries[i], op, references))
                .collect();
            extensions.before_save(actor, ty, &mut changes).await?;
            for (&i, change) in members.iter().zip(changes) {
                if change.patch.is_empty() || op == WriteOp::Delete {
                    continue;
                }
                let checked =
                    value::check(ty, &change.patch, Mode::Patch).map_err(RecordError::Invalid)?;
                let create = entries[i].kind == Kind::Insert;
                super::apply_patch(&mut entries[i].draft, checked, create);
            }
        }
        Ok(known)
    }

    /// Writes the rows: inserts (several rows a statement, per type), then the updates,
    /// deletes and restores in order; each changed record gets its journal entry. The records
    /// come back in the order of the steps.
    async fn apply(
        &self,
        txn: &DatabaseTransaction,
        actor: &Actor,
        entries: Vec<Entry<'_>>,
        journal: &mut Vec<Journal>,
    ) -> Result<Vec<Record>, RecordError> {
        let now = now_micros();
        let mut out: Vec<(usize, Record)> = Vec::with_capacity(entries.len());
        let mut inserts: Vec<(usize, &EntityType, record::Model)> = Vec::new();
        let mut inserted = 0usize;
        for entry in entries {
            let Entry {
                index,
                ty,
                kind,
                row,
                draft,
                ..
            } = entry;
            let changed = match (kind, row) {
                (Kind::Insert, _) => {
                    let model = new_row(actor, ty, draft, now, journal);
                    inserts.push((index, ty, model));
                    continue;
                }
                (_, None) => return Err(RecordError::NotFound),
                (Kind::Update | Kind::Repoint, Some(row)) => {
                    self.patch_row(txn, row, draft, "updated", now, journal)
                        .await?
                }
                (Kind::Restore, Some(row)) => {
                    self.set_deleted(txn, row, None, None, "restored", now, journal)
                        .await?
                }
                (Kind::Delete, Some(row)) => {
                    self.set_deleted(txn, row, Some(now), None, "deleted", now, journal)
                        .await?
                }
                (Kind::MergeAway(into), Some(row)) => {
                    self.set_deleted(txn, row, Some(now), Some(into), "merged", now, journal)
                        .await?
                }
            };
            out.push((index, to_record(changed).visible_in(ty)));
        }
        for chunk in inserts.chunks(INSERT_CHUNK) {
            let active: Vec<record::ActiveModel> =
                chunk.iter().map(|(_, _, m)| m.clone().into()).collect();
            record::Entity::insert_many(active)
                .exec_without_returning(txn)
                .await?;
            inserted += chunk.len();
        }
        for (index, ty, model) in inserts {
            out.push((index, to_record(model).visible_in(ty)));
        }
        self.count_inserts(inserted);
        out.sort_by_key(|(index, _)| *index);
        Ok(out.into_iter().map(|(_, record)| record).collect())
    }

    /// Writes a patched row (nothing when the patch changes nothing) with its journal entry.
    async fn patch_row(
        &self,
        txn: &DatabaseTransaction,
        mut row: record::Model,
        draft: Draft,
        action: &'static str,
        now: i64,
        journal: &mut Vec<Journal>,
    ) -> Result<record::Model, RecordError> {
        let mut data = match std::mem::take(&mut row.data) {
            Value::Object(data) => data,
            _ => corrupt_data(&row),
        };
        let mut changes = Map::new();
        for (key, after) in draft.fields {
            let before = data.get(&key).cloned().unwrap_or(Value::Null);
            if before == after {
                continue;
            }
            changes.insert(key.clone(), json!({ "before": before, "after": after }));
            if after.is_null() {
                data.remove(&key);
            } else {
                data.insert(key, after);
            }
        }
        if let Some(owner) = draft.owner.filter(|o| Some(*o) != row.owner_id) {
            changes.insert(
                "owner".into(),
                json!({ "before": row.owner_id, "after": owner }),
            );
            row.owner_id = Some(owner);
        }
        row.data = Value::Object(data);
        if changes.is_empty() {
            return Ok(row);
        }
        let result = record::Entity::update_many()
            .col_expr(record::Column::Data, Expr::value(row.data.clone()))
            .col_expr(record::Column::OwnerId, Expr::value(row.owner_id))
            .col_expr(record::Column::Version, Expr::value(row.version + 1))
            .col_expr(record::Column::UpdatedAt, Expr::value(now))
            .filter(record::Column::Id.eq(row.id))
            .filter(record::Column::Version.eq(row.version))
            .exec(txn)
            .await?;
        if result.rows_affected != 1 {
            return Err(RecordError::VersionConflict {
                current: row.version + 1,
            });
        }
        row.version += 1;
        row.updated_at = now;
        journal.push(Journal {
            record_id: row.id,
            entity_type: row.entity_type.clone(),
            action,
            version: row.version,
            changes,
        });
        Ok(row)
    }

    /// Soft-deletes (`deleted_at` set, perhaps as merged into another record) or restores a
    /// row, with its journal entry.
    #[allow(clippy::too_many_arguments)]
    async fn set_deleted(
        &self,
        txn: &DatabaseTransaction,
        mut row: record::Model,
        deleted_at: Option<i64>,
        merged_into: Option<Uuid>,
        action: &'static str,
        now: i64,
        journal: &mut Vec<Journal>,
    ) -> Result<record::Model, RecordError> {
        record::Entity::update_many()
            .col_expr(record::Column::DeletedAt, Expr::value(deleted_at))
            .col_expr(record::Column::MergedInto, Expr::value(merged_into))
            .col_expr(record::Column::Version, Expr::value(row.version + 1))
            .col_expr(record::Column::UpdatedAt, Expr::value(now))
            .filter(record::Column::Id.eq(row.id))
            .exec(txn)
            .await?;
        row.version += 1;
        row.updated_at = now;
        row.deleted_at = deleted_at;
        row.merged_into = merged_into;
        let changes = match merged_into {
            Some(into) => Map::from_iter([("merged_into".to_owned(), json!({ "after": into }))]),
            None => Map::new(),
        };
        journal.push(Journal {
            record_id: row.id,
            entity_type: row.entity_type.clone(),
            action,
            version: row.version,
            changes,
        });
        Ok(row)
    }

    /// Live records of `ty` whose `field` equals one of `values`, grouped by the value's JSON
    /// text.
    /// The live records of `ty` the actor may read whose `field` holds one of `values`,
    /// keyed by the value's JSON text (an import resolving references and update keys).
    pub async fn find_by(
        &self,
        actor: &Actor,
        ty: &EntityType,
        field: &FieldSpec,
        values: &[Value],
    ) -> Result<HashMap<String, Vec<Record>>, RecordError> {
        let found =
            (self.find_by_values(&self.db.read, actor.workspace, ty, field, values)).await?;
        Ok(found
            .into_iter()
            .map(|(value, rows)| {
                let records = (rows.into_iter())
                    .filter(|row| actor.allows(Operation::Read, &ty.name, row.owner_id))
                    .map(|row| to_record(row).visible_in(ty))
                    .collect();
                (value, records)
            })
            .collect())
    }

    pub(in crate::records) async fn find_by_values(
        &self,
        conn: &impl ConnectionTrait,
        workspace: crate::ids::WorkspaceId,
        ty: &EntityType,
        field: &FieldSpec,
        values: &[Value],
    ) -> Result<HashMap<String, Vec<record::Model>>, RecordError> {
        use super::super::query::{self, Sql};
        let mut found: HashMap<String, Vec<record::Model>> = HashMap::new();
        let expr = query::field_expr(self.db.backend, field);
        for chunk in values.chunks(500) {
            let mut sql = Sql::new(self.db.backend);
            sql.push("SELECT * FROM records WHERE workspace_id = ");
            sql.bind(workspace.0);
            sql.push(" AND ");
            sql.push(&query::type_condition(&ty.name));
            sql.push(&format!(" AND deleted_at IS NULL AND {expr} IN ("));
            for (i, value) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                bind_json_scalar(&mut sql, value);
            }
            sql.push(") ORDER BY id");
            let rows = record::Entity::find()
                .from_raw_sql(sql.into_statement())
                .all(conn)
                .await?;
            for row in rows {
                if let Some(value) = row.data.get(&field.name) {
                    found.entry(value.to_string()).or_default().push(row);
                }
            }
        }
        Ok(found)
    }

    /// Counts inserted records and, on PostgreSQL, refreshes the planner's statistics in the
    /// background every [`super::ANALYZE_EVERY`] of them.
    fn count_inserts(&self, n: usize) {
        use std::sync::atomic::Ordering;
        if self.db.backend != DbBackend::Postgres || n == 0 {
            return;
        }
        let total = self
            .inserted_since_analyze
            .fetch_add(n as u64, Ordering::Relaxed)
            + n as u64;
        if total >= super::ANALYZE_EVERY
            && self
                .inserted_since_analyze
                .compare_exchange(total, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let db = self.db.write.clone();
            tokio::spawn(async move {
                if let Err(error) = db.execute_unprepared("ANALYZE records").await {
                    tracing::warn!(%error, "could not refresh statistics");
                }
            });
        }
    }
}

/// An upsert step after validation: its index, type, key, input and checked patch.
type Upsert<'a> = (usize, &'a EntityType, String, Map<String, Value>, Draft);

/// Checks the upserts' keys: a field records can be matched by, given a value, not repeated
/// within the write. Answers the values to look up, per type and key field.
fn check_upsert_keys(
    upserts: &[Upsert<'_>],
    problems: &mut Problems,
) -> Result<HashMap<(String, String), Vec<Value>>, RecordError> {
    let mut keys: HashMap<(String, String), Vec<Value>> = HashMap::new();
    let mut seen = HashSet::new();
    for (index, ty, key, _, draft) in upserts {
        if !ty.field(key).is_some_and(can_match_by) {
            return Err(RecordError::BadRequest(text!(
                "api-records-upsert-key-unusable",
                key = key,
                plural = &ty.plural
            )));
        }
        match draft.fields.get(key).filter(|v| !v.is_null()) {
            None => problems.add(
                *index,
                FieldError::new(
                    key.clone(),
                    "required",
                    text!("api-records-upsert-key-required"),
                ),
            ),
            Some(value) if !seen.insert((ty.name.clone(), key.clone(), value.to_string())) => {
                problems.add(
                    *index,
                    FieldError::new(
                        key.clone(),
                        "duplicate_key",
                        text!("api-records-upsert-key-repeated"),
                    ),
                )
            }
            Some(value) => keys
                .entry((ty.name.clone(), key.clone()))
                .or_default()
                .push(value.clone()),
        }
    }
    Ok(keys)
}

/// The permission scope and version of every entry: the actor's role must reach the record
/// (read; a record out of reach does not exist for them), and allow what the step does to it
/// for its owner (and a new owner it is given); a stale `If-Match` refuses the write.
fn check_scopes(
    actor: &Actor,
    entries: &[Entry<'_>],
    problems: &mut Problems,
) -> Result<(), RecordError> {
    for entry in entries {
        let entity = entry.ty.name.as_str();
        let index = entry.index;
        let reads = |row: &record::Model| actor.allows(Operation::Read, entity, row.owner_id);
        let refusal = match (entry.kind, &entry.row) {
            (Kind::Insert, _) => {
                if actor.access.level(Operation::Create, entity) == Level::None {
                    return Err(RecordError::Forbidden(text!(
                        "api-records-forbidden-create-type",
                        plural = &entry.ty.plural
                    )));
                }
                let owner = entry.draft.owner.unwrap_or(actor.user.0);
                if !actor.allows(Operation::Create, entity, Some(owner)) {
                    problems.add(
                        index,
                        FieldError::new(
                            "owner",
                            "forbidden",
                            text!("api-records-forbidden-create-for-owner"),
                        ),
                    );
                }
                None
            }
            // A merge's re-pointing is the system's consequence of the merge.
            (Kind::Repoint, Some(row)) if row.deleted_at.is_none() => None,
            (Kind::Update, Some(row)) if row.deleted_at.is_none() && reads(row) => {
                let may = actor.allows(Operation::Edit, entity, row.owner_id)
                    && entry
                        .draft
                        .owner
                        .is_none_or(|owner| actor.allows(Operation::Edit, entity, Some(owner)));
                match (may, &entry.key) {
                    (true, _) => None,
                    (false, Some(key)) => {
                        problems.add(
                            index,
                            FieldError::new(
                                key.clone(),
                                "forbidden",
                                text!("api-records-forbidden-change-by-key"),
                            ),
                        );
                        None
                    }
                    (false, None) => Some(RecordError::Forbidden(text!(
                        "api-records-forbidden-change"
                    ))),
                }
            }
            (Kind::Delete | Kind::MergeAway(_), Some(row))
                if row.deleted_at.is_none() && reads(row) =>
            {
                (!actor.allows(Operation::Delete, entity, row.owner_id))
                    .then(|| RecordError::Forbidden(text!("api-records-forbidden-delete")))
            }
            (Kind::Restore, Some(row)) if reads(row) => {
                if !actor.allows(Operation::Delete, entity, row.owner_id) {
                    Some(RecordError::Forbidden(text!(
                        "api-records-forbidden-restore"
                    )))
                } else if row.deleted_at.is_none() {
                    Some(RecordError::Conflict(text!("api-records-not-deleted")))
                } else {
                    None
                }
            }
            _ => Some(RecordError::NotFound),
        };
        let refusal = refusal.or_else(|| {
            let current = entry.row.as_ref()?.version;
            (entry.if_match.is_some_and(|v| v != current))
                .then_some(RecordError::VersionConflict { current })
        });
        if let Some(refusal) = refusal {
            problems.refuse(index, refusal)?;
        }
    }
    Ok(())
}

/// A new row for a checked create, with its journal entry (a creation's audit row stores the
/// initial values flat: they are all "after" values).
fn new_row(
    actor: &Actor,
    ty: &EntityType,
    draft: Draft,
    now: i64,
    journal: &mut Vec<Journal>,
) -> record::Model {
    let id = Uuid::now_v7();
    let owner = draft.owner.unwrap_or(actor.user.0);
    let mut changes = draft.fields.clone();
    changes.insert("owner".into(), json!(owner));
    journal.push(Journal {
        record_id: id,
        entity_type: ty.name.clone(),
        action: "created",
        version: 1,
        changes,
    });
    record::Model {
        id,
        workspace_id: actor.workspace.0,
        entity_type: ty.name.clone(),
        data: Value::Object(draft.fields),
        version: 1,
        owner_id: Some(owner),
        created_at: now,
        updated_at: now,
        deleted_at: None,
        merged_into: None,
    }
}

/// The change a before-save hook sees for an entry: the record's fields after the write (for
/// a delete, as stored), the fields it sets, and the fields as they were.
fn pending_change(
    entry: &Entry<'_>,
    op: WriteOp,
    references: Vec<super::super::Referenced>,
) -> PendingChange {
    let stored = entry.row.as_ref().and_then(|r| r.data.as_object());
    let mut fields = stored.cloned().unwrap_or_default();
    if op != WriteOp::Delete {
        for (key, value) in &entry.draft.fields {
            if value.is_null() {
                fields.remove(key);
            } else {
                fields.insert(key.clone(), value.clone());
            }
        }
    }
    PendingChange {
        op,
        id: entry.id.map(RecordId),
        fields,
        old: stored.cloned(),
        changed: entry.draft.fields.keys().cloned().collect(),
        patch: Map::new(),
        references,
    }
}

/// A create's input with the `default` of every field it leaves out.
fn with_defaults(ty: &EntityType, mut input: Map<String, Value>) -> Map<String, Value> {
    for field in &ty.fields {
        if let Some(default) = &field.default
            && !input.contains_key(&field.name)
        {
            input.insert(field.name.clone(), default.clone());
        }
    }
    input
}

/// Fields whose value identifies a record well enough to upsert by it.
fn can_match_by(field: &FieldSpec) -> bool {
    use super::super::schema::FieldKind::*;
    match field.kind {
        Text | Email | Phone | Url | Integer | Date | Datetime | Select | User => true,
        Reference => !field.multiple,
        _ => false,
    }
}

fn bind_json_scalar(sql: &mut super::super::query::Sql, value: &Value) {
    match value {
        Value::String(s) => sql.bind(s.clone()),
        Value::Bool(b) => sql.bind(*b),
        Value::Number(n) if n.is_i64() => sql.bind(n.as_i64().unwrap_or_default()),
        Value::Number(n) => sql.bind(n.as_f64().unwrap_or_default()),
        other => sql.bind(other.to_string()),
    };
}

/// Refuses a batch over [`MAX_BATCH`] records.
pub(in crate::records) fn check_batch_size(len: usize) -> Result<(), RecordError> {
    if len > MAX_BATCH {
        return Err(RecordError::BatchTooLarge { max: MAX_BATCH });
    }
    if len == 0 {
        return Err(RecordError::BadRequest(text!("api-records-batch-empty")));
    }
    Ok(())
}
