//! The panels: the forecast on the dashboard, the deals of a company or contact, a deal's
//! stage history and a lead's conversion. Each builds the JSON context of its template: data,
//! not words — the templates write them with `t` from `locales/<lang>.ftl`, in the reader's
//! language.

use std::collections::BTreeMap;

use plugin_sdk::prelude::*;
use plugin_sdk::records::AggregateQuery;
use plugin_sdk::rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;

use crate::forecast::{self, Params, Target, Total};
use crate::history;
use crate::money::{self, Overflow};
use crate::month::Month;
use crate::pipeline::Outcome;
use crate::store;

/// How many months the dashboard forecast shows: this one and the next two.
const FORECAST_MONTHS: u32 = 3;
/// How many deals a company or contact panel lists.
const DEAL_LIMIT: u32 = 50;

/// Why a panel could not be built.
enum Failure {
    Host(HostError),
    Plugin(String),
}

impl From<HostError> for Failure {
    fn from(error: HostError) -> Failure {
        Failure::Host(error)
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Plugin(message)
    }
}

impl From<Overflow> for Failure {
    fn from(overflow: Overflow) -> Failure {
        Failure::Plugin(overflow.to_string())
    }
}

impl From<forecast::Error> for Failure {
    fn from(error: forecast::Error) -> Failure {
        match error {
            forecast::Error::Host(error) => Failure::Host(error),
            forecast::Error::Overflow(overflow) => overflow.into(),
        }
    }
}

/// Builds the panel `name` for `record` (none on the dashboard). Someone who may not read
/// deals sees a short note instead: that is not the plugin failing.
pub fn render(name: &str, record: Option<Record>) -> Result<Panel, String> {
    let built = match name {
        "forecast" => forecast_panel(),
        "company_deals" => deals_panel(record, "company"),
        "contact_deals" => deals_panel(record, "contact"),
        "stage_history" => stage_history_panel(record),
        "conversion" => conversion_panel(record),
        other => Err(Failure::Plugin(format!("there is no panel `{other}`"))),
    };
    match built {
        Ok(panel) => Ok(panel),
        Err(Failure::Host(error)) if error.code == "forbidden" => {
            Panel::new("message.html", &json!({ "message": "message-forbidden" }))
        }
        Err(Failure::Host(error)) => Err(error.summary()),
        Err(Failure::Plugin(message)) => Err(message),
    }
}

fn needs_record(record: Option<Record>) -> Result<Record, Failure> {
    record.ok_or_else(|| Failure::Plugin("this panel is shown on a record page".to_owned()))
}

/// One month of the dashboard forecast (`year` and `number` make its heading).
#[derive(Serialize)]
struct ForecastMonth {
    month: String,
    year: i32,
    number: u32,
    totals: Vec<Total>,
}

/// This month and the next two: weighted, won and target per currency.
fn forecast_panel() -> Result<Panel, Failure> {
    let params = Params {
        pipeline: None,
        from: Month::of(clock::today()),
        months: FORECAST_MONTHS,
    };
    let target = Target::from_settings();
    let answer = forecast::load(&params, &target)?;
    let months: Vec<ForecastMonth> = params
        .from
        .range(params.months)
        .into_iter()
        .map(|month| {
            let key = month.to_string();
            ForecastMonth {
                year: month.year(),
                number: month.number(),
                totals: answer
                    .totals
                    .iter()
                    .filter(|total| total.month == key)
                    .cloned()
                    .collect(),
                month: key,
            }
        })
        .collect();
    Ok(Panel::new(
        "forecast.html",
        &json!({ "months": months, "currency": target.currency }),
    )?)
}

/// A deal as the deals panel lists it.
#[derive(Serialize)]
struct DealLine {
    id: String,
    name: String,
    url: String,
    stage: Option<String>,
    status: Option<String>,
    amount: Option<String>,
    currency: Option<String>,
    expected_close: Option<String>,
}

/// Open and won amounts of one currency.
#[derive(Serialize)]
struct CurrencyTotals {
    currency: String,
    open: String,
    won: String,
}

/// The deals of a company or contact (`field` is the deal's reference to it), newest first,
/// with their open and won totals per currency.
fn deals_panel(record: Option<Record>, field: &str) -> Result<Panel, Failure> {
    let record = needs_record(record)?;
    let filter = Filter::eq(field, &record.id);
    let page = records::find(
        "deal",
        &Query::new()
            .filter(&filter)
            .sort("-created_at")
            .limit(DEAL_LIMIT),
    )?;
    let stage_names = stage_names(&page.records)?;
    let deals: Vec<DealLine> = page
        .records
        .iter()
        .map(|deal| DealLine {
            id: deal.id.clone(),
            name: store::title(deal),
            url: store::record_url("deals", &deal.id),
            stage: deal
                .reference("stage")
                .and_then(|stage| stage_names.get(stage))
                .cloned(),
            status: deal.text("status").map(str::to_owned),
            amount: deal.money("amount").map(money::shown),
            currency: deal.money("amount").map(|m| m.currency.clone()),
            expected_close: deal.date("expected_close").map(str::to_owned),
        })
        .collect();
    Ok(Panel::new(
        "deals.html",
        &json!({
            "deals": deals,
            "more": page.next_cursor.is_some(),
            "totals": currency_totals(filter)?,
        }),
    )?)
}

/// The names of the deals' stages, by stage id, in one query.
fn stage_names(deals: &[Record]) -> Result<BTreeMap<String, String>, HostError> {
    let mut ids: Vec<&str> = deals
        .iter()
        .filter_map(|deal| deal.reference("stage"))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(BTreeMap::new());
    }
    let query = Query::new().filter(Filter::is_in("id", ids)).limit(1000);
    records::find_all("stage", query)
        .map(|stage| stage.map(|stage| (stage.id.clone(), store::title(&stage))))
        .collect()
}

