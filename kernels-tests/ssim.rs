//! SSIM against a CPU f64 reference written from Wang et al.'s formula with
//! tf.image.ssim's settings (11×11 Gaussian window, σ = 1.5, K1 = 0.01,
//! K2 = 0.03, valid filtering, mean over the map and the channels), plus its
//! algebraic properties, closed forms and error paths.
//!
//! The reference builds the 2-D window directly as exp(−(i² + j²)/(2σ²))
//! normalised over all 121 taps (not as the product of 1-D windows the GPU
//! uses) and takes the variances around the windowed means in two passes,
//! Σ w·(x − μx)², rather than as E[x²] − μx².

use balgan::metrics::ssim::{pair_by_class, ssim, ssim_per_class, within_class_ssim};
use balgan::Tensor;

use crate::common::{base_seed, dev, tensor, Rng};

/// The 11×11 window, from the formula.
fn window() -> Vec<f64> {
    let mut w = Vec::with_capacity(121);
    for i in 0..11 {
        for j in 0..11 {
            let (di, dj) = (i as f64 - 5.0, j as f64 - 5.0);
            w.push((-(di * di + dj * dj) / (2.0 * 1.5 * 1.5)).exp());
        }
    }
    let s: f64 = w.iter().sum();
    w.into_iter().map(|v| v / s).collect()
}

/// SSIM of each pair of [n, c, h, w] images, in f64.
fn ssim_ref(a: &[f32], b: &[f32], shape: [usize; 4], l: f64) -> Vec<f64> {
    let [n, c, h, w] = shape;
    let win = window();
    let (c1, c2) = ((0.01 * l).powi(2), (0.03 * l).powi(2));
    let (ho, wo) = (h - 10, w - 10);
    (0..n)
        .map(|i| {
            let mut total = 0.0;
            for ch in 0..c {
                let base = (i * c + ch) * h * w;
                let px = |v: &[f32], y: usize, x: usize| v[base + y * w + x] as f64;
                for oy in 0..ho {
                    for ox in 0..wo {
                        let (mut mx, mut my) = (0.0, 0.0);
                        for ky in 0..11 {
                            for kx in 0..11 {
                                let wt = win[ky * 11 + kx];
                                mx += wt * px(a, oy + ky, ox + kx);
                                my += wt * px(b, oy + ky, ox + kx);
                            }
                        }
                        let (mut vx, mut vy, mut cxy) = (0.0, 0.0, 0.0);
                        for ky in 0..11 {
                            for kx in 0..11 {
                                let wt = win[ky * 11 + kx];
                                let dx = px(a, oy + ky, ox + kx) - mx;
                                let dy = px(b, oy + ky, ox + kx) - my;
                                vx += wt * dx * dx;
                                vy += wt * dy * dy;
                                cxy += wt * dx * dy;
                            }
                        }
                        total +=
                            ((2.0 * mx * my + c1) * (2.0 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
                    }
                }
            }
            total / (c * ho * wo) as f64
        })
        .collect()
}

/// A pair of images with a real structural relation: b = 0.7·a + 0.3·noise,
/// both spanning [lo, hi].
fn pair(rng: &mut Rng, shape: [usize; 4], lo: f32, hi: f32) -> (Vec<f32>, Vec<f32>) {
    let n: usize = shape.iter().product();
    let a = rng.uniform(n, lo, hi);
    let noise = rng.uniform(n, lo, hi);
    let b = a.iter().zip(&noise).map(|(x, z)| 0.7 * x + 0.3 * z).collect();
    (a, b)
}

fn run(a: &[f32], b: &[f32], shape: [usize; 4], l: f32) -> Vec<f64> {
    ssim(&tensor(a, &shape), &tensor(b, &shape), l).expect("ssim")
}

/// Tolerance against the f64 reference: the GPU works in f32 and forms the
/// variances as E[x²+y²] − (μx² + μy²), a difference of numbers of size ≤ L²/2
/// with rounding error ~1e-7·L². Divided by σx² + σy² + c2, which for these
/// uniform random images is ≳ 0.1·(L/2)² (a uniform value's variance is a
/// twelfth of its range squared), that is ~1e-6 relative per map position at
/// most, less in the mean (observed ≤ 4e-7 on lavapipe): 1e-5 leaves a 25×
/// margin over the observed error.
const REF_TOL: f64 = 1e-5;

fn check_against_ref(what: &str, a: &[f32], b: &[f32], shape: [usize; 4], l: f32) {
    let got = run(a, b, shape, l);
    let want = ssim_ref(a, b, shape, l as f64);
    assert_eq!(got.len(), shape[0], "{what}: one value per pair");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() <= REF_TOL,
            "{what} pair {i}: GPU {g} vs reference {w} (seed {})",
            base_seed()
        );
    }
}

