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
use super::{adversarial_stream, latent_noise, BalancingModel, Batch, CriticInit, ModelConfig, Phase, StepContext};
use crate::autograd::no_grad;
use crate::data::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::loss::l1;
use crate::nn::{transfer, Checkpoint, CheckpointWriter, Flatten, Init, Linear, Module};
use crate::optim::Adam;
use crate::tensor::{Generator, IndexTensor, Tensor};

/// BAGAN-GP's supervised autoencoder. Names: `encoder.*`, `latent.*`,
/// `embedding.*`, `decoder.*`.
pub struct SupervisedAutoencoder {
    pub encoder: ConvEncoder,
    pub latent: Linear,
    pub embedding: LabelledLatent,
    pub decoder: ConvDecoder,
}

impl SupervisedAutoencoder {
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
    fn forward(&self, _x: &Tensor) -> Result<Tensor> {
        Err(Error::invalid(
            "SupervisedAutoencoder",
            "needs labels: use reconstruct(x, labels)",
        ))
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut p = crate::nn::prefixed("encoder", self.encoder.parameters());
        p.extend(crate::nn::prefixed("latent", self.latent.parameters()));
        p.extend(crate::nn::prefixed("embedding", self.embedding.parameters()));
        p.extend(crate::nn::prefixed("decoder", self.decoder.parameters()));
        p
    }

    fn buffers(&self) -> Vec<(String, Tensor)> {
        crate::nn::prefixed("decoder", self.decoder.buffers())
    }

    fn set_training(&mut self, training: bool) {
        self.decoder.set_training(training);
    }
}

/// Phase 0: the autoencoder; phase 1: adversarial.
pub struct BaganGp {
    cfg: ModelConfig,
    geometry: Geometry,
    dev: Device,
    pub autoencoder: SupervisedAutoencoder,
    opt_ae: Adam,
    pub gan: Option<GpAdversarial>,
    phase: usize,
}

impl BaganGp {
    pub fn new(dev: &Device, rng: &Generator, cfg: ModelConfig) -> Result<BaganGp> {
        let geometry = cfg.geometry()?;
        let autoencoder = SupervisedAutoencoder::new(dev, rng, &geometry)?;
        let opt_ae = Adam::new(&autoencoder.parameter_tensors(), cfg.pretraining_adam())?;
        Ok(BaganGp {
            cfg,
            geometry,
            dev: dev.clone(),
            autoencoder,
            opt_ae,
            gan: None,
            phase: 0,
        })
    }
}

impl BalancingModel for BaganGp {
    fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    fn phases(&self) -> Vec<Phase> {
        vec![
            Phase {
                name: "autoencoder",
                epochs: self.cfg.ae_epochs,
                losses: vec!["mae"],
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
                let rng = adversarial_stream(ctx.seed);
                let g = ConditionalGenerator::new(&self.dev, &rng, &self.geometry, false)?;
                let d = ConditionalCritic::new(&self.dev, &rng, &self.geometry, false, false)?;
                if data.is_some() {
                    transfer(&self.autoencoder, "embedding", &g, "embedding")?;
                    transfer(&self.autoencoder, "decoder", &g, "decoder")?;
                    if self.cfg.critic_init == CriticInit::Encoder {
                        transfer(&self.autoencoder, "encoder", &d, "body")?;
                    }
                }
                self.gan = Some(GpAdversarial::new(&self.cfg, g, d, CriticLoss::CrossEntropy)?);
            }
            _ => return Err(Error::invalid("BAGAN-GP", format!("there is no phase {phase}"))),
        }
        self.phase = phase;
        Ok(())
    }

    fn train_step(&mut self, batch: &Batch, ctx: &StepContext) -> Result<Vec<(&'static str, Tensor)>> {
        match &mut self.gan {
            Some(gan) if self.phase == 1 => gan.step(batch, ctx),
            _ => {
                let loss = l1(&self.autoencoder.reconstruct(batch.images, batch.labels)?, batch.images)?;
                self.opt_ae.zero_grad();
                loss.backward()?;
                self.opt_ae.step()?;
                Ok(vec![("mae", loss.detach())])
            }
        }
    }

    fn sample(&mut self, labels: &[u32], rng: &Generator) -> Result<Tensor> {
        let dev = self.dev.clone();
        if let Some(gan) = &mut self.gan {
            return gan.sample(&dev, labels, rng);
        }
        // Before the adversarial phase: the decoder on N(0, I) latents.
        self.autoencoder.set_training(false);
        let out = no_grad(|| -> Result<Tensor> {
            let y = IndexTensor::new(&dev, labels)?;
            let z = latent_noise(&dev, rng, labels.len(), self.geometry.latent)?;
            self.autoencoder
                .decoder
                .forward(&self.autoencoder.embedding.apply(&z, &y)?)
        });
        self.autoencoder.set_training(true);
        out
    }

    fn save(&self, w: &mut CheckpointWriter) -> Result<()> {
        w.add_module("autoencoder", &self.autoencoder);
        match &self.gan {
            Some(gan) => gan.save(w),
            None => {
                w.add_optimizer("opt_ae", &self.autoencoder, &self.opt_ae)?;
                Ok(())
            }
        }
    }

    fn load(&mut self, c: &Checkpoint) -> Result<()> {
        c.load_module("autoencoder", &self.autoencoder, true)?;
        match &mut self.gan {
            Some(gan) => gan.load(c),
            None => c.load_optimizer("opt_ae", &self.autoencoder, &mut self.opt_ae),
        }
    }
}
