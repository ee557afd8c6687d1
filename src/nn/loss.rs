//! Loss functions. Each returns a rank-0 tensor on the tape and is
//! differentiable twice (every piece is a differentiable op; masks of kinks
//! are constants).
//!
//! **Reduction.** Unless a function says otherwise, the elementwise losses are
//! averaged over every element ([`Reduction::Mean`], as PyTorch's default);
//! the `_with` variants take a [`Reduction`]. The Gaussian KL divergence is
//! summed over the latent axes and averaged over the batch
//! ([`Reduction::BatchMean`]), the usual VAE convention.
//!
//! | loss | per element / per sample | default reduction |
//! |---|---|---|
//! | [`bce_with_logits`] | max(x, 0) − x·t + log(1 + e^{−\|x\|}) | mean |
//! | [`cross_entropy`] | −log softmax(x)_y = logsumexp(x) − x_y | mean (weighted: Σ w_y·ce / Σ w_y) |
//! | [`cross_entropy_soft`] | −Σ_k w_k·t_k·log softmax(x)_k | sum over classes, mean over batch |
//! | [`mse`] | (a − b)² | mean |
//! | [`l1`] | \|a − b\| | mean |
//! | [`gaussian_kl`] | −½·Σ_d (1 + logvar − μ² − e^{logvar}) | mean over the batch |
//! | [`lsgan_discriminator`] | ½(D(x) − b)² and ½(D(G(z)) − a)² | mean of each, summed |
//! | [`lsgan_generator`] | ½(D(G(z)) − c)² | mean |
//! | [`wasserstein_critic`] | D(G(z)) − D(x) | mean of each |
//! | [`wasserstein_generator`] | −D(G(z)) | mean |
//!
//! The WGAN-GP gradient penalty is in [`super::gradient_penalty()`].

use crate::autograd::{no_grad, Backward};
use crate::error::{Error, Result};
use crate::kernels::loss::{bce_backward, bce_forward, TargetArg};
use crate::tensor::{IndexTensor, Tensor};

/// How elementwise (or per-sample) losses become one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reduction {
    /// The mean over all elements (for weighted cross-entropy: Σ w·ce / Σ w).
    #[default]
    Mean,
    /// The sum over all elements.
    Sum,
    /// The sum over all elements divided by the batch size (axis 0): a sum per
    /// sample, averaged over the batch.
    BatchMean,
    /// No reduction: the elementwise (or per-sample) losses.
    None,
}

fn reduce(op: &'static str, t: &Tensor, reduction: Reduction) -> Result<Tensor> {
    if t.numel() == 0 {
        return Err(Error::invalid(op, format!("empty input (shape {:?})", t.shape())));
    }
    match reduction {
        Reduction::Mean => t.mean_all(),
        Reduction::Sum => t.sum_all(),
        Reduction::BatchMean => {
            let batch = t.shape().first().copied().unwrap_or(1);
            t.sum_all()?.mul_scalar(1.0 / batch as f32)
        }
        Reduction::None => Ok(t.clone()),
    }
}

fn same_shape(op: &'static str, a: &Tensor, b: &Tensor, what: &str) -> Result<()> {
    if a.shape() != b.shape() {
        return Err(Error::shape(op, a.shape(), b.shape(), what));
    }
    Ok(())
}

/// log(1 + u) for u ∈ [0, 1], accurate for small u, with no graph:
/// with w = fl(1 + u), log1p(u) = log(w)·u/(w − 1) (w − 1 is exact), and u
/// itself where w rounds to 1.
fn log1p_small(u: &Tensor) -> Result<Tensor> {
    no_grad(|| {
        let w = u.add_scalar(1.0)?;
        let wm1 = w.add_scalar(-1.0)?;
        let ratio = w.log()?.mul(u)?.div(&wm1)?;
        let at_one = wm1.eq(&Tensor::scalar(u.device(), 0.0)?)?;
        Tensor::where_(&at_one, u, &ratio)
    })
}

