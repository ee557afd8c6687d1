//! shaders/batchnorm.wgsl through `Tensor::batch_norm` and the
//! `BatchNorm1d`/`BatchNorm2d` layers: forward in both modes against f64,
//! running statistics over several calls, the fused and the composite
//! backward against each other and against f64, first and second order
//! against finite differences, channels longer than lavapipe's 65,535-iteration
//! loop limit, a badly conditioned variance, and the error paths.

use crate::common::*;
use balgan::nn::{BatchNorm1d, BatchNorm2d, Module};
use balgan::{Device, Tensor};

/// (N, C, S) of a [N, C, *] shape.
fn ncs(shape: &[usize]) -> (usize, usize, usize) {
    (shape[0], shape[1], shape[2..].iter().product())
}

/// The values of channel c of x ([N, C, S] row-major), in (n, s) order.
fn channel(x: &[f64], shape: &[usize], c: usize) -> Vec<f64> {
    let (n, ch, s) = ncs(shape);
    let mut out = Vec::with_capacity(n * s);
    for i in 0..n {
        for j in 0..s {
            out.push(x[(i * ch + c) * s + j]);
        }
    }
    out
}

/// Per-channel mean and biased variance of x, two-pass in f64.
fn batch_moments(x: &[f64], shape: &[usize]) -> (Vec<f64>, Vec<f64>) {
    let c = shape[1];
    let mut mean = Vec::new();
    let mut var = Vec::new();
    for ch in 0..c {
        let v = channel(x, shape, ch);
        let m = v.iter().sum::<f64>() / v.len() as f64;
        mean.push(m);
        var.push(v.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / v.len() as f64);
    }
    (mean, var)
}

/// y = (x − μ)/√(σ² + ε)·γ + β with (μ, σ²) given per channel.
fn normalize_ref(
    x: &[f64],
    shape: &[usize],
    mean: &[f64],
    var: &[f64],
    w: Option<&[f64]>,
    b: Option<&[f64]>,
    eps: f64,
) -> Vec<f64> {
    let (n, c, s) = ncs(shape);
    let mut y = vec![0.0; x.len()];
    for i in 0..n {
        for ch in 0..c {
            for j in 0..s {
                let k = (i * c + ch) * s + j;
                let xh = (x[k] - mean[ch]) / (var[ch] + eps).sqrt();
                y[k] = xh * w.map_or(1.0, |w| w[ch]) + b.map_or(0.0, |b| b[ch]);
            }
        }
    }
    y
}

/// Training-mode forward in f64: y, and the batch (mean, biased variance).
fn train_ref(
    x: &[f64],
    shape: &[usize],
    w: Option<&[f64]>,
    b: Option<&[f64]>,
    eps: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mean, var) = batch_moments(x, shape);
    (normalize_ref(x, shape, &mean, &var, w, b, eps), mean, var)
}

/// running ← (1 − m)·running + m·batch, with the unbiased variance.
fn update_running_ref(rm: &mut [f64], rv: &mut [f64], mean: &[f64], var: &[f64], count: usize, momentum: f64) {
    for c in 0..rm.len() {
        rm[c] = (1.0 - momentum) * rm[c] + momentum * mean[c];
        rv[c] = (1.0 - momentum) * rv[c] + momentum * var[c] * count as f64 / (count - 1) as f64;
    }
}

/// (dx, dγ, dβ) for upstream g in f64. Training: dx = γ·r·(g − mean(g) −
/// x̂·mean(g·x̂)); eval (μ, σ² = running): dx = γ·r·g; dγ = Σ g·x̂, dβ = Σ g.
#[allow(clippy::type_complexity)]
fn backward_ref(
    x: &[f64],
    shape: &[usize],
    w: Option<&[f64]>,
    g: &[f64],
    running: Option<(&[f64], &[f64])>,
    eps: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (n, c, s) = ncs(shape);
    let m = (n * s) as f64;
    let (mean, var) = match running {
        Some((rm, rv)) => (rm.to_vec(), rv.to_vec()),
        None => batch_moments(x, shape),
    };
    let mut dx = vec![0.0; x.len()];
    let mut dw = vec![0.0; c];
    let mut db = vec![0.0; c];
    for ch in 0..c {
        let r = 1.0 / (var[ch] + eps).sqrt();
        let idx: Vec<usize> = (0..n).flat_map(|i| (0..s).map(move |j| (i * c + ch) * s + j)).collect();
        let xh: Vec<f64> = idx.iter().map(|&k| (x[k] - mean[ch]) * r).collect();
        db[ch] = idx.iter().map(|&k| g[k]).sum();
        dw[ch] = idx.iter().zip(&xh).map(|(&k, xh)| g[k] * xh).sum();
        let k_c = w.map_or(1.0, |w| w[ch]) * r;
        for (&k, xh) in idx.iter().zip(&xh) {
            dx[k] = if running.is_none() {
                k_c * (g[k] - db[ch] / m - xh * dw[ch] / m)
            } else {
                k_c * g[k]
            };
        }
    }
    (dx, dw, db)
}

