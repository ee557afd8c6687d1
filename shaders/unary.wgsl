// Unary maps: out[i] = f(a[i]) for contiguous tensors. The op is a pipeline
// constant (OP), so each pipeline holds one case and no per-element switch.
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

override OP: u32 = 0u;

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

// Unary op codes, mirrored by src/kernels/unary.rs (op_codes, same names).
const OP_NEG: u32 = 0u;
const OP_EXP: u32 = 1u;
const OP_LOG: u32 = 2u;
const OP_SQRT: u32 = 3u;
const OP_RSQRT: u32 = 4u;
const OP_ABS: u32 = 5u;
const OP_RELU: u32 = 6u;
const OP_LEAKY_RELU: u32 = 7u;
const OP_SIGMOID: u32 = 8u;
const OP_TANH: u32 = 9u;
const OP_POWF: u32 = 10u;
const OP_AFFINE: u32 = 11u;
const OP_SIGN: u32 = 12u;
const OP_STEP: u32 = 13u;
const OP_LEAKY_MASK: u32 = 14u;
const OP_RECIP: u32 = 15u;
const OP_RELU_MASK: u32 = 16u;

fn unary(x: f32) -> f32 {
    switch OP {
        case OP_NEG: { return -x; }
        case OP_EXP: { return exp(x); }
        case OP_LOG: { return log(x); }
        case OP_SQRT: { return sqrt(x); }
        case OP_RSQRT: { return inverseSqrt(x); }
        case OP_ABS: { return abs(x); }
        case OP_RELU: { return relu_nan(x); }
        case OP_LEAKY_RELU: { return select(p.alpha * x, x, x > 0.0); }
        case OP_SIGMOID: { return stable_sigmoid(x); }
        case OP_TANH: { return stable_tanh(x); }
        case OP_POWF: { return real_pow(x, p.alpha); }
        case OP_AFFINE: { return p.alpha * x + p.beta; }
        case OP_SIGN: { return sign_of(x); }
        case OP_STEP: { return select(0.0, 1.0, x > p.alpha); }           // x > alpha
        case OP_LEAKY_MASK: { return select(p.alpha, 1.0, x > 0.0); }     // leaky_relu slope mask
        case OP_RECIP: { return 1.0 / x; }
        case OP_RELU_MASK: { return select(0.0, 1.0, x > 0.0 || is_nan(x)); } // relu gradient mask
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
    out[i] = unary(a[i]);
}
