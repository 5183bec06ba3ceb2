//! Features: hashed words, their Snowball stems, word pairs and character n-grams, weighted by
//! sublinear tf × idf and L2-normalised. A [`Vocabulary`] keeps the most frequent features seen in
//! training; features it does not know still count in the norm, so text made mostly of unseen
//! pieces gets low scores everywhere (it looks out of scope, which it usually is).

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use rust_stemmers::{Algorithm, Stemmer};

/// Which n-grams to extract.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureConfig {
    /// Weight of word and word-pair features relative to character n-grams, which are far
    /// more numerous and would otherwise drown them.
    pub word_weight: f32,
    pub char_min: usize,
    pub char_max: usize,
    pub word_bigrams: bool,
    /// Add each word's Snowball (English) stem as a feature of its own.
    pub word_stems: bool,
}

const SEED_WORD: u64 = 0x9E37_79B9_7F4A_7C15;
const SEED_BIGRAM: u64 = 0xC2B2_AE3D_27D4_EB4F;
const SEED_CHAR: u64 = 0x1656_67B1_9E37_79F9;
const SEED_STEM: u64 = 0x27D4_EB2F_1656_67C5;
/// Marks word, stem and word-pair features (set) apart from character n-grams (clear):
/// `word_weight` applies to them.
const WORD_BIT: u64 = 1 << 63;
/// With [`WORD_BIT`]: a word pair. Its own namespace, so a pair never collides with a word.
const PAIR_BIT: u64 = 1 << 62;
/// With [`WORD_BIT`]: a stem. Its own namespace, so the stem "order" is not the word "order".
const STEM_BIT: u64 = 1 << 61;
const KIND_BITS: u64 = WORD_BIT | PAIR_BIT | STEM_BIT;

/// What a feature hash stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Word,
    Stem,
    Pair,
    Char,
}

/// The kind of feature `h` is (from its namespace bits).
pub fn kind(h: u64) -> Kind {
    match h & KIND_BITS {
        WORD_BIT => Kind::Word,
        x if x == WORD_BIT | STEM_BIT => Kind::Stem,
        x if x & WORD_BIT != 0 => Kind::Pair,
        _ => Kind::Char,
    }
}

/// Stems cached per thread (stemming is on the classify path): at most this many words, then
/// words not cached are stemmed each time.
const STEM_CACHE_CAP: usize = 65_536;

struct StemCache {
    stemmer: Stemmer,
    /// Word → its stem feature's hash.
    hashes: HashMap<String, u64, BuildHasherDefault<FnvHasher>>,
}

/// FNV-1a for the stem cache's short keys (SipHash took a visible share of classification).
#[derive(Default)]
struct FnvHasher(u64);
impl Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

thread_local! {
    static STEMS: RefCell<StemCache> = RefCell::new(StemCache {
        stemmer: Stemmer::create(Algorithm::English),
        hashes: HashMap::default(),
    });
}

/// The stem feature of `word`: added for every word, also when the stem is the word itself
/// (on CLINC150 and BANKING77 that did better than stems only where they differ: top1 +0.3 to
/// +1.0 points at 10, 20 and all examples per intent).
fn stem_hash(word: &str) -> u64 {
    STEMS.with(|cell| {
        let mut cache = cell.borrow_mut();
        if let Some(&h) = cache.hashes.get(word) {
            return h;
        }
        let stem = cache.stemmer.stem(word);
        let h = (hash_bytes(SEED_STEM, stem.as_bytes()) & !KIND_BITS) | WORD_BIT | STEM_BIT;
        if cache.hashes.len() < STEM_CACHE_CAP {
            cache.hashes.insert(word.to_owned(), h);
        }
        h
    })
}

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
        out.push((hash_bytes(SEED_WORD, word.as_bytes()) & !KIND_BITS) | WORD_BIT);
        if cfg.word_stems {
            out.push(stem_hash(word));
        }
        if cfg.word_bigrams {
            if let Some(p) = prev {
                let h = hash_bytes(SEED_BIGRAM, p.as_bytes());
                out.push((hash_bytes(h, word.as_bytes()) & !KIND_BITS) | WORD_BIT | PAIR_BIT);
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
            out.push(hash_padded(SEED_CHAR ^ n as u64, norm, a, b) & !KIND_BITS);
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
    /// What each kept feature is.
    kinds: Vec<Kind>,
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
        let mut kinds = Vec::with_capacity(kept.len());
        for (i, (h, d)) in kept.into_iter().enumerate() {
            index.insert(h, i as u32);
            idf.push(((1.0 + n) / (1.0 + d as f32)).ln() + 1.0);
            kinds.push(kind(h));
        }
        Vocabulary {
            index,
            idf,
            kinds,
            unseen_idf: (1.0 + n).ln() + 1.0,
        }
    }

    pub fn len(&self) -> usize {
        self.idf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.idf.is_empty()
    }

    /// What kept feature `idx` is.
    pub fn kind(&self, idx: usize) -> Kind {
        self.kinds[idx]
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
        word_stems: false,
    };
    const STEMS: FeatureConfig = FeatureConfig {
        word_stems: true,
        ..CFG
    };

    fn of_kind(text: &str, cfg: FeatureConfig, k: Kind) -> Vec<u64> {
        let mut out = Vec::new();
        extract(text, cfg, &mut Vec::new(), &mut out);
        out.retain(|&h| kind(h) == k);
        out
    }

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
    fn stems_are_features_of_their_own_kind() {
        // One stem per word, and only when asked for.
        assert!(of_kind("refunded orders", CFG, Kind::Stem).is_empty());
        let stems = of_kind("refunded orders", STEMS, Kind::Stem);
        assert_eq!(stems.len(), 2);
        // Inflections share their stem; the words stay apart.
        assert_eq!(stems, of_kind("refund order", STEMS, Kind::Stem));
        assert_eq!(
            of_kind("refunding", STEMS, Kind::Stem),
            of_kind("refunds", STEMS, Kind::Stem)
        );
        assert_ne!(
            of_kind("refunded", STEMS, Kind::Word),
            of_kind("refund", STEMS, Kind::Word)
        );
        // "refund" is its own stem: the stem feature is still not the word feature.
        let word = of_kind("refund", STEMS, Kind::Word);
        let stem = of_kind("refund", STEMS, Kind::Stem);
        assert_eq!((word.len(), stem.len()), (1, 1));
        assert_ne!(word, stem);
        // Stems leave words, pairs and character n-grams as they were.
        for k in [Kind::Word, Kind::Pair, Kind::Char] {
            assert_eq!(
                of_kind("cancel my orders", CFG, k),
                of_kind("cancel my orders", STEMS, k)
            );
        }
    }

    #[test]
    fn each_kind_has_its_namespace() {
        let all = hashes("order order");
        let words = of_kind("order order", CFG, Kind::Word);
        let pairs = of_kind("order order", CFG, Kind::Pair);
        assert_eq!((words.len(), pairs.len()), (2, 1));
        // The pair "order order" is not a word, and no n-gram is either.
        assert!(!words.contains(&pairs[0]));
        assert_eq!(
            all.iter().filter(|&&h| kind(h) == Kind::Char).count(),
            all.len() - 3
        );
        // The same text as a word and as a stem: different features.
        let stem = of_kind("order", STEMS, Kind::Stem);
        assert!(!words.contains(&stem[0]));
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
