//! ACGAN (Odena, Olah & Shlens 2017) and the models that share its players:
//! CostSensitive-ACGAN (Abdul Halim et al.), and the two-headed LSGAN and
//! WGAN-GP that AGGAN compares against (Hao et al.: "all baselines get the
//! class head too").
//!
//! - Generator ([`AcganGenerator`]): z ~ N(0, I) of size `latent` beside the
//!   class's one-hot vector (CostSensitive-ACGAN's 110-d input at latent 100
//!   and 10 classes) → Linear → ReLU → reshape to [2w, S/4, S/4] → transposed
//!   convolutions 5×5: stride 2 to 2w, stride 2 to w (S/4 → S), stride 1 to
//!   w/2 and w/4, each with ReLU, and a last stride-1 one to the image
//!   channels → tanh. At the paper's width (w = 64) and 28×28 these are the
//!   five transposed convolutions of the CostSensitive-ACGAN table with
//!   channels 128, 64, 32, 16, 1.
//! - Discriminator ([`AcganDiscriminator`]): convolutions 5×5, 3×3, 5×5, 3×3
//!   with w/2, w, w, 2w channels (32, 64, 64, 128 at w = 64), each followed
//!   by LeakyReLU 0.2 and dropout 0.3, valid padding → flatten → two linear
//!   heads: the source (one logit, real against fake) and the class (K
//!   logits). The table prints a 32×32 input for a generator that makes
//!   28×28: balgan pads 28×28 images by 2 pixels of zeros in the first
//!   convolution (what zero-padding them to 32×32 would do), and runs the
//!   table's stride 1 up to 32×32 images; larger images take stride 2 in
//!   every convolution, as the other models halve their maps per stage,
//!   which keeps the heads' input small (64×64: 128·2·2).
//! - Init: N(0, 0.02²) for every weight, zero biases (DCGAN's, which the
//!   ACGAN code follows).
//! - Losses ([`Objective`]), with s the source logit and c the class logits,
//!   y the real labels and y_f the fakes' (drawn uniformly):
//!   - `acgan`: with x̃ = G(z, y_f), D minimises BCE(s(x), 1) +
//!     BCE(s(x̃), 0) + CE(c(x), y) + CE(c(x̃), y_f); G minimises
//!     BCE(s(x̃), 1) + CE(c(x̃), y_f) (the non-saturating form the ACGAN
//!     code runs).
//!   - `lsgan`: the source terms are LSGAN's, ½(s(x) − 1)² + ½s(x̃)² for D and
//!     ½(s(x̃) − 1)² for G, on the linear source output.
//!   - `wgan-gp`: the source terms are Wasserstein, s(x̃) − s(x) for D plus
//!     λ·GP on the source head (x̂ between x and x̃), −s(x̃) for G.
//!   - `wgan`: the original WGAN, the same Wasserstein terms without the
//!     penalty, every critic weight clipped to [−c, c] after each critic
//!     update, both players on RMSprop (lr 5·10⁻⁵, c = 0.01).
//!   - `cs-acgan`: `acgan` with the class terms weighted per class, eq. 2 of
//!     its paper as written: (1/B)·Σ_i w_{y_i}·CE_i (a plain weighted mean;
//!     `nn::loss::cross_entropy_weighted` divides by Σ w_{y_i} instead, which
//!     would cancel the weights in a batch of one class). The weights start
//!     at 1/K and after each epoch become softmax(e), e_c the error of D's
//!     class head on class c's real training images (1 − recall; the paper
//!     does not define the error), see [`class_errors`].

use std::sync::Arc;

use super::adversarial::{Adversarial, CriticStep};
use super::blocks::SLOPE;
use super::{latent_noise, Batch, ModelConfig, ModelKind, StepContext};
use crate::autograd::no_grad;
use crate::data::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::metrics::classification::{argmax_rows, ConfusionMatrix};
use crate::nn::loss::{
    bce_with_logits_scalar, cross_entropy_with, lsgan_discriminator, lsgan_generator, one_hot, wasserstein_critic,
    wasserstein_generator, LsganTargets, Reduction,
};
use crate::nn::{evaluating, gradient_penalty, Conv2d, ConvTranspose2d, Dropout, Flatten, Init, Linear, Module};
use crate::ops::{Conv2dOptions, ConvTranspose2dOptions};
use crate::tensor::{Generator, IndexTensor, Tensor, GOLDEN_GAMMA};

/// Salt of the host stream of fake labels.
const SALT_FAKE: u64 = 23;
/// Dropout rate of the discriminator (the table's 0.3).
const DROPOUT: f32 = 0.3;
/// Largest image side the discriminator runs at stride 1 (the table's 32).
const STRIDE_ONE_MAX: usize = 32;

