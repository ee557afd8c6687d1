//! BAGAN (`balgan::models::bagan`): layer shapes at the supported sizes,
//! autoencoder training, the class-conditional latent against an f64
//! reference, and a checkpoint round trip (its 'same' convolutions are
//! tested with `nn::Conv2d` in conv2d.rs).

use std::sync::Arc;

use crate::common::*;
use balgan::data::Dataset;
use balgan::models::bagan::{class_gaussians, Bagan, BaganDiscriminator, ClassLatents};
use balgan::models::{build, BalancingModel, Batch, ModelConfig, ModelKind, StepContext};
use balgan::nn::{Checkpoint, CheckpointWriter, Module};
use balgan::{Generator, IndexTensor};

/// The tests of this module run one at a time: several threads waiting on
/// the shared device at once can trip a wgpu-core assertion in
/// `Device::maintain` ("If the queue is empty, the current submission index
/// … should be at least the wait submission index"), a race fixed upstream
/// (gfx-rs/wgpu#9958) after the wgpu-core 30.0.1 this crate uses.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn config(channels: usize, size: usize, classes: usize) -> ModelConfig {
    ModelConfig::defaults(ModelKind::Bagan, channels, size, classes)
}

fn ctx(rng: &Generator, step: u64, phase_step: u64, seed: u64) -> StepContext<'_> {
    StepContext {
        rng,
        step,
        phase_step,
        seed,
    }
}

/// `n` images per class of C×S×S: a class pattern (class 0 horizontal
/// stripes, 1 vertical stripes, 2 a centred square, others a checkerboard)
/// plus uniform noise of ±0.15, clamped to [−1, 1].
fn patterned(rng: &mut Rng, channels: usize, size: usize, classes: usize, n: usize) -> Dataset {
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for i in 0..n * classes {
        let c = i % classes;
        let noise = rng.uniform(channels * size * size, -0.15, 0.15);
        let mut k = 0;
        for _ in 0..channels {
            for y in 0..size {
                for x in 0..size {
                    let on = match c {
                        0 => (y / 2) % 2 == 0,
                        1 => (x / 2) % 2 == 0,
                        2 => (size / 4..3 * size / 4).contains(&x) && (size / 4..3 * size / 4).contains(&y),
                        _ => (x + y) % 2 == 0,
                    };
                    let v: f32 = if on { 0.8 } else { -0.8 };
                    images.push((v + noise[k]).clamp(-1.0, 1.0));
                    k += 1;
                }
            }
        }
        labels.push(c as u32);
    }
    let names = (0..classes).map(|c| format!("c{c}")).collect();
    Dataset::new(images, [n * classes, channels, size, size], labels, names).expect("dataset")
}

fn params_of(m: &dyn Module) -> Vec<(String, Vec<f32>)> {
    m.parameters()
        .into_iter()
        .map(|(n, t)| (n, t.to_vec().expect("read")))
        .collect()
}

/// The layer plan is the Keras code's at width 64 (encoder 32, 64, 128, 256
/// then pairs of 256; dense 1024; a 128-channel seed map; decoder convs 256
/// with 128 last) and scales with `width`: `--preset cpu`'s width 8 gives
/// an eighth of every size, a network with 1/30 to 1/64 of the weights
/// (a layer between two scaled sizes has 1/64 of its weights, one from or
/// to the fixed latent or image channels 1/8), whose samples have the same
/// shape.
#[test]
fn bagan_layers_scale_with_the_width() {
    let _serial = serial();
    let paper = Bagan::new(dev(), &Generator::new(1), config(1, 64, 3)).expect("paper");
    let p = paper.plan();
    let enc: Vec<usize> = p.encoder.iter().map(|&(c, _)| c).collect();
    assert_eq!(enc, [32, 64, 128, 256, 256, 256]);
    assert_eq!(
        (p.dense, p.seed_channels, p.decoder.clone()),
        (1024, 128, vec![256, 256, 128])
    );
    assert_eq!(p.features(), 256 * 8 * 8);
    let mut narrow_cfg = config(1, 64, 3);
    narrow_cfg.width = 8;
    let mut narrow = Bagan::new(dev(), &Generator::new(1), narrow_cfg).expect("narrow");
    let q = narrow.plan().clone();
    let enc8: Vec<usize> = q.encoder.iter().map(|&(c, _)| c).collect();
    assert_eq!(enc8, enc.iter().map(|c| c / 8).collect::<Vec<_>>());
    assert_eq!(
        (q.dense, q.seed_channels, q.decoder.clone()),
        (128, 16, vec![32, 32, 16])
    );
    assert_eq!(q.features(), 32 * 8 * 8);
    let count = |m: &dyn Module| -> usize { m.parameters().iter().map(|(_, t)| t.numel()).sum() };
    let ratio = count(&paper.autoencoder) as f64 / count(&narrow.autoencoder) as f64;
    assert!((30.0..=64.0).contains(&ratio), "weights {ratio:.1} times fewer");
    let img = narrow.sample(&[0, 2], &Generator::new(2)).expect("sample");
    assert_eq!(img.shape(), &[2, 1, 64, 64]);
}

