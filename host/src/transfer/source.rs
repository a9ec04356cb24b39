//! Reading an uploaded file into a table of text cells: CSV in any delimiter and encoding
//! (detected when not given), or the first (or a named) sheet of an XLSX workbook.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use serde::{Deserialize, Serialize};

use crate::i18n::{Text, text};

/// Most rows one import reads.
pub const MAX_ROWS: usize = 1_000_000;

/// How a file is read; what `auto` found is written back, so that every later read of the
/// stored file (the preview, the commit, a resumed commit) reads it the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub format: Format,
    /// An encoding label (`utf-8`, `gbk`, `windows-1252`, …) or `auto` (CSV only).
    #[serde(default = "auto")]
    pub encoding: String,
    /// The CSV delimiter, or `auto`.
    #[serde(default = "auto")]
    pub delimiter: String,
    /// The XLSX sheet; the first when none is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sheet: Option<String>,
}

impl Default for Reading {
    fn default() -> Self {
        Reading {
            format: Format::Csv,
            encoding: auto(),
            delimiter: auto(),
            sheet: None,
        }
    }
}

fn auto() -> String {
    "auto".to_owned()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Csv,
    Xlsx,
}

impl Format {
    /// The format a file name or content type names, or what its first bytes show (an XLSX
    /// file is a ZIP archive).
    pub fn guess(name: &str, bytes: &[u8]) -> Format {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".xlsx") || bytes.starts_with(b"PK\x03\x04") {
            Format::Xlsx
        } else {
            Format::Csv
        }
    }
}

/// A file as rows of text cells under its header row. Rows keep their length: a row longer
/// than the header is an error of that row, never silently cut.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Reads `bytes` as `reading` says, settling its `auto` choices.
pub fn read(bytes: &[u8], reading: &mut Reading) -> Result<Table, Text> {
    let mut table = match reading.format {
        Format::Csv => read_csv(bytes, reading)?,
        Format::Xlsx => read_xlsx(bytes, reading)?,
    };
    if table.rows.len() > MAX_ROWS {
        return Err(text!("api-import-too-many-rows", max = MAX_ROWS));
    }
    for header in &mut table.headers {
        *header = header.trim().to_owned();
    }
    if table.headers.iter().all(String::is_empty) {
        return Err(text!("api-import-no-header"));
    }
    Ok(table)
}

fn read_csv(bytes: &[u8], reading: &mut Reading) -> Result<Table, Text> {
    let text = decode(bytes, reading)?;
    let delimiter = match reading.delimiter.as_str() {
        "auto" => sniff_delimiter(&text),
        "\\t" | "tab" => b'\t',
        given => match given.as_bytes() {
            [byte] if !byte.is_ascii_alphanumeric() && *byte != b'"' => *byte,
            _ => return Err(text!("api-import-bad-delimiter", delimiter = given)),
        },
    };
    reading.delimiter = match delimiter {
        b'\t' => "tab".to_owned(),
        other => char::from(other).to_string(),
    };
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let headers = match records.next() {
        Some(Ok(header)) => header.iter().map(str::to_owned).collect(),
        Some(Err(error)) => return Err(csv_error(&error)),
        None => return Err(text!("api-import-empty")),
    };
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(|e| csv_error(&e))?;
        // A blank line is no row.
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        rows.push(record.iter().map(str::to_owned).collect());
        if rows.len() > MAX_ROWS {
            break;
        }
    }
    Ok(Table { headers, rows })
}

fn csv_error(error: &csv::Error) -> Text {
    let line = error.position().map_or(0, |p| p.line());
    text!(
        "api-import-unreadable-csv",
        line = line,
        detail = error.to_string()
    )
}

/// The file's text: a byte-order mark decides, then valid UTF-8 is UTF-8, then the
/// detector guesses; a named encoding is used as named and must decode without errors.
fn decode(bytes: &[u8], reading: &mut Reading) -> Result<String, Text> {
    let (encoding, body) = if reading.encoding == "auto" {
        match encoding_rs::Encoding::for_bom(bytes) {
            Some((encoding, bom)) => (encoding, &bytes[bom..]),
            None if std::str::from_utf8(bytes).is_ok() => (encoding_rs::UTF_8, bytes),
            None => {
                let mut detector =
                    chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
                detector.feed(bytes, true);
                (detector.guess(None, chardetng::Utf8Detection::Deny), bytes)
            }
        }
    } else {
        let Some(encoding) = encoding_rs::Encoding::for_label(reading.encoding.as_bytes()) else {
            return Err(text!(
                "api-import-unknown-encoding",
                encoding = reading.encoding.clone()
            ));
        };
        let bom = match encoding_rs::Encoding::for_bom(bytes) {
            Some((found, length)) if found == encoding => length,
            _ => 0,
        };
        (encoding, &bytes[bom..])
    };
    reading.encoding = encoding.name().to_ascii_lowercase();
    encoding
        .decode_without_bom_handling_and_without_replacement(body)
        .map(std::borrow::Cow::into_owned)
        .ok_or_else(|| text!("api-import-not-in-encoding", encoding = encoding.name()))
}

