//! What a write points at: the records its reference fields name, read for the hooks that ask
//! for them, and the check that every referenced record and user exists, live, in the
//! workspace.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use super::super::model::record;
use super::super::schema::EntityType;
use super::super::value::Draft;
use super::super::{Actor, Record, RecordError, Referenced};
use super::{KnownRefs, Store, to_record};
use crate::auth::permissions::Operation;
use crate::error::FieldError;
use crate::i18n::text;

impl Store {
    /// The live records that the `fields` each draft sets point at, as the actor may read them
    /// (its role's read scope and field rules applied), per draft; and the id and type of each.
    pub(super) async fn referenced(
        &self,
        conn: &impl ConnectionTrait,
        actor: &Actor,
        drafts: &[&Draft],
        fields: &[String],
    ) -> Result<(KnownRefs, Vec<Vec<Referenced>>), RecordError> {
        let wanted = |(field, ..): &&(String, Uuid, Option<String>)| fields.contains(field);
        let ids: HashSet<Uuid> = (drafts.iter())
            .flat_map(|draft| draft.record_refs.iter().filter(wanted))
            .map(|(_, id, _)| *id)
            .collect();
        let mut known = KnownRefs::new();
        let mut found: HashMap<Uuid, (Arc<EntityType>, Arc<Record>)> = HashMap::new();
        if !ids.is_empty() {
            let schema = self.schema(actor.workspace).await?;
            let ids: Vec<Uuid> = ids.into_iter().collect();
            for chunk in ids.chunks(500) {
                let rows = record::Entity::find()
                    .filter(record::Column::WorkspaceId.eq(actor.workspace.0))
                    .filter(record::Column::DeletedAt.is_null())
                    .filter(record::Column::Id.is_in(chunk.iter().copied()))
                    .all(conn)
                    .await?;
                for row in rows {
                    let Some(ty) = schema.by_name(&row.entity_type) else {
                        continue;
                    };
                    if !actor.allows(Operation::Read, &ty.name, row.owner_id) {
                        continue;
                    }
                    let view = actor.access.view(ty);
                    known.insert(row.id, row.entity_type.clone());
                    let record = to_record(row).visible_in(&view);
                    found.insert(record.id.0, (view, Arc::new(record)));
                }
            }
        }
        let references = (drafts.iter())
            .map(|draft| {
                (draft.record_refs.iter().filter(wanted))
                    .filter_map(|(field, id, _)| {
                        let (ty, record) = found.get(id)?;
                        Some(Referenced {
                            field: field.clone(),
                            ty: ty.clone(),
                            record: record.clone(),
                        })
                    })
                    .collect()
            })
            .collect();
        Ok((known, references))
    }

    /// Checks that every referenced record and user exists, live, in the workspace (and, for
    /// typed references, is of the target type). `known` records were found so in `conn`'s
    /// transaction already.
    pub(super) async fn check_refs<'d>(
        &self,
        conn: &impl ConnectionTrait,
        actor: &Actor,
        drafts: impl Iterator<Item = (usize, &'d Draft)>,
        known: &KnownRefs,
    ) -> Result<(), RecordError> {
        let drafts: Vec<(usize, &Draft)> = drafts.collect();
        let record_ids: HashSet<Uuid> = drafts
            .iter()
            .flat_map(|(_, d)| d.record_refs.iter().map(|r| r.1))
            .filter(|id| !known.contains_key(id))
            .collect();
        let user_ids: HashSet<Uuid> = drafts
            .iter()
            .flat_map(|(_, d)| d.user_refs.iter().map(|r| r.1))
            .collect();
        if record_ids.is_empty() && user_ids.is_empty() && known.is_empty() {
            return Ok(());
        }
        let mut types: HashMap<Uuid, String> = HashMap::new();
        let readable = |(id, ty, owner): (Uuid, String, Option<Uuid>)| {
            actor
                .allows(Operation::Read, &ty, owner)
                .then_some((id, ty))
        };
        let record_ids: Vec<Uuid> = record_ids.into_iter().collect();
        for chunk in record_ids.chunks(500) {
            let rows: Vec<(Uuid, String, Option<Uuid>)> = record::Entity::find()
                .select_only()
                .column(record::Column::Id)
                .column(record::Column::EntityType)
                .column(record::Column::OwnerId)
                .filter(record::Column::WorkspaceId.eq(actor.workspace.0))
                .filter(record::Column::DeletedAt.is_null())
                .filter(record::Column::Id.is_in(chunk.iter().copied()))
                .into_tuple()
                .all(conn)
                .await?;
            types.extend(rows.into_iter().filter_map(readable));
        }
        let users =
            crate::auth::existing_users(conn, actor.workspace, user_ids.into_iter().collect())
                .await?;
        let mut errors = Vec::new();
        let single = drafts.len() == 1;
        for (index, draft) in &drafts {
            let at = |e: FieldError| if single { e } else { e.at(*index) };
            for (field, id, target) in &draft.record_refs {
                match (types.get(id).or_else(|| known.get(id)), target) {
                    (None, _) => errors.push(at(FieldError::new(
                        field,
                        "reference_not_found",
                        text!("api-records-reference-not-found", id = id.to_string()),
                    ))),
                    (Some(found), Some(target)) if found != target => {
                        errors.push(at(FieldError::new(
                            field,
                            "wrong_reference_type",
                            text!(
                                "api-records-wrong-reference-type",
                                id = id.to_string(),
                                found = found,
                                target = target
                            ),
                        )));
                    }
                    _ => {}
                }
            }
            for (field, id) in &draft.user_refs {
                if !users.contains(id) {
                    errors.push(at(FieldError::new(
                        field,
                        "user_not_found",
                        text!("api-records-user-not-found", id = id.to_string()),
                    )));
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(RecordError::Invalid(errors))
        }
    }
}
