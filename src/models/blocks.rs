//! The building blocks BAGAN-GP, SGBGAN (with its SA-GVAE) and cWGAN-GP share,
//! after BAGAN-GP's public Keras code (`GH920/improved-bagan-gp`):
//!
//! - [`ConvEncoder`]: k4 s2 p1 convolutions halving the side down to 4×4 (or
//!   the first odd side), each followed by LeakyReLU 0.2, or, for SA-GVAE, a
//!   convolution to twice the channels and a GLU; optionally a SAGAN
//!   self-attention block after the first stage whose side is at most 16.
//! - [`ConvDecoder`]: Dense → LeakyReLU → reshape → transposed convolutions
//!   with batch norm and LeakyReLU 0.2 → a last transposed convolution to the
//!   image channels. It returns the pre-`tanh` logits, so the VAE's
//!   cross-entropy term can use the stable logits form.
//! - [`LabelledLatent`]: a label embedding multiplied element-wise with the
//!   latent vector (BAGAN-GP's "embedding model", SGBGAN's z ⊙ e(y)).
//! - [`ConditionalGenerator`] and [`ConditionalCritic`]: the GAN's two players.
//!
//! The layer widths of a 64×64 model are the paper's (encoder 64, 128, 128,
//! 256; decoder 256 → 128, 128, 64 → C). Other sizes keep the deep end:
//! [`Geometry`] documents the rule.

use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::{BatchNorm2d, Conv2d, ConvTranspose2d, Embedding, Flatten, Init, Linear, Module, SelfAttention};
use crate::ops::{Conv2dOptions, ConvTranspose2dOptions};
use crate::tensor::{Generator, IndexTensor, Tensor};

/// LeakyReLU slope of every BAGAN-GP layer.
pub const SLOPE: f32 = 0.2;

/// The shape of a model's images and its stage plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Image channels C (1 grey, 3 RGB).
    pub channels: usize,
    /// Square side of the images.
    pub size: usize,
    /// Number of classes K (at least 2).
    pub classes: usize,
    /// Size of the latent vector z (and of the label embedding it is multiplied with).
    pub latent: usize,
    /// The first stage's width of a four-stage (64×64) model: the paper's 64.
    /// Every layer scales with it (stages w, 2w, 2w, 4w; the critic head's
    /// hidden layer 8w), so a small `width` is the same architecture, narrower.
    pub width: usize,
    /// Whether the models that have self-attention blocks (SA-GVAE, SGBGAN) use them.
    pub attention: bool,
}

impl Geometry {
    /// Checks the numbers: 1 or 3 channels (any positive count works, but the
    /// grids and exports want 1 or 3), an even side of at least 8, ≥ 2 classes.
    pub fn new(channels: usize, size: usize, classes: usize, latent: usize) -> Result<Geometry> {
        if classes < 2 {
            return Err(Error::invalid(
                "model",
                format!("the data has {classes} class; balancing needs at least 2 (an image folder needs one sub-folder per class)"),
            ));
        }
        if channels == 0 || latent == 0 {
            return Err(Error::invalid(
                "model",
                format!("needs ≥ 1 channel and a latent size ≥ 1 (got {channels} and {latent})"),
            ));
        }
        if size < 8 || !size.is_multiple_of(2) {
            return Err(Error::invalid(
                "model",
                format!("image side {size} is not supported: it must be even and at least 8 (resize with --image-size, e.g. 64)"),
            ));
        }
        Ok(Geometry {
            channels,
            size,
            classes,
            latent,
            width: Geometry::PAPER_WIDTH,
            attention: true,
        })
    }

    /// The width of the papers' models.
    pub const PAPER_WIDTH: usize = 64;

    /// The same geometry with every layer scaled to first-stage width `width` (≥ 1).
    pub fn with_width(mut self, width: usize) -> Result<Geometry> {
        if width == 0 {
            return Err(Error::invalid(
                "width",
                "the layer width must be at least 1 (the paper's is 64)",
            ));
        }
        self.width = width;
        Ok(self)
    }

    /// The same geometry with or without the self-attention blocks.
    pub fn with_attention(mut self, attention: bool) -> Geometry {
        self.attention = attention;
        self
    }

    /// The side after each stride-2 stage: halve while the side is even and
    /// above 4 (64 → 32, 16, 8, 4; 32 → 16, 8, 4; 28 → 14, 7).
    pub fn stage_sides(&self) -> Vec<usize> {
        let mut sides = Vec::new();
        let mut s = self.size;
        while s.is_multiple_of(2) && s > 4 {
            s /= 2;
            sides.push(s);
        }
        sides
    }

