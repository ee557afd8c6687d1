//! Launcher for `shaders/unary.wgsl`: `out[i] = f(a[i])`.

use bytemuck::{Pod, Zeroable};

use super::{check_u32, grid, UNARY, WG};
use crate::device::{Device, Dispatch};
use crate::error::Result;

/// Mirrors `UnaryParams` in `shaders/unary.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct UnaryParams {
    pub n: u32,
    pub op: u32,
    pub alpha: f32,
    pub beta: f32,
}

/// Unary op codes of `unary.wgsl`.
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
        use UnaryOp::*;
        match self {
            Neg => (0, 0.0, 0.0),
            Exp => (1, 0.0, 0.0),
            Log => (2, 0.0, 0.0),
            Sqrt => (3, 0.0, 0.0),
            Rsqrt => (4, 0.0, 0.0),
            Abs => (5, 0.0, 0.0),
            Relu => (6, 0.0, 0.0),
            LeakyRelu(s) => (7, s, 0.0),
            Sigmoid => (8, 0.0, 0.0),
            Tanh => (9, 0.0, 0.0),
            Powf(e) => (10, e, 0.0),
            Affine(a, b) => (11, a, b),
            Sign => (12, 0.0, 0.0),
            Step(t) => (13, t, 0.0),
            LeakyMask(s) => (14, s, 0.0),
            Recip => (15, 0.0, 0.0),
            ReluMask => (16, 0.0, 0.0),
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
        constants: &[],
        params: bytemuck::bytes_of(&params),
        inputs: &[a],
        outputs: &[out],
        workgroups: grid(
            (n as u64).div_ceil(WG as u64),
            dev.limits().max_compute_workgroups_per_dimension,
        )?,
    })
}
