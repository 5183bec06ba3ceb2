//! Features: hashed word unigrams, word bigrams and character n-grams, weighted by sublinear
//! tf × idf and L2-normalised. A [`Vocabulary`] keeps the most frequent features seen in
//! training; features it does not know still count in the norm, so text made mostly of unseen
//! pieces gets low scores everywhere (it looks out of scope, which it usually is).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Which n-grams to extract.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureConfig {
    /// Weight of word and word-pair features relative to character n-grams, which are far
    /// more numerous and would otherwise drown them.
    pub word_weight: f32,
    pub char_min: usize,
    pub char_max: usize,
    pub word_bigrams: bool,
}

const SEED_WORD: u64 = 0x9E37_79B9_7F4A_7C15;
const SEED_BIGRAM: u64 = 0xC2B2_AE3D_27D4_EB4F;
const SEED_CHAR: u64 = 0x1656_67B1_9E37_79F9;
/// Marks word and word-pair features (set) apart from character n-grams (clear).
const WORD_BIT: u64 = 1 << 63;

#[inline]
fn hash_bytes(seed: u64, bytes: &[u8]) -> u64 {
    // FNV-1a with a per-kind seed, finished with a mixer so low bits are usable.
    let mut h = 0xcbf2_9ce4_8422_2325 ^ seed;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// Appends the feature hashes of normalised text `norm` to `out` (repeats kept: they are tf).
/// `bounds` is scratch space for character boundaries.
pub fn extract(norm: &str, cfg: FeatureConfig, bounds: &mut Vec<usize>, out: &mut Vec<u64>) {
    if norm.is_empty() {
        return;
    }
    let mut prev: Option<&str> = None;
    for word in norm.split(' ') {
        out.push(hash_bytes(SEED_WORD, word.as_bytes()) | WORD_BIT);
        if cfg.word_bigrams {
            if let Some(p) = prev {
                let h = hash_bytes(SEED_BIGRAM, p.as_bytes());
                out.push(hash_bytes(h, word.as_bytes()) | WORD_BIT);
            }
        }
        prev = Some(word);
    }
    // Character n-grams over " text " so word starts and ends are marked.
    bounds.clear();
    bounds.push(0); // the leading virtual space
    let padded_len = norm.len() + 2;
    for (i, _) in norm.char_indices() {
        bounds.push(i + 1);
    }
    bounds.push(norm.len() + 1);
    bounds.push(padded_len);
    let chars = bounds.len() - 1;
    for n in cfg.char_min..=cfg.char_max {
        if n > chars {
            break;
        }
        for start in 0..=(chars - n) {
            let (a, b) = (bounds[start], bounds[start + n]);
            out.push(hash_padded(SEED_CHAR ^ n as u64, norm, a, b) & !WORD_BIT);
        }
    }
}

/// Hash of `" " + norm + " "` sliced to `a..b`, without building the padded string.
#[inline]
fn hash_padded(seed: u64, norm: &str, a: usize, b: usize) -> u64 {
    let bytes = norm.as_bytes();
    let mut h = 0xcbf2_9ce4_8422_2325 ^ seed;
    for i in a..b {
        let byte = if i == 0 || i == bytes.len() + 1 {
            b' '
        } else {
            bytes[i - 1]
        };
        h ^= byte as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// Keys are already well-mixed hashes: hash them by identity.
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);
impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}
pub type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// A sparse, L2-normalised feature vector: (feature index, weight), indices ascending.
pub type SparseVec = Vec<(u32, f32)>;

/// The features kept from training, with their idf.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    index: IdMap<u32>,
    idf: Vec<f32>,
    /// idf given to features the vocabulary does not know (as if seen in no example).
    unseen_idf: f32,
}

