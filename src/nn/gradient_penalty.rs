//! The WGAN-GP gradient penalty.
//!
//! GP = λ·mean_i (‖∇_x̂ D(x̂)_i‖₂ − 1)², x̂_i = α_i·x_i + (1 − α_i)·x̃_i, with
//! x real, x̃ fake and one α_i per sample. The gradient ∇_x̂ D is taken with
//! `create_graph = true`, so GP is a function of the critic's parameters
//! through the critic's backward pass, and `GP.backward()` (a double
//! backward) reaches them.
//!
//! Fused pieces (`shaders/loss.wgsl`): x̂ is one kernel, and from the
//! per-sample squared norms s_i the terms λ·(√(s_i + ε) − 1)² are one kernel
//! and the penalty's gradient, 2λ/B·(1 − 1/√(s_i + ε))·g, another, recorded
//! so that it differentiates again.

use crate::autograd::{grad_with, is_grad_enabled, no_grad, Backward};
use crate::error::{Error, Result};
use crate::kernels::loss::{gp_backward, gp_forward, lerp_rows};
use crate::tensor::{Generator, Tensor};

/// The ε inside the norm: ‖g‖ = √(Σ g² + ε). It keeps the norm's derivative
/// g/‖g‖ finite when a sample's gradient is exactly zero (a dead critic),
/// the NaN of pytorch/pytorch#2534; at 1e-12 it changes a norm of 1 by
/// 5·10⁻¹³, far below f32 resolution.
pub const GP_NORM_EPS: f32 = 1e-12;

/// WGAN-GP penalty with α_i ~ U(0, 1) per sample drawn from `rng` (shape
/// [B, 1, 1, …], broadcast over each sample), as in the WGAN-GP paper and
/// SGBGAN. See [`gradient_penalty_with_alpha`] for the definition; use that
/// function for other α distributions (BAGAN-GP's code draws α ~ N(0, 1)).
///
/// `critic` maps a batch [B, …] to scores (any shape whose elements each
/// depend on one sample, e.g. [B, 1]); a conditional critic captures its
/// labels in the closure. Critics with batch statistics (batch norm) break
/// the per-sample independence the penalty assumes.
///
/// ```no_run
/// # use balgan::{nn::{gradient_penalty, loss, Module}, Generator, Tensor};
/// # fn f(critic: &dyn Module, real: &Tensor, fake: &Tensor, rng: &Generator) -> balgan::Result<()> {
/// let d_loss = loss::wasserstein_critic(&critic.forward(real)?, &critic.forward(fake)?)?
///     .add(&gradient_penalty(|x| critic.forward(x), real, fake, 10.0, rng)?)?;
/// d_loss.backward()?;
/// # Ok(()) }
/// ```
pub fn gradient_penalty(
    critic: impl Fn(&Tensor) -> Result<Tensor>,
    real: &Tensor,
    fake: &Tensor,
    lambda: f32,
    rng: &Generator,
) -> Result<Tensor> {
    Ok(gradient_penalty_and_norms(critic, real, fake, lambda, rng)?.penalty)
}

/// A gradient penalty with the per-sample gradient norms it was made from,
/// so training code can log ‖∇D‖ without running the critic again.
pub struct GradientPenalty {
    /// λ·mean_i (n_i − 1)², on the tape: what [`gradient_penalty`] returns.
    pub penalty: Tensor,
    /// n_i = √(‖∇_x̂ D(x̂)_i‖² + ε) per sample, `[B]`, off the tape (for
    /// logging; read back only when asked, e.g. `mean_all()?.item()?`).
    pub gradient_norms: Tensor,
}

