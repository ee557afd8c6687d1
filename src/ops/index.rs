//! Indexing along one axis. Two adjoint pairs:
//!
//! - y = index_select(x, axis, idx) (idx 1-D): y[.., j, ..] = x[.., idx[j], ..];
//!   dx = index_add(zeros(x), axis, idx, g).
//!   y = index_add(base, axis, idx, src): y = base; y[.., idx[j], ..] += src[.., j, ..];
//!   dbase = g, dsrc = index_select(g, axis, idx).
//! - y = gather(x, axis, idx) (idx shaped like y): y[o, j, i] = x[o, idx[o, j, i], i];
//!   dx = scatter_add(zeros(x), axis, idx, g).
//!   y = scatter_add(base, axis, idx, src): y = base; y[o, idx[o, j, i], i] += src[o, j, i];
//!   dbase = g, dsrc = gather(g, axis, idx).
//!
//! All four are linear in their tensor inputs, so second derivatives follow.
//! Repeated indices accumulate in a fixed order (deterministic results).

use crate::autograd::Backward;
use crate::error::{Error, Result};
use crate::kernels::index::{launch, Base, IndexKernel, IndexShape};
use crate::tensor::shape::axis as norm_axis;
use crate::tensor::{IndexTensor, Tensor};

struct IndexBackward {
    kind: IndexKernel,
    axis: usize,
    idx: IndexTensor,
}

impl Backward for IndexBackward {
    fn name(&self) -> &'static str {
        self.kind.name()
    }

    fn backward(&self, inputs: &[Tensor], g: &Tensor, needs: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let a = self.axis as isize;
        Ok(match self.kind {
            IndexKernel::IndexSelect => vec![Some(add_into_zeros(
                IndexKernel::IndexAdd,
                inputs[0].shape(),
                self.axis,
                &self.idx,
                g,
            )?)],
            IndexKernel::Gather => vec![Some(add_into_zeros(
                IndexKernel::ScatterAdd,
                inputs[0].shape(),
                self.axis,
                &self.idx,
                g,
            )?)],
            IndexKernel::IndexAdd => vec![
                Some(g.clone()),
                needs[1].then(|| g.index_select(a, &self.idx)).transpose()?,
            ],
            IndexKernel::ScatterAdd => vec![Some(g.clone()), needs[1].then(|| g.gather(a, &self.idx)).transpose()?],
        })
    }
}