/// 1. Shapes at 28, 32 and 64 (1 and 3 channels): samples, reconstructions,
///    D's logits; the decoder's start side r of the spec (28 → 7, 32 → 8,
///    64 → 8); an unbuildable side is refused.
#[test]
fn bagan_forward_shapes() {
    let _serial = serial();
    let seed = base_seed();
    let mut rng = Rng::new(0xBA6A_0001);
    let k = 3;
    for (c, s, r) in [(1, 28, 7), (3, 32, 8), (1, 64, 8), (3, 64, 8)] {
        let cfg = config(c, s, k);
        let gen = Generator::new(seed);
        let mut m = Bagan::new(dev(), &gen, cfg.clone()).expect("build");
        assert_eq!(m.plan().base, r, "decoder start side for {s}×{s}");
        let strided = m.plan().encoder.iter().filter(|&&(_, st)| st == 2).count();
        assert_eq!(r << strided, s, "encoder strides vs decoder steps for {s}");
        let phases = m.phases();
        assert_eq!(phases.len(), 2);
        assert_eq!((phases[0].name, phases[0].losses.clone()), ("autoencoder", vec!["mse"]));
        assert_eq!(
            (phases[1].name, phases[1].losses.clone()),
            ("adversarial", vec!["d_loss", "g_loss"])
        );

        let img = m.sample(&[0, 1], &Generator::new(seed ^ 1)).expect("sample");
        assert_eq!(img.shape(), &[2, c, s, s], "sample shape {c}×{s}×{s}");
        let v = img.to_vec().unwrap();
        assert!(
            v.iter().all(|x| x.is_finite() && x.abs() <= 1.0),
            "samples must be finite and in [−1, 1]"
        );
        assert!(v.iter().any(|&x| x != v[0]), "samples are constant");

        let x = tensor(&rng.uniform(2 * c * s * s, -1.0, 1.0), &[2, c, s, s]);
        let rec = m.autoencoder.reconstruct(&x).expect("reconstruct");
        assert_eq!(rec.shape(), &[2, c, s, s], "reconstruction shape");
        assert!(rec.to_vec().unwrap().iter().all(|x| x.is_finite()));
        assert_eq!(m.autoencoder.encode(&x).unwrap().shape(), &[2, cfg.latent]);

        let d = BaganDiscriminator::new(dev(), &gen, m.plan(), &Arc::new(Generator::new(seed ^ 2))).expect("D");
        assert_eq!(d.forward(&x).expect("D forward").shape(), &[2, k + 1], "D logits");
    }
    // Through `models::build`, the path the trainer uses.
    let mut m = build(dev(), &config(1, 28, 2), seed).expect("build");
    assert_eq!(
        m.sample(&[1, 0, 1], &Generator::new(seed)).unwrap().shape(),
        &[3, 1, 28, 28]
    );
    // 36: 18, 9, 5 → the decoder would give 40.
    let err = build(dev(), &config(1, 36, 2), seed)
        .err()
        .expect("36×36 must be refused");
    assert!(err.to_string().contains("36"), "error should name the side: {err}");
}

