//! C-VAE and S3VAE (Chen et al. 2023): one conditional VAE, two settings.
//!
//! - **Network** ([`ConditionalVae`], L = 5 layers each side, the paper's
//!   Table 7; its layer types are in figures only, so these are ours):
//!   encoder: the image beside K one-hot planes of its class → Conv 3×3 s1
//!   (w/2) → Conv 4×4 s2 (w) → Conv 4×4 s2 (2w), LeakyReLU 0.2 each →
//!   flatten → Linear 8w, LeakyReLU → [Gaussian noise, std σ] → Linear heads
//!   μ and log σ² (latent L); decoder: [z, one-hot] → Linear 8w → Linear
//!   2w·(S/4)², ReLU each → ConvT 4×4 s2 (w) → ConvT 4×4 s2 (w/2), ReLU
//!   each → Conv 3×3 s1 to the image channels → tanh. At w = 64: 32, 64,
//!   128 channels and 512 features, the channel counts of the spec's choice.
//! - **Loss**: K·reconstruction + KL, the reconstruction the squared error
//!   summed over an image, both averaged over the batch; K = 0.1 (Table 7's
//!   "ratio of reconstruction error to KL error"), `recon_weight`.
//! - **S3VAE** = noise σ = 0.1 before the heads, active in training and in
//!   generation, and **single-sample sampling**: the model trains on
//!   `representatives` images per class only, the class medoids in pixel
//!   space ([`super::representatives`]); every step draws its batch from
//!   them (uniformly, host stream of the seed and step), so each VAE
//!   "training uses only one sample" per class, and the noise layer and the
//!   reparameterisation make the variety. Generation encodes the class's
//!   representatives in turn through the noise layer, samples z = μ + σ·ε
//!   and decodes. One conditional network for all classes, where the paper
//!   trains a VAE per sample: with one representative per class and the
//!   class entering encoder and decoder, each class's part of the network
//!   sees only its own sample.
//! - **C-VAE** = σ = 0 and ordinary sampling: the model trains on the
//!   batches of the training data and generates from the prior,
//!   z ~ N(0, I), decoded with the class.
//!
//! The representatives are a buffer of the model (checkpointed), so
//! `generate` and a resumed run use the same ones.

use serde::{Deserialize, Serialize};

use super::representatives::class_medoids;
use super::{latent_noise, BalancingModel, Batch, ModelConfig, ModelKind, Phase, StepContext};
use crate::autograd::no_grad;
use crate::data::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::loss::{gaussian_kl_with, mse_with, one_hot, Reduction};
use crate::nn::{Checkpoint, CheckpointWriter, Conv2d, ConvTranspose2d, Flatten, Init, Linear, Module};
use crate::ops::{Conv2dOptions, ConvTranspose2dOptions};
use crate::optim::{Adam, Optimizer};
use crate::tensor::{Generator, HostRng, IndexTensor, Tensor, GOLDEN_GAMMA};

/// LeakyReLU slope of the encoder.
const SLOPE: f32 = 0.2;
/// Host stream of the representatives each step draws.
const SALT_DRAW: u64 = 53;

/// What a conditional VAE trains on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VaeSampling {
    /// The training data's batches; generation from the prior (C-VAE).
    #[default]
    Ordinary,
    /// Only the class representatives; generation through the encoder from
    /// them (S3VAE).
    SingleSample,
}

impl VaeSampling {
    /// The `vae_sampling` setting's value (`ordinary`, `single-sample`).
    pub fn name(self) -> &'static str {
        match self {
            VaeSampling::Ordinary => "ordinary",
            VaeSampling::SingleSample => "single-sample",
        }
    }
}

/// The network of C-VAE and S3VAE (see the module's documentation).
pub struct ConditionalVae {
    convs: Vec<Conv2d>,
    features: Linear,
    mu: Linear,
    logvar: Linear,
    expand: Linear,
    project: Linear,
    deconvs: Vec<ConvTranspose2d>,
    out: Conv2d,
    /// σ of the noise layer before the heads (0: no layer).
    pub noise_std: f32,
    classes: usize,
    latent: usize,
    /// (channels, side) of the encoder's last map, which the decoder starts from.
    base: (usize, usize),
}

