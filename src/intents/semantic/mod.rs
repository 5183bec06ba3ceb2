//! Semantic matching: sentence embeddings as features for the matcher.
//!
//! `[matcher] mode` picks what the classifier sees: `lexical` (TF-IDF n-grams, the default),
//! `semantic` (a sentence embedding of the message) or `ensemble` (both, side by side in one
//! linear model). Whatever the mode, the same held-out calibration picks the answer threshold
//! (see [`super::calibrate`]), so `target_precision` means the same thing everywhere, and
//! regex patterns still short-circuit.
//!
//! # Layout
//! - this file: [`Mode`], [`TextEmbedder`] (what the matcher needs from a model), [`SemanticError`],
//!   and [`embedder_for`], which loads the configured model once per process.
//! - [`cache`]: example embeddings on disk, keyed by a hash of the model and of the text, so a
//!   restart or a hot reload only embeds examples that changed.
//! - `model` (feature `semantic`): a BERT sentence-transformers model run with candle, mean
//!   pooling then L2 normalisation; `bert`: its encoder, laid out for one message on one core;
//!   `tokenize`: the `tokenizers` crate with padding per batch.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

#[cfg(feature = "semantic")]
mod bert;
pub mod cache;
#[cfg(feature = "semantic")]
pub mod model;
#[cfg(feature = "semantic")]
pub mod tokenize;

pub use cache::CachedEmbedder;

/// What the matcher's classifier looks at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Word and character n-grams only: small, fast, no model files.
    #[default]
    Lexical,
    /// A sentence embedding of the message only.
    Semantic,
    /// Both, in one linear model.
    Ensemble,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Lexical => "lexical",
            Mode::Semantic => "semantic",
            Mode::Ensemble => "ensemble",
        }
    }
    pub fn uses_embeddings(self) -> bool {
        self != Mode::Lexical
    }
    pub fn uses_lexical(self) -> bool {
        self != Mode::Semantic
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why semantic matching could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum SemanticError {
    #[error(
        "[matcher] mode = \"{0}\" needs frontline built with the cargo feature `semantic` \
         (cargo build --release --features semantic)"
    )]
    FeatureMissing(Mode),
    #[error(
        "embedding model folder {dir}: the file {file} is missing \
         (scripts/fetch-model.py downloads all-MiniLM-L6-v2 into models/all-MiniLM-L6-v2)"
    )]
    MissingFile { dir: PathBuf, file: String },
    #[error("embedding model file {path} cannot be loaded (corrupt or not the expected format): {reason}")]
    CorruptFile { path: PathBuf, reason: String },
    #[error(
        "embedding model in {dir} asks for {pooling} pooling; frontline supports mean pooling \
         (with L2 normalisation) only"
    )]
    UnsupportedPooling { dir: PathBuf, pooling: String },
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("embedding model: {0}")]
    Inference(String),
    #[error("embedding cache {path}: {source}")]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Turns texts into unit-length vectors of a fixed size.
pub trait TextEmbedder: Send + Sync {
    fn dim(&self) -> usize;
    /// Embeds many texts (in batches, across cores), in order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SemanticError>;
    /// Embeds one customer message (no cache: messages rarely repeat, and a lookup would
    /// cost more than it saves).
    fn embed_one(&self, text: &str) -> Result<Vec<f32>, SemanticError> {
        Ok(self.embed(&[text])?.pop().unwrap_or_default())
    }
    /// Embeds many customer messages at once (`intents eval`): batches across cores like
    /// [`TextEmbedder::embed`], but never through a cache (test cases are not examples).
    fn embed_messages(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SemanticError> {
        self.embed(texts)
    }
    /// Identifies the model's weights and tokenizer, so cached embeddings of another model
    /// are never reused.
    fn fingerprint(&self) -> [u8; 32];
}

/// The embedder the settings ask for: `None` in lexical mode. Loaded once per model folder and
/// process (hot reloads reuse it); example embeddings go through the on-disk cache.
pub fn embedder_for(
    settings: &super::MatcherSettings,
) -> Result<Option<Arc<dyn TextEmbedder>>, SemanticError> {
    if !settings.mode.uses_embeddings() {
        return Ok(None);
    }
    #[cfg(feature = "semantic")]
    {
        use std::collections::HashMap;
        use std::sync::Mutex;
        type Loaded = HashMap<(PathBuf, PathBuf), Arc<dyn TextEmbedder>>;
        static LOADED: Mutex<Option<Loaded>> = Mutex::new(None);
        let key = (settings.model_dir.clone(), settings.cache_dir.clone());
        let mut guard = LOADED.lock().unwrap_or_else(|e| e.into_inner());
        let map = guard.get_or_insert_with(HashMap::new);
        if let Some(e) = map.get(&key) {
            return Ok(Some(e.clone()));
        }
        let model = Arc::new(model::SentenceModel::load(&settings.model_dir)?);
        let cached: Arc<dyn TextEmbedder> =
            Arc::new(CachedEmbedder::new(model, settings.cache_dir.clone()));
        map.insert(key, cached.clone());
        Ok(Some(cached))
    }
    #[cfg(not(feature = "semantic"))]
    {
        Err(SemanticError::FeatureMissing(settings.mode))
    }
}
