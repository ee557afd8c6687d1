//! Launcher for `shaders/rng.wgsl`: Philox4x32-10 uniform and normal fills.

use bytemuck::{Pod, Zeroable};

use super::{check_u32, grid, RNG, WG};
use crate::device::{Device, Dispatch};
use crate::error::Result;

/// Mirrors `RngParams` in `shaders/rng.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug)]
pub struct RngParams {
    /// Values to write to `out`, from index 0.
    pub n: u32,
    /// Low 32 bits of the 64-bit seed (the Philox key).
    pub seed_lo: u32,
    /// High 32 bits of the seed.
    pub seed_hi: u32,
    /// Low 32 bits of the 64-bit stream offset (counter word 1; word 0 is the index of the
    /// group of 4 outputs).
    pub offset_lo: u32,
    /// High 32 bits of the stream offset (counter word 2).
    pub offset_hi: u32,
    /// 0: uniform on [a, b); 1: normal with mean a and standard deviation b.
    pub kind: u32,
    /// Uniform: lower bound; normal: mean.
    pub a: f32,
    /// Uniform: upper bound (excluded); normal: standard deviation.
    pub b: f32,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Distribution {
    /// Uniform on [low, high).
    Uniform { low: f32, high: f32 },
    /// Normal with mean and standard deviation.
    Normal { mean: f32, std: f32 },
}

/// Fill `n` values of `dst` from stream (`seed`, `offset`). Each call consumes
/// ceil(n / 4) counters; callers advance `offset` by that to get fresh numbers.
pub(crate) fn launch(
    dev: &Device,
    dist: Distribution,
    seed: u64,
    offset: u64,
    n: usize,
    dst: &wgpu::Buffer,
) -> Result<()> {
    let (kind, a, b) = match dist {
        Distribution::Uniform { low, high } => (0, low, high),
        Distribution::Normal { mean, std } => (1, mean, std),
    };
    let params = RngParams {
        n: check_u32("random elements", n)?,
        seed_lo: seed as u32,
        seed_hi: (seed >> 32) as u32,
        offset_lo: offset as u32,
        offset_hi: (offset >> 32) as u32,
        kind,
        a,
        b,
    };
    let threads = (n as u64).div_ceil(4);
    dev.dispatch(&Dispatch {
        source: RNG,
        entry: "random_fill",
        constants: &[],
        params: bytemuck::bytes_of(&params),
        inputs: &[],
        outputs: &[dst],
        workgroups: grid(
            threads.div_ceil(WG as u64),
            dev.limits().max_compute_workgroups_per_dimension,
        )?,
        flops: 0.0,
        bytes: 0.0,
    })
}
