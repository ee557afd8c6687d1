//! Hyper-parameter validation of layers, losses and optimizers: an
//! out-of-range value is an `InvalidArgument` error whose message names the
//! parameter and the value, at construction and again where a public field
//! can have been changed since (batch norm's forward, an optimizer's step).

use crate::common::*;
use balgan::nn::loss::{self, LsganTargets};
use balgan::nn::{BatchNorm1d, BatchNorm2d, Module};
use balgan::optim::{Adam, AdamConfig, Sgd, SgdConfig};
use balgan::{Error, IndexTensor, Tensor};

/// The message of an `InvalidArgument` error, which must mention every
/// fragment in `names`.
fn invalid<T>(r: balgan::Result<T>, names: &[&str]) -> String {
    let e = match r {
        Ok(_) => panic!("expected an error mentioning {names:?}, got Ok"),
        Err(e) => e,
    };
    let msg = e.to_string();
    assert!(
        matches!(e, Error::InvalidArgument { .. } | Error::ShapeMismatch { .. }),
        "wrong error kind: {msg}"
    );
    for n in names {
        assert!(msg.contains(n), "'{msg}' should mention '{n}'");
    }
    msg
}

#[test]
fn batch_norm_rejects_bad_eps_and_momentum() {
    let d = dev();
    for eps in [0.0f32, -1e-5, f32::NAN, f32::INFINITY] {
        invalid(
            BatchNorm2d::new(d, 3, eps, 0.1),
            &["BatchNorm2d", "eps", &eps.to_string()],
        );
        invalid(
            BatchNorm1d::new(d, 3, eps, 0.1),
            &["BatchNorm1d", "eps", &eps.to_string()],
        );
    }
    for m in [-0.1f32, 1.5, f32::NAN, f32::NEG_INFINITY] {
        invalid(BatchNorm2d::new(d, 3, 1e-5, m), &["momentum", &m.to_string()]);
    }
    // The bounds themselves are fine (momentum 0 freezes the running stats,
    // 1 keeps only the last batch).
    BatchNorm2d::new(d, 3, 1e-5, 0.0).unwrap();
    BatchNorm2d::new(d, 3, 1e-5, 1.0).unwrap();
    BatchNorm1d::with_affine(d, 3, 1e-3, 0.01, false).unwrap();
}

#[test]
fn batch_norm_forward_rechecks_public_fields() {
    let d = dev();
    let mut rng = Rng::new(0x4850);
    let x = tensor(&rng.uniform(2 * 3 * 4, -1.0, 1.0), &[2, 3, 4]);
    let mut bn = BatchNorm1d::pytorch(d, 3).unwrap();
    let before = bn.running_mean.to_vec().unwrap();
    bn.momentum = f32::NAN;
    invalid(bn.forward(&x), &["momentum", "NaN"]);
    assert_eq!(
        bn.running_mean.to_vec().unwrap(),
        before,
        "a rejected forward must not touch the running stats"
    );
    bn.momentum = 0.1;
    bn.eps = 0.0;
    invalid(bn.forward(&x), &["eps", "0"]);
    bn.eps = 1e-5;
    bn.forward(&x).unwrap();
    // The functional form checks too.
    invalid(
        x.batch_norm(None, None, None, true, 0.1, -1.0),
        &["batch_norm", "eps", "-1"],
    );
    invalid(
        x.batch_norm(None, None, None, true, 2.0, 1e-5),
        &["batch_norm", "momentum", "2"],
    );
}

#[test]
fn weighted_cross_entropy_rejects_bad_class_weights() {
    let d = dev();
    let logits = tensor(&[0.5, -1.0, 2.0, 0.0, 1.0, -0.5], &[2, 3]);
    let labels = IndexTensor::new(d, &[0, 2]).unwrap();
    let targets = tensor(&[1.0, 0.0, 0.0, 0.0, 0.0, 1.0], &[2, 3]);
    let w = |v: &[f32]| tensor(v, &[v.len()]);
    // All zero: Σ w_y = 0, the weighted mean would be 0/0 = NaN.
    let msg = invalid(
        loss::cross_entropy_weighted(&logits, &labels, &w(&[0.0, 0.0, 0.0])),
        &["cross_entropy", "all 3 class weights are 0"],
    );
    assert!(msg.contains("0/0"), "{msg}");
    invalid(
        loss::cross_entropy_soft(&logits, &targets, Some(&w(&[0.0, 0.0, 0.0]))),
        &["cross_entropy_soft", "are 0"],
    );
    for (bad, shown) in [(-1.0f32, "-1"), (f32::NAN, "NaN"), (f32::INFINITY, "inf")] {
        invalid(
            loss::cross_entropy_weighted(&logits, &labels, &w(&[1.0, bad, 2.0])),
            &["class weight 1", shown],
        );
        invalid(
            loss::cross_entropy_soft(&logits, &targets, Some(&w(&[bad, 1.0, 1.0]))),
            &["class weight 0", shown],
        );
    }
    // Wrong length.
    invalid(
        loss::cross_entropy_weighted(&logits, &labels, &w(&[1.0, 1.0])),
        &["cross_entropy", "[K]"],
    );
    // Some zero weights are fine; the loss is the weighted mean.
    let l = loss::cross_entropy_weighted(&logits, &labels, &w(&[0.0, 0.0, 2.0]))
        .unwrap()
        .to_vec()
        .unwrap()[0] as f64;
    // Only sample 1 (label 2) counts: −log softmax([0, 1, −0.5])_2.
    let row = [0.0f64, 1.0, -0.5];
    let lse = row.iter().map(|v| v.exp()).sum::<f64>().ln();
    assert!((l - (lse - row[2])).abs() < 1e-5, "got {l}, want {}", lse - row[2]);
}

