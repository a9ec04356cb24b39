//! What the deal rules read, each read at most once per before-save call: a batch may hold 100
//! deals, and the call has 100 host calls and 1000 rows.

use std::collections::HashMap;

use plugin_sdk::prelude::*;
use plugin_sdk::records::Query;

use crate::pipeline::{self, Stage};
use crate::store;

pub struct Lookups {
    /// Read on first use; `Some(None)` once known that there is no pipeline.
    default_pipeline: Option<Option<String>>,
    /// Each pipeline's stages, in position order, by pipeline id.
    stages: HashMap<String, Vec<Stage>>,
    /// Stages read by id, outside the pipelines read whole (`None`: no such stage).
    single_stages: HashMap<String, Option<Stage>>,
    /// The stored stage of deals whose stage changes and whose history cannot tell the old
    /// one, by deal id (`None`: the deal had no stage).
    stored_stages: HashMap<String, Option<String>>,
}

impl Lookups {
    /// Reads, one query each, the stored stage of the deals `deal_ids` and the stages
    /// `stage_ids` the changes name, and keeps the stages already `given`: a deal put in a
    /// stage of its pipeline then needs no other read.
    pub fn new(
        deal_ids: &[&str],
        stage_ids: &[&str],
        given: impl Iterator<Item = Stage>,
    ) -> Result<Lookups, HostError> {
        let mut stored_stages = HashMap::new();
        for deal in by_ids("deal", deal_ids)? {
            let stage = deal.reference("stage").map(str::to_owned);
            stored_stages.insert(deal.id, stage);
        }
        let mut single_stages: HashMap<String, Option<Stage>> = (stage_ids.iter())
            .map(|&id| (id.to_owned(), None))
            .collect();
        for record in by_ids("stage", stage_ids)? {
            single_stages.insert(record.id.clone(), Some(Stage::from_record(&record)));
        }
        single_stages.extend(given.map(|stage| (stage.id.clone(), Some(stage))));
        Ok(Lookups {
            default_pipeline: None,
            stages: HashMap::new(),
            single_stages,
            stored_stages,
        })
    }

    /// See [`pipeline::default_pipeline`].
    pub fn default_pipeline(&mut self) -> Result<Option<String>, HostError> {
        if self.default_pipeline.is_none() {
            self.default_pipeline = Some(pipeline::default_pipeline()?);
        }
        Ok(self.default_pipeline.clone().flatten())
    }

    /// The stages of `pipeline`, in position order.
    pub fn stages(&mut self, pipeline: &str) -> Result<&[Stage], HostError> {
        if !self.stages.contains_key(pipeline) {
            let stages = pipeline::stages_of(pipeline)?;
            self.stages.insert(pipeline.to_owned(), stages);
        }
        Ok(self.stages.get(pipeline).map_or(&[], Vec::as_slice))
    }

    /// The stage `id`: from the stages read by [`Lookups::new`] or with their pipeline, else
    /// read alone.
    pub fn stage(&mut self, id: &str) -> Result<Option<Stage>, HostError> {
        let known = self.stages.values().flatten().find(|stage| stage.id == id);
        if let Some(stage) = known {
            return Ok(Some(stage.clone()));
        }
        if !self.single_stages.contains_key(id) {
            let stage = records::get("stage", id)?.map(|record| Stage::from_record(&record));
            self.single_stages.insert(id.to_owned(), stage);
        }
        Ok(self.single_stages.get(id).cloned().flatten())
    }

    /// The stage the deal `id` had before the write, as read by [`Lookups::new`].
    pub fn stored_stage(&self, id: &str) -> Option<&str> {
        self.stored_stages.get(id).and_then(Option::as_deref)
    }

    /// Lookups that already know everything (no host call), for tests.
    #[cfg(test)]
    pub fn preloaded(default_pipeline: Option<&str>, stages: Vec<Stage>) -> Lookups {
        let mut by_pipeline: HashMap<String, Vec<Stage>> = HashMap::new();
        for stage in stages {
            let pipeline = stage.pipeline.clone().unwrap_or_default();
            by_pipeline.entry(pipeline).or_default().push(stage);
        }
        Lookups {
            default_pipeline: Some(default_pipeline.map(str::to_owned)),
            stages: by_pipeline,
            single_stages: HashMap::new(),
            stored_stages: HashMap::new(),
        }
    }

    #[cfg(test)]
    pub fn set_stored_stage(&mut self, deal: &str, stage: Option<&str>) {
        self.stored_stages
            .insert(deal.to_owned(), stage.map(str::to_owned));
    }
}

/// The records of `entity` among `ids` (unknown ids are left out), 100 ids per query: the
/// filter then stays well within the filter language's 8 KiB.
fn by_ids(entity: &str, ids: &[&str]) -> Result<Vec<Record>, HostError> {
    let mut found = Vec::new();
    for chunk in ids.chunks(100) {
        let query = Query::new().filter(store::any_of("id", chunk.iter().copied()));
        found.extend(store::all(entity, query)?);
    }
    Ok(found)
}
