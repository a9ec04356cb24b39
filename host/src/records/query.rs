//! List queries: the filter language of DESIGN §3 (`field[op]:value`, `and(…)`, `or(…)`,
//! `not(…)`), multi-field sorts, and keyset cursors — all compiled to SQL for SQLite or
//! PostgreSQL against the one `records` table.
//!
//! Field values live in the JSON `data` column; [`field_expr`] is the single place that says
//! how a field is read in SQL, and the expression indexes of indexed fields are built from the
//! same function, so filters and sorts on them use the index.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use sea_orm::{DbBackend, Value as SqlValue};
use serde_json::{Value, json};
use uuid::Uuid;

use super::RecordError;
use super::schema::{EntityType, FieldKind, FieldSpec};
use super::value::{format_datetime, normalize_email};
use crate::i18n::{Text, text};

/// Longest accepted `filter=` expression, in bytes.
pub const MAX_FILTER_LEN: usize = 8 * 1024;
const MAX_DEPTH: usize = 16;
const MAX_CONDITIONS: usize = 64;
const MAX_SORT_KEYS: usize = 8;

// ---------------------------------------------------------------------------------------------
// The filter language

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Cond {
        field: String,
        op: Op,
        values: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    In,
    Contains,
    StartsWith,
    IsEmpty,
}

impl Op {
    fn parse(name: &str) -> Option<Op> {
        Some(match name {
            "eq" => Op::Eq,
            "neq" | "ne" => Op::Neq,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "in" => Op::In,
            "contains" => Op::Contains,
            "starts_with" => Op::StartsWith,
            "is_empty" => Op::IsEmpty,
            _ => return None,
        })
    }

    fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Neq => "<>",
            Op::Lt => "<",
            Op::Lte => "<=",
            Op::Gt => ">",
            Op::Gte => ">=",
            _ => "",
        }
    }
}

/// Parses a filter expression. Errors say what was expected and where.
pub fn parse_filter(input: &str) -> Result<Filter, RecordError> {
    if input.len() > MAX_FILTER_LEN {
        return Err(RecordError::Filter(text!(
            "api-records-filter-too-long",
            max = MAX_FILTER_LEN
        )));
    }
    let mut parser = Parser {
        src: input,
        pos: 0,
        conditions: 0,
    };
    let filter = parser.expr(0)?;
    parser.skip_ws();
    if parser.pos < input.len() {
        return Err(parser.error(text!("api-records-filter-expected-end")));
    }
    Ok(filter)
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    conditions: usize,
}

impl Parser<'_> {
    fn error(&self, expected: Text) -> RecordError {
        let found: String = self.src[self.pos..].chars().take(20).collect();
        let found = if found.is_empty() {
            text!("api-records-filter-found-end")
        } else {
            text!("api-records-filter-found", text = found)
        };
        RecordError::Filter(text!(
            "api-records-filter-at",
            position = self.pos,
            expected = expected,
            found = found
        ))
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> &str {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.pos += 1;
        }
        &self.src[start..self.pos]
    }

    fn expr(&mut self, depth: usize) -> Result<Filter, RecordError> {
        if depth > MAX_DEPTH {
            return Err(RecordError::Filter(text!(
                "api-records-filter-depth",
                max = MAX_DEPTH
            )));
        }
        self.skip_ws();
        let start = self.pos;
        let name = self.ident().to_owned();
        if name.is_empty() {
            return Err(self.error(text!("api-records-filter-expected-name")));
        }
        if self.eat('(') {
            let mut args = vec![self.expr(depth + 1)?];
            loop {
                self.skip_ws();
                if self.eat(')') {
                    break;
                }
                if !self.eat(',') {
                    return Err(self.error(text!("api-records-filter-expected-comma")));
                }
                args.push(self.expr(depth + 1)?);
            }
            return match name.as_str() {
                "and" => Ok(Filter::And(args)),
                "or" => Ok(Filter::Or(args)),
                "not" if args.len() == 1 => Ok(Filter::Not(Box::new(args.remove(0)))),
                "not" => Err(RecordError::Filter(text!("api-records-filter-not-arity"))),
                other => {
                    self.pos = start;
                    Err(self.error(text!("api-records-filter-not-a-group", name = other)))
                }
            };
        }
        if !self.eat('[') {
            return Err(self.error(text!("api-records-filter-expected-operator")));
        }
        let op_name = self.ident().to_owned();
        let op = Op::parse(&op_name).ok_or_else(|| {
            RecordError::Filter(text!(
                "api-records-filter-unknown-operator",
                operator = &op_name
            ))
        })?;
        if !self.eat(']') {
            return Err(self.error(text!("api-records-filter-expected-bracket")));
        }
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            return Err(RecordError::Filter(text!(
                "api-records-filter-too-many",
                max = MAX_CONDITIONS
            )));
        }
        let mut values = Vec::new();
        if self.eat(':') {
            values.push(self.value()?);
            while op == Op::In && self.eat('|') {
                values.push(self.value()?);
            }
        } else if op != Op::IsEmpty {
            return Err(self.error(text!("api-records-filter-expected-value")));
        }
        Ok(Filter::Cond {
            field: name,
            op,
            values,
        })
    }

    /// A value: `"quoted \" text"` or bare text up to `,` `)` or `|`.
    fn value(&mut self) -> Result<String, RecordError> {
        if self.eat('"') {
            let mut out = String::new();
            loop {
                match self.peek() {
                    None => return Err(self.error(text!("api-records-filter-expected-quote"))),
                    Some('"') => {
                        self.pos += 1;
                        return Ok(out);
                    }
                    Some('\\') => {
                        self.pos += 1;
                        let escaped = self.peek().ok_or_else(|| {
                            self.error(text!("api-records-filter-expected-escaped"))
                        })?;
                        self.pos += escaped.len_utf8();
                        out.push(escaped);
                    }
                    Some(c) => {
                        self.pos += c.len_utf8();
                        out.push(c);
                    }
                }
            }
        }
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c == ',' || c == ')' || c == '|' {
                break;
            }
            self.pos += c.len_utf8();
        }
        Ok(self.src[start..self.pos].trim().to_owned())
    }
}

