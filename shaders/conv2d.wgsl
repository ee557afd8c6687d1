// Direct 2-D convolution kernels, NCHW, PyTorch weight layouts.
//
// conv2d_direct: y[n, co, oy, ox] = b[co] + Σ_{ci, ky, kx} x[n, ci, iy, ix] · w[co, ci, ky, kx]
//   with iy = oy·sh − ph + ky·dh, ix = ox·sw − pw + kx·dw (zero outside the input).
// conv_transpose2d_direct: y[n, co, oy, ox] = b[co] + Σ_{ci, ky, kx} x[n, ci, iy, ix] · w[ci, co, ky, kx]
//   over the (iy, ix) with iy·sh − ph + ky·dh = oy (and likewise for x): the
//   adjoint of conv2d in x.
// conv2d_weight_grad_direct: dw[co, ci, ky, kx] = Σ_{n, oy, ox} g[n, co, oy, ox] · x[n, ci, iy, ix]
//   over the output positions m = (n, oy, ox) in [m_begin, m_end) only; the
//   launcher splits N·Ho·Wo into chunks and sums the partial slabs.
//
// Thread mapping: one invocation per output element (256 per workgroup, 2-D
// folded grid). Loops are bounded for lavapipe's 65,535-iteration limit: the
// input channels are walked in [ci_begin, ci_end) per dispatch (the launcher
// splits Cin·kh·kw and accumulates), the weight gradient's sum in chunks.
// `accumulate = 1` adds to the output instead of overwriting it (and skips the bias).
//
// conv_gemm_tiled: the same three products as implicit GEMMs, for larger
// channel counts. The im2col matrix is never stored: each tile load gathers
// its element from the image (zero in the padding). MODE
// (a pipeline constant) picks the problem:
//   MODE 0, conv2d:           C[m, co] = Σ_k A[m, k]·B[k, co], m = (n, oy, ox),
//                             k = (ci, ky, kx), A = im2col(x), B[k, co] = w[co, k]
//   MODE 1, conv_transpose2d: the same with A[m, k] = x[n, ci, iy, ix] where
//                             iy·sh = oy + ph − ky·dh (zero if not a whole step),
//                             B[k, co] = w[ci, co, ky, kx]
//   MODE 2, weight gradient:  C[co, k] = Σ_m g[n, co, oy, ox]·im2col(x)[m, k],
//                             split along m into slabs of k_chunk positions
// conv_gemm_tiled (GPUs) runs the 64×64 tile of gemm_tile.wgsl (shared with
// matmul_tiled), K steps of 16 through workgroup memory, with tile_a/tile_b
// below gathering its operands.
//
// CPU drivers take another route, because every gathered load above costs a
// handful of integer divisions that a CPU pays in full: an explicit im2col of
// a chunk of images (batch_begin..batch_end) into a buffer, then the
// register-tiled matmul, and col2im to fold a transposed conv's columns back
// into the image:
//   im2col:   cols[b, k, pos] (cols_layout 0) or cols[k, b, pos] (cols_layout 1)
//             = x[batch_begin + b, ci, iy, ix], k = (ci, ky, kx), pos = (oy, ox)
//   col2im:   y[n, co, oy, ox] = bias[co] + Σ_{ky, kx} cols[b, (co, ky, kx), (iy, ix)]
//             over the taps with iy·sh = oy + ph − ky·dh inside the input
// (conv2d's bias is added by the matmul, in its write: row_bias in matmul.wgsl).

struct ConvParams {
    n: u32,
    cin: u32,
    h: u32,
    w: u32,
    cout: u32,
    ho: u32,
    wo: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    ph: u32,
    pw: u32,
    dh: u32,
    dw: u32,
    has_bias: u32,
    ci_begin: u32,
    ci_end: u32,
    m_begin: u32,
    m_end: u32,
    accumulate: u32,
    slab: u32,
    k_chunk: u32,
    batch_begin: u32,
    batch_end: u32,
    cols_layout: u32,
    _pad3: u32,
}

@group(0) @binding(0) var<uniform> p: ConvParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read> wt: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> dst: array<f32>;

fn finish(t: u32, co: u32, acc: f32) {
    if (p.accumulate == 1u) {
        dst[t] = dst[t] + acc;
    } else if (p.has_bias == 1u) {
        dst[t] = acc + bias[co];
    } else {
        dst[t] = acc;
    }
}

