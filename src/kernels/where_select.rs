//! Launcher for `shaders/where.wgsl`: out = cond != 0 ? a : b, all broadcast.

use bytemuck::{Pod, Zeroable};

use super::binary::classify;
use super::{check_u32, grid, pack8, WG, WHERE};
use crate::device::{Device, Dispatch};
use crate::error::Result;

/// Mirrors `WhereParams` in `shaders/where.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct WhereParams {
    pub n: u32,
    pub rank: u32,
    pub n_c: u32,
    pub n_a: u32,
    pub n_b: u32,
    pub inner_c: u32,
    pub inner_a: u32,
    pub inner_b: u32,
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
    // How each operand is read (see shaders/where.wgsl): binary_map's rule.
    let [(mode_c, n_c, inner_c), (mode_a, n_a, inner_a), (mode_b, n_b, inner_b)] =
        strides.map(|s| classify(out_shape, s));
    let count = |v: usize| check_u32("where elements", v);
    let params = WhereParams {
        n: count(n)?,
        rank: out_shape.len() as u32,
        n_c: count(n_c)?,
        n_a: count(n_a)?,
        n_b: count(n_b)?,
        inner_c: count(inner_c)?,
        inner_a: count(inner_a)?,
        inner_b: count(inner_b)?,
        shape: pack8(out_shape),
        strides_cond: pack8(strides[0]),
        strides_a: pack8(strides[1]),
        strides_b: pack8(strides[2]),
    };
    dev.dispatch(&Dispatch {
        source: WHERE,
        entry: "where_select",
        constants: &[
            ("MODE_C", mode_c as f64),
            ("MODE_A", mode_a as f64),
            ("MODE_B", mode_b as f64),
        ],
        params: bytemuck::bytes_of(&params),
        inputs: &[cond, a, b],
        outputs: &[out],
        workgroups: grid(
            (n as u64).div_ceil(WG as u64),
            dev.limits().max_compute_workgroups_per_dimension,
        )?,
        flops: 0.0,
        // Each operand read once where it walks with the output, the output written.
        bytes: 4.0 * (n + n_c.min(n) + n_a.min(n) + n_b.min(n)) as f64,
    })
}
