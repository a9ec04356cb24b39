//! `cargo xtask bench-ui`: the server time of the web app's pages with 100k records, on
//! SQLite and on PostgreSQL, the size of what a browser needs before its first paint and of
//! a board, and the record picker's answers up to a million records.
//!
//! For each database the bench:
//!
//! 1. starts a release `kith serve` on a fresh database and seeds it as `bench-api` does (the
//!    bench admin made with `kith user create`, the two custom contact fields, 300 demo
//!    companies, then `--records` demo contacts through the batch endpoint);
//! 2. logs in like a browser: `POST /login` with the urlencoded form fields `email`,
//!    `password` and `workspace`, which must answer 303 with a `kith_session` cookie; every
//!    page request sends that cookie and no redirect is followed, so a lost session fails the
//!    bench instead of timing the login page;
//! 3. times the home page and contact record pages once for reference, then adds
//!    `--activities` demo activities (default: as many as contacts), each linked to a random
//!    contact and half of them to a random company too (as `kith demo` links them): they fill
//!    the record pages' timelines and the home page's open tasks;
//! 4. times each kind of page, one request at a time from one client over a keep-alive
//!    connection, after a warm-up: the home page, the contacts list (its first page, sorted by
//!    `-last_name`, filtered on `last_name` starting with "Sm", and pages 2 to 11 reached by
//!    following the `rel="next"` link), the companies list, record pages of contacts and of
//!    companies spread evenly over the data set, and the companies' board by industry (its
//!    size too). Every answer must be a 200 with `text/html`, and a list must show its rows;
//! 5. times the contacts list and the contact record pages again with 4 clients at once, each
//!    on its own connection, and counts pages per second;
//! 6. fetches the stylesheets and scripts the layout links (read from a page's `<link
//!    rel="stylesheet">` and `<script src>`) and reports their sizes against the CSS budget;
//! 7. times the record picker (`GET /records/<plural>/pick?q=`, JSON from the search index)
//!    of contacts and of companies, one request at a time, with what a person types while
//!    picking one of the seeded records: 2, 3 and 4 letters, the whole name, and nothing.
//!    Before that it adds one contact and polls the picker until it finds it by its email,
//!    so the search index has caught up with every write;
//! 8. with `--picker-records N`, adds demo contacts through the batch endpoint until the
//!    database holds N contacts (records counted as `--records` counts them), waits for the
//!    index again and times the picker at that size.
//!
//! Before timing, each page is checked once: lists show their rows and the count of the
//! records they match, company pages' timelines roll up their contacts' activities, and the
//! board's cards are counted; the labels in the table say what was found. The targets: p99 ≤
//! 20 ms for list and record pages at 100k records, CSS under 50 KB, the picker's p99 ≤ 50 ms
//! at a million records (judged only when that many were seeded), and a board of 300 cards
//! in ≤ 150 KB of HTML.
//!
//! A latency is the wall-clock time from sending a request to having read its whole answer:
//! the server's time plus the loopback round trip and the client's own cost. Percentiles are
//! nearest-rank over the sorted samples (`bench-api`'s statistics), and the verdicts are
//! computed from the figures.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use host::demo::{self, Rng};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderMap, HeaderValue, SET_COOKIE};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    self as bench, ADMIN_EMAIL, ADMIN_PASSWORD, Api, Backend, Databases, Machine, Memory, Reply,
    Stats, WORKSPACE, api, api::Seeded, close_section, form_body, millis, records_of, table,
    thousands, yes_no,
};

/// The issue's targets: p99 of list and record pages, and the CSS a first paint waits for.
const PAGE_P99_TARGET_MS: f64 = 20.0;
const CSS_TARGET_KB: f64 = 50.0;
/// The records the page target is stated for.
const TARGET_RECORDS: usize = 100_000;
/// Issue 23's targets: the record picker's p99 at a million records, and a board's HTML.
const PICKER_P99_TARGET_MS: f64 = 50.0;
const PICKER_TARGET_RECORDS: usize = 1_000_000;
const BOARD_TARGET_KB: f64 = 150.0;
const BOARD_TARGET_CARDS: usize = 300;

/// Requests per page kind before the timed ones, not counted.
const WARMUP: usize = 30;
/// Clients of the concurrent runs.
const CLIENTS: usize = 4;
/// Rows of a list page (`PAGE_ROWS` of the web app).
const LIST_ROWS: usize = 50;
/// Later list pages timed in turn: pages 2 to `LATER_PAGES + 1`.
const LATER_PAGES: usize = 10;
/// Record pages of each type timed in turn, their ids spread over the seeded records.
const RECORD_PAGES: usize = 100;
/// Share of the activities also linked to a company.
const COMPANY_LINKS: f64 = 0.5;
const FILTER_PREFIX: &str = "Sm";
/// Records of each type whose names the picker's queries are drawn from.
const PICKER_SAMPLES: usize = 20;
/// Letters typed into a picker before the whole name: the first 2, 3 and 4.
const PICKER_PREFIXES: [usize; 3] = [2, 3, 4];
/// Records a picker shows at once (`PICK_ROWS` of the web app).
const PICK_ROWS: usize = 10;
/// How long the search index may take to catch up with the writes, and how often it is asked.
const INDEX_DEADLINE: Duration = Duration::from_secs(3_600);
const INDEX_POLL: Duration = Duration::from_millis(200);
/// What a company's timeline shows of an activity rolled up from one of its contacts.
const ROLLED_UP: &str = "on <a href=\"/records/contacts/";
const FORM: &str = "application/x-www-form-urlencoded";

const SECTION_START: &str = "<!-- bench-ui:start -->";
const SECTION_END: &str = "<!-- bench-ui:end -->";
const MARKERS: (&str, &str) = (SECTION_START, SECTION_END);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Contacts to seed (at least 1,000).
    #[arg(long, default_value_t = TARGET_RECORDS)]
    records: usize,
    /// Activities to seed, each linked to a contact and half of them to a company too
    /// (default: as many as --records, half the two per contact of `kith demo`).
    #[arg(long)]
    activities: Option<usize>,
    /// Timed requests per page kind (and per client in the concurrent runs).
    #[arg(long, default_value_t = 300)]
    requests: usize,
    /// After the other measurements, add contacts until the database holds this many (as
    /// --records counts them) and time the record picker again (0: skip).
    #[arg(long, default_value_t = 0)]
    picker_records: usize,
    #[command(flatten)]
    databases: Databases,
    /// Write the results into this markdown file (e.g. BENCHMARKS.md), replacing the section
    /// between `<!-- bench-ui:start -->` and `<!-- bench-ui:end -->`.
    #[arg(long)]
    write: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.records < api::RARE_EVERY {
        bail!("--records must be at least {}", api::RARE_EVERY);
    }
    if args.requests < 100 {
        bail!("--requests must be at least 100 (a p99 of fewer samples is their maximum)");
    }
    let (backends, mut notes) = args.databases.backends()?;
    let activities = args.activities.unwrap_or(args.records);
    // The contacts seeded, and the one each picker timing adds to wait for the index.
    if args.picker_records != 0 && args.picker_records <= args.records + 1 {
        bail!(
            "--picker-records must be 0 or more than the {} contacts seeded before it",
            args.records + 1
        );
    }
    if bench::rerun_release_build(&["host"])? {
        return Ok(());
    }
    let kith = bench::release_dir().join("kith");
    let machine = Machine::probe();
    let runtime = bench::runtime()?;
    let mut reports = Vec::with_capacity(backends.len());
    for backend in &backends {
        eprintln!("== {} ==", backend.label());
        reports.push(runtime.block_on(bench_backend(&kith, backend, &args, activities))?);
    }
    notes.extend(standard_notes(&args, activities));
    let section = render_section(&args, &reports, &notes, &machine);
    bench::publish_section(&section, args.write.as_deref(), MARKERS)
}

