//! `balgan train`: train a model into a run directory (see [`super::run`]),
//! and `balgan train --resume RUN` to continue one exactly where its last
//! checkpoint left it.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use super::run::{noise_seed, write_text, LoopConfig, RunConfig, RunDir};
use crate::data::grid::{rows_by_class, save_grid_tensor};
use crate::data::imbalance::counts_table;
use crate::data::DataConfig;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::models::trainer::{self, Control, Outcome, StepLosses, TrainHooks, TrainOptions, TrainState};
use crate::models::{build, BalancingModel, CriticSchedule, ModelConfig, ModelKind, Phase, Preset};
use crate::tensor::Generator;

/// Everything `balgan train` takes.
#[derive(Debug, Clone)]
pub struct TrainArgs {
    /// `--model`: which model to train (default sgbgan).
    pub model: ModelKind,
    /// Settings to start from instead of the model's defaults (`--preset`).
    pub preset: Option<Preset>,
    /// The data: `--dataset`, `--data`, `--imbalance`, `--train-per-class` and `--image-size` (default 64, or the
    /// preset's), with the seed and the default hold-out.
    pub data: DataConfig,
    /// Adversarial epochs (`None`: the model's default).
    pub epochs: Option<usize>,
    /// Pre-training epochs (`None`: the model's default).
    pub ae_epochs: Option<usize>,
    /// `--batch`: batch size (`None`: the model's or preset's).
    pub batch: Option<usize>,
    /// `--seed`: seed of everything, the weights, batches, noise and imbalance selection (default 0).
    pub seed: u64,
    /// `--out`: the run directory, new or empty (`None`: `runs/MODEL-DATASET-RECIPE`).
    pub out: Option<PathBuf>,
    /// `--checkpoint-every`: write a checkpoint every this many steps (default 200).
    pub checkpoint_every: u64,
    /// `--budget-minutes`: stop, resumably, after this many minutes of training (`None`: train every epoch).
    pub budget_minutes: Option<f64>,
    /// `--pretrain-share`: the share of the budget pre-training may use, from 0 to 1 (default 0.3).
    pub pretrain_share: f64,
    /// `--quiet`: print nothing but errors.
    pub quiet: bool,
    /// Settings on top of the defaults (`key=value`, ModelConfig's field names).
    pub set: Vec<String>,
}

/// One phase's record in `history.toml`, for the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    /// The phase's name (e.g. `adversarial`).
    pub name: String,
    /// Batches the phase has trained.
    pub steps: u64,
    /// Epochs the phase completed.
    pub epochs_completed: usize,
    /// Epochs the phase was set to train.
    pub epochs_planned: usize,
    /// Wall-clock seconds spent in the phase, over every session of the run.
    pub seconds: f64,
    /// Why the phase ended before its last epoch.
    pub cut_short: Option<String>,
    /// Critic (discriminator) updates of the adversarial phase (0 for others).
    #[serde(default)]
    pub critic_updates: u64,
    /// Generator updates of the adversarial phase (0 for others).
    #[serde(default)]
    pub generator_updates: u64,
}

/// `history.toml`: what happened during training.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// The record of each phase trained so far, in order.
    pub phases: Vec<PhaseRecord>,
    /// Why training last stopped before its end (a budget, a divergence); `None` when it did not.
    pub stopped: Option<String>,
    /// Whether every phase trained to its end.
    pub finished: bool,
    /// Training steps (batches) taken in all.
    pub steps: u64,
    /// The adapter training runs on now.
    pub adapter: String,
    /// Things a later reader must know (an adapter switch, a resume on
    /// changed data, a generator never updated), each with its step.
    #[serde(default)]
    pub events: Vec<String>,
}

