//! Importing a table of rows as records of one type, through the one write path.
//!
//! An import runs in batches of [`BATCH`] rows. Each row becomes a step of a write (create,
//! update or upsert); a batch is one write. Rows the write refuses are taken out with their
//! reasons and the batch is written again without them, so that every row ends as created,
//! updated, unchanged, skipped or failed, each with its reason. A preview runs exactly the same
//! batches as dry runs (hooks and reference checks included, then rolled back); a commit
//! writes each batch's row outcomes and the import's progress in the batch's own transaction
//! (a write receipt), so an import stopped anywhere — kill -9 included — goes on from the
//! first row not written, and a second process running the same rows fails on their keys
//! instead of writing them twice.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chrono_tz::Tz;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryTrait, Statement};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::cells::{self, CellRules};
use super::model::{import, import_row};
use super::source::Table;
use crate::error::FieldError;
use crate::i18n::{Language, Text, text};
use crate::ids::RecordId;
use crate::records::schema::{EntityType, FieldKind, FieldSpec, Schema};
use crate::records::{Actor, Op, RecordError, Step, Store, WriteOptions, Written};

/// Rows per batch (one write).
pub const BATCH: usize = 500;

/// What to do with the rows: the mapping of columns to fields and the options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Column header → field name (`owner` sets the owner, by email). Columns not mapped
    /// are not imported.
    pub mapping: BTreeMap<String, String>,
    #[serde(default)]
    pub mode: Mode,
    /// The field that finds a row's record (`update`, `upsert`; `id` for `update`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// How a reference field's cells name their records; by default a record id, or the
    /// target type's first title field.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub references: BTreeMap<String, RefRule>,
    #[serde(default)]
    pub empty_cells: EmptyCells,
    /// The currency of a money cell that names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The clock of datetimes without a zone (IANA name); the importer's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Every row is a new record.
    #[default]
    Create,
    /// Rows update the record their key finds; others are skipped.
    Update,
    /// Rows update the record their key finds, or create one.
    Upsert,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefRule {
    /// `id`, or a field of the target type whose value names the record (`name`).
    pub by: String,
    /// A name no record has creates one with it (otherwise the row fails).
    #[serde(default)]
    pub create_missing: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmptyCells {
    /// An empty cell leaves the field as it is.
    #[default]
    Ignore,
    /// An empty cell clears the field of an updated record.
    Clear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Created,
    Updated,
    Unchanged,
    Skipped,
    Failed,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Updated => "updated",
            Outcome::Unchanged => "unchanged",
            Outcome::Skipped => "skipped",
            Outcome::Failed => "failed",
        }
    }
}

/// Rows by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub failed: u64,
}

impl Counts {
    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Skipped => self.skipped += 1,
            Outcome::Failed => self.failed += 1,
        }
    }
}

/// Why a row was skipped or failed: the column and field at fault (none for the whole row).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub code: std::borrow::Cow<'static, str>,
    pub message: Text,
}

/// What became of one row.
#[derive(Debug, Clone)]
pub struct RowResult {
    /// Index among the data rows (0: the first row under the header).
    pub row: usize,
    pub outcome: Outcome,
    pub record: Option<RecordId>,
    /// An update's changes (`{field: {before, after}}`).
    pub changes: Option<Value>,
    pub problems: Vec<Problem>,
}

/// Where a mapped column goes.
#[derive(Debug, Clone)]
enum Target {
    Field(Box<FieldSpec>),
    /// The owner, by a user's email or id.
    Owner,
    /// The record's id (an update by id).
    Id,
}

impl Target {
    fn name(&self) -> &str {
        match self {
            Target::Field(field) => &field.name,
            Target::Owner => "owner",
            Target::Id => "id",
        }
    }
}

/// A batch's rows that go to the write, with their steps (in the same order).
struct Pending<'t> {
    rows: Vec<usize>,
    steps: Vec<Step<'t>>,
}

type Refused = (Outcome, Vec<Problem>);

