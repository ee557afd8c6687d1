//! Adam and AdamW: one multi-tensor dispatch per group of parameters.

use std::collections::BTreeMap;

use super::flat::{check_leaves, flat_offsets, flatten_into, gradients, unflatten, update_groups, zeroed_state};
use crate::error::{Error, Result};
use crate::kernels::optim::{OptimParams, Update};
use crate::tensor::Tensor;

/// Adam's hyper-parameters. Defaults are PyTorch's: lr 1e-3, betas (0.9, 0.999),
/// eps 1e-8, no weight decay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    /// Learning rate (step size).
    pub lr: f32,
    /// Decay of the running mean of gradients (first moment), in [0, 1).
    pub beta1: f32,
    /// Decay of the running mean of squared gradients (second moment), in [0, 1).
    pub beta2: f32,
    /// Added to the square root of the bias-corrected second moment, for stability.
    pub eps: f32,
    /// Weight-decay factor: an L2 term `weight_decay · θ` added to the gradient, or
    /// (with [`AdamConfig::decoupled_weight_decay`]) θ shrunk by `lr · weight_decay` each step.
    pub weight_decay: f32,
    /// Decoupled weight decay (AdamW) instead of an L2 term in the gradient.
    pub decoupled_weight_decay: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        AdamConfig {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            decoupled_weight_decay: false,
        }
    }
}

impl AdamConfig {
    /// Checks the ranges PyTorch checks, plus finiteness: lr ≥ 0, eps ≥ 0,
    /// weight_decay ≥ 0, betas in [0, 1), all finite.
    pub fn validate(&self) -> Result<()> {
        let bad =
            |what: &str, v: f32, need: &str| Err(Error::invalid("Adam", format!("{what} must be {need}, got {v}")));
        if !(self.lr.is_finite() && self.lr >= 0.0) {
            return bad("lr", self.lr, "finite and >= 0");
        }
        for (what, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return bad(what, b, "in [0, 1) (PyTorch's defaults are 0.9 and 0.999)");
            }
        }
        if !(self.eps.is_finite() && self.eps >= 0.0) {
            return bad("eps", self.eps, "finite and >= 0 (PyTorch's default is 1e-8)");
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return bad("weight_decay", self.weight_decay, "finite and >= 0");
        }
        Ok(())
    }
}

/// Adam over a fixed list of parameters (leaves that require grad).
///
/// The moments of all parameters live in two flat buffers (parameter i's at
/// `offsets[i]`), and one dispatch updates up to
/// [`crate::kernels::optim::slots_per_dispatch`] parameters (15 on lavapipe):
/// a step costs one dispatch per group of parameters with the same step count,
/// not one per parameter.
pub struct Adam {
    params: Vec<Tensor>,
    /// First and second moments, flat: parameter i's at `offsets[i]`.
    /// `None` without parameters.
    m: Option<Tensor>,
    v: Option<Tensor>,
    offsets: Vec<usize>,
    /// Updates applied to each parameter: a parameter that had no gradient at a
    /// step is not counted, so its bias correction is its own (as in PyTorch).
    param_steps: Vec<u64>,
    step: u64,
    /// Hyper-parameters; `lr` may be changed between steps.
    pub config: AdamConfig,
}

impl Adam {
    /// An optimizer for `params` with zeroed moments.
    pub fn new(params: &[Tensor], config: AdamConfig) -> Result<Adam> {
        config.validate()?;
        check_leaves("Adam", params)?;
        let (offsets, _) = flat_offsets(params);
        Ok(Adam {
            params: params.to_vec(),
            m: zeroed_state(params)?,
            v: zeroed_state(params)?,
            offsets,
            param_steps: vec![0; params.len()],
            step: 0,
            config,
        })
    }

    /// Calls of [`Adam::step`] so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Update every parameter that has a gradient, in place.
    /// Fails, changing nothing, if `config` was set out of range.
    pub fn step(&mut self) -> Result<()> {
        self.config.validate()?;
        self.step += 1;
        let c = self.config;
        // Parameters with a gradient, grouped by their own step count (one
        // bias correction per dispatch).
        let mut by_step: BTreeMap<u64, Vec<(usize, Tensor)>> = BTreeMap::new();
        let grads = gradients("Adam", &self.params)?;
        for (i, g) in grads.into_iter().enumerate() {
            let Some(g) = g else { continue };
            self.param_steps[i] += 1;
            by_step.entry(self.param_steps[i]).or_default().push((i, g));
        }
        let (Some(dev), Some(m), Some(v)) = (self.params.first().map(|p| p.device().clone()), &self.m, &self.v) else {
            return Ok(());
        };
        for (t, group) in by_step {
            let t = t.min(i32::MAX as u64) as i32;
            let params = OptimParams {
                decoupled: c.decoupled_weight_decay as u32,
                lr: c.lr,
                beta1: c.beta1,
                beta2: c.beta2,
                eps: c.eps,
                weight_decay: c.weight_decay,
                bc1: 1.0 - c.beta1.powi(t),
                bc2: 1.0 - c.beta2.powi(t),
                ..Default::default()
            };
            update_groups(&dev, Update::Adam, params, &self.params, &self.offsets, &group, m, v)?;
        }
        Ok(())
    }