/// Open and won amounts per currency of every deal matching `filter`, not only those listed
/// (a currency only lost deals use does not show).
fn currency_totals(filter: Filter) -> Result<Vec<CurrencyTotals>, Failure> {
    let groups = records::aggregate(
        "deal",
        &AggregateQuery::new()
            .filter(filter.and(Filter::is_in("status", ["open", "won"])))
            .group_by(["amount:currency", "status"])
            .sum(["amount"]),
    )?;
    let mut totals: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    for group in &groups {
        let (Some(currency), Some(status)) = (
            group.keys.first().and_then(Value::as_text),
            group
                .keys
                .get(1)
                .and_then(Value::as_text)
                .and_then(Outcome::parse),
        ) else {
            continue;
        };
        let Some(amount) = group
            .sums
            .first()
            .and_then(Value::as_money)
            .and_then(Money::decimal)
        else {
            continue;
        };
        let (open, won) = totals.entry(currency.to_owned()).or_default();
        match status {
            Outcome::Open => *open = money::add(*open, amount)?,
            Outcome::Won => *won = money::add(*won, amount)?,
            Outcome::Lost => {}
        }
    }
    Ok(totals
        .into_iter()
        .map(|(currency, (open, won))| CurrencyTotals {
            currency,
            open: money::cents(open),
            won: money::cents(won),
        })
        .collect())
}

/// One stage the deal was in.
#[derive(Serialize)]
struct StageLine {
    stage: Option<String>,
    from: Option<String>,
    entered: String,
    by: String,
    duration: Option<Duration>,
    current: bool,
}

/// The deal's stages, oldest first, with the time spent in each.
fn stage_history_panel(record: Option<Record>) -> Result<Panel, Failure> {
    let deal = needs_record(record)?;
    let view = history::load(&deal, clock::now())?;
    let last = view.history.len().saturating_sub(1);
    let lines: Vec<StageLine> = view
        .history
        .iter()
        .enumerate()
        .map(|(i, timed)| StageLine {
            stage: timed.entry.to_name.clone(),
            from: timed.entry.from_name.clone(),
            entered: short_datetime(&timed.entry.at),
            by: timed.entry.by.clone(),
            duration: timed.seconds_in_stage.map(Duration::of),
            current: i == last,
        })
        .collect();
    Ok(Panel::new(
        "stage_history.html",
        &json!({
            "stage": view.current.name,
            "since": view.current.since.as_deref().map(short_datetime),
            "duration": view.current.seconds.map(Duration::of),
            "lines": lines,
        }),
    )?)
}

/// A duration for people, in the two largest units that matter: the template writes it with
/// the message `duration-<unit>` (`45s`, `12m`, `3h 20m`, `5d 4h` in English).
#[derive(Debug, PartialEq, Serialize)]
struct Duration {
    /// `s`, `m`, `hm` or `dh`.
    unit: &'static str,
    days: i64,
    hours: i64,
    minutes: i64,
    seconds: i64,
}

impl Duration {
    fn of(seconds: i64) -> Duration {
        let seconds = seconds.max(0);
        let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
        let unit = match (days, hours, minutes) {
            (0, 0, 0) => "s",
            (0, 0, _) => "m",
            (0, _, _) => "hm",
            _ => "dh",
        };
        Duration {
            unit,
            days,
            hours,
            minutes,
            seconds: seconds % 60,
        }
    }
}

/// `"2026-11-27T10:00:00.000Z"` → `"2026-11-27 10:00"` (UTC).
fn short_datetime(text: &str) -> String {
    text.get(..16).unwrap_or(text).replace('T', " ")
}

/// A record the lead was converted into (`entity` names its kind in the template; no title:
/// deleted since).
#[derive(Serialize)]
struct ConvertedLink {
    entity: &'static str,
    title: Option<String>,
    url: String,
}

/// What the lead became, with links, or that it is not converted yet.
fn conversion_panel(record: Option<Record>) -> Result<Panel, Failure> {
    let lead = needs_record(record)?;
    let targets = [
        ("converted_contact", "contact", "contacts"),
        ("converted_company", "company", "companies"),
        ("converted_deal", "deal", "deals"),
    ];
    let mut converted = Vec::new();
    for (field, entity, plural) in targets {
        let Some(id) = lead.reference(field) else {
            continue;
        };
        converted.push(ConvertedLink {
            entity,
            title: records::get(entity, id)?.map(|record| store::title(&record)),
            url: store::record_url(plural, id),
        });
    }
    Ok(Panel::new(
        "conversion.html",
        &json!({
            "converted": !converted.is_empty(),
            "status": lead.text("status"),
            "converted_at": lead.datetime("converted_at").map(short_datetime),
            "links": converted,
        }),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetimes_shorten_to_the_minute() {
        assert_eq!(
            short_datetime("2026-11-27T10:00:00.000Z"),
            "2026-11-27 10:00"
        );
        assert_eq!(short_datetime("soon"), "soon");
    }

    #[test]
    fn durations_keep_their_two_largest_units() {
        let shown = |seconds| {
            let d = Duration::of(seconds);
            (d.unit, d.days, d.hours, d.minutes, d.seconds)
        };
        assert_eq!(shown(45), ("s", 0, 0, 0, 45));
        assert_eq!(shown(12 * 60 + 5), ("m", 0, 0, 12, 5));
        assert_eq!(shown(3 * 3600 + 20 * 60), ("hm", 0, 3, 20, 0));
        assert_eq!(shown(5 * 86_400 + 4 * 3600 + 59), ("dh", 5, 4, 0, 59));
        assert_eq!(shown(-5), ("s", 0, 0, 0, 0));
    }
}
