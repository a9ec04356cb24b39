//! Email in and out. Out: each workspace's SMTP settings (admins; the password sealed by the
//! server's key), a queue in the database — a message is stored before a send is accepted,
//! then sent by one process (a lease per message), retried with backoff, its server's answer
//! kept — and an `email` activity on the timeline of the records it concerns. In: a raw RFC 822
//! message (POSTed by a mail provider, or fetched from a mailbox polled over IMAP) parsed with
//! mail-parser, threaded by Message-ID, In-Reply-To and References, matched to contacts by
//! address and logged on their timelines.

pub mod api;
pub mod imap;
pub mod inbound;
pub mod mailboxes;
pub mod model;
pub mod send;

use std::str::FromStr;

use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter};
use serde_json::{Map, Value, json};

use crate::db::Db;
use crate::i18n::{Text, text};
use crate::ids::{RecordId, WorkspaceId};
use crate::records::{Actor, ListQuery, Record, RecordError, Store};
use crate::secrets::Sealer;
use model::settings;

/// How a connection to the SMTP server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// Plain connection upgraded with STARTTLS (port 587), required.
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption (a relay on the same host or network only).
    None,
}

impl Security {
    pub fn parse(text: &str) -> Option<Security> {
        match text {
            "starttls" => Some(Security::StartTls),
            "tls" => Some(Security::Tls),
            "none" => Some(Security::None),
            _ => None,
        }
    }
}

/// A workspace's SMTP settings with the password opened.
#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: String,
    pub password: Option<String>,
    pub from_address: String,
    pub from_name: String,
    /// Changes when the settings do (a cached connection pool is rebuilt).
    pub updated_at: i64,
}

/// Where a workspace's SMTP password is sealed (its associated data).
pub fn password_place(workspace: WorkspaceId) -> String {
    format!("smtp:{}", workspace.0)
}

/// The workspace's SMTP settings, if an admin saved some. A password sealed with another key
/// (the key was lost or changed) reads as none, and sending then fails with a clear error.
pub async fn settings(
    db: &Db,
    sealer: &Sealer,
    workspace: WorkspaceId,
) -> Result<Option<Settings>, DbErr> {
    let Some(row) = settings::Entity::find_by_id(workspace.0)
        .one(&db.read)
        .await?
    else {
        return Ok(None);
    };
    let password = row
        .password_sealed
        .as_deref()
        .and_then(|sealed| sealer.open(sealed, &password_place(workspace)));
    Ok(Some(Settings {
        host: row.host,
        port: u16::try_from(row.port).unwrap_or(587),
        security: Security::parse(&row.security).unwrap_or(Security::StartTls),
        username: row.username,
        password,
        from_address: row.from_address,
        from_name: row.from_name,
        updated_at: row.updated_at,
    }))
}

/// Whether an admin saved SMTP settings in the workspace (the record page offers sending).
pub async fn is_set_up(db: &Db, workspace: WorkspaceId) -> Result<bool, DbErr> {
    Ok(settings::Entity::find_by_id(workspace.0)
        .one(&db.read)
        .await?
        .is_some())
}

/// An email address as a header may carry it: no control characters (no header injection),
/// at most 254 characters, and a valid address (lettre's parser). Answers it lowercased in
/// the domain as written otherwise.
pub fn check_address(text: &str) -> Result<String, Text> {
    let text = text.trim();
    if text.chars().any(char::is_control) {
        return Err(text!("api-access-address-control"));
    }
    if text.is_empty() || text.len() > 254 {
        return Err(text!("api-access-address-length"));
    }
    lettre::Address::from_str(text)
        .map(|address| address.to_string().to_lowercase())
        .map_err(|_| text!("api-access-not-an-address", address = text))
}

/// A header text (a subject): no line breaks or other control characters, so nothing can be
/// added to the message's headers through it.
pub fn check_header_text(text: &str, max: usize) -> Result<String, Text> {
    if text.chars().any(char::is_control) {
        return Err(text!("api-access-header-control"));
    }
    if text.chars().count() > max {
        return Err(text!("api-access-too-many-characters", max = max));
    }
    Ok(text.trim().to_owned())
}

/// The contacts of the workspace that the actor may read whose email is one of `addresses`.
pub async fn contacts_by_address(
    store: &Store,
    actor: &Actor,
    addresses: &[String],
) -> Result<Vec<Record>, RecordError> {
    let schema = store.schema(actor.workspace).await?;
    let Some(contact) = schema.by_name("contact") else {
        return Ok(Vec::new());
    };
    let mut found: Vec<Record> = Vec::new();
    for address in addresses {
        if address.contains(['"', '\\']) {
            continue;
        }
        let query = ListQuery {
            filter: Some(format!("email[eq]:\"{address}\"")),
            sort: None,
            limit: 10,
            cursor: None,
            total: false,
            deleted: false,
        };
        for record in store.list(actor, contact, &query).await?.records {
            if !found.iter().any(|r| r.id == record.id) {
                found.push(record);
            }
        }
    }
    Ok(found)
}

