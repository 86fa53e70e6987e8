//! Convolutions, pooling, their gradient ops, dropout and the losses: against direct float64
//! loops written here, and the backprop ops against TensorFlow's own gradients.

mod common;

use common::*;
use wgflow::ops::{Conv2dOptions, Padding, PoolOptions};
use wgflow::{Tensor, npy, ops, with_device};

/// Output size and padding before, computed independently (TensorFlow's documented rules).
fn geometry(input: usize, k: usize, s: usize, d: usize, same: bool) -> (usize, usize) {
    let eff = (k - 1) * d + 1;
    if same {
        let out = input.div_ceil(s);
        let total = ((out - 1) * s + eff).saturating_sub(input);
        (out, total / 2)
    } else {
        (
            if input >= eff {
                (input - eff) / s + 1
            } else {
                0
            },
            0,
        )
    }
}

struct Case {
    x: Vec<f32>,
    xs: [usize; 4],
    f: Vec<f32>,
    fs: [usize; 4],
    s: usize,
    d: usize,
    same: bool,
}

impl Case {
    fn out(&self) -> (usize, usize, usize, usize) {
        let (oh, pt) = geometry(self.xs[1], self.fs[0], self.s, self.d, self.same);
        let (ow, pl) = geometry(self.xs[2], self.fs[1], self.s, self.d, self.same);
        (oh, ow, pt, pl)
    }
    /// Input pixel feeding output (oy, ox) through filter tap (ky, kx), if inside the image.
    fn tap(&self, oy: usize, ox: usize, ky: usize, kx: usize) -> Option<(usize, usize)> {
        let (_, _, pt, pl) = self.out();
        let y = (oy * self.s + ky * self.d) as i64 - pt as i64;
        let x = (ox * self.s + kx * self.d) as i64 - pl as i64;
        (y >= 0 && x >= 0 && (y as usize) < self.xs[1] && (x as usize) < self.xs[2])
            .then_some((y as usize, x as usize))
    }
    fn xi(&self, n: usize, y: usize, x: usize, c: usize) -> usize {
        ((n * self.xs[1] + y) * self.xs[2] + x) * self.xs[3] + c
    }
    fn fi(&self, ky: usize, kx: usize, ci: usize, co: usize) -> usize {
        ((ky * self.fs[1] + kx) * self.fs[2] + ci) * self.fs[3] + co
    }
    fn opts(&self) -> Conv2dOptions {
        Conv2dOptions::new(
            self.s,
            if self.same {
                Padding::Same
            } else {
                Padding::Valid
            },
        )
        .dilations(self.d)
    }
    /// Direct convolution, then both gradients of sum(y * up).
    fn reference(&self, up: &[f32]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let (oh, ow, _, _) = self.out();
        let [n, _, _, ci] = self.xs;
        let [kh, kw, _, co] = self.fs;
        let mut y = vec![0.0; n * oh * ow * co];
        let mut dx = vec![0.0; self.x.len()];
        let mut df = vec![0.0; self.f.len()];
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for o in 0..co {
                        let yi = ((b * oh + oy) * ow + ox) * co + o;
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let Some((iy, ix)) = self.tap(oy, ox, ky, kx) else {
                                    continue;
                                };
                                for c in 0..ci {
                                    let (xi, fi) = (self.xi(b, iy, ix, c), self.fi(ky, kx, c, o));
                                    y[yi] += self.x[xi] as f64 * self.f[fi] as f64;
                                    dx[xi] += up[yi] as f64 * self.f[fi] as f64;
                                    df[fi] += up[yi] as f64 * self.x[xi] as f64;
                                }
                            }
                        }
                    }
                }
            }
        }
        (y, dx, df)
    }
}

