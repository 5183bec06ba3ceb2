//! Embedding features appended after the lexical ones (or in their place, in semantic mode), in
//! one linear model: calibration, patterns and the answer decision stay the same in every mode.

use std::sync::Arc;

use crate::intents::check::IntentSet;
use crate::intents::features::SparseVec;
use crate::intents::semantic::{SemanticError, TextEmbedder};
use crate::intents::settings::MatcherSettings;
use crate::intents::train_rows::TrainRows;
use crate::intents::word_vectors::{WeightedWordVectors, WordVectors, WordWeights};

/// In semantic and ensemble modes SGD's step is `learning_rate` times this (0.5 at the default
/// 3.0). The embedding's 384 dimensions are shared by every intent and need small, steady steps
/// to converge, where sparse n-grams take big ones. CLINC150 val with 10 examples per intent,
/// ensemble, against a step of 4.0: top-1 0.860 at full steps with `embedding_weight` 1, 0.834
/// with weight 2; with weight 2, 0.876 at a quarter of the step and 0.877 at an eighth (out of
/// scope not answered 0.76 -> 0.86).
pub(super) const EMBEDDING_MODE_STEP: f32 = 1.0 / 6.0;

/// Rows embedded per call while training: big enough for the sentence model's batches.
const EMBED_CHUNK: usize = 4096;

/// Word-vector numbers the training rows of a lexical matcher may carry in all: the rows take
/// as many of the vectors' leading components as fit (all 384 up to about 5,200 rows), but
/// never fewer than [`MIN_WORD_VECTOR_DIMS`]. The fewer examples an intent has, the more its
/// answers rest on the word vectors (with 10 per intent, 384 components against 128 answered
/// 1.3 and 1.8 points more right on CLINC150 and BANKING77 over five training seeds, answer
/// precision still on target), while with many, n-grams carry the decision (all of CLINC150:
/// top1 0.949 against 0.946) and every component costs memory and training time in proportion
/// to the rows: CLINC150's 15,000 stay at 128.
const WORD_VECTOR_BUDGET: usize = 2_000_000;
const MIN_WORD_VECTOR_DIMS: usize = 128;

/// Leading word-vector components for a set of `rows` training rows: see
/// [`WORD_VECTOR_BUDGET`]. A multiple of 16, for whole SIMD blocks.
fn word_vector_dims(rows: usize) -> usize {
    (WORD_VECTOR_BUDGET / rows.max(1) / 16 * 16).max(MIN_WORD_VECTOR_DIMS)
}

pub(super) struct Dense {
    pub(super) embedder: Arc<dyn TextEmbedder>,
    /// Index of the first embedding feature (the lexical vocabulary's size).
    offset: u32,
    /// Factor on the unit-length embedding (`embedding_weight`).
    weight: f32,
    /// Keep the lexical features too (ensemble) or only the embedding (semantic).
    lexical: bool,
}

/// What embeds the rows and with what weight: the sentence model in semantic and ensemble
/// modes; in lexical mode (unless its weight is 0) the built-in word vectors, each word
/// weighted by its inverse document frequency among `set`'s examples, out-of-scope examples
/// and `descriptions`, on as many leading components as the set's size allows.
pub(super) fn embedder_and_weight(
    embedder: Option<Arc<dyn TextEmbedder>>,
    s: &MatcherSettings,
    set: &IntentSet,
    descriptions: &[String],
) -> Option<(Arc<dyn TextEmbedder>, f32)> {
    match embedder {
        Some(embedder) if s.mode.uses_embeddings() => Some((embedder, s.embedding_weight)),
        _ if !s.mode.uses_embeddings() && s.word_vector_weight > 0.0 => {
            let texts = set
                .intents
                .iter()
                .flat_map(|i| i.examples.iter().map(|e| e.value.as_str()))
                .chain(set.out_of_scope.iter().map(|n| n.text.as_str()))
                .chain(
                    descriptions
                        .iter()
                        .map(String::as_str)
                        .filter(|d| !d.is_empty()),
                );
            let rows = texts.clone().count();
            let vectors = WeightedWordVectors::new(
                WordVectors::shipped(),
                WordWeights::idf(texts),
                word_vector_dims(rows),
            );
            Some((Arc::new(vectors), s.word_vector_weight))
        }
        _ => None,
    }
}

impl Dense {
    /// Embeds `texts` (one per row of `rows`, in order) into the rows' dense part; the
    /// embedding's features start at `offset`. In semantic mode the n-gram features are dropped.
    pub(super) fn embed_rows(
        embedder: Arc<dyn TextEmbedder>,
        weight: f32,
        s: &MatcherSettings,
        offset: usize,
        texts: &[&str],
        rows: Vec<SparseVec>,
    ) -> Result<(Dense, TrainRows), SemanticError> {
        let dense = Dense {
            offset: offset as u32,
            weight,
            lexical: s.mode.uses_lexical(),
            embedder,
        };
        let mut rows = TrainRows::with_dense(rows, dense.dim(), dense.offset);
        // In chunks, so the vectors waiting to be copied never cost as much memory as the
        // rows they go into.
        for (c, chunk) in texts.chunks(EMBED_CHUNK).enumerate() {
            for (i, v) in dense.embedder.embed(chunk)?.into_iter().enumerate() {
                let r = c * EMBED_CHUNK + i;
                if r >= rows.len() {
                    break;
                }
                if !dense.lexical {
                    *rows.sparse_mut(r) = Vec::new();
                }
                for (d, e) in rows.dense_mut(r).iter_mut().zip(&v) {
                    *d = e * dense.weight;
                }
            }
        }
        Ok((dense, rows))
    }

    pub(super) fn dim(&self) -> usize {
        self.embedder.dim()
    }

    /// A message's embedding `v` after its n-grams, as the features a training row's dense
    /// part stands for.
    pub(super) fn append(&self, x: &mut SparseVec, v: &[f32]) {
        if !self.lexical {
            x.clear();
        }
        x.extend(
            v.iter()
                .enumerate()
                .map(|(j, &e)| (self.offset + j as u32, e * self.weight)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_sets_get_every_component_and_large_ones_the_leading_128() {
        // 10 and 20 per intent of CLINC150 (1,530 and 3,240 rows with descriptions): all.
        assert!(word_vector_dims(1_530) >= 384);
        assert!(word_vector_dims(3_240) >= 384);
        // All of BANKING77 (8,667 rows): in between; all of CLINC150 (15,308): the floor.
        assert_eq!(word_vector_dims(8_667), 224);
        assert_eq!(word_vector_dims(15_308), 128);
        assert_eq!(word_vector_dims(1_000_000), 128);
        assert_eq!(word_vector_dims(0) % 16, 0);
    }
}
