// Row softmax and log-softmax over the middle axis of a tensor viewed as
// [outer, len, inner], and their fused backward passes.
//
// Row r (r < outer·inner, o = r / inner, i = r % inner) holds the elements
// x[(o·len + j)·inner + i], j < len. Every kernel works on the row's running
// statistics st = (m, s, t): m the maximum so far, s = Σ_j e^(x_j − m) and,
// for the backward modes, t = Σ_j g_j·e^(x_j − m) (softmax) or t = Σ_j g_j
// (log-softmax). Adding an element v > m rescales s and t by e^(m − v)
// ("online softmax"), so one pass over a row gives all three; two partial
// statistics merge the same way, which lets long rows be split into chunks.
//
// MODE (pipeline constant) picks what is written per element, with
// y = e^(x − m)/s:
//   0 softmax               y
//   1 log-softmax           x − m − ln s
//   2 softmax backward      y·(g − t/s)              (t/s = Σ g·y)
//   3 log-softmax backward  g − y·t                  (t = Σ g)
//
// Entry points and thread mapping:
//   softmax_row     one invocation per row, 64 per workgroup, no barriers
//                   (CPU drivers; also short rows and inner > 1 on GPUs).
//                   Loops 2·len times: the launcher keeps len ≤ 8,192.
//   softmax_row_wg  one 256-invocation workgroup per row: strided partial
//                   statistics per invocation, pairwise merge tree in
//                   workgroup memory, then a strided write (GPUs). Loops
//                   2·⌈len/256⌉ + 8 times: the launcher keeps len ≤ 65,536.
//   softmax_stats   one invocation per (row, chunk of `chunk` elements):
//                   partial statistics of long rows.
//   softmax_merge   one invocation per (row, chunk of `chunk` partials):
//                   merges partials until one is left per row.
//   softmax_write   one invocation per element, from the row's statistics.
// Every loop is bounded by `chunk` or by the launcher's row limits, so no
// invocation comes near lavapipe's 65,535-iteration loop budget.
//
// Bindings are the same for every entry point: x, g (the upstream gradient;
// x again in the forward modes), the partial statistics read by
// merge/write (x when unused), then the output.

struct SoftmaxParams {
    rows: u32,
    len: u32,
    inner: u32,
    chunks: u32,
    chunk: u32,
    n: u32,
    _pad0: u32,
    _pad1: u32,
}

override MODE: u32 = 0u;

const ROW_WG: u32 = 64u;

@group(0) @binding(0) var<uniform> p: SoftmaxParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(3) var<storage, read> part_in: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> part_out: array<vec4<f32>>;

var<workgroup> tree: array<vec4<f32>, 256>;

// Statistics of an empty set: m = −∞, s = t = 0.
fn empty_stats() -> vec4<f32> {
    return vec4<f32>(-inf_f32(), 0.0, 0.0, 0.0);
}

// Add one element v (upstream gradient gv) to the statistics. One exp per
// element: e = e^(−|v − m|) is e^(m − v) when v is the new maximum and
// e^(v − m) otherwise. A −∞ element has weight 0 and is skipped outright
// (−∞ − −∞ would be NaN); NaN in v or m makes e NaN, which propagates.
fn push(st: vec4<f32>, v: f32, gv: f32) -> vec4<f32> {
    let big = v > st.x;
    let e = exp(-abs(v - st.x));
    let m = select(st.x, v, big);
    let s = select(st.y + e, st.y * e + 1.0, big);
    var t = 0.0;
    if (MODE == 2u) {
        t = select(st.z + gv * e, st.z * e + gv, big);
    } else if (MODE == 3u) {
        t = st.z + gv;
    }
    return select(vec4<f32>(m, s, t, 0.0), st, v == -inf_f32());
}

// Merge two partial statistics. An empty side (m = −∞) has weight 0.
fn merge(a: vec4<f32>, b: vec4<f32>) -> vec4<f32> {
    let m = max_nan(a.x, b.x);
    let wa = select(exp(a.x - m), 0.0, a.x == -inf_f32());
    let wb = select(exp(b.x - m), 0.0, b.x == -inf_f32());
    var t = 0.0;
    if (MODE == 2u) {
        t = a.z * wa + b.z * wb;
    } else if (MODE == 3u) {
        t = a.z + b.z;
    }
    return vec4<f32>(m, a.y * wa + b.y * wb, t, 0.0);
}

