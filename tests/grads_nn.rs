//! Gradients of the nn ops (convolutions and their backprops, pooling and its gradient ops,
//! the cross-entropies), first and second order, against finite differences of float64
//! loops written here, on every device.

mod common;

use common::gradcheck::Check;
use common::{Gen, devices};
use wgflow::ops::{Conv2dOptions, Padding, PoolOptions};
use wgflow::{Tensor, ops, with_device};

/// Output size and padding before along one axis (TensorFlow's documented rules).
fn out_pad(
    input: usize,
    k: usize,
    s: usize,
    d: usize,
    pad: Padding,
    axis: usize,
) -> (usize, usize) {
    let eff = (k - 1) * d + 1;
    let valid = |n: usize| if n >= eff { (n - eff) / s + 1 } else { 0 };
    match pad {
        Padding::Same => {
            let out = input.div_ceil(s);
            (out, ((out - 1) * s + eff).saturating_sub(input) / 2)
        }
        Padding::Valid => (valid(input), 0),
        Padding::Explicit(p) => (valid(input + p[axis][0] + p[axis][1]), p[axis][0]),
    }
}

/// A convolution's shapes: NHWC input, HWIO filter, output.
#[derive(Clone, Copy)]
struct Conv {
    x: [usize; 4],
    f: [usize; 4],
    o: Conv2dOptions,
}

