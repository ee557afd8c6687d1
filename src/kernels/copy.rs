//! Launcher for `shaders/copy.wgsl`: strided copy between two buffers.

use bytemuck::{Pod, Zeroable};

use super::{check_u32, grid, pack8, COPY, WG};
use crate::device::{Device, Dispatch};
use crate::error::Result;

/// Mirrors `CopyParams` in `shaders/copy.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct CopyParams {
    pub n: u32,
    pub rank: u32,
    pub src_offset: u32,
    pub dst_offset: u32,
    pub shape: [u32; 8],
    pub src_strides: [u32; 8],
    pub dst_strides: [u32; 8],
}

/// A strided view of a buffer: element offset and per-axis strides.
pub(crate) struct View<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub offset: usize,
    pub strides: &'a [usize],
}

/// For every index over `shape`: dst[view] = src[view].
pub(crate) fn launch(dev: &Device, shape: &[usize], src: View<'_>, dst: View<'_>) -> Result<()> {
    let n: usize = shape.iter().product();
    let params = CopyParams {
        n: check_u32("copy elements", n)?,
        rank: shape.len() as u32,
        src_offset: check_u32("copy offset", src.offset)?,
        dst_offset: check_u32("copy offset", dst.offset)?,
        shape: pack8(shape),
        src_strides: pack8(src.strides),
        dst_strides: pack8(dst.strides),
    };
    dev.dispatch(&Dispatch {
        source: COPY,
        entry: "strided_copy",
        constants: &[],
        params: bytemuck::bytes_of(&params),
        inputs: &[src.buffer],
        outputs: &[dst.buffer],
        workgroups: grid(
            (n as u64).div_ceil(WG as u64),
            dev.limits().max_compute_workgroups_per_dimension,
        )?,
    })
}
