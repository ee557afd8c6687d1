//! Inverted dropout with a GPU random mask.

use std::sync::Arc;

use super::{Module, TrainingFlag};
use crate::error::{Error, Result};
use crate::tensor::{Generator, Tensor};

/// In training mode y = x·m with m = [u ≥ p]/(1 − p), u ~ U[0, 1) drawn per
/// element from the layer's [`Generator`] (Philox on the GPU); in evaluation
/// mode y = x. The mask is a constant for autodiff: dy/dx = m, and the second
/// derivative is zero. `E[y] = x`, so no rescaling is needed at evaluation.
///
/// p = 0 is the identity; p = 1 gives zeros (as PyTorch). Layers start in
/// training mode; [`Module::set_training`] switches. Each forward in training
/// mode advances the generator, so sharing one `Arc<Generator>` among all the
/// dropout layers of a model makes the run replay from one seed and offset.
pub struct Dropout {
    p: f32,
    rng: Arc<Generator>,
    training: TrainingFlag,
}

impl Dropout {
    /// Dropout with drop probability `p` ∈ [0, 1], drawing masks from `rng`.
    pub fn new(p: f32, rng: Arc<Generator>) -> Result<Dropout> {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::invalid(
                "Dropout",
                format!("drop probability must lie in [0, 1], got {p}"),
            ));
        }
        Ok(Dropout {
            p,
            rng,
            training: TrainingFlag::new(),
        })
    }

    /// The drop probability.
    pub fn p(&self) -> f32 {
        self.p
    }

    /// Whether the layer is in training mode.
    pub fn is_training(&self) -> bool {
        self.training.get()
    }
}

impl Module for Dropout {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.training.get() || self.p == 0.0 {
            return Ok(x.clone());
        }
        if self.p == 1.0 {
            return x.mul_scalar(0.0);
        }
        let dev = x.device();
        let u = self.rng.uniform(dev, x.shape(), 0.0, 1.0)?;
        // Comparisons produce constants: the mask carries no graph.
        let keep = u.ge(&Tensor::scalar(dev, self.p)?)?;
        let mask = keep.mul_scalar(1.0 / (1.0 - self.p))?;
        x.mul(&mask)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    fn set_training(&self, training: bool) {
        self.training.set(training);
    }
}
