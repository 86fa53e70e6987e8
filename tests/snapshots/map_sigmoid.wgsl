// wgflow map4_sigmoid_1024
@group(0) @binding(0) var<storage, read> in0: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> out0: array<vec4<f32>>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let p = i32((wid.x + wid.y * nwg.x) * 256u + li);
    if (p >= 256) {
        return;
    }
    let l0 = in0[p + 0];
    let x0_0: f32 = l0[0];
    let x0_1: f32 = (1.0 / (1.0 + exp(-(x0_0))));
    let x1_0: f32 = l0[1];
    let x1_1: f32 = (1.0 / (1.0 + exp(-(x1_0))));
    let x2_0: f32 = l0[2];
    let x2_1: f32 = (1.0 / (1.0 + exp(-(x2_0))));
    let x3_0: f32 = l0[3];
    let x3_1: f32 = (1.0 / (1.0 + exp(-(x3_0))));
    out0[p] = vec4<f32>(x0_1, x1_1, x2_1, x3_1);
}
