//! SGBGAN (with its SA-GVAE), BAGAN-GP and cWGAN-GP: forward shapes at the
//! sizes users train on, pre-training that learns, the SA-GVAE → SGBGAN weight
//! transfer, the gradient penalty through the full SGBGAN critic against
//! finite differences, checkpoint → resume giving bit-identical parameters,
//! and the NaN guard keeping the last good checkpoint.

use std::path::PathBuf;

use balgan::data::Dataset;
use balgan::models::blocks::Geometry;
use balgan::models::sgbgan::{transfer_from_vae, Sgbgan};
use balgan::models::trainer::{self, Control, TrainHooks, TrainOptions, TrainState};
use balgan::models::{build, BalancingModel, Batch, CriticSchedule, ModelConfig, ModelKind, StepContext};
use balgan::nn::{gradient_penalty_with_alpha, Checkpoint, Module};
use balgan::{Error, Generator, IndexTensor, Tensor};

use crate::common::{dev, Rng};

/// A synthetic dataset: each class a distinct pattern (stripes at a class
/// dependent period) plus noise, in [−1, 1].
fn patterns(n: usize, classes: usize, channels: usize, side: usize, seed: u64) -> Dataset {
    let mut rng = Rng::new(seed);
    let mut images = Vec::with_capacity(n * channels * side * side);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % classes;
        labels.push(c as u32);
        for ch in 0..channels {
            for y in 0..side {
                for x in 0..side {
                    let on = ((x + y * c + ch) / (c + 1)).is_multiple_of(2);
                    let v = if on { 0.8 } else { -0.8 } + 0.1 * (rng.unit() as f32 - 0.5);
                    images.push(v);
                }
            }
        }
    }
    let names = (0..classes).map(|c| format!("class{c}")).collect();
    Dataset::new(images, [n, channels, side, side], labels, names).unwrap()
}

fn ctx(rng: &Generator, step: u64) -> StepContext<'_> {
    StepContext {
        rng,
        step,
        phase_step: step,
        seed: 11,
    }
}

fn batch_of(d: &Dataset, idx: &[usize]) -> (Tensor, IndexTensor, Vec<u32>) {
    let x = d.to_tensor(dev(), idx).unwrap();
    let host: Vec<u32> = idx.iter().map(|&i| d.labels()[i]).collect();
    let y = IndexTensor::new(dev(), &host).unwrap();
    (x, y, host)
}

#[test]
fn gan_models_have_the_shapes_of_the_sizes_users_train() {
    for kind in [ModelKind::Sgbgan, ModelKind::BaganGp, ModelKind::CwganGp] {
        for (c, s) in [(1, 28), (3, 32), (1, 64), (3, 64)] {
            let cfg = ModelConfig::defaults(kind, c, s, 10);
            let mut model = build(dev(), &cfg, 1).unwrap();
            let data = patterns(4, 2, c, s, 3);
            let noise = Generator::new(2);
            let last = model.phases().len() - 1;
            // Pre-training phase first (when there is one), then the adversarial phase.
            if last == 1 {
                model.enter_phase(0, Some(&data), &ctx(&noise, 0)).unwrap();
                let x = model.sample(&[0, 9], &noise).unwrap();
                assert_eq!(x.shape(), &[2, c, s, s], "{kind} pre-training sample at {c}×{s}");
            }
            model.enter_phase(last, Some(&data), &ctx(&noise, 0)).unwrap();
            let x = model.sample(&[3, 7], &noise).unwrap();
            assert_eq!(x.shape(), &[2, c, s, s], "{kind} sample at {c}×{s}");
            let v = x.to_vec().unwrap();
            assert!(
                v.iter().all(|v| v.is_finite() && v.abs() <= 1.0),
                "{kind}: samples outside [-1, 1]"
            );
        }
    }
    // The critic scores one logit per image and the VAE's heads are [B, latent].
    let g = Geometry::new(3, 32, 10, 128).unwrap();
    assert_eq!(g.stage_sides(), vec![16, 8, 4]);
    assert_eq!(g.stage_widths(), vec![128, 128, 256]);
    let cfg = ModelConfig::defaults(ModelKind::Sgbgan, 3, 32, 10);
    let m = Sgbgan::new(dev(), &Generator::new(1), cfg).unwrap();
    let x = Generator::new(3).uniform(dev(), &[2, 3, 32, 32], -1.0, 1.0).unwrap();
    let (mu, logvar) = m.pretrained.encode(&x).unwrap();
    assert_eq!(mu.shape(), &[2, 128]);
    assert_eq!(logvar.shape(), &[2, 128]);
    // Sizes the architecture cannot build are refused with the fix.
    let bad = ModelConfig::defaults(ModelKind::Sgbgan, 1, 27, 10);
    let err = build(dev(), &bad, 1).err().expect("27×27 must be refused").to_string();
    assert!(err.contains("--image-size"), "{err}");
}