    /// The parameters, in the order given to [`Adam::new`].
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// Copies of the first- and second-moment estimates (m, v), one tensor
    /// per parameter, shaped like it.
    pub fn moments(&self) -> Result<(Vec<Tensor>, Vec<Tensor>)> {
        Ok((
            unflatten(self.m.as_ref(), &self.params, &self.offsets)?,
            unflatten(self.v.as_ref(), &self.params, &self.offsets)?,
        ))
    }

    /// Overwrite the moments (one tensor per parameter, shaped like it), e.g.
    /// from a checkpoint.
    pub fn set_moments(&self, m: &[Tensor], v: &[Tensor]) -> Result<()> {
        flatten_into("Adam", self.m.as_ref(), &self.params, &self.offsets, m)?;
        flatten_into("Adam", self.v.as_ref(), &self.params, &self.offsets, v)
    }

    /// Updates applied to each parameter so far (its bias-correction step).
    pub fn param_steps(&self) -> &[u64] {
        &self.param_steps
    }

    /// Restore the step counters saved with a checkpoint: the number of
    /// [`Adam::step`] calls and the per-parameter update counts.
    pub fn set_step_counts(&mut self, steps: u64, param_steps: &[u64]) -> Result<()> {
        if param_steps.len() != self.params.len() {
            return Err(Error::invalid(
                "Adam",
                format!(
                    "{} step counts given for {} parameters",
                    param_steps.len(),
                    self.params.len()
                ),
            ));
        }
        self.step = steps;
        self.param_steps.copy_from_slice(param_steps);
        Ok(())
    }

    /// A copy of the optimizer's state (moments on the device, step counts)
    /// in new buffers; [`Adam::snapshot_into`] refreshes it, [`Adam::restore`]
    /// puts it back. With a copy of the parameters this clones a player with
    /// its optimizer (E-GAN's offspring) without a host round trip.
    pub fn snapshot(&self) -> Result<AdamSnapshot> {
        let copy = |t: &Option<Tensor>| -> Result<Option<Tensor>> {
            t.as_ref()
                .map(|t| {
                    let c = Tensor::zeros(t.device(), t.shape())?;
                    c.assign_(t)?;
                    Ok(c)
                })
                .transpose()
        };
        Ok(AdamSnapshot {
            m: copy(&self.m)?,
            v: copy(&self.v)?,
            param_steps: self.param_steps.clone(),
            step: self.step,
        })
    }

    /// Overwrite `snapshot` (taken from this optimizer) with the state now,
    /// reusing its buffers.
    pub fn snapshot_into(&self, snapshot: &mut AdamSnapshot) -> Result<()> {
        self.check_snapshot(snapshot)?;
        for (to, from) in [(&snapshot.m, &self.m), (&snapshot.v, &self.v)] {
            if let (Some(to), Some(from)) = (to, from) {
                to.assign_(from)?;
            }
        }
        snapshot.param_steps.copy_from_slice(&self.param_steps);
        snapshot.step = self.step;
        Ok(())
    }

    /// Set the state to `snapshot`'s (taken from this optimizer).
    pub fn restore(&mut self, snapshot: &AdamSnapshot) -> Result<()> {
        self.check_snapshot(snapshot)?;
        for (to, from) in [(&self.m, &snapshot.m), (&self.v, &snapshot.v)] {
            if let (Some(to), Some(from)) = (to, from) {
                to.assign_(from)?;
            }
        }
        self.param_steps.copy_from_slice(&snapshot.param_steps);
        self.step = snapshot.step;
        Ok(())
    }

    fn check_snapshot(&self, s: &AdamSnapshot) -> Result<()> {
        let numel = |t: &Option<Tensor>| t.as_ref().map(Tensor::numel);
        if s.param_steps.len() != self.params.len() || numel(&s.m) != numel(&self.m) {
            return Err(Error::invalid(
                "Adam",
                format!(
                    "the snapshot holds the state of {} parameters ({:?} values), this optimizer has {} ({:?}): \
                     restore a snapshot into the optimizer it was taken from",
                    s.param_steps.len(),
                    numel(&s.m),
                    self.params.len(),
                    numel(&self.m)
                ),
            ));
        }
        Ok(())
    }

    /// Clear the gradients of all parameters.
    pub fn zero_grad(&self) {
        self.params.iter().for_each(Tensor::zero_grad);
    }
}

/// A copy of an [`Adam`]'s state: see [`Adam::snapshot`].
pub struct AdamSnapshot {
    m: Option<Tensor>,
    v: Option<Tensor>,
    param_steps: Vec<u64>,
    step: u64,
}

impl AdamSnapshot {
    /// The copied (first, second) moments, flat (`None` without parameters).
    pub fn moments(&self) -> (Option<&Tensor>, Option<&Tensor>) {
        (self.m.as_ref(), self.v.as_ref())
    }

    /// The copied [`Adam::steps`].
    pub fn steps(&self) -> u64 {
        self.step
    }
}
