// wgflow map_neg_exp_add_div_1024
@group(0) @binding(0) var<storage, read> in0: array<f32>;
@group(0) @binding(1) var<storage, read_write> out0: array<f32>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let p = i32((wid.x + wid.y * nwg.x) * 256u + li);
    if (p >= 1024) {
        return;
    }
    let x0_0: f32 = in0[p + 0];
    let x0_1: f32 = f32(1.0);
    let x0_2: f32 = -x0_0;
    let x0_3: f32 = exp(x0_2);
    let x0_4: f32 = (x0_3 + x0_1);
    let x0_5: f32 = (x0_1 / x0_4);
    out0[p] = x0_5;
}
