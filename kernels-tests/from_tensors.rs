//! Layers built from the caller's tensors (`from_tensors`): the gradient
//! asked for through the caller's own handle is the layer's, checked against
//! central differences that perturb the caller's tensor in place (so the
//! layer must read the very buffer the caller holds); a caller's tensor that
//! does not require a gradient gives an error, not zeros; shapes are checked
//! with errors that name the layer; batch norm's running statistics are the
//! caller's; attention's widths are free. Also the gradient penalty's norms
//! against an f64 reference.

use crate::common::*;
use balgan::nn::{
    gradient_penalty_and_norms_with_alpha, BatchNorm2d, Conv2d, ConvTranspose2d, Embedding, Linear, Module,
    SelfAttention, SelfAttentionTensors,
};
use balgan::{grad, Conv2dOptions, ConvTranspose2dOptions, Error, IndexTensor, Result, Tensor};

/// A leaf on the caller's side that requires a gradient, from random values.
fn leaf(rng: &mut Rng, shape: &[usize]) -> Tensor {
    tensor(&rng.uniform(numel(shape), -1.0, 1.0), shape).requires_grad_()
}

/// The gradient of `loss()` with respect to the caller's `handle` against
/// central differences, each element of `handle` moved by ±h in place.
/// Every loss here is linear in the checked tensor (a weighted sum of the
/// layer's outputs, which are affine in it), so the differences are exact but
/// for f32 rounding: |loss| ≈ 10 at most, rounding 1e-6·10 over 2h = 0.02
/// is 5e-4; the tolerance is 2e-3.
fn gradient_through_handle_matches_differences(what: &str, handle: &Tensor, loss: impl Fn() -> Result<Tensor>) {
    let g = grad(&[&loss().unwrap()], &[handle], false).unwrap().remove(0);
    let got = g.to_vec().unwrap();
    assert!(
        got.iter().any(|v| v.abs() > 1e-3),
        "{what}: the gradient through the caller's handle is all zeros"
    );
    let base = handle.to_vec().unwrap();
    let h = 1e-2f32;
    let mut want = Vec::with_capacity(base.len());
    for i in 0..base.len() {
        let mut v = base.clone();
        v[i] = base[i] + h;
        handle.assign_slice_(&v).unwrap();
        let plus = loss().unwrap().item().unwrap() as f64;
        v[i] = base[i] - h;
        handle.assign_slice_(&v).unwrap();
        let minus = loss().unwrap().item().unwrap() as f64;
        want.push((plus - minus) / (2.0 * h as f64));
    }
    handle.assign_slice_(&base).unwrap();
    assert_close(what, &got, &want, 2e-3, 2e-3);
}

/// Σ y·r for fixed random r: every output element counts with its own weight.
fn weighted_sum(y: &Tensor, r: &Tensor) -> Result<Tensor> {
    y.mul(r)?.sum_all()
}

