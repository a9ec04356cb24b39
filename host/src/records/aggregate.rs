//! Grouped totals over the records a caller may read: `GROUP BY` in the database, so a report
//! over 100,000 deals moves a few rows instead of 100,000 records.
//!
//! Keys are a field, `owner`, `field:month` / `field:year` of a date or datetime, or
//! `field:currency` of money; sums are integer, number or money fields. Money sums are exact:
//! PostgreSQL adds `numeric`s; SQLite, which has no decimal type, adds amounts as integers of
//! 1/10,000 (exact for amounts of up to four decimals below 900 billion).

use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbBackend, QueryResult};
use serde_json::{Value, json};
use uuid::Uuid;

use super::query::{self, Sql};
use super::schema::{EntityType, FieldKind, FieldSpec};
use super::{Actor, RecordError, Store};

/// Most groups one aggregate answers.
pub const MAX_GROUPS: usize = 10_000;
/// Most keys and sums one aggregate takes (each).
const MAX_TERMS: usize = 8;

/// What to total: the records matching `filter`, grouped by `group_by`, summing `sum`.
#[derive(Debug, Clone, Default)]
pub struct AggregateQuery {
    pub filter: Option<String>,
    pub group_by: Vec<String>,
    pub sum: Vec<String>,
}

/// One group: its keys (JSON values in the API's form, `null` where records have none — those
/// groups come first), its
/// record count and its sums (money as `{"amount", "currency"}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub keys: Vec<Value>,
    pub count: u64,
    pub sums: Vec<Value>,
}

/// The groups, and the kind of each key (`None` for `owner`, a user) for callers that convert.
#[derive(Debug, Clone)]
pub struct Aggregate {
    pub key_kinds: Vec<Option<FieldKind>>,
    pub groups: Vec<Group>,
}

/// A group key as SQL.
enum Key<'a> {
    Owner,
    /// The field's own value.
    Field(&'a FieldSpec),
    /// The first `len` characters of a date or datetime ("2026-11", "2026").
    Prefix(&'a FieldSpec, usize),
    Currency(&'a FieldSpec),
}

impl Key<'_> {
    fn kind(&self) -> Option<FieldKind> {
        match self {
            Key::Owner => None,
            Key::Field(spec) => Some(spec.kind),
            Key::Prefix(..) | Key::Currency(_) => Some(FieldKind::Text),
        }
    }

    /// The expression grouped by, read back as text (or the owner's id).
    fn sql(&self, backend: DbBackend) -> String {
        match self {
            Key::Owner => "owner_id".to_owned(),
            Key::Field(spec) => text_of(backend, &query::field_expr(backend, spec)),
            Key::Prefix(spec, len) => {
                format!("substr({}, 1, {len})", query::field_expr(backend, spec))
            }
            Key::Currency(spec) => member(backend, &spec.name, "currency"),
        }
    }
}

/// `data.<field>.<member>` as text.
fn member(backend: DbBackend, field: &str, member: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("(data->'{field}'->>'{member}')"),
        _ => format!("json_extract(data, '$.{field}.{member}')"),
    }
}

fn text_of(backend: DbBackend, expr: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("({expr})::text"),
        _ => format!("CAST({expr} AS TEXT)"),
    }
}

