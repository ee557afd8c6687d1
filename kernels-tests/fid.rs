//! FID and the Newton–Schulz matrix square root against an f64 CPU reference
//! (cyclic Jacobi eigendecomposition, `common/jacobi.rs`), and the .npy/.npz reader
//! against files whose bytes are written here by hand.
//!
//! Sizes stay ≤ 256: one Newton–Schulz iteration at d = 2048 is ~51 GFLOP,
//! seconds on lavapipe.

use balgan::metrics::fid::{feature_stats, fid, fid_from_stats, fid_with, trace_sqrt_product, FidRoute, FID_EPS};
use balgan::metrics::npy::{parse_npy, parse_npz, parse_npz_members, read_npy, read_npz, NpyDtype};
use balgan::metrics::sqrtm::{sqrtm_psd, SqrtmOptions};
use balgan::Tensor;

use crate::common::npy_files::{npy_bytes, zip_bytes};

use crate::common::jacobi::{jacobi_eigh, sqrt_ref};
use crate::common::{base_seed, dev, Rng};

// ---------- f64 reference ----------

fn matmul(a: &[f64], b: &[f64], m: usize, k: usize, n: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * n];
    for i in 0..m {
        for p in 0..k {
            let aip = a[i * k + p];
            for j in 0..n {
                c[i * n + j] += aip * b[p * n + j];
            }
        }
    }
    c
}

fn trace(a: &[f64], n: usize) -> f64 {
    (0..n).map(|i| a[i * n + i]).sum()
}

/// Tr √(Σ₁Σ₂) = Tr √(S Σ₂ S), S = Σ₁^½, all in f64.
fn trace_sqrt_product_ref(s1: &[f64], s2: &[f64], d: usize) -> f64 {
    let s = sqrt_ref(s1, d);
    let c = matmul(&matmul(&s, s2, d, d, d), &s, d, d, d);
    let mut c_sym = c.clone();
    for i in 0..d {
        for j in 0..d {
            c_sym[i * d + j] = 0.5 * (c[i * d + j] + c[j * d + i]);
        }
    }
    jacobi_eigh(&c_sym, d).0.iter().map(|&x| x.max(0.0).sqrt()).sum()
}

/// (μ, Σ) of features [n, d] in f64.
pub(crate) fn stats_ref(x: &[f32], n: usize, d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut mu = vec![0.0; d];
    for i in 0..n {
        for j in 0..d {
            mu[j] += x[i * d + j] as f64;
        }
    }
    mu.iter_mut().for_each(|m| *m /= n as f64);
    let mut cov = vec![0.0; d * d];
    for i in 0..n {
        for a in 0..d {
            let xa = x[i * d + a] as f64 - mu[a];
            for b in 0..d {
                cov[a * d + b] += xa * (x[i * d + b] as f64 - mu[b]);
            }
        }
    }
    cov.iter_mut().for_each(|c| *c /= (n - 1) as f64);
    (mu, cov)
}

/// pytorch-fid's formula in f64, with ε·I added to both covariances.
fn fid_ref(real: &[f32], nr: usize, gen: &[f32], ng: usize, d: usize, eps: f64) -> (f64, f64) {
    let (m1, mut s1) = stats_ref(real, nr, d);
    let (m2, mut s2) = stats_ref(gen, ng, d);
    for i in 0..d {
        s1[i * d + i] += eps;
        s2[i * d + i] += eps;
    }
    let mean: f64 = m1.iter().zip(&m2).map(|(a, b)| (a - b).powi(2)).sum();
    let (t1, t2) = (trace(&s1, d), trace(&s2, d));
    (mean + t1 + t2 - 2.0 * trace_sqrt_product_ref(&s1, &s2, d), t1 + t2)
}

fn gaussian(rng: &mut Rng, n: usize) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let u1 = rng.unit().max(1e-300);
            let u2 = rng.unit();
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        })
        .collect()
}

/// G·Gᵀ/k + shift·I with G [d, k] Gaussian.
fn random_spd(rng: &mut Rng, d: usize, k: usize, shift: f64) -> Vec<f64> {
    let g = gaussian(rng, d * k);
    let mut a = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            let mut s = 0.0;
            for p in 0..k {
                s += g[i * k + p] * g[j * k + p];
            }
            a[i * d + j] = s / k as f64 + if i == j { shift } else { 0.0 };
        }
    }
    a
}

