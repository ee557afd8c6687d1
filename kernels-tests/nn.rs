//! src/nn: initialisers (statistics and bounds), layers against f64
//! references with first- and second-order gradient checks, dropout's
//! statistics and evaluation identity, train/eval propagation, and partial
//! transfer by name prefix.

use std::sync::Arc;

use crate::common::*;
use balgan::nn::init::{self, fans, Init};
use balgan::nn::{
    transfer, AvgPool2d, Concat, Dropout, Embedding, Flatten, LeakyRelu, Linear, MaxPool2d, Module, Relu, Reshape,
    Sequential, Sigmoid, Tanh, UpsampleNearest2d,
};
use balgan::{grad, Generator, IndexTensor, Tensor};

fn stats(v: &[f32]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

#[test]
fn fans_follow_linear_and_conv_layouts() {
    // Linear [in, out]; conv [out, in, kh, kw]: fan_in = in·kh·kw, fan_out = out·kh·kw.
    assert_eq!(fans(&[30, 7]), (30, 7));
    assert_eq!(fans(&[64, 3, 4, 4]), (3 * 16, 64 * 16));
    assert_eq!(fans(&[5, 2, 3]), (2 * 3, 5 * 3));
    assert_eq!(fans(&[9]), (9, 9));
    assert_eq!(fans(&[]), (1, 1));
}

/// Large draws: the sample mean of n values with standard deviation σ has
/// standard error σ/√n, so |mean| < 6σ/√n fails by chance with probability
/// ~2e-9; the sample standard deviation has relative standard error
/// ≈ 1/√(2n) (0.2 % for n = 131,072), so a 1.5 % bound is ~7 of them.
/// Uniform draws must also stay inside their bound and come within 0.5 % of it.
#[test]
fn initialisers_have_the_stated_distributions() {
    let d = dev();
    let rng = Generator::new(base_seed());
    let cases: Vec<(Init, Vec<usize>, f64, Option<f64>)> = {
        let (lin_in, lin_out) = (256usize, 512usize);
        let conv = vec![128usize, 64, 4, 4]; // fan_in 1024, fan_out 2048
        let g_lin = (2.0 / (lin_in + lin_out) as f64).sqrt();
        let g_conv = (2.0 / (1024.0 + 2048.0f64)).sqrt();
        vec![
            (Init::DCGAN, vec![lin_in, lin_out], 0.02, None),
            (Init::Normal { mean: 0.0, std: 1.5 }, vec![lin_in, lin_out], 1.5, None),
            (Init::GlorotNormal, vec![lin_in, lin_out], g_lin, None),
            (Init::GlorotNormal, conv.clone(), g_conv, None),
            (Init::HeNormal, conv.clone(), (2.0 / 1024.0f64).sqrt(), None),
            (
                Init::GlorotUniform,
                vec![lin_in, lin_out],
                (6.0 / (lin_in + lin_out) as f64).sqrt() / 3f64.sqrt(),
                Some((6.0 / (lin_in + lin_out) as f64).sqrt()),
            ),
            (
                Init::GlorotUniform,
                conv.clone(),
                (6.0 / 3072.0f64).sqrt() / 3f64.sqrt(),
                Some((6.0 / 3072.0f64).sqrt()),
            ),
            (
                Init::HeUniform,
                conv.clone(),
                (6.0 / 1024.0f64).sqrt() / 3f64.sqrt(),
                Some((6.0 / 1024.0f64).sqrt()),
            ),
            (
                Init::Uniform { low: -0.05, high: 0.05 },
                vec![lin_in, lin_out],
                0.05 / 3f64.sqrt(),
                Some(0.05),
            ),
        ]
    };
    for (init, shape, std, bound) in cases {
        let v = init.tensor(d, &rng, &shape).unwrap().to_vec().unwrap();
        let n = v.len() as f64;
        let (m, s) = stats(&v);
        assert!(
            m.abs() < 6.0 * std / n.sqrt(),
            "{init:?} {shape:?}: mean {m} (std {std}, seed {})",
            base_seed()
        );
        assert!(
            (s / std - 1.0).abs() < 0.015,
            "{init:?} {shape:?}: std {s}, want {std} (seed {})",
            base_seed()
        );
        if let Some(b) = bound {
            let max = v.iter().fold(0.0f64, |a, &x| a.max((x as f64).abs()));
            assert!(max <= b * (1.0 + 1e-6), "{init:?}: |x| = {max} exceeds the bound {b}");
            assert!(
                max > 0.995 * b,
                "{init:?}: largest |x| = {max} is far inside the bound {b}"
            );
        }
    }
    let shifted = Init::Normal { mean: 3.0, std: 0.5 }
        .tensor(d, &rng, &[100_000])
        .unwrap()
        .to_vec()
        .unwrap();
    let (m, s) = stats(&shifted);
    assert!((m - 3.0).abs() < 6.0 * 0.5 / 100_000f64.sqrt(), "mean {m}");
    assert!((s / 0.5 - 1.0).abs() < 0.015, "std {s}");
    for (init, want) in [(Init::Zeros, 0.0), (Init::Ones, 1.0), (Init::Constant(-2.5), -2.5)] {
        let v = init.tensor(d, &rng, &[3, 5]).unwrap().to_vec().unwrap();
        assert!(v.iter().all(|&x| x == want), "{init:?}: {v:?}");
    }
}

#[test]
fn initialisers_reject_bad_arguments() {
    let d = dev();
    let rng = Generator::new(1);
    let e = Init::HeNormal.tensor(d, &rng, &[0, 5]).unwrap_err().to_string();
    assert!(e.contains("fan_in"), "{e}");
    let e = Init::GlorotUniform.tensor(d, &rng, &[0, 0]).unwrap_err().to_string();
    assert!(e.contains("fan_in + fan_out"), "{e}");
    assert!(Init::Normal { mean: 0.0, std: -1.0 }.tensor(d, &rng, &[2]).is_err());
    assert!(Init::Uniform { low: 1.0, high: 0.0 }.tensor(d, &rng, &[2]).is_err());
    assert!(Init::Constant(f32::NAN).tensor(d, &rng, &[2]).is_err());
}

#[test]
fn reinit_writes_in_place_and_is_seeded() {
    let d = dev();
    let model = Sequential::new()
        .push(Linear::new(d, &Generator::new(5), 6, 4, true).unwrap())
        .push(Relu)
        .push(Linear::new(d, &Generator::new(6), 4, 2, true).unwrap());
    let handles = model.parameter_tensors();
    let rng = Generator::new(77);
    let done = init::reinit(&model, &rng, |name, _| {
        if name.ends_with("weight") {
            Some(Init::DCGAN)
        } else if name.ends_with("bias") {
            Some(Init::Zeros)
        } else {
            None
        }
    })
    .unwrap();
    assert_eq!(done, vec!["0.weight", "0.bias", "2.weight", "2.bias"]);
    // The handles taken before see the new values (same buffers).
    let replay = Generator::new(77);
    let w0 = Init::DCGAN.tensor(d, &replay, &[6, 4]).unwrap().to_vec().unwrap();
    assert_eq!(handles[0].to_vec().unwrap(), w0, "0.weight is the seeded draw");
    assert!(handles[1].to_vec().unwrap().iter().all(|&b| b == 0.0));
    let w2 = Init::DCGAN.tensor(d, &replay, &[4, 2]).unwrap().to_vec().unwrap();
    assert_eq!(handles[2].to_vec().unwrap(), w2);
}

fn linear_ref(x: &[f64], w: &[f64], b: &[f64], n: usize, fin: usize, fout: usize) -> Vec<f64> {
    let mut y = vec![0.0; n * fout];
    for i in 0..n {
        for o in 0..fout {
            y[i * fout + o] = b[o] + (0..fin).map(|k| x[i * fin + k] * w[k * fout + o]).sum::<f64>();
        }
    }
    y
}

#[test]
fn linear_with_init_forward_and_gradients() {
    let d = dev();
    let l = Linear::with_init(d, &Generator::new(3), 5, 3, Init::GlorotUniform, Some(Init::Zeros)).unwrap();
    assert_eq!((l.in_features(), l.out_features()), (5, 3));
    assert!(l.bias.as_ref().unwrap().to_vec().unwrap().iter().all(|&b| b == 0.0));
    let bound = (6.0f32 / 8.0).sqrt();
    assert!(l.weight.to_vec().unwrap().iter().all(|w| w.abs() <= bound));
    let no_bias = Linear::with_init(d, &Generator::new(3), 5, 3, Init::HeNormal, None).unwrap();
    assert_eq!(no_bias.parameters().len(), 1);

    let mut rng = Rng::new(101);
    let (n, fin, fout) = (4, 5, 3);
    check_op(OpCheck {
        name: "linear",
        inputs: vec![
            (rng.uniform(n * fin, -1.0, 1.0), vec![n, fin]),
            (rng.uniform(fin * fout, -1.0, 1.0), vec![fin, fout]),
            (rng.uniform(fout, -1.0, 1.0), vec![fout]),
        ],
        gpu: &|x| {
            let l = Linear {
                weight: x[1].clone(),
                bias: Some(x[2].clone()),
            };
            l.forward(&x[0])
        },
        cpu: &|x| linear_ref(&x[0], &x[1], &x[2], n, fin, fout),
        second_order: true,
    });
}

#[test]
fn activations_match_references() {
    let mut rng = Rng::new(102);
    type Act = (&'static str, Box<dyn Module>, fn(f64) -> f64, bool);
    let cases: Vec<Act> = vec![
        ("relu", Box::new(Relu), |x| x.max(0.0), true),
        (
            "leaky_relu",
            Box::new(LeakyRelu::new(0.3).unwrap()),
            |x| if x > 0.0 { x } else { 0.3 * x },
            true,
        ),
        ("tanh", Box::new(Tanh), f64::tanh, false),
        ("sigmoid", Box::new(Sigmoid), |x| 1.0 / (1.0 + (-x).exp()), false),
    ];
    for (name, layer, f, kink) in cases {
        let x = if kink {
            rng.away_from_zero(30, 0.1, 3.0)
        } else {
            rng.uniform(30, -4.0, 4.0)
        };
        check_op(OpCheck {
            name,
            inputs: vec![(x, vec![5, 6])],
            gpu: &|x| layer.forward(&x[0]),
            cpu: &|x| x[0].iter().map(|&v| f(v)).collect(),
            second_order: true,
        });
        assert!(layer.parameters().is_empty());
    }
    assert!(LeakyRelu::new(f32::INFINITY).is_err());
}

#[test]
fn flatten_and_reshape_keep_the_batch_axis() {
    let mut rng = Rng::new(103);
    let x = rng.uniform(2 * 3 * 4 * 5, -1.0, 1.0);
    let t = tensor(&x, &[2, 3, 4, 5]);
    let f = Flatten.forward(&t).unwrap();
    assert_eq!(f.shape(), [2, 60]);
    assert_eq!(f.to_vec().unwrap(), x);
    let r = Reshape::new(&[5, 12]).forward(&f).unwrap();
    assert_eq!(r.shape(), [2, 5, 12]);
    assert_eq!(r.to_vec().unwrap(), x);
    let e = Reshape::new(&[7, 7]).forward(&f).unwrap_err().to_string();
    assert!(e.contains("Reshape") && e.contains("60"), "{e}");
    assert!(Flatten.forward(&Tensor::scalar(dev(), 1.0).unwrap()).is_err());
    assert_eq!(Flatten.forward(&tensor(&[1.0, 2.0], &[2])).unwrap().shape(), [2, 1]);
    check_op(OpCheck {
        name: "flatten+reshape",
        inputs: vec![(x.clone(), vec![2, 3, 4, 5])],
        gpu: &|x| Reshape::new(&[4, 15]).forward(&Flatten.forward(&x[0])?),
        cpu: &|x| x[0].clone(),
        second_order: true,
    });
}

/// Distinct values, spaced 2/n apart and shuffled: no ties inside a pooling
/// window, and no finite-difference step (≤ 1e-4) can change a window's maximum.
fn spaced(rng: &mut Rng, n: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..n).map(|i| -1.0 + 2.0 * i as f32 / n as f32).collect();
    rng.shuffle(&mut v);
    v
}

fn pool_ref(x: &[f64], shape: [usize; 4], k: usize, max: bool) -> Vec<f64> {
    let [n, c, h, w] = shape;
    let mut out = Vec::new();
    for b in 0..n {
        for ch in 0..c {
            for i in 0..h / k {
                for j in 0..w / k {
                    let vals: Vec<f64> = (0..k)
                        .flat_map(|di| (0..k).map(move |dj| (di, dj)))
                        .map(|(di, dj)| x[((b * c + ch) * h + i * k + di) * w + j * k + dj])
                        .collect();
                    out.push(if max {
                        vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
                    } else {
                        vals.iter().sum::<f64>() / (k * k) as f64
                    });
                }
            }
        }
    }
    out
}

#[test]
fn pooling_matches_references() {
    let mut rng = Rng::new(104);
    for (shape, k) in [([2usize, 3, 4, 6], 2usize), ([1, 2, 6, 9], 3), ([2, 1, 3, 5], 1)] {
        let n: usize = shape.iter().product();
        for max in [false, true] {
            let x = spaced(&mut rng, n);
            let name = if max { "max_pool" } else { "avg_pool" };
            let layer: Box<dyn Module> = if max {
                Box::new(MaxPool2d::new(k).unwrap())
            } else {
                Box::new(AvgPool2d::new(k).unwrap())
            };
            let y = layer.forward(&tensor(&x, &shape)).unwrap();
            assert_eq!(y.shape(), [shape[0], shape[1], shape[2] / k, shape[3] / k]);
            check_op(OpCheck {
                name,
                inputs: vec![(x, shape.to_vec())],
                gpu: &|x| layer.forward(&x[0]),
                cpu: &|x| pool_ref(&x[0], shape, k, max),
                second_order: true,
            });
        }
    }
    let x = tensor(&[0.0; 2 * 5 * 4], &[1, 2, 5, 4]);
    let e = AvgPool2d::new(2).unwrap().forward(&x).unwrap_err().to_string();
    assert!(e.contains("does not divide"), "{e}");
    assert!(MaxPool2d::new(2).unwrap().forward(&tensor(&[0.0; 4], &[2, 2])).is_err());
    assert!(MaxPool2d::new(0).is_err());
}

#[test]
fn max_pool_ties_share_the_gradient() {
    // One window of four equal values: each gets a quarter of the gradient.
    let x = tensor(&[2.0; 4], &[1, 1, 2, 2]).requires_grad_();
    let y = MaxPool2d::new(2).unwrap().forward(&x).unwrap().sum_all().unwrap();
    let g = grad(&[&y], &[&x], false).unwrap();
    assert_eq!(g[0].to_vec().unwrap(), vec![0.25; 4]);
}

#[test]
fn nearest_upsampling_matches_reference() {
    let mut rng = Rng::new(105);
    for (shape, f) in [([2usize, 3, 2, 3], 2usize), ([1, 2, 3, 1], 3), ([1, 1, 2, 2], 1)] {
        let [n, c, h, w] = shape;
        let x = rng.uniform(n * c * h * w, -1.0, 1.0);
        let layer = UpsampleNearest2d::new(f).unwrap();
        check_op(OpCheck {
            name: "upsample_nearest",
            inputs: vec![(x, shape.to_vec())],
            gpu: &|x| layer.forward(&x[0]),
            cpu: &|x| {
                let mut out = Vec::new();
                for b in 0..n * c {
                    for i in 0..h * f {
                        for j in 0..w * f {
                            out.push(x[0][(b * h + i / f) * w + j / f]);
                        }
                    }
                }
                out
            },
            second_order: true,
        });
    }
    assert!(UpsampleNearest2d::new(0).is_err());
    assert!(UpsampleNearest2d::new(2)
        .unwrap()
        .forward(&tensor(&[0.0; 4], &[4]))
        .is_err());
}

#[test]
fn embedding_picks_rows_and_accumulates_gradients() {
    let d = dev();
    let mut rng = Rng::new(106);
    let (num, dim) = (5usize, 3usize);
    let labels = [3u32, 0, 3, 4, 3, 1];
    let idx = IndexTensor::new(d, &labels).unwrap();
    check_op(OpCheck {
        name: "embedding",
        inputs: vec![(rng.uniform(num * dim, -1.0, 1.0), vec![num, dim])],
        gpu: &|x| Embedding { weight: x[0].clone() }.embed(&idx),
        cpu: &|x| {
            labels
                .iter()
                .flat_map(|&l| x[0][l as usize * dim..(l as usize + 1) * dim].to_vec())
                .collect()
        },
        second_order: true,
    });
    // Repeated labels accumulate: row 3 appears three times.
    let e = Embedding::new(d, &Generator::new(4), num, dim).unwrap();
    let y = e.embed(&idx).unwrap().sum_all().unwrap();
    y.backward().unwrap();
    let g = e.weight.grad().unwrap().to_vec().unwrap();
    let counts = [1.0, 1.0, 0.0, 3.0, 1.0];
    let want: Vec<f64> = counts.iter().flat_map(|&c| vec![c; dim]).collect();
    assert_close("embedding grad", &g, &want, 0.0, 0.0);
    assert_eq!(e.parameters()[0].0, "weight");
    let err = e.forward(&tensor(&[0.0], &[1])).unwrap_err().to_string();
    assert!(err.contains("embed("), "{err}");
    let bad = IndexTensor::new(d, &[5]).unwrap();
    assert!(e.embed(&bad).is_err(), "label 5 of 5 classes");
    assert!(Embedding::new(d, &Generator::new(1), 0, 3).is_err());
}

/// Dropout on 200,000 ones: the kept fraction has standard error
/// √(p(1 − p)/n) ≈ 0.001 for p = 0.3, so it must lie within 0.006 (6 of them)
/// of 1 − p; kept values are exactly one f32 rounding of 1/(1 − p).
#[test]
fn dropout_statistics_gradient_and_eval_identity() {
    let d = dev();
    let n = 200_000;
    let p = 0.3f32;
    let rng = Arc::new(Generator::new(base_seed()));
    let drop = Dropout::new(p, rng.clone()).unwrap();
    assert!(drop.is_training(), "layers start in training mode");
    let x = Tensor::ones(d, &[n]).unwrap().requires_grad_();
    let y = drop.forward(&x).unwrap();
    let v = y.to_vec().unwrap();
    let scale = 1.0 / (1.0 - p as f64);
    let kept = v.iter().filter(|&&a| a != 0.0).count() as f64 / n as f64;
    assert!(
        (kept - (1.0 - p as f64)).abs() < 0.006,
        "kept {kept} (seed {})",
        base_seed()
    );
    assert!(v.iter().all(|&a| a == 0.0 || ((a as f64) - scale).abs() < 1e-6 * scale));
    let mean = v.iter().map(|&a| a as f64).sum::<f64>() / n as f64;
    assert!((mean - 1.0).abs() < 0.006 * scale, "E[y] = x: mean {mean}");

    // The mask is the gradient (a constant: no second derivative).
    let g = grad(&[&y.sum_all().unwrap()], &[&x], true).unwrap().remove(0);
    assert_eq!(g.to_vec().unwrap(), v, "dy/dx = mask (x = 1)");
    assert!(!g.requires_grad(), "the mask is a constant");

    // A second call draws a fresh mask; the same seed replays the first.
    let v2 = drop.forward(&x).unwrap().to_vec().unwrap();
    let differ = v.iter().zip(&v2).filter(|(a, b)| a != b).count() as f64 / n as f64;
    assert!((differ - 2.0 * 0.3 * 0.7).abs() < 0.01, "masks differ at {differ}");
    let replay = Dropout::new(p, Arc::new(Generator::new(base_seed()))).unwrap();
    assert_eq!(replay.forward(&x).unwrap().to_vec().unwrap(), v);

    // Evaluation mode: the identity, drawing nothing.
    drop.set_training(false);
    let before = rng.offset();
    let e = drop.forward(&x).unwrap();
    assert!(e.shares_storage(&x) && rng.offset() == before);
    assert_eq!(e.to_vec().unwrap(), vec![1.0; n]);

    let ones = Tensor::ones(d, &[10]).unwrap();
    let all = Dropout::new(1.0, rng.clone()).unwrap().forward(&ones).unwrap();
    assert_eq!(all.to_vec().unwrap(), vec![0.0; 10]);
    let none = Dropout::new(0.0, rng.clone()).unwrap().forward(&ones).unwrap();
    assert_eq!(none.to_vec().unwrap(), vec![1.0; 10]);
    assert!(Dropout::new(1.5, rng.clone()).is_err());
    assert!(Dropout::new(f32::NAN, rng).is_err());
}

#[test]
fn training_mode_propagates_through_containers() {
    let d = dev();
    let rng = Arc::new(Generator::new(9));
    let inner = Sequential::new().push(Dropout::new(0.5, rng.clone()).unwrap());
    let model = Sequential::new()
        .push_named("body", inner)
        .push(Concat::new().push(Dropout::new(0.5, rng.clone()).unwrap()).push(Relu));
    let x = Tensor::ones(d, &[1, 2000]).unwrap();
    let y = model.forward(&x).unwrap().to_vec().unwrap();
    assert!(y.contains(&0.0), "training: dropout is active");
    model.set_training(false);
    let y = model.forward(&x).unwrap().to_vec().unwrap();
    assert_eq!(y, vec![1.0; 4000], "eval: every dropout is the identity");
    model.set_training(true);
    assert!(model.forward(&x).unwrap().to_vec().unwrap().contains(&0.0));
}

#[test]
fn sequential_and_concat_name_and_compose() {
    let d = dev();
    let g = Generator::new(11);
    let mut rng = Rng::new(107);
    let a = Linear::new(d, &g, 4, 3, true).unwrap();
    let b = Linear::new(d, &g, 4, 2, false).unwrap();
    let (wa, ba, wb) = (
        to_f64(&a.weight.to_vec().unwrap()),
        to_f64(&a.bias.as_ref().unwrap().to_vec().unwrap()),
        to_f64(&b.weight.to_vec().unwrap()),
    );
    let cat = Concat::along(-1).push(a).push_named("side", b);
    let names: Vec<String> = cat.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, vec!["0.weight", "0.bias", "side.weight"]);
    let x = rng.uniform(2 * 4, -1.0, 1.0);
    let y = cat.forward(&tensor(&x, &[2, 4])).unwrap();
    assert_eq!(y.shape(), [2, 5]);
    let ya = linear_ref(&to_f64(&x), &wa, &ba, 2, 4, 3);
    let yb = linear_ref(&to_f64(&x), &wb, &[0.0, 0.0], 2, 4, 2);
    let want: Vec<f64> = (0..2)
        .flat_map(|i| {
            ya[i * 3..i * 3 + 3]
                .iter()
                .chain(&yb[i * 2..i * 2 + 2])
                .cloned()
                .collect::<Vec<_>>()
        })
        .collect();
    assert_close("concat", &y.to_vec().unwrap(), &want, 1e-5, 1e-5);
    assert!(Concat::new().forward(&y).is_err(), "no branches");

    let seq = Sequential::new()
        .push(Linear::new(d, &g, 4, 4, true).unwrap())
        .push_named("act", Tanh)
        .push(Flatten);
    assert_eq!(seq.names(), vec!["0", "act", "2"]);
    assert_eq!(seq.len(), 3);
    assert!(seq.by_name("act").is_some() && seq.get(3).is_none());
    let xt = tensor(&x, &[2, 4]);
    let part = seq.forward_range(&xt, 0..2).unwrap();
    assert_eq!(part.to_vec().unwrap(), seq.forward(&xt).unwrap().to_vec().unwrap());
    assert!(seq.forward_range(&xt, 1..5).is_err());
}

