//! SAGAN self-attention over the positions of a feature map.
//!
//! For x of shape [B, C, H, W], with N = H·W positions x_1 … x_N ∈ ℝ^C and
//! 1×1 convolutions (per-position affine maps over channels)
//!   f(x) = W_f·x + b_f ∈ ℝ^C'   (`key`,   C' = max(C/8, 1))
//!   g(x) = W_g·x + b_g ∈ ℝ^C'   (`query`)
//!   h(x) = W_h·x + b_h ∈ ℝ^C''  (`value`, C'' = max(C/2, 1))
//!   v(a) = W_v·a + b_v ∈ ℝ^C    (`out`)
//! the layer computes (SAGAN, Zhang et al. 2019, eqs. 1–3)
//!   s_ij    = f(x_i)ᵀ g(x_j)
//!   β_{j,i} = e^(s_ij) / Σ_k e^(s_kj)      (softmax over the attended positions i)
//!   o_j     = v(Σ_i β_{j,i} h(x_i))
//!   y_j     = γ·o_j + x_j
//! with γ a learnable scalar initialised to 0, so the layer starts as the
//! identity and learns how much non-local evidence to mix in.
//!
//! As tensors (X = x reshaped to [B, C, N]; products batched over B):
//!   Q = W_g·X + b_g, K = W_f·X + b_f   [B, C', N]
//!   V = W_h·X + b_h                     [B, C'', N]
//!   S = Qᵀ·K                            [B, N, N], S[b, j, i] = s_ij
//!   β = softmax(S, last axis)
//!   A = V·βᵀ                            [B, C'', N]
//!   Y = X + γ·(W_v·A + b_v)             → [B, C, H, W]
//! Every step is a differentiable op (matmul with transpose flags, softmax,
//! broadcast add/mul), so gradients and gradients of gradients (a gradient
//! penalty through an attention critic) come from the ops' rules. The score
//! matrix S and β take B·N² floats each: N = 4096 (a 64×64 map) is 64 MiB per
//! image.
//!
//! Parameters (PyTorch `Conv2d(k=1)` layouts, so checkpoints map one to one):
//! `query.weight` [C', C, 1, 1], `query.bias` [C'], `key.weight` [C', C, 1, 1],
//! `key.bias` [C'], `value.weight` [C'', C, 1, 1], `value.bias` [C''],
//! `out.weight` [C, C'', 1, 1], `out.bias` [C], `gamma` [1].

use super::Module;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::{Generator, Tensor};

/// SAGAN self-attention block, y = γ·o + x (see the module documentation).
/// Fields are the parameter leaves, public so that they can be replaced or
/// built from existing tensors.
pub struct SelfAttention {
    /// g: [C', C, 1, 1]
    pub query_weight: Tensor,
    /// [C']
    pub query_bias: Tensor,
    /// f: [C', C, 1, 1]
    pub key_weight: Tensor,
    /// [C']
    pub key_bias: Tensor,
    /// h: [C'', C, 1, 1]
    pub value_weight: Tensor,
    /// [C'']
    pub value_bias: Tensor,
    /// v: [C, C'', 1, 1]
    pub out_weight: Tensor,
    /// `[C]`
    pub out_bias: Tensor,
    /// γ: `[1]`
    pub gamma: Tensor,
}

/// y = W·X + b for X [B, c_in, N], W [c_out, c_in, 1, 1], b [c_out].
fn conv1x1(w: &Tensor, b: &Tensor, x: &Tensor) -> Result<Tensor> {
    let (c_out, c_in) = (w.shape()[0], w.shape()[1]);
    w.reshape(&[c_out, c_in])?.matmul(x)?.add(&b.reshape(&[c_out, 1])?)
}

impl SelfAttention {
    /// A block for `channels` input channels: weights ~ N(0, 0.02²) drawn
    /// from `rng` (query, key, value, out in that order), biases 0, γ = 0.
    pub fn new(dev: &Device, rng: &Generator, channels: usize) -> Result<SelfAttention> {
        if channels == 0 {
            return Err(Error::invalid("SelfAttention", "needs at least one channel"));
        }
        let qk = (channels / 8).max(1);
        let hv = (channels / 2).max(1);
        let weight =
            |o: usize, i: usize| -> Result<Tensor> { Ok(rng.normal(dev, &[o, i, 1, 1], 0.0, 0.02)?.requires_grad_()) };
        let zeros = |n: usize| -> Result<Tensor> { Ok(Tensor::zeros(dev, &[n])?.requires_grad_()) };
        Ok(SelfAttention {
            query_weight: weight(qk, channels)?,
            query_bias: zeros(qk)?,
            key_weight: weight(qk, channels)?,
            key_bias: zeros(qk)?,
            value_weight: weight(hv, channels)?,
            value_bias: zeros(hv)?,
            out_weight: weight(channels, hv)?,
            out_bias: zeros(channels)?,
            gamma: zeros(1)?,
        })
    }

    /// Input (and output) channels C.
    pub fn channels(&self) -> usize {
        self.query_weight.shape()[1]
    }

    /// The attention map β [B, N, N] for x [B, C, H, W]: row j holds the
    /// weights position j gives to every position i (each row sums to 1).
    pub fn attention_map(&self, x: &Tensor) -> Result<Tensor> {
        let xs = self.flatten_input(x)?;
        self.attention(&xs)
    }

    /// x [B, C, H, W] → [B, C, N], checking the shape.
    fn flatten_input(&self, x: &Tensor) -> Result<Tensor> {
        let c = self.channels();
        if x.rank() != 4 || x.shape()[1] != c {
            return Err(Error::shape(
                "SelfAttention",
                x.shape(),
                &[0, c, 0, 0],
                &format!("input must be [B, {c}, H, W]"),
            ));
        }
        let s = x.shape();
        x.reshape(&[s[0], c, s[2] * s[3]])
    }

    /// β = softmax_i(Qᵀ·K) for X [B, C, N].
    fn attention(&self, xs: &Tensor) -> Result<Tensor> {
        let q = conv1x1(&self.query_weight, &self.query_bias, xs)?;
        let k = conv1x1(&self.key_weight, &self.key_bias, xs)?;
        q.matmul_t(&k, true, false)?.softmax(-1)
    }
}

impl Module for SelfAttention {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let xs = self.flatten_input(x)?;
        let beta = self.attention(&xs)?;
        let v = conv1x1(&self.value_weight, &self.value_bias, &xs)?;
        let a = v.matmul_t(&beta, false, true)?;
        let o = conv1x1(&self.out_weight, &self.out_bias, &a)?;
        o.mul(&self.gamma)?.add(&xs)?.reshape(x.shape())
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        [
            ("query.weight", &self.query_weight),
            ("query.bias", &self.query_bias),
            ("key.weight", &self.key_weight),
            ("key.bias", &self.key_bias),
            ("value.weight", &self.value_weight),
            ("value.bias", &self.value_bias),
            ("out.weight", &self.out_weight),
            ("out.bias", &self.out_bias),
            ("gamma", &self.gamma),
        ]
        .into_iter()
        .map(|(n, t)| (n.to_string(), t.clone()))
        .collect()
    }
}
