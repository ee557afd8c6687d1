//! The data protocol of a run: which dataset, the image folder's seeded
//! hold-out, the imbalance recipe and the per-class caps, so that the images
//! a run trained and is evaluated on can be rebuilt from its `config.toml`
//! (the `[data]` table) without the command line.
//!
//! ```no_run
//! use balgan::data::DataConfig;
//!
//! // Fashion-MNIST (Debian's dataset-fashion-mnist) at IR 100, 28×28. With
//! // the `cli` feature, `DataConfig::read("RUN/config.toml")` gives a run's.
//! let cfg = DataConfig {
//!     dataset: "fashion-mnist".into(),
//!     path: None,
//!     imbalance: Some("ir:100".into()),
//!     image_size: 28,
//!     seed: 0,
//!     holdout: DataConfig::DEFAULT_HOLDOUT,
//!     train_per_class: None,
//! };
//! // The training split under the run's recipe, resized: what the run trained on.
//! let train = cfg.training_set()?;
//! // At most 1,000 test images per class (a choice seeded by 0).
//! let test = cfg.test_set(Some(1000), 0)?;
//! println!("{} training and {} test images", train.len(), test.len());
//! # Ok::<(), balgan::Error>(())
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::cifar::cifar10;
use super::dataset::{Dataset, Split};
use super::fashion_mnist::fashion_mnist;
use super::folder::image_folder;
use super::imbalance::{balanced, Recipe};
use crate::error::{Error, Result};

/// Which dataset to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetKind {
    /// IDX files; found without a path when the Debian package is installed.
    FashionMnist,
    /// MNIST's IDX files in a folder the user gives (no package ships them).
    Mnist,
    /// CIFAR-10 binary batches in a directory.
    Cifar10,
    /// One sub-folder of images per class.
    Folder,
}

impl DatasetKind {
    /// The name a run's `config.toml` records (`fashion-mnist`, `cifar10`,
    /// `folder`); it parses back to the same kind.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::FashionMnist => "fashion-mnist",
            DatasetKind::Mnist => "mnist",
            DatasetKind::Cifar10 => "cifar10",
            DatasetKind::Folder => "folder",
        }
    }
}

impl std::fmt::Display for DatasetKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for DatasetKind {
    type Err = Error;
    fn from_str(s: &str) -> Result<DatasetKind> {
        match s.to_ascii_lowercase().as_str() {
            "fashion-mnist" | "fashion_mnist" | "fmnist" => Ok(DatasetKind::FashionMnist),
            "mnist" => Ok(DatasetKind::Mnist),
            "cifar10" | "cifar-10" => Ok(DatasetKind::Cifar10),
            "folder" | "image-folder" => Ok(DatasetKind::Folder),
            other => Err(Error::invalid(
                "--dataset",
                format!("unknown dataset '{other}'; use fashion-mnist, mnist, cifar10 or folder"),
            )),
        }
    }
}

/// Load one split of a dataset as it is on disk. `path` is where the files
/// are (required for MNIST, CIFAR-10 and image folders; Fashion-MNIST falls back on
/// `BALGAN_DATA` and the Debian package's place). `size` is the side images
/// from a folder are resized to; an image folder has no splits of its own
/// (see [`DataConfig`] for its hold-out).
pub fn load(kind: DatasetKind, path: Option<&Path>, split: Split, size: usize) -> Result<Dataset> {
    let need_path = |what: &str| {
        path.ok_or_else(|| {
            Error::invalid(
                "--data",
                format!("{what} needs --data DIR (the directory that holds it)"),
            )
        })
    };
    match kind {
        DatasetKind::FashionMnist => fashion_mnist(split, path),
        DatasetKind::Mnist => super::mnist::mnist(split, need_path("MNIST (no package ships it)")?),
        DatasetKind::Cifar10 => cifar10(need_path("cifar10")?, split),
        DatasetKind::Folder => image_folder(need_path("an image folder")?, size),
    }
}

/// Which data a run trains on: the `[data]` table of its `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataConfig {
    /// `fashion-mnist`, `cifar10` or `folder` (see [`DatasetKind`]).
    pub dataset: String,
    /// Where the files are (`None`: the default place for Fashion-MNIST).
    pub path: Option<PathBuf>,
    /// The imbalance recipe applied to the training split (`None`: as is).
    pub imbalance: Option<String>,
    /// Side the images are resized to.
    pub image_size: usize,
    /// Seed of the recipe's selection (and of the folder hold-out split).
    pub seed: u64,
    /// Images per class held out for evaluation from an image folder (which
    /// has no test split of its own); [`DataConfig::DEFAULT_HOLDOUT`] when
    /// the file does not say.
    #[serde(default = "default_holdout")]
    pub holdout: f64,
    /// At most this many images of each class of the training split, a
    /// seeded choice made before the recipe (`None`: all; absent from older
    /// files). Sizes an experiment for a machine without a GPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_per_class: Option<usize>,
}

fn default_holdout() -> f64 {
    DataConfig::DEFAULT_HOLDOUT
}

/// A run's `config.toml`, of which only the `[data]` table is read here.
#[cfg(feature = "cli")]
#[derive(Deserialize)]
struct RunFile {
    data: DataConfig,
}

impl DataConfig {
    /// The share of every class an image folder holds out unless told otherwise.
    pub const DEFAULT_HOLDOUT: f64 = 0.2;

