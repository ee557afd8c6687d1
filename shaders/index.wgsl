// Index kernels along one axis of a tensor viewed as [outer, dim, inner].
//
// select_along  index_select: dst[o, j, i] = src[o, idx[j], i]
//               gather:       dst[o, j, i] = src[o, idx[o, j, i], i]   (idx shaped like dst)
// add_along     index_add:    dst[o, d, i] += Σ_{j: idx[j] = d} src[o, j, i]
//               scatter_add:  dst[o, d, i] += Σ_{j: idx[o, j, i] = d} src[o, j, i]
//
// The adding kernel runs one invocation per destination element, scanning
// indices j_begin..j_end (at most 4096; the launcher dispatches chunk after
// chunk, the first starting from the base or zeros, see BASE). Deterministic — no float atomics, a fixed summation order — and
// bounded per invocation for lavapipe's 65,535-iteration loop limit. Cost is
// outer·dim·inner·n_idx, which suits embedding tables and label picks
// (dim = classes); indices are range-checked on the host.

struct IndexParams {
    outer: u32,
    dim: u32,
    inner: u32,
    n_idx: u32,
    j_begin: u32,
    j_end: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: IndexParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> idx: array<u32>;
// The adding kernel's base (BASE = 1); the selecting kernel and the other
// BASE values leave it unread (the launcher binds src there).
@group(0) @binding(3) var<storage, read> base: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

// Where the adding kernel's sum starts (a pipeline constant):
//   0: dst itself (later chunks of indices: dst += sum)
//   1: the base buffer (dst = base + sum: index_add without a copy of the base first)
//   2: zeros (dst = sum: the backward of index_select / gather, without a
//      zero-filled tensor)
override BASE: u32 = 0u;

// PER_ELEMENT (a pipeline constant) says where the index of element
// (o, j, i) lives: idx[j] for index_select / index_add, idx[(o·n_idx + j)·inner + i]
// (same shape as the element's tensor) for gather / scatter_add.
override PER_ELEMENT: bool = false;

fn index_at(o: u32, j: u32, i: u32) -> u32 {
    if (PER_ELEMENT) {
        return idx[(o * p.n_idx + j) * p.inner + i];
    }
    return idx[j];
}

// index_select / gather: one invocation per output element [outer, n_idx, inner].
@compute @workgroup_size(256)
fn select_along(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let t = linear_id(wid, nwg, lid);
    if (t >= p.outer * p.n_idx * p.inner) {
        return;
    }
    let i = t % p.inner;
    let j = (t / p.inner) % p.n_idx;
    let o = t / (p.inner * p.n_idx);
    dst[t] = src[(o * p.dim + index_at(o, j, i)) * p.inner + i];
}

// index_add / scatter_add: one invocation per destination element [outer, dim, inner].
@compute @workgroup_size(256)
fn add_along(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let t = linear_id(wid, nwg, lid);
    if (t >= p.outer * p.dim * p.inner) {
        return;
    }
    let i = t % p.inner;
    let d = (t / p.inner) % p.dim;
    let o = t / (p.inner * p.dim);
    var acc = 0.0;
    for (var j = p.j_begin; j < p.j_end; j = j + 1u) {
        if (index_at(o, j, i) == d) {
            acc = acc + src[(o * p.n_idx + j) * p.inner + i];
        }
    }
    switch BASE {
        case 1u: { dst[t] = base[t] + acc; }
        case 2u: { dst[t] = 0.0 + acc; }
        default: { dst[t] = dst[t] + acc; }
    }
}