// ---------------------------------------------------------------------------------------------
// SQL

/// A SQL fragment under construction with its bound values, for one backend.
#[derive(Debug)]
pub struct Sql {
    pub backend: DbBackend,
    pub text: String,
    pub values: Vec<SqlValue>,
}

impl Sql {
    pub fn new(backend: DbBackend) -> Self {
        Self {
            backend,
            text: String::with_capacity(256),
            values: Vec::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    pub fn bind(&mut self, value: impl Into<SqlValue>) -> &mut Self {
        self.values.push(value.into());
        match self.backend {
            DbBackend::Postgres => {
                let n = self.values.len();
                self.text.push_str(&format!("${n}"));
            }
            _ => self.text.push('?'),
        }
        self
    }

    pub fn into_statement(self) -> sea_orm::Statement {
        sea_orm::Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

/// How a value compares in SQL: the storage class behind a field's expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Text,
    Numeric,
    Boolean,
    /// A system timestamp column (integer microseconds).
    Micros,
    /// A system integer column.
    Int,
    /// A system UUID column.
    Id,
}

impl Class {
    fn of(field: &FieldSpec) -> Class {
        match field.kind {
            FieldKind::Integer | FieldKind::Number | FieldKind::Money => Class::Numeric,
            FieldKind::Boolean => Class::Boolean,
            _ => Class::Text,
        }
    }

    fn tag(self) -> &'static str {
        match self {
            Class::Numeric => "n",
            Class::Boolean => "b",
            _ => "t",
        }
    }
}

/// The SQL expression reading a data field. Names are checked identifiers, so interpolating
/// them is safe. On PostgreSQL, casts are guarded so a same-named field of another type with a
/// different kind can never make a query fail.
pub fn field_expr(backend: DbBackend, field: &FieldSpec) -> String {
    let name = &field.name;
    let money = field.kind == FieldKind::Money;
    match (backend, Class::of(field)) {
        (DbBackend::Postgres, Class::Numeric) if money => format!(
            "(CASE WHEN (data->'{name}'->>'amount') ~ '^-?[0-9]+(\\.[0-9]+)?$' \
             THEN (data->'{name}'->>'amount')::numeric END)"
        ),
        (DbBackend::Postgres, Class::Numeric) => format!(
            "(CASE WHEN jsonb_typeof(data->'{name}') = 'number' THEN (data->>'{name}')::numeric END)"
        ),
        (DbBackend::Postgres, Class::Boolean) => format!(
            "(CASE WHEN jsonb_typeof(data->'{name}') = 'boolean' THEN (data->>'{name}')::boolean END)"
        ),
        (DbBackend::Postgres, _) => format!("(data->>'{name}')"),
        (_, Class::Numeric) if money => {
            format!("CAST(json_extract(data, '$.{name}.amount') AS REAL)")
        }
        _ => format!("json_extract(data, '$.{name}')"),
    }
}

/// `CREATE INDEX` for an indexed field of a type: partial on the type (so each record
/// updates only its own type's indexes), on (workspace, value expression, id) so that an
/// equality filter is served in id order — the default sort — without a sort step.
pub fn index_statement(backend: DbBackend, entity: &str, field: &FieldSpec) -> String {
    let class = Class::of(field);
    let kind = if field.kind == FieldKind::Money {
        "m"
    } else {
        class.tag()
    };
    // NULLs first, as lists sort them (SQLite's order already; PostgreSQL's default is
    // last), so ascending sorts scan the index forwards and descending ones backwards.
    // (The PostgreSQL form is new, so it has a new name: a database migrated from the old
    // form gains the new index beside the old.)
    let (nulls, hash) = if backend == DbBackend::Postgres {
        (
            " NULLS FIRST",
            fingerprint(&[entity, &field.name, kind, "nulls-first"]),
        )
    } else {
        ("", fingerprint(&[entity, &field.name, kind]))
    };
    format!(
        "CREATE INDEX IF NOT EXISTS rx_{hash:016x} ON records (workspace_id, {expr}{nulls}, id) WHERE {entity_type}",
        expr = field_expr(backend, field),
        entity_type = type_condition(entity),
    )
}

/// `CREATE INDEX` for one of a type's composite `indexes` (checked by the type's definition
/// checks; keys that are not fields are left out): on (workspace, type, each key's
/// expressions, `deleted_at`), partial on the type. The type and `deleted_at` are columns so
/// that SQLite can answer a query on live records of the type from the index alone.
pub fn composite_index_statement(backend: DbBackend, ty: &EntityType, keys: &[String]) -> String {
    let mut columns = vec!["workspace_id".to_owned(), "entity_type".to_owned()];
    for key in keys {
        if key == "owner" {
            columns.push("owner_id".to_owned());
        } else if let Some(field) = ty.field(key) {
            columns.extend(key_exprs(backend, field));
        }
    }
    columns.push("deleted_at".to_owned());
    let columns = columns.join(", ");
    let hash = fingerprint(&[&ty.name, &columns]);
    format!(
        "CREATE INDEX IF NOT EXISTS rc_{hash:016x} ON records ({columns}) WHERE {}",
        type_condition(&ty.name)
    )
}

/// On PostgreSQL, the statistics objects (name, `CREATE STATISTICS`) for each expression of a
/// composite index's keys: the planner ignores what `ANALYZE` gathers on a partial index's
/// expressions, and without statistics it guesses a filter such as `status = 'open'` matches
/// a handful of records — and sorts 100,000 of them where hashing would do. (PostgreSQL 14
/// or later.)
pub fn key_statistics(
    backend: DbBackend,
    ty: &EntityType,
    keys: &[String],
) -> Vec<(String, String)> {
    if backend != DbBackend::Postgres {
        return Vec::new();
    }
    keys.iter()
        .filter_map(|key| ty.field(key))
        .flat_map(|field| key_exprs(backend, field))
        .map(|expr| {
            let name = format!("rs_{:016x}", fingerprint(&[&expr]));
            let sql = format!("CREATE STATISTICS IF NOT EXISTS {name} ON ({expr}) FROM records");
            (name, sql)
        })
        .collect()
}

/// The expressions a field contributes to a composite index (and its statistics): its value,
/// and before a money field's amount its currency.
fn key_exprs(backend: DbBackend, field: &FieldSpec) -> Vec<String> {
    let mut exprs = Vec::with_capacity(2);
    if field.kind == FieldKind::Money {
        exprs.push(member_expr(backend, &field.name, "currency"));
    }
    exprs.push(field_expr(backend, field));
    exprs
}

/// `data.<field>.<member>` as text (a money field's `currency`).
pub fn member_expr(backend: DbBackend, field: &str, member: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("(data->'{field}'->>'{member}')"),
        _ => format!("json_extract(data, '$.{field}.{member}')"),
    }
}

/// `entity_type = '<name>'`, written as a literal so the planners can match the partial
/// indexes of the type. Type names are checked identifiers (`[a-z][a-z0-9_]*`); anything
/// else is refused rather than quoted.
pub fn type_condition(entity: &str) -> String {
    if entity
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    {
        format!("entity_type = '{entity}'")
    } else {
        "1 = 0".to_owned()
    }
}

/// A field a query can name: a system column or a data field.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    pub key: String,
    pub expr: String,
    pub class: Class,
    pub spec: Option<&'a FieldSpec>,
}

