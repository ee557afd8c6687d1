//! DCGAN (Radford, Metz & Chintala, ICLR 2016), class-conditional: the
//! papers' "DCGAN" baseline. A per-class unconditional DCGAN is this model
//! trained on one class's images; the conditional form trains one model for
//! all classes, as the other baselines do.
//!
//! - Generator ([`DcganGenerator`]): z ~ N(0, I) of size `latent`, multiplied
//!   element-wise by a label embedding (BAGAN-GP's z ⊙ e(y),
//!   [`LabelledLatent`]) → a projection (Dense, the equivalent of DCGAN's
//!   first 1×1 → r×r transposed convolution) → reshape to [C₀, r, r] → batch
//!   norm → ReLU → transposed convolutions k4 s2 p1 with batch norm and ReLU
//!   → a last transposed convolution to the image channels → tanh. The
//!   widths are BAGAN-GP's decoder widths ([`Geometry::stage_widths`],
//!   reversed), so the two models differ only where DCGAN's recipe does.
//! - Discriminator ([`DcganDiscriminator`]): convolutions k4 s2 p1 with the
//!   widths of [`Geometry::stage_widths`], LeakyReLU 0.2, batch norm on every
//!   convolution but the first → flatten → BAGAN-GP's conditional head
//!   ([`ConditionalHead`]: LeakyReLU(Dense(e(y))) ⊙ features → Dense 512 →
//!   Dense 1), one logit.
//! - Init: N(0, 0.02²) for every convolution and projection weight, batch
//!   norm γ ~ N(1, 0.02²), β = 0 (DCGAN's `weights_init`); no bias where a
//!   batch norm follows (it would cancel), zero biases elsewhere; the head and
//!   the embeddings keep BAGAN-GP's Glorot-uniform and U(−0.05, 0.05).
//! - Loss: the non-saturating GAN loss on logits, with y_f labels drawn
//!   uniformly: D = BCE(D(x, y), 1) + BCE(D(G(z, y_f), y_f), 0) (real and
//!   fake images in separate batches, so separate batch-norm statistics, as
//!   DCGAN's code), G = BCE(D(G(z, y_f), y_f), 1). With the defaults
//!   (n_critic 1) every mini-batch is one discriminator step followed by one
//!   generator step on the same fake batch, scored by the updated
//!   discriminator (PyTorch's DCGAN example); a larger n_critic follows the
//!   config's critic schedule. The generator's gradient
//!   is taken for its parameters only.
//! - Adam 2e-4, β₁ 0.5, β₂ 0.999 for both players (the paper).

use super::adversarial::{Adversarial, CriticStep};
use super::blocks::{ConditionalHead, Geometry, LabelledLatent, SLOPE};
use super::gan::Gan;
use super::{latent_noise, Batch, ModelConfig, StepContext};
use crate::autograd::no_grad;
use crate::device::Device;
use crate::error::Result;
use crate::nn::loss::bce_with_logits_scalar;
use crate::nn::{BatchNorm2d, Conv2d, ConvTranspose2d, Flatten, Init, Linear, Module};
use crate::ops::{Conv2dOptions, ConvTranspose2dOptions};
use crate::tensor::{Generator, IndexTensor, Tensor};

/// Salt of the host stream of fake labels.
const SALT_FAKE: u64 = 11;

/// DCGAN's batch norm: PyTorch's defaults, γ ~ N(1, 0.02²), β = 0.
fn dcgan_norm(dev: &Device, rng: &Generator, channels: usize) -> Result<BatchNorm2d> {
    let bn = BatchNorm2d::pytorch(dev, channels)?;
    if let Some(w) = &bn.weight {
        Init::Normal { mean: 1.0, std: 0.02 }.fill_(w, rng)?;
    }
    Ok(bn)
}

/// The generator: decoder(z ⊙ e(y)), images in [−1, 1].
pub struct DcganGenerator {
    /// The label embedding e(y) the noise is multiplied with (Keras's U(−0.05, 0.05)).
    pub embedding: LabelledLatent,
    project: Linear,
    project_norm: BatchNorm2d,
    deconvs: Vec<ConvTranspose2d>,
    norms: Vec<BatchNorm2d>,
    out: ConvTranspose2d,
    /// (channels, side) of the projected map.
    base: (usize, usize),
}

