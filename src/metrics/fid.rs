//! Fréchet Inception Distance between two sets of features, on the GPU:
//!
//! ```text
//! FID = ‖μ_r − μ_g‖² + Tr Σ_r + Tr Σ_g − 2·Tr √(Σ_r Σ_g)
//! ```
//!
//! with μ the feature mean and Σ = (X − μ)ᵀ(X − μ)/(n − 1) the sample
//! covariance of features X `[n, d]`. The features are whatever the caller
//! extracted (balgan's default is its own classifier's penultimate layer; the
//! papers use Inception-v3 pool features): say which in every report.
//!
//! # Tr √(Σ_r Σ_g), well-posed
//!
//! Σ_rΣ_g is not symmetric, so its square root is not the square root of a
//! positive semi-definite (PSD) matrix and eigen-solvers for symmetric matrices
//! do not apply to it. Only its trace is needed, and that trace equals the trace
//! of the square root of a symmetric PSD matrix with the same non-zero
//! eigenvalues. Two such matrices are used, whichever is smaller:
//!
//! * **Gram route** (min(n_r, n_g) ≤ d; always the case for small minority
//!   classes, where Σ is singular). With A = (X_r − μ_r)/√(n_r − 1) and
//!   B = (X_g − μ_g)/√(n_g − 1), Σ_r = AᵀA, Σ_g = BᵀB and the
//!   non-zero eigenvalues of Σ_rΣ_g = Aᵀ(AΣ_g) are those of (AΣ_g)Aᵀ, so
//!   Tr √(Σ_rΣ_g) = Tr √C with C = A·Σ_g·Aᵀ `[n_r, n_r]`, symmetric PSD (equal to
//!   MMᵀ with M = ABᵀ: Tr √C is the sum of the singular values of ABᵀ). When
//!   n_g < n_r the roles swap: C = B·Σ_r·Bᵀ `[n_g, n_g]`. Only d×d, m×d and m×m
//!   matrices are formed (m = min(n_r, n_g)), never n_r×n_g. Exact for singular
//!   covariances, no ε.
//!   Centring makes 1 (the all-ones vector) a null vector of C; the square root
//!   is taken of C + α·11ᵀ/m (α = Tr C/m) and √α subtracted, so that the
//!   rounding noise of that zero eigenvalue cannot make it negative (a negative
//!   eigenvalue makes Newton–Schulz diverge).
//! * **Covariance route** (both n > d, and [`fid_from_stats`]):
//!   S = Σ_r^½ by Newton–Schulz, then Tr √(S Σ_g S) with S Σ_g S symmetrised;
//!   S Σ_g S is PSD and similar to Σ_rΣ_g when S is invertible, and has the same
//!   non-zero eigenvalues otherwise. Two square roots of d×d matrices.
//!
//! Square roots: [`super::sqrtm::sqrtm_psd`] (coupled Newton–Schulz, stop on the
//! trace and the residual).
//!
//! # ε
//!
//! As pytorch-fid does when its square root is not finite, a failed square root
//! on the covariance route (Newton–Schulz diverged or did not converge, which a
//! singular or nearly singular Σ can cause) is retried once with Σ + εI for both
//! covariances, ε = [`FID_EPS`] = 1e-6; [`Fid::epsilon`] reports whether it was
//! used. The Gram route never needs it.
//!
//! Every result is checked against the Cauchy–Schwarz bounds
//! 0 ≤ Tr √(Σ_rΣ_g) ≤ √(Tr Σ_r · Tr Σ_g) (which make FID ≥ ‖μ_r − μ_g‖² +
//! (√Tr Σ_r − √Tr Σ_g)² ≥ 0); a square root outside them is an error, not a
//! number. (A collapsed generator, whose features differ only by noise, once
//! gave a diverged iterate's trace, −4·10¹⁹, and an FID of 8·10¹⁹.)
//!
//! # Precision
//!
//! Means, centring and the matmuls are f32 on the GPU (the covariance sums n
//! products per entry in f32 after centring, so no cancellation of large
//! means). The scalar terms (‖μ_r − μ_g‖², the traces) are summed in f64 on the
//! host and FID = a + b − 2c is formed in f64. The f32 products leave an error
//! proportional to the traces: on features with κ(Σ) ≲ 200 the FID agrees with
//! an f64 computation to ≈ 1e-7–1e-6·(Tr Σ_r + Tr Σ_g) (`kernels-tests/fid.rs`),
//! and FID of a feature set against itself is ≈ 0 within that, not exactly 0.
//! The matrix square-rooted has the squared conditioning of the features
//! (its eigenvalues are the squared singular values of Σ_r^½Σ_g^½ or of ABᵀ):
//! eigenvalues below the f32 rounding level of that matrix (≈ 1e-7 of its
//! Frobenius norm, i.e. κ(Σ) ≳ 1e3) are lost, each missing ≈ √(1e-7·‖C‖_F)
//! from Tr √C. The error is one-sided: FID comes out too high, never too low
//! (measured: +1.6e-4·trace on self-FID with κ(Σ) ≈ 1e4–1e5, d = 32).

