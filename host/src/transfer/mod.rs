//! Data in and out: imports (upload → mapping → preview → commit, resumable, with a result
//! file and an undo) and exports of any list.
//!
//! An import is a row of `imports` holding the uploaded file itself, so that the preview,
//! the commit and a commit resumed by another process after a crash all read the same bytes
//! the same way. Committing is a job: the API marks the import `running`, and a runner (every
//! server runs one; the CLI runs its own import in-process) claims it with a lease and writes
//! it batch by batch (`import::Importer`).

pub mod api;
pub mod backup;
pub mod cells;
pub mod export;
pub mod import;
mod model;
pub mod source;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::auth::permissions::Operation;
use crate::i18n::{Language, Text, text};
use crate::ids::{RecordId, UserId};
use crate::records::schema::{EntityType, FieldKind};
use crate::records::{Actor, Op, RecordError, Step, Store, now_micros};
use import::{Counts, Importer, Plan, RowResult};
use model::{import as import_model, import_row};
use source::{Reading, Table};

/// Largest file an import takes.
pub const MAX_FILE_BYTES: usize = crate::extract::MAX_FILE_BODY;
/// How long a claimed commit is held without progress before another process takes it.
const LEASE: Duration = Duration::from_secs(15);
/// Problems a preview lists (every one is in the result file after a commit).
pub const LISTED_PROBLEMS: usize = 1_000;

/// What a new import is.
pub struct Upload {
    pub plural: String,
    pub file_name: String,
    pub bytes: Vec<u8>,
    pub reading: Reading,
    pub language: Language,
    /// The importer's clock: datetimes without a zone are on it.
    pub time_zone: String,
}

/// An import as the API shows it.
#[derive(Debug, Serialize)]
pub struct ImportView {
    pub id: Uuid,
    pub entity_type: String,
    pub file_name: String,
    pub status: String,
    pub reading: Value,
    pub plan: Value,
    pub total_rows: i64,
    pub done_rows: i64,
    pub counts: Value,
    pub error: Option<String>,
    pub created_at: String,
    pub finished_at: Option<String>,
}

/// The file's columns with a few sample values (what a mapping is chosen from).
#[derive(Debug, Serialize)]
pub struct Column {
    pub header: String,
    pub samples: Vec<String>,
}

/// What a preview found.
#[derive(Debug, Serialize)]
pub struct Preview {
    pub counts: Counts,
    /// Problems of the first rows that have them, with their spreadsheet row numbers.
    pub problems: Vec<Value>,
    /// Rows with problems beyond those listed.
    pub unlisted: usize,
}

impl From<import_model::Model> for ImportView {
    fn from(row: import_model::Model) -> Self {
        Listed {
            id: row.id,
            entity_type: row.entity_type,
            file_name: row.file_name,
            status: row.status,
            reading: row.reading,
            options: row.options,
            total_rows: row.total_rows,
            done_rows: row.done_rows,
            counts: row.counts,
            error: row.error,
            created_at: row.created_at,
            finished_at: row.finished_at,
        }
        .into()
    }
}

fn conflict(message: Text) -> RecordError {
    RecordError::Conflict(message)
}

