//! BAGAN (Mariani et al. 2018; public Keras code `IBM/BAGAN`,
//! `balancing_gan.py`): an autoencoder is trained first; the per-class
//! Gaussians of its latent codes become the generator's class-conditional
//! input; its encoder becomes the body of a (K+1)-way discriminator whose
//! class K means "fake"; then one discriminator and one generator step per
//! batch, both with sparse cross-entropy.
//!
//! Layers (as the Keras code builds them, `channels_first`):
//!
//! - Encoder (shared by the autoencoder and D): Conv 3×3 'same' with 32 (s2),
//!   64 (s1), 128 (s2), 256 (s1) channels, then pairs [Conv 256 s2, Conv 256
//!   s1] while the side is above 8; each conv has a bias (Glorot-uniform
//!   weights, zero bias: Keras' `Conv2D` defaults) and is followed by
//!   LeakyReLU 0.3 (Keras' default slope) and Dropout 0.3; then flatten
//!   (NCHW order, as Keras' `Flatten` under `channels_first`).
//! - Autoencoder head: Dense(latent, linear) with a bias (Keras' defaults).
//! - Decoder = generator: Dense 1024 ReLU → Dense 128·r² ReLU (no biases,
//!   Glorot-uniform) → reshape [128, r, r] → per ×2 step: nearest upsampling,
//!   then Conv 5×5 'same' ReLU (256 channels, 128 on the last step) → Conv 2×2
//!   'same' to C channels, tanh. Decoder convs have no bias and Glorot-normal
//!   weights (balgan's `GlorotNormal` is untruncated; Keras draws a truncated
//!   normal rescaled to the same variance).
//! - D: the encoder + Dense(K+1) (Glorot-uniform, zero bias); the softmax is
//!   folded into the cross-entropy, so D returns logits.
//! - Every channel count and dense width above is the code's at the model's
//!   `width` 64 and scales with it (c·width/64, at least 1), as SGBGAN's
//!   layers do: `--preset cpu` (width 8) trains the same network an eighth
//!   as wide.
//!
//! Decisions the paper and code leave open, or where balgan differs:
//!
//! - **Sizes.** Any even side ≥ 8 whose halvings reproduce it: the encoder's
//!   strided convs give ⌈s/2⌉ per step, r is the last side, and the decoder
//!   needs r·2^(strided steps) = S (28 → r 7, 2 steps; 32 → 8, 2; 64 → 8, 3;
//!   16 → 4, 2; 8 → 2, 2). Sizes where that fails (e.g. 36: 18, 9, 5 → 40)
//!   are refused with an error. The Keras code fixes r = min_latent_res = 8
//!   and so only builds 8·2ⁿ; taking r from the encoder extends it to 28×28
//!   as the paper's MNIST runs.
//! - **'same' padding, exactly as Keras/TensorFlow.** For input side n,
//!   kernel k and stride s, the output side is ⌈n/s⌉ and the total padding
//!   max((⌈n/s⌉ − 1)·s + k − n, 0) is split ⌊total/2⌋ before and the rest
//!   after. So 3×3 s1 pads 1/1, 5×5 pads 2/2, but 3×3 s2 on an even side and
//!   the decoder's 2×2 pad 0 before and 1 after (PyTorch's symmetric
//!   padding 1 would shift the sampling grid by one pixel). The convolutions
//!   are [`Conv2d`](crate::nn::Conv2d)s with [`Padding::Same`](crate::nn::Padding::Same).
//! - **The generator is the autoencoder's decoder** (the same layers, as in
//!   the Keras code, where `autoenc_0 = generator(reconstructor(x))`): the
//!   adversarial phase keeps training `autoencoder.decoder.*` with a fresh
//!   Adam (`opt_g`); D's encoder is a copy of the autoencoder's encoder
//!   (`crate::nn::transfer`, `encoder` → `encoder`) with a fresh Dense(K+1)
//!   head drawn from a stream of its own (seed ^ constant).
//! - **Class latents.** On entering the adversarial phase the trained
//!   encoder + latent head run in evaluation mode (Dropout off), without a
//!   graph, in chunks of 256 images, over every training image. Per class c:
//!   μ_c the mean and Σ_c the unbiased covariance (divisor N_c − 1, as
//!   `np.cov`; Σ_c = 0 for a class of one image, where `np.cov` gives NaN),
//!   in f64 on the host. A ridge ρ_c·I with ρ_c = 1e-6·trace(Σ_c)/d (at least
//!   1e-12) is added before the Cholesky factorisation Σ_c + ρ_c·I = L_c·L_cᵀ,
//!   so a class with fewer images than latent dimensions (a minority class)
//!   still factors; if it still fails the ridge grows ×10 up to 10 times.
//!   (numpy's `multivariate_normal` uses an SVD and accepts a singular Σ.)
//!   z for labels y is μ_y + L_y·ε, ε ~ N(0, I) from the device stream. μ and
//!   L are saved as `class_mean` [K, d] and `class_chol` [K, d, d], so a
//!   resumed run and `balgan generate` use the same latents. A class with no
//!   training images is an error naming it.
//! - **Steps.** D: B real images with their labels and ⌈B/K⌉ fakes of
//!   uniformly drawn classes labelled K, one cross-entropy over the B + ⌈B/K⌉
//!   rows (the code concatenates them into one `train_on_batch`). G: B +
//!   ⌈B/K⌉ latents of uniformly drawn classes through D, target = the drawn
//!   class. D is "frozen" for G's step by taking the gradient for the
//!   generator's parameters only; D runs in training mode (Dropout on) in
//!   both steps, as Keras' `train_on_batch` does. Fakes for D's step are made
//!   without a graph (the code's `generator.predict`). Labels come from the
//!   host streams of [`StepContext::uniform_labels`]. `n_critic` (1 for
//!   BAGAN, where both critic schedules are the same) is honoured under
//!   either schedule of [`super::CriticSchedule`].
//! - **Dropout masks** come from one stream per run (the run's seed ^ a
//!   constant, taken from the step context) whose counter is set to step·2³²
//!   at each step, so masks are a function of (seed, step) and a resumed run
//!   draws the same ones.
//! - **Optimisers.** Adam (lr, β1, β2 from the config: 5e-5, 0.5, 0.999) for
//!   the autoencoder (`opt_ae`, phase 0), the generator (`opt_g`) and D
//!   (`opt_d`) (phase 1; the Keras code compiles a fresh Adam per model).
//! - **Sampling** before the adversarial phase decodes N(0, I) latents;
//!   afterwards the class latents. Always in evaluation mode, without a graph.
//! - **Checkpoints.** Phase 0: `autoencoder.*`, `opt_ae`. Phase 1:
//!   `autoencoder.*` (its decoder is the generator), `discriminator.*`,
//!   `opt_g` (keyed by the decoder's names), `opt_d`, `class_mean`,
//!   `class_chol`. Loading is strict.

