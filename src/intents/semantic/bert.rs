//! The BERT encoder of a sentence-transformers model, for inference, on candle's tensor ops.
//!
//! It computes what candle-transformers' `BertModel` computes (the reference embeddings in
//! tests/fixtures hold for both), laid out for the bot's case of one short message on one core:
//! - each dense layer's weight is kept transposed, (in, out), so the matrix kernel reads it in
//!   place; kept as (out, in) it was gathered into a packed copy on every call, which took more
//!   time than the multiplications for a short message;
//! - query, key and value are one matrix: one multiplication instead of three;
//! - GELU's erf is a polynomial the compiler vectorises, instead of a libm call per element
//!   (an eighth of the time for a long message).

use candle_core::{Module, Result, Tensor};
use candle_nn::{LayerNorm, VarBuilder};
use candle_transformers::models::bert::{Config, HiddenAct};

/// A dense layer: `x · weight + bias`, with `weight` stored (in, out).
struct Dense {
    weight: Tensor,
    bias: Tensor,
}

impl Dense {
    fn load(vb: VarBuilder, input: usize, output: usize) -> Result<Self> {
        Ok(Dense {
            weight: vb.get((output, input), "weight")?.t()?.contiguous()?,
            bias: vb.get(output, "bias")?,
        })
    }

    /// Layers that read the same input, as one layer whose output is theirs side by side.
    fn side_by_side(parts: &[Dense]) -> Result<Self> {
        let weights: Vec<&Tensor> = parts.iter().map(|d| &d.weight).collect();
        let biases: Vec<&Tensor> = parts.iter().map(|d| &d.bias).collect();
        Ok(Dense {
            weight: Tensor::cat(&weights, 1)?,
            bias: Tensor::cat(&biases, 0)?,
        })
    }

    /// `x`: (rows, in) → (rows, out).
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.weight)?.broadcast_add(&self.bias)
    }
}

struct Layer {
    qkv: Dense,
    attention_out: Dense,
    attention_norm: LayerNorm,
    up: Dense,
    down: Dense,
    out_norm: LayerNorm,
}

pub struct Encoder {
    word: Tensor,
    position: Tensor,
    /// Token type 0: a single sentence uses no other.
    token_type: Tensor,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    activation: HiddenAct,
}

impl Encoder {
    /// Loads the weights under `vb` (with or without a `bert.` or model-type prefix, as
    /// sentence-transformers exports vary).
    pub fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        let prefixes = ["bert".to_string()]
            .into_iter()
            .chain(config.model_type.clone());
        let mut vb = vb;
        for prefix in prefixes {
            if vb.contains_tensor(&format!("{prefix}.embeddings.word_embeddings.weight")) {
                vb = vb.pp(prefix);
                break;
            }
        }
        let dim = config.hidden_size;
        let norm = |vb: VarBuilder| candle_nn::layer_norm(dim, config.layer_norm_eps, vb);
        let e = vb.pp("embeddings");
        let token_types = e.get(
            (config.type_vocab_size, dim),
            "token_type_embeddings.weight",
        )?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let a = l.pp("attention");
            let qkv =
                ["query", "key", "value"].map(|name| Dense::load(a.pp("self").pp(name), dim, dim));
            let [q, k, v] = qkv;
            layers.push(Layer {
                qkv: Dense::side_by_side(&[q?, k?, v?])?,
                attention_out: Dense::load(a.pp("output.dense"), dim, dim)?,
                attention_norm: norm(a.pp("output.LayerNorm"))?,
                up: Dense::load(l.pp("intermediate.dense"), dim, config.intermediate_size)?,
                down: Dense::load(l.pp("output.dense"), config.intermediate_size, dim)?,
                out_norm: norm(l.pp("output.LayerNorm"))?,
            });
        }
        Ok(Encoder {
            word: e.get((config.vocab_size, dim), "word_embeddings.weight")?,
            position: e.get(
                (config.max_position_embeddings, dim),
                "position_embeddings.weight",
            )?,
            token_type: token_types.get(0)?,
            embedding_norm: norm(e.pp("LayerNorm"))?,
            layers,
            heads: config.num_attention_heads,
            activation: config.hidden_act,
        })
    }

    /// Token ids (n, len) → hidden states (n, len, dim). `mask` (n, len) is 1 for real tokens
    /// and 0 for padding; `None` when every token is real.
    pub fn forward(&self, ids: &Tensor, mask: Option<&Tensor>) -> Result<Tensor> {
        let (n, len) = ids.dims2()?;
        let dim = self.word.dim(1)?;
        let x = self
            .word
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((n, len, dim))?
            .broadcast_add(&self.position.narrow(0, 0, len)?)?
            .broadcast_add(&self.token_type)?;
        let mut x = self.embedding_norm.forward(&x)?.reshape((n * len, dim))?;
        // Padding gets the lowest score, so softmax gives it no weight: (n, 1, 1, len).
        let padding = match mask {
            Some(mask) => {
                Some(((mask.ones_like()? - mask)? * f32::MIN as f64)?.reshape((n, 1, 1, len))?)
            }
            None => None,
        };
        for layer in &self.layers {
            x = self.layer(layer, &x, n, len, padding.as_ref())?;
        }
        x.reshape((n, len, dim))
    }

    /// One transformer layer over `x`: (n·len, dim).
    fn layer(
        &self,
        layer: &Layer,
        x: &Tensor,
        n: usize,
        len: usize,
        padding: Option<&Tensor>,
    ) -> Result<Tensor> {
        let dim = x.dim(1)?;
        let head = dim / self.heads;
        // (n·len, 3·dim) → three of (n, heads, len, head)
        let qkv = layer
            .qkv
            .forward(x)?
            .reshape((n, len, 3, self.heads, head))?
            .permute((2, 0, 3, 1, 4))?;
        let (q, k, v) = (
            qkv.get(0)?.contiguous()?,
            qkv.get(1)?.contiguous()?,
            qkv.get(2)?.contiguous()?,
        );
        let scores = (q.matmul(&k.t()?)? / (head as f64).sqrt())?;
        let scores = match padding {
            Some(p) => scores.broadcast_add(p)?,
            None => scores,
        };
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = weights
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .reshape((n * len, dim))?;
        let x = layer
            .attention_norm
            .forward(&(layer.attention_out.forward(&context)? + x)?)?;
        let h = activate(&layer.up.forward(&x)?, self.activation)?;
        layer.out_norm.forward(&(layer.down.forward(&h)? + &x)?)
    }
}

