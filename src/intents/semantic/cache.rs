//! Example embeddings cached on disk by content hash.
//!
//! One file per model (named by the model's fingerprint) under `[matcher] cache_dir`, holding
//! records of `sha256(text)` followed by the vector as little-endian f32. New embeddings are
//! appended; a torn last record (a crash mid-write) is ignored. A reload of a 15k-example set
//! then embeds only the examples that changed.

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use super::{SemanticError, TextEmbedder};

/// A [`TextEmbedder`] that remembers what it embedded, in memory and on disk.
pub struct CachedEmbedder {
    inner: Arc<dyn TextEmbedder>,
    file: PathBuf,
    memory: Mutex<Option<HashMap<[u8; 32], Vec<f32>>>>,
    hits: AtomicUsize,
    misses: AtomicUsize,
}

impl CachedEmbedder {
    pub fn new(inner: Arc<dyn TextEmbedder>, cache_dir: PathBuf) -> Self {
        let name = hex::encode(&inner.fingerprint()[..12]);
        CachedEmbedder {
            file: cache_dir.join(format!("{name}.emb")),
            inner,
            memory: Mutex::new(None),
            hits: AtomicUsize::new(0),
            misses: AtomicUsize::new(0),
        }
    }

    /// The cache file of this model.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Texts served from the cache so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::Relaxed)
    }

    /// Texts the model had to embed so far.
    pub fn misses(&self) -> usize {
        self.misses.load(Ordering::Relaxed)
    }

    fn read_file(&self) -> HashMap<[u8; 32], Vec<f32>> {
        let dim = self.inner.dim();
        let record = 32 + 4 * dim;
        let mut map = HashMap::new();
        let Ok(bytes) = fs::read(&self.file) else {
            return map;
        };
        for rec in bytes.chunks_exact(record) {
            let mut key = [0u8; 32];
            key.copy_from_slice(&rec[..32]);
            let v = rec[32..]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            map.insert(key, v);
        }
        map
    }

    fn append(&self, new: &[([u8; 32], &[f32])]) -> Result<(), SemanticError> {
        let err = |source| SemanticError::Cache {
            path: self.file.clone(),
            source,
        };
        if let Some(dir) = self.file.parent() {
            fs::create_dir_all(dir).map_err(err)?;
        }
        let mut buf = Vec::with_capacity(new.len() * (32 + 4 * self.inner.dim()));
        for (key, v) in new {
            buf.extend_from_slice(key);
            for x in v.iter() {
                buf.extend_from_slice(&x.to_le_bytes());
            }
        }
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.file)
            .map_err(err)?;
        // Keep the file a whole number of records even if an earlier write was torn.
        let len = f.metadata().map_err(err)?.len();
        let record = (32 + 4 * self.inner.dim()) as u64;
        if len % record != 0 {
            drop(f);
            let f2 = OpenOptions::new()
                .write(true)
                .open(&self.file)
                .map_err(err)?;
            f2.set_len(len - len % record).map_err(err)?;
            f = OpenOptions::new()
                .append(true)
                .open(&self.file)
                .map_err(err)?;
        }
        f.write_all(&buf).map_err(err)
    }
}

fn key(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

impl TextEmbedder for CachedEmbedder {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn fingerprint(&self) -> [u8; 32] {
        self.inner.fingerprint()
    }

    fn embed_one(&self, text: &str) -> Result<Vec<f32>, SemanticError> {
        self.inner.embed_one(text)
    }

    fn embed_messages(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SemanticError> {
        self.inner.embed_messages(texts)
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SemanticError> {
        let mut guard = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        let memory = guard.get_or_insert_with(|| self.read_file());
        let keys: Vec<[u8; 32]> = texts.iter().map(|t| key(t)).collect();
        // Each distinct missing text once.
        let mut missing: Vec<usize> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, k) in keys.iter().enumerate() {
            if !memory.contains_key(k) && seen.insert(*k) {
                missing.push(i);
            }
        }
        if !missing.is_empty() {
            let batch: Vec<&str> = missing.iter().map(|&i| texts[i]).collect();
            let vectors = self.inner.embed(&batch)?;
            let new: Vec<([u8; 32], &[f32])> = missing
                .iter()
                .zip(&vectors)
                .map(|(&i, v)| (keys[i], v.as_slice()))
                .collect();
            if let Err(e) = self.append(&new) {
                // The cache only saves time: a read-only disk must not stop the bot.
                tracing::warn!("{e}; embeddings are not cached");
            }
            for (&i, v) in missing.iter().zip(vectors) {
                memory.insert(keys[i], v);
            }
        }
        self.misses.fetch_add(missing.len(), Ordering::Relaxed);
        self.hits
            .fetch_add(texts.len() - missing.len(), Ordering::Relaxed);
        Ok(keys.iter().map(|k| memory[k].clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake model that counts the texts it embeds.
    struct Counting(AtomicUsize);
    impl TextEmbedder for Counting {
        fn dim(&self) -> usize {
            3
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SemanticError> {
            self.0.fetch_add(texts.len(), Ordering::Relaxed);
            Ok(texts
                .iter()
                .map(|t| vec![t.len() as f32, 1.0, 0.5])
                .collect())
        }
        fn fingerprint(&self) -> [u8; 32] {
            [7; 32]
        }
    }

    #[test]
    fn a_second_process_reads_unchanged_texts_from_disk() {
        let dir = std::env::temp_dir().join(format!("frontline-emb-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let model = Arc::new(Counting(AtomicUsize::new(0)));
        let first = CachedEmbedder::new(model.clone(), dir.clone());
        let a = first.embed(&["where is my card", "hi", "hi"]).unwrap();
        assert_eq!(model.0.load(Ordering::Relaxed), 2);
        assert_eq!(first.misses(), 2);
        // A restart: a new cache over the same folder embeds only the new text.
        let second = CachedEmbedder::new(model.clone(), dir.clone());
        let b = second
            .embed(&["hi", "where is my card", "new one"])
            .unwrap();
        assert_eq!(model.0.load(Ordering::Relaxed), 3);
        assert_eq!((second.hits(), second.misses()), (2, 1));
        assert_eq!(a[0], b[1]);
        assert_eq!(b[2], vec![7.0, 1.0, 0.5]);
        // A torn record at the end is ignored, and the next append repairs the file.
        let mut f = OpenOptions::new().append(true).open(second.path()).unwrap();
        f.write_all(&[1, 2, 3]).unwrap();
        let third = CachedEmbedder::new(model.clone(), dir.clone());
        third.embed(&["hi", "another"]).unwrap();
        assert_eq!(third.hits(), 1);
        let fourth = CachedEmbedder::new(model, dir.clone());
        fourth.embed(&["another", "new one"]).unwrap();
        assert_eq!(fourth.hits(), 2);
        let _ = fs::remove_dir_all(&dir);
    }
}
