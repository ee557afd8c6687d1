// Batch normalisation over x viewed as [N, C, S] (S = product of the spatial
// axes, 1 for [N, C]). Per channel c the reduction runs over the M = N·S
// elements x[n, c, s]; element j ∈ [0, M) of channel c is n = j / S, s = j % S.
//
// Forward, training mode (src/kernels/batchnorm.rs sequences the passes):
//   bn_stats / bn_stats_group  x → per-(channel, chunk) partials (mean_k, M2_k),
//       M2_k = Σ (x − mean_k)² over the chunk: the chunk mean first, then
//       centred squares (never E[x²] − E[x]²).
//   bn_merge                   partials → fewer partials: mean = Σ n_k·mean_k / n,
//       then M2 = Σ M2_k + Σ n_k·(mean_k − mean)², repeated while more than
//       MERGE partials per channel remain.
//   bn_finalize[_running]      partials → stats [4, C] = (mean, invstd, scale, shift)
//       with invstd = 1/√(M2/M + ε), scale = γ·invstd, shift = β; the
//       `_running` entry also updates running_mean/var in place with
//       r ← (1 − momentum)·r + momentum·batch, the variance unbiased (M2/(M − 1)).
// Forward, eval mode:
//   bn_eval_stats              running_mean/var → stats [4, C].
// Both modes:
//   bn_normalize               y = (x − mean)·scale + shift.
// Backward (the fused path, used when no graph is being built):
//   bn_grad_sums / bn_grad_sums_group  x, g → partials of Σ g and Σ g·x̂,
//       x̂ = (x − mean)·invstd; the launcher sums them (reduce.wgsl) into
//       dβ = Σ g and dγ = Σ g·x̂.
//   bn_grad_input              training: dx = scale·(g − Σg/M − x̂·Σg·x̂/M);
//                              eval: dx = scale·g.
//
// Thread mapping.
//   bn_stats, bn_grad_sums ("lanes"; CPU drivers always, GPUs when S < 32):
//     one invocation per (chunk k, channel c), index k·C + c, so neighbouring
//     invocations read neighbouring channels; each walks its chunk of p.chunk
//     consecutive j (at most 4096, twice for the statistics) as contiguous
//     runs, one per sample n.
//   bn_stats_group, bn_grad_sums_group (GPUs, S ≥ 32): one 256-invocation
//     workgroup per (chunk k, channel c) of GROUP_CHUNK = 4096 consecutive j,
//     invocation t reading j = start + 256·e + t (coalesced along s), then a
//     pairwise tree in workgroup memory. On lavapipe these are 3× slower than
//     the lanes entries (barriers), hence the split by tuning.
//   merge / finalize: one invocation per (output partial, channel) / channel,
//     each merging at most MERGE partials.
//   normalize / grad_input: one invocation per element, 256-wide workgroups,
//     2-D folded grid; the `4` entries (S % 4 = 0) take 4 elements of one
//     channel per invocation.
// Every invocation runs at most 4·4096 loop iterations in all (S = 1: two
// passes of 4096 one-element runs, each run an outer and an inner iteration),
// far below the 65,535 after which lavapipe silently stops loops; long
// channels are split across invocations and merge passes instead.
//
// Bindings: every dispatch binds exactly five read-only inputs (bindings 1–5;
// launchers repeat the first input where an entry needs fewer), then its
// read-write outputs from binding 6.

struct BatchNormParams {
    n: u32,
    c: u32,
    s: u32,
    m: u32,
    total: u32,
    chunk: u32,
    parts: u32,
    out_parts: u32,
    flags: u32,
    eps: f32,
    momentum: f32,
    _pad0: u32,
}

// flags
const HAS_WEIGHT: u32 = 1u;
const HAS_BIAS: u32 = 2u;
const TRAINING: u32 = 4u;

const GROUP_CHUNK: u32 = 4096u;
const MERGE: u32 = 256u;

@group(0) @binding(0) var<uniform> p: BatchNormParams;

// Bindings by role. A binding has one name per role it plays and each entry
// point uses one name per binding (WGSL allows aliased bindings used by
// different entry points, as in matmul.wgsl).
//
// Inputs (read-only):
//   1  x: stats, grad_sums, grad_input, normalize · parts_in: merge, finalize
//      · running_mean_in: eval_stats
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> parts_in: array<f32>;
@group(0) @binding(1) var<storage, read> running_mean_in: array<f32>;
//   2  g: grad_sums, grad_input · running_var_in: eval_stats · norm_stats
//      (the stats [4, C]): normalize
@group(0) @binding(2) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> running_var_in: array<f32>;
@group(0) @binding(2) var<storage, read> norm_stats: array<f32>;
//   3  stats [4, C]: grad_sums, grad_input · weight (γ): finalize, eval_stats
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read> weight: array<f32>;
//   4  sum_g (Σ g): grad_input · bias (β): finalize, eval_stats
@group(0) @binding(4) var<storage, read> sum_g: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;
//   5  sum_gx (Σ g·x̂): grad_input
@group(0) @binding(5) var<storage, read> sum_gx: array<f32>;