/// Stores an uploaded file as a new import of `plural`, reading it once to check it and to
/// suggest a mapping.
pub async fn upload(
    store: &Store,
    actor: &Actor,
    upload: Upload,
) -> Result<(ImportView, Vec<Column>), RecordError> {
    let ty = store.view(actor, &upload.plural).await?;
    let own = Some(actor.user.0);
    if !actor.allows(Operation::Create, &ty.name, own)
        && !actor.allows(Operation::Edit, &ty.name, own)
    {
        return Err(RecordError::Forbidden(text!(
            "api-import-may-not-write",
            entity = ty.label.clone()
        )));
    }
    if upload.bytes.len() > MAX_FILE_BYTES {
        return Err(RecordError::BadRequest(text!(
            "api-import-too-large",
            max = MAX_FILE_BYTES / 1024 / 1024
        )));
    }
    let mut reading = upload.reading;
    let table = source::read(&upload.bytes, &mut reading).map_err(RecordError::BadRequest)?;
    // The plan of this person's last committed import of a file with these columns, if
    // any (a mapping is made once and reused); otherwise one suggested from the headers.
    let plan = match last_plan(store, actor, &ty.plural, &table.headers).await? {
        Some(plan) => Plan {
            time_zone: Some(upload.time_zone),
            ..plan
        },
        None => Plan {
            mapping: suggest(&ty, &table),
            time_zone: Some(upload.time_zone),
            ..Plan::default()
        },
    };
    let columns = columns(&table);
    let now = now_micros();
    let row = import_model::ActiveModel {
        id: Set(Uuid::now_v7()),
        workspace_id: Set(actor.workspace.0),
        created_by: Set(actor.user.0),
        entity_type: Set(ty.plural.clone()),
        file_name: Set(file_name(&upload.file_name)),
        source: Set(upload.bytes),
        reading: Set(json!(reading)),
        options: Set(json!(plan)),
        status: Set("uploaded".to_owned()),
        total_rows: Set(i64::try_from(table.rows.len()).unwrap_or(i64::MAX)),
        done_rows: Set(0),
        counts: Set(json!(Counts::default())),
        language: Set(upload.language.tag().to_owned()),
        error: Set(None),
        lease_until: Set(0),
        created_at: Set(now),
        finished_at: Set(None),
    };
    let row = import_model::Entity::insert(row)
        .exec_with_returning(&store.db().write)
        .await?;
    Ok((row.into(), columns))
}

/// The plan of the actor's newest committed import into `plural` whose mapped columns are
/// all among `headers`.
async fn last_plan(
    store: &Store,
    actor: &Actor,
    plural: &str,
    headers: &[String],
) -> Result<Option<Plan>, RecordError> {
    let plans: Vec<Value> = import_model::Entity::find()
        .select_only()
        .column(import_model::Column::Options)
        .filter(import_model::Column::WorkspaceId.eq(actor.workspace.0))
        .filter(import_model::Column::CreatedBy.eq(actor.user.0))
        .filter(import_model::Column::EntityType.eq(plural))
        .filter(import_model::Column::Status.is_in(["done", "undone"]))
        .order_by_desc(import_model::Column::CreatedAt)
        .limit(20)
        .into_tuple()
        .all(&store.db().read)
        .await?;
    Ok(plans
        .into_iter()
        .filter_map(|plan| serde_json::from_value::<Plan>(plan).ok())
        .find(|plan| !plan.mapping.is_empty() && plan.mapping.keys().all(|h| headers.contains(h))))
}

/// A file name as kept: its last path component, printable, at most 200 characters.
fn file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base.chars().filter(|c| !c.is_control()).take(200).collect();
    if clean.trim().is_empty() {
        "upload".to_owned()
    } else {
        clean
    }
}

fn columns(table: &Table) -> Vec<Column> {
    (table.headers.iter().enumerate())
        .map(|(index, header)| Column {
            header: header.clone(),
            samples: (table.rows.iter())
                .filter_map(|row| row.get(index).filter(|c| !c.trim().is_empty()))
                .take(3)
                .map(|c| c.chars().take(100).collect())
                .collect(),
        })
        .collect()
}

