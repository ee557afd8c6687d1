//! The tape: accumulation, pruning, no-grad scopes, detach, create_graph, and
//! a gradient penalty through a small critic checked against finite
//! differences of an f64 reference of the whole penalty.

use crate::common::*;
use balgan::{grad, no_grad, Tensor};

#[test]
fn shared_subexpressions_accumulate() {
    // y = x·x + x·x·x  →  dy/dx = 2x + 3x²
    let x = tensor(&[0.5, -1.5, 2.0], &[3]).requires_grad_();
    let sq = x.mul(&x).unwrap();
    let y = sq.add(&sq.mul(&x).unwrap()).unwrap().sum_all().unwrap();
    let g = grad(&[&y], &[&x], false).unwrap();
    let want: Vec<f64> = [0.5f64, -1.5, 2.0].iter().map(|v| 2.0 * v + 3.0 * v * v).collect();
    assert_close("diamond", &g[0].to_vec().unwrap(), &want, 1e-6, 1e-6);
}

#[test]
fn backward_accumulates_into_leaves_until_zeroed() {
    let x = tensor(&[1.0, 2.0], &[2]).requires_grad_();
    let y = x.mul_scalar(3.0).unwrap().sum_all().unwrap();
    y.backward().unwrap();
    y.backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec().unwrap(), vec![6.0, 6.0]);
    x.zero_grad();
    assert!(x.grad().is_none());
    y.backward().unwrap();
    assert_eq!(x.grad().unwrap().to_vec().unwrap(), vec![3.0, 3.0]);
    assert!(!x.grad().unwrap().requires_grad(), "leaf gradients are plain tensors");
}

#[test]
fn no_grad_and_detach_cut_the_tape() {
    let x = tensor(&[1.0, 2.0], &[2]).requires_grad_();
    let y = no_grad(|| x.exp()).unwrap();
    assert!(!y.requires_grad() && y.is_leaf());
    let z = x.exp().unwrap();
    assert!(z.requires_grad() && !z.is_leaf());
    let d = z.detach();
    assert!(!d.requires_grad() && d.shares_storage(&z));
    // d is a constant: the gradient only sees the direct path.
    let l = x.mul(&d).unwrap().sum_all().unwrap();
    let g = grad(&[&l], &[&x], false).unwrap();
    assert_close("detach", &g[0].to_vec().unwrap(), &[1f64.exp(), 2f64.exp()], 1e-5, 1e-6);
}

#[test]
fn unused_inputs_get_zeros_and_errors_are_clear() {
    let x = tensor(&[1.0, 2.0], &[2]).requires_grad_();
    let w = tensor(&[3.0], &[1]).requires_grad_();
    let y = x.sum_all().unwrap();
    let g = grad(&[&y], &[&x, &w], false).unwrap();
    assert_eq!(g[1].to_vec().unwrap(), vec![0.0]);
    let e = grad(&[&x], &[&x], false).unwrap_err().to_string();
    assert!(e.contains("not a scalar"), "{e}");
    let c = tensor(&[1.0], &[1]);
    assert!(
        grad(&[&y], &[&c], false).is_err(),
        "a constant input has no gradient to ask for"
    );
}

#[test]
fn grad_only_computes_what_is_asked() {
    // Asking for d/dx must not require (or compute) d/dw: the branch to w is pruned.
    // A private device, so that other tests' dispatches do not count.
    let own = balgan::Device::with_options(balgan::DeviceOptions {
        quiet: true,
        ..Default::default()
    })
    .unwrap();
    let x = Tensor::from_slice(&own, &[1.0, 2.0, 3.0], &[1, 3])
        .unwrap()
        .requires_grad_();
    let w = Tensor::from_slice(&own, &[0.5, -1.0, 2.0], &[3, 1])
        .unwrap()
        .requires_grad_();
    let y = x.matmul(&w).unwrap().sum_all().unwrap();
    let (d0, _) = own.dispatch_counts();
    let gx = grad(&[&y], &[&x], false).unwrap();
    let (d1, _) = own.dispatch_counts();
    let gw = grad(&[&y], &[&w], false).unwrap();
    let both = grad(&[&y], &[&x, &w], false).unwrap();
    let (d2, _) = own.dispatch_counts();
    assert_close("dx", &gx[0].to_vec().unwrap(), &[0.5, -1.0, 2.0], 0.0, 0.0);
    assert_close("dw", &gw[0].to_vec().unwrap(), &[1.0, 2.0, 3.0], 0.0, 0.0);
    assert_eq!(both[0].to_vec().unwrap(), gx[0].to_vec().unwrap());
    assert!(
        d1 - d0 < d2 - d1,
        "one gradient ({}) should take fewer dispatches than three ({})",
        d1 - d0,
        d2 - d1
    );
}

