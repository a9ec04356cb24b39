//! Full-text search over every record type (DESIGN §5): one tantivy index per data directory,
//! with a workspace field; fed only by the indexer (`indexer.rs`), which follows the outbox and
//! owns the `IndexWriter`; queried off the async workers.
//!
//! Each record becomes one document: its title fields (boost ×3), its emails and phones
//! (×2, with the extra tokens that make parts of them findable), the titles of the records it
//! references (×1.5: a contact is found by its company's name), and its other searchable
//! fields (×1). Matching: exact words, prefixes while typing, typos (1 edit from 4 letters, 2
//! from 8), accents folded, quoted phrases, phones by any trailing 7+ digits.

pub mod api;
mod cjk;
pub mod find;
pub mod indexer;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::{Map, Value};
use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, PhraseQuery, Query, TermQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema as IndexSchema, TextFieldIndexing,
    TextOptions, Value as _,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer,
    WhitespaceTokenizer,
};
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, Term};

use crate::ids::{RecordId, WorkspaceId};
use crate::records::schema::{EntityType, FieldKind};
use crate::records::{Record, value};

/// Longest accepted query, in characters.
pub const MAX_QUERY_CHARS: usize = 500;
/// Most hits one search returns.
pub const MAX_LIMIT: usize = 100;
/// Most words of a query that are matched (the rest are ignored).
const MAX_WORDS: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the query is empty")]
    EmptyQuery,
    #[error("the query is longer than {MAX_QUERY_CHARS} characters")]
    QueryTooLong,
    #[error("search index error: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("cannot open the search index directory: {0}")]
    Io(#[from] std::io::Error),
}

/// The fields of the index.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    pub id: Field,
    pub workspace: Field,
    pub entity: Field,
    pub owner: Field,
    pub title: Field,
    pub contact: Field,
    pub body: Field,
    /// The titles of the records a record references.
    pub refs: Field,
}

/// The index and a reader over it. Cloning is cheap; writing happens only in the indexer.
#[derive(Clone)]
pub struct SearchIndex {
    pub index: Index,
    pub reader: IndexReader,
    pub fields: Fields,
}

/// The words analyzer's name. It is part of the index's schema, so a new name (a change of
/// what it makes of text) is a new layout: the index is rebuilt from the outbox at start.
const TEXT: &str = "kith_text_folded";
/// The titles' analyzer: the words', with pinyin for Han names.
const TITLE: &str = "kith_title_folded";
const TOKENS: &str = "kith_tokens";

fn text_options(tokenizer: &str, stored: bool) -> TextOptions {
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(tokenizer)
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let options = TextOptions::default().set_indexing_options(indexing);
    if stored {
        options.set_stored()
    } else {
        options
    }
}

fn schema() -> (IndexSchema, Fields) {
    let mut builder = IndexSchema::builder();
    let fields = Fields {
        id: builder.add_text_field("id", STRING | STORED),
        workspace: builder.add_text_field("workspace", STRING),
        entity: builder.add_text_field("entity", STRING | STORED),
        owner: builder.add_text_field("owner", STRING),
        title: builder.add_text_field("title", text_options(TITLE, true)),
        contact: builder.add_text_field("contact", text_options(TOKENS, false)),
        body: builder.add_text_field("body", text_options(TEXT, true)),
        refs: builder.add_text_field("refs", text_options(TEXT, false)),
    };
    (builder.build(), fields)
}

/// Words: split on non-alphanumerics, full-width forms folded, CJK runs into characters and
/// pairs (`cjk`), lowercased, accents folded (`Müller` = `muller`).
pub fn text_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(cjk::WidthFilter)
        .filter(cjk::CjkFilter)
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// Titles: as [`text_analyzer`], and the pinyin of Han text (王小明 is also `wangxiaoming`
/// and `wxm`). Queries are analyzed as words: the pinyin is only indexed.
pub fn title_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(cjk::WidthFilter)
        .filter(cjk::PinyinFilter)
        .filter(cjk::CjkFilter)
        .filter(RemoveLongFilter::limit(64))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// Precomputed tokens (emails, phones): split on whitespace only.
