//! BAGAN-GP (Huang & Jafari; public Keras code `GH920/improved-bagan-gp`): a
//! supervised autoencoder (encoder → Dense latent → LeakyReLU, ⊙ e(y),
//! decoder) trained with mean absolute error; its decoder and embedding
//! become the generator, its encoder's convolutions the critic's body (or a
//! fresh body, the code's "cWGAN-like" variant); then the GP adversarial
//! phase with λ = 10 ([`super::gp_adversarial`]).

use super::blocks::{
    ConditionalCritic, ConditionalGenerator, ConvDecoder, ConvEncoder, Geometry, LabelledLatent, SLOPE,
};
use super::gp_adversarial::{CriticLoss, GpAdversarial};
use super::pretrained_gan::{PretrainedGan, Pretraining};
use super::{latent_noise, Batch, CriticInit, ModelConfig, StepContext};
use crate::device::Device;
use crate::error::Result;
use crate::nn::loss::l1;
use crate::nn::{transfer, Flatten, Init, Linear, Module};
use crate::tensor::{Generator, IndexTensor, Tensor};

/// BAGAN-GP's supervised autoencoder. Names: `encoder.*`, `latent.*`,
/// `embedding.*`, `decoder.*`.
pub struct SupervisedAutoencoder {
    /// The convolutional encoder (LeakyReLU, no GLU or attention); transferred to the critic's body
    /// unless `critic_init = random`.
    pub encoder: ConvEncoder,
    /// Dense layer from the flattened features to the latent size, followed by LeakyReLU 0.2.
    pub latent: Linear,
    /// The label embedding the latent code is multiplied with; the generator's after transfer.
    pub embedding: LabelledLatent,
    /// The decoder back to images; the generator's after transfer.
    pub decoder: ConvDecoder,
}

impl SupervisedAutoencoder {
    /// A fresh autoencoder for `g` (BAGAN-GP's initialisers, see [`super::blocks`]).
    pub fn new(dev: &Device, rng: &Generator, g: &Geometry) -> Result<SupervisedAutoencoder> {
        Ok(SupervisedAutoencoder {
            encoder: ConvEncoder::new(dev, rng, g, false, false)?,
            latent: Linear::with_init(dev, rng, g.features(), g.latent, Init::GlorotUniform, Some(Init::Zeros))?,
            embedding: LabelledLatent::new(dev, rng, g)?,
            decoder: ConvDecoder::new(dev, rng, g, false)?,
        })
    }

    /// Reconstruction of `x` conditioned on `labels`, in [−1, 1].
    pub fn reconstruct(&self, x: &Tensor, labels: &IndexTensor) -> Result<Tensor> {
        let h = Flatten.forward(&self.encoder.forward(x)?)?;
        let z = self.latent.forward(&h)?.leaky_relu(SLOPE)?;
        self.decoder.forward(&self.embedding.apply(&z, labels)?)
    }
}

impl Module for SupervisedAutoencoder {
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("encoder".into(), &self.encoder),
            ("latent".into(), &self.latent),
            ("embedding".into(), &self.embedding),
            ("decoder".into(), &self.decoder),
        ]
    }
}

/// Phase 0: the autoencoder (`pretrained`); phase 1: adversarial.
pub type BaganGp = PretrainedGan<SupervisedAutoencoder>;

impl Pretraining for SupervisedAutoencoder {
    const MODEL: &'static str = "BAGAN-GP";
    const PHASE: &'static str = "autoencoder";
    const LOSSES: &'static [&'static str] = &["mae"];
    const CHECKPOINT: &'static str = "autoencoder";
    const OPTIMIZER: &'static str = "opt_ae";

    fn new(dev: &Device, rng: &Generator, cfg: &ModelConfig) -> Result<SupervisedAutoencoder> {
        SupervisedAutoencoder::new(dev, rng, &cfg.geometry()?)
    }

    /// Mean absolute reconstruction error.
    fn loss(&self, batch: &Batch, _ctx: &StepContext) -> Result<(Tensor, Vec<(&'static str, Tensor)>)> {
        let loss = l1(&self.reconstruct(batch.images, batch.labels)?, batch.images)?;
        Ok((loss.clone(), vec![("mae", loss)]))
    }

    /// The decoder on N(0, I) latents.
    fn generate(&self, dev: &Device, labels: &IndexTensor, rng: &Generator) -> Result<Tensor> {
        let z = latent_noise(dev, rng, labels.len(), self.latent.out_features())?;
        self.decoder.forward(&self.embedding.apply(&z, labels)?)
    }

    /// BAGAN-GP's generator and critic (no GLU, no attention).
    fn players(dev: &Device, rng: &Generator, cfg: &ModelConfig) -> Result<GpAdversarial> {
        let g = cfg.geometry()?;
        let generator = ConditionalGenerator::new(dev, rng, &g, false)?;
        let critic = ConditionalCritic::new(dev, rng, &g, false, false)?;
        GpAdversarial::new(cfg, generator, critic, CriticLoss::CrossEntropy)
    }

    /// Decoder and embedding into the generator; the encoder into the
    /// critic's body unless `critic_init = random`.
    fn transfer(&self, players: &GpAdversarial, cfg: &ModelConfig) -> Result<()> {
        transfer(self, "embedding", &players.generator, "embedding")?;
        transfer(self, "decoder", &players.generator, "decoder")?;
        if cfg.critic_init == CriticInit::Encoder {
            transfer(self, "encoder", &players.critic, "body")?;
        }
        Ok(())
    }
}