impl DcganGenerator {
    /// A fresh generator for `g` with DCGAN's initialisation: N(0, 0.02) weights, no biases
    /// before batch norm, a zero bias on the last transposed convolution.
    pub fn new(dev: &Device, rng: &Generator, g: &Geometry) -> Result<DcganGenerator> {
        let mut widths = g.stage_widths();
        widths.reverse();
        let base = (widths[0], g.base_side());
        let embedding = LabelledLatent::new(dev, rng, g)?;
        let project = Linear::with_init(dev, rng, g.latent, base.0 * base.1 * base.1, Init::DCGAN, None)?;
        let project_norm = dcgan_norm(dev, rng, base.0)?;
        let t = ConvTranspose2dOptions::new(2, 1, 0);
        let mut deconvs = Vec::new();
        let mut norms = Vec::new();
        for pair in widths.windows(2) {
            deconvs.push(ConvTranspose2d::with_init(
                dev,
                rng,
                (pair[0], pair[1]),
                (4, 4),
                t,
                Init::DCGAN,
                None,
            )?);
            norms.push(dcgan_norm(dev, rng, pair[1])?);
        }
        let last = *widths.last().unwrap_or(&base.0);
        let out = ConvTranspose2d::with_init(dev, rng, (last, g.channels), (4, 4), t, Init::DCGAN, Some(Init::Zeros))?;
        Ok(DcganGenerator {
            embedding,
            project,
            project_norm,
            deconvs,
            norms,
            out,
            base,
        })
    }

    /// Noise [B, L] and labels \[B\] → images [B, C, S, S] in [−1, 1].
    pub fn generate(&self, z: &Tensor, labels: &IndexTensor) -> Result<Tensor> {
        let b = z.shape()[0];
        let (c, r) = self.base;
        let h = self
            .project
            .forward(&self.embedding.apply(z, labels)?)?
            .reshape(&[b, c, r, r])?;
        let mut h = self.project_norm.forward(&h)?.relu()?;
        for (d, n) in self.deconvs.iter().zip(&self.norms) {
            h = n.forward(&d.forward(&h)?)?.relu()?;
        }
        self.out.forward(&h)?.tanh()
    }
}

impl Module for DcganGenerator {
    fn children(&self) -> Vec<(String, &dyn Module)> {
        let mut c: Vec<(String, &dyn Module)> = vec![
            ("embedding".into(), &self.embedding),
            ("project".into(), &self.project),
            ("project_norm".into(), &self.project_norm),
        ];
        for (i, (d, n)) in self.deconvs.iter().zip(&self.norms).enumerate() {
            c.push((format!("deconv{i}"), d));
            c.push((format!("norm{i}"), n));
        }
        c.push(("out".into(), &self.out));
        c
    }
}

/// The discriminator: strided convolutions (batch norm on all but the first)
/// → flatten → the conditional head, one logit per image.
pub struct DcganDiscriminator {
    convs: Vec<Conv2d>,
    /// `norms[i]` follows `convs[i + 1]`.
    norms: Vec<BatchNorm2d>,
    /// BAGAN-GP's conditional head on the flattened features.
    pub head: ConditionalHead,
}

impl DcganDiscriminator {
    /// A fresh discriminator for `g`: N(0, 0.02) convolutions (a zero bias on the first,
    /// none before batch norm), DCGAN's batch-norm initialisation.
    pub fn new(dev: &Device, rng: &Generator, g: &Geometry) -> Result<DcganDiscriminator> {
        let mut convs = Vec::new();
        let mut norms = Vec::new();
        let mut cin = g.channels;
        for (i, &w) in g.stage_widths().iter().enumerate() {
            let bias = (i == 0).then_some(Init::Zeros);
            convs.push(Conv2d::with_init(
                dev,
                rng,
                (cin, w),
                (4, 4),
                Conv2dOptions::new(2, 1),
                Init::DCGAN,
                bias,
            )?);
            if i > 0 {
                norms.push(dcgan_norm(dev, rng, w)?);
            }
            cin = w;
        }
        Ok(DcganDiscriminator {
            convs,
            norms,
            head: ConditionalHead::new(dev, rng, g)?,
        })
    }

