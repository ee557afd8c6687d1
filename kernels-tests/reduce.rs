//! shaders/reduce.wgsl: sum, mean and max over any axes against f64, long rows
//! and long middle axes that would trip lavapipe's 65,535-iteration loop limit
//! in a one-invocation-per-output kernel, and gradient checks.

use crate::common::*;
use balgan::Tensor;

fn sum_ref(x: &[f64], shape: &[usize], axes: &[usize]) -> Vec<f64> {
    reference::reduce(x, shape, axes, 0.0, |a, b| a + b).0
}

fn max_ref(x: &[f64], shape: &[usize], axes: &[usize]) -> Vec<f64> {
    reference::reduce(x, shape, axes, f64::NEG_INFINITY, f64::max).0
}

const CASES: [(&[usize], &[isize]); 10] = [
    (&[7], &[0]),
    (&[3, 5], &[1]),
    (&[3, 5], &[0]),
    (&[3, 5], &[0, 1]),
    (&[2, 3, 4, 5], &[0, 2, 3]),
    (&[2, 3, 4, 5], &[1, 3]),
    (&[2, 3, 4, 5], &[-1]),
    (&[1, 1], &[0]),
    (&[5000, 3], &[0]),
    (&[3, 9001], &[1]),
];

fn norm(axes: &[isize], rank: usize) -> Vec<usize> {
    let mut v: Vec<usize> = axes
        .iter()
        .map(|&a| {
            if a < 0 {
                (a + rank as isize) as usize
            } else {
                a as usize
            }
        })
        .collect();
    v.sort();
    v
}

#[test]
fn sum_mean_max_match_f64_reference() {
    let mut rng = Rng::new(20);
    for ((shape, axes), (tuning, d)) in CASES.iter().flat_map(|c| tuned_devices().iter().map(move |d| (c, d))) {
        let (shape, axes): (&[usize], &[isize]) = (shape, axes);
        let x = rng.uniform(numel(shape), -1.0, 1.0);
        let t = Tensor::from_slice(d, &x, shape).unwrap();
        let ax = norm(axes, shape.len());
        let n: usize = ax.iter().map(|&a| shape[a]).product();
        let x64 = to_f64(&x);
        let want_sum = sum_ref(&x64, shape, &ax);
        // Sums of n terms of magnitude <= 1: the kernel's pairwise/Kahan order
        // keeps the error near a few ulps of the largest partial, ~1e-6·sqrt(n).
        let tol = 2e-6 * (n as f64).sqrt().max(1.0);
        assert_close(
            &format!("{tuning:?} sum {shape:?} {axes:?}"),
            &t.sum(axes, false).unwrap().to_vec().unwrap(),
            &want_sum,
            tol,
            1e-6,
        );
        let kd = t.sum(axes, true).unwrap();
        let kept: Vec<usize> = shape
            .iter()
            .enumerate()
            .map(|(i, &d)| if ax.contains(&i) { 1 } else { d })
            .collect();
        assert_eq!(kd.shape(), kept.as_slice());
        let want_mean: Vec<f64> = want_sum.iter().map(|v| v / n as f64).collect();
        assert_close(
            &format!("{tuning:?} mean {shape:?} {axes:?}"),
            &t.mean(axes, false).unwrap().to_vec().unwrap(),
            &want_mean,
            tol / n as f64,
            1e-6,
        );
        // max is exact: it returns one of the inputs.
        assert_close(
            &format!("{tuning:?} max {shape:?} {axes:?}"),
            &t.max(axes, false).unwrap().to_vec().unwrap(),
            &max_ref(&x64, shape, &ax),
            0.0,
            0.0,
        );
    }
}

#[test]
fn reductions_over_empty_axes_and_of_empty_tensors() {
    let t = tensor(&[], &[3, 0]);
    assert_close(
        "sum over empty axis",
        &t.sum(&[1], false).unwrap().to_vec().unwrap(),
        &[0.0; 3],
        0.0,
        0.0,
    );
    assert!(
        t.max(&[1], false).is_err(),
        "max over an empty axis has no value and must be an error"
    );
    let e = tensor(&[], &[0, 4]);
    assert_eq!(e.sum(&[0], false).unwrap().to_vec().unwrap(), vec![0.0; 4]);
    assert_eq!(e.sum(&[1], false).unwrap().shape(), &[0]);
    let s = tensor(&[2.5], &[]);
    assert_eq!(s.sum_all().unwrap().item().unwrap(), 2.5);
}

