//! The adversarial phase's critic schedule (`per-batch`: n_critic critic
//! updates on each batch, then a generator update; `fresh-batches`: one
//! critic update per batch, a generator update every n_critic-th), counted
//! on the optimizers themselves; the `sgbgan-paper` preset reaching every
//! model and the command line; `cwgan-gp` being the Wasserstein model.

use balgan::cli::run::RunDir;
use balgan::data::Dataset;
use balgan::models::cwgan_gp::cwgan_gp;
use balgan::models::trainer::{self, TrainHooks, TrainOptions};
use balgan::models::{
    build, BalancingModel, Batch, CriticSchedule, FakeLabels, ModelConfig, ModelKind, Preset, StepContext,
};
use balgan::nn::Checkpoint;
use balgan::{no_grad, Generator, IndexTensor};

use crate::cli_train::{balgan, image_folder, model_args, s};
use crate::common::{dev, Rng, TempDir};

/// `n` images of `classes` classes (a class-dependent level plus noise), 8×8 grey.
fn tiny_data(n: usize, classes: usize) -> Dataset {
    let mut rng = Rng::new(0x5C4E);
    let mut images = Vec::with_capacity(n * 64);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let c = i % classes;
        labels.push(c as u32);
        images.extend(rng.uniform(64, -0.2, 0.2).iter().map(|v| v + c as f32 * 0.3 - 0.3));
    }
    let names = (0..classes).map(|c| format!("c{c}")).collect();
    Dataset::new(images, [n, 1, 8, 8], labels, names).unwrap()
}

struct NoHooks;
impl TrainHooks for NoHooks {}

/// Train `cfg`'s model for its epochs and return the (critic, generator)
/// optimizer steps its checkpoint records.
fn optimizer_steps(cfg: &ModelConfig, data: &Dataset, tmp: &TempDir) -> (u64, u64) {
    let mut m = build(dev(), cfg, 3).unwrap();
    let rng = Generator::new(4);
    let opts = TrainOptions {
        seed: 4,
        checkpoint_every: 0,
        log_every: 8,
    };
    let st = trainer::start(m.as_mut(), data, &opts, &rng).unwrap();
    let (st, _) = trainer::train(dev(), m.as_mut(), data, st, &opts, &rng, &mut NoHooks).unwrap();
    let path = tmp
        .0
        .join(format!("{}-{}.safetensors", cfg.model, cfg.critic_schedule.name()));
    trainer::write_checkpoint(&path, m.as_ref(), &st, &[]).unwrap();
    let c = Checkpoint::open(&path).unwrap();
    let steps = |opt: &str| -> u64 { c.metadata(&format!("{opt}.steps")).unwrap().parse().unwrap() };
    (steps("opt_d"), steps("opt_g"))
}

#[test]
fn each_schedule_makes_the_updates_it_promises_per_epoch() {
    let tmp = TempDir::new("schedule");
    // 16 images in batches of 4: one epoch is 4 batches.
    let data = tiny_data(16, 2);
    // The three training loops: AdversarialTraining (through PretrainedGan, as
    // Gan shares it), BAGAN's own, and DCGAN's carry of its fakes.
    for kind in [ModelKind::BaganGp, ModelKind::Bagan, ModelKind::Dcgan] {
        let mut cfg = ModelConfig::defaults(kind, 1, 8, 2);
        cfg.batch = 4;
        cfg.latent = 8;
        cfg.ae_epochs = 0;
        cfg.gan_epochs = 1;
        cfg.n_critic = 2;
        // Per batch: 2 critic updates on each of the 4 batches, then a generator update.
        cfg.critic_schedule = CriticSchedule::PerBatch;
        assert_eq!(optimizer_steps(&cfg, &data, &tmp), (8, 4), "{kind} per-batch");
        assert_eq!(cfg.adversarial_updates(4), (8, 4), "{kind}: what the log says");
        // Fresh batches: one critic update per batch, a generator update after the 2nd and 4th.
        cfg.critic_schedule = CriticSchedule::FreshBatches;
        assert_eq!(optimizer_steps(&cfg, &data, &tmp), (4, 2), "{kind} fresh-batches");
        assert_eq!(cfg.adversarial_updates(4), (4, 2), "{kind}: what the log says");
    }
}

