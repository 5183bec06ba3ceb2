//! `frontline intents check | import | eval`: the admin commands, parsed by clap in the binary
//! and run here.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::check::check_dir;
use super::crossval::cross_validate;
use super::error::IntentsError;
use super::eval::{
    align_labels, evaluate, fmt_ratio, peak_rss_kb, read_labelled_csv, EvalReport, OUT_OF_SCOPE,
};
use super::import;
use super::matcher::{TrainStats, TrainedMatcher};
use super::report::{write_report, write_tradeoff};
use super::settings::MatcherSettings;
use super::sweep::{sweep, SweepRow};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ImportFormat {
    /// CSV with a header naming `text` and `intent` columns.
    Csv,
    /// Rasa NLU YAML (`nlu:` / `- intent:` / `examples: |`).
    Rasa,
}

#[derive(Debug, Clone, PartialEq, clap::Subcommand)]
pub enum IntentsCommand {
    /// Validate the intent files and print every problem as FILE:LINE: message (exit 1 on errors).
    Check {
        /// Folder of intent files (nested folders allowed) [default: the configured intents folder].
        #[arg(long, value_name = "DIR")]
        intents: Option<PathBuf>,
    },
    /// Convert a labelled data set into intent files, one per intent.
    Import {
        /// Format of FILE.
        #[arg(long, value_enum, value_name = "FORMAT")]
        from: ImportFormat,
        /// The data set to import (rows labelled `out_of_scope` become negative examples).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Folder to write the intent files into (created if missing). Refused if it already
        /// holds *.toml files, unless --force is given.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Write into --out even though it already holds *.toml files: files of the same name
        /// are overwritten, the others stay (and are loaded with the imported ones).
        #[arg(long)]
        force: bool,
    },
    /// Train on the intent files and score the bot's decision on labelled cases.
    Eval {
        /// Folder of intent files [default: the configured intents folder].
        #[arg(long, value_name = "DIR")]
        intents: Option<PathBuf>,
        /// CSV of cases with `text` and `intent` columns; label `out_of_scope` for questions the bot must not answer.
        #[arg(
            long,
            value_name = "FILE.csv",
            required_unless_present = "cv",
            conflicts_with = "cv"
        )]
        cases: Option<PathBuf>,
        /// Instead of --cases: score the set by K-fold cross-validation on its own examples
        /// (K from 2 to 20), and list the 10 intent pairs confused most.
        #[arg(long, value_name = "K", value_parser = clap::value_parser!(u16).range(2..=20))]
        cv: Option<u16>,
        /// Print the trade-off for target precisions 0.70 to 0.98 (step 0.02) from one
        /// training: threshold, in-scope accuracy, out-of-scope recall, answer precision and
        /// escalation rate for each (with --report, also tradeoff.svg).
        #[arg(long, conflicts_with = "cv")]
        sweep: bool,
        /// Print exactly one JSON object with the figures on stdout.
        #[arg(long)]
        json: bool,
        /// Also write the per-intent table (Markdown, CSV) and a confidence histogram (SVG) into this folder.
        #[arg(long, value_name = "DIR")]
        report: Option<PathBuf>,
        /// Exit with status 1 when in-scope accuracy is below X (0 to 1), for CI.
        #[arg(long, value_name = "X", value_parser = parse_fraction)]
        min_accuracy: Option<f64>,
        /// Override [matcher] target_precision for this run.
        #[arg(long, value_name = "P")]
        target_precision: Option<f32>,
        /// Override [matcher] expected_oos_share for this run.
        #[arg(long, value_name = "S")]
        expected_oos_share: Option<f32>,
    },
}

/// A fraction in 0..=1 (NaN is not one).
fn parse_fraction(s: &str) -> Result<f64, String> {
    let x: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    check_fraction(x)
}

fn check_fraction(x: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&x) {
        Ok(x)
    } else {
        Err(format!(
            "{x} is outside 0..=1: in-scope accuracy is a fraction, e.g. 0.9"
        ))
    }
}

/// What the commands need from the application's configuration.
#[derive(Debug, Clone)]
pub struct CommandContext {
    pub settings: MatcherSettings,
    /// Template variables the running bot can fill.
    pub known_vars: BTreeSet<String>,
    /// The configured intents folder.
    pub default_dir: PathBuf,
}