/// How the source head is trained.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective {
    /// Sigmoid cross-entropy, non-saturating generator loss (ACGAN).
    CrossEntropy,
    /// Least squares on the linear output (LSGAN, a = 0, b = c = 1).
    LeastSquares,
    /// Wasserstein with the gradient penalty of weight λ on the source head.
    WassersteinGp {
        /// Weight λ of the penalty (`gp_weight`; WGAN-GP's 10).
        lambda: f32,
    },
    /// Wasserstein with the critic's weights clipped to [−c, c] after each
    /// critic update (the original WGAN).
    WassersteinClip {
        /// The bound c (`weight_clip`; the original WGAN's 0.01).
        clip: f32,
    },
}

impl Objective {
    /// The objective of a model of this family.
    pub fn of(cfg: &ModelConfig) -> Result<Objective> {
        Ok(match cfg.model {
            ModelKind::Acgan | ModelKind::CsAcgan | ModelKind::Egan | ModelKind::Aggan => Objective::CrossEntropy,
            ModelKind::Lsgan => Objective::LeastSquares,
            ModelKind::WganGp => Objective::WassersteinGp { lambda: cfg.gp_weight },
            ModelKind::Wgan => Objective::WassersteinClip { clip: cfg.weight_clip },
            other => {
                return Err(Error::invalid(
                    "acgan",
                    format!("{} is not a model of the ACGAN family", other.title()),
                ))
            }
        })
    }
}

/// The layer widths of a model of first-stage width `width` (the paper's 64).
fn widths(width: usize) -> [usize; 4] {
    [(width / 4).max(1), (width / 2).max(1), width, 2 * width]
}

/// The generator: [z, onehot(y)] → Linear → transposed convolutions → tanh.
pub struct AcganGenerator {
    project: Linear,
    deconvs: Vec<ConvTranspose2d>,
    out: ConvTranspose2d,
    classes: usize,
    /// (channels, side) of the projected map.
    base: (usize, usize),
}

impl AcganGenerator {
    /// A fresh generator for `cfg` (N(0, 0.02) weights, zero biases); the image side must be
    /// a multiple of 4.
    pub fn new(dev: &Device, rng: &Generator, cfg: &ModelConfig) -> Result<AcganGenerator> {
        if !cfg.image_size.is_multiple_of(4) {
            return Err(Error::invalid(
                "acgan",
                format!(
                    "the ACGAN generator doubles its map twice, so the image side must be a multiple of 4 (got {}; try --image-size 28 or 32)",
                    cfg.image_size
                ),
            ));
        }
        let [quarter, half, w, wide] = widths(cfg.width);
        let base = (wide, cfg.image_size / 4);
        let project = Linear::with_init(
            dev,
            rng,
            cfg.latent + cfg.classes,
            base.0 * base.1 * base.1,
            Init::DCGAN,
            Some(Init::Zeros),
        )?;
        let up = ConvTranspose2dOptions::new(2, 2, 1);
        let keep = ConvTranspose2dOptions::new(1, 2, 0);
        let mut deconvs = Vec::new();
        for (cin, cout, opts) in [(wide, wide, up), (wide, w, up), (w, half, keep), (half, quarter, keep)] {
            deconvs.push(ConvTranspose2d::with_init(
                dev,
                rng,
                (cin, cout),
                (5, 5),
                opts,
                Init::DCGAN,
                Some(Init::Zeros),
            )?);
        }
        let out = ConvTranspose2d::with_init(
            dev,
            rng,
            (quarter, cfg.channels),
            (5, 5),
            keep,
            Init::DCGAN,
            Some(Init::Zeros),
        )?;
        Ok(AcganGenerator {
            project,
            deconvs,
            out,
            classes: cfg.classes,
            base,
        })
    }

    /// Noise [B, L] and labels \[B\] → images [B, C, S, S] in [−1, 1].
    pub fn generate(&self, z: &Tensor, labels: &IndexTensor) -> Result<Tensor> {
        let b = z.shape()[0];
        let (c, r) = self.base;
        let input = Tensor::concat(&[z, &one_hot(z, labels, self.classes)?], 1)?;
        let mut h = self.project.forward(&input)?.relu()?.reshape(&[b, c, r, r])?;
        for d in &self.deconvs {
            h = d.forward(&h)?.relu()?;
        }
        self.out.forward(&h)?.tanh()
    }
}

