//! Intents: the file format admins edit, validation (`frontline intents check`), the trained
//! matcher behind [`crate::core::matcher::Matcher`], evaluation, import and hot reload.
//!
//! # Layout
//! - [`file`]: the TOML format, parsed with the line of every item.
//! - [`check`]: validation of a folder into an [`IntentSet`]; [`load_dir`].
//! - [`normalize`], [`features`]: text → sparse TF-IDF vectors (word, bigram, char n-grams);
//!   [`word_vectors`]: the built-in word vectors whose average is appended to them.
//! - [`train_rows`]: training rows, sparse n-grams beside a dense embedding.
//! - [`model`]: multinomial logistic regression trained by SGD; [`nb_fold`]: naive-Bayes
//!   log-count ratios folded into its word and stem weights.
//! - [`holdout`]: held-out scores from stratified folds; [`rewrites`]: runs of rewritten
//!   examples, held out whole; [`standin`]: built-in unseen questions for sets with few
//!   out-of-scope examples.
//! - [`calibrate`]: answer threshold from held-out scores for a target precision.
//! - [`matcher`]: [`TrainedMatcher`], the decision answer / clarify / unknown.
//! - [`eval`], [`report`]: scoring a labelled CSV of cases; SVG histogram and tables.
//! - [`sweep`]: `eval --sweep`, the precision trade-off from one training; [`crossval`]: `eval --cv K`.
//! - [`import`]: CSV and Rasa NLU to intent files.
//! - [`watch`]: hot reload into a [`crate::core::matcher::MatcherHandle`].
//! - [`cli`]: `frontline intents check | import | eval`.
//! - [`semantic`]: `[matcher] mode`, sentence embeddings (feature `semantic`) and their cache.
//! - [`settings`]: `[matcher]` config; [`error`]: typed errors.

pub mod calibrate;
pub mod check;
pub mod cli;
pub mod crossval;
pub mod error;
pub mod eval;
pub mod features;
pub mod file;
pub mod holdout;
pub mod import;
pub mod matcher;
pub mod model;
pub mod nb_fold;
pub mod normalize;
pub mod report;
pub mod rewrites;
pub mod semantic;
pub mod settings;
pub mod standin;
pub mod sweep;
pub mod train_rows;
pub mod watch;
pub mod word_vectors;

pub use check::{check_dir, load_dir, load_dir_with, CheckReport, IntentSet, Negative};
pub use cli::{execute, CommandContext, ImportFormat, IntentsCommand};
pub use error::{IntentsError, LoadError, Problem, Severity};
pub use matcher::{TrainStats, TrainedMatcher};
pub use settings::MatcherSettings;
pub use watch::{reload_once, spawn_reloader, ReloadOutcome};
