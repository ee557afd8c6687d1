//! `balgan eval --run RUN`: measure a trained run against the test split.
//!
//! - **Per-class FID** between generated images of a class and that class's
//!   test images, in the pooled features of balgan's classifier CNN (not
//!   Inception-v3: the numbers compare only with other balgan runs). The
//!   extractor is trained once on the dataset's *full* training split, cut to
//!   the same number of images per class (`--extractor-per-class`), so it does
//!   not depend on the run's imbalance; it is cached in `RUN/eval/` under a
//!   hash of everything that shapes it ([`extractor_key`]), the file holding
//!   the full key, checked before the file is reused.
//! - **Per-class KID** in the same features: the unbiased MMD² with the cubic
//!   polynomial kernel, mean ± standard deviation over 100 subsets of
//!   min(1000, test images, generated images) of the class (see
//!   [`crate::metrics::kid`]). Unlike FID it is not biased by the small sample
//!   of a minority class.
//! - **Per-class SSIM** (`tf.image.ssim`, 11×11 Gaussian window, on images
//!   mapped to [0, 1] with data range 1, as published SSIMs are) between
//!   generated and test images of the class, over a fixed seeded pairing, and
//!   beside it the global-statistics SSIM of SGBGAN's eq. 13 over the same pairs.
//! - **Accuracy on generated images** (CostSensitive-ACGAN's Table 5): the
//!   feature extractor is itself a classifier trained on the real, balanced
//!   training split, so its arg-max classifies the generated images; per
//!   class, the fraction assigned to the intended class, beside the
//!   extractor's own accuracy on that class's real test images.
//! - **Downstream classification** (unless `--no-downstream`): a fresh
//!   classifier trained on the imbalanced training set, on it oversampled, and
//!   on it plus generated images up to the majority count; accuracy, ACSA,
//!   macro F1, macro F1.5 and G-mean on the balanced test set, per-class
//!   precision, recall, F1 and F1.5, and S3VAE's grouped F1.5 (one group of
//!   classes against all others, chosen by [`f1_5_group`]).
//!
//! Results go to `RUN/eval.toml`, which `balgan report` reads, with the
//! settings that produced them and the classes the minority means leave out.

use std::path::PathBuf;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::run::{generate_images, write_text, RunConfig, RunDir};
use crate::data::imbalance::Recipe;
use crate::data::{Dataset, Split};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::metrics::classification::S3VAE_BETA;
use crate::metrics::classifier::TrainConfig;
use crate::metrics::classifier::{Architecture, Classifier, Images};
use crate::metrics::evaluate::{
    accuracy_on_generated, downstream_with, feature_extractor_reporting, fid_and_kid_per_class, TrainingData,
};
use crate::metrics::kid::{KidOptions, KID_MAX_SUBSET, KID_SUBSETS};
use crate::metrics::ssim::{
    global_ssim_per_class_host, ssim_per_class_host, unit_range, within_class_ssim_host, UNIT_DATA_RANGE,
};
use crate::models::BalancingModel;
use crate::nn::{Checkpoint, CheckpointWriter};

/// Options of `balgan eval`.
#[derive(Debug, Clone)]
pub struct EvalArgs {
    /// `--run`: the run directory to evaluate.
    pub run: PathBuf,
    /// Real test images per class used (`None`: all); generated images per
    /// class: the same number.
    pub per_class: Option<usize>,
    /// `--extractor-per-class`: training images per class the FID feature extractor learns from, at most
    /// (default 500; at least 2).
    pub extractor_per_class: usize,
    /// `--extractor-epochs`: epochs of the FID feature extractor (default 10).
    pub extractor_epochs: usize,
    /// `--extractor-batch`: images per step of the FID feature extractor
    /// (default 128; at least 2, for batch norm). A short training learns
    /// more from more, smaller steps.
    pub extractor_batch: usize,
    /// Width of the feature extractor's CNN ([`EXTRACTOR_WIDTH`] by default;
    /// its cost grows with the square).
    pub extractor_width: usize,
    /// Train and measure the downstream classifiers; `--no-downstream` clears it (default: set).
    pub downstream: bool,
    /// `--downstream-epochs`: epochs of each downstream classifier, the most with the s3vae schedule (default 10).
    pub downstream_epochs: usize,
    /// Train the two baseline classifiers (imbalanced, oversampled) beside
    /// the one with generated images (default: set). They do not depend on
    /// the model, so `balgan experiment` trains them in one cell per level.
    pub downstream_baselines: bool,
    /// The downstream classifiers' network and width (small, 32 by default).
    pub downstream_classifier: Architecture,
    /// `--downstream-width`: channels of the downstream classifiers' first stage (default [`DOWNSTREAM_WIDTH`]).
    pub downstream_width: usize,
    /// The downstream classifiers' schedule: Adam for `downstream_epochs`,
    /// or S3VAE's (SGD, early stopping on a validation split, at most
    /// `downstream_epochs`).
    pub downstream_schedule: DownstreamSchedule,
    /// `--seed`: seed of the test subset, the generated images, the classifiers' training and the SSIM pairing and
    /// KID subsets (default 0).
    pub seed: u64,
    /// `--quiet`: print nothing but errors.
    pub quiet: bool,
}

/// How the downstream classifiers train.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DownstreamSchedule {
    /// Adam, lr 1e-3, batch 128, every epoch.
    #[default]
    Adam,
    /// S3VAE's: SGD lr 1e-4, momentum 0.9, weight decay 1e-3, batch 64,
    /// early stopping on a 10 % validation split of the training set.
    S3vae,
}

