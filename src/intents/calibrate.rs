//! Confidence calibration from held-out predictions.
//!
//! Each held-out example gives the model's top probability and whether answering with the top
//! intent would have been right. Out-of-scope examples are reweighted so they make up the
//! expected share of traffic (they are rare in intent files but common in real chats). From that
//! we pick the lowest threshold whose answers reach the target precision, and fit an isotonic
//! (monotone) map from raw probability to "chance an answer at this score is right".

use super::settings::MatcherSettings;

/// One held-out prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Held {
    /// Top in-scope probability.
    pub score: f32,
    /// Would answering with the top intent have been right?
    pub correct: bool,
    /// Whether the example was out of scope.
    pub oos: bool,
}

/// The outcome of calibration.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    /// Answer when the top raw probability is at least this.
    pub raw_threshold: f32,
    /// The same threshold in calibrated space.
    pub threshold: f32,
    /// Isotonic knots (raw, calibrated), raw ascending.
    knots: Vec<(f32, f32)>,
    /// Weighted held-out precision and recall of answers at the chosen threshold.
    pub expected_precision: f32,
    pub expected_answer_rate: f32,
}

impl Calibration {
    /// A calibration that trusts raw probabilities as they are (used when nothing is held out).
    pub fn identity(raw_threshold: f32) -> Self {
        Calibration {
            raw_threshold,
            threshold: raw_threshold,
            knots: vec![(0.0, 0.0), (1.0, 1.0)],
            expected_precision: f32::NAN,
            expected_answer_rate: f32::NAN,
        }
    }

    /// Whether some threshold reached the target precision on the held-out scores (else only
    /// the most confident are answered).
    pub fn reaches_target(&self) -> bool {
        self.expected_answer_rate > 0.0
    }

    /// Calibrated confidence for a raw probability (piecewise linear through the knots).
    pub fn map(&self, raw: f32) -> f32 {
        let k = &self.knots;
        if k.is_empty() {
            return raw;
        }
        if raw <= k[0].0 {
            return k[0].1;
        }
        let i = k.partition_point(|&(x, _)| x <= raw);
        if i >= k.len() {
            return k[k.len() - 1].1;
        }
        let (x0, y0) = k[i - 1];
        let (x1, y1) = k[i];
        if x1 <= x0 {
            return y1;
        }
        y0 + (y1 - y0) * (raw - x0) / (x1 - x0)
    }
}

/// Calibrates with the `[matcher]` settings; trusts raw probabilities when nothing was held out.
pub fn calibrate_or_identity(held: &[Held], s: &MatcherSettings) -> Calibration {
    if held.is_empty() {
        Calibration::identity(s.min_threshold.max(0.5))
    } else {
        calibrate(
            held,
            s.target_precision,
            s.expected_oos_share,
            s.min_threshold,
        )
    }
}