impl History {
    /// The run's `history.toml`, or an empty history when it is missing or does not read.
    pub fn read(run: &RunDir) -> History {
        std::fs::read_to_string(run.history_path())
            .ok()
            .and_then(|t| toml::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// A message when the adversarial phase ended before the generator's
    /// first update (a run stopped by its budget early, say).
    pub fn generator_update_warning(&self, model: &ModelConfig) -> Option<String> {
        if model.gan_epochs == 0 || !model.model.is_gan() {
            return None;
        }
        let batches = self
            .phases
            .iter()
            .find(|p| p.name == ADVERSARIAL)
            .map_or(0, |p| p.steps);
        let (critic, generator) = model.adversarial_updates(batches);
        (generator == 0).then(|| {
            format!(
                "{NEVER_UPDATED}: the adversarial phase took {batches} batches ({critic} critic updates) and \
                 the generator is updated {}, so the samples are the untrained or pre-trained generator's; \
                 train longer (--budget-minutes, --epochs) or on more data",
                generator_rhythm(model)
            )
        })
    }

    fn write(&self, run: &RunDir) -> Result<()> {
        let text = toml::to_string_pretty(self).map_err(|e| Error::invalid("history", e.to_string()))?;
        write_text(&run.history_path(), &text)
    }
}

/// Apply `key=value` overrides to a model config (through its TOML form, so
/// every field can be set and types are checked).
pub fn apply_overrides(cfg: &ModelConfig, set: &[String]) -> Result<ModelConfig> {
    if set.is_empty() {
        return Ok(cfg.clone());
    }
    let mut table: toml::Table =
        toml::from_str(&toml::to_string(cfg).map_err(|e| Error::invalid("--set", e.to_string()))?)
            .map_err(|e| Error::invalid("--set", e.to_string()))?;
    for kv in set {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| Error::invalid("--set", format!("'{kv}' is not key=value")))?;
        let k = k.trim().replace('-', "_");
        if ["model", "channels", "image_size", "classes"].contains(&k.as_str()) {
            return Err(Error::invalid(
                "--set",
                format!("'{k}' comes from the data and the command line (--model, --image-size), not from --set"),
            ));
        }
        if !table.contains_key(&k) {
            let keys: Vec<&String> = table.keys().collect();
            return Err(Error::invalid(
                "--set",
                format!("unknown setting '{k}'; settings are {keys:?}"),
            ));
        }
        let v = v.trim();
        let parsed: toml::Value = toml::from_str::<toml::Table>(&format!("v = {v}"))
            .ok()
            .and_then(|t| t.get("v").cloned())
            .unwrap_or_else(|| toml::Value::String(v.to_string()));
        table.insert(k, parsed);
    }
    let text = toml::to_string(&table).map_err(|e| Error::invalid("--set", e.to_string()))?;
    toml::from_str(&text).map_err(|e| Error::invalid("--set", format!("{e}")))
}

fn default_out(args: &TrainArgs) -> PathBuf {
    let recipe = args
        .data
        .imbalance
        .as_deref()
        .unwrap_or("as-is")
        .replace([':', ',', '=', '/'], "-");
    PathBuf::from("runs").join(format!("{}-{}-{}", args.model.name(), args.data.dataset, recipe))
}

/// Train a new run; returns its directory.
pub fn train(dev: &Device, args: &TrainArgs) -> Result<RunDir> {
    let out = args.out.clone().unwrap_or_else(|| default_out(args));
    let run = RunDir::new(&out);
    run.check_new()?;
    validate_budget(args.budget_minutes, args.pretrain_share)?;
    // An absolute data path, so later commands work from any directory.
    let mut data_cfg = args.data.clone();
    if let Some(p) = &data_cfg.path {
        data_cfg.path = Some(std::fs::canonicalize(p).map_err(|e| Error::io(p, e))?);
    }
    let data = data_cfg.training_set()?;
    let (channels, size, classes) = (data.channels(), args.data.image_size, data.num_classes());
    let mut model_cfg = match args.preset {
        Some(p) => ModelConfig::with_preset(args.model, channels, size, classes, p),
        None => ModelConfig::defaults(args.model, channels, size, classes),
    };
    if let Some(e) = args.epochs {
        model_cfg.gan_epochs = e;
    }
    if let Some(e) = args.ae_epochs {
        model_cfg.ae_epochs = e;
    }
    if let Some(b) = args.batch {
        model_cfg.batch = b;
    }
    let model_cfg = apply_overrides(&model_cfg, &args.set)?;
    model_cfg.validate()?;
    if data.len() < model_cfg.batch {
        return Err(Error::invalid(
            "train",
            format!(
                "the training set has {} images, fewer than one batch of {}; lower --batch",
                data.len(),
                model_cfg.batch
            ),
        ));
    }
    // Everything that can be refused is checked before the directory exists.
    let mut model = build(dev, &model_cfg, args.seed)?;
    let cfg = RunConfig {
        preset: args.preset,
        data: data_cfg,
        model: model_cfg,
        train: LoopConfig {
            seed: args.seed,
            checkpoint_every: args.checkpoint_every,
            log_every: 20,
            budget_minutes: args.budget_minutes,
            pretrain_share: args.pretrain_share,
        },
        class_names: data.class_names().to_vec(),
    };
    check_generator_updates(&cfg.model, data.len())?;
    let existed = out.exists();
    run.create()?;
    let result = start_run(dev, &run, &cfg, model.as_mut(), &data, args.quiet);
    if result.is_err() && !made_progress(&run) && History::read(&run).stopped.is_none() {
        // A run that could not take one step (a model too large for the
        // device, say) is of no use and would block the name: remove it.
        remove_run_files(&run, existed);
    }
    result?;
    Ok(run)
}

/// The part of [`train`] after the directory exists.
fn start_run(
    dev: &Device,
    run: &RunDir,
    cfg: &RunConfig,
    model: &mut dyn BalancingModel,
    data: &crate::data::Dataset,
    quiet: bool,
) -> Result<()> {
    let out = &run.root;
    run.write_config(cfg)?;
    write_text(&run.adapter_path(), &format!("{}\n", dev.describe()))?;
    if !quiet {
        let names: Vec<&str> = data.class_names().iter().map(String::as_str).collect();
        println!(
            "training {} on {} ({} images, {}×{}×{}) into {}",
            cfg.model.model.title(),
            data.name(),
            data.len(),
            data.channels(),
            data.height(),
            data.width(),
            out.display()
        );
        print!("{}", counts_table(&names, &data.class_counts()));
    }
    train_from_scratch(dev, run, cfg, model, data, quiet)
}

/// Train a run from step 0 (its config written already).
fn train_from_scratch(
    dev: &Device,
    run: &RunDir,
    cfg: &RunConfig,
    model: &mut dyn BalancingModel,
    data: &crate::data::Dataset,
    quiet: bool,
) -> Result<()> {
    let rng = Generator::new(noise_seed(cfg.train.seed));
    let opts = options(cfg);
    let fingerprint = DataFingerprint::of(data);
    let state = trainer::start(model, data, &opts, &rng)?;
    // A step-0 checkpoint: a run killed before its first periodic checkpoint
    // still resumes.
    run.save_checkpoint(model, &state, &fingerprint.metadata(), false)?;
    let history = History {
        adapter: dev.describe(),
        ..History::default()
    };
    run_loop(dev, run, cfg, model, state, data, &rng, history, quiet, &fingerprint)
}

/// Whether a run has trained at least one step (its loss log has a row). A
/// run that recorded why it stopped (a divergence) is kept either way.
fn made_progress(run: &RunDir) -> bool {
    std::fs::read_to_string(run.losses_path()).is_ok_and(|t| t.lines().count() > 1)
}

/// Remove what `train` wrote into a run directory that never trained: the
/// directory itself when `train` made it, else only the files it wrote.
fn remove_run_files(run: &RunDir, existed: bool) {
    if !existed {
        let _ = std::fs::remove_dir_all(&run.root);
        return;
    }
    for f in [
        run.config_path(),
        run.adapter_path(),
        run.losses_path(),
        run.history_path(),
    ] {
        let _ = std::fs::remove_file(f);
    }
    for d in [run.root.join("checkpoints"), run.samples_dir(), run.plots_dir()] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// The longest budget accepted: a year.
const MAX_BUDGET_MINUTES: f64 = 525_600.0;

/// `--budget-minutes` and `--pretrain-share` (also as read from a run's
/// config.toml, which a user may have edited).
pub fn validate_budget(budget_minutes: Option<f64>, pretrain_share: f64) -> Result<()> {
    if let Some(m) = budget_minutes {
        if !m.is_finite() || m <= 0.0 || m > MAX_BUDGET_MINUTES {
            return Err(Error::invalid(
                "--budget-minutes",
                format!(
                    "{m} is not a usable budget: give a number of minutes above 0 and at most {MAX_BUDGET_MINUTES} \
                     (a year), or leave it out to train every epoch"
                ),
            ));
        }
    }
    if !pretrain_share.is_finite() || !(0.0..=1.0).contains(&pretrain_share) {
        return Err(Error::invalid(
            "--pretrain-share",
            format!("{pretrain_share} must be a number from 0 to 1 (the share of the budget for pre-training)"),
        ));
    }
    Ok(())
}

/// When the generator is updated under `cfg`'s critic schedule, in words.
fn generator_rhythm(cfg: &ModelConfig) -> String {
    match cfg.critic_schedule {
        CriticSchedule::PerBatch => format!(
            "after the n_critic = {} critic updates of every batch (critic_schedule = per-batch)",
            cfg.n_critic
        ),
        CriticSchedule::FreshBatches => format!(
            "once every n_critic = {} batches, one critic update each (critic_schedule = fresh-batches)",
            cfg.n_critic
        ),
    }
}

/// Refuse a run whose adversarial phase would end before the generator's
/// first update: a phase has `epochs × ⌊images / batch⌋` batches, and the
/// critic schedule says which of them end with a generator update.
fn check_generator_updates(cfg: &ModelConfig, images: usize) -> Result<()> {
    let per_epoch = images / cfg.batch.max(1);
    let batches = per_epoch.saturating_mul(cfg.gan_epochs) as u64;
    if cfg.gan_epochs > 0 && cfg.adversarial_updates(batches).1 == 0 {
        return Err(Error::invalid(
            "train",
            format!(
                "the adversarial phase would take {batches} batches ({per_epoch} batches of {} per epoch × {} epochs), \
                 but the generator is updated {}, so it would never be trained; \
                 raise --epochs, lower --batch, add images, lower n_critic (--set n_critic=…) or use \
                 --set critic_schedule=per-batch",
                cfg.batch,
                cfg.gan_epochs,
                generator_rhythm(cfg)
            ),
        ));
    }
    Ok(())
}

/// Continue a run from its last checkpoint. `budget_minutes` replaces the
/// run's budget (counted from now) when given.
pub fn resume(dev: &Device, dir: &Path, budget_minutes: Option<f64>, quiet: bool) -> Result<RunDir> {
    resume_with(
        dev,
        dir,
        &ResumeOptions {
            budget_minutes,
            quiet,
            ..ResumeOptions::default()
        },
    )
}

/// What `balgan train --resume` takes besides the run.
#[derive(Debug, Clone, Default)]
pub struct ResumeOptions {
    /// Replaces the run's budget (counted from now) when given.
    pub budget_minutes: Option<f64>,
    /// `--quiet`: print nothing but errors.
    pub quiet: bool,
    /// Continue although the training data differs from what the run
    /// started on (`--allow-data-change`).
    pub allow_data_change: bool,
}

/// Continue a run from its last checkpoint.
pub fn resume_with(dev: &Device, dir: &Path, opts: &ResumeOptions) -> Result<RunDir> {
    let quiet = opts.quiet;
    let run = RunDir::open(dir)?;
    let mut cfg = run.read_config()?;
    if opts.budget_minutes.is_some() {
        cfg.train.budget_minutes = opts.budget_minutes;
    }
    validate_budget(cfg.train.budget_minutes, cfg.train.pretrain_share)?;
    cfg.model.validate()?;
    let data = cfg.data.training_set()?;
    if !run.checkpoint_path().exists() && !run.previous_checkpoint_path().exists() && !made_progress(&run) {
        // Killed before its step-0 checkpoint: nothing was trained, start over.
        if !quiet {
            println!(
                "{} has no checkpoint and no trained step: starting it from step 0",
                run.root.display()
            );
        }
        let mut model = build(dev, &cfg.model, cfg.train.seed)?;
        let _ = std::fs::remove_file(run.losses_path());
        train_from_scratch(dev, &run, &cfg, model.as_mut(), &data, quiet)?;
        return Ok(run);
    }
    let (mut model, state, saved_fingerprint) = load_for_resume(dev, &run, &cfg, quiet)?;
    if state.finished {
        if !quiet {
            println!("{} finished training already (step {})", run.root.display(), state.step);
        }
        return Ok(run);
    }
    let fingerprint = DataFingerprint::of(&data);
    if let Some(saved) = &saved_fingerprint {
        if saved.hash != fingerprint.hash {
            let diff = saved.describe_change(&fingerprint, data.class_names());
            if !opts.allow_data_change {
                return Err(Error::invalid(
                    "resume",
                    format!(
                        "the training data changed since {} started: {diff}. Resuming would continue on other \
                         data (and for an image folder, another hold-out). Restore the data, or pass \
                         --allow-data-change to continue on the new data knowingly",
                        run.root.display()
                    ),
                ));
            }
            if !quiet {
                println!("note: the training data changed ({diff}); continuing on the new data as asked");
            }
        }
    }
    let rng = Generator::new(noise_seed(cfg.train.seed));
    rng.set_offset(state.rng_offset);
    truncate_csv(&run.losses_path(), state.step)?;
    let mut history = History::read(&run);
    history.stopped = None;
    if saved_fingerprint.as_ref().is_some_and(|f| f.hash != fingerprint.hash) {
        history
            .events
            .push(format!("step {}: resumed on changed training data", state.step));
    }
    record_adapter(dev, &run, &mut history, state.step, quiet)?;
    if !quiet {
        println!(
            "resuming {} at step {} (phase {}, epoch {}, batch {})",
            run.root.display(),
            state.step,
            state.phase,
            state.epoch,
            state.batch
        );
    }
    run_loop(
        dev,
        &run,
        &cfg,
        model.as_mut(),
        state,
        &data,
        &rng,
        history,
        quiet,
        &fingerprint,
    )?;
    Ok(run)
}

/// Load the run's last checkpoint; when it is unreadable (corrupt) or
/// missing, fall back to the previous one, keeping a damaged file aside.
/// Every step leaves a loadable checkpoint behind if killed.
fn load_for_resume(
    dev: &Device,
    run: &RunDir,
    cfg: &RunConfig,
    quiet: bool,
) -> Result<(Box<dyn BalancingModel>, TrainState, Option<DataFingerprint>)> {
    let last = run.checkpoint_path();
    let prev = run.previous_checkpoint_path();
    let unreadable = !last.is_file() || crate::nn::Checkpoint::open(&last).is_err();
    let (model, state) = match run.load_model_from(dev, cfg, &last) {
        Ok(loaded) => loaded,
        Err(e) if unreadable && prev.is_file() => {
            let loaded = run.load_model_from(dev, cfg, &prev).map_err(|e2| {
                Error::invalid(
                    "resume",
                    format!("{e}; the previous checkpoint does not load either: {e2}"),
                )
            })?;
            let mut kept = String::new();
            if last.is_file() {
                let aside = run.root.join("checkpoints").join("last.safetensors.corrupt");
                std::fs::copy(&last, &aside).map_err(|err| Error::io(&aside, err))?;
                kept = format!("; the damaged file is kept as {}", aside.display());
            }
            let bytes = std::fs::read(&prev).map_err(|err| Error::io(prev, err))?;
            crate::atomic_file::write_atomic(&last, |w| std::io::Write::write_all(w, &bytes))?;
            if !quiet {
                println!(
                    "warning: {e}\nresuming from the previous checkpoint (step {}) instead{kept}",
                    loaded.1.step
                );
            }
            loaded
        }
        Err(e) => return Err(e),
    };
    let fingerprint = crate::nn::Checkpoint::open(&last)
        .ok()
        .and_then(|c| DataFingerprint::read(&c));
    Ok((model, state, fingerprint))
}

/// An adapter.txt line without its `from step N: ` prefix.
fn strip_step_prefix(line: &str) -> &str {
    line.strip_prefix("from step ")
        .and_then(|rest| rest.split_once(": "))
        .filter(|(n, _)| n.parse::<u64>().is_ok())
        .map_or(line, |(_, adapter)| adapter)
}

/// Compare the adapter with the one the run trained on so far; a switch is
/// said and recorded (adapter.txt gains a line, history.toml an event):
/// bit-identical continuation is only promised on the same adapter.
fn record_adapter(dev: &Device, run: &RunDir, history: &mut History, step: u64, quiet: bool) -> Result<()> {
    let now = dev.describe();
    let before = if history.adapter.is_empty() {
        std::fs::read_to_string(run.adapter_path())
            .ok()
            .and_then(|t| t.lines().last().map(|l| strip_step_prefix(l).trim().to_string()))
            .unwrap_or_default()
    } else {
        history.adapter.clone()
    };
    if before.is_empty() || before == now {
        history.adapter = now;
        return Ok(());
    }
    if !quiet {
        println!(
            "note: this run trained on {before} and continues on {now}; the results will differ in the last bits \
             from an uninterrupted run (bit-identical resumption holds on the same adapter only)"
        );
    }
    history
        .events
        .push(format!("step {step}: adapter changed from {before} to {now}"));
    history.adapter = now.clone();
    let mut text = std::fs::read_to_string(run.adapter_path()).unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!("from step {step}: {now}\n"));
    write_text(&run.adapter_path(), &text)?;
    history.write(run)
}

fn options(cfg: &RunConfig) -> TrainOptions {
    TrainOptions {
        seed: cfg.train.seed,
        checkpoint_every: cfg.train.checkpoint_every,
        log_every: cfg.train.log_every,
    }
}

/// Keep the header and the rows of steps before `step` (the rows a resumed
/// run would otherwise write twice).
fn truncate_csv(path: &Path, step: u64) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let mut kept = String::new();
    for (i, line) in text.lines().enumerate() {
        let keep = i == 0
            || line
                .split(',')
                .next()
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|s| s < step);
        if keep {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    write_text(path, &kept)
}

#[allow(clippy::too_many_arguments)]
fn run_loop(
    dev: &Device,
    run: &RunDir,
    cfg: &RunConfig,
    model: &mut dyn BalancingModel,
    state: TrainState,
    data: &crate::data::Dataset,
    rng: &Generator,
    history: History,
    quiet: bool,
    fingerprint: &DataFingerprint,
) -> Result<()> {
    let phases = model.phases();
    let mut hooks = RunHooks::new(
        run,
        cfg,
        &phases,
        history,
        quiet,
        fingerprint.metadata(),
        Some(state.step),
    )?;
    let result = trainer::train(dev, model, data, state, &options(cfg), rng, &mut hooks);
    hooks.finish_bar();
    match result {
        Ok((st, outcome)) => {
            hooks.history.steps = st.step;
            match &outcome {
                Outcome::Finished => hooks.history.finished = true,
                Outcome::Stopped(r) => {
                    hooks.record_phase(&st, Some(r));
                    hooks.history.stopped = Some(r.clone());
                }
            }
            // With every phase recorded: did the generator get an update?
            let never = hooks.history.generator_update_warning(&cfg.model);
            hooks.history.events.retain(|e| !e.starts_with(NEVER_UPDATED));
            if let Some(msg) = &never {
                hooks.history.events.push(msg.clone());
            }
            hooks.history.write(run)?;
            hooks.grid(model, "final")?;
            if !quiet {
                let updates = hooks
                    .history
                    .phases
                    .iter()
                    .find(|p| p.name == ADVERSARIAL)
                    .map(|p| {
                        format!(
                            " (adversarial: {} critic and {} generator updates)",
                            p.critic_updates, p.generator_updates
                        )
                    })
                    .unwrap_or_default();
                match outcome {
                    Outcome::Finished => println!("finished after {} batches{updates}", st.step),
                    Outcome::Stopped(r) => println!(
                        "stopped after {} batches{updates}: {r}; continue with `balgan train --resume {}`",
                        st.step,
                        run.root.display()
                    ),
                }
                println!("checkpoint: {}", run.checkpoint_path().display());
                println!("samples:    {}", run.samples_dir().join("final.png").display());
            }
            if let Some(msg) = never {
                eprintln!("warning: {msg}");
            }
            Ok(())
        }
        Err(e @ Error::Diverged { step, .. }) => {
            hooks.history.stopped = Some(e.to_string());
            let _ = hooks.history.write(run);
            let ckpt = run.checkpoint_path();
            let kept = match run.keep_last_good(step)? {
                Some(good) => format!(
                    "The last good checkpoint, {} (step {good}), is kept: it resumes",
                    ckpt.display()
                ),
                None => format!(
                    "No checkpoint before the divergence is left; delete {} and train again with lower learning rates",
                    run.root.display()
                ),
            };
            Err(Error::invalid("train", format!("{e}. {kept}")))
        }
        Err(e) => Err(e),
    }
}

/// Samples per class row in the grids.
const GRID_PER_CLASS: usize = 10;

struct RunHooks<'a> {
    run: &'a RunDir,
    /// Written into every checkpoint (the data fingerprint).
    metadata: Vec<(&'static str, String)>,
    /// The step of the checkpoint on disk.
    last_saved: Option<u64>,
    phases: Vec<Phase>,
    columns: Vec<&'static str>,
    csv: BufWriter<File>,
    bar: Option<ProgressBar>,
    quiet: bool,
    classes: usize,
    grid_seed: u64,
    started: Instant,
    phase_started: Instant,
    budget: Option<Duration>,
    pretrain_share: f64,
    history: History,
    /// The model's settings (the critic schedule counts the updates).
    model: ModelConfig,
    last: Vec<(&'static str, f32)>,
    /// No terminal to draw bars on (a log file, CI): print a plain line now and then.
    plain: bool,
    last_line: Instant,
}

impl<'a> RunHooks<'a> {
    fn new(
        run: &'a RunDir,
        cfg: &RunConfig,
        phases: &[Phase],
        history: History,
        quiet: bool,
        metadata: Vec<(&'static str, String)>,
        last_saved: Option<u64>,
    ) -> Result<RunHooks<'a>> {
        let mut columns: Vec<&'static str> = Vec::new();
        for p in phases {
            for l in &p.losses {
                if !columns.contains(l) {
                    columns.push(l);
                }
            }
        }
        let path = run.losses_path();
        let new = !path.exists();
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        let mut csv = BufWriter::new(file);
        if new {
            writeln!(csv, "step,phase,epoch,{}", columns.join(",")).map_err(|e| Error::io(&path, e))?;
        }
        Ok(RunHooks {
            run,
            metadata,
            last_saved,
            phases: phases.to_vec(),
            columns,
            csv,
            bar: None,
            quiet,
            classes: cfg.model.classes,
            grid_seed: cfg.train.seed ^ 0x6121_D000,
            started: Instant::now(),
            phase_started: Instant::now(),
            // validate_budget has bounded it: the conversion cannot fail.
            budget: cfg
                .train
                .budget_minutes
                .and_then(|m| Duration::try_from_secs_f64(m.max(0.0) * 60.0).ok()),
            pretrain_share: cfg.train.pretrain_share.clamp(0.0, 1.0),
            history,
            model: cfg.model.clone(),
            last: Vec::new(),
            plain: !quiet && !std::io::IsTerminal::is_terminal(&std::io::stderr()),
            last_line: Instant::now(),
        })
    }

    fn finish_bar(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish();
        }
    }

    fn grid(&self, model: &mut dyn BalancingModel, name: &str) -> Result<()> {
        let labels: Vec<u32> = (0..self.classes as u32)
            .flat_map(|c| std::iter::repeat_n(c, GRID_PER_CLASS))
            .collect();
        let images = model.sample(&labels, &Generator::new(self.grid_seed))?;
        let as_usize: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
        let rows = rows_by_class(&as_usize, self.classes, GRID_PER_CLASS);
        let path = self.run.samples_dir().join(format!("{name}.png"));
        save_grid_tensor(&path, &images, &rows, 2)?;
        Ok(())
    }

    fn csv_err(&self, e: std::io::Error) -> Error {
        Error::io(self.run.losses_path(), e)
    }

    /// The (critic, generator) updates of the first `batches` batches of
    /// `phase` ((0, 0) for a pre-training phase).
    fn updates(&self, phase: usize, batches: u64) -> (u64, u64) {
        if self.phases[phase].name == ADVERSARIAL {
            self.model.adversarial_updates(batches)
        } else {
            (0, 0)
        }
    }

    /// "c critic and g generator updates" for an adversarial phase, else `None`.
    fn updates_text(&self, phase: usize, batches: u64) -> Option<String> {
        (self.phases[phase].name == ADVERSARIAL).then(|| {
            let (c, g) = self.updates(phase, batches);
            format!("{c} critic and {g} generator updates")
        })
    }

    fn record_phase(&mut self, state: &TrainState, early: Option<&str>) {
        let p = &self.phases[state.phase];
        let steps = state.phase_step;
        let epochs_completed = if early.is_some() { state.epoch } else { p.epochs };
        let (critic_updates, generator_updates) = self.updates(state.phase, steps);
        let rec = PhaseRecord {
            name: p.name.to_string(),
            steps,
            epochs_completed,
            epochs_planned: p.epochs,
            seconds: self.phase_started.elapsed().as_secs_f64(),
            cut_short: early.map(str::to_string),
            critic_updates,
            generator_updates,
        };
        // A resumed phase extends its earlier record.
        if let Some(prev) = self.history.phases.iter_mut().find(|r| r.name == rec.name) {
            prev.steps = rec.steps;
            prev.critic_updates = rec.critic_updates;
            prev.generator_updates = rec.generator_updates;
            prev.seconds += rec.seconds;
            prev.epochs_completed = rec.epochs_completed;
            prev.cut_short = rec.cut_short;
        } else {
            self.history.phases.push(rec);
        }
    }
}

impl TrainHooks for RunHooks<'_> {
    fn on_phase(&mut self, phase: usize, info: &Phase, state: &TrainState, total_steps: u64) -> Result<()> {
        self.finish_bar();
        self.phase_started = Instant::now();
        let bar = if self.quiet {
            ProgressBar::with_draw_target(Some(total_steps), ProgressDrawTarget::hidden())
        } else {
            ProgressBar::new(total_steps)
        };
        let style = ProgressStyle::with_template(
            "{prefix:>12} [{bar:30}] {pos}/{len} batches  {per_sec}  {elapsed_precise} (ETA {eta_precise})  {msg}",
        )
        .map_err(|e| Error::invalid("progress", e.to_string()))?
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(format!("{} {}/{}", info.name, phase + 1, self.phases.len()));
        bar.set_position(state.phase_step);
        bar.reset_eta();
        self.bar = Some(bar);
        Ok(())
    }

