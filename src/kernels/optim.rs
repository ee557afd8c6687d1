//! Launcher for `shaders/optim.wgsl`: multi-tensor Adam, SGD and RMSprop. One dispatch
//! updates up to [`slots_per_dispatch`] parameter tensors; the optimizer's
//! state (Adam's m and v, SGD's momentum) lives in flat buffers with one
//! offset per parameter.
//!
//! WGSL cannot index a list of bindings, so each parameter tensor and its
//! gradient are their own bindings, and the entry points that pick a tensor
//! by a `switch` are generated here for each tensor count (one module per
//! count, built once): `common.wgsl` + `optim.wgsl` + [`entry_points`].
//! A dispatch binds 2 flat state buffers and 2 buffers per tensor, so the
//! adapter's `max_storage_buffers_per_shader_stage` (8 on some adapters, 16 on
//! llvmpipe through GL, 32 on lavapipe) bounds the tensors per dispatch.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::{Mutex, OnceLock};

use bytemuck::{Pod, Zeroable};

use super::{check_u32, grid, WG};
use crate::device::{Device, Dispatch, ShaderSource};
use crate::error::{Error, Result};

/// Most tensors one dispatch updates (the uniform's `starts` table holds
/// `MAX_SLOTS + 1` entries).
pub const MAX_SLOTS: usize = 16;

/// Mirrors `OptimParams` in `shaders/optim.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable, Debug, Default)]
pub struct OptimParams {
    /// Elements the dispatch updates: the sum of its tensors' sizes (`starts[count]`).
    pub n: u32,
    /// Parameter tensors in the dispatch, 1 to [`MAX_SLOTS`].
    pub count: u32,
    /// Adam: 1 applies the weight decay to θ directly (AdamW), 0 adds it to the gradient (L2).
    pub decoupled: u32,
    /// SGD: 1 on the first step with momentum, where the momentum buffer starts as the gradient.
    pub first: u32,
    /// SGD: 1 for Nesterov momentum.
    pub nesterov: u32,
    /// Padding; 0.
    pub _pad0: u32,
    /// Padding; 0.
    pub _pad1: u32,
    /// Padding; 0.
    pub _pad2: u32,
    /// Learning rate.
    pub lr: f32,
    /// Adam: decay rate β1 of the first moment m.
    pub beta1: f32,
    /// Adam: decay rate β2 of the second moment v; RMSprop: its smoothing constant α.
    pub beta2: f32,
    /// Adam and RMSprop: ε added to the denominator.
    pub eps: f32,
    /// Weight decay factor (0: none).
    pub weight_decay: f32,
    /// Adam: bias correction 1 − β1^t of the first moment at step t.
    pub bc1: f32,
    /// Adam: bias correction 1 − β2^t of the second moment at step t.
    pub bc2: f32,
    /// SGD: momentum factor μ (0: plain SGD, the buffer is left as it is).
    pub momentum: f32,
    /// SGD: dampening of the gradient's share in the momentum buffer.
    pub dampening: f32,
    /// Pads `starts` to its 16-byte alignment; 0.
    pub _pad3: u32,
    /// Pads `starts` to its 16-byte alignment; 0.
    pub _pad4: u32,
    /// Pads `starts` to its 16-byte alignment; 0.
    pub _pad5: u32,
    /// `starts[k]`: first element of tensor k in the dispatch's flat range of `n` elements;
    /// `starts[count] = n`. 20 entries (`array<vec4<u32>, 5>`), `count + 1` used.
    pub starts: [u32; 20],
    /// `offsets[k]`: element offset of tensor k's state in the flat state buffers `s0` and `s1`;
    /// `count` entries used.
    pub offsets: [u32; 20],
}

/// Which update a dispatch runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Update {
    Adam,
    Sgd,
    RmsProp,
}

/// One parameter tensor of a dispatch: its gradient and values (`n`
/// elements each) and where its state starts in the flat state buffers.
pub(crate) struct Slot<'a> {
    pub grad: &'a wgpu::Buffer,
    pub param: &'a wgpu::Buffer,
    pub n: usize,
    pub state_offset: usize,
}

/// Tensors one dispatch may update on `dev`: 2 state buffers + 2 per tensor
/// within the adapter's storage-buffer limit, at most [`MAX_SLOTS`].
pub fn slots_per_dispatch(dev: &Device) -> usize {
    let storage = dev.limits().max_storage_buffers_per_shader_stage as usize;
    (storage.saturating_sub(2) / 2).clamp(1, MAX_SLOTS)
}

