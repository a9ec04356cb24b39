//! Search benchmark: the same generated CRM corpus in Kith's tantivy index, SQLite FTS5 and
//! PostgreSQL full-text search (tsvector + GIN), the same known-item queries against all three.
//!
//! ```text
//! cargo bench -p tests --bench search -- [--records N] [--queries N] [--postgres-url URL]
//!                                        [--chinese-share F] [--chinese-per-set N]
//!                                        [--chinese-queries N] [--write PATH] [--no-freshness]
//! ```
//!
//! Reports indexing throughput and index size, MRR@10 / recall@10 per query set, query latency
//! p50 / p99 over a rotating mix of queries, and — against a real `kith serve` — how long a
//! record written over the API takes to become searchable under 50 writes/s. Every engine gets
//! the titles of the records a record references (a contact's company, an activity's links).
//!
//! With `--chinese-share F`, that share of the companies, contacts and activities come from
//! the Chinese generator (`host::demo::zh`), and a Chinese query set (`search/zh.rs`) is run
//! against Kith, SQLite FTS5 with the trigram tokenizer and PostgreSQL with `pg_trgm`.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use host::demo::{Locale, Rng};
use host::ids::{RecordId, UserId, WorkspaceId};
use host::records::Record;
use host::records::schema::{EntityType, builtin_types};
use host::search::{SearchIndex, TypeScope, document_text, phone_digits, text_analyzer};
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::sqlx::{self, Row};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Map, Value};
use tantivy::tokenizer::TokenStream;
use uuid::Uuid;

/// The Chinese query sets and the trigram engines.
#[path = "search/zh.rs"]
mod zh;

/// Seed of the corpus generator.
const CORPUS_SEED: u64 = 20_260_514;
/// Seed of the query-set sampler.
const QUERY_SEED: u64 = 42;
/// Queries per set.
const PER_SET: usize = 250;
/// Hits judged per query.
const TOP: usize = 10;
/// Queries run (and not timed) before the latency mix.
const WARMUP: usize = 100;
/// The server's indexer settings (`host/src/search/indexer.rs`).
const WRITER_THREADS: usize = 1;
const WRITER_BYTES: usize = 40_000_000;
const FRESHNESS_WRITES_PER_SEC: u64 = 50;
const FRESHNESS_SECS: u64 = 20;
const START_MARKER: &str = "<!-- bench-search:start -->";
const END_MARKER: &str = "<!-- bench-search:end -->";
const RUN_MARKER: &str = "<!-- bench-search:run records=";

// ------------------------------------------------------------------------------------------------
// Arguments
// ------------------------------------------------------------------------------------------------

#[derive(Debug)]
struct Args {
    records: usize,
    queries: usize,
    postgres_url: Option<String>,
    write: Option<PathBuf>,
    freshness: bool,
    /// The share of companies, contacts and activities made by the Chinese generator.
    chinese_share: f64,
    /// Queries per Chinese set, and in the Chinese latency mix (the trigram engines scan
    /// their table for every word of one or two characters: at a million records that is
    /// seconds per query).
    chinese_per_set: usize,
    chinese_queries: Option<usize>,
    /// Print the queries an engine does not rank first (stderr).
    verbose: bool,
    /// The arguments as given (for the report), the PostgreSQL password redacted.
    shown: Vec<String>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        records: 100_000,
        queries: 1_200,
        postgres_url: std::env::var("KITH_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty()),
        write: None,
        freshness: true,
        chinese_share: 0.0,
        chinese_per_set: 250,
        chinese_queries: None,
        verbose: false,
        shown: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> anyhow::Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().with_context(|| format!("{what} needs a value")),
            }
        };
        match name.as_str() {
            // `cargo bench` passes `--bench` to every bench binary.
            "--bench" => continue,
            "--records" => {
                args.records = value("--records")?.parse().context("--records N")?;
                args.shown.push(format!("--records {}", args.records));
            }
            "--queries" => {
                args.queries = value("--queries")?.parse().context("--queries N")?;
                args.shown.push(format!("--queries {}", args.queries));
            }
            "--postgres-url" => {
                let url = value("--postgres-url")?;
                args.shown.push(format!("--postgres-url {}", redact(&url)));
                args.postgres_url = Some(url).filter(|u| !u.is_empty());
            }
            "--write" => {
                let path = value("--write")?;
                args.shown.push(format!("--write {path}"));
                args.write = Some(PathBuf::from(path));
            }
            "--no-freshness" => {
                args.freshness = false;
                args.shown.push(name.clone());
            }
            "--chinese-share" => {
                let share: f64 = value("--chinese-share")?
                    .parse()
                    .context("--chinese-share F (0 to 1)")?;
                if !(0.0..=1.0).contains(&share) {
                    bail!("--chinese-share must be between 0 and 1");
                }
                args.chinese_share = share;
                args.shown.push(format!("--chinese-share {share}"));
            }
            "--chinese-per-set" => {
                args.chinese_per_set = value("--chinese-per-set")?
                    .parse()
                    .context("--chinese-per-set N")?;
                args.shown
                    .push(format!("--chinese-per-set {}", args.chinese_per_set));
            }
            "--chinese-queries" => {
                let n = value("--chinese-queries")?
                    .parse()
                    .context("--chinese-queries N")?;
                args.chinese_queries = Some(n);
                args.shown.push(format!("--chinese-queries {n}"));
            }
            "--verbose" => args.verbose = true,
            "--help" | "-h" => {
                println!(
                    "cargo bench -p tests --bench search -- [--records N] [--queries N] \
                     [--postgres-url URL] [--chinese-share F] [--chinese-per-set N] \
                     [--chinese-queries N] [--write PATH] [--no-freshness] [--verbose]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}` (try --help)"),
        }
    }
    if args.records < 1_000 {
        bail!("--records must be at least 1000");
    }
    if args.queries < 1 {
        bail!("--queries must be at least 1");
    }
    Ok(args)
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((auth, host)) = rest.split_once('@') else {
        return url.to_owned();
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

// ------------------------------------------------------------------------------------------------
// Corpus
// ------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Company = 0,
    Contact = 1,
    Activity = 2,
}

/// The text of one record as every engine gets it: the same split Kith's `document` makes.
struct Doc {
    kind: Kind,
    /// Made by the Chinese generator.
    zh: bool,
    /// The contact's employer (an index into the corpus).
    company: Option<u32>,
    title: String,
    contact: String,
    body: String,
    /// The titles of the records it references, in field order (what Kith's indexer gives
    /// `SearchIndex::document`).
    refs: Vec<String>,
}

struct Corpus {
    /// company, contact, activity.
    types: [EntityType; 3],
    records: Vec<Record>,
    docs: Vec<Doc>,
    by_id: HashMap<Uuid, u32>,
    counts: [usize; 3],
    /// How many of each kind the Chinese generator made.
    zh_counts: [usize; 3],
    /// The one user who owns every record (server records always have an owner).
    owner: UserId,
}

/// Whether item `i` of a kind is Chinese: exactly `share` of them, spread evenly, decided
/// without drawing from the generator (a share of 0 leaves the English corpus as it was).
fn is_chinese(i: usize, share: f64) -> bool {
    share > 0.0 && ((i + 1) as f64 * share).floor() > (i as f64 * share).floor()
}

impl Corpus {
    fn generate(total: usize, chinese_share: f64) -> anyhow::Result<Corpus> {
        let builtin = builtin_types();
        let ty = |name: &str| {
            builtin
                .iter()
                .find(|t| t.name == name)
                .cloned()
                .with_context(|| format!("built-in type {name} is missing"))
        };
        let types = [ty("company")?, ty("contact")?, ty("activity")?];
        let companies = (total / 10).max(1);
        let contacts = total / 2;
        let activities = total - companies - contacts;
        let mut corpus = Corpus {
            types,
            records: Vec::with_capacity(total),
            docs: Vec::with_capacity(total),
            by_id: HashMap::with_capacity(total),
            counts: [companies, contacts, activities],
            zh_counts: [0; 3],
            owner: UserId::new(),
        };
        let now = chrono::Utc::now();
        let mut rng = Rng::new(CORPUS_SEED);
        let locale = |zh: bool| if zh { Locale::ZhCn } else { Locale::En };
        // Per language: the records made so far (each generator numbers its own), the
        // employers (id, domain, index) and the people.
        let mut made = [0usize; 2];
        let mut employers: [Vec<(Uuid, String, u32)>; 2] = [Vec::new(), Vec::new()];
        for i in 0..companies {
            let zh = is_chinese(i, chinese_share);
            let data = locale(zh).company(&mut rng, made[usize::from(zh)]);
            made[usize::from(zh)] += 1;
            let domain = data
                .get("domain")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let (id, index) = corpus.push(Kind::Company, zh, data, None, Vec::new(), now);
            employers[usize::from(zh)].push((id, domain, index));
        }
        corpus.zh_counts[0] = made[1];
        // A language without companies borrows the other's.
        let pool = |zh: bool| {
            let own = &employers[usize::from(zh)];
            if own.is_empty() {
                &employers[usize::from(!zh)]
            } else {
                own
            }
        };
        let mut made = [0usize; 2];
        let mut people: [Vec<(Uuid, u32)>; 2] = [Vec::new(), Vec::new()];
        for i in 0..contacts {
            let zh = is_chinese(i, chinese_share);
            let employer = (!rng.chance(0.1)).then(|| rng.pick(pool(zh)));
            let data = locale(zh).contact(
                &mut rng,
                made[usize::from(zh)],
                employer.map(|(id, d, _)| (*id, d.as_str())),
            );
            made[usize::from(zh)] += 1;
            let refs = employer
                .map(|e| vec![corpus.docs[e.2 as usize].title.clone()])
                .unwrap_or_default();
            let (id, index) =
                corpus.push(Kind::Contact, zh, data, employer.map(|e| e.2), refs, now);
            people[usize::from(zh)].push((id, index));
        }
        corpus.zh_counts[1] = made[1];
        let mut made = 0;
        for i in 0..activities {
            let zh = is_chinese(i, chinese_share);
            let own = &people[usize::from(zh)];
            let linkable = if own.is_empty() {
                &people[usize::from(!zh)]
            } else {
                own
            };
            let mut links = Vec::new();
            if !linkable.is_empty() {
                links.push(*rng.pick(linkable));
            }
            if rng.chance(0.5) {
                let (id, _, index) = rng.pick(pool(zh));
                links.push((*id, *index));
            }
            let ids: Vec<Uuid> = links.iter().map(|l| l.0).collect();
            let data = locale(zh).activity(&mut rng, &ids, now);
            made += usize::from(zh);
            let mut refs: Vec<String> = Vec::new();
            for (_, index) in &links {
                let title = &corpus.docs[*index as usize].title;
                if !refs.contains(title) {
                    refs.push(title.clone());
                }
            }
            corpus.push(Kind::Activity, zh, data, None, refs, now);
        }
        corpus.zh_counts[2] = made;
        Ok(corpus)
    }

