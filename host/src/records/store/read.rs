//! Reads: one record, lists (filters, sorts, keyset cursors, totals), records by id for the
//! indexer, titles, the live records and the outbox.

use chrono::Utc;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement,
};
use serde_json::Value;
use uuid::Uuid;

use super::super::model::{outbox, record};
use super::super::query::{self, Cursor, SortKey, Sql};
use super::super::schema::{EntityType, FieldKind, FieldSpec};
use super::super::value;
use super::super::{Actor, Record, RecordError};
use super::{Store, to_record};
use crate::auth::permissions::{Operation, Scope};
use crate::i18n::text;
use crate::ids::{RecordId, WorkspaceId};
use std::collections::HashMap;

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

impl Store {
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
    pub(in crate::records) fn visible(
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
        let schema = self.schema(actor.workspace).await?;
        let title = |field: &FieldSpec| {
            let target = schema.by_name(field.target.as_deref()?)?;
            let owners = match actor.access.scope(Operation::Read, &target.name) {
                Scope::All => None,
                Scope::Nothing => Some(Vec::new()),
                Scope::Owners(owners) => Some(owners),
            };
            query::reference_title(
                backend,
                field,
                &actor.access.view(target),
                owners.as_deref(),
            )
        };
        let keys = query::parse_sort(backend, ty, request.sort.as_deref().unwrap_or(""), &title)?;
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
            Some(self.count(&where_sql, None).await?)
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
                    values: self.sort_values(&keys, last).await?,
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

    /// How many live records of `ty` that the actor may read match `filter`, counted up to
    /// `cap`: the count, and whether more match. (What a list page shows: counting every one
    /// of 100,000 records cost more than the page itself.)
    pub async fn count_up_to(
        &self,
        actor: &Actor,
        ty: &EntityType,
        filter: Option<&str>,
        cap: u64,
    ) -> Result<(u64, bool), RecordError> {
        let filter = filter.map(query::parse_filter).transpose()?;
        let where_sql = self.visible(actor, ty, filter.as_ref(), false, Utc::now())?;
        let n = self.count(&where_sql, Some(cap.saturating_add(1))).await?;
        Ok((n.min(cap), n > cap))
    }

    /// How many records match `where_sql`, counting at most `limit` of them.
    async fn count(&self, where_sql: &Sql, limit: Option<u64>) -> Result<u64, RecordError> {
        let mut sql = Sql::new(self.db.backend);
        sql.push("SELECT COUNT(*) AS n FROM (SELECT 1 FROM records WHERE ");
        sql.push(&where_sql.text);
        sql.values = where_sql.values.clone();
        sql.push(&limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default());
        sql.push(") AS counted");
        let row = self.db.read.query_one_raw(sql.into_statement()).await?;
        let n: i64 = row.map(|r| r.try_get("", "n")).transpose()?.unwrap_or(0);
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The values of `keys` for `record`, as a cursor keeps them: a title a reference is sorted
    /// by is read with the same SQL that sorted it.
    async fn sort_values(
        &self,
        keys: &[SortKey<'_>],
        record: &Record,
    ) -> Result<Vec<Value>, RecordError> {
        let mut values: Vec<Value> = keys.iter().map(|k| query::sort_value(k, record)).collect();
        for (i, key) in keys.iter().enumerate().filter(|(_, k)| k.by_title) {
            let mut sql = Sql::new(self.db.backend);
            sql.push(&format!(
                "SELECT {} AS title FROM records WHERE records.id = ",
                key.target.expr
            ));
            sql.bind(record.id.0);
            let row = self.db.read.query_one_raw(sql.into_statement()).await?;
            let title: Option<String> = row.map(|r| r.try_get("", "title")).transpose()?.flatten();
            values[i] = title.map_or(Value::Null, Value::String);
        }
        Ok(values)
    }

    /// The distinct values of the tags field `field` among the records of `ty` the
    /// actor may read, in order, at most `limit`: what a tag filter suggests.
    pub async fn list_values(
        &self,
        actor: &Actor,
        ty: &EntityType,
        field: &str,
        limit: u64,
    ) -> Result<Vec<String>, RecordError> {
        let Some(spec) = ty.field(field).filter(|f| f.kind == FieldKind::Tags) else {
            return Err(RecordError::Filter(text!(
                "api-records-no-tags-field",
                plural = &ty.plural,
                field = field.chars().take(64).collect::<String>()
            )));
        };
        let where_sql = self.visible(actor, ty, None, false, Utc::now())?;
        let name = &spec.name; // an identifier: checked when the field was declared
        let mut sql = Sql::new(self.db.backend);
        sql.push("SELECT DISTINCT v.value AS value FROM (SELECT data FROM records WHERE ");
        sql.push(&where_sql.text);
        sql.values = where_sql.values;
        sql.push(&match self.db.backend {
            DbBackend::Postgres => format!(
                ") AS r, jsonb_array_elements_text(CASE WHEN jsonb_typeof(r.data->'{name}') = 'array' \
                 THEN r.data->'{name}' ELSE '[]'::jsonb END) AS v(value)"
            ),
            _ => format!(") AS r, json_each(r.data, '$.{name}') AS v"),
        });
        sql.push(&format!(" ORDER BY 1 LIMIT {limit}"));
        let rows = self.db.read.query_all_raw(sql.into_statement()).await?;
        rows.iter()
            .map(|row| row.try_get::<String>("", "value").map_err(Into::into))
            .collect()
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

    /// Of `targets`, those that some record references (in a field or a list): the records
    /// whose new title the search indexer must carry into other documents.
    pub async fn referenced_among(&self, targets: &[Uuid]) -> Result<Vec<Uuid>, RecordError> {
        self.refs_query(false, targets).await
    }

    /// The records that reference any of `targets` (in a field or a list), in any workspace:
    /// an id is only ever referenced from its own workspace.
    pub async fn referrers(&self, targets: &[Uuid]) -> Result<Vec<Uuid>, RecordError> {
        self.refs_query(true, targets).await
    }

    /// The distinct sources (`sources`) or targets of the references to `targets`.
    async fn refs_query(&self, sources: bool, targets: &[Uuid]) -> Result<Vec<Uuid>, RecordError> {
        let column = if sources { "source_id" } else { "target_id" };
        let mut found = Vec::new();
        for chunk in targets.chunks(500) {
            let mut sql = Sql::new(self.db.backend);
            sql.push(&format!(
                "SELECT DISTINCT {column} AS id FROM record_refs WHERE target_id IN ("
            ));
            for (i, id) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind(id.to_string());
            }
            sql.push(")");
            for row in self.db.read.query_all_raw(sql.into_statement()).await? {
                // Sources are record ids; targets are the text the trigger found.
                let id = if sources {
                    Some(row.try_get::<Uuid>("", "id")?)
                } else {
                    Uuid::parse_str(&row.try_get::<String>("", "id")?).ok()
                };
                found.extend(id);
            }
        }
        Ok(found)
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

/// `AND owner_id …` for a scope (nothing reachable: a forbidden type).
fn push_scope(sql: &mut Sql, scope: &Scope) -> Result<(), RecordError> {
    match scope {
        Scope::All => {}
        Scope::Nothing => {
            return Err(RecordError::Forbidden(text!(
                "api-records-forbidden-read-records"
            )));
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
