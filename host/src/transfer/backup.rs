//! Backup and restore: every table of the database as one portable archive, written from one
//! consistent snapshot while the server keeps serving, and restored into an empty database of
//! either engine (SQLite → PostgreSQL is how a deployment outgrows one machine).
//!
//! The archive is a `.tar.gz` holding `manifest.json` (format, Kith version, source engine,
//! the migrations applied, and per table its columns, row count and SHA-256) followed by
//! `tables/<table>.jsonl`, one JSON array per row in a portable form (ids as text, bytes as
//! base64, JSON as JSON). Restore reads the archive twice: first to check every checksum and
//! count (a corrupt or truncated archive is refused before anything is written), then to
//! insert every row in one transaction.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use futures_util::StreamExt;
use sea_orm::{
    AccessMode, ConnectionTrait, DbBackend, IsolationLevel, QueryResult, Statement, StreamTrait,
    TransactionTrait,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::db::Db;
use crate::i18n::{Text, text};

/// The archive layout this build writes and reads.
const FORMAT: u32 = 1;
/// Rows per INSERT on restore (also kept under both engines' bound-parameter limits).
const INSERT_ROWS: usize = 500;
const MAX_PARAMETERS: usize = 30_000;

/// A backup or restore refused for a reason the person can act on (in their language).
#[derive(Debug)]
pub struct Refusal(pub Text);

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Refusal {}

fn refuse(message: Text) -> anyhow::Error {
    anyhow::Error::new(Refusal(message))
}

/// How a column's values are read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Uuid,
    I16,
    I32,
    I64,
    F64,
    Bool,
    Text,
    Json,
    Bytes,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableEntry {
    pub name: String,
    pub columns: Vec<String>,
    pub rows: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub kith: String,
    /// `sqlite` or `postgres`: the engine it was taken from.
    pub backend: String,
    pub created_at: String,
    pub migrations: Vec<String>,
    pub tables: Vec<TableEntry>,
}

fn backend_name(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "postgres",
        _ => "sqlite",
    }
}

/// The tables a backup holds: all but the migration bookkeeping (the target has its own).
async fn tables(conn: &impl ConnectionTrait) -> anyhow::Result<Vec<String>> {
    let sql = match conn.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() \
             AND table_type = 'BASE TABLE' AND table_name <> 'seaql_migrations' ORDER BY table_name"
        }
        _ => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' \
             AND name <> 'seaql_migrations' ORDER BY name"
        }
    };
    let rows = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| r.try_get_by_index::<String>(0).ok())
        .collect())
}

/// What the catalogue says about `table`: `postgres` or `sqlite`, whichever the connection
/// speaks, with the table's name bound.
async fn about_table(
    conn: &impl ConnectionTrait,
    table: &str,
    postgres: &str,
    sqlite: &str,
) -> anyhow::Result<Vec<QueryResult>> {
    let backend = conn.get_database_backend();
    let sql = if backend == DbBackend::Postgres {
        postgres
    } else {
        sqlite
    };
    let statement = Statement::from_sql_and_values(backend, sql, [table.into()]);
    Ok(conn.query_all_raw(statement).await?)
}

/// The tables `table` has foreign keys to (other than itself).
async fn references(conn: &impl ConnectionTrait, table: &str) -> anyhow::Result<Vec<String>> {
    let rows = about_table(
        conn,
        table,
        "SELECT DISTINCT referenced.relname::text FROM pg_constraint c \
         JOIN pg_class own ON own.oid = c.conrelid JOIN pg_class referenced ON referenced.oid = c.confrelid \
         WHERE c.contype = 'f' AND own.relname = $1",
        "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list(?)",
    )
    .await?;
    Ok(rows
        .iter()
        .filter_map(|r| r.try_get_by_index::<String>(0).ok())
        .filter(|t| t != table)
        .collect())
}

/// `tables` ordered so that each comes after the tables its foreign keys point at.
async fn in_dependency_order(
    conn: &impl ConnectionTrait,
    tables: Vec<String>,
) -> anyhow::Result<Vec<String>> {
    let mut pending: Vec<(String, Vec<String>)> = Vec::new();
    for table in tables {
        let needs = references(conn, &table).await?;
        pending.push((table, needs));
    }
    let mut ordered: Vec<String> = Vec::new();
    while !pending.is_empty() {
        let ready = pending
            .iter()
            .position(|(_, needs)| {
                needs
                    .iter()
                    .all(|n| ordered.contains(n) || !pending.iter().any(|(t, _)| t == n))
            })
            // A cycle: take the first (its constraints are then checked at the end anyway).
            .unwrap_or(0);
        ordered.push(pending.remove(ready).0);
    }
    Ok(ordered)
}