/// n Gaussian features in d dimensions, x = μ + scale·L·z with a random mean
/// around `mu` and L = D·(I + 0.3·G/√d), D = diag(1 … 0.3) log-spaced, G
/// Gaussian: singular values of L within ≈ [0.12, 1.6], so κ(Σ) ≲ 200, the
/// conditioning of typical network features. (With κ(Σ) ≳ 1e3, κ(Σ²) passes
/// f32 resolution and the f32 square root loses the smallest eigenvalues: see
/// the precision notes of `balgan::metrics::fid`.) Rounded to f32.
fn features(rng: &mut Rng, n: usize, d: usize, mu: f64, scale: f64) -> Vec<f32> {
    let g = gaussian(rng, d * d);
    let l: Vec<f64> = (0..d * d)
        .map(|i| {
            let (a, b) = (i / d, i % d);
            let da = 0.3f64.powf(a as f64 / (d - 1) as f64);
            da * (if a == b { 1.0 } else { 0.0 } + 0.3 * g[i] / (d as f64).sqrt())
        })
        .collect();
    let shift: Vec<f64> = gaussian(rng, d).iter().map(|v| mu + v).collect();
    let mut x = vec![0.0f32; n * d];
    for i in 0..n {
        let z = gaussian(rng, d);
        for a in 0..d {
            let mut s = 0.0;
            for b in 0..d {
                s += l[a * d + b] * z[b];
            }
            x[i * d + a] = (shift[a] + scale * s) as f32;
        }
    }
    x
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn upload(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(dev(), v, shape).unwrap()
}

fn rel_frobenius(got: &[f32], want: &[f64]) -> f64 {
    let num: f64 = got.iter().zip(want).map(|(&g, &w)| (g as f64 - w).powi(2)).sum();
    let den: f64 = want.iter().map(|w| w * w).sum();
    (num / den).sqrt()
}

// ---------- matrix square root ----------

/// √A of random SPD matrices (κ ≈ 30–300) against Jacobi in f64. f32 products
/// over d terms round to ≈ √d·6e-8 ≈ 1e-6 relative per product; Newton–Schulz
/// does not amplify that, so 1e-4 relative (Frobenius) leaves a wide margin
/// while still catching a wrong iteration (which is off by ≥ 1e-2).
#[test]
fn sqrtm_matches_jacobi_reference() {
    for (i, &d) in [64usize, 128, 256].iter().enumerate() {
        let mut rng = Rng::new(0xF1D0 + i as u64);
        let a = random_spd(&mut rng, d, 2 * d, 0.01);
        let want = sqrt_ref(&a, d);
        let got = sqrtm_psd(&upload(&to_f32(&a), &[d, d]), &SqrtmOptions::default()).unwrap();
        let err = rel_frobenius(&got.root.to_vec().unwrap(), &want);
        let tr = trace(&want, d);
        eprintln!(
            "sqrtm d={d}: {} iterations, residual {:.1e}, rel err {err:.1e}, trace rel err {:.1e}",
            got.iterations,
            got.residual,
            (got.trace - tr) / tr
        );
        assert!(
            err <= 1e-4,
            "d={d}: ‖√A − ref‖/‖ref‖ = {err:.2e} after {} iterations (seed {})",
            got.iterations,
            base_seed()
        );
        assert!(
            (got.trace - tr).abs() <= 1e-5 * tr,
            "d={d}: Tr √A {} vs {tr} (seed {})",
            got.trace,
            base_seed()
        );
        assert!(got.residual <= 1e-3, "d={d}: residual {}", got.residual);
        assert!(got.iterations < 100, "d={d}: {} iterations", got.iterations);
    }
}

/// A spectrum log-spaced over 1e-5..1 (κ = 1e5): the smallest eigenvalues
/// converge last, so a residual-only stop would leave the trace low. The
/// trace must match to 2e-5 relative (the trace-change tolerance 1e-6 leaves
/// ≈ 2e-6; f32 rounding of A itself ≈ 1e-7·κ^½ on the smallest roots).
#[test]
fn sqrtm_ill_conditioned_trace() {
    let d = 64;
    let mut rng = Rng::new(0xF1D1);
    let sym = random_spd(&mut rng, d, d, 0.0);
    let (_, qt) = jacobi_eigh(&sym, d);
    let lam: Vec<f64> = (0..d).map(|i| 10f64.powf(-5.0 * i as f64 / (d - 1) as f64)).collect();
    let mut a = vec![0.0; d * d];
    for i in 0..d {
        for j in 0..d {
            a[i * d + j] = (0..d).map(|k| qt[k * d + i] * lam[k] * qt[k * d + j]).sum();
        }
    }
    let want: f64 = lam.iter().map(|l| l.sqrt()).sum();
    let got = sqrtm_psd(&upload(&to_f32(&a), &[d, d]), &SqrtmOptions::default()).unwrap();
    eprintln!(
        "sqrtm κ=1e5: {} iterations, trace rel err {:.1e}",
        got.iterations,
        (got.trace - want) / want
    );
    assert!(
        (got.trace - want).abs() <= 2e-5 * want,
        "Tr √A {} vs {want} ({:.2e} relative) after {} iterations (seed {})",
        got.trace,
        (got.trace - want) / want,
        got.iterations,
        base_seed()
    );
}

/// A singular PSD matrix (rank 32 of 64): rounding makes some of the 32 zero
/// eigenvalues slightly negative and Newton–Schulz would eventually diverge on
/// them; either the trace rule stops first (as here, ≈ 11 iterations) or the
/// iterate with the lowest residual comes back (exercised by
/// `fid_from_stats_singular`). The trace may hold up to √(rounding level) per
/// null direction: tolerance (d − k)·√(1e-6·‖A‖_F); residual ≤ 1e-3.
#[test]
fn sqrtm_singular_matrix() {
    let (d, k) = (64usize, 32usize);
    let mut rng = Rng::new(0xF1D9);
    let a = random_spd(&mut rng, d, k, 0.0);
    let want = trace(&sqrt_ref(&a, d), d);
    let frob = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let got = sqrtm_psd(&upload(&to_f32(&a), &[d, d]), &SqrtmOptions::default()).unwrap();
    eprintln!(
        "sqrtm singular: trace {} vs {want}, residual {:.1e}, {} iterations, trace converged {}",
        got.trace, got.residual, got.iterations, got.trace_converged
    );
    assert!(got.residual <= 1e-3, "residual {}", got.residual);
    assert!(
        (got.trace - want).abs() <= (d - k) as f64 * (1e-6 * frob).sqrt(),
        "Tr √A {} vs {want} (seed {})",
        got.trace,
        base_seed()
    );
}

#[test]
fn sqrtm_rejects_bad_input() {
    let e = sqrtm_psd(&upload(&[1.0; 6], &[2, 3]), &SqrtmOptions::default()).unwrap_err();
    assert!(e.to_string().contains("square"), "{e}");
    // A = diag(1, −1): the negative eigenvalue makes the iteration diverge.
    let e = sqrtm_psd(&upload(&[1.0, 0.0, 0.0, -1.0], &[2, 2]), &SqrtmOptions::default()).unwrap_err();
    assert!(e.to_string().contains("residual"), "{e}");
    let zero = sqrtm_psd(&upload(&[0.0; 4], &[2, 2]), &SqrtmOptions::default()).unwrap();
    assert_eq!(zero.root.to_vec().unwrap(), vec![0.0; 4]);
    // NaN and Inf are refused, not taken for a zero matrix (a NaN norm once
    // read as 0, and a diverged iterate's NaN residual as a perfect one).
    for bad in [f32::NAN, f32::INFINITY] {
        let e = sqrtm_psd(&upload(&[1.0, 0.0, 0.0, bad], &[2, 2]), &SqrtmOptions::default()).unwrap_err();
        assert!(e.to_string().contains("NaN or Inf"), "{bad}: {e}");
    }
}

/// Tr √(Σ₁Σ₂) by two square roots against f64. Tolerance 1e-4 relative: two
/// chained f32 square roots and a sandwich product, each ≈ 1e-5.
#[test]
fn trace_sqrt_product_matches_reference() {
    for (i, &d) in [64usize, 128].iter().enumerate() {
        let mut rng = Rng::new(0xF1D2 + i as u64);
        let s1 = random_spd(&mut rng, d, 2 * d, 0.01);
        let s2 = random_spd(&mut rng, d, 3 * d, 0.05);
        let want = trace_sqrt_product_ref(&s1, &s2, d);
        let (got, _) = trace_sqrt_product(
            &upload(&to_f32(&s1), &[d, d]),
            &upload(&to_f32(&s2), &[d, d]),
            &SqrtmOptions::default(),
        )
        .unwrap();
        assert!(
            (got - want).abs() <= 1e-4 * want,
            "d={d}: {got} vs {want} (seed {})",
            base_seed()
        );
    }
}

// ---------- FID ----------

/// FID(X, X) is 0 exactly in exact arithmetic; in f32 the terms a + b − 2c
/// cancel to ≈ 1e-6·trace. Tolerance 1e-4·(Tr Σ + Tr Σ).
#[test]
fn fid_self_is_zero() {
    let mut rng = Rng::new(0xF1D3);
    for (n, d) in [(300usize, 32usize), (20, 48)] {
        let x = features(&mut rng, n, d, 1.0, 2.0);
        let t = upload(&x, &[n, d]);
        let f = fid_with(&t, &t, &SqrtmOptions::default()).unwrap();
        let tr = f.trace_real + f.trace_gen;
        eprintln!("fid self n={n} d={d}: {} (trace {tr})", f.value);
        assert!(
            f.value.abs() <= 1e-4 * tr,
            "n={n} d={d}: FID(X, X) = {} vs trace {tr} ({:?}, seed {})",
            f.value,
            f.route,
            base_seed()
        );
    }
}

/// Shuffling the samples changes only f32 summation order: ≤ 1e-4·trace.
#[test]
fn fid_invariant_to_sample_order() {
    let mut rng = Rng::new(0xF1D4);
    let (n, d) = (200, 24);
    let x = features(&mut rng, n, d, 0.0, 1.0);
    let y = features(&mut rng, n, d, 0.5, 1.5);
    let mut perm: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut perm);
    let xs: Vec<f32> = perm.iter().flat_map(|&i| x[i * d..(i + 1) * d].to_vec()).collect();
    let a = fid_with(&upload(&x, &[n, d]), &upload(&y, &[n, d]), &SqrtmOptions::default()).unwrap();
    let b = fid_with(&upload(&xs, &[n, d]), &upload(&y, &[n, d]), &SqrtmOptions::default()).unwrap();
    let tol = 1e-4 * (a.trace_real + a.trace_gen);
    assert!(
        (a.value - b.value).abs() <= tol,
        "{} vs {} shuffled (seed {})",
        a.value,
        b.value,
        base_seed()
    );
}

