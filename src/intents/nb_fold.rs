//! Naive-Bayes fold: after SGD, each class's weight for a single-word or stem feature gains
//! `weight × r`, where `r` is the feature's naive-Bayes log-count ratio for that class
//! (multinomial NB, one class against the rest):
//!
//! `r(f, c) = ln((n(f,c) + α) / (N_c + αV)) − ln((n(f,¬c) + α) / (N_¬c + αV))`
//!
//! with `n(f,c)` the number of class-`c` rows holding `f`, `N_c` their sum over the folded
//! features and `V` how many features are folded. Logistic regression on few examples leaves a
//! word seen in one intent's examples with a small weight; the log-count ratio says plainly that
//! the word belongs to that intent (NBSVM's lesson: generative counts help discriminative models
//! most where examples are few). Word pairs and character n-grams are left alone: they are many
//! and sparse, and their counts are noise.
//!
//! Measured on CLINC150 val and BANKING77 valid (10, 20, all examples per intent) with stems on:
//! weight 0.2 and α 0.03 lift top-1 0.3-1.2 points over stems alone. The multinomial-NB
//! log-probability centred across classes instead of one-against-the-rest did no better
//! (within ±0.4 points); counting tf-idf mass instead of rows, α 0.01 / 0.1 / 0.3, and also
//! folding word pairs were within ±0.5 points with no side winning on both sets.

use super::features::SparseVec;
use super::model::{LinearModel, TrainParams};
use super::train_rows::TrainRows;

/// Additive smoothing of the counts.
pub const ALPHA: f32 = 0.03;

/// Trains the model on `rows` and, when `p.nb_fold > 0`, folds in the naive-Bayes log-count
/// ratios of the features `foldable` marks (indexed by feature; features past its end are not
/// folded).
pub fn train(
    xs: &TrainRows,
    ys: &[u32],
    rows: &[usize],
    features: usize,
    classes: usize,
    p: TrainParams,
    foldable: &[bool],
) -> LinearModel {
    let mut model = LinearModel::train(xs, ys, rows, features, classes, p);
    if p.nb_fold > 0.0 {
        // Only n-grams are folded: the sparse parts hold them all.
        fold(
            &mut model,
            xs.sparse_parts(),
            ys,
            rows,
            foldable,
            p.nb_fold,
            ALPHA,
        );
    }
    model
}