#[test]
fn scalar_loss_targets_must_be_finite() {
    let x = tensor(&[0.5, -1.0], &[2]);
    invalid(loss::bce_with_logits_scalar(&x, f32::NAN), &["bce_with_logits", "NaN"]);
    let t = LsganTargets {
        b: f32::INFINITY,
        ..LsganTargets::default()
    };
    invalid(
        loss::lsgan_discriminator(&x, &x, t),
        &["lsgan_discriminator", "b", "inf"],
    );
    let t = LsganTargets {
        c: f32::NAN,
        ..LsganTargets::default()
    };
    invalid(loss::lsgan_generator(&x, t), &["lsgan_generator", "c", "NaN"]);
}

fn param() -> Tensor {
    tensor(&[1.0, 2.0], &[2]).requires_grad_()
}

#[test]
fn adam_rejects_bad_hyper_parameters() {
    let ok = AdamConfig::default();
    let cases: [(AdamConfig, &str, &str); 8] = [
        (AdamConfig { lr: -1e-3, ..ok }, "lr", "-0.001"),
        (AdamConfig { lr: f32::NAN, ..ok }, "lr", "NaN"),
        (AdamConfig { beta1: 1.0, ..ok }, "beta1", "1"),
        (AdamConfig { beta1: -0.1, ..ok }, "beta1", "-0.1"),
        (AdamConfig { beta2: f32::NAN, ..ok }, "beta2", "NaN"),
        (AdamConfig { eps: -1e-8, ..ok }, "eps", "-0.00000001"),
        (
            AdamConfig {
                eps: f32::INFINITY,
                ..ok
            },
            "eps",
            "inf",
        ),
        (
            AdamConfig {
                weight_decay: -0.5,
                ..ok
            },
            "weight_decay",
            "-0.5",
        ),
    ];
    for (c, what, shown) in cases {
        invalid(Adam::new(&[param()], c), &["Adam", what, shown]);
    }
    // WGAN-GP's betas (0, 0.9) are in range.
    Adam::new(
        &[param()],
        AdamConfig {
            beta1: 0.0,
            beta2: 0.9,
            ..ok
        },
    )
    .unwrap();
    // A config changed after construction is caught at the step, which then
    // leaves the parameter untouched.
    let p = param();
    let mut adam = Adam::new(std::slice::from_ref(&p), ok).unwrap();
    p.mul(&p).unwrap().sum_all().unwrap().backward().unwrap();
    adam.config.lr = f32::INFINITY;
    invalid(adam.step(), &["lr", "inf"]);
    assert_eq!(p.to_vec().unwrap(), [1.0, 2.0]);
    assert_eq!(adam.steps(), 0);
    adam.config.lr = 1e-3;
    adam.step().unwrap();
    assert_ne!(p.to_vec().unwrap(), [1.0, 2.0]);
}

#[test]
fn sgd_rejects_bad_hyper_parameters() {
    let ok = SgdConfig::default();
    let cases: [(SgdConfig, &str, &str); 6] = [
        (SgdConfig { lr: -0.1, ..ok }, "lr", "-0.1"),
        (SgdConfig { lr: f32::NAN, ..ok }, "lr", "NaN"),
        (SgdConfig { momentum: -0.9, ..ok }, "momentum", "-0.9"),
        (
            SgdConfig {
                weight_decay: f32::INFINITY,
                ..ok
            },
            "weight_decay",
            "inf",
        ),
        (
            SgdConfig {
                dampening: f32::NAN,
                ..ok
            },
            "dampening",
            "NaN",
        ),
        (
            SgdConfig {
                nesterov: true,
                momentum: 0.0,
                ..ok
            },
            "Nesterov",
            "momentum 0",
        ),
    ];
    for (c, what, shown) in cases {
        invalid(Sgd::new(&[param()], c), &["Sgd", what, shown]);
    }
    let p = param();
    let mut sgd = Sgd::new(std::slice::from_ref(&p), ok).unwrap();
    p.mul(&p).unwrap().sum_all().unwrap().backward().unwrap();
    sgd.config.momentum = f32::NAN;
    invalid(sgd.step(), &["momentum", "NaN"]);
    assert_eq!(p.to_vec().unwrap(), [1.0, 2.0]);
    sgd.config.momentum = 0.0;
    sgd.step().unwrap();
    assert_ne!(p.to_vec().unwrap(), [1.0, 2.0]);
}
