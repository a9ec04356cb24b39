//! Checking and normalising field values against a type's schema, before any write.
//!
//! Normal forms, which queries rely on: an empty value (`null`, `""`, `[]`) is stored as an
//! absent key; emails (and `lowercase` text) are lowercased; datetimes are UTC with
//! milliseconds (`2026-11-22T14:30:00.000Z`), so text order is time order; money is
//! `{"amount": "<decimal>", "currency": "ISO"}`; references are hyphenated lowercase UUIDs.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::schema::{EntityType, FieldKind, FieldSpec, SYSTEM_KEYS};
use crate::error::FieldError;
use crate::i18n::{Text, text};

/// Largest serialised size of one `json` field value.
const MAX_JSON_BYTES: usize = 64 * 1024;
/// Most entries in a list field.
pub(super) const MAX_LIST_LEN: usize = 1_000;

/// A checked write: normalised field values (`Value::Null` in a patch clears the field), the
/// requested owner, and the ids that must exist for the write to be valid.
#[derive(Debug, Default)]
pub struct Draft {
    pub fields: Map<String, Value>,
    pub owner: Option<Uuid>,
    pub record_refs: Vec<(String, Uuid, Option<String>)>,
    pub user_refs: Vec<(String, Uuid)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Create,
    Patch,
}

/// Checks a record body against `ty`: unknown keys, read-only system keys, types, formats,
/// options and required fields. Every problem is reported, not only the first.
pub fn check(
    ty: &EntityType,
    input: &Map<String, Value>,
    mode: Mode,
) -> Result<Draft, Vec<FieldError>> {
    let mut draft = Draft::default();
    let mut errors = Vec::new();
    for (key, value) in input {
        if key == "owner" {
            match value {
                Value::Null => {}
                Value::String(s) => match Uuid::parse_str(s) {
                    Ok(id) => {
                        draft.owner = Some(id);
                        draft.user_refs.push(("owner".to_owned(), id));
                    }
                    Err(_) => errors.push(FieldError::new(
                        key,
                        "invalid_user",
                        text!("api-records-not-a-user-id"),
                    )),
                },
                _ => errors.push(FieldError::new(
                    key,
                    "invalid_type",
                    text!("api-records-expected-user-id"),
                )),
            }
            continue;
        }
        if SYSTEM_KEYS.contains(&key.as_str()) {
            errors.push(FieldError::new(
                key,
                "read_only",
                text!("api-records-system-key-read-only"),
            ));
            continue;
        }
        let Some(field) = ty.field(key) else {
            errors.push(FieldError::new(
                key.chars().take(100).collect::<String>(),
                "unknown_field",
                text!("api-records-no-such-field", plural = &ty.plural),
            ));
            continue;
        };
        if field.read_only {
            errors.push(FieldError::new(
                key,
                "read_only",
                text!("api-records-field-read-only"),
            ));
            continue;
        }
        match normalize(field, value) {
            Ok(Some(normal)) => {
                collect_refs(field, &normal, &mut draft);
                draft.fields.insert(key.clone(), normal);
            }
            Ok(None) if field.required => {
                errors.push(FieldError::new(
                    key,
                    "required",
                    text!("api-records-value-required"),
                ));
            }
            Ok(None) => {
                if mode == Mode::Patch {
                    draft.fields.insert(key.clone(), Value::Null);
                }
            }
            Err((code, message)) => errors.push(FieldError::new(key, code, message)),
        }
    }
    if mode == Mode::Create {
        for field in ty.fields.iter().filter(|f| f.required) {
            if !input.contains_key(&field.name) {
                errors.push(FieldError::new(
                    &field.name,
                    "required",
                    text!("api-records-value-required"),
                ));
            }
        }
    }
    if errors.is_empty() {
        Ok(draft)
    } else {
        Err(errors)
    }
}