/// A module with a parameter and a buffer, for transfer tests.
struct Block {
    weight: Tensor,
    running: Tensor,
}

impl Module for Block {
    fn forward(&self, x: &Tensor) -> balgan::Result<Tensor> {
        x.mul(&self.weight)
    }
    fn parameters(&self) -> Vec<(String, Tensor)> {
        vec![("weight".into(), self.weight.clone())]
    }
    fn buffers(&self) -> Vec<(String, Tensor)> {
        vec![("running".into(), self.running.clone())]
    }
}

fn block(rng: &mut Rng, n: usize) -> Block {
    Block {
        weight: tensor(&rng.uniform(n, -1.0, 1.0), &[n]).requires_grad_(),
        running: tensor(&rng.uniform(n, -1.0, 1.0), &[n]),
    }
}

fn bits(t: &Tensor) -> Vec<u32> {
    t.to_vec().unwrap().iter().map(|v| v.to_bits()).collect()
}

fn snapshot(m: &dyn Module) -> Vec<(String, Vec<u32>)> {
    let mut all = m.parameters();
    all.extend(m.buffers());
    all.into_iter().map(|(n, t)| (n, bits(&t))).collect()
}

#[test]
fn transfer_copies_exactly_the_named_tensors() {
    let mut rng = Rng::new(108);
    // Source: an "autoencoder" with encoder and decoder; 11 children so that
    // prefix "1" must not match "10".
    let mut enc = Sequential::new();
    for _ in 0..11 {
        enc = enc.push(block(&mut rng, 3));
    }
    let src = Sequential::new().push_named("encoder", enc).push_named(
        "decoder",
        Sequential::new().push(block(&mut rng, 4)).push(block(&mut rng, 2)),
    );
    let mut body = Sequential::new();
    for _ in 0..11 {
        body = body.push(block(&mut rng, 3));
    }
    let dst = Sequential::new()
        .push_named("body", body)
        .push_named("head", block(&mut rng, 5));
    let before_src = snapshot(&src);
    let before_dst = snapshot(&dst);

    let copied = transfer(&src, "encoder.1", &dst, "body.1").unwrap();
    assert_eq!(
        copied,
        vec!["body.1.weight", "body.1.running"],
        "'1' must not match '10'"
    );
    let after = snapshot(&dst);
    let src_map: std::collections::HashMap<_, _> = before_src.into_iter().collect();
    for ((name, old), (_, new)) in before_dst.iter().zip(&after) {
        if let Some(rest) = name.strip_prefix("body.1.") {
            assert_eq!(new, &src_map[&format!("encoder.1.{rest}")], "{name} copied bit-exactly");
        } else {
            assert_eq!(new, old, "{name} untouched");
        }
    }

    // The whole encoder into the body, trailing dots ignored.
    let copied = transfer(&src, "encoder.", &dst, "body.").unwrap();
    assert_eq!(copied.len(), 22);
    for (name, v) in snapshot(&dst) {
        if let Some(rest) = name.strip_prefix("body.") {
            assert_eq!(v, src_map[&format!("encoder.{rest}")], "{name}");
        }
    }
    // The head was never touched.
    assert_eq!(snapshot(&dst).last(), before_dst.last());
    // A single tensor by its full name.
    let one = transfer(&src, "decoder.1.weight", &dst, "body.0.weight");
    let e = one.unwrap_err().to_string();
    assert!(
        e.contains("shapes differ") && e.contains("[2]") && e.contains("[3]"),
        "{e}"
    );
}

