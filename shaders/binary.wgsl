// Binary maps with broadcasting: out[i] = f(a[i'], b[i'']).
//
// Everything that decides how the kernel runs is a pipeline constant, so each
// pipeline holds only the arithmetic it needs and no per-element branch on
// the op:
//   OP       the operation (OP_* below)
//   MODE_A, MODE_B  how each operand is read, chosen by the launcher:
//     0: same shape as the output        → index i
//     1: a suffix of the output's shape  → index i % n (a scalar, a row vector
//        such as a bias over a batch)
//     2: anything else                   → through its strides over the output
//        shape (stride 0 on a broadcast axis), decoded axis by axis
//     3: one contiguous block of axes in the middle, broadcast over the axes
//        before and after it             → index (i / inner) % n (a per-channel
//        value over [N, C, H, W], a column over rows)
//   VEC      output elements per invocation: 4 when every operand's index is
//            the same or advances by one across each aligned group of four
//            (modes 0, 1 with n = 1 or n % 4 = 0, 3 with inner % 4 = 0), so the
//            index arithmetic runs once per four elements; else 1.
//
// Thread mapping: one invocation per VEC output elements, 256 per workgroup,
// 2-D folded grid. The last invocation of a VEC = 4 run takes the 1–3
// elements past the last full group one by one.

struct BinaryParams {
    n: u32,
    rank: u32,
    op: u32,
    n_a: u32,
    n_b: u32,
    inner_a: u32,
    inner_b: u32,
    _pad0: u32,
    shape: array<vec4<u32>, 2>,
    strides_a: array<vec4<u32>, 2>,
    strides_b: array<vec4<u32>, 2>,
}

override MODE_A: u32 = 2u;
override MODE_B: u32 = 2u;
override OP: u32 = 0u;
override VEC: u32 = 1u;

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

// OP is a pipeline constant: the compiler keeps one case.
fn binary(x: f32, y: f32) -> f32 {
    switch OP {
        case OP_ADD: { return x + y; }
        case OP_SUB: { return x - y; }
        case OP_MUL: { return x * y; }
        case OP_DIV: { return x / y; }
        case OP_POW: { return real_pow(x, y); }
        case OP_MAX: { return max_nan(x, y); }
        case OP_MIN: { return min_nan(x, y); }
        case OP_EQ: { return select(0.0, 1.0, x == y); }
        case OP_NE: { return select(0.0, 1.0, x != y); }
        case OP_LT: { return select(0.0, 1.0, x < y); }
        case OP_LE: { return select(0.0, 1.0, x <= y); }
        case OP_GT: { return select(0.0, 1.0, x > y); }
        case OP_GE: { return select(0.0, 1.0, x >= y); }
        default: { return x; }
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

fn index_a(i: u32) -> u32 {
    switch MODE_A {
        case 0u: { return i; }
        case 1u: { return i % p.n_a; }
        case 3u: { return (i / p.inner_a) % p.n_a; }
        default: { return offset_a(i); }
    }
}

fn index_b(i: u32) -> u32 {
    switch MODE_B {
        case 0u: { return i; }
        case 1u: { return i % p.n_b; }
        case 3u: { return (i / p.inner_b) % p.n_b; }
        default: { return offset_b(i); }
    }
}

// How far an operand's index moves from one element of an aligned group of
// four to the next: 1 when it walks with the output, 0 when it stays.
fn step_of(mode: u32, n: u32) -> u32 {
    if (mode == 0u || (mode == 1u && n > 1u)) {
        return 1u;
    }
    return 0u;
}

@compute @workgroup_size(256)
fn binary_map(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid) * VEC;
    if (i >= p.n) {
        return;
    }
    if (VEC == 4u && i + 3u < p.n) {
        let ia = index_a(i);
        let ib = index_b(i);
        let sa = step_of(MODE_A, p.n_a);
        let sb = step_of(MODE_B, p.n_b);
        out[i] = binary(a[ia], b[ib]);
        out[i + 1u] = binary(a[ia + sa], b[ib + sb]);
        out[i + 2u] = binary(a[ia + 2u * sa], b[ib + 2u * sb]);
        out[i + 3u] = binary(a[ia + 3u * sa], b[ib + 3u * sb]);
        return;
    }
    // VEC = 1, or the tail of a VEC = 4 run: element by element (at most 3
    // iterations).
    let end = min(i + VEC, p.n);
    for (var j = i; j < end; j = j + 1u) {
        out[j] = binary(a[index_a(j)], b[index_b(j)]);
    }
}
