//! Batch normalisation: `Tensor::batch_norm`, with PyTorch's semantics.
//!
//! x has shape [N, C, *] ([N, C] for 1-d batch norm, [N, C, H, W] for 2-d);
//! every statistic is per channel c, over the M = N·∏* elements x[n, c, …].
//!
//! Forward (training mode), with the batch mean and the *biased* batch variance:
//!
//! ```text
//! μ = (1/M) Σ x        σ² = (1/M) Σ (x − μ)²        r = 1/√(σ² + ε)
//! x̂ = (x − μ)·r        y = γ·x̂ + β
//! running_mean ← (1 − momentum)·running_mean + momentum·μ
//! running_var  ← (1 − momentum)·running_var  + momentum·σ²·M/(M − 1)   (unbiased)
//! ```
//!
//! Eval mode uses μ = running_mean, σ² = running_var, and updates nothing.
//! γ (weight) defaults to 1 and β (bias) to 0 when absent.
//!
//! **Momentum and ε across frameworks.** PyTorch's `momentum` weighs the new
//! batch; Keras's weighs the old average: `momentum_here = 1 − momentum_keras`.
//! PyTorch's defaults are momentum 0.1, ε = 1e-5; Keras's `BatchNormalization()`
//! defaults are momentum 0.99 (→ 0.01 here) and ε = 1e-3, which is what the
//! models ported from Keras code (BAGAN-GP, SGBGAN decoders) use. Keras also
//! averages the biased variance where PyTorch (and this op) averages the
//! unbiased one: the two differ by the factor M/(M − 1), 1.0001 for a batch of
//! 128 8×8 maps.
//!
//! Derivatives (upstream g, sums over N and the spatial axes, per channel):
//!
//! ```text
//! training:  dx = γ·r·(g − mean(g) − x̂·mean(g·x̂))
//! eval:      dx = γ·r·g
//! both:      dγ = Σ g·x̂        dβ = Σ g
//! ```
//!
//! The backward rule has two paths. When no graph is being built (plain
//! `backward`, `grad(.., create_graph = false)`) it runs the fused kernels of
//! `shaders/batchnorm.wgsl`: one pass for Σ g and Σ g·x̂, one for dx. Under
//! `create_graph = true` it is written with ops (mean, sub, mul, rsqrt, sum),
//! recomputing μ and r from x, so the gradients can be differentiated again:
//! the gradient penalty through a batch-normalised network needs the second
//! derivative through μ and σ². Both paths give the same values (tested).

use crate::autograd::{is_grad_enabled, Backward};
use crate::error::{Error, Result};
use crate::kernels::batchnorm::{self, Affine, Dims};
use crate::tensor::Tensor;

/// Shape [1, C, 1, …] of rank `rank`, to broadcast per-channel values over x.
fn channel_shape(rank: usize, c: usize) -> Vec<usize> {
    let mut s = vec![1; rank];
    s[1] = c;
    s
}

/// Every axis but the channel axis 1.
fn reduced_axes(rank: usize) -> Vec<isize> {
    (0..rank as isize).filter(|&a| a != 1).collect()
}

struct BatchNormBackward {
    dims: Dims,
    training: bool,
    eps: f32,
    has_weight: bool,
    has_bias: bool,
    /// [4, C]: (mean, invstd, scale, shift) as the forward used them; no graph.
    stats: Tensor,
}

impl BatchNormBackward {
    /// Which of (x, γ, β) need a gradient.
    fn wanted(&self, needs: &[bool]) -> (bool, bool, bool) {
        let w = self.has_weight && needs[1];
        let b = self.has_bias && needs[if self.has_weight { 2 } else { 1 }];
        (needs[0], w, b)
    }

    fn pack(&self, dx: Option<Tensor>, dw: Option<Tensor>, db: Option<Tensor>) -> Vec<Option<Tensor>> {
        let mut out = vec![dx];
        if self.has_weight {
            out.push(dw);
        }
        if self.has_bias {
            out.push(db);
        }
        out
    }

