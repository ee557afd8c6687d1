//! Reverse-mode autodiff on a define-by-run tape.
//!
//! Every op whose inputs require gradients records a [`Node`]: its inputs and
//! a backward rule. The tape is the graph these nodes form, hanging off the
//! output tensors; it lives as long as they do. Backward rules are written with
//! the engine's own differentiable ops, so with `create_graph = true` the
//! backward pass records onto the tape like any forward pass and its results
//! can be differentiated again (the WGAN-GP gradient penalty needs this).
//!
//! # Example
//!
//! A second derivative: d²/dx² of x³ is 6x.
//!
//! ```
//! use balgan::{grad, no_grad, Device, Tensor};
//! # fn main() -> balgan::Result<()> {
//! let dev = Device::new()?;
//! let x = Tensor::from_slice(&dev, &[1.0, 2.0, 3.0], &[3])?.requires_grad_();
//! let y = x.mul(&x)?.mul(&x)?.sum_all()?; // Σ x³
//! // dy/dx = 3x², recorded on the tape (create_graph = true) …
//! let dy = grad(&[&y], &[&x], true)?.remove(0);
//! assert_eq!(dy.to_vec()?, [3.0, 12.0, 27.0]);
//! // … so that it can be differentiated again.
//! let d2y = grad(&[&dy.sum_all()?], &[&x], false)?.remove(0);
//! assert_eq!(d2y.to_vec()?, [6.0, 12.0, 18.0]);
//! // Nothing is recorded under `no_grad`.
//! let z = no_grad(|| x.square())?;
//! assert!(!z.requires_grad());
//! # Ok(()) }
//! ```

mod engine;
mod grad_mode;

pub use engine::{grad, grad_with};
pub use grad_mode::{is_grad_enabled, no_grad, set_grad_enabled, GradModeGuard};

use crate::error::Result;
use crate::tensor::Tensor;

/// A backward rule: given the op's inputs and the gradient of the loss with
/// respect to the op's output, return the gradient for each input (`None`
/// where `needs[i]` is false or the input takes no gradient).
///
/// Rules must be written with differentiable tensor ops, not raw kernels, so
/// that gradients of gradients work.
pub trait Backward: Send + Sync {
    /// The op's name, for errors and debugging.
    fn name(&self) -> &'static str;
    /// Gradients for each input.
    fn backward(&self, inputs: &[Tensor], grad: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>>;
}

/// One entry of the tape.
pub struct Node {
    pub(crate) inputs: Vec<Tensor>,
    pub(crate) rule: Box<dyn Backward>,
}
