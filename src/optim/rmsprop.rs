//! RMSprop (PyTorch semantics, not centered, without momentum): one
//! multi-tensor dispatch per group of parameters. The original WGAN trains
//! both players with it (lr 5·10⁻⁵).

use super::flat::{check_leaves, flat_offsets, flatten_into, gradients, unflatten, update_groups, zeroed_state};
use crate::error::{Error, Result};
use crate::kernels::optim::{OptimParams, Update};
use crate::tensor::Tensor;

/// RMSprop's hyper-parameters. Defaults: PyTorch's (lr 0.01, α 0.99, ε 1e-8,
/// no weight decay).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmsPropConfig {
    /// Learning rate (step size).
    pub lr: f32,
    /// Decay of the running average of squared gradients.
    pub alpha: f32,
    /// Added to the square root of the running average, for stability.
    pub eps: f32,
    /// L2 penalty: `weight_decay · θ` is added to the gradient.
    pub weight_decay: f32,
}

impl Default for RmsPropConfig {
    fn default() -> Self {
        RmsPropConfig {
            lr: 0.01,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl RmsPropConfig {
    /// lr, ε and weight decay finite and ≥ 0, α in [0, 1].
    pub fn validate(&self) -> Result<()> {
        for (what, v) in [("lr", self.lr), ("eps", self.eps), ("weight_decay", self.weight_decay)] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(Error::invalid(
                    "RmsProp",
                    format!("{what} must be finite and >= 0, got {v}"),
                ));
            }
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(Error::invalid(
                "RmsProp",
                format!("alpha must be in [0, 1], got {}", self.alpha),
            ));
        }
        Ok(())
    }
}

/// RMSprop over a fixed list of parameters, the running averages of all
/// parameters in one flat buffer.
pub struct RmsProp {
    params: Vec<Tensor>,
    /// Running averages of squared gradients, flat (`None` without parameters).
    square_avg: Option<Tensor>,
    /// Bound as the kernel's unused second state buffer.
    unused: Option<Tensor>,
    offsets: Vec<usize>,
    step: u64,
    /// Hyper-parameters; `lr` may be changed between steps.
    pub config: RmsPropConfig,
}

impl RmsProp {
    /// An optimizer for `params`.
    pub fn new(params: &[Tensor], config: RmsPropConfig) -> Result<RmsProp> {
        check_leaves("RmsProp", params)?;
        config.validate()?;
        let (offsets, _) = flat_offsets(params);
        Ok(RmsProp {
            params: params.to_vec(),
            square_avg: zeroed_state(params)?,
            unused: params.first().map(|p| Tensor::zeros(p.device(), &[1])).transpose()?,
            offsets,
            step: 0,
            config,
        })
    }

    /// Calls of [`RmsProp::step`] so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Update every parameter that has a gradient, in place.
    /// Fails, changing nothing, if `config` was set out of range.
    pub fn step(&mut self) -> Result<()> {
        self.config.validate()?;
        let c = self.config;
        let group: Vec<(usize, Tensor)> = gradients("RmsProp", &self.params)?
            .into_iter()
            .enumerate()
            .filter_map(|(i, g)| g.map(|g| (i, g)))
            .collect();
        let (Some(dev), Some(avg), Some(unused)) = (
            self.params.first().map(|p| p.device().clone()),
            &self.square_avg,
            &self.unused,
        ) else {
            self.step += 1;
            return Ok(());
        };
        let params = OptimParams {
            lr: c.lr,
            beta2: c.alpha,
            eps: c.eps,
            weight_decay: c.weight_decay,
            ..Default::default()
        };
        update_groups(
            &dev,
            Update::RmsProp,
            params,
            &self.params,
            &self.offsets,
            &group,
            avg,
            unused,
        )?;
        self.step += 1;
        Ok(())
    }

    /// The parameters, in the order given to [`RmsProp::new`].
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// Copies of the running averages, one per parameter, shaped like it.
    pub fn square_averages(&self) -> Result<Vec<Tensor>> {
        unflatten(self.square_avg.as_ref(), &self.params, &self.offsets)
    }

    /// Overwrite the running averages (one tensor per parameter, shaped like
    /// it), e.g. from a checkpoint.
    pub fn set_square_averages(&self, values: &[Tensor]) -> Result<()> {
        flatten_into("RmsProp", self.square_avg.as_ref(), &self.params, &self.offsets, values)
    }

    /// Restore the number of [`RmsProp::step`] calls saved with a checkpoint.
    pub fn set_steps(&mut self, steps: u64) {
        self.step = steps;
    }

    /// Clear the gradients of all parameters.
    pub fn zero_grad(&self) {
        self.params.iter().for_each(Tensor::zero_grad);
    }
}
