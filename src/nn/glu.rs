//! Gated linear unit as a layer: y = a ⊗ σ(b), with a and b the two halves of
//! the input along `axis` (see [`Tensor::glu`]). SGBGAN's GLU conv is a
//! Conv2d with 2C output channels followed by `Glu::new(1)`, giving C
//! channels. No parameters.

use super::Module;
use crate::error::Result;
use crate::tensor::Tensor;

/// a ⊗ σ(b) over `axis` (negative counts from the end): [.., 2h, ..] → [.., h, ..].
#[derive(Debug, Clone, Copy)]
pub struct Glu {
    /// The axis split in two halves.
    pub axis: isize,
}

impl Glu {
    /// A GLU over `axis` (1 for the channels of an NCHW feature map).
    pub fn new(axis: isize) -> Glu {
        Glu { axis }
    }
}

impl Module for Glu {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.glu(self.axis)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}