impl Vocabulary {
    /// Builds the vocabulary from each document's feature hashes (with repeats).
    pub fn build<'a>(
        docs: impl IntoIterator<Item = &'a Vec<u64>>,
        min_df: u32,
        max_features: usize,
    ) -> Vocabulary {
        let mut df: IdMap<u32> = IdMap::default();
        let mut seen: Vec<u64> = Vec::new();
        let mut n_docs = 0usize;
        for doc in docs {
            n_docs += 1;
            seen.clear();
            seen.extend_from_slice(doc);
            seen.sort_unstable();
            seen.dedup();
            for &h in &seen {
                *df.entry(h).or_insert(0) += 1;
            }
        }
        let mut kept: Vec<(u64, u32)> = df.into_iter().filter(|&(_, d)| d >= min_df).collect();
        // Most frequent first; ties broken by hash so the result is deterministic.
        kept.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        kept.truncate(max_features);
        let n = n_docs as f32;
        let mut index = IdMap::default();
        index.reserve(kept.len());
        let mut idf = Vec::with_capacity(kept.len());
        for (i, (h, d)) in kept.into_iter().enumerate() {
            index.insert(h, i as u32);
            idf.push(((1.0 + n) / (1.0 + d as f32)).ln() + 1.0);
        }
        Vocabulary {
            index,
            idf,
            unseen_idf: (1.0 + n).ln() + 1.0,
        }
    }

    pub fn len(&self) -> usize {
        self.idf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.idf.is_empty()
    }

    /// Turns feature hashes into a normalised sparse vector in `out`. Sorts `hashes` in place.
    pub fn vectorize(&self, hashes: &mut [u64], word_weight: f32, out: &mut SparseVec) {
        out.clear();
        hashes.sort_unstable();
        let mut norm2 = 0.0f32;
        let mut i = 0;
        while i < hashes.len() {
            let h = hashes[i];
            let mut j = i + 1;
            while j < hashes.len() && hashes[j] == h {
                j += 1;
            }
            let mut tf = 1.0 + ((j - i) as f32).ln();
            if h & WORD_BIT != 0 {
                tf *= word_weight;
            }
            match self.index.get(&h) {
                Some(&idx) => {
                    let w = tf * self.idf[idx as usize];
                    norm2 += w * w;
                    out.push((idx, w));
                }
                None => {
                    let w = tf * self.unseen_idf;
                    norm2 += w * w;
                }
            }
            i = j;
        }
        if norm2 > 0.0 {
            let inv = 1.0 / norm2.sqrt();
            for (_, w) in out.iter_mut() {
                *w *= inv;
            }
        }
        out.sort_unstable_by_key(|&(idx, _)| idx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CFG: FeatureConfig = FeatureConfig {
        word_weight: 1.0,
        char_min: 3,
        char_max: 5,
        word_bigrams: true,
    };

    fn hashes(text: &str) -> Vec<u64> {
        let mut out = Vec::new();
        extract(text, CFG, &mut Vec::new(), &mut out);
        out
    }

    #[test]
    fn extracts_words_bigrams_and_char_grams() {
        // "ab cd": 2 words, 1 bigram; padded " ab cd " has 7 chars: 5 + 4 + 3 char grams.
        assert_eq!(hashes("ab cd").len(), 2 + 1 + 5 + 4 + 3);
        assert!(hashes("").is_empty());
        // Multi-byte characters are counted as characters, not bytes.
        assert_eq!(hashes("é").len(), 1 + 1); // " é " has 3 chars: one 3-gram
    }

    #[test]
    fn vectors_are_normalised_and_unseen_features_dilute_them() {
        let docs = vec![hashes("where is my order"), hashes("track my parcel")];
        let vocab = Vocabulary::build(&docs, 1, 1000);
        let mut v = Vec::new();
        vocab.vectorize(&mut hashes("where is my order"), 1.0, &mut v);
        let n: f32 = v.iter().map(|(_, w)| w * w).sum();
        assert!((n - 1.0).abs() < 1e-4);
        vocab.vectorize(&mut hashes("where is my zebra xylophone"), 1.0, &mut v);
        let n: f32 = v.iter().map(|(_, w)| w * w).sum();
        assert!(n < 0.8, "unseen features should take weight: {n}");
    }
}
