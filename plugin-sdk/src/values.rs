//! Typed access to field values: `Value` conversions, dates and instants as `chrono` types,
//! money as exact decimals, accessors by field name on records, changes and field lists, and
//! what a change or an event changed (values before and after).

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value as Json};

use crate::{Change, Event, Field, FieldChange, Money, Record, Value};

/// Builds a field list from `(name, value)` pairs:
/// `fields([("first_name", Value::from("Ada")), ("score", Value::from(3))])`.
pub fn fields<I, K, V>(pairs: I) -> Vec<Field>
where
    I: IntoIterator<Item = (K, V)>,
    K: Into<String>,
    V: Into<Value>,
{
    pairs
        .into_iter()
        .map(|(name, value)| Field::new(name, value))
        .collect()
}

impl Value {
    /// A reference to the record `id` (`Value::from(id)` would be text).
    pub fn reference(id: impl Into<String>) -> Value {
        Value::Reference(id.into())
    }

    /// Whether the value is empty.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The text of a text, long_text, email, phone, url or select field.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    /// The integer of an integer field.
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Value::Integer(n) => Some(*n),
            _ => None,
        }
    }

    /// The number of a number field (an integer value is converted).
    pub fn as_number(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            Value::Integer(n) => Some(*n as f64),
            _ => None,
        }
    }

    /// The value of a boolean field.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The amount and currency of a money field.
    pub fn as_money(&self) -> Option<&Money> {
        match self {
            Value::Money(money) => Some(money),
            _ => None,
        }
    }

    /// The date of a date field: `"2026-11-22"`.
    pub fn as_date(&self) -> Option<&str> {
        match self {
            Value::Date(date) => Some(date),
            _ => None,
        }
    }

    /// The instant of a datetime field, RFC 3339 in UTC: `"2026-11-22T09:30:00.000Z"`.
    pub fn as_datetime(&self) -> Option<&str> {
        match self {
            Value::Datetime(instant) => Some(instant),
            _ => None,
        }
    }

    /// The date of a date field as a calendar date.
    pub fn as_day(&self) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(self.as_date()?, "%Y-%m-%d").ok()
    }

    /// The instant of a datetime field.
    pub fn as_instant(&self) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(self.as_datetime()?)
            .ok()
            .map(|at| at.with_timezone(&Utc))
    }

    /// The record id of a single reference field.
    pub fn as_reference(&self) -> Option<&str> {
        match self {
            Value::Reference(id) => Some(id),
            _ => None,
        }
    }

    /// The user id of a user field.
    pub fn as_user(&self) -> Option<&str> {
        match self {
            Value::User(id) => Some(id),
            _ => None,
        }
    }

    /// The items of a tags, multi_select or multiple reference field.
    pub fn as_texts(&self) -> Option<&[String]> {
        match self {
            Value::Texts(items) => Some(items),
            _ => None,
        }
    }

    /// The JSON text of a json field.
    pub fn as_json(&self) -> Option<&str> {
        match self {
            Value::Json(text) => Some(text),
            _ => None,
        }
    }

    /// The value as the REST API writes it: money as `{"amount", "currency"}`, a json field as
    /// its document, a number that is not finite as `null`.
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Text(s)
            | Value::Date(s)
            | Value::Datetime(s)
            | Value::Reference(s)
            | Value::User(s) => Json::String(s.clone()),
            Value::Integer(n) => Json::from(*n),
            Value::Number(n) => serde_json::Number::from_f64(*n).map_or(Json::Null, Json::Number),
            Value::Boolean(b) => Json::Bool(*b),
            Value::Money(money) => {
                serde_json::json!({ "amount": money.amount, "currency": money.currency })
            }
            Value::Texts(items) => Json::from(items.clone()),
            Value::Json(text) => {
                serde_json::from_str(text).unwrap_or_else(|_| Json::String(text.clone()))
            }
        }
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        Value::Text(text.to_owned())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Value {
        Value::Text(text)
    }
}

