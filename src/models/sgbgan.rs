//! SGBGAN (Wan, Guo, Wang 2024): an SA-GVAE is trained first; its decoder
//! and label embedding become the generator and its encoder's convolutional
//! layers (GLU and self-attention included) the critic's body; then
//! BAGAN-GP's adversarial phase runs with λ = 5 ([`super::gp_adversarial`]).

use super::blocks::{ConditionalCritic, ConditionalGenerator, Geometry};
use super::gp_adversarial::{CriticLoss, GpAdversarial};
use super::sa_gvae::{vae_losses, SaGvae, VAE_LOSSES};
use super::{adversarial_stream, BalancingModel, Batch, ModelConfig, Phase, StepContext};
use crate::data::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::{transfer, Checkpoint, CheckpointWriter, Module};
use crate::optim::Adam;
use crate::tensor::{Generator, Tensor};

/// Phase 0: the SA-GVAE; phase 1: adversarial.
pub struct Sgbgan {
    cfg: ModelConfig,
    geometry: Geometry,
    dev: Device,
    pub vae: SaGvae,
    opt_vae: Adam,
    pub gan: Option<GpAdversarial>,
    phase: usize,
}

impl Sgbgan {
    pub fn new(dev: &Device, rng: &Generator, cfg: ModelConfig) -> Result<Sgbgan> {
        let geometry = cfg.geometry()?;
        let vae = SaGvae::new(dev, rng, &geometry)?;
        let opt_vae = Adam::new(&vae.parameter_tensors(), cfg.pretraining_adam())?;
        Ok(Sgbgan {
            cfg,
            geometry,
            dev: dev.clone(),
            vae,
            opt_vae,
            gan: None,
            phase: 0,
        })
    }

    /// The generator and critic of the adversarial phase, freshly drawn from
    /// a stream of their own (weights are transferred or loaded over them).
    fn players(&self, seed: u64) -> Result<(ConditionalGenerator, ConditionalCritic)> {
        let rng = adversarial_stream(seed);
        Ok((
            ConditionalGenerator::new(&self.dev, &rng, &self.geometry, true)?,
            ConditionalCritic::new(&self.dev, &rng, &self.geometry, true, true)?,
        ))
    }
}

/// The SA-GVAE → SGBGAN weight transfer: decoder and embedding into the
/// generator, the encoder's convolutional body into the critic. Returns the
/// names written (in the generator, then the critic).
pub fn transfer_from_vae(
    vae: &SaGvae,
    generator: &ConditionalGenerator,
    critic: &ConditionalCritic,
) -> Result<Vec<String>> {
    let mut names = transfer(vae, "embedding", generator, "embedding")?;
    names.extend(transfer(vae, "decoder", generator, "decoder")?);
    let body = transfer(vae, "encoder", critic, "body")?;
    names.extend(body.into_iter().map(|n| format!("critic:{n}")));
    Ok(names)
}

impl BalancingModel for Sgbgan {
    fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    fn phases(&self) -> Vec<Phase> {
        vec![
            Phase {
                name: "sa-gvae",
                epochs: self.cfg.ae_epochs,
                losses: VAE_LOSSES.to_vec(),
            },
            Phase {
                name: "adversarial",
                epochs: self.cfg.gan_epochs,
                losses: GpAdversarial::LOSSES.to_vec(),
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
                let (g, d) = self.players(ctx.seed)?;
                if data.is_some() {
                    transfer_from_vae(&self.vae, &g, &d)?;
                }
                self.gan = Some(GpAdversarial::new(&self.cfg, g, d, CriticLoss::CrossEntropy)?);
            }
            _ => return Err(Error::invalid("SGBGAN", format!("there is no phase {phase}"))),
        }
        self.phase = phase;
        Ok(())
    }

    fn train_step(&mut self, batch: &Batch, ctx: &StepContext) -> Result<Vec<(&'static str, Tensor)>> {
        match &mut self.gan {
            Some(gan) if self.phase == 1 => gan.step(batch, ctx),
            _ => {
                let l = self.vae.loss(batch, ctx.rng)?;
                self.opt_vae.zero_grad();
                l.total.backward()?;
                self.opt_vae.step()?;
                Ok(vae_losses(&l))
            }
        }
    }

    fn sample(&mut self, labels: &[u32], rng: &Generator) -> Result<Tensor> {
        let dev = self.dev.clone();
        match &mut self.gan {
            Some(gan) => gan.sample(&dev, labels, rng),
            None => self.vae.sample(&dev, labels, rng),
        }
    }

    fn save(&self, w: &mut CheckpointWriter) -> Result<()> {
        w.add_module("vae", &self.vae);
        match &self.gan {
            Some(gan) => gan.save(w),
            None => {
                w.add_optimizer("opt_vae", &self.vae, &self.opt_vae)?;
                Ok(())
            }
        }
    }

    fn load(&mut self, c: &Checkpoint) -> Result<()> {
        c.load_module("vae", &self.vae, true)?;
        match &mut self.gan {
            Some(gan) => gan.load(c),
            None => c.load_optimizer("opt_vae", &self.vae, &mut self.opt_vae),
        }
    }
}
