//! Held-out scores for calibration: models trained on all folds but one score the fold left out.
//!
//! Folds are stratified by class, so every intent (and the reject class) is held out in equal
//! parts, and keep each run of rewrites ([`super::rewrites`]) whole. A small set is split several times over with different shuffles and all the held-out
//! scores pooled: one split of a few hundred examples gives a threshold that moves a lot with
//! each example added.

use super::calibrate::Held;
use super::model::{Rng, TrainParams};
use super::nb_fold;
use super::settings::MatcherSettings;
use super::train_rows::TrainRows;

/// Calibration splits a set into folds again (up to [`MAX_REPEATS`] times) until it has about
/// this many held-out scores to choose the threshold from.
const CALIBRATION_POINTS: usize = 3_000;
const MAX_REPEATS: usize = 5;
/// Fewest calibration folds for a set under [`CALIBRATION_POINTS`] examples: with 3 folds an
/// intent with a dozen examples is scored by models that saw only 8 of them, which makes
/// held-out scores of a small set too pessimistic; more folds cost little at that size. Ten
/// folds for sets of 10-20 examples per intent answered no more on average over five seeds
/// (README, "Calibration folds"), for twice the training.
const SMALL_SET_FOLDS: usize = 5;

/// Index and probability of the best in-scope class.
pub fn top_in_scope(probs: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::NEG_INFINITY);
    for (i, &p) in probs.iter().enumerate() {
        if p > best.1 {
            best = (i, p);
        }
    }
    best
}

/// Stratified fold of each row (`folds[r] < k`) that keeps each group in one fold: rows `r`
/// with the same `groups[r]` (all of one class; the group named by its first row,
/// `groups[g] == g`) are dealt as one.
pub fn grouped_folds(
    ys: &[u32],
    groups: &[u32],
    classes: usize,
    k: usize,
    rng: &mut Rng,
) -> Vec<usize> {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes.max(1)];
    for (r, &y) in ys.iter().enumerate() {
        if groups[r] as usize == r {
            by_class[(y as usize).min(classes.max(1) - 1)].push(r);
        }
    }
    let mut fold = vec![0usize; ys.len()];
    // Carry the position over from class to class so small classes do not all start at fold 0.
    let mut next = 0usize;
    for heads in &mut by_class {
        rng.shuffle(heads);
        for &g in heads.iter() {
            fold[g] = next % k;
            next += 1;
        }
    }
    for (r, &g) in groups.iter().enumerate() {
        fold[r] = fold[g as usize];
    }
    fold
}

/// Scores rows (rows labelled `n_intents` are out of scope) with models that did not see them,
/// about [`CALIBRATION_POINTS`] of them (every row of a small set, more than once), and every
/// `unseen` vector (out of scope, never trained on) with each of those models. Rows with the
/// same `groups` value (one per row held out, see [`super::rewrites`]) are held out together.
/// The last `fixed` rows are never held out nor scored: every model trains on them. The models
/// train on up to `threads` threads.
/// Returns nothing for a set too small to split.
#[allow(clippy::too_many_arguments)]
pub fn held_out_scores(
    xs: &TrainRows,
    ys: &[u32],
    groups: &[u32],
    unseen: &TrainRows,
    n_intents: usize,
    classes: usize,
    features: usize,
    fixed: usize,
    s: &MatcherSettings,
    params: TrainParams,
    foldable: &[bool],
    threads: usize,
) -> Vec<Held> {
    let scored = xs.len() - fixed.min(xs.len());
    let k = if scored < CALIBRATION_POINTS {
        s.calibration_folds.max(SMALL_SET_FOLDS)
    } else {
        s.calibration_folds
    };
    if scored < 2 * k || n_intents == 0 {
        return Vec::new();
    }
    let repeats = CALIBRATION_POINTS
        .div_ceil(scored.max(1))
        .clamp(1, MAX_REPEATS);
    let mut rng = Rng::new(s.seed ^ 0xF01D);
    let splits: Vec<Vec<usize>> = (0..repeats)
        .map(|_| grouped_folds(&ys[..scored], &groups[..scored], classes, k, &mut rng))
        .collect();
    // A model for each (split, fold), in order, until about CALIBRATION_POINTS rows were held
    // out: a large set needs only some of its folds (all of CLINC150, 15,000 examples in three
    // folds: one), which is most of what calibration costs in training time. Each model is
    // trained on its own, side by side on the cores; the scores are then pooled in the same
    // order whatever the thread count.
    let mut held_rows = 0;
    let jobs: Vec<(usize, usize)> = (0..repeats)
        .flat_map(|r| (0..k).map(move |f| (r, f)))
        .take_while(|&(r, f)| {
            let enough = held_rows >= CALIBRATION_POINTS;
            held_rows += splits[r].iter().filter(|&&fold| fold == f).count();
            !enough
        })
        .collect();
    let score = |&(r, f): &(usize, usize)| {
        let fold = &splits[r];
        let mut probs = vec![0.0f32; classes];
        let mut held = Vec::new();
        let train_rows: Vec<usize> = (0..scored)
            .filter(|&r| fold[r] != f)
            .chain(scored..xs.len())
            .collect();
        let m = nb_fold::train(xs, ys, &train_rows, features, classes, params, foldable);
        for r in (0..scored).filter(|&r| fold[r] == f) {
            m.probabilities(xs.row(r), &mut probs);
            let (top, score) = top_in_scope(&probs[..n_intents]);
            let y = ys[r] as usize;
            let oos = y >= n_intents;
            held.push(Held {
                score,
                correct: !oos && top == y,
                oos,
            });
        }
        for u in 0..unseen.len() {
            m.probabilities(unseen.row(u), &mut probs);
            let (_, score) = top_in_scope(&probs[..n_intents]);
            held.push(Held {
                score,
                correct: false,
                oos: true,
            });
        }
        held
    };
    parallel_map(&jobs, threads, score).concat()
}

