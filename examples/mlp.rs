//! A two-layer MLP trained with Adam on the three-arm spiral, written the way
//! another crate would use balgan: only the public API, every error returned.
//!
//! ```text
//! cargo run --release --example mlp
//! ```
//!
//! The data are generated on the host and uploaded once; each step uploads the
//! indices of a shuffled mini-batch and gathers it on the GPU with
//! `index_select`. A step records its dispatches (gather, forward, softmax
//! cross-entropy, backward, Adam) and returns at once: the host waits for the
//! GPU only when it prints a number.

use std::time::Instant;

use balgan::optim::{Adam, AdamConfig, Optimizer};
use balgan::{Device, Generator, HostRng, IndexTensor, Tensor};

const CLASSES: usize = 3;
const HIDDEN: usize = 64;
const TRAIN_PER_CLASS: usize = 200;
const TEST_PER_CLASS: usize = 100;
const BATCH: usize = 100;
const STEPS: usize = 1000;
const PRINT_EVERY: usize = 100;

/// Uniform on (0, 1].
fn uniform(rng: &mut HostRng) -> f64 {
    ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
}

/// Standard normal (Box–Muller).
fn normal(rng: &mut HostRng) -> f64 {
    let (u, v) = (uniform(rng), uniform(rng));
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

/// `per_class` points on each of the `CLASSES` arms of a spiral:
/// (points [n, 2], one-hot labels [n, CLASSES]) as host vectors.
fn spiral(per_class: usize, noise: f64, rng: &mut HostRng) -> (Vec<f32>, Vec<f32>) {
    let n = per_class * CLASSES;
    let mut points = Vec::with_capacity(n * 2);
    let mut onehot = vec![0.0f32; n * CLASSES];
    for c in 0..CLASSES {
        for i in 0..per_class {
            let r = (i as f64 + 0.5) / per_class as f64;
            let t = 4.0 * (c as f64 + r) + noise * normal(rng);
            points.push((r * t.sin()) as f32);
            points.push((r * t.cos()) as f32);
            onehot[(c * per_class + i) * CLASSES + c] = 1.0;
        }
    }
    (points, onehot)
}

/// y = relu(x·W1 + b1)·W2 + b2.
struct Mlp {
    w1: Tensor,
    b1: Tensor,
    w2: Tensor,
    b2: Tensor,
}

impl Mlp {
    /// He-initialised weights from Philox stream `seed`, zero biases.
    fn new(dev: &Device, seed: u64) -> balgan::Result<Mlp> {
        let g = Generator::new(seed);
        Ok(Mlp {
            w1: g.normal(dev, &[2, HIDDEN], 0.0, 1.0)?.requires_grad_(),
            b1: Tensor::zeros(dev, &[HIDDEN])?.requires_grad_(),
            w2: g
                .normal(dev, &[HIDDEN, CLASSES], 0.0, (2.0 / HIDDEN as f32).sqrt())?
                .requires_grad_(),
            b2: Tensor::zeros(dev, &[CLASSES])?.requires_grad_(),
        })
    }

    fn forward(&self, x: &Tensor) -> balgan::Result<Tensor> {
        x.matmul(&self.w1)?
            .add(&self.b1)?
            .relu()?
            .matmul(&self.w2)?
            .add(&self.b2)
    }

    fn params(&self) -> Vec<Tensor> {
        vec![self.w1.clone(), self.b1.clone(), self.w2.clone(), self.b2.clone()]
    }
}

/// Mean softmax cross-entropy of `logits` [n, C] against one-hot `targets`:
/// log Σ exp(z − m) − (z_y − m), with m = max z (a constant: it cancels).
fn cross_entropy(logits: &Tensor, targets: &Tensor) -> balgan::Result<Tensor> {
    let m = logits.max(&[1], true)?.detach();
    let shifted = logits.sub(&m)?;
    let log_sum_exp = shifted.exp()?.sum(&[1], true)?.log()?;
    let true_logit = shifted.mul(targets)?.sum(&[1], true)?;
    log_sum_exp.sub(&true_logit)?.mean_all()
}

/// Fraction of rows whose true-class logit is the largest (a rank-0 tensor).
fn accuracy(logits: &Tensor, targets: &Tensor) -> balgan::Result<Tensor> {
    let true_logit = logits.mul(targets)?.sum(&[1], false)?;
    true_logit.ge(&logits.max(&[1], false)?)?.mean_all()
}

fn main() -> balgan::Result<()> {
    let dev = Device::new()?;
    let mut rng = HostRng::new(2024);
    let (train_x, train_y) = spiral(TRAIN_PER_CLASS, 0.2, &mut rng);
    let (test_x, test_y) = spiral(TEST_PER_CLASS, 0.2, &mut rng);
    let n_train = TRAIN_PER_CLASS * CLASSES;
    let n_test = TEST_PER_CLASS * CLASSES;
    let train_x = Tensor::from_slice(&dev, &train_x, &[n_train, 2])?;
    let train_y = Tensor::from_slice(&dev, &train_y, &[n_train, CLASSES])?;
    let test_x = Tensor::from_slice(&dev, &test_x, &[n_test, 2])?;
    let test_y = Tensor::from_slice(&dev, &test_y, &[n_test, CLASSES])?;

    let model = Mlp::new(&dev, 7)?;
    let mut opt = Adam::new(
        &model.params(),
        AdamConfig {
            lr: 1e-2,
            ..AdamConfig::default()
        },
    )?;

    println!(
        "spiral: {CLASSES} classes, {n_train} training / {n_test} test points; \
         MLP 2-{HIDDEN}-{CLASSES}, Adam lr {}, batch {BATCH}",
        opt.config.lr
    );
    let start = Instant::now();
    let (dispatches0, _) = dev.dispatch_counts();
    let mut order: Vec<u32> = (0..n_train as u32).collect();
    let mut cursor = n_train;
    for step in 1..=STEPS {
        if cursor + BATCH > n_train {
            rng.shuffle_by_remainder(&mut order);
            cursor = 0;
        }
        let idx = IndexTensor::new(&dev, &order[cursor..cursor + BATCH])?;
        cursor += BATCH;
        let x = train_x.index_select(0, &idx)?;
        let y = train_y.index_select(0, &idx)?;
        let loss = cross_entropy(&model.forward(&x)?, &y)?;
        opt.minimize(&loss)?;
        if step == 1 || step % PRINT_EVERY == 0 {
            // The only readback of the step: it waits for the GPU.
            println!("step {step:5}  batch loss {:.4}", loss.item()?);
        }
    }
    let (train_acc, test_acc) = balgan::no_grad(|| -> balgan::Result<(f32, f32)> {
        let train = accuracy(&model.forward(&train_x)?, &train_y)?.item()?;
        let test = accuracy(&model.forward(&test_x)?, &test_y)?.item()?;
        Ok((train, test))
    })?;
    let (dispatches1, _) = dev.dispatch_counts();
    println!(
        "train accuracy {:.1}%  test accuracy {:.1}%  ({STEPS} steps in {:.2} s, {:.0} dispatches/step, on {})",
        100.0 * train_acc,
        100.0 * test_acc,
        start.elapsed().as_secs_f64(),
        (dispatches1 - dispatches0) as f64 / STEPS as f64,
        dev.describe()
    );
    Ok(())
}
