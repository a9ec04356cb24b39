//! `cargo xtask bench-api`: seeds records and drives the real HTTP API of a release build over
//! loopback, on SQLite and on PostgreSQL, and reports medians and p99s.
//!
//! For each database the bench:
//!
//! 1. creates a fresh database (a SQLite file in a temporary directory, or a
//!    `kith_bench_<random>` PostgreSQL database, dropped at the end), an admin and an API token
//!    with the `kith` CLI, and starts `kith serve` on a free loopback port;
//! 2. adds two custom, not indexed contact fields: `segment` (a select) and `hits` (an
//!    integer);
//! 3. seeds a few hundred companies, then `--records` contacts (most at one of the companies)
//!    through `POST /api/v1/contacts/batch`, 1,000 per request, one request in flight. Request
//!    bodies are serialized beforehand, so the rate measures the server: records/s over the
//!    whole seeding, and the latency of each batch request;
//! 4. times single requests, one at a time, after a warm-up that is not counted:
//!    `POST /contacts`, `GET /contacts/{id}`, and lists of 50 filtered on indexed fields
//!    (`email`, `last_name`, rotating through existing values) and on the custom field (common
//!    values, and a rare one held by 0.1% of the contacts, which makes the database scan);
//! 5. runs 8 concurrent writers over the same 100 contacts, each looping `GET` then `PATCH`
//!    with `If-Match` to increment `hits`, re-reading and retrying on 412, then checks that
//!    the sum of `hits` grew by exactly the number of successful PATCHes (no lost update);
//! 6. reads the server's resident memory (VmRSS, and the peak VmHWM) from `/proc`;
//! 7. measures the cost of permissions: a custom role `own_reader` (`own` on every type) and
//!    20 users holding it, each made the owner of 1% of the seeded contacts; lists of 50 as
//!    the admin and as those users (in turn), unfiltered and filtered on a common `last_name`
//!    prefix, and the ratio of the two;
//! 8. floods `POST /auth/login` with correct passwords at 50 requests/s and times
//!    `GET /contacts/{id}` meanwhile, against the same GETs on the quiet server, then reads
//!    the server's memory again.
//!
//! A latency is the wall-clock time from sending a request to having read its whole answer,
//! seen by one client over keep-alive connections; the median and p99 are nearest-rank over
//! the sorted samples. Every 5xx answer is counted. Client and server share the machine, so
//! the figures include the client's own cost; the client is therefore always an optimised
//! build (a debug `xtask` re-runs itself from `target/release`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use host::demo::{self, Rng};
use reqwest::header::IF_MATCH;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::{
    Api, Backend, Databases, Machine, Memory, Rep, Reply, Stats, USER_PASSWORD, Users, WORKSPACE,
    create_users, form_body, millis, on_fresh_database, publish_section, records_of, release_dir,
    rerun_release_build, runtime, start_server, thousands, yes_no,
};

/// Contacts per batch request: the API's maximum.
pub(crate) const BATCH: usize = 1_000;
/// Companies seeded first; contacts work at one of them.
pub(crate) const COMPANIES: usize = 300;
/// Share of contacts without a company, as in the demo data.
pub(crate) const FREELANCERS: f64 = 0.1;
/// Requests sent before each timed series, not counted.
const WARMUP: usize = 50;
const POSTS: usize = 1_000;
const GETS: usize = 2_000;
const LISTS: usize = 1_000;
const LIST_LIMIT: &str = "50";
const WRITERS: usize = 8;
/// Contacts the concurrent writers all update.
const HOT_RECORDS: usize = 100;
const UPDATES_PER_WRITER: usize = 250;
/// A writer stops the bench after this many 5xx answers.
const MAX_WRITER_ERRORS: usize = 100;
pub(crate) const SEED: u64 = 2026;
/// Values of the custom `segment` field: the common ones are shared by the contacts in turn,
/// and one contact in `RARE_EVERY` has `RARE_SEGMENT` instead.
const COMMON_SEGMENTS: [&str; 4] = ["smb", "mid_market", "enterprise", "public_sector"];
const RARE_SEGMENT: &str = "strategic";
pub(crate) const RARE_EVERY: usize = 1_000;
/// Throughput target of the batch insert, on SQLite.
const INSERT_TARGET: f64 = 20_000.0;
const RSS_TARGET_MB: f64 = 150.0;

/// Users holding the `own`-only role.
const REPS: usize = 20;
const OWN_ROLE: &str = "own_reader";
/// Rep `r` owns the seeded contacts whose index is `r` modulo this: 1% of them each.
const OWNER_EVERY: usize = 100;
/// Lists with `own` filtering stay within this factor of the admin's (on p99).
const OWN_RATIO_TARGET: f64 = 1.2;
/// Logins per second during the flood.
const LOGIN_RATE: u32 = 50;
/// GETs timed before and during the flood, paced at one per `FLOOD_GET_EVERY`.
const FLOOD_GETS: usize = 1_000;
const FLOOD_GET_EVERY: Duration = Duration::from_millis(10);
/// The flood runs this long before the GETs start, and at least `FLOOD_MIN` in all.
const FLOOD_RAMP: Duration = Duration::from_secs(1);
const FLOOD_MIN: Duration = Duration::from_secs(10);

