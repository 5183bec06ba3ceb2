//! `[matcher]` settings: what an admin may tune about training and the answer decision.

use std::path::PathBuf;

use serde::Deserialize;

pub use super::semantic::Mode;

/// Matcher settings, embedded in the app config as `[matcher]`. Every key has a default that
/// suits a few dozen to a few hundred intents.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatcherSettings {
    /// What the classifier looks at: `lexical` n-grams (default), a `semantic` sentence
    /// embedding, or both (`ensemble`). The last two need the cargo feature `semantic`.
    pub mode: Mode,
    /// Folder of the sentence-transformers model (`config.json`, `tokenizer.json`,
    /// `model.safetensors`) used in semantic and ensemble modes.
    pub model_dir: PathBuf,
    /// Where example embeddings are cached by content hash, so a restart or a hot reload only
    /// embeds examples that changed.
    pub cache_dir: PathBuf,
    /// Scale of the (unit-length) embedding against the (unit-length) lexical vector.
    pub embedding_weight: f32,
    /// Share of answers that must be right. The answer threshold is calibrated on held-out folds
    /// of the examples to reach it.
    pub target_precision: f32,
    /// Share of real traffic expected to be out of scope. Calibration reweights the held-out
    /// out-of-scope examples to this share instead of trusting their share in the files.
    pub expected_oos_share: f32,
    /// When the two best intents are closer than this (in probability) and both plausible, ask
    /// "did you mean A or B?" instead of answering.
    pub ambiguity_margin: f32,
    /// Floor for the calibrated answer threshold, whatever calibration finds.
    pub min_threshold: f32,
    /// Number of held-out folds used to calibrate the threshold (2..=10).
    pub calibration_folds: usize,
    /// Keep at most this many features (the most frequent), bounding memory and latency.
    pub max_features: usize,
    /// Ignore features seen in fewer than this many examples.
    pub min_df: u32,
    /// Character n-gram lengths (inclusive range).
    pub char_ngram_min: usize,
    pub char_ngram_max: usize,
    /// Weight of word and word-pair features relative to character n-grams.
    pub word_weight: f32,
    /// Add word pairs as features.
    pub word_bigrams: bool,
    /// Add each word's Snowball (English) stem as a feature beside the word, so "refunded" and
    /// "refund" share one. Lexical mode only (semantic and ensemble modes ignore it).
    pub word_stems: bool,
    /// After training, add this times each single word's (and stem's) naive-Bayes log-count
    /// ratio to its weights (0: off). Lexical mode only.
    pub naive_bayes_weight: f32,
    /// Scale of the word-vector average (at most unit length) appended to the lexical features,
    /// so words the examples never used still count by their meaning (0: off). Lexical mode only.
    pub word_vector_weight: f32,
    /// Train on each intent's description (by default its id in words) as one more example.
    pub description_as_example: bool,
    /// Upper bound on training passes; training stops earlier once the loss stops improving.
    pub epochs: usize,
    /// Upper bound on SGD steps (examples × passes; at least 3 passes): small sets get many
    /// passes, large ones keep training fast.
    pub max_steps: usize,
    /// Weight examples by the inverse size of their intent.
    pub class_balance: bool,
    /// Average the weights over the training passes after the first.
    pub average_weights: bool,
    /// Initial SGD step size.
    pub learning_rate: f32,
    /// L2 regularisation strength.
    pub l2: f32,
    /// Seed for shuffling and fold assignment, so training is reproducible.
    pub seed: u64,
    /// How many candidates a classification carries (tickets show them).
    pub max_candidates: usize,
    /// Cap on the compiled size of each regex pattern, in bytes.
    pub regex_size_limit: usize,
    /// Intent files larger than this are rejected.
    pub max_file_bytes: u64,
    /// Only the first this-many characters of a message are classified.
    pub max_message_chars: usize,
}

