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
//!   DCGAN's code), G = BCE(D(G(z, y_f), y_f), 1). Every mini-batch is one
//!   discriminator step; every `n_critic`-th (1 by default: every batch) is
//!   followed by one generator step on the same fake batch, scored by the
//!   updated discriminator (PyTorch's DCGAN example). The generator's gradient
//!   is taken for its parameters only.
//! - Adam 2e-4, β₁ 0.5, β₂ 0.999 for both players (the paper).

use super::blocks::{ConditionalHead, Geometry, LabelledLatent, SLOPE};
use super::{latent_noise, BalancingModel, Batch, ModelConfig, Phase, StepContext};
use crate::autograd::{grad, no_grad};
use crate::data::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::loss::bce_with_logits_scalar;
use crate::nn::{BatchNorm2d, Checkpoint, CheckpointWriter, Conv2d, ConvTranspose2d, Flatten, Init, Linear, Module};
use crate::ops::{Conv2dOptions, ConvTranspose2dOptions};
use crate::optim::Adam;
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

    /// Noise [B, L] and labels [B] → images [B, C, S, S] in [−1, 1].
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
    fn forward(&self, _x: &Tensor) -> Result<Tensor> {
        Err(Error::invalid(
            "DcganGenerator",
            "needs labels: use generate(z, labels)",
        ))
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut p = crate::nn::prefixed("embedding", self.embedding.parameters());
        p.extend(crate::nn::prefixed("project", self.project.parameters()));
        p.extend(crate::nn::prefixed("project_norm", self.project_norm.parameters()));
        for (i, (d, n)) in self.deconvs.iter().zip(&self.norms).enumerate() {
            p.extend(crate::nn::prefixed(&format!("deconv{i}"), d.parameters()));
            p.extend(crate::nn::prefixed(&format!("norm{i}"), n.parameters()));
        }
        p.extend(crate::nn::prefixed("out", self.out.parameters()));
        p
    }

    fn buffers(&self) -> Vec<(String, Tensor)> {
        let mut b = crate::nn::prefixed("project_norm", self.project_norm.buffers());
        for (i, n) in self.norms.iter().enumerate() {
            b.extend(crate::nn::prefixed(&format!("norm{i}"), n.buffers()));
        }
        b
    }

    fn set_training(&mut self, training: bool) {
        self.project_norm.set_training(training);
        for n in &mut self.norms {
            n.set_training(training);
        }
    }
}

/// The discriminator: strided convolutions (batch norm on all but the first)
/// → flatten → the conditional head, one logit per image.
pub struct DcganDiscriminator {
    convs: Vec<Conv2d>,
    /// `norms[i]` follows `convs[i + 1]`.
    norms: Vec<BatchNorm2d>,
    pub head: ConditionalHead,
}

impl DcganDiscriminator {
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
    fn forward(&self, _x: &Tensor) -> Result<Tensor> {
        Err(Error::invalid(
            "DcganDiscriminator",
            "needs labels: use score(x, labels)",
        ))
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut p = Vec::new();
        for (i, c) in self.convs.iter().enumerate() {
            p.extend(crate::nn::prefixed(&format!("conv{i}"), c.parameters()));
            if i > 0 {
                p.extend(crate::nn::prefixed(&format!("norm{i}"), self.norms[i - 1].parameters()));
            }
        }
        p.extend(crate::nn::prefixed("head", self.head.parameters()));
        p
    }

    fn buffers(&self) -> Vec<(String, Tensor)> {
        let mut b = Vec::new();
        for (i, n) in self.norms.iter().enumerate() {
            b.extend(crate::nn::prefixed(&format!("norm{}", i + 1), n.buffers()));
        }
        b
    }

    fn set_training(&mut self, training: bool) {
        for n in &mut self.norms {
            n.set_training(training);
        }
    }
}

/// The conditional DCGAN: one adversarial phase.
pub struct Dcgan {
    cfg: ModelConfig,
    dev: Device,
    geometry: Geometry,
    pub generator: DcganGenerator,
    pub discriminator: DcganDiscriminator,
    opt_g: Adam,
    opt_d: Adam,
}

impl Dcgan {
    /// The loss names a step reports.
    pub const LOSSES: [&'static str; 2] = ["d_loss", "g_loss"];

    /// The model as [`super::build`] wants it.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(dev: &Device, rng: &Generator, cfg: ModelConfig) -> Result<Box<dyn BalancingModel>> {
        Ok(Box::new(Dcgan::create(dev, rng, cfg)?))
    }

