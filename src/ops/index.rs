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
use crate::kernels::copy::{launch as copy, View};
use crate::kernels::index::{launch, IndexKernel, IndexShape};
use crate::tensor::shape::{axis as norm_axis, contiguous_strides};
use crate::tensor::{IndexTensor, Tensor};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    IndexSelect,
    IndexAdd,
    Gather,
    ScatterAdd,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::IndexSelect => "index_select",
            Kind::IndexAdd => "index_add",
            Kind::Gather => "gather",
            Kind::ScatterAdd => "scatter_add",
        }
    }
}

struct IndexBackward {
    kind: Kind,
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
            Kind::IndexSelect => vec![Some(inputs[0].zeros_like()?.index_add(a, &self.idx, g)?)],
            Kind::Gather => vec![Some(inputs[0].zeros_like()?.scatter_add(a, &self.idx, g)?)],
            Kind::IndexAdd => vec![
                Some(g.clone()),
                needs[1].then(|| g.index_select(a, &self.idx)).transpose()?,
            ],
            Kind::ScatterAdd => vec![Some(g.clone()), needs[1].then(|| g.gather(a, &self.idx)).transpose()?],
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
fn prepare(kind: Kind, x: &Tensor, axis: isize, idx: &IndexTensor) -> Result<usize> {
    let op = kind.name();
    let a = norm_axis(op, axis, x.rank())?;
    if !x.device().same(idx.device()) {
        return Err(Error::DeviceMismatch { op });
    }
    idx.check_range(op, x.shape()[a])?;
    if matches!(kind, Kind::IndexSelect | Kind::IndexAdd) && idx.shape().len() != 1 {
        return Err(Error::invalid(
            op,
            format!("indices must be 1-D, got shape {:?}", idx.shape()),
        ));
    }
    if matches!(kind, Kind::Gather | Kind::ScatterAdd) {
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

/// y = base with `src` added at the indices (index_add / scatter_add).
fn add_at(kind: Kind, base: &Tensor, axis: isize, idx: &IndexTensor, src: &Tensor) -> Result<Tensor> {
    let a = prepare(kind, base, axis, idx)?;
    base.same_device(kind.name(), src)?;
    let mut expect = base.shape().to_vec();
    expect[a] = if kind == Kind::IndexAdd {
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
    let strides = contiguous_strides(base.shape());
    copy(
        base.device(),
        base.shape(),
        View {
            buffer: base.buffer(),
            offset: 0,
            strides: &strides,
        },
        View {
            buffer: out.buffer(),
            offset: 0,
            strides: &strides,
        },
    )?;
    let kernel = if kind == Kind::IndexAdd {
        IndexKernel::IndexAdd
    } else {
        IndexKernel::ScatterAdd
    };
    let shape = IndexShape {
        outer,
        dim,
        inner,
        n_idx: expect[a],
    };
    launch(base.device(), kernel, &shape, src.buffer(), idx.buffer(), out.buffer())?;
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

impl Tensor {
    /// Pick slices `idx` (1-D) along `axis`: the result has `idx.len()` there.
    pub fn index_select(&self, axis: isize, idx: &IndexTensor) -> Result<Tensor> {
        let a = prepare(Kind::IndexSelect, self, axis, idx)?;
        let (outer, dim, inner) = view(self.shape(), a);
        let mut shape = self.shape().to_vec();
        shape[a] = idx.len();
        let out = Tensor::uninit(self.device(), &shape)?;
        let s = IndexShape {
            outer,
            dim,
            inner,
            n_idx: idx.len(),
        };
        launch(
            self.device(),
            IndexKernel::IndexSelect,
            &s,
            self.buffer(),
            idx.buffer(),
            out.buffer(),
        )?;
        Ok(Tensor::record(
            out,
            &[self],
            IndexBackward {
                kind: Kind::IndexSelect,
                axis: a,
                idx: idx.clone(),
            },
        ))
    }

    /// A copy of `self` with slice `src[.., j, ..]` added at position `idx[j]`
    /// along `axis` (the adjoint of [`Tensor::index_select`]).
    pub fn index_add(&self, axis: isize, idx: &IndexTensor, src: &Tensor) -> Result<Tensor> {
        add_at(Kind::IndexAdd, self, axis, idx, src)
    }

    /// Pick one element per output position: y[.., j, ..] = x[.., idx[.., j, ..], ..]
    /// along `axis`; `idx` has the result's shape, which matches `self` on every
    /// other axis (e.g. the logit of each sample's label: `idx` of shape [B, 1]).
    pub fn gather(&self, axis: isize, idx: &IndexTensor) -> Result<Tensor> {
        let a = prepare(Kind::Gather, self, axis, idx)?;
        let (outer, dim, inner) = view(self.shape(), a);
        let out = Tensor::uninit(self.device(), idx.shape())?;
        let s = IndexShape {
            outer,
            dim,
            inner,
            n_idx: idx.shape()[a],
        };
        launch(
            self.device(),
            IndexKernel::Gather,
            &s,
            self.buffer(),
            idx.buffer(),
            out.buffer(),
        )?;
        Ok(Tensor::record(
            out,
            &[self],
            IndexBackward {
                kind: Kind::Gather,
                axis: a,
                idx: idx.clone(),
            },
        ))
    }

    /// A copy of `self` with each `src` element added at the position its index
    /// names along `axis` (the adjoint of [`Tensor::gather`]).
    pub fn scatter_add(&self, axis: isize, idx: &IndexTensor, src: &Tensor) -> Result<Tensor> {
        add_at(Kind::ScatterAdd, self, axis, idx, src)
    }
}
