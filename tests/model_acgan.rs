//! src/models/acgan.rs: the ACGAN family's shapes at the sizes users train
//! on, training steps of every objective (finite, both players move),
//! CostSensitive-ACGAN's eq. 2 against an f64 computation, its per-class
//! errors and softmax weights on hand-made vectors, and its epoch-end update
//! on a trained discriminator.

use balgan::data::Dataset;
use balgan::models::acgan::{class_errors, cost_sensitive_weights, AcganPlayers};
use balgan::models::gan::Gan;
use balgan::models::{build, BalancingModel, Batch, ModelConfig, ModelKind, StepContext};
use balgan::nn::{evaluating, CheckpointWriter, Module};
use balgan::{Generator, IndexTensor};

use crate::common::{dev, to_f64, Rng};

const FAMILY: [ModelKind; 4] = [
    ModelKind::Acgan,
    ModelKind::CsAcgan,
    ModelKind::Lsgan,
    ModelKind::WganGp,
];

/// Each class a level in [−1, 1] plus noise.
pub(crate) fn levels(n: usize, classes: usize, side: usize, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let labels: Vec<u32> = (0..n).map(|i| (i % classes) as u32).collect();
    let per = side * side;
    let noise = rng.uniform(n * per, -0.2, 0.2);
    let images: Vec<f32> = (0..n * per)
        .map(|i| (-0.7 + 1.4 * labels[i / per] as f32 / (classes - 1) as f32 + noise[i]).clamp(-1.0, 1.0))
        .collect();
    let names = (0..classes).map(|c| format!("class{c}")).collect();
    Dataset::new(images, [n, 1, side, side], labels, names).unwrap()
}

pub(crate) fn ctx(rng: &Generator, step: u64) -> StepContext<'_> {
    StepContext {
        rng,
        step,
        phase_step: step,
        seed: 5,
    }
}

/// One training step of `model` on the images `idx` of `data`.
pub(crate) fn step_on(
    model: &mut dyn BalancingModel,
    data: &Dataset,
    idx: &[usize],
    ctx: &StepContext,
) -> Vec<(&'static str, balgan::Tensor)> {
    let x = data.to_tensor(dev(), idx).unwrap();
    let host: Vec<u32> = idx.iter().map(|&i| data.labels()[i]).collect();
    let y = IndexTensor::new(dev(), &host).unwrap();
    let batch = Batch {
        images: &x,
        labels: &y,
        host_labels: &host,
    };
    model.train_step(&batch, ctx).unwrap()
}

pub(crate) fn tiny(kind: ModelKind, size: usize, classes: usize) -> ModelConfig {
    let mut cfg = ModelConfig::defaults(kind, 1, size, classes);
    cfg.batch = 6;
    cfg.latent = 8;
    cfg.width = 8;
    cfg.gan_epochs = 1;
    cfg.n_critic = 1;
    cfg
}

#[test]
fn acgan_family_has_the_shapes_of_the_sizes_users_train() {
    for kind in FAMILY {
        for (c, s) in [(1, 28), (3, 32), (1, 64)] {
            let mut cfg = ModelConfig::defaults(kind, c, s, 10);
            cfg.width = 16;
            let players = AcganPlayers::new(dev(), &Generator::new(1), &cfg).unwrap();
            let labels = IndexTensor::new(dev(), &[0, 9, 4]).unwrap();
            let z = Generator::new(2).normal(dev(), &[3, cfg.latent], 0.0, 1.0).unwrap();
            let x = players.generator.generate(&z, &labels).unwrap();
            assert_eq!(x.shape(), &[3, c, s, s], "{kind} at {c}×{s}");
            assert!(x.to_vec().unwrap().iter().all(|v| v.is_finite() && v.abs() <= 1.0));
            let (source, class) = players.discriminator.heads(&x).unwrap();
            assert_eq!(source.shape(), &[3, 1], "{kind} source head at {c}×{s}");
            assert_eq!(class.shape(), &[3, 10], "{kind} class head at {c}×{s}");
        }
    }
    // The generator doubles its map twice: the side must be a multiple of 4.
    let e = AcganPlayers::new(
        dev(),
        &Generator::new(1),
        &ModelConfig::defaults(ModelKind::Acgan, 1, 30, 10),
    )
    .err()
    .expect("side 30")
    .to_string();
    assert!(e.contains("multiple of 4"), "{e}");
}

