//! shaders/softmax.wgsl: softmax and log-softmax against f64 on both kernel
//! tunings, over every path the launcher picks (one invocation per row, a
//! workgroup per row, chunked statistics for long rows, strided rows with
//! inner > 1), rows longer than lavapipe's 65,535-iteration loop budget, more
//! rows than one grid dimension holds, stability at large magnitudes and with
//! −∞ entries; gradients first and second order against finite differences;
//! the fused backward kernels against the composite rules.

use crate::common::*;
use balgan::{Device, Tensor};

/// f64 softmax along `axis` of `shape`, from the definition
/// y_i = e^(x_i) / Σ_j e^(x_j), computed with the row maximum subtracted so
/// that f64 does not overflow either. `log` gives ln y_i = x_i − m − ln Σ e^(x_j − m).
fn softmax_ref(x: &[f64], shape: &[usize], axis: usize, log: bool) -> Vec<f64> {
    let outer: usize = shape[..axis].iter().product();
    let len = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let mut y = vec![0.0; x.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| (o * len + j) * inner + i;
            let m = (0..len).map(|j| x[at(j)]).fold(f64::NEG_INFINITY, f64::max);
            let s: f64 = (0..len).map(|j| (x[at(j)] - m).exp()).sum();
            for j in 0..len {
                y[at(j)] = if log {
                    x[at(j)] - m - s.ln()
                } else {
                    (x[at(j)] - m).exp() / s
                };
            }
        }
    }
    y
}

/// f64 vector-Jacobian products: softmax dx = y ⊙ (g − Σ g·y); log-softmax
/// dx = g − softmax(x)·Σ g.
fn softmax_vjp_ref(x: &[f64], g: &[f64], shape: &[usize], axis: usize, log: bool) -> Vec<f64> {
    let y = softmax_ref(x, shape, axis, false);
    let outer: usize = shape[..axis].iter().product();
    let len = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let mut dx = vec![0.0; x.len()];
    for o in 0..outer {
        for i in 0..inner {
            let at = |j: usize| (o * len + j) * inner + i;
            let sum_g: f64 = (0..len).map(|j| g[at(j)]).sum();
            let dot: f64 = (0..len).map(|j| g[at(j)] * y[at(j)]).sum();
            for j in 0..len {
                let k = at(j);
                dx[k] = if log { g[k] - y[k] * sum_g } else { y[k] * (g[k] - dot) };
            }
        }
    }
    dx
}

/// Relative tolerance for softmax values of inputs in [-4, 4]: exp of an
/// argument of magnitude ≤ 8 is within a few ulps (~1e-6 relative, the
/// rounding of x − m included), and the row sum of positive terms carries a
/// rounding error that grows like √len·2⁻²⁴ on average (3e-7·√len leaves
/// headroom for unlucky rows).
fn rtol(len: usize) -> f64 {
    4e-6 + 3e-7 * (len as f64).sqrt()
}

/// (shape, axis): every path of the launcher, on both tunings. Comments say
/// which kernel runs as (Gpu tuning; Cpu tuning).
const CASES: [(&[usize], usize); 14] = [
    (&[3, 10], 1),      // row; row
    (&[1, 1], 1),       // row; row
    (&[7], 0),          // row; row
    (&[5, 784], 1),     // workgroup per row; row
    (&[3, 257], 0),     // strided row (inner 257); row
    (&[2, 4096], 1),    // workgroup per row; row at its limit
    (&[2, 4097], 1),    // workgroup per row; chunked (5 chunks)
    (&[2, 3, 7, 5], 1), // strided row (inner 35); row
    (&[2, 300, 3], 1),  // strided row; row
    (&[2, 9000, 2], 1), // strided rows longer than ROW_MAX: workgroup per row; chunked
    (&[3, 65], 1),      // workgroup per row; row
    (&[4, 3, 2], 2),    // row; row
    (&[0, 5], 1),       // empty
    (&[3, 0], 1),       // empty rows
];

