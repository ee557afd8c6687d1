//! Training steps of the evaluation's classifier (the FID feature extractor
//! and the judge of *accuracy on generated*, `metrics::classifier`): a
//! residual CNN on 28×28×1 images, width 8 (the demo's on a CPU adapter)
//! unless `BALGAN_BENCH_WIDTH` says otherwise, batch 128, cross-entropy and
//! Adam. Prints milliseconds per step and images per second, and the
//! per-kernel profile of one step.
//!
//! ```text
//! cargo bench --bench classifier_step
//! BALGAN_BENCH_WIDTH=32 BALGAN_BENCH_STEPS=4 cargo bench --bench classifier_step
//! BALGAN_BENCH_ARCH=resnet18 BALGAN_BENCH_WIDTH=64 BALGAN_BENCH_BATCH=64 BALGAN_BENCH_STEPS=2 \
//!     cargo bench --bench classifier_step   # the papers' ResNet-18
//! ```

mod common;

use std::time::Instant;

use balgan::metrics::classifier::{Architecture, Classifier, Images, TrainConfig};
use balgan::nn::Module;
use balgan::{Device, Generator};
use common::{adapter, config, env_usize, profile_step, profiling, result};

fn main() -> balgan::Result<()> {
    let batch = env_usize("BALGAN_BENCH_BATCH").unwrap_or(128);
    let steps = env_usize("BALGAN_BENCH_STEPS").unwrap_or(8);
    let width = env_usize("BALGAN_BENCH_WIDTH").unwrap_or(8);
    let side = env_usize("BALGAN_BENCH_SIZE").unwrap_or(28);
    let dev = Device::new()?;
    let rng = Generator::new(1);
    let n = batch * steps;
    let host = rng.uniform(&dev, &[n, 1, side, side], -1.0, 1.0)?.to_vec()?;
    let labels: Vec<u32> = (0..n as u32).map(|i| i % 10).collect();
    let images = |n: usize| Images {
        data: &host[..n * side * side],
        shape: [n, 1, side, side],
    };
    let arch: Architecture = std::env::var("BALGAN_BENCH_ARCH")
        .unwrap_or_else(|_| "small".into())
        .parse()?;
    let mut clf = Classifier::with_architecture(&dev, &rng, 1, 10, width, arch)?;
    let params: usize = clf.parameter_tensors().iter().map(|t| t.numel()).sum();
    let cfg = |epochs| TrainConfig {
        epochs,
        batch_size: batch,
        ..TrainConfig::default()
    };
    // Warm-up: pipelines compiled, buffers pooled.
    clf.fit(&dev, images(batch), &labels[..batch], &cfg(1), |_, _, _| {})?;
    dev.synchronize()?;
    let t = Instant::now();
    clf.fit(&dev, images(n), &labels, &cfg(1), |_, _, _| {})?;
    dev.synchronize()?;
    let ms = t.elapsed().as_secs_f64() * 1e3 / steps as f64;
    adapter(&dev);
    config(
        "classifier_step",
        &[
            ("size", side.to_string()),
            ("batch", batch.to_string()),
            ("width", width.to_string()),
            ("architecture", arch.name().to_string()),
            ("parameters", params.to_string()),
            ("steps", steps.to_string()),
        ],
    );
    println!(
        "\nclassifier training step ({}, {params} parameters; {side}×{side}×1, batch {batch}, width {width}) on {}\n",
        arch.name(),
        dev.describe()
    );
    println!("| step | ms/step | images/s |\n|---|---:|---:|");
    println!("| classifier step | {ms:.1} | {:.0} |", batch as f64 * 1e3 / ms);
    result("classifier_step.ms", ms, "ms");
    if profiling() {
        profile_step(&dev, "classifier training step", "classifier_step", || {
            clf.fit(&dev, images(batch), &labels[..batch], &cfg(1), |_, _, _| {})
        })?;
    }
    Ok(())
}
