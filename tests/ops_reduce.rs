//! Reductions, arg-reductions, scans and softmax against float64 references written here.

mod common;

use common::*;
use wgflow::{Axes, DType, Tensor, ops, with_device};

/// Reference reduction of `x` (shape `shape`) over `axes` with `f` folding from `init`.
fn reference(
    x: &[f64],
    shape: &[usize],
    axes: &[usize],
    init: f64,
    f: impl Fn(f64, f64) -> f64,
) -> Vec<f64> {
    let out_shape: Vec<usize> = (0..shape.len())
        .filter(|d| !axes.contains(d))
        .map(|d| shape[d])
        .collect();
    let mut out = vec![init; numel(&out_shape)];
    let st = strides(shape);
    let ost = strides(&out_shape);
    for (i, &v) in x.iter().enumerate() {
        let mut o = 0;
        let mut k = 0;
        for d in 0..shape.len() {
            if !axes.contains(&d) {
                o += ((i / st[d]) % shape[d]) * ost[k];
                k += 1;
            }
        }
        out[o] = f(out[o], v);
    }
    out
}

fn subsets(rank: usize) -> Vec<Vec<usize>> {
    (0..1usize << rank)
        .map(|m| (0..rank).filter(|d| m >> d & 1 == 1).collect())
        .collect()
}

#[test]
fn reductions_over_every_axis_subset() {
    let mut rng = Gen::new(10);
    let shapes: &[&[usize]] = &[&[3, 4, 5], &[2, 1, 7], &[1031], &[0, 3], &[4, 0], &[]];
    for dev in devices() {
        with_device(&dev, || {
            for shape in shapes {
                let x = rng.vec_f32(numel(shape), -2.0, 2.0);
                let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
                let t = Tensor::from_slice(&x, shape).unwrap();
                for axes in subsets(shape.len()) {
                    let ax: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
                    let n: usize = axes.iter().map(|&a| shape[a]).product();
                    let sum = reference(&x64, shape, &axes, 0.0, |a, b| a + b);
                    let what = |op: &str| format!("{op} {shape:?} axes {axes:?} on {dev}");
                    for keep in [false, true] {
                        let y = ops::reduce_sum(&t, ax.clone(), keep).unwrap();
                        let want_shape: Vec<usize> = (0..shape.len())
                            .filter_map(|d| {
                                if axes.contains(&d) {
                                    keep.then_some(1)
                                } else {
                                    Some(shape[d])
                                }
                            })
                            .collect();
                        assert_eq!(
                            y.shape(),
                            want_shape.as_slice(),
                            "{}",
                            what("reduce_sum shape")
                        );
                        assert_close(&what("reduce_sum"), &values(&y), &sum, 1e-5, 1e-5);
                    }
                    let mean: Vec<f64> = sum.iter().map(|s| s / n as f64).collect();
                    assert_close(
                        &what("reduce_mean"),
                        &values(&ops::reduce_mean(&t, ax.clone(), false).unwrap()),
                        &mean,
                        1e-5,
                        1e-5,
                    );
                    let prod = reference(&x64, shape, &axes, 1.0, |a, b| a * b);
                    assert_close(
                        &what("reduce_prod"),
                        &values(&ops::reduce_prod(&t, ax.clone(), false).unwrap()),
                        &prod,
                        1e-6,
                        1e-5,
                    );
                    let max = reference(&x64, shape, &axes, f64::NEG_INFINITY, f64::max);
                    assert_close(
                        &what("reduce_max"),
                        &values(&ops::reduce_max(&t, ax.clone(), false).unwrap()),
                        &max,
                        0.0,
                        0.0,
                    );
                    let min = reference(&x64, shape, &axes, f64::INFINITY, f64::min);
                    assert_close(
                        &what("reduce_min"),
                        &values(&ops::reduce_min(&t, ax.clone(), false).unwrap()),
                        &min,
                        0.0,
                        0.0,
                    );
                    let lse: Vec<f64> = reference(&x64, shape, &axes, 0.0, |a, b| a + b.exp())
                        .iter()
                        .map(|s| s.ln())
                        .collect();
                    let got = values(&ops::reduce_logsumexp(&t, ax.clone(), false).unwrap());
                    assert_close(&what("reduce_logsumexp"), &got, &lse, 1e-5, 1e-5);
                }
            }
        });
    }
}

