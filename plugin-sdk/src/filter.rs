//! Filters in the API's filter language, built from values rather than written as text: every
//! value is quoted by the SDK, so a value from a user, a record or a request (`Ada, Inc.`,
//! `x),or(owner[eq]:me`) is always one value and never changes the filter's meaning.
//!
//! ```
//! use plugin_sdk::filter::Filter;
//!
//! let open_in_pipeline = Filter::eq("pipeline", "0190a5c4-…").and(Filter::eq("status", "open"));
//! assert_eq!(open_in_pipeline.to_string(), r#"and(pipeline[eq]:"0190a5c4-…",status[eq]:"open")"#);
//! let big = Filter::gte("amount", 1000).or(Filter::is_in("stage", ["won", "lost"]));
//! assert_eq!(big.to_string(), r#"or(amount[gte]:"1000",stage[in]:"won"|"lost")"#);
//! ```
//!
//! `records::Query::filter` and `records::AggregateQuery::filter` take a [`Filter`] or text.

use std::fmt;

/// A filter: a condition on a field, or `and`/`or`/`not` of filters.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `field[op]:"value"` (several values for `in`, none for `is_empty`).
    Cond {
        field: String,
        op: &'static str,
        values: Vec<String>,
    },
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
}

/// A value a filter compares with: text, numbers, booleans, dates and instants (written the way
/// the API stores them).
pub trait FilterValue {
    fn filter_text(&self) -> String;
}

impl FilterValue for &str {
    fn filter_text(&self) -> String {
        (*self).to_owned()
    }
}

impl FilterValue for String {
    fn filter_text(&self) -> String {
        self.clone()
    }
}

impl FilterValue for &String {
    fn filter_text(&self) -> String {
        (*self).clone()
    }
}

macro_rules! display_values {
    ($($ty:ty),*) => {$(
        impl FilterValue for $ty {
            fn filter_text(&self) -> String {
                self.to_string()
            }
        }
    )*};
}

display_values!(i32, i64, u32, u64, f64, bool, rust_decimal::Decimal);

impl FilterValue for chrono::NaiveDate {
    fn filter_text(&self) -> String {
        self.format("%Y-%m-%d").to_string()
    }
}

impl FilterValue for chrono::DateTime<chrono::Utc> {
    fn filter_text(&self) -> String {
        self.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }
}

impl Filter {
    fn cond(field: &str, op: &'static str, values: Vec<String>) -> Filter {
        Filter::Cond {
            field: field.to_owned(),
            op,
            values,
        }
    }

    /// The field equals the value (a list field: holds it).
    pub fn eq(field: &str, value: impl FilterValue) -> Filter {
        Filter::cond(field, "eq", vec![value.filter_text()])
    }

    pub fn neq(field: &str, value: impl FilterValue) -> Filter {
        Filter::cond(field, "neq", vec![value.filter_text()])
    }

    pub fn lt(field: &str, value: impl FilterValue) -> Filter {
        Filter::cond(field, "lt", vec![value.filter_text()])
    }

    pub fn lte(field: &str, value: impl FilterValue) -> Filter {
        Filter::cond(field, "lte", vec![value.filter_text()])
    }

    pub fn gt(field: &str, value: impl FilterValue) -> Filter {
        Filter::cond(field, "gt", vec![value.filter_text()])
    }

    pub fn gte(field: &str, value: impl FilterValue) -> Filter {
        Filter::cond(field, "gte", vec![value.filter_text()])
    }

    /// The field's text contains the value (case-insensitive).
    pub fn contains(field: &str, value: impl FilterValue) -> Filter {
        Filter::cond(field, "contains", vec![value.filter_text()])
    }

    pub fn starts_with(field: &str, value: impl FilterValue) -> Filter {
        Filter::cond(field, "starts_with", vec![value.filter_text()])
    }