#[test]
fn every_layer_built_from_tensors_gives_the_callers_handle_its_gradient() {
    let mut rng = Rng::new(0xF7);
    let d = dev();

    // Linear: weight [3, 2], bias [2].
    let (w, b) = (leaf(&mut rng, &[3, 2]), leaf(&mut rng, &[2]));
    let lin = Linear::from_tensors(w.clone(), Some(b.clone())).unwrap();
    let x = tensor(&rng.uniform(4 * 3, -1.0, 1.0), &[4, 3]);
    let r = tensor(&rng.uniform(4 * 2, -1.0, 1.0), &[4, 2]);
    let loss = || weighted_sum(&lin.forward(&x)?, &r);
    gradient_through_handle_matches_differences("Linear weight", &w, loss);
    gradient_through_handle_matches_differences("Linear bias", &b, loss);

    // Embedding: [5, 3], repeated labels.
    let table = leaf(&mut rng, &[5, 3]);
    let emb = Embedding::from_tensor(table.clone()).unwrap();
    let labels = IndexTensor::new(d, &[4, 0, 4, 2]).unwrap();
    let r = tensor(&rng.uniform(4 * 3, -1.0, 1.0), &[4, 3]);
    gradient_through_handle_matches_differences("Embedding weight", &table, || weighted_sum(&emb.embed(&labels)?, &r));

    // Conv2d: 3 → 2 channels, 3×3 kernel, stride 2, padding 1, on a 5×5 image.
    let (w, b) = (leaf(&mut rng, &[2, 3, 3, 3]), leaf(&mut rng, &[2]));
    let conv = Conv2d::from_tensors(w.clone(), Some(b.clone()), Conv2dOptions::new(2, 1)).unwrap();
    let x = tensor(&rng.uniform(2 * 3 * 25, -1.0, 1.0), &[2, 3, 5, 5]);
    let r = tensor(&rng.uniform(2 * 2 * 9, -1.0, 1.0), &[2, 2, 3, 3]);
    let loss = || weighted_sum(&conv.forward(&x)?, &r);
    gradient_through_handle_matches_differences("Conv2d weight", &w, loss);
    gradient_through_handle_matches_differences("Conv2d bias", &b, loss);

    // ConvTranspose2d: 2 → 3 channels, 4×4 kernel, stride 2, padding 1: 3×3 → 6×6.
    let (w, b) = (leaf(&mut rng, &[2, 3, 4, 4]), leaf(&mut rng, &[3]));
    let opts = ConvTranspose2dOptions::new(2, 1, 0);
    let deconv = ConvTranspose2d::from_tensors(w.clone(), Some(b.clone()), opts).unwrap();
    let x = tensor(&rng.uniform(2 * 2 * 9, -1.0, 1.0), &[2, 2, 3, 3]);
    let r = tensor(&rng.uniform(2 * 3 * 36, -1.0, 1.0), &[2, 3, 6, 6]);
    let loss = || weighted_sum(&deconv.forward(&x)?, &r);
    gradient_through_handle_matches_differences("ConvTranspose2d weight", &w, loss);
    gradient_through_handle_matches_differences("ConvTranspose2d bias", &b, loss);

    // BatchNorm2d in evaluation mode (affine in γ and β given the running statistics).
    let (gamma, beta) = (leaf(&mut rng, &[3]), leaf(&mut rng, &[3]));
    let mean = tensor(&rng.uniform(3, -0.5, 0.5), &[3]);
    let var = tensor(&rng.uniform(3, 0.5, 2.0), &[3]);
    let bn = BatchNorm2d::from_tensors(Some(gamma.clone()), Some(beta.clone()), mean, var, 1e-5, 0.1).unwrap();
    bn.set_training(false);
    let x = tensor(&rng.uniform(2 * 3 * 4, -2.0, 2.0), &[2, 3, 2, 2]);
    let r = tensor(&rng.uniform(2 * 3 * 4, -1.0, 1.0), &[2, 3, 2, 2]);
    let loss = || weighted_sum(&bn.forward(&x)?, &r);
    gradient_through_handle_matches_differences("BatchNorm2d weight", &gamma, loss);
    gradient_through_handle_matches_differences("BatchNorm2d bias", &beta, loss);

    // SelfAttention with the value at full width (C'' = C = 4, C' = 2): γ
    // and the output projection, in which the block is affine.
    let conv1x1 = |rng: &mut Rng, o: usize, i: usize| (leaf(rng, &[o, i, 1, 1]), leaf(rng, &[o]));
    let (query, key, value) = (
        conv1x1(&mut rng, 2, 4),
        conv1x1(&mut rng, 2, 4),
        conv1x1(&mut rng, 4, 4),
    );
    let out = conv1x1(&mut rng, 4, 4);
    let g = tensor(&[0.7], &[1]).requires_grad_();
    let (out_w, out_b) = out.clone();
    let att = SelfAttention::from_tensors(SelfAttentionTensors {
        query,
        key,
        value,
        out,
        gamma: g.clone(),
    })
    .unwrap();
    let x = tensor(&rng.uniform(2 * 4 * 6, -1.0, 1.0), &[2, 4, 2, 3]);
    let r = tensor(&rng.uniform(2 * 4 * 6, -1.0, 1.0), &[2, 4, 2, 3]);
    let loss = || weighted_sum(&att.forward(&x)?, &r);
    gradient_through_handle_matches_differences("SelfAttention gamma", &g, loss);
    gradient_through_handle_matches_differences("SelfAttention out.weight", &out_w, loss);
    gradient_through_handle_matches_differences("SelfAttention out.bias", &out_b, loss);
}

