//! Launcher for `shaders/unary.wgsl`: `out[i] = f(a[i])`.

use bytemuck::{Pod, Zeroable};

use super::{check_u32, grid, UNARY, WG};
use crate::device::{Device, Dispatch};
use crate::error::Result;

/// Mirrors `UnaryParams` in `shaders/unary.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct UnaryParams {
    /// Elements of `a` and `out` (one invocation each).
    pub n: u32,
    /// Op code, one of `op_codes`. The shader switches on the pipeline constant `OP`, which the
    /// launcher sets to the same value.
    pub op: u32,
    /// The op's first scalar: leaky_relu's slope, powf's exponent, affine's scale, step's threshold,
    /// leaky mask's slope; 0 for the ops without one.
    pub alpha: f32,
    /// The op's second scalar: affine's shift; 0 for the other ops.
    pub beta: f32,
}

/// Op codes of `unary.wgsl` (its `OP_*` constants, same names).
#[doc(hidden)]
pub mod op_codes {
    pub const OP_NEG: u32 = 0;
    pub const OP_EXP: u32 = 1;
    pub const OP_LOG: u32 = 2;
    pub const OP_SQRT: u32 = 3;
    pub const OP_RSQRT: u32 = 4;
    pub const OP_ABS: u32 = 5;
    pub const OP_RELU: u32 = 6;
    pub const OP_LEAKY_RELU: u32 = 7;
    pub const OP_SIGMOID: u32 = 8;
    pub const OP_TANH: u32 = 9;
    pub const OP_POWF: u32 = 10;
    pub const OP_AFFINE: u32 = 11;
    pub const OP_SIGN: u32 = 12;
    pub const OP_STEP: u32 = 13;
    pub const OP_LEAKY_MASK: u32 = 14;
    pub const OP_RECIP: u32 = 15;
    pub const OP_RELU_MASK: u32 = 16;
}

/// Unary ops of `unary.wgsl`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum UnaryOp {
    Neg,
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Abs,
    Relu,
    LeakyRelu(f32),
    Sigmoid,
    Tanh,
    /// x^e for a scalar exponent.
    Powf(f32),
    /// alpha·x + beta.
    Affine(f32, f32),
    Sign,
    /// 1 where x > t, else 0.
    Step(f32),
    /// 1 where x > 0, else slope: the derivative of leaky_relu.
    LeakyMask(f32),
    Recip,
    /// 1 where x > 0 or x is NaN, else 0: where relu passes its gradient
    /// (PyTorch's `threshold_backward(grad, relu(x), 0)` keeps it unless
    /// relu(x) <= 0, and relu(NaN) = NaN).
    ReluMask,
}

impl UnaryOp {
    fn code(self) -> (u32, f32, f32) {
        use op_codes::*;
        use UnaryOp::*;
        match self {
            Neg => (OP_NEG, 0.0, 0.0),
            Exp => (OP_EXP, 0.0, 0.0),
            Log => (OP_LOG, 0.0, 0.0),
            Sqrt => (OP_SQRT, 0.0, 0.0),
            Rsqrt => (OP_RSQRT, 0.0, 0.0),
            Abs => (OP_ABS, 0.0, 0.0),
            Relu => (OP_RELU, 0.0, 0.0),
            LeakyRelu(s) => (OP_LEAKY_RELU, s, 0.0),
            Sigmoid => (OP_SIGMOID, 0.0, 0.0),
            Tanh => (OP_TANH, 0.0, 0.0),
            Powf(e) => (OP_POWF, e, 0.0),
            Affine(a, b) => (OP_AFFINE, a, b),
            Sign => (OP_SIGN, 0.0, 0.0),
            Step(t) => (OP_STEP, t, 0.0),
            LeakyMask(s) => (OP_LEAKY_MASK, s, 0.0),
            Recip => (OP_RECIP, 0.0, 0.0),
            ReluMask => (OP_RELU_MASK, 0.0, 0.0),
        }
    }
}

pub(crate) fn launch(dev: &Device, op: UnaryOp, n: usize, a: &wgpu::Buffer, out: &wgpu::Buffer) -> Result<()> {
    let (code, alpha, beta) = op.code();
    let params = UnaryParams {
        n: check_u32("unary op elements", n)?,
        op: code,
        alpha,
        beta,
    };
    dev.dispatch(&Dispatch {
        source: UNARY,
        entry: "unary_map",
        constants: &[("OP", code as f64)],
        params: bytemuck::bytes_of(&params),
        inputs: &[a],
        outputs: &[out],
        workgroups: grid(
            (n as u64).div_ceil(WG as u64),
            dev.limits().max_compute_workgroups_per_dimension,
        )?,
        flops: 0.0,
        bytes: 8.0 * n as f64,
    })
}