#[test]
fn large_reductions_split_into_two_passes() {
    let mut rng = Gen::new(11);
    for dev in devices() {
        with_device(&dev, || {
            for shape in [vec![1usize << 17], vec![3, 70_001], vec![200_003]] {
                let x = rng.vec_f32(numel(&shape), 0.0, 1.0);
                let t = Tensor::from_slice(&x, &shape).unwrap();
                let r = shape.len() - 1;
                let want = reference(
                    &x.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                    &shape,
                    &[r],
                    0.0,
                    |a, b| a + b,
                );
                let got = values(&ops::reduce_sum(&t, [r as i64], false).unwrap());
                assert_close(&format!("sum {shape:?} on {dev}"), &got, &want, 1e-3, 1e-6);
                let mx = values(&ops::reduce_max(&t, Axes::All, false).unwrap())[0];
                assert_eq!(mx, x.iter().fold(f32::MIN, |a, &b| a.max(b)) as f64);
                let mean = values(&ops::reduce_mean(&t, [r as i64], false).unwrap());
                assert_close(
                    "mean",
                    &mean,
                    &want.iter().map(|s| s / shape[r] as f64).collect::<Vec<_>>(),
                    1e-6,
                    1e-5,
                );
            }
        });
    }
}

#[test]
fn integer_and_bool_reductions() {
    for dev in devices() {
        with_device(&dev, || {
            let x = Tensor::from_slice(&[1i32, -2, 3, 4, 5, -6], [2, 3]).unwrap();
            assert_eq!(
                ops::reduce_sum(&x, [1], false)
                    .unwrap()
                    .to_vec::<i32>()
                    .unwrap(),
                vec![2, 3]
            );
            assert_eq!(
                ops::reduce_max(&x, [0], false)
                    .unwrap()
                    .to_vec::<i32>()
                    .unwrap(),
                vec![4, 5, 3]
            );
            assert_eq!(
                ops::reduce_prod(&x, Axes::All, false)
                    .unwrap()
                    .to_vec::<i32>()
                    .unwrap(),
                vec![720]
            );
            assert_eq!(
                ops::reduce_mean(&x, [1], false)
                    .unwrap()
                    .to_vec::<i32>()
                    .unwrap(),
                vec![0, 1],
                "truncated"
            );
            let b = Tensor::from_slice(&[true, false, true, true], [2, 2]).unwrap();
            assert_eq!(
                ops::reduce_any(&b, [1], false)
                    .unwrap()
                    .to_vec::<bool>()
                    .unwrap(),
                vec![true, true]
            );
            assert_eq!(
                ops::reduce_all(&b, [1], false)
                    .unwrap()
                    .to_vec::<bool>()
                    .unwrap(),
                vec![false, true]
            );
            assert!(ops::reduce_any(&x, Axes::All, false).is_err());
            assert!(ops::reduce_sum(&b, Axes::All, false).is_err());
            assert!(
                ops::reduce_sum(&x, [2], false)
                    .unwrap_err()
                    .to_string()
                    .contains("axis 2")
            );
            assert!(
                ops::reduce_sum(&x, [0, -2], false).is_err(),
                "duplicate axis"
            );
        });
    }
}