pub fn resolve<'a>(backend: DbBackend, ty: &'a EntityType, key: &str) -> Option<Target<'a>> {
    let system = |expr: &str, class| Target {
        key: key.to_owned(),
        expr: expr.to_owned(),
        class,
        spec: None,
    };
    Some(match key {
        "id" => system("id", Class::Id),
        "owner" => system("owner_id", Class::Id),
        "version" => system("version", Class::Int),
        "created_at" => system("created_at", Class::Micros),
        "updated_at" => system("updated_at", Class::Micros),
        _ => {
            let spec = ty.field(key)?;
            Target {
                key: key.to_owned(),
                expr: field_expr(backend, spec),
                class: Class::of(spec),
                spec: Some(spec),
            }
        }
    })
}

fn unknown_field(ty: &EntityType, key: &str) -> Text {
    text!(
        "api-records-unknown-field",
        plural = &ty.plural,
        field = key.chars().take(64).collect::<String>()
    )
}

/// Appends the SQL of `filter` to `sql`.
pub fn compile(
    filter: &Filter,
    ty: &EntityType,
    now: DateTime<Utc>,
    sql: &mut Sql,
) -> Result<(), RecordError> {
    match filter {
        Filter::And(parts) | Filter::Or(parts) => {
            let joiner = if matches!(filter, Filter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            sql.push("(");
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    sql.push(joiner);
                }
                compile(part, ty, now, sql)?;
            }
            sql.push(")");
        }
        Filter::Not(inner) => {
            // NOT of a condition on a missing value is still true: `not(a[eq]:1)` matches
            // records without `a`.
            sql.push("(NOT COALESCE(");
            compile(inner, ty, now, sql)?;
            sql.push(", FALSE))");
        }
        Filter::Cond { field, op, values } => {
            let target = resolve(sql.backend, ty, field)
                .ok_or_else(|| RecordError::Filter(unknown_field(ty, field)))?;
            condition(&target, *op, values, now, sql)?;
        }
    }
    Ok(())
}

fn op_error(target: &Target, op: Op) -> RecordError {
    let operator = format!("{op:?}").to_lowercase();
    let field = target.key.to_lowercase();
    RecordError::Filter(match target.spec {
        None => text!(
            "api-records-filter-operator-system",
            operator = operator,
            field = field
        ),
        Some(spec) => text!(
            "api-records-filter-operator",
            operator = operator,
            field = field,
            kind = spec.kind.as_str()
        ),
    })
}

