//! Nearest-neighbour upsampling by an integer factor, NCHW.

use super::Module;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// y[n, c, i, j] = x[n, c, ⌊i/f⌋, ⌊j/f⌋]: [N, C, H, W] → [N, C, f·H, f·W]
/// (Keras' `UpSampling2D`, PyTorch's `Upsample(scale_factor=f)` in nearest
/// mode). Built as reshape [N, C, H, 1, W, 1] → broadcast to
/// [N, C, H, f, W, f] → reshape, so the gradient sums each f×f block.
#[derive(Debug, Clone, Copy)]
pub struct UpsampleNearest2d {
    factor: usize,
}

impl UpsampleNearest2d {
    /// Upsampling by `factor` ≥ 1 along both spatial axes.
    pub fn new(factor: usize) -> Result<UpsampleNearest2d> {
        if factor == 0 {
            return Err(Error::invalid("UpsampleNearest2d", "factor must be at least 1"));
        }
        Ok(UpsampleNearest2d { factor })
    }

    /// The scale factor.
    pub fn factor(&self) -> usize {
        self.factor
    }
}

impl Module for UpsampleNearest2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let &[n, c, h, w] = x.shape() else {
            return Err(Error::invalid(
                "UpsampleNearest2d",
                format!("input must be [N, C, H, W], got shape {:?}", x.shape()),
            ));
        };
        let f = self.factor;
        if f == 1 {
            return Ok(x.clone());
        }
        x.reshape(&[n, c, h, 1, w, 1])?
            .broadcast_to(&[n, c, h, f, w, f])?
            .reshape(&[n, c, h * f, w * f])
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}
