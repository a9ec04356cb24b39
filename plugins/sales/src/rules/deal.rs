//! Deals follow their stage. On every create and update, the rules the functions below
//! refer to by number:
//!
//! 1. a deal without a pipeline gets the default one (none exists → `pipeline` is required);
//! 2. a deal without a stage gets its pipeline's first open stage;
//! 3. a stage must belong to the deal's pipeline (`stage_not_in_pipeline`);
//! 4. moving to another pipeline without naming a stage keeps the stage of the same name
//!    there, or clears the stage;
//! 5. an amount is never negative (`negative_amount`);
//! 6. `status` and `probability` come from the stage; won and lost deals get today's close
//!    date unless they have one, deals back in an open stage lose it;
//! 7. a lost deal needs a `lost_reason` (`required_when_lost`);
//! 8. every stage change is stamped (`stage_entered_at`) and appended to `stage_history`;
//! 9. the fields rules 6 and 8 set cannot be written directly (`read_only`).
//!
//! Every refusal found is reported at once, each naming its field.

use plugin_sdk::prelude::*;

use super::Stamp;
use super::lookups::Lookups;
use crate::history::{self, Entry, StageName};
use crate::pipeline::{self, Outcome, Stage};
use crate::store;

/// Fields only this hook sets (its own patches are not in a change's `changed`).
const READ_ONLY: [&str; 4] = ["stage_history", "status", "probability", "stage_entered_at"];

/// Why a deal cannot be saved as it is, or why the rules could not tell.
enum Problem {
    Field(FieldError),
    Host(HostError),
}

impl From<HostError> for Problem {
    fn from(error: HostError) -> Problem {
        Problem::Host(error)
    }
}

fn refuse(field: &str, code: &str, message: &str) -> Problem {
    Problem::Field(FieldError::new(field, code, message))
}

/// The fields the hook sets, each only when the write does not already leave it so.
#[derive(Default)]
struct Patch(Vec<Field>);

impl Patch {
    fn set(&mut self, name: &str, value: Value) {
        self.0.push(Field::new(name, value));
    }

    fn set_unless_same(&mut self, change: &Change, name: &str, value: Value) {
        if change.get(name).unwrap_or(&Value::Null) != &value {
            self.set(name, value);
        }
    }

    fn into_verdict(self) -> Verdict {
        if self.0.is_empty() {
            Verdict::Proceed
        } else {
            Verdict::Patch(self.0)
        }
    }
}

/// The verdict on one deal create or update. Every refusal found is reported at once.
pub fn verdict(
    change: &Change,
    stamp: &Stamp,
    lookups: &mut Lookups,
) -> Result<Verdict, HostError> {
    let mut errors = read_only_errors(change);
    errors.extend(negative_amount(change));
    match plan(change, stamp, lookups) {
        Ok(patch) if errors.is_empty() => Ok(patch.into_verdict()),
        Ok(_) => Ok(Verdict::reject(errors)),
        Err(Problem::Field(error)) => {
            errors.push(error);
            Ok(Verdict::reject(errors))
        }
        Err(Problem::Host(error)) => Err(error),
    }
}

/// The deals of `changes` whose previous stage only the stored record knows: updates that set
/// the stage of a deal without history. [`Lookups::new`] reads them in one query.
pub fn ids_needing_stored_stage(changes: &[Change]) -> Vec<&str> {
    changes
        .iter()
        .filter(|change| change.entity_type == "deal" && change.is_update())
        .filter(|change| change.sets("stage") && parse_history(change).is_empty())
        .filter_map(|change| change.id.as_deref())
        .collect()
}

