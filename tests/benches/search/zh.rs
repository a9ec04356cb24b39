//! The Chinese half of the search benchmark: known-item queries on the records of the
//! Chinese generator (`host::demo::zh`), and the engines people reach for when text has no
//! spaces between words: SQLite FTS5 with the trigram tokenizer and PostgreSQL with `pg_trgm`.
//! Kith answers from the same index as the English sets.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use host::demo::zh::{company_brand, company_city, name_pinyin, split_name};
use host::records::Record;
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::sqlx::{self, Row};

use super::{
    BenchQuery, Built, Corpus, Doc, EngineResults, Judge, Kind, Postgres, Quality, Rng, TOP,
    WARMUP, dir_size, fold, ids, mb, percentile, sample, yes_no,
};

/// Seed of the Chinese query sampler.
const QUERY_SEED: u64 = 4_242;

pub const SETS: [&str; 10] = [
    "full name (王小明)",
    "given name (小明)",
    "family name + title (王总)",
    "company short name (华科)",
    "word in a note (续约)",
    "mixed script (ACME 北京)",
    "pinyin, whole (wangxiaoming)",
    "pinyin initials (wxm)",
    "prefix while typing (王, 王小)",
    "family name + company (reference)",
];
const SET_TITLE: usize = 2;

/// Words a salesperson looks for in Chinese notes; a query takes one the note holds.
const NOTE_WORDS: &[&str] = &[
    "续约",
    "报价",
    "合同",
    "发票",
    "预算",
    "折扣",
    "试点",
    "迁移",
    "演示",
    "席位",
    "法务",
    "部署",
    "对接",
    "上线",
    "安全评估",
    "采购",
    "竞争对手",
    "私有化部署",
    "数据迁移",
    "增值税专用发票",
    "参考交流",
    "业务回顾",
    "调岗",
    "使用量",
    "拍板",
];

/// Which hits count, for the Chinese sets.
#[derive(Debug)]
pub enum ZhJudge {
    /// Any contact with this given name.
    GivenName(String),
    /// Any contact with this family name whose job title holds this word (总, 经理), an
    /// assistant's excepted.
    FamilyTitle { family: String, word: String },
    /// Any company whose name holds every one of these (case-insensitively).
    CompanyHolding(Vec<String>),
    /// Any record whose title or body holds this.
    Holding(String),
    /// Any contact whose name sounds like this, whole or as initials.
    Pinyin { text: String, initials: bool },
    /// Any contact whose name starts with this.
    NamePrefix(String),
    /// Any contact with this family name at a company whose name holds this brand.
    FamilyAtCompany { family: String, brand: String },
}

impl ZhJudge {
    pub fn relevant(&self, corpus: &Corpus, hit: u32) -> bool {
        let doc = &corpus.docs[hit as usize];
        let name = || split_name(&doc.title).filter(|_| doc.kind == Kind::Contact && doc.zh);
        match self {
            ZhJudge::GivenName(given) => name().is_some_and(|(_, g)| g == given.as_str()),
            ZhJudge::FamilyTitle { family, word } => {
                name().is_some_and(|(f, _)| f == family.as_str())
                    && addressed_as(corpus.text(hit, "title"), word)
            }
            ZhJudge::CompanyHolding(parts) => {
                doc.kind == Kind::Company && {
                    let name = doc.title.to_lowercase();
                    parts.iter().all(|p| name.contains(&p.to_lowercase()))
                }
            }
            ZhJudge::Holding(word) => doc.title.contains(word) || doc.body.contains(word),
            ZhJudge::Pinyin { text, initials } => {
                name().is_some() && sound(&doc.title, *initials).as_deref() == Some(text.as_str())
            }
            ZhJudge::NamePrefix(prefix) => name().is_some() && doc.title.starts_with(prefix),
            ZhJudge::FamilyAtCompany { family, brand } => {
                name().is_some_and(|(f, _)| f == family.as_str())
                    && doc
                        .company
                        .is_some_and(|c| corpus.docs[c as usize].title.contains(brand))
            }
        }
    }
}

/// Whether someone with job title `title` is addressed as family name + `word` (王总 for a
/// 总经理, 总监 or 副总裁; 王经理 for any 经理), assistants not.
fn addressed_as(title: &str, word: &str) -> bool {
    title.contains(word) && !title.contains("助理")
}

