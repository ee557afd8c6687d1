//! BAGAN-GP's adversarial phase, shared by SGBGAN, BAGAN-GP and cWGAN-GP.
//!
//! Every mini-batch is one critic step; every `n_critic`-th batch is followed
//! by one generator step. On logits, with y the real labels, y_f uniform fake
//! labels and y_w a uniformly drawn *different* label per real image:
//!
//! - critic: BCE(D(x, y), 1) + BCE(D(G(z, y_f), y_f), 0) + BCE(D(x, y_w), 0)
//!   + λ·GP, GP = mean((‖∇_x̂ D(x̂, y)‖₂ − 1)²), x̂ = x̃ + α(x − x̃);
//! - generator: BCE(D(G(z, y_f), y_f), 1).
//!
//! The Wasserstein variant (a true conditional WGAN-GP) uses
//! mean D(G(z, y), y) − mean D(x, y) + λ·GP and −mean D(G(z, y), y).
//! The generator's gradient is taken for its parameters only, so its step
//! does not pay for the critic's parameter gradients.

use super::blocks::{ConditionalCritic, ConditionalGenerator, Geometry};
use super::{latent_noise, AlphaDistribution, Batch, ModelConfig, StepContext};
use crate::autograd::{grad, no_grad};
use crate::device::Device;
use crate::error::Result;
use crate::nn::gradient_penalty_with_alpha;
use crate::nn::loss::bce_with_logits_scalar;
use crate::nn::{Checkpoint, CheckpointWriter, Module};
use crate::optim::Adam;
use crate::tensor::{Generator, IndexTensor, Tensor};

/// Which critic loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CriticLoss {
    /// BAGAN-GP's: sigmoid cross-entropy with the wrong-label term.
    CrossEntropy,
    /// WGAN-GP's Wasserstein estimate.
    Wasserstein,
}

/// Salts of the host label streams (one per use, so they never coincide).
const SALT_FAKE: u64 = 1;
const SALT_WRONG: u64 = 2;
const SALT_GEN: u64 = 3;

/// The two players, their optimisers and the loss settings.
pub struct GpAdversarial {
    pub generator: ConditionalGenerator,
    pub critic: ConditionalCritic,
    opt_g: Adam,
    opt_d: Adam,
    loss: CriticLoss,
    lambda: f32,
    n_critic: usize,
    alpha: AlphaDistribution,
    geometry: Geometry,
}

