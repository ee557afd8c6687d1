//! The trainer loop every model shares: phases → epochs → mini-batches, with
//! the losses read back in batches, a NaN/Inf guard, resumable checkpoints
//! and hooks for the application (logs, progress, sample grids, budgets).
//!
//! **Determinism.** A run is a function of its seed: the mini-batches come
//! from [`Batcher::epoch_indices`] keyed by (phase, epoch), device noise from
//! one Philox [`Generator`] whose offset is saved with every checkpoint, and
//! host-side labels from streams keyed by the step number. A run resumed from
//! a checkpoint therefore makes exactly the updates the uninterrupted run
//! makes, on the same adapter (the GPU reductions are deterministic).
//!
//! **Health.** The losses of every step are kept on the device and read back
//! together every `log_every` steps (and before every checkpoint): the GPU
//! never waits for a log line. If one is NaN or Inf, training stops with
//! [`Error::Diverged`] naming the first bad step and loss, and no checkpoint
//! is written after it, so the last checkpoint on disk is a healthy one.

use std::path::Path;

use super::{BalancingModel, Batch, Phase, StepContext};
use crate::data::{BatchOptions, Batcher, Dataset};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::{Checkpoint, CheckpointWriter};
use crate::tensor::{Generator, Tensor};

/// Where a run stands: the next batch to train on and the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrainState {
    /// Current phase (index into [`BalancingModel::phases`]).
    pub phase: usize,
    /// Current epoch within the phase.
    pub epoch: usize,
    /// Next batch within the epoch.
    pub batch: usize,
    /// Steps done in all phases.
    pub step: u64,
    /// Steps done in the current phase.
    pub phase_step: u64,
    /// Offset of the device noise stream.
    pub rng_offset: u64,
    /// Every phase is done.
    pub finished: bool,
}

const KEYS: [&str; 7] = [
    "train.phase",
    "train.epoch",
    "train.batch",
    "train.step",
    "train.phase_step",
    "train.rng_offset",
    "train.finished",
];

impl TrainState {
    fn values(&self) -> [u64; 7] {
        [
            self.phase as u64,
            self.epoch as u64,
            self.batch as u64,
            self.step,
            self.phase_step,
            self.rng_offset,
            self.finished as u64,
        ]
    }

    /// Store the state in a checkpoint's metadata.
    pub fn write(&self, w: &mut CheckpointWriter) {
        for (k, v) in KEYS.iter().zip(self.values()) {
            w.set_metadata(k, v.to_string());
        }
    }

    /// Read the state back from a checkpoint's metadata.
    pub fn read(c: &Checkpoint) -> Result<TrainState> {
        let mut v = [0u64; 7];
        for (k, slot) in KEYS.iter().zip(v.iter_mut()) {
            let s = c.metadata(k).ok_or_else(|| {
                Error::invalid(
                    "resume",
                    format!("{}: no '{k}' entry; this is not a training checkpoint", c.path()),
                )
            })?;
            *slot = s
                .parse()
                .map_err(|_| Error::invalid("resume", format!("{}: '{k}' = '{s}' is not a number", c.path())))?;
        }
        Ok(TrainState {
            phase: v[0] as usize,
            epoch: v[1] as usize,
            batch: v[2] as usize,
            step: v[3],
            phase_step: v[4],
            rng_offset: v[5],
            finished: v[6] != 0,
        })
    }
}

/// Write a checkpoint of `model` at `state` (atomically) with extra metadata.
/// A model holding NaN or ±Inf is not written: [`Error::Diverged`].
pub fn write_checkpoint(
    path: &Path,
    model: &dyn BalancingModel,
    state: &TrainState,
    metadata: &[(&str, String)],
) -> Result<()> {
    let bytes = encode_checkpoint(path, model, state, metadata)?;
    crate::atomic_file::write_atomic(path, |w| std::io::Write::write_all(w, &bytes))
}

