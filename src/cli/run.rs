//! The run directory every training command writes and every later command
//! (`generate`, `rebalance`, `eval`, `report`, `train --resume`) reads:
//!
//! ```text
//! RUN/
//!   config.toml                 what was trained on what (data, model, loop settings)
//!   adapter.txt                 the adapter the run trained on
//!   checkpoints/last.safetensors  model + optimizers + RNG + loop state (atomic)
//!   losses.csv                  every step's losses
//!   samples/*.png               a grid per epoch, a row per class
//!   eval.toml, report.md, plots/  written by `balgan eval` / `balgan report`
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::DataConfig;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::models::trainer::{restore, TrainState};
use crate::models::{build, BalancingModel, ModelConfig, Preset};
use crate::tensor::Generator;

/// Loop settings of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopConfig {
    /// `--seed`: seed of everything the run draws (weights, batches, noise, the imbalance selection).
    pub seed: u64,
    /// `--checkpoint-every`: write a checkpoint every this many steps (default 200).
    pub checkpoint_every: u64,
    /// Read the losses back from the device every this many steps (20 for a new run).
    pub log_every: u64,
    /// Wall-clock budget in minutes for all of training (`None`: none).
    pub budget_minutes: Option<f64>,
    /// Share of the budget for pre-training (the rest is adversarial).
    pub pretrain_share: f64,
}

/// Bring the `[model]` table of a config.toml written before the critic
/// schedule existed up to date: `cwgan-gp` then named the cross-entropy
/// variant (now `cwgan-gp-bce`); the schedule's absence reads as
/// `fresh-batches` (the serde default), what such runs trained with.
fn migrate_model_table(table: &mut toml::Table) {
    let Some(toml::Value::Table(model)) = table.get_mut("model") else {
        return;
    };
    if !model.contains_key("critic_schedule") && model.get("model").and_then(|v| v.as_str()) == Some("cwgan-gp") {
        model.insert("model".into(), toml::Value::String("cwgan-gp-bce".into()));
    }
}

/// The whole `config.toml`. Its `[data]` table alone is
/// [`DataConfig::read`]: the data protocol is the library's (`crate::data`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// The preset the model settings started from (`--preset`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<Preset>,
    /// The `[data]` table: the dataset, its imbalance recipe and how it is split and resized.
    pub data: DataConfig,
    /// The `[model]` table: which model and all its settings.
    pub model: ModelConfig,
    /// The `[loop]` table: seed, checkpoint and log intervals, budget and pre-training share.
    #[serde(rename = "loop")]
    pub train: LoopConfig,
    /// Class names in label order (the class map generate/eval reuse).
    pub class_names: Vec<String>,
}

/// A run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    /// The directory's path.
    pub root: PathBuf,
}

impl RunDir {
    /// The run directory at `root`, without looking at what is there (see [`RunDir::open`]).
    pub fn new(root: impl Into<PathBuf>) -> RunDir {
        RunDir { root: root.into() }
    }

    /// `RUN/config.toml`: the run's settings ([`RunConfig`]).
    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    /// `RUN/adapter.txt`: the adapter the run trained on.
    pub fn adapter_path(&self) -> PathBuf {
        self.root.join("adapter.txt")
    }
    /// `RUN/checkpoints/last.safetensors`: the latest checkpoint.
    pub fn checkpoint_path(&self) -> PathBuf {
        self.root.join("checkpoints").join("last.safetensors")
    }
    /// The checkpoint before the last one: its parameters have produced a
    /// finite loss, so it survives a last checkpoint that a divergence spoilt.
    pub fn previous_checkpoint_path(&self) -> PathBuf {
        self.root.join("checkpoints").join("previous.safetensors")
    }
    /// `RUN/losses.csv`: every step's losses.
    pub fn losses_path(&self) -> PathBuf {
        self.root.join("losses.csv")
    }
    /// Values models log at the end of each epoch (`phase,epoch,name,value`
    /// rows; CostSensitive-ACGAN's class weights).
    pub fn epochs_path(&self) -> PathBuf {
        self.root.join("epochs.csv")
    }
    /// `RUN/samples/`: the sample grids (a row per class), one per epoch and phase end, and `final.png`.
    pub fn samples_dir(&self) -> PathBuf {
        self.root.join("samples")
    }
    /// `RUN/eval.toml`: what `balgan eval` measured.
    pub fn eval_path(&self) -> PathBuf {
        self.root.join("eval.toml")
    }
    /// `RUN/report.md`: what `balgan report` writes.
    pub fn report_path(&self) -> PathBuf {
        self.root.join("report.md")
    }
    /// `RUN/plots/`: the report's plots.
    pub fn plots_dir(&self) -> PathBuf {
        self.root.join("plots")
    }
    /// `RUN/history.toml`: the run's phases, steps, adapter and how training ended ([`History`]).
    ///
    /// [`History`]: crate::cli::train::History
    pub fn history_path(&self) -> PathBuf {
        self.root.join("history.toml")
    }