/// A table's columns in order, with how each is read.
async fn columns(conn: &impl ConnectionTrait, table: &str) -> anyhow::Result<Vec<(String, Kind)>> {
    let backend = conn.get_database_backend();
    let rows = about_table(
        conn,
        table,
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        "SELECT name, type FROM pragma_table_info(?) ORDER BY cid",
    )
    .await?;
    let mut out = Vec::new();
    for row in rows {
        let name: String = row.try_get_by_index(0)?;
        let declared: String = row.try_get_by_index(1)?;
        out.push((name, kind_of(backend, &declared.to_lowercase())));
    }
    Ok(out)
}

fn kind_of(backend: DbBackend, declared: &str) -> Kind {
    match backend {
        DbBackend::Postgres => match declared {
            "uuid" => Kind::Uuid,
            "smallint" => Kind::I16,
            "integer" => Kind::I32,
            "bigint" => Kind::I64,
            "double precision" | "real" | "numeric" => Kind::F64,
            "boolean" => Kind::Bool,
            "json" | "jsonb" => Kind::Json,
            "bytea" => Kind::Bytes,
            _ => Kind::Text,
        },
        _ => match declared {
            d if d.starts_with("uuid") => Kind::Uuid,
            d if d.contains("int") => Kind::I64,
            d if d.contains("real") || d.contains("double") || d.contains("float") => Kind::F64,
            d if d.starts_with("bool") => Kind::Bool,
            d if d.contains("json") => Kind::Json,
            d if d.starts_with("blob") || d.is_empty() => Kind::Bytes,
            _ => Kind::Text,
        },
    }
}

/// A cell in its portable form.
fn cell(row: &QueryResult, index: usize, kind: Kind) -> Result<Value, sea_orm::DbErr> {
    Ok(match kind {
        Kind::Uuid => match row.try_get_by_index::<Option<uuid::Uuid>>(index) {
            Ok(id) => id.map(|id| json!(id.to_string())),
            // An id stored as text.
            Err(_) => row
                .try_get_by_index::<Option<String>>(index)?
                .map(Value::String),
        },
        Kind::I16 => row
            .try_get_by_index::<Option<i16>>(index)?
            .map(|n| json!(n)),
        Kind::I32 => row
            .try_get_by_index::<Option<i32>>(index)?
            .map(|n| json!(n)),
        Kind::I64 => row
            .try_get_by_index::<Option<i64>>(index)?
            .map(|n| json!(n)),
        Kind::F64 => row
            .try_get_by_index::<Option<f64>>(index)?
            .map(|n| json!(n)),
        Kind::Bool => row
            .try_get_by_index::<Option<bool>>(index)?
            .map(Value::Bool),
        Kind::Text => row
            .try_get_by_index::<Option<String>>(index)?
            .map(Value::String),
        Kind::Json => row.try_get_by_index::<Option<Value>>(index)?,
        Kind::Bytes => (row.try_get_by_index::<Option<Vec<u8>>>(index)?)
            .map(|bytes| Value::String(BASE64.encode(bytes))),
    }
    .unwrap_or(Value::Null))
}