/// Mean of the first and last `k` values of a loss over `steps` steps of phase 0.
fn pretraining_curve(kind: ModelKind, steps: usize, k: usize) -> (f32, f32) {
    let mut cfg = ModelConfig::defaults(kind, 1, 16, 3);
    cfg.batch = 8;
    // A higher rate than the papers' so that a few steps move the loss clearly.
    cfg.ae_lr = 2e-3;
    let mut model = build(dev(), &cfg, 5).unwrap();
    let data = patterns(24, 3, 1, 16, 7);
    let noise = Generator::new(4);
    model.enter_phase(0, Some(&data), &ctx(&noise, 0)).unwrap();
    let mut losses = Vec::new();
    for s in 0..steps {
        let idx: Vec<usize> = (0..8).map(|i| (s * 8 + i) % 24).collect();
        let (x, y, host) = batch_of(&data, &idx);
        let b = Batch {
            images: &x,
            labels: &y,
            host_labels: &host,
        };
        let l = model.train_step(&b, &ctx(&noise, s as u64)).unwrap();
        losses.push(l[0].1.item().unwrap());
    }
    assert!(losses.iter().all(|l| l.is_finite()), "{kind}: {losses:?}");
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    (mean(&losses[..k]), mean(&losses[steps - k..]))
}

#[test]
fn pretraining_reduces_the_autoencoder_losses() {
    for kind in [ModelKind::Sgbgan, ModelKind::BaganGp] {
        let (first, last) = pretraining_curve(kind, 15, 3);
        assert!(last < 0.9 * first, "{kind}: loss went from {first} to {last}");
    }
}

fn values(named: Vec<(String, Tensor)>) -> Vec<(String, Vec<f32>)> {
    named.into_iter().map(|(n, t)| (n, t.to_vec().unwrap())).collect()
}

fn all_tensors(m: &dyn Module) -> Vec<(String, Vec<f32>)> {
    let mut v = values(m.parameters());
    v.extend(values(m.buffers()));
    v
}