pub fn execute(cmd: IntentsCommand, ctx: &CommandContext) -> Result<ExitCode, IntentsError> {
    match cmd {
        IntentsCommand::Check { intents } => {
            run_check(intents.unwrap_or_else(|| ctx.default_dir.clone()), ctx)
        }
        IntentsCommand::Import {
            from,
            file,
            out,
            force,
        } => run_import(from, file, out, force),
        IntentsCommand::Eval {
            intents,
            cases,
            cv,
            sweep,
            json,
            report,
            min_accuracy,
            target_precision,
            expected_oos_share,
        } => {
            // Clap checks this on the command line; callers of the library get the same rule.
            if let Some(min) = min_accuracy {
                check_fraction(min)
                    .map_err(|e| IntentsError::Usage(format!("--min-accuracy: {e}")))?;
            }
            let mut settings = ctx.settings.clone();
            if let Some(p) = target_precision {
                settings.target_precision = p;
            }
            if let Some(s) = expected_oos_share {
                settings.expected_oos_share = s;
            }
            // Clap enforces these too; callers of the library get the same rules.
            let source = match (cases, cv) {
                (Some(_), Some(_)) => {
                    return Err(IntentsError::Usage(
                        "--cases and --cv: give one (--cv scores the set on its own examples)"
                            .into(),
                    ))
                }
                (None, None) => {
                    return Err(IntentsError::Usage(
                        "give --cases FILE.csv or --cv K".into(),
                    ))
                }
                (Some(path), None) => Source::Cases(path),
                (None, Some(k)) if (2..=20).contains(&k) => {
                    if sweep {
                        return Err(IntentsError::Usage(
                            "--sweep needs --cases (it scores one training)".into(),
                        ));
                    }
                    Source::CrossValidation(k as usize)
                }
                (None, Some(k)) => {
                    return Err(IntentsError::Usage(format!(
                        "--cv: {k} folds; give 2 to 20"
                    )))
                }
            };
            let dir = intents.unwrap_or_else(|| ctx.default_dir.clone());
            run_eval(
                EvalArgs {
                    dir,
                    source,
                    sweep,
                    json,
                    report,
                    min_accuracy,
                },
                &settings,
                &ctx.known_vars,
            )
        }
    }
}