#[test]
fn ssim_matches_f64_reference() {
    let mut rng = Rng::new(0x5519);
    // Minimal 11×11 (a 1×1 map), odd sizes, H ≠ W, 1 and 3 channels, 28×28.
    for shape in [
        [3, 1, 11, 11],
        [2, 3, 13, 17],
        [2, 1, 19, 12],
        [2, 3, 15, 11],
        [2, 1, 28, 28],
    ] {
        let (a, b) = pair(&mut rng, shape, -1.0, 1.0);
        check_against_ref(&format!("{shape:?}"), &a, &b, shape, 2.0);
        // Unrelated images too (SSIM near 0, cs terms of both signs).
        let c = rng.uniform(a.len(), -1.0, 1.0);
        check_against_ref(&format!("{shape:?} independent"), &a, &c, shape, 2.0);
    }
}

#[test]
fn ssim_of_identical_images_is_one() {
    let mut rng = Rng::new(0x1d);
    for shape in [[4, 1, 11, 11], [2, 3, 20, 13]] {
        let a = rng.uniform(shape.iter().product(), -1.0, 1.0);
        // Numerator and denominator are formed from the same f32 values
        // (2·μ·μ vs μ² + μ², 2·E[x·x] vs E[x² + x²]), so the ratio is 1 up to a
        // few f32 roundings: 1e-6.
        for (i, s) in run(&a, &a, shape, 2.0).iter().enumerate() {
            assert!((s - 1.0).abs() <= 1e-6, "SSIM(x, x) pair {i} of {shape:?} = {s}");
        }
    }
}

#[test]
fn ssim_is_symmetric() {
    let mut rng = Rng::new(0x5e);
    let shape = [3, 3, 16, 12];
    let (a, b) = pair(&mut rng, shape, -1.0, 1.0);
    let ab = run(&a, &b, shape, 2.0);
    let ba = run(&b, &a, shape, 2.0);
    // Every term is symmetric and f32 + and · commute: equal to rounding (1e-6).
    for (i, (x, y)) in ab.iter().zip(&ba).enumerate() {
        assert!((x - y).abs() <= 1e-6, "pair {i}: SSIM(a, b) = {x}, SSIM(b, a) = {y}");
        assert!(*x < 0.99, "pair {i}: different images must score below 1, got {x}");
    }
}

#[test]
fn constant_shift_lowers_ssim() {
    let mut rng = Rng::new(0xc5);
    let shape = [2, 1, 16, 16];
    // Positive means: with μx > 0 the luminance term 1 − d²/(μx² + (μx + d)² + c1)
    // falls monotonically in the shift d (around μx ≈ 0 it need not).
    let a = rng.uniform(shape.iter().product(), 0.0, 0.5);
    let shifted = |d: f32| -> Vec<f32> { a.iter().map(|x| x + d).collect() };
    let s: Vec<Vec<f64>> = [0.1f32, 0.3, 0.5]
        .iter()
        .map(|&d| run(&a, &shifted(d), shape, 2.0))
        .collect();
    for i in 0..2 {
        assert!(
            s[0][i] < 1.0 - 1e-4 && s[1][i] < s[0][i] && s[2][i] < s[1][i],
            "pair {i}: SSIM must fall as the shift grows, got {:?}",
            s.iter().map(|v| v[i]).collect::<Vec<_>>()
        );
    }
    // A shift leaves σ and σxy unchanged (cs = 1), so it lowers SSIM only
    // through the luminance term: check it against the reference too.
    check_against_ref("shift 0.3", &a, &shifted(0.3), shape, 2.0);
}

