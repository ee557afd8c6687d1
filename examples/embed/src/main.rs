//! A tiny WGAN-GP on 2-D toy data, written against balgan's public API only
//! (no `cli` feature): layers, the gradient penalty by double backward, Adam,
//! and the engine's errors returned, never unwrapped.
//!
//! The real data are N(μ, diag(σ²)) with μ = (1.5, −1.0), σ = (0.5, 0.25).
//! The generator maps z ~ N(0, I₂) through 2→32→2 (ReLU); the critic is
//! 2→64→64→1 (LeakyReLU 0.2). Five critic updates per generator update, λ = 1,
//! Adam (lr 1e-3, β = (0.5, 0.9)), batch 256. It prints the critic's
//! Wasserstein estimate and the mean gradient norm at x̂ (from the penalty
//! itself, no second critic pass) as it trains, then compares the moments of
//! 4,096 generated points with the data's and exits with status 1 if they are
//! not close: the example checks itself.

use std::process::ExitCode;
use std::time::Instant;

use balgan::nn::{gradient_penalty_and_norms, loss, LeakyRelu, Linear, Module, Relu, Sequential};
use balgan::optim::{Adam, AdamConfig, Optimizer};
use balgan::{no_grad, Device, Generator, Result, Tensor};

const MEAN: [f32; 2] = [1.5, -1.0];
const STD: [f32; 2] = [0.5, 0.25];
const BATCH: usize = 256;
const GENERATOR_STEPS: usize = 300;
const CRITIC_STEPS: usize = 5;
const LAMBDA: f32 = 1.0;
const PRINT_EVERY: usize = 50;

/// A batch of real points: μ + σ ⊙ N(0, I), drawn on the device.
fn real_batch(dev: &Device, rng: &Generator, n: usize) -> Result<Tensor> {
    let mean = Tensor::from_slice(dev, &MEAN, &[1, 2])?;
    let std = Tensor::from_slice(dev, &STD, &[1, 2])?;
    rng.normal(dev, &[n, 2], 0.0, 1.0)?.mul(&std)?.add(&mean)
}

/// A Linear layer with PyTorch's initialisation drawn from `rng`.
fn linear(dev: &Device, rng: &Generator, i: usize, o: usize) -> Result<Linear> {
    Linear::new(dev, rng, i, o, true)
}

/// Per-column mean and standard deviation of points [n, 2], on the host.
fn moments(points: &[f32]) -> ([f64; 2], [f64; 2]) {
    let n = (points.len() / 2) as f64;
    let mut mean = [0.0; 2];
    let mut std = [0.0; 2];
    for a in 0..2 {
        mean[a] = points.iter().skip(a).step_by(2).map(|&v| v as f64).sum::<f64>() / n;
        let var = points
            .iter()
            .skip(a)
            .step_by(2)
            .map(|&v| (v as f64 - mean[a]).powi(2))
            .sum::<f64>()
            / n;
        std[a] = var.sqrt();
    }
    (mean, std)
}

fn run() -> Result<bool> {
    let dev = Device::new()?;
    println!("adapter: {}", dev.adapter_info().name);
    let rng = Generator::new(0);
    let generator = Sequential::new()
        .push(linear(&dev, &rng, 2, 32)?)
        .push(Relu)
        .push(linear(&dev, &rng, 32, 2)?);
    let critic = Sequential::new()
        .push(linear(&dev, &rng, 2, 64)?)
        .push(LeakyRelu::new(0.2)?)
        .push(linear(&dev, &rng, 64, 64)?)
        .push(LeakyRelu::new(0.2)?)
        .push(linear(&dev, &rng, 64, 1)?);
    let adam = AdamConfig {
        lr: 1e-3,
        beta1: 0.5,
        beta2: 0.9,
        ..AdamConfig::default()
    };
    let mut g_opt = Adam::new(&generator.parameter_tensors(), adam)?;
    let mut d_opt = Adam::new(&critic.parameter_tensors(), adam)?;

    let start = Instant::now();
    for step in 1..=GENERATOR_STEPS {
        let mut last = None;
        for _ in 0..CRITIC_STEPS {
            let real = real_batch(&dev, &rng, BATCH)?;
            // The critic's update does not reach the generator.
            let fake = no_grad(|| generator.forward(&rng.normal(&dev, &[BATCH, 2], 0.0, 1.0)?))?;
            let wasserstein = loss::wasserstein_critic(&critic.forward(&real)?, &critic.forward(&fake)?)?;
            let gp = gradient_penalty_and_norms(|x| critic.forward(x), &real, &fake, LAMBDA, &rng)?;
            d_opt.minimize(&wasserstein.add(&gp.penalty)?)?;
            last = Some((wasserstein, gp.gradient_norms));
        }
        let fake = generator.forward(&rng.normal(&dev, &[BATCH, 2], 0.0, 1.0)?)?;
        // Gradients for the generator's parameters only (the critic's are left alone).
        g_opt.minimize_own(&loss::wasserstein_generator(&critic.forward(&fake)?)?)?;
        if step % PRINT_EVERY == 0 {
            // The only readbacks: the host waits for the GPU here.
            let (wasserstein, norms) = last.expect("at least one critic step");
            println!(
                "step {step:>4}: Wasserstein estimate {:>8.4}, mean ‖∇D(x̂)‖ {:.3}  ({:.1} s)",
                -wasserstein.item()?,
                norms.mean_all()?.item()?,
                start.elapsed().as_secs_f64()
            );
        }
    }

    let points = no_grad(|| generator.forward(&rng.normal(&dev, &[4096, 2], 0.0, 1.0)?))?.to_vec()?;
    let (mean, std) = moments(&points);
    println!(
        "generated: mean ({:.3}, {:.3}), std ({:.3}, {:.3})",
        mean[0], mean[1], std[0], std[1]
    );
    println!(
        "data:      mean ({:.3}, {:.3}), std ({:.3}, {:.3})",
        MEAN[0], MEAN[1], STD[0], STD[1]
    );
    // Within a third of a standard deviation for the means, 35 % for the spreads.
    let close = (0..2)
        .all(|a| (mean[a] - MEAN[a] as f64).abs() < STD[a] as f64 / 3.0 && (std[a] / STD[a] as f64 - 1.0).abs() < 0.35);
    Ok(close)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("embed: the generated points do not match the data's moments");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("embed: {e}");
            ExitCode::FAILURE
        }
    }
}