#[test]
fn sgbgan_transfer_copies_exactly_the_vae_decoder_embedding_and_encoder() {
    let cfg = ModelConfig::defaults(ModelKind::Sgbgan, 1, 16, 3);
    let model = Sgbgan::new(dev(), &Generator::new(1), cfg.clone()).unwrap();
    let g = cfg.geometry().unwrap();
    let rng = Generator::new(99);
    let generator = balgan::models::blocks::ConditionalGenerator::new(dev(), &rng, &g, true).unwrap();
    let critic = balgan::models::blocks::ConditionalCritic::new(dev(), &rng, &g, true, true).unwrap();
    let head_before = values(critic.head.parameters());
    let names = transfer_from_vae(&model.pretrained, &generator, &critic).unwrap();

    let vae = all_tensors(&model.pretrained);
    let gen = all_tensors(&generator);
    let body = all_tensors(&critic.body);
    // Every generator tensor equals the VAE's tensor of the same name; every
    // critic-body tensor equals the VAE encoder's.
    for (n, v) in &gen {
        let src = vae
            .iter()
            .find(|(m, _)| m == n)
            .unwrap_or_else(|| panic!("{n} not in the VAE"));
        assert_eq!(&src.1, v, "generator {n}");
    }
    for (n, v) in &body {
        let src = vae.iter().find(|(m, _)| *m == format!("encoder.{n}")).unwrap();
        assert_eq!(&src.1, v, "critic body {n}");
    }
    // Exactly those names were written; the μ/log σ² heads and the critic's
    // head were not touched.
    let mut want: Vec<String> = gen.iter().map(|(n, _)| n.clone()).collect();
    want.extend(body.iter().map(|(n, _)| format!("critic:body.{n}")));
    let mut got = names.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert!(!names.iter().any(|n| n.contains("mu.") || n.contains("logvar.")));
    assert_eq!(values(critic.head.parameters()), head_before);
    assert!(
        gen.iter().any(|(n, _)| n.starts_with("decoder.attention")),
        "the decoder's attention is transferred"
    );
    assert!(
        body.iter().any(|(n, _)| n.starts_with("attention")),
        "the encoder's attention is transferred"
    );
}

#[test]
fn bagan_gp_critic_starts_from_the_encoder_or_fresh() {
    let data = patterns(8, 2, 1, 16, 1);
    let noise = Generator::new(0);
    for init in ["encoder", "random"] {
        let mut cfg = ModelConfig::defaults(ModelKind::BaganGp, 1, 16, 2);
        cfg.critic_init = if init == "encoder" {
            balgan::models::CriticInit::Encoder
        } else {
            balgan::models::CriticInit::Random
        };
        let mut m = balgan::models::bagan_gp::BaganGp::new(dev(), &Generator::new(3), cfg).unwrap();
        m.enter_phase(1, Some(&data), &ctx(&noise, 0)).unwrap();
        let enc = all_tensors(&m.pretrained.encoder);
        let body = all_tensors(&m.gan.as_ref().unwrap().players.critic.body);
        assert_eq!(enc.len(), body.len());
        let same = enc.iter().zip(&body).all(|(a, b)| a == b);
        assert_eq!(same, init == "encoder", "critic_init = {init}");
        let dec = all_tensors(&m.pretrained.decoder);
        let gdec = all_tensors(&m.gan.as_ref().unwrap().players.generator.decoder);
        assert_eq!(dec, gdec, "the generator is the trained decoder");
    }
}

