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

/// `kith user create` of an admin with the tests' password.
fn create_user(db: &str, email: &str, workspace: &str) -> Output {
    let args = [
        "user",
        "create",
        "--email",
        email,
        "--password",
        "s3cret-pass",
    ];
    run(
        db,
        &[&args[..], &["--role", "admin", "--workspace", workspace]].concat(),
    )
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

    let duplicate = create_user(db, "ops@example.com", "ops");
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
    on_postgres(users_and_tokens);
}

/// Runs `test` against a new PostgreSQL database (nothing without `KITH_TEST_POSTGRES_URL`).
fn on_postgres(test: impl FnOnce(&str)) {
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
    let url = crate::support::with_database(&admin_url, &name);
    test(&url);
    psql(format!("DROP DATABASE {name} WITH (FORCE)"));
}

/// One number a query answers, read from the database a CLI run writes.
fn count(db: &str, sql: &str) -> i64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        use sea_orm::ConnectionTrait;
        let conn = sea_orm::Database::connect(db).await.expect("connect");
        let backend = conn.get_database_backend();
        let row = conn
            .query_one_raw(sea_orm::Statement::from_string(backend, sql))
            .await
            .expect("query")
            .expect("a row");
        let value: i64 = row.try_get_by_index(0).expect("a number");
        conn.close().await.ok();
        value
    })
}

/// `kith import` killed with SIGKILL in the middle of a create-only import, then run again
/// with the same file: it resumes where the killed run stopped, and every row is one
/// contact — none missing, none twice.
fn killed_import_resumes_without_duplicates(db: &str, dir: &std::path::Path) {
    let created = create_user(db, "ops@example.com", "acme");
    assert!(created.status.success(), "{}", stderr(&created));
    let rows = 40_000;
    let mut file = String::from("First name,Email\n");
    for n in 0..rows {
        file.push_str(&format!("Person {n},person{n}@example.com\n"));
    }
    let path = dir.join("people.csv");
    std::fs::write(&path, file).expect("file");
    let path = path.display().to_string();
    let data = dir.join("data");
    let import = || {
        let mut command = kith();
        command
            .arg("--db")
            .arg(db)
            .arg("--data-dir")
            .arg(&data)
            .args(["import", "contacts", &path, "--workspace", "acme"]);
        command
    };
    let mut child = import()
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kith import starts");
    let done = |db: &str| count(db, "SELECT COALESCE(MAX(done_rows), 0) FROM imports");
    let started = std::time::Instant::now();
    while done(db) < 2_000 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(300),
            "the import never got going"
        );
        assert!(
            child.try_wait().expect("child").is_none(),
            "the import ended before it was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    let at_kill = done(db);
    assert!(at_kill < rows, "killed mid-way, at {at_kill}");
    let contacts =
        "SELECT COUNT(*) FROM records WHERE entity_type = 'contact' AND deleted_at IS NULL";
    assert_eq!(
        count(db, contacts),
        at_kill,
        "rows and progress commit together"
    );

    let resumed = import().output().expect("kith import runs");
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert!(
        stderr(&resumed).contains("Resuming"),
        "{}",
        stderr(&resumed)
    );
    assert_eq!(count(db, contacts), rows);
    let emails = if db.starts_with("sqlite") {
        "SELECT COUNT(DISTINCT json_extract(data, '$.email')) FROM records WHERE entity_type = 'contact'"
    } else {
        "SELECT COUNT(DISTINCT data->>'email') FROM records WHERE entity_type = 'contact'"
    };
    assert_eq!(count(db, emails), rows);
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM import_rows WHERE outcome = 'created'"
        ),
        rows
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM imports"),
        1,
        "the same import, resumed"
    );
}

#[test]
fn killed_import_resumes_on_sqlite() {
    let dir = std::env::temp_dir().join(format!("kith-cli-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    killed_import_resumes_without_duplicates(
        &format!("sqlite://{}", dir.join("kith.db").display()),
        &dir,
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn killed_import_resumes_on_postgres() {
    let dir = std::env::temp_dir().join(format!("kith-cli-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    on_postgres(|url| killed_import_resumes_without_duplicates(url, &dir));
    std::fs::remove_dir_all(&dir).ok();
}

/// `kith backup` and `kith restore` through the command line: the restored database exports
/// the same records, and a second restore into it is refused with a clear message.
#[test]
fn backup_and_restore_through_the_command_line() {
    let dir = std::env::temp_dir().join(format!("kith-cli-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let source = format!("sqlite://{}", dir.join("source.db").display());
    let copy = format!("sqlite://{}", dir.join("copy.db").display());
    assert!(
        create_user(&source, "ops@example.com", "acme")
            .status
            .success()
    );
    let file = dir.join("people.csv");
    std::fs::write(
        &file,
        "First name,Email\nAda,ada@example.com\n王小明,wang@example.cn\n",
    )
    .expect("file");
    let data = dir.join("data").display().to_string();
    let file = file.display().to_string();
    let imported = run(
        &source,
        &[
            "--data-dir",
            &data,
            "import",
            "contacts",
            &file,
            "--workspace",
            "acme",
        ],
    );
    assert!(imported.status.success(), "{}", stderr(&imported));
    let archive = dir.join("backup.tar.gz").display().to_string();
    let backed = run(&source, &["--data-dir", &data, "backup", &archive]);
    assert!(backed.status.success(), "{}", stderr(&backed));
    let restored = run(&copy, &["--data-dir", &data, "restore", &archive]);
    assert!(restored.status.success(), "{}", stderr(&restored));
    assert!(
        stderr(&restored).contains("indexed 2 records"),
        "{}",
        stderr(&restored)
    );
    let export = |db: &str| {
        stdout(&run(
            db,
            &[
                "export",
                "contacts",
                "--workspace",
                "acme",
                "--format",
                "jsonl",
            ],
        ))
    };
    assert_eq!(export(&copy), export(&source));
    assert_eq!(export(&copy).lines().count(), 2);
    let again = run(&copy, &["--data-dir", &data, "restore", &archive]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already holds data"),
        "{}",
        stderr(&again)
    );
    std::fs::remove_dir_all(&dir).ok();
}