impl From<&String> for Value {
    fn from(text: &String) -> Value {
        Value::Text(text.clone())
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Integer(n)
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Value {
        Value::Integer(n.into())
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Value {
        Value::Integer(n.into())
    }
}

impl From<f64> for Value {
    fn from(n: f64) -> Value {
        Value::Number(n)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Boolean(b)
    }
}

impl From<Money> for Value {
    fn from(money: Money) -> Value {
        Value::Money(money)
    }
}

impl From<Vec<String>> for Value {
    fn from(items: Vec<String>) -> Value {
        Value::Texts(items)
    }
}

impl From<NaiveDate> for Value {
    /// A date field's value: `"2026-11-22"`.
    fn from(day: NaiveDate) -> Value {
        Value::Date(day.format("%Y-%m-%d").to_string())
    }
}

impl From<DateTime<Utc>> for Value {
    /// A datetime field's value, RFC 3339 in UTC with milliseconds.
    fn from(at: DateTime<Utc>) -> Value {
        Value::Datetime(at.to_rfc3339_opts(SecondsFormat::Millis, true))
    }
}

impl From<Decimal> for Value {
    /// A number field's value (money is [`Money::from_decimal`]).
    fn from(number: Decimal) -> Value {
        Value::Number(number.to_string().parse().unwrap_or(f64::NAN))
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    /// `None` is [`Value::Null`] (which clears a field when written).
    fn from(value: Option<T>) -> Value {
        value.map_or(Value::Null, Into::into)
    }
}

impl Money {
    /// An amount (an exact decimal such as `"1250.00"`) in a currency (`"EUR"`).
    pub fn new(amount: impl Into<String>, currency: impl Into<String>) -> Money {
        Money {
            amount: amount.into(),
            currency: currency.into(),
        }
    }

    /// The amount as an exact decimal: `(units, scale)` with amount = units / 10^scale, so
    /// `"-1250.50"` is `(-125050, 2)`. `None` when the amount is not a decimal number.
    pub fn amount_parts(&self) -> Option<(i128, u32)> {
        parse_decimal(&self.amount)
    }

    /// The amount in hundredths (cents for most currencies): `"12.5"` is `1250`. `None` when
    /// the amount is not a decimal, has more than two decimal places that are not zero, or
    /// does not fit.
    pub fn amount_cents(&self) -> Option<i128> {
        let (units, scale) = self.amount_parts()?;
        if scale <= 2 {
            units.checked_mul(10_i128.checked_pow(2 - scale)?)
        } else {
            let divisor = 10_i128.checked_pow(scale - 2)?;
            (units % divisor == 0).then(|| units / divisor)
        }
    }

    /// The amount as a float (inexact: for display and statistics, not for sums of money).
    pub fn amount_f64(&self) -> Option<f64> {
        self.amount_parts()?;
        self.amount.trim().parse().ok()
    }

    /// Whether the amount is below zero.
    pub fn is_negative(&self) -> bool {
        self.amount_parts().is_some_and(|(units, _)| units < 0)
    }

    /// The amount as an exact decimal (`rust_decimal`), for arithmetic on money: `None` when
    /// it is not a decimal number.
    pub fn decimal(&self) -> Option<Decimal> {
        self.amount_parts()?;
        self.amount.trim().parse().ok()
    }

    /// A money value of an exact decimal amount: `Money::from_decimal(total, "EUR")`.
    pub fn from_decimal(amount: Decimal, currency: impl Into<String>) -> Money {
        Money::new(amount.normalize().to_string(), currency)
    }
}

/// `[-+]digits[.digits]` as (units, scale).
fn parse_decimal(text: &str) -> Option<(i128, u32)> {
    let text = text.trim();
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let mut units: i128 = 0;
    for byte in whole.bytes().chain(fraction.bytes()) {
        if !byte.is_ascii_digit() {
            return None;
        }
        units = units
            .checked_mul(10)?
            .checked_add(i128::from(byte - b'0'))?;
    }
    let scale = u32::try_from(fraction.len()).ok()?;
    Some((if negative { -units } else { units }, scale))
}

/// Access to values by field name, for any list of fields (`change.fields`,
/// `Verdict::Patch(fields)`, …). [`Record`] and [`Change`] have the same methods built in.
pub trait FieldList {
    /// The fields.
    fn field_list(&self) -> &[Field];

    /// The value of the field `name`, if present (empty fields of a record are absent).
    fn get(&self, name: &str) -> Option<&Value> {
        find(self.field_list(), name)
    }

    /// See [`Value::as_text`].
    fn text(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_text)
    }

    /// See [`Value::as_integer`].
    fn integer(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(Value::as_integer)
    }

    /// See [`Value::as_number`].
    fn number(&self, name: &str) -> Option<f64> {
        self.get(name).and_then(Value::as_number)
    }

    /// See [`Value::as_bool`].
    fn boolean(&self, name: &str) -> Option<bool> {
        self.get(name).and_then(Value::as_bool)
    }

    /// See [`Value::as_money`].
    fn money(&self, name: &str) -> Option<&Money> {
        self.get(name).and_then(Value::as_money)
    }

    /// See [`Value::as_date`].
    fn date(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_date)
    }

    /// See [`Value::as_datetime`].
    fn datetime(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_datetime)
    }

