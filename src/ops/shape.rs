//! Shape ops: reshape, broadcast_to, permute/transpose, narrow and its adjoint
//! (embedding a block into zeros), concat.
//!
//! Backward rules are each other's adjoints: reshape ↔ reshape back,
//! broadcast_to ↔ sum_to_shape, permute ↔ inverse permute, narrow ↔ embed into
//! zeros, concat ↔ narrow per piece. All are linear, so second derivatives
//! come for free.

use crate::autograd::Backward;
use crate::error::{Error, Result};
use crate::kernels::copy::{launch as copy, launch_embed as embed_rows, launch_scaled as copy_scaled, View};
use crate::tensor::shape::{axis as norm_axis, broadcast_strides, check_rank, contiguous_strides};
use crate::tensor::Tensor;

struct ReshapeBackward;
impl Backward for ReshapeBackward {
    fn name(&self) -> &'static str {
        "reshape"
    }
    fn backward(&self, inputs: &[Tensor], g: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(g.reshape(inputs[0].shape())?)])
    }
}

struct BroadcastBackward;
impl Backward for BroadcastBackward {
    fn name(&self) -> &'static str {
        "broadcast_to"
    }
    fn backward(&self, inputs: &[Tensor], g: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(g.sum_to_shape(inputs[0].shape())?)])
    }
}

struct BroadcastScaledBackward(f32);
impl Backward for BroadcastScaledBackward {
    fn name(&self) -> &'static str {
        "broadcast_scaled"
    }
    fn backward(&self, inputs: &[Tensor], g: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(g.sum_to_shape_scaled(inputs[0].shape(), self.0)?)])
    }
}

struct PermuteBackward(Vec<usize>);
impl Backward for PermuteBackward {
    fn name(&self) -> &'static str {
        "permute"
    }
    fn backward(&self, _: &[Tensor], g: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let mut inv = vec![0isize; self.0.len()];
        for (i, &p) in self.0.iter().enumerate() {
            inv[p] = i as isize;
        }
        Ok(vec![Some(g.permute(&inv)?)])
    }
}

struct NarrowBackward {
    axis: usize,
    start: usize,
}
impl Backward for NarrowBackward {
    fn name(&self) -> &'static str {
        "narrow"
    }
    fn backward(&self, inputs: &[Tensor], g: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![Some(g.embed(inputs[0].shape(), self.axis, self.start)?)])
    }
}

struct EmbedBackward {
    axis: usize,
    start: usize,
}
impl Backward for EmbedBackward {
    fn name(&self) -> &'static str {
        "embed"
    }
    fn backward(&self, inputs: &[Tensor], g: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let len = inputs[0].shape()[self.axis];
        Ok(vec![Some(g.narrow(self.axis as isize, self.start, len)?)])
    }
}

struct ConcatBackward {
    axis: usize,
}
impl Backward for ConcatBackward {
    fn name(&self) -> &'static str {
        "concat"
    }
    fn backward(&self, inputs: &[Tensor], g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let mut start = 0;
        let mut out = Vec::with_capacity(inputs.len());
        for (t, &need) in inputs.iter().zip(needs) {
            let len = t.shape()[self.axis];
            out.push(if need {
                Some(g.narrow(self.axis as isize, start, len)?)
            } else {
                None
            });
            start += len;
        }
        Ok(out)
    }
}

/// Copy `src` (contiguous, shape `shape`) into `dst` at element `offset` with `dst_strides`.
fn copy_into(
    src: &Tensor,
    shape: &[usize],
    src_strides: &[usize],
    src_offset: usize,
    dst: &Tensor,
    dst_offset: usize,
    dst_strides: &[usize],
) -> Result<()> {
    copy(
        src.device(),
        shape,
        View {
            buffer: src.buffer(),
            offset: src_offset,
            strides: src_strides,
        },
        View {
            buffer: dst.buffer(),
            offset: dst_offset,
            strides: dst_strides,
        },
    )
}

