//! The two ways balgan measures generated data with its classifier CNN
//! ([`Classifier`]):
//!
//! - **Per-class FID on learned features.** [`feature_extractor`] trains the
//!   classifier on the *balanced* training split (every class cut to the size of
//!   the smallest, from a seed) once, saves it as safetensors and reuses the file
//!   afterwards; [`fid_per_class`] compares generated and real test images of each
//!   class in its pooled features. Reports must say these are balgan-classifier
//!   features, not Inception-v3 ones, so the numbers are comparable only with each
//!   other. [`fid_and_kid_per_class`] adds the KID of each class in the same
//!   features (unbiased, so usable at minority-class sample sizes).
//! - **Accuracy on generated images** (CostSensitive-ACGAN's Table 5: a
//!   classifier trained on real data classifies the generated images).
//!   [`accuracy_on_generated`] classifies each generated image with the same
//!   feature extractor, which is a classifier trained on the real, balanced
//!   training split: the fraction of a class's generated images it assigns to
//!   the intended class says whether the conditioning works, read beside the
//!   classifier's own accuracy on that class's real test images (a generator
//!   can only score as well as the classifier recognises real images).
//! - **Downstream classification.** [`downstream`] trains a fresh classifier on
//!   the imbalanced training set, on it oversampled (minority images repeated up to
//!   the majority count), or on it plus generated images, and reports the
//!   imbalanced-classification measures on the balanced test set.

use std::path::Path;

use super::classification::ConfusionMatrix;
use super::classifier::{Architecture, Classifier, Images, TrainConfig};
use super::fid::fid;
use super::kid::{kid as kid_of, Kid, KidOptions};
use crate::data::imbalance::balanced;
use crate::data::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::{self, Module};
use crate::tensor::{Generator, Tensor};

fn images(ds: &Dataset) -> Images<'_> {
    Images {
        data: ds.images(),
        shape: ds.shape(),
    }
}

fn fresh(dev: &Device, ds: &Dataset, width: usize, seed: u64) -> Result<Classifier> {
    Classifier::new(dev, &Generator::new(seed), ds.channels(), ds.num_classes(), width)
}

/// The feature extractor for `train`'s kind of images: loaded from `cache` when
/// the file exists, otherwise trained on the balanced training split and saved
/// there (atomically). Returned in evaluation mode.
pub fn feature_extractor(
    dev: &Device,
    train: &Dataset,
    cache: &Path,
    width: usize,
    cfg: &TrainConfig,
) -> Result<Classifier> {
    feature_extractor_reporting(dev, train, cache, width, cfg, |_, _, _| {})
}

/// [`feature_extractor`], calling `progress(epoch, step, loss)` while it
/// trains, as [`Classifier::fit`] does (epoch 0-based).
pub fn feature_extractor_reporting(
    dev: &Device,
    train: &Dataset,
    cache: &Path,
    width: usize,
    cfg: &TrainConfig,
    progress: impl FnMut(usize, usize, f32),
) -> Result<Classifier> {
    let mut clf = fresh(dev, train, width, cfg.seed)?;
    if cache.exists() {
        clf.set_training(false);
        nn::load(cache, &clf, true).map_err(|e| {
            Error::invalid(
                "feature extractor",
                format!("{e} (delete {} to train a new one)", cache.display()),
            )
        })?;
        return Ok(clf);
    }
    let smallest = train.class_counts().into_iter().min().unwrap_or(0);
    if smallest < 2 {
        return Err(Error::invalid(
            "feature extractor",
            "every class needs at least 2 training images",
        ));
    }
    let keep = balanced(train.labels(), smallest, cfg.seed)?;
    let bal = train.try_subset(&keep)?;
    clf.fit(dev, images(&bal), bal.labels(), cfg, progress)?;
    if let Some(dir) = cache.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| Error::io(dir, source))?;
    }
    nn::save(cache, &clf)?;
    Ok(clf)
}

/// Pooled features [N, F] of every image of `ds`, on the device.
pub fn features(dev: &Device, clf: &Classifier, ds: &Dataset) -> Result<Tensor> {
    let f = clf.extract_features(dev, images(ds), 256)?;
    let width = f.len() / ds.len().max(1);
    Tensor::from_slice(dev, &f, &[ds.len(), width])
}