fn activate(x: &Tensor, activation: HiddenAct) -> Result<Tensor> {
    match activation {
        HiddenAct::Gelu => {
            let mut values = x.flatten_all()?.to_vec1::<f32>()?;
            values.iter_mut().for_each(|v| *v = gelu(*v));
            Tensor::from_vec(values, x.shape(), x.device())
        }
        HiddenAct::GeluApproximate => x.gelu(),
        HiddenAct::Relu => x.relu(),
    }
}

/// GELU with erf: x · (1 + erf(x / √2)) / 2.
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf for f32 as a rational function of x on [−4, 4] (beyond which erf is ±1 in f32), odd
/// numerator over even denominator: the approximation Eigen and XLA use. No branches and no libm
/// call, so a loop over it vectorises.
fn erf(x: f32) -> f32 {
    const ALPHA: [f32; 7] = [
        -2.726_142_3e-10,
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906_3e-4,
        -2.954_6e-3,
        -1.609_603_3e-2,
    ];
    const BETA: [f32; 5] = [
        -1.456_607_2e-5,
        -2.133_740_6e-4,
        -1.682_827e-3,
        -7.373_329e-3,
        -1.426_473_9e-2,
    ];
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let p = ALPHA.iter().fold(0.0, |acc, &a| acc * x2 + a) * x;
    let q = BETA.iter().fold(0.0, |acc, &b| acc * x2 + b);
    p / q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_is_within_a_few_ulp_of_a_series_reference() {
        let mut worst = 0f32;
        for i in -60_000..=60_000 {
            let x = i as f32 / 10_000.0;
            let exact = libm_erf(x as f64) as f32;
            worst = worst.max((erf(x) - exact).abs());
        }
        // A few units in the last place of values near 1 (4.8e-7 measured).
        assert!(worst < 1e-6, "largest error {worst}");
        assert_eq!(erf(0.0), 0.0);
        for far in [4.5, 30.0, f32::MAX] {
            assert!((erf(far) - 1.0).abs() < 1e-6 && (erf(-far) + 1.0).abs() < 1e-6);
        }
    }

    /// erf in f64 by its Taylor series (|x| < 3) and its asymptotic complement beyond, a
    /// reference independent of the approximation under test.
    fn libm_erf(x: f64) -> f64 {
        let a = x.abs();
        let value = if a < 3.0 {
            let (mut term, mut sum, mut n) = (a, a, 0.0);
            while term.abs() > 1e-17 {
                n += 1.0;
                term *= -a * a / n;
                sum += term / (2.0 * n + 1.0);
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc(a) ≈ e^(−a²)/(a√π) · (1 − 1/(2a²) + 3/(4a⁴) − 15/(8a⁶))
            let a2 = a * a;
            let series =
                1.0 - 1.0 / (2.0 * a2) + 3.0 / (4.0 * a2 * a2) - 15.0 / (8.0 * a2 * a2 * a2);
            1.0 - (-a2).exp() / (a * std::f64::consts::PI.sqrt()) * series
        };
        value.copysign(x)
    }

    #[test]
    fn gelu_matches_its_definition() {
        for x in [-4.0f32, -1.0, -0.25, 0.0, 0.5, 1.0, 3.0] {
            let exact = 0.5 * x as f64 * (1.0 + libm_erf(x as f64 / 2f64.sqrt()));
            assert!((gelu(x) as f64 - exact).abs() < 1e-6, "gelu({x})");
        }
    }
}
