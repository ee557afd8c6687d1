// Gated linear unit over one axis of a tensor viewed as [outer, 2·half, inner]:
// the axis is split into a = the first half and b = the second, and
//   glu_forward:   y = a ⊗ σ(b)                                  [outer, half, inner]
//   glu_backward:  da = g·σ(b),  db = g·a·σ(b)·(1 − σ(b))         [outer, 2·half, inner]
// with g the upstream gradient of y.
//
// Thread mapping: one invocation per output element y[o, k, i] (256 per
// workgroup, 2-D folded grid); in the backward pass that invocation writes
// both dx[o, k, i] (da) and dx[o, half + k, i] (db), so every element of dx
// is written exactly once.
//
// Bindings: x, g (x again in the forward pass), out.

struct GluParams {
    n: u32,
    half: u32,
    inner: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: GluParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// σ(v) without overflow: e^(−v) is only formed for v ≥ 0.
fn glu_sigmoid(v: f32) -> f32 {
    if (v >= 0.0) {
        return 1.0 / (1.0 + exp(-v));
    }
    let e = exp(v);
    return e / (1.0 + e);
}

// Offset of a = x[o, k, i] for output element e; b sits half·inner further.
fn a_offset(e: u32) -> u32 {
    let i = e % p.inner;
    let ok = e / p.inner;
    let k = ok % p.half;
    let o = ok / p.half;
    return (o * 2u * p.half + k) * p.inner + i;
}

@compute @workgroup_size(256)
fn glu_forward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let e = linear_id(wid, nwg, lid);
    if (e >= p.n) {
        return;
    }
    let ia = a_offset(e);
    out[e] = x[ia] * glu_sigmoid(x[ia + p.half * p.inner]);
}

@compute @workgroup_size(256)
fn glu_backward(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let e = linear_id(wid, nwg, lid);
    if (e >= p.n) {
        return;
    }
    let ia = a_offset(e);
    let ib = ia + p.half * p.inner;
    let s = glu_sigmoid(x[ib]);
    let gs = g[e] * s;
    out[ia] = gs;
    out[ib] = gs * x[ia] * (1.0 - s);
}
