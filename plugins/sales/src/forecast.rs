//! The forecast (`GET /forecast` and the dashboard panel): per month, owner and currency, the
//! open amount expected to close that month, the same weighted by the probability of each
//! deal's stage, and the amount won. Sums are exact; only the answer is rounded to cents.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use plugin_sdk::prelude::*;
use plugin_sdk::records::{AggregateQuery, Group};
use plugin_sdk::rust_decimal::Decimal;
use serde::Serialize;

use crate::money::{self, Overflow};
use crate::month::Month;
use crate::pipeline;

/// The longest forecast, in months.
const MAX_MONTHS: u32 = 24;
const DEFAULT_MONTHS: u32 = 6;

/// What to forecast.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// One pipeline's deals, or all of them.
    pub pipeline: Option<String>,
    pub from: Month,
    pub months: u32,
}

impl Params {
    /// `?pipeline=ID&from=YYYY-MM&months=N`, by default every pipeline, six months from
    /// `this_month`. `Err` says which parameter is wrong.
    pub fn from_request(request: &HttpRequest, this_month: Month) -> Result<Params, String> {
        let present = |name| request.query_param(name).filter(|value| !value.is_empty());
        let from = match present("from") {
            Some(text) => Month::parse(&text)
                .ok_or_else(|| format!("`from` must be a month like 2026-11, not `{text}`"))?,
            None => this_month,
        };
        let months = match present("months") {
            Some(text) => text
                .parse()
                .ok()
                .filter(|months| (1..=MAX_MONTHS).contains(months))
                .ok_or_else(|| {
                    format!("`months` must be a whole number from 1 to {MAX_MONTHS}, not `{text}`")
                })?,
            None => DEFAULT_MONTHS,
        };
        Ok(Params {
            pipeline: present("pipeline"),
            from,
            months,
        })
    }
}

/// Why a forecast could not be made.
#[derive(Debug)]
pub enum Error {
    Host(HostError),
    Overflow(Overflow),
}

impl From<HostError> for Error {
    fn from(error: HostError) -> Error {
        Error::Host(error)
    }
}

impl From<Overflow> for Error {
    fn from(overflow: Overflow) -> Error {
        Error::Overflow(overflow)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Host(error) => f.write_str(&error.summary()),
            Error::Overflow(overflow) => overflow.fmt(f),
        }
    }
}

/// The exact sums of one month, owner and currency (or of one month and currency).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sums {
    open: Decimal,
    /// Σ amount × probability / 100, unrounded.
    weighted: Decimal,
    won: Decimal,
    /// The open and won deals summed.
    deals: u64,
}

impl Sums {
    fn add(&mut self, other: &Sums) -> Result<(), Overflow> {
        self.open = money::add(self.open, other.open)?;
        self.weighted = money::add(self.weighted, other.weighted)?;
        self.won = money::add(self.won, other.won)?;
        self.deals += other.deals;
        Ok(())
    }
}

/// Month, owner (a user id; `None` for deals without one), currency.
type RowKey = (Month, Option<String>, String);

/// The forecast's months and its exact sums.
#[derive(Debug, Clone, PartialEq)]
struct Forecast {
    months: Vec<Month>,
    rows: BTreeMap<RowKey, Sums>,
}

/// The monthly target: an amount in one currency (the settings `monthly_target` and
/// `currency`).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub currency: String,
    pub amount: Option<Decimal>,
}

impl Target {
    pub fn from_settings() -> Target {
        let currency = config::get("currency").unwrap_or_else(|| "EUR".to_owned());
        let amount = config::get("monthly_target").unwrap_or_else(|| "0".to_owned());
        Target {
            amount: Money::new(amount, &currency).decimal(),
            currency,
        }
    }
}

/// One row of the answer: one month, owner and currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    pub month: String,
    pub owner: Option<String>,
    pub currency: String,
    pub open: String,
    pub weighted: String,
    pub won: String,
    pub deals: u64,
}

