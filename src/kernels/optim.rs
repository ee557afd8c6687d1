//! Launcher for `shaders/optim.wgsl`: Adam and SGD updates, one dispatch per
//! parameter tensor.

use bytemuck::{Pod, Zeroable};

use super::{check_u32, grid, OPTIM, WG};
use crate::device::{Device, Dispatch};
use crate::error::Result;

/// Mirrors `OptimParams` in `shaders/optim.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug, Default)]
pub struct OptimParams {
    pub n: u32,
    pub decoupled: u32,
    pub first: u32,
    pub nesterov: u32,
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub bc1: f32,
    pub bc2: f32,
    pub momentum: f32,
    pub dampening: f32,
    pub _pad0: u32,
    pub _pad1: u32,
    pub _pad2: u32,
}

pub(crate) fn adam(
    dev: &Device,
    p: OptimParams,
    grad: &wgpu::Buffer,
    param: &wgpu::Buffer,
    m: &wgpu::Buffer,
    v: &wgpu::Buffer,
) -> Result<()> {
    check_u32("adam elements", p.n as usize)?;
    dev.dispatch(&Dispatch {
        source: OPTIM,
        entry: "adam_step",
        constants: &[],
        params: bytemuck::bytes_of(&p),
        inputs: &[grad],
        outputs: &[param, m, v],
        workgroups: grid(
            (p.n as u64).div_ceil(WG as u64),
            dev.limits().max_compute_workgroups_per_dimension,
        )?,
        flops: 0.0,
        bytes: 0.0,
    })
}

pub(crate) fn sgd(
    dev: &Device,
    p: OptimParams,
    grad: &wgpu::Buffer,
    param: &wgpu::Buffer,
    momentum: &wgpu::Buffer,
) -> Result<()> {
    dev.dispatch(&Dispatch {
        source: OPTIM,
        entry: "sgd_step",
        constants: &[],
        params: bytemuck::bytes_of(&p),
        inputs: &[grad],
        outputs: &[param, momentum],
        workgroups: grid(
            (p.n as u64).div_ceil(WG as u64),
            dev.limits().max_compute_workgroups_per_dimension,
        )?,
        flops: 0.0,
        bytes: 0.0,
    })
}