#[test]
fn data_range_enters_as_the_formula_says() {
    // Constant images p and q: σ = σxy = 0, so cs = c2/c2 = 1 and
    // SSIM = (2pq + c1)/(p² + q² + c1), c1 = (0.01·L)², exactly.
    let shape = [1, 1, 12, 14];
    let n = 12 * 14;
    let (p, q) = (0.5f32, 0.25f32);
    for l in [1.0f32, 2.0, 255.0] {
        let got = run(&vec![p; n], &vec![q; n], shape, l)[0];
        let c1 = (0.01 * l as f64).powi(2);
        let (p, q) = (p as f64, q as f64);
        let want = (2.0 * p * q + c1) / (p * p + q * q + c1);
        // f32 filtering: the window's f32 sum is 1 only to ~1e-7, and the
        // variance E[x²+y²] − (μx² + μy²) of values of size p² + q² ≈ 0.31 is
        // left with ~1e-7 of rounding, against c2 = (0.03·L)² ≥ 9e-4: up to
        // ~1e-4 relative in cs for L = 1. Tolerance 2e-4.
        assert!((got - want).abs() <= 2e-4, "L = {l}: SSIM {got}, formula {want}");
    }
    // On real images each range against the reference with that range, the
    // images scaled to it; a larger L (larger c1, c2) on the same pair moves
    // SSIM towards 1.
    let mut rng = Rng::new(0xda7a);
    let shape = [2, 3, 14, 13];
    let (a, b) = pair(&mut rng, shape, 0.0, 1.0);
    check_against_ref("[0, 1], L = 1", &a, &b, shape, 1.0);
    let bytes = |v: &[f32]| -> Vec<f32> { v.iter().map(|x| (x * 255.0).round()).collect() };
    check_against_ref("bytes, L = 255", &bytes(&a), &bytes(&b), shape, 255.0);
    let signed = |v: &[f32]| -> Vec<f32> { v.iter().map(|x| 2.0 * x - 1.0).collect() };
    check_against_ref("[-1, 1], L = 2", &signed(&a), &signed(&b), shape, 2.0);
    let small = run(&a, &b, shape, 1.0);
    let large = run(&a, &b, shape, 4.0);
    for (i, (lg, sm)) in large.iter().zip(&small).enumerate() {
        assert!(lg > sm, "pair {i}: L = 4 gives {lg}, L = 1 gives {sm}");
    }
}

#[test]
fn ssim_rejects_bad_inputs() {
    let d = dev();
    let a = Tensor::zeros(d, &[2, 1, 16, 16]).unwrap();
    let b = Tensor::zeros(d, &[2, 1, 16, 15]).unwrap();
    let e = ssim(&a, &b, 2.0).expect_err("mismatched shapes must fail").to_string();
    assert!(e.contains("shape"), "message should name the shape mismatch: {e}");
    let b3 = Tensor::zeros(d, &[3, 1, 16, 16]).unwrap();
    assert!(ssim(&a, &b3, 2.0).is_err(), "different batch sizes must fail");
    for small in [[1, 1, 10, 16], [1, 1, 16, 10], [1, 3, 8, 8]] {
        let x = Tensor::zeros(d, &small).unwrap();
        let e = ssim(&x, &x, 2.0)
            .expect_err("images below the window must fail")
            .to_string();
        assert!(e.contains("11×11"), "message should state the window size: {e}");
    }
    let flat = Tensor::zeros(d, &[2, 256]).unwrap();
    assert!(ssim(&flat, &flat, 2.0).is_err(), "rank-2 input must fail");
    for l in [0.0f32, -1.0, f32::NAN] {
        assert!(ssim(&a, &a, l).is_err(), "data range {l} must fail");
    }
}

