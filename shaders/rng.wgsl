// Counter-based random numbers: Philox4x32-10 (Salmon et al., SC'11).
//
// Element 4t+r of the output takes word r of philox(counter = (t, offset_lo,
// offset_hi, 0), key = (seed_lo, seed_hi)). Integer arithmetic only, so the
// bits are identical on every backend; the same (seed, offset) gives the same
// numbers whatever the launch shape.
// uniform: a + (b - a) · u with u = (x >> 8) · 2^-24 in [0, 1), clamped below b
//   (the f32 product can round up to b).
// normal:  a + b · z, z from Box–Muller on words (0,1) and (2,3).
//
// Thread mapping: one invocation per 4 outputs, 256 per workgroup, 2-D grid.

struct RngParams {
    n: u32,
    seed_lo: u32,
    seed_hi: u32,
    offset_lo: u32,
    offset_hi: u32,
    kind: u32,
    a: f32,
    b: f32,
}

@group(0) @binding(0) var<uniform> p: RngParams;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

// High and low words of the 64-bit product a·b, from 16-bit halves.
fn mulhilo(a: u32, b: u32) -> vec2<u32> {
    let al = a & 0xffffu;
    let ah = a >> 16u;
    let bl = b & 0xffffu;
    let bh = b >> 16u;
    let ll = al * bl;
    let lh = al * bh;
    let hl = ah * bl;
    let hh = ah * bh;
    let mid = (ll >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
    let hi = hh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
    return vec2<u32>(hi, a * b);
}

fn philox4x32_10(counter: vec4<u32>, key_in: vec2<u32>) -> vec4<u32> {
    var c = counter;
    var k = key_in;
    for (var r = 0u; r < 10u; r = r + 1u) {
        if (r > 0u) {
            k = k + vec2<u32>(0x9E3779B9u, 0xBB67AE85u);
        }
        let p0 = mulhilo(0xD2511F53u, c.x);
        let p1 = mulhilo(0xCD9E8D57u, c.z);
        c = vec4<u32>(p1.x ^ c.y ^ k.x, p1.y, p0.x ^ c.w ^ k.y, p0.y);
    }
    return c;
}

// The largest f32 below x (toward -inf).
fn next_below(x: f32) -> f32 {
    let bits = bitcast<u32>(x);
    if (x > 0.0) {
        return bitcast<f32>(bits - 1u);
    }
    if (x == 0.0) {
        return bitcast<f32>(0x80000001u);
    }
    return bitcast<f32>(bits + 1u);
}

fn unit(x: u32) -> f32 {
    return f32(x >> 8u) * (1.0 / 16777216.0);
}

@compute @workgroup_size(256)
fn random_fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
    let t = linear_id(wid, nwg, lid);
    // Compare in thread units: t·4 could wrap for grid-overshoot threads.
    if (t >= p.n / 4u + select(0u, 1u, p.n % 4u != 0u)) {
        return;
    }
    let w = philox4x32_10(vec4<u32>(t, p.offset_lo, p.offset_hi, 0u), vec2<u32>(p.seed_lo, p.seed_hi));
    var v: vec4<f32>;
    if (p.kind == 0u) {
        v = vec4<f32>(p.a) + (p.b - p.a) * vec4<f32>(unit(w.x), unit(w.y), unit(w.z), unit(w.w));
        // a + (b - a)·u can round up to b; keep the interval half-open.
        let top = next_below(p.b);
        v = select(v, vec4<f32>(top), v > vec4<f32>(top) & vec4<bool>(p.b > p.a));
    } else {
        let two_pi = 6.283185307179586;
        // u1 in (0, 1] so the log is finite.
        let u1 = unit(w.x) + (1.0 / 16777216.0);
        let u3 = unit(w.z) + (1.0 / 16777216.0);
        let r1 = sqrt(-2.0 * log(u1));
        let r3 = sqrt(-2.0 * log(u3));
        let z = vec4<f32>(r1 * cos(two_pi * unit(w.y)), r1 * sin(two_pi * unit(w.y)),
                          r3 * cos(two_pi * unit(w.w)), r3 * sin(two_pi * unit(w.w)));
        v = vec4<f32>(p.a) + p.b * z;
    }
    for (var r = 0u; r < 4u; r = r + 1u) {
        if (t * 4u + r < p.n) {
            out[t * 4u + r] = v[r];
        }
    }
}