#[test]
fn a_tensor_that_does_not_require_a_gradient_gives_an_error_through_its_handle_not_zeros() {
    let mut rng = Rng::new(0xF8);
    let w = tensor(&rng.uniform(6, -1.0, 1.0), &[3, 2]);
    let lin = Linear::from_tensors(w.clone(), None).unwrap();
    assert!(lin.weight.requires_grad(), "the layer's weight is a parameter");
    assert!(lin.weight.shares_storage(&w), "on the caller's buffer");
    let x = tensor(&rng.uniform(3, -1.0, 1.0), &[1, 3]);
    let loss = lin.forward(&x).unwrap().sum_all().unwrap();
    let e = grad(&[&loss], &[&w], false).expect_err("the caller's handle does not require a gradient");
    assert!(matches!(e, Error::InvalidArgument { op: "grad", .. }), "{e}");
    // Through the layer's field the gradient is there: dL/dW[i][j] = x[i].
    let g = grad(&[&loss], &[&lin.weight], false)
        .unwrap()
        .remove(0)
        .to_vec()
        .unwrap();
    let xs = x.to_vec().unwrap();
    let want: Vec<f64> = (0..6).map(|k| xs[k / 2] as f64).collect();
    assert_close("Linear weight via the field", &g, &want, 1e-6, 0.0);
}

#[test]
fn the_output_of_ops_is_refused_as_a_parameter() {
    let mut rng = Rng::new(0xFC);
    let leaf = tensor(&rng.uniform(6, -1.0, 1.0), &[3, 2]).requires_grad_();
    let derived = leaf.mul_scalar(2.0).unwrap();
    let e = Linear::from_tensors(derived, None).err().expect("a derived weight");
    assert!(e.to_string().contains("output of ops"), "{e}");
    // Its current values, detached, are fine.
    let taken = leaf.mul_scalar(2.0).unwrap().detach();
    assert!(Linear::from_tensors(taken, None).is_ok());
}

#[test]
fn batch_norm_refuses_tensors_that_share_a_buffer() {
    let stats = tensor(&[0.0; 3], &[3]);
    let e = BatchNorm2d::from_tensors(None, None, stats.clone(), stats.detach(), 1e-5, 0.1)
        .err()
        .expect("one buffer for both statistics");
    assert!(e.to_string().contains("a buffer of their own"), "{e}");
}

#[test]
fn batch_norm_from_tensors_updates_the_callers_running_statistics() {
    let mut rng = Rng::new(0xF9);
    let (mean, var) = (tensor(&[0.0; 2], &[2]), tensor(&[1.0; 2], &[2]));
    let bn = BatchNorm2d::from_tensors(None, None, mean.clone(), var.clone(), 1e-5, 0.25).unwrap();
    assert!(bn.parameters().is_empty(), "no affine parameters were given");
    let data = rng.uniform(3 * 2 * 4, -2.0, 2.0);
    bn.forward(&tensor(&data, &[3, 2, 2, 2])).unwrap();
    // f64: the batch mean and the unbiased batch variance of each channel.
    for c in 0..2 {
        let v: Vec<f64> = (0..3)
            .flat_map(|n| (0..4).map(move |i| (n, i)))
            .map(|(n, i)| data[(n * 2 + c) * 4 + i] as f64)
            .collect();
        let m = v.iter().sum::<f64>() / v.len() as f64;
        let unbiased = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64;
        let got_mean = mean.to_vec().unwrap()[c] as f64;
        let got_var = var.to_vec().unwrap()[c] as f64;
        assert!(
            (got_mean - 0.25 * m).abs() < 1e-5,
            "channel {c}: mean {got_mean} vs {}",
            0.25 * m
        );
        assert!(
            (got_var - (0.75 + 0.25 * unbiased)).abs() < 1e-5,
            "channel {c}: var {got_var} vs {}",
            0.75 + 0.25 * unbiased
        );
    }
}