// -- one database --------------------------------------------------------------------------------

/// Everything measured on one database.
struct Report {
    database: &'static str,
    /// Contacts seeded per second through the batch endpoint.
    insert_rate: f64,
    pages: Vec<PageRow>,
    concurrent: Vec<ConcurrentRow>,
    assets: Assets,
    /// The record picker at each size timed, smallest first.
    pickers: Vec<PickerSize>,
    memory: Memory,
    server_errors: u64,
}

async fn bench_backend(
    kith: &Path,
    backend: &Backend,
    args: &Args,
    activities: usize,
) -> anyhow::Result<Report> {
    bench::on_fresh_database(backend, |url, dir| async move {
        let (server, api) = bench::start_server(kith, &url, &dir).await?;
        let mut rng = Rng::new(api::SEED);
        let seeded = api::seed(&api, &mut rng, args.records).await?;
        let cookie = log_in(&api).await?;
        let web = api.with_headers(cookie.clone())?;
        // The pages that read activities, timed before there are any: what they cost.
        let mut references = Vec::new();
        if activities > 0 {
            for page in [home(), contact_pages(&seeded)] {
                let mut row = time_page(&web, &page, args.requests).await?;
                row.label = format!("{}, before the activities were added", row.label);
                row.kind = Kind::Other;
                references.push(row);
            }
        }
        seed_activities(&api, &mut rng, &seeded, activities).await?;
        let (pages, first_page) = pages(&web, &seeded, activities).await?;
        let mut rows = Vec::with_capacity(pages.len() + references.len());
        for page in &pages {
            rows.push(time_page(&web, page, args.requests).await?);
        }
        rows.append(&mut references);
        let mut concurrent = Vec::new();
        for page in pages.iter().filter(|p| p.concurrent) {
            concurrent.push(time_concurrently(&api, &cookie, page, args.requests).await?);
        }
        let assets = fetch_assets(&web, &first_page).await?;
        let mut seeding = Seeding {
            api: &api,
            rng,
            companies: &seeded.companies,
            contacts: args.records,
        };
        let mut pickers = vec![time_pickers(&web, &mut seeding, &seeded, args.requests).await?];
        if args.picker_records > seeding.contacts {
            let added = seeding.top_up(args.picker_records - 1).await?;
            let mut size = time_pickers(&web, &mut seeding, &seeded, args.requests).await?;
            size.top_up = Some(added);
            pickers.push(size);
        }
        Ok(Report {
            database: backend.label(),
            insert_rate: seeded.insert.rate(),
            pages: rows,
            concurrent,
            assets,
            pickers,
            memory: server.memory()?,
            server_errors: api.server_errors(),
        })
    })
    .await
}