/// A single row of 2^24 + 3 ones: a kernel with one invocation per row (or a
/// workgroup striding 256 at a time) would loop past 65,535 iterations and stop
/// silently on lavapipe. The exact answer 16,777,219 is not an f32; the nearest
/// f32 values are 16,777,218 and 16,777,220.
#[test]
fn long_row_sum_is_not_cut_short_by_loop_limits() {
    let n = (1usize << 24) + 3;
    for (tuning, d) in tuned_devices() {
        let t = Tensor::ones(d, &[n]).unwrap();
        let s = t.sum_all().unwrap().item().unwrap() as f64;
        assert!((s - n as f64).abs() <= 2.0, "{tuning:?}: sum of {n} ones gave {s}");
        let m = t.mean_all().unwrap().item().unwrap();
        assert!((m - 1.0).abs() < 1e-6, "{tuning:?}: mean of ones gave {m}");
        let mx = t.max_all().unwrap().item().unwrap();
        assert_eq!(mx, 1.0, "{tuning:?}: max of ones");
    }
}

/// A middle axis of 70,001 (> 65,535) with inner size 3.
#[test]
fn long_middle_axis_sum_and_max() {
    let mut rng = Rng::new(21);
    let shape = [2, 70_001, 3];
    let x = rng.uniform(numel(&shape), 0.0, 1.0);
    let x64 = to_f64(&x);
    let want = sum_ref(&x64, &shape, &[1]);
    for (tuning, d) in tuned_devices() {
        let t = Tensor::from_slice(d, &x, &shape).unwrap();
        assert_close(
            &format!("{tuning:?} long middle sum"),
            &t.sum(&[1], false).unwrap().to_vec().unwrap(),
            &want,
            0.0,
            1e-5,
        );
        assert_close(
            &format!("{tuning:?} long middle max"),
            &t.max(&[1], false).unwrap().to_vec().unwrap(),
            &max_ref(&x64, &shape, &[1]),
            0.0,
            0.0,
        );
    }
}

#[test]
fn max_and_sum_propagate_nan() {
    // Short rows and rows long enough for the workgroup-per-row kernel.
    for len in [3usize, 3000] {
        let mut x = vec![0.5f32; 2 * len];
        x[len / 2] = f32::NAN;
        x[len + 1] = 2.0;
        for (tuning, d) in tuned_devices() {
            let t = Tensor::from_slice(d, &x, &[2, len]).unwrap();
            let m = t.max(&[1], false).unwrap().to_vec().unwrap();
            assert!(
                m[0].is_nan(),
                "{tuning:?}: a NaN in the row must show in the max: {m:?}"
            );
            assert_eq!(m[1], 2.0, "{tuning:?}");
            let s = t.sum(&[1], false).unwrap().to_vec().unwrap();
            assert!(s[0].is_nan() && s[1].is_finite(), "{tuning:?}: {s:?}");
        }
    }
}

