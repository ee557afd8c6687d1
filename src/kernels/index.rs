//! Launcher for `shaders/index.wgsl`: index_select / index_add (one index per
//! slice) and gather / scatter_add (one index per element), along the middle
//! axis of a tensor viewed as [outer, dim, inner].

use bytemuck::{Pod, Zeroable};

use super::{check_u32, grid, INDEX, WG};
use crate::device::{Device, Dispatch};
use crate::error::Result;

/// Mirrors `IndexParams` in `shaders/index.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct IndexParams {
    /// Product of the axes before the indexed axis.
    pub outer: u32,
    /// Length of the indexed axis: of `src` in `select_along`, of `dst` in `add_along`.
    pub dim: u32,
    /// Product of the axes after the indexed axis.
    pub inner: u32,
    /// Length of that axis on the other side: of `dst` in `select_along`, of `src` in
    /// `add_along` (the index count; per-element indices are shaped [outer, n_idx, inner]).
    pub n_idx: u32,
    /// `add_along`: first index this dispatch scans (chunks of at most `SCATTER_CHUNK`);
    /// unused by `select_along`.
    pub j_begin: u32,
    /// `add_along`: end (exclusive) of the indices this dispatch scans.
    pub j_end: u32,
    /// Pads the struct to a multiple of 16 bytes; 0.
    pub _pad0: u32,
    /// Pads the struct to a multiple of 16 bytes; 0.
    pub _pad1: u32,
}

/// Indices one adding dispatch scans (bounded for lavapipe's loop limit).
pub(crate) const SCATTER_CHUNK: usize = 4096;

/// Which kernel of `index.wgsl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IndexKernel {
    /// dst[o, j, i] = src[o, idx[j], i]
    IndexSelect,
    /// dst[o, idx[j], i] += src[o, j, i]
    IndexAdd,
    /// dst[o, j, i] = src[o, idx[o, j, i], i]
    Gather,
    /// dst[o, idx[o, j, i], i] += src[o, j, i]
    ScatterAdd,
}

impl IndexKernel {
    pub(crate) fn name(self) -> &'static str {
        match self {
            IndexKernel::IndexSelect => "index_select",
            IndexKernel::IndexAdd => "index_add",
            IndexKernel::Gather => "gather",
            IndexKernel::ScatterAdd => "scatter_add",
        }
    }
}

/// The problem: [outer, dim, inner] is the indexed tensor's view, `n_idx` the
/// size of the indexed axis on the other side.
pub(crate) struct IndexShape {
    pub outer: usize,
    pub dim: usize,
    pub inner: usize,
    pub n_idx: usize,
}

fn params(s: &IndexShape, j: (usize, usize)) -> Result<IndexParams> {
    Ok(IndexParams {
        outer: check_u32("index outer", s.outer)?,
        dim: check_u32("index dim", s.dim)?,
        inner: check_u32("index inner", s.inner)?,
        n_idx: check_u32("index count", s.n_idx)?,
        j_begin: j.0 as u32,
        j_end: j.1 as u32,
        _pad0: 0,
        _pad1: 0,
    })
}

/// Where an adding kernel's sums start (`BASE` in the shader).
#[derive(Clone, Copy)]
pub(crate) enum Base<'a> {
    /// `dst` already holds the base.
    InPlace,
    /// dst = base + sums (base shaped like dst, another buffer).
    Buffer(&'a wgpu::Buffer),
    /// dst = sums.
    Zeros,
}

/// Selecting kernels write every element of `dst` ([outer, n_idx, inner]);
/// adding kernels write `dst` ([outer, dim, inner]) as `base` plus the sums
/// (`base` is ignored by the selecting kernels).
pub(crate) fn launch(
    dev: &Device,
    kernel: IndexKernel,
    s: &IndexShape,
    src: &wgpu::Buffer,
    idx: &wgpu::Buffer,
    dst: &wgpu::Buffer,
    base: Base<'_>,
) -> Result<()> {
    let (adds, per_element) = match kernel {
        IndexKernel::IndexSelect => (false, false),
        IndexKernel::IndexAdd => (true, false),
        IndexKernel::Gather => (false, true),
        IndexKernel::ScatterAdd => (true, true),
    };
    let entry = if adds { "add_along" } else { "select_along" };
    let n = s.outer * if adds { s.dim } else { s.n_idx } * s.inner;
    check_u32("index op output", n)?;
    check_u32("index op source", s.outer * s.n_idx * s.inner)?;
    let workgroups = grid(
        (n as u64).div_ceil(WG as u64),
        dev.limits().max_compute_workgroups_per_dimension,
    )?;
    let mut chunks: Vec<(usize, usize)> = if adds {
        (0..s.n_idx)
            .step_by(SCATTER_CHUNK)
            .map(|j| (j, (j + SCATTER_CHUNK).min(s.n_idx)))
            .collect()
    } else {
        vec![(0, s.n_idx)]
    };
    if chunks.is_empty() && !matches!(base, Base::InPlace) {
        // No indices: one pass that only writes the base (or zeros).
        chunks.push((0, 0));
    }
    for (c, j) in chunks.into_iter().enumerate() {
        let p = params(s, j)?;
        // The first chunk starts from the base; later ones add to dst.
        let (mode, base_buf) = match base {
            Base::Buffer(b) if c == 0 && adds => (1u32, b),
            Base::Zeros if c == 0 && adds => (2, src),
            _ => (0, src),
        };
        let mut constants = vec![("PER_ELEMENT", per_element as u8 as f64)];
        if adds {
            constants.push(("BASE", mode as f64));
        }
        dev.dispatch(&Dispatch {
            source: INDEX,
            entry,
            constants: &constants,
            params: bytemuck::bytes_of(&p),
            inputs: &[src, idx, base_buf],
            outputs: &[dst],
            workgroups,
            flops: 0.0,
            bytes: 0.0,
        })?;
    }
    Ok(())
}