    /// Output channels of each stage: BAGAN-GP's 64, 128, 128, 256 for four
    /// stages; fewer stages keep the last ones (28×28: 128, 256), more put 64s
    /// in front. A `width` other than 64 scales them all (width 8 at 28×28:
    /// 16, 32).
    pub fn stage_widths(&self) -> Vec<usize> {
        let w = self.width;
        let base = [w, 2 * w, 2 * w, 4 * w];
        let n = self.stage_sides().len();
        if n <= base.len() {
            base[base.len() - n..].to_vec()
        } else {
            let mut w = vec![w; n - base.len()];
            w.extend(base);
            w
        }
    }

    /// The side of the smallest feature map (4 for 64×64, 7 for 28×28).
    pub fn base_side(&self) -> usize {
        *self.stage_sides().last().unwrap_or(&self.size)
    }

    /// Flattened size of the encoder's output.
    pub fn features(&self) -> usize {
        let w = self.stage_widths();
        w[w.len() - 1] * self.base_side() * self.base_side()
    }

    /// The hidden width of the critic's head (and of its label path): 512 at width 64.
    pub fn head_width(&self) -> usize {
        8 * self.width
    }

    /// Where the self-attention block sits: after the first encoder stage whose
    /// side is at most 16 (16×16 for 64×64 images, as SAGAN); the decoder puts
    /// its block on the feature map of the same side.
    pub fn attention_stage(&self) -> usize {
        let sides = self.stage_sides();
        sides
            .iter()
            .position(|&s| s <= 16)
            .unwrap_or(sides.len().saturating_sub(1))
    }
}

fn conv_options() -> Conv2dOptions {
    Conv2dOptions::new(2, 1)
}

/// The convolutional body of BAGAN-GP's encoder (and of its discriminator).
pub struct ConvEncoder {
    convs: Vec<Conv2d>,
    glu: bool,
    /// (stage after which it runs, block)
    attention: Option<(usize, SelfAttention)>,
}

impl ConvEncoder {
    /// `glu`: each convolution makes twice the channels and a GLU halves them
    /// (SA-GVAE) instead of a LeakyReLU; `attention`: add the self-attention block.
    pub fn new(dev: &Device, rng: &Generator, g: &Geometry, glu: bool, attention: bool) -> Result<ConvEncoder> {
        let widths = g.stage_widths();
        let mut convs = Vec::new();
        let mut cin = g.channels;
        for &w in &widths {
            let cout = if glu { 2 * w } else { w };
            convs.push(Conv2d::with_init(
                dev,
                rng,
                (cin, cout),
                (4, 4),
                conv_options(),
                Init::DCGAN,
                Some(Init::Zeros),
            )?);
            cin = w;
        }
        let attention = if attention {
            let at = g.attention_stage();
            Some((at, SelfAttention::new(dev, rng, widths[at])?))
        } else {
            None
        };
        Ok(ConvEncoder { convs, glu, attention })
    }
}

impl Module for ConvEncoder {
    /// [B, C, S, S] → [B, C_last, r, r].
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, conv) in self.convs.iter().enumerate() {
            h = conv.forward(&h)?;
            h = if self.glu { h.glu(1)? } else { h.leaky_relu(SLOPE)? };
            if let Some((at, block)) = &self.attention {
                if *at == i {
                    h = block.forward(&h)?;
                }
            }
        }
        Ok(h)
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        let mut c: Vec<(String, &dyn Module)> = Vec::new();
        for (i, conv) in self.convs.iter().enumerate() {
            c.push((format!("conv{i}"), conv));
        }
        if let Some((_, a)) = &self.attention {
            c.push(("attention".into(), a));
        }
        c
    }
}

/// BAGAN-GP's decoder (the generator's body).
pub struct ConvDecoder {
    dense: Linear,
    deconvs: Vec<ConvTranspose2d>,
    norms: Vec<BatchNorm2d>,
    out: ConvTranspose2d,
    /// (number of hidden transposed convolutions before it, block)
    attention: Option<(usize, SelfAttention)>,
    base: (usize, usize),
}

