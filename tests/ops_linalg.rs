//! matmul (batched, broadcast batch dimensions, transposes) and bias_add against float64
//! references, on the CPU, on wgpu with the kernels chosen for the adapter, and on wgpu with
//! the hardware GPU kernels (tiled, workgroup memory).

mod common;

use common::*;
use wgflow::{Tensor, ops, with_device};

/// Reference `a · b` for row-major operands, with optional transposes and broadcast batches.
fn matmul_ref(
    a: &[f32],
    sa: &[usize],
    b: &[f32],
    sb: &[usize],
    ta: bool,
    tb: bool,
) -> (Vec<usize>, Vec<f64>) {
    let (ra, rb) = (sa.len(), sb.len());
    let (m, k) = if ta {
        (sa[ra - 1], sa[ra - 2])
    } else {
        (sa[ra - 2], sa[ra - 1])
    };
    let n = if tb { sb[rb - 2] } else { sb[rb - 1] };
    let batch = broadcast(&sa[..ra - 2], &sb[..rb - 2]).unwrap();
    let nb = numel(&batch);
    let mut out = vec![0.0; nb * m * n];
    let mut mat_a = sa[..ra - 2].to_vec();
    mat_a.push(1);
    let mut mat_b = sb[..rb - 2].to_vec();
    mat_b.push(1);
    let mut full = batch.clone();
    full.push(1);
    for bi in 0..nb {
        let ab = bcast_index(&mat_a, &full, bi) * sa[ra - 2] * sa[ra - 1];
        let bb = bcast_index(&mat_b, &full, bi) * sb[rb - 2] * sb[rb - 1];
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0f64;
                for p in 0..k {
                    let av = if ta {
                        a[ab + p * m + i]
                    } else {
                        a[ab + i * k + p]
                    };
                    let bv = if tb {
                        b[bb + j * k + p]
                    } else {
                        b[bb + p * n + j]
                    };
                    s += av as f64 * bv as f64;
                }
                out[bi * m * n + i * n + j] = s;
            }
        }
    }
    let mut shape = batch;
    shape.extend([m, n]);
    (shape, out)
}

fn check(sa: &[usize], sb: &[usize], ta: bool, tb: bool, rng: &mut Gen) {
    let a = rng.vec_f32(numel(sa), -1.0, 1.0);
    let b = rng.vec_f32(numel(sb), -1.0, 1.0);
    let (shape, want) = matmul_ref(&a, sa, &b, sb, ta, tb);
    let k = if ta {
        sa[sa.len() - 2]
    } else {
        sa[sa.len() - 1]
    };
    for dev in all_profiles() {
        with_device(&dev, || {
            let x = Tensor::from_slice(&a, sa).unwrap();
            let y = Tensor::from_slice(&b, sb).unwrap();
            let c = ops::matmul_t(&x, &y, ta, tb).unwrap();
            assert_eq!(c.shape(), shape.as_slice(), "{sa:?} x {sb:?}");
            let tol = 1e-6 * (k as f64).sqrt().max(1.0);
            assert_close(
                &format!("matmul {sa:?} x {sb:?} ta={ta} tb={tb} on {dev}"),
                &values(&c),
                &want,
                tol,
                tol,
            );
        });
    }
}

#[test]
fn matmul_odd_sizes_and_transposes() {
    let mut rng = Gen::new(20);
    for &(m, k, n) in &[
        (1, 1, 1),
        (33, 65, 17),
        (130, 300, 129),
        (4, 8, 12),
        (64, 64, 64),
        (128, 256, 132),
        (3, 0, 5),
        (0, 4, 3),
    ] {
        for ta in [false, true] {
            for tb in [false, true] {
                let sa = if ta { vec![k, m] } else { vec![m, k] };
                let sb = if tb { vec![n, k] } else { vec![k, n] };
                check(&sa, &sb, ta, tb, &mut rng);
            }
        }
    }
}

/// Few outputs over a long reduction (a small filter's gradient over a batch): the CPU
/// splits the reduction over its threads.
#[test]
fn matmul_long_reductions() {
    let mut rng = Gen::new(22);
    check(&[9, 9001], &[9001, 32], false, false, &mut rng);
    check(&[5000, 7], &[5000, 3], true, false, &mut rng);
}

#[test]
fn matmul_batches_broadcast() {
    let mut rng = Gen::new(21);
    check(&[2, 1, 5, 7], &[3, 7, 4], false, false, &mut rng);
    check(&[3, 8, 16], &[16, 8], false, false, &mut rng);
    check(&[8, 16], &[4, 8, 12], true, false, &mut rng);
    check(&[2, 3, 20, 12], &[2, 1, 12, 36], false, false, &mut rng);
    check(&[5, 4, 4], &[5, 8, 4], false, true, &mut rng);
}

#[test]
fn matmul_errors_name_the_shapes() {
    for dev in devices() {
        with_device(&dev, || {
            let a = Tensor::from_slice(&[0.0f32; 6], [2, 3]).unwrap();
            let b = Tensor::from_slice(&[0.0f32; 20], [4, 5]).unwrap();
            let e = ops::matmul(&a, &b).unwrap_err().to_string();
            assert!(
                e.contains("matmul")
                    && e.contains("inner dimensions differ")
                    && e.contains("[2, 3]")
                    && e.contains("[4, 5]"),
                "{e}"
            );
            let v = Tensor::from_slice(&[0.0f32; 3], [3]).unwrap();
            assert!(
                ops::matmul(&v, &v)
                    .unwrap_err()
                    .to_string()
                    .contains("rank")
            );
            let i = Tensor::from_slice(&[0i32; 4], [2, 2]).unwrap();
            assert!(ops::matmul(&i, &i).is_err());
            let p = Tensor::from_slice(&[0.0f32; 24], [2, 3, 4]).unwrap();
            let q = Tensor::from_slice(&[0.0f32; 32], [4, 4, 2]).unwrap();
            assert!(
                ops::matmul(&p, &q).is_err(),
                "batch 2 vs 4 do not broadcast"
            );
        });
    }
}

#[test]
fn bias_add_checks_the_bias() {
    for dev in devices() {
        with_device(&dev, || {
            let v = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]).unwrap();
            let b = Tensor::from_slice(&[10.0f32, 20.0, 30.0], [3]).unwrap();
            assert_eq!(
                ops::bias_add(&v, &b).unwrap().to_vec::<f32>().unwrap(),
                vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0]
            );
            let bad = Tensor::from_slice(&[1.0f32, 2.0], [2]).unwrap();
            assert!(
                ops::bias_add(&v, &bad)
                    .unwrap_err()
                    .to_string()
                    .contains("bias_add")
            );
        });
    }
}