/// FID on Gaussian features with different means and covariances, both
/// routes, against the f64 reference on the same f32 samples. Tolerance
/// 1e-4·(Tr Σ_r + Tr Σ_g) (f32 products; see the module docs of fid).
#[test]
fn fid_matches_reference() {
    let mut rng = Rng::new(0xF1D5);
    // (n_r, n_g, d): covariance route (n > d), and Gram route with n_r ≠ n_g.
    for (nr, ng, d) in [(400usize, 300usize, 40usize), (60, 90, 96)] {
        let x = features(&mut rng, nr, d, 0.0, 1.0);
        let y = features(&mut rng, ng, d, 0.3, 1.7);
        let f = fid_with(&upload(&x, &[nr, d]), &upload(&y, &[ng, d]), &SqrtmOptions::default()).unwrap();
        let (want, tr) = fid_ref(&x, nr, &y, ng, d, 0.0);
        eprintln!(
            "fid nr={nr} ng={ng} d={d}: {} vs {want}, |diff|/trace {:.1e}, {:?}, {} iterations",
            f.value,
            (f.value - want).abs() / tr,
            f.route,
            f.iterations
        );
        let route = if nr.min(ng) <= d {
            FidRoute::Gram
        } else {
            FidRoute::Covariance
        };
        assert_eq!(f.route, route);
        assert!(
            (f.value - want).abs() <= 1e-4 * tr,
            "nr={nr} ng={ng} d={d}: FID {} vs {want} (trace {tr}, {:?}, seed {})",
            f.value,
            f.route,
            base_seed()
        );
        assert!(want > 1e-2 * tr, "the sets must differ for the test to mean anything");
        // fid() returns the same value.
        let v = fid(&upload(&x, &[nr, d]), &upload(&y, &[ng, d])).unwrap();
        assert!((v - f.value).abs() <= 1e-6 * tr);
    }
}

