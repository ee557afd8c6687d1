// Batched matrix multiply C[z] = op(A[z]) · op(B[z]), op = identity or transpose.
//
// A is logically [M, K]: stored row-major [M, K] (trans_a = 0) or [K, M]
// (trans_a = 1). B is logically [K, N]: stored [K, N] (trans_b = 0) or [N, K]
// (trans_b = 1). Transposes are index swaps in the tile loads, so backward
// passes (dA = dC·Bᵀ, dB = Aᵀ·dC) need no copies.
// A, B and C start at elements `a_offset`, `b_offset`, `c_offset` of their
// buffers (B's and C's multiples of 4 for the 4-wide kernel), so products can
// read from and land inside larger tensors.
// Batch: z decodes over up to 4 batch axes (`batch_shape`) into element offsets
// of A and B (`batch_strides_a/b`, 0 on a broadcast axis); C is contiguous.
// Bias: with row_bias = 1, bias[row] is added to every C[z, row, ·] (by the
// first split only, so the slab sum adds it once): a convolution's bias over
// its output channels, in the product's write.
// Blocked output: with c_block > 0 (one matrix, no split), column j of C lands
// in block j / c_block, c_block_stride elements apart, as C[row, j % c_block]
// of a [M, c_block] matrix: a product whose columns are (image, pixel) of a
// batch written straight into NCHW.
// Split-K: grid z = batch · splits (batch · ⌈splits / KS⌉ for the register
// tiles); split s covers k in
// [(split_base + s)·k_chunk, (split_base + s + 1)·k_chunk) and writes its
// partial product to slab s of the output ([splits, batch, M, N]), which the
// launcher sums (long K runs in passes of a few splits each, split_base being
// the first split of the pass, so the partials stay bounded). This bounds every invocation's loop count (lavapipe
// stops loops after 65,535 iterations per invocation).
//
// matmul_tiled (GPUs): the 64×64 tile of gemm_tile.wgsl (K in steps of 16
// through workgroup memory, a 4×4 register tile per invocation), reading A and
// B straight from their buffers.
// matmul_regtile (CPU drivers such as lavapipe, where every barrier suspends
// and resumes each invocation): no workgroup memory and no barriers; each
// invocation keeps a 4×8 tile of C in registers and reads A and B straight
// from memory (the CPU caches do the reuse). The launcher picks the layout of
// the 64 invocations per shape (pipeline constants): TX along N, TY along M
// (a workgroup covers TY·4 rows × TX·8 columns, 32×64 by default, down to
// 4×8 for narrow products) and KS K-splits inside one workgroup (each a
// different slab), so a 16×16 weight gradient does not leave 7 of 8
// invocations computing clamped copies; invocations past TX·TY·KS return.
// matmul_regtile_vec4 (CPU drivers, B row-major with N % 4 = 0, so rows of B
// and C start 16-byte aligned): the same with B read and C written 4 floats
// at a time; per k, 4 scalars of A, 2 vec4 of B, 8 vec4 FMAs.
// matmul_regtile_dot4 (CPU drivers, A row-major and B stored transposed [N, K]
// with K % 4 = 0 — the dx = dy·Wᵀ of a linear layer): both operands are read
// along K 4 floats at a time; per 4 k, 4 vec4 of A, 8 vec4 of B, 32 dot
// products into a 4×8 register tile.

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
    c_offset: u32,
    a_offset: u32,
    b_offset: u32,
    split_base: u32,
    row_bias: u32,
    c_block: u32,
    c_block_stride: u32,
    batch_shape: vec4<u32>,
    batch_strides_a: vec4<u32>,
    batch_strides_b: vec4<u32>,
}

@group(0) @binding(0) var<uniform> p: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// The same buffers seen 4 floats at a time, for matmul_regtile_vec4 (naga and
// WebGPU allow aliased bindings used by different entry points).
@group(0) @binding(1) var<storage, read> a4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> c4: array<vec4<f32>>;

// Register-tile layout (see the header): invocations along N and M, K-splits
// per workgroup. TX·TY·KS ≤ 64.
override TX: u32 = 8u;
override TY: u32 = 8u;
override KS: u32 = 1u;

// Where register-tile invocation `lid` of workgroup `wid` works: batch z,
// split, first row and first column of its 4×8 tile; `live` is false for
// invocations past the layout or splits past the dispatch's.
struct Place {
    z: u32,
    split: u32,
    row0: u32,
    col0: u32,
    live: bool,
}