/// A portable cell as the value bound for a column of `kind`.
fn bound(kind: Kind, value: &Value) -> anyhow::Result<sea_orm::Value> {
    let text = || value.as_str().map(str::to_owned);
    let bad = || {
        refuse(text!(
            "backup-bad-value",
            value = value.to_string().chars().take(80).collect::<String>()
        ))
    };
    Ok(match kind {
        Kind::Uuid => sea_orm::Value::from(match text() {
            Some(t) => Some(uuid::Uuid::parse_str(&t).map_err(|_| bad())?),
            None => None,
        }),
        Kind::I16 => sea_orm::Value::from(
            value
                .as_i64()
                .map(i16::try_from)
                .transpose()
                .map_err(|_| bad())?,
        ),
        Kind::I32 => sea_orm::Value::from(
            value
                .as_i64()
                .map(i32::try_from)
                .transpose()
                .map_err(|_| bad())?,
        ),
        Kind::I64 => sea_orm::Value::from(value.as_i64()),
        Kind::F64 => sea_orm::Value::from(value.as_f64()),
        Kind::Bool => sea_orm::Value::from(value.as_bool()),
        Kind::Text => sea_orm::Value::from(text()),
        Kind::Json => sea_orm::Value::from((!value.is_null()).then(|| value.clone())),
        Kind::Bytes => sea_orm::Value::from(match text() {
            Some(t) => Some(BASE64.decode(t).map_err(|_| bad())?),
            None => None,
        }),
    })
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Reads every row of every table inside one snapshot, handing each table's rows (portable
/// cells) to `sink` in order.
async fn each_row(
    db: &Db,
    mut sink: impl FnMut(&str, &[(String, Kind)], Option<Vec<Value>>) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<String>> {
    let backend = db.backend;
    let txn = match backend {
        DbBackend::Postgres => {
            db.read
                .begin_with_config(
                    Some(IsolationLevel::RepeatableRead),
                    Some(AccessMode::ReadOnly),
                )
                .await?
        }
        // A SQLite read transaction reads one snapshot of the WAL from its first read.
        _ => db.read.begin().await?,
    };
    let migrations: Vec<String> = txn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT version FROM seaql_migrations ORDER BY version",
        ))
        .await?
        .iter()
        .filter_map(|r| r.try_get_by_index::<String>(0).ok())
        .collect();
    let ordered = in_dependency_order(&txn, tables(&txn).await?).await?;
    for table in ordered {
        let columns = columns(&txn, &table).await?;
        let list: Vec<String> = columns.iter().map(|(name, _)| quoted(name)).collect();
        let sql = format!("SELECT {} FROM {}", list.join(", "), quoted(&table));
        let mut rows = txn.stream_raw(Statement::from_string(backend, sql)).await?;
        while let Some(row) = rows.next().await {
            let row = row?;
            let cells = (columns.iter().enumerate())
                .map(|(index, (_, kind))| cell(&row, index, *kind))
                .collect::<Result<Vec<_>, _>>()?;
            sink(&table, &columns, Some(cells))?;
        }
        drop(rows);
        sink(&table, &columns, None)?;
    }
    txn.commit().await?;
    Ok(migrations)
}

