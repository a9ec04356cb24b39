//! Opening the database: SQLite (a file in WAL mode with one writer connection and a pool of
//! four readers) or PostgreSQL (one pool), and running the shared migrator.

use std::str::FromStr;
use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, SqlxPostgresConnector,
    SqlxSqliteConnector, TransactionTrait,
};

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database URL `{0}`: use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    #[error("cannot open the database: {0}")]
    Connect(String),
    #[error("cannot migrate the database: {0}")]
    Migrate(String),
}

/// The connections of one database. On SQLite all writes go through `write`, a pool of one, so
/// writers queue in the process instead of failing with `SQLITE_BUSY`; reads use `read`. On
/// PostgreSQL both are the same pool.
#[derive(Clone, Debug)]
pub struct Db {
    pub read: DatabaseConnection,
    pub write: DatabaseConnection,
    pub backend: DbBackend,
}

impl Db {
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        if url.starts_with("sqlite:") {
            Self::connect_sqlite(url).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::connect_postgres(url).await
        } else {
            Err(DbError::UnsupportedUrl(redact(url)))
        }
    }

    async fn connect_sqlite(url: &str) -> Result<Db, DbError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| DbError::InvalidUrl(e.to_string()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        // Page cache per connection: the writer gets more, the readers share the OS cache.
        // A connection to a local file cannot go stale, so it is not pinged before each use:
        // the ping is a round trip to the connection's worker thread per query.
        let open = |max, cache_kib: &str| {
            SqlitePoolOptions::new()
                .max_connections(max)
                .min_connections(1)
                .test_before_acquire(false)
                .connect_with(
                    options
                        .clone()
                        .pragma("cache_size", format!("-{cache_kib}")),
                )
        };
        let write = open(1, "16000")
            .await
            .map_err(|e| DbError::Connect(e.to_string()))?;
        let read = open(4, "8000")
            .await
            .map_err(|e| DbError::Connect(e.to_string()))?;
        Ok(Db {
            read: SqlxSqliteConnector::from_sqlx_sqlite_pool(read),
            write: SqlxSqliteConnector::from_sqlx_sqlite_pool(write),
            backend: DbBackend::Sqlite,
        })
    }

    async fn connect_postgres(url: &str) -> Result<Db, DbError> {
        let options =
            PgConnectOptions::from_str(url).map_err(|e| DbError::InvalidUrl(e.to_string()))?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(|e| DbError::Connect(e.to_string()))?;
        let conn = SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
        Ok(Db {
            read: conn.clone(),
            write: conn,
            backend: DbBackend::Postgres,
        })
    }

    /// Applies every pending migration. On PostgreSQL they run in one transaction holding the
    /// schema lock (see [`Db::schema_transaction`]), so processes starting at the same moment
    /// (replicas, a CLI command) take turns: the first migrates, the others find nothing left
    /// to do. SQLite's one writer serves one machine, where this does not arise.
    pub async fn migrate(&self) -> Result<(), DbError> {
        let failed = |e: sea_orm::DbErr| DbError::Migrate(e.to_string());
        if self.backend != DbBackend::Postgres {
            return Migrator::up(&self.write, None).await.map_err(failed);
        }
        let txn = self.schema_transaction().await.map_err(failed)?;
        Migrator::up(&txn, None).await.map_err(failed)?;
        txn.commit().await.map_err(failed)
    }

    /// A write transaction for schema changes (migrations, indexes, statistics). On
    /// PostgreSQL it holds an advisory lock until it ends, so processes doing the same at the
    /// same moment take turns: `CREATE INDEX IF NOT EXISTS` run twice at once fails there.
    pub async fn schema_transaction(&self) -> Result<DatabaseTransaction, sea_orm::DbErr> {
        let txn = self.write.begin().await?;
        if self.backend == DbBackend::Postgres {
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({SCHEMA_LOCK})"))
                .await?;
        }
        Ok(txn)
    }
}

/// The advisory lock schema changes hold on PostgreSQL (any number no other lock of the
/// database uses: "kith" in ASCII).
const SCHEMA_LOCK: i64 = 0x6b697468;

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…{}", &url[..scheme], &url[at..]),
        _ => url.to_owned(),
    }
}
