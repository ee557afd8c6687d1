//! Peak memory at growing sizes: long matmuls (split-K), FID statistics and
//! convolution weight gradients sum their partial slabs as they are made, so
//! the memory they take besides their inputs and output stays under a bound
//! that depends on the output size and the device's partial budget, never on
//! the reduction length (K, n, the batch). Each test runs on its own device so
//! that no other test's buffers count, and checks the results against f64
//! references at every size.

use crate::common::*;
use balgan::metrics::fid::feature_stats;
use balgan::{Conv2dOptions, Device, DeviceOptions, Tensor, Tuning};

/// A device of its own, outputs poisoned, with a small partial budget.
fn own_device(tuning: Tuning, partial_budget: usize) -> Device {
    let opts = DeviceOptions {
        quiet: true,
        tuning,
        ..DeviceOptions::from_env()
    };
    let d = Device::with_options(opts).expect("memory tests need a GPU or lavapipe");
    d.set_poison_outputs(true);
    d.set_partial_budget(partial_budget);
    d
}

/// Bytes a set of buffers of these float counts may take from the pool: every
/// buffer is rounded up to its size class (≤ 25% more, ≥ 256 bytes).
fn pooled_bytes(floats: &[usize]) -> u64 {
    floats.iter().map(|&f| (f as u64 * 4) * 5 / 4 + 256).sum()
}

/// Runs `op` after dropping cached buffers and restarting the peak; returns
/// its result and the bytes allocated at the peak beyond what was live before.
fn extra_peak<T>(d: &Device, op: impl FnOnce() -> T) -> (T, u64) {
    d.synchronize().unwrap();
    d.release_cached_memory();
    d.reset_peak_memory();
    let live = d.memory_stats().in_use;
    let out = op();
    d.synchronize().unwrap();
    (out, d.memory_stats().peak - live)
}

/// op(A)ᵀ·B with A [k, m], B [k, n] (a covariance's shape): K grows to 16× and
/// the split count with it (4 → 64 slabs of m·n), but with a partial budget of
/// 4·m·n floats the scratch stays at 4 slabs.
#[test]
fn split_k_scratch_does_not_grow_with_k() {
    let (m, n) = (37usize, 29usize);
    let budget = 4 * m * n;
    let mut rng = Rng::new(0x3E30);
    for tuning in [Tuning::Gpu, Tuning::Cpu] {
        let d = own_device(tuning, budget);
        for k in [4096usize, 16384, 65536] {
            let a = rng.uniform(k * m, -1.0, 1.0);
            let b = rng.uniform(k * n, -1.0, 1.0);
            let (ta, tb) = (
                Tensor::from_slice(&d, &a, &[k, m]).unwrap(),
                Tensor::from_slice(&d, &b, &[k, n]).unwrap(),
            );
            let (c, extra) = extra_peak(&d, || ta.matmul_t(&tb, true, false).unwrap());
            // The output, the scratch (4 slabs), and the reduction's own output.
            let bound = pooled_bytes(&[m * n, budget, m * n]);
            assert!(
                extra <= bound,
                "{tuning:?} K = {k}: {extra} bytes beyond the inputs, bound {bound}"
            );
            let (want, _) = reference::matmul(&to_f64(&a), &[k, m], &to_f64(&b), &[k, n], true, false);
            let what = format!("{tuning:?} Aᵀ·B, K = {k}");
            assert_close(&what, &c.to_vec().unwrap(), &want, 2e-6 * k as f64, 1e-5);
        }
    }
}

