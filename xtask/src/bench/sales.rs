//! `cargo xtask bench-sales`: what the sales plugin (`plugins/sales`, Kith issue 7) costs a
//! deal's writes, and how long its forecast takes over 100k deals, against a release build on
//! SQLite and on PostgreSQL.
//!
//! For each database the bench starts a release `kith serve` on a fresh database, as
//! `bench-api` does (the bench admin and their API token made with the CLI), and then:
//!
//! 1. enables the plugin the `kith` binary ships (built from `plugins/sales` by host's build
//!    script, installed by `kith serve` at start) in the bench workspace through
//!    `POST /api/v1/plugins/sales/enable`, granting what it asks for. Its `on_enable` makes the
//!    default "Sales" pipeline and its stages, which the bench checks; the bench adds a second
//!    pipeline, "Enterprise", with its stages;
//! 2. builds the baseline: a second workspace on the same server and database, whose admin
//!    (made with the CLI) creates, through `POST /api/v1/meta/entities`, custom types with the
//!    plugin's own definitions — read from `plugins/sales/plugin.toml` with the host's manifest
//!    parser; a reference to a type not created yet (`lead` ↔ `deal`) is added afterwards
//!    through `POST /meta/entities/{type}/fields` — and the same two pipelines and stages as
//!    records. No plugin is enabled there, so nothing sets `status` or `probability` or keeps
//!    a stage history. The bench checks that both workspaces describe `deals` alike;
//! 3. creates `OWNERS` users in the plugin's workspace with a role that reads everything but
//!    sees, creates and edits only its own deals;
//! 4. seeds `--deals` deals in each workspace through the batch endpoint (the same deals in
//!    both; in the plugin's, spread over the owners): two pipelines, open stages mostly, some
//!    won (closed in the forecast's months) and lost (with a reason), EUR and USD, expected to
//!    close over the next 12 months;
//! 5. times `GET /p/sales/forecast?months=12` as the admin, then as one of the owners, and
//!    checks every answer against the sums the bench computes from the deals it seeded;
//! 6. times, one request at a time and alternating the two workspaces request by request
//!    (which goes first alternates too, so drift in the machine's load hits both alike):
//!    creating a deal, changing its amount (`PATCH` with `If-Match`), and moving it to another
//!    open stage of its pipeline (`PATCH` of `stage` with `If-Match`), checking that the
//!    plugin's workspace answers with the status, probability and stage history the plugin
//!    keeps.
//!
//! A latency is the wall-clock time from sending a request to having read its whole answer
//! (`bench-api`'s client and nearest-rank statistics).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use chrono::{Datelike, Months, NaiveDate};
use host::demo::Rng;
use host::plugins::manifest::Manifest;
use reqwest::header::IF_MATCH;
use reqwest::{RequestBuilder, StatusCode};
use serde_json::{Value, json};

use super::{
    self as bench, Api, Backend, Databases, Machine, Memory, Reply, Stats, Users, api,
    close_section, form_body, millis, p99_rank, table, thousands, yes_no,
};

const PLUGIN: &str = "sales";
/// The goals: the forecast over 100k deals, and what the plugin adds to a deal's save.
const TARGET_DEALS: usize = 100_000;
const FORECAST_P99_TARGET_MS: f64 = 200.0;
const RATIO_TARGET: f64 = 1.3;
/// The forecast timed: `months=12` from the current month.
const FORECAST_MONTHS: u32 = 12;
const FORECAST_WARMUP: usize = 3;
/// Requests per write operation and workspace before the timed ones, not counted.
const WRITE_WARMUP: usize = 50;
/// Users owning the seeded deals of the plugin's workspace.
const OWNERS: usize = 8;
const OWNER_ROLE: &str = "deal_owner";
const PLAIN_WORKSPACE: &str = "plain";
const PLAIN_ADMIN: &str = "plain@kith.local";
/// Shares of the seeded deals: in the Sales pipeline (the rest in Enterprise), won, lost (the
/// rest are open), and in EUR (the rest in USD).
const SALES_SHARE: f64 = 0.6;
const WON_SHARE: f64 = 0.15;
const LOST_SHARE: f64 = 0.10;
const EUR_SHARE: f64 = 0.7;
/// Deal amounts, in cents: 500.00 to 250,000.00.
const MIN_CENTS: u64 = 50_000;
const MAX_CENTS: u64 = 25_000_000;
const LOST_REASONS: [&str; 3] = ["Price", "Chose a competitor", "No budget"];
/// Problems of one kind quoted in the report; the others are only counted.
const QUOTED_PROBLEMS: usize = 3;

const MARKERS: (&str, &str) = ("<!-- bench-sales:start -->", "<!-- bench-sales:end -->");

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Deals seeded in each workspace before the forecast is timed (at least 1,000).
    #[arg(long, default_value_t = TARGET_DEALS)]
    deals: usize,
    /// Timed requests per write operation and workspace (at least 100).
    #[arg(long, default_value_t = 1_000)]
    writes: usize,
    /// Timed forecasts per reader, after 3 warm-up requests.
    #[arg(long, default_value_t = 30)]
    forecasts: usize,
    #[command(flatten)]
    databases: Databases,
    /// Write the results into this markdown file (e.g. BENCHMARKS.md), replacing the section
    /// between `<!-- bench-sales:start -->` and `<!-- bench-sales:end -->`.
    #[arg(long)]
    write: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.deals < 1_000 {
        bail!("--deals must be at least 1,000");
    }
    if args.writes < 100 {
        bail!("--writes must be at least 100 (a p99 of fewer samples is their maximum)");
    }
    if args.forecasts == 0 {
        bail!("--forecasts must be at least 1");
    }
    let (backends, mut notes) = args.databases.backends()?;
    if bench::rerun_release_build(&["host"])? {
        return Ok(());
    }
    let manifest_path = crate::workspace_root().join("plugins/sales/plugin.toml");
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("cannot read {}", manifest_path.display()))?;
    let manifest =
        Manifest::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", manifest_path.display()))?;
    let kith = bench::release_dir().join("kith");
    let machine = Machine::probe();
    let runtime = bench::runtime()?;
    let setup = Setup {
        kith: &kith,
        manifest: &manifest,
        args: &args,
    };
    let mut reports = Vec::with_capacity(backends.len());
    for backend in &backends {
        eprintln!("== {} ==", backend.label());
        reports.push(runtime.block_on(bench_backend(&setup, backend))?);
    }
    notes.extend(standard_notes(&args));
    let section = render_section(&args, &reports, &notes, &machine);
    bench::publish_section(&section, args.write.as_deref(), MARKERS)
}