/// Adds `count` demo activities in batches, each linked to a random seeded contact and, with
/// odds `COMPANY_LINKS`, a random company.
async fn seed_activities(
    api: &Api,
    rng: &mut Rng,
    seeded: &api::Seeded,
    count: usize,
) -> anyhow::Result<()> {
    let contacts = seeded
        .contacts
        .iter()
        .map(|c| Uuid::parse_str(&c.id).with_context(|| format!("bad contact id {}", c.id)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let now = chrono::Utc::now();
    let started = Instant::now();
    for start in (0..count).step_by(api::BATCH) {
        let records: Vec<Value> = (start..count.min(start + api::BATCH))
            .map(|_| {
                let mut links = vec![*rng.pick(&contacts)];
                if rng.chance(COMPANY_LINKS) {
                    links.push(rng.pick(&seeded.companies).0);
                }
                Value::Object(demo::activity(rng, &links, now))
            })
            .collect();
        let body = json!({ "operation": "create", "records": records });
        api.expect(api.post("activities/batch", &body)?, StatusCode::OK)
            .await?;
    }
    eprintln!(
        "  seeded {count} activities in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Logs in as the bench admin through the login form, as a browser does, and returns the
/// `Cookie` header that carries the session.
async fn log_in(api: &Api) -> anyhow::Result<HeaderMap> {
    let browser = api.with_headers(HeaderMap::new())?;
    let form = form_body(&[
        ("email", ADMIN_EMAIL),
        ("password", ADMIN_PASSWORD),
        ("workspace", WORKSPACE),
    ]);
    let reply = browser
        .expect(
            browser.post_typed("/login", FORM, form)?,
            StatusCode::SEE_OTHER,
        )
        .await?;
    let session = reply
        .headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .find(|pair| pair.starts_with("kith_session=") && pair.len() > "kith_session=".len())
        .ok_or_else(|| reply.unexpected("a `Set-Cookie: kith_session=…`"))?;
    let mut value = HeaderValue::from_str(session).context("the session cookie is malformed")?;
    value.set_sensitive(true);
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, value);
    Ok(headers)
}

// -- the pages -----------------------------------------------------------------------------------

/// What a page is, for the targets: lists and record pages have the page target, a board the
/// size target; a picker answers JSON, not HTML.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Record,
    Board,
    Picker,
    Other,
}

/// What a page's answers must show besides their rows, checked once per URL before timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Nothing,
    /// The count of the records the list matches, which must be this (or, where the list
    /// stops counting, "N+" with N below it).
    Total(usize),
    /// A company's timeline: activities rolled up from its contacts.
    RolledUp,
    /// A board: its cards are counted.
    Cards,
}

/// A kind of page and the URLs timed in turn for it.
struct Page {
    label: String,
    kind: Kind,
    urls: Vec<String>,
    /// Table rows (a picker's hits) every answer must show, at least.
    min_rows: usize,
    check: Check,
    /// The cards the board shows, once checked.
    cards: Option<usize>,
    /// Where a list stopped counting (it showed "N+"), once checked.
    capped: Option<usize>,
    /// Timed with `CLIENTS` clients too.
    concurrent: bool,
}

impl Page {
    fn new(label: impl Into<String>, kind: Kind, urls: Vec<String>) -> Page {
        Page {
            label: label.into(),
            kind,
            urls,
            min_rows: 0,
            check: Check::Nothing,
            cards: None,
            capped: None,
            concurrent: false,
        }
    }

    fn rows(mut self, min_rows: usize) -> Page {
        self.min_rows = min_rows;
        self
    }

    fn check(mut self, check: Check) -> Page {
        self.check = check;
        self
    }

    fn concurrent(mut self) -> Page {
        self.concurrent = true;
        self
    }
}

/// The pages to time, checked once, and the HTML of the contacts list's first page.
async fn pages(
    web: &Api,
    seeded: &Seeded,
    activities: usize,
) -> anyhow::Result<(Vec<Page>, String)> {
    let first = "/records/contacts".to_owned();
    let first_page = fetch_page(web, &first, Kind::List, LIST_ROWS).await?.body;
    let mut later = Vec::with_capacity(LATER_PAGES);
    let mut html = first_page.clone();
    for page in 2..=LATER_PAGES + 1 {
        let next = next_link(&html).with_context(|| {
            format!("page {} of the contacts has no rel=\"next\" link", page - 1)
        })?;
        html = fetch_page(web, &next, Kind::List, LIST_ROWS).await?.body;
        later.push(next);
    }
    let companies = spread(&seeded.companies, RECORD_PAGES)
        .map(|(id, _)| format!("/records/companies/{id}"))
        .collect();
    let timelines = if activities > 0 {
        Check::RolledUp
    } else {
        Check::Nothing
    };
    let mut pages = vec![
        home(),
        Page::new("contacts list, first page", Kind::List, vec![first])
            .rows(LIST_ROWS)
            .check(Check::Total(seeded.contacts.len()))
            .concurrent(),
        Page::new(
            "contacts list, sorted by `-last_name`",
            Kind::List,
            vec!["/records/contacts?sort=-last_name".into()],
        )
        .rows(LIST_ROWS),
        Page::new(
            format!("contacts list, `last_name` starts with \"{FILTER_PREFIX}\""),
            Kind::List,
            vec![format!(
                "/records/contacts?f=last_name&op=starts_with&v={FILTER_PREFIX}"
            )],
        )
        .rows(1),
        Page::new(
            format!(
                "contacts list, pages 2–{} (`rel=\"next\"` cursors)",
                LATER_PAGES + 1
            ),
            Kind::List,
            later,
        )
        .rows(LIST_ROWS),
        Page::new(
            "companies list, first page",
            Kind::List,
            vec!["/records/companies".into()],
        )
        .rows(LIST_ROWS.min(api::COMPANIES))
        .check(Check::Total(api::COMPANIES)),
        contact_pages(seeded),
        Page::new("company record page", Kind::Record, companies).check(timelines),
        Page::new(
            "companies board by `industry`",
            Kind::Board,
            vec!["/records/companies/board?field=industry".into()],
        )
        .check(Check::Cards),
    ];
    for page in &mut pages {
        check_page(web, page).await?;
    }
    Ok((pages, first_page))
}

/// Fetches each of the page's URLs once, checks what they show, and says it in the label.
async fn check_page(web: &Api, page: &mut Page) -> anyhow::Result<()> {
    let mut shown = 0;
    for url in &page.urls {
        let reply = fetch_page(web, url, page.kind, page.min_rows).await?;
        match page.check {
            Check::Nothing => {}
            Check::Total(expected) => {
                let total = list_total(&reply.body);
                let right = match total {
                    Some((n, false)) => n == expected,
                    Some((n, true)) => n < expected,
                    None => false,
                };
                if !right {
                    return Err(
                        reply.unexpected(&format!("a list total of {expected}, not {total:?}"))
                    );
                }
                page.capped = total.filter(|(_, capped)| *capped).map(|(n, _)| n);
                shown += 1;
            }
            Check::RolledUp => shown += usize::from(rolls_up(&reply.body)),
            Check::Cards => page.cards = Some(board_cards(&reply.body)),
        }
    }
    let urls = page.urls.len();
    let said = match (page.check, page.cards) {
        (Check::Total(n), _) => match page.capped {
            Some(cap) => format!(
                "showing its total ({}, as \"{}+\")",
                thousands(n as f64),
                thousands(cap as f64)
            ),
            None => format!("showing its total ({})", thousands(n as f64)),
        },
        (Check::RolledUp, _) if shown == urls => {
            "its timeline rolling up its contacts' activities".to_owned()
        }
        (Check::RolledUp, _) => {
            format!("{shown} of {urls} timelines rolling up their contacts' activities")
        }
        (Check::Cards, Some(cards)) => format!("{cards} cards"),
        _ => return Ok(()),
    };
    page.label = format!("{}, {said}", page.label);
    Ok(())
}

fn home() -> Page {
    Page::new("home `/`", Kind::Other, vec!["/".into()])
}

/// Record pages of contacts spread over the seeded ones.
fn contact_pages(seeded: &Seeded) -> Page {
    let urls = spread(&seeded.contacts, RECORD_PAGES)
        .map(|c| format!("/records/contacts/{}", c.id))
        .collect();
    Page::new("contact record page", Kind::Record, urls).concurrent()
}

/// About `n` items evenly spread over `items`, from the first.
fn spread<T>(items: &[T], n: usize) -> impl Iterator<Item = &T> {
    items
        .iter()
        .step_by((items.len() / n.max(1)).max(1))
        .take(n)
}

/// GETs a page, which must be a 200 with HTML showing at least `min_rows` table rows (a
/// picker: JSON with at least `min_rows` hits).
async fn fetch_page(web: &Api, url: &str, kind: Kind, min_rows: usize) -> anyhow::Result<Reply> {
    let reply = web.expect(web.get(url)?, StatusCode::OK).await?;
    let content_type = match kind {
        Kind::Picker => "application/json",
        _ => "text/html",
    };
    let matches = reply
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(content_type));
    if !matches {
        return Err(reply.unexpected(content_type));
    }
    if min_rows > 0 {
        let rows = match kind {
            Kind::Picker => records_of(&reply)?.len(),
            _ => table_rows(&reply.body),
        };
        if rows < min_rows {
            return Err(reply.unexpected(&format!("at least {min_rows} rows, not {rows}")));
        }
    }
    Ok(reply)
}

/// One page kind's sequential timings.
struct PageRow {
    label: String,
    kind: Kind,
    urls: usize,
    stats: Stats,
    /// Mean size of the timed answers.
    bytes: f64,
    /// The cards of a board.
    cards: Option<usize>,
}

impl PageRow {
    /// Whether the page target applies: lists and record pages.
    fn judged(&self) -> bool {
        matches!(self.kind, Kind::List | Kind::Record)
    }

    fn met(&self) -> bool {
        millis(self.stats.p99) <= PAGE_P99_TARGET_MS
    }

    /// Whether the board target applies: a board of at least `BOARD_TARGET_CARDS` cards.
    fn weighed(&self) -> bool {
        self.cards.is_some_and(|cards| cards >= BOARD_TARGET_CARDS)
    }

    fn light(&self) -> bool {
        kb(self.bytes) <= BOARD_TARGET_KB
    }

    /// The row's target and whether it was met, as table cells.
    fn target(&self) -> (String, &'static str) {
        if self.judged() {
            (format!("p99 ≤ {PAGE_P99_TARGET_MS} ms"), yes_no(self.met()))
        } else if self.weighed() {
            (
                format!("≤ {BOARD_TARGET_KB} KB for {BOARD_TARGET_CARDS} cards"),
                yes_no(self.light()),
            )
        } else {
            ("—".to_owned(), "—")
        }
    }
}

