// Parameter updates, one invocation per parameter element (256 per workgroup).
//
// adam_step (Kingma & Ba; PyTorch's Adam/AdamW semantics):
//   g = grad + wd·θ                       (L2 form, decoupled = 0)
//   m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²
//   θ = θ·(1 - lr·wd)                     (decoupled = 1, AdamW)
//   θ = θ - lr · (m / bc1) / (sqrt(v / bc2) + ε),   bc = 1 - β^t
// sgd_step (PyTorch's SGD semantics):
//   g = grad + wd·θ
//   buf = first ? g : μ·buf + (1 - dampening)·g     (when μ != 0)
//   g = nesterov ? g + μ·buf : buf
//   θ = θ - lr·g

struct OptimParams {
    n: u32,
    decoupled: u32,
    first: u32,
    nesterov: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    bc1: f32,
    bc2: f32,
    momentum: f32,
    dampening: f32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: OptimParams;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> param: array<f32>;
@group(0) @binding(3) var<storage, read_write> state0: array<f32>;
@group(0) @binding(4) var<storage, read_write> state1: array<f32>;

@compute @workgroup_size(256)
fn adam_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    var theta = param[i];
    var g = grad[i];
    if (p.decoupled == 1u) {
        theta = theta * (1.0 - p.lr * p.weight_decay);
    } else {
        g = g + p.weight_decay * theta;
    }
    let m = p.beta1 * state0[i] + (1.0 - p.beta1) * g;
    let v = p.beta2 * state1[i] + (1.0 - p.beta2) * g * g;
    state0[i] = m;
    state1[i] = v;
    param[i] = theta - p.lr * (m / p.bc1) / (sqrt(v / p.bc2) + p.eps);
}

@compute @workgroup_size(256)
fn sgd_step(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    let theta = param[i];
    var g = grad[i] + p.weight_decay * theta;
    if (p.momentum != 0.0) {
        var buf = g;
        if (p.first == 0u) {
            buf = p.momentum * state0[i] + (1.0 - p.dampening) * g;
        }
        state0[i] = buf;
        g = select(buf, g + p.momentum * buf, p.nesterov == 1u);
    }
    param[i] = theta - p.lr * g;
}
