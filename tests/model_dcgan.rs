//! src/models/dcgan.rs: the conditional DCGAN's shapes, its training steps
//! (losses finite, both players move, the discriminator learns a fixed
//! batch, `n_critic` honoured), checkpoint round trips (parameters, samples
//! and optimizer state, strict loading) and that the label conditions both
//! players.

use crate::common::*;
use balgan::models::dcgan::{dcgan, Dcgan};
use balgan::models::{build, BalancingModel, Batch, ModelConfig, ModelKind, StepContext};
use balgan::nn::loss::bce_with_logits_scalar;
use balgan::nn::{Checkpoint, CheckpointWriter, Module};
use balgan::{no_grad, Generator, IndexTensor, Tensor};

fn config(channels: usize, size: usize, classes: usize, batch: usize) -> ModelConfig {
    let mut cfg = ModelConfig::defaults(ModelKind::Dcgan, channels, size, classes);
    cfg.batch = batch;
    cfg
}

/// Synthetic images in [−1, 1]: a class-dependent level plus noise.
fn synthetic(rng: &mut Rng, n: usize, channels: usize, size: usize, classes: usize) -> (Tensor, Vec<u32>) {
    let labels: Vec<u32> = (0..n).map(|i| (i % classes) as u32).collect();
    let per = channels * size * size;
    let noise = rng.uniform(n * per, -0.3, 0.3);
    let data: Vec<f32> = (0..n * per)
        .map(|i| {
            let level = -0.6 + 1.2 * labels[i / per] as f32 / (classes - 1) as f32;
            (level + noise[i]).clamp(-1.0, 1.0)
        })
        .collect();
    (tensor(&data, &[n, channels, size, size]), labels)
}

fn snapshot(m: &dyn Module) -> Vec<(String, Vec<f32>)> {
    let mut all = m.parameters();
    all.extend(m.buffers());
    all.into_iter().map(|(n, t)| (n, t.to_vec().unwrap())).collect()
}

fn params_of(m: &Dcgan) -> Vec<(String, Vec<f32>)> {
    let mut s = snapshot(&m.players().generator);
    s.extend(snapshot(&m.players().discriminator));
    s
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn max_abs(a: &[f32]) -> f32 {
    a.iter().map(|x| x.abs()).fold(0.0, f32::max)
}

#[test]
fn dcgan_shapes_and_ranges() {
    let dev = dev();
    let seed = base_seed();
    for (c, s) in [(1, 28), (3, 32), (1, 64), (3, 64)] {
        let cfg = config(c, s, 3, 2);
        let mut model = build(dev, &cfg, seed).unwrap();
        assert_eq!(model.phases().len(), 1);
        assert_eq!(model.phases()[0].name, "adversarial");
        assert_eq!(model.phases()[0].epochs, cfg.gan_epochs);
        assert_eq!(model.phases()[0].losses, vec!["d_loss", "g_loss"]);

        let x = model.sample(&[0, 1], &Generator::new(seed ^ 1)).unwrap();
        assert_eq!(x.shape(), &[2, c, s, s], "sample shape for {c}×{s}×{s} (seed {seed})");
        let v = x.to_vec().unwrap();
        assert!(
            v.iter().all(|p| p.is_finite() && (-1.0..=1.0).contains(p)),
            "{c}×{s}: samples outside [−1, 1]"
        );

        let concrete = dcgan(dev, &Generator::new(seed), cfg).unwrap();
        let labels = IndexTensor::new(dev, &[2, 0]).unwrap();
        let logits = no_grad(|| concrete.players().discriminator.score(&x, &labels)).unwrap();
        assert_eq!(logits.shape(), &[2, 1], "{c}×{s}: discriminator logits");
        assert!(logits.to_vec().unwrap().iter().all(|v| v.is_finite()));
        let z = Generator::new(seed ^ 2)
            .normal(dev, &[2, concrete.config().latent], 0.0, 1.0)
            .unwrap();
        let g = no_grad(|| concrete.players().generator.generate(&z, &labels)).unwrap();
        assert_eq!(g.shape(), &[2, c, s, s], "{c}×{s}: training-mode generator");
    }
}

#[test]
fn dcgan_training_steps_move_both_players() {
    let dev = dev();
    let seed = base_seed();
    let mut rng = Rng::new(0xDC6A_0001);
    let (images, host_labels) = synthetic(&mut rng, 8, 1, 16, 3);
    let labels = IndexTensor::new(dev, &host_labels).unwrap();
    let batch = Batch {
        images: &images,
        labels: &labels,
        host_labels: &host_labels,
    };
    let mut model = dcgan(dev, &Generator::new(seed), config(1, 16, 3, 8)).unwrap();
    let g0 = snapshot(&model.players().generator);
    let d0 = snapshot(&model.players().discriminator);
    let noise = Generator::new(seed ^ 0x55);
    for step in 0..3u64 {
        let ctx = StepContext {
            rng: &noise,
            step,
            phase_step: step,
            seed,
        };
        let losses = model.train_step(&batch, &ctx).unwrap();
        let names: Vec<&str> = losses.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            vec!["d_loss", "g_loss"],
            "n_critic 1: both players step every batch"
        );
        for (name, t) in &losses {
            assert_eq!(t.numel(), 1, "{name} is a scalar");
            let v = t.item().unwrap();
            assert!(v.is_finite() && v >= 0.0, "step {step}: {name} = {v} (seed {seed})");
        }
    }
    // Every trainable tensor of both players moved (Adam moves every
    // parameter with a non-zero gradient by about lr per step).
    let moved = |before: &[(String, Vec<f32>)], m: &dyn Module| {
        for ((name, b), (_, a)) in before.iter().zip(snapshot(m)) {
            if name.contains("running_") {
                continue;
            }
            assert!(max_abs_diff(b, &a) > 0.0, "{name} did not change (seed {seed})");
        }
    };
    moved(&g0, &model.players().generator);
    moved(&d0, &model.players().discriminator);
    // Batch norm statistics moved too.
    let running: Vec<_> = g0.iter().filter(|(n, _)| n.contains("running_mean")).collect();
    assert!(!running.is_empty());
    for ((name, b), (_, a)) in g0.iter().zip(snapshot(&model.players().generator)) {
        if name.contains("running_") {
            assert!(max_abs_diff(b, &a) > 0.0, "{name} did not change");
        }
    }
}

