//! [`TrainedMatcher`]: the [`Matcher`] trained from an [`IntentSet`].
//!
//! Decision for one message:
//! 1. a regex pattern that matches is a sure hit (score 1.0);
//! 2. otherwise the linear model gives each intent a probability (out-of-scope negatives train an
//!    extra "reject" class that soaks up probability);
//! 3. the top intent is answered when its probability clears the calibrated threshold (or its own
//!    `threshold`, in calibrated space) — unless the runner-up is within `ambiguity_margin` and
//!    clears the threshold too, in which case the customer is asked which one they meant. Two
//!    intents that clear the threshold only together (the runner-up at least half as likely as
//!    the leader) also lead to "did you mean A or B?";
//! 4. anything else is Unknown.
//!
//! # Layout
//! - this file: training ([`TrainedMatcher::train_with`]) and what it keeps;
//! - `rows.rs`: the set as n-gram rows (examples, negatives, stand-ins, descriptions) and the
//!   runs of rewrites among them;
//! - `dense.rs`: sentence-embedding or word-vector features appended to the rows;
//! - `patterns.rs`: regex patterns, sure hits;
//! - `decide.rs`: the run-time decision.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::calibrate::{calibrate_or_identity, Calibration, Held};
use super::check::IntentSet;
use super::features::{FeatureConfig, Kind, Vocabulary};
use super::holdout::{held_out_scores, worker_threads};
use super::model::{LinearModel, TrainParams};
use super::nb_fold;
use super::rewrites::Runs;
use super::semantic::{embedder_for, Mode, SemanticError, TextEmbedder};
use super::settings::MatcherSettings;
use super::train_rows::TrainRows;
use crate::core::matcher::{Candidate, Classification, IntentInfo, Matcher};
use decide::head;
use dense::{embedder_and_weight, Dense, EMBEDDING_MODE_STEP};
use patterns::Patterns;
use rows::{descriptions, feature_config, featurize};

mod decide;
mod dense;
mod patterns;
pub(crate) mod rows;
#[cfg(test)]
mod tests;

pub(crate) use patterns::{build_pattern, build_pattern_set};

/// Figures from training, for `eval` and logs.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainStats {
    /// What the classifier looked at (`[matcher] mode`).
    pub mode: Mode,
    pub intents: usize,
    pub examples: usize,
    pub negatives: usize,
    /// Built-in stand-ins for unseen questions used as negatives (0 when the set has enough
    /// out-of-scope examples of its own).
    pub stand_ins: usize,
    /// Runs of rewritten examples calibration held out whole (0 unless the set is written in
    /// runs, see [`super::rewrites`]).
    pub rewrite_runs: usize,
    pub features: usize,
    pub weight_bytes: usize,
    pub train_ms: f64,
    /// Raw probability threshold chosen by calibration.
    pub raw_threshold: f32,
    /// The same threshold as a calibrated confidence.
    pub threshold: f32,
    /// Held-out precision of answers at that threshold (out-of-scope reweighted).
    pub expected_precision: f32,
    /// Held-out share of messages answered at that threshold.
    pub expected_answer_rate: f32,
    /// The answer precision calibration aimed for (sanitized setting).
    pub target_precision: f32,
    /// The out-of-scope share of traffic calibration assumed (sanitized setting).
    pub expected_oos_share: f32,
}

pub struct TrainedMatcher {
    infos: Vec<IntentInfo>,
    by_id: HashMap<String, usize>,
    /// Per-intent threshold override, calibrated space.
    overrides: Vec<Option<f32>>,
    vocab: Vocabulary,
    model: LinearModel,
    calibration: Calibration,
    /// Held-out scores calibration chose from, kept so `eval --sweep` can re-aim it.
    held: Vec<Held>,
    min_threshold: f32,
    patterns: Patterns,
    cfg: FeatureConfig,
    margin: f32,
    max_candidates: usize,
    max_chars: usize,
    stats: TrainStats,
    /// Embedding features: the sentence model's (semantic and ensemble modes) or the word
    /// vectors' (lexical mode).
    dense: Option<Dense>,
}

