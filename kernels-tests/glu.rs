//! shaders/glu.wgsl: y = a ⊗ σ(b) against f64 over every axis position, odd
//! sizes and empty tensors; the fused backward kernel
//! against the composite rule and the f64 derivative; first and second order
//! against finite differences; the layer and the odd-length error.

use crate::common::*;
use balgan::nn::{Glu, Module};

fn sigmoid(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// [outer, 2h, inner] around `axis`.
fn split(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis] / 2, inner)
}

/// f64 GLU from the definition: a = x[.., :h, ..], b = x[.., h:, ..], y = a·σ(b).
fn glu_ref(x: &[f64], shape: &[usize], axis: usize) -> Vec<f64> {
    let (outer, h, inner) = split(shape, axis);
    let mut y = Vec::with_capacity(outer * h * inner);
    for o in 0..outer {
        for k in 0..h {
            for i in 0..inner {
                let a = x[(o * 2 * h + k) * inner + i];
                let b = x[(o * 2 * h + h + k) * inner + i];
                y.push(a * sigmoid(b));
            }
        }
    }
    y
}

/// f64 vector-Jacobian product: da = g·σ(b), db = g·a·σ(b)(1 − σ(b)).
fn glu_vjp_ref(x: &[f64], g: &[f64], shape: &[usize], axis: usize) -> Vec<f64> {
    let (outer, h, inner) = split(shape, axis);
    let mut dx = vec![0.0; x.len()];
    for o in 0..outer {
        for k in 0..h {
            for i in 0..inner {
                let ia = (o * 2 * h + k) * inner + i;
                let ib = (o * 2 * h + h + k) * inner + i;
                let gv = g[(o * h + k) * inner + i];
                let s = sigmoid(x[ib]);
                dx[ia] = gv * s;
                dx[ib] = gv * x[ia] * s * (1.0 - s);
            }
        }
    }
    dx
}

const CASES: [(&[usize], usize); 9] = [
    (&[2], 0),
    (&[3, 8, 5, 5], 1), // a GLU conv: [B, 2C, H, W] → [B, C, H, W]
    (&[4, 6], 1),
    (&[4, 6], 0),
    (&[2, 3, 10], 2),
    (&[7, 2, 3], 1),
    (&[0, 4], 1),
    (&[3, 0], 1),
    (&[1, 514, 1], 1), // 257 outputs: not a multiple of the workgroup
];

#[test]
fn glu_matches_f64_reference() {
    let mut rng = Rng::new(70);
    for (shape, axis) in CASES {
        // Magnitudes up to 30 reach σ's saturated tails on both sides.
        let x = rng.uniform(numel(shape), -30.0, 30.0);
        let t = tensor(&x, shape);
        let y = t.glu(axis as isize).unwrap();
        let mut want_shape = shape.to_vec();
        want_shape[axis] /= 2;
        assert_eq!(y.shape(), want_shape.as_slice(), "glu {shape:?} axis {axis}");
        // Vulkan lets exp(v) err by 3 + 2·|v| ulps: 63 ulps (3.8e-6) at
        // |b| = 30, plus the rounding of the division and the product: 5e-6
        // relative. The absolute part covers σ(b) underflowing below ~1e-38
        // (flushed to 0 on CPU drivers).
        assert_close(
            &format!("glu {shape:?} axis {axis}"),
            &y.to_vec().unwrap(),
            &glu_ref(&to_f64(&x), shape, axis),
            1e-30,
            5e-6,
        );
        let neg = t.glu(axis as isize - shape.len() as isize).unwrap();
        assert_eq!(neg.to_vec().unwrap(), y.to_vec().unwrap(), "negative axis");
    }
}

