// wgflow reduce_sum_copy_64x1000_axes[1]
@group(0) @binding(0) var<storage, read> in0: array<f32>;
@group(0) @binding(1) var<storage, read_write> out0: array<f32>;

var<workgroup> sh: array<f32, 256>;
var<workgroup> shi: array<i32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let o = i32(wid.x + wid.y * nwg.x);
    if (o >= 64) {
        return;
    }
    var acc: f32 = 0.0;
    var bi: i32 = -1;
    for (var r: i32 = i32(li); r < 1000; r += 256) {
        let x0_0: f32 = in0[0 + (o) * 1000 + (r) * 1];
        acc = acc + x0_0;
    }
    sh[li] = acc;
    shi[li] = bi;
    workgroupBarrier();
    for (var s = 128u; s > 0u; s = s >> 1u) {
        if (li < s) {
            sh[li] = sh[li] + sh[li + s];
        }
        workgroupBarrier();
    }
    if (li != 0u) {
        return;
    }
    acc = sh[0];
    bi = shi[0];
    out0[o] = acc;
}
