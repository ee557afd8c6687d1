//! SGD with momentum (PyTorch semantics): one `sgd_step` dispatch per parameter.

use crate::error::{Error, Result};
use crate::kernels::check_u32;
use crate::kernels::optim::{sgd, OptimParams};
use crate::tensor::Tensor;

/// SGD's hyper-parameters. Defaults: lr 0.01, no momentum, no weight decay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    pub lr: f32,
    pub momentum: f32,
    pub dampening: f32,
    pub weight_decay: f32,
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

/// SGD over a fixed list of parameters.
pub struct Sgd {
    params: Vec<Tensor>,
    momentum: Vec<Tensor>,
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
        for p in params {
            if !p.requires_grad() || !p.is_leaf() {
                return Err(Error::invalid(
                    "Sgd",
                    format!("parameter of shape {:?} must be a leaf that requires grad", p.shape()),
                ));
            }
        }
        config.validate()?;
        Ok(Sgd {
            params: params.to_vec(),
            momentum: params.iter().map(|p| p.zeros_like()).collect::<Result<_>>()?,
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
        for (i, (p, buf)) in self.params.iter().zip(&self.momentum).enumerate() {
            let Some(g) = p.grad() else { continue };
            let first = !std::mem::replace(&mut self.started[i], true);
            let params = OptimParams {
                n: check_u32("SGD parameter elements", p.numel())?,
                first: first as u32,
                nesterov: c.nesterov as u32,
                lr: c.lr,
                weight_decay: c.weight_decay,
                momentum: c.momentum,
                dampening: c.dampening,
                ..Default::default()
            };
            sgd(p.device(), params, g.buffer(), p.buffer(), buf.buffer())?;
        }
        self.step += 1;
        Ok(())
    }

    /// The parameters, in the order given to [`Sgd::new`].
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// The momentum buffers, one per parameter, updated in place by `step`
    /// (write into them to restore a checkpoint).
    pub fn momentum_buffers(&self) -> &[Tensor] {
        &self.momentum
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