impl ConditionalVae {
    /// A fresh network for `cfg` (Glorot-uniform weights, zero biases); the image side must be
    /// a multiple of 4.
    pub fn new(dev: &Device, rng: &Generator, cfg: &ModelConfig) -> Result<ConditionalVae> {
        if !cfg.image_size.is_multiple_of(4) || cfg.image_size == 0 {
            return Err(Error::invalid(
                cfg.model.title(),
                format!(
                    "the VAE halves its map twice, so the image side must be a multiple of 4 (got {}; try --image-size 28 or 32)",
                    cfg.image_size
                ),
            ));
        }
        let w = cfg.width.max(2);
        let (half, wide, dense) = (w / 2, 2 * w, 8 * w);
        let (c, k) = (cfg.channels, cfg.classes);
        let conv = |cin, cout, kernel, opts| {
            Conv2d::with_init(
                dev,
                rng,
                (cin, cout),
                (kernel, kernel),
                opts,
                Init::GlorotUniform,
                Some(Init::Zeros),
            )
        };
        let keep = Conv2dOptions::new(1, 1);
        let down = Conv2dOptions::new(2, 1);
        let convs = vec![
            conv(c + k, half, 3, keep)?,
            conv(half, w, 4, down)?,
            conv(w, wide, 4, down)?,
        ];
        let base = (wide, cfg.image_size / 4);
        let flat = base.0 * base.1 * base.1;
        let linear = |i, o| Linear::with_init(dev, rng, i, o, Init::GlorotUniform, Some(Init::Zeros));
        let up = ConvTranspose2dOptions::new(2, 1, 0);
        let deconv = |cin, cout| {
            ConvTranspose2d::with_init(
                dev,
                rng,
                (cin, cout),
                (4, 4),
                up,
                Init::GlorotUniform,
                Some(Init::Zeros),
            )
        };
        Ok(ConditionalVae {
            convs,
            features: linear(flat, dense)?,
            mu: linear(dense, cfg.latent)?,
            logvar: linear(dense, cfg.latent)?,
            expand: linear(cfg.latent + k, dense)?,
            project: linear(dense, flat)?,
            deconvs: vec![deconv(wide, w)?, deconv(w, half)?],
            out: conv(half, c, 3, keep)?,
            noise_std: cfg.noise_std,
            classes: k,
            latent: cfg.latent,
            base,
        })
    }

    /// The features the heads read, [B, 8w], with the noise layer applied
    /// (in training and generation alike) when σ > 0.
    pub fn features(&self, x: &Tensor, labels: &IndexTensor, rng: &Generator) -> Result<Tensor> {
        let [b, _, s, _] = x.shape()[..] else {
            return Err(Error::invalid(
                "vae",
                format!("images must be [B, C, S, S], got {:?}", x.shape()),
            ));
        };
        let planes = one_hot(x, labels, self.classes)?
            .reshape(&[b, self.classes, 1, 1])?
            .broadcast_to(&[b, self.classes, s, s])?;
        let mut h = Tensor::concat(&[x, &planes], 1)?;
        for conv in &self.convs {
            h = conv.forward(&h)?.leaky_relu(SLOPE)?;
        }
        let h = self.features.forward(&Flatten.forward(&h)?)?.leaky_relu(SLOPE)?;
        if self.noise_std > 0.0 {
            let noise = rng.normal(x.device(), h.shape(), 0.0, self.noise_std)?;
            return h.add(&noise);
        }
        Ok(h)
    }

    /// μ and log σ² of q(z | x, y), each [B, L].
    pub fn encode(&self, x: &Tensor, labels: &IndexTensor, rng: &Generator) -> Result<(Tensor, Tensor)> {
        let h = self.features(x, labels, rng)?;
        Ok((self.mu.forward(&h)?, self.logvar.forward(&h)?))
    }

    /// z = μ + exp(½·log σ²)·ε.
    pub fn reparameterize(&self, mu: &Tensor, logvar: &Tensor, rng: &Generator) -> Result<Tensor> {
        let eps = latent_noise(mu.device(), rng, mu.shape()[0], self.latent)?;
        mu.add(&logvar.mul_scalar(0.5)?.exp()?.mul(&eps)?)
    }

    /// Images [B, C, S, S] in [−1, 1] of codes `z` [B, L] and classes.
    pub fn decode(&self, z: &Tensor, labels: &IndexTensor) -> Result<Tensor> {
        let b = z.shape()[0];
        let (c, r) = self.base;
        let input = Tensor::concat(&[z, &one_hot(z, labels, self.classes)?], 1)?;
        let h = self.expand.forward(&input)?.relu()?;
        let mut h = self.project.forward(&h)?.relu()?.reshape(&[b, c, r, r])?;
        for d in &self.deconvs {
            h = d.forward(&h)?.relu()?;
        }
        self.out.forward(&h)?.tanh()
    }