/// FID between the generated and the real images of each class, in the
/// extractor's features; `None` for a class with fewer than 2 images on either side.
pub fn fid_per_class(dev: &Device, clf: &Classifier, real: &Dataset, generated: &Dataset) -> Result<Vec<Option<f64>>> {
    Ok(fid_and_kid_per_class(dev, clf, real, generated, None)?.0)
}

/// Per class: the FID and the KID (`None` where not measured).
pub type FidAndKid = (Vec<Option<f64>>, Vec<Option<Kid>>);

/// [`fid_per_class`] and, with `kid` given, the KID of each class
/// ([`super::kid::kid`]) in the same features, extracted once; the subsets
/// of class c are drawn from the seed `kid.seed ^ (c + 1)`. `None` for a
/// class with fewer than 2 images on either side (and for every class
/// without `kid`).
pub fn fid_and_kid_per_class(
    dev: &Device,
    clf: &Classifier,
    real: &Dataset,
    generated: &Dataset,
    kid: Option<&KidOptions>,
) -> Result<FidAndKid> {
    if real.num_classes() != generated.num_classes() {
        return Err(Error::invalid(
            "fid_per_class",
            format!(
                "{} real classes but {} generated",
                real.num_classes(),
                generated.num_classes()
            ),
        ));
    }
    // Features stay on the host; only one class's rows are on the device at a time.
    let (fr, fg) = (host_features(dev, clf, real)?, host_features(dev, clf, generated)?);
    let (ir, ig) = (real.class_indices(), generated.class_indices());
    let mut fids = Vec::with_capacity(ir.len());
    let mut kids = Vec::with_capacity(ir.len());
    for (c, (r, g)) in ir.iter().zip(&ig).enumerate() {
        if r.len() < 2 || g.len() < 2 {
            fids.push(None);
            kids.push(None);
            continue;
        }
        fids.push(Some(fid(&fr.rows(dev, r)?, &fg.rows(dev, g)?)?));
        kids.push(match kid {
            Some(opts) => {
                let opts = KidOptions {
                    seed: opts.seed ^ (c as u64 + 1),
                    ..*opts
                };
                Some(kid_of(&fr.host_rows(r), &fg.host_rows(g), fr.width, &opts)?)
            }
            None => None,
        });
    }
    Ok((fids, kids))
}

/// Pooled features [N, F] of a dataset, on the host.
struct HostFeatures {
    data: Vec<f32>,
    width: usize,
}

fn host_features(dev: &Device, clf: &Classifier, ds: &Dataset) -> Result<HostFeatures> {
    let data = clf.extract_features(dev, images(ds), 256)?;
    let width = data.len() / ds.len().max(1);
    Ok(HostFeatures { data, width })
}

impl HostFeatures {
    /// The rows at `idx`, on the host, row-major.
    fn host_rows(&self, idx: &[usize]) -> Vec<f32> {
        let w = self.width;
        idx.iter()
            .flat_map(|&i| &self.data[i * w..(i + 1) * w])
            .copied()
            .collect()
    }

    /// The rows at `idx`, uploaded as [idx.len(), F].
    fn rows(&self, dev: &Device, idx: &[usize]) -> Result<Tensor> {
        let w = self.width;
        let mut host = Vec::with_capacity(idx.len() * w);
        for &i in idx {
            host.extend_from_slice(&self.data[i * w..(i + 1) * w]);
        }
        Tensor::from_slice(dev, &host, &[idx.len(), w])
    }
}

/// A classifier's predictions on generated and on real test images, as two
/// confusion matrices (rows: the intended or true class).
#[derive(Debug, Clone, PartialEq)]
pub struct GeneratedAccuracy {
    /// Generated images: row c holds the classes the images generated for
    /// class c were assigned to; `recall(c)` is the accuracy on class c's
    /// generated images.
    pub generated: ConfusionMatrix,
    /// The real test images: `recall(c)` is the classifier's accuracy on
    /// class c, `accuracy()` its accuracy on the whole test set.
    pub test: ConfusionMatrix,
}

