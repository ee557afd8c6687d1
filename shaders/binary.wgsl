// Binary maps with broadcasting: out[i] = f(a[i'], b[i'']) where each operand
// is read through its own strides over the output shape (stride 0 on an axis it
// is broadcast along). `contiguous = 1` means both operands have the output's
// shape and skips the index arithmetic.
//
// Thread mapping: one invocation per output element, 256 per workgroup, 2-D
// folded grid.

struct BinaryParams {
    n: u32,
    rank: u32,
    op: u32,
    contiguous: u32,
    shape: array<vec4<u32>, 2>,
    strides_a: array<vec4<u32>, 2>,
    strides_b: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> p: BinaryParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// Binary op codes (src/kernels/elementwise.rs: BinaryOp). Comparisons give 1.0 / 0.0.
fn binary(op: u32, a: f32, b: f32) -> f32 {
    switch op {
        case 0u: { return a + b; }
        case 1u: { return a - b; }
        case 2u: { return a * b; }
        case 3u: { return a / b; }
        case 4u: { return real_pow(a, b); }
        case 5u: { return max_nan(a, b); }
        case 6u: { return min_nan(a, b); }
        case 7u: { return select(0.0, 1.0, a == b); }
        case 8u: { return select(0.0, 1.0, a != b); }
        case 9u: { return select(0.0, 1.0, a < b); }
        case 10u: { return select(0.0, 1.0, a <= b); }
        case 11u: { return select(0.0, 1.0, a > b); }
        case 12u: { return select(0.0, 1.0, a >= b); }
        default: { return a; }
    }
}

@compute @workgroup_size(256)
fn binary_map(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    if (p.contiguous == 1u) {
        out[i] = binary(p.op, a[i], b[i]);
    } else {
        let ia = strided_offset(i, p.rank, p.shape, p.strides_a);
        let ib = strided_offset(i, p.rank, p.shape, p.strides_b);
        out[i] = binary(p.op, a[ia], b[ib]);
    }
}