    /// The field equals one of the values.
    pub fn is_in<I, V>(field: &str, values: I) -> Filter
    where
        I: IntoIterator<Item = V>,
        V: FilterValue,
    {
        let values = values.into_iter().map(|v| v.filter_text()).collect();
        Filter::cond(field, "in", values)
    }

    /// The field has no value.
    pub fn is_empty(field: &str) -> Filter {
        Filter::cond(field, "is_empty", Vec::new())
    }

    /// Both this and `other` hold.
    pub fn and(self, other: Filter) -> Filter {
        match self {
            Filter::And(mut all) => {
                all.push(other);
                Filter::And(all)
            }
            first => Filter::And(vec![first, other]),
        }
    }

    /// This or `other` holds.
    pub fn or(self, other: Filter) -> Filter {
        match self {
            Filter::Or(mut any) => {
                any.push(other);
                Filter::Or(any)
            }
            first => Filter::Or(vec![first, other]),
        }
    }

    /// This does not hold.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Filter {
        Filter::Not(Box::new(self))
    }

    /// Every filter holds (`None` for no filters).
    pub fn all(filters: impl IntoIterator<Item = Filter>) -> Option<Filter> {
        filters.into_iter().reduce(Filter::and)
    }
}

/// `"…"` with `\` before `"` and `\`.
fn quoted(value: &str, out: &mut fmt::Formatter<'_>) -> fmt::Result {
    out.write_str("\"")?;
    for c in value.chars() {
        if c == '"' || c == '\\' {
            out.write_str("\\")?;
        }
        write!(out, "{c}")?;
    }
    out.write_str("\"")
}

impl fmt::Display for Filter {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |name: &str, items: &[Filter], out: &mut fmt::Formatter<'_>| {
            write!(out, "{name}(")?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.write_str(",")?;
                }
                write!(out, "{item}")?;
            }
            out.write_str(")")
        };
        match self {
            Filter::Cond { field, op, values } => {
                write!(out, "{field}[{op}]")?;
                for (i, value) in values.iter().enumerate() {
                    out.write_str(if i == 0 { ":" } else { "|" })?;
                    quoted(value, out)?;
                }
                Ok(())
            }
            Filter::And(all) => list("and", all, out),
            Filter::Or(any) => list("or", any, out),
            Filter::Not(one) => write!(out, "not({one})"),
        }
    }
}

impl From<Filter> for String {
    fn from(filter: Filter) -> String {
        filter.to_string()
    }
}

impl From<&Filter> for String {
    fn from(filter: &Filter) -> String {
        filter.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::Filter;

    #[test]
    fn values_are_quoted_so_they_stay_values() {
        let hostile = Filter::eq("name", r#"x"),or(owner[eq]:me"#);
        assert_eq!(hostile.to_string(), r#"name[eq]:"x\"),or(owner[eq]:me""#);
        assert_eq!(
            Filter::eq("path", r"C:\x").to_string(),
            r#"path[eq]:"C:\\x""#
        );
        assert_eq!(
            Filter::is_empty("lost_reason").to_string(),
            "lost_reason[is_empty]"
        );
        let nested = Filter::eq("a", 1)
            .and(Filter::eq("b", true))
            .and(Filter::eq("c", "z").not());
        assert_eq!(
            nested.to_string(),
            r#"and(a[eq]:"1",b[eq]:"true",not(c[eq]:"z"))"#
        );
        assert_eq!(Filter::all([]), None);
    }
}

/// A problem in a filter's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl fmt::Display for ParseError {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        out.write_str(&self.0)
    }
}

impl Filter {
    /// Parses the API's filter language (what the host accepts; relative dates aside):
    /// `and(stage[eq]:won,not(amount[lt]:"100"))`.
    pub fn parse(text: &str) -> Result<Filter, ParseError> {
        let mut parser = Parser { src: text, pos: 0 };
        let filter = parser.expr(0)?;
        parser.skip_ws();
        if parser.pos < text.len() {
            return Err(parser.error("expected the end of the filter"));
        }
        Ok(filter)
    }
}

const OPS: &[&str] = &[
    "eq",
    "neq",
    "lt",
    "lte",
    "gt",
    "gte",
    "in",
    "contains",
    "starts_with",
    "is_empty",
];

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn error(&self, expected: &str) -> ParseError {
        ParseError(format!("at position {}: {expected}", self.pos))
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn ident(&mut self) -> &str {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            self.pos += 1;
        }
        &self.src[start..self.pos]
    }