const SECTION_START: &str = "<!-- bench-api:start -->";
const SECTION_END: &str = "<!-- bench-api:end -->";
const MARKERS: (&str, &str) = (SECTION_START, SECTION_END);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Contacts to seed (at least 1,000).
    #[arg(long, default_value_t = 100_000)]
    records: usize,
    #[command(flatten)]
    databases: Databases,
    /// Write the results into this markdown file (e.g. BENCHMARKS.md), replacing the section
    /// between `<!-- bench-api:start -->` and `<!-- bench-api:end -->`.
    #[arg(long)]
    write: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.records < RARE_EVERY {
        bail!("--records must be at least {RARE_EVERY}");
    }
    let (backends, mut notes) = args.databases.backends()?;
    if rerun_release_build(&["host"])? {
        return Ok(());
    }
    let kith = release_dir().join("kith");
    let machine = Machine::probe();
    let runtime = runtime()?;
    let mut reports = Vec::with_capacity(backends.len());
    for backend in &backends {
        eprintln!("== {} ==", backend.label());
        reports.push(runtime.block_on(bench_backend(&kith, backend, args.records))?);
    }
    notes.extend(standard_notes(args.records));
    let section = render_section(&reports, &notes, &machine);
    publish_section(&section, args.write.as_deref(), MARKERS)
}

// -- one database --------------------------------------------------------------------------------

/// Everything measured on one database.
struct Report {
    database: &'static str,
    rows: Vec<Row>,
    insert: Insert,
    updates: Updates,
    memory: Memory,
    security: Security,
    server_errors: u64,
}

async fn bench_backend(kith: &Path, backend: &Backend, records: usize) -> anyhow::Result<Report> {
    on_fresh_database(backend, |url, dir| async move {
        bench_database(kith, backend.label(), &url, &dir, records).await
    })
    .await
}

async fn bench_database(
    kith: &Path,
    label: &'static str,
    url: &str,
    dir: &Path,
    records: usize,
) -> anyhow::Result<Report> {
    let (server, api) = start_server(kith, url, dir).await?;
    let workload = run_workload(&api, records).await?;
    let memory = server.memory()?;
    let mut security = bench_security(kith, url, dir, &api, &workload.contacts).await?;
    security.memory = Some(server.memory()?);
    let mut rows = workload.rows;
    rows.append(&mut security.rows);
    Ok(Report {
        database: label,
        rows,
        insert: workload.insert,
        updates: workload.updates,
        memory,
        security,
        server_errors: api.server_errors(),
    })
}

// -- the HTTP client -----------------------------------------------------------------------------

// -- statistics ----------------------------------------------------------------------------------

/// A latency target of an operation.
#[derive(Debug, Clone, Copy)]
enum Target {
    MedianAtMost(f64),
    P99AtMost(f64),
}

impl Target {
    fn met(self, stats: &Stats) -> bool {
        match self {
            Target::MedianAtMost(ms) => millis(stats.p50) <= ms,
            Target::P99AtMost(ms) => millis(stats.p99) <= ms,
        }
    }

    fn describe(self) -> String {
        match self {
            Target::MedianAtMost(ms) => format!("p50 ≤ {ms} ms"),
            Target::P99AtMost(ms) => format!("p99 ≤ {ms} ms"),
        }
    }
}

/// One timed operation.
struct Row {
    operation: String,
    stats: Stats,
    target: Option<Target>,
}

impl Row {
    /// The row, also logged on stderr as it is measured.
    fn new(operation: impl Into<String>, stats: Stats, target: Option<Target>) -> Row {
        let row = Row {
            operation: operation.into(),
            stats,
            target,
        };
        eprintln!(
            "  {}: n={} median {:.3} ms, p99 {:.3} ms",
            row.operation,
            stats.n,
            millis(stats.p50),
            millis(stats.p99)
        );
        row
    }
}

// -- the workload --------------------------------------------------------------------------------

struct Workload {
    rows: Vec<Row>,
    insert: Insert,
    updates: Updates,
    /// The contacts seeded through the batch endpoint, in order.
    contacts: Vec<Contact>,
}

/// A seeded contact, as the server stored it.
pub(crate) struct Contact {
    pub(crate) id: String,
    email: String,
    last_name: String,
}

async fn run_workload(api: &Api, records: usize) -> anyhow::Result<Workload> {
    let mut rng = Rng::new(SEED);
    let Seeded {
        companies,
        insert,
        contacts,
    } = seed(api, &mut rng, records).await?;
    let mut rows = vec![Row::new(
        "batch create, 1,000 contacts per request",
        insert.batches,
        None,
    )];
    rows.push(bench_create(api, &mut rng, &companies, records).await?);
    rows.push(bench_get(api, &mut rng, &contacts).await?);
    rows.extend(bench_lists(api, &mut rng, &contacts).await?);
    let hot: Vec<String> = contacts
        .iter()
        .take(HOT_RECORDS)
        .map(|c| c.id.clone())
        .collect();
    let updates = bench_concurrent_updates(api, hot).await?;
    rows.push(Row::new(
        format!("PATCH with If-Match, {WRITERS} concurrent writers"),
        updates.patches,
        None,
    ));
    Ok(Workload {
        rows,
        insert,
        updates,
        contacts,
    })
}

/// What [`seed`] made.
pub(crate) struct Seeded {
    /// The companies' ids and domains.
    pub(crate) companies: Vec<(Uuid, String)>,
    pub(crate) insert: Insert,
    pub(crate) contacts: Vec<Contact>,
}