#[test]
fn dcgan_discriminator_learns_and_n_critic_is_honoured() {
    let dev = dev();
    let seed = base_seed();
    let mut rng = Rng::new(0xDC6A_0002);
    let (images, host_labels) = synthetic(&mut rng, 8, 1, 16, 3);
    let labels = IndexTensor::new(dev, &host_labels).unwrap();
    let batch = Batch {
        images: &images,
        labels: &labels,
        host_labels: &host_labels,
    };
    let mut cfg = config(1, 16, 3, 8);
    cfg.n_critic = 3;
    let mut model = dcgan(dev, &Generator::new(seed), cfg).unwrap();

    // A fixed fake batch: the generator does not move during D-only steps.
    let fake_labels = IndexTensor::new(dev, &[2, 1, 0, 2, 1, 0, 1, 2]).unwrap();
    let z = Generator::new(seed ^ 7).normal(dev, &[8, 100], 0.0, 1.0).unwrap();
    let fake = no_grad(|| model.players().generator.generate(&z, &fake_labels)).unwrap();
    let d_loss = |m: &Dcgan| -> f32 {
        no_grad(|| -> balgan::Result<f32> {
            let real = bce_with_logits_scalar(&m.players().discriminator.score(&images, &labels)?, 1.0)?;
            let fake = bce_with_logits_scalar(&m.players().discriminator.score(&fake, &fake_labels)?, 0.0)?;
            real.add(&fake)?.item()
        })
        .unwrap()
    };
    let before = d_loss(&model);
    let g_before = snapshot(&model.players().generator);
    let noise = Generator::new(seed ^ 0x77);
    // n_critic = 3: phase steps 0 and 1 are discriminator-only, step 2 is not.
    for step in 0..2u64 {
        let ctx = StepContext {
            rng: &noise,
            step,
            phase_step: step,
            seed,
        };
        let names: Vec<&str> = model
            .train_step(&batch, &ctx)
            .unwrap()
            .iter()
            .map(|(n, _)| *n)
            .collect();
        assert_eq!(
            names,
            vec!["d_loss"],
            "phase step {step} of n_critic 3 has no generator step"
        );
    }
    let after = d_loss(&model);
    for ((name, b), (_, a)) in g_before.iter().zip(snapshot(&model.players().generator)) {
        if !name.contains("running_") {
            assert_eq!(b, &a, "{name} moved during discriminator-only steps");
        }
    }
    // Two Adam steps at 2e-4 on this batch: a clear drop, not rounding noise.
    assert!(
        after < before - 0.01,
        "discriminator loss on a fixed batch did not decrease: {before} → {after} (seed {seed})"
    );
    let ctx = StepContext {
        rng: &noise,
        step: 2,
        phase_step: 2,
        seed,
    };
    let names: Vec<&str> = model
        .train_step(&batch, &ctx)
        .unwrap()
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(
        names,
        vec!["d_loss", "g_loss"],
        "the third step of n_critic 3 trains the generator"
    );
    let g_after = snapshot(&model.players().generator);
    assert!(g_before
        .iter()
        .zip(&g_after)
        .any(|((_, b), (_, a))| max_abs_diff(b, a) > 0.0));
}

