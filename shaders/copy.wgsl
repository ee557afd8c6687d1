// Strided copy.
//
// For every row-major index over `shape`:
//   dst[dst_offset + <idx, dst_strides>] = src[src_offset + <idx, src_strides>].
// One kernel serves permute (permuted source strides), broadcast (stride 0),
// narrow (source offset), concat and pad (destination offset and strides).
// The launcher merges axes that are contiguous in both views first, so most
// copies run with rank 1, 2 or 3.
//
// Two entry points:
//   copy_grid     rank ≤ 3 (axes padded in front with size 1): the workgroup
//                 grid is the index — x walks the last axis, y the middle, z
//                 the first — so no invocation divides. 256 invocations per
//                 workgroup, WX × WY with WX ≥ 8 the power of two that fits
//                 the last axis best, so a short last axis (a 7×7 map, a
//                 channel) wastes little of each group (CPU drivers run 8
//                 lanes along x at a time). With PAD, the destination is written
//                 whole: positions lo ≤ x < hi along the last axis take
//                 src[.., x − lo], all others 0 (embed a block into zeros in
//                 one pass instead of a fill and a copy).
//   strided_copy  any rank up to 8, a last axis under 4, or extents past the
//                 grid's 65,535 limit:
//                 one invocation per element, 256 per workgroup, 2-D folded
//                 grid, index decoded axis by axis.

struct CopyParams {
    n: u32,
    rank: u32,
    src_offset: u32,
    dst_offset: u32,
    shape: array<vec4<u32>, 2>,
    src_strides: array<vec4<u32>, 2>,
    dst_strides: array<vec4<u32>, 2>,
    lo: u32,
    hi: u32,
    scale: f32,
    _pad1: u32,
}

override PAD: bool = false;
// With SCALED, every copied value is multiplied by `scale` (a broadcast times
// a scalar, as the gradient of a mean, in one pass).
override SCALED: bool = false;

fn scaled(v: f32) -> f32 {
    if (SCALED) {
        return v * p.scale;
    }
    return v;
}
// copy_grid's workgroup: WX along the last axis, WY along the middle one,
// WX·WY = 256; the launcher picks WX to fit the last axis.
override WX: u32 = 64u;
override WY: u32 = 4u;

@group(0) @binding(0) var<uniform> p: CopyParams;

@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(WX, WY)
fn copy_grid(@builtin(global_invocation_id) gid: vec3<u32>) {
    // shape[0].xyz = (first, middle, last) extents; the grid covers the first
    // exactly and rounds the other two up.
    let x = gid.x;
    let y = gid.y;
    let z = gid.z;
    if (x >= p.shape[0].z || y >= p.shape[0].y) {
        return;
    }
    let d = p.dst_offset + z * p.dst_strides[0].x + y * p.dst_strides[0].y + x * p.dst_strides[0].z;
    if (PAD) {
        if (x < p.lo || x >= p.hi) {
            dst[d] = 0.0;
            return;
        }
        let s = p.src_offset + z * p.src_strides[0].x + y * p.src_strides[0].y + (x - p.lo) * p.src_strides[0].z;
        dst[d] = scaled(src[s]);
        return;
    }
    let s = p.src_offset + z * p.src_strides[0].x + y * p.src_strides[0].y + x * p.src_strides[0].z;
    dst[d] = scaled(src[s]);
}

@compute @workgroup_size(256)
fn strided_copy(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    // Walk the axes from the last, reading the uniform directly.
    var rem = i;
    var s = p.src_offset;
    var d = p.dst_offset;
    for (var k = i32(p.rank) - 1; k >= 0; k = k - 1) {
        let extent = p.shape[k / 4][k % 4];
        let idx = rem % extent;
        rem = rem / extent;
        s = s + idx * p.src_strides[k / 4][k % 4];
        d = d + idx * p.dst_strides[k / 4][k % 4];
    }
    dst[d] = scaled(src[s]);
}
