//! `frontline intents eval`: runs labelled cases through the exact run-time decision and scores it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::error::IntentsError;
use super::matcher::{TrainStats, TrainedMatcher};
use crate::core::matcher::{IntentInfo, Matcher, Verdict};

/// The label of cases that must not be answered.
pub const OUT_OF_SCOPE: &str = "out_of_scope";

/// One labelled case from a `text,intent` CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub text: String,
    pub intent: String,
    pub line: usize,
}

/// Reads a CSV with (at least) the columns `text` and `intent`, in any order.
pub fn read_labelled_csv(path: &Path) -> Result<Vec<Case>, IntentsError> {
    let file = std::fs::File::open(path).map_err(|e| IntentsError::io(path, e))?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(std::io::BufReader::new(file));
    let csv_err = |e: csv::Error| {
        let line = e.position().map_or(1, |p| p.line() as usize);
        let msg = match e.kind() {
            csv::ErrorKind::Utf8 { .. } => "file is not valid UTF-8".to_string(),
            _ => format!("invalid CSV: {e}"),
        };
        IntentsError::input(path, line, msg)
    };
    let headers = rdr.headers().map_err(csv_err)?.clone();
    let col = |name: &str| {
        headers.iter().position(|h| {
            h.trim()
                .trim_start_matches('\u{feff}')
                .eq_ignore_ascii_case(name)
        })
    };
    let (Some(text_col), Some(intent_col)) = (col("text"), col("intent")) else {
        let missing: Vec<&str> = ["text", "intent"]
            .into_iter()
            .filter(|c| col(c).is_none())
            .collect();
        return Err(IntentsError::input(
            path,
            1,
            format!(
                "missing column {} (the header must name `text` and `intent`)",
                missing.join(", ")
            ),
        ));
    };
    let mut cases = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(csv_err)?;
        let line = rec.position().map_or(0, |p| p.line() as usize);
        if rec.len() == 1 && rec.get(0).is_some_and(|f| f.trim().is_empty()) {
            continue; // blank line
        }
        let (Some(text), Some(intent)) = (rec.get(text_col), rec.get(intent_col)) else {
            return Err(IntentsError::input(
                path,
                line,
                format!(
                    "row has {} field(s); expected columns `text` and `intent`",
                    rec.len()
                ),
            ));
        };
        let intent = intent.trim();
        if intent.is_empty() {
            return Err(IntentsError::input(path, line, "empty intent label"));
        }
        cases.push(Case {
            text: text.to_string(),
            intent: intent.to_string(),
            line,
        });
    }
    Ok(cases)
}

/// Case labels that name no intent but whose imported id does (`import` turns
/// `Refund_not_showing_up` into `refund_not_showing_up`) are relabelled with that id, so a set
/// imported from the same data is scored on it fairly. Returns the labels changed (old, new).
pub fn align_labels(cases: &mut [Case], is_intent: &dyn Fn(&str) -> bool) -> Vec<(String, String)> {
    let mut changed: BTreeMap<String, String> = BTreeMap::new();
    for case in cases.iter_mut() {
        if case.intent == OUT_OF_SCOPE || is_intent(&case.intent) {
            continue;
        }
        let id = super::import::sanitize_id(&case.intent);
        if id != case.intent && is_intent(&id) {
            changed.insert(case.intent.clone(), id.clone());
            case.intent = id;
        }
    }
    changed.into_iter().collect()
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Confusion {
    pub intent: String,
    pub count: usize,
}

/// One row of `per_intent`. A ratio is `None` when nothing was there to count: `precision` when
/// nothing was answered as this intent, `recall` without cases of it, `f1` when both are missing.
/// JSON shows those as 0 (scikit-learn's convention), so per-intent columns stay numeric for
/// the tools that read them; the text and Markdown reports show "n/a".
///
/// The `out_of_scope` row scores "not answered" as its prediction: `precision` is the share of
/// unanswered cases that were out of scope, `recall` equals `oos_recall`, and `confused_with`
/// lists the intents that answered out-of-scope cases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntentScore {
    pub intent: String,
    #[serde(serialize_with = "zero_if_none")]
    pub precision: Option<f64>,
    #[serde(serialize_with = "zero_if_none")]
    pub recall: Option<f64>,
    #[serde(serialize_with = "zero_if_none")]
    pub f1: Option<f64>,
    pub support: usize,
    /// Intents this one's cases were wrongly answered as, most frequent first.
    pub confused_with: Vec<Confusion>,
}

