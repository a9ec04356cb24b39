//! The `demo` action: sample data to try the plugin with — an "Enterprise" pipeline next to
//! the default one, leads in every status (a few converted), and deals across both pipelines
//! closing from three months ago to six months ahead, linked to the workspace's companies and
//! contacts. It runs once per workspace (kv `demo_done`) and the same seed gives the same
//! data. About 150 writes, well under an action's 1,000.

use plugin_sdk::chrono::{Datelike, Days, NaiveDate, SecondsFormat};
use plugin_sdk::prelude::*;
use serde::{Deserialize, Serialize};

use crate::convert::{self, Options};
use crate::month::Month;
use crate::pipeline::{self, Outcome, Stage, StageSpec, spec};
use crate::store;

/// Set once the demo data exists.
const DONE_KEY: &str = "demo_done";
const LEADS: usize = 40;
const DEALS: usize = 80;
/// Qualified leads converted (without a deal: the deals are made separately).
const CONVERSIONS: usize = 4;

const ENTERPRISE_STAGES: [StageSpec; 7] = [
    spec("Discovery", 10, Outcome::Open),
    spec("Solution design", 25, Outcome::Open),
    spec("Proposal", 50, Outcome::Open),
    spec("Security review", 65, Outcome::Open),
    spec("Negotiation", 80, Outcome::Open),
    spec("Won", 100, Outcome::Won),
    spec("Lost", 0, Outcome::Lost),
];

const FIRST_NAMES: &[&str] = &[
    "Ada", "Ben", "Chloé", "David", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kenji",
    "Lena", "Malik", "Nora", "Oskar", "Priya", "Rosa", "Sven", "Tariq", "Uma",
];
const LAST_NAMES: &[&str] = &[
    "Andersen", "Becker", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Hansen", "Ito",
    "Jansen", "Kowalski", "Larsen", "Moreau", "Novak", "Okafor", "Petrov", "Rossi", "Schmidt",
];
const COMPANIES: &[&str] = &[
    "Northwind Traders",
    "Bluebird Logistics",
    "Helios Energy",
    "Kestrel Analytics",
    "Lumen Health",
    "Meridian Foods",
    "Orbit Robotics",
    "Quarry Labs",
    "Tidewater Bank",
    "Vantage Media",
];
const TITLES: &[&str] = &[
    "CEO",
    "CTO",
    "Head of Sales",
    "Operations Manager",
    "Procurement Lead",
    "IT Director",
];
const PRODUCTS: &[&str] = &[
    "annual licence",
    "pilot",
    "expansion",
    "support renewal",
    "onboarding package",
    "platform upgrade",
];
const LOST_REASONS: &[&str] = &[
    "Budget cut",
    "Chose a competitor",
    "No decision",
    "Timing",
    "Missing feature",
];
/// Lead statuses, as often as they should occur (converted ones come from conversions).
const LEAD_STATUSES: &[&str] = &[
    "new",
    "new",
    "new",
    "working",
    "working",
    "working",
    "qualified",
    "qualified",
    "qualified",
    "disqualified",
];
const SOURCES: &[&str] = &["web", "referral", "event", "outbound", "partner", "other"];

/// The action's input: `{"seed": n}` (optional), or `null`.
#[derive(Debug, Default, Deserialize)]
pub struct Input {
    #[serde(default)]
    seed: Option<u64>,
}

/// The action's answer: whether it created the demo data (`reason` says why not), and what.
#[derive(Debug, Default, Serialize)]
pub struct Created {
    created: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
    pipelines: usize,
    stages: usize,
    leads: usize,
    converted: usize,
    deals: usize,
}

