//! The `frontline` binary as an admin uses it: agents, migrate, help, and refusing to start on a
//! bad config or intent file with a message naming the file and line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn frontline(dir: &Path, args: &[&str], database: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_frontline"))
        .args(args)
        .current_dir(dir)
        .env("DATABASE_URL", database)
        .env_remove("FRONTLINE__HTTP__BIND")
        .output()
        .expect("runs frontline")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("frontline-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn agents_are_added_listed_and_removed() {
    let dir = temp_dir("agents");
    let db = format!("sqlite:{}/nested/agents.db", dir.display());

    let out = frontline(&dir, &["agents", "add", "alice"], &db);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let token = stdout.lines().last().unwrap().trim().to_string();
    assert_eq!(token.len(), 64, "prints the token: {stdout}");

    let out = frontline(&dir, &["agents", "add", "alice"], &db);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        text(&out.stderr)
    );

    let out = frontline(&dir, &["agents", "list"], &db);
    let listing = text(&out.stdout);
    assert!(listing.contains("alice"), "{listing}");
    assert!(!listing.contains(&token), "the token is never shown again");
    let stored = std::fs::read(dir.join("nested/agents.db")).unwrap();
    assert!(
        !stored.windows(token.len()).any(|w| w == token.as_bytes()),
        "only a hash is stored"
    );

    let out = frontline(&dir, &["agents", "remove", "alice"], &db);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = frontline(&dir, &["agents", "remove", "alice"], &db);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no agent named 'alice'"));
}

#[test]
fn migrate_creates_the_database_and_its_folder() {
    let dir = temp_dir("migrate");
    let out = frontline(
        &dir,
        &["migrate"],
        &format!("sqlite:{}/a/b/f.db", dir.display()),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.join("a/b/f.db").exists());
}

#[test]
fn report_prints_text_or_one_json_object() {
    let dir = temp_dir("report");
    let db = format!("sqlite:{}/r.db", dir.display());
    let out = frontline(&dir, &["report", "--days", "30"], &db);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("customer messages handled  0") && stdout.contains("no ratings yet"),
        "{stdout}"
    );

    let out = frontline(&dir, &["report", "--json"], &db);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for key in ["from", "to", "bot", "tickets", "csat", "not_understood"] {
        assert!(report.get(key).is_some(), "{key} in {report}");
    }
    assert_eq!(report["bot"]["messages"], 0);
    assert!(report["bot"]["answer_rate"].is_null());

    let out = frontline(&dir, &["report", "--days", "0"], &db);
    assert!(!out.status.success(), "a zero-day window is refused");
}

#[test]
fn every_command_explains_itself() {
    let dir = temp_dir("help");
    for args in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["migrate", "--help"],
        vec!["agents", "--help"],
        vec!["agents", "add", "--help"],
        vec!["intents", "--help"],
        vec!["intents", "check", "--help"],
        vec!["intents", "eval", "--help"],
        vec!["intents", "import", "--help"],
        vec!["report", "--help"],
    ] {
        let out = frontline(&dir, &args, "sqlite::memory:");
        assert!(out.status.success(), "{args:?}");
        assert!(
            text(&out.stdout).contains("Usage"),
            "{args:?}: {}",
            text(&out.stdout)
        );
    }
}

#[test]
fn a_bad_config_file_stops_start_with_file_and_line() {
    let dir = temp_dir("badconfig");
    let config = dir.join("bad.toml");
    std::fs::write(
        &config,
        "[http]\nbind = \"127.0.0.1:0\"\n\n[conversation]\nmax_mises = 3\n",
    )
    .unwrap();
    let out = frontline(
        &dir,
        &["--config", config.to_str().unwrap(), "run"],
        "sqlite::memory:",
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("bad.toml:5"), "{err}");
    assert!(err.contains("max_mises"), "{err}");
}

#[test]
fn a_bad_intent_file_stops_start_with_file_and_line() {
    let dir = temp_dir("badintents");
    std::fs::create_dir_all(dir.join("intents")).unwrap();
    std::fs::write(
        dir.join("intents/broken.toml"),
        "[[intent]]\nid = \"ok\"\ndescription = \"fine\"\nexamples = [\"a\", \"b\"]\nanswer = \"x\"\n\n[[intent]]\nid = \"bad\"\nexamples = [\"c\"]\npatterns = ['(unclosed']\n",
    )
    .unwrap();
    let config = dir.join("c.toml");
    std::fs::write(
        &config,
        "[http]\nbind = \"127.0.0.1:0\"\n[intents]\ndir = \"intents\"\n",
    )
    .unwrap();
    let out = frontline(
        &dir,
        &["--config", config.to_str().unwrap(), "run"],
        "sqlite::memory:",
    );
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("broken.toml:10"), "{err}");
}