/// A mapping from the headers: a header that is a field's name or label (in any language,
/// ignoring case, spaces and punctuation) maps to it; an unmatched column of email
/// addresses maps to the type's only email field. Each field is mapped once.
pub fn suggest(ty: &EntityType, table: &Table) -> BTreeMap<String, String> {
    let plain = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_alphanumeric())
            .flat_map(char::to_lowercase)
            .collect()
    };
    let mut mapping = BTreeMap::new();
    let mut taken: Vec<String> = Vec::new();
    for (index, header) in table.headers.iter().enumerate() {
        let wanted = plain(header);
        if wanted.is_empty() {
            continue;
        }
        let special = ["id", "owner"]
            .into_iter()
            .find(|s| *s == wanted)
            .map(str::to_owned);
        let field = special.or_else(|| {
            (ty.fields.iter())
                .filter(|f| !f.read_only)
                .find(|f| {
                    plain(&f.name) == wanted
                        || plain(&f.label) == wanted
                        || f.labels.values().any(|l| plain(l) == wanted)
                })
                .map(|f| f.name.clone())
        });
        let field = field.or_else(|| {
            let emails = (table.rows.iter().take(20))
                .filter_map(|r| r.get(index))
                .filter(|c| !c.trim().is_empty())
                .all(|c| c.contains('@') && !c.contains(' '));
            let email_fields: Vec<_> = (ty.fields.iter())
                .filter(|f| f.kind == FieldKind::Email && !f.read_only)
                .collect();
            match email_fields.as_slice() {
                [only] if emails && !table.rows.is_empty() => Some(only.name.clone()),
                _ => None,
            }
        });
        if let Some(field) = field.filter(|f| !taken.contains(f)) {
            taken.push(field.clone());
            mapping.insert(header.clone(), field);
        }
    }
    mapping
}

/// The import `id` of the actor's workspace, if the actor may see it: its creator, or an
/// admin.
async fn find(store: &Store, actor: &Actor, id: Uuid) -> Result<import_model::Model, RecordError> {
    let row = import_model::Entity::find_by_id(id)
        .filter(import_model::Column::WorkspaceId.eq(actor.workspace.0))
        .one(&store.db().read)
        .await?
        .ok_or(RecordError::NotFound)?;
    if row.created_by != actor.user.0 && !actor.access.role.admin {
        return Err(RecordError::NotFound);
    }
    Ok(row)
}

pub async fn get(store: &Store, actor: &Actor, id: Uuid) -> Result<ImportView, RecordError> {
    Ok(find(store, actor, id).await?.into())
}

/// The workspace's imports the actor may see, newest first (without their files).
pub async fn list(store: &Store, actor: &Actor) -> Result<Vec<ImportView>, RecordError> {
    let mut select = import_model::Entity::find()
        .select_only()
        .columns([
            import_model::Column::Id,
            import_model::Column::EntityType,
            import_model::Column::FileName,
            import_model::Column::Status,
            import_model::Column::Reading,
            import_model::Column::Options,
            import_model::Column::TotalRows,
            import_model::Column::DoneRows,
            import_model::Column::Counts,
            import_model::Column::Error,
            import_model::Column::CreatedAt,
            import_model::Column::FinishedAt,
        ])
        .filter(import_model::Column::WorkspaceId.eq(actor.workspace.0));
    if !actor.access.role.admin {
        select = select.filter(import_model::Column::CreatedBy.eq(actor.user.0));
    }
    let rows = select
        .order_by_desc(import_model::Column::CreatedAt)
        .limit(200)
        .into_model::<Listed>()
        .all(&store.db().read)
        .await?;
    Ok(rows.into_iter().map(ImportView::from).collect())
}

/// An import as listed: everything but its file.
#[derive(Debug, sea_orm::FromQueryResult)]
struct Listed {
    id: Uuid,
    entity_type: String,
    file_name: String,
    status: String,
    reading: Value,
    options: Value,
    total_rows: i64,
    done_rows: i64,
    counts: Value,
    error: Option<String>,
    created_at: i64,
    finished_at: Option<i64>,
}

impl From<Listed> for ImportView {
    fn from(row: Listed) -> Self {
        let stamp = crate::records::value::format_micros;
        ImportView {
            id: row.id,
            entity_type: row.entity_type,
            file_name: row.file_name,
            status: row.status,
            reading: row.reading,
            plan: row.options,
            total_rows: row.total_rows,
            done_rows: row.done_rows,
            counts: row.counts,
            error: row.error,
            created_at: stamp(row.created_at),
            finished_at: row.finished_at.map(stamp),
        }
    }
}