#[test]
fn layers_from_tensors_check_shapes_and_name_themselves() {
    let mut rng = Rng::new(0xFA);
    let t = |rng: &mut Rng, shape: &[usize]| tensor(&rng.uniform(numel(shape), -1.0, 1.0), shape);
    let named = |e: Error, layer: &str| {
        let text = e.to_string();
        assert!(text.starts_with(layer), "the error names {layer}: {text}");
    };
    named(Linear::from_tensors(t(&mut rng, &[6]), None).err().unwrap(), "Linear");
    named(
        Linear::from_tensors(t(&mut rng, &[3, 2]), Some(t(&mut rng, &[3])))
            .err()
            .unwrap(),
        "Linear",
    );
    named(Embedding::from_tensor(t(&mut rng, &[4])).err().unwrap(), "Embedding");
    let conv = Conv2dOptions::new(1, 0);
    named(
        Conv2d::from_tensors(t(&mut rng, &[2, 3, 3]), None, conv).err().unwrap(),
        "Conv2d",
    );
    named(
        Conv2d::from_tensors(t(&mut rng, &[2, 3, 3, 3]), Some(t(&mut rng, &[3])), conv)
            .err()
            .unwrap(),
        "Conv2d",
    );
    // ConvTranspose2d's bias follows axis 1 of [in, out, kh, kw].
    let tconv = ConvTranspose2dOptions::default();
    assert!(ConvTranspose2d::from_tensors(t(&mut rng, &[2, 3, 3, 3]), Some(t(&mut rng, &[3])), tconv).is_ok());
    named(
        ConvTranspose2d::from_tensors(t(&mut rng, &[2, 3, 3, 3]), Some(t(&mut rng, &[2])), tconv)
            .err()
            .unwrap(),
        "ConvTranspose2d",
    );
    let stats = |rng: &mut Rng, c: usize| (t(rng, &[c]), t(rng, &[c]));
    let (m, v) = stats(&mut rng, 3);
    named(
        BatchNorm2d::from_tensors(Some(t(&mut rng, &[3])), None, m, v, 1e-5, 0.1)
            .err()
            .unwrap(),
        "BatchNorm2d",
    );
    let (m, _) = stats(&mut rng, 3);
    named(
        BatchNorm2d::from_tensors(None, None, m, t(&mut rng, &[2]), 1e-5, 0.1)
            .err()
            .unwrap(),
        "BatchNorm2d",
    );
    let (m, v) = stats(&mut rng, 3);
    named(
        BatchNorm2d::from_tensors(None, None, m, v, -1.0, 0.1).err().unwrap(),
        "BatchNorm2d",
    );
    // Attention: the key must agree with the query, the out projection with the value.
    let conv1x1 = |rng: &mut Rng, o: usize, i: usize| (t(rng, &[o, i, 1, 1]), t(rng, &[o]));
    let parts = |rng: &mut Rng, key_out: usize, out_in: usize| SelfAttentionTensors {
        query: conv1x1(rng, 2, 8),
        key: conv1x1(rng, key_out, 8),
        value: conv1x1(rng, 8, 8),
        out: conv1x1(rng, 8, out_in),
        gamma: t(rng, &[1]),
    };
    assert!(SelfAttention::from_tensors(parts(&mut rng, 2, 8)).is_ok());
    named(
        SelfAttention::from_tensors(parts(&mut rng, 3, 8)).err().unwrap(),
        "SelfAttention",
    );
    named(
        SelfAttention::from_tensors(parts(&mut rng, 2, 4)).err().unwrap(),
        "SelfAttention",
    );
}

