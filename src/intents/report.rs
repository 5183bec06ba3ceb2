//! `eval --report DIR`: the per-intent table (Markdown and CSV), a confidence histogram (SVG),
//! the cases the bot got wrong (CSV) and the summary JSON.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::error::IntentsError;
use super::eval::{fmt_ratio, EvalReport, IntentScore, Outcome};
use super::sweep::SweepRow;

const BINS: usize = 20;

/// Writes the report files; returns their paths.
pub fn write_report(
    dir: &Path,
    report: &EvalReport,
    outcomes: &[Outcome],
    threshold: f32,
) -> Result<Vec<PathBuf>, IntentsError> {
    std::fs::create_dir_all(dir).map_err(|e| IntentsError::io(dir, e))?;
    let files = [
        (
            "summary.json",
            serde_json::to_string_pretty(report).unwrap_or_default(),
        ),
        ("per_intent.md", markdown_table(report)),
        ("per_intent.csv", csv_table(report)),
        ("confidence.svg", histogram_svg(outcomes, threshold)),
        ("misses.csv", misses_csv(outcomes)),
    ];
    let mut written = Vec::new();
    for (name, body) in files {
        let path = dir.join(name);
        std::fs::write(&path, body).map_err(|e| IntentsError::io(&path, e))?;
        written.push(path);
    }
    Ok(written)
}

fn confusions(s: &IntentScore) -> String {
    s.confused_with
        .iter()
        .map(|c| format!("{} ({})", c.intent, c.count))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Worst intents first, so the table starts with what needs work.
pub fn markdown_table(report: &EvalReport) -> String {
    let mut rows: Vec<_> = report.per_intent.iter().collect();
    // Rows without an f1 (no cases, no answers) tell nothing: last.
    rows.sort_by(|a, b| {
        let key = |r: &IntentScore| r.f1.unwrap_or(f64::INFINITY);
        key(a).total_cmp(&key(b)).then(a.intent.cmp(&b.intent))
    });
    let mut s = format!(
        "# Intent evaluation\n\n{} cases · in-scope accuracy {} · out-of-scope recall {} · answer precision {} · escalation rate {}\n\n",
        report.cases,
        fmt_ratio(report.in_scope_accuracy, 3),
        fmt_ratio(report.oos_recall, 3),
        fmt_ratio(report.answer_precision, 3),
        fmt_ratio(report.escalation_rate, 3)
    );
    s.push_str("| intent | precision | recall | f1 | support | confused with |\n|---|---:|---:|---:|---:|---|\n");
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            r.intent,
            fmt_ratio(r.precision, 3),
            fmt_ratio(r.recall, 3),
            fmt_ratio(r.f1, 3),
            r.support,
            confusions(r)
        );
    }
    s
}

/// A ratio for CSV: empty when there was nothing to count.
fn csv_ratio(r: Option<f64>) -> String {
    r.map_or_else(String::new, |x| format!("{x:.4}"))
}