    /// (total, reconstruction, KL) of reconstructing `x` of classes
    /// `labels`: K·Σ(x̂ − x)² + KL, each summed per image, batch mean.
    pub fn loss(&self, x: &Tensor, labels: &IndexTensor, rng: &Generator, k: f32) -> Result<(Tensor, Tensor, Tensor)> {
        let (mu, logvar) = self.encode(x, labels, rng)?;
        let z = self.reparameterize(&mu, &logvar, rng)?;
        let recon = mse_with(&self.decode(&z, labels)?, x, Reduction::BatchMean)?;
        let kl = gaussian_kl_with(&mu, &logvar, Reduction::BatchMean)?;
        Ok((recon.mul_scalar(k)?.add(&kl)?, recon, kl))
    }
}

impl Module for ConditionalVae {
    fn children(&self) -> Vec<(String, &dyn Module)> {
        let mut c: Vec<(String, &dyn Module)> = Vec::new();
        for (i, conv) in self.convs.iter().enumerate() {
            c.push((format!("conv{i}"), conv));
        }
        c.push(("features".into(), &self.features));
        c.push(("mu".into(), &self.mu));
        c.push(("logvar".into(), &self.logvar));
        c.push(("expand".into(), &self.expand));
        c.push(("project".into(), &self.project));
        for (i, d) in self.deconvs.iter().enumerate() {
            c.push((format!("deconv{i}"), d));
        }
        c.push(("out".into(), &self.out));
        c
    }
}

/// The class representatives S3VAE trains on, on the device.
struct Representatives {
    /// [K·r, C, S, S], class c's at rows c·r .. (c + 1)·r.
    images: Tensor,
    /// The class of each row, as stored in checkpoints ([K·r], f32).
    labels: Tensor,
    per_class: usize,
}

/// C-VAE or S3VAE as a balancing model: one phase, "vae".
pub struct Cvae {
    cfg: ModelConfig,
    dev: Device,
    /// The conditional VAE (checkpoint prefix `vae`).
    pub vae: ConditionalVae,
    opt: Adam,
    representatives: Option<Representatives>,
}

/// The names a step reports.
pub const LOSSES: [&str; 3] = ["loss", "recon", "kl"];

impl Cvae {
    /// Validates `cfg` (C-VAE or S3VAE only) and builds the network with Adam at `g_lr`,
    /// β (`beta1`, `beta2`); the representatives are chosen on entering the phase.
    pub fn new(dev: &Device, rng: &Generator, cfg: ModelConfig) -> Result<Cvae> {
        cfg.validate()?;
        if !matches!(cfg.model, ModelKind::Cvae | ModelKind::S3vae) {
            return Err(Error::invalid(
                "vae",
                format!("{} is not a conditional VAE", cfg.model.title()),
            ));
        }
        let vae = ConditionalVae::new(dev, rng, &cfg)?;
        let opt = Adam::new(&vae.parameter_tensors(), cfg.adversarial_adam(cfg.g_lr))?;
        Ok(Cvae {
            dev: dev.clone(),
            vae,
            opt,
            representatives: None,
            cfg,
        })
    }

    fn single_sample(&self) -> bool {
        self.cfg.vae_sampling == VaeSampling::SingleSample
    }

    /// The representatives' storage: zeros, filled by [`Cvae::enter_phase`]
    /// from the data or by [`Cvae::load`] from a checkpoint.
    fn empty_representatives(&self) -> Result<Representatives> {
        let (k, r) = (self.cfg.classes, self.cfg.representatives);
        let s = self.cfg.image_size;
        Ok(Representatives {
            images: Tensor::zeros(&self.dev, &[k * r, self.cfg.channels, s, s])?,
            labels: Tensor::zeros(&self.dev, &[k * r])?,
            per_class: r,
        })
    }

    /// The data indices of the representatives, class by class.
    pub fn choose_representatives(&self, data: &Dataset, seed: u64) -> Result<Vec<Vec<usize>>> {
        class_medoids(data, self.cfg.representatives, seed)
    }

    /// Copies of the representatives (images [K·r, C, S, S], labels), `None`
    /// under ordinary sampling.
    pub fn representatives(&self) -> Result<Option<(Vec<f32>, Vec<u32>)>> {
        match &self.representatives {
            Some(r) => Ok(Some((
                r.images.to_vec()?,
                r.labels.to_vec()?.iter().map(|&l| l as u32).collect(),
            ))),
            None => Ok(None),
        }
    }
}

impl BalancingModel for Cvae {
    fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    fn phases(&self) -> Vec<Phase> {
        vec![Phase {
            name: "vae",
            epochs: self.cfg.gan_epochs,
            losses: LOSSES.to_vec(),
        }]
    }

    fn phase(&self) -> usize {
        0
    }

