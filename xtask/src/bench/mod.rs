//! The benchmarks behind BENCHMARKS.md, each run as `cargo xtask bench-<name>`:
//!
//! - [`api`]: the HTTP API on SQLite and PostgreSQL (seeding, reads, lists, concurrent
//!   writers, permissions, a login flood);
//! - [`plugins`]: what the plugin runtime costs (hooks on writes, invocations, deadlines,
//!   isolation under hostile load, start-up);
//! - [`ui`]: the web app's pages with 100k records, and what a first paint waits for;
//! - [`sales`]: what the sales plugin adds to a deal's writes, and its forecast;
//! - [`integrations`]: what webhooks and the NATS stream add to a write, webhook and email
//!   throughput.
//!
//! What they share lives here and in [`server`]: the client is always an optimised build (a
//! debug `xtask` builds the release server and re-runs itself from it), one statistics helper
//! ([`Stats`]: nearest-rank percentiles over every sample), the line saying where and when a
//! bench ran ([`Machine`]), and the markdown section each writes into BENCHMARKS.md between
//! its own markers ([`publish_section`]).

pub mod api;
pub mod integrations;
pub mod plugins;
pub mod sales;
mod server;
pub mod ui;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};
use uuid::Uuid;

pub(crate) use server::*;

/// Set when a debug `xtask` re-runs the bench from the release build it has just made.
const BUILT_ENV: &str = "KITH_BENCH_BUILT";

// -- an optimised client -------------------------------------------------------------------------

/// Whether this is the first run of the bench command, not the optimised re-run.
pub(crate) fn first_run() -> bool {
    std::env::var_os(BUILT_ENV).is_none()
}

/// Builds `packages` and `xtask` in release (unless this already is the re-run) and, from a
/// debug `xtask`, runs the same command again from the optimised one: `true` when that re-run
/// did the work and the caller has nothing left to do.
pub(crate) fn rerun_release_build(packages: &[&str]) -> anyhow::Result<bool> {
    if first_run() {
        let mut args = vec!["build", "--release", "--package", "xtask"];
        for package in packages {
            args.extend(["--package", package]);
        }
        crate::cargo(&args)?;
    }
    if !cfg!(debug_assertions) {
        return Ok(false);
    }
    let xtask = release_dir().join("xtask");
    let status = Command::new(&xtask)
        .args(std::env::args_os().skip(1))
        .env(BUILT_ENV, "1")
        .status()
        .with_context(|| format!("cannot run {}", xtask.display()))?;
    if !status.success() {
        bail!("the optimised bench failed ({status})");
    }
    Ok(true)
}

/// `target/` (or `CARGO_TARGET_DIR`).
pub(crate) fn target_dir() -> PathBuf {
    let root = crate::workspace_root();
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |dir| root.join(dir))
}

pub(crate) fn release_dir() -> PathBuf {
    target_dir().join("release")
}

/// A multi-threaded tokio runtime for the client.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

/// A temporary directory, removed with its contents when dropped.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn create() -> anyhow::Result<TempDir> {
        let path = std::env::temp_dir().join(format!("kith-bench-{}", Uuid::now_v7().simple()));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(TempDir(path))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    /// The URL of a SQLite database file in the directory.
    pub(crate) fn sqlite_url(&self) -> String {
        format!("sqlite://{}", self.0.join("kith.db").display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(error) = std::fs::remove_dir_all(&self.0) {
            eprintln!("warning: cannot remove {}: {error}", self.0.display());
        }
    }
}

// -- statistics ----------------------------------------------------------------------------------

/// Latencies of one series: nearest-rank percentiles over every sample.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Stats {
    pub(crate) n: usize,
    pub(crate) p50: Duration,
    pub(crate) p95: Duration,
    pub(crate) p99: Duration,
    pub(crate) max: Duration,
}

impl Stats {
    pub(crate) fn of(samples: impl IntoIterator<Item = Duration>) -> Stats {
        let mut samples: Vec<Duration> = samples.into_iter().collect();
        samples.sort_unstable();
        let rank = |q: f64| {
            let index = ((q * samples.len() as f64).ceil() as usize).saturating_sub(1);
            samples.get(index).copied().unwrap_or_default()
        };
        Stats {
            n: samples.len(),
            p50: rank(0.5),
            p95: rank(0.95),
            p99: rank(0.99),
            max: samples.last().copied().unwrap_or_default(),
        }
    }

    /// This series' median over `base`'s.
    pub(crate) fn p50_ratio(&self, base: &Stats) -> f64 {
        ratio(self.p50, base.p50)
    }

