//! Launcher for `shaders/binary.wgsl`: `out[i] = f(a[i'], b[i''])` with broadcasting.

use bytemuck::{Pod, Zeroable};

use super::{check_u32, grid, pack8, BINARY, WG};
use crate::device::{Device, Dispatch};
use crate::error::Result;

/// Mirrors `BinaryParams` in `shaders/binary.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct BinaryParams {
    /// Output elements: the product of `shape`.
    pub n: u32,
    /// Axes of the output shape in `shape` (at most 8).
    pub rank: u32,
    /// Op code, one of `op_codes`. The shader switches on the pipeline constant `OP`, which the
    /// launcher sets to the same value.
    pub op: u32,
    /// Period of `a`'s index: element i reads `a[i % n_a]` in mode 1 (`MODE_A`) and
    /// `a[(i / inner_a) % n_a]` in mode 3; not read in modes 0 and 2.
    pub n_a: u32,
    /// Period of `b`'s index, as `n_a` for `a` (`MODE_B`).
    pub n_b: u32,
    /// Mode 3: output elements per step of `a`'s index, the product of the broadcast axes after
    /// `a`'s block of axes; 1 in the other modes.
    pub inner_a: u32,
    /// Mode 3: output elements per step of `b`'s index, as `inner_a` for `a`.
    pub inner_b: u32,
    /// Pads `shape` to its 16-byte alignment; 0.
    pub _pad0: u32,
    /// Output shape, row-major: the first `rank` entries, the rest 0 (`array<vec4<u32>, 2>` in WGSL).
    pub shape: [u32; 8],
    /// Element strides of `a` over each output axis, 0 on a broadcast axis; read in mode 2 only.
    pub strides_a: [u32; 8],
    /// Element strides of `b` over each output axis, 0 on a broadcast axis; read in mode 2 only.
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

/// How an operand is read (`MODE_*` in the shader), from its strides over
/// the output shape: (mode, n, inner) with index = (i / inner) % n.
///
/// Axes of size 1 are dropped; what is left of the operand must be one
/// contiguous block of axes with stride-0 (broadcast) axes before and after
/// it. No leading or trailing broadcast: mode 0 (same shape); no trailing one:
/// mode 1 (a suffix, index i % n); both: mode 3. Anything else is mode 2,
/// decoded through the strides.
pub(crate) fn classify(out_shape: &[usize], strides: &[usize]) -> (u32, usize, usize) {
    let axes: Vec<(usize, usize)> = out_shape
        .iter()
        .zip(strides)
        .filter(|(&d, _)| d != 1)
        .map(|(&d, &s)| (d, s))
        .collect();
    let n: usize = out_shape.iter().product();
    // Trailing broadcast axes, then the block, then leading broadcast axes.
    let inner: usize = axes.iter().rev().take_while(|(_, s)| *s == 0).map(|(d, _)| d).product();
    let after = axes.iter().rev().take_while(|(_, s)| *s == 0).count();
    let block = &axes[..axes.len() - after];
    let lead = block.iter().take_while(|(_, s)| *s == 0).count();
    let block = &block[lead..];
    let mut expect = 1;
    for &(d, s) in block.iter().rev() {
        if s != expect {
            return (2, 1, 1);
        }
        expect *= d;
    }
    let size = expect;
    if size == 1 {
        // A scalar (or nothing to read): index 0 for every element.
        return (1, 1, 1);
    }
    match (lead, after) {
        (0, 0) => (0, n, 1),
        (_, 0) => (1, size, 1),
        _ => (3, size, inner),
    }
}

/// Whether one invocation may take four elements: every operand's index
/// either walks with the output or stays put across each aligned group of 4.
fn groups_of_four(mode: u32, n: usize, inner: usize) -> bool {
    match mode {
        0 => true,
        1 => n == 1 || n.is_multiple_of(4),
        3 => inner.is_multiple_of(4),
        _ => false,
    }
}

