//! Work plugins do outside requests: after-save delivery from the outbox (at least once, in
//! order, retried with backoff) and scheduled jobs (once per schedule tick across replicas,
//! through a lease row; resumable by cursor).

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::hooks::context;
use super::host::Services;
use super::manifest::ActAs;
use super::manifest::{HookOperation, HookPhase, Manifest};
use super::model::{cursor, delivery, job};
use super::registry::{Enabled, Plugins};
use super::runtime::{CallKind, guest};
use crate::ids::{UserId, WorkspaceId};
use crate::records::model::outbox;
use crate::records::{micros, now_micros};

/// Events handed to one after-save call, at most.
const EVENTS_PER_CALL: u64 = 100;
/// How long a job run holds its lease between steps.
const LEASE: Duration = Duration::from_secs(60);
/// Steps of one job run, at most (a job that never says `done` stops here and resumes on its
/// next tick).
const MAX_STEPS: usize = 10_000;

/// Prepares after-save delivery (from the current end of the event log) and the schedules of a
/// plugin just enabled in a workspace.
pub async fn enabled(
    services: &Services,
    workspace: WorkspaceId,
    manifest: &Manifest,
) -> Result<(), DbErr> {
    let head = services
        .store
        .outbox_head()
        .await
        .map_err(|e| DbErr::Custom(e.to_string()))?;
    cursor::Entity::insert(cursor::ActiveModel {
        workspace_id: Set(workspace.0),
        plugin_id: Set(manifest.id.clone()),
        seq: Set(head),
        attempts: Set(0),
        retry_at: Set(0),
        lease_until: Set(0),
    })
    .on_conflict(
        OnConflict::columns([cursor::Column::WorkspaceId, cursor::Column::PluginId])
            .do_nothing()
            .to_owned(),
    )
    .exec_without_returning(&services.db.write)
    .await?;
    for spec in &manifest.jobs {
        let Some(next) = next_run(&spec.schedule, now_micros()) else {
            continue;
        };
        ensure_job_row(services, workspace, &manifest.id, &spec.name, next).await?;
    }
    Ok(())
}

/// Queues a run of a job now (it starts within a second, from its saved cursor).
pub async fn queue_job(services: &Services, enabled: &Enabled, name: &str) -> Result<(), DbErr> {
    ensure_job_row(services, enabled.workspace, enabled.id(), name, i64::MAX).await?;
    job::Entity::update_many()
        .col_expr(job::Column::NextRun, Expr::value(now_micros()))
        .filter(job::Column::WorkspaceId.eq(enabled.workspace.0))
        .filter(job::Column::PluginId.eq(enabled.id()))
        .filter(job::Column::Job.eq(name))
        .exec(&services.db.write)
        .await?;
    Ok(())
}

