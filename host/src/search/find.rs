//! The one way anything searches: ranked hits across the types an actor may read, each limited
//! to the records their role reaches, matched and quoted only through the fields their role
//! shows. The API (`/api/v1/search`), the web app's search and the plugins' `search` import all
//! answer through [`find`], so a field a role hides cannot find a record on any of them.

use std::sync::Arc;

use super::{Hit, SearchError, SearchIndex, TypeScope, reference_ids};
use crate::auth::permissions::{Operation, Scope};
use crate::records::schema::EntityType;
use crate::records::{Actor, RecordError, Store};

/// A hit the actor may see: the record's type as they see it, and its title and snippet built
/// from visible fields only.
#[derive(Debug, Clone)]
pub struct Found {
    pub ty: Arc<EntityType>,
    pub hit: Hit,
}

#[derive(Debug, thiserror::Error)]
pub enum FindError {
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("the search did not finish: {0}")]
    Task(String),
}

/// Ranked hits for `q` among the records of `types` (the workspace's types when `None`) that
/// `actor` may read. Hits of types whose view hides fields are read again and matched against
/// the visible fields only; those that no longer match are left out.
pub async fn find(
    store: &Store,
    index: &SearchIndex,
    actor: &Actor,
    q: &str,
    types: Option<Vec<Arc<EntityType>>>,
    limit: usize,
) -> Result<Vec<Found>, FindError> {
    let schema = store.schema(actor.workspace).await?;
    let types = types.unwrap_or_else(|| schema.types().to_vec());
    // The actor's read permissions, exactly as the record store applies them.
    let scopes: Vec<TypeScope> = types
        .iter()
        .filter_map(|ty| match actor.access.scope(Operation::Read, &ty.name) {
            Scope::Nothing => None,
            Scope::All => Some(TypeScope {
                entity: ty.name.clone(),
                owners: None,
            }),
            Scope::Owners(owners) => Some(TypeScope {
                entity: ty.name.clone(),
                owners: Some(owners),
            }),
        })
        .collect();
    if scopes.is_empty() {
        return Ok(Vec::new());
    }
    let searcher = index.clone();
    let workspace = actor.workspace;
    let query = q.to_owned();
    let hits =
        tokio::task::spawn_blocking(move || searcher.search(workspace, &query, &scopes, limit))
            .await
            .map_err(|e| FindError::Task(e.to_string()))??;
    // Documents hold the titles of the records they reference, whoever may read those: an
    // actor who may not read every record of every type has each hit matched again against
    // the titles they may read.
    let reads_everything = schema.types().iter().all(|ty| {
        actor.access.scope(Operation::Read, &ty.name) == Scope::All
            && Arc::ptr_eq(&actor.access.view(ty), ty)
    });
    let mut found = Vec::with_capacity(hits.len());
    for mut hit in hits {
        let Some(ty) = types.iter().find(|t| t.name == hit.entity) else {
            continue;
        };
        let view = actor.access.view(ty);
        if !Arc::ptr_eq(&view, ty) || !reads_everything {
            // Match and quote only what the role may see.
            let Ok(record) = store.get(actor, &view, hit.id).await else {
                continue;
            };
            let ids = reference_ids(&view, &record.data);
            let titles = store.titles(actor, &ids).await?;
            let refs: Vec<String> = (ids.iter().filter_map(|id| titles.get(id)))
                .map(|(_, title)| title.clone())
                .collect();
            let Some(snippet) = index.rematch(q, workspace, &view, &record, &refs) else {
                continue;
            };
            hit.snippet = snippet;
            hit.title = crate::records::value::title(&view, &record.data);
        }
        found.push(Found { ty: view, hit });
    }
    // A record named exactly what was typed comes first, whatever the scores say.
    let named = q.trim().to_lowercase();
    found.sort_by_key(|f| f.hit.title.trim().to_lowercase() != named);
    Ok(found)
}