fn condition(
    target: &Target,
    op: Op,
    values: &[String],
    now: DateTime<Utc>,
    sql: &mut Sql,
) -> Result<(), RecordError> {
    let is_list = target.spec.is_some_and(FieldSpec::is_list);
    if op == Op::IsEmpty {
        let empty = match values.first().map(String::as_str) {
            None | Some("true") => true,
            Some("false") => false,
            Some(other) => {
                return Err(RecordError::Filter(text!(
                    "api-records-filter-is-empty",
                    value = other
                )));
            }
        };
        let expr = match (sql.backend, target.spec) {
            (DbBackend::Postgres, Some(spec)) => format!("(data->'{}')", spec.name),
            _ => target.expr.clone(),
        };
        sql.push(&format!(
            "({expr} {})",
            if empty { "IS NULL" } else { "IS NOT NULL" }
        ));
        return Ok(());
    }
    if is_list {
        return list_condition(target, op, values, sql);
    }
    if target.spec.is_some_and(|s| s.kind == FieldKind::Json) {
        return Err(op_error(target, op));
    }
    match op {
        Op::Eq | Op::Neq | Op::Lt | Op::Lte | Op::Gt | Op::Gte => {
            let [value] = values else {
                return Err(op_error(target, op));
            };
            if op == Op::Neq {
                sql.push(&format!("({} IS NULL OR {} <> ", target.expr, target.expr));
            } else {
                sql.push(&format!("({} {} ", target.expr, op.sql()));
            }
            bind_value(target, value, now, sql)?;
            sql.push(")");
        }
        Op::In => {
            sql.push(&format!("({} IN (", target.expr));
            for (i, value) in values.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                bind_value(target, value, now, sql)?;
            }
            sql.push("))");
        }
        Op::Contains | Op::StartsWith => {
            let textual = target.spec.is_some_and(|s| {
                matches!(
                    s.kind,
                    FieldKind::Text
                        | FieldKind::LongText
                        | FieldKind::Email
                        | FieldKind::Phone
                        | FieldKind::Url
                )
            });
            if !textual {
                return Err(op_error(target, op));
            }
            let [value] = values else {
                return Err(op_error(target, op));
            };
            let escaped = value
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let pattern = if op == Op::Contains {
                format!("%{escaped}%")
            } else {
                format!("{escaped}%")
            };
            let like = if sql.backend == DbBackend::Postgres {
                "ILIKE"
            } else {
                "LIKE"
            };
            sql.push(&format!("({} {like} ", target.expr));
            sql.bind(pattern);
            sql.push(" ESCAPE '\\')");
        }
        Op::IsEmpty => {}
    }
    Ok(())
}

/// `contains` (has this element) and `in` (has any of these) over list fields.
fn list_condition(
    target: &Target,
    op: Op,
    values: &[String],
    sql: &mut Sql,
) -> Result<(), RecordError> {
    let Some(spec) = target.spec else {
        return Err(op_error(target, op));
    };
    if !matches!(op, Op::Contains | Op::In) {
        return Err(op_error(target, op));
    }
    let name = &spec.name;
    if spec.kind == FieldKind::Reference {
        // Lists of references are indexed in `record_refs` (kept by triggers): an index
        // lookup rather than a look into every record's JSON.
        // SQLite's planner would rather walk an index in the sort's order and probe the
        // subquery for every record; `likelihood` tells it the condition is rare, so the
        // looked-up ids drive the query.
        let sqlite = sql.backend != DbBackend::Postgres;
        sql.push(if sqlite { "likelihood(" } else { "" });
        sql.push(&format!(
            "records.id IN (SELECT source_id FROM record_refs WHERE field = '{name}' AND target_id IN ("
        ));
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(parse_id(value)?.to_string());
        }
        sql.push("))");
        sql.push(if sqlite { ", 0.001)" } else { "" });
        return Ok(());
    }
    sql.push("(");
    for (i, value) in values.iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        let value = value.clone();
        match sql.backend {
            DbBackend::Postgres => {
                sql.push(&format!("jsonb_exists(data->'{name}', "));
                sql.bind(value);
                sql.push(")");
            }
            _ => {
                sql.push(&format!(
                    "EXISTS (SELECT 1 FROM json_each(records.data, '$.{name}') WHERE value = "
                ));
                sql.bind(value);
                sql.push(")");
            }
        }
    }
    sql.push(")");
    Ok(())
}

fn parse_id(value: &str) -> Result<Uuid, RecordError> {
    Uuid::parse_str(value)
        .map_err(|_| RecordError::Filter(text!("api-records-not-a-record-id", id = value)))
}

