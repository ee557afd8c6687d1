//! SA-GVAE, SGBGAN's pre-training model: BAGAN-GP's supervised autoencoder
//! made variational, with GLU convolutions and a self-attention block in the
//! encoder and a self-attention block in the decoder.
//!
//! encoder (GLU convs + SA) → flatten → μ and log σ² heads (Dense, linear) →
//! z = μ + exp(½·log σ²)·ε, ε ~ N(0, I) → z ⊙ e(y) → decoder (transposed
//! convs with batch norm + SA) → tanh.
//!
//! Loss (paper eq. 10), each term summed over a sample and averaged over the
//! batch: KL(q(z|x) ‖ N(0, I)) + BCE between the input and the reconstruction,
//! both mapped to [0, 1], + squared error between them. With the decoder's
//! logits a, the reconstruction is tanh(a) and (tanh(a) + 1)/2 = σ(2a), so
//! the cross-entropy is taken on the logits 2a (stable, no clipping).

use super::blocks::{ConvDecoder, ConvEncoder, Geometry, LabelledLatent};
use super::{latent_noise, Batch};
use crate::device::Device;
use crate::error::Result;
use crate::nn::loss::{bce_with_logits_with, gaussian_kl, mse_with, Reduction};
use crate::nn::{Flatten, Init, Linear, Module};
use crate::tensor::{Generator, Tensor};

/// The SA-GVAE. Parameter names: `encoder.*`, `mu.*`, `logvar.*`,
/// `embedding.*`, `decoder.*`.
pub struct SaGvae {
    /// GLU convolutions (with the self-attention block when the geometry has attention);
    /// SGBGAN's critic body after transfer.
    pub encoder: ConvEncoder,
    /// Linear head to the posterior mean μ [B, L].
    pub mu: Linear,
    /// Linear head to the posterior log-variance log σ² [B, L].
    pub logvar: Linear,
    /// The label embedding z is multiplied with; the generator's after transfer.
    pub embedding: LabelledLatent,
    /// The decoder (with its self-attention block when enabled); the generator's after transfer.
    pub decoder: ConvDecoder,
    geometry: Geometry,
}

/// The terms of one batch's loss (on the tape).
pub struct VaeLoss {
    /// The loss minimised: `kl + bce + mse`.
    pub total: Tensor,
    /// KL(q(z|x) ‖ N(0, I)), summed over the latent dimensions, averaged over the batch.
    pub kl: Tensor,
    /// Cross-entropy between input and reconstruction mapped to [0, 1], summed per image,
    /// averaged over the batch.
    pub bce: Tensor,
    /// Squared error between input and reconstruction, summed per image, averaged over the batch.
    pub mse: Tensor,
}

impl SaGvae {
    /// A fresh SA-GVAE for `g`: Glorot-uniform μ and log σ² heads with zero biases; attention
    /// blocks in encoder and decoder when `g.attention` is set.
    pub fn new(dev: &Device, rng: &Generator, g: &Geometry) -> Result<SaGvae> {
        let head = || Linear::with_init(dev, rng, g.features(), g.latent, Init::GlorotUniform, Some(Init::Zeros));
        Ok(SaGvae {
            encoder: ConvEncoder::new(dev, rng, g, true, g.attention)?,
            mu: head()?,
            logvar: head()?,
            embedding: LabelledLatent::new(dev, rng, g)?,
            decoder: ConvDecoder::new(dev, rng, g, g.attention)?,
            geometry: *g,
        })
    }

    /// μ and log σ² of q(z | x), each [B, L].
    pub fn encode(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let h = Flatten.forward(&self.encoder.forward(x)?)?;
        Ok((self.mu.forward(&h)?, self.logvar.forward(&h)?))
    }

    /// The loss of reconstructing `batch` with noise ε from `rng`.
    pub fn loss(&self, batch: &Batch, rng: &Generator) -> Result<VaeLoss> {
        let x = batch.images;
        let (mu, logvar) = self.encode(x)?;
        let eps = latent_noise(x.device(), rng, mu.shape()[0], self.geometry.latent)?;
        let z = mu.add(&logvar.mul_scalar(0.5)?.exp()?.mul(&eps)?)?;
        let logits = self.decoder.logits(&self.embedding.apply(&z, batch.labels)?)?;
        let kl = gaussian_kl(&mu, &logvar)?;
        let bce = bce_with_logits_with(&logits.mul_scalar(2.0)?, &x.affine(0.5, 0.5)?, Reduction::BatchMean)?;
        let mse = mse_with(&logits.tanh()?, x, Reduction::BatchMean)?;
        Ok(VaeLoss {
            total: kl.add(&bce)?.add(&mse)?,
            kl,
            bce,
            mse,
        })
    }

    /// The latent size.
    pub fn latent(&self) -> usize {
        self.geometry.latent
    }
}

impl Module for SaGvae {
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("encoder".into(), &self.encoder),
            ("mu".into(), &self.mu),
            ("logvar".into(), &self.logvar),
            ("embedding".into(), &self.embedding),
            ("decoder".into(), &self.decoder),
        ]
    }
}

/// The names a VAE step reports.
pub const VAE_LOSSES: [&str; 4] = ["loss", "kl", "bce", "mse"];

/// The named terms of a VAE step, detached for logging.
pub fn vae_losses(l: &VaeLoss) -> Vec<(&'static str, Tensor)> {
    vec![
        ("loss", l.total.detach()),
        ("kl", l.kl.detach()),
        ("bce", l.bce.detach()),
        ("mse", l.mse.detach()),
    ]
}