/// Error scales of one batch norm in f32, read off the f64 reference.
///
/// x̂ = (x − μ)/s with s = √(σ² + ε) carries the roundings of x and μ (a few
/// ε₃₂·|x|, ε₃₂ = 6e-8) divided by s: its absolute error is a few ε₃₂·κ with
/// κ = max over channels of max|x|/s. With a handful of values per channel σ
/// can be small by chance and κ large, so every tolerance below scales with
/// it. `k_max` = max |γ|/s scales dx; `xh_max` = max |x̂| bounds the terms of
/// Σ g·x̂ (|g| ≤ 1 in the tests).
struct Tols {
    kappa: f64,
    k_max: f64,
    xh_max: f64,
    w_max: f64,
    m: usize,
}

impl Tols {
    fn new(x: &[f64], shape: &[usize], w: Option<&[f64]>, running: Option<(&[f64], &[f64])>, eps: f64) -> Tols {
        let (mean, var) = match running {
            Some((rm, rv)) => (rm.to_vec(), rv.to_vec()),
            None => batch_moments(x, shape),
        };
        let mut t = Tols {
            kappa: 0.0,
            k_max: 0.0,
            xh_max: 0.0,
            w_max: 0.0,
            m: numel(shape) / shape[1],
        };
        for c in 0..shape[1] {
            let sd = (var[c] + eps).sqrt();
            let wc = w.map_or(1.0, |w| w[c].abs());
            t.w_max = t.w_max.max(wc);
            t.k_max = t.k_max.max(wc / sd);
            for v in channel(x, shape, c) {
                t.kappa = t.kappa.max(v.abs() / sd);
                t.xh_max = t.xh_max.max((v - mean[c]).abs() / sd);
            }
        }
        t
    }

    /// y = γ·x̂ + β: the error of x̂ times |γ|, plus the rounding of y
    /// (safety factor 4 over 4·ε₃₂).
    fn y(&self) -> f64 {
        1e-6 * (self.kappa * self.w_max + 1.0)
    }

    /// dx = k·(g − mean(g) − x̂·mean(g·x̂)): k times the error of x̂ times
    /// |mean(g·x̂)| ≤ xh_max, plus the roundings of terms up to 1 + x̂²
    /// (safety factor ~16 over ε₃₂).
    fn dx(&self) -> f64 {
        1e-6 * self.k_max * (self.kappa * self.xh_max + 1.0 + self.xh_max * self.xh_max)
    }

    /// Σ g·x̂ over M terms of size ≤ xh_max: summation error ~ε₃₂·√M·term
    /// (random signs), plus the x̂ error summed likewise.
    fn dw(&self) -> f64 {
        2e-6 * (self.m as f64).sqrt() * (self.xh_max + self.kappa)
    }

    /// Σ g over M terms of size ≤ 1.
    fn db(&self) -> f64 {
        2e-6 * (self.m as f64).sqrt()
    }
}

fn upload(d: &Device, v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(d, v, shape).unwrap()
}

/// Shapes: [N, C] (C = 3, and 130, not a multiple of 4), N = 1 in 2-d
/// (spatial reduction only), 1×1 maps, odd maps, a 3-d [N, C, L] input, maps
/// with S ≥ 32 (the workgroup variant on GPUs) and a chunked 1-d batch.
const SHAPES: [&[usize]; 10] = [
    &[4, 3],
    &[5, 130],
    &[1, 3, 5, 7],
    &[3, 130, 1, 1],
    &[2, 5, 9, 11],
    &[3, 4, 6],
    &[2, 3, 40, 40],
    &[16, 7, 33],
    &[600, 5],
    &[1, 2, 1, 2],
];

