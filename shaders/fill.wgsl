// fill: dst[i] = value for i < n.
//
// Thread mapping: one invocation per element, 256 per workgroup, 2-D folded grid.

struct FillParams {
    n: u32,
    value: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: FillParams;
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(256)
fn fill(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let i = linear_id(wid, nwg, lid);
    if (i < p.n) {
        dst[i] = p.value;
    }
}