/// 2. Fifteen autoencoder steps (16×16×1, 3 classes, batch 8) lower the MSE:
///    the mean of the last three losses is below that of the first three.
///    The learning rate is raised to 1e-3 (from BAGAN's 5e-5) so fifteen
///    steps move the loss clearly.
#[test]
fn bagan_autoencoder_training_reduces_mse() {
    let _serial = serial();
    let seed = base_seed();
    let mut rng = Rng::new(0xBA6A_0002);
    let data = patterned(&mut rng, 1, 16, 3, 8);
    let mut cfg = config(1, 16, 3);
    cfg.batch = 8;
    cfg.ae_lr = 1e-3;
    let gen = Generator::new(seed);
    let mut m = build(dev(), &cfg, seed).expect("build");
    m.enter_phase(0, Some(&data), &ctx(&gen, 0, 0, seed)).unwrap();
    let mut losses = Vec::new();
    for step in 0..15u64 {
        let idx: Vec<usize> = (0..8).map(|i| (step as usize * 8 + i) % data.len()).collect();
        let x = data.to_tensor(dev(), &idx).unwrap();
        let host: Vec<u32> = idx.iter().map(|&i| data.labels()[i]).collect();
        let y = IndexTensor::new(dev(), &host).unwrap();
        let batch = Batch {
            images: &x,
            labels: &y,
            host_labels: &host,
        };
        let out = m.train_step(&batch, &ctx(&gen, step, step, seed)).expect("step");
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, "mse");
        let l = out[0].1.item().unwrap();
        assert!(l.is_finite(), "step {step}: loss {l}");
        losses.push(l);
    }
    let first = losses[..3].iter().sum::<f32>() / 3.0;
    let last = losses[12..].iter().sum::<f32>() / 3.0;
    assert!(
        last < first,
        "MSE did not fall: first {first}, last {last} ({losses:?}, seed {seed})"
    );
}

/// The adversarial phase at 8×8: D's encoder starts as the autoencoder's,
/// its head is separate; two steps report finite d_loss and g_loss, change
/// D and the generator (= the decoder), and leave the autoencoder's encoder.
#[test]
fn bagan_adversarial_steps() {
    let _serial = serial();
    let seed = base_seed();
    let mut rng = Rng::new(0xBA6A_0003);
    let data = patterned(&mut rng, 1, 8, 3, 4);
    let gen = Generator::new(seed);
    let mut m = Bagan::new(dev(), &gen, config(1, 8, 3)).expect("build");
    m.enter_phase(1, Some(&data), &ctx(&gen, 0, 0, seed))
        .expect("enter phase 1");
    assert_eq!(m.phase(), 1);
    let enc = params_of(&m.autoencoder.encoder);
    let d_enc = params_of(&m.discriminator.as_ref().unwrap().encoder);
    assert_eq!(enc, d_enc, "D's encoder must start as the autoencoder's");
    let latents = m.latents.as_ref().expect("latents");
    assert_eq!(latents.mean.shape(), &[3, 100]);
    assert_eq!(latents.chol.shape(), &[3, 100, 100]);
    let dec0 = params_of(&m.autoencoder.decoder);
    let d0 = params_of(m.discriminator.as_ref().unwrap());
    for step in 0..2u64 {
        let idx: Vec<usize> = (0..6).map(|i| (step as usize * 6 + i) % data.len()).collect();
        let x = data.to_tensor(dev(), &idx).unwrap();
        let host: Vec<u32> = idx.iter().map(|&i| data.labels()[i]).collect();
        let y = IndexTensor::new(dev(), &host).unwrap();
        let batch = Batch {
            images: &x,
            labels: &y,
            host_labels: &host,
        };
        let out = m.train_step(&batch, &ctx(&gen, 10 + step, step, seed)).expect("step");
        let names: Vec<&str> = out.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["d_loss", "g_loss"]);
        for (n, t) in &out {
            let v = t.item().unwrap();
            assert!(v.is_finite() && v > 0.0, "{n} = {v}");
        }
    }
    assert_eq!(
        params_of(&m.autoencoder.encoder),
        enc,
        "the autoencoder's encoder must not train in phase 1"
    );
    assert_ne!(params_of(&m.autoencoder.decoder), dec0, "the generator did not train");
    assert_ne!(params_of(m.discriminator.as_ref().unwrap()), d0, "D did not train");
    let img = m.sample(&[0, 1, 2], &Generator::new(1)).unwrap();
    assert_eq!(img.shape(), &[3, 1, 8, 8]);
    assert!(img.to_vec().unwrap().iter().all(|v| v.is_finite() && v.abs() <= 1.0));
}