/// What every database's run needs.
struct Setup<'a> {
    kith: &'a Path,
    manifest: &'a Manifest,
    args: &'a Args,
}

// -- pipelines, workspaces and deals -------------------------------------------------------------

struct StageDef {
    name: &'static str,
    probability: i64,
    outcome: &'static str,
}

const fn stage(name: &'static str, probability: i64, outcome: &'static str) -> StageDef {
    StageDef {
        name,
        probability,
        outcome,
    }
}

struct PipelineDef {
    name: &'static str,
    is_default: bool,
    /// In position order: `OPEN_STAGES` open ones, then the won one, then the lost one.
    stages: [StageDef; 6],
}

const OPEN_STAGES: usize = 4;
const WON_STAGE: usize = 4;
const LOST_STAGE: usize = 5;

/// The default pipeline the plugin's `on_enable` makes (SPEC), then the one the bench adds.
const PIPELINES: [PipelineDef; 2] = [
    PipelineDef {
        name: "Sales",
        is_default: true,
        stages: [
            stage("Qualification", 10, "open"),
            stage("Discovery", 20, "open"),
            stage("Proposal", 50, "open"),
            stage("Negotiation", 75, "open"),
            stage("Won", 100, "won"),
            stage("Lost", 0, "lost"),
        ],
    },
    PipelineDef {
        name: "Enterprise",
        is_default: false,
        stages: [
            stage("Qualification", 5, "open"),
            stage("Technical fit", 15, "open"),
            stage("Business case", 35, "open"),
            stage("Procurement", 60, "open"),
            stage("Closed won", 100, "won"),
            stage("Closed lost", 0, "lost"),
        ],
    },
];

/// A pipeline's record id and its stages' ids, in `PipelineDef` order.
struct Pipeline {
    id: String,
    stages: Vec<String>,
}

/// One workspace's client and its pipelines, in `PIPELINES` order.
struct Workspace {
    api: Api,
    pipelines: Vec<Pipeline>,
}

impl Workspace {
    fn stage_id(&self, pipeline: usize, stage: usize) -> &str {
        &self.pipelines[pipeline].stages[stage]
    }
}

/// A deal as the bench makes it, the same in both workspaces.
#[derive(Debug, Clone)]
struct Deal {
    pipeline: usize,
    stage: usize,
    cents: u64,
    currency: &'static str,
    /// The expected close, and the close date of a won deal.
    close: NaiveDate,
    /// An index into the owners (the plugin's workspace only).
    owner: usize,
}

impl Deal {
    /// A random deal expected to close in the 12 months from `start`; with `closed`, possibly
    /// won or lost.
    fn random(rng: &mut Rng, start: NaiveDate, closed: bool) -> Deal {
        let pipeline = usize::from(!rng.chance(SALES_SHARE));
        let stage = if closed && rng.chance(WON_SHARE) {
            WON_STAGE
        } else if closed && rng.chance(LOST_SHARE / (1.0 - WON_SHARE)) {
            LOST_STAGE
        } else {
            rng.below(OPEN_STAGES as u64) as usize
        };
        let month = start
            .checked_add_months(Months::new(rng.below(FORECAST_MONTHS.into()) as u32))
            .unwrap_or(start);
        let day = 1 + rng.below(28) as u32;
        Deal {
            pipeline,
            stage,
            cents: MIN_CENTS + rng.below(MAX_CENTS - MIN_CENTS + 1),
            currency: if rng.chance(EUR_SHARE) { "EUR" } else { "USD" },
            close: month.with_day(day).unwrap_or(month),
            owner: rng.below(OWNERS as u64) as usize,
        }
    }

    fn def(&self) -> &'static StageDef {
        &PIPELINES[self.pipeline].stages[self.stage]
    }

    /// The record to create in `ws`, owned by `owner` if given.
    fn body(&self, index: usize, ws: &Workspace, owner: Option<&str>) -> Value {
        let mut body = json!({
            "name": format!("Deal {index}"),
            "amount": money(self.cents, self.currency),
            "pipeline": ws.pipelines[self.pipeline].id,
            "stage": ws.stage_id(self.pipeline, self.stage),
            "expected_close": self.close.to_string(),
        });
        match self.stage {
            WON_STAGE => body["close_date"] = json!(self.close.to_string()),
            LOST_STAGE => body["lost_reason"] = json!(LOST_REASONS[self.cents as usize % 3]),
            _ => {}
        }
        if let Some(owner) = owner {
            body["owner"] = json!(owner);
        }
        body
    }
}

fn money(cents: u64, currency: &str) -> Value {
    json!({ "amount": fixed(cents), "currency": currency })
}

/// Cents as a decimal text with 2 decimals, as the forecast answers amounts.
fn fixed(cents: u64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// The first day of the current month (UTC), the forecast's first month.
fn this_month() -> NaiveDate {
    let today = chrono::Utc::now().date_naive();
    today.with_day(1).unwrap_or(today)
}

fn month_key(date: NaiveDate) -> String {
    format!("{:04}-{:02}", date.year(), date.month())
}

/// The `id` of a created record.
fn id_of(reply: &Reply) -> anyhow::Result<String> {
    reply
        .json()?
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| reply.unexpected("an `id`"))
}

/// A list request's path with its query.
fn list_path(plural: &str, filter: &str, sort: &str) -> String {
    let query = form_body(&[("filter", filter), ("sort", sort), ("limit", "500")]);
    format!("{plural}?{query}")
}

// -- one database --------------------------------------------------------------------------------

/// Everything measured on one database.
struct Report {
    database: &'static str,
    /// Deals seeded per second through the batch endpoint: with the plugin, without.
    seeding: [f64; 2],
    forecasts: Vec<ForecastRow>,
    writes: Vec<WriteRow>,
    problems: Problems,
    memory: Memory,
    server_errors: u64,
}