/// The totals of one month and currency, and the target when it is in that currency.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Total {
    pub month: String,
    pub currency: String,
    pub open: String,
    pub weighted: String,
    pub won: String,
    pub target: Option<String>,
}

/// The answer of `GET /forecast`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    pub months: Vec<String>,
    pub currency_rows: Vec<Row>,
    pub totals: Vec<Total>,
}

/// Reads the forecast and answers it: two aggregates (open deals by expected close, won
/// deals by close date) and the stages' probabilities.
pub fn load(params: &Params, target: &Target) -> Result<Answer, Error> {
    let probabilities: HashMap<String, i64> = match &params.pipeline {
        Some(pipeline) => pipeline::stages_of(pipeline)?,
        None => pipeline::all_stages()?,
    }
    .into_iter()
    .map(|stage| (stage.id, stage.probability))
    .collect();
    let open = records::aggregate(
        "deal",
        &AggregateQuery::new()
            .filter(deal_filter(params, "open", "expected_close"))
            .group_by(["stage", "owner", "expected_close:month", "amount:currency"])
            .sum(["amount"]),
    )?;
    let won = records::aggregate(
        "deal",
        &AggregateQuery::new()
            .filter(deal_filter(params, "won", "close_date"))
            .group_by(["owner", "close_date:month", "amount:currency"])
            .sum(["amount"]),
    )?;
    let forecast = Forecast::build(
        params.from.range(params.months),
        &open,
        &won,
        &probabilities,
    )?;
    Ok(forecast.answer(target)?)
}

/// The deals of one status whose `date_field` falls in the forecast's months.
fn deal_filter(params: &Params, status: &str, date_field: &str) -> Filter {
    let end = params.from.plus(params.months.into());
    let filter = Filter::eq("status", status)
        .and(Filter::gte(date_field, params.from.first_day()))
        .and(Filter::lt(date_field, end.first_day()));
    match &params.pipeline {
        Some(pipeline) => filter.and(Filter::eq("pipeline", pipeline)),
        None => filter,
    }
}

impl Forecast {
    /// The sums of the aggregated groups: `open` grouped by stage, owner, month and currency,
    /// `won` by owner, month and currency, both summing the amount. Groups without a month or
    /// an amount (deals without a close date or an amount) count nowhere.
    fn build(
        months: Vec<Month>,
        open: &[Group],
        won: &[Group],
        probabilities: &HashMap<String, i64>,
    ) -> Result<Forecast, Overflow> {
        let mut forecast = Forecast {
            months,
            rows: BTreeMap::new(),
        };
        for group in open {
            let [stage, owner, month, currency] = group.keys.as_slice() else {
                continue;
            };
            let Some((key, amount)) = forecast.key_and_amount(group, owner, month, currency) else {
                continue;
            };
            let probability = key_text(stage)
                .and_then(|stage| probabilities.get(stage))
                .copied()
                .unwrap_or(0);
            let sums = Sums {
                open: amount,
                weighted: money::percent(amount, probability)?,
                won: Decimal::ZERO,
                deals: group.count,
            };
            forecast.rows.entry(key).or_default().add(&sums)?;
        }
        for group in won {
            let [owner, month, currency] = group.keys.as_slice() else {
                continue;
            };
            let Some((key, amount)) = forecast.key_and_amount(group, owner, month, currency) else {
                continue;
            };
            let sums = Sums {
                won: amount,
                deals: group.count,
                ..Sums::default()
            };
            forecast.rows.entry(key).or_default().add(&sums)?;
        }
        Ok(forecast)
    }

    /// The row a group adds to and the amount it adds, when it falls in the forecast.
    fn key_and_amount(
        &self,
        group: &Group,
        owner: &Value,
        month: &Value,
        currency: &Value,
    ) -> Option<(RowKey, Decimal)> {
        let month = key_text(month).and_then(Month::parse)?;
        if !self.months.contains(&month) {
            return None;
        }
        let currency = key_text(currency)?.to_owned();
        let amount = group.sums.first()?.as_money()?.decimal()?;
        Some((
            (month, key_text(owner).map(str::to_owned), currency),
            amount,
        ))
    }

