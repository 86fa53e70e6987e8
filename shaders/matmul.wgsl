// wgflow matmul: C[b] = A[b] · B[b] as a tiled, register-blocked kernel. Each workgroup of
// 16×16 threads computes a 64×64 tile of C; each thread a 4×4 block, from 64×16 and 16×64
// tiles of A and B staged in workgroup memory. The printer fills in the operand loaders
// (strided matrices or implicit-GEMM expressions such as convolutions) and the store with
// its epilogue, so the same kernel serves matmul, conv2d and both conv2d backprops. With
// column sums (a bias gradient beside a weight gradient) it also writes sum_k B[k, n].

{{BINDINGS}}

const M: i32 = {{M}};
const N: i32 = {{N}};
const K: i32 = {{K}};
const TILES_M: i32 = {{TILES_M}};
const TILES_N: i32 = {{TILES_N}};
const BATCH: i32 = {{BATCH}};

fn load_a(bi: i32, r: i32, c: i32) -> f32 {
    if (r >= M || c >= K) {
        return 0.0;
    }
{{LOAD_A}}
}

fn load_b(bi: i32, r: i32, c: i32) -> f32 {
    if (r >= K || c >= N) {
        return 0.0;
    }
{{LOAD_B}}
}

fn store(bi: i32, r: i32, c: i32, acc: f32) {
{{STORE}}
}

{{STORE_SUM}}
// A tile as [k][row], B tile as [k][col], four values per vec4.
var<workgroup> tile_a: array<vec4<f32>, 256>;
var<workgroup> tile_b: array<vec4<f32>, 256>;

@compute @workgroup_size(16, 16, 1)
fn main(
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let tile = i32(wid.x + wid.y * nwg.x);
    if (tile >= TILES_M * TILES_N * BATCH) {
        return;
    }
    let bi = tile / (TILES_M * TILES_N);
    let t = tile % (TILES_M * TILES_N);
    let row0 = (t / TILES_N) * 64;
    let col0 = (t % TILES_N) * 64;
    let tx = i32(lid.x);
    let ty = i32(lid.y);
    var acc0 = vec4<f32>(0.0);
    var acc1 = vec4<f32>(0.0);
    var acc2 = vec4<f32>(0.0);
    var acc3 = vec4<f32>(0.0);
{{SUM_DECL}}
    for (var k0 = 0; k0 < K; k0 += 16) {
        // 1024 elements of each tile, four per thread.
        for (var i = 0; i < 4; i++) {
            let e = i32(li) + i * 256;
            let ar = e / 16;
            let ak = e % 16;
            tile_a[ak * 16 + ar / 4][ar % 4] = load_a(bi, row0 + ar, k0 + ak);
            let bk = e / 64;
            let bc = e % 64;
            tile_b[bk * 16 + bc / 4][bc % 4] = load_b(bi, k0 + bk, col0 + bc);
        }
        workgroupBarrier();
        for (var kk = 0; kk < 16; kk++) {
            let a = tile_a[kk * 16 + ty];
            let b = tile_b[kk * 16 + tx];
            acc0 += a.x * b;
            acc1 += a.y * b;
            acc2 += a.z * b;
            acc3 += a.w * b;
{{SUM_ACC}}
        }
        workgroupBarrier();
    }
    let r = row0 + ty * 4;
    let c = col0 + tx * 4;
    var rows = array<vec4<f32>, 4>(acc0, acc1, acc2, acc3);
    for (var i = 0; i < 4; i++) {
        for (var j = 0; j < 4; j++) {
            if (r + i < M && c + j < N) {
                store(bi, r + i, c + j, rows[i][j]);
            }
        }
    }
{{SUM_STORE}}
}