impl Module for AcganGenerator {
    fn children(&self) -> Vec<(String, &dyn Module)> {
        let mut c: Vec<(String, &dyn Module)> = vec![("project".into(), &self.project)];
        for (i, d) in self.deconvs.iter().enumerate() {
            c.push((format!("deconv{i}"), d));
        }
        c.push(("out".into(), &self.out));
        c
    }
}

/// The discriminator: four convolutions with LeakyReLU and dropout, then the
/// source and class heads.
pub struct AcganDiscriminator {
    convs: Vec<Conv2d>,
    dropouts: Vec<Dropout>,
    source: Linear,
    class: Linear,
    /// w_c of CostSensitive-ACGAN's eq. 2 (`[K]`, constants; a buffer, so
    /// checkpoints keep it), `None` for the unweighted models.
    pub class_weights: Option<Tensor>,
    /// The stream the dropout masks are drawn from (its offset is set per
    /// update, see [`AcganDiscriminator::seek`]).
    dropout_rng: Arc<Generator>,
}

impl AcganDiscriminator {
    /// A fresh discriminator for `cfg` (N(0, 0.02) weights, zero biases), with class weights
    /// 1/K for CostSensitive-ACGAN and a dropout stream of its own, seeded from `rng`'s seed.
    pub fn new(dev: &Device, rng: &Generator, cfg: &ModelConfig) -> Result<AcganDiscriminator> {
        let [_, half, w, wide] = widths(cfg.width);
        let small = cfg.image_size <= STRIDE_ONE_MAX;
        let stride = if small { 1 } else { 2 };
        // 28×28 is padded to the table's 32×32 in the first convolution.
        let pad0 = if small {
            (STRIDE_ONE_MAX.saturating_sub(cfg.image_size)) / 2
        } else {
            0
        };
        let dropout_rng = Arc::new(Generator::new(rng.seed() ^ 0xD50B_0A7E_0000_0003));
        let mut convs = Vec::new();
        let mut dropouts = Vec::new();
        let mut side = cfg.image_size;
        let mut cin = cfg.channels;
        for (i, (cout, k)) in [(half, 5), (w, 3), (w, 5), (wide, 3)].into_iter().enumerate() {
            let pad = if i == 0 { pad0 } else { 0 };
            let padded = side + 2 * pad;
            if padded < k {
                return Err(Error::invalid(
                    "acgan",
                    format!(
                        "image side {} is too small for the discriminator's convolutions",
                        cfg.image_size
                    ),
                ));
            }
            side = (padded - k) / stride + 1;
            convs.push(Conv2d::with_init(
                dev,
                rng,
                (cin, cout),
                (k, k),
                Conv2dOptions::new(stride, pad),
                Init::DCGAN,
                Some(Init::Zeros),
            )?);
            dropouts.push(Dropout::new(DROPOUT, dropout_rng.clone())?);
            cin = cout;
        }
        let features = cin * side * side;
        let source = Linear::with_init(dev, rng, features, 1, Init::DCGAN, Some(Init::Zeros))?;
        let class = Linear::with_init(dev, rng, features, cfg.classes, Init::DCGAN, Some(Init::Zeros))?;
        let class_weights = match cfg.model {
            ModelKind::CsAcgan => Some(Tensor::full(dev, &[cfg.classes], 1.0 / cfg.classes as f32)?),
            _ => None,
        };
        Ok(AcganDiscriminator {
            convs,
            dropouts,
            source,
            class,
            class_weights,
            dropout_rng,
        })
    }

    /// The flattened features of images [B, C, S, S].
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (conv, drop) in self.convs.iter().zip(&self.dropouts) {
            h = drop.forward(&conv.forward(&h)?.leaky_relu(SLOPE)?)?;
        }
        Flatten.forward(&h)
    }

    /// (source logits [B, 1], class logits [B, K]).
    pub fn heads(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let f = self.features(x)?;
        Ok((self.source.forward(&f)?, self.class.forward(&f)?))
    }

    /// Draw this update's dropout masks from a place of the stream that is
    /// a function of the update's context alone, so a resumed run draws what
    /// the uninterrupted one did.
    pub fn seek(&self, ctx: &StepContext, salt: u64) {
        let key = ctx.seed ^ ctx.step.wrapping_mul(GOLDEN_GAMMA) ^ salt.wrapping_mul(0x9E6C_63D0_676A_9A99);
        // splitmix64's finaliser spreads the key over the stream.
        let mut z = key.wrapping_add(GOLDEN_GAMMA);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        self.dropout_rng.set_offset(z ^ (z >> 31));
    }
}