    fn push(
        &mut self,
        kind: Kind,
        zh: bool,
        data: Map<String, Value>,
        company: Option<u32>,
        refs: Vec<String>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> (Uuid, u32) {
        let ty = &self.types[kind as usize];
        let (title, contact, body) = texts(ty, &data);
        let id = Uuid::now_v7();
        let index = self.records.len() as u32;
        self.by_id.insert(id, index);
        self.docs.push(Doc {
            kind,
            zh,
            company,
            title,
            contact,
            body,
            refs,
        });
        self.records.push(Record {
            id: RecordId(id),
            entity_type: ty.name.clone(),
            data,
            version: 1,
            owner: Some(self.owner),
            created_at: now,
            updated_at: now,
            deleted_at: None,
        });
        (id, index)
    }

    fn text(&self, index: u32, field: &str) -> &str {
        self.records[index as usize]
            .data
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// Title, contact tokens and other searchable text of a record, exactly as
/// `SearchIndex::document` splits them.
fn texts(ty: &EntityType, data: &Map<String, Value>) -> (String, String, String) {
    let text = document_text(ty, data);
    (text.title, text.contact, text.body)
}

/// Kith's analysis of a text: lowercased, accent-folded words.
fn words(text: &str) -> Vec<String> {
    let mut analyzer = text_analyzer();
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

fn fold(text: &str) -> String {
    words(text).join(" ")
}

fn contains_run(haystack: &[String], needle: &[String]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// A name as typed without accents, keeping case (`Jürgen Groß` → `Jurgen Gross`).
fn strip_accents(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let lower = c.to_lowercase().next().unwrap_or(c);
        let plain = match lower {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ą' => "a",
            'ç' | 'ć' | 'č' => "c",
            'ď' | 'đ' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ę' | 'ě' => "e",
            'ì' | 'í' | 'î' | 'ï' | 'ı' => "i",
            'ł' => "l",
            'ñ' | 'ń' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => "o",
            'ř' => "r",
            'ś' | 'š' | 'ş' | 'ș' => "s",
            'ť' | 'ţ' | 'ț' => "t",
            'ù' | 'ú' | 'û' | 'ü' | 'ů' | 'ű' | 'ū' => "u",
            'ý' | 'ÿ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            'æ' => "ae",
            'œ' => "oe",
            'ß' => "ss",
            _ => {
                out.push(c);
                continue;
            }
        };
        if c.is_uppercase() {
            let mut chars = plain.chars();
            if let Some(first) = chars.next() {
                out.extend(first.to_uppercase());
                out.push_str(chars.as_str());
            }
        } else {
            out.push_str(plain);
        }
    }
    out
}

// ------------------------------------------------------------------------------------------------
// Query sets
// ------------------------------------------------------------------------------------------------

const SETS: [&str; 10] = [
    "exact name (contact)",
    "exact name (company)",
    "name + company",
    "surname + company (reference)",
    "email local part",
    "phone suffix",
    "one-typo surname",
    "phrase from a note",
    "prefix",
    "accent-folded name",
];
const SET_TYPO: usize = 6;
const SET_PHRASE: usize = 7;
const SET_PREFIX: usize = 8;

/// Which hits count as finding the target.
#[derive(Debug)]
enum Judge {
    /// The target itself.
    Record,
    /// Any record whose title is the target's (folded): names are shared.
    Title(String),
    /// Any contact with this last name at a company whose name starts with this word.
    NameAtCompany { last: String, word: String },
    /// Any contact with this last name at a company whose name holds this word.
    NameAtCompanyHolding { last: String, word: String },
    /// Any record whose title or body holds these words in a row (notes are template-made,
    /// so phrases recur).
    Phrase(Vec<String>),
    /// The Chinese sets' judges.
    Zh(zh::ZhJudge),
}

#[derive(Debug)]
struct BenchQuery {
    text: String,
    target: u32,
    judge: Judge,
}

impl BenchQuery {
    fn relevant(&self, corpus: &Corpus, hit: u32) -> bool {
        let doc = &corpus.docs[hit as usize];
        match &self.judge {
            Judge::Record => hit == self.target,
            Judge::Title(title) => hit == self.target || fold(&doc.title) == *title,
            Judge::NameAtCompany { last, word } => {
                hit == self.target
                    || (doc.kind == Kind::Contact
                        && fold(corpus.text(hit, "last_name")) == *last
                        && doc.company.is_some_and(|c| {
                            first_word(corpus.text(c, "name")).is_some_and(|w| fold(w) == *word)
                        }))
            }
            Judge::NameAtCompanyHolding { last, word } => {
                hit == self.target
                    || (doc.kind == Kind::Contact
                        && fold(corpus.text(hit, "last_name")) == *last
                        && doc.company.is_some_and(|c| {
                            words(corpus.text(c, "name")).iter().any(|w| w == word)
                        }))
            }
            Judge::Phrase(phrase) => {
                hit == self.target
                    || contains_run(&words(&doc.title), phrase)
                    || contains_run(&words(&doc.body), phrase)
            }
            Judge::Zh(judge) => hit == self.target || judge.relevant(corpus, hit),
        }
    }
}

fn first_word(text: &str) -> Option<&str> {
    text.split_whitespace().next()
}

/// Draws distinct targets from `pool` until `want` queries are made (or the pool runs dry).
fn sample(
    rng: &mut Rng,
    pool: &[u32],
    want: usize,
    mut make: impl FnMut(&mut Rng, u32) -> Option<(String, Judge)>,
) -> Vec<BenchQuery> {
    let mut out = Vec::with_capacity(want);
    if pool.is_empty() {
        return out;
    }
    let mut used = HashSet::new();
    let mut attempts = 0;
    while out.len() < want && attempts < want * 400 && used.len() < pool.len() {
        attempts += 1;
        let target = *rng.pick(pool);
        if !used.insert(target) {
            continue;
        }
        if let Some((text, judge)) = make(rng, target) {
            out.push(BenchQuery {
                text,
                target,
                judge,
            });
        }
    }
    out
}

/// Notes about the query sets, for the report.
struct SetNotes {
    phone_unique: usize,
    phone_total: usize,
    phrase_matches: Vec<usize>,
}

fn build_queries(corpus: &Corpus) -> (Vec<Vec<BenchQuery>>, SetNotes) {
    let mut rng = Rng::new(QUERY_SEED);
    // The English records only (the Chinese ones have their own sets, `zh.rs`).
    let of_kind = |kind: Kind| -> Vec<u32> {
        (0..corpus.docs.len() as u32)
            .filter(|&i| corpus.docs[i as usize].kind == kind && !corpus.docs[i as usize].zh)
            .collect()
    };
    let companies = of_kind(Kind::Company);
    let contacts = of_kind(Kind::Contact);
    let activities = of_kind(Kind::Activity);
    let title = |i: u32| corpus.docs[i as usize].title.clone();
    let mut sets: Vec<Vec<BenchQuery>> = Vec::new();

    // Exact names.
    sets.push(sample(&mut rng, &contacts, PER_SET, |_, i| {
        Some((title(i), Judge::Title(fold(&title(i)))))
    }));
    sets.push(sample(&mut rng, &companies, PER_SET, |_, i| {
        Some((title(i), Judge::Title(fold(&title(i)))))
    }));

    // "Last CompanyWord".
    sets.push(sample(&mut rng, &contacts, PER_SET, |_, i| {
        let company = corpus.docs[i as usize].company?;
        let word = first_word(corpus.text(company, "name"))?;
        let last = corpus.text(i, "last_name");
        Some((
            format!("{last} {word}"),
            Judge::NameAtCompany {
                last: fold(last),
                word: fold(word),
            },
        ))
    }));

    // "Last CompanyWord" where the word is nowhere in the contact's own text (its email's
    // domain holds the coined part and the sector of the company's name, so in practice the
    // word is the legal form: "Müller GmbH"): only the reference finds it. No word of the
    // contact's own text may even start with it (Kith matches the last word as a prefix).
    // Its sampler is seeded apart, so the other sets sample what they sampled before it was
    // added.
    let mut reference_rng = Rng::new(QUERY_SEED + 1);
    let reference = sample(&mut reference_rng, &contacts, PER_SET, |rng, i| {
        let company = corpus.docs[i as usize].company?;
        let doc = &corpus.docs[i as usize];
        let own: Vec<String> = [&doc.title, &doc.contact, &doc.body]
            .iter()
            .flat_map(|text| words(text))
            .collect();
        let candidates: Vec<String> = corpus
            .text(company, "name")
            .split_whitespace()
            .filter_map(|w| {
                let analysed = words(w);
                (analysed.len() == 1 && analysed[0].chars().count() >= 2)
                    .then(|| analysed[0].clone())
            })
            .filter(|w| !own.iter().any(|o| o.starts_with(w.as_str())))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let word = rng.pick(&candidates).clone();
        let shown = corpus
            .text(company, "name")
            .split_whitespace()
            .find(|w| words(w).first() == Some(&word))?
            .trim_end_matches(|c: char| !c.is_alphanumeric())
            .to_owned();
        let last = corpus.text(i, "last_name");
        Some((
            format!("{last} {shown}"),
            Judge::NameAtCompanyHolding {
                last: fold(last),
                word,
            },
        ))
    });
    sets.push(reference);

    // Email local part.
    sets.push(sample(&mut rng, &contacts, PER_SET, |_, i| {
        let email = corpus.text(i, "email");
        let (local, _) = email.split_once('@')?;
        Some((local.to_owned(), Judge::Record))
    }));

    // Phone suffix: the last 7 digits, only where no other record's phone ends with them
    // (the demo's fictional UK and US ranges share most suffixes).
    // Suffixes are counted over every record, the targets are English ones.
    let mut suffixes: HashMap<String, u32> = HashMap::new();
    let every_phone =
        (0..corpus.docs.len() as u32).filter(|&i| !corpus.text(i, "phone").is_empty());
    let with_phone: Vec<u32> = every_phone
        .clone()
        .filter(|&i| !corpus.docs[i as usize].zh)
        .collect();
    for i in every_phone {
        let digits = phone_digits(corpus.text(i, "phone"));
        if digits.len() >= 7 {
            *suffixes
                .entry(digits[digits.len() - 7..].to_owned())
                .or_default() += 1;
        }
    }
    let phone_unique = with_phone
        .iter()
        .filter(|&&i| {
            let digits = phone_digits(corpus.text(i, "phone"));
            digits.len() >= 7 && suffixes.get(&digits[digits.len() - 7..]) == Some(&1)
        })
        .count();
    sets.push(sample(&mut rng, &with_phone, PER_SET, |_, i| {
        let digits = phone_digits(corpus.text(i, "phone"));
        if digits.len() < 7 {
            return None;
        }
        let suffix = &digits[digits.len() - 7..];
        (suffixes.get(suffix) == Some(&1))
            .then(|| (format!("{}-{}", &suffix[..3], &suffix[3..]), Judge::Record))
    }));

    // One typo: two adjacent inner letters of the surname swapped, first name intact.
    let surnames: HashSet<String> = contacts
        .iter()
        .map(|&i| fold(corpus.text(i, "last_name")))
        .collect();
    sets.push(sample(&mut rng, &contacts, PER_SET, |rng, i| {
        let last = corpus.text(i, "last_name");
        let chars: Vec<char> = last.chars().collect();
        if chars.len() < 4 || !chars.iter().all(|c| c.is_alphabetic()) {
            return None;
        }
        // Swap chars[at] and chars[at + 1], both inner: 1 <= at, at + 1 <= len - 2.
        let choices: Vec<usize> = (1..chars.len() - 2)
            .filter(|&at| fold(&chars[at].to_string()) != fold(&chars[at + 1].to_string()))
            .collect();
        if choices.is_empty() {
            return None;
        }
        let at = *rng.pick(&choices);
        let mut typo = chars.clone();
        typo.swap(at, at + 1);
        let typo: String = typo.into_iter().collect();
        if surnames.contains(&fold(&typo)) {
            return None;
        }
        let first = corpus.text(i, "first_name");
        Some((format!("{first} {typo}"), Judge::Title(fold(&title(i)))))
    }));

    // A phrase of 4 to 6 consecutive words of a note, in quotes.
    sets.push(sample(&mut rng, &activities, PER_SET, |rng, i| {
        let body: Vec<&str> = corpus.text(i, "body").split_whitespace().collect();
        if body.len() < 4 {
            return None;
        }
        let len = 4 + rng.below(3) as usize;
        let len = len.min(body.len());
        let start = rng.below((body.len() - len + 1) as u64) as usize;
        let phrase = body[start..start + len].join(" ");
        let analysed = words(&phrase);
        (analysed.len() >= 2).then(|| (format!("\"{phrase}\""), Judge::Phrase(analysed)))
    }));

    // Prefixes while typing: "Fir Las", only where no other name in the corpus starts with the
    // same two prefixes (in either order, accents folded): "Len Kow" is Lena Kowalski as much
    // as Lena Kowalczyk, and no ranking can tell which one was meant.
    let head = |s: &str| s.chars().take(3).collect::<String>();
    let prefix_key = |first: &str, last: &str| {
        let (a, b) = (head(&fold(first)), head(&fold(last)));
        if a <= b { (a, b) } else { (b, a) }
    };
    let mut names_by_prefix: HashMap<(String, String), HashSet<String>> = HashMap::new();
    for &i in &contacts {
        let (first, last) = (corpus.text(i, "first_name"), corpus.text(i, "last_name"));
        names_by_prefix
            .entry(prefix_key(first, last))
            .or_default()
            .insert(fold(&title(i)));
    }
    sets.push(sample(&mut rng, &contacts, PER_SET, |_, i| {
        let first = corpus.text(i, "first_name");
        let last = corpus.text(i, "last_name");
        let plain = |s: &str| s.chars().all(char::is_alphabetic);
        if !plain(first) || !plain(last) {
            return None;
        }
        if names_by_prefix
            .get(&prefix_key(first, last))
            .map(HashSet::len)
            != Some(1)
        {
            return None;
        }
        Some((
            format!("{} {}", head(first), head(last)),
            Judge::Title(fold(&title(i))),
        ))
    }));

    // Names with accents, typed without them.
    sets.push(sample(&mut rng, &contacts, PER_SET, |_, i| {
        let name = title(i);
        let plain = strip_accents(&name);
        (plain != name && plain.is_ascii()).then(|| (plain, Judge::Title(fold(&name))))
    }));

    // How many notes hold each phrase.
    let phrases: Vec<&Vec<String>> = sets[SET_PHRASE]
        .iter()
        .filter_map(|q| match &q.judge {
            Judge::Phrase(p) => Some(p),
            _ => None,
        })
        .collect();
    let needles: Vec<String> = phrases
        .iter()
        .map(|p| format!(" {} ", p.join(" ")))
        .collect();
    let mut phrase_matches = vec![0usize; phrases.len()];
    for &i in &activities {
        let doc = &corpus.docs[i as usize];
        let title = format!(" {} ", fold(&doc.title));
        let body = format!(" {} ", fold(&doc.body));
        for (n, needle) in needles.iter().enumerate() {
            if title.contains(needle.as_str()) || body.contains(needle.as_str()) {
                phrase_matches[n] += 1;
            }
        }
    }
    (
        sets,
        SetNotes {
            phone_unique,
            phone_total: with_phone.len(),
            phrase_matches,
        },
    )
}

/// Splits a query like Kith does: quoted parts are phrases (an unbalanced quote is ignored).
fn split_query(raw: &str) -> Vec<(bool, &str)> {
    let parts: Vec<&str> = raw.split('"').collect();
    let last = parts.len() - 1;
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| (i % 2 == 1 && i < last, part))
        .collect()
}

/// The digits of a phone-shaped query, as Kith's parser finds them.
fn phone_query(raw: &str) -> Option<String> {
    let digits = phone_digits(raw);
    let phone_like = raw
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    (phone_like && digits.len() >= 4).then_some(digits)
}

/// Runs of letters and digits, lowercased.
fn pieces(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|p| !p.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The FTS5 query: every word a prefix term, phrases as phrases, all ANDed; a phone-shaped
/// query may also match its digits (the contact column holds the digit tokens).
fn fts5_query(raw: &str) -> Option<String> {
    let mut terms = Vec::new();
    for (phrase, part) in split_query(raw) {
        if phrase && pieces(part).len() > 1 {
            terms.push(format!("\"{}\"", pieces(part).join(" ")));
        } else {
            for word in part.split_whitespace() {
                if word.chars().any(char::is_alphanumeric) {
                    terms.push(format!("\"{}\"*", word.replace('"', "\"\"")));
                }
            }
        }
    }
    let mut query = terms.join(" AND ");
    if let Some(digits) = phone_query(raw) {
        query = if query.is_empty() {
            format!("\"{digits}\"")
        } else {
            format!("({query}) OR \"{digits}\"")
        };
    }
    (!query.is_empty()).then_some(query)
}

/// The PostgreSQL query: a tsquery expression over `$1…$n` and its parameters. Words go to
/// `to_tsquery('simple', …)`, every piece of a word as a prefix, ANDed (a word with dots or
/// `@` may also match whole, as the parser keeps `jose.garcia`); each quoted phrase is a
/// `phraseto_tsquery('simple', …)` (so it gets the parser's own positions: `sign-off` is three
/// lexemes); all are ANDed with `&&`. A phone-shaped query may also match its digits (`||`).
fn pg_query(raw: &str) -> Option<(String, Vec<String>)> {
    let mut params: Vec<String> = Vec::new();
    let mut parts_sql: Vec<String> = Vec::new();
    let mut terms = Vec::new();
    for (phrase, part) in split_query(raw) {
        if phrase && pieces(part).len() > 1 {
            params.push(part.to_owned());
            parts_sql.push(format!("phraseto_tsquery('simple', ${})", params.len()));
            continue;
        }
        for word in part.split_whitespace() {
            let parts = pieces(word);
            if parts.is_empty() {
                continue;
            }
            let prefixes = parts
                .iter()
                .map(|p| format!("{p}:*"))
                .collect::<Vec<_>>()
                .join(" & ");
            let lower = word.to_lowercase();
            let whole = lower
                .trim_matches(|c: char| !c.is_alphanumeric())
                .to_owned();
            let token_like = (whole.contains('.') || whole.contains('@'))
                && whole
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._@+-".contains(c));
            terms.push(match (token_like, parts.len()) {
                (true, _) => format!("('{whole}' | {prefixes})"),
                (false, 1) => prefixes,
                (false, _) => format!("({prefixes})"),
            });
        }
    }
    if !terms.is_empty() {
        params.push(terms.join(" & "));
        parts_sql.insert(0, format!("to_tsquery('simple', ${})", params.len()));
    }
    let mut expr = parts_sql.join(" && ");
    if let Some(digits) = phone_query(raw) {
        params.push(digits);
        let phone = format!("to_tsquery('simple', ${})", params.len());
        expr = if expr.is_empty() {
            phone
        } else {
            format!("({expr}) || {phone}")
        };
    }
    (!expr.is_empty()).then_some((expr, params))
}

// ------------------------------------------------------------------------------------------------
// Engines
// ------------------------------------------------------------------------------------------------

struct Built {
    name: &'static str,
    records: usize,
    seconds: f64,
    size_bytes: u64,
    notes: Vec<String>,
}

struct Kith {
    index: SearchIndex,
    workspace: WorkspaceId,
    types: Vec<TypeScope>,
}

/// Indexes the records `keep` selects (all of them, or the Chinese ones for the Chinese
/// section's indexing figures).
fn build_kith(
    corpus: &Corpus,
    dir: &Path,
    name: &'static str,
    keep: fn(&Doc) -> bool,
) -> anyhow::Result<(Kith, Built)> {
    let index = SearchIndex::open(dir)?;
    let workspace = WorkspaceId::new();
    let mut writer = index
        .index
        .writer_with_num_threads(WRITER_THREADS, WRITER_BYTES)?;
    let start = Instant::now();
    let mut records = 0;
    for (record, doc) in corpus.records.iter().zip(&corpus.docs) {
        if !keep(doc) {
            continue;
        }
        let ty = &corpus.types[doc.kind as usize];
        writer.add_document(index.document(workspace, ty, record, &doc.refs))?;
        records += 1;
    }
    writer.commit()?;
    let seconds = start.elapsed().as_secs_f64();
    let size_at_commit = dir_size(dir);
    let merge_start = Instant::now();
    writer.wait_merging_threads()?;
    let merge_seconds = merge_start.elapsed().as_secs_f64();
    index.reader.reload()?;
    let segments = index.reader.searcher().segment_readers().len();
    let size_bytes = dir_size(dir);
    let notes = vec![format!(
        "Kith: {WRITER_THREADS} writer thread, {} MB heap (the server's indexer settings); \
         time = `document()` + `add_document` + `commit`; then waiting for background merges \
         took {merge_seconds:.1} s more (not counted), leaving {segments} segment(s); size at \
         commit {:.1} MB, after merges {:.1} MB",
        WRITER_BYTES / 1_000_000,
        mb(size_at_commit),
        mb(size_bytes),
    )];
    // An admin's search: every type, every owner.
    let types = corpus
        .types
        .iter()
        .map(|t| TypeScope {
            entity: t.name.clone(),
            owners: None,
        })
        .collect();
    Ok((
        Kith {
            index,
            workspace,
            types,
        },
        Built {
            name,
            records,
            seconds,
            size_bytes,
            notes,
        },
    ))
}

impl Kith {
    fn search(&self, corpus: &Corpus, query: &str) -> anyhow::Result<Vec<u32>> {
        let hits = self.index.search(self.workspace, query, &self.types, TOP)?;
        Ok(hits
            .into_iter()
            .filter_map(|h| corpus.by_id.get(&h.id.0).copied())
            .collect())
    }
}

struct Sqlite {
    pool: SqlitePool,
}

async fn build_sqlite(corpus: &Corpus, dir: &Path) -> anyhow::Result<(Sqlite, Built)> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("fts.db");
    let options = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .pragma("cache_size", "-32000");
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    let version: String = sqlx::query_scalar("SELECT sqlite_version()")
        .fetch_one(&pool)
        .await?;
    let fts5: i64 = sqlx::query_scalar("SELECT sqlite_compileoption_used('ENABLE_FTS5')")
        .fetch_one(&pool)
        .await?;
    sqlx::query(
        "CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, title, contact, refs, body, \
         tokenize='unicode61 remove_diacritics 2')",
    )
    .execute(&pool)
    .await
    .with_context(|| {
        format!("FTS5 is not available in the bundled SQLite {version} (ENABLE_FTS5 = {fts5})")
    })?;
    let start = Instant::now();
    let rows: Vec<(&Record, &Doc)> = corpus.records.iter().zip(&corpus.docs).collect();
    for chunk in rows.chunks(10_000) {
        let mut tx = pool.begin().await?;
        for (record, doc) in chunk {
            sqlx::query(
                "INSERT INTO docs (id, title, contact, refs, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(record.id.0.to_string())
            .bind(doc.title.as_str())
            .bind(doc.contact.as_str())
            .bind(doc.refs.join("\n"))
            .bind(doc.body.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
    }
    let seconds = start.elapsed().as_secs_f64();
    let optimize = Instant::now();
    sqlx::query("INSERT INTO docs (docs) VALUES ('optimize')")
        .execute(&pool)
        .await?;
    let optimize_seconds = optimize.elapsed().as_secs_f64();
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await?;
    let size_bytes = dir_size(dir);
    let notes = vec![format!(
        "SQLite {version} (bundled with sqlx; ENABLE_FTS5 = {fts5}): WAL, synchronous=NORMAL, \
         32 MB cache (the server's settings), one prepared INSERT per row in transactions of \
         10,000; then `optimize` took {optimize_seconds:.1} s more (not counted). The FTS5 \
         table keeps its own copy of the text, as Kith stores titles and bodies."
    )];
    Ok((
        Sqlite { pool },
        Built {
            name: "SQLite FTS5",
            records: corpus.records.len(),
            seconds,
            size_bytes,
            notes,
        },
    ))
}

impl Sqlite {
    async fn search(&self, corpus: &Corpus, query: &str) -> anyhow::Result<Vec<u32>> {
        let Some(fts) = fts5_query(query) else {
            return Ok(Vec::new());
        };
        let rows = sqlx::query(
            "SELECT id, title FROM docs WHERE docs MATCH ?1 \
             ORDER BY bm25(docs, 0.0, 3.0, 2.0, 1.5, 1.0) LIMIT 10",
        )
        .bind(fts)
        .fetch_all(&self.pool)
        .await?;
        ids(corpus, rows.iter().map(|r| r.try_get::<String, _>(0)))
    }
}

fn ids(
    corpus: &Corpus,
    rows: impl Iterator<Item = Result<String, sqlx::Error>>,
) -> anyhow::Result<Vec<u32>> {
    let mut out = Vec::new();
    for id in rows {
        let id = Uuid::parse_str(&id?)?;
        if let Some(&i) = corpus.by_id.get(&id) {
            out.push(i);
        }
    }
    Ok(out)
}

struct Postgres {
    pool: PgPool,
    admin_url: String,
    database: String,
}

fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = base.rsplit_once('/').map_or(base, |(head, _)| head);
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

async fn create_postgres(admin_url: &str) -> anyhow::Result<Postgres> {
    let database = format!("kith_bench_search_{}", Uuid::new_v4().simple());
    let admin = Database::connect(admin_url)
        .await
        .context("cannot connect to PostgreSQL")?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {database}"))
        .await?;
    admin.close().await.ok();
    let options = PgConnectOptions::from_str(&with_database(admin_url, &database))?;
    // One connection: session settings apply to everything, queries run one at a time.
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    Ok(Postgres {
        pool,
        admin_url: admin_url.to_owned(),
        database,
    })
}

async fn drop_postgres(pg: Postgres) -> anyhow::Result<()> {
    pg.pool.close().await;
    let admin = Database::connect(&pg.admin_url).await?;
    admin
        .execute_unprepared(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            pg.database
        ))
        .await?;
    admin.close().await.ok();
    Ok(())
}

async fn build_postgres(pg: &Postgres, corpus: &Corpus) -> anyhow::Result<Built> {
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&pg.pool)
        .await?;
    let unaccent: Option<String> = sqlx::query_scalar(
        "SELECT name::text FROM pg_available_extensions WHERE name = 'unaccent'",
    )
    .fetch_optional(&pg.pool)
    .await?;
    sqlx::query("SET maintenance_work_mem = '256MB'")
        .execute(&pg.pool)
        .await?;
    sqlx::query(
        "CREATE TABLE docs (
            id uuid NOT NULL,
            title text NOT NULL,
            contact text NOT NULL,
            refs text NOT NULL,
            body text NOT NULL,
            tsv tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector('simple', title), 'A')
                || setweight(to_tsvector('simple', contact), 'B')
                || setweight(to_tsvector('simple', refs), 'C')
                || setweight(to_tsvector('simple', body), 'D')
            ) STORED
        )",
    )
    .execute(&pg.pool)
    .await?;
    let start = Instant::now();
    let rows: Vec<(&Record, &Doc)> = corpus.records.iter().zip(&corpus.docs).collect();
    for chunk in rows.chunks(5_000) {
        let mut ids = Vec::with_capacity(chunk.len());
        let mut titles = Vec::with_capacity(chunk.len());
        let mut contacts = Vec::with_capacity(chunk.len());
        let mut refs = Vec::with_capacity(chunk.len());
        let mut bodies = Vec::with_capacity(chunk.len());
        for (record, doc) in chunk {
            ids.push(record.id.0.to_string());
            titles.push(doc.title.as_str());
            contacts.push(doc.contact.as_str());
            refs.push(doc.refs.join("\n"));
            bodies.push(doc.body.as_str());
        }
        sqlx::query(
            "INSERT INTO docs (id, title, contact, refs, body)
             SELECT i::uuid, t, c, r, b
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                 AS x(i, t, c, r, b)",
        )
        .bind(ids)
        .bind(titles)
        .bind(contacts)
        .bind(refs)
        .bind(bodies)
        .execute(&pg.pool)
        .await?;
    }
    let load_seconds = start.elapsed().as_secs_f64();
    let index_start = Instant::now();
    sqlx::query("CREATE INDEX docs_tsv ON docs USING gin (tsv)")
        .execute(&pg.pool)
        .await?;
    sqlx::query("VACUUM ANALYZE docs").execute(&pg.pool).await?;
    let index_seconds = index_start.elapsed().as_secs_f64();
    let seconds = start.elapsed().as_secs_f64();
    let size: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('docs')")
        .fetch_one(&pg.pool)
        .await?;
    let notes = vec![format!(
        "PostgreSQL {version}: 'simple' configuration (names are not stemmed), weights A/B/C/D \
         for title/contact/references/body in a generated tsvector column, ranked with weights \
         1.0/0.4/0.3/0.2 (the default ratios of title, contact and body before references had \
         a column, references between contact and body); no `unaccent` (the extension \
         is {}, but it is not used: the bench sticks to what every server has); time = \
         UNNEST inserts of 5,000 rows ({load_seconds:.1} s) + GIN build with \
         maintenance_work_mem = 256MB and VACUUM ANALYZE ({index_seconds:.1} s); size = \
         table + TOAST + GIN (`pg_total_relation_size`)",
        if unaccent.is_some() {
            "available here"
        } else {
            "not installed here"
        }
    )];
    Ok(Built {
        name: "PostgreSQL FTS",
        records: corpus.records.len(),
        seconds,
        size_bytes: size.max(0) as u64,
        notes,
    })
}

impl Postgres {
    async fn search(&self, corpus: &Corpus, query: &str) -> anyhow::Result<Vec<u32>> {
        let Some((expr, params)) = pg_query(query) else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT id::text, title FROM docs WHERE tsv @@ ({expr}) \
             ORDER BY ts_rank_cd('{{0.2, 0.3, 0.4, 1.0}}', tsv, {expr}) DESC LIMIT 10"
        );
        // The SQL holds only fixed fragments and placeholders; the query text is bound.
        let mut statement = sqlx::query(sqlx::AssertSqlSafe(sql));
        for param in params {
            statement = statement.bind(param);
        }
        let rows = statement.fetch_all(&self.pool).await?;
        ids(corpus, rows.iter().map(|r| r.try_get::<String, _>(0)))
    }
}

