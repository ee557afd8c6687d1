//! SAGAN self-attention over the positions of a feature map.
//!
//! For x of shape [B, C, H, W], with N = H·W positions x_1 … x_N ∈ ℝ^C and
//! 1×1 convolutions (per-position affine maps over channels)
//!   f(x) = W_f·x + b_f ∈ ℝ^C'   (`key`,   C' = max(C/8, 1) by default)
//!   g(x) = W_g·x + b_g ∈ ℝ^C'   (`query`)
//!   h(x) = W_h·x + b_h ∈ ℝ^C''  (`value`, C'' = max(C/2, 1) by default; SAGAN's
//!                                 own code and some variants use C'' = C)
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

/// The nine tensors of a [`SelfAttention`] block, for
/// [`SelfAttention::from_tensors`]: each 1×1 convolution as (weight
/// `[c_out, c_in, 1, 1]`, bias `[c_out]`) in PyTorch's layout, and γ `[1]`.
pub struct SelfAttentionTensors {
    /// g: ([C', C, 1, 1], [C']).
    pub query: (Tensor, Tensor),
    /// f: ([C', C, 1, 1], [C']).
    pub key: (Tensor, Tensor),
    /// h: ([C'', C, 1, 1], [C'']).
    pub value: (Tensor, Tensor),
    /// v: ([C, C'', 1, 1], `[C]`).
    pub out: (Tensor, Tensor),
    /// γ: `[1]`.
    pub gamma: Tensor,
}

/// y = W·X + b for X [B, c_in, N], W [c_out, c_in, 1, 1], b [c_out].
fn conv1x1(w: &Tensor, b: &Tensor, x: &Tensor) -> Result<Tensor> {
    let (c_out, c_in) = (w.shape()[0], w.shape()[1]);
    w.reshape(&[c_out, c_in])?.matmul(x)?.add(&b.reshape(&[c_out, 1])?)
}

impl SelfAttention {
    /// A block for `channels` input channels with SAGAN's widths, C' =
    /// max(C/8, 1) and C'' = max(C/2, 1): weights ~ N(0, 0.02²) drawn from
    /// `rng` (query, key, value, out in that order), biases 0, γ = 0.
    pub fn new(dev: &Device, rng: &Generator, channels: usize) -> Result<SelfAttention> {
        SelfAttention::with_widths(dev, rng, channels, (channels / 8).max(1), (channels / 2).max(1))
    }

    /// As [`SelfAttention::new`] with the query/key width C' (`key_width`)
    /// and the value width C'' (`value_width`) chosen, e.g. C'' = C as in
    /// SAGAN variants that keep the value at full width.
    pub fn with_widths(
        dev: &Device,
        rng: &Generator,
        channels: usize,
        key_width: usize,
        value_width: usize,
    ) -> Result<SelfAttention> {
        if channels == 0 || key_width == 0 || value_width == 0 {
            return Err(Error::invalid(
                "SelfAttention",
                format!(
                    "channels ({channels}), key width ({key_width}) and value width ({value_width}) must be at least 1"
                ),
            ));
        }
        let (qk, hv) = (key_width, value_width);
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

    /// A block on existing tensors (see [`SelfAttentionTensors`] for the
    /// shapes; C, C' and C'' are read from them and checked against each
    /// other). The block uses the tensors given, so a gradient asked for
    /// through the caller's own handles is the block's (a tensor that does
    /// not require a gradient is made a leaf on the same buffer that does;
    /// read the block's fields for those handles). The output of ops is
    /// refused: pass leaves.
    ///
    /// ```
    /// # fn main() -> balgan::Result<()> {
    /// use balgan::{grad, nn::{Module, SelfAttention, SelfAttentionTensors}, Device, Generator, Tensor};
    /// let (dev, rng) = (Device::new()?, Generator::new(7));
    /// let conv = |o: usize, i: usize| -> balgan::Result<(Tensor, Tensor)> {
    ///     Ok((rng.normal(&dev, &[o, i, 1, 1], 0.0, 0.1)?.requires_grad_(), Tensor::zeros(&dev, &[o])?.requires_grad_()))
    /// };
    /// // C = 4 channels, C' = 2, and a value at full width C'' = 4.
    /// let gamma = Tensor::full(&dev, &[1], 0.5)?.requires_grad_();
    /// let block = SelfAttention::from_tensors(SelfAttentionTensors {
    ///     query: conv(2, 4)?,
    ///     key: conv(2, 4)?,
    ///     value: conv(4, 4)?,
    ///     out: conv(4, 4)?,
    ///     gamma: gamma.clone(),
    /// })?;
    /// let x = rng.normal(&dev, &[2, 4, 3, 3], 0.0, 1.0)?;
    /// let loss = block.forward(&x)?.square()?.mean_all()?;
    /// let g = grad(&[&loss], &[&gamma], false)?.remove(0);
    /// assert!(g.item()? != 0.0);
    /// # Ok(()) }
    /// ```
    pub fn from_tensors(t: SelfAttentionTensors) -> Result<SelfAttention> {
        let op = "SelfAttention";
        let conv = |name: &str, (w, b): &(Tensor, Tensor)| -> Result<(usize, usize)> {
            let &[o, i, 1, 1] = w.shape() else {
                return Err(Error::invalid(
                    op,
                    format!("{name} weight must be [c_out, c_in, 1, 1], got {:?}", w.shape()),
                ));
            };
            if o == 0 || i == 0 {
                return Err(Error::invalid(
                    op,
                    format!("{name} weight {:?} has an empty axis", w.shape()),
                ));
            }
            if b.shape() != [o] {
                return Err(Error::shape(
                    op,
                    b.shape(),
                    &[o],
                    &format!("{name} bias must be [c_out]"),
                ));
            }
            Ok((o, i))
        };
        let (qk, c) = conv("query", &t.query)?;
        let key = conv("key", &t.key)?;
        let (hv, c_value) = conv("value", &t.value)?;
        let out = conv("out", &t.out)?;
        let mismatch = |name: &str, got: (usize, usize), want: (usize, usize)| {
            Error::shape(
                op,
                &[got.0, got.1, 1, 1],
                &[want.0, want.1, 1, 1],
                &format!(
                    "{name} weight must be [{}, {}, 1, 1] to agree with query and value",
                    want.0, want.1
                ),
            )
        };
        if key != (qk, c) {
            return Err(mismatch("key", key, (qk, c)));
        }
        if c_value != c {
            return Err(mismatch("value", (hv, c_value), (hv, c)));
        }
        if out != (c, hv) {
            return Err(mismatch("out", out, (c, hv)));
        }
        if t.gamma.shape() != [1] {
            return Err(Error::shape(op, t.gamma.shape(), &[1], "gamma must be [1]"));
        }
        let p = |t: Tensor| super::parameter(op, t);
        Ok(SelfAttention {
            query_weight: p(t.query.0)?,
            query_bias: p(t.query.1)?,
            key_weight: p(t.key.0)?,
            key_bias: p(t.key.1)?,
            value_weight: p(t.value.0)?,
            value_bias: p(t.value.1)?,
            out_weight: p(t.out.0)?,
            out_bias: p(t.out.1)?,
            gamma: p(t.gamma)?,
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