    fn on_losses(&mut self, losses: &[StepLosses]) -> Result<()> {
        for l in losses {
            let mut row = format!("{},{},{}", l.step, self.phases[l.phase].name, l.epoch);
            for c in &self.columns {
                row.push(',');
                if let Some((_, v)) = l.values.iter().find(|(n, _)| n == c) {
                    row.push_str(&format!("{v}"));
                }
            }
            writeln!(self.csv, "{row}").map_err(|e| self.csv_err(e))?;
            for (n, v) in &l.values {
                match self.last.iter_mut().find(|(m, _)| m == n) {
                    Some(slot) => slot.1 = *v,
                    None => self.last.push((n, *v)),
                }
            }
        }
        self.csv.flush().map_err(|e| self.csv_err(e))?;
        if let (Some(bar), Some(l)) = (&self.bar, losses.last()) {
            bar.set_position(bar.position() + losses.len() as u64);
            let names = &self.phases[l.phase].losses;
            let mut msg: Vec<String> = self
                .last
                .iter()
                .filter(|(n, _)| names.contains(n))
                .map(|(n, v)| format!("{n} {v:.4}"))
                .collect();
            // The balance of the two players, when both have reported.
            let get = |k: &str| self.last.iter().find(|(n, _)| *n == k).map(|p| p.1);
            if let (Some(d), Some(g)) = (get("d_loss"), get("g_loss")) {
                if names.contains(&"g_loss") && g != 0.0 {
                    msg.push(format!("D/G {:.2}", d / g));
                }
            }
            if let Some(u) = self.updates_text(l.phase, bar.position()) {
                msg.push(u);
            }
            bar.set_message(msg.join("  "));
            if self.plain && self.last_line.elapsed() >= Duration::from_secs(30) {
                self.last_line = Instant::now();
                let (pos, len) = (bar.position(), bar.length().unwrap_or(0));
                let rate = bar.per_sec();
                let eta = if rate > 0.0 {
                    (len.saturating_sub(pos)) as f64 / rate
                } else {
                    0.0
                };
                println!(
                    "{} batch {pos}/{len}, {rate:.2} batches/s, ETA {:.0} min: {}",
                    self.phases[l.phase].name,
                    eta / 60.0,
                    msg.join("  ")
                );
            }
        }
        Ok(())
    }

