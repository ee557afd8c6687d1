//! cWGAN-GP, the baseline of BAGAN-GP's paper as its code runs it: the
//! BAGAN-GP generator and conditional critic, untrained, and BAGAN-GP's
//! adversarial phase (sigmoid cross-entropy with the wrong-label term +
//! 10·GP). `cwgan-gp-wasserstein` is a true conditional WGAN-GP on the same
//! networks: Wasserstein critic loss + 10·GP, Adam 1e-4 (β₁ 0, β₂ 0.9).

use super::blocks::{ConditionalCritic, ConditionalGenerator};
use super::gp_adversarial::{CriticLoss, GpAdversarial};
use super::{BalancingModel, Batch, ModelConfig, ModelKind, Phase, StepContext};
use crate::data::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::{Checkpoint, CheckpointWriter};
use crate::tensor::{Generator, Tensor};

/// One phase: adversarial.
pub struct CwganGp {
    cfg: ModelConfig,
    dev: Device,
    pub gan: GpAdversarial,
}

impl CwganGp {
    pub fn new(dev: &Device, rng: &Generator, cfg: ModelConfig) -> Result<CwganGp> {
        let g = cfg.geometry()?;
        let loss = if cfg.model == ModelKind::CwganGpWasserstein {
            CriticLoss::Wasserstein
        } else {
            CriticLoss::CrossEntropy
        };
        let gan = GpAdversarial::new(
            &cfg,
            ConditionalGenerator::new(dev, rng, &g, false)?,
            ConditionalCritic::new(dev, rng, &g, false, false)?,
            loss,
        )?;
        Ok(CwganGp {
            cfg,
            dev: dev.clone(),
            gan,
        })
    }
}

impl BalancingModel for CwganGp {
    fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    fn phases(&self) -> Vec<Phase> {
        vec![Phase {
            name: "adversarial",
            epochs: self.cfg.gan_epochs,
            losses: GpAdversarial::LOSSES.to_vec(),
        }]
    }

    fn phase(&self) -> usize {
        0
    }

    fn enter_phase(&mut self, phase: usize, _data: Option<&Dataset>, _ctx: &StepContext) -> Result<()> {
        if phase != 0 {
            return Err(Error::invalid("cWGAN-GP", format!("there is no phase {phase}")));
        }
        Ok(())
    }

    fn train_step(&mut self, batch: &Batch, ctx: &StepContext) -> Result<Vec<(&'static str, Tensor)>> {
        self.gan.step(batch, ctx)
    }

    fn sample(&mut self, labels: &[u32], rng: &Generator) -> Result<Tensor> {
        let dev = self.dev.clone();
        self.gan.sample(&dev, labels, rng)
    }

    fn save(&self, w: &mut CheckpointWriter) -> Result<()> {
        self.gan.save(w)
    }

    fn load(&mut self, c: &Checkpoint) -> Result<()> {
        self.gan.load(c)
    }
}
