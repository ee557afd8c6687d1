//! KID against an f64 reference of the unbiased MMD² estimator written from
//! Bińkowski et al.'s formula (full kernel matrices, the sums over i ≠ j taken
//! as the whole sum minus the diagonal), a value worked by hand, both of the
//! implementation's routes (kernel matrices formed once, or per subset), and
//! its behaviour on samples of one and of two distributions.

use balgan::metrics::kid::{kid, kid_subsets, mmd2_unbiased, polynomial_kernel, KidOptions, PRECOMPUTE_ENTRIES};

use crate::common::{base_seed, Rng};

/// k(x, y) = (⟨x, y⟩/d + 1)³ in f64.
fn k_ref(x: &[f64], y: &[f64]) -> f64 {
    let d = x.len() as f64;
    (x.iter().zip(y).map(|(a, b)| a * b).sum::<f64>() / d + 1.0).powi(3)
}

/// MMD²_u of the rows `r` of `real` and `g` of `gen` (|r| = |g| = m):
/// [Σ K_xx − tr K_xx + Σ K_yy − tr K_yy] / (m(m−1)) − 2·Σ K_xy / m².
fn mmd_ref(real: &[f32], gen: &[f32], d: usize, r: &[usize], g: &[usize]) -> f64 {
    let row = |f: &[f32], i: usize| -> Vec<f64> { f[i * d..(i + 1) * d].iter().map(|&v| v as f64).collect() };
    let xs: Vec<Vec<f64>> = r.iter().map(|&i| row(real, i)).collect();
    let ys: Vec<Vec<f64>> = g.iter().map(|&i| row(gen, i)).collect();
    let m = xs.len() as f64;
    let sum_all =
        |a: &[Vec<f64>], b: &[Vec<f64>]| -> f64 { a.iter().flat_map(|u| b.iter().map(move |v| k_ref(u, v))).sum() };
    let trace = |a: &[Vec<f64>]| -> f64 { a.iter().map(|u| k_ref(u, u)).sum() };
    (sum_all(&xs, &xs) - trace(&xs) + sum_all(&ys, &ys) - trace(&ys)) / (m * (m - 1.0))
        - 2.0 * sum_all(&xs, &ys) / (m * m)
}

/// Gaussian features (Box–Muller), shifted by `shift` in every dimension.
fn gaussian(rng: &mut Rng, n: usize, d: usize, shift: f64) -> Vec<f32> {
    (0..n * d)
        .map(|_| {
            let (u, v) = (rng.unit().max(1e-300), rng.unit());
            ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos() + shift) as f32
        })
        .collect()
}

/// Relative closeness for f64 sums of a few thousand kernel values of size
/// ≲ 10³: different summation orders leave ~1e-13 relative; 1e-9 of the
/// scale (the largest kernel value) is far above that and far below any
/// mistake in the estimator (a wrong diagonal or normalisation moves the
/// value by a kernel value over m).
fn close(got: f64, want: f64, scale: f64) -> bool {
    (got - want).abs() <= 1e-9 * scale.max(1.0)
}

#[test]
fn kernel_and_a_value_worked_by_hand() {
    // d = 2: ⟨(1, 2), (3, −1)⟩ = 1, so k = (1/2 + 1)³ = 3.375.
    assert_eq!(polynomial_kernel(&[1.0, 2.0], &[3.0, -1.0]), 3.375);
    // d = 1, real = gen = {1, −1}: k(1, 1) = k(−1, −1) = 8, k(1, −1) = 0.
    // Within-set sums over i ≠ j: 0 and 0; cross sum over all 4 pairs: 16.
    // MMD²_u = 0 + 0 − 2·16/4 = −8: the unbiased estimate of two identical
    // sets is negative, not 0.
    let v = mmd2_unbiased(&[1.0, -1.0], &[1.0, -1.0], 1).unwrap();
    assert_eq!(v, -8.0);
    // real = {1, −1}, gen = {2, 2}: K_yy off-diagonal k(2, 2) = 5³ = 125
    // twice, over 2: 125; cross: k(1, 2) = 27 twice, k(−1, 2) = −1 twice:
    // 52, −2·52/4 = −26.
    let v = mmd2_unbiased(&[1.0, -1.0], &[2.0, 2.0], 1).unwrap();
    assert_eq!(v, 0.0 + 125.0 - 26.0);
}

