//! Gated linear unit: x split along `axis` into halves a (first) and b
//! (second), y = a ⊗ σ(b).
//!
//! Shapes: x [.., 2h, ..] → y [.., h, ..]; e.g. a conv output [B, 2C, H, W]
//! with axis 1 gives [B, C, H, W].
//!
//! Derivatives (upstream gradient g, of y's shape):
//!   da = g·σ(b)
//!   db = g·a·σ(b)·(1 − σ(b))
//! and dx = concat(da, db) along the axis, written by one fused kernel from x
//! and g. With a graph being built (`create_graph`, as the gradient penalty
//! does) dx is recorded as an op of (x, g) whose backward, with u = [ua; ub]
//! the upstream gradient of dx, s = σ(b), s' = s(1 − s), s'' = s'(1 − 2s), is
//!   d/da = ub·g·s',  d/db = ua·g·s' + ub·g·a·s'',  d/dg = ua·s + ub·a·s'
//! — again one fused kernel (the double backward of a critic), or, when a
//! graph is being built once more (third order), the same formulas written
//! with ops (narrow, sigmoid, mul, concat), which differentiate again.

use crate::autograd::{is_grad_enabled, Backward};
use crate::error::{Error, Result};
use crate::kernels::glu::{launch, launch_backward2};
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
        // Recorded (as a function of x and g) only while a graph is built.
        Ok(vec![Some(Tensor::record(
            dx,
            &[x, g],
            GluGradBackward { axis: self.axis },
        ))])
    }
}

/// The backward of dx = glu_backward(x, g): inputs x and g, upstream u (x's shape).
struct GluGradBackward {
    axis: usize,
}

impl Backward for GluGradBackward {
    fn name(&self) -> &'static str {
        "glu_backward"
    }

    fn backward(&self, inputs: &[Tensor], u: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let (x, g) = (&inputs[0], &inputs[1]);
        if !is_grad_enabled() {
            let (outer, half, inner) = split(x.shape(), self.axis);
            let dx = Tensor::uninit(x.device(), x.shape())?;
            let dg = Tensor::uninit(x.device(), g.shape())?;
            launch_backward2(
                x.device(),
                outer,
                half,
                inner,
                x.buffer(),
                g.buffer(),
                u.buffer(),
                dx.buffer(),
                dg.buffer(),
            )?;
            return Ok(vec![needs[0].then_some(dx), needs[1].then_some(dg)]);
        }
        let axis = self.axis as isize;
        let half = x.shape()[self.axis] / 2;
        let a = x.narrow(axis, 0, half)?;
        let s = x.narrow(axis, half, half)?.sigmoid()?;
        let (ua, ub) = (u.narrow(axis, 0, half)?, u.narrow(axis, half, half)?);
        let s1 = s.mul(&s.affine(-1.0, 1.0)?)?;
        let ub_s1 = ub.mul(&s1)?;
        let dx = if needs[0] {
            let da = ub_s1.mul(g)?;
            let s2 = s1.mul(&s.affine(-2.0, 1.0)?)?;
            let db = ua.mul(&s1)?.add(&ub.mul(&a)?.mul(&s2)?)?.mul(g)?;
            Some(Tensor::concat(&[&da, &db], axis)?)
        } else {
            None
        };
        let dg = if needs[1] {
            Some(ua.mul(&s)?.add(&ub_s1.mul(&a)?)?)
        } else {
            None
        };
        Ok(vec![dx, dg])
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
