//! Runs of rewrites: examples written one after another as rewordings of one sentence.
//!
//! Calibration scores each example with models that did not see it, as if it were a new
//! message. That holds when examples are independent draws of what customers write. Some sets
//! are written in runs instead: someone rewrites one sentence five times, keeping its entities
//! ("delete fries from shopping list", "take off fries from the shopping list", ...). An
//! example held out of such a run still has its siblings in training, so it looks easy, while
//! customers' messages are not rewrites of those sentences; calibration then trusts the model
//! more than it should (CLINC150's first 10 examples per intent: top1 0.94 held out against
//! 0.82 on its validation split).
//!
//! Near-copies alone do not tell the two kinds of set apart: where customers do write
//! near-copies of the examples (BANKING77), scoring an example without its nearest sibling
//! makes the model look worse than it is. Where the near-copies sit does: in a list of
//! independent examples a near-copy is as likely anywhere in its intent's list, in a list
//! written in runs it is next to its sibling. So a set whose near-copies are neighbours far
//! more often than chance has its runs held out whole; any other set is left as it is.

use super::features::SparseVec;

/// Examples this similar (cosine of their n-gram vectors) are near-copies.
const NEAR_COPY: f32 = 0.4;
/// Near-copies at most this many rows apart are neighbours.
const NEIGHBOURS: usize = 2;
/// Only examples at most this many rows apart are compared, which bounds the work on a large
/// intent to a few dozen comparisons per example; whether near-copies are neighbours more often
/// than chance is judged among the pairs compared.
const WINDOW: usize = 50;
/// A set is written in runs when its near-copies are neighbours more often than a random order
/// would make them by at least this many standard deviations. (Sets in random order measured
/// -1.1 to 1.2; CLINC150's files, written in runs, 12 with 10 examples per intent.)
const RUN_SIGNIFICANCE: f32 = 4.0;

/// What [`find_runs`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Runs {
    /// Each row's run, named by its first row: rows with the same value are held out together
    /// (`groups[r] == r` for a row alone or first in its run).
    pub groups: Vec<u32>,
    /// Runs of two or more rows (0 when the set is not written in runs).
    pub runs: usize,
    /// How many standard deviations more near-copies are neighbours than in a random order.
    pub excess: f32,
}

impl Runs {
    /// Every one of `rows` alone.
    pub fn none(rows: usize) -> Runs {
        Runs {
            groups: (0..rows as u32).collect(),
            runs: 0,
            excess: 0.0,
        }
    }
}

/// Finds runs of rewrites among `xs`: rows of one class are contiguous and in file order, and
/// only features under `features` are compared (that part of each row has unit length).
pub fn find_runs(xs: &[SparseVec], ys: &[u32], features: u32) -> Runs {
    let mut neighbours: Vec<(u32, u32)> = Vec::new();
    let (mut expected, mut variance) = (0.0f32, 0.0f32);
    let mut dense = vec![0.0f32; features as usize];
    let lexical = |r: usize| xs[r].iter().filter(move |e| e.0 < features);
    let mut start = 0;
    while start < xs.len() {
        let end = start + ys[start..].iter().take_while(|&&y| y == ys[start]).count();
        let n = end - start;
        // Chance that two rows of this class compared are neighbours in a random order.
        let pairs_within = |d: usize| -> usize { (1..=d.min(n - 1)).map(|k| n - k).sum() };
        let chance = if n > 1 {
            pairs_within(NEIGHBOURS) as f32 / pairs_within(WINDOW) as f32
        } else {
            0.0
        };
        for a in start..end {
            for &(f, v) in lexical(a) {
                dense[f as usize] = v;
            }
            for b in a + 1..end.min(a + 1 + WINDOW) {
                let cosine: f32 = lexical(b).map(|&(f, v)| dense[f as usize] * v).sum();
                if cosine >= NEAR_COPY {
                    expected += chance;
                    variance += chance * (1.0 - chance);
                    if b - a <= NEIGHBOURS {
                        neighbours.push((a as u32, b as u32));
                    }
                }
            }
            for &(f, _) in lexical(a) {
                dense[f as usize] = 0.0;
            }
        }
        start = end;
    }
    let excess = (neighbours.len() as f32 - expected) / variance.sqrt().max(1.0);
    let mut found = Runs::none(xs.len());
    found.excess = excess;
    if excess < RUN_SIGNIFICANCE {
        return found;
    }
    let groups = &mut found.groups;
    for &(a, b) in &neighbours {
        let (ra, rb) = (root(groups, a), root(groups, b));
        groups[ra.max(rb) as usize] = ra.min(rb);
    }
    for r in 0..groups.len() as u32 {
        groups[r as usize] = root(groups, r);
    }
    let mut heads: Vec<u32> = (0..groups.len())
        .filter(|&r| groups[r] as usize != r)
        .map(|r| groups[r])
        .collect();
    heads.sort_unstable();
    heads.dedup();
    found.runs = heads.len();
    found
}