fn collect_refs(field: &FieldSpec, value: &Value, draft: &mut Draft) {
    let ids = match value {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    for id in ids.into_iter().filter_map(|s| Uuid::parse_str(s).ok()) {
        match field.kind {
            FieldKind::Reference => {
                draft
                    .record_refs
                    .push((field.name.clone(), id, field.target.clone()));
            }
            FieldKind::User => draft.user_refs.push((field.name.clone(), id)),
            _ => {}
        }
    }
}

type Problem = (&'static str, Text);

fn problem(code: &'static str, message: Text) -> Problem {
    (code, message)
}

/// Normalises one value; `Ok(None)` means empty.
pub fn normalize(field: &FieldSpec, value: &Value) -> Result<Option<Value>, Problem> {
    if is_empty(value) {
        return Ok(None);
    }
    if field.is_list() {
        return normalize_list(field, value).map(Some);
    }
    let normal = match field.kind {
        FieldKind::Text | FieldKind::LongText => {
            let text = expect_text(field, value)?;
            Value::String(if field.lowercase {
                text.to_lowercase()
            } else {
                text.to_owned()
            })
        }
        FieldKind::Email => Value::String(normalize_email(expect_text(field, value)?)?),
        FieldKind::Phone => Value::String(normalize_phone(expect_text(field, value)?)?),
        FieldKind::Url => Value::String(normalize_url(expect_text(field, value)?)?),
        FieldKind::Integer => match value.as_i64() {
            Some(n) => Value::from(n),
            None => {
                return Err(problem(
                    "invalid_type",
                    text!("api-records-expected-whole-number"),
                ));
            }
        },
        FieldKind::Number => match value.as_f64().filter(|n| n.is_finite()) {
            Some(_) if value.is_number() => value.clone(),
            _ => {
                return Err(problem(
                    "invalid_type",
                    text!("api-records-expected-number"),
                ));
            }
        },
        FieldKind::Money => normalize_money(value)?,
        FieldKind::Boolean => match value {
            Value::Bool(_) => value.clone(),
            _ => {
                return Err(problem(
                    "invalid_type",
                    text!("api-records-expected-boolean"),
                ));
            }
        },
        FieldKind::Date => {
            let text = expect_text(field, value)?;
            match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
                Ok(date) => Value::String(date.format("%Y-%m-%d").to_string()),
                Err(_) => return Err(problem("invalid_date", text!("api-records-expected-date"))),
            }
        }
        FieldKind::Datetime => Value::String(normalize_datetime(expect_text(field, value)?)?),
        FieldKind::Select => {
            let text = expect_text(field, value)?;
            check_option(field, text)?;
            Value::String(text.to_owned())
        }
        FieldKind::Reference | FieldKind::User => Value::String(normalize_id(value)?),
        FieldKind::Json => {
            let size = serde_json::to_vec(value)
                .map(|v| v.len())
                .unwrap_or(usize::MAX);
            if size > MAX_JSON_BYTES {
                return Err(problem(
                    "too_long",
                    text!("api-records-json-too-large", max = MAX_JSON_BYTES),
                ));
            }
            value.clone()
        }
        FieldKind::MultiSelect | FieldKind::Tags => return normalize_list(field, value).map(Some),
    };
    Ok(Some(normal))
}

fn normalize_list(field: &FieldSpec, value: &Value) -> Result<Value, Problem> {
    let Value::Array(items) = value else {
        return Err(problem("invalid_type", text!("api-records-expected-list")));
    };
    if items.len() > MAX_LIST_LEN {
        return Err(problem(
            "too_long",
            text!("api-records-list-too-long", max = MAX_LIST_LEN),
        ));
    }
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for item in items {
        let normal = match field.kind {
            FieldKind::Reference => Value::String(normalize_id(item)?),
            FieldKind::MultiSelect => {
                let text = item.as_str().ok_or_else(|| {
                    problem("invalid_type", text!("api-records-expected-string-list"))
                })?;
                check_option(field, text)?;
                Value::String(text.to_owned())
            }
            _ => {
                let text = item.as_str().map(str::trim).ok_or_else(|| {
                    problem("invalid_type", text!("api-records-expected-string-list"))
                })?;
                if text.is_empty() || text.chars().count() > 64 {
                    return Err(problem("invalid_tag", text!("api-records-invalid-tag")));
                }
                Value::String(text.to_owned())
            }
        };
        if !out.contains(&normal) {
            out.push(normal);
        }
    }
    Ok(Value::Array(out))
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

fn expect_text<'a>(field: &FieldSpec, value: &'a Value) -> Result<&'a str, Problem> {
    let Value::String(text) = value else {
        return Err(problem(
            "invalid_type",
            text!("api-records-expected-string"),
        ));
    };
    let text = text.trim();
    let limit = field.text_limit();
    if text.chars().count() > limit {
        return Err(problem(
            "too_long",
            text!("api-records-text-too-long", max = limit),
        ));
    }
    if field.kind != FieldKind::LongText && text.contains(|c: char| c.is_control()) {
        return Err(problem(
            "invalid_text",
            text!("api-records-control-characters"),
        ));
    }
    Ok(text)
}