    /// Refuse a directory `train` must not write into: a run already (resume
    /// it instead) or a folder holding anything else (the user's files).
    /// A missing or empty directory is fine.
    pub fn check_new(&self) -> Result<()> {
        let shown = self.root.display();
        if self.config_path().exists() {
            return Err(Error::invalid(
                "train",
                format!("{shown} already holds a run; continue it with `balgan train --resume {shown}` or choose another --out"),
            ));
        }
        if self.root.exists() && !self.root.is_dir() {
            return Err(Error::invalid(
                "--out",
                format!("{shown} is a file, not a directory; choose another --out"),
            ));
        }
        if let Ok(entries) = std::fs::read_dir(&self.root) {
            let mut names: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            if !names.is_empty() {
                names.sort();
                let n = names.len();
                let shown_names = names.iter().take(5).cloned().collect::<Vec<_>>().join(", ");
                let more = if n > 5 {
                    format!(" and {} more", n - 5)
                } else {
                    String::new()
                };
                return Err(Error::invalid(
                    "--out",
                    format!(
                        "{shown} is not empty and is not a balgan run (it holds {shown_names}{more}); \
                         balgan writes only into a new or empty directory: choose another --out"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Remove what a killed process left behind: temporary files of
    /// interrupted atomic writes. Returns what was removed.
    pub fn remove_stale_temporaries(&self) -> Vec<PathBuf> {
        let mut removed = Vec::new();
        for d in [
            self.root.clone(),
            self.root.join("checkpoints"),
            self.samples_dir(),
            self.plots_dir(),
        ] {
            removed.extend(crate::atomic_file::remove_stale_temporaries(&d));
        }
        removed
    }

    /// Write a training checkpoint: with `rotate`, the one on disk first
    /// becomes `previous.safetensors` (best effort: `previous` is a spare,
    /// and a failure to keep it is said, not fatal); the new one becomes
    /// `last.safetensors` atomically, so a kill at any point leaves a
    /// loadable `last`. Nothing is written, and nothing moves, if the model
    /// holds NaN or ±Inf.
    pub fn save_checkpoint(
        &self,
        model: &dyn BalancingModel,
        state: &TrainState,
        metadata: &[(&str, String)],
        rotate: bool,
    ) -> Result<()> {
        let last = self.checkpoint_path();
        let bytes = crate::models::trainer::encode_checkpoint(&last, model, state, metadata)?;
        if rotate && last.is_file() {
            if let Err(e) = self.keep_as_previous(&last) {
                eprintln!("warning: could not keep the checkpoint before this one: {e}");
            }
        }
        crate::atomic_file::write_atomic(&last, |w| std::io::Write::write_all(w, &bytes))
    }

    /// Make `previous.safetensors` a copy of `last` (a hard link where the
    /// file system has them), atomically.
    fn keep_as_previous(&self, last: &Path) -> Result<()> {
        let prev = self.previous_checkpoint_path();
        let tmp = self
            .root
            .join("checkpoints")
            .join(format!(".previous.safetensors.tmp-{}-0", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        if std::fs::hard_link(last, &tmp).is_err() {
            std::fs::copy(last, &tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        let renamed = std::fs::rename(&tmp, &prev);
        // Gone after a rename; left when `tmp` and `prev` were already one
        // file (rename then does nothing) or on error.
        let _ = std::fs::remove_file(&tmp);
        renamed.map_err(|e| Error::io(&prev, e))
    }

    /// The training step a checkpoint file holds, if it reads.
    pub fn checkpoint_step(path: &Path) -> Option<u64> {
        let c = crate::nn::Checkpoint::open(path).ok()?;
        c.metadata("train.step")?.parse().ok()
    }

    /// After a divergence first seen at step `step`: a last checkpoint at
    /// that step or later (but for step 0, the weights as built) may hold
    /// the parameters that diverged, so the previous one takes its place. Returns the step of the checkpoint that
    /// is now `last` (`None`: there is none).
    pub fn keep_last_good(&self, step: u64) -> Result<Option<u64>> {
        let last = self.checkpoint_path();
        let last_step = RunDir::checkpoint_step(&last);
        match last_step {
            // Step 0 holds the weights as built, before any update.
            Some(s) if s < step || s == 0 => Ok(Some(s)),
            _ => {
                let prev = self.previous_checkpoint_path();
                match RunDir::checkpoint_step(&prev) {
                    Some(p) if p < step || p == 0 => {
                        std::fs::rename(&prev, &last).map_err(|e| Error::io(&last, e))?;
                        Ok(Some(p))
                    }
                    _ => Ok(None),
                }
            }
        }
    }

    /// Create the directory and its sub-folders.
    pub fn create(&self) -> Result<()> {
        for d in [
            self.root.clone(),
            self.root.join("checkpoints"),
            self.samples_dir(),
            self.plots_dir(),
        ] {
            std::fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        }
        Ok(())
    }

    /// Fails with a clear message when `root` is not a run directory.
    pub fn open(root: impl Into<PathBuf>) -> Result<RunDir> {
        let run = RunDir::new(root);
        if !run.config_path().is_file() {
            return Err(Error::invalid(
                "--run",
                format!(
                    "{} is not a run directory (no config.toml); pass the directory `balgan train` wrote",
                    run.root.display()
                ),
            ));
        }
        run.remove_stale_temporaries();
        Ok(run)
    }

    /// Read `config.toml`, bringing the model table of an older run up to date.
    pub fn read_config(&self) -> Result<RunConfig> {
        let p = self.config_path();
        let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
        let bad = |e: String| Error::invalid("config", format!("{}: {e}", p.display()));
        let mut table: toml::Table = toml::from_str(&text).map_err(|e| bad(e.to_string()))?;
        migrate_model_table(&mut table);
        let mut cfg: RunConfig = table.try_into().map_err(|e: toml::de::Error| bad(e.to_string()))?;
        cfg.model.reset_ignored_settings();
        Ok(cfg)
    }

    /// Write `config.toml` atomically.
    pub fn write_config(&self, cfg: &RunConfig) -> Result<()> {
        let text = toml::to_string_pretty(cfg).map_err(|e| Error::invalid("config", e.to_string()))?;
        write_text(&self.config_path(), &text)
    }

    /// Build the run's model and load its last checkpoint; returns the saved state.
    pub fn load_model(&self, dev: &Device, cfg: &RunConfig) -> Result<(Box<dyn BalancingModel>, TrainState)> {
        self.load_model_from(dev, cfg, &self.checkpoint_path())
    }

    /// Build the run's model and load the checkpoint `ckpt`.
    pub fn load_model_from(
        &self,
        dev: &Device,
        cfg: &RunConfig,
        ckpt: &Path,
    ) -> Result<(Box<dyn BalancingModel>, TrainState)> {
        if !ckpt.is_file() {
            return Err(Error::invalid(
                "--run",
                format!(
                    "{} has no checkpoint yet ({} is missing); train first",
                    self.root.display(),
                    ckpt.display()
                ),
            ));
        }
        let mut model = build(dev, &cfg.model, cfg.train.seed)?;
        let rng = Generator::new(noise_seed(cfg.train.seed));
        let state = restore(model.as_mut(), ckpt, cfg.train.seed, &rng)?;
        Ok((model, state))
    }
}

/// Write a text file atomically.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    crate::atomic_file::write_atomic(path, |w| std::io::Write::write_all(w, text.as_bytes()))
}

/// The seed of a run's device noise stream, derived from the run's seed.
pub fn noise_seed(seed: u64) -> u64 {
    seed ^ 0x0BA1_6A40_0000_0000
}

/// Class names or indices → labels (`all` for every class). A name that
/// matches a class exactly wins; otherwise a case-insensitive match is used
/// when exactly one class has it, and more than one (`Cat` and `cat` asked as
/// `CAT`) is an error listing them.
pub fn parse_classes(names: &[String], wanted: &[String]) -> Result<Vec<u32>> {
    let mut out = Vec::new();
    for w in wanted {
        if let Some(i) = names.iter().position(|n| n == w) {
            out.push(i as u32);
            continue;
        }
        if w.eq_ignore_ascii_case("all") {
            out.extend(0..names.len() as u32);
            continue;
        }
        let folded: Vec<usize> = (0..names.len())
            .filter(|&i| names[i].to_lowercase() == w.to_lowercase())
            .collect();
        if folded.len() > 1 {
            let list: Vec<String> = folded.iter().map(|&i| format!("'{}' ({i})", names[i])).collect();
            return Err(Error::invalid(
                "--class",
                format!(
                    "'{w}' matches {} classes when case is ignored: {}; pass the name with its exact case, or the index",
                    folded.len(),
                    list.join(", ")
                ),
            ));
        }
        let found = folded
            .first()
            .copied()
            .or_else(|| w.parse::<usize>().ok().filter(|&i| i < names.len()));
        match found {
            Some(i) => out.push(i as u32),
            None => {
                return Err(Error::invalid(
                    "--class",
                    format!(
                        "unknown class '{w}'; the run's classes are {} (names or indices 0–{}, or 'all')",
                        names.join(", "),
                        names.len().saturating_sub(1)
                    ),
                ))
            }
        }
    }
    out.dedup();
    Ok(out)
}

/// `model.sample(labels)` on the host; when one call of them all would need
/// a tensor past the adapter's limits (a wide generator's activations on a
/// CPU driver's 128 MiB bindings), in calls of the model's training batch,
/// which the adapter holds with room to spare (training keeps a batch's
/// activations for the backward pass too). The fallback draws the same
/// stream in other pieces, so those images differ from a larger adapter's.
fn sample_within_limits(model: &mut dyn BalancingModel, labels: &[u32], rng: &Generator) -> Result<Vec<f32>> {
    match model.sample(labels, rng) {
        Err(Error::LimitExceeded { .. }) if labels.len() > model.config().batch.max(1) => {
            let piece = model.config().batch.max(1);
            let mut out = Vec::new();
            for part in labels.chunks(piece) {
                out.extend(model.sample(part, rng)?.to_vec()?);
            }
            Ok(out)
        }
        r => r?.to_vec(),
    }
}

/// Generate `count` images of each class in `classes` with a sample stream
/// seeded by `seed`, in chunks (bounded memory). Returns host images
/// [N, C, S, S] in [−1, 1] and labels, class by class.
pub fn generate_images(
    model: &mut dyn BalancingModel,
    classes: &[u32],
    count: usize,
    seed: u64,
) -> Result<(Vec<f32>, Vec<u32>)> {
    const CHUNK: usize = 256;
    let rng = Generator::new(seed);
    let mut images = Vec::new();
    let mut labels = Vec::new();
    for &c in classes {
        let mut left = count;
        while left > 0 {
            let n = left.min(CHUNK);
            let y = vec![c; n];
            let v = sample_within_limits(model, &y, &rng)?;
            if let Some(bad) = v.iter().position(|v| !v.is_finite()) {
                return Err(Error::invalid(
                    "generate",
                    format!(
                        "the model produced a non-finite pixel ({}) for class {c}: its weights have diverged; \
                         train it again (or from an earlier copy of the run) with lower learning rates",
                        v[bad]
                    ),
                ));
            }
            images.extend(v);
            labels.extend(y);
            left -= n;
        }
    }
    Ok((images, labels))
}