/// The bytes [`write_checkpoint`] writes, after the same checks.
pub fn encode_checkpoint(
    path: &Path,
    model: &dyn BalancingModel,
    state: &TrainState,
    metadata: &[(&str, String)],
) -> Result<Vec<u8>> {
    let mut w = CheckpointWriter::new();
    model.save(&mut w)?;
    state.write(&mut w);
    w.set_metadata("model", model.config().model.name());
    for (k, v) in metadata {
        w.set_metadata(k, v.clone());
    }
    w.encode(path).map_err(|e| match e {
        Error::NonFinite { tensor, value, .. } => {
            let phases = model.phases();
            let phase = phases
                .get(state.phase)
                .or(phases.last())
                .map_or("training", |p| p.name)
                .to_string();
            Error::Diverged {
                step: state.step,
                phase,
                loss: format!("checkpoint tensor '{tensor}'"),
                value,
            }
        }
        e => e,
    })
}

/// Open a checkpoint, put `model` in the phase it was written in and load
/// its tensors; returns the saved state.
pub fn restore(model: &mut dyn BalancingModel, path: &Path, seed: u64, rng: &Generator) -> Result<TrainState> {
    let c = Checkpoint::open(path)?;
    if let Some(kind) = c.metadata("model") {
        if kind != model.config().model.name() {
            return Err(Error::invalid(
                "resume",
                format!(
                    "{} holds a {kind} model, not {}",
                    path.display(),
                    model.config().model.name()
                ),
            ));
        }
    }
    let state = TrainState::read(&c)?;
    let ctx = StepContext {
        rng,
        step: state.step,
        phase_step: state.phase_step,
        seed,
    };
    model.enter_phase(state.phase.min(model.phases().len().saturating_sub(1)), None, &ctx)?;
    model.load(&c)?;
    c.finish(true)?;
    rng.set_offset(state.rng_offset);
    Ok(state)
}

/// The losses of one step, after readback.
#[derive(Debug, Clone)]
pub struct StepLosses {
    /// Global step number of the step (0-based, across phases).
    pub step: u64,
    /// Index of its phase in [`BalancingModel::phases`].
    pub phase: usize,
    /// Its epoch within the phase (0-based).
    pub epoch: usize,
    /// (name, value) in the order the step reported them.
    pub values: Vec<(&'static str, f32)>,
}

/// Why [`train`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every phase ran to its last epoch.
    Finished,
    /// A hook asked to stop (a time budget, a step limit); the reason.
    Stopped(String),
}

/// What the application does around the loop. Every method has a default
/// that does nothing.
pub trait TrainHooks {
    /// A phase starts (or resumes) with `total_steps` steps in all.
    fn on_phase(&mut self, _phase: usize, _info: &Phase, _state: &TrainState, _total_steps: u64) -> Result<()> {
        Ok(())
    }

    /// Losses of finished steps, in order, after each readback.
    fn on_losses(&mut self, _losses: &[StepLosses]) -> Result<()> {
        Ok(())
    }

    /// The values a model logged at the end of an epoch
    /// ([`BalancingModel::end_epoch`]); `state.epoch` is the number of epochs
    /// done in the phase.
    fn on_epoch_values(&mut self, _phase: &Phase, _state: &TrainState, _values: &[(String, f64)]) -> Result<()> {
        Ok(())
    }

    /// An epoch ended (losses already reported).
    fn on_epoch_end(&mut self, _model: &mut dyn BalancingModel, _state: &TrainState) -> Result<()> {
        Ok(())
    }

    /// A phase ended, at its last epoch (`None`) or early (the reason).
    fn on_phase_end(
        &mut self,
        _model: &mut dyn BalancingModel,
        _state: &TrainState,
        _early: Option<&str>,
    ) -> Result<()> {
        Ok(())
    }

    /// Time to save: write `model` and `state` (e.g. with [`write_checkpoint`]).
    fn checkpoint(&mut self, _model: &dyn BalancingModel, _state: &TrainState) -> Result<()> {
        Ok(())
    }

    /// Asked before every step: go on, end the current phase here (a time
    /// budget for pre-training: the next phase starts), or stop training at
    /// this step boundary (a checkpoint is written first).
    fn control(&mut self, _state: &TrainState) -> Control {
        Control::Continue
    }
}