/// Times `requests` GETs of the page's URLs in turn, one at a time, after `WARMUP`.
async fn time_page(web: &Api, page: &Page, requests: usize) -> anyhow::Result<PageRow> {
    let mut samples = Vec::with_capacity(requests);
    let mut bytes = 0;
    for (i, url) in page.urls.iter().cycle().take(WARMUP + requests).enumerate() {
        let reply = fetch_page(web, url, page.kind, page.min_rows).await?;
        if i >= WARMUP {
            samples.push(reply.elapsed);
            bytes += reply.body.len();
        }
    }
    let row = PageRow {
        label: page.label.clone(),
        kind: page.kind,
        urls: page.urls.len(),
        stats: Stats::of(samples),
        bytes: bytes as f64 / requests as f64,
        cards: page.cards,
    };
    eprintln!(
        "  {}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, {:.1} KB",
        row.label,
        millis(row.stats.p50),
        millis(row.stats.p99),
        millis(row.stats.max),
        row.bytes / 1e3
    );
    Ok(row)
}

/// One page kind timed with `CLIENTS` clients at once.
struct ConcurrentRow {
    label: String,
    stats: Stats,
    pages_per_second: f64,
}

/// `CLIENTS` clients, each on its own connection, GET the page's URLs `requests` times each
/// after their warm-ups; they start together and the rate is counted until the last is done.
async fn time_concurrently(
    api: &Api,
    cookie: &HeaderMap,
    page: &Page,
    requests: usize,
) -> anyhow::Result<ConcurrentRow> {
    let start = Arc::new(tokio::sync::Barrier::new(CLIENTS + 1));
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let web = api.with_headers(cookie.clone())?;
        let urls = page.urls.clone();
        let (kind, min_rows) = (page.kind, page.min_rows);
        let start = Arc::clone(&start);
        clients.spawn(async move {
            // Each client starts elsewhere in the URLs, so they do not all ask for the same.
            let mut turn = urls.iter().cycle().skip(client * urls.len() / CLIENTS);
            let mut warm_up = Ok(());
            for url in turn.by_ref().take(WARMUP) {
                if let Err(error) = fetch_page(&web, url, kind, min_rows).await {
                    warm_up = Err(error);
                    break;
                }
            }
            // Wait even after a failure, so that the others are not left waiting.
            start.wait().await;
            warm_up?;
            let mut samples = Vec::with_capacity(requests);
            for url in turn.take(requests) {
                samples.push(fetch_page(&web, url, kind, min_rows).await?.elapsed);
            }
            anyhow::Ok(samples)
        });
    }
    start.wait().await;
    let started = Instant::now();
    let mut samples = Vec::with_capacity(CLIENTS * requests);
    while let Some(joined) = clients.join_next().await {
        samples.extend(joined.context("a client panicked")??);
    }
    let elapsed = started.elapsed();
    let row = ConcurrentRow {
        label: page.label.clone(),
        pages_per_second: samples.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        stats: Stats::of(samples),
    };
    eprintln!(
        "  {} × {CLIENTS} clients: p50 {:.2} ms, p99 {:.2} ms, {:.0} pages/s",
        row.label,
        millis(row.stats.p50),
        millis(row.stats.p99),
        row.pages_per_second
    );
    Ok(row)
}

// -- the record picker ---------------------------------------------------------------------------

/// Adds demo contacts after the pages, through the batch endpoint as `api::seed` does.
struct Seeding<'a> {
    api: &'a Api,
    rng: Rng,
    companies: &'a [(Uuid, String)],
    /// The contacts in the database: the next one's index, which keeps names and emails
    /// unique.
    contacts: usize,
}

/// The contacts added to reach a picker size, and how long that took.
struct TopUp {
    contacts: usize,
    elapsed: Duration,
}

impl TopUp {
    fn rate(&self) -> f64 {
        self.contacts as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }
}

impl Seeding<'_> {
    /// The next demo contact, most at one of the companies.
    fn contact(&mut self) -> Value {
        let companies = self.companies;
        let company = (!self.rng.chance(api::FREELANCERS))
            .then(|| self.rng.pick(companies))
            .map(|(id, domain)| (*id, domain.as_str()));
        let contact = demo::contact(&mut self.rng, self.contacts, company);
        self.contacts += 1;
        Value::Object(contact)
    }

    /// Creates `count` contacts in batches of `api::BATCH`; returns the replies' records.
    async fn add_contacts(&mut self, count: usize) -> anyhow::Result<Vec<Value>> {
        let mut created = Vec::new();
        for start in (0..count).step_by(api::BATCH) {
            let batch: Vec<Value> = (start..count.min(start + api::BATCH))
                .map(|_| self.contact())
                .collect();
            let body = json!({ "operation": "create", "records": batch });
            let reply = self
                .api
                .expect(self.api.post("contacts/batch", &body)?, StatusCode::OK)
                .await?;
            if count == 1 {
                created = records_of(&reply)?;
            } else if (start / api::BATCH + 1).is_multiple_of(100) {
                eprintln!("  {} contacts", self.contacts);
            }
        }
        Ok(created)
    }

    /// Adds contacts until the database holds `total`.
    async fn top_up(&mut self, total: usize) -> anyhow::Result<TopUp> {
        let contacts = total.saturating_sub(self.contacts);
        eprintln!("  adding {contacts} contacts for {total}");
        let started = Instant::now();
        self.add_contacts(contacts).await?;
        let top_up = TopUp {
            contacts,
            elapsed: started.elapsed(),
        };
        eprintln!(
            "  added {contacts} contacts in {:.1} s: {:.0} records/s",
            top_up.elapsed.as_secs_f64(),
            top_up.rate()
        );
        Ok(top_up)
    }

    /// Creates one more contact and waits until the picker finds it by its email: the search
    /// index, which follows the writes in order, has then caught up with all of them. Returns
    /// how long that took.
    async fn wait_for_index(&mut self, web: &Api) -> anyhow::Result<Duration> {
        let created = self.add_contacts(1).await?;
        let text = |key: &str| {
            created
                .first()
                .and_then(|r| r.get(key))
                .and_then(Value::as_str)
        };
        let (Some(id), Some(email)) = (text("id"), text("email")) else {
            bail!("the created contact lacks its id or email: {created:?}");
        };
        let url = picker_url("contacts", email);
        let started = Instant::now();
        loop {
            let reply = fetch_page(web, &url, Kind::Picker, 0).await?;
            if records_of(&reply)?.iter().any(|hit| hit["id"] == id) {
                return Ok(started.elapsed());
            }
            if started.elapsed() > INDEX_DEADLINE {
                bail!(
                    "the picker did not find the contact {email} within {} s",
                    INDEX_DEADLINE.as_secs()
                );
            }
            tokio::time::sleep(INDEX_POLL).await;
        }
    }
}

/// A type's picker and what is typed into it.
struct Picker {
    label: &'static str,
    plural: &'static str,
    /// The fields a record's title joins, and the one whose first word is typed letter by
    /// letter.
    title_fields: &'static [&'static str],
    typed: &'static str,
}

const PICKERS: [Picker; 2] = [
    Picker {
        label: "contact picker",
        plural: "contacts",
        title_fields: &["first_name", "last_name"],
        typed: "last_name",
    },
    Picker {
        label: "company picker",
        plural: "companies",
        title_fields: &["name"],
        typed: "name",
    },
];

/// The record picker timed at one size of the database.
struct PickerSize {
    /// The contacts in the database.
    contacts: usize,
    /// How long the search index took to find the contact added last.
    caught_up: Duration,
    /// The contacts added for this size, when it was topped up.
    top_up: Option<TopUp>,
    rows: Vec<PageRow>,
}