/// `out_shape` is the broadcast shape; `strides_*` each operand's strides over
/// the output shape (0 where broadcast).
#[allow(clippy::too_many_arguments)]
pub(crate) fn launch(
    dev: &Device,
    op: BinaryOp,
    out_shape: &[usize],
    strides_a: &[usize],
    strides_b: &[usize],
    a: &wgpu::Buffer,
    b: &wgpu::Buffer,
    out: &wgpu::Buffer,
) -> Result<()> {
    let n: usize = out_shape.iter().product();
    let (mode_a, n_a, inner_a) = classify(out_shape, strides_a);
    let (mode_b, n_b, inner_b) = classify(out_shape, strides_b);
    let vec = if groups_of_four(mode_a, n_a, inner_a) && groups_of_four(mode_b, n_b, inner_b) {
        4
    } else {
        1
    };
    let params = BinaryParams {
        n: check_u32("binary op elements", n)?,
        rank: out_shape.len() as u32,
        op: op as u32,
        n_a: check_u32("binary op elements", n_a)?,
        n_b: check_u32("binary op elements", n_b)?,
        inner_a: check_u32("binary op elements", inner_a)?,
        inner_b: check_u32("binary op elements", inner_b)?,
        _pad0: 0,
        shape: pack8(out_shape),
        strides_a: pack8(strides_a),
        strides_b: pack8(strides_b),
    };
    dev.dispatch(&Dispatch {
        source: BINARY,
        entry: "binary_map",
        constants: &[
            ("OP", op as u32 as f64),
            ("MODE_A", mode_a as f64),
            ("MODE_B", mode_b as f64),
            ("VEC", vec as f64),
        ],
        params: bytemuck::bytes_of(&params),
        inputs: &[a, b],
        outputs: &[out],
        workgroups: grid(
            (n as u64).div_ceil(vec * WG as u64),
            dev.limits().max_compute_workgroups_per_dimension,
        )?,
        flops: 0.0,
        // Each operand read once where it walks with the output, the output written.
        bytes: 4.0 * (n + n_a.min(n) + n_b.min(n)) as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::{classify, groups_of_four};
    use crate::tensor::shape::broadcast_strides;

    fn route(operand: &[usize], out: &[usize]) -> (u32, usize, usize) {
        classify(out, &broadcast_strides(operand, out))
    }

    #[test]
    fn operands_are_routed_by_their_broadcast_pattern() {
        // Same shape, size-1 axes ignored.
        assert_eq!(route(&[3, 1, 4], &[3, 1, 4]), (0, 12, 1));
        // Scalars and suffixes: i % n.
        assert_eq!(route(&[], &[3, 4]), (1, 1, 1));
        assert_eq!(route(&[1, 1], &[3, 4]), (1, 1, 1));
        assert_eq!(route(&[4], &[2, 3, 4]), (1, 4, 1));
        assert_eq!(route(&[3, 4], &[2, 3, 4]), (1, 12, 1));
        // A per-channel value over NCHW and a column over rows: (i / inner) % n.
        assert_eq!(route(&[1, 16, 1, 1], &[64, 16, 14, 14]), (3, 16, 196));
        assert_eq!(route(&[64, 1, 1, 1], &[64, 1, 28, 28]), (3, 64, 784));
        assert_eq!(route(&[5, 1], &[5, 7]), (3, 5, 7));
        // Two separate blocks: the stride decode.
        assert_eq!(route(&[3, 1, 4, 1], &[3, 2, 4, 5]).0, 2);
        assert_eq!(route(&[1, 2, 1, 5], &[3, 2, 4, 5]).0, 2);
    }

    #[test]
    fn groups_of_four_only_where_the_index_stays_aligned() {
        assert!(groups_of_four(0, 7, 1));
        assert!(groups_of_four(1, 1, 1));
        assert!(groups_of_four(1, 8, 1));
        assert!(!groups_of_four(1, 6, 1));
        assert!(groups_of_four(3, 5, 196));
        assert!(!groups_of_four(3, 5, 49));
        assert!(!groups_of_four(2, 1, 1));
    }
}