#[test]
fn batchnorm_training_forward_and_running_update_match_f64() {
    let mut rng = Rng::new(900);
    for shape in SHAPES {
        for (tuning, d) in tuned_devices() {
            let (n, c, s) = ncs(shape);
            let x = rng.uniform(numel(shape), -2.0, 3.0);
            let w = rng.away_from_zero(c, 0.5, 1.5);
            let b = rng.uniform(c, -1.0, 1.0);
            let rm0 = rng.uniform(c, -0.5, 0.5);
            let rv0 = rng.uniform(c, 0.5, 2.0);
            let (x64, w64, b64) = (to_f64(&x), to_f64(&w), to_f64(&b));
            let momentum = 0.1;
            let eps = 1e-5;
            let xt = upload(d, &x, shape);
            let (rm, rv) = (upload(d, &rm0, &[c]), upload(d, &rv0, &[c]));
            let what = format!("{tuning:?} {shape:?}");

            let y = xt
                .batch_norm(
                    Some(&upload(d, &w, &[c])),
                    Some(&upload(d, &b, &[c])),
                    Some((&rm, &rv)),
                    true,
                    momentum,
                    eps,
                )
                .unwrap();
            let (want, mean, var) = train_ref(&x64, shape, Some(&w64), Some(&b64), eps as f64);
            assert_eq!(y.shape(), shape, "{what}");
            let tol = Tols::new(&x64, shape, Some(&w64), None, eps as f64).y();
            assert_close(&format!("{what} y"), &y.to_vec().unwrap(), &want, tol, 1e-5);

            let (mut rm_want, mut rv_want) = (to_f64(&rm0), to_f64(&rv0));
            update_running_ref(&mut rm_want, &mut rv_want, &mean, &var, n * s, momentum as f64);
            // One fused multiply-add of f32 values of order 1.
            assert_close(
                &format!("{what} running_mean"),
                &rm.to_vec().unwrap(),
                &rm_want,
                1e-6,
                1e-5,
            );
            assert_close(
                &format!("{what} running_var"),
                &rv.to_vec().unwrap(),
                &rv_want,
                1e-6,
                1e-5,
            );

            // Without affine parameters and running statistics.
            let y = xt.batch_norm(None, None, None, true, momentum, eps).unwrap();
            let (want, _, _) = train_ref(&x64, shape, None, None, eps as f64);
            let tol = Tols::new(&x64, shape, None, None, eps as f64).y();
            assert_close(&format!("{what} y (no affine)"), &y.to_vec().unwrap(), &want, tol, 1e-5);
        }
    }
}

#[test]
fn batchnorm_eval_forward_uses_running_statistics() {
    let mut rng = Rng::new(901);
    for shape in SHAPES {
        for (tuning, d) in tuned_devices() {
            let c = shape[1];
            let x = rng.uniform(numel(shape), -2.0, 3.0);
            let w = rng.away_from_zero(c, 0.5, 1.5);
            let b = rng.uniform(c, -1.0, 1.0);
            let rm0 = rng.uniform(c, -0.5, 0.5);
            let rv0 = rng.uniform(c, 0.5, 2.0);
            let (rm, rv) = (upload(d, &rm0, &[c]), upload(d, &rv0, &[c]));
            let eps = 1e-3;
            let y = upload(d, &x, shape)
                .batch_norm(
                    Some(&upload(d, &w, &[c])),
                    Some(&upload(d, &b, &[c])),
                    Some((&rm, &rv)),
                    false,
                    0.1,
                    eps,
                )
                .unwrap();
            let want = normalize_ref(
                &to_f64(&x),
                shape,
                &to_f64(&rm0),
                &to_f64(&rv0),
                Some(&to_f64(&w)),
                Some(&to_f64(&b)),
                eps as f64,
            );
            // A handful of f32 roundings of values of order 5.
            assert_close(
                &format!("{tuning:?} {shape:?} eval y"),
                &y.to_vec().unwrap(),
                &want,
                1e-5,
                1e-5,
            );
            // Eval mode leaves the running statistics alone.
            assert_eq!(
                rm.to_vec().unwrap(),
                rm0,
                "{tuning:?} {shape:?}: eval changed running_mean"
            );
            assert_eq!(
                rv.to_vec().unwrap(),
                rv0,
                "{tuning:?} {shape:?}: eval changed running_var"
            );
        }
    }
}