impl Conv {
    fn out(&self) -> [usize; 4] {
        let (oh, _) = self.axis(0);
        let (ow, _) = self.axis(1);
        [self.x[0], oh, ow, self.f[3]]
    }
    fn axis(&self, a: usize) -> (usize, usize) {
        let o = self.o;
        out_pad(
            self.x[1 + a],
            self.f[a],
            o.strides[a],
            o.dilations[a],
            o.padding,
            a,
        )
    }
    /// Calls `visit(input index, filter index, output index)` for every product a direct
    /// seven-loop convolution adds.
    fn taps(&self, mut visit: impl FnMut(usize, usize, usize)) {
        let [n, h, w, ci] = self.x;
        let [kh, kw, _, co] = self.f;
        let [_, oh, ow, _] = self.out();
        let (pt, pl) = (self.axis(0).1 as isize, self.axis(1).1 as isize);
        let (s, d) = (self.o.strides, self.o.dilations);
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for ky in 0..kh {
                        for kx in 0..kw {
                            let y = (oy * s[0] + ky * d[0]) as isize - pt;
                            let x = (ox * s[1] + kx * d[1]) as isize - pl;
                            if y < 0 || x < 0 || y >= h as isize || x >= w as isize {
                                continue;
                            }
                            for c in 0..ci {
                                for k in 0..co {
                                    let xi = ((b * h + y as usize) * w + x as usize) * ci + c;
                                    let fi = ((ky * kw + kx) * ci + c) * co + k;
                                    let oi = ((b * oh + oy) * ow + ox) * co + k;
                                    visit(xi, fi, oi);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn numel(s: &[usize]) -> usize {
    s.iter().product()
}

fn rand(rng: &mut Gen, shape: &[usize]) -> (Vec<f64>, Vec<usize>) {
    let v = (0..numel(shape)).map(|_| rng.uniform(-1.0, 1.0)).collect();
    (v, shape.to_vec())
}

fn conv_cases() -> Vec<Conv> {
    let opt = |s: [usize; 2], padding, d: [usize; 2]| Conv2dOptions {
        strides: s,
        padding,
        dilations: d,
    };
    vec![
        Conv {
            x: [2, 5, 6, 3],
            f: [3, 2, 3, 4],
            o: opt([1, 1], Padding::Same, [1, 1]),
        },
        Conv {
            x: [1, 7, 6, 2],
            f: [3, 3, 2, 3],
            o: opt([2, 2], Padding::Valid, [1, 1]),
        },
        Conv {
            x: [1, 7, 7, 2],
            f: [2, 3, 2, 2],
            o: opt([1, 1], Padding::Same, [2, 2]),
        },
        Conv {
            x: [2, 6, 7, 1],
            f: [3, 2, 1, 2],
            o: opt([2, 3], Padding::Same, [1, 2]),
        },
        Conv {
            x: [1, 5, 4, 2],
            f: [2, 2, 2, 2],
            o: opt([2, 1], Padding::Explicit([[1, 0], [2, 1]]), [1, 1]),
        },
    ]
}

#[test]
fn conv2d_and_its_backprops() {
    let mut rng = Gen::new(11);
    for dev in devices() {
        with_device(&dev, || {
            for c in conv_cases() {
                let name = format!("{:?} {:?}", c.x, c.o);
                let (xn, fnum, on) = (numel(&c.x), numel(&c.f), numel(&c.out()));
                Check::new(
                    &format!("conv2d {name}"),
                    vec![rand(&mut rng, &c.x), rand(&mut rng, &c.f)],
                )
                .run(
                    &mut rng,
                    &|v| {
                        let mut out = vec![0.0; on];
                        c.taps(|xi, fi, oi| out[oi] += v[0][xi] * v[1][fi]);
                        out
                    },
                    &|t| ops::conv2d(&t[0], &t[1], c.o),
                );
                Check::new(
                    &format!("conv2d_backprop_input {name}"),
                    vec![rand(&mut rng, &c.f), rand(&mut rng, &c.out())],
                )
                .run(
                    &mut rng,
                    &|v| {
                        let mut dx = vec![0.0; xn];
                        c.taps(|xi, fi, oi| dx[xi] += v[0][fi] * v[1][oi]);
                        dx
                    },
                    &|t| ops::conv2d_backprop_input(&c.x, &t[0], &t[1], c.o),
                );
                Check::new(
                    &format!("conv2d_backprop_filter {name}"),
                    vec![rand(&mut rng, &c.x), rand(&mut rng, &c.out())],
                )
                .run(
                    &mut rng,
                    &|v| {
                        let mut df = vec![0.0; fnum];
                        c.taps(|xi, fi, oi| df[fi] += v[0][xi] * v[1][oi]);
                        df
                    },
                    &|t| ops::conv2d_backprop_filter(&t[0], &c.f, &t[1], c.o),
                );
            }
        });
    }
}

/// A pooling op's shapes.
#[derive(Clone, Copy)]
struct Pool {
    x: [usize; 4],
    o: PoolOptions,
}

impl Pool {
    fn axis(&self, a: usize) -> (usize, usize) {
        let o = self.o;
        out_pad(self.x[1 + a], o.ksize[a], o.strides[a], 1, o.padding, a)
    }
    fn out(&self) -> [usize; 4] {
        [self.x[0], self.axis(0).0, self.axis(1).0, self.x[3]]
    }
    /// Calls `visit(output index, in-image input indices of its window)` per window.
    fn windows(&self, mut visit: impl FnMut(usize, &[usize])) {
        let [n, h, w, c] = self.x;
        let [_, oh, ow, _] = self.out();
        let (pt, pl) = (self.axis(0).1 as isize, self.axis(1).1 as isize);
        let (k, s) = (self.o.ksize, self.o.strides);
        let mut idx = Vec::new();
        for b in 0..n {
            for oy in 0..oh {
                for ox in 0..ow {
                    for ch in 0..c {
                        idx.clear();
                        for ky in 0..k[0] {
                            for kx in 0..k[1] {
                                let y = (oy * s[0] + ky) as isize - pt;
                                let x = (ox * s[1] + kx) as isize - pl;
                                if y >= 0 && x >= 0 && y < h as isize && x < w as isize {
                                    idx.push(((b * h + y as usize) * w + x as usize) * c + ch);
                                }
                            }
                        }
                        visit(((b * oh + oy) * ow + ox) * c + ch, &idx);
                    }
                }
            }
        }
    }
    /// Where each window's maximum of `x` is.
    fn argmax(&self, x: &[f64]) -> Vec<usize> {
        let mut arg = vec![0; numel(&self.out())];
        self.windows(|oi, idx| {
            arg[oi] = idx
                .iter()
                .copied()
                .fold(idx[0], |b, i| if x[i] > x[b] { i } else { b });
        });
        arg
    }
}

/// Distinct values 0.1 apart in random order: no ties, even under finite-difference steps.
fn distinct(rng: &mut Gen, shape: &[usize]) -> (Vec<f64>, Vec<usize>) {
    let n = numel(shape);
    let mut v: Vec<f64> = (0..n).map(|i| (i as f64 - n as f64 / 2.0) * 0.1).collect();
    for i in (1..n).rev() {
        v.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    (v, shape.to_vec())
}

fn pool_cases() -> Vec<Pool> {
    let p = |x, k: [usize; 2], s: [usize; 2], padding| Pool {
        x,
        o: PoolOptions {
            ksize: k,
            strides: s,
            padding,
        },
    };
    vec![
        p([2, 5, 7, 2], [3, 3], [2, 2], Padding::Same),
        p([1, 6, 5, 3], [2, 2], [2, 2], Padding::Valid),
        p([1, 5, 6, 2], [3, 3], [1, 1], Padding::Valid),
        p([2, 4, 7, 1], [2, 3], [1, 2], Padding::Same),
        // Windows apart (stride > window) with padding: one window per pixel, a map.
        p(
            [1, 7, 8, 2],
            [2, 2],
            [3, 3],
            Padding::Explicit([[1, 1], [1, 0]]),
        ),
        // Windows that tile the image exactly (the pool gradient's tiled path).
        p([2, 6, 4, 3], [2, 2], [2, 2], Padding::Valid),
        p([1, 6, 9, 2], [3, 3], [3, 3], Padding::Same),
    ]
}

#[test]
fn pooling_and_its_gradient_ops() {
    let mut rng = Gen::new(12);
    for dev in devices() {
        with_device(&dev, || {
            for p in pool_cases() {
                let name = format!("{:?} {:?}", p.x, p.o);
                let (xn, on) = (numel(&p.x), numel(&p.out()));
                Check::new(
                    &format!("max_pool2d {name}"),
                    vec![distinct(&mut rng, &p.x)],
                )
                .run(
                    &mut rng,
                    &|v| p.argmax(&v[0]).iter().map(|&i| v[0][i]).collect(),
                    &|t| ops::max_pool2d(&t[0], p.o),
                );
                Check::new(&format!("avg_pool2d {name}"), vec![rand(&mut rng, &p.x)]).run(
                    &mut rng,
                    &|v| {
                        let mut out = vec![0.0; on];
                        p.windows(|oi, idx| {
                            out[oi] = idx.iter().map(|&i| v[0][i]).sum::<f64>() / idx.len() as f64
                        });
                        out
                    },
                    &|t| ops::avg_pool2d(&t[0], p.o),
                );
                // Routed by the arg-max of x: zero gradient for x, linear in the gradient.
                Check::new(
                    &format!("max_pool2d_grad {name}"),
                    vec![distinct(&mut rng, &p.x), rand(&mut rng, &p.out())],
                )
                .run(
                    &mut rng,
                    &|v| {
                        let mut dx = vec![0.0; xn];
                        for (oi, &i) in p.argmax(&v[0]).iter().enumerate() {
                            dx[i] += v[1][oi];
                        }
                        dx
                    },
                    &|t| {
                        let y = ops::max_pool2d(&t[0], p.o)?;
                        ops::max_pool2d_grad(&t[0], &y, &t[1], p.o)
                    },
                );
                let (x0, _) = distinct(&mut rng, &p.x);
                let arg = p.argmax(&x0);
                let xt = Tensor::from_slice(&x0.iter().map(|&v| v as f32).collect::<Vec<_>>(), p.x)
                    .unwrap();
                Check::new(
                    &format!("max_pool2d_grad_grad {name}"),
                    vec![rand(&mut rng, &p.x)],
                )
                .run(
                    &mut rng,
                    &|v| arg.iter().map(|&i| v[0][i]).collect(),
                    &|t| {
                        let y = ops::max_pool2d(&xt, p.o)?;
                        ops::max_pool2d_grad_grad(&xt, &y, &t[0], p.o)
                    },
                );
                Check::new(
                    &format!("avg_pool2d_grad {name}"),
                    vec![rand(&mut rng, &p.out())],
                )
                .run(
                    &mut rng,
                    &|v| {
                        let mut dx = vec![0.0; xn];
                        p.windows(|oi, idx| {
                            for &i in idx {
                                dx[i] += v[0][oi] / idx.len() as f64;
                            }
                        });
                        dx
                    },
                    &|t| ops::avg_pool2d_grad(&p.x, &t[0], p.o),
                );
            }
        });
    }
}

/// Row-wise softmax of `x` (`rows` rows of `n`), in f64.
fn softmax_rows(x: &[f64], n: usize) -> Vec<f64> {
    x.chunks(n)
        .flat_map(|r| {
            let m = r.iter().cloned().fold(f64::MIN, f64::max);
            let s: f64 = r.iter().map(|v| (v - m).exp()).sum();
            r.iter().map(move |v| (v - m).exp() / s)
        })
        .collect()
}

/// `log(sum(exp(row)))` per row.
fn lse_rows(x: &[f64], n: usize) -> Vec<f64> {
    x.chunks(n)
        .map(|r| r.iter().map(|v| v.exp()).sum::<f64>().ln())
        .collect()
}

/// The cross-entropy checks; second order needs the softmax and sigmoid rules.
fn cross_entropies(second_order: bool) {
    let mut rng = Gen::new(13);
    let check = |name: &'static str, inputs| {
        let c = Check::new(name, inputs);
        if second_order {
            c
        } else {
            c.first_order_only()
        }
    };
    for dev in devices() {
        with_device(&dev, || {
            let (rows, n) = (4, 5);
            // Labels on the simplex, where TensorFlow's fused logits gradient is exact; as a
            // constant for second order (off the simplex the fused rule is not a derivative).
            let labels = softmax_rows(&rand(&mut rng, &[rows, n]).0, n);
            let lt = Tensor::from_slice(
                &labels.iter().map(|&v| v as f32).collect::<Vec<_>>(),
                [rows, n],
            )
            .unwrap();
            let dense = |z: &[f64], x: &[f64]| -> Vec<f64> {
                let lse = lse_rows(x, n);
                (0..rows)
                    .map(|r| {
                        (0..n)
                            .map(|j| -z[r * n + j] * (x[r * n + j] - lse[r]))
                            .sum()
                    })
                    .collect()
            };
            check("softmax_ce logits", vec![rand(&mut rng, &[rows, n])]).run(
                &mut rng,
                &|v| dense(&labels, &v[0]),
                &|t| ops::softmax_cross_entropy_with_logits(&lt, &t[0], -1),
            );
            // Both inputs, first order: dlabels = -log_softmax.
            Check::new(
                "softmax_ce labels and logits",
                vec![(labels.clone(), vec![rows, n]), rand(&mut rng, &[rows, n])],
            )
            .first_order_only()
            .run(&mut rng, &|v| dense(&v[0], &v[1]), &|t| {
                ops::softmax_cross_entropy_with_logits(&t[0], &t[1], -1)
            });
            // Along axis 0: the transposed problem.
            let tr = |v: &[f64]| -> Vec<f64> {
                (0..rows * n)
                    .map(|i| v[(i % rows) * n + i / rows])
                    .collect()
            };
            let labels_t = tr(&labels);
            let lt0 = Tensor::from_slice(
                &labels_t.iter().map(|&v| v as f32).collect::<Vec<_>>(),
                [n, rows],
            )
            .unwrap();
            check("softmax_ce axis 0", vec![rand(&mut rng, &[n, rows])]).run(
                &mut rng,
                &|v| {
                    let x: Vec<f64> = (0..rows * n)
                        .map(|i| v[0][(i % n) * rows + i / n])
                        .collect();
                    dense(&labels, &x)
                },
                &|t| ops::softmax_cross_entropy_with_logits(&lt0, &t[0], 0),
            );

            let classes = [3i32, 0, 4, 1];
            let ct = Tensor::from_slice(&classes, [rows]).unwrap();
            check("sparse_softmax_ce", vec![rand(&mut rng, &[rows, n])]).run(
                &mut rng,
                &|v| {
                    let lse = lse_rows(&v[0], n);
                    (0..rows)
                        .map(|r| lse[r] - v[0][r * n + classes[r] as usize])
                        .collect()
                },
                &|t| ops::sparse_softmax_cross_entropy_with_logits(&ct, &t[0]),
            );

            let z: Vec<f64> = (0..rows * n).map(|_| rng.uniform(0.0, 1.0)).collect();
            let mut x = rand(&mut rng, &[rows, n]);
            x.0.iter_mut().for_each(|v| *v *= 4.0);
            check("sigmoid_ce", vec![(z, vec![rows, n]), x]).run(
                &mut rng,
                &|v| {
                    v[0].iter()
                        .zip(&v[1])
                        .map(|(z, x)| x.max(0.0) - x * z + (-x.abs()).exp().ln_1p())
                        .collect()
                },
                &|t| ops::sigmoid_cross_entropy_with_logits(&t[0], &t[1]),
            );
        });
    }
}

#[test]
fn cross_entropies_first_order() {
    cross_entropies(false);
}

#[test]
fn cross_entropies_second_order() {
    cross_entropies(true);
}

#[test]
fn sparse_labels_get_no_gradient_and_bad_labels_fail() {
    for dev in devices() {
        with_device(&dev, || {
            let logits = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 0.5, 0.5, 0.5], [2, 3]).unwrap();
            let labels = Tensor::from_slice(&[2i32, 0], [2]).unwrap();
            let tape = wgflow::GradientTape::new();
            tape.watch(&logits);
            let l = ops::sparse_softmax_cross_entropy_with_logits(&labels, &logits).unwrap();
            let g = tape.gradient(&l, &[&logits]).unwrap().remove(0).unwrap();
            let want: Vec<f64> = softmax_rows(&[1.0, 2.0, 3.0, 0.5, 0.5, 0.5], 3)
                .iter()
                .enumerate()
                .map(|(i, p)| p - if i == 2 || i == 3 { 1.0 } else { 0.0 })
                .collect();
            common::assert_close("sparse ce grad", &common::values(&g), &want, 1e-6, 1e-6);
            let bad = Tensor::from_slice(&[0u32, 3], [2]).unwrap();
            let e = ops::sparse_softmax_cross_entropy_with_logits(&bad, &logits)
                .unwrap_err()
                .to_string();
            assert!(e.contains("labels[1] = 3") && e.contains("[0, 3)"), "{e}");
        });
    }
}

#[test]
fn bias_add() {
    let mut rng = Gen::new(14);
    for dev in devices() {
        with_device(&dev, || {
            Check::new(
                "bias_add",
                vec![rand(&mut rng, &[2, 3, 4]), rand(&mut rng, &[4])],
            )
            .run(
                &mut rng,
                &|v| (0..24).map(|i| v[0][i] + v[1][i % 4]).collect(),
                &|t| ops::bias_add(&t[0], &t[1]),
            );
        });
    }
}

#[test]
fn composed_nn_ops() {
    let mut rng = Gen::new(15);
    for dev in devices() {
        with_device(&dev, || {
            // The same seed draws the same mask: dropout of ones is the mask times the scale.
            let (rate, seed) = (0.4, 7);
            let ones = ops::ones([3, 5], wgflow::DType::F32).unwrap();
            let mask = common::values(&ops::dropout(&ones, rate, seed, None).unwrap());
            Check::new("dropout", vec![rand(&mut rng, &[3, 5])]).run(
                &mut rng,
                &|v| v[0].iter().zip(&mask).map(|(x, m)| x * m).collect(),
                &|t| ops::dropout(&t[0], rate, seed, None),
            );
            Check::new("l2_loss", vec![rand(&mut rng, &[2, 3, 4])]).run(
                &mut rng,
                &|v| vec![v[0].iter().map(|x| x * x).sum::<f64>() / 2.0],
                &|t| ops::l2_loss(&t[0]),
            );
            let ids = [4i32, 0, 4, 2, 1];
            let it = Tensor::from_slice(&ids, [5]).unwrap();
            Check::new("embedding_lookup", vec![rand(&mut rng, &[5, 3])])
                .first_order_only()
                .run(
                    &mut rng,
                    &|v| {
                        ids.iter()
                            .flat_map(|&i| (0..3).map(move |j| (i as usize) * 3 + j))
                            .map(|k| v[0][k])
                            .collect()
                    },
                    &|t| ops::embedding_lookup(&t[0], &it),
                );
        });
    }
}