    /// A date field as a calendar date; see [`Value::as_day`].
    fn day(&self, name: &str) -> Option<NaiveDate> {
        self.get(name).and_then(Value::as_day)
    }

    /// A datetime field as an instant; see [`Value::as_instant`].
    fn instant(&self, name: &str) -> Option<DateTime<Utc>> {
        self.get(name).and_then(Value::as_instant)
    }

    /// See [`Value::as_reference`].
    fn reference(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_reference)
    }

    /// See [`Value::as_user`].
    fn user(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_user)
    }

    /// See [`Value::as_texts`].
    fn texts(&self, name: &str) -> Option<&[String]> {
        self.get(name).and_then(Value::as_texts)
    }

    /// See [`Value::as_json`].
    fn json(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_json)
    }
}

impl FieldList for [Field] {
    fn field_list(&self) -> &[Field] {
        self
    }
}

impl FieldList for Vec<Field> {
    fn field_list(&self) -> &[Field] {
        self
    }
}

fn find<'a>(fields: &'a [Field], name: &str) -> Option<&'a Value> {
    fields
        .iter()
        .find(|field| field.name == name)
        .map(|field| &field.value)
}

/// Inherent copies of the [`FieldList`] accessors, so records and changes need no import.
macro_rules! field_accessors {
    ($($ty:ty),*) => {$(
        impl FieldList for $ty {
            fn field_list(&self) -> &[Field] {
                &self.fields
            }
        }

        impl $ty {
            /// The value of the field `name`, if present (empty fields of a record are absent).
            pub fn get(&self, name: &str) -> Option<&Value> {
                FieldList::get(self, name)
            }
            /// The text of a text-like field; see [`Value::as_text`].
            pub fn text(&self, name: &str) -> Option<&str> {
                FieldList::text(self, name)
            }
            /// See [`Value::as_integer`].
            pub fn integer(&self, name: &str) -> Option<i64> {
                FieldList::integer(self, name)
            }
            /// See [`Value::as_number`].
            pub fn number(&self, name: &str) -> Option<f64> {
                FieldList::number(self, name)
            }
            /// See [`Value::as_bool`].
            pub fn boolean(&self, name: &str) -> Option<bool> {
                FieldList::boolean(self, name)
            }
            /// See [`Value::as_money`].
            pub fn money(&self, name: &str) -> Option<&Money> {
                FieldList::money(self, name)
            }
            /// See [`Value::as_date`].
            pub fn date(&self, name: &str) -> Option<&str> {
                FieldList::date(self, name)
            }
            /// See [`Value::as_datetime`].
            pub fn datetime(&self, name: &str) -> Option<&str> {
                FieldList::datetime(self, name)
            }
            /// A date field as a calendar date; see [`Value::as_day`].
            pub fn day(&self, name: &str) -> Option<NaiveDate> {
                FieldList::day(self, name)
            }
            /// A datetime field as an instant; see [`Value::as_instant`].
            pub fn instant(&self, name: &str) -> Option<DateTime<Utc>> {
                FieldList::instant(self, name)
            }
            /// See [`Value::as_reference`].
            pub fn reference(&self, name: &str) -> Option<&str> {
                FieldList::reference(self, name)
            }
            /// See [`Value::as_user`].
            pub fn user(&self, name: &str) -> Option<&str> {
                FieldList::user(self, name)
            }
            /// See [`Value::as_texts`].
            pub fn texts(&self, name: &str) -> Option<&[String]> {
                FieldList::texts(self, name)
            }
            /// See [`Value::as_json`].
            pub fn json(&self, name: &str) -> Option<&str> {
                FieldList::json(self, name)
            }
        }
    )*};
}

field_accessors!(Record, Change);

impl Change {
    /// The value the field had before the write (`None` for a create, or when it was empty).
    pub fn old(&self, name: &str) -> Option<&Value> {
        find(&self.old_fields, name)
    }