/// [`gradient_penalty`] with the gradient norms: α_i ~ U(0, 1) from `rng`.
///
/// ```
/// # fn main() -> balgan::Result<()> {
/// use balgan::{nn::{gradient_penalty_and_norms, Linear, Module}, Device, Generator, Tensor};
/// let (dev, rng) = (Device::new()?, Generator::new(0));
/// // A linear critic D(x) = x·w has ∇_x D = w for every sample: the norms are ‖w‖ = 5.
/// let critic = Linear::from_tensors(Tensor::from_slice(&dev, &[3.0, 4.0], &[2, 1])?, None)?;
/// let real = rng.normal(&dev, &[8, 2], 0.0, 1.0)?;
/// let fake = rng.normal(&dev, &[8, 2], 0.0, 1.0)?;
/// let gp = gradient_penalty_and_norms(|x| critic.forward(x), &real, &fake, 10.0, &rng)?;
/// assert!(gp.gradient_norms.to_vec()?.iter().all(|n| (n - 5.0).abs() < 1e-5));
/// assert!((gp.penalty.item()? - 160.0).abs() < 1e-3); // 10·(5 − 1)²
/// # Ok(()) }
/// ```
pub fn gradient_penalty_and_norms(
    critic: impl Fn(&Tensor) -> Result<Tensor>,
    real: &Tensor,
    fake: &Tensor,
    lambda: f32,
    rng: &Generator,
) -> Result<GradientPenalty> {
    check_pair(real, fake)?;
    let mut alpha_shape = vec![1; real.rank()];
    alpha_shape[0] = real.shape()[0];
    let alpha = rng.uniform(real.device(), &alpha_shape, 0.0, 1.0)?;
    gradient_penalty_and_norms_with_alpha(critic, real, fake, lambda, &alpha)
}

fn check_pair(real: &Tensor, fake: &Tensor) -> Result<()> {
    if real.shape() != fake.shape() {
        return Err(Error::shape(
            "gradient_penalty",
            real.shape(),
            fake.shape(),
            "real and fake batches must have one shape",
        ));
    }
    if real.rank() == 0 || real.shape()[0] == 0 {
        return Err(Error::invalid(
            "gradient_penalty",
            format!("needs a non-empty batch axis, got shape {:?}", real.shape()),
        ));
    }
    Ok(())
}

/// WGAN-GP penalty with given interpolation weights `alpha` (`[B]` or
/// [B, 1, …, 1], one per sample):
///
/// 1. x̂ = x̃ + α·(x − x̃) (= α·x + (1 − α)·x̃), detached from real and fake and
///    made a leaf that requires grad;
/// 2. g = ∇_x̂ Σ D(x̂), with `create_graph = true`;
/// 3. n_i = √(Σ_{non-batch axes} g_i² + ε), ε = [`GP_NORM_EPS`];
/// 4. GP = λ·mean_i (n_i − 1)².
///
/// The result is on the tape: differentiating it reaches the critic's
/// parameters (through D's backward pass) but not the generator (x̂ is a
/// leaf).
pub fn gradient_penalty_with_alpha(
    critic: impl Fn(&Tensor) -> Result<Tensor>,
    real: &Tensor,
    fake: &Tensor,
    lambda: f32,
    alpha: &Tensor,
) -> Result<Tensor> {
    let (penalty, _) = penalty_and_squared_norms(critic, real, fake, lambda, alpha)?;
    Ok(penalty)
}

/// [`gradient_penalty_with_alpha`] with the gradient norms (see
/// [`GradientPenalty`]); two more small dispatches than the penalty alone.
pub fn gradient_penalty_and_norms_with_alpha(
    critic: impl Fn(&Tensor) -> Result<Tensor>,
    real: &Tensor,
    fake: &Tensor,
    lambda: f32,
    alpha: &Tensor,
) -> Result<GradientPenalty> {
    let (penalty, sq) = penalty_and_squared_norms(critic, real, fake, lambda, alpha)?;
    let gradient_norms = no_grad(|| sq.add_scalar(GP_NORM_EPS)?.sqrt())?;
    Ok(GradientPenalty {
        penalty,
        gradient_norms,
    })
}