impl DownstreamSchedule {
    /// The schedule's command-line name: `adam` or `s3vae`.
    pub fn name(self) -> &'static str {
        match self {
            DownstreamSchedule::Adam => "adam",
            DownstreamSchedule::S3vae => "s3vae",
        }
    }

    /// The classifier's training settings for `epochs` epochs (at most).
    pub fn config(self, epochs: usize, seed: u64) -> TrainConfig {
        let base = match self {
            DownstreamSchedule::Adam => TrainConfig::default(),
            DownstreamSchedule::S3vae => TrainConfig::s3vae(),
        };
        TrainConfig { epochs, seed, ..base }
    }
}

impl std::str::FromStr for DownstreamSchedule {
    type Err = Error;
    fn from_str(s: &str) -> Result<DownstreamSchedule> {
        match s.to_ascii_lowercase().as_str() {
            "adam" => Ok(DownstreamSchedule::Adam),
            "s3vae" => Ok(DownstreamSchedule::S3vae),
            other => Err(Error::invalid(
                "--downstream-schedule",
                format!("unknown schedule '{other}'; use adam or s3vae"),
            )),
        }
    }
}

impl Default for EvalArgs {
    fn default() -> Self {
        EvalArgs {
            run: PathBuf::new(),
            per_class: Some(1000),
            extractor_per_class: 500,
            extractor_epochs: 10,
            extractor_batch: EXTRACTOR_BATCH,
            extractor_width: EXTRACTOR_WIDTH,
            downstream: true,
            downstream_epochs: 10,
            downstream_baselines: true,
            downstream_classifier: Architecture::Small,
            downstream_width: DOWNSTREAM_WIDTH,
            downstream_schedule: DownstreamSchedule::Adam,
            seed: 0,
            quiet: false,
        }
    }
}

/// The majority class the "minority" means leave out: the class with the
/// most training images, the first of them on a tie (so the report's glance,
/// the minority FID/KID/SSIM and the experiments' tables leave out the same
/// one). `None` without classes.
pub fn majority_class(train_counts: &[usize]) -> Option<usize> {
    (0..train_counts.len()).max_by_key(|&c| (train_counts[c], std::cmp::Reverse(c)))
}

/// One class's measures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClassEval {
    /// The class's name.
    pub name: String,
    /// Images of the class in the run's (imbalanced) training set.
    pub train_images: usize,
    /// Real test images of the class compared with.
    pub test_images: usize,
    /// Images of the class generated for the comparison.
    pub generated: usize,
    /// FID between the class's generated and test images (`None` with fewer than 2 on a side).
    pub fid: Option<f64>,
    /// KID (unbiased MMD², cubic polynomial kernel) in the FID features: the
    /// mean over the subsets, their standard deviation and the subset size.
    #[serde(default)]
    pub kid: Option<f64>,
    /// Standard deviation of the KID over the subsets.
    #[serde(default)]
    pub kid_std: Option<f64>,
    /// Size of each KID subset.
    #[serde(default)]
    pub kid_subset: Option<usize>,
    /// Windowed SSIM (`tf.image.ssim`) on images in [0, 1], data range 1.
    pub ssim: Option<f64>,
    /// Global-statistics SSIM (SGBGAN eq. 13) over the same pairs, [0, 1], data range 1.
    #[serde(default)]
    pub ssim_global: Option<f64>,
    /// Mean SSIM between pairs of generated images of the class (diversity:
    /// lower is more varied), and the same among its real test images.
    #[serde(default)]
    pub within_generated: Option<f64>,
    /// Mean SSIM between pairs of the class's real test images.
    #[serde(default)]
    pub within_real: Option<f64>,
}

impl ClassEval {
    /// Generated images of the class are much more alike than real ones: the
    /// generator may have collapsed (a margin of 0.25 in SSIM).
    pub fn collapse_suspected(&self) -> bool {
        matches!((self.within_generated, self.within_real), (Some(g), Some(r)) if g > r + COLLAPSE_MARGIN)
    }
}

/// How much more alike (in within-class SSIM) generated images may be than
/// real ones before the report warns of mode collapse.
pub const COLLAPSE_MARGIN: f64 = 0.25;

/// One downstream classifier's measures on the balanced test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownstreamEval {
    /// What the classifier was trained on (imbalanced, oversampled, or real plus generated images).
    pub training: String,
    /// Number of training images.
    pub images: usize,
    /// Accuracy over the whole test set.
    pub accuracy: f64,
    /// Average class-specific accuracy: the mean of the per-class recalls.
    pub acsa: f64,
    /// Mean of the per-class F1 scores.
    pub macro_f1: f64,
    /// Geometric mean of the per-class recalls.
    pub g_mean: f64,
    /// Recall of each class, in class order.
    pub recalls: Vec<f64>,
    /// Macro F1.5 (mean per-class F_β, β = 1.5; absent in files written
    /// before it was recorded, as are the fields below).
    #[serde(default)]
    pub macro_f1_5: Option<f64>,
    /// S3VAE's grouped F1.5: the classes of [`EvalResults::f1_5_group`]
    /// taken as one class against all the others.
    #[serde(default)]
    pub grouped_f1_5: Option<f64>,
    /// Per class: precision, F1 and F1.5 (recall is `recalls`).
    #[serde(default)]
    pub precisions: Vec<f64>,
    /// F1 of each class.
    #[serde(default)]
    pub f1: Vec<f64>,
    /// F1.5 (F_β, β = 1.5) of each class.
    #[serde(default)]
    pub f1_5: Vec<f64>,
}