fn token_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(WhitespaceTokenizer::default())
        .filter(RemoveLongFilter::limit(128))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it if missing.
    pub fn open(dir: &Path) -> Result<SearchIndex, SearchError> {
        std::fs::create_dir_all(dir)?;
        let (schema, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir)
            .map_err(|e| SearchError::Index(tantivy::TantivyError::from(e)))?;
        let index = match Index::open_or_create(directory, schema.clone()) {
            Ok(index) => index,
            Err(tantivy::TantivyError::SchemaError(reason)) => {
                // An index of an older layout: start afresh; the indexer replays the outbox.
                tracing::warn!(%reason, dir = %dir.display(), "search index layout changed; rebuilding");
                std::fs::remove_dir_all(dir)?;
                std::fs::create_dir_all(dir)?;
                let directory = tantivy::directory::MmapDirectory::open(dir)
                    .map_err(|e| SearchError::Index(tantivy::TantivyError::from(e)))?;
                Index::open_or_create(directory, schema)?
            }
            Err(other) => return Err(other.into()),
        };
        Self::with_index(index, fields)
    }

    /// An index held in memory (tests and benchmarks).
    pub fn in_memory() -> Result<SearchIndex, SearchError> {
        let (schema, fields) = schema();
        Self::with_index(Index::create_in_ram(schema), fields)
    }

    fn with_index(index: Index, fields: Fields) -> Result<SearchIndex, SearchError> {
        index.tokenizers().register(TEXT, text_analyzer());
        index.tokenizers().register(TITLE, title_analyzer());
        index.tokenizers().register(TOKENS, token_analyzer());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            fields,
        })
    }

    /// The outbox sequence the last commit reflects (0 for a new index).
    pub fn committed_seq(&self) -> Result<i64, SearchError> {
        let metas = self.index.load_metas()?;
        Ok(metas.payload.and_then(|p| p.parse().ok()).unwrap_or(0))
    }

    /// The document of a record: its title, contact tokens and searchable text, and `refs`,
    /// the titles of the records it references ([`reference_ids`]).
    pub fn document(
        &self,
        workspace: WorkspaceId,
        ty: &EntityType,
        record: &Record,
        refs: &[String],
    ) -> TantivyDocument {
        let f = self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, record.id.to_string());
        doc.add_text(f.workspace, workspace.to_string());
        doc.add_text(f.entity, &ty.name);
        if let Some(owner) = record.owner {
            doc.add_text(f.owner, owner.to_string());
        }
        let text = DocumentText {
            refs: refs.join("\n"),
            ..document_text(ty, &record.data)
        };
        for (field, value) in [
            (f.title, text.title),
            (f.contact, text.contact),
            (f.body, text.body),
            (f.refs, text.refs),
        ] {
            if !value.is_empty() {
                doc.add_text(field, value);
            }
        }
        doc
    }

    /// Runs a query in a workspace over the entity types the caller may read, each limited to
    /// the owners the caller's role reaches (`None`: all). Blocking: call it from a blocking
    /// thread.
    pub fn search(
        &self,
        workspace: WorkspaceId,
        raw: &str,
        types: &[TypeScope],
        limit: usize,
    ) -> Result<Vec<Hit>, SearchError> {
        let parsed = ParsedQuery::parse(raw)?;
        let Some(text_query) = parsed.to_query(self.fields) else {
            return Ok(Vec::new());
        };
        let f = self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![
            (Occur::Must, text_query),
            (
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.workspace, &workspace.to_string()),
                    IndexRecordOption::Basic,
                )),
            ),
        ];
        let term = |field, text: &str| {
            Box::new(TermQuery::new(
                Term::from_field_text(field, text),
                IndexRecordOption::Basic,
            )) as Box<dyn Query>
        };
        let type_clauses: Vec<(Occur, Box<dyn Query>)> = types
            .iter()
            .map(|scope| {
                let entity = term(f.entity, &scope.entity);
                let clause: Box<dyn Query> = match &scope.owners {
                    None => entity,
                    Some(owners) => {
                        let owners = owners
                            .iter()
                            .map(|o| (Occur::Should, term(f.owner, &o.to_string())))
                            .collect();
                        Box::new(BooleanQuery::new(vec![
                            (Occur::Must, entity),
                            (
                                Occur::Must,
                                Box::new(BooleanQuery::new(owners)) as Box<dyn Query>,
                            ),
                        ]))
                    }
                };
                (Occur::Should, clause)
            })
            .collect();
        if type_clauses.is_empty() {
            return Ok(Vec::new());
        }
        clauses.push((Occur::Must, Box::new(BooleanQuery::new(type_clauses))));
        let query = BooleanQuery::new(clauses);

        let searcher = self.reader.searcher();
        let top = searcher.search(
            &query,
            &TopDocs::with_limit(limit.clamp(1, MAX_LIMIT)).order_by_score(),
        )?;
        let title_snippets =
            SnippetGenerator::new(parsed.highlight_terms(), text_analyzer(), f.title, 150);
        let body_snippets =
            SnippetGenerator::new(parsed.highlight_terms(), text_analyzer(), f.body, 160);
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let text = |field| stored_text(&doc, field);
            let Ok(id) = uuid::Uuid::parse_str(&text(f.id)) else {
                continue;
            };
            let body = body_snippets.snippet_from_doc(&doc);
            let title_snippet = title_snippets.snippet_from_doc(&doc);
            let snippet = if !body.highlighted().is_empty() {
                body.to_html()
            } else if !title_snippet.highlighted().is_empty() {
                title_snippet.to_html()
            } else {
                // Matched by a prefix, a typo or a contact token: show the title, escaped.
                escape_html(&text(f.title).chars().take(150).collect::<String>())
            };
            hits.push(Hit {
                id: RecordId(id),
                entity: text(f.entity),
                title: text(f.title),
                snippet,
                score,
            });
        }
        Ok(hits)
    }
}

