// Fused elementwise pieces of the losses and of the WGAN-GP penalty, one
// invocation per element (256 per workgroup, 2-D folded grid), no loops.
//
//   bce_logits_forward:  out[i] = softplus(x[i]) − x[i]·t(i)
//       softplus(x) = max(x, 0) + log1p(e^{−|x|}), with log1p(u) =
//       log(w)·u/(w − 1), w = 1 + u (u itself where w rounds to 1), exactly
//       as nn::loss::softplus composes it from single ops;
//   bce_logits_backward: out[i] = scale·g(i)·(σ(x[i]) − t(i));
//   gp_penalty_forward:  out[b] = λ·(sqrt(s[b] + ε) − 1)²,  s the per-sample
//       squared norms of the critic's input gradient;
//   gp_penalty_backward: out[i] = scale·g(0)·(1 − 1/sqrt(s[b] + ε))·x[i],
//       b = i / inner (scale = 2λ/B: d/dx of λ·mean_b (‖x_b‖ − 1)²);
//   lerp_rows:           out[i] = f[i] + α[b]·(r[i] − f[i]),  b = i / inner.
//
// t(i) is `target_value` (t_mode 0), t[0] (1) or t[i] (2); g(i) is g[0] (g_full 0)
// or g[i] (1).
//
// Bindings: a, b, c (read; an unused one is bound to a used buffer), out.
//   bce_logits_forward   a = x, b = t
//   bce_logits_backward  a = x, b = t, c = g
//   gp_penalty_forward   a = s
//   gp_penalty_backward  a = x, b = s, c = g
//   lerp_rows            a = r, b = f, c = α

struct LossParams {
    n: u32,
    inner: u32,
    t_mode: u32,
    g_full: u32,
    scale: f32,
    target_value: f32,
    lambda: f32,
    eps: f32,
}

@group(0) @binding(0) var<uniform> p: LossParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> c: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// σ(v) without overflow: e^(−v) is only formed for v ≥ 0.
fn loss_sigmoid(v: f32) -> f32 {
    if (v >= 0.0) {
        return 1.0 / (1.0 + exp(-v));
    }
    let e = exp(v);
    return e / (1.0 + e);
}

// max(v, 0) that keeps NaN (WGSL's max may drop it on LLVM drivers).
fn loss_relu(v: f32) -> f32 {
    if (is_nan(v)) {
        return v;
    }
    return max(v, 0.0);
}

fn target_at(i: u32) -> f32 {
    if (p.t_mode == 0u) {
        return p.target_value;
    }
    if (p.t_mode == 1u) {
        return b[0];
    }
    return b[i];
}

fn upstream_at(i: u32) -> f32 {
    return select(c[0], c[i], p.g_full == 1u);
}

@compute @workgroup_size(256)
fn bce_logits_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    let x = a[i];
    let u = exp(-abs(x));
    let w = u + 1.0;
    let wm1 = w + -1.0;
    let log1p_u = select(log(w) * u / wm1, u, wm1 == 0.0);
    out[i] = (loss_relu(x) + log1p_u) - x * target_at(i);
}

@compute @workgroup_size(256)
fn bce_logits_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    out[i] = p.scale * upstream_at(i) * (loss_sigmoid(a[i]) - target_at(i));
}

@compute @workgroup_size(256)
fn gp_penalty_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    let d = sqrt(a[i] + p.eps) - 1.0;
    out[i] = p.lambda * (d * d);
}

@compute @workgroup_size(256)
fn gp_penalty_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    let norm = sqrt(b[i / p.inner] + p.eps);
    out[i] = p.scale * c[0] * (1.0 - 1.0 / norm) * a[i];
}

@compute @workgroup_size(256)
fn lerp_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    let f = b[i];
    out[i] = f + c[i / p.inner] * (a[i] - f);
}
