//! Launchers for `shaders/batchnorm.wgsl`: batch statistics, normalisation and
//! the fused backward of batch normalisation over x viewed as [N, C, S]
//! (S = product of the spatial axes). The math and thread mapping are in the
//! shader's header; this file sequences the passes and picks the variants.
//!
//! Per-channel statistics travel in one `[4, C]` buffer, rows (mean, invstd,
//! scale = γ·invstd, shift = β).

use bytemuck::{Pod, Zeroable};

use super::{check_u32, grid, reduce, BATCHNORM, WG};
use crate::device::{Device, Dispatch, PooledBuffer, Tuning};
use crate::error::{Error, Result};

/// Mirrors `BatchNormParams` in `shaders/batchnorm.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct BatchNormParams {
    /// Batch size N (the shader uses `m` and `total`).
    pub n: u32,
    /// Channels C.
    pub c: u32,
    /// Elements per (sample, channel) plane: the product of the spatial axes, 1 for [N, C].
    pub s: u32,
    /// Elements per channel, M = N·S.
    pub m: u32,
    /// Elements of x, N·C·S.
    pub total: u32,
    /// `bn_stats`/`bn_grad_sums`: elements of a channel per partial. `bn_merge`/`bn_finalize*`:
    /// elements each input partial covers.
    pub chunk: u32,
    /// `bn_merge`/`bn_finalize*`: partials per channel in the input.
    pub parts: u32,
    /// Partials per channel this pass writes (`bn_stats*`, `bn_merge`, `bn_grad_sums*`).
    pub out_parts: u32,
    /// Bits `HAS_WEIGHT` (γ is read), `HAS_BIAS` (β is read) and `TRAINING` (`bn_grad_input*`
    /// uses the batch-statistics gradient).
    pub flags: u32,
    /// ε added to the variance before the inverse square root.
    pub eps: f32,
    /// `bn_finalize_running`: weight of the batch statistics in the running ones,
    /// r ← (1 − momentum)·r + momentum·batch.
    pub momentum: f32,
    /// Pads the struct to a multiple of 16 bytes; 0.
    pub _pad0: u32,
}

/// Bits of `BatchNormParams::flags` (same names in WGSL).
#[doc(hidden)]
pub const HAS_WEIGHT: u32 = 1;
#[doc(hidden)]
pub const HAS_BIAS: u32 = 2;
#[doc(hidden)]
pub const TRAINING: u32 = 4;

/// Elements of one channel per workgroup in the `_group` entries (`GROUP_CHUNK`).
#[doc(hidden)]
pub const GROUP_CHUNK: usize = 4096;
/// Partials one invocation merges (`MERGE`).
#[doc(hidden)]
pub const MERGE: usize = 256;
/// Every dispatch binds this many read-only inputs (see the shader header).
const INPUTS: usize = 5;
/// The `_group` entries are used on GPUs when a channel's elements come in
/// runs of at least this many (S ≥ 32), so that a workgroup's reads coalesce;
/// shorter runs (and [N, C] inputs, S = 1) read better with neighbouring
/// invocations on neighbouring channels. The threshold is reasoned from
/// coalescing, not measured on a GPU. CPU drivers always take the lanes
/// entries: on lavapipe the workgroup entries made the training forward of
/// [128, 64, 32, 32] 75 ms instead of 26 (barriers suspend every invocation).
const GROUP_MIN_RUN: usize = 32;

/// The geometry of one batch norm: x is [n, c, s].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Dims {
    pub n: usize,
    pub c: usize,
    pub s: usize,
}

impl Dims {
    /// Elements per channel, N·S.
    pub fn m(&self) -> usize {
        self.n * self.s
    }

    fn params(&self) -> Result<BatchNormParams> {
        let total = check_u32("batch norm elements", self.n * self.c * self.s)?;
        Ok(BatchNormParams {
            n: self.n as u32,
            c: self.c as u32,
            s: self.s as u32,
            m: self.m() as u32,
            total,
            chunk: 0,
            parts: 0,
            out_parts: 0,
            flags: 0,
            eps: 0.0,
            momentum: 0.0,
            _pad0: 0,
        })
    }
}

/// How a channel's M elements are split among the first (data-reading) pass.
struct Split {
    /// Use the workgroup-per-chunk entries.
    group: bool,
    /// Elements per chunk.
    chunk: usize,
    /// Chunks per channel.
    parts: usize,
}