@compute @workgroup_size(256)
fn conv2d_direct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                 @builtin(local_invocation_index) lid: u32) {
    let t = linear_id(wid, nwg, lid);
    if (t >= p.n * p.cout * p.ho * p.wo) {
        return;
    }
    let ox = t % p.wo;
    let oy = (t / p.wo) % p.ho;
    let co = (t / (p.wo * p.ho)) % p.cout;
    let n = t / (p.wo * p.ho * p.cout);
    // Signed input origin of this output (may be negative with padding).
    let y0 = i32(oy * p.sh) - i32(p.ph);
    let x0 = i32(ox * p.sw) - i32(p.pw);
    var acc = 0.0;
    for (var ci = p.ci_begin; ci < p.ci_end; ci = ci + 1u) {
        let xbase = (n * p.cin + ci) * p.h;
        let wbase = (co * p.cin + ci) * p.kh;
        for (var ky = 0u; ky < p.kh; ky = ky + 1u) {
            let iy = y0 + i32(ky * p.dh);
            if (iy < 0 || iy >= i32(p.h)) {
                continue;
            }
            for (var kx = 0u; kx < p.kw; kx = kx + 1u) {
                let ix = x0 + i32(kx * p.dw);
                if (ix >= 0 && ix < i32(p.w)) {
                    acc = acc + src[(xbase + u32(iy)) * p.w + u32(ix)] * wt[(wbase + ky) * p.kw + kx];
                }
            }
        }
    }
    finish(t, co, acc);
}

@compute @workgroup_size(256)
fn conv_transpose2d_direct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                           @builtin(local_invocation_index) lid: u32) {
    let t = linear_id(wid, nwg, lid);
    if (t >= p.n * p.cout * p.ho * p.wo) {
        return;
    }
    let ox = t % p.wo;
    let oy = (t / p.wo) % p.ho;
    let co = (t / (p.wo * p.ho)) % p.cout;
    let n = t / (p.wo * p.ho * p.cout);
    var acc = 0.0;
    for (var ci = p.ci_begin; ci < p.ci_end; ci = ci + 1u) {
        let xbase = (n * p.cin + ci) * p.h;
        let wbase = (ci * p.cout + co) * p.kh;
        for (var ky = 0u; ky < p.kh; ky = ky + 1u) {
            // iy·sh = oy + ph − ky·dh must be a non-negative multiple of sh below h·sh.
            let ty = i32(oy + p.ph) - i32(ky * p.dh);
            if (ty < 0 || u32(ty) % p.sh != 0u || u32(ty) / p.sh >= p.h) {
                continue;
            }
            let iy = u32(ty) / p.sh;
            for (var kx = 0u; kx < p.kw; kx = kx + 1u) {
                let tx = i32(ox + p.pw) - i32(kx * p.dw);
                if (tx >= 0 && u32(tx) % p.sw == 0u && u32(tx) / p.sw < p.w) {
                    acc = acc + src[(xbase + iy) * p.w + u32(tx) / p.sw] * wt[(wbase + ky) * p.kw + kx];
                }
            }
        }
    }
    finish(t, co, acc);
}

// Here `src` is the conv input x [n, cin, h, w], `wt` the output gradient
// g [n, cout, ho, wo], and `dst` holds partial slabs [slabs, cout, cin, kh, kw];
// this dispatch writes slab `slab` from the positions [m_begin, m_end).
@compute @workgroup_size(256)
fn conv2d_weight_grad_direct(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                             @builtin(local_invocation_index) lid: u32) {
    let t = linear_id(wid, nwg, lid);
    let per_slab = p.cout * p.cin * p.kh * p.kw;
    if (t >= per_slab) {
        return;
    }
    let kx = t % p.kw;
    let ky = (t / p.kw) % p.kh;
    let ci = (t / (p.kw * p.kh)) % p.cin;
    let co = t / (p.kw * p.kh * p.cin);
    let hw = p.ho * p.wo;
    var acc = 0.0;
    var comp = 0.0;
    for (var m = p.m_begin; m < p.m_end; m = m + 1u) {
        let n = m / hw;
        let oy = (m / p.wo) % p.ho;
        let ox = m % p.wo;
        let iy = i32(oy * p.sh + ky * p.dh) - i32(p.ph);
        let ix = i32(ox * p.sw + kx * p.dw) - i32(p.pw);
        if (iy >= 0 && iy < i32(p.h) && ix >= 0 && ix < i32(p.w)) {
            let v = wt[((n * p.cout + co) * p.ho + oy) * p.wo + ox] * src[((n * p.cin + ci) * p.h + u32(iy)) * p.w + u32(ix)];
            // Kahan: these sums run over up to 4096 terms per slab (WGRAD_CHUNK).
            let yk = v - comp;
            let tk = acc + yk;
            comp = (tk - acc) - yk;
            acc = tk;
        }
    }
    dst[p.slab * per_slab + t] = acc;
}

