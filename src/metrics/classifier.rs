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
//! [`Architecture::ResNet18`] is the ResNet-18 that S3VAE and
//! CostSensitive-ACGAN evaluate with, in its CIFAR form (a 3×3 stem, no
//! max-pool, as small images need), width w (64 is ResNet-18's):
//! ```text
//! stem    conv3×3 C→w, BN, ReLU
//! layer1  2 basic blocks w            (conv3×3, BN, ReLU, conv3×3, BN, + shortcut, ReLU)
//! layer2  2 basic blocks 2w, the first with stride 2 and a 1×1 conv + BN shortcut
//! layer3  2 basic blocks 4w, likewise
//! layer4  2 basic blocks 8w, likewise
//! pool    global average              → features [N, 8w]
//! head    linear 8w→K
//! ```
//! Convolutions use He-normal weights and no bias (batch norm follows);
//! batch norm uses PyTorch's defaults. Training ([`TrainConfig`]): Adam (lr
//! 1e-3 by default) or SGD with momentum and weight decay, softmax
//! cross-entropy, shuffled mini-batches from a seed, and optionally early
//! stopping on a validation split ([`Classifier::fit_validated`]) that keeps
//! the best epoch's weights.

use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::{loss, BatchNorm2d, Conv2d, Init, Linear, Module, TrainingFlag};
use crate::optim::{Adam, AdamConfig, Optimizer, Sgd, SgdConfig};
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
        ConvBn::with_kernel(dev, rng, cin, cout, stride, 3)
    }

    /// A k×k convolution (padding k/2) and batch norm.
    fn with_kernel(dev: &Device, rng: &Generator, cin: usize, cout: usize, stride: usize, k: usize) -> Result<ConvBn> {
        Ok(ConvBn {
            conv: Conv2d::with_init(
                dev,
                rng,
                (cin, cout),
                (k, k),
                Conv2dOptions::new(stride, k / 2),
                Init::HeNormal,
                None,
            )?,
            bn: BatchNorm2d::pytorch(dev, cout)?,
        })
    }
}

/// A [`ConvBn`] followed by ReLU (its parameters named as the ConvBn's).
struct ConvBnRelu(ConvBn);

impl Module for ConvBnRelu {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.0.forward(x)?.relu()
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        self.0.children()
    }
}

/// ResNet's basic block: relu(bn(conv(relu(bn(conv(x))))) + shortcut(x)),
/// the shortcut a 1×1 convolution with batch norm where the shape changes.
struct BasicBlock {
    a: ConvBn,
    b: ConvBn,
    shortcut: Option<ConvBn>,
}

impl BasicBlock {
    fn new(dev: &Device, rng: &Generator, cin: usize, cout: usize, stride: usize) -> Result<BasicBlock> {
        let shortcut = if stride != 1 || cin != cout {
            Some(ConvBn::with_kernel(dev, rng, cin, cout, stride, 1)?)
        } else {
            None
        };
        Ok(BasicBlock {
            a: ConvBn::new(dev, rng, cin, cout, stride)?,
            b: ConvBn::new(dev, rng, cout, cout, 1)?,
            shortcut,
        })
    }
}

impl Module for BasicBlock {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.a.forward(x)?.relu()?;
        let skip = match &self.shortcut {
            Some(s) => s.forward(x)?,
            None => x.clone(),
        };
        self.b.forward(&h)?.add(&skip)?.relu()
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        let mut c: Vec<(String, &dyn Module)> = vec![("a".into(), &self.a), ("b".into(), &self.b)];
        if let Some(s) = &self.shortcut {
            c.push(("shortcut".into(), s));
        }
        c
    }
}

/// Which network a [`Classifier`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Architecture {
    /// The small ResNet of the module's first table (balgan's FID features).
    #[default]
    Small,
    /// ResNet-18 in its CIFAR form (the module's second table).
    ResNet18,
}

impl Architecture {
    /// Every architecture, the values `--classifier` accepts.
    pub const ALL: [Architecture; 2] = [Architecture::Small, Architecture::ResNet18];

    /// The `--classifier` name (`small`, `resnet18`).
    pub fn name(self) -> &'static str {
        match self {
            Architecture::Small => "small",
            Architecture::ResNet18 => "resnet18",
        }
    }
}

impl std::str::FromStr for Architecture {
    type Err = Error;
    fn from_str(s: &str) -> Result<Architecture> {
        let s = s.to_ascii_lowercase().replace(['-', '_'], "");
        Architecture::ALL.into_iter().find(|a| a.name() == s).ok_or_else(|| {
            Error::invalid(
                "--classifier",
                format!("unknown classifier '{s}'; use small or resnet18"),
            )
        })
    }
}