#[test]
fn kid_matches_f64_reference_over_its_subsets() {
    let mut rng = Rng::new(0x41D);
    let d = 8;
    let (nr, ng) = (30, 25);
    let real = gaussian(&mut rng, nr, d, 0.0);
    let gen = gaussian(&mut rng, ng, d, 0.3);
    let opts = KidOptions {
        subsets: 12,
        max_subset: 20,
        seed: base_seed(),
    };
    let got = kid(&real, &gen, d, &opts).unwrap();
    let subsets = kid_subsets(nr, ng, &opts);
    assert_eq!(subsets.len(), 12);
    for (r, g) in &subsets {
        assert_eq!((r.len(), g.len()), (20, 20), "m = min(30, 25, 20)");
        let mut u = r.clone();
        u.sort();
        u.dedup();
        assert_eq!(u.len(), 20, "drawn without replacement");
        assert!(r.iter().all(|&i| i < nr) && g.iter().all(|&i| i < ng));
    }
    assert_ne!(subsets[0], subsets[1], "subsets differ");
    let vals: Vec<f64> = subsets.iter().map(|(r, g)| mmd_ref(&real, &gen, d, r, g)).collect();
    let mean = vals.iter().sum::<f64>() / vals.len() as f64;
    let std = (vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64).sqrt();
    let scale = 30.0; // kernel values of these features are ≲ 30
    assert!(
        close(got.mean, mean, scale) && close(got.std, std, scale),
        "KID {got:?} vs reference mean {mean}, std {std} (seed {})",
        base_seed()
    );
    assert_eq!((got.subset_size, got.subsets), (20, 12));
    assert!(std > 0.0, "subsets of 20 from 30 and 25 differ: {vals:?}");

    // Subsets as large as both sets: every subset is the whole of both, the
    // mean is the estimate on all features and the spread is 0.
    let whole = kid(
        &real[..25 * d],
        &gen,
        d,
        &KidOptions {
            seed: 3,
            max_subset: 1000,
            ..opts
        },
    )
    .unwrap();
    let all: Vec<usize> = (0..25).collect();
    let want = mmd_ref(&real, &gen, d, &all, &all);
    assert!(close(whole.mean, want, scale), "{whole:?} vs {want}");
    assert!(whole.std <= 1e-12 * scale, "{whole:?}");
    assert!(close(mmd2_unbiased(&real[..25 * d], &gen, d).unwrap(), want, scale));
}

#[test]
fn kid_of_large_sets_evaluates_the_kernel_per_subset() {
    // n_r² + n_g² + n_r·n_g above PRECOMPUTE_ENTRIES: no kernel matrices are
    // formed up front; the values must still be the reference's.
    let mut rng = Rng::new(0xB16);
    let d = 2;
    let n = ((PRECOMPUTE_ENTRIES / 3) as f64).sqrt() as usize + 2;
    assert!(3 * n * n > PRECOMPUTE_ENTRIES);
    let real = gaussian(&mut rng, n, d, 0.0);
    let gen = gaussian(&mut rng, n, d, 1.0);
    let opts = KidOptions {
        subsets: 3,
        max_subset: 40,
        seed: 17,
    };
    let got = kid(&real, &gen, d, &opts).unwrap();
    let vals: Vec<f64> = kid_subsets(n, n, &opts)
        .iter()
        .map(|(r, g)| mmd_ref(&real, &gen, d, r, g))
        .collect();
    let mean = vals.iter().sum::<f64>() / 3.0;
    assert!(close(got.mean, mean, 100.0), "{got:?} vs {mean}");
    assert_eq!(got.subset_size, 40);
}

#[test]
fn kid_is_near_zero_for_one_distribution_and_positive_for_two() {
    let mut rng = Rng::new(0x5A3E);
    let d = 16;
    let opts = KidOptions {
        subsets: 100,
        max_subset: 200,
        seed: base_seed(),
    };
    let a = gaussian(&mut rng, 400, d, 0.0);
    let b = gaussian(&mut rng, 400, d, 0.0);
    let same = kid(&a, &b, d, &opts).unwrap();
    // Unbiased: the mean over subsets is within a few of its subsets'
    // standard deviations of 0 (the mean of 100 overlapping subsets varies
    // less than one subset does; 4 deviations leaves a margin for the
    // skewed null distribution of MMD²_u).
    assert!(
        same.mean.abs() <= 4.0 * same.std,
        "same distribution: KID {} ± {} (seed {})",
        same.mean,
        same.std,
        base_seed()
    );
    // A shift of 0.5 in every dimension: ‖Δμ‖² = 4, far outside the noise.
    let c = gaussian(&mut rng, 400, d, 0.5);
    let diff = kid(&a, &c, d, &opts).unwrap();
    assert!(
        diff.mean > 10.0 * diff.std && diff.mean > 10.0 * same.mean.abs().max(same.std),
        "different distributions: KID {diff:?} vs same {same:?} (seed {})",
        base_seed()
    );
}

#[test]
fn kid_rejects_bad_inputs() {
    let two = [0.0f32, 1.0, 2.0, 3.0];
    let opts = KidOptions::default();
    let e = kid(&two[..2], &two, 2, &opts).unwrap_err().to_string();
    assert!(e.contains("at least 2"), "{e}");
    assert!(kid(&two[..3], &two, 2, &opts).is_err(), "3 values are not rows of 2");
    assert!(kid(&two, &two, 0, &opts).is_err(), "d = 0");
    let nan = [0.0f32, f32::NAN, 2.0, 3.0];
    let e = kid(&two, &nan, 2, &opts).unwrap_err().to_string();
    assert!(e.contains("not finite"), "{e}");
    for bad in [KidOptions { subsets: 0, ..opts }, KidOptions { max_subset: 1, ..opts }] {
        assert!(kid(&two, &two, 2, &bad).is_err(), "{bad:?}");
    }
    assert!(
        mmd2_unbiased(&two, &[0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 2).is_err(),
        "one estimate takes as many of each"
    );
}