#[test]
fn conv2d_and_backprops_match_direct_loops() {
    let mut g = Gen::new(40);
    let shapes = [
        ([2usize, 7, 9, 3], [3usize, 3, 3, 5], 1, 1, false),
        ([2, 7, 9, 3], [3, 3, 3, 5], 2, 1, true),
        ([1, 8, 8, 2], [3, 2, 2, 4], 1, 2, true),
        ([2, 11, 6, 1], [5, 5, 1, 8], 2, 1, false),
        ([1, 5, 5, 4], [1, 1, 4, 3], 1, 1, true),
        ([0, 5, 5, 2], [3, 3, 2, 2], 1, 1, true),
        ([3, 4, 4, 2], [5, 5, 2, 2], 1, 1, true),
        // Large enough that the CPU multiplies the patches block by block.
        ([4, 23, 21, 16], [3, 3, 16, 8], 1, 1, true),
        ([3, 30, 27, 8], [3, 3, 8, 6], 2, 1, false),
        ([8, 28, 28, 1], [3, 3, 1, 32], 1, 1, false),
        ([6, 40, 37, 4], [3, 3, 4, 6], 2, 1, false),
        ([5, 40, 40, 3], [3, 3, 3, 4], 1, 2, true),
    ];
    for (xs, fs, s, d, same) in shapes {
        let c = Case {
            x: g.vec_f32(numel(&xs), -1.0, 1.0),
            xs,
            f: g.vec_f32(numel(&fs), -1.0, 1.0),
            fs,
            s,
            d,
            same,
        };
        let (oh, ow, _, _) = c.out();
        let ys = [xs[0], oh, ow, fs[3]];
        let up = g.vec_f32(numel(&ys), -1.0, 1.0);
        let (y, dx, df) = c.reference(&up);
        let tol = 1e-5 * ((fs[0] * fs[1] * fs[2]).max(xs[0] * oh * ow) as f64).sqrt();
        for dev in all_profiles() {
            with_device(&dev, || {
                let what = format!("{xs:?} * {fs:?} s={s} d={d} same={same} on {dev}");
                let x = Tensor::from_slice(&c.x, xs).unwrap();
                let f = Tensor::from_slice(&c.f, fs).unwrap();
                let u = Tensor::from_slice(&up, ys).unwrap();
                let out = ops::conv2d(&x, &f, c.opts()).unwrap();
                assert_eq!(out.shape(), ys.as_slice(), "{what}");
                assert_close(&format!("conv2d {what}"), &values(&out), &y, tol, tol);
                let gi = ops::conv2d_backprop_input(&xs, &f, &u, c.opts()).unwrap();
                assert_close(
                    &format!("backprop_input {what}"),
                    &values(&gi),
                    &dx,
                    tol,
                    tol,
                );
                let gf = ops::conv2d_backprop_filter(&x, &fs, &u, c.opts()).unwrap();
                assert_close(
                    &format!("backprop_filter {what}"),
                    &values(&gf),
                    &df,
                    tol,
                    tol,
                );
            });
        }
    }
}

fn pool_reference(
    x: &[f32],
    xs: [usize; 4],
    k: usize,
    s: usize,
    same: bool,
    up: &[f32],
) -> [Vec<f64>; 4] {
    let (oh, pt) = geometry(xs[1], k, s, 1, same);
    let (ow, pl) = geometry(xs[2], k, s, 1, same);
    let [n, h, w, c] = xs;
    let (mut mx, mut avg) = (vec![0.0; n * oh * ow * c], vec![0.0; n * oh * ow * c]);
    let (mut dmax, mut davg) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    for b in 0..n {
        for oy in 0..oh {
            for ox in 0..ow {
                for ch in 0..c {
                    let o = ((b * oh + oy) * ow + ox) * c + ch;
                    let mut cells = Vec::new();
                    for ky in 0..k {
                        for kx in 0..k {
                            let (y, xx) = (
                                (oy * s + ky) as i64 - pt as i64,
                                (ox * s + kx) as i64 - pl as i64,
                            );
                            if y >= 0 && xx >= 0 && (y as usize) < h && (xx as usize) < w {
                                cells.push(((b * h + y as usize) * w + xx as usize) * c + ch);
                            }
                        }
                    }
                    // The first maximum in row-major window order takes the gradient.
                    let best = cells
                        .iter()
                        .copied()
                        .fold(cells[0], |a, i| if x[i] > x[a] { i } else { a });
                    mx[o] = x[best] as f64;
                    dmax[best] += up[o] as f64;
                    avg[o] = cells.iter().map(|&i| x[i] as f64).sum::<f64>() / cells.len() as f64;
                    for &i in &cells {
                        davg[i] += up[o] as f64 / cells.len() as f64;
                    }
                }
            }
        }
    }
    [mx, avg, dmax, davg]
}

