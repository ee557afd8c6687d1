//! src/models/cvae.rs and representatives.rs: C-VAE and S3VAE share one
//! architecture, the noise layer is active in training and in generation
//! (and absent at σ = 0), the representatives are the class medoids, both
//! models train without NaN, and their settings' errors.

use balgan::data::Dataset;
use balgan::models::cvae::{ConditionalVae, Cvae};
use balgan::models::representatives::class_medoids;
use balgan::models::{build, BalancingModel, ModelConfig, ModelKind, VaeSampling};
use balgan::nn::Module;
use balgan::{Generator, IndexTensor};

use crate::common::{dev, Rng};
use crate::model_acgan::{ctx, levels, step_on};

fn tiny(kind: ModelKind) -> ModelConfig {
    let mut cfg = ModelConfig::defaults(kind, 1, 8, 3);
    cfg.batch = 6;
    cfg.latent = 4;
    cfg.width = 4;
    cfg.gan_epochs = 1;
    cfg
}

#[test]
fn cvae_and_s3vae_share_the_architecture_exactly() {
    let shapes = |kind| {
        let m = ConditionalVae::new(dev(), &Generator::new(1), &tiny(kind)).unwrap();
        m.parameters()
            .into_iter()
            .map(|(n, t)| (n, t.shape().to_vec()))
            .collect::<Vec<_>>()
    };
    let (c, s) = (shapes(ModelKind::Cvae), shapes(ModelKind::S3vae));
    assert_eq!(c, s);
    // L = 5 layers each side: three convolutions and the feature layer
    // before the heads, the heads; two linear layers, two transposed
    // convolutions and the output convolution after the code.
    assert_eq!(c.iter().filter(|(n, _)| n.ends_with(".weight")).count(), 11, "{c:?}");
    let cvae = tiny(ModelKind::Cvae);
    let s3vae = tiny(ModelKind::S3vae);
    assert_eq!((cvae.noise_std, cvae.vae_sampling), (0.0, VaeSampling::Ordinary));
    assert_eq!(
        (s3vae.noise_std, s3vae.vae_sampling, s3vae.representatives),
        (0.1, VaeSampling::SingleSample, 1)
    );
    assert_eq!((cvae.recon_weight, s3vae.recon_weight), (0.1, 0.1));
}

/// A VAE whose posterior has (almost) no variance: log σ² = −60 for every
/// input, so the encoder's output is deterministic but for the noise layer.
fn sharp_vae(kind: ModelKind, noise_std: f32) -> ConditionalVae {
    let mut cfg = tiny(kind);
    cfg.noise_std = noise_std;
    let vae = ConditionalVae::new(dev(), &Generator::new(3), &cfg).unwrap();
    for (name, p) in vae.parameters() {
        if name == "logvar.weight" {
            p.assign_(&p.zeros_like().unwrap()).unwrap();
        }
        if name == "logvar.bias" {
            p.assign_slice_(&vec![-60.0; p.numel()]).unwrap();
        }
    }
    vae
}