#[test]
fn third_derivative_through_create_graph() {
    // y = x⁴: y' = 4x³, y'' = 12x², y''' = 24x.
    let x = tensor(&[0.5, -2.0], &[2]).requires_grad_();
    let y = x.powf(4.0).unwrap().sum_all().unwrap();
    let g1 = grad(&[&y], &[&x], true).unwrap();
    let g2 = grad(&[&g1[0].sum_all().unwrap()], &[&x], true).unwrap();
    let g3 = grad(&[&g2[0].sum_all().unwrap()], &[&x], false).unwrap();
    assert_close("y''", &g2[0].to_vec().unwrap(), &[3.0, 48.0], 1e-5, 1e-5);
    assert_close("y'''", &g3[0].to_vec().unwrap(), &[12.0, -48.0], 1e-5, 1e-5);
}

#[test]
fn long_chains_backpropagate() {
    let x = tensor(&[1.0], &[1]).requires_grad_();
    let mut y = x.clone();
    for _ in 0..2000 {
        y = y.mul_scalar(1.0005).unwrap();
    }
    let g = grad(&[&y.sum_all().unwrap()], &[&x], false).unwrap();
    assert_close("chain", &g[0].to_vec().unwrap(), &[1.0005f64.powi(2000)], 0.0, 1e-4);
}

/// The WGAN-GP penalty through a critic D(x) = w2 · leaky_relu(W1 x + b1) + b2:
/// GP = λ · mean_i (‖∇ₓ D(x̂_i)‖ − 1)², with ∇ₓ D taken by a create_graph
/// backward, then d GP / d(W1, b1, w2) by a second backward — compared with
/// central differences of the same GP computed in f64 on the CPU, where
/// ∇ₓ D is written out analytically: W1ᵀ (w2 ⊙ leaky'(W1 x + b1)).
#[test]
fn gradient_penalty_parameter_gradients_match_finite_differences() {
    let (batch, d_in, hidden, lambda, slope) = (5usize, 4usize, 6usize, 10.0f64, 0.2f64);
    let mut rng = Rng::new(60);
    let x = rng.uniform(batch * d_in, -1.0, 1.0);
    let w1 = rng.uniform(d_in * hidden, -0.8, 0.8);
    let b1 = rng.uniform(hidden, -0.3, 0.3);
    let w2 = rng.uniform(hidden, -1.0, 1.0);

    let gp_cpu = |w1: &[f64], b1: &[f64], w2: &[f64]| -> f64 {
        let mut total = 0.0;
        for i in 0..batch {
            let mut g = vec![0.0; d_in];
            for h in 0..hidden {
                let pre: f64 = (0..d_in)
                    .map(|k| x[i * d_in + k] as f64 * w1[k * hidden + h])
                    .sum::<f64>()
                    + b1[h];
                let dact = if pre > 0.0 { 1.0 } else { slope };
                for (k, gk) in g.iter_mut().enumerate() {
                    *gk += w1[k * hidden + h] * w2[h] * dact;
                }
            }
            let norm = (g.iter().map(|v| v * v).sum::<f64>() + 1e-12).sqrt();
            total += (norm - 1.0).powi(2);
        }
        lambda * total / batch as f64
    };

    let xt = tensor(&x, &[batch, d_in]).requires_grad_();
    let w1t = tensor(&w1, &[d_in, hidden]).requires_grad_();
    let b1t = tensor(&b1, &[hidden]).requires_grad_();
    let w2t = tensor(&w2, &[hidden, 1]).requires_grad_();
    let critic =
        |x: &Tensor| -> balgan::Result<Tensor> { x.matmul(&w1t)?.add(&b1t)?.leaky_relu(slope as f32)?.matmul(&w2t) };
    let d = critic(&xt).unwrap().sum_all().unwrap();
    let gx = grad(&[&d], &[&xt], true).unwrap().remove(0);
    let norm = gx
        .square()
        .unwrap()
        .sum(&[1], false)
        .unwrap()
        .add_scalar(1e-12)
        .unwrap()
        .sqrt()
        .unwrap();
    let gp = norm
        .add_scalar(-1.0)
        .unwrap()
        .square()
        .unwrap()
        .mean_all()
        .unwrap()
        .mul_scalar(lambda as f32)
        .unwrap();
    let params = [&w1t, &b1t, &w2t];
    let grads = grad(&[&gp], &params, false).unwrap();

    let p64: Vec<Vec<f64>> = [&w1, &b1, &w2].iter().map(|v| to_f64(v)).collect();
    let value = gp_cpu(&p64[0], &p64[1], &p64[2]);
    assert_close("gp value", &[gp.item().unwrap()], &[value], 1e-4, 1e-4);
    for (pi, g) in grads.iter().enumerate() {
        let mut fd = Vec::new();
        for j in 0..p64[pi].len() {
            let h = 1e-6;
            let mut plus = p64.clone();
            let mut minus = p64.clone();
            plus[pi][j] += h;
            minus[pi][j] -= h;
            fd.push((gp_cpu(&plus[0], &plus[1], &plus[2]) - gp_cpu(&minus[0], &minus[1], &minus[2])) / (2.0 * h));
        }
        // Two f32 backward passes through a 2-layer critic: ~1e-5 relative.
        assert_close(
            &format!("d GP / d param {pi}"),
            &g.to_vec().unwrap(),
            &fd,
            1e-4 * scale(&fd),
            1e-3,
        );
    }
}