/// The classes S3VAE's grouped F1.5 sets against all the others, and why
/// these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassGroup {
    /// Names of the classes in the group.
    pub classes: Vec<String>,
    /// Why these classes were chosen (the recipe's reduced classes, or the smallest class).
    pub chosen_by: String,
}

/// The accuracy on generated images: the feature extractor (a classifier
/// trained on the real, balanced training split) classifies the generated
/// images and the real test images.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GeneratedAccuracyEval {
    /// Fraction of all generated images assigned to their intended class.
    pub generated: f64,
    /// The classifier's accuracy on the whole test set.
    pub classifier_test: f64,
    /// Per class, the same two accuracies.
    pub classes: Vec<ClassAccuracy>,
}

/// One class's accuracy on generated images and the classifier's accuracy on
/// its real test images (`None`: no image of the class on that side).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassAccuracy {
    /// The class's name.
    pub name: String,
    /// Fraction of the class's generated images assigned to the class.
    pub generated: Option<f64>,
    /// The classifier's accuracy on the class's real test images.
    pub classifier_test: Option<f64>,
    /// The other class the classifier most often assigned the class's
    /// generated images to, and the share of them (absent where every one
    /// came out as the class, and from older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_for: Option<TakenFor>,
}

/// The class a class's generated images were most often mistaken for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TakenFor {
    /// That class's name.
    pub class: String,
    /// The share of the generated images assigned to it.
    pub share: f64,
}

/// `eval.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalResults {
    /// Training step of the checkpoint evaluated.
    pub step: u64,
    /// Which features FID and KID were measured in: the extractor's width, images per class and image size.
    pub features: String,
    /// Each class's measures, in class order.
    pub classes: Vec<ClassEval>,
    /// Mean FID over the minority classes (all but the largest).
    pub minority_fid: Option<f64>,
    /// Mean KID over the minority classes.
    #[serde(default)]
    pub minority_kid: Option<f64>,
    /// Mean windowed SSIM over the minority classes.
    pub minority_ssim: Option<f64>,
    /// Mean global-statistics SSIM (SGBGAN eq. 13) over the minority classes.
    #[serde(default)]
    pub minority_ssim_global: Option<f64>,
    /// The downstream classifiers' measures (empty with `--no-downstream`).
    pub downstream: Vec<DownstreamEval>,
    /// Wall-clock seconds the evaluation took.
    pub seconds: f64,
    /// Minority classes the two means above leave out, each with why
    /// (`"cow: FID: 1 test image, …"`); empty when every one counted.
    #[serde(default)]
    pub minority_left_out: Vec<String>,
    /// Everything that produced these numbers (absent in files written before
    /// it was recorded).
    #[serde(default)]
    pub settings: Option<EvalSettings>,
    /// Accuracy on generated images, per class (absent in older files).
    #[serde(default)]
    pub accuracy_on_generated: Option<GeneratedAccuracyEval>,
    /// The group of the downstream classifiers' grouped F1.5 (absent without
    /// downstream classifiers and in older files).
    #[serde(default)]
    pub f1_5_group: Option<ClassGroup>,
}

/// The classes S3VAE's grouped F1.5 takes as one group against the others,
/// and why: the classes the imbalance recipe reduces when it names them
/// (`discard:class=C[+C…]`, S3VAE's own protocol, and `cs-acgan:class=C`,
/// one reduced class as well); otherwise the class with the fewest training
/// images (the first of them on a tie).
pub fn f1_5_group(imbalance: Option<&str>, train_counts: &[usize]) -> Result<(Vec<usize>, String)> {
    let k = train_counts.len();
    let named = match imbalance.map(str::parse::<Recipe>).transpose()? {
        Some(Recipe::Discard { classes, .. }) => Some((
            classes,
            "the discard recipe's reduced class(es), S3VAE's discarded class",
        )),
        Some(Recipe::CapRemove { class, .. }) => Some((vec![class], "the class the cs-acgan recipe reduces")),
        _ => None,
    };
    if let Some((classes, why)) = named {
        let mut classes: Vec<usize> = classes.into_iter().map(|c| c as usize).collect();
        classes.sort_unstable();
        classes.dedup();
        if classes.iter().all(|&c| c < k) && classes.len() < k {
            return Ok((classes, why.to_string()));
        }
    }
    let smallest = (0..k)
        .min_by_key(|&c| (train_counts[c], c))
        .ok_or_else(|| Error::invalid("grouped F1.5", "no classes"))?;
    Ok((vec![smallest], "the class with the fewest training images".to_string()))
}