/// The layers over several training steps, then in eval mode, against an f64
/// replay of PyTorch's update rule; PyTorch and Keras presets.
#[test]
fn batchnorm_layers_track_running_statistics_over_several_calls() {
    let mut rng = Rng::new(902);
    let d = dev();
    for (preset, shape) in [("pytorch", [6usize, 3, 4, 5]), ("keras", [8, 130, 2, 2])] {
        let c = shape[1];
        let bn = if preset == "pytorch" {
            BatchNorm2d::pytorch(d, c).unwrap()
        } else {
            BatchNorm2d::keras(d, c).unwrap()
        };
        let (eps, momentum) = if preset == "pytorch" { (1e-5, 0.1) } else { (1e-3, 0.01) };
        assert_eq!((bn.eps, bn.momentum), (eps, momentum), "{preset} preset");
        // γ, β as the optimizer would have left them.
        let w = rng.away_from_zero(c, 0.5, 1.5);
        let b = rng.uniform(c, -1.0, 1.0);
        bn.weight.as_ref().unwrap().assign_slice_(&w).unwrap();
        bn.bias.as_ref().unwrap().assign_slice_(&b).unwrap();
        let (mut rm, mut rv) = (vec![0.0f64; c], vec![1.0f64; c]);
        for step in 0..4 {
            // Each batch with its own offset and spread, so the averages move.
            let x: Vec<f32> = rng
                .uniform(numel(&shape), -1.0, 1.0)
                .iter()
                .map(|v| v * (1.0 + step as f32) + 0.5 * step as f32)
                .collect();
            let y = bn.forward(&tensor(&x, &shape)).unwrap();
            let (want, mean, var) = train_ref(&to_f64(&x), &shape, Some(&to_f64(&w)), Some(&to_f64(&b)), eps as f64);
            let tol = Tols::new(&to_f64(&x), &shape, Some(&to_f64(&w)), None, eps as f64).y();
            assert_close(
                &format!("{preset} step {step} y"),
                &y.to_vec().unwrap(),
                &want,
                tol,
                1e-5,
            );
            update_running_ref(
                &mut rm,
                &mut rv,
                &mean,
                &var,
                shape[0] * shape[2] * shape[3],
                momentum as f64,
            );
            // Four chained f32 updates of values of order 4.
            assert_close(
                &format!("{preset} step {step} running_mean"),
                &bn.running_mean.to_vec().unwrap(),
                &rm,
                1e-5,
                1e-5,
            );
            assert_close(
                &format!("{preset} step {step} running_var"),
                &bn.running_var.to_vec().unwrap(),
                &rv,
                1e-5,
                1e-5,
            );
        }
        bn.set_training(false);
        assert!(!bn.is_training());
        let x = rng.uniform(numel(&shape), -2.0, 2.0);
        let y = bn.forward(&tensor(&x, &shape)).unwrap();
        let want = normalize_ref(
            &to_f64(&x),
            &shape,
            &rm,
            &rv,
            Some(&to_f64(&w)),
            Some(&to_f64(&b)),
            eps as f64,
        );
        // The running statistics carry ~1e-6 relative error into x̂.
        assert_close(&format!("{preset} eval y"), &y.to_vec().unwrap(), &want, 2e-5, 2e-5);
        // Eval mode leaves the buffers as they were.
        assert_close(
            &format!("{preset} running_mean after eval"),
            &bn.running_mean.to_vec().unwrap(),
            &rm,
            1e-5,
            1e-5,
        );
        bn.set_training(true);
        assert!(bn.is_training());
    }
}

/// check_op: forward vs f64, gradients (composite path, under create_graph)
/// and Hessian-vector products vs finite differences; then again without
/// second order, so the first-order gradients come from the fused kernels.
#[test]
fn batchnorm_training_gradients_first_and_second_order() {
    let mut rng = Rng::new(903);
    let eps = 1e-5;
    for shape in [
        &[6usize, 3][..],
        &[2, 3, 2, 3],
        &[1, 2, 3, 3],
        &[6, 2, 1, 1],
        &[3, 5, 4],
    ] {
        let c = shape[1];
        // x spread over [−2, 2]: with at least 6 values per channel, σ is far
        // from 0, so derivatives stay moderate and finite differences accurate.
        let x = rng.uniform(numel(shape), -2.0, 2.0);
        let w = rng.away_from_zero(c, 0.5, 1.5);
        let b = rng.uniform(c, -1.0, 1.0);
        for fused in [false, true] {
            let name = format!("batch_norm train {shape:?}{}", if fused { " fused" } else { "" });
            check_op(OpCheck {
                name: &name,
                inputs: vec![(x.clone(), shape.to_vec()), (w.clone(), vec![c]), (b.clone(), vec![c])],
                gpu: &|t| t[0].batch_norm(Some(&t[1]), Some(&t[2]), None, true, 0.1, eps),
                cpu: &|v| train_ref(&v[0], shape, Some(&v[1]), Some(&v[2]), eps as f64).0,
                second_order: !fused,
            });
        }
        // x alone, no affine parameters.
        let name = format!("batch_norm train no affine {shape:?}");
        check_op(OpCheck {
            name: &name,
            inputs: vec![(x.clone(), shape.to_vec())],
            gpu: &|t| t[0].batch_norm(None, None, None, true, 0.1, eps),
            cpu: &|v| train_ref(&v[0], shape, None, None, eps as f64).0,
            second_order: true,
        });
    }
}

#[test]
fn batchnorm_eval_gradients_first_and_second_order() {
    let mut rng = Rng::new(904);
    let eps = 1e-3;
    for shape in [&[4usize, 3][..], &[2, 3, 2, 2], &[1, 2, 1, 1]] {
        let c = shape[1];
        let x = rng.uniform(numel(shape), -2.0, 2.0);
        let w = rng.away_from_zero(c, 0.5, 1.5);
        let b = rng.uniform(c, -1.0, 1.0);
        let rm = rng.uniform(c, -0.5, 0.5);
        let rv = rng.uniform(c, 0.5, 2.0);
        let (rmt, rvt) = (tensor(&rm, &[c]), tensor(&rv, &[c]));
        let (rm64, rv64) = (to_f64(&rm), to_f64(&rv));
        for fused in [false, true] {
            let name = format!("batch_norm eval {shape:?}{}", if fused { " fused" } else { "" });
            check_op(OpCheck {
                name: &name,
                inputs: vec![(x.clone(), shape.to_vec()), (w.clone(), vec![c]), (b.clone(), vec![c])],
                gpu: &|t| t[0].batch_norm(Some(&t[1]), Some(&t[2]), Some((&rmt, &rvt)), false, 0.1, eps),
                cpu: &|v| normalize_ref(&v[0], shape, &rm64, &rv64, Some(&v[1]), Some(&v[2]), eps as f64),
                second_order: !fused,
            });
        }
    }
}