    /// The answer, rounded to cents: a row per month, owner and currency; a total per month
    /// and currency, from the exact sums, with the target currency in every month.
    fn answer(&self, target: &Target) -> Result<Answer, Overflow> {
        let currency_rows = self
            .rows
            .iter()
            .map(|((month, owner, currency), sums)| Row {
                month: month.to_string(),
                owner: owner.clone(),
                currency: currency.clone(),
                open: money::cents(sums.open),
                weighted: money::cents(sums.weighted),
                won: money::cents(sums.won),
                deals: sums.deals,
            })
            .collect();
        Ok(Answer {
            months: self.months.iter().map(Month::to_string).collect(),
            currency_rows,
            totals: self.totals(target)?,
        })
    }

    fn totals(&self, target: &Target) -> Result<Vec<Total>, Overflow> {
        let mut totals: BTreeMap<(Month, &str), Sums> = self
            .months
            .iter()
            .map(|month| ((*month, target.currency.as_str()), Sums::default()))
            .collect();
        for ((month, _, currency), sums) in &self.rows {
            totals.entry((*month, currency)).or_default().add(sums)?;
        }
        Ok(totals
            .into_iter()
            .map(|((month, currency), sums)| Total {
                month: month.to_string(),
                currency: currency.to_owned(),
                open: money::cents(sums.open),
                weighted: money::cents(sums.weighted),
                won: money::cents(sums.won),
                target: target
                    .amount
                    .filter(|_| currency == target.currency)
                    .map(money::cents),
            })
            .collect())
    }
}