/// Writes a backup of everything in `db` to `out` (a `.tar.gz`), online: one snapshot.
pub async fn backup(db: &Db, out: &Path) -> anyhow::Result<Manifest> {
    let work = std::env::temp_dir().join(format!("kith-backup-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&work)?;
    let result = write_archive(db, out, &work).await;
    std::fs::remove_dir_all(&work).ok();
    result
}

async fn write_archive(db: &Db, out: &Path, work: &Path) -> anyhow::Result<Manifest> {
    struct Open {
        writer: BufWriter<std::fs::File>,
        hash: Sha256,
        rows: u64,
    }
    let mut open: Option<(String, Open)> = None;
    let mut entries = Vec::new();
    let migrations = each_row(db, |table, columns, cells| {
        if open.as_ref().is_none_or(|(name, _)| name != table) {
            let file = std::fs::File::create(work.join(format!("{table}.jsonl")))?;
            open = Some((
                table.to_owned(),
                Open {
                    writer: BufWriter::new(file),
                    hash: Sha256::new(),
                    rows: 0,
                },
            ));
        }
        let Some((_, current)) = open.as_mut() else {
            return Ok(());
        };
        match cells {
            Some(cells) => {
                let mut line = serde_json::to_vec(&cells)?;
                line.push(b'\n');
                current.hash.update(&line);
                current.writer.write_all(&line)?;
                current.rows += 1;
            }
            None => {
                if let Some((name, mut done)) = open.take() {
                    done.writer.flush()?;
                    entries.push(TableEntry {
                        name,
                        columns: columns.iter().map(|(c, _)| c.clone()).collect(),
                        rows: done.rows,
                        sha256: hex(&done.hash.finalize()),
                    });
                }
            }
        }
        Ok(())
    })
    .await?;
    let manifest = Manifest {
        format: FORMAT,
        kith: env!("CARGO_PKG_VERSION").to_owned(),
        backend: backend_name(db.backend).to_owned(),
        created_at: crate::records::value::format_datetime(chrono::Utc::now()),
        migrations,
        tables: entries,
    };
    // Written beside the destination and renamed: a failed backup leaves no half archive.
    let partial = out.with_extension("partial");
    {
        let file = std::fs::File::create(&partial)?;
        let gzip = flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
        let mut archive = tar::Builder::new(gzip);
        let manifest_bytes = serde_json::to_vec_pretty(&manifest)?;
        append(
            &mut archive,
            "manifest.json",
            &mut manifest_bytes.as_slice(),
            manifest_bytes.len() as u64,
        )?;
        for table in &manifest.tables {
            let path = work.join(format!("{}.jsonl", table.name));
            let size = std::fs::metadata(&path)?.len();
            let mut file = std::fs::File::open(&path)?;
            append(
                &mut archive,
                &format!("tables/{}.jsonl", table.name),
                &mut file,
                size,
            )?;
        }
        let gzip = archive.into_inner()?;
        gzip.finish()?.flush()?;
    }
    std::fs::rename(&partial, out)?;
    Ok(manifest)
}

fn append<W: Write>(
    archive: &mut tar::Builder<W>,
    path: &str,
    data: &mut impl Read,
    size: u64,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_cksum();
    archive.append_data(&mut header, path, data)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The archive's entries in order: its manifest, then each table's lines.
fn open_archive(
    path: &Path,
) -> anyhow::Result<tar::Archive<flate2::read::GzDecoder<std::fs::File>>> {
    let file = std::fs::File::open(path).map_err(|_| {
        refuse(text!(
            "backup-unreadable",
            file = path.display().to_string()
        ))
    })?;
    Ok(tar::Archive::new(flate2::read::GzDecoder::new(file)))
}

/// Reads the whole archive and checks it against its manifest: every table present once,
/// with its row count and checksum. Anything else is a corrupt or truncated archive.
pub fn verify(path: &Path) -> anyhow::Result<Manifest> {
    let corrupt = || refuse(text!("backup-corrupt", file = path.display().to_string()));
    let mut archive = open_archive(path)?;
    let mut entries = archive.entries().map_err(|_| corrupt())?;
    let mut first = entries.next().ok_or_else(corrupt)?.map_err(|_| corrupt())?;
    if first.path().map_err(|_| corrupt())?.to_string_lossy() != "manifest.json" {
        return Err(corrupt());
    }
    let mut text_bytes = Vec::new();
    first.read_to_end(&mut text_bytes).map_err(|_| corrupt())?;
    let manifest: Manifest = serde_json::from_slice(&text_bytes).map_err(|_| corrupt())?;
    if manifest.format != FORMAT {
        return Err(refuse(text!("backup-format", format = manifest.format)));
    }
    let mut seen: BTreeMap<String, (u64, String)> = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|_| corrupt())?;
        let name = entry
            .path()
            .map_err(|_| corrupt())?
            .to_string_lossy()
            .into_owned();
        let table = name
            .strip_prefix("tables/")
            .and_then(|n| n.strip_suffix(".jsonl"))
            .ok_or_else(corrupt)?
            .to_owned();
        let mut hash = Sha256::new();
        let mut rows = 0u64;
        let mut reader = BufReader::new(entry);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(|_| corrupt())?;
            if n == 0 {
                break;
            }
            hash.update(&line);
            rows += 1;
        }
        if seen.insert(table, (rows, hex(&hash.finalize()))).is_some() {
            return Err(corrupt());
        }
    }
    // Read to the end of the gzip stream: its trailer's CRC covers every byte, padding too.
    let mut rest = archive.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(|_| corrupt())?;
    let expected: BTreeMap<String, (u64, String)> = (manifest.tables.iter())
        .map(|t| (t.name.clone(), (t.rows, t.sha256.clone())))
        .collect();
    if seen != expected {
        return Err(corrupt());
    }
    Ok(manifest)
}

