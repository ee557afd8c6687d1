//! Launcher for `shaders/softmax.wgsl`: softmax and log-softmax over the
//! middle axis of a tensor viewed as [outer, len, inner], and their fused
//! backward passes.
//!
//! Which kernels run:
//! - `Tuning::Cpu`: rows of up to `CPU_ROW_MAX` elements take `softmax_row`
//!   (one invocation per row, no barriers, one dispatch).
//! - `Tuning::Gpu`: `softmax_row` for short rows (≤ `GPU_SHORT_ROW`) and for
//!   strided rows (inner > 1, where neighbouring invocations then read
//!   neighbouring elements) of up to `ROW_MAX` elements; `softmax_row_wg` (a
//!   256-invocation workgroup per row) for the other rows of up to
//!   `GPU_WG_ROW_MAX` elements.
//! - Longer rows on either: `softmax_stats` over chunks of `CHUNK` elements,
//!   `softmax_merge` until one partial is left per row, then `softmax_write`
//!   (one invocation per element). Any row length works and no invocation
//!   loops more than `CHUNK` times.
//!
//! On lavapipe (2 cores) the barrier-free row kernel ran [4096, 784] at
//! 1.4–3.2 GB/s against 0.7 for the workgroup tree; an 8-invocation
//! workgroup per row (one SIMD chunk, so its barriers are cheap) was 10%
//! faster on rows of 4096 but slower on rows of 784 and 6× slower on rows of
//! 10, so it was left out. The chunked path costs 0.6 GB/s (the per-element
//! index divisions of `softmax_write`); it only serves rows too long for the
//! one-pass kernels.

use bytemuck::{Pod, Zeroable};

use super::{check_u32, grid, SOFTMAX, WG};
use crate::device::{Device, Dispatch, Tuning};
use crate::error::Result;

/// Mirrors `SoftmaxParams` in `shaders/softmax.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct SoftmaxParams {
    /// Rows normalised: outer·inner.
    pub rows: u32,
    /// Elements per row (the softmax axis); in `softmax_merge`, partials per row in the input.
    pub len: u32,
    /// Product of the axes after the softmax axis: the element stride within a row.
    pub inner: u32,
    /// `softmax_stats`/`softmax_merge`: chunks per row, one partial written for each; 1 in the
    /// one-pass kernels.
    pub chunks: u32,
    /// Elements (partials in `softmax_merge`) per chunk: `CHUNK`.
    pub chunk: u32,
    /// Elements of the tensor, outer·len·inner (`softmax_write` runs one invocation each).
    pub n: u32,
    /// Pads the struct to a multiple of 16 bytes; 0.
    pub _pad0: u32,
    /// Pads the struct to a multiple of 16 bytes; 0.
    pub _pad1: u32,
}

/// What the kernels write per element (`MODE` in the shader).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SoftmaxMode {
    /// y = e^(x − m) / Σ e^(x − m)
    Softmax = 0,
    /// x − m − ln Σ e^(x − m)
    LogSoftmax = 1,
    /// dx = y·(g − Σ g·y)
    SoftmaxBackward = 2,
    /// dx = g − y·Σ g
    LogSoftmaxBackward = 3,
}

/// Invocations per workgroup of `softmax_row` (`ROW_WG` in WGSL). Smaller than
/// the usual 256 so that a few hundred rows still make several workgroups,
/// which CPU drivers run on separate threads.
#[doc(hidden)]
pub const ROW_WG: usize = 64;
/// Longest row `softmax_row` takes on CPU drivers (it loops 2·len times).
pub(crate) const CPU_ROW_MAX: usize = 4096;
/// Rows up to this length take `softmax_row` on GPUs too.
pub(crate) const GPU_SHORT_ROW: usize = 64;
/// Longest strided row (inner > 1) `softmax_row` takes on GPUs.
pub(crate) const ROW_MAX: usize = 8192;
/// Longest row `softmax_row_wg` takes (2·len/256 + 8 loop iterations).
pub(crate) const GPU_WG_ROW_MAX: usize = 65_536;
/// Elements (or partials) per invocation in `softmax_stats`/`softmax_merge`.
pub(crate) const CHUNK: usize = 1024;

