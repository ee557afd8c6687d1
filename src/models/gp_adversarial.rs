//! BAGAN-GP's adversarial phase, shared by SGBGAN, BAGAN-GP and cWGAN-GP.
//!
//! [`super::adversarial::AdversarialTraining`] lays the critic and generator
//! updates over the batches (the config's critic schedule). On logits, with
//! y the real labels, y_f uniform fake labels and y_w a uniformly drawn
//! *different* label per real image:
//!
//! - critic: BCE(D(x, y), 1) + BCE(D(G(z, y_f), y_f), 0) + BCE(D(x, y_w), 0)
//!   + λ·GP, GP = mean((‖∇_x̂ D(x̂, y)‖₂ − 1)²), x̂ = x̃ + α(x − x̃);
//! - generator: BCE(D(G(z, y_f), y_f), 1).
//!
//! The Wasserstein variant (a true conditional WGAN-GP) uses
//! mean D(G(z, y), y) − mean D(x, y) + λ·GP and −mean D(G(z, y_f), y_f).
//! With `fake_labels = real` (BAGAN-GP's cWGAN-GP script) the fakes of both
//! steps take the batch's real labels instead of uniform ones.
//! The generator's gradient is taken for its parameters only, so its step
//! does not pay for the critic's parameter gradients.

use super::adversarial::{Adversarial, CriticStep};
use super::blocks::{ConditionalCritic, ConditionalGenerator, Geometry};
use super::{latent_noise, AlphaDistribution, Batch, FakeLabels, ModelConfig, StepContext};
use crate::autograd::no_grad;
use crate::device::Device;
use crate::error::Result;
use crate::nn::gradient_penalty_with_alpha;
use crate::nn::loss::{bce_with_logits_scalar, bce_with_logits_with, Reduction};
use crate::nn::Module;
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

/// The two players and the loss settings; [`super::adversarial::AdversarialTraining`] runs them.
pub struct GpAdversarial {
    /// The generator, z ⊙ e(y) → decoder.
    pub generator: ConditionalGenerator,
    /// The conditional critic, scoring (image, label) pairs with a logit.
    pub critic: ConditionalCritic,
    loss: CriticLoss,
    lambda: f32,
    alpha: AlphaDistribution,
    geometry: Geometry,
    real_fake_labels: bool,
}

impl GpAdversarial {
    /// The players with the loss `loss` and the config's λ (`gp_weight`), α distribution
    /// (`gp_alpha`) and fake labels (`fake_labels`).
    pub fn new(
        cfg: &ModelConfig,
        generator: ConditionalGenerator,
        critic: ConditionalCritic,
        loss: CriticLoss,
    ) -> Result<GpAdversarial> {
        Ok(GpAdversarial {
            generator,
            critic,
            loss,
            lambda: cfg.gp_weight,
            alpha: cfg.gp_alpha,
            geometry: cfg.geometry()?,
            real_fake_labels: cfg.fake_labels == FakeLabels::Real,
        })
    }

    /// The labels of a step's fakes: the real ones, or uniform from `salt`'s stream.
    fn fake_labels(&self, batch: &Batch, ctx: &StepContext, salt: u64) -> Result<IndexTensor> {
        if self.real_fake_labels {
            return Ok(batch.labels.clone());
        }
        IndexTensor::new(batch.images.device(), &self.fake_host_labels(batch, ctx, salt))
    }

    /// [`GpAdversarial::fake_labels`] on the host.
    fn fake_host_labels(&self, batch: &Batch, ctx: &StepContext, salt: u64) -> Vec<u32> {
        if self.real_fake_labels {
            return batch.host_labels.to_vec();
        }
        ctx.uniform_labels(batch.host_labels.len(), self.geometry.classes, salt)
    }

    fn fakes(&self, dev: &Device, rng: &Generator, labels: &IndexTensor) -> Result<Tensor> {
        let z = latent_noise(dev, rng, labels.len(), self.geometry.latent)?;
        self.generator.generate(&z, labels)
    }
}

impl Adversarial for GpAdversarial {
    type Carry = ();
    const LOSSES: &'static [&'static str] = &["d_loss", "gp", "g_loss"];

    fn generator(&self) -> &dyn Module {
        &self.generator
    }

    fn critic(&self) -> &dyn Module {
        &self.critic
    }

    /// The critic loss with the penalty, which is also reported alone.
    fn critic_loss(&self, batch: &Batch, ctx: &StepContext, _generator_turn: bool) -> Result<CriticStep<()>> {
        let dev = batch.images.device();
        let b = batch.host_labels.len();
        let k = self.geometry.classes;
        let (fake, d) = match self.loss {
            CriticLoss::CrossEntropy => {
                let y_f = self.fake_host_labels(batch, ctx, SALT_FAKE);
                let fake = no_grad(|| self.fakes(dev, ctx.rng, &IndexTensor::new(dev, &y_f)?))?;
                let y_w = ctx.wrong_labels(batch.host_labels, k, SALT_WRONG);
                // The three terms score real, fake and wrongly labelled real
                // images. The label enters only the critic's head, so the
                // body runs once over real and fake stacked (the critic has
                // no batch statistics, so each row is what a pass of its own
                // gives) and the real rows' features are scored twice, with
                // the true and the wrong labels: a third less body work than
                // three passes, in a third of the launches.
                // (A slice and a concatenation, not an index_select, whose
                // backward scans every index per destination element.)
                let images = Tensor::concat(&[batch.images, &fake], 0)?;
                let features = self.critic.features(&images)?;
                let features = Tensor::concat(&[&features, &features.narrow(0, 0, b)?], 0)?;
                let labels: Vec<u32> = [batch.host_labels, &y_f, &y_w].concat();
                let scores = self.critic.head.score(&features, &IndexTensor::new(dev, &labels)?)?;
                // Targets 1 (real), 0 (fake), 0 (wrong label); each term is a
                // mean over its b images, so the sum of the three is the sum
                // over all 3b divided by b.
                let targets: Vec<f32> = (0..3 * b).map(|i| if i < b { 1.0 } else { 0.0 }).collect();
                let targets = Tensor::from_slice(dev, &targets, &[3 * b, 1])?;
                let d = bce_with_logits_with(&scores, &targets, Reduction::Sum)?.mul_scalar(1.0 / b as f32)?;
                (fake, d)
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
        Ok(CriticStep {
            loss: d.add(&gp)?,
            terms: vec![("gp", gp)],
            carry: (),
        })
    }

    /// The generator loss of one batch's worth of fresh samples.
    fn generator_loss(&self, batch: &Batch, ctx: &StepContext, _carry: ()) -> Result<Tensor> {
        let dev = batch.images.device();
        let y = self.fake_labels(batch, ctx, SALT_GEN)?;
        let score = self.critic.score(&self.fakes(dev, ctx.rng, &y)?, &y)?;
        match self.loss {
            CriticLoss::CrossEntropy => bce_with_logits_scalar(&score, 1.0),
            CriticLoss::Wasserstein => score.mean_all()?.neg(),
        }
    }

    fn generate(&self, dev: &Device, labels: &IndexTensor, rng: &Generator) -> Result<Tensor> {
        self.fakes(dev, rng, labels)
    }
}