impl GpAdversarial {
    /// The loss names a step reports.
    pub const LOSSES: [&'static str; 3] = ["d_loss", "gp", "g_loss"];

    pub fn new(
        cfg: &ModelConfig,
        generator: ConditionalGenerator,
        critic: ConditionalCritic,
        loss: CriticLoss,
    ) -> Result<GpAdversarial> {
        Ok(GpAdversarial {
            opt_g: Adam::new(&generator.parameter_tensors(), cfg.adversarial_adam(cfg.g_lr))?,
            opt_d: Adam::new(&critic.parameter_tensors(), cfg.adversarial_adam(cfg.d_lr))?,
            generator,
            critic,
            loss,
            lambda: cfg.gp_weight,
            n_critic: cfg.n_critic,
            alpha: cfg.gp_alpha,
            geometry: cfg.geometry()?,
        })
    }

    fn fakes(&self, dev: &Device, rng: &Generator, labels: &IndexTensor) -> Result<Tensor> {
        let z = latent_noise(dev, rng, labels.len(), self.geometry.latent)?;
        self.generator.generate(&z, labels)
    }

    /// The critic loss of one batch (on the tape), with the penalty alone.
    pub fn critic_loss(&self, batch: &Batch, ctx: &StepContext) -> Result<(Tensor, Tensor)> {
        let dev = batch.images.device();
        let b = batch.host_labels.len();
        let k = self.geometry.classes;
        let (fake, d) = match self.loss {
            CriticLoss::CrossEntropy => {
                let y_f = IndexTensor::new(dev, &ctx.uniform_labels(b, k, SALT_FAKE))?;
                let fake = no_grad(|| self.fakes(dev, ctx.rng, &y_f))?;
                let y_w = IndexTensor::new(dev, &ctx.wrong_labels(batch.host_labels, k, SALT_WRONG))?;
                let real = bce_with_logits_scalar(&self.critic.score(batch.images, batch.labels)?, 1.0)?;
                let fake_term = bce_with_logits_scalar(&self.critic.score(&fake, &y_f)?, 0.0)?;
                let wrong = bce_with_logits_scalar(&self.critic.score(batch.images, &y_w)?, 0.0)?;
                (fake, real.add(&fake_term)?.add(&wrong)?)
            }
            CriticLoss::Wasserstein => {
                let fake = no_grad(|| self.fakes(dev, ctx.rng, batch.labels))?;
                let d = self
                    .critic
                    .score(&fake, batch.labels)?
                    .mean_all()?
                    .sub(&self.critic.score(batch.images, batch.labels)?.mean_all()?)?;
                (fake, d)
            }
        };
        let alpha = match self.alpha {
            AlphaDistribution::Uniform => ctx.rng.uniform(dev, &[b], 0.0, 1.0)?,
            // The public code interpolates x̂ = x + α(x̃ − x), centred on the real
            // images; in this function's x̂ = x̃ + α'(x − x̃) that is α' = 1 − α.
            AlphaDistribution::Normal => ctx.rng.normal(dev, &[b], 0.0, 1.0)?.affine(-1.0, 1.0)?,
        };
        let gp = gradient_penalty_with_alpha(
            |x| self.critic.score(x, batch.labels),
            batch.images,
            &fake,
            self.lambda,
            &alpha,
        )?;
        Ok((d.add(&gp)?, gp))
    }

    /// The generator loss of one batch of `b` fresh samples (on the tape).
    pub fn generator_loss(&self, dev: &Device, b: usize, ctx: &StepContext) -> Result<Tensor> {
        let y = IndexTensor::new(dev, &ctx.uniform_labels(b, self.geometry.classes, SALT_GEN))?;
        let score = self.critic.score(&self.fakes(dev, ctx.rng, &y)?, &y)?;
        match self.loss {
            CriticLoss::CrossEntropy => bce_with_logits_scalar(&score, 1.0),
            CriticLoss::Wasserstein => score.mean_all()?.neg(),
        }
    }

    /// One critic step, and a generator step after every `n_critic`-th.
    pub fn step(&mut self, batch: &Batch, ctx: &StepContext) -> Result<Vec<(&'static str, Tensor)>> {
        let (d_loss, gp) = self.critic_loss(batch, ctx)?;
        self.opt_d.zero_grad();
        d_loss.backward()?;
        self.opt_d.step()?;
        let mut out = vec![("d_loss", d_loss.detach()), ("gp", gp.detach())];
        if (ctx.phase_step + 1).is_multiple_of(self.n_critic as u64) {
            let dev = batch.images.device().clone();
            let g_loss = self.generator_loss(&dev, batch.host_labels.len(), ctx)?;
            let params = self.generator.parameter_tensors();
            let refs: Vec<&Tensor> = params.iter().collect();
            let grads = grad(&[&g_loss], &refs, false)?;
            for (p, g) in params.iter().zip(grads) {
                p.set_grad(Some(g));
            }
            self.opt_g.step()?;
            out.push(("g_loss", g_loss.detach()));
        }
        Ok(out)
    }

    /// Samples in evaluation mode (batch norm on running statistics).
    pub fn sample(&mut self, dev: &Device, labels: &[u32], rng: &Generator) -> Result<Tensor> {
        self.generator.set_training(false);
        let out = no_grad(|| -> Result<Tensor> {
            let y = IndexTensor::new(dev, labels)?;
            self.fakes(dev, rng, &y)
        });
        self.generator.set_training(true);
        out
    }

    pub fn save(&self, w: &mut CheckpointWriter) -> Result<()> {
        w.add_module("generator", &self.generator)
            .add_module("critic", &self.critic)
            .add_optimizer("opt_g", &self.generator, &self.opt_g)?
            .add_optimizer("opt_d", &self.critic, &self.opt_d)?;
        Ok(())
    }

    pub fn load(&mut self, c: &Checkpoint) -> Result<()> {
        c.load_module("generator", &self.generator, true)?;
        c.load_module("critic", &self.critic, true)?;
        c.load_optimizer("opt_g", &self.generator, &mut self.opt_g)?;
        c.load_optimizer("opt_d", &self.critic, &mut self.opt_d)?;
        Ok(())
    }
}