/// Gradients of Σ g·y for x, γ, β through the fused kernels (no graph) and
/// through the composite ops (create_graph), against each other and f64.
#[test]
fn batchnorm_fused_and_composite_backward_agree() {
    let mut rng = Rng::new(905);
    // Dispatches are counted: devices no concurrent test uses.
    let devices = private_tuned_devices();
    let shapes: [&[usize]; 7] = [
        &[8, 3, 5, 5],
        &[6, 130],
        &[3, 130, 1, 1],
        &[1, 3, 17, 19],
        &[4, 6, 40, 40],
        &[600, 5],
        &[5, 4, 7],
    ];
    for shape in shapes {
        for (tuning, d) in &devices {
            for training in [true, false] {
                let c = shape[1];
                let x = rng.uniform(numel(shape), -2.0, 3.0);
                let w = rng.away_from_zero(c, 0.5, 1.5);
                let b = rng.uniform(c, -1.0, 1.0);
                let g = rng.uniform(numel(shape), -1.0, 1.0);
                let rm = rng.uniform(c, -0.5, 0.5);
                let rv = rng.uniform(c, 0.5, 2.0);
                let eps = 1e-5;
                let xt = upload(d, &x, shape).requires_grad_();
                let wt = upload(d, &w, &[c]).requires_grad_();
                let bt = upload(d, &b, &[c]).requires_grad_();
                let gt = upload(d, &g, shape);
                let (rmt, rvt) = (upload(d, &rm, &[c]), upload(d, &rv, &[c]));
                let running = (!training).then_some((&rmt, &rvt));
                let y = xt
                    .batch_norm(Some(&wt), Some(&bt), running, training, 0.1, eps)
                    .unwrap();

                let before = d.dispatch_counts().0;
                let fused = balgan::grad_with(&[&y], &[&gt], &[&xt, &wt, &bt], false).unwrap();
                let fused_dispatches = d.dispatch_counts().0 - before;
                let before = d.dispatch_counts().0;
                let composite = balgan::grad_with(&[&y], &[&gt], &[&xt, &wt, &bt], true).unwrap();
                let composite_dispatches = d.dispatch_counts().0 - before;
                // Under create_graph, dx depends on γ (and x) and dγ on x: both
                // on the tape. dβ = Σ g is a constant here (g is).
                assert!(composite[0].requires_grad(), "create_graph dx must be on the tape");
                assert!(composite[1].requires_grad(), "create_graph dγ must be on the tape");
                assert!(
                    fused_dispatches < composite_dispatches,
                    "{tuning:?} {shape:?}: the fused backward ({fused_dispatches} dispatches) should be shorter than the composite one ({composite_dispatches})"
                );

                let (rm64, rv64) = (to_f64(&rm), to_f64(&rv));
                let eval_stats = (!training).then_some((rm64.as_slice(), rv64.as_slice()));
                let (dx, dw, db) = backward_ref(
                    &to_f64(&x),
                    shape,
                    Some(&to_f64(&w)),
                    &to_f64(&g),
                    eval_stats,
                    eps as f64,
                );
                let tol = Tols::new(&to_f64(&x), shape, Some(&to_f64(&w)), eval_stats, eps as f64);
                let what = format!("{tuning:?} {shape:?} training={training}");
                let tols = [tol.dx(), tol.dw(), tol.db()];
                for (path, grads) in [("fused", &fused), ("composite", &composite)] {
                    for (i, (name, want)) in [("dx", &dx), ("dγ", &dw), ("dβ", &db)].into_iter().enumerate() {
                        assert_close(
                            &format!("{what} {path} {name}"),
                            &grads[i].to_vec().unwrap(),
                            want,
                            tols[i],
                            1e-4,
                        );
                    }
                }
                // And against each other, element by element: two f32 routes
                // to the same values, each within the tolerance above.
                for (i, name) in ["dx", "dγ", "dβ"].iter().enumerate() {
                    let a = to_f64(&fused[i].to_vec().unwrap());
                    assert_close(
                        &format!("{what} composite vs fused {name}"),
                        &composite[i].to_vec().unwrap(),
                        &a,
                        2.0 * tols[i],
                        2e-4,
                    );
                }
            }
        }
    }
}

