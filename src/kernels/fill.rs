//! Launcher for `shaders/fill.wgsl`: `dst[i] = value`.

use bytemuck::{Pod, Zeroable};

use super::{check_u32, grid, FILL, WG};
use crate::device::{Device, Dispatch};
use crate::error::Result;

/// Mirrors `FillParams` in `shaders/fill.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct FillParams {
    /// Elements of `dst` to write, from index 0.
    pub n: u32,
    /// The value written to each of them.
    pub value: f32,
    /// Pads the struct to a multiple of 16 bytes; 0.
    pub _pad0: u32,
    /// Pads the struct to a multiple of 16 bytes; 0.
    pub _pad1: u32,
}

pub(crate) fn launch(dev: &Device, n: usize, value: f32, dst: &wgpu::Buffer) -> Result<()> {
    let params = FillParams {
        n: check_u32("fill elements", n)?,
        value,
        _pad0: 0,
        _pad1: 0,
    };
    dev.dispatch(&Dispatch {
        source: FILL,
        entry: "fill",
        constants: &[],
        params: bytemuck::bytes_of(&params),
        inputs: &[],
        outputs: &[dst],
        workgroups: grid(
            (n as u64).div_ceil(WG as u64),
            dev.limits().max_compute_workgroups_per_dimension,
        )?,
        flops: 0.0,
        bytes: 0.0,
    })
}
