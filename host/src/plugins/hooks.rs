//! Plugins inside the record store's writes: the types and fields they add to a workspace's
//! schema, and their before-save hooks (bulk, in the order plugins were enabled and, within a
//! plugin, in manifest order).

use std::sync::Arc;

use super::convert::{fields_of, fields_to_map, record_to_wit};
use super::manifest::{HookOperation, HookPhase};
use super::registry::{Enabled, Plugins, schema_additions};
use super::runtime::{CallKind, Failure, guest, types};
use crate::error::FieldError;
use crate::i18n::Text;
use crate::ids::WorkspaceId;
use crate::records::schema::{EntityType, FieldSpec, SYSTEM_KEYS};
use crate::records::value::{self, Mode};
use crate::records::{Actor, Extensions, PendingChange, RecordError, Referenced, WriteOp};

fn hook_op(op: WriteOp) -> HookOperation {
    match op {
        WriteOp::Create => HookOperation::Create,
        WriteOp::Update => HookOperation::Update,
        WriteOp::Delete => HookOperation::Delete,
    }
}

fn wit_op(op: WriteOp) -> guest::Operation {
    match op {
        WriteOp::Create => guest::Operation::Create,
        WriteOp::Update => guest::Operation::Update,
        WriteOp::Delete => guest::Operation::Delete,
    }
}

/// The context every export gets.
pub fn context(enabled: &Enabled, actor: &Actor) -> types::Context {
    types::Context {
        workspace: actor.workspace.0.to_string(),
        user: actor.user.0.to_string(),
        plugin: enabled.id().to_owned(),
        plugin_version: enabled.plugin.manifest.version.clone(),
    }
}

fn failed(enabled: &Enabled, message: impl std::fmt::Display) -> RecordError {
    RecordError::Plugin {
        plugin: enabled.id().to_owned(),
        message: format!("{message} (in before-save)"),
    }
}

/// A plugin's error code, kept only if it looks like one.
fn plugin_code(code: String) -> String {
    let valid = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid { code } else { "rejected".to_owned() }
}

impl Extensions for Plugins {
    fn schema_additions(
        &self,
        workspace: WorkspaceId,
    ) -> (Vec<EntityType>, Vec<(String, FieldSpec)>) {
        schema_additions(&self.hooked_in(workspace))
    }

    fn hooks(&self, workspace: WorkspaceId, entity: &str, op: WriteOp) -> bool {
        self.hooked_in(workspace).iter().any(|e| {
            e.plugin
                .manifest
                .hooks_for(entity, hook_op(op), HookPhase::BeforeSave)
                .next()
                .is_some()
        })
    }

    fn references(&self, workspace: WorkspaceId, entity: &str, op: WriteOp) -> Vec<String> {
        let mut fields: Vec<String> = (self.hooked_in(workspace).iter())
            .flat_map(|e| {
                e.plugin
                    .manifest
                    .hooks_for(entity, hook_op(op), HookPhase::BeforeSave)
            })
            .flat_map(|hook| hook.references.iter().cloned())
            .collect();
        fields.sort_unstable();
        fields.dedup();
        fields
    }

    fn claimant<'a>(
        &'a self,
        workspace: WorkspaceId,
        entity: &'a str,
        field: &'a str,
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<Option<String>, RecordError>> + Send + 'a>>
    {
        Box::pin(async move {
            Plugins::claimant(self, workspace, entity, field)
                .await
                .map_err(|e| RecordError::Database(sea_orm::DbErr::Custom(e.to_string())))
        })
    }

    fn before_save<'a>(
        &'a self,
        actor: &'a Actor,
        ty: &'a EntityType,
        changes: &'a mut [PendingChange],
    ) -> std::pin::Pin<Box<dyn Future<Output = Result<(), RecordError>> + Send + 'a>> {
        Box::pin(async move {
            for enabled in self.hooked_in(actor.workspace).iter() {
                self.run_before_save(enabled, actor, ty, changes).await?;
            }
            Ok(())
        })
    }
}

/// The values of the fields that `shown` lets through, as the contract's fields.
fn visible_fields(
    ty: &EntityType,
    fields: &serde_json::Map<String, serde_json::Value>,
    shown: impl Fn(&String) -> bool,
) -> Vec<types::Field> {
    let visible: serde_json::Map<String, serde_json::Value> = (fields.iter())
        .filter(|(name, _)| shown(name))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    fields_of(ty, &visible)
}

/// The records of `references` that the plugin's hooks asked for (`wanted` fields) and that it
/// may read in the workspace, each once.
fn references_for(
    enabled: &Enabled,
    wanted: &[&String],
    references: &[Referenced],
) -> Vec<types::EntityRecord> {
    let mut given: Vec<&Referenced> = (references.iter())
        .filter(|r| wanted.contains(&&r.field) && enabled.may_access(&r.record.entity_type, false))
        .collect();
    given.sort_by_key(|r| r.record.id.0);
    given.dedup_by_key(|r| r.record.id.0);
    (given.iter())
        .map(|r| record_to_wit(&r.ty, &r.record))
        .collect()
}