#[test]
fn per_class_pairing_is_fixed_and_matches_pairwise_ssim() {
    let gen_labels = [0, 1, 0, 2, 0, 1, 0];
    let real_labels = [1, 0, 3, 1, 1, 0, 1];
    let pairs = pair_by_class(&gen_labels, &real_labels, 4, 7).unwrap();
    assert_eq!(
        pairs,
        pair_by_class(&gen_labels, &real_labels, 4, 7).unwrap(),
        "same seed, same pairs"
    );
    // Class 0: 4 generated (0, 2, 4, 6), 2 real (1, 5), cycled: every real
    // image twice, each generated image once, in order.
    let p0 = &pairs[0];
    assert_eq!(p0.iter().map(|p| p.0).collect::<Vec<_>>(), vec![0, 2, 4, 6]);
    assert_eq!(p0[0].1, p0[2].1);
    assert_eq!(p0[1].1, p0[3].1);
    let mut r: Vec<usize> = vec![p0[0].1, p0[1].1];
    r.sort();
    assert_eq!(r, vec![1, 5]);
    // Class 1: 2 generated, 4 real: two distinct real images of class 1.
    assert_eq!(pairs[1].len(), 2);
    assert!(pairs[1].iter().all(|p| [0, 3, 4, 6].contains(&p.1)) && pairs[1][0].1 != pairs[1][1].1);
    // Class 2 has no real image, class 3 no generated one.
    assert!(pairs[2].is_empty() && pairs[3].is_empty());
    // Some seed must reorder a class of 3 real images (6 orders).
    let many_real = [0usize; 3];
    let orders: std::collections::HashSet<Vec<(usize, usize)>> = (0..20)
        .map(|s| pair_by_class(&[0, 0, 0], &many_real, 1, s).unwrap()[0].clone())
        .collect();
    assert!(orders.len() > 1, "the seed must change the pairing");
    assert!(
        pair_by_class(&[0, 5], &[0], 4, 0).is_err(),
        "label ≥ num_classes must fail"
    );

    // The per-class means equal the mean of pairwise SSIM over those pairs.
    let mut rng = Rng::new(0xc1a55);
    let chw = 12 * 12;
    let gen = rng.uniform(gen_labels.len() * chw, -1.0, 1.0);
    let real: Vec<f32> = (0..real_labels.len() * chw)
        .map(|i| 0.6 * gen[i % gen.len()] + 0.4 * (rng.unit() as f32 * 2.0 - 1.0))
        .collect();
    let gt = tensor(&gen, &[gen_labels.len(), 1, 12, 12]);
    let rt = tensor(&real, &[real_labels.len(), 1, 12, 12]);
    let got = ssim_per_class(&gt, &gen_labels, &rt, &real_labels, 4, 2.0, 7).unwrap();
    assert_eq!(got.len(), 4);
    assert!(
        got[2].is_none() && got[3].is_none(),
        "classes without pairs give None: {got:?}"
    );
    for (k, class_pairs) in pairs.iter().enumerate().take(2) {
        let vals: Vec<f64> = class_pairs
            .iter()
            .map(|&(g, r)| {
                ssim_ref(
                    &gen[g * chw..(g + 1) * chw],
                    &real[r * chw..(r + 1) * chw],
                    [1, 1, 12, 12],
                    2.0,
                )[0]
            })
            .collect();
        let want = vals.iter().sum::<f64>() / vals.len() as f64;
        let g = got[k].expect("class with pairs");
        assert!((g - want).abs() <= REF_TOL, "class {k}: {g} vs reference {want}");
    }
}

