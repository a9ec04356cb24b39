//! Developer tasks, run as `cargo xtask <task>`:
//!
//! - `run`: build and start Kith on SQLite under `./kith-data` with demo data and the
//!   first-party plugins (`plugins/`) installed and enabled;
//! - `test`: the whole suite — formatting, clippy, and every test on SQLite and (when
//!   `KITH_TEST_POSTGRES_URL` is set) PostgreSQL, the API fuzzed by schemathesis among them
//!   (installed into `target/schemathesis` on first use);
//! - `plugins`: build the test and first-party plugins for wasm32-wasip2 (the end-to-end tests
//!   load them);
//! - `bench-api`: seed records and drive the real HTTP API, reporting medians and p99s;
//! - `bench-plugins`: what plugins cost — before-save hooks on writes, invocations per second
//!   against native code and a webhook, deadlines, isolation under load, start-up;
//! - `bench-ui`: the server time of the web app's list and record pages with 100k records, and
//!   the size of the CSS a first paint waits for;
//! - `bench-integrations`: what webhooks and the NATS stream add to a write; webhook and email
//!   throughput;
//! - `bench-sales`: what the sales plugin adds to saving a deal (against the same types without
//!   it), and its forecast over 100k deals.

mod bench;

use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "xtask")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Build (release) and run the server with demo data; extra arguments go to `kith serve`.
    Run {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Check formatting and lints, then run every test.
    Test,
    /// Build the test plugins, the first-party plugins and the SDK for wasm32-wasip2.
    Plugins,
    /// Benchmark the HTTP API against a release build (figures for BENCHMARKS.md).
    BenchApi(bench::api::Args),
    /// Benchmark the plugin runtime in a release build (figures for BENCHMARKS.md).
    BenchPlugins(bench::plugins::Args),
    /// Benchmark the web app's pages against a release build (figures for BENCHMARKS.md).
    BenchUi(bench::ui::Args),
    /// Benchmark the sales plugin's writes and forecast against a release build (figures for
    /// BENCHMARKS.md).
    BenchSales(bench::sales::Args),
    /// Benchmark webhooks, the NATS stream and email against a release build (figures for
    /// BENCHMARKS.md).
    BenchIntegrations(bench::integrations::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.task {
        Task::Run { args } => run(&args),
        Task::Test => test(),
        Task::Plugins => plugins(),
        Task::BenchApi(args) => bench::api::run(args),
        Task::BenchPlugins(args) => bench::plugins::run(args),
        Task::BenchUi(args) => bench::ui::run(args),
        Task::BenchSales(args) => bench::sales::run(args),
        Task::BenchIntegrations(args) => bench::integrations::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a command from the workspace root, failing if it fails.
fn cargo(args: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(&cargo)
        .args(args)
        .current_dir(workspace_root())
        .status()
        .with_context(|| format!("cannot run {cargo}"))?;
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(ToOwned::to_owned)
        .unwrap_or_default()
}

fn run(extra: &[String]) -> anyhow::Result<()> {
    // The first-party plugins are built and embedded by host's build script.
    ensure_wasm_target()?;
    let mut args = vec![
        "run",
        "--release",
        "--package",
        "host",
        "--bin",
        "kith",
        "--",
        "serve",
        "--demo",
    ];
    args.extend(extra.iter().map(String::as_str));
    cargo(&args)
}

/// Where every plugin (first-party and test ones) is built for wasm32-wasip2: one folder, so
/// host's build script (which embeds the first-party ones) and `cargo xtask` share their
/// compiled dependencies.
const WASM_DIR: &str = "target/wasm";

/// The first-party plugins (crates under `plugins/`, shipped in the `kith` binary).
const BUNDLED_PLUGINS: &[&str] = &["sales"];

/// Makes sure a rustup component is present (a fresh toolchain may lack it).
fn ensure_component(name: &str, probe: &[&str]) -> anyhow::Result<()> {
    let present = Command::new("cargo")
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    if present {
        return Ok(());
    }
    eprintln!("$ rustup component add {name}");
    let status = Command::new("rustup")
        .args(["component", "add", name])
        .status()
        .context("cannot run rustup")?;
    if !status.success() {
        bail!("cannot install the {name} component");
    }
    Ok(())
}

/// The wasm crates of the workspace: built for wasm32-wasip2, never for the host.
const WASM_CRATES: &[&str] = &["plugin-sdk", "good", "hostile", "noop", "sales"];
const WASM_TARGET: &str = "wasm32-wasip2";

/// Makes sure the wasm32-wasip2 target is installed (a fresh toolchain lacks it).
fn ensure_wasm_target() -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("cannot run rustup")?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == WASM_TARGET)
    {
        return Ok(());
    }
    eprintln!("$ rustup target add {WASM_TARGET}");
    let status = Command::new("rustup")
        .args(["target", "add", WASM_TARGET])
        .status()
        .context("cannot run rustup")?;
    if !status.success() {
        bail!("cannot install the {WASM_TARGET} target");
    }
    Ok(())
}

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Debian's aiosmtpd: the real SMTP server the mail tests send to.
const AIOSMTPD: &str = "/usr/lib/python3/dist-packages/aiosmtpd";
/// Debian's Dovecot: the real IMAP server the mailbox tests poll (each test starts its own on
/// free ports, with a certificate made by openssl).
const DOVECOT: &str = "/usr/sbin/dovecot";
const OPENSSL: &str = "/usr/bin/openssl";

/// Makes sure the Debian packages the tests drive are installed: chromium and chromedriver
/// (the browser tests, over WebDriver), python3-aiosmtpd (the mail tests' SMTP server) and
/// dovecot-imapd with openssl (the mailbox tests' IMAP server and its certificate).
fn ensure_test_packages() -> anyhow::Result<()> {
    let present = |path: &str| std::path::Path::new(path).exists();
    let needed = [
        (CHROMIUM, "chromium"),
        (CHROMEDRIVER, "chromium-driver"),
        (AIOSMTPD, "python3-aiosmtpd"),
        (DOVECOT, "dovecot-imapd"),
        (OPENSSL, "openssl"),
    ];
    let missing: Vec<&str> = needed
        .iter()
        .filter(|(path, _)| !present(path))
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let apt_get = |args: &[&str]| -> anyhow::Result<bool> {
        eprintln!("$ apt-get {}", args.join(" "));
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .context("cannot run apt-get")?;
        Ok(status.success())
    };
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend(&missing);
    // A failure on stale package lists: refresh them once and try again.
    let installed = apt_get(&install)? || (apt_get(&["update"])? && apt_get(&install)?);
    if !installed {
        bail!(
            "cannot install {} with apt-get (the browser and mail tests need them; install \
             them by hand as root)",
            missing.join(", ")
        );
    }
    if let Some((path, package)) = needed.iter().find(|(path, _)| !present(path)) {
        bail!("apt-get installed {package} but {path} is missing");
    }
    Ok(())
}

/// The schemathesis release the API fuzz test (`tests/all/openapi.rs`) drives the server with.
const SCHEMATHESIS: &str = "schemathesis==4.32.5";

/// Makes sure schemathesis is installed in its own virtualenv, `target/schemathesis` (where
/// the fuzz test looks for its `st`): made once with python3's venv, and made again when
/// [`SCHEMATHESIS`] changes.
fn ensure_schemathesis() -> anyhow::Result<()> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let venv = target.join("schemathesis");
    let stamp = venv.join("kith-installed");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == SCHEMATHESIS) {
        return Ok(());
    }
    let run = |program: &std::path::Path, args: &[&str]| -> anyhow::Result<bool> {
        eprintln!("$ {} {}", program.display(), args.join(" "));
        let status = Command::new(program)
            .args(args)
            .status()
            .with_context(|| format!("cannot run {}", program.display()))?;
        Ok(status.success())
    };
    let python = std::path::Path::new("python3");
    let venv_arg = venv.to_string_lossy().into_owned();
    let made = run(python, &["-m", "venv", "--clear", &venv_arg])?;
    // Debian's python3 lacks venv (ensurepip) until python3-venv is installed.
    if !made {
        let apt_get = std::path::Path::new("apt-get");
        let install = ["install", "-y", "--no-install-recommends", "python3-venv"];
        let installed =
            run(apt_get, &install)? || (run(apt_get, &["update"])? && run(apt_get, &install)?);
        if !installed || !run(python, &["-m", "venv", "--clear", &venv_arg])? {
            bail!(
                "cannot make a python3 virtualenv in {venv_arg} (the API fuzz test needs one for schemathesis)"
            );
        }
    }
    let pip = venv.join("bin").join("pip");
    if !run(
        &pip,
        &[
            "install",
            "--quiet",
            "--disable-pip-version-check",
            SCHEMATHESIS,
        ],
    )? {
        bail!("cannot pip-install {SCHEMATHESIS} into {venv_arg}");
    }
    std::fs::write(&stamp, SCHEMATHESIS)
        .with_context(|| format!("cannot write {}", stamp.display()))
}