/// Restores the archive at `path` into `db`, which must be migrated to the same migrations as
/// the backup and hold no data. The archive is checked whole first; then every row is
/// inserted in one transaction (a failure leaves the database as it was).
pub async fn restore(db: &Db, path: &Path) -> anyhow::Result<Manifest> {
    let manifest = verify(path)?;
    let backend = db.backend;
    let applied: Vec<String> = db
        .read
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT version FROM seaql_migrations ORDER BY version",
        ))
        .await?
        .iter()
        .filter_map(|r| r.try_get_by_index::<String>(0).ok())
        .collect();
    if applied != manifest.migrations {
        return Err(refuse(text!(
            "backup-other-version",
            kith = manifest.kith.clone()
        )));
    }
    for table in ["workspaces", "users", "records"] {
        let count = db
            .read
            .query_one_raw(Statement::from_string(
                backend,
                format!("SELECT COUNT(*) FROM {}", quoted(table)),
            ))
            .await?
            .and_then(|r| r.try_get_by_index::<i64>(0).ok())
            .unwrap_or(0);
        if count > 0 {
            return Err(refuse(text!("backup-not-empty")));
        }
    }
    let txn = db.write.begin().await?;
    let mut kinds: BTreeMap<String, Vec<(String, Kind)>> = BTreeMap::new();
    for table in tables(&txn).await? {
        let columns = columns(&txn, &table).await?;
        kinds.insert(table, columns);
    }
    // What the migrations seeded (the outbox head) is replaced by what was backed up;
    // children first.
    for table in manifest.tables.iter().rev() {
        if kinds.contains_key(&table.name) {
            let sql = format!("DELETE FROM {}", quoted(&table.name));
            txn.execute_raw(Statement::from_string(backend, sql))
                .await?;
        }
    }
    // The archive lists tables after the tables they reference.
    let mut archive = open_archive(path)?;
    for entry in archive.entries()?.skip(1) {
        let entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        let Some(table) = name
            .strip_prefix("tables/")
            .and_then(|n| n.strip_suffix(".jsonl"))
        else {
            continue;
        };
        let Some(listed) = manifest.tables.iter().find(|t| t.name == table) else {
            continue;
        };
        let Some(target) = kinds.get(table) else {
            return Err(refuse(text!(
                "backup-other-version",
                kith = manifest.kith.clone()
            )));
        };
        let mut wanted = Vec::with_capacity(listed.columns.len());
        for column in &listed.columns {
            let kind = target.iter().find(|(c, _)| c == column).map(|(_, k)| *k);
            wanted.push(kind.ok_or_else(|| {
                refuse(text!("backup-other-version", kith = manifest.kith.clone()))
            })?);
        }
        let per_insert = INSERT_ROWS.min((MAX_PARAMETERS / listed.columns.len().max(1)).max(1));
        let head = format!(
            "INSERT INTO {} ({}) VALUES ",
            quoted(table),
            listed
                .columns
                .iter()
                .map(|c| quoted(c))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut batch: Vec<Vec<Value>> = Vec::with_capacity(per_insert);
        for line in BufReader::new(entry).lines() {
            batch.push(serde_json::from_str(&line?)?);
            if batch.len() == per_insert {
                insert(&txn, &head, &wanted, &batch).await?;
                batch.clear();
            }
        }
        if !batch.is_empty() {
            insert(&txn, &head, &wanted, &batch).await?;
        }
    }
    if backend == DbBackend::Postgres {
        reset_sequences(&txn).await?;
    }
    txn.commit().await?;
    Ok(manifest)
}

async fn insert(
    txn: &sea_orm::DatabaseTransaction,
    head: &str,
    kinds: &[Kind],
    rows: &[Vec<Value>],
) -> anyhow::Result<()> {
    let backend = ConnectionTrait::get_database_backend(txn);
    let mut sql = String::from(head);
    let mut values = Vec::with_capacity(rows.len() * kinds.len());
    for (r, row) in rows.iter().enumerate() {
        if row.len() != kinds.len() {
            return Err(refuse(text!(
                "backup-bad-value",
                value = format!("{} cells", row.len())
            )));
        }
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for (c, (cell, kind)) in row.iter().zip(kinds).enumerate() {
            if c > 0 {
                sql.push_str(", ");
            }
            values.push(bound(*kind, cell)?);
            match backend {
                DbBackend::Postgres => sql.push_str(&format!("${}", values.len())),
                _ => sql.push('?'),
            }
        }
        sql.push(')');
    }
    txn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(())
}

