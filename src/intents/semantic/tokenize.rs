//! WordPiece tokenisation with the model's own `tokenizer.json`, through the `tokenizers` crate.
//!
//! The shipped tokenizer.json of all-MiniLM-L6-v2 pads every input to 128 tokens, which makes a
//! short message cost as much as a long one (about 55 ms instead of 10 on one core): padding is
//! turned off here, and batches are padded to their own longest text by the model.

use std::path::Path;

use tokenizers::{Tokenizer, TruncationParams};

use super::SemanticError;

pub struct WordPieces {
    inner: Tokenizer,
}

impl WordPieces {
    /// Loads `tokenizer.json`; inputs longer than `max_len` tokens are cut.
    pub fn load(path: &Path, max_len: usize) -> Result<Self, SemanticError> {
        // `tokenizers` errors are boxed `dyn Error + Send + Sync`, not a type of their own.
        let mut inner = Tokenizer::from_file(path).map_err(|e| SemanticError::CorruptFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        inner.with_padding(None);
        inner
            .with_truncation(Some(TruncationParams {
                max_length: max_len,
                ..Default::default()
            }))
            .map_err(|e| SemanticError::Tokenizer(e.to_string()))?;
        Ok(WordPieces { inner })
    }

    /// Token ids of one text, with `[CLS]` and `[SEP]`.
    pub fn ids(&self, text: &str) -> Result<Vec<u32>, SemanticError> {
        let enc = self
            .inner
            .encode(text, true)
            .map_err(|e| SemanticError::Tokenizer(e.to_string()))?;
        Ok(enc.get_ids().to_vec())
    }
}