/// Binds one filter value, converted to the field's storage form.
fn bind_value(
    target: &Target,
    raw: &str,
    now: DateTime<Utc>,
    sql: &mut Sql,
) -> Result<(), RecordError> {
    let bad = |what: Text| {
        RecordError::Filter(text!(
            "api-records-filter-expects",
            field = target.key.as_str(),
            what = what,
            value = raw
        ))
    };
    match target.class {
        Class::Id => {
            sql.bind(parse_id(raw)?);
        }
        Class::Int => {
            sql.bind(
                raw.parse::<i64>()
                    .map_err(|_| bad(text!("api-records-filter-want-integer")))?,
            );
        }
        Class::Micros => {
            sql.bind(
                parse_instant(raw, now)
                    .ok_or_else(|| bad(text!("api-records-filter-want-instant")))?
                    .timestamp_micros(),
            );
        }
        Class::Boolean => {
            let b = raw
                .parse::<bool>()
                .map_err(|_| bad(text!("api-records-filter-want-boolean")))?;
            sql.bind(b);
        }
        Class::Numeric => {
            let n = raw
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .ok_or_else(|| bad(text!("api-records-filter-want-number")))?;
            bind_numeric(sql, raw, n);
        }
        Class::Text => {
            let spec = target.spec;
            let text = match spec.map(|s| s.kind) {
                Some(FieldKind::Email) => {
                    normalize_email(raw).unwrap_or_else(|_| raw.to_lowercase())
                }
                Some(FieldKind::Datetime) => format_datetime(
                    parse_instant(raw, now)
                        .ok_or_else(|| bad(text!("api-records-filter-want-datetime")))?,
                ),
                Some(FieldKind::Date) => parse_instant(raw, now)
                    .ok_or_else(|| bad(text!("api-records-filter-want-date")))?
                    .format("%Y-%m-%d")
                    .to_string(),
                Some(FieldKind::Reference | FieldKind::User) => parse_id(raw)?.to_string(),
                _ if spec.is_some_and(|s| s.lowercase) => raw.to_lowercase(),
                _ => raw.to_owned(),
            };
            sql.bind(text);
        }
    }
    Ok(())
}

/// Numbers compare exactly on PostgreSQL (bound as text, cast to numeric) and as REAL on
/// SQLite.
fn bind_numeric(sql: &mut Sql, raw: &str, n: f64) {
    if sql.backend == DbBackend::Postgres {
        sql.push("CAST(");
        sql.bind(raw.to_owned());
        sql.push(" AS numeric)");
    } else {
        sql.bind(n);
    }
}

/// Absolute (`2026-11-22`, RFC 3339) or relative dates: `now`, `today`, `yesterday`,
/// `tomorrow`, `start_of_week`, `start_of_month`, `start_of_year`, each optionally followed by
/// `+N` or `-N` and a unit (`h`, `d`, `w`, `m` for months, `y`). Times are UTC.
pub fn parse_instant(raw: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Some(at.with_timezone(&Utc));
    }
    if let Ok(date) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Some(date.and_hms_opt(0, 0, 0)?.and_utc());
    }
    let split = raw.find(['+', '-']).unwrap_or(raw.len());
    let (anchor, offset) = raw.split_at(split);
    let today = now.date_naive();
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
    let base = match anchor {
        "now" => Some(now),
        "today" => midnight(today),
        "yesterday" => midnight(today.pred_opt()?),
        "tomorrow" => midnight(today.succ_opt()?),
        "start_of_week" => {
            midnight(today - Duration::days(i64::from(today.weekday().num_days_from_monday())))
        }
        "start_of_month" => midnight(today.with_day(1)?),
        "start_of_year" => midnight(NaiveDate::from_ymd_opt(today.year(), 1, 1)?),
        _ => None,
    }?;
    if offset.is_empty() {
        return Some(base);
    }
    let (sign, rest) = offset.split_at(1);
    let unit = rest.chars().last()?;
    let amount: i64 = rest[..rest.len() - unit.len_utf8()]
        .parse()
        .ok()
        .filter(|n| *n <= 100_000)?;
    let amount = if sign == "-" { -amount } else { amount };
    match unit {
        'h' => base.checked_add_signed(Duration::hours(amount)),
        'd' => base.checked_add_signed(Duration::days(amount)),
        'w' => base.checked_add_signed(Duration::weeks(amount)),
        'm' => add_months(base, amount),
        'y' => add_months(base, amount.checked_mul(12)?),
        _ => None,
    }
}

fn add_months(at: DateTime<Utc>, months: i64) -> Option<DateTime<Utc>> {
    let count = chrono::Months::new(u32::try_from(months.unsigned_abs()).ok()?);
    if months >= 0 {
        at.checked_add_months(count)
    } else {
        at.checked_sub_months(count)
    }
}

// ---------------------------------------------------------------------------------------------
// Sorting and cursors

#[derive(Debug, Clone)]
pub struct SortKey<'a> {
    pub target: Target<'a>,
    pub descending: bool,
    /// A reference sorted by the title of the record it points at (`target.expr` reads it):
    /// the cursor's value is that title, which the record itself does not hold.
    pub by_title: bool,
}

/// The title of the record a single reference `field` points at, as SQL over the outer
/// `records` row: the target type's title fields (as `target`, the reader's view of the type,
/// shows them) joined by spaces, of a live record of the same workspace that `owners` allows
/// (`None`: any; an empty list: none, so the title is NULL). A record the reader may not read
/// sorts like an empty reference: its title would leak through the order.
pub fn reference_title(
    backend: DbBackend,
    field: &FieldSpec,
    target: &EntityType,
    owners: Option<&[Uuid]>,
) -> Option<String> {
    let parts: Vec<String> = target
        .title_fields
        .iter()
        .filter_map(|name| target.field(name))
        .map(|f| {
            format!(
                "COALESCE({}, '')",
                field_expr(backend, &FieldSpec::new(&f.name, FieldKind::Text))
            )
        })
        .collect();
    if parts.is_empty() || field.kind != FieldKind::Reference || field.multiple {
        return None;
    }
    let title = format!("NULLIF(TRIM({}), '')", parts.join(" || ' ' || "));
    let name = &field.name;
    // The reference as the id column stores it: a UUID on PostgreSQL (guarded, so a malformed
    // value is no error), 16 bytes on SQLite.
    let id = match backend {
        DbBackend::Postgres => format!(
            "(CASE WHEN (records.data->>'{name}') ~ '^[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}$' \
             THEN (records.data->>'{name}')::uuid END)"
        ),
        _ => format!("unhex(replace(json_extract(records.data, '$.{name}'), '-', ''))"),
    };
    let literal = |owner: &Uuid| match backend {
        DbBackend::Postgres => format!("'{owner}'::uuid"),
        _ => format!("X'{}'", owner.simple()),
    };
    let allowed = match owners {
        None => String::new(),
        Some([]) => " AND 1 = 0".to_owned(),
        Some(owners) => format!(
            " AND t.owner_id IN ({})",
            owners.iter().map(literal).collect::<Vec<_>>().join(", ")
        ),
    };
    Some(format!(
        "(SELECT {title} FROM records AS t WHERE t.id = {id} AND t.workspace_id = records.workspace_id \
         AND {entity} AND t.deleted_at IS NULL{allowed})",
        entity = type_condition(&target.name),
    ))
}