/// out = MODE(x, g) row by row over `len` of [outer, len, inner]. `g` is the
/// upstream gradient in the backward modes and ignored otherwise.
#[allow(clippy::too_many_arguments)]
pub(crate) fn launch(
    dev: &Device,
    mode: SoftmaxMode,
    outer: usize,
    len: usize,
    inner: usize,
    x: &wgpu::Buffer,
    g: Option<&wgpu::Buffer>,
    out: &wgpu::Buffer,
) -> Result<()> {
    let n = check_u32("softmax elements", outer * len * inner)?;
    let rows = outer * inner;
    if n == 0 {
        return Ok(());
    }
    let g = g.unwrap_or(x);
    let max_dim = dev.limits().max_compute_workgroups_per_dimension;
    let constants: &[(&'static str, f64)] = &[("MODE", mode as u32 as f64)];
    let mut params = SoftmaxParams {
        rows: check_u32("softmax rows", rows)?,
        len: len as u32,
        inner: inner as u32,
        chunks: 1,
        chunk: CHUNK as u32,
        n,
        _pad0: 0,
        _pad1: 0,
    };
    let gpu = dev.tuning() == Tuning::Gpu;
    let one_pass = if gpu {
        if len <= GPU_SHORT_ROW || (inner > 1 && len <= ROW_MAX) {
            Some(("softmax_row", rows.div_ceil(ROW_WG) as u64))
        } else if len <= GPU_WG_ROW_MAX {
            Some(("softmax_row_wg", rows as u64))
        } else {
            None
        }
    } else if len <= CPU_ROW_MAX {
        Some(("softmax_row", rows.div_ceil(ROW_WG) as u64))
    } else {
        None
    };
    if let Some((entry, groups)) = one_pass {
        return dev.dispatch(&Dispatch {
            source: SOFTMAX,
            entry,
            constants,
            params: bytemuck::bytes_of(&params),
            inputs: &[x, g, x],
            outputs: &[out],
            workgroups: grid(groups, max_dim)?,
            flops: 0.0,
            bytes: 0.0,
        });
    }

    // Long rows: partial statistics per chunk, merged until one per row.
    // Each partial is a vec4 (m, s, t, unused).
    let chunks = len.div_ceil(CHUNK);
    let mut parts = dev.alloc_f32(4 * rows * chunks)?;
    params.chunks = chunks as u32;
    dev.dispatch(&Dispatch {
        source: SOFTMAX,
        entry: "softmax_stats",
        constants,
        params: bytemuck::bytes_of(&params),
        inputs: &[x, g, x],
        outputs: &[parts.buffer()],
        workgroups: grid(((rows * chunks) as u64).div_ceil(WG as u64), max_dim)?,
        flops: 0.0,
        bytes: 0.0,
    })?;
    let mut count = chunks;
    while count > 1 {
        let next_count = count.div_ceil(CHUNK);
        let next = dev.alloc_f32(4 * rows * next_count)?;
        let merge = SoftmaxParams {
            len: count as u32,
            chunks: next_count as u32,
            ..params
        };
        dev.dispatch(&Dispatch {
            source: SOFTMAX,
            entry: "softmax_merge",
            constants,
            params: bytemuck::bytes_of(&merge),
            inputs: &[x, g, parts.buffer()],
            outputs: &[next.buffer()],
            workgroups: grid(((rows * next_count) as u64).div_ceil(WG as u64), max_dim)?,
            flops: 0.0,
            bytes: 0.0,
        })?;
        parts = next;
        count = next_count;
    }
    dev.dispatch(&Dispatch {
        source: SOFTMAX,
        entry: "softmax_write",
        constants,
        params: bytemuck::bytes_of(&params),
        inputs: &[x, g, parts.buffer()],
        outputs: &[out],
        workgroups: grid((n as u64).div_ceil(WG as u64), max_dim)?,
        flops: 0.0,
        bytes: 0.0,
    })
}
