//! Launcher for `shaders/glu.wgsl`: y = a ⊗ σ(b) over an axis split in two
//! halves, and the fused backward pass (da, db) from x and the upstream
//! gradient, and the fused double backward (`glu_backward2`). One invocation
//! per output element in every direction.

use bytemuck::{Pod, Zeroable};

use super::{check_u32, grid, GLU, WG};
use crate::device::{Device, Dispatch};
use crate::error::Result;

/// Mirrors `GluParams` in `shaders/glu.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct GluParams {
    /// Elements of y: outer·half·inner, one invocation each.
    pub n: u32,
    /// Length of each half of the split axis (x has 2·half along it).
    pub half: u32,
    /// Product of the axes after the split axis.
    pub inner: u32,
    /// Pads the struct to a multiple of 16 bytes; 0.
    pub _pad0: u32,
}

/// x viewed as [outer, 2·half, inner]. Forward (`g = None`): out = y, of
/// shape [outer, half, inner]. Backward (`g` = dL/dy): out = dL/dx, of x's
/// shape.
pub(crate) fn launch(
    dev: &Device,
    outer: usize,
    half: usize,
    inner: usize,
    x: &wgpu::Buffer,
    g: Option<&wgpu::Buffer>,
    out: &wgpu::Buffer,
) -> Result<()> {
    // The kernels index x (twice the output's size) in u32.
    check_u32("glu input elements", 2 * outer * half * inner)?;
    let n = outer * half * inner;
    let params = GluParams {
        n: n as u32,
        half: half as u32,
        inner: inner as u32,
        _pad0: 0,
    };
    let entry = if g.is_some() { "glu_backward" } else { "glu_forward" };
    dev.dispatch(&Dispatch {
        source: GLU,
        entry,
        constants: &[],
        params: bytemuck::bytes_of(&params),
        inputs: &[x, g.unwrap_or(x), x],
        outputs: &[out],
        workgroups: grid(
            (n as u64).div_ceil(WG as u64),
            dev.limits().max_compute_workgroups_per_dimension,
        )?,
        flops: 0.0,
        bytes: 0.0,
    })
}

/// The backward of the backward: x viewed as [outer, 2·half, inner], g =
/// dL/dy and u the upstream gradient of dL/dx. Writes `dx` (x's shape) and
/// `dg` (y's shape) in one pass.
#[allow(clippy::too_many_arguments)]
pub(crate) fn launch_backward2(
    dev: &Device,
    outer: usize,
    half: usize,
    inner: usize,
    x: &wgpu::Buffer,
    g: &wgpu::Buffer,
    u: &wgpu::Buffer,
    dx: &wgpu::Buffer,
    dg: &wgpu::Buffer,
) -> Result<()> {
    check_u32("glu input elements", 2 * outer * half * inner)?;
    let n = outer * half * inner;
    let params = GluParams {
        n: n as u32,
        half: half as u32,
        inner: inner as u32,
        _pad0: 0,
    };
    dev.dispatch(&Dispatch {
        source: GLU,
        entry: "glu_backward2",
        constants: &[],
        params: bytemuck::bytes_of(&params),
        inputs: &[x, g, u],
        outputs: &[dx, dg],
        workgroups: grid(
            (n as u64).div_ceil(WG as u64),
            dev.limits().max_compute_workgroups_per_dimension,
        )?,
        flops: 0.0,
        bytes: 0.0,
    })
}