#[test]
fn the_critic_updates_of_one_batch_draw_their_own_labels() {
    let rng = Generator::new(1);
    let ctx = StepContext {
        rng: &rng,
        step: 12,
        phase_step: 3,
        seed: 99,
    };
    let draw = |c: &StepContext| c.uniform_labels(64, 10, 1);
    // The first update draws what a single update draws (fresh-batches runs keep their bits).
    assert_eq!(draw(&ctx.critic_update(0)), draw(&ctx));
    let first = draw(&ctx.critic_update(0));
    let second = draw(&ctx.critic_update(1));
    let third = draw(&ctx.critic_update(2));
    assert_ne!(first, second);
    assert_ne!(second, third);
    assert_ne!(first, third);
    // Same step, device stream and phase step.
    let sub = ctx.critic_update(1);
    assert_eq!((sub.step, sub.phase_step), (12, 3));
    assert!(std::ptr::eq(sub.rng, &rng));
}

#[test]
fn the_schedule_defaults_follow_the_code_each_model_comes_from() {
    for (kind, schedule, n) in [
        (ModelKind::Sgbgan, CriticSchedule::PerBatch, 5),
        (ModelKind::BaganGp, CriticSchedule::PerBatch, 5),
        (ModelKind::CwganGp, CriticSchedule::PerBatch, 3),
        (ModelKind::CwganGpBce, CriticSchedule::PerBatch, 3),
        (ModelKind::Bagan, CriticSchedule::FreshBatches, 1),
        (ModelKind::Dcgan, CriticSchedule::FreshBatches, 1),
    ] {
        let c = ModelConfig::defaults(kind, 1, 64, 10);
        assert_eq!((c.critic_schedule, c.n_critic), (schedule, n), "{kind}");
    }
    // SGBGAN: Table 2's first column.
    let c = ModelConfig::defaults(ModelKind::Sgbgan, 1, 64, 10);
    assert_eq!(
        (c.ae_lr, c.ae_epochs, c.ae_beta1, c.g_lr, c.d_lr),
        (2e-4, 15, 0.5, 1e-4, 1e-4)
    );
}

#[test]
fn the_sgbgan_paper_preset_reaches_every_model() {
    for kind in ModelKind::ALL {
        let c = ModelConfig::with_preset(kind, 1, 64, 10, Preset::SgbganPaper);
        c.validate().unwrap();
        assert_eq!((c.latent, c.batch, c.gan_epochs), (128, 128, 100), "{kind}");
        assert_eq!((c.g_lr, c.d_lr, c.beta1, c.beta2), (1e-4, 1e-4, 0.5, 0.9), "{kind}");
        if kind.pretrains() {
            assert_eq!(
                (c.ae_lr, c.ae_beta1, c.ae_beta2, c.ae_epochs),
                (2e-4, 0.5, 0.9, 15),
                "{kind}"
            );
        } else {
            assert_eq!(c.ae_epochs, 0, "{kind}");
        }
        match kind {
            // No penalty, one discriminator update per generator update.
            ModelKind::Bagan | ModelKind::Dcgan | ModelKind::Acgan | ModelKind::CsAcgan | ModelKind::Lsgan => {
                assert_eq!((c.gp_weight, c.n_critic), (0.0, 1), "{kind}");
            }
            // E-GAN keeps its 3 discriminator updates per generation, AGGAN its one.
            ModelKind::Egan => assert_eq!((c.gp_weight, c.n_critic), (0.0, 3), "{kind}"),
            ModelKind::Aggan | ModelKind::Cvae | ModelKind::S3vae => {
                assert_eq!((c.gp_weight, c.n_critic), (0.0, 1), "{kind}")
            }
            // No penalty: the original WGAN keeps its 5 critic updates and its clip.
            ModelKind::Wgan => {
                assert_eq!((c.gp_weight, c.n_critic, c.weight_clip), (0.0, 5, 0.01), "{kind}");
            }
            _ => {
                assert_eq!(c.gp_weight, 5.0, "{kind}");
                assert_eq!((c.n_critic, c.critic_schedule), (5, CriticSchedule::PerBatch), "{kind}");
            }
        }
        // What else the model is stays its own.
        let d = ModelConfig::defaults(kind, 1, 64, 10);
        assert_eq!(
            (c.model, c.critic_init, c.gp_alpha, c.fake_labels),
            (d.model, d.critic_init, d.gp_alpha, d.fake_labels)
        );
    }
}