    /// The model itself (its players reachable, e.g. for tests).
    pub fn create(dev: &Device, rng: &Generator, cfg: ModelConfig) -> Result<Dcgan> {
        cfg.validate()?;
        let geometry = cfg.geometry()?;
        let generator = DcganGenerator::new(dev, rng, &geometry)?;
        let discriminator = DcganDiscriminator::new(dev, rng, &geometry)?;
        Ok(Dcgan {
            opt_g: Adam::new(&generator.parameter_tensors(), cfg.adversarial_adam(cfg.g_lr))?,
            opt_d: Adam::new(&discriminator.parameter_tensors(), cfg.adversarial_adam(cfg.d_lr))?,
            cfg,
            dev: dev.clone(),
            geometry,
            generator,
            discriminator,
        })
    }

    /// Fresh noise for `labels.len()` images → images.
    fn fakes(&self, rng: &Generator, labels: &IndexTensor) -> Result<Tensor> {
        let z = latent_noise(&self.dev, rng, labels.len(), self.geometry.latent)?;
        self.generator.generate(&z, labels)
    }
}

impl BalancingModel for Dcgan {
    fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    fn phases(&self) -> Vec<Phase> {
        vec![Phase {
            name: "adversarial",
            epochs: self.cfg.gan_epochs,
            losses: Dcgan::LOSSES.to_vec(),
        }]
    }

    fn phase(&self) -> usize {
        0
    }

    fn enter_phase(&mut self, phase: usize, _data: Option<&Dataset>, _ctx: &StepContext) -> Result<()> {
        if phase != 0 {
            return Err(Error::invalid("DCGAN", format!("there is no phase {phase}")));
        }
        Ok(())
    }

    fn train_step(&mut self, batch: &Batch, ctx: &StepContext) -> Result<Vec<(&'static str, Tensor)>> {
        let b = batch.host_labels.len();
        let g_step = (ctx.phase_step + 1).is_multiple_of(self.cfg.n_critic.max(1) as u64);
        let y_f = IndexTensor::new(&self.dev, &ctx.uniform_labels(b, self.geometry.classes, SALT_FAKE))?;
        // On the tape only when the generator steps on this batch too.
        let fake = if g_step {
            self.fakes(ctx.rng, &y_f)?
        } else {
            no_grad(|| self.fakes(ctx.rng, &y_f))?
        };

        let real_term = bce_with_logits_scalar(&self.discriminator.score(batch.images, batch.labels)?, 1.0)?;
        let fake_term = bce_with_logits_scalar(&self.discriminator.score(&fake.detach(), &y_f)?, 0.0)?;
        let d_loss = real_term.add(&fake_term)?;
        self.opt_d.zero_grad();
        d_loss.backward()?;
        self.opt_d.step()?;
        let mut out = vec![("d_loss", d_loss.detach())];

        if g_step {
            let g_loss = bce_with_logits_scalar(&self.discriminator.score(&fake, &y_f)?, 1.0)?;
            let params = self.generator.parameter_tensors();
            let refs: Vec<&Tensor> = params.iter().collect();
            let grads = grad(&[&g_loss], &refs, false)?;
            for (p, g) in params.iter().zip(grads) {
                p.set_grad(Some(g));
            }
            self.opt_g.step()?;
            out.push(("g_loss", g_loss.detach()));
        }
        Ok(out)
    }

    fn sample(&mut self, labels: &[u32], rng: &Generator) -> Result<Tensor> {
        self.generator.set_training(false);
        let out = no_grad(|| -> Result<Tensor> {
            let y = IndexTensor::new(&self.dev, labels)?;
            self.fakes(rng, &y)
        });
        self.generator.set_training(true);
        out
    }

    fn save(&self, w: &mut CheckpointWriter) -> Result<()> {
        w.add_module("generator", &self.generator)
            .add_module("discriminator", &self.discriminator)
            .add_optimizer("opt_g", &self.generator, &self.opt_g)?
            .add_optimizer("opt_d", &self.discriminator, &self.opt_d)?;
        Ok(())
    }

    fn load(&mut self, c: &Checkpoint) -> Result<()> {
        c.load_module("generator", &self.generator, true)?;
        c.load_module("discriminator", &self.discriminator, true)?;
        c.load_optimizer("opt_g", &self.generator, &mut self.opt_g)?;
        c.load_optimizer("opt_d", &self.discriminator, &mut self.opt_d)?;
        Ok(())
    }
}
