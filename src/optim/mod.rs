//! Optimizers: each update is one multi-tensor kernel per group of parameter
//! tensors (the state flat, see `flat`), recorded like any op (no host round
//! trip). `state` lets checkpoints save and restore
//! their state (`nn::serialize::OptimizerState`).
//!
//! # Example
//!
//! Adam minimising (x − 3)² from x = 0.
//!
//! ```
//! use balgan::optim::{Adam, AdamConfig, Optimizer};
//! use balgan::{Device, Tensor};
//! # fn main() -> balgan::Result<()> {
//! let dev = Device::new()?;
//! let x = Tensor::zeros(&dev, &[1])?.requires_grad_();
//! let mut adam = Adam::new(&[x.clone()], AdamConfig { lr: 0.1, ..AdamConfig::default() })?;
//! let loss = |x: &Tensor| x.add_scalar(-3.0)?.square()?.sum_all();
//! assert_eq!(loss(&x)?.item()?, 9.0);
//! for _ in 0..100 {
//!     adam.minimize(&loss(&x)?)?; // zero the gradients, backpropagate, update x in place
//! }
//! assert_eq!(adam.steps(), 100);
//! assert!(loss(&x)?.item()? < 0.01);
//! # Ok(()) }
//! ```

mod adam;
mod flat;
mod rmsprop;
mod sgd;
mod state;

pub use adam::{Adam, AdamConfig, AdamSnapshot};
pub use rmsprop::{RmsProp, RmsPropConfig};
pub use sgd::{Sgd, SgdConfig};

use crate::autograd::grad;
use crate::error::Result;
use crate::tensor::Tensor;

/// What every optimizer does with a loss. The two ways to take a step are
/// the two every model needs: [`Optimizer::minimize`] backpropagates into
/// every leaf the loss reaches (an autoencoder, a critic), and
/// [`Optimizer::minimize_own`] differentiates for this optimizer's
/// parameters only (a generator stepping through a frozen critic, whose
/// parameters get no gradient and no update).
pub trait Optimizer {
    /// The parameters this optimizer updates, in its order.
    fn params(&self) -> &[Tensor];

    /// One update from the gradients the parameters hold.
    fn step(&mut self) -> Result<()>;

    /// Clear the gradients, backpropagate `loss` (a scalar), update.
    fn minimize(&mut self, loss: &Tensor) -> Result<()> {
        self.params().iter().for_each(Tensor::zero_grad);
        loss.backward()?;
        self.step()
    }

    /// Set each parameter's gradient to ∂loss/∂parameter, computed for these
    /// parameters only, and update. Other leaves' gradients are untouched.
    fn minimize_own(&mut self, loss: &Tensor) -> Result<()> {
        let params = self.params().to_vec();
        let refs: Vec<&Tensor> = params.iter().collect();
        let grads = grad(&[loss], &refs, false)?;
        for (p, g) in params.iter().zip(grads) {
            p.set_grad(Some(g));
        }
        self.step()
    }
}

impl Optimizer for Adam {
    fn params(&self) -> &[Tensor] {
        Adam::params(self)
    }

    fn step(&mut self) -> Result<()> {
        Adam::step(self)
    }
}

impl Optimizer for Sgd {
    fn params(&self) -> &[Tensor] {
        Sgd::params(self)
    }

    fn step(&mut self) -> Result<()> {
        Sgd::step(self)
    }
}

impl Optimizer for RmsProp {
    fn params(&self) -> &[Tensor] {
        RmsProp::params(self)
    }

    fn step(&mut self) -> Result<()> {
        RmsProp::step(self)
    }
}
