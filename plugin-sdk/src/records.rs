//! Records of any entity type the plugin may read or write (import `records`).
//!
//! Types are named by their singular name (`contact`). Reading (`get`, `find`) needs the type
//! in the manifest's `permissions.read`; writing (`create`, `update`, `delete`) needs it in
//! `permissions.write`; the plugin's own `[[entities]]` are always allowed. Every call is checked again against the
//! grant an admin gave the plugin in the workspace and against the permissions of the acting
//! user, and counts against the call's host-call and write limits. `before-save` may read but
//! not write (`forbidden`).

use crate::bindings::kith::plugin::records as wit;
use crate::{Field, HostError, Record};

pub use crate::bindings::kith::plugin::records::{Page, Query};

/// The record `id` of type `entity_type`; `Ok(None)` when there is none (in this workspace).
pub fn get(entity_type: &str, id: &str) -> Result<Option<Record>, HostError> {
    wit::get(entity_type, id)
}

/// One page of the records of `entity_type` matching `query`. Pass the page's `next_cursor`
/// as the next query's cursor until it is `None`.
pub fn find(entity_type: &str, query: &Query) -> Result<Page, HostError> {
    wit::find(entity_type, query)
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

    /// Only records matching the API's filter language: `and(stage[eq]:won,amount[gte]:1000)`.
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