#[test]
fn the_preset_is_a_train_flag_recorded_in_the_run_and_set_overrides_it() {
    let (ok, help, err) = balgan(&["train", "--help"]);
    assert!(ok, "{err}");
    assert!(help.contains("--preset") && help.contains("sgbgan-paper"), "{help}");

    let tmp = TempDir::new("preset");
    let data = tmp.0.join("data");
    image_folder(&data);
    let run = tmp.0.join("run");
    let args = model_args(
        "dcgan",
        &data,
        &run,
        &["--preset", "sgbgan-paper", "--set", "d_lr=3e-4"],
    );
    let (ok, _, err) = balgan(&args);
    assert!(ok, "{err}");
    let cfg = RunDir::open(&run).unwrap().read_config().unwrap();
    assert_eq!(cfg.preset, Some(Preset::SgbganPaper));
    // From the preset (DCGAN's own: latent 100, β₂ 0.999, lr 2e-4).
    assert_eq!((cfg.model.g_lr, cfg.model.beta2), (1e-4, 0.9));
    // The flags and --set over it.
    assert_eq!((cfg.model.latent, cfg.model.batch, cfg.model.d_lr), (8, 4, 3e-4));
    let text = std::fs::read_to_string(RunDir::open(&run).unwrap().config_path()).unwrap();
    assert!(text.contains("preset = \"sgbgan-paper\""), "{text}");
    assert!(text.contains("critic_schedule = \"fresh-batches\""), "{text}");

    let (ok, _, err) = balgan(&["train", "--preset", "bagan-paper", "--out", s(&tmp.0.join("x"))]);
    assert!(!ok);
    assert!(err.contains("sgbgan-paper"), "{err}");
}

#[test]
fn cwgan_gp_is_the_wasserstein_model_and_the_old_names_still_load() {
    assert_eq!("cwgan-gp".parse::<ModelKind>().unwrap(), ModelKind::CwganGp);
    assert_eq!("cwgan-gp-wasserstein".parse::<ModelKind>().unwrap(), ModelKind::CwganGp);
    assert_eq!("cwgan-gp-bce".parse::<ModelKind>().unwrap(), ModelKind::CwganGpBce);
    let d = ModelConfig::defaults(ModelKind::CwganGp, 1, 64, 10);
    assert_eq!(d.fake_labels, FakeLabels::Real);

    // Without a penalty and with one critic update, the reported critic loss
    // is mean D(G(z, y), y) − mean D(x, y), y the real labels and z the
    // first draw of the step's noise stream.
    let data = tiny_data(8, 2);
    let x = data.to_tensor(dev(), &[0, 1, 2, 3]).unwrap();
    let host: Vec<u32> = data.labels()[..4].to_vec();
    let y = IndexTensor::new(dev(), &host).unwrap();
    let batch = Batch {
        images: &x,
        labels: &y,
        host_labels: &host,
    };
    let d_loss = |kind: ModelKind| -> (f32, f32) {
        let mut cfg = ModelConfig::defaults(kind, 1, 8, 2);
        cfg.latent = 8;
        cfg.batch = 4;
        cfg.n_critic = 1;
        cfg.gp_weight = 0.0;
        let mut m = cwgan_gp(dev(), &Generator::new(3), cfg).unwrap();
        let twin = Generator::new(21);
        let p = m.players();
        let want = no_grad(|| {
            let z = twin.normal(dev(), &[4, 8], 0.0, 1.0)?;
            let fake = p.critic.score(&p.generator.generate(&z, &y)?, &y)?.mean_all()?;
            fake.sub(&p.critic.score(&x, &y)?.mean_all()?)?.item()
        })
        .unwrap();
        let rng = Generator::new(21);
        let ctx = StepContext {
            rng: &rng,
            step: 0,
            phase_step: 0,
            seed: 5,
        };
        let losses = m.train_step(&batch, &ctx).unwrap();
        let got = losses.iter().find(|(n, _)| *n == "d_loss").unwrap().1.item().unwrap();
        (got, want)
    };
    let (got, want) = d_loss(ModelKind::CwganGp);
    assert!((got - want).abs() <= 1e-5 * (1.0 + want.abs()), "{got} vs {want}");
    // The cross-entropy variant: three positive BCE terms, not that difference.
    let (got, want) = d_loss(ModelKind::CwganGpBce);
    assert!(got > 0.0 && (got - want).abs() > 1e-3, "{got} vs {want}");
}