#[test]
fn dcgan_checkpoint_round_trip() {
    let dev = dev();
    let seed = base_seed();
    let mut rng = Rng::new(0xDC6A_0003);
    let (images, host_labels) = synthetic(&mut rng, 4, 1, 8, 3);
    let labels = IndexTensor::new(dev, &host_labels).unwrap();
    let batch = Batch {
        images: &images,
        labels: &labels,
        host_labels: &host_labels,
    };
    let cfg = config(1, 8, 3, 4);
    let mut a = dcgan(dev, &Generator::new(seed), cfg.clone()).unwrap();
    let noise = Generator::new(seed ^ 3);
    for step in 0..2u64 {
        let ctx = StepContext {
            rng: &noise,
            step,
            phase_step: step,
            seed,
        };
        a.train_step(&batch, &ctx).unwrap();
    }
    let tmp = TempDir::new("dcgan-roundtrip");
    let dir = tmp.path().to_path_buf();
    let path = dir.join("dcgan.safetensors");
    let mut w = CheckpointWriter::new();
    a.save(&mut w).unwrap();
    w.write(&path).unwrap();

    let mut b = dcgan(dev, &Generator::new(seed.wrapping_add(1)), cfg.clone()).unwrap();
    let (pa, pb) = (params_of(&a), params_of(&b));
    assert_eq!(
        pa.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        pb.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    assert!(
        pa.iter().zip(&pb).any(|((_, x), (_, y))| x != y),
        "a fresh model must differ before loading"
    );
    let c = Checkpoint::open(&path).unwrap();
    b.load(&c).unwrap();
    assert!(c.finish(true).unwrap().is_empty(), "every saved tensor is loaded");
    for ((name, x), (_, y)) in params_of(&a).iter().zip(params_of(&b)) {
        assert_eq!(x, &y, "{name} differs after loading");
    }

    let labels_s = [0, 1, 2, 1];
    let sa = a
        .sample(&labels_s, &Generator::new(seed ^ 9))
        .unwrap()
        .to_vec()
        .unwrap();
    let sb = b
        .sample(&labels_s, &Generator::new(seed ^ 9))
        .unwrap()
        .to_vec()
        .unwrap();
    assert_eq!(sa, sb, "samples of the loaded model differ");

    // The optimizer states came along: one more identical step keeps the
    // two models identical (zeroed Adam moments would not).
    for m in [&mut a, &mut b] {
        let noise = Generator::new(seed ^ 4);
        let ctx = StepContext {
            rng: &noise,
            step: 2,
            phase_step: 2,
            seed,
        };
        m.train_step(&batch, &ctx).unwrap();
    }
    for ((name, x), (_, y)) in params_of(&a).iter().zip(params_of(&b)) {
        assert_eq!(x, &y, "{name} differs after a step from the loaded state");
    }

    // Strict loading: another model's checkpoint is refused.
    let other = build(dev, &ModelConfig::defaults(ModelKind::CwganGp, 1, 8, 3), seed).unwrap();
    let mut w = CheckpointWriter::new();
    other.save(&mut w).unwrap();
    let other_path = dir.join("cwgan.safetensors");
    w.write(&other_path).unwrap();
    let mut fresh = build(dev, &cfg, seed).unwrap();
    assert!(fresh.load(&Checkpoint::open(&other_path).unwrap()).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn dcgan_labels_condition_both_players() {
    let dev = dev();
    let seed = base_seed();
    let cfg = config(1, 16, 3, 4);
    let mut model = dcgan(dev, &Generator::new(seed), cfg).unwrap();
    let noise = || Generator::new(seed ^ 0xC0);
    // Same noise (same seed, same count), different labels.
    let s0 = model.sample(&[0, 0], &noise()).unwrap().to_vec().unwrap();
    let s0_again = model.sample(&[0, 0], &noise()).unwrap().to_vec().unwrap();
    let s1 = model.sample(&[1, 1], &noise()).unwrap().to_vec().unwrap();
    let mixed = model.sample(&[0, 1], &noise()).unwrap().to_vec().unwrap();
    assert_eq!(s0, s0_again, "sampling is deterministic for one seed");
    let scale = max_abs(&s0).max(max_abs(&s1));
    assert!(scale > 0.0);
    let n = s0.len() / 2;
    for row in 0..2 {
        let r = row * n..(row + 1) * n;
        let d = max_abs_diff(&s0[r.clone()], &s1[r]);
        assert!(
            d > 1e-3 * scale,
            "row {row}: labels 0 and 1 give the same image (diff {d}, scale {scale})"
        );
    }
    // Per row: the label of one row does not change the other row's image
    // (evaluation mode), and each row follows its own label.
    assert_eq!(&mixed[..n], &s0[..n], "row 0 (label 0) must match the all-0 batch");
    assert_eq!(&mixed[n..], &s1[n..], "row 1 (label 1) must match the all-1 batch");

    // The discriminator's logit depends on the label for the same image.
    let x = model.sample(&[2, 2], &noise()).unwrap();
    let score = |l: &[u32]| {
        let y = IndexTensor::new(dev, l).unwrap();
        no_grad(|| model.players().discriminator.score(&x, &y))
            .unwrap()
            .to_vec()
            .unwrap()
    };
    let (d0, d1) = (score(&[0, 0]), score(&[1, 1]));
    let scale = max_abs(&d0).max(max_abs(&d1));
    assert!(
        max_abs_diff(&d0, &d1) > 1e-3 * scale,
        "discriminator ignores the label: {d0:?} vs {d1:?}"
    );
}