    fn on_epoch_values(&mut self, phase: &Phase, state: &TrainState, values: &[(String, f64)]) -> Result<()> {
        let path = self.run.epochs_path();
        let fresh = !path.exists();
        let mut text = String::new();
        if fresh {
            text.push_str("phase,epoch,name,value\n");
        }
        for (name, v) in values {
            text.push_str(&format!("{},{},{name},{v}\n", phase.name, state.epoch));
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        f.write_all(text.as_bytes()).map_err(|e| Error::io(&path, e))
    }

    fn on_epoch_end(&mut self, model: &mut dyn BalancingModel, state: &TrainState) -> Result<()> {
        let name = self.phases[state.phase].name;
        self.grid(model, &format!("{name}-epoch-{:03}", state.epoch))?;
        if self.quiet {
            return Ok(());
        }
        if let Some(bar) = &self.bar {
            let mut line = format!(
                "{name} epoch {}/{}: {}",
                state.epoch,
                self.phases[state.phase].epochs,
                self.last
                    .iter()
                    .filter(|(n, _)| self.phases[state.phase].losses.contains(n))
                    .map(|(n, v)| format!("{n} {v:.4}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if let Some(u) = self.updates_text(state.phase, state.phase_step) {
                line.push_str(&format!(" ({u} so far)"));
            }
            if self.plain {
                println!("{line}");
            } else {
                bar.println(line);
            }
        }
        Ok(())
    }

    fn on_phase_end(&mut self, model: &mut dyn BalancingModel, state: &TrainState, early: Option<&str>) -> Result<()> {
        self.record_phase(state, early);
        let name = self.phases[state.phase].name;
        self.grid(model, &format!("{name}-end"))?;
        self.history.write(self.run)
    }

    fn checkpoint(&mut self, model: &dyn BalancingModel, state: &TrainState) -> Result<()> {
        let meta: Vec<(&str, String)> = self.metadata.iter().map(|(k, v)| (*k, v.clone())).collect();
        // A second save at the same step (a periodic save on a phase's last
        // step, then the phase change) must not push the older healthy
        // checkpoint out of previous.safetensors.
        let rotate = self.last_saved != Some(state.step);
        self.run.save_checkpoint(model, state, &meta, rotate)?;
        self.last_saved = Some(state.step);
        Ok(())
    }

    fn control(&mut self, state: &TrainState) -> Control {
        let Some(budget) = self.budget else {
            return Control::Continue;
        };
        let elapsed = self.started.elapsed();
        let last = self.phases.len() - 1;
        let is_last = state.phase >= last || self.phases[state.phase + 1..].iter().all(|p| p.epochs == 0);
        if !is_last {
            let share = budget.mul_f64(self.pretrain_share);
            if elapsed >= share {
                return Control::EndPhase(format!(
                    "the time budget's pre-training share ({:.1} min) was used",
                    share.as_secs_f64() / 60.0
                ));
            }
        } else if elapsed >= budget {
            return Control::Stop(format!(
                "the time budget of {:.1} min was used",
                budget.as_secs_f64() / 60.0
            ));
        }
        Control::Continue
    }
}

const NEVER_UPDATED: &str = "the generator was never updated";

/// The name of the phase whose batches make critic and generator updates.
const ADVERSARIAL: &str = "adversarial";

/// What identifies a run's training split: the image count, the count per
/// class and a CRC-32 of every label and pixel. Saved in every checkpoint,
/// compared on resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFingerprint {
    /// Number of training images.
    pub images: usize,
    /// Training images per class.
    pub counts: Vec<usize>,
    /// `crc32:` and the CRC-32 of the shape, labels and pixels, in hex.
    pub hash: String,
}

impl DataFingerprint {
    /// The fingerprint of `data`.
    pub fn of(data: &crate::data::Dataset) -> DataFingerprint {
        let mut h = crc32fast::Hasher::new();
        for d in data.shape() {
            h.update(&(d as u64).to_le_bytes());
        }
        h.update(bytemuck::cast_slice(data.labels()));
        h.update(bytemuck::cast_slice(data.images()));
        DataFingerprint {
            images: data.len(),
            counts: data.class_counts(),
            hash: format!("crc32:{:08x}", h.finalize()),
        }
    }

    /// The checkpoint metadata entries that hold the fingerprint (`data.fingerprint`, `data.images`,
    /// `data.class_counts`).
    pub fn metadata(&self) -> Vec<(&'static str, String)> {
        let counts: Vec<String> = self.counts.iter().map(usize::to_string).collect();
        vec![
            ("data.fingerprint", self.hash.clone()),
            ("data.images", self.images.to_string()),
            ("data.class_counts", counts.join(",")),
        ]
    }

    /// From a checkpoint's metadata (`None`: written before fingerprints).
    pub fn read(c: &crate::nn::Checkpoint) -> Option<DataFingerprint> {
        Some(DataFingerprint {
            hash: c.metadata("data.fingerprint")?.to_string(),
            images: c.metadata("data.images")?.parse().ok()?,
            counts: c
                .metadata("data.class_counts")?
                .split(',')
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().ok())
                .collect::<Option<Vec<usize>>>()?,
        })
    }

    /// The difference from `now`, in words.
    pub fn describe_change(&self, now: &DataFingerprint, names: &[String]) -> String {
        let mut parts = Vec::new();
        if self.counts.len() != now.counts.len() {
            parts.push(format!("{} classes then, {} now", self.counts.len(), now.counts.len()));
        } else {
            for (c, (a, b)) in self.counts.iter().zip(&now.counts).enumerate() {
                if a != b {
                    let name = names.get(c).map_or_else(|| c.to_string(), |n| format!("'{n}'"));
                    parts.push(format!("class {name} had {a} images, now {b}"));
                }
            }
        }
        if parts.is_empty() {
            parts.push(format!(
                "the same {} images per class, but other images or labels (fingerprint {} then, {} now)",
                now.images, self.hash, now.hash
            ));
        }
        parts.join("; ")
    }
}