async fn bench_backend(setup: &Setup<'_>, backend: &Backend) -> anyhow::Result<Report> {
    bench::on_fresh_database(backend, |url, dir| async move {
        let kith = setup.kith;
        let (server, admin) = bench::start_server(kith, &url, &dir).await?;
        let with = plugin_workspace(&admin, setup.manifest).await?;
        let token = bench::create_admin(kith, &url, &dir, PLAIN_ADMIN, PLAIN_WORKSPACE)?;
        let without = plain_workspace(admin.with_token(Some(&token))?, setup.manifest).await?;
        let (ours, theirs) = (
            deal_fields(&without.api).await?,
            deal_fields(&with.api).await?,
        );
        let names: HashSet<&String> = ours.keys().chain(theirs.keys()).collect();
        let differ: Vec<String> = names
            .into_iter()
            .filter(|name| ours.get(*name) != theirs.get(*name))
            .map(|name| {
                format!(
                    "{name}: {:?} against {:?}",
                    ours.get(name),
                    theirs.get(name)
                )
            })
            .collect();
        if !differ.is_empty() {
            bail!(
                "the baseline's `deals` fields differ from the plugin's: {}",
                differ.join("; ")
            );
        }
        let users = Users {
            role: OWNER_ROLE,
            types: json!({
                "*": { "create": "own", "read": "all", "edit": "own", "delete": "own" },
                "deal": { "create": "own", "read": "own", "edit": "own", "delete": "own" },
            }),
            count: OWNERS,
            email_prefix: "owner",
        };
        let owners = bench::create_users(kith, &url, &dir, &with.api, &users).await?;
        let owner_ids: Vec<&str> = owners.iter().map(|o| o.id.as_str()).collect();

        let start = this_month();
        let mut rng = Rng::new(api::SEED);
        let deals: Vec<Deal> = (0..setup.args.deals)
            .map(|_| Deal::random(&mut rng, start, true))
            .collect();
        let mut problems = Problems::default();
        let seeding = [
            seed(&with, &deals, Some(&owner_ids), &mut problems).await?,
            seed(&without, &deals, None, &mut problems).await?,
        ];

        let runs = setup.args.forecasts;
        let everyone = Expected::of(&deals, start, &owner_ids, None);
        let mine = Expected::of(&deals, start, &owner_ids, Some(0));
        let forecasts = vec![
            time_forecast(&with.api, "admin (role admin: every deal)", &everyone, runs).await?,
            time_forecast(
                &owners[0].api,
                "owner (role reads only their own deals)",
                &mine,
                runs,
            )
            .await?,
        ];
        for row in &forecasts {
            if let Err(problem) = &row.checked {
                problems.note("forecast", format!("{}: {problem}", row.reader));
            }
        }

        let writes = bench_writes(
            [&with, &without],
            &mut rng,
            start,
            setup.args.writes,
            &mut problems,
        )
        .await?;
        Ok(Report {
            database: backend.label(),
            seeding,
            forecasts,
            writes,
            problems,
            memory: server.memory()?,
            server_errors: admin.server_errors(),
        })
    })
    .await
}

/// Enables the installed plugin in the bench workspace, checks the pipeline its `on_enable`
/// made and adds the second one.
async fn plugin_workspace(api: &Api, manifest: &Manifest) -> anyhow::Result<Workspace> {
    let grant = json!({ "grant": manifest.permissions_summary() });
    api.expect(
        api.post(&format!("plugins/{PLUGIN}/enable"), &grant)?,
        StatusCode::OK,
    )
    .await?;
    let default = read_pipeline(api, &PIPELINES[0]).await?;
    let second = create_pipeline(api, &PIPELINES[1]).await?;
    eprintln!("  enabled {PLUGIN} in `{}`", bench::WORKSPACE);
    Ok(Workspace {
        api: api.clone(),
        pipelines: vec![default, second],
    })
}

/// The baseline workspace: the plugin's types as custom types, the same pipelines, no plugin.
/// Its `deals` must be described like the plugin's.
async fn plain_workspace(api: Api, manifest: &Manifest) -> anyhow::Result<Workspace> {
    create_types(&api, manifest).await?;
    let mut pipelines = Vec::with_capacity(PIPELINES.len());
    for def in &PIPELINES {
        pipelines.push(create_pipeline(&api, def).await?);
    }
    eprintln!("  made the baseline workspace `{PLAIN_WORKSPACE}`");
    Ok(Workspace { api, pipelines })
}

/// Creates the manifest's entity types as custom types, in its order; a reference field to
/// one of them not created yet is added once all exist.
async fn create_types(api: &Api, manifest: &Manifest) -> anyhow::Result<()> {
    let declared: HashSet<&str> = manifest.entities.iter().map(|t| t.name.as_str()).collect();
    let mut created = HashSet::new();
    let mut later = Vec::new();
    for ty in &manifest.entities {
        let mut ty = ty.clone();
        let (fields, deferred): (Vec<_>, Vec<_>) = ty.fields.into_iter().partition(|field| {
            field
                .target
                .as_deref()
                .is_none_or(|t| !declared.contains(t) || created.contains(t))
        });
        ty.fields = fields;
        api.expect(
            api.post("meta/entities", &serde_json::to_value(&ty)?)?,
            StatusCode::CREATED,
        )
        .await?;
        created.insert(ty.name.clone());
        later.extend(deferred.into_iter().map(|field| (ty.plural.clone(), field)));
    }
    for (plural, field) in later {
        api.expect(
            api.post(
                &format!("meta/entities/{plural}/fields"),
                &serde_json::to_value(&field)?,
            )?,
            StatusCode::CREATED,
        )
        .await?;
    }
    Ok(())
}

