//! 2-D pooling over non-overlapping windows (kernel = stride), NCHW.
//!
//! [N, C, H, W] is viewed as [N, C, H/k, k, W/k, k] (no copy) and reduced over
//! the two window axes, so the gradient is the reduction's:
//! average: ∂y/∂x = 1/k² for every element of the window;
//! max: the upstream gradient goes to the window's maximum, shared equally
//! among ties (PyTorch picks one of them); the mask is a constant to the
//! second derivative. H and W must be multiples of k.

use super::Module;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Avg,
    Max,
}

fn windows(op: &'static str, x: &Tensor, k: usize) -> Result<Tensor> {
    let &[n, c, h, w] = x.shape() else {
        return Err(Error::invalid(
            op,
            format!("input must be [N, C, H, W], got shape {:?}", x.shape()),
        ));
    };
    if !h.is_multiple_of(k) || !w.is_multiple_of(k) {
        return Err(Error::invalid(
            op,
            format!(
                "kernel {k} does not divide the {h}×{w} input (shape {:?}); crop or pad to a multiple of {k}",
                x.shape()
            ),
        ));
    }
    x.reshape(&[n, c, h / k, k, w / k, k])
}

fn pool(kind: Kind, op: &'static str, x: &Tensor, k: usize) -> Result<Tensor> {
    let v = windows(op, x, k)?;
    match kind {
        Kind::Avg => v.mean(&[3, 5], false),
        Kind::Max => v.max(&[3, 5], false),
    }
}

fn check_kernel(op: &'static str, k: usize) -> Result<usize> {
    if k == 0 {
        return Err(Error::invalid(op, "kernel size must be at least 1"));
    }
    Ok(k)
}

/// Average over k×k windows with stride k: y[n, c, i, j] = mean of
/// x[n, c, k·i .. k·i + k, k·j .. k·j + k].
#[derive(Debug, Clone, Copy)]
pub struct AvgPool2d {
    kernel: usize,
}

impl AvgPool2d {
    /// Pooling with kernel = stride = `kernel` (≥ 1).
    pub fn new(kernel: usize) -> Result<AvgPool2d> {
        Ok(AvgPool2d {
            kernel: check_kernel("AvgPool2d", kernel)?,
        })
    }
}

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        pool(Kind::Avg, "AvgPool2d", x, self.kernel)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}

/// Maximum over k×k windows with stride k (NaN propagates).
#[derive(Debug, Clone, Copy)]
pub struct MaxPool2d {
    kernel: usize,
}

impl MaxPool2d {
    /// Pooling with kernel = stride = `kernel` (≥ 1).
    pub fn new(kernel: usize) -> Result<MaxPool2d> {
        Ok(MaxPool2d {
            kernel: check_kernel("MaxPool2d", kernel)?,
        })
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        pool(Kind::Max, "MaxPool2d", x, self.kernel)
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }
}