override MODE: u32 = 0u;

// GEMM sizes of the problem MODE names.
fn gemm_m() -> u32 {
    if (MODE == 2u) {
        return p.cout;
    }
    return p.n * p.ho * p.wo;
}

fn gemm_n() -> u32 {
    if (MODE == 2u) {
        return p.cin * p.kh * p.kw;
    }
    return p.cout;
}

fn gemm_k() -> u32 {
    if (MODE == 2u) {
        return p.n * p.ho * p.wo;
    }
    return p.cin * p.kh * p.kw;
}

// im2col(x)[m, k] of the forward conv (MODE 0 and 2), or the transposed conv's
// gathered input (MODE 1). Zero outside the image.
fn image_at(m: u32, k: u32) -> f32 {
    let hw = p.ho * p.wo;
    let n = m / hw;
    let oy = (m % hw) / p.wo;
    let ox = m % p.wo;
    let taps = p.kh * p.kw;
    let ci = k / taps;
    let ky = (k % taps) / p.kw;
    let kx = k % p.kw;
    var iy: i32;
    var ix: i32;
    if (MODE == 1u) {
        let ty = i32(oy + p.ph) - i32(ky * p.dh);
        let tx = i32(ox + p.pw) - i32(kx * p.dw);
        if (ty < 0 || tx < 0 || u32(ty) % p.sh != 0u || u32(tx) % p.sw != 0u) {
            return 0.0;
        }
        iy = ty / i32(p.sh);
        ix = tx / i32(p.sw);
    } else {
        iy = i32(oy * p.sh + ky * p.dh) - i32(p.ph);
        ix = i32(ox * p.sw + kx * p.dw) - i32(p.pw);
    }
    if (iy < 0 || ix < 0 || iy >= i32(p.h) || ix >= i32(p.w)) {
        return 0.0;
    }
    return src[((n * p.cin + ci) * p.h + u32(iy)) * p.w + u32(ix)];
}

// Load slots of gemm_tile (gemm_tile.wgsl): A tile (mm, kk) with kk fastest;
// B tile (kk, nn) with nn fastest.
fn tile_a_slot(e: u32) -> vec2<u32> {
    return vec2<u32>(e / BK, e % BK);
}

fn tile_b_slot(e: u32) -> vec2<u32> {
    return vec2<u32>(e / TILE, e % TILE);
}

// A[row, k] of the GEMM (zero beyond its size).
fn tile_a(row: u32, k: u32, k_end: u32) -> f32 {
    if (row >= gemm_m() || k >= k_end) {
        return 0.0;
    }
    if (MODE == 2u) {
        // g[n, co, oy, ox] with m = k = (n, oy, ox), co = row.
        let hw = p.ho * p.wo;
        return wt[((k / hw) * p.cout + row) * hw + k % hw];
    }
    return image_at(row, k);
}

// B[k, col] of the GEMM (zero beyond its size).
fn tile_b(k: u32, col: u32, k_end: u32) -> f32 {
    if (col >= gemm_n() || k >= k_end) {
        return 0.0;
    }
    if (MODE == 2u) {
        return image_at(k, col);
    }
    let taps = p.kh * p.kw;
    if (MODE == 1u) {
        return wt[((k / taps) * p.cout + col) * taps + k % taps];
    }
    return wt[col * gemm_k() + k];
}

// C[row, col] = v: NCHW output (with bias) for MODE 0/1, a weight-gradient slab for MODE 2.
fn store_c(row: u32, col: u32, v: f32, split: u32) {
    if (row >= gemm_m() || col >= gemm_n()) {
        return;
    }
    if (MODE == 2u) {
        dst[(split * p.cout + row) * gemm_n() + col] = v;
        return;
    }
    let hw = p.ho * p.wo;
    var out = v;
    if (p.has_bias == 1u) {
        out = out + bias[col];
    }
    dst[((row / hw) * p.cout + col) * hw + row % hw] = out;
}