#[test]
fn attention_widths_are_free() {
    let rng = balgan::Generator::new(3);
    let att = SelfAttention::with_widths(dev(), &rng, 8, 3, 8).unwrap();
    let shapes: Vec<Vec<usize>> = att.parameters().into_iter().map(|(_, t)| t.shape().to_vec()).collect();
    assert_eq!(
        shapes,
        vec![
            vec![3, 8, 1, 1],
            vec![3],
            vec![3, 8, 1, 1],
            vec![3],
            vec![8, 8, 1, 1],
            vec![8],
            vec![8, 8, 1, 1],
            vec![8],
            vec![1]
        ]
    );
    let x = rng.normal(dev(), &[2, 8, 3, 3], 0.0, 1.0).unwrap();
    assert_eq!(att.forward(&x).unwrap().shape(), &[2, 8, 3, 3]);
    assert!(SelfAttention::with_widths(dev(), &rng, 8, 0, 8).is_err());
}

/// The penalty's norms against f64 for a critic D(x) = Σ_j v_j·tanh((x·W)_j):
/// ∇_x D = W·(v ⊙ (1 − tanh²(x·W))), evaluated at x̂ = α·x + (1 − α)·x̃.
/// Tolerance 1e-5 relative: a handful of f32 products and a tanh.
#[test]
fn the_gradient_penalty_returns_the_norms_it_was_made_from() {
    let mut rng = Rng::new(0xFB);
    let (b, n, h) = (5, 3, 4);
    let (xr, xf) = (rng.uniform(b * n, -1.0, 1.0), rng.uniform(b * n, -1.0, 1.0));
    let (w, v, alpha) = (
        rng.uniform(n * h, -1.0, 1.0),
        rng.uniform(h, -1.0, 1.0),
        rng.uniform(b, 0.0, 1.0),
    );
    let lw = Linear::from_tensors(tensor(&w, &[n, h]), None).unwrap();
    let lv = Linear::from_tensors(tensor(&v, &[h, 1]), None).unwrap();
    let critic = |x: &Tensor| lv.forward(&lw.forward(x)?.tanh()?);
    let lambda = 10.0;
    let gp = gradient_penalty_and_norms_with_alpha(
        critic,
        &tensor(&xr, &[b, n]),
        &tensor(&xf, &[b, n]),
        lambda,
        &tensor(&alpha, &[b]),
    )
    .unwrap();
    assert!(!gp.gradient_norms.requires_grad(), "the norms are off the tape");
    let mut norms = Vec::new();
    for i in 0..b {
        let a = alpha[i] as f64;
        let x: Vec<f64> = (0..n)
            .map(|k| a * xr[i * n + k] as f64 + (1.0 - a) * xf[i * n + k] as f64)
            .collect();
        let pre: Vec<f64> = (0..h)
            .map(|j| (0..n).map(|k| x[k] * w[k * h + j] as f64).sum())
            .collect();
        let g: Vec<f64> = (0..n)
            .map(|k| {
                (0..h)
                    .map(|j| w[k * h + j] as f64 * v[j] as f64 * (1.0 - pre[j].tanh().powi(2)))
                    .sum()
            })
            .collect();
        norms.push(g.iter().map(|e| e * e).sum::<f64>().sqrt());
    }
    assert_close(
        "gradient norms",
        &gp.gradient_norms.to_vec().unwrap(),
        &norms,
        1e-6,
        1e-5,
    );
    let penalty = lambda as f64 * norms.iter().map(|n| (n - 1.0).powi(2)).sum::<f64>() / b as f64;
    assert_close("penalty", &[gp.penalty.item().unwrap()], &[penalty], 1e-6, 1e-5);
}