impl Module for AcganDiscriminator {
    fn children(&self) -> Vec<(String, &dyn Module)> {
        let mut c: Vec<(String, &dyn Module)> = Vec::new();
        for (i, (conv, drop)) in self.convs.iter().zip(&self.dropouts).enumerate() {
            c.push((format!("conv{i}"), conv));
            c.push((format!("dropout{i}"), drop));
        }
        c.push(("source".into(), &self.source));
        c.push(("class".into(), &self.class));
        c
    }

    fn buffers(&self) -> Vec<(String, Tensor)> {
        let mut b: Vec<(String, Tensor)> = self
            .children()
            .into_iter()
            .flat_map(|(n, c)| c.buffers().into_iter().map(move |(k, t)| (format!("{n}.{k}"), t)))
            .collect();
        if let Some(w) = &self.class_weights {
            b.push(("class_weights".into(), w.clone()));
        }
        b
    }
}

/// The players and the objective.
pub struct AcganPlayers {
    /// The generator (checkpoint prefix `generator`).
    pub generator: AcganGenerator,
    /// The two-headed discriminator (checkpoint prefix `discriminator`).
    pub discriminator: AcganDiscriminator,
    /// How the source head is trained (the model's [`Objective`]).
    pub objective: Objective,
    classes: usize,
    latent: usize,
    /// CostSensitive-ACGAN: the factor on w in the class terms, 1 (eq. 2 as
    /// written) or K with [`ModelConfig::mean_one_class_weights`].
    class_weight_scale: f32,
}

impl AcganPlayers {
    /// Fresh players for `cfg`, with the objective of `cfg.model` ([`Objective::of`]).
    pub fn new(dev: &Device, rng: &Generator, cfg: &ModelConfig) -> Result<AcganPlayers> {
        Ok(AcganPlayers {
            generator: AcganGenerator::new(dev, rng, cfg)?,
            discriminator: AcganDiscriminator::new(dev, rng, cfg)?,
            objective: Objective::of(cfg)?,
            classes: cfg.classes,
            latent: cfg.latent,
            class_weight_scale: if cfg.mean_one_class_weights {
                cfg.classes as f32
            } else {
                1.0
            },
        })
    }

    /// The class term of a batch: mean cross-entropy, or eq. 2's
    /// (1/B)·Σ_i w_{y_i}·CE_i with class weights.
    pub fn class_loss(&self, logits: &Tensor, labels: &IndexTensor) -> Result<Tensor> {
        match &self.discriminator.class_weights {
            Some(w) if self.class_weight_scale != 1.0 => {
                let scaled = w.mul_scalar(self.class_weight_scale)?;
                cross_entropy_with(logits, labels, Some(&scaled), Reduction::BatchMean)
            }
            Some(w) => cross_entropy_with(logits, labels, Some(w), Reduction::BatchMean),
            None => cross_entropy_with(logits, labels, None, Reduction::Mean),
        }
    }

    /// Fakes of the batch's size with uniform labels (host stream `salt`).
    pub fn fakes(&self, batch: &Batch, ctx: &StepContext, salt: u64) -> Result<(Tensor, IndexTensor)> {
        let dev = batch.images.device();
        let b = batch.images.shape()[0];
        let labels = IndexTensor::new(dev, &ctx.uniform_labels(b, self.classes, salt))?;
        let z = latent_noise(dev, ctx.rng, b, self.latent)?;
        Ok((self.generator.generate(&z, &labels)?, labels))
    }
}

impl Adversarial for AcganPlayers {
    type Carry = ();