fn check_forward(d: &Device, what: &str, x: &[f32], shape: &[usize], axis: usize) {
    let x64 = to_f64(x);
    let t = Tensor::from_slice(d, x, shape).unwrap();
    let len = shape[axis];
    let y = t.softmax(axis as isize).unwrap();
    assert_eq!(y.shape(), shape, "{what}");
    assert_close(
        &format!("{what} softmax"),
        &y.to_vec().unwrap(),
        &softmax_ref(&x64, shape, axis, false),
        1e-12,
        rtol(len),
    );
    // log y = x − m − ln s: absolute error of ln s (its relative error) plus
    // a few ulps of |y| ≤ 8 + ln len.
    let ly = t.log_softmax(axis as isize - shape.len() as isize).unwrap();
    assert_close(
        &format!("{what} log_softmax"),
        &ly.to_vec().unwrap(),
        &softmax_ref(&x64, shape, axis, true),
        rtol(len),
        1e-6,
    );
}

#[test]
fn softmax_and_log_softmax_match_f64_reference_on_both_tunings() {
    let mut rng = Rng::new(60);
    for (shape, axis) in CASES {
        let x = rng.uniform(numel(shape), -4.0, 4.0);
        for (tuning, d) in tuned_devices() {
            check_forward(d, &format!("{tuning:?} {shape:?} axis {axis}"), &x, shape, axis);
        }
    }
}

/// Rows of 70,000 elements: a kernel that looped over a whole row in one
/// invocation would run 140,000 iterations and lavapipe would stop it silently
/// after 65,535, leaving a wrong sum (and, with poisoning, NaN outputs). Along
/// the last axis and along a middle axis (inner 3); forward and the fused
/// backward pass.
#[test]
fn rows_longer_than_the_loop_budget() {
    let mut rng = Rng::new(61);
    for (shape, axis) in [(&[2usize, 70_000][..], 1usize), (&[70_000, 3][..], 0)] {
        let x = rng.uniform(numel(shape), -4.0, 4.0);
        let g = rng.uniform(numel(shape), -1.0, 1.0);
        let (x64, g64) = (to_f64(&x), to_f64(&g));
        for (tuning, d) in tuned_devices() {
            let what = format!("{tuning:?} {shape:?} axis {axis}");
            check_forward(d, &what, &x, shape, axis);
            // Every y_j ≈ 1/70,000; a truncated sum would inflate them.
            let xt = Tensor::from_slice(d, &x, shape).unwrap().requires_grad_();
            let gt = Tensor::from_slice(d, &g, shape).unwrap();
            for log in [false, true] {
                let y = if log {
                    xt.log_softmax(axis as isize)
                } else {
                    xt.softmax(axis as isize)
                }
                .unwrap();
                let dx = balgan::grad_with(&[&y], &[&gt], &[&xt], false).unwrap();
                let want = softmax_vjp_ref(&x64, &g64, shape, axis, log);
                // dx = y·(g − Σ g·y): the dot product carries the row sum's
                // relative error, |g − dot| ≤ 2 (log: g − y·Σg with |Σg| ≲ √len).
                assert_close(
                    &format!("{what} fused backward log={log}"),
                    &dx[0].to_vec().unwrap(),
                    &want,
                    if log { 1e-6 } else { 1e-8 },
                    rtol(70_000),
                );
            }
        }
    }
}

/// A row of 1,048,600 elements makes 1,025 chunk statistics, more than one
/// merge invocation takes (1,024), so the partials are merged in two passes.
#[test]
fn a_row_that_needs_two_merge_passes() {
    let mut rng = Rng::new(66);
    let shape = [1usize, 1_048_600];
    let x = rng.uniform(shape[1], -4.0, 4.0);
    let g = rng.uniform(shape[1], -1.0, 1.0);
    let (x64, g64) = (to_f64(&x), to_f64(&g));
    let want = softmax_ref(&x64, &shape, 1, false);
    let want_dx = softmax_vjp_ref(&x64, &g64, &shape, 1, false);
    for (tuning, d) in tuned_devices() {
        let xt = Tensor::from_slice(d, &x, &shape).unwrap().requires_grad_();
        let y = xt.softmax(1).unwrap();
        assert_close(
            &format!("{tuning:?} softmax of a 2^20-long row"),
            &y.to_vec().unwrap(),
            &want,
            1e-12,
            rtol(shape[1]),
        );
        let gt = Tensor::from_slice(d, &g, &shape).unwrap();
        let dx = balgan::grad_with(&[&y], &[&gt], &[&xt], false).unwrap();
        // y ≈ 1e-6 and |g − Σ g·y| ≤ 2: errors of order rtol·1e-6.
        assert_close(
            &format!("{tuning:?} fused backward of a 2^20-long row"),
            &dx[0].to_vec().unwrap(),
            &want_dx,
            1e-11,
            rtol(shape[1]),
        );
    }
}

