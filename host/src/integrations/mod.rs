//! Kith talking to other systems about what changed: webhooks (signed HTTP deliveries per
//! subscription) and the event stream on NATS JetStream. Both follow the outbox — committed
//! events, gap-free and in commit order — each with a cursor of its own and a lease so that one
//! process moves it, so a write never waits for either and a restart resumes where it stopped.

pub mod api;
pub mod model;
pub mod outbound;
pub mod stream;
pub mod webhooks;

use serde_json::{Map, Value, json};

use crate::records::model::outbox;
use crate::records::value::format_micros;

/// The id of an outbox event as integrators see it (webhook-id header, NATS message id):
/// the same for every delivery and replay of the event, so receivers deduplicate by it.
pub fn event_id(seq: i64) -> String {
    format!("evt_{seq}")
}

/// The event type: `<entity type>.<action>` (`contact.created`, `deal.updated`).
pub fn event_type(event: &outbox::Model) -> String {
    format!("{}.{}", event.entity_type, event.event)
}

/// An outbox event as webhooks and the stream send it: what happened to which record, by
/// whom, and each changed field's value before and after.
pub fn event_json(event: &outbox::Model) -> Value {
    let changes: Map<String, Value> = event
        .payload
        .get("values")
        .and_then(Value::as_object)
        .map(|values| {
            values
                .iter()
                .map(|(field, pair)| {
                    let before = pair.get(0).cloned().unwrap_or(Value::Null);
                    let after = pair.get(1).cloned().unwrap_or(Value::Null);
                    (field.clone(), json!({ "before": before, "after": after }))
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "id": event_id(event.seq),
        "type": event_type(event),
        "occurred_at": format_micros(event.at),
        "workspace_id": event.workspace_id,
        "data": {
            "entity_type": event.entity_type,
            "id": event.record_id,
            "version": event.version,
            "actor": event.payload.get("actor").cloned().unwrap_or(Value::Null),
            "changes": changes,
        },
    })
}

/// Leases of the followers: how long one process may hold a cursor without renewing it (a
/// process killed while holding one delays the others this long at most). Holders renew it
/// every third of that.
const LEASE_MICROS: i64 = 15_000_000;
const RENEW_EVERY: std::time::Duration = std::time::Duration::from_secs(5);