/// Calibrates from held-out predictions.
///
/// `oos_share` is the expected share of out-of-scope traffic; `min_threshold` a floor for the
/// calibrated threshold.
pub fn calibrate(
    held: &[Held],
    target_precision: f32,
    oos_share: f32,
    min_threshold: f32,
) -> Calibration {
    if held.is_empty() {
        return Calibration::identity(min_threshold.max(0.5));
    }
    let n_oos = held.iter().filter(|h| h.oos).count();
    let n_in = held.len() - n_oos;
    // Told there is no out-of-scope traffic, out-of-scope examples weigh nothing (they still
    // train the reject class); otherwise they make up `oos_share` of the weight.
    let oos_weight = if n_oos > 0 && n_in > 0 {
        (oos_share / (1.0 - oos_share)) * n_in as f32 / n_oos as f32
    } else {
        1.0
    };
    let mut sorted: Vec<(f32, f32, f32)> = held
        .iter()
        .map(|h| {
            (
                h.score,
                if h.correct { 1.0 } else { 0.0 },
                if h.oos { oos_weight } else { 1.0 },
            )
        })
        .collect();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    let total: f32 = sorted.iter().map(|s| s.2).sum();

    // Sweep from the most confident down; the threshold is the lowest score at which the
    // answers above it still reach the target precision.
    let (mut right, mut answered) = (0.0f32, 0.0f32);
    let mut best: Option<(f32, f32, f32)> = None;
    let mut i = 0;
    while i < sorted.len() {
        let s = sorted[i].0;
        let before = answered;
        while i < sorted.len() && sorted[i].0 == s {
            right += sorted[i].1 * sorted[i].2;
            answered += sorted[i].2;
            i += 1;
        }
        let precision = right / answered;
        // Scores that carry no weight (out of scope, told there is none) cannot move the
        // threshold: it stays at the lowest score that counts.
        if answered > before && precision >= target_precision {
            best = Some((s, precision, answered / total));
        }
    }
    let knots = isotonic(&sorted);
    let mut cal = Calibration {
        raw_threshold: 1.0,
        threshold: 1.0,
        knots,
        expected_precision: f32::NAN,
        expected_answer_rate: 0.0,
    };
    let (raw, precision, rate) = match best {
        Some(b) => b,
        // Target unreachable: answer only the most confident.
        None => (sorted[0].0, right / answered.max(1e-9), 0.0),
    };
    cal.raw_threshold = raw;
    cal.expected_precision = precision;
    cal.expected_answer_rate = rate;
    let floor = min_threshold;
    cal.threshold = cal.map(raw);
    if cal.threshold < floor {
        // Raise the raw threshold until the calibrated value clears the floor.
        let mut lo = raw;
        let mut hi = 1.0f32;
        for _ in 0..30 {
            let mid = 0.5 * (lo + hi);
            if cal.map(mid) >= floor {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        cal.raw_threshold = hi;
        cal.threshold = cal.map(hi);
    }
    cal
}

/// Weighted pool-adjacent-violators on (score desc, correct, weight); returns knots ascending.
fn isotonic(sorted_desc: &[(f32, f32, f32)]) -> Vec<(f32, f32)> {
    // Blocks: (sum of w*y, sum of w, mean score weighted).
    let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
    for &(s, y, w) in sorted_desc.iter().rev() {
        let (w, y, s) = (w as f64, y as f64, s as f64);
        blocks.push((w * y, w, w * s));
        while blocks.len() >= 2 {
            let n = blocks.len();
            let (a, b) = (blocks[n - 2], blocks[n - 1]);
            if a.0 / a.1 >= b.0 / b.1 {
                blocks.pop();
                blocks[n - 2] = (a.0 + b.0, a.1 + b.1, a.2 + b.2);
            } else {
                break;
            }
        }
    }
    let mut knots: Vec<(f32, f32)> = Vec::with_capacity(blocks.len() + 2);
    knots.push((0.0, 0.0));
    for (wy, w, ws) in blocks {
        let x = (ws / w) as f32;
        // Laplace smoothing: finite evidence never makes a score certain (only patterns are).
        let y = ((wy + 0.5) / (w + 1.0)) as f32;
        if x > knots.last().map_or(0.0, |k| k.0) {
            knots.push((x, y.max(knots.last().map_or(0.0, |k| k.1))));
        }
    }
    let last_y = knots.last().map_or(1.0, |k| k.1);
    knots.push((1.0, last_y.max(knots.last().map_or(0.0, |k| k.1))));
    knots
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intents::model::Rng;

    /// Synthetic predictions where the chance of being right equals the score.
    fn synthetic(n: usize, oos_every: usize) -> Vec<Held> {
        let mut rng = Rng::new(7);
        (0..n)
            .map(|i| {
                let score = (rng.next_u64() % 10_000) as f32 / 10_000.0;
                let oos = oos_every > 0 && i % oos_every == 0;
                let correct = !oos && ((rng.next_u64() % 10_000) as f32 / 10_000.0) < score;
                Held {
                    score,
                    correct,
                    oos,
                }
            })
            .collect()
    }

    fn precision_at(held: &[Held], raw: f32, oos_weight: f32) -> f32 {
        let (mut r, mut a) = (0.0, 0.0);
        for h in held.iter().filter(|h| h.score >= raw) {
            let w = if h.oos { oos_weight } else { 1.0 };
            a += w;
            if h.correct {
                r += w;
            }
        }
        r / a
    }

    #[test]
    fn threshold_reaches_the_target_precision_on_fresh_data() {
        let train = synthetic(20_000, 0);
        let cal = calibrate(&train, 0.9, 0.0, 0.0);
        // For "P(right) = score" the exact answer is 0.8 (mean of U(t,1) = 0.9).
        assert!((cal.raw_threshold - 0.8).abs() < 0.03, "{cal:?}");
        let fresh = synthetic(20_000, 0);
        let p = precision_at(&fresh, cal.raw_threshold, 1.0);
        assert!(p >= 0.88, "precision on fresh data {p}");
        // The calibrated map is monotone and roughly the identity here.
        assert!((cal.map(0.5) - 0.5).abs() < 0.06, "{}", cal.map(0.5));
        assert!(cal.map(0.9) >= cal.map(0.5));
    }

    #[test]
    fn a_larger_expected_oos_share_raises_the_threshold() {
        let held = synthetic(20_000, 20);
        let low = calibrate(&held, 0.9, 0.05, 0.0);
        let high = calibrate(&held, 0.9, 0.5, 0.0);
        assert!(
            high.raw_threshold > low.raw_threshold,
            "{} vs {}",
            high.raw_threshold,
            low.raw_threshold
        );
        // At a 50% out-of-scope share each held-out oos example weighs ~19x.
        let w = 0.5 / 0.5 * 19.0;
        assert!(precision_at(&held, high.raw_threshold, w) >= 0.9);
    }

    #[test]
    fn floor_and_unreachable_targets_are_respected() {
        let held = synthetic(5_000, 0);
        let cal = calibrate(&held, 0.2, 0.0, 0.6);
        assert!(cal.threshold >= 0.6 - 1e-3, "{cal:?}");
        let cal = calibrate(&held, 1.01, 0.0, 0.0);
        assert!(cal.raw_threshold > 0.99);
    }

    /// In-scope scores as in [`synthetic`], plus out-of-scope ones skewed low (score = u²).
    fn with_oos(n_in: usize, n_oos: usize, seed: u64) -> Vec<Held> {
        let mut rng = Rng::new(seed);
        let mut u = || (rng.next_u64() % 1_000_000) as f32 / 1_000_000.0;
        let mut held = Vec::with_capacity(n_in + n_oos);
        for _ in 0..n_in {
            let score = u();
            held.push(Held {
                score,
                correct: u() < score,
                oos: false,
            });
        }
        for _ in 0..n_oos {
            let v = u();
            held.push(Held {
                score: v * v,
                correct: false,
                oos: true,
            });
        }
        held
    }

    #[test]
    fn precision_on_a_fresh_split_lands_within_002_of_the_target() {
        for target in [0.8, 0.88, 0.95] {
            // No out-of-scope examples.
            let cal = calibrate(&synthetic(20_000, 0), target, 0.0, 0.0);
            let p = precision_at(&synthetic(20_000, 0), cal.raw_threshold, 1.0);
            assert!((p - target).abs() <= 0.02, "target {target}: {p} {cal:?}");
            if target > 0.9 {
                // With 10% out of scope the synthetic model reaches 0.95 only on its last few
                // dozen answers: too few to estimate precision within 0.02.
                continue;
            }
            // 10% of the held-out examples out of scope, told the true share (10%).
            let cal = calibrate(&with_oos(9_000, 1_000, 3), target, 0.1, 0.0);
            let p = precision_at(&with_oos(9_000, 1_000, 4), cal.raw_threshold, 1.0);
            assert!(
                (p - target).abs() <= 0.02,
                "target {target} with oos: {p} {cal:?}"
            );
            // Out-of-scope examples 10% of those held out stand for a 25% share of traffic.
            let cal = calibrate(&with_oos(9_000, 1_000, 5), target, 0.25, 0.0);
            let fresh = with_oos(7_500, 2_500, 6);
            let p = precision_at(&fresh, cal.raw_threshold, 1.0);
            assert!(
                (p - target).abs() <= 0.02,
                "target {target} reweighted: {p} {cal:?}"
            );
        }
    }

    #[test]
    fn told_there_is_no_out_of_scope_traffic_oos_examples_weigh_nothing() {
        let held = with_oos(10_000, 2_000, 8);
        let only_in: Vec<Held> = held.iter().copied().filter(|h| !h.oos).collect();
        let a = calibrate(&held, 0.9, 0.0, 0.0);
        let b = calibrate(&only_in, 0.9, 0.0, 0.0);
        assert_eq!(a.raw_threshold, b.raw_threshold);
        assert!(calibrate(&held, 0.9, 0.3, 0.0).raw_threshold > a.raw_threshold);
    }

    #[test]
    fn a_single_intent_that_is_always_right_is_answered_from_the_floor() {
        // One intent, no out-of-scope examples: every held-out answer was right.
        let held: Vec<Held> = (0..50)
            .map(|i| Held {
                score: 0.5 + i as f32 / 100.0,
                correct: true,
                oos: false,
            })
            .collect();
        let cal = calibrate(&held, 0.9, 0.25, 0.05);
        assert!(cal.raw_threshold <= 0.5, "{cal:?}");
        assert!(cal.threshold >= 0.05);
    }
}
