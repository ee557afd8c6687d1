//! Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD
//! GANs"), as torchmetrics' `KernelInceptionDistance` and clean-fid's
//! `kernel_distance` compute it: the unbiased estimate of the squared maximum
//! mean discrepancy (MMD²) between two sets of features, with the cubic
//! polynomial kernel
//!
//! ```text
//! k(x, y) = (xᵀy / d + 1)³                        (d: feature dimension)
//! ```
//!
//! For real features x₁..x_m and generated features y₁..y_m (one subset):
//!
//! ```text
//! MMD²_u = Σ_{i≠j} k(xᵢ, xⱼ) / (m(m−1)) + Σ_{i≠j} k(yᵢ, yⱼ) / (m(m−1)) − 2·Σ_{i,j} k(xᵢ, yⱼ) / m²
//! ```
//!
//! The within-set sums leave out the diagonal (that makes them unbiased); the
//! cross sum keeps all m² pairs, the two sets being independent. Its
//! expectation is 0 when both sets come from one distribution, so unlike FID
//! it has no bias that depends on the sample size, which matters for
//! minority classes of a few dozen images. A single estimate can be slightly
//! negative.
//!
//! KID is the mean of MMD²_u over `subsets` random subsets, each of
//! `m = min(n_real, n_gen, max_subset)` real and m generated features drawn
//! without replacement ([`kid_subsets`]); the spread reported is the standard
//! deviation of the subset estimates (population form, as torchmetrics'
//! `std(unbiased=False)`). torchmetrics and clean-fid use 100 subsets of 1000;
//! torchmetrics refuses sets smaller than the subset, clean-fid shrinks the
//! subset to the smaller set, as here, so minority classes of fewer than 1000
//! images are measured on subsets of their size. When both sets hold exactly
//! m features every subset is the whole of both, and the standard deviation
//! is 0: it then says nothing about the uncertainty.
//!
//! Everything is computed on the host in f64 from f32 features: the kernel
//! matrices of the two sets are formed once (when they fit in
//! [`PRECOMPUTE_ENTRIES`]) and each subset sums its entries; otherwise each
//! subset evaluates its own kernel values. Both give the same numbers up to
//! f64 rounding.

use crate::error::{Error, Result};
use crate::tensor::HostRng;

/// Subsets drawn, as torchmetrics' and clean-fid's default.
pub const KID_SUBSETS: usize = 100;
/// The largest subset, as torchmetrics' and clean-fid's default.
pub const KID_MAX_SUBSET: usize = 1000;
/// Kernel matrix entries (f64) formed up front at most: n_r² + n_g² + n_r·n_g
/// ≤ 2²³, 64 MiB; larger sets evaluate the kernel per subset.
pub const PRECOMPUTE_ENTRIES: usize = 1 << 23;

/// How KID draws its subsets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KidOptions {
    /// Number of subsets ([`KID_SUBSETS`]).
    pub subsets: usize,
    /// Largest subset size ([`KID_MAX_SUBSET`]); the subset is
    /// min(n_real, n_gen, max_subset).
    pub max_subset: usize,
    /// Seed of the subset draws.
    pub seed: u64,
}

impl Default for KidOptions {
    fn default() -> Self {
        KidOptions {
            subsets: KID_SUBSETS,
            max_subset: KID_MAX_SUBSET,
            seed: 0,
        }
    }
}

/// KID of two feature sets: mean and spread of MMD²_u over the subsets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Kid {
    /// Mean of the subset estimates.
    pub mean: f64,
    /// Standard deviation of the subset estimates (divided by the number of subsets).
    pub std: f64,
    /// m, the features per side in each subset.
    pub subset_size: usize,
    /// The number of subsets.
    pub subsets: usize,
}

/// k(x, y) = (xᵀy/d + 1)³, the dot product summed in f64.
pub fn polynomial_kernel(x: &[f32], y: &[f32]) -> f64 {
    let d = x.len().max(1) as f64;
    let dot: f64 = x.iter().zip(y).map(|(&a, &b)| a as f64 * b as f64).sum();
    let t = dot / d + 1.0;
    t * t * t
}

/// Checks features are rows of `d` values, at least 2 of them, finite; returns the row count.
fn rows(what: &str, f: &[f32], d: usize) -> Result<usize> {
    const OP: &str = "kid";
    if d == 0 || !f.len().is_multiple_of(d) {
        return Err(Error::invalid(
            OP,
            format!("{what} features: {} values are not rows of {d}", f.len()),
        ));
    }
    let n = f.len() / d;
    if n < 2 {
        return Err(Error::invalid(
            OP,
            format!("{what} features: {n} sample(s); the unbiased MMD needs at least 2"),
        ));
    }
    if let Some(i) = f.iter().position(|v| !v.is_finite()) {
        return Err(Error::invalid(
            OP,
            format!("{what} feature {} of row {} is not finite", i % d, i / d),
        ));
    }
    Ok(n)
}

