// The 64×64 GEMM tile of matmul_tiled (matmul.wgsl) and conv_gemm_tiled
// (conv2d.wgsl): both sources are common.wgsl, this file, then their own file,
// so tuning the tile here tunes both products.
//
// gemm_tile computes a TILE×TILE tile of C = A·B per 256-invocation workgroup,
// K in steps of BK through workgroup memory; each invocation keeps a 4×4
// register tile and reads 4-wide vectors of A and B from workgroup memory per
// k. Per tile step each workgroup moves 2·64·16 floats into workgroup memory
// and does 64·64·16 FMAs.
//
// The file that includes it says how A and B are read, and stores the result:
//   fn tile_a_slot(e: u32) -> vec2<u32>   (mm, kk): the A tile element that
//                                         load slot e (0..1024) fills
//   fn tile_b_slot(e: u32) -> vec2<u32>   (kk, nn): the same for B
//   fn tile_a(row: u32, k: u32, k_end: u32) -> f32   A[row, k], zero beyond
//                                         the problem or at k ≥ k_end
//   fn tile_b(k: u32, col: u32, k_end: u32) -> f32   B[k, col], likewise
// The slots only choose which invocation loads which element (consecutive
// slots should read consecutive memory); the sums do not depend on them.

const TILE: u32 = 64u;
const BK: u32 = 16u;

// As[k * 16 + m / 4][m % 4] and Bs[k * 16 + n / 4][n % 4].
var<workgroup> As: array<vec4<f32>, 256>;
var<workgroup> Bs: array<vec4<f32>, 256>;

// Invocation lid's 4×4 register tile of the workgroup tile at (row0, col0),
// summed over k in [k_begin, k_end): element [i][j] is C[row0 + (lid / 16)·4 + i,
// col0 + (lid % 16)·4 + j]. Each sum runs in increasing k, one fma per k.
// It has barriers: call it in uniform control flow.
fn gemm_tile(lid: u32, row0: u32, col0: u32, k_begin: u32, k_end: u32) -> array<vec4<f32>, 4> {
    let tx = lid % 16u;
    let ty = lid / 16u;

    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);

    for (var k0 = k_begin; k0 < k_end; k0 = k0 + BK) {
        for (var r = 0u; r < 4u; r = r + 1u) {
            let e = lid + r * 256u;
            let a_at = tile_a_slot(e);
            As[a_at.y * 16u + a_at.x / 4u][a_at.x % 4u] = tile_a(row0 + a_at.x, k0 + a_at.y, k_end);
            let b_at = tile_b_slot(e);
            Bs[b_at.x * 16u + b_at.y / 4u][b_at.y % 4u] = tile_b(k0 + b_at.x, col0 + b_at.y, k_end);
        }
        workgroupBarrier();
        for (var kk = 0u; kk < BK; kk = kk + 1u) {
            let av = As[kk * 16u + ty];
            let bv = Bs[kk * 16u + tx];
            acc0 = fma(vec4<f32>(av.x), bv, acc0);
            acc1 = fma(vec4<f32>(av.y), bv, acc1);
            acc2 = fma(vec4<f32>(av.z), bv, acc2);
            acc3 = fma(vec4<f32>(av.w), bv, acc3);
        }
        workgroupBarrier();
    }
    return array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
}
