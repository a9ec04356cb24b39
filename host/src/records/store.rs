//! The store: reads, list queries and every write, each write one transaction with its audit
//! rows and outbox events.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::model::{audit, custom_field, entity_type, outbox, record};
use super::query::{self, Cursor, Sql};
use super::schema::{EntityType, FieldSpec, Schema, builtin_types};
use super::value::{self, Draft, Mode};
use super::{
    Actor, Extensions, PendingChange, Record, RecordError, Referenced, WriteOp, from_micros,
    now_micros,
};
use crate::auth::permissions::{Level, Operation, Scope};
use crate::db::Db;
use crate::error::FieldError;
use crate::ids::{RecordId, UserId, WorkspaceId};

/// Most records in one batch request.
pub const MAX_BATCH: usize = 1_000;
/// Rows per multi-row INSERT (keeps bound parameters under both databases' limits).
const INSERT_CHUNK: usize = 1_000;

pub struct Store {
    db: Db,
    schemas: RwLock<HashMap<WorkspaceId, Arc<Schema>>>,
    /// Signalled after every committed write (the search indexer waits on it).
    changes: tokio::sync::Notify,
    /// Records inserted since the planner's statistics were last refreshed (PostgreSQL).
    inserted_since_analyze: std::sync::atomic::AtomicU64,
    /// Plugins' types, fields and hooks (set once at start). Weak: the registry holds the
    /// store, and a server's registry goes when the server does.
    extensions: std::sync::OnceLock<std::sync::Weak<dyn Extensions>>,
}

/// After this many inserted records, PostgreSQL's statistics are refreshed at once instead of
/// waiting for autovacuum, so plans stay right after bulk loads.
const ANALYZE_EVERY: u64 = 20_000;

/// A list request, already split into its parts.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    pub filter: Option<String>,
    pub sort: Option<String>,
    pub limit: u64,
    pub cursor: Option<String>,
    pub total: bool,
    /// List the trash (soft-deleted records) instead of live records.
    pub deleted: bool,
}

#[derive(Debug)]
pub struct Page {
    pub records: Vec<Record>,
    pub next_cursor: Option<String>,
    pub total: Option<u64>,
}

/// One item of a batch update.
#[derive(Debug, Clone)]
pub struct UpdateItem {
    pub id: RecordId,
    pub patch: Map<String, Value>,
    pub if_match: Option<i64>,
}

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

/// A draft's record as stored: its id and data (none for a create).
type Stored<'a> = (Option<Uuid>, Option<&'a Map<String, Value>>);

/// Referenced records already found live and readable in a write's transaction, by id, with
/// their type: [`Store::check_refs`] does not read them again.
type KnownRefs = HashMap<Uuid, String>;

/// A change about to be journalled: the audit row and outbox event of one record write.
pub(super) struct Journal {
    pub record_id: Uuid,
    pub entity_type: String,
    pub action: &'static str,
    pub version: i64,
    pub changes: Map<String, Value>,
}

impl Store {
    pub fn new(db: Db) -> Self {
        Self {
            db,
            schemas: RwLock::default(),
            changes: tokio::sync::Notify::new(),
            inserted_since_analyze: std::sync::atomic::AtomicU64::new(0),
            extensions: std::sync::OnceLock::new(),
        }
    }

    fn extensions(&self) -> Option<Arc<dyn Extensions>> {
        self.extensions.get().and_then(std::sync::Weak::upgrade)
    }

    /// Plugs in what plugins add (types, fields, hooks); set once, at start.
    pub fn set_extensions(&self, extensions: std::sync::Weak<dyn Extensions>) {
        if self.extensions.set(extensions).is_err() {
            tracing::warn!("the store's extensions were already set");
        }
    }

    /// Resolves after the next committed write (or at once if one happened since the last
    /// call).
    pub async fn changed(&self) {
        self.changes.notified().await;
    }