fn view(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

/// Common checks; returns the normalised axis.
fn prepare(kind: IndexKernel, x: &Tensor, axis: isize, idx: &IndexTensor) -> Result<usize> {
    let op = kind.name();
    let a = norm_axis(op, axis, x.rank())?;
    if !x.device().same(idx.device()) {
        return Err(Error::DeviceMismatch { op });
    }
    idx.check_range(op, x.shape()[a])?;
    if matches!(kind, IndexKernel::IndexSelect | IndexKernel::IndexAdd) && idx.shape().len() != 1 {
        return Err(Error::invalid(
            op,
            format!("indices must be 1-D, got shape {:?}", idx.shape()),
        ));
    }
    if matches!(kind, IndexKernel::Gather | IndexKernel::ScatterAdd) {
        let ok = idx.shape().len() == x.rank()
            && idx
                .shape()
                .iter()
                .zip(x.shape())
                .enumerate()
                .all(|(d, (i, s))| d == a || i == s);
        if !ok {
            return Err(Error::shape(
                op,
                x.shape(),
                idx.shape(),
                &format!("indices must match the tensor on every axis but {a}"),
            ));
        }
    }
    Ok(a)
}

/// y = x picked at the indices (index_select / gather).
fn select_at(kind: IndexKernel, x: &Tensor, axis: isize, idx: &IndexTensor) -> Result<Tensor> {
    let a = prepare(kind, x, axis, idx)?;
    let (outer, dim, inner) = view(x.shape(), a);
    let mut shape = x.shape().to_vec();
    shape[a] = if kind == IndexKernel::IndexSelect {
        idx.len()
    } else {
        idx.shape()[a]
    };
    let out = Tensor::uninit(x.device(), &shape)?;
    let s = IndexShape {
        outer,
        dim,
        inner,
        n_idx: shape[a],
    };
    launch(
        x.device(),
        kind,
        &s,
        x.buffer(),
        idx.buffer(),
        out.buffer(),
        Base::InPlace,
    )?;
    Ok(Tensor::record(
        out,
        &[x],
        IndexBackward {
            kind,
            axis: a,
            idx: idx.clone(),
        },
    ))
}

/// y = base with `src` added at the indices (index_add / scatter_add).
fn add_at(kind: IndexKernel, base: &Tensor, axis: isize, idx: &IndexTensor, src: &Tensor) -> Result<Tensor> {
    let a = prepare(kind, base, axis, idx)?;
    base.same_device(kind.name(), src)?;
    let mut expect = base.shape().to_vec();
    expect[a] = if kind == IndexKernel::IndexAdd {
        idx.len()
    } else {
        idx.shape()[a]
    };
    if src.shape() != expect.as_slice() {
        return Err(Error::shape(
            kind.name(),
            src.shape(),
            &expect,
            "src must match self except along axis, where it matches the indices",
        ));
    }
    let (outer, dim, inner) = view(base.shape(), a);
    let out = Tensor::uninit(base.device(), base.shape())?;
    let shape = IndexShape {
        outer,
        dim,
        inner,
        n_idx: expect[a],
    };
    launch(
        base.device(),
        kind,
        &shape,
        src.buffer(),
        idx.buffer(),
        out.buffer(),
        Base::Buffer(base.buffer()),
    )?;
    Ok(Tensor::record(
        out,
        &[base, src],
        IndexBackward {
            kind,
            axis: a,
            idx: idx.clone(),
        },
    ))
}

/// The backward of a selection: zeros of `shape` with `g` added at the
/// indices along `axis` (`kind` the adding kernel), in one dispatch (no
/// zero-filled base). Recorded as `g`'s selection adjoint, so it
/// differentiates again.
fn add_into_zeros(kind: IndexKernel, shape: &[usize], axis: usize, idx: &IndexTensor, g: &Tensor) -> Result<Tensor> {
    let (outer, dim, inner) = view(shape, axis);
    let n_idx = g.shape()[axis];
    let out = Tensor::uninit(g.device(), shape)?;
    let s = IndexShape {
        outer,
        dim,
        inner,
        n_idx,
    };
    launch(
        g.device(),
        kind,
        &s,
        g.buffer(),
        idx.buffer(),
        out.buffer(),
        Base::Zeros,
    )?;
    Ok(Tensor::record(
        out,
        &[g],
        ZerosBaseBackward {
            kind,
            axis,
            idx: idx.clone(),
        },
    ))
}

/// The backward of [`add_into_zeros`]: its base is a constant, so only the
/// added tensor takes a gradient, the selection of the upstream gradient.
struct ZerosBaseBackward {
    kind: IndexKernel,
    axis: usize,
    idx: IndexTensor,
}

impl Backward for ZerosBaseBackward {
    fn name(&self) -> &'static str {
        self.kind.name()
    }

    fn backward(&self, _: &[Tensor], g: &Tensor, _: &[bool]) -> Result<Vec<Option<Tensor>>> {
        let a = self.axis as isize;
        Ok(vec![Some(match self.kind {
            IndexKernel::ScatterAdd => g.gather(a, &self.idx)?,
            _ => g.index_select(a, &self.idx)?,
        })])
    }
}

impl Tensor {
    /// Pick slices `idx` (1-D) along `axis`: the result has `idx.len()` there.
    pub fn index_select(&self, axis: isize, idx: &IndexTensor) -> Result<Tensor> {
        select_at(IndexKernel::IndexSelect, self, axis, idx)
    }

    /// A copy of `self` with slice `src[.., j, ..]` added at position `idx[j]`
    /// along `axis` (the adjoint of [`Tensor::index_select`]).
    pub fn index_add(&self, axis: isize, idx: &IndexTensor, src: &Tensor) -> Result<Tensor> {
        add_at(IndexKernel::IndexAdd, self, axis, idx, src)
    }

    /// Pick one element per output position: y[.., j, ..] = x[.., idx[.., j, ..], ..]
    /// along `axis`; `idx` has the result's shape, which matches `self` on every
    /// other axis (e.g. the logit of each sample's label: `idx` of shape [B, 1]).
    pub fn gather(&self, axis: isize, idx: &IndexTensor) -> Result<Tensor> {
        select_at(IndexKernel::Gather, self, axis, idx)
    }

    /// A copy of `self` with each `src` element added at the position its index
    /// names along `axis` (the adjoint of [`Tensor::gather`]).
    pub fn scatter_add(&self, axis: isize, idx: &IndexTensor, src: &Tensor) -> Result<Tensor> {
        add_at(IndexKernel::ScatterAdd, self, axis, idx, src)
    }
}