/// The stored file, read as the import reads it.
fn table_of(row: &import_model::Model) -> Result<Table, RecordError> {
    let mut reading: Reading = serde_json::from_value(row.reading.clone())
        .map_err(|e| RecordError::BadRequest(Text::verbatim(e.to_string())))?;
    source::read(&row.source, &mut reading).map_err(RecordError::BadRequest)
}

/// The import's columns with sample values (what its mapping is chosen from).
pub async fn columns_of(
    store: &Store,
    actor: &Actor,
    id: Uuid,
) -> Result<Vec<Column>, RecordError> {
    let row = find(store, actor, id).await?;
    Ok(columns(&table_of(&row)?))
}

/// Checks every row with `plan` without writing anything, and keeps the plan for the commit.
/// Problems are written in `language`.
pub async fn preview(
    store: &Store,
    actor: &Actor,
    id: Uuid,
    plan: Plan,
    language: Language,
) -> Result<(ImportView, Preview), RecordError> {
    let row = find(store, actor, id).await?;
    if !matches!(row.status.as_str(), "uploaded" | "previewed") {
        return Err(conflict(text!("api-import-already-committed")));
    }
    let table = table_of(&row)?;
    let importer = Importer::new(store, actor, &row.entity_type, &plan, &table).await?;
    let mut counts = Counts::default();
    let mut problems = Vec::new();
    let mut unlisted = 0;
    let nothing = |_: &[RowResult]| Vec::new();
    for start in (0..importer.total()).step_by(import::BATCH) {
        let end = (start + import::BATCH).min(importer.total());
        for result in importer.batch(start..end, true, &nothing).await? {
            counts.add(result.outcome);
            if result.problems.is_empty() {
                continue;
            }
            if problems.len() < LISTED_PROBLEMS {
                problems.push(json!({
                    "row": import::row_number(result.row),
                    "outcome": result.outcome,
                    "problems": import::problems_json(&result.problems, language),
                }));
            } else {
                unlisted += 1;
            }
        }
    }
    let updated = import_model::Entity::update_many()
        .col_expr(import_model::Column::Options, Expr::value(json!(plan)))
        .col_expr(import_model::Column::Status, Expr::value("previewed"))
        .filter(import_model::Column::Id.eq(id))
        .filter(import_model::Column::Status.is_in(["uploaded", "previewed"]))
        .exec(&store.db().write)
        .await?;
    if updated.rows_affected != 1 {
        return Err(conflict(text!("api-import-already-committed")));
    }
    let view = get(store, actor, id).await?;
    Ok((
        view,
        Preview {
            counts,
            problems,
            unlisted,
        },
    ))
}

/// Marks a previewed import to be committed; a runner writes it. Committing twice is the
/// same as once.
pub async fn commit(store: &Store, actor: &Actor, id: Uuid) -> Result<ImportView, RecordError> {
    let row = find(store, actor, id).await?;
    match row.status.as_str() {
        "previewed" => {}
        "running" | "done" => return Ok(row.into()),
        "uploaded" => return Err(conflict(text!("api-import-preview-first"))),
        _ => return Err(conflict(text!("api-import-already-committed"))),
    }
    import_model::Entity::update_many()
        .col_expr(import_model::Column::Status, Expr::value("running"))
        .filter(import_model::Column::Id.eq(id))
        .filter(import_model::Column::Status.eq("previewed"))
        .exec(&store.db().write)
        .await?;
    get(store, actor, id).await
}

