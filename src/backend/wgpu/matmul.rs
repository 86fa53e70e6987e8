//! Matmul for software adapters (lavapipe, SwiftShader). They run a workgroup's invocations
//! as SIMD lanes on a CPU core and turn every non-constant load into a per-lane loop, so the
//! cost is the number of load instructions, not arithmetic. This kernel has no workgroup
//! memory or barriers: each invocation accumulates a large register block (up to 16×16),
//! loading four k-steps of each operand per vec4 load. Measured on lavapipe at n=1024: the
//! shared-memory kernel of `shaders/matmul.wgsl` 5 GFLOP/s, this one about 28.
//! Hardware GPUs keep the tiled kernel.

use super::codegen::{
    Compiled, Printer, assemble, bindings_typed, matmul_store, matmul_sums_store, operand,
    storage_ty,
};
use crate::error::Result;
use crate::kernel::ir::{MatmulKernel, Operand};
use std::fmt::Write;

/// How one operand is read: four consecutive elements along an axis per vec4, or scalars.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Vec4Along {
    /// Along the reduction axis k.
    K,
    /// Along the operand's other axis (m for A, n for B).
    Outer,
    Scalar,
}

/// The vec4 mode an operand allows: unit stride on one axis, everything else a multiple of 4.
fn vec4_mode(
    op: &Operand,
    outer_len: usize,
    k: usize,
    is_a: bool,
    epilogue_reads: &[u32],
) -> Vec4Along {
    let Operand::Strided {
        input,
        offset,
        batch,
        row,
        col,
    } = op
    else {
        return Vec4Along::Scalar;
    };
    if epilogue_reads.contains(input) {
        return Vec4Along::Scalar;
    }
    let all4 = |v: &[i64]| v.iter().all(|s| s % 4 == 0);
    if offset % 4 != 0 || !all4(batch) {
        return Vec4Along::Scalar;
    }
    // A is (m, k): row is the outer stride, col the k stride. B is (k, n): the reverse.
    let (k_stride, outer_stride) = if is_a { (*col, *row) } else { (*row, *col) };
    if k_stride == 1 && outer_stride % 4 == 0 && k.is_multiple_of(4) {
        Vec4Along::K
    } else if outer_stride == 1 && k_stride % 4 == 0 && outer_len.is_multiple_of(4) {
        Vec4Along::Outer
    } else {
        Vec4Along::Scalar
    }
}

/// Base element offset of operand `op` for batch `bi`, as WGSL.
fn batch_base(op: &Operand, batch: &[usize]) -> String {
    let Operand::Strided {
        offset, batch: bs, ..
    } = op
    else {
        unreachable!("strided operand")
    };
    let coords = super::codegen::unravel("bi", batch);
    let mut s = format!("{offset}");
    for d in 0..batch.len() {
        if batch[d] > 1 && bs[d] != 0 {
            let _ = write!(s, " + {} * {}", coords[d], bs[d]);
        }
    }
    s
}

fn strides(op: &Operand) -> (i64, i64) {
    match op {
        Operand::Strided { row, col, .. } => (*row, *col),
        Operand::Expr { .. } | Operand::Patches(_) => (0, 0),
    }
}

