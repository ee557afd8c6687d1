//! Launcher for `shaders/index.wgsl`: index_select and its adjoint scatter_add,
//! along the middle axis of a tensor viewed as [outer, dim, inner].

use bytemuck::{Pod, Zeroable};

use super::{check_u32, grid, INDEX, WG};
use crate::device::{Device, Dispatch};
use crate::error::Result;

/// Mirrors `IndexParams` in `shaders/index.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct IndexParams {
    pub outer: u32,
    pub dim: u32,
    pub inner: u32,
    pub n_idx: u32,
    pub j_begin: u32,
    pub j_end: u32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// Indices one scatter_add dispatch scans (bounded for lavapipe's loop limit).
pub(crate) const SCATTER_CHUNK: usize = 4096;

fn params(outer: usize, dim: usize, inner: usize, n_idx: usize, j: (usize, usize)) -> Result<IndexParams> {
    Ok(IndexParams {
        outer: check_u32("index outer", outer)?,
        dim: check_u32("index dim", dim)?,
        inner: check_u32("index inner", inner)?,
        n_idx: check_u32("index count", n_idx)?,
        j_begin: j.0 as u32,
        j_end: j.1 as u32,
        _pad0: 0,
        _pad1: 0,
    })
}

/// dst[o, j, i] = src[o, idx[j], i]; dst is [outer, n_idx, inner].
#[allow(clippy::too_many_arguments)]
pub(crate) fn index_select(
    dev: &Device,
    outer: usize,
    dim: usize,
    inner: usize,
    n_idx: usize,
    src: &wgpu::Buffer,
    idx: &wgpu::Buffer,
    dst: &wgpu::Buffer,
) -> Result<()> {
    let n = outer * n_idx * inner;
    check_u32("index_select output", n)?;
    let p = params(outer, dim, inner, n_idx, (0, n_idx))?;
    dev.dispatch(&Dispatch {
        source: INDEX,
        entry: "index_select",
        constants: &[],
        params: bytemuck::bytes_of(&p),
        inputs: &[src, idx],
        outputs: &[dst],
        workgroups: grid(
            (n as u64).div_ceil(WG as u64),
            dev.limits().max_compute_workgroups_per_dimension,
        )?,
    })
}

/// dst[o, idx[j], i] += src[o, j, i] for every j; dst ([outer, dim, inner]) must
/// already hold the base values.
#[allow(clippy::too_many_arguments)]
pub(crate) fn scatter_add(
    dev: &Device,
    outer: usize,
    dim: usize,
    inner: usize,
    n_idx: usize,
    src: &wgpu::Buffer,
    idx: &wgpu::Buffer,
    dst: &wgpu::Buffer,
) -> Result<()> {
    let n = outer * dim * inner;
    check_u32("scatter_add output", n)?;
    let workgroups = grid(
        (n as u64).div_ceil(WG as u64),
        dev.limits().max_compute_workgroups_per_dimension,
    )?;
    let mut j = 0;
    while j < n_idx {
        let end = (j + SCATTER_CHUNK).min(n_idx);
        let p = params(outer, dim, inner, n_idx, (j, end))?;
        dev.dispatch(&Dispatch {
            source: INDEX,
            entry: "scatter_add",
            constants: &[],
            params: bytemuck::bytes_of(&p),
            inputs: &[src, idx],
            outputs: &[dst],
            workgroups,
        })?;
        j = end;
    }
    Ok(())
}
