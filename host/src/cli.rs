//! The `kith` command line (DESIGN §8). Every command takes `--db URL` (or
//! `KITH_DATABASE_URL`); errors print one line on stderr and exit non-zero. Only `token create`
//! (the token) and `export` without `--output` (the records) write to stdout.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use fluent_bundle::FluentValue;
use indicatif::{ProgressBar, ProgressStyle};

use crate::app::{Application, open_store, search_dir};
use crate::auth::{self, DEFAULT_WORKSPACE};
use crate::config::Config;
use crate::demo;
use crate::i18n::Language;
use crate::integrations::stream::StreamTarget;
use crate::plugins::Plugins;
use crate::records::Store;
use crate::records::{Actor, MAX_BATCH};
use crate::search::SearchIndex;
use crate::search::indexer::Indexer;

#[derive(Debug, Parser)]
#[command(name = "kith", version, about = "Kith: a plugin-extensible CRM server")]
struct Cli {
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB [default: sqlite://DATA_DIR/kith.db]
    #[arg(long, global = true, env = "KITH_DATABASE_URL")]
    db: Option<String>,
    /// Directory for the SQLite database and other local state.
    #[arg(
        long,
        global = true,
        env = "KITH_DATA_DIR",
        default_value = "kith-data"
    )]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (migrations are applied first).
    Serve(ServeArgs),
    /// Apply pending database migrations.
    Migrate,
    /// Load realistic demo companies, contacts and activities into a workspace.
    Demo(DemoArgs),
    /// Rebuild the search index from the database (stop `kith serve` first).
    Reindex,
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Import records from a CSV or XLSX file: every row is checked first (the preview), then
    /// written in batches; a stopped import of the same file resumes where it stopped.
    /// Exits non-zero when rows failed (they are listed in FILE.result.csv).
    Import(ImportArgs),
    /// Export records (all, or those a filter finds) as CSV, XLSX or JSON lines.
    Export(ExportArgs),
    /// Back up everything — records, settings, users, plugins and their data, the audit log —
    /// to one archive, from one consistent snapshot while the server keeps serving.
    Backup {
        /// The archive to write [default: DATA_DIR/kith-backup-<time>.tar.gz].
        file: Option<PathBuf>,
    },
    /// Restore a backup into an empty database of either engine (`--db`), then rebuild the
    /// search index. The whole archive is checked before anything is written.
    Restore { file: PathBuf },
    /// Install plugins and turn them on or off per workspace.
    Plugin {
        #[command(subcommand)]
        command: PluginCommand,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Install a plugin package (a directory or a .tar.gz); enables nothing.
    Install { path: PathBuf },
    /// List installed plugins (with --workspace: and their state there).
    List {
        #[arg(long)]
        workspace: Option<String>,
    },
    /// List installed plugins built for an older plugin API than this host's: they run here,
    /// but the next host release (which drops the oldest API it runs) would refuse them.
    Check,
    /// Enable a plugin in a workspace, granting the permissions it asks for (printed).
    Enable {
        id: String,
        #[arg(long, default_value = DEFAULT_WORKSPACE)]
        workspace: String,
        /// The version to run [default: the newest installed].
        #[arg(long)]
        version: Option<String>,
        /// A setting, as NAME=VALUE (repeatable).
        #[arg(long = "set", value_name = "NAME=VALUE")]
        settings: Vec<String>,
    },
    /// Disable a plugin in a workspace (its data stays).
    Disable {
        id: String,
        #[arg(long, default_value = DEFAULT_WORKSPACE)]
        workspace: String,
    },
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "KITH_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// On first run, create an admin and demo data in the default workspace; print a token.
    #[arg(long)]
    demo: bool,
    /// Days a deleted record stays restorable before it is purged.
    #[arg(long, env = "KITH_RETENTION_DAYS", default_value_t = 30)]
    retention_days: u32,
    /// A folder of plugin packages (one sub-folder each) to install at start; each is enabled
    /// in the default workspace the first time it is seen there.
    #[arg(long, env = "KITH_PLUGINS")]
    plugins: Option<PathBuf>,
    /// A NATS server (`nats://127.0.0.1:4222`): every committed event is also published to its
    /// JetStream stream. Kith runs without it.
    #[arg(long = "nats", env = "KITH_NATS_URL")]
    nats: Option<String>,
    /// The subjects' first token; the stream is named after it (`kith` → `KITH`).
    #[arg(long, env = "KITH_NATS_SUBJECT_PREFIX", default_value = "kith")]
    nats_subject_prefix: String,
    /// Write a backup into this folder on a schedule, as `kith backup` does (run it on one
    /// server of a deployment).
    #[arg(long, env = "KITH_BACKUP_DIR")]
    backup_dir: Option<PathBuf>,
    /// Hours between scheduled backups.
    #[arg(long, env = "KITH_BACKUP_EVERY_HOURS", default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..))]
    backup_every_hours: u32,
    /// How many scheduled backups to keep (the oldest beyond are deleted).
    #[arg(long, env = "KITH_BACKUP_KEEP", default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..))]
    backup_keep: u32,
}

