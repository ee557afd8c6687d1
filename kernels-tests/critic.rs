//! Second order through a small critic of the kind the models use:
//! conv → LeakyReLU → conv → self-attention → flatten ⊙ label embedding →
//! linear. The WGAN-GP penalty's gradient with respect to every kind of
//! parameter, computed by double backward on the GPU, against central finite
//! differences of an f64 reference of the whole penalty (whose inner ∇ₓD is
//! itself a central difference in f64).

use crate::common::*;
use crate::conv2d::conv_ref;
use balgan::nn::{Embedding, Module, SelfAttention};
use balgan::{grad, Conv2dOptions, IndexTensor, Tensor};

const B: usize = 2;
const CIN: usize = 2;
const HW: usize = 6;
const C: usize = 4;
const N: usize = 9; // 3×3 positions after the stride-2 conv
const QK: usize = 1; // C/8, at least 1
const HV: usize = 2; // C/2
const K: usize = 3; // classes
const F: usize = C * N; // features into the linear layer
const LAMBDA: f64 = 10.0;
const SLOPE: f64 = 0.2;

/// Parameter tensors in a fixed order: (name, shape).
fn layout() -> Vec<(&'static str, Vec<usize>)> {
    vec![
        ("conv1.weight", vec![C, CIN, 3, 3]),
        ("conv1.bias", vec![C]),
        ("conv2.weight", vec![C, C, 3, 3]),
        ("conv2.bias", vec![C]),
        ("attn.query.weight", vec![QK, C, 1, 1]),
        ("attn.query.bias", vec![QK]),
        ("attn.key.weight", vec![QK, C, 1, 1]),
        ("attn.key.bias", vec![QK]),
        ("attn.value.weight", vec![HV, C, 1, 1]),
        ("attn.value.bias", vec![HV]),
        ("attn.out.weight", vec![C, HV, 1, 1]),
        ("attn.out.bias", vec![C]),
        ("attn.gamma", vec![1]),
        ("embed.weight", vec![K, F]),
        ("linear.weight", vec![F, 1]),
        ("linear.bias", vec![1]),
    ]
}

/// The critic in f64: D(x) per sample.
fn critic_ref(p: &[Vec<f64>], x: &[f64], labels: &[u32]) -> Vec<f64> {
    let (h1, _) = conv_ref(
        x,
        [B, CIN, HW, HW],
        &p[0],
        [C, CIN, 3, 3],
        Some(&p[1]),
        Conv2dOptions::new(2, 1),
    );
    let h1: Vec<f64> = h1.iter().map(|&v| if v > 0.0 { v } else { SLOPE * v }).collect();
    let (h2, _) = conv_ref(
        &h1,
        [B, C, 3, 3],
        &p[2],
        [C, C, 3, 3],
        Some(&p[3]),
        Conv2dOptions::new(1, 1),
    );
    let mut out = Vec::with_capacity(B);
    for b in 0..B {
        let xs = &h2[b * F..(b + 1) * F]; // [C, N]
        let proj = |w: &[f64], bias: &[f64], rows: usize, cols: usize, input: &[f64]| -> Vec<f64> {
            let mut o = vec![0.0; rows * N];
            for r in 0..rows {
                for n in 0..N {
                    o[r * N + n] = bias[r] + (0..cols).map(|c| w[r * cols + c] * input[c * N + n]).sum::<f64>();
                }
            }
            o
        };
        let q = proj(&p[4], &p[5], QK, C, xs);
        let k = proj(&p[6], &p[7], QK, C, xs);
        let v = proj(&p[8], &p[9], HV, C, xs);
        // β[j, i] = softmax_i Σ_c q[c, j]·k[c, i]
        let mut a = vec![0.0; HV * N];
        for j in 0..N {
            let s: Vec<f64> = (0..N)
                .map(|i| (0..QK).map(|c| q[c * N + j] * k[c * N + i]).sum())
                .collect();
            let m = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|v| (v - m).exp()).collect();
            let z: f64 = e.iter().sum();
            for c in 0..HV {
                a[c * N + j] = (0..N).map(|i| v[c * N + i] * e[i] / z).sum();
            }
        }
        let o = proj(&p[10], &p[11], C, HV, &a);
        let label = labels[b] as usize;
        let mut d = p[15][0];
        for f in 0..F {
            let y = xs[f] + p[12][0] * o[f];
            d += y * p[13][label * F + f] * p[14][f];
        }
        out.push(d);
    }
    out
}

/// GP = λ·mean_b (‖∇ₓ D(x)_b‖ − 1)², with ∇ₓ D by central differences.
fn gp_ref(p: &[Vec<f64>], x: &[f64], labels: &[u32]) -> f64 {
    let per = CIN * HW * HW;
    let mut sq = [0.0; B];
    for (i, _) in x.iter().enumerate() {
        let h = 1e-5;
        let (mut xp, mut xm) = (x.to_vec(), x.to_vec());
        xp[i] += h;
        xm[i] -= h;
        let b = i / per;
        // D of sample b depends only on x of sample b.
        let g = (critic_ref(p, &xp, labels)[b] - critic_ref(p, &xm, labels)[b]) / (2.0 * h);
        sq[b] += g * g;
    }
    LAMBDA * sq.iter().map(|s| ((s + 1e-12).sqrt() - 1.0).powi(2)).sum::<f64>() / B as f64
}