/// A group key as text: a stage id, an owner's user id, a month or a currency.
fn key_text(value: &Value) -> Option<&str> {
    match value {
        Value::Text(text) | Value::Reference(text) | Value::User(text) | Value::Date(text) => {
            Some(text)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plugin_sdk::serde_json::{self, json};
    use plugin_sdk::testing::TestHost;

    fn month(text: &str) -> Month {
        Month::parse(text).unwrap_or_else(|| panic!("{text}"))
    }

    fn text(value: &str) -> Value {
        Value::Text(value.to_owned())
    }

    fn group(keys: Vec<Value>, count: u64, amount: &str, currency: &str) -> Group {
        Group {
            keys,
            count,
            sums: vec![Value::Money(Money::new(amount, currency))],
        }
    }

    fn request(query: &str) -> HttpRequest {
        TestHost::request("GET", &format!("/forecast?{query}"), b"")
    }

    #[test]
    fn params_have_defaults_and_bounds() {
        let now = month("2026-11");
        let params = Params::from_request(&request(""), now);
        assert_eq!(
            params,
            Ok(Params {
                pipeline: None,
                from: now,
                months: 6
            })
        );
        let params = Params::from_request(&request("pipeline=p1&from=2027-02&months=24"), now);
        assert_eq!(
            params.map(|p| (p.pipeline, p.from.to_string(), p.months)),
            Ok((Some("p1".to_owned()), "2027-02".to_owned(), 24))
        );
        for bad in [
            "months=0",
            "months=25",
            "months=x",
            "from=2026-13",
            "from=11-2026",
        ] {
            assert!(Params::from_request(&request(bad), now).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_cover_the_months_and_the_pipeline() {
        let params = Params {
            pipeline: Some("p1".into()),
            from: month("2026-11"),
            months: 3,
        };
        assert_eq!(
            deal_filter(&params, "open", "expected_close").to_string(),
            "and(status[eq]:\"open\",expected_close[gte]:\"2026-11-01\",\
             expected_close[lt]:\"2027-02-01\",pipeline[eq]:\"p1\")"
        );
    }

    #[test]
    fn weighted_sums_are_exact_and_rounded_once() {
        let user = || Value::User("u1".into());
        let probabilities = HashMap::from([("s15".to_owned(), 15), ("s50".to_owned(), 50)]);
        let open = [
            // 33.33 × 15 % = 4.9995, twice (two stages' worth) → 9.999 → 10.00.
            group(
                vec![text("s15"), user(), text("2026-11"), text("EUR")],
                1,
                "33.33",
                "EUR",
            ),
            group(
                vec![
                    Value::Reference("s15".into()),
                    user(),
                    text("2026-11"),
                    text("EUR"),
                ],
                2,
                "33.33",
                "EUR",
            ),
            group(
                vec![text("s50"), Value::Null, text("2026-11"), text("USD")],
                1,
                "100.01",
                "USD",
            ),
            // Outside the months, without a month, without an amount: left out.
            group(
                vec![text("s50"), user(), text("2027-05"), text("EUR")],
                1,
                "5",
                "EUR",
            ),
            group(
                vec![text("s50"), user(), Value::Null, text("EUR")],
                1,
                "5",
                "EUR",
            ),
            Group {
                keys: vec![text("s50"), user(), text("2026-11"), Value::Null],
                count: 4,
                sums: vec![Value::Null],
            },
        ];
        let won = [group(
            vec![user(), text("2026-12"), text("EUR")],
            3,
            "1000",
            "EUR",
        )];
        let forecast = Forecast::build(month("2026-11").range(2), &open, &won, &probabilities);
        let target = Target {
            currency: "EUR".into(),
            amount: Some(Decimal::from(50_000)),
        };
        let answer = forecast.and_then(|f| f.answer(&target));
        let Ok(answer) = answer else {
            panic!("no answer: {answer:?}");
        };
        assert_eq!(answer.months, ["2026-11", "2026-12"]);
        let row = |month, owner, currency, open, weighted, won, deals| {
            json!({"month": month, "owner": owner, "currency": currency, "open": open,
                   "weighted": weighted, "won": won, "deals": deals})
        };
        assert_eq!(
            serde_json::to_value(&answer.currency_rows).unwrap_or_default(),
            json!([
                row("2026-11", None, "USD", "100.01", "50.01", "0.00", 1),
                row("2026-11", Some("u1"), "EUR", "66.66", "10.00", "0.00", 3),
                row("2026-12", Some("u1"), "EUR", "0.00", "0.00", "1000.00", 3),
            ])
        );
        let total = |month, currency, open, weighted, won, target| {
            json!({"month": month, "currency": currency, "open": open, "weighted": weighted,
                   "won": won, "target": target})
        };
        assert_eq!(
            serde_json::to_value(&answer.totals).unwrap_or_default(),
            json!([
                total("2026-11", "EUR", "66.66", "10.00", "0.00", Some("50000.00")),
                total("2026-11", "USD", "100.01", "50.01", "0.00", None),
                total(
                    "2026-12",
                    "EUR",
                    "0.00",
                    "0.00",
                    "1000.00",
                    Some("50000.00")
                ),
            ])
        );
    }

    #[test]
    fn totals_round_the_exact_sum_not_the_rounded_rows() {
        // Two owners with 0.125 weighted each: rows say 0.13 each, the total 0.25 (not 0.26).
        let probabilities = HashMap::from([("s".to_owned(), 50)]);
        let open: Vec<Group> = ["a", "b"]
            .iter()
            .map(|owner| {
                group(
                    vec![
                        text("s"),
                        Value::User((*owner).into()),
                        text("2026-11"),
                        text("EUR"),
                    ],
                    1,
                    "0.25",
                    "EUR",
                )
            })
            .collect();
        let target = Target {
            currency: "USD".into(),
            amount: None,
        };
        let answer = Forecast::build(month("2026-11").range(1), &open, &[], &probabilities)
            .and_then(|f| f.answer(&target));
        let Ok(answer) = answer else {
            panic!("no answer");
        };
        assert_eq!(answer.currency_rows[0].weighted, "0.13");
        assert_eq!(answer.totals[0].weighted, "0.25");
        assert_eq!(answer.totals[0].currency, "EUR");
        // The target currency shows in every month, without a target amount here.
        assert_eq!(answer.totals[1].currency, "USD");
        assert_eq!(answer.totals[1].target, None);
    }
}
