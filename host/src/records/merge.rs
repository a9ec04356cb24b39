//! Duplicate checks and merges, by a type's duplicate key (contacts: email; companies: domain).
//!
//! A merge keeps one record (the survivor): its empty fields are filled from the merged
//! records in the order given, list fields are united, explicit `values` win over both; every
//! reference to a merged record, from any type, is re-pointed to the survivor; the merged
//! records are soft-deleted with `merged_into` set. It is one write of the one write path
//! ([`Store::write`]): the survivor's update, each re-pointing and each retirement are its
//! steps, so hooks, references and the journal apply to each, in one transaction. The steps
//! carry the versions read here, so a record changed meanwhile refuses the merge.

use std::collections::HashSet;

use chrono::Utc;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::model::record;
use super::query::{self, Filter, Op, Sql};
use super::schema::EntityType;
use super::store::{self, Step, to_record};
use super::value::{self, Mode};
use super::{Actor, Record, RecordError, Store};
use crate::auth::permissions::Operation;
use crate::error::FieldError;
use crate::i18n::text;
use crate::ids::RecordId;

/// Most records merged into a survivor at once.
pub const MAX_MERGE: usize = 50;

impl Store {
    /// Live records of `ty` with the same duplicate key as `candidate` (a record body), apart
    /// from `exclude`.
    pub async fn duplicates(
        &self,
        actor: &Actor,
        ty: &EntityType,
        candidate: &Map<String, Value>,
        exclude: Option<RecordId>,
    ) -> Result<Vec<Record>, RecordError> {
        let key = ty.duplicate_key.as_deref().ok_or_else(|| {
            RecordError::BadRequest(text!("api-records-no-duplicate-key", plural = &ty.plural))
        })?;
        let field = ty.field(key).ok_or_else(|| {
            RecordError::BadRequest(text!(
                "api-records-unknown-field",
                plural = &ty.plural,
                field = key
            ))
        })?;
        let Some(raw) = candidate.get(key) else {
            return Ok(Vec::new());
        };
        let normal = value::normalize(field, raw).map_err(|(code, message)| {
            RecordError::Invalid(vec![FieldError::new(key, code, message)])
        })?;
        let Some(normal) = normal else {
            return Ok(Vec::new());
        };
        let found = self
            .find_by_values(
                &self.db().read,
                actor.workspace,
                ty,
                field,
                std::slice::from_ref(&normal),
            )
            .await?;
        Ok(found
            .into_values()
            .flatten()
            .filter(|row| exclude.is_none_or(|e| e.0 != row.id))
            .filter(|row| actor.allows(Operation::Read, &ty.name, row.owner_id))
            .map(|row| to_record(row).visible_in(ty))
            .collect())
    }