impl Default for MatcherSettings {
    fn default() -> Self {
        Self {
            mode: Mode::Lexical,
            model_dir: PathBuf::from("models/all-MiniLM-L6-v2"),
            cache_dir: PathBuf::from("data/embeddings"),
            embedding_weight: 2.0,
            target_precision: 0.88,
            expected_oos_share: 0.25,
            ambiguity_margin: 0.05,
            min_threshold: 0.05,
            calibration_folds: 3,
            max_features: 30_000,
            min_df: 1,
            char_ngram_min: 3,
            char_ngram_max: 4,
            word_weight: 1.0,
            word_bigrams: true,
            word_stems: true,
            naive_bayes_weight: 0.2,
            word_vector_weight: 1.0,
            description_as_example: true,
            epochs: 5,
            max_steps: 1_000_000,
            class_balance: false,
            average_weights: false,
            learning_rate: 3.0,
            l2: 1e-6,
            seed: 42,
            max_candidates: 3,
            regex_size_limit: 1 << 20,
            max_file_bytes: 4 << 20,
            max_message_chars: 1000,
        }
    }
}

impl MatcherSettings {
    /// Settings clamped into sane ranges, so a typo in config cannot make training misbehave.
    pub fn sanitized(&self) -> Self {
        let mut s = self.clone();
        s.target_precision = clamp_or(s.target_precision, 0.0, 1.0, 0.88);
        s.expected_oos_share = clamp_or(s.expected_oos_share, 0.0, 0.95, 0.25);
        s.ambiguity_margin = clamp_or(s.ambiguity_margin, 0.0, 1.0, 0.05);
        s.min_threshold = clamp_or(s.min_threshold, 0.0, 1.0, 0.05);
        s.calibration_folds = s.calibration_folds.clamp(2, 10);
        s.max_features = s.max_features.clamp(16, 4_000_000);
        s.min_df = s.min_df.max(1);
        s.char_ngram_min = s.char_ngram_min.clamp(1, 8);
        s.char_ngram_max = s.char_ngram_max.clamp(s.char_ngram_min, 8);
        s.word_weight = clamp_or(s.word_weight, 0.0, 100.0, 1.0);
        s.naive_bayes_weight = clamp_or(s.naive_bayes_weight, 0.0, 10.0, 0.2);
        s.embedding_weight = clamp_or(s.embedding_weight, 0.01, 100.0, 2.0);
        s.word_vector_weight = clamp_or(s.word_vector_weight, 0.0, 100.0, 1.0);
        s.epochs = s.epochs.clamp(1, 200);
        s.max_steps = s.max_steps.max(1);
        s.learning_rate = clamp_or(s.learning_rate, 1e-4, 100.0, 3.0);
        s.l2 = clamp_or(s.l2, 0.0, 1.0, 1e-6);
        s.max_candidates = s.max_candidates.clamp(1, 20);
        s.regex_size_limit = s.regex_size_limit.max(1024);
        s.max_message_chars = s.max_message_chars.max(1);
        s
    }
}

fn clamp_or(v: f32, lo: f32, hi: f32, fallback: f32) -> f32 {
    if v.is_finite() {
        v.clamp(lo, hi)
    } else {
        fallback
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_partial_section_and_rejects_unknown_keys() {
        let s: MatcherSettings = toml::from_str("target_precision = 0.95").unwrap();
        assert_eq!(s.target_precision, 0.95);
        assert_eq!(s.epochs, MatcherSettings::default().epochs);
        assert!(toml::from_str::<MatcherSettings>("target_precison = 0.95").is_err());
        let s: MatcherSettings =
            toml::from_str("word_stems = false\nnaive_bayes_weight = 0.5").unwrap();
        assert!(!s.word_stems);
        assert_eq!(s.naive_bayes_weight, 0.5);
        assert!(MatcherSettings::default().word_stems);
    }

    #[test]
    fn sanitizing_clamps_nonsense() {
        let s = MatcherSettings {
            target_precision: f32::NAN,
            calibration_folds: 0,
            naive_bayes_weight: -1.0,
            ..Default::default()
        };
        let s = s.sanitized();
        assert_eq!(s.target_precision, 0.88);
        assert_eq!(s.calibration_folds, 2);
        assert_eq!(s.naive_bayes_weight, 0.0);
    }
}