#[test]
fn glu_gradients_first_and_second_order() {
    let mut rng = Rng::new(72);
    let cases: [(&[usize], usize); 4] = [(&[2, 4, 3], 1), (&[6], 0), (&[3, 2], 1), (&[2, 2, 1, 2], 0)];
    for (shape, axis) in cases {
        for second_order in [true, false] {
            let x = rng.uniform(numel(shape), -2.0, 2.0);
            check_op(OpCheck {
                name: &format!(
                    "glu {shape:?} axis {axis} {}",
                    if second_order { "composite" } else { "fused" }
                ),
                inputs: vec![(x, shape.to_vec())],
                gpu: &|t| t[0].glu(axis as isize),
                cpu: &|x| glu_ref(&x[0], shape, axis),
                second_order,
            });
        }
    }
    // Mid-graph: the input is a product, the output is scaled.
    let x = rng.uniform(8, -1.5, 1.5);
    check_op(OpCheck {
        name: "glu mid-graph",
        inputs: vec![(x, vec![2, 4])],
        gpu: &|t| t[0].mul(&t[0])?.glu(1)?.mul_scalar(3.0),
        cpu: &|x| {
            let sq: Vec<f64> = x[0].iter().map(|v| v * v).collect();
            glu_ref(&sq, &[2, 4], 1).iter().map(|v| 3.0 * v).collect()
        },
        second_order: true,
    });
}

/// The fused backward kernel (no graph) and the composite rule (graph) both
/// match the f64 derivative and each other.
#[test]
fn fused_backward_matches_composite() {
    let mut rng = Rng::new(73);
    for (shape, axis) in CASES {
        let x = rng.uniform(numel(shape), -6.0, 6.0);
        let mut out_shape = shape.to_vec();
        out_shape[axis] /= 2;
        let g = rng.uniform(numel(&out_shape), -1.0, 1.0);
        let xt = tensor(&x, shape).requires_grad_();
        let gt = tensor(&g, &out_shape);
        let y = xt.glu(axis as isize).unwrap();
        let fused = balgan::grad_with(&[&y], &[&gt], &[&xt], false).unwrap();
        let composite = balgan::grad_with(&[&y], &[&gt], &[&xt], true).unwrap();
        assert!(
            composite[0].requires_grad(),
            "create_graph must give a differentiable gradient"
        );
        let want = glu_vjp_ref(&to_f64(&x), &to_f64(&g), shape, axis);
        let what = format!("glu backward {shape:?} axis {axis}");
        // σ(b) with |b| ≤ 6 carries exp's 3 + 2·|b| ulps (≤ 15, 9e-7), then
        // one or two products: 2e-6 relative; 1 − σ(b) is formed in f32 with an absolute error of up to
        // half an ulp of 1 (6e-8), times |g·a·σ| ≤ 6: 1e-6 absolute.
        let f = fused[0].to_vec().unwrap();
        let c = composite[0].to_vec().unwrap();
        assert_close(&format!("{what} fused"), &f, &want, 1e-6, 2e-6);
        assert_close(&format!("{what} composite"), &c, &want, 1e-6, 2e-6);
        assert_close(&format!("{what} fused vs composite"), &f, &to_f64(&c), 2e-6, 4e-6);
    }
}

#[test]
fn glu_layer_and_errors() {
    let mut rng = Rng::new(74);
    let x = rng.uniform(2 * 6 * 2 * 2, -2.0, 2.0);
    let t = tensor(&x, &[2, 6, 2, 2]);
    let layer = Glu::new(1);
    assert!(layer.parameters().is_empty());
    let y = layer.forward(&t).unwrap();
    assert_eq!(y.shape(), &[2, 3, 2, 2]);
    assert_close(
        "Glu layer",
        &y.to_vec().unwrap(),
        &glu_ref(&to_f64(&x), &[2, 6, 2, 2], 1),
        // exp with |b| ≤ 2: at most 7 ulps, then a division and a product.
        1e-30,
        2e-6,
    );
    let e = tensor(&[0.0; 6], &[2, 3]).glu(1).unwrap_err().to_string();
    assert!(e.contains("glu") && e.contains("odd length 3"), "{e}");
    assert!(tensor(&[0.0; 6], &[2, 3]).glu(2).is_err());
    assert!(tensor(&[1.0], &[]).glu(0).is_err());
}