    /// This series' p99 over `base`'s.
    pub(crate) fn p99_ratio(&self, base: &Stats) -> f64 {
        ratio(self.p99, base.p99)
    }
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(f64::EPSILON)
}

/// Which sample the nearest-rank p99 of `n` samples is, as a sentence for the notes.
pub(crate) fn p99_rank(n: usize) -> String {
    match n - (99 * n).div_ceil(100) {
        0 => format!("With {n} samples the p99 is the slowest one (the max)."),
        1 => format!("With {n} samples the p99 is the second slowest."),
        k => format!("With {n} samples the p99 is the {}th slowest.", k + 1),
    }
}

// -- formatting ----------------------------------------------------------------------------------

pub(crate) fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// A duration in the unit that reads best: µs below 1 ms, ms below 10 s.
pub(crate) fn human(duration: Duration) -> String {
    let micros = duration.as_secs_f64() * 1e6;
    if micros < 10.0 {
        format!("{micros:.2} µs")
    } else if micros < 1_000.0 {
        format!("{micros:.1} µs")
    } else if micros < 10_000.0 {
        format!("{:.2} ms", micros / 1e3)
    } else if micros < 10_000_000.0 {
        format!("{:.1} ms", micros / 1e3)
    } else {
        format!("{:.2} s", micros / 1e6)
    }
}

/// `+3.3 µs`, `−3.3 µs`.
pub(crate) fn signed_micros(micros: f64) -> String {
    format!(
        "{}{:.1} µs",
        if micros < 0.0 { "−" } else { "+" },
        micros.abs()
    )
}

/// A whole number with thousands separators: 23,456.
pub(crate) fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Whether a target was met, as a table cell: a miss stands out.
pub(crate) fn yes_no(met: bool) -> &'static str {
    if met { "yes" } else { "**no**" }
}

// -- where it ran --------------------------------------------------------------------------------

/// Where the bench ran.
pub(crate) struct Machine {
    cores: usize,
    memory: String,
    cpu: String,
    kernel: String,
    rustc: String,
    /// The load averages (1, 5, 15 minutes) when the bench started.
    pub(crate) load: String,
}

impl Machine {
    pub(crate) fn probe() -> Machine {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let meminfo = read("/proc/meminfo");
        let memory = meminfo
            .lines()
            .find_map(|line| line.strip_prefix("MemTotal:"))
            .and_then(|rest| {
                rest.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .map_or_else(
                || "unknown".to_owned(),
                |kib| format!("{:.1} GiB", kib / (1024.0 * 1024.0)),
            );
        let cpuinfo = read("/proc/cpuinfo");
        let cpu = cpuinfo
            .lines()
            .find(|line| line.starts_with("model name"))
            .and_then(|line| line.split_once(':'))
            .map_or_else(
                || "unknown CPU".to_owned(),
                |(_, model)| model.trim().to_owned(),
            );
        let rustc = Command::new("rustc")
            .arg("--version")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .map_or_else(|| "unknown".to_owned(), |version| version.trim().to_owned());
        let machine = Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory,
            cpu,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            rustc,
            load: Machine::load(),
        };
        eprintln!("load average at the start: {}", machine.load);
        machine
    }

    /// The load averages (1, 5, 15 minutes) now.
    pub(crate) fn load() -> String {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Starts a section: its title, the run line (with the load now, at the end of the run)
    /// and the verdicts.
    pub(crate) fn open_section(&self, out: &mut String, title: &str, verdicts: &[String]) {
        let _ = writeln!(out, "## {title}\n");
        let _ = writeln!(out, "{}\n", self.run_line());
        let _ = writeln!(out, "{}\n", verdicts.join("\n"));
    }

    /// The line under a section's title: when, with which command and where the bench ran,
    /// and the load average at its start and now, at its end.
    pub(crate) fn run_line(&self) -> String {
        format!(
            "Run on {} (UTC) with `{}`: {} cores ({}), {} RAM, Linux {}, {}; client and server on the same machine; load average at the start: {}, at the end: {}.",
            chrono::Utc::now().format("%Y-%m-%d %H:%M"),
            command_line(),
            self.cores,
            self.cpu,
            self.memory,
            self.kernel,
            self.rustc,
            self.load,
            Machine::load()
        )
    }
}

/// The command that ran the bench, as typed.
pub(crate) fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo xtask {}", args.join(" "))
}

// -- the section in BENCHMARKS.md ----------------------------------------------------------------

/// Writes a markdown table and a blank line; `align` has a letter per column, `l` or `r`.
pub(crate) fn table(
    out: &mut String,
    header: &[&str],
    align: &str,
    rows: impl IntoIterator<Item = Vec<String>>,
) {
    let rule: Vec<&str> = align
        .chars()
        .map(|a| if a == 'r' { "---:" } else { "---" })
        .collect();
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(out, "|{}|", rule.join("|"));
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    let _ = writeln!(out);
}

/// Ends a section: the table of measures (database, measure, value) and the notes.
pub(crate) fn close_section(
    out: &mut String,
    measures: impl IntoIterator<Item = Vec<String>>,
    notes: &[String],
) {
    table(out, &["database", "measure", "value"], "lll", measures);
    for note in notes {
        let _ = writeln!(out, "- {note}");
    }
}

/// Prints a bench's section and, given a file (`--write`), writes it there between `markers`.
pub(crate) fn publish_section(
    section: &str,
    write: Option<&Path>,
    markers: (&str, &str),
) -> anyhow::Result<()> {
    println!("{section}");
    if let Some(path) = write {
        write_marked_section(path, markers, section)?;
        eprintln!("wrote the results to {}", path.display());
    }
    Ok(())
}

/// Writes `section` between `markers` in `path`, creating the file or the markers if absent.
fn write_marked_section(path: &Path, markers: (&str, &str), section: &str) -> anyhow::Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    };
    let updated = match existing {
        Some(text) => replace_section(&text, markers, section),
        None => format!("# Benchmarks\n\n{}", replace_section("", markers, section)),
    };
    std::fs::write(path, updated).with_context(|| format!("cannot write {}", path.display()))
}