/// Threads for training: `RAYON_NUM_THREADS` if set (as for the embedding model), else the
/// cores this process may run on.
pub fn worker_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// `f` over `items` on up to `threads` threads; results in the order of `items`.
pub fn parallel_map<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let threads = threads.min(items.len());
    if threads <= 1 {
        return items.iter().map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                out.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(r);
            });
        }
    });
    out.into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .map(|r| r.expect("every item was mapped"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Held-out scores of `n` rows of two intents (one feature each), at the default settings.
    fn held_of(n: usize) -> Vec<Held> {
        let xs = TrainRows::sparse((0..n).map(|i| vec![((i % 2) as u32, 1.0)]).collect());
        let ys: Vec<u32> = (0..n).map(|i| (i % 2) as u32).collect();
        let unseen = TrainRows::sparse(vec![vec![(0, 0.1), (1, 0.1)]]);
        let s = MatcherSettings::default();
        let params = TrainParams {
            epochs: 2,
            max_steps: 100_000,
            class_balance: false,
            average: false,
            learning_rate: 1.0,
            l2: 0.0,
            seed: 5,
            nb_fold: 0.0,
        };
        // Two intents and the reject class, which has no rows here.
        let alone: Vec<u32> = (0..n as u32).collect();
        held_out_scores(
            &xs,
            &ys,
            &alone,
            &unseen,
            2,
            3,
            2,
            0,
            &s,
            params,
            &[false; 2],
            1,
        )
    }

    #[test]
    fn a_large_set_trains_only_the_folds_calibration_needs() {
        // Three folds of 2,500: two models give 5,000 held-out scores, the third is not trained.
        let held = held_of(7_500);
        assert_eq!(held.iter().filter(|h| !h.oos).count(), 5_000);
        // The stand-in is scored once by each model trained.
        assert_eq!(held.iter().filter(|h| h.oos).count(), 2);
        assert!(held.iter().filter(|h| !h.oos).all(|h| h.correct));
    }

    #[test]
    fn a_small_set_is_split_again_until_enough_is_held_out() {
        // 1,000 rows: five folds, three shuffles, every row scored three times.
        let held = held_of(1_000);
        assert_eq!(held.iter().filter(|h| !h.oos).count(), 3_000);
        // The stand-in is scored once by each of the 15 models.
        assert_eq!(held.iter().filter(|h| h.oos).count(), 15);
    }

    #[test]
    fn grouped_folds_deal_each_group_whole_and_stay_stratified() {
        // Two classes of 20 rows; class 0 in runs of four (named by their first row).
        let ys: Vec<u32> = (0..40).map(|r| u32::from(r >= 20)).collect();
        let groups: Vec<u32> = (0..40u32)
            .map(|r| if r < 20 { r - r % 4 } else { r })
            .collect();
        let fold = grouped_folds(&ys, &groups, 2, 5, &mut Rng::new(9));
        for r in 0..20 {
            assert_eq!(fold[r], fold[r - r % 4], "row {r} left its run");
        }
        for class in 0..2 {
            let mut per_fold = [0; 5];
            for r in (0..40).filter(|&r| ys[r] == class) {
                per_fold[fold[r]] += 1;
            }
            assert_eq!(per_fold, [4; 5], "class {class}: {per_fold:?}");
        }
    }

    #[test]
    fn parallel_map_keeps_the_order_of_its_items() {
        let items: Vec<usize> = (0..37).collect();
        let out = parallel_map(&items, 4, |&i| {
            // Uneven work, so threads finish out of order.
            std::thread::sleep(std::time::Duration::from_micros(((37 - i) * 50) as u64));
            i * 2
        });
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
    }
}