use super::sqrtm::{diagonal, frobenius, sqrtm_psd, trace, SqrtmOptions};
use crate::autograd::no_grad;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The ε added to both covariances' diagonals when the covariance route's
/// square root fails, as in pytorch-fid.
pub const FID_EPS: f64 = 1e-6;

/// How Tr √(Σ_rΣ_g) was computed (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FidRoute {
    /// Tr √(A·Σ_g·Aᵀ) (or √(B·Σ_r·Bᵀ)), m×m with m = min(n_r, n_g).
    Gram,
    /// Tr √(Σ_r^½ Σ_g Σ_r^½), d×d.
    Covariance,
}

/// FID and its terms.
#[derive(Debug, Clone)]
pub struct Fid {
    /// ‖μ_r − μ_g‖² + Tr Σ_r + Tr Σ_g − 2·Tr √(Σ_rΣ_g), in f64.
    pub value: f64,
    /// ‖μ_r − μ_g‖².
    pub mean_term: f64,
    /// Tr Σ_r.
    pub trace_real: f64,
    /// Tr Σ_g.
    pub trace_gen: f64,
    /// Tr √(Σ_rΣ_g).
    pub trace_sqrt: f64,
    /// Which matrix was square-rooted.
    pub route: FidRoute,
    /// 0, or [`FID_EPS`] if the covariances were regularised.
    pub epsilon: f64,
    /// Newton–Schulz iterations, summed over the square roots taken.
    pub iterations: usize,
}

/// Mean and covariance of features X `[n, d]`, on the GPU.
#[derive(Debug, Clone)]
pub struct FeatureStats {
    /// μ = (1/n)·Σᵢ xᵢ, `[d]`.
    pub mean: Tensor,
    /// Σ = (X − μ)ᵀ(X − μ)/(n − 1), `[d, d]`.
    pub cov: Tensor,
    /// n.
    pub count: usize,
}

/// Checks X is `[n, d]` with n ≥ 2; `name` appears in errors. Finiteness is
/// checked on the mean ([`blocked_stats`]): a NaN or ±Inf feature makes its
/// column's sum NaN or infinite.
fn check_features(x: &Tensor, name: &str) -> Result<(usize, usize)> {
    if x.rank() != 2 {
        return Err(Error::invalid(
            "fid",
            format!("{name} features must be [n, d], got shape {:?}", x.shape()),
        ));
    }
    let (n, d) = (x.shape()[0], x.shape()[1]);
    if n < 2 {
        return Err(Error::invalid(
            "fid",
            format!("{name} features: {n} sample(s); a covariance needs at least 2"),
        ));
    }
    if d == 0 {
        return Err(Error::invalid("fid", format!("{name} features have 0 dimensions")));
    }
    Ok((n, d))
}

/// Rows of X `[n, d]` per block of [`blocked_stats`]: a block and its
/// centred copy take at most the device's partial budget
/// ([`crate::Device::set_partial_budget`], 16 MiB by default), at least one row.
fn block_rows(x: &Tensor, n: usize, d: usize) -> usize {
    (x.device().partial_budget() / (2 * d.max(1))).clamp(1, n.max(1))
}

/// Rows start .. start + len of X (X itself when that is all of it).
fn rows(x: &Tensor, start: usize, len: usize) -> Result<Tensor> {
    if start == 0 && len == x.shape()[0] {
        Ok(x.clone())
    } else {
        x.narrow(0, start, len)
    }
}