/// MMD²_u between all rows of `real` and all rows of `gen` (both [n, d],
/// row-major, the same n): one subset's estimate.
pub fn mmd2_unbiased(real: &[f32], gen: &[f32], d: usize) -> Result<f64> {
    let n = rows("real", real, d)?;
    let ng = rows("generated", gen, d)?;
    if n != ng {
        return Err(Error::invalid(
            "kid",
            format!("{n} real and {ng} generated features; one estimate takes as many of each"),
        ));
    }
    let all: Vec<usize> = (0..n).collect();
    let k =
        |a: &[f32], i: usize, b: &[f32], j: usize| polynomial_kernel(&a[i * d..(i + 1) * d], &b[j * d..(j + 1) * d]);
    Ok(mmd_from(
        &all,
        &all,
        |i, j| k(real, i, real, j),
        |i, j| k(gen, i, gen, j),
        |i, j| k(real, i, gen, j),
    ))
}

/// MMD²_u of the subset (real rows `r`, generated rows `g`, |r| = |g| = m ≥ 2)
/// from kernel values: `krr(i, j)` between real rows, `kgg` between
/// generated rows, `krg(i, j)` between real row i and generated row j.
fn mmd_from(
    r: &[usize],
    g: &[usize],
    krr: impl Fn(usize, usize) -> f64,
    kgg: impl Fn(usize, usize) -> f64,
    krg: impl Fn(usize, usize) -> f64,
) -> f64 {
    let m = r.len() as f64;
    let (mut xx, mut yy, mut xy) = (0.0, 0.0, 0.0);
    for (a, &i) in r.iter().enumerate() {
        for &j in &r[a + 1..] {
            xx += krr(i, j);
        }
        for &j in g {
            xy += krg(i, j);
        }
    }
    for (a, &i) in g.iter().enumerate() {
        for &j in &g[a + 1..] {
            yy += kgg(i, j);
        }
    }
    // The kernel is symmetric: each unordered pair counts twice in Σ_{i≠j}.
    2.0 * (xx + yy) / (m * (m - 1.0)) - 2.0 * xy / (m * m)
}

/// The subsets [`kid`] uses, exposed so a reference can recompute them: for
/// subset s (0-based), the real rows are the first m of a front-to-back
/// Fisher–Yates draw ([`HostRng::choose`]) over 0..n_real, and then the
/// generated rows the first m of one over 0..n_gen, both from one SplitMix64
/// stream started at `seed`. m = min(n_real, n_gen, max_subset).
pub fn kid_subsets(n_real: usize, n_gen: usize, opts: &KidOptions) -> Vec<(Vec<usize>, Vec<usize>)> {
    let m = n_real.min(n_gen).min(opts.max_subset);
    let mut rng = HostRng::new(opts.seed);
    (0..opts.subsets)
        .map(|_| {
            let r = rng.choose(n_real, m);
            let g = rng.choose(n_gen, m);
            (r, g)
        })
        .collect()
}

/// KID between real and generated features (rows of `d` values, row-major):
/// the mean and standard deviation of MMD²_u over the subsets of
/// [`kid_subsets`]. Needs at least 2 features on each side, `subsets` ≥ 1
/// and `max_subset` ≥ 2.
pub fn kid(real: &[f32], gen: &[f32], d: usize, opts: &KidOptions) -> Result<Kid> {
    let nr = rows("real", real, d)?;
    let ng = rows("generated", gen, d)?;
    if opts.subsets == 0 || opts.max_subset < 2 {
        return Err(Error::invalid(
            "kid",
            format!(
                "{} subsets of at most {} features: KID needs at least 1 subset of at least 2",
                opts.subsets, opts.max_subset
            ),
        ));
    }
    let subsets = kid_subsets(nr, ng, opts);
    let m = subsets[0].0.len();
    let k =
        |a: &[f32], i: usize, b: &[f32], j: usize| polynomial_kernel(&a[i * d..(i + 1) * d], &b[j * d..(j + 1) * d]);
    let values: Vec<f64> = if nr * nr + ng * ng + nr * ng <= PRECOMPUTE_ENTRIES {
        let gram = |a: &[f32], na: usize, b: &[f32], nb: usize| -> Vec<f64> {
            let mut out = vec![0.0; na * nb];
            for i in 0..na {
                for j in 0..nb {
                    out[i * nb + j] = k(a, i, b, j);
                }
            }
            out
        };
        let (krr, kgg, krg) = (
            gram(real, nr, real, nr),
            gram(gen, ng, gen, ng),
            gram(real, nr, gen, ng),
        );
        subsets
            .iter()
            .map(|(r, g)| {
                mmd_from(
                    r,
                    g,
                    |i, j| krr[i * nr + j],
                    |i, j| kgg[i * ng + j],
                    |i, j| krg[i * ng + j],
                )
            })
            .collect()
    } else {
        subsets
            .iter()
            .map(|(r, g)| {
                mmd_from(
                    r,
                    g,
                    |i, j| k(real, i, real, j),
                    |i, j| k(gen, i, gen, j),
                    |i, j| k(real, i, gen, j),
                )
            })
            .collect()
    };
    let s = values.len() as f64;
    let mean = values.iter().sum::<f64>() / s;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / s;
    Ok(Kid {
        mean,
        std: var.sqrt(),
        subset_size: m,
        subsets: values.len(),
    })
}