#[test]
fn the_noise_layer_is_active_in_training_and_generation_and_absent_at_sigma_0() {
    let data = levels(6, 3, 8, 1);
    let x = data.to_tensor(dev(), &[0, 1, 2, 3, 4, 5]).unwrap();
    let y = IndexTensor::new(dev(), data.labels()).unwrap();
    for (sigma, varies) in [(0.0f32, false), (0.1, true)] {
        let vae = sharp_vae(ModelKind::S3vae, sigma);
        // Training: the loss of the same batch under two noise streams.
        let loss = |seed| vae.loss(&x, &y, &Generator::new(seed), 0.1).unwrap().0.item().unwrap();
        let (a, b) = (loss(1), loss(2));
        assert_eq!(a != b, varies, "σ {sigma}: training losses {a} and {b}");
        // Generation goes through the encoder: the codes of the same images.
        let code = |seed| {
            let g = Generator::new(seed);
            let (mu, logvar) = vae.encode(&x, &y, &g).unwrap();
            vae.reparameterize(&mu, &logvar, &g).unwrap().to_vec().unwrap()
        };
        let (a, b) = (code(1), code(2));
        assert_eq!(a != b, varies, "σ {sigma}: generation codes");
        // The noise has the stated spread: features with and without it.
        if varies {
            let g = Generator::new(5);
            let noisy = vae.features(&x, &y, &g).unwrap().to_vec().unwrap();
            let clean = sharp_vae(ModelKind::S3vae, 0.0)
                .features(&x, &y, &g)
                .unwrap()
                .to_vec()
                .unwrap();
            let n = noisy.len() as f64;
            let var = noisy
                .iter()
                .zip(&clean)
                .map(|(a, b)| ((a - b) as f64).powi(2))
                .sum::<f64>()
                / n;
            // n ≈ 6·32 draws: the sample std within 25 % of σ.
            assert!((var.sqrt() - 0.1).abs() < 0.025, "noise std {}", var.sqrt());
        }
    }
    // S3VAE's samples: the same representative under two streams differs.
    let mut m = Cvae::new(dev(), &Generator::new(3), tiny(ModelKind::S3vae)).unwrap();
    let data = levels(12, 3, 8, 2);
    m.enter_phase(0, Some(&data), &ctx(&Generator::new(1), 0)).unwrap();
    let a = m.sample(&[0, 1, 2], &Generator::new(1)).unwrap().to_vec().unwrap();
    let b = m.sample(&[0, 1, 2], &Generator::new(2)).unwrap().to_vec().unwrap();
    assert_ne!(a, b);
}

/// The medoid by its definition, in f64.
fn medoid(points: &[Vec<f64>]) -> usize {
    let cost = |i: usize| -> f64 {
        points
            .iter()
            .map(|q| points[i].iter().zip(q).map(|(a, b)| (a - b).powi(2)).sum::<f64>())
            .sum()
    };
    (0..points.len()).min_by(|&a, &b| cost(a).total_cmp(&cost(b))).unwrap()
}

#[test]
fn representatives_are_the_class_medoids() {
    let mut rng = Rng::new(4);
    // Class 0: 9 images, class 1: 2, class 2: 1; images of 1×2×2 pixels.
    let labels: Vec<u32> = [vec![0; 9], vec![1; 2], vec![2; 1]].concat();
    let images = rng.uniform(labels.len() * 4, -1.0, 1.0);
    let names = (0..3).map(|c| format!("c{c}")).collect();
    let data = Dataset::new(images.clone(), [labels.len(), 1, 2, 2], labels.clone(), names).unwrap();
    let chosen = class_medoids(&data, 2, 7).unwrap();
    assert_eq!(chosen.len(), 3);
    for (c, picks) in chosen.iter().enumerate() {
        let members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == c as u32).collect();
        let points: Vec<Vec<f64>> = members
            .iter()
            .map(|&i| images[i * 4..i * 4 + 4].iter().map(|&v| v as f64).collect())
            .collect();
        assert_eq!(picks.len(), 2, "class {c}");
        assert_eq!(picks[0], members[medoid(&points)], "class {c}: not the medoid");
        assert!(picks.iter().all(|p| labels[*p] == c as u32));
    }
    // One image: repeated to fill the slots.
    assert_eq!(chosen[2][0], chosen[2][1]);
    // A class without images has no representative.
    let names = (0..3).map(|c| format!("c{c}")).collect();
    let gap = Dataset::new(vec![0.0; 8], [2, 1, 2, 2], vec![0, 2], names).unwrap();
    let e = class_medoids(&gap, 1, 0).unwrap_err().to_string();
    assert!(e.contains("class 1") && e.contains("no training images"), "{e}");
}