#[test]
fn large_sets_are_split_into_passes_consistently() {
    // 260 pairs of 128×128 = 4.26M floats per map, above the 2²² floats of
    // one pass, so ssim runs two passes; each pair's value must not depend on
    // which pass it fell into: compare with the pairs evaluated in small sets,
    // and the last pair with the reference.
    let mut rng = Rng::new(0x1a26e);
    let shape = [260, 1, 128, 128];
    let (a, b) = pair(&mut rng, shape, -1.0, 1.0);
    let all = run(&a, &b, shape, 2.0);
    assert_eq!(all.len(), 260);
    let img = 128 * 128;
    for start in [0usize, 100, 255] {
        let part = [5, 1, 128, 128];
        let sub = run(
            &a[start * img..(start + 5) * img],
            &b[start * img..(start + 5) * img],
            part,
            2.0,
        );
        for (i, s) in sub.iter().enumerate() {
            // Same kernels on the same data: equal up to reduction order (1e-6).
            assert!(
                (s - all[start + i]).abs() <= 1e-6,
                "pair {}: {s} alone vs {} in the set",
                start + i,
                all[start + i]
            );
        }
    }
    let want = ssim_ref(&a[259 * img..], &b[259 * img..], [1, 1, 128, 128], 2.0)[0];
    assert!(
        (all[259] - want).abs() <= REF_TOL,
        "last pair: {} vs reference {want}",
        all[259]
    );
}

#[test]
fn per_class_rejects_bad_inputs() {
    let d = dev();
    let g = Tensor::zeros(d, &[2, 1, 12, 12]).unwrap();
    let r = Tensor::zeros(d, &[3, 1, 12, 13]).unwrap();
    assert!(
        ssim_per_class(&g, &[0, 1], &r, &[0, 1, 1], 2, 2.0, 0).is_err(),
        "different image sizes"
    );
    let r = Tensor::zeros(d, &[3, 1, 12, 12]).unwrap();
    assert!(
        ssim_per_class(&g, &[0], &r, &[0, 1, 1], 2, 2.0, 0).is_err(),
        "label count"
    );
    assert!(
        ssim_per_class(&g, &[0, 1], &r, &[0, 1, 2], 2, 2.0, 0).is_err(),
        "label ≥ classes"
    );
    assert!(
        ssim_per_class(&g, &[0, 1], &r, &[0, 1, 1], 2, 0.0, 0).is_err(),
        "data range 0"
    );
    let small = Tensor::zeros(d, &[1, 1, 8, 8]).unwrap();
    let e = ssim_per_class(&small, &[0], &small, &[1], 2, 2.0, 0)
        .expect_err("below the window")
        .to_string();
    assert!(e.contains("11×11"), "message should state the window size: {e}");
}

/// Within-class SSIM, the diversity measure: a class whose images are all the
/// same image scores 1, a class of independent noise images scores near 0
/// (SSIM of independent uniform noise has mean ≈ 0; 16 pairs of 16×16 maps
/// leave a spread of a few hundredths, hence the 0.1 bound), one image gives
/// `None`, and the collapse warning follows the margin.
#[test]
fn within_class_ssim_separates_collapsed_from_varied_classes() {
    let side = 16;
    let per = side * side;
    let mut rng = Rng::new(0xD1_5E);
    let one = rng.uniform(per, -1.0, 1.0);
    let mut data = Vec::new();
    let mut labels = Vec::new();
    for _ in 0..16 {
        data.extend_from_slice(&one); // class 0: one image repeated
        labels.push(0);
        data.extend(rng.uniform(per, -1.0, 1.0)); // class 1: independent noise
        labels.push(1);
    }
    data.extend(rng.uniform(per, -1.0, 1.0)); // class 2: a single image
    labels.push(2);
    let x = tensor(&data, &[labels.len(), 1, side, side]);
    let w = within_class_ssim(&x, &labels, 4, 2.0).unwrap();
    assert!((w[0].unwrap() - 1.0).abs() < 1e-5, "{w:?}");
    assert!(w[1].unwrap().abs() < 0.1, "{w:?}");
    assert_eq!(w[2], None);
    assert_eq!(w[3], None);
    assert!(
        within_class_ssim(&x, &labels, 2, 2.0).is_err(),
        "label 2 with 2 classes"
    );

    // The report's collapse flag (the `cli` feature) reads the same numbers.
    #[cfg(feature = "cli")]
    {
        let class = |g: f64, r: f64| balgan::cli::eval::ClassEval {
            name: "c".into(),
            train_images: 1,
            test_images: 1,
            generated: 1,
            within_generated: Some(g),
            within_real: Some(r),
            ..Default::default()
        };
        assert!(class(w[0].unwrap(), w[1].unwrap()).collapse_suspected());
        assert!(!class(w[1].unwrap(), w[1].unwrap()).collapse_suspected());
    }
}