    /// The fused kernels: two passes over x and g (one for training-mode dx
    /// without γ/β gradients in eval mode).
    fn fused(&self, x: &Tensor, g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (need_x, need_w, need_b) = self.wanted(needs);
        let dev = x.device();
        let c = self.dims.c;
        let sums = if (self.training && need_x) || need_w || need_b {
            let sum_g = Tensor::uninit(dev, &[c])?;
            let sum_gx = Tensor::uninit(dev, &[c])?;
            batchnorm::grad_sums(
                dev,
                self.dims,
                x.buffer(),
                g.buffer(),
                self.stats.buffer(),
                sum_g.buffer(),
                sum_gx.buffer(),
            )?;
            Some((sum_g, sum_gx))
        } else {
            None
        };
        let dx = if need_x {
            let dx = Tensor::uninit(dev, x.shape())?;
            let s = match (&sums, self.training) {
                (Some((sg, sgx)), true) => Some((sg.buffer(), sgx.buffer())),
                _ => None,
            };
            batchnorm::grad_input(
                dev,
                self.dims,
                x.buffer(),
                g.buffer(),
                self.stats.buffer(),
                s,
                dx.buffer(),
            )?;
            Some(dx)
        } else {
            None
        };
        let (db, dw) = match sums {
            Some((sg, sgx)) => (need_b.then_some(sg), need_w.then_some(sgx)),
            None => (None, None),
        };
        Ok(self.pack(dx, dw, db))
    }

    /// The same gradients written with ops, differentiable again.
    fn composite(&self, inputs: &[Tensor], g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (need_x, need_w, need_b) = self.wanted(needs);
        let x = &inputs[0];
        let rank = x.rank();
        let kept = channel_shape(rank, self.dims.c);
        let axes = reduced_axes(rank);
        // x̂ and r = 1/√(σ² + ε), as functions of x in training mode.
        let (xh, r) = if self.training {
            let mu = x.mean(&axes, true)?;
            let xc = x.sub(&mu)?;
            let var = xc.square()?.mean(&axes, true)?;
            let r = var.add_scalar(self.eps)?.rsqrt()?;
            (xc.mul(&r)?, r)
        } else {
            let mean = self.stats.narrow(0, 0, 1)?.reshape(&kept)?;
            let r = self.stats.narrow(0, 1, 1)?.reshape(&kept)?;
            (x.sub(&mean)?.mul(&r)?, r)
        };
        let gxh = if need_w || (self.training && need_x) {
            Some(g.mul(&xh)?)
        } else {
            None
        };
        let dx = if need_x {
            let k = if self.has_weight {
                r.mul(&inputs[1].reshape(&kept)?)?
            } else {
                r
            };
            let inner = if self.training {
                let gm = g.mean(&axes, true)?;
                let gxm = gxh.as_ref().expect("computed for dx").mean(&axes, true)?;
                g.sub(&gm)?.sub(&xh.mul(&gxm)?)?
            } else {
                g.clone()
            };
            Some(inner.mul(&k)?)
        } else {
            None
        };
        let dw = match (&gxh, need_w) {
            (Some(t), true) => Some(t.sum(&axes, false)?),
            _ => None,
        };
        let db = if need_b { Some(g.sum(&axes, false)?) } else { None };
        Ok(self.pack(dx, dw, db))
    }
}

impl Backward for BatchNormBackward {
    fn name(&self) -> &'static str {
        "batch_norm"
    }

    fn backward(&self, inputs: &[Tensor], g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        if is_grad_enabled() {
            self.composite(inputs, g, needs)
        } else {
            self.fused(&inputs[0], g, needs)
        }
    }
}

fn check_channel_vector(what: &'static str, t: &Tensor, x: &Tensor, c: usize) -> Result<()> {
    x.same_device("batch_norm", t)?;
    if t.shape() != [c] {
        return Err(Error::invalid(
            "batch_norm",
            format!(
                "{what} must have shape [{c}] (one value per channel of the input {:?}), got {:?}",
                x.shape(),
                t.shape()
            ),
        ));
    }
    Ok(())
}