/// Only x takes a gradient, or only γ and β: the rule returns what is asked
/// for on both paths.
#[test]
fn batchnorm_partial_gradients() {
    let mut rng = Rng::new(906);
    let shape = [5, 3, 4, 4];
    let x = rng.uniform(numel(&shape), -2.0, 2.0);
    let g = rng.uniform(numel(&shape), -1.0, 1.0);
    let w = rng.away_from_zero(3, 0.5, 1.5);
    let (dx, dw, db) = backward_ref(&to_f64(&x), &shape, Some(&to_f64(&w)), &to_f64(&g), None, 1e-5);
    let tol = Tols::new(&to_f64(&x), &shape, Some(&to_f64(&w)), None, 1e-5);
    for create_graph in [false, true] {
        let xt = tensor(&x, &shape).requires_grad_();
        let wt = tensor(&w, &[3]).requires_grad_();
        let bt = tensor(&[0.0; 3], &[3]).requires_grad_();
        let gt = tensor(&g, &shape);
        let y = xt.batch_norm(Some(&wt), Some(&bt), None, true, 0.1, 1e-5).unwrap();
        // Tolerances from Tols (see there).
        let only_x = balgan::grad_with(&[&y], &[&gt], &[&xt], create_graph).unwrap();
        assert_close(
            &format!("only dx ({create_graph})"),
            &only_x[0].to_vec().unwrap(),
            &dx,
            tol.dx(),
            1e-4,
        );
        let affine = balgan::grad_with(&[&y], &[&gt], &[&wt, &bt], create_graph).unwrap();
        assert_close(
            &format!("only dγ ({create_graph})"),
            &affine[0].to_vec().unwrap(),
            &dw,
            tol.dw(),
            1e-4,
        );
        assert_close(
            &format!("only dβ ({create_graph})"),
            &affine[1].to_vec().unwrap(),
            &db,
            tol.db(),
            1e-4,
        );
        // A constant weight (no grad): dx still scales by it.
        let xt = tensor(&x, &shape).requires_grad_();
        let y = xt
            .batch_norm(Some(&tensor(&w, &[3])), None, None, true, 0.1, 1e-5)
            .unwrap();
        let gx = balgan::grad_with(&[&y], &[&gt], &[&xt], create_graph).unwrap();
        assert_close(
            &format!("dx, constant γ ({create_graph})"),
            &gx[0].to_vec().unwrap(),
            &dx,
            tol.dx(),
            1e-4,
        );
    }
}

/// 2×3×200×200: 80,000 values per channel, more than the 65,535 loop
/// iterations lavapipe allows one invocation; and 5×1×512×512 (1,310,720 per
/// channel): more than 256 partials per channel on both tunings, so a merge
/// pass runs before the final one.
/// A kernel that walked a whole channel in one invocation would stop early.
#[test]
fn batchnorm_channels_longer_than_the_loop_limit() {
    let mut rng = Rng::new(907);
    for (shape, backward) in [([2usize, 3, 200, 200], true), ([5, 1, 512, 512], false)] {
        let c = shape[1];
        let m = numel(&shape) / c;
        let x = rng.uniform(numel(&shape), -1.0, 3.0);
        let w = rng.away_from_zero(c, 0.5, 1.5);
        let b = rng.uniform(c, -1.0, 1.0);
        let x64 = to_f64(&x);
        let (want, mean, var) = train_ref(&x64, &shape, Some(&to_f64(&w)), Some(&to_f64(&b)), 1e-5);
        let (mut rm, mut rv) = (vec![0.0; c], vec![1.0; c]);
        update_running_ref(&mut rm, &mut rv, &mean, &var, m, 0.1);
        let g = rng.uniform(numel(&shape), -1.0, 1.0);
        let (dx, dw, db) = backward_ref(&x64, &shape, Some(&to_f64(&w)), &to_f64(&g), None, 1e-5);
        let tol = Tols::new(&x64, &shape, Some(&to_f64(&w)), None, 1e-5);
        for (tuning, d) in tuned_devices() {
            let what = format!("{tuning:?} {shape:?}");
            let xt = upload(d, &x, &shape).requires_grad_();
            let wt = upload(d, &w, &[c]).requires_grad_();
            let bt = upload(d, &b, &[c]).requires_grad_();
            let (rmt, rvt) = (Tensor::zeros(d, &[c]).unwrap(), Tensor::ones(d, &[c]).unwrap());
            let y = xt
                .batch_norm(Some(&wt), Some(&bt), Some((&rmt, &rvt)), true, 0.1, 1e-5)
                .unwrap();
            // μ from up to 1.3e6 terms, summed in short shifted chunks and
            // merged: ~1e-7 relative, within Tols::y.
            assert_close(&format!("{what} y"), &y.to_vec().unwrap(), &want, tol.y(), 1e-5);
            assert_close(&format!("{what} running_mean"), &rmt.to_vec().unwrap(), &rm, 1e-6, 1e-5);
            assert_close(&format!("{what} running_var"), &rvt.to_vec().unwrap(), &rv, 1e-6, 1e-5);
            if backward {
                let gt = upload(d, &g, &shape);
                let fused = balgan::grad_with(&[&y], &[&gt], &[&xt, &wt, &bt], false).unwrap();
                // Sums of 80,000 terms: Tols::dw, Tols::db scale with √M.
                assert_close(
                    &format!("{what} fused dx"),
                    &fused[0].to_vec().unwrap(),
                    &dx,
                    tol.dx(),
                    1e-4,
                );
                assert_close(
                    &format!("{what} fused dγ"),
                    &fused[1].to_vec().unwrap(),
                    &dw,
                    tol.dw(),
                    1e-4,
                );
                assert_close(
                    &format!("{what} fused dβ"),
                    &fused[2].to_vec().unwrap(),
                    &db,
                    tol.db(),
                    1e-4,
                );
                let composite = balgan::grad_with(&[&y], &[&gt], &[&xt, &wt, &bt], true).unwrap();
                assert_close(
                    &format!("{what} composite dx"),
                    &composite[0].to_vec().unwrap(),
                    &dx,
                    tol.dx(),
                    1e-4,
                );
                assert_close(
                    &format!("{what} composite dγ"),
                    &composite[1].to_vec().unwrap(),
                    &dw,
                    tol.dw(),
                    1e-4,
                );
                assert_close(
                    &format!("{what} composite dβ"),
                    &composite[2].to_vec().unwrap(),
                    &db,
                    tol.db(),
                    1e-4,
                );
            }
        }
    }
}