/// `text` with the section between `start` and `end` replaced by `section`, or with it
/// appended.
fn replace_section(text: &str, (start_marker, end_marker): (&str, &str), section: &str) -> String {
    let block = format!("{start_marker}\n{}\n{end_marker}", section.trim_end());
    if let Some(start) = text.find(start_marker)
        && let Some(end) = text[start..]
            .find(end_marker)
            .map(|offset| start + offset + end_marker.len())
    {
        return format!("{}{block}{}", &text[..start], &text[end..]);
    }
    let separator = match text {
        "" => "",
        _ if text.ends_with("\n\n") => "",
        _ if text.ends_with('\n') => "\n",
        _ => "\n\n",
    };
    format!("{text}{separator}{block}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKERS: (&str, &str) = ("<!-- x:start -->", "<!-- x:end -->");

    #[test]
    fn sections_are_appended_then_replaced_in_place() {
        let first = replace_section("# Benchmarks\n\nIntro.\n", MARKERS, "old");
        assert_eq!(
            first,
            "# Benchmarks\n\nIntro.\n\n<!-- x:start -->\nold\n<!-- x:end -->\n"
        );
        let second = replace_section(&format!("{first}\nAfter.\n"), MARKERS, "new\n");
        assert_eq!(
            second,
            "# Benchmarks\n\nIntro.\n\n<!-- x:start -->\nnew\n<!-- x:end -->\n\nAfter.\n"
        );
        assert_eq!(
            replace_section("", MARKERS, "x"),
            "<!-- x:start -->\nx\n<!-- x:end -->\n"
        );
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples = (1..=200).rev().map(Duration::from_millis);
        let stats = Stats::of(samples);
        assert_eq!(
            (stats.n, stats.p50, stats.p95, stats.p99, stats.max),
            (
                200,
                Duration::from_millis(100),
                Duration::from_millis(190),
                Duration::from_millis(198),
                Duration::from_millis(200)
            )
        );
        assert_eq!(Stats::of(Vec::new()).n, 0);
        let base = Stats::of([Duration::from_millis(2)]);
        assert_eq!(Stats::of([Duration::from_millis(3)]).p99_ratio(&base), 1.5);
        assert_eq!(
            p99_rank(100),
            "With 100 samples the p99 is the second slowest."
        );
        assert_eq!(
            p99_rank(50),
            "With 50 samples the p99 is the slowest one (the max)."
        );
        assert_eq!(
            p99_rank(1_000),
            "With 1000 samples the p99 is the 11th slowest."
        );
    }

    #[test]
    fn figures_read_in_their_unit() {
        assert_eq!(human(Duration::from_nanos(1_500)), "1.50 µs");
        assert_eq!(human(Duration::from_micros(450)), "450.0 µs");
        assert_eq!(human(Duration::from_micros(2_934)), "2.93 ms");
        assert_eq!(human(Duration::from_millis(52)), "52.0 ms");
        assert_eq!(signed_micros(-3.26), "−3.3 µs");
        assert_eq!(thousands(1_234_567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
    }
}
