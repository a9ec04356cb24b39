//! `cargo xtask bench-integrations`: what webhooks and the NATS event stream cost a write, how
//! fast webhooks and email go out (Kith issue 24), against a release build on SQLite and on
//! PostgreSQL.
//!
//! For each database the bench starts two release `kith serve` on two fresh databases: *plain*,
//! with nothing subscribed, and *wired*, publishing to NATS JetStream (`--nats`, a subject
//! prefix of this run's own) with five webhook subscriptions to every event, each to its own
//! receiver in this process (axum, answering 200 at once). Then:
//!
//! 1. writes: `--writes` contact creations on each server, one request at a time, alternating
//!    the servers request by request (which goes first alternates too), after 50 of each not
//!    counted; the ratio is wired over plain, at the median and the p99;
//! 2. webhook throughput: once the receivers hold every delivery of step 1, `--batch-records`
//!    contacts are created on *wired* in batches of 1,000; each makes five deliveries, and
//!    the rate is the deliveries over the time from the first to the last arriving (the
//!    receivers' own clocks);
//! 3. email throughput: Debian's aiosmtpd (the mail tests' server) on a local port, the
//!    workspace's SMTP settings pointing at it, and `--emails` sends queued through
//!    `POST /api/v1/mail` by 8 concurrent clients; two rates: sends the API takes per second,
//!    and messages sent per second from the first to the last stored in aiosmtpd's Maildir.
//!
//! 4. IMAP import: Debian's Dovecot on a free port with `--imap-messages` messages written
//!    into a Maildir before it starts; a mailbox on *plain* pointing at it; the time from
//!    adding the mailbox to the last message received (every message parsed, matched to
//!    contacts and logged on the timeline).
//!
//! The stream's message count is checked against the outbox's events at the end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::json;

use super::{
    self as bench, Api, Backend, Databases, Machine, Stats, close_section, millis, thousands,
    yes_no,
};

const MARKERS: (&str, &str) = (
    "<!-- bench-integrations:start -->",
    "<!-- bench-integrations:end -->",
);
/// The goals.
const WRITE_RATIO_TARGET: f64 = 1.2;
const DELIVERIES_PER_SECOND_TARGET: f64 = 1_000.0;
const EMAILS_PER_SECOND_TARGET: f64 = 200.0;
const IMAP_SECONDS_TARGET: f64 = 60.0;
const SUBSCRIPTIONS: usize = 5;
const WARMUP: usize = 50;
const SENDERS: usize = 8;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Timed creations per server (at least 100).
    #[arg(long, default_value_t = 1_000)]
    writes: usize,
    /// Contacts created in batches for the webhook throughput (a multiple of 1,000).
    #[arg(long, default_value_t = 4_000)]
    batch_records: usize,
    /// Emails sent for the email throughput.
    #[arg(long, default_value_t = 2_000)]
    emails: usize,
    /// Messages in the IMAP mailbox imported.
    #[arg(long, default_value_t = 10_000)]
    imap_messages: usize,
    /// The NATS server with JetStream.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    #[command(flatten)]
    databases: Databases,
    /// Write the results into this markdown file (e.g. BENCHMARKS.md), replacing the section
    /// between `<!-- bench-integrations:start -->` and `<!-- bench-integrations:end -->`.
    #[arg(long)]
    write: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.writes < 100 {
        bail!("--writes must be at least 100");
    }
    if args.batch_records == 0 || !args.batch_records.is_multiple_of(1_000) {
        bail!("--batch-records must be a positive multiple of 1,000");
    }
    let (backends, notes) = args.databases.backends()?;
    if bench::rerun_release_build(&["host"])? {
        return Ok(());
    }
    let kith = bench::release_dir().join("kith");
    let machine = Machine::probe();
    let runtime = bench::runtime()?;
    let mut reports = Vec::new();
    for backend in &backends {
        eprintln!("== {} ==", backend.label());
        reports.push(runtime.block_on(bench_backend(&kith, &args, backend))?);
    }
    let section = render(&args, &reports, &notes, &machine);
    bench::publish_section(&section, args.write.as_deref(), MARKERS)
}

struct Report {
    database: &'static str,
    plain: Stats,
    wired: Stats,
    deliveries: u64,
    deliveries_per_second: f64,
    emails: usize,
    emails_accepted_per_second: f64,
    emails_per_second: f64,
    stream_messages: u64,
    events: u64,
    imap: Duration,
}