/// n < d (singular covariances, the minority-class case): finite, equal to
/// the exact f64 value (ε = 0) within 1e-4·trace, and close to pytorch-fid's
/// formula with ε = 1e-6 added to both covariances. That ε moves the reference
/// itself: eigenvalues of (Σ_r + εI)(Σ_g + εI) in the null space of one
/// covariance become ≈ ε·λ, adding √(ελ) each, at most 2·√(ε·d·trace) in all
/// (Cauchy–Schwarz), which is added to the tolerance for that comparison.
#[test]
fn fid_singular_covariance() {
    let mut rng = Rng::new(0xF1D6);
    let (nr, ng, d) = (25usize, 30usize, 80usize);
    let x = features(&mut rng, nr, d, 0.0, 1.0);
    let y = features(&mut rng, ng, d, 0.2, 1.3);
    let f = fid_with(&upload(&x, &[nr, d]), &upload(&y, &[ng, d]), &SqrtmOptions::default()).unwrap();
    assert!(f.value.is_finite());
    assert_eq!(f.route, FidRoute::Gram);
    let (exact, tr) = fid_ref(&x, nr, &y, ng, d, 0.0);
    let (with_eps, _) = fid_ref(&x, nr, &y, ng, d, FID_EPS);
    eprintln!(
        "fid singular: {} vs exact {exact}, with ε {with_eps}, trace {tr}",
        f.value
    );
    assert!(
        (f.value - exact).abs() <= 1e-4 * tr,
        "FID {} vs exact {exact} (trace {tr}, seed {})",
        f.value,
        base_seed()
    );
    let bias = 2.0 * (FID_EPS * d as f64 * tr).sqrt();
    assert!(
        (f.value - with_eps).abs() <= 1e-4 * tr + bias,
        "FID {} vs pytorch-fid with ε {with_eps} (trace {tr}, seed {})",
        f.value,
        base_seed()
    );
}