/// x = 1000 + U(−1, 1): E[x²] − E[x]² in f32 would lose the variance (E[x²]
/// ≈ 1e6 has an ulp of 0.06 against σ² ≈ 0.33, and the sum of 32,768 such
/// terms is far worse). Centred squares keep it to f32 rounding.
#[test]
fn batchnorm_variance_is_computed_stably() {
    let mut rng = Rng::new(908);
    let shape = [8, 2, 64, 64];
    let x: Vec<f32> = rng
        .uniform(numel(&shape), -1.0, 1.0)
        .iter()
        .map(|v| 1000.0 + v)
        .collect();
    let x64 = to_f64(&x);
    let (want, mean, var) = train_ref(&x64, &shape, None, None, 1e-5);
    let (mut rm, mut rv) = (vec![0.0; 2], vec![1.0; 2]);
    update_running_ref(&mut rm, &mut rv, &mean, &var, 8 * 64 * 64, 0.5);
    for (tuning, d) in tuned_devices() {
        let (rmt, rvt) = (Tensor::zeros(d, &[2]).unwrap(), Tensor::ones(d, &[2]).unwrap());
        let y = upload(d, &x, &shape)
            .batch_norm(None, None, Some((&rmt, &rvt)), true, 0.5, 1e-5)
            .unwrap();
        // μ ≈ 1000 carries an f32 rounding of ~3e-5, which x̂ divides by
        // σ ≈ 0.58: ~1e-4 absolute in y. The variance itself: ~1e-5 relative.
        assert_close(&format!("{tuning:?} y"), &y.to_vec().unwrap(), &want, 2e-4, 0.0);
        assert_close(
            &format!("{tuning:?} running_var"),
            &rvt.to_vec().unwrap(),
            &rv,
            0.0,
            1e-4,
        );
        assert_close(
            &format!("{tuning:?} running_mean"),
            &rmt.to_vec().unwrap(),
            &rm,
            0.0,
            1e-6,
        );
    }
}

#[test]
fn batchnorm_empty_batch_in_eval_mode() {
    let (rm, rv) = (tensor(&[0.0; 3], &[3]), tensor(&[1.0; 3], &[3]));
    let y = tensor(&[], &[0, 3, 2, 2])
        .batch_norm(None, None, Some((&rm, &rv)), false, 0.1, 1e-5)
        .unwrap();
    assert_eq!(y.shape(), &[0, 3, 2, 2]);
    assert!(y.to_vec().unwrap().is_empty());
}

