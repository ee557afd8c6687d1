//! Square root of a symmetric positive semi-definite matrix on the GPU by the
//! coupled Newton–Schulz iteration, built from balgan's matmul and elementwise
//! ops (so it inherits their splitting of long loops on every driver).
//!
//! With s = ‖A‖_F, Y₀ = A/s, Z₀ = I and for k = 0, 1, …
//!
//! ```text
//! T_k     = ½(3I − Z_k·Y_k)
//! Y_{k+1} = Y_k·T_k        → (A/s)^½
//! Z_{k+1} = T_k·Z_k        → (A/s)^-½
//! √A ≈ √s·Y_k
//! ```
//!
//! Three matmuls per iteration. Dividing by the Frobenius norm puts every
//! eigenvalue in [0, 1], where the iteration converges. An eigenvalue λ of A/s
//! first grows by 2.25× per iteration and converges quadratically only once it
//! is near 1, so it needs about log(1/λ)/log 2.25 iterations: small
//! eigenvalues converge last. A stop on the residual alone therefore leaves the
//! trace of √A low (the error is one-sided: their square roots are still too
//! small), so the loop stops when the trace Tr√A = √s·Tr Y has stopped
//! changing **and** the residual ‖s·Y·Y − A‖_F/‖A‖_F is small.
//!
//! Precision: the products are f32 on the GPU; the trace is summed in f64 on
//! the host from the diagonal. On random SPD matrices of size 64–512 (κ ≈
//! 30–300, 11–12 iterations) the result agrees with an f64 eigendecomposition
//! to ≈ 1e-6 relative (Frobenius), the trace to ≈ 1e-7–1e-6; with κ = 1e5 (20
//! iterations) the trace to ≈ 1e-6 — see `kernels-tests/fid.rs` and
//! `benches/sqrtm.rs`. Eigenvalues at the f32 noise level of A
//! (≈1e-7·‖A‖_F) are not resolved; a slightly negative one (rounding of a
//! singular matrix) grows and eventually diverges, which the residual check
//! detects (see [`sqrtm_psd`] for what is returned then). Between two checks
//! such an eigenvalue can grow past f32's range, leaving entries of ±Inf
//! whose products are NaN; so an iterate also counts as diverged when its
//! trace leaves [0, √(d·Tr A)], where every iterate of a PSD matrix stays
//! (Cauchy–Schwarz), and a NaN norm is never read as 0.

use crate::autograd::no_grad;
use crate::error::{Error, Result};
use crate::tensor::{IndexTensor, Tensor};

/// Stopping rules of [`sqrtm_psd`].
#[derive(Debug, Clone, Copy)]
pub struct SqrtmOptions {
    /// At most this many iterations (default 100: enough for eigenvalues down
    /// to 2.25⁻⁹⁰ relative, far below f32 resolution).
    pub max_iters: usize,
    /// Converged when |Tr_k − Tr_{k−1}| ≤ `trace_tol`·|Tr_k| in two consecutive
    /// iterations (default 1e-6). The trace still missing at that point is
    /// about twice the last change, i.e. ≈ 2e-6 relative.
    pub trace_tol: f64,
    /// …and the relative residual ‖s·Y·Y − A‖_F/‖A‖_F ≤ `residual_tol`
    /// (default 1e-3; f32 iterations typically reach 1e-6–1e-5).
    pub residual_tol: f64,
    /// The residual (one extra matmul) is also computed every this many
    /// iterations to detect divergence early (default 5).
    pub check_every: usize,
}

impl Default for SqrtmOptions {
    fn default() -> Self {
        SqrtmOptions {
            max_iters: 100,
            trace_tol: 1e-6,
            residual_tol: 1e-3,
            check_every: 5,
        }
    }
}

/// A matrix square root and how it was reached.
#[derive(Debug, Clone)]
pub struct Sqrtm {
    /// √A, `[d, d]`, f32 on the GPU.
    pub root: Tensor,
    /// Tr √A, summed in f64 from the diagonal of `root`.
    pub trace: f64,
    /// Newton–Schulz iterations run.
    pub iterations: usize,
    /// ‖root·root − A‖_F / ‖A‖_F at the end.
    pub residual: f64,
    /// true when the trace-change rule stopped the iteration; false when the
    /// iteration started to diverge and the iterate with the lowest residual
    /// (≤ `residual_tol`) was returned instead (see [`sqrtm_psd`]).
    pub trace_converged: bool,
}