/// Waits for the search index, then times each type's picker at the database's size.
async fn time_pickers(
    web: &Api,
    seeding: &mut Seeding<'_>,
    seeded: &Seeded,
    requests: usize,
) -> anyhow::Result<PickerSize> {
    let caught_up = seeding.wait_for_index(web).await?;
    eprintln!(
        "  the search index caught up in {:.1} s; the picker at {} contacts",
        caught_up.as_secs_f64(),
        seeding.contacts
    );
    let contacts: Vec<String> = spread(&seeded.contacts, PICKER_SAMPLES)
        .map(|c| c.id.clone())
        .collect();
    let companies: Vec<String> = spread(&seeded.companies, PICKER_SAMPLES)
        .map(|(id, _)| id.to_string())
        .collect();
    let mut rows = Vec::with_capacity(PICKERS.len());
    for (picker, ids) in PICKERS.iter().zip([contacts, companies]) {
        let page = picker_page(web, seeding.api, picker, &ids).await?;
        let mut row = time_page(web, &page, requests).await?;
        row.label = format!("{} (`/records/{}/pick`)", picker.label, picker.plural);
        rows.push(row);
    }
    Ok(PickerSize {
        contacts: seeding.contacts,
        caught_up,
        top_up: None,
        rows,
    })
}

/// The picker's queries for the records `ids`: the first 2, 3 and 4 letters of the word a
/// person types (a contact's last name, a company name's first word), the whole title, and
/// nothing typed; each checked once. An empty query must show `PICK_ROWS` records, the others
/// at least one, and a whole title a record of that title.
async fn picker_page(
    web: &Api,
    api: &Api,
    picker: &Picker,
    ids: &[String],
) -> anyhow::Result<Page> {
    let mut queries = vec![(String::new(), None)];
    for id in ids {
        let reply = api
            .expect(api.get(&format!("{}/{id}", picker.plural))?, StatusCode::OK)
            .await?;
        let record = reply.json()?;
        let text = |field: &str| record.get(field).and_then(Value::as_str).unwrap_or("");
        let title: Vec<&str> = picker.title_fields.iter().map(|f| text(f)).collect();
        let word = text(picker.typed).split_whitespace().next().unwrap_or("");
        if word.is_empty() {
            return Err(reply.unexpected(&format!("a `{}`", picker.typed)));
        }
        for letters in PICKER_PREFIXES {
            let prefix: String = word.chars().take(letters).collect();
            if prefix.chars().count() == letters {
                queries.push((prefix, None));
            }
        }
        let title = title.join(" ");
        queries.push((title.clone(), Some(title)));
    }
    let mut urls = Vec::with_capacity(queries.len());
    for (q, title) in queries {
        let url = picker_url(picker.plural, &q);
        let reply = fetch_page(web, &url, Kind::Picker, 1).await?;
        let hits = records_of(&reply)?;
        let titled = |t: &str| hits.iter().any(|hit| hit["title"] == t);
        if q.is_empty() && hits.len() != PICK_ROWS {
            return Err(reply.unexpected(&format!("{PICK_ROWS} records")));
        }
        if let Some(title) = title.filter(|t| !titled(t)) {
            return Err(reply.unexpected(&format!("a record titled {title:?}")));
        }
        urls.push(url);
    }
    Ok(Page::new(picker.label, Kind::Picker, urls).rows(1))
}

fn picker_url(plural: &str, q: &str) -> String {
    format!("/records/{plural}/pick?{}", form_body(&[("q", q)]))
}

// -- what the first paint needs ------------------------------------------------------------------

/// The stylesheets and scripts a page links, with their sizes.
struct Assets {
    stylesheets: Vec<(String, usize)>,
    /// Each script's URL, size, and whether it blocks the first paint (neither `defer`,
    /// `async` nor a module).
    scripts: Vec<(String, usize, bool)>,
}

impl Assets {
    fn css_bytes(&self) -> usize {
        self.stylesheets.iter().map(|(_, bytes)| bytes).sum()
    }

    fn css_met(&self) -> bool {
        (self.css_bytes() as f64) < CSS_TARGET_KB * 1e3
    }

    fn blocking_scripts(&self) -> impl Iterator<Item = &str> {
        self.scripts
            .iter()
            .filter(|(_, _, blocking)| *blocking)
            .map(|(url, _, _)| url.as_str())
    }
}

async fn fetch_assets(web: &Api, html: &str) -> anyhow::Result<Assets> {
    let mut stylesheets = Vec::new();
    for link in tags(html, "link") {
        if let (Some("stylesheet"), Some(href)) = (attr(&link, "rel"), attr(&link, "href")) {
            let bytes = fetch_asset(web, href, "text/css").await?;
            stylesheets.push((href.to_owned(), bytes));
        }
    }
    let mut scripts = Vec::new();
    for script in tags(html, "script") {
        if let Some(src) = attr(&script, "src") {
            let bytes = fetch_asset(web, src, "text/javascript").await?;
            let deferred = has_attr(&script, "defer")
                || has_attr(&script, "async")
                || attr(&script, "type") == Some("module");
            scripts.push((src.to_owned(), bytes, !deferred));
        }
    }
    if stylesheets.is_empty() {
        bail!("the contacts list links no stylesheet");
    }
    Ok(Assets {
        stylesheets,
        scripts,
    })
}

/// GETs a linked file, which must be a 200 of `content_type`; returns its size.
async fn fetch_asset(web: &Api, url: &str, content_type: &str) -> anyhow::Result<usize> {
    let reply = web.expect(web.get(url)?, StatusCode::OK).await?;
    let matches = reply
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(content_type));
    if !matches {
        return Err(reply.unexpected(content_type));
    }
    Ok(reply.body.len())
}

// -- reading HTML --------------------------------------------------------------------------------

/// An element's attributes: names (lowercase) and unescaped values (`None` without `=`).
type Attrs = Vec<(String, Option<String>)>;

/// The attributes of every `<name …>` start tag of `html`.
fn tags(html: &str, name: &str) -> Vec<Attrs> {
    let open = format!("<{name}");
    let mut found = Vec::new();
    let mut rest = html;
    while let Some(at) = rest.find(&open) {
        rest = &rest[at + open.len()..];
        if rest.starts_with(|c: char| c.is_ascii_whitespace() || c == '>' || c == '/') {
            found.push(attributes(&mut rest));
        }
    }
    found
}

/// Reads attributes up to the end of a start tag, leaving `rest` after its `>`.
fn attributes(rest: &mut &str) -> Attrs {
    let mut attrs = Vec::new();
    loop {
        *rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == '/');
        if rest.is_empty() {
            return attrs;
        }
        if let Some(after) = rest.strip_prefix('>') {
            *rest = after;
            return attrs;
        }
        let end = rest
            .find(|c: char| c.is_ascii_whitespace() || matches!(c, '=' | '>' | '/'))
            .unwrap_or(rest.len());
        let name = rest[..end].to_ascii_lowercase();
        *rest = rest[end..].trim_start();
        let value = match rest.strip_prefix('=') {
            Some(after) => {
                let after = after.trim_start();
                let (raw, left) = match after.chars().next() {
                    Some(quote @ ('"' | '\'')) => {
                        let body = &after[1..];
                        let close = body.find(quote).unwrap_or(body.len());
                        (&body[..close], body.get(close + 1..).unwrap_or(""))
                    }
                    _ => {
                        let close = after
                            .find(|c: char| c.is_ascii_whitespace() || c == '>')
                            .unwrap_or(after.len());
                        (&after[..close], &after[close..])
                    }
                };
                *rest = left;
                Some(unescape(raw))
            }
            None => None,
        };
        attrs.push((name, value));
    }
}

