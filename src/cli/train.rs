//! `balgan train`: train a model into a run directory (see [`super::run`]),
//! and `balgan train --resume RUN` to continue one exactly where its last
//! checkpoint left it.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use super::run::{noise_seed, training_data, write_text, DataConfig, LoopConfig, RunConfig, RunDir};
use crate::data::grid::{rows_by_class, save_grid_tensor};
use crate::data::imbalance::counts_table;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::models::trainer::{self, Control, Outcome, StepLosses, TrainHooks, TrainOptions, TrainState};
use crate::models::{build, BalancingModel, ModelConfig, ModelKind, Phase};
use crate::tensor::Generator;

/// Everything `balgan train` takes.
#[derive(Debug, Clone)]
pub struct TrainArgs {
    pub model: ModelKind,
    pub data: DataConfig,
    /// Adversarial epochs (`None`: the model's default).
    pub epochs: Option<usize>,
    /// Pre-training epochs (`None`: the model's default).
    pub ae_epochs: Option<usize>,
    pub batch: Option<usize>,
    pub seed: u64,
    pub out: Option<PathBuf>,
    pub checkpoint_every: u64,
    pub budget_minutes: Option<f64>,
    pub pretrain_share: f64,
    pub quiet: bool,
    /// Settings on top of the defaults (`key=value`, ModelConfig's field names).
    pub set: Vec<String>,
}

/// One phase's record in `history.toml`, for the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    pub name: String,
    pub steps: u64,
    pub epochs_completed: usize,
    pub epochs_planned: usize,
    pub seconds: f64,
    /// Why the phase ended before its last epoch.
    pub cut_short: Option<String>,
}

/// `history.toml`: what happened during training.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub phases: Vec<PhaseRecord>,
    pub stopped: Option<String>,
    pub finished: bool,
    pub steps: u64,
    pub adapter: String,
}