#[test]
fn host_ssim_rejects_bad_inputs() {
    use balgan::metrics::classifier::Images;
    use balgan::metrics::ssim::{ssim_per_class_host, within_class_ssim_host};
    let d = dev();
    let v = vec![0.5f32; 2 * 16 * 16];
    let ok = Images {
        data: &v,
        shape: [2, 1, 16, 16],
    };
    let short = Images {
        data: &v[1..],
        shape: [2, 1, 16, 16],
    };
    let small = Images {
        data: &v,
        shape: [2, 1, 8, 32],
    };
    let e = ssim_per_class_host(d, short, &[0, 1], ok, &[0, 1], 2, 2.0, 0, 4).unwrap_err();
    assert!(e.to_string().contains("need 512 values"), "{e}");
    let e = ssim_per_class_host(d, ok, &[0], ok, &[0, 1], 2, 2.0, 0, 4).unwrap_err();
    assert!(e.to_string().contains("1 generated labels for 2 images"), "{e}");
    assert!(ssim_per_class_host(d, ok, &[0, 1], small, &[0, 1], 2, 2.0, 0, 4).is_err());
    assert!(
        ssim_per_class_host(d, small, &[0, 1], small, &[0, 1], 2, 2.0, 0, 4).is_err(),
        "H < 11"
    );
    assert!(
        ssim_per_class_host(d, ok, &[0, 2], ok, &[0, 1], 2, 2.0, 0, 4).is_err(),
        "label ≥ classes"
    );
    let e = within_class_ssim_host(d, ok, &[0, 3], 2, 2.0, 4).unwrap_err();
    assert!(e.to_string().contains("label 3 at index 1"), "{e}");
    assert!(within_class_ssim_host(d, short, &[0, 0], 2, 2.0, 4).is_err());
}

/// The Fashion-MNIST test split as balgan loads it (images in [−1, 1]).
fn fashion_test() -> balgan::data::Dataset {
    use balgan::data::fashion_mnist::{fashion_mnist, FASHION_MNIST_DEBIAN_DIR};
    let ds = fashion_mnist(
        balgan::data::Split::Test,
        Some(std::path::Path::new(FASHION_MNIST_DEBIAN_DIR)),
    )
    .expect("Fashion-MNIST test split");
    assert_eq!(ds.shape(), [10_000, 1, 28, 28]);
    ds
}

