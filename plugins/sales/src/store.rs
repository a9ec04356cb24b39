//! Small helpers over the `records` import: filters whose values are quoted safely, and reads
//! that take the first match or every page.

use plugin_sdk::prelude::*;
use plugin_sdk::records::Query;

/// The most records a `find` page holds.
const PAGE: u32 = 1000;

/// A value of the filter language, quoted so commas, parentheses, `|` and quotes stay inside.
pub fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `field[eq]:"value"`.
pub fn eq(field: &str, value: &str) -> String {
    format!("{field}[eq]:{}", quoted(value))
}

/// `field[in]:"a"|"b"`.
pub fn any_of<'a>(field: &str, values: impl IntoIterator<Item = &'a str>) -> String {
    let values: Vec<String> = values.into_iter().map(quoted).collect();
    format!("{field}[in]:{}", values.join("|"))
}

/// All conditions at once: `and(a,b)`, or the only condition alone.
pub fn all_of(conditions: &[String]) -> String {
    match conditions {
        [only] => only.clone(),
        _ => format!("and({})", conditions.join(",")),
    }
}

/// The first record matching `filter` in `sort` order (the default order is creation order).
pub fn first(entity: &str, filter: &str, sort: Option<&str>) -> Result<Option<Record>, HostError> {
    let mut query = Query::new().filter(filter).limit(1);
    if let Some(sort) = sort {
        query = query.sort(sort);
    }
    Ok(records::find(entity, &query)?.records.into_iter().next())
}

/// Every record matching `query`, reading page after page.
pub fn all(entity: &str, query: Query) -> Result<Vec<Record>, HostError> {
    let mut query = query.limit(PAGE);
    let mut found = Vec::new();
    loop {
        let page = records::find(entity, &query)?;
        found.extend(page.records);
        match page.next_cursor {
            Some(cursor) => query = query.cursor(Some(cursor)),
            None => return Ok(found),
        }
    }
}

/// A reference field's value: the id, or `Null` (which clears the field).
pub fn reference(id: Option<&str>) -> Value {
    id.map_or(Value::Null, |id| Value::Reference(id.to_owned()))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_quote_their_values() {
        assert_eq!(eq("name", "Acme, \"Inc.\""), r#"name[eq]:"Acme, \"Inc.\"""#);
        assert_eq!(eq("domain", r"a\b"), r#"domain[eq]:"a\\b""#);
        assert_eq!(any_of("id", ["a", "b"]), r#"id[in]:"a"|"b""#);
        assert_eq!(all_of(&["a[eq]:1".to_owned()]), "a[eq]:1");
        assert_eq!(
            all_of(&["a[eq]:1".to_owned(), "b[eq]:2".to_owned()]),
            "and(a[eq]:1,b[eq]:2)"
        );
    }
}
