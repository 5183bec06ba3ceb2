//! Word vectors for lexical mode: what n-grams cannot see, that "relocated" is near "moved"
//! and "salary" near "wages" and "income".
//!
//! The table (assets/word-vectors.bin, built into the binary) was distilled from the sentence
//! model all-MiniLM-L6-v2 by scripts/distill-word-vectors.py: every WordPiece of its vocabulary
//! run through the model alone, projected on the vectors' first principal components and stored
//! as int8 rows with a scale each. A message's vector is the direction of the sum of its words'
//! pieces' rows, as long as the share of its words that have a vector: a few microseconds, with
//! no model to load and nothing to download. The matcher appends it to the n-gram features
//! (`[matcher] word_vector_weight`) in one linear model.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use sha2::{Digest, Sha256};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

use super::semantic::{SemanticError, TextEmbedder};

static FILE: &[u8] = include_bytes!("../../assets/word-vectors.bin");

/// BERT's tokenizer gives up on longer words (one unknown piece).
const MAX_WORD_CHARS: usize = 100;

/// A word with more pieces than this is not averaged in (see [`WordVectors::add_pieces`]).
const MAX_PIECES: usize = 2;

pub struct WordVectors {
    pieces: HashMap<&'static str, u32>,
    scales: Vec<f32>,
    rows: &'static [u8],
    dim: usize,
    fingerprint: [u8; 32],
}

impl WordVectors {
    /// The table built into the binary, parsed once per process.
    pub fn shipped() -> Arc<WordVectors> {
        static SHIPPED: OnceLock<Arc<WordVectors>> = OnceLock::new();
        SHIPPED
            .get_or_init(|| {
                // The file is part of the source tree; the unit tests parse it, so a broken one
                // never gets this far.
                Arc::new(Self::parse(FILE).expect("assets/word-vectors.bin is well formed"))
            })
            .clone()
    }

    fn parse(file: &'static [u8]) -> Result<WordVectors, String> {
        let mut at = 0usize;
        let mut take = |n: usize| -> Result<&'static [u8], String> {
            let bytes = file
                .get(at..at + n)
                .ok_or_else(|| format!("truncated at byte {at}"))?;
            at += n;
            Ok(bytes)
        };
        let u32_at = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if take(4)? != b"FLWV" {
            return Err("not a word-vector file".into());
        }
        let version = u32_at(take(4)?);
        if version != 1 {
            return Err(format!("version {version}, expected 1"));
        }
        let (count, dim) = (u32_at(take(4)?), u32_at(take(4)?));
        let mut pieces = HashMap::with_capacity(count);
        for i in 0..count {
            let len = take(1)?[0] as usize;
            let piece = std::str::from_utf8(take(len)?).map_err(|e| format!("piece {i}: {e}"))?;
            pieces.insert(piece, i as u32);
        }
        let scales = take(4 * count)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let rows = take(count * dim)?;
        if at != file.len() {
            return Err(format!("{} bytes after the table", file.len() - at));
        }
        Ok(WordVectors {
            pieces,
            scales,
            rows,
            dim,
            fingerprint: Sha256::digest(file).into(),
        })
    }

    /// The direction of the sum of the vectors of `text`'s words, at a length that is the
    /// share of its words that have one: a message of unknown words has no direction at all
    /// rather than a made-up one, and one of half-known words counts half.
    pub fn sentence(&self, text: &str) -> Vec<f32> {
        let mut sum = vec![0.0f32; self.dim];
        let (mut words, mut known) = (0usize, 0usize);
        let mut word = String::new();
        // BERT's uncased basic tokenizer: accents stripped, lower case, each punctuation mark a
        // piece of its own (averaged in, but not a word of the message).
        let chars = text.nfd().filter(|&c| !is_combining_mark(c));
        for c in chars.chain(std::iter::once(' ')) {
            if c.is_alphanumeric() {
                word.extend(c.to_lowercase());
                continue;
            }
            if !word.is_empty() {
                words += 1;
                known += usize::from(self.add_pieces(&word, &mut sum));
                word.clear();
            }
            if !c.is_whitespace() && !c.is_control() {
                self.add_pieces(c.encode_utf8(&mut [0u8; 4]), &mut sum);
            }
        }
        let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            let scale = known as f32 / words.max(1) as f32 / norm;
            sum.iter_mut().for_each(|v| *v *= scale);
        }
        sum
    }

    /// Greedy longest-match WordPiece, as BERT splits a word: "refund" is "ref" + "##und".
    /// A word that takes more than [`MAX_PIECES`] pieces adds nothing: "zxqv" spelled out
    /// letter by letter, or a typo cut into fragments, has no meaning to average, and a made-up
    /// direction would make nonsense look like an intent. So does a part no piece covers
    /// (BERT's unknown piece).
    fn add_pieces(&self, word: &str, sum: &mut [f32]) -> bool {
        if word.chars().count() > MAX_WORD_CHARS {
            return false;
        }
        let mut found = [0u32; MAX_PIECES];
        let (mut n, mut start) = (0usize, 0usize);
        let mut key = String::new();
        while start < word.len() {
            let mut end = word.len();
            let piece = loop {
                key.clear();
                if start > 0 {
                    key.push_str("##");
                }
                key.push_str(&word[start..end]);
                if let Some(&id) = self.pieces.get(key.as_str()) {
                    break Some(id);
                }
                match word[start..end].char_indices().last() {
                    Some((last, _)) if last > 0 => end = start + last,
                    _ => break None,
                }
            };
            match piece {
                Some(id) if n < found.len() => {
                    found[n] = id;
                    n += 1;
                    start = end;
                }
                _ => return false,
            }
        }
        for &id in &found[..n] {
            let id = id as usize;
            let scale = self.scales[id];
            let row = &self.rows[id * self.dim..(id + 1) * self.dim];
            for (s, &q) in sum.iter_mut().zip(row) {
                *s += scale * f32::from(q as i8);
            }
        }
        true
    }
}

