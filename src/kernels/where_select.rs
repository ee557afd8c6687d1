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
    /// Output elements: the product of `shape`.
    pub n: u32,
    /// Axes of the output shape in `shape` (at most 8).
    pub rank: u32,
    /// Period of `cond`'s index: element i reads `cond[i % n_c]` in mode 1 (`MODE_C`) and
    /// `cond[(i / inner_c) % n_c]` in mode 3; not read in modes 0 and 2.
    pub n_c: u32,
    /// Period of `a`'s index, as `n_c` for `cond` (`MODE_A`).
    pub n_a: u32,
    /// Period of `b`'s index, as `n_c` for `cond` (`MODE_B`).
    pub n_b: u32,
    /// Mode 3: output elements per step of `cond`'s index, the product of the broadcast axes
    /// after its block of axes; 1 in the other modes.
    pub inner_c: u32,
    /// Mode 3: output elements per step of `a`'s index, as `inner_c` for `cond`.
    pub inner_a: u32,
    /// Mode 3: output elements per step of `b`'s index, as `inner_c` for `cond`.
    pub inner_b: u32,
    /// Output shape, row-major: the first `rank` entries, the rest 0 (`array<vec4<u32>, 2>` in WGSL).
    pub shape: [u32; 8],
    /// Element strides of `cond` over each output axis, 0 on a broadcast axis; read when any
    /// operand is in mode 2.
    pub strides_cond: [u32; 8],
    /// Element strides of `a` over each output axis, as `strides_cond`.
    pub strides_a: [u32; 8],
    /// Element strides of `b` over each output axis, as `strides_cond`.
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