/// How the file's rows are imported into a type, for an actor.
pub struct Importer<'a> {
    store: &'a Store,
    actor: &'a Actor,
    /// The type as the actor sees it (hidden fields cannot be mapped).
    ty: Arc<EntityType>,
    schema: Arc<Schema>,
    plan: &'a Plan,
    table: &'a Table,
    rules: CellRules,
    /// Mapped columns: (index, header, target).
    columns: Vec<(usize, String, Target)>,
    /// The key's column and field (`Target::Id` for an update by id).
    key: Option<(usize, Target)>,
    /// Per key value, the first row holding it: later rows with the same key are skipped.
    first_with_key: HashMap<String, usize>,
}

/// The user-facing number of a data row: its row in the spreadsheet (the header is row 1).
pub fn row_number(row: usize) -> usize {
    row + 2
}

impl<'a> Importer<'a> {
    /// Checks the plan against the file and the type: a mistake in it is one clear error
    /// before any row is read.
    pub async fn new(
        store: &'a Store,
        actor: &'a Actor,
        plural: &str,
        plan: &'a Plan,
        table: &'a Table,
    ) -> Result<Importer<'a>, RecordError> {
        let ty = store.view(actor, plural).await?;
        let schema = store.schema(actor.workspace).await?;
        let bad = RecordError::BadRequest;
        let mut columns: Vec<(usize, String, Target)> = Vec::new();
        for (header, field) in &plan.mapping {
            let Some(index) = table.headers.iter().position(|h| h == header) else {
                return Err(bad(text!("api-import-no-column", column = header.clone())));
            };
            if columns.iter().any(|(_, _, t)| t.name() == field) {
                return Err(bad(text!("api-import-field-twice", field = field.clone())));
            }
            let target = match field.as_str() {
                "owner" => Target::Owner,
                "id" => Target::Id,
                _ => match ty.field(field) {
                    Some(spec) if !spec.read_only => Target::Field(Box::new(spec.clone())),
                    _ => {
                        return Err(bad(text!(
                            "api-import-unknown-field",
                            field = field.clone()
                        )));
                    }
                },
            };
            columns.push((index, header.clone(), target));
        }
        if !columns.iter().any(|(_, _, t)| !matches!(t, Target::Id)) {
            return Err(bad(text!("api-import-nothing-mapped")));
        }
        let key = match (plan.mode, plan.key.as_deref()) {
            (Mode::Create, _) => None,
            (_, None) => return Err(bad(text!("api-import-key-needed"))),
            (mode, Some(key)) => {
                let found = columns.iter().find(|(_, _, t)| t.name() == key);
                match found {
                    Some((index, _, Target::Id)) if mode == Mode::Update => {
                        Some((*index, Target::Id))
                    }
                    Some((index, _, Target::Field(field)))
                        if !matches!(
                            field.kind,
                            FieldKind::Json | FieldKind::MultiSelect | FieldKind::Tags
                        ) && !field.multiple =>
                    {
                        Some((*index, Target::Field(field.clone())))
                    }
                    _ => {
                        return Err(bad(text!(
                            "api-import-key-not-mapped",
                            field = key.to_owned()
                        )));
                    }
                }
            }
        };
        if key.is_none() && columns.iter().any(|(_, _, t)| matches!(t, Target::Id)) {
            return Err(bad(text!("api-import-id-only-to-update")));
        }
        for (field, rule) in &plan.references {
            let Some(target) = reference_target(&ty, &schema, field) else {
                return Err(bad(text!(
                    "api-import-not-a-reference",
                    field = field.clone()
                )));
            };
            let target = actor.access.view(&target);
            if rule.by != "id" && target.field(&rule.by).is_none() {
                let field = format!("{field}.{}", rule.by);
                return Err(bad(text!("api-import-unknown-field", field = field)));
            }
        }
        let zone: Tz = (plan.time_zone.as_deref())
            .map(crate::auth::people::zone)
            .unwrap_or(Tz::UTC);
        let mut importer = Importer {
            store,
            actor,
            ty,
            schema,
            plan,
            table,
            rules: CellRules {
                zone,
                currency: plan.currency.clone(),
            },
            columns,
            key,
            first_with_key: HashMap::new(),
        };
        importer.first_with_key = importer.keys();
        Ok(importer)
    }

    pub fn total(&self) -> usize {
        self.table.rows.len()
    }

    pub fn entity(&self) -> &EntityType {
        &self.ty
    }

    fn keys(&self) -> HashMap<String, usize> {
        let mut first = HashMap::new();
        for (row, cells) in self.table.rows.iter().enumerate() {
            if let Some(key) = self.key_text(cells) {
                first.entry(key).or_insert(row);
            }
        }
        first
    }

    /// A row's key as compared within the file: trimmed, and ignoring case where the field
    /// does (emails).
    fn key_text(&self, cells: &[String]) -> Option<String> {
        let (column, target) = self.key.as_ref()?;
        let raw = cells
            .get(*column)
            .map(|c| c.trim())
            .filter(|c| !c.is_empty())?;
        Some(match target {
            Target::Field(f) if f.lowercase || f.kind == FieldKind::Email => raw.to_lowercase(),
            Target::Id => raw.to_lowercase(),
            _ => raw.to_owned(),
        })
    }

    fn column_of(&self, field: &str) -> Option<String> {
        (self.columns.iter())
            .find(|(_, _, t)| t.name() == field)
            .map(|(_, header, _)| header.clone())
    }

    fn problem(&self, field: &str, code: &'static str, message: Text) -> Problem {
        Problem {
            column: self.column_of(field),
            field: Some(field.to_owned()).filter(|f| !f.is_empty()),
            code: code.into(),
            message,
        }
    }

    fn field_problem(&self, error: FieldError) -> Problem {
        Problem {
            column: self.column_of(&error.field),
            field: Some(error.field).filter(|f| !f.is_empty()),
            code: error.code,
            message: error.message,
        }
    }

    /// Runs rows `range` as one batch: a dry run, or written with the statements `receipt`
    /// builds from every row's result (in the batch's transaction). Answers every row's
    /// result, in row order.
    pub async fn batch(
        &self,
        range: std::ops::Range<usize>,
        dry_run: bool,
        receipt: &(dyn Fn(&[RowResult]) -> Vec<Statement> + Send + Sync),
    ) -> Result<Vec<RowResult>, RecordError> {
        let mut done: Vec<RowResult> = Vec::new();
        let mut inputs: Vec<(usize, Map<String, Value>)> = Vec::new();
        for row in range {
            match self.read_row(row) {
                Ok(input) => inputs.push((row, input)),
                Err((outcome, problems)) => done.push(refused(row, outcome, problems)),
            }
        }
        self.resolve(&mut inputs, &mut done, dry_run).await?;
        let mut pending = self.steps(inputs, &mut done).await?;
        while !pending.steps.is_empty() {
            let results = std::sync::Mutex::new(Vec::new());
            let outcome_receipt = |written: &[Written<'_>]| {
                let mut all = done.clone();
                let rows = pending.rows.iter().zip(written);
                all.extend(rows.map(|(row, w)| written_result(*row, w)));
                all.sort_by_key(|r| r.row);
                let statements = if dry_run { Vec::new() } else { receipt(&all) };
                if let Ok(mut slot) = results.lock() {
                    *slot = all;
                }
                statements
            };
            let options = WriteOptions {
                single: false,
                dry_run,
                receipt: Some(&outcome_receipt),
            };
            let steps = pending.steps.clone();
            match self.store.write_with(self.actor, steps, options).await {
                Ok(_) => return Ok(results.into_inner().unwrap_or_default()),
                Err(RecordError::Invalid(errors)) if errors.iter().all(|e| e.index.is_some()) => {
                    let mut by_index: BTreeMap<usize, Vec<Problem>> = BTreeMap::new();
                    for mut error in errors {
                        let index = error.index.take().unwrap_or_default();
                        let problem = self.field_problem(error);
                        by_index.entry(index).or_default().push(problem);
                    }
                    let mut kept = Pending {
                        rows: Vec::new(),
                        steps: Vec::new(),
                    };
                    let items = pending.rows.into_iter().zip(pending.steps);
                    for (index, (row, step)) in items.enumerate() {
                        match by_index.remove(&index) {
                            Some(problems) => done.push(refused(row, Outcome::Failed, problems)),
                            None => {
                                kept.rows.push(row);
                                kept.steps.push(step);
                            }
                        }
                    }
                    pending = kept;
                }
                Err(other) => return Err(other),
            }
        }
        done.sort_by_key(|r| r.row);
        if !dry_run {
            self.store.run_statements(receipt(&done)).await?;
        }
        Ok(done)
    }

    /// A row's cells as a record body (references and users still as typed), or why not.
    fn read_row(&self, row: usize) -> Result<Map<String, Value>, Refused> {
        let cells = &self.table.rows[row];
        let width = self.table.headers.len();
        if cells.len() > width && cells[width..].iter().any(|c| !c.trim().is_empty()) {
            let message = text!(
                "api-import-extra-cells",
                cells = cells.len(),
                columns = width
            );
            return Err((
                Outcome::Failed,
                vec![self.problem("", "extra_cells", message)],
            ));
        }
        if let Some((_, target)) = &self.key {
            let key = target.name();
            match self.key_text(cells) {
                None => {
                    let problem = self.problem(key, "key_missing", text!("api-import-key-empty"));
                    return Err((Outcome::Failed, vec![problem]));
                }
                Some(value) => {
                    if let Some(first) = self.first_with_key.get(&value).filter(|f| **f != row) {
                        let message = text!("api-import-same-key", row = row_number(*first));
                        let problem = self.problem(key, "duplicate_in_file", message);
                        return Err((Outcome::Skipped, vec![problem]));
                    }
                }
            }
        }
        let mut input = Map::new();
        let mut problems = Vec::new();
        for (index, header, target) in &self.columns {
            let raw = cells.get(*index).map(|c| c.trim()).unwrap_or("");
            let name = target.name();
            if raw.is_empty() {
                let clears = self.plan.empty_cells == EmptyCells::Clear
                    && self.plan.mode != Mode::Create
                    && matches!(target, Target::Field(f) if !f.required)
                    && self.key.as_ref().is_none_or(|(_, k)| k.name() != name);
                if clears {
                    input.insert(name.to_owned(), Value::Null);
                }
                continue;
            }
            let value = match target {
                Target::Owner | Target::Id => Ok(Value::String(raw.to_owned())),
                Target::Field(field) => cells::value(field, raw, &self.rules),
            };
            match value {
                Ok(value) => {
                    input.insert(name.to_owned(), value);
                }
                Err(message) => problems.push(Problem {
                    column: Some(header.clone()),
                    field: Some(name.to_owned()),
                    code: "invalid_value".into(),
                    message,
                }),
            }
        }
        if problems.is_empty() {
            Ok(input)
        } else {
            Err((Outcome::Failed, problems))
        }
    }

    /// Turns the names in reference, user and owner cells into ids; a row naming what does
    /// not exist (or is not theirs to see) fails. Where a reference's rule creates missing
    /// records, they are created once every other check of the rows naming them passed (in
    /// a dry run they are not, and the rows are checked without them).
    async fn resolve(
        &self,
        inputs: &mut Vec<(usize, Map<String, Value>)>,
        done: &mut Vec<RowResult>,
        dry_run: bool,
    ) -> Result<(), RecordError> {
        let mut failed: HashMap<usize, Vec<Problem>> = HashMap::new();
        let mut to_create = Vec::new();
        for (_, _, target) in &self.columns {
            let (name, users) = match target {
                Target::Owner => ("owner", true),
                Target::Field(f) if f.kind == FieldKind::User => (f.name.as_str(), true),
                Target::Field(f) if f.kind == FieldKind::Reference => (f.name.as_str(), false),
                _ => continue,
            };
            let names = names_in(inputs, name);
            if names.is_empty() {
                continue;
            }
            let found = if users {
                self.users(&names).await?
            } else {
                self.records(name, &names).await?
            };
            if found.values().any(|f| matches!(f, Ok(None))) {
                to_create.push(name);
            }
            self.substitute(inputs, name, &found, &mut failed);
        }
        drop_failed(inputs, done, &mut failed);
        for name in to_create {
            // The names still text are the missing ones.
            let names = names_in(inputs, name);
            if names.is_empty() {
                continue;
            }
            if dry_run {
                for (_, input) in inputs.iter_mut() {
                    match input.get_mut(name) {
                        Some(Value::Array(items)) => {
                            items.retain(|i| i.as_str().is_some_and(|t| Uuid::parse_str(t).is_ok()))
                        }
                        Some(Value::String(text)) if Uuid::parse_str(text).is_err() => {
                            input.remove(name);
                        }
                        _ => {}
                    }
                }
                continue;
            }
            let found = self.create_missing(name, &names).await?;
            self.substitute(inputs, name, &found, &mut failed);
        }
        drop_failed(inputs, done, &mut failed);
        Ok(())
    }

    /// Puts the ids `found` for the names in `field`'s cells; a name found to be a problem
    /// fails its row.
    fn substitute(
        &self,
        inputs: &mut [(usize, Map<String, Value>)],
        field: &str,
        found: &Resolved,
        failed: &mut HashMap<usize, Vec<Problem>>,
    ) {
        for (row, input) in inputs.iter_mut() {
            let Some(value) = input.get_mut(field) else {
                continue;
            };
            let items: Vec<&mut Value> = match value {
                Value::Array(items) => items.iter_mut().collect(),
                item => vec![item],
            };
            for item in items {
                let Some(text) = item.as_str().filter(|t| Uuid::parse_str(t).is_err()) else {
                    continue;
                };
                match found.get(text) {
                    Some(Ok(Some(id))) => *item = Value::String(id.to_string()),
                    Some(Err(message)) => {
                        let problem = self.problem(field, "not_found", message.clone());
                        failed.entry(*row).or_default().push(problem);
                    }
                    Some(Ok(None)) | None => {}
                }
            }
        }
    }

    /// Users by email: `Ok(Some(id))`, or why not.
    async fn users(&self, names: &[String]) -> Result<Resolved, RecordError> {
        let mut found = HashMap::new();
        for name in names {
            let user = crate::auth::find_user(&self.store.db().read, self.actor.workspace, name)
                .await
                .map_err(|e| RecordError::BadRequest(Text::verbatim(e.to_string())))?;
            let answer = match user {
                Some(user) => Ok(Some(user.0)),
                None => Err(text!("api-import-no-user", email = name.clone())),
            };
            found.insert(name.clone(), answer);
        }
        Ok(found)
    }

    /// Records of `field`'s target type by the reference rule's field: `Ok(None)` for a
    /// name none has when the rule creates missing records.
    async fn records(&self, field: &str, names: &[String]) -> Result<Resolved, RecordError> {
        let mut found = HashMap::new();
        let Some((target, by, rule)) = self.reference_rule(field) else {
            return Ok(found);
        };
        let Some(by) = by else {
            for name in names {
                let message = text!("api-import-not-an-id", value = name.clone());
                found.insert(name.clone(), Err(message));
            }
            return Ok(found);
        };
        let lookup: Vec<Value> = names
            .iter()
            .map(|n| Value::String(by_value(&by, n)))
            .collect();
        let records = self
            .store
            .find_by(self.actor, &target, &by, &lookup)
            .await?;
        for name in names {
            let key = Value::String(by_value(&by, name)).to_string();
            let entity = target.label.clone();
            let answer = match records.get(&key).map(Vec::as_slice).unwrap_or_default() {
                [record] => Ok(Some(record.id.0)),
                [] if rule.is_some_and(|r| r.create_missing) => Ok(None),
                [] => Err(text!(
                    "api-import-no-record",
                    entity = entity,
                    value = name.clone()
                )),
                _ => Err(text!(
                    "api-import-ambiguous-record",
                    entity = entity,
                    value = name.clone()
                )),
            };
            found.insert(name.clone(), answer);
        }
        Ok(found)
    }

    /// The target type of a reference field as the actor sees it, the field its cells name
    /// records by (`None`: ids only), and the plan's rule.
    fn reference_rule(
        &self,
        field: &str,
    ) -> Option<(Arc<EntityType>, Option<FieldSpec>, Option<&RefRule>)> {
        let target = self
            .actor
            .access
            .view(&reference_target(&self.ty, &self.schema, field)?);
        let rule = self.plan.references.get(field);
        let by = match rule.map(|r| r.by.as_str()) {
            Some("id") => None,
            Some(by) => target.field(by).cloned(),
            None => (target.title_fields.first())
                .and_then(|f| target.field(f))
                .cloned(),
        };
        Some((target, by, rule))
    }

    /// Creates a record for each missing name (by upsert on the rule's field, so that a
    /// resumed batch finds the ones it made before).
    async fn create_missing(&self, field: &str, names: &[String]) -> Result<Resolved, RecordError> {
        let mut found = HashMap::new();
        let Some((target, Some(by), _)) = self.reference_rule(field) else {
            return Ok(found);
        };
        for chunk in names.chunks(crate::records::MAX_BATCH) {
            let inputs = (chunk.iter())
                .map(|n| Map::from_iter([(by.name.clone(), Value::String(n.clone()))]))
                .collect();
            match self
                .store
                .upsert_many(self.actor, &target, &by.name, inputs)
                .await
            {
                Ok(created) => {
                    for (name, record) in chunk.iter().zip(created) {
                        found.insert(name.clone(), Ok(Some(record.id.0)));
                    }
                }
                Err(error) => {
                    let entity = target.label.clone();
                    let message = text!(
                        "api-import-cannot-create",
                        entity = entity,
                        detail = error.to_string()
                    );
                    for name in chunk {
                        found.insert(name.clone(), Err(message.clone()));
                    }
                }
            }
        }
        Ok(found)
    }

    /// Each row's step; an update finds its record by the key first (a row whose key finds
    /// nothing is skipped).
    async fn steps(
        &self,
        inputs: Vec<(usize, Map<String, Value>)>,
        done: &mut Vec<RowResult>,
    ) -> Result<Pending<'_>, RecordError> {
        let ty: &EntityType = &self.ty;
        let mut pending = Pending {
            rows: Vec::new(),
            steps: Vec::new(),
        };
        let existing = match (&self.plan.mode, &self.key) {
            (Mode::Update, Some((_, Target::Field(key)))) => {
                let values: Vec<Value> = (inputs.iter())
                    .filter_map(|(_, input)| input.get(&key.name).cloned())
                    .map(|v| match v {
                        Value::String(s) => Value::String(by_value(key, &s)),
                        other => other,
                    })
                    .collect();
                self.store.find_by(self.actor, ty, key, &values).await?
            }
            _ => HashMap::new(),
        };
        for (row, mut input) in inputs {
            let op = match (&self.plan.mode, &self.key) {
                (Mode::Create, _) => Op::Create(input),
                (Mode::Upsert, Some((_, key))) => Op::Upsert {
                    key: key.name().to_owned(),
                    input,
                },
                (Mode::Update, Some((_, Target::Id))) => {
                    let id = input
                        .remove("id")
                        .and_then(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()));
                    let Some(id) = id else {
                        let problem =
                            self.problem("id", "invalid_value", text!("api-import-not-an-id-cell"));
                        done.push(refused(row, Outcome::Failed, vec![problem]));
                        continue;
                    };
                    Op::Update {
                        id: RecordId(id),
                        patch: input,
                        if_match: None,
                    }
                }
                (Mode::Update, Some((_, Target::Field(key)))) => {
                    let value = input.remove(&key.name).map(|v| match v {
                        Value::String(s) => Value::String(by_value(key, &s)),
                        other => other,
                    });
                    let matches = value.and_then(|v| existing.get(&v.to_string()));
                    match matches.map(Vec::as_slice).unwrap_or_default() {
                        [record] => Op::Update {
                            id: record.id,
                            patch: input,
                            if_match: None,
                        },
                        [] => {
                            let problem = self.problem(
                                &key.name,
                                "no_record",
                                text!("api-import-key-finds-nothing"),
                            );
                            done.push(refused(row, Outcome::Skipped, vec![problem]));
                            continue;
                        }
                        _ => {
                            let problem = self.problem(
                                &key.name,
                                "ambiguous_key",
                                text!("api-records-ambiguous-key"),
                            );
                            done.push(refused(row, Outcome::Failed, vec![problem]));
                            continue;
                        }
                    }
                }
                _ => continue,
            };
            pending.rows.push(row);
            pending.steps.push(Step { ty, op });
        }
        Ok(pending)
    }
}