#[derive(Debug, Args)]
struct DemoArgs {
    #[arg(long, default_value = DEFAULT_WORKSPACE)]
    workspace: String,
    #[arg(long, default_value_t = 200)]
    companies: usize,
    #[arg(long, default_value_t = 600)]
    contacts: usize,
    #[arg(long, default_value_t = 1200)]
    activities: usize,
    /// Seed of the generator (the same seed gives the same data).
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The language of the names, addresses and notes.
    #[arg(long, value_enum, default_value_t = demo::Locale::En)]
    locale: demo::Locale,
}

#[derive(Debug, Args)]
struct ImportArgs {
    /// The entity type's API name (`contacts`, `companies`, a custom or plugin type).
    entity: String,
    /// A `.csv` or `.xlsx` file.
    file: PathBuf,
    #[arg(long, default_value = DEFAULT_WORKSPACE)]
    workspace: String,
    /// The email of the user the import is made as (their permissions apply)
    /// [default: the workspace's first admin].
    #[arg(long = "as", value_name = "EMAIL")]
    as_user: Option<String>,
    /// A JSON file: `{"Column": "field", …}`, or a whole plan (`{"mapping": {…}, "mode": …}`)
    /// [default: suggested from the headers].
    #[arg(long, value_name = "FILE")]
    mapping: Option<PathBuf>,
    /// Update the record this field finds, or create one (`email`, `domain`, …).
    #[arg(long, value_name = "FIELD")]
    upsert_by: Option<String>,
    /// Only update the record this field finds (`id` too); skip rows that find none.
    #[arg(long, value_name = "FIELD", conflicts_with = "upsert_by")]
    update_by: Option<String>,
    /// Check every row and print what would happen; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// The file's encoding (`utf-8`, `gbk`, `windows-1252`, …) [default: detected].
    #[arg(long, default_value = "auto")]
    encoding: String,
    /// The CSV delimiter (`,`, `;`, `tab`, `|`) [default: detected].
    #[arg(long, default_value = "auto")]
    delimiter: String,
    /// The XLSX sheet [default: the first].
    #[arg(long)]
    sheet: Option<String>,
    /// The currency of money cells that name none (`EUR`).
    #[arg(long)]
    currency: Option<String>,
    /// The clock of datetimes without a zone (`Europe/Berlin`).
    #[arg(long, default_value = "UTC")]
    time_zone: String,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// The entity type's API name (`contacts`).
    entity: String,
    #[arg(long, default_value = DEFAULT_WORKSPACE)]
    workspace: String,
    /// The email of the user the export is made as (what they may read is exported)
    /// [default: the workspace's first admin].
    #[arg(long = "as", value_name = "EMAIL")]
    as_user: Option<String>,
    /// A filter in the API's filter language (`status = "open" and amount > 1000`).
    #[arg(long)]
    filter: Option<String>,
    /// The order, in the API's sort form (`-amount,name`).
    #[arg(long)]
    sort: Option<String>,
    /// The columns, comma-separated [default: every field].
    #[arg(long)]
    fields: Option<String>,
    /// `csv`, `xlsx` or `jsonl`.
    #[arg(long, default_value = "csv")]
    format: String,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create a user (and the workspace, if new).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        password: String,
        /// admin, manager, member or read_only.
        #[arg(long)]
        role: String,
        #[arg(long, default_value = DEFAULT_WORKSPACE)]
        workspace: String,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an API token for a user and print it (it is shown only once).
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = DEFAULT_WORKSPACE)]
        workspace: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
}