fn attr<'a>(attrs: &'a Attrs, name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, value)| value.as_deref())
}

fn has_attr(attrs: &Attrs, name: &str) -> bool {
    attrs.iter().any(|(n, _)| n == name)
}

/// The `href` of the first `<a rel="next">`.
fn next_link(html: &str) -> Option<String> {
    tags(html, "a")
        .iter()
        .find(|a| attr(a, "rel").is_some_and(|rel| rel.split_whitespace().any(|r| r == "next")))
        .and_then(|a| attr(a, "href"))
        .map(str::to_owned)
}

/// The count a list shows of the records it matches, `<span class="list-total">1,234 …`, and
/// whether it stopped counting there (`10,000+ …`).
fn list_total(html: &str) -> Option<(usize, bool)> {
    let (_, rest) = html.split_once("class=\"list-total\"")?;
    let text = rest.split_once('>')?.1.split_once('<')?.0;
    let word = text.split_whitespace().next()?;
    let digits: String = word.chars().filter(char::is_ascii_digit).collect();
    Some((digits.parse().ok()?, word.ends_with('+')))
}

/// Whether a record page's timeline shows an activity of one of its contacts (the template
/// escapes the link's slashes).
fn rolls_up(html: &str) -> bool {
    unescape(html).contains(ROLLED_UP)
}

/// The elements of class `board-card` (not `board-cards`).
fn board_cards(html: &str) -> usize {
    html.split("class=\"board-card")
        .skip(1)
        .filter(|rest| rest.starts_with(['"', ' ']))
        .count()
}

/// The rows of the page's table bodies.
fn table_rows(html: &str) -> usize {
    html.split("<tbody")
        .skip(1)
        .map(|body| {
            let body = body.split("</tbody>").next().unwrap_or("");
            tags(body, "tr").len()
        })
        .sum()
}

/// Resolves the character references a template's escaping writes.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').and_then(|end| {
            let entity = &rest[1..end];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .map(|hex| u32::from_str_radix(hex, 16))
                    .or_else(|| entity.strip_prefix('#').map(str::parse))
                    .and_then(Result::ok)
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

// -- the report ----------------------------------------------------------------------------------

fn kb(bytes: f64) -> f64 {
    bytes / 1e3
}

fn standard_notes(args: &Args, activities: usize) -> Vec<String> {
    vec![
        format!(
            "Data: each database starts empty; as in `bench-api`, {} companies and {} contacts ({:.0}% at a company, with the custom fields `segment` and `hits`) are seeded through the batch endpoint, then {} activities (`kind`, `subject`, `body`, `due_at`, `done`), each linked to a random contact and {:.0}% of them to a random company too, all owned by the bench admin. Pages are read as that admin (role admin), logged in through `POST /login`. The two rows \"before the activities were added\" were timed between the contacts' seeding and the activities': the home page lists the reader's open tasks and a record page its timeline (the activities linked to the record), so the difference is what the activities cost those pages.",
            api::COMPANIES,
            args.records,
            (1.0 - api::FREELANCERS) * 100.0,
            activities,
            COMPANY_LINKS * 100.0
        ),
        format!(
            "Latencies: from sending the GET to having read the whole page, one request at a time from one client over a keep-alive loopback connection, {WARMUP} warm-up requests per page kind not counted, then {} timed; so the server's time plus the loopback round trip and the client's cost (a fraction of a millisecond: `bench-api`'s `GET /contacts/{{id}}` answers in ~0.3–0.6 ms). Percentiles are nearest-rank. Rows with several URLs time them in turn: {RECORD_PAGES} record ids spread evenly over the seeded contacts (or companies), and list pages 2–{} reached by following each page's `rel=\"next\"` link (the URL carries the cursor). Every answer must be a 200 with `text/html`, and the lists must show {LIST_ROWS} rows (the filtered one at least one).",
            args.requests,
            LATER_PAGES + 1
        ),
        format!(
            "Concurrent: {CLIENTS} clients, each with its own keep-alive connection and the same session, start together after their warm-ups and send {} requests each; pages/s is all of them over the time until the last client is done. The server has 2 tokio workers on this machine's 2 cores, which the clients share.",
            args.requests
        ),
        format!(
            "Sizes: KB = 1,000 bytes, as sent (the server does not compress); a page's size is the mean over its timed answers. The assets are the stylesheets and scripts the layout links (read from the contacts list's `<link rel=\"stylesheet\">` and `<script src>`); the CSS target is for their total, under {CSS_TARGET_KB} KB."
        ),
        format!(
            "The page target (p99 ≤ {PAGE_P99_TARGET_MS} ms) applies to the list and record rows above, timed one at a time; the home page is reported without a target, and the concurrent runs show how the pages share 2 cores. Each list's first page must show the count of the records it matches (`list-total`, checked against the records seeded), and each company record page is checked for timeline entries rolled up from its contacts (an activity linked to one of its contacts and not to it); the rows' labels say what was found."
        ),
        format!(
            "Board: the companies' board by `industry` (a column per industry, at most 50 cards each), its cards counted in the HTML (elements of class `board-card`); the target of {BOARD_TARGET_KB} KB applies to the whole page's HTML when it shows at least {BOARD_TARGET_CARDS} cards, and its p99 is the same sequential server time as the other pages'."
        ),
        format!(
            "Picker: `GET /records/<plural>/pick?q=` with the session cookie, answered from the search index as JSON (`{{data: [{{id, title, detail}}]}}`, at most {PICK_ROWS} hits). The queries are what a person types while picking one of {PICKER_SAMPLES} records spread over the seeded ones: the first {} letters of a contact's last name (of a company name's first word), then the whole name (\"first last\", the company's name), and once nothing at all; they are timed in turn, one at a time, after {WARMUP} warm-up requests, {} per picker. Every query is checked once first: an empty one must show {PICK_ROWS} records, a prefix at least one, a whole name a record of that title. Before each size is timed, the bench creates one more contact and polls the picker every {} ms until it finds that contact by its email: the search index follows the writes in order, so it has then caught up with all of them (the measures say how long that took). The size of a row is its contacts, these waiting ones included, as the page target counts records; the database also holds the {} companies and the activities, and the search index all of them. {}",
            PICKER_PREFIXES.map(|n| n.to_string()).join(", "),
            args.requests,
            INDEX_POLL.as_millis(),
            api::COMPANIES,
            if args.picker_records > 0 {
                format!(
                    "After the other measurements the picker was timed at the size seeded, then the database was topped up to {} contacts with more demo contacts (at one of the companies or freelance in the same shares, without the custom fields' values), {} per batch request one after the other, and the picker timed again.",
                    thousands(args.picker_records as f64),
                    thousands(api::BATCH as f64)
                )
            } else {
                "The picker was timed once, at the size seeded (`--picker-records` was not given)."
                    .to_owned()
            }
        ),
    ]
}