/// Union-find root, halving the path on the way.
fn root(parent: &mut [u32], mut i: u32) -> u32 {
    while parent[i as usize] != i {
        let up = parent[parent[i as usize] as usize];
        parent[i as usize] = up;
        i = up;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intents::model::Rng;

    /// One unit vector per text: its words, each of weight 1, over a shared word list.
    fn vectors(texts: &[&str]) -> (Vec<SparseVec>, u32) {
        let mut words: Vec<&str> = Vec::new();
        let xs = texts
            .iter()
            .map(|t| {
                let mut ids: Vec<u32> = t
                    .split(' ')
                    .map(|w| match words.iter().position(|&x| x == w) {
                        Some(i) => i as u32,
                        None => {
                            words.push(w);
                            words.len() as u32 - 1
                        }
                    })
                    .collect();
                ids.sort_unstable();
                ids.dedup();
                let v = 1.0 / (ids.len() as f32).sqrt();
                ids.into_iter().map(|i| (i, v)).collect()
            })
            .collect();
        (xs, words.len() as u32)
    }

    /// `intents` intents of `sentences` sentences each, every sentence rewritten `rewrites`
    /// times (three words of its own and a different first word: rewrites of one sentence have
    /// a cosine of 0.75, of two sentences at most 0.25), listed run by run.
    fn written_in_runs(intents: usize, sentences: usize, rewrites: usize) -> Vec<Vec<String>> {
        let verbs = ["please", "now", "kindly", "quickly", "today", "again"];
        (0..intents)
            .map(|i| {
                (0..sentences)
                    .flat_map(|s| {
                        (0..rewrites).map(move |r| {
                            format!("{} i{i}s{s}x i{i}s{s}y i{i}s{s}z", verbs[r % verbs.len()])
                        })
                    })
                    .collect()
            })
            .collect()
    }

    fn flatten(intents: &[Vec<String>]) -> (Vec<String>, Vec<u32>) {
        let texts = intents.iter().flatten().cloned().collect();
        let ys = intents
            .iter()
            .enumerate()
            .flat_map(|(i, ex)| std::iter::repeat_n(i as u32, ex.len()))
            .collect();
        (texts, ys)
    }

    fn runs_of(intents: &[Vec<String>]) -> Runs {
        let (texts, ys) = flatten(intents);
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let (xs, features) = vectors(&refs);
        find_runs(&xs, &ys, features)
    }

    #[test]
    fn a_set_written_in_runs_has_each_run_held_out_whole() {
        let found = runs_of(&written_in_runs(20, 2, 5));
        assert!(found.excess >= RUN_SIGNIFICANCE, "{found:?}");
        // Two runs of five per intent, each one group named by its first row.
        assert_eq!(found.runs, 40);
        for (r, &g) in found.groups.iter().enumerate() {
            assert_eq!(g as usize, r - r % 5, "row {r}");
        }
    }

    #[test]
    fn a_large_intent_is_compared_within_the_window() {
        // One intent of 100 sentences rewritten five times: runs found all along it.
        let found = runs_of(&written_in_runs(1, 100, 5));
        assert_eq!(found.runs, 100, "{}", found.excess);
        assert_eq!(found.groups[499], 495);
    }

    #[test]
    fn the_same_examples_in_random_order_are_left_alone() {
        let mut intents = written_in_runs(20, 2, 5);
        let mut rng = Rng::new(3);
        for examples in &mut intents {
            rng.shuffle(examples);
        }
        let found = runs_of(&intents);
        assert!(found.excess < RUN_SIGNIFICANCE, "{found:?}");
        assert_eq!(
            found,
            Runs {
                excess: found.excess,
                ..Runs::none(200)
            }
        );
    }

    #[test]
    fn varied_examples_have_no_runs() {
        // No two examples of an intent share a word: nothing is a near-copy.
        let texts: Vec<String> = (0..200).map(|i| format!("w{i}a w{i}b w{i}c")).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let ys: Vec<u32> = (0..200).map(|i| i / 10).collect();
        let (xs, features) = vectors(&refs);
        let found = find_runs(&xs, &ys, features);
        assert_eq!(found.runs, 0);
        assert_eq!(found.excess, 0.0);
    }

    #[test]
    fn features_at_or_above_the_bound_are_not_compared() {
        // Runs of five rows that share only a feature beyond the bound (an appended embedding,
        // say): runs when it is compared, nothing when it is not.
        let xs: Vec<SparseVec> = (0..100u32)
            .map(|i| vec![(i, 0.6), (500 + i / 5, 0.8)])
            .collect();
        let ys: Vec<u32> = (0..100).map(|i| i / 10).collect();
        assert_eq!(find_runs(&xs, &ys, 1_000).runs, 20);
        assert_eq!(find_runs(&xs, &ys, 100), Runs::none(100));
    }
}