mod class_latents;
mod networks;

use std::sync::Arc;

use class_latents::class_name;
pub use class_latents::{cholesky, class_gaussians, ClassGaussian, ClassLatents};
pub use networks::{BaganAutoencoder, BaganDecoder, BaganDiscriminator, BaganEncoder, Plan};

use super::{latent_noise, BalancingModel, Batch, ModelConfig, Phase, StepContext};
use crate::autograd::no_grad;
use crate::data::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::loss::{cross_entropy, mse};
use crate::nn::{evaluating, transfer, Checkpoint, CheckpointWriter, Module};
use crate::optim::{Adam, Optimizer};
use crate::tensor::{Generator, IndexTensor, Tensor};

/// LeakyReLU slope of the encoder (Keras' default `alpha`).
pub const SLOPE: f32 = 0.3;
/// Dropout rate after every encoder convolution.
pub const DROPOUT: f32 = 0.3;
/// The encoder adds stride-2 pairs while the side is above this.
pub const MIN_RES: usize = 8;
/// Images per encoder pass when fitting the class latents.
pub const ENCODE_CHUNK: usize = 256;
/// Relative ridge added to each class covariance before Cholesky.
pub const RIDGE: f64 = 1e-6;

const SALT_FAKE: u64 = 0xBA6A_0001;
const SALT_GEN: u64 = 0xBA6A_0002;
const DROPOUT_STREAM: u64 = 0xD80F_0000_BA6A_0000;
const D_STREAM: u64 = 0x5EED_0000_BA6A_0001;