#[test]
fn transfer_reports_every_problem_and_writes_nothing() {
    let mut rng = Rng::new(109);
    let src = Sequential::new()
        .push(block(&mut rng, 3))
        .push(block(&mut rng, 4))
        .push(block(&mut rng, 2));
    let dst = Sequential::new()
        .push(block(&mut rng, 3))
        .push(block(&mut rng, 5))
        .push(block(&mut rng, 1));
    let before = snapshot(&dst);
    let e = transfer(&src, "", &dst, "").unwrap_err().to_string();
    for what in ["1.weight", "1.running", "2.weight", "2.running", "nothing was copied"] {
        assert!(e.contains(what), "'{what}' missing from: {e}");
    }
    assert_eq!(snapshot(&dst), before, "a failed transfer writes nothing");
    let e = transfer(&src, "decoder", &dst, "").unwrap_err().to_string();
    assert!(e.contains("no tensor") && e.contains("decoder"), "{e}");
    let e = transfer(&src, "0", &dst, "7").unwrap_err().to_string();
    assert!(e.contains("no destination") && e.contains("7.weight"), "{e}");
    assert_eq!(snapshot(&dst), before);
    // What does match copies fine.
    assert_eq!(transfer(&src, "0", &dst, "0").unwrap(), vec!["0.weight", "0.running"]);
    assert_eq!(snapshot(&dst)[0].1, snapshot(&src)[0].1);
}