// The output for one element from its row's finished statistics;
// `inv_s` = 1/s.
fn finish(v: f32, gv: f32, st: vec4<f32>, inv_s: f32) -> f32 {
    if (MODE == 1u) {
        return v - st.x - log(st.y);
    }
    let y = exp(v - st.x) * inv_s;
    if (MODE == 2u) {
        return y * (gv - st.z * inv_s);
    }
    if (MODE == 3u) {
        return gv - y * st.z;
    }
    return y;
}

// The upstream gradient at element k, read only by the backward modes.
fn grad_at(k: u32) -> f32 {
    if (MODE >= 2u) {
        return g[k];
    }
    return 0.0;
}

// Offset of element 0 of row r.
fn row_base(r: u32) -> u32 {
    let o = r / p.inner;
    return o * p.len * p.inner + (r - o * p.inner);
}

@compute @workgroup_size(64)
fn softmax_row(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let r = group_id(wid, nwg) * ROW_WG + lid;
    if (r >= p.rows) {
        return;
    }
    let base = row_base(r);
    var st = empty_stats();
    for (var j = 0u; j < p.len; j = j + 1u) {
        let k = base + j * p.inner;
        st = push(st, x[k], grad_at(k));
    }
    let inv_s = 1.0 / st.y;
    for (var j = 0u; j < p.len; j = j + 1u) {
        let k = base + j * p.inner;
        out[k] = finish(x[k], grad_at(k), st, inv_s);
    }
}

@compute @workgroup_size(256)
fn softmax_row_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let r = group_id(wid, nwg);
    // Rows past the end (folded grid) still take part in the barriers.
    let live = r < p.rows;
    var base = 0u;
    var st = empty_stats();
    if (live) {
        base = row_base(r);
        for (var j = lid; j < p.len; j = j + WG) {
            let k = base + j * p.inner;
            st = push(st, x[k], grad_at(k));
        }
    }
    tree[lid] = st;
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h = h >> 1u) {
        if (lid < h) {
            tree[lid] = merge(tree[lid], tree[lid + h]);
        }
        workgroupBarrier();
    }
    let row = tree[0];
    if (!live) {
        return;
    }
    let inv_s = 1.0 / row.y;
    for (var j = lid; j < p.len; j = j + WG) {
        let k = base + j * p.inner;
        out[k] = finish(x[k], grad_at(k), row, inv_s);
    }
}

// Partial statistics of chunk c of row r, written to part_out[r·chunks + c].
// Invocation q ↦ (o, c, i) with i fastest, so neighbours read neighbouring
// elements when inner > 1.
@compute @workgroup_size(256)
fn softmax_stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let q = linear_id(wid, nwg, lid);
    if (q >= p.rows * p.chunks) {
        return;
    }
    let i = q % p.inner;
    let c = (q / p.inner) % p.chunks;
    let o = q / (p.inner * p.chunks);
    let r = o * p.inner + i;
    let base = row_base(r);
    let start = c * p.chunk;
    let stop = min(start + p.chunk, p.len);
    var st = empty_stats();
    for (var j = start; j < stop; j = j + 1u) {
        let k = base + j * p.inner;
        st = push(st, x[k], grad_at(k));
    }
    part_out[r * p.chunks + c] = st;
}

// Merge chunk c of row r's `len` partials (part_in[r·len ..]) into
// part_out[r·chunks + c].
@compute @workgroup_size(256)
fn softmax_merge(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let q = linear_id(wid, nwg, lid);
    if (q >= p.rows * p.chunks) {
        return;
    }
    let r = q / p.chunks;
    let c = q % p.chunks;
    let start = c * p.chunk;
    let stop = min(start + p.chunk, p.len);
    var st = empty_stats();
    for (var j = start; j < stop; j = j + 1u) {
        st = merge(st, part_in[r * p.len + j]);
    }
    part_out[q] = st;
}

// out[k] for element k of the [outer, len, inner] tensor, from part_in[row].
@compute @workgroup_size(256)
fn softmax_write(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let k = linear_id(wid, nwg, lid);
    if (k >= p.n) {
        return;
    }
    let i = k % p.inner;
    let o = k / (p.len * p.inner);
    let st = part_in[o * p.inner + i];
    out[k] = finish(x[k], grad_at(k), st, 1.0 / st.y);
}