    /// Merges `others` into `survivor` (see the module comment). `seen` holds the versions
    /// the caller decided on (a merge page's records): one of them at another version now
    /// refuses the merge with a `VersionConflict`, as the steps would refuse a change made
    /// after this read.
    pub async fn merge(
        &self,
        actor: &Actor,
        ty: &EntityType,
        survivor: RecordId,
        others: &[RecordId],
        values: &Map<String, Value>,
        seen: &[(RecordId, i64)],
    ) -> Result<Record, RecordError> {
        if others.is_empty() || others.len() > MAX_MERGE {
            return Err(RecordError::BadRequest(text!(
                "api-records-merge-count",
                max = MAX_MERGE
            )));
        }
        if others.contains(&survivor) || others.iter().collect::<HashSet<_>>().len() != others.len()
        {
            return Err(RecordError::BadRequest(text!("api-records-merge-ids")));
        }
        value::check(ty, values, Mode::Patch).map_err(RecordError::Invalid)?;
        let schema = self.schema(actor.workspace).await?;

        let mut ids: Vec<Uuid> = others.iter().map(|r| r.0).collect();
        ids.push(survivor.0);
        let mut rows: std::collections::HashMap<Uuid, record::Model> = record::Entity::find()
            .filter(record::Column::WorkspaceId.eq(actor.workspace.0))
            .filter(record::Column::EntityType.eq(ty.name.as_str()))
            .filter(record::Column::DeletedAt.is_null())
            .filter(record::Column::Id.is_in(ids))
            .all(&self.db().read)
            .await?
            .into_iter()
            .map(|row| (row.id, row))
            .collect();
        for (id, version) in seen {
            if let Some(row) = rows.get(&id.0)
                && row.version != *version
            {
                return Err(RecordError::VersionConflict {
                    current: row.version,
                });
            }
        }
        let readable = |row: &record::Model| actor.allows(Operation::Read, &ty.name, row.owner_id);
        let keep = rows
            .remove(&survivor.0)
            .filter(readable)
            .ok_or(RecordError::NotFound)?;
        if !actor.allows(Operation::Edit, &ty.name, keep.owner_id) {
            return Err(RecordError::Forbidden(text!(
                "api-records-forbidden-change-survivor"
            )));
        }
        let mut merged = Vec::with_capacity(others.len());
        for id in others {
            let row = rows.remove(&id.0).filter(readable).ok_or_else(|| {
                RecordError::Invalid(vec![FieldError::new(
                    "ids",
                    "record_not_found",
                    text!(
                        "api-records-merge-not-found",
                        entity = &ty.name,
                        id = id.to_string()
                    ),
                )])
            })?;
            if !actor.allows(Operation::Delete, &ty.name, row.owner_id) {
                return Err(RecordError::Forbidden(text!(
                    "api-records-forbidden-merge-away",
                    id = id.to_string()
                )));
            }
            merged.push(row);
        }

        // The survivor's new values: its empty fields filled, lists united, `values` last.
        let mut patch = Map::new();
        for field in &ty.fields {
            let current = keep.data.get(&field.name);
            if field.is_list() {
                let mut union: Vec<Value> = current
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for row in &merged {
                    let items = row.data.get(&field.name).and_then(Value::as_array);
                    for item in items.into_iter().flatten() {
                        if !union.contains(item) {
                            union.push(item.clone());
                        }
                    }
                }
                if !union.is_empty() && Some(&Value::Array(union.clone())) != current {
                    patch.insert(field.name.clone(), Value::Array(union));
                }
            } else if current.is_none()
                && let Some(found) = merged.iter().find_map(|row| row.data.get(&field.name))
            {
                patch.insert(field.name.clone(), found.clone());
            }
        }
        patch.extend(values.clone());

        // Every reference to a merged record, from any type, re-pointed to the survivor (the
        // survivor's own go into its update; the merged records' own go with them).
        let merged_ids: Vec<String> = merged.iter().map(|r| r.id.to_string()).collect();
        let mut repoints: Vec<(&EntityType, record::Model, String, Value)> = Vec::new();
        let referring_types: Vec<_> = schema.references_to(&ty.name).collect();
        for &(ref_type, field) in &referring_types {
            let ref_type: &EntityType = ref_type;
            let filter = Filter::Cond {
                field: field.name.clone(),
                op: Op::In,
                values: merged_ids.clone(),
            };
            let mut sql = Sql::new(self.backend());
            sql.push("SELECT * FROM records WHERE workspace_id = ");
            sql.bind(actor.workspace.0);
            sql.push(" AND ");
            sql.push(&query::type_condition(&ref_type.name));
            sql.push(" AND deleted_at IS NULL AND ");
            query::compile(&filter, ref_type, Utc::now(), &mut sql)?;
            let referring = record::Entity::find()
                .from_raw_sql(sql.into_statement())
                .all(&self.db().read)
                .await?;
            for row in referring {
                if merged.iter().any(|m| m.id == row.id) {
                    continue;
                }
                let repointed = repoint(row.data.get(&field.name), &merged_ids, survivor);
                if row.id == keep.id {
                    patch.insert(field.name.clone(), repointed);
                } else {
                    repoints.push((ref_type, row, field.name.clone(), repointed));
                }
            }
        }

        let mut steps = vec![Step {
            ty,
            op: store::Op::Update {
                id: survivor,
                patch,
                if_match: Some(keep.version),
            },
        }];
        // A record referring through several fields is re-pointed in one step.
        let mut by_record: Vec<(&EntityType, RecordId, Map<String, Value>, i64)> = Vec::new();
        for (ref_type, row, field, value) in repoints {
            match by_record.iter_mut().find(|(_, id, ..)| id.0 == row.id) {
                Some((_, _, patch, _)) => {
                    patch.insert(field, value);
                }
                None => by_record.push((
                    ref_type,
                    RecordId(row.id),
                    Map::from_iter([(field, value)]),
                    row.version,
                )),
            }
        }
        for (ref_type, id, patch, version) in by_record {
            steps.push(Step {
                ty: ref_type,
                op: store::Op::Repoint {
                    id,
                    patch,
                    if_match: Some(version),
                },
            });
        }
        for row in &merged {
            steps.push(Step {
                ty,
                op: store::Op::MergeAway {
                    id: RecordId(row.id),
                    into: survivor,
                    if_match: Some(row.version),
                },
            });
        }
        let mut written = self.write(actor, steps, true).await?;
        if written.is_empty() {
            return Err(RecordError::NotFound);
        }
        Ok(written.swap_remove(0))
    }
}

/// A reference field's value with every merged id replaced by the survivor's (a list keeps
/// each id once).
fn repoint(current: Option<&Value>, merged_ids: &[String], survivor: RecordId) -> Value {
    let survivor = Value::String(survivor.to_string());
    match current {
        Some(Value::Array(items)) => {
            let mut out: Vec<Value> = Vec::with_capacity(items.len());
            for item in items {
                let item = if item
                    .as_str()
                    .is_some_and(|s| merged_ids.iter().any(|m| m == s))
                {
                    survivor.clone()
                } else {
                    item.clone()
                };
                if !out.contains(&item) {
                    out.push(item);
                }
            }
            Value::Array(out)
        }
        _ => survivor,
    }
}