/// The identity `[d, d]` on `a`'s device, scaled by `scale`.
pub(crate) fn eye(a: &Tensor, d: usize, scale: f32) -> Result<Tensor> {
    let mut v = vec![0.0f32; d * d];
    for i in 0..d {
        v[i * d + i] = scale;
    }
    Tensor::from_slice(a.device(), &v, &[d, d])
}

/// The diagonal of a square `[d, d]` matrix, read back to the host in f64.
pub(crate) fn diagonal(m: &Tensor) -> Result<Vec<f64>> {
    let d = m.shape()[0];
    let idx: Vec<u32> = (0..d).map(|i| (i * (d + 1)) as u32).collect();
    let idx = IndexTensor::new(m.device(), &idx)?;
    let diag = m.reshape(&[d * d])?.index_select(0, &idx)?;
    Ok(diag.to_vec()?.into_iter().map(f64::from).collect())
}

/// Tr M in f64, M square.
pub(crate) fn trace(m: &Tensor) -> Result<f64> {
    Ok(diagonal(m)?.iter().sum())
}

/// ‖M‖_F, the sum of squares reduced on the GPU (f32), the root taken in
/// f64; NaN when M holds NaN (or ±Inf of both signs meet), +Inf on overflow.
pub(crate) fn frobenius(m: &Tensor) -> Result<f64> {
    // Not `.max(0.0)`: f64::max returns the other operand for NaN, and a
    // NaN norm read as 0 made a NaN matrix look like the zero matrix and a
    // diverged iterate's residual look perfect.
    let sum = m.mul(m)?.sum_all()?.item()? as f64;
    Ok(if sum.is_nan() { f64::NAN } else { sum.max(0.0).sqrt() })
}

fn check_square(op: &'static str, a: &Tensor) -> Result<usize> {
    if a.rank() != 2 || a.shape()[0] != a.shape()[1] {
        return Err(Error::invalid(
            op,
            format!("expected a square [d, d] matrix, got shape {:?}", a.shape()),
        ));
    }
    Ok(a.shape()[0])
}

/// √A for a symmetric positive semi-definite A `[d, d]` by coupled Newton–Schulz
/// (see the module documentation for the iteration and the stopping rule).
///
/// Runs without recording gradients. A zero matrix returns zero.
///
/// Divergence: an eigenvalue of A/s that rounding has made slightly negative
/// (singular or nearly singular A, e.g. a covariance of fewer samples than
/// dimensions, or Σ^½ Σ Σ^½ with large κ) grows by 2.25× per iteration and
/// eventually blows up. When the residual (checked every `check_every`
/// iterations) becomes non-finite or grows 10-fold above its best value, the
/// iterate with the lowest residual is returned if that residual is
/// ≤ `residual_tol` (`trace_converged` = false; its trace lacks only square
/// roots of eigenvalues at the rounding-noise level, which are 0 in exact
/// arithmetic anyway).
///
/// Errors (`Error::InvalidArgument`, op `sqrtm`, naming the residual reached)
/// when A is not square, has a non-finite norm, diverges before reaching
/// `residual_tol` (A not PSD), or when `max_iters` pass without convergence.
pub fn sqrtm_psd(a: &Tensor, opts: &SqrtmOptions) -> Result<Sqrtm> {
    no_grad(|| sqrtm_inner(a, opts))
}