/// ε must be finite and positive (it keeps 1/√(σ² + ε) finite for a
/// constant channel); momentum finite in [0, 1] (a weight of the new batch).
pub(crate) fn check_eps_momentum(op: &'static str, eps: f32, momentum: f32) -> Result<()> {
    if !(eps.is_finite() && eps > 0.0) {
        return Err(Error::invalid(
            op,
            format!("eps must be finite and > 0, got {eps}; PyTorch's default is 1e-5, Keras's 1e-3"),
        ));
    }
    if !(momentum.is_finite() && (0.0..=1.0).contains(&momentum)) {
        return Err(Error::invalid(
            op,
            format!(
                "momentum must be finite and in [0, 1] (the weight of the new batch), got {momentum}; \
                 PyTorch's default is 0.1, Keras's momentum k is 1 - k here"
            ),
        ));
    }
    Ok(())
}

impl Tensor {
    /// Batch normalisation of `self` ([N, C, *]) over N and the trailing axes,
    /// per channel (axis 1), as PyTorch's `F.batch_norm`:
    /// y = (x − μ)/√(σ² + ε)·γ + β.
    ///
    /// - `weight` γ and `bias` β: `[C]`, or `None` for 1 and 0.
    /// - `running` = (running_mean, running_var), both `[C]`: required in eval
    ///   mode (`training = false`), where they are μ and σ²; optional in
    ///   training mode, where they are updated in place:
    ///   r ← (1 − momentum)·r + momentum·batch statistic, with the unbiased
    ///   batch variance. `momentum` is PyTorch's (0.1 by default; Keras 0.99 is
    ///   0.01 here, see the module docs).
    /// - Training mode normalises with the batch mean and biased variance and
    ///   needs more than one value per channel (N·∏* ≥ 2).
    /// - `eps` must be finite and > 0, `momentum` finite in [0, 1].
    ///
    /// Gradients flow to `self`, `weight` and `bias` (not to the running
    /// statistics), to any order. See the module docs for the derivatives.
    pub fn batch_norm(
        &self,
        weight: Option<&Tensor>,
        bias: Option<&Tensor>,
        running: Option<(&Tensor, &Tensor)>,
        training: bool,
        momentum: f32,
        eps: f32,
    ) -> Result<Tensor> {
        let x = self;
        check_eps_momentum("batch_norm", eps, momentum)?;
        if x.rank() < 2 {
            return Err(Error::invalid(
                "batch_norm",
                format!("input must be [N, C, *] with at least 2 axes, got {:?}", x.shape()),
            ));
        }
        let (n, c) = (x.shape()[0], x.shape()[1]);
        let s: usize = x.shape()[2..].iter().product();
        let dims = Dims { n, c, s };
        if let Some(w) = weight {
            check_channel_vector("weight", w, x, c)?;
        }
        if let Some(b) = bias {
            check_channel_vector("bias", b, x, c)?;
        }
        if let Some((rm, rv)) = running {
            check_channel_vector("running_mean", rm, x, c)?;
            check_channel_vector("running_var", rv, x, c)?;
        }
        if training && dims.m() < 2 {
            return Err(Error::invalid(
                "batch_norm",
                format!(
                    "training mode needs more than one value per channel, got input {:?} ({} per channel)",
                    x.shape(),
                    dims.m()
                ),
            ));
        }
        let dev = x.device();
        let affine = Affine {
            weight: weight.map(|w| w.buffer()),
            bias: bias.map(|b| b.buffer()),
            eps,
        };
        let stats = Tensor::uninit(dev, &[4, c])?;
        if training {
            let running = running.map(|(rm, rv)| (rm.buffer(), rv.buffer(), momentum));
            batchnorm::batch_stats(dev, dims, x.buffer(), &affine, running, stats.buffer())?;
        } else {
            let Some((rm, rv)) = running else {
                return Err(Error::invalid(
                    "batch_norm",
                    "eval mode (training = false) needs the running statistics",
                ));
            };
            batchnorm::eval_stats(dev, dims, rm.buffer(), rv.buffer(), &affine, stats.buffer())?;
        }
        let y = Tensor::uninit(dev, x.shape())?;
        batchnorm::normalize(dev, dims, x.buffer(), stats.buffer(), y.buffer())?;
        let mut inputs = vec![x];
        inputs.extend(weight);
        inputs.extend(bias);
        Ok(Tensor::record(
            y,
            &inputs,
            BatchNormBackward {
                dims,
                training,
                eps,
                has_weight: weight.is_some(),
                has_bias: bias.is_some(),
                stats,
            },
        ))
    }
}