/// Global SSIM from its formula, written with raw sums:
/// σxy = (Σ xy − Σx·Σy/N)/(N − 1), σx² = (Σ x² − (Σx)²/N)/(N − 1).
fn global_ref(x: &[f32], y: &[f32], l: f64) -> f64 {
    let n = x.len() as f64;
    let (mut sx, mut sy, mut sxx, mut syy, mut sxy) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        let (a, b) = (a as f64, b as f64);
        sx += a;
        sy += b;
        sxx += a * a;
        syy += b * b;
        sxy += a * b;
    }
    let (mx, my) = (sx / n, sy / n);
    let vx = (sxx - sx * sx / n) / (n - 1.0);
    let vy = (syy - sy * sy / n) / (n - 1.0);
    let cxy = (sxy - sx * sy / n) / (n - 1.0);
    let (c1, c2) = ((0.01 * l).powi(2), (0.03 * l).powi(2));
    ((2.0 * mx * my + c1) * (2.0 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
}

/// The published convention on real images: Fashion-MNIST test pairs (of one
/// class and of two classes) mapped to [0, 1], SSIM with data range 1,
/// against the f64 reference (scikit-image's `structural_similarity` with
/// `gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
/// data_range=1` averages the same valid positions with the same window);
/// the same pairs on [−1, 1] with range 2 give other numbers; and the global
/// form against its formula.
#[test]
fn ssim_on_unit_range_matches_reference_on_fashion_mnist_pairs() {
    use balgan::metrics::ssim::{global_ssim, unit_range, UNIT_DATA_RANGE};
    if !crate::common::fashion_mnist_or_skip() {
        return;
    }
    let mut rng = Rng::new(0xFA5);
    let n = 16;
    let first: Vec<usize> = (0..n).map(|_| (rng.next_u64() % 10_000) as usize).collect();
    let ds = fashion_test();
    let (images, labels) = (ds.images(), ds.labels());
    let per = 28 * 28;
    let image = |i: usize| &images[i * per..(i + 1) * per];
    // The second image of each pair: for the first half one of the same
    // class (searched from a random start), for the second half the next
    // test image whatever its class.
    let (mut a, mut b) = (Vec::with_capacity(n * per), Vec::with_capacity(n * per));
    for (p, &i) in first.iter().enumerate() {
        let j = if p < n / 2 {
            let start = (rng.next_u64() % 10_000) as usize;
            (0..10_000)
                .map(|k| (start + k) % 10_000)
                .find(|&j| j != i && labels[j] == labels[i])
                .unwrap()
        } else {
            (i + 1) % 10_000
        };
        a.extend_from_slice(image(i));
        b.extend_from_slice(image(j));
    }
    let shape = [n, 1, 28, 28];
    let (a01, b01) = (unit_range(&a), unit_range(&b));
    assert!(a01.iter().all(|&v| (0.0..=1.0).contains(&v)));
    assert!(a01.contains(&0.0) && a01.contains(&1.0), "background 0, brightest 1");
    let unit = run(&a01, &b01, shape, UNIT_DATA_RANGE);
    let want = ssim_ref(&a01, &b01, shape, 1.0);
    for (i, (g, w)) in unit.iter().zip(&want).enumerate() {
        // Real images have flat regions where σx² + σy² + c2 is little more
        // than c2 = 9e-4, so the f32 error of the variance (~1e-7 of
        // E[x² + y²] ≤ 2) counts for more than on noise images; where
        // the background is exactly 0 every term is exact. Observed ≤ 1.1e-6
        // on lavapipe; 5e-5.
        assert!(
            (g - w).abs() <= 5e-5,
            "Fashion-MNIST pair {i}: GPU {g} vs reference {w} (seed {})",
            base_seed()
        );
    }
    let same_class = unit[..n / 2].iter().sum::<f64>() / (n / 2) as f64;
    assert!(same_class > 0.05, "pairs of one class share structure: {unit:?}");

    let signed = run(&a, &b, shape, 2.0);
    let moved = signed
        .iter()
        .zip(&unit)
        .map(|(s, u)| (s - u).abs())
        .fold(0.0f64, f64::max);
    assert!(
        moved > 0.02,
        "[−1, 1] with L = 2 and [0, 1] with L = 1 differ on real pairs: {signed:?} vs {unit:?}"
    );

    for i in 0..n {
        let (x, y) = (&a01[i * per..(i + 1) * per], &b01[i * per..(i + 1) * per]);
        let got = global_ssim(x, y, 1, 1.0).unwrap();
        let want = global_ref(x, y, 1.0);
        // Both f64 over 784 values: the raw-sum form loses ~1e-13 relative.
        assert!(
            (got - want).abs() <= 1e-10,
            "global SSIM pair {i}: {got} vs formula {want}"
        );
        assert!((global_ssim(x, x, 1, 1.0).unwrap() - 1.0).abs() <= 1e-12);
    }
}

#[test]
fn global_ssim_closed_forms_channels_and_pairing() {
    use balgan::metrics::classifier::Images;
    use balgan::metrics::ssim::{global_ssim, global_ssim_per_class_host, unit_range};
    // Constant images p, q: σ = σxy = 0, SSIM = (2pq + c1)/(p² + q² + c1).
    for l in [1.0f64, 2.0, 255.0] {
        let (p, q) = (0.5f64, 0.25f64);
        let got = global_ssim(&[p as f32; 30], &[q as f32; 30], 1, l).unwrap();
        let c1 = (0.01 * l).powi(2);
        let want = (2.0 * p * q + c1) / (p * p + q * q + c1);
        assert!((got - want).abs() <= 1e-12, "L = {l}: {got} vs {want}");
    }
    // y = −x on zero-mean x: luminance 1, structure (−2σ² + c2)/(2σ² + c2).
    let x: Vec<f32> = (0..40).map(|i| if i % 2 == 0 { 0.5 } else { -0.5 }).collect();
    let y: Vec<f32> = x.iter().map(|v| -v).collect();
    let var = 0.25 * 40.0 / 39.0; // N − 1
    let c2 = 0.03f64.powi(2);
    let want = (-2.0 * var + c2) / (2.0 * var + c2);
    assert!((global_ssim(&x, &y, 1, 1.0).unwrap() - want).abs() <= 1e-12);
    // Two channels: the mean of the channels' values.
    let two: Vec<f32> = x.iter().chain(&[0.5f32; 40]).copied().collect();
    let other: Vec<f32> = y.iter().chain(&[0.25f32; 40]).copied().collect();
    let want2 = (want + global_ssim(&[0.5; 40], &[0.25; 40], 1, 1.0).unwrap()) / 2.0;
    assert!((global_ssim(&two, &other, 2, 1.0).unwrap() - want2).abs() <= 1e-12);
    assert!(global_ssim(&x, &y[..39], 1, 1.0).is_err(), "lengths differ");
    assert!(global_ssim(&x[..1], &y[..1], 1, 1.0).is_err(), "one value per channel");
    assert!(global_ssim(&x, &y, 3, 1.0).is_err(), "40 values are not 3 planes");
    assert!(global_ssim(&x, &y, 1, 0.0).is_err(), "data range 0");

    // Per class: the mean over the pairs of pair_by_class, as the windowed form.
    let mut rng = Rng::new(0x61b);
    let gl = [0usize, 1, 0, 1, 0];
    let rl = [1usize, 0, 1, 0, 0, 2];
    let chw = 2 * 12 * 12;
    let gen = unit_range(&rng.uniform(gl.len() * chw, -1.0, 1.0));
    let real = unit_range(&rng.uniform(rl.len() * chw, -1.0, 1.0));
    let g = Images {
        data: &gen,
        shape: [gl.len(), 2, 12, 12],
    };
    let r = Images {
        data: &real,
        shape: [rl.len(), 2, 12, 12],
    };
    let got = global_ssim_per_class_host(g, &gl, r, &rl, 3, 1.0, 5).unwrap();
    let pairs = pair_by_class(&gl, &rl, 3, 5).unwrap();
    for k in 0..2 {
        let vals: Vec<f64> = pairs[k]
            .iter()
            .map(|&(gi, ri)| {
                let plane = 144;
                let (x, y) = (&gen[gi * chw..(gi + 1) * chw], &real[ri * chw..(ri + 1) * chw]);
                (global_ref(&x[..plane], &y[..plane], 1.0) + global_ref(&x[plane..], &y[plane..], 1.0)) / 2.0
            })
            .collect();
        let want = vals.iter().sum::<f64>() / vals.len() as f64;
        assert!((got[k].unwrap() - want).abs() <= 1e-10, "class {k}: {got:?} vs {want}");
    }
    assert_eq!(got[2], None, "class 2 has no generated image");
    assert!(global_ssim_per_class_host(g, &gl[..4], r, &rl, 3, 1.0, 5).is_err());
}

#[test]
fn unit_range_maps_minus_one_to_zero_and_one_to_one() {
    use balgan::metrics::ssim::unit_range;
    assert_eq!(unit_range(&[-1.0, 0.0, 1.0, 0.5]), vec![0.0, 0.5, 1.0, 0.75]);
}