fn place(wid: vec3<u32>, lid: u32) -> Place {
    let per = TX * TY;
    let inner = lid / per;
    let r = lid - inner * per;
    let outer = (p.splits + KS - 1u) / KS;
    let z = wid.z / outer;
    let split = (wid.z - z * outer) * KS + inner;
    return Place(z, split, wid.y * TY * 4u + (r / TX) * 4u, wid.x * TX * 8u + (r % TX) * 8u,
                 inner < KS && split < p.splits);
}

// Element index of C[row, col] given the element index of the matrix's start.
fn c_at(out_base: u32, row: u32, col: u32) -> u32 {
    if (p.c_block == 0u) {
        return out_base + row * p.n + col;
    }
    let blk = col / p.c_block;
    return out_base + blk * p.c_block_stride + row * p.c_block + (col - blk * p.c_block);
}

// The row bias of C[·, row, ·] for the given split (0 unless row_bias and the first split).
fn row_bias_of(row: u32, split: u32) -> f32 {
    if (p.row_bias == 1u && p.split_base + split == 0u) {
        return bias[row];
    }
    return 0.0;
}

// Element offsets of batch z in A and B (broadcast axes have stride 0).
fn batch_offsets(z: u32) -> vec2<u32> {
    var rem = z;
    var off = vec2<u32>(p.a_offset, p.b_offset);
    for (var d = i32(p.batch_rank) - 1; d >= 0; d = d - 1) {
        let du = u32(d);
        let extent = p.batch_shape[du];
        let idx = rem % extent;
        rem = rem / extent;
        off = off + idx * vec2<u32>(p.batch_strides_a[du], p.batch_strides_b[du]);
    }
    return off;
}

// Element offsets of this invocation's batch in A and B, for tile_a/tile_b.
var<private> tile_base: vec2<u32>;

// Load slots of gemm_tile (gemm_tile.wgsl), along the stored rows of A and B
// for coalescing.
fn tile_a_slot(e: u32) -> vec2<u32> {
    if (p.trans_a == 0u) {
        return vec2<u32>(e / BK, e % BK);
    }
    return vec2<u32>(e % TILE, e / TILE);
}

fn tile_b_slot(e: u32) -> vec2<u32> {
    if (p.trans_b == 0u) {
        return vec2<u32>(e / TILE, e % TILE);
    }
    return vec2<u32>(e % BK, e / BK);
}

fn tile_a(gm: u32, gk: u32, k_end: u32) -> f32 {
    if (gm < p.m && gk < k_end) {
        return a[tile_base.x + select(gm * p.k + gk, gk * p.m + gm, p.trans_a == 1u)];
    }
    return 0.0;
}

fn tile_b(gk: u32, gn: u32, k_end: u32) -> f32 {
    if (gn < p.n && gk < k_end) {
        return b[tile_base.y + select(gk * p.n + gn, gn * p.k + gk, p.trans_b == 1u)];
    }
    return 0.0;
}

@compute @workgroup_size(256)
fn matmul_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let z = wid.z / p.splits;
    let split = wid.z % p.splits;
    tile_base = batch_offsets(z);
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    let k_begin = (p.split_base + split) * p.k_chunk;
    let k_end = min(k_begin + p.k_chunk, p.k);
    var rows = gemm_tile(lid, row0, col0, k_begin, k_end);

    let out_base = p.c_offset + (split * p.batch + z) * p.m * p.n;
    let col = col0 + (lid % 16u) * 4u;
    for (var i = 0u; i < 4u; i = i + 1u) {
        let row = row0 + (lid / 16u) * 4u + i;
        if (row < p.m) {
            let rb = row_bias_of(row, split);
            for (var j = 0u; j < 4u; j = j + 1u) {
                if (col + j < p.n) {
                    c[c_at(out_base, row, col + j)] = rows[i][j] + rb;
                }
            }
        }
    }
}