impl ConvDecoder {
    /// The decoder for `g`: a Glorot-uniform dense layer to the deepest stage's map, and
    /// N(0, 0.02) transposed convolutions with zero biases back to the image side;
    /// `attention`: add the self-attention block (on the side the encoder's sits).
    pub fn new(dev: &Device, rng: &Generator, g: &Geometry, attention: bool) -> Result<ConvDecoder> {
        let mut widths = g.stage_widths();
        widths.reverse();
        let base = (widths[0], g.base_side());
        let dense = Linear::with_init(
            dev,
            rng,
            g.latent,
            base.0 * base.1 * base.1,
            Init::GlorotUniform,
            Some(Init::Zeros),
        )?;
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
                Some(Init::Zeros),
            )?);
            norms.push(BatchNorm2d::pytorch(dev, pair[1])?);
        }
        let last = *widths.last().unwrap_or(&base.0);
        let out = ConvTranspose2d::with_init(dev, rng, (last, g.channels), (4, 4), t, Init::DCGAN, Some(Init::Zeros))?;
        let attention = if attention {
            // The encoder's block sits on side s_at; the decoder's maps have
            // sides base·2^k, k = hidden transposed convolutions so far.
            let s_at = g.stage_sides()[g.attention_stage()];
            let k = (0..=deconvs.len()).find(|&k| base.1 << k == s_at).unwrap_or(0);
            let channels = if k == 0 { base.0 } else { widths[k] };
            Some((k, SelfAttention::new(dev, rng, channels)?))
        } else {
            None
        };
        Ok(ConvDecoder {
            dense,
            deconvs,
            norms,
            out,
            attention,
            base,
        })
    }

    /// Latent [B, L] → pre-`tanh` logits [B, C, S, S].
    pub fn logits(&self, z: &Tensor) -> Result<Tensor> {
        let b = z.shape()[0];
        let mut h = self
            .dense
            .forward(z)?
            .leaky_relu(SLOPE)?
            .reshape(&[b, self.base.0, self.base.1, self.base.1])?;
        for k in 0..=self.deconvs.len() {
            if let Some((at, block)) = &self.attention {
                if *at == k {
                    h = block.forward(&h)?;
                }
            }
            if k < self.deconvs.len() {
                h = self.norms[k]
                    .forward(&self.deconvs[k].forward(&h)?)?
                    .leaky_relu(SLOPE)?;
            }
        }
        self.out.forward(&h)
    }
}

impl Module for ConvDecoder {
    /// Latent [B, L] → images in [−1, 1].
    fn forward(&self, z: &Tensor) -> Result<Tensor> {
        self.logits(z)?.tanh()
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        let mut c: Vec<(String, &dyn Module)> = vec![("dense".into(), &self.dense)];
        for (i, (d, n)) in self.deconvs.iter().zip(&self.norms).enumerate() {
            c.push((format!("deconv{i}"), d));
            c.push((format!("norm{i}"), n));
        }
        c.push(("out".into(), &self.out));
        if let Some((_, a)) = &self.attention {
            c.push(("attention".into(), a));
        }
        c
    }
}

/// z ⊙ e(y): the latent vector scaled element-wise by the label's embedding.
pub struct LabelledLatent {
    /// Embedding(K, latent): one row e(y) per class.
    pub embedding: Embedding,
}

impl LabelledLatent {
    /// Keras's Embedding initialiser, U(−0.05, 0.05), as BAGAN-GP's code.
    pub fn new(dev: &Device, rng: &Generator, g: &Geometry) -> Result<LabelledLatent> {
        Ok(LabelledLatent {
            embedding: Embedding::with_init(dev, rng, g.classes, g.latent, Init::Uniform { low: -0.05, high: 0.05 })?,
        })
    }

    /// z [B, L] and B labels → z ⊙ e(y) [B, L].
    pub fn apply(&self, z: &Tensor, labels: &IndexTensor) -> Result<Tensor> {
        z.mul(&self.embedding.embed(labels)?)
    }
}

impl Module for LabelledLatent {
    fn parameters(&self) -> Vec<(String, Tensor)> {
        self.embedding.parameters()
    }
}

/// The generator: noise z and labels y → decoder(z ⊙ e(y)), images in [−1, 1].
/// Parameter names `embedding.*` and `decoder.*`, the autoencoders' names, so
/// [`crate::nn::transfer`] maps one onto the other.
pub struct ConditionalGenerator {
    /// The label embedding e(y) (parameters `embedding.*`).
    pub embedding: LabelledLatent,
    /// The decoder from z ⊙ e(y) to images (parameters `decoder.*`).
    pub decoder: ConvDecoder,
}