/// Adds `weight × r(f, c)` to `model`'s weight of class `c` for every feature `f` that
/// `foldable` marks, with counts taken from `rows`.
pub fn fold(
    model: &mut LinearModel,
    xs: &[SparseVec],
    ys: &[u32],
    rows: &[usize],
    foldable: &[bool],
    weight: f32,
    alpha: f32,
) {
    let classes = model.classes();
    let features = foldable.len().min(model.features());
    // Dense index of each folded feature, so counts take V × classes, not features × classes.
    let mut slot = vec![u32::MAX; features];
    let mut folded: Vec<u32> = Vec::new();
    for (f, &on) in foldable[..features].iter().enumerate() {
        if on {
            slot[f] = folded.len() as u32;
            folded.push(f as u32);
        }
    }
    let v = folded.len();
    if v == 0 || classes < 2 || rows.is_empty() {
        return;
    }
    // Counts per feature over all classes, then one class at a time (rows sorted by class): a
    // V × classes table would be as big as the weights.
    let count_rows = |rows: &[usize], n: &mut [f32], touched: &mut Vec<u32>| {
        let mut sum = 0.0f32;
        for &r in rows {
            for &(f, x) in &xs[r] {
                let f = f as usize;
                if f < features && slot[f] != u32::MAX && x > 0.0 {
                    let k = slot[f] as usize;
                    if n[k] == 0.0 {
                        touched.push(k as u32);
                    }
                    n[k] += 1.0;
                    sum += 1.0;
                }
            }
        }
        sum
    };
    let mut n_all = vec![0.0f32; v];
    let mut touched = Vec::new();
    let all = count_rows(rows, &mut n_all, &mut touched);
    let mut by_class: Vec<usize> = rows.to_vec();
    by_class.sort_by_key(|&r| ys[r]);
    let mut n_c = vec![0.0f32; v];
    let av = alpha * v as f32;
    // Rows per class and each class's count total.
    let mut spans = Vec::with_capacity(classes);
    let mut total = vec![0.0f32; classes];
    let mut start = 0;
    for (c, t) in total.iter_mut().enumerate() {
        let mut end = start;
        while end < by_class.len() && ys[by_class[end]] as usize == c {
            end += 1;
        }
        spans.push(start..end);
        touched.clear();
        *t = count_rows(&by_class[start..end], &mut n_c, &mut touched);
        for &k in &touched {
            n_c[k as usize] = 0.0;
        }
        start = end;
    }
    // Where class `c` lacks feature `f`, r(f, c) = ln α − ln(N_c + αV) + ln(N_¬c + αV)
    // − ln(n(f) + α): a per-class constant minus a per-feature one. That goes in first, row by
    // row; the classes that hold the feature are corrected after.
    let absent: Vec<f32> = total
        .iter()
        .map(|&t| alpha.ln() - (t + av).ln() + (all - t + av).ln())
        .collect();
    let shared: Vec<f32> = n_all.iter().map(|&n| (n + alpha).ln()).collect();
    let mut r = vec![0.0f32; classes];
    for (k, &f) in folded.iter().enumerate() {
        for (rc, a) in r.iter_mut().zip(&absent) {
            *rc = weight * (a - shared[k]);
        }
        model.add_to_row(f as usize, &r);
    }
    for (c, span) in spans.into_iter().enumerate() {
        touched.clear();
        count_rows(&by_class[span], &mut n_c, &mut touched);
        for &k in &touched {
            let k = k as usize;
            let n = n_c[k];
            let own = ((n + alpha) / (total[c] + av)).ln();
            let rest = ((n_all[k] - n + alpha) / (all - total[c] + av)).ln();
            let r_absent = absent[c] - shared[k];
            model.add_weight(folded[k] as usize, c, weight * (own - rest - r_absent));
            n_c[k] = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intents::train_rows::Row;

    fn params(nb_fold: f32) -> TrainParams {
        TrainParams {
            epochs: 5,
            max_steps: 1_000,
            class_balance: false,
            average: false,
            learning_rate: 0.5,
            l2: 1e-6,
            seed: 1,
            nb_fold,
        }
    }

    fn weights(m: &LinearModel, f: usize) -> Vec<f32> {
        let mut out = vec![0.0; m.classes()];
        let mut zero = vec![0.0; m.classes()];
        m.probabilities(Row::sparse(&[]), &mut zero);
        m.probabilities(Row::sparse(&[(f as u32, 1.0)]), &mut out);
        out.iter()
            .zip(&zero)
            .map(|(a, b)| a.ln() - b.ln())
            .collect()
    }

    #[test]
    fn the_fold_moves_only_the_marked_features() {
        // Features 0 and 1 are words (folded), 2 is a character n-gram (not folded).
        let xs = TrainRows::sparse(vec![
            vec![(0, 0.7), (2, 0.7)],
            vec![(0, 1.0)],
            vec![(1, 0.7), (2, 0.7)],
            vec![(1, 1.0)],
        ]);
        let ys = [0, 0, 1, 1];
        let rows = [0, 1, 2, 3];
        let foldable = [true, true, false];
        let plain = LinearModel::train(&xs, &ys, &rows, 3, 2, params(0.0));
        let folded = train(&xs, &ys, &rows, 3, 2, params(0.5), &foldable);
        // Same SGD (same seed): the n-gram's weights are untouched, the words' moved towards
        // their class.
        assert_eq!(weights(&plain, 2), weights(&folded, 2));
        let (p0, f0) = (weights(&plain, 0), weights(&folded, 0));
        assert!(f0[0] - f0[1] > p0[0] - p0[1] + 0.5, "{p0:?} {f0:?}");
        let (p1, f1) = (weights(&plain, 1), weights(&folded, 1));
        assert!(f1[1] - f1[0] > p1[1] - p1[0] + 0.5, "{p1:?} {f1:?}");
        // Weight 0 is SGD alone.
        let off = train(&xs, &ys, &rows, 3, 2, params(0.0), &foldable);
        assert_eq!(weights(&plain, 0), weights(&off, 0));
    }

    #[test]
    fn the_fold_flips_a_decision_the_counts_settle() {
        // Class 0's rows all hold word 0; class 1's rows hold word 1 and, once, word 0 beside
        // a strong n-gram (feature 2) that SGD credits instead. A message of word 0 with a
        // trace of word 1 and of the n-gram: SGD alone leans on the n-gram, the counts say
        // word 0 is class 0's.
        let xs = TrainRows::sparse(vec![
            vec![(0, 0.3), (3, 0.95)],
            vec![(0, 0.3), (3, 0.95)],
            vec![(0, 0.3), (3, 0.95)],
            vec![(1, 0.3), (2, 0.95)],
            vec![(1, 0.3), (2, 0.95)],
            vec![(0, 0.3), (2, 0.95)],
        ]);
        let ys = [0, 0, 0, 1, 1, 1];
        let rows: Vec<usize> = (0..xs.len()).collect();
        let foldable = [true, true, false, false];
        let msg: SparseVec = vec![(0, 0.8), (2, 0.6)];
        let mut p = [0.0; 2];
        let plain = train(&xs, &ys, &rows, 4, 2, params(0.0), &foldable);
        plain.probabilities(Row::sparse(&msg), &mut p);
        assert!(p[1] > p[0], "SGD alone should follow the n-gram: {p:?}");
        let folded = train(&xs, &ys, &rows, 4, 2, params(1.0), &foldable);
        folded.probabilities(Row::sparse(&msg), &mut p);
        assert!(
            p[0] > p[1],
            "the fold should follow the word's counts: {p:?}"
        );
    }
}