// Outputs (read-write):
//   6  parts_out [2, C, out_parts]: stats, merge · stats_out [4, C]: finalize,
//      eval_stats · y: normalize · dx: grad_input · part_g (partial Σ g
//      [C, out_parts]): grad_sums
@group(0) @binding(6) var<storage, read_write> parts_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> stats_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> part_g: array<f32>;
//   7  running_mean: finalize_running · part_gx (partial Σ g·x̂ [C, out_parts]):
//      grad_sums
@group(0) @binding(7) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(7) var<storage, read_write> part_gx: array<f32>;
//   8  running_var: finalize_running
@group(0) @binding(8) var<storage, read_write> running_var: array<f32>;

// The same bindings seen 4 wide, for the elementwise entries when S % 4 = 0
// (then 4 consecutive elements share a channel): x4 (1), g4 (2), y4 and dx4 (6).
@group(0) @binding(1) var<storage, read> x4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> g4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> y4: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read_write> dx4: array<vec4<f32>>;

var<workgroup> tree_a: array<f32, 256>;
var<workgroup> tree_b: array<f32, 256>;

// Offset of element j of channel c in x (and g).
fn elem_offset(c: u32, j: u32) -> u32 {
    let n = j / p.s;
    return (n * p.c + c) * p.s + (j - n * p.s);
}

// Number of elements of channel c covered by partial k when each partial
// covers `span` consecutive j.
fn part_count(k: u32, span: u32) -> f32 {
    return f32(min(span, p.m - k * span));
}

// Pairwise sums of tree_a (and tree_b) over the workgroup; the result is in
// element 0. Ends with a barrier, so every invocation may read it.
fn tree_sum_a(lid: u32) {
    workgroupBarrier();
    for (var w = WG / 2u; w > 0u; w = w >> 1u) {
        if (lid < w) {
            tree_a[lid] = tree_a[lid] + tree_a[lid + w];
        }
        workgroupBarrier();
    }
}

fn tree_sum_ab(lid: u32) {
    workgroupBarrier();
    for (var w = WG / 2u; w > 0u; w = w >> 1u) {
        if (lid < w) {
            tree_a[lid] = tree_a[lid] + tree_a[lid + w];
            tree_b[lid] = tree_b[lid] + tree_b[lid + w];
        }
        workgroupBarrier();
    }
}

// ---------------------------------------------------------------- statistics

@compute @workgroup_size(256)
fn bn_stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.out_parts * p.c) {
        return;
    }
    let c = i % p.c;
    let k = i / p.c;
    let j0 = k * p.chunk;
    let len = min(p.chunk, p.m - j0);
    let n0 = j0 / p.s;
    let s0 = j0 - n0 * p.s;
    let start = (n0 * p.c + c) * p.s + s0;
    let jump = (p.c - 1u) * p.s;
    // Pass 1: the chunk's mean, summing x − x_first (Kahan-compensated): the
    // shift keeps the terms small when the channel sits far from 0, so the
    // sum does not lose the low bits of every term (this matters even where
    // a driver's fast-math drops the compensation).
    let shift = x[start];
    // The chunk is walked as contiguous segments, one per sample n (the
    // first may start mid-plane): an inner loop without index bookkeeping.
    var sum = 0.0;
    var comp = 0.0;
    var a = start;
    var seg = 0u;
    for (var t = 0u; t < len; t = t + seg) {
        seg = min(p.s - select(0u, s0, t == 0u), len - t);
        for (var e = a; e < a + seg; e = e + 1u) {
            let y = (x[e] - shift) - comp;
            let u = sum + y;
            comp = (u - sum) - y;
            sum = u;
        }
        a = a + seg + jump;
    }
    let mean = shift + sum / f32(len);
    // Pass 2: centred squares over the same chunk (cache-hot).
    var m2 = 0.0;
    a = start;
    for (var t = 0u; t < len; t = t + seg) {
        seg = min(p.s - select(0u, s0, t == 0u), len - t);
        for (var e = a; e < a + seg; e = e + 1u) {
            let d = x[e] - mean;
            m2 = m2 + d * d;
        }
        a = a + seg + jump;
    }
    let o = c * p.out_parts + k;
    parts_out[o] = mean;
    parts_out[p.c * p.out_parts + o] = m2;
}