/// A collapsed generator: n = 200 > d generated features that differ only by
/// noise whose scales fall geometrically over six decades, against ordinary
/// real features. The matrix square-rooted on the covariance route then has
/// eigenvalues down to the f32 rounding level; rounding makes some slightly
/// negative, and Newton–Schulz, still converging on the small positive ones,
/// diverges along them (one of the four seeds does, at iteration 25). The
/// FID must still be the f64 value (within the square root's tolerance),
/// never a number like the −4e19 trace
/// (FID 8e19) a collapsed BAGAN once got: Cauchy–Schwarz bounds
/// 0 ≤ Tr √(Σ_r Σ_g) ≤ √(Tr Σ_r · Tr Σ_g), so FID ≥ ‖μ_r − μ_g‖² +
/// (√Tr Σ_r − √Tr Σ_g)² ≥ 0.
#[test]
fn fid_of_a_collapsed_generator_is_finite_and_bounded() {
    let (n, d) = (200usize, 128usize);
    let mut worst: f64 = 0.0;
    for seed in 0..4u64 {
        let mut rng = Rng::new(0xC011 + seed);
        let x = features(&mut rng, n, d, 0.0, 1.0);
        let base = gaussian(&mut rng, d);
        let mut y = vec![0.0f32; n * d];
        for i in 0..n {
            let z = gaussian(&mut rng, d);
            for a in 0..d {
                let scale = 1e-2 * 1e-6f64.powf(a as f64 / (d - 1) as f64);
                y[i * d + a] = (base[a] + scale * z[a]) as f32;
            }
        }
        let f = fid_with(&upload(&x, &[n, d]), &upload(&y, &[n, d]), &SqrtmOptions::default()).unwrap();
        assert_eq!(f.route, FidRoute::Covariance);
        let bound = (f.trace_real * f.trace_gen).sqrt();
        assert!(
            f.trace_sqrt.is_finite() && f.trace_sqrt >= 0.0 && f.trace_sqrt <= bound * (1.0 + 1e-3),
            "seed {seed}: Tr √(Σ_r Σ_g) = {} outside [0, {bound}]",
            f.trace_sqrt
        );
        let (exact, tr) = fid_ref(&x, n, &y, n, d, 0.0);
        // Lost eigenvalues below f32 resolution make FID too high by at most
        // 2·Σ√λ_lost ≤ 2·√(d·1e-7·‖C‖_F), far below 1e-3 of the traces here.
        assert!(
            (f.value - exact).abs() <= 1e-3 * tr,
            "seed {seed}: FID {} vs f64 {exact} (traces {tr})",
            f.value
        );
        worst = worst.max((f.value - exact).abs() / tr);
    }
    eprintln!("collapsed generator: worst |FID − f64| / traces = {worst:.2e}");
}