impl SearchIndex {
    /// The titles the last commit holds for `ids` (those without a document are left out).
    pub fn indexed_titles(
        &self,
        ids: &[uuid::Uuid],
    ) -> Result<HashMap<uuid::Uuid, String>, SearchError> {
        let searcher = self.reader.searcher();
        let mut titles = HashMap::new();
        for id in ids {
            let query = TermQuery::new(
                Term::from_field_text(self.fields.id, &id.to_string()),
                IndexRecordOption::Basic,
            );
            let top = searcher.search(&query, &TopDocs::with_limit(1).order_by_score())?;
            if let Some((_, address)) = top.first() {
                let doc: TantivyDocument = searcher.doc(*address)?;
                titles.insert(*id, stored_text(&doc, self.fields.title));
            }
        }
        Ok(titles)
    }
}

/// The first value of a stored text field of `doc` ("" if none).
pub fn stored_text(doc: &TantivyDocument, field: Field) -> String {
    (doc.get_first(field).and_then(|v| v.as_str()))
        .unwrap_or_default()
        .to_owned()
}

/// An entity type a search covers, and the owners whose records it may return (`None`: all).
#[derive(Debug, Clone, PartialEq)]
pub struct TypeScope {
    pub entity: String,
    pub owners: Option<Vec<uuid::Uuid>>,
}

