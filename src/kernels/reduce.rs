//! Launcher for `shaders/reduce.wgsl`: sum or max over the middle axis of a
//! tensor viewed as [outer, len, inner], in as many passes as it takes for
//! every invocation's loop to stay short.

use bytemuck::{Pod, Zeroable};

use super::{check_u32, copy, fill, grid, REDUCE, WG};
use crate::device::{Device, Dispatch, PooledBuffer, Tuning};
use crate::error::Result;

/// Mirrors `ReduceParams` in `shaders/reduce.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct ReduceParams {
    /// Product of the axes before the reduced one.
    pub outer: u32,
    /// Length of the reduced axis; in later passes, the partials per output left by the previous pass.
    pub len: u32,
    /// Product of the axes after the reduced one (1: contiguous rows).
    pub inner: u32,
    /// Chunks each reduced line is cut into in this pass (`ROW_CHUNK` elements in `reduce_rows`,
    /// `MID_CHUNK` in `reduce_middle`): one output each, [outer, chunks, inner].
    pub chunks: u32,
    /// 0: sum, 1: max (NaN-propagating).
    pub op: u32,
    /// Factor applied to every value written: the caller's scale (1/len for a mean) on the last
    /// pass, 1 on partial passes.
    pub scale: f32,
    /// Pads the struct to a multiple of 16 bytes; 0.
    pub _pad0: u32,
    /// Pads the struct to a multiple of 16 bytes; 0.
    pub _pad1: u32,
}

/// Elements of one row chunk handled by one workgroup (`ROW_CHUNK` in WGSL).
#[doc(hidden)]
pub const ROW_CHUNK: usize = 4096;
/// Elements of the reduced axis one invocation visits in `reduce_middle`.
#[doc(hidden)]
pub const MID_CHUNK: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReduceOp {
    Sum = 0,
    Max = 1,
}

/// Reduce `src` viewed as [outer, len, inner] over `len` into `dst` ([outer, inner]),
/// multiplying the result by `scale` (the shader scales max results too; the
/// callers pass 1 for a max).
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
            flops: 0.0,
            bytes: 0.0,
        })?;
        if last {
            return Ok(());
        }
        current = next;
        len = chunks;
    }
}

/// Default of [`Device::set_partial_budget`]: floats of partial slabs
/// (split-K products, weight-gradient chunks) that `sum_slabs` holds at
/// once, 16 MiB.
pub const MAX_PARTIAL_FLOATS: usize = 1 << 22;

/// Floats of scratch `sum_slabs` allocates for `slabs` slabs of `per_slab`
/// floats with a partial budget of `budget` floats, summed into an output at
/// offset 0 or not (`offset`): min(slabs, max(budget / per_slab, 2))·per_slab,
/// plus per_slab for an offset output; none for one slab at offset 0. At most
/// max(budget, 2·per_slab) + per_slab, whatever the number of slabs.
pub fn slab_scratch_floats(slabs: usize, per_slab: usize, budget: usize, offset: bool) -> usize {
    if slabs <= 1 && !offset {
        return 0;
    }
    slabs_per_pass(slabs, per_slab, budget) * per_slab + if offset { per_slab } else { 0 }
}

fn slabs_per_pass(slabs: usize, per_slab: usize, budget: usize) -> usize {
    (budget / per_slab.max(1)).max(2).min(slabs.max(1))
}

/// dst[dst_offset .. dst_offset + per_slab] = Σₛ slabₛ over `slabs` slabs that
/// `produce(first, count, buffer)` writes: slabs first .. first + count into
/// slabs 0 .. count of `buffer`. The slabs are summed as they are made, in
/// passes: a pass fills the scratch, is reduced into the running sum, and the
/// next pass reuses the scratch with the running sum copied into its last
/// slab. Peak scratch: [`slab_scratch_floats`] with the device's
/// [`Device::set_partial_budget`], independent of `slabs`.
pub(crate) fn sum_slabs(
    dev: &Device,
    slabs: usize,
    per_slab: usize,
    dst: &wgpu::Buffer,
    dst_offset: usize,
    mut produce: impl FnMut(usize, usize, &wgpu::Buffer) -> Result<()>,
) -> Result<()> {
    if per_slab == 0 {
        return Ok(());
    }
    if slabs == 0 {
        return fill_at(dev, per_slab, dst, dst_offset);
    }
    if slabs == 1 && dst_offset == 0 {
        return produce(0, 1, dst);
    }
    let held = slabs_per_pass(slabs, per_slab, dev.partial_budget());
    let scratch = dev.alloc_f32(held * per_slab)?;
    let tmp = if dst_offset == 0 {
        None
    } else {
        Some(dev.alloc_f32(per_slab)?)
    };
    let acc = tmp.as_ref().map(|b| b.buffer()).unwrap_or(dst);
    produce(0, held, scratch.buffer())?;
    launch(dev, ReduceOp::Sum, 1, held, per_slab, 1.0, scratch.buffer(), acc)?;
    let one = [1usize];
    let view = |buffer, offset| copy::View {
        buffer,
        offset,
        strides: &one,
    };
    let mut first = held;
    while first < slabs {
        let count = (held - 1).min(slabs - first);
        produce(first, count, scratch.buffer())?;
        copy::launch(dev, &[per_slab], view(acc, 0), view(scratch.buffer(), count * per_slab))?;
        launch(dev, ReduceOp::Sum, 1, count + 1, per_slab, 1.0, scratch.buffer(), acc)?;
        first += count;
    }
    if tmp.is_some() {
        copy::launch(dev, &[per_slab], view(acc, 0), view(dst, dst_offset))?;
    }
    Ok(())
}

/// Zeros in dst[offset .. offset + n].
fn fill_at(dev: &Device, n: usize, dst: &wgpu::Buffer, offset: usize) -> Result<()> {
    if offset == 0 {
        return fill::launch(dev, n, 0.0, dst);
    }
    let zeros = dev.alloc_f32(n)?;
    fill::launch(dev, n, 0.0, zeros.buffer())?;
    let one = [1usize];
    copy::launch(
        dev,
        &[n],
        copy::View {
            buffer: zeros.buffer(),
            offset: 0,
            strides: &one,
        },
        copy::View {
            buffer: dst,
            offset,
            strides: &one,
        },
    )
}