/// μ `[1, d]` (also on the host, in f64) and Σ = (X − μ)ᵀ(X − μ)/(n − 1)
/// `[d, d]` of X `[n, d]` (shape already checked), in blocks of rows: the
/// block sums give μ, then each block is centred and its product added to Σ
/// as it is made. Besides X, μ and Σ, the memory used is bounded whatever n:
/// with B the device's partial budget, at most B floats for a block and its
/// centred copy, max(B, 2·d²) of split-K scratch
/// ([`crate::kernels::reduce::slab_scratch_floats`]) and 3·d² for a block
/// product, the running sum and its scaled copy.
/// Errors (naming the features `name`) when μ is not finite.
fn blocked_stats(x: &Tensor, n: usize, name: &str) -> Result<(Tensor, Vec<f64>, Tensor)> {
    let d = x.shape()[1];
    let step = block_rows(x, n, d);
    let mut sum: Option<Tensor> = None;
    for start in (0..n).step_by(step) {
        let s = rows(x, start, step.min(n - start))?.sum(&[0], true)?;
        sum = Some(match sum {
            None => s,
            Some(t) => t.add(&s)?,
        });
    }
    let mean = sum
        .ok_or_else(|| Error::invalid("fid", format!("{name} features are empty")))?
        .mul_scalar((1.0 / n as f64) as f32)?;
    let host: Vec<f64> = mean.to_vec()?.into_iter().map(f64::from).collect();
    if host.iter().any(|v| !v.is_finite()) {
        return Err(Error::invalid("fid", format!("{name} features contain NaN or Inf")));
    }
    let mut cov: Option<Tensor> = None;
    for start in (0..n).step_by(step) {
        let a = rows(x, start, step.min(n - start))?.sub(&mean)?;
        let p = a.matmul_t(&a, true, false)?;
        drop(a);
        cov = Some(match cov {
            None => p,
            Some(c) => c.add(&p)?,
        });
    }
    let cov = cov
        .ok_or_else(|| Error::invalid("fid", format!("{name} features are empty")))?
        .mul_scalar((1.0 / (n - 1) as f64) as f32)?;
    Ok((mean, host, cov))
}

/// A = (X − μ)/√(n − 1) `[n, d]`, so that Σ = AᵀA.
fn centre(x: &Tensor, mean: &Tensor, n: usize) -> Result<Tensor> {
    x.sub(mean)?.mul_scalar((1.0 / ((n - 1) as f64).sqrt()) as f32)
}

/// μ and Σ = (X − μ)ᵀ(X − μ)/(n − 1) of features X `[n, d]` (n ≥ 2, finite;
/// errors name the input as "features"). Computed in blocks of rows: the
/// memory used besides X and the result does not grow with n (at most
/// B + max(B, 2·d²) + 3·d² floats and O(d), B the device's
/// [partial budget](crate::Device::set_partial_budget)).
pub fn feature_stats(x: &Tensor) -> Result<FeatureStats> {
    no_grad(|| {
        let (n, d) = check_features(x, "input")?;
        let (mean, _, cov) = blocked_stats(&x.detach(), n, "input")?;
        Ok(FeatureStats {
            mean: mean.reshape(&[d])?,
            cov,
            count: n,
        })
    })
}

/// ‖μ_r − μ_g‖² in f64 on the host.
fn mean_term(mr: &Tensor, mg: &Tensor) -> Result<f64> {
    let (a, b) = (mr.to_vec()?, mg.to_vec()?);
    Ok(a.iter().zip(&b).map(|(&x, &y)| (x as f64 - y as f64).powi(2)).sum())
}

/// (S·M·S + (S·M·S)ᵀ)/2.
fn sandwich(s: &Tensor, m: &Tensor) -> Result<Tensor> {
    let c = s.matmul(m)?.matmul(s)?;
    c.add(&c.transpose(0, 1)?)?.mul_scalar(0.5)
}

/// Tr √(Σ₁Σ₂) for symmetric PSD Σ₁, Σ₂ `[d, d]` as Tr √(Σ₁^½ Σ₂ Σ₁^½) (two
/// Newton–Schulz square roots; see the module documentation). Returns the trace
/// and the iterations used. No ε: see [`fid_from_stats`] for the retry.
pub fn trace_sqrt_product(s1: &Tensor, s2: &Tensor, opts: &SqrtmOptions) -> Result<(f64, usize)> {
    no_grad(|| {
        if s1.shape() != s2.shape() || s1.rank() != 2 || s1.shape()[0] != s1.shape()[1] {
            return Err(Error::shape(
                "trace_sqrt_product",
                s1.shape(),
                s2.shape(),
                "both must be [d, d] with the same d",
            ));
        }
        let r = sqrtm_psd(&s1.detach(), opts)?;
        let c = sandwich(&r.root, &s2.detach())?;
        let t = sqrtm_psd(&c, opts)?;
        Ok((t.trace, r.iterations + t.iterations))
    })
}

