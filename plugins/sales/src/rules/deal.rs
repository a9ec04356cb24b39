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
    // The stage before the write: none for a create (the host sends the old values along).
    let previous = change
        .old("stage")
        .and_then(Value::as_reference)
        .map(str::to_owned);
    let stage = target_stage(change, &pipeline, lookups)?;
    let stage_id = stage.as_ref().map(|stage| stage.id.as_str());
    patch.set_unless_same(
        change,
        "stage",
        stage_id.map_or(Value::Null, Value::reference),
    );
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
        let entry = history::next_entry(&history, from, to, stamp.at, stamp.user);
        patch.set("stage_entered_at", Value::from(stamp.at));
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
        patch.set("close_date", Value::from(stamp.today));
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
    patch.set("pipeline", Value::reference(&id));
    Ok(id)
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
        patch.set("close_date", Value::from(stamp.today));
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
    use std::collections::BTreeMap;

    use plugin_sdk::chrono::DateTime;
    use plugin_sdk::serde_json::json;
    use plugin_sdk::testing::{Installed, TestHost};

    use super::*;
    use crate::rules::before_save;

    const MANIFEST: &str = include_str!("../../plugin.toml");
    const TODAY: &str = "2026-11-27";
    const NOW: &str = "2026-11-27T10:00:00.000Z";

    /// A test host whose clock says [`NOW`], with two pipelines: `sales` (the default) with
    /// stages Qualify (10 %), Won and Lost, and `other` with qualify (the same name in another
    /// case) and Other.
    struct Workspace {
        host: Installed,
        sales: String,
        other: String,
        stages: BTreeMap<&'static str, String>,
    }

    fn host() -> Installed {
        let now = DateTime::parse_from_rfc3339(NOW).map_or(0, |at| at.timestamp_micros());
        TestHost::from_manifest(MANIFEST).at(now).install()
    }

    fn workspace() -> Workspace {
        let host = host();
        let pipeline = |name: &str, is_default: bool| {
            let values = fields([
                ("name", Value::from(name)),
                ("is_default", is_default.into()),
            ]);
            host.insert("pipeline", values).id
        };
        let (sales, other) = (pipeline("Sales", true), pipeline("Other", false));
        let mut stages = BTreeMap::new();
        for (name, pipeline, position, probability, outcome) in [
            ("Qualify", &sales, 1, 10, "open"),
            ("Won", &sales, 5, 100, "won"),
            ("Lost", &sales, 6, 0, "lost"),
            ("qualify", &other, 1, 15, "open"),
            ("Other", &other, 2, 40, "open"),
        ] {
            let stage = host.insert(
                "stage",
                stage_fields(name, pipeline, position, probability, outcome),
            );
            stages.insert(name, stage.id);
        }
        Workspace {
            host,
            sales,
            other,
            stages,
        }
    }

    fn stage_fields(
        name: &str,
        pipeline: &str,
        position: i64,
        probability: i64,
        outcome: &str,
    ) -> Vec<Field> {
        fields([
            ("name", Value::from(name)),
            ("pipeline", Value::reference(pipeline)),
            ("position", position.into()),
            ("probability", probability.into()),
            ("outcome", outcome.into()),
        ])
    }

    impl Workspace {
        fn stage(&self, name: &str) -> &str {
            self.stages.get(name).map_or("", String::as_str)
        }

        /// A deal as stored, in the sales pipeline.
        fn deal(&self, values: Vec<(&str, Value)>) -> Record {
            let mut values = fields(values);
            values.push(Field::new("pipeline", Value::reference(&self.sales)));
            self.host.insert("deal", values)
        }

        fn run(&self, change: Change) -> Verdict {
            run(&self.host, change)
        }
    }

    fn run(host: &Installed, change: Change) -> Verdict {
        let verdicts = before_save(&host.context(), &[change]);
        let mut verdicts = verdicts.unwrap_or_else(|error| panic!("{}", error.summary()));
        verdicts.remove(0)
    }

    fn create(values: Vec<(&str, Value)>) -> Change {
        TestHost::create_change("deal", fields(values))
    }

    fn update(deal: &Record, patch: Vec<(&str, Value)>) -> Change {
        TestHost::update_change(deal, fields(patch))
    }

    fn patched(verdict: &Verdict) -> Vec<Field> {
        match verdict {
            Verdict::Patch(fields) => fields.clone(),
            Verdict::Proceed => Vec::new(),
            Verdict::Reject(errors) => panic!("rejected: {errors:?}"),
        }
    }

    fn codes(verdict: &Verdict) -> Vec<(&str, &str)> {
        match verdict {
            Verdict::Reject(errors) => errors
                .iter()
                .map(|error| (error.field.as_str(), error.code.as_str()))
                .collect(),
            other => panic!("not rejected: {other:?}"),
        }
    }

    fn history_of(patch: &[Field]) -> Vec<Entry> {
        history::parse(patch.json("stage_history"))
    }

    #[test]
    fn a_new_deal_gets_the_default_pipeline_and_its_first_open_stage() {
        let ws = workspace();
        let patch = patched(&ws.run(create(vec![("name", "A".into())])));
        assert_eq!(patch.reference("pipeline"), Some(ws.sales.as_str()));
        assert_eq!(patch.reference("stage"), Some(ws.stage("Qualify")));
        assert_eq!(patch.text("status"), Some("open"));
        assert_eq!(patch.integer("probability"), Some(10));
        assert_eq!(patch.datetime("stage_entered_at"), Some(NOW));
        assert_eq!(patch.get("close_date"), None);
        let history = history_of(&patch);
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].from, None);
        assert_eq!(history[0].to.as_deref(), Some(ws.stage("Qualify")));
        assert_eq!(history[0].to_name.as_deref(), Some("Qualify"));
        assert_eq!(
            (history[0].at.as_str(), history[0].by.as_str()),
            (NOW, "test-user")
        );
    }

    #[test]
    fn without_any_pipeline_a_deal_is_refused() {
        let verdict = run(&host(), create(vec![("name", "A".into())]));
        assert_eq!(codes(&verdict), [("pipeline", "required")]);
    }

    #[test]
    fn a_stage_of_another_pipeline_is_refused() {
        let ws = workspace();
        let change = create(vec![
            ("pipeline", Value::reference(&ws.sales)),
            ("stage", Value::reference(ws.stage("Other"))),
        ]);
        assert_eq!(codes(&ws.run(change)), [("stage", "stage_not_in_pipeline")]);
    }

    #[test]
    fn winning_sets_status_probability_close_date_and_appends_history() {
        let ws = workspace();
        let history = json!([{"from": null, "to": ws.stage("Qualify"), "from_name": null,
            "to_name": "Qualify", "at": "2026-11-26T10:00:00.000Z", "by": "u0",
            "seconds_in_from": null}]);
        let deal = ws.deal(vec![
            ("stage", Value::reference(ws.stage("Qualify"))),
            ("status", "open".into()),
            ("probability", 10.into()),
            ("stage_history", Value::Json(history.to_string())),
        ]);
        let patch = patched(&ws.run(update(
            &deal,
            vec![("stage", Value::reference(ws.stage("Won")))],
        )));
        assert_eq!(patch.text("status"), Some("won"));
        assert_eq!(patch.integer("probability"), Some(100));
        assert_eq!(patch.date("close_date"), Some(TODAY));
        let history = history_of(&patch);
        assert_eq!(history.len(), 2);
        assert_eq!(history[1].from.as_deref(), Some(ws.stage("Qualify")));
        assert_eq!(history[1].from_name.as_deref(), Some("Qualify"));
        assert_eq!(history[1].to.as_deref(), Some(ws.stage("Won")));
        assert_eq!(history[1].seconds_in_from, Some(86_400));
    }

    #[test]
    fn reopening_clears_the_close_date() {
        // A won deal without history (saved while the plugin was off): the stage it leaves is
        // the one it had before the write.
        let ws = workspace();
        let deal = ws.deal(vec![
            ("stage", Value::reference(ws.stage("Won"))),
            ("close_date", Value::Date(TODAY.into())),
            ("status", "won".into()),
        ]);
        let patch = patched(&ws.run(update(
            &deal,
            vec![("stage", Value::reference(ws.stage("Qualify")))],
        )));
        assert_eq!(patch.get("close_date"), Some(&Value::Null));
        assert_eq!(patch.text("status"), Some("open"));
        let history = history_of(&patch);
        assert_eq!(history[0].from.as_deref(), Some(ws.stage("Won")));
        assert_eq!(history[0].from_name.as_deref(), Some("Won"));
    }

    #[test]
    fn a_lost_deal_needs_a_reason() {
        let ws = workspace();
        let lost = |reason: &str| {
            create(vec![
                ("stage", Value::reference(ws.stage("Lost"))),
                ("lost_reason", reason.into()),
            ])
        };
        assert_eq!(
            codes(&ws.run(lost(" "))),
            [("lost_reason", "required_when_lost")]
        );
        let patch = patched(&ws.run(lost("budget")));
        assert_eq!(patch.text("status"), Some("lost"));
    }

    #[test]
    fn fields_that_follow_the_stage_are_read_only_and_amounts_positive() {
        let ws = workspace();
        let deal = ws.deal(vec![("stage", Value::reference(ws.stage("Qualify")))]);
        let change = update(
            &deal,
            vec![
                ("status", "won".into()),
                ("stage_history", Value::Json("[]".into())),
                ("amount", Money::new("-1", "EUR").into()),
            ],
        );
        assert_eq!(
            codes(&ws.run(change)),
            [
                ("stage_history", "read_only"),
                ("status", "read_only"),
                ("amount", "negative_amount")
            ]
        );
    }

    #[test]
    fn an_unrelated_update_changes_nothing() {
        let ws = workspace();
        let deal = ws.deal(vec![
            ("stage", Value::reference(ws.stage("Qualify"))),
            ("status", "open".into()),
            ("probability", 10.into()),
        ]);
        assert_eq!(
            ws.run(update(&deal, vec![("name", "B".into())])),
            Verdict::Proceed
        );
    }

    #[test]
    fn changing_pipeline_keeps_the_stage_of_the_same_name() {
        let ws = workspace();
        // A deal in `stage` of the sales pipeline, moved to the other pipeline.
        let moved = |stage: &str, status: &str, probability: i64| {
            let deal = ws.deal(vec![
                ("stage", Value::reference(ws.stage(stage))),
                ("status", status.into()),
                ("probability", probability.into()),
                ("close_date", Value::Date(TODAY.into())),
            ]);
            ws.run(update(
                &deal,
                vec![("pipeline", Value::reference(&ws.other))],
            ))
        };
        let patch = patched(&moved("Qualify", "open", 10));
        assert_eq!(patch.reference("stage"), Some(ws.stage("qualify")));
        assert_eq!(patch.integer("probability"), Some(15));
        assert_eq!(history_of(&patch)[0].from_name.as_deref(), Some("Qualify"));

        let patch = patched(&moved("Won", "won", 100));
        assert_eq!(patch.get("stage"), Some(&Value::Null));
        assert_eq!(patch.text("status"), Some("open"));
        assert_eq!(patch.get("probability"), Some(&Value::Null));
        assert_eq!(patch.get("close_date"), Some(&Value::Null));
        assert_eq!(history_of(&patch)[0].to, None);
    }

    #[test]
    fn the_stages_a_batch_names_are_read_once_up_front() {
        let ws = workspace();
        let put = |stage: &str| create(vec![("stage", Value::reference(ws.stage(stage)))]);
        let qualifying = ws.deal(vec![("name", "B".into())]);
        // An amount edit of a deal that keeps its stage needs no stage at all.
        let won = ws.deal(vec![
            ("stage", Value::reference(ws.stage("Won"))),
            ("status", "won".into()),
        ]);
        let mut other_type = put("Lost");
        other_type.entity_type = "lead".into();
        let changes = [
            put("Other"),
            update(
                &qualifying,
                vec![("stage", Value::reference(ws.stage("Qualify")))],
            ),
            put("Other"),
            update(&won, vec![("amount", Money::new("5", "EUR").into())]),
            other_type,
        ];
        let mut expected = [ws.stage("Qualify"), ws.stage("Other")];
        expected.sort_unstable();
        assert_eq!(stages_named(&changes), expected);
    }

    #[test]
    fn stages_the_host_passed_along_are_not_read_again() {
        // The stage comes with the change (`references`): the host has no stage to read.
        let won = {
            let elsewhere = TestHost::from_manifest(MANIFEST).install();
            elsewhere.insert("stage", stage_fields("Won", "p", 5, 100, "won"))
        };
        let host = host();
        let pipeline = Value::reference("p");
        let mut given = create(vec![
            ("pipeline", pipeline.clone()),
            ("stage", Value::reference(&won.id)),
        ]);
        given.references = vec![won.clone()];
        let patch = patched(&run(&host, given.clone()));
        assert_eq!(patch.text("status"), Some("won"));
        assert_eq!(patch.integer("probability"), Some(100));

        // A record of another type under the stage's id is not taken for the stage.
        let mut mistyped = create(vec![
            ("pipeline", pipeline),
            ("stage", Value::reference("x")),
        ]);
        mistyped.references = vec![Record {
            id: "x".into(),
            entity_type: "pipeline".into(),
            ..won
        }];
        let changes = [given, mistyped];
        assert_eq!(stages_named(&changes), ["x"]);
        let stages: Vec<Stage> = stages_given(&changes).collect();
        assert_eq!(stages.len(), 1);
        assert_eq!(
            (stages[0].id.as_str(), stages[0].outcome),
            (won.id.as_str(), Outcome::Won)
        );
    }
}
