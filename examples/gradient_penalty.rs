//! The WGAN-GP gradient penalty by double backward, checked against finite
//! differences of an f64 CPU reimplementation, then a few Adam steps on the
//! critic with the full WGAN-GP loss.
//!
//! ```text
//! cargo run --release --example gradient_penalty
//! ```
//!
//! Critic: D(x) = w2·leaky_relu(W1ᵀx + b1) + b2 (row-vector form: x·W1 + b1).
//! With x̂ = αx + (1−α)x̃ per sample, g = ∂ΣD(x̂)/∂x̂ (a graph itself, made with
//! `create_graph = true`) and GP = λ·mean((√(Σ_f g² + ε) − 1)²); the gradients
//! of GP with respect to the critic's parameters are a second backward pass
//! through that graph. The example exits with status 1 when the largest
//! relative error against the f64 finite differences exceeds `TOLERANCE`.

use balgan::optim::{Adam, AdamConfig, Optimizer};
use balgan::{Device, Generator, Tensor};

const BATCH: usize = 16;
const FEATURES: usize = 4;
const HIDDEN: usize = 16;
const SLOPE: f32 = 0.2;
const LAMBDA: f32 = 10.0;
const EPS: f32 = 1e-12;
/// Relative error per element: |gpu − fd| / max(|fd|, 1e-3·max|fd|), the floor
/// taken over all parameters so that exact zeros compare sensibly.
const TOLERANCE: f64 = 1e-3;
const TRAIN_STEPS: usize = 10;

struct Critic {
    w1: Tensor,
    b1: Tensor,
    w2: Tensor,
    b2: Tensor,
}

impl Critic {
    fn new(dev: &Device, g: &Generator) -> balgan::Result<Critic> {
        Ok(Critic {
            w1: g
                .normal(dev, &[FEATURES, HIDDEN], 0.0, (2.0 / FEATURES as f32).sqrt())?
                .requires_grad_(),
            b1: g.normal(dev, &[HIDDEN], 0.0, 0.1)?.requires_grad_(),
            w2: g
                .normal(dev, &[HIDDEN, 1], 0.0, (1.0 / HIDDEN as f32).sqrt())?
                .requires_grad_(),
            b2: Tensor::zeros(dev, &[1])?.requires_grad_(),
        })
    }

    /// D(x) for a batch x [n, FEATURES]: [n, 1].
    fn forward(&self, x: &Tensor) -> balgan::Result<Tensor> {
        x.matmul(&self.w1)?
            .add(&self.b1)?
            .leaky_relu(SLOPE)?
            .matmul(&self.w2)?
            .add(&self.b2)
    }

    fn params(&self) -> Vec<Tensor> {
        vec![self.w1.clone(), self.b1.clone(), self.w2.clone(), self.b2.clone()]
    }
}

const PARAM_NAMES: [&str; 4] = ["W1", "b1", "w2", "b2"];

/// x̂ = α·real + (1 − α)·fake, built without a graph, as a leaf that requires grad.
fn interpolate(alpha: &Tensor, real: &Tensor, fake: &Tensor) -> balgan::Result<Tensor> {
    let x_hat = balgan::no_grad(|| alpha.mul(real)?.add(&alpha.affine(-1.0, 1.0)?.mul(fake)?))?;
    Ok(x_hat.requires_grad_())
}

/// GP = λ·mean((‖∂ΣD(x̂)/∂x̂‖ − 1)²), on the tape so that it can be differentiated.
fn gradient_penalty(critic: &Critic, x_hat: &Tensor) -> balgan::Result<Tensor> {
    let d = critic.forward(x_hat)?.sum_all()?;
    let g = balgan::grad(&[&d], &[x_hat], true)?.remove(0);
    let norm = g.square()?.sum(&[1], false)?.add_scalar(EPS)?.sqrt()?;
    norm.add_scalar(-1.0)?.square()?.mean_all()?.mul_scalar(LAMBDA)
}

/// The same penalty in f64 on the host, with ∂D/∂x̂ written out by hand:
/// g[s, f] = Σ_j W1[f, j]·leaky′(h[s, j])·w2[j], h = x̂·W1 + b1.
fn gradient_penalty_cpu(params: &[Vec<f64>], x_hat: &[f64]) -> f64 {
    let (w1, b1, w2) = (&params[0], &params[1], &params[2]);
    let mut total = 0.0;
    for x in x_hat.chunks(FEATURES) {
        let mut slope_w2 = [0.0f64; HIDDEN];
        for (j, sw) in slope_w2.iter_mut().enumerate() {
            let h: f64 = b1[j] + (0..FEATURES).map(|f| x[f] * w1[f * HIDDEN + j]).sum::<f64>();
            // The GPU's leaky_relu mask: 1 where h > 0, else the slope.
            *sw = if h > 0.0 { 1.0 } else { SLOPE as f64 } * w2[j];
        }
        let sq: f64 = (0..FEATURES)
            .map(|f| {
                let g: f64 = (0..HIDDEN).map(|j| w1[f * HIDDEN + j] * slope_w2[j]).sum();
                g * g
            })
            .sum();
        total += ((sq + EPS as f64).sqrt() - 1.0).powi(2);
    }
    LAMBDA as f64 * total / BATCH as f64
}