/// The records an email about `contacts` is linked to on the timeline: each contact, its
/// company, and the records named explicitly.
pub fn links_of(contacts: &[Record], explicit: &[RecordId]) -> Vec<Value> {
    let mut links: Vec<String> = explicit.iter().map(|id| id.0.to_string()).collect();
    for contact in contacts {
        links.push(contact.id.0.to_string());
        if let Some(company) = contact.data.get("company").and_then(Value::as_str) {
            links.push(company.to_owned());
        }
    }
    let mut seen = std::collections::HashSet::new();
    links
        .into_iter()
        .filter(|l| seen.insert(l.clone()))
        .map(Value::String)
        .collect()
}

/// Largest body kept on an email activity, in characters.
pub const MAX_BODY_CHARS: usize = 100_000;

/// The addresses of a stored address list (`to_addresses`, `cc_addresses`).
pub fn address_list(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect()
}

/// Logs an email on the timeline: an `email` activity with its subject, body, links and
/// headers (`direction`, `email_from`, `email_to`, `message_id`, `thread_id`: what a plugin's
/// after-save on activities reads to act on mail), written through the record store as
/// `actor` (whose rights apply).
pub async fn log_activity(
    store: &Store,
    actor: &Actor,
    message: &model::message::Model,
    links: Vec<Value>,
) -> Result<Record, RecordError> {
    let schema = store.schema(actor.workspace).await?;
    let activity = schema
        .by_name("activity")
        .ok_or_else(|| RecordError::UnknownEntity("activity".into()))?;
    let mut input = Map::new();
    input.insert("kind".into(), json!("email"));
    input.insert("direction".into(), json!(message.direction));
    if let Ok(from) = check_address(&message.from_address) {
        input.insert("email_from".into(), json!(from));
    }
    let mut recipients = address_list(&message.to_addresses);
    recipients.extend(address_list(&message.cc_addresses));
    if !recipients.is_empty() {
        let joined: String = recipients.join(", ").chars().take(2_000).collect();
        input.insert("email_to".into(), json!(joined));
    }
    for (field, value) in [
        ("message_id", &message.message_id),
        ("thread_id", &message.thread_id),
    ] {
        input.insert(
            field.into(),
            json!(value.chars().take(500).collect::<String>()),
        );
    }
    let (subject, body) = (message.subject.as_str(), message.body_text.as_str());
    let subject = if subject.trim().is_empty() {
        "(no subject)"
    } else {
        subject
    };
    input.insert(
        "subject".into(),
        json!(subject.chars().take(500).collect::<String>()),
    );
    if !body.trim().is_empty() {
        input.insert(
            "body".into(),
            json!(body.chars().take(MAX_BODY_CHARS).collect::<String>()),
        );
    }
    if !links.is_empty() {
        input.insert("links".into(), Value::Array(links));
    }
    store.create(actor, activity, input).await
}

/// The message row of a mail, in the caller's workspace.
pub async fn find_message(
    db: &Db,
    workspace: WorkspaceId,
    id: uuid::Uuid,
) -> Result<Option<model::message::Model>, DbErr> {
    model::message::Entity::find_by_id(id)
        .filter(model::message::Column::WorkspaceId.eq(workspace.0))
        .one(&db.read)
        .await
}

/// The message of a workspace with this Message-ID (angle brackets optional), received
/// rather than sent when both exist.
pub async fn find_by_message_id(
    db: &Db,
    workspace: WorkspaceId,
    message_id: &str,
) -> Result<Option<model::message::Model>, DbErr> {
    use sea_orm::QueryOrder;
    let bare = message_id
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>');
    model::message::Entity::find()
        .filter(model::message::Column::WorkspaceId.eq(workspace.0))
        .filter(model::message::Column::MessageId.eq(bare))
        .order_by_asc(model::message::Column::Direction)
        .one(&db.read)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_subjects_cannot_inject_headers() {
        assert_eq!(
            check_address(" Ada@Example.com "),
            Ok("ada@example.com".into())
        );
        for bad in [
            "ada@example.com\r\nBcc: all@example.com",
            "ada@example.com\nX: y",
            "not an address",
            "",
            "a@",
        ] {
            assert!(check_address(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(check_header_text("Renewal\r\nBcc: x@y.z", 200).is_err());
        assert_eq!(
            check_header_text(" Renewal 续约 ", 200),
            Ok("Renewal 续约".into())
        );
        assert!(check_header_text(&"x".repeat(201), 200).is_err());
    }
}