/// The optimizer of [`Classifier::fit`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ClassifierOptimizer {
    /// Adam with PyTorch's betas.
    Adam,
    /// SGD with momentum and (L2) weight decay.
    Sgd {
        /// Momentum factor μ (S3VAE's: 0.9).
        momentum: f32,
        /// L2 penalty added to the gradient as `weight_decay · θ` (S3VAE's: 1e-3).
        weight_decay: f32,
    },
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
    /// Epochs (the most, with early stopping).
    pub epochs: usize,
    /// Images per mini-batch (at least 2, for batch norm); a last batch of one image is dropped.
    pub batch_size: usize,
    /// Learning rate of the optimizer.
    pub lr: f32,
    /// Seed of the shuffling: epoch e's order comes from `seed + e`.
    pub seed: u64,
    /// Adam or SGD (with its momentum and weight decay).
    pub optimizer: ClassifierOptimizer,
    /// Early stopping ([`Classifier::fit_validated`]): stop after this many
    /// epochs without a validation-accuracy gain of at least `min_delta`
    /// (0: train every epoch).
    pub patience: usize,
    /// Smallest gain in validation accuracy (a fraction in [0, 1]) that resets the patience count.
    pub min_delta: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 128,
            lr: 1e-3,
            seed: 0,
            optimizer: ClassifierOptimizer::Adam,
            patience: 0,
            min_delta: 0.0,
        }
    }
}

impl TrainConfig {
    /// S3VAE's schedule: SGD lr 1e-4, momentum 0.9, weight decay 1e-3,
    /// batch 64, up to 200 epochs, early stopping on validation accuracy
    /// (a gain under 0.01 does not count; patience, not stated, 5 epochs).
    pub fn s3vae() -> TrainConfig {
        TrainConfig {
            epochs: 200,
            batch_size: 64,
            lr: 1e-4,
            seed: 0,
            optimizer: ClassifierOptimizer::Sgd {
                momentum: 0.9,
                weight_decay: 1e-3,
            },
            patience: 5,
            min_delta: 0.01,
        }
    }
}

/// What [`Classifier::fit_validated`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct FitReport {
    /// Epochs trained.
    pub epochs: usize,
    /// The epoch whose weights were kept (0-based), and its validation accuracy.
    pub best_epoch: usize,
    /// Accuracy of the kept epoch on the validation split, in [0, 1] (NaN without a split).
    pub validation_accuracy: f64,
    /// Whether early stopping ended training before `epochs` of the config.
    pub stopped_early: bool,
}

/// Host images in NCHW order with their shape; the classifier's input.
#[derive(Clone, Copy)]
pub struct Images<'a> {
    /// `shape.iter().product()` values, NCHW.
    pub data: &'a [f32],
    /// [N, C, H, W].
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
    /// The stages after the stem, by name, each with its activation.
    body: Vec<(String, Box<dyn Module>)>,
    head: Linear,
    classes: usize,
    architecture: Architecture,
    training: TrainingFlag,
}

impl Classifier {
    /// A fresh small classifier for `in_channels` images and `classes` classes, width `width` (32 by default).
    pub fn new(dev: &Device, rng: &Generator, in_channels: usize, classes: usize, width: usize) -> Result<Classifier> {
        Classifier::with_architecture(dev, rng, in_channels, classes, width, Architecture::Small)
    }

    /// A fresh classifier of either architecture (ResNet-18 at width 64).
    pub fn with_architecture(
        dev: &Device,
        rng: &Generator,
        in_channels: usize,
        classes: usize,
        width: usize,
        architecture: Architecture,
    ) -> Result<Classifier> {
        if in_channels == 0 || classes < 2 || width == 0 {
            return Err(Error::invalid(
                "Classifier",
                format!("needs channels ≥ 1, classes ≥ 2 and width ≥ 1 (got {in_channels}, {classes}, {width})"),
            ));
        }
        let w = width;
        let mut body: Vec<(String, Box<dyn Module>)> = Vec::new();
        let features = match architecture {
            Architecture::Small => {
                body.push(("stage1".into(), Box::new(Residual::new(dev, rng, w)?)));
                body.push((
                    "down1".into(),
                    Box::new(ConvBnRelu(ConvBn::new(dev, rng, w, 2 * w, 2)?)),
                ));
                body.push(("stage2".into(), Box::new(Residual::new(dev, rng, 2 * w)?)));
                body.push((
                    "down2".into(),
                    Box::new(ConvBnRelu(ConvBn::new(dev, rng, 2 * w, 4 * w, 2)?)),
                ));
                body.push(("stage3".into(), Box::new(Residual::new(dev, rng, 4 * w)?)));
                4 * w
            }
            Architecture::ResNet18 => {
                let mut cin = w;
                for (layer, cout) in [(1, w), (2, 2 * w), (3, 4 * w), (4, 8 * w)] {
                    let stride = if layer == 1 { 1 } else { 2 };
                    body.push((
                        format!("layer{layer}_0"),
                        Box::new(BasicBlock::new(dev, rng, cin, cout, stride)?),
                    ));
                    body.push((
                        format!("layer{layer}_1"),
                        Box::new(BasicBlock::new(dev, rng, cout, cout, 1)?),
                    ));
                    cin = cout;
                }
                8 * w
            }
        };
        Ok(Classifier {
            stem: ConvBn::new(dev, rng, in_channels, w, 1)?,
            body,
            head: Linear::with_init(dev, rng, features, classes, Init::GlorotUniform, Some(Init::Zeros))?,
            classes,
            architecture,
            training: TrainingFlag::new(),
        })
    }