impl GeneratedAccuracy {
    /// Per class, the fraction of its generated images assigned to it; `None`
    /// for a class without generated images.
    pub fn on_generated(&self) -> Vec<Option<f64>> {
        let m = &self.generated;
        (0..m.num_classes())
            .map(|c| (m.support(c) > 0).then(|| m.recall(c)))
            .collect()
    }

    /// Per class, the other class its generated images were most often
    /// assigned to and the share of them it got: `None` for a class
    /// without generated images or with every one assigned to it. Of two
    /// classes with as many images, the lower index.
    pub fn taken_for(&self) -> Vec<Option<(usize, f64)>> {
        let m = &self.generated;
        let k = m.num_classes();
        (0..k)
            .map(|c| {
                let n = m.support(c);
                (0..k)
                    .filter(|&p| p != c && m.get(c, p) > 0)
                    .max_by_key(|&p| (m.get(c, p), std::cmp::Reverse(p)))
                    .map(|p| (p, m.get(c, p) as f64 / n as f64))
            })
            .collect()
    }

    /// Per class, the classifier's accuracy on its real test images; `None`
    /// for a class without test images.
    pub fn on_test(&self) -> Vec<Option<f64>> {
        let m = &self.test;
        (0..m.num_classes())
            .map(|c| (m.support(c) > 0).then(|| m.recall(c)))
            .collect()
    }
}

/// Classify the `generated` images (labelled with the class they were
/// generated for) and the real `test` images with `clf` (in evaluation mode):
/// the accuracy on generated images per class beside the classifier's own
/// accuracy on the test set. Errors when the class counts differ.
pub fn accuracy_on_generated(
    dev: &Device,
    clf: &Classifier,
    test: &Dataset,
    generated: &Dataset,
) -> Result<GeneratedAccuracy> {
    let k = clf.classes();
    if test.num_classes() != k || generated.num_classes() != k {
        return Err(Error::invalid(
            "accuracy_on_generated",
            format!(
                "the classifier has {k} classes, the test set {} and the generated images {}",
                test.num_classes(),
                generated.num_classes()
            ),
        ));
    }
    let on = |ds: &Dataset| -> Result<ConfusionMatrix> {
        let pred = clf.predict(dev, images(ds), 256)?;
        ConfusionMatrix::from_predictions(ds.labels(), &pred, k)
    };
    Ok(GeneratedAccuracy {
        generated: on(generated)?,
        test: on(test)?,
    })
}

/// What the downstream classifier trains on.
#[derive(Clone, Copy)]
pub enum TrainingData<'a> {
    /// The imbalanced training set as it is.
    Imbalanced,
    /// Every class's images repeated (in a seeded order) up to the largest class's count.
    Oversampled,
    /// The training set plus these generated images.
    WithGenerated(&'a Dataset),
}

/// The training set `mode` describes.
pub fn training_set(train: &Dataset, mode: TrainingData<'_>, seed: u64) -> Result<Dataset> {
    match mode {
        TrainingData::Imbalanced => Ok(train.try_subset(&(0..train.len()).collect::<Vec<_>>())?),
        TrainingData::Oversampled => {
            let by_class = train.class_indices();
            let target = by_class.iter().map(Vec::len).max().unwrap_or(0);
            let mut keep = Vec::new();
            for (c, idx) in by_class.iter().enumerate() {
                if idx.is_empty() {
                    continue;
                }
                let order = balanced_cycle(idx, target, seed ^ (c as u64 + 1))?;
                keep.extend(order);
            }
            keep.sort_unstable();
            train.try_subset(&keep)
        }
        TrainingData::WithGenerated(gen) => {
            if gen.shape()[1..] != train.shape()[1..] || gen.num_classes() != train.num_classes() {
                return Err(Error::invalid(
                    "training set",
                    format!(
                        "generated images {:?} with {} classes do not match the training images {:?} with {} classes",
                        gen.shape(),
                        gen.num_classes(),
                        train.shape(),
                        train.num_classes()
                    ),
                ));
            }
            let mut data = train.images().to_vec();
            data.extend_from_slice(gen.images());
            let mut labels = train.labels().to_vec();
            labels.extend_from_slice(gen.labels());
            let mut shape = train.shape();
            shape[0] += gen.len();
            Dataset::new(data, shape, labels, train.class_names().to_vec())
        }
    }
}