    /// The `[data]` table of a run's `config.toml` (the file `balgan train`
    /// writes into the run directory). Needs the `cli` feature (TOML).
    #[cfg(feature = "cli")]
    pub fn read(config_toml: impl AsRef<Path>) -> Result<DataConfig> {
        let p = config_toml.as_ref();
        let text = std::fs::read_to_string(p).map_err(|e| Error::Io {
            path: p.display().to_string(),
            source: e,
        })?;
        let file: RunFile =
            toml::from_str(&text).map_err(|e| Error::invalid("config", format!("{}: {e}", p.display())))?;
        Ok(file.data)
    }

    /// The dataset `dataset` names.
    pub fn kind(&self) -> Result<DatasetKind> {
        self.dataset.parse()
    }

    /// One split as it is on disk: no hold-out, recipe, cap or resize.
    fn raw(&self, split: Split) -> Result<Dataset> {
        load(self.kind()?, self.path.as_deref(), split, self.image_size)
    }

    /// The split before any recipe or cap: an image folder's part after its
    /// hold-out (`Split::Test`: the held-out part), otherwise the dataset's own.
    fn split(&self, split: Split) -> Result<Dataset> {
        if self.kind()? == DatasetKind::Folder {
            self.folder_split(&self.raw(Split::Train)?, split)
        } else {
            self.raw(split)
        }
    }

    /// An image folder has no test split: hold out `holdout` of every class
    /// (seeded), the same way for training and evaluation.
    fn folder_split(&self, all: &Dataset, split: Split) -> Result<Dataset> {
        if !(0.0..1.0).contains(&self.holdout) {
            return Err(Error::invalid("holdout", format!("{} must be in [0, 1)", self.holdout)));
        }
        let mut keep = Vec::new();
        for (c, idx) in all.class_indices().iter().enumerate() {
            let labels = vec![0u32; idx.len()];
            let n_test = ((idx.len() as f64) * self.holdout).round() as usize;
            let n_test = n_test.min(idx.len().saturating_sub(1));
            let test: Vec<usize> = if n_test == 0 {
                Vec::new()
            } else {
                balanced(&labels, n_test, self.seed ^ (c as u64 + 17))?
                    .into_iter()
                    .map(|i| idx[i])
                    .collect()
            };
            match split {
                Split::Test => keep.extend(test),
                _ => keep.extend(idx.iter().copied().filter(|i| !test.contains(i))),
            }
        }
        keep.sort_unstable();
        all.try_subset(&keep)
    }

    /// The imbalance recipe, parsed.
    fn recipe(&self) -> Result<Option<Recipe>> {
        self.imbalance.as_deref().map(str::parse).transpose()
    }

    /// `ds` narrowed to the classes the run has ([`Recipe::classes`]: the two
    /// classes of `aggan-pair`, relabelled negative → 0, positive → 1), or
    /// as it is.
    fn run_classes(&self, ds: Dataset) -> Result<Dataset> {
        match self.recipe()?.and_then(|r| r.classes()) {
            Some(classes) => ds.select_classes(&classes),
            None => Ok(ds),
        }
    }

    /// The run's training set: the training split under the imbalance
    /// recipe, resized to the model's side. Every class must keep an image.
    /// A recipe that narrows the classes (`aggan-pair`) leaves only its
    /// classes, relabelled (see [`Recipe::classes`]).
    pub fn training_set(&self) -> Result<Dataset> {
        let ds = cap_per_class(&self.split(Split::Train)?, self.train_per_class, self.seed)?;
        let ds = match self.recipe()? {
            Some(recipe) => {
                let keep = recipe.select(ds.labels(), ds.num_classes(), self.seed)?;
                self.run_classes(ds.try_subset(&keep)?)?
            }
            None => ds,
        };
        if let Some(c) = ds.class_counts().iter().position(|&n| n == 0) {
            return Err(Error::invalid(
                "data",
                format!(
                    "class {c} ('{}') has no training images; every class needs at least one",
                    ds.class_names()[c]
                ),
            ));
        }
        ds.resized(self.image_size)
    }

    /// The run's evaluation set: the dataset's test split (an image folder's
    /// held-out part), at most `per_class` images of each class (a seeded
    /// choice), resized to the model's side. Under a recipe that narrows the
    /// classes (`aggan-pair`), only those classes, relabelled as in
    /// [`DataConfig::training_set`]; the test split is otherwise balanced.
    pub fn test_set(&self, per_class: Option<usize>, seed: u64) -> Result<Dataset> {
        let ds = self.run_classes(self.split(Split::Test)?)?;
        cap_per_class(&ds, per_class, seed)?.resized(self.image_size)
    }

    /// The dataset's whole training split (no imbalance recipe), at most
    /// `per_class` images of each class, resized: what the FID feature
    /// extractor learns from, the same for every run on the dataset (with the
    /// same classes: under `aggan-pair`, its two classes, relabelled).
    pub fn reference_set(&self, per_class: usize, seed: u64) -> Result<Dataset> {
        let ds = self.run_classes(self.split(Split::Train)?)?;
        cap_per_class(&ds, Some(per_class), seed)?.resized(self.image_size)
    }
}

/// At most `per_class` images of each class (a seeded choice, dataset order
/// kept); `None`: all of them.
pub fn cap_per_class(ds: &Dataset, per_class: Option<usize>, seed: u64) -> Result<Dataset> {
    let Some(cap) = per_class else {
        return Ok(ds.clone());
    };
    let mut keep = Vec::new();
    for (c, idx) in ds.class_indices().iter().enumerate() {
        if idx.len() <= cap {
            keep.extend(idx);
        } else {
            let zeros = vec![0u32; idx.len()];
            keep.extend(
                balanced(&zeros, cap, seed ^ (c as u64 + 1))?
                    .into_iter()
                    .map(|i| idx[i]),
            );
        }
    }
    keep.sort_unstable();
    ds.try_subset(&keep)
}
