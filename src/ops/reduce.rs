//! Reductions: sum, mean and max over any set of axes, and `sum_to_shape`,
//! the adjoint of broadcasting.
//!
//! Derivatives: sum: g broadcast back over the reduced axes · mean: the same
//! divided by the count · max: g·[x = max]/(number of maxima) — ties share the
//! gradient equally, and the mask is a constant.

use crate::autograd::Backward;
use crate::error::{Error, Result};
use crate::kernels::reduce::{launch, ReduceOp};
use crate::tensor::shape::axes as norm_axes;
use crate::tensor::Tensor;

/// Reduce over sorted, unique `axes` with no graph. Returns the tensor with
/// those axes removed. Non-adjacent axes are reduced block by block, last first.
fn reduce_raw(x: &Tensor, axes: &[usize], op: ReduceOp, scale: f32) -> Result<Tensor> {
    // Group adjacent axes into blocks [start, end).
    let mut blocks: Vec<(usize, usize)> = Vec::new();
    for &a in axes {
        match blocks.last_mut() {
            Some((_, end)) if *end == a => *end = a + 1,
            _ => blocks.push((a, a + 1)),
        }
    }
    let mut cur = x.clone();
    let mut shape = x.shape().to_vec();
    let n_blocks = blocks.len();
    for (i, &(s, e)) in blocks.iter().rev().enumerate() {
        let outer: usize = shape[..s].iter().product();
        let len: usize = shape[s..e].iter().product();
        let inner: usize = shape[e..].iter().product();
        let mut new_shape = shape[..s].to_vec();
        new_shape.extend_from_slice(&shape[e..]);
        let out = Tensor::uninit(x.device(), &new_shape)?;
        let last = i + 1 == n_blocks;
        launch(
            x.device(),
            op,
            outer,
            len,
            inner,
            if last { scale } else { 1.0 },
            cur.buffer(),
            out.buffer(),
        )?;
        cur = out;
        shape = new_shape;
    }
    if blocks.is_empty() && scale != 1.0 {
        return cur.detach().mul_scalar(scale);
    }
    Ok(cur.detach())
}

fn kept_shape(shape: &[usize], axes: &[usize]) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .map(|(i, &d)| if axes.contains(&i) { 1 } else { d })
        .collect()
}

struct SumBackward {
    axes: Vec<usize>,
    scale: f32,
}

impl Backward for SumBackward {
    fn name(&self) -> &'static str {
        if self.scale == 1.0 {
            "sum"
        } else {
            "mean"
        }
    }

    fn backward(&self, inputs: &[Tensor], g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let g = g.reshape(&kept_shape(x.shape(), &self.axes))?;
        // The scale of a mean rides on the broadcast's copy: one pass.
        Ok(vec![Some(g.broadcast_scaled(x.shape(), self.scale)?)])
    }
}

struct MaxBackward {
    axes: Vec<usize>,
}

impl Backward for MaxBackward {
    fn name(&self) -> &'static str {
        "max"
    }

    fn backward(&self, inputs: &[Tensor], g: &Tensor, _needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let x = &inputs[0];
        let kept = kept_shape(x.shape(), &self.axes);
        // The mask of maxima and their count are constants.
        let m = reduce_raw(x, &self.axes, ReduceOp::Max, 1.0)?.with_shape(&kept);
        let mask = x.detach().eq(&m)?;
        let count = reduce_raw(&mask, &self.axes, ReduceOp::Sum, 1.0)?.with_shape(&kept);
        let g = g.reshape(&kept)?.div(&count)?;
        Ok(vec![Some(g.broadcast_to(x.shape())?.mul(&mask)?)])
    }
}

fn reduce(
    x: &Tensor,
    op_name: &'static str,
    axes: &[isize],
    keepdim: bool,
    op: ReduceOp,
    mean: bool,
    extra_scale: f32,
) -> Result<Tensor> {
    let axes = norm_axes(op_name, axes, x.rank())?;
    if op == ReduceOp::Max {
        if let Some(&a) = axes.iter().find(|&&a| x.shape()[a] == 0) {
            return Err(Error::invalid(
                op_name,
                format!("cannot take the max over axis {a} of size 0 (shape {:?})", x.shape()),
            ));
        }
    }
    let count: usize = axes.iter().map(|&a| x.shape()[a]).product();
    let scale = if mean { 1.0 / count.max(1) as f32 } else { 1.0 } * extra_scale;
    let out = reduce_raw(x, &axes, op, scale)?;
    let out = if keepdim {
        out.with_shape(&kept_shape(x.shape(), &axes))
    } else {
        out
    };
    Ok(match op {
        ReduceOp::Sum => Tensor::record(
            out,
            &[x],
            SumBackward {
                axes: axes.clone(),
                scale,
            },
        ),
        ReduceOp::Max => Tensor::record(out, &[x], MaxBackward { axes: axes.clone() }),
    })
}

fn all_axes(x: &Tensor) -> Vec<isize> {
    (0..x.rank() as isize).collect()
}

impl Tensor {
    /// Sum over `axes` (negative counts from the end); `keepdim` keeps them as size 1.
    pub fn sum(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        reduce(self, "sum", axes, keepdim, ReduceOp::Sum, false, 1.0)
    }
    /// Mean over `axes`.
    pub fn mean(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        reduce(self, "mean", axes, keepdim, ReduceOp::Sum, true, 1.0)
    }
    /// Maximum over `axes` (NaN propagates).
    pub fn max(&self, axes: &[isize], keepdim: bool) -> Result<Tensor> {
        reduce(self, "max", axes, keepdim, ReduceOp::Max, false, 1.0)
    }
    /// Sum of all elements (a rank-0 tensor).
    pub fn sum_all(&self) -> Result<Tensor> {
        self.sum(&all_axes(self), false)
    }
    /// Mean of all elements (a rank-0 tensor).
    pub fn mean_all(&self) -> Result<Tensor> {
        self.mean(&all_axes(self), false)
    }
    /// Maximum of all elements (a rank-0 tensor).
    pub fn max_all(&self) -> Result<Tensor> {
        self.max(&all_axes(self), false)
    }

    /// Sum over the axes along which `shape` was broadcast to this tensor's
    /// shape: the adjoint of [`Tensor::broadcast_to`].
    pub fn sum_to_shape(&self, shape: &[usize]) -> Result<Tensor> {
        self.sum_to_shape_scaled(shape, 1.0)
    }

    /// `sum_to_shape(shape)` times `scale`, the scale applied by the
    /// reduction's last pass: the adjoint of `broadcast_scaled`.
    pub(crate) fn sum_to_shape_scaled(&self, shape: &[usize], scale: f32) -> Result<Tensor> {
        if self.shape() == shape {
            return if scale == 1.0 {
                Ok(self.clone())
            } else {
                self.mul_scalar(scale)
            };
        }
        let rank = self.rank();
        if shape.len() > rank {
            return Err(Error::shape(
                "sum_to_shape",
                self.shape(),
                shape,
                "target has more axes",
            ));
        }
        let lead = rank - shape.len();
        let mut axes = Vec::new();
        for i in 0..rank {
            if i < lead || (shape[i - lead] == 1 && self.shape()[i] != 1) {
                axes.push(i as isize);
            } else if shape[i - lead] != self.shape()[i] {
                return Err(Error::shape(
                    "sum_to_shape",
                    self.shape(),
                    shape,
                    "target does not broadcast to this shape",
                ));
            }
        }
        reduce(self, "sum", &axes, true, ReduceOp::Sum, false, scale)?.reshape(shape)
    }
}