/// Parses `sort=-amount,name`. The record id is always the final tie-breaker. A single
/// reference sorts by the title of the record it points at, as `title` writes it (see
/// [`reference_title`]; `None` sorts by the id).
pub fn parse_sort<'a>(
    backend: DbBackend,
    ty: &'a EntityType,
    input: &str,
    title: &dyn Fn(&FieldSpec) -> Option<String>,
) -> Result<Vec<SortKey<'a>>, RecordError> {
    let mut keys = Vec::new();
    for part in input.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (descending, name) = match part.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, part.strip_prefix('+').unwrap_or(part)),
        };
        let target =
            resolve(backend, ty, name).ok_or_else(|| RecordError::Sort(unknown_field(ty, name)))?;
        if target
            .spec
            .is_some_and(|s| s.is_list() || s.kind == FieldKind::Json)
        {
            return Err(RecordError::Sort(text!(
                "api-records-sort-list",
                field = name
            )));
        }
        if keys.iter().any(|k: &SortKey| k.target.key == target.key) {
            return Err(RecordError::Sort(text!(
                "api-records-sort-twice",
                field = name
            )));
        }
        if target.key == "id" {
            // Already the tie-breaker; sorting by id alone is the default order.
            if descending {
                return Err(RecordError::Sort(text!("api-records-sort-id-descending")));
            }
            continue;
        }
        let mut target = target;
        let by_title = match target.spec.and_then(title) {
            Some(expr) => {
                target.expr = expr;
                target.class = Class::Text;
                true
            }
            None => false,
        };
        keys.push(SortKey {
            target,
            descending,
            by_title,
        });
    }
    if keys.len() > MAX_SORT_KEYS {
        return Err(RecordError::Sort(text!(
            "api-records-sort-too-many",
            max = MAX_SORT_KEYS
        )));
    }
    Ok(keys)
}

/// `ORDER BY` for the keys, with NULLs lowest on both databases, then the id (ascending,
/// or descending after a descending last key).
pub fn order_by(backend: DbBackend, keys: &[SortKey]) -> String {
    let mut parts: Vec<String> = keys
        .iter()
        .map(|k| {
            let (dir, nulls) = if k.descending {
                ("DESC", "NULLS LAST")
            } else {
                ("ASC", "NULLS FIRST")
            };
            if backend == DbBackend::Postgres {
                format!("{} {dir} {nulls}", k.target.expr)
            } else {
                format!("{} {dir}", k.target.expr)
            }
        })
        .collect();
    // The id breaks ties in the direction of the last key, so a one-key sort either way is
    // a scan of the field's index (forwards or backwards).
    parts.push(
        if id_descending(keys) {
            "id DESC"
        } else {
            "id ASC"
        }
        .to_owned(),
    );
    parts.join(", ")
}

/// Whether the id tie-breaker runs descending: when the last sort key does.
fn id_descending(keys: &[SortKey]) -> bool {
    keys.last().is_some_and(|k| k.descending)
}

/// Where a page ended: the sort values and id of its last record, and a fingerprint of the
/// query the cursor belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub values: Vec<Value>,
    pub id: Uuid,
    pub fingerprint: u64,
}

impl Cursor {
    pub fn encode(&self) -> String {
        let body =
            json!({ "v": self.values, "i": self.id, "f": format!("{:x}", self.fingerprint) });
        URL_SAFE_NO_PAD.encode(body.to_string())
    }

    pub fn decode(raw: &str, fingerprint: u64, keys: usize) -> Result<Cursor, RecordError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(raw)
            .map_err(|_| RecordError::Cursor)?;
        let body: Value = serde_json::from_slice(&bytes).map_err(|_| RecordError::Cursor)?;
        let values = body
            .get("v")
            .and_then(Value::as_array)
            .cloned()
            .ok_or(RecordError::Cursor)?;
        let id = body
            .get("i")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or(RecordError::Cursor)?;
        let found = body
            .get("f")
            .and_then(Value::as_str)
            .and_then(|s| u64::from_str_radix(s, 16).ok());
        if found != Some(fingerprint) || values.len() != keys {
            return Err(RecordError::Cursor);
        }
        Ok(Cursor {
            values,
            id,
            fingerprint,
        })
    }
}