/// μ and Σ of X [n, d] for n = 256 … 4096 with a partial budget of 4·d²
/// floats: blocks of 2·d rows are centred and multiplied one at a time, so the
/// memory beyond X stays under B + max(B, 2·d²) + 3·d² floats and O(d)
/// (B = 4·d²), where centring X whole would take 2·n·d (5.3·d² at n = 4096).
#[test]
fn feature_stats_memory_does_not_grow_with_n() {
    let d = 96usize;
    let budget = 4 * d * d;
    let dev = own_device(Tuning::Cpu, budget);
    let mut rng = Rng::new(0x3E31);
    for n in [256usize, 1024, 4096] {
        // Shifted features: centring must happen before the products.
        let x: Vec<f32> = rng.uniform(n * d, -1.0, 1.0).iter().map(|v| v + 3.0).collect();
        let tx = Tensor::from_slice(&dev, &x, &[n, d]).unwrap();
        let (stats, extra) = extra_peak(&dev, || feature_stats(&tx).unwrap());
        let bound = pooled_bytes(&[budget, budget.max(2 * d * d), d * d, d * d, d * d, d, d, d, d]);
        assert!(extra <= bound, "n = {n}: {extra} bytes beyond X, bound {bound}");
        let (mu, cov) = crate::fid::stats_ref(&x, n, d);
        let scale = cov.iter().fold(0.0f64, |a, &b| a.max(b.abs()));
        for (g, w) in stats.cov.to_vec().unwrap().iter().zip(&cov) {
            assert!((*g as f64 - w).abs() <= 1e-5 * scale, "n = {n}: cov {g} vs {w}");
        }
        for (g, w) in stats.mean.to_vec().unwrap().iter().zip(&mu) {
            assert!(
                (*g as f64 - w).abs() <= 1e-5 * (1.0 + w.abs()),
                "n = {n}: mean {g} vs {w}"
            );
        }
    }
}

/// The weight gradient of 3×3 convs on 24×24 maps, batch 4 … 48: with GPU
/// tuning, 4→16 runs the implicit GEMM and 2→3 the direct kernel, both making
/// 1 … 7 slabs of 4,096 positions; the im2col route (CPU tuning, two images
/// per chunk) makes 2 … 24 slabs. With a partial budget of one slab, two are
/// held at a time (plus the im2col columns on the CPU route), whatever the
/// batch.
#[test]
fn conv_weight_grad_memory_does_not_grow_with_batch() {
    let (h, w, k) = (24usize, 24usize, 3usize);
    let o = Conv2dOptions::new(1, 1);
    let mut rng = Rng::new(0x3E32);
    for (tuning, ci, co) in [
        (Tuning::Gpu, 4usize, 16usize),
        (Tuning::Gpu, 2, 3),
        (Tuning::Cpu, 4, 16),
    ] {
        let per_slab = co * ci * k * k;
        let d = own_device(tuning, per_slab);
        let im2col = 2 * (ci * k * k + co) * h * w;
        d.set_im2col_budget(im2col);
        for n in [4usize, 16, 48] {
            let x = rng.uniform(n * ci * h * w, -1.0, 1.0);
            let g = rng.uniform(n * co * h * w, -1.0, 1.0);
            let (tx, tg) = (
                Tensor::from_slice(&d, &x, &[n, ci, h, w]).unwrap(),
                Tensor::from_slice(&d, &g, &[n, co, h, w]).unwrap(),
            );
            let (dw, extra) = extra_peak(&d, || tx.conv2d_weight_grad(&tg, (k, k), o).unwrap());
            let bound = match tuning {
                Tuning::Cpu => pooled_bytes(&[per_slab, 2 * per_slab, 2 * ci * k * k * h * w, 2 * co * h * w]),
                _ => pooled_bytes(&[per_slab, 2 * per_slab]),
            };
            assert!(
                extra <= bound,
                "{tuning:?} {ci}→{co}, batch {n}: {extra} bytes beyond x and gy, bound {bound}"
            );
            let want = crate::conv2d::wgrad_ref(&to_f64(&x), [n, ci, h, w], &to_f64(&g), [n, co, h, w], (k, k), o);
            let what = format!("{tuning:?} weight grad {ci}→{co}, batch {n}");
            assert_close(&what, &dw.to_vec().unwrap(), &want, 1e-6 * (n * h * w) as f64, 1e-5);
        }
    }
}

