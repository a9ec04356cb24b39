//! Values across the boundary: stored JSON ↔ the contract's typed `value`, by field kind.

use serde_json::{Map, Value as Json, json};

use super::runtime::types::{EntityRecord, Field, HostError, Money, Value};
use crate::error::ApiError;
use crate::records::schema::{EntityType, FieldKind};
use crate::records::{Record, RecordError, value};

/// A stored value as the contract types it, by its field's kind.
pub fn to_wit(kind: Option<(FieldKind, bool)>, json: &Json) -> Value {
    match (kind, json) {
        (_, Json::Null) => Value::Null,
        (Some((FieldKind::Json, _)), other) => Value::Json(other.to_string()),
        (Some((FieldKind::Money, _)), Json::Object(money)) => Value::Money(Money {
            amount: text_of(money.get("amount")),
            currency: text_of(money.get("currency")),
        }),
        (Some((FieldKind::Date, _)), Json::String(s)) => Value::Date(s.clone()),
        (Some((FieldKind::Datetime, _)), Json::String(s)) => Value::Datetime(s.clone()),
        (Some((FieldKind::Reference, false)), Json::String(s)) => Value::Reference(s.clone()),
        (Some((FieldKind::User, _)), Json::String(s)) => Value::User(s.clone()),
        (_, Json::String(s)) => Value::Text(s.clone()),
        (_, Json::Bool(b)) => Value::Boolean(*b),
        (_, Json::Number(n)) => match n.as_i64() {
            Some(i) => Value::Integer(i),
            None => Value::Number(n.as_f64().unwrap_or_default()),
        },
        (_, Json::Array(items)) if items.iter().all(Json::is_string) => {
            Value::Texts(items.iter().map(|i| text_of(Some(i))).collect())
        }
        (_, other) => Value::Json(other.to_string()),
    }
}

fn text_of(value: Option<&Json>) -> String {
    match value {
        Some(Json::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

/// A value from a plugin as the JSON the record store checks like any API input.
pub fn to_json(value: &Value) -> Result<Json, String> {
    Ok(match value {
        Value::Null => Json::Null,
        Value::Text(s)
        | Value::Date(s)
        | Value::Datetime(s)
        | Value::Reference(s)
        | Value::User(s) => Json::String(s.clone()),
        Value::Integer(i) => json!(i),
        Value::Number(n) => serde_json::Number::from_f64(*n)
            .map(Json::Number)
            .ok_or("numbers must be finite")?,
        Value::Boolean(b) => Json::Bool(*b),
        Value::Money(m) => json!({ "amount": m.amount, "currency": m.currency }),
        Value::Texts(items) => json!(items),
        Value::Json(text) => {
            serde_json::from_str(text).map_err(|e| format!("not a JSON document: {e}"))?
        }
    })
}

/// Fields from a plugin as a record body; a malformed value is a field error.
pub fn fields_to_map(fields: &[Field]) -> Result<Map<String, Json>, Vec<crate::error::FieldError>> {
    let mut map = Map::with_capacity(fields.len());
    let mut errors = Vec::new();
    for field in fields {
        match to_json(&field.value) {
            Ok(json) => {
                map.insert(field.name.clone(), json);
            }
            Err(message) => errors.push(crate::error::FieldError::new(
                field.name.clone(),
                "invalid_type",
                crate::i18n::Text::verbatim(message),
            )),
        }
    }
    if errors.is_empty() {
        Ok(map)
    } else {
        Err(errors)
    }
}

/// The typed fields of a record's data, for a plugin.
pub fn fields_of(ty: &EntityType, data: &Map<String, Json>) -> Vec<Field> {
    data.iter()
        .map(|(name, json)| Field {
            name: name.clone(),
            value: to_wit(ty.field(name).map(|f| (f.kind, f.multiple)), json),
        })
        .collect()
}

pub fn record_to_wit(ty: &EntityType, record: &Record) -> EntityRecord {
    EntityRecord {
        id: record.id.to_string(),
        entity_type: record.entity_type.clone(),
        version: record.version,
        owner: record.owner.map(|o| o.to_string()),
        created_at: value::format_datetime(record.created_at),
        updated_at: value::format_datetime(record.updated_at),
        fields: fields_of(ty, &record.data),
    }
}

/// A refusal of the record store as the contract's host error (the API's code and message).
pub fn host_error(error: RecordError) -> HostError {
    if let RecordError::Database(cause) = &error {
        tracing::error!(error = %cause, "database error in a plugin's host call");
    }
    api_host_error(error.into())
}

pub fn api_host_error(api: ApiError) -> HostError {
    HostError {
        code: api.code.as_str().to_owned(),
        message: api.message.to_string(),
        details: api
            .details
            .into_iter()
            .map(|d| super::runtime::types::FieldError {
                field: d.field,
                code: d.code.into_owned(),
                message: d.message.to_string(),
            })
            .collect(),
    }
}

pub fn refusal(code: &str, message: impl Into<String>) -> HostError {
    HostError {
        code: code.to_owned(),
        message: message.into(),
        details: Vec::new(),
    }
}