/// The settings of the `balgan eval` call that wrote `eval.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalSettings {
    /// The checkpoint evaluated, its model and training step.
    pub checkpoint: String,
    /// The model the checkpoint holds.
    pub model: String,
    /// The checkpoint's training step.
    pub step: u64,
    /// Test images per class compared with (0: all of them).
    pub per_class: usize,
    /// `--extractor-per-class`: training images per class the feature extractor learned from, at most.
    pub extractor_per_class: usize,
    /// `--extractor-epochs`: epochs the feature extractor trained.
    pub extractor_epochs: usize,
    /// `--extractor-batch`: the feature extractor's images per step (absent
    /// from older files: [`EXTRACTOR_BATCH`]).
    #[serde(default)]
    pub extractor_batch: Option<usize>,
    /// The feature extractor's cache file and the key it was made under.
    pub extractor_file: String,
    /// The key: everything the extractor depends on (see [`extractor_key`]).
    pub extractor_key: String,
    /// Whether the downstream classifiers were trained (`false` with `--no-downstream`).
    pub downstream: bool,
    /// `--downstream-epochs`: epochs of each downstream classifier (the most, with the s3vae schedule).
    pub downstream_epochs: usize,
    /// Whether the baseline classifiers (imbalanced, oversampled) were
    /// trained too (absent from older files: they were).
    #[serde(default)]
    pub downstream_baselines: Option<bool>,
    /// The downstream classifiers' network, width and schedule (absent from
    /// older files: small, 32, adam).
    #[serde(default)]
    pub downstream_classifier: Option<String>,
    /// `--downstream-width`: channels of the downstream classifiers' first stage.
    #[serde(default)]
    pub downstream_width: Option<usize>,
    /// `--downstream-schedule`: `adam` or `s3vae`.
    #[serde(default)]
    pub downstream_schedule: Option<String>,
    /// `--seed` of the evaluation.
    pub seed: u64,
    /// KID's subsets per class and their largest size.
    #[serde(default)]
    pub kid_subsets: usize,
    /// The largest KID subset size.
    #[serde(default)]
    pub kid_max_subset: usize,
}

impl EvalSettings {
    /// Whether these numbers are what `args` would measure again: the same
    /// test images per class, feature extractor and seed, and (when `args`
    /// trains downstream classifiers) the same classifiers. A cached
    /// `eval.toml` is reused only then.
    pub fn made_with(&self, args: &EvalArgs) -> bool {
        // The extractor's key has ended with its width since keys were recorded.
        let same_base = self.per_class == args.per_class.unwrap_or(0)
            && self.extractor_per_class == args.extractor_per_class
            && self.extractor_epochs == args.extractor_epochs
            && self.extractor_batch.unwrap_or(EXTRACTOR_BATCH) == args.extractor_batch
            && self
                .extractor_key
                .ends_with(&format!(";width={}", args.extractor_width))
            && self.seed == args.seed;
        let same_downstream = !args.downstream
            || (self.downstream
                && (self.downstream_baselines.unwrap_or(true) || !args.downstream_baselines)
                && self.downstream_epochs == args.downstream_epochs
                && self.downstream_classifier.as_deref().unwrap_or("small") == args.downstream_classifier.name()
                && self.downstream_width.unwrap_or(DOWNSTREAM_WIDTH) == args.downstream_width
                && self.downstream_schedule.as_deref().unwrap_or("adam") == args.downstream_schedule.name());
        same_base && same_downstream
    }
}

impl EvalArgs {
    /// Refuse settings that would give meaningless numbers.
    pub fn check(&self) -> Result<()> {
        let zero = |flag: &'static str, what: &str| {
            Err(Error::invalid(
                flag,
                format!("0 {what} would measure nothing meaningful; pass a number ≥ 1"),
            ))
        };
        if self.per_class == Some(0) {
            return zero("--per-class", "test images per class");
        }
        if self.extractor_per_class < 2 {
            return Err(Error::invalid(
                "--extractor-per-class",
                format!(
                    "{} training images per class cannot train the feature extractor; pass 2 or more",
                    self.extractor_per_class
                ),
            ));
        }
        if self.extractor_width == 0 {
            return zero("--extractor-width", "channels in the feature extractor");
        }
        if self.extractor_batch < 2 {
            return Err(Error::invalid(
                "--extractor-batch",
                format!(
                    "batches of {} image(s) cannot train the feature extractor (batch norm needs two); pass 2 or more",
                    self.extractor_batch
                ),
            ));
        }
        if self.extractor_epochs == 0 {
            return zero(
                "--extractor-epochs",
                "epochs of the feature extractor (an untrained network)",
            );
        }
        if self.downstream && self.downstream_epochs == 0 {
            return zero(
                "--downstream-epochs",
                "epochs of the downstream classifiers (untrained classifiers; use --no-downstream to skip them)",
            );
        }
        Ok(())
    }
}

impl EvalResults {
    /// The run's `eval.toml`, or `None` when the run has not been evaluated yet.
    pub fn read(run: &RunDir) -> Result<Option<EvalResults>> {
        let p = run.eval_path();
        if !p.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        toml::from_str(&text)
            .map(Some)
            .map_err(|e| Error::invalid("eval", format!("{}: {e}", p.display())))
    }
}

fn mean(v: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let vals: Vec<f64> = v.flatten().collect();
    (!vals.is_empty()).then(|| vals.iter().sum::<f64>() / vals.len() as f64)
}

/// Width of the classifier CNN whose pooled features FID is measured in, by default.
pub const EXTRACTOR_WIDTH: usize = 32;

/// The feature extractor's images per training step, by default.
pub const EXTRACTOR_BATCH: usize = 128;

/// Channels of the small downstream classifier's first stage.
pub const DOWNSTREAM_WIDTH: usize = 32;
/// The metadata entry of a cached feature extractor holding its key.
const EXTRACTOR_KEY: &str = "balgan.extractor_key";

