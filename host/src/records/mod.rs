//! The record store: every record of every entity type, their schema (built-in types, custom
//! types and custom fields), validation, queries, the audit log and the outbox.
//!
//! The store knows nothing of HTTP; `api` translates requests into store calls. Every write
//! goes through [`Store`], in one transaction with its audit rows and outbox events.

pub mod aggregate;
pub mod api;
mod merge;
pub mod model;
pub mod openapi;
mod openapi_more;
pub mod query;
pub mod schema;
mod store;
pub mod value;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub use store::{
    AuditEntry, AuditQuery, Change, ListQuery, MAX_BATCH, Op, Page, Receipt, Step, Store,
    UpdateItem, WriteOptions, Written, apply_patch,
};

use crate::auth::permissions::{Access, Operation};
use crate::error::FieldError;
use crate::i18n::Text;
use crate::ids::{RecordId, UserId, WorkspaceId};

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("unknown entity type `{0}`")]
    UnknownEntity(String),
    #[error("record not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(Text),
    #[error("invalid record: {0:?}")]
    Invalid(Vec<FieldError>),
    #[error("version conflict: current version is {current}")]
    VersionConflict { current: i64 },
    #[error("invalid filter: {0}")]
    Filter(Text),
    #[error("invalid sort: {0}")]
    Sort(Text),
    #[error("invalid cursor")]
    Cursor,
    #[error("a batch holds at most {max} records")]
    BatchTooLarge { max: usize },
    #[error("conflict: {0}")]
    Conflict(Text),
    #[error("bad request: {0}")]
    BadRequest(Text),
    #[error("invalid parameter: {0}")]
    Parameter(Text),
    #[error("plugin `{plugin}` failed: {message}")]
    Plugin { plugin: String, message: String },
    /// A suspended plugin's before-save hook would check this write: it is refused rather
    /// than saved unchecked.
    #[error("plugin `{plugin}` is suspended")]
    PluginSuspended { plugin: String },
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
}

/// What the store runs that is not its own: the types and fields enabled plugins add to a
/// workspace, and their before-save hooks. The plugin registry implements it; the store calls
/// it on every schema load and every write.
pub trait Extensions: Send + Sync {
    /// Entity types, and fields of other types, added to `workspace`.
    fn schema_additions(
        &self,
        workspace: WorkspaceId,
    ) -> (Vec<schema::EntityType>, Vec<(String, schema::FieldSpec)>);

    /// Whether any enabled plugin hooks `op` on `entity` in the workspace (the fast path).
    fn hooks(&self, workspace: WorkspaceId, entity: &str, op: WriteOp) -> bool;

    /// The reference fields of `entity` whose records the before-save hooks of `op` get
    /// (`PendingChange::references`), in any enabled plugin of the workspace.
    fn references(&self, workspace: WorkspaceId, entity: &str, op: WriteOp) -> Vec<String>;

    /// The plugin that declared the type `entity` (`field` empty) or that field of it in the
    /// workspace: it keeps the name, and the records stored under it, while it is disabled.
    fn claimant<'a>(
        &'a self,
        workspace: WorkspaceId,
        entity: &'a str,
        field: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Option<String>, RecordError>> + Send + 'a>>;

    /// Runs the before-save hooks over `changes`, which they may patch (`PendingChange::patch`)
    /// or reject (`RecordError::Invalid`); a failing plugin is `RecordError::Plugin`.
    fn before_save<'a>(
        &'a self,
        actor: &'a Actor,
        ty: &'a schema::EntityType,
        changes: &'a mut [PendingChange],
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), RecordError>> + Send + 'a>>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOp {
    Create,
    Update,
    Delete,
}

/// A write about to happen, as before-save hooks see it.
#[derive(Debug, Clone)]
pub struct PendingChange {
    pub op: WriteOp,
    pub id: Option<RecordId>,
    /// The record's fields after the write (for a delete, as stored).
    pub fields: Map<String, Value>,
    /// The record's fields before the write (none for a create).
    pub old: Option<Map<String, Value>>,
    /// The fields the write sets.
    pub changed: Vec<String>,
    /// Fields the hooks set (checked and applied by the store).
    pub patch: Map<String, Value>,
    /// The live records the write's reference fields named by [`Extensions::references`] point
    /// at, as the actor may read them.
    pub references: Vec<Referenced>,
}

/// A record a pending change references through `field`, with its type as the actor sees it.
#[derive(Debug, Clone)]
pub struct Referenced {
    pub field: String,
    pub ty: Arc<schema::EntityType>,
    pub record: Arc<Record>,
}

/// Who is acting, in which workspace, with which permissions. Every store call takes one;
/// nothing crosses the workspace, and nothing passes the permissions.
#[derive(Debug, Clone)]
pub struct Actor {
    pub workspace: WorkspaceId,
    pub user: UserId,
    pub access: Arc<Access>,
}

impl Actor {
    /// The system acting for `user` with full access (demo data, the command line).
    pub fn system(workspace: WorkspaceId, user: UserId) -> Actor {
        Actor {
            workspace,
            user,
            access: Arc::new(Access::system(user)),
        }
    }

    pub fn allows(&self, op: Operation, entity: &str, owner: Option<uuid::Uuid>) -> bool {
        self.access.allows(op, entity, owner)
    }
}

/// A record as the store returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub id: RecordId,
    pub entity_type: String,
    pub data: Map<String, Value>,
    pub version: i64,
    pub owner: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Record {
    /// Keeps only the fields of `ty` (a caller's view: hidden fields are dropped).
    pub fn visible_in(mut self, ty: &schema::EntityType) -> Record {
        if self.data.keys().any(|k| ty.field(k).is_none()) {
            self.data.retain(|k, _| ty.field(k).is_some());
        }
        self
    }

    /// The flat JSON form of DESIGN §3: system keys, then field values. `fields` keeps only
    /// the named fields (system keys `id` and `version` are always present).
    pub fn to_json(&self, fields: Option<&[String]>) -> Value {
        let wanted = |key: &str| fields.is_none_or(|f| f.iter().any(|k| k == key));
        let mut out = Map::with_capacity(self.data.len() + 6);
        out.insert("id".into(), Value::String(self.id.to_string()));
        out.insert("version".into(), Value::from(self.version));
        if wanted("owner") {
            out.insert(
                "owner".into(),
                self.owner
                    .map_or(Value::Null, |o| Value::String(o.to_string())),
            );
        }
        if wanted("created_at") {
            out.insert(
                "created_at".into(),
                Value::String(value::format_datetime(self.created_at)),
            );
        }
        if wanted("updated_at") {
            out.insert(
                "updated_at".into(),
                Value::String(value::format_datetime(self.updated_at)),
            );
        }
        if let Some(deleted_at) = self.deleted_at {
            out.insert(
                "deleted_at".into(),
                Value::String(value::format_datetime(deleted_at)),
            );
        }
        for (key, value) in &self.data {
            if wanted(key) {
                out.insert(key.clone(), value.clone());
            }
        }
        Value::Object(out)
    }
}

/// Microseconds since the Unix epoch, the stored form of every timestamp.
pub fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

pub fn from_micros(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// A duration in microseconds, the unit of every stored time (saturating).
pub fn micros(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}
