//! Layers that only change the shape: [`Flatten`] and [`Reshape`]. Both keep
//! the batch axis (axis 0) and share the input's buffer (no copy); the
//! gradient is reshaped back.

use super::Module;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// [B, d₁, d₂, …] → [B, d₁·d₂·…] (Keras' `Flatten`, PyTorch's `nn.Flatten()`).
/// A rank-1 input `[B]` becomes `[B, 1]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flatten;

impl Module for Flatten {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let Some(&batch) = x.shape().first() else {
            return Err(Error::invalid(
                "Flatten",
                "input is a scalar; Flatten needs a batch axis",
            ));
        };
        let rest: usize = x.shape()[1..].iter().product();
        x.reshape(&[batch, rest])
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}

/// [B, …] → [B, shape…]: the per-sample shape changes, the batch axis stays
/// (Keras' `Reshape`, e.g. a dense output to 256×4×4 feature maps). The
/// element count per sample must match.
#[derive(Debug, Clone)]
pub struct Reshape {
    shape: Vec<usize>,
}

impl Reshape {
    /// A reshape to [B, shape…].
    pub fn new(shape: &[usize]) -> Reshape {
        Reshape { shape: shape.to_vec() }
    }

    /// The per-sample target shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
}

impl Module for Reshape {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let Some(&batch) = x.shape().first() else {
            return Err(Error::invalid(
                "Reshape",
                "input is a scalar; Reshape needs a batch axis",
            ));
        };
        let per_sample: usize = x.shape()[1..].iter().product();
        let want: usize = self.shape.iter().product();
        if per_sample != want {
            let mut target = vec![batch];
            target.extend_from_slice(&self.shape);
            return Err(Error::shape(
                "Reshape",
                x.shape(),
                &target,
                &format!(
                    "{per_sample} elements per sample cannot become {:?} ({want})",
                    self.shape
                ),
            ));
        }
        let mut target = vec![batch];
        target.extend_from_slice(&self.shape);
        x.reshape(&target)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}