/// `f` (of d-dimensional features) when its Tr √(Σ_r Σ_g) is within the
/// Cauchy–Schwarz bounds [0, √(Tr Σ_r · Tr Σ_g)] (up to rounding, and with
/// the ε retry's d·ε in each trace), which also keep FID ≥ 0; otherwise an
/// error, never the number: a square root outside them failed.
fn bounded(f: Fid, d: usize) -> Result<Fid> {
    let with_eps = |t: f64| t.max(0.0) + d as f64 * f.epsilon;
    let bound = (with_eps(f.trace_real) * with_eps(f.trace_gen)).sqrt();
    let slack = 1e-3 * bound + 1e-12;
    if f.value.is_finite() && f.trace_sqrt >= -slack && f.trace_sqrt <= bound + slack {
        return Ok(f);
    }
    Err(Error::invalid(
        "fid",
        format!(
            "Tr √(Σ_r Σ_g) came out {:e}, outside [0, √(Tr Σ_r · Tr Σ_g)] = [0, {bound:e}]: the matrix square \
             root failed ({} Newton–Schulz iterations); this FID would be meaningless",
            f.trace_sqrt, f.iterations
        ),
    ))
}

/// The covariance route with pytorch-fid's ε retry: (Tr √, iterations, ε).
fn covariance_route(s1: &Tensor, s2: &Tensor, opts: &SqrtmOptions) -> Result<(f64, usize, f64)> {
    // A trace outside the Cauchy–Schwarz bound (see `bounded`) is a failed
    // square root too, and gets the ε retry rather than an error.
    let within = |t: f64, a: &Tensor, b: &Tensor| -> Result<bool> {
        let bound = (trace(a)?.max(0.0) * trace(b)?.max(0.0)).sqrt();
        let slack = 1e-3 * bound + 1e-12;
        Ok(t.is_finite() && t >= -slack && t <= bound + slack)
    };
    let first = trace_sqrt_product(s1, s2, opts).and_then(|(t, it)| {
        if within(t, s1, s2)? {
            Ok((t, it))
        } else {
            Err(Error::invalid(
                "fid",
                format!("Tr √(Σ_r Σ_g) came out {t:e}, outside its Cauchy–Schwarz bounds"),
            ))
        }
    });
    match first {
        Ok((t, it)) => Ok((t, it, 0.0)),
        Err(first) => {
            let d = s1.shape()[0];
            let e = super::sqrtm::eye(s1, d, FID_EPS as f32)?;
            let (a, b) = no_grad(|| Ok::<_, Error>((s1.detach().add(&e)?, s2.detach().add(&e)?)))?;
            match trace_sqrt_product(&a, &b, opts) {
                Ok((t, it)) => Ok((t, it, FID_EPS)),
                Err(second) => Err(Error::invalid(
                    "fid",
                    format!("Tr √(Σ_r Σ_g) failed ({first}) and again with ε = {FID_EPS:e} added ({second})"),
                )),
            }
        }
    }
}

/// FID from precomputed statistics: means `[d]` (or `[1, d]`) and covariances
/// `[d, d]`, by the covariance route (with the ε retry). FID =
/// ‖μ_r − μ_g‖² + Tr Σ_r + Tr Σ_g − 2·Tr √(Σ_r^½ Σ_g Σ_r^½), scalars in f64.
pub fn fid_from_stats(mu_r: &Tensor, cov_r: &Tensor, mu_g: &Tensor, cov_g: &Tensor) -> Result<Fid> {
    fid_from_stats_with(mu_r, cov_r, mu_g, cov_g, &SqrtmOptions::default())
}