/// More rows than one grid dimension holds (65,535 workgroups on lavapipe):
/// 65,537 rows of 65 take one workgroup each under the Gpu tuning, and
/// 4,194,400 rows of 2 take 65,538 workgroups of 64 rows under the Cpu tuning.
#[test]
fn more_rows_than_one_grid_dimension() {
    let mut rng = Rng::new(62);
    let cases: [(&[usize], balgan::Tuning); 2] = [
        (&[65_537, 65], balgan::Tuning::Gpu),
        (&[4_194_400, 2], balgan::Tuning::Cpu),
    ];
    for (shape, which) in cases {
        let x = rng.uniform(numel(shape), -4.0, 4.0);
        let want = softmax_ref(&to_f64(&x), shape, 1, false);
        for (tuning, d) in tuned_devices().iter().filter(|(t, _)| *t == which) {
            let y = Tensor::from_slice(d, &x, shape).unwrap().softmax(-1).unwrap();
            assert_close(
                &format!("{tuning:?} softmax {shape:?}"),
                &y.to_vec().unwrap(),
                &want,
                1e-12,
                rtol(shape[1]),
            );
        }
    }
}

/// Inputs of magnitude up to 500 overflow e^x in f32 without the maximum
/// subtracted; −∞ entries (masks) get probability 0 and log-probability −∞,
/// including in whole chunks of −∞ of a long row; a row of only −∞ is 0/0 =
/// NaN, as in PyTorch.
#[test]
fn large_inputs_and_masked_entries() {
    let mut rng = Rng::new(63);
    for (shape, masked) in [([4usize, 50], 20usize), ([3, 5000], 2100)] {
        let len = shape[1];
        let mut x = rng.uniform(numel(&shape), -500.0, 500.0);
        for r in 0..shape[0] {
            for v in &mut x[r * len..r * len + masked] {
                *v = f32::NEG_INFINITY;
            }
        }
        let x64 = to_f64(&x);
        for (tuning, d) in tuned_devices() {
            let t = Tensor::from_slice(d, &x, &shape).unwrap();
            // e^(x − m) with |x − m| up to 1000: the rounding of x − m (half an
            // ulp of 1000, 3e-5) becomes the relative error of the result.
            assert_close(
                &format!("{tuning:?} softmax {shape:?} large and masked"),
                &t.softmax(1).unwrap().to_vec().unwrap(),
                &softmax_ref(&x64, &shape, 1, false),
                1e-30,
                1e-4,
            );
            // log-softmax: −∞ where masked, else within a few ulps of ~1000.
            assert_close(
                &format!("{tuning:?} log_softmax {shape:?} large and masked"),
                &t.log_softmax(1).unwrap().to_vec().unwrap(),
                &softmax_ref(&x64, &shape, 1, true),
                1e-4,
                1e-6,
            );
        }
    }
    for (tuning, d) in tuned_devices() {
        for len in [5usize, 5000] {
            let mut x = vec![f32::NEG_INFINITY; 2 * len];
            x[len..].iter_mut().enumerate().for_each(|(j, v)| *v = j as f32 * 1e-3);
            let y = Tensor::from_slice(d, &x, &[2, len]).unwrap().softmax(1).unwrap();
            let y = y.to_vec().unwrap();
            assert!(
                y[..len].iter().all(|v| v.is_nan()),
                "{tuning:?}: a row of −∞ (len {len}) must give NaN"
            );
            assert!(y[len..].iter().all(|v| v.is_finite()), "{tuning:?}: finite row");
        }
    }
}

#[test]
fn scalar_softmax_and_axis_errors() {
    let s = tensor(&[3.5], &[]);
    assert_eq!(s.softmax(0).unwrap().item().unwrap(), 1.0);
    assert_eq!(s.softmax(-1).unwrap().shape(), &[] as &[usize]);
    assert_eq!(s.log_softmax(0).unwrap().item().unwrap(), 0.0);
    assert!(s.softmax(1).is_err());
    let t = tensor(&[0.0; 6], &[2, 3]);
    let e = t.softmax(2).unwrap_err().to_string();
    assert!(e.contains("softmax") && e.contains("axis 2 is out of range"), "{e}");
    assert!(t.log_softmax(-3).is_err());
}