/// Makes sure a job's row exists, first due at `next_run` (an existing row is kept).
async fn ensure_job_row(
    services: &Services,
    workspace: WorkspaceId,
    plugin: &str,
    name: &str,
    next_run: i64,
) -> Result<(), DbErr> {
    job::Entity::insert(job::ActiveModel {
        workspace_id: Set(workspace.0),
        plugin_id: Set(plugin.to_owned()),
        job: Set(name.to_owned()),
        next_run: Set(next_run),
        cursor: Set(None),
        lease_until: Set(0),
        last_done: Set(None),
    })
    .on_conflict(
        OnConflict::columns([
            job::Column::WorkspaceId,
            job::Column::PluginId,
            job::Column::Job,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(&services.db.write)
    .await?;
    Ok(())
}

/// The first tick of `schedule` after `after` (microseconds), UTC.
pub fn next_run(schedule: &str, after: i64) -> Option<i64> {
    let cron = croner::Cron::from_str(schedule).ok()?;
    let start = chrono::DateTime::from_timestamp_micros(after)?;
    cron.find_next_occurrence(&start, false)
        .ok()
        .map(|t| t.timestamp_micros())
}

/// Delivers committed events to after-save hooks, every 200 ms.
pub async fn deliver_loop(plugins: Arc<Plugins>) {
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for enabled in plugins.all_enabled() {
            if let Err(error) = deliver(&plugins, &enabled).await {
                tracing::warn!(plugin = enabled.id(), %error, "after-save delivery failed");
            }
        }
    }
}

/// The operation an outbox event stands for.
fn event_op(event: &str) -> HookOperation {
    match event {
        "created" => HookOperation::Create,
        "deleted" => HookOperation::Delete,
        _ => HookOperation::Update,
    }
}

/// How many times an event is tried before it is a dead letter.
pub const MAX_ATTEMPTS: i32 = 8;

/// The wait after `attempts` failed tries of an event: 1 s, 2 s, 4 s … at most 5 min.
pub fn retry_delay(attempts: i32) -> Duration {
    Duration::from_secs(1u64 << attempts.clamp(1, 9).saturating_sub(1))
        .min(Duration::from_secs(300))
}

/// How long one process delivers a cursor's events before another may take over (a process
/// that dies mid-delivery holds it this long at most).
const DELIVERY_LEASE: Duration = Duration::from_secs(30);

/// One round of after-save delivery for one plugin in one workspace, by the one process
/// holding the cursor's lease: first the events whose delivery failed and whose retry is due,
/// then the new events after the cursor.
///
/// Order is owed per record, not per plugin: an event that fails goes to `plugin_deliveries`
/// to be retried on its own (with backoff, then as a dead letter an admin retries or drops)
/// and the cursor moves on, so one failing record never holds up the others; an event of a
/// record with an earlier event still waiting there waits behind it.
pub async fn deliver(plugins: &Plugins, enabled: &Arc<Enabled>) -> Result<(), DbErr> {
    if !enabled.plugin.manifest.hooks_after_save() {
        return Ok(());
    }
    let services = plugins.services();
    let Some((position, lease)) = take_delivery_lease(services, enabled).await? else {
        return Ok(());
    };
    let result = async {
        retry_due(plugins, enabled).await?;
        deliver_new(plugins, enabled, position.seq).await
    }
    .await;
    cursor::Entity::update_many()
        .col_expr(cursor::Column::LeaseUntil, Expr::value(0i64))
        .filter(cursor::Column::WorkspaceId.eq(enabled.workspace.0))
        .filter(cursor::Column::PluginId.eq(enabled.id()))
        .filter(cursor::Column::LeaseUntil.eq(lease))
        .exec(&services.db.write)
        .await?;
    result
}

/// The plugin's cursor in the workspace, with its delivery lease taken (a conditional update:
/// one process wins) and the lease's end; `None` when another process holds it.
async fn take_delivery_lease(
    services: &Services,
    enabled: &Enabled,
) -> Result<Option<(cursor::Model, i64)>, DbErr> {
    let key = (enabled.workspace.0, enabled.id().to_owned());
    let Some(position) = cursor::Entity::find_by_id(key.clone())
        .one(&services.db.read)
        .await?
    else {
        return Ok(None);
    };
    let now = now_micros();
    if position.lease_until > now {
        return Ok(None);
    }
    let until = now + micros(DELIVERY_LEASE);
    let taken = cursor::Entity::update_many()
        .col_expr(cursor::Column::LeaseUntil, Expr::value(until))
        .filter(cursor::Column::WorkspaceId.eq(key.0))
        .filter(cursor::Column::PluginId.eq(key.1))
        .filter(cursor::Column::LeaseUntil.eq(position.lease_until))
        .exec(&services.db.write)
        .await?;
    Ok((taken.rows_affected == 1).then_some((position, until)))
}

/// The new events after the cursor: the first run of them made by one acting user (or all, when
/// after-save acts as the plugin) in one call. Events of records with a delivery still waiting
/// are set to wait behind it; a failed call's events all wait for a retry of their own. The
/// cursor then moves past them, whatever happened.
async fn deliver_new(plugins: &Plugins, enabled: &Arc<Enabled>, after: i64) -> Result<(), DbErr> {
    let services = plugins.services();
    let manifest = &enabled.plugin.manifest;
    let events = outbox::Entity::find()
        .filter(outbox::Column::Seq.gt(after))
        .filter(outbox::Column::WorkspaceId.eq(enabled.workspace.0))
        .order_by_asc(outbox::Column::Seq)
        .limit(EVENTS_PER_CALL)
        .all(&services.db.read)
        .await?;
    let Some(last) = events.last().map(|e| e.seq) else {
        return Ok(());
    };
    let wanted = |e: &outbox::Model| {
        manifest
            .hooks_for(&e.entity_type, event_op(&e.event), HookPhase::AfterSave)
            .next()
            .is_some()
    };
    let waiting: HashSet<uuid::Uuid> = delivery::Entity::find()
        .select_only()
        .column(delivery::Column::RecordId)
        .filter(delivery::Column::WorkspaceId.eq(enabled.workspace.0))
        .filter(delivery::Column::PluginId.eq(enabled.id()))
        .filter(delivery::Column::DeadAt.is_null())
        .into_tuple()
        .all(&services.db.read)
        .await?
        .into_iter()
        .collect();
    let acts_as_plugin = manifest.after_save_as == ActAs::Plugin;
    let first_actor = events
        .iter()
        .find(|e| wanted(e) && !waiting.contains(&e.record_id))
        .map(event_actor);
    let mut batch = Vec::new();
    let mut behind = Vec::new();
    let mut through = last;
    for event in events.iter().filter(|e| wanted(e)) {
        if waiting.contains(&event.record_id)
            || behind
                .iter()
                .any(|e: &&outbox::Model| e.record_id == event.record_id)
        {
            behind.push(event);
            continue;
        }
        if !acts_as_plugin && Some(event_actor(event)) != first_actor {
            through = event.seq - 1;
            break;
        }
        batch.push(event);
    }
    behind.retain(|e| e.seq <= through);
    let now = now_micros();
    for event in behind {
        park(services, enabled, event, 0, now, None).await?;
    }
    if !batch.is_empty() {
        let outcome = match plugins
            .after_save_actor(enabled, first_actor.flatten())
            .await
        {
            Some(actor) => call_after_save(plugins, enabled, actor, &batch).await,
            None => Err("the user who made these changes no longer exists".to_owned()),
        };
        if let Err(error) = outcome {
            let next = now + micros(retry_delay(1));
            for event in &batch {
                park(services, enabled, event, 1, next, Some(&error)).await?;
            }
        }
    }
    cursor::Entity::update_many()
        .col_expr(cursor::Column::Seq, Expr::value(through))
        .filter(cursor::Column::WorkspaceId.eq(enabled.workspace.0))
        .filter(cursor::Column::PluginId.eq(enabled.id()))
        .filter(cursor::Column::Seq.eq(after))
        .exec(&services.db.write)
        .await?;
    Ok(())
}

/// Sets an event aside to be delivered on its own: due at `next_at`, after `attempts` tries.
async fn park(
    services: &Services,
    enabled: &Enabled,
    event: &outbox::Model,
    attempts: i32,
    next_at: i64,
    error: Option<&str>,
) -> Result<(), DbErr> {
    delivery::Entity::insert(delivery::ActiveModel {
        workspace_id: Set(enabled.workspace.0),
        plugin_id: Set(enabled.id().to_owned()),
        seq: Set(event.seq),
        record_id: Set(event.record_id),
        attempts: Set(attempts),
        next_at: Set(next_at),
        last_error: Set(error.map(|e| super::runtime::truncate(e.to_owned()))),
        dead_at: Set(None),
    })
    .on_conflict(
        OnConflict::columns([
            delivery::Column::WorkspaceId,
            delivery::Column::PluginId,
            delivery::Column::Seq,
        ])
        .do_nothing()
        .to_owned(),
    )
    .exec_without_returning(&services.db.write)
    .await?;
    Ok(())
}

/// Events set aside whose turn has come (per record, only its earliest waiting event), each in
/// a call of its own: delivered, it is done; failed, it waits longer, and after
/// [`MAX_ATTEMPTS`] it is a dead letter.
async fn retry_due(plugins: &Plugins, enabled: &Arc<Enabled>) -> Result<(), DbErr> {
    let services = plugins.services();
    let waiting = delivery::Entity::find()
        .filter(delivery::Column::WorkspaceId.eq(enabled.workspace.0))
        .filter(delivery::Column::PluginId.eq(enabled.id()))
        .filter(delivery::Column::DeadAt.is_null())
        .order_by_asc(delivery::Column::Seq)
        .limit(1000)
        .all(&services.db.read)
        .await?;
    let now = now_micros();
    let mut records = HashSet::new();
    let due: Vec<delivery::Model> = waiting
        .into_iter()
        .filter(|d| records.insert(d.record_id))
        .filter(|d| d.next_at <= now)
        .take(RETRIES_PER_ROUND)
        .collect();
    for entry in due {
        let key = (entry.workspace_id, entry.plugin_id.clone(), entry.seq);
        let Some(event) = outbox::Entity::find_by_id(entry.seq)
            .one(&services.db.read)
            .await?
        else {
            // Gone from the event log: nothing to deliver.
            delivery::Entity::delete_by_id(key)
                .exec(&services.db.write)
                .await?;
            continue;
        };
        let outcome = match plugins.after_save_actor(enabled, event_actor(&event)).await {
            Some(actor) => call_after_save(plugins, enabled, actor, &[&event]).await,
            None => Err("the user who made this change no longer exists".to_owned()),
        };
        match outcome {
            Ok(()) => {
                delivery::Entity::delete_by_id(key)
                    .exec(&services.db.write)
                    .await?;
            }
            Err(error) => {
                let attempts = entry.attempts.saturating_add(1);
                let now = now_micros();
                let dead = attempts >= MAX_ATTEMPTS;
                delivery::Entity::update_many()
                    .col_expr(delivery::Column::Attempts, Expr::value(attempts))
                    .col_expr(
                        delivery::Column::NextAt,
                        Expr::value(now + micros(retry_delay(attempts))),
                    )
                    .col_expr(
                        delivery::Column::LastError,
                        Expr::value(Some(super::runtime::truncate(error))),
                    )
                    .col_expr(delivery::Column::DeadAt, Expr::value(dead.then_some(now)))
                    .filter(delivery::Column::WorkspaceId.eq(key.0))
                    .filter(delivery::Column::PluginId.eq(key.1.clone()))
                    .filter(delivery::Column::Seq.eq(key.2))
                    .exec(&services.db.write)
                    .await?;
                if dead {
                    tracing::warn!(
                        plugin = enabled.id(),
                        seq = key.2,
                        "an after-save event is a dead letter"
                    );
                }
            }
        }
    }
    Ok(())
}

/// Retries of set-aside events per delivery round.
const RETRIES_PER_ROUND: usize = 20;

/// Calls after-save with `events` as `actor`; the failure as text.
async fn call_after_save(
    plugins: &Plugins,
    enabled: &Arc<Enabled>,
    actor: crate::records::Actor,
    events: &[&outbox::Model],
) -> Result<(), String> {
    let schema = plugins
        .services()
        .store
        .schema(enabled.workspace)
        .await
        .map_err(|e| e.to_string())?;
    let wit_events: Vec<guest::Event> = (events.iter())
        .map(|e| wit_event(e, &schema, &actor))
        .collect();
    let ctx = context(enabled, &actor);
    plugins
        .invoke(enabled, actor, CallKind::AfterSave, move |plugin, store| {
            Box::pin(async move { plugin.after_save(store, &ctx, &wit_events).await })
        })
        .await
        .map_err(|failure| failure.to_string())
}

/// An outbox event as the contract's event, as `actor` may see it: the values of fields their
/// role hides are left out.
fn wit_event(
    event: &outbox::Model,
    schema: &crate::records::schema::Schema,
    actor: &crate::records::Actor,
) -> guest::Event {
    let ty = schema.by_name(&event.entity_type);
    let kind = |name: &str| match name {
        "owner" => Some((crate::records::schema::FieldKind::User, false)),
        _ => ty.and_then(|t| t.field(name)).map(|f| (f.kind, f.multiple)),
    };
    let changes = (event.payload["values"].as_object().into_iter().flatten())
        .filter(|(name, _)| actor.access.reads_field(&event.entity_type, name))
        .map(|(name, pair)| guest::FieldChange {
            name: name.clone(),
            old: super::convert::to_wit(kind(name), &pair[0]),
            new: super::convert::to_wit(kind(name), &pair[1]),
        })
        .collect();
    guest::Event {
        changes,
        id: event.seq,
        entity_type: event.entity_type.clone(),
        record_id: event.record_id.to_string(),
        action: event.event.clone(),
        version: event.version,
        changed: event.payload["fields"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

fn event_actor(event: &outbox::Model) -> Option<UserId> {
    event.payload["actor"]
        .as_str()
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .map(UserId)
}

/// Sets aside deliveries of a plugin in a workspace (its failed and dead-letter events),
/// newest first.
pub async fn deliveries(
    services: &Services,
    workspace: WorkspaceId,
    plugin: &str,
    limit: u64,
) -> Result<Vec<(delivery::Model, Option<outbox::Model>)>, DbErr> {
    let rows = delivery::Entity::find()
        .filter(delivery::Column::WorkspaceId.eq(workspace.0))
        .filter(delivery::Column::PluginId.eq(plugin))
        .order_by_desc(delivery::Column::Seq)
        .limit(limit)
        .all(&services.db.read)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let event = outbox::Entity::find_by_id(row.seq)
            .one(&services.db.read)
            .await?;
        out.push((row, event));
    }
    Ok(out)
}

/// An admin's retry of a set-aside event: due now, its attempts counted afresh. Answers
/// whether there was one.
pub async fn retry_delivery(
    services: &Services,
    workspace: WorkspaceId,
    plugin: &str,
    seq: i64,
) -> Result<bool, DbErr> {
    let result = delivery::Entity::update_many()
        .col_expr(delivery::Column::Attempts, Expr::value(0))
        .col_expr(delivery::Column::NextAt, Expr::value(now_micros()))
        .col_expr(delivery::Column::DeadAt, Expr::value(Option::<i64>::None))
        .filter(delivery::Column::WorkspaceId.eq(workspace.0))
        .filter(delivery::Column::PluginId.eq(plugin))
        .filter(delivery::Column::Seq.eq(seq))
        .exec(&services.db.write)
        .await?;
    Ok(result.rows_affected == 1)
}

/// An admin's drop of a set-aside event: it will not be delivered. Answers whether there was
/// one.
pub async fn drop_delivery(
    services: &Services,
    workspace: WorkspaceId,
    plugin: &str,
    seq: i64,
) -> Result<bool, DbErr> {
    let result = delivery::Entity::delete_by_id((workspace.0, plugin.to_owned(), seq))
        .exec(&services.db.write)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Starts due jobs, every second.
pub async fn job_loop(plugins: Arc<Plugins>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        for enabled in plugins.all_enabled() {
            for spec in &enabled.plugin.manifest.jobs {
                match take_lease(plugins.services(), &enabled, &spec.name).await {
                    Ok(Some(row)) => {
                        let plugins = plugins.clone();
                        let enabled = enabled.clone();
                        tokio::spawn(async move {
                            if let Err(error) = run_job(&plugins, &enabled, row).await {
                                tracing::warn!(plugin = enabled.id(), %error, "job run failed");
                            }
                        });
                    }
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(plugin = enabled.id(), %error, "cannot check a job")
                    }
                }
            }
        }
    }
}

/// Takes the lease of a due job: a conditional update, so one replica wins a tick.
async fn take_lease(
    services: &Services,
    enabled: &Enabled,
    name: &str,
) -> Result<Option<job::Model>, DbErr> {
    let key = (
        enabled.workspace.0,
        enabled.id().to_owned(),
        name.to_owned(),
    );
    let Some(row) = job::Entity::find_by_id(key.clone())
        .one(&services.db.read)
        .await?
    else {
        return Ok(None);
    };
    let now = now_micros();
    if row.next_run > now || row.lease_until > now {
        return Ok(None);
    }
    let lease_until = now + LEASE.as_micros() as i64;
    let taken = job::Entity::update_many()
        .col_expr(job::Column::LeaseUntil, Expr::value(lease_until))
        .filter(job::Column::WorkspaceId.eq(key.0))
        .filter(job::Column::PluginId.eq(key.1))
        .filter(job::Column::Job.eq(key.2))
        .filter(job::Column::LeaseUntil.eq(row.lease_until))
        .filter(job::Column::NextRun.eq(row.next_run))
        .exec(&services.db.write)
        .await?;
    Ok((taken.rows_affected == 1).then_some(job::Model { lease_until, ..row }))
}

/// Runs a job step by step from its saved cursor until it is done; the cursor is saved after
/// every step, so a failure or a restart resumes where it stopped.
pub async fn run_job(
    plugins: &Plugins,
    enabled: &Arc<Enabled>,
    row: job::Model,
) -> Result<(), DbErr> {
    let services = plugins.services();
    let schedule = enabled
        .plugin
        .manifest
        .jobs
        .iter()
        .find(|j| j.name == row.job)
        .map(|j| j.schedule.clone())
        .unwrap_or_default();
    let Some(actor) = plugins
        .actor_for(enabled.workspace, enabled.granted_by)
        .await
    else {
        return Ok(());
    };
    let filter = |update: sea_orm::UpdateMany<job::Entity>| {
        update
            .filter(job::Column::WorkspaceId.eq(row.workspace_id))
            .filter(job::Column::PluginId.eq(row.plugin_id.clone()))
            .filter(job::Column::Job.eq(row.job.clone()))
    };
    let mut cursor = row.cursor.clone();
    for _ in 0..MAX_STEPS {
        // Disabled, suspended or re-granted since the run began: stop here; the cursor is
        // saved, and a run under the plugin's current grant resumes from it.
        if !services.enablements.is_current(enabled) {
            break;
        }
        let ctx = context(enabled, &actor);
        let name = row.job.clone();
        let step_cursor = cursor.clone();
        let step = plugins
            .invoke(
                enabled,
                actor.clone(),
                CallKind::Job,
                move |plugin, store| {
                    Box::pin(async move {
                        plugin
                            .run_job(store, &ctx, &name, step_cursor.as_deref())
                            .await
                    })
                },
            )
            .await;
        let now = now_micros();
        match step {
            Ok(step) if step.done => {
                let next = next_run(&schedule, now).unwrap_or(i64::MAX);
                filter(job::Entity::update_many())
                    .col_expr(job::Column::NextRun, Expr::value(next))
                    .col_expr(job::Column::Cursor, Expr::value(Option::<String>::None))
                    .col_expr(job::Column::LeaseUntil, Expr::value(0i64))
                    .col_expr(job::Column::LastDone, Expr::value(Some(now)))
                    .exec(&services.db.write)
                    .await?;
                return Ok(());
            }
            Ok(step) => {
                cursor = step.cursor;
                filter(job::Entity::update_many())
                    .col_expr(job::Column::Cursor, Expr::value(cursor.clone()))
                    .col_expr(
                        job::Column::LeaseUntil,
                        Expr::value(now + LEASE.as_micros() as i64),
                    )
                    .exec(&services.db.write)
                    .await?;
            }
            Err(_) => {
                // Try again in a minute, from the saved cursor.
                filter(job::Entity::update_many())
                    .col_expr(job::Column::LeaseUntil, Expr::value(0i64))
                    .col_expr(job::Column::NextRun, Expr::value(now + 60_000_000))
                    .exec(&services.db.write)
                    .await?;
                return Ok(());
            }
        }
    }
    filter(job::Entity::update_many())
        .col_expr(job::Column::LeaseUntil, Expr::value(0i64))
        .exec(&services.db.write)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{MAX_ATTEMPTS, retry_delay};
    use std::time::Duration;

    #[test]
    fn failed_events_wait_longer_each_time_and_give_up_after_minutes() {
        let waits: Vec<u64> = (1..=MAX_ATTEMPTS)
            .map(|n| retry_delay(n).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128]);
        assert_eq!(retry_delay(50), Duration::from_secs(256));
        assert_eq!(retry_delay(0), Duration::from_secs(1));
        let before_dead: u64 = waits[..waits.len() - 1].iter().sum();
        assert_eq!(
            before_dead, 127,
            "a dead letter after about two minutes of retries"
        );
    }
}