/// Moves every PostgreSQL sequence past the ids the restore inserted.
async fn reset_sequences(txn: &sea_orm::DatabaseTransaction) -> anyhow::Result<()> {
    let backend = ConnectionTrait::get_database_backend(txn);
    let serials = txn
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND column_default LIKE 'nextval(%'",
        ))
        .await?;
    for row in serials {
        let table: String = row.try_get_by_index(0)?;
        let column: String = row.try_get_by_index(1)?;
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence('{t}', '{c}'), COALESCE(MAX({qc}), 0) + 1, false) FROM {qt}",
            t = quoted(&table).replace('\'', "''"),
            c = column.replace('\'', "''"),
            qc = quoted(&column),
            qt = quoted(&table),
        );
        txn.query_one_raw(Statement::from_string(backend, sql))
            .await?;
    }
    Ok(())
}

/// A digest of every table's content, independent of the engine and of row order: what a
/// backup restored elsewhere must reproduce exactly.
pub async fn digest(db: &Db) -> anyhow::Result<BTreeMap<String, String>> {
    let mut lines: BTreeMap<String, Vec<String>> = BTreeMap::new();
    each_row(db, |table, _, cells| {
        let rows = lines.entry(table.to_owned()).or_default();
        if let Some(cells) = cells {
            rows.push(canonical(&Value::Array(cells)));
        }
        Ok(())
    })
    .await?;
    Ok(lines
        .into_iter()
        .map(|(table, mut rows)| {
            rows.sort();
            let mut hash = Sha256::new();
            for row in rows {
                hash.update(row.as_bytes());
                hash.update(b"\n");
            }
            (table, hex(&hash.finalize()))
        })
        .collect())
}

/// JSON with object keys sorted (PostgreSQL's jsonb orders keys its own way).
fn canonical(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let ordered: BTreeMap<&String, Value> =
                    map.iter().map(|(k, v)| (k, sorted(v))).collect();
                Value::Object(ordered.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// Where `kith backup` writes by default: `kith-backup-<time>.tar.gz` in the data directory.
pub fn default_path(data_dir: &Path) -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    data_dir.join(format!("{SCHEDULED_PREFIX}{stamp}.tar.gz"))
}

const SCHEDULED_PREFIX: &str = "kith-backup-";

/// Backups a server writes on its own: into `dir`, every `every`, keeping the newest `keep`.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub dir: PathBuf,
    pub every: std::time::Duration,
    pub keep: usize,
}

/// The backups in `dir` (ours by name), newest first: their names sort by time.
fn scheduled_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(SCHEDULED_PREFIX) && n.ends_with(".tar.gz"))
        })
        .collect();
    found.sort();
    found.reverse();
    found
}

/// When the next scheduled backup is due: now if there is none yet, else `every` after the
/// newest one was written (a restart does not reset the clock).
fn next_due(schedule: &Schedule) -> std::time::Duration {
    let newest = scheduled_in(&schedule.dir)
        .first()
        .and_then(|path| std::fs::metadata(path).ok()?.modified().ok());
    match newest.and_then(|at| at.elapsed().ok()) {
        Some(age) => schedule.every.saturating_sub(age),
        None => std::time::Duration::ZERO,
    }
}

/// Writes one scheduled backup now and deletes the oldest beyond `keep`. Answers its path.
pub async fn scheduled_once(db: &Db, schedule: &Schedule) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(&schedule.dir)?;
    let path = default_path(&schedule.dir);
    backup(db, &path).await?;
    for old in scheduled_in(&schedule.dir)
        .into_iter()
        .skip(schedule.keep.max(1))
    {
        std::fs::remove_file(old)?;
    }
    Ok(path)
}

/// Runs the schedule for as long as the server runs (one server of a deployment should).
pub async fn run_schedule(db: Db, schedule: Schedule) {
    loop {
        tokio::time::sleep(next_due(&schedule)).await;
        match scheduled_once(&db, &schedule).await {
            Ok(path) => tracing::info!(path = %path.display(), "scheduled backup written"),
            Err(error) => {
                tracing::error!(%error, "scheduled backup failed");
                // Not at once again: a full disk would otherwise be retried in a loop.
                let pause = std::time::Duration::from_secs(600).min(schedule.every);
                tokio::time::sleep(pause).await;
            }
        }
    }
}
