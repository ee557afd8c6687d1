// Helpers shared by every kernel. The engine prepends this file to each shader
// source (src/kernels/mod.rs), so kernels call these functions directly.
//
// Shapes and strides travel in uniforms as `array<vec4<u32>, 2>`: up to 8 axes,
// 16-byte aligned as uniform arrays must be. Kernels index them in the uniform
// directly; copying them into a local array first would make every access a
// dynamically indexed memory access (slow on CPU drivers).

const WG: u32 = 256u;

// Linear invocation index for a 256-wide workgroup grid folded into x and y.
fn linear_id(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wid.x + wid.y * nwg.x) * WG + lid;
}

// Linear workgroup index of a 2-D folded grid.
fn group_id(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wid.x + wid.y * nwg.x;
}

fn nan_f32() -> f32 {
    return bitcast<f32>(0x7fc00000u);
}

fn inf_f32() -> f32 {
    return bitcast<f32>(0x7f800000u);
}

// x^e with the sign rules of real powers: negative bases are allowed for
// integer exponents, 0^e is exact, a negative base with a fractional exponent
// is NaN. NaN in either operand gives NaN (x^0 = 1 even for NaN x, as in
// PyTorch); the built-in pow returns 0 for a NaN base on some drivers.
fn real_pow(x: f32, e: f32) -> f32 {
    if (e == 0.0) {
        return 1.0;
    }
    if (is_nan(x) || is_nan(e)) {
        return nan_f32();
    }
    if (x == 0.0) {
        return select(inf_f32(), 0.0, e > 0.0);
    }
    let m = pow(abs(x), e);
    if (x > 0.0) {
        return m;
    }
    if (fract(e) != 0.0) {
        return nan_f32();
    }
    return select(m, -m, fract(e * 0.5) != 0.0);
}

// NaN test on the bits: `x != x` may be folded away by drivers that assume
// no NaNs.
fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

// max that propagates NaN, so a NaN in training shows in reductions.
fn max_nan(a: f32, b: f32) -> f32 {
    if (is_nan(a) || is_nan(b)) {
        return nan_f32();
    }
    return max(a, b);
}

fn min_nan(a: f32, b: f32) -> f32 {
    if (is_nan(a) || is_nan(b)) {
        return nan_f32();
    }
    return min(a, b);
}