/// The backward of softplus: d/dx log(1 + eˣ) = σ(x), itself differentiable
/// (σ' = σ(1 − σ)), so second derivatives are exact everywhere, x = 0
/// included.
struct SoftplusBackward;

impl Backward for SoftplusBackward {
    fn name(&self) -> &'static str {
        "softplus"
    }

    fn backward(&self, inputs: &[Tensor], g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(g.mul(&inputs[0].sigmoid()?)?)])
    }
}

/// softplus(x) = log(1 + eˣ), computed as max(x, 0) + log1p(e^{−|x|}), which
/// never overflows (e^{−|x|} ≤ 1) and keeps full precision for large |x|.
/// Derivative σ(x). The value is computed with no graph and the derivative
/// recorded as one rule, rather than by composing relu and abs: their kinks at
/// 0 (relu'(0) = sign(0) = 0) would give −t instead of ½ − t as the BCE
/// gradient at a logit of exactly 0 (e.g. a zero-initialised output layer).
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    let out = no_grad(|| {
        let tail = log1p_small(&x.abs()?.neg()?.exp()?)?;
        x.relu()?.add(&tail)
    })?;
    Ok(Tensor::record(out, &[x], SoftplusBackward))
}

/// Binary cross-entropy on logits, mean over elements:
/// mean(max(x, 0) − x·t + log(1 + e^{−|x|})) = mean(softplus(x) − x·t),
/// which equals −t·log σ(x) − (1 − t)·log(1 − σ(x)) without overflow at any
/// logit (±100 included). ∂/∂x = (σ(x) − t)/n, ∂/∂t = −x/n. `targets` must
/// broadcast to the logits' shape (a `[1]` tensor of 1s for "real").
///
/// When the targets are constants (no gradient) of one value or of the
/// logits' shape, the elementwise terms are one fused kernel and the gradient
/// another (`shaders/loss.wgsl`), recorded so that they differentiate again;
/// otherwise the loss is composed of single ops.
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    bce_with_logits_with(logits, targets, Reduction::Mean)
}

/// [`bce_with_logits`] against one target value for every element (1 for
/// real, 0 for fake).
pub fn bce_with_logits_scalar(logits: &Tensor, target: f32) -> Result<Tensor> {
    if !target.is_finite() {
        return Err(Error::invalid(
            "bce_with_logits",
            format!("the target must be finite (1 for real, 0 for fake), got {target}"),
        ));
    }
    fused_bce(logits, Target::Value(target), Reduction::Mean)
}

/// [`bce_with_logits`] with a chosen reduction.
pub fn bce_with_logits_with(logits: &Tensor, targets: &Tensor, reduction: Reduction) -> Result<Tensor> {
    logits.same_device("bce_with_logits", targets)?;
    if !targets.requires_grad() && logits.numel() > 0 {
        if targets.numel() == 1 && targets.rank() <= logits.rank() {
            return fused_bce(logits, Target::Scalar(targets.detach()), reduction);
        }
        if targets.shape() == logits.shape() {
            return fused_bce(logits, Target::Full(targets.detach()), reduction);
        }
    }
    let elem = softplus(logits)?.sub(&logits.mul(targets)?)?;
    if elem.shape() != logits.shape() {
        return Err(Error::shape(
            "bce_with_logits",
            logits.shape(),
            targets.shape(),
            "targets must broadcast to the logits' shape",
        ));
    }
    reduce("bce_with_logits", &elem, reduction)
}

/// The BCE target of the fused path: constants.
#[derive(Clone)]
enum Target {
    Value(f32),
    /// A one-element tensor.
    Scalar(Tensor),
    /// A tensor of the logits' shape.
    Full(Tensor),
}

