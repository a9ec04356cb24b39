//! Records of any entity type the plugin may read or write (import `records`).
//!
//! Types are named by their singular name (`contact`). Reading (`get`, `find`) needs the type
//! in the manifest's `permissions.read`; writing (`create`, `update`, `delete`) needs it in
//! `permissions.write`; the plugin's own `[[entities]]` are always allowed. Every call is checked again against the
//! grant an admin gave the plugin in the workspace and against the permissions of the acting
//! user, and counts against the call's host-call and write limits. `before-save` may read but
//! not write (`forbidden`).

use crate::imports as wit;
use crate::{Field, HostError, Record};

pub use crate::bindings::kith::plugin::records::{AggregateQuery, Group, Page, Query};

/// The record `id` of type `entity_type`; `Ok(None)` when there is none (in this workspace).
pub fn get(entity_type: &str, id: &str) -> Result<Option<Record>, HostError> {
    wit::get(entity_type, id)
}

/// One page of the records of `entity_type` matching `query`. Pass the page's `next_cursor`
/// as the next query's cursor until it is `None`.
pub fn find(entity_type: &str, query: &Query) -> Result<Page, HostError> {
    wit::find(entity_type, query)
}

/// The first record of `entity_type` matching `query`, in its sort (by default the oldest),
/// or `None`.
pub fn first(entity_type: &str, query: Query) -> Result<Option<Record>, HostError> {
    Ok(find(entity_type, &query.limit(1))?
        .records
        .into_iter()
        .next())
}

/// Every record of `entity_type` matching `query`, page after page (`query`'s limit is the
/// page size; 0 means 200), as an iterator: it stops after the first error, which it yields.
///
/// ```no_run
/// # use plugin_sdk::prelude::*;
/// use plugin_sdk::filter::Filter;
/// let mut open = 0;
/// for deal in records::find_all("deal", Query::new().filter(Filter::eq("status", "open"))) {
///     let _deal = deal?;
///     open += 1;
/// }
/// # Ok::<(), HostError>(())
/// ```
pub fn find_all(entity_type: &str, query: Query) -> FindAll {
    let limit = if query.limit == 0 { 200 } else { query.limit };
    FindAll {
        entity_type: entity_type.to_owned(),
        query: Query { limit, ..query },
        page: Vec::new().into_iter(),
        done: false,
    }
}

/// The iterator of [`find_all`].
pub struct FindAll {
    entity_type: String,
    query: Query,
    page: std::vec::IntoIter<Record>,
    done: bool,
}

impl Iterator for FindAll {
    type Item = Result<Record, HostError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(record) = self.page.next() {
                return Some(Ok(record));
            }
            if self.done {
                return None;
            }
            match find(&self.entity_type, &self.query) {
                Ok(page) => {
                    self.done = page.next_cursor.is_none();
                    self.query.cursor = page.next_cursor;
                    self.page = page.records.into_iter();
                }
                Err(error) => {
                    self.done = true;
                    return Some(Err(error));
                }
            }
        }
    }
}

/// Totals of the records of `entity_type` matching `query`, grouped — without reading the
/// records themselves. Counts as one query and one row per group; at most 10,000 groups.
///
/// ```no_run
/// # use plugin_sdk::prelude::*;
/// // Open deal amounts by owner and month of the expected close, one row per currency.
/// let groups = records::aggregate(
///     "deal",
///     &records::AggregateQuery::new()
///         .filter("status[eq]:open")
///         .group_by(["owner", "expected_close:month", "amount:currency"])
///         .sum(["amount"]),
/// )?;
/// for group in &groups {
///     let total = group.sums[0].as_money();
///     // group.keys[0].as_user(), group.keys[1].as_text(), group.count, …
/// #   let _ = total;
/// }
/// # Ok::<(), HostError>(())
/// ```
pub fn aggregate(entity_type: &str, query: &AggregateQuery) -> Result<Vec<Group>, HostError> {
    wit::aggregate(entity_type, query)
}

/// Creates a record with these fields (validated like an API write) and returns it.
pub fn create(entity_type: &str, fields: &[Field]) -> Result<Record, HostError> {
    wit::create(entity_type, fields)
}

/// Sets the given fields of the record `id` (a [`Value::Null`](crate::Value::Null) clears
/// one) and returns the record. With `expected_version`, refused with `version_conflict` when
/// the record has changed since.
pub fn update(
    entity_type: &str,
    id: &str,
    fields: &[Field],
    expected_version: Option<i64>,
) -> Result<Record, HostError> {
    wit::update(entity_type, id, fields, expected_version)
}

/// Deletes (soft-deletes) the record `id`.
pub fn delete(entity_type: &str, id: &str) -> Result<(), HostError> {
    wit::delete(entity_type, id)
}

// The type is generated, so it cannot take a `#[derive(Default)]` of its own.
#[allow(clippy::derivable_impls)]
impl Default for Query {
    fn default() -> Query {
        Query {
            filter: None,
            sort: None,
            limit: 0,
            cursor: None,
        }
    }
}

impl Query {
    /// Every record, in the default order, 50 a page.
    pub fn new() -> Query {
        Query::default()
    }

    /// Only records matching a [`Filter`](crate::filter::Filter) (values quoted for you), or
    /// text in the API's filter language: `and(stage[eq]:won,amount[gte]:1000)`.
    pub fn filter(mut self, filter: impl Into<String>) -> Query {
        self.filter = Some(filter.into());
        self
    }

    /// The API's sort: `-amount,name`.
    pub fn sort(mut self, sort: impl Into<String>) -> Query {
        self.sort = Some(sort.into());
        self
    }

    /// At most `limit` records a page (at most 1000; 0 means the default, 50).
    pub fn limit(mut self, limit: u32) -> Query {
        self.limit = limit;
        self
    }

    /// The page after the one whose `next_cursor` this is.
    pub fn cursor(mut self, cursor: Option<String>) -> Query {
        self.cursor = cursor;
        self
    }
}

// The type is generated, so it cannot take a `#[derive(Default)]` of its own.
#[allow(clippy::derivable_impls)]
impl Default for AggregateQuery {
    fn default() -> AggregateQuery {
        AggregateQuery {
            filter: None,
            group_by: Vec::new(),
            sum: Vec::new(),
        }
    }
}

impl AggregateQuery {
    /// One group of every record (no keys), counted, summing nothing.
    pub fn new() -> AggregateQuery {
        AggregateQuery::default()
    }

    /// Only records matching a [`Filter`](crate::filter::Filter) or the API's filter language.
    pub fn filter(mut self, filter: impl Into<String>) -> AggregateQuery {
        self.filter = Some(filter.into());
        self
    }

    /// Group by these keys, in order: a field name, `owner`, `field:month`, `field:year` (date
    /// and datetime fields) or `field:currency` (money fields).
    pub fn group_by<I, S>(mut self, keys: I) -> AggregateQuery
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.group_by = keys.into_iter().map(Into::into).collect();
        self
    }

    /// Add up these integer, number or money fields in every group.
    pub fn sum<I, S>(mut self, fields: I) -> AggregateQuery
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.sum = fields.into_iter().map(Into::into).collect();
        self
    }
}
