//! The classifier CNN that measures generated data two ways: its penultimate
//! activations are the features for FID (trained by balgan on the balanced
//! training split, then frozen), and, trained on imbalanced, rebalanced or
//! oversampled data, it is the downstream classifier whose per-class
//! measures say whether the generated images helped.
//!
//! Architecture (a small ResNet, documented so reports can state it), width w:
//! ```text
//! stem    conv3×3 C→w, BN, ReLU
//! stage1  residual block w            (conv3×3, BN, ReLU, conv3×3, BN, + x, ReLU)
//! down1   conv3×3 stride 2 w→2w, BN, ReLU
//! stage2  residual block 2w
//! down2   conv3×3 stride 2 2w→4w, BN, ReLU
//! stage3  residual block 4w
//! pool    global average over H×W     → features [N, 4w]   (the FID features)
//! head    linear 4w→K                 → logits
//! ```
//! Convolutions use He-normal weights and no bias (batch norm follows);
//! batch norm uses PyTorch's defaults. Training: Adam (lr 1e-3 by default),
//! softmax cross-entropy, shuffled mini-batches from a seed.

use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::{loss, BatchNorm2d, Conv2d, Init, Linear, Module, TrainingFlag};
use crate::optim::{Adam, AdamConfig, Optimizer};
use crate::tensor::{Generator, HostRng, IndexTensor, Tensor};
use crate::Conv2dOptions;

/// 0..n in an order fixed by `seed` (SplitMix64 started at `seed` driving a
/// back-to-front Fisher–Yates shuffle, positions by remainder).
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    HostRng::new(seed).shuffle_by_remainder(&mut v);
    v
}

/// conv3×3 (no bias) → batch norm, the unit every stage is made of.
struct ConvBn {
    conv: Conv2d,
    bn: BatchNorm2d,
}

impl ConvBn {
    fn new(dev: &Device, rng: &Generator, cin: usize, cout: usize, stride: usize) -> Result<ConvBn> {
        Ok(ConvBn {
            conv: Conv2d::with_init(
                dev,
                rng,
                (cin, cout),
                (3, 3),
                Conv2dOptions::new(stride, 1),
                Init::HeNormal,
                None,
            )?,
            bn: BatchNorm2d::pytorch(dev, cout)?,
        })
    }
}

impl Module for ConvBn {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.bn.forward(&self.conv.forward(x)?)
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![("conv".into(), &self.conv), ("bn".into(), &self.bn)]
    }
}

/// Two ConvBn with an identity shortcut: relu(bn(conv(relu(bn(conv(x))))) + x).
struct Residual {
    a: ConvBn,
    b: ConvBn,
}

impl Residual {
    fn new(dev: &Device, rng: &Generator, c: usize) -> Result<Residual> {
        Ok(Residual {
            a: ConvBn::new(dev, rng, c, c, 1)?,
            b: ConvBn::new(dev, rng, c, c, 1)?,
        })
    }
}

impl Module for Residual {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.a.forward(x)?.relu()?;
        self.b.forward(&h)?.add(x)?.relu()
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![("a".into(), &self.a), ("b".into(), &self.b)]
    }
}

/// Training settings for [`Classifier::fit`].
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f32,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 128,
            lr: 1e-3,
            seed: 0,
        }
    }
}

/// Host images in NCHW order with their shape; the classifier's input.
#[derive(Clone, Copy)]
pub struct Images<'a> {
    pub data: &'a [f32],
    pub shape: [usize; 4],
}

impl Images<'_> {
    fn check(&self) -> Result<()> {
        if self.data.len() != self.shape.iter().product::<usize>() {
            return Err(Error::invalid(
                "classifier",
                format!(
                    "images of shape {:?} need {} values, got {}",
                    self.shape,
                    self.shape.iter().product::<usize>(),
                    self.data.len()
                ),
            ));
        }
        Ok(())
    }

    /// Upload the images at `indices` as one batch.
    fn batch(&self, dev: &Device, indices: &[usize]) -> Result<Tensor> {
        let per = self.shape[1] * self.shape[2] * self.shape[3];
        let mut host = Vec::with_capacity(indices.len() * per);
        for &i in indices {
            host.extend_from_slice(&self.data[i * per..(i + 1) * per]);
        }
        Tensor::from_slice(
            dev,
            &host,
            &[indices.len(), self.shape[1], self.shape[2], self.shape[3]],
        )
    }
}

/// The classifier CNN (see the module documentation).
pub struct Classifier {
    stem: ConvBn,
    stage1: Residual,
    down1: ConvBn,
    stage2: Residual,
    down2: ConvBn,
    stage3: Residual,
    head: Linear,
    classes: usize,
    training: TrainingFlag,
}

