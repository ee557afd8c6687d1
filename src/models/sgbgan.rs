//! SGBGAN (Wan, Guo, Wang 2024): an SA-GVAE is trained first; its decoder
//! and label embedding become the generator and its encoder's convolutional
//! layers (GLU and self-attention included) the critic's body; then
//! BAGAN-GP's adversarial phase runs with λ = 5 ([`super::gp_adversarial`]).

use super::blocks::{ConditionalCritic, ConditionalGenerator};
use super::gp_adversarial::{CriticLoss, GpAdversarial};
use super::pretrained_gan::{PretrainedGan, Pretraining};
use super::sa_gvae::{vae_losses, SaGvae, VAE_LOSSES};
use super::{latent_noise, Batch, ModelConfig, StepContext};
use crate::device::Device;
use crate::error::Result;
use crate::nn::{transfer, Module};
use crate::tensor::{Generator, IndexTensor, Tensor};

/// Phase 0: the SA-GVAE (`pretrained`); phase 1: adversarial.
pub type Sgbgan = PretrainedGan<SaGvae>;

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

impl Pretraining for SaGvae {
    const MODEL: &'static str = "SGBGAN";
    const PHASE: &'static str = "sa-gvae";
    const LOSSES: &'static [&'static str] = &VAE_LOSSES;
    const CHECKPOINT: &'static str = "vae";
    const OPTIMIZER: &'static str = "opt_vae";

    fn new(dev: &Device, rng: &Generator, cfg: &ModelConfig) -> Result<SaGvae> {
        SaGvae::new(dev, rng, &cfg.geometry()?)
    }

    fn loss(&self, batch: &Batch, ctx: &StepContext) -> Result<(Tensor, Vec<(&'static str, Tensor)>)> {
        let l = SaGvae::loss(self, batch, ctx.rng)?;
        Ok((l.total.clone(), vae_losses(&l)))
    }

    /// Decoded prior samples z ~ N(0, I).
    fn generate(&self, dev: &Device, labels: &IndexTensor, rng: &Generator) -> Result<Tensor> {
        let z = latent_noise(dev, rng, labels.len(), self.latent())?;
        self.decoder.forward(&self.embedding.apply(&z, labels)?)
    }

    /// The generator and critic with SA-GVAE's GLU and self-attention.
    fn players(dev: &Device, rng: &Generator, cfg: &ModelConfig) -> Result<GpAdversarial> {
        let g = cfg.geometry()?;
        let generator = ConditionalGenerator::new(dev, rng, &g, g.attention)?;
        let critic = ConditionalCritic::new(dev, rng, &g, true, g.attention)?;
        GpAdversarial::new(cfg, generator, critic, CriticLoss::CrossEntropy)
    }

    fn transfer(&self, players: &GpAdversarial, _cfg: &ModelConfig) -> Result<()> {
        transfer_from_vae(self, &players.generator, &players.critic).map(drop)
    }
}
