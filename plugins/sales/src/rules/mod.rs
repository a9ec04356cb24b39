//! The before-save hook: deals follow their stage (`deal`), stages keep a probability that is
//! a percentage, and leads become `converted` only through the convert action.

mod deal;
mod lookups;

use plugin_sdk::chrono::{DateTime, NaiveDate, Utc};
use plugin_sdk::prelude::*;

use lookups::Lookups;

/// Who writes and when, the same for every change of one call.
pub struct Stamp<'a> {
    pub user: &'a str,
    pub at: DateTime<Utc>,
    /// The UTC day of `at`.
    pub today: NaiveDate,
}

/// One verdict per change, in order. Lookups are shared by the whole batch (a before-save
/// call has 100 host calls for up to 100 changes): a batch of deals put in stages of their
/// pipelines costs one query at most, and none when the host passed the stages along
/// (`references = ["stage"]` in plugin.toml). The stage a deal leaves is its old value, which
/// comes with the change (`Change::old`).
pub fn before_save(ctx: &Context, changes: &[Change]) -> Result<Vec<Verdict>, HostError> {
    let at = clock::now();
    let stamp = Stamp {
        user: &ctx.user,
        at,
        today: at.date_naive(),
    };
    let mut lookups = Lookups::new(&deal::stages_named(changes), deal::stages_given(changes))?;
    changes
        .iter()
        .map(|change| verdict(change, &stamp, &mut lookups))
        .collect()
}

fn verdict(change: &Change, stamp: &Stamp, lookups: &mut Lookups) -> Result<Verdict, HostError> {
    if change.is_delete() {
        return Ok(Verdict::Proceed);
    }
    Ok(match change.entity_type.as_str() {
        "deal" => deal::verdict(change, stamp, lookups)?,
        "stage" => stage_verdict(change),
        "lead" => lead_verdict(change),
        _ => Verdict::Proceed,
    })
}

/// A stage's probability is a percentage.
fn stage_verdict(change: &Change) -> Verdict {
    match change.integer("probability") {
        Some(probability) if !(0..=100).contains(&probability) => Verdict::reject_field(
            "probability",
            "out_of_range",
            "a stage's probability is a percentage, from 0 to 100",
        ),
        _ => Verdict::Proceed,
    }
}

/// A lead is converted by the convert action, which creates the contact it links; setting the
/// status by hand would leave a converted lead without one.
fn lead_verdict(change: &Change) -> Verdict {
    let converted = change.text("status") == Some("converted");
    if converted && change.reference("converted_contact").is_none() {
        Verdict::reject_field(
            "status",
            "use_convert_action",
            "run the convert action to convert a lead",
        )
    } else {
        Verdict::Proceed
    }
}

#[cfg(test)]
mod tests {
    use plugin_sdk::testing::TestHost;

    use super::*;

    fn rejected_code(verdict: &Verdict) -> Option<&str> {
        match verdict {
            Verdict::Reject(errors) => errors.first().map(|error| error.code.as_str()),
            _ => None,
        }
    }

    #[test]
    fn stage_probability_must_be_a_percentage() {
        let stage = |p: i64| TestHost::create_change("stage", fields([("probability", p)]));
        assert_eq!(
            rejected_code(&stage_verdict(&stage(101))),
            Some("out_of_range")
        );
        assert_eq!(
            rejected_code(&stage_verdict(&stage(-1))),
            Some("out_of_range")
        );
        assert_eq!(stage_verdict(&stage(0)), Verdict::Proceed);
        assert_eq!(stage_verdict(&stage(100)), Verdict::Proceed);
    }

    #[test]
    fn leads_are_converted_by_the_action_only() {
        let host = TestHost::from_manifest(include_str!("../../plugin.toml")).install();
        let lead = host.insert(
            "lead",
            fields([("last_name", "Lovelace"), ("status", "working")]),
        );
        let by_hand = TestHost::update_change(&lead, fields([("status", "converted")]));
        let by_action = TestHost::update_change(
            &lead,
            fields([
                ("status", Value::from("converted")),
                ("converted_contact", Value::Reference("c1".into())),
            ]),
        );
        let verdicts = before_save(&host.context(), &[by_hand, by_action]);
        let verdicts = verdicts.unwrap_or_else(|error| panic!("{}", error.summary()));
        assert_eq!(rejected_code(&verdicts[0]), Some("use_convert_action"));
        assert_eq!(verdicts[1], Verdict::Proceed);
    }
}
