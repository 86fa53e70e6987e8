// wgflow map4_neg_exp_add_div_1024
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
    let x0_1: f32 = f32(1.0);
    let x0_2: f32 = -x0_0;
    let x0_3: f32 = exp(x0_2);
    let x0_4: f32 = (x0_3 + x0_1);
    let x0_5: f32 = (x0_1 / x0_4);
    let x1_0: f32 = l0[1];
    let x1_1: f32 = f32(1.0);
    let x1_2: f32 = -x1_0;
    let x1_3: f32 = exp(x1_2);
    let x1_4: f32 = (x1_3 + x1_1);
    let x1_5: f32 = (x1_1 / x1_4);
    let x2_0: f32 = l0[2];
    let x2_1: f32 = f32(1.0);
    let x2_2: f32 = -x2_0;
    let x2_3: f32 = exp(x2_2);
    let x2_4: f32 = (x2_3 + x2_1);
    let x2_5: f32 = (x2_1 / x2_4);
    let x3_0: f32 = l0[3];
    let x3_1: f32 = f32(1.0);
    let x3_2: f32 = -x3_0;
    let x3_3: f32 = exp(x3_2);
    let x3_4: f32 = (x3_3 + x3_1);
    let x3_5: f32 = (x3_1 / x3_4);
    out0[p] = vec4<f32>(x0_5, x1_5, x2_5, x3_5);
}