impl SearchIndex {
    /// Checks a hit again against only what the caller may see of the record (its view
    /// without hidden fields, and `refs`, the titles of the referenced records they may
    /// read): `Some(snippet)` if the query still matches, built from visible text only.
    pub fn rematch(
        &self,
        raw: &str,
        workspace: WorkspaceId,
        view: &EntityType,
        record: &Record,
        refs: &[String],
    ) -> Option<String> {
        let parsed = ParsedQuery::parse(raw).ok()?;
        let doc = self.document(workspace, view, record, refs);
        let text = |field| {
            doc.get_all(field)
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let mut words = analyze(&mut title_analyzer(), &text(self.fields.title));
        words.extend(analyze(&mut text_analyzer(), &text(self.fields.body)));
        words.extend(analyze(&mut text_analyzer(), &refs.join("\n")));
        let contact: Vec<String> = text(self.fields.contact)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let word_matches = |w: &String| {
            words.iter().chain(&contact).any(|t| {
                t.starts_with(w.as_str())
                    || (allowed_edits(w) > 0
                        && edit_distance(t, w) <= usize::from(allowed_edits(w)))
            })
        };
        let phrase_matches =
            |p: &Vec<String>| words.windows(p.len()).any(|window| window == p.as_slice());
        let person_matches = |p: &Person| {
            words.contains(&p.family_name)
                || (!p.words.is_empty() && p.words.iter().all(word_matches))
        };
        let text_match =
            (!parsed.words.is_empty() || !parsed.phrases.is_empty() || !parsed.people.is_empty())
                && parsed.words.iter().all(word_matches)
                && parsed.phrases.iter().all(phrase_matches)
                && parsed.people.iter().all(person_matches);
        let contact_match = parsed
            .emails
            .iter()
            .chain(&parsed.phone)
            .any(|c| contact.contains(c));
        if !(text_match || contact_match) {
            return None;
        }
        let body = SnippetGenerator::new(
            parsed.highlight_terms(),
            text_analyzer(),
            self.fields.body,
            160,
        )
        .snippet_from_doc(&doc);
        Some(if body.highlighted().is_empty() {
            SnippetGenerator::new(
                parsed.highlight_terms(),
                text_analyzer(),
                self.fields.title,
                150,
            )
            .snippet_from_doc(&doc)
            .to_html()
        } else {
            body.to_html()
        })
    }
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Levenshtein distance with adjacent transpositions counted as one edit.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: RecordId,
    /// The entity type's name (`contact`).
    pub entity: String,
    pub title: String,
    /// HTML: the best matching passage, matched words in `<b>`, everything else escaped.
    pub snippet: String,
    pub score: f32,
}

fn collect_text(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| collect_text(v, out)),
        Value::Number(n) => out.push(n.to_string()),
        Value::Object(map) => map.values().for_each(|v| collect_text(v, out)),
        _ => {}
    }
}

/// An email as findable tokens: the address, its local part, its domain with and without
/// the top-level label, and every word of the local part and domain name
/// (`ada.lovelace@acme-labs.com` → `ada.lovelace@acme-labs.com ada.lovelace acme-labs.com
/// acme-labs ada lovelace acme labs`).
pub fn email_tokens(email: &str) -> String {
    let email = email.trim().to_lowercase();
    let mut tokens = vec![email.clone()];
    if let Some((local, domain)) = email.split_once('@') {
        tokens.push(local.to_owned());
        tokens.push(domain.to_owned());
        if let Some((name, _)) = domain.rsplit_once('.') {
            tokens.push(name.to_owned());
        }
    }
    let (local, domain) = email.split_once('@').unwrap_or((&email, ""));
    let without_tld = domain.rsplit_once('.').map_or(domain, |(name, _)| name);
    for part in local
        .split(|c: char| !c.is_alphanumeric())
        .chain(without_tld.split(|c: char| !c.is_alphanumeric()))
    {
        if !part.is_empty() && !tokens.iter().any(|t| t == part) {
            tokens.push(part.to_owned());
        }
    }
    tokens.join(" ")
}

/// The digits of a phone number.
pub fn phone_digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

/// A phone as tokens: its digits and every trailing run of 7 or more of them, so
/// `+1 (555) 010-2030` is found by `5550102030`, `0102030` or `+15550102030`.
pub fn phone_tokens(phone: &str) -> String {
    let digits = phone_digits(phone);
    let tokens: Vec<&str> = (0..digits.len())
        .filter(|start| digits.len() - start >= 7)
        .map(|start| &digits[start..])
        .collect();
    if tokens.is_empty() {
        digits
    } else {
        tokens.join(" ")
    }
}

#[derive(Debug, PartialEq)]
struct Person {
    family_name: String,
    title: Vec<String>,
    words: Vec<String>,
}

/// A query split into phrases, words and a possible phone number.
#[derive(Debug, Default, PartialEq)]
struct ParsedQuery {
    phrases: Vec<Vec<String>>,
    words: Vec<String>,
    /// Family names with a title (王总): the family name's title token, the title, and the
    /// word's own tokens (the text may also hold 王总 as it is).
    people: Vec<Person>,
    /// Raw query pieces that look like emails or email parts.
    emails: Vec<String>,
    phone: Option<String>,
}

