//! The workspace's full-text search (import `search`), limited to the entity types the plugin
//! may read and the acting user may see.

use crate::HostError;
use crate::imports as wit;

pub use crate::bindings::kith::plugin::search::Hit;

/// At most `limit` hits for `query`, best first, among `entity_types` (empty: every type the
/// plugin may read).
pub fn search(query: &str, entity_types: &[&str], limit: u32) -> Result<Vec<Hit>, HostError> {
    let entity_types: Vec<String> = entity_types.iter().map(|&t| t.to_owned()).collect();
    wit::search(query, &entity_types, limit)
}