@compute @workgroup_size(256)
fn conv_gemm_tiled(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    let split = wid.z;
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    // `slab`: the first split of this dispatch (0 unless the launcher runs the
    // weight gradient's splits in passes); the output slab is the local `split`.
    let k_begin = (p.slab + split) * p.k_chunk;
    let k_end = min(k_begin + p.k_chunk, gemm_k());
    var rows = gemm_tile(lid, row0, col0, k_begin, k_end);
    for (var i = 0u; i < 4u; i = i + 1u) {
        for (var j = 0u; j < 4u; j = j + 1u) {
            store_c(row0 + (lid / 16u) * 4u + i, col0 + (lid % 16u) * 4u + j, rows[i][j], split);
        }
    }
}

// Output positions one im2col/col2im invocation walks (`CONV_RUN` in the
// launcher). Index divisions are done once per run, not per element: CPU
// drivers have no vector integer division, so the per-element decoding of the
// former one-invocation-per-element kernels (8 divisions for im2col, up to 70
// for col2im's 4×4 stride-2 taps) made them run at ~0.2 GB/s.
const RUN: u32 = 64u;

// One invocation per (row, run): row = (b, k) (cols_layout 0) or (k, b)
// (cols_layout 1), run = RUN consecutive output positions of that row.
@compute @workgroup_size(256)
fn im2col(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let t = linear_id(wid, nwg, lid);
    let nb = p.batch_end - p.batch_begin;
    let taps = p.kh * p.kw;
    let depth = p.cin * taps;
    let hw = p.ho * p.wo;
    let runs = (hw + RUN - 1u) / RUN;
    if (t >= nb * depth * runs) {
        return;
    }
    let row = t / runs;
    let pos0 = (t - row * runs) * RUN;
    var b: u32;
    var k: u32;
    if (p.cols_layout == 0u) {
        b = row / depth;
        k = row - b * depth;
    } else {
        k = row / nb;
        b = row - k * nb;
    }
    let ci = k / taps;
    let tap = k - ci * taps;
    let ky = tap / p.kw;
    let kx = tap - ky * p.kw;
    let oy0 = pos0 / p.wo;
    let ox0 = pos0 - oy0 * p.wo;
    // Input coordinates of the run's first position; they step by (sh, sw).
    var iy = i32(oy0 * p.sh + ky * p.dh) - i32(p.ph);
    var ix = i32(ox0 * p.sw + kx * p.dw) - i32(p.pw);
    let ix_first = i32(kx * p.dw) - i32(p.pw);
    var ox = ox0;
    let plane = ((p.batch_begin + b) * p.cin + ci) * p.h * p.w;
    let out = row * hw;
    let stop = min(pos0 + RUN, hw);
    for (var pos = pos0; pos < stop; pos = pos + 1u) {
        var v = 0.0;
        if (iy >= 0 && ix >= 0 && iy < i32(p.h) && ix < i32(p.w)) {
            v = src[plane + u32(iy) * p.w + u32(ix)];
        }
        dst[out + pos] = v;
        ox = ox + 1u;
        ix = ix + i32(p.sw);
        if (ox == p.wo) {
            ox = 0u;
            ix = ix_first;
            iy = iy + i32(p.sh);
        }
    }
}

// (q, r) = divmod(v, d) stepped down by (dq, dr) = divmod(step, d), d > 0,
// r kept in [0, d): the quotient and remainder of v − step without a division.
fn step_down(qr: vec2<i32>, dq: i32, dr: i32, d: i32) -> vec2<i32> {
    var q = qr.x - dq;
    var r = qr.y - dr;
    if (r < 0) {
        r = r + d;
        q = q - 1;
    }
    return vec2<i32>(q, r);
}