fn check_option(field: &FieldSpec, value: &str) -> Result<(), Problem> {
    if field.options.iter().any(|o| o.value == value) {
        return Ok(());
    }
    let allowed: Vec<&str> = field.options.iter().map(|o| o.value.as_str()).collect();
    Err(problem(
        "invalid_option",
        text!("api-records-expected-option", options = allowed.join(", ")),
    ))
}

pub fn normalize_email(text: &str) -> Result<String, Problem> {
    let email = text.to_lowercase();
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && local.len() <= 64
                && domain.contains('.')
                && !domain.starts_with(['.', '-'])
                && !domain.ends_with(['.', '-'])
                && !domain.contains("..")
                && local
                    .chars()
                    .all(|c| c.is_alphanumeric() || "._%+-'".contains(c))
                && domain
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '.' || c == '-')
        }
        None => false,
    };
    if valid {
        Ok(email)
    } else {
        Err(problem("invalid_email", text!("api-records-invalid-email")))
    }
}

fn normalize_phone(text: &str) -> Result<String, Problem> {
    let digits = text.chars().filter(char::is_ascii_digit).count();
    let allowed = text
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().x/".contains(c));
    if allowed && (4..=20).contains(&digits) {
        Ok(text.to_owned())
    } else {
        Err(problem("invalid_phone", text!("api-records-invalid-phone")))
    }
}

