//! `balgan experiment PROTOCOL`: a paper's protocol end to end — every
//! (model, recipe, seed) cell trained as an ordinary run directory, the
//! measures the paper reports, a table with the spread over seeds, a plot,
//! and a verdict line per claim — in one command that a re-run continues
//! where it stopped (finished cells and measured numbers are cached).
//!
//! Protocols:
//! - `s3vae-discard` ([`s3vae_discard`]): S3VAE's claim that its generated
//!   images augment a class with most of its images discarded better than
//!   a plain C-VAE's (and than the leftover images replicated).
//! - `sgbgan-table3`, `aggan-multiclass`, `aggan-pair`, `cs-acgan-step`
//!   ([`gan_protocols`]): measured by `balgan eval` on each model cell.

pub mod gan_protocols;
pub mod s3vae_discard;
pub mod verdict;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::eval::DownstreamSchedule;
use super::run::RunDir;
use super::train::{resume, train, History, TrainArgs};
use crate::data::DataConfig;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::metrics::classifier::Architecture;
use crate::models::{ModelKind, Preset};

/// Which protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// `sgbgan-table3`: SGBGAN's Table 3, FID, KID and SSIM of five GANs (IR 5, 20, 50, 100 by default).
    SgbganTable3,
    /// `aggan-multiclass`: AGGAN's Table V, a downstream classifier on data augmented by each model.
    AgganMulticlass,
    /// `aggan-pair`: AGGAN's Table IV, a positive class against a negative one (IR 10, 50, 100 by default).
    AgganPair,
    /// `cs-acgan-step`: CostSensitive-ACGAN's Table 5, one class losing 60, 80 or 95 % of its images by default.
    CsAcganStep,
    /// `s3vae-discard`: S3VAE's §3.2, one class losing 60, 80, 90, 95 or 97.5 % of its images by default.
    S3vaeDiscard,
}

impl Protocol {
    /// Every protocol, in the order their names are listed.
    pub const ALL: [Protocol; 5] = [
        Protocol::SgbganTable3,
        Protocol::AgganMulticlass,
        Protocol::AgganPair,
        Protocol::CsAcganStep,
        Protocol::S3vaeDiscard,
    ];

    /// The protocol's command-line name (also the default experiment directory under `experiments/`).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::SgbganTable3 => "sgbgan-table3",
            Protocol::AgganMulticlass => "aggan-multiclass",
            Protocol::AgganPair => "aggan-pair",
            Protocol::CsAcganStep => "cs-acgan-step",
            Protocol::S3vaeDiscard => "s3vae-discard",
        }
    }
}

impl std::str::FromStr for Protocol {
    type Err = Error;
    fn from_str(s: &str) -> Result<Protocol> {
        Protocol::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| {
            let names: Vec<&str> = Protocol::ALL.iter().map(|p| p.name()).collect();
            Error::invalid(
                "experiment",
                format!("unknown protocol '{s}'; the protocols are {}", names.join(", ")),
            )
        })
    }
}

/// Everything `balgan experiment` takes.
#[derive(Debug, Clone)]
pub struct ExperimentArgs {
    /// The protocol to run (the command's positional argument).
    pub protocol: Protocol,
    /// The experiment's directory (cells under `cells/`, measures under
    /// `results/`, `report.md`).
    pub out: PathBuf,
    /// Seeds 0..seeds.
    pub seeds: u64,
    /// Training time of all the model cells together, split evenly.
    pub budget_minutes: Option<f64>,
    /// A subset of the protocol's models (`None`: all of them).
    pub models: Option<Vec<ModelKind>>,
    /// A subset of (or other) discard or removal rates (`None`: the protocol's).
    pub rates: Option<Vec<f64>>,
    /// A subset of (or other) imbalance ratios (`None`: the protocol's).
    pub irs: Option<Vec<f64>>,
    /// `aggan-pair`'s (positive, negative) classes (sandal, sneaker: 5, 7).
    pub pair: (u32, u32),
    /// Test images per class `balgan eval` compares with (and generates).
    pub eval_per_class: usize,
    /// The class the protocol reduces.
    pub class: u32,
    /// The dataset (the recipe is the protocol's).
    pub dataset: String,
    /// `--data`: the directory holding the dataset (`None`: the dataset's default place).
    pub data: Option<PathBuf>,
    /// Side the images are resized to: `--image-size`, else the preset's, else 28.
    pub image_size: usize,
    /// At most this many training images per class, before the recipe.
    pub train_per_class: Option<usize>,
    /// Model settings for every cell.
    pub preset: Option<Preset>,
    /// `--epochs`: epochs of every model cell (`None`: the model's).
    pub epochs: Option<usize>,
    /// Pre-training epochs of every cell that pre-trains (`None`: the model's).
    pub ae_epochs: Option<usize>,
    /// `--set`: model settings of every cell, as `key=value`.
    pub set: Vec<String>,
    /// The downstream classifier (network, width, schedule, most epochs).
    pub classifier: Architecture,
    /// `--classifier-width`: channels of the downstream classifier's first stage (default [`DOWNSTREAM_WIDTH`]).
    ///
    /// [`DOWNSTREAM_WIDTH`]: crate::cli::eval::DOWNSTREAM_WIDTH
    pub classifier_width: usize,
    /// `--schedule`: how the downstream classifier trains (default adam).
    pub schedule: DownstreamSchedule,
    /// `--classifier-epochs`: the most epochs of each downstream classifier (default 10).
    pub classifier_epochs: usize,
    /// `--quiet`: print nothing but errors.
    pub quiet: bool,
}