impl Target {
    fn arg(&self) -> TargetArg<'_> {
        match self {
            Target::Value(v) => TargetArg::Value(*v),
            Target::Scalar(t) => TargetArg::Scalar(t.buffer()),
            Target::Full(t) => TargetArg::Full(t.buffer()),
        }
    }

    /// σ(x) − t with ops (for the rules that build a graph).
    fn sigmoid_minus(&self, x: &Tensor) -> Result<Tensor> {
        let s = x.sigmoid()?;
        match self {
            Target::Value(v) => s.add_scalar(-*v),
            Target::Scalar(t) => s.sub(&t.reshape(&[])?),
            Target::Full(t) => s.sub(t),
        }
    }
}

/// The fused BCE: elementwise terms in one kernel, then the reduction (with
/// no graph), recorded as one op of the logits whose backward is one kernel.
fn fused_bce(logits: &Tensor, target: Target, reduction: Reduction) -> Result<Tensor> {
    let n = logits.numel();
    if n == 0 {
        return Err(Error::invalid(
            "bce_with_logits",
            format!("empty input (shape {:?})", logits.shape()),
        ));
    }
    let elem = Tensor::uninit(logits.device(), logits.shape())?;
    bce_forward(logits.device(), n, logits.buffer(), target.arg(), elem.buffer())?;
    let (out, scale) = match reduction {
        Reduction::None => (elem, 1.0),
        Reduction::Mean => (no_grad(|| elem.mean_all())?, 1.0 / n as f32),
        Reduction::Sum => (no_grad(|| elem.sum_all())?, 1.0),
        Reduction::BatchMean => {
            let batch = logits.shape().first().copied().unwrap_or(1);
            let scale = 1.0 / batch as f32;
            (no_grad(|| elem.sum_all()?.mul_scalar(scale))?, scale)
        }
    };
    Ok(Tensor::record(out, &[logits], BceBackward { target, scale }))
}

/// d/dx of the fused BCE: scale·g·(σ(x) − t), one kernel (g one value for the
/// reductions, one per element for [`Reduction::None`]).
struct BceBackward {
    target: Target,
    scale: f32,
}

impl Backward for BceBackward {
    fn name(&self) -> &'static str {
        "bce_with_logits"
    }

    fn backward(&self, inputs: &[Tensor], g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let gx = Tensor::uninit(x.device(), x.shape())?;
        bce_backward(
            x.device(),
            x.numel(),
            x.buffer(),
            self.target.arg(),
            g.buffer(),
            g.numel() == x.numel(),
            self.scale,
            gx.buffer(),
        )?;
        // Recorded (as a function of x and g) only while a graph is built.
        let rule = BceGradBackward {
            target: self.target.clone(),
            scale: self.scale,
        };
        Ok(vec![Some(Tensor::record(gx, &[x, g], rule))])
    }
}

/// The backward of gx = scale·g·(σ(x) − t), with ops (so it differentiates
/// again): d/dx = u·scale·g·σ(x)(1 − σ(x)), d/dg = Σ u·scale·(σ(x) − t)
/// summed to g's shape.
struct BceGradBackward {
    target: Target,
    scale: f32,
}

impl Backward for BceGradBackward {
    fn name(&self) -> &'static str {
        "bce_with_logits_backward"
    }

    fn backward(&self, inputs: &[Tensor], u: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (x, g) = (&inputs[0], &inputs[1]);
        let g_b = if g.numel() == x.numel() {
            g.clone()
        } else {
            g.reshape(&[])?
        };
        let dx = if needs[0] {
            let s = x.sigmoid()?;
            let ds = s.mul(&s.affine(-1.0, 1.0)?)?;
            Some(u.mul(&ds)?.mul(&g_b)?.mul_scalar(self.scale)?)
        } else {
            None
        };
        let dg = if needs[1] {
            let full = u.mul(&self.target.sigmoid_minus(x)?)?.mul_scalar(self.scale)?;
            Some(if g.numel() == x.numel() {
                full.reshape(g.shape())?
            } else {
                full.sum_all()?.reshape(g.shape())?
            })
        } else {
            None
        };
        Ok(vec![dx, dg])
    }
}