fn parse_key<'a>(ty: &'a EntityType, key: &str) -> Result<Key<'a>, RecordError> {
    if key == "owner" {
        return Ok(Key::Owner);
    }
    let (name, part) = key.split_once(':').unwrap_or((key, ""));
    let spec = ty
        .field(name)
        .ok_or_else(|| bad(format!("`{}` has no field `{}`", ty.plural, clip(name))))?;
    let dated = matches!(spec.kind, FieldKind::Date | FieldKind::Datetime);
    match (part, spec.kind) {
        ("", FieldKind::Money | FieldKind::Json | FieldKind::Tags | FieldKind::MultiSelect)
        | ("", FieldKind::LongText) => Err(bad(format!(
            "cannot group by `{name}`: group by a single value ({})",
            if spec.kind == FieldKind::Money {
                "money: `field:currency`"
            } else {
                "text, select, reference, user, number, boolean or date fields"
            }
        ))),
        ("", FieldKind::Reference) if spec.multiple => Err(bad(format!(
            "cannot group by `{name}`: it holds a list of references"
        ))),
        ("", _) => Ok(Key::Field(spec)),
        ("month", _) if dated => Ok(Key::Prefix(spec, 7)),
        ("year", _) if dated => Ok(Key::Prefix(spec, 4)),
        ("currency", FieldKind::Money) => Ok(Key::Currency(spec)),
        _ => Err(bad(format!(
            "`{}` is not a group key: use a field, `owner`, `field:month` or `field:year` of a date, or `field:currency` of money",
            clip(key)
        ))),
    }
}

fn parse_sum<'a>(ty: &'a EntityType, name: &str) -> Result<&'a FieldSpec, RecordError> {
    let spec = ty
        .field(name)
        .ok_or_else(|| bad(format!("`{}` has no field `{}`", ty.plural, clip(name))))?;
    match spec.kind {
        FieldKind::Integer | FieldKind::Number | FieldKind::Money => Ok(spec),
        _ => Err(bad(format!(
            "cannot sum `{name}`: only integer, number and money fields add up"
        ))),
    }
}

/// The sum's columns: the total (as text) and, for money, the smallest and largest currency
/// (they differ when the group mixes currencies; cheaper than counting distinct ones, which
/// would make the databases sort every row).
fn push_sum(backend: DbBackend, spec: &FieldSpec, i: usize, sql: &mut Sql) {
    let total = match (spec.kind, backend) {
        (FieldKind::Money, DbBackend::Postgres) => {
            format!("SUM({})::text", query::field_expr(backend, spec))
        }
        (FieldKind::Money, _) => format!(
            "CAST(SUM(CAST(ROUND(CAST({} AS REAL) * 10000) AS INTEGER)) AS TEXT)",
            member(backend, &spec.name, "amount")
        ),
        _ => text_of(
            backend,
            &format!("SUM({})", query::field_expr(backend, spec)),
        ),
    };
    sql.push(&format!(", {total} AS s{i}"));
    if spec.kind == FieldKind::Money {
        let currency = member(backend, &spec.name, "currency");
        sql.push(&format!(
            ", MIN({currency}) AS c{i}, MAX({currency}) AS x{i}"
        ));
    }
}