/// Claims the running import `id` when no live process holds it, for [`LEASE`].
async fn claim(store: &Store, id: Uuid) -> Result<bool, RecordError> {
    let now = now_micros();
    let claimed = import_model::Entity::update_many()
        .col_expr(
            import_model::Column::LeaseUntil,
            Expr::value(now + crate::records::micros(LEASE)),
        )
        .filter(import_model::Column::Id.eq(id))
        .filter(import_model::Column::Status.eq("running"))
        .filter(import_model::Column::LeaseUntil.lt(now))
        .exec(&store.db().write)
        .await?;
    Ok(claimed.rows_affected == 1)
}

/// Writes the running import `id` from its first unwritten row to the end, if this process
/// can claim it; `progress` hears the rows done after each batch. Answers whether it ran.
pub async fn run(
    store: &Store,
    id: Uuid,
    progress: &(dyn Fn(usize, usize) + Send + Sync),
) -> Result<bool, RecordError> {
    if !claim(store, id).await? {
        return Ok(false);
    }
    let result = run_claimed(store, id, progress).await;
    let (status, error) = match &result {
        Ok(()) => ("done", None),
        Err(error) => ("failed", Some(error.to_string())),
    };
    import_model::Entity::update_many()
        .col_expr(import_model::Column::Status, Expr::value(status))
        .col_expr(import_model::Column::Error, Expr::value(error))
        .col_expr(import_model::Column::FinishedAt, Expr::value(now_micros()))
        .col_expr(import_model::Column::LeaseUntil, Expr::value(0i64))
        .filter(import_model::Column::Id.eq(id))
        .filter(import_model::Column::Status.eq("running"))
        .exec(&store.db().write)
        .await?;
    result.map(|()| true)
}

async fn run_claimed(
    store: &Store,
    id: Uuid,
    progress: &(dyn Fn(usize, usize) + Send + Sync),
) -> Result<(), RecordError> {
    let row = import_model::Entity::find_by_id(id)
        .one(&store.db().read)
        .await?
        .ok_or(RecordError::NotFound)?;
    let actor = actor_of(store, &row).await?;
    let plan: Plan = serde_json::from_value(row.options.clone())
        .map_err(|e| RecordError::BadRequest(Text::verbatim(e.to_string())))?;
    let table = table_of(&row)?;
    let importer = Importer::new(store, &actor, &row.entity_type, &plan, &table).await?;
    let language = Language::parse(&row.language).unwrap_or_default();
    let mut counts: Counts = serde_json::from_value(row.counts.clone()).unwrap_or_default();
    let total = importer.total();
    let mut start = usize::try_from(row.done_rows).unwrap_or(0);
    let backend = store.backend();
    while start < total {
        let end = (start + import::BATCH).min(total);
        let before = counts;
        let receipt = |results: &[RowResult]| {
            let mut after = before;
            results.iter().for_each(|r| after.add(r.outcome));
            import::receipt_statements(backend, id, language, results, end, &after)
        };
        let results = importer.batch(start..end, false, &receipt).await?;
        results.iter().for_each(|r| counts.add(r.outcome));
        start = end;
        progress(start, total);
        // Still ours: renew the lease.
        import_model::Entity::update_many()
            .col_expr(
                import_model::Column::LeaseUntil,
                Expr::value(now_micros() + crate::records::micros(LEASE)),
            )
            .filter(import_model::Column::Id.eq(id))
            .exec(&store.db().write)
            .await?;
    }
    Ok(())
}

/// The import's creator as they are now (their role today, not when they uploaded).
async fn actor_of(store: &Store, row: &import_model::Model) -> Result<Actor, RecordError> {
    use crate::auth::model::user;
    let creator = user::Entity::find_by_id(row.created_by)
        .filter(user::Column::WorkspaceId.eq(row.workspace_id))
        .filter(user::Column::DeactivatedAt.is_null())
        .one(&store.db().read)
        .await?
        .ok_or_else(|| RecordError::Forbidden(text!("api-import-creator-gone")))?;
    let principal = crate::auth::Principal {
        user: UserId(creator.id),
        workspace: crate::ids::WorkspaceId(row.workspace_id),
        role: creator.role,
    };
    let access = crate::auth::load_access(store.db(), &principal).await?;
    Ok(Actor {
        workspace: principal.workspace,
        user: principal.user,
        access: Arc::new(access),
    })
}