impl std::fmt::Debug for WordVectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WordVectors")
            .field("pieces", &self.pieces.len())
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

impl TextEmbedder for WordVectors {
    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SemanticError> {
        Ok(texts.iter().map(|t| self.sentence(t)).collect())
    }

    fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn the_shipped_table_parses() {
        let wv = WordVectors::shipped();
        assert!(wv.dim >= 32, "dim {}", wv.dim);
        assert!(wv.pieces.len() > 20_000, "{} pieces", wv.pieces.len());
        assert!(wv.pieces.contains_key("card") && wv.pieces.contains_key("##ed"));
    }

    #[test]
    fn a_broken_table_is_refused_with_the_reason() {
        assert!(WordVectors::parse(b"XXXX")
            .unwrap_err()
            .contains("not a word-vector"));
        let truncated = &FILE[..FILE.len() - 1];
        assert!(WordVectors::parse(truncated)
            .unwrap_err()
            .contains("truncated"));
    }

    #[test]
    fn related_words_are_closer_than_unrelated_ones() {
        let wv = WordVectors::shipped();
        let v = |w: &str| wv.sentence(w);
        assert!((cosine(&v("moved"), &v("moved")) - 1.0).abs() < 1e-4);
        for (word, near, far) in [
            ("relocated", "moved", "weather"),
            ("salary", "wages", "password"),
            ("broken", "damaged", "holiday"),
        ] {
            let (n, f) = (cosine(&v(word), &v(near)), cosine(&v(word), &v(far)));
            assert!(
                n > 0.6 && n > f + 0.3,
                "{word}~{near} {n}, {word}~{far} {f}"
            );
        }
    }

    #[test]
    fn case_accents_and_word_pieces_follow_bert() {
        let wv = WordVectors::shipped();
        assert_eq!(wv.sentence("Café PLASTIC"), wv.sentence("cafe plastic"));
        // Punctuation is averaged in, but is no word: alone it gives nothing.
        assert_ne!(wv.sentence("plastic?"), wv.sentence("plastic"));
        assert!(wv.sentence("?!").iter().all(|&v| v == 0.0));
        // "refund" is "ref" + "##und" and still has a vector; "refunded" takes three pieces.
        assert!(!wv.pieces.contains_key("refund"));
        assert!(wv.sentence("refund").iter().any(|&v| v != 0.0));
        assert!(wv.sentence("refunded").iter().all(|&v| v == 0.0));
        // A known word among unknown ones counts for its share of the message.
        let one = wv.sentence("plastic");
        let third = wv.sentence("plastic zxqv blorp");
        for (a, b) in one.iter().zip(&third) {
            assert!((a / 3.0 - b).abs() < 1e-6);
        }
        // Nothing known: no direction at all rather than a made-up one.
        assert!(wv.sentence("  ").iter().all(|&v| v == 0.0));
        assert!(wv.sentence("zxqv blorp fnarg").iter().all(|&v| v == 0.0));
    }
}
