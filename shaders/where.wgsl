// where(cond, a, b): out[i] = cond != 0 ? a : b, every operand broadcast to the
// output shape through its own strides.
//
// Thread mapping: one invocation per output element, 256 per workgroup, 2-D
// folded grid.

struct WhereParams {
    n: u32,
    rank: u32,
    _pad0: u32,
    _pad1: u32,
    shape: array<vec4<u32>, 2>,
    strides_cond: array<vec4<u32>, 2>,
    strides_a: array<vec4<u32>, 2>,
    strides_b: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> p: WhereParams;
@group(0) @binding(1) var<storage, read> cond: array<f32>;
@group(0) @binding(2) var<storage, read> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(256)
fn where_select(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i >= p.n) {
        return;
    }
    var rem = i;
    var oc = 0u;
    var oa = 0u;
    var ob = 0u;
    for (var k = i32(p.rank) - 1; k >= 0; k = k - 1) {
        let extent = p.shape[k / 4][k % 4];
        let idx = rem % extent;
        rem = rem / extent;
        oc = oc + idx * p.strides_cond[k / 4][k % 4];
        oa = oa + idx * p.strides_a[k / 4][k % 4];
        ob = ob + idx * p.strides_b[k / 4][k % 4];
    }
    out[i] = select(b[ob], a[oa], cond[oc] != 0.0);
}
