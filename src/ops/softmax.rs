//! Softmax and log-softmax along one axis.
//!
//! With m = max_j x_j (subtracted for stability; it cancels exactly):
//!   softmax:      y_i = e^(x_i − m) / Σ_j e^(x_j − m)
//!   log_softmax:  y_i = x_i − m − ln Σ_j e^(x_j − m)
//!
//! Derivatives (upstream gradient g, sums over the softmax axis):
//!   softmax:      dx = y ⊙ (g − Σ_j g_j·y_j)
//!   log_softmax:  dx = g − softmax(x)·Σ_j g_j
//!
//! The rules recompute softmax(x) from the input instead of saving the output
//! (an output saved in its own node would be a reference cycle). When a graph
//! is being built (`create_graph`), the rules are written with ops (softmax,
//! mul, sum, sub), so the result can be differentiated again; softmax's own
//! rule then supplies the second-order terms. Without a graph, one fused
//! kernel computes dx from x and g directly: a pass over each row collects
//! m, s = Σ e^(x − m) and t = Σ g·e^(x − m) (or Σ g), a second writes dx.

use crate::autograd::{is_grad_enabled, Backward};
use crate::error::Result;
use crate::kernels::softmax::{launch, SoftmaxMode};
use crate::tensor::shape::axis as norm_axis;
use crate::tensor::Tensor;

/// [outer, len, inner] around `axis`.
fn split(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    let outer = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product();
    (outer, shape[axis], inner)
}

/// Run a softmax kernel along `axis` with no graph. `g` is the upstream
/// gradient for the backward modes.
fn run(x: &Tensor, axis: usize, mode: SoftmaxMode, g: Option<&Tensor>) -> Result<Tensor> {
    let (outer, len, inner) = split(x.shape(), axis);
    let out = Tensor::uninit(x.device(), x.shape())?;
    launch(
        x.device(),
        mode,
        outer,
        len,
        inner,
        x.buffer(),
        g.map(|g| g.buffer()),
        out.buffer(),
    )?;
    Ok(out)
}

struct SoftmaxBackward {
    axis: usize,
    log: bool,
}

impl Backward for SoftmaxBackward {
    fn name(&self) -> &'static str {
        if self.log {
            "log_softmax"
        } else {
            "softmax"
        }
    }

    fn backward(&self, inputs: &[Tensor], g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let axis = self.axis as isize;
        let gx = if !is_grad_enabled() {
            let mode = if self.log {
                SoftmaxMode::LogSoftmaxBackward
            } else {
                SoftmaxMode::SoftmaxBackward
            };
            run(x, self.axis, mode, Some(g))?
        } else if self.log {
            // g − softmax(x)·Σ g
            let y = x.softmax(axis)?;
            g.sub(&y.mul(&g.sum(&[axis], true)?)?)?
        } else {
            // y ⊙ (g − Σ g·y)
            let y = x.softmax(axis)?;
            let dot = g.mul(&y)?.sum(&[axis], true)?;
            y.mul(&g.sub(&dot)?)?
        };
        Ok(vec![Some(gx)])
    }
}

fn softmax_op(x: &Tensor, op: &'static str, axis: isize, log: bool) -> Result<Tensor> {
    if x.rank() == 0 {
        // A scalar is a row of one element.
        norm_axis(op, axis, 1)?;
        return softmax_op(&x.reshape(&[1])?, op, 0, log)?.reshape(&[]);
    }
    let axis = norm_axis(op, axis, x.rank())?;
    let mode = if log {
        SoftmaxMode::LogSoftmax
    } else {
        SoftmaxMode::Softmax
    };
    let out = run(x, axis, mode, None)?;
    Ok(Tensor::record(out, &[x], SoftmaxBackward { axis, log }))
}

impl Tensor {
    /// Softmax along `axis` (negative counts from the end):
    /// y_i = e^(x_i − m) / Σ_j e^(x_j − m) with m the maximum along the axis,
    /// so large inputs do not overflow. A row of −∞ gives NaN, as 0/0.
    pub fn softmax(&self, axis: isize) -> Result<Tensor> {
        softmax_op(self, "softmax", axis, false)
    }

    /// Log-softmax along `axis`: x_i − m − ln Σ_j e^(x_j − m), accurate where
    /// `softmax(axis).log()` would underflow to −∞.
    pub fn log_softmax(&self, axis: isize) -> Result<Tensor> {
        softmax_op(self, "log_softmax", axis, true)
    }
}