impl History {
    pub fn read(run: &RunDir) -> History {
        std::fs::read_to_string(run.history_path())
            .ok()
            .and_then(|t| toml::from_str(&t).ok())
            .unwrap_or_default()
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
    if run.config_path().exists() {
        return Err(Error::invalid(
            "train",
            format!(
                "{} already holds a run; continue it with `balgan train --resume {}` or choose another --out",
                out.display(),
                out.display()
            ),
        ));
    }
    // An absolute data path, so later commands work from any directory.
    let mut data_cfg = args.data.clone();
    if let Some(p) = &data_cfg.path {
        data_cfg.path = Some(std::fs::canonicalize(p).map_err(|e| Error::Io {
            path: p.display().to_string(),
            source: e,
        })?);
    }
    let data = training_data(&data_cfg)?;
    let mut model_cfg = ModelConfig::defaults(args.model, data.channels(), args.data.image_size, data.num_classes());
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
    run.create()?;
    run.write_config(&cfg)?;
    write_text(&run.adapter_path(), &format!("{}\n", dev.describe()))?;
    if !args.quiet {
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
    let rng = Generator::new(noise_seed(cfg.train.seed));
    let opts = options(&cfg);
    let state = trainer::start(model.as_mut(), &data, &opts, &rng)?;
    // A step-0 checkpoint: a run killed before its first periodic checkpoint
    // still resumes.
    trainer::write_checkpoint(&run.checkpoint_path(), model.as_ref(), &state, &[])?;
    let history = History {
        adapter: dev.describe(),
        ..History::default()
    };
    run_loop(dev, &run, &cfg, model.as_mut(), state, &data, &rng, history, args.quiet)?;
    Ok(run)
}

/// Continue a run from its last checkpoint. `budget_minutes` replaces the
/// run's budget (counted from now) when given.
pub fn resume(dev: &Device, dir: &Path, budget_minutes: Option<f64>, quiet: bool) -> Result<RunDir> {
    let run = RunDir::open(dir)?;
    let mut cfg = run.read_config()?;
    if budget_minutes.is_some() {
        cfg.train.budget_minutes = budget_minutes;
    }
    let data = training_data(&cfg.data)?;
    let (mut model, state) = run.load_model(dev, &cfg)?;
    if state.finished {
        if !quiet {
            println!("{} finished training already (step {})", run.root.display(), state.step);
        }
        return Ok(run);
    }
    let rng = Generator::new(noise_seed(cfg.train.seed));
    rng.set_offset(state.rng_offset);
    truncate_csv(&run.losses_path(), state.step)?;
    let mut history = History::read(&run);
    history.stopped = None;
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
    run_loop(dev, &run, &cfg, model.as_mut(), state, &data, &rng, history, quiet)?;
    Ok(run)
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
) -> Result<()> {
    let phases = model.phases();
    let mut hooks = RunHooks::new(run, cfg, &phases, history, quiet)?;
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
            hooks.history.write(run)?;
            hooks.grid(model, "final")?;
            if !quiet {
                match outcome {
                    Outcome::Finished => println!("finished after {} steps", st.step),
                    Outcome::Stopped(r) => println!(
                        "stopped after {} steps: {r}; continue with `balgan train --resume {}`",
                        st.step,
                        run.root.display()
                    ),
                }
                println!("checkpoint: {}", run.checkpoint_path().display());
                println!("samples:    {}", run.samples_dir().join("final.png").display());
            }
            Ok(())
        }
        Err(e @ Error::Diverged { .. }) => {
            hooks.history.stopped = Some(e.to_string());
            let _ = hooks.history.write(run);
            let ckpt = run.checkpoint_path();
            let kept = if ckpt.is_file() {
                format!("the last good checkpoint is {}", ckpt.display())
            } else {
                "no checkpoint had been written yet".to_string()
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
    last: Vec<(&'static str, f32)>,
    /// No terminal to draw bars on (a log file, CI): print a plain line now and then.
    plain: bool,
    last_line: Instant,
}

impl<'a> RunHooks<'a> {
    fn new(run: &'a RunDir, cfg: &RunConfig, phases: &[Phase], history: History, quiet: bool) -> Result<RunHooks<'a>> {
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
            .map_err(|e| Error::Io {
                path: path.display().to_string(),
                source: e,
            })?;
        let mut csv = BufWriter::new(file);
        if new {
            writeln!(csv, "step,phase,epoch,{}", columns.join(",")).map_err(|e| Error::Io {
                path: path.display().to_string(),
                source: e,
            })?;
        }
        Ok(RunHooks {
            run,
            phases: phases.to_vec(),
            columns,
            csv,
            bar: None,
            quiet,
            classes: cfg.model.classes,
            grid_seed: cfg.train.seed ^ 0x6121_D000,
            started: Instant::now(),
            phase_started: Instant::now(),
            budget: cfg
                .train
                .budget_minutes
                .map(|m| Duration::from_secs_f64(m.max(0.0) * 60.0)),
            pretrain_share: cfg.train.pretrain_share.clamp(0.0, 1.0),
            history,
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
        Error::Io {
            path: self.run.losses_path().display().to_string(),
            source: e,
        }
    }

    fn record_phase(&mut self, state: &TrainState, early: Option<&str>) {
        let p = &self.phases[state.phase];
        let steps = state.phase_step;
        let epochs_completed = if early.is_some() { state.epoch } else { p.epochs };
        let rec = PhaseRecord {
            name: p.name.to_string(),
            steps,
            epochs_completed,
            epochs_planned: p.epochs,
            seconds: self.phase_started.elapsed().as_secs_f64(),
            cut_short: early.map(str::to_string),
        };
        // A resumed phase extends its earlier record.
        if let Some(prev) = self.history.phases.iter_mut().find(|r| r.name == rec.name) {
            prev.steps = rec.steps;
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
            "{prefix:>12} [{bar:30}] {pos}/{len} steps  {per_sec}  {elapsed_precise} (ETA {eta_precise})  {msg}",
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
                    "{} step {pos}/{len}, {rate:.2} steps/s, ETA {:.0} min: {}",
                    self.phases[l.phase].name,
                    eta / 60.0,
                    msg.join("  ")
                );
            }
        }
        Ok(())
    }

    fn on_epoch_end(&mut self, model: &mut dyn BalancingModel, state: &TrainState) -> Result<()> {
        let name = self.phases[state.phase].name;
        self.grid(model, &format!("{name}-epoch-{:03}", state.epoch))?;
        if self.quiet {
            return Ok(());
        }
        if let Some(bar) = &self.bar {
            let line = format!(
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
        trainer::write_checkpoint(&self.run.checkpoint_path(), model, state, &[])
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