    fn enter_phase(&mut self, phase: usize, data: Option<&Dataset>, ctx: &StepContext) -> Result<()> {
        if phase != 0 {
            return Err(Error::invalid(
                self.cfg.model.title(),
                format!("there is no phase {phase}"),
            ));
        }
        if !self.single_sample() {
            return Ok(());
        }
        let reps = self.empty_representatives()?;
        if let Some(data) = data {
            let chosen = self.choose_representatives(data, ctx.seed)?;
            let flat: Vec<usize> = chosen.iter().flatten().copied().collect();
            reps.images.assign_(&data.to_tensor(&self.dev, &flat)?)?;
            let labels: Vec<f32> = flat.iter().map(|&i| data.labels()[i] as f32).collect();
            reps.labels.assign_slice_(&labels)?;
        }
        self.representatives = Some(reps);
        Ok(())
    }

    fn train_step(&mut self, batch: &Batch, ctx: &StepContext) -> Result<Vec<(&'static str, Tensor)>> {
        let k = self.cfg.recon_weight;
        let (total, recon, kl) = match &self.representatives {
            Some(reps) => {
                // A batch of representatives, drawn uniformly (with repeats).
                let n = reps.images.shape()[0];
                let mut r = HostRng::for_epoch(ctx.seed ^ SALT_DRAW.wrapping_mul(GOLDEN_GAMMA), ctx.step);
                let idx: Vec<u32> = (0..batch.images.shape()[0]).map(|_| r.below(n) as u32).collect();
                let rows = IndexTensor::new(&self.dev, &idx)?;
                let x = reps.images.index_select(0, &rows)?;
                let classes: Vec<u32> = idx
                    .iter()
                    .map(|&i| i / reps.per_class as u32 % self.cfg.classes as u32)
                    .collect();
                let labels = IndexTensor::new(&self.dev, &classes)?;
                self.vae.loss(&x, &labels, ctx.rng, k)?
            }
            None => self.vae.loss(batch.images, batch.labels, ctx.rng, k)?,
        };
        self.opt.minimize(&total)?;
        Ok(vec![
            ("loss", total.detach()),
            ("recon", recon.detach()),
            ("kl", kl.detach()),
        ])
    }

    fn sample(&mut self, labels: &[u32], rng: &Generator) -> Result<Tensor> {
        let y = IndexTensor::new(&self.dev, labels)?;
        no_grad(|| match &self.representatives {
            Some(reps) => {
                // Class c's i-th request encodes its (i mod r)-th representative.
                let mut seen = vec![0usize; self.cfg.classes];
                let rows: Vec<u32> = labels
                    .iter()
                    .map(|&c| {
                        let i = seen[c as usize % self.cfg.classes];
                        seen[c as usize % self.cfg.classes] += 1;
                        (c as usize * reps.per_class + i % reps.per_class) as u32
                    })
                    .collect();
                let x = reps.images.index_select(0, &IndexTensor::new(&self.dev, &rows)?)?;
                let (mu, logvar) = self.vae.encode(&x, &y, rng)?;
                let z = self.vae.reparameterize(&mu, &logvar, rng)?;
                self.vae.decode(&z, &y)
            }
            None => {
                let z = latent_noise(&self.dev, rng, labels.len(), self.cfg.latent)?;
                self.vae.decode(&z, &y)
            }
        })
    }

    fn save(&self, w: &mut CheckpointWriter) -> Result<()> {
        w.add_module("vae", &self.vae)
            .add_optimizer("opt_vae", &self.vae, &self.opt)?;
        if let Some(r) = &self.representatives {
            w.add_tensor("representatives.images", &r.images)
                .add_tensor("representatives.labels", &r.labels);
        }
        Ok(())
    }

    fn load(&mut self, c: &Checkpoint) -> Result<()> {
        c.load_module("vae", &self.vae, true)?;
        c.load_optimizer("opt_vae", &self.vae, &mut self.opt)?;
        if self.single_sample() {
            let reps = match self.representatives.take() {
                Some(r) => r,
                None => self.empty_representatives()?,
            };
            for (key, t) in [
                ("representatives.images", &reps.images),
                ("representatives.labels", &reps.labels),
            ] {
                let (shape, values) = c.values(key).map_err(|_| {
                    Error::invalid(
                        "checkpoint",
                        format!("'{key}' is missing: the checkpoint was not written by a single-sample (S3VAE) run"),
                    )
                })?;
                if shape != t.shape() {
                    return Err(Error::shape(
                        "checkpoint",
                        t.shape(),
                        &shape,
                        "the representatives have another shape",
                    ));
                }
                t.assign_slice_(&values)?;
            }
            self.representatives = Some(reps);
        }
        Ok(())
    }
}
