//! Pipelines and their stages: reading them, finding the default pipeline, and creating a
//! pipeline with its stages (the workspace's first one on enable, another for the demo).

use plugin_sdk::prelude::*;

/// What reaching a stage means for a deal; a deal's `status` is its stage's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Open,
    Won,
    Lost,
}

impl Outcome {
    pub fn parse(text: &str) -> Option<Outcome> {
        match text {
            "open" => Some(Outcome::Open),
            "won" => Some(Outcome::Won),
            "lost" => Some(Outcome::Lost),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Open => "open",
            Outcome::Won => "won",
            Outcome::Lost => "lost",
        }
    }

    /// Won and lost deals are closed: they have a close date.
    pub fn is_closed(self) -> bool {
        self != Outcome::Open
    }
}

/// A stage record, read.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub id: String,
    pub name: String,
    pub pipeline: Option<String>,
    pub position: i64,
    /// Percent, 0 to 100.
    pub probability: i64,
    pub outcome: Outcome,
}

impl Stage {
    /// The stage a record describes; a missing value reads as the neutral one (an `open`
    /// stage with probability 0), since the host enforces the required fields anyway.
    pub fn from_record(record: &Record) -> Stage {
        Stage {
            id: record.id.clone(),
            name: record.text("name").unwrap_or_default().to_owned(),
            pipeline: record.reference("pipeline").map(str::to_owned),
            position: record.integer("position").unwrap_or(0),
            probability: record.integer("probability").unwrap_or(0),
            outcome: record
                .text("outcome")
                .and_then(Outcome::parse)
                .unwrap_or(Outcome::Open),
        }
    }
}

/// The stages of a pipeline, in position order.
pub fn stages_of(pipeline: &str) -> Result<Vec<Stage>, HostError> {
    read_stages(
        Query::new()
            .filter(Filter::eq("pipeline", pipeline))
            .sort("position"),
    )
}

/// Every stage of every pipeline.
pub fn all_stages() -> Result<Vec<Stage>, HostError> {
    read_stages(Query::new())
}

/// The stages among `ids` (unknown ids are left out), 100 ids per query: the filter then
/// stays well within the filter language's 8 KiB.
pub fn stages_by_id(ids: &[&str]) -> Result<Vec<Stage>, HostError> {
    let mut found = Vec::new();
    for chunk in ids.chunks(100) {
        found.extend(read_stages(
            Query::new().filter(Filter::is_in("id", chunk.iter().copied())),
        )?);
    }
    Ok(found)
}

/// Every stage `query` matches, read a thousand (a find's largest page) at a time.
fn read_stages(query: Query) -> Result<Vec<Stage>, HostError> {
    records::find_all("stage", query.limit(1000))
        .map(|record| Ok(Stage::from_record(&record?)))
        .collect()
}

/// Where a new deal starts: the pipeline's first open stage.
pub fn first_open(stages: &[Stage]) -> Option<&Stage> {
    stages
        .iter()
        .filter(|stage| stage.outcome == Outcome::Open)
        .min_by_key(|stage| stage.position)
}

/// The id of the default pipeline: the one marked `is_default`, else the oldest; `None` when
/// the workspace has no pipeline.
pub fn default_pipeline() -> Result<Option<String>, HostError> {
    let oldest = || Query::new().sort("created_at");
    let marked = oldest().filter(Filter::eq("is_default", true));
    let pipeline = match records::first("pipeline", marked)? {
        Some(marked) => Some(marked),
        None => records::first("pipeline", oldest())?,
    };
    Ok(pipeline.map(|pipeline| pipeline.id))
}

/// A stage to create: its name, probability and outcome (positions follow the list order).
pub struct StageSpec {
    pub name: &'static str,
    pub probability: i64,
    pub outcome: Outcome,
}

pub const fn spec(name: &'static str, probability: i64, outcome: Outcome) -> StageSpec {
    StageSpec {
        name,
        probability,
        outcome,
    }
}

/// The stages of the pipeline a workspace starts with.
pub const SALES_STAGES: [StageSpec; 6] = [
    spec("Qualification", 10, Outcome::Open),
    spec("Discovery", 20, Outcome::Open),
    spec("Proposal", 50, Outcome::Open),
    spec("Negotiation", 75, Outcome::Open),
    spec("Won", 100, Outcome::Won),
    spec("Lost", 0, Outcome::Lost),
];

/// Creates a pipeline and its stages; answers the pipeline's id and its stages.
pub fn create(
    name: &str,
    is_default: bool,
    stages: &[StageSpec],
) -> Result<(String, Vec<Stage>), HostError> {
    let pipeline = records::create(
        "pipeline",
        &fields([
            ("name", Value::from(name)),
            ("is_default", Value::from(is_default)),
        ]),
    )?;
    let created = stages
        .iter()
        .zip(1_i64..)
        .map(|(stage, position)| {
            let record = records::create(
                "stage",
                &fields([
                    ("name", Value::from(stage.name)),
                    ("pipeline", Value::reference(&pipeline.id)),
                    ("position", Value::from(position)),
                    ("probability", Value::from(stage.probability)),
                    ("outcome", Value::from(stage.outcome.as_str())),
                ]),
            )?;
            Ok(Stage::from_record(&record))
        })
        .collect::<Result<Vec<Stage>, HostError>>()?;
    Ok((pipeline.id, created))
}

/// Sets a workspace up (on enable, idempotently): when it has no pipeline yet, creates the
/// default "Sales" pipeline with its stages. Answers whether it created it.
pub fn ensure_default() -> Result<bool, HostError> {
    if default_pipeline()?.is_some() {
        return Ok(false);
    }
    create("Sales", true, &SALES_STAGES)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use plugin_sdk::testing::TestHost;

    use super::*;

    fn stage(id: &str, position: i64, outcome: Outcome) -> Stage {
        Stage {
            id: id.to_owned(),
            name: id.to_uppercase(),
            pipeline: None,
            position,
            probability: 0,
            outcome,
        }
    }

    #[test]
    fn first_open_stage_is_by_position() {
        let stages = [
            stage("won", 0, Outcome::Won),
            stage("b", 5, Outcome::Open),
            stage("a", 2, Outcome::Open),
        ];
        assert_eq!(first_open(&stages).map(|s| s.id.as_str()), Some("a"));
        assert_eq!(first_open(&stages[..1]), None);
    }

    #[test]
    fn enabling_creates_the_default_pipeline_once() {
        let host = TestHost::from_manifest(include_str!("../plugin.toml")).install();
        assert_eq!(ensure_default(), Ok(true));
        assert_eq!(ensure_default(), Ok(false));
        let Ok(Some(sales)) = default_pipeline() else {
            panic!("a default pipeline");
        };
        let stages = stages_of(&sales).unwrap_or_default();
        let names: Vec<&str> = stages.iter().map(|stage| stage.name.as_str()).collect();
        assert_eq!(names, SALES_STAGES.map(|spec| spec.name));
        assert_eq!(first_open(&stages).map(|stage| stage.probability), Some(10));
        assert_eq!(host.records("pipeline").len(), 1);
    }

    #[test]
    fn outcomes_round_trip() {
        for outcome in [Outcome::Open, Outcome::Won, Outcome::Lost] {
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(Outcome::parse("maybe"), None);
        assert!(Outcome::Lost.is_closed() && !Outcome::Open.is_closed());
    }
}