/// The bindings and entry points (`adam_multi`, `sgd_multi`, `rmsprop_multi`) for `count`
/// tensors, appended to `common.wgsl` + `optim.wgsl`.
pub fn entry_points(count: usize) -> String {
    let mut s = String::new();
    for k in 0..count {
        let _ = writeln!(s, "@group(0) @binding({}) var<storage, read> g{k}: array<f32>;", 1 + k);
    }
    let _ = writeln!(
        s,
        "@group(0) @binding({}) var<storage, read_write> s0: array<f32>;",
        1 + count
    );
    let _ = writeln!(
        s,
        "@group(0) @binding({}) var<storage, read_write> s1: array<f32>;",
        2 + count
    );
    for k in 0..count {
        let _ = writeln!(
            s,
            "@group(0) @binding({}) var<storage, read_write> w{k}: array<f32>;",
            3 + count + k
        );
    }
    for (entry, update) in [
        ("adam_multi", Update::Adam),
        ("sgd_multi", Update::Sgd),
        ("rmsprop_multi", Update::RmsProp),
    ] {
        let _ = writeln!(
            s,
            "\n@compute @workgroup_size(256)\n\
             fn {entry}(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,\n\
             \x20          @builtin(local_invocation_index) lid: u32) {{\n\
             \x20   let i = linear_id(wid, nwg, lid);\n\
             \x20   if (i >= p.n) {{\n\
             \x20       return;\n\
             \x20   }}\n\
             \x20   let k = slot_of(i);\n\
             \x20   let j = i - slot_start(k);\n\
             \x20   let s = state_offset(k) + j;\n\
             \x20   switch k {{"
        );
        for k in 0..count {
            let body = match update {
                Update::Adam => format!(
                    "let r = adam_update(w{k}[j], g{k}[j], s0[s], s1[s]); w{k}[j] = r.x; s0[s] = r.y; s1[s] = r.z;"
                ),
                Update::Sgd => format!("let r = sgd_update(w{k}[j], g{k}[j], s0[s]); w{k}[j] = r.x; s0[s] = r.y;"),
                Update::RmsProp => {
                    format!("let r = rmsprop_update(w{k}[j], g{k}[j], s0[s]); w{k}[j] = r.x; s0[s] = r.y;")
                }
            };
            let _ = writeln!(s, "        case {k}u: {{ {body} }}");
        }
        let _ = writeln!(s, "        default: {{}}\n    }}\n}}");
    }
    s
}

/// The shader source for `count` tensors per dispatch (built once per count
/// and kept for the process, like the pipelines made from it).
pub fn source(count: usize) -> ShaderSource {
    static SOURCES: OnceLock<Mutex<HashMap<usize, ShaderSource>>> = OnceLock::new();
    let mut map = SOURCES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    *map.entry(count).or_insert_with(|| {
        let wgsl = format!(
            "{}\n{}\n{}",
            include_str!("../../shaders/common.wgsl"),
            include_str!("../../shaders/optim.wgsl"),
            entry_points(count)
        );
        ShaderSource {
            file: Box::leak(format!("optim{count}.wgsl").into_boxed_str()),
            wgsl: Box::leak(wgsl.into_boxed_str()),
        }
    })
}

/// Update the tensors of `slots` (at most [`slots_per_dispatch`], none sharing
/// a parameter buffer) in one dispatch. `p` carries the hyper-parameters; the
/// counts and tables are filled here. `s1` is unused by SGD (bind any buffer
/// other than `s0`).
pub(crate) fn multi(
    dev: &Device,
    update: Update,
    mut p: OptimParams,
    slots: &[Slot<'_>],
    s0: &wgpu::Buffer,
    s1: &wgpu::Buffer,
) -> Result<()> {
    if slots.is_empty() {
        return Ok(());
    }
    if slots.len() > slots_per_dispatch(dev) {
        return Err(Error::invalid(
            "optimizer",
            format!(
                "{} tensors in one dispatch, more than the {} this adapter binds",
                slots.len(),
                slots_per_dispatch(dev)
            ),
        ));
    }
    let mut total = 0usize;
    for (k, s) in slots.iter().enumerate() {
        p.starts[k] = check_u32("optimizer elements per dispatch", total)?;
        p.offsets[k] = check_u32("optimizer state elements", s.state_offset)?;
        total += s.n;
    }
    p.n = check_u32("optimizer elements per dispatch", total)?;
    p.starts[slots.len()] = p.n;
    p.count = slots.len() as u32;
    let grads: Vec<&wgpu::Buffer> = slots.iter().map(|s| s.grad).collect();
    let mut outputs: Vec<&wgpu::Buffer> = vec![s0, s1];
    outputs.extend(slots.iter().map(|s| s.param));
    let (entry, per_element) = match update {
        // Bytes read and written per element: g, θ, m, v in and θ, m, v out;
        // g, θ, buf in and θ, buf out.
        Update::Adam => ("adam_multi", 28.0),
        Update::Sgd => ("sgd_multi", 20.0),
        // g, θ, v in and θ, v out.
        Update::RmsProp => ("rmsprop_multi", 20.0),
    };
    dev.dispatch(&Dispatch {
        source: source(slots.len()),
        entry,
        constants: &[],
        params: bytemuck::bytes_of(&p),
        inputs: &grads,
        outputs: &outputs,
        workgroups: grid(
            (total as u64).div_ceil(WG as u64),
            dev.limits().max_compute_workgroups_per_dimension,
        )?,
        flops: 0.0,
        bytes: per_element * total as f64,
    })
}
