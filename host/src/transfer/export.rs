//! Exports: the records a list shows (its filter, sort and columns, as the actor may read
//! them) as CSV, XLSX or JSON lines, read a page at a time so that memory stays flat however
//! many records there are. Cells are written so that an import reads them back as the same
//! values (`1200.50 EUR`, `a; b`, ids for references).

use std::sync::Arc;

use axum::body::Bytes;
use futures_util::Stream;
use serde_json::Value;

use crate::i18n::{Text, text};
use crate::records::schema::{EntityType, FieldKind};
use crate::records::{Actor, ListQuery, Record, RecordError, Store};

/// Records read per page.
const PAGE: u64 = 1_000;
/// Rows a worksheet holds (Excel's limit, header included).
pub const XLSX_MAX_ROWS: u64 = 1_048_575;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Xlsx,
    Jsonl,
}

impl Format {
    pub fn parse(raw: &str) -> Result<Format, Text> {
        match raw {
            "csv" => Ok(Format::Csv),
            "xlsx" => Ok(Format::Xlsx),
            "jsonl" => Ok(Format::Jsonl),
            other => Err(text!(
                "api-export-format",
                format = other.chars().take(20).collect::<String>()
            )),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Csv => "text/csv; charset=utf-8",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Jsonl => "application/x-ndjson",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Xlsx => "xlsx",
            Format::Jsonl => "jsonl",
        }
    }
}

/// What to export: a list's filter and sort, and its columns (all visible fields when none).
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub filter: Option<String>,
    pub sort: Option<String>,
    pub fields: Option<Vec<String>>,
}

/// The columns of an export: `id`, the fields, then `owner`, `created_at`, `updated_at`.
pub fn columns(ty: &EntityType, fields: Option<&[String]>) -> Vec<String> {
    match fields {
        Some(fields) => {
            let mut columns = vec!["id".to_owned()];
            columns.extend(fields.iter().filter(|f| *f != "id").cloned());
            columns
        }
        None => {
            let mut columns = vec!["id".to_owned()];
            columns.extend(ty.fields.iter().map(|f| f.name.clone()));
            columns.extend(["owner", "created_at", "updated_at"].map(str::to_owned));
            columns
        }
    }
}

/// A value as a cell: text as it is, lists joined by `; `, money as `amount CUR`.
pub fn cell(ty: &EntityType, record: &Record, column: &str) -> String {
    let json = record.to_json(Some(std::slice::from_ref(&column.to_owned())));
    let value = json.get(column).cloned().unwrap_or(Value::Null);
    let money = ty.field(column).is_some_and(|f| f.kind == FieldKind::Money);
    text_of(&value, money)
}

fn text_of(value: &Value, money: bool) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => (items.iter())
            .map(|i| text_of(i, false))
            .collect::<Vec<_>>()
            .join("; "),
        Value::Object(o) if money => format!(
            "{} {}",
            o.get("amount").and_then(Value::as_str).unwrap_or_default(),
            o.get("currency")
                .and_then(Value::as_str)
                .unwrap_or_default()
        ),
        other => other.to_string(),
    }
}

/// A cell a spreadsheet would run as a formula (`=…`, `+…`, `@…`, a `-` not starting a
/// number) is prefixed with `'`, so that an exported file never carries one.
pub fn inert(cell: &str) -> std::borrow::Cow<'_, str> {
    let mut chars = cell.chars();
    let formula = match chars.next() {
        Some('=' | '+' | '@' | '\t' | '\r') => true,
        Some('-') => !chars.next().is_some_and(|c| c.is_ascii_digit() || c == '.'),
        _ => false,
    };
    if formula {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// One CSV line of cells.
pub fn csv_line<I: IntoIterator<Item = S>, S: AsRef<str>>(
    cells: I,
) -> Result<Vec<u8>, RecordError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(cells.into_iter().map(|c| inert(c.as_ref()).into_owned()))
        .map_err(|e| RecordError::BadRequest(Text::verbatim(e.to_string())))?;
    writer
        .into_inner()
        .map_err(|e| RecordError::BadRequest(Text::verbatim(e.to_string())))
}

/// The pages of a list, in order, for as long as there are more.
struct Pages {
    store: Arc<Store>,
    actor: Actor,
    ty: Arc<EntityType>,
    query: ListQuery,
    done: bool,
}

impl Pages {
    async fn next(&mut self) -> Result<Option<Vec<Record>>, RecordError> {
        if self.done {
            return Ok(None);
        }
        let page = self.store.list(&self.actor, &self.ty, &self.query).await?;
        self.query.cursor = page.next_cursor;
        self.done = self.query.cursor.is_none();
        Ok(Some(page.records))
    }
}

