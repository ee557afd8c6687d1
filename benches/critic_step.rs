//! One critic update of a DCGAN-style critic on 28×28×1 images, batch 128:
//! conv 1→64 k4 s2 p1 → LeakyReLU 0.2 → conv 64→128 k4 s2 p1 → LeakyReLU 0.2
//! → flatten → linear 6272→1. Two variants, each forward + backward + Adam:
//! - plain:  loss = mean D(fake) − mean D(real)
//! - WGAN-GP: the same + 10·GP, the penalty's gradient by double backward.
//!
//! Prints milliseconds per step, steps per second, dispatches per step, the
//! GP/plain ratio, the adapter's name, and the per-kernel profile of one step
//! of each. `benches/critic_step.py` runs the same step in PyTorch;
//! `benches/compare.py` (`./run bench --compare`) runs both and prints the ratios.
//!
//! ```text
//! cargo bench --bench critic_step
//! BALGAN_BENCH_QUICK=1 cargo bench --bench critic_step   # batch 16, fewer steps
//! BALGAN_BENCH_BATCH=64 BALGAN_BENCH_STEPS=5 cargo bench --bench critic_step
//! BALGAN_BENCH_PROFILE=0 cargo bench --bench critic_step  # no per-kernel profile
//! ```

mod common;

use std::time::Instant;

use balgan::nn::{gradient_penalty, Conv2d, Init, Linear, Module};
use balgan::optim::{Adam, AdamConfig};
use balgan::{Conv2dOptions, Device, Generator, Tensor};
use common::{adapter, config, env_usize, profile_step, profiling, quick, result};

struct Critic {
    conv1: Conv2d,
    conv2: Conv2d,
    linear: Linear,
}

impl Critic {
    fn new(dev: &Device, rng: &Generator) -> balgan::Result<Critic> {
        let o = Conv2dOptions::new(2, 1);
        Ok(Critic {
            conv1: Conv2d::with_init(dev, rng, (1, 64), (4, 4), o, Init::DCGAN, Some(Init::Zeros))?,
            conv2: Conv2d::with_init(dev, rng, (64, 128), (4, 4), o, Init::DCGAN, Some(Init::Zeros))?,
            linear: Linear::with_init(dev, rng, 128 * 7 * 7, 1, Init::DCGAN, Some(Init::Zeros))?,
        })
    }

    fn forward(&self, x: &Tensor) -> balgan::Result<Tensor> {
        let h = self.conv1.forward(x)?.leaky_relu(0.2)?;
        let h = self.conv2.forward(&h)?.leaky_relu(0.2)?;
        let n = h.shape()[0];
        self.linear.forward(&h.reshape(&[n, 128 * 7 * 7])?)
    }

    fn parameters(&self) -> Vec<Tensor> {
        let mut p = self.conv1.parameter_tensors();
        p.extend(self.conv2.parameter_tensors());
        p.extend(self.linear.parameter_tensors());
        p
    }
}

fn main() -> balgan::Result<()> {
    let (batch, steps) = if quick() { (16, 3) } else { (128, 10) };
    let batch = env_usize("BALGAN_BENCH_BATCH").unwrap_or(batch);
    let steps = env_usize("BALGAN_BENCH_STEPS").unwrap_or(steps);
    let dev = Device::new()?;
    let rng = Generator::new(7);
    let critic = Critic::new(&dev, &rng)?;
    let mut opt = Adam::new(
        &critic.parameters(),
        AdamConfig {
            lr: 1e-4,
            beta1: 0.0,
            beta2: 0.9,
            ..Default::default()
        },
    )?;
    let real = rng.uniform(&dev, &[batch, 1, 28, 28], -1.0, 1.0)?;
    let fake = rng.uniform(&dev, &[batch, 1, 28, 28], -1.0, 1.0)?;

    let mut results = Vec::new();
    for with_gp in [false, true] {
        let step = |opt: &mut Adam| -> balgan::Result<()> {
            let mut loss = critic
                .forward(&fake)?
                .mean_all()?
                .sub(&critic.forward(&real)?.mean_all()?)?;
            if with_gp {
                let gp = gradient_penalty(|x| critic.forward(x), &real, &fake, 10.0, &rng)?;
                loss = loss.add(&gp)?;
            }
            opt.zero_grad();
            loss.backward()?;
            opt.step()
        };
        step(&mut opt)?; // warm-up: pipelines compiled, pool filled
        dev.synchronize()?;
        let d0 = dev.dispatch_counts().0;
        let start = Instant::now();
        for _ in 0..steps {
            step(&mut opt)?;
        }
        dev.synchronize()?;
        let seconds = start.elapsed().as_secs_f64() / steps as f64;
        let dispatches = (dev.dispatch_counts().0 - d0) / steps as u64;
        let key = if with_gp { "wgan_gp" } else { "plain" };
        if profiling() {
            let title = if with_gp {
                "critic step, WGAN-GP"
            } else {
                "critic step, plain"
            };
            profile_step(&dev, title, &format!("critic_step.{key}"), || step(&mut opt))?;
        }
        result(&format!("critic_step.{key}_ms"), seconds * 1e3, "ms");
        result(
            &format!("critic_step.{key}_dispatches"),
            dispatches as f64,
            "dispatches",
        );
        results.push((seconds, dispatches));
    }
    let peak = dev.memory_stats().peak as f64 / (1 << 20) as f64;
    let ((plain, plain_d), (gp, gp_d)) = (results[0], results[1]);
    result("critic_step.gp_ratio", gp / plain, "x");
    adapter(&dev);
    config(
        "critic_step",
        &[
            ("size", "28".into()),
            ("batch", batch.to_string()),
            ("steps", steps.to_string()),
        ],
    );
    println!();
    println!(
        "critic step (DCGAN critic, 28×28×1, batch {batch}) on {}",
        dev.describe()
    );
    println!();
    println!("| step | ms/step | steps/s | dispatches/step |");
    println!("|---|---:|---:|---:|");
    println!(
        "| plain (forward, backward, Adam) | {:.1} | {:.2} | {plain_d} |",
        plain * 1e3,
        1.0 / plain
    );
    println!(
        "| WGAN-GP (+ double backward) | {:.1} | {:.2} | {gp_d} |",
        gp * 1e3,
        1.0 / gp
    );
    println!();
    println!("GP/plain: {:.2}×   peak GPU memory: {peak:.0} MiB", gp / plain);
    Ok(())
}