@compute @workgroup_size(256)
fn bn_stats_group(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let grp = group_id(wid, nwg);
    // Uniform per workgroup: the whole group returns together or not at all.
    if (grp >= p.out_parts * p.c) {
        return;
    }
    let c = grp % p.c;
    let k = grp / p.c;
    let j0 = k * GROUP_CHUNK;
    let j1 = min(j0 + GROUP_CHUNK, p.m);
    // Shifted by the chunk's first value, as in bn_stats.
    let shift = x[elem_offset(c, j0)];
    var sum = 0.0;
    for (var j = j0 + lid; j < j1; j = j + WG) {
        sum = sum + (x[elem_offset(c, j)] - shift);
    }
    tree_a[lid] = sum;
    tree_sum_a(lid);
    let mean = shift + tree_a[0] / f32(j1 - j0);
    workgroupBarrier();
    var m2 = 0.0;
    for (var j = j0 + lid; j < j1; j = j + WG) {
        let d = x[elem_offset(c, j)] - mean;
        m2 = m2 + d * d;
    }
    tree_a[lid] = m2;
    tree_sum_a(lid);
    if (lid == 0u) {
        let o = c * p.out_parts + k;
        parts_out[o] = mean;
        parts_out[p.c * p.out_parts + o] = tree_a[0];
    }
}

// Merge at most MERGE partials of channel c starting at partial k0 (p.chunk is
// the span of each input partial), again mean first, then centred terms:
//   n = Σ n_k,  mean = m_0 + Σ n_k·(mean_k − m_0) / n  (Kahan-compensated,
//   shifted by the first partial's mean m_0 as in bn_stats),
//   M2 = Σ M2_k + Σ n_k·(mean_k − mean)²  (the exact split of the sum of
//   squares into within- and between-partial parts).
// Merging running means one partial at a time (Chan et al.) would round the
// mean at every step: 256 roundings of a mean near 1000 drift by ~1e-4.
// Returns (count, mean, M2).
fn merge_parts(c: u32, k0: u32) -> vec3<f32> {
    let k1 = min(k0 + MERGE, p.parts);
    let base = c * p.parts;
    let m2_base = p.c * p.parts + base;
    let shift = parts_in[base + k0];
    var n = 0.0;
    var sum = 0.0;
    var comp = 0.0;
    for (var k = k0; k < k1; k = k + 1u) {
        let nk = part_count(k, p.chunk);
        n = n + nk;
        let y = nk * (parts_in[base + k] - shift) - comp;
        let u = sum + y;
        comp = (u - sum) - y;
        sum = u;
    }
    let mean = shift + sum / n;
    var m2 = 0.0;
    for (var k = k0; k < k1; k = k + 1u) {
        let d = parts_in[base + k] - mean;
        m2 = m2 + parts_in[m2_base + k] + part_count(k, p.chunk) * d * d;
    }
    return vec3<f32>(n, mean, m2);
}

@compute @workgroup_size(256)
fn bn_merge(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.out_parts * p.c) {
        return;
    }
    let c = i % p.c;
    let k = i / p.c;
    let r = merge_parts(c, k * MERGE);
    let o = c * p.out_parts + k;
    parts_out[o] = r.y;
    parts_out[p.c * p.out_parts + o] = r.z;
}

// Writes stats [4, C] for channel c from (mean, biased variance).
fn write_stats(c: u32, mean: f32, var_b: f32) {
    let invstd = 1.0 / sqrt(var_b + p.eps);
    var w = 1.0;
    if ((p.flags & HAS_WEIGHT) != 0u) {
        w = weight[c];
    }
    var b = 0.0;
    if ((p.flags & HAS_BIAS) != 0u) {
        b = bias[c];
    }
    stats_out[c] = mean;
    stats_out[p.c + c] = invstd;
    stats_out[2u * p.c + c] = w * invstd;
    stats_out[3u * p.c + c] = b;
}

@compute @workgroup_size(256)
fn bn_finalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let c = linear_id(wid, nwg, lid);
    if (c >= p.c) {
        return;
    }
    let r = merge_parts(c, 0u);
    write_stats(c, r.y, r.z / f32(p.m));
}

@compute @workgroup_size(256)
fn bn_finalize_running(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                       @builtin(local_invocation_index) lid: u32) {
    let c = linear_id(wid, nwg, lid);
    if (c >= p.c) {
        return;
    }
    let r = merge_parts(c, 0u);
    write_stats(c, r.y, r.z / f32(p.m));
    let keep = 1.0 - p.momentum;
    running_mean[c] = keep * running_mean[c] + p.momentum * r.y;
    running_var[c] = keep * running_var[c] + p.momentum * (r.z / f32(p.m - 1u));
}