/// log softmax along axis 1 of [B, K]: x − (m + log Σ_k e^{x_k − m}) with
/// m = max_k x_k held constant (the result does not depend on m, so its
/// gradient is zero; holding it constant avoids the max's tie mask).
fn log_softmax_rows(x: &Tensor) -> Result<Tensor> {
    let m = no_grad(|| x.max(&[1], true))?;
    let lse = x.sub(&m)?.exp()?.sum(&[1], true)?.log()?.add(&m)?;
    x.sub(&lse)
}

fn check_logits(op: &'static str, logits: &Tensor) -> Result<(usize, usize)> {
    match *logits.shape() {
        [b, k] if b > 0 && k > 0 => Ok((b, k)),
        _ => Err(Error::invalid(
            op,
            format!("logits must be [B, K] with B, K ≥ 1, got {:?}", logits.shape()),
        )),
    }
}

/// Class weights must be `[K]`, finite, non-negative and not all zero (all
/// zero would make the weighted mean 0/0). Checking reads the K weights back
/// to the host.
fn check_weights(op: &'static str, weights: Option<&Tensor>, k: usize) -> Result<Option<Tensor>> {
    let Some(w) = weights else {
        return Ok(None);
    };
    if w.shape() != [k] {
        return Err(Error::shape(
            op,
            w.shape(),
            &[k],
            "class weights must be [K], one per class (logits are [B, K])",
        ));
    }
    let values = w.to_vec()?;
    if let Some((i, v)) = values.iter().enumerate().find(|(_, v)| !v.is_finite() || **v < 0.0) {
        return Err(Error::invalid(
            op,
            format!("class weight {i} is {v}; every class weight must be finite and >= 0"),
        ));
    }
    if values.iter().all(|&v| v == 0.0) {
        return Err(Error::invalid(
            op,
            format!(
                "all {k} class weights are 0, so the weighted loss would be 0/0; give some class a positive weight"
            ),
        ));
    }
    // Class weights are constants of the loss.
    Ok(Some(w.detach()))
}

/// Softmax cross-entropy of logits [B, K] against integer labels, mean over
/// the batch: mean_i (logsumexp(x_i) − x_{i, y_i}). Labels are an
/// [`IndexTensor`] of shape `[B]` or `[B, 1]`, each < K. ∂/∂x_i = (softmax(x_i) −
/// onehot(y_i))/B.
pub fn cross_entropy(logits: &Tensor, labels: &IndexTensor) -> Result<Tensor> {
    cross_entropy_with(logits, labels, None, Reduction::Mean)
}

/// Cross-entropy with per-class weights w `[K]` (the cost-sensitive term of
/// CostSensitive-ACGAN), reduced as PyTorch does:
/// Σ_i w_{y_i}·ce_i / Σ_i w_{y_i}. Weights are constants (no gradient).
pub fn cross_entropy_weighted(logits: &Tensor, labels: &IndexTensor, weights: &Tensor) -> Result<Tensor> {
    cross_entropy_with(logits, labels, Some(weights), Reduction::Mean)
}

