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
//!   padding 1 would shift the sampling grid by one pixel). [`SameConv2d`]
//!   appends the extra zero row/column and convolves with the symmetric part.
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

use std::sync::Arc;

use super::{latent_noise, BalancingModel, Batch, ModelConfig, Phase, StepContext};
use crate::autograd::no_grad;
use crate::data::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::loss::{cross_entropy, mse};
use crate::nn::{
    evaluating, transfer, Checkpoint, CheckpointWriter, Conv2d, Dropout, Flatten, Init, Linear, Module,
    UpsampleNearest2d,
};
use crate::ops::Conv2dOptions;
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

/// Keras/TensorFlow 'same' padding of one axis: (before, after) for input
/// side `n`, kernel `k`, stride `s`.
pub fn same_padding(n: usize, k: usize, s: usize) -> (usize, usize) {
    let out = n.div_ceil(s);
    let total = ((out.saturating_sub(1)) * s + k).saturating_sub(n);
    (total / 2, total - total / 2)
}

/// A convolution with Keras' 'same' padding (see the module docs): the extra
/// zero row/column after the input when the padding is odd, then a
/// convolution with the symmetric part.
pub struct SameConv2d {
    pub conv: Conv2d,
    kernel: (usize, usize),
    stride: usize,
}

impl SameConv2d {
    pub fn new(
        dev: &Device,
        rng: &Generator,
        channels: (usize, usize),
        kernel: (usize, usize),
        stride: usize,
        weight: Init,
        bias: Option<Init>,
    ) -> Result<SameConv2d> {
        if stride == 0 {
            return Err(Error::invalid("SameConv2d", "stride must be at least 1"));
        }
        let conv = Conv2d::with_init(dev, rng, channels, kernel, Conv2dOptions::new(stride, 0), weight, bias)?;
        Ok(SameConv2d { conv, kernel, stride })
    }

    /// The output side for an input side (⌈n/s⌉).
    pub fn output_side(&self, n: usize) -> usize {
        n.div_ceil(self.stride)
    }
}

impl Module for SameConv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let &[n, c, h, w] = x.shape() else {
            return Err(Error::invalid(
                "SameConv2d",
                format!("input must be [N, C, H, W], got {:?}", x.shape()),
            ));
        };
        let (bh, ah) = same_padding(h, self.kernel.0, self.stride);
        let (bw, aw) = same_padding(w, self.kernel.1, self.stride);
        let mut x = x.clone();
        if ah > bh {
            x = x.embed(&[n, c, h + ah - bh, w], 2, 0)?;
        }
        if aw > bw {
            let h2 = x.shape()[2];
            x = x.embed(&[n, c, h2, w + aw - bw], 3, 0)?;
        }
        let opts = Conv2dOptions {
            stride: (self.stride, self.stride),
            padding: (bh, bw),
            dilation: (1, 1),
        };
        x.conv2d(&self.conv.weight, self.conv.bias.as_ref(), opts)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        self.conv.parameters()
    }
}

/// The layer plan of a BAGAN for one image geometry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub channels: usize,
    pub size: usize,
    pub classes: usize,
    pub latent: usize,
    /// (output channels, stride) of each encoder convolution.
    pub encoder: Vec<(usize, usize)>,
    /// The side of the encoder's last feature map, where the decoder starts (r).
    pub base: usize,
    /// Output channels of the decoder's 5×5 convolution at each ×2 step.
    pub decoder: Vec<usize>,
}

impl Plan {
    pub fn new(cfg: &ModelConfig) -> Result<Plan> {
        let g = cfg.geometry()?;
        let mut encoder = vec![(32, 2), (64, 1), (128, 2), (256, 1)];
        let mut side = g.size.div_ceil(2).div_ceil(2);
        while side > MIN_RES {
            encoder.push((256, 2));
            encoder.push((256, 1));
            side = side.div_ceil(2);
        }
        let steps = encoder.iter().filter(|&&(_, s)| s == 2).count();
        if side << steps != g.size {
            return Err(Error::invalid(
                "BAGAN",
                format!(
                    "image side {} is not supported: the encoder's {steps} stride-2 layers reduce it to {side}, \
                     and the decoder's {steps} ×2 steps from {side} give {}; use a side r·2^n with r ≤ {MIN_RES} \
                     (e.g. 28, 32 or 64)",
                    g.size,
                    side << steps
                ),
            ));
        }
        let mut decoder = vec![256; steps];
        decoder[steps - 1] = 128;
        Ok(Plan {
            channels: g.channels,
            size: g.size,
            classes: g.classes,
            latent: g.latent,
            encoder,
            base: side,
            decoder,
        })
    }