/// A small deterministic generator (SplitMix64): the same seed, the same demo.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    fn between(&mut self, low: i64, high: i64) -> i64 {
        let span = high.abs_diff(low) + 1;
        // `span` is small, so the remainder fits an i64.
        low + (self.next() % span) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        let len = u64::try_from(items.len()).ok().filter(|len| *len > 0)?;
        usize::try_from(self.next() % len)
            .ok()
            .and_then(|i| items.get(i))
    }

    fn pick_str(&mut self, items: &[&'static str]) -> &'static str {
        self.pick(items).copied().unwrap_or_default()
    }
}

/// Runs the action: what was created, or that nothing was.
pub fn run(input: Option<Input>) -> Result<Created, ActionError> {
    if kv::get(DONE_KEY)?.is_some() {
        return Ok(Created {
            reason: Some("the demo data exists already"),
            ..Created::default()
        });
    }
    create(input.unwrap_or_default())
}

/// Creates the demo data and marks it done.
fn create(input: Input) -> Result<Created, ActionError> {
    let mut rng = Rng(input.seed.unwrap_or(1));
    let now = clock::now();
    let today = now.date_naive();
    let mut created = Created {
        created: true,
        ..Created::default()
    };
    let pipelines = [
        sales_pipeline(&mut created)?,
        enterprise_pipeline(&mut created)?,
    ];
    let people = People::load()?;
    let leads = create_leads(&mut rng, &mut created)?;
    convert_some(&leads, &mut created)?;
    for _ in 0..DEALS {
        let fields = deal_fields(&mut rng, &pipelines, &people, today);
        records::create("deal", &fields)?;
        created.deals += 1;
    }
    kv::set_text(DONE_KEY, &now.to_rfc3339_opts(SecondsFormat::Millis, true))?;
    Ok(created)
}

/// A pipeline and its stages, for placing deals.
struct PipelineStages {
    id: String,
    stages: Vec<Stage>,
}

/// The default pipeline (created as on enable if the workspace has none).
fn sales_pipeline(created: &mut Created) -> Result<PipelineStages, HostError> {
    if pipeline::ensure_default()? {
        created.pipelines += 1;
        created.stages += pipeline::SALES_STAGES.len();
    }
    let id = pipeline::default_pipeline()?.unwrap_or_default();
    let stages = pipeline::stages_of(&id)?;
    Ok(PipelineStages { id, stages })
}

/// The "Enterprise" pipeline, created unless one of that name exists.
fn enterprise_pipeline(created: &mut Created) -> Result<PipelineStages, HostError> {
    let enterprise = Query::new().filter(Filter::eq("name", "Enterprise"));
    if let Some(existing) = records::first("pipeline", enterprise)? {
        let stages = pipeline::stages_of(&existing.id)?;
        return Ok(PipelineStages {
            id: existing.id,
            stages,
        });
    }
    let (id, stages) = pipeline::create("Enterprise", false, &ENTERPRISE_STAGES)?;
    created.pipelines += 1;
    created.stages += stages.len();
    Ok(PipelineStages { id, stages })
}

/// The workspace's companies and contacts that deals may link to.
struct People {
    companies: Vec<Record>,
    contacts: Vec<Record>,
}

impl People {
    fn load() -> Result<People, HostError> {
        let first =
            |entity| Ok::<_, HostError>(records::find(entity, &Query::new().limit(100))?.records);
        Ok(People {
            companies: first("company")?,
            contacts: first("contact")?,
        })
    }
}

fn create_leads(rng: &mut Rng, created: &mut Created) -> Result<Vec<Record>, HostError> {
    (0..LEADS)
        .map(|_| {
            let lead = records::create("lead", &lead_fields(rng))?;
            created.leads += 1;
            Ok(lead)
        })
        .collect()
}

/// A lead: someone at one of the sample companies, or with a free-mail address.
fn lead_fields(rng: &mut Rng) -> Vec<Field> {
    let first = rng.pick_str(FIRST_NAMES);
    let last = rng.pick_str(LAST_NAMES);
    let mut values = vec![
        Field::new("first_name", first),
        Field::new("last_name", last),
        Field::new("title", rng.pick_str(TITLES)),
        Field::new("source", rng.pick_str(SOURCES)),
        Field::new("status", rng.pick_str(LEAD_STATUSES)),
        Field::new(
            "phone",
            format!("+49 30 {}", rng.between(1_000_000, 9_999_999)),
        ),
    ];
    let local = ascii_slug(&format!("{first}.{last}"), '.');
    if rng.chance(70) {
        let company = rng.pick_str(COMPANIES);
        let domain = format!("{}.example", ascii_slug(company, '-'));
        values.push(Field::new("email", format!("{local}@{domain}")));
        values.push(Field::new("company_name", company));
        values.push(Field::new("domain", domain));
    } else {
        values.push(Field::new("email", format!("{local}@gmail.com")));
    }
    if rng.chance(50) {
        let amount = format!("{}.00", rng.between(4, 100) * 1000);
        values.push(Field::new("expected_amount", Money::new(amount, "EUR")));
    }
    values
}

/// Lowercase ASCII letters and digits (accents dropped), other runs of characters as
/// `separator`: `"Chloé.Dubois"` → `"chloe.dubois"` with `.`.
fn ascii_slug(text: &str, separator: char) -> String {
    let mut slug = String::new();
    for c in text.chars().map(fold_accent) {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with(separator) {
            slug.push(separator);
        }
    }
    slug.trim_end_matches(separator).to_owned()
}

/// The letter without its accent, for the accented letters of Latin alphabets.
fn fold_accent(c: char) -> char {
    const FOLDS: [(&str, char); 7] = [
        ("àáâäãå", 'a'),
        ("çć", 'c'),
        ("èéêë", 'e'),
        ("ìíîï", 'i'),
        ("ñń", 'n'),
        ("òóôöõø", 'o'),
        ("ùúûü", 'u'),
    ];
    let lower = c.to_lowercase().next().unwrap_or(c);
    FOLDS
        .iter()
        .find(|(accented, _)| accented.contains(lower))
        .map_or(c, |(_, plain)| *plain)
}

/// Converts the first few qualified leads, as a user would with the convert action.
fn convert_some(leads: &[Record], created: &mut Created) -> Result<(), ActionError> {
    let options = Options {
        create_deal: false,
        ..Options::default()
    };
    let qualified = leads
        .iter()
        .filter(|lead| lead.text("status") == Some("qualified"));
    for lead in qualified.take(CONVERSIONS) {
        convert::convert(lead, &options)?;
        created.converted += 1;
    }
    Ok(())
}

/// A deal in one of the pipelines: mostly open, some won, some lost (with a reason); mostly
/// in EUR; closing within three months back and six ahead (closed ones not in the future).
fn deal_fields(
    rng: &mut Rng,
    pipelines: &[PipelineStages],
    people: &People,
    today: NaiveDate,
) -> Vec<Field> {
    let pipeline = if rng.chance(60) {
        pipelines.first()
    } else {
        pipelines.last()
    };
    let outcome = match rng.between(1, 100) {
        1..=20 => Outcome::Won,
        21..=32 => Outcome::Lost,
        _ => Outcome::Open,
    };
    let stage = pipeline.and_then(|pipeline| pick_stage(rng, &pipeline.stages, outcome));
    let outcome = stage.map_or(Outcome::Open, |stage| stage.outcome);
    let months_ahead = if outcome.is_closed() {
        rng.between(-3, 0)
    } else {
        rng.between(-3, 6)
    };
    let month = Month::of(today).plus(months_ahead).first_day();
    let day = rng.between(1, month.num_days_in_month().into());
    let close = month + Days::new(day.unsigned_abs() - 1);
    let currency = if rng.chance(85) { "EUR" } else { "USD" };
    let amount = format!("{}.00", rng.between(4, 240) * 500);
    let (company, contact) = pick_people(rng, people);
    let company_name = company.map_or_else(|| rng.pick_str(COMPANIES).to_owned(), store::title);
    let mut values = vec![
        Field::new(
            "name",
            format!("{company_name} – {}", rng.pick_str(PRODUCTS)),
        ),
        Field::new("amount", Money::new(amount, currency)),
        Field::new("expected_close", close),
    ];
    if let Some(pipeline) = pipeline {
        values.push(Field::new("pipeline", Value::reference(&pipeline.id)));
    }
    if let Some(stage) = stage {
        values.push(Field::new("stage", Value::reference(&stage.id)));
    }
    if outcome.is_closed() {
        values.push(Field::new("close_date", close.min(today)));
    }
    if outcome == Outcome::Lost {
        values.push(Field::new("lost_reason", rng.pick_str(LOST_REASONS)));
    }
    if let Some(company) = company {
        values.push(Field::new("company", Value::reference(&company.id)));
    }
    if let Some(contact) = contact {
        values.push(Field::new("contact", Value::reference(&contact.id)));
    }
    values
}

/// A stage with this outcome, else any open one.
fn pick_stage<'a>(rng: &mut Rng, stages: &'a [Stage], outcome: Outcome) -> Option<&'a Stage> {
    let with = |outcome: Outcome| -> Vec<&'a Stage> {
        stages
            .iter()
            .filter(|stage| stage.outcome == outcome)
            .collect()
    };
    let matching = with(outcome);
    let candidates = if matching.is_empty() {
        with(Outcome::Open)
    } else {
        matching
    };
    rng.pick(&candidates).copied()
}