    /// Commits a write transaction and tells whoever waits on [`Store::changed`].
    pub(super) async fn commit(&self, txn: DatabaseTransaction) -> Result<(), RecordError> {
        txn.commit().await?;
        self.changes.notify_one();
        Ok(())
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn backend(&self) -> DbBackend {
        self.db.backend
    }

    // -- schema ---------------------------------------------------------------------------------

    /// The workspace's schema, loaded once and cached until an admin changes it.
    pub async fn schema(&self, workspace: WorkspaceId) -> Result<Arc<Schema>, RecordError> {
        if let Some(schema) = self.cached_schema(workspace) {
            return Ok(schema);
        }
        let mut types = builtin_types();
        let custom_types = entity_type::Entity::find()
            .filter(entity_type::Column::WorkspaceId.eq(workspace.0))
            .order_by_asc(entity_type::Column::CreatedAt)
            .all(&self.db.read)
            .await?;
        for row in custom_types {
            match serde_json::from_value::<EntityType>(row.spec) {
                Ok(ty) => types.push(ty),
                Err(error) => {
                    tracing::error!(%error, name = row.name, "stored entity type is unreadable")
                }
            }
        }
        let mut added_fields = Vec::new();
        if let Some(extensions) = self.extensions() {
            let (plugin_types, plugin_fields) = extensions.schema_additions(workspace);
            for ty in plugin_types {
                if types
                    .iter()
                    .any(|t| t.name == ty.name || t.plural == ty.plural)
                {
                    tracing::error!(
                        name = ty.name,
                        "a plugin's type clashes with another; skipped"
                    );
                    continue;
                }
                types.push(ty);
            }
            added_fields = plugin_fields;
        }
        for (entity, field) in added_fields {
            if let Some(ty) = types.iter_mut().find(|t| t.name == entity)
                && ty.field(&field.name).is_none()
            {
                ty.fields.push(field);
            }
        }
        let fields = custom_field::Entity::find()
            .filter(custom_field::Column::WorkspaceId.eq(workspace.0))
            .order_by_asc(custom_field::Column::CreatedAt)
            .all(&self.db.read)
            .await?;
        for row in fields {
            let Some(ty) = types.iter_mut().find(|t| t.name == row.entity_type) else {
                continue;
            };
            match serde_json::from_value::<FieldSpec>(row.spec) {
                Ok(field) => ty.fields.push(field),
                Err(error) => {
                    tracing::error!(%error, name = row.name, "stored custom field is unreadable")
                }
            }
        }
        let schema = Arc::new(Schema::new(types));
        if let Ok(mut cache) = self.schemas.write() {
            cache.insert(workspace, schema.clone());
        }
        Ok(schema)
    }

    fn cached_schema(&self, workspace: WorkspaceId) -> Option<Arc<Schema>> {
        self.schemas.read().ok()?.get(&workspace).cloned()
    }

    /// Drops a workspace's cached schema (its types or fields changed).
    pub fn forget_schema(&self, workspace: WorkspaceId) {
        if let Ok(mut cache) = self.schemas.write() {
            cache.remove(&workspace);
        }
    }

    /// The entity type served at `/api/v1/{plural}` as the actor sees it (hidden fields
    /// removed, read-only ones marked); forbidden when the actor may not read the type.
    pub async fn view(&self, actor: &Actor, plural: &str) -> Result<Arc<EntityType>, RecordError> {
        let ty = self.entity(actor.workspace, plural).await?;
        if actor.access.level(Operation::Read, &ty.name) == Level::None {
            return Err(RecordError::Forbidden(format!(
                "your role may not read {}",
                ty.plural
            )));
        }
        Ok(actor.access.view(&ty))
    }

    /// The entity type served at `/api/v1/{plural}`, whole (no permissions applied).
    pub async fn entity(
        &self,
        workspace: WorkspaceId,
        plural: &str,
    ) -> Result<Arc<EntityType>, RecordError> {
        self.schema(workspace)
            .await?
            .by_plural(plural)
            .cloned()
            .ok_or_else(|| RecordError::UnknownEntity(plural.chars().take(64).collect()))
    }

    /// Creates the indexes of the built-in types.
    pub async fn ensure_builtin_indexes(&self) -> Result<(), RecordError> {
        for ty in builtin_types() {
            self.ensure_indexes(&ty).await?;
        }
        Ok(())
    }

    /// Creates a type's indexes, if missing: its indexed fields' and its composite `indexes`.
    pub async fn ensure_indexes(&self, ty: &EntityType) -> Result<(), RecordError> {
        let txn = self.db.schema_transaction().await?;
        for field in ty.fields.iter().filter(|f| f.indexed) {
            txn.execute_unprepared(&query::index_statement(self.db.backend, &ty.name, field))
                .await?;
        }
        let backend = self.db.backend;
        let mut new_statistics = false;
        for keys in &ty.indexes {
            let sql = query::composite_index_statement(backend, ty, keys);
            txn.execute_unprepared(&sql).await?;
            for (name, sql) in query::key_statistics(backend, ty, keys) {
                let exists = Statement::from_sql_and_values(
                    backend,
                    "SELECT 1 AS found FROM pg_statistic_ext WHERE stxname = $1",
                    [name.into()],
                );
                if txn.query_one_raw(exists).await?.is_none() {
                    txn.execute_unprepared(&sql).await?;
                    new_statistics = true;
                }
            }
        }
        // A statistics object stays empty until the table is analyzed, and autovacuum
        // analyzes only after many rows change: fill new ones now (a sample of the table).
        if new_statistics {
            txn.execute_unprepared("ANALYZE records").await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// Creates the expression index of an indexed field, if missing.
    pub async fn ensure_index(&self, entity: &str, field: &FieldSpec) -> Result<(), RecordError> {
        let txn = self.db.schema_transaction().await?;
        txn.execute_unprepared(&query::index_statement(self.db.backend, entity, field))
            .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Adds a custom field to a type; an indexed one gets its expression index first.
    pub async fn add_field(
        &self,
        actor: &Actor,
        entity: &str,
        mut field: FieldSpec,
    ) -> Result<FieldSpec, RecordError> {
        let schema = self.schema(actor.workspace).await?;
        let ty = schema
            .by_name(entity)
            .or_else(|| schema.by_plural(entity))
            .ok_or_else(|| RecordError::UnknownEntity(entity.to_owned()))?;
        field.custom = true;
        field
            .check_definition(&schema)
            .map_err(RecordError::Invalid)?;
        if ty.field(&field.name).is_some() {
            return Err(RecordError::Invalid(vec![FieldError::new(
                "name",
                "already_exists",
                format!("`{}` already has a field `{}`", ty.plural, field.name),
            )]));
        }
        self.check_unclaimed(actor.workspace, &ty.name, &field.name)
            .await?;
        if field.indexed {
            self.ensure_index(&ty.name, &field).await?;
        }
        let spec =
            serde_json::to_value(&field).map_err(|e| RecordError::BadRequest(e.to_string()))?;
        let row = custom_field::ActiveModel {
            workspace_id: Set(actor.workspace.0),
            entity_type: Set(ty.name.clone()),
            name: Set(field.name.clone()),
            spec: Set(spec),
            created_at: Set(now_micros()),
        };
        custom_field::Entity::insert(row)
            .exec(&self.db.write)
            .await
            .map_err(|e| conflict_or(e, "the field already exists"))?;
        self.forget_schema(actor.workspace);
        crate::changes::announce(&self.db, actor.workspace, crate::changes::Change::Schema).await;
        Ok(field)
    }

    /// Refuses a custom type (`field` empty) or field whose name a plugin declared in the
    /// workspace: the plugin's records stay stored under it while it is disabled, and a custom
    /// type of the same name would serve them.
    async fn check_unclaimed(
        &self,
        workspace: WorkspaceId,
        entity: &str,
        field: &str,
    ) -> Result<(), RecordError> {
        let Some(extensions) = self.extensions() else {
            return Ok(());
        };
        let Some(plugin) = extensions.claimant(workspace, entity, field).await? else {
            return Ok(());
        };
        let what = if field.is_empty() {
            format!("the type name `{entity}`")
        } else {
            format!("the field `{field}` of `{entity}`")
        };
        Err(RecordError::Invalid(vec![FieldError::new(
            "name",
            "taken",
            format!(
                "{what} belongs to plugin `{plugin}` (declared when it was enabled; its data is kept while it is disabled)"
            ),
        )]))
    }

    /// Adds a custom entity type to the workspace.
    pub async fn add_type(
        &self,
        actor: &Actor,
        mut ty: EntityType,
    ) -> Result<EntityType, RecordError> {
        let schema = self.schema(actor.workspace).await?;
        ty.check_definition(&schema).map_err(RecordError::Invalid)?;
        self.check_unclaimed(actor.workspace, &ty.name, "").await?;
        self.ensure_indexes(&ty).await?;
        let spec = serde_json::to_value(&ty).map_err(|e| RecordError::BadRequest(e.to_string()))?;
        let row = entity_type::ActiveModel {
            workspace_id: Set(actor.workspace.0),
            name: Set(ty.name.clone()),
            spec: Set(spec),
            created_at: Set(now_micros()),
        };
        entity_type::Entity::insert(row)
            .exec(&self.db.write)
            .await
            .map_err(|e| conflict_or(e, "the entity type already exists"))?;
        self.forget_schema(actor.workspace);
        crate::changes::announce(&self.db, actor.workspace, crate::changes::Change::Schema).await;
        Ok(ty)
    }

    // -- reads ----------------------------------------------------------------------------------

    pub async fn get(
        &self,
        actor: &Actor,
        ty: &EntityType,
        id: RecordId,
    ) -> Result<Record, RecordError> {
        let row = self
            .find_row(&self.db.read, actor.workspace, ty, id.0, false)
            .await?;
        match row {
            Some(row)
                if row.deleted_at.is_none()
                    && actor.allows(Operation::Read, &ty.name, row.owner_id) =>
            {
                Ok(to_record(row).visible_in(ty))
            }
            _ => Err(RecordError::NotFound),
        }
    }

    async fn find_row(
        &self,
        conn: &impl ConnectionTrait,
        workspace: WorkspaceId,
        ty: &EntityType,
        id: Uuid,
        lock: bool,
    ) -> Result<Option<record::Model>, RecordError> {
        let mut select = record::Entity::find_by_id(id)
            .filter(record::Column::WorkspaceId.eq(workspace.0))
            .filter(record::Column::EntityType.eq(ty.name.as_str()));
        if lock && self.db.backend == DbBackend::Postgres {
            select = select.lock_exclusive();
        }
        Ok(select.one(conn).await?)
    }

    /// The `WHERE` condition of the records of `ty` the actor may read (live or deleted),
    /// narrowed by `filter`.
    pub(super) fn visible(
        &self,
        actor: &Actor,
        ty: &EntityType,
        filter: Option<&query::Filter>,
        deleted: bool,
        now: chrono::DateTime<Utc>,
    ) -> Result<Sql, RecordError> {
        let mut sql = Sql::new(self.db.backend);
        sql.push("workspace_id = ");
        sql.bind(actor.workspace.0);
        sql.push(" AND ");
        sql.push(&query::type_condition(&ty.name));
        sql.push(if deleted {
            " AND deleted_at IS NOT NULL"
        } else {
            " AND deleted_at IS NULL"
        });
        push_scope(&mut sql, &actor.access.scope(Operation::Read, &ty.name))?;
        if let Some(filter) = filter {
            sql.push(" AND ");
            query::compile(filter, ty, now, &mut sql)?;
        }
        Ok(sql)
    }

    pub async fn list(
        &self,
        actor: &Actor,
        ty: &EntityType,
        request: &ListQuery,
    ) -> Result<Page, RecordError> {
        let backend = self.db.backend;
        let now = Utc::now();
        let filter = request
            .filter
            .as_deref()
            .map(query::parse_filter)
            .transpose()?;
        let keys = query::parse_sort(backend, ty, request.sort.as_deref().unwrap_or(""))?;
        let fingerprint = query::fingerprint(&[
            request.sort.as_deref().unwrap_or(""),
            request.filter.as_deref().unwrap_or(""),
            if request.deleted { "deleted" } else { "live" },
        ]);
        let cursor = request
            .cursor
            .as_deref()
            .map(|raw| Cursor::decode(raw, fingerprint, keys.len()))
            .transpose()?;

        let scope = actor.access.scope(Operation::Read, &ty.name);
        let where_sql = self.visible(actor, ty, filter.as_ref(), request.deleted, now)?;

        let total = if request.total {
            let mut count = Sql::new(backend);
            count.push("SELECT COUNT(*) AS n FROM records WHERE ");
            count.push(&where_sql.text);
            count.values = where_sql.values.clone();
            let row = self.db.read.query_one_raw(count.into_statement()).await?;
            let n: i64 = row.map(|r| r.try_get("", "n")).transpose()?.unwrap_or(0);
            Some(u64::try_from(n).unwrap_or(0))
        } else {
            None
        };

        let mut sql = Sql::new(backend);
        sql.push("SELECT id, workspace_id, entity_type, data, version, owner_id, created_at, updated_at, deleted_at, merged_into FROM records WHERE ");
        sql.push(&where_sql.text);
        sql.values = where_sql.values;
        if let Some(cursor) = &cursor {
            sql.push(" AND ");
            query::after_cursor(&keys, cursor, &mut sql)?;
        }
        sql.push(" ORDER BY ");
        sql.push(&query::order_by(backend, &keys));
        if let (true, Scope::Owners(owners)) = (keys.is_empty(), &scope)
            && owners.len() == 1
        {
            // One owner: the same order, written so the planner walks the owner index
            // (workspace, type, owner, id) instead of filtering the id-ordered one.
            sql.text.truncate(sql.text.len() - "id ASC".len());
            sql.push("owner_id ASC, id ASC");
        }
        sql.push(&format!(" LIMIT {}", request.limit + 1));
        let mut rows = record::Entity::find()
            .from_raw_sql(sql.into_statement())
            .all(&self.db.read)
            .await?;

        let more = rows.len() as u64 > request.limit;
        rows.truncate(usize::try_from(request.limit).unwrap_or(usize::MAX));
        let records: Vec<Record> = rows
            .into_iter()
            .map(|row| to_record(row).visible_in(ty))
            .collect();
        let next_cursor = match records.last() {
            Some(last) if more => Some(
                Cursor {
                    values: keys.iter().map(|k| query::sort_value(k, last)).collect(),
                    id: last.id.0,
                    fingerprint,
                }
                .encode(),
            ),
            _ => None,
        };
        Ok(Page {
            records,
            next_cursor,
            total,
        })
    }

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

    // -- writes ---------------------------------------------------------------------------------

    pub async fn create(
        &self,
        actor: &Actor,
        ty: &EntityType,
        input: Map<String, Value>,
    ) -> Result<Record, RecordError> {
        let mut created = self
            .create_many(actor, ty, vec![input])
            .await
            .map_err(strip_index)?;
        created.pop().ok_or(RecordError::NotFound)
    }

    /// Creates every record or none; problems are reported for every item, by index.
    pub async fn create_many(
        &self,
        actor: &Actor,
        ty: &EntityType,
        inputs: Vec<Map<String, Value>>,
    ) -> Result<Vec<Record>, RecordError> {
        check_batch_size(inputs.len())?;
        let mut drafts = check_all(ty, &inputs, Mode::Create)?;
        check_create_scope(actor, ty, drafts.iter().enumerate(), drafts.len() == 1)?;
        // Creates lock nothing, so their hooks run just before the transaction opens (on SQLite
        // a hook then never holds the one writer).
        // The records their references point at are read outside the transaction too, so they
        // are checked again inside it.
        let current = vec![(None, None); drafts.len()];
        self.before_save(
            &self.db.read,
            actor,
            ty,
            WriteOp::Create,
            &mut drafts,
            &current,
        )
        .await?;
        let txn = self.db.write.begin().await?;
        self.check_refs(&txn, actor, drafts.iter().enumerate(), &KnownRefs::new())
            .await?;
        let mut journal = Vec::with_capacity(drafts.len());
        let records = self
            .insert_drafts(&txn, actor, ty, drafts, &mut journal)
            .await?;
        self.journal(&txn, actor, journal).await?;
        self.commit(txn).await?;
        self.count_inserts(records.len());
        Ok(records.into_iter().map(|r| r.visible_in(ty)).collect())
    }

    /// Counts inserted records and, on PostgreSQL, refreshes the planner's statistics in the
    /// background every [`ANALYZE_EVERY`] of them.
    fn count_inserts(&self, n: usize) {
        use std::sync::atomic::Ordering;
        if self.db.backend != DbBackend::Postgres {
            return;
        }
        let total = self
            .inserted_since_analyze
            .fetch_add(n as u64, Ordering::Relaxed)
            + n as u64;
        if total >= ANALYZE_EVERY
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

    async fn insert_drafts(
        &self,
        txn: &DatabaseTransaction,
        actor: &Actor,
        ty: &EntityType,
        drafts: Vec<Draft>,
        journal: &mut Vec<Journal>,
    ) -> Result<Vec<Record>, RecordError> {
        let now = now_micros();
        let mut models = Vec::with_capacity(drafts.len());
        for draft in drafts {
            let id = Uuid::now_v7();
            let owner = draft.owner.unwrap_or(actor.user.0);
            // A creation's audit row stores the initial values flat (they are all "after"
            // values); `audit` presents them like any other change.
            let mut changes = draft.fields.clone();
            changes.insert("owner".into(), json!(owner));
            journal.push(Journal {
                record_id: id,
                entity_type: ty.name.clone(),
                action: "created",
                version: 1,
                changes,
            });
            models.push(record::Model {
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
            });
        }
        for chunk in models.chunks(INSERT_CHUNK) {
            let active: Vec<record::ActiveModel> = chunk.iter().cloned().map(Into::into).collect();
            record::Entity::insert_many(active)
                .exec_without_returning(txn)
                .await?;
        }
        Ok(models.into_iter().map(to_record).collect())
    }

    pub async fn update(
        &self,
        actor: &Actor,
        ty: &EntityType,
        item: UpdateItem,
    ) -> Result<Record, RecordError> {
        let mut updated = self
            .apply_updates(actor, ty, vec![item], true)
            .await
            .map_err(strip_index)?;
        updated.pop().ok_or(RecordError::NotFound)
    }

    /// Applies partial updates to every record or to none.
    pub async fn update_many(
        &self,
        actor: &Actor,
        ty: &EntityType,
        items: Vec<UpdateItem>,
    ) -> Result<Vec<Record>, RecordError> {
        self.apply_updates(actor, ty, items, false).await
    }

    /// A `single` update answers "not found" and "stale version" as such; a batch reports
    /// them as field errors of its items.
    async fn apply_updates(
        &self,
        actor: &Actor,
        ty: &EntityType,
        items: Vec<UpdateItem>,
        single: bool,
    ) -> Result<Vec<Record>, RecordError> {
        check_batch_size(items.len())?;
        let patches: Vec<Map<String, Value>> = items.iter().map(|i| i.patch.clone()).collect();
        let drafts = check_all(ty, &patches, Mode::Patch)?;
        let mut seen = HashSet::new();
        if let Some(index) = items.iter().position(|i| !seen.insert(i.id)) {
            return Err(RecordError::Invalid(vec![
                FieldError::new("id", "duplicate_id", "the batch updates this record twice")
                    .at(index),
            ]));
        }
        let txn = self.db.write.begin().await?;
        let ids: Vec<Uuid> = items.iter().map(|i| i.id.0).collect();
        let mut current = self.lock_rows(&txn, actor.workspace, ty, &ids).await?;
        let mut errors = Vec::new();
        let mut targets = Vec::with_capacity(items.len());
        for (index, (item, draft)) in items.iter().zip(drafts).enumerate() {
            let current_row = current
                .remove(&item.id.0)
                .filter(|row| actor.allows(Operation::Read, &ty.name, row.owner_id));
            match current_row {
                None if single => return Err(RecordError::NotFound),
                Some(row) if !may_edit(actor, &ty.name, &row, &draft) => {
                    if single {
                        return Err(RecordError::Forbidden(
                            "your role may not change this record (or give it to that owner)"
                                .into(),
                        ));
                    }
                    errors.push(
                        FieldError::new(
                            "id",
                            "forbidden",
                            "your role may not change this record (or give it to that owner)",
                        )
                        .at(index),
                    );
                }
                None => errors.push(
                    FieldError::new("id", "record_not_found", "no live record has this id")
                        .at(index),
                ),
                Some(row) if item.if_match.is_some_and(|v| v != row.version) => {
                    if single {
                        return Err(RecordError::VersionConflict {
                            current: row.version,
                        });
                    }
                    errors.push(
                        FieldError::new(
                            "version",
                            "version_conflict",
                            format!("the record is at version {}", row.version),
                        )
                        .at(index),
                    );
                }
                Some(row) => targets.push((row, draft)),
            }
        }
        if !errors.is_empty() {
            return Err(RecordError::Invalid(errors));
        }
        let (rows, mut drafts): (Vec<record::Model>, Vec<Draft>) = targets.into_iter().unzip();
        let current: Vec<_> = rows
            .iter()
            .map(|row| (Some(row.id), row.data.as_object()))
            .collect();
        let known = self
            .before_save(&txn, actor, ty, WriteOp::Update, &mut drafts, &current)
            .await?;
        let targets: Vec<(record::Model, Draft)> = rows.into_iter().zip(drafts).collect();
        let drafts = targets.iter().map(|(_, d)| d).enumerate();
        self.check_refs(&txn, actor, drafts, &known).await?;
        let mut journal = Vec::with_capacity(targets.len());
        let records = self
            .apply_patches(&txn, targets, "updated", &mut journal)
            .await?;
        self.journal(&txn, actor, journal).await?;
        self.commit(txn).await?;
        Ok(records.into_iter().map(|r| r.visible_in(ty)).collect())
    }

    /// Live rows of `ty` by id, locked for update on PostgreSQL (SQLite has one writer).
    pub(super) async fn lock_rows(
        &self,
        txn: &DatabaseTransaction,
        workspace: WorkspaceId,
        ty: &EntityType,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, record::Model>, RecordError> {
        let mut rows = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(500) {
            let mut select = record::Entity::find()
                .filter(record::Column::WorkspaceId.eq(workspace.0))
                .filter(record::Column::EntityType.eq(ty.name.as_str()))
                .filter(record::Column::DeletedAt.is_null())
                .filter(record::Column::Id.is_in(chunk.iter().copied()));
            if self.db.backend == DbBackend::Postgres {
                select = select.order_by_asc(record::Column::Id).lock_exclusive();
            }
            for row in select.all(txn).await? {
                rows.insert(row.id, row);
            }
        }
        Ok(rows)
    }

    /// Writes patched rows (skipping no-op patches), adding their journal entries to
    /// `journal` (written once, last, by the caller: the outbox head is locked only at the end
    /// of a transaction).
    pub(super) async fn apply_patches(
        &self,
        txn: &DatabaseTransaction,
        targets: Vec<(record::Model, Draft)>,
        action: &'static str,
        journal: &mut Vec<Journal>,
    ) -> Result<Vec<Record>, RecordError> {
        let now = now_micros();
        let mut records = Vec::with_capacity(targets.len());
        for (mut row, draft) in targets {
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
                records.push(to_record(row));
                continue;
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
            records.push(to_record(row));
        }
        Ok(records)
    }

    /// Creates or updates by the value of `key`: items whose key matches a live record update
    /// it, the others are created. Keys must be unique within the batch and match at most one
    /// record.
    pub async fn upsert_many(
        &self,
        actor: &Actor,
        ty: &EntityType,
        key: &str,
        inputs: Vec<Map<String, Value>>,
    ) -> Result<Vec<Record>, RecordError> {
        check_batch_size(inputs.len())?;
        let field = ty.field(key).filter(|f| can_match_by(f)).ok_or_else(|| {
            RecordError::BadRequest(format!(
                "`{key}` is not a field of `{}` that records can be matched by",
                ty.plural
            ))
        })?;
        let patches = check_all(ty, &inputs, Mode::Patch)?;
        let mut errors = Vec::new();
        let mut keys = Vec::with_capacity(inputs.len());
        let mut seen = HashSet::new();
        for (index, draft) in patches.iter().enumerate() {
            match draft.fields.get(key).filter(|v| !v.is_null()) {
                None => errors.push(
                    FieldError::new(key, "required", "the upsert key needs a value").at(index),
                ),
                Some(v) if !seen.insert(v.to_string()) => {
                    errors.push(
                        FieldError::new(
                            key,
                            "duplicate_key",
                            "another item of the batch has the same key",
                        )
                        .at(index),
                    );
                }
                Some(v) => keys.push(v.clone()),
            }
        }
        if !errors.is_empty() {
            return Err(RecordError::Invalid(errors));
        }
        let txn = self.db.write.begin().await?;
        let mut existing = self
            .find_by_values(&txn, actor.workspace, ty, field, &keys)
            .await?;
        // Records the actor may not read do not exist for them: an upsert neither updates
        // them nor says that they hold a key (it creates a record of the actor's own).
        for rows in existing.values_mut() {
            rows.retain(|row| actor.allows(Operation::Read, &ty.name, row.owner_id));
        }
        existing.retain(|_, rows| !rows.is_empty());
        let mut updates = Vec::new();
        let mut creates = Vec::new();
        for (index, (draft, input)) in patches.into_iter().zip(&inputs).enumerate() {
            let value = draft
                .fields
                .get(key)
                .map(Value::to_string)
                .unwrap_or_default();
            match existing.get(&value).map(Vec::as_slice) {
                Some([row]) if !may_edit(actor, &ty.name, row, &draft) => errors.push(
                    FieldError::new(
                        key,
                        "forbidden",
                        "your role may not change the record with this key",
                    )
                    .at(index),
                ),
                Some([row]) => updates.push((index, row.clone(), draft)),
                Some(_) => errors.push(
                    FieldError::new(
                        key,
                        "ambiguous_key",
                        "several records have this value; merge them first",
                    )
                    .at(index),
                ),
                None => match value::check(ty, input, Mode::Create) {
                    Ok(draft)
                        if !actor.allows(
                            Operation::Create,
                            &ty.name,
                            Some(draft.owner.unwrap_or(actor.user.0)),
                        ) =>
                    {
                        errors.push(
                            FieldError::new(
                                "owner",
                                "forbidden",
                                "your role may not create this record for that owner",
                            )
                            .at(index),
                        );
                    }
                    Ok(draft) => creates.push((index, draft)),
                    Err(found) => errors.extend(found.into_iter().map(|e| e.at(index))),
                },
            }
        }
        if !errors.is_empty() {
            return Err(RecordError::Invalid(errors));
        }
        let mut update_drafts: Vec<Draft> = Vec::with_capacity(updates.len());
        let mut update_rows = Vec::with_capacity(updates.len());
        for (index, row, draft) in updates {
            update_drafts.push(draft);
            update_rows.push((index, row));
        }
        let current: Vec<_> = update_rows
            .iter()
            .map(|(_, row)| (Some(row.id), row.data.as_object()))
            .collect();
        let mut known = self
            .before_save(
                &txn,
                actor,
                ty,
                WriteOp::Update,
                &mut update_drafts,
                &current,
            )
            .await?;
        let (create_indexes, mut create_drafts): (Vec<usize>, Vec<Draft>) =
            creates.into_iter().unzip();
        let current = vec![(None, None); create_drafts.len()];
        known.extend(
            self.before_save(
                &txn,
                actor,
                ty,
                WriteOp::Create,
                &mut create_drafts,
                &current,
            )
            .await?,
        );
        let updates: Vec<(usize, record::Model, Draft)> = update_rows
            .into_iter()
            .zip(update_drafts)
            .map(|((i, row), d)| (i, row, d))
            .collect();
        let creates: Vec<(usize, Draft)> = create_indexes.into_iter().zip(create_drafts).collect();
        let drafts = updates
            .iter()
            .map(|(i, _, d)| (*i, d))
            .chain(creates.iter().map(|(i, d)| (*i, d)));
        self.check_refs(&txn, actor, drafts, &known).await?;
        let mut order: Vec<usize> = updates.iter().map(|(i, ..)| *i).collect();
        order.extend(creates.iter().map(|(i, _)| *i));
        let mut journal = Vec::with_capacity(inputs.len());
        let updates = updates.into_iter().map(|(_, row, d)| (row, d)).collect();
        let mut out = self
            .apply_patches(&txn, updates, "updated", &mut journal)
            .await?;
        let creates = creates.into_iter().map(|(_, d)| d).collect();
        out.extend(
            self.insert_drafts(&txn, actor, ty, creates, &mut journal)
                .await?,
        );
        self.journal(&txn, actor, journal).await?;
        self.commit(txn).await?;
        let mut indexed: Vec<(usize, Record)> = order.into_iter().zip(out).collect();
        indexed.sort_by_key(|(i, _)| *i);
        Ok(indexed.into_iter().map(|(_, r)| r.visible_in(ty)).collect())
    }

    /// Live records of `ty` whose `field` equals one of `values`, grouped by the value's JSON
    /// text.
    pub(super) async fn find_by_values(
        &self,
        conn: &impl ConnectionTrait,
        workspace: WorkspaceId,
        ty: &EntityType,
        field: &FieldSpec,
        values: &[Value],
    ) -> Result<HashMap<String, Vec<record::Model>>, RecordError> {
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

    pub async fn delete(
        &self,
        actor: &Actor,
        ty: &EntityType,
        id: RecordId,
        if_match: Option<i64>,
    ) -> Result<Record, RecordError> {
        self.set_deleted(actor, ty, id, if_match, true).await
    }

    pub async fn restore(
        &self,
        actor: &Actor,
        ty: &EntityType,
        id: RecordId,
        if_match: Option<i64>,
    ) -> Result<Record, RecordError> {
        self.set_deleted(actor, ty, id, if_match, false).await
    }

    async fn set_deleted(
        &self,
        actor: &Actor,
        ty: &EntityType,
        id: RecordId,
        if_match: Option<i64>,
        delete: bool,
    ) -> Result<Record, RecordError> {
        let txn = self.db.write.begin().await?;
        let mut row = self
            .find_row(&txn, actor.workspace, ty, id.0, true)
            .await?
            .filter(|row| actor.allows(Operation::Read, &ty.name, row.owner_id))
            .ok_or(RecordError::NotFound)?;
        if !actor.allows(Operation::Delete, &ty.name, row.owner_id) {
            return Err(RecordError::Forbidden(
                "your role may not delete or restore this record".into(),
            ));
        }
        if row.deleted_at.is_some() == delete {
            return Err(if delete {
                RecordError::NotFound
            } else {
                RecordError::Conflict("the record is not deleted".into())
            });
        }
        if if_match.is_some_and(|v| v != row.version) {
            return Err(RecordError::VersionConflict {
                current: row.version,
            });
        }
        if delete {
            self.before_delete(actor, ty, &row).await?;
        }
        let now = now_micros();
        let deleted_at = delete.then_some(now);
        record::Entity::update_many()
            .col_expr(record::Column::DeletedAt, Expr::value(deleted_at))
            .col_expr(
                record::Column::MergedInto,
                Expr::value(Option::<Uuid>::None),
            )
            .col_expr(record::Column::Version, Expr::value(row.version + 1))
            .col_expr(record::Column::UpdatedAt, Expr::value(now))
            .filter(record::Column::Id.eq(row.id))
            .exec(&txn)
            .await?;
        row.version += 1;
        row.updated_at = now;
        row.deleted_at = deleted_at;
        let action = if delete { "deleted" } else { "restored" };
        let entry = Journal {
            record_id: row.id,
            entity_type: row.entity_type.clone(),
            action,
            version: row.version,
            changes: Map::new(),
        };
        self.journal(&txn, actor, vec![entry]).await?;
        self.commit(txn).await?;
        Ok(to_record(row).visible_in(ty))
    }

    /// Soft-deleted records whose retention has passed are removed for good.
    pub async fn purge_deleted(&self, older_than_micros: i64) -> Result<u64, RecordError> {
        let result = record::Entity::delete_many()
            .filter(record::Column::DeletedAt.lt(older_than_micros))
            .exec(&self.db.write)
            .await?;
        Ok(result.rows_affected)
    }

    // -- plugins' before-save hooks ---------------------------------------------------------------

    /// Runs the enabled plugins' before-save hooks over the drafts of a write and merges the
    /// fields they patch into the drafts (the registry has checked them like any input).
    /// `current` is each draft's id and stored data (none for creates). The records the hooks'
    /// `references` point at are read through `conn`; those found live and readable are
    /// returned, so that a `check_refs` in the same transaction need not read them again.
    pub(super) async fn before_save(
        &self,
        conn: &impl ConnectionTrait,
        actor: &Actor,
        ty: &EntityType,
        op: WriteOp,
        drafts: &mut [Draft],
        current: &[Stored<'_>],
    ) -> Result<KnownRefs, RecordError> {
        let Some(extensions) = self.extensions() else {
            return Ok(KnownRefs::new());
        };
        if drafts.is_empty() || !extensions.hooks(actor.workspace, &ty.name, op) {
            return Ok(KnownRefs::new());
        }
        let wanted = extensions.references(actor.workspace, &ty.name, op);
        let (known, references) = self.referenced(conn, actor, drafts, &wanted).await?;
        let mut changes: Vec<PendingChange> = drafts
            .iter()
            .zip(current)
            .zip(references)
            .map(|((draft, (id, data)), references)| {
                let mut fields = data.map(Map::clone).unwrap_or_default();
                for (key, value) in &draft.fields {
                    if value.is_null() {
                        fields.remove(key);
                    } else {
                        fields.insert(key.clone(), value.clone());
                    }
                }
                PendingChange {
                    op,
                    id: id.map(RecordId),
                    fields,
                    changed: draft.fields.keys().cloned().collect(),
                    patch: Map::new(),
                    references,
                }
            })
            .collect();
        extensions.before_save(actor, ty, &mut changes).await?;
        for (draft, change) in drafts.iter_mut().zip(changes) {
            if !change.patch.is_empty() {
                let checked =
                    value::check(ty, &change.patch, Mode::Patch).map_err(RecordError::Invalid)?;
                apply_patch(draft, checked, op == WriteOp::Create);
            }
        }
        Ok(known)
    }

    /// The live records that the `fields` each draft sets point at, as the actor may read them
    /// (its role's read scope and field rules applied), per draft; and the id and type of each.
    async fn referenced(
        &self,
        conn: &impl ConnectionTrait,
        actor: &Actor,
        drafts: &[Draft],
        fields: &[String],
    ) -> Result<(KnownRefs, Vec<Vec<Referenced>>), RecordError> {
        let wanted = |(field, ..): &&(String, Uuid, Option<String>)| fields.contains(field);
        let ids: HashSet<Uuid> = (drafts.iter())
            .flat_map(|draft| draft.record_refs.iter().filter(wanted))
            .map(|(_, id, _)| *id)
            .collect();
        let mut known = KnownRefs::new();
        let mut found: HashMap<Uuid, (Arc<EntityType>, Arc<Record>)> = HashMap::new();
        if !ids.is_empty() {
            let schema = self.schema(actor.workspace).await?;
            let ids: Vec<Uuid> = ids.into_iter().collect();
            for chunk in ids.chunks(500) {
                let rows = record::Entity::find()
                    .filter(record::Column::WorkspaceId.eq(actor.workspace.0))
                    .filter(record::Column::DeletedAt.is_null())
                    .filter(record::Column::Id.is_in(chunk.iter().copied()))
                    .all(conn)
                    .await?;
                for row in rows {
                    let Some(ty) = schema.by_name(&row.entity_type) else {
                        continue;
                    };
                    if !actor.allows(Operation::Read, &ty.name, row.owner_id) {
                        continue;
                    }
                    let view = actor.access.view(ty);
                    known.insert(row.id, row.entity_type.clone());
                    let record = to_record(row).visible_in(&view);
                    found.insert(record.id.0, (view, Arc::new(record)));
                }
            }
        }
        let references = (drafts.iter())
            .map(|draft| {
                (draft.record_refs.iter().filter(wanted))
                    .filter_map(|(field, id, _)| {
                        let (ty, record) = found.get(id)?;
                        Some(Referenced {
                            field: field.clone(),
                            ty: ty.clone(),
                            record: record.clone(),
                        })
                    })
                    .collect()
            })
            .collect();
        Ok((known, references))
    }

    /// Runs the before-save hooks of a delete (they may refuse it).
    pub(super) async fn before_delete(
        &self,
        actor: &Actor,
        ty: &EntityType,
        row: &record::Model,
    ) -> Result<(), RecordError> {
        let Some(extensions) = self.extensions() else {
            return Ok(());
        };
        if !extensions.hooks(actor.workspace, &ty.name, WriteOp::Delete) {
            return Ok(());
        }
        let mut changes = [PendingChange {
            op: WriteOp::Delete,
            id: Some(RecordId(row.id)),
            fields: row.data.as_object().cloned().unwrap_or_default(),
            changed: Vec::new(),
            patch: Map::new(),
            references: Vec::new(),
        }];
        extensions.before_save(actor, ty, &mut changes).await
    }

    // -- shared write steps ---------------------------------------------------------------------

    /// Checks that every referenced record and user exists, live, in the workspace (and, for
    /// typed references, is of the target type). `known` records were found so in `conn`'s
    /// transaction already.
    pub(super) async fn check_refs<'d>(
        &self,
        conn: &impl ConnectionTrait,
        actor: &Actor,
        drafts: impl Iterator<Item = (usize, &'d Draft)>,
        known: &KnownRefs,
    ) -> Result<(), RecordError> {
        let drafts: Vec<(usize, &Draft)> = drafts.collect();
        let record_ids: HashSet<Uuid> = drafts
            .iter()
            .flat_map(|(_, d)| d.record_refs.iter().map(|r| r.1))
            .filter(|id| !known.contains_key(id))
            .collect();
        let user_ids: HashSet<Uuid> = drafts
            .iter()
            .flat_map(|(_, d)| d.user_refs.iter().map(|r| r.1))
            .collect();
        if record_ids.is_empty() && user_ids.is_empty() && known.is_empty() {
            return Ok(());
        }
        let mut types: HashMap<Uuid, String> = HashMap::new();
        let readable = |(id, ty, owner): (Uuid, String, Option<Uuid>)| {
            actor
                .allows(Operation::Read, &ty, owner)
                .then_some((id, ty))
        };
        let record_ids: Vec<Uuid> = record_ids.into_iter().collect();
        for chunk in record_ids.chunks(500) {
            let rows: Vec<(Uuid, String, Option<Uuid>)> = record::Entity::find()
                .select_only()
                .column(record::Column::Id)
                .column(record::Column::EntityType)
                .column(record::Column::OwnerId)
                .filter(record::Column::WorkspaceId.eq(actor.workspace.0))
                .filter(record::Column::DeletedAt.is_null())
                .filter(record::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(conn)
                .await?;
            types.extend(rows.into_iter().filter_map(readable));
        }
        let users =
            crate::auth::existing_users(conn, actor.workspace, user_ids.into_iter().collect())
                .await?;
        let mut errors = Vec::new();
        let single = drafts.len() == 1;
        for (index, draft) in &drafts {
            let at = |e: FieldError| if single { e } else { e.at(*index) };
            for (field, id, target) in &draft.record_refs {
                match (types.get(id).or_else(|| known.get(id)), target) {
                    (None, _) => errors.push(at(FieldError::new(
                        field,
                        "reference_not_found",
                        format!("no live record has the id {id}"),
                    ))),
                    (Some(found), Some(target)) if found != target => {
                        errors.push(at(FieldError::new(
                            field,
                            "wrong_reference_type",
                            format!("{id} is a {found}, not a {target}"),
                        )));
                    }
                    _ => {}
                }
            }
            for (field, id) in &draft.user_refs {
                if !users.contains(id) {
                    errors.push(at(FieldError::new(
                        field,
                        "user_not_found",
                        format!("no user of this workspace has the id {id}"),
                    )));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(RecordError::Invalid(errors))
        }
    }

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
                payload: Set(json!({ "fields": fields, "actor": actor.user })),
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

    /// Records by id, in any workspace and including deleted ones (for the search indexer).
    pub async fn records_by_ids(
        &self,
        ids: &[Uuid],
    ) -> Result<Vec<(WorkspaceId, Record)>, RecordError> {
        let rows = record::Entity::find()
            .filter(record::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db.read)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| (WorkspaceId(row.workspace_id), to_record(row)))
            .collect())
    }

    /// The titles of the live records behind `ids` that `actor` may read, each with its
    /// type's plural: what a page shows for a reference. Records the actor may not read, of
    /// another workspace, or deleted, are left out (their titles could leak).
    pub async fn titles(
        &self,
        actor: &Actor,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, (String, String)>, RecordError> {
        let mut titles = HashMap::new();
        if ids.is_empty() {
            return Ok(titles);
        }
        let schema = self.schema(actor.workspace).await?;
        // The workspace and deletion are checked here rather than in SQL: with them in the
        // query, SQLite's planner (without statistics) walked an index of every record of the
        // workspace instead of looking the ids up by primary key.
        let rows = record::Entity::find()
            .filter(record::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db.read)
            .await?;
        for row in rows {
            let Some(ty) = schema
                .by_name(&row.entity_type)
                .filter(|_| row.workspace_id == actor.workspace.0 && row.deleted_at.is_none())
            else {
                continue;
            };
            if !actor.allows(Operation::Read, &ty.name, row.owner_id) {
                continue;
            }
            let view = actor.access.view(ty);
            let id = row.id;
            let record = to_record(row);
            titles.insert(id, (ty.plural.clone(), value::title(&view, &record.data)));
        }
        Ok(titles)
    }

    /// Live records of every workspace in id order, after `after` (for rebuilding the index).
    pub async fn scan_live(
        &self,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<Vec<(WorkspaceId, Record)>, RecordError> {
        let mut select = record::Entity::find().filter(record::Column::DeletedAt.is_null());
        if let Some(after) = after {
            select = select.filter(record::Column::Id.gt(after));
        }
        let rows = select
            .order_by_asc(record::Column::Id)
            .limit(limit)
            .all(&self.db.read)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| (WorkspaceId(row.workspace_id), to_record(row)))
            .collect())
    }

    pub async fn count_live(&self) -> Result<u64, RecordError> {
        Ok(record::Entity::find()
            .filter(record::Column::DeletedAt.is_null())
            .count(&self.db.read)
            .await?)
    }

    /// The sequence number of the newest outbox event.
    pub async fn outbox_head(&self) -> Result<i64, RecordError> {
        let row = self
            .db
            .read
            .query_one_raw(Statement::from_string(
                self.db.backend,
                "SELECT seq FROM outbox_head WHERE id = 1".to_owned(),
            ))
            .await?;
        Ok(row
            .map(|r| r.try_get::<i64>("", "seq"))
            .transpose()?
            .unwrap_or(0))
    }

    /// Outbox events after `seq`, in order (for consumers and tests).
    pub async fn outbox_after(
        &self,
        seq: i64,
        limit: u64,
    ) -> Result<Vec<outbox::Model>, RecordError> {
        Ok(outbox::Entity::find()
            .filter(outbox::Column::Seq.gt(seq))
            .order_by_asc(outbox::Column::Seq)
            .limit(limit)
            .all(&self.db.read)
            .await?)
    }
}

/// Merges a checked patch from a hook into a draft; on a create, an emptied field is absent.
pub fn apply_patch(draft: &mut Draft, patch: Draft, create: bool) {
    let patched = |field: &str| patch.fields.contains_key(field);
    draft.record_refs.retain(|(field, ..)| !patched(field));
    draft.user_refs.retain(|(field, _)| !patched(field));
    draft.record_refs.extend(patch.record_refs);
    draft.user_refs.extend(patch.user_refs);
    for (key, value) in patch.fields {
        if create && value.is_null() {
            draft.fields.remove(&key);
        } else {
            draft.fields.insert(key, value);
        }
    }
}

pub(super) fn to_record(row: record::Model) -> Record {
    let data = match row.data {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    Record {
        id: RecordId(row.id),
        entity_type: row.entity_type,
        data,
        version: row.version,
        owner: row.owner_id.map(UserId),
        created_at: from_micros(row.created_at),
        updated_at: from_micros(row.updated_at),
        deleted_at: row.deleted_at.map(from_micros),
    }
}

/// Stored data is always an object; anything else is treated as empty rather than trusted.
fn corrupt_data(row: &record::Model) -> Map<String, Value> {
    tracing::error!(id = %row.id, "record data is not a JSON object");
    Map::new()
}

/// `AND owner_id …` for a scope (nothing reachable: a forbidden type).
fn push_scope(sql: &mut Sql, scope: &Scope) -> Result<(), RecordError> {
    match scope {
        Scope::All => {}
        Scope::Nothing => {
            return Err(RecordError::Forbidden(
                "your role may not read these records".into(),
            ));
        }
        Scope::Owners(owners) => {
            sql.push(" AND owner_id IN (");
            for (i, owner) in owners.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind(*owner);
            }
            sql.push(")");
        }
    }
    Ok(())
}

/// Refuses drafts the actor may not create (for their requested owner).
fn check_create_scope<'d>(
    actor: &Actor,
    ty: &EntityType,
    drafts: impl Iterator<Item = (usize, &'d Draft)>,
    single: bool,
) -> Result<(), RecordError> {
    if actor.access.level(Operation::Create, &ty.name) == Level::None {
        return Err(RecordError::Forbidden(format!(
            "your role may not create {}",
            ty.plural
        )));
    }
    let errors: Vec<FieldError> = drafts
        .filter(|(_, d)| {
            !actor.allows(
                Operation::Create,
                &ty.name,
                Some(d.owner.unwrap_or(actor.user.0)),
            )
        })
        .map(|(i, _)| {
            let error = FieldError::new(
                "owner",
                "forbidden",
                "your role may not create records for this owner",
            );
            if single { error } else { error.at(i) }
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(RecordError::Invalid(errors))
    }
}

/// Whether the actor may apply `draft` to `row`: edit its current owner's records and, when the
/// draft reassigns it, the new owner's too.
fn may_edit(actor: &Actor, entity: &str, row: &record::Model, draft: &Draft) -> bool {
    actor.allows(Operation::Edit, entity, row.owner_id)
        && draft
            .owner
            .is_none_or(|owner| actor.allows(Operation::Edit, entity, Some(owner)))
}

fn check_batch_size(len: usize) -> Result<(), RecordError> {
    if len > MAX_BATCH {
        return Err(RecordError::BatchTooLarge { max: MAX_BATCH });
    }
    if len == 0 {
        return Err(RecordError::BadRequest("the batch is empty".into()));
    }
    Ok(())
}

fn check_all(
    ty: &EntityType,
    inputs: &[Map<String, Value>],
    mode: Mode,
) -> Result<Vec<Draft>, RecordError> {
    let single = inputs.len() == 1;
    let mut drafts = Vec::with_capacity(inputs.len());
    let mut errors = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        match value::check(ty, input, mode) {
            Ok(draft) => drafts.push(draft),
            Err(found) => errors.extend(
                found
                    .into_iter()
                    .map(|e| if single { e } else { e.at(index) }),
            ),
        }
    }
    if errors.is_empty() {
        Ok(drafts)
    } else {
        Err(RecordError::Invalid(errors))
    }
}

/// A single-record call reports field errors without batch indexes.
fn strip_index(error: RecordError) -> RecordError {
    match error {
        RecordError::Invalid(details) => RecordError::Invalid(
            details
                .into_iter()
                .map(|mut e| {
                    e.index = None;
                    e
                })
                .collect(),
        ),
        other => other,
    }
}

/// Fields whose value identifies a record well enough to upsert by it.
fn can_match_by(field: &FieldSpec) -> bool {
    use super::schema::FieldKind::*;
    match field.kind {
        Text | Email | Phone | Url | Integer | Date | Datetime | Select | User => true,
        Reference => !field.multiple,
        _ => false,
    }
}

fn bind_json_scalar(sql: &mut Sql, value: &Value) {
    match value {
        Value::String(s) => sql.bind(s.clone()),
        Value::Bool(b) => sql.bind(*b),
        Value::Number(n) if n.is_i64() => sql.bind(n.as_i64().unwrap_or_default()),
        Value::Number(n) => sql.bind(n.as_f64().unwrap_or_default()),
        other => sql.bind(other.to_string()),
    };
}

fn conflict_or(error: sea_orm::DbErr, message: &str) -> RecordError {
    match error.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
            RecordError::Conflict(message.to_owned())
        }
        _ => RecordError::Database(error),
    }
}