/// The statistics path (covariance route) agrees with the features path, and
/// feature_stats matches the f64 statistics (1e-5 relative to the largest
/// entry: f32 sums over n = 300 centred products).
#[test]
fn fid_from_stats_agrees() {
    let mut rng = Rng::new(0xF1D7);
    let (n, d) = (300usize, 32usize);
    let x = features(&mut rng, n, d, 0.0, 1.0);
    let y = features(&mut rng, n, d, 1.0, 0.7);
    let (tx, ty) = (upload(&x, &[n, d]), upload(&y, &[n, d]));
    let (sx, sy) = (feature_stats(&tx).unwrap(), feature_stats(&ty).unwrap());
    let (mu, cov) = stats_ref(&x, n, d);
    let scale = cov.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
    for (g, w) in sx.cov.to_vec().unwrap().iter().zip(&cov) {
        assert!((*g as f64 - w).abs() <= 1e-5 * scale, "cov {g} vs {w}");
    }
    for (g, w) in sx.mean.to_vec().unwrap().iter().zip(&mu) {
        assert!((*g as f64 - w).abs() <= 1e-5 * (1.0 + w.abs()), "mean {g} vs {w}");
    }
    let a = fid_from_stats(&sx.mean, &sx.cov, &sy.mean, &sy.cov).unwrap();
    let b = fid_with(&tx, &ty, &SqrtmOptions::default()).unwrap();
    assert!((a.value - b.value).abs() <= 1e-4 * (b.trace_real + b.trace_gen));
}

/// Precomputed statistics of a minority class (n < d, Σ singular) through the
/// covariance route: Newton–Schulz on a singular Σ leaves the square roots of
/// its f32 rounding noise (≈ √(1e-7) relative) in the d − n null directions,
/// so the tolerance is looser than the Gram route's: 1e-3·trace.
#[test]
fn fid_from_stats_singular() {
    let mut rng = Rng::new(0xF1D8);
    let (n, d) = (30usize, 48usize);
    let x = features(&mut rng, n, d, 0.0, 1.0);
    let y = features(&mut rng, n, d, 0.4, 1.2);
    let (sx, sy) = (
        feature_stats(&upload(&x, &[n, d])).unwrap(),
        feature_stats(&upload(&y, &[n, d])).unwrap(),
    );
    let f = fid_from_stats(&sx.mean, &sx.cov, &sy.mean, &sy.cov).unwrap();
    let (want, tr) = fid_ref(&x, n, &y, n, d, 0.0);
    eprintln!(
        "fid_from_stats singular: {} vs {want}, |diff|/trace {:.1e}, ε {}, {} iterations",
        f.value,
        (f.value - want).abs() / tr,
        f.epsilon,
        f.iterations
    );
    assert!(
        f.value.is_finite() && (f.value - want).abs() <= 1e-3 * tr,
        "FID {} vs {want} (trace {tr}, seed {})",
        f.value,
        base_seed()
    );
}