    fn expr(&mut self, depth: usize) -> Result<Filter, ParseError> {
        if depth > 16 {
            return Err(self.error("filters nest at most 16 deep"));
        }
        self.skip_ws();
        let name = self.ident().to_owned();
        if name.is_empty() {
            return Err(self.error("expected a field name or and(…), or(…), not(…)"));
        }
        if self.eat('(') {
            let mut args = vec![self.expr(depth + 1)?];
            loop {
                self.skip_ws();
                if self.eat(')') {
                    break;
                }
                if !self.eat(',') {
                    return Err(self.error("expected `,` or `)`"));
                }
                args.push(self.expr(depth + 1)?);
            }
            return match (name.as_str(), args.len()) {
                ("and", _) => Ok(Filter::And(args)),
                ("or", _) => Ok(Filter::Or(args)),
                ("not", 1) => Ok(Filter::Not(Box::new(args.remove(0)))),
                _ => Err(self.error("expected and(…), or(…) or not(one condition)")),
            };
        }
        if !self.eat('[') {
            return Err(self.error("expected `[operator]` after the field name"));
        }
        let op_name = self.ident().to_owned();
        let op = OPS
            .iter()
            .find(|o| **o == op_name)
            .ok_or_else(|| self.error(&format!("unknown operator `{op_name}`")))?;
        if !self.eat(']') {
            return Err(self.error("expected `]`"));
        }
        let mut values = Vec::new();
        if self.eat(':') {
            values.push(self.value()?);
            while *op == "in" && self.eat('|') {
                values.push(self.value()?);
            }
        } else if *op != "is_empty" {
            return Err(self.error("expected `:value`"));
        }
        Ok(Filter::Cond {
            field: name,
            op,
            values,
        })
    }

    fn value(&mut self) -> Result<String, ParseError> {
        if self.eat('"') {
            let mut out = String::new();
            loop {
                match self.peek() {
                    None => return Err(self.error("expected a closing `\"`")),
                    Some('"') => {
                        self.pos += 1;
                        return Ok(out);
                    }
                    Some('\\') => {
                        self.pos += 1;
                        let c = self
                            .peek()
                            .ok_or_else(|| self.error("expected a character"))?;
                        self.pos += c.len_utf8();
                        out.push(c);
                    }
                    Some(c) => {
                        self.pos += c.len_utf8();
                        out.push(c);
                    }
                }
            }
        }
        let start = self.pos;
        while let Some(c) = self.peek().filter(|c| !matches!(c, ',' | ')' | '|')) {
            self.pos += c.len_utf8();
        }
        Ok(self.src[start..self.pos].trim().to_owned())
    }
}

#[cfg(test)]
mod parse_tests {
    use super::Filter;

    #[test]
    fn parsing_reads_back_what_the_builder_writes() {
        let built = Filter::eq("name", r#"A "quoted", (odd) | name"#)
            .and(Filter::is_in("stage", ["a", "b"]).or(Filter::is_empty("x").not()));
        assert_eq!(Filter::parse(&built.to_string()), Ok(built));
        assert!(Filter::parse("stage[eq]:won").is_ok());
        assert!(
            Filter::parse("\u{a0}stage[eq]:won").is_ok(),
            "non-ASCII space"
        );
        for bad in [
            "",
            "stage",
            "stage[zz]:1",
            "and(",
            "stage[eq]",
            "x[eq]:\"open",
        ] {
            assert!(Filter::parse(bad).is_err(), "{bad}");
        }
    }
}
