//! How [`Adam`], [`Sgd`] and [`RmsProp`] expose their state to checkpoints
//! ([`OptimizerState`]; the keys are listed in [`crate::nn::serialize`]).

use crate::error::{Error, Result};
use crate::nn::serialize::OptimizerState;
use crate::optim::{Adam, RmsProp, Sgd};
use crate::tensor::Tensor;

impl OptimizerState for Adam {
    fn kind(&self) -> &'static str {
        "adam"
    }

    fn params(&self) -> &[Tensor] {
        Adam::params(self)
    }

    fn slots(&self) -> Result<Vec<(&'static str, Vec<Tensor>)>> {
        let (m, v) = self.moments()?;
        Ok(vec![("m", m), ("v", v)])
    }

    fn set_slots(&mut self, slots: &[(&'static str, Vec<Tensor>)]) -> Result<()> {
        match slots {
            [("m", m), ("v", v)] => self.set_moments(m, v),
            _ => Err(Error::invalid("load", "Adam state must be the slots m and v")),
        }
    }

    fn counters(&self) -> (&'static str, Vec<u64>, u64) {
        ("step", self.param_steps().to_vec(), self.steps())
    }

    fn set_counters(&mut self, steps: u64, per_param: &[u64]) -> Result<()> {
        self.set_step_counts(steps, per_param)
    }
}

impl OptimizerState for Sgd {
    fn kind(&self) -> &'static str {
        "sgd"
    }

    fn params(&self) -> &[Tensor] {
        Sgd::params(self)
    }

    fn slots(&self) -> Result<Vec<(&'static str, Vec<Tensor>)>> {
        Ok(vec![("momentum", self.momentum_buffers()?)])
    }

    fn set_slots(&mut self, slots: &[(&'static str, Vec<Tensor>)]) -> Result<()> {
        match slots {
            [("momentum", b)] => self.set_momentum_buffers(b),
            _ => Err(Error::invalid("load", "SGD state must be the slot momentum")),
        }
    }

    fn counters(&self) -> (&'static str, Vec<u64>, u64) {
        (
            "started",
            self.started().iter().map(|&s| s as u64).collect(),
            self.steps(),
        )
    }

    fn set_counters(&mut self, steps: u64, per_param: &[u64]) -> Result<()> {
        if let Some(bad) = per_param.iter().find(|&&v| v > 1) {
            return Err(Error::invalid(
                "load",
                format!("SGD started flags must be 0 or 1, found {bad}"),
            ));
        }
        let started: Vec<bool> = per_param.iter().map(|&v| v == 1).collect();
        self.set_step_counts(steps, &started)
    }
}

impl OptimizerState for RmsProp {
    fn kind(&self) -> &'static str {
        "rmsprop"
    }

    fn params(&self) -> &[Tensor] {
        RmsProp::params(self)
    }

    fn slots(&self) -> Result<Vec<(&'static str, Vec<Tensor>)>> {
        Ok(vec![("square_avg", self.square_averages()?)])
    }

    fn set_slots(&mut self, slots: &[(&'static str, Vec<Tensor>)]) -> Result<()> {
        match slots {
            [("square_avg", v)] => self.set_square_averages(v),
            _ => Err(Error::invalid("load", "RMSprop state must be the slot square_avg")),
        }
    }

    fn counters(&self) -> (&'static str, Vec<u64>, u64) {
        ("steps", vec![self.steps(); self.params().len()], self.steps())
    }

    fn set_counters(&mut self, steps: u64, _per_param: &[u64]) -> Result<()> {
        self.set_steps(steps);
        Ok(())
    }
}
