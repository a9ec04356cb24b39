//! A deal's stage history: the entries the before-save hook appends to the `stage_history`
//! json field on every stage change, and the view of them that the history route and panel
//! show, with the time spent in each stage.

use plugin_sdk::chrono::{DateTime, SecondsFormat, Utc};
use plugin_sdk::prelude::*;
use plugin_sdk::serde_json;
use serde::{Deserialize, Serialize};

/// One stage change of a deal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The stage left (`None`: the deal had none, e.g. when created).
    pub from: Option<String>,
    /// The stage entered (`None`: the stage was cleared).
    pub to: Option<String>,
    #[serde(default)]
    pub from_name: Option<String>,
    #[serde(default)]
    pub to_name: Option<String>,
    /// When, RFC 3339 UTC with milliseconds, as the host writes datetimes.
    pub at: String,
    /// The user whose write moved the deal.
    #[serde(default)]
    pub by: String,
    /// How long the deal was in `from`: since the previous entry; `None` for the first.
    #[serde(default)]
    pub seconds_in_from: Option<i64>,
}

/// A stage as the history names it; both parts are `None` for "no stage".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageName {
    pub id: Option<String>,
    pub name: Option<String>,
}

/// The entries of a stored `stage_history`. A value that is not a list of entries (written
/// before the plugin, or by hand through a grant that bypassed the hook) starts afresh.
pub fn parse(json: Option<&str>) -> Vec<Entry> {
    json.and_then(|text| serde_json::from_str(text).ok())
        .unwrap_or_default()
}

/// The entry recording a move from `from` to `to` at `now` by `user`.
pub fn next_entry(
    history: &[Entry],
    from: StageName,
    to: StageName,
    now: DateTime<Utc>,
    user: &str,
) -> Entry {
    let seconds_in_from = history
        .last()
        .and_then(|last| Some(seconds_between(instant(&last.at)?, now)));
    Entry {
        from: from.id,
        to: to.id,
        from_name: from.name,
        to_name: to.name,
        at: now.to_rfc3339_opts(SecondsFormat::Millis, true),
        by: user.to_owned(),
        seconds_in_from,
    }
}

/// The instant of an RFC 3339 text.
fn instant(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|at| at.with_timezone(&Utc))
}

/// Whole seconds from one instant to another, rounded down.
fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to.timestamp_micros() - from.timestamp_micros()).div_euclid(1_000_000)
}

/// The history with `entry` appended, as the json field's value.
pub fn appended(mut history: Vec<Entry>, entry: Entry) -> Value {
    history.push(entry);
    // A list of plain structs always serializes.
    Value::Json(serde_json::to_string(&history).unwrap_or_else(|_| "[]".to_owned()))
}

/// An entry and how long the deal stayed in the stage it entered: until the next entry, or
/// until now for the last one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimedEntry {
    #[serde(flatten)]
    pub entry: Entry,
    pub seconds_in_stage: Option<i64>,
}

/// The deal's current stage and how long it has been in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Current {
    pub stage: Option<String>,
    pub name: Option<String>,
    /// `stage_entered_at`.
    pub since: Option<String>,
    pub seconds: Option<i64>,
}

/// What `GET /deals/{id}/history` answers and the stage-history panel shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryView {
    pub deal: String,
    pub current: Current,
    pub history: Vec<TimedEntry>,
}

/// The history of `deal` at `now`, naming its current stage after the stage record (renamed
/// stages show their new name), else after the last entry.
pub fn load(deal: &Record, now: DateTime<Utc>) -> Result<HistoryView, HostError> {
    let name = match deal.reference("stage") {
        Some(id) => records::get("stage", id)?.and_then(|s| s.text("name").map(str::to_owned)),
        None => None,
    };
    Ok(view(deal, name, now))
}

/// The history view of `deal`, given its current stage's name.
pub fn view(deal: &Record, stage_name: Option<String>, now: DateTime<Utc>) -> HistoryView {
    let entries = parse(deal.json("stage_history"));
    let stage = deal.reference("stage").map(str::to_owned);
    let name = stage_name.or_else(|| {
        entries
            .last()
            .filter(|last| last.to == stage)
            .and_then(|last| last.to_name.clone())
    });
    let since = deal.datetime("stage_entered_at").map(str::to_owned);
    let seconds = (deal.instant("stage_entered_at")).map(|at| seconds_between(at, now));
    HistoryView {
        deal: deal.id.clone(),
        current: Current {
            stage,
            name,
            since,
            seconds,
        },
        history: timed(entries, now),
    }
}