@compute @workgroup_size(64)
fn matmul_regtile(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let at = place(wid, lid);
    if (!at.live) {
        return;
    }
    let z = at.z;
    let split = at.split;
    let offs = batch_offsets(z);
    let off_a = offs.x;
    let off_b = offs.y;
    // Element strides of A(row, k) and B(k, col) for either storage order.
    let a_row = select(p.k, 1u, p.trans_a == 1u);
    let a_k = select(1u, p.m, p.trans_a == 1u);
    let b_k = select(p.n, 1u, p.trans_b == 1u);
    let b_col = select(1u, p.k, p.trans_b == 1u);
    let row0 = at.row0;
    let col0 = at.col0;
    // Out-of-range rows and columns read a valid (clamped) element and are not written.
    var ra: vec4<u32>;
    for (var i = 0u; i < 4u; i = i + 1u) {
        ra[i] = off_a + min(row0 + i, p.m - 1u) * a_row;
    }
    var cb0: vec4<u32>;
    var cb1: vec4<u32>;
    for (var j = 0u; j < 4u; j = j + 1u) {
        cb0[j] = off_b + min(col0 + j, p.n - 1u) * b_col;
        cb1[j] = off_b + min(col0 + 4u + j, p.n - 1u) * b_col;
    }
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var acc4 = vec4<f32>(0.0);
    var acc5 = vec4<f32>(0.0);
    var acc6 = vec4<f32>(0.0);
    var acc7 = vec4<f32>(0.0);
    let k_begin = (p.split_base + split) * p.k_chunk;
    let k_end = min(k_begin + p.k_chunk, p.k);
    for (var k = k_begin; k < k_end; k = k + 1u) {
        let ka = k * a_k;
        let kb = k * b_k;
        let b0 = vec4<f32>(b[cb0.x + kb], b[cb0.y + kb], b[cb0.z + kb], b[cb0.w + kb]);
        let b1 = vec4<f32>(b[cb1.x + kb], b[cb1.y + kb], b[cb1.z + kb], b[cb1.w + kb]);
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
    let out_base = p.c_offset + (split * p.batch + z) * p.m * p.n;
    var lo = array<vec4<f32>, 4>(acc0, acc2, acc4, acc6);
    var hi = array<vec4<f32>, 4>(acc1, acc3, acc5, acc7);
    for (var i = 0u; i < 4u; i = i + 1u) {
        let row = row0 + i;
        if (row < p.m) {
            let rb = row_bias_of(row, split);
            for (var j = 0u; j < 4u; j = j + 1u) {
                if (col0 + j < p.n) {
                    c[c_at(out_base, row, col0 + j)] = lo[i][j] + rb;
                }
                if (col0 + 4u + j < p.n) {
                    c[c_at(out_base, row, col0 + 4u + j)] = hi[i][j] + rb;
                }
            }
        }
    }
}

@compute @workgroup_size(64)
fn matmul_regtile_vec4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let at = place(wid, lid);
    if (!at.live) {
        return;
    }
    let z = at.z;
    let split = at.split;
    let offs = batch_offsets(z);
    let off_a = offs.x;
    let off_b = offs.y;
    let a_row = select(p.k, 1u, p.trans_a == 1u);
    let a_k = select(1u, p.m, p.trans_a == 1u);
    let n4 = p.n / 4u;
    let row0 = at.row0;
    // Column quads: q0 = this invocation's first vec4 of C's row, q1 = the second.
    let q0 = at.col0 / 4u;
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
    let k_begin = (p.split_base + split) * p.k_chunk;
    let k_end = min(k_begin + p.k_chunk, p.k);
    for (var k = k_begin; k < k_end; k = k + 1u) {
        let ka = k * a_k;
        let kb = k * n4;
        let b0 = b4[qb0 + kb];
        let b1 = b4[qb1 + kb];
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
    store_vec4_tile(z, split, row0, q0, array<vec4<f32>, 4>(acc0, acc2, acc4, acc6),
                    array<vec4<f32>, 4>(acc1, acc3, acc5, acc7));
}

// matmul_regtile_vec4 with A read 4 floats at a time too (every load a vec4,
// half the loads per multiply-add; a CPU driver runs each load lane by lane,
// so loads, not FMAs, set its speed). The sums are the vec4 kernel's, in the
// same order. Two storage orders of A:
// matmul_regtile_vec4_at: A stored [K, M] (trans_a), M % 4 = 0: the 4 rows of
//   a register tile at one k are one vec4.
// matmul_regtile_vec4_ak: A stored [M, K], K % 4 = 0: each row read 4 k at a
//   time, the k loop stepping by 4.
@compute @workgroup_size(64)
fn matmul_regtile_vec4_at(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let at = place(wid, lid);
    if (!at.live) {
        return;
    }
    let z = at.z;
    let split = at.split;
    let offs = batch_offsets(z);
    let n4 = p.n / 4u;
    let m4 = p.m / 4u;
    let row0 = at.row0;
    let q0 = at.col0 / 4u;
    let q1 = q0 + 1u;
    // row0 is a multiple of 4: its 4 rows are quad row0 / 4 of A's k-th row
    // (clamped when the tile lies past M; those rows are not written).
    let qa = offs.x / 4u + min(row0 / 4u, m4 - 1u);
    let qb0 = offs.y / 4u + min(q0, n4 - 1u);
    let qb1 = offs.y / 4u + min(q1, n4 - 1u);
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var acc4 = vec4<f32>(0.0);
    var acc5 = vec4<f32>(0.0);
    var acc6 = vec4<f32>(0.0);
    var acc7 = vec4<f32>(0.0);
    let k_begin = (p.split_base + split) * p.k_chunk;
    let k_end = min(k_begin + p.k_chunk, p.k);
    for (var k = k_begin; k < k_end; k = k + 1u) {
        let kb = k * n4;
        let b0 = b4[qb0 + kb];
        let b1 = b4[qb1 + kb];
        let av = a4[qa + k * m4];
        acc0 = fma(vec4<f32>(av.x), b0, acc0);
        acc1 = fma(vec4<f32>(av.x), b1, acc1);
        acc2 = fma(vec4<f32>(av.y), b0, acc2);
        acc3 = fma(vec4<f32>(av.y), b1, acc3);
        acc4 = fma(vec4<f32>(av.z), b0, acc4);
        acc5 = fma(vec4<f32>(av.z), b1, acc5);
        acc6 = fma(vec4<f32>(av.w), b0, acc6);
        acc7 = fma(vec4<f32>(av.w), b1, acc7);
    }
    store_vec4_tile(z, split, row0, q0, array<vec4<f32>, 4>(acc0, acc2, acc4, acc6),
                    array<vec4<f32>, 4>(acc1, acc3, acc5, acc7));
}

@compute @workgroup_size(64)
fn matmul_regtile_vec4_ak(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let at = place(wid, lid);
    if (!at.live) {
        return;
    }
    let z = at.z;
    let split = at.split;
    let offs = batch_offsets(z);
    let n4 = p.n / 4u;
    let k4 = p.k / 4u;
    let row0 = at.row0;
    let q0 = at.col0 / 4u;
    let q1 = q0 + 1u;
    var ra: vec4<u32>;
    for (var i = 0u; i < 4u; i = i + 1u) {
        ra[i] = offs.x / 4u + min(row0 + i, p.m - 1u) * k4;
    }
    let qb0 = offs.y / 4u + min(q0, n4 - 1u);
    let qb1 = offs.y / 4u + min(q1, n4 - 1u);
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
    var acc4 = vec4<f32>(0.0);
    var acc5 = vec4<f32>(0.0);
    var acc6 = vec4<f32>(0.0);
    var acc7 = vec4<f32>(0.0);
    // k_chunk is a multiple of 16 and K of 4: every split starts and ends on a quad.
    let q_begin = (p.split_base + split) * p.k_chunk / 4u;
    let q_end = min(q_begin + p.k_chunk / 4u, k4);
    for (var q = q_begin; q < q_end; q = q + 1u) {
        let a0 = a4[ra.x + q];
        let a1 = a4[ra.y + q];
        let a2 = a4[ra.z + q];
        let a3 = a4[ra.w + q];
        var kb = q * 4u * n4;
        for (var j = 0u; j < 4u; j = j + 1u) {
            let b0 = b4[qb0 + kb];
            let b1 = b4[qb1 + kb];
            acc0 = fma(vec4<f32>(a0[j]), b0, acc0);
            acc1 = fma(vec4<f32>(a0[j]), b1, acc1);
            acc2 = fma(vec4<f32>(a1[j]), b0, acc2);
            acc3 = fma(vec4<f32>(a1[j]), b1, acc3);
            acc4 = fma(vec4<f32>(a2[j]), b0, acc4);
            acc5 = fma(vec4<f32>(a2[j]), b1, acc5);
            acc6 = fma(vec4<f32>(a3[j]), b0, acc6);
            acc7 = fma(vec4<f32>(a3[j]), b1, acc7);
            kb = kb + n4;
        }
    }
    store_vec4_tile(z, split, row0, q0, array<vec4<f32>, 4>(acc0, acc2, acc4, acc6),
                    array<vec4<f32>, 4>(acc1, acc3, acc5, acc7));
}

// The 4-wide kernels' write: rows row0 .. row0 + 3, column quads q0 (lo) and
// q0 + 1 (hi), those inside C, each plus its row bias.
fn store_vec4_tile(z: u32, split: u32, row0: u32, q0: u32, lo: array<vec4<f32>, 4>, hi: array<vec4<f32>, 4>) {
    let n4 = p.n / 4u;
    let out_base = p.c_offset / 4u + (split * p.batch + z) * p.m * n4;
    if (p.c_block != 0u) {
        // Blocked output: element by element (a block need not hold whole
        // quads), through c4 (an entry point may not use both aliases). Each
        // column's place is found once, by one division and increments.
        var blk = (q0 * 4u) / p.c_block;
        var rem = q0 * 4u - blk * p.c_block;
        var at: array<u32, 8>;
        for (var j = 0u; j < 8u; j = j + 1u) {
            at[j] = out_base * 4u + blk * p.c_block_stride + rem;
            rem = rem + 1u;
            if (rem == p.c_block) {
                rem = 0u;
                blk = blk + 1u;
            }
        }
        for (var i = 0u; i < 4u; i = i + 1u) {
            let row = row0 + i;
            if (row < p.m) {
                let rb = row_bias_of(row, split);
                for (var j = 0u; j < 4u; j = j + 1u) {
                    if (q0 * 4u + j < p.n) {
                        let e = at[j] + row * p.c_block;
                        c4[e / 4u][e % 4u] = lo[i][j] + rb;
                    }
                    if (q0 * 4u + 4u + j < p.n) {
                        let e = at[4u + j] + row * p.c_block;
                        c4[e / 4u][e % 4u] = hi[i][j] + rb;
                    }
                }
            }
        }
        return;
    }
    for (var i = 0u; i < 4u; i = i + 1u) {
        let row = row0 + i;
        if (row < p.m) {
            let rb = vec4<f32>(row_bias_of(row, split));
            if (q0 < n4) {
                c4[out_base + row * n4 + q0] = lo[i] + rb;
            }
            if (q0 + 1u < n4) {
                c4[out_base + row * n4 + q0 + 1u] = hi[i] + rb;
            }
        }
    }
}

@compute @workgroup_size(64)
fn matmul_regtile_dot4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let at = place(wid, lid);
    if (!at.live) {
        return;
    }
    let z = at.z;
    let split = at.split;
    let offs = batch_offsets(z);
    let k4 = p.k / 4u;
    let row0 = at.row0;
    let col0 = at.col0;
    // Rows of A and B in vec4 units; out-of-range rows and columns read a clamped one and are not written.
    var ra: array<u32, 4>;
    for (var i = 0u; i < 4u; i = i + 1u) {
        ra[i] = offs.x / 4u + min(row0 + i, p.m - 1u) * k4;
    }
    var rb: array<u32, 8>;
    for (var j = 0u; j < 8u; j = j + 1u) {
        rb[j] = offs.y / 4u + min(col0 + j, p.n - 1u) * k4;
    }
    var acc: array<array<f32, 8>, 4>;
    for (var i = 0u; i < 4u; i = i + 1u) {
        for (var j = 0u; j < 8u; j = j + 1u) {
            acc[i][j] = 0.0;
        }
    }
    let q_begin = (p.split_base + split) * p.k_chunk / 4u;
    let q_end = min(q_begin + p.k_chunk / 4u, k4);
    for (var q = q_begin; q < q_end; q = q + 1u) {
        let a0 = a4[ra[0] + q];
        let a1 = a4[ra[1] + q];
        let a2 = a4[ra[2] + q];
        let a3 = a4[ra[3] + q];
        for (var j = 0u; j < 8u; j = j + 1u) {
            let bv = b4[rb[j] + q];
            acc[0][j] = acc[0][j] + dot(a0, bv);
            acc[1][j] = acc[1][j] + dot(a1, bv);
            acc[2][j] = acc[2][j] + dot(a2, bv);
            acc[3][j] = acc[3][j] + dot(a3, bv);
        }
    }
    let out_base = p.c_offset + (split * p.batch + z) * p.m * p.n;
    for (var i = 0u; i < 4u; i = i + 1u) {
        let row = row0 + i;
        if (row < p.m) {
            let rb = row_bias_of(row, split);
            for (var j = 0u; j < 8u; j = j + 1u) {
                if (col0 + j < p.n) {
                    c[c_at(out_base, row, col0 + j)] = acc[i][j] + rb;
                }
            }
        }
    }
}
