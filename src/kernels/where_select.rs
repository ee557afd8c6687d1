//! Launcher for `shaders/where.wgsl`: out = cond != 0 ? a : b, all broadcast.

use bytemuck::{Pod, Zeroable};

use super::{check_u32, grid, pack8, WG, WHERE};
use crate::device::{Device, Dispatch};
use crate::error::Result;

/// Mirrors `WhereParams` in `shaders/where.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct WhereParams {
    pub n: u32,
    pub rank: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub shape: [u32; 8],
    pub strides_cond: [u32; 8],
    pub strides_a: [u32; 8],
    pub strides_b: [u32; 8],
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn launch(
    dev: &Device,
    out_shape: &[usize],
    strides: [&[usize]; 3],
    cond: &wgpu::Buffer,
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    out: &wgpu::Buffer,
) -> Result<()> {
    let n: usize = out_shape.iter().product();
    let params = WhereParams {
        n: check_u32("where elements", n)?,
        rank: out_shape.len() as u32,
        _pad0: 0,
        _pad1: 0,
        shape: pack8(out_shape),
        strides_cond: pack8(strides[0]),
        strides_a: pack8(strides[1]),
        strides_b: pack8(strides[2]),
    };
    dev.dispatch(&Dispatch {
        source: WHERE,
        entry: "where_select",
        constants: &[],
        params: bytemuck::bytes_of(&params),
        inputs: &[cond, a, b],
        outputs: &[out],
        workgroups: grid(
            (n as u64).div_ceil(WG as u64),
            dev.limits().max_compute_workgroups_per_dimension,
        )?,
        flops: 0.0,
        bytes: 0.0,
    })
}