#[test]
fn every_objective_trains_without_nan_and_moves_both_players() {
    let data = levels(12, 3, 8, 3);
    for kind in FAMILY {
        let cfg = tiny(kind, 8, 3);
        let mut model = build(dev(), &cfg, 4).unwrap();
        let noise = Generator::new(6);
        model.enter_phase(0, Some(&data), &ctx(&noise, 0)).unwrap();
        let snapshot = |m: &dyn BalancingModel| {
            let mut w = CheckpointWriter::new();
            m.save(&mut w).unwrap();
            w.encode("snapshot").unwrap()
        };
        let before = snapshot(model.as_ref());
        for step in 0..3u64 {
            let idx: Vec<usize> = (0..6).map(|i| (i + step as usize * 6) % 12).collect();
            let losses = step_on(model.as_mut(), &data, &idx, &ctx(&noise, step));
            for (name, t) in losses {
                let v = t.item().unwrap();
                assert!(v.is_finite(), "{kind} step {step}: {name} = {v}");
            }
        }
        assert_ne!(before, snapshot(model.as_ref()), "{kind}: nothing moved");
    }
}

/// Eq. 2 as written, (1/B)·Σ_i w_{y_i}·CE_i, against f64, on a batch with
/// every class and on a batch of one class (where a weighted mean,
/// Σ w·CE / Σ w, would cancel the weights).
#[test]
fn cost_sensitive_class_loss_is_eq_2_as_written() {
    // As written (scale 1), and with weights averaging 1 (scale K = 3).
    for (mean_one, scale) in [(false, 1.0), (true, 3.0)] {
        let mut cfg = tiny(ModelKind::CsAcgan, 8, 3);
        cfg.mean_one_class_weights = mean_one;
        let players = AcganPlayers::new(dev(), &Generator::new(1), &cfg).unwrap();
        let weights = [0.2f32, 0.5, 0.3];
        players
            .discriminator
            .class_weights
            .as_ref()
            .unwrap()
            .assign_slice_(&weights)
            .unwrap();
        let mut rng = Rng::new(8);
        for labels in [vec![0u32, 1, 2, 1, 0], vec![2u32, 2, 2]] {
            let b = labels.len();
            let logits = rng.uniform(b * 3, -2.0, 2.0);
            let want: f64 = (0..b)
                .map(|i| {
                    let row = &to_f64(&logits[i * 3..i * 3 + 3]);
                    let max = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let lse = max + row.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
                    scale * weights[labels[i] as usize] as f64 * (lse - row[labels[i] as usize])
                })
                .sum::<f64>()
                / b as f64;
            let t = balgan::Tensor::from_slice(dev(), &logits, &[b, 3]).unwrap();
            let got = players
                .class_loss(&t, &IndexTensor::new(dev(), &labels).unwrap())
                .unwrap()
                .item()
                .unwrap() as f64;
            // A handful of f32 log-sum-exps: relative 1e-6.
            assert!(
                (got - want).abs() <= 1e-6 * want.abs().max(1.0),
                "labels {labels:?}: {got} against {want}"
            );
        }
    }
    // Mean-one weights are CostSensitive-ACGAN's alone.
    let mut other = tiny(ModelKind::Acgan, 8, 3);
    other.mean_one_class_weights = true;
    let e = build(dev(), &other, 1)
        .err()
        .expect("acgan with class weights")
        .to_string();
    assert!(e.contains("mean_one_class_weights"), "{e}");
}