#[test]
fn pooling_and_its_gradients_match_direct_loops() {
    let mut g = Gen::new(41);
    for (xs, k, s, same) in [
        ([2usize, 9, 10, 3], 2, 2, true),
        ([2, 9, 10, 3], 3, 1, true),
        ([1, 7, 5, 2], 3, 2, false),
        ([1, 4, 4, 1], 2, 2, false),
        ([0, 4, 4, 1], 2, 2, true),
        // Tiling windows with rows and columns left over (VALID on odd sizes); the last
        // is large enough to be written by several threads.
        ([2, 9, 11, 3], 2, 2, false),
        ([1, 8, 7, 2], 3, 3, false),
        ([4, 11, 13, 160], 2, 2, false),
    ] {
        // Distinct values: ties would make the max-pool gradient a matter of convention.
        let mut x: Vec<f32> = (0..numel(&xs)).map(|i| i as f32 * 0.37 % 5.0).collect();
        for v in x.iter_mut() {
            *v += g.uniform(0.0, 1e-3) as f32;
        }
        let o = PoolOptions::new(k, s, if same { Padding::Same } else { Padding::Valid });
        let (oh, _) = geometry(xs[1], k, s, 1, same);
        let (ow, _) = geometry(xs[2], k, s, 1, same);
        let ys = [xs[0], oh, ow, xs[3]];
        let up = g.vec_f32(numel(&ys), -1.0, 1.0);
        let [mx, avg, dmax, davg] = pool_reference(&x, xs, k, s, same, &up);
        for dev in devices() {
            with_device(&dev, || {
                let what = format!("{xs:?} k={k} s={s} same={same} on {dev}");
                let t = Tensor::from_slice(&x, xs).unwrap();
                let u = Tensor::from_slice(&up, ys).unwrap();
                let m = ops::max_pool2d(&t, o).unwrap();
                assert_close(&format!("max_pool {what}"), &values(&m), &mx, 0.0, 0.0);
                assert_close(
                    &format!("avg_pool {what}"),
                    &values(&ops::avg_pool2d(&t, o).unwrap()),
                    &avg,
                    1e-6,
                    1e-6,
                );
                assert_close(
                    &format!("max_pool_grad {what}"),
                    &values(&ops::max_pool2d_grad(&t, &m, &u, o).unwrap()),
                    &dmax,
                    1e-6,
                    1e-6,
                );
                assert_close(
                    &format!("avg_pool_grad {what}"),
                    &values(&ops::avg_pool2d_grad(&xs, &u, o).unwrap()),
                    &davg,
                    1e-6,
                    1e-6,
                );
            });
        }
    }
}

fn fixture(case: &str, name: &str) -> Tensor {
    npy::read_npy(format!("tests/fixtures/tensorflow/ops/{case}/{name}.npy")).unwrap()
}

fn spec(case: &str) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(format!("tests/fixtures/tensorflow/ops/{case}/case.json"))
            .unwrap(),
    )
    .unwrap()
}