impl Classifier {
    /// A fresh classifier for `in_channels` images and `classes` classes, width `width` (32 by default).
    pub fn new(dev: &Device, rng: &Generator, in_channels: usize, classes: usize, width: usize) -> Result<Classifier> {
        if in_channels == 0 || classes < 2 || width == 0 {
            return Err(Error::invalid(
                "Classifier",
                format!("needs channels ≥ 1, classes ≥ 2 and width ≥ 1 (got {in_channels}, {classes}, {width})"),
            ));
        }
        let w = width;
        Ok(Classifier {
            stem: ConvBn::new(dev, rng, in_channels, w, 1)?,
            stage1: Residual::new(dev, rng, w)?,
            down1: ConvBn::new(dev, rng, w, 2 * w, 2)?,
            stage2: Residual::new(dev, rng, 2 * w)?,
            down2: ConvBn::new(dev, rng, 2 * w, 4 * w, 2)?,
            stage3: Residual::new(dev, rng, 4 * w)?,
            head: Linear::with_init(dev, rng, 4 * w, classes, Init::GlorotUniform, Some(Init::Zeros))?,
            classes,
            training: TrainingFlag::new(),
        })
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Penultimate activations (global average of the last stage): [N, 4w].
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.stem.forward(x)?.relu()?;
        let h = self.stage1.forward(&h)?;
        let h = self.down1.forward(&h)?.relu()?;
        let h = self.stage2.forward(&h)?;
        let h = self.down2.forward(&h)?.relu()?;
        let h = self.stage3.forward(&h)?;
        h.mean(&[2, 3], false)
    }

    /// Train on `images` with `labels` for `cfg.epochs`; `progress(epoch, step, loss)`
    /// is called every 50 steps and at each epoch's end (reading the loss back
    /// only then). A non-finite loss stops training with an error naming the step.
    pub fn fit(
        &mut self,
        dev: &Device,
        images: Images<'_>,
        labels: &[u32],
        cfg: &TrainConfig,
        mut progress: impl FnMut(usize, usize, f32),
    ) -> Result<()> {
        images.check()?;
        if labels.len() != images.shape[0] {
            return Err(Error::invalid(
                "Classifier::fit",
                format!("{} images but {} labels", images.shape[0], labels.len()),
            ));
        }
        if let Some(&l) = labels.iter().find(|&&l| l as usize >= self.classes) {
            return Err(Error::invalid(
                "Classifier::fit",
                format!("label {l} is not below the {} classes", self.classes),
            ));
        }
        if cfg.batch_size < 2 {
            return Err(Error::invalid(
                "Classifier::fit",
                "batch norm needs batches of at least 2 images",
            ));
        }
        self.set_training(true);
        let mut opt = Adam::new(
            &self.parameter_tensors(),
            AdamConfig {
                lr: cfg.lr,
                ..Default::default()
            },
        )?;
        let mut step = 0;
        for epoch in 0..cfg.epochs {
            let order = shuffled(labels.len(), cfg.seed.wrapping_add(epoch as u64));
            // Drop a last batch of one image: batch statistics need two.
            let batches: Vec<&[usize]> = order.chunks(cfg.batch_size).filter(|c| c.len() >= 2).collect();
            for (b, chunk) in batches.iter().enumerate() {
                let x = images.batch(dev, chunk)?;
                let y: Vec<u32> = chunk.iter().map(|&i| labels[i]).collect();
                let y = IndexTensor::new(dev, &y)?;
                let logits = self.head.forward(&self.features(&x)?)?;
                let loss = loss::cross_entropy(&logits, &y)?;
                opt.minimize(&loss)?;
                step += 1;
                if step % 50 == 0 || b + 1 == batches.len() {
                    let v = loss.item()?;
                    if !v.is_finite() {
                        return Err(Error::invalid(
                            "Classifier::fit",
                            format!("the loss became {v} at epoch {epoch}, step {step}; lower the learning rate"),
                        ));
                    }
                    progress(epoch, step, v);
                }
            }
        }
        self.set_training(false);
        Ok(())
    }

    /// Class predictions (arg-max of the logits) in evaluation mode.
    pub fn predict(&self, dev: &Device, images: Images<'_>, batch_size: usize) -> Result<Vec<u32>> {
        let logits = self.run(dev, &images, batch_size, true)?;
        Ok(super::classification::argmax_rows(&logits, self.classes))
    }

    /// Penultimate features of every image, [N, 4w] on the host, in evaluation mode.
    pub fn extract_features(&self, dev: &Device, images: Images<'_>, batch_size: usize) -> Result<Vec<f32>> {
        self.run(dev, &images, batch_size, false)
    }

    fn run(&self, dev: &Device, images: &Images<'_>, batch_size: usize, logits: bool) -> Result<Vec<f32>> {
        images.check()?;
        if self.training.get() {
            return Err(Error::invalid(
                "classifier",
                "switch to evaluation mode (set_training(false)) before predicting",
            ));
        }
        let mut out = Vec::new();
        let all: Vec<usize> = (0..images.shape[0]).collect();
        crate::no_grad(|| -> Result<()> {
            for chunk in all.chunks(batch_size.max(1)) {
                let f = self.features(&images.batch(dev, chunk)?)?;
                let y = if logits { self.head.forward(&f)? } else { f };
                out.extend(y.to_vec()?);
            }
            Ok(())
        })?;
        Ok(out)
    }
}

impl Module for Classifier {
    /// Logits [N, K].
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.head.forward(&self.features(x)?)
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("stem".into(), &self.stem),
            ("stage1".into(), &self.stage1),
            ("down1".into(), &self.down1),
            ("stage2".into(), &self.stage2),
            ("down2".into(), &self.down2),
            ("stage3".into(), &self.stage3),
            ("head".into(), &self.head),
        ]
    }

    fn set_training(&self, training: bool) {
        self.training.set(training);
        for (_, c) in self.children() {
            c.set_training(training);
        }
    }
}