/// [`fid_from_stats`] with explicit Newton–Schulz options.
pub fn fid_from_stats_with(
    mu_r: &Tensor,
    cov_r: &Tensor,
    mu_g: &Tensor,
    cov_g: &Tensor,
    opts: &SqrtmOptions,
) -> Result<Fid> {
    let d = mu_r.numel();
    if mu_g.numel() != d || cov_r.shape() != [d, d] || cov_g.shape() != [d, d] {
        return Err(Error::invalid(
            "fid",
            format!(
                "statistics disagree: μ_r {:?}, Σ_r {:?}, μ_g {:?}, Σ_g {:?} (need [d], [d, d])",
                mu_r.shape(),
                cov_r.shape(),
                mu_g.shape(),
                cov_g.shape()
            ),
        ));
    }
    let mean_term = mean_term(mu_r, mu_g)?;
    let trace_real = no_grad(|| trace(cov_r))?;
    let trace_gen = no_grad(|| trace(cov_g))?;
    if !(mean_term + trace_real + trace_gen).is_finite() {
        return Err(Error::invalid("fid", "statistics contain NaN or Inf"));
    }
    let (trace_sqrt, iterations, epsilon) = covariance_route(cov_r, cov_g, opts)?;
    bounded(
        Fid {
            value: mean_term + trace_real + trace_gen - 2.0 * trace_sqrt,
            mean_term,
            trace_real,
            trace_gen,
            trace_sqrt,
            route: FidRoute::Covariance,
            epsilon,
            iterations,
        },
        d,
    )
}

/// FID between real features `[n_r, d]` and generated features `[n_g, d]`
/// (n ≥ 2 each, same d, finite). See the module documentation for the
/// formula, the two routes, ε and the precision.
pub fn fid(real: &Tensor, gen: &Tensor) -> Result<f64> {
    Ok(fid_with(real, gen, &SqrtmOptions::default())?.value)
}

/// [`fid`] with explicit Newton–Schulz options, returning every term.
pub fn fid_with(real: &Tensor, gen: &Tensor, opts: &SqrtmOptions) -> Result<Fid> {
    no_grad(|| {
        let (nr, d) = check_features(real, "real")?;
        let (ng, dg) = check_features(gen, "generated")?;
        if d != dg {
            return Err(Error::shape(
                "fid",
                real.shape(),
                gen.shape(),
                "real and generated features need the same dimension d",
            ));
        }
        let (real, gen) = (real.detach(), gen.detach());
        let (mr, hr, cov_r) = blocked_stats(&real, nr, "real")?;
        let (mg, hg, cov_g) = blocked_stats(&gen, ng, "generated")?;
        let mean_term: f64 = hr.iter().zip(&hg).map(|(x, y)| (x - y).powi(2)).sum();
        let m = nr.min(ng);
        if m <= d {
            // C = A·Σ_g·Aᵀ [n_r, n_r] or B·Σ_r·Bᵀ [n_g, n_g], the smaller set
            // outside (its centred rows, m·d ≤ d² floats, are formed whole).
            let (small, cov_large) = if nr <= ng {
                (centre(&real, &mr, nr)?, &cov_g)
            } else {
                (centre(&gen, &mg, ng)?, &cov_r)
            };
            let trace_small = frobenius(&small)?.powi(2);
            let trace_large = trace(cov_large)?;
            let (trace_real, trace_gen) = if nr <= ng {
                (trace_small, trace_large)
            } else {
                (trace_large, trace_small)
            };
            let c = small.matmul(cov_large)?.matmul_t(&small, false, true)?;
            let c = c.add(&c.transpose(0, 1)?)?.mul_scalar(0.5)?;
            let alpha = diagonal(&c)?.iter().sum::<f64>() / m as f64;
            let (trace_sqrt, iterations) = if alpha <= 0.0 {
                (0.0, 0)
            } else {
                let ones = Tensor::full(real.device(), &[m, m], (alpha / m as f64) as f32)?;
                let r = sqrtm_psd(&c.add(&ones)?, opts)?;
                ((r.trace - alpha.sqrt()).max(0.0), r.iterations)
            };
            bounded(
                Fid {
                    value: mean_term + trace_real + trace_gen - 2.0 * trace_sqrt,
                    mean_term,
                    trace_real,
                    trace_gen,
                    trace_sqrt,
                    route: FidRoute::Gram,
                    epsilon: 0.0,
                    iterations,
                },
                d,
            )
        } else {
            let trace_real = trace(&cov_r)?;
            let trace_gen = trace(&cov_g)?;
            let (trace_sqrt, iterations, epsilon) = covariance_route(&cov_r, &cov_g, opts)?;
            bounded(
                Fid {
                    value: mean_term + trace_real + trace_gen - 2.0 * trace_sqrt,
                    mean_term,
                    trace_real,
                    trace_gen,
                    trace_sqrt,
                    route: FidRoute::Covariance,
                    epsilon,
                    iterations,
                },
                d,
            )
        }
    })
}