#[test]
fn a_config_written_before_the_schedule_keeps_its_model_and_schedule() {
    let tmp = TempDir::new("oldcfg");
    let data = tmp.0.join("data");
    image_folder(&data);
    let run = tmp.0.join("run");
    let (ok, _, err) = balgan(&model_args("cwgan-gp-bce", &data, &run, &[]));
    assert!(ok, "{err}");
    let r = RunDir::open(&run).unwrap();
    // As an earlier balgan wrote it: `cwgan-gp` meant the cross-entropy
    // model, and there was no schedule or fake-label setting.
    let text = std::fs::read_to_string(r.config_path()).unwrap();
    let old: String = text
        .lines()
        .filter(|l| !l.starts_with("critic_schedule") && !l.starts_with("fake_labels"))
        .map(|l| {
            if l.starts_with("model = \"cwgan-gp-bce\"") {
                "model = \"cwgan-gp\"\n".to_string()
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    assert_ne!(old, text);
    std::fs::write(r.config_path(), &old).unwrap();
    let cfg = r.read_config().unwrap();
    assert_eq!(cfg.model.model, ModelKind::CwganGpBce);
    assert_eq!(cfg.model.critic_schedule, CriticSchedule::FreshBatches);
    assert_eq!(cfg.model.fake_labels, FakeLabels::Uniform);
    // The same file naming the Wasserstein model by its old name.
    std::fs::write(r.config_path(), old.replace("\"cwgan-gp\"", "\"cwgan-gp-wasserstein\"")).unwrap();
    let cfg = r.read_config().unwrap();
    assert_eq!(cfg.model.model, ModelKind::CwganGp);
    assert_eq!(cfg.model.critic_schedule, CriticSchedule::FreshBatches);
}

#[test]
fn the_cpu_preset_is_the_papers_architecture_narrower() {
    use balgan::models::blocks::ConditionalCritic;
    use balgan::models::sgbgan::Sgbgan;
    use balgan::nn::Module;
    for kind in ModelKind::ALL {
        let c = ModelConfig::with_preset(kind, 1, 28, 10, Preset::Cpu);
        c.validate().unwrap();
        assert_eq!(
            (c.width, c.attention, c.latent, c.batch, c.n_critic),
            (8, false, 32, 32, 1),
            "{kind}"
        );
        assert_eq!((c.g_lr, c.d_lr, c.gan_epochs), (5e-4, 5e-4, 20), "{kind}");
        assert_eq!(c.ae_epochs, if kind.pretrains() { 5 } else { 0 }, "{kind}");
        build(dev(), &c, 1).unwrap_or_else(|e| panic!("{kind}: {e}"));
    }
    assert_eq!(Preset::Cpu.image_size(), Some(28));
    // SGBGAN's layers are the paper's (same latent, no attention) with every
    // width divided by 64 / 8: each dimension is the same (image channels,
    // classes, kernel taps, latent, one logit) or exactly 8 times smaller.
    let cpu = ModelConfig::with_preset(ModelKind::Sgbgan, 1, 28, 10, Preset::Cpu);
    let paper = ModelConfig {
        width: 64,
        ..cpu.clone()
    };
    let shapes = |cfg: &ModelConfig| {
        let g = cfg.geometry().unwrap();
        let vae = Sgbgan::new(dev(), &Generator::new(1), cfg.clone()).unwrap();
        let critic = ConditionalCritic::new(dev(), &Generator::new(2), &g, true, false).unwrap();
        let mut p: Vec<(String, Vec<usize>)> = vae
            .pretrained
            .parameters()
            .into_iter()
            .chain(critic.parameters())
            .map(|(n, t)| (n, t.shape().to_vec()))
            .collect();
        p.sort();
        p
    };
    let (small, full) = (shapes(&cpu), shapes(&paper));
    assert_eq!(small.len(), full.len());
    let mut narrowed = 0;
    for ((name, s), (full_name, f)) in small.iter().zip(&full) {
        assert_eq!(name, full_name);
        assert_eq!(s.len(), f.len(), "{name}");
        for (&a, &b) in s.iter().zip(f) {
            if a == b {
                assert!([1, 4, 10, 32].contains(&a), "{name}: {s:?} vs {f:?}");
            } else {
                assert_eq!(8 * a, b, "{name}: {s:?} vs {f:?}");
                narrowed += 1;
            }
        }
    }
    assert!(narrowed > 10, "{narrowed}");
    assert!(small.iter().all(|(n, _)| !n.contains("attention")), "{small:?}");
    // The first GLU convolution: 2 × 16 output channels from 1 (28×28: stages 16, 32).
    assert!(
        small.contains(&("encoder.conv0.weight".to_string(), vec![32, 1, 4, 4])),
        "{small:?}"
    );
}

#[test]
fn the_cpu_preset_trains_at_28_pixels_unless_told_otherwise_and_old_configs_keep_the_paper_width() {
    let tmp = TempDir::new("cpu-preset");
    let data = tmp.0.join("data");
    image_folder(&data);
    let run = tmp.0.join("run");
    let (ok, _, err) = balgan(&[
        "train",
        "--preset",
        "cpu",
        "--dataset",
        "folder",
        "--data",
        s(&data),
        "--batch",
        "4",
        "--ae-epochs",
        "1",
        "--epochs",
        "1",
        "--out",
        s(&run),
        "--quiet",
    ]);
    assert!(ok, "{err}");
    let cfg = RunDir::open(&run).unwrap().read_config().unwrap();
    assert_eq!(cfg.preset, Some(Preset::Cpu));
    assert_eq!(
        (cfg.data.image_size, cfg.model.image_size, cfg.model.width),
        (28, 28, 8)
    );
    assert!(!cfg.model.attention);
    // A config.toml from before the settings existed: the paper's width, with attention.
    let text = toml::to_string(&ModelConfig::defaults(ModelKind::Sgbgan, 1, 64, 10)).unwrap();
    let old: String = text
        .lines()
        .filter(|l| !l.starts_with("width") && !l.starts_with("attention"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(old, text);
    let c: ModelConfig = toml::from_str(&old).unwrap();
    assert_eq!((c.width, c.attention), (64, true));
}

/// A model that passes every call to `inner` and keeps the labels of every
/// batch it trains on.
struct Recording {
    inner: Box<dyn BalancingModel>,
    seen: Vec<u32>,
}

impl BalancingModel for Recording {
    fn config(&self) -> &ModelConfig {
        self.inner.config()
    }
    fn phases(&self) -> Vec<balgan::models::Phase> {
        self.inner.phases()
    }
    fn phase(&self) -> usize {
        self.inner.phase()
    }
    fn enter_phase(&mut self, phase: usize, data: Option<&Dataset>, ctx: &StepContext) -> balgan::Result<()> {
        self.inner.enter_phase(phase, data, ctx)
    }
    fn train_step(&mut self, batch: &Batch, ctx: &StepContext) -> balgan::Result<Vec<(&'static str, balgan::Tensor)>> {
        self.seen.extend_from_slice(batch.host_labels);
        self.inner.train_step(batch, ctx)
    }
    fn sample(&mut self, labels: &[u32], rng: &Generator) -> balgan::Result<balgan::Tensor> {
        self.inner.sample(labels, rng)
    }
    fn save(&self, w: &mut balgan::nn::CheckpointWriter) -> balgan::Result<()> {
        self.inner.save(w)
    }
    fn load(&mut self, c: &Checkpoint) -> balgan::Result<()> {
        self.inner.load(c)
    }
}

/// `balanced_batches` draws every class as often as any other: on 95
/// images of class 0 and 5 of class 1, an epoch of shuffled batches holds
/// class 1 exactly 5 times in 100; balanced ones about half the time.
#[test]
fn balanced_batches_draw_every_class_as_often() {
    let mut rng = Rng::new(0xBA1);
    let labels: Vec<u32> = (0..100).map(|i| u32::from(i >= 95)).collect();
    let images = rng.uniform(100 * 64, -1.0, 1.0);
    let data = Dataset::new(images, [100, 1, 8, 8], labels, vec!["many".into(), "few".into()]).unwrap();
    let seen = |balanced: bool| -> Vec<u32> {
        let mut cfg = ModelConfig::defaults(ModelKind::Dcgan, 1, 8, 2);
        cfg.latent = 4;
        cfg.batch = 10;
        cfg.gan_epochs = 1;
        cfg.balanced_batches = balanced;
        let mut m = Recording {
            inner: build(dev(), &cfg, 3).unwrap(),
            seen: Vec::new(),
        };
        let rng = Generator::new(4);
        let opts = TrainOptions {
            seed: 4,
            checkpoint_every: 0,
            log_every: 8,
        };
        let st = trainer::start(&mut m, &data, &opts, &rng).unwrap();
        trainer::train(dev(), &mut m, &data, st, &opts, &rng, &mut NoHooks).unwrap();
        m.seen
    };
    let few = |v: &[u32]| v.iter().filter(|&&l| l == 1).count();
    let shuffled = seen(false);
    assert_eq!((shuffled.len(), few(&shuffled)), (100, 5));
    let balanced = seen(true);
    assert_eq!(balanced.len(), 100, "an epoch is as many images either way");
    // Binomial(100, 1/2): outside 30..=70 with probability below 1e-4.
    assert!(
        (30..=70).contains(&few(&balanced)),
        "class 1 drawn {} times",
        few(&balanced)
    );
}