#[test]
fn fid_errors_name_the_input() {
    let good = upload(&[0.0, 1.0, 2.0, 3.0, 4.0, 6.0], &[3, 2]);
    let one = upload(&[0.0, 1.0], &[1, 2]);
    let e = fid(&good, &one).unwrap_err().to_string();
    assert!(e.contains("generated") && e.contains("at least 2"), "{e}");
    let e = fid(&one, &good).unwrap_err().to_string();
    assert!(e.contains("real"), "{e}");
    let wide = upload(&[0.0; 9], &[3, 3]);
    let e = fid(&good, &wide).unwrap_err().to_string();
    assert!(e.contains("same dimension"), "{e}");
    let nan = upload(&[0.0, 1.0, f32::NAN, 3.0, 4.0, 6.0], &[3, 2]);
    let e = fid(&nan, &good).unwrap_err().to_string();
    assert!(e.contains("real") && e.contains("NaN"), "{e}");
    let inf = upload(&[0.0, 1.0, 2.0, f32::INFINITY, 4.0, 6.0], &[3, 2]);
    let e = fid(&good, &inf).unwrap_err().to_string();
    assert!(e.contains("generated") && e.contains("Inf"), "{e}");
    let flat = upload(&[0.0; 6], &[6]);
    assert!(fid(&flat, &good).is_err());
}

// ---------- .npy / .npz ----------

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("balgan-fid-test-{}-{name}", std::process::id()))
}

#[test]
fn npy_round_trips() {
    let v32: Vec<f32> = vec![1.5, -2.0, 3.25, 1e-20, f32::MAX, 0.0];
    let bytes32: Vec<u8> = v32.iter().flat_map(|v| v.to_le_bytes()).collect();
    let f32_file = npy_bytes("<f4", false, "(2, 3)", &bytes32);
    let path = temp_path("a.npy");
    std::fs::write(&path, &f32_file).unwrap();
    let a = read_npy(&path).unwrap();
    std::fs::remove_file(&path).ok();
    assert_eq!(a.shape, vec![2, 3]);
    assert_eq!(a.dtype, NpyDtype::F32);
    assert_eq!(a.to_f32(), v32);
    let t = a.to_tensor(dev()).unwrap();
    assert_eq!(t.shape(), &[2, 3]);
    assert_eq!(t.to_vec().unwrap(), v32);

    let v64: Vec<f64> = vec![std::f64::consts::PI, -1e300, 0.1];
    let bytes64: Vec<u8> = v64.iter().flat_map(|v| v.to_le_bytes()).collect();
    let b = parse_npy(&npy_bytes("<f8", false, "(3,)", &bytes64), "b.npy").unwrap();
    assert_eq!(
        (b.shape.clone(), b.dtype, b.data.clone()),
        (vec![3], NpyDtype::F64, v64.clone())
    );
    let c = parse_npy(&npy_bytes("<f8", false, "(1, 3)", &bytes64), "c.npy").unwrap();
    assert_eq!(c.shape, vec![1, 3]);

    let zpath = temp_path("s.npz");
    std::fs::write(
        &zpath,
        zip_bytes(&[
            ("mu.npy", npy_bytes("<f8", false, "(3,)", &bytes64)),
            ("x.npy", f32_file.clone()),
        ]),
    )
    .unwrap();
    let z = read_npz(&zpath).unwrap();
    std::fs::remove_file(&zpath).ok();
    assert_eq!(z.len(), 2);
    assert_eq!(z[0].0, "mu");
    assert_eq!(z[0].1.data, v64);
    assert_eq!(z[1].0, "x");
    assert_eq!(z[1].1.to_f32(), v32);
}