/// Every case the decision got wrong: in-scope cases not answered with their intent, and
/// out-of-scope cases that were answered. `got` is the intent answered, `(asked to clarify)` or
/// `(not answered)`; `confidence` is the top candidate's calibrated score.
pub fn misses_csv(outcomes: &[Outcome]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(["text", "expected", "got", "confidence"]);
    for o in outcomes {
        let wrong = if o.oos() {
            o.answered.is_some()
        } else {
            !o.correct()
        };
        if !wrong {
            continue;
        }
        let got = match (&o.answered, o.clarified) {
            (Some(id), _) => id.as_str(),
            (None, true) => "(asked to clarify)",
            (None, false) => "(not answered)",
        };
        let _ = w.write_record([
            o.text.as_str(),
            o.expected.as_str(),
            got,
            &format!("{:.4}", o.top_score),
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

fn csv_table(report: &EvalReport) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record([
        "intent",
        "precision",
        "recall",
        "f1",
        "support",
        "confused_with",
    ]);
    for r in &report.per_intent {
        let _ = w.write_record([
            r.intent.clone(),
            csv_ratio(r.precision),
            csv_ratio(r.recall),
            csv_ratio(r.f1),
            r.support.to_string(),
            confusions(r),
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Stacked histogram of the top confidence: right answers, in-scope misses, out-of-scope cases,
/// with the answer threshold drawn in.
pub fn histogram_svg(outcomes: &[Outcome], threshold: f32) -> String {
    let mut counts = [[0usize; 3]; BINS];
    for o in outcomes {
        let bin = ((o.top_score.clamp(0.0, 1.0) * BINS as f32) as usize).min(BINS - 1);
        let kind = if o.oos() {
            2
        } else if o.correct() {
            0
        } else {
            1
        };
        counts[bin][kind] += 1;
    }
    let max = counts
        .iter()
        .map(|c| c.iter().sum::<usize>())
        .max()
        .unwrap_or(1)
        .max(1);
    let (w, h, left, bottom, top) = (720.0, 360.0, 50.0, 40.0, 40.0);
    let plot_w = w - left - 20.0;
    let plot_h = h - bottom - top;
    let bar_w = plot_w / BINS as f64;
    let colours = ["#2e7d32", "#f9a825", "#c62828"];
    let labels = [
        "in scope, answered right",
        "in scope, not answered or wrong",
        "out of scope",
    ];
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"18\" font-size=\"14\">Top-candidate confidence ({} cases; bar height ∝ √count, hover for counts)</text>\n",
        outcomes.len()
    );
    for (b, c) in counts.iter().enumerate() {
        // Square-root scale: the few out-of-scope cases stay visible next to the many answers.
        let total = c.iter().sum::<usize>().max(1) as f64;
        let bar_h = (total / max as f64).sqrt() * plot_h;
        let mut y = h - bottom;
        for k in 0..3 {
            let bh = c[k] as f64 / total * bar_h;
            if bh > 0.0 {
                y -= bh;
                let _ = writeln!(
                    s,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{}: {}</title></rect>",
                    left + b as f64 * bar_w + 1.0,
                    y,
                    bar_w - 2.0,
                    bh,
                    colours[k],
                    labels[k],
                    c[k]
                );
            }
        }
    }
    for i in 0..=10 {
        let x = left + plot_w * i as f64 / 10.0;
        let _ = writeln!(
            s,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:.1}</text>",
            h - bottom + 16.0,
            i as f64 / 10.0
        );
    }
    let _ = writeln!(
        s,
        "<line x1=\"{left}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"black\"/>",
        h - bottom,
        left + plot_w,
        h - bottom
    );
    let tx = left + plot_w * threshold.clamp(0.0, 1.0) as f64;
    let _ = writeln!(
        s,
        "<line x1=\"{tx:.1}\" y1=\"{top}\" x2=\"{tx:.1}\" y2=\"{:.1}\" stroke=\"black\" stroke-dasharray=\"4 3\"/><text x=\"{:.1}\" y=\"{:.1}\">answer threshold {threshold:.2}</text>",
        h - bottom,
        tx + 4.0,
        top + 12.0
    );
    for (k, label) in labels.iter().enumerate() {
        let y = h - 8.0;
        let x = left + k as f64 * 220.0;
        let _ = writeln!(s, "<rect x=\"{x}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.1}\" y=\"{y}\">{label}</text>", y - 9.0, colours[k], x + 14.0);
    }
    s.push_str("</svg>\n");
    s
}
/// Writes `tradeoff.svg` (from `eval --sweep`) into `dir`; returns its path.
pub fn write_tradeoff(dir: &Path, rows: &[SweepRow]) -> Result<PathBuf, IntentsError> {
    std::fs::create_dir_all(dir).map_err(|e| IntentsError::io(dir, e))?;
    let path = dir.join("tradeoff.svg");
    std::fs::write(&path, tradeoff_svg(rows)).map_err(|e| IntentsError::io(&path, e))?;
    Ok(path)
}

/// Line chart of what each target precision costs: in-scope accuracy, out-of-scope recall,
/// answer precision and escalation rate against the target (x from 0.70 to 0.98).
pub fn tradeoff_svg(rows: &[SweepRow]) -> String {
    let (w, h, left, bottom, top, right) = (720.0, 400.0, 50.0, 60.0, 40.0, 20.0);
    let plot_w = w - left - right;
    let plot_h = h - bottom - top;
    let (x0, x1) = (0.70, 0.98);
    let px = |t: f64| left + (t - x0) / (x1 - x0) * plot_w;
    let py = |v: f64| top + (1.0 - v.clamp(0.0, 1.0)) * plot_h;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"18\" font-size=\"14\">What each target precision costs (one training, calibration re-aimed)</text>\n"
    );
    for i in 0..=10 {
        let v = i as f64 / 10.0;
        let _ = writeln!(
            s,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#eee\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v:.1}</text>",
            left + plot_w,
            left - 6.0,
            py(v) + 4.0,
            y = py(v)
        );
    }
    for row in rows {
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:.2}</text>",
            px(row.target),
            h - bottom + 16.0,
            row.target
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">target precision</text>",
        left + plot_w / 2.0,
        h - bottom + 32.0
    );
    type Get = fn(&SweepRow) -> Option<f64>;
    let series: [(&str, &str, Get); 4] = [
        ("in-scope accuracy", "#2e7d32", |r| r.in_scope_accuracy),
        ("out-of-scope recall", "#c62828", |r| r.oos_recall),
        ("answer precision", "#1565c0", |r| r.answer_precision),
        ("escalation rate", "#f9a825", |r| r.escalation_rate),
    ];
    for (k, (label, colour, get)) in series.iter().enumerate() {
        let points: Vec<String> = rows
            .iter()
            .filter_map(|r| get(r).map(|v| format!("{:.1},{:.1}", px(r.target), py(v))))
            .collect();
        if !points.is_empty() {
            let _ = writeln!(
                s,
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"><title>{label}</title></polyline>",
                points.join(" ")
            );
        }
        let x = left + k as f64 * 165.0;
        let y = h - 10.0;
        let _ = writeln!(
            s,
            "<rect x=\"{x}\" y=\"{:.1}\" width=\"10\" height=\"10\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{y}\">{label}</text>",
            y - 9.0,
            x + 14.0
        );
    }
    s.push_str("</svg>\n");
    s
}