@compute @workgroup_size(256)
fn bn_eval_stats(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let c = linear_id(wid, nwg, lid);
    if (c >= p.c) {
        return;
    }
    write_stats(c, running_mean_in[c], running_var_in[c]);
}

// ---------------------------------------------------------------- normalise

@compute @workgroup_size(256)
fn bn_normalize(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.total) {
        return;
    }
    let c = (i / p.s) % p.c;
    y[i] = (x[i] - norm_stats[c]) * norm_stats[2u * p.c + c] + norm_stats[3u * p.c + c];
}

// As bn_normalize, 4 elements of one channel per invocation (S % 4 = 0): one
// integer division per 4 elements and 4-wide loads and stores.
@compute @workgroup_size(256)
fn bn_normalize4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.total / 4u) {
        return;
    }
    let c = (i / (p.s / 4u)) % p.c;
    y4[i] = (x4[i] - vec4<f32>(norm_stats[c])) * norm_stats[2u * p.c + c] + vec4<f32>(norm_stats[3u * p.c + c]);
}

// ---------------------------------------------------------------- backward

@compute @workgroup_size(256)
fn bn_grad_sums(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.out_parts * p.c) {
        return;
    }
    let c = i % p.c;
    let k = i / p.c;
    let j0 = k * p.chunk;
    let len = min(p.chunk, p.m - j0);
    let n0 = j0 / p.s;
    let s0 = j0 - n0 * p.s;
    let jump = (p.c - 1u) * p.s;
    let mean = stats[c];
    // Kahan-compensated Σ g and Σ g·(x − mean).
    var sg = 0.0;
    var cg = 0.0;
    var sgx = 0.0;
    var cgx = 0.0;
    // Contiguous segments, as in bn_stats.
    var a = (n0 * p.c + c) * p.s + s0;
    var seg = 0u;
    for (var t = 0u; t < len; t = t + seg) {
        seg = min(p.s - select(0u, s0, t == 0u), len - t);
        for (var e = a; e < a + seg; e = e + 1u) {
            let gv = g[e];
            let y1 = gv - cg;
            let u1 = sg + y1;
            cg = (u1 - sg) - y1;
            sg = u1;
            let y2 = gv * (x[e] - mean) - cgx;
            let u2 = sgx + y2;
            cgx = (u2 - sgx) - y2;
            sgx = u2;
        }
        a = a + seg + jump;
    }
    let o = c * p.out_parts + k;
    part_g[o] = sg;
    part_gx[o] = sgx * stats[p.c + c];
}

@compute @workgroup_size(256)
fn bn_grad_sums_group(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                      @builtin(local_invocation_index) lid: u32) {
    let grp = group_id(wid, nwg);
    if (grp >= p.out_parts * p.c) {
        return;
    }
    let c = grp % p.c;
    let k = grp / p.c;
    let j0 = k * GROUP_CHUNK;
    let j1 = min(j0 + GROUP_CHUNK, p.m);
    let mean = stats[c];
    var sg = 0.0;
    var sgx = 0.0;
    for (var j = j0 + lid; j < j1; j = j + WG) {
        let a = elem_offset(c, j);
        let gv = g[a];
        sg = sg + gv;
        sgx = sgx + gv * (x[a] - mean);
    }
    tree_a[lid] = sg;
    tree_b[lid] = sgx;
    tree_sum_ab(lid);
    if (lid == 0u) {
        let o = c * p.out_parts + k;
        part_g[o] = tree_a[0];
        part_gx[o] = tree_b[0] * stats[p.c + c];
    }
}

@compute @workgroup_size(256)
fn bn_grad_input(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.total) {
        return;
    }
    let c = (i / p.s) % p.c;
    let scale = stats[2u * p.c + c];
    let gv = g[i];
    if ((p.flags & TRAINING) != 0u) {
        let inv_m = 1.0 / f32(p.m);
        let xh = (x[i] - stats[c]) * stats[p.c + c];
        dx[i] = scale * (gv - sum_g[c] * inv_m - xh * (sum_gx[c] * inv_m));
    } else {
        dx[i] = scale * gv;
    }
}

// As bn_grad_input, 4 elements of one channel per invocation (S % 4 = 0).
@compute @workgroup_size(256)
fn bn_grad_input4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                  @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.total / 4u) {
        return;
    }
    let c = (i / (p.s / 4u)) % p.c;
    let scale = stats[2u * p.c + c];
    let gv = g4[i];
    if ((p.flags & TRAINING) != 0u) {
        let inv_m = 1.0 / f32(p.m);
        let xh = (x4[i] - vec4<f32>(stats[c])) * stats[p.c + c];
        dx4[i] = scale * (gv - vec4<f32>(sum_g[c] * inv_m) - xh * (sum_gx[c] * inv_m));
    } else {
        dx4[i] = scale * gv;
    }
}