/// `target` indices drawn from `idx`: all of them as often as they fit, then a
/// seeded selection for the remainder (so repeats are spread evenly). A
/// selection that fails is an error, never a class left short of `target`.
fn balanced_cycle(idx: &[usize], target: usize, seed: u64) -> Result<Vec<usize>> {
    if idx.is_empty() {
        return Err(Error::invalid(
            "oversampling",
            "a class without images cannot be repeated up to the largest class",
        ));
    }
    let mut out = Vec::with_capacity(target);
    while out.len() + idx.len() <= target {
        out.extend_from_slice(idx);
    }
    let rest = target - out.len();
    if rest > 0 {
        let labels = vec![0u32; idx.len()];
        let pick = balanced(&labels, rest, seed)
            .map_err(|e| Error::invalid("oversampling", format!("could not draw {rest} more images: {e}")))?;
        out.extend(pick.into_iter().map(|i| idx[i]));
    }
    if out.len() != target {
        return Err(Error::invalid(
            "oversampling",
            format!("drew {} images for a target of {target}", out.len()),
        ));
    }
    Ok(out)
}

/// Train a fresh classifier on `mode`'s training set and return the confusion
/// matrix on the (balanced) test set: `.report()` prints accuracy, per-class
/// precision/recall/F1/F-β, macro F1, ACSA and G-mean.
pub fn downstream(
    dev: &Device,
    train: &Dataset,
    test: &Dataset,
    mode: TrainingData<'_>,
    width: usize,
    cfg: &TrainConfig,
) -> Result<ConfusionMatrix> {
    downstream_with(dev, train, test, mode, Architecture::Small, width, cfg)
}

/// Share of each class's training images held out for validation when the
/// schedule stops early (`cfg.patience > 0`).
pub const VALIDATION_SHARE: f64 = 0.1;

/// [`downstream`] with either classifier architecture. With early stopping
/// (`cfg.patience > 0`) a seeded [`VALIDATION_SHARE`] of each class of the
/// training set (at least one image of a class with two or more) is held
/// out as the validation split, and the best epoch's weights are measured.
pub fn downstream_with(
    dev: &Device,
    train: &Dataset,
    test: &Dataset,
    mode: TrainingData<'_>,
    architecture: Architecture,
    width: usize,
    cfg: &TrainConfig,
) -> Result<ConfusionMatrix> {
    let set = training_set(train, mode, cfg.seed)?;
    let mut clf = Classifier::with_architecture(
        dev,
        &Generator::new(cfg.seed),
        set.channels(),
        set.num_classes(),
        width,
        architecture,
    )?;
    if cfg.patience > 0 {
        let (fit, val) = validation_split(&set, cfg.seed)?;
        clf.fit_validated(
            dev,
            images(&fit),
            fit.labels(),
            Some((images(&val), val.labels())),
            cfg,
            |_, _, _| {},
        )?;
    } else {
        clf.fit(dev, images(&set), set.labels(), cfg, |_, _, _| {})?;
    }
    let pred = clf.predict(dev, images(test), 256)?;
    ConfusionMatrix::from_predictions(test.labels(), &pred, test.num_classes())
}

/// (training part, validation part) of `set`: per class a seeded
/// [`VALIDATION_SHARE`] (rounded, at least one image when the class has two
/// or more) goes to validation.
pub fn validation_split(set: &Dataset, seed: u64) -> Result<(Dataset, Dataset)> {
    let mut fit = Vec::new();
    let mut val = Vec::new();
    for (c, mut members) in set.class_indices().into_iter().enumerate() {
        crate::tensor::HostRng::for_epoch(seed ^ 0x7A11_DA7E, c as u64).shuffle(&mut members);
        let n = members.len();
        let held = if n >= 2 {
            ((n as f64 * VALIDATION_SHARE).round() as usize).clamp(1, n - 1)
        } else {
            0
        };
        val.extend_from_slice(&members[..held]);
        fit.extend_from_slice(&members[held..]);
    }
    if val.is_empty() {
        return Err(Error::invalid(
            "downstream",
            "early stopping needs a validation split, and no class has two images to split",
        ));
    }
    fit.sort_unstable();
    val.sort_unstable();
    Ok((set.try_subset(&fit)?, set.try_subset(&val)?))
}
