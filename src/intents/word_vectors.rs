//! Word vectors for lexical mode: what n-grams cannot see, that "relocated" is near "moved"
//! and "salary" near "wages" and "income".
//!
//! The table (assets/word-vectors.bin, built into the binary) was distilled from the sentence
//! model all-MiniLM-L6-v2 by scripts/distill-word-vectors.py: every WordPiece of its vocabulary
//! run through the model alone, turned onto the vectors' principal components (largest first)
//! and stored as int8 rows with a scale each. A matcher reads the first
//! [`WeightedWordVectors`] `dims` components of each row: all 384 for a small set, where the
//! vectors carry much of the decision, down to 128 for a large one (see `matcher/dense.rs`).
//! A message's vector is the direction of the sum of its words' pieces' rows, each word
//! weighted by [`WordWeights`] (its inverse document frequency in the training set), as long
//! as the share of its words that have a vector: a few microseconds, with no model to load and
//! nothing to download. The matcher appends it to the n-gram features
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
    /// The first `lead` components of every piece, then the other `dim - lead` of every piece:
    /// a set that uses only the leading ones never touches (nor keeps in memory) the rest.
    leading: &'static [u8],
    trailing: &'static [u8],
    lead: usize,
    dim: usize,
    /// SHA-256 of the file after its header, as the header states it (hashing the file at
    /// start-up would bring all of it into memory; a unit test checks the two agree).
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
        if version != 2 {
            return Err(format!("version {version}, expected 2"));
        }
        let (count, dim, lead) = (u32_at(take(4)?), u32_at(take(4)?), u32_at(take(4)?));
        if lead > dim {
            return Err(format!("{lead} leading components of {dim}"));
        }
        let fingerprint: [u8; 32] = take(32)?.try_into().expect("32 bytes");
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
        let leading = take(count * lead)?;
        let trailing = take(count * (dim - lead))?;
        if at != file.len() {
            return Err(format!("{} bytes after the table", file.len() - at));
        }
        Ok(WordVectors {
            pieces,
            scales,
            leading,
            trailing,
            lead,
            dim,
            fingerprint,
        })
    }

    /// The direction of the weighted sum of the vectors of `text`'s words, at a length that is
    /// the share of its words that have one: a message of unknown words has no direction at all
    /// rather than a made-up one, and one of half-known words counts half.
    pub fn sentence(&self, text: &str, weights: &WordWeights) -> Vec<f32> {
        self.sentence_leading(text, weights, self.dim)
    }

    /// [`WordVectors::sentence`] on the first `dims` components of the vectors.
    fn sentence_leading(&self, text: &str, weights: &WordWeights, dims: usize) -> Vec<f32> {
        let dims = dims.min(self.dim);
        let mut sum = vec![0.0f32; dims];
        let (mut words, mut known) = (0usize, 0usize);
        for_each_token(text, |token| match token {
            Token::Word(word) => {
                words += 1;
                known += usize::from(self.add_pieces(word, weights.of(word), &mut sum));
            }
            // Averaged in, but not a word of the message.
            Token::Punctuation(mark) => {
                self.add_pieces(mark, 1.0, &mut sum);
            }
        });
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
    fn add_pieces(&self, word: &str, weight: f32, sum: &mut [f32]) -> bool {
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
            let scale = self.scales[id] * weight;
            let (head, tail) = sum.split_at_mut(sum.len().min(self.lead));
            let rest = self.dim - self.lead;
            let rows = [
                (head, &self.leading[id * self.lead..]),
                (tail, &self.trailing[id * rest..]),
            ];
            for (part, row) in rows {
                for (s, &q) in part.iter_mut().zip(row) {
                    *s += scale * f32::from(q as i8);
                }
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

enum Token<'a> {
    Word(&'a str),
    Punctuation(&'a str),
}

/// BERT's uncased basic tokenizer: accents stripped, lower case, each punctuation mark a token
/// of its own.
fn for_each_token(text: &str, mut f: impl FnMut(Token<'_>)) {
    let mut word = String::new();
    let chars = text.nfd().filter(|&c| !is_combining_mark(c));
    for c in chars.chain(std::iter::once(' ')) {
        if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
            continue;
        }
        if !word.is_empty() {
            f(Token::Word(&word));
            word.clear();
        }
        if !c.is_whitespace() && !c.is_control() {
            f(Token::Punctuation(c.encode_utf8(&mut [0u8; 4])));
        }
    }
}

/// How much each word counts in a message's vector: its inverse document frequency in the
/// texts the matcher trained on. "my", "the" and "can" come in every intent and would
/// otherwise pull every message towards the same average; "card" and "refund" tell intents
/// apart. A word the set never used counts as much as its rarest one. With 10 examples per
/// intent this took top1 from 0.816 to 0.825 on CLINC150 and from 0.784 to 0.803 on
/// BANKING77 (README, "Word vectors").
pub struct WordWeights {
    idf: HashMap<Box<str>, f32>,
    unseen: f32,
}

impl WordWeights {
    /// Every word alike.
    pub fn uniform() -> WordWeights {
        WordWeights {
            idf: HashMap::new(),
            unseen: 1.0,
        }
    }

    /// Smoothed inverse document frequency over `texts`: ln((n + 1) / (df + 1)) + 1.
    pub fn idf<'a>(texts: impl IntoIterator<Item = &'a str>) -> WordWeights {
        let mut df: HashMap<Box<str>, u32> = HashMap::new();
        let mut seen: Vec<String> = Vec::new();
        let mut n = 0usize;
        for text in texts {
            n += 1;
            seen.clear();
            for_each_token(text, |token| {
                if let Token::Word(word) = token {
                    if !seen.iter().any(|w| w == word) {
                        seen.push(word.to_string());
                    }
                }
            });
            for word in &seen {
                match df.get_mut(word.as_str()) {
                    Some(count) => *count += 1,
                    None => {
                        df.insert(word.as_str().into(), 1);
                    }
                }
            }
        }
        let idf = |df: u32| ((n as f32 + 1.0) / (df as f32 + 1.0)).ln() + 1.0;
        WordWeights {
            unseen: idf(0),
            idf: df.into_iter().map(|(w, d)| (w, idf(d))).collect(),
        }
    }

    fn of(&self, word: &str) -> f32 {
        self.idf.get(word).copied().unwrap_or(self.unseen)
    }
}

/// The shipped word vectors with one set's [`WordWeights`], on their first `dims` components:
/// lexical mode's embedding.
pub struct WeightedWordVectors {
    vectors: Arc<WordVectors>,
    weights: WordWeights,
    dims: usize,
    fingerprint: [u8; 32],
}

impl WeightedWordVectors {
    /// `dims` is capped at the table's own dimension.
    pub fn new(
        vectors: Arc<WordVectors>,
        weights: WordWeights,
        dims: usize,
    ) -> WeightedWordVectors {
        let dims = dims.min(vectors.dim);
        let mut entries: Vec<(&str, f32)> = weights.idf.iter().map(|(w, &v)| (&**w, v)).collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut h = Sha256::new();
        h.update(vectors.fingerprint);
        h.update(weights.unseen.to_le_bytes());
        h.update((dims as u32).to_le_bytes());
        for (word, weight) in entries {
            h.update((word.len() as u32).to_le_bytes());
            h.update(word.as_bytes());
            h.update(weight.to_le_bytes());
        }
        WeightedWordVectors {
            vectors,
            weights,
            dims,
            fingerprint: h.finalize().into(),
        }
    }
}

impl TextEmbedder for WeightedWordVectors {
    fn dim(&self) -> usize {
        self.dims
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SemanticError> {
        Ok(texts
            .iter()
            .map(|t| self.vectors.sentence_leading(t, &self.weights, self.dims))
            .collect())
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
    fn the_stated_fingerprint_is_the_tables_own() {
        let wv = WordVectors::shipped();
        let body = &FILE[4 * 5 + 32..];
        assert_eq!(wv.fingerprint, <[u8; 32]>::from(Sha256::digest(body)));
        assert_eq!(wv.lead, 128);
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
        let v = |w: &str| wv.sentence(w, &WordWeights::uniform());
        let leading = WeightedWordVectors::new(wv.clone(), WordWeights::uniform(), 128);
        let lead = |w: &str| leading.embed(&[w]).unwrap().remove(0);
        assert!((cosine(&v("moved"), &v("moved")) - 1.0).abs() < 1e-4);
        for (word, near, far) in [
            ("relocated", "moved", "weather"),
            ("salary", "wages", "password"),
            ("broken", "damaged", "holiday"),
        ] {
            let (n, f) = (cosine(&v(word), &v(near)), cosine(&v(word), &v(far)));
            assert!(
                n > 0.5 && n > f + 0.3,
                "{word}~{near} {n}, {word}~{far} {f}"
            );
            // The leading components, what a large set uses, hold the pairs closer still.
            let (n, f) = (
                cosine(&lead(word), &lead(near)),
                cosine(&lead(word), &lead(far)),
            );
            assert!(
                n > 0.6 && n > f + 0.3,
                "128 components: {word}~{near} {n}, {word}~{far} {f}"
            );
        }
    }

    #[test]
    fn case_accents_and_word_pieces_follow_bert() {
        let wv = WordVectors::shipped();
        let uniform = WordWeights::uniform();
        let sentence = |text: &str| wv.sentence(text, &uniform);
        assert_eq!(sentence("Café PLASTIC"), sentence("cafe plastic"));
        // Punctuation is averaged in, but is no word: alone it gives nothing.
        assert_ne!(sentence("plastic?"), sentence("plastic"));
        assert!(sentence("?!").iter().all(|&v| v == 0.0));
        // "refund" is "ref" + "##und" and still has a vector; "refunded" takes three pieces.
        assert!(!wv.pieces.contains_key("refund"));
        assert!(sentence("refund").iter().any(|&v| v != 0.0));
        assert!(sentence("refunded").iter().all(|&v| v == 0.0));
        // A known word among unknown ones counts for its share of the message.
        let one = sentence("plastic");
        let third = sentence("plastic zxqv blorp");
        for (a, b) in one.iter().zip(&third) {
            assert!((a / 3.0 - b).abs() < 1e-6);
        }
        // Nothing known: no direction at all rather than a made-up one.
        assert!(sentence("  ").iter().all(|&v| v == 0.0));
        assert!(sentence("zxqv blorp fnarg").iter().all(|&v| v == 0.0));
    }

    #[test]
    fn rare_words_count_more_than_words_every_text_has() {
        let texts = ["my card is lost", "my refund is late", "my pin is blocked"];
        let w = WordWeights::idf(texts);
        assert!(w.of("my") < w.of("card"));
        assert_eq!(w.of("card"), w.of("refund"));
        assert!(w.of("card") < w.of("weather"), "unseen words weigh most");
        // Weighted, "my card" points nearer "card" than with every word alike.
        let wv = WordVectors::shipped();
        let card = wv.sentence("card", &w);
        let (weighted, uniform) = (
            wv.sentence("my card", &w),
            wv.sentence("my card", &WordWeights::uniform()),
        );
        assert!(cosine(&weighted, &card) > cosine(&uniform, &card) + 0.01);
        // The weights change the direction, not the length: one known word of two.
        let half = wv.sentence("card zxqv", &w);
        let len = half.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((len - 0.5).abs() < 1e-4, "{len}");
    }

    #[test]
    fn different_weights_or_dimensions_are_a_different_embedding() {
        let wv = WordVectors::shipped();
        let new = |texts: [&str; 2], dims| {
            WeightedWordVectors::new(wv.clone(), WordWeights::idf(texts), dims)
        };
        let a = new(["card", "pin"], 128);
        assert_ne!(
            a.fingerprint(),
            new(["card", "card pin"], 128).fingerprint()
        );
        assert_ne!(a.fingerprint(), new(["card", "pin"], 256).fingerprint());
        assert_eq!(a.fingerprint(), new(["card", "pin"], 128).fingerprint());
    }

    #[test]
    fn fewer_dimensions_are_the_leading_components_of_the_same_sum() {
        let wv = WordVectors::shipped();
        assert_eq!(wv.dim, 384, "the table keeps every component");
        let weights = WordWeights::idf(["my card never came", "card"]);
        let text = "my new card never arrived";
        let full = wv.sentence(text, &weights);
        let short = WeightedWordVectors::new(wv.clone(), weights, 128);
        assert_eq!(short.dim(), 128);
        let v = short.embed(&[text]).unwrap().remove(0);
        assert_eq!(v.len(), 128);
        // The direction of the full sum's first components; unit length, as every word of
        // the text has a vector.
        let norm = |x: &[f32]| x.iter().map(|a| a * a).sum::<f32>().sqrt();
        let head = &full[..128];
        let cos = cosine(&v, head) / (norm(&v) * norm(head));
        assert!(cos > 0.9999, "{cos}");
        assert!((norm(&v) - 1.0).abs() < 1e-4);
        // The leading components carry most of the vector, largest first.
        assert!(norm(head) > 0.75, "{}", norm(head));
        let energy = |r: std::ops::Range<usize>| full[r].iter().map(|a| a * a).sum::<f32>();
        assert!(energy(0..128) > energy(128..256) && energy(128..256) > energy(256..384));
    }
}