fn render_section(args: &Args, reports: &[Report], notes: &[String], machine: &Machine) -> String {
    let mut out = String::new();
    machine.open_section(
        &mut out,
        "Web pages (issues 6 and 23)",
        &verdicts(args, reports),
    );
    let pages = reports.iter().flat_map(|report| {
        report.pages.iter().map(|row| {
            let (target, met) = row.target();
            let mut cells = vec![report.database.to_owned(), row.label.clone()];
            cells.extend([row.urls, row.stats.n].map(|n| n.to_string()));
            cells.extend(timings(&row.stats));
            cells.extend([format!("{:.1}", kb(row.bytes)), target, met.to_owned()]);
            cells
        })
    });
    table(
        &mut out,
        &[
            "database", "page", "URLs", "n", "p50 ms", "p99 ms", "max ms", "size KB", "target",
            "met?",
        ],
        "llrrrrrrll",
        pages,
    );
    let pickers = reports.iter().flat_map(|report| {
        report.pickers.iter().flat_map(move |size| {
            size.rows.iter().map(move |row| {
                let (target, met) = if size.contacts >= PICKER_TARGET_RECORDS {
                    (
                        format!("p99 ≤ {PICKER_P99_TARGET_MS} ms"),
                        yes_no(picker_met(row)),
                    )
                } else {
                    ("—".to_owned(), "—")
                };
                let mut cells = vec![
                    report.database.to_owned(),
                    thousands(size.contacts as f64),
                    row.label.clone(),
                ];
                cells.extend([row.urls, row.stats.n].map(|n| n.to_string()));
                cells.extend(
                    [row.stats.p50, row.stats.p95, row.stats.p99, row.stats.max]
                        .map(|d| format!("{:.2}", millis(d))),
                );
                cells.extend([format!("{:.1}", kb(row.bytes)), target, met.to_owned()]);
                cells
            })
        })
    });
    table(
        &mut out,
        &[
            "database", "contacts", "picker", "queries", "n", "p50 ms", "p95 ms", "p99 ms",
            "max ms", "size KB", "target", "met?",
        ],
        "lrlrrrrrrrll",
        pickers,
    );
    let concurrent = reports.iter().flat_map(|report| {
        report.concurrent.iter().map(|row| {
            let mut cells = vec![report.database.to_owned(), row.label.clone()];
            cells.extend([CLIENTS, row.stats.n].map(|n| n.to_string()));
            cells.extend(timings(&row.stats));
            cells.push(thousands(row.pages_per_second));
            cells
        })
    });
    table(
        &mut out,
        &[
            "database", "page", "clients", "n", "p50 ms", "p99 ms", "max ms", "pages/s",
        ],
        "llrrrrrr",
        concurrent,
    );
    if let Some(assets) = reports.first().map(|r| &r.assets) {
        let none = || "—".to_owned();
        let mut rows: Vec<Vec<String>> = assets
            .stylesheets
            .iter()
            .map(|(url, bytes)| vec![format!("`{url}`"), kb_text(*bytes), none(), none()])
            .collect();
        rows.push(vec![
            "CSS, total".to_owned(),
            kb_text(assets.css_bytes()),
            format!("< {CSS_TARGET_KB} KB"),
            yes_no(assets.css_met()).to_owned(),
        ]);
        rows.extend(assets.scripts.iter().map(|(url, bytes, blocking)| {
            let how = if *blocking {
                "blocks rendering"
            } else {
                "deferred"
            };
            vec![format!("`{url}` ({how})"), kb_text(*bytes), none(), none()]
        }));
        table(
            &mut out,
            &["asset", "size KB", "target", "met?"],
            "lrll",
            rows,
        );
    }
    let measures = reports.iter().flat_map(|report| {
        let mut measures = vec![(
            "contacts seeded through the batch endpoint".to_owned(),
            format!("{} records/s", thousands(report.insert_rate)),
        )];
        for size in &report.pickers {
            let contacts = thousands(size.contacts as f64);
            if let Some(top_up) = &size.top_up {
                measures.push((
                    format!("contacts added through the batch endpoint to reach {contacts}"),
                    format!(
                        "{} in {:.0} s: {} records/s",
                        thousands(top_up.contacts as f64),
                        top_up.elapsed.as_secs_f64(),
                        thousands(top_up.rate())
                    ),
                ));
            }
            measures.push((
                format!("search index caught up, at {contacts} contacts"),
                format!("{:.1} s after the last write", size.caught_up.as_secs_f64()),
            ));
        }
        measures.extend([
            (
                "server memory at the end (VmRSS)".to_owned(),
                report.memory.describe(),
            ),
            ("5xx answers".to_owned(), report.server_errors.to_string()),
        ]);
        measures
            .into_iter()
            .map(|(name, value)| vec![report.database.to_owned(), name, value])
    });
    close_section(&mut out, measures, notes);
    out
}

/// p50, p99 and max in milliseconds, as table cells.
fn timings(stats: &Stats) -> [String; 3] {
    [stats.p50, stats.p99, stats.max].map(|d| format!("{:.2}", millis(d)))
}

fn kb_text(bytes: usize) -> String {
    format!("{:.1}", kb(bytes as f64))
}

/// One line per goal of the issue, judged from the figures.
fn verdicts(args: &Args, reports: &[Report]) -> Vec<String> {
    let judged: Vec<(&str, &PageRow)> = reports
        .iter()
        .flat_map(|r| r.pages.iter().map(move |row| (r.database, row)))
        .filter(|(_, row)| row.judged())
        .collect();
    let worst = judged
        .iter()
        .max_by_key(|(_, row)| row.stats.p99)
        .map_or_else(
            || "no page was timed".to_owned(),
            |(database, row)| {
                format!(
                    "worst p99 {:.2} ms ({}, {database})",
                    millis(row.stats.p99),
                    row.label
                )
            },
        );
    let missed: Vec<String> = judged
        .iter()
        .filter(|(_, row)| !row.met())
        .map(|(database, row)| {
            format!(
                "{} on {database} ({:.2} ms)",
                row.label,
                millis(row.stats.p99)
            )
        })
        .collect();
    let pages_verdict = if args.records < TARGET_RECORDS {
        format!(
            "not judged: this run seeded {} contacts, fewer than {}",
            args.records,
            thousands(TARGET_RECORDS as f64)
        )
    } else if judged.is_empty() {
        "not judged: no page was timed".to_owned()
    } else if missed.is_empty() {
        format!("**met** — {worst}")
    } else {
        format!("**not met** — {worst}; over: {}", missed.join(", "))
    };
    let mut lines = vec![format!(
        "- Server time per page p99 ≤ {PAGE_P99_TARGET_MS} ms for list and record pages at {} records: {pages_verdict}.",
        thousands(TARGET_RECORDS as f64)
    )];
    lines.push(picker_verdict(reports));
    lines.push(board_verdict(reports));
    if let Some(assets) = reports.first().map(|r| &r.assets) {
        let blocking: Vec<&str> = assets.blocking_scripts().collect();
        let css = format!(
            "CSS {:.1} KB in {} files",
            kb(assets.css_bytes() as f64),
            assets.stylesheets.len()
        );
        let verdict = match (assets.css_met(), blocking.is_empty()) {
            (true, true) => format!(
                "**met** — {css}; no script blocks rendering ({} deferred), and the pages' content is in their HTML",
                assets.scripts.len()
            ),
            (false, _) => format!("**not met** — {css}"),
            (true, false) => format!(
                "**not met** — {css}, but scripts block rendering: {}",
                blocking.join(", ")
            ),
        };
        lines.push(format!(
            "- Pages usable on first paint with the CSS under {CSS_TARGET_KB} KB: {verdict}."
        ));
    }
    lines
}