#[test]
fn backprop_ops_reproduce_tensorflow_gradients() {
    let cases: Vec<String> = std::fs::read_dir("tests/fixtures/tensorflow/ops")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("conv2d") || n.contains("pool2d"))
        .collect();
    assert!(cases.len() >= 19);
    for dev in devices() {
        with_device(&dev, || {
            for case in &cases {
                let a = &spec(case)["attrs"];
                let int = |k: &str| a[k].as_u64().unwrap_or(1) as usize;
                let pad = if a["padding"] == "SAME" {
                    Padding::Same
                } else {
                    Padding::Valid
                };
                let x = fixture(case, "input");
                let up = fixture(case, "upstream");
                let want_dx = values(&fixture(case, "grad_input"));
                if case.starts_with("conv2d") {
                    let f = fixture(case, "filters");
                    let o = Conv2dOptions::new(int("strides"), pad).dilations(int("dilations"));
                    let dx = ops::conv2d_backprop_input(x.shape(), &f, &up, o).unwrap();
                    assert_close(
                        &format!("{case} grad_input on {dev}"),
                        &values(&dx),
                        &want_dx,
                        1e-4,
                        1e-4,
                    );
                    let df = ops::conv2d_backprop_filter(&x, f.shape(), &up, o).unwrap();
                    assert_close(
                        &format!("{case} grad_filters on {dev}"),
                        &values(&df),
                        &values(&fixture(case, "grad_filters")),
                        1e-3,
                        1e-4,
                    );
                } else {
                    let o = PoolOptions::new(int("ksize"), int("strides"), pad);
                    let dx = if case.starts_with("max") {
                        ops::max_pool2d_grad(&x, &fixture(case, "output"), &up, o).unwrap()
                    } else {
                        ops::avg_pool2d_grad(x.shape(), &up, o).unwrap()
                    };
                    assert_close(
                        &format!("{case} grad_input on {dev}"),
                        &values(&dx),
                        &want_dx,
                        1e-5,
                        1e-5,
                    );
                }
            }
        });
    }
}

#[test]
fn losses_and_embedding_lookup() {
    for dev in devices() {
        with_device(&dev, || {
            let logits = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 1.0, 1.0, 1.0], [2, 3]).unwrap();
            let labels = Tensor::from_slice(&[2i32, 0], [2]).unwrap();
            let l = ops::sparse_softmax_cross_entropy_with_logits(&labels, &logits).unwrap();
            let lse = |v: &[f64]| v.iter().map(|x| x.exp()).sum::<f64>().ln();
            assert_close(
                "sparse ce",
                &values(&l),
                &[lse(&[1.0, 2.0, 3.0]) - 3.0, 3f64.ln()],
                1e-6,
                1e-6,
            );
            let onehot = Tensor::from_slice(&[0.0f32, 0.0, 1.0, 0.5, 0.5, 0.0], [2, 3]).unwrap();
            let d = ops::softmax_cross_entropy_with_logits(&onehot, &logits, -1).unwrap();
            assert_close(
                "dense ce",
                &values(&d),
                &[lse(&[1.0, 2.0, 3.0]) - 3.0, 3f64.ln()],
                1e-6,
                1e-6,
            );
            let bad = Tensor::from_slice(&[3i32, 0], [2]).unwrap();
            let e = ops::sparse_softmax_cross_entropy_with_logits(&bad, &logits)
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("sparse_softmax_cross_entropy_with_logits") && e.contains("[0, 3)"),
                "{e}"
            );
            assert!(
                ops::sparse_softmax_cross_entropy_with_logits(
                    &labels,
                    &onehot.reshape(&[6]).unwrap()
                )
                .is_err()
            );
            let z = Tensor::from_slice(&[0.0f32, 1.0, 1.0], [3]).unwrap();
            let x = Tensor::from_slice(&[-100.0f32, 0.0, 100.0], [3]).unwrap();
            let s = ops::sigmoid_cross_entropy_with_logits(&z, &x).unwrap();
            assert_close(
                "sigmoid ce is stable",
                &values(&s),
                &[0.0, 2f64.ln(), 0.0],
                1e-6,
                1e-6,
            );
            let params =
                Tensor::from_slice(&[0.0f32, 1.0, 10.0, 11.0, 20.0, 21.0], [3, 2]).unwrap();
            let ids = Tensor::from_slice(&[2i32, 2, 0], [3]).unwrap();
            assert_eq!(
                ops::embedding_lookup(&params, &ids)
                    .unwrap()
                    .to_vec::<f32>()
                    .unwrap(),
                vec![20.0, 21.0, 20.0, 21.0, 0.0, 1.0]
            );
            let e = ops::embedding_lookup(&params, &Tensor::from_slice(&[3i32], [1]).unwrap())
                .unwrap_err()
                .to_string();
            assert!(e.contains("embedding_lookup"), "{e}");
            assert_close(
                "l2_loss",
                &values(&ops::l2_loss(&x).unwrap()),
                &[10_000.0],
                1e-3,
                0.0,
            );
        });
    }
}