fn sqrtm_inner(a: &Tensor, opts: &SqrtmOptions) -> Result<Sqrtm> {
    let d = check_square("sqrtm", a)?;
    let a = a.detach();
    let s = frobenius(&a)?;
    if !s.is_finite() {
        return Err(Error::invalid(
            "sqrtm",
            format!("‖A‖_F = {s}: the matrix holds NaN or Inf"),
        ));
    }
    if s == 0.0 {
        return Ok(Sqrtm {
            root: a.zeros_like()?,
            trace: 0.0,
            iterations: 0,
            residual: 0.0,
            trace_converged: true,
        });
    }
    let root_s = s.sqrt();
    // Every iterate of a PSD A has eigenvalues rising from λ/s to √(λ/s), so
    // its trace (times √s) stays in [0, Tr √A] ⊆ [0, √(d·Tr A)]
    // (Cauchy–Schwarz). One outside, beyond rounding, is diverging along an
    // eigenvalue that rounding made negative, whatever its residual says.
    let trace_bound = (d as f64 * trace(&a)?.max(0.0)).sqrt();
    let plausible = |tr: f64| tr.is_finite() && tr >= -1e-3 * trace_bound && tr <= trace_bound * (1.0 + 1e-3);
    let eye15 = eye(&a, d, 1.5)?;
    let residual_of = |y: &Tensor| -> Result<f64> {
        let r = y.matmul(y)?.affine(s as f32, 0.0)?.sub(&a)?;
        Ok(frobenius(&r)? / s)
    };
    let mut y = a.mul_scalar((1.0 / s) as f32)?;
    let mut z: Option<Tensor> = None; // None = I
    let mut prev_trace = f64::NAN;
    let mut calm = 0usize;
    let mut last_change = f64::NAN;
    let mut residual = f64::NAN;
    // (iterate, trace, iteration, residual) with the lowest residual so far.
    let mut best: Option<(Tensor, f64, usize, f64)> = None;
    let best_residual = |b: &Option<(Tensor, f64, usize, f64)>| b.as_ref().map_or(f64::INFINITY, |b| b.3);
    for k in 1..=opts.max_iters.max(1) {
        let zy = match &z {
            None => y.clone(),
            Some(z) => z.matmul(&y)?,
        };
        let t = zy.affine(-0.5, 0.0)?.add(&eye15)?;
        let y_next = y.matmul(&t)?;
        z = Some(match &z {
            None => t,
            Some(z) => t.matmul(z)?,
        });
        y = y_next;
        let tr = trace(&y)? * root_s;
        let change = (tr - prev_trace).abs();
        last_change = change / tr.abs().max(f64::MIN_POSITIVE);
        calm = if change <= opts.trace_tol * tr.abs() {
            calm + 1
        } else {
            0
        };
        prev_trace = tr;
        let check = !plausible(tr) || calm >= 2 || k % opts.check_every.max(1) == 0 || k == opts.max_iters;
        if !check {
            continue;
        }
        residual = if plausible(tr) { residual_of(&y)? } else { f64::NAN };
        let best_r = best_residual(&best);
        if !residual.is_finite() || residual > 10.0 * best_r.max(1e-6) {
            // Diverging: rounding made an eigenvalue of A slightly negative
            // (a singular or nearly singular A) and it is growing. The best
            // iterate is a square root within `residual_tol` whose trace lacks
            // only eigenvalues at the rounding-noise level.
            return match best {
                Some((root, trace, iterations, residual)) if residual <= opts.residual_tol => Ok(Sqrtm {
                    root: root.mul_scalar(root_s as f32)?,
                    trace,
                    iterations,
                    residual,
                    trace_converged: false,
                }),
                _ => Err(Error::invalid(
                    "sqrtm",
                    format!(
                        "Newton–Schulz diverged at iteration {k}: residual {residual:.3e} after a best of \
                         {best_r:.3e} (tolerance {:.1e}; the matrix is probably not positive semi-definite)",
                        opts.residual_tol
                    ),
                )),
            };
        }
        if residual < best_r {
            best = Some((y.clone(), tr, k, residual));
        }
        if calm >= 2 && residual <= opts.residual_tol {
            return Ok(Sqrtm {
                root: y.mul_scalar(root_s as f32)?,
                trace: tr,
                iterations: k,
                residual,
                trace_converged: true,
            });
        }
    }
    Err(Error::invalid(
        "sqrtm",
        format!(
            "Newton–Schulz did not converge in {} iterations: residual {residual:.3e} (tolerance {:.1e}), \
             last trace change {:.3e} relative (tolerance {:.1e})",
            opts.max_iters, opts.residual_tol, last_change, opts.trace_tol
        ),
    ))
}
