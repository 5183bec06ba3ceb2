//! `eval --cv K`: scores a set on its own examples by K-fold cross-validation, for admins who
//! have no separate labelled cases. Each fold trains the full matcher (calibration included) on
//! the other folds and runs the run-time decision on the fold's examples. A run of rewrites
//! (see [`super::rewrites`]) goes into one fold whole.

use std::collections::BTreeMap;

use serde::Serialize;

use super::check::IntentSet;
use super::eval::{classify_all, summarize, Case, EvalReport, Outcome, OUT_OF_SCOPE};
use super::holdout::grouped_folds;
use super::matcher::rows::example_runs;
use super::matcher::{TrainStats, TrainedMatcher};
use super::model::Rng;
use super::settings::MatcherSettings;

/// Two intents the model mixes up: in-scope examples of one whose top candidate was the other,
/// counted in both directions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfusedPair {
    pub a: String,
    pub b: String,
    /// Examples of `a` whose top candidate was `b`, plus the other way round.
    pub count: usize,
}

/// The cross-validated report, its outcomes, and the pairs confused most (at most 10).
#[derive(Debug, Clone)]
pub struct CvResult {
    pub report: EvalReport,
    pub outcomes: Vec<Outcome>,
    pub confused: Vec<ConfusedPair>,
    /// Training figures of the last fold (the folds' thresholds differ a little).
    pub last_stats: TrainStats,
    /// Runs of rewrites kept in one fold each (0 unless the set is written in runs).
    pub rewrite_runs: usize,
}

/// The fold of every example of every intent, then of every out-of-scope example: stratified
/// by intent, with each run of rewrites (see [`super::rewrites`]) in one fold. A rewrite scored
/// while its siblings train is all but a copy of them, and says little of how customers'
/// own wording would fare.
fn assign(set: &IntentSet, settings: &MatcherSettings, k: usize) -> (Vec<usize>, usize) {
    let n_intents = set.intents.len();
    let ys: Vec<u32> = set
        .intents
        .iter()
        .enumerate()
        .flat_map(|(i, intent)| std::iter::repeat_n(i as u32, intent.examples.len()))
        .chain(std::iter::repeat_n(
            n_intents as u32,
            set.out_of_scope.len(),
        ))
        .collect();
    let runs = example_runs(set, settings);
    let mut rng = Rng::new(settings.seed ^ 0xC0FF);
    let folds = grouped_folds(&ys, &runs.groups, n_intents + 1, k, &mut rng);
    (folds, runs.runs)
}

/// Runs K-fold cross-validation of `set` (K in 2..=20, and at most the number of examples).
pub fn cross_validate(
    set: &IntentSet,
    settings: &MatcherSettings,
    k: usize,
) -> Result<CvResult, super::semantic::SemanticError> {
    let (folds, rewrite_runs) = assign(set, settings, k);
    let mut outcomes = Vec::new();
    let mut times = Vec::new();
    let mut train_ms = 0.0;
    let mut last = None;
    for f in 0..k {
        let mut train = set.clone();
        let mut cases = Vec::new();
        // Examples in the order `folds` lists them.
        let mut fold_of = folds.iter().copied();
        for intent in train.intents.iter_mut() {
            let mut kept = Vec::new();
            for ex in std::mem::take(&mut intent.examples) {
                if fold_of.next() == Some(f) {
                    cases.push(Case {
                        text: ex.value,
                        intent: intent.id.clone(),
                        line: ex.line,
                    });
                } else {
                    kept.push(ex);
                }
            }
            intent.examples = kept;
        }
        let mut kept = Vec::new();
        for neg in std::mem::take(&mut train.out_of_scope) {
            if fold_of.next() == Some(f) {
                cases.push(Case {
                    text: neg.text,
                    intent: OUT_OF_SCOPE.to_string(),
                    line: neg.line,
                });
            } else {
                kept.push(neg);
            }
        }
        train.out_of_scope = kept;
        let matcher = TrainedMatcher::build(&train, settings)?;
        train_ms += matcher.stats().train_ms;
        let (o, t) = classify_all(&matcher, &cases, &|_| {});
        outcomes.extend(o);
        times.extend(t);
        last = Some(matcher);
    }
    let matcher = last.expect("k >= 2 folds were trained");
    let report = summarize(
        &outcomes,
        &times,
        matcher.intents(),
        matcher.stats(),
        train_ms / k as f64,
    );
    let confused = confused_pairs(&outcomes, 10);
    Ok(CvResult {
        report,
        outcomes,
        confused,
        last_stats: matcher.stats().clone(),
        rewrite_runs,
    })
}

/// The `n` intent pairs whose in-scope cases' top candidate was the other intent most often.
pub fn confused_pairs(outcomes: &[Outcome], n: usize) -> Vec<ConfusedPair> {
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| !o.oos()) {
        let Some(top) = &o.top_intent else { continue };
        if top == &o.expected {
            continue;
        }
        let key = if o.expected < *top {
            (o.expected.clone(), top.clone())
        } else {
            (top.clone(), o.expected.clone())
        };
        *counts.entry(key).or_default() += 1;
    }
    let mut pairs: Vec<ConfusedPair> = counts
        .into_iter()
        .map(|((a, b), count)| ConfusedPair { a, b, count })
        .collect();
    // Most confused first; ties in name order so the list is stable.
    pairs.sort_by(|x, y| y.count.cmp(&x.count).then_with(|| x.a.cmp(&y.a)));
    pairs.truncate(n);
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(expected: &str, top: &str) -> Outcome {
        Outcome {
            text: String::new(),
            top_score: 0.5,
            top_intent: Some(top.into()),
            answered: None,
            clarified: false,
            expected: expected.into(),
        }
    }

    #[test]
    fn confused_pairs_count_both_directions_most_first() {
        let o = vec![
            outcome("a", "b"),
            outcome("b", "a"),
            outcome("c", "a"),
            outcome("a", "a"),
            outcome(OUT_OF_SCOPE, "a"),
        ];
        let p = confused_pairs(&o, 10);
        assert_eq!(
            p,
            vec![
                ConfusedPair {
                    a: "a".into(),
                    b: "b".into(),
                    count: 2
                },
                ConfusedPair {
                    a: "a".into(),
                    b: "c".into(),
                    count: 1
                }
            ]
        );
        assert_eq!(confused_pairs(&o, 1).len(), 1);
    }
}