/// A composite that only lists its children: names, buffers and mode
/// switches come from `Module`'s defaults.
struct NormThenDrop {
    bn: balgan::nn::BatchNorm2d,
    drop: Dropout,
}

impl Module for NormThenDrop {
    fn forward(&self, x: &Tensor) -> balgan::Result<Tensor> {
        self.drop.forward(&self.bn.forward(x)?)
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![("bn".into(), &self.bn), ("drop".into(), &self.drop)]
    }
}

/// `Module::children` gives prefixed names, and `evaluating` switches every
/// child to evaluation mode, records no graph, and restores training mode
/// also when the closure fails.
#[test]
fn children_name_and_evaluating_switches_modes_and_restores_them_on_error() {
    let d = dev();
    let model = NormThenDrop {
        bn: balgan::nn::BatchNorm2d::pytorch(d, 2).unwrap(),
        drop: Dropout::new(0.5, Arc::new(Generator::new(1))).unwrap(),
    };
    let names: Vec<String> = model.parameters().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["bn.weight", "bn.bias"]);
    let buffers: Vec<String> = model.buffers().into_iter().map(|(n, _)| n).collect();
    assert_eq!(buffers, ["bn.running_mean", "bn.running_var"]);

    let x = Tensor::from_slice(d, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], &[2, 2, 2, 1])
        .unwrap()
        .requires_grad_();
    let out = balgan::nn::evaluating(&model, || {
        assert!(
            !model.bn.is_training() && !model.drop.is_training(),
            "a child is still in training mode"
        );
        assert!(
            !balgan::autograd::is_grad_enabled(),
            "a graph is recorded while evaluating"
        );
        model.forward(&x)
    })
    .unwrap();
    // Evaluation mode: running statistics (0, 1) and no dropout: y = x / √(1 + ε).
    let want: Vec<f32> = x.to_vec().unwrap().iter().map(|v| v / (1.0f32 + 1e-5).sqrt()).collect();
    for (o, w) in out.to_vec().unwrap().iter().zip(&want) {
        assert!((o - w).abs() < 1e-5, "evaluation-mode output {o}, want {w}");
    }
    assert!(
        model.bn.is_training() && model.drop.is_training(),
        "training mode not restored"
    );

    let failed: balgan::Result<()> = balgan::nn::evaluating(&model, || {
        assert!(!model.bn.is_training());
        // A shape mismatch: any error will do.
        Tensor::from_slice(d, &[1.0], &[2]).map(drop)
    });
    assert!(failed.is_err());
    assert!(
        model.bn.is_training() && model.drop.is_training(),
        "training mode not restored after an error"
    );
    assert!(balgan::autograd::is_grad_enabled());
}