#[test]
fn class_errors_and_weights_on_hand_made_vectors() {
    // Class 0: 3 of 4 right; class 1: none of 2; class 2: both; class 3: no images.
    let labels = [0, 0, 0, 0, 1, 1, 2, 2];
    let predicted = [0, 0, 1, 0, 0, 2, 2, 2];
    let e = class_errors(&predicted, &labels, 4).unwrap();
    assert_eq!(e, vec![0.25, 1.0, 0.0, 0.0]);
    let w = cost_sensitive_weights(&e);
    let z: f64 = e.iter().map(|x| x.exp()).sum();
    for (got, err) in w.iter().zip(&e) {
        assert!((got - err.exp() / z).abs() < 1e-15, "{w:?}");
    }
    assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-15);
    // Equal errors: equal weights (the 1/K of the start).
    assert_eq!(cost_sensitive_weights(&[0.3; 5]), vec![0.2; 5]);
}

/// The epoch end of CostSensitive-ACGAN: its logged errors are the class
/// head's on the training images (recomputed here from the head's logits in
/// evaluation mode), its weights their softmax, and the weights it stores
/// (and uses next) are those.
#[test]
fn cost_sensitive_epoch_end_sets_the_softmax_of_the_class_errors() {
    let data = levels(30, 3, 8, 9);
    let cfg = tiny(ModelKind::CsAcgan, 8, 3);
    let players = AcganPlayers::new(dev(), &Generator::new(4), &cfg).unwrap();
    let mut model = Gan::new(dev(), cfg, players).unwrap();
    let noise = Generator::new(6);
    model.enter_phase(0, Some(&data), &ctx(&noise, 0)).unwrap();
    let logged = model.end_epoch(&data).unwrap();
    let get = |name: &str| logged.iter().find(|(n, _)| n == name).map(|p| p.1).unwrap();
    let errors: Vec<f64> = (0..3).map(|c| get(&format!("error{c}"))).collect();
    let weights: Vec<f64> = (0..3).map(|c| get(&format!("w{c}"))).collect();
    assert_eq!(weights, cost_sensitive_weights(&errors));
    let d = &model.players().discriminator;
    let idx: Vec<usize> = (0..30).collect();
    let logits = evaluating(d, || d.heads(&data.to_tensor(dev(), &idx)?).map(|h| h.1))
        .unwrap()
        .to_vec()
        .unwrap();
    let predicted: Vec<u32> = logits
        .chunks(3)
        .map(|r| (0..3).fold(0, |b, i| if r[i] > r[b] { i } else { b }) as u32)
        .collect();
    assert_eq!(errors, class_errors(&predicted, data.labels(), 3).unwrap());
    let stored = d.class_weights.as_ref().unwrap().to_vec().unwrap();
    for (s, w) in stored.iter().zip(&weights) {
        assert!(
            (*s as f64 - w).abs() < 1e-7,
            "stored {stored:?} against logged {weights:?}"
        );
    }
    assert!((weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    // The weights are in the checkpoint, under the discriminator's buffers.
    let path = std::env::temp_dir().join(format!("balgan-cs-acgan-{}.safetensors", std::process::id()));
    let mut w = CheckpointWriter::new();
    model.save(&mut w).unwrap();
    w.write(&path).unwrap();
    let c = balgan::nn::Checkpoint::open(&path).unwrap();
    assert_eq!(c.values("discriminator.class_weights").unwrap().1, stored);
    let _ = std::fs::remove_file(&path);
}

/// The original WGAN: after its critic updates every critic weight lies in
/// [−c, c] (its initial N(0, 0.02) weights reach past c = 0.01), both
/// players train with RMSprop (the checkpoint says so), and a WGAN without
/// a clip, or a clip on another model, is refused.
#[test]
fn wgan_clips_its_critic_and_trains_with_rmsprop() {
    let data = levels(12, 3, 8, 3);
    let mut cfg = tiny(ModelKind::Wgan, 8, 3);
    cfg.weight_clip = 0.01;
    let players = AcganPlayers::new(dev(), &Generator::new(4), &cfg).unwrap();
    let mut model = Gan::new(dev(), cfg.clone(), players).unwrap();
    let noise = Generator::new(6);
    model.enter_phase(0, Some(&data), &ctx(&noise, 0)).unwrap();
    let weights = |m: &Gan<AcganPlayers>| -> Vec<f32> {
        m.players()
            .discriminator
            .parameter_tensors()
            .iter()
            .flat_map(|p| p.to_vec().unwrap())
            .collect()
    };
    assert!(
        weights(&model).iter().any(|w| w.abs() > 0.01),
        "the initial weights should reach past c"
    );
    let idx: Vec<usize> = (0..6).collect();
    step_on(&mut model, &data, &idx, &ctx(&noise, 0));
    let after = weights(&model);
    assert!(after.iter().all(|w| w.abs() <= 0.01), "a critic weight outside ±0.01");
    assert!(after.iter().any(|w| w.abs() == 0.01), "nothing was clipped");
    let path = std::env::temp_dir().join(format!("balgan-wgan-{}.safetensors", std::process::id()));
    let mut w = CheckpointWriter::new();
    model.save(&mut w).unwrap();
    w.write(&path).unwrap();
    let c = balgan::nn::Checkpoint::open(&path).unwrap();
    assert_eq!(c.metadata("opt_d.kind"), Some("rmsprop"));
    assert_eq!(c.metadata("opt_g.kind"), Some("rmsprop"));
    let _ = std::fs::remove_file(&path);

    cfg.weight_clip = 0.0;
    let e = build(dev(), &cfg, 1).err().expect("no clip").to_string();
    assert!(e.contains("weight_clip"), "{e}");
    let mut other = tiny(ModelKind::Acgan, 8, 3);
    other.weight_clip = 0.01;
    let e = build(dev(), &other, 1).err().expect("clip on ACGAN").to_string();
    assert!(e.contains("--model wgan"), "{e}");
}

#[test]
fn bad_acgan_settings_are_clear_errors() {
    let mut cfg = tiny(ModelKind::CsAcgan, 8, 3);
    cfg.fake_labels = balgan::models::FakeLabels::Real;
    let e = build(dev(), &cfg, 1).err().expect("fake_labels = real").to_string();
    assert!(e.contains("fake_labels"), "{e}");
    // Settings of the gradient-penalty models that this family would ignore.
    let mut cfg = tiny(ModelKind::WganGp, 8, 3);
    cfg.gp_alpha = balgan::models::AlphaDistribution::Normal;
    let e = build(dev(), &cfg, 1).err().expect("gp_alpha = normal").to_string();
    assert!(e.contains("gp_alpha"), "{e}");
    let mut cfg = tiny(ModelKind::Acgan, 8, 3);
    cfg.critic_init = balgan::models::CriticInit::Random;
    let e = build(dev(), &cfg, 1).err().expect("critic_init = random").to_string();
    assert!(e.contains("critic_init"), "{e}");
    // A run written before these were refused trained with them ignored:
    // reading its config puts them back to what it trained with.
    cfg.gp_alpha = balgan::models::AlphaDistribution::Normal;
    assert!(cfg.reset_ignored_settings());
    assert_eq!(
        (cfg.critic_init, cfg.gp_alpha),
        (
            balgan::models::CriticInit::Encoder,
            balgan::models::AlphaDistribution::Uniform
        )
    );
    assert!(build(dev(), &cfg, 1).is_ok());
    assert!(!cfg.reset_ignored_settings(), "nothing left to reset");
    // Where the model reads them they stay.
    let mut gp = tiny(ModelKind::CwganGp, 8, 3);
    gp.gp_alpha = balgan::models::AlphaDistribution::Normal;
    assert!(!gp.reset_ignored_settings());
}