/// A contact and their company, or only a company, or neither.
fn pick_people<'a>(rng: &mut Rng, people: &'a People) -> (Option<&'a Record>, Option<&'a Record>) {
    if rng.chance(70)
        && let Some(contact) = rng.pick(&people.contacts)
    {
        let company = contact
            .reference("company")
            .and_then(|id| people.companies.iter().find(|company| company.id == id));
        return (
            company.or_else(|| rng.pick(&people.companies)),
            Some(contact),
        );
    }
    (rng.pick(&people.companies), None)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use plugin_sdk::chrono::DateTime;
    use plugin_sdk::serde_json;
    use plugin_sdk::testing::TestHost;

    use super::*;
    use crate::Sales;

    #[test]
    fn the_generator_is_deterministic_and_in_range() {
        let (mut a, mut b) = (Rng(7), Rng(7));
        for _ in 0..100 {
            let n = a.between(-3, 6);
            assert_eq!(n, b.between(-3, 6));
            assert!((-3..=6).contains(&n));
        }
        assert_eq!(a.pick::<u8>(&[]), None);
        assert!(a.pick(&[1, 2, 3]).is_some());
    }

    #[test]
    fn slugs_are_ascii() {
        assert_eq!(ascii_slug("Chloé.Dubois", '.'), "chloe.dubois");
        assert_eq!(ascii_slug("Northwind Traders", '-'), "northwind-traders");
        assert_eq!(ascii_slug("García", '.'), "garcia");
        assert_eq!(ascii_slug("Ørsted & Co.", '-'), "orsted-co");
    }

    #[test]
    fn leads_have_a_last_name_and_a_status() {
        let mut rng = Rng(3);
        for _ in 0..20 {
            let lead = lead_fields(&mut rng);
            assert!(lead.text("last_name").is_some_and(|name| !name.is_empty()));
            assert!(
                lead.text("status")
                    .is_some_and(|s| LEAD_STATUSES.contains(&s))
            );
            let email = lead.text("email").unwrap_or_default();
            assert!(email.is_ascii() && email.contains('@'), "{email}");
        }
    }

    #[test]
    fn the_demo_runs_once_and_its_deals_close_around_today() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
            .map_or(0, |at| at.timestamp_micros());
        let host = TestHost::from_manifest(include_str!("../plugin.toml"))
            .at(now)
            .install();
        let acme = host.insert("company", fields([("name", "Acme")]));
        host.insert(
            "contact",
            fields([
                ("last_name", Value::from("Coyote")),
                ("company", Value::reference(&acme.id)),
            ]),
        );
        let run = |input: &str| {
            let answer = Sales::run_action(host.context(), "demo".into(), input.into());
            serde_json::from_str::<serde_json::Value>(&answer.unwrap_or_else(|e| panic!("{e:?}")))
                .unwrap_or_default()
        };
        let created = run(r#"{"seed": 7}"#);
        assert_eq!(created["created"], true, "{created}");
        let counts = ["pipelines", "stages", "leads", "deals"].map(|key| created[key].as_u64());
        assert_eq!(counts, [Some(2), Some(13), Some(40), Some(80)], "{created}");
        assert_eq!(host.records("deal").len(), 80);
        assert_eq!(run("null")["reason"], "the demo data exists already");

        let outcomes: HashMap<String, Option<Outcome>> = (host.records("stage").iter())
            .map(|stage| {
                (
                    stage.id.clone(),
                    stage.text("outcome").and_then(Outcome::parse),
                )
            })
            .collect();
        let (first, last, today) = (day("2026-08-01"), day("2027-05-31"), day("2026-11-27"));
        for deal in host.records("deal") {
            let close = deal
                .day("expected_close")
                .unwrap_or_else(|| panic!("a date: {deal:?}"));
            assert!((first..=last).contains(&close), "{deal:?}");
            match deal
                .reference("stage")
                .and_then(|stage| outcomes.get(stage))
                .copied()
                .flatten()
            {
                Some(Outcome::Lost) => assert!(deal.text("lost_reason").is_some()),
                Some(Outcome::Won) => assert!(deal.day("close_date").is_some_and(|d| d <= today)),
                _ => assert_eq!(deal.get("close_date"), None),
            }
        }
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap_or_default()
    }
}