/// 3. The class Gaussians of synthetic codes against an f64 computation;
///    samples of a class have its mean; an empty class is an error naming it.
#[test]
fn bagan_class_latents_match_f64_reference() {
    let _serial = serial();
    let mut rng = Rng::new(0xBA6A_0004);
    let (k, d) = (3, 4);
    // Class 0: 60 codes, class 1: 3 (< d, a singular covariance), class 2: 1.
    let counts = [60, 3, 1];
    let mut codes = Vec::new();
    let mut labels = Vec::new();
    for (c, &n) in counts.iter().enumerate() {
        for _ in 0..n {
            let u = rng.uniform(d, -1.0, 1.0);
            // Correlated: x = offset + A·u with a lower-triangular A.
            for i in 0..d {
                let v: f32 = (0..=i).map(|j| u[j] * (1.0 + (i + j) as f32 * 0.3)).sum();
                codes.push(v + 2.0 * c as f32 - 1.0);
            }
            labels.push(c as u32);
        }
    }
    // Interleave the classes, so the code must not rely on order.
    let mut order: Vec<usize> = (0..labels.len()).collect();
    rng.shuffle(&mut order);
    let codes: Vec<f32> = order.iter().flat_map(|&i| codes[i * d..(i + 1) * d].to_vec()).collect();
    let labels: Vec<u32> = order.iter().map(|&i| labels[i]).collect();

    let got = class_gaussians(&codes, &labels, k, d, &[]).expect("fit");
    assert_eq!(got.len(), k);
    for c in 0..k {
        let rows: Vec<&[f32]> = codes
            .chunks(d)
            .zip(&labels)
            .filter(|(_, &l)| l as usize == c)
            .map(|(r, _)| r)
            .collect();
        let n = rows.len() as f64;
        let mean: Vec<f64> = (0..d)
            .map(|i| rows.iter().map(|r| r[i] as f64).sum::<f64>() / n)
            .collect();
        let mut cov = vec![0.0; d * d];
        if rows.len() > 1 {
            for i in 0..d {
                for j in 0..d {
                    cov[i * d + j] = rows
                        .iter()
                        .map(|r| (r[i] as f64 - mean[i]) * (r[j] as f64 - mean[j]))
                        .sum::<f64>()
                        / (n - 1.0);
                }
            }
        }
        let g = &got[c];
        assert_eq!(g.count, counts[c]);
        for (i, (&a, &b)) in g.mean.iter().zip(&mean).enumerate() {
            assert!(
                (a - b).abs() <= 1e-10 * (1.0 + b.abs()),
                "class {c} mean[{i}]: {a} vs {b}"
            );
        }
        for (i, (&a, &b)) in g.cov.iter().zip(&cov).enumerate() {
            assert!(
                (a - b).abs() <= 1e-10 * (1.0 + b.abs()),
                "class {c} cov[{i}]: {a} vs {b}"
            );
        }
        // The ridge is small (≤ 1e-5·trace/d, or the 1e-12 floor) and L·Lᵀ = Σ + ρI, L lower.
        let trace: f64 = (0..d).map(|i| cov[i * d + i]).sum();
        assert!(
            g.ridge > 0.0 && g.ridge <= (1e-5 * trace / d as f64).max(1e-11),
            "class {c} ridge {}",
            g.ridge
        );
        for i in 0..d {
            for j in 0..d {
                if j > i {
                    assert_eq!(g.chol[i * d + j], 0.0, "L must be lower triangular");
                }
                let llt: f64 = (0..d).map(|m| g.chol[i * d + m] * g.chol[j * d + m]).sum();
                let want = cov[i * d + j] + if i == j { g.ridge } else { 0.0 };
                assert!(
                    (llt - want).abs() <= 1e-9 * (1.0 + want.abs()),
                    "class {c} (L·Lᵀ)[{i},{j}]"
                );
            }
        }
    }

    // Sampling: 4096 draws of class 0 have mean μ_0 within 6 standard errors
    // (+1e-3 for f32 rounding) and variances within 20 % (the estimate's
    // relative standard deviation is √(2/n) ≈ 2 %); class 2 (one code) stays
    // at its code within 1e-3.
    let latents = ClassLatents::from_gaussians(dev(), &got).expect("upload");
    let n = 4096;
    let rng_dev = Generator::new(base_seed());
    let z = latents.sample(&rng_dev, &vec![0u32; n]).expect("sample");
    assert_eq!(z.shape(), &[n, d]);
    let z = to_f64(&z.to_vec().unwrap());
    for i in 0..d {
        let m = z.iter().skip(i).step_by(d).sum::<f64>() / n as f64;
        let var = z.iter().skip(i).step_by(d).map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1) as f64;
        let (mu, sigma2) = (got[0].mean[i], got[0].cov[i * d + i]);
        assert!(
            (m - mu).abs() <= 6.0 * (sigma2 / n as f64).sqrt() + 1e-3,
            "class 0 sample mean[{i}] {m} vs μ {mu} (σ² {sigma2}, seed {})",
            base_seed()
        );
        assert!(
            (var / sigma2 - 1.0).abs() <= 0.2,
            "class 0 sample var[{i}] {var} vs Σ {sigma2}"
        );
    }
    let z2 = latents.sample(&rng_dev, &[2, 0, 2]).unwrap().to_vec().unwrap();
    for i in 0..d {
        for row in [0, 2] {
            assert!(
                (z2[row * d + i] as f64 - got[2].mean[i]).abs() <= 1e-3,
                "single-code class sample"
            );
        }
    }
    assert!(latents.sample(&rng_dev, &[3]).is_err(), "label K must be refused");

    // An empty class: named by index, and by name when names are given.
    let no1: Vec<(f32, u32)> = labels
        .iter()
        .zip(codes.chunks(d))
        .filter(|(&l, _)| l != 1)
        .flat_map(|(&l, r)| r.iter().map(move |&v| (v, l)))
        .collect();
    let codes1: Vec<f32> = no1.iter().map(|p| p.0).collect();
    let labels1: Vec<u32> = no1.iter().step_by(d).map(|p| p.1).collect();
    let err = class_gaussians(&codes1, &labels1, k, d, &[]).expect_err("empty class must fail");
    assert!(err.to_string().contains("class 1"), "{err}");
    let names = vec!["ants".to_string(), "bees".to_string(), "cats".to_string()];
    let err = class_gaussians(&codes1, &labels1, k, d, &names).expect_err("empty class must fail");
    assert!(err.to_string().contains("bees"), "{err}");

    // The same through the model: a data set with an empty class.
    let seed = base_seed();
    let full = patterned(&mut rng, 1, 8, 3, 2);
    let keep: Vec<usize> = (0..full.len()).filter(|&i| full.labels()[i] != 2).collect();
    let data = full.subset(&keep);
    let gen = Generator::new(seed);
    let mut m = build(dev(), &config(1, 8, 3), seed).unwrap();
    let err = m
        .enter_phase(1, Some(&data), &ctx(&gen, 0, 0, seed))
        .expect_err("empty class");
    assert!(
        err.to_string().contains("class 2") && err.to_string().contains("c2"),
        "{err}"
    );
}

