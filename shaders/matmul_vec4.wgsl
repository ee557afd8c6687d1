// Batched matrix multiply, register-tiled with 4-wide loads and stores, for
// CPU drivers: the same problem and Params as matmul.wgsl (see there), for
// the common layout B row-major [K, N] with N a multiple of 4 (so every row
// of B and C starts 16-byte aligned). A may be either order.
//
// matmul_regtile_vec4: each invocation owns a 4×8 tile of C (two vec4 per
// row), 8×8 invocations per workgroup cover 32×64. Per k it loads 4 scalars
// of A and 2 vec4 of B and does 8 vec4 FMAs; no workgroup memory, no barriers.

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    batch: u32,
    trans_a: u32,
    trans_b: u32,
    k_chunk: u32,
    splits: u32,
    batch_rank: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    batch_shape: vec4<u32>,
    batch_strides_a: vec4<u32>,
    batch_strides_b: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> c: array<vec4<f32>>;

@compute @workgroup_size(8, 8)
fn matmul_regtile_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let z = wid.z / p.splits;
    let split = wid.z % p.splits;
    var rem = z;
    var off_a = 0u;
    var off_b = 0u;
    for (var d = i32(p.batch_rank) - 1; d >= 0; d = d - 1) {
        let du = u32(d);
        let extent = p.batch_shape[du];
        let idx = rem % extent;
        rem = rem / extent;
        off_a = off_a + idx * p.batch_strides_a[du];
        off_b = off_b + idx * p.batch_strides_b[du];
    }
    let a_row = select(p.k, 1u, p.trans_a == 1u);
    let a_k = select(1u, p.m, p.trans_a == 1u);
    let n4 = p.n / 4u;
    let row0 = wid.y * 32u + lid.y * 4u;
    // Column quads: q0 = this invocation's first vec4 of C's row, q1 = the second.
    let q0 = wid.x * 16u + lid.x * 2u;
    let q1 = q0 + 1u;
    var ra: vec4<u32>;
    for (var i = 0u; i < 4u; i = i + 1u) {
        ra[i] = off_a + min(row0 + i, p.m - 1u) * a_row;
    }
    let qb0 = off_b / 4u + min(q0, n4 - 1u);
    let qb1 = off_b / 4u + min(q1, n4 - 1u);
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var acc4 = vec4<f32>(0.0);
    var acc5 = vec4<f32>(0.0);
    var acc6 = vec4<f32>(0.0);
    var acc7 = vec4<f32>(0.0);
    let k_begin = split * p.k_chunk;
    let k_end = min(k_begin + p.k_chunk, p.k);
    for (var k = k_begin; k < k_end; k = k + 1u) {
        let ka = k * a_k;
        let kb = k * n4;
        let b0 = b[qb0 + kb];
        let b1 = b[qb1 + kb];
        let a0 = a[ra.x + ka];
        let a1 = a[ra.y + ka];
        let a2 = a[ra.z + ka];
        let a3 = a[ra.w + ka];
        acc0 = fma(vec4<f32>(a0), b0, acc0);
        acc1 = fma(vec4<f32>(a0), b1, acc1);
        acc2 = fma(vec4<f32>(a1), b0, acc2);
        acc3 = fma(vec4<f32>(a1), b1, acc3);
        acc4 = fma(vec4<f32>(a2), b0, acc4);
        acc5 = fma(vec4<f32>(a2), b1, acc5);
        acc6 = fma(vec4<f32>(a3), b0, acc6);
        acc7 = fma(vec4<f32>(a3), b1, acc7);
    }
    let out_base = (split * p.batch + z) * p.m * n4;
    var lo = array<vec4<f32>, 4>(acc0, acc2, acc4, acc6);
    var hi = array<vec4<f32>, 4>(acc1, acc3, acc5, acc7);
    for (var i = 0u; i < 4u; i = i + 1u) {
        let row = row0 + i;
        if (row < p.m) {
            if (q0 < n4) {
                c[out_base + row * n4 + q0] = lo[i];
            }
            if (q1 < n4) {
                c[out_base + row * n4 + q1] = hi[i];
            }
        }
    }
}