/// The im2col route with chunks of three 64×64 images: each chunk's product
/// has K = 12,288 and splits into 8 slabs of its own, summed in passes of two
/// and landing at the chunk's offset in the outer scratch, whose slabs are
/// summed in passes of two as well (partial budget of one slab).
#[test]
fn weight_grad_chunks_with_split_k_inside() {
    let (n, ci, co, h, w, k) = (7usize, 4usize, 16usize, 64usize, 64usize, 3usize);
    let per_slab = co * ci * k * k;
    let o = Conv2dOptions::new(1, 1);
    let d = own_device(Tuning::Cpu, per_slab);
    d.set_im2col_budget(3 * (ci * k * k + co) * h * w);
    let mut rng = Rng::new(0x3E33);
    let x = rng.uniform(n * ci * h * w, -1.0, 1.0);
    let g = rng.uniform(n * co * h * w, -1.0, 1.0);
    let (tx, tg) = (
        Tensor::from_slice(&d, &x, &[n, ci, h, w]).unwrap(),
        Tensor::from_slice(&d, &g, &[n, co, h, w]).unwrap(),
    );
    let (dw, extra) = extra_peak(&d, || tx.conv2d_weight_grad(&tg, (k, k), o).unwrap());
    // Output, outer scratch (2 slabs), inner scratch (2 slabs) and its running
    // sum, im2col columns and permuted gy of three images.
    let bound = pooled_bytes(&[
        per_slab,
        2 * per_slab,
        2 * per_slab,
        per_slab,
        3 * ci * k * k * h * w,
        3 * co * h * w,
    ]);
    assert!(extra <= bound, "{extra} bytes beyond x and gy, bound {bound}");
    let want = crate::conv2d::wgrad_ref(&to_f64(&x), [n, ci, h, w], &to_f64(&g), [n, co, h, w], (k, k), o);
    assert_close(
        "chunked, split-K weight grad",
        &dw.to_vec().unwrap(),
        &want,
        1e-6 * (n * h * w) as f64,
        1e-5,
    );
}

/// SSIM per class and within classes from host images, 8 pairs per upload:
/// for sets of 32 … 320 images of 3×16×16 the device holds one pass's pairs
/// and maps, never the sets (whose upload alone would take 2·N·768 floats,
/// 491,520 at N = 320). The values equal those of the whole-set calls.
#[test]
fn ssim_from_host_images_memory_does_not_grow_with_set_size() {
    use balgan::metrics::classifier::Images;
    use balgan::metrics::ssim::{ssim_per_class, ssim_per_class_host, within_class_ssim, within_class_ssim_host};
    let (c, h, w, k, pass) = (3usize, 16usize, 16usize, 3usize, 8usize);
    let per = c * h * w;
    let d = own_device(Tuning::Cpu, balgan::kernels::reduce::MAX_PARTIAL_FLOATS);
    let mut rng = Rng::new(0x3E34);
    for n in [32usize, 128, 320] {
        let gen = rng.uniform(n * per, -1.0, 1.0);
        // Real images correlated with the generated ones, so SSIM is not ≈ 0.
        let noise = rng.uniform(n * per, -0.3, 0.3);
        let real: Vec<f32> = gen.iter().zip(&noise).map(|(a, b)| a + b).collect();
        let gl: Vec<usize> = (0..n).map(|i| (i * 7 + i / 5) % k).collect();
        let rl: Vec<usize> = (0..n).map(|i| (i * 5 + 1) % k).collect();
        let shape = [n, c, h, w];
        let (gi, ri) = (Images { data: &gen, shape }, Images { data: &real, shape });
        let ((per_class, within_g, within_r), extra) = extra_peak(&d, || {
            (
                ssim_per_class_host(&d, gi, &gl, ri, &rl, k, 2.0, 11, pass).unwrap(),
                within_class_ssim_host(&d, gi, &gl, k, 2.0, pass).unwrap(),
                within_class_ssim_host(&d, ri, &rl, k, 2.0, pass).unwrap(),
            )
        });
        // At most 24 maps of one pass's pairs (measured: about 13 here).
        let bound = pooled_bytes(&[24 * pass * per]);
        assert!(extra <= bound, "N = {n}: {extra} bytes, bound {bound}");
        let (gt, rt) = (tensor(&gen, &shape), tensor(&real, &shape));
        let want = [
            ssim_per_class(&gt, &gl, &rt, &rl, k, 2.0, 11).unwrap(),
            within_class_ssim(&gt, &gl, k, 2.0).unwrap(),
            within_class_ssim(&rt, &rl, k, 2.0).unwrap(),
        ];
        for (what, got, want) in [
            ("per class", &per_class, &want[0]),
            ("within generated", &within_g, &want[1]),
            ("within real", &within_r, &want[2]),
        ] {
            for (g, w) in got.iter().zip(want) {
                let (g, w) = (g.expect("every class has pairs"), w.expect("every class has pairs"));
                assert!((g - w).abs() <= 1e-6, "N = {n}, {what}: {g} vs whole-set {w}");
            }
        }
    }
}