impl std::fmt::Debug for TrainedMatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainedMatcher")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl TrainedMatcher {
    /// Trains the matcher `[matcher] mode` asks for, loading the embedding model if needed
    /// (once per process). Fails, rather than falling back to another mode, when the model
    /// cannot be loaded or this build lacks the `semantic` feature.
    pub fn build(
        set: &IntentSet,
        settings: &MatcherSettings,
    ) -> Result<TrainedMatcher, SemanticError> {
        let embedder = embedder_for(settings)?;
        Self::train_with(set, settings, embedder)
    }

    /// Trains a lexical matcher (whatever `mode` says) and calibrates its threshold on
    /// held-out folds of the examples.
    pub fn train(set: &IntentSet, settings: &MatcherSettings) -> TrainedMatcher {
        let lexical = MatcherSettings {
            mode: Mode::Lexical,
            ..settings.clone()
        };
        Self::train_with(set, &lexical, None).expect("lexical training needs no model")
    }

    /// Trains with `embedder` supplying sentence embeddings in semantic and ensemble modes.
    pub fn train_with(
        set: &IntentSet,
        settings: &MatcherSettings,
        embedder: Option<Arc<dyn TextEmbedder>>,
    ) -> Result<TrainedMatcher, SemanticError> {
        let started = Instant::now();
        let s = settings.sanitized();
        let cfg = feature_config(&s);
        let n_intents = set.intents.len();
        let descriptions = descriptions(set, &s);
        let embedder = embedder_and_weight(embedder, &s, set, &descriptions);
        let rows::Rows {
            xs,
            ys,
            texts,
            stand_in_xs,
            stand_in_texts,
            stand_ins,
            fixed,
            runs,
            vocab,
        } = featurize(set, &descriptions, &s);
        let featurized_ms = started.elapsed().as_secs_f64() * 1000.0;
        // Embeddings go after the lexical features (or replace them in semantic mode). The
        // stand-ins are embedded in the same pass and split off after.
        let (dense, xs, stand_in_xs) = match embedder {
            Some((embedder, weight)) => {
                let all: Vec<&str> = texts
                    .iter()
                    .chain(&stand_in_texts)
                    .map(|t| head(t, s.max_message_chars))
                    .collect();
                let n = xs.len();
                let mut rows = xs;
                rows.extend(stand_in_xs);
                let (dense, mut xs) =
                    Dense::embed_rows(embedder, weight, &s, vocab.len(), &all, rows)?;
                let stand_in_xs = xs.split_off(n);
                (Some(dense), xs, stand_in_xs)
            }
            None => (None, TrainRows::sparse(xs), TrainRows::sparse(stand_in_xs)),
        };
        let features = vocab.len() + dense.as_ref().map_or(0, Dense::dim);
        let embedded_ms = started.elapsed().as_secs_f64() * 1000.0;
        let has_reject = ys.iter().any(|&y| y as usize == n_intents);
        let classes = n_intents + usize::from(has_reject);
        let params = TrainParams {
            epochs: s.epochs,
            max_steps: s.max_steps,
            class_balance: s.class_balance,
            average: s.average_weights,
            learning_rate: if s.mode.uses_embeddings() {
                s.learning_rate * EMBEDDING_MODE_STEP
            } else {
                s.learning_rate
            },
            l2: s.l2,
            seed: s.seed,
            // With embeddings the fold gains nothing the embedding does not already give.
            nb_fold: if s.mode.uses_embeddings() {
                0.0
            } else {
                s.naive_bayes_weight
            },
        };
        // The naive-Bayes fold moves single words and stems only.
        let foldable: Vec<bool> = (0..vocab.len())
            .map(|i| matches!(vocab.kind(i), Kind::Word | Kind::Stem))
            .collect();

        let all: Vec<usize> = (0..xs.len()).collect();
        let train_final = || nb_fold::train(&xs, &ys, &all, features, classes, params, &foldable);
        // With embeddings, training is long and the model already large: use every core. The
        // lexical matcher trains in a second or two and is kept small, one model at a time.
        let threads = if s.mode.uses_embeddings() {
            worker_threads()
        } else {
            1
        };
        let held_out = |groups: &[u32]| {
            held_out_scores(
                &xs,
                &ys,
                groups,
                &stand_in_xs,
                n_intents,
                classes,
                features,
                fixed,
                &s,
                params,
                &foldable,
                threads,
            )
        };
        // The final model does not depend on calibration: with a second core it trains beside
        // the calibration models.
        let (mut held, model) = if threads > 1 {
            std::thread::scope(|sc| {
                let final_model = sc.spawn(train_final);
                let held = held_out(&runs.groups);
                let model = final_model
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (held, model)
            })
        } else {
            (held_out(&runs.groups), train_final())
        };
        let mut calibration = calibrate_or_identity(&held, &s);
        let mut rewrite_runs = runs.runs;
        // Scored run by run, a set whose every run is a topic of its own (nothing else in the
        // intent says what the run says) reaches the target at no threshold and would answer
        // nothing, not even its own examples word for word: then each example is scored alone.
        if rewrite_runs > 0 && !calibration.reaches_target() {
            held = held_out(&Runs::none(xs.len()).groups);
            calibration = calibrate_or_identity(&held, &s);
            rewrite_runs = 0;
        }
        let calibrated_ms = started.elapsed().as_secs_f64() * 1000.0;

        let infos: Vec<IntentInfo> = set
            .intents
            .iter()
            .map(|d| IntentInfo {
                id: d.id.clone(),
                description: d
                    .description
                    .clone()
                    .unwrap_or_else(|| d.id.replace('_', " ")),
                answers: d.answers.iter().map(|a| a.value.clone()).collect(),
                quick_replies: d.quick_replies.iter().map(|a| a.value.clone()).collect(),
                escalate: d.escalate,
                category: d.category.clone(),
            })
            .collect();
        let by_id = infos
            .iter()
            .enumerate()
            .map(|(i, info)| (info.id.clone(), i))
            .collect();
        tracing::debug!(
            featurized_ms,
            embedded_ms,
            calibrated_ms,
            total_ms = started.elapsed().as_secs_f64() * 1000.0,
            "matcher trained"
        );
        let stats = TrainStats {
            mode: if dense.is_some() && s.mode.uses_embeddings() {
                s.mode
            } else {
                Mode::Lexical
            },
            intents: n_intents,
            examples: xs.len() - fixed,
            negatives: set.out_of_scope.len(),
            stand_ins,
            rewrite_runs,
            features,
            weight_bytes: model.weight_bytes(),
            train_ms: started.elapsed().as_secs_f64() * 1000.0,
            raw_threshold: calibration.raw_threshold,
            threshold: calibration.threshold,
            expected_precision: calibration.expected_precision,
            expected_answer_rate: calibration.expected_answer_rate,
            target_precision: s.target_precision,
            expected_oos_share: s.expected_oos_share,
        };
        Ok(TrainedMatcher {
            held,
            min_threshold: s.min_threshold,
            overrides: set
                .intents
                .iter()
                .map(|d| d.threshold.as_ref().map(|t| t.value))
                .collect(),
            infos,
            by_id,
            vocab,
            model,
            calibration,
            patterns: Patterns::compile(set, s.regex_size_limit),
            cfg,
            margin: s.ambiguity_margin,
            max_candidates: s.max_candidates,
            max_chars: s.max_message_chars,
            stats,
            dense,
        })
    }

    pub fn stats(&self) -> &TrainStats {
        &self.stats
    }

    /// Calibrates again from the same held-out scores for another target precision (and
    /// out-of-scope share), without training again: what `eval --sweep` shows.
    pub fn recalibrate(&mut self, target_precision: f32, expected_oos_share: f32) {
        let s = MatcherSettings {
            target_precision,
            expected_oos_share,
            min_threshold: self.min_threshold,
            ..Default::default()
        }
        .sanitized();
        self.calibration = calibrate_or_identity(&self.held, &s);
        let st = &mut self.stats;
        st.raw_threshold = self.calibration.raw_threshold;
        st.threshold = self.calibration.threshold;
        st.expected_precision = self.calibration.expected_precision;
        st.expected_answer_rate = self.calibration.expected_answer_rate;
        st.target_precision = s.target_precision;
        st.expected_oos_share = s.expected_oos_share;
    }

    pub fn intents(&self) -> &[IntentInfo] {
        &self.infos
    }

    fn passes(&self, intent: usize, raw: f32) -> bool {
        match self.overrides[intent] {
            Some(t) => self.calibration.map(raw) >= t,
            None => raw >= self.calibration.raw_threshold,
        }
    }

    fn candidate(&self, intent: usize, raw: f32) -> Candidate {
        Candidate {
            intent: self.infos[intent].id.clone(),
            score: self.calibration.map(raw),
        }
    }
}

impl Matcher for TrainedMatcher {
    fn classify(&self, text: &str) -> Classification {
        self.classify_embedded(text, None)
    }

    fn intent(&self, id: &str) -> Option<&IntentInfo> {
        self.by_id.get(id).map(|&i| &self.infos[i])
    }
}
