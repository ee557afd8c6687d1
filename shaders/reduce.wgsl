// Reductions (sum, max) over one block of axes, viewed as [outer, len, inner].
//
// reduce_rows (inner = 1, len > 1024): one 256-invocation workgroup per (row, chunk) of
//   ROW_CHUNK = 4096 elements. Each invocation accumulates 16 elements, strided
//   by 256 so loads coalesce, with Kahan compensation; the workgroup then sums
//   its 256 partials as a pairwise tree in workgroup memory. Output is
//   [outer, chunks]; the launcher repeats until one chunk is left, so any row
//   length works with a bounded loop per invocation (lavapipe stops loops after
//   65,535 iterations per invocation) and the sum is close to pairwise.
// reduce_middle (inner > 1, or short rows): one invocation per (outer, chunk, inner) output,
//   looping over MID_CHUNK = 1024 elements of the reduced axis with Kahan
//   compensation; neighbouring invocations read neighbouring `inner` elements.
//   Output is [outer, chunks, inner], repeated until one chunk is left.
// `scale` multiplies the final value (1/len for a mean) and is 1 on partial passes.

struct ReduceParams {
    outer: u32,
    len: u32,
    inner: u32,
    chunks: u32,
    op: u32,
    scale: f32,
    _pad0: u32,
    _pad1: u32,
}

const ROW_CHUNK: u32 = 4096u;
const PER_THREAD: u32 = 16u;
const MID_CHUNK: u32 = 1024u;

@group(0) @binding(0) var<uniform> p: ReduceParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

var<workgroup> partial: array<f32, 256>;

fn identity(op: u32) -> f32 {
    return select(0.0, -inf_f32(), op == 1u);
}

@compute @workgroup_size(256)
fn reduce_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let g = group_id(wid, nwg);
    let row = g / p.chunks;
    let chunk = g % p.chunks;
    var acc = identity(p.op);
    var comp = 0.0;
    if (row < p.outer) {
        let base = row * p.len;
        let start = chunk * ROW_CHUNK;
        for (var k = 0u; k < PER_THREAD; k = k + 1u) {
            let j = start + k * WG + lid;
            if (j < p.len) {
                let v = src[base + j];
                if (p.op == 1u) {
                    acc = max_nan(acc, v);
                } else {
                    // Kahan: carry the low bits lost by each addition.
                    let y = v - comp;
                    let t = acc + y;
                    comp = (t - acc) - y;
                    acc = t;
                }
            }
        }
    }
    partial[lid] = acc;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s = s >> 1u) {
        if (lid < s) {
            let o = partial[lid + s];
            partial[lid] = select(partial[lid] + o, max_nan(partial[lid], o), p.op == 1u);
        }
        workgroupBarrier();
    }
    if (lid == 0u && row < p.outer) {
        dst[row * p.chunks + chunk] = partial[0] * p.scale;
    }
}

@compute @workgroup_size(256)
fn reduce_middle(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    let total = p.outer * p.chunks * p.inner;
    if (i >= total) {
        return;
    }
    let inner = i % p.inner;
    let chunk = (i / p.inner) % p.chunks;
    let outer = i / (p.inner * p.chunks);
    let start = chunk * MID_CHUNK;
    let stop = min(start + MID_CHUNK, p.len);
    var acc = identity(p.op);
    var comp = 0.0;
    for (var j = start; j < stop; j = j + 1u) {
        let v = src[(outer * p.len + j) * p.inner + inner];
        if (p.op == 1u) {
            acc = max_nan(acc, v);
        } else {
            let y = v - comp;
            let t = acc + y;
            comp = (t - acc) - y;
            acc = t;
        }
    }
    dst[i] = acc * p.scale;
}