/// A hook's answer before each step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Go on with the step.
    Continue,
    /// End the current phase now and go on with the next; the reason.
    EndPhase(String),
    /// Stop training now; the reason.
    Stop(String),
}

/// Loop settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrainOptions {
    /// The run's seed: the batches' order, the host label streams and the adversarial players'
    /// stream derive from it.
    pub seed: u64,
    /// Checkpoint every this many steps (0: only at phase ends and the end).
    pub checkpoint_every: u64,
    /// Read the losses back every this many steps (at least 1).
    pub log_every: u64,
}

struct Pending {
    step: u64,
    phase: usize,
    epoch: usize,
    losses: Vec<(&'static str, Tensor)>,
}

/// Read back the pending losses in one transfer, check them, report them.
fn flush(pending: &mut Vec<Pending>, phases: &[Phase], hooks: &mut dyn TrainHooks) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let flat: Vec<Tensor> = pending
        .iter()
        .flat_map(|p| p.losses.iter().map(|(_, t)| t.reshape(&[1])))
        .collect::<Result<_>>()?;
    let refs: Vec<&Tensor> = flat.iter().collect();
    let values = Tensor::concat(&refs, 0)?.to_vec()?;
    let mut it = values.into_iter();
    let mut out = Vec::with_capacity(pending.len());
    for p in pending.drain(..) {
        let values: Vec<(&'static str, f32)> = p
            .losses
            .iter()
            .map(|(n, _)| (*n, it.next().unwrap_or(f32::NAN)))
            .collect();
        if let Some((name, v)) = values.iter().find(|(_, v)| !v.is_finite()) {
            hooks.on_losses(&out)?;
            return Err(Error::Diverged {
                step: p.step,
                phase: phases[p.phase].name.to_string(),
                loss: name.to_string(),
                value: *v,
            });
        }
        out.push(StepLosses {
            step: p.step,
            phase: p.phase,
            epoch: p.epoch,
            values,
        });
    }
    hooks.on_losses(&out)
}

/// Enter phase `phase` fresh, skipping phases of 0 epochs.
fn begin(
    model: &mut dyn BalancingModel,
    data: &Dataset,
    st: &mut TrainState,
    phases: &[Phase],
    opts: &TrainOptions,
    rng: &Generator,
) -> Result<()> {
    while st.phase < phases.len() {
        let ctx = StepContext {
            rng,
            step: st.step,
            phase_step: 0,
            seed: opts.seed,
        };
        model.enter_phase(st.phase, Some(data), &ctx)?;
        if phases[st.phase].epochs > 0 {
            return Ok(());
        }
        st.phase += 1;
    }
    st.finished = true;
    Ok(())
}

/// Start a fresh run: enter the first phase with epochs.
pub fn start(
    model: &mut dyn BalancingModel,
    data: &Dataset,
    opts: &TrainOptions,
    rng: &Generator,
) -> Result<TrainState> {
    let phases = model.phases();
    let mut st = TrainState::default();
    begin(model, data, &mut st, &phases, opts, rng)?;
    Ok(st)
}

/// Train `model` on `data` from `state` (made by [`start`] or [`restore`])
/// to the end of its last phase or until a hook stops it. Returns the final
/// state and why it ended; the last checkpoint is written in either case.
pub fn train(
    dev: &Device,
    model: &mut dyn BalancingModel,
    data: &Dataset,
    mut st: TrainState,
    opts: &TrainOptions,
    rng: &Generator,
    hooks: &mut dyn TrainHooks,
) -> Result<(TrainState, Outcome)> {
    let phases = model.phases();
    let batch_size = model.config().batch;
    if data.num_classes() != model.config().classes {
        return Err(Error::invalid(
            "train",
            format!(
                "the model has {} classes but the dataset {}; the run's data changed since it was configured",
                model.config().classes,
                data.num_classes()
            ),
        ));
    }
    if data.channels() != model.config().channels
        || data.height() != model.config().image_size
        || data.width() != model.config().image_size
    {
        return Err(Error::invalid(
            "train",
            format!(
                "the model wants {}×{}×{} images but the dataset holds {}×{}×{}",
                model.config().channels,
                model.config().image_size,
                model.config().image_size,
                data.channels(),
                data.height(),
                data.width()
            ),
        ));
    }
    let batcher = Batcher::new(
        data,
        BatchOptions::new(batch_size)
            .seed(opts.seed)
            .drop_last(true)
            .balanced(model.config().balanced_batches),
    )?;
    let per_epoch = batcher.batches_per_epoch();
    if per_epoch == 0 {
        return Err(Error::invalid(
            "train",
            format!(
                "the training set has {} images, fewer than one batch of {batch_size}; lower --batch",
                data.len()
            ),
        ));
    }
    let log_every = opts.log_every.max(1);
    let mut pending: Vec<Pending> = Vec::new();
    let save = |model: &dyn BalancingModel, st: &mut TrainState, hooks: &mut dyn TrainHooks| -> Result<()> {
        st.rng_offset = rng.offset();
        hooks.checkpoint(model, st)
    };
    rng.set_offset(st.rng_offset.max(rng.offset()));
    while !st.finished && st.phase < phases.len() {
        let ph = &phases[st.phase];
        let total = (ph.epochs * per_epoch) as u64;
        hooks.on_phase(st.phase, ph, &st, total)?;
        let mut ended_early: Option<String> = None;
        while st.epoch < ph.epochs {
            let key = ((st.phase as u64) << 32) | st.epoch as u64;
            let batches = batcher.epoch_indices(key);
            while st.batch < batches.len() {
                match hooks.control(&st) {
                    Control::Continue => {}
                    Control::EndPhase(reason) => {
                        ended_early = Some(reason);
                        break;
                    }
                    Control::Stop(reason) => {
                        flush(&mut pending, &phases, hooks)?;
                        save(model, &mut st, hooks)?;
                        return Ok((st, Outcome::Stopped(reason)));
                    }
                }
                let idx = &batches[st.batch];
                let images = data.to_tensor(dev, idx)?;
                let labels_host: Vec<u32> = idx.iter().map(|&i| data.labels()[i]).collect();
                let labels = crate::tensor::IndexTensor::new(dev, &labels_host)?;
                let ctx = StepContext {
                    rng,
                    step: st.step,
                    phase_step: st.phase_step,
                    seed: opts.seed,
                };
                let batch = Batch {
                    images: &images,
                    labels: &labels,
                    host_labels: &labels_host,
                };
                let losses = model.train_step(&batch, &ctx)?;
                pending.push(Pending {
                    step: st.step,
                    phase: st.phase,
                    epoch: st.epoch,
                    losses,
                });
                st.batch += 1;
                st.step += 1;
                st.phase_step += 1;
                if pending.len() as u64 >= log_every {
                    flush(&mut pending, &phases, hooks)?;
                }
                if opts.checkpoint_every > 0 && st.step.is_multiple_of(opts.checkpoint_every) {
                    flush(&mut pending, &phases, hooks)?;
                    save(model, &mut st, hooks)?;
                }
            }
            flush(&mut pending, &phases, hooks)?;
            if let Some(reason) = ended_early.take() {
                hooks.on_phase_end(model, &st, Some(&reason))?;
                break;
            }
            st.batch = 0;
            st.epoch += 1;
            let values = model.end_epoch(data)?;
            if !values.is_empty() {
                hooks.on_epoch_values(ph, &st, &values)?;
            }
            hooks.on_epoch_end(model, &st)?;
            if st.epoch == ph.epochs {
                hooks.on_phase_end(model, &st, None)?;
            }
        }
        st.phase += 1;
        st.epoch = 0;
        st.batch = 0;
        st.phase_step = 0;
        begin(model, data, &mut st, &phases, opts, rng)?;
        save(model, &mut st, hooks)?;
    }
    st.finished = true;
    Ok((st, Outcome::Finished))
}