impl Store {
    /// Totals over the records of `ty` the actor may read.
    pub async fn aggregate(
        &self,
        actor: &Actor,
        ty: &EntityType,
        request: &AggregateQuery,
    ) -> Result<Aggregate, RecordError> {
        if request.group_by.len() > MAX_TERMS || request.sum.len() > MAX_TERMS {
            return Err(bad(format!(
                "at most {MAX_TERMS} group keys and {MAX_TERMS} sums"
            )));
        }
        let backend = self.db().backend;
        let keys = request
            .group_by
            .iter()
            .map(|k| parse_key(ty, k))
            .collect::<Result<Vec<_>, _>>()?;
        let sums = request
            .sum
            .iter()
            .map(|s| parse_sum(ty, s))
            .collect::<Result<Vec<_>, _>>()?;
        let filter = request
            .filter
            .as_deref()
            .map(query::parse_filter)
            .transpose()?;
        let condition = self.visible(actor, ty, filter.as_ref(), false, chrono::Utc::now())?;

        let mut sql = Sql::new(backend);
        sql.push("SELECT COUNT(*) AS n");
        for (i, key) in keys.iter().enumerate() {
            sql.push(&format!(", {} AS k{i}", key.sql(backend)));
        }
        for (i, spec) in sums.iter().enumerate() {
            push_sum(backend, spec, i, &mut sql);
        }
        sql.push(" FROM records WHERE ");
        sql.push(&condition.text);
        sql.values = condition.values;
        if !keys.is_empty() {
            let positions: Vec<String> = (0..keys.len()).map(|i| format!("k{i}")).collect();
            let order: Vec<String> = positions
                .iter()
                .map(|k| format!("{k} ASC NULLS FIRST"))
                .collect();
            sql.push(&format!(
                " GROUP BY {} ORDER BY {}",
                positions.join(", "),
                order.join(", ")
            ));
        }
        sql.push(&format!(" LIMIT {}", MAX_GROUPS + 1));
        let rows = self.db().read.query_all_raw(sql.into_statement()).await?;
        if rows.len() > MAX_GROUPS {
            return Err(bad(format!(
                "more than {MAX_GROUPS} groups: group by fewer keys or filter"
            )));
        }
        let mut groups = Vec::with_capacity(rows.len());
        for row in &rows {
            let count: i64 = row.try_get("", "n")?;
            if count == 0 && !keys.is_empty() {
                continue;
            }
            groups.push(Group {
                keys: keys
                    .iter()
                    .enumerate()
                    .map(|(i, key)| key_value(row, i, key))
                    .collect::<Result<_, _>>()?,
                count: u64::try_from(count).unwrap_or(0),
                sums: sums
                    .iter()
                    .enumerate()
                    .map(|(i, spec)| sum_value(backend, row, i, spec))
                    .collect::<Result<_, _>>()?,
            });
        }
        Ok(Aggregate {
            key_kinds: keys.iter().map(Key::kind).collect(),
            groups,
        })
    }
}

fn key_value(row: &QueryResult, i: usize, key: &Key) -> Result<Value, RecordError> {
    let column = format!("k{i}");
    if let Key::Owner = key {
        let owner: Option<Uuid> = row.try_get("", &column)?;
        return Ok(owner.map_or(Value::Null, |id| json!(id.to_string())));
    }
    let text: Option<String> = row.try_get("", &column)?;
    let Some(text) = text else {
        return Ok(Value::Null);
    };
    let Key::Field(spec) = key else {
        return Ok(Value::String(text));
    };
    Ok(match spec.kind {
        FieldKind::Integer => text.parse::<i64>().map_or(Value::Null, Value::from),
        FieldKind::Number => text
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
        FieldKind::Boolean => Value::Bool(matches!(text.as_str(), "1" | "true")),
        _ => Value::String(text),
    })
}

fn sum_value(
    backend: DbBackend,
    row: &QueryResult,
    i: usize,
    spec: &FieldSpec,
) -> Result<Value, RecordError> {
    let total: Option<String> = row.try_get("", &format!("s{i}"))?;
    let Some(total) = total else {
        return Ok(Value::Null);
    };
    Ok(match spec.kind {
        FieldKind::Money => {
            let currency: Option<String> = row.try_get("", &format!("c{i}"))?;
            let largest: Option<String> = row.try_get("", &format!("x{i}"))?;
            if currency != largest {
                return Err(bad(format!(
                    "`{}` mixes currencies in a group: group by `{}:currency` too",
                    spec.name, spec.name
                )));
            }
            let amount = match backend {
                DbBackend::Postgres => total.parse::<Decimal>().ok(),
                _ => total.parse::<i64>().ok().map(|n| Decimal::new(n, 4)),
            }
            .ok_or_else(|| bad(format!("cannot add up `{}`", spec.name)))?;
            json!({ "amount": amount.normalize().to_string(), "currency": currency })
        }
        FieldKind::Integer => total
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| total.parse::<Decimal>().map(|d| json!(d.to_string())))
            .unwrap_or(Value::Null),
        _ => total
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number),
    })
}

fn bad(message: String) -> RecordError {
    RecordError::Parameter(message)
}

fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}