/// 64-bit FNV-1a: a hash that stays the same across Rust versions and
/// platforms, for cache file names.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Everything the feature extractor depends on, as one canonical string:
/// the data (kind, canonical path, split settings, classes, image shape),
/// how many images per class it learns from and how it is trained.
pub fn extractor_key(cfg: &RunConfig, args: &EvalArgs, tc: &TrainConfig, width: usize) -> String {
    let path = match &cfg.data.path {
        Some(p) => std::fs::canonicalize(p)
            .unwrap_or_else(|_| p.clone())
            .display()
            .to_string(),
        None => "(default)".to_string(),
    };
    format!(
        "v1;dataset={};path={path};holdout={};data_seed={};image_size={};channels={};classes=[{}];\
         per_class={};seed={};epochs={};batch={};lr={};width={width}",
        cfg.data.dataset.to_ascii_lowercase(),
        cfg.data.holdout,
        cfg.data.seed,
        cfg.data.image_size,
        cfg.model.channels,
        cfg.class_names.join("|"),
        args.extractor_per_class,
        tc.seed,
        tc.epochs,
        tc.batch_size,
        tc.lr,
    )
}

/// The cached extractor at `path` was made under `key`.
fn cache_matches(path: &std::path::Path, key: &str) -> bool {
    Checkpoint::open(path).is_ok_and(|c| c.metadata(EXTRACTOR_KEY) == Some(key))
}

/// Announce a stage. With a terminal, a spinner shows the stage's elapsed time
/// until the next stage starts (the classifiers train for minutes on CPU
/// adapters and report nothing in between).
struct Stages {
    quiet: bool,
    spinner: Option<indicatif::ProgressBar>,
    /// What the current stage said, which its progress follows.
    stage: String,
}

impl Stages {
    fn say(&mut self, s: impl AsRef<str>) {
        if let Some(sp) = self.spinner.take() {
            sp.finish();
        }
        self.stage = s.as_ref().to_string();
        if self.quiet {
            return;
        }
        if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            let sp = indicatif::ProgressBar::new_spinner();
            if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
                sp.set_style(style);
            }
            sp.set_message(s.as_ref().to_string());
            sp.enable_steady_tick(std::time::Duration::from_millis(200));
            self.spinner = Some(sp);
        } else {
            println!("{}", s.as_ref());
        }
    }
}

impl Stages {
    /// Progress within the current stage: the spinner's message on a
    /// terminal, an indented line otherwise.
    fn progress(&self, s: impl AsRef<str>) {
        if self.quiet {
            return;
        }
        match &self.spinner {
            Some(sp) => sp.set_message(format!("{}: {}", self.stage, s.as_ref())),
            None => println!("  {}", s.as_ref()),
        }
    }
}

impl Drop for Stages {
    fn drop(&mut self) {
        if let Some(sp) = self.spinner.take() {
            sp.finish();
        }
    }
}

/// Image pairs per SSIM upload.
const SSIM_PASS: usize = 256;