fn run_check(dir: PathBuf, ctx: &CommandContext) -> Result<ExitCode, IntentsError> {
    let report = check_dir(&dir, &ctx.known_vars, &ctx.settings);
    let mut out = std::io::stdout().lock();
    for p in &report.problems {
        let _ = writeln!(out, "{p}");
    }
    let errors = report.errors().count();
    let warnings = report.problems.len() - errors;
    let _ = writeln!(
        out,
        "{}: {} file(s), {} intent(s), {} out-of-scope example(s): {} error(s), {} warning(s)",
        dir.display(),
        report.files,
        report.set.intents.len(),
        report.set.out_of_scope.len(),
        errors,
        warnings
    );
    Ok(if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn run_import(
    from: ImportFormat,
    file: PathBuf,
    out: PathBuf,
    force: bool,
) -> Result<ExitCode, IntentsError> {
    let imported = match from {
        ImportFormat::Csv => import::from_csv(&file)?,
        ImportFormat::Rasa => import::from_rasa(&file)?,
    };
    for note in &imported.notes {
        eprintln!("{note}");
    }
    if !force {
        import::refuse_to_mix(&imported, &out)?;
    }
    let written = import::write_dir(&imported, &out, &file)?;
    let examples: usize = imported.intents.values().map(Vec::len).sum();
    println!(
        "wrote {} file(s) to {}: {} intent(s), {} example(s), {} out-of-scope example(s)",
        written.len(),
        out.display(),
        imported.intents.len(),
        examples,
        imported.negatives.len()
    );
    println!(
        "next: add answers, then run `frontline intents check --intents {}`",
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// What `eval` scores the set on.
enum Source {
    Cases(PathBuf),
    CrossValidation(usize),
}

struct EvalArgs {
    dir: PathBuf,
    source: Source,
    sweep: bool,
    json: bool,
    report: Option<PathBuf>,
    min_accuracy: Option<f64>,
}

fn run_eval(
    args: EvalArgs,
    settings: &MatcherSettings,
    known_vars: &BTreeSet<String>,
) -> Result<ExitCode, IntentsError> {
    let set = super::check::load_dir_with(&args.dir, known_vars, settings)?;
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.enable_steady_tick(Duration::from_millis(120));
    let mut sweep_rows = None;
    let mut confused = None;
    let mut cv_runs = 0;
    let (report, outcomes, stats) = match &args.source {
        Source::Cases(path) => {
            let mut cases = read_labelled_csv(path)?;
            if cases.is_empty() {
                // Every figure would be 0.0 of nothing: fail like `import` does on the same file.
                return Err(IntentsError::input(
                    path,
                    1,
                    "no cases: the file has a header but no rows of `text,intent`",
                ));
            }
            spinner.set_message(format!("training on {} examples", set.example_count()));
            let mut matcher = TrainedMatcher::build(&set, settings)?;
            spinner.finish_and_clear();
            let changed = align_labels(&mut cases, &|l| {
                crate::core::matcher::Matcher::intent(&matcher, l).is_some()
            });
            if let Some((old, new)) = changed.first() {
                eprintln!(
                    "note: {} case label(s) scored as the intent id import makes of them (e.g. {old} as {new})",
                    changed.len()
                );
            }
            note_unknown_labels(&matcher, &cases);
            let bar = if cases.len() >= 1000 {
                indicatif::ProgressBar::new(cases.len() as u64)
            } else {
                indicatif::ProgressBar::hidden()
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} cases {elapsed}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            let (report, outcomes) = evaluate(&matcher, &cases, &|n| bar.set_position(n as u64));
            bar.finish_and_clear();
            let stats = matcher.stats().clone();
            if args.sweep {
                let share = matcher.stats().expected_oos_share;
                sweep_rows = Some(sweep(&mut matcher, &cases, share));
            }
            (report, outcomes, stats)
        }
        Source::CrossValidation(k) => {
            let k = *k;
            if set.example_count() < k {
                return Err(IntentsError::Usage(format!(
                    "--cv {k}: the set has only {} example(s)",
                    set.example_count()
                )));
            }
            spinner.set_message(format!(
                "cross-validating: {k} trainings on {} examples",
                set.example_count()
            ));
            let cv = cross_validate(&set, settings, k)?;
            spinner.finish_and_clear();
            confused = Some(cv.confused);
            cv_runs = cv.rewrite_runs;
            (cv.report, cv.outcomes, cv.last_stats)
        }
    };
    if args.json {
        let mut json = serde_json::to_value(&report).unwrap_or_default();
        if let Some(obj) = json.as_object_mut() {
            if let Some(rows) = &sweep_rows {
                obj.insert(
                    "sweep".into(),
                    serde_json::to_value(rows).unwrap_or_default(),
                );
            }
            if let Some(pairs) = &confused {
                obj.insert(
                    "confused_pairs".into(),
                    serde_json::to_value(pairs).unwrap_or_default(),
                );
            }
        }
        println!("{json}");
    } else {
        print_text(&report, &stats, matches!(args.source, Source::Cases(_)));
        if let Some(rows) = &sweep_rows {
            print_sweep(rows);
        }
        if let Some(pairs) = &confused {
            println!("\nintent pairs confused most (top candidate was the other intent):");
            for p in pairs {
                println!("  {:>5}  {} <-> {}", p.count, p.a, p.b);
            }
        }
    }
    let mut runs = match stats.rewrite_runs {
        0 => String::new(),
        n => format!("; calibration held out {n} runs of rewrites whole"),
    };
    if cv_runs > 0 {
        runs += &format!("; cross-validation kept {cv_runs} runs of rewrites in one fold each");
    }
    eprintln!(
        "{} intents, {} examples ({} built-in stand-ins for unseen questions{runs}), {} features, {:.1} MB weights; peak RSS {}",
        stats.intents,
        stats.examples,
        stats.stand_ins,
        stats.features,
        stats.weight_bytes as f64 / 1e6,
        peak_rss_kb().map_or("unknown".to_string(), |kb| format!(
            "{:.1} MB",
            kb as f64 / 1024.0
        ))
    );
    if let Some(dir) = &args.report {
        let mut written = write_report(dir, &report, &outcomes, stats.threshold)?;
        if let Some(rows) = &sweep_rows {
            written.push(write_tradeoff(dir, rows)?);
        }
        for p in written {
            eprintln!("wrote {}", p.display());
        }
    }
    if let Some(min) = args.min_accuracy {
        match report.in_scope_accuracy {
            Some(acc) if acc >= min => {}
            Some(acc) => {
                eprintln!("in_scope_accuracy {acc:.4} is below --min-accuracy {min}");
                return Ok(ExitCode::FAILURE);
            }
            None => {
                eprintln!("--min-accuracy {min}: no in-scope cases, so no accuracy to check");
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn note_unknown_labels(matcher: &TrainedMatcher, cases: &[super::eval::Case]) {
    let unknown: BTreeSet<&str> = cases
        .iter()
        .map(|c| c.intent.as_str())
        .filter(|&l| {
            l != OUT_OF_SCOPE && crate::core::matcher::Matcher::intent(matcher, l).is_none()
        })
        .collect();
    if !unknown.is_empty() {
        let list: Vec<&str> = unknown.iter().copied().take(10).collect();
        eprintln!(
            "note: {} case label(s) are not intents in the set (counted as misses): {}",
            unknown.len(),
            list.join(", ")
        );
    }
}

fn print_text(report: &EvalReport, stats: &TrainStats, show_threshold: bool) {
    let r = |x: Option<f64>| fmt_ratio(x, 4);
    println!("mode                       {}", report.mode);
    println!("cases                      {}", report.cases);
    println!("top1_accuracy              {}", r(report.top1_accuracy));
    println!("in_scope_accuracy          {}", r(report.in_scope_accuracy));
    println!("oos_recall                 {}", r(report.oos_recall));
    println!("answer_precision           {}", r(report.answer_precision));
    println!(
        "weighted_answer_precision  {} (out of scope reweighted to {:.3})",
        r(report.weighted_answer_precision),
        report.expected_oos_share
    );
    println!("target_precision           {:.3}", report.target_precision);
    println!("escalation_rate            {}", r(report.escalation_rate));
    println!("train_ms                   {:.0}", report.train_ms);
    println!(
        "p50_us / p99_us            {:.1} / {:.1}",
        report.p50_us, report.p99_us
    );
    if show_threshold {
        println!(
            "threshold                  {:.3} calibrated ({:.3} raw), held-out precision {:.3}",
            stats.threshold, stats.raw_threshold, stats.expected_precision
        );
    }
    let mut worst: Vec<_> = report
        .per_intent
        .iter()
        .filter(|s| s.support > 0 && s.intent != OUT_OF_SCOPE)
        .collect();
    // With support, f1 is always defined.
    worst.sort_by(|a, b| a.f1.unwrap_or(0.0).total_cmp(&b.f1.unwrap_or(0.0)));
    if !worst.is_empty() {
        println!("\nweakest intents (f1, recall, confused with):");
        for s in worst.iter().take(10) {
            let conf: Vec<String> = s
                .confused_with
                .iter()
                .map(|c| format!("{} ({})", c.intent, c.count))
                .collect();
            println!(
                "  {:<28} {} {} {}",
                s.intent,
                fmt_ratio(s.f1, 3),
                fmt_ratio(s.recall, 3),
                conf.join(", ")
            );
        }
    }
    if let Some(oos) = report
        .per_intent
        .iter()
        .find(|s| s.intent == OUT_OF_SCOPE && !s.confused_with.is_empty())
    {
        let conf: Vec<String> = oos
            .confused_with
            .iter()
            .map(|c| format!("{} ({})", c.intent, c.count))
            .collect();
        println!("\nout-of-scope cases answered as: {}", conf.join(", "));
    }
}

fn print_sweep(rows: &[SweepRow]) {
    println!(
        "\ntarget  threshold  in_scope_accuracy  oos_recall  answer_precision  escalation_rate"
    );
    for row in rows {
        println!(
            "{:<6.2}  {:>9.3}  {:>17}  {:>10}  {:>16}  {:>15}",
            row.target,
            row.threshold,
            fmt_ratio(row.in_scope_accuracy, 4),
            fmt_ratio(row.oos_recall, 4),
            fmt_ratio(row.answer_precision, 4),
            fmt_ratio(row.escalation_rate, 4)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_accuracy_on_the_command_line_must_be_a_fraction() {
        assert_eq!(parse_fraction("0.9"), Ok(0.9));
        assert_eq!(parse_fraction("1"), Ok(1.0));
        assert_eq!(parse_fraction("0"), Ok(0.0));
        for bad in ["1.01", "-0.1", "NaN", "nan", "inf", "90"] {
            let e = parse_fraction(bad).unwrap_err();
            assert!(e.contains("outside 0..=1"), "{bad}: {e}");
        }
        assert!(parse_fraction("ninety")
            .unwrap_err()
            .contains("not a number"));
    }
}