fn picker_met(row: &PageRow) -> bool {
    millis(row.stats.p99) <= PICKER_P99_TARGET_MS
}

/// The picker's target, judged on the rows at `PICKER_TARGET_RECORDS` contacts or more; below
/// that, the largest size timed is reported.
fn picker_verdict(reports: &[Report]) -> String {
    let sizes = || reports.iter().flat_map(|r| r.pickers.iter());
    let largest = sizes().map(|size| size.contacts).max().unwrap_or(0);
    let judged = largest >= PICKER_TARGET_RECORDS;
    let rows: Vec<(&str, usize, &PageRow)> = reports
        .iter()
        .flat_map(|r| {
            r.pickers
                .iter()
                .filter(|size| {
                    size.contacts == largest || (judged && size.contacts >= PICKER_TARGET_RECORDS)
                })
                .flat_map(move |size| {
                    size.rows
                        .iter()
                        .map(move |row| (r.database, size.contacts, row))
                })
        })
        .collect();
    let describe = |(database, contacts, row): &(&str, usize, &PageRow)| {
        format!(
            "{:.2} ms ({}, {database}, {} contacts)",
            millis(row.stats.p99),
            row.label,
            thousands(*contacts as f64)
        )
    };
    let worst = rows
        .iter()
        .max_by_key(|(_, _, row)| row.stats.p99)
        .map_or_else(|| "no picker was timed".to_owned(), describe);
    let missed: Vec<String> = rows
        .iter()
        .filter(|(_, _, row)| !picker_met(row))
        .map(describe)
        .collect();
    let verdict = if !judged {
        format!(
            "not judged: the largest database timed held {} contacts (`--picker-records`); there the worst p99 was {worst}",
            thousands(largest as f64)
        )
    } else if missed.is_empty() {
        format!("**met** — worst p99 {worst}")
    } else {
        format!("**not met** — over: {}", missed.join(", "))
    };
    format!(
        "- Record picker p99 ≤ {PICKER_P99_TARGET_MS} ms at {} records: {verdict}.",
        thousands(PICKER_TARGET_RECORDS as f64)
    )
}

/// The board's target, judged on the boards of at least `BOARD_TARGET_CARDS` cards.
fn board_verdict(reports: &[Report]) -> String {
    let boards: Vec<(&str, &PageRow)> = reports
        .iter()
        .flat_map(|r| r.pages.iter().map(move |row| (r.database, row)))
        .filter(|(_, row)| row.kind == Kind::Board)
        .collect();
    let heaviest = boards
        .iter()
        .filter(|(_, row)| row.weighed())
        .max_by(|a, b| a.1.bytes.total_cmp(&b.1.bytes));
    let verdict = match heaviest {
        Some((database, row)) => format!(
            "{} — {:.1} KB of HTML ({}, {database}; its p99 server time {:.2} ms)",
            if row.light() {
                "**met**"
            } else {
                "**not met**"
            },
            kb(row.bytes),
            row.label,
            millis(row.stats.p99)
        ),
        None => format!(
            "not judged: no board showed {BOARD_TARGET_CARDS} cards (cards: {})",
            boards
                .iter()
                .map(|(database, row)| format!("{} on {database}", row.cards.unwrap_or(0)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    format!("- A board of {BOARD_TARGET_CARDS} cards in ≤ {BOARD_TARGET_KB} KB of HTML: {verdict}.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_read_from_tags() {
        let html = r#"<head><link rel="icon" href="/x.svg"><link rel="stylesheet" href="/theme.css?v=1&amp;a=&#x2f;b">
<script src="/k.js?v=2" defer></script><script>inline()</script></head>
<nav><a class="button" href="/records/contacts?cursor=abc&amp;sort=x" rel="next">Next</a></nav>"#;
        let links = tags(html, "link");
        assert_eq!(links.len(), 2);
        assert_eq!(attr(&links[0], "rel"), Some("icon"));
        assert_eq!(attr(&links[1], "rel"), Some("stylesheet"));
        assert_eq!(attr(&links[1], "href"), Some("/theme.css?v=1&a=/b"));
        let scripts = tags(html, "script");
        assert_eq!(scripts.len(), 2);
        assert_eq!(attr(&scripts[0], "src"), Some("/k.js?v=2"));
        assert!(has_attr(&scripts[0], "defer"));
        assert_eq!(attr(&scripts[1], "src"), None);
        assert_eq!(
            next_link(html).as_deref(),
            Some("/records/contacts?cursor=abc&sort=x")
        );
        assert_eq!(next_link("<a href=\"/\">x</a>"), None);
    }

    #[test]
    fn rows_are_counted_in_table_bodies() {
        let html = "<table><thead><tr><th>a</th></tr></thead><tbody>\n<tr><td>1</td></tr>\n<tr class=\"x\"><td>2</td></tr></tbody></table><track>";
        assert_eq!(table_rows(html), 2);
        assert_eq!(table_rows("<p>none</p>"), 0);
    }

    #[test]
    fn totals_cards_and_rolled_up_entries_are_read() {
        let list = r#"<h1>Contacts <span class="list-total">100,000 contacts</span></h1>"#;
        assert_eq!(list_total(list), Some((100_000, false)));
        let capped = r#"<h1>Contacts <span class="list-total">10,000+ contacts</span></h1>"#;
        assert_eq!(list_total(capped), Some((10_000, true)));
        assert_eq!(list_total("<h1>Contacts</h1>"), None);
        let board = r#"<ol class="board-cards"><li class="board-card" data-id="1"></li><li class="board-card x"></li></ol>"#;
        assert_eq!(board_cards(board), 2);
        let timeline = r#"<p class="meta">Call on <a href="&#x2f;records&#x2f;contacts&#x2f;1">Ada</a> · <time>"#;
        assert!(rolls_up(timeline));
        assert!(!rolls_up(r#"<p class="meta">Call · <time>"#));
    }

    #[test]
    fn text_is_unescaped_and_forms_encoded() {
        assert_eq!(
            unescape("a&amp;b&lt;&#39;&#x27;&bogus; &"),
            "a&b<''&bogus; &"
        );
        assert_eq!(
            form_body(&[("email", "a+b@x.test"), ("password", "p w&")]),
            "email=a%2Bb%40x.test&password=p+w%26"
        );
        let ids: Vec<usize> = (0..10).collect();
        assert_eq!(spread(&ids, 3).copied().collect::<Vec<_>>(), [0, 3, 6]);
        assert_eq!(spread(&ids[..2], 5).count(), 2);
    }
}