fn err_text(r: balgan::Result<Tensor>) -> String {
    match r {
        Ok(t) => panic!("expected an error, got a tensor of shape {:?}", t.shape()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn batchnorm_errors_name_the_shapes() {
    let d = dev();
    let x = tensor(&[0.5; 24], &[2, 3, 2, 2]);
    let (rm, rv) = (tensor(&[0.0; 3], &[3]), tensor(&[1.0; 3], &[3]));
    let e = err_text(tensor(&[1.0; 4], &[4]).batch_norm(None, None, None, true, 0.1, 1e-5));
    assert!(e.contains("[4]") && e.contains("[N, C, *]"), "{e}");
    let e = err_text(x.batch_norm(Some(&tensor(&[1.0; 4], &[4])), None, None, true, 0.1, 1e-5));
    assert!(e.contains("weight") && e.contains("[3]") && e.contains("[4]"), "{e}");
    let e = err_text(x.batch_norm(None, Some(&tensor(&[1.0; 3], &[1, 3])), None, true, 0.1, 1e-5));
    assert!(e.contains("bias") && e.contains("[1, 3]"), "{e}");
    let e = err_text(x.batch_norm(None, None, Some((&rm, &tensor(&[1.0; 2], &[2]))), true, 0.1, 1e-5));
    assert!(e.contains("running_var") && e.contains("[2]"), "{e}");
    let e = err_text(x.batch_norm(None, None, None, false, 0.1, 1e-5));
    assert!(e.contains("running statistics"), "{e}");
    // One value per channel has no batch variance (PyTorch refuses it too).
    let e = err_text(tensor(&[1.0; 3], &[1, 3]).batch_norm(None, None, Some((&rm, &rv)), true, 0.1, 1e-5));
    assert!(
        e.contains("more than one value per channel") && e.contains("[1, 3]"),
        "{e}"
    );
    // ... and the running statistics were not touched by the failed call.
    assert_eq!(rm.to_vec().unwrap(), vec![0.0; 3]);

    let bn2 = BatchNorm2d::pytorch(d, 3).unwrap();
    let e = err_text(bn2.forward(&tensor(&[0.5; 6], &[2, 3])));
    assert!(
        e.contains("BatchNorm2d") && e.contains("[N, 3, H, W]") && e.contains("[2, 3]"),
        "{e}"
    );
    let e = err_text(bn2.forward(&tensor(&[0.5; 32], &[2, 4, 2, 2])));
    assert!(e.contains("[N, 3, H, W]") && e.contains("[2, 4, 2, 2]"), "{e}");
    let bn1 = BatchNorm1d::pytorch(d, 3).unwrap();
    let e = err_text(bn1.forward(&x));
    assert!(
        e.contains("BatchNorm1d") && e.contains("[N, 3] or [N, 3, L]") && e.contains("[2, 3, 2, 2]"),
        "{e}"
    );
    let e = err_text(bn1.forward(&tensor(&[0.5; 3], &[3])));
    assert!(e.contains("[3]"), "{e}");
}

#[test]
fn batchnorm_layers_names_initial_values_and_modes() {
    let d = dev();
    let bn = BatchNorm2d::new(d, 5, 1e-4, 0.2).unwrap();
    assert_eq!((bn.eps, bn.momentum, bn.num_features()), (1e-4, 0.2, 5));
    let names: Vec<String> = bn.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["weight", "bias"]);
    let bufs: Vec<String> = bn.buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(bufs, ["running_mean", "running_var"]);
    let p = bn.parameters();
    assert!(p.iter().all(|(_, t)| t.requires_grad() && t.is_leaf()));
    assert_eq!(p[0].1.to_vec().unwrap(), vec![1.0; 5]);
    assert_eq!(p[1].1.to_vec().unwrap(), vec![0.0; 5]);
    assert!(bn.buffers().iter().all(|(_, t)| !t.requires_grad()));
    assert_eq!(bn.running_mean.to_vec().unwrap(), vec![0.0; 5]);
    assert_eq!(bn.running_var.to_vec().unwrap(), vec![1.0; 5]);
    assert!(bn.is_training());

    let plain = BatchNorm1d::with_affine(d, 4, 1e-5, 0.1, false).unwrap();
    assert!(plain.parameters().is_empty());
    assert_eq!(plain.buffers().len(), 2);

    // Named inside a container, and in training mode a gradient reaches γ, β.
    let seq = balgan::nn::Sequential::new().push_named("bn", BatchNorm1d::pytorch(d, 3).unwrap());
    let names: Vec<String> = seq.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["bn.weight", "bn.bias"]);
    let bufs: Vec<String> = seq.buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(bufs, ["bn.running_mean", "bn.running_var"]);
    let x = tensor(&[1.0, 2.0, 3.0, -1.0, 0.0, 5.0, 2.0, 2.0, 1.0], &[3, 3]);
    let y = seq.forward(&x).unwrap();
    y.square().unwrap().sum_all().unwrap().backward().unwrap();
    for (name, t) in seq.parameters() {
        assert!(t.grad().is_some(), "{name} got no gradient");
    }
    // BatchNorm1d also takes [N, C, L].
    let bn1 = BatchNorm1d::pytorch(d, 2).unwrap();
    let y = bn1
        .forward(&tensor(&[1.0, 2.0, 3.0, 4.0, 5.0, 7.0, 1.0, 0.0], &[2, 2, 2]))
        .unwrap();
    assert_eq!(y.shape(), &[2, 2, 2]);
}