fn timed(entries: Vec<Entry>, now: DateTime<Utc>) -> Vec<TimedEntry> {
    let ends: Vec<Option<DateTime<Utc>>> = entries
        .iter()
        .skip(1)
        .map(|entry| instant(&entry.at))
        .chain([Some(now)])
        .collect();
    entries
        .into_iter()
        .zip(ends)
        .map(|(entry, end)| {
            let seconds_in_stage = instant(&entry.at)
                .zip(end)
                .map(|(start, end)| seconds_between(start, end));
            TimedEntry {
                entry,
                seconds_in_stage,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use plugin_sdk::chrono::TimeDelta;
    use plugin_sdk::testing::TestHost;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        instant(text).unwrap_or_else(|| panic!("{text}"))
    }

    fn name(id: &str) -> StageName {
        StageName {
            id: Some(id.to_owned()),
            name: Some(id.to_uppercase()),
        }
    }

    #[test]
    fn entries_chain_their_durations() {
        let first = next_entry(
            &[],
            StageName::default(),
            name("a"),
            at("2026-11-01T00:00:00Z"),
            "u1",
        );
        assert_eq!(first.seconds_in_from, None);
        assert_eq!(first.at, "2026-11-01T00:00:00.000Z");
        assert_eq!(
            (first.from.as_deref(), first.to_name.as_deref()),
            (None, Some("A"))
        );
        let second = next_entry(
            std::slice::from_ref(&first),
            name("a"),
            name("b"),
            at("2026-11-02T00:00:30.999999Z"),
            "u2",
        );
        assert_eq!(second.seconds_in_from, Some(86_430));
        assert_eq!(second.at, "2026-11-02T00:00:30.999Z");
        let Value::Json(text) = appended(vec![first.clone()], second.clone()) else {
            panic!("a json value");
        };
        assert_eq!(parse(Some(&text)), [first, second]);
        assert_eq!(parse(Some("{\"not\": \"a list\"}")), []);
        assert_eq!(parse(None), []);
    }

    #[test]
    fn durations_round_down_even_backwards() {
        let start = at("2026-11-01T00:00:00Z");
        assert_eq!(
            seconds_between(start, start + TimeDelta::milliseconds(2500)),
            2
        );
        assert_eq!(
            seconds_between(start, start - TimeDelta::microseconds(1_000_500)),
            -2
        );
    }

    #[test]
    fn view_times_each_stage_until_the_next_or_now() {
        let history = r#"[
            {"from": null, "to": "a", "from_name": null, "to_name": "A",
             "at": "2026-11-01T00:00:00.000Z", "by": "u", "seconds_in_from": null},
            {"from": "a", "to": "b", "from_name": "A", "to_name": "B",
             "at": "2026-11-01T01:00:00.000Z", "by": "u", "seconds_in_from": 3600}
        ]"#;
        let host = TestHost::from_manifest(include_str!("../plugin.toml")).install();
        let deal = host.insert(
            "deal",
            fields([
                ("stage", Value::Reference("b".into())),
                (
                    "stage_entered_at",
                    Value::Datetime("2026-11-01T01:00:00.000Z".into()),
                ),
                ("stage_history", Value::Json(history.into())),
            ]),
        );
        let view = view(&deal, None, at("2026-11-01T01:00:10.500Z"));
        assert_eq!(view.current.name.as_deref(), Some("B"));
        assert_eq!(view.current.seconds, Some(10));
        let seconds: Vec<Option<i64>> = view.history.iter().map(|e| e.seconds_in_stage).collect();
        assert_eq!(seconds, [Some(3600), Some(10)]);
        let json = serde_json::to_value(&view).unwrap_or_default();
        assert_eq!(json["history"][1]["to_name"], "B");
        assert_eq!(json["history"][1]["seconds_in_stage"], 10);
        assert_eq!(json["current"]["since"], "2026-11-01T01:00:00.000Z");
    }
}