/// Cross-entropy with optional class weights and a reduction. Per sample
/// l_i = w_{y_i}·(logsumexp(x_i) − x_{i, y_i}) (w = 1 without weights);
/// `Mean` gives Σ l_i / Σ w_{y_i} (= the plain mean without weights), `Sum`
/// Σ l_i, `BatchMean` Σ l_i / B, `None` the `[B]` vector of l_i.
pub fn cross_entropy_with(
    logits: &Tensor,
    labels: &IndexTensor,
    weights: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    const OP: &str = "cross_entropy";
    let (b, k) = check_logits(OP, logits)?;
    let weights = check_weights(OP, weights, k)?;
    let logp = log_softmax_rows(logits)?;
    // The true class's log-probability and weight, both [B].
    let (logp_y, w_y) = match *labels.shape() {
        [n, 1] if n == b => {
            let lp = logp.gather(1, labels)?.reshape(&[b])?;
            let w = match &weights {
                Some(w) => Some(
                    w.reshape(&[1, k])?
                        .broadcast_to(&[b, k])?
                        .gather(1, labels)?
                        .reshape(&[b])?,
                ),
                None => None,
            };
            (lp, w)
        }
        [n] if n == b => {
            let lp = logp.mul(&one_hot(logits, labels, k)?)?.sum(&[1], false)?;
            let w = weights.as_ref().map(|w| w.index_select(0, labels)).transpose()?;
            (lp, w)
        }
        _ => {
            return Err(Error::invalid(
                OP,
                format!(
                    "labels must be [B] or [B, 1] with B = {b} (the logits are {:?}), got {:?}",
                    logits.shape(),
                    labels.shape()
                ),
            ))
        }
    };
    let per_sample = match &w_y {
        Some(w) => logp_y.mul(w)?.neg()?,
        None => logp_y.neg()?,
    };
    match (reduction, &w_y) {
        (Reduction::Mean, Some(w)) => per_sample.sum_all()?.div(&w.sum_all()?),
        _ => reduce(OP, &per_sample, reduction),
    }
}

/// One-hot rows for `labels` [B]: rows of the K×K identity picked by
/// `index_select` (a constant).
pub(crate) fn one_hot(like: &Tensor, labels: &IndexTensor, k: usize) -> Result<Tensor> {
    let mut eye = vec![0.0f32; k * k];
    for i in 0..k {
        eye[i * k + i] = 1.0;
    }
    Tensor::from_slice(like.device(), &eye, &[k, k])?.index_select(0, labels)
}

/// Cross-entropy against class-probability targets t [B, K] (one-hot or
/// soft), with optional class weights w `[K]`:
/// (1/B)·Σ_i −Σ_k w_k·t_ik·log softmax(x_i)_k. As in PyTorch, probability
/// targets are averaged over the batch, not divided by the weights' sum.
pub fn cross_entropy_soft(logits: &Tensor, targets: &Tensor, weights: Option<&Tensor>) -> Result<Tensor> {
    const OP: &str = "cross_entropy_soft";
    let (b, k) = check_logits(OP, logits)?;
    same_shape(OP, logits, targets, "targets must be [B, K] like the logits")?;
    let weights = check_weights(OP, weights, k)?;
    let mut terms = log_softmax_rows(logits)?.mul(targets)?;
    if let Some(w) = &weights {
        terms = terms.mul(w)?;
    }
    terms.sum_all()?.mul_scalar(-1.0 / b as f32)
}

/// Mean squared error, mean((a − b)²) over all elements; a and b have one
/// shape. ∂/∂a = 2(a − b)/n.
pub fn mse(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    mse_with(a, b, Reduction::Mean)
}

/// [`mse`] with a chosen reduction (`BatchMean`: summed squared error per
/// sample, averaged over the batch).
pub fn mse_with(a: &Tensor, b: &Tensor, reduction: Reduction) -> Result<Tensor> {
    same_shape("mse", a, b, "prediction and target must have one shape")?;
    reduce("mse", &a.sub(b)?.square()?, reduction)
}

/// Mean absolute error, mean(|a − b|); ∂/∂a = sign(a − b)/n (0 where a = b).
pub fn l1(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    l1_with(a, b, Reduction::Mean)
}

/// [`l1`] with a chosen reduction.
pub fn l1_with(a: &Tensor, b: &Tensor, reduction: Reduction) -> Result<Tensor> {
    same_shape("l1", a, b, "prediction and target must have one shape")?;
    reduce("l1", &a.sub(b)?.abs()?, reduction)
}