/// Reductions that keep the last axis and reduce axes before it (a pooling window over
/// channels): sums, maxima and arg reductions with ties, small and split over threads.
#[test]
fn reductions_keeping_the_last_axis() {
    let mut rng = Gen::new(13);
    for dev in devices() {
        with_device(&dev, || {
            let cases: &[(&[usize], &[usize])] = &[
                (&[3, 5, 6, 16], &[1, 2]),
                (&[50, 7, 130], &[1]),
                (&[1, 7, 130], &[1]),
                (&[2, 3, 9], &[0, 1]),
                (&[64, 2, 2, 32], &[1, 2]),
            ];
            for &(shape, axes) in cases {
                // Values on a coarse grid, so that ties are common.
                let x: Vec<f32> = rng
                    .vec_f32(numel(shape), -2.0, 2.0)
                    .iter()
                    .map(|v| (v * 2.0).round() / 2.0)
                    .collect();
                let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
                let t = Tensor::from_slice(&x, shape).unwrap();
                let ax: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
                let what = |op: &str| format!("{op} {shape:?} axes {axes:?} on {dev}");
                let sum = reference(&x64, shape, axes, 0.0, |a, b| a + b);
                let got = values(&ops::reduce_sum(&t, ax.clone(), false).unwrap());
                assert_close(&what("reduce_sum"), &got, &sum, 1e-5, 1e-5);
                let max = reference(&x64, shape, axes, f64::NEG_INFINITY, f64::max);
                let got = values(&ops::reduce_max(&t, ax.clone(), false).unwrap());
                assert_close(&what("reduce_max"), &got, &max, 0.0, 0.0);
                if axes.len() != 1 {
                    continue;
                }
                // The first index of the best value along the axis, for each other position.
                let a = axes[0];
                let (outer, len) = (shape[..a].iter().product::<usize>(), shape[a]);
                let inner: usize = shape[a + 1..].iter().product();
                for max in [true, false] {
                    let got = if max {
                        ops::argmax(&t, a as i64)
                    } else {
                        ops::argmin(&t, a as i64)
                    };
                    let got = got.unwrap().to_vec::<i32>().unwrap();
                    for o in 0..outer {
                        for i in 0..inner {
                            let at = |j: usize| x[(o * len + j) * inner + i];
                            let best = (1..len).fold(0, |b, j| {
                                let better = if max { at(j) > at(b) } else { at(j) < at(b) };
                                if better { j } else { b }
                            });
                            assert_eq!(
                                got[o * inner + i] as usize,
                                best,
                                "{} at {o},{i}",
                                what(if max { "argmax" } else { "argmin" })
                            );
                        }
                    }
                }
            }
        });
    }
}

#[test]
fn argmax_argmin_take_the_first_of_ties() {
    let mut rng = Gen::new(12);
    for dev in devices() {
        with_device(&dev, || {
            let t =
                Tensor::from_slice(&[1.0f32, 3.0, 3.0, 0.0, 0.0, -1.0, -1.0, 2.0], [2, 4]).unwrap();
            assert_eq!(
                ops::argmax(&t, 1).unwrap().to_vec::<i32>().unwrap(),
                vec![1, 3]
            );
            assert_eq!(
                ops::argmin(&t, 1).unwrap().to_vec::<i32>().unwrap(),
                vec![3, 1]
            );
            assert_eq!(
                ops::argmax(&t, 0).unwrap().to_vec::<i32>().unwrap(),
                vec![0, 0, 0, 1]
            );
            // Long rows go through the workgroup-per-output path on the GPU.
            for (rows, len) in [(3usize, 1000usize), (700, 3)] {
                let mut x = rng.vec_f32(rows * len, -1.0, 1.0);
                x[len / 2] = 5.0;
                x[len / 2 + 1] = 5.0;
                let t = Tensor::from_slice(&x, [rows, len]).unwrap();
                let got = ops::argmax(&t, -1).unwrap().to_vec::<i32>().unwrap();
                for r in 0..rows {
                    let row = &x[r * len..(r + 1) * len];
                    let best = row
                        .iter()
                        .enumerate()
                        .fold(0, |b, (i, &v)| if v > row[b] { i } else { b });
                    assert_eq!(got[r] as usize, best, "row {r} of {rows}x{len} on {dev}");
                }
            }
            assert!(ops::argmax(&Tensor::from_slice::<f32>(&[], [2, 0]).unwrap(), 1).is_err());
        });
    }
}

#[test]
fn cumulative_sums_and_products() {
    for dev in devices() {
        with_device(&dev, || {
            let t = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]).unwrap();
            let v = |x: Tensor| x.to_vec::<f32>().unwrap();
            assert_eq!(
                v(ops::cumsum(&t, 1, false, false).unwrap()),
                vec![1.0, 3.0, 6.0, 4.0, 9.0, 15.0]
            );
            assert_eq!(
                v(ops::cumsum(&t, 1, true, false).unwrap()),
                vec![0.0, 1.0, 3.0, 0.0, 4.0, 9.0]
            );
            assert_eq!(
                v(ops::cumsum(&t, 1, false, true).unwrap()),
                vec![6.0, 5.0, 3.0, 15.0, 11.0, 6.0]
            );
            assert_eq!(
                v(ops::cumsum(&t, 1, true, true).unwrap()),
                vec![5.0, 3.0, 0.0, 11.0, 6.0, 0.0]
            );
            assert_eq!(
                v(ops::cumsum(&t, 0, false, false).unwrap()),
                vec![1.0, 2.0, 3.0, 5.0, 7.0, 9.0]
            );
            assert_eq!(
                v(ops::cumprod(&t, -1, false, false).unwrap()),
                vec![1.0, 2.0, 6.0, 4.0, 20.0, 120.0]
            );
            let i = Tensor::from_slice(&[1i32, 2, 3], [3]).unwrap();
            assert_eq!(
                ops::cumsum(&i, 0, false, false)
                    .unwrap()
                    .to_vec::<i32>()
                    .unwrap(),
                vec![1, 3, 6]
            );
            let e = Tensor::from_slice::<f32>(&[], [0, 4]).unwrap();
            assert_eq!(ops::cumsum(&e, 1, false, false).unwrap().shape(), &[0, 4]);
        });
    }
}

