//! Work plugins do outside requests: after-save delivery from the outbox (at least once, in
//! order, retried with backoff) and scheduled jobs (once per schedule tick across replicas,
//! through a lease row; resumable by cursor).

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::hooks::context;
use super::host::Services;
use super::manifest::{HookOperation, HookPhase, Manifest};
use super::model::{cursor, job};
use super::registry::{Enabled, Plugins};
use super::runtime::{CallKind, guest};
use crate::ids::{UserId, WorkspaceId};
use crate::records::model::outbox;
use crate::records::now_micros;

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

/// One round of delivery for one plugin in one workspace: the events after its cursor, in
/// order, grouped by acting user; the cursor moves only past delivered events.
pub async fn deliver(plugins: &Plugins, enabled: &Arc<Enabled>) -> Result<(), DbErr> {
    let manifest = &enabled.plugin.manifest;
    if !manifest.hooks_after_save() {
        return Ok(());
    }
    let services = plugins.services();
    let key = (enabled.workspace.0, enabled.id().to_owned());
    let Some(position) = cursor::Entity::find_by_id(key.clone())
        .one(&services.db.read)
        .await?
    else {
        return Ok(());
    };
    let now = now_micros();
    if position.retry_at > now {
        return Ok(());
    }
    let events = outbox::Entity::find()
        .filter(outbox::Column::Seq.gt(position.seq))
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
    // The first run of events by one acting user, up to the first event of another.
    let first_actor = events.iter().find(|e| wanted(e)).map(event_actor);
    let mut batch = Vec::new();
    let mut through = last;
    for event in &events {
        if !wanted(event) {
            continue;
        }
        if Some(event_actor(event)) != first_actor {
            through = event.seq - 1;
            break;
        }
        batch.push(event);
    }
    if let (Some(user), false) = (first_actor.flatten(), batch.is_empty()) {
        let actor = match plugins.actor_for(enabled.workspace, user).await {
            Some(actor) => Some(actor),
            None => {
                plugins
                    .actor_for(enabled.workspace, enabled.granted_by)
                    .await
            }
        };
        let Some(actor) = actor else {
            return Ok(());
        };
        let wit_events: Vec<guest::Event> = batch
            .iter()
            .map(|e| guest::Event {
                id: e.seq,
                entity_type: e.entity_type.clone(),
                record_id: e.record_id.to_string(),
                action: e.event.clone(),
                version: e.version,
                changed: e.payload["fields"]
                    .as_array()
                    .map(|f| {
                        f.iter()
                            .filter_map(|v| v.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        let ctx = context(enabled, &actor);
        let result = plugins
            .invoke(enabled, actor, CallKind::AfterSave, move |plugin, store| {
                Box::pin(async move {
                    plugin
                        .kith_plugin_guest()
                        .call_after_save(store, &ctx, &wit_events)
                        .await
                })
            })
            .await;
        if result.is_err() {
            let attempts = position.attempts.saturating_add(1);
            let backoff = 1_000_000i64 << attempts.clamp(0, 8);
            cursor::Entity::update_many()
                .col_expr(cursor::Column::Attempts, Expr::value(attempts))
                .col_expr(
                    cursor::Column::RetryAt,
                    Expr::value(now + backoff.min(300_000_000)),
                )
                .filter(cursor::Column::WorkspaceId.eq(key.0))
                .filter(cursor::Column::PluginId.eq(key.1.clone()))
                .exec(&services.db.write)
                .await?;
            return Ok(());
        }
    }
    cursor::Entity::update_many()
        .col_expr(cursor::Column::Seq, Expr::value(through))
        .col_expr(cursor::Column::Attempts, Expr::value(0))
        .col_expr(cursor::Column::RetryAt, Expr::value(0i64))
        .filter(cursor::Column::WorkspaceId.eq(key.0))
        .filter(cursor::Column::PluginId.eq(key.1))
        .filter(cursor::Column::Seq.eq(position.seq))
        .exec(&services.db.write)
        .await?;
    Ok(())
}

fn event_actor(event: &outbox::Model) -> Option<UserId> {
    event.payload["actor"]
        .as_str()
        .and_then(|s| uuid::Uuid::parse_str(s).ok())
        .map(UserId)
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
                            .kith_plugin_guest()
                            .call_run_job(store, &ctx, &name, step_cursor.as_deref())
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