/// Run the evaluation and write `eval.toml`.
pub fn eval(dev: &Device, args: &EvalArgs) -> Result<EvalResults> {
    let started = Instant::now();
    let mut stages = Stages {
        quiet: args.quiet,
        spinner: None,
        stage: String::new(),
    };
    args.check()?;
    let run = RunDir::open(&args.run)?;
    let cfg = run.read_config()?;
    let (mut model, state) = run.load_model(dev, &cfg)?;
    let train = cfg.data.training_set()?;
    let test = cfg.data.test_set(args.per_class, args.seed)?;
    let k = train.num_classes();
    if test.num_classes() != k {
        return Err(Error::invalid(
            "eval",
            format!("the test split has {} classes but training had {k}", test.num_classes()),
        ));
    }

    // The feature extractor, from the full training split, cached under a
    // key of everything that shapes it.
    let tc = TrainConfig {
        epochs: args.extractor_epochs,
        batch_size: args.extractor_batch,
        seed: args.seed,
        ..TrainConfig::default()
    };
    let extractor_key = extractor_key(&cfg, args, &tc, args.extractor_width);
    let eval_dir = run.root.join("eval");
    let cache = eval_dir.join(format!(
        "extractor-{}-{}px-{}pc-{:016x}.safetensors",
        cfg.data.dataset,
        cfg.data.image_size,
        args.extractor_per_class,
        fnv1a64(extractor_key.as_bytes())
    ));
    if cache.exists() && !cache_matches(&cache, &extractor_key) {
        // Not made under this key (an interrupted save, a file copied in):
        // train a new one in its place.
        std::fs::remove_file(&cache).map_err(|e| Error::io(&cache, e))?;
    }
    let cached = cache.exists();
    // With the cache in place the training set only supplies the image shape.
    let reference = if cached {
        train.clone()
    } else {
        let full = cfg.data.reference_set(args.extractor_per_class, args.seed)?;
        stages.say(format!(
            "training the feature extractor on {} training images ({} per class at most)",
            full.len(),
            args.extractor_per_class
        ));
        full
    };
    let epochs = tc.epochs;
    let extractor =
        feature_extractor_reporting(dev, &reference, &cache, args.extractor_width, &tc, |e, step, loss| {
            stages.progress(format!("epoch {}/{epochs}, step {step}: loss {loss:.4}", e + 1))
        })?;
    if !cached {
        CheckpointWriter::new()
            .add_module("", &extractor)
            .set_metadata(EXTRACTOR_KEY, extractor_key.as_str())
            .write(&cache)?;
    }

    // Generated images, as many per class as there are test images.
    let counts = test.class_counts();
    let per = counts.iter().copied().max().unwrap_or(0);
    stages.say(format!("generating {per} images per class"));
    let classes: Vec<u32> = (0..k as u32).collect();
    let (images, labels) = generate_images(model.as_mut(), &classes, per, args.seed ^ 0xE7A1)?;
    let mut shape = test.shape();
    shape[0] = labels.len();
    let generated = Dataset::new(images, shape, labels, test.class_names().to_vec())?;

    stages.say("per-class FID, KID and SSIM");
    let kid_opts = KidOptions {
        subsets: KID_SUBSETS,
        max_subset: KID_MAX_SUBSET,
        seed: args.seed ^ 0x4B1D,
    };
    let (fids, kids) = fid_and_kid_per_class(dev, &extractor, &test, &generated, Some(&kid_opts))?;
    let (ssims, ssims_global, within_gen, within_real) =
        ssim_measures(dev, &generated, &test, cfg.data.image_size, args.seed)?;
    let train_counts = train.class_counts();
    let gen_counts = generated.class_counts();
    let class_evals: Vec<ClassEval> = (0..k)
        .map(|c| ClassEval {
            name: train.class_names()[c].clone(),
            train_images: train_counts[c],
            test_images: counts[c],
            generated: gen_counts[c],
            fid: fids[c],
            kid: kids[c].map(|v| v.mean),
            kid_std: kids[c].map(|v| v.std),
            kid_subset: kids[c].map(|v| v.subset_size),
            ssim: ssims[c],
            ssim_global: ssims_global[c],
            within_generated: within_gen[c],
            within_real: within_real[c],
        })
        .collect();
    let majority = majority_class(&train_counts).unwrap_or(0);
    let minority_of = |f: fn(&ClassEval) -> Option<f64>| {
        mean(
            class_evals
                .iter()
                .enumerate()
                .filter(|(c, _)| *c != majority)
                .map(|(_, e)| f(e)),
        )
    };
    let minority_fid = minority_of(|e| e.fid);
    let minority_ssim = minority_of(|e| e.ssim);
    let minority_kid = minority_of(|e| e.kid);
    let minority_ssim_global = minority_of(|e| e.ssim_global);

    let minority_left_out = left_out(&class_evals, majority, cfg.data.image_size);

    stages.say("accuracy on generated images");
    let accuracy_on_generated = generated_accuracy(dev, &extractor, &test, &generated)?;

    let (rows, group) = if args.downstream {
        downstream_rows(dev, model.as_mut(), &cfg, &train, &test, args, &mut stages)?
    } else {
        (Vec::new(), None)
    };
    let results = EvalResults {
        step: state.step,
        features: format!(
            "balgan classifier CNN (width {}) pooled features, trained on ≤ {} images per class of the {} split at {}×{}",
            args.extractor_width,
            args.extractor_per_class,
            Split::Train.as_str(),
            cfg.data.image_size,
            cfg.data.image_size
        ),
        classes: class_evals,
        minority_fid,
        minority_kid,
        minority_ssim,
        minority_ssim_global,
        downstream: rows,
        seconds: started.elapsed().as_secs_f64(),
        minority_left_out,
        settings: Some(EvalSettings {
            checkpoint: run.checkpoint_path().display().to_string(),
            model: cfg.model.model.name().to_string(),
            step: state.step,
            per_class: args.per_class.unwrap_or(0),
            extractor_per_class: args.extractor_per_class,
            extractor_epochs: args.extractor_epochs,
            extractor_batch: Some(args.extractor_batch),
            extractor_file: cache
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            extractor_key,
            downstream: args.downstream,
            downstream_epochs: args.downstream_epochs,
            downstream_baselines: Some(args.downstream_baselines),
            downstream_classifier: Some(args.downstream_classifier.name().to_string()),
            downstream_width: Some(args.downstream_width),
            downstream_schedule: Some(args.downstream_schedule.name().to_string()),
            seed: args.seed,
            kid_subsets: kid_opts.subsets,
            kid_max_subset: kid_opts.max_subset,
        }),
        accuracy_on_generated: Some(accuracy_on_generated),
        f1_5_group: group,
    };
    let text = toml::to_string_pretty(&results).map_err(|e| Error::invalid("eval", e.to_string()))?;
    write_text(&run.eval_path(), &text)?;
    drop(stages);
    if !args.quiet {
        print!("{}", table(&results));
        println!("written: {}", run.eval_path().display());
    }
    Ok(results)
}

/// Per-class SSIM (windowed and global) between generated and test images and
/// within-class SSIM of each set, on images mapped to [0, 1] with data range 1
/// (the published convention); `None`s for images smaller than the window.
#[allow(clippy::type_complexity)]
fn ssim_measures(
    dev: &Device,
    generated: &Dataset,
    test: &Dataset,
    image_size: usize,
    seed: u64,
) -> Result<(Vec<Option<f64>>, Vec<Option<f64>>, Vec<Option<f64>>, Vec<Option<f64>>)> {
    let k = test.num_classes();
    Ok(if image_size >= 11 {
        // SSIM on [0, 1] with data range 1, the published convention.
        let (g01, r01) = (unit_range(generated.images()), unit_range(test.images()));
        // Image pairs are uploaded a pass at a time, never the whole sets.
        let g = Images {
            data: &g01,
            shape: generated.shape(),
        };
        let r = Images {
            data: &r01,
            shape: test.shape(),
        };
        let gl: Vec<usize> = generated.labels().iter().map(|&l| l as usize).collect();
        let rl: Vec<usize> = test.labels().iter().map(|&l| l as usize).collect();
        let l = UNIT_DATA_RANGE;
        (
            ssim_per_class_host(dev, g, &gl, r, &rl, k, l, seed, SSIM_PASS)?,
            global_ssim_per_class_host(g, &gl, r, &rl, k, l, seed)?,
            within_class_ssim_host(dev, g, &gl, k, l, SSIM_PASS)?,
            within_class_ssim_host(dev, r, &rl, k, l, SSIM_PASS)?,
        )
    } else {
        (vec![None; k], vec![None; k], vec![None; k], vec![None; k])
    })
}

