//! A model that is one adversarial phase: the players of an [`Adversarial`]
//! trained from their initial weights (DCGAN, cWGAN-GP).

use super::adversarial::{Adversarial, AdversarialTraining};
use super::{BalancingModel, Batch, ModelConfig, Phase, StepContext};
use crate::data::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::{Checkpoint, CheckpointWriter};
use crate::tensor::{Generator, Tensor};

/// One phase, "adversarial".
pub struct Gan<A: Adversarial> {
    cfg: ModelConfig,
    /// The players with their optimizers.
    pub gan: AdversarialTraining<A>,
}

impl<A: Adversarial> Gan<A> {
    /// Validates `cfg` and sets up the players' optimizers (and the generator's moving average
    /// when `g_ema` > 0).
    pub fn new(dev: &Device, cfg: ModelConfig, players: A) -> Result<Gan<A>> {
        cfg.validate()?;
        Ok(Gan {
            gan: AdversarialTraining::new(dev, &cfg, players)?,
            cfg,
        })
    }

    /// The generator and critic.
    pub fn players(&self) -> &A {
        &self.gan.players
    }
}

impl<A: Adversarial> BalancingModel for Gan<A> {
    fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    fn phases(&self) -> Vec<Phase> {
        vec![Phase {
            name: "adversarial",
            epochs: self.cfg.gan_epochs,
            losses: A::LOSSES.to_vec(),
        }]
    }

    fn phase(&self) -> usize {
        0
    }

    fn enter_phase(&mut self, phase: usize, _data: Option<&Dataset>, _ctx: &StepContext) -> Result<()> {
        if phase != 0 {
            return Err(Error::invalid(
                self.cfg.model.title(),
                format!("there is no phase {phase}"),
            ));
        }
        Ok(())
    }

    fn train_step(&mut self, batch: &Batch, ctx: &StepContext) -> Result<Vec<(&'static str, Tensor)>> {
        self.gan.step(batch, ctx)
    }

    fn end_epoch(&mut self, data: &Dataset) -> Result<Vec<(String, f64)>> {
        self.gan.end_epoch(data)
    }

    fn sample(&mut self, labels: &[u32], rng: &Generator) -> Result<Tensor> {
        self.gan.sample(labels, rng)
    }

    fn save(&self, w: &mut CheckpointWriter) -> Result<()> {
        self.gan.save(w)
    }

    fn load(&mut self, c: &Checkpoint) -> Result<()> {
        self.gan.load(c)
    }
}