#[test]
fn npy_errors_name_the_file() {
    let data: Vec<u8> = (0..6u32).flat_map(|v| (v as f32).to_le_bytes()).collect();
    let good = npy_bytes("<f4", false, "(2, 3)", &data);
    // Truncated data and truncated header.
    let e = parse_npy(&good[..good.len() - 3], "cut.npy").unwrap_err().to_string();
    assert!(e.contains("cut.npy") && e.contains("truncated"), "{e}");
    let e = parse_npy(&good[..20], "cut2.npy").unwrap_err().to_string();
    assert!(e.contains("cut2.npy") && e.contains("truncated"), "{e}");
    // Unsupported dtypes, Fortran order, rank 3.
    let e = parse_npy(&npy_bytes("<i4", false, "(2, 3)", &data), "int.npy")
        .unwrap_err()
        .to_string();
    assert!(e.contains("int.npy") && e.contains("'<i4'"), "{e}");
    let e = parse_npy(&npy_bytes(">f4", false, "(2, 3)", &data), "be.npy")
        .unwrap_err()
        .to_string();
    assert!(e.contains("be.npy") && e.contains("dtype"), "{e}");
    let e = parse_npy(&npy_bytes("<f4", true, "(2, 3)", &data), "f.npy")
        .unwrap_err()
        .to_string();
    assert!(e.contains("f.npy") && e.contains("Fortran"), "{e}");
    let e = parse_npy(&npy_bytes("<f4", false, "(1, 2, 3)", &data), "r3.npy")
        .unwrap_err()
        .to_string();
    assert!(e.contains("r3.npy") && e.contains("rank"), "{e}");
    let e = parse_npy(b"PK\x03\x04 not npy", "z.npy").unwrap_err().to_string();
    assert!(e.contains("z.npy"), "{e}");
    // npz: truncated archive, a member cut short, a deflated member.
    let z = zip_bytes(&[("x.npy", good.clone())]);
    let e = parse_npz(&z[..z.len() - 10], "cut.npz").unwrap_err().to_string();
    assert!(e.contains("cut.npz"), "{e}");
    let mut z2 = z.clone();
    z2[8] = 8; // local header method: ignored; central directory method below
    let cd = z2.len() - 22 - (46 + 5);
    z2[cd + 10] = 8;
    let e = parse_npz(&z2, "deflate.npz").unwrap_err().to_string();
    assert!(e.contains("deflate.npz") && e.contains("np.savez"), "{e}");
    let e = read_npz(temp_path("missing.npz")).unwrap_err().to_string();
    assert!(e.contains("missing.npz"), "{e}");
}

#[test]
fn npz_skips_members_it_does_not_hold() {
    // Features saved beside int64 labels, a rank-3 image array, a
    // Fortran-order array and a bool flag (as np.savez would write them).
    let feats: Vec<f32> = vec![0.5, -1.0, 2.0, 4.0];
    let fbytes: Vec<u8> = feats.iter().flat_map(|v| v.to_le_bytes()).collect();
    let labels: Vec<u8> = (0..2i64).flat_map(|v| v.to_le_bytes()).collect();
    let img: Vec<u8> = (0..8).flat_map(|v| (v as f32).to_le_bytes()).collect();
    let z = zip_bytes(&[
        ("labels.npy", npy_bytes("<i8", false, "(2,)", &labels)),
        ("features.npy", npy_bytes("<f4", false, "(2, 2)", &fbytes)),
        ("images.npy", npy_bytes("<f4", false, "(2, 2, 2)", &img)),
        ("fort.npy", npy_bytes("<f4", true, "(2, 2)", &fbytes)),
        ("flag.npy", npy_bytes("|b1", false, "()", &[1])),
    ]);
    let all = parse_npz(&z, "mixed.npz").unwrap();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].0, "features");
    assert_eq!(all[0].1.to_f32(), feats);

    let members = parse_npz_members(&z, "mixed.npz").unwrap();
    let names: Vec<&str> = members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["labels", "features", "images", "fort", "flag"]);
    let why = |i: usize| members[i].array.clone().unwrap_err();
    assert!(why(0).contains("'<i8'"), "{}", why(0));
    assert!(why(2).contains("rank-3"), "{}", why(2));
    assert!(why(3).contains("Fortran"), "{}", why(3));
    assert!(why(4).contains("'|b1'"), "{}", why(4));
    assert!(members[1].array.is_ok());

    // A corrupt member is still an error, even one the caller would not use.
    let cut = npy_bytes("<i8", false, "(2,)", &labels);
    let z2 = zip_bytes(&[
        ("labels.npy", cut[..5].to_vec()),
        ("features.npy", npy_bytes("<f4", false, "(2, 2)", &fbytes)),
    ]);
    let e = parse_npz(&z2, "bad.npz").unwrap_err().to_string();
    assert!(e.contains("bad.npz[labels.npy]"), "{e}");
}