/// The figures `eval` reports (`--json` prints exactly this object). A ratio with nothing to
/// count (e.g. `oos_recall` without out-of-scope cases) is `None`, printed as JSON `null`: a
/// 0.0 there would read as a failure that never happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    /// `[matcher] mode` of the matcher scored: lexical, semantic or ensemble.
    pub mode: String,
    pub cases: usize,
    /// In-scope cases answered with the right intent (clarify and unknown count as not answered).
    pub in_scope_accuracy: Option<f64>,
    /// Out-of-scope cases not answered.
    pub oos_recall: Option<f64>,
    /// Right answers over all answers.
    pub answer_precision: Option<f64>,
    /// Share of all cases whose decision hands the message on: no intent recognised (not a
    /// clarifying question), or recognised an `escalate = true` intent.
    pub escalation_rate: Option<f64>,
    /// In-scope cases whose top candidate is the right intent, whatever the threshold: what the
    /// model knows before calibration decides what to answer.
    pub top1_accuracy: Option<f64>,
    /// The answer precision calibration aimed for (the sanitized setting used).
    pub target_precision: f64,
    /// The out-of-scope share of traffic calibration assumed (the sanitized setting used).
    pub expected_oos_share: f64,
    /// Answer precision with the out-of-scope cases reweighted to `expected_oos_share` of all
    /// cases, as calibration assumes; equals `answer_precision` when there are no out-of-scope
    /// (or no in-scope) cases to reweight.
    pub weighted_answer_precision: Option<f64>,
    pub train_ms: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub per_intent: Vec<IntentScore>,
}

/// What happened to one case (for the report's histogram).
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The case's message.
    pub text: String,
    /// Calibrated score of the top candidate (0 when there is none).
    pub top_score: f32,
    /// The top candidate, answered or not.
    pub top_intent: Option<String>,
    pub answered: Option<String>,
    pub clarified: bool,
    pub expected: String,
}

impl Outcome {
    pub fn oos(&self) -> bool {
        self.expected == OUT_OF_SCOPE
    }
    pub fn correct(&self) -> bool {
        self.answered.as_deref() == Some(self.expected.as_str())
    }
}

fn zero_if_none<S: serde::Serializer>(r: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(r.unwrap_or(0.0))
}

/// `a / b`, or `None` when there is nothing to divide by.
fn ratio(a: usize, b: usize) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

/// `Some(x)` as `x` with `digits` decimals, `None` as "n/a" (text and Markdown output).
pub fn fmt_ratio(r: Option<f64>, digits: usize) -> String {
    r.map_or_else(|| "n/a".to_string(), |x| format!("{x:.digits$}"))
}

/// Classifies every case with `matcher` (timing each) and scores the decisions.
pub fn evaluate(
    matcher: &TrainedMatcher,
    cases: &[Case],
    on_progress: &dyn Fn(usize),
) -> (EvalReport, Vec<Outcome>) {
    let (outcomes, times) = classify_all(matcher, cases, on_progress);
    let report = summarize(
        &outcomes,
        &times,
        matcher.intents(),
        matcher.stats(),
        matcher.stats().train_ms,
    );
    (report, outcomes)
}

/// In semantic and ensemble modes, how many cases (spread over the file) are also classified one
/// at a time, exactly as a customer message is at run time, to time it.
pub const TIMED_CASES: usize = 500;

/// Runs every case through the run-time decision; returns the outcomes and the time each took
/// (µs).
///
/// In lexical mode every case is classified and timed on its own. In semantic and ensemble
/// modes the cases are first embedded in batches across cores (so a large file is scored
/// quickly); the times are then those of [`TIMED_CASES`] cases classified one at a time, each
/// embedded alone, unpadded, as at run time.
pub fn classify_all(
    matcher: &TrainedMatcher,
    cases: &[Case],
    on_progress: &dyn Fn(usize),
) -> (Vec<Outcome>, Vec<f64>) {
    let embeddings = embed_cases(matcher, cases);
    let (outcomes, mut times) =
        classify_embedded(matcher, cases, embeddings.as_deref(), on_progress);
    if embeddings.is_some() {
        times = time_single_messages(matcher, cases);
    }
    (outcomes, times)
}

/// Embeddings of every case in batches (`None` in lexical mode, or if embedding fails: the cases
/// are then embedded one at a time and a failure shows as unanswered cases, as at run time).
pub(crate) fn embed_cases(matcher: &TrainedMatcher, cases: &[Case]) -> Option<Vec<Vec<f32>>> {
    let texts: Vec<&str> = cases.iter().map(|c| c.text.as_str()).collect();
    match matcher.embed_messages(&texts) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!("embedding the cases failed: {e}");
            None
        }
    }
}