/// The generator average: s ← β·s + (1 − β)·θ after each update, against
/// f64 on the host over three updates of hand-set weights; `with_shadow`
/// shows the average inside and puts the live weights back after (also when
/// the closure fails); a checkpoint round trip restores the average; β
/// outside [0, 1) is an error.
#[test]
fn the_moving_average_follows_its_recurrence_and_swaps_in_for_sampling() {
    use balgan::nn::{CheckpointWriter, Ema};
    let d = dev();
    let layer = Linear::new(d, &Generator::new(3), 3, 2, true).unwrap();
    let params: Vec<Tensor> = layer.parameter_tensors();
    let host = |t: &Tensor| to_f64(&t.to_vec().unwrap());
    let mut want: Vec<Vec<f64>> = params.iter().map(host).collect();
    let beta = 0.75f32;
    let ema = Ema::new(&layer, beta).unwrap();
    let mut rng = Rng::new(91);
    for _ in 0..3 {
        for (p, w) in params.iter().zip(want.iter_mut()) {
            let live = rng.uniform(p.numel(), -1.0, 1.0);
            p.assign_slice_(&live).unwrap();
            for (s, &x) in w.iter_mut().zip(&live) {
                *s = beta as f64 * *s + (1.0 - beta as f64) * x as f64;
            }
        }
        ema.update().unwrap();
    }
    let live: Vec<Vec<f64>> = params.iter().map(host).collect();
    let inside: Vec<Vec<f64>> = ema.with_shadow(|| Ok(params.iter().map(host).collect())).unwrap();
    for (i, (got, w)) in inside.iter().zip(&want).enumerate() {
        // Three f32 updates of values in [-1, 1]: a few ulps.
        assert_close(
            &format!("shadow of parameter {i}"),
            &got.iter().map(|&x| x as f32).collect::<Vec<_>>(),
            w,
            1e-6,
            1e-6,
        );
    }
    let after: Vec<Vec<f64>> = params.iter().map(host).collect();
    assert_eq!(after, live, "with_shadow must put the live weights back");
    // A reshape to a wrong size fails inside the closure.
    let failed = ema.with_shadow(|| params[0].reshape(&[7, 7]).map(|_| ()));
    assert!(failed.is_err());
    assert_eq!(
        params.iter().map(host).collect::<Vec<_>>(),
        live,
        "a failing closure must not keep the shadow"
    );

    // Checkpoint round trip into a second average of the same layer.
    let path = std::env::temp_dir().join(format!("balgan-ema-{}.safetensors", std::process::id()));
    let mut w = CheckpointWriter::new();
    ema.save("ema", &mut w);
    w.write(&path).unwrap();
    let other = Ema::new(&layer, beta).unwrap();
    other
        .load("ema", &balgan::nn::Checkpoint::open(&path).unwrap())
        .unwrap();
    let restored: Vec<Vec<f64>> = other.with_shadow(|| Ok(params.iter().map(host).collect())).unwrap();
    assert_eq!(restored, inside);
    let _ = std::fs::remove_file(&path);

    for bad in [1.0f32, -0.1, f32::NAN] {
        let e = Ema::new(&layer, bad).err().expect("bad decay").to_string();
        assert!(e.contains("[0, 1)"), "{e}");
    }
}