/// 4. Save (phase 1, after one autoencoder and one adversarial step) → load
///    into a model built from another seed: identical parameters, class
///    latents and samples for the same generator seed, every key used, and
///    the next adversarial step gives the same losses.
#[test]
fn bagan_save_load_roundtrip() {
    let _serial = serial();
    let seed = base_seed();
    let mut rng = Rng::new(0xBA6A_0006);
    let data = patterned(&mut rng, 1, 8, 2, 3);
    let cfg = config(1, 8, 2);
    let gen = Generator::new(seed);
    let batch_of = |idx: &[usize]| {
        let x = data.to_tensor(dev(), idx).unwrap();
        let host: Vec<u32> = idx.iter().map(|&i| data.labels()[i]).collect();
        let y = IndexTensor::new(dev(), &host).unwrap();
        (x, y, host)
    };
    let (x, y, host) = batch_of(&[0, 1, 2, 3]);
    let batch = Batch {
        images: &x,
        labels: &y,
        host_labels: &host,
    };

    let mut a = Bagan::new(dev(), &Generator::new(seed), cfg.clone()).unwrap();
    a.enter_phase(0, Some(&data), &ctx(&gen, 0, 0, seed)).unwrap();
    a.train_step(&batch, &ctx(&gen, 0, 0, seed)).unwrap();
    a.enter_phase(1, Some(&data), &ctx(&gen, 1, 0, seed)).unwrap();
    a.train_step(&batch, &ctx(&gen, 1, 0, seed)).unwrap();

    let path = std::env::temp_dir().join(format!("balgan-bagan-{}-{seed}.safetensors", std::process::id()));
    let mut w = CheckpointWriter::new();
    a.save(&mut w).unwrap();
    w.write(&path).unwrap();

    let mut b = Bagan::new(dev(), &Generator::new(seed ^ 0xFFFF), cfg).unwrap();
    b.enter_phase(1, None, &ctx(&gen, 1, 0, seed)).unwrap();
    assert_ne!(
        params_of(&b.autoencoder),
        params_of(&a.autoencoder),
        "the fresh model must differ before loading"
    );
    let c = Checkpoint::open(&path).unwrap();
    b.load(&c).unwrap();
    c.finish(true).expect("every key of the checkpoint is loaded");
    let _ = std::fs::remove_file(&path);

    assert_eq!(params_of(&b.autoencoder), params_of(&a.autoencoder), "autoencoder");
    assert_eq!(
        params_of(b.discriminator.as_ref().unwrap()),
        params_of(a.discriminator.as_ref().unwrap()),
        "discriminator"
    );
    let (la, lb) = (a.latents.as_ref().unwrap(), b.latents.as_ref().unwrap());
    assert_eq!(la.mean.to_vec().unwrap(), lb.mean.to_vec().unwrap(), "class means");
    assert_eq!(
        la.chol.to_vec().unwrap(),
        lb.chol.to_vec().unwrap(),
        "class Cholesky factors"
    );
    let labels = [0, 1, 1, 0];
    let sa = a.sample(&labels, &Generator::new(99)).unwrap().to_vec().unwrap();
    let sb = b.sample(&labels, &Generator::new(99)).unwrap().to_vec().unwrap();
    assert_eq!(sa, sb, "samples for the same seed");

    // The optimiser state came along: the next step matches.
    let (x2, y2, host2) = batch_of(&[2, 3, 4, 5]);
    let batch2 = Batch {
        images: &x2,
        labels: &y2,
        host_labels: &host2,
    };
    let (ga, gb) = (Generator::new(seed ^ 5), Generator::new(seed ^ 5));
    let la: Vec<f32> = a
        .train_step(&batch2, &ctx(&ga, 2, 1, seed))
        .unwrap()
        .iter()
        .map(|(_, t)| t.item().unwrap())
        .collect();
    let lb: Vec<f32> = b
        .train_step(&batch2, &ctx(&gb, 2, 1, seed))
        .unwrap()
        .iter()
        .map(|(_, t)| t.item().unwrap())
        .collect();
    assert_eq!(la, lb, "losses of the step after loading");
    assert_eq!(
        params_of(&b.autoencoder),
        params_of(&a.autoencoder),
        "after one more step"
    );
}