    /// Flattened size of the encoder's output.
    pub fn features(&self) -> usize {
        256 * self.base * self.base
    }
}

/// The encoder body shared by the autoencoder and D: [B, C, S, S] → [B, 256·r²].
/// Names `conv{i}.weight`, `conv{i}.bias`.
pub struct BaganEncoder {
    convs: Vec<SameConv2d>,
    dropouts: Vec<Dropout>,
}

impl BaganEncoder {
    pub fn new(dev: &Device, rng: &Generator, plan: &Plan, dropout_rng: &Arc<Generator>) -> Result<BaganEncoder> {
        let mut convs = Vec::new();
        let mut dropouts = Vec::new();
        let mut cin = plan.channels;
        for &(cout, stride) in &plan.encoder {
            convs.push(SameConv2d::new(
                dev,
                rng,
                (cin, cout),
                (3, 3),
                stride,
                Init::GlorotUniform,
                Some(Init::Zeros),
            )?);
            dropouts.push(Dropout::new(DROPOUT, dropout_rng.clone())?);
            cin = cout;
        }
        Ok(BaganEncoder { convs, dropouts })
    }

    /// Draw the dropout masks from `rng` from now on (the mode is kept).
    pub fn set_dropout_rng(&mut self, rng: &Arc<Generator>) -> Result<()> {
        for d in &mut self.dropouts {
            let training = d.is_training();
            *d = Dropout::new(DROPOUT, rng.clone())?;
            d.set_training(training);
        }
        Ok(())
    }
}

impl Module for BaganEncoder {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (conv, drop) in self.convs.iter().zip(&self.dropouts) {
            h = drop.forward(&conv.forward(&h)?.leaky_relu(SLOPE)?)?;
        }
        Flatten.forward(&h)
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        let mut c: Vec<(String, &dyn Module)> = Vec::new();
        for (i, (conv, drop)) in self.convs.iter().zip(&self.dropouts).enumerate() {
            c.push((format!("conv{i}"), conv));
            c.push((format!("dropout{i}"), drop));
        }
        c
    }
}

/// The decoder (= the generator): latent [B, d] → images [B, C, S, S] in
/// [−1, 1]. Names `dense0.weight`, `dense1.weight`, `conv{i}.weight`, `out.weight`.
pub struct BaganDecoder {
    dense0: Linear,
    dense1: Linear,
    convs: Vec<SameConv2d>,
    out: SameConv2d,
    base: usize,
    up: UpsampleNearest2d,
}

impl BaganDecoder {
    pub fn new(dev: &Device, rng: &Generator, plan: &Plan) -> Result<BaganDecoder> {
        let r = plan.base;
        let dense0 = Linear::with_init(dev, rng, plan.latent, 1024, Init::GlorotUniform, None)?;
        let dense1 = Linear::with_init(dev, rng, 1024, 128 * r * r, Init::GlorotUniform, None)?;
        let mut convs = Vec::new();
        let mut cin = 128;
        for &cout in &plan.decoder {
            convs.push(SameConv2d::new(
                dev,
                rng,
                (cin, cout),
                (5, 5),
                1,
                Init::GlorotNormal,
                None,
            )?);
            cin = cout;
        }
        let out = SameConv2d::new(dev, rng, (cin, plan.channels), (2, 2), 1, Init::GlorotNormal, None)?;
        Ok(BaganDecoder {
            dense0,
            dense1,
            convs,
            out,
            base: r,
            up: UpsampleNearest2d::new(2)?,
        })
    }
}

impl Module for BaganDecoder {
    fn forward(&self, z: &Tensor) -> Result<Tensor> {
        let b = z.shape()[0];
        let mut h = self
            .dense1
            .forward(&self.dense0.forward(z)?.relu()?)?
            .relu()?
            .reshape(&[b, 128, self.base, self.base])?;
        for conv in &self.convs {
            h = conv.forward(&self.up.forward(&h)?)?.relu()?;
        }
        self.out.forward(&h)?.tanh()
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        let mut c: Vec<(String, &dyn Module)> = vec![("dense0".into(), &self.dense0), ("dense1".into(), &self.dense1)];
        for (i, conv) in self.convs.iter().enumerate() {
            c.push((format!("conv{i}"), conv));
        }
        c.push(("out".into(), &self.out));
        c
    }
}

/// Encoder → Dense(latent) → decoder. Names `encoder.*`, `latent.*`, `decoder.*`.
pub struct BaganAutoencoder {
    pub encoder: BaganEncoder,
    pub latent: Linear,
    pub decoder: BaganDecoder,
}