pub(crate) fn blocked(k: &MatmulKernel) -> Result<Compiled> {
    let (m, n, kk) = (k.m, k.n, k.k);
    let nb: usize = k.batch.iter().product();
    let rows = if m >= 128 {
        16
    } else if m >= 64 {
        8
    } else {
        4
    };
    let cv = if n >= 128 {
        4
    } else if n >= 32 {
        2
    } else {
        1
    };
    let cols = 4 * cv;
    let (tm, tn) = (rows * 8, cols * 8);
    let (tiles_m, tiles_n) = (m.div_ceil(tm), n.div_ceil(tn));
    // Inputs also read element by element (by the epilogue or an expression operand) keep
    // a scalar binding: one binding has one element type.
    let mut epi_reads: Vec<u32> = k.epilogues().flat_map(|e| e.used_inputs()).collect();
    for op in [&k.a, &k.b] {
        if let Operand::Expr { expr, .. } = op {
            epi_reads.extend(expr.used_inputs());
        }
    }
    let a_mode = vec4_mode(&k.a, m, kk, true, &epi_reads);
    let mut b_mode = vec4_mode(&k.b, n, kk, false, &epi_reads);
    let same_input = matches!((&k.a, &k.b), (Operand::Strided { input: x, .. }, Operand::Strided { input: y, .. }) if x == y);
    if same_input && a_mode != b_mode {
        // One binding has one element type.
        b_mode = Vec4Along::Scalar;
    }
    let a_mode = if same_input && b_mode == Vec4Along::Scalar {
        Vec4Along::Scalar
    } else {
        a_mode
    };
    let label = format!("matmul_blocked_{m}x{n}x{kk}_b{nb}_{a_mode:?}{b_mode:?}").to_lowercase();

    let mut p = Printer::new();
    let load_a = operand(&mut p, &k.a, &k.inputs, &k.batch);
    let load_b = operand(&mut p, &k.b, &k.inputs, &k.batch);
    let store = matmul_store(&mut p, k);
    let sums = matmul_sums_store(&mut p, k);

    // Element types of the bindings: operands read as vec4 are bound as vec4 arrays.
    let mut types: Vec<String> = k
        .inputs
        .iter()
        .map(|d| storage_ty(*d).to_string())
        .collect();
    let (a_in, b_in) = match (&k.a, &k.b) {
        (Operand::Strided { input: x, .. }, Operand::Strided { input: y, .. }) => {
            (Some(*x as usize), Some(*y as usize))
        }
        (Operand::Strided { input: x, .. }, _) => (Some(*x as usize), None),
        (_, Operand::Strided { input: y, .. }) => (None, Some(*y as usize)),
        _ => (None, None),
    };
    if a_mode != Vec4Along::Scalar {
        types[a_in.expect("strided")] = "vec4<f32>".into();
    }
    if b_mode != Vec4Along::Scalar {
        types[b_in.expect("strided")] = "vec4<f32>".into();
    }
    let mut outs = vec![storage_ty(k.output_dtype()).to_string()];
    outs.extend(sums.iter().map(|(_, dt)| storage_ty(*dt).to_string()));
    let head = bindings_typed(&types, &outs, !p.params.is_empty());

    let mut s = String::new();
    let _ = writeln!(
        s,
        "const M: i32 = {m};\nconst N: i32 = {n};\nconst K: i32 = {kk};"
    );
    // Scalar loaders only where an operand is not read as vec4 (its binding type differs).
    if a_mode == Vec4Along::Scalar {
        let _ = writeln!(
            s,
            "fn load_a(bi: i32, r: i32, c: i32) -> f32 {{\n    if (r >= M || c >= K) {{\n        return 0.0;\n    }}\n{load_a}\n}}"
        );
    }
    if b_mode == Vec4Along::Scalar {
        let _ = writeln!(
            s,
            "fn load_b(bi: i32, r: i32, c: i32) -> f32 {{\n    if (r >= K || c >= N) {{\n        return 0.0;\n    }}\n{load_b}\n}}"
        );
    }
    let _ = writeln!(
        s,
        "fn store(bi: i32, r: i32, c: i32, acc: f32) {{\n{store}\n}}"
    );
    if let Some((f, _)) = &sums {
        s.push_str(f);
    }
    s.push_str("@compute @workgroup_size(8, 8, 1)\nfn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {\n");
    let _ = writeln!(
        s,
        "    let tile = i32(wid.x + wid.y * nwg.x);\n    if (tile >= {}) {{\n        return;\n    }}",
        tiles_m * tiles_n * nb
    );
    let _ = writeln!(
        s,
        "    let bi = tile / {};\n    let t = tile % {};",
        tiles_m * tiles_n,
        tiles_m * tiles_n
    );
    let _ = writeln!(
        s,
        "    let row0 = (t / {tiles_n}) * {tm} + i32(lid.y) * {rows};\n    let col0 = (t % {tiles_n}) * {tn} + i32(lid.x) * {cols};"
    );
    for r in 0..rows {
        for j in 0..cv {
            let _ = writeln!(s, "    var c{r}_{j} = vec4<f32>(0.0);");
        }
    }
    if sums.is_some() {
        for j in 0..cv {
            let _ = writeln!(s, "    var s{j} = vec4<f32>(0.0);");
        }
    }
    // Vector loads clamp rows/columns past the edge (their results are never stored).
    if a_mode != Vec4Along::Scalar {
        let _ = writeln!(s, "    let abase = {};", batch_base(&k.a, &k.batch));
    }
    if b_mode != Vec4Along::Scalar {
        let _ = writeln!(s, "    let bbase = {};", batch_base(&k.b, &k.batch));
    }
    let (arow, acol) = strides(&k.a);
    let (brow, bcol) = strides(&k.b);
    let _ = writeln!(s, "    for (var k0 = 0; k0 < K; k0 += 4) {{");
    // a{r}: the four k-values of row r, as a vec4.
    match a_mode {
        Vec4Along::K => {
            for r in 0..rows {
                let _ = writeln!(
                    s,
                    "        let a{r} = in{}[(abase + min(row0 + {r}, M - 1) * {arow} + k0) / 4];",
                    a_in.unwrap_or(0)
                );
            }
        }
        Vec4Along::Outer => {
            for q in 0..rows / 4 {
                for t in 0..4 {
                    let _ = writeln!(
                        s,
                        "        let am{q}_{t} = in{}[(abase + (k0 + {t}) * {acol} + min(row0 + {}, M - 4)) / 4];",
                        a_in.unwrap_or(0),
                        q * 4
                    );
                }
                for i in 0..4 {
                    let r = q * 4 + i;
                    let _ = writeln!(
                        s,
                        "        let a{r} = vec4<f32>(am{q}_0[{i}], am{q}_1[{i}], am{q}_2[{i}], am{q}_3[{i}]);"
                    );
                }
            }
        }
        Vec4Along::Scalar => {
            for r in 0..rows {
                let _ = writeln!(
                    s,
                    "        let a{r} = vec4<f32>(load_a(bi, row0 + {r}, k0), load_a(bi, row0 + {r}, k0 + 1), load_a(bi, row0 + {r}, k0 + 2), load_a(bi, row0 + {r}, k0 + 3));"
                );
            }
        }
    }
    // b{t}_{j}: the four columns of group j at k0 + t, as a vec4.
    match b_mode {
        Vec4Along::Outer => {
            for j in 0..cv {
                for t in 0..4 {
                    let _ = writeln!(
                        s,
                        "        let b{t}_{j} = in{}[(bbase + (k0 + {t}) * {brow} + min(col0 + {}, N - 4)) / 4];",
                        b_in.unwrap_or(0),
                        j * 4
                    );
                }
            }
        }
        Vec4Along::K => {
            for c in 0..cols {
                let _ = writeln!(
                    s,
                    "        let bk{c} = in{}[(bbase + min(col0 + {c}, N - 1) * {bcol} + k0) / 4];",
                    b_in.unwrap_or(0)
                );
            }
            for j in 0..cv {
                for t in 0..4 {
                    let _ = writeln!(
                        s,
                        "        let b{t}_{j} = vec4<f32>(bk{}[{t}], bk{}[{t}], bk{}[{t}], bk{}[{t}]);",
                        4 * j,
                        4 * j + 1,
                        4 * j + 2,
                        4 * j + 3
                    );
                }
            }
        }
        Vec4Along::Scalar => {
            for j in 0..cv {
                for t in 0..4 {
                    let c = |i: usize| format!("load_b(bi, k0 + {t}, col0 + {})", 4 * j + i);
                    let _ = writeln!(
                        s,
                        "        let b{t}_{j} = vec4<f32>({}, {}, {}, {});",
                        c(0),
                        c(1),
                        c(2),
                        c(3)
                    );
                }
            }
        }
    }
    for r in 0..rows {
        for j in 0..cv {
            let _ = writeln!(
                s,
                "        c{r}_{j} += a{r}.x * b0_{j} + a{r}.y * b1_{j} + a{r}.z * b2_{j} + a{r}.w * b3_{j};"
            );
        }
    }
    // Column sums: every invocation adds the B values it loaded (cheaper than a branch on
    // SIMD lanes); the first row of the first row of tiles stores them. Only the vec4 loads
    // along n can reach past k = K (their A factor is zero there, the sum must skip them).
    if sums.is_some() {
        let masked = b_mode == Vec4Along::Outer && !kk.is_multiple_of(4);
        for j in 0..cv {
            for t in 0..4 {
                if masked {
                    let _ = writeln!(
                        s,
                        "        s{j} += select(vec4<f32>(0.0), b{t}_{j}, k0 + {t} < K);"
                    );
                } else {
                    let _ = writeln!(s, "        s{j} += b{t}_{j};");
                }
            }
        }
    }
    s.push_str("    }\n");
    for r in 0..rows {
        for j in 0..cv {
            for i in 0..4 {
                let _ = writeln!(
                    s,
                    "    if (row0 + {r} < M && col0 + {} < N) {{\n        store(bi, row0 + {r}, col0 + {}, c{r}_{j}[{i}]);\n    }}",
                    4 * j + i,
                    4 * j + i
                );
            }
        }
    }
    if sums.is_some() {
        let _ = writeln!(s, "    if (t / {tiles_n} == 0 && lid.y == 0u) {{");
        for j in 0..cv {
            for i in 0..4 {
                let c = 4 * j + i;
                let _ = writeln!(
                    s,
                    "        if (col0 + {c} < N) {{\n            store_sum(bi, col0 + {c}, s{j}[{i}]);\n        }}"
                );
            }
        }
        s.push_str("    }\n");
    }
    s.push_str("}\n");
    p.body.clear();
    assemble(
        label,
        &head,
        &s,
        p,
        tiles_m * tiles_n * nb,
        k.inputs.len(),
        outs.len(),
    )
}