/// The field definitions of `deals` as `GET /meta/entities/deals` describes them, by name,
/// without what says where they come from, nor their labels (which the host derives from the
/// names for custom fields but leaves empty for a plugin's).
async fn deal_fields(api: &Api) -> anyhow::Result<BTreeMap<String, Value>> {
    let reply = api
        .expect(api.get("meta/entities/deals")?, StatusCode::OK)
        .await?;
    let body = reply.json()?;
    let fields = body
        .get("fields")
        .and_then(Value::as_array)
        .ok_or_else(|| reply.unexpected("`fields`"))?;
    Ok(fields
        .iter()
        .filter_map(|field| {
            let mut field = field.as_object()?.clone();
            for key in ["custom", "source", "read_only", "label"] {
                field.remove(key);
            }
            let name = field.get("name")?.as_str()?.to_owned();
            Some((name, Value::Object(field)))
        })
        .collect())
}

/// A pipeline and its stages, created as records.
async fn create_pipeline(api: &Api, def: &PipelineDef) -> anyhow::Result<Pipeline> {
    let body = json!({ "name": def.name, "is_default": def.is_default });
    let id = id_of(
        &api.expect(api.post("pipelines", &body)?, StatusCode::CREATED)
            .await?,
    )?;
    let mut stages = Vec::with_capacity(def.stages.len());
    for (position, stage) in def.stages.iter().enumerate() {
        let body = json!({
            "name": stage.name,
            "pipeline": id,
            "position": position + 1,
            "probability": stage.probability,
            "outcome": stage.outcome,
        });
        stages.push(id_of(
            &api.expect(api.post("stages", &body)?, StatusCode::CREATED)
                .await?,
        )?);
    }
    Ok(Pipeline { id, stages })
}

/// The pipeline `def` the plugin made, which must have exactly `def`'s stages.
async fn read_pipeline(api: &Api, def: &PipelineDef) -> anyhow::Result<Pipeline> {
    let path = list_path("pipelines", &api::eq_filter("name", def.name), "created_at");
    let reply = api.expect(api.get(&path)?, StatusCode::OK).await?;
    let found = bench::records_of(&reply)?;
    let [pipeline] = found.as_slice() else {
        bail!(
            "the plugin's on_enable made {} pipelines named {:?}, not one: {found:?}",
            found.len(),
            def.name
        );
    };
    let id = pipeline["id"].as_str().unwrap_or_default().to_owned();
    let path = list_path("stages", &api::eq_filter("pipeline", &id), "position");
    let reply = api.expect(api.get(&path)?, StatusCode::OK).await?;
    let stages = bench::records_of(&reply)?;
    let seen: Vec<(String, i64, String)> = stages
        .iter()
        .map(|s| {
            let text = |key: &str| s[key].as_str().unwrap_or_default().to_owned();
            (
                text("name"),
                s["probability"].as_i64().unwrap_or(-1),
                text("outcome"),
            )
        })
        .collect();
    let wanted: Vec<(String, i64, String)> = def
        .stages
        .iter()
        .map(|s| (s.name.to_owned(), s.probability, s.outcome.to_owned()))
        .collect();
    if seen != wanted {
        bail!(
            "the plugin's on_enable made the {:?} pipeline with the stages {seen:?}, not {wanted:?}",
            def.name
        );
    }
    let stages = stages
        .iter()
        .map(|s| s["id"].as_str().unwrap_or_default().to_owned())
        .collect();
    Ok(Pipeline { id, stages })
}

