//! A BERT sentence-transformers model run in-process with candle: token embeddings, mean
//! pooling over the real (unpadded) tokens, then L2 normalisation — what all-MiniLM-L6-v2 and
//! most sentence-transformers models do. A model whose pooling config asks for anything else is
//! refused rather than run wrongly.

use std::fs;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::Config;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::bert::Encoder;
use super::tokenize::WordPieces;
use super::{SemanticError, TextEmbedder};

/// Texts embedded together: large enough to keep the matrix kernels busy, small enough that
/// padding to the batch's longest text wastes little (texts are sorted by length first).
const BATCH: usize = 64;

pub struct SentenceModel {
    encoder: Encoder,
    tokens: WordPieces,
    dim: usize,
    fingerprint: [u8; 32],
    device: Device,
}

fn require(dir: &Path, file: &str) -> Result<PathBuf, SemanticError> {
    let p = dir.join(file);
    if p.is_file() {
        Ok(p)
    } else {
        Err(SemanticError::MissingFile {
            dir: dir.to_path_buf(),
            file: file.to_string(),
        })
    }
}

fn corrupt(path: &Path, reason: impl std::fmt::Display) -> SemanticError {
    SemanticError::CorruptFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

fn read_json(path: &Path) -> Result<serde_json::Value, SemanticError> {
    let text = fs::read_to_string(path).map_err(|e| corrupt(path, e))?;
    serde_json::from_str(&text).map_err(|e| corrupt(path, e))
}

/// Refuses a sentence-transformers model whose pooling is not plain mean pooling. A folder
/// without `modules.json` is a bare transformer: mean pooling is assumed.
fn check_pooling(dir: &Path) -> Result<(), SemanticError> {
    let modules = dir.join("modules.json");
    if !modules.is_file() {
        return Ok(());
    }
    let list = read_json(&modules)?;
    let pooling_dir = list.as_array().and_then(|mods| {
        mods.iter().find_map(|m| {
            let ty = m.get("type")?.as_str()?;
            ty.ends_with("Pooling").then(|| {
                m.get("path")
                    .and_then(|p| p.as_str())
                    .unwrap_or("")
                    .to_string()
            })
        })
    });
    let Some(sub) = pooling_dir else {
        return Err(SemanticError::UnsupportedPooling {
            dir: dir.to_path_buf(),
            pooling: "no".into(),
        });
    };
    let cfg_path = require(&dir.join(&sub), "config.json")?;
    let cfg = read_json(&cfg_path)?;
    let on = |k: &str| cfg.get(k).and_then(|v| v.as_bool()).unwrap_or(false);
    let others: Vec<&str> = [
        "pooling_mode_cls_token",
        "pooling_mode_max_tokens",
        "pooling_mode_mean_sqrt_len_tokens",
        "pooling_mode_weightedmean_tokens",
        "pooling_mode_lasttoken",
    ]
    .into_iter()
    .filter(|k| on(k))
    .collect();
    if !others.is_empty() || !on("pooling_mode_mean_tokens") {
        let pooling = if others.is_empty() {
            "no mean".to_string()
        } else {
            others
                .iter()
                .map(|k| k.trim_start_matches("pooling_mode_"))
                .collect::<Vec<_>>()
                .join(" + ")
        };
        return Err(SemanticError::UnsupportedPooling {
            dir: dir.to_path_buf(),
            pooling,
        });
    }
    Ok(())
}

impl SentenceModel {
    /// Token ids of `text` as the model sees them (with `[CLS]` and `[SEP]`).
    pub fn token_ids(&self, text: &str) -> Result<Vec<u32>, SemanticError> {
        self.tokens.ids(text)
    }

    /// Loads `config.json`, `tokenizer.json` and `model.safetensors` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, SemanticError> {
        let config_path = require(dir, "config.json")?;
        let tokenizer_path = require(dir, "tokenizer.json")?;
        let weights_path = require(dir, "model.safetensors")?;
        check_pooling(dir)?;
        let config_text = fs::read_to_string(&config_path).map_err(|e| corrupt(&config_path, e))?;
        let config: Config =
            serde_json::from_str(&config_text).map_err(|e| corrupt(&config_path, e))?;
        let max_len = fs::read_to_string(dir.join("sentence_bert_config.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.get("max_seq_length")?.as_u64())
            .map_or(config.max_position_embeddings, |n| n as usize)
            .min(config.max_position_embeddings);
        let weights = fs::read(&weights_path).map_err(|e| corrupt(&weights_path, e))?;
        let mut h = Sha256::new();
        h.update(config_text.as_bytes());
        h.update(fs::read(&tokenizer_path).map_err(|e| corrupt(&tokenizer_path, e))?);
        h.update(&weights);
        let fingerprint = h.finalize().into();
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|e| corrupt(&weights_path, e))?;
        let encoder = Encoder::load(vb, &config).map_err(|e| corrupt(&weights_path, e))?;
        let tokens = WordPieces::load(&tokenizer_path, max_len)?;
        Ok(SentenceModel {
            encoder,
            tokens,
            dim: config.hidden_size,
            fingerprint,
            device,
        })
    }

    /// One forward pass over texts of similar length, padded to the longest.
    fn forward(&self, ids: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
        let n = ids.len();
        let len = ids.iter().map(|r| r.len()).max().unwrap_or(0).max(1);
        let mut flat = vec![0u32; n * len];
        let mut mask = vec![0f32; n * len];
        for (r, row) in ids.iter().enumerate() {
            flat[r * len..r * len + row.len()].copy_from_slice(row);
            mask[r * len..r * len + row.len()].fill(1.0);
        }
        let input = Tensor::from_vec(flat, (n, len), &self.device)?;
        let mask = Tensor::from_vec(mask, (n, len), &self.device)?;
        let hidden = self.encoder.forward(&input, Some(&mask))?; // (n, len, dim)
                                                                 // Mean over real tokens, then unit length.
        let m = mask.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&m)?.sum(1)?;
        let counts = m.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mean = summed.broadcast_div(&counts)?;
        let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        mean.broadcast_div(&norm)?.to_vec2::<f32>()
    }

    /// One text on its own: no padding, so no mask (every token is real).
    fn forward_one(&self, ids: Vec<u32>) -> candle_core::Result<Vec<f32>> {
        let len = ids.len();
        let input = Tensor::from_vec(ids, (1, len), &self.device)?;
        let hidden = self.encoder.forward(&input, None)?; // (1, len, dim)
        let mean = (hidden.sum(1)? / len.max(1) as f64)?.squeeze(0)?;
        let mut v = mean.to_vec1::<f32>()?;
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        v.iter_mut().for_each(|x| *x /= norm);
        Ok(v)
    }
}

