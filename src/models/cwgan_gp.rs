//! cWGAN-GP, the baseline of BAGAN-GP's paper as its code runs it: the
//! BAGAN-GP generator and conditional critic, untrained, and BAGAN-GP's
//! adversarial phase (sigmoid cross-entropy with the wrong-label term +
//! 10·GP). `cwgan-gp-wasserstein` is a true conditional WGAN-GP on the same
//! networks: Wasserstein critic loss + 10·GP, Adam 1e-4 (β₁ 0, β₂ 0.9).

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
    let loss = if cfg.model == ModelKind::CwganGpWasserstein {
        CriticLoss::Wasserstein
    } else {
        CriticLoss::CrossEntropy
    };
    let players = GpAdversarial::new(
        &cfg,
        ConditionalGenerator::new(dev, rng, &g, false)?,
        ConditionalCritic::new(dev, rng, &g, false, false)?,
        loss,
    )?;
    Gan::new(dev, cfg, players)
}