/// BAGAN: phase 0 the autoencoder, phase 1 adversarial.
pub struct Bagan {
    cfg: ModelConfig,
    plan: Plan,
    dev: Device,
    dropout_rng: Arc<Generator>,
    /// The autoencoder; its decoder is the generator, trained on in the adversarial phase.
    pub autoencoder: BaganAutoencoder,
    opt_ae: Adam,
    /// The (K+1)-way discriminator, `None` until the adversarial phase is entered.
    pub discriminator: Option<BaganDiscriminator>,
    opt_g: Option<Adam>,
    opt_d: Option<Adam>,
    /// The per-class latent Gaussians, fitted (or loaded) on entering the adversarial phase.
    pub latents: Option<ClassLatents>,
    phase: usize,
}

impl Bagan {
    /// The model (its parts are public for inspection).
    pub fn new(dev: &Device, rng: &Generator, cfg: ModelConfig) -> Result<Bagan> {
        let plan = Plan::new(&cfg)?;
        let dropout_rng = Arc::new(Generator::new(rng.seed() ^ DROPOUT_STREAM));
        let autoencoder = BaganAutoencoder::new(dev, rng, &plan, &dropout_rng)?;
        let opt_ae = Adam::new(&autoencoder.parameter_tensors(), cfg.pretraining_adam())?;
        Ok(Bagan {
            cfg,
            plan,
            dev: dev.clone(),
            dropout_rng,
            autoencoder,
            opt_ae,
            discriminator: None,
            opt_g: None,
            opt_d: None,
            latents: None,
            phase: 0,
        })
    }

    /// The layer plan the networks were built from.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The class latents of `data` under the current encoder (evaluation
    /// mode, no graph, chunks of [`ENCODE_CHUNK`] images).
    pub fn fit_latents(&mut self, data: &Dataset) -> Result<Vec<ClassGaussian>> {
        let p = &self.plan;
        if data.channels() != p.channels || data.height() != p.size || data.width() != p.size {
            return Err(Error::invalid(
                "BAGAN",
                format!(
                    "the training images are {}×{}×{} but the model is built for {}×{}×{}",
                    data.channels(),
                    data.height(),
                    data.width(),
                    p.channels,
                    p.size,
                    p.size
                ),
            ));
        }
        if data.num_classes() != p.classes {
            return Err(Error::invalid(
                "BAGAN",
                format!(
                    "the data set has {} classes but the model {}",
                    data.num_classes(),
                    p.classes
                ),
            ));
        }
        if let Some(c) = data.class_counts().iter().position(|&n| n == 0) {
            return Err(Error::invalid(
                "BAGAN",
                format!(
                    "{} has no training images: BAGAN's class-conditional latent needs at least one image per class",
                    class_name(data.class_names(), c)
                ),
            ));
        }
        let codes = evaluating(&self.autoencoder, || -> Result<Vec<f32>> {
            let idx: Vec<usize> = (0..data.len()).collect();
            let mut codes = Vec::with_capacity(data.len() * p.latent);
            for chunk in idx.chunks(ENCODE_CHUNK) {
                let x = data.to_tensor(&self.dev, chunk)?;
                codes.extend(self.autoencoder.encode(&x)?.to_vec()?);
            }
            Ok(codes)
        })?;
        class_gaussians(&codes, data.labels(), p.classes, p.latent, data.class_names())
    }

    fn adam(&self, lr: f32, params: &[Tensor]) -> Result<Adam> {
        Adam::new(params, self.cfg.adversarial_adam(lr))
    }

