//! The indexer: the only owner of the `IndexWriter`. It follows the outbox in order, applies
//! each batch of events by re-reading the records they name (so replaying an event is
//! harmless), and commits with the last applied sequence number as the commit payload — a
//! restart, even after kill -9, resumes exactly after the last commit.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tantivy::{IndexWriter, TantivyDocument, Term};

use super::{SearchError, SearchIndex};
use crate::ids::WorkspaceId;
use crate::records::{RecordError, Store};

/// Events applied per commit.
const BATCH: u64 = 5_000;
/// Longest a commit is put off while writes keep coming (freshness stays well under 1 s).
const COMMIT_INTERVAL: Duration = Duration::from_millis(200);
/// How long the writes must pause before what was applied is committed.
const QUIET: Duration = Duration::from_millis(50);
/// Memory the writer may use before flushing a segment.
const WRITER_BYTES: usize = 40_000_000;

#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error(transparent)]
    Tantivy(#[from] tantivy::TantivyError),
    #[error(transparent)]
    Records(#[from] RecordError),
    #[error("the index writer is gone: {0}")]
    Writer(String),
}

pub struct Indexer {
    index: SearchIndex,
    store: Arc<Store>,
    writer: Arc<Mutex<IndexWriter>>,
    /// The outbox position of the last commit.
    seq: i64,
    /// The outbox position applied to the writer (committed or not).
    applied: i64,
    last_commit: Instant,
}

impl Indexer {
    /// Takes the index's writer lock (one indexer per index directory).
    pub fn new(index: SearchIndex, store: Arc<Store>) -> Result<Indexer, IndexerError> {
        let writer = index.index.writer_with_num_threads(1, WRITER_BYTES)?;
        let seq = index.committed_seq()?;
        Ok(Indexer {
            index,
            store,
            writer: Arc::new(Mutex::new(writer)),
            seq,
            applied: seq,
            last_commit: Instant::now(),
        })
    }

    /// Follows the outbox for ever: applies what is new as it comes and commits when the
    /// writes pause for [`QUIET`] or, while they keep coming, every [`COMMIT_INTERVAL`] — a
    /// tantivy commit (new segment files, fsync, merges) is the costly step, and committing
    /// each time the indexer caught up meant one commit per write under a steady stream of
    /// single writes. With nothing to do it waits for the store's next commit (or 250 ms).
    /// Errors are logged and retried after a pause, from the last commit.
    pub async fn run(mut self) {
        loop {
            match self.step().await {
                Ok(true) => {}
                Ok(false) => {
                    let _ = tokio::time::timeout(Duration::from_millis(250), self.store.changed())
                        .await;
                }
                Err(error) => {
                    tracing::error!(%error, seq = self.seq, "search indexing failed; retrying");
                    self.applied = self.seq;
                    if let Ok(mut writer) = self.writer.lock() {
                        writer.rollback().ok();
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Applies the next events and commits if it is time; returns whether there may be more
    /// to do at once (`false`: caught up, everything committed).
    async fn step(&mut self) -> Result<bool, IndexerError> {
        let applied = self.apply_next().await?;
        if self.applied == self.seq {
            return Ok(applied > 0);
        }
        let waited = self.last_commit.elapsed();
        if waited < COMMIT_INTERVAL {
            if applied > 0 {
                return Ok(true);
            }
            // Caught up: commit once no write follows for a moment.
            let pause = QUIET.min(COMMIT_INTERVAL - waited);
            if tokio::time::timeout(pause, self.store.changed())
                .await
                .is_ok()
            {
                return Ok(true);
            }
        }
        self.commit().await?;
        Ok(true)
    }

    /// Applies and commits everything pending; returns how many events there were.
    pub async fn catch_up(&mut self) -> Result<usize, IndexerError> {
        let mut total = 0;
        loop {
            let applied = self.apply_next().await?;
            total += applied;
            if applied == 0 {
                break;
            }
        }
        if self.applied > self.seq {
            self.commit().await?;
        }
        Ok(total)
    }

    /// Applies the next batch of events to the writer, without committing; returns how many
    /// there were.
    async fn apply_next(&mut self) -> Result<usize, IndexerError> {
        let events = self.store.outbox_after(self.applied, BATCH).await?;
        let Some(last) = events.last().map(|e| e.seq) else {
            return Ok(0);
        };
        let ids: Vec<uuid::Uuid> = events
            .iter()
            .map(|e| e.record_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let docs = self.documents(&ids).await?;
        self.write(ids, docs).await?;
        self.applied = last;
        Ok(events.len())
    }

    /// Commits what was applied, recording its outbox position in the commit.
    async fn commit(&mut self) -> Result<(), IndexerError> {
        let writer = Arc::clone(&self.writer);
        let reader = self.index.reader.clone();
        let seq = self.applied;
        tokio::task::spawn_blocking(move || -> Result<(), IndexerError> {
            let mut writer = writer
                .lock()
                .map_err(|e| IndexerError::Writer(e.to_string()))?;
            let mut commit = writer.prepare_commit()?;
            commit.set_payload(&seq.to_string());
            commit.commit()?;
            reader.reload()?;
            Ok(())
        })
        .await
        .map_err(|e| IndexerError::Writer(e.to_string()))??;
        self.seq = seq;
        self.last_commit = Instant::now();
        Ok(())
    }

    /// The current documents of the given records (deleted ones have none).
    async fn documents(&self, ids: &[uuid::Uuid]) -> Result<Vec<TantivyDocument>, IndexerError> {
        let mut docs = Vec::with_capacity(ids.len());
        let mut schemas = HashMap::new();
        for chunk in ids.chunks(500) {
            for (workspace, record) in self.store.records_by_ids(chunk).await? {
                if record.deleted_at.is_some() {
                    continue;
                }
                let schema = match schemas.get(&workspace) {
                    Some(schema) => Arc::clone(schema),
                    None => {
                        let schema = self.store.schema(workspace).await?;
                        schemas.insert(workspace, Arc::clone(&schema));
                        schema
                    }
                };
                if let Some(ty) = schema.by_name(&record.entity_type) {
                    docs.push(self.index.document(workspace, ty, &record));
                }
            }
        }
        Ok(docs)
    }

    /// Replaces the documents of `ids` by `docs` (uncommitted), on a blocking thread.
    async fn write(
        &self,
        ids: Vec<uuid::Uuid>,
        docs: Vec<TantivyDocument>,
    ) -> Result<(), IndexerError> {
        let writer = Arc::clone(&self.writer);
        let id_field = self.index.fields.id;
        tokio::task::spawn_blocking(move || -> Result<(), IndexerError> {
            let writer = writer
                .lock()
                .map_err(|e| IndexerError::Writer(e.to_string()))?;
            for id in ids {
                writer.delete_term(Term::from_field_text(id_field, &id.to_string()));
            }
            for doc in docs {
                writer.add_document(doc)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| IndexerError::Writer(e.to_string()))?
    }

    /// Rebuilds the index from the database: every live record, then a commit at the outbox
    /// position read before starting (events after it are replayed, which is harmless).
    pub async fn rebuild(&mut self, progress: bool) -> Result<u64, IndexerError> {
        let head = self.store.outbox_head().await?;
        let total = self.store.count_live().await?;
        let bar = if progress {
            ProgressBar::new(total)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("reindex [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        {
            let writer = self
                .writer
                .lock()
                .map_err(|e| IndexerError::Writer(e.to_string()))?;
            writer.delete_all_documents()?;
        }
        let mut after = None;
        let mut done = 0;
        loop {
            let page = self.store.scan_live(after, 2_000).await?;
            let Some(last) = page.last().map(|(_, r)| r.id.0) else {
                break;
            };
            let mut schemas: HashMap<WorkspaceId, _> = HashMap::new();
            let mut docs = Vec::with_capacity(page.len());
            for (workspace, record) in &page {
                if !schemas.contains_key(workspace) {
                    schemas.insert(*workspace, self.store.schema(*workspace).await?);
                }
                if let Some(ty) = schemas
                    .get(workspace)
                    .and_then(|s| s.by_name(&record.entity_type))
                {
                    docs.push(self.index.document(*workspace, ty, record));
                }
            }
            let writer = Arc::clone(&self.writer);
            tokio::task::spawn_blocking(move || -> Result<(), IndexerError> {
                let writer = writer
                    .lock()
                    .map_err(|e| IndexerError::Writer(e.to_string()))?;
                for doc in docs {
                    writer.add_document(doc)?;
                }
                Ok(())
            })
            .await
            .map_err(|e| IndexerError::Writer(e.to_string()))??;
            done += page.len() as u64;
            bar.set_position(done);
            after = Some(last);
        }
        self.applied = head;
        self.commit().await?;
        bar.finish_and_clear();
        Ok(done)
    }
}
