//! What the deal rules read, each read at most once per before-save call: a batch may hold 100
//! deals, and the call has 100 host calls and 1000 rows.

use std::collections::HashMap;

use plugin_sdk::prelude::*;

use crate::pipeline::{self, Stage};

pub struct Lookups {
    /// Read on first use; `Some(None)` once known that there is no pipeline.
    default_pipeline: Option<Option<String>>,
    /// Each pipeline's stages, in position order, by pipeline id.
    stages: HashMap<String, Vec<Stage>>,
    /// Stages read by id, outside the pipelines read whole (`None`: no such stage).
    single_stages: HashMap<String, Option<Stage>>,
}

impl Lookups {
    /// Reads, in one query, the stages `stage_ids` the changes name, and keeps the stages
    /// already `given`: a deal put in a stage of its pipeline then needs no other read.
    pub fn new(
        stage_ids: &[&str],
        given: impl Iterator<Item = Stage>,
    ) -> Result<Lookups, HostError> {
        let mut single_stages: HashMap<String, Option<Stage>> = (stage_ids.iter())
            .map(|&id| (id.to_owned(), None))
            .collect();
        for stage in pipeline::stages_by_id(stage_ids)?.into_iter().chain(given) {
            single_stages.insert(stage.id.clone(), Some(stage));
        }
        Ok(Lookups {
            default_pipeline: None,
            stages: HashMap::new(),
            single_stages,
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
}