/// What a receiver got: how many, and when the first and the last arrived.
#[derive(Clone, Copy, Default)]
struct Seen {
    count: u64,
    first: Option<Instant>,
    last: Option<Instant>,
}

/// A webhook receiver: counts what arrives and when the first and last did.
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Seen>>,
}

impl Receiver {
    async fn start(&self) -> anyhow::Result<String> {
        let seen = self.seen.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move || {
                let seen = seen.clone();
                async move {
                    let now = Instant::now();
                    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
                    seen.count += 1;
                    seen.first.get_or_insert(now);
                    seen.last = Some(now);
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(url)
    }

    fn snapshot(&self) -> Seen {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reset(&self) {
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Seen::default();
    }
}

/// Waits until the receivers together hold `total` deliveries (at most `limit`).
async fn until_delivered(
    receivers: &[Receiver],
    total: u64,
    limit: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    loop {
        let got: u64 = receivers.iter().map(|r| r.snapshot().count).sum();
        if got >= total {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {got} of {total} webhook deliveries arrived within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn bench_backend(kith: &Path, args: &Args, backend: &Backend) -> anyhow::Result<Report> {
    let prefix = format!("kithbench{}", uuid::Uuid::now_v7().simple());
    bench::on_fresh_database(backend, |plain_url, plain_dir| async move {
        bench::on_fresh_database(backend, |wired_url, wired_dir| async move {
            let (_plain_server, plain) = bench::start_server(kith, &plain_url, &plain_dir).await?;
            let stream_args = [
                "--nats",
                args.nats.as_str(),
                "--nats-subject-prefix",
                prefix.as_str(),
            ];
            let (_wired_server, wired) =
                bench::start_server_with(kith, &wired_url, &wired_dir, &stream_args).await?;
            wired
                .expect(
                    wired.put(
                        "/api/v1/admin/outbound-hosts",
                        &json!({"hosts": ["127.0.0.1"]}),
                    )?,
                    StatusCode::OK,
                )
                .await?;
            let receivers: Vec<Receiver> =
                (0..SUBSCRIPTIONS).map(|_| Receiver::default()).collect();
            for receiver in &receivers {
                let url = receiver.start().await?;
                wired
                    .expect(
                        wired.post("/api/v1/webhooks", &json!({"url": url, "events": ["*"]}))?,
                        StatusCode::CREATED,
                    )
                    .await?;
            }

            // 1. Writes, alternating.
            let (plain_stats, wired_stats) = time_writes(&plain, &wired, args.writes).await?;
            let written = (WARMUP + args.writes) as u64 * SUBSCRIPTIONS as u64;
            until_delivered(&receivers, written, Duration::from_secs(300)).await?;

            // 2. Webhook throughput.
            for receiver in &receivers {
                receiver.reset();
            }
            for batch in 0..args.batch_records / 1_000 {
                let records: Vec<_> = (0..1_000)
                    .map(|i| json!({"last_name": format!("Batch{batch:02}-{i:04}")}))
                    .collect();
                wired
                    .expect(
                        wired.post(
                            "/api/v1/contacts/batch",
                            &json!({"operation": "create", "records": records}),
                        )?,
                        StatusCode::OK,
                    )
                    .await?;
            }
            let deliveries = (args.batch_records * SUBSCRIPTIONS) as u64;
            until_delivered(&receivers, deliveries, Duration::from_secs(600)).await?;
            let first = receivers.iter().filter_map(|r| r.snapshot().first).min();
            let last = receivers.iter().filter_map(|r| r.snapshot().last).max();
            let span = match (first, last) {
                (Some(first), Some(last)) => last.duration_since(first),
                _ => bail!("no deliveries arrived"),
            };
            let deliveries_per_second = (deliveries - 1) as f64 / span.as_secs_f64().max(1e-9);

            // 3. Email throughput.
            let email = time_emails(&wired, &wired_dir, args.emails).await?;

            // 4. IMAP import, on *plain* (its activities stay off the stream counted below).
            let imap = time_imap(&plain, &plain_dir, args.imap_messages).await?;

            // Every contact created on *wired*, and each email's activity.
            let events = (WARMUP + args.writes + args.batch_records + args.emails) as u64;
            let stream_messages = stream_count(&args.nats, &prefix, events).await?;
            Ok(Report {
                database: backend.label(),
                plain: plain_stats,
                wired: wired_stats,
                deliveries,
                deliveries_per_second,
                emails: args.emails,
                emails_accepted_per_second: email.accepted_per_second,
                emails_per_second: email.sent_per_second,
                stream_messages,
                events,
                imap,
            })
        })
        .await
    })
    .await
}

/// Creates contacts one at a time on both servers, alternating; the timed latencies of each.
async fn time_writes(plain: &Api, wired: &Api, writes: usize) -> anyhow::Result<(Stats, Stats)> {
    let mut samples = (Vec::with_capacity(writes), Vec::with_capacity(writes));
    for i in 0..WARMUP + writes {
        let body = json!({"first_name": "Write", "last_name": format!("W{i:06}"), "email": format!("w{i}@example.com")});
        let order: [(&Api, bool); 2] = if i % 2 == 0 {
            [(plain, false), (wired, true)]
        } else {
            [(wired, true), (plain, false)]
        };
        for (api, is_wired) in order {
            let reply = api
                .expect(api.post("/api/v1/contacts", &body)?, StatusCode::CREATED)
                .await?;
            if i >= WARMUP {
                if is_wired {
                    samples.1.push(reply.elapsed);
                } else {
                    samples.0.push(reply.elapsed);
                }
            }
        }
    }
    Ok((Stats::of(samples.0), Stats::of(samples.1)))
}

/// aiosmtpd on a free port, delivering into a Maildir.
struct Smtp {
    child: Child,
    port: u16,
    maildir: PathBuf,
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_smtp(dir: &Path) -> anyhow::Result<Smtp> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let maildir = dir.join("maildir");
    let child = Command::new("/usr/bin/python3")
        .args(["-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .args(["-l", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start aiosmtpd (apt-get install python3-aiosmtpd)")?;
    Ok(Smtp {
        child,
        port,
        maildir,
    })
}

fn maildir_count(maildir: &Path) -> usize {
    std::fs::read_dir(maildir.join("new")).map_or(0, |entries| entries.count())
}

/// Email rates: how fast the API takes `emails` sends (8 concurrent clients), and how fast
/// they reach a local aiosmtpd once they flow (the first stored message to the last).
struct EmailRates {
    accepted_per_second: f64,
    sent_per_second: f64,
}

/// Sends `emails` through the API to a local aiosmtpd.
async fn time_emails(api: &Api, dir: &Path, emails: usize) -> anyhow::Result<EmailRates> {
    let smtp = start_smtp(dir)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", smtp.port))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            bail!("aiosmtpd did not start");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    api.expect(
        api.put(
            "/api/v1/admin/mail",
            &json!({"host": "127.0.0.1", "port": smtp.port, "security": "none", "from_address": "bench@kith.local"}),
        )?,
        StatusCode::OK,
    )
    .await?;
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for sender in 0..SENDERS {
        let api = api.clone();
        senders.spawn(async move {
            for i in (sender..emails).step_by(SENDERS) {
                let body = json!({"to": [format!("r{i}@example.com")], "subject": format!("Bench {i}"), "body": "Hello from the bench."});
                api.expect(api.post("/api/v1/mail", &body)?, StatusCode::ACCEPTED).await?;
            }
            anyhow::Ok(())
        });
    }
    // Watch the Maildir while the API takes the sends: the first message stored starts the
    // sending clock.
    let watch = {
        let maildir = smtp.maildir.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(600);
            let mut first = None;
            loop {
                let count = maildir_count(&maildir);
                if count > 0 && first.is_none() {
                    first = Some(Instant::now());
                }
                if count >= emails {
                    return Ok((first, Instant::now()));
                }
                if Instant::now() > deadline {
                    bail!("only {count} of {emails} emails arrived within 10 min");
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    while let Some(done) = senders.join_next().await {
        done.context("a sender panicked")??;
    }
    let accepted = started.elapsed();
    let (first, last) = watch.await.context("the watcher panicked")??;
    let first = first.unwrap_or(started);
    Ok(EmailRates {
        accepted_per_second: emails as f64 / accepted.as_secs_f64(),
        sent_per_second: (emails - 1) as f64 / last.duration_since(first).as_secs_f64().max(1e-9),
    })
}

/// Dovecot on a free port serving `messages` messages of user `bench` from a Maildir.
struct Dovecot {
    child: Child,
    port: u16,
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM: the master stops its children.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

fn start_dovecot(dir: &Path, messages: usize) -> anyhow::Result<Dovecot> {
    let dir = dir.join("dovecot");
    let mailbox = dir.join("mail").join("bench");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(mailbox.join(sub))?;
    }
    std::fs::create_dir_all(dir.join("run"))?;
    for i in 0..messages {
        let raw = format!(
            "From: Customer {i} <c{i}@example.com>\r\nTo: support@kith.local\r\n\
             Subject: Question {i}\r\nMessage-ID: <imap{i}@example.com>\r\n\
             Date: Mon, 7 Dec 2026 10:00:00 +0000\r\n\r\nHello, this is message {i}.\r\n"
        );
        std::fs::write(mailbox.join("cur").join(format!("{i}.bench:2,")), raw)?;
    }
    // As root, Dovecot's own users run the logins and own the mail; otherwise this user.
    let me = String::from_utf8(Command::new("id").arg("-un").output()?.stdout)?
        .trim()
        .to_owned();
    let (login, internal) = if me == "root" {
        let chown = Command::new("chown")
            .args(["-R", "dovecot:dovecot"])
            .arg(dir.join("mail"))
            .status()?;
        if !chown.success() {
            bail!("cannot give the Maildir to the dovecot user");
        }
        ("dovenull".to_owned(), "dovecot".to_owned())
    } else {
        (me.clone(), me)
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let d = dir.display();
    std::fs::write(
        dir.join("dovecot.conf"),
        format!(
            "protocols = imap\nlisten = 127.0.0.1\nbase_dir = {d}/run\nstate_dir = {d}/run/state\n\
             log_path = {d}/dovecot.log\nssl = no\ndisable_plaintext_auth = no\n\
             default_login_user = {login}\ndefault_internal_user = {internal}\n\
             default_internal_group = {internal}\nfirst_valid_uid = 1\nmail_fsync = never\n\
             mail_location = maildir:{d}/mail/%u\n\
             passdb {{\n  driver = static\n  args = password=bench\n}}\n\
             userdb {{\n  driver = static\n  args = uid={internal} gid={internal} home={d}/mail/%u\n}}\n\
             service imap-login {{\n  chroot =\n  inet_listener imap {{\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
             service anvil {{\n  chroot =\n}}\n"
        ),
    )?;
    let child = Command::new("/usr/sbin/dovecot")
        .arg("-F")
        .arg("-c")
        .arg(dir.join("dovecot.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("cannot start dovecot (apt-get install dovecot-imapd)")?;
    Ok(Dovecot { child, port })
}

/// Imports a mailbox of `messages` messages over IMAP: the time from adding the mailbox to
/// the last message received.
async fn time_imap(api: &Api, dir: &Path, messages: usize) -> anyhow::Result<Duration> {
    let dovecot = start_dovecot(dir, messages)?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while tokio::net::TcpStream::connect(("127.0.0.1", dovecot.port))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            bail!("dovecot did not start");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    api.expect(
        api.put(
            "/api/v1/admin/outbound-hosts",
            &json!({"hosts": ["127.0.0.1"]}),
        )?,
        StatusCode::OK,
    )
    .await?;
    let started = Instant::now();
    let created = api
        .expect(
            api.post(
                "/api/v1/admin/mailboxes",
                &json!({"name": "Bench", "host": "127.0.0.1", "port": dovecot.port, "security": "none",
                        "username": "bench", "password": "bench", "poll_seconds": 3600}),
            )?,
            StatusCode::CREATED,
        )
        .await?
        .json()?;
    let id = created["id"].as_str().context("a mailbox id")?.to_owned();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let row = api
            .expect(
                api.get(&format!("/api/v1/admin/mailboxes/{id}"))?,
                StatusCode::OK,
            )
            .await?
            .json()?;
        if row["received"].as_u64() == Some(messages as u64) {
            return Ok(started.elapsed());
        }
        if let Some(error) = row["last_error"].as_str() {
            bail!("the IMAP poll failed: {error}");
        }
        if Instant::now() > deadline {
            bail!(
                "only {} of {messages} messages were received within 10 min",
                row["received"]
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The stream's message count once it holds `events` (waiting up to a minute), then deletes
/// the stream.
async fn stream_count(url: &str, prefix: &str, events: u64) -> anyhow::Result<u64> {
    let client = async_nats::connect(url)
        .await
        .context("cannot reach NATS")?;
    let js = async_nats::jetstream::new(client);
    let name = prefix.to_ascii_uppercase();
    let mut stream = js
        .get_stream(&name)
        .await
        .context("the stream is missing")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut held = stream.info().await?.state.messages;
    while held < events && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        held = stream.info().await?.state.messages;
    }
    js.delete_stream(&name).await.ok();
    Ok(held)
}

fn render(args: &Args, reports: &[Report], notes: &[String], machine: &Machine) -> String {
    let mut out = String::new();
    let verdicts: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            let ratio = r.wired.p50_ratio(&r.plain);
            [
                format!(
                    "- {}: a write with {SUBSCRIPTIONS} webhooks and the NATS stream takes {ratio:.2}× a plain one at the median (goal ≤ {WRITE_RATIO_TARGET}×): {}.",
                    r.database,
                    yes_no(ratio <= WRITE_RATIO_TARGET)
                ),
                format!(
                    "- {}: {} webhook deliveries/s (goal ≥ {}): {}.",
                    r.database,
                    thousands(r.deliveries_per_second),
                    thousands(DELIVERIES_PER_SECOND_TARGET),
                    yes_no(r.deliveries_per_second >= DELIVERIES_PER_SECOND_TARGET)
                ),
                format!(
                    "- {}: {} emails/s through a local SMTP server (goal ≥ {}): {}.",
                    r.database,
                    thousands(r.emails_per_second),
                    thousands(EMAILS_PER_SECOND_TARGET),
                    yes_no(r.emails_per_second >= EMAILS_PER_SECOND_TARGET)
                ),
                format!(
                    "- {}: an IMAP mailbox of {} messages imported in {:.1} s (goal ≤ {IMAP_SECONDS_TARGET} s): {}.",
                    r.database,
                    thousands(args.imap_messages as f64),
                    r.imap.as_secs_f64(),
                    yes_no(r.imap.as_secs_f64() <= IMAP_SECONDS_TARGET)
                ),
            ]
        })
        .collect();
    machine.open_section(
        &mut out,
        "Integrations: webhooks, the NATS stream, email",
        &verdicts,
    );
    let rows = reports.iter().flat_map(|r| {
        vec![
            vec![
                r.database.to_owned(),
                "create a contact, plain: p50 / p99".to_owned(),
                format!("{:.2} / {:.2} ms", millis(r.plain.p50), millis(r.plain.p99)),
            ],
            vec![
                r.database.to_owned(),
                format!("… with {SUBSCRIPTIONS} webhooks + NATS: p50 / p99"),
                format!("{:.2} / {:.2} ms", millis(r.wired.p50), millis(r.wired.p99)),
            ],
            vec![
                r.database.to_owned(),
                "ratio p50 / p99".to_owned(),
                format!(
                    "{:.2}× / {:.2}×",
                    r.wired.p50_ratio(&r.plain),
                    r.wired.p99_ratio(&r.plain)
                ),
            ],
            vec![
                r.database.to_owned(),
                format!("webhook deliveries ({})", thousands(r.deliveries as f64)),
                format!("{}/s", thousands(r.deliveries_per_second)),
            ],
            vec![
                r.database.to_owned(),
                format!(
                    "emails taken by the API ({}, {SENDERS} clients)",
                    thousands(r.emails as f64)
                ),
                format!("{}/s", thousands(r.emails_accepted_per_second)),
            ],
            vec![
                r.database.to_owned(),
                "emails sent to the SMTP server (first to last stored)".to_owned(),
                format!("{}/s", thousands(r.emails_per_second)),
            ],
            vec![
                r.database.to_owned(),
                format!(
                    "IMAP mailbox of {} messages imported (Dovecot)",
                    thousands(args.imap_messages as f64)
                ),
                format!(
                    "{:.1} s ({}/s)",
                    r.imap.as_secs_f64(),
                    thousands(args.imap_messages as f64 / r.imap.as_secs_f64().max(1e-9))
                ),
            ],
            vec![
                r.database.to_owned(),
                "NATS messages / events".to_owned(),
                format!("{} / {}", r.stream_messages, r.events),
            ],
        ]
    });
    let mut all_notes = notes.to_vec();
    all_notes.push(format!(
        "{} timed writes per server after {WARMUP} not counted, one at a time, alternating servers; receivers answer 200 at once; {} contacts in batches of 1,000 for the delivery rate; {} emails by {SENDERS} concurrent API clients to Debian's aiosmtpd (Python; it may be the bottleneck).",
        args.writes, args.batch_records, args.emails
    ));
    close_section(&mut out, rows, &all_notes);
    out
}