fn to_f64(t: &Tensor) -> balgan::Result<Vec<f64>> {
    Ok(t.to_vec()?.into_iter().map(f64::from).collect())
}

fn main() -> balgan::Result<()> {
    let dev = Device::new()?;
    let rng = Generator::new(42);
    let critic = Critic::new(&dev, &rng)?;
    let real = rng.normal(&dev, &[BATCH, FEATURES], 1.0, 0.5)?;
    let fake = rng.normal(&dev, &[BATCH, FEATURES], -1.0, 1.0)?;
    let alpha = rng.uniform(&dev, &[BATCH, 1], 0.0, 1.0)?;

    // Gradients of the penalty by double backward on the GPU.
    let x_hat = interpolate(&alpha, &real, &fake)?;
    let gp = gradient_penalty(&critic, &x_hat)?;
    let params = critic.params();
    let param_refs: Vec<&Tensor> = params.iter().collect();
    let grads = balgan::grad(&[&gp], &param_refs, false)?;

    // The same penalty in f64 from the same data, differentiated numerically.
    let (alpha_h, real_h, fake_h) = (to_f64(&alpha)?, to_f64(&real)?, to_f64(&fake)?);
    let x_hat_h: Vec<f64> = (0..BATCH * FEATURES)
        .map(|i| {
            let a = alpha_h[i / FEATURES];
            a * real_h[i] + (1.0 - a) * fake_h[i]
        })
        .collect();
    let mut theta: Vec<Vec<f64>> = params.iter().map(to_f64).collect::<balgan::Result<_>>()?;
    let gp_gpu = gp.item()?;
    let gp_cpu = gradient_penalty_cpu(&theta, &x_hat_h);
    let mut numeric: Vec<Vec<f64>> = Vec::new();
    for p in 0..theta.len() {
        let mut d = vec![0.0; theta[p].len()];
        for (i, di) in d.iter_mut().enumerate() {
            let keep = theta[p][i];
            let h = 1e-6 * keep.abs().max(1.0);
            theta[p][i] = keep + h;
            let up = gradient_penalty_cpu(&theta, &x_hat_h);
            theta[p][i] = keep - h;
            let down = gradient_penalty_cpu(&theta, &x_hat_h);
            theta[p][i] = keep;
            *di = (up - down) / (2.0 * h);
        }
        numeric.push(d);
    }
    let scale = numeric.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    let floor = 1e-3 * scale;
    println!(
        "GP = {gp_gpu:.6} on the GPU (f32), {gp_cpu:.6} on the CPU (f64); \
         batch {BATCH}, {FEATURES} features, {HIDDEN} hidden, λ = {LAMBDA}"
    );
    println!("| parameter | shape | largest ∂GP/∂θ (fd) | max rel. error |");
    println!("|---|---|---:|---:|");
    let mut worst = 0.0f64;
    for (p, (g, fd)) in grads.iter().zip(&numeric).enumerate() {
        let gpu = g.to_vec()?;
        let mut err = 0.0f64;
        for (&a, &b) in gpu.iter().zip(fd) {
            err = err.max((f64::from(a) - b).abs() / b.abs().max(floor));
        }
        let big = fd.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        println!(
            "| {} | {:?} | {big:.3e} | {err:.2e} |",
            PARAM_NAMES[p],
            params[p].shape()
        );
        worst = worst.max(err);
    }
    println!("(b1 and b2 get exact zeros: the penalty depends on b1 only through the piecewise-constant leaky_relu mask, and not at all on b2.)");
    if !worst.is_finite() || worst > TOLERANCE {
        eprintln!("FAILED: max relative error {worst:.2e} exceeds the tolerance {TOLERANCE:.0e}");
        std::process::exit(1);
    }
    println!("max relative error {worst:.2e} ≤ tolerance {TOLERANCE:.0e}: ok");

    // A few critic steps on the WGAN-GP loss: mean D(fake) − mean D(real) + GP.
    let mut opt = Adam::new(
        &params,
        AdamConfig {
            lr: 1e-2,
            beta1: 0.0,
            beta2: 0.9,
            ..AdamConfig::default()
        },
    )?;
    println!("\nAdam (lr 1e-2, betas (0, 0.9)) on the critic; a fresh α each step:");
    for step in 1..=TRAIN_STEPS {
        let alpha = rng.uniform(&dev, &[BATCH, 1], 0.0, 1.0)?;
        let x_hat = interpolate(&alpha, &real, &fake)?;
        let gp = gradient_penalty(&critic, &x_hat)?;
        let w_dist = critic
            .forward(&fake)?
            .mean_all()?
            .sub(&critic.forward(&real)?.mean_all()?)?;
        let loss = w_dist.add(&gp)?;
        opt.minimize(&loss)?;
        println!(
            "step {step:2}  loss {:9.4}  (E[D(fake)] − E[D(real)] {:9.4}, GP {:8.4})",
            loss.item()?,
            w_dist.item()?,
            gp.item()?
        );
    }
    Ok(())
}