    const LOSSES: &'static [&'static str] = &["d_loss", "d_class", "g_loss"];
    const GENERATOR: &'static str = "generator";
    const CRITIC: &'static str = "discriminator";

    fn generator(&self) -> &dyn Module {
        &self.generator
    }

    fn critic(&self) -> &dyn Module {
        &self.discriminator
    }

    fn critic_loss(&self, batch: &Batch, ctx: &StepContext, _generator_turn: bool) -> Result<CriticStep<()>> {
        let d = &self.discriminator;
        d.seek(ctx, 1);
        let (fake, fake_labels) = no_grad(|| self.fakes(batch, ctx, SALT_FAKE))?;
        let (s_real, c_real) = d.heads(batch.images)?;
        let (s_fake, c_fake) = d.heads(&fake)?;
        let source = match self.objective {
            Objective::CrossEntropy => {
                bce_with_logits_scalar(&s_real, 1.0)?.add(&bce_with_logits_scalar(&s_fake, 0.0)?)?
            }
            Objective::LeastSquares => lsgan_discriminator(&s_real, &s_fake, LsganTargets::default())?,
            Objective::WassersteinGp { lambda } => {
                let gp = gradient_penalty(|x| Ok(d.heads(x)?.0), batch.images, &fake, lambda, ctx.rng)?;
                wasserstein_critic(&s_real, &s_fake)?.add(&gp)?
            }
            Objective::WassersteinClip { .. } => wasserstein_critic(&s_real, &s_fake)?,
        };
        let class = self
            .class_loss(&c_real, batch.labels)?
            .add(&self.class_loss(&c_fake, &fake_labels)?)?;
        Ok(CriticStep {
            loss: source.add(&class)?,
            terms: vec![("d_class", class.detach())],
            carry: (),
        })
    }

    fn generator_loss(&self, batch: &Batch, ctx: &StepContext, _carry: ()) -> Result<Tensor> {
        self.discriminator.seek(ctx, 2);
        let (fake, labels) = self.fakes(batch, ctx, SALT_FAKE ^ 1)?;
        let (s, c) = self.discriminator.heads(&fake)?;
        let source = match self.objective {
            Objective::CrossEntropy => bce_with_logits_scalar(&s, 1.0)?,
            Objective::LeastSquares => lsgan_generator(&s, LsganTargets::default())?,
            Objective::WassersteinGp { .. } | Objective::WassersteinClip { .. } => wasserstein_generator(&s)?,
        };
        source.add(&self.class_loss(&c, &labels)?)
    }

    fn generate(&self, dev: &Device, labels: &IndexTensor, rng: &Generator) -> Result<Tensor> {
        let z = latent_noise(dev, rng, labels.shape()[0], self.latent)?;
        self.generator.generate(&z, labels)
    }

    /// The original WGAN: every critic weight back into [−c, c].
    fn after_critic_update(&self) -> Result<()> {
        let Objective::WassersteinClip { clip } = self.objective else {
            return Ok(());
        };
        no_grad(|| {
            for p in self.discriminator.parameter_tensors() {
                let dev = p.device();
                let low = Tensor::full(dev, &[1], -clip)?;
                let high = Tensor::full(dev, &[1], clip)?;
                p.assign_(&p.detach().maximum(&low)?.minimum(&high)?)?;
            }
            Ok(())
        })
    }

    /// CostSensitive-ACGAN's epoch end: the class head's error on each
    /// class's real training images (dropout off), then w = softmax(errors).
    /// Logs `w{c}` and `error{c}` per class.
    fn end_epoch(&self, dev: &Device, data: &Dataset) -> Result<Vec<(String, f64)>> {
        let Some(weights) = &self.discriminator.class_weights else {
            return Ok(Vec::new());
        };
        let k = self.classes;
        let n = data.len();
        let mut predicted = Vec::with_capacity(n);
        evaluating(&self.discriminator, || {
            for start in (0..n).step_by(ERROR_BATCH) {
                let idx: Vec<usize> = (start..(start + ERROR_BATCH).min(n)).collect();
                let (_, logits) = self.discriminator.heads(&data.to_tensor(dev, &idx)?)?;
                predicted.extend(argmax_rows(&logits.to_vec()?, k));
            }
            Ok(())
        })?;
        let errors = class_errors(&predicted, data.labels(), k)?;
        let w = cost_sensitive_weights(&errors);
        weights.assign_slice_(&w.iter().map(|&x| x as f32).collect::<Vec<_>>())?;
        let mut out: Vec<(String, f64)> = w.iter().enumerate().map(|(c, &x)| (format!("w{c}"), x)).collect();
        out.extend(errors.iter().enumerate().map(|(c, &e)| (format!("error{c}"), e)));
        Ok(out)
    }
}

/// Images per forward pass when measuring the class head's errors.
const ERROR_BATCH: usize = 256;

/// Per class, the error of D's class head on that class's images: 1 − the
/// class's recall (`predicted` against `labels`, host vectors of one
/// length). A class without images has error 0 (nothing to get wrong).
/// Errors when the lengths differ or a class is ≥ `classes`.
pub fn class_errors(predicted: &[u32], labels: &[u32], classes: usize) -> Result<Vec<f64>> {
    let cm = ConfusionMatrix::from_predictions(labels, predicted, classes)?;
    Ok((0..classes)
        .map(|c| if cm.support(c) == 0 { 0.0 } else { 1.0 - cm.recall(c) })
        .collect())
}

/// CostSensitive-ACGAN's update: w = softmax(errors).
pub fn cost_sensitive_weights(errors: &[f64]) -> Vec<f64> {
    let max = errors.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let exp: Vec<f64> = errors.iter().map(|e| (e - max).exp()).collect();
    let sum: f64 = exp.iter().sum();
    exp.iter().map(|e| e / sum).collect()
}