impl ParsedQuery {
    fn parse(raw: &str) -> Result<ParsedQuery, SearchError> {
        if raw.chars().count() > MAX_QUERY_CHARS {
            return Err(SearchError::QueryTooLong);
        }
        let clean: String = raw
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        if clean.trim().is_empty() {
            return Err(SearchError::EmptyQuery);
        }
        let mut parsed = ParsedQuery::default();
        let digits = phone_digits(&clean);
        let phone_like = clean
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c));
        if phone_like && digits.len() >= 4 {
            parsed.phone = Some(digits);
        }
        // Quoted parts are phrases; an unbalanced quote is ignored.
        let mut parts = clean.split('"').enumerate().peekable();
        let mut analyzer = text_analyzer();
        while let Some((i, part)) = parts.next() {
            let is_phrase = i % 2 == 1 && parts.peek().is_some();
            let words = analyze(&mut analyzer, part);
            if is_phrase && words.len() > 1 {
                parsed.phrases.push(words);
            } else {
                let mut words = Vec::new();
                for piece in part.split_whitespace() {
                    let piece_words = analyze(&mut analyzer, piece);
                    match cjk::family_name_query(&cjk::fold(piece)) {
                        Some((family_name, title)) => parsed.people.push(Person {
                            family_name,
                            title: analyze(&mut analyzer, title),
                            words: piece_words,
                        }),
                        None => words.extend(piece_words),
                    }
                }
                parsed.words.extend(words);
                parsed.emails.extend(
                    part.split_whitespace()
                        .filter(|w| w.contains('@') || w.contains('.'))
                        .map(|w| w.to_lowercase()),
                );
            }
        }
        // A CJK character whose pair with a neighbour is asked for adds nothing but cost.
        let pairs: Vec<String> = (parsed.words.iter())
            .filter(|w| w.chars().count() == 2 && w.chars().all(cjk::is_cjk))
            .cloned()
            .collect();
        parsed.words.retain(|w| {
            let single = w.chars().count() == 1 && w.chars().all(cjk::is_cjk);
            !(single && pairs.iter().any(|p| p.contains(w.as_str())))
        });
        for person in &mut parsed.people {
            person.words.retain(|w| w.chars().count() > 1);
        }
        parsed.words.truncate(MAX_WORDS);
        parsed.people.truncate(MAX_WORDS);
        parsed.emails.truncate(MAX_WORDS);
        Ok(parsed)
    }

    /// The text part of the query: every word must match some field (exactly, as a prefix,
    /// or with typos), every phrase must match in order; or the whole query matches a phone.
    fn to_query(&self, f: Fields) -> Option<Box<dyn Query>> {
        let mut all: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (i, word) in self.words.iter().enumerate() {
            all.push((
                Occur::Must,
                word_query(f, word, i + 1 == self.words.len(), i > 0),
            ));
        }
        for person in &self.people {
            // The family name opening a title, or the word as written; the title in the
            // record's text (a job title) ranks it higher.
            let as_written: Vec<(Occur, Box<dyn Query>)> = (person.words.iter())
                .map(|w| (Occur::Must, word_query(f, w, false, true)))
                .collect();
            let family_name = Term::from_field_text(f.title, &person.family_name);
            all.push((
                Occur::Must,
                Box::new(BooleanQuery::new(vec![
                    (
                        Occur::Should,
                        boosted(
                            TermQuery::new(family_name, IndexRecordOption::WithFreqs),
                            6.0,
                        ),
                    ),
                    (Occur::Should, Box::new(BooleanQuery::new(as_written))),
                ])),
            ));
            for word in &person.title {
                for field in [f.title, f.body] {
                    let term = Term::from_field_text(field, word);
                    all.push((
                        Occur::Should,
                        boosted(TermQuery::new(term, IndexRecordOption::WithFreqs), 1.0),
                    ));
                }
            }
        }
        for phrase in &self.phrases {
            let mut either: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for (field, boost) in [(f.title, 3.0), (f.body, 1.0)] {
                let terms: Vec<Term> = phrase
                    .iter()
                    .map(|w| Term::from_field_text(field, w))
                    .collect();
                either.push((Occur::Should, boosted(PhraseQuery::new(terms), boost)));
            }
            all.push((Occur::Must, Box::new(BooleanQuery::new(either))));
        }
        let mut alternatives: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if !all.is_empty() {
            alternatives.push((Occur::Should, Box::new(BooleanQuery::new(all))));
        }
        for email in &self.emails {
            let term = Term::from_field_text(f.contact, email);
            alternatives.push((
                Occur::Should,
                boosted(TermQuery::new(term, IndexRecordOption::WithFreqs), 4.0),
            ));
        }
        if let Some(digits) = &self.phone {
            let term = Term::from_field_text(f.contact, digits);
            alternatives.push((
                Occur::Should,
                boosted(TermQuery::new(term, IndexRecordOption::WithFreqs), 4.0),
            ));
        }
        (!alternatives.is_empty())
            .then(|| Box::new(BooleanQuery::new(alternatives)) as Box<dyn Query>)
    }

    fn highlight_terms(&self) -> BTreeMap<String, f32> {
        (self.words.iter())
            .chain(self.phrases.iter().flatten())
            .chain(
                self.people
                    .iter()
                    .flat_map(|p| p.words.iter().chain(&p.title)),
            )
            .map(|w| (w.clone(), 1.0))
            .collect()
    }
}

