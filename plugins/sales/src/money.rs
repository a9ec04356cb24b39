//! Exact decimal arithmetic for money: sums, percentages and rounding on `i128` units at a
//! decimal scale, so a forecast never picks up the drift of floating point.

use std::fmt;

use plugin_sdk::prelude::*;

/// An exact decimal: `units / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decimal {
    units: i128,
    scale: u32,
}

/// A sum that no longer fits: money amounts are bounded, so this only meets absurd data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the amounts are too large to add up exactly")
    }
}

impl From<Overflow> for String {
    fn from(overflow: Overflow) -> String {
        overflow.to_string()
    }
}

impl Decimal {
    pub const ZERO: Decimal = Decimal { units: 0, scale: 0 };

    /// A decimal text such as `"-1250.50"` (the SDK's exact parser of money amounts).
    pub fn parse(text: &str) -> Option<Decimal> {
        Money::new(text, "").amount_parts().map(Decimal::from_parts)
    }

    /// The amount of a money value.
    pub fn of(money: &Money) -> Option<Decimal> {
        money.amount_parts().map(Decimal::from_parts)
    }

    fn from_parts((units, scale): (i128, u32)) -> Decimal {
        Decimal { units, scale }
    }

    pub fn add(self, other: Decimal) -> Result<Decimal, Overflow> {
        let scale = self.scale.max(other.scale);
        let (a, b) = (self.rescaled(scale)?, other.rescaled(scale)?);
        let units = a.checked_add(b).ok_or(Overflow)?;
        Ok(Decimal { units, scale })
    }

    /// `self × percent / 100`, exactly: the units are multiplied and the point moves two places.
    pub fn percent(self, percent: i64) -> Result<Decimal, Overflow> {
        let units = self.units.checked_mul(percent.into()).ok_or(Overflow)?;
        Ok(Decimal {
            units,
            scale: self.scale + 2,
        })
    }

    /// Rounded to `places` decimals, halves away from zero (commercial rounding: 0.125 →
    /// 0.13, -0.125 → -0.13).
    pub fn round_half_up(self, places: u32) -> Result<Decimal, Overflow> {
        if self.scale <= places {
            return Ok(self);
        }
        let divisor = pow10(self.scale - places)?;
        let (quotient, remainder) = (self.units / divisor, self.units % divisor);
        let away = remainder.unsigned_abs() * 2 >= divisor.unsigned_abs();
        let units = if away {
            quotient + self.units.signum()
        } else {
            quotient
        };
        Ok(Decimal {
            units,
            scale: places,
        })
    }

    /// The text with exactly `places` decimals, rounded half up: `"1234.50"`.
    pub fn to_fixed(self, places: u32) -> Result<String, Overflow> {
        let rounded = self.round_half_up(places)?;
        let units = rounded.rescaled(places)?;
        let divisor = pow10(places)?;
        let sign = if units < 0 { "-" } else { "" };
        let (whole, fraction) = (
            units.unsigned_abs() / divisor.unsigned_abs(),
            units.unsigned_abs() % divisor.unsigned_abs(),
        );
        Ok(if places == 0 {
            format!("{sign}{whole}")
        } else {
            format!("{sign}{whole}.{fraction:0width$}", width = places as usize)
        })
    }

    /// The units at a scale at least as large as the current one.
    fn rescaled(self, scale: u32) -> Result<i128, Overflow> {
        let factor = pow10(scale.saturating_sub(self.scale))?;
        self.units.checked_mul(factor).ok_or(Overflow)
    }
}

fn pow10(exponent: u32) -> Result<i128, Overflow> {
    10_i128.checked_pow(exponent).ok_or(Overflow)
}

/// A money amount as shown in the panels: two decimals and the currency, `"1250.00 EUR"`.
pub fn display(money: &Money) -> String {
    match Decimal::of(money).map(|amount| amount.to_fixed(2)) {
        Some(Ok(amount)) => format!("{amount} {}", money.currency),
        _ => format!("{} {}", money.amount, money.currency),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::parse(text).unwrap_or_else(|| panic!("{text} is a decimal"))
    }

    fn fixed(value: Result<Decimal, Overflow>) -> String {
        value.and_then(|d| d.to_fixed(2)).unwrap_or_default()
    }

    #[test]
    fn sums_align_scales_exactly() {
        assert_eq!(fixed(dec("0.1").add(dec("0.2"))), "0.30");
        assert_eq!(fixed(dec("1250.5").add(dec("-0.005"))), "1250.50");
        assert_eq!(fixed(dec("7").add(Decimal::ZERO)), "7.00");
    }

    #[test]
    fn percent_is_exact_until_rounded() {
        // 33.33 × 15 % = 4.9995 → 5.00; two of them are 9.999 → 10.00, not 5.00 + 5.00.
        let weighted = dec("33.33").percent(15);
        assert_eq!(fixed(weighted), "5.00");
        let twice = weighted.and_then(|w| w.add(w));
        assert_eq!(twice.map(|d| (d.units, d.scale)), Ok((99990, 4)));
        assert_eq!(fixed(dec("100.01").percent(50)), "50.01");
        assert_eq!(fixed(dec("0.01").percent(50)), "0.01");
        assert_eq!(fixed(dec("0.01").percent(49)), "0.00");
    }

    #[test]
    fn rounding_takes_halves_away_from_zero() {
        assert_eq!(fixed(Ok(dec("0.125"))), "0.13");
        assert_eq!(fixed(Ok(dec("0.124999"))), "0.12");
        assert_eq!(fixed(Ok(dec("-0.125"))), "-0.13");
        assert_eq!(fixed(Ok(dec("-0.001"))), "0.00");
        assert_eq!(fixed(Ok(dec("2.5"))), "2.50");
        assert_eq!(dec("2.5").to_fixed(0), Ok("3".to_owned()));
        assert_eq!(fixed(Ok(dec("999.995"))), "1000.00");
    }

    #[test]
    fn overflow_is_reported_not_wrapped() {
        let huge = Decimal {
            units: i128::MAX / 2 + 1,
            scale: 0,
        };
        assert_eq!(huge.add(huge), Err(Overflow));
        assert_eq!(huge.percent(100), Err(Overflow));
        assert_eq!(Decimal::parse("abc"), None);
    }

    #[test]
    fn display_shows_two_decimals_and_the_currency() {
        assert_eq!(display(&Money::new("1250.5", "EUR")), "1250.50 EUR");
        assert_eq!(display(&Money::new("n/a", "USD")), "n/a USD");
    }
}