/// Seeds an empty workspace through the API: the custom fields, `COMPANIES` demo companies,
/// then `records` demo contacts (most at one of them) in batches of `BATCH`.
pub(crate) async fn seed(api: &Api, rng: &mut Rng, records: usize) -> anyhow::Result<Seeded> {
    add_custom_fields(api).await?;
    let companies = seed_companies(api, rng).await?;
    let (insert, contacts) = seed_contacts(api, rng, &companies, records).await?;
    Ok(Seeded {
        companies,
        insert,
        contacts,
    })
}

/// Adds the custom fields the workload uses; neither is indexed.
async fn add_custom_fields(api: &Api) -> anyhow::Result<()> {
    let options: Vec<Value> = COMMON_SEGMENTS
        .iter()
        .chain([&RARE_SEGMENT])
        .map(|v| json!({ "value": v }))
        .collect();
    let fields = [
        json!({ "name": "segment", "type": "select", "options": options }),
        json!({ "name": "hits", "type": "integer" }),
    ];
    for field in &fields {
        api.expect(
            api.post("meta/entities/contacts/fields", field)?,
            StatusCode::CREATED,
        )
        .await?;
    }
    Ok(())
}

/// Seeds the companies in one batch; returns their ids and domains.
async fn seed_companies(api: &Api, rng: &mut Rng) -> anyhow::Result<Vec<(Uuid, String)>> {
    let records: Vec<Value> = (0..COMPANIES)
        .map(|i| Value::Object(demo::company(rng, i)))
        .collect();
    let body = json!({ "operation": "create", "records": records });
    let reply = api
        .expect(api.post("companies/batch", &body)?, StatusCode::OK)
        .await?;
    let mut companies = Vec::with_capacity(COMPANIES);
    for record in records_of(&reply)? {
        let id = record
            .get("id")
            .and_then(Value::as_str)
            .and_then(|id| Uuid::parse_str(id).ok());
        let domain = record.get("domain").and_then(Value::as_str);
        let (Some(id), Some(domain)) = (id, domain) else {
            bail!("a created company lacks its id or domain: {record}")
        };
        companies.push((id, domain.to_owned()));
    }
    Ok(companies)
}

/// A demo contact (most at one of `companies`) with a `segment`.
fn new_contact(rng: &mut Rng, index: usize, companies: &[(Uuid, String)]) -> Map<String, Value> {
    let company = (!rng.chance(FREELANCERS))
        .then(|| rng.pick(companies))
        .map(|(id, domain)| (*id, domain.as_str()));
    let mut contact = demo::contact(rng, index, company);
    let segment = if index % RARE_EVERY == RARE_EVERY / 2 {
        RARE_SEGMENT
    } else {
        COMMON_SEGMENTS[index % COMMON_SEGMENTS.len()]
    };
    contact.insert("segment".into(), segment.into());
    contact
}

/// The batch insert: records/s over the whole seeding and the latency of each request.
pub(crate) struct Insert {
    pub(crate) records: usize,
    pub(crate) elapsed: Duration,
    batches: Stats,
}