/// Per class, the fraction of generated images the extractor (a classifier
/// trained on the real, balanced training split) assigns to the intended
/// class, beside its accuracy on the class's real test images.
fn generated_accuracy(
    dev: &Device,
    extractor: &Classifier,
    test: &Dataset,
    generated: &Dataset,
) -> Result<GeneratedAccuracyEval> {
    let acc = accuracy_on_generated(dev, extractor, test, generated)?;
    let names = test.class_names();
    Ok(GeneratedAccuracyEval {
        generated: acc.generated.accuracy(),
        classifier_test: acc.test.accuracy(),
        classes: acc
            .on_generated()
            .into_iter()
            .zip(acc.on_test())
            .zip(acc.taken_for())
            .enumerate()
            .map(|(c, ((g, t), other))| ClassAccuracy {
                name: names[c].clone(),
                generated: g,
                classifier_test: t,
                taken_for: other.map(|(p, share)| TakenFor {
                    class: names[p].clone(),
                    share,
                }),
            })
            .collect(),
    })
}

/// The downstream classifiers (trained on the imbalanced, oversampled and
/// rebalanced training sets) measured on the test split, and the class group
/// of the grouped F1.5.
fn downstream_rows(
    dev: &Device,
    model: &mut dyn BalancingModel,
    cfg: &RunConfig,
    train: &Dataset,
    test: &Dataset,
    args: &EvalArgs,
    stages: &mut Stages,
) -> Result<(Vec<DownstreamEval>, Option<ClassGroup>)> {
    let k = train.num_classes();
    let train_counts = train.class_counts();
    let mut rows = Vec::new();
    let (members, chosen_by) = f1_5_group(cfg.data.imbalance.as_deref(), &train_counts)?;
    // Generated images up to the majority count, for the third classifier.
    let target = train_counts.iter().copied().max().unwrap_or(0);
    let mut add_images = Vec::new();
    let mut add_labels = Vec::new();
    for (c, &have) in train_counts.iter().enumerate() {
        let need = target - have;
        if need > 0 {
            let (im, lb) = generate_images(model, &[c as u32], need, args.seed ^ 0x5EB1 ^ c as u64)?;
            add_images.extend(im);
            add_labels.extend(lb);
        }
    }
    let mut shape = train.shape();
    shape[0] = add_labels.len();
    let extra = Dataset::new(add_images, shape, add_labels, train.class_names().to_vec())?;
    let dc = args.downstream_schedule.config(args.downstream_epochs, args.seed);
    let skip = if args.downstream_baselines { 0 } else { 2 };
    for (name, mode, n) in [
        ("imbalanced (real only)", TrainingData::Imbalanced, train.len()),
        (
            "oversampled (repeated minority images)",
            TrainingData::Oversampled,
            target * k,
        ),
        (
            "real + generated (rebalanced)",
            TrainingData::WithGenerated(&extra),
            train.len() + extra.len(),
        ),
    ]
    .into_iter()
    .skip(skip)
    {
        stages.say(format!("downstream classifier: {name}, {n} images"));
        let cm = downstream_with(
            dev,
            train,
            test,
            mode,
            args.downstream_classifier,
            args.downstream_width,
            &dc,
        )?;
        let s = cm.summary();
        rows.push(DownstreamEval {
            training: name.to_string(),
            images: n,
            accuracy: s.accuracy,
            acsa: s.acsa,
            macro_f1: s.macro_f1,
            g_mean: s.g_mean,
            recalls: cm.recalls(),
            macro_f1_5: Some(s.macro_f_beta),
            grouped_f1_5: Some(cm.grouped_f_beta(&members, S3VAE_BETA)?),
            precisions: cm.precisions(),
            f1: cm.f_betas(1.0),
            f1_5: cm.f_betas(S3VAE_BETA),
        });
    }
    let group = Some(ClassGroup {
        classes: members.iter().map(|&c| train.class_names()[c].clone()).collect(),
        chosen_by,
    });
    Ok((rows, group))
}

/// The minority classes (all but `majority`) without an FID, a KID or an SSIM, and why.
fn left_out(classes: &[ClassEval], majority: usize, image_size: usize) -> Vec<String> {
    let mut out = Vec::new();
    for (_, e) in classes.iter().enumerate().filter(|(c, _)| *c != majority) {
        if e.fid.is_none() {
            out.push(format!(
                "{}: FID: {} test and {} generated images; FID needs at least 2 on each side",
                e.name, e.test_images, e.generated
            ));
        }
        if e.kid.is_none() {
            out.push(format!(
                "{}: KID: {} test and {} generated images; KID needs at least 2 on each side",
                e.name, e.test_images, e.generated
            ));
        }
        if e.ssim.is_none() {
            let why = if image_size < 11 {
                format!("images of {image_size}×{image_size} are smaller than SSIM's 11×11 window")
            } else {
                format!(
                    "{} test and {} generated images; SSIM needs at least 1 on each side",
                    e.test_images, e.generated
                )
            };
            out.push(format!("{}: SSIM: {why}", e.name));
        }
    }
    out
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("–".to_string(), |v| format!("{v:.digits$}"))
}