fn softmax_ref(x: &[f64], log: bool) -> Vec<f64> {
    let m = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let s: f64 = x.iter().map(|v| (v - m).exp()).sum();
    x.iter()
        .map(|v| {
            if log {
                v - m - s.ln()
            } else {
                (v - m).exp() / s
            }
        })
        .collect()
}

#[test]
fn softmax_and_log_softmax_on_any_axis() {
    let mut rng = Gen::new(13);
    for dev in devices() {
        with_device(&dev, || {
            for (shape, axis) in [
                (vec![5usize, 13], 1usize),
                (vec![5, 13], 0),
                (vec![2, 3, 4], 1),
                (vec![3, 1000], 1),
                (vec![7], 0),
            ] {
                let x = rng.vec_f32(numel(&shape), -30.0, 30.0);
                let t = Tensor::from_slice(&x, &shape).unwrap();
                let (outer, len, inner): (usize, usize, usize) = (
                    shape[..axis].iter().product(),
                    shape[axis],
                    shape[axis + 1..].iter().product(),
                );
                for log in [false, true] {
                    let mut want = vec![0.0; x.len()];
                    for o in 0..outer {
                        for i in 0..inner {
                            let idx: Vec<usize> =
                                (0..len).map(|j| o * len * inner + j * inner + i).collect();
                            let row: Vec<f64> = idx.iter().map(|&k| x[k] as f64).collect();
                            for (k, v) in idx.iter().zip(softmax_ref(&row, log)) {
                                want[*k] = v;
                            }
                        }
                    }
                    let y = if log {
                        ops::log_softmax(&t, axis as i64)
                    } else {
                        ops::softmax(&t, axis as i64 - shape.len() as i64)
                    };
                    assert_close(
                        &format!("softmax log={log} {shape:?} axis {axis} on {dev}"),
                        &values(&y.unwrap()),
                        &want,
                        1e-6,
                        1e-5,
                    );
                }
            }
            let big = Tensor::from_slice(&[1000.0f32, 1000.0, -1000.0], [3]).unwrap();
            assert_close(
                "large logits",
                &values(&ops::softmax(&big, 0).unwrap()),
                &[0.5, 0.5, 0.0],
                1e-7,
                0.0,
            );
            assert!(ops::softmax(&Tensor::from_slice(&[1i32], [1]).unwrap(), 0).is_err());
            let n = ops::l2_normalize(
                &Tensor::from_slice(&[3.0f32, 4.0], [2]).unwrap(),
                Axes::All,
                1e-12,
            )
            .unwrap();
            assert_close("l2_normalize", &values(&n), &[0.6, 0.8], 1e-7, 1e-6);
        });
    }
}

#[test]
fn reductions_of_empty_tensors_give_identities() {
    for dev in devices() {
        with_device(&dev, || {
            let e = Tensor::from_slice::<f32>(&[], [3, 0]).unwrap();
            assert_eq!(
                values(&ops::reduce_sum(&e, [1], false).unwrap()),
                vec![0.0; 3]
            );
            assert_eq!(
                values(&ops::reduce_prod(&e, [1], false).unwrap()),
                vec![1.0; 3]
            );
            assert_eq!(
                values(&ops::reduce_max(&e, [1], false).unwrap()),
                vec![f64::NEG_INFINITY; 3]
            );
            assert!(values(&ops::reduce_mean(&e, [1], false).unwrap())[0].is_nan());
            let s = ops::reduce_sum(&Tensor::scalar(2.5f32).unwrap(), Axes::All, false).unwrap();
            assert_eq!((s.shape().len(), s.to_scalar::<f32>().unwrap()), (0, 2.5));
            let z = ops::reduce_sum(&e, [0], false).unwrap();
            assert_eq!(z.shape(), &[0]);
            assert_eq!(z.dtype(), DType::F32);
        });
    }
}
