//! Calendar dates, months and instants in UTC, computed from the host clock's microseconds.
//! The plugin needs only a few things (today, month arithmetic, RFC 3339 text), so it does
//! them itself rather than pulling a date library into every plugin.wasm.

use std::fmt;

use plugin_sdk::prelude::*;

pub const MICROS_PER_SECOND: i64 = 1_000_000;
const SECONDS_PER_DAY: i64 = 86_400;
const MONTH_NAMES: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Now, in microseconds since the Unix epoch (the host's clock).
pub fn now() -> i64 {
    clock::now_micros()
}

/// A day of the proleptic Gregorian calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    year: i64,
    month: u32,
    day: u32,
}

impl Date {
    /// The UTC day of an instant.
    pub fn of_micros(micros: i64) -> Date {
        Date::from_days(micros.div_euclid(MICROS_PER_SECOND * SECONDS_PER_DAY))
    }

    /// `"2026-11-27"`; `None` for anything else, including days that do not exist.
    pub fn parse(text: &str) -> Option<Date> {
        let (month, day) = text.rsplit_once('-')?;
        let month = Month::parse(month)?;
        let day = parse_digits(day, 2)?;
        (1..=month.days()).contains(&day).then_some(Date {
            year: month.year,
            month: month.month,
            day,
        })
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    pub fn days(self) -> i64 {
        let year = if self.month <= 2 {
            self.year - 1
        } else {
            self.year
        };
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let month = i64::from(self.month);
        let shifted_month = if month > 2 { month - 3 } else { month + 9 };
        let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    /// The date `days` days after 1970-01-01 (Howard Hinnant's `civil_from_days`).
    pub fn from_days(days: i64) -> Date {
        let shifted = days + 719_468;
        let era = shifted.div_euclid(146_097);
        let day_of_era = shifted - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
        let month = if shifted_month < 10 {
            shifted_month + 3
        } else {
            shifted_month - 9
        };
        Date {
            year: year_of_era + era * 400 + i64::from(month <= 2),
            // Both are small and positive by construction.
            month: month as u32,
            day: day as u32,
        }
    }

    /// The date `days` days later (earlier when negative).
    pub fn plus_days(self, days: i64) -> Date {
        Date::from_days(self.days() + days)
    }

    pub fn month(self) -> Month {
        Month {
            year: self.year,
            month: self.month,
        }
    }

    /// The date as a field value.
    pub fn value(self) -> Value {
        Value::Date(self.to_string())
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A calendar month, as the forecast groups by (`"2026-11"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i64,
    month: u32,
}

impl Month {
    /// The UTC month of an instant.
    pub fn of_micros(micros: i64) -> Month {
        Date::of_micros(micros).month()
    }

    /// `"2026-11"`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Month> {
        let (year, month) = text.split_once('-')?;
        let year = parse_digits(year, 4)?;
        let month = parse_digits(month, 2)?;
        (1..=12).contains(&month).then_some(Month {
            year: year.into(),
            month,
        })
    }

    /// The month `months` months later (earlier when negative).
    pub fn plus(self, months: i64) -> Month {
        let index = self.year * 12 + i64::from(self.month) - 1 + months;
        Month {
            year: index.div_euclid(12),
            // In 1..=12 by construction.
            month: index.rem_euclid(12) as u32 + 1,
        }
    }

    /// `count` consecutive months starting with this one.
    pub fn range(self, count: u32) -> Vec<Month> {
        (0..i64::from(count)).map(|i| self.plus(i)).collect()
    }

    pub fn first_day(self) -> Date {
        Date {
            year: self.year,
            month: self.month,
            day: 1,
        }
    }

    /// How many days the month has.
    pub fn days(self) -> u32 {
        let days = self.plus(1).first_day().days() - self.first_day().days();
        // 28 to 31.
        days as u32
    }

    /// `"Nov 2026"`, for panels.
    pub fn label(self) -> String {
        let name = MONTH_NAMES
            .get(self.month as usize - 1)
            .copied()
            .unwrap_or("?");
        format!("{name} {}", self.year)
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// An instant as the host writes datetimes: RFC 3339 in UTC with milliseconds,
/// `"2026-11-27T10:00:00.000Z"`.
pub fn format_datetime(micros: i64) -> String {
    let seconds = micros.div_euclid(MICROS_PER_SECOND);
    let millis = micros.rem_euclid(MICROS_PER_SECOND) / 1000;
    let time = seconds.rem_euclid(SECONDS_PER_DAY);
    format!(
        "{}T{:02}:{:02}:{:02}.{millis:03}Z",
        Date::of_micros(micros),
        time / 3600,
        time / 60 % 60,
        time % 60
    )
}

/// The instant of an RFC 3339 text in UTC (`Z` or `+00:00`, any fraction of a second), in
/// microseconds since the epoch; `None` for anything else.
pub fn parse_datetime(text: &str) -> Option<i64> {
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let date = Date::parse(date)?;
    let time = time
        .strip_suffix(['Z', 'z'])
        .or_else(|| time.strip_suffix("+00:00"))?;
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut parts = clock.split(':');
    let mut next = |max: u32| {
        parts
            .next()
            .and_then(|p| parse_digits(p, 2))
            .filter(|n| *n <= max)
    };
    let (hours, minutes, seconds) = (next(23)?, next(59)?, next(60)?);
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Microseconds: the first six digits of the fraction, padded with zeros.
    let micros: i64 = format!("{:0<6}", fraction.get(..6).unwrap_or(fraction))
        .parse()
        .ok()?;
    let seconds = date.days() * SECONDS_PER_DAY
        + i64::from(hours) * 3600
        + i64::from(minutes) * 60
        + i64::from(seconds);
    Some(seconds * MICROS_PER_SECOND + micros)
}

/// Exactly `width` ASCII digits.
fn parse_digits(text: &str, width: usize) -> Option<u32> {
    (text.len() == width && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// Whole seconds from one instant to a later one.
pub fn seconds_between(from_micros: i64, to_micros: i64) -> i64 {
    (to_micros - from_micros).div_euclid(MICROS_PER_SECOND)
}

/// A duration for people: `"45s"`, `"12m"`, `"3h 20m"`, `"5d 4h"`.
pub fn duration_label(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (days, hours, minutes) = (
        seconds / SECONDS_PER_DAY,
        seconds / 3600 % 24,
        seconds / 60 % 60,
    );
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, _) => format!("{minutes}m"),
        (0, _, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = SECONDS_PER_DAY * MICROS_PER_SECOND;

    #[test]
    fn days_round_trip_through_civil_dates() {
        for days in [-719_468, -1, 0, 1, 59, 365, 11_016, 20_454, 2_932_896] {
            assert_eq!(Date::from_days(days).days(), days, "{days}");
        }
        assert_eq!(Date::from_days(0).to_string(), "1970-01-01");
        assert_eq!(Date::from_days(-1).to_string(), "1969-12-31");
        assert_eq!(Date::from_days(11_016).to_string(), "2000-02-29");
        assert_eq!(Date::of_micros(20_419 * DAY + 5).to_string(), "2025-11-27");
        assert_eq!(Date::of_micros(-1).to_string(), "1969-12-31");
    }

    #[test]
    fn dates_parse_strictly() {
        let parsed = |text| Date::parse(text).map(|d| d.to_string());
        assert_eq!(parsed("2024-02-29").as_deref(), Some("2024-02-29"));
        assert_eq!(parsed("2023-02-29"), None);
        assert_eq!(parsed("2026-13-01"), None);
        assert_eq!(parsed("2026-1-01"), None);
        assert_eq!(parsed("26-01-01"), None);
        assert_eq!(
            Date::parse("2026-12-31").map(|d| d.plus_days(1).to_string()),
            Some("2027-01-01".to_owned())
        );
    }

    #[test]
    fn months_add_across_years() {
        let month = |text| Month::parse(text).unwrap_or_else(|| panic!("{text}"));
        assert_eq!(month("2026-11").plus(2).to_string(), "2027-01");
        assert_eq!(month("2026-01").plus(-1).to_string(), "2025-12");
        assert_eq!(month("2026-01").plus(-13).to_string(), "2024-12");
        assert_eq!(month("2026-12").plus(24).to_string(), "2028-12");
        let range: Vec<String> = month("2026-11")
            .range(3)
            .iter()
            .map(Month::to_string)
            .collect();
        assert_eq!(range, ["2026-11", "2026-12", "2027-01"]);
        assert_eq!(month("2024-02").days(), 29);
        assert_eq!(month("2100-02").days(), 28);
        assert_eq!(month("2026-04").days(), 30);
        assert_eq!(month("2026-11").label(), "Nov 2026");
        assert_eq!(Month::parse("2026-00"), None);
        assert_eq!(Month::parse("2026-7"), None);
        assert_eq!(Month::parse("x"), None);
    }

    #[test]
    fn datetimes_format_and_parse_as_the_host_writes_them() {
        let micros = 20_419 * DAY + 10 * 3_600_000_000 + 123_456;
        assert_eq!(format_datetime(micros), "2025-11-27T10:00:00.123Z");
        assert_eq!(
            parse_datetime("2025-11-27T10:00:00.123Z"),
            Some(micros - 456)
        );
        assert_eq!(
            parse_datetime("2025-11-27T10:00:00+00:00"),
            Some(micros - 123_456)
        );
        assert_eq!(parse_datetime("2025-11-27T10:00:00.1234567Z"), Some(micros));
        assert_eq!(parse_datetime("2025-11-27T24:00:00Z"), None);
        assert_eq!(parse_datetime("2025-11-27T10:00:00+02:00"), None);
        assert_eq!(parse_datetime("2025-11-27"), None);
        assert_eq!(format_datetime(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(seconds_between(0, 2_500_000), 2);
        assert_eq!(duration_label(45), "45s");
        assert_eq!(duration_label(12 * 60 + 5), "12m");
        assert_eq!(duration_label(3 * 3600 + 20 * 60), "3h 20m");
        assert_eq!(duration_label(5 * 86_400 + 4 * 3600 + 59), "5d 4h");
        assert_eq!(duration_label(-5), "0s");
    }
}
