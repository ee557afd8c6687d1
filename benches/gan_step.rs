//! One full adversarial step of SGBGAN and of BAGAN-GP — `n_critic` critic
//! steps (each with the gradient penalty, by double backward; 5 by default)
//! and 1 generator step — at batch 128 on 64×64×1 images, 10 classes, latent
//! 128; and one step of each model's pre-training (SA-GVAE, autoencoder).
//! Prints ms/step, steps/s, dispatches per step, peak GPU memory, and the
//! per-kernel profile of one full step (dispatches, time share, GFLOP/s per
//! kernel, and the GEMMs' average GFLOP/s over the step). `benches/gan_step.py`
//! runs the same steps in PyTorch; `benches/compare.py` (`./run bench
//! --compare`) runs both with the same sizes and prints the ratios.
//!
//! ```text
//! cargo bench --bench gan_step
//! BALGAN_BENCH_QUICK=1 cargo bench --bench gan_step   # batch 16, 32×32, fewer steps
//! BALGAN_BENCH_SIZE=28 BALGAN_BENCH_BATCH=64 BALGAN_BENCH_SET="width=8,latent=32,attention=false,n_critic=1" \
//!     BALGAN_BENCH_MODELS=sgbgan cargo bench --bench gan_step   # the CPU-sized SGBGAN
//! BALGAN_BENCH_PROFILE=0 cargo bench --bench gan_step  # no per-kernel profile
//! ```
//!
//! `BALGAN_BENCH_SET` takes model settings as `balgan train --set` does;
//! `BALGAN_BENCH_MODELS` (comma-separated `--model` names, e.g. `sgbgan,bagan-gp`, the default, or `cs-acgan`) picks the models.
//! AGGAN's cost against ACGAN's (a generation of 3 offspring against one generator step):
//!
//! ```text
//! BALGAN_BENCH_MODELS=acgan,egan,aggan BALGAN_BENCH_SET="n_critic=1" BALGAN_BENCH_SIZE=28 BALGAN_BENCH_BATCH=100 \\
//!     cargo bench --bench gan_step
//! ```

mod common;

use std::time::Instant;

use balgan::data::Dataset;
use balgan::models::{build, Batch, CriticSchedule, ModelConfig, ModelKind, StepContext};
use balgan::{Device, Generator, IndexTensor};
use common::{adapter, config, env_usize, profile_step, profiling, quick, result};

struct Row {
    kind: ModelKind,
    critic_updates: usize,
    /// Seconds and dispatches of a pre-training step (models that pre-train).
    pre: Option<(f64, u64)>,
    full: f64,
    full_dispatches: u64,
    /// Peak device memory while this model was built and stepped, MiB.
    peak: f64,
    /// What a generator update is: "1 G", or a generation of offspring.
    generator: String,
}

