//! Which type implements which [`ModelKind`]: the one place that names every
//! model, so the model files do not import one another or this module.

use super::acgan::AcganPlayers;
use super::bagan::Bagan;
use super::bagan_gp::BaganGp;
use super::cvae::Cvae;
use super::cwgan_gp::cwgan_gp;
use super::dcgan::dcgan;
use super::evolutionary::Evolving;
use super::gan::Gan;
use super::sgbgan::Sgbgan;
use super::{BalancingModel, ModelConfig, ModelKind};
use crate::device::Device;
use crate::error::Result;
use crate::tensor::Generator;

/// Build `cfg`'s model on `dev`, its weights drawn from `seed`.
pub fn build(dev: &Device, cfg: &ModelConfig, seed: u64) -> Result<Box<dyn BalancingModel>> {
    cfg.validate()?;
    let rng = Generator::new(seed);
    let cfg = cfg.clone();
    Ok(match cfg.model {
        ModelKind::Sgbgan => Box::new(Sgbgan::new(dev, &rng, cfg)?),
        ModelKind::BaganGp => Box::new(BaganGp::new(dev, &rng, cfg)?),
        ModelKind::CwganGp | ModelKind::CwganGpBce => Box::new(cwgan_gp(dev, &rng, cfg)?),
        ModelKind::Bagan => Box::new(Bagan::new(dev, &rng, cfg)?),
        ModelKind::Dcgan => Box::new(dcgan(dev, &rng, cfg)?),
        ModelKind::Acgan | ModelKind::CsAcgan | ModelKind::Lsgan | ModelKind::WganGp | ModelKind::Wgan => {
            let players = AcganPlayers::new(dev, &rng, &cfg)?;
            Box::new(Gan::new(dev, cfg, players)?)
        }
        ModelKind::Cvae | ModelKind::S3vae => Box::new(Cvae::new(dev, &rng, cfg)?),
        ModelKind::Egan | ModelKind::Aggan => {
            let players = Evolving::new(dev, &rng, &cfg)?;
            Box::new(Gan::new(dev, cfg, players)?)
        }
    })
}
