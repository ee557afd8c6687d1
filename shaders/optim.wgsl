// Multi-tensor parameter updates: one dispatch updates up to `count`
// parameter tensors, one invocation per parameter element (256 per workgroup).
//
// This file holds the uniform and the update rules. The bindings and the
// entry points depend on `count`, so src/kernels/optim.rs appends them (one
// module per count, cached): for k = 0..count-1, `g{k}` (read-only, the k-th
// gradient), then the optimizer's flat state `s0`, `s1` (read-write), then
// `w{k}` (read-write, the k-th parameter). Tensor k covers the global
// elements [starts[k], starts[k+1]) of the dispatch, and its state starts at
// element offsets[k] of `s0` and `s1`.
//
// adam_update (Kingma & Ba; PyTorch's Adam/AdamW semantics):
//   g = grad + wd·θ                       (L2 form, decoupled = 0)
//   m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²
//   θ = θ·(1 - lr·wd)                     (decoupled = 1, AdamW)
//   θ = θ - lr · (m / bc1) / (sqrt(v / bc2) + ε),   bc = 1 - β^t
// rmsprop_update (PyTorch's RMSprop, not centered, without momentum; α is
// carried in beta2):
//   g = grad + wd·θ;  v = α·v + (1-α)·g²;  θ = θ - lr·g / (sqrt(v) + ε)
// sgd_update (PyTorch's SGD semantics):
//   g = grad + wd·θ
//   buf = first ? g : μ·buf + (1 - dampening)·g     (when μ != 0)
//   g = nesterov ? g + μ·buf : buf
//   θ = θ - lr·g

struct OptimParams {
    n: u32,
    count: u32,
    decoupled: u32,
    first: u32,
    nesterov: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    weight_decay: f32,
    bc1: f32,
    bc2: f32,
    momentum: f32,
    dampening: f32,
    _pad3: u32,
    _pad4: u32,
    _pad5: u32,
    // starts[k]: first global element of tensor k; starts[count] = n.
    starts: array<vec4<u32>, 5>,
    // offsets[k]: where tensor k's state begins in s0 and s1.
    offsets: array<vec4<u32>, 5>,
}

@group(0) @binding(0) var<uniform> p: OptimParams;

fn slot_start(k: u32) -> u32 {
    return p.starts[k / 4u][k % 4u];
}

fn state_offset(k: u32) -> u32 {
    return p.offsets[k / 4u][k % 4u];
}

// The tensor holding global element i: the last k with starts[k] <= i. At most
// 16 iterations (count <= MAX_SLOTS in src/kernels/optim.rs), whatever the size.
fn slot_of(i: u32) -> u32 {
    var k = 0u;
    for (var t = 1u; t < p.count; t = t + 1u) {
        if (i >= slot_start(t)) {
            k = t;
        }
    }
    return k;
}

// One Adam element: (θ, g, m, v) -> (θ', m', v').
fn adam_update(theta_in: f32, grad: f32, m_in: f32, v_in: f32) -> vec3<f32> {
    var theta = theta_in;
    var g = grad;
    if (p.decoupled == 1u) {
        theta = theta * (1.0 - p.lr * p.weight_decay);
    } else {
        g = g + p.weight_decay * theta;
    }
    let m = p.beta1 * m_in + (1.0 - p.beta1) * g;
    let v = p.beta2 * v_in + (1.0 - p.beta2) * g * g;
    return vec3<f32>(theta - p.lr * (m / p.bc1) / (sqrt(v / p.bc2) + p.eps), m, v);
}

// One SGD element: (θ, g, buf) -> (θ', buf'); buf is returned unchanged
// without momentum.
fn sgd_update(theta: f32, grad: f32, buf_in: f32) -> vec2<f32> {
    var g = grad + p.weight_decay * theta;
    var buf = buf_in;
    if (p.momentum != 0.0) {
        buf = g;
        if (p.first == 0u) {
            buf = p.momentum * buf_in + (1.0 - p.dampening) * g;
        }
        g = select(buf, g + p.momentum * buf, p.nesterov == 1u);
    }
    return vec2<f32>(theta - p.lr * g, buf);
}

// One RMSprop element: (θ, g, v) -> (θ', v').
fn rmsprop_update(theta: f32, grad: f32, v_in: f32) -> vec2<f32> {
    let g = grad + p.weight_decay * theta;
    let v = p.beta2 * v_in + (1.0 - p.beta2) * g * g;
    return vec2<f32>(theta - p.lr * g / (sqrt(v) + p.eps), v);
}