/// KL(N(μ, e^{logvar}) ‖ N(0, I)) of a VAE's posterior, summed over the
/// latent axes and averaged over the batch (axis 0):
/// (1/B)·Σ_i −½·Σ_d (1 + logvar_id − μ_id² − e^{logvar_id}).
/// ∂/∂μ = μ/B, ∂/∂logvar = ½(e^{logvar} − 1)/B.
pub fn gaussian_kl(mu: &Tensor, logvar: &Tensor) -> Result<Tensor> {
    gaussian_kl_with(mu, logvar, Reduction::BatchMean)
}

/// [`gaussian_kl`] with a chosen reduction of the elementwise terms
/// −½(1 + logvar − μ² − e^{logvar}).
pub fn gaussian_kl_with(mu: &Tensor, logvar: &Tensor, reduction: Reduction) -> Result<Tensor> {
    same_shape("gaussian_kl", mu, logvar, "μ and log-variance must have one shape")?;
    let terms = logvar.sub(&mu.square()?)?.sub(&logvar.exp()?)?.affine(-0.5, -0.5)?;
    reduce("gaussian_kl", &terms, reduction)
}

/// The targets of least-squares GAN losses: the discriminator pushes fakes
/// to `a` and reals to `b`; the generator pushes fakes to `c`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LsganTargets {
    /// The discriminator's target for fakes.
    pub a: f32,
    /// The discriminator's target for reals.
    pub b: f32,
    /// The generator's target for its fakes.
    pub c: f32,
}

impl LsganTargets {
    /// a = −1, b = 1, c = 0 (the alternative in the LSGAN paper).
    pub const SYMMETRIC: LsganTargets = LsganTargets {
        a: -1.0,
        b: 1.0,
        c: 0.0,
    };
}

impl LsganTargets {
    fn check(&self, op: &'static str) -> Result<()> {
        for (what, v) in [("a", self.a), ("b", self.b), ("c", self.c)] {
            if !v.is_finite() {
                return Err(Error::invalid(
                    op,
                    format!("LSGAN target {what} must be finite, got {v}"),
                ));
            }
        }
        Ok(())
    }
}

impl Default for LsganTargets {
    /// a = 0, b = c = 1.
    fn default() -> Self {
        LsganTargets { a: 0.0, b: 1.0, c: 1.0 }
    }
}

/// LSGAN discriminator loss on linear outputs:
/// ½·mean((D(x) − b)²) + ½·mean((D(G(z)) − a)²).
pub fn lsgan_discriminator(d_real: &Tensor, d_fake: &Tensor, targets: LsganTargets) -> Result<Tensor> {
    targets.check("lsgan_discriminator")?;
    let real = reduce(
        "lsgan_discriminator",
        &d_real.add_scalar(-targets.b)?.square()?,
        Reduction::Mean,
    )?;
    let fake = reduce(
        "lsgan_discriminator",
        &d_fake.add_scalar(-targets.a)?.square()?,
        Reduction::Mean,
    )?;
    real.add(&fake)?.mul_scalar(0.5)
}

/// LSGAN generator loss: ½·mean((D(G(z)) − c)²).
pub fn lsgan_generator(d_fake: &Tensor, targets: LsganTargets) -> Result<Tensor> {
    targets.check("lsgan_generator")?;
    reduce(
        "lsgan_generator",
        &d_fake.add_scalar(-targets.c)?.square()?,
        Reduction::Mean,
    )?
    .mul_scalar(0.5)
}

/// Wasserstein critic loss: mean(D(G(z))) − mean(D(x)) (the critic minimises
/// it; add [`super::gradient_penalty()`] for WGAN-GP).
pub fn wasserstein_critic(d_real: &Tensor, d_fake: &Tensor) -> Result<Tensor> {
    let fake = reduce("wasserstein_critic", d_fake, Reduction::Mean)?;
    let real = reduce("wasserstein_critic", d_real, Reduction::Mean)?;
    fake.sub(&real)
}

/// Wasserstein generator loss: −mean(D(G(z))).
pub fn wasserstein_generator(d_fake: &Tensor) -> Result<Tensor> {
    reduce("wasserstein_generator", d_fake, Reduction::Mean)?.neg()
}