/// The penalty and the per-sample squared gradient norms s [B] (no graph).
fn penalty_and_squared_norms(
    critic: impl Fn(&Tensor) -> Result<Tensor>,
    real: &Tensor,
    fake: &Tensor,
    lambda: f32,
    alpha: &Tensor,
) -> Result<(Tensor, Tensor)> {
    check_pair(real, fake)?;
    if !lambda.is_finite() {
        return Err(Error::invalid(
            "gradient_penalty",
            format!("λ must be finite, got {lambda}"),
        ));
    }
    let batch = real.shape()[0];
    let per_sample = alpha.numel() == batch && alpha.shape().first() == Some(&batch);
    if !per_sample || alpha.shape().iter().skip(1).any(|&d| d != 1) {
        return Err(Error::shape(
            "gradient_penalty",
            alpha.shape(),
            real.shape(),
            "alpha must hold one weight per sample: [B] or [B, 1, …, 1]",
        ));
    }
    let mut alpha_shape = vec![1; real.rank()];
    alpha_shape[0] = batch;
    let alpha = alpha.detach().reshape(&alpha_shape)?;
    real.same_device("gradient_penalty", fake)?;
    real.same_device("gradient_penalty", &alpha)?;
    let x_hat = Tensor::uninit(real.device(), real.shape())?;
    lerp_rows(
        real.device(),
        real.numel(),
        real.numel() / batch,
        real.buffer(),
        fake.buffer(),
        alpha.buffer(),
        x_hat.buffer(),
    )?;
    let x_hat = x_hat.requires_grad_();
    let scores = critic(&x_hat)?;
    if !scores.requires_grad() {
        return Err(Error::invalid(
            "gradient_penalty",
            "the critic's output does not depend on its input (was it run under no_grad, or did it detach x?)",
        ));
    }
    // ∇ Σ D = the vector-Jacobian product with ones (one fill, no sum).
    let g = grad_with(&[&scores], &[&scores.ones_like()?], &[&x_hat], true)?.remove(0);
    penalty_of_gradient(&g, lambda)
}

/// λ·mean_i (√(Σ_{non-batch axes} g_i² + ε) − 1)² for g [B, …], as one op of
/// g: the squared norms with no graph, the terms in one kernel, their mean.
/// Returns the penalty and the squared norms.
fn penalty_of_gradient(g: &Tensor, lambda: f32) -> Result<(Tensor, Tensor)> {
    let batch = g.shape()[0];
    let sq = no_grad(|| squared_norms(g, false))?;
    let terms = Tensor::uninit(g.device(), &[batch])?;
    gp_forward(g.device(), batch, sq.buffer(), lambda, GP_NORM_EPS, terms.buffer())?;
    let out = no_grad(|| terms.mean_all())?;
    let penalty = Tensor::record(out, &[g], PenaltyBackward { sq: sq.clone(), lambda });
    Ok((penalty, sq))
}

/// Σ over the non-batch axes of g², [B] (or [B, 1, …] with `keepdim`).
fn squared_norms(g: &Tensor, keepdim: bool) -> Result<Tensor> {
    let axes: Vec<isize> = (1..g.rank() as isize).collect();
    let sq = g.square()?;
    if axes.is_empty() {
        Ok(sq)
    } else {
        sq.sum(&axes, keepdim)
    }
}

/// d/dg of the penalty: up·(2λ/B)·(1 − 1/n_i)·g, n_i = √(s_i + ε), one kernel.
struct PenaltyBackward {
    /// The squared norms s [B] of the forward pass.
    sq: Tensor,
    lambda: f32,
}

impl Backward for PenaltyBackward {
    fn name(&self) -> &'static str {
        "gradient_penalty"
    }

    fn backward(&self, inputs: &[Tensor], up: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let g = &inputs[0];
        let batch = g.shape()[0];
        let scale = 2.0 * self.lambda / batch as f32;
        if is_grad_enabled() && (g.requires_grad() || up.requires_grad()) {
            // A graph is being built: the same formula with ops, which
            // differentiate again (s depends on g here).
            let mut shape = vec![1; g.rank()];
            shape[0] = batch;
            let norm = squared_norms(g, true)?
                .reshape(&shape)?
                .add_scalar(GP_NORM_EPS)?
                .sqrt()?;
            let factor = norm.recip()?.affine(-1.0, 1.0)?;
            let dg = g.mul(&factor)?.mul(&up.reshape(&[])?)?.mul_scalar(scale)?;
            return Ok(vec![Some(dg)]);
        }
        let dg = Tensor::uninit(g.device(), g.shape())?;
        gp_backward(
            g.device(),
            g.numel(),
            g.numel() / batch,
            g.buffer(),
            self.sq.buffer(),
            up.buffer(),
            scale,
            GP_NORM_EPS,
            dg.buffer(),
        )?;
        Ok(vec![Some(dg)])
    }
}