impl Tensor {
    /// The same elements in another shape (no copy). One axis may be given as
    /// `usize::MAX` to be inferred.
    pub fn reshape(&self, shape: &[usize]) -> Result<Tensor> {
        let mut shape = shape.to_vec();
        let known: usize = shape.iter().filter(|&&d| d != usize::MAX).product();
        let inferred = shape.iter().filter(|&&d| d == usize::MAX).count();
        if inferred > 1 {
            return Err(Error::invalid("reshape", "only one axis can be inferred"));
        }
        if inferred == 1 {
            if known == 0 || !self.numel().is_multiple_of(known) {
                return Err(Error::shape(
                    "reshape",
                    self.shape(),
                    &shape,
                    "cannot infer the free axis",
                ));
            }
            for d in shape.iter_mut().filter(|d| **d == usize::MAX) {
                *d = self.numel() / known;
            }
        }
        check_rank("reshape", &shape)?;
        if shape.iter().product::<usize>() != self.numel() {
            return Err(Error::shape("reshape", self.shape(), &shape, "element counts differ"));
        }
        if shape == self.shape() {
            return Ok(self.clone());
        }
        Ok(Tensor::record(self.with_shape(&shape), &[self], ReshapeBackward))
    }

    /// Merge all axes into one.
    pub fn flatten(&self) -> Result<Tensor> {
        self.reshape(&[self.numel()])
    }

    /// Insert an axis of size 1 at `axis`.
    pub fn unsqueeze(&self, axis: isize) -> Result<Tensor> {
        let a = norm_axis("unsqueeze", axis, self.rank() + 1)?;
        let mut shape = self.shape().to_vec();
        shape.insert(a, 1);
        self.reshape(&shape)
    }

    /// Remove an axis of size 1.
    pub fn squeeze(&self, axis: isize) -> Result<Tensor> {
        let a = norm_axis("squeeze", axis, self.rank())?;
        if self.shape()[a] != 1 {
            return Err(Error::invalid(
                "squeeze",
                format!("axis {a} has size {}, not 1", self.shape()[a]),
            ));
        }
        let mut shape = self.shape().to_vec();
        shape.remove(a);
        self.reshape(&shape)
    }

    /// Repeat along axes of size 1 (and new leading axes) to reach `shape`.
    pub fn broadcast_to(&self, shape: &[usize]) -> Result<Tensor> {
        self.broadcast_scaled(shape, 1.0)
    }

    /// `broadcast_to(shape)` times `scale` in one pass: the gradient of a
    /// mean. Its adjoint is `sum_to_shape` times `scale`.
    pub(crate) fn broadcast_scaled(&self, shape: &[usize], scale: f32) -> Result<Tensor> {
        if self.shape() == shape {
            return if scale == 1.0 {
                Ok(self.clone())
            } else {
                self.mul_scalar(scale)
            };
        }
        check_rank("broadcast_to", shape)?;
        let ok = shape.len() >= self.rank()
            && self
                .shape()
                .iter()
                .zip(&shape[shape.len() - self.rank()..])
                .all(|(&s, &t)| s == t || s == 1);
        if !ok {
            return Err(Error::shape("broadcast_to", self.shape(), shape, "cannot broadcast"));
        }
        let out = Tensor::uninit(self.device(), shape)?;
        copy_scaled(
            self.device(),
            shape,
            View {
                buffer: self.buffer(),
                offset: 0,
                strides: &broadcast_strides(self.shape(), shape),
            },
            View {
                buffer: out.buffer(),
                offset: 0,
                strides: &contiguous_strides(shape),
            },
            scale,
        )?;
        Ok(if scale == 1.0 {
            Tensor::record(out, &[self], BroadcastBackward)
        } else {
            Tensor::record(out, &[self], BroadcastScaledBackward(scale))
        })
    }

    /// Reorder axes: output axis i is input axis `dims[i]`.
    pub fn permute(&self, dims: &[isize]) -> Result<Tensor> {
        if dims.len() != self.rank() {
            return Err(Error::invalid(
                "permute",
                format!("{} axes given for a tensor of rank {}", dims.len(), self.rank()),
            ));
        }
        let dims = dims
            .iter()
            .map(|&d| norm_axis("permute", d, self.rank()))
            .collect::<Result<Vec<_>>>()?;
        let mut seen = vec![false; dims.len()];
        for &d in &dims {
            if std::mem::replace(&mut seen[d], true) {
                return Err(Error::invalid("permute", format!("axis {d} appears twice in {dims:?}")));
            }
        }
        if dims.iter().enumerate().all(|(i, &d)| i == d) {
            return Ok(self.clone());
        }
        let own = contiguous_strides(self.shape());
        let shape: Vec<usize> = dims.iter().map(|&d| self.shape()[d]).collect();
        let strides: Vec<usize> = dims.iter().map(|&d| own[d]).collect();
        let out = Tensor::uninit(self.device(), &shape)?;
        copy_into(self, &shape, &strides, 0, &out, 0, &contiguous_strides(&shape))?;
        Ok(Tensor::record(out, &[self], PermuteBackward(dims)))
    }