    /// Which network this is.
    pub fn architecture(&self) -> Architecture {
        self.architecture
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Penultimate activations (global average of the last stage): [N, 4w]
    /// (small) or [N, 8w] (ResNet-18).
    pub fn features(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = self.stem.forward(x)?.relu()?;
        for (_, stage) in &self.body {
            h = stage.forward(&h)?;
        }
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
        progress: impl FnMut(usize, usize, f32),
    ) -> Result<()> {
        self.fit_validated(dev, images, labels, None, cfg, progress).map(|_| ())
    }

    /// [`Classifier::fit`] with a validation split: after each epoch the
    /// accuracy on `validation` is measured; the weights of the best epoch
    /// are kept, and with `cfg.patience > 0` training stops after `patience`
    /// epochs without a gain of at least `cfg.min_delta`.
    pub fn fit_validated(
        &mut self,
        dev: &Device,
        images: Images<'_>,
        labels: &[u32],
        validation: Option<(Images<'_>, &[u32])>,
        cfg: &TrainConfig,
        mut progress: impl FnMut(usize, usize, f32),
    ) -> Result<FitReport> {
        images.check()?;
        if let Some((v, vl)) = &validation {
            v.check()?;
            if v.shape[0] != vl.len() || vl.is_empty() {
                return Err(Error::invalid(
                    "Classifier::fit",
                    format!(
                        "{} validation images but {} labels (at least one needed)",
                        v.shape[0],
                        vl.len()
                    ),
                ));
            }
        }
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
        let params = self.parameter_tensors();
        let mut opt: Box<dyn Optimizer> = match cfg.optimizer {
            ClassifierOptimizer::Adam => Box::new(Adam::new(
                &params,
                AdamConfig {
                    lr: cfg.lr,
                    ..Default::default()
                },
            )?),
            ClassifierOptimizer::Sgd { momentum, weight_decay } => Box::new(Sgd::new(
                &params,
                SgdConfig {
                    lr: cfg.lr,
                    momentum,
                    weight_decay,
                    ..Default::default()
                },
            )?),
        };
        let mut step = 0;
        let mut report = FitReport {
            epochs: 0,
            best_epoch: 0,
            validation_accuracy: f64::NAN,
            stopped_early: false,
        };
        // The best epoch's weights and statistics, on the host.
        let mut best: Option<Vec<Vec<f32>>> = None;
        let mut since_gain = 0;
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
            report.epochs = epoch + 1;
            if let Some((v, vl)) = &validation {
                self.set_training(false);
                let predicted = self.predict(dev, *v, cfg.batch_size.max(64))?;
                self.set_training(true);
                let accuracy = predicted.iter().zip(vl.iter()).filter(|(p, l)| p == l).count() as f64 / vl.len() as f64;
                let gain = if report.validation_accuracy.is_nan() {
                    f64::INFINITY
                } else {
                    accuracy - report.validation_accuracy
                };
                if gain > 0.0 {
                    best = Some(self.tensor_values()?);
                    report.best_epoch = epoch;
                    report.validation_accuracy = accuracy;
                }
                if gain >= cfg.min_delta.max(f64::MIN_POSITIVE) {
                    since_gain = 0;
                } else {
                    since_gain += 1;
                }
                if cfg.patience > 0 && since_gain >= cfg.patience && epoch + 1 < cfg.epochs {
                    report.stopped_early = true;
                    break;
                }
            }
        }
        if let Some(values) = best {
            self.set_tensor_values(&values)?;
        }
        self.set_training(false);
        Ok(report)
    }

    /// Every parameter and buffer, in module order, on the host.
    fn tensor_values(&self) -> Result<Vec<Vec<f32>>> {
        self.parameters()
            .into_iter()
            .chain(self.buffers())
            .map(|(_, t)| t.to_vec())
            .collect()
    }

    fn set_tensor_values(&self, values: &[Vec<f32>]) -> Result<()> {
        for ((_, t), v) in self.parameters().into_iter().chain(self.buffers()).zip(values) {
            t.assign_slice_(v)?;
        }
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
        let mut c: Vec<(String, &dyn Module)> = vec![("stem".into(), &self.stem)];
        for (name, stage) in &self.body {
            c.push((name.clone(), stage.as_ref()));
        }
        c.push(("head".into(), &self.head));
        c
    }

    fn set_training(&self, training: bool) {
        self.training.set(training);
        for (_, c) in self.children() {
            c.set_training(training);
        }
    }
}
