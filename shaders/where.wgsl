// where(cond, a, b): out[i] = cond != 0 ? a : b, every operand broadcast to the
// output shape through its own strides.
//
// Thread mapping: one invocation per output element, 256 per workgroup, 2-D
// folded grid.
//
// MODE_C, MODE_A, MODE_B (pipeline constants, chosen by the launcher as for
// binary_map) say how each operand is read: 0 at the output's index (same
// shape), 1 at i % n (a suffix of the output's axes, or one value with
// n = 1), 3 at (i / inner) % n (a block of axes with broadcast axes on both
// sides), 2 through its strides, decoding the output index per element.
// Only mode 2 pays for the decoding (a division and a modulo per axis); a
// ReLU's gradient, where(x > 0, g, 0), reads modes 0, 0 and 1.

struct WhereParams {
    n: u32,
    rank: u32,
    n_c: u32,
    n_a: u32,
    n_b: u32,
    inner_c: u32,
    inner_a: u32,
    inner_b: u32,
    shape: array<vec4<u32>, 2>,
    strides_cond: array<vec4<u32>, 2>,
    strides_a: array<vec4<u32>, 2>,
    strides_b: array<vec4<u32>, 2>,
}

override MODE_C: u32 = 2u;
override MODE_A: u32 = 2u;
override MODE_B: u32 = 2u;

@group(0) @binding(0) var<uniform> p: WhereParams;
@group(0) @binding(1) var<storage, read> cond: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

// Where an operand read in `mode` finds element i (`decoded`: through its
// strides, mode 2).
fn place(mode: u32, i: u32, n: u32, inner: u32, decoded: u32) -> u32 {
    switch mode {
        case 0u: { return i; }
        case 1u: { return i % n; }
        case 3u: { return (i / inner) % n; }
        default: { return decoded; }
    }
}

@compute @workgroup_size(256)
fn where_select(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    var oc = 0u;
    var oa = 0u;
    var ob = 0u;
    if (MODE_C == 2u || MODE_A == 2u || MODE_B == 2u) {
        var rem = i;
        for (var k = i32(p.rank) - 1; k >= 0; k = k - 1) {
            let extent = p.shape[k / 4][k % 4];
            let idx = rem % extent;
            rem = rem / extent;
            oc = oc + idx * p.strides_cond[k / 4][k % 4];
            oa = oa + idx * p.strides_a[k / 4][k % 4];
            ob = ob + idx * p.strides_b[k / 4][k % 4];
        }
    }
    oc = place(MODE_C, i, p.n_c, p.inner_c, oc);
    oa = place(MODE_A, i, p.n_a, p.inner_a, oa);
    ob = place(MODE_B, i, p.n_b, p.inner_b, ob);
    out[i] = select(b[ob], a[oa], cond[oc] != 0.0);
}