/// The stages `changes` put deals in that the host did not pass along (see [`stages_given`]),
/// each once: [`Lookups::new`] reads them in one query.
pub fn stages_named(changes: &[Change]) -> Vec<&str> {
    let mut ids: Vec<&str> = changes
        .iter()
        .filter(|change| change.entity_type == "deal" && !change.is_delete())
        .filter(|change| kept_outcome(change).is_none() && given_stage(change).is_none())
        .filter_map(|change| change.reference("stage"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// The stages the host passed along with the changes that set a deal's stage.
pub fn stages_given(changes: &[Change]) -> impl Iterator<Item = Stage> + '_ {
    changes
        .iter()
        .filter(|change| change.entity_type == "deal")
        .filter_map(given_stage)
        .map(Stage::from_record)
}

fn given_stage(change: &Change) -> Option<&Record> {
    change
        .referenced("stage")
        .filter(|record| record.entity_type == "stage")
}

/// Rule 9: `status`, `probability`, `stage_entered_at` and `stage_history` follow the stage.
fn read_only_errors(change: &Change) -> Vec<FieldError> {
    READ_ONLY
        .iter()
        .filter(|field| change.sets(field))
        .map(|field| {
            FieldError::new(
                *field,
                "read_only",
                format!("`{field}` follows the deal's stage: change the stage instead"),
            )
        })
        .collect()
}

/// Rule 5 (the host itself requires a currency with every amount).
fn negative_amount(change: &Change) -> Option<FieldError> {
    change
        .money("amount")
        .filter(|amount| amount.is_negative())
        .map(|_| {
            FieldError::new(
                "amount",
                "negative_amount",
                "a deal's amount cannot be negative",
            )
        })
}

/// Rules 1–4 and 6–8: what to patch into the deal.
fn plan(change: &Change, stamp: &Stamp, lookups: &mut Lookups) -> Result<Patch, Problem> {
    if let Some(outcome) = kept_outcome(change) {
        return keep_stage(change, outcome, stamp);
    }
    let mut patch = Patch::default();
    let pipeline = pipeline_of(change, lookups, &mut patch)?;
    let history = parse_history(change);
    let previous = previous_stage(change, &history, lookups);
    let stage = target_stage(change, &pipeline, lookups)?;
    let stage_id = stage.as_ref().map(|stage| stage.id.as_str());
    patch.set_unless_same(change, "stage", store::reference(stage_id));
    let moved = previous.as_deref() != stage_id;
    let outcome = follow_stage(change, stage.as_ref(), moved, stamp, &mut patch);
    check_lost_reason(change, outcome)?;
    if moved {
        let from = StageName {
            name: previous_name(previous.as_deref(), &history, lookups)?,
            id: previous,
        };
        let to = StageName {
            id: stage.as_ref().map(|stage| stage.id.clone()),
            name: stage.map(|stage| stage.name),
        };
        let entry = history::next_entry(&history, from, to, &stamp.at, stamp.user);
        patch.set("stage_entered_at", Value::Datetime(stamp.at.clone()));
        patch.set("stage_history", history::appended(history, entry));
    }
    Ok(patch)
}

/// The outcome of a deal whose update leaves its pipeline and stage alone, as the hook last
/// set it — `None` when the write moves the deal, or the deal was never put in a stage (it was
/// saved while the plugin was off), which takes the whole plan.
fn kept_outcome(change: &Change) -> Option<Outcome> {
    let moves = change.sets("stage") || change.sets("pipeline");
    // A write to the fields the stage drives is refused anyway; their values are the writer's.
    if !change.is_update() || moves || READ_ONLY.iter().any(|field| change.sets(field)) {
        return None;
    }
    change.reference("pipeline")?;
    Outcome::parse(change.text("status")?)
}

/// Rules 6 and 7 for a deal that stays where it is: no lookup needed, so most edits (amount,
/// dates, names) cost the hook no query.
fn keep_stage(change: &Change, outcome: Outcome, stamp: &Stamp) -> Result<Patch, Problem> {
    let mut patch = Patch::default();
    if outcome.is_closed() && change.date("close_date").is_none() {
        patch.set("close_date", stamp.today.value());
    }
    check_lost_reason(change, outcome)?;
    Ok(patch)
}

fn parse_history(change: &Change) -> Vec<Entry> {
    history::parse(change.json("stage_history"))
}

/// Rule 1: the deal's pipeline, the default one patched in when it has none.
fn pipeline_of(
    change: &Change,
    lookups: &mut Lookups,
    patch: &mut Patch,
) -> Result<String, Problem> {
    if let Some(id) = change.reference("pipeline") {
        return Ok(id.to_owned());
    }
    let id = lookups.default_pipeline()?.ok_or_else(|| {
        refuse(
            "pipeline",
            "required",
            "there is no pipeline to put the deal in: create one first",
        )
    })?;
    patch.set("pipeline", store::reference(Some(&id)));
    Ok(id)
}

/// The deal's stage before this write: none for a create; for an update that leaves the
/// stage alone, the one it keeps; else the last entry of its history, else the stored deal.
fn previous_stage(change: &Change, history: &[Entry], lookups: &Lookups) -> Option<String> {
    if change.is_create() {
        return None;
    }
    if !change.sets("stage") {
        return change.reference("stage").map(str::to_owned);
    }
    match history.last() {
        Some(last) => last.to.clone(),
        None => lookups
            .stored_stage(change.id.as_deref()?)
            .map(str::to_owned),
    }
}

/// Rules 2–4: the stage the deal ends up in — `None` when it has none.
fn target_stage(
    change: &Change,
    pipeline: &str,
    lookups: &mut Lookups,
) -> Result<Option<Stage>, Problem> {
    let Some(id) = change.reference("stage") else {
        return Ok(pipeline::first_open(lookups.stages(pipeline)?).cloned());
    };
    let stage = lookups.stage(id)?;
    if let Some(stage) = stage.filter(|stage| stage.pipeline.as_deref() == Some(pipeline)) {
        return Ok(Some(stage));
    }
    // Moved to another pipeline, keeping its old stage: the new pipeline's stage of the same
    // name, if any (else none: a stage of another pipeline cannot stay).
    if change.is_update() && change.sets("pipeline") && !change.sets("stage") {
        return Ok(same_name_stage(id, pipeline, lookups)?);
    }
    Err(refuse(
        "stage",
        "stage_not_in_pipeline",
        "the stage is not one of the deal's pipeline",
    ))
}

/// The stage of `pipeline` named like the stage `old`, ignoring case.
fn same_name_stage(
    old: &str,
    pipeline: &str,
    lookups: &mut Lookups,
) -> Result<Option<Stage>, HostError> {
    let Some(old) = lookups.stage(old)? else {
        return Ok(None);
    };
    let name = old.name.to_lowercase();
    let stages = lookups.stages(pipeline)?;
    Ok(stages
        .iter()
        .find(|stage| stage.name.to_lowercase() == name)
        .cloned())
}

/// Rule 6: `status` and `probability` follow the stage (open, no probability without one);
/// a closed deal gets a close date (today) and a deal moved back to an open stage loses it.
fn follow_stage(
    change: &Change,
    stage: Option<&Stage>,
    moved: bool,
    stamp: &Stamp,
    patch: &mut Patch,
) -> Outcome {
    let (outcome, probability) = match stage {
        Some(stage) => (stage.outcome, Value::from(stage.probability)),
        None => (Outcome::Open, Value::Null),
    };
    patch.set_unless_same(change, "status", Value::from(outcome.as_str()));
    patch.set_unless_same(change, "probability", probability);
    if outcome.is_closed() && change.date("close_date").is_none() {
        patch.set("close_date", stamp.today.value());
    } else if !outcome.is_closed() && moved && change.get("close_date").is_some() {
        patch.set("close_date", Value::Null);
    }
    outcome
}

/// Rule 7: a lost deal says why.
fn check_lost_reason(change: &Change, outcome: Outcome) -> Result<(), Problem> {
    let has_reason = change
        .text("lost_reason")
        .is_some_and(|reason| !reason.trim().is_empty());
    if outcome == Outcome::Lost && !has_reason {
        return Err(refuse(
            "lost_reason",
            "required_when_lost",
            "say why the deal was lost",
        ));
    }
    Ok(())
}

/// The name of the stage left: as the history's last entry recorded it, else the stage's.
fn previous_name(
    previous: Option<&str>,
    history: &[Entry],
    lookups: &mut Lookups,
) -> Result<Option<String>, HostError> {
    let Some(id) = previous else {
        return Ok(None);
    };
    let recorded = history
        .last()
        .filter(|last| last.to.as_deref() == Some(id))
        .and_then(|last| last.to_name.clone());
    match recorded {
        Some(name) => Ok(Some(name)),
        None => Ok(lookups.stage(id)?.map(|stage| stage.name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dates::Date;

    const TODAY: &str = "2026-11-27";
    const NOW: &str = "2026-11-27T10:00:00.000Z";

    fn stage(id: &str, pipeline: &str, position: i64, probability: i64, outcome: Outcome) -> Stage {
        Stage {
            id: id.to_owned(),
            name: id.strip_prefix(pipeline).unwrap_or(id).to_owned(),
            pipeline: Some(pipeline.to_owned()),
            position,
            probability,
            outcome,
        }
    }

    /// Two pipelines: `p` (default) with stages `pQualify`, `pWon`, `pLost`, and `q` with
    /// `qqualify` (the same name in another case) and `qOther`.
    fn lookups() -> Lookups {
        Lookups::preloaded(
            Some("p"),
            vec![
                stage("pQualify", "p", 1, 10, Outcome::Open),
                stage("pWon", "p", 5, 100, Outcome::Won),
                stage("pLost", "p", 6, 0, Outcome::Lost),
                stage("qqualify", "q", 1, 15, Outcome::Open),
                stage("qOther", "q", 2, 40, Outcome::Open),
            ],
        )
    }

    fn stamp() -> Stamp<'static> {
        Stamp {
            user: "u1",
            at: NOW.to_owned(),
            today: Date::parse(TODAY).unwrap_or_else(|| Date::from_days(0)),
        }
    }

    fn deal(operation: Operation, changed: &[&str], values: Vec<(&str, Value)>) -> Change {
        Change {
            operation,
            entity_type: "deal".into(),
            id: (operation != Operation::Create).then(|| "d1".to_owned()),
            fields: fields(values),
            old_fields: Vec::new(),
            changed: changed.iter().map(|name| (*name).to_owned()).collect(),
            references: Vec::new(),
        }
    }

    fn reference(id: &str) -> Value {
        Value::Reference(id.to_owned())
    }

    fn run(change: &Change, lookups: &mut Lookups) -> Verdict {
        verdict(change, &stamp(), lookups).unwrap_or_else(|error| panic!("{}", error.summary()))
    }

    fn patched(verdict: &Verdict) -> Vec<Field> {
        match verdict {
            Verdict::Patch(fields) => fields.clone(),
            Verdict::Proceed => Vec::new(),
            Verdict::Reject(errors) => panic!("rejected: {errors:?}"),
        }
    }

    fn codes(verdict: &Verdict) -> Vec<(String, String)> {
        match verdict {
            Verdict::Reject(errors) => errors
                .iter()
                .map(|error| (error.field.clone(), error.code.clone()))
                .collect(),
            other => panic!("not rejected: {other:?}"),
        }
    }

    fn history_of(patch: &[Field]) -> Vec<Entry> {
        history::parse(patch.json("stage_history"))
    }

    #[test]
    fn a_new_deal_gets_the_default_pipeline_and_its_first_open_stage() {
        let change = deal(Operation::Create, &["name"], vec![("name", "A".into())]);
        let patch = patched(&run(&change, &mut lookups()));
        assert_eq!(patch.reference("pipeline"), Some("p"));
        assert_eq!(patch.reference("stage"), Some("pQualify"));
        assert_eq!(patch.text("status"), Some("open"));
        assert_eq!(patch.integer("probability"), Some(10));
        assert_eq!(patch.datetime("stage_entered_at"), Some(NOW));
        assert_eq!(patch.get("close_date"), None);
        let history = history_of(&patch);
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].from, None);
        assert_eq!(history[0].to.as_deref(), Some("pQualify"));
        assert_eq!(history[0].to_name.as_deref(), Some("Qualify"));
        assert_eq!(
            (history[0].at.as_str(), history[0].by.as_str()),
            (NOW, "u1")
        );
    }

    #[test]
    fn without_any_pipeline_a_deal_is_refused() {
        let mut empty = Lookups::preloaded(None, Vec::new());
        let change = deal(Operation::Create, &["name"], vec![("name", "A".into())]);
        assert_eq!(
            codes(&run(&change, &mut empty)),
            [("pipeline".to_owned(), "required".to_owned())]
        );
    }

    #[test]
    fn a_stage_of_another_pipeline_is_refused() {
        let change = deal(
            Operation::Create,
            &["name", "pipeline", "stage"],
            vec![("pipeline", reference("p")), ("stage", reference("qOther"))],
        );
        assert_eq!(
            codes(&run(&change, &mut lookups())),
            [("stage".to_owned(), "stage_not_in_pipeline".to_owned())]
        );
    }

    #[test]
    fn winning_sets_status_probability_close_date_and_appends_history() {
        let history = r#"[{"from": null, "to": "pQualify", "from_name": null,
            "to_name": "Qualify", "at": "2026-11-26T10:00:00.000Z", "by": "u0",
            "seconds_in_from": null}]"#;
        let change = deal(
            Operation::Update,
            &["stage"],
            vec![
                ("pipeline", reference("p")),
                ("stage", reference("pWon")),
                ("status", "open".into()),
                ("probability", 10.into()),
                ("stage_history", Value::Json(history.into())),
            ],
        );
        let patch = patched(&run(&change, &mut lookups()));
        assert_eq!(patch.text("status"), Some("won"));
        assert_eq!(patch.integer("probability"), Some(100));
        assert_eq!(patch.date("close_date"), Some(TODAY));
        let history = history_of(&patch);
        assert_eq!(history.len(), 2);
        assert_eq!(history[1].from.as_deref(), Some("pQualify"));
        assert_eq!(history[1].from_name.as_deref(), Some("Qualify"));
        assert_eq!(history[1].to.as_deref(), Some("pWon"));
        assert_eq!(history[1].seconds_in_from, Some(86_400));
    }

    #[test]
    fn reopening_clears_the_close_date() {
        let change = deal(
            Operation::Update,
            &["stage"],
            vec![
                ("pipeline", reference("p")),
                ("stage", reference("pQualify")),
                ("close_date", Value::Date(TODAY.into())),
                ("status", "won".into()),
            ],
        );
        let mut lookups = lookups();
        lookups.set_stored_stage("d1", Some("pWon"));
        let patch = patched(&run(&change, &mut lookups));
        assert_eq!(patch.get("close_date"), Some(&Value::Null));
        assert_eq!(patch.text("status"), Some("open"));
        assert_eq!(history_of(&patch)[0].from.as_deref(), Some("pWon"));
    }

    #[test]
    fn a_lost_deal_needs_a_reason() {
        let lost = |reason: &str| {
            deal(
                Operation::Create,
                &["name", "stage", "lost_reason"],
                vec![
                    ("stage", reference("pLost")),
                    ("lost_reason", reason.into()),
                ],
            )
        };
        assert_eq!(
            codes(&run(&lost(" "), &mut lookups())),
            [("lost_reason".to_owned(), "required_when_lost".to_owned())]
        );
        let patch = patched(&run(&lost("budget"), &mut lookups()));
        assert_eq!(patch.text("status"), Some("lost"));
    }

    #[test]
    fn fields_that_follow_the_stage_are_read_only_and_amounts_positive() {
        let change = deal(
            Operation::Update,
            &["status", "stage_history", "amount"],
            vec![
                ("pipeline", reference("p")),
                ("stage", reference("pQualify")),
                ("status", "won".into()),
                ("amount", Money::new("-1", "EUR").into()),
            ],
        );
        let codes = codes(&run(&change, &mut lookups()));
        let codes: Vec<(&str, &str)> = codes
            .iter()
            .map(|(f, c)| (f.as_str(), c.as_str()))
            .collect();
        assert_eq!(
            codes,
            [
                ("stage_history", "read_only"),
                ("status", "read_only"),
                ("amount", "negative_amount")
            ]
        );
    }

    #[test]
    fn an_unrelated_update_changes_nothing() {
        let change = deal(
            Operation::Update,
            &["name"],
            vec![
                ("pipeline", reference("p")),
                ("stage", reference("pQualify")),
                ("status", "open".into()),
                ("probability", 10.into()),
            ],
        );
        assert_eq!(run(&change, &mut lookups()), Verdict::Proceed);
    }

    #[test]
    fn changing_pipeline_keeps_the_stage_of_the_same_name() {
        // The deal as stored, in stage `stage` of `p`, now moved to pipeline `q`.
        let moved = |stage: &str, status: &str, probability: i64| {
            deal(
                Operation::Update,
                &["pipeline"],
                vec![
                    ("pipeline", reference("q")),
                    ("stage", reference(stage)),
                    ("status", status.into()),
                    ("probability", probability.into()),
                    ("close_date", Value::Date(TODAY.into())),
                ],
            )
        };
        let patch = patched(&run(&moved("pQualify", "open", 10), &mut lookups()));
        assert_eq!(patch.reference("stage"), Some("qqualify"));
        assert_eq!(patch.integer("probability"), Some(15));
        assert_eq!(history_of(&patch)[0].from_name.as_deref(), Some("Qualify"));

        let patch = patched(&run(&moved("pWon", "won", 100), &mut lookups()));
        assert_eq!(patch.get("stage"), Some(&Value::Null));
        assert_eq!(patch.text("status"), Some("open"));
        assert_eq!(patch.get("probability"), Some(&Value::Null));
        assert_eq!(patch.get("close_date"), Some(&Value::Null));
        assert_eq!(history_of(&patch)[0].to, None);
    }

    #[test]
    fn the_stages_a_batch_names_are_read_once_up_front() {
        let put =
            |operation, stage: &str| deal(operation, &["stage"], vec![("stage", reference(stage))]);
        // An amount edit of a deal that keeps its stage needs no stage at all.
        let kept = deal(
            Operation::Update,
            &["amount"],
            vec![
                ("pipeline", reference("p")),
                ("stage", reference("pWon")),
                ("status", "won".into()),
            ],
        );
        let mut other_type = put(Operation::Create, "pLost");
        other_type.entity_type = "lead".into();
        let changes = [
            put(Operation::Create, "qOther"),
            put(Operation::Update, "pQualify"),
            put(Operation::Create, "qOther"),
            kept,
            other_type,
        ];
        assert_eq!(stages_named(&changes), ["pQualify", "qOther"]);
    }

    #[test]
    fn stages_the_host_passed_along_are_not_read_again() {
        let record = |id: &str, entity_type: &str| Record {
            id: id.to_owned(),
            entity_type: entity_type.to_owned(),
            version: 1,
            owner: None,
            created_at: NOW.to_owned(),
            updated_at: NOW.to_owned(),
            fields: fields(vec![
                ("name", "Won".into()),
                ("pipeline", reference("p")),
                ("probability", 100.into()),
                ("outcome", "won".into()),
            ]),
        };
        let mut given = deal(
            Operation::Update,
            &["stage"],
            vec![("stage", reference("pWon"))],
        );
        given.references = vec![record("pWon", "stage")];
        // A record of another type under the stage's id is not taken for the stage.
        let mut mistyped = deal(
            Operation::Create,
            &["stage"],
            vec![("stage", reference("x"))],
        );
        mistyped.references = vec![record("x", "pipeline")];
        let changes = [given, mistyped];
        assert_eq!(stages_named(&changes), ["x"]);
        let stages: Vec<Stage> = stages_given(&changes).collect();
        assert_eq!(stages.len(), 1);
        assert_eq!(
            (stages[0].id.as_str(), stages[0].probability),
            ("pWon", 100)
        );
        assert_eq!(stages[0].outcome, Outcome::Won);
    }
}
