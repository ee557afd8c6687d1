// Unary maps: out[i] = f(a[i]) for contiguous tensors.
//
// Thread mapping: one invocation per element, 256 per workgroup, the grid
// folded into 2-D (x up to 65535) so any length fits. `alpha` and `beta` carry
// the op's scalar (leaky slope, exponent, affine scale and shift, threshold).

struct UnaryParams {
    n: u32,
    op: u32,
    alpha: f32,
    beta: f32,
}

@group(0) @binding(0) var<uniform> p: UnaryParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

fn stable_sigmoid(x: f32) -> f32 {
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

// tanh from exp(-2|x|): finite for every input (some drivers' tanh overflows).
fn stable_tanh(x: f32) -> f32 {
    let t = exp(-2.0 * abs(x));
    let r = (1.0 - t) / (1.0 + t);
    return select(r, -r, x < 0.0);
}

fn sign_of(x: f32) -> f32 {
    return select(select(0.0, -1.0, x < 0.0), 1.0, x > 0.0);
}

// max(x, 0) that keeps NaN, as PyTorch's relu does: WGSL's max may return
// the non-NaN operand (LLVM's maxnum on lavapipe and other LLVM drivers).
fn relu_nan(x: f32) -> f32 {
    if (is_nan(x)) {
        return x;
    }
    return max(x, 0.0);
}

// Unary op codes (src/kernels/elementwise.rs: UnaryOp).
fn unary(op: u32, x: f32) -> f32 {
    switch op {
        case 0u: { return -x; }
        case 1u: { return exp(x); }
        case 2u: { return log(x); }
        case 3u: { return sqrt(x); }
        case 4u: { return inverseSqrt(x); }
        case 5u: { return abs(x); }
        case 6u: { return relu_nan(x); }
        case 7u: { return select(p.alpha * x, x, x > 0.0); }          // leaky_relu
        case 8u: { return stable_sigmoid(x); }
        case 9u: { return stable_tanh(x); }
        case 10u: { return real_pow(x, p.alpha); }
        case 11u: { return p.alpha * x + p.beta; }                     // affine
        case 12u: { return sign_of(x); }
        case 13u: { return select(0.0, 1.0, x > p.alpha); }            // step: x > alpha
        case 14u: { return select(p.alpha, 1.0, x > 0.0); }           // leaky_relu slope mask
        case 15u: { return 1.0 / x; }
        case 16u: { return select(0.0, 1.0, x > 0.0 || is_nan(x)); }  // relu gradient mask
        default: { return x; }
    }
}


@compute @workgroup_size(256)
fn unary_map(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    out[i] = unary(p.op, a[i]);
}