// Here (h, w) is the transposed conv's small input and (ho, wo) its output;
// `src` holds the chunk's columns, [nb, cout·kh·kw, h·w] (cols_layout 0) or
// [cout·kh·kw, nb, h·w] (cols_layout 1, small maps). One invocation per
// (b, co, run of RUN output positions). For output row oy and tap ky the
// input row is ty / sh with ty = oy + ph − ky·dh, taken when ty ≥ 0,
// sh | ty and ty / sh < h; (ty / sh, ty % sh) is carried from tap to tap and
// from pixel to pixel by additions (likewise for x).
@compute @workgroup_size(256)
fn col2im(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let t = linear_id(wid, nwg, lid);
    let nb = p.batch_end - p.batch_begin;
    let hw = p.ho * p.wo;
    let runs = (hw + RUN - 1u) / RUN;
    if (t >= nb * p.cout * runs) {
        return;
    }
    let plane = t / runs;
    let pos0 = (t - plane * runs) * RUN;
    let b = plane / p.cout;
    let co = plane - b * p.cout;
    var b0 = 0.0;
    if (p.has_bias == 1u) {
        b0 = bias[co];
    }
    let sh = i32(p.sh);
    let sw = i32(p.sw);
    let dqy = i32(p.dh / p.sh);
    let dry = i32(p.dh % p.sh);
    let dqx = i32(p.dw / p.sw);
    let drx = i32(p.dw % p.sw);
    let oy0 = pos0 / p.wo;
    let ox0 = pos0 - oy0 * p.wo;
    // divmod(oy + ph, sh) and divmod(ox + pw, sw) of the current pixel.
    var qry = vec2<i32>(i32((oy0 + p.ph) / p.sh), i32((oy0 + p.ph) % p.sh));
    let qrx_first = vec2<i32>(i32(p.pw / p.sw), i32(p.pw % p.sw));
    var qrx = vec2<i32>(i32((ox0 + p.pw) / p.sw), i32((ox0 + p.pw) % p.sw));
    var ox = ox0;
    let taps = p.kh * p.kw;
    let hin = i32(p.h);
    let win = i32(p.w);
    let in_hw = p.h * p.w;
    // Element of tap 0 of (b, co) at input position 0, and the stride between taps.
    var base = (b * p.cout * taps + co * taps) * in_hw;
    var tap_stride = in_hw;
    if (p.cols_layout == 1u) {
        base = (co * taps * nb + b) * in_hw;
        tap_stride = nb * in_hw;
    }
    let out = p.batch_begin * p.cout * hw + plane * hw;
    let stop = min(pos0 + RUN, hw);
    // Dilation 1 (every model's): the taps that land are ky ≡ oy + ph (mod sh),
    // i.e. ky = (oy + ph) % sh + j·sh with input row (oy + ph) / sh − j, so
    // only those ⌈kh / sh⌉ are walked (a quarter of the 4×4 taps at stride 2),
    // in the same increasing order as the general loop below.
    let dense = p.dh == 1u && p.dw == 1u;
    for (var pos = pos0; pos < stop; pos = pos + 1u) {
        var acc = b0;
        var y = qry;
        if (dense) {
            var iy = qry.x;
            for (var ky = u32(qry.y); ky < p.kh; ky = ky + p.sh) {
                if (iy >= 0 && iy < hin) {
                    var ix = qrx.x;
                    let row = base + ky * p.kw * tap_stride + u32(iy) * p.w;
                    for (var kx = u32(qrx.y); kx < p.kw; kx = kx + p.sw) {
                        if (ix >= 0 && ix < win) {
                            acc = acc + src[row + kx * tap_stride + u32(ix)];
                        }
                        ix = ix - 1;
                    }
                }
                iy = iy - 1;
            }
        }
        for (var ky = 0u; ky < p.kh && !dense; ky = ky + 1u) {
            if (y.x >= 0 && y.y == 0 && y.x < hin) {
                var x = qrx;
                for (var kx = 0u; kx < p.kw; kx = kx + 1u) {
                    if (x.x >= 0 && x.y == 0 && x.x < win) {
                        let tap = ky * p.kw + kx;
                        acc = acc + src[base + tap * tap_stride + u32(y.x) * p.w + u32(x.x)];
                    }
                    x = step_down(x, dqx, drx, sw);
                }
            }
            y = step_down(y, dqy, dry, sh);
        }
        dst[out + pos] = acc;
        // Next pixel: ox + 1, wrapping to the next row.
        ox = ox + 1u;
        qrx.y = qrx.y + 1;
        if (qrx.y == sw) {
            qrx.y = 0;
            qrx.x = qrx.x + 1;
        }
        if (ox == p.wo) {
            ox = 0u;
            qrx = qrx_first;
            qry.y = qry.y + 1;
            if (qry.y == sh) {
                qry.y = 0;
                qry.x = qry.x + 1;
            }
        }
    }
}
