//! Launcher for `shaders/binary.wgsl`: `out[i] = f(a[i'], b[i''])` with broadcasting.

use bytemuck::{Pod, Zeroable};

use super::{check_u32, grid, pack8, BINARY, WG};
use crate::device::{Device, Dispatch};
use crate::error::Result;

/// Mirrors `BinaryParams` in `shaders/binary.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct BinaryParams {
    pub n: u32,
    pub rank: u32,
    pub op: u32,
    pub n_a: u32,
    pub n_b: u32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
    pub shape: [u32; 8],
    pub strides_a: [u32; 8],
    pub strides_b: [u32; 8],
}

/// Op codes of `binary.wgsl` (its `OP_*` constants, same names).
#[doc(hidden)]
pub mod op_codes {
    pub const OP_ADD: u32 = 0;
    pub const OP_SUB: u32 = 1;
    pub const OP_MUL: u32 = 2;
    pub const OP_DIV: u32 = 3;
    pub const OP_POW: u32 = 4;
    pub const OP_MAX: u32 = 5;
    pub const OP_MIN: u32 = 6;
    pub const OP_EQ: u32 = 7;
    pub const OP_NE: u32 = 8;
    pub const OP_LT: u32 = 9;
    pub const OP_LE: u32 = 10;
    pub const OP_GT: u32 = 11;
    pub const OP_GE: u32 = 12;
}

/// Binary ops of `binary.wgsl`, valued by their op codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinaryOp {
    Add = op_codes::OP_ADD as isize,
    Sub = op_codes::OP_SUB as isize,
    Mul = op_codes::OP_MUL as isize,
    Div = op_codes::OP_DIV as isize,
    Pow = op_codes::OP_POW as isize,
    Max = op_codes::OP_MAX as isize,
    Min = op_codes::OP_MIN as isize,
    Eq = op_codes::OP_EQ as isize,
    Ne = op_codes::OP_NE as isize,
    Lt = op_codes::OP_LT as isize,
    Le = op_codes::OP_LE as isize,
    Gt = op_codes::OP_GT as isize,
    Ge = op_codes::OP_GE as isize,
}

/// How an operand is read (`MODE_A`/`MODE_B` in the shader).
fn mode(operand: &[usize], out_shape: &[usize]) -> f64 {
    let n: usize = operand.iter().product();
    let trimmed: Vec<usize> = operand.iter().copied().skip_while(|&d| d == 1).collect();
    if operand == out_shape {
        0.0
    } else if n == 1 || out_shape.ends_with(&trimmed) {
        1.0
    } else {
        2.0
    }
}

/// `out_shape` is the broadcast shape; `shape_*` each operand's own shape and
/// `strides_*` its strides over the output shape (0 where broadcast).
#[allow(clippy::too_many_arguments)]
pub(crate) fn launch(
    dev: &Device,
    op: BinaryOp,
    out_shape: &[usize],
    (shape_a, strides_a): (&[usize], &[usize]),
    (shape_b, strides_b): (&[usize], &[usize]),
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    out: &wgpu::Buffer,
) -> Result<()> {
    let n: usize = out_shape.iter().product();
    let params = BinaryParams {
        n: check_u32("binary op elements", n)?,
        rank: out_shape.len() as u32,
        op: op as u32,
        n_a: shape_a.iter().product::<usize>().max(1) as u32,
        n_b: shape_b.iter().product::<usize>().max(1) as u32,
        _pad0: 0,
        _pad1: 0,
        _pad2: 0,
        shape: pack8(out_shape),
        strides_a: pack8(strides_a),
        strides_b: pack8(strides_b),
    };
    dev.dispatch(&Dispatch {
        source: BINARY,
        entry: "binary_map",
        constants: &[
            ("MODE_A", mode(shape_a, out_shape)),
            ("MODE_B", mode(shape_b, out_shape)),
        ],
        params: bytemuck::bytes_of(&params),
        inputs: &[a, b],
        outputs: &[out],
        workgroups: grid(
            (n as u64).div_ceil(WG as u64),
            dev.limits().max_compute_workgroups_per_dimension,
        )?,
        flops: 0.0,
        bytes: 0.0,
    })
}