impl TextEmbedder for SentenceModel {
    fn dim(&self) -> usize {
        self.dim
    }

    fn fingerprint(&self) -> [u8; 32] {
        self.fingerprint
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, SemanticError> {
        let ids = texts
            .par_iter()
            .map(|t| self.tokens.ids(t))
            .collect::<Result<Vec<_>, _>>()?;
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| ids[i].len());
        // Batches run side by side on the cores rayon has (`RAYON_NUM_THREADS`); each batch is
        // padded only to its own longest text.
        let batches: Vec<&[usize]> = order.chunks(BATCH).collect();
        let vectors = batches
            .par_iter()
            .map(|chunk| {
                let batch: Vec<&[u32]> = chunk.iter().map(|&i| ids[i].as_slice()).collect();
                self.forward(&batch)
            })
            .collect::<candle_core::Result<Vec<_>>>()
            .map_err(|e| SemanticError::Inference(e.to_string()))?;
        let mut out = vec![Vec::new(); texts.len()];
        for (chunk, vs) in batches.iter().zip(vectors) {
            for (&i, v) in chunk.iter().zip(vs) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    fn embed_one(&self, text: &str) -> Result<Vec<f32>, SemanticError> {
        let ids = self.tokens.ids(text)?;
        self.forward_one(ids)
            .map_err(|e| SemanticError::Inference(e.to_string()))
    }
}