impl Plugins {
    /// One before-save call of an enabled plugin over `changes`, acting as `actor`.
    pub async fn call_before_save(
        &self,
        enabled: &Arc<Enabled>,
        actor: &Actor,
        changes: Vec<guest::Change>,
    ) -> Result<Vec<guest::Verdict>, Failure> {
        let ctx = context(enabled, actor);
        self.invoke(
            enabled,
            actor.clone(),
            CallKind::BeforeSave,
            move |plugin, store| {
                Box::pin(async move { plugin.before_save(store, &ctx, &changes).await })
            },
        )
        .await
    }

    async fn run_before_save(
        &self,
        enabled: &Arc<Enabled>,
        actor: &Actor,
        ty: &EntityType,
        changes: &mut [PendingChange],
    ) -> Result<(), RecordError> {
        let Some(op) = changes.first().map(|c| c.op) else {
            return Ok(());
        };
        let hooks: Vec<_> = enabled
            .plugin
            .manifest
            .hooks_for(&ty.name, hook_op(op), HookPhase::BeforeSave)
            .collect();
        if hooks.is_empty() {
            return Ok(());
        }
        let picked: Vec<usize> = changes
            .iter()
            .enumerate()
            .filter(|(_, change)| {
                change.op == WriteOp::Delete
                    || hooks.iter().any(|h| {
                        h.fields.is_empty() || h.fields.iter().any(|f| change.changed.contains(f))
                    })
            })
            .map(|(i, _)| i)
            .collect();
        if picked.is_empty() {
            return Ok(());
        }
        // A validating hook that cannot run fails closed: nothing is saved unchecked.
        if enabled.suspended.is_some() {
            return Err(RecordError::PluginSuspended {
                plugin: enabled.id().to_owned(),
            });
        }
        let wanted: Vec<&String> = hooks.iter().flat_map(|h| &h.references).collect();
        // The plugin acts as the user: it sees the change through the user's view of the
        // type, without the fields their role hides.
        let shown = |name: &String| actor.access.reads_field(&ty.name, name);
        let wit_changes: Vec<guest::Change> = picked
            .iter()
            .map(|&i| guest::Change {
                operation: wit_op(op),
                entity_type: ty.name.clone(),
                id: changes[i].id.map(|id| id.to_string()),
                fields: visible_fields(ty, &changes[i].fields, shown),
                old_fields: (changes[i].old.as_ref())
                    .map(|old| visible_fields(ty, old, shown))
                    .unwrap_or_default(),
                changed: (changes[i].changed.iter())
                    .filter(|name| shown(name))
                    .cloned()
                    .collect(),
                references: references_for(enabled, &wanted, &changes[i].references),
            })
            .collect();
        let verdicts = self
            .call_before_save(enabled, actor, wit_changes)
            .await
            .map_err(|failure| failed(enabled, failure))?;
        if verdicts.len() != picked.len() {
            return Err(failed(
                enabled,
                format!(
                    "answered {} verdicts for {} changes",
                    verdicts.len(),
                    picked.len()
                ),
            ));
        }
        let batch = changes.len() > 1;
        let mut errors = Vec::new();
        for (&index, verdict) in picked.iter().zip(verdicts) {
            match verdict {
                guest::Verdict::Proceed => {}
                guest::Verdict::Reject(found) => {
                    let found = if found.is_empty() {
                        vec![types::FieldError {
                            field: String::new(),
                            code: "rejected".into(),
                            message: format!("plugin `{}` refused the change", enabled.id()),
                        }]
                    } else {
                        found
                    };
                    for error in found {
                        let error = FieldError::with_code(
                            error.field.chars().take(64).collect::<String>(),
                            plugin_code(error.code),
                            Text::verbatim(super::runtime::truncate(error.message)),
                        );
                        errors.push(if batch { error.at(index) } else { error });
                    }
                }
                guest::Verdict::Patch(fields) => {
                    if op == WriteOp::Delete {
                        continue;
                    }
                    self.patch(enabled, ty, &mut changes[index], &fields)?;
                }
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(RecordError::Invalid(errors))
        }
    }

    /// Checks a hook's patch (write access, no system keys, valid values) and records it.
    fn patch(
        &self,
        enabled: &Enabled,
        ty: &EntityType,
        change: &mut PendingChange,
        fields: &[types::Field],
    ) -> Result<(), RecordError> {
        let writable = enabled.plugin.owns(&ty.name)
            || enabled
                .granted
                .write
                .iter()
                .any(|t| t == "*" || *t == ty.name);
        if !writable {
            return Err(failed(
                enabled,
                format!("patched `{}` without write access to it", ty.name),
            ));
        }
        if let Some(key) = fields
            .iter()
            .find(|f| SYSTEM_KEYS.contains(&f.name.as_str()))
        {
            return Err(failed(
                enabled,
                format!("patched the system key `{}`", key.name),
            ));
        }
        let map = fields_to_map(fields).map_err(|errors| {
            failed(
                enabled,
                format!("patched malformed values: {}", describe(&errors)),
            )
        })?;
        value::check(ty, &map, Mode::Patch).map_err(|errors| {
            failed(
                enabled,
                format!("patched invalid values: {}", describe(&errors)),
            )
        })?;
        for (key, value) in map {
            if value.is_null() {
                change.fields.remove(&key);
            } else {
                change.fields.insert(key.clone(), value.clone());
            }
            change.patch.insert(key, value);
        }
        Ok(())
    }
}

fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}