#[test]
fn dropout_keeps_the_expected_fraction_and_scales() {
    for dev in devices() {
        with_device(&dev, || {
            let x = ops::ones([100_000], wgflow::DType::F32).unwrap();
            let y = ops::dropout(&x, 0.3, 5, None)
                .unwrap()
                .to_vec::<f32>()
                .unwrap();
            let kept = y.iter().filter(|&&v| v != 0.0).count() as f64 / y.len() as f64;
            assert!((kept - 0.7).abs() < 0.01, "kept {kept}");
            assert!(y.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-6));
            assert_eq!(
                y,
                ops::dropout(&x, 0.3, 5, None)
                    .unwrap()
                    .to_vec::<f32>()
                    .unwrap(),
                "same seed, same mask"
            );
            // A noise shape broadcasts one draw per row.
            let m = ops::ones([4, 1000], wgflow::DType::F32).unwrap();
            let r = ops::dropout(&m, 0.5, 1, Some(&[4, 1]))
                .unwrap()
                .to_vec::<f32>()
                .unwrap();
            for row in r.chunks(1000) {
                assert!(row.iter().all(|&v| v == row[0]));
            }
            assert!(ops::dropout(&x, 1.0, 0, None).is_err());
            assert_eq!(
                ops::dropout(&x, 0.0, 0, None)
                    .unwrap()
                    .to_vec::<f32>()
                    .unwrap()[0],
                1.0
            );
        });
    }
}

#[test]
fn bad_convolutions_are_errors() {
    for dev in devices() {
        with_device(&dev, || {
            let x = ops::zeros([1, 5, 5, 3], wgflow::DType::F32).unwrap();
            let f = ops::zeros([3, 3, 4, 2], wgflow::DType::F32).unwrap();
            let e = ops::conv2d(&x, &f, Conv2dOptions::default())
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("conv2d") && e.contains("depth 3") && e.contains("4"),
                "{e}"
            );
            let f3 = ops::zeros([3, 3, 3], wgflow::DType::F32).unwrap();
            assert!(ops::conv2d(&x, &f3, Conv2dOptions::default()).is_err());
            assert!(
                ops::conv2d(
                    &x,
                    &ops::zeros([3, 3, 3, 1], wgflow::DType::F32).unwrap(),
                    Conv2dOptions::new(0, Padding::Same)
                )
                .is_err()
            );
            // A filter larger than the VALID input gives an empty output, as TensorFlow.
            let big = ops::zeros([7, 7, 3, 1], wgflow::DType::F32).unwrap();
            assert_eq!(
                ops::conv2d(&x, &big, Conv2dOptions::default())
                    .unwrap()
                    .shape(),
                &[1, 0, 0, 1]
            );
            assert!(ops::max_pool2d(&f3, PoolOptions::new(2, 2, Padding::Valid)).is_err());
            assert!(ops::max_pool2d(&x, PoolOptions::new(0, 1, Padding::Valid)).is_err());
        });
    }
}
