// wgflow matmul_blocked_128x128x256_b1_kouter
@group(0) @binding(0) var<storage, read> in0: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> in1: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> out0: array<f32>;

const M: i32 = 128;
const N: i32 = 128;
const K: i32 = 256;
fn store(bi: i32, r: i32, c: i32, acc: f32) {
    out0[bi * 16384 + r * 128 + c] = acc;
}
@compute @workgroup_size(8, 8, 1)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let tile = i32(wid.x + wid.y * nwg.x);
    if (tile >= 1) {
        return;
    }
    let bi = tile / 1;
    let t = tile % 1;
    let row0 = (t / 1) * 128 + i32(lid.y) * 16;
    let col0 = (t % 1) * 128 + i32(lid.x) * 16;
    var c0_0 = vec4<f32>(0.0);
    var c0_1 = vec4<f32>(0.0);
    var c0_2 = vec4<f32>(0.0);
    var c0_3 = vec4<f32>(0.0);
    var c1_0 = vec4<f32>(0.0);
    var c1_1 = vec4<f32>(0.0);
    var c1_2 = vec4<f32>(0.0);
    var c1_3 = vec4<f32>(0.0);
    var c2_0 = vec4<f32>(0.0);
    var c2_1 = vec4<f32>(0.0);
    var c2_2 = vec4<f32>(0.0);
    var c2_3 = vec4<f32>(0.0);
    var c3_0 = vec4<f32>(0.0);
    var c3_1 = vec4<f32>(0.0);
    var c3_2 = vec4<f32>(0.0);
    var c3_3 = vec4<f32>(0.0);
    var c4_0 = vec4<f32>(0.0);
    var c4_1 = vec4<f32>(0.0);
    var c4_2 = vec4<f32>(0.0);
    var c4_3 = vec4<f32>(0.0);
    var c5_0 = vec4<f32>(0.0);
    var c5_1 = vec4<f32>(0.0);
    var c5_2 = vec4<f32>(0.0);
    var c5_3 = vec4<f32>(0.0);
    var c6_0 = vec4<f32>(0.0);
    var c6_1 = vec4<f32>(0.0);
    var c6_2 = vec4<f32>(0.0);
    var c6_3 = vec4<f32>(0.0);
    var c7_0 = vec4<f32>(0.0);
    var c7_1 = vec4<f32>(0.0);
    var c7_2 = vec4<f32>(0.0);
    var c7_3 = vec4<f32>(0.0);
    var c8_0 = vec4<f32>(0.0);
    var c8_1 = vec4<f32>(0.0);
    var c8_2 = vec4<f32>(0.0);
    var c8_3 = vec4<f32>(0.0);
    var c9_0 = vec4<f32>(0.0);
    var c9_1 = vec4<f32>(0.0);
    var c9_2 = vec4<f32>(0.0);
    var c9_3 = vec4<f32>(0.0);
    var c10_0 = vec4<f32>(0.0);
    var c10_1 = vec4<f32>(0.0);
    var c10_2 = vec4<f32>(0.0);
    var c10_3 = vec4<f32>(0.0);
    var c11_0 = vec4<f32>(0.0);
    var c11_1 = vec4<f32>(0.0);
    var c11_2 = vec4<f32>(0.0);
    var c11_3 = vec4<f32>(0.0);
    var c12_0 = vec4<f32>(0.0);
    var c12_1 = vec4<f32>(0.0);
    var c12_2 = vec4<f32>(0.0);
    var c12_3 = vec4<f32>(0.0);
    var c13_0 = vec4<f32>(0.0);
    var c13_1 = vec4<f32>(0.0);
    var c13_2 = vec4<f32>(0.0);
    var c13_3 = vec4<f32>(0.0);
    var c14_0 = vec4<f32>(0.0);
    var c14_1 = vec4<f32>(0.0);
    var c14_2 = vec4<f32>(0.0);
    var c14_3 = vec4<f32>(0.0);
    var c15_0 = vec4<f32>(0.0);
    var c15_1 = vec4<f32>(0.0);
    var c15_2 = vec4<f32>(0.0);
    var c15_3 = vec4<f32>(0.0);
    let abase = 0;
    let bbase = 0;
    for (var k0 = 0; k0 < K; k0 += 4) {
        let a0 = in0[(abase + min(row0 + 0, M - 1) * 256 + k0) / 4];
        let a1 = in0[(abase + min(row0 + 1, M - 1) * 256 + k0) / 4];
        let a2 = in0[(abase + min(row0 + 2, M - 1) * 256 + k0) / 4];
        let a3 = in0[(abase + min(row0 + 3, M - 1) * 256 + k0) / 4];
        let a4 = in0[(abase + min(row0 + 4, M - 1) * 256 + k0) / 4];
        let a5 = in0[(abase + min(row0 + 5, M - 1) * 256 + k0) / 4];
        let a6 = in0[(abase + min(row0 + 6, M - 1) * 256 + k0) / 4];
        let a7 = in0[(abase + min(row0 + 7, M - 1) * 256 + k0) / 4];
        let a8 = in0[(abase + min(row0 + 8, M - 1) * 256 + k0) / 4];
        let a9 = in0[(abase + min(row0 + 9, M - 1) * 256 + k0) / 4];
        let a10 = in0[(abase + min(row0 + 10, M - 1) * 256 + k0) / 4];
        let a11 = in0[(abase + min(row0 + 11, M - 1) * 256 + k0) / 4];
        let a12 = in0[(abase + min(row0 + 12, M - 1) * 256 + k0) / 4];
        let a13 = in0[(abase + min(row0 + 13, M - 1) * 256 + k0) / 4];
        let a14 = in0[(abase + min(row0 + 14, M - 1) * 256 + k0) / 4];
        let a15 = in0[(abase + min(row0 + 15, M - 1) * 256 + k0) / 4];
        let b0_0 = in1[(bbase + (k0 + 0) * 128 + min(col0 + 0, N - 4)) / 4];
        let b1_0 = in1[(bbase + (k0 + 1) * 128 + min(col0 + 0, N - 4)) / 4];
        let b2_0 = in1[(bbase + (k0 + 2) * 128 + min(col0 + 0, N - 4)) / 4];
        let b3_0 = in1[(bbase + (k0 + 3) * 128 + min(col0 + 0, N - 4)) / 4];
        let b0_1 = in1[(bbase + (k0 + 0) * 128 + min(col0 + 4, N - 4)) / 4];
        let b1_1 = in1[(bbase + (k0 + 1) * 128 + min(col0 + 4, N - 4)) / 4];
        let b2_1 = in1[(bbase + (k0 + 2) * 128 + min(col0 + 4, N - 4)) / 4];
        let b3_1 = in1[(bbase + (k0 + 3) * 128 + min(col0 + 4, N - 4)) / 4];
        let b0_2 = in1[(bbase + (k0 + 0) * 128 + min(col0 + 8, N - 4)) / 4];
        let b1_2 = in1[(bbase + (k0 + 1) * 128 + min(col0 + 8, N - 4)) / 4];
        let b2_2 = in1[(bbase + (k0 + 2) * 128 + min(col0 + 8, N - 4)) / 4];
        let b3_2 = in1[(bbase + (k0 + 3) * 128 + min(col0 + 8, N - 4)) / 4];
        let b0_3 = in1[(bbase + (k0 + 0) * 128 + min(col0 + 12, N - 4)) / 4];
        let b1_3 = in1[(bbase + (k0 + 1) * 128 + min(col0 + 12, N - 4)) / 4];
        let b2_3 = in1[(bbase + (k0 + 2) * 128 + min(col0 + 12, N - 4)) / 4];
        let b3_3 = in1[(bbase + (k0 + 3) * 128 + min(col0 + 12, N - 4)) / 4];
        c0_0 += a0.x * b0_0 + a0.y * b1_0 + a0.z * b2_0 + a0.w * b3_0;
        c0_1 += a0.x * b0_1 + a0.y * b1_1 + a0.z * b2_1 + a0.w * b3_1;
        c0_2 += a0.x * b0_2 + a0.y * b1_2 + a0.z * b2_2 + a0.w * b3_2;
        c0_3 += a0.x * b0_3 + a0.y * b1_3 + a0.z * b2_3 + a0.w * b3_3;
        c1_0 += a1.x * b0_0 + a1.y * b1_0 + a1.z * b2_0 + a1.w * b3_0;
        c1_1 += a1.x * b0_1 + a1.y * b1_1 + a1.z * b2_1 + a1.w * b3_1;
        c1_2 += a1.x * b0_2 + a1.y * b1_2 + a1.z * b2_2 + a1.w * b3_2;
        c1_3 += a1.x * b0_3 + a1.y * b1_3 + a1.z * b2_3 + a1.w * b3_3;
        c2_0 += a2.x * b0_0 + a2.y * b1_0 + a2.z * b2_0 + a2.w * b3_0;
        c2_1 += a2.x * b0_1 + a2.y * b1_1 + a2.z * b2_1 + a2.w * b3_1;
        c2_2 += a2.x * b0_2 + a2.y * b1_2 + a2.z * b2_2 + a2.w * b3_2;
        c2_3 += a2.x * b0_3 + a2.y * b1_3 + a2.z * b2_3 + a2.w * b3_3;
        c3_0 += a3.x * b0_0 + a3.y * b1_0 + a3.z * b2_0 + a3.w * b3_0;
        c3_1 += a3.x * b0_1 + a3.y * b1_1 + a3.z * b2_1 + a3.w * b3_1;
        c3_2 += a3.x * b0_2 + a3.y * b1_2 + a3.z * b2_2 + a3.w * b3_2;
        c3_3 += a3.x * b0_3 + a3.y * b1_3 + a3.z * b2_3 + a3.w * b3_3;
        c4_0 += a4.x * b0_0 + a4.y * b1_0 + a4.z * b2_0 + a4.w * b3_0;
        c4_1 += a4.x * b0_1 + a4.y * b1_1 + a4.z * b2_1 + a4.w * b3_1;
        c4_2 += a4.x * b0_2 + a4.y * b1_2 + a4.z * b2_2 + a4.w * b3_2;
        c4_3 += a4.x * b0_3 + a4.y * b1_3 + a4.z * b2_3 + a4.w * b3_3;
        c5_0 += a5.x * b0_0 + a5.y * b1_0 + a5.z * b2_0 + a5.w * b3_0;
        c5_1 += a5.x * b0_1 + a5.y * b1_1 + a5.z * b2_1 + a5.w * b3_1;
        c5_2 += a5.x * b0_2 + a5.y * b1_2 + a5.z * b2_2 + a5.w * b3_2;
        c5_3 += a5.x * b0_3 + a5.y * b1_3 + a5.z * b2_3 + a5.w * b3_3;
        c6_0 += a6.x * b0_0 + a6.y * b1_0 + a6.z * b2_0 + a6.w * b3_0;
        c6_1 += a6.x * b0_1 + a6.y * b1_1 + a6.z * b2_1 + a6.w * b3_1;
        c6_2 += a6.x * b0_2 + a6.y * b1_2 + a6.z * b2_2 + a6.w * b3_2;
        c6_3 += a6.x * b0_3 + a6.y * b1_3 + a6.z * b2_3 + a6.w * b3_3;
        c7_0 += a7.x * b0_0 + a7.y * b1_0 + a7.z * b2_0 + a7.w * b3_0;
        c7_1 += a7.x * b0_1 + a7.y * b1_1 + a7.z * b2_1 + a7.w * b3_1;
        c7_2 += a7.x * b0_2 + a7.y * b1_2 + a7.z * b2_2 + a7.w * b3_2;
        c7_3 += a7.x * b0_3 + a7.y * b1_3 + a7.z * b2_3 + a7.w * b3_3;
        c8_0 += a8.x * b0_0 + a8.y * b1_0 + a8.z * b2_0 + a8.w * b3_0;
        c8_1 += a8.x * b0_1 + a8.y * b1_1 + a8.z * b2_1 + a8.w * b3_1;
        c8_2 += a8.x * b0_2 + a8.y * b1_2 + a8.z * b2_2 + a8.w * b3_2;
        c8_3 += a8.x * b0_3 + a8.y * b1_3 + a8.z * b2_3 + a8.w * b3_3;
        c9_0 += a9.x * b0_0 + a9.y * b1_0 + a9.z * b2_0 + a9.w * b3_0;
        c9_1 += a9.x * b0_1 + a9.y * b1_1 + a9.z * b2_1 + a9.w * b3_1;
        c9_2 += a9.x * b0_2 + a9.y * b1_2 + a9.z * b2_2 + a9.w * b3_2;
        c9_3 += a9.x * b0_3 + a9.y * b1_3 + a9.z * b2_3 + a9.w * b3_3;
        c10_0 += a10.x * b0_0 + a10.y * b1_0 + a10.z * b2_0 + a10.w * b3_0;
        c10_1 += a10.x * b0_1 + a10.y * b1_1 + a10.z * b2_1 + a10.w * b3_1;
        c10_2 += a10.x * b0_2 + a10.y * b1_2 + a10.z * b2_2 + a10.w * b3_2;
        c10_3 += a10.x * b0_3 + a10.y * b1_3 + a10.z * b2_3 + a10.w * b3_3;
        c11_0 += a11.x * b0_0 + a11.y * b1_0 + a11.z * b2_0 + a11.w * b3_0;
        c11_1 += a11.x * b0_1 + a11.y * b1_1 + a11.z * b2_1 + a11.w * b3_1;
        c11_2 += a11.x * b0_2 + a11.y * b1_2 + a11.z * b2_2 + a11.w * b3_2;
        c11_3 += a11.x * b0_3 + a11.y * b1_3 + a11.z * b2_3 + a11.w * b3_3;
        c12_0 += a12.x * b0_0 + a12.y * b1_0 + a12.z * b2_0 + a12.w * b3_0;
        c12_1 += a12.x * b0_1 + a12.y * b1_1 + a12.z * b2_1 + a12.w * b3_1;
        c12_2 += a12.x * b0_2 + a12.y * b1_2 + a12.z * b2_2 + a12.w * b3_2;
        c12_3 += a12.x * b0_3 + a12.y * b1_3 + a12.z * b2_3 + a12.w * b3_3;
        c13_0 += a13.x * b0_0 + a13.y * b1_0 + a13.z * b2_0 + a13.w * b3_0;
        c13_1 += a13.x * b0_1 + a13.y * b1_1 + a13.z * b2_1 + a13.w * b3_1;
        c13_2 += a13.x * b0_2 + a13.y * b1_2 + a13.z * b2_2 + a13.w * b3_2;
        c13_3 += a13.x * b0_3 + a13.y * b1_3 + a13.z * b2_3 + a13.w * b3_3;
        c14_0 += a14.x * b0_0 + a14.y * b1_0 + a14.z * b2_0 + a14.w * b3_0;
        c14_1 += a14.x * b0_1 + a14.y * b1_1 + a14.z * b2_1 + a14.w * b3_1;
        c14_2 += a14.x * b0_2 + a14.y * b1_2 + a14.z * b2_2 + a14.w * b3_2;
        c14_3 += a14.x * b0_3 + a14.y * b1_3 + a14.z * b2_3 + a14.w * b3_3;
        c15_0 += a15.x * b0_0 + a15.y * b1_0 + a15.z * b2_0 + a15.w * b3_0;
        c15_1 += a15.x * b0_1 + a15.y * b1_1 + a15.z * b2_1 + a15.w * b3_1;
        c15_2 += a15.x * b0_2 + a15.y * b1_2 + a15.z * b2_2 + a15.w * b3_2;
        c15_3 += a15.x * b0_3 + a15.y * b1_3 + a15.z * b2_3 + a15.w * b3_3;
    }
    if (row0 + 0 < M && col0 + 0 < N) {
        store(bi, row0 + 0, col0 + 0, c0_0[0]);
    }
    if (row0 + 0 < M && col0 + 1 < N) {
        store(bi, row0 + 0, col0 + 1, c0_0[1]);
    }
    if (row0 + 0 < M && col0 + 2 < N) {
        store(bi, row0 + 0, col0 + 2, c0_0[2]);
    }
    if (row0 + 0 < M && col0 + 3 < N) {
        store(bi, row0 + 0, col0 + 3, c0_0[3]);
    }
    if (row0 + 0 < M && col0 + 4 < N) {
        store(bi, row0 + 0, col0 + 4, c0_1[0]);
    }
    if (row0 + 0 < M && col0 + 5 < N) {
        store(bi, row0 + 0, col0 + 5, c0_1[1]);
    }
    if (row0 + 0 < M && col0 + 6 < N) {
        store(bi, row0 + 0, col0 + 6, c0_1[2]);
    }
    if (row0 + 0 < M && col0 + 7 < N) {
        store(bi, row0 + 0, col0 + 7, c0_1[3]);
    }
    if (row0 + 0 < M && col0 + 8 < N) {
        store(bi, row0 + 0, col0 + 8, c0_2[0]);
    }
    if (row0 + 0 < M && col0 + 9 < N) {
        store(bi, row0 + 0, col0 + 9, c0_2[1]);
    }
    if (row0 + 0 < M && col0 + 10 < N) {
        store(bi, row0 + 0, col0 + 10, c0_2[2]);
    }
    if (row0 + 0 < M && col0 + 11 < N) {
        store(bi, row0 + 0, col0 + 11, c0_2[3]);
    }
    if (row0 + 0 < M && col0 + 12 < N) {
        store(bi, row0 + 0, col0 + 12, c0_3[0]);
    }
    if (row0 + 0 < M && col0 + 13 < N) {
        store(bi, row0 + 0, col0 + 13, c0_3[1]);
    }
    if (row0 + 0 < M && col0 + 14 < N) {
        store(bi, row0 + 0, col0 + 14, c0_3[2]);
    }
    if (row0 + 0 < M && col0 + 15 < N) {
        store(bi, row0 + 0, col0 + 15, c0_3[3]);
    }
    if (row0 + 1 < M && col0 + 0 < N) {
        store(bi, row0 + 1, col0 + 0, c1_0[0]);
    }
    if (row0 + 1 < M && col0 + 1 < N) {
        store(bi, row0 + 1, col0 + 1, c1_0[1]);
    }
    if (row0 + 1 < M && col0 + 2 < N) {
        store(bi, row0 + 1, col0 + 2, c1_0[2]);
    }
    if (row0 + 1 < M && col0 + 3 < N) {
        store(bi, row0 + 1, col0 + 3, c1_0[3]);
    }
    if (row0 + 1 < M && col0 + 4 < N) {
        store(bi, row0 + 1, col0 + 4, c1_1[0]);
    }
    if (row0 + 1 < M && col0 + 5 < N) {
        store(bi, row0 + 1, col0 + 5, c1_1[1]);
    }
    if (row0 + 1 < M && col0 + 6 < N) {
        store(bi, row0 + 1, col0 + 6, c1_1[2]);
    }
    if (row0 + 1 < M && col0 + 7 < N) {
        store(bi, row0 + 1, col0 + 7, c1_1[3]);
    }
    if (row0 + 1 < M && col0 + 8 < N) {
        store(bi, row0 + 1, col0 + 8, c1_2[0]);
    }
    if (row0 + 1 < M && col0 + 9 < N) {
        store(bi, row0 + 1, col0 + 9, c1_2[1]);
    }
    if (row0 + 1 < M && col0 + 10 < N) {
        store(bi, row0 + 1, col0 + 10, c1_2[2]);
    }
    if (row0 + 1 < M && col0 + 11 < N) {
        store(bi, row0 + 1, col0 + 11, c1_2[3]);
    }
    if (row0 + 1 < M && col0 + 12 < N) {
        store(bi, row0 + 1, col0 + 12, c1_3[0]);
    }
    if (row0 + 1 < M && col0 + 13 < N) {
        store(bi, row0 + 1, col0 + 13, c1_3[1]);
    }
    if (row0 + 1 < M && col0 + 14 < N) {
        store(bi, row0 + 1, col0 + 14, c1_3[2]);
    }
    if (row0 + 1 < M && col0 + 15 < N) {
        store(bi, row0 + 1, col0 + 15, c1_3[3]);
    }
    if (row0 + 2 < M && col0 + 0 < N) {
        store(bi, row0 + 2, col0 + 0, c2_0[0]);
    }
    if (row0 + 2 < M && col0 + 1 < N) {
        store(bi, row0 + 2, col0 + 1, c2_0[1]);
    }
    if (row0 + 2 < M && col0 + 2 < N) {
        store(bi, row0 + 2, col0 + 2, c2_0[2]);
    }
    if (row0 + 2 < M && col0 + 3 < N) {
        store(bi, row0 + 2, col0 + 3, c2_0[3]);
    }
    if (row0 + 2 < M && col0 + 4 < N) {
        store(bi, row0 + 2, col0 + 4, c2_1[0]);
    }
    if (row0 + 2 < M && col0 + 5 < N) {
        store(bi, row0 + 2, col0 + 5, c2_1[1]);
    }
    if (row0 + 2 < M && col0 + 6 < N) {
        store(bi, row0 + 2, col0 + 6, c2_1[2]);
    }
    if (row0 + 2 < M && col0 + 7 < N) {
        store(bi, row0 + 2, col0 + 7, c2_1[3]);
    }
    if (row0 + 2 < M && col0 + 8 < N) {
        store(bi, row0 + 2, col0 + 8, c2_2[0]);
    }
    if (row0 + 2 < M && col0 + 9 < N) {
        store(bi, row0 + 2, col0 + 9, c2_2[1]);
    }
    if (row0 + 2 < M && col0 + 10 < N) {
        store(bi, row0 + 2, col0 + 10, c2_2[2]);
    }
    if (row0 + 2 < M && col0 + 11 < N) {
        store(bi, row0 + 2, col0 + 11, c2_2[3]);
    }
    if (row0 + 2 < M && col0 + 12 < N) {
        store(bi, row0 + 2, col0 + 12, c2_3[0]);
    }
    if (row0 + 2 < M && col0 + 13 < N) {
        store(bi, row0 + 2, col0 + 13, c2_3[1]);
    }
    if (row0 + 2 < M && col0 + 14 < N) {
        store(bi, row0 + 2, col0 + 14, c2_3[2]);
    }
    if (row0 + 2 < M && col0 + 15 < N) {
        store(bi, row0 + 2, col0 + 15, c2_3[3]);
    }
    if (row0 + 3 < M && col0 + 0 < N) {
        store(bi, row0 + 3, col0 + 0, c3_0[0]);
    }
    if (row0 + 3 < M && col0 + 1 < N) {
        store(bi, row0 + 3, col0 + 1, c3_0[1]);
    }
    if (row0 + 3 < M && col0 + 2 < N) {
        store(bi, row0 + 3, col0 + 2, c3_0[2]);
    }
    if (row0 + 3 < M && col0 + 3 < N) {
        store(bi, row0 + 3, col0 + 3, c3_0[3]);
    }
    if (row0 + 3 < M && col0 + 4 < N) {
        store(bi, row0 + 3, col0 + 4, c3_1[0]);
    }
    if (row0 + 3 < M && col0 + 5 < N) {
        store(bi, row0 + 3, col0 + 5, c3_1[1]);
    }
    if (row0 + 3 < M && col0 + 6 < N) {
        store(bi, row0 + 3, col0 + 6, c3_1[2]);
    }
    if (row0 + 3 < M && col0 + 7 < N) {
        store(bi, row0 + 3, col0 + 7, c3_1[3]);
    }
    if (row0 + 3 < M && col0 + 8 < N) {
        store(bi, row0 + 3, col0 + 8, c3_2[0]);
    }
    if (row0 + 3 < M && col0 + 9 < N) {
        store(bi, row0 + 3, col0 + 9, c3_2[1]);
    }
    if (row0 + 3 < M && col0 + 10 < N) {
        store(bi, row0 + 3, col0 + 10, c3_2[2]);
    }
    if (row0 + 3 < M && col0 + 11 < N) {
        store(bi, row0 + 3, col0 + 11, c3_2[3]);
    }
    if (row0 + 3 < M && col0 + 12 < N) {
        store(bi, row0 + 3, col0 + 12, c3_3[0]);
    }
    if (row0 + 3 < M && col0 + 13 < N) {
        store(bi, row0 + 3, col0 + 13, c3_3[1]);
    }
    if (row0 + 3 < M && col0 + 14 < N) {
        store(bi, row0 + 3, col0 + 14, c3_3[2]);
    }
    if (row0 + 3 < M && col0 + 15 < N) {
        store(bi, row0 + 3, col0 + 15, c3_3[3]);
    }
    if (row0 + 4 < M && col0 + 0 < N) {
        store(bi, row0 + 4, col0 + 0, c4_0[0]);
    }
    if (row0 + 4 < M && col0 + 1 < N) {
        store(bi, row0 + 4, col0 + 1, c4_0[1]);
    }
    if (row0 + 4 < M && col0 + 2 < N) {
        store(bi, row0 + 4, col0 + 2, c4_0[2]);
    }
    if (row0 + 4 < M && col0 + 3 < N) {
        store(bi, row0 + 4, col0 + 3, c4_0[3]);
    }
    if (row0 + 4 < M && col0 + 4 < N) {
        store(bi, row0 + 4, col0 + 4, c4_1[0]);
    }
    if (row0 + 4 < M && col0 + 5 < N) {
        store(bi, row0 + 4, col0 + 5, c4_1[1]);
    }
    if (row0 + 4 < M && col0 + 6 < N) {
        store(bi, row0 + 4, col0 + 6, c4_1[2]);
    }
    if (row0 + 4 < M && col0 + 7 < N) {
        store(bi, row0 + 4, col0 + 7, c4_1[3]);
    }
    if (row0 + 4 < M && col0 + 8 < N) {
        store(bi, row0 + 4, col0 + 8, c4_2[0]);
    }
    if (row0 + 4 < M && col0 + 9 < N) {
        store(bi, row0 + 4, col0 + 9, c4_2[1]);
    }
    if (row0 + 4 < M && col0 + 10 < N) {
        store(bi, row0 + 4, col0 + 10, c4_2[2]);
    }
    if (row0 + 4 < M && col0 + 11 < N) {
        store(bi, row0 + 4, col0 + 11, c4_2[3]);
    }
    if (row0 + 4 < M && col0 + 12 < N) {
        store(bi, row0 + 4, col0 + 12, c4_3[0]);
    }
    if (row0 + 4 < M && col0 + 13 < N) {
        store(bi, row0 + 4, col0 + 13, c4_3[1]);
    }
    if (row0 + 4 < M && col0 + 14 < N) {
        store(bi, row0 + 4, col0 + 14, c4_3[2]);
    }
    if (row0 + 4 < M && col0 + 15 < N) {
        store(bi, row0 + 4, col0 + 15, c4_3[3]);
    }
    if (row0 + 5 < M && col0 + 0 < N) {
        store(bi, row0 + 5, col0 + 0, c5_0[0]);
    }
    if (row0 + 5 < M && col0 + 1 < N) {
        store(bi, row0 + 5, col0 + 1, c5_0[1]);
    }
    if (row0 + 5 < M && col0 + 2 < N) {
        store(bi, row0 + 5, col0 + 2, c5_0[2]);
    }
    if (row0 + 5 < M && col0 + 3 < N) {
        store(bi, row0 + 5, col0 + 3, c5_0[3]);
    }
    if (row0 + 5 < M && col0 + 4 < N) {
        store(bi, row0 + 5, col0 + 4, c5_1[0]);
    }
    if (row0 + 5 < M && col0 + 5 < N) {
        store(bi, row0 + 5, col0 + 5, c5_1[1]);
    }
    if (row0 + 5 < M && col0 + 6 < N) {
        store(bi, row0 + 5, col0 + 6, c5_1[2]);
    }
    if (row0 + 5 < M && col0 + 7 < N) {
        store(bi, row0 + 5, col0 + 7, c5_1[3]);
    }
    if (row0 + 5 < M && col0 + 8 < N) {
        store(bi, row0 + 5, col0 + 8, c5_2[0]);
    }
    if (row0 + 5 < M && col0 + 9 < N) {
        store(bi, row0 + 5, col0 + 9, c5_2[1]);
    }
    if (row0 + 5 < M && col0 + 10 < N) {
        store(bi, row0 + 5, col0 + 10, c5_2[2]);
    }
    if (row0 + 5 < M && col0 + 11 < N) {
        store(bi, row0 + 5, col0 + 11, c5_2[3]);
    }
    if (row0 + 5 < M && col0 + 12 < N) {
        store(bi, row0 + 5, col0 + 12, c5_3[0]);
    }
    if (row0 + 5 < M && col0 + 13 < N) {
        store(bi, row0 + 5, col0 + 13, c5_3[1]);
    }
    if (row0 + 5 < M && col0 + 14 < N) {
        store(bi, row0 + 5, col0 + 14, c5_3[2]);
    }
    if (row0 + 5 < M && col0 + 15 < N) {
        store(bi, row0 + 5, col0 + 15, c5_3[3]);
    }
    if (row0 + 6 < M && col0 + 0 < N) {
        store(bi, row0 + 6, col0 + 0, c6_0[0]);
    }
    if (row0 + 6 < M && col0 + 1 < N) {
        store(bi, row0 + 6, col0 + 1, c6_0[1]);
    }
    if (row0 + 6 < M && col0 + 2 < N) {
        store(bi, row0 + 6, col0 + 2, c6_0[2]);
    }
    if (row0 + 6 < M && col0 + 3 < N) {
        store(bi, row0 + 6, col0 + 3, c6_0[3]);
    }
    if (row0 + 6 < M && col0 + 4 < N) {
        store(bi, row0 + 6, col0 + 4, c6_1[0]);
    }
    if (row0 + 6 < M && col0 + 5 < N) {
        store(bi, row0 + 6, col0 + 5, c6_1[1]);
    }
    if (row0 + 6 < M && col0 + 6 < N) {
        store(bi, row0 + 6, col0 + 6, c6_1[2]);
    }
    if (row0 + 6 < M && col0 + 7 < N) {
        store(bi, row0 + 6, col0 + 7, c6_1[3]);
    }
    if (row0 + 6 < M && col0 + 8 < N) {
        store(bi, row0 + 6, col0 + 8, c6_2[0]);
    }
    if (row0 + 6 < M && col0 + 9 < N) {
        store(bi, row0 + 6, col0 + 9, c6_2[1]);
    }
    if (row0 + 6 < M && col0 + 10 < N) {
        store(bi, row0 + 6, col0 + 10, c6_2[2]);
    }
    if (row0 + 6 < M && col0 + 11 < N) {
        store(bi, row0 + 6, col0 + 11, c6_2[3]);
    }
    if (row0 + 6 < M && col0 + 12 < N) {
        store(bi, row0 + 6, col0 + 12, c6_3[0]);
    }
    if (row0 + 6 < M && col0 + 13 < N) {
        store(bi, row0 + 6, col0 + 13, c6_3[1]);
    }
    if (row0 + 6 < M && col0 + 14 < N) {
        store(bi, row0 + 6, col0 + 14, c6_3[2]);
    }
    if (row0 + 6 < M && col0 + 15 < N) {
        store(bi, row0 + 6, col0 + 15, c6_3[3]);
    }
    if (row0 + 7 < M && col0 + 0 < N) {
        store(bi, row0 + 7, col0 + 0, c7_0[0]);
    }
    if (row0 + 7 < M && col0 + 1 < N) {
        store(bi, row0 + 7, col0 + 1, c7_0[1]);
    }
    if (row0 + 7 < M && col0 + 2 < N) {
        store(bi, row0 + 7, col0 + 2, c7_0[2]);
    }
    if (row0 + 7 < M && col0 + 3 < N) {
        store(bi, row0 + 7, col0 + 3, c7_0[3]);
    }
    if (row0 + 7 < M && col0 + 4 < N) {
        store(bi, row0 + 7, col0 + 4, c7_1[0]);
    }
    if (row0 + 7 < M && col0 + 5 < N) {
        store(bi, row0 + 7, col0 + 5, c7_1[1]);
    }
    if (row0 + 7 < M && col0 + 6 < N) {
        store(bi, row0 + 7, col0 + 6, c7_1[2]);
    }
    if (row0 + 7 < M && col0 + 7 < N) {
        store(bi, row0 + 7, col0 + 7, c7_1[3]);
    }
    if (row0 + 7 < M && col0 + 8 < N) {
        store(bi, row0 + 7, col0 + 8, c7_2[0]);
    }
    if (row0 + 7 < M && col0 + 9 < N) {
        store(bi, row0 + 7, col0 + 9, c7_2[1]);
    }
    if (row0 + 7 < M && col0 + 10 < N) {
        store(bi, row0 + 7, col0 + 10, c7_2[2]);
    }
    if (row0 + 7 < M && col0 + 11 < N) {
        store(bi, row0 + 7, col0 + 11, c7_2[3]);
    }
    if (row0 + 7 < M && col0 + 12 < N) {
        store(bi, row0 + 7, col0 + 12, c7_3[0]);
    }
    if (row0 + 7 < M && col0 + 13 < N) {
        store(bi, row0 + 7, col0 + 13, c7_3[1]);
    }
    if (row0 + 7 < M && col0 + 14 < N) {
        store(bi, row0 + 7, col0 + 14, c7_3[2]);
    }
    if (row0 + 7 < M && col0 + 15 < N) {
        store(bi, row0 + 7, col0 + 15, c7_3[3]);
    }
    if (row0 + 8 < M && col0 + 0 < N) {
        store(bi, row0 + 8, col0 + 0, c8_0[0]);
    }
    if (row0 + 8 < M && col0 + 1 < N) {
        store(bi, row0 + 8, col0 + 1, c8_0[1]);
    }
    if (row0 + 8 < M && col0 + 2 < N) {
        store(bi, row0 + 8, col0 + 2, c8_0[2]);
    }
    if (row0 + 8 < M && col0 + 3 < N) {
        store(bi, row0 + 8, col0 + 3, c8_0[3]);
    }
    if (row0 + 8 < M && col0 + 4 < N) {
        store(bi, row0 + 8, col0 + 4, c8_1[0]);
    }
    if (row0 + 8 < M && col0 + 5 < N) {
        store(bi, row0 + 8, col0 + 5, c8_1[1]);
    }
    if (row0 + 8 < M && col0 + 6 < N) {
        store(bi, row0 + 8, col0 + 6, c8_1[2]);
    }
    if (row0 + 8 < M && col0 + 7 < N) {
        store(bi, row0 + 8, col0 + 7, c8_1[3]);
    }
    if (row0 + 8 < M && col0 + 8 < N) {
        store(bi, row0 + 8, col0 + 8, c8_2[0]);
    }
    if (row0 + 8 < M && col0 + 9 < N) {
        store(bi, row0 + 8, col0 + 9, c8_2[1]);
    }
    if (row0 + 8 < M && col0 + 10 < N) {
        store(bi, row0 + 8, col0 + 10, c8_2[2]);
    }
    if (row0 + 8 < M && col0 + 11 < N) {
        store(bi, row0 + 8, col0 + 11, c8_2[3]);
    }
    if (row0 + 8 < M && col0 + 12 < N) {
        store(bi, row0 + 8, col0 + 12, c8_3[0]);
    }
    if (row0 + 8 < M && col0 + 13 < N) {
        store(bi, row0 + 8, col0 + 13, c8_3[1]);
    }
    if (row0 + 8 < M && col0 + 14 < N) {
        store(bi, row0 + 8, col0 + 14, c8_3[2]);
    }
    if (row0 + 8 < M && col0 + 15 < N) {
        store(bi, row0 + 8, col0 + 15, c8_3[3]);
    }
    if (row0 + 9 < M && col0 + 0 < N) {
        store(bi, row0 + 9, col0 + 0, c9_0[0]);
    }
    if (row0 + 9 < M && col0 + 1 < N) {
        store(bi, row0 + 9, col0 + 1, c9_0[1]);
    }
    if (row0 + 9 < M && col0 + 2 < N) {
        store(bi, row0 + 9, col0 + 2, c9_0[2]);
    }
    if (row0 + 9 < M && col0 + 3 < N) {
        store(bi, row0 + 9, col0 + 3, c9_0[3]);
    }
    if (row0 + 9 < M && col0 + 4 < N) {
        store(bi, row0 + 9, col0 + 4, c9_1[0]);
    }
    if (row0 + 9 < M && col0 + 5 < N) {
        store(bi, row0 + 9, col0 + 5, c9_1[1]);
    }
    if (row0 + 9 < M && col0 + 6 < N) {
        store(bi, row0 + 9, col0 + 6, c9_1[2]);
    }
    if (row0 + 9 < M && col0 + 7 < N) {
        store(bi, row0 + 9, col0 + 7, c9_1[3]);
    }
    if (row0 + 9 < M && col0 + 8 < N) {
        store(bi, row0 + 9, col0 + 8, c9_2[0]);
    }
    if (row0 + 9 < M && col0 + 9 < N) {
        store(bi, row0 + 9, col0 + 9, c9_2[1]);
    }
    if (row0 + 9 < M && col0 + 10 < N) {
        store(bi, row0 + 9, col0 + 10, c9_2[2]);
    }
    if (row0 + 9 < M && col0 + 11 < N) {
        store(bi, row0 + 9, col0 + 11, c9_2[3]);
    }
    if (row0 + 9 < M && col0 + 12 < N) {
        store(bi, row0 + 9, col0 + 12, c9_3[0]);
    }
    if (row0 + 9 < M && col0 + 13 < N) {
        store(bi, row0 + 9, col0 + 13, c9_3[1]);
    }
    if (row0 + 9 < M && col0 + 14 < N) {
        store(bi, row0 + 9, col0 + 14, c9_3[2]);
    }
    if (row0 + 9 < M && col0 + 15 < N) {
        store(bi, row0 + 9, col0 + 15, c9_3[3]);
    }
    if (row0 + 10 < M && col0 + 0 < N) {
        store(bi, row0 + 10, col0 + 0, c10_0[0]);
    }
    if (row0 + 10 < M && col0 + 1 < N) {
        store(bi, row0 + 10, col0 + 1, c10_0[1]);
    }
    if (row0 + 10 < M && col0 + 2 < N) {
        store(bi, row0 + 10, col0 + 2, c10_0[2]);
    }
    if (row0 + 10 < M && col0 + 3 < N) {
        store(bi, row0 + 10, col0 + 3, c10_0[3]);
    }
    if (row0 + 10 < M && col0 + 4 < N) {
        store(bi, row0 + 10, col0 + 4, c10_1[0]);
    }
    if (row0 + 10 < M && col0 + 5 < N) {
        store(bi, row0 + 10, col0 + 5, c10_1[1]);
    }
    if (row0 + 10 < M && col0 + 6 < N) {
        store(bi, row0 + 10, col0 + 6, c10_1[2]);
    }
    if (row0 + 10 < M && col0 + 7 < N) {
        store(bi, row0 + 10, col0 + 7, c10_1[3]);
    }
    if (row0 + 10 < M && col0 + 8 < N) {
        store(bi, row0 + 10, col0 + 8, c10_2[0]);
    }
    if (row0 + 10 < M && col0 + 9 < N) {
        store(bi, row0 + 10, col0 + 9, c10_2[1]);
    }
    if (row0 + 10 < M && col0 + 10 < N) {
        store(bi, row0 + 10, col0 + 10, c10_2[2]);
    }
    if (row0 + 10 < M && col0 + 11 < N) {
        store(bi, row0 + 10, col0 + 11, c10_2[3]);
    }
    if (row0 + 10 < M && col0 + 12 < N) {
        store(bi, row0 + 10, col0 + 12, c10_3[0]);
    }
    if (row0 + 10 < M && col0 + 13 < N) {
        store(bi, row0 + 10, col0 + 13, c10_3[1]);
    }
    if (row0 + 10 < M && col0 + 14 < N) {
        store(bi, row0 + 10, col0 + 14, c10_3[2]);
    }
    if (row0 + 10 < M && col0 + 15 < N) {
        store(bi, row0 + 10, col0 + 15, c10_3[3]);
    }
    if (row0 + 11 < M && col0 + 0 < N) {
        store(bi, row0 + 11, col0 + 0, c11_0[0]);
    }
    if (row0 + 11 < M && col0 + 1 < N) {
        store(bi, row0 + 11, col0 + 1, c11_0[1]);
    }
    if (row0 + 11 < M && col0 + 2 < N) {
        store(bi, row0 + 11, col0 + 2, c11_0[2]);
    }
    if (row0 + 11 < M && col0 + 3 < N) {
        store(bi, row0 + 11, col0 + 3, c11_0[3]);
    }
    if (row0 + 11 < M && col0 + 4 < N) {
        store(bi, row0 + 11, col0 + 4, c11_1[0]);
    }
    if (row0 + 11 < M && col0 + 5 < N) {
        store(bi, row0 + 11, col0 + 5, c11_1[1]);
    }
    if (row0 + 11 < M && col0 + 6 < N) {
        store(bi, row0 + 11, col0 + 6, c11_1[2]);
    }
    if (row0 + 11 < M && col0 + 7 < N) {
        store(bi, row0 + 11, col0 + 7, c11_1[3]);
    }
    if (row0 + 11 < M && col0 + 8 < N) {
        store(bi, row0 + 11, col0 + 8, c11_2[0]);
    }
    if (row0 + 11 < M && col0 + 9 < N) {
        store(bi, row0 + 11, col0 + 9, c11_2[1]);
    }
    if (row0 + 11 < M && col0 + 10 < N) {
        store(bi, row0 + 11, col0 + 10, c11_2[2]);
    }
    if (row0 + 11 < M && col0 + 11 < N) {
        store(bi, row0 + 11, col0 + 11, c11_2[3]);
    }
    if (row0 + 11 < M && col0 + 12 < N) {
        store(bi, row0 + 11, col0 + 12, c11_3[0]);
    }
    if (row0 + 11 < M && col0 + 13 < N) {
        store(bi, row0 + 11, col0 + 13, c11_3[1]);
    }
    if (row0 + 11 < M && col0 + 14 < N) {
        store(bi, row0 + 11, col0 + 14, c11_3[2]);
    }
    if (row0 + 11 < M && col0 + 15 < N) {
        store(bi, row0 + 11, col0 + 15, c11_3[3]);
    }
    if (row0 + 12 < M && col0 + 0 < N) {
        store(bi, row0 + 12, col0 + 0, c12_0[0]);
    }
    if (row0 + 12 < M && col0 + 1 < N) {
        store(bi, row0 + 12, col0 + 1, c12_0[1]);
    }
    if (row0 + 12 < M && col0 + 2 < N) {
        store(bi, row0 + 12, col0 + 2, c12_0[2]);
    }
    if (row0 + 12 < M && col0 + 3 < N) {
        store(bi, row0 + 12, col0 + 3, c12_0[3]);
    }
    if (row0 + 12 < M && col0 + 4 < N) {
        store(bi, row0 + 12, col0 + 4, c12_1[0]);
    }
    if (row0 + 12 < M && col0 + 5 < N) {
        store(bi, row0 + 12, col0 + 5, c12_1[1]);
    }
    if (row0 + 12 < M && col0 + 6 < N) {
        store(bi, row0 + 12, col0 + 6, c12_1[2]);
    }
    if (row0 + 12 < M && col0 + 7 < N) {
        store(bi, row0 + 12, col0 + 7, c12_1[3]);
    }
    if (row0 + 12 < M && col0 + 8 < N) {
        store(bi, row0 + 12, col0 + 8, c12_2[0]);
    }
    if (row0 + 12 < M && col0 + 9 < N) {
        store(bi, row0 + 12, col0 + 9, c12_2[1]);
    }
    if (row0 + 12 < M && col0 + 10 < N) {
        store(bi, row0 + 12, col0 + 10, c12_2[2]);
    }
    if (row0 + 12 < M && col0 + 11 < N) {
        store(bi, row0 + 12, col0 + 11, c12_2[3]);
    }
    if (row0 + 12 < M && col0 + 12 < N) {
        store(bi, row0 + 12, col0 + 12, c12_3[0]);
    }
    if (row0 + 12 < M && col0 + 13 < N) {
        store(bi, row0 + 12, col0 + 13, c12_3[1]);
    }
    if (row0 + 12 < M && col0 + 14 < N) {
        store(bi, row0 + 12, col0 + 14, c12_3[2]);
    }
    if (row0 + 12 < M && col0 + 15 < N) {
        store(bi, row0 + 12, col0 + 15, c12_3[3]);
    }
    if (row0 + 13 < M && col0 + 0 < N) {
        store(bi, row0 + 13, col0 + 0, c13_0[0]);
    }
    if (row0 + 13 < M && col0 + 1 < N) {
        store(bi, row0 + 13, col0 + 1, c13_0[1]);
    }
    if (row0 + 13 < M && col0 + 2 < N) {
        store(bi, row0 + 13, col0 + 2, c13_0[2]);
    }
    if (row0 + 13 < M && col0 + 3 < N) {
        store(bi, row0 + 13, col0 + 3, c13_0[3]);
    }
    if (row0 + 13 < M && col0 + 4 < N) {
        store(bi, row0 + 13, col0 + 4, c13_1[0]);
    }
    if (row0 + 13 < M && col0 + 5 < N) {
        store(bi, row0 + 13, col0 + 5, c13_1[1]);
    }
    if (row0 + 13 < M && col0 + 6 < N) {
        store(bi, row0 + 13, col0 + 6, c13_1[2]);
    }
    if (row0 + 13 < M && col0 + 7 < N) {
        store(bi, row0 + 13, col0 + 7, c13_1[3]);
    }
    if (row0 + 13 < M && col0 + 8 < N) {
        store(bi, row0 + 13, col0 + 8, c13_2[0]);
    }
    if (row0 + 13 < M && col0 + 9 < N) {
        store(bi, row0 + 13, col0 + 9, c13_2[1]);
    }
    if (row0 + 13 < M && col0 + 10 < N) {
        store(bi, row0 + 13, col0 + 10, c13_2[2]);
    }
    if (row0 + 13 < M && col0 + 11 < N) {
        store(bi, row0 + 13, col0 + 11, c13_2[3]);
    }
    if (row0 + 13 < M && col0 + 12 < N) {
        store(bi, row0 + 13, col0 + 12, c13_3[0]);
    }
    if (row0 + 13 < M && col0 + 13 < N) {
        store(bi, row0 + 13, col0 + 13, c13_3[1]);
    }
    if (row0 + 13 < M && col0 + 14 < N) {
        store(bi, row0 + 13, col0 + 14, c13_3[2]);
    }
    if (row0 + 13 < M && col0 + 15 < N) {
        store(bi, row0 + 13, col0 + 15, c13_3[3]);
    }
    if (row0 + 14 < M && col0 + 0 < N) {
        store(bi, row0 + 14, col0 + 0, c14_0[0]);
    }
    if (row0 + 14 < M && col0 + 1 < N) {
        store(bi, row0 + 14, col0 + 1, c14_0[1]);
    }
    if (row0 + 14 < M && col0 + 2 < N) {
        store(bi, row0 + 14, col0 + 2, c14_0[2]);
    }
    if (row0 + 14 < M && col0 + 3 < N) {
        store(bi, row0 + 14, col0 + 3, c14_0[3]);
    }
    if (row0 + 14 < M && col0 + 4 < N) {
        store(bi, row0 + 14, col0 + 4, c14_1[0]);
    }
    if (row0 + 14 < M && col0 + 5 < N) {
        store(bi, row0 + 14, col0 + 5, c14_1[1]);
    }
    if (row0 + 14 < M && col0 + 6 < N) {
        store(bi, row0 + 14, col0 + 6, c14_1[2]);
    }
    if (row0 + 14 < M && col0 + 7 < N) {
        store(bi, row0 + 14, col0 + 7, c14_1[3]);
    }
    if (row0 + 14 < M && col0 + 8 < N) {
        store(bi, row0 + 14, col0 + 8, c14_2[0]);
    }
    if (row0 + 14 < M && col0 + 9 < N) {
        store(bi, row0 + 14, col0 + 9, c14_2[1]);
    }
    if (row0 + 14 < M && col0 + 10 < N) {
        store(bi, row0 + 14, col0 + 10, c14_2[2]);
    }
    if (row0 + 14 < M && col0 + 11 < N) {
        store(bi, row0 + 14, col0 + 11, c14_2[3]);
    }
    if (row0 + 14 < M && col0 + 12 < N) {
        store(bi, row0 + 14, col0 + 12, c14_3[0]);
    }
    if (row0 + 14 < M && col0 + 13 < N) {
        store(bi, row0 + 14, col0 + 13, c14_3[1]);
    }
    if (row0 + 14 < M && col0 + 14 < N) {
        store(bi, row0 + 14, col0 + 14, c14_3[2]);
    }
    if (row0 + 14 < M && col0 + 15 < N) {
        store(bi, row0 + 14, col0 + 15, c14_3[3]);
    }
    if (row0 + 15 < M && col0 + 0 < N) {
        store(bi, row0 + 15, col0 + 0, c15_0[0]);
    }
    if (row0 + 15 < M && col0 + 1 < N) {
        store(bi, row0 + 15, col0 + 1, c15_0[1]);
    }
    if (row0 + 15 < M && col0 + 2 < N) {
        store(bi, row0 + 15, col0 + 2, c15_0[2]);
    }
    if (row0 + 15 < M && col0 + 3 < N) {
        store(bi, row0 + 15, col0 + 3, c15_0[3]);
    }
    if (row0 + 15 < M && col0 + 4 < N) {
        store(bi, row0 + 15, col0 + 4, c15_1[0]);
    }
    if (row0 + 15 < M && col0 + 5 < N) {
        store(bi, row0 + 15, col0 + 5, c15_1[1]);
    }
    if (row0 + 15 < M && col0 + 6 < N) {
        store(bi, row0 + 15, col0 + 6, c15_1[2]);
    }
    if (row0 + 15 < M && col0 + 7 < N) {
        store(bi, row0 + 15, col0 + 7, c15_1[3]);
    }
    if (row0 + 15 < M && col0 + 8 < N) {
        store(bi, row0 + 15, col0 + 8, c15_2[0]);
    }
    if (row0 + 15 < M && col0 + 9 < N) {
        store(bi, row0 + 15, col0 + 9, c15_2[1]);
    }
    if (row0 + 15 < M && col0 + 10 < N) {
        store(bi, row0 + 15, col0 + 10, c15_2[2]);
    }
    if (row0 + 15 < M && col0 + 11 < N) {
        store(bi, row0 + 15, col0 + 11, c15_2[3]);
    }
    if (row0 + 15 < M && col0 + 12 < N) {
        store(bi, row0 + 15, col0 + 12, c15_3[0]);
    }
    if (row0 + 15 < M && col0 + 13 < N) {
        store(bi, row0 + 15, col0 + 13, c15_3[1]);
    }
    if (row0 + 15 < M && col0 + 14 < N) {
        store(bi, row0 + 15, col0 + 14, c15_3[2]);
    }
    if (row0 + 15 < M && col0 + 15 < N) {
        store(bi, row0 + 15, col0 + 15, c15_3[3]);
    }
}