    /// Images [B, C, S, S] with their labels → logits [B, 1].
    pub fn score(&self, x: &Tensor, labels: &IndexTensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, conv) in self.convs.iter().enumerate() {
            h = conv.forward(&h)?;
            if i > 0 {
                h = self.norms[i - 1].forward(&h)?;
            }
            h = h.leaky_relu(SLOPE)?;
        }
        self.head.score(&Flatten.forward(&h)?, labels)
    }
}

impl Module for DcganDiscriminator {
    fn children(&self) -> Vec<(String, &dyn Module)> {
        let mut c: Vec<(String, &dyn Module)> = Vec::new();
        for (i, conv) in self.convs.iter().enumerate() {
            c.push((format!("conv{i}"), conv));
            if i > 0 {
                c.push((format!("norm{i}"), &self.norms[i - 1]));
            }
        }
        c.push(("head".into(), &self.head));
        c
    }
}

/// DCGAN's players and its non-saturating loss.
pub struct DcganAdversarial {
    /// The conditional generator (checkpoint prefix `generator`).
    pub generator: DcganGenerator,
    /// The conditional discriminator (checkpoint prefix `discriminator`).
    pub discriminator: DcganDiscriminator,
    geometry: Geometry,
}

/// The conditional DCGAN: one adversarial phase.
pub type Dcgan = Gan<DcganAdversarial>;

/// `cfg`'s DCGAN, its weights drawn from `rng`.
pub fn dcgan(dev: &Device, rng: &Generator, cfg: ModelConfig) -> Result<Dcgan> {
    cfg.validate()?;
    let geometry = cfg.geometry()?;
    let generator = DcganGenerator::new(dev, rng, &geometry)?;
    let discriminator = DcganDiscriminator::new(dev, rng, &geometry)?;
    Gan::new(
        dev,
        cfg,
        DcganAdversarial {
            generator,
            discriminator,
            geometry,
        },
    )
}

impl DcganAdversarial {
    /// Fresh noise for `labels.len()` images → images.
    fn fakes(&self, dev: &Device, rng: &Generator, labels: &IndexTensor) -> Result<Tensor> {
        let z = latent_noise(dev, rng, labels.len(), self.geometry.latent)?;
        self.generator.generate(&z, labels)
    }
}

impl Adversarial for DcganAdversarial {
    /// The fake batch and its labels, scored again for the generator.
    type Carry = (Tensor, IndexTensor);
    const LOSSES: &'static [&'static str] = &["d_loss", "g_loss"];
    const CRITIC: &'static str = "discriminator";

    fn generator(&self) -> &dyn Module {
        &self.generator
    }

    fn critic(&self) -> &dyn Module {
        &self.discriminator
    }

    fn critic_loss(&self, batch: &Batch, ctx: &StepContext, generator_turn: bool) -> Result<CriticStep<Self::Carry>> {
        let dev = batch.images.device();
        let b = batch.host_labels.len();
        let y_f = IndexTensor::new(dev, &ctx.uniform_labels(b, self.geometry.classes, SALT_FAKE))?;
        // On the tape only when the generator steps on this batch too.
        let fake = if generator_turn {
            self.fakes(dev, ctx.rng, &y_f)?
        } else {
            no_grad(|| self.fakes(dev, ctx.rng, &y_f))?
        };
        let real_term = bce_with_logits_scalar(&self.discriminator.score(batch.images, batch.labels)?, 1.0)?;
        let fake_term = bce_with_logits_scalar(&self.discriminator.score(&fake.detach(), &y_f)?, 0.0)?;
        Ok(CriticStep {
            loss: real_term.add(&fake_term)?,
            terms: Vec::new(),
            carry: (fake, y_f),
        })
    }

    /// The same fake batch, scored by the updated discriminator.
    fn generator_loss(&self, _batch: &Batch, _ctx: &StepContext, (fake, y_f): Self::Carry) -> Result<Tensor> {
        bce_with_logits_scalar(&self.discriminator.score(&fake, &y_f)?, 1.0)
    }

    fn generate(&self, dev: &Device, labels: &IndexTensor, rng: &Generator) -> Result<Tensor> {
        self.fakes(dev, rng, labels)
    }
}
