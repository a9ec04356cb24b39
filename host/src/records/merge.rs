//! Duplicate checks and merges, by a type's duplicate key (contacts: email; companies: domain).
//!
//! A merge keeps one record (the survivor): its empty fields are filled from the merged
//! records in the order given, list fields are united, explicit `values` win over both; every
//! reference to a merged record, from any type, is re-pointed to the survivor; the merged
//! records are soft-deleted with `merged_into` set. All in one transaction, journalled.

use std::collections::HashSet;

use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::model::record;
use super::query::{self, Filter, Op, Sql};
use super::schema::EntityType;
use super::store::{Journal, to_record};
use super::value::{self, Draft, Mode};
use super::{Actor, Record, RecordError, Store, WriteOp, now_micros};
use crate::auth::permissions::Operation;
use crate::error::FieldError;
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
            RecordError::BadRequest(format!("`{}` has no duplicate key", ty.plural))
        })?;
        let field = ty.field(key).ok_or_else(|| {
            RecordError::BadRequest(format!("`{}` has no field `{key}`", ty.plural))
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

    /// Merges `others` into `survivor` (see the module comment).
    pub async fn merge(
        &self,
        actor: &Actor,
        ty: &EntityType,
        survivor: RecordId,
        others: &[RecordId],
        values: &Map<String, Value>,
    ) -> Result<Record, RecordError> {
        if others.is_empty() || others.len() > MAX_MERGE {
            return Err(RecordError::BadRequest(format!(
                "merge 1 to {MAX_MERGE} records at a time"
            )));
        }
        if others.contains(&survivor) || others.iter().collect::<HashSet<_>>().len() != others.len()
        {
            return Err(RecordError::BadRequest(
                "the merged ids must be distinct and differ from the survivor".into(),
            ));
        }
        let overrides = value::check(ty, values, Mode::Patch).map_err(RecordError::Invalid)?;
        let schema = self.schema(actor.workspace).await?;

        let txn = self.db().write.begin().await?;
        let mut ids: Vec<Uuid> = others.iter().map(|r| r.0).collect();
        ids.push(survivor.0);
        let mut rows = self.lock_rows(&txn, actor.workspace, ty, &ids).await?;
        let readable = |row: &record::Model| actor.allows(Operation::Read, &ty.name, row.owner_id);
        let keep = rows
            .remove(&survivor.0)
            .filter(readable)
            .ok_or(RecordError::NotFound)?;
        if !actor.allows(Operation::Edit, &ty.name, keep.owner_id) {
            return Err(RecordError::Forbidden(
                "your role may not change the surviving record".into(),
            ));
        }
        let mut merged = Vec::with_capacity(others.len());
        for id in others {
            let row = rows.remove(&id.0).filter(readable).ok_or_else(|| {
                RecordError::Invalid(vec![FieldError::new(
                    "ids",
                    "record_not_found",
                    format!("no live {} has the id {id}", ty.name),
                )])
            })?;
            if !actor.allows(Operation::Delete, &ty.name, row.owner_id) {
                return Err(RecordError::Forbidden(format!(
                    "your role may not merge away {id}"
                )));
            }
            merged.push(row);
        }

        // The survivor's new values.
        let mut draft = Draft::default();
        for field in &ty.fields {
            let current = keep.data.get(&field.name);
            if field.is_list() {
                let mut union: Vec<Value> = current
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                for row in &merged {
                    for item in row
                        .data
                        .get(&field.name)
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        if !union.contains(item) {
                            union.push(item.clone());
                        }
                    }
                }
                if !union.is_empty() && Some(&Value::Array(union.clone())) != current {
                    draft.fields.insert(field.name.clone(), Value::Array(union));
                }
            } else if current.is_none()
                && let Some(found) = merged.iter().find_map(|row| row.data.get(&field.name))
            {
                draft.fields.insert(field.name.clone(), found.clone());
            }
        }
        draft.fields.extend(overrides.fields.clone());
        draft.owner = overrides.owner;
        // A merge is writes like any other, and plugins check them like any other: the
        // survivor's update, each re-pointed reference and each merged record's delete.
        let mut drafts = [draft];
        let known = self
            .before_save(
                &txn,
                actor,
                ty,
                WriteOp::Update,
                &mut drafts,
                &[(Some(keep.id), keep.data.as_object())],
            )
            .await?;
        for row in &merged {
            self.before_delete(actor, ty, row).await?;
        }
        let [draft] = drafts;
        // The references the caller's values and the hooks' patches set (filled values were
        // stored already).
        self.check_refs(
            &txn,
            actor,
            [(0, &overrides), (0, &draft)].into_iter(),
            &known,
        )
        .await?;
        let mut journal = Vec::new();
        let mut survivor_record = self
            .apply_patches(&txn, vec![(keep, draft)], "updated", &mut journal)
            .await?;

        // Re-point references from every type to the survivor.
        let merged_ids: Vec<String> = merged.iter().map(|r| r.id.to_string()).collect();
        for (ref_type, field) in schema.references_to(&ty.name) {
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
                .all(&txn)
                .await?;
            let survivor_id = Value::String(survivor.to_string());
            let targets: Vec<(record::Model, Draft)> = referring
                .into_iter()
                .map(|row| {
                    let repointed = match row.data.get(&field.name) {
                        Some(Value::Array(items)) => {
                            let mut out: Vec<Value> = Vec::with_capacity(items.len());
                            for item in items {
                                let item = if item
                                    .as_str()
                                    .is_some_and(|s| merged_ids.iter().any(|m| m == s))
                                {
                                    survivor_id.clone()
                                } else {
                                    item.clone()
                                };
                                if !out.contains(&item) {
                                    out.push(item);
                                }
                            }
                            Value::Array(out)
                        }
                        _ => survivor_id.clone(),
                    };
                    let mut draft = Draft::default();
                    draft.fields.insert(field.name.clone(), repointed);
                    (row, draft)
                })
                .collect();
            let (rows, mut drafts): (Vec<record::Model>, Vec<Draft>) = targets.into_iter().unzip();
            let current: Vec<_> = (rows.iter())
                .map(|row| (Some(row.id), row.data.as_object()))
                .collect();
            self.before_save(
                &txn,
                actor,
                ref_type,
                WriteOp::Update,
                &mut drafts,
                &current,
            )
            .await?;
            let targets: Vec<(record::Model, Draft)> = rows.into_iter().zip(drafts).collect();
            let repointed = self
                .apply_patches(&txn, targets, "updated", &mut journal)
                .await?;
            if ref_type.name == ty.name {
                // A survivor that referred to a merged record was re-pointed too.
                if let Some(updated) = repointed.into_iter().find(|r| r.id == survivor) {
                    survivor_record = vec![updated];
                }
            }
        }

        // Retire the merged records.
        let now = now_micros();
        for row in &merged {
            record::Entity::update_many()
                .col_expr(record::Column::DeletedAt, Expr::value(Some(now)))
                .col_expr(record::Column::MergedInto, Expr::value(Some(survivor.0)))
                .col_expr(record::Column::Version, Expr::value(row.version + 1))
                .col_expr(record::Column::UpdatedAt, Expr::value(now))
                .filter(record::Column::Id.eq(row.id))
                .exec(&txn)
                .await?;
            let changes =
                Map::from_iter([("merged_into".to_owned(), json!({ "after": survivor }))]);
            journal.push(Journal {
                record_id: row.id,
                entity_type: row.entity_type.clone(),
                action: "merged",
                version: row.version + 1,
                changes,
            });
        }
        self.journal(&txn, actor, journal).await?;
        self.commit(txn).await?;
        survivor_record
            .pop()
            .map(|r| r.visible_in(ty))
            .ok_or(RecordError::NotFound)
    }
}