#[test]
fn s3vae_holds_the_class_medoids_as_its_representatives() {
    let data = levels(12, 3, 8, 3);
    let cfg = tiny(ModelKind::S3vae);
    let mut m = Cvae::new(dev(), &Generator::new(3), cfg).unwrap();
    m.enter_phase(0, Some(&data), &ctx(&Generator::new(1), 0)).unwrap();
    let (images, labels) = m.representatives().unwrap().expect("single-sample sampling");
    let chosen = class_medoids(&data, 1, 5).unwrap();
    assert_eq!(labels, vec![0, 1, 2]);
    for (c, picks) in chosen.iter().enumerate() {
        assert_eq!(&images[c * 64..(c + 1) * 64], data.image(picks[0]), "class {c}");
    }
}

#[test]
fn s3vae_trains_on_its_representatives_and_both_train_without_nan() {
    let data = levels(12, 3, 8, 3);
    let all: Vec<usize> = (0..12).collect();
    let x = data.to_tensor(dev(), &all).unwrap();
    let y = IndexTensor::new(dev(), data.labels()).unwrap();
    for kind in [ModelKind::Cvae, ModelKind::S3vae] {
        let mut cfg = tiny(kind);
        cfg.g_lr = 3e-3;
        let mut model = Cvae::new(dev(), &Generator::new(4), cfg).unwrap();
        let noise = Generator::new(6);
        model.enter_phase(0, Some(&data), &ctx(&noise, 0)).unwrap();
        // The reconstruction error of the 12 images (S3VAE: of their
        // classes' medoids among them), on a fixed noise stream.
        let recon = |m: &Cvae| m.vae.loss(&x, &y, &Generator::new(9), 1.0).unwrap().1.item().unwrap();
        let before = recon(&model);
        for step in 0..60u64 {
            let idx: Vec<usize> = (0..6).map(|i| (i + step as usize * 6) % 12).collect();
            let losses = step_on(&mut model, &data, &idx, &ctx(&noise, step));
            for (name, t) in &losses {
                let v = t.item().unwrap();
                assert!(v.is_finite(), "{kind} step {step}: {name} = {v}");
            }
        }
        let after = recon(&model);
        assert!(
            after < 0.8 * before,
            "{kind}: reconstruction of the data {before} → {after}"
        );
        let x = model.sample(&[0, 1, 2, 2], &Generator::new(1)).unwrap();
        assert_eq!(x.shape(), &[4, 1, 8, 8]);
        assert!(x.to_vec().unwrap().iter().all(|v| v.is_finite() && v.abs() <= 1.0));
    }
}

#[test]
fn bad_vae_settings_are_clear_errors() {
    let check = |cfg: &ModelConfig, needle: &str| {
        let e = build(dev(), cfg, 1)
            .err()
            .unwrap_or_else(|| panic!("{needle}: accepted"))
            .to_string();
        assert!(e.contains(needle), "{e}");
    };
    let mut cfg = tiny(ModelKind::S3vae);
    cfg.representatives = 0;
    check(&cfg, "at least 1");
    let mut cfg = tiny(ModelKind::Cvae);
    cfg.representatives = 2;
    check(&cfg, "single-sample");
    for k in [0.0, -1.0, f32::NAN] {
        let mut cfg = tiny(ModelKind::Cvae);
        cfg.recon_weight = k;
        check(&cfg, "recon_weight");
    }
    let mut cfg = tiny(ModelKind::S3vae);
    cfg.noise_std = -0.1;
    check(&cfg, "noise_std");
    let mut cfg = tiny(ModelKind::Cvae);
    cfg.g_ema = 0.9;
    check(&cfg, "g_ema");
    let mut cfg = ModelConfig::defaults(ModelKind::Acgan, 1, 8, 3);
    cfg.noise_std = 0.1;
    check(&cfg, "C-VAE and S3VAE");
    let cfg = ModelConfig::defaults(ModelKind::Cvae, 1, 30, 3);
    check(&cfg, "multiple of 4");
}
