//! nn::SelfAttention (SAGAN): the block against an f64 reference written from
//! the paper's equations, with γ ≠ 0 so the attention path counts; gradients
//! of every parameter and of the input, first and second order, through the
//! whole block; a 64×64 map (rows of 4,096 positions); parameter names,
//! shapes, the identity at initialisation and shape errors.

use crate::common::*;
use balgan::nn::{Module, SelfAttention};
use balgan::{Generator, Tensor};

/// Parameter order used by the tests: the layer's own order.
const NAMES: [&str; 9] = [
    "query.weight",
    "query.bias",
    "key.weight",
    "key.bias",
    "value.weight",
    "value.bias",
    "out.weight",
    "out.bias",
    "gamma",
];

/// Parameter shapes for C channels: C' = max(C/8, 1), C'' = max(C/2, 1).
fn param_shapes(c: usize) -> Vec<Vec<usize>> {
    let (qk, hv) = ((c / 8).max(1), (c / 2).max(1));
    vec![
        vec![qk, c, 1, 1],
        vec![qk],
        vec![qk, c, 1, 1],
        vec![qk],
        vec![hv, c, 1, 1],
        vec![hv],
        vec![c, hv, 1, 1],
        vec![c],
        vec![1],
    ]
}

/// f64 SAGAN self-attention from the equations: for each image, with x_i the
/// C-vector at position i,
///   f(x_i) = W_f x_i + b_f (key), g(x_j) = W_g x_j + b_g (query),
///   h(x_i) = W_h x_i + b_h (value), s_ij = f(x_i)·g(x_j),
///   β_{j,i} = e^(s_ij) / Σ_k e^(s_kj), o_j = W_v (Σ_i β_{j,i} h(x_i)) + b_v,
///   y_j = γ o_j + x_j.
/// `p` holds the parameters in NAMES order; weights are [out, in, 1, 1].
fn attention_ref(x: &[f64], shape: &[usize], p: &[Vec<f64>]) -> Vec<f64> {
    let (b, c, n) = (shape[0], shape[1], shape[2] * shape[3]);
    let (qk, hv) = ((c / 8).max(1), (c / 2).max(1));
    let (wq, bq, wk, bk, wv, bv, wo, bo) = (&p[0], &p[1], &p[2], &p[3], &p[4], &p[5], &p[6], &p[7]);
    let gamma = p[8][0];
    // y = W·v + b for a weight [out, in] and a vector v of length in.
    let affine = |w: &[f64], bias: &[f64], v: &[f64], out: usize| -> Vec<f64> {
        (0..out)
            .map(|o| bias[o] + v.iter().enumerate().map(|(i, vi)| w[o * v.len() + i] * vi).sum::<f64>())
            .collect()
    };
    let mut y = vec![0.0; x.len()];
    for bi in 0..b {
        let pos = |i: usize| -> Vec<f64> { (0..c).map(|ch| x[(bi * c + ch) * n + i]).collect() };
        let xs: Vec<Vec<f64>> = (0..n).map(pos).collect();
        let f: Vec<Vec<f64>> = xs.iter().map(|v| affine(wk, bk, v, qk)).collect();
        let g: Vec<Vec<f64>> = xs.iter().map(|v| affine(wq, bq, v, qk)).collect();
        let h: Vec<Vec<f64>> = xs.iter().map(|v| affine(wv, bv, v, hv)).collect();
        for j in 0..n {
            let s: Vec<f64> = (0..n)
                .map(|i| f[i].iter().zip(&g[j]).map(|(a, b)| a * b).sum())
                .collect();
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = s.iter().map(|v| (v - m).exp()).sum();
            let mut a = vec![0.0; hv];
            for i in 0..n {
                let beta = (s[i] - m).exp() / z;
                for (ac, hc) in a.iter_mut().zip(&h[i]) {
                    *ac += beta * hc;
                }
            }
            let o = affine(wo, bo, &a, c);
            for ch in 0..c {
                y[(bi * c + ch) * n + j] = gamma * o[ch] + xs[j][ch];
            }
        }
    }
    y
}