/// A name's pinyin as typed: syllables joined (`wangxiaoming`) or their initials (`wxm`).
fn sound(name: &str, initials: bool) -> Option<String> {
    let syllables = name_pinyin(name)?;
    Some(if initials {
        syllables.iter().filter_map(|s| s.get(..1)).collect()
    } else {
        syllables.concat()
    })
}

/// How many records each query's judge accepts (median and largest per set), for the report.
pub struct ZhNotes {
    pub relevant: Vec<(usize, usize)>,
}

/// `per_set` queries per set (fewer where the corpus has fewer targets).
pub fn build_queries(corpus: &Corpus, per_set: usize) -> (Vec<Vec<BenchQuery>>, ZhNotes) {
    let mut rng = Rng::new(QUERY_SEED);
    let of_kind = |kind: Kind| -> Vec<u32> {
        (0..corpus.docs.len() as u32)
            .filter(|&i| corpus.docs[i as usize].kind == kind && corpus.docs[i as usize].zh)
            .collect()
    };
    let companies = of_kind(Kind::Company);
    let contacts = of_kind(Kind::Contact);
    let activities = of_kind(Kind::Activity);
    let title = |i: u32| corpus.docs[i as usize].title.as_str();
    let zh = |judge: ZhJudge| Judge::Zh(judge);
    let mut sets: Vec<Vec<BenchQuery>> = Vec::new();

    // Full names: any contact of that name counts (names repeat).
    sets.push(sample(&mut rng, &contacts, per_set, |_, i| {
        Some((title(i).to_owned(), Judge::Title(fold(title(i)))))
    }));

    // Given names of two characters, the rarest ones: any bearer counts.
    let mut bearers: HashMap<&str, usize> = HashMap::new();
    for &i in &contacts {
        if let Some((_, given)) = split_name(title(i)) {
            *bearers.entry(given).or_default() += 1;
        }
    }
    let mut rare: Vec<(usize, &str)> = bearers
        .iter()
        .filter(|(given, _)| given.chars().count() == 2)
        .map(|(given, n)| (*n, *given))
        .collect();
    rare.sort_unstable();
    let cutoff = rare
        .get(per_set.min(rare.len()).saturating_sub(1))
        .map_or(0, |r| r.0);
    sets.push(sample(&mut rng, &contacts, per_set, |_, i| {
        let (_, given) = split_name(title(i))?;
        (given.chars().count() == 2 && bearers.get(given).is_some_and(|&n| n <= cutoff))
            .then(|| (given.to_owned(), zh(ZhJudge::GivenName(given.to_owned()))))
    }));

    // Family name + how a 总经理 or a 销售经理 is addressed.
    sets.push(sample(&mut rng, &contacts, per_set, |rng, i| {
        let (family, _) = split_name(title(i))?;
        let job = corpus.text(i, "title");
        let words: Vec<&str> = ["总", "经理"]
            .into_iter()
            .filter(|w| addressed_as(job, w))
            .collect();
        if words.is_empty() {
            return None;
        }
        let word = *rng.pick(&words);
        Some((
            format!("{family}{word}"),
            zh(ZhJudge::FamilyTitle {
                family: family.to_owned(),
                word: word.to_owned(),
            }),
        ))
    }));

    // A company's short name: its coined brand.
    sets.push(sample(&mut rng, &companies, per_set, |_, i| {
        let brand = company_brand(title(i))?;
        (!brand.is_ascii()).then(|| {
            (
                brand.to_owned(),
                zh(ZhJudge::CompanyHolding(vec![brand.to_owned()])),
            )
        })
    }));

    // A word inside a note.
    sets.push(sample(&mut rng, &activities, per_set, |rng, i| {
        let body = corpus.text(i, "body");
        let held: Vec<&str> = NOTE_WORDS
            .iter()
            .copied()
            .filter(|w| body.contains(w))
            .collect();
        if held.is_empty() {
            return None;
        }
        let word = *rng.pick(&held);
        Some((word.to_owned(), zh(ZhJudge::Holding(word.to_owned()))))
    }));

    // Mixed script: a Latin brand and the city of its Chinese subsidiary.
    sets.push(sample(&mut rng, &companies, per_set, |_, i| {
        let brand = company_brand(title(i))?;
        let city = company_city(title(i))?;
        brand.is_ascii().then(|| {
            (
                format!("{brand} {city}"),
                zh(ZhJudge::CompanyHolding(vec![
                    brand.to_owned(),
                    city.to_owned(),
                ])),
            )
        })
    }));

    // A name typed as it sounds, whole and as initials.
    for initials in [false, true] {
        sets.push(sample(&mut rng, &contacts, per_set, |_, i| {
            let text = sound(title(i), initials)?;
            Some((text.clone(), zh(ZhJudge::Pinyin { text, initials })))
        }));
    }

    // The first one or two characters of a name, while typing it.
    sets.push(sample(&mut rng, &contacts, per_set, |rng, i| {
        let chars: Vec<char> = title(i).chars().collect();
        let len = if chars.len() >= 3 && rng.chance(0.5) {
            2
        } else {
            1
        };
        let prefix: String = chars[..len].iter().collect();
        Some((prefix.clone(), zh(ZhJudge::NamePrefix(prefix))))
    }));

    // Family name + the employer's brand: only the reference holds the brand.
    sets.push(sample(&mut rng, &contacts, per_set, |_, i| {
        let doc = &corpus.docs[i as usize];
        let (family, _) = split_name(&doc.title)?;
        let company = doc.company?;
        let brand = company_brand(&corpus.docs[company as usize].title)?;
        let own = format!("{}{}{}", doc.title, doc.contact, doc.body);
        (!brand.is_ascii() && !own.contains(brand)).then(|| {
            (
                format!("{family} {brand}"),
                zh(ZhJudge::FamilyAtCompany {
                    family: family.to_owned(),
                    brand: brand.to_owned(),
                }),
            )
        })
    }));

    // How many records each judge accepts: a set whose queries many records answer tests
    // matching more than ranking.
    let relevant = sets
        .iter()
        .map(|set| {
            let mut counts: Vec<usize> = set
                .iter()
                .take(20)
                .map(|q| {
                    (0..corpus.docs.len() as u32)
                        .filter(|&h| corpus.docs[h as usize].zh && q.relevant(corpus, h))
                        .count()
                })
                .collect();
            counts.sort_unstable();
            (
                counts.get(counts.len() / 2).copied().unwrap_or(0),
                counts.last().copied().unwrap_or(0),
            )
        })
        .collect();
    (sets, ZhNotes { relevant })
}

