//! Pre-train, transfer, adversarial: the shape of SGBGAN and BAGAN-GP. A
//! pre-training network (an autoencoder or VAE, [`Pretraining`]) is trained
//! first; on entering the adversarial phase a generator and critic are drawn
//! from a stream of their own, the pre-trained weights are transferred into
//! them, and BAGAN-GP's adversarial phase ([`GpAdversarial`]) runs.

use super::adversarial::AdversarialTraining;
use super::gp_adversarial::GpAdversarial;
use super::{adversarial_stream, BalancingModel, Batch, ModelConfig, Phase, StepContext};
use crate::data::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::{evaluating, Checkpoint, CheckpointWriter, Module};
use crate::optim::{Adam, Optimizer};
use crate::tensor::{Generator, IndexTensor, Tensor};

/// What differs between the pre-trained models: the network, its loss, its
/// sampling, and how its weights seed the adversarial players.
pub trait Pretraining: Module + Sized + 'static {
    /// The model's display name (for errors).
    const MODEL: &'static str;
    /// The name of the pre-training phase (logs and files).
    const PHASE: &'static str;
    /// The losses a pre-training step reports.
    const LOSSES: &'static [&'static str];
    /// Checkpoint prefix of the network (its optimizer's state is under [`Pretraining::OPTIMIZER`]).
    const CHECKPOINT: &'static str;
    /// Checkpoint prefix of the pre-training optimizer's state (saved only during pre-training).
    const OPTIMIZER: &'static str;

    /// The pre-training network with fresh weights from `rng`.
    fn new(dev: &Device, rng: &Generator, cfg: &ModelConfig) -> Result<Self>;

    /// The loss to minimise on one batch (on the tape) and the terms to
    /// report, named as in [`Pretraining::LOSSES`].
    fn loss(&self, batch: &Batch, ctx: &StepContext) -> Result<(Tensor, Vec<(&'static str, Tensor)>)>;

    /// Images of the given classes before the adversarial phase (called in
    /// evaluation mode, without a graph).
    fn generate(&self, dev: &Device, labels: &IndexTensor, rng: &Generator) -> Result<Tensor>;

    /// The adversarial players with fresh weights from `rng`.
    fn players(dev: &Device, rng: &Generator, cfg: &ModelConfig) -> Result<GpAdversarial>;

    /// Copy the pre-trained weights into the players.
    fn transfer(&self, players: &GpAdversarial, cfg: &ModelConfig) -> Result<()>;
}

/// Phase 0: pre-training; phase 1: adversarial.
pub struct PretrainedGan<P: Pretraining> {
    cfg: ModelConfig,
    dev: Device,
    /// The pre-training network (autoencoder or VAE); kept, and checkpointed, after pre-training.
    pub pretrained: P,
    opt_pretrained: Adam,
    /// The adversarial players with their optimizers, `None` until the adversarial phase is entered.
    pub gan: Option<AdversarialTraining<GpAdversarial>>,
    phase: usize,
}

impl<P: Pretraining> PretrainedGan<P> {
    /// Validates `cfg` and builds the pre-training network (from `rng`) with Adam on the
    /// config's pre-training settings (`ae_lr`, `ae_beta1`, `ae_beta2`); the players come later.
    pub fn new(dev: &Device, rng: &Generator, cfg: ModelConfig) -> Result<PretrainedGan<P>> {
        cfg.validate()?;
        let pretrained = P::new(dev, rng, &cfg)?;
        let opt_pretrained = Adam::new(&pretrained.parameter_tensors(), cfg.pretraining_adam())?;
        Ok(PretrainedGan {
            cfg,
            dev: dev.clone(),
            pretrained,
            opt_pretrained,
            gan: None,
            phase: 0,
        })
    }
}

impl<P: Pretraining> BalancingModel for PretrainedGan<P> {
    fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    fn phases(&self) -> Vec<Phase> {
        vec![
            Phase {
                name: P::PHASE,
                epochs: self.cfg.ae_epochs,
                losses: P::LOSSES.to_vec(),
            },
            Phase {
                name: "adversarial",
                epochs: self.cfg.gan_epochs,
                losses: <GpAdversarial as super::adversarial::Adversarial>::LOSSES.to_vec(),
            },
        ]
    }

    fn phase(&self) -> usize {
        self.phase
    }

    fn enter_phase(&mut self, phase: usize, data: Option<&Dataset>, ctx: &StepContext) -> Result<()> {
        match phase {
            0 => {}
            1 => {
                let players = P::players(&self.dev, &adversarial_stream(ctx.seed), &self.cfg)?;
                if data.is_some() {
                    self.pretrained.transfer(&players, &self.cfg)?;
                }
                self.gan = Some(AdversarialTraining::new(&self.dev, &self.cfg, players)?);
            }
            _ => return Err(Error::invalid(P::MODEL, format!("there is no phase {phase}"))),
        }
        self.phase = phase;
        Ok(())
    }

    fn train_step(&mut self, batch: &Batch, ctx: &StepContext) -> Result<Vec<(&'static str, Tensor)>> {
        match &mut self.gan {
            Some(gan) if self.phase == 1 => gan.step(batch, ctx),
            _ => {
                let (loss, report) = self.pretrained.loss(batch, ctx)?;
                self.opt_pretrained.minimize(&loss)?;
                Ok(report.into_iter().map(|(n, t)| (n, t.detach())).collect())
            }
        }
    }

    fn sample(&mut self, labels: &[u32], rng: &Generator) -> Result<Tensor> {
        match &self.gan {
            Some(gan) => gan.sample(labels, rng),
            None => evaluating(&self.pretrained, || {
                self.pretrained
                    .generate(&self.dev, &IndexTensor::new(&self.dev, labels)?, rng)
            }),
        }
    }

    fn save(&self, w: &mut CheckpointWriter) -> Result<()> {
        w.add_module(P::CHECKPOINT, &self.pretrained);
        match &self.gan {
            Some(gan) => gan.save(w),
            None => {
                w.add_optimizer(P::OPTIMIZER, &self.pretrained, &self.opt_pretrained)?;
                Ok(())
            }
        }
    }

    fn load(&mut self, c: &Checkpoint) -> Result<()> {
        c.load_module(P::CHECKPOINT, &self.pretrained, true)?;
        match &mut self.gan {
            Some(gan) => gan.load(c),
            None => c.load_optimizer(P::OPTIMIZER, &self.pretrained, &mut self.opt_pretrained),
        }
    }
}