fn analyze(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(token) = stream.next() {
        words.push(token.text.clone());
    }
    words
}

fn boosted(query: impl Query + 'static, boost: f32) -> Box<dyn Query> {
    Box::new(BoostQuery::new(Box::new(query), boost))
}

/// How many typos a word may carry: none in numbers and codes, else by length.
fn allowed_edits(word: &str) -> u8 {
    if word.chars().any(|c| c.is_ascii_digit()) {
        return 0;
    }
    match word.chars().count() {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// One word, in any field: exact beats prefix beats typo; titles beat contact details beat
/// body text. Expansions are kept where they pay: typos only in titles (names), prefixes in
/// titles, and in contact details (from 3 letters) and body text (from 4) only for the last
/// word, the one being typed — every email address starts with a first name, so prefixes of
/// earlier words there matched thousands of addresses — a large corpus's body vocabulary makes short prefixes and fuzzy matches
/// there expensive and noisy. A title prefix needs two letters, or one when it is the word
/// being typed after others (`Ada L`, `O'C` — whose apostrophe splits the words): the words
/// before it narrow the matches.
fn word_query(f: Fields, word: &str, last: bool, after_others: bool) -> Box<dyn Query> {
    let len = word.chars().count();
    let mut options: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let mut add = |field, weight: f32, prefix_from: Option<usize>, typos: bool| {
        let term = Term::from_field_text(field, word);
        options.push((
            Occur::Should,
            boosted(
                TermQuery::new(term.clone(), IndexRecordOption::WithFreqs),
                weight * 2.0,
            ),
        ));
        if prefix_from.is_some_and(|min| len >= min) {
            options.push((
                Occur::Should,
                boosted(FuzzyTermQuery::new_prefix(term.clone(), 0, true), weight),
            ));
        }
        let edits = allowed_edits(word);
        if typos && edits > 0 {
            options.push((
                Occur::Should,
                boosted(FuzzyTermQuery::new(term, edits, true), weight * 0.5),
            ));
        }
    };
    add(
        f.title,
        3.0,
        Some(if last && after_others { 1 } else { 2 }),
        true,
    );
    add(f.contact, 2.0, last.then_some(3), false);
    add(f.refs, 1.5, last.then_some(2), false);
    add(f.body, 1.0, last.then_some(4), false);
    Box::new(BooleanQuery::new(options))
}

/// The text a record contributes to each indexed field: its title, the tokens of its emails
/// and phones, and its other searchable values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocumentText {
    pub title: String,
    pub contact: String,
    pub body: String,
    /// The referenced records' titles, one per line ([`document_text`] leaves it empty: the
    /// indexer fills it).
    pub refs: String,
}

pub fn document_text(ty: &EntityType, data: &Map<String, Value>) -> DocumentText {
    let mut contact = Vec::new();
    let mut body = Vec::new();
    for field in ty.fields.iter().filter(|f| f.searchable) {
        let Some(value) = data.get(&field.name) else {
            continue;
        };
        if ty.title_fields.contains(&field.name) {
            continue;
        }
        match (field.kind, value.as_str()) {
            (FieldKind::Email, Some(email)) => contact.push(email_tokens(email)),
            (FieldKind::Phone, Some(phone)) => contact.push(phone_tokens(phone)),
            (FieldKind::Email | FieldKind::Phone, None) => {}
            _ => collect_text(value, &mut body),
        }
    }
    DocumentText {
        title: value::title(ty, data),
        contact: contact.join(" "),
        body: body.join("\n"),
        refs: String::new(),
    }
}

/// The records a record references through the fields of `ty` (so a view without a hidden
/// reference field yields none through it), in field order, without repeats.
pub fn reference_ids(ty: &EntityType, data: &Map<String, Value>) -> Vec<uuid::Uuid> {
    let mut ids = Vec::new();
    for field in ty.fields.iter().filter(|f| f.kind == FieldKind::Reference) {
        let values = match data.get(&field.name) {
            Some(Value::Array(items)) => items.iter().collect(),
            Some(one) => vec![one],
            None => continue,
        };
        for id in values.into_iter().filter_map(Value::as_str) {
            if let Ok(id) = uuid::Uuid::parse_str(id)
                && !ids.contains(&id)
            {
                ids.push(id);
            }
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_snippets_are_escaped() {
        assert_eq!(
            escape_html(r#"<b>O'Hara & "Sons"</b>"#),
            "&lt;b&gt;O&#39;Hara &amp; &quot;Sons&quot;&lt;/b&gt;"
        );
    }

    #[test]
    fn edit_distance_counts_transpositions_once() {
        assert_eq!(edit_distance("smith", "smtih"), 1);
        assert_eq!(edit_distance("jhon", "john"), 1);
        assert_eq!(edit_distance("muller", "mueller"), 1);
        assert_eq!(edit_distance("abc", "xyz"), 3);
    }

    #[test]
    fn email_tokens_cover_address_local_part_and_domain() {
        assert_eq!(
            email_tokens("Ada.Lovelace@Acme-Labs.com"),
            "ada.lovelace@acme-labs.com ada.lovelace acme-labs.com acme-labs ada lovelace acme labs"
        );
    }

    #[test]
    fn phone_tokens_are_trailing_digit_runs() {
        assert_eq!(
            phone_tokens("+1 (555) 010-2030"),
            "15550102030 5550102030 550102030 50102030 0102030"
        );
        assert_eq!(phone_tokens("12-34"), "1234");
    }

    #[test]
    fn queries_split_into_words_phrases_and_phones() {
        let parsed = ParsedQuery::parse(r#"Müller "renewal discount" jo"#).expect("parses");
        assert_eq!(parsed.words, ["muller", "jo"]);
        assert_eq!(
            parsed.phrases,
            [vec!["renewal".to_owned(), "discount".to_owned()]]
        );
        assert_eq!(
            ParsedQuery::parse("+1 (555) 010-2030")
                .expect("parses")
                .phone
                .as_deref(),
            Some("15550102030")
        );
        let unbalanced = ParsedQuery::parse(r#"acme "rollout"#).expect("parses");
        assert_eq!(unbalanced.words, ["acme", "rollout"]);
        assert!(unbalanced.phrases.is_empty());
    }

    #[test]
    fn empty_control_and_oversized_queries_are_refused() {
        assert!(matches!(
            ParsedQuery::parse("  \u{0}\u{7} "),
            Err(SearchError::EmptyQuery)
        ));
        assert!(matches!(
            ParsedQuery::parse(&"a".repeat(MAX_QUERY_CHARS + 1)),
            Err(SearchError::QueryTooLong)
        ));
        assert_eq!(
            ParsedQuery::parse("ada\u{0}lovelace")
                .expect("parses")
                .words,
            ["ada", "lovelace"]
        );
    }
}