    fn adversarial_step(&mut self, batch: &Batch, ctx: &StepContext) -> Result<Vec<(&'static str, Tensor)>> {
        let (Some(d), Some(opt_g), Some(opt_d)) = (&self.discriminator, &mut self.opt_g, &mut self.opt_d) else {
            return Err(Error::invalid("BAGAN", "the adversarial phase was not entered"));
        };
        let Some(latents) = &self.latents else {
            return Err(Error::invalid(
                "BAGAN",
                "no class latents: enter the adversarial phase with the training data or load a checkpoint",
            ));
        };
        let dev = self.dev.clone();
        let k = self.plan.classes;
        let b = batch.host_labels.len();
        let nf = b.div_ceil(k);
        let generator = &self.autoencoder.decoder;

        // D: B real images with their labels + ⌈B/K⌉ fakes labelled K, once
        // per critic update of this batch (the config's schedule).
        let (critic_updates, generator_turn) = self.cfg.batch_updates(ctx);
        let mut labels = batch.host_labels.to_vec();
        labels.extend(std::iter::repeat_n(k as u32, nf));
        let labels = IndexTensor::new(&dev, &labels)?;
        let mut d_loss = None;
        for i in 0..critic_updates {
            let sub = ctx.critic_update(i);
            let y_f = sub.uniform_labels(nf, k, SALT_FAKE);
            let fake = no_grad(|| generator.forward(&latents.sample(sub.rng, &y_f)?))?;
            let x = Tensor::concat(&[batch.images, &fake], 0)?;
            let loss = cross_entropy(&d.forward(&x)?, &labels)?;
            opt_d.minimize(&loss)?;
            d_loss = Some(loss.detach());
        }
        let mut out: Vec<(&'static str, Tensor)> = d_loss.map(|l| ("d_loss", l)).into_iter().collect();

        // G through the (frozen) D: B + ⌈B/K⌉ latents, target = their class.
        if generator_turn {
            let y_g = ctx.uniform_labels(b + nf, k, SALT_GEN);
            let z = latents.sample(ctx.rng, &y_g)?;
            let g_loss = cross_entropy(&d.forward(&generator.forward(&z)?)?, &IndexTensor::new(&dev, &y_g)?)?;
            opt_g.minimize_own(&g_loss)?;
            out.push(("g_loss", g_loss.detach()));
        }
        Ok(out)
    }
}

impl BalancingModel for Bagan {
    fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    fn phases(&self) -> Vec<Phase> {
        vec![
            Phase {
                name: "autoencoder",
                epochs: self.cfg.ae_epochs,
                losses: vec!["mse"],
            },
            Phase {
                name: "adversarial",
                epochs: self.cfg.gan_epochs,
                losses: vec!["d_loss", "g_loss"],
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
                let rng = Generator::new(ctx.seed ^ D_STREAM);
                let d = BaganDiscriminator::new(&self.dev, &rng, &self.plan, &self.dropout_rng)?;
                let latents = match data {
                    Some(data) => {
                        let g = self.fit_latents(data)?;
                        transfer(&self.autoencoder, "encoder", &d, "encoder")?;
                        Some(ClassLatents::from_gaussians(&self.dev, &g)?)
                    }
                    // Loaded from the checkpoint next.
                    None => None,
                };
                self.opt_g = Some(self.adam(self.cfg.g_lr, &self.autoencoder.decoder.parameter_tensors())?);
                self.opt_d = Some(self.adam(self.cfg.d_lr, &d.parameter_tensors())?);
                self.discriminator = Some(d);
                self.latents = latents;
            }
            _ => return Err(Error::invalid("BAGAN", format!("there is no phase {phase}"))),
        }
        self.phase = phase;
        Ok(())
    }