/// The delimiter the first lines agree on: of `,` `;` tab `|`, the one found on most of them
/// (outside quotes) the same number of times; `,` when none is.
fn sniff_delimiter(text: &str) -> u8 {
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(20)
        .collect();
    let count = |line: &str, delimiter: char| {
        let mut quoted = false;
        line.chars()
            .filter(|&c| {
                if c == '"' {
                    quoted = !quoted;
                }
                !quoted && c == delimiter
            })
            .count()
    };
    let mut best = (0usize, b',');
    for delimiter in [',', ';', '\t', '|'] {
        let Some(first) = lines.first().map(|l| count(l, delimiter)) else {
            break;
        };
        if first == 0 {
            continue;
        }
        let agreeing = lines
            .iter()
            .filter(|l| count(l, delimiter) == first)
            .count();
        if agreeing > best.0 {
            best = (agreeing, delimiter as u8);
        }
    }
    best.1
}

fn read_xlsx(bytes: &[u8], reading: &mut Reading) -> Result<Table, Text> {
    let mut workbook: Xlsx<_> =
        calamine::open_workbook_from_rs(Cursor::new(bytes)).map_err(|e: calamine::XlsxError| {
            text!("api-import-unreadable-xlsx", detail = e.to_string())
        })?;
    let sheet = match &reading.sheet {
        Some(sheet) => sheet.clone(),
        None => workbook
            .sheet_names()
            .first()
            .cloned()
            .ok_or_else(|| text!("api-import-empty"))?,
    };
    let range = workbook
        .worksheet_range(&sheet)
        .map_err(|_| text!("api-import-no-sheet", sheet = sheet.clone()))?;
    reading.sheet = Some(sheet);
    reading.encoding = "utf-8".to_owned();
    reading.delimiter = String::new();
    let mut rows = range.rows().map(|row| {
        let mut cells: Vec<String> = row.iter().map(cell_text).collect();
        while cells.last().is_some_and(String::is_empty) {
            cells.pop();
        }
        cells
    });
    let headers = rows.next().ok_or_else(|| text!("api-import-empty"))?;
    let rows = rows
        .filter(|cells| cells.iter().any(|c| !c.trim().is_empty()))
        .take(MAX_ROWS + 1)
        .collect();
    Ok(Table { headers, rows })
}

/// A cell as text: a formula's computed value, a whole number without `.0`, a date as ISO
/// 8601 (a date, or a date and time when it has one).
fn cell_text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(n) => n.to_string(),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{f:.0}"),
        Data::Float(f) => f.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(at) => match at.as_datetime() {
            Some(at) if at.time() == chrono::NaiveTime::MIN => at.date().to_string(),
            Some(at) => at.format("%Y-%m-%dT%H:%M:%S").to_string(),
            None => at.as_f64().to_string(),
        },
        Data::Error(error) => format!("#{error:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(bytes: &[u8]) -> (Table, Reading) {
        let mut reading = Reading::default();
        let table = read(bytes, &mut reading).expect("readable");
        (table, reading)
    }

    #[test]
    fn encodings_are_detected_and_boms_dropped() {
        let (table, reading) = csv("\u{feff}name,city\nZoë,Köln\n".as_bytes());
        assert_eq!(
            (table.headers[0].as_str(), reading.encoding.as_str()),
            ("name", "utf-8")
        );
        assert_eq!(table.rows, vec![vec!["Zoë".to_owned(), "Köln".to_owned()]]);

        let (gbk, _, _) =
            encoding_rs::GBK.encode("姓名,公司\n王小明,北京字节跳动科技有限公司\n张伟,上海银行\n");
        let (table, reading) = csv(&gbk);
        assert_eq!(reading.encoding, "gbk");
        assert_eq!(table.rows[0], vec!["王小明", "北京字节跳动科技有限公司"]);

        let (latin, _, _) =
            encoding_rs::WINDOWS_1252.encode("name;city\nJosé Müller;Zürich\nFrançois;Besançon\n");
        let (table, reading) = csv(&latin);
        assert_eq!(
            (reading.encoding.as_str(), reading.delimiter.as_str()),
            ("windows-1252", ";")
        );
        assert_eq!(table.rows[1], vec!["François", "Besançon"]);
    }

    #[test]
    fn a_named_encoding_that_does_not_fit_is_refused() {
        let mut reading = Reading {
            encoding: "utf-8".into(),
            ..Reading::default()
        };
        let error = read(b"name\n\xff\xfe\xfa\n", &mut reading).expect_err("not UTF-8");
        assert_eq!(error.key(), Some("api-import-not-in-encoding"));
        reading.encoding = "klingon".into();
        let error = read(b"name\n", &mut reading).expect_err("unknown");
        assert_eq!(error.key(), Some("api-import-unknown-encoding"));
    }

    #[test]
    fn quoted_newlines_ragged_rows_and_blank_lines_survive() {
        let (table, reading) = csv(b"a\tb\tc\n\"x\ny\"\t2\n\n1\t2\t3\t4\n");
        assert_eq!(reading.delimiter, "tab");
        assert_eq!(table.rows.len(), 2);
        assert_eq!(table.rows[0], vec!["x\ny", "2"]);
        assert_eq!(table.rows[1].len(), 4);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut reading = Reading {
            format: Format::Xlsx,
            ..Reading::default()
        };
        let error = read(b"PK\x03\x04 not really a zip", &mut reading).expect_err("broken");
        assert_eq!(error.key(), Some("api-import-unreadable-xlsx"));
        let mut reading = Reading::default();
        assert_eq!(
            read(b"", &mut reading).expect_err("empty").key(),
            Some("api-import-empty")
        );
    }
}
