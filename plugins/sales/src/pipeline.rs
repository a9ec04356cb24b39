//! Pipelines and their stages: reading them, finding the default pipeline, and creating a
//! pipeline with its stages (the workspace's first one on enable, another for the demo).

use plugin_sdk::prelude::*;
use plugin_sdk::records::Query;

use crate::store;

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
    let query = Query::new()
        .filter(store::eq("pipeline", pipeline))
        .sort("position");
    read_stages(query)
}

/// Every stage of every pipeline.
pub fn all_stages() -> Result<Vec<Stage>, HostError> {
    read_stages(Query::new())
}

fn read_stages(query: Query) -> Result<Vec<Stage>, HostError> {
    Ok(store::all("stage", query)?
        .iter()
        .map(Stage::from_record)
        .collect())
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
    let marked = store::first("pipeline", "is_default[eq]:true", Some("created_at"))?;
    let pipeline = match marked {
        Some(pipeline) => Some(pipeline),
        None => records::find("pipeline", &Query::new().sort("created_at").limit(1))?
            .records
            .into_iter()
            .next(),
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
                    ("pipeline", store::reference(Some(&pipeline.id))),
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
    fn outcomes_round_trip() {
        for outcome in [Outcome::Open, Outcome::Won, Outcome::Lost] {
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(Outcome::parse("maybe"), None);
        assert!(Outcome::Lost.is_closed() && !Outcome::Open.is_closed());
    }
}
