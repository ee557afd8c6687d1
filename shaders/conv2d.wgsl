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
    _pad1: u32,
    _pad2: u32,
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
            // Kahan: these sums run over up to 8192 terms per slab.
            let yk = v - comp;
            let tk = acc + yk;
            comp = (tk - acc) - yk;
            acc = tk;
        }
    }
    dst[p.slab * per_slab + t] = acc;
}