impl BaganAutoencoder {
    pub fn new(dev: &Device, rng: &Generator, plan: &Plan, dropout_rng: &Arc<Generator>) -> Result<BaganAutoencoder> {
        Ok(BaganAutoencoder {
            encoder: BaganEncoder::new(dev, rng, plan, dropout_rng)?,
            latent: Linear::with_init(
                dev,
                rng,
                plan.features(),
                plan.latent,
                Init::GlorotUniform,
                Some(Init::Zeros),
            )?,
            decoder: BaganDecoder::new(dev, rng, plan)?,
        })
    }

    /// Latent codes [B, d] of images [B, C, S, S] (the code's "reconstructor").
    pub fn encode(&self, x: &Tensor) -> Result<Tensor> {
        self.latent.forward(&self.encoder.forward(x)?)
    }

    /// decoder(encode(x)).
    pub fn reconstruct(&self, x: &Tensor) -> Result<Tensor> {
        self.decoder.forward(&self.encode(x)?)
    }
}

impl Module for BaganAutoencoder {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.reconstruct(x)
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("encoder".into(), &self.encoder),
            ("latent".into(), &self.latent),
            ("decoder".into(), &self.decoder),
        ]
    }
}

/// D: the encoder body → Dense(K+1) logits (index K = fake).
/// Names `encoder.*`, `head.*`.
pub struct BaganDiscriminator {
    pub encoder: BaganEncoder,
    pub head: Linear,
}

impl BaganDiscriminator {
    pub fn new(dev: &Device, rng: &Generator, plan: &Plan, dropout_rng: &Arc<Generator>) -> Result<BaganDiscriminator> {
        Ok(BaganDiscriminator {
            encoder: BaganEncoder::new(dev, rng, plan, dropout_rng)?,
            head: Linear::with_init(
                dev,
                rng,
                plan.features(),
                plan.classes + 1,
                Init::GlorotUniform,
                Some(Init::Zeros),
            )?,
        })
    }
}

impl Module for BaganDiscriminator {
    /// Images [B, C, S, S] → logits [B, K+1].
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.head.forward(&self.encoder.forward(x)?)
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![("encoder".into(), &self.encoder), ("head".into(), &self.head)]
    }
}

/// One class's latent Gaussian, on the host in f64 (row-major d×d matrices).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassGaussian {
    /// Training images of the class.
    pub count: usize,
    pub mean: Vec<f64>,
    /// Unbiased covariance (divisor count − 1; zero for one image).
    pub cov: Vec<f64>,
    /// The ridge ρ added to the diagonal before factorising.
    pub ridge: f64,
    /// Lower-triangular L with L·Lᵀ = cov + ρ·I.
    pub chol: Vec<f64>,
}

/// Lower Cholesky factor of a symmetric d×d matrix, or `None` if it is not
/// positive definite.
pub fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0f64; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(l)
}

fn class_name(names: &[String], c: usize) -> String {
    match names.get(c) {
        Some(n) if !n.is_empty() => format!("class {c} ('{n}')"),
        _ => format!("class {c}"),
    }
}