    /// Swap two axes.
    pub fn transpose(&self, a: isize, b: isize) -> Result<Tensor> {
        let a = norm_axis("transpose", a, self.rank())?;
        let b = norm_axis("transpose", b, self.rank())?;
        let mut dims: Vec<isize> = (0..self.rank() as isize).collect();
        dims.swap(a, b);
        self.permute(&dims)
    }

    /// Elements `start .. start + len` along `axis`.
    pub fn narrow(&self, axis: isize, start: usize, len: usize) -> Result<Tensor> {
        let a = norm_axis("narrow", axis, self.rank())?;
        let size = self.shape()[a];
        if start.checked_add(len).is_none_or(|end| end > size) {
            return Err(Error::invalid(
                "narrow",
                format!(
                    "range {start}..{} is outside axis {a} of size {size}",
                    start.saturating_add(len)
                ),
            ));
        }
        let mut shape = self.shape().to_vec();
        shape[a] = len;
        let own = contiguous_strides(self.shape());
        let out = Tensor::uninit(self.device(), &shape)?;
        copy_into(self, &shape, &own, start * own[a], &out, 0, &contiguous_strides(&shape))?;
        Ok(Tensor::record(out, &[self], NarrowBackward { axis: a, start }))
    }

    /// Zeros of `shape` with this tensor placed at `start` along `axis`: the
    /// adjoint of [`Tensor::narrow`].
    pub fn embed(&self, shape: &[usize], axis: usize, start: usize) -> Result<Tensor> {
        let ok = shape.len() == self.rank()
            && axis < shape.len()
            && shape
                .iter()
                .zip(self.shape())
                .enumerate()
                .all(|(i, (&s, &t))| if i == axis { start + t <= s } else { s == t });
        if !ok {
            return Err(Error::shape(
                "embed",
                self.shape(),
                shape,
                &format!("block does not fit at {start} along axis {axis}"),
            ));
        }
        let out = Tensor::uninit(self.device(), shape)?;
        // Rows of the axis and everything after it; the block is the
        // contiguous run start·inner .. (start + len)·inner of each row.
        let inner: usize = shape[axis + 1..].iter().product();
        let rows: usize = shape[..axis].iter().product();
        embed_rows(
            self.device(),
            rows,
            shape[axis] * inner,
            (start * inner, (start + self.shape()[axis]) * inner),
            self.buffer(),
            out.buffer(),
        )?;
        Ok(Tensor::record(out, &[self], EmbedBackward { axis, start }))
    }

    /// Join tensors along `axis`; all other axes must agree.
    pub fn concat(tensors: &[&Tensor], axis: isize) -> Result<Tensor> {
        let first = tensors
            .first()
            .ok_or_else(|| Error::invalid("concat", "no tensors given"))?;
        let a = norm_axis("concat", axis, first.rank())?;
        let mut shape = first.shape().to_vec();
        shape[a] = 0;
        for t in tensors {
            first.same_device("concat", t)?;
            let same = t.rank() == first.rank()
                && t.shape()
                    .iter()
                    .zip(first.shape())
                    .enumerate()
                    .all(|(i, (x, y))| i == a || x == y);
            if !same {
                return Err(Error::shape(
                    "concat",
                    first.shape(),
                    t.shape(),
                    &format!("all axes but {a} must agree"),
                ));
            }
            shape[a] += t.shape()[a];
        }
        let out = Tensor::uninit(first.device(), &shape)?;
        let dst = contiguous_strides(&shape);
        let mut start = 0;
        for t in tensors {
            copy_into(
                t,
                t.shape(),
                &contiguous_strides(t.shape()),
                0,
                &out,
                start * dst[a],
                &dst,
            )?;
            start += t.shape()[a];
        }
        Ok(Tensor::record(out, tensors, ConcatBackward { axis: a }))
    }
}
