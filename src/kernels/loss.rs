//! Launcher for `shaders/loss.wgsl`: the fused elementwise pieces of the
//! binary cross-entropy on logits and of the WGAN-GP penalty, and the
//! per-sample interpolation of the penalty's input. One invocation per
//! element, no loops.

use bytemuck::{Pod, Zeroable};

use super::{check_u32, grid, LOSS, WG};
use crate::device::{Device, Dispatch};
use crate::error::Result;

/// Mirrors `LossParams` in `shaders/loss.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug, Default)]
pub struct LossParams {
    /// Elements written, one invocation each (samples for `gp_penalty_forward`).
    pub n: u32,
    /// `gp_penalty_backward`, `lerp_rows`: elements per sample, element i being in sample
    /// i / inner; unused elsewhere.
    pub inner: u32,
    /// BCE target t(i): 0 `target_value`, 1 the one value of the target buffer, 2 one per element.
    pub t_mode: u32,
    /// `bce_logits_backward`: 0 the upstream gradient is one value, 1 one per element.
    pub g_full: u32,
    /// Factor of the backward outputs (`bce_logits_backward`, `gp_penalty_backward`: 2λ/B there).
    pub scale: f32,
    /// BCE target of every element when `t_mode` is 0.
    pub target_value: f32,
    /// `gp_penalty_forward`: the penalty weight λ.
    pub lambda: f32,
    /// Gradient penalty: ε added to each squared norm before the square root.
    pub eps: f32,
}

/// The BCE target of every element.
#[derive(Clone, Copy)]
pub(crate) enum TargetArg<'a> {
    /// One value for all (a uniform).
    Value(f32),
    /// One value for all, in a one-element buffer.
    Scalar(&'a wgpu::Buffer),
    /// One per element.
    Full(&'a wgpu::Buffer),
}

impl<'a> TargetArg<'a> {
    fn mode(&self) -> (u32, f32, Option<&'a wgpu::Buffer>) {
        match *self {
            TargetArg::Value(v) => (0, v, None),
            TargetArg::Scalar(b) => (1, 0.0, Some(b)),
            TargetArg::Full(b) => (2, 0.0, Some(b)),
        }
    }
}

fn run(dev: &Device, entry: &'static str, p: LossParams, inputs: [&wgpu::Buffer; 3], out: &wgpu::Buffer) -> Result<()> {
    dev.dispatch(&Dispatch {
        source: LOSS,
        entry,
        constants: &[],
        params: bytemuck::bytes_of(&p),
        inputs: &inputs,
        outputs: &[out],
        workgroups: grid(
            (p.n as u64).div_ceil(WG as u64),
            dev.limits().max_compute_workgroups_per_dimension,
        )?,
        flops: 0.0,
        bytes: 0.0,
    })
}

/// out[i] = softplus(x[i]) − x[i]·t(i), `n` elements.
pub(crate) fn bce_forward(
    dev: &Device,
    n: usize,
    x: &wgpu::Buffer,
    t: TargetArg<'_>,
    out: &wgpu::Buffer,
) -> Result<()> {
    let (t_mode, target, tb) = t.mode();
    let p = LossParams {
        n: check_u32("bce_with_logits elements", n)?,
        t_mode,
        target_value: target,
        ..Default::default()
    };
    run(dev, "bce_logits_forward", p, [x, tb.unwrap_or(x), x], out)
}

/// out[i] = scale·g(i)·(σ(x[i]) − t(i)), g one value (`g_full` false) or one
/// per element.
#[allow(clippy::too_many_arguments)]
pub(crate) fn bce_backward(
    dev: &Device,
    n: usize,
    x: &wgpu::Buffer,
    t: TargetArg<'_>,
    g: &wgpu::Buffer,
    g_full: bool,
    scale: f32,
    out: &wgpu::Buffer,
) -> Result<()> {
    let (t_mode, target, tb) = t.mode();
    let p = LossParams {
        n: check_u32("bce_with_logits elements", n)?,
        t_mode,
        target_value: target,
        g_full: g_full as u32,
        scale,
        ..Default::default()
    };
    run(dev, "bce_logits_backward", p, [x, tb.unwrap_or(x), g], out)
}

/// out[b] = λ·(sqrt(s[b] + ε) − 1)² over the `batch` squared norms `s`.
pub(crate) fn gp_forward(
    dev: &Device,
    batch: usize,
    s: &wgpu::Buffer,
    lambda: f32,
    eps: f32,
    out: &wgpu::Buffer,
) -> Result<()> {
    let p = LossParams {
        n: check_u32("gradient penalty samples", batch)?,
        lambda,
        eps,
        ..Default::default()
    };
    run(dev, "gp_penalty_forward", p, [s, s, s], out)
}

/// out[i] = scale·g[0]·(1 − 1/sqrt(s[b] + ε))·x[i], b = i / inner.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gp_backward(
    dev: &Device,
    n: usize,
    inner: usize,
    x: &wgpu::Buffer,
    s: &wgpu::Buffer,
    g: &wgpu::Buffer,
    scale: f32,
    eps: f32,
    out: &wgpu::Buffer,
) -> Result<()> {
    let p = LossParams {
        n: check_u32("gradient penalty elements", n)?,
        inner: check_u32("gradient penalty elements per sample", inner.max(1))?,
        scale,
        eps,
        ..Default::default()
    };
    run(dev, "gp_penalty_backward", p, [x, s, g], out)
}

/// out[i] = f[i] + α[b]·(r[i] − f[i]), b = i / inner.
pub(crate) fn lerp_rows(
    dev: &Device,
    n: usize,
    inner: usize,
    r: &wgpu::Buffer,
    f: &wgpu::Buffer,
    alpha: &wgpu::Buffer,
    out: &wgpu::Buffer,
) -> Result<()> {
    let p = LossParams {
        n: check_u32("interpolated elements", n)?,
        inner: check_u32("interpolated elements per sample", inner.max(1))?,
        ..Default::default()
    };
    run(dev, "lerp_rows", p, [r, f, alpha], out)
}
