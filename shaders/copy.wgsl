// Strided copy.
//
// strided_copy: for every row-major index i over `shape`,
//   dst[dst_offset + <idx(i), dst_strides>] = src[src_offset + <idx(i), src_strides>].
// One kernel serves permute (permuted source strides), broadcast (stride 0),
// narrow (source offset), concat and pad (destination offset and strides).
// The launcher merges axes that are contiguous in both views first, so most
// copies run with rank 1 or 2.
//
// Thread mapping: one invocation per element, 256 per workgroup, 2-D folded grid.

struct CopyParams {
    n: u32,
    rank: u32,
    src_offset: u32,
    dst_offset: u32,
    shape: array<vec4<u32>, 2>,
    src_strides: array<vec4<u32>, 2>,
    dst_strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> p: CopyParams;

@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

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
    dst[d] = src[s];
}
