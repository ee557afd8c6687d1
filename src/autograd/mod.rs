//! Reverse-mode autodiff on a define-by-run tape.
//!
//! Every op whose inputs require gradients records a [`Node`]: its inputs and
//! a backward rule. The tape is the graph these nodes form, hanging off the
//! output tensors; it lives as long as they do. Backward rules are written with
//! the engine's own differentiable ops, so with `create_graph = true` the
//! backward pass records onto the tape like any forward pass and its results
//! can be differentiated again (the WGAN-GP gradient penalty needs this).

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