impl Insert {
    pub(crate) fn rate(&self) -> f64 {
        self.records as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

async fn seed_contacts(
    api: &Api,
    rng: &mut Rng,
    companies: &[(Uuid, String)],
    records: usize,
) -> anyhow::Result<(Insert, Vec<Contact>)> {
    let bodies: Vec<String> = (0..records)
        .step_by(BATCH)
        .map(|start| {
            let batch: Vec<Value> = (start..records.min(start + BATCH))
                .map(|i| Value::Object(new_contact(rng, i, companies)))
                .collect();
            json!({ "operation": "create", "records": batch }).to_string()
        })
        .collect();
    let requests = bodies
        .into_iter()
        .map(|body| api.post_raw("contacts/batch", body))
        .collect::<anyhow::Result<Vec<_>>>()?;
    eprintln!("  seeding {records} contacts in {} batches", requests.len());
    let started = Instant::now();
    let replies = api.expect_each(requests, StatusCode::OK).await?;
    let insert = Insert {
        records,
        elapsed: started.elapsed(),
        batches: Stats::of(replies.iter().map(|r| r.elapsed)),
    };
    eprintln!(
        "  seeded {records} contacts in {:.2} s: {:.0} records/s",
        insert.elapsed.as_secs_f64(),
        insert.rate()
    );

    let mut contacts = Vec::with_capacity(records);
    for reply in &replies {
        for record in records_of(reply)? {
            let text = |key: &str| record.get(key).and_then(Value::as_str).map(str::to_owned);
            let (Some(id), Some(email), Some(last_name)) =
                (text("id"), text("email"), text("last_name"))
            else {
                bail!("a created contact lacks its id, email or last name: {record}");
            };
            contacts.push(Contact {
                id,
                email,
                last_name,
            });
        }
    }
    if contacts.len() != records {
        bail!(
            "the batches created {} contacts, not {records}",
            contacts.len()
        );
    }
    Ok((insert, contacts))
}

/// `POST /contacts`, one record at a time.
async fn bench_create(
    api: &Api,
    rng: &mut Rng,
    companies: &[(Uuid, String)],
    records: usize,
) -> anyhow::Result<Row> {
    let requests = (0..WARMUP + POSTS)
        .map(|i| {
            api.post(
                "contacts",
                &Value::Object(new_contact(rng, records + i, companies)),
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let replies = api.expect_each(requests, StatusCode::CREATED).await?;
    Ok(Row::new(
        "POST /contacts (one record)",
        Stats::of(replies.iter().skip(WARMUP).map(|r| r.elapsed)),
        Some(Target::MedianAtMost(2.0)),
    ))
}

/// `GET /contacts/{id}` of random seeded contacts.
async fn bench_get(api: &Api, rng: &mut Rng, contacts: &[Contact]) -> anyhow::Result<Row> {
    let requests = (0..WARMUP + GETS)
        .map(|_| api.get(&format!("contacts/{}", rng.pick(contacts).id)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let replies = api.expect_each(requests, StatusCode::OK).await?;
    Ok(Row::new(
        "GET /contacts/{id}",
        Stats::of(replies.iter().skip(WARMUP).map(|r| r.elapsed)),
        Some(Target::MedianAtMost(0.5)),
    ))
}

/// The filtered lists: equality on indexed fields, and on the custom, not indexed field.
#[derive(Debug, Clone, Copy)]
enum ListKind {
    Email,
    LastName,
    CommonSegment,
    RareSegment,
}

impl ListKind {
    const ALL: [ListKind; 4] = [
        ListKind::Email,
        ListKind::LastName,
        ListKind::CommonSegment,
        ListKind::RareSegment,
    ];

    fn operation(self) -> String {
        match self {
            ListKind::Email => "list email[eq] (indexed), varying emails".into(),
            ListKind::LastName => "list last_name[eq] (indexed), varying names".into(),
            ListKind::CommonSegment => {
                "list segment[eq] (custom, not indexed), common values".into()
            }
            ListKind::RareSegment => {
                format!(
                    "list segment[eq] (custom, not indexed), rare value ({}%)",
                    100.0 / RARE_EVERY as f64
                )
            }
        }
    }

    fn filter(self, rng: &mut Rng, contacts: &[Contact]) -> String {
        match self {
            ListKind::Email => eq_filter("email", &rng.pick(contacts).email),
            ListKind::LastName => eq_filter("last_name", &rng.pick(contacts).last_name),
            ListKind::CommonSegment => eq_filter("segment", rng.pick::<&str>(&COMMON_SEGMENTS)),
            ListKind::RareSegment => eq_filter("segment", RARE_SEGMENT),
        }
    }

    fn target(self) -> Target {
        match self {
            ListKind::Email | ListKind::LastName => Target::P99AtMost(10.0),
            ListKind::CommonSegment | ListKind::RareSegment => Target::P99AtMost(50.0),
        }
    }
}

/// Lists of 50, each filter kind in turn; every list must find something.
async fn bench_lists(api: &Api, rng: &mut Rng, contacts: &[Contact]) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::with_capacity(ListKind::ALL.len());
    for kind in ListKind::ALL {
        let requests = (0..WARMUP + LISTS)
            .map(|_| api.list(&kind.filter(rng, contacts)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let replies = api.expect_each(requests, StatusCode::OK).await?;
        for reply in &replies {
            if records_of(reply)?.is_empty() {
                return Err(reply.unexpected("at least one matching record"));
            }
        }
        rows.push(Row::new(
            kind.operation(),
            Stats::of(replies.iter().skip(WARMUP).map(|r| r.elapsed)),
            Some(kind.target()),
        ));
    }
    Ok(rows)
}

/// `field[eq]:"value"`, quoted so any value reads back as itself.
impl Api {
    /// `GET /contacts?filter=…&limit=50`.
    fn list(&self, filter: &str) -> anyhow::Result<RequestBuilder> {
        self.list_page(Some(filter))
    }

    /// `GET /contacts?limit=50`, with a filter if any, in the default order.
    fn list_page(&self, filter: Option<&str>) -> anyhow::Result<RequestBuilder> {
        let mut query = vec![("limit", LIST_LIMIT)];
        query.extend(filter.map(|filter| ("filter", filter)));
        self.get(&format!("contacts?{}", form_body(&query)))
    }
}

pub(crate) fn eq_filter(field: &str, value: &str) -> String {
    op_filter(field, "eq", value)
}

/// `field[op]:"value"`, quoted so any value reads back as itself.
fn op_filter(field: &str, op: &str, value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('"', "\\\"");
    format!("{field}[{op}]:\"{escaped}\"")
}

/// What the concurrent writers did.
struct Updates {
    successes: u64,
    conflicts: u64,
    elapsed: Duration,
    /// Successful PATCHes minus the growth of the sum of `hits`.
    lost: i64,
    /// Latencies of every PATCH, answered 200 or 412.
    patches: Stats,
}

impl Updates {
    fn rate(&self) -> f64 {
        self.successes as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    fn conflict_rate(&self) -> f64 {
        let attempts = self.successes + self.conflicts;
        if attempts == 0 {
            0.0
        } else {
            self.conflicts as f64 / attempts as f64
        }
    }
}

/// One writer's tally.
#[derive(Default)]
struct Tally {
    successes: u64,
    conflicts: u64,
    server_errors: usize,
    patch_latencies: Vec<Duration>,
}

async fn bench_concurrent_updates(api: &Api, hot: Vec<String>) -> anyhow::Result<Updates> {
    let before = sum_of_hits(api, &hot).await?;
    let hot: Arc<[String]> = hot.into();
    let started = Instant::now();
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..WRITERS {
        writers.spawn(write_loop(
            api.clone(),
            hot.clone(),
            SEED + 1 + writer as u64,
        ));
    }
    let mut total = Tally::default();
    while let Some(joined) = writers.join_next().await {
        let tally = joined.context("a writer panicked")??;
        total.successes += tally.successes;
        total.conflicts += tally.conflicts;
        total.patch_latencies.extend(tally.patch_latencies);
    }
    let elapsed = started.elapsed();
    let after = sum_of_hits(api, &hot).await?;
    let successes = i64::try_from(total.successes).unwrap_or(i64::MAX);
    let updates = Updates {
        successes: total.successes,
        conflicts: total.conflicts,
        elapsed,
        lost: successes - (after - before),
        patches: Stats::of(total.patch_latencies),
    };
    eprintln!(
        "  {} successful PATCHes in {:.2} s, {} conflicts, sum of hits {before} → {after}",
        updates.successes,
        elapsed.as_secs_f64(),
        updates.conflicts
    );
    Ok(updates)
}

/// Increments `hits` of random hot records until `UPDATES_PER_WRITER` increments succeeded.
async fn write_loop(api: Api, hot: Arc<[String]>, seed: u64) -> anyhow::Result<Tally> {
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    while tally.successes < UPDATES_PER_WRITER as u64 {
        let path = format!("contacts/{}", rng.pick(&hot[..]));
        increment_hits(&api, &path, &mut tally).await?;
    }
    Ok(tally)
}

/// Reads the record and writes `hits + 1` if it has not changed meanwhile, until that works.
async fn increment_hits(api: &Api, path: &str, tally: &mut Tally) -> anyhow::Result<()> {
    loop {
        let read = api.send(api.get(path)?).await?;
        if read.status.is_server_error() {
            note_server_error(&read, tally)?;
            continue;
        }
        if read.status != StatusCode::OK {
            return Err(read.unexpected("200"));
        }
        let record = read.json()?;
        let version = record
            .get("version")
            .and_then(Value::as_i64)
            .ok_or_else(|| read.unexpected("a `version`"))?;
        let hits = record.get("hits").and_then(Value::as_i64).unwrap_or(0);
        let patch = api
            .patch(path, &json!({ "hits": hits + 1 }))?
            .header(IF_MATCH, format!("\"{version}\""));
        let reply = api.send(patch).await?;
        match reply.status {
            StatusCode::OK => {
                tally.patch_latencies.push(reply.elapsed);
                tally.successes += 1;
                return Ok(());
            }
            StatusCode::PRECONDITION_FAILED => {
                tally.patch_latencies.push(reply.elapsed);
                tally.conflicts += 1;
            }
            status if status.is_server_error() => note_server_error(&reply, tally)?,
            _ => return Err(reply.unexpected("200 or 412")),
        }
    }
}

/// Counts a 5xx (the client counts it too) and gives up after too many.
fn note_server_error(reply: &Reply, tally: &mut Tally) -> anyhow::Result<()> {
    tally.server_errors += 1;
    if tally.server_errors == 1 {
        eprintln!("warning: {}", reply.unexpected("no server error"));
    }
    if tally.server_errors >= MAX_WRITER_ERRORS {
        return Err(reply
            .unexpected("no server error")
            .context(format!("a writer got {MAX_WRITER_ERRORS} server errors")));
    }
    Ok(())
}

/// The sum of `hits` over records (a missing value counts as 0).
async fn sum_of_hits(api: &Api, ids: &[String]) -> anyhow::Result<i64> {
    let mut sum = 0;
    for id in ids {
        let reply = api
            .expect(api.get(&format!("contacts/{id}"))?, StatusCode::OK)
            .await?;
        sum += reply
            .json()?
            .get("hits")
            .and_then(Value::as_i64)
            .unwrap_or(0);
    }
    Ok(sum)
}

// -- the cost of security ------------------------------------------------------------------------

/// The permission and login-flood measurements of one database.
struct Security {
    /// Their timed rows, moved into the report's rows.
    rows: Vec<Row>,
    /// Lists as the admin and as the `own`-only users.
    own: Vec<OwnCost>,
    flood: Flood,
    /// The server's memory after the flood.
    memory: Option<Memory>,
}

/// The same list, timed as the admin and as users who see only their own records.
struct OwnCost {
    list: String,
    admin: Stats,
    own: Stats,
}

async fn bench_security(
    kith: &Path,
    url: &str,
    dir: &Path,
    api: &Api,
    contacts: &[Contact],
) -> anyhow::Result<Security> {
    let levels = json!({ "create": "own", "read": "own", "edit": "own", "delete": "own" });
    let users = Users {
        role: OWN_ROLE,
        types: json!({ "*": levels }),
        count: REPS,
        email_prefix: "rep",
    };
    let reps = create_users(kith, url, dir, api, &users).await?;
    assign_owners(api, contacts, &reps).await?;
    let prefix = common_prefix(contacts);
    let mut rows = Vec::new();
    let mut own = Vec::new();
    for filter in [None, Some(op_filter("last_name", "starts_with", &prefix))] {
        let list = match &filter {
            None => "list (no filter, default order)".to_owned(),
            Some(filter) => format!("list {filter}"),
        };
        let filter = filter.as_deref();
        let admin = bench_list_as_admin(api, filter).await?;
        rows.push(Row::new(format!("{list}, admin"), admin, None));
        // With a filter, a rep may own no match; without one, each owns 1% of the contacts.
        let own_stats = bench_list_as_reps(&reps, filter, filter.is_none()).await?;
        rows.push(Row::new(format!("{list}, own-only role"), own_stats, None));
        own.push(OwnCost {
            list,
            admin,
            own: own_stats,
        });
    }
    let flood = bench_login_flood(api, &reps, contacts).await?;
    rows.extend([
        Row::new(
            "GET /contacts/{id}, paced 100/s, quiet (flood baseline)",
            flood.baseline,
            None,
        ),
        Row::new(
            format!("GET /contacts/{{id}}, paced 100/s, during {LOGIN_RATE} logins/s"),
            flood.during,
            None,
        ),
        Row::new(
            "POST /auth/login during the flood (answered 200)",
            flood.logins,
            None,
        ),
    ]);
    Ok(Security {
        rows,
        own,
        flood,
        memory: None,
    })
}

/// Makes rep `r` the owner of the contacts whose index is `r` modulo `OWNER_EVERY`.
async fn assign_owners(api: &Api, contacts: &[Contact], reps: &[Rep]) -> anyhow::Result<()> {
    let updates: Vec<Value> = contacts
        .iter()
        .enumerate()
        .filter_map(|(i, contact)| {
            reps.get(i % OWNER_EVERY)
                .map(|rep| json!({ "id": contact.id, "owner": rep.id }))
        })
        .collect();
    for chunk in updates.chunks(BATCH) {
        let body = json!({ "operation": "update", "records": chunk });
        api.expect(api.post("contacts/batch", &body)?, StatusCode::OK)
            .await?;
    }
    eprintln!(
        "  gave {} contacts to the {} reps",
        updates.len(),
        reps.len()
    );
    Ok(())
}

/// The most common two-letter start of the seeded last names.
fn common_prefix(contacts: &[Contact]) -> String {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for contact in contacts {
        let prefix: String = contact.last_name.chars().take(2).collect();
        *counts.entry(prefix).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|(_, count)| *count)
        .map(|(prefix, _)| prefix)
        .unwrap_or_default()
}

/// Lists of 50 as the admin; each must find something.
async fn bench_list_as_admin(api: &Api, filter: Option<&str>) -> anyhow::Result<Stats> {
    let requests = (0..WARMUP + LISTS)
        .map(|_| api.list_page(filter))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let replies = api.expect_each(requests, StatusCode::OK).await?;
    for reply in &replies {
        if records_of(reply)?.is_empty() {
            return Err(reply.unexpected("at least one record"));
        }
    }
    Ok(Stats::of(replies.iter().skip(WARMUP).map(|r| r.elapsed)))
}

/// Lists of 50 as the reps in turn; each may only see records it owns.
async fn bench_list_as_reps(
    reps: &[Rep],
    filter: Option<&str>,
    must_find: bool,
) -> anyhow::Result<Stats> {
    let mut latencies = Vec::with_capacity(LISTS);
    for (i, rep) in reps.iter().cycle().take(WARMUP + LISTS).enumerate() {
        let reply = rep
            .api
            .expect(rep.api.list_page(filter)?, StatusCode::OK)
            .await?;
        let records = records_of(&reply)?;
        if must_find && records.is_empty() {
            return Err(reply.unexpected(&format!("records owned by {}", rep.email)));
        }
        if let Some(record) = records
            .iter()
            .find(|r| r.get("owner").and_then(Value::as_str) != Some(rep.id.as_str()))
        {
            bail!(
                "{} (own-only role) was shown a record it does not own: {record}",
                rep.email
            );
        }
        if i >= WARMUP {
            latencies.push(reply.elapsed);
        }
    }
    Ok(Stats::of(latencies))
}

/// The GETs timed on the quiet server and during the login flood, and the logins.
struct Flood {
    baseline: Stats,
    during: Stats,
    /// How long the flood ran.
    elapsed: Duration,
    sent: usize,
    /// Latencies of the logins answered 200.
    logins: Stats,
    /// The other answers (status, or the client's error), and how many of each.
    others: std::collections::BTreeMap<String, usize>,
}

async fn bench_login_flood(api: &Api, reps: &[Rep], contacts: &[Contact]) -> anyhow::Result<Flood> {
    let mut rng = Rng::new(SEED + 100);
    let mut ids = |n: usize| -> Vec<String> {
        (0..n)
            .map(|_| format!("contacts/{}", rng.pick(contacts).id))
            .collect()
    };
    let quiet_paths = ids(WARMUP + FLOOD_GETS);
    let flood_paths = ids(WARMUP + FLOOD_GETS);
    let baseline = paced_gets(api, &quiet_paths).await?;
    eprintln!(
        "  quiet GETs: median {:.3} ms, p99 {:.3} ms",
        millis(baseline.p50),
        millis(baseline.p99)
    );

    let anonymous = api.with_token(None)?;
    let bodies: Arc<[String]> = reps
        .iter()
        .map(|rep| {
            json!({ "email": rep.email, "password": USER_PASSWORD, "workspace": WORKSPACE })
                .to_string()
        })
        .collect();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let started = Instant::now();
    let flood = tokio::spawn(login_flood(anonymous, bodies, Arc::clone(&stop)));
    tokio::time::sleep(FLOOD_RAMP).await;
    let during = paced_gets(api, &flood_paths).await;
    if let Some(left) = (FLOOD_RAMP + FLOOD_MIN).checked_sub(started.elapsed()) {
        tokio::time::sleep(left).await;
    }
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let outcomes = flood.await.context("the login flood panicked")?;
    let during = during?;

    let mut logins = Vec::new();
    let mut others = std::collections::BTreeMap::new();
    for outcome in &outcomes {
        match outcome {
            Ok((StatusCode::OK, latency)) => logins.push(*latency),
            Ok((status, _)) => *others.entry(status.to_string()).or_insert(0) += 1,
            Err(error) => *others.entry(format!("error: {error}")).or_insert(0) += 1,
        }
    }
    let flood = Flood {
        baseline,
        during,
        elapsed,
        sent: outcomes.len(),
        logins: Stats::of(logins),
        others,
    };
    eprintln!(
        "  login flood: {} logins sent in {:.1} s, {} answered 200, others {:?}",
        flood.sent,
        elapsed.as_secs_f64(),
        flood.logins.n,
        flood.others
    );
    Ok(flood)
}

/// GETs one at a time, one every `FLOOD_GET_EVERY` (later if one is slower), the first
/// `WARMUP` not counted.
async fn paced_gets(api: &Api, paths: &[String]) -> anyhow::Result<Stats> {
    let mut interval = tokio::time::interval(FLOOD_GET_EVERY);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut replies = Vec::with_capacity(paths.len());
    for path in paths {
        interval.tick().await;
        replies.push(api.expect(api.get(path)?, StatusCode::OK).await?);
    }
    Ok(Stats::of(replies.iter().skip(WARMUP).map(|r| r.elapsed)))
}

/// A login's status and latency, or why it got no answer.
type LoginOutcome = Result<(StatusCode, Duration), String>;

/// Sends `LOGIN_RATE` logins a second, rotating through `bodies`, each in its own task so
/// that slow answers do not slow the pace, until `stop`; then waits for every answer.
async fn login_flood(
    api: Api,
    bodies: Arc<[String]>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<LoginOutcome> {
    let mut interval = tokio::time::interval(Duration::from_secs(1) / LOGIN_RATE);
    let mut logins = tokio::task::JoinSet::new();
    let mut sent = 0;
    while !stop.load(Ordering::Relaxed) {
        interval.tick().await;
        let body = bodies[sent % bodies.len()].clone();
        sent += 1;
        let api = api.clone();
        logins.spawn(async move {
            let request = api
                .post_raw("auth/login", body)
                .map_err(|e| e.to_string())?;
            let reply = api.send(request).await.map_err(|e| format!("{e:#}"))?;
            Ok((reply.status, reply.elapsed))
        });
    }
    let mut outcomes = Vec::with_capacity(sent);
    while let Some(joined) = logins.join_next().await {
        outcomes.push(joined.unwrap_or_else(|e| Err(format!("the login task failed: {e}"))));
    }
    outcomes
}

// -- the report ----------------------------------------------------------------------------------

fn standard_notes(records: usize) -> Vec<String> {
    vec![
        format!(
            "Each database starts empty; {COMPANIES} companies and {records} contacts ({:.0}% at a company) are seeded through the batch endpoint first, then `POST` adds {} more.",
            (1.0 - FREELANCERS) * 100.0,
            WARMUP + POSTS
        ),
        format!(
            "Latencies: one request at a time over keep-alive loopback connections, timed until the whole answer is read; {WARMUP} warm-up requests per operation are not counted; median and p99 are nearest-rank."
        ),
        format!(
            "`segment` and `hits` are custom fields added before seeding, not indexed; `{RARE_SEGMENT}` is held by one contact in {RARE_EVERY}, so a list of 50 cannot stop early: it reads at least half the contacts to fill its page."
        ),
        format!(
            "Concurrent updates: {WRITERS} writers each increment `hits` {UPDATES_PER_WRITER} times on random records among the same {HOT_RECORDS} (GET, then PATCH with `If-Match`, re-read and retry on 412). The PATCH row times every PATCH, 200 or 412."
        ),
        "Server memory is the `kith` process's VmRSS after the workload (peak: VmHWM); PostgreSQL's own processes are not included.".to_owned(),
        format!(
            "Permissions: after the rows above, the admin saves a role `{OWN_ROLE}` with `own` create/read/edit/delete on every type and creates {REPS} users holding it (tokens from the CLI); a batch update makes each of them the owner of {:.0}% of the seeded contacts. The same list of {LIST_LIMIT} (default order, unfiltered, then filtered on the most common two-letter `last_name` prefix) is timed {LISTS} times as the admin, then {LISTS} times as the {REPS} users in turn (each series after {WARMUP} warm-up requests), checking that they see only their own records. The ratio target is judged on p99.",
            100.0 / OWNER_EVERY as f64
        ),
        format!(
            "Login flood: {LOGIN_RATE} `POST /auth/login`/s with correct passwords, rotating through the {REPS} users, each in its own task on separate connections. `GET /contacts/{{id}}` of random contacts is timed {FLOOD_GETS} times (after {WARMUP} warm-up), one every {} ms, first on the quiet server, then from {} s into the flood, which runs at least {} s. The memory line is read after the flood.",
            FLOOD_GET_EVERY.as_millis(),
            FLOOD_RAMP.as_secs(),
            FLOOD_MIN.as_secs()
        ),
    ]
}

fn render_section(reports: &[Report], notes: &[String], machine: &Machine) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## HTTP API benchmark\n");
    let _ = writeln!(out, "{}\n", machine.run_line());
    let _ = writeln!(
        out,
        "| database | operation | n | median ms | p99 ms | target | met? |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---|---|");
    for report in reports {
        for row in &report.rows {
            let (target, met) = match row.target {
                Some(target) => (target.describe(), yes_no(target.met(&row.stats))),
                None => ("—".to_owned(), "—"),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.3} | {:.3} | {target} | {met} |",
                report.database,
                row.operation,
                row.stats.n,
                millis(row.stats.p50),
                millis(row.stats.p99)
            );
        }
    }
    let _ = writeln!(out, "\n| database | measure | value | target | met? |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    for report in reports {
        for line in summary(report) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                report.database, line.name, line.value, line.target, line.met
            );
        }
    }
    let _ = writeln!(out);
    for note in notes {
        let _ = writeln!(out, "- {note}");
    }
    out
}

/// A line of the summary table.
struct Measure {
    name: String,
    value: String,
    target: String,
    met: &'static str,
}

impl Measure {
    fn new(
        name: impl Into<String>,
        value: String,
        target: impl Into<String>,
        met: Option<bool>,
    ) -> Measure {
        Measure {
            name: name.into(),
            value,
            target: target.into(),
            met: met.map_or("—", yes_no),
        }
    }
}

/// The throughput, correctness and memory lines of one database.
fn summary(report: &Report) -> Vec<Measure> {
    let insert = &report.insert;
    let insert_value = format!(
        "{} records/s ({} contacts in {:.2} s)",
        thousands(insert.rate()),
        insert.records,
        insert.elapsed.as_secs_f64()
    );
    let insert_line = if report.database == Backend::Sqlite.label() {
        Measure::new(
            "batch insert throughput",
            insert_value,
            format!("≥ {} records/s", thousands(INSERT_TARGET)),
            Some(insert.rate() >= INSERT_TARGET),
        )
    } else {
        Measure::new(
            "batch insert throughput",
            insert_value,
            "— (the target is for SQLite)",
            None,
        )
    };
    let updates = &report.updates;
    let attempts = updates.successes + updates.conflicts;
    let rss = Memory::megabytes(report.memory.rss_kib);
    let mut lines = vec![
        insert_line,
        Measure::new(
            "concurrent updates",
            format!(
                "{} updates/s; conflict rate {:.1}% ({} of {attempts} PATCHes got 412)",
                thousands(updates.rate()),
                updates.conflict_rate() * 100.0,
                updates.conflicts
            ),
            "—",
            None,
        ),
        Measure::new(
            "lost updates",
            format!(
                "{} (of {} successful PATCHes)",
                updates.lost, updates.successes
            ),
            "0",
            Some(updates.lost == 0),
        ),
        Measure::new(
            "5xx answers",
            report.server_errors.to_string(),
            "0",
            Some(report.server_errors == 0),
        ),
        Measure::new(
            "server memory (VmRSS)",
            report.memory.describe(),
            format!("≤ {RSS_TARGET_MB} MB"),
            Some(rss <= RSS_TARGET_MB),
        ),
    ];
    lines.extend(security_summary(&report.security));
    lines
}

/// The own-filter ratios, the login flood and the memory after it.
fn security_summary(security: &Security) -> Vec<Measure> {
    let mut lines = Vec::new();
    for cost in &security.own {
        let p50 = cost.own.p50_ratio(&cost.admin);
        let p99 = cost.own.p99_ratio(&cost.admin);
        lines.push(Measure::new(
            format!("own-filter cost, {}", cost.list),
            format!("p50 ratio {p50:.2}×, p99 ratio {p99:.2}× (own-only role ÷ admin)"),
            format!("p99 ratio ≤ {OWN_RATIO_TARGET}× (met? is judged on p99)"),
            Some(p99 <= OWN_RATIO_TARGET),
        ));
    }
    let flood = &security.flood;
    let others = if flood.others.is_empty() {
        "none".to_owned()
    } else {
        flood
            .others
            .iter()
            .map(|(answer, count)| format!("{count}× {answer}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    lines.push(Measure::new(
        format!("GET /contacts/{{id}} during {LOGIN_RATE} logins/s"),
        format!(
            "p50 {:.3} → {:.3} ms ({:.2}×), p99 {:.3} → {:.3} ms ({:.2}×), quiet → flood",
            millis(flood.baseline.p50),
            millis(flood.during.p50),
            flood.during.p50_ratio(&flood.baseline),
            millis(flood.baseline.p99),
            millis(flood.during.p99),
            flood.during.p99_ratio(&flood.baseline),
        ),
        "— (\"cannot stall the API\"; no number)",
        None,
    ));
    lines.push(Measure::new(
        "logins during the flood",
        format!(
            "{} sent in {:.1} s ({:.1}/s); {} answered 200 (median {:.1} ms, p99 {:.1} ms); other answers: {others}",
            flood.sent,
            flood.elapsed.as_secs_f64(),
            flood.sent as f64 / flood.elapsed.as_secs_f64().max(f64::EPSILON),
            flood.logins.n,
            millis(flood.logins.p50),
            millis(flood.logins.p99),
        ),
        "— (other answers are listed)",
        None,
    ));
    if let Some(memory) = &security.memory {
        lines.push(Measure::new(
            "server memory after the login flood",
            memory.describe(),
            "—",
            None,
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_quote_their_values() {
        assert_eq!(
            eq_filter("last_name", r#"O"Brien\"#),
            r#"last_name[eq]:"O\"Brien\\""#
        );
    }
}