/// Parses the command line, runs the command, and turns any error into one line on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let error = say("cli-runtime", &[("error", error.to_string().into())]);
            eprintln!("{}", say("cli-error", &[("error", error.into())]));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!(
                "{}",
                say("cli-error", &[("error", format!("{error:#}").into())])
            );
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("KITH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let database_url = Config::database_url(cli.db.as_deref(), &cli.data_dir);
    if database_url.starts_with("sqlite:") && cli.db.is_none() {
        std::fs::create_dir_all(&cli.data_dir)
            .with_context(|| say("cli-data-dir", &[("dir", shown(&cli.data_dir))]))?;
    }
    match cli.command {
        Command::Serve(args) => serve(database_url, cli.data_dir, args).await,
        Command::Migrate => {
            open_store(&database_url).await?;
            eprintln!("{}", say("cli-migrated", &[]));
            Ok(())
        }
        Command::Demo(args) => {
            let store = open_store(&database_url).await?;
            let actor = demo_admin(&store, &args.workspace).await?.0;
            seed(&store, &actor, &args, true).await?;
            let index = SearchIndex::open(&search_dir(&cli.data_dir))?;
            let plugins = crate::plugins::start(
                store,
                index,
                sealer(&cli.data_dir)?,
                &crate::config::plugin_cache_in(&cli.data_dir),
            )
            .await?;
            plugin_demo(&plugins, &actor, args.seed).await
        }
        Command::Reindex => {
            let store = open_store(&database_url).await?;
            let dir = search_dir(&cli.data_dir);
            let index = SearchIndex::open(&dir)?;
            let mut indexer = Indexer::new(index, store)
                .with_context(|| say("cli-index-locked", &[("dir", shown(&dir))]))?;
            let indexed = indexer.rebuild(true).await?;
            let count = ("count", indexed.to_string().into());
            eprintln!("{}", say("cli-indexed", &[count, ("dir", shown(&dir))]));
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    password,
                    role,
                    workspace,
                },
        } => {
            let store = open_store(&database_url).await?;
            let id = auth::create_user(store.db(), &email, &password, &role, &workspace).await?;
            let args = [
                ("email", email.into()),
                ("id", id.to_string().into()),
                ("role", role.into()),
                ("workspace", workspace.into()),
            ];
            eprintln!("{}", say("cli-user-created", &args));
            Ok(())
        }
        Command::Token {
            command:
                TokenCommand::Create {
                    email,
                    workspace,
                    name,
                },
        } => {
            let store = open_store(&database_url).await?;
            let token = auth::create_token(store.db(), &email, &workspace, &name).await?;
            println!("{token}");
            Ok(())
        }
        Command::Plugin { command } => plugin_command(&database_url, &cli.data_dir, command).await,
        Command::Import(args) => import_command(&database_url, &cli.data_dir, args).await,
        Command::Export(args) => export_command(&database_url, args).await,
        Command::Backup { file } => {
            let store = open_store(&database_url).await?;
            let file = file.unwrap_or_else(|| crate::transfer::backup::default_path(&cli.data_dir));
            let manifest = crate::transfer::backup::backup(store.db(), &file)
                .await
                .map_err(said)?;
            let rows: u64 = manifest.tables.iter().map(|t| t.rows).sum();
            let args = [
                ("file", shown(&file)),
                ("rows", rows.into()),
                ("tables", manifest.tables.len().into()),
            ];
            eprintln!("{}", say("cli-backup-written", &args));
            Ok(())
        }
        Command::Restore { file } => {
            let store = open_store(&database_url).await?;
            let manifest = crate::transfer::backup::restore(store.db(), &file)
                .await
                .map_err(said)?;
            let dir = search_dir(&cli.data_dir);
            let mut indexer = Indexer::new(SearchIndex::open(&dir)?, store)
                .with_context(|| say("cli-index-locked", &[("dir", shown(&dir))]))?;
            let indexed = indexer.rebuild(true).await?;
            let rows: u64 = manifest.tables.iter().map(|t| t.rows).sum();
            let args = [
                ("file", shown(&file)),
                ("rows", rows.into()),
                ("from", manifest.backend.into()),
                ("indexed", indexed.to_string().into()),
            ];
            eprintln!("{}", say("cli-restored", &args));
            Ok(())
        }
    }
}

/// The user a command acts as: `email` with their role's permissions, or the workspace's
/// first admin.
async fn acting_user(store: &Store, workspace: &str, email: Option<&str>) -> anyhow::Result<Actor> {
    let Some(email) = email else {
        return workspace_admin(store, workspace).await;
    };
    let workspace_id = auth::find_workspace(&store.db().read, workspace)
        .await?
        .with_context(|| say("cli-no-workspace", &[("workspace", workspace.into())]))?;
    let user = auth::find_user(&store.db().read, workspace_id, email)
        .await?
        .with_context(|| {
            say(
                "cli-no-user",
                &[("email", email.into()), ("workspace", workspace.into())],
            )
        })?;
    let role = auth::role_of(&store.db().read, user).await?;
    let principal = auth::Principal {
        user,
        workspace: workspace_id,
        role,
    };
    let access = auth::load_access(store.db(), &principal).await?;
    Ok(Actor {
        workspace: workspace_id,
        user,
        access: std::sync::Arc::new(access),
    })
}