/// FNV-1a over the parts of a query that a cursor must not outlive.
pub fn fingerprint(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0xff]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// The sort value of a record for a key, as the cursor stores it.
pub fn sort_value(key: &SortKey, record: &super::Record) -> Value {
    match key.target.key.as_str() {
        "owner" => record
            .owner
            .map_or(Value::Null, |o| Value::String(o.to_string())),
        "version" => Value::from(record.version),
        "created_at" => Value::from(record.created_at.timestamp_micros()),
        "updated_at" => Value::from(record.updated_at.timestamp_micros()),
        name => {
            let value = record.data.get(name).cloned().unwrap_or(Value::Null);
            match (key.target.spec.map(|s| s.kind), value) {
                (Some(FieldKind::Money), Value::Object(money)) => {
                    money.get("amount").cloned().unwrap_or(Value::Null)
                }
                (_, value) => value,
            }
        }
    }
}

/// Appends "the row comes after the cursor" for the keys and the id tie-breaker.
pub fn after_cursor(keys: &[SortKey], cursor: &Cursor, sql: &mut Sql) -> Result<(), RecordError> {
    sql.push("(");
    let mut first = true;
    for i in 0..=keys.len() {
        // Branch i: keys before i are equal, key i is strictly after (or, for i = len, the
        // id is after in the tie-breaker's direction).
        let mut branch = Sql::new(sql.backend);
        std::mem::swap(&mut branch.values, &mut sql.values);
        let mut possible = true;
        branch.push("(");
        for (key, value) in keys.iter().zip(&cursor.values).take(i) {
            if value.is_null() {
                branch.push(&format!("{} IS NULL AND ", key.target.expr));
            } else {
                branch.push(&format!("{} = ", key.target.expr));
                bind_cursor_value(key, value, &mut branch)?;
                branch.push(" AND ");
            }
        }
        match keys.get(i) {
            Some(key) => {
                let value = &cursor.values[i];
                match (key.descending, value.is_null()) {
                    (false, true) => {
                        branch.push(&format!("{} IS NOT NULL", key.target.expr));
                    }
                    (false, false) => {
                        branch.push(&format!("{} > ", key.target.expr));
                        bind_cursor_value(key, value, &mut branch)?;
                    }
                    (true, true) => possible = false,
                    (true, false) => {
                        branch.push(&format!("({} < ", key.target.expr));
                        bind_cursor_value(key, value, &mut branch)?;
                        branch.push(&format!(" OR {} IS NULL)", key.target.expr));
                    }
                }
            }
            None => {
                branch.push(if id_descending(keys) {
                    "id < "
                } else {
                    "id > "
                });
                branch.bind(cursor.id);
            }
        }
        branch.push(")");
        std::mem::swap(&mut branch.values, &mut sql.values);
        if possible {
            if !first {
                sql.push(" OR ");
            }
            first = false;
            sql.push(&branch.text);
        }
    }
    sql.push(")");
    Ok(())
}