/// f64 backward of the VJP dx = glu_vjp(x, g) with upstream u (x's shape):
/// returns (d/dx, d/dg) of Σ u·dx, from s = σ(b), s' = s(1 − s),
/// s'' = s'(1 − 2s): d/da = ub·g·s', d/db = ua·g·s' + ub·g·a·s'',
/// d/dg = ua·s + ub·a·s'.
fn glu_vjp_backward_ref(x: &[f64], g: &[f64], u: &[f64], shape: &[usize], axis: usize) -> (Vec<f64>, Vec<f64>) {
    let (outer, h, inner) = split(shape, axis);
    let mut dx = vec![0.0; x.len()];
    let mut dg = vec![0.0; g.len()];
    for o in 0..outer {
        for k in 0..h {
            for i in 0..inner {
                let ia = (o * 2 * h + k) * inner + i;
                let ib = (o * 2 * h + h + k) * inner + i;
                let e = (o * h + k) * inner + i;
                let (a, s) = (x[ia], sigmoid(x[ib]));
                let s1 = s * (1.0 - s);
                let s2 = s1 * (1.0 - 2.0 * s);
                dx[ia] = u[ib] * g[e] * s1;
                dx[ib] = u[ia] * g[e] * s1 + u[ib] * g[e] * a * s2;
                dg[e] = u[ia] * s + u[ib] * a * s1;
            }
        }
    }
    (dx, dg)
}

/// The fused double-backward kernel (`glu_backward2`, what a gradient
/// penalty's backward runs through a GLU critic) against f64, on poisoned
/// outputs, every axis position and sizes that do not fill a workgroup. The
/// kernel has no loop (one invocation per output element), so no size can
/// reach lavapipe's loop budget.
#[test]
fn glu_double_backward_matches_f64_reference() {
    let d = dev();
    d.set_poison_outputs(true);
    let mut rng = Rng::new(74);
    for (shape, axis) in CASES {
        let x = rng.uniform(numel(shape), -6.0, 6.0);
        let mut out_shape = shape.to_vec();
        out_shape[axis] /= 2;
        let g = rng.uniform(numel(&out_shape), -1.0, 1.0);
        let u = rng.uniform(numel(shape), -1.0, 1.0);
        let xt = tensor(&x, shape).requires_grad_();
        let gt = tensor(&g, &out_shape).requires_grad_();
        let y = xt.glu(axis as isize).unwrap();
        let dx = balgan::grad_with(&[&y], &[&gt], &[&xt], true).unwrap().remove(0);
        if numel(shape) == 0 {
            continue;
        }
        assert!(dx.requires_grad(), "the recorded backward is differentiable");
        let ut = tensor(&u, shape);
        let got = balgan::grad_with(&[&dx], &[&ut], &[&xt, &gt], false).unwrap();
        let (want_x, want_g) = glu_vjp_backward_ref(&to_f64(&x), &to_f64(&g), &to_f64(&u), shape, axis);
        let what = format!("glu double backward {shape:?} axis {axis}");
        // σ(b) with |b| ≤ 6 carries exp's few ulps (≤ 1e-6 relative); s' and
        // s'' are formed from it in f32 (1 − s and 1 − 2s lose at most half an
        // ulp of 1 absolutely), then three or four products with factors ≤ 6:
        // 2e-6 absolute + 4e-6 relative.
        assert_close(&format!("{what} d/dx"), &got[0].to_vec().unwrap(), &want_x, 2e-6, 4e-6);
        assert_close(&format!("{what} d/dg"), &got[1].to_vec().unwrap(), &want_g, 2e-6, 4e-6);
    }
    d.set_poison_outputs(false);
}

/// The VJP itself as an op of (x, g), against finite differences of the f64
/// VJP: its first derivatives are GLU's second (the fused double backward,
/// without a graph), its second derivatives GLU's third (the composite rule,
/// with one).
#[test]
fn glu_vjp_gradients_first_and_second_order() {
    let mut rng = Rng::new(75);
    let cases: [(&[usize], usize); 3] = [(&[2, 4, 3], 1), (&[6], 0), (&[3, 2, 2], 2)];
    for (shape, axis) in cases {
        let mut out_shape = shape.to_vec();
        out_shape[axis] /= 2;
        for second_order in [false, true] {
            let x = rng.uniform(numel(shape), -2.0, 2.0);
            let g = rng.uniform(numel(&out_shape), -1.0, 1.0);
            check_op(OpCheck {
                name: &format!("glu vjp {shape:?} axis {axis} second order {second_order}"),
                inputs: vec![(x, shape.to_vec()), (g, out_shape.clone())],
                gpu: &|t| {
                    let y = t[0].glu(axis as isize)?;
                    Ok(balgan::grad_with(&[&y], &[&t[1]], &[&t[0]], true)?.remove(0))
                },
                cpu: &|v| glu_vjp_ref(&v[0], &v[1], shape, axis),
                second_order,
            });
        }
    }
}
