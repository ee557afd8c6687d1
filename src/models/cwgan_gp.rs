//! cWGAN-GP, the baseline of BAGAN-GP's paper: the BAGAN-GP generator and
//! conditional critic, untrained, with the settings of BAGAN-GP's cWGAN-GP
//! script (3 critic updates on each batch, then a generator update; fakes
//! conditioned on the batch's real labels; Adam 2e-4, β (0.5, 0.9); λ = 10).
//! `cwgan-gp` trains with the Wasserstein critic loss (the conditional
//! WGAN-GP the name says, and the loss the script has commented out);
//! `cwgan-gp-bce` with the sigmoid cross-entropy and wrong-label term the
//! script actually runs. `docs/MODELS.md` lists where balgan differs from
//! the script (no layer norm in the critic, the generator's latent path).

use super::blocks::{ConditionalCritic, ConditionalGenerator};
use super::gan::Gan;
use super::gp_adversarial::{CriticLoss, GpAdversarial};
use super::{ModelConfig, ModelKind};
use crate::device::Device;
use crate::error::Result;
use crate::tensor::Generator;

/// One phase: adversarial.
pub type CwganGp = Gan<GpAdversarial>;

/// `cfg`'s cWGAN-GP (either loss), its weights drawn from `rng`.
pub fn cwgan_gp(dev: &Device, rng: &Generator, cfg: ModelConfig) -> Result<CwganGp> {
    let g = cfg.geometry()?;
    let loss = if cfg.model == ModelKind::CwganGpBce {
        CriticLoss::CrossEntropy
    } else {
        CriticLoss::Wasserstein
    };
    let players = GpAdversarial::new(
        &cfg,
        ConditionalGenerator::new(dev, rng, &g, false)?,
        ConditionalCritic::new(dev, rng, &g, false, false)?,
        loss,
    )?;
    Gan::new(dev, cfg, players)
}