fn normalize_url(text: &str) -> Result<String, Problem> {
    let rest = text
        .strip_prefix("https://")
        .or_else(|| text.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    match host {
        Some(host) if !host.is_empty() && !text.contains(char::is_whitespace) => {
            Ok(text.to_owned())
        }
        _ => Err(problem("invalid_url", text!("api-records-invalid-url"))),
    }
}

pub fn normalize_datetime(text: &str) -> Result<String, Problem> {
    match DateTime::parse_from_rfc3339(text) {
        Ok(at) => Ok(format_datetime(at.with_timezone(&Utc))),
        Err(_) => Err(problem(
            "invalid_datetime",
            text!("api-records-invalid-datetime"),
        )),
    }
}

pub fn format_datetime(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A stored time (microseconds since the epoch) as the API shows times.
pub fn format_micros(micros: i64) -> String {
    format_datetime(super::from_micros(micros))
}

fn normalize_money(value: &Value) -> Result<Value, Problem> {
    let invalid = || problem("invalid_money", text!("api-records-invalid-money"));
    let Value::Object(money) = value else {
        return Err(invalid());
    };
    if money.keys().any(|k| k != "amount" && k != "currency") {
        return Err(invalid());
    }
    let amount = match money.get("amount") {
        Some(Value::String(s)) => Decimal::from_str(s.trim()).map_err(|_| invalid())?,
        Some(Value::Number(n)) => Decimal::from_str(&n.to_string()).map_err(|_| invalid())?,
        _ => return Err(invalid()),
    };
    let currency = match money.get("currency").and_then(Value::as_str) {
        Some(c) if is_currency(&c.to_ascii_uppercase()) => c.to_ascii_uppercase(),
        _ => {
            return Err(problem(
                "invalid_currency",
                text!("api-records-invalid-currency"),
            ));
        }
    };
    Ok(serde_json::json!({ "amount": amount.to_string(), "currency": currency }))
}

/// The ISO 4217 currency codes in use (and the precious metals and fund codes the standard
/// lists), in order; `XTS` (testing) and `XXX` (no currency) are not money.
const CURRENCIES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD",
    "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP",
    "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP",
    "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS",
    "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW",
    "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD",
    "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN",
    "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR",
    "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL",
    "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY",
    "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES",
    "VND", "VUV", "WST", "XAF", "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR",
    "XOF", "XPD", "XPF", "XPT", "XSU", "XUA", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
];

/// Whether `code` is an ISO 4217 currency (upper case).
pub fn is_currency(code: &str) -> bool {
    CURRENCIES.binary_search(&code).is_ok()
}

fn normalize_id(value: &Value) -> Result<String, Problem> {
    value
        .as_str()
        .and_then(|s| Uuid::parse_str(s.trim()).ok())
        .map(|id| id.hyphenated().to_string())
        .ok_or_else(|| problem("invalid_reference", text!("api-records-expected-record-id")))
}

/// The title of a record of `ty`: its title fields joined by spaces.
pub fn title(ty: &EntityType, data: &Map<String, Value>) -> String {
    let parts: Vec<&str> = ty
        .title_fields
        .iter()
        .filter_map(|f| data.get(f).and_then(Value::as_str))
        .collect();
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::schema::{Schema, builtin_types};
    use serde_json::json;

    fn contact_check(body: Value, mode: Mode) -> Result<Draft, Vec<FieldError>> {
        let schema = Schema::new(builtin_types());
        let ty = schema.by_plural("contacts").expect("builtin");
        check(ty, body.as_object().expect("object"), mode)
    }

    fn codes(result: Result<Draft, Vec<FieldError>>) -> Vec<(String, &'static str)> {
        result
            .expect_err("invalid")
            .into_iter()
            .map(|e| match e.code {
                std::borrow::Cow::Borrowed(code) => (e.field, code),
                std::borrow::Cow::Owned(_) => panic!("checks use static codes"),
            })
            .collect()
    }

    #[test]
    fn every_problem_is_reported_not_just_the_first() {
        let errors = codes(contact_check(
            json!({"email": "nope", "phone": "call me", "tags": "vip", "shoe_size": 9, "id": "x"}),
            Mode::Create,
        ));
        assert_eq!(
            errors,
            [
                ("email".to_owned(), "invalid_email"),
                ("phone".to_owned(), "invalid_phone"),
                ("tags".to_owned(), "invalid_type"),
                ("shoe_size".to_owned(), "unknown_field"),
                ("id".to_owned(), "read_only"),
            ]
        );
    }

    #[test]
    fn values_are_normalised() {
        let draft = contact_check(
            json!({"email": " Ada@Example.COM ", "tags": ["vip", " vip ", "trial"], "title": ""}),
            Mode::Patch,
        )
        .expect("valid");
        assert_eq!(
            Value::Object(draft.fields),
            json!({"email": "ada@example.com", "tags": ["vip", "trial"], "title": null})
        );
    }

    #[test]
    fn datetimes_become_utc_milliseconds() {
        assert_eq!(
            normalize_datetime("2026-11-22T16:30:00+02:00"),
            Ok("2026-11-22T14:30:00.000Z".to_owned())
        );
        assert!(normalize_datetime("2026-11-22 16:30").is_err());
    }

    #[test]
    fn money_keeps_exact_decimals_and_uppercases_currency() {
        let field = FieldSpec::new("amount", FieldKind::Money);
        assert_eq!(
            normalize(&field, &json!({"amount": "0.10", "currency": "eur"})),
            Ok(Some(json!({"amount": "0.10", "currency": "EUR"})))
        );
        assert_eq!(
            normalize(&field, &json!({"amount": "ten", "currency": "EUR"})).map_err(|e| e.0),
            Err("invalid_money")
        );
        for currency in ["QQQ", "XTS", "EU", "EURO", "€", "", "ｅｕｒ"] {
            assert_eq!(
                normalize(&field, &json!({"amount": "1", "currency": currency})).map_err(|e| e.0),
                Err("invalid_currency"),
                "{currency}"
            );
        }
        assert!(
            CURRENCIES.windows(2).all(|w| w[0] < w[1]),
            "sorted, for the search"
        );
    }

    #[test]
    fn required_fields_are_checked_on_create_and_clear() {
        let schema = Schema::new(builtin_types());
        let ty = schema.by_plural("companies").expect("builtin");
        let on_create = check(ty, json!({}).as_object().expect("object"), Mode::Create);
        assert_eq!(codes(on_create), [("name".to_owned(), "required")]);
        let on_clear = check(
            ty,
            json!({"name": null}).as_object().expect("object"),
            Mode::Patch,
        );
        assert_eq!(codes(on_clear), [("name".to_owned(), "required")]);
    }
}