/// Classifies every case (with its precomputed embedding, if any), timing each.
pub(crate) fn classify_embedded(
    matcher: &TrainedMatcher,
    cases: &[Case],
    embeddings: Option<&[Vec<f32>]>,
    on_progress: &dyn Fn(usize),
) -> (Vec<Outcome>, Vec<f64>) {
    let mut outcomes = Vec::with_capacity(cases.len());
    let mut times = Vec::with_capacity(cases.len());
    for (i, case) in cases.iter().enumerate() {
        let t = Instant::now();
        let c = matcher.classify_embedded(&case.text, embeddings.map(|e| e[i].as_slice()));
        times.push(t.elapsed().as_secs_f64() * 1e6);
        let (answered, clarified) = match c.verdict {
            Verdict::Answer { intent } => (Some(intent), false),
            Verdict::Clarify { .. } => (None, true),
            Verdict::Unknown => (None, false),
        };
        outcomes.push(Outcome {
            text: case.text.clone(),
            top_score: c.candidates.first().map_or(0.0, |c| c.score),
            top_intent: c.candidates.first().map(|c| c.intent.clone()),
            answered,
            clarified,
            expected: case.intent.clone(),
        });
        if i % 256 == 255 {
            on_progress(i + 1);
        }
    }
    on_progress(cases.len());
    (outcomes, times)
}

/// Times [`TIMED_CASES`] cases, evenly spread over `cases`, through the single-message path.
fn time_single_messages(matcher: &TrainedMatcher, cases: &[Case]) -> Vec<f64> {
    let n = cases.len().min(TIMED_CASES);
    (0..n)
        .map(|k| {
            let case = &cases[k * cases.len() / n];
            let t = Instant::now();
            std::hint::black_box(matcher.classify(&case.text));
            t.elapsed().as_secs_f64() * 1e6
        })
        .collect()
}

/// Scores outcomes of the run-time decision. `intents` are the set's intents (each gets a
/// `per_intent` row; `escalate` ones count as hand-offs), `stats` the training's figures.
pub fn summarize(
    outcomes: &[Outcome],
    times: &[f64],
    intents: &[IntentInfo],
    stats: &TrainStats,
    train_ms: f64,
) -> EvalReport {
    let mut times = times.to_vec();
    times.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        if times.is_empty() {
            0.0
        } else {
            times[((times.len() - 1) as f64 * q).round() as usize]
        }
    };
    let escalates: HashMap<&str, bool> = intents
        .iter()
        .map(|i| (i.id.as_str(), i.escalate))
        .collect();

    let in_scope = outcomes.iter().filter(|o| !o.oos()).count();
    let oos = outcomes.len() - in_scope;
    let right = outcomes.iter().filter(|o| o.correct()).count();
    let answers = outcomes.iter().filter(|o| o.answered.is_some()).count();
    let oos_unanswered = outcomes
        .iter()
        .filter(|o| o.oos() && o.answered.is_none())
        .count();
    let escalated = outcomes
        .iter()
        .filter(|o| match &o.answered {
            None => !o.clarified,
            Some(id) => escalates.get(id.as_str()).copied().unwrap_or(false),
        })
        .count();

    // Per intent: every intent in the set or in the cases, except out_of_scope.
    let mut names: BTreeMap<&str, ()> = BTreeMap::new();
    for info in intents {
        names.insert(&info.id, ());
    }
    for o in outcomes {
        if !o.oos() {
            names.insert(&o.expected, ());
        }
    }
    let mut support: HashMap<&str, usize> = HashMap::new();
    let mut predicted: HashMap<&str, usize> = HashMap::new();
    let mut hits: HashMap<&str, usize> = HashMap::new();
    let mut confused: HashMap<&str, BTreeMap<&str, usize>> = HashMap::new();
    for o in outcomes {
        if !o.oos() {
            *support.entry(&o.expected).or_default() += 1;
        }
        if let Some(a) = &o.answered {
            *predicted.entry(a).or_default() += 1;
            if a == &o.expected {
                *hits.entry(a).or_default() += 1;
            } else {
                *confused
                    .entry(&o.expected)
                    .or_default()
                    .entry(a)
                    .or_default() += 1;
            }
        }
    }
    // Out of scope as a class of its own: its prediction is "not answered".
    if oos > 0 {
        names.insert(OUT_OF_SCOPE, ());
        support.insert(OUT_OF_SCOPE, oos);
        hits.insert(OUT_OF_SCOPE, oos_unanswered);
        predicted.insert(
            OUT_OF_SCOPE,
            outcomes.iter().filter(|o| o.answered.is_none()).count(),
        );
    }
    let per_intent = names
        .keys()
        .map(|&name| {
            let h = hits.get(name).copied().unwrap_or(0);
            let pred = predicted.get(name).copied().unwrap_or(0);
            let sup = support.get(name).copied().unwrap_or(0);
            let mut cw: Vec<Confusion> = confused
                .get(name)
                .map(|m| {
                    m.iter()
                        .map(|(k, &v)| Confusion {
                            intent: k.to_string(),
                            count: v,
                        })
                        .collect()
                })
                .unwrap_or_default();
            cw.sort_by(|a, b| b.count.cmp(&a.count).then(a.intent.cmp(&b.intent)));
            cw.truncate(5);
            IntentScore {
                intent: name.to_string(),
                precision: ratio(h, pred),
                recall: ratio(h, sup),
                // The harmonic mean of precision and recall, defined whenever either is.
                f1: ratio(2 * h, pred + sup),
                support: sup,
                confused_with: cw,
            }
        })
        .collect();
    let top1 = outcomes
        .iter()
        .filter(|o| !o.oos() && o.top_intent.as_deref() == Some(o.expected.as_str()))
        .count();
    let oos_answered = answers
        - outcomes
            .iter()
            .filter(|o| !o.oos() && o.answered.is_some())
            .count();
    EvalReport {
        mode: stats.mode.to_string(),
        cases: outcomes.len(),
        in_scope_accuracy: ratio(right, in_scope),
        oos_recall: ratio(oos_unanswered, oos),
        answer_precision: ratio(right, answers),
        escalation_rate: ratio(escalated, outcomes.len()),
        top1_accuracy: ratio(top1, in_scope),
        target_precision: round4(stats.target_precision),
        expected_oos_share: round4(stats.expected_oos_share),
        weighted_answer_precision: weighted_precision(
            right,
            answers - oos_answered,
            oos_answered,
            in_scope,
            oos,
            stats.expected_oos_share as f64,
        ),
        train_ms,
        p50_us: pct(0.5),
        p99_us: pct(0.99),
        per_intent,
    }
}