/// KID as "mean ± std (m)", m the subset size.
fn kid_cell(c: &ClassEval) -> String {
    match (c.kid, c.kid_std, c.kid_subset) {
        (Some(k), Some(s), Some(m)) => format!("{k:.4} ± {s:.4} ({m})"),
        (k, _, _) => opt(k, 4),
    }
}

/// The per-class table and the downstream table, in markdown.
pub fn table(r: &EvalResults) -> String {
    let mut s = String::new();
    s.push_str(
        "| class | train images | test images | generated | FID ↓ | KID ↓ (mean ± std, subset) | SSIM | SSIM global (eq. 13) | within-class SSIM, generated / real |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for c in &r.classes {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} / {}{} |\n",
            c.name,
            c.train_images,
            c.test_images,
            c.generated,
            opt(c.fid, 2),
            kid_cell(c),
            opt(c.ssim, 3),
            opt(c.ssim_global, 3),
            opt(c.within_generated, 3),
            opt(c.within_real, 3),
            if c.collapse_suspected() { " ⚠" } else { "" }
        ));
    }
    s.push_str(&format!(
        "| **minority mean** | | | | {} | {} | {} | {} | |\n",
        opt(r.minority_fid, 2),
        opt(r.minority_kid, 4),
        opt(r.minority_ssim, 3),
        opt(r.minority_ssim_global, 3)
    ));
    if !r.minority_left_out.is_empty() {
        s.push_str("\nLeft out of the minority means:\n\n");
        for l in &r.minority_left_out {
            s.push_str(&format!("- {l}\n"));
        }
    }
    let collapsed: Vec<&str> = r
        .classes
        .iter()
        .filter(|c| c.collapse_suspected())
        .map(|c| c.name.as_str())
        .collect();
    if !collapsed.is_empty() {
        s.push_str(&format!(
            "\n⚠ possible mode collapse: the generated images of {} are much more alike than the real ones \
             (within-class SSIM more than {COLLAPSE_MARGIN} above the real images').\n",
            collapsed.join(", ")
        ));
    }
    if let Some(a) = &r.accuracy_on_generated {
        s.push_str(&accuracy_table(a));
    }
    if !r.downstream.is_empty() {
        let group = r.f1_5_group.as_ref().map(|g| g.classes.join(" + "));
        s.push_str(&format!(
            "\n| classifier trained on | images | accuracy | ACSA | macro F1 | macro F1.5 | G-mean | F1.5, {} vs rest |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|\n",
            group.as_deref().unwrap_or("group")
        ));
        for d in &r.downstream {
            s.push_str(&format!(
                "| {} | {} | {:.4} | {:.4} | {:.4} | {} | {:.4} | {} |\n",
                d.training,
                d.images,
                d.accuracy,
                d.acsa,
                d.macro_f1,
                opt(d.macro_f1_5, 4),
                d.g_mean,
                opt(d.grouped_f1_5, 4)
            ));
        }
        if let Some(g) = &r.f1_5_group {
            s.push_str(&format!(
                "\nF1.5 weighs recall above precision (F_β, β = 1.5, as S3VAE reports). The last column is S3VAE's \
                 grouped F1.5: {} ({}) as one class against all the others.\n",
                g.classes.join(" + "),
                g.chosen_by
            ));
        }
        s.push_str(&per_class_downstream(r));
    }
    s
}

/// The accuracy on generated images beside the classifier's accuracy on the
/// real test images, per class.
fn accuracy_table(a: &GeneratedAccuracyEval) -> String {
    let mut s = String::from(
        "\nAccuracy on generated images: the fraction of each class's generated images that the feature \
         extractor, a classifier trained on the real, balanced training split, assigns to the intended class, \
         the other class it assigns most of the rest to, and that classifier's accuracy on the class's real \
         test images.\n\n\
         | class | accuracy on generated ↑ | most often taken for | classifier accuracy on test |\n\
         |---|---:|---|---:|\n",
    );
    for c in &a.classes {
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            c.name,
            opt(c.generated, 4),
            c.taken_for
                .as_ref()
                .map_or("–".into(), |t| format!("{} ({:.4})", t.class, t.share)),
            opt(c.classifier_test, 4)
        ));
    }
    s.push_str(&format!(
        "| **all** | {:.4} | | {:.4} |\n",
        a.generated, a.classifier_test
    ));
    s
}

/// Each downstream classifier's per-class precision, recall, F1 and F1.5
/// (files written before these were recorded have none).
fn per_class_downstream(r: &EvalResults) -> String {
    let mut s = String::new();
    for d in r.downstream.iter().filter(|d| !d.precisions.is_empty()) {
        s.push_str(&format!(
            "\nPer class, classifier trained on {}:\n\n| class | precision | recall | F1 | F1.5 |\n|---|---:|---:|---:|---:|\n",
            d.training
        ));
        for (c, e) in r.classes.iter().enumerate() {
            let at = |v: &[f64]| v.get(c).map_or("–".to_string(), |x| format!("{x:.4}"));
            s.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                e.name,
                at(&d.precisions),
                at(&d.recalls),
                at(&d.f1),
                at(&d.f1_5)
            ));
        }
    }
    s
}