/// A layer whose parameters are the given tensors (leaves of the caller's
/// graph), in NAMES order.
fn layer_from(p: &[Tensor]) -> SelfAttention {
    SelfAttention {
        query_weight: p[0].clone(),
        query_bias: p[1].clone(),
        key_weight: p[2].clone(),
        key_bias: p[3].clone(),
        value_weight: p[4].clone(),
        value_bias: p[5].clone(),
        out_weight: p[6].clone(),
        out_bias: p[7].clone(),
        gamma: p[8].clone(),
    }
}

/// Random parameters: weights and biases in [-0.6, 0.6] (large enough that
/// the attention is far from uniform), γ in ±[0.5, 1].
fn random_params(rng: &mut Rng, c: usize) -> Vec<Vec<f32>> {
    param_shapes(c)
        .iter()
        .enumerate()
        .map(|(k, s)| {
            if k == 8 {
                rng.away_from_zero(1, 0.5, 1.0)
            } else {
                rng.uniform(numel(s), -0.6, 0.6)
            }
        })
        .collect()
}

#[test]
fn parameters_names_shapes_and_identity_at_init() {
    let rng = Generator::new(5);
    let layer = SelfAttention::new(dev(), &rng, 16).unwrap();
    assert_eq!(layer.channels(), 16);
    let params = layer.parameters();
    let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, NAMES);
    for ((name, t), want) in params.iter().zip(param_shapes(16)) {
        assert_eq!(t.shape(), want.as_slice(), "{name}");
        assert!(t.requires_grad() && t.is_leaf(), "{name} must be a trainable leaf");
    }
    // Weights ~ N(0, 0.02²): 16·2 + 16·2 + 8·16 + 16·8 = 320 draws; their
    // sample standard deviation is within 20% of 0.02 with overwhelming
    // probability (the relative standard error is 1/√640 ≈ 4%).
    let w: Vec<f32> = [0, 2, 4, 6]
        .iter()
        .flat_map(|&k| params[k].1.to_vec().unwrap())
        .collect();
    let sd = (w.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / w.len() as f64).sqrt();
    assert!((sd - 0.02).abs() < 0.004, "weight std {sd}, want 0.02");
    for k in [1, 3, 5, 7, 8] {
        assert!(
            params[k].1.to_vec().unwrap().iter().all(|&v| v == 0.0),
            "{} starts at 0",
            NAMES[k]
        );
    }
    // γ = 0: the block is the identity, exactly (x + 0·o).
    let mut r = Rng::new(80);
    let x = r.uniform(2 * 16 * 3 * 3, -1.0, 1.0);
    let y = layer.forward(&tensor(&x, &[2, 16, 3, 3])).unwrap();
    assert_eq!(y.shape(), &[2, 16, 3, 3]);
    assert_eq!(y.to_vec().unwrap(), x, "γ = 0 must give y = x");
    // Few channels: C' and C'' never drop to 0.
    let small = SelfAttention::new(dev(), &rng, 1).unwrap();
    let shapes: Vec<Vec<usize>> = small.parameters().iter().map(|(_, t)| t.shape().to_vec()).collect();
    assert_eq!(shapes, param_shapes(1));
}