impl ExperimentArgs {
    /// The data settings of a cell with imbalance `recipe`.
    pub fn data(&self, recipe: Option<String>, seed: u64) -> DataConfig {
        DataConfig {
            dataset: self.dataset.clone(),
            path: self.data.clone(),
            imbalance: recipe,
            image_size: self.image_size,
            seed,
            holdout: DataConfig::DEFAULT_HOLDOUT,
            train_per_class: self.train_per_class,
        }
    }

    fn check(&self) -> Result<()> {
        if self.seeds == 0 {
            return Err(Error::invalid("--seeds", "at least one seed"));
        }
        if let Some(b) = self.budget_minutes {
            if !(b.is_finite() && b > 0.0) {
                return Err(Error::invalid(
                    "--budget-minutes",
                    format!("{b} must be a positive number of minutes"),
                ));
            }
        }
        if self.eval_per_class == 0 {
            return Err(Error::invalid(
                "--eval-per-class",
                "at least one test image per class to measure",
            ));
        }
        if let Some(r) = self.irs.iter().flatten().find(|r| !(r.is_finite() && **r >= 1.0)) {
            return Err(Error::invalid(
                "--irs",
                format!("an imbalance ratio must be ≥ 1, got {r}"),
            ));
        }
        if self.classifier_epochs == 0 {
            return Err(Error::invalid(
                "--classifier-epochs",
                "the downstream classifiers need at least one epoch",
            ));
        }
        Ok(())
    }
}

/// Run (or continue) the experiment; returns its report's path.
pub fn experiment(dev: &Device, args: &ExperimentArgs) -> Result<PathBuf> {
    args.check()?;
    std::fs::create_dir_all(&args.out).map_err(|e| Error::io(&args.out, e))?;
    match args.protocol {
        Protocol::S3vaeDiscard => s3vae_discard::run(dev, args),
        _ => gan_protocols::run(dev, args),
    }
}

/// A trained model cell: its run directory and whether its budget cut it short.
pub struct Cell {
    /// The cell's run directory.
    pub run: RunDir,
    /// Whether the budget stopped its training, or cut one of its phases, before the end.
    pub cut_short: bool,
    /// Whether this call trained it (false: it was finished before).
    pub trained: bool,
}

/// Train the cell in `dir` (or continue it, or find it finished).
pub fn train_cell(
    dev: &Device,
    args: &ExperimentArgs,
    dir: &Path,
    model: ModelKind,
    data: DataConfig,
    seed: u64,
    budget_minutes: Option<f64>,
) -> Result<Cell> {
    let done = |run: &RunDir| {
        let h = History::read(run);
        (h.finished || h.stopped.is_some()) && run.checkpoint_path().is_file()
    };
    let trained = if dir.join("config.toml").is_file() {
        let run = RunDir::open(dir)?;
        if done(&run) {
            false
        } else {
            resume(dev, dir, budget_minutes, true)?;
            true
        }
    } else {
        train(
            dev,
            &TrainArgs {
                model,
                preset: args.preset,
                data,
                epochs: args.epochs,
                ae_epochs: args.ae_epochs,
                batch: None,
                seed,
                out: Some(dir.to_path_buf()),
                checkpoint_every: 200,
                budget_minutes,
                pretrain_share: 0.3,
                quiet: true,
                set: args.set.clone(),
            },
        )?;
        true
    };
    let run = RunDir::open(dir)?;
    let h = History::read(&run);
    Ok(Cell {
        cut_short: h.stopped.is_some() || h.phases.iter().any(|p| p.cut_short.is_some()),
        run,
        trained,
    })
}

/// A downstream classifier's measures on the balanced test set, cached as
/// TOML under the experiment's `results/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measures {
    /// Accuracy over the whole test set.
    pub accuracy: f64,
    /// F1.5 of the protocol's group (S3VAE: the reduced class against the rest).
    pub grouped_f1_5: f64,
    /// Average class-specific accuracy: the mean of the per-class recalls.
    pub acsa: f64,
    /// Mean of the per-class F1 scores.
    pub macro_f1: f64,
    /// Geometric mean of the per-class recalls.
    pub g_mean: f64,
    /// Training images of the classifier.
    pub images: usize,
    /// Of them, per class.
    #[serde(default)]
    pub counts: Vec<usize>,
    /// Whether the generated images came from a cell its budget cut short.
    #[serde(default)]
    pub cut_short: bool,
}

/// The cached measures at `path`, or `measure()`'s, then cached.
pub fn cached(path: &Path, measure: impl FnOnce() -> Result<Measures>) -> Result<(Measures, bool)> {
    if let Ok(text) = std::fs::read_to_string(path) {
        if let Ok(m) = toml::from_str::<Measures>(&text) {
            return Ok((m, false));
        }
    }
    let m = measure()?;
    let text = toml::to_string(&m).map_err(|e| Error::invalid("experiment", e.to_string()))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    crate::atomic_file::write_atomic(path, |w| std::io::Write::write_all(w, text.as_bytes()))?;
    Ok((m, true))
}