fn split(dev: &Device, d: Dims) -> Split {
    let m = d.m();
    if dev.tuning() == Tuning::Gpu && d.s >= GROUP_MIN_RUN {
        return Split {
            group: true,
            chunk: GROUP_CHUNK,
            parts: m.div_ceil(GROUP_CHUNK),
        };
    }
    // One invocation per chunk: aim for about 8192 invocations in all (enough
    // to fill a GPU's or a CPU driver's threads), with chunks between 64 and
    // 4096 elements so that merges stay short and loops stay far below
    // lavapipe's 65,535 iterations (the statistics walk a chunk twice). On
    // lavapipe the target hardly matters: 2048 to 32768 invocations gave the
    // same times on [128, 64, 32, 32].
    let chunk = (m * d.c).div_ceil(8192).next_power_of_two().clamp(64, 4096);
    Split {
        group: false,
        chunk,
        parts: m.div_ceil(chunk).max(1),
    }
}

fn dispatch(
    dev: &Device,
    entry: &'static str,
    params: &BatchNormParams,
    inputs: &[&wgpu::Buffer],
    outputs: &[&wgpu::Buffer],
    workgroups: u64,
) -> Result<()> {
    let mut bound: [&wgpu::Buffer; INPUTS] = [inputs[0]; INPUTS];
    bound[..inputs.len()].copy_from_slice(inputs);
    dev.dispatch(&Dispatch {
        source: BATCHNORM,
        entry,
        constants: &[],
        params: bytemuck::bytes_of(params),
        inputs: &bound,
        outputs,
        workgroups: grid(workgroups, dev.limits().max_compute_workgroups_per_dimension)?,
        flops: 0.0,
        bytes: 0.0,
    })
}

fn invocations(n: usize) -> u64 {
    (n as u64).div_ceil(WG as u64)
}

/// The optional affine parameters (γ, β) and ε of one forward.
pub(crate) struct Affine<'a> {
    pub weight: Option<&'a wgpu::Buffer>,
    pub bias: Option<&'a wgpu::Buffer>,
    pub eps: f32,
}

impl Affine<'_> {
    fn flags(&self) -> u32 {
        (if self.weight.is_some() { HAS_WEIGHT } else { 0 }) | (if self.bias.is_some() { HAS_BIAS } else { 0 })
    }
}

/// Training mode: batch statistics of `x` into `stats` ([4, C]), updating
/// `running` = (running_mean, running_var) in place with `momentum` if given.
/// Needs M = N·S ≥ 2.
pub(crate) fn batch_stats(
    dev: &Device,
    d: Dims,
    x: &wgpu::Buffer,
    affine: &Affine<'_>,
    running: Option<(&wgpu::Buffer, &wgpu::Buffer, f32)>,
    stats: &wgpu::Buffer,
) -> Result<()> {
    if d.m() < 2 {
        return Err(Error::invalid(
            "batch_norm",
            format!("training needs more than one value per channel, got N·S = {}", d.m()),
        ));
    }
    let mut params = d.params()?;
    let sp = split(dev, d);
    params.chunk = sp.chunk as u32;
    params.out_parts = check_u32("batch norm partials", sp.parts)?;
    let mut parts_buf: PooledBuffer = dev.alloc_f32(2 * d.c * sp.parts)?;
    let (entry, groups) = if sp.group {
        ("bn_stats_group", (sp.parts * d.c) as u64)
    } else {
        ("bn_stats", invocations(sp.parts * d.c))
    };
    dispatch(dev, entry, &params, &[x], &[parts_buf.buffer()], groups)?;

    // Merge while more than MERGE partials per channel remain.
    let mut parts = sp.parts;
    let mut span = sp.chunk;
    while parts > MERGE {
        let out_parts = parts.div_ceil(MERGE);
        let next = dev.alloc_f32(2 * d.c * out_parts)?;
        params.chunk = check_u32("batch norm partial span", span)?;
        params.parts = parts as u32;
        params.out_parts = out_parts as u32;
        dispatch(
            dev,
            "bn_merge",
            &params,
            &[parts_buf.buffer()],
            &[next.buffer()],
            invocations(out_parts * d.c),
        )?;
        parts_buf = next;
        parts = out_parts;
        span *= MERGE;
    }

    params.chunk = check_u32("batch norm partial span", span.min(d.m()))?;
    params.parts = parts as u32;
    params.out_parts = 1;
    params.flags = affine.flags() | TRAINING;
    params.eps = affine.eps;
    let p = parts_buf.buffer();
    // Same slots as bn_eval_stats: weight at binding 3, bias at 4.
    let inputs = [p, p, affine.weight.unwrap_or(p), affine.bias.unwrap_or(p)];
    match running {
        Some((rm, rv, momentum)) => {
            params.momentum = momentum;
            dispatch(
                dev,
                "bn_finalize_running",
                &params,
                &inputs,
                &[stats, rm, rv],
                invocations(d.c),
            )
        }
        None => dispatch(dev, "bn_finalize", &params, &inputs, &[stats], invocations(d.c)),
    }
}

