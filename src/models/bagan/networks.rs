//! BAGAN's layers as its Keras code builds them (see the module docs of
//! [`super`]): the layer plan of an image geometry, the encoder shared by the
//! autoencoder and the discriminator, the decoder that is the generator, and
//! the two models built from them.

use std::sync::Arc;

use super::{DROPOUT, MIN_RES, SLOPE};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::models::Geometry;
use crate::models::ModelConfig;
use crate::nn::{Conv2d, Dropout, Flatten, Init, Linear, Module, UpsampleNearest2d};
use crate::tensor::{Generator, Tensor};

/// The layer plan of a BAGAN for one image geometry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Image channels C.
    pub channels: usize,
    /// Square side S of the images.
    pub size: usize,
    /// Number of classes K (D has K + 1 outputs).
    pub classes: usize,
    /// Size d of the autoencoder's latent code (BAGAN's code: 100).
    pub latent: usize,
    /// (output channels, stride) of each encoder convolution.
    pub encoder: Vec<(usize, usize)>,
    /// The side of the encoder's last feature map, where the decoder starts (r).
    pub base: usize,
    /// Output channels of the decoder's 5×5 convolution at each ×2 step.
    pub decoder: Vec<usize>,
    /// Units of the decoder's first dense layer (BAGAN's code: 1024).
    pub dense: usize,
    /// Channels of the map the decoder reshapes its second dense layer to
    /// (BAGAN's code: 128).
    pub seed_channels: usize,
}

impl Plan {
    /// The plan for `cfg`'s geometry; errors for a side the decoder cannot rebuild from the
    /// encoder's last side.
    pub fn new(cfg: &ModelConfig) -> Result<Plan> {
        let g = cfg.geometry()?;
        // Every layer's width scales with the model's `width` (64: the code's
        // sizes), as SGBGAN's do, so `--preset cpu` narrows BAGAN too.
        let w = |c: usize| (c * g.width / Geometry::PAPER_WIDTH).max(1);
        let mut encoder = vec![(w(32), 2), (w(64), 1), (w(128), 2), (w(256), 1)];
        let mut side = g.size.div_ceil(2).div_ceil(2);
        while side > MIN_RES {
            encoder.push((w(256), 2));
            encoder.push((w(256), 1));
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
        let mut decoder = vec![w(256); steps];
        decoder[steps - 1] = w(128);
        Ok(Plan {
            channels: g.channels,
            size: g.size,
            classes: g.classes,
            latent: g.latent,
            encoder,
            base: side,
            decoder,
            dense: w(1024),
            seed_channels: w(128),
        })
    }

    /// Flattened size of the encoder's output.
    pub fn features(&self) -> usize {
        self.encoder.last().map_or(0, |&(c, _)| c) * self.base * self.base
    }
}

/// The encoder body shared by the autoencoder and D: [B, C, S, S] → [B, 256·r²]
/// (at width 64; the last encoder layer's channels · r² in general).
/// Names `conv{i}.weight`, `conv{i}.bias`.
pub struct BaganEncoder {
    convs: Vec<Conv2d>,
    dropouts: Vec<Dropout>,
}

impl BaganEncoder {
    /// A fresh encoder for `plan`: 3×3 'same' convolutions, Glorot-uniform with zero biases,
    /// whose dropout masks are drawn from `dropout_rng`.
    pub fn new(dev: &Device, rng: &Generator, plan: &Plan, dropout_rng: &Arc<Generator>) -> Result<BaganEncoder> {
        let mut convs = Vec::new();
        let mut dropouts = Vec::new();
        let mut cin = plan.channels;
        for &(cout, stride) in &plan.encoder {
            convs.push(Conv2d::same(
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
    convs: Vec<Conv2d>,
    out: Conv2d,
    base: usize,
    seed_channels: usize,
    up: UpsampleNearest2d,
}

impl BaganDecoder {
    /// A fresh decoder for `plan`: bias-free Glorot-uniform dense layers and Glorot-normal
    /// 'same' convolutions.
    pub fn new(dev: &Device, rng: &Generator, plan: &Plan) -> Result<BaganDecoder> {
        let r = plan.base;
        let dense0 = Linear::with_init(dev, rng, plan.latent, plan.dense, Init::GlorotUniform, None)?;
        let dense1 = Linear::with_init(
            dev,
            rng,
            plan.dense,
            plan.seed_channels * r * r,
            Init::GlorotUniform,
            None,
        )?;
        let mut convs = Vec::new();
        let mut cin = plan.seed_channels;
        for &cout in &plan.decoder {
            convs.push(Conv2d::same(
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
        let out = Conv2d::same(dev, rng, (cin, plan.channels), (2, 2), 1, Init::GlorotNormal, None)?;
        Ok(BaganDecoder {
            dense0,
            dense1,
            convs,
            out,
            base: r,
            seed_channels: plan.seed_channels,
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
            .reshape(&[b, self.seed_channels, self.base, self.base])?;
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
    /// The convolutional encoder (copied into the discriminator for the adversarial phase).
    pub encoder: BaganEncoder,
    /// Dense(latent) on the flattened features, linear, with a bias.
    pub latent: Linear,
    /// The decoder, which is also the generator.
    pub decoder: BaganDecoder,
}

impl BaganAutoencoder {
    /// A fresh autoencoder for `plan`, its dropout masks drawn from `dropout_rng`.
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
    /// The encoder body (transferred from the autoencoder's).
    pub encoder: BaganEncoder,
    /// Dense(K + 1) on the flattened features: K class logits and the fake logit.
    pub head: Linear,
}

impl BaganDiscriminator {
    /// A fresh discriminator for `plan` (Glorot-uniform, zero biases), its dropout masks drawn
    /// from `dropout_rng`.
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