    fn train_step(&mut self, batch: &Batch, ctx: &StepContext) -> Result<Vec<(&'static str, Tensor)>> {
        // Dropout masks keyed by (seed, step), so a resumed run replays them.
        if self.dropout_rng.seed() != ctx.seed ^ DROPOUT_STREAM {
            self.dropout_rng = Arc::new(Generator::new(ctx.seed ^ DROPOUT_STREAM));
            self.autoencoder.encoder.set_dropout_rng(&self.dropout_rng)?;
            if let Some(d) = &mut self.discriminator {
                d.encoder.set_dropout_rng(&self.dropout_rng)?;
            }
        }
        self.dropout_rng.set_offset(ctx.step << 32);
        if self.phase == 1 {
            return self.adversarial_step(batch, ctx);
        }
        let loss = mse(&self.autoencoder.reconstruct(batch.images)?, batch.images)?;
        self.opt_ae.minimize(&loss)?;
        Ok(vec![("mse", loss.detach())])
    }

    fn sample(&mut self, labels: &[u32], rng: &Generator) -> Result<Tensor> {
        let k = self.plan.classes;
        if let Some(&l) = labels.iter().find(|&&l| l as usize >= k) {
            return Err(Error::invalid(
                "BAGAN",
                format!("label {l} is not below the number of classes ({k})"),
            ));
        }
        let z = match (&self.latents, self.phase) {
            (Some(latents), 1) => latents.sample(rng, labels)?,
            (None, 1) => {
                return Err(Error::invalid(
                    "BAGAN",
                    "no class latents: load a checkpoint of the adversarial phase first",
                ))
            }
            _ => latent_noise(&self.dev, rng, labels.len(), self.plan.latent)?,
        };
        evaluating(&self.autoencoder, || self.autoencoder.decoder.forward(&z))
    }

    fn save(&self, w: &mut CheckpointWriter) -> Result<()> {
        w.add_module("autoencoder", &self.autoencoder);
        if self.phase == 0 {
            w.add_optimizer("opt_ae", &self.autoencoder, &self.opt_ae)?;
            return Ok(());
        }
        let (Some(d), Some(opt_g), Some(opt_d), Some(latents)) =
            (&self.discriminator, &self.opt_g, &self.opt_d, &self.latents)
        else {
            return Err(Error::invalid(
                "BAGAN",
                "nothing to save for the adversarial phase: it was entered without data and not loaded",
            ));
        };
        w.add_module("discriminator", d)
            .add_optimizer("opt_g", &self.autoencoder.decoder, opt_g)?
            .add_optimizer("opt_d", d, opt_d)?
            .add_tensor("class_mean", &latents.mean)
            .add_tensor("class_chol", &latents.chol);
        Ok(())
    }

    fn load(&mut self, c: &Checkpoint) -> Result<()> {
        c.load_module("autoencoder", &self.autoencoder, true)?;
        if self.phase == 0 {
            return c.load_optimizer("opt_ae", &self.autoencoder, &mut self.opt_ae);
        }
        let (Some(d), Some(opt_g), Some(opt_d)) = (&self.discriminator, &mut self.opt_g, &mut self.opt_d) else {
            return Err(Error::invalid("BAGAN", "enter the adversarial phase before loading it"));
        };
        let (k, dim) = (self.plan.classes, self.plan.latent);
        let (ms, mv) = c.values("class_mean")?;
        let (cs, cv) = c.values("class_chol")?;
        if ms != [k, dim] || cs != [k, dim, dim] {
            return Err(Error::invalid(
                "load",
                format!(
                    "{}: class latents have shapes {ms:?} and {cs:?}, the model needs [{k}, {dim}] and [{k}, {dim}, {dim}]",
                    c.path()
                ),
            ));
        }
        c.load_module("discriminator", d, true)?;
        c.load_optimizer("opt_g", &self.autoencoder.decoder, opt_g)?;
        c.load_optimizer("opt_d", d, opt_d)?;
        self.latents = Some(ClassLatents {
            mean: Tensor::from_slice(&self.dev, &mv, &ms)?,
            chol: Tensor::from_slice(&self.dev, &cv, &cs)?,
        });
        Ok(())
    }
}
