//! `cargo xtask bench-ui`: the server time of the web app's pages with 100k records, on
//! SQLite and on PostgreSQL, and the size of what a browser needs before its first paint.
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
//!    companies spread evenly over the data set, and the companies' board by industry. Every
//!    answer must be a 200 with `text/html`, and a list must show its rows;
//! 5. times the contacts list and the contact record pages again with 4 clients at once, each
//!    on its own connection, and counts pages per second;
//! 6. fetches the stylesheets and scripts the layout links (read from a page's `<link
//!    rel="stylesheet">` and `<script src>`) and reports their sizes against the CSS budget.
//!
//! A latency is the wall-clock time from sending a request to having read its whole answer:
//! the server's time plus the loopback round trip and the client's own cost. Percentiles are
//! nearest-rank over the sorted samples (`bench-api`'s statistics), and the verdicts are
//! computed from the figures.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use host::demo::{self, Rng};
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, HeaderMap, HeaderValue, SET_COOKIE};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{
    self as bench, ADMIN_EMAIL, ADMIN_PASSWORD, Api, Backend, Databases, Machine, Memory, Reply,
    Stats, WORKSPACE, api, api::Seeded, close_section, form_body, millis, table, thousands, yes_no,
};

/// The issue's targets: p99 of list and record pages, and the CSS a first paint waits for.
const PAGE_P99_TARGET_MS: f64 = 20.0;
const CSS_TARGET_KB: f64 = 50.0;
/// The records the page target is stated for.
const TARGET_RECORDS: usize = 100_000;

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
        let (pages, first_page) = pages(&web, &seeded).await?;
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
        Ok(Report {
            database: backend.label(),
            insert_rate: seeded.insert.rate(),
            pages: rows,
            concurrent,
            assets,
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

/// What a page is, for the target: lists and record pages have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Record,
    Other,
}

/// A kind of page and the URLs timed in turn for it.
struct Page {
    label: String,
    kind: Kind,
    urls: Vec<String>,
    /// Table rows every answer must show, at least.
    min_rows: usize,
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
            concurrent: false,
        }
    }

    fn rows(mut self, min_rows: usize) -> Page {
        self.min_rows = min_rows;
        self
    }

    fn concurrent(mut self) -> Page {
        self.concurrent = true;
        self
    }
}

/// The pages to time, checked once, and the HTML of the contacts list's first page.
async fn pages(web: &Api, seeded: &Seeded) -> anyhow::Result<(Vec<Page>, String)> {
    let first = "/records/contacts".to_owned();
    let first_page = fetch_page(web, &first, LIST_ROWS).await?.body;
    let mut later = Vec::with_capacity(LATER_PAGES);
    let mut html = first_page.clone();
    for page in 2..=LATER_PAGES + 1 {
        let next = next_link(&html).with_context(|| {
            format!("page {} of the contacts has no rel=\"next\" link", page - 1)
        })?;
        html = fetch_page(web, &next, LIST_ROWS).await?.body;
        later.push(next);
    }
    let companies = spread(&seeded.companies, RECORD_PAGES)
        .map(|(id, _)| format!("/records/companies/{id}"))
        .collect();
    let pages = vec![
        home(),
        Page::new("contacts list, first page", Kind::List, vec![first])
            .rows(LIST_ROWS)
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
        .rows(LIST_ROWS.min(api::COMPANIES)),
        contact_pages(seeded),
        Page::new("company record page", Kind::Record, companies),
        Page::new(
            "companies board by `industry`",
            Kind::Other,
            vec!["/records/companies/board?field=industry".into()],
        ),
    ];
    for page in &pages {
        for url in &page.urls {
            fetch_page(web, url, page.min_rows).await?;
        }
    }
    Ok((pages, first_page))
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

/// GETs a page, which must be a 200 with HTML showing at least `min_rows` table rows.
async fn fetch_page(web: &Api, url: &str, min_rows: usize) -> anyhow::Result<Reply> {
    let reply = web.expect(web.get(url)?, StatusCode::OK).await?;
    let html = reply
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !html {
        return Err(reply.unexpected("text/html"));
    }
    if min_rows > 0 {
        let rows = table_rows(&reply.body);
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
}

impl PageRow {
    fn judged(&self) -> bool {
        self.kind != Kind::Other
    }

    fn met(&self) -> bool {
        millis(self.stats.p99) <= PAGE_P99_TARGET_MS
    }
}

/// Times `requests` GETs of the page's URLs in turn, one at a time, after `WARMUP`.
async fn time_page(web: &Api, page: &Page, requests: usize) -> anyhow::Result<PageRow> {
    let mut samples = Vec::with_capacity(requests);
    let mut bytes = 0;
    for (i, url) in page.urls.iter().cycle().take(WARMUP + requests).enumerate() {
        let reply = fetch_page(web, url, page.min_rows).await?;
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
        let min_rows = page.min_rows;
        let start = Arc::clone(&start);
        clients.spawn(async move {
            // Each client starts elsewhere in the URLs, so they do not all ask for the same.
            let mut turn = urls.iter().cycle().skip(client * urls.len() / CLIENTS);
            let mut warm_up = Ok(());
            for url in turn.by_ref().take(WARMUP) {
                if let Err(error) = fetch_page(&web, url, min_rows).await {
                    warm_up = Err(error);
                    break;
                }
            }
            // Wait even after a failure, so that the others are not left waiting.
            start.wait().await;
            warm_up?;
            let mut samples = Vec::with_capacity(requests);
            for url in turn.take(requests) {
                samples.push(fetch_page(&web, url, min_rows).await?.elapsed);
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
            "The page target (p99 ≤ {PAGE_P99_TARGET_MS} ms) applies to the list and record rows above, timed one at a time; home and board are reported without a target, and the concurrent runs show how the pages share 2 cores."
        ),
    ]
}

fn render_section(args: &Args, reports: &[Report], notes: &[String], machine: &Machine) -> String {
    let mut out = String::new();
    machine.open_section(&mut out, "Web pages (issue 6)", &verdicts(args, reports));
    let pages = reports.iter().flat_map(|report| {
        report.pages.iter().map(|row| {
            let (target, met) = if row.judged() {
                (format!("p99 ≤ {PAGE_P99_TARGET_MS} ms"), yes_no(row.met()))
            } else {
                ("—".to_owned(), "—")
            };
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
        [
            (
                "contacts seeded through the batch endpoint",
                format!("{} records/s", thousands(report.insert_rate)),
            ),
            (
                "server memory after the pages (VmRSS)",
                report.memory.describe(),
            ),
            ("5xx answers", report.server_errors.to_string()),
        ]
        .map(|(name, value)| vec![report.database.to_owned(), name.to_owned(), value])
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
