//! `intents eval --sweep` and `--cv K`: output shapes and exit codes, through the binary (clap
//! rules included) and through the library.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output};

use frontline::intents::{execute, load_dir, CommandContext, IntentsCommand, MatcherSettings};

const FIXTURE: &str = "tests/fixtures/intents/basic";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "frontline-intents-tools-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn known() -> BTreeSet<String> {
    ["links.orders", "customer.name"]
        .into_iter()
        .map(String::from)
        .collect()
}

fn frontline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_frontline"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

fn cases(dir: &Path) -> PathBuf {
    let path = dir.join("cases.csv");
    std::fs::write(
        &path,
        "text,intent\nwhere is my parcel,order_status\nplease refund me,refund\nreset my password,password_reset\nwhat is the weather like,out_of_scope\nblorp zxqv,out_of_scope\n",
    )
    .unwrap();
    path
}

fn json(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn sweep_prints_one_row_per_target_and_draws_the_tradeoff() {
    let dir = temp_dir("sweep");
    let cases = cases(&dir);
    let report = dir.join("report");
    let out = frontline(&[
        "intents",
        "eval",
        "--intents",
        FIXTURE,
        "--cases",
        cases.to_str().unwrap(),
        "--sweep",
        "--json",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let v = json(&out);
    for key in [
        "top1_accuracy",
        "target_precision",
        "expected_oos_share",
        "weighted_answer_precision",
    ] {
        assert!(v.get(key).is_some(), "{key} missing: {v}");
    }
    let rows = v["sweep"].as_array().expect("sweep array");
    assert_eq!(rows.len(), 15);
    let targets: Vec<f64> = rows.iter().map(|r| r["target"].as_f64().unwrap()).collect();
    assert_eq!(targets[0], 0.70);
    assert_eq!(targets[14], 0.98);
    assert!(targets
        .windows(2)
        .all(|w| (w[1] - w[0] - 0.02).abs() < 1e-9));
    for row in rows {
        for key in [
            "target",
            "threshold",
            "in_scope_accuracy",
            "oos_recall",
            "answer_precision",
            "escalation_rate",
        ] {
            assert!(row.get(key).is_some(), "{key} missing in {row}");
        }
    }
    // A higher target never lowers the threshold.
    let thresholds: Vec<f64> = rows
        .iter()
        .map(|r| r["threshold"].as_f64().unwrap())
        .collect();
    assert!(
        thresholds.windows(2).all(|w| w[1] >= w[0]),
        "{thresholds:?}"
    );
    let svg = std::fs::read_to_string(report.join("tradeoff.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("polyline"), "{svg}");

    // Without --json: a table with the columns.
    let out = frontline(&[
        "intents",
        "eval",
        "--intents",
        FIXTURE,
        "--cases",
        cases.to_str().unwrap(),
        "--sweep",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "target  threshold  in_scope_accuracy  oos_recall  answer_precision  escalation_rate"
        ),
        "{text}"
    );
    assert!(text.contains("\n0.98 "), "{text}");
}

#[test]
fn cv_scores_every_example_once_and_lists_confused_pairs() {
    let set = load_dir(Path::new(FIXTURE), &known()).unwrap();
    let out = frontline(&[
        "intents",
        "eval",
        "--intents",
        FIXTURE,
        "--cv",
        "3",
        "--json",
    ]);
    assert!(out.status.success(), "{out:?}");
    let v = json(&out);
    assert_eq!(v["cases"].as_u64().unwrap() as usize, set.example_count());
    let pairs = v["confused_pairs"]
        .as_array()
        .expect("confused_pairs array");
    assert!(pairs.len() <= 10);
    for p in pairs {
        assert!(p["a"].is_string() && p["b"].is_string() && p["count"].as_u64() > Some(0));
    }
    // A model that learned nothing would miss far more than this on the fixture's examples.
    assert!(v["top1_accuracy"].as_f64().unwrap() >= 0.6, "{v}");
    let out = frontline(&["intents", "eval", "--intents", FIXTURE, "--cv", "3"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("intent pairs confused most"));
}

#[test]
fn cv_with_cases_or_out_of_range_is_a_usage_error() {
    let dir = temp_dir("cvusage");
    let cases = cases(&dir);
    let c = cases.to_str().unwrap();
    for args in [
        vec![
            "intents",
            "eval",
            "--intents",
            FIXTURE,
            "--cases",
            c,
            "--cv",
            "3",
        ],
        vec!["intents", "eval", "--intents", FIXTURE, "--cv", "1"],
        vec![
            "intents",
            "eval",
            "--intents",
            FIXTURE,
            "--cv",
            "3",
            "--sweep",
        ],
        vec!["intents", "eval", "--intents", FIXTURE],
    ] {
        let out = frontline(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty());
    }

    // The library keeps the same rules for callers that skip clap.
    let ctx = CommandContext {
        settings: MatcherSettings::default(),
        known_vars: known(),
        default_dir: PathBuf::from(FIXTURE),
    };
    let eval = |cases: Option<PathBuf>, cv: Option<u16>, sweep: bool| {
        execute(
            IntentsCommand::Eval {
                intents: None,
                cases,
                cv,
                sweep,
                json: true,
                report: None,
                min_accuracy: None,
                target_precision: None,
                expected_oos_share: None,
            },
            &ctx,
        )
    };
    let err = eval(Some(cases.clone()), Some(3), false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--cases and --cv"), "{err}");
    assert!(eval(None, None, false).is_err());
    assert!(eval(None, Some(3), true).is_err());
    assert!(eval(None, Some(1), false).is_err());
    assert_eq!(eval(None, Some(3), false).unwrap(), ExitCode::SUCCESS);
}