/// Every server runs committed imports: its own at once, and any another process left
/// behind when its lease runs out.
pub async fn run_loop(store: Arc<Store>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let due: Result<Vec<Uuid>, _> = import_model::Entity::find()
            .select_only()
            .column(import_model::Column::Id)
            .filter(import_model::Column::Status.eq("running"))
            .filter(import_model::Column::LeaseUntil.lt(now_micros()))
            .into_tuple()
            .all(&store.db().read)
            .await;
        for id in due.unwrap_or_default() {
            if let Err(error) = run(&store, id, &|_, _| {}).await {
                tracing::warn!(%error, %id, "import failed");
            }
        }
    }
}

/// One row of the result file: the original cells, then what became of the row.
pub async fn result_rows(
    store: &Store,
    actor: &Actor,
    id: Uuid,
) -> Result<(String, Vec<Vec<String>>), RecordError> {
    let row = find(store, actor, id).await?;
    let table = table_of(&row)?;
    let outcomes: BTreeMap<i64, import_row::Model> = import_row::Entity::find()
        .filter(import_row::Column::ImportId.eq(id))
        .all(&store.db().read)
        .await?
        .into_iter()
        .map(|r| (r.row, r))
        .collect();
    let width = table.headers.len();
    let mut header = table.headers.clone();
    header.extend(["kith_row", "kith_outcome", "kith_record_id", "kith_reason"].map(str::to_owned));
    let mut rows = vec![header];
    for (index, cells) in table.rows.iter().enumerate() {
        let mut line = cells.clone();
        let outcome = outcomes.get(&i64::try_from(index).unwrap_or(i64::MAX));
        let reason = outcome
            .and_then(|o| o.problems.as_ref())
            .and_then(Value::as_array)
            .map(|problems| {
                (problems.iter())
                    .map(|p| {
                        let column = p.get("column").and_then(Value::as_str);
                        let message = p.get("message").and_then(Value::as_str).unwrap_or_default();
                        match column {
                            Some(column) => format!("{column}: {message}"),
                            None => message.to_owned(),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        line.truncate(width);
        line.resize(width, String::new());
        line.extend([
            import::row_number(index).to_string(),
            outcome.map_or("not_run", |o| o.outcome.as_str()).to_owned(),
            outcome
                .and_then(|o| o.record_id)
                .map(|id| id.to_string())
                .unwrap_or_default(),
            reason,
        ]);
        rows.push(line);
    }
    let name = format!(
        "{}-result.csv",
        row.file_name
            .trim_end_matches(".csv")
            .trim_end_matches(".xlsx")
    );
    Ok((name, rows))
}

/// What an undo did.
#[derive(Debug, Default, Serialize)]
pub struct Undone {
    pub deleted: u64,
    pub reverted: u64,
    /// Rows left as they are, with why (changed since the import).
    pub kept: Vec<Value>,
}

/// Deletes the records an import created and puts back the fields it updated — unless they
/// have changed since (those are listed, not touched). Running it again finishes an undo
/// that stopped.
pub async fn undo(store: &Store, actor: &Actor, id: Uuid) -> Result<Undone, RecordError> {
    let row = find(store, actor, id).await?;
    if !matches!(row.status.as_str(), "done" | "failed" | "undoing") {
        return Err(conflict(text!("api-import-not-committed")));
    }
    import_model::Entity::update_many()
        .col_expr(import_model::Column::Status, Expr::value("undoing"))
        .filter(import_model::Column::Id.eq(id))
        .exec(&store.db().write)
        .await?;
    let ty = store.view(actor, &row.entity_type).await?;
    let rows = import_row::Entity::find()
        .filter(import_row::Column::ImportId.eq(id))
        .filter(import_row::Column::Outcome.is_in(["created", "updated"]))
        .order_by_desc(import_row::Column::Row)
        .all(&store.db().read)
        .await?;
    let language = Language::parse(&row.language).unwrap_or_default();
    let mut undone = Undone::default();
    let kept = |number: usize, record_id: RecordId| {
        let reason = text!("api-import-changed-since").render(language);
        json!({ "row": number, "record_id": record_id, "reason": reason })
    };
    for line in rows {
        let Some(record_id) = line.record_id.map(RecordId) else {
            continue;
        };
        let number = import::row_number(usize::try_from(line.row).unwrap_or(0));
        let current = match store.get(actor, &ty, record_id).await {
            Ok(record) => record,
            Err(RecordError::NotFound) => continue,
            Err(other) => return Err(other),
        };
        let step = if line.outcome == "created" {
            if current.version > 1 {
                undone.kept.push(kept(number, record_id));
                continue;
            }
            Step {
                ty: &ty,
                op: Op::Delete {
                    id: record_id,
                    if_match: Some(current.version),
                },
            }
        } else {
            let changes = line
                .changes
                .as_ref()
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            let mut patch = Map::new();
            let mut changed_since = false;
            for (field, change) in &changes {
                let before = change.get("before").cloned().unwrap_or(Value::Null);
                let after = change.get("after").cloned().unwrap_or(Value::Null);
                let now = match field.as_str() {
                    "owner" => current.owner.map_or(Value::Null, |o| json!(o)),
                    _ => current.data.get(field).cloned().unwrap_or(Value::Null),
                };
                if now == before {
                    continue;
                }
                if now != after {
                    changed_since = true;
                }
                patch.insert(field.clone(), before);
            }
            if changed_since {
                undone.kept.push(kept(number, record_id));
                continue;
            }
            if patch.is_empty() {
                continue;
            }
            Step::update(&ty, record_id, patch, Some(current.version))
        };
        let deleting = matches!(step.op, Op::Delete { .. });
        match store.write_one(actor, step).await {
            Ok(_) if deleting => undone.deleted += 1,
            Ok(_) => undone.reverted += 1,
            Err(
                RecordError::VersionConflict { .. }
                | RecordError::Invalid(_)
                | RecordError::Forbidden(_),
            ) => {
                undone.kept.push(kept(number, record_id));
            }
            Err(other) => return Err(other),
        }
    }
    import_model::Entity::update_many()
        .col_expr(import_model::Column::Status, Expr::value("undone"))
        .filter(import_model::Column::Id.eq(id))
        .exec(&store.db().write)
        .await?;
    Ok(undone)
}

/// An unfinished import of the same file into the same type by the same person (the CLI
/// resumes it rather than starting again).
pub async fn unfinished(
    store: &Store,
    actor: &Actor,
    plural: &str,
    bytes: &[u8],
) -> Result<Option<Uuid>, RecordError> {
    let digest = Sha256::digest(bytes);
    let rows = import_model::Entity::find()
        .filter(import_model::Column::WorkspaceId.eq(actor.workspace.0))
        .filter(import_model::Column::CreatedBy.eq(actor.user.0))
        .filter(import_model::Column::EntityType.eq(plural))
        .filter(import_model::Column::Status.eq("running"))
        .all(&store.db().read)
        .await?;
    Ok(rows
        .into_iter()
        .find(|r| Sha256::digest(&r.source) == digest)
        .map(|r| r.id))
}

/// The import `id`'s progress (rows done, of all).
pub async fn progress(store: &Store, id: Uuid) -> Result<(i64, i64, Counts, String), RecordError> {
    let row = import_model::Entity::find_by_id(id)
        .one(&store.db().read)
        .await?
        .ok_or(RecordError::NotFound)?;
    let counts = serde_json::from_value(row.counts).unwrap_or_default();
    Ok((row.done_rows, row.total_rows, counts, row.status))
}
