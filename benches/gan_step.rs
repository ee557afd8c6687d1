//! One full adversarial step of SGBGAN and of BAGAN-GP — 5 critic steps
//! (each with the gradient penalty, by double backward) and 1 generator step —
//! at batch 128 on 64×64×1 images, 10 classes, latent 128; and one step of
//! each model's pre-training (SA-GVAE, autoencoder). Prints ms/step, steps/s
//! and peak GPU memory. `benches/gan_step.py` runs the same steps in PyTorch.
//!
//! ```text
//! cargo bench --bench gan_step
//! BALGAN_BENCH_QUICK=1 cargo bench --bench gan_step   # batch 16, 32×32, fewer steps
//! BALGAN_BENCH_SIZE=32 BALGAN_BENCH_BATCH=64 cargo bench --bench gan_step
//! ```

use std::time::Instant;

use balgan::data::Dataset;
use balgan::models::{build, Batch, CriticSchedule, ModelConfig, ModelKind, StepContext};
use balgan::{Device, Generator, IndexTensor};

fn env(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn main() -> balgan::Result<()> {
    let quick = std::env::var("BALGAN_BENCH_QUICK").is_ok_and(|v| v == "1");
    let (batch, size, steps) = if quick { (16, 32, 2) } else { (128, 64, 3) };
    let batch = env("BALGAN_BENCH_BATCH").unwrap_or(batch);
    let size = env("BALGAN_BENCH_SIZE").unwrap_or(size);
    let steps = env("BALGAN_BENCH_STEPS").unwrap_or(steps);
    let classes = 10;
    let dev = Device::new()?;
    let rng = Generator::new(5);
    // A synthetic training set: only its shape matters for timing.
    let n = batch * 2;
    let images = rng.uniform(&dev, &[n, 1, size, size], -1.0, 1.0)?.to_vec()?;
    let labels: Vec<u32> = (0..n as u32).map(|i| i % classes as u32).collect();
    let names = (0..classes).map(|c| format!("c{c}")).collect();
    let data = Dataset::new(images, [n, 1, size, size], labels.clone(), names)?;
    let x = data.to_tensor(&dev, &(0..batch).collect::<Vec<_>>())?;
    let host = labels[..batch].to_vec();
    let y = IndexTensor::new(&dev, &host)?;
    let b = Batch {
        images: &x,
        labels: &y,
        host_labels: &host,
    };

    let mut rows = Vec::new();
    for kind in [ModelKind::Sgbgan, ModelKind::BaganGp] {
        let mut cfg = ModelConfig::defaults(kind, 1, size, classes);
        cfg.batch = batch;
        // BALGAN_BENCH_SET="width=8,latent=32": model settings as `--set` takes them.
        if let Ok(set) = std::env::var("BALGAN_BENCH_SET") {
            let set: Vec<String> = set.split(',').filter(|s| !s.is_empty()).map(String::from).collect();
            cfg = balgan::cli::train::apply_overrides(&cfg, &set)?;
        }
        let mut model = build(&dev, &cfg, 1)?;
        let noise = Generator::new(9);
        let ctx = |step: u64| StepContext {
            rng: &noise,
            step,
            phase_step: step,
            seed: 3,
        };
        // Pre-training step.
        model.enter_phase(0, Some(&data), &ctx(0))?;
        let time = |model: &mut dyn balgan::models::BalancingModel, per: u64| -> balgan::Result<f64> {
            for s in 0..per {
                model.train_step(&b, &ctx(s))?; // warm-up: pipelines, pool
            }
            dev.synchronize()?;
            let t = Instant::now();
            for s in 0..steps as u64 * per {
                model.train_step(&b, &ctx(s))?;
            }
            dev.synchronize()?;
            Ok(t.elapsed().as_secs_f64() / steps as f64)
        };
        let d0 = dev.dispatch_counts().0;
        let pre = time(model.as_mut(), 1)?;
        eprintln!(
            "{} pre-training step: {} dispatches",
            kind.title(),
            (dev.dispatch_counts().0 - d0) / (steps as u64 + 1)
        );
        model.enter_phase(1, Some(&data), &ctx(0))?;
        // Batches per generator update: one under per-batch (the defaults:
        // n_critic critic updates on it), n_critic on fresh batches.
        let batches = match cfg.critic_schedule {
            CriticSchedule::PerBatch => 1,
            CriticSchedule::FreshBatches => cfg.n_critic as u64,
        };
        if std::env::var("BALGAN_BENCH_PROFILE").is_ok_and(|v| v == "1") {
            dev.start_profile()?;
            for s in 0..batches {
                model.train_step(&b, &ctx(s))?;
            }
            dev.synchronize()?;
            println!(
                "{} full step, per kernel:\n{}",
                kind.title(),
                balgan::device::profile_table(&dev.take_profile())
            );
        }
        let d0 = dev.dispatch_counts().0;
        let full = time(model.as_mut(), batches)?;
        eprintln!(
            "{} full step: {} dispatches",
            kind.title(),
            (dev.dispatch_counts().0 - d0) / (steps as u64 + 1)
        );
        rows.push((kind, pre, full));
    }
    let peak = dev.memory_stats().peak as f64 / (1 << 20) as f64;
    println!(
        "GAN training steps ({size}×{size}×1, batch {batch}, 10 classes, latent 128) on {}",
        dev.describe()
    );
    println!();
    println!("| step | ms/step | steps/s |");
    println!("|---|---:|---:|");
    for (kind, pre, full) in &rows {
        let pre_name = if *kind == ModelKind::Sgbgan {
            "SA-GVAE"
        } else {
            "autoencoder"
        };
        println!(
            "| {} full step (5 D + 1 G) | {:.1} | {:.3} |",
            kind.title(),
            full * 1e3,
            1.0 / full
        );
        println!(
            "| {} {pre_name} step | {:.1} | {:.3} |",
            kind.title(),
            pre * 1e3,
            1.0 / pre
        );
    }
    println!();
    println!("peak GPU memory: {peak:.0} MiB");
    Ok(())
}
