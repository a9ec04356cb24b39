//! Grouped totals over the records a caller may read: `GROUP BY` in the database, so a report
//! over 100,000 deals moves a few rows instead of 100,000 records.
//!
//! Keys are a field, `owner`, `field:month` / `field:year` of a date or datetime, or
//! `field:currency` of money; sums are integer, number or money fields. Money sums are exact:
//! PostgreSQL adds `numeric`s; SQLite, which has no decimal type, adds amounts as integers of
//! 1/10,000 (exact for amounts of up to four decimals below 900 billion).

use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use super::query::{self, Sql};
use super::schema::{EntityType, FieldKind, FieldSpec};
use super::{Actor, RecordError, Store};
use crate::i18n::{Text, text};

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
            Key::Currency(spec) => query::member_expr(backend, &spec.name, "currency"),
        }
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
    let spec = ty.field(name).ok_or_else(|| bad(unknown_field(ty, name)))?;
    let dated = matches!(spec.kind, FieldKind::Date | FieldKind::Datetime);
    match (part, spec.kind) {
        ("", FieldKind::Money | FieldKind::Json | FieldKind::Tags | FieldKind::MultiSelect)
        | ("", FieldKind::LongText) => Err(bad(if spec.kind == FieldKind::Money {
            text!("api-records-group-money", field = name)
        } else {
            text!("api-records-group-single-value", field = name)
        })),
        ("", FieldKind::Reference) if spec.multiple => {
            Err(bad(text!("api-records-group-reference-list", field = name)))
        }
        ("", _) => Ok(Key::Field(spec)),
        ("month", _) if dated => Ok(Key::Prefix(spec, 7)),
        ("year", _) if dated => Ok(Key::Prefix(spec, 4)),
        ("currency", FieldKind::Money) => Ok(Key::Currency(spec)),
        _ => Err(bad(text!("api-records-group-key", key = clip(key)))),
    }
}

fn parse_sum<'a>(ty: &'a EntityType, name: &str) -> Result<&'a FieldSpec, RecordError> {
    let spec = ty.field(name).ok_or_else(|| bad(unknown_field(ty, name)))?;
    match spec.kind {
        FieldKind::Integer | FieldKind::Number | FieldKind::Money => Ok(spec),
        _ => Err(bad(text!("api-records-sum-kind", field = name))),
    }
}

/// The sum's values as the inner query reads them: `v{i}`, and a money field's currency `w{i}`.
///
/// On PostgreSQL a money amount is read with a bare cast unless `guarded`: the guard (a regular
/// expression per record, see `query::field_expr`) took a fifth of the forecast's time, and
/// the host stores money amounts only as decimal texts. A record written while the field had
/// another kind can still hold something else; the cast then fails the statement and
/// [`Store::aggregate`] asks again with the guard.
fn sum_values(backend: DbBackend, spec: &FieldSpec, i: usize, guarded: bool) -> Vec<String> {
    let value = match (backend, spec.kind) {
        (DbBackend::Postgres, FieldKind::Money) if !guarded => {
            format!(
                "({})::numeric",
                query::member_expr(backend, &spec.name, "amount")
            )
        }
        _ => query::field_expr(backend, spec),
    };
    let mut values = vec![format!("{value} AS v{i}")];
    if spec.kind == FieldKind::Money {
        let currency = query::member_expr(backend, &spec.name, "currency");
        values.push(format!("{currency} AS w{i}"));
    }
    values
}

/// The sum's columns: the total (as text) and, for money, the smallest and largest currency
/// (they differ when the group mixes currencies; cheaper than counting distinct ones, which
/// would make the databases sort every row).
fn push_sum(backend: DbBackend, spec: &FieldSpec, i: usize, sql: &mut Sql) {
    let total = match (spec.kind, backend) {
        (FieldKind::Money, DbBackend::Postgres) => format!("SUM(v{i})::text"),
        // SQLite adds amounts (REAL) as integers of 1/10,000, exactly.
        (FieldKind::Money, _) => {
            format!("CAST(SUM(CAST(ROUND(v{i} * 10000) AS INTEGER)) AS TEXT)")
        }
        _ => text_of(backend, &format!("SUM(v{i})")),
    };
    sql.push(&format!(", {total} AS s{i}"));
    if spec.kind == FieldKind::Money {
        sql.push(&format!(", MIN(w{i}) AS c{i}, MAX(w{i}) AS x{i}"));
    }
}