fn main() -> balgan::Result<()> {
    let (batch, size, steps) = if quick() { (16, 32, 2) } else { (128, 64, 3) };
    let batch = env_usize("BALGAN_BENCH_BATCH").unwrap_or(batch);
    let size = env_usize("BALGAN_BENCH_SIZE").unwrap_or(size);
    let steps = env_usize("BALGAN_BENCH_STEPS").unwrap_or(steps);
    let kinds: Vec<ModelKind> = match std::env::var("BALGAN_BENCH_MODELS") {
        Ok(list) => list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().parse())
            .collect::<balgan::Result<_>>()?,
        Err(_) => vec![ModelKind::Sgbgan, ModelKind::BaganGp],
    };
    // BALGAN_BENCH_SET="width=8,latent=32": model settings as `--set` takes them.
    let set: Vec<String> = std::env::var("BALGAN_BENCH_SET")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
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
    let mut shared = None;
    for kind in kinds {
        let mut cfg = ModelConfig::defaults(kind, 1, size, classes);
        cfg.batch = batch;
        cfg = balgan::cli::train::apply_overrides(&cfg, &set)?;
        let settings = (cfg.latent, cfg.width, cfg.attention, cfg.n_critic);
        if shared.get_or_insert(settings) != &settings {
            eprintln!(
                "gan_step: the models were given different settings; run them one at a time (BALGAN_BENCH_MODELS)"
            );
            std::process::exit(2);
        }
        dev.synchronize()?;
        dev.reset_peak_memory();
        let mut model = build(&dev, &cfg, 1)?;
        let noise = Generator::new(9);
        let ctx = |step: u64| StepContext {
            rng: &noise,
            step,
            phase_step: step,
            seed: 3,
        };
        // The first phase (pre-training, where the model has one).
        model.enter_phase(0, Some(&data), &ctx(0))?;
        // Times `per` train_steps (one warm-up round first); returns seconds
        // and dispatches per round.
        let time = |model: &mut dyn balgan::models::BalancingModel, per: u64| -> balgan::Result<(f64, u64)> {
            for s in 0..per {
                model.train_step(&b, &ctx(s))?; // warm-up: pipelines, pool
            }
            dev.synchronize()?;
            let d0 = dev.dispatch_counts().0;
            let t = Instant::now();
            for s in 0..steps as u64 * per {
                model.train_step(&b, &ctx(s))?;
            }
            dev.synchronize()?;
            let d = (dev.dispatch_counts().0 - d0) / steps as u64;
            Ok((t.elapsed().as_secs_f64() / steps as f64, d))
        };
        // Models with a pre-training phase: time its step, then enter the
        // adversarial phase (the last).
        let last = model.phases().len() - 1;
        let pre = if last > 0 {
            let pre = time(model.as_mut(), 1)?;
            model.enter_phase(last, Some(&data), &ctx(0))?;
            Some(pre)
        } else {
            None
        };
        // Batches per generator update: one under per-batch (the defaults:
        // n_critic critic updates on it), n_critic on fresh batches.
        let batches = match cfg.critic_schedule {
            CriticSchedule::PerBatch => 1,
            CriticSchedule::FreshBatches => cfg.n_critic as u64,
        };
        let (full, full_dispatches) = time(model.as_mut(), batches)?;
        let critic_updates = cfg.n_critic.max(1);
        let key = format!("gan_step.{}", kind.name());
        if profiling() {
            let title = format!("{} full step ({critic_updates} D + 1 G)", kind.title());
            profile_step(&dev, &title, &key, || {
                for s in 0..batches {
                    model.train_step(&b, &ctx(s))?;
                }
                Ok(())
            })?;
        }
        result(&format!("{key}.full_ms"), full * 1e3, "ms");
        result(&format!("{key}.full_dispatches"), full_dispatches as f64, "dispatches");
        if let Some((pre, pre_dispatches)) = pre {
            result(&format!("{key}.pretrain_ms"), pre * 1e3, "ms");
            result(
                &format!("{key}.pretrain_dispatches"),
                pre_dispatches as f64,
                "dispatches",
            );
        }
        let generator = if cfg.mutations.is_empty() {
            "1 G".to_string()
        } else {
            format!("a generation of {} offspring", cfg.mutations.len())
        };
        rows.push(Row {
            kind,
            critic_updates,
            pre,
            full,
            full_dispatches,
            peak: dev.memory_stats().peak as f64 / (1 << 20) as f64,
            generator,
        });
        drop(model);
    }
    let (latent, width, attention, n_critic) = shared.unwrap_or((128, 64, true, 5));
    adapter(&dev);
    config(
        "gan_step",
        &[
            ("size", size.to_string()),
            ("batch", batch.to_string()),
            ("classes", classes.to_string()),
            ("latent", latent.to_string()),
            ("width", width.to_string()),
            ("attention", attention.to_string()),
            ("n_critic", n_critic.to_string()),
            ("steps", steps.to_string()),
        ],
    );
    println!();
    println!(
        "GAN training steps ({size}×{size}×1, batch {batch}, {classes} classes, latent {latent}, width {width}, attention {}) on {}",
        if attention { "on" } else { "off" },
        dev.describe()
    );
    println!();
    println!("| step | ms/step | steps/s | dispatches/step | peak MiB | time vs the first row |");
    println!("|---|---:|---:|---:|---:|---:|");
    for r in &rows {
        let pre_name = if r.kind == ModelKind::Sgbgan {
            "SA-GVAE"
        } else {
            "autoencoder"
        };
        println!(
            "| {} full step ({} D + {}) | {:.1} | {:.3} | {} | {:.0} | {:.2}× |",
            r.kind.title(),
            r.critic_updates,
            r.generator,
            r.full * 1e3,
            1.0 / r.full,
            r.full_dispatches,
            r.peak,
            r.full / rows[0].full
        );
        if let Some((pre, pre_dispatches)) = r.pre {
            println!(
                "| {} {pre_name} step | {:.1} | {:.3} | {pre_dispatches} |",
                r.kind.title(),
                pre * 1e3,
                1.0 / pre
            );
        }
    }
    println!();
    println!("peak MiB: device memory held while the model was built and stepped (buffers of earlier models freed).");
    Ok(())
}
