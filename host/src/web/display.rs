//! Values as pages show them, fields as form inputs, and posted forms back into values.
//!
//! Everything here returns plain data (serde_json) for the templates, which escape it: no
//! function here writes HTML.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Form;
use crate::error::FieldError;
use crate::i18n::Language;
use crate::i18n::{Text, text};
use crate::locale::Locale;
use crate::records::schema::{EntityType, FieldKind, FieldSpec};

/// Names that values point at: record titles (with their type's plural) and user emails,
/// the reader's time zone, which datetimes are shown in, and how their language writes
/// figures.
#[derive(Debug)]
pub struct Names {
    pub records: HashMap<Uuid, (String, String)>,
    pub users: HashMap<Uuid, String>,
    pub zone: Tz,
    pub locale: Locale,
    pub lang: Language,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            records: HashMap::new(),
            users: HashMap::new(),
            zone: Tz::UTC,
            locale: Locale::default(),
            lang: Language::default(),
        }
    }
}

impl Names {
    /// The ids of every reference value among `rows` for these fields.
    pub fn references<'a>(
        fields: &[&FieldSpec],
        rows: impl Iterator<Item = &'a Map<String, Value>>,
    ) -> Vec<Uuid> {
        let mut ids = Vec::new();
        for data in rows {
            for field in fields.iter().filter(|f| f.kind == FieldKind::Reference) {
                match data.get(&field.name) {
                    Some(Value::String(id)) => ids.extend(Uuid::parse_str(id).ok()),
                    Some(Value::Array(list)) => ids.extend(
                        list.iter()
                            .filter_map(Value::as_str)
                            .filter_map(|id| Uuid::parse_str(id).ok()),
                    ),
                    _ => {}
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// A URL safe to put in `href`: only http(s), so a stored `javascript:` can never run.
fn safe_url(raw: &str) -> Option<String> {
    let lower = raw.trim().to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")).then(|| raw.trim().to_owned())
}

/// The label of a select option (its value, humanized, when it has none).
pub fn option_label(field: &FieldSpec, value: &str) -> String {
    field
        .options
        .iter()
        .find(|o| o.value == value)
        .map(|o| {
            if o.label.is_empty() {
                humanize(&o.value)
            } else {
                o.label.clone()
            }
        })
        .unwrap_or_else(|| value.to_owned())
}

/// `real_estate` → `Real estate`.
pub fn humanize(name: &str) -> String {
    let text = name.replace('_', " ");
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub fn label(field: &FieldSpec) -> String {
    if field.label.is_empty() {
        humanize(&field.name)
    } else {
        field.label.clone()
    }
}

/// `2026-11-27T14:05:00.000Z` → `2026-11-27 15:05` in Europe/Berlin: a stored datetime as
/// the reader's clock shows it, written as their language writes dates.
pub fn short_datetime(raw: &str, zone: Tz, lang: Language) -> String {
    DateTime::parse_from_rfc3339(raw)
        .map(|d| local_stamp(d.with_timezone(&Utc), zone, lang))
        .unwrap_or_else(|_| raw.to_owned())
}

/// A moment as the reader's clock shows it: `2026-11-27 15:05`, `2026年11月27日 15:05`.
pub fn local_stamp(at: DateTime<Utc>, zone: Tz, lang: Language) -> String {
    lang.stamp(at, zone)
}

/// The host catalogue's message `key` for a built-in type; other types (custom, plugins')
/// are labelled by their own `labels`, never by the host's catalogue.
fn builtin_message(lang: Language, ty: &EntityType, key: &str) -> Option<String> {
    if ty.source == "builtin" {
        lang.lookup(key)
    } else {
        None
    }
}

/// A type's name in the reader's language: the catalogue's (`type-contact`) for the built-in
/// types, else the label the type has in that language (a workspace's custom type, a plugin's
/// from its catalogue), else its own label.
pub fn type_label(lang: Language, ty: &EntityType) -> String {
    builtin_message(lang, ty, &format!("type-{}", ty.name))
        .or_else(|| ty.labels.get(lang.tag()).cloned())
        .unwrap_or_else(|| ty.label.clone())
}

/// …and its plural (`type-contact-plural`, `labels_plural`).
pub fn type_label_plural(lang: Language, ty: &EntityType) -> String {
    builtin_message(lang, ty, &format!("type-{}-plural", ty.name))
        .or_else(|| ty.labels_plural.get(lang.tag()).cloned())
        .unwrap_or_else(|| ty.label_plural.clone())
}

/// A type with its own, its fields' and its options' labels in the reader's language: the
/// catalogue's for built-in ones (`type-contact`, `type-contact-plural`,
/// `field-contact-first_name`, `option-…`), else the `labels` they carry in that language
/// (custom types and fields: the workspace's; plugins' types, fields and options: their
/// catalogues', see `plugins::messages`); what has neither keeps `label`.
pub fn localized(ty: &std::sync::Arc<EntityType>, lang: Language) -> std::sync::Arc<EntityType> {
    let tag = lang.tag();
    let builtin = builtin_message(lang, ty, &format!("type-{}", ty.name)).is_some();
    let own = ty.labels.contains_key(tag)
        || ty.labels_plural.contains_key(tag)
        || ty.fields.iter().any(|f| {
            f.labels.contains_key(tag) || f.options.iter().any(|o| o.labels.contains_key(tag))
        });
    if !builtin && !own {
        return ty.clone();
    }
    let mut copy = EntityType::clone(ty);
    copy.label = type_label(lang, ty);
    copy.label_plural = type_label_plural(lang, ty);
    for field in &mut copy.fields {
        for option in &mut field.options {
            if let Some(label) = option.labels.get(tag) {
                option.label = label.clone();
            }
        }
        if let Some(label) = field.labels.get(tag) {
            field.label = label.clone();
            continue;
        }
        // Only the built-in fields of a built-in type: not a custom field, nor one a plugin
        // added to it.
        if field.custom || field.source.is_some() || !builtin {
            continue;
        }
        if let Some(label) = lang.lookup(&format!("field-{}-{}", ty.name, field.name)) {
            field.label = label;
        }
        for option in &mut field.options {
            if let Some(label) = lang.lookup(&format!(
                "option-{}-{}-{}",
                ty.name, field.name, option.value
            )) {
                option.label = label;
            }
        }
    }
    std::sync::Arc::new(copy)
}

/// A moment as a `datetime-local` input holds it in the reader's zone: `2026-11-27T15:05`.
pub fn local_input(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone).format("%Y-%m-%dT%H:%M").to_string()
}

/// The reader's date today: `2026-11-27`.
pub fn local_today(zone: Tz) -> String {
    Utc::now()
        .with_timezone(&zone)
        .format("%Y-%m-%d")
        .to_string()
}

/// A wall-clock time typed in `zone` as the UTC moment it names. A time the clocks skip
/// (the hour a summer time starts) is refused; one they pass twice (when it ends) is the
/// first of the two.
pub fn from_local(naive: NaiveDateTime, zone: Tz) -> Result<DateTime<Utc>, Text> {
    match zone.from_local_datetime(&naive) {
        chrono::LocalResult::Single(at) | chrono::LocalResult::Ambiguous(at, _) => {
            Ok(at.with_timezone(&Utc))
        }
        chrono::LocalResult::None => Err(text!("api-web-skipped-time", zone = zone.name())),
    }
}

/// What a page shows for a value: `{text, url?, items?}`. Absent values show as empty.
pub fn cell(field: &FieldSpec, value: Option<&Value>, names: &Names) -> Value {
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return json!({ "text": "", "empty": true });
    };
    match (field.kind, value) {
        (FieldKind::Boolean, Value::Bool(b)) => {
            json!({ "text": names.lang.t(if *b { "value-yes" } else { "value-no" }) })
        }
        (FieldKind::Email, Value::String(s)) => json!({ "text": s, "url": format!("mailto:{s}") }),
        (FieldKind::Phone, Value::String(s)) => {
            let dial: String = s
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '+')
                .collect();
            json!({ "text": s, "url": format!("tel:{dial}") })
        }
        (FieldKind::Url, Value::String(s)) => {
            json!({ "text": s, "url": safe_url(s), "external": true })
        }
        (FieldKind::Select, Value::String(s)) => {
            json!({ "text": option_label(field, s), "badge": s })
        }
        (FieldKind::MultiSelect, Value::Array(list)) => {
            let items: Vec<String> = list
                .iter()
                .filter_map(Value::as_str)
                .map(|s| option_label(field, s))
                .collect();
            json!({ "text": items.join(", "), "items": items })
        }
        (FieldKind::Tags, Value::Array(list)) => {
            let items: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
            json!({ "text": items.join(", "), "items": items })
        }
        (FieldKind::Datetime, Value::String(s)) => {
            json!({ "text": short_datetime(s, names.zone, names.lang), "datetime": s })
        }
        (FieldKind::Money, Value::Object(m)) => {
            let text = |key| m.get(key).and_then(Value::as_str).unwrap_or("");
            json!({ "text": names.locale.money(text("amount"), text("currency")), "numeric": true })
        }
        (FieldKind::Integer | FieldKind::Number, Value::Number(n)) => {
            json!({ "text": n.to_string(), "numeric": true })
        }
        (FieldKind::Reference, Value::String(id)) => reference_cell(id, names),
        (FieldKind::Reference, Value::Array(list)) => {
            let links: Vec<Value> = list
                .iter()
                .filter_map(Value::as_str)
                .map(|id| reference_cell(id, names))
                .collect();
            let text = links
                .iter()
                .filter_map(|l| l["text"].as_str())
                .collect::<Vec<_>>()
                .join(", ");
            json!({ "text": text, "links": links })
        }
        (FieldKind::User, Value::String(id)) => {
            let email = Uuid::parse_str(id)
                .ok()
                .and_then(|u| names.users.get(&u))
                .cloned();
            json!({ "text": email.unwrap_or_else(|| names.lang.t("value-unknown-user")) })
        }
        (FieldKind::Json, Value::Array(list))
            if !list.is_empty() && list.iter().all(Value::is_object) =>
        {
            let lines: Vec<String> = list
                .iter()
                .filter_map(Value::as_object)
                .map(|entry| readable_entry(entry, names.zone, names.lang))
                .collect();
            json!({ "text": lines.join("; "), "lines": lines })
        }
        (FieldKind::Json, other) => json!({ "text": other.to_string(), "code": true }),
        (_, Value::String(s)) => json!({ "text": s }),
        (_, other) => json!({ "text": other.to_string() }),
    }
}

/// One entry of a list of records kept as JSON (a deal's stage history) as a person reads it:
/// `Key: value` pairs with the keys humanized, ids and empty values left out, times shortened.
fn readable_entry(entry: &Map<String, Value>, zone: Tz, lang: Language) -> String {
    entry
        .iter()
        .filter_map(|(key, value)| {
            let text = match value {
                Value::String(s) if Uuid::parse_str(s).is_ok() => return None,
                Value::String(s) if s.trim().is_empty() => return None,
                Value::String(s) if DateTime::parse_from_rfc3339(s).is_ok() => {
                    short_datetime(s, zone, lang)
                }
                Value::String(s) => s.clone(),
                Value::Null => return None,
                Value::Object(_) | Value::Array(_) => return None,
                other => other.to_string(),
            };
            Some(format!(
                "{}: {text}",
                humanize(key.trim_end_matches("_name"))
            ))
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

/// A reference the reader may follow, or a placeholder for one they may not see.
fn reference_cell(id: &str, names: &Names) -> Value {
    match Uuid::parse_str(id).ok().and_then(|u| names.records.get(&u)) {
        Some((plural, title)) => {
            let text = if title.is_empty() {
                names.lang.t("untitled")
            } else {
                title.clone()
            };
            json!({ "text": text, "url": format!("/records/{plural}/{id}") })
        }
        None => json!({ "text": names.lang.t("value-hidden-record") }),
    }
}

/// A field as a form control with its current value (raw JSON of a record, or what was
/// posted) and the error the server found in it; datetimes in the reader's `zone`.
pub fn input(
    field: &FieldSpec,
    value: Option<&Value>,
    error: Option<&str>,
    choices: Option<&[(String, String)]>,
    zone: Tz,
    lang: Language,
) -> Value {
    let value = value.filter(|v| !v.is_null());
    let text = match value {
        Some(Value::String(s)) if field.kind == FieldKind::Datetime => {
            match DateTime::parse_from_rfc3339(s) {
                Ok(at) => local_input(at.with_timezone(&Utc), zone),
                // What was posted and refused comes back as typed.
                Err(_) => s.clone(),
            }
        }
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(list)) if field.kind == FieldKind::Tags => list
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Object(_)) | Some(Value::Array(_)) if field.kind == FieldKind::Json => {
            serde_json::to_string_pretty(value.unwrap_or(&Value::Null)).unwrap_or_default()
        }
        Some(other) if field.kind == FieldKind::Json => other.to_string(),
        _ => String::new(),
    };
    let selected: Vec<&str> = match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let (control, input_type) = match field.kind {
        FieldKind::Text => ("text", "text"),
        FieldKind::LongText => ("textarea", ""),
        FieldKind::Email => ("text", "email"),
        FieldKind::Phone => ("text", "tel"),
        FieldKind::Url => ("text", "url"),
        FieldKind::Integer | FieldKind::Number => ("text", "number"),
        FieldKind::Date => ("text", "date"),
        FieldKind::Datetime => ("text", "datetime-local"),
        FieldKind::Boolean => ("checkbox", "checkbox"),
        FieldKind::Select | FieldKind::Reference | FieldKind::User if !field.multiple => {
            ("select", "")
        }
        FieldKind::Select | FieldKind::Reference | FieldKind::User | FieldKind::MultiSelect => {
            ("multiselect", "")
        }
        FieldKind::Money => ("money", ""),
        FieldKind::Tags => ("text", "text"),
        FieldKind::Json => ("textarea", ""),
    };
    let mut options: Vec<Value> = match field.kind {
        FieldKind::Select | FieldKind::MultiSelect => field
            .options
            .iter()
            .map(|o| json!({ "value": o.value, "label": option_label(field, &o.value), "selected": selected.contains(&o.value.as_str()) }))
            .collect(),
        _ => choices
            .unwrap_or_default()
            .iter()
            .map(|(v, l)| json!({ "value": v, "label": l, "selected": selected.contains(&v.as_str()) }))
            .collect(),
    };
    // A current value the choices lack (a record beyond the first page) stays selectable.
    for current in &selected {
        if control.contains("select") && !options.iter().any(|o| o["value"] == *current) {
            options.push(json!({ "value": current, "label": current, "selected": true }));
        }
    }
    let money = value.and_then(Value::as_object);
    json!({
        "name": field.name,
        "id": format!("f-{}", field.name),
        "label": label(field),
        "kind": field.kind.as_str(),
        "control": control,
        "input_type": input_type,
        "step": if field.kind == FieldKind::Number { "any" } else { "1" },
        "required": field.required,
        "value": text,
        "checked": value == Some(&Value::Bool(true)),
        "amount": money.and_then(|m| m.get("amount")).and_then(Value::as_str).unwrap_or(""),
        "currency": money.and_then(|m| m.get("currency")).and_then(Value::as_str).unwrap_or(""),
        "options": options,
        "hint": match field.kind {
            FieldKind::Tags => lang.t("input-hint-tags"),
            FieldKind::Datetime => lang.t_with("input-hint-datetime", &[("zone", zone.name().into())]),
            FieldKind::Json => "JSON.".to_owned(),
            _ => String::new(),
        },
        "error": error,
    })
}

/// Reads the posted values of `fields` (named after the fields; money as `<f>.amount` and
/// `<f>.currency`) into a record body. Empty inputs become `null` (clear the value), fields
/// not in the form are left out; the store checks and normalises everything else exactly as
/// for the API. Datetimes are typed on the reader's clock (`zone`) and stored in UTC.
pub fn read_form(
    fields: &[&FieldSpec],
    form: &Form,
    zone: Tz,
) -> Result<Map<String, Value>, Vec<FieldError>> {
    let mut body = Map::new();
    let mut errors = Vec::new();
    for field in fields {
        let name = field.name.as_str();
        // A field the form did not send stays as it is (the form's list of inputs decides;
        // a multi-select sends an empty hidden value so that clearing it is seen).
        let sent = form.get(name).is_some()
            || (field.kind == FieldKind::Money && form.get(&format!("{name}.amount")).is_some());
        if !sent {
            continue;
        }
        let text = || form.get(name).map(str::trim).unwrap_or("");
        let value = match field.kind {
            FieldKind::Boolean => Value::Bool(form.get(name) == Some("true")),
            FieldKind::Money => {
                let amount = form
                    .get(&format!("{name}.amount"))
                    .unwrap_or("")
                    .trim()
                    .to_owned();
                let currency = form
                    .get(&format!("{name}.currency"))
                    .unwrap_or("")
                    .trim()
                    .to_uppercase();
                if amount.is_empty() && currency.is_empty() {
                    Value::Null
                } else {
                    json!({ "amount": amount.replace(',', ""), "currency": currency })
                }
            }
            FieldKind::MultiSelect => list(form.all(name)),
            FieldKind::Reference | FieldKind::User if field.multiple => list(form.all(name)),
            FieldKind::Tags => list(text().split(',')),
            FieldKind::Integer => match text() {
                "" => Value::Null,
                raw => match raw.parse::<i64>() {
                    Ok(n) => Value::from(n),
                    Err(_) => {
                        errors.push(FieldError::new(
                            name,
                            "invalid_value",
                            text!("api-web-not-whole-number"),
                        ));
                        continue;
                    }
                },
            },
            FieldKind::Number => match text() {
                "" => Value::Null,
                raw => match raw
                    .parse::<f64>()
                    .ok()
                    .and_then(serde_json::Number::from_f64)
                {
                    Some(n) => Value::Number(n),
                    None => {
                        errors.push(FieldError::new(
                            name,
                            "invalid_value",
                            text!("api-web-not-number"),
                        ));
                        continue;
                    }
                },
            },
            FieldKind::Datetime => match text() {
                "" => Value::Null,
                raw => match NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M")
                    .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S"))
                {
                    Ok(naive) => match from_local(naive, zone) {
                        Ok(at) => Value::String(at.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
                        Err(message) => {
                            errors.push(FieldError::new(name, "invalid_value", message));
                            continue;
                        }
                    },
                    // Anything else the store reads (RFC 3339) or refuses with its message.
                    Err(_) => Value::String(raw.to_owned()),
                },
            },
            FieldKind::Json => match text() {
                "" => Value::Null,
                raw => match serde_json::from_str(raw) {
                    Ok(value) => value,
                    Err(e) => {
                        errors.push(FieldError::new(
                            name,
                            "invalid_value",
                            text!("api-web-not-json", detail = e.to_string()),
                        ));
                        continue;
                    }
                },
            },
            _ => match text() {
                "" => Value::Null,
                raw => Value::String(raw.to_owned()),
            },
        };
        body.insert(name.to_owned(), value);
    }
    if errors.is_empty() {
        Ok(body)
    } else {
        Err(errors)
    }
}

fn list<'a>(items: impl Iterator<Item = &'a str>) -> Value {
    let values: Vec<Value> = items
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Value::String(s.to_owned()))
        .collect();
    if values.is_empty() {
        Value::Null
    } else {
        Value::Array(values)
    }
}

/// One field's value as a small form sends it, typed as [`read_form`] types it; a refusal
/// reads "Label: message".
pub fn read_one(
    field: &FieldSpec,
    raw: &str,
    zone: Tz,
    lang: Language,
) -> Result<Map<String, Value>, String> {
    let typed = Form(vec![(field.name.clone(), raw.to_owned())]);
    read_form(&[field], &typed, zone).map_err(|errors| {
        let message = errors
            .first()
            .map_or_else(|| lang.t("form-not-valid"), |e| e.message.render(lang));
        format!("{}: {message}", label(field))
    })
}

/// Up to two initials of a name or an email's name part: `Kim Lee` or `kim.lee@x` → `KL`, `sam@x` → `S`.
pub fn initials(name: &str) -> String {
    name.split('@')
        .next()
        .unwrap_or("")
        .split(['.', '_', '-', '+', ' '])
        .filter_map(|part| part.chars().next())
        .filter(|c| c.is_alphanumeric())
        .take(2)
        .flat_map(char::to_uppercase)
        .collect()
}

/// A search snippet (escaped text with matches in `<b>`, as the index writes it) as plain-text
/// parts, `{text, hit}`, for a template to mark up: nothing of it is ever HTML again.
pub fn highlights(snippet: &str) -> Value {
    let unescape = |text: &str| {
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#x27;", "'")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    };
    let mut parts = Vec::new();
    for (i, piece) in snippet.split("<b>").enumerate() {
        let (hit, rest) = match piece.split_once("</b>") {
            Some((hit, rest)) if i > 0 => (Some(hit), rest),
            _ => (None, piece),
        };
        if let Some(hit) = hit.filter(|h| !h.is_empty()) {
            parts.push(json!({ "text": unescape(hit), "hit": true }));
        }
        if !rest.is_empty() {
            parts.push(json!({ "text": unescape(rest), "hit": false }));
        }
    }
    Value::Array(parts)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::records::schema::{Schema, builtin_types};

    #[test]
    fn urls_only_link_to_the_web() {
        let field = FieldSpec::new("site", FieldKind::Url);
        let names = Names::default();
        let safe = cell(&field, Some(&json!("https://kith.example")), &names);
        assert_eq!(safe["url"], "https://kith.example");
        for hostile in [
            "javascript:alert(1)",
            " JavaScript:alert(1)",
            "data:text/html,x",
            "//evil",
        ] {
            assert!(
                cell(&field, Some(&json!(hostile)), &names)["url"].is_null(),
                "{hostile}"
            );
        }
    }

    #[test]
    fn money_and_datetimes_read_like_a_person_writes_them() {
        let field = FieldSpec::new("revenue", FieldKind::Money);
        let shown = cell(
            &field,
            Some(&json!({"amount": "1234567.5", "currency": "EUR"})),
            &Names::default(),
        );
        assert_eq!(shown["text"], "€1,234,567.50");
        assert_eq!(
            short_datetime("2026-11-27T14:05:00.000Z", Tz::UTC, Language::En),
            "2026-11-27 14:05"
        );
    }

    #[test]
    fn datetimes_are_shown_and_read_on_the_readers_clock() {
        let berlin = Tz::Europe__Berlin;
        let field = FieldSpec::new("due_at", FieldKind::Datetime);
        let names = Names {
            zone: berlin,
            ..Names::default()
        };
        let shown = cell(&field, Some(&json!("2026-11-27T23:30:00.000Z")), &names);
        assert_eq!(shown["text"], "2026-11-28 00:30", "the next day in Berlin");
        assert_eq!(shown["datetime"], "2026-11-27T23:30:00.000Z");
        let control = input(
            &field,
            Some(&json!("2026-07-01T07:00:00.000Z")),
            None,
            None,
            berlin,
            Language::En,
        );
        assert_eq!(control["value"], "2026-07-01T09:00", "summer time: UTC+2");
        let read = |raw: &str| read_one(&field, raw, berlin, Language::En);
        assert_eq!(
            read("2026-12-01T09:30").unwrap()["due_at"],
            "2026-12-01T08:30:00Z"
        );
        assert_eq!(
            read("2026-07-01T09:30").unwrap()["due_at"],
            "2026-07-01T07:30:00Z"
        );
        // 02:30 on the last Sunday of March does not exist in Berlin; on the last Sunday of
        // October it happens twice (the first is summer time).
        let skipped = read("2026-03-29T02:30").unwrap_err();
        assert!(skipped.contains("Europe/Berlin"), "{skipped}");
        assert_eq!(
            read("2026-10-25T02:30").unwrap()["due_at"],
            "2026-10-25T00:30:00Z"
        );
        let tokyo = read_one(&field, "2026-12-01T09:30", Tz::Asia__Tokyo, Language::En).unwrap();
        assert_eq!(tokyo["due_at"], "2026-12-01T00:30:00Z");
    }

    #[test]
    fn forms_become_record_bodies_and_bad_numbers_name_their_field() {
        let schema = Schema::new(builtin_types());
        let company = schema.by_plural("companies").unwrap();
        let fields: Vec<&FieldSpec> = company.fields.iter().collect();
        let form = Form::parse(b"name=Acme&employees=12&industry=retail&annual_revenue.amount=1%2C000&annual_revenue.currency=eur&website=");
        let body = read_form(&fields, &form, Tz::UTC).unwrap();
        assert_eq!(body["name"], "Acme");
        assert_eq!(body["employees"], 12);
        assert_eq!(
            body["annual_revenue"],
            json!({"amount": "1000", "currency": "EUR"})
        );
        assert_eq!(body["website"], Value::Null);
        assert!(
            !body.contains_key("phone"),
            "a field the form lacks is left alone"
        );
        let bad = read_form(
            &fields,
            &Form::parse(b"name=Acme&employees=twelve"),
            Tz::UTC,
        )
        .unwrap_err();
        assert_eq!(bad[0].field, "employees");
        let activity = schema.by_plural("activities").unwrap();
        let fields: Vec<&FieldSpec> = activity.fields.iter().collect();
        let body = read_form(
            &fields,
            &Form::parse(b"kind=task&subject=Call&due_at=2026-12-01T09:30&done=false&done=true"),
            Tz::UTC,
        )
        .unwrap();
        assert_eq!(body["due_at"], "2026-12-01T09:30:00Z");
        assert_eq!(body["done"], true);
    }

    #[test]
    fn snippets_become_text_parts_never_html() {
        let parts = highlights("say &lt;script&gt; to <b>Ada</b> &amp; <b>Lovelace</b>");
        assert_eq!(
            parts,
            json!([
                { "text": "say <script> to ", "hit": false },
                { "text": "Ada", "hit": true },
                { "text": " & ", "hit": false },
                { "text": "Lovelace", "hit": true },
            ])
        );
        // A value that itself reads `<b>` was escaped by the index, so it stays text.
        assert_eq!(
            highlights("&lt;b&gt;bold&lt;/b&gt;"),
            json!([{ "text": "<b>bold</b>", "hit": false }])
        );
    }

    #[test]
    fn json_lists_of_entries_read_as_lines_without_ids() {
        let names = Names::default();
        let field = FieldSpec::new("stage_history", FieldKind::Json);
        let history = json!([
            { "from": null, "to": "0190a5c4-0000-7000-8000-0000000000aa", "to_name": "Qualification", "at": "2026-11-01T09:30:00Z" },
            { "from": "0190a5c4-0000-7000-8000-0000000000aa", "from_name": "Qualification", "to_name": "Won", "at": "2026-11-03T10:00:00Z" },
        ]);
        let shown = cell(&field, Some(&history), &names);
        let lines = shown["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 2);
        let first = lines[0].as_str().unwrap();
        assert!(
            first.contains("To: Qualification") && first.contains("At: 2026-11-01"),
            "{first}"
        );
        assert!(
            !shown.to_string().contains("0190a5c4"),
            "no id is shown: {shown}"
        );
        // Other JSON stays code.
        assert_eq!(cell(&field, Some(&json!({ "a": 1 })), &names)["code"], true);
    }
}
