//! The `kith` binary as an operator uses it: users, tokens and clear one-line errors.

use std::path::PathBuf;
use std::process::{Command, Output};

use uuid::Uuid;

use crate::support::postgres_url;

/// The `kith` binary next to this test binary (`cargo test --workspace` builds it).
pub fn kith() -> Command {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let bin: PathBuf = dir.join(format!("kith{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p host`",
        bin.display()
    );
    let mut command = Command::new(bin);
    // Messages in English whatever the machine's locale (see `the_command_line_speaks…`).
    command
        .env_remove("KITH_DATABASE_URL")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("LANG", "C")
        .env("KITH_LOG", "warn");
    command
}

fn run(db: &str, args: &[&str]) -> Output {
    kith()
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .expect("kith runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn users_and_tokens(db: &str) {
    let created = run(
        db,
        &[
            "user",
            "create",
            "--email",
            "Ops@Example.com",
            "--password",
            "s3cret-pass",
            "--role",
            "admin",
            "--workspace",
            "ops",
        ],
    );
    assert!(created.status.success(), "{}", stderr(&created));
    assert!(
        stdout(&created).is_empty(),
        "user create prints nothing on stdout"
    );

    let duplicate = run(
        db,
        &[
            "user",
            "create",
            "--email",
            "ops@example.com",
            "--password",
            "s3cret-pass",
            "--role",
            "admin",
            "--workspace",
            "ops",
        ],
    );
    assert!(!duplicate.status.success());
    assert_eq!(
        stderr(&duplicate).trim().lines().count(),
        1,
        "one line: {}",
        stderr(&duplicate)
    );
    assert!(
        stderr(&duplicate).contains("already exists"),
        "{}",
        stderr(&duplicate)
    );

    let elsewhere = run(
        db,
        &[
            "user",
            "create",
            "--email",
            "ops@example.com",
            "--password",
            "s3cret-pass",
            "--role",
            "member",
            "--workspace",
            "other",
        ],
    );
    assert!(
        elsewhere.status.success(),
        "the same email in another workspace: {}",
        stderr(&elsewhere)
    );

    let bad_role = run(
        db,
        &[
            "user",
            "create",
            "--email",
            "x@example.com",
            "--password",
            "s3cret-pass",
            "--role",
            "boss",
        ],
    );
    assert!(!bad_role.status.success());
    assert!(
        stderr(&bad_role).contains("unknown role"),
        "{}",
        stderr(&bad_role)
    );

    let token = run(
        db,
        &[
            "token",
            "create",
            "--email",
            "ops@example.com",
            "--workspace",
            "ops",
            "--name",
            "ci",
        ],
    );
    assert!(token.status.success(), "{}", stderr(&token));
    let printed = stdout(&token);
    let lines: Vec<&str> = printed.lines().collect();
    assert_eq!(lines.len(), 1, "only the token on stdout: {printed:?}");
    assert!(
        lines[0].starts_with("kith_") && lines[0].len() == 69,
        "{printed:?}"
    );

    let nobody = run(
        db,
        &[
            "token",
            "create",
            "--email",
            "nobody@example.com",
            "--workspace",
            "ops",
        ],
    );
    assert!(!nobody.status.success());
    assert!(stdout(&nobody).is_empty());
    assert!(stderr(&nobody).contains("no user"), "{}", stderr(&nobody));
}

#[test]
fn user_and_token_commands_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("kith-cli-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    users_and_tokens(&format!("sqlite://{}", dir.join("kith.db").display()));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn user_and_token_commands_on_postgres() {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let name = format!("kith_cli_{}", Uuid::now_v7().simple());
    let psql = |sql: String| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            use sea_orm::ConnectionTrait;
            let admin = sea_orm::Database::connect(&admin_url)
                .await
                .expect("connect");
            admin.execute_unprepared(&sql).await.expect("admin sql");
        });
    };
    psql(format!("CREATE DATABASE {name}"));
    let url = match admin_url.rsplit_once('/') {
        Some((head, _)) => format!("{head}/{name}"),
        None => panic!("bad KITH_TEST_POSTGRES_URL"),
    };
    users_and_tokens(&url);
    psql(format!("DROP DATABASE {name} WITH (FORCE)"));
}

#[test]
fn bad_database_urls_fail_with_one_clear_line() {
    for (url, expected) in [
        ("mysql://root@localhost/db", "unsupported database URL"),
        (
            "postgres://nobody@127.0.0.1:1/none",
            "cannot open the database",
        ),
        (
            "sqlite:///proc/forbidden/kith.db",
            "cannot open the database",
        ),
    ] {
        let output = run(url, &["migrate"]);
        assert!(!output.status.success(), "{url}");
        let err = stderr(&output);
        assert_eq!(err.trim().lines().count(), 1, "{url}: {err}");
        assert!(err.contains(expected), "{url}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{err}"
        );
    }
}

#[test]
fn the_command_line_speaks_the_language_of_its_environment() {
    let dir = std::env::temp_dir().join(format!("kith-cli-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let db = format!("sqlite://{}", dir.join("kith.db").display());
    let in_language = |lang: &str, args: &[&str]| {
        kith()
            .env("LANG", lang)
            .arg("--db")
            .arg(&db)
            .arg("--data-dir")
            .arg(&dir)
            .args(args)
            .output()
            .expect("kith runs")
    };
    let english = in_language("en_GB.UTF-8", &["migrate"]);
    assert!(english.status.success());
    assert_eq!(stderr(&english).trim(), "migrations applied");
    let chinese = in_language("zh_CN.UTF-8", &["migrate"]);
    assert!(chinese.status.success());
    assert_eq!(stderr(&chinese).trim(), "数据库迁移已完成");
    // Errors too, with what the user typed kept as typed (and not interpreted).
    let missing = in_language(
        "zh_CN.UTF-8",
        &["plugin", "disable", "sales", "--workspace", "<无此>{ $x }"],
    );
    assert!(!missing.status.success());
    assert_eq!(stderr(&missing).trim(), "错误：没有工作区 `<无此>{ $x }`");
    // A locale the app does not speak reads English.
    let german = in_language("de_DE.UTF-8", &["migrate"]);
    assert_eq!(stderr(&german).trim(), "migrations applied");
    std::fs::remove_dir_all(&dir).ok();
}
