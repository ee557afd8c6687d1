//! SGD with momentum (PyTorch semantics): one multi-tensor dispatch per group
//! of parameters.

use super::flat::{check_leaves, flat_offsets, flatten_into, gradients, unflatten, update_groups, zeroed_state};
use crate::error::{Error, Result};
use crate::kernels::optim::{OptimParams, Update};
use crate::tensor::Tensor;

/// SGD's hyper-parameters. Defaults: lr 0.01, no momentum, no weight decay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    /// Learning rate: the step is `lr` times the (momentum-smoothed) gradient.
    pub lr: f32,
    /// Momentum factor μ; 0 turns momentum (and its buffer) off.
    pub momentum: f32,
    /// Dampening of the momentum: each new gradient enters the buffer scaled by
    /// `1 - dampening` (not on the buffer's first step).
    pub dampening: f32,
    /// L2 penalty: `weight_decay · θ` is added to the gradient.
    pub weight_decay: f32,
    /// Nesterov momentum: step along `g + μ·buf` instead of `buf`.
    pub nesterov: bool,
}

impl Default for SgdConfig {
    fn default() -> Self {
        SgdConfig {
            lr: 0.01,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }
}

impl SgdConfig {
    /// Checks the ranges PyTorch checks, plus finiteness: lr ≥ 0, momentum ≥ 0,
    /// weight_decay ≥ 0, dampening finite; Nesterov needs momentum > 0 and
    /// dampening = 0.
    pub fn validate(&self) -> Result<()> {
        for (what, v) in [
            ("lr", self.lr),
            ("momentum", self.momentum),
            ("weight_decay", self.weight_decay),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid(
                    "Sgd",
                    format!("{what} must be finite and >= 0, got {v}"),
                ));
            }
        }
        if !self.dampening.is_finite() {
            return Err(Error::invalid(
                "Sgd",
                format!("dampening must be finite, got {}", self.dampening),
            ));
        }
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(Error::invalid(
                "Sgd",
                format!(
                    "Nesterov momentum needs momentum > 0 and dampening = 0, got momentum {} and dampening {}",
                    self.momentum, self.dampening
                ),
            ));
        }
        Ok(())
    }
}

/// SGD over a fixed list of parameters. The momentum buffers of all
/// parameters live in one flat buffer (parameter i's at `offsets[i]`), and
/// one dispatch updates many parameters (see [`super::Adam`]).
pub struct Sgd {
    params: Vec<Tensor>,
    /// Momentum, flat (`None` without parameters).
    momentum: Option<Tensor>,
    /// Bound as the kernel's unused second state buffer.
    unused: Option<Tensor>,
    offsets: Vec<usize>,
    /// Whether each parameter's momentum buffer holds a value yet: it starts as
    /// a copy of the parameter's first gradient, whenever that arrives.
    started: Vec<bool>,
    step: u64,
    /// Hyper-parameters; `lr` may be changed between steps.
    pub config: SgdConfig,
}

impl Sgd {
    /// An optimizer for `params`.
    pub fn new(params: &[Tensor], config: SgdConfig) -> Result<Sgd> {
        check_leaves("Sgd", params)?;
        config.validate()?;
        let (offsets, _) = flat_offsets(params);
        Ok(Sgd {
            params: params.to_vec(),
            momentum: zeroed_state(params)?,
            unused: params.first().map(|p| Tensor::zeros(p.device(), &[1])).transpose()?,
            offsets,
            started: vec![false; params.len()],
            step: 0,
            config,
        })
    }

    /// Calls of [`Sgd::step`] so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Update every parameter that has a gradient, in place.
    /// Fails, changing nothing, if `config` was set out of range.
    pub fn step(&mut self) -> Result<()> {
        self.config.validate()?;
        let c = self.config;
        // Parameters with a gradient, grouped by whether their momentum buffer
        // starts now.
        let mut groups: [Vec<(usize, Tensor)>; 2] = Default::default();
        let grads = gradients("Sgd", &self.params)?;
        for (i, g) in grads.into_iter().enumerate() {
            let Some(g) = g else { continue };
            let first = !std::mem::replace(&mut self.started[i], true);
            groups[first as usize].push((i, g));
        }
        let (Some(dev), Some(buf), Some(unused)) = (
            self.params.first().map(|p| p.device().clone()),
            &self.momentum,
            &self.unused,
        ) else {
            self.step += 1;
            return Ok(());
        };
        for (first, group) in groups.iter().enumerate() {
            let params = OptimParams {
                first: first as u32,
                nesterov: c.nesterov as u32,
                lr: c.lr,
                weight_decay: c.weight_decay,
                momentum: c.momentum,
                dampening: c.dampening,
                ..Default::default()
            };
            update_groups(
                &dev,
                Update::Sgd,
                params,
                &self.params,
                &self.offsets,
                group,
                buf,
                unused,
            )?;
        }
        self.step += 1;
        Ok(())
    }

    /// The parameters, in the order given to [`Sgd::new`].
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// Copies of the momentum buffers, one per parameter, shaped like it.
    pub fn momentum_buffers(&self) -> Result<Vec<Tensor>> {
        unflatten(self.momentum.as_ref(), &self.params, &self.offsets)
    }

    /// Overwrite the momentum buffers (one tensor per parameter, shaped like
    /// it), e.g. from a checkpoint.
    pub fn set_momentum_buffers(&self, values: &[Tensor]) -> Result<()> {
        flatten_into("Sgd", self.momentum.as_ref(), &self.params, &self.offsets, values)
    }

    /// Whether each parameter's momentum buffer holds a value yet.
    pub fn started(&self) -> &[bool] {
        &self.started
    }

    /// Restore the counters saved with a checkpoint: the number of
    /// [`Sgd::step`] calls and the started flags of the momentum buffers.
    pub fn set_step_counts(&mut self, steps: u64, started: &[bool]) -> Result<()> {
        if started.len() != self.params.len() {
            return Err(Error::invalid(
                "Sgd",
                format!(
                    "{} started flags given for {} parameters",
                    started.len(),
                    self.params.len()
                ),
            ));
        }
        self.step = steps;
        self.started.copy_from_slice(started);
        Ok(())
    }

    /// Clear the gradients of all parameters.
    pub fn zero_grad(&self) {
        self.params.iter().for_each(Tensor::zero_grad);
    }
}