#[test]
fn reduction_gradients_first_and_second_order() {
    let mut rng = Rng::new(22);
    let shape = vec![2, 3, 4];
    for axes in [vec![0isize], vec![1], vec![0, 2], vec![0, 1, 2], vec![-1]] {
        let ax = norm(&axes, 3);
        let n: f64 = ax.iter().map(|&a| shape[a] as f64).product();
        let x = rng.uniform(24, -1.0, 1.0);
        let (s, a1) = (shape.clone(), axes.clone());
        check_op(OpCheck {
            name: &format!("sum {axes:?}"),
            inputs: vec![(x.clone(), shape.clone())],
            gpu: &|t| t[0].sum(&a1, false),
            cpu: &|x| sum_ref(&x[0], &s, &ax),
            second_order: true,
        });
        check_op(OpCheck {
            name: &format!("mean {axes:?}"),
            inputs: vec![(x.clone(), shape.clone())],
            gpu: &|t| t[0].mean(&a1, true),
            cpu: &|x| sum_ref(&x[0], &s, &ax).iter().map(|v| v / n).collect(),
            second_order: true,
        });
        // Distinct values (no ties within 0.01) so the max is differentiable.
        let mut perm: Vec<f32> = (0..24).map(|i| i as f32 * 0.05 - 0.6).collect();
        rng.shuffle(&mut perm);
        check_op(OpCheck {
            name: &format!("max {axes:?}"),
            inputs: vec![(perm, shape.clone())],
            gpu: &|t| t[0].max(&a1, false),
            cpu: &|x| max_ref(&x[0], &s, &ax),
            second_order: true,
        });
    }
}

#[test]
fn max_gradient_is_shared_between_ties() {
    let x = tensor(&[1.0, 3.0, 3.0, 2.0], &[4]).requires_grad_();
    let g = balgan::grad(&[&x.max_all().unwrap()], &[&x], false).unwrap();
    assert_eq!(g[0].to_vec().unwrap(), vec![0.0, 0.5, 0.5, 0.0]);
}

#[test]
fn sum_to_shape_is_the_adjoint_of_broadcast() {
    let mut rng = Rng::new(23);
    let x = rng.uniform(24, -1.0, 1.0);
    check_op(OpCheck {
        name: "sum_to_shape",
        inputs: vec![(x, vec![2, 3, 4])],
        gpu: &|t| t[0].sum_to_shape(&[3, 1]),
        cpu: &|x| sum_ref(&x[0], &[2, 3, 4], &[0, 2]),
        second_order: true,
    });
    let x = rng.uniform(3, -1.0, 1.0);
    check_op(OpCheck {
        name: "broadcast_to",
        inputs: vec![(x, vec![3, 1])],
        gpu: &|t| t[0].broadcast_to(&[2, 3, 4]),
        cpu: &|x| reference::broadcast_to(&x[0], &[3, 1], &[2, 3, 4]),
        second_order: true,
    });
}

/// The gradient of a mean is the upstream gradient broadcast and scaled in
/// one copy: its values against f64 with poisoned outputs, on the grid route
/// ([2, 3, 8] over axis 1), the decoding route (a last extent of 3 after
/// merging; rank 4 after merging, twice) and all axes. Tolerance: one f32
/// multiply of the upstream value by 1/count, plus the product's rounding.
#[test]
fn mean_gradient_is_one_scaled_broadcast() {
    let mut rng = Rng::new(23);
    let cases: [(&[usize], &[isize]); 5] = [
        (&[2, 3, 8], &[1]),
        (&[5, 3, 1, 1], &[1]),
        (&[4, 6, 5, 2], &[1, 3]),
        (&[3, 2, 5, 7], &[0, 2]),
        (&[2, 3, 4, 9], &[0, 1, 2, 3]),
    ];
    for (shape, axes) in cases {
        let kept: Vec<usize> = shape
            .iter()
            .enumerate()
            .map(|(i, &d)| if axes.contains(&(i as isize)) { 1 } else { d })
            .collect();
        let count = (numel(shape) / numel(&kept)) as f64;
        let x = tensor(&rng.uniform(numel(shape), -1.0, 1.0), shape).requires_grad_();
        let w = rng.uniform(numel(&kept), -1.0, 1.0);
        let loss = x
            .mean(axes, true)
            .unwrap()
            .mul(&tensor(&w, &kept))
            .unwrap()
            .sum_all()
            .unwrap();
        loss.backward().unwrap();
        let w64 = to_f64(&w);
        let want: Vec<f64> = reference::indices(shape)
            .iter()
            .map(|i| reference::read_broadcast(&w64, &kept, i) / count)
            .collect();
        let got = x.grad().unwrap().to_vec().unwrap();
        assert_close(&format!("mean gradient {shape:?} {axes:?}"), &got, &want, 1e-7, 4e-7);
    }
}