    /// Whether the write sets `name` to a value other than the one it had: a transition, as
    /// `change.moved("stage")`. A create moves every field it gives.
    pub fn moved(&self, name: &str) -> bool {
        self.sets(name) && self.get(name) != self.old(name)
    }
}

impl FieldChange {
    /// Whether the field had a value before.
    pub fn had_value(&self) -> bool {
        !self.old.is_null()
    }
}

impl Event {
    /// What the change did to the field `name` (its value before and after), if it set it and
    /// the acting user may see it.
    pub fn change(&self, name: &str) -> Option<&FieldChange> {
        self.changes.iter().find(|c| c.name == name)
    }

    /// The field's value after the change (`None` when the change did not set it).
    pub fn new_value(&self, name: &str) -> Option<&Value> {
        self.change(name).map(|c| &c.new)
    }

    /// The field's value before the change (`None` when the change did not set it;
    /// `Value::Null` when it had none).
    pub fn old_value(&self, name: &str) -> Option<&Value> {
        self.change(name).map(|c| &c.old)
    }
}

impl Record {
    /// The record as the REST API writes it: one flat object of the system keys (`id`,
    /// `version`, `owner`, `created_at`, `updated_at`) and the field values.
    pub fn to_json(&self) -> Json {
        let mut object = Map::with_capacity(self.fields.len() + 5);
        object.insert("id".into(), Json::String(self.id.clone()));
        object.insert("version".into(), Json::from(self.version));
        object.insert(
            "owner".into(),
            self.owner.clone().map_or(Json::Null, Json::String),
        );
        object.insert("created_at".into(), Json::String(self.created_at.clone()));
        object.insert("updated_at".into(), Json::String(self.updated_at.clone()));
        for field in &self.fields {
            object.insert(field.name.clone(), field.value.to_json());
        }
        Json::Object(object)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn money_amounts_parse_exactly() {
        let money = |amount: &str| Money::new(amount, "EUR");
        assert_eq!(money("-1250.50").amount_parts(), Some((-125050, 2)));
        assert_eq!(money("12.5").amount_cents(), Some(1250));
        assert_eq!(money("7").amount_cents(), Some(700));
        assert_eq!(money("1.2300").amount_cents(), Some(123));
        assert_eq!(money("1.234").amount_cents(), None);
        assert_eq!(money("abc").amount_parts(), None);
        assert_eq!(money("-").amount_parts(), None);
        assert_eq!(money("0.5").amount_f64(), Some(0.5));
        assert!(money("-0.01").is_negative());
        assert!(!money("0.00").is_negative());
    }

    #[test]
    fn dates_instants_and_decimals_convert_both_ways() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        assert_eq!(Value::from(day), Value::Date("2026-11-22".into()));
        assert_eq!(Value::from(day).as_day(), Some(day));
        let patch = fields([
            ("due", Value::from(day)),
            ("parent", Value::reference("r1")),
        ]);
        assert_eq!(patch.day("due"), Some(day));
        assert_eq!(patch.reference("parent"), Some("r1"));
        assert_eq!(patch.day("parent"), None);
        let at = DateTime::parse_from_rfc3339("2026-11-22T09:30:00.5Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            Value::from(at),
            Value::Datetime("2026-11-22T09:30:00.500Z".into())
        );
        assert_eq!(Value::from(at).as_instant(), Some(at));
        assert_eq!(Value::Date("22/11/2026".into()).as_day(), None);
        let total = Money::new("19.99", "EUR").decimal().unwrap() * Decimal::from(3);
        assert_eq!(
            Money::from_decimal(total, "EUR"),
            Money::new("59.97", "EUR")
        );
        assert_eq!(Money::new("1e3", "EUR").decimal(), None);
    }

    #[test]
    fn accessors_read_typed_values_by_name() {
        let list = fields([
            ("name", Value::from("Ada")),
            ("n", Value::from(3)),
            ("tags", Value::from(vec!["a".to_owned()])),
            ("gone", Value::from(None::<String>)),
        ]);
        assert_eq!(list.text("name"), Some("Ada"));
        assert_eq!(list.integer("n"), Some(3));
        assert_eq!(list.number("n"), Some(3.0));
        assert_eq!(list.text("n"), None);
        assert_eq!(list.texts("tags").map(<[String]>::len), Some(1));
        assert!(list.get("gone").is_some_and(Value::is_null));
        assert_eq!(list.get("missing"), None);
    }
}
