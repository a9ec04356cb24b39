//! The titles and web pages of records, for the links panels and answers carry.

use plugin_sdk::prelude::*;

/// A record's title for links: the name of a company, pipeline or deal; first and last name
/// of a contact or lead.
pub fn title(record: &Record) -> String {
    if let Some(name) = record.text("name") {
        return name.to_owned();
    }
    let full = format!(
        "{} {}",
        record.text("first_name").unwrap_or(""),
        record.text("last_name").unwrap_or("")
    );
    match full.trim() {
        "" => record.id.clone(),
        name => name.to_owned(),
    }
}

/// The web page of a record: `/records/deals/{id}`.
pub fn record_url(plural: &str, id: &str) -> String {
    format!("/records/{plural}/{id}")
}
