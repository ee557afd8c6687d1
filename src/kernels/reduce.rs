//! Launcher for `shaders/reduce.wgsl`: sum or max over the middle axis of a
//! tensor viewed as [outer, len, inner], in as many passes as it takes for
//! every invocation's loop to stay short.

use bytemuck::{Pod, Zeroable};

use super::{check_u32, fill, grid, REDUCE, WG};
use crate::device::{Device, Dispatch, PooledBuffer, Tuning};
use crate::error::Result;

/// Mirrors `ReduceParams` in `shaders/reduce.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct ReduceParams {
    pub outer: u32,
    pub len: u32,
    pub inner: u32,
    pub chunks: u32,
    pub op: u32,
    pub scale: f32,
    pub _pad0: u32,
    pub _pad1: u32,
}

/// Elements of one row chunk handled by one workgroup (`ROW_CHUNK` in WGSL).
pub(crate) const ROW_CHUNK: usize = 4096;
/// Elements of the reduced axis one invocation visits in `reduce_middle`.
pub(crate) const MID_CHUNK: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReduceOp {
    Sum = 0,
    Max = 1,
}

/// Reduce `src` viewed as [outer, len, inner] over `len` into `dst` ([outer, inner]),
/// multiplying the result by `scale` (sum only).
#[allow(clippy::too_many_arguments)]
pub(crate) fn launch(
    dev: &Device,
    op: ReduceOp,
    outer: usize,
    len: usize,
    inner: usize,
    scale: f32,
    src: &wgpu::Buffer,
    dst: &wgpu::Buffer,
) -> Result<()> {
    let out_n = outer * inner;
    if out_n == 0 {
        return Ok(());
    }
    if len == 0 {
        let identity = if op == ReduceOp::Max { f32::NEG_INFINITY } else { 0.0 };
        return fill::launch(dev, out_n, identity, dst);
    }
    let max_dim = dev.limits().max_compute_workgroups_per_dimension;
    // Partials of the previous pass; `None` means read from `src`.
    let mut current: Option<PooledBuffer> = None;
    let mut len = len;
    loop {
        // On GPUs, long rows get a workgroup per row chunk; short rows (softmax,
        // losses over classes) one invocation per row, as a workgroup's 256
        // invocations and barrier tree would mostly idle. CPU drivers always
        // take one invocation per row chunk: 4.5 GB/s against 1.0 for
        // workgroup trees on 2048-long rows (lavapipe, benches/bandwidth.rs).
        let rows = inner == 1 && len > MID_CHUNK && dev.tuning() == Tuning::Gpu;
        let (chunks, entry, groups) = if rows {
            let chunks = len.div_ceil(ROW_CHUNK);
            (chunks, "reduce_rows", (outer * chunks) as u64)
        } else {
            let chunks = len.div_ceil(MID_CHUNK);
            (
                chunks,
                "reduce_middle",
                ((outer * chunks * inner) as u64).div_ceil(WG as u64),
            )
        };
        let last = chunks == 1;
        let next = if last {
            None
        } else {
            Some(dev.alloc_f32(outer * chunks * inner)?)
        };
        let params = ReduceParams {
            outer: check_u32("reduction rows", outer)?,
            len: check_u32("reduction length", len)?,
            inner: check_u32("reduction inner size", inner)?,
            chunks: chunks as u32,
            op: op as u32,
            scale: if last { scale } else { 1.0 },
            _pad0: 0,
            _pad1: 0,
        };
        let input = current.as_ref().map(|b| b.buffer()).unwrap_or(src);
        let output = next.as_ref().map(|b| b.buffer()).unwrap_or(dst);
        dev.dispatch(&Dispatch {
            source: REDUCE,
            entry,
            constants: &[],
            params: bytemuck::bytes_of(&params),
            inputs: &[input],
            outputs: &[output],
            workgroups: grid(groups, max_dim)?,
        })?;
        if last {
            return Ok(());
        }
        current = next;
        len = chunks;
    }
}