/// d(GP)/dθ through the full SGBGAN critic (GLU convolutions, self-attention
/// with γ ≠ 0, the label-embedding product and the dense head) against central
/// differences of GP itself. GP is evaluated in f32 on the GPU, so the
/// differences carry ~ε·|GP|/h ≈ 1e-5 of rounding: the tolerance is 3 % of
/// the largest gradient entry checked plus 2e-4, and each entry is chosen
/// among the largest of its tensor so the check is not vacuous.
#[test]
fn gradient_penalty_through_the_sgbgan_critic_matches_finite_differences() {
    let g = Geometry::new(1, 8, 2, 8).unwrap();
    let rng = Generator::new(21);
    let critic = balgan::models::blocks::ConditionalCritic::new(dev(), &rng, &g, true, true).unwrap();
    let params = critic.parameters();
    // Larger weights than the N(0, 0.02) initialisation, so that ‖∇D‖ is of
    // order 1 and every layer's gradient is far from zero.
    for (_, t) in &params {
        let v: Vec<f32> = t.to_vec().unwrap().iter().map(|x| x * 6.0).collect();
        t.assign_slice_(&v).unwrap();
    }
    // Wake the attention path up (γ = 0 at initialisation).
    let gamma = &params.iter().find(|(n, _)| n.ends_with("attention.gamma")).unwrap().1;
    gamma.assign_slice_(&[0.7]).unwrap();
    let real = rng.uniform(dev(), &[2, 1, 8, 8], -1.0, 1.0).unwrap();
    let fake = rng.uniform(dev(), &[2, 1, 8, 8], -1.0, 1.0).unwrap();
    let alpha = Tensor::from_slice(dev(), &[0.3, 0.8], &[2]).unwrap();
    let labels = IndexTensor::new(dev(), &[1, 0]).unwrap();
    let gp = || gradient_penalty_with_alpha(|x| critic.score(x, &labels), &real, &fake, 5.0, &alpha).unwrap();

    let value = gp();
    let tensors: Vec<&Tensor> = params.iter().map(|(_, t)| t).collect();
    let grads = balgan::grad(&[&value], &tensors, false).unwrap();
    let h = 1e-2f32;
    let mut checked = 0;
    for ((name, t), gr) in params.iter().zip(&grads) {
        let gv = gr.to_vec().unwrap();
        // The entry with the largest gradient of this tensor.
        let (i, &gi) = gv
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .unwrap();
        if gi.abs() < 1e-3 {
            continue;
        }
        let base = t.to_vec().unwrap();
        let at = |d: f32| -> f64 {
            let mut v = base.clone();
            v[i] += d;
            t.assign_slice_(&v).unwrap();
            gp().item().unwrap() as f64
        };
        let fd = (at(h) - at(-h)) / (2.0 * h as f64);
        t.assign_slice_(&base).unwrap();
        let tol = 0.03 * gi.abs() as f64 + 2e-4;
        assert!(
            (fd - gi as f64).abs() <= tol,
            "{name}[{i}]: autograd {gi}, finite differences {fd} (tolerance {tol})"
        );
        checked += 1;
    }
    // Convolutions, attention (query/key/value/out, γ), embedding and dense layers.
    assert!(checked >= 12, "only {checked} tensors had a usable gradient");
}

/// Hooks that keep checkpoints in memory-free files and can stop at a step.
struct Hooks {
    path: PathBuf,
    stop_at: Option<u64>,
}

impl TrainHooks for Hooks {
    fn checkpoint(&mut self, model: &dyn BalancingModel, state: &TrainState) -> balgan::Result<()> {
        trainer::write_checkpoint(&self.path, model, state, &[])
    }

    fn control(&mut self, state: &TrainState) -> Control {
        match self.stop_at {
            Some(s) if state.step == s => Control::Stop("test".into()),
            _ => Control::Continue,
        }
    }
}