/// An f32 setting as the f64 a reader expects (0.88, not 0.8799999952316284).
fn round4(x: f32) -> f64 {
    (x as f64 * 1e4).round() / 1e4
}

/// Precision of answers when out-of-scope cases make up `share` of traffic: each answered
/// out-of-scope case counts `share / (1 - share) × in_scope / oos` times.
pub fn weighted_precision(
    right: usize,
    answered_in: usize,
    answered_oos: usize,
    in_scope: usize,
    oos: usize,
    share: f64,
) -> Option<f64> {
    let w = if oos > 0 && in_scope > 0 {
        share / (1.0 - share).max(1e-9) * in_scope as f64 / oos as f64
    } else {
        1.0
    };
    let answered = answered_in as f64 + w * answered_oos as f64;
    (answered > 0.0).then(|| right as f64 / answered)
}

/// Peak resident memory of this process in kB (Linux `VmHWM`), if known.
pub fn peak_rss_kb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_csv_in_any_column_order_and_reports_bad_rows() {
        let dir = std::env::temp_dir().join(format!("fl-eval-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ok = dir.join("ok.csv");
        std::fs::write(
            &ok,
            "intent,text\nrefund,\"money back, please\"\nout_of_scope,hi there\n",
        )
        .unwrap();
        let cases = read_labelled_csv(&ok).unwrap();
        assert_eq!(
            cases[0],
            Case {
                text: "money back, please".into(),
                intent: "refund".into(),
                line: 2
            }
        );
        let missing = dir.join("missing.csv");
        std::fs::write(&missing, "text,label\na,b\n").unwrap();
        let e = read_labelled_csv(&missing).unwrap_err().to_string();
        assert!(
            e.ends_with(
                "missing.csv:1: missing column intent (the header must name `text` and `intent`)"
            ),
            "{e}"
        );
        let short = dir.join("short.csv");
        std::fs::write(&short, "text,intent\na,b\nonly text\n").unwrap();
        let e = read_labelled_csv(&short).unwrap_err().to_string();
        assert!(e.contains("short.csv:3: row has 1 field(s)"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
