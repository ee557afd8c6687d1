//! index_select and scatter_add along one axis: each is the other's adjoint.
//!
//! y = index_select(x, axis, idx): y[.., j, ..] = x[.., idx[j], ..];
//!   dx = scatter_add(zeros(x), axis, idx, g).
//! y = scatter_add(base, axis, idx, src): y = base, then y[.., idx[j], ..] += src[.., j, ..];
//!   dbase = g, dsrc = index_select(g, axis, idx).

use crate::autograd::Backward;
use crate::error::{Error, Result};
use crate::kernels::copy::{launch as copy, View};
use crate::kernels::index;
use crate::tensor::shape::{axis as norm_axis, contiguous_strides};
use crate::tensor::{IndexTensor, Tensor};

fn split(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

struct IndexSelectBackward {
    axis: usize,
    idx: IndexTensor,
}

impl Backward for IndexSelectBackward {
    fn name(&self) -> &'static str {
        "index_select"
    }
    fn backward(&self, inputs: &[Tensor], g: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let zeros = inputs[0].zeros_like()?;
        Ok(vec![Some(zeros.scatter_add(self.axis as isize, &self.idx, g)?)])
    }
}

struct ScatterAddBackward {
    axis: usize,
    idx: IndexTensor,
}

impl Backward for ScatterAddBackward {
    fn name(&self) -> &'static str {
        "scatter_add"
    }
    fn backward(&self, _: &[Tensor], g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let gsrc = if needs[1] {
            Some(g.index_select(self.axis as isize, &self.idx)?)
        } else {
            None
        };
        Ok(vec![Some(g.clone()), gsrc])
    }
}

impl Tensor {
    /// Pick entries `idx` along `axis`: the result has `idx.len()` there.
    pub fn index_select(&self, axis: isize, idx: &IndexTensor) -> Result<Tensor> {
        let a = norm_axis("index_select", axis, self.rank())?;
        if !self.device().same(idx.device()) {
            return Err(Error::DeviceMismatch { op: "index_select" });
        }
        idx.check_range("index_select", self.shape()[a])?;
        let (outer, dim, inner) = split(self.shape(), a);
        let mut shape = self.shape().to_vec();
        shape[a] = idx.len();
        let out = Tensor::uninit(self.device(), &shape)?;
        index::index_select(
            self.device(),
            outer,
            dim,
            inner,
            idx.len(),
            self.buffer(),
            idx.buffer(),
            out.buffer(),
        )?;
        Ok(Tensor::record(
            out,
            &[self],
            IndexSelectBackward {
                axis: a,
                idx: idx.clone(),
            },
        ))
    }

    /// A copy of `self` with `src[.., j, ..]` added at position `idx[j]` along
    /// `axis` (repeated indices accumulate, in a fixed order).
    pub fn scatter_add(&self, axis: isize, idx: &IndexTensor, src: &Tensor) -> Result<Tensor> {
        let a = norm_axis("scatter_add", axis, self.rank())?;
        self.same_device("scatter_add", src)?;
        if !self.device().same(idx.device()) {
            return Err(Error::DeviceMismatch { op: "scatter_add" });
        }
        let mut expect = self.shape().to_vec();
        expect[a] = idx.len();
        if src.shape() != expect.as_slice() {
            return Err(Error::shape(
                "scatter_add",
                src.shape(),
                &expect,
                "src must match self except along axis, where it has one entry per index",
            ));
        }
        idx.check_range("scatter_add", self.shape()[a])?;
        let (outer, dim, inner) = split(self.shape(), a);
        let out = Tensor::uninit(self.device(), self.shape())?;
        let strides = contiguous_strides(self.shape());
        copy(
            self.device(),
            self.shape(),
            View {
                buffer: self.buffer(),
                offset: 0,
                strides: &strides,
            },
            View {
                buffer: out.buffer(),
                offset: 0,
                strides: &strides,
            },
        )?;
        index::scatter_add(
            self.device(),
            outer,
            dim,
            inner,
            idx.len(),
            src.buffer(),
            idx.buffer(),
            out.buffer(),
        )?;
        Ok(Tensor::record(
            out,
            &[self, src],
            ScatterAddBackward {
                axis: a,
                idx: idx.clone(),
            },
        ))
    }
}
