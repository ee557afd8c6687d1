// Gated linear unit over one axis of a tensor viewed as [outer, 2·half, inner]:
// the axis is split into a = the first half and b = the second, and
//   glu_forward:   y = a ⊗ σ(b)                                  [outer, half, inner]
//   glu_backward:  da = g·σ(b),  db = g·a·σ(b)·(1 − σ(b))         [outer, 2·half, inner]
// with g the upstream gradient of y, and the backward of glu_backward (the
// double backward of a critic's gradient penalty), with u = [ua; ub] the
// upstream gradient of (da, db), s = σ(b), s' = s(1 − s), s'' = s'(1 − 2s):
//   glu_backward2: out  = [ub·g·s';  ua·g·s' + ub·g·a·s'']      (d/dx) [outer, 2·half, inner]
//                  out2 = ua·s + ub·a·s'                        (d/dg) [outer, half, inner]
//
// Thread mapping: one invocation per output element y[o, k, i] (256 per
// workgroup, 2-D folded grid); in the backward pass that invocation writes
// both dx[o, k, i] (da) and dx[o, half + k, i] (db), so every element of dx
// is written exactly once; glu_backward2 likewise, plus out2[o, k, i].
//
// Bindings: x, g, u (x again where unused), out, out2 (glu_backward2 only).

struct GluParams {
    n: u32,
    half: u32,
    inner: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: GluParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> u: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(5) var<storage, read_write> out2: array<f32>;

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

@compute @workgroup_size(256)
fn glu_backward2(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let e = linear_id(wid, nwg, lid);
    if (e >= p.n) {
        return;
    }
    let ia = a_offset(e);
    let ib = ia + p.half * p.inner;
    let a = x[ia];
    let s = glu_sigmoid(x[ib]);
    let s1 = s * (1.0 - s);
    let s2 = s1 * (1.0 - 2.0 * s);
    let ge = g[e];
    let ua = u[ia];
    let ub = u[ib];
    out[ia] = ub * ge * s1;
    out[ib] = ua * ge * s1 + ub * ge * a * s2;
    out2[e] = ua * s + ub * a * s1;
}