fn temp_path(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("balgan-models-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("last.safetensors")
}

fn tiny_cfg(kind: ModelKind) -> ModelConfig {
    let mut cfg = ModelConfig::defaults(kind, 1, 8, 3);
    cfg.batch = 4;
    cfg.latent = 8;
    cfg.ae_epochs = 1;
    cfg.gan_epochs = 2;
    cfg.n_critic = 2;
    cfg
}

fn final_tensors(model: &dyn BalancingModel) -> Vec<(String, Vec<f32>)> {
    let path = temp_path("final");
    trainer::write_checkpoint(&path, model, &TrainState::default(), &[]).unwrap();
    let c = Checkpoint::open(&path).unwrap();
    let mut out: Vec<(String, Vec<f32>)> = c
        .keys()
        .into_iter()
        .map(|k| {
            let v = c.values(&k).unwrap().1;
            (k, v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn resumed_runs_match_the_uninterrupted_run_bit_for_bit() {
    let data = patterns(16, 3, 1, 8, 5);
    let opts = TrainOptions {
        seed: 8,
        checkpoint_every: 0,
        log_every: 3,
    };
    // Both critic schedules, and n_critic = 2 critic updates per batch
    // through every kind of training loop (the pre-trained GANs', the
    // one-phase GANs' and BAGAN's own).
    for (kind, schedule) in [
        (ModelKind::Sgbgan, CriticSchedule::PerBatch),
        (ModelKind::BaganGp, CriticSchedule::FreshBatches),
        (ModelKind::Bagan, CriticSchedule::PerBatch),
        (ModelKind::Dcgan, CriticSchedule::FreshBatches),
        (ModelKind::CwganGp, CriticSchedule::PerBatch),
        // Dropout in the discriminator, and an epoch end that changes the
        // class weights between the two interruptions.
        (ModelKind::CsAcgan, CriticSchedule::FreshBatches),
        (ModelKind::WganGp, CriticSchedule::PerBatch),
        // RMSprop's state and the clipped critic.
        (ModelKind::Wgan, CriticSchedule::FreshBatches),
        // Generations of offspring: AGGAN stopped at step 7 resumes between a
        // critic update and a generation (its Metropolis draws and
        // temperature are functions of the step).
        (ModelKind::Aggan, CriticSchedule::FreshBatches),
        (ModelKind::Egan, CriticSchedule::PerBatch),
        // The VAEs: S3VAE's representatives travel with the checkpoint.
        (ModelKind::Cvae, CriticSchedule::FreshBatches),
        (ModelKind::S3vae, CriticSchedule::FreshBatches),
    ] {
        let mut cfg = tiny_cfg(kind);
        cfg.critic_schedule = schedule;
        // The generator's moving average travels with the checkpoint.
        let ema = matches!(kind, ModelKind::Sgbgan | ModelKind::Dcgan);
        if ema {
            cfg.g_ema = 0.9;
        }
        // 4 steps of pre-training (none for DCGAN and cWGAN-GP), then 8 adversarial steps.
        let total = if kind.pretrains() { 12 } else { 8 };
        let uninterrupted = {
            let mut m = build(dev(), &cfg, 2).unwrap();
            let rng = Generator::new(77);
            let st = trainer::start(m.as_mut(), &data, &opts, &rng).unwrap();
            let mut hooks = Hooks {
                path: temp_path("a"),
                stop_at: None,
            };
            let (st, out) = trainer::train(dev(), m.as_mut(), &data, st, &opts, &rng, &mut hooks).unwrap();
            assert_eq!(out, trainer::Outcome::Finished);
            assert_eq!(st.step, total);
            let tensors = final_tensors(m.as_ref());
            let averaged = tensors.iter().filter(|(k, _)| k.starts_with("ema_generator.")).count();
            assert_eq!(
                averaged > 0,
                ema,
                "{kind}: {averaged} moving-average tensors in the checkpoint"
            );
            tensors
        };
        // Interrupted in the pre-training phase (the transfer, or BAGAN's class
        // latents, happen after the resume) and in the adversarial phase
        // between a critic and a generator step (DCGAN: twice adversarial).
        for stop in [2u64, 7] {
            let path = temp_path(&format!("{kind}-{stop}"));
            {
                let mut m = build(dev(), &cfg, 2).unwrap();
                let rng = Generator::new(77);
                let st = trainer::start(m.as_mut(), &data, &opts, &rng).unwrap();
                let mut hooks = Hooks {
                    path: path.clone(),
                    stop_at: Some(stop),
                };
                let (st, out) = trainer::train(dev(), m.as_mut(), &data, st, &opts, &rng, &mut hooks).unwrap();
                assert!(matches!(out, trainer::Outcome::Stopped(_)));
                assert_eq!(st.step, stop);
            }
            // A new process would start from here: a fresh model and stream.
            let mut m = build(dev(), &cfg, 2).unwrap();
            let rng = Generator::new(77);
            let st = trainer::restore(m.as_mut(), &path, opts.seed, &rng).unwrap();
            assert_eq!(st.step, stop);
            let mut hooks = Hooks { path, stop_at: None };
            let (st, _) = trainer::train(dev(), m.as_mut(), &data, st, &opts, &rng, &mut hooks).unwrap();
            assert_eq!(st.step, total);
            let resumed = final_tensors(m.as_ref());
            assert_eq!(resumed.len(), uninterrupted.len());
            for ((na, a), (nb, b)) in uninterrupted.iter().zip(&resumed) {
                assert_eq!(na, nb);
                let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(
                    same,
                    "{kind} ({}), stopped at step {stop}: {na} differs after resuming",
                    schedule.name()
                );
            }
        }
    }
}

#[test]
fn a_nan_loss_stops_training_and_keeps_the_last_good_checkpoint() {
    let data = patterns(16, 3, 1, 8, 6);
    let cfg = tiny_cfg(ModelKind::CwganGp);
    let path = temp_path("nan");
    let _ = std::fs::remove_file(&path);
    let mut m = balgan::models::cwgan_gp::cwgan_gp(dev(), &Generator::new(2), cfg).unwrap();
    let rng = Generator::new(1);
    let opts = TrainOptions {
        seed: 1,
        checkpoint_every: 2,
        log_every: 1,
    };
    let st = trainer::start(&mut m, &data, &opts, &rng).unwrap();
    let mut hooks = Hooks {
        path: path.clone(),
        stop_at: Some(2),
    };
    let (st, _) = trainer::train(dev(), &mut m, &data, st, &opts, &rng, &mut hooks).unwrap();
    let good = final_tensors(&m);
    // Poison one critic weight: the next step's loss is NaN.
    let cw = m.players().critic.parameters().remove(0).1;
    cw.assign_slice_(&vec![f32::NAN; cw.numel()]).unwrap();
    hooks.stop_at = None;
    let err = trainer::train(dev(), &mut m, &data, st, &opts, &rng, &mut hooks).unwrap_err();
    match &err {
        Error::Diverged { step, loss, .. } => {
            assert_eq!(*step, 2, "{err}");
            assert_eq!(loss, "d_loss", "{err}");
        }
        other => panic!("expected Diverged, got {other}"),
    }
    assert!(err.to_string().contains("step 2"), "{err}");
    // The checkpoint on disk is still the healthy one written at step 2.
    let c = Checkpoint::open(&path).unwrap();
    assert_eq!(c.metadata("train.step"), Some("2"));
    for (k, v) in &good {
        if k.starts_with("critic") || k.starts_with("generator") {
            assert_eq!(&c.values(k).unwrap().1, v, "{k}");
            assert!(c.values(k).unwrap().1.iter().all(|x| x.is_finite()));
        }
    }
}

/// Ends the first phase at a given step (a time budget's pre-training share).
struct EndPhaseAt(u64);

impl TrainHooks for EndPhaseAt {
    fn control(&mut self, state: &TrainState) -> Control {
        if state.phase == 0 && state.step == self.0 {
            Control::EndPhase("budget".into())
        } else {
            Control::Continue
        }
    }
}

#[test]
fn a_phase_ended_early_hands_over_to_full_epochs_of_the_next() {
    let data = patterns(16, 3, 1, 8, 9);
    let opts = TrainOptions {
        seed: 3,
        checkpoint_every: 0,
        log_every: 4,
    };
    let mut m = build(dev(), &tiny_cfg(ModelKind::Sgbgan), 2).unwrap();
    let rng = Generator::new(5);
    let st = trainer::start(m.as_mut(), &data, &opts, &rng).unwrap();
    let (st, out) = trainer::train(dev(), m.as_mut(), &data, st, &opts, &rng, &mut EndPhaseAt(2)).unwrap();
    assert_eq!(out, trainer::Outcome::Finished);
    // 2 pre-training steps, then 2 whole adversarial epochs of 4 batches.
    assert_eq!(st.step, 2 + 2 * 4);
    assert_eq!(m.phase(), 1);
}

/// BAGAN-GP's critic loss runs the critic's body once over real and fake
/// images stacked and scores the real rows' features twice (true and wrong
/// labels). Its value and every critic gradient must equal the loss as the
/// paper writes it, three separate passes
/// `BCE(D(x, y), 1) + BCE(D(x̃, y_f), 0) + BCE(D(x, y_w), 0) + λ·GP`, recomputed here from the same label streams
/// and device noise. Both sides are f32 and differ only in summation order
/// (products over different row counts, gradients accumulated in another
/// order): 1e-4 of each tensor's largest gradient plus 1e-6.
#[test]
fn the_critic_loss_is_its_three_cross_entropy_terms_and_the_penalty() {
    use balgan::models::adversarial::Adversarial;
    use balgan::models::blocks::{ConditionalCritic, ConditionalGenerator};
    use balgan::models::gp_adversarial::{CriticLoss, GpAdversarial};
    use balgan::models::{latent_noise, AlphaDistribution};
    use balgan::nn::loss::bce_with_logits_scalar;

    let (b, classes) = (5, 3);
    let mut cfg = ModelConfig::defaults(ModelKind::BaganGp, 1, 8, classes);
    cfg.width = 8;
    cfg.latent = 8;
    cfg.gp_alpha = AlphaDistribution::Uniform;
    let g = cfg.geometry().unwrap();
    let init = Generator::new(5);
    let generator = ConditionalGenerator::new(dev(), &init, &g, false).unwrap();
    let critic = ConditionalCritic::new(dev(), &init, &g, false, false).unwrap();
    let players = GpAdversarial::new(&cfg, generator, critic, CriticLoss::CrossEntropy).unwrap();
    let images = init.uniform(dev(), &[b, 1, 8, 8], -1.0, 1.0).unwrap();
    let host = [0u32, 1, 2, 1, 0];
    let labels = IndexTensor::new(dev(), &host).unwrap();
    let batch = Batch {
        images: &images,
        labels: &labels,
        host_labels: &host,
    };
    let context = |rng| StepContext {
        rng,
        step: 7,
        phase_step: 3,
        seed: 11,
    };
    let params = players.critic.parameters();
    let tensors: Vec<&Tensor> = params.iter().map(|(_, t)| t).collect();

    let rng = Generator::new(77);
    let loss = players.critic_loss(&batch, &context(&rng), false).unwrap().loss;
    let grads = balgan::grad(&[&loss], &tensors, false).unwrap();

    // The same draws, in the same order: the fakes' labels and latent noise,
    // the wrong labels, then α.
    let rng = Generator::new(77);
    let ctx = context(&rng);
    let y_f = ctx.uniform_labels(b, classes, 1);
    let y_f = IndexTensor::new(dev(), &y_f).unwrap();
    let fake = balgan::no_grad(|| players.generator.generate(&latent_noise(dev(), &rng, b, 8)?, &y_f)).unwrap();
    let y_w = IndexTensor::new(dev(), &ctx.wrong_labels(&host, classes, 2)).unwrap();
    let alpha = rng.uniform(dev(), &[b], 0.0, 1.0).unwrap();
    let critic = &players.critic;
    let expected = bce_with_logits_scalar(&critic.score(&images, &labels).unwrap(), 1.0)
        .unwrap()
        .add(&bce_with_logits_scalar(&critic.score(&fake, &y_f).unwrap(), 0.0).unwrap())
        .unwrap()
        .add(&bce_with_logits_scalar(&critic.score(&images, &y_w).unwrap(), 0.0).unwrap())
        .unwrap()
        .add(&gradient_penalty_with_alpha(|x| critic.score(x, &labels), &images, &fake, cfg.gp_weight, &alpha).unwrap())
        .unwrap();
    let expected_grads = balgan::grad(&[&expected], &tensors, false).unwrap();

    let (got, want) = (loss.item().unwrap(), expected.item().unwrap());
    assert!(
        (got - want).abs() <= 1e-5 * want.abs() + 1e-6,
        "loss {got}, three passes {want}"
    );
    for (((name, _), g), e) in params.iter().zip(&grads).zip(&expected_grads) {
        let (g, e) = (g.to_vec().unwrap(), e.to_vec().unwrap());
        let scale = e.iter().fold(0f32, |m, v| m.max(v.abs()));
        let tol = 1e-4 * scale + 1e-6;
        for (i, (a, b)) in g.iter().zip(&e).enumerate() {
            assert!(
                (a - b).abs() <= tol,
                "{name}[{i}]: {a} against three passes' {b} (tolerance {tol})"
            );
        }
    }
}