fn bind_cursor_value(key: &SortKey, value: &Value, sql: &mut Sql) -> Result<(), RecordError> {
    match (key.target.class, value) {
        (Class::Micros | Class::Int, Value::Number(n)) => {
            sql.bind(n.as_i64().ok_or(RecordError::Cursor)?);
        }
        (Class::Id, Value::String(s)) => {
            sql.bind(Uuid::parse_str(s).map_err(|_| RecordError::Cursor)?);
        }
        (Class::Boolean, Value::Bool(b)) => {
            sql.bind(*b);
        }
        (Class::Numeric, Value::Number(n)) => {
            let raw = n.to_string();
            bind_numeric(sql, &raw, n.as_f64().ok_or(RecordError::Cursor)?);
        }
        (Class::Numeric, Value::String(s)) => {
            let n = s.parse::<f64>().map_err(|_| RecordError::Cursor)?;
            bind_numeric(sql, s, n);
        }
        (Class::Text, Value::String(s)) => {
            sql.bind(s.clone());
        }
        _ => return Err(RecordError::Cursor),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::schema::{Schema, builtin_types};

    fn cond(field: &str, op: Op, values: &[&str]) -> Filter {
        Filter::Cond {
            field: field.into(),
            op,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
        }
    }

    #[test]
    fn parses_nested_expressions_quotes_and_lists() {
        let parsed = parse_filter(
            r#"and(stage[eq]:won, or(name[contains]:"Acme, \"Inc\")", tags[in]:vip|trial), not(email[is_empty]))"#,
        );
        assert_eq!(
            parsed.expect("valid"),
            Filter::And(vec![
                cond("stage", Op::Eq, &["won"]),
                Filter::Or(vec![
                    cond("name", Op::Contains, &["Acme, \"Inc\")"]),
                    cond("tags", Op::In, &["vip", "trial"])
                ]),
                Filter::Not(Box::new(cond("email", Op::IsEmpty, &[]))),
            ])
        );
    }

    #[test]
    fn syntax_errors_name_the_position_and_the_expectation() {
        for (input, expected) in [
            ("name", "at position 4: expected `[operator]`"),
            ("name[eq]", "at position 8: expected `:value`"),
            ("and(name[eq]:a", "at position 14: expected `,` or `)`"),
            ("name[like]:a", "unknown operator `like`"),
            ("name[eq]:\"open", "expected a closing `\"`"),
            ("xor(a[eq]:1)", "`xor(` is not"),
            ("", "at position 0: expected a field name"),
            ("a[eq]:1)", "expected the end of the filter"),
        ] {
            let Err(RecordError::Filter(message)) = parse_filter(input) else {
                panic!("{input} parsed")
            };
            assert!(message.to_string().contains(expected), "{input}: {message}");
        }
    }

    #[test]
    fn text_outside_ascii_anywhere_is_read_or_refused_never_a_panic() {
        // Whitespace of any script around terms, as an integrator's encoder may send it.
        let spaced = parse_filter("\u{a0}first_name[eq]:Ada\u{3000}")
            .expect("no-break and ideographic spaces are whitespace");
        assert_eq!(spaced, cond("first_name", Op::Eq, &["Ada"]));
        let nested = parse_filter("and(\u{2003}a[eq]:1,\u{a0}b[eq]:王小明)")
            .expect("an em space is whitespace");
        assert_eq!(
            nested,
            Filter::And(vec![
                cond("a", Op::Eq, &["1"]),
                cond("b", Op::Eq, &["王小明"])
            ])
        );
        // Letters outside ASCII in names and operators are refused with a position.
        for input in [
            "名前[eq]:a",
            "néme[eq]:a",
            "a[éq]:1",
            "a[eq]",
            "a\u{a0}[eq]:1",
            "\u{a0}",
            "and(a[eq]:1\u{a0}",
            "a[eq]:\"\u{a0}\\",
        ] {
            match parse_filter(input) {
                Err(RecordError::Filter(message)) => {
                    assert!(!message.to_string().is_empty(), "{input:?}")
                }
                other => panic!("{input:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn nesting_and_size_are_bounded() {
        let deep = format!("{}a[eq]:1{}", "not(".repeat(40), ")".repeat(40));
        assert!(parse_filter(&deep).is_err());
        let wide = format!("and({})", vec!["a[eq]:1"; 100].join(","));
        assert!(parse_filter(&wide).is_err());
        assert!(parse_filter(&"a".repeat(MAX_FILTER_LEN + 1)).is_err());
    }

    #[test]
    fn relative_dates_resolve_against_now() {
        let now = DateTime::parse_from_rfc3339("2026-11-22T15:45:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        let at = |s: &str| parse_instant(s, now).map(|d| d.to_rfc3339());
        assert_eq!(at("today"), Some("2026-11-22T00:00:00+00:00".into()));
        assert_eq!(at("today-7d"), Some("2026-11-15T00:00:00+00:00".into()));
        assert_eq!(at("now+2h"), Some("2026-11-22T17:45:00+00:00".into()));
        assert_eq!(
            at("start_of_month-1m"),
            Some("2026-10-01T00:00:00+00:00".into())
        );
        assert_eq!(
            at("start_of_week"),
            Some("2026-11-16T00:00:00+00:00".into())
        );
        assert_eq!(
            at("start_of_year+1y"),
            Some("2027-01-01T00:00:00+00:00".into())
        );
        assert_eq!(at("2026-01-02"), Some("2026-01-02T00:00:00+00:00".into()));
        assert_eq!(at("soon"), None);
        assert_eq!(at("today+99999999999d"), None);
    }

    #[test]
    fn compiles_to_backend_specific_sql() {
        let schema = Schema::new(builtin_types());
        let ty = schema.by_plural("companies").expect("builtin");
        let filter =
            parse_filter("and(name[starts_with]:Ac_me, employees[gte]:10, annual_revenue[lt]:5e6)")
                .expect("valid");
        let now = Utc::now();
        let mut sqlite = Sql::new(DbBackend::Sqlite);
        compile(&filter, ty, now, &mut sqlite).expect("compiles");
        assert_eq!(
            sqlite.text,
            "((json_extract(data, '$.name') LIKE ? ESCAPE '\\') AND (json_extract(data, '$.employees') >= ?) \
             AND (CAST(json_extract(data, '$.annual_revenue.amount') AS REAL) < ?))"
        );
        assert_eq!(sqlite.values[0], SqlValue::from("Ac\\_me%".to_owned()));
        let mut pg = Sql::new(DbBackend::Postgres);
        compile(&filter, ty, now, &mut pg).expect("compiles");
        assert!(pg.text.contains("ILIKE $1"), "{}", pg.text);
        assert!(pg.text.contains(">= CAST($2 AS numeric)"), "{}", pg.text);
    }

    #[test]
    fn operators_that_do_not_fit_the_field_are_refused() {
        let schema = Schema::new(builtin_types());
        let ty = schema.by_plural("contacts").expect("builtin");
        for input in [
            "tags[gt]:a",
            "company[contains]:x",
            "nope[eq]:1",
            "created_at[eq]:someday",
            "company[eq]:not-a-uuid",
        ] {
            let filter = parse_filter(input).expect("parses");
            let result = compile(&filter, ty, Utc::now(), &mut Sql::new(DbBackend::Sqlite));
            assert!(matches!(result, Err(RecordError::Filter(_))), "{input}");
        }
    }

    #[test]
    fn cursor_round_trips_and_rejects_other_queries() {
        let cursor = Cursor {
            values: vec![json!("Acme"), Value::Null],
            id: Uuid::now_v7(),
            fingerprint: fingerprint(&["name", ""]),
        };
        let encoded = cursor.encode();
        assert_eq!(
            Cursor::decode(&encoded, cursor.fingerprint, 2).expect("valid"),
            cursor
        );
        assert!(Cursor::decode(&encoded, fingerprint(&["-name", ""]), 2).is_err());
        assert!(Cursor::decode("not base64!", cursor.fingerprint, 2).is_err());
    }
}
