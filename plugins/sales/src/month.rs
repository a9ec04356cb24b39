//! Calendar months, as the forecast groups deals (`"2026-11"`). `chrono` has dates but no
//! year-month type, and its parser takes `2026-7` or `+2026` for a year and month, so this
//! wraps a month's first day and reads only `YYYY-MM`.

use std::fmt;

use plugin_sdk::chrono::{Datelike, Months, NaiveDate};

/// A month, as its first day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month(NaiveDate);

impl Month {
    /// The month of a day.
    pub fn of(day: NaiveDate) -> Month {
        Month(day.with_day(1).unwrap_or(day))
    }

    /// `"2026-11"`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Month> {
        let digits =
            |part: &str, width| part.len() == width && part.bytes().all(|b| b.is_ascii_digit());
        let (year, month) = text.split_once('-')?;
        if !digits(year, 4) || !digits(month, 2) {
            return None;
        }
        NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d")
            .ok()
            .map(Month)
    }

    /// The month `months` months later (earlier when negative).
    pub fn plus(self, months: i64) -> Month {
        let shift = u32::try_from(months.unsigned_abs()).map(Months::new);
        let day = match shift {
            Ok(shift) if months < 0 => self.0.checked_sub_months(shift),
            Ok(shift) => self.0.checked_add_months(shift),
            Err(_) => None,
        };
        // `None` only beyond chrono's years (±262,142): the months come from the clock or
        // from four-digit years.
        Month(day.unwrap_or(self.0))
    }

    /// `count` consecutive months starting with this one.
    pub fn range(self, count: u32) -> Vec<Month> {
        std::iter::successors(Some(self), |month| Some(month.plus(1)))
            .take(count as usize)
            .collect()
    }

    pub fn first_day(self) -> NaiveDate {
        self.0
    }

    /// The year (`2026`), for panels.
    pub fn year(self) -> i32 {
        self.0.year()
    }

    /// The month's number in its year, 1 to 12, for panels.
    pub fn number(self) -> u32 {
        self.0.month()
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%Y-%m"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn month(text: &str) -> Month {
        Month::parse(text).unwrap_or_else(|| panic!("{text}"))
    }

    #[test]
    fn months_parse_strictly_and_add_across_years() {
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
        assert_eq!(
            (month("2026-11").year(), month("2026-11").number()),
            (2026, 11)
        );
        assert_eq!(month("2026-11").first_day().to_string(), "2026-11-01");
        assert_eq!(
            Month::of(month("2024-02").first_day() + plugin_sdk::chrono::Days::new(28)),
            month("2024-02")
        );
        for bad in [
            "2026-00", "2026-13", "2026-7", "+2026-11", "01-2031", "20261-11", "x", "",
        ] {
            assert_eq!(Month::parse(bad), None, "{bad}");
        }
    }
}