/// Gradients against finite differences through the composite rules (with
/// second order, `create_graph` is on for the first-order pass) and through
/// the fused kernels (first order only: `create_graph` off).
#[test]
fn softmax_gradients_first_and_second_order() {
    let mut rng = Rng::new(64);
    let cases: [(&[usize], usize); 4] = [(&[3, 5], 1), (&[4, 3], 0), (&[2, 3, 4], 1), (&[1, 1], 1)];
    for (shape, axis) in cases {
        for log in [false, true] {
            for second_order in [true, false] {
                let x = rng.uniform(numel(shape), -2.0, 2.0);
                let name = format!(
                    "{} {shape:?} axis {axis} {}",
                    if log { "log_softmax" } else { "softmax" },
                    if second_order { "composite" } else { "fused" }
                );
                check_op(OpCheck {
                    name: &name,
                    inputs: vec![(x, shape.to_vec())],
                    gpu: &|t| {
                        if log {
                            t[0].log_softmax(axis as isize)
                        } else {
                            t[0].softmax(axis as isize)
                        }
                    },
                    cpu: &|x| softmax_ref(&x[0], shape, axis, log),
                    second_order,
                });
            }
        }
    }
    // Mid-graph: the upstream gradient is not all ones and x feeds the op twice.
    let x = rng.uniform(12, -1.0, 1.0);
    check_op(OpCheck {
        name: "softmax mid-graph",
        inputs: vec![(x, vec![3, 4])],
        gpu: &|t| t[0].mul_scalar(2.0)?.softmax(1)?.mul(&t[0]),
        cpu: &|x| {
            let scaled: Vec<f64> = x[0].iter().map(|v| 2.0 * v).collect();
            softmax_ref(&scaled, &[3, 4], 1, false)
                .iter()
                .zip(&x[0])
                .map(|(y, x)| y * x)
                .collect()
        },
        second_order: true,
    });
}

/// The fused backward kernels (no graph) against the composite rules (graph)
/// and the f64 vector-Jacobian product, on both tunings and every path.
#[test]
fn fused_backward_matches_composite() {
    let mut rng = Rng::new(65);
    let cases: [(&[usize], usize); 7] = [
        (&[3, 10], 1),
        (&[5, 784], 1),
        (&[2, 300, 3], 1),
        (&[2, 4097], 1),
        (&[2, 9000, 2], 1),
        (&[6, 2, 5], 0),
        (&[1, 1], 0),
    ];
    for (shape, axis) in cases {
        let x = rng.uniform(numel(shape), -3.0, 3.0);
        let g = rng.uniform(numel(shape), -1.0, 1.0);
        let len = shape[axis];
        for log in [false, true] {
            let want = softmax_vjp_ref(&to_f64(&x), &to_f64(&g), shape, axis, log);
            for (tuning, d) in tuned_devices() {
                let xt = Tensor::from_slice(d, &x, shape).unwrap().requires_grad_();
                let gt = Tensor::from_slice(d, &g, shape).unwrap();
                let y = if log {
                    xt.log_softmax(axis as isize)
                } else {
                    xt.softmax(axis as isize)
                }
                .unwrap();
                let fused = balgan::grad_with(&[&y], &[&gt], &[&xt], false).unwrap();
                let composite = balgan::grad_with(&[&y], &[&gt], &[&xt], true).unwrap();
                assert!(
                    composite[0].requires_grad(),
                    "create_graph must give a differentiable gradient"
                );
                let what = format!("{tuning:?} {shape:?} axis {axis} log={log}");
                // |dx| ≤ 2·y (softmax) or ≤ |g| + y·|Σg| (log): the values'
                // relative tolerance times the size of the terms, with Σg over
                // len terms of |g| ≤ 1 bounded by √len·3 for these random rows.
                let atol = rtol(len) * if log { 3.0 * (len as f64).sqrt() } else { 2.0 } + 1e-7;
                let f = fused[0].to_vec().unwrap();
                let c = composite[0].to_vec().unwrap();
                assert_close(&format!("{what} fused"), &f, &want, atol, rtol(len));
                assert_close(&format!("{what} composite"), &c, &want, atol, rtol(len));
                assert_close(
                    &format!("{what} fused vs composite"),
                    &f,
                    &to_f64(&c),
                    2.0 * atol,
                    2.0 * rtol(len),
                );
            }
        }
    }
}