/// Eval mode: stats ([4, C]) from the running statistics.
pub(crate) fn eval_stats(
    dev: &Device,
    d: Dims,
    running_mean: &wgpu::Buffer,
    running_var: &wgpu::Buffer,
    affine: &Affine<'_>,
    stats: &wgpu::Buffer,
) -> Result<()> {
    let mut params = d.params()?;
    params.flags = affine.flags();
    params.eps = affine.eps;
    let inputs = [
        running_mean,
        running_var,
        affine.weight.unwrap_or(running_mean),
        affine.bias.unwrap_or(running_mean),
    ];
    dispatch(dev, "bn_eval_stats", &params, &inputs, &[stats], invocations(d.c))
}

/// The elementwise entry (`name` or its 4-wide `name4`) and its workgroup
/// count: 4 elements per invocation when every run of 4 lies in one channel.
fn elementwise(d: Dims, narrow: &'static str, wide: &'static str) -> (&'static str, u64) {
    let total = d.n * d.c * d.s;
    if d.s.is_multiple_of(4) {
        (wide, invocations(total / 4))
    } else {
        (narrow, invocations(total))
    }
}

/// y = (x − mean)·scale + shift per channel.
pub(crate) fn normalize(dev: &Device, d: Dims, x: &wgpu::Buffer, stats: &wgpu::Buffer, y: &wgpu::Buffer) -> Result<()> {
    let params = d.params()?;
    let (entry, groups) = elementwise(d, "bn_normalize", "bn_normalize4");
    dispatch(dev, entry, &params, &[x, stats], &[y], groups)
}

/// Per-channel Σ g into `sum_g` and Σ g·x̂ into `sum_gx` (both [C]).
pub(crate) fn grad_sums(
    dev: &Device,
    d: Dims,
    x: &wgpu::Buffer,
    g: &wgpu::Buffer,
    stats: &wgpu::Buffer,
    sum_g: &wgpu::Buffer,
    sum_gx: &wgpu::Buffer,
) -> Result<()> {
    if d.c == 0 {
        return Ok(());
    }
    if d.m() == 0 {
        super::fill::launch(dev, d.c, 0.0, sum_g)?;
        return super::fill::launch(dev, d.c, 0.0, sum_gx);
    }
    let mut params = d.params()?;
    let sp = split(dev, d);
    params.chunk = sp.chunk as u32;
    params.out_parts = check_u32("batch norm partials", sp.parts)?;
    let (entry, groups) = if sp.group {
        ("bn_grad_sums_group", (sp.parts * d.c) as u64)
    } else {
        ("bn_grad_sums", invocations(sp.parts * d.c))
    };
    if sp.parts == 1 {
        // The partials are the sums.
        return dispatch(dev, entry, &params, &[x, g, stats], &[sum_g, sum_gx], groups);
    }
    let pg = dev.alloc_f32(d.c * sp.parts)?;
    let pgx = dev.alloc_f32(d.c * sp.parts)?;
    dispatch(
        dev,
        entry,
        &params,
        &[x, g, stats],
        &[pg.buffer(), pgx.buffer()],
        groups,
    )?;
    use reduce::ReduceOp::Sum;
    reduce::launch(dev, Sum, d.c, sp.parts, 1, 1.0, pg.buffer(), sum_g)?;
    reduce::launch(dev, Sum, d.c, sp.parts, 1, 1.0, pgx.buffer(), sum_gx)
}

/// dx: with `sums` = (Σ g, Σ g·x̂) (training), scale·(g − Σg/M − x̂·Σg·x̂/M);
/// without (eval), scale·g.
pub(crate) fn grad_input(
    dev: &Device,
    d: Dims,
    x: &wgpu::Buffer,
    g: &wgpu::Buffer,
    stats: &wgpu::Buffer,
    sums: Option<(&wgpu::Buffer, &wgpu::Buffer)>,
    dx: &wgpu::Buffer,
) -> Result<()> {
    let mut params = d.params()?;
    let (sg, sgx) = match sums {
        Some(s) => {
            params.flags = TRAINING;
            s
        }
        None => (stats, stats),
    };
    let (entry, groups) = elementwise(d, "bn_grad_input", "bn_grad_input4");
    dispatch(dev, entry, &params, &[x, g, stats, sg, sgx], &[dx], groups)
}