async fn import_command(
    database_url: &str,
    data_dir: &Path,
    args: ImportArgs,
) -> anyhow::Result<()> {
    use crate::transfer::{self, import::Plan, source};
    let file = args.file.display().to_string();
    let bytes = std::fs::read(&args.file)
        .with_context(|| say("cli-file-unreadable", &[("file", file.as_str().into())]))?;
    let store = open_store(database_url).await?;
    let actor = acting_user(&store, &args.workspace, args.as_user.as_deref()).await?;
    // The plugins' before-save hooks check these writes as any other.
    let _plugins = crate::plugins::start(
        store.clone(),
        SearchIndex::open(&search_dir(data_dir))?,
        sealer(data_dir)?,
        &crate::config::plugin_cache_in(data_dir),
    )
    .await?;
    let resumed = match args.dry_run {
        true => None,
        false => transfer::unfinished(&store, &actor, &args.entity, &bytes).await?,
    };
    let id = match resumed {
        Some(id) => {
            let (done, total, ..) = transfer::progress(&store, id).await?;
            let said = [("done", done.into()), ("total", total.into())];
            eprintln!("{}", say("cli-import-resuming", &said));
            id
        }
        None => {
            let upload = transfer::Upload {
                plural: args.entity.clone(),
                file_name: file.clone(),
                bytes,
                reading: source::Reading {
                    format: source::Format::guess(&file, &[]),
                    encoding: args.encoding.clone(),
                    delimiter: args.delimiter.clone(),
                    sheet: args.sheet.clone(),
                },
                language: *LANGUAGE,
                time_zone: args.time_zone.clone(),
            };
            let (import, _) = transfer::upload(&store, &actor, upload)
                .await
                .map_err(message)?;
            let mut plan: Plan = match &args.mapping {
                None => serde_json::from_value(import.plan.clone())?,
                Some(path) => read_plan(path)?,
            };
            if let Some(key) = &args.upsert_by {
                plan.mode = transfer::import::Mode::Upsert;
                plan.key = Some(key.clone());
            }
            if let Some(key) = &args.update_by {
                plan.mode = transfer::import::Mode::Update;
                plan.key = Some(key.clone());
            }
            plan.currency = args.currency.clone().or(plan.currency);
            plan.time_zone = Some(args.time_zone.clone());
            let (_, preview) = transfer::preview(&store, &actor, import.id, plan, *LANGUAGE)
                .await
                .map_err(message)?;
            print_counts(&preview.counts);
            for listed in preview.problems.iter().take(20) {
                eprintln!("  {}", problem_line(listed));
            }
            if preview.problems.len() > 20 || preview.unlisted > 0 {
                let more = preview.problems.len().saturating_sub(20) + preview.unlisted;
                eprintln!(
                    "  {}",
                    say("cli-import-more-problems", &[("count", more.into())])
                );
            }
            if args.dry_run {
                return match preview.counts.failed {
                    0 => Ok(()),
                    failed => bail!(say(
                        "cli-import-failed-rows",
                        &[("count", failed.into()), ("file", "-".into())]
                    )),
                };
            }
            transfer::commit(&store, &actor, import.id)
                .await
                .map_err(message)?;
            import.id
        }
    };
    let (_, total, ..) = transfer::progress(&store, id).await?;
    let bar = ProgressBar::new(u64::try_from(total).unwrap_or(0));
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress = |done: usize, _total: usize| bar.set_position(done as u64);
    // A resumed import may still be held by the process that stopped: its lease runs out.
    while !transfer::run(&store, id, &progress)
        .await
        .map_err(message)?
    {
        if transfer::progress(&store, id).await?.3 != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    bar.finish_and_clear();
    let (_, _, counts, status) = transfer::progress(&store, id).await?;
    print_counts(&counts);
    if status != "done" {
        bail!(say("cli-import-stopped", &[("status", status.into())]));
    }
    if counts.failed > 0 || counts.skipped > 0 {
        let result = format!("{file}.result.csv");
        let (_, rows) = transfer::result_rows(&store, &actor, id)
            .await
            .map_err(message)?;
        let mut writer = csv::Writer::from_path(&result)?;
        for row in rows {
            writer.write_record(
                row.iter()
                    .map(|c| crate::transfer::export::inert(c).into_owned()),
            )?;
        }
        writer.flush()?;
        if counts.failed > 0 {
            bail!(say(
                "cli-import-failed-rows",
                &[("count", counts.failed.into()), ("file", result.into())]
            ));
        }
        eprintln!("{}", say("cli-import-result", &[("file", result.into())]));
    }
    Ok(())
}

/// A backup's refusal in the command line's language (other errors as they are).
fn said(error: anyhow::Error) -> anyhow::Error {
    match error.downcast_ref::<crate::transfer::backup::Refusal>() {
        Some(refusal) => anyhow::anyhow!(refusal.0.render(*LANGUAGE)),
        None => error,
    }
}

/// A store error as the command line says it (in its language).
fn message(error: crate::records::RecordError) -> anyhow::Error {
    let api: crate::error::ApiError = error.into();
    anyhow::anyhow!(api.message.render(*LANGUAGE))
}

fn read_plan(path: &Path) -> anyhow::Result<crate::transfer::import::Plan> {
    let shown_path = path.display().to_string();
    let text = std::fs::read_to_string(path).with_context(|| {
        say(
            "cli-file-unreadable",
            &[("file", shown_path.as_str().into())],
        )
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).with_context(|| {
        say(
            "cli-mapping-invalid",
            &[("file", shown_path.as_str().into())],
        )
    })?;
    let plan = if value.get("mapping").is_some() {
        serde_json::from_value(value)
    } else {
        serde_json::from_value(serde_json::json!({ "mapping": value }))
    };
    plan.with_context(|| {
        say(
            "cli-mapping-invalid",
            &[("file", shown_path.as_str().into())],
        )
    })
}

fn print_counts(counts: &crate::transfer::import::Counts) {
    let args = [
        ("created", counts.created.into()),
        ("updated", counts.updated.into()),
        ("unchanged", counts.unchanged.into()),
        ("skipped", counts.skipped.into()),
        ("failed", counts.failed.into()),
    ];
    eprintln!("{}", say("cli-import-counts", &args));
}

/// A listed problem of a preview: `row 7, Email: must be an email address`.
fn problem_line(listed: &serde_json::Value) -> String {
    let row = listed
        .get("row")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    let problems = (listed.get("problems").and_then(serde_json::Value::as_array))
        .map(|problems| {
            (problems.iter())
                .map(|p| {
                    let message = p
                        .get("message")
                        .and_then(serde_json::Value::as_str)
                        .unwrap_or("");
                    match p.get("column").and_then(serde_json::Value::as_str) {
                        Some(column) => format!("{column}: {message}"),
                        None => message.to_owned(),
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default();
    say(
        "cli-import-problem",
        &[("row", row.into()), ("problems", problems.into())],
    )
}

async fn export_command(database_url: &str, args: ExportArgs) -> anyhow::Result<()> {
    use crate::transfer::export;
    use futures_util::StreamExt;
    use std::io::Write;
    let store = open_store(database_url).await?;
    let actor = acting_user(&store, &args.workspace, args.as_user.as_deref()).await?;
    let format =
        export::Format::parse(&args.format).map_err(|m| anyhow::anyhow!(m.render(*LANGUAGE)))?;
    let ty = store.view(&actor, &args.entity).await.map_err(message)?;
    let fields = args.fields.as_deref().map(|f| {
        f.split(',')
            .map(str::trim)
            .filter(|f| !f.is_empty())
            .map(str::to_owned)
            .collect()
    });
    let request = export::Request {
        filter: args.filter,
        sort: args.sort,
        fields,
    };
    let mut chunks = Box::pin(
        export::stream(store, actor, ty, request, format)
            .await
            .map_err(message)?,
    );
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| {
                say(
                    "cli-file-unwritable",
                    &[("file", path.display().to_string().into())],
                )
            })?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    while let Some(chunk) = chunks.next().await {
        out.write_all(&chunk.map_err(message)?)?;
    }
    out.flush()?;
    Ok(())
}

/// The server's secret key (plugins that send mail open the SMTP password with it).
fn sealer(data_dir: &Path) -> anyhow::Result<std::sync::Arc<crate::secrets::Sealer>> {
    Ok(std::sync::Arc::new(
        crate::secrets::Sealer::load(data_dir).with_context(|| say("cli-secret-key", &[]))?,
    ))
}

async fn plugin_command(
    database_url: &str,
    data_dir: &Path,
    command: PluginCommand,
) -> anyhow::Result<()> {
    let store = open_store(database_url).await?;
    let index = SearchIndex::open(&search_dir(data_dir))?;
    let plugins = crate::plugins::start(
        store.clone(),
        index,
        sealer(data_dir)?,
        &crate::config::plugin_cache_in(data_dir),
    )
    .await?;
    // The first-party plugins in the binary are installed here too, so that `kith plugin
    // enable sales` works before any server ran.
    for package in crate::plugins::bundled::packages() {
        plugins
            .install_shipped(package.with_context(|| say("cli-bundled-plugin", &[]))?)
            .await?;
    }
    match command {
        PluginCommand::Install { path } => {
            let package = crate::plugins::package::Package::load(&path)?;
            let (manifest, created) = plugins.install(package).await?;
            let key = if created {
                "cli-plugin-installed"
            } else {
                "cli-plugin-already-installed"
            };
            let args = [
                ("id", manifest.id.clone().into()),
                ("version", manifest.version.to_string().into()),
            ];
            eprintln!("{}", say(key, &args));
            Ok(())
        }
        PluginCommand::List { workspace: None } => {
            for (id, version, api, name) in plugins.installed_versions().await? {
                println!("{id}\t{version}\t{name}\tapi {api}");
            }
            Ok(())
        }
        PluginCommand::Check => {
            let current = crate::plugins::manifest::API_VERSION;
            let minor = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
            let old: Vec<_> = (plugins.installed_versions().await?)
                .into_iter()
                .filter(|(.., api, _)| minor(api) != minor(current))
                .collect();
            if old.is_empty() {
                println!("{}", say("cli-plugins-current", &[("api", current.into())]));
            }
            for (id, version, api, _) in old {
                let args = [
                    ("id", id.into()),
                    ("version", version.into()),
                    ("api", api.into()),
                    ("current", current.into()),
                ];
                println!("{}", say("cli-plugin-outdated", &args));
            }
            Ok(())
        }
        PluginCommand::List {
            workspace: Some(workspace),
        } => {
            let workspace_id = auth::find_workspace(&store.db().read, &workspace)
                .await?
                .with_context(|| {
                    say(
                        "cli-no-workspace",
                        &[("workspace", workspace.as_str().into())],
                    )
                })?;
            for info in plugins.list(workspace_id).await? {
                let state = match (&info.enabled, &info.suspended) {
                    (Some(v), None) => format!("enabled ({v})"),
                    (Some(v), Some(reason)) => format!("suspended ({v}): {reason}"),
                    (None, _) => "disabled".to_owned(),
                };
                println!(
                    "{}\t{}\t{}\t{state}",
                    info.id,
                    info.versions.join(","),
                    info.name
                );
            }
            Ok(())
        }
        PluginCommand::Enable {
            id,
            workspace,
            version,
            settings,
        } => {
            let admin = workspace_admin(&store, &workspace).await?;
            let mut values = serde_json::Map::new();
            for setting in settings {
                let (name, value) = setting.split_once('=').with_context(|| {
                    say("cli-set-syntax", &[("setting", setting.as_str().into())])
                })?;
                values.insert(name.to_owned(), serde_json::Value::String(value.to_owned()));
            }
            let asks = plugins
                .requested_permissions(&id, version.as_deref())
                .await?;
            let enabled = plugins
                .enable(&admin, &id, version.as_deref(), &asks, values)
                .await?;
            let args = [
                ("id", id.into()),
                (
                    "version",
                    enabled.plugin.manifest.version.to_string().into(),
                ),
                ("workspace", workspace.into()),
                ("read", format!("{:?}", asks.read).into()),
                ("write", format!("{:?}", asks.write).into()),
                ("http", format!("{:?}", asks.http).into()),
            ];
            eprintln!("{}", say("cli-plugin-enabled", &args));
            Ok(())
        }
        PluginCommand::Disable { id, workspace } => {
            let workspace_id = auth::find_workspace(&store.db().read, &workspace)
                .await?
                .with_context(|| {
                    say(
                        "cli-no-workspace",
                        &[("workspace", workspace.as_str().into())],
                    )
                })?;
            plugins.disable(workspace_id, &id).await?;
            let args = [("id", id.into()), ("workspace", workspace.into())];
            eprintln!("{}", say("cli-plugin-disabled", &args));
            Ok(())
        }
    }
}

/// An admin of the workspace, in whose name the command line grants permissions.
async fn workspace_admin(store: &Store, workspace: &str) -> anyhow::Result<Actor> {
    let workspace_id = auth::find_workspace(&store.db().read, workspace)
        .await?
        .with_context(|| say("cli-no-workspace", &[("workspace", workspace.into())]))?;
    let admin = auth::first_admin(&store.db().read, workspace_id)
        .await?
        .with_context(|| say("cli-no-admin", &[("workspace", workspace.into())]))?;
    Ok(Actor::system(workspace_id, admin))
}

async fn serve(database_url: String, data_dir: PathBuf, args: ServeArgs) -> anyhow::Result<()> {
    let stream = match args.nats {
        Some(url) => {
            let target = StreamTarget {
                url,
                prefix: args.nats_subject_prefix.clone(),
            };
            target.check().map_err(anyhow::Error::msg)?;
            Some(target)
        }
        None => None,
    };
    let config = Config {
        database_url,
        listen: args.listen,
        data_dir,
        retention_days: args.retention_days,
        plugin_cache: None,
        stream,
    };
    let app = Application::build(&config).await?;
    let state = app.state();
    let admin = if args.demo {
        Some(demo_admin(&state.store, DEFAULT_WORKSPACE).await?)
    } else {
        match auth::find_workspace(&state.store.db().read, DEFAULT_WORKSPACE).await? {
            Some(workspace) => auth::first_admin(&state.store.db().read, workspace)
                .await?
                .map(|user| (Actor::system(workspace, user), false)),
            None => None,
        }
    };
    // The first-party plugins in the binary: installed at every start; `--demo` enables them
    // in the demo workspace.
    let demo_admin = admin.as_ref().filter(|_| args.demo).map(|(actor, _)| actor);
    for package in crate::plugins::bundled::packages() {
        let package = package.with_context(|| say("cli-bundled-plugin", &[]))?;
        let manifest = state.plugins.install_shipped(package).await?;
        enable_once(&state.plugins, &manifest, demo_admin).await?;
    }
    if let Some(dir) = &args.plugins {
        install_folder(&state.plugins, dir, admin.as_ref().map(|(actor, _)| actor)).await?;
    }
    if let Some((actor, created)) = &admin
        && args.demo
    {
        if *created {
            let demo = DemoArgs {
                workspace: DEFAULT_WORKSPACE.into(),
                companies: 200,
                contacts: 600,
                activities: 1200,
                seed: 7,
                locale: demo::Locale::En,
            };
            seed(&state.store, actor, &demo, false).await?;
            plugin_demo(&state.plugins, actor, demo.seed).await?;
        }
        let token =
            auth::create_token(state.store.db(), DEMO_EMAIL, DEFAULT_WORKSPACE, "demo").await?;
        print_hint(app.local_addr(), &config.data_dir, &token, *created);
    }
    if let Some(dir) = args.backup_dir {
        let schedule = crate::transfer::backup::Schedule {
            dir,
            every: std::time::Duration::from_secs(u64::from(args.backup_every_hours) * 3600),
            keep: args.backup_keep as usize,
        };
        tokio::spawn(crate::transfer::backup::run_schedule(
            app.state().db.clone(),
            schedule,
        ));
    }
    tracing::info!(addr = %app.local_addr(), "kith is listening");
    app.run_until(shutdown_signal()).await
}

const DEMO_EMAIL: &str = "admin@kith.local";

/// Installs every plugin package in `dir` (one sub-folder each) and enables, in the default
/// workspace, each one never enabled there before (an admin's later disable sticks).
async fn install_folder(
    plugins: &Plugins,
    dir: &Path,
    admin: Option<&Actor>,
) -> anyhow::Result<()> {
    let mut folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| say("cli-plugins-folder", &[("dir", shown(dir))]))?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.join("plugin.toml").is_file())
        .collect();
    folders.sort();
    for folder in folders {
        let package = crate::plugins::package::Package::load(&folder)
            .with_context(|| say("cli-plugin-package", &[("dir", shown(&folder))]))?;
        install_and_enable(plugins, package, admin).await?;
    }
    Ok(())
}

/// Installs a package (nothing happens when that build is installed already) and enables it
/// once (see [`enable_once`]).
async fn install_and_enable(
    plugins: &Plugins,
    package: crate::plugins::package::Package,
    admin: Option<&Actor>,
) -> anyhow::Result<()> {
    let (manifest, _) = plugins.install(package).await?;
    enable_once(plugins, &manifest, admin).await
}

/// With an `admin`, enables an installed plugin in their workspace if it was never enabled
/// there (an admin's later disable sticks).
async fn enable_once(
    plugins: &Plugins,
    manifest: &crate::plugins::manifest::Manifest,
    admin: Option<&Actor>,
) -> anyhow::Result<()> {
    let Some(admin) = admin else {
        return Ok(());
    };
    if plugins.ever_enabled(admin.workspace, &manifest.id).await? {
        return Ok(());
    }
    let asks = plugins
        .requested_permissions(&manifest.id, Some(&manifest.version))
        .await?;
    plugins
        .enable(
            admin,
            &manifest.id,
            Some(&manifest.version),
            &asks,
            serde_json::Map::new(),
        )
        .await?;
    tracing::info!(plugin = %manifest.id, version = %manifest.version, "plugin enabled");
    Ok(())
}

/// Runs the `demo` action of every plugin enabled in the actor's workspace that has one: the
/// plugins' share of `kith demo`.
async fn plugin_demo(plugins: &Plugins, actor: &Actor, seed: u64) -> anyhow::Result<()> {
    for enabled in plugins.enabled_in(actor.workspace).iter() {
        if !enabled
            .plugin
            .manifest
            .actions
            .iter()
            .any(|a| a.name == "demo")
        {
            continue;
        }
        crate::plugins::api::call_action(
            plugins,
            enabled,
            actor.clone(),
            "demo",
            &serde_json::json!({ "seed": seed }),
        )
        .await
        .map_err(|e| {
            let args = [
                ("id", enabled.id().into()),
                ("error", e.message.to_string().into()),
            ];
            anyhow::anyhow!(say("cli-plugin-demo-failed", &args))
        })?;
        let id = ("id", enabled.id().into());
        eprintln!("{}", say("cli-plugin-demo-loaded", &[id]));
    }
    Ok(())
}

/// The demo admin of a workspace, created (with a random password, printed once) if missing.
async fn demo_admin(store: &Store, workspace: &str) -> anyhow::Result<(Actor, bool)> {
    let workspace_id = auth::ensure_workspace(&store.db().write, workspace).await?;
    let mut created = false;
    let user = match auth::find_user(&store.db().read, workspace_id, DEMO_EMAIL).await? {
        Some(user) => user,
        None => {
            let password = auth::random_hex(8)?;
            let user =
                auth::create_user(store.db(), DEMO_EMAIL, &password, "admin", workspace).await?;
            let args = [
                ("email", DEMO_EMAIL.into()),
                ("password", password.as_str().into()),
            ];
            eprintln!("{}", say("cli-demo-admin", &args));
            created = true;
            user
        }
    };
    Ok((Actor::system(workspace_id, user), created))
}

fn print_hint(addr: SocketAddr, data_dir: &Path, token: &str, created: bool) {
    let data = say(
        if created {
            "cli-demo-data-loaded"
        } else {
            "cli-data-kept"
        },
        &[],
    );
    let addr = addr.to_string();
    let running = [
        ("addr", addr.as_str().into()),
        ("data", data.into()),
        ("dir", shown(data_dir)),
    ];
    let command =
        format!("curl -H 'Authorization: Bearer {token}' 'http://{addr}/api/v1/contacts?limit=5'");
    eprintln!(
        "\n{}\n{}\n{}\n",
        say("cli-running", &running),
        say(
            "cli-running-token",
            &[("email", DEMO_EMAIL.into()), ("token", token.into())]
        ),
        say("cli-running-try", &[("command", command.into())]),
    );
}

/// Loads demo companies, contacts (most at one of the companies) and activities linked to
/// them, through the record store, in batches.
async fn seed(store: &Store, actor: &Actor, args: &DemoArgs, progress: bool) -> anyhow::Result<()> {
    let total = (args.companies + args.contacts + args.activities) as u64;
    let bar = if progress {
        ProgressBar::new(total)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let schema = store.schema(actor.workspace).await?;
    let (Some(companies_ty), Some(contacts_ty), Some(activities_ty)) = (
        schema.by_name("company"),
        schema.by_name("contact"),
        schema.by_name("activity"),
    ) else {
        bail!(say("cli-builtins-missing", &[]));
    };
    let mut rng = demo::Rng::new(args.seed);

    bar.set_message("companies");
    let mut companies = Vec::with_capacity(args.companies);
    for chunk in (0..args.companies).collect::<Vec<_>>().chunks(MAX_BATCH) {
        let batch = chunk
            .iter()
            .map(|&i| args.locale.company(&mut rng, i))
            .collect();
        for record in store.create_many(actor, companies_ty, batch).await? {
            let domain = record
                .data
                .get("domain")
                .and_then(|d| d.as_str())
                .unwrap_or_default()
                .to_owned();
            companies.push((record.id.0, domain));
        }
        bar.inc(chunk.len() as u64);
    }

    bar.set_message("contacts");
    let mut contacts = Vec::with_capacity(args.contacts);
    for chunk in (0..args.contacts).collect::<Vec<_>>().chunks(MAX_BATCH) {
        let batch = chunk
            .iter()
            .map(|&i| {
                let company = (!companies.is_empty() && !rng.chance(0.1))
                    .then(|| rng.pick(&companies))
                    .map(|(id, domain)| (*id, domain.as_str()));
                args.locale.contact(&mut rng, i, company)
            })
            .collect();
        contacts.extend(
            store
                .create_many(actor, contacts_ty, batch)
                .await?
                .into_iter()
                .map(|r| r.id.0),
        );
        bar.inc(chunk.len() as u64);
    }

    bar.set_message("activities");
    let now = chrono::Utc::now();
    for chunk in (0..args.activities).collect::<Vec<_>>().chunks(MAX_BATCH) {
        let batch = chunk
            .iter()
            .map(|_| {
                let mut links = Vec::new();
                if !contacts.is_empty() {
                    links.push(*rng.pick(&contacts));
                }
                if !companies.is_empty() && rng.chance(0.5) {
                    links.push(rng.pick(&companies).0);
                }
                args.locale.activity(&mut rng, &links, now)
            })
            .collect();
        store.create_many(actor, activities_ty, batch).await?;
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    let loaded = [
        ("companies", args.companies.to_string().into()),
        ("contacts", args.contacts.to_string().into()),
        ("activities", args.activities.to_string().into()),
        ("workspace", args.workspace.as_str().into()),
    ];
    eprintln!("{}", say("cli-demo-loaded", &loaded));
    Ok(())
}

/// The command line's language ([`Language::of_environment`]).
static LANGUAGE: std::sync::LazyLock<Language> =
    std::sync::LazyLock::new(|| Language::of_environment(|name| std::env::var(name).ok()));

/// A message of the catalogue in the command line's language.
fn say(key: &str, args: &[(&str, FluentValue<'_>)]) -> String {
    LANGUAGE.t_with(key, args)
}

/// A path as a message argument.
fn shown(path: &Path) -> FluentValue<'static> {
    path.display().to_string().into()
}

async fn shutdown_signal() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo_locale(args: &[&str]) -> Result<demo::Locale, clap::Error> {
        let cli = Cli::try_parse_from(["kith", "demo"].iter().chain(args))?;
        match cli.command {
            Command::Demo(demo) => Ok(demo.locale),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn demo_locale_is_english_unless_chinese_is_asked_for() {
        assert_eq!(demo_locale(&[]).ok(), Some(demo::Locale::En));
        assert_eq!(
            demo_locale(&["--locale", "en"]).ok(),
            Some(demo::Locale::En)
        );
        assert_eq!(
            demo_locale(&["--locale", "zh-CN"]).ok(),
            Some(demo::Locale::ZhCn)
        );
        let error = demo_locale(&["--locale", "fr"]).expect_err("fr is not offered");
        assert_eq!(error.kind(), clap::error::ErrorKind::InvalidValue);
        assert!(error.to_string().contains("zh-CN"), "{error}");
    }
}
