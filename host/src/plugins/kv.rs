//! Plugins' key-value stores: one per plugin and workspace, holding at most [`QUOTA`] bytes
//! (keys and values). What each store holds is kept in `plugin_kv_usage`, changed in the same
//! transaction as every write and locked by it, so the quota holds under concurrent writers
//! (and replicas) without summing the store.

use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement, TransactionTrait,
};
use uuid::Uuid;

use super::model::{kv, kv_usage};
use crate::db::Db;

/// Longest key, in bytes.
pub const MAX_KEY: usize = 200;
/// Largest value, in bytes.
pub const MAX_VALUE: usize = 1024 * 1024;
/// Bytes (keys and values) one plugin may keep in one workspace.
pub const QUOTA: i64 = 64 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error(
        "the key-value store is full: it holds {used} bytes and may hold {QUOTA}; delete keys first"
    )]
    Quota { used: i64 },
    #[error("database error: {0}")]
    Database(#[from] DbErr),
}

/// A store's keys and bytes.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Usage {
    pub keys: i64,
    pub bytes: i64,
    pub quota: i64,
}

pub async fn usage(db: &Db, workspace: Uuid, plugin: &str) -> Result<Usage, DbErr> {
    let row = kv_usage::Entity::find_by_id((workspace, plugin.to_owned()))
        .one(&db.read)
        .await?;
    Ok(row.map_or(
        Usage {
            quota: QUOTA,
            ..Usage::default()
        },
        |r| Usage {
            keys: r.keys,
            bytes: r.bytes,
            quota: QUOTA,
        },
    ))
}

pub async fn get(
    db: &Db,
    workspace: Uuid,
    plugin: &str,
    key: &str,
) -> Result<Option<Vec<u8>>, DbErr> {
    let row = kv::Entity::find_by_id((workspace, plugin.to_owned(), key.to_owned()))
        .one(&db.read)
        .await?;
    Ok(row.map(|r| r.value))
}

/// Keys starting with `prefix`, in order, at most `limit`.
pub async fn keys(
    db: &Db,
    workspace: Uuid,
    plugin: &str,
    prefix: &str,
    limit: u64,
) -> Result<Vec<String>, DbErr> {
    kv::Entity::find()
        .select_only()
        .column(kv::Column::Key)
        .filter(kv::Column::WorkspaceId.eq(workspace))
        .filter(kv::Column::PluginId.eq(plugin))
        .filter(kv::Column::Key.starts_with(prefix))
        .order_by_asc(kv::Column::Key)
        .limit(limit)
        .into_tuple()
        .all(&db.read)
        .await
}

/// Sets a key, unless the store would then hold more than [`QUOTA`] bytes.
pub async fn set(
    db: &Db,
    workspace: Uuid,
    plugin: &str,
    key: &str,
    value: Vec<u8>,
) -> Result<(), KvError> {
    let txn = db.write.begin().await?;
    let held = lock_usage(&txn, workspace, plugin).await?;
    let before = stored_size(&txn, workspace, plugin, key).await?;
    let after = size(key.len() + value.len());
    let (keys, bytes) = match before {
        Some(before) => (held.keys, held.bytes - before + after),
        None => (held.keys + 1, held.bytes + after),
    };
    if bytes > QUOTA && bytes > held.bytes {
        return Err(KvError::Quota { used: held.bytes });
    }
    kv::Entity::insert(kv::ActiveModel {
        workspace_id: Set(workspace),
        plugin_id: Set(plugin.to_owned()),
        key: Set(key.to_owned()),
        value: Set(value),
    })
    .on_conflict(
        OnConflict::columns([
            kv::Column::WorkspaceId,
            kv::Column::PluginId,
            kv::Column::Key,
        ])
        .update_column(kv::Column::Value)
        .to_owned(),
    )
    .exec_without_returning(&txn)
    .await?;
    save_usage(&txn, workspace, plugin, keys, bytes).await?;
    txn.commit().await?;
    Ok(())
}

pub async fn delete(db: &Db, workspace: Uuid, plugin: &str, key: &str) -> Result<(), KvError> {
    let txn = db.write.begin().await?;
    let held = lock_usage(&txn, workspace, plugin).await?;
    let Some(before) = stored_size(&txn, workspace, plugin, key).await? else {
        return Ok(());
    };
    kv::Entity::delete_by_id((workspace, plugin.to_owned(), key.to_owned()))
        .exec(&txn)
        .await?;
    save_usage(&txn, workspace, plugin, held.keys - 1, held.bytes - before).await?;
    txn.commit().await?;
    Ok(())
}

fn size(bytes: usize) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

/// The store's usage row, created if missing and locked until the transaction ends (on
/// PostgreSQL; SQLite's one writer serialises write transactions already).
async fn lock_usage(
    txn: &impl ConnectionTrait,
    workspace: Uuid,
    plugin: &str,
) -> Result<kv_usage::Model, DbErr> {
    kv_usage::Entity::insert(kv_usage::ActiveModel {
        workspace_id: Set(workspace),
        plugin_id: Set(plugin.to_owned()),
        keys: Set(0),
        bytes: Set(0),
    })
    .on_conflict(
        OnConflict::columns([kv_usage::Column::WorkspaceId, kv_usage::Column::PluginId])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(txn)
    .await?;
    let mut select = kv_usage::Entity::find_by_id((workspace, plugin.to_owned()));
    if txn.get_database_backend() == DbBackend::Postgres {
        select = select.lock_exclusive();
    }
    select
        .one(txn)
        .await?
        .ok_or_else(|| DbErr::RecordNotFound("plugin_kv_usage".into()))
}

async fn save_usage(
    txn: &impl ConnectionTrait,
    workspace: Uuid,
    plugin: &str,
    keys: i64,
    bytes: i64,
) -> Result<(), DbErr> {
    kv_usage::Entity::update_many()
        .col_expr(kv_usage::Column::Keys, keys.max(0).into())
        .col_expr(kv_usage::Column::Bytes, bytes.max(0).into())
        .filter(kv_usage::Column::WorkspaceId.eq(workspace))
        .filter(kv_usage::Column::PluginId.eq(plugin))
        .exec(txn)
        .await?;
    Ok(())
}

/// The bytes a key and its value take now, if the key is set.
async fn stored_size(
    txn: &impl ConnectionTrait,
    workspace: Uuid,
    plugin: &str,
    key: &str,
) -> Result<Option<i64>, DbErr> {
    let backend = txn.get_database_backend();
    // Bytes, not characters: SQLite's `length` counts a text's characters.
    let (bytes, params) = match backend {
        DbBackend::Postgres => (
            "CAST(octet_length(key) + octet_length(value) AS BIGINT)",
            "$1, $2, $3",
        ),
        _ => ("length(CAST(key AS BLOB)) + length(value)", "?, ?, ?"),
    };
    let mut placeholders = params.split(", ");
    let sql = format!(
        "SELECT {bytes} AS n FROM plugin_kv \
         WHERE workspace_id = {} AND plugin_id = {} AND key = {}",
        placeholders.next().unwrap_or("?"),
        placeholders.next().unwrap_or("?"),
        placeholders.next().unwrap_or("?"),
    );
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [workspace.into(), plugin.into(), key.into()],
        ))
        .await?;
    row.map(|row| row.try_get::<i64>("", "n")).transpose()
}