/// `cargo <verb> --target wasm32-wasip2 --release -p …` over the wasm crates.
fn cargo_wasm(verb: &str, extra: &[&str]) -> anyhow::Result<()> {
    let mut args = vec![
        verb,
        "--target",
        WASM_TARGET,
        "--release",
        "--target-dir",
        WASM_DIR,
    ];
    for name in WASM_CRATES {
        args.extend(["--package", name]);
    }
    args.extend(extra);
    cargo(&args)
}

fn plugins() -> anyhow::Result<()> {
    ensure_wasm_target()?;
    cargo_wasm("build", &[])
}

fn test() -> anyhow::Result<()> {
    ensure_component("rustfmt", &["fmt", "--version"])?;
    ensure_component("clippy", &["clippy", "--version"])?;
    ensure_wasm_target()?;
    ensure_test_packages()?;
    ensure_schemathesis()?;
    if std::env::var_os("KITH_TEST_POSTGRES_URL").is_none() {
        eprintln!("note: KITH_TEST_POSTGRES_URL is not set: PostgreSQL tests will be skipped");
    }
    cargo(&["fmt", "--all", "--check"])?;
    let mut clippy = vec!["clippy", "--workspace", "--all-targets"];
    for name in WASM_CRATES {
        clippy.extend(["--exclude", name]);
    }
    clippy.extend(["--", "-D", "warnings"]);
    cargo(&clippy)?;
    cargo_wasm("clippy", &["--", "-D", "warnings"])?;
    // The SDK and the first-party plugins also build natively, for their unit tests.
    let mut native_clippy = vec!["clippy", "--all-targets", "--package", "plugin-sdk"];
    for name in BUNDLED_PLUGINS {
        native_clippy.extend(["--package", name]);
    }
    native_clippy.extend(["--", "-D", "warnings"]);
    cargo(&native_clippy)?;
    // The end-to-end tests load the test plugins as real components.
    cargo_wasm("build", &[])?;
    // The end-to-end tests drive the `kith` binary itself (CLI, kill -9 and restart), and
    // `cargo test` only builds a package's binaries for that package's own tests.
    cargo(&["build", "--package", "host", "--bin", "kith"])?;
    // Default targets: libraries, binaries and tests — benchmarks are linted above, run apart.
    // The SDK's and the first-party plugins' unit tests run natively.
    let mut native = vec!["test", "--package", "plugin-sdk"];
    for name in BUNDLED_PLUGINS {
        native.extend(["--package", name]);
    }
    cargo(&native)?;
    let mut test = vec!["test", "--workspace"];
    for name in WASM_CRATES {
        test.extend(["--exclude", name]);
    }
    cargo(&test)
}
