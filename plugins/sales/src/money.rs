//! Sums of money for the forecast and the deal panels: exact decimals (`Money::decimal`, a
//! `rust_decimal::Decimal`), rounded to cents only when shown, so a forecast never picks up
//! the drift of floating point.

use std::fmt;

use plugin_sdk::prelude::*;
use plugin_sdk::rust_decimal::{Decimal, RoundingStrategy};

/// A sum that no longer fits exactly: money amounts are bounded, so this only meets absurd
/// data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the amounts are too large to add up exactly")
    }
}

// `Decimal` holds 28 digits and rounds away what does not fit; for money that would be a
// silent error, so a result that lost decimals (its scale below the operands') is an
// `Overflow`. A zero operand gives the other operand, or a zero of scale 0: both exact.

/// `a + b`, exactly.
pub fn add(a: Decimal, b: Decimal) -> Result<Decimal, Overflow> {
    let sum = a.checked_add(b).ok_or(Overflow)?;
    let exact = a.is_zero() || b.is_zero() || sum.scale() >= a.scale().max(b.scale());
    exact.then_some(sum).ok_or(Overflow)
}

/// `amount × percent / 100`, exactly (the point moves two places: 33.33 × 15 % = 4.9995).
pub fn percent(amount: Decimal, percent: i64) -> Result<Decimal, Overflow> {
    let product = amount
        .checked_mul(Decimal::new(percent, 2))
        .ok_or(Overflow)?;
    let exact = product.is_zero() || product.scale() >= amount.scale() + 2;
    exact.then_some(product).ok_or(Overflow)
}

/// The amount with two decimals, halves rounded away from zero (commercial rounding: 0.125 →
/// `"0.13"`, -0.125 → `"-0.13"`, 2.5 → `"2.50"`).
pub fn cents(amount: Decimal) -> String {
    let rounded = amount.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    format!("{rounded:.2}")
}

/// A money amount as the panels hand it to their templates (which write it with the host's
/// `money` filter, in the reader's language): two decimals, `"1250.50"`, or the stored text
/// when it is not a decimal.
pub fn shown(money: &Money) -> String {
    money.decimal().map_or_else(|| money.amount.clone(), cents)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(text: &str) -> Decimal {
        Money::new(text, "EUR")
            .decimal()
            .unwrap_or_else(|| panic!("{text} is a decimal"))
    }

    #[test]
    fn sums_align_scales_exactly() {
        assert_eq!(
            add(dec("0.1"), dec("0.2")).map(cents),
            Ok("0.30".to_owned())
        );
        assert_eq!(
            add(dec("1250.5"), dec("-0.005")).map(cents),
            Ok("1250.50".to_owned())
        );
        assert_eq!(
            add(dec("7"), Decimal::ZERO).map(cents),
            Ok("7.00".to_owned())
        );
        assert_eq!(add(Decimal::ZERO, dec("0.0000")), Ok(dec("0")));
    }

    #[test]
    fn percent_is_exact_until_rounded() {
        // 33.33 × 15 % = 4.9995 → 5.00; two of them are 9.999 → 10.00, not 5.00 + 5.00.
        let weighted = percent(dec("33.33"), 15);
        assert_eq!(weighted.map(cents), Ok("5.00".to_owned()));
        let twice = weighted.and_then(|w| add(w, w));
        assert_eq!(twice.map(|d| (d.mantissa(), d.scale())), Ok((99990, 4)));
        assert_eq!(
            percent(dec("100.01"), 50).map(cents),
            Ok("50.01".to_owned())
        );
        assert_eq!(percent(dec("0.01"), 50).map(cents), Ok("0.01".to_owned()));
        assert_eq!(percent(dec("0.01"), 49).map(cents), Ok("0.00".to_owned()));
        assert_eq!(percent(dec("12.5"), 0), Ok(Decimal::ZERO));
    }

    #[test]
    fn rounding_takes_halves_away_from_zero() {
        for (amount, shown) in [
            ("0.125", "0.13"),
            ("0.124999", "0.12"),
            ("-0.125", "-0.13"),
            ("-0.001", "0.00"),
            ("2.5", "2.50"),
            ("999.995", "1000.00"),
            ("50000", "50000.00"),
        ] {
            assert_eq!(cents(dec(amount)), shown, "{amount}");
        }
    }

    #[test]
    fn overflow_is_reported_not_wrapped_or_rounded() {
        assert_eq!(add(Decimal::MAX, Decimal::MAX), Err(Overflow));
        assert_eq!(percent(Decimal::MAX, 200), Err(Overflow));
        // 28 digits hold the amount, not the amount × 15 % (…592.5495): not rounded to …592.550.
        assert_eq!(
            percent(dec("79228162514264337593543950.33"), 15),
            Err(Overflow)
        );
        assert_eq!(
            add(dec("79228162514264337593543950.33"), dec("0.0001")),
            Err(Overflow)
        );
    }

    #[test]
    fn shown_amounts_have_two_decimals() {
        assert_eq!(shown(&Money::new("1250.5", "EUR")), "1250.50");
        assert_eq!(shown(&Money::new("n/a", "USD")), "n/a");
    }
}
