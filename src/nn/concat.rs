//! Branches applied to the same input, joined along an axis.

use super::Module;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// y = concat(f₁(x), f₂(x), …) along `axis` (axis 1, channels in NCHW, by
/// default). Every branch sees the same input; the gradient is split back to
/// each branch and summed at x. Branch `i` (or a named branch) prefixes its
/// parameter names with `i.` (or `name.`), as [`super::Sequential`] does.
/// For joining tensors that do not come from one input, use
/// [`Tensor::concat`].
pub struct Concat {
    axis: isize,
    branches: Vec<(String, Box<dyn Module>)>,
}

impl Concat {
    /// No branches yet, joining along channels (axis 1).
    pub fn new() -> Concat {
        Concat::along(1)
    }

    /// No branches yet, joining along `axis` (negative counts from the end).
    pub fn along(axis: isize) -> Concat {
        Concat {
            axis,
            branches: Vec::new(),
        }
    }

    /// Add a branch named by its position.
    pub fn push(mut self, branch: impl Module + 'static) -> Concat {
        let name = self.branches.len().to_string();
        self.branches.push((name, Box::new(branch)));
        self
    }

    /// Add a branch under a name.
    pub fn push_named(mut self, name: &str, branch: impl Module + 'static) -> Concat {
        self.branches.push((name.to_string(), Box::new(branch)));
        self
    }
}

impl Default for Concat {
    fn default() -> Self {
        Concat::new()
    }
}

impl Module for Concat {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if self.branches.is_empty() {
            return Err(Error::invalid("Concat", "no branches to concatenate"));
        }
        let outs = self
            .branches
            .iter()
            .map(|(_, b)| b.forward(x))
            .collect::<Result<Vec<_>>>()?;
        let refs: Vec<&Tensor> = outs.iter().collect();
        Tensor::concat(&refs, self.axis)
    }

    fn children(&self) -> Vec<(String, &dyn Module)> {
        self.branches.iter().map(|(n, b)| (n.clone(), b.as_ref())).collect()
    }
}
