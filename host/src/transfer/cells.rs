//! A cell's text as a field's value: what people type in spreadsheets (`1,234.50`, `yes`,
//! `2026/12/07`, `1200 EUR`, an option's label in any language) becomes the value the store
//! takes. Whatever is not recognised is passed on as text, so that the store refuses it with
//! its own message, exactly as the API would.

use chrono::{NaiveDate, NaiveDateTime};
use chrono_tz::Tz;
use serde_json::{Value, json};

use crate::i18n::{Text, text};
use crate::records::schema::{FieldKind, FieldSpec};
use crate::web::display::from_local;

/// How cells are read: the workspace clock for times without a zone, and the currency of a
/// money cell that names none.
pub struct CellRules {
    pub zone: Tz,
    pub currency: Option<String>,
}

/// The value of `raw` for `field` (never empty: empty cells are decided by the caller).
/// References and users are resolved later (`Resolver`); here they stay text.
pub fn value(field: &FieldSpec, raw: &str, rules: &CellRules) -> Result<Value, Text> {
    let raw = raw.trim();
    Ok(match field.kind {
        FieldKind::Integer => match whole(raw) {
            Some(n) => Value::from(n),
            None => return Err(text!("api-web-not-whole-number")),
        },
        FieldKind::Number => match number(raw).and_then(serde_json::Number::from_f64) {
            Some(n) => Value::Number(n),
            None => return Err(text!("api-web-not-number")),
        },
        FieldKind::Money => money(raw, rules.currency.as_deref())?,
        FieldKind::Boolean => match raw.to_lowercase().as_str() {
            "true" | "yes" | "y" | "1" | "x" | "✓" | "是" | "对" => Value::Bool(true),
            "false" | "no" | "n" | "0" | "否" | "不" => Value::Bool(false),
            _ => return Err(text!("api-import-not-boolean")),
        },
        FieldKind::Date => {
            Value::String(date(raw).map_or_else(|| raw.to_owned(), |d| d.to_string()))
        }
        FieldKind::Datetime => match naive_datetime(raw) {
            Some(naive) => {
                let at = from_local(naive, rules.zone)?;
                Value::String(at.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            }
            None => Value::String(raw.to_owned()),
        },
        FieldKind::Select => Value::String(option(field, raw)),
        FieldKind::MultiSelect | FieldKind::Tags => Value::Array(
            list(raw)
                .map(|item| Value::String(option(field, item)))
                .collect(),
        ),
        FieldKind::Reference | FieldKind::User if field.multiple => Value::Array(
            list(raw)
                .map(|item| Value::String(item.to_owned()))
                .collect(),
        ),
        FieldKind::Json => serde_json::from_str(raw)
            .map_err(|e| text!("api-web-not-json", detail = e.to_string()))?,
        _ => Value::String(raw.to_owned()),
    })
}

/// The items of a list cell: separated by `;` when it has one, else by `,`.
pub fn list(raw: &str) -> impl Iterator<Item = &str> {
    let separator = if raw.contains(';') { ';' } else { ',' };
    raw.split(separator)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// Digits with thousands separators (`,`, spaces, `_`, `'`) taken out.
fn plain_number(raw: &str) -> String {
    raw.chars()
        .filter(|c| !matches!(c, ',' | ' ' | '_' | '\'' | '\u{a0}'))
        .collect()
}

fn whole(raw: &str) -> Option<i64> {
    let plain = plain_number(raw);
    plain.parse::<i64>().ok().or_else(|| {
        // `12.0` from a spreadsheet is 12.
        let f = plain.parse::<f64>().ok()?;
        (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
    })
}

fn number(raw: &str) -> Option<f64> {
    plain_number(raw)
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
}

/// `1200.50 EUR`, `EUR 1,200.50`, or a plain amount in `currency`.
fn money(raw: &str, currency: Option<&str>) -> Result<Value, Text> {
    let (amount, code) = match raw.split_once(char::is_whitespace) {
        Some((a, b)) if is_code(b.trim()) => (a, Some(b.trim())),
        Some((a, b)) if is_code(a) => (b.trim(), Some(a)),
        _ => (raw, None),
    };
    let Some(code) = code.or(currency) else {
        return Err(text!("api-import-money-currency"));
    };
    let amount = plain_number(amount);
    if amount.parse::<f64>().is_err() {
        return Err(text!("api-web-not-number"));
    }
    Ok(json!({ "amount": amount, "currency": code.to_uppercase() }))
}

fn is_code(s: &str) -> bool {
    s.len() == 3 && s.chars().all(|c| c.is_ascii_alphabetic())
}

/// ISO dates, `2026/12/07`, `2026.12.07`, `2026年12月7日`, or the date of a date and time.
fn date(raw: &str) -> Option<NaiveDate> {
    ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y年%m月%d日"]
        .iter()
        .find_map(|format| NaiveDate::parse_from_str(raw, format).ok())
        .or_else(|| naive_datetime(raw).map(|at| at.date()))
}

/// A date and time without a zone (`2026-12-07 09:30`, `2026-12-07T09:30:00`).
fn naive_datetime(raw: &str) -> Option<NaiveDateTime> {
    [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y/%m/%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(raw, format).ok())
}

/// The option whose value or label (in any language) the cell holds, ignoring case; the cell
/// itself when none does.
fn option(field: &FieldSpec, raw: &str) -> String {
    let wanted = raw.to_lowercase();
    field
        .options
        .iter()
        .find(|o| {
            o.value.to_lowercase() == wanted
                || o.label.to_lowercase() == wanted
                || o.labels.values().any(|l| l.to_lowercase() == wanted)
        })
        .map_or_else(|| raw.to_owned(), |o| o.value.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(kind: &str, extra: Value) -> FieldSpec {
        let mut spec = json!({ "name": "f", "type": kind });
        if let (Some(spec), Value::Object(extra)) = (spec.as_object_mut(), extra) {
            spec.extend(extra);
        }
        serde_json::from_value(spec).expect("a field")
    }

    fn rules() -> CellRules {
        CellRules {
            zone: chrono_tz::Europe::Berlin,
            currency: None,
        }
    }

    #[test]
    fn spreadsheet_habits_become_values() {
        let r = rules();
        assert_eq!(
            value(&field("integer", json!({})), "1,234", &r),
            Ok(json!(1234))
        );
        assert_eq!(
            value(&field("integer", json!({})), "12.0", &r),
            Ok(json!(12))
        );
        assert_eq!(
            value(&field("number", json!({})), " 1 234.5 ", &r),
            Ok(json!(1234.5))
        );
        assert_eq!(
            value(&field("boolean", json!({})), "Yes", &r),
            Ok(json!(true))
        );
        assert_eq!(
            value(&field("boolean", json!({})), "否", &r),
            Ok(json!(false))
        );
        assert_eq!(
            value(&field("date", json!({})), "2026/12/07", &r),
            Ok(json!("2026-12-07"))
        );
        assert_eq!(
            value(&field("date", json!({})), "2026年12月7日", &r),
            Ok(json!("2026-12-07"))
        );
        assert_eq!(
            value(&field("money", json!({})), "EUR 1,200.50", &r),
            Ok(json!({ "amount": "1200.50", "currency": "EUR" }))
        );
        // Winter and summer time in Berlin.
        assert_eq!(
            value(&field("datetime", json!({})), "2026-01-10 09:30", &r),
            Ok(json!("2026-01-10T08:30:00Z"))
        );
        assert_eq!(
            value(&field("datetime", json!({})), "2026-07-10 09:30", &r),
            Ok(json!("2026-07-10T07:30:00Z"))
        );
    }

    #[test]
    fn options_match_by_value_or_any_label() {
        let status = field(
            "select",
            json!({ "options": [{ "value": "new", "label": "New", "labels": { "zh-CN": "新建" } }] }),
        );
        let r = rules();
        assert_eq!(value(&status, "NEW", &r), Ok(json!("new")));
        assert_eq!(value(&status, "新建", &r), Ok(json!("new")));
        // Left for the store to refuse, with the options in its message.
        assert_eq!(value(&status, "unheard of", &r), Ok(json!("unheard of")));
        let tags = field("tags", json!({}));
        assert_eq!(value(&tags, "a; b ;;c", &r), Ok(json!(["a", "b", "c"])));
    }

    #[test]
    fn what_cannot_be_read_says_why() {
        let r = rules();
        assert!(value(&field("integer", json!({})), "twelve", &r).is_err());
        assert!(value(&field("boolean", json!({})), "perhaps", &r).is_err());
        let error = value(&field("money", json!({})), "12.50", &r).expect_err("no currency");
        assert_eq!(error.key(), Some("api-import-money-currency"));
        let with_default = CellRules {
            currency: Some("CNY".into()),
            ..rules()
        };
        assert_eq!(
            value(&field("money", json!({})), "12.50", &with_default),
            Ok(json!({ "amount": "12.50", "currency": "CNY" }))
        );
    }
}
