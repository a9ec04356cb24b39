//! The store: reads, list queries and every write, each write one transaction with its audit
//! rows and outbox events. `write` is the one write path (every create, update, upsert,
//! delete, restore and merge); `read` the reads and lists; `refs` the records a write points
//! at (for hooks and reference checks); `journal` the audit log and the outbox; this file the
//! store itself and its schema.

mod journal;
mod read;
mod refs;
mod write;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, Statement,
};
use serde_json::{Map, Value};
use uuid::Uuid;

pub use journal::{AuditEntry, AuditQuery};
pub use read::{ListQuery, Page};
pub use write::{Change, MAX_BATCH, Op, Receipt, Step, UpdateItem, WriteOptions, Written};

use super::model::{custom_field, entity_type, record};
use super::query;
use super::schema::{EntityType, FieldSpec, Schema, builtin_types};
use super::value::Draft;
use super::{Actor, Extensions, Record, RecordError, from_micros, now_micros};
use crate::auth::permissions::{Level, Operation};
use crate::db::Db;
use crate::error::FieldError;
use crate::i18n::{Text, text};
use crate::ids::{RecordId, UserId, WorkspaceId};

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

/// Referenced records already found live and readable in a write's transaction, by id, with
/// their type: [`Store::check_refs`] does not read them again.
type KnownRefs = HashMap<Uuid, String>;

/// A change about to be journalled: the audit row and outbox event of one record write.
struct Journal {
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

    /// Runs `statements` in one transaction (a receipt of a write that had no rows to write).
    pub async fn run_statements(
        &self,
        statements: Vec<sea_orm::Statement>,
    ) -> Result<(), RecordError> {
        use sea_orm::{ConnectionTrait, TransactionTrait};
        let txn = self.db.write.begin().await?;
        for statement in statements {
            txn.execute_raw(statement).await?;
        }
        txn.commit().await?;
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
            return Err(RecordError::Forbidden(text!(
                "api-records-forbidden-read-type",
                plural = &ty.plural
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
                text!(
                    "api-records-field-exists",
                    plural = &ty.plural,
                    field = &field.name
                ),
            )]));
        }
        self.check_unclaimed(actor.workspace, &ty.name, &field.name)
            .await?;
        if field.indexed {
            self.ensure_index(&ty.name, &field).await?;
        }
        let spec = serde_json::to_value(&field)
            .map_err(|e| RecordError::BadRequest(Text::verbatim(e.to_string())))?;
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
            .map_err(|e| conflict_or(e, text!("api-records-field-exists-conflict")))?;
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
            text!("api-records-claimed-type", entity = entity)
        } else {
            text!("api-records-claimed-field", field = field, entity = entity)
        };
        Err(RecordError::Invalid(vec![FieldError::new(
            "name",
            "taken",
            text!("api-records-claimed", what = what, plugin = plugin),
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
        let spec = serde_json::to_value(&ty)
            .map_err(|e| RecordError::BadRequest(Text::verbatim(e.to_string())))?;
        let row = entity_type::ActiveModel {
            workspace_id: Set(actor.workspace.0),
            name: Set(ty.name.clone()),
            spec: Set(spec),
            created_at: Set(now_micros()),
        };
        entity_type::Entity::insert(row)
            .exec(&self.db.write)
            .await
            .map_err(|e| conflict_or(e, text!("api-records-type-exists-conflict")))?;
        self.forget_schema(actor.workspace);
        crate::changes::announce(&self.db, actor.workspace, crate::changes::Change::Schema).await;
        Ok(ty)
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

fn conflict_or(error: sea_orm::DbErr, message: Text) -> RecordError {
    match error.sql_err() {
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => RecordError::Conflict(message),
        _ => RecordError::Database(error),
    }
}
