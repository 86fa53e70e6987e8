// wgflow map_add_2x3x4
@group(0) @binding(0) var<storage, read> in0: array<f32>;
@group(0) @binding(1) var<storage, read> in1: array<f32>;
@group(0) @binding(2) var<storage, read_write> out0: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let p = i32((wid.x + wid.y * nwg.x) * 256u + li);
    if (p >= 24) {
        return;
    }
    let x0_0: f32 = in0[0 + ((p / 12)) * 4 + ((p % 4)) * 1];
    let x0_1: f32 = in1[0 + (((p / 4) % 3)) * 1];
    let x0_2: f32 = (x0_0 + x0_1);
    out0[p] = x0_2;
}