/// An aggregate's statement, and what its columns hold.
struct Plan<'a> {
    keys: Vec<Key<'a>>,
    sums: Vec<&'a FieldSpec>,
    sql: Sql,
}

impl Store {
    /// Totals over the records of `ty` the actor may read.
    pub async fn aggregate(
        &self,
        actor: &Actor,
        ty: &EntityType,
        request: &AggregateQuery,
    ) -> Result<Aggregate, RecordError> {
        let backend = self.db().backend;
        let Plan { keys, sums, sql } = self.plan(actor, ty, request, false)?;
        let rows = match self.read_groups(sql).await {
            Err(error) if not_a_number(&error) => {
                let guarded = self.plan(actor, ty, request, true)?.sql;
                self.read_groups(guarded).await?
            }
            rows => rows?,
        };
        if rows.len() > MAX_GROUPS {
            return Err(bad(text!("api-records-too-many-groups", max = MAX_GROUPS)));
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

    /// The rows of an aggregate's statement.
    async fn read_groups(&self, sql: Sql) -> Result<Vec<QueryResult>, sea_orm::DbErr> {
        let statement = sql.into_statement();
        if self.db().backend != DbBackend::Postgres {
            return self.db().read.query_all_raw(statement).await;
        }
        // Two settings, for this transaction only (`SET LOCAL`):
        // - plans made for the values given: after five runs of a prepared statement,
        //   PostgreSQL may switch to a generic plan that knows nothing of the filter's values
        //   (`status = $2` might match anything) — the forecast then took 300 ms instead of
        //   160. Planning costs well under a millisecond next to an aggregate's scan;
        // - parallel workers: PostgreSQL prices each row a worker hands back as if it were
        //   wide (`parallel_tuple_cost` 0.1) and a worker's start at 1,000, so it scans the
        //   matching records on one core. The inner query hands back a few short values per
        //   record; priced as that, workers read and unpack the records' `data` (most of the
        //   time) on every core — the forecast's "open" aggregate over 100,000 deals: 187 →
        //   137 ms of the database's time on 2 cores.
        let txn = self.db().read.begin().await?;
        txn.execute_unprepared(
            "SET LOCAL plan_cache_mode = force_custom_plan; \
             SET LOCAL parallel_setup_cost = 100; SET LOCAL parallel_tuple_cost = 0.01",
        )
        .await?;
        let rows = txn.query_all_raw(statement).await?;
        txn.commit().await?;
        Ok(rows)
    }

    /// Checks an aggregate's request and writes its statement.
    fn plan<'a>(
        &self,
        actor: &Actor,
        ty: &'a EntityType,
        request: &AggregateQuery,
        guarded: bool,
    ) -> Result<Plan<'a>, RecordError> {
        if request.group_by.len() > MAX_TERMS || request.sum.len() > MAX_TERMS {
            return Err(bad(text!("api-records-too-many-terms", max = MAX_TERMS)));
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

        // The keys and summed values are read in a subquery, grouped outside it: SQLite then
        // answers from a composite index that holds them (`EntityType::indexes`) without
        // reading the records, and both databases' sorters or hash tables carry the few values
        // instead of each record's `data`. (`LIMIT -1` and `OFFSET 0` keep SQLite and
        // PostgreSQL from merging the subquery into the grouping query.)
        let mut sql = Sql::new(backend);
        sql.push("SELECT COUNT(*) AS n");
        for i in 0..keys.len() {
            sql.push(&format!(", k{i}"));
        }
        for (i, spec) in sums.iter().enumerate() {
            push_sum(backend, spec, i, &mut sql);
        }
        let mut inner: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(i, key)| format!("{} AS k{i}", key.sql(backend)))
            .chain(
                sums.iter()
                    .enumerate()
                    .flat_map(|(i, spec)| sum_values(backend, spec, i, guarded)),
            )
            .collect();
        if inner.is_empty() {
            inner.push("1 AS one".to_owned());
        }
        sql.push(&format!(
            " FROM (SELECT {} FROM records WHERE ",
            inner.join(", ")
        ));
        sql.push(&condition.text);
        sql.values = condition.values;
        sql.push(if backend == DbBackend::Postgres {
            " OFFSET 0"
        } else {
            " LIMIT -1"
        });
        sql.push(") AS matching");
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
        Ok(Plan { keys, sums, sql })
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
                return Err(bad(text!(
                    "api-records-mixed-currencies",
                    field = &spec.name
                )));
            }
            let amount = match backend {
                DbBackend::Postgres => total.parse::<Decimal>().ok(),
                _ => total.parse::<i64>().ok().map(|n| Decimal::new(n, 4)),
            }
            .ok_or_else(|| bad(text!("api-records-cannot-add-up", field = &spec.name)))?;
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

/// Whether PostgreSQL refused a text as a number (`invalid_text_representation`): a money
/// amount read without its guard (see [`sum_values`]).
fn not_a_number(error: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    match error {
        DbErr::Query(RuntimeErr::SqlxError(error)) | DbErr::Exec(RuntimeErr::SqlxError(error)) => {
            error
                .as_database_error()
                .and_then(|error| error.code())
                .is_some_and(|code| code == "22P02")
        }
        _ => false,
    }
}

fn bad(message: Text) -> RecordError {
    RecordError::Parameter(message)
}

fn unknown_field(ty: &EntityType, name: &str) -> Text {
    text!(
        "api-records-unknown-field",
        plural = &ty.plural,
        field = clip(name)
    )
}

fn clip(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{UserId, WorkspaceId};

    /// The plan SQLite makes for an aggregate, one line per step.
    async fn query_plan(
        store: &Store,
        actor: &Actor,
        ty: &EntityType,
        request: AggregateQuery,
    ) -> String {
        let Plan { sql, .. } = store
            .plan(actor, ty, &request, false)
            .expect("a valid aggregate");
        let statement = sea_orm::Statement::from_sql_and_values(
            DbBackend::Sqlite,
            format!("EXPLAIN QUERY PLAN {}", sql.text),
            sql.values,
        );
        let rows = store
            .db()
            .read
            .query_all_raw(statement)
            .await
            .expect("explain");
        rows.iter()
            .map(|row| row.try_get::<String>("", "detail").expect("detail"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[tokio::test]
    async fn sqlite_answers_an_aggregate_over_indexed_keys_from_the_index_alone() {
        let dir = std::env::temp_dir().join(format!("kith-aggregate-{}", Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let store = crate::app::open_store(&format!("sqlite://{}/kith.db", dir.display()))
            .await
            .expect("store");
        let ty: EntityType = serde_json::from_value(json!({
            "name": "deal",
            "plural": "deals",
            "fields": [
                { "name": "status", "type": "text" },
                { "name": "closes", "type": "date" },
                { "name": "closed", "type": "date", "indexed": true },
                { "name": "amount", "type": "money" },
                { "name": "probability", "type": "integer" },
            ],
            "indexes": [
                ["status", "closes", "owner", "amount"],
                ["status", "closed", "owner", "amount"],
            ],
        }))
        .expect("a type definition");
        assert_eq!(ty.check_indexes(), Ok(()));
        store.ensure_indexes(&ty).await.expect("indexes");
        let actor = Actor::system(WorkspaceId::new(), UserId::new());
        let forecast = |status: &str, date: &str, sum: &str| AggregateQuery {
            filter: Some(format!(
                "and(status[eq]:{status},{date}[gte]:2026-01-01,{date}[lt]:2027-01-01)"
            )),
            group_by: vec![
                "owner".into(),
                format!("{date}:month"),
                "amount:currency".into(),
            ],
            sum: vec![sum.into()],
        };
        let index_of = |date: &str| {
            let keys = ["status", date, "owner", "amount"].map(String::from);
            let statement = query::composite_index_statement(DbBackend::Sqlite, &ty, &keys);
            let name = statement.split_whitespace().nth(5).expect("an index name");
            format!("USING COVERING INDEX {name} ")
        };

        let covered = query_plan(&store, &actor, &ty, forecast("open", "closes", "amount")).await;
        assert!(covered.contains(&index_of("closes")), "{covered}");
        // SQLite keeps no statistics here: of the composite index led by the filter's status
        // and range and `closed`'s own index (which also serves the range), it picks the one
        // pinning more leading keys, and that one covers the query.
        let won = query_plan(&store, &actor, &ty, forecast("won", "closed", "amount")).await;
        assert!(won.contains(&index_of("closed")), "{won}");
        // A sum outside the index needs the records: the same query is no longer covered.
        let uncovered = query_plan(
            &store,
            &actor,
            &ty,
            forecast("open", "closes", "probability"),
        )
        .await;
        assert!(!uncovered.contains("COVERING"), "{uncovered}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