// ------------------------------------------------------------------------------------------------
// The terms of a query for the trigram engines
// ------------------------------------------------------------------------------------------------

/// A query's whitespace-separated terms: each must occur in the record as it is (trigram
/// engines match substrings, case-insensitively).
fn terms(raw: &str) -> Vec<String> {
    raw.split_whitespace()
        .map(|t| t.trim_matches('"').to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

/// A LIKE pattern for `term` anywhere (`\` escapes).
fn like(term: &str) -> String {
    let escaped = term
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

// ------------------------------------------------------------------------------------------------
// SQLite FTS5, trigram tokenizer
// ------------------------------------------------------------------------------------------------

pub struct SqliteTrigram {
    pub pool: SqlitePool,
}

pub async fn build_sqlite(corpus: &Corpus, dir: &Path) -> anyhow::Result<(SqliteTrigram, Built)> {
    std::fs::create_dir_all(dir)?;
    let options = SqliteConnectOptions::new()
        .filename(dir.join("trigram.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .pragma("cache_size", "-32000");
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(options)
        .await?;
    sqlx::query(
        "CREATE VIRTUAL TABLE docs USING fts5(id UNINDEXED, title, contact, refs, body, \
         tokenize='trigram')",
    )
    .execute(&pool)
    .await
    .context("FTS5's trigram tokenizer (SQLite 3.34+) is not available")?;
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
    let notes = vec![format!(
        "SQLite FTS5 trigram: `tokenize='trigram'` (case-folded, every three characters), the \
         same title / contact / references / body columns and settings as the unicode61 table; \
         `optimize` took {optimize_seconds:.1} s more (not counted)."
    )];
    Ok((
        SqliteTrigram { pool },
        Built {
            name: "SQLite FTS5 trigram",
            records: corpus.records.len(),
            seconds,
            size_bytes: dir_size(dir),
            notes,
        },
    ))
}

impl SqliteTrigram {
    /// Terms of three characters or more are trigram phrases (`MATCH`, ranked by bm25 with
    /// Kith's weights); shorter ones, which no trigram can hold, are `LIKE` on every column
    /// (a scan). With no long term, title matches come first, then shorter titles.
    pub async fn search(&self, corpus: &Corpus, raw: &str) -> anyhow::Result<Vec<u32>> {
        let terms = terms(raw);
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let (long, short): (Vec<&String>, Vec<&String>) =
            terms.iter().partition(|t| t.chars().count() >= 3);
        let mut params: Vec<String> = Vec::new();
        let mut filters: Vec<String> = Vec::new();
        let mut title_hits: Vec<String> = Vec::new();
        if !long.is_empty() {
            let fts: Vec<String> = long
                .iter()
                .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
                .collect();
            params.push(fts.join(" AND "));
            filters.push(format!("docs MATCH ?{}", params.len()));
        }
        for term in &short {
            params.push(like(term));
            let n = params.len();
            filters.push(format!(
                "(title LIKE ?{n} ESCAPE '\\' OR contact LIKE ?{n} ESCAPE '\\' \
                 OR refs LIKE ?{n} ESCAPE '\\' OR body LIKE ?{n} ESCAPE '\\')"
            ));
            title_hits.push(format!("(title LIKE ?{n} ESCAPE '\\')"));
        }
        let order = if long.is_empty() {
            format!("{} DESC, length(title)", title_hits.join(" + "))
        } else {
            "bm25(docs, 0.0, 3.0, 2.0, 1.5, 1.0)".to_owned()
        };
        let sql = format!(
            "SELECT id FROM docs WHERE {} ORDER BY {order} LIMIT {TOP}",
            filters.join(" AND ")
        );
        // Only fixed fragments and placeholders: the terms are bound.
        let mut statement = sqlx::query(sqlx::AssertSqlSafe(sql));
        for param in params {
            statement = statement.bind(param);
        }
        let rows = statement.fetch_all(&self.pool).await?;
        ids(corpus, rows.iter().map(|r| r.try_get::<String, _>(0)))
    }
}

// ------------------------------------------------------------------------------------------------
// PostgreSQL pg_trgm
// ------------------------------------------------------------------------------------------------

/// Loads the corpus into a second table with a trigram index over all its text.
pub async fn build_postgres(pg: &Postgres, corpus: &Corpus) -> anyhow::Result<Built> {
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        .execute(&pg.pool)
        .await
        .context("CREATE EXTENSION pg_trgm")?;
    let version: String =
        sqlx::query_scalar("SELECT extversion FROM pg_extension WHERE extname = 'pg_trgm'")
            .fetch_one(&pg.pool)
            .await?;
    sqlx::query(
        "CREATE TABLE trgm (
            id uuid NOT NULL,
            title text NOT NULL,
            contact text NOT NULL,
            refs text NOT NULL,
            body text NOT NULL,
            all_text text GENERATED ALWAYS AS (
                title || ' ' || contact || ' ' || refs || ' ' || body
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
            "INSERT INTO trgm (id, title, contact, refs, body)
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
    sqlx::query("CREATE INDEX trgm_all ON trgm USING gin (all_text gin_trgm_ops)")
        .execute(&pg.pool)
        .await?;
    sqlx::query("VACUUM ANALYZE trgm").execute(&pg.pool).await?;
    let index_seconds = index_start.elapsed().as_secs_f64();
    let seconds = start.elapsed().as_secs_f64();
    let size: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('trgm')")
        .fetch_one(&pg.pool)
        .await?;
    let notes = vec![format!(
        "PostgreSQL pg_trgm {version}: one generated column with all the text (title, contact, \
         references, body), a GIN `gin_trgm_ops` index on it; time = UNNEST inserts of 5,000 \
         rows ({load_seconds:.1} s) + GIN build and VACUUM ANALYZE ({index_seconds:.1} s); \
         size = table + TOAST + GIN (`pg_total_relation_size`, the text is stored twice: the \
         columns and the generated one)."
    )];
    Ok(Built {
        name: "PostgreSQL pg_trgm",
        records: corpus.records.len(),
        seconds,
        size_bytes: size.max(0) as u64,
        notes,
    })
}

/// Every term `LIKE '%term%'` on all the text (`ILIKE` for a term with cased letters: it
/// lowercases every row, two to four times slower, and Han characters have no case); the
/// trigram index serves terms of three characters or more, shorter ones scan the table.
/// Ranked by whether the title holds every term, then by `word_similarity` with Kith's field
/// weights, then shorter titles first.
pub async fn search_postgres(
    pg: &Postgres,
    corpus: &Corpus,
    raw: &str,
) -> anyhow::Result<Vec<u32>> {
    let terms = terms(raw);
    if terms.is_empty() {
        return Ok(Vec::new());
    }
    let mut params: Vec<String> = vec![raw.to_owned()];
    let mut filters = Vec::new();
    let mut in_title = Vec::new();
    for term in &terms {
        params.push(like(term));
        let n = params.len();
        let op = if term.chars().any(|c| c.is_lowercase() || c.is_uppercase()) {
            "ILIKE"
        } else {
            "LIKE"
        };
        filters.push(format!("all_text {op} ${n}"));
        in_title.push(format!("title {op} ${n}"));
    }
    let sql = format!(
        "SELECT id::text FROM trgm WHERE {} ORDER BY ({}) DESC, \
         3 * word_similarity($1, title) + 2 * word_similarity($1, contact) \
         + 1.5 * word_similarity($1, refs) + word_similarity($1, body) DESC, \
         length(title) LIMIT {TOP}",
        filters.join(" AND "),
        in_title.join(" AND ")
    );
    // Only fixed fragments and placeholders: the terms are bound.
    let mut statement = sqlx::query(sqlx::AssertSqlSafe(sql));
    for param in params {
        statement = statement.bind(param);
    }
    let rows = statement.fetch_all(&pg.pool).await?;
    ids(corpus, rows.iter().map(|r| r.try_get::<String, _>(0)))
}

// ------------------------------------------------------------------------------------------------
// Report
// ------------------------------------------------------------------------------------------------

pub fn report(
    corpus: &Corpus,
    share: f64,
    sets: &[Vec<BenchQuery>],
    notes: &ZhNotes,
    built: &[Built],
    results: &[EngineResults],
    queries: usize,
) -> String {
    let mut out = String::new();
    let [companies, contacts, activities] = corpus.zh_counts;
    let _ = writeln!(out, "\n#### Chinese records (zh-CN)\n");
    let _ = writeln!(
        out,
        "- Corpus: a share of {share} of each kind comes from `host::demo::zh` (same seed, same \
         generator stream): {companies} companies, {contacts} contacts and {activities} \
         activities, in the same index and tables as the English records. Names are written \
         whole in `last_name` (family name first), companies as registered (city + brand + \
         industry + legal form, 4% with a Latin brand), notes from Chinese templates with some \
         mixed script."
    );
    let _ = writeln!(
        out,
        "- Compared with the configurations meant for text without spaces: SQLite FTS5 with \
         `tokenize='trigram'` and PostgreSQL with `pg_trgm` (the unicode61 and 'simple' \
         tsvector setups above keep a whole run of Han characters as one word, so they find \
         a Chinese name or company only by its first characters)."
    );

    let _ = writeln!(out, "\n##### Indexing\n");
    let _ = writeln!(
        out,
        "| engine | records | seconds | records/s | index size (MB) |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for b in built {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.0} | {:.1} |",
            b.name,
            b.records,
            b.seconds,
            b.records as f64 / b.seconds,
            mb(b.size_bytes)
        );
    }
    let _ = writeln!(out);
    for b in built {
        for note in &b.notes {
            let _ = writeln!(out, "- {note}");
        }
    }

    let _ = writeln!(out, "\n##### Quality: MRR@10 / recall@10\n");
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
        let mut kith = None;
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
                kith = Some(q.mrr());
            } else {
                best_other = best_other.max(q.mrr());
            }
        }
        let best = match kith {
            Some(k) if results.len() > 1 && !set.is_empty() => {
                if k + 1e-9 >= best_other {
                    "yes"
                } else {
                    "**no**"
                }
            }
            _ => "—",
        };
        let _ = writeln!(out, "{row} {best} |");
    }
    let mut row = format!("| **all** | {} |", sets.iter().map(Vec::len).sum::<usize>());
    for q in &all {
        let _ = write!(row, " {:.3} / {:.3} |", q.mrr(), q.recall());
    }
    let _ = writeln!(out, "{row} |");
    let relevant: Vec<String> = notes
        .relevant
        .iter()
        .enumerate()
        .map(|(s, (median, max))| format!("{} {median} (max {max})", SETS[s]))
        .collect();
    let _ = writeln!(
        out,
        "\n- Judging (a hit counts if): full name — any contact of that name; given name — the \
         two-character given names the fewest contacts bear, any bearer; family name + title — \
         any contact of that family name whose job title holds 总 (总经理, 总监, 副总裁) or \
         经理, assistants excepted; company short name — any company whose name holds the \
         brand; word in a note — any record whose subject or body holds it; mixed script — any \
         company whose name holds the Latin brand and the city; pinyin — any contact whose \
         name sounds the same (family names read as names: 曾 `zeng`, 吕 `lv`; 王 and 汪 alike), \
         whole or as initials; prefix — any contact whose name starts with it; family name + \
         company — any contact of that family name at a company whose name holds the brand \
         (which is nowhere in the contact's own text). Records each query accepts (median of \
         20 per set): {}.",
        relevant.join("; ")
    );
    let _ = writeln!(
        out,
        "- Query translation for the trigram engines: the query's words, each to be found as \
         it is. FTS5: words of three characters or more as trigram phrases `\"word\"` (ANDed, \
         ranked by `bm25(docs, 0.0, 3.0, 2.0, 1.5, 1.0)`); a trigram index cannot hold a \
         shorter word, so one- and two-character words (王, 小明, 续约, 王总) become `LIKE \
         '%word%'` on every column, a scan of the table, and a query made of them only is \
         ranked by whether the title holds them, then shorter titles first. PostgreSQL: every \
         word `LIKE '%word%'` on the generated column (`ILIKE` for a word with Latin letters: \
         it lowercases every row and is two to four times slower on Han text, which has no \
         case); the GIN index serves words of three characters or more, pg_trgm extracts no \
         trigram from a shorter one and the table is scanned; ranked by whether the title \
         holds every word, then `3·word_similarity(q, \
         title) + 2·… contact + 1.5·… references + … body`, then shorter titles. Neither \
         knows pinyin: `wangxiaoming` and `wxm` match only text that holds them as they are."
    );
    if results
        .iter()
        .any(|r| r.per_set.get(SET_TITLE).is_some_and(|q| q.found == 0))
    {
        let _ = writeln!(
            out,
            "- Family name + title: the query (王总) is not in any record as it is — the name \
             and the job title are two fields, and the title says 总经理 — so an engine finds \
             it only if it knows that 总 after a family name is a form of address."
        );
    }
    let _ = writeln!(
        out,
        "- Word in a note: the notes are template-made, so a word is in many of them; like the \
         phrase set above, it tests matching inside a run of characters more than ranking."
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

    let _ = writeln!(out, "\n##### Query latency (Chinese mix)\n");
    let _ = writeln!(out, "| engine | queries | p50 (ms) | p99 (ms) | max (ms) |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|");
    for r in results {
        let errors = if r.latency_errors > 0 {
            format!(" ({} errors)", r.latency_errors)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| {} | {}{errors} | {:.2} | {:.2} | {:.2} |",
            r.name,
            r.latency_ms.len(),
            percentile(&r.latency_ms, 50.0),
            percentile(&r.latency_ms, 99.0),
            r.latency_ms.iter().copied().fold(0.0, f64::max)
        );
    }
    let _ = writeln!(
        out,
        "\n- A rotating mix of the Chinese sets ({queries} queries after {WARMUP} warm-up), as \
         for the English mix; Kith's index is the one above (English and Chinese records)."
    );
    let p50 = |r: &EngineResults| percentile(&r.latency_ms, 50.0);
    let p99 = |r: &EngineResults| percentile(&r.latency_ms, 99.0);
    if let Some(kith) = results.iter().find(|r| r.name.starts_with("Kith")) {
        let others = results.iter().filter(|r| !r.name.starts_with("Kith"));
        let (p50_ok, p99_ok) = others.fold((true, true), |(a, b), r| {
            (a && p50(kith) <= p50(r), b && p99(kith) <= p99(r))
        });
        let _ = writeln!(
            out,
            "- Kith fastest of the three: {} (p50 {}, p99 {})",
            yes_no(p50_ok && p99_ok),
            if p50_ok { "yes" } else { "no" },
            if p99_ok { "yes" } else { "no" },
        );
    }
    let _ = writeln!(out, "\nLatency by query set (ms, p50 / p99):\n");
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
    out
}