#[test]
fn gradient_penalty_through_conv_attention_embedding_critic_matches_finite_differences() {
    let mut rng = Rng::new(90);
    let labels: Vec<u32> = (0..B).map(|_| rng.below(K as u64) as u32).collect();
    // Draw until no first-layer pre-activation sits within 1e-2 of LeakyReLU's kink
    // (finite differences must not cross it).
    let (params, x) = loop {
        let params: Vec<Vec<f32>> = layout()
            .iter()
            .map(|(name, shape)| {
                let n = numel(shape);
                match *name {
                    "attn.gamma" => vec![0.7],
                    // Large enough that the attention is far from uniform.
                    n2 if n2.starts_with("attn.query") || n2.starts_with("attn.key") => rng.uniform(n, -1.5, 1.5),
                    _ => rng.uniform(n, -0.6, 0.6),
                }
            })
            .collect();
        let x = rng.uniform(B * CIN * HW * HW, -1.0, 1.0);
        let p64: Vec<Vec<f64>> = params.iter().map(|v| to_f64(v)).collect();
        let (h1, _) = conv_ref(
            &to_f64(&x),
            [B, CIN, HW, HW],
            &p64[0],
            [C, CIN, 3, 3],
            Some(&p64[1]),
            Conv2dOptions::new(2, 1),
        );
        if h1.iter().all(|v| v.abs() > 1e-2) {
            break (params, x);
        }
    };
    let p64: Vec<Vec<f64>> = params.iter().map(|v| to_f64(v)).collect();

    // The same critic on the GPU, from the same numbers.
    let t: Vec<Tensor> = params
        .iter()
        .zip(layout())
        .map(|(v, (_, s))| tensor(v, &s).requires_grad_())
        .collect();
    let attn = SelfAttention {
        query_weight: t[4].clone(),
        query_bias: t[5].clone(),
        key_weight: t[6].clone(),
        key_bias: t[7].clone(),
        value_weight: t[8].clone(),
        value_bias: t[9].clone(),
        out_weight: t[10].clone(),
        out_bias: t[11].clone(),
        gamma: t[12].clone(),
    };
    let embed = Embedding::from_tensor(t[13].clone()).unwrap();
    let labels_t = IndexTensor::new(dev(), &labels).unwrap();
    let critic = |x: &Tensor| -> balgan::Result<Tensor> {
        let h = x
            .conv2d(&t[0], Some(&t[1]), Conv2dOptions::new(2, 1))?
            .leaky_relu(SLOPE as f32)?;
        let h = h.conv2d(&t[2], Some(&t[3]), Conv2dOptions::new(1, 1))?;
        let h = attn.forward(&h)?.reshape(&[B, F])?;
        h.mul(&embed.embed(&labels_t)?)?.matmul(&t[14])?.add(&t[15])
    };
    let d_gpu = critic(&tensor(&x, &[B, CIN, HW, HW])).unwrap().to_vec().unwrap();
    assert_close(
        "critic forward",
        &d_gpu,
        &critic_ref(&p64, &to_f64(&x), &labels),
        1e-5,
        1e-4,
    );

    let xh = tensor(&x, &[B, CIN, HW, HW]).requires_grad_();
    let d = critic(&xh).unwrap().sum_all().unwrap();
    let g = grad(&[&d], &[&xh], true).unwrap().remove(0);
    let norm = g
        .square()
        .unwrap()
        .sum(&[1, 2, 3], false)
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
        .mul_scalar(LAMBDA as f32)
        .unwrap();
    let gp_value = gp_ref(&p64, &to_f64(&x), &labels);
    assert_close("gradient penalty", &[gp.item().unwrap()], &[gp_value], 1e-4, 1e-3);

    // Parameter gradients; the embedding is the layer's own leaf.
    let mut leaves: Vec<&Tensor> = t.iter().collect();
    leaves[13] = &embed.weight;
    let grads = grad(&[&gp], &leaves, false).unwrap();
    for (pi, (name, _)) in layout().iter().enumerate() {
        let got = grads[pi].to_vec().unwrap();
        // At most 6 entries per tensor keep the nested differences affordable.
        let picks: Vec<usize> = (0..p64[pi].len().min(6))
            .map(|j| j * p64[pi].len() / p64[pi].len().min(6))
            .collect();
        let mut want = Vec::new();
        for &j in &picks {
            let h = 1e-4;
            let (mut pp, mut pm) = (p64.clone(), p64.clone());
            pp[pi][j] += h;
            pm[pi][j] -= h;
            want.push((gp_ref(&pp, &to_f64(&x), &labels) - gp_ref(&pm, &to_f64(&x), &labels)) / (2.0 * h));
        }
        let got: Vec<f32> = picks.iter().map(|&j| got[j]).collect();
        // Two f32 backward passes through five layers against nested f64
        // differences (inner h 1e-5, outer 1e-4: ~1e-6 relative error).
        // Observed: errors ≤ 7e-7 on gradients of 0.02–0.6, so 1e-4 absolute
        // plus 1e-3 relative leaves two orders of magnitude of headroom while
        // any wrong or missing term (an O(1) change) fails.
        assert_close(&format!("dGP/d {name}"), &got, &want, 1e-4, 1e-3);
    }
}