/// What the bench saw go wrong, by kind: the first few quoted, all counted.
#[derive(Default)]
struct Problems(BTreeMap<&'static str, (usize, Vec<String>)>);

impl Problems {
    fn note(&mut self, kind: &'static str, problem: String) {
        let (count, quoted) = self.0.entry(kind).or_default();
        if *count == 0 {
            eprintln!("  warning: {kind}: {problem}");
        }
        *count += 1;
        if quoted.len() < QUOTED_PROBLEMS {
            quoted.push(problem);
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn lines(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(kind, (count, quoted))| format!("{kind}: {count}× — {}", quoted.join("; ")))
            .collect()
    }
}

/// Seeds the deals through the batch endpoint; `owners` gives their owners' user ids (else
/// the admin owns them). Returns deals per second. In the plugin's workspace each created
/// deal must have its stage's status.
async fn seed(
    ws: &Workspace,
    deals: &[Deal],
    owners: Option<&[&str]>,
    problems: &mut Problems,
) -> anyhow::Result<f64> {
    let bodies: Vec<String> = deals
        .chunks(api::BATCH)
        .enumerate()
        .map(|(batch, chunk)| {
            let records: Vec<Value> = chunk
                .iter()
                .enumerate()
                .map(|(i, deal)| {
                    let owner = owners.map(|ids| ids[deal.owner]);
                    deal.body(batch * api::BATCH + i, ws, owner)
                })
                .collect();
            json!({ "operation": "create", "records": records }).to_string()
        })
        .collect();
    let requests = bodies
        .into_iter()
        .map(|body| ws.api.post_raw("deals/batch", body))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let started = Instant::now();
    let replies = ws.api.expect_each(requests, StatusCode::OK).await?;
    let elapsed = started.elapsed();
    let mut created = Vec::with_capacity(deals.len());
    for reply in &replies {
        created.extend(bench::records_of(reply)?);
    }
    if created.len() != deals.len() {
        bail!(
            "the batches created {} deals, not {}",
            created.len(),
            deals.len()
        );
    }
    if owners.is_some() {
        for (deal, record) in deals.iter().zip(&created) {
            if record["status"] != deal.def().outcome {
                problems.note(
                    "seeded deal without its stage's status",
                    format!(
                        "stage {:?} but status {}",
                        deal.def().name,
                        record["status"]
                    ),
                );
            }
        }
    }
    let rate = deals.len() as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
    eprintln!(
        "  seeded {} deals {} in {:.2} s: {rate:.0} deals/s",
        deals.len(),
        if owners.is_some() {
            "with the plugin"
        } else {
            "without it"
        },
        elapsed.as_secs_f64()
    );
    Ok(rate)
}

// -- the forecast --------------------------------------------------------------------------------

/// Exact sums of one month, owner and currency: cents, and cents × percent for the weighted.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sums {
    open: u64,
    weighted: u64,
    won: u64,
    deals: u64,
}

impl Sums {
    fn add(&mut self, other: &Sums) {
        self.open += other.open;
        self.weighted += other.weighted;
        self.won += other.won;
        self.deals += other.deals;
    }

    /// Open, weighted (rounded half up to cents) and won, as the forecast writes them.
    fn texts(&self) -> [String; 3] {
        [
            fixed(self.open),
            fixed((self.weighted + 50) / 100),
            fixed(self.won),
        ]
    }
}

/// The forecast the seeded deals make: its months, and its rows by (month, owner, currency).
struct Expected {
    months: Vec<String>,
    rows: BTreeMap<(String, String, String), Sums>,
}

impl Expected {
    /// Of every deal, or of the owner `only`'s deals.
    fn of(deals: &[Deal], start: NaiveDate, owners: &[&str], only: Option<usize>) -> Expected {
        let months = (0..FORECAST_MONTHS)
            .filter_map(|m| start.checked_add_months(Months::new(m)))
            .map(month_key)
            .collect();
        let mut rows: BTreeMap<_, Sums> = BTreeMap::new();
        for deal in deals.iter().filter(|d| only.is_none_or(|o| d.owner == o)) {
            let def = deal.def();
            let sums = match def.outcome {
                "open" => Sums {
                    open: deal.cents,
                    weighted: deal.cents * def.probability.unsigned_abs(),
                    won: 0,
                    deals: 1,
                },
                "won" => Sums {
                    won: deal.cents,
                    deals: 1,
                    ..Sums::default()
                },
                _ => continue,
            };
            let key = (
                month_key(deal.close),
                owners[deal.owner].to_owned(),
                deal.currency.to_owned(),
            );
            rows.entry(key).or_default().add(&sums);
        }
        Expected { months, rows }
    }

    /// Checks an answer of `GET /forecast`: its months, every row and every total.
    fn check(&self, answer: &Value) -> Result<(), String> {
        let months: Vec<&str> = answer["months"]
            .as_array()
            .map(|m| m.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if months != self.months {
            return Err(format!("months {months:?}, not {:?}", self.months));
        }
        let text = |row: &Value, key: &str| row[key].as_str().unwrap_or("?").to_owned();
        let mut rows = BTreeMap::new();
        for row in answer["currency_rows"].as_array().into_iter().flatten() {
            let key = (
                text(row, "month"),
                text(row, "owner"),
                text(row, "currency"),
            );
            let sums = ["open", "weighted", "won"].map(|k| text(row, k));
            rows.insert(key, (sums, row["deals"].as_u64().unwrap_or(0)));
        }
        for (key, sums) in &self.rows {
            let wanted = (sums.texts(), sums.deals);
            match rows.remove(key) {
                Some(found) if found == wanted => {}
                Some(found) => {
                    return Err(format!(
                        "row {key:?}: open/weighted/won/deals {found:?}, not {wanted:?}"
                    ));
                }
                None => return Err(format!("no row {key:?} (expected {wanted:?})")),
            }
        }
        if let Some((key, found)) = rows.into_iter().next() {
            return Err(format!("unexpected row {key:?}: {found:?}"));
        }
        let mut totals: BTreeMap<(String, String), Sums> = BTreeMap::new();
        for ((month, _, currency), sums) in &self.rows {
            totals
                .entry((month.clone(), currency.clone()))
                .or_default()
                .add(sums);
        }
        for total in answer["totals"].as_array().into_iter().flatten() {
            let key = (text(total, "month"), text(total, "currency"));
            let wanted = totals.remove(&key).unwrap_or_default().texts();
            let found = ["open", "weighted", "won"].map(|k| text(total, k));
            if found != wanted {
                return Err(format!("total {key:?}: {found:?}, not {wanted:?}"));
            }
        }
        match totals.into_keys().next() {
            Some(key) => Err(format!("no total {key:?}")),
            None => Ok(()),
        }
    }
}

/// The forecast timed as one reader.
struct ForecastRow {
    reader: &'static str,
    /// Open and won deals the last answer counts, and its rows.
    deals: u64,
    rows: usize,
    stats: Stats,
    /// The first wrong answer, if any.
    checked: Result<(), String>,
}

/// `GET /p/sales/forecast?months=12`, `FORECAST_WARMUP` times, then `runs` times timed; every
/// answer is checked against `expected`.
async fn time_forecast(
    api: &Api,
    reader: &'static str,
    expected: &Expected,
    runs: usize,
) -> anyhow::Result<ForecastRow> {
    let path = format!("/p/{PLUGIN}/forecast?months={FORECAST_MONTHS}");
    let mut samples = Vec::with_capacity(runs);
    let mut checked = Ok(());
    let (mut rows, mut deals) = (0, 0);
    for i in 0..FORECAST_WARMUP + runs {
        let reply = api.expect(api.get(&path)?, StatusCode::OK).await?;
        if i >= FORECAST_WARMUP {
            samples.push(reply.elapsed);
        }
        let answer = reply.json()?;
        let answer_rows = answer["currency_rows"]
            .as_array()
            .map_or(&[][..], Vec::as_slice);
        rows = answer_rows.len();
        deals = answer_rows.iter().filter_map(|r| r["deals"].as_u64()).sum();
        if checked.is_ok() {
            checked = expected.check(&answer);
        }
    }
    let row = ForecastRow {
        reader,
        deals,
        rows,
        stats: Stats::of(samples),
        checked,
    };
    eprintln!(
        "  forecast as {reader}: p50 {:.1} ms, p99 {:.1} ms, {} rows, {}",
        millis(row.stats.p50),
        millis(row.stats.p99),
        row.rows,
        match &row.checked {
            Ok(()) => "answers correct".to_owned(),
            Err(problem) => format!("WRONG: {problem}"),
        }
    );
    Ok(row)
}

// -- writes, with the plugin and without ---------------------------------------------------------

/// One write operation, timed in both workspaces.
struct WriteRow {
    operation: &'static str,
    with: Stats,
    without: Stats,
}

impl WriteRow {
    fn ratio(&self) -> f64 {
        self.with.p50_ratio(&self.without)
    }

    fn p99_ratio(&self) -> f64 {
        self.with.p99_ratio(&self.without)
    }

    fn met(&self) -> bool {
        self.ratio() <= RATIO_TARGET
    }
}

/// Sends `turns` requests to each workspace (0: the plugin's, 1: the baseline), alternating
/// request by request and which goes first; every answer must be `expected`.
async fn interleaved(
    sides: [&Workspace; 2],
    turns: usize,
    expected: StatusCode,
    mut request: impl FnMut(usize, usize) -> anyhow::Result<RequestBuilder>,
) -> anyhow::Result<[Vec<Reply>; 2]> {
    let mut replies = [Vec::with_capacity(turns), Vec::with_capacity(turns)];
    for i in 0..turns {
        let order = if i % 2 == 0 { [0, 1] } else { [1, 0] };
        for side in order {
            let api = &sides[side].api;
            replies[side].push(api.expect(request(side, i)?, expected).await?);
        }
    }
    Ok(replies)
}

/// The timed replies' statistics, with the plugin and without.
fn write_row(operation: &'static str, replies: &[Vec<Reply>; 2]) -> WriteRow {
    let stats = |side: &Vec<Reply>| Stats::of(side.iter().skip(WRITE_WARMUP).map(|r| r.elapsed));
    let row = WriteRow {
        operation,
        with: stats(&replies[0]),
        without: stats(&replies[1]),
    };
    eprintln!(
        "  {operation}: p50 {:.2} ms with the plugin, {:.2} ms without ({:.2}×); p99 {:.2} / {:.2} ms",
        millis(row.with.p50),
        millis(row.without.p50),
        row.ratio(),
        millis(row.with.p99),
        millis(row.without.p99)
    );
    row
}

/// A deal as a workspace stored it: its id, version and answer.
struct Saved {
    id: String,
    version: i64,
    record: Value,
}

fn saved(replies: &[Reply]) -> anyhow::Result<Vec<Saved>> {
    replies
        .iter()
        .map(|reply| {
            let record = reply.json()?;
            let id = record["id"].as_str().map(str::to_owned);
            let version = record["version"].as_i64();
            let (Some(id), Some(version)) = (id, version) else {
                return Err(reply.unexpected("a deal with its `id` and `version`"));
            };
            Ok(Saved {
                id,
                version,
                record,
            })
        })
        .collect()
}

/// What the plugin keeps on a deal in stage `stage_id` after `history` stage changes; `None`
/// if it is so.
fn follows_stage(record: &Value, stage_id: &str, def: &StageDef, history: usize) -> Option<String> {
    let entries = record["stage_history"].as_array().map_or(0, Vec::len);
    let ok = record["stage"] == stage_id
        && record["status"] == def.outcome
        && record["probability"] == def.probability
        && entries == history
        && record["stage_entered_at"].is_string();
    (!ok).then(|| {
        format!(
            "in stage {:?} expected status {}, probability {}, {history} history entries; got status {}, probability {}, {entries} entries, stage_entered_at {}",
            def.name,
            def.outcome,
            def.probability,
            record["status"],
            record["probability"],
            record["stage_entered_at"]
        )
    })
}

/// Creates, updates the amount of and moves `writes` deals (after `WRITE_WARMUP`) in both
/// workspaces, checking what the plugin keeps on its side.
async fn bench_writes(
    sides: [&Workspace; 2],
    rng: &mut Rng,
    start: NaiveDate,
    writes: usize,
    problems: &mut Problems,
) -> anyhow::Result<Vec<WriteRow>> {
    let turns = WRITE_WARMUP + writes;
    let deals: Vec<Deal> = (0..turns)
        .map(|_| Deal::random(rng, start, false))
        .collect();
    let if_match =
        |builder: RequestBuilder, version: i64| builder.header(IF_MATCH, format!("\"{version}\""));

    let created = interleaved(sides, turns, StatusCode::CREATED, |side, i| {
        sides[side]
            .api
            .post("deals", &deals[i].body(i, sides[side], None))
    })
    .await?;
    let mut rows = vec![write_row(
        "create (`POST /deals`: name, amount, pipeline, stage, expected_close)",
        &created,
    )];
    let mut state = [saved(&created[0])?, saved(&created[1])?];
    for (deal, saved) in deals.iter().zip(&state[0]) {
        let stage = sides[0].stage_id(deal.pipeline, deal.stage);
        if let Some(problem) = follows_stage(&saved.record, stage, deal.def(), 1) {
            problems.note("created deal", problem);
        }
    }

    let amounts: Vec<u64> = (0..turns)
        .map(|_| MIN_CENTS + rng.below(MAX_CENTS - MIN_CENTS + 1))
        .collect();
    let updated = interleaved(sides, turns, StatusCode::OK, |side, i| {
        let deal = &state[side][i];
        let body = json!({ "amount": money(amounts[i], deals[i].currency) });
        let path = format!("deals/{}", deal.id);
        Ok(if_match(sides[side].api.patch(&path, &body)?, deal.version))
    })
    .await?;
    rows.push(write_row(
        "update the amount (`PATCH` with `If-Match`)",
        &updated,
    ));
    state = [saved(&updated[0])?, saved(&updated[1])?];
    for (side, saved) in state.iter().enumerate() {
        for (i, deal) in saved.iter().enumerate() {
            if deal.record["amount"]["amount"] != fixed(amounts[i]) {
                problems.note(
                    "updated amount",
                    format!(
                        "sent {}, stored {}",
                        fixed(amounts[i]),
                        deal.record["amount"]
                    ),
                );
            }
            let stage = sides[side].stage_id(deals[i].pipeline, deals[i].stage);
            if side == 0
                && let Some(problem) = follows_stage(&deal.record, stage, deals[i].def(), 1)
            {
                problems.note("deal after an amount update", problem);
            }
        }
    }

    // Another open stage of the same pipeline.
    let targets: Vec<usize> = deals
        .iter()
        .map(|deal| (deal.stage + 1 + rng.below(OPEN_STAGES as u64 - 1) as usize) % OPEN_STAGES)
        .collect();
    let moved = interleaved(sides, turns, StatusCode::OK, |side, i| {
        let deal = &state[side][i];
        let stage = sides[side].stage_id(deals[i].pipeline, targets[i]);
        let path = format!("deals/{}", deal.id);
        let builder = sides[side].api.patch(&path, &json!({ "stage": stage }))?;
        Ok(if_match(builder, deal.version))
    })
    .await?;
    rows.push(write_row(
        "move to another open stage (`PATCH` of `stage` with `If-Match`)",
        &moved,
    ));
    for (i, deal) in saved(&moved[0])?.iter().enumerate() {
        let target = &PIPELINES[deals[i].pipeline].stages[targets[i]];
        let stage = sides[0].stage_id(deals[i].pipeline, targets[i]);
        if let Some(problem) = follows_stage(&deal.record, stage, target, 2) {
            problems.note("moved deal", problem);
        }
    }
    Ok(rows)
}

// -- the report ----------------------------------------------------------------------------------

fn standard_notes(args: &Args) -> Vec<String> {
    let stages = |def: &PipelineDef| {
        def.stages
            .iter()
            .map(|s| format!("{} {}% {}", s.name, s.probability, s.outcome))
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        format!(
            "Baseline: on the same server and database, a second workspace `{PLAIN_WORKSPACE}` whose admin created, through `POST /api/v1/meta/entities`, custom types with the plugin's own definitions of `pipeline`, `stage`, `lead` and `deal` (read from `plugins/sales/plugin.toml` with the host's manifest parser; `lead` is there because `deal.lead` refers to it, and the `lead`↔`deal` references were added once both types existed, through `POST /meta/entities/{{type}}/fields`), and the same pipelines and stages as records — and no plugin: no hook runs, nothing sets `status` or `probability` or keeps `stage_history`. The bench checks that `GET /meta/entities/deals` describes the same fields in both workspaces."
        ),
        format!(
            "Data: the plugin the `kith` binary ships (installed by `kith serve` at start) is enabled through `POST /api/v1/plugins/sales/enable`; its `on_enable` made the pipeline \"Sales\" ({}), the bench added \"Enterprise\" ({}). Each workspace then got the same {} deals through `POST /api/v1/deals/batch`, {} per request: {:.0}% in Sales, about {:.0}% won (with a `close_date`), {:.0}% lost (with a `lost_reason`), the rest spread over the open stages; amounts from 500.00 to 250,000.00, {:.0}% EUR and the rest USD; `expected_close` (and a won deal's `close_date`) spread over the {FORECAST_MONTHS} months from the current one. In the plugin's workspace the deals belong to {OWNERS} users holding a role `{OWNER_ROLE}` (every type: read all, create/edit/delete own; `deal`: only own), in the baseline to its admin.",
            stages(&PIPELINES[0]),
            stages(&PIPELINES[1]),
            thousands(args.deals as f64),
            api::BATCH,
            SALES_SHARE * 100.0,
            WON_SHARE * 100.0,
            LOST_SHARE * 100.0,
            EUR_SHARE * 100.0
        ),
        format!(
            "Forecast: `GET /p/sales/forecast?months={FORECAST_MONTHS}` (all pipelines, from the current month), {FORECAST_WARMUP} warm-up requests then {} timed, as the bench admin and then as the first owner, whose role reads only their own deals (about 1/{OWNERS} of them). Every answer is checked against the sums the bench computes from the deals it seeded: the months, every row (month, owner, currency: open, weighted — Σ amount × probability, rounded half up to cents — won, deal count) and every total. {}",
            args.forecasts,
            p99_rank(args.forecasts)
        ),
        format!(
            "Writes: after the seeding, {WRITE_WARMUP} warm-up then {} timed requests per operation and workspace, one at a time, alternating the two workspaces request by request (which goes first alternates too): create a deal (an open stage, no owner given), then update each one's amount (`PATCH` with `If-Match`), then move each one to another open stage of its pipeline (`PATCH` of `stage` with `If-Match`). With the plugin, each write runs its before-save hook (a fresh instance per call) and its answer carries the `status`, `probability`, `stage_entered_at` and `stage_history` the plugin set, which the bench checks. The ratio is the plugin's median over the baseline's.",
            args.writes
        ),
        "Latencies: from sending the request to having read the whole answer, one client over keep-alive loopback connections (one per workspace); percentiles are nearest-rank; the server has 2 tokio workers on this machine's 2 cores, which the client shares.".to_owned(),
    ]
}

fn render_section(args: &Args, reports: &[Report], notes: &[String], machine: &Machine) -> String {
    let mut out = String::new();
    machine.open_section(&mut out, "Sales plugin (issue 7)", &verdicts(args, reports));
    let ms = |stats: &Stats| [stats.p50, stats.p99].map(|d| format!("{:.2}", millis(d)));
    let writes = reports.iter().flat_map(|report| {
        report.writes.iter().map(|row| {
            let mut cells = vec![
                report.database.to_owned(),
                row.operation.to_owned(),
                row.with.n.to_string(),
            ];
            cells.extend(ms(&row.without));
            cells.extend(ms(&row.with));
            cells.extend([
                format!("{:.2}×", row.ratio()),
                format!("{:.2}×", row.p99_ratio()),
                format!("p50 ratio ≤ {RATIO_TARGET}×"),
                yes_no(row.met()).to_owned(),
            ]);
            cells
        })
    });
    table(
        &mut out,
        &[
            "database",
            "write",
            "n each",
            "without plugin p50 ms",
            "p99 ms",
            "with plugin p50 ms",
            "p99 ms",
            "ratio p50",
            "ratio p99",
            "target",
            "met?",
        ],
        "llrrrrrrrll",
        writes,
    );
    let forecasts = reports.iter().flat_map(|report| {
        report.forecasts.iter().map(|row| {
            let mut cells = vec![
                report.database.to_owned(),
                row.reader.to_owned(),
                thousands(row.deals as f64),
                row.rows.to_string(),
                row.stats.n.to_string(),
            ];
            cells.extend(
                [row.stats.p50, row.stats.p99, row.stats.max].map(|d| format!("{:.1}", millis(d))),
            );
            cells.extend([
                match &row.checked {
                    Ok(()) => "correct".to_owned(),
                    Err(_) => "**wrong**".to_owned(),
                },
                format!("p99 ≤ {FORECAST_P99_TARGET_MS} ms"),
                yes_no(millis(row.stats.p99) <= FORECAST_P99_TARGET_MS).to_owned(),
            ]);
            cells
        })
    });
    table(
        &mut out,
        &[
            "database",
            "forecast as",
            "deals counted",
            "rows",
            "n",
            "p50 ms",
            "p99 ms",
            "max ms",
            "answers",
            "target",
            "met?",
        ],
        "llrrrrrrlll",
        forecasts,
    );
    let measures = reports.iter().flat_map(|report| {
        let problems = if report.problems.is_empty() {
            "none".to_owned()
        } else {
            report.problems.lines().join("<br>")
        };
        [
            (
                "deals seeded through the batch endpoint, with the plugin",
                format!("{} deals/s", thousands(report.seeding[0])),
            ),
            (
                "the same, without the plugin",
                format!("{} deals/s", thousands(report.seeding[1])),
            ),
            ("server memory at the end (VmRSS)", report.memory.describe()),
            ("5xx answers", report.server_errors.to_string()),
            ("wrong answers seen", problems),
        ]
        .map(|(name, value)| vec![report.database.to_owned(), name.to_owned(), value])
    });
    close_section(&mut out, measures, notes);
    out
}

/// One line per goal of the issue, judged from the figures.
fn verdicts(args: &Args, reports: &[Report]) -> Vec<String> {
    let writes: Vec<(&str, &WriteRow)> = reports
        .iter()
        .flat_map(|r| r.writes.iter().map(move |row| (r.database, row)))
        .collect();
    let ratios = writes
        .iter()
        .map(|(database, row)| format!("{:.2}× {} ({database})", row.ratio(), short(row.operation)))
        .collect::<Vec<_>>()
        .join(", ");
    let writes_verdict = if writes.iter().all(|(_, row)| row.met()) {
        format!("**met** — {ratios}")
    } else {
        format!("**not met** — {ratios}")
    };
    let forecasts: Vec<(&str, &ForecastRow)> = reports
        .iter()
        .flat_map(|r| r.forecasts.iter().map(move |row| (r.database, row)))
        .collect();
    let p99s = forecasts
        .iter()
        .map(|(database, row)| {
            format!(
                "p50 {:.1} ms / p99 {:.1} ms as {} ({database})",
                millis(row.stats.p50),
                millis(row.stats.p99),
                row.reader.split(' ').next().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    let forecast_verdict = if args.deals < TARGET_DEALS {
        format!(
            "not judged: this run seeded {} deals, fewer than {} — {p99s}",
            thousands(args.deals as f64),
            thousands(TARGET_DEALS as f64)
        )
    } else if forecasts
        .iter()
        .all(|(_, row)| millis(row.stats.p99) <= FORECAST_P99_TARGET_MS)
    {
        format!("**met** — {p99s}")
    } else {
        format!("**not met** — {p99s}")
    };
    let wrong: Vec<String> = reports
        .iter()
        .filter(|r| !r.problems.is_empty())
        .map(|r| format!("{}: {}", r.database, r.problems.lines().join("; ")))
        .collect();
    let answers = if wrong.is_empty() {
        "every forecast matched the bench's own sums, and every deal written with the plugin came back with its stage's status, probability and history".to_owned()
    } else {
        format!("**problems** — {}", wrong.join(" | "))
    };
    vec![
        format!(
            "- Saving a deal with the plugin ≤ {RATIO_TARGET}× without it (ratio of medians): {writes_verdict}."
        ),
        format!(
            "- Forecast over {} deals, p99 ≤ {FORECAST_P99_TARGET_MS} ms: {forecast_verdict}.",
            thousands(TARGET_DEALS as f64)
        ),
        format!("- Answers: {answers}."),
    ]
}

/// The first words of an operation's label, for the verdicts.
fn short(operation: &str) -> &str {
    operation.split(" (").next().unwrap_or(operation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_round_the_weighted_half_up() {
        // `weighted` is in hundredths of a cent: 61.7300 + 0.0050 rounds to 61.73.
        let sums = Sums {
            open: 12_345,
            weighted: 12_345 * 50 + 50,
            won: 0,
            deals: 2,
        };
        assert_eq!(sums.texts(), ["123.45", "61.73", "0.00"]);
        assert_eq!(
            Sums {
                weighted: 149,
                ..Sums::default()
            }
            .texts()[1],
            "0.01"
        );
        assert_eq!(
            Sums {
                weighted: 150,
                ..Sums::default()
            }
            .texts()[1],
            "0.02"
        );
    }

    #[test]
    fn the_expected_forecast_is_checked_row_by_row() {
        let start = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default();
        let deal = Deal {
            pipeline: 0,
            stage: 2,
            cents: 100_001,
            currency: "EUR",
            close: NaiveDate::from_ymd_opt(2027, 1, 15).unwrap_or_default(),
            owner: 1,
        };
        let won = Deal {
            stage: WON_STAGE,
            currency: "USD",
            ..deal.clone()
        };
        let expected = Expected::of(&[deal, won], start, &["a", "b"], None);
        assert_eq!(expected.months.len(), 12);
        assert_eq!(expected.rows.len(), 2);
        let mut totals: Vec<Value> = expected
            .months
            .iter()
            .map(|m| json!({ "month": m, "currency": "EUR", "open": "0.00", "weighted": "0.00", "won": "0.00" }))
            .collect();
        totals[2] = json!({ "month": "2027-01", "currency": "EUR", "open": "1000.01", "weighted": "500.01", "won": "0.00" });
        totals.push(json!({ "month": "2027-01", "currency": "USD", "open": "0.00", "weighted": "0.00", "won": "1000.01" }));
        let mut answer = json!({
            "months": expected.months,
            "currency_rows": [
                { "month": "2027-01", "owner": "b", "currency": "EUR", "open": "1000.01", "weighted": "500.01", "won": "0.00", "deals": 1 },
                { "month": "2027-01", "owner": "b", "currency": "USD", "open": "0.00", "weighted": "0.00", "won": "1000.01", "deals": 1 },
            ],
            "totals": totals,
        });
        assert_eq!(expected.check(&answer), Ok(()));
        answer["currency_rows"][0]["weighted"] = json!("500.00");
        assert!(expected.check(&answer).is_err());
    }
}
