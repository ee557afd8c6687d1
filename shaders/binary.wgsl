// Binary maps with broadcasting: out[i] = f(a[i'], b[i'']).
//
// How each operand is read is a pipeline constant (MODE_A, MODE_B), so every
// pipeline holds only the index arithmetic it needs:
//   0: same shape as the output       → index i
//   1: a suffix of the output's shape → index i % n (scalars and row vectors
//      such as a bias broadcast over a batch)
//   2: anything else                  → through its strides over the output
//      shape (stride 0 on a broadcast axis)
//
// Thread mapping: one invocation per output element, 256 per workgroup, 2-D
// folded grid.

struct BinaryParams {
    n: u32,
    rank: u32,
    op: u32,
    n_a: u32,
    n_b: u32,
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
    shape: array<vec4<u32>, 2>,
    strides_a: array<vec4<u32>, 2>,
    strides_b: array<vec4<u32>, 2>,
}

override MODE_A: u32 = 2u;
override MODE_B: u32 = 2u;

@group(0) @binding(0) var<uniform> p: BinaryParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// Binary op codes, mirrored by src/kernels/binary.rs (op_codes, same names).
// Comparisons give 1.0 / 0.0.
const OP_ADD: u32 = 0u;
const OP_SUB: u32 = 1u;
const OP_MUL: u32 = 2u;
const OP_DIV: u32 = 3u;
const OP_POW: u32 = 4u;
const OP_MAX: u32 = 5u;
const OP_MIN: u32 = 6u;
const OP_EQ: u32 = 7u;
const OP_NE: u32 = 8u;
const OP_LT: u32 = 9u;
const OP_LE: u32 = 10u;
const OP_GT: u32 = 11u;
const OP_GE: u32 = 12u;

fn binary(op: u32, a: f32, b: f32) -> f32 {
    switch op {
        case OP_ADD: { return a + b; }
        case OP_SUB: { return a - b; }
        case OP_MUL: { return a * b; }
        case OP_DIV: { return a / b; }
        case OP_POW: { return real_pow(a, b); }
        case OP_MAX: { return max_nan(a, b); }
        case OP_MIN: { return min_nan(a, b); }
        case OP_EQ: { return select(0.0, 1.0, a == b); }
        case OP_NE: { return select(0.0, 1.0, a != b); }
        case OP_LT: { return select(0.0, 1.0, a < b); }
        case OP_LE: { return select(0.0, 1.0, a <= b); }
        case OP_GT: { return select(0.0, 1.0, a > b); }
        case OP_GE: { return select(0.0, 1.0, a >= b); }
        default: { return a; }
    }
}

// Offsets through the strides, reading the uniform directly (a local copy of
// the arrays would be dynamically indexed memory: slow on CPU drivers).
fn offset_a(i: u32) -> u32 {
    var rem = i;
    var off = 0u;
    for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
        let extent = p.shape[d / 4][d % 4];
        off = off + (rem % extent) * p.strides_a[d / 4][d % 4];
        rem = rem / extent;
    }
    return off;
}

fn offset_b(i: u32) -> u32 {
    var rem = i;
    var off = 0u;
    for (var d = i32(p.rank) - 1; d >= 0; d = d - 1) {
        let extent = p.shape[d / 4][d % 4];
        off = off + (rem % extent) * p.strides_b[d / 4][d % 4];
        rem = rem / extent;
    }
    return off;
}

@compute @workgroup_size(256)
fn binary_map(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    var ia = i;
    if (MODE_A == 1u) {
        ia = i % p.n_a;
    } else if (MODE_A == 2u) {
        ia = offset_a(i);
    }
    var ib = i;
    if (MODE_B == 1u) {
        ib = i % p.n_b;
    } else if (MODE_B == 2u) {
        ib = offset_b(i);
    }
    out[i] = binary(p.op, a[ia], b[ib]);
}