type Resolved = HashMap<String, Result<Option<Uuid>, Text>>;

/// The distinct non-id texts in `field` across the rows.
fn names_in(inputs: &[(usize, Map<String, Value>)], field: &str) -> Vec<String> {
    let mut names: Vec<String> = (inputs.iter())
        .filter_map(|(_, input)| input.get(field))
        .flat_map(|value| match value {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        })
        .filter_map(|v| v.as_str().map(str::to_owned))
        .filter(|t| Uuid::parse_str(t).is_err())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A lookup value as the field stores it.
fn by_value(field: &FieldSpec, text: &str) -> String {
    if field.lowercase || field.kind == FieldKind::Email {
        text.to_lowercase()
    } else {
        text.to_owned()
    }
}

fn reference_target(ty: &EntityType, schema: &Schema, field: &str) -> Option<Arc<EntityType>> {
    let field = ty.field(field).filter(|f| f.kind == FieldKind::Reference)?;
    schema.by_name(field.target.as_deref()?).cloned()
}

/// Moves the rows with problems out of `inputs`, as failed.
fn drop_failed(
    inputs: &mut Vec<(usize, Map<String, Value>)>,
    done: &mut Vec<RowResult>,
    failed: &mut HashMap<usize, Vec<Problem>>,
) {
    if failed.is_empty() {
        return;
    }
    inputs.retain(|(row, _)| match failed.remove(row) {
        Some(problems) => {
            done.push(refused(*row, Outcome::Failed, problems));
            false
        }
        None => true,
    });
}

fn refused(row: usize, outcome: Outcome, problems: Vec<Problem>) -> RowResult {
    RowResult {
        row,
        outcome,
        record: None,
        changes: None,
        problems,
    }
}

fn written_result(row: usize, written: &Written<'_>) -> RowResult {
    let (outcome, changes) = match written.change {
        None => (Outcome::Unchanged, None),
        Some(change) if change.action == "created" => (Outcome::Created, None),
        Some(change) => (
            Outcome::Updated,
            Some(Value::Object(change.changes.clone())),
        ),
    };
    RowResult {
        row,
        outcome,
        record: Some(written.record.id),
        changes,
        problems: Vec::new(),
    }
}

/// The statements that record a committed batch: its rows' results, and the import's
/// progress and counts after it.
pub fn receipt_statements(
    backend: DbBackend,
    import: Uuid,
    language: Language,
    results: &[RowResult],
    done_rows: usize,
    counts: &Counts,
) -> Vec<Statement> {
    let mut statements = Vec::new();
    let rows: Vec<import_row::ActiveModel> = (results.iter())
        .map(|r| {
            let problems = (!r.problems.is_empty()).then(|| problems_json(&r.problems, language));
            import_row::ActiveModel {
                import_id: sea_orm::ActiveValue::Set(import),
                row: sea_orm::ActiveValue::Set(i64::try_from(r.row).unwrap_or(i64::MAX)),
                outcome: sea_orm::ActiveValue::Set(r.outcome.name().to_owned()),
                record_id: sea_orm::ActiveValue::Set(r.record.map(|id| id.0)),
                changes: sea_orm::ActiveValue::Set(r.changes.clone()),
                problems: sea_orm::ActiveValue::Set(problems),
            }
        })
        .collect();
    for chunk in rows.chunks(200) {
        statements.push(import_row::Entity::insert_many(chunk.to_vec()).build(backend));
    }
    statements.push(
        import::Entity::update_many()
            .col_expr(
                import::Column::DoneRows,
                Expr::value(i64::try_from(done_rows).unwrap_or(i64::MAX)),
            )
            .col_expr(import::Column::Counts, Expr::value(json!(counts)))
            .filter(import::Column::Id.eq(import))
            .build(backend),
    );
    statements
}

/// Problems as stored: the message written in `language`.
pub fn problems_json(problems: &[Problem], language: Language) -> Value {
    Value::Array(
        problems
            .iter()
            .map(|p| {
                json!({
                    "column": p.column,
                    "field": p.field,
                    "code": p.code,
                    "message": p.message.render(language),
                })
            })
            .collect(),
    )
}