enum Engine<'a> {
    Kith(&'a Kith),
    Sqlite(&'a Sqlite),
    Postgres(&'a Postgres),
    SqliteTrigram(&'a zh::SqliteTrigram),
    PostgresTrigram(&'a Postgres),
}

impl Engine<'_> {
    async fn search(&self, corpus: &Corpus, query: &str) -> anyhow::Result<Vec<u32>> {
        match self {
            Engine::Kith(kith) => kith.search(corpus, query),
            Engine::Sqlite(sqlite) => sqlite.search(corpus, query).await,
            Engine::Postgres(pg) => pg.search(corpus, query).await,
            Engine::SqliteTrigram(sqlite) => sqlite.search(corpus, query).await,
            Engine::PostgresTrigram(pg) => zh::search_postgres(pg, corpus, query).await,
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Measuring
// ------------------------------------------------------------------------------------------------

#[derive(Default, Clone)]
struct Quality {
    queries: usize,
    rr_sum: f64,
    found: usize,
    errors: usize,
    latencies_ms: Vec<f64>,
}

impl Quality {
    fn mrr(&self) -> f64 {
        if self.queries == 0 {
            0.0
        } else {
            self.rr_sum / self.queries as f64
        }
    }

    fn recall(&self) -> f64 {
        if self.queries == 0 {
            0.0
        } else {
            self.found as f64 / self.queries as f64
        }
    }
}

struct EngineResults {
    name: &'static str,
    per_set: Vec<Quality>,
    latency_ms: Vec<f64>,
    latency_errors: usize,
    /// A few queries whose target was not in the top 10 (for the report).
    misses: Vec<(usize, String)>,
}

/// The queries to run: sets (with their names) and the latency mix.
#[derive(Clone, Copy)]
struct Workload<'a> {
    names: &'a [&'a str],
    sets: &'a [Vec<BenchQuery>],
    mix: &'a [&'a BenchQuery],
}

impl<'a> Workload<'a> {
    /// A rotating mix of the sets, one query of each in turn: `WARMUP + queries` of them.
    fn mix(sets: &'a [Vec<BenchQuery>], queries: usize) -> Vec<&'a BenchQuery> {
        let longest = sets.iter().map(Vec::len).max().unwrap_or(0);
        let rotation: Vec<&BenchQuery> = (0..longest)
            .flat_map(|i| sets.iter().filter_map(move |set| set.get(i)))
            .collect();
        rotation
            .iter()
            .copied()
            .cycle()
            .take(WARMUP + queries)
            .collect()
    }
}

async fn measure(
    name: &'static str,
    engine: Engine<'_>,
    corpus: &Corpus,
    work: &Workload<'_>,
    verbose: bool,
) -> EngineResults {
    let Workload { names, sets, mix } = *work;
    let mut per_set = vec![Quality::default(); sets.len()];
    let mut misses = Vec::new();
    for (s, set) in sets.iter().enumerate() {
        for query in set {
            let start = Instant::now();
            let result = engine.search(corpus, &query.text).await;
            let elapsed = start.elapsed().as_secs_f64() * 1e3;
            let quality = &mut per_set[s];
            quality.queries += 1;
            quality.latencies_ms.push(elapsed);
            match result {
                Ok(hits) => {
                    let rank = hits
                        .iter()
                        .take(TOP)
                        .position(|&h| query.relevant(corpus, h));
                    if verbose && rank != Some(0) {
                        let top: Vec<&str> = hits
                            .iter()
                            .take(3)
                            .map(|&h| corpus.docs[h as usize].title.as_str())
                            .collect();
                        eprintln!(
                            "    {name} [{}] {:?}: rank {:?}, top {:?}",
                            names[s],
                            query.text,
                            rank.map(|r| r + 1),
                            top
                        );
                    }
                    match rank {
                        Some(rank) => {
                            quality.found += 1;
                            quality.rr_sum += 1.0 / (rank + 1) as f64;
                        }
                        None => {
                            if misses.iter().filter(|(set, _)| *set == s).count() < 2 {
                                misses.push((s, query.text.clone()));
                            }
                        }
                    }
                }
                Err(error) => {
                    if quality.errors == 0 {
                        eprintln!("  {name}: query {:?} failed: {error:#}", query.text);
                    }
                    quality.errors += 1;
                }
            }
        }
        eprintln!(
            "  {name}: {:<34} MRR@10 {:.3}  recall@10 {:.3}",
            names[s],
            per_set[s].mrr(),
            per_set[s].recall()
        );
    }
    let mut latency_ms = Vec::with_capacity(mix.len());
    let mut latency_errors = 0;
    for (n, query) in mix.iter().enumerate() {
        let start = Instant::now();
        let ok = engine.search(corpus, &query.text).await.is_ok();
        let elapsed = start.elapsed().as_secs_f64() * 1e3;
        if n >= WARMUP {
            latency_ms.push(elapsed);
            latency_errors += usize::from(!ok);
        }
    }
    EngineResults {
        name,
        per_set,
        latency_ms,
        latency_errors,
        misses,
    }
}

/// The `p`th percentile (nearest rank) of unsorted samples.
fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => dir_size(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

// ------------------------------------------------------------------------------------------------
// Freshness against a real server
// ------------------------------------------------------------------------------------------------

struct Freshness {
    writes: usize,
    found: usize,
    freshness_ms: Vec<f64>,
    write_ms: Vec<f64>,
    seconds: f64,
}

/// Kills the server when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

fn kith_command(bin: &Path, db: &str, data_dir: &Path) -> Command {
    let mut command = Command::new(bin);
    command
        .arg("--db")
        .arg(db)
        .arg("--data-dir")
        .arg(data_dir)
        .env("KITH_LOG", "warn");
    command
}

/// A letters-only name no other write's name is within two edits of (in practice).
fn unique_name(n: u64) -> String {
    let mut rng = Rng::new(0xF7E5_u64.wrapping_mul(n + 1));
    let mut name = String::from("Q");
    for _ in 0..11 {
        name.push(char::from(b'a' + rng.below(26) as u8));
    }
    name
}

async fn freshness(root: &Path, tmp: &Path) -> anyhow::Result<Freshness> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("freshness: cargo build --release -p host");
    let status = Command::new(cargo)
        .args(["build", "--release", "-p", "host"])
        .current_dir(root)
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("`cargo build --release -p host` failed ({status})");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let bin = target.join("release").join("kith");
    let data_dir = tmp.join("server");
    std::fs::create_dir_all(&data_dir)?;
    let db = format!("sqlite://{}", data_dir.join("f.db").display());
    let output = kith_command(&bin, &db, &data_dir)
        .args(["user", "create", "--email", "b@k.test"])
        .args(["--password", "benchpass1", "--role", "admin"])
        .output()?;
    if !output.status.success() {
        bail!(
            "kith user create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let output = kith_command(&bin, &db, &data_dir)
        .args(["token", "create", "--email", "b@k.test"])
        .output()?;
    if !output.status.success() {
        bail!(
            "kith token create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let token = String::from_utf8(output.stdout)?.trim().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let log = std::fs::File::create(data_dir.join("server.log"))?;
    let child = kith_command(&bin, &db, &data_dir)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .context("cannot start kith serve")?;
    let _server = Server(child);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = client.get(format!("{base}/healthz")).send().await
            && response.status().is_success()
        {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "kith serve did not come up; see {}",
                data_dir.join("server.log").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, String, Instant)>();
    let writes = (FRESHNESS_WRITES_PER_SEC * FRESHNESS_SECS) as usize;
    let writer = {
        let client = client.clone();
        let base = base.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let mut write_ms = Vec::with_capacity(writes);
            let mut ticker =
                tokio::time::interval(Duration::from_millis(1_000 / FRESHNESS_WRITES_PER_SEC));
            for n in 0..writes {
                ticker.tick().await;
                let name = unique_name(n as u64);
                let body = serde_json::json!({
                    "first_name": "Fresh",
                    "last_name": name,
                    "email": format!("{}@fresh.test", name.to_lowercase()),
                });
                let start = Instant::now();
                let response = client
                    .post(format!("{base}/api/v1/contacts"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await?;
                let status = response.status();
                let created: Value = response.json().await?;
                let done = Instant::now();
                write_ms.push((done - start).as_secs_f64() * 1e3);
                let Some(id) = created["id"].as_str() else {
                    bail!("POST /api/v1/contacts answered {status}: {created}");
                };
                tx.send((name, id.to_owned(), done)).ok();
            }
            Ok::<_, anyhow::Error>(write_ms)
        })
    };

    // The indexer applies the outbox in order, so records become visible in write order: poll
    // the oldest unseen record every 10 ms; once it shows up, check the next ones at once.
    let started = Instant::now();
    let mut pending = std::collections::VecDeque::new();
    let mut freshness_ms = Vec::with_capacity(writes);
    let mut closed = false;
    let mut give_up = None;
    loop {
        loop {
            match rx.try_recv() {
                Ok(item) => pending.push_back(item),
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        if closed && give_up.is_none() {
            give_up = Some(Instant::now() + Duration::from_secs(30));
        }
        let Some((name, id, written)) = pending.front() else {
            if closed {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let response: Value = client
            // The names are plain letters: nothing to escape.
            .get(format!("{base}/api/v1/search?q={name}&limit=1"))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        if response["data"][0]["id"].as_str() == Some(id.as_str()) {
            freshness_ms.push(written.elapsed().as_secs_f64() * 1e3);
            pending.pop_front();
            continue;
        }
        if give_up.is_some_and(|at| Instant::now() > at) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let write_ms = writer.await??;
    Ok(Freshness {
        writes: write_ms.len(),
        found: freshness_ms.len(),
        freshness_ms,
        write_ms,
        seconds: started.elapsed().as_secs_f64(),
    })
}

// ------------------------------------------------------------------------------------------------
// Report
// ------------------------------------------------------------------------------------------------

/// The commit the bench ran on, and whether `host/` had uncommitted changes.
fn revision(root: &Path) -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(commit) => {
            let dirty =
                git(&["status", "--porcelain", "--", "host"]).is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{commit} (with uncommitted changes in host/)")
            } else {
                commit
            }
        }
        None => "unknown".into(),
    }
}

fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .map(|l| l.trim_start_matches("MemTotal:").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into());
    format!(
        "{cores} CPUs (nproc), MemTotal {memory}, {rustc}; load average {load} (1/5/15 min, at \
         the end of the run: other work on the machine shows up in the timings)"
    )
}

fn yes_no(ok: bool) -> &'static str {
    if ok { "yes" } else { "**no**" }
}

#[allow(clippy::too_many_arguments)]
fn report(
    root: &Path,
    args: &Args,
    corpus: &Corpus,
    sets: &[Vec<BenchQuery>],
    set_notes: &SetNotes,
    built: &[Built],
    results: &[EngineResults],
    fresh: &Result<Freshness, String>,
    skipped: &[String],
) -> String {
    let mut out = String::new();
    let at_scale = args.records >= 1_000_000;
    let [companies, contacts, activities] = corpus.counts;
    let _ = writeln!(out, "### {} records\n", args.records);
    let _ = writeln!(
        out,
        "- Date: {}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    let _ = writeln!(out, "- Machine: {}", machine());
    let _ = writeln!(out, "- Kith revision: {}", revision(root));
    let _ = writeln!(
        out,
        "- Command: `cargo bench -p tests --bench search -- {}`",
        args.shown.join(" ")
    );
    let chinese = if corpus.zh_counts.iter().sum::<usize>() > 0 {
        let [c, p, a] = corpus.zh_counts;
        format!(
            " ({c}, {p} and {a} of them from the Chinese generator, `--chinese-share {}`: see \
             the Chinese subsection; the sets below are drawn from the English records only)",
            args.chinese_share
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "- Corpus: `host::demo` seed {CORPUS_SEED}: {companies} companies, {contacts} contacts, \
         {activities} activities{chinese}; every engine gets the same title / contact / \
         references / body text Kith indexes (contact = `email_tokens` + `phone_tokens`; \
         references = the titles of the records a record references: a contact's company, an \
         activity's linked contact and company)."
    );
    for note in skipped {
        let _ = writeln!(out, "- {note}");
    }

    let _ = writeln!(out, "\n#### Indexing\n");
    let _ = writeln!(
        out,
        "| engine | records | seconds | records/s | index size (MB) | ≥ 20,000 records/s |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
    for b in built {
        let rate = b.records as f64 / b.seconds;
        let target = if b.name.starts_with("Kith") {
            yes_no(rate >= 20_000.0)
        } else {
            "—"
        };
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.0} | {:.1} | {} |",
            b.name,
            b.records,
            b.seconds,
            rate,
            mb(b.size_bytes),
            target
        );
    }
    let _ = writeln!(out);
    for b in built {
        for note in &b.notes {
            let _ = writeln!(out, "- {note}");
        }
    }

    let _ = writeln!(out, "\n#### Quality: MRR@10 / recall@10\n");
    let mut header = String::from("| query set | queries |");
    let mut rule = String::from("|---|---:|");
    for r in results {
        let _ = write!(header, " {} |", r.name);
        rule.push_str("---|");
    }
    header.push_str(" Kith best |");
    rule.push_str("---|");
    let _ = writeln!(out, "{header}\n{rule}");
    let mut all = vec![Quality::default(); results.len()];
    for (s, set) in sets.iter().enumerate() {
        let mut row = format!("| {} | {} |", SETS[s], set.len());
        let mut best_other: f64 = 0.0;
        let mut kith_mrr = None;
        for (e, r) in results.iter().enumerate() {
            let q = &r.per_set[s];
            all[e].queries += q.queries;
            all[e].rr_sum += q.rr_sum;
            all[e].found += q.found;
            let errors = if q.errors > 0 {
                format!(" ({} errors)", q.errors)
            } else {
                String::new()
            };
            let _ = write!(row, " {:.3} / {:.3}{errors} |", q.mrr(), q.recall());
            if r.name.starts_with("Kith") {
                kith_mrr = Some(q.mrr());
            } else {
                best_other = best_other.max(q.mrr());
            }
        }
        let best = match kith_mrr {
            Some(k) if results.len() > 1 => {
                let ok = k + 1e-9 >= best_other;
                if s == SET_TYPO || s == SET_PREFIX {
                    format!("{} (target)", yes_no(ok))
                } else if ok {
                    "yes".into()
                } else {
                    "no".into()
                }
            }
            _ => "—".into(),
        };
        let _ = writeln!(out, "{row} {best} |");
    }
    let mut row = format!("| **all** | {} |", sets.iter().map(Vec::len).sum::<usize>());
    for q in &all {
        let _ = write!(row, " {:.3} / {:.3} |", q.mrr(), q.recall());
    }
    let _ = writeln!(out, "{row} |");
    let mut matches = set_notes.phrase_matches.clone();
    matches.sort_unstable();
    let median = matches.get(matches.len() / 2).copied().unwrap_or(0);
    let _ = writeln!(
        out,
        "\n- Known-item judging: a name shared by several records counts at the best rank of any \
         record with the identical (case- and accent-folded) title; \"name + company\" \
         (\"Last CompanyWord\", the first word of the employer's name) accepts any contact with \
         that surname at a company whose name starts with that word; \"surname + company \
         (reference)\" (\"Last Word\", a word of the employer's name that no word of the \
         contact's own title, email and phone tokens or other text holds or starts with — the \
         email's domain holds the rest of the name, so the word is the legal form, e.g. \
         `Müller GmbH`, and only the reference can match it) accepts any contact with that \
         surname at a company whose name holds that word; the phrase set accepts any \
         record holding the phrase — notes are made from templates, so a phrase of 4–6 words \
         is in {median} notes (median; max {}), and that set tests phrase support more than \
         ranking.",
        matches.last().copied().unwrap_or(0)
    );
    let _ = writeln!(
        out,
        "- Phone suffix: the last 7 digits typed as `DDD-DDDD`, only for records whose suffix \
         no other record shares ({} of {} phones are unique; the demo's fictional UK and US \
         ranges share most suffixes). One-typo: two adjacent inner letters of the surname \
         swapped (never another real surname). Prefix: first 3 letters of first and last name, \
         only where no other name pair in the corpus has the same two prefixes (names with \
         hyphens, spaces or apostrophes skipped). Accent-folded: names with accents \
         typed without them (ß → ss, ø → o, ł → l).",
        set_notes.phone_unique, set_notes.phone_total
    );
    let _ = writeln!(
        out,
        "- Query translation. Kith gets the raw text. FTS5: every word `\"word\"*`, quoted \
         phrases as FTS5 phrases, ANDed, ranked by `bm25(docs, 0.0, 3.0, 2.0, 1.5, 1.0)` (the \
         first weight is the UNINDEXED id column; title 3 > contact 2 > references 1.5 > body 1, \
         Kith's boosts). PostgreSQL: \
         `to_tsquery('simple', …)` with every piece of a word as `piece:*` ANDed (a word with \
         `.` or `@` may also match whole), each quoted phrase as `phraseto_tsquery('simple', …)`, \
         combined with `&&`, ranked by `ts_rank_cd` with weights 1.0 / 0.4 / 0.3 / 0.2 for \
         title / contact / references / body. For \
         both, a phone-shaped query also ORs its digit string — the same normalisation Kith's \
         parser applies, without which neither finds `010-2030` in the digit tokens."
    );
    for r in results {
        if !r.misses.is_empty() {
            let shown: Vec<String> = r
                .misses
                .iter()
                .map(|(s, q)| format!("{} `{}`", SETS[*s], q.replace('`', "'")))
                .collect();
            let _ = writeln!(out, "- {} misses, e.g.: {}", r.name, shown.join("; "));
        }
    }

    let _ = writeln!(out, "\n#### Query latency\n");
    let mut fastest_p50 = f64::INFINITY;
    let mut fastest_p99 = f64::INFINITY;
    for r in results.iter().filter(|r| !r.name.starts_with("Kith")) {
        fastest_p50 = fastest_p50.min(percentile(&r.latency_ms, 50.0));
        fastest_p99 = fastest_p99.min(percentile(&r.latency_ms, 99.0));
    }
    let _ = writeln!(
        out,
        "| engine | queries | p50 (ms) | p99 (ms) | max (ms) | target |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---|");
    for r in results {
        let p50 = percentile(&r.latency_ms, 50.0);
        let p99 = percentile(&r.latency_ms, 99.0);
        let max = r.latency_ms.iter().copied().fold(0.0, f64::max);
        let target = if r.name.starts_with("Kith") {
            let bounds = p50 <= 2.0 && p99 <= 10.0;
            format!(
                "p50 ≤ 2 & p99 ≤ 10: {}{}; fastest of the three: {} (p50 {}, p99 {})",
                yes_no(bounds),
                if at_scale { "" } else { " (target is at 1M)" },
                yes_no(p50 <= fastest_p50 && p99 <= fastest_p99),
                if p50 <= fastest_p50 { "yes" } else { "no" },
                if p99 <= fastest_p99 { "yes" } else { "no" },
            )
        } else {
            "—".into()
        };
        let errors = if r.latency_errors > 0 {
            format!(" ({} errors)", r.latency_errors)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {} | {}{errors} | {:.2} | {:.2} | {:.2} | {target} |",
            r.name,
            r.latency_ms.len(),
            p50,
            p99,
            max
        );
    }
    let _ = writeln!(
        out,
        "\n- A rotating mix of all sets ({} queries after {WARMUP} warm-up), one at a time, \
         each engine on its own. Kith: `SearchIndex::search(workspace, q, all types, 10)` \
         in-process — which also loads the stored documents and builds the HTML snippets; the \
         HTTP API adds its own overhead (measured elsewhere). FTS5 and PostgreSQL return id + \
         title through sqlx (SQLite in-process, PostgreSQL over localhost TCP, one connection).",
        args.queries
    );
    let _ = writeln!(out, "\nMedian latency by query set (ms, p50 / p99):\n");
    let mut header = String::from("| query set |");
    let mut rule = String::from("|---|");
    for r in results {
        let _ = write!(header, " {} |", r.name);
        rule.push_str("---:|");
    }
    let _ = writeln!(out, "{header}\n{rule}");
    for (s, _) in sets.iter().enumerate() {
        let mut row = format!("| {} |", SETS[s]);
        for r in results {
            let l = &r.per_set[s].latencies_ms;
            let _ = write!(
                row,
                " {:.2} / {:.2} |",
                percentile(l, 50.0),
                percentile(l, 99.0)
            );
        }
        let _ = writeln!(out, "{row}");
    }

    let _ = writeln!(
        out,
        "\n#### Freshness under {FRESHNESS_WRITES_PER_SEC} writes/s\n"
    );
    match fresh {
        Ok(f) => {
            let _ = writeln!(
                out,
                "| writes | found | p50 (ms) | p99 (ms) | max (ms) | POST p50 (ms) | POST p99 (ms) |"
            );
            let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|---:|");
            let max = f.freshness_ms.iter().copied().fold(0.0, f64::max);
            let _ = writeln!(
                out,
                "| {} | {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                f.writes,
                f.found,
                percentile(&f.freshness_ms, 50.0),
                percentile(&f.freshness_ms, 99.0),
                max,
                percentile(&f.write_ms, 50.0),
                percentile(&f.write_ms, 99.0),
            );
            let _ = writeln!(
                out,
                "\n- A real `kith serve` (release build, SQLite, fresh data directory), one POST \
                 /api/v1/contacts every {} ms for {FRESHNESS_SECS} s ({:.0} s with the tail), each \
                 with a unique surname; freshness = when `GET /api/v1/search?q=<surname>&limit=1` \
                 first returns the record − when its POST answered. Records become visible in \
                 write order (the indexer follows the outbox), so the poller asks for the oldest \
                 unseen one every 10 ms and, once it appears, checks the next at once: up to 10 ms \
                 of the figure is polling granularity. The index holds only these records.",
                1_000 / FRESHNESS_WRITES_PER_SEC,
                f.seconds
            );
        }
        Err(error) => {
            let _ = writeln!(out, "Not measured: {error}");
        }
    }
    out
}

/// Replaces this run's subsection (same record count) inside the bench-search markers, keeping
/// the other runs and everything outside the markers.
fn write_section(path: &Path, records: usize, run: &str) -> anyhow::Result<()> {
    let existing = std::fs::read_to_string(path).unwrap_or_default();
    let (before, inner, after) = match (existing.find(START_MARKER), existing.find(END_MARKER)) {
        (Some(start), Some(end)) if start < end => (
            existing[..start].to_owned(),
            existing[start + START_MARKER.len()..end].to_owned(),
            existing[end + END_MARKER.len()..].to_owned(),
        ),
        _ => {
            let mut before = existing.clone();
            if !before.is_empty() && !before.ends_with("\n\n") {
                before.push_str(if before.ends_with('\n') { "\n" } else { "\n\n" });
            }
            (before, String::new(), "\n".to_owned())
        }
    };
    let mut runs: Vec<(usize, String)> = Vec::new();
    for chunk in inner.split(RUN_MARKER).skip(1) {
        let Some((count, rest)) = chunk.split_once(" -->") else {
            continue;
        };
        if let Ok(count) = count.trim().parse::<usize>() {
            runs.push((count, rest.trim().to_owned()));
        }
    }
    runs.retain(|(count, _)| *count != records);
    runs.push((records, run.trim().to_owned()));
    runs.sort_by_key(|(count, _)| *count);
    let mut section = String::from(
        "\n## Search: Kith vs SQLite FTS5 vs PostgreSQL full-text\n\n\
         Written by `cargo bench -p tests --bench search -- --write BENCHMARKS.md`: the same \
         generated CRM corpus and the same known-item queries against the three engines. One \
         subsection per corpus size; with `--chinese-share`, a share of the corpus is Chinese \
         and a Chinese query set compares Kith with SQLite FTS5 (trigram) and PostgreSQL \
         (pg_trgm).\n\n",
    );
    for (count, text) in runs {
        let _ = write!(section, "{RUN_MARKER}{count} -->\n{text}\n\n");
    }
    let content = format!("{before}{START_MARKER}{section}{END_MARKER}{after}");
    std::fs::write(path, content).with_context(|| format!("cannot write {}", path.display()))
}

// ------------------------------------------------------------------------------------------------
// Main
// ------------------------------------------------------------------------------------------------

/// Deletes an engine's files once it has been measured: at a million records their page cache
/// is gigabytes, and it counts against the memory of the process that wrote them.
fn release(dir: &Path) {
    std::fs::remove_dir_all(dir).ok();
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        });
    if let Some(peak) = peak {
        let peak = peak.trim_start_matches("VmHWM:").trim();
        eprintln!("  (removed {}; peak memory so far {peak})", dir.display());
    }
}

/// Removes the scratch directory when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the tests crate sits in the workspace")?
        .to_path_buf();
    let scratch = Scratch(
        std::env::temp_dir().join(format!("kith-bench-search-{}", Uuid::now_v7().simple())),
    );
    std::fs::create_dir_all(&scratch.0)?;

    eprintln!("generating {} records…", args.records);
    let start = Instant::now();
    let corpus = Corpus::generate(args.records, args.chinese_share)?;
    let (sets, set_notes) = build_queries(&corpus);
    let chinese = corpus.zh_counts.iter().sum::<usize>() > 0;
    let (zh_sets, zh_notes) = if chinese {
        let (sets, notes) = zh::build_queries(&corpus, args.chinese_per_set);
        (sets, Some(notes))
    } else {
        (Vec::new(), None)
    };
    eprintln!(
        "generated in {:.1} s; {} queries in {} sets, {} Chinese in {}",
        start.elapsed().as_secs_f64(),
        sets.iter().map(Vec::len).sum::<usize>(),
        sets.len(),
        zh_sets.iter().map(Vec::len).sum::<usize>(),
        zh_sets.len()
    );
    let mix = Workload::mix(&sets, args.queries);
    if mix.is_empty() {
        bail!("no queries could be built");
    }
    let english = Workload {
        names: &SETS,
        sets: &sets,
        mix: &mix,
    };
    let chinese_queries = args.chinese_queries.unwrap_or(args.queries);
    let zh_mix = Workload::mix(&zh_sets, chinese_queries);
    let chinese_work = Workload {
        names: &zh::SETS,
        sets: &zh_sets,
        mix: &zh_mix,
    };

    let mut built = Vec::new();
    let mut results = Vec::new();
    let mut zh_built = Vec::new();
    let mut zh_results = Vec::new();
    let mut skipped = Vec::new();

    eprintln!("indexing into Kith…");
    let (kith, kith_built) =
        build_kith(&corpus, &scratch.0.join("kith"), "Kith (tantivy)", |_| true)?;
    eprintln!(
        "  {:.1} s, {:.0} records/s",
        kith_built.seconds,
        args.records as f64 / kith_built.seconds
    );
    results.push(
        measure(
            "Kith (tantivy)",
            Engine::Kith(&kith),
            &corpus,
            &english,
            args.verbose,
        )
        .await,
    );
    if chinese {
        zh_results.push(
            measure(
                "Kith (tantivy)",
                Engine::Kith(&kith),
                &corpus,
                &chinese_work,
                args.verbose,
            )
            .await,
        );
        zh_built.push(Built {
            name: "Kith (tantivy)",
            records: kith_built.records,
            seconds: kith_built.seconds,
            size_bytes: kith_built.size_bytes,
            notes: vec!["Kith: the index above (every record, English and Chinese).".to_owned()],
        });
    }
    built.push(kith_built);
    drop(kith);
    release(&scratch.0.join("kith"));
    if chinese {
        eprintln!("indexing the Chinese records alone into Kith…");
        let (kith, mut only) = build_kith(
            &corpus,
            &scratch.0.join("kith-zh"),
            "Kith (tantivy), Chinese records only",
            |doc| doc.zh,
        )?;
        drop(kith);
        release(&scratch.0.join("kith-zh"));
        only.notes = vec![format!(
            "Kith, Chinese records only: the same settings, a separate index of the \
             {} Chinese records (what CJK pairs and pinyin cost per record).",
            only.records
        )];
        zh_built.push(only);
    }

    eprintln!("indexing into SQLite FTS5…");
    match build_sqlite(&corpus, &scratch.0.join("sqlite")).await {
        Ok((sqlite, sqlite_built)) => {
            eprintln!("  {:.1} s", sqlite_built.seconds);
            built.push(sqlite_built);
            results.push(
                measure(
                    "SQLite FTS5",
                    Engine::Sqlite(&sqlite),
                    &corpus,
                    &english,
                    args.verbose,
                )
                .await,
            );
            sqlite.pool.close().await;
            release(&scratch.0.join("sqlite"));
        }
        Err(error) => {
            eprintln!("SQLite FTS5 skipped: {error:#}");
            skipped.push(format!("SQLite FTS5 skipped: {error:#}"));
        }
    }
    if chinese {
        eprintln!("indexing into SQLite FTS5 (trigram)…");
        match zh::build_sqlite(&corpus, &scratch.0.join("sqlite-trigram")).await {
            Ok((sqlite, sqlite_built)) => {
                eprintln!("  {:.1} s", sqlite_built.seconds);
                zh_built.push(sqlite_built);
                zh_results.push(
                    measure(
                        "SQLite FTS5 trigram",
                        Engine::SqliteTrigram(&sqlite),
                        &corpus,
                        &chinese_work,
                        args.verbose,
                    )
                    .await,
                );
                sqlite.pool.close().await;
                release(&scratch.0.join("sqlite-trigram"));
            }
            Err(error) => {
                eprintln!("SQLite FTS5 trigram skipped: {error:#}");
                skipped.push(format!("SQLite FTS5 trigram skipped: {error:#}"));
            }
        }
    }

    match &args.postgres_url {
        None => {
            let note = "PostgreSQL skipped: no --postgres-url and no KITH_TEST_POSTGRES_URL";
            eprintln!("{note}");
            skipped.push(note.to_owned());
        }
        Some(url) => {
            eprintln!("indexing into PostgreSQL…");
            match create_postgres(url).await {
                Ok(pg) => {
                    let outcome = async {
                        let pg_built = build_postgres(&pg, &corpus).await?;
                        eprintln!("  {:.1} s", pg_built.seconds);
                        built.push(pg_built);
                        results.push(
                            measure(
                                "PostgreSQL FTS",
                                Engine::Postgres(&pg),
                                &corpus,
                                &english,
                                args.verbose,
                            )
                            .await,
                        );
                        if chinese {
                            eprintln!("indexing into PostgreSQL (pg_trgm)…");
                            let trgm_built = zh::build_postgres(&pg, &corpus).await?;
                            eprintln!("  {:.1} s", trgm_built.seconds);
                            zh_built.push(trgm_built);
                            zh_results.push(
                                measure(
                                    "PostgreSQL pg_trgm",
                                    Engine::PostgresTrigram(&pg),
                                    &corpus,
                                    &chinese_work,
                                    args.verbose,
                                )
                                .await,
                            );
                        }
                        Ok::<_, anyhow::Error>(())
                    }
                    .await;
                    if let Err(error) = drop_postgres(pg).await {
                        eprintln!("cannot drop the bench database: {error:#}");
                    }
                    if let Err(error) = outcome {
                        eprintln!("PostgreSQL failed: {error:#}");
                        skipped.push(format!("PostgreSQL failed: {error:#}"));
                    }
                }
                Err(error) => {
                    eprintln!("PostgreSQL skipped: {error:#}");
                    skipped.push(format!("PostgreSQL skipped: {error:#}"));
                }
            }
        }
    }

    let fresh = if args.freshness {
        eprintln!("measuring freshness against kith serve…");
        freshness(&root, &scratch.0)
            .await
            .map_err(|e| format!("{e:#}"))
    } else {
        Err("skipped (--no-freshness)".to_owned())
    };

    let mut text = report(
        &root, &args, &corpus, &sets, &set_notes, &built, &results, &fresh, &skipped,
    );
    if let Some(notes) = &zh_notes {
        text.push_str(&zh::report(
            &corpus,
            args.chinese_share,
            &zh_sets,
            notes,
            &zh_built,
            &zh_results,
            chinese_queries,
        ));
    }
    println!("{text}");
    if let Some(path) = &args.write {
        // `cargo bench` runs the bench in `tests/`: a relative path is the workspace's.
        let path = root.join(path);
        write_section(&path, args.records, &text)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