/// Per-class mean, covariance and Cholesky factor of latent codes `latents`
/// ([N, dim] row-major) with labels in `0..classes`. `names` (may be empty)
/// only label errors. A class without codes is an error naming it.
pub fn class_gaussians(
    latents: &[f32],
    labels: &[u32],
    classes: usize,
    dim: usize,
    names: &[String],
) -> Result<Vec<ClassGaussian>> {
    if dim == 0 || latents.len() != labels.len() * dim {
        return Err(Error::invalid(
            "BAGAN class latents",
            format!(
                "{} values for {} labels of dimension {dim}",
                latents.len(),
                labels.len()
            ),
        ));
    }
    if let Some(&l) = labels.iter().find(|&&l| l as usize >= classes) {
        return Err(Error::invalid(
            "BAGAN class latents",
            format!("label {l} is not below the number of classes ({classes})"),
        ));
    }
    let mut counts = vec![0usize; classes];
    for &l in labels {
        counts[l as usize] += 1;
    }
    if let Some(c) = counts.iter().position(|&n| n == 0) {
        return Err(Error::invalid(
            "BAGAN",
            format!(
                "{} has no training images: BAGAN's class-conditional latent needs the encoder codes of at least \
                 one image per class",
                class_name(names, c)
            ),
        ));
    }
    let mut out = Vec::with_capacity(classes);
    for (c, &n) in counts.iter().enumerate() {
        let rows = || {
            labels
                .iter()
                .zip(latents.chunks_exact(dim))
                .filter(move |(&l, _)| l as usize == c)
                .map(|(_, r)| r)
        };
        let mut mean = vec![0.0f64; dim];
        for r in rows() {
            for (m, &v) in mean.iter_mut().zip(r) {
                *m += v as f64;
            }
        }
        for m in &mut mean {
            *m /= n as f64;
        }
        let mut cov = vec![0.0f64; dim * dim];
        if n > 1 {
            let mut dev = vec![0.0f64; dim];
            for r in rows() {
                for (o, (&v, &m)) in dev.iter_mut().zip(r.iter().zip(&mean)) {
                    *o = v as f64 - m;
                }
                for i in 0..dim {
                    for j in 0..=i {
                        cov[i * dim + j] += dev[i] * dev[j];
                    }
                }
            }
            for i in 0..dim {
                for j in 0..=i {
                    let v = cov[i * dim + j] / (n - 1) as f64;
                    cov[i * dim + j] = v;
                    cov[j * dim + i] = v;
                }
            }
        }
        if cov.iter().chain(&mean).any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "BAGAN",
                format!("the encoder codes of {} are not finite", class_name(names, c)),
            ));
        }
        let trace: f64 = (0..dim).map(|i| cov[i * dim + i]).sum();
        let mut ridge = (RIDGE * trace / dim as f64).max(1e-12);
        let mut chol = None;
        for _ in 0..=10 {
            let mut a = cov.clone();
            for i in 0..dim {
                a[i * dim + i] += ridge;
            }
            chol = cholesky(&a, dim);
            if chol.is_some() {
                break;
            }
            ridge *= 10.0;
        }
        let Some(chol) = chol else {
            return Err(Error::invalid(
                "BAGAN",
                format!(
                    "the latent covariance of {} could not be factorised",
                    class_name(names, c)
                ),
            ));
        };
        out.push(ClassGaussian {
            count: n,
            mean,
            cov,
            ridge,
            chol,
        });
    }
    Ok(out)
}

/// The class-conditional latent on the device: μ [K, d] and L [K, d, d].
pub struct ClassLatents {
    pub mean: Tensor,
    pub chol: Tensor,
}

impl ClassLatents {
    pub fn from_gaussians(dev: &Device, g: &[ClassGaussian]) -> Result<ClassLatents> {
        let k = g.len();
        let d = g.first().map_or(0, |c| c.mean.len());
        if k == 0 || d == 0 || g.iter().any(|c| c.mean.len() != d || c.chol.len() != d * d) {
            return Err(Error::invalid("BAGAN class latents", "inconsistent class Gaussians"));
        }
        let mean: Vec<f32> = g.iter().flat_map(|c| c.mean.iter().map(|&v| v as f32)).collect();
        let chol: Vec<f32> = g.iter().flat_map(|c| c.chol.iter().map(|&v| v as f32)).collect();
        Ok(ClassLatents {
            mean: Tensor::from_slice(dev, &mean, &[k, d])?,
            chol: Tensor::from_slice(dev, &chol, &[k, d, d])?,
        })
    }

    pub fn classes(&self) -> usize {
        self.mean.shape()[0]
    }

    pub fn dim(&self) -> usize {
        self.mean.shape()[1]
    }

    /// z = μ_y + L_y·ε, ε ~ N(0, I) from `rng`: [n, d], no graph.
    pub fn sample(&self, rng: &Generator, labels: &[u32]) -> Result<Tensor> {
        let (k, d) = (self.classes(), self.dim());
        if let Some(&l) = labels.iter().find(|&&l| l as usize >= k) {
            return Err(Error::invalid(
                "BAGAN",
                format!("label {l} is not below the number of classes ({k})"),
            ));
        }
        let dev = self.mean.device();
        let n = labels.len();
        no_grad(|| {
            let y = IndexTensor::new(dev, labels)?;
            let eps = latent_noise(dev, rng, n, d)?.reshape(&[n, d, 1])?;
            let mu = self.mean.index_select(0, &y)?;
            let l = self.chol.index_select(0, &y)?;
            mu.add(&l.matmul(&eps)?.reshape(&[n, d])?)
        })
    }
}

/// BAGAN: phase 0 the autoencoder, phase 1 adversarial.
pub struct Bagan {
    cfg: ModelConfig,
    plan: Plan,
    dev: Device,
    dropout_rng: Arc<Generator>,
    pub autoencoder: BaganAutoencoder,
    opt_ae: Adam,
    pub discriminator: Option<BaganDiscriminator>,
    opt_g: Option<Adam>,
    opt_d: Option<Adam>,
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
