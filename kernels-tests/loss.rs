//! src/nn/loss.rs and src/nn/gradient_penalty.rs: every loss against an f64
//! reference written from its definition, with first- and second-order
//! gradient checks; BCE at extreme logits; class weights as PyTorch applies
//! them; the gradient penalty's parameter gradients (a double backward)
//! against finite differences of an f64 reference.

use crate::common::*;
use balgan::nn::loss::{self, LsganTargets, Reduction};
use balgan::nn::{gradient_penalty, gradient_penalty_with_alpha, Flatten, LeakyRelu, Linear, Module, Sequential};
use balgan::{grad, Generator, IndexTensor, Tensor};

fn softplus64(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

fn bce64(x: &[f64], t: &[f64]) -> f64 {
    // −t·log σ(x) − (1 − t)·log(1 − σ(x)) = softplus(x) − x·t
    x.iter().zip(t).map(|(&x, &t)| softplus64(x) - x * t).sum::<f64>() / x.len() as f64
}

#[test]
fn bce_with_logits_matches_reference_to_second_order() {
    let mut rng = Rng::new(201);
    let n = 24;
    let mut x = rng.uniform(n, -5.0, 5.0);
    // Logits of exactly 0 (a zero-initialised output layer): the gradient must
    // be σ(0) − t = ½ − t there, and the second derivative ¼.
    x[0] = 0.0;
    x[7] = 0.0;
    let t = rng.uniform(n, 0.0, 1.0);
    check_op(OpCheck {
        name: "bce_with_logits",
        inputs: vec![(x.clone(), vec![4, 6]), (t, vec![4, 6])],
        gpu: &|x| loss::bce_with_logits(&x[0], &x[1]),
        cpu: &|x| vec![bce64(&x[0], &x[1])],
        second_order: true,
    });
    check_op(OpCheck {
        name: "bce_with_logits_scalar",
        inputs: vec![(x, vec![n, 1])],
        gpu: &|x| loss::bce_with_logits_scalar(&x[0], 1.0),
        cpu: &|x| vec![bce64(&x[0], &vec![1.0; n])],
        second_order: true,
    });
}

#[test]
fn bce_with_logits_is_stable_at_extreme_logits() {
    let x = [100.0f32, -100.0, 100.0, -100.0, 30.0, -30.0];
    let t = [1.0f32, 0.0, 0.0, 1.0, 1.0, 0.0];
    let xt = tensor(&x, &[6]).requires_grad_();
    let l = loss::bce_with_logits(&xt, &tensor(&t, &[6])).unwrap();
    let want = bce64(&to_f64(&x), &to_f64(&t));
    // Element losses 0, 0, 100, 100, ~1e-13, ~1e-13: f32 sums to a few ulps.
    assert_close("bce ±100", &[l.item().unwrap()], &[want], 0.0, 1e-6);
    let g = grad(&[&l], &[&xt], true).unwrap().remove(0);
    // ∂/∂x = (σ(x) − t)/n
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    let want_g: Vec<f64> = x
        .iter()
        .zip(&t)
        .map(|(&x, &t)| (sig(x as f64) - t as f64) / 6.0)
        .collect();
    assert_close("bce ±100 gradient", &g.to_vec().unwrap(), &want_g, 1e-7, 1e-5);
    // Second derivative σ(1 − σ)/n: finite, ~0 at ±100.
    let h = grad(&[&g.sum_all().unwrap()], &[&xt], false).unwrap().remove(0);
    let want_h: Vec<f64> = x.iter().map(|&x| sig(x as f64) * (1.0 - sig(x as f64)) / 6.0).collect();
    assert_close("bce ±100 second derivative", &h.to_vec().unwrap(), &want_h, 1e-7, 1e-4);
}

/// Per-sample −log softmax(x_i)_{y_i} in f64 for logits [b, k].
fn ce_rows(x: &[f64], labels: &[u32], k: usize) -> Vec<f64> {
    labels
        .iter()
        .enumerate()
        .map(|(i, &y)| {
            let row = &x[i * k..(i + 1) * k];
            let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
            lse - row[y as usize]
        })
        .collect()
}

#[test]
fn cross_entropy_matches_reference_for_both_label_shapes() {
    let d = dev();
    let mut rng = Rng::new(202);
    let (b, k) = (6usize, 4usize);
    let labels: Vec<u32> = (0..b).map(|_| rng.below(k as u64) as u32).collect();
    let flat = IndexTensor::new(d, &labels).unwrap();
    let column = IndexTensor::with_shape(d, &labels, &[b, 1]).unwrap();
    let w: Vec<f32> = rng.uniform(k, 0.2, 2.0);
    let wt = tensor(&w, &[k]);
    let x = rng.uniform(b * k, -3.0, 3.0);
    for (shape_name, idx) in [("[B]", &flat), ("[B,1]", &column)] {
        check_op(OpCheck {
            name: &format!("cross_entropy {shape_name}"),
            inputs: vec![(x.clone(), vec![b, k])],
            gpu: &|x| loss::cross_entropy(&x[0], idx),
            cpu: &|x| vec![ce_rows(&x[0], &labels, k).iter().sum::<f64>() / b as f64],
            second_order: true,
        });
        // PyTorch: Σ w_{y_i}·ce_i / Σ w_{y_i}.
        check_op(OpCheck {
            name: &format!("cross_entropy weighted {shape_name}"),
            inputs: vec![(x.clone(), vec![b, k])],
            gpu: &|x| loss::cross_entropy_weighted(&x[0], idx, &wt),
            cpu: &|x| {
                let ce = ce_rows(&x[0], &labels, k);
                let wy: Vec<f64> = labels.iter().map(|&y| w[y as usize] as f64).collect();
                vec![ce.iter().zip(&wy).map(|(c, w)| c * w).sum::<f64>() / wy.iter().sum::<f64>()]
            },
            second_order: true,
        });
        // No reduction: the weighted per-sample losses.
        let per = loss::cross_entropy_with(&tensor(&x, &[b, k]), idx, Some(&wt), Reduction::None).unwrap();
        let ce = ce_rows(&to_f64(&x), &labels, k);
        let want: Vec<f64> = ce.iter().zip(&labels).map(|(c, &y)| c * w[y as usize] as f64).collect();
        assert_close("cross_entropy per sample", &per.to_vec().unwrap(), &want, 1e-5, 1e-5);
        let sum = loss::cross_entropy_with(&tensor(&x, &[b, k]), idx, None, Reduction::Sum).unwrap();
        assert_close(
            "cross_entropy sum",
            &[sum.item().unwrap()],
            &[ce.iter().sum()],
            1e-5,
            1e-5,
        );
    }
}

#[test]
fn class_weights_change_cross_entropy_as_pytorch_does() {
    let d = dev();
    // Two samples of class 0, one of class 1, one of class 2.
    let x = [2.0f32, 0.5, -1.0, 0.1, 0.2, 0.3, -0.5, 1.5, 0.0, 1.0, 1.0, 1.0];
    let labels = [0u32, 0, 1, 2];
    let idx = IndexTensor::new(d, &labels).unwrap();
    let xt = tensor(&x, &[4, 3]);
    let ce = ce_rows(&to_f64(&x), &labels, 3);
    let plain = loss::cross_entropy(&xt, &idx).unwrap().item().unwrap();
    // Equal weights (any scale) leave the mean unchanged.
    let same = loss::cross_entropy_weighted(&xt, &idx, &tensor(&[3.0; 3], &[3]))
        .unwrap()
        .item()
        .unwrap();
    assert_close("equal weights", &[same], &[plain as f64], 1e-6, 1e-6);
    // Weight 0 on class 0 drops its samples; the mean is over the rest.
    let drop0 = loss::cross_entropy_weighted(&xt, &idx, &tensor(&[0.0, 1.0, 1.0], &[3]))
        .unwrap()
        .item()
        .unwrap();
    assert_close("class 0 ignored", &[drop0], &[(ce[2] + ce[3]) / 2.0], 1e-6, 1e-5);
    // Weights (1, 4, 0.5): (ce0 + ce1 + 4 ce2 + 0.5 ce3) / (1 + 1 + 4 + 0.5).
    let w = loss::cross_entropy_weighted(&xt, &idx, &tensor(&[1.0, 4.0, 0.5], &[3]))
        .unwrap()
        .item()
        .unwrap();
    let want = (ce[0] + ce[1] + 4.0 * ce[2] + 0.5 * ce[3]) / 6.5;
    assert_close("weights (1, 4, 0.5)", &[w], &[want], 1e-6, 1e-5);
    assert!((w as f64 - plain as f64).abs() > 1e-3, "weights must matter");
}

#[test]
fn soft_target_cross_entropy_matches_reference() {
    let mut rng = Rng::new(203);
    let (b, k) = (5usize, 3usize);
    let x = rng.uniform(b * k, -2.0, 2.0);
    let mut t = rng.uniform(b * k, 0.0, 1.0);
    for row in t.chunks_mut(k) {
        let s: f32 = row.iter().sum();
        row.iter_mut().for_each(|v| *v /= s);
    }
    let w = rng.uniform(k, 0.5, 1.5);
    let wt = tensor(&w, &[k]);
    let reference = |x: &[f64], t: &[f64], w: Option<&[f32]>| -> f64 {
        let mut total = 0.0;
        for i in 0..b {
            let row = &x[i * k..(i + 1) * k];
            let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
            for c in 0..k {
                let wc = w.map_or(1.0, |w| w[c] as f64);
                total -= wc * t[i * k + c] * (row[c] - lse);
            }
        }
        total / b as f64
    };
    check_op(OpCheck {
        name: "cross_entropy_soft",
        inputs: vec![(x.clone(), vec![b, k]), (t.clone(), vec![b, k])],
        gpu: &|x| loss::cross_entropy_soft(&x[0], &x[1], None),
        cpu: &|x| vec![reference(&x[0], &x[1], None)],
        second_order: true,
    });
    check_op(OpCheck {
        name: "cross_entropy_soft weighted",
        inputs: vec![(x, vec![b, k]), (t, vec![b, k])],
        gpu: &|x| loss::cross_entropy_soft(&x[0], &x[1], Some(&wt)),
        cpu: &|x| vec![reference(&x[0], &x[1], Some(&w))],
        second_order: true,
    });
}

#[test]
fn regression_losses_match_references() {
    let mut rng = Rng::new(204);
    let n = 12;
    let a = rng.uniform(n, -2.0, 2.0);
    // b differs from a by at least 0.1 so |a − b| has no kink nearby.
    let gap = rng.away_from_zero(n, 0.1, 1.0);
    let b: Vec<f32> = a.iter().zip(&gap).map(|(x, g)| x + g).collect();
    check_op(OpCheck {
        name: "mse",
        inputs: vec![(a.clone(), vec![3, 4]), (b.clone(), vec![3, 4])],
        gpu: &|x| loss::mse(&x[0], &x[1]),
        cpu: &|x| vec![x[0].iter().zip(&x[1]).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / n as f64],
        second_order: true,
    });
    check_op(OpCheck {
        name: "mse batch mean",
        inputs: vec![(a.clone(), vec![3, 4]), (b.clone(), vec![3, 4])],
        gpu: &|x| loss::mse_with(&x[0], &x[1], Reduction::BatchMean),
        cpu: &|x| vec![x[0].iter().zip(&x[1]).map(|(a, b)| (a - b).powi(2)).sum::<f64>() / 3.0],
        second_order: true,
    });
    check_op(OpCheck {
        name: "l1",
        inputs: vec![(a.clone(), vec![3, 4]), (b.clone(), vec![3, 4])],
        gpu: &|x| loss::l1(&x[0], &x[1]),
        cpu: &|x| vec![x[0].iter().zip(&x[1]).map(|(a, b)| (a - b).abs()).sum::<f64>() / n as f64],
        second_order: true,
    });
    let none = loss::l1_with(&tensor(&a, &[3, 4]), &tensor(&b, &[3, 4]), Reduction::None).unwrap();
    assert_eq!(none.shape(), [3, 4]);
    let want: Vec<f64> = a.iter().zip(&b).map(|(a, b)| (*a as f64 - *b as f64).abs()).collect();
    assert_close("l1 none", &none.to_vec().unwrap(), &want, 1e-6, 1e-6);
    let e = loss::mse(&tensor(&a, &[3, 4]), &tensor(&a, &[4, 3]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("mse") && e.contains("[3, 4]"), "{e}");
    let empty = Tensor::zeros(dev(), &[0, 4]).unwrap();
    assert!(loss::mse(&empty, &empty).is_err());
}

#[test]
fn gaussian_kl_matches_reference() {
    let mut rng = Rng::new(205);
    let (b, z) = (4usize, 5usize);
    let kl = |mu: &[f64], lv: &[f64]| -> f64 {
        let mut total = 0.0;
        for (m, l) in mu.iter().zip(lv) {
            total += -0.5 * (1.0 + l - m * m - l.exp());
        }
        total / b as f64
    };
    check_op(OpCheck {
        name: "gaussian_kl",
        inputs: vec![
            (rng.uniform(b * z, -1.5, 1.5), vec![b, z]),
            (rng.uniform(b * z, -2.0, 1.0), vec![b, z]),
        ],
        gpu: &|x| loss::gaussian_kl(&x[0], &x[1]),
        cpu: &|x| vec![kl(&x[0], &x[1])],
        second_order: true,
    });
    // N(0, 1) against itself: zero.
    let zero = loss::gaussian_kl(
        &Tensor::zeros(dev(), &[3, 2]).unwrap(),
        &Tensor::zeros(dev(), &[3, 2]).unwrap(),
    )
    .unwrap()
    .item()
    .unwrap();
    assert_eq!(zero, 0.0);
}

#[test]
fn adversarial_losses_match_references() {
    let mut rng = Rng::new(206);
    let n = 7;
    let real = rng.uniform(n, -2.0, 2.0);
    let fake = rng.uniform(n, -2.0, 2.0);
    let mean = |v: &[f64], f: &dyn Fn(f64) -> f64| v.iter().map(|&x| f(x)).sum::<f64>() / v.len() as f64;
    for targets in [LsganTargets::default(), LsganTargets::SYMMETRIC] {
        let (a, b, c) = (targets.a as f64, targets.b as f64, targets.c as f64);
        check_op(OpCheck {
            name: "lsgan_discriminator",
            inputs: vec![(real.clone(), vec![n, 1]), (fake.clone(), vec![n, 1])],
            gpu: &|x| loss::lsgan_discriminator(&x[0], &x[1], targets),
            cpu: &|x| vec![0.5 * mean(&x[0], &|v| (v - b).powi(2)) + 0.5 * mean(&x[1], &|v| (v - a).powi(2))],
            second_order: true,
        });
        check_op(OpCheck {
            name: "lsgan_generator",
            inputs: vec![(fake.clone(), vec![n, 1])],
            gpu: &|x| loss::lsgan_generator(&x[0], targets),
            cpu: &|x| vec![0.5 * mean(&x[0], &|v| (v - c).powi(2))],
            second_order: true,
        });
    }
    check_op(OpCheck {
        name: "wasserstein_critic",
        inputs: vec![(real.clone(), vec![n, 1]), (fake.clone(), vec![n, 1])],
        gpu: &|x| loss::wasserstein_critic(&x[0], &x[1]),
        cpu: &|x| vec![mean(&x[1], &|v| v) - mean(&x[0], &|v| v)],
        second_order: true,
    });
    check_op(OpCheck {
        name: "wasserstein_generator",
        inputs: vec![(fake, vec![n, 1])],
        gpu: &|x| loss::wasserstein_generator(&x[0]),
        cpu: &|x| vec![-mean(&x[0], &|v| v)],
        second_order: true,
    });
}

#[test]
fn loss_errors_are_clear() {
    let d = dev();
    let x = tensor(&[0.0; 6], &[2, 3]);
    let idx3 = IndexTensor::new(d, &[0, 1, 2]).unwrap();
    let e = loss::cross_entropy(&x, &idx3).unwrap_err().to_string();
    assert!(e.contains("labels must be [B] or [B, 1]"), "{e}");
    let idx = IndexTensor::new(d, &[0, 1]).unwrap();
    let e = loss::cross_entropy_weighted(&x, &idx, &tensor(&[1.0; 2], &[2]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("class weights"), "{e}");
    assert!(loss::cross_entropy(&tensor(&[0.0; 6], &[6]), &idx).is_err());
    let big = IndexTensor::new(d, &[0, 3]).unwrap();
    assert!(loss::cross_entropy(&x, &big).is_err(), "label 3 of 3 classes");
    let e = loss::bce_with_logits(&x, &tensor(&[0.0; 12], &[2, 2, 3]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("bce_with_logits"), "{e}");
}

/// A critic D(x) = w2ᵀ leaky(W1 flatten(x) + b1) + b2 on [B, 2, 2, 2] inputs,
/// and its gradient penalty in f64 with ∇ₓD written out analytically:
/// ∇ₓD_i = W1 (w2 ⊙ leaky'(W1ᵀ x_i + b1)) (W1 stored [in, hidden]).
struct Mlp64 {
    batch: usize,
    d_in: usize,
    hidden: usize,
    slope: f64,
}

impl Mlp64 {
    fn gp(&self, x_hat: &[f64], lambda: f64, w1: &[f64], b1: &[f64], w2: &[f64]) -> f64 {
        let (d_in, hidden) = (self.d_in, self.hidden);
        let mut total = 0.0;
        for i in 0..self.batch {
            let mut g = vec![0.0; d_in];
            for h in 0..hidden {
                let pre: f64 = (0..d_in).map(|k| x_hat[i * d_in + k] * w1[k * hidden + h]).sum::<f64>() + b1[h];
                let dact = if pre > 0.0 { 1.0 } else { self.slope };
                for (k, gk) in g.iter_mut().enumerate() {
                    *gk += w1[k * hidden + h] * w2[h] * dact;
                }
            }
            let norm = (g.iter().map(|v| v * v).sum::<f64>() + 1e-12).sqrt();
            total += (norm - 1.0).powi(2);
        }
        lambda * total / self.batch as f64
    }
}

#[test]
fn gradient_penalty_parameter_gradients_match_finite_differences() {
    let (batch, hidden, lambda) = (4usize, 5usize, 10.0f32);
    let shape = [batch, 2, 2, 2];
    let d_in = 8;
    let mut rng = Rng::new(207);
    let real = rng.uniform(batch * d_in, -1.0, 1.0);
    let fake = rng.uniform(batch * d_in, -1.0, 1.0);
    let alpha = rng.uniform(batch, 0.0, 1.0);
    let w1 = rng.uniform(d_in * hidden, -0.8, 0.8);
    let b1 = rng.uniform(hidden, -0.3, 0.3);
    let w2 = rng.uniform(hidden, -1.0, 1.0);
    let b2 = rng.uniform(1, -0.3, 0.3);

    let critic = Sequential::new()
        .push(Flatten)
        .push(Linear::from_tensors(tensor(&w1, &[d_in, hidden]), Some(tensor(&b1, &[hidden]))).unwrap())
        .push(LeakyRelu::new(0.2).unwrap())
        .push(Linear::from_tensors(tensor(&w2, &[hidden, 1]), Some(tensor(&b2, &[1]))).unwrap());
    let params = critic.parameter_tensors();
    let gp = gradient_penalty_with_alpha(
        |x| critic.forward(x),
        &tensor(&real, &shape),
        &tensor(&fake, &shape),
        lambda,
        &tensor(&alpha, &[batch]),
    )
    .unwrap();
    assert!(gp.requires_grad() && gp.shape().is_empty());
    let refs: Vec<&Tensor> = params.iter().collect();
    let grads = grad(&[&gp], &refs, false).unwrap();

    // x̂ = x̃ + α(x − x̃), computed in f64 from the same f32 inputs.
    let x_hat: Vec<f64> = (0..batch * d_in)
        .map(|j| {
            let a = alpha[j / d_in] as f64;
            fake[j] as f64 + a * (real[j] as f64 - fake[j] as f64)
        })
        .collect();
    let mlp = Mlp64 {
        batch,
        d_in,
        hidden,
        slope: 0.2,
    };
    let p64: Vec<Vec<f64>> = [&w1, &b1, &w2, &b2].iter().map(|v| to_f64(v)).collect();
    let eval = |p: &[Vec<f64>]| mlp.gp(&x_hat, lambda as f64, &p[0], &p[1], &p[2]);
    // One f32 forward, backward and double backward: ~1e-6 relative.
    assert_close("gp value", &[gp.item().unwrap()], &[eval(&p64)], 1e-5, 1e-4);
    for (pi, g) in grads.iter().enumerate() {
        let mut fd = Vec::new();
        for j in 0..p64[pi].len() {
            let h = 1e-6;
            let mut plus = p64.clone();
            let mut minus = p64.clone();
            plus[pi][j] += h;
            minus[pi][j] -= h;
            fd.push((eval(&plus) - eval(&minus)) / (2.0 * h));
        }
        // Two f32 backward passes through a 2-layer critic: ~1e-5 relative;
        // the f64 differences are accurate to ~1e-8.
        assert_close(
            &format!("d GP / d {}", critic.parameters()[pi].0),
            &g.to_vec().unwrap(),
            &fd,
            1e-4 * scale(&fd),
            1e-3,
        );
    }
    // The output bias cannot change ∇ₓD: its gradient is exactly zero.
    assert_eq!(grads[3].to_vec().unwrap(), vec![0.0]);

    // backward() accumulates the same gradients into the critic's leaves.
    gp.backward().unwrap();
    assert_close(
        "backward into W1",
        &params[0].grad().unwrap().to_vec().unwrap(),
        &to_f64(&grads[0].to_vec().unwrap()),
        1e-7,
        1e-6,
    );
}

#[test]
fn gradient_penalty_draws_uniform_alpha_per_sample() {
    let (batch, d_in) = (5usize, 6usize);
    let mut rng = Rng::new(208);
    let real = tensor(&rng.uniform(batch * d_in, -1.0, 1.0), &[batch, d_in]);
    let fake = tensor(&rng.uniform(batch * d_in, -1.0, 1.0), &[batch, d_in]);
    let w = tensor(&rng.uniform(d_in * 3, -1.0, 1.0), &[d_in, 3]).requires_grad_();
    let critic = |x: &Tensor| x.matmul(&w)?.tanh()?.sum(&[1], true);
    let seed = base_seed() ^ 0x5eed;
    let g = Generator::new(seed);
    g.set_offset(40);
    let gp = gradient_penalty(critic, &real, &fake, 10.0, &g).unwrap();
    assert!(g.offset() > 40, "α was drawn from the generator");
    // Replay the draw: α ~ U(0, 1) of shape [B, 1] from the same stream.
    let replay = Generator::new(seed);
    replay.set_offset(40);
    let alpha = replay.uniform(dev(), &[batch, 1], 0.0, 1.0).unwrap();
    let av = alpha.to_vec().unwrap();
    assert!(av.iter().all(|&a| (0.0..1.0).contains(&a)));
    let again = gradient_penalty_with_alpha(critic, &real, &fake, 10.0, &alpha).unwrap();
    assert_eq!(gp.item().unwrap().to_bits(), again.item().unwrap().to_bits());

    // A linear critic D(x) = Σ x·v has ∇ₓD = v for every sample:
    // GP = λ(‖v‖ − 1)², whatever α. ‖(1, 2, 2, 0, 0, 0)‖ = 3 → 10·4 = 40.
    let v = tensor(&[1.0, 2.0, 2.0, 0.0, 0.0, 0.0], &[d_in, 1]).requires_grad_();
    let gp = gradient_penalty(|x| x.matmul(&v), &real, &fake, 10.0, &g).unwrap();
    assert_close("linear critic", &[gp.item().unwrap()], &[40.0], 0.0, 1e-6);
    // d GP / d v = λ·2(‖v‖ − 1)·v/‖v‖ = 40/3·v.
    let gv = grad(&[&gp], &[&v], false).unwrap().remove(0);
    assert_close(
        "linear critic gradient",
        &gv.to_vec().unwrap(),
        &[40.0 / 3.0, 80.0 / 3.0, 80.0 / 3.0, 0.0, 0.0, 0.0],
        0.0,
        1e-5,
    );
    // A dead critic (zero gradient) stays finite thanks to ε: GP = λ.
    let zero = tensor(&[0.0; 6], &[d_in, 1]).requires_grad_();
    let gp0 = gradient_penalty(|x| x.matmul(&zero), &real, &fake, 10.0, &g).unwrap();
    assert_close("dead critic", &[gp0.item().unwrap()], &[10.0], 0.0, 1e-5);
    let g0 = grad(&[&gp0], &[&zero], false).unwrap().remove(0);
    assert!(g0.to_vec().unwrap().iter().all(|v| v.is_finite()));
}

#[test]
fn gradient_penalty_errors_are_clear() {
    let a = tensor(&[0.0; 6], &[2, 3]);
    let b = tensor(&[0.0; 8], &[2, 4]);
    let w = tensor(&[1.0; 3], &[3, 1]).requires_grad_();
    let g = Generator::new(1);
    let e = gradient_penalty(|x| x.matmul(&w), &a, &b, 10.0, &g)
        .unwrap_err()
        .to_string();
    assert!(e.contains("real and fake"), "{e}");
    let e = gradient_penalty_with_alpha(|x| x.matmul(&w), &a, &a, 10.0, &tensor(&[0.5; 3], &[3]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("alpha"), "{e}");
    let e = gradient_penalty(|x| x.detach().matmul(&w.detach()), &a, &a, 10.0, &g)
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not depend"), "{e}");
}

// ---------------------------------------------------------------- fused kernels (shaders/loss.wgsl)

fn sigmoid64(v: f64) -> f64 {
    1.0 / (1.0 + (-v).exp())
}

/// Logits over the whole range the kernels branch on: both signs, exact 0,
/// tiny (where log1p's w rounds to 1), large (e^{−|x|} underflows).
fn logits(rng: &mut Rng, n: usize) -> Vec<f32> {
    let mut x = rng.uniform(n, -8.0, 8.0);
    let specials = [0.0f32, -0.0, 1e-9, -1e-9, 30.0, -30.0, 100.0, -100.0, 88.0, -88.0];
    for (j, v) in x.iter_mut().enumerate() {
        if j % 11 == 3 {
            *v = specials[(j / 11) % specials.len()];
        }
    }
    x
}

type LossFn<'a> = dyn Fn() -> balgan::Result<Tensor> + 'a;

/// The fused BCE kernels against f64, elementwise (`Reduction::None`: the
/// forward terms, and the gradient for a full upstream gradient) and reduced
/// (the gradient from one upstream value), for the three target forms (a
/// value, a one-element tensor, one target per element), on poisoned outputs
/// and sizes around the 256-wide workgroup. The kernels have no loop.
#[test]
fn fused_bce_kernels_match_f64_reference() {
    let d = dev();
    d.set_poison_outputs(true);
    let mut rng = Rng::new(211);
    for n in [1usize, 7, 255, 256, 257, 1000] {
        let x = logits(&mut rng, n);
        let t_full = rng.uniform(n, 0.0, 1.0);
        let t_one = [0.3f32];
        let xt = tensor(&x, &[n]).requires_grad_();
        let forms: [(&str, Vec<f64>, Box<LossFn>); 3] = [
            (
                "value",
                vec![1.0; n],
                Box::new(|| loss::bce_with_logits_scalar(&xt, 1.0)),
            ),
            (
                "one-element tensor",
                vec![0.3f32 as f64; n],
                Box::new(|| loss::bce_with_logits_with(&xt, &tensor(&t_one, &[1]), Reduction::None)),
            ),
            (
                "per element",
                to_f64(&t_full),
                Box::new(|| loss::bce_with_logits_with(&xt, &tensor(&t_full, &[n]), Reduction::None)),
            ),
        ];
        for (form, t64, f) in forms {
            let out = f().unwrap();
            let x64 = to_f64(&x);
            let terms: Vec<f64> = x64.iter().zip(&t64).map(|(&x, &t)| softplus64(x) - x * t).collect();
            let what = format!("bce {form} n={n}");
            if out.rank() == 0 {
                // The scalar form is the mean: f32 summation of n terms each
                // within a few ulps: 1e-6 relative to the largest term.
                let mean = terms.iter().sum::<f64>() / n as f64;
                assert_close(&what, &[out.item().unwrap()], &[mean], 1e-6 * scale(&terms), 1e-6);
                let g = grad(&[&out], &[&xt], false).unwrap().remove(0);
                let want: Vec<f64> = x64
                    .iter()
                    .zip(&t64)
                    .map(|(&x, &t)| (sigmoid64(x) - t) / n as f64)
                    .collect();
                // σ in f32 (a few ulps), one subtraction, one product by
                // 1/n rounded to f32: 1e-6 relative to 1/n, plus 3 ulps.
                assert_close(
                    &format!("{what} gradient"),
                    &g.to_vec().unwrap(),
                    &want,
                    1e-6 / n as f64,
                    4e-7,
                );
                continue;
            }
            // Each term: exp, log and a division, each within a few ulps,
            // then x·t and two additions of values as large as |x| and
            // softplus(x) (up to 100 here), so the term (which cancels them)
            // is good to a few ulps of those: 4 ulp·(|x| + softplus(x) + 1)
            // per element.
            let got = out.to_vec().unwrap();
            for (j, (&g, &w)) in got.iter().zip(&terms).enumerate() {
                let tol = 4.0 * f32::EPSILON as f64 * (x64[j].abs() + softplus64(x64[j]) + 1.0);
                assert!(
                    (g as f64 - w).abs() <= tol,
                    "{what}: [{j}] x = {} got {g:e} want {w:e} (tol {tol:e}, seed {})",
                    x64[j],
                    base_seed()
                );
            }
            let u = rng.uniform(n, -1.0, 1.0);
            let g = balgan::grad_with(&[&out], &[&tensor(&u, &[n])], &[&xt], false)
                .unwrap()
                .remove(0);
            let want: Vec<f64> = x64
                .iter()
                .zip(&t64)
                .zip(&u)
                .map(|((&x, &t), &u)| u as f64 * (sigmoid64(x) - t))
                .collect();
            // σ(x) within a few ulps of its value ≤ 1, one subtraction and
            // one product: 3e-7 absolute + 4e-7 relative.
            assert_close(&format!("{what} gradient"), &g.to_vec().unwrap(), &want, 3e-7, 4e-7);
        }
    }
    d.set_poison_outputs(false);
}

/// Every reduction and target form of the fused BCE against finite
/// differences, first and second order (the second through the recorded
/// backward kernel's op-composed rule).
#[test]
fn fused_bce_gradients_first_and_second_order() {
    let mut rng = Rng::new(212);
    let x = rng.uniform(15, -4.0, 4.0);
    let t = rng.uniform(15, 0.0, 1.0);
    let bce_elem = |x: &[f64], t: &dyn Fn(usize) -> f64| -> Vec<f64> {
        x.iter().enumerate().map(|(j, &x)| softplus64(x) - x * t(j)).collect()
    };
    for second_order in [false, true] {
        for (name, reduction) in [
            ("none", Reduction::None),
            ("mean", Reduction::Mean),
            ("sum", Reduction::Sum),
            ("batch mean", Reduction::BatchMean),
        ] {
            let reduce = move |v: Vec<f64>| -> Vec<f64> {
                match reduction {
                    Reduction::None => v,
                    Reduction::Mean => vec![v.iter().sum::<f64>() / v.len() as f64],
                    Reduction::Sum => vec![v.iter().sum()],
                    Reduction::BatchMean => vec![v.iter().sum::<f64>() / 3.0],
                }
            };
            let tt = tensor(&t, &[3, 5]);
            check_op(OpCheck {
                name: &format!("fused bce {name}, targets per element, second order {second_order}"),
                inputs: vec![(x.clone(), vec![3, 5])],
                gpu: &|v| loss::bce_with_logits_with(&v[0], &tt, reduction),
                cpu: &|v| reduce(bce_elem(&v[0], &|j| t[j] as f64)),
                second_order,
            });
            let one = tensor(&[0.75], &[1, 1]);
            check_op(OpCheck {
                name: &format!("fused bce {name}, one target, second order {second_order}"),
                inputs: vec![(x.clone(), vec![3, 5])],
                gpu: &|v| loss::bce_with_logits_with(&v[0], &one, reduction),
                cpu: &|v| reduce(bce_elem(&v[0], &|_| 0.75)),
                second_order,
            });
        }
    }
    // Mid-graph, with the loss's gradient differentiated for the upstream
    // value too: the logits are a product, the loss is scaled.
    check_op(OpCheck {
        name: "fused bce mid-graph",
        inputs: vec![(x.clone(), vec![15, 1])],
        gpu: &|v| loss::bce_with_logits_scalar(&v[0].mul(&v[0])?, 0.0)?.mul_scalar(2.5),
        cpu: &|v| {
            let sq: Vec<f64> = v[0].iter().map(|x| x * x).collect();
            vec![2.5 * bce_elem(&sq, &|_| 0.0).iter().sum::<f64>() / 15.0]
        },
        second_order: true,
    });
}

/// The critic D(x)_i = ½·Σ_j c_j·x_ij² has ∇ₓD_i = c ⊙ x_i, a different
/// gradient for every sample, so the fused penalty kernels (per-sample
/// terms, and the gradient 2λ/B·(1 − 1/n_i)·g) and the fused interpolation x̂
/// are checked against f64: the penalty, and d GP / d c =
/// λ/B·Σ_i 2(n_i − 1)/n_i·(c ⊙ x̂_i²). Odd sizes, a batch of one, rows across
/// workgroups, poisoned outputs. None of these kernels loops.
#[test]
fn fused_penalty_kernels_match_f64_reference() {
    let d = dev();
    d.set_poison_outputs(true);
    let mut rng = Rng::new(213);
    for (batch, dim) in [(1usize, 1usize), (3, 257), (5, 7), (64, 9)] {
        let real = rng.uniform(batch * dim, -1.0, 1.0);
        let fake = rng.uniform(batch * dim, -1.0, 1.0);
        let alpha = rng.uniform(batch, 0.0, 1.0);
        // Norms around 1 on both sides: c scaled so ‖c ⊙ x̂_i‖ ≈ 0.5–1.5.
        let c = rng.uniform(dim, 0.5, 3.0);
        let ct = tensor(&c, &[dim]).requires_grad_();
        let lambda = 7.0f32;
        let critic = |x: &Tensor| x.square()?.mul(&ct)?.sum(&[1], true)?.mul_scalar(0.5);
        let gp = gradient_penalty_with_alpha(
            critic,
            &tensor(&real, &[batch, dim]),
            &tensor(&fake, &[batch, dim]),
            lambda,
            &tensor(&alpha, &[batch]),
        )
        .unwrap();
        let gc = grad(&[&gp], &[&ct], false).unwrap().remove(0);
        let x_hat: Vec<f64> = (0..batch * dim)
            .map(|j| {
                let a = alpha[j / dim] as f64;
                fake[j] as f64 + a * (real[j] as f64 - fake[j] as f64)
            })
            .collect();
        let (mut value, mut dc) = (0.0, vec![0.0; dim]);
        for i in 0..batch {
            let row = &x_hat[i * dim..(i + 1) * dim];
            let n = (row.iter().zip(&c).map(|(x, &c)| (c as f64 * x).powi(2)).sum::<f64>() + 1e-12).sqrt();
            value += lambda as f64 * (n - 1.0).powi(2) / batch as f64;
            for (j, x) in row.iter().enumerate() {
                dc[j] += lambda as f64 / batch as f64 * 2.0 * (n - 1.0) / n * c[j] as f64 * x * x;
            }
        }
        let what = format!("fused penalty B={batch} D={dim}");
        // x̂, the critic's gradient and n_i each within a few ulps; the terms
        // λ(n − 1)² lose relative precision where n ≈ 1: 1e-5 absolute of λ.
        assert_close(&what, &[gp.item().unwrap()], &[value], 1e-5 * lambda as f64, 1e-5);
        // Through the double backward of the critic: a few more products and
        // a B- and D-term sum in f32: 1e-5 relative to the largest.
        assert_close(
            &format!("{what} d/dc"),
            &gc.to_vec().unwrap(),
            &dc,
            1e-5 * scale(&dc),
            1e-4,
        );
    }
    d.set_poison_outputs(false);
}

/// The penalty as a function of the critic's parameters against finite
/// differences of its f64 value: first order through the fused gradient
/// kernel, second order (a third derivative of the critic) through the
/// op-composed rule used when a graph is built.
#[test]
fn fused_penalty_gradients_first_and_second_order() {
    let (batch, dim) = (3usize, 4usize);
    let mut rng = Rng::new(214);
    let real = rng.uniform(batch * dim, -1.0, 1.0);
    let fake = rng.uniform(batch * dim, -1.0, 1.0);
    let alpha = rng.uniform(batch, 0.0, 1.0);
    let x_hat: Vec<f64> = (0..batch * dim)
        .map(|j| {
            let a = alpha[j / dim] as f64;
            fake[j] as f64 + a * (real[j] as f64 - fake[j] as f64)
        })
        .collect();
    let c = rng.uniform(dim, 0.5, 2.0);
    for second_order in [false, true] {
        check_op(OpCheck {
            name: &format!("fused penalty, second order {second_order}"),
            inputs: vec![(c.clone(), vec![dim])],
            gpu: &|v| {
                let critic = |x: &Tensor| x.square()?.mul(&v[0])?.sum(&[1], true)?.mul_scalar(0.5);
                gradient_penalty_with_alpha(
                    critic,
                    &tensor(&real, &[batch, dim]),
                    &tensor(&fake, &[batch, dim]),
                    3.0,
                    &tensor(&alpha, &[batch]),
                )
            },
            cpu: &|v| {
                let mut total = 0.0;
                for i in 0..batch {
                    let sq: f64 = (0..dim).map(|j| (v[0][j] * x_hat[i * dim + j]).powi(2)).sum();
                    let n = (sq + 1e-12).sqrt();
                    total += 3.0 * (n - 1.0).powi(2) / batch as f64;
                }
                vec![total]
            },
            second_order,
        });
    }
}

/// The penalty through a GLU critic, D(x) = glu(x·W1 + b1)·w2 (what SGBGAN's
/// critic body uses), against finite differences of an f64 penalty whose
/// ∇ₓD is written out: with h = x·W1 + b1 = [a; b], s = σ(b),
/// ∇ₓD = W1·[w2 ⊙ s; w2 ⊙ a ⊙ s(1 − s)]. The parameter gradients run
/// through the fused GLU double backward and the fused penalty gradient.
#[test]
fn gradient_penalty_through_glu_critic_matches_finite_differences() {
    let (batch, dim, half) = (3usize, 5usize, 3usize);
    let mut rng = Rng::new(215);
    let real = rng.uniform(batch * dim, -1.0, 1.0);
    let fake = rng.uniform(batch * dim, -1.0, 1.0);
    let alpha = rng.uniform(batch, 0.0, 1.0);
    let x_hat: Vec<f64> = (0..batch * dim)
        .map(|j| {
            let a = alpha[j / dim] as f64;
            fake[j] as f64 + a * (real[j] as f64 - fake[j] as f64)
        })
        .collect();
    let lambda = 10.0;
    let gp64 = |p: &[Vec<f64>]| -> f64 {
        let (w1, b1, w2) = (&p[0], &p[1], &p[2]);
        let mut total = 0.0;
        for i in 0..batch {
            let x = &x_hat[i * dim..(i + 1) * dim];
            let h: Vec<f64> = (0..2 * half)
                .map(|o| (0..dim).map(|k| x[k] * w1[k * 2 * half + o]).sum::<f64>() + b1[o])
                .collect();
            // dD/dh: [w2 ⊙ s; w2 ⊙ a ⊙ s'].
            let mut dh = vec![0.0; 2 * half];
            for k in 0..half {
                let s = sigmoid64(h[half + k]);
                dh[k] = w2[k] * s;
                dh[half + k] = w2[k] * h[k] * s * (1.0 - s);
            }
            let n2: f64 = (0..dim)
                .map(|k| (0..2 * half).map(|o| w1[k * 2 * half + o] * dh[o]).sum::<f64>().powi(2))
                .sum();
            total += ((n2 + 1e-12).sqrt() - 1.0).powi(2);
        }
        lambda * total / batch as f64
    };
    check_op(OpCheck {
        name: "penalty through a GLU critic",
        inputs: vec![
            (rng.uniform(dim * 2 * half, -1.0, 1.0), vec![dim, 2 * half]),
            (rng.uniform(2 * half, -0.5, 0.5), vec![2 * half]),
            (rng.uniform(half, -1.5, 1.5), vec![half, 1]),
        ],
        gpu: &|v| {
            let critic = |x: &Tensor| x.matmul(&v[0])?.add(&v[1])?.glu(1)?.matmul(&v[2]);
            gradient_penalty_with_alpha(
                critic,
                &tensor(&real, &[batch, dim]),
                &tensor(&fake, &[batch, dim]),
                lambda as f32,
                &tensor(&alpha, &[batch]),
            )
        },
        cpu: &|v| vec![gp64(v)],
        second_order: false,
    });
}