impl ConditionalGenerator {
    /// A fresh generator for `g`; `attention`: the decoder gets the self-attention block.
    pub fn new(dev: &Device, rng: &Generator, g: &Geometry, attention: bool) -> Result<ConditionalGenerator> {
        Ok(ConditionalGenerator {
            embedding: LabelledLatent::new(dev, rng, g)?,
            decoder: ConvDecoder::new(dev, rng, g, attention)?,
        })
    }

    /// Noise z [B, L] and B labels → images [B, C, S, S] in [−1, 1].
    pub fn generate(&self, z: &Tensor, labels: &IndexTensor) -> Result<Tensor> {
        self.decoder.forward(&self.embedding.apply(z, labels)?)
    }
}

impl Module for ConditionalGenerator {
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![("embedding".into(), &self.embedding), ("decoder".into(), &self.decoder)]
    }
}

/// BAGAN-GP's discriminator head: the label path Embedding(K, 512) → Dense
/// (to the flattened feature size) → LeakyReLU 0.2, multiplied element-wise
/// with the image features, then Dense 512 → Dense 1 (a logit). (512 is
/// [`Geometry::head_width`] at the paper's width.)
pub struct ConditionalHead {
    label: Embedding,
    label_dense: Linear,
    hidden: Linear,
    out: Linear,
}

impl ConditionalHead {
    /// A fresh head for `g`: Glorot-uniform dense layers with zero biases, and Keras's
    /// U(−0.05, 0.05) label embedding.
    pub fn new(dev: &Device, rng: &Generator, g: &Geometry) -> Result<ConditionalHead> {
        let (f, h) = (g.features(), g.head_width());
        let dense = |i, o| Linear::with_init(dev, rng, i, o, Init::GlorotUniform, Some(Init::Zeros));
        Ok(ConditionalHead {
            label: Embedding::with_init(dev, rng, g.classes, h, Init::Uniform { low: -0.05, high: 0.05 })?,
            label_dense: dense(h, f)?,
            hidden: dense(f, h)?,
            out: dense(h, 1)?,
        })
    }

    /// Flattened features [B, F] and labels → logits [B, 1].
    pub fn score(&self, features: &Tensor, labels: &IndexTensor) -> Result<Tensor> {
        let l = self
            .label_dense
            .forward(&self.label.embed(labels)?)?
            .leaky_relu(SLOPE)?;
        self.out.forward(&self.hidden.forward(&features.mul(&l)?)?)
    }
}

impl Module for ConditionalHead {
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("label".into(), &self.label),
            ("label_dense".into(), &self.label_dense),
            ("hidden".into(), &self.hidden),
            ("out".into(), &self.out),
        ]
    }
}

/// The conditional critic: the encoder's convolutional body (`body.*`, from
/// the autoencoder's `encoder.*` when transferred) → flatten → the head.
/// No batch norm anywhere, as the gradient penalty requires.
pub struct ConditionalCritic {
    /// The convolutional body (parameters `body.*`).
    pub body: ConvEncoder,
    /// The label-conditioned head (parameters `head.*`).
    pub head: ConditionalHead,
}

impl ConditionalCritic {
    /// A fresh critic for `g`; `glu` and `attention` shape the body as in [`ConvEncoder::new`]
    /// (SGBGAN's critic takes the SA-GVAE encoder's GLU stages and attention block).
    pub fn new(dev: &Device, rng: &Generator, g: &Geometry, glu: bool, attention: bool) -> Result<ConditionalCritic> {
        Ok(ConditionalCritic {
            body: ConvEncoder::new(dev, rng, g, glu, attention)?,
            head: ConditionalHead::new(dev, rng, g)?,
        })
    }

    /// Images [B, C, S, S] with their labels → logits [B, 1].
    pub fn score(&self, x: &Tensor, labels: &IndexTensor) -> Result<Tensor> {
        self.head.score(&self.features(x)?, labels)
    }

    /// The body's flattened features [B, F] of images [B, C, S, S]: what
    /// [`ConditionalHead::score`] combines with a label. The label enters only
    /// the head, so one image's features serve every label it is scored with.
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        Flatten.forward(&self.body.forward(x)?)
    }
}

impl Module for ConditionalCritic {
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![("body".into(), &self.body), ("head".into(), &self.head)]
    }
}
