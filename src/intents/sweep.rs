//! `eval --sweep`: the trade-off between answering and handing over, for target precisions from
//! 0.70 to 0.98, from one training (calibration is re-aimed from the same held-out scores).

use serde::Serialize;

use super::eval::{classify_embedded, embed_cases, summarize, Case};
use super::matcher::TrainedMatcher;

/// Targets `--sweep` tries: 0.70, 0.72, ..., 0.98.
pub fn targets() -> Vec<f32> {
    (0..15).map(|i| 0.70 + 0.02 * i as f32).collect()
}

/// One target precision and what the bot does on the cases when calibrated for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepRow {
    pub target: f64,
    /// The answer threshold calibration picks, as a calibrated confidence.
    pub threshold: f64,
    pub in_scope_accuracy: Option<f64>,
    pub oos_recall: Option<f64>,
    pub answer_precision: Option<f64>,
    pub escalation_rate: Option<f64>,
    /// Answer precision with out-of-scope cases reweighted to the expected share.
    pub weighted_answer_precision: Option<f64>,
}

/// Re-aims `matcher` at each target in turn and scores `cases`; leaves it aimed at the last.
pub fn sweep(matcher: &mut TrainedMatcher, cases: &[Case], oos_share: f32) -> Vec<SweepRow> {
    // Calibration does not change the embeddings: the cases are embedded once.
    let embeddings = embed_cases(matcher, cases);
    targets()
        .into_iter()
        .map(|target| {
            matcher.recalibrate(target, oos_share);
            let (outcomes, times) =
                classify_embedded(matcher, cases, embeddings.as_deref(), &|_| {});
            let st = matcher.stats();
            let r = summarize(&outcomes, &times, matcher.intents(), st, st.train_ms);
            SweepRow {
                target: (target as f64 * 100.0).round() / 100.0,
                threshold: (st.threshold as f64 * 1e4).round() / 1e4,
                in_scope_accuracy: r.in_scope_accuracy,
                oos_recall: r.oos_recall,
                answer_precision: r.answer_precision,
                escalation_rate: r.escalation_rate,
                weighted_answer_precision: r.weighted_answer_precision,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_run_from_070_to_098_in_steps_of_002() {
        let t = targets();
        assert_eq!(t.len(), 15);
        assert!((t[0] - 0.70).abs() < 1e-6);
        assert!((t[14] - 0.98).abs() < 1e-6);
    }
}