/// Checks the request (a bad filter or sort is refused before anything is sent) and answers
/// the export as a stream of chunks: CSV and JSON lines a page at a time; XLSX written to a
/// temporary file row by row, then sent.
pub async fn stream(
    store: Arc<Store>,
    actor: Actor,
    ty: Arc<EntityType>,
    request: Request,
    format: Format,
) -> Result<impl Stream<Item = Result<Bytes, RecordError>> + Send + 'static, RecordError> {
    let columns = columns(&ty, request.fields.as_deref());
    let query = ListQuery {
        filter: request.filter.filter(|f| !f.trim().is_empty()),
        sort: request.sort.filter(|s| !s.trim().is_empty()),
        limit: PAGE,
        cursor: None,
        total: false,
        deleted: false,
    };
    let mut pages = Pages {
        store,
        actor,
        ty,
        query,
        done: false,
    };
    // The first page is read now: a bad filter or sort is the request's error.
    let first = pages.next().await?;
    let state = (pages, first, columns, format, true);
    let chunks = futures_util::stream::try_unfold(
        state,
        |(mut pages, first, columns, format, start)| async move {
            if format == Format::Xlsx {
                if !start {
                    return Ok(None);
                }
                let bytes = xlsx(&mut pages, first, &columns).await?;
                return Ok(Some((
                    Bytes::from(bytes),
                    (pages, None, columns, format, false),
                )));
            }
            let records = match first {
                Some(records) => Some(records),
                None => pages.next().await?,
            };
            let Some(records) = records else {
                return Ok(None);
            };
            let mut out = Vec::with_capacity(records.len() * 128);
            if start && format == Format::Csv {
                out.extend(csv_line(&columns)?);
            }
            for record in &records {
                match format {
                    Format::Csv => {
                        out.extend(csv_line(
                            columns.iter().map(|c| cell(&pages.ty, record, c)),
                        )?);
                    }
                    _ => {
                        let fields: Vec<String> = columns.clone();
                        let line = serde_json::to_vec(&record.to_json(Some(&fields)))
                            .map_err(|e| RecordError::BadRequest(Text::verbatim(e.to_string())))?;
                        out.extend(line);
                        out.push(b'\n');
                    }
                }
            }
            Ok(Some((
                Bytes::from(out),
                (pages, None, columns, format, false),
            )))
        },
    );
    Ok(chunks)
}

/// The whole export as one XLSX workbook (strings stay strings: nothing in a cell is ever
/// a formula).
async fn xlsx(
    pages: &mut Pages,
    first: Option<Vec<Record>>,
    columns: &[String],
) -> Result<Vec<u8>, RecordError> {
    let failed =
        |e: rust_xlsxwriter::XlsxError| RecordError::BadRequest(Text::verbatim(e.to_string()));
    let mut workbook = rust_xlsxwriter::Workbook::new();
    let sheet = workbook
        .add_worksheet_with_constant_memory()
        .map_err(failed)?;
    let bold = rust_xlsxwriter::Format::new().set_bold();
    for (col, name) in columns.iter().enumerate() {
        let col = u16::try_from(col)
            .map_err(|_| RecordError::BadRequest(text!("api-export-too-wide")))?;
        sheet
            .write_string_with_format(0, col, name, &bold)
            .map_err(failed)?;
    }
    let mut row: u32 = 0;
    let mut next = first;
    loop {
        let records = match next.take() {
            Some(records) => records,
            None => match pages.next().await? {
                Some(records) => records,
                None => break,
            },
        };
        for record in &records {
            row += 1;
            if u64::from(row) > XLSX_MAX_ROWS {
                return Err(RecordError::BadRequest(text!(
                    "api-export-too-long",
                    max = XLSX_MAX_ROWS
                )));
            }
            for (col, name) in columns.iter().enumerate() {
                let col = u16::try_from(col).unwrap_or(u16::MAX);
                let value = record.to_json(Some(std::slice::from_ref(name)));
                match value.get(name) {
                    Some(Value::Number(n)) if n.as_f64().is_some() => {
                        sheet
                            .write_number(row, col, n.as_f64().unwrap_or_default())
                            .map_err(failed)?;
                    }
                    Some(Value::Bool(b)) => {
                        sheet.write_boolean(row, col, *b).map_err(failed)?;
                    }
                    Some(Value::Null) | None => {}
                    Some(_) => {
                        sheet
                            .write_string(row, col, cell(&pages.ty, record, name))
                            .map_err(failed)?;
                    }
                }
            }
        }
    }
    workbook.save_to_buffer().map_err(failed)
}