#[test]
fn forward_matches_f64_reference() {
    let mut rng = Rng::new(81);
    for shape in [[2usize, 8, 2, 2], [2, 16, 3, 5], [1, 8, 1, 1], [3, 4, 2, 3]] {
        let c = shape[1];
        let layer = SelfAttention::new(dev(), &Generator::new(9), c).unwrap();
        let p = random_params(&mut rng, c);
        for ((_, t), v) in layer.parameters().iter().zip(&p) {
            t.assign_slice_(v).unwrap();
        }
        let x = rng.uniform(numel(&shape), -1.0, 1.0);
        let y = layer.forward(&tensor(&x, &shape)).unwrap();
        assert_eq!(y.shape(), shape.as_slice());
        let p64: Vec<Vec<f64>> = p.iter().map(|v| to_f64(v)).collect();
        let want = attention_ref(&to_f64(&x), &shape, &p64);
        // A chain of f32 matmuls over ≤ 16 terms, a softmax and a final
        // affine map of values of order 1: a few ulps each, 1e-5 overall.
        assert_close(&format!("attention {shape:?}"), &y.to_vec().unwrap(), &want, 1e-5, 1e-5);
        // The attention path matters: y differs from x by γ·o.
        let diff = want
            .iter()
            .zip(&x)
            .map(|(a, b)| (a - *b as f64).abs())
            .fold(0.0, f64::max);
        assert!(
            diff > 1e-2,
            "γ·o is negligible ({diff}): the test would not see the attention path"
        );
        // Rows of the attention map are distributions.
        let beta = layer.attention_map(&tensor(&x, &shape)).unwrap();
        let n = shape[2] * shape[3];
        assert_eq!(beta.shape(), &[shape[0], n, n]);
        let sums = beta.sum(&[-1], false).unwrap().to_vec().unwrap();
        assert_close("attention rows sum to 1", &sums, &vec![1.0; shape[0] * n], 0.0, 1e-5);
    }
}

/// First and second order through the whole block, with respect to the
/// input and every parameter. The second-order check is the gradient-penalty
/// case: ∂/∂θ of a function of ∂L/∂x.
#[test]
fn gradients_first_and_second_order() {
    let mut rng = Rng::new(82);
    for shape in [[2usize, 8, 2, 2], [2, 8, 1, 1], [1, 4, 1, 3]] {
        let c = shape[1];
        let mut inputs = vec![(rng.uniform(numel(&shape), -1.0, 1.0), shape.to_vec())];
        inputs.extend(random_params(&mut rng, c).into_iter().zip(param_shapes(c)));
        for second_order in [true, false] {
            check_op(OpCheck {
                name: &format!(
                    "self-attention {shape:?} {}",
                    if second_order { "create_graph" } else { "no graph" }
                ),
                inputs: inputs.clone(),
                gpu: &|t| layer_from(&t[1..]).forward(&t[0]),
                cpu: &|x| attention_ref(&x[0], &shape, &x[1..]),
                second_order,
            });
        }
    }
}

/// A 64×64 map: softmax rows of 4,096 positions, a [1, 4096, 4096] score
/// matrix, forward only.
#[test]
fn map_of_4096_positions() {
    let mut rng = Rng::new(83);
    let shape = [1usize, 8, 64, 64];
    let layer = SelfAttention::new(dev(), &Generator::new(10), 8).unwrap();
    let p = random_params(&mut rng, 8);
    for ((_, t), v) in layer.parameters().iter().zip(&p) {
        t.assign_slice_(v).unwrap();
    }
    let x = rng.uniform(numel(&shape), -1.0, 1.0);
    let y = layer.forward(&tensor(&x, &shape)).unwrap();
    let p64: Vec<Vec<f64>> = p.iter().map(|v| to_f64(v)).collect();
    let want = attention_ref(&to_f64(&x), &shape, &p64);
    // Each output sums 4,096 weighted values: the f32 matmul and softmax
    // row sums carry ~√4096·2⁻²⁴ relative error each; 1e-5 absolute on
    // values of order 1, plus 1e-4 relative.
    assert_close("attention 64×64", &y.to_vec().unwrap(), &want, 1e-5, 1e-4);
}

#[test]
fn input_shape_errors() {
    let layer = SelfAttention::new(dev(), &Generator::new(11), 8).unwrap();
    let e = layer
        .forward(&tensor(&[0.0; 16], &[1, 4, 2, 2]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("SelfAttention") && e.contains("[B, 8, H, W]"), "{e}");
    assert!(layer.forward(&tensor(&[0.0; 8], &[1, 8, 1])).is_err());
    assert!(SelfAttention::new(dev(), &Generator::new(11), 0).is_err());
}
