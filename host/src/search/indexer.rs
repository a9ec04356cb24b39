//! The indexer: the only owner of the `IndexWriter`. It follows the outbox in order, applies
//! each batch of events by re-reading the records they name (so replaying an event is
//! harmless), and commits with the last applied sequence number as the commit payload — a
//! restart, even after kill -9, resumes exactly after the last commit.
//!
//! A document also holds the titles of the records its record references, so when a record's
//! title changes (or it is deleted) the records that reference it are re-indexed in the same
//! step: renaming a company rewrites its contacts' documents here, after the rename's
//! transaction, never inside it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tantivy::{IndexWriter, TantivyDocument, Term};

use super::{SearchError, SearchIndex, reference_ids};
use crate::ids::WorkspaceId;
use crate::records::schema::Schema;
use crate::records::{Record, RecordError, Store, value};

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
    /// The titles of referenced records written since the last commit (`None`: deleted),
    /// which the index's reader does not show yet.
    pending_titles: HashMap<uuid::Uuid, Option<String>>,
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
            pending_titles: HashMap::new(),
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
                    self.pending_titles.clear();
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
        // A new record has no referrers yet; any other may have been renamed or deleted.
        let changed: Vec<uuid::Uuid> = (events.iter())
            .filter(|e| e.event != "created")
            .map(|e| e.record_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let renamed = self.renamed(&changed, &docs).await?;
        self.write(ids.clone(), docs).await?;
        if !renamed.is_empty() {
            let batch: HashSet<uuid::Uuid> = ids.into_iter().collect();
            let referrers: Vec<uuid::Uuid> = (self.store.referrers(&renamed).await?)
                .into_iter()
                .filter(|id| !batch.contains(id))
                .collect();
            for chunk in referrers.chunks(BATCH as usize) {
                let docs = self.documents(chunk).await?;
                self.write(chunk.to_vec(), docs).await?;
            }
        }
        self.applied = last;
        Ok(events.len())
    }

    /// Of the records `changed` (whose new documents are `docs`; deleted ones have none), the
    /// referenced ones whose title is not the one in the index any more.
    async fn renamed(
        &mut self,
        changed: &[uuid::Uuid],
        docs: &[(uuid::Uuid, TantivyDocument)],
    ) -> Result<Vec<uuid::Uuid>, IndexerError> {
        let title_field = self.index.fields.title;
        let new_titles: HashMap<uuid::Uuid, String> = (docs.iter())
            .map(|(id, doc)| (*id, super::stored_text(doc, title_field)))
            .collect();
        let targets = self.store.referenced_among(changed).await?;
        let unknown: Vec<uuid::Uuid> = (targets.iter())
            .filter(|id| !self.pending_titles.contains_key(id))
            .copied()
            .collect();
        let index = self.index.clone();
        let indexed = tokio::task::spawn_blocking(move || index.indexed_titles(&unknown))
            .await
            .map_err(|e| IndexerError::Writer(e.to_string()))??;
        let mut renamed = Vec::new();
        for id in targets {
            let before = (self.pending_titles.get(&id).cloned())
                .unwrap_or_else(|| indexed.get(&id).cloned());
            let after = new_titles.get(&id).cloned();
            if before != after {
                renamed.push(id);
            }
            self.pending_titles.insert(id, after);
        }
        Ok(renamed)
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
        self.pending_titles.clear();
        Ok(())
    }

    /// The current documents of the given records (deleted ones have none), by id.
    async fn documents(
        &self,
        ids: &[uuid::Uuid],
    ) -> Result<Vec<(uuid::Uuid, TantivyDocument)>, IndexerError> {
        let mut docs = Vec::with_capacity(ids.len());
        let mut schemas = HashMap::new();
        for chunk in ids.chunks(500) {
            let records = self.store.records_by_ids(chunk).await?;
            docs.extend(self.documents_of(&records, &mut schemas).await?);
        }
        Ok(docs)
    }

    /// The documents of the live ones of `records`, with the titles of the live records they
    /// reference in their own workspace.
    async fn documents_of(
        &self,
        records: &[(WorkspaceId, Record)],
        schemas: &mut HashMap<WorkspaceId, Arc<Schema>>,
    ) -> Result<Vec<(uuid::Uuid, TantivyDocument)>, IndexerError> {
        let mut typed = Vec::with_capacity(records.len());
        for (workspace, record) in records.iter().filter(|(_, r)| r.deleted_at.is_none()) {
            let schema = self.schema(*workspace, schemas).await?;
            if let Some(ty) = schema.by_name(&record.entity_type) {
                typed.push((*workspace, Arc::clone(ty), record));
            }
        }
        let wanted: Vec<uuid::Uuid> = (typed.iter())
            .flat_map(|(_, ty, record)| reference_ids(ty, &record.data))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut titles: HashMap<uuid::Uuid, (WorkspaceId, String)> = HashMap::new();
        for chunk in wanted.chunks(500) {
            for (workspace, target) in self.store.records_by_ids(chunk).await? {
                if target.deleted_at.is_some() {
                    continue;
                }
                let schema = self.schema(workspace, schemas).await?;
                if let Some(ty) = schema.by_name(&target.entity_type) {
                    titles.insert(target.id.0, (workspace, value::title(ty, &target.data)));
                }
            }
        }
        Ok(typed
            .into_iter()
            .map(|(workspace, ty, record)| {
                let refs: Vec<String> = (reference_ids(&ty, &record.data).iter())
                    .filter_map(|id| titles.get(id))
                    .filter(|(their, title)| *their == workspace && !title.is_empty())
                    .map(|(_, title)| title.clone())
                    .collect();
                let doc = self.index.document(workspace, &ty, record, &refs);
                (record.id.0, doc)
            })
            .collect())
    }

    async fn schema(
        &self,
        workspace: WorkspaceId,
        schemas: &mut HashMap<WorkspaceId, Arc<Schema>>,
    ) -> Result<Arc<Schema>, IndexerError> {
        if let Some(schema) = schemas.get(&workspace) {
            return Ok(Arc::clone(schema));
        }
        let schema = self.store.schema(workspace).await?;
        schemas.insert(workspace, Arc::clone(&schema));
        Ok(schema)
    }

    /// Replaces the documents of `ids` by `docs` (uncommitted), on a blocking thread.
    async fn write(
        &self,
        ids: Vec<uuid::Uuid>,
        docs: Vec<(uuid::Uuid, TantivyDocument)>,
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
            for (_, doc) in docs {
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
            let mut schemas = HashMap::new();
            let docs = self.documents_of(&page, &mut schemas).await?;
            let writer = Arc::clone(&self.writer);
            tokio::task::spawn_blocking(move || -> Result<(), IndexerError> {
                let writer = writer
                    .lock()
                    .map_err(|e| IndexerError::Writer(e.to_string()))?;
                for (_, doc) in docs {
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
