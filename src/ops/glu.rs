//! Gated linear unit: x split along `axis` into halves a (first) and b
//! (second), y = a ⊗ σ(b).
//!
//! Shapes: x [.., 2h, ..] → y [.., h, ..]; e.g. a conv output [B, 2C, H, W]
//! with axis 1 gives [B, C, H, W].
//!
//! Derivatives (upstream gradient g, of y's shape):
//!   da = g·σ(b)
//!   db = g·a·σ(b)·(1 − σ(b))
//! and dx = concat(da, db) along the axis. With a graph being built
//! (`create_graph`) the rule is written with ops (narrow, sigmoid, mul,
//! concat), so it differentiates again; without one, a fused kernel writes
//! dx from x and g in one pass.

use crate::autograd::{is_grad_enabled, Backward};
use crate::error::{Error, Result};
use crate::kernels::glu::launch;
use crate::tensor::shape::axis as norm_axis;
use crate::tensor::Tensor;

/// [outer, half, inner] of x split along `axis`.
fn split(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis] / 2, inner)
}

struct GluBackward {
    axis: usize,
}

impl Backward for GluBackward {
    fn name(&self) -> &'static str {
        "glu"
    }

    fn backward(&self, inputs: &[Tensor], g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        if !is_grad_enabled() {
            let (outer, half, inner) = split(x.shape(), self.axis);
            let dx = Tensor::uninit(x.device(), x.shape())?;
            launch(
                x.device(),
                outer,
                half,
                inner,
                x.buffer(),
                Some(g.buffer()),
                dx.buffer(),
            )?;
            return Ok(vec![Some(dx)]);
        }
        let axis = self.axis as isize;
        let half = x.shape()[self.axis] / 2;
        let a = x.narrow(axis, 0, half)?;
        let s = x.narrow(axis, half, half)?.sigmoid()?;
        let gs = g.mul(&s)?;
        let db = gs.mul(&a)?.mul(&s.affine(-1.0, 1.0)?)?;
        Ok(vec![Some(Tensor::concat(&[&gs, &db], axis)?)])
    }
}

impl Tensor {
    /// Gated linear unit along `axis`: the axis (of even length 2h) is split
    /// into a = [0, h) and b = [h, 2h), and the result is a ⊗ σ(b), with h
    /// along the axis. An odd length is an error.
    pub fn glu(&self, axis: isize) -> Result<Tensor> {
        let a = norm_axis("glu", axis, self.rank())?;
        let len = self.shape()[a];
        if !len.is_multiple_of(2) {
            return Err(Error::invalid(
                "glu",
                format!(
                    "axis {axis} has odd length {len} (shape {:?}); glu splits it into two equal halves",
                    self.shape()
                ),
            ));
        }
        let (outer, half, inner) = split(self.shape(), a);
        let mut shape = self.shape().to_vec();
        shape[a] = half;
        let out = Tensor::uninit(self.device(), &shape)?;
        launch(self.device(), outer, half, inner, self.buffer(), None, out.buffer())?;
        Ok(Tensor::record(out, &[self], GluBackward { axis: a }))
    }
}
