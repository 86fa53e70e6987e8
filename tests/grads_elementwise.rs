//! Gradients of the elementwise, reduction, scan, softmax and matmul ops: first and second
//! order through nested tapes against central finite differences of float64 references,
//! on every device; plus TensorFlow's conventions at the kinks.

mod common;

use common::gradcheck::Check;
use common::{Gen, devices, values};
use wgflow::{Axes, DType, GradientTape, Tensor, ops, with_device};

type Unary = (
    &'static str,
    fn(f64) -> f64,
    fn(&Tensor) -> wgflow::Result<Tensor>,
    f64,
    f64,
);

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

fn unary_ops() -> Vec<Unary> {
    vec![
        ("abs", f64::abs, ops::abs, -2.0, 2.0),
        ("neg", |x| -x, ops::neg, -2.0, 2.0),
        ("square", |x| x * x, ops::square, -2.0, 2.0),
        ("sqrt", f64::sqrt, ops::sqrt, 0.5, 3.0),
        ("rsqrt", |x| 1.0 / x.sqrt(), ops::rsqrt, 0.5, 3.0),
        ("reciprocal", |x| 1.0 / x, ops::reciprocal, 0.5, 3.0),
        ("exp", f64::exp, ops::exp, -2.0, 2.0),
        ("expm1", f64::exp_m1, ops::expm1, -2.0, 2.0),
        ("log", f64::ln, ops::log, 0.5, 3.0),
        ("log1p", f64::ln_1p, ops::log1p, -0.5, 3.0),
        ("sin", f64::sin, ops::sin, -3.0, 3.0),
        ("cos", f64::cos, ops::cos, -3.0, 3.0),
        ("tan", f64::tan, ops::tan, -1.0, 1.0),
        ("tanh", f64::tanh, ops::tanh, -2.0, 2.0),
        ("sigmoid", sigmoid, ops::sigmoid, -3.0, 3.0),
        ("relu", |x| x.max(0.0), ops::relu, -2.0, 2.0),
        ("relu6", |x| x.clamp(0.0, 6.0), ops::relu6, -2.0, 8.0),
        (
            "elu",
            |x| if x > 0.0 { x } else { x.exp_m1() },
            ops::elu,
            -2.0,
            2.0,
        ),
        (
            "selu",
            |x| {
                1.050_700_987_355_480_5
                    * if x > 0.0 {
                        x
                    } else {
                        1.673_263_242_354_377_3 * x.exp_m1()
                    }
            },
            ops::selu,
            -2.0,
            2.0,
        ),
        (
            "gelu",
            |x| 0.5 * x * (1.0 + common::erf64(x / 2f64.sqrt())),
            ops::gelu,
            -3.0,
            3.0,
        ),
        (
            "gelu_tanh",
            |x| {
                let c = (2.0 / std::f64::consts::PI).sqrt();
                0.5 * x * (1.0 + (c * (x + 0.044715 * x * x * x)).tanh())
            },
            ops::gelu_tanh,
            -3.0,
            3.0,
        ),
        ("silu", |x| x * sigmoid(x), ops::silu, -3.0, 3.0),
        ("softplus", |x| x.exp().ln_1p(), ops::softplus, -3.0, 3.0),
        (
            "softsign",
            |x| x / (1.0 + x.abs()),
            ops::softsign,
            -3.0,
            3.0,
        ),
        ("erf", common::erf64, ops::erf, -2.0, 2.0),
    ]
}

/// Values in [lo, hi) kept away from the kinks at 0 and 6 (finite differences need smoothness).
fn smooth(rng: &mut Gen, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n)
        .map(|_| {
            loop {
                let v = rng.uniform(lo, hi);
                if v.abs() > 0.05 && (v - 6.0).abs() > 0.05 {
                    break v;
                }
            }
        })
        .collect()
}

#[test]
fn unary_ops_first_and_second_order() {
    let mut rng = Gen::new(21);
    for dev in devices() {
        with_device(&dev, || {
            for (name, f, op, lo, hi) in unary_ops() {
                for shape in [vec![], vec![7], vec![2, 3]] {
                    let n = shape.iter().product();
                    let x = smooth(&mut rng, n, lo, hi);
                    Check::new(name, vec![(x, shape)]).tol(2e-3, 2e-3).run(
                        &mut rng,
                        &|xs| xs[0].iter().map(|&v| f(v)).collect(),
                        &|xs| op(&xs[0]),
                    );
                }
            }
        });
    }
}

type Binary = (
    &'static str,
    fn(f64, f64) -> f64,
    fn(&Tensor, &Tensor) -> wgflow::Result<Tensor>,
);

#[test]
fn binary_ops_with_broadcasting_first_and_second_order() {
    let ops_list: Vec<Binary> = vec![
        ("add", |a, b| a + b, ops::add),
        ("sub", |a, b| a - b, ops::sub),
        ("mul", |a, b| a * b, ops::mul),
        ("div", |a, b| a / b, ops::div),
        ("pow", f64::powf, ops::pow),
        ("maximum", f64::max, ops::maximum),
        ("minimum", f64::min, ops::minimum),
        ("atan2", f64::atan2, ops::atan2),
        (
            "squared_difference",
            |a, b| (a - b) * (a - b),
            ops::squared_difference,
        ),
        ("floor_mod", |a, b| a - (a / b).floor() * b, ops::floor_mod),
    ];
    let mut rng = Gen::new(22);
    for dev in devices() {
        with_device(&dev, || {
            for (name, f, op) in &ops_list {
                for (sa, sb) in [
                    (vec![2, 3], vec![3]),
                    (vec![4, 1], vec![1, 3]),
                    (vec![], vec![5]),
                ] {
                    let (na, nb): (usize, usize) = (sa.iter().product(), sb.iter().product());
                    // Positive bases for pow; distinct values so max/min have no ties and
                    // floor_mod stays away from its jumps.
                    let a: Vec<f64> = (0..na).map(|_| rng.uniform(0.6, 2.0)).collect();
                    let b: Vec<f64> = (0..nb).map(|_| rng.uniform(2.1, 3.0)).collect();
                    let out = common::broadcast(&sa, &sb).unwrap();
                    let (sa2, sb2, out2) = (sa.clone(), sb.clone(), out.clone());
                    Check::new(name, vec![(a, sa.clone()), (b, sb.clone())])
                        .tol(2e-3, 2e-3)
                        .run(
                            &mut rng,
                            &move |xs| {
                                (0..common::numel(&out2))
                                    .map(|i| {
                                        f(
                                            xs[0][common::bcast_index(&sa2, &out2, i)],
                                            xs[1][common::bcast_index(&sb2, &out2, i)],
                                        )
                                    })
                                    .collect()
                            },
                            &|xs| op(&xs[0], &xs[1]),
                        );
                }
            }
        });
    }
}

#[test]
fn where_and_clip_route_gradients() {
    let mut rng = Gen::new(23);
    for dev in devices() {
        with_device(&dev, || {
            let cond = Tensor::from_slice(&[true, false, true], [3]).unwrap();
            let cv = [1.0, 0.0, 1.0];
            Check::new(
                "where",
                vec![
                    (vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], vec![2, 3]),
                    (vec![0.5], vec![1]),
                ],
            )
            .run(
                &mut rng,
                &|xs| {
                    (0..6)
                        .map(|i| {
                            let v = if cv[i % 3] == 1.0 { xs[0][i] } else { xs[1][0] };
                            v * v
                        })
                        .collect()
                },
                &|xs| ops::square(&ops::where_(&cond, &xs[0], &xs[1])?),
            );
            let x = vec![-2.0, -0.5, 0.3, 0.9, 2.5, 1.7];
            Check::new(
                "clip_by_value",
                vec![(x, vec![6]), (vec![-1.0], vec![]), (vec![1.5], vec![])],
            )
            .run(
                &mut rng,
                &|xs| {
                    xs[0]
                        .iter()
                        .map(|&v| {
                            let c = v.max(xs[1][0]).min(xs[2][0]);
                            c * c
                        })
                        .collect()
                },
                &|xs| ops::square(&ops::clip_by_value(&xs[0], &xs[1], &xs[2])?),
            );
        });
    }
}

type ReduceCase = (
    &'static str,
    Box<dyn Fn(&[Vec<f64>]) -> Vec<f64>>,
    Box<dyn Fn(&[Tensor]) -> wgflow::Result<Tensor>>,
);

fn reduce_ref(
    x: &[f64],
    shape: &[usize],
    axes: &[usize],
    init: f64,
    f: fn(f64, f64) -> f64,
) -> Vec<f64> {
    let out: Vec<usize> = (0..shape.len())
        .map(|d| if axes.contains(&d) { 1 } else { shape[d] })
        .collect();
    let mut acc = vec![init; common::numel(&out)];
    let os = common::strides(&out);
    let is = common::strides(shape);
    for (i, &v) in x.iter().enumerate() {
        let mut o = 0;
        for d in 0..shape.len() {
            if !axes.contains(&d) {
                o += (i / is[d] % shape[d]) * os[d];
            }
        }
        acc[o] = f(acc[o], v);
    }
    acc
}

#[test]
fn reductions_first_and_second_order() {
    let mut rng = Gen::new(24);
    let shape = vec![2, 3, 4];
    for dev in devices() {
        with_device(&dev, || {
            for axes in [vec![0usize], vec![2], vec![0, 2], vec![0, 1, 2]] {
                let ax: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
                let r: usize = axes.iter().map(|&a| shape[a]).product();
                let x: Vec<f64> = (0..24).map(|_| rng.uniform(0.5, 1.5)).collect();
                let (s, a) = (shape.clone(), axes.clone());
                let cases: Vec<ReduceCase> = vec![
                    (
                        "reduce_sum(x^2)",
                        Box::new({
                            let (s, a) = (s.clone(), a.clone());
                            move |xs: &[Vec<f64>]| {
                                reduce_ref(
                                    &xs[0].iter().map(|v| v * v).collect::<Vec<_>>(),
                                    &s,
                                    &a,
                                    0.0,
                                    |p, q| p + q,
                                )
                            }
                        }),
                        Box::new({
                            let ax = ax.clone();
                            move |xs: &[Tensor]| {
                                ops::reduce_sum(&ops::square(&xs[0])?, ax.clone(), false)
                            }
                        }),
                    ),
                    (
                        "reduce_mean(x^2)",
                        Box::new({
                            let (s, a) = (s.clone(), a.clone());
                            move |xs: &[Vec<f64>]| {
                                reduce_ref(
                                    &xs[0].iter().map(|v| v * v).collect::<Vec<_>>(),
                                    &s,
                                    &a,
                                    0.0,
                                    |p, q| p + q,
                                )
                                .iter()
                                .map(|v| v / r as f64)
                                .collect()
                            }
                        }),
                        Box::new({
                            let ax = ax.clone();
                            move |xs: &[Tensor]| {
                                ops::reduce_mean(&ops::square(&xs[0])?, ax.clone(), true)
                            }
                        }),
                    ),
                    (
                        "reduce_prod",
                        Box::new({
                            let (s, a) = (s.clone(), a.clone());
                            move |xs: &[Vec<f64>]| reduce_ref(&xs[0], &s, &a, 1.0, |p, q| p * q)
                        }),
                        Box::new({
                            let ax = ax.clone();
                            move |xs: &[Tensor]| ops::reduce_prod(&xs[0], ax.clone(), false)
                        }),
                    ),
                    (
                        "reduce_max(x^2)",
                        Box::new({
                            let (s, a) = (s.clone(), a.clone());
                            move |xs: &[Vec<f64>]| {
                                reduce_ref(
                                    &xs[0].iter().map(|v| v * v).collect::<Vec<_>>(),
                                    &s,
                                    &a,
                                    f64::MIN,
                                    f64::max,
                                )
                            }
                        }),
                        Box::new({
                            let ax = ax.clone();
                            move |xs: &[Tensor]| {
                                ops::reduce_max(&ops::square(&xs[0])?, ax.clone(), false)
                            }
                        }),
                    ),
                    (
                        "reduce_min(x^2)",
                        Box::new({
                            let (s, a) = (s.clone(), a.clone());
                            move |xs: &[Vec<f64>]| {
                                reduce_ref(
                                    &xs[0].iter().map(|v| v * v).collect::<Vec<_>>(),
                                    &s,
                                    &a,
                                    f64::MAX,
                                    f64::min,
                                )
                            }
                        }),
                        Box::new({
                            let ax = ax.clone();
                            move |xs: &[Tensor]| {
                                ops::reduce_min(&ops::square(&xs[0])?, ax.clone(), false)
                            }
                        }),
                    ),
                    (
                        "reduce_logsumexp",
                        Box::new({
                            let (s, a) = (s.clone(), a.clone());
                            move |xs: &[Vec<f64>]| {
                                reduce_ref(
                                    &xs[0].iter().map(|v| v.exp()).collect::<Vec<_>>(),
                                    &s,
                                    &a,
                                    0.0,
                                    |p, q| p + q,
                                )
                                .iter()
                                .map(|v| v.ln())
                                .collect()
                            }
                        }),
                        Box::new({
                            let ax = ax.clone();
                            move |xs: &[Tensor]| ops::reduce_logsumexp(&xs[0], ax.clone(), false)
                        }),
                    ),
                ];
                for (name, reference, op) in &cases {
                    Check::new(name, vec![(x.clone(), shape.clone())])
                        .tol(2e-3, 2e-3)
                        .run(&mut rng, reference.as_ref(), op.as_ref());
                }
            }
        });
    }
}

#[test]
fn reduce_prod_with_a_zero_and_max_ties() {
    for dev in devices() {
        with_device(&dev, || {
            let x = Tensor::from_slice(&[2.0f32, 0.0, 3.0, 4.0], [4]).unwrap();
            let tape = GradientTape::new();
            tape.watch(&x);
            let y = ops::reduce_prod(&x, Axes::All, false).unwrap();
            let g = tape.gradient(&y, &[&x]).unwrap();
            assert_eq!(values(g[0].as_ref().unwrap()), vec![0.0, 24.0, 0.0, 0.0]);
            let x = Tensor::from_slice(&[1.0f32, 5.0, 5.0, 2.0], [4]).unwrap();
            let tape = GradientTape::new();
            tape.watch(&x);
            let y = ops::reduce_max(&x, Axes::All, false).unwrap();
            let g = tape.gradient(&y, &[&x]).unwrap();
            assert_eq!(values(g[0].as_ref().unwrap()), vec![0.0, 0.5, 0.5, 0.0]);
            // relu and abs at 0 give 0; maximum ties go to x.
            let z = Tensor::from_slice(&[0.0f32], [1]).unwrap();
            let tape = GradientTape::persistent();
            tape.watch(&z);
            let r = ops::relu(&z).unwrap();
            let a = ops::abs(&z).unwrap();
            let m = ops::maximum(&z, &z).unwrap();
            assert_eq!(
                values(tape.gradient(&r, &[&z]).unwrap()[0].as_ref().unwrap()),
                vec![0.0]
            );
            assert_eq!(
                values(tape.gradient(&a, &[&z]).unwrap()[0].as_ref().unwrap()),
                vec![0.0]
            );
            assert_eq!(
                values(tape.gradient(&m, &[&z]).unwrap()[0].as_ref().unwrap()),
                vec![1.0]
            );
        });
    }
}

#[test]
fn scans_softmax_and_matmul_first_and_second_order() {
    let mut rng = Gen::new(25);
    for dev in devices() {
        with_device(&dev, || {
            let x: Vec<f64> = (0..12).map(|_| rng.uniform(0.5, 1.5)).collect();
            for (exclusive, reverse) in [(false, false), (true, false), (false, true), (true, true)]
            {
                let cum = move |v: &[f64], prod: bool| -> Vec<f64> {
                    let mut out = vec![0.0; 12];
                    for row in 0..3 {
                        let mut acc = if prod { 1.0 } else { 0.0 };
                        for k in 0..4 {
                            let j = if reverse { 3 - k } else { k };
                            let v = v[row * 4 + j];
                            if exclusive {
                                out[row * 4 + j] = acc;
                            }
                            acc = if prod { acc * v } else { acc + v };
                            if !exclusive {
                                out[row * 4 + j] = acc;
                            }
                        }
                    }
                    out
                };
                Check::new("cumsum(x^2)", vec![(x.clone(), vec![3, 4])]).run(
                    &mut rng,
                    &|xs| cum(&xs[0].iter().map(|v| v * v).collect::<Vec<_>>(), false),
                    &|xs| ops::cumsum(&ops::square(&xs[0])?, 1, exclusive, reverse),
                );
                Check::new("cumprod", vec![(x.clone(), vec![3, 4])]).run(
                    &mut rng,
                    &|xs| cum(&xs[0], true),
                    &|xs| ops::cumprod(&xs[0], 1, exclusive, reverse),
                );
            }
            for log in [false, true] {
                let softmax_ref = move |v: &[f64]| -> Vec<f64> {
                    // along axis 0 of [3, 4]
                    let mut out = vec![0.0; 12];
                    for c in 0..4 {
                        let m = (0..3).map(|r| v[r * 4 + c]).fold(f64::MIN, f64::max);
                        let s: f64 = (0..3).map(|r| (v[r * 4 + c] - m).exp()).sum();
                        for r in 0..3 {
                            let e = v[r * 4 + c] - m;
                            out[r * 4 + c] = if log { e - s.ln() } else { e.exp() / s };
                        }
                    }
                    out
                };
                Check::new(
                    if log { "log_softmax" } else { "softmax" },
                    vec![(x.clone(), vec![3, 4])],
                )
                .run(&mut rng, &|xs| softmax_ref(&xs[0]), &|xs| {
                    if log {
                        ops::log_softmax(&xs[0], 0)
                    } else {
                        ops::softmax(&xs[0], 0)
                    }
                });
            }
            // Batched matmul with a broadcast batch dimension and every transpose.
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let (m, k, n) = (2, 3, 4);
                let sa = if ta { vec![2, k, m] } else { vec![2, m, k] };
                let sb = if tb { vec![1, n, k] } else { vec![1, k, n] };
                let a: Vec<f64> = (0..2 * m * k).map(|_| rng.uniform(-1.0, 1.0)).collect();
                let b: Vec<f64> = (0..k * n).map(|_| rng.uniform(-1.0, 1.0)).collect();
                let reference = move |xs: &[Vec<f64>]| -> Vec<f64> {
                    let mut out = vec![0.0; 2 * m * n];
                    for bt in 0..2 {
                        for i in 0..m {
                            for j in 0..n {
                                let mut s = 0.0;
                                for p in 0..k {
                                    let av = if ta {
                                        xs[0][bt * k * m + p * m + i]
                                    } else {
                                        xs[0][bt * m * k + i * k + p]
                                    };
                                    let bv = if tb {
                                        xs[1][j * k + p]
                                    } else {
                                        xs[1][p * n + j]
                                    };
                                    s += av * bv;
                                }
                                // square: second order sees both operands together
                                out[bt * m * n + i * n + j] = s * s;
                            }
                        }
                    }
                    out
                };
                Check::new("matmul", vec![(a, sa), (b, sb)]).run(&mut rng, &reference, &|xs| {
                    ops::square(&ops::matmul_t(&xs[0], &xs[1], ta, tb)?)
                });
            }
        });
    }
}

#[test]
fn piecewise_constant_ops_and_casts_follow_tensorflow() {
    for dev in devices() {
        with_device(&dev, || {
            let x = Tensor::from_slice(&[-1.5f32, 0.3, 2.7], [3]).unwrap();
            let y = Tensor::from_slice(&[2.0f32], [1]).unwrap();
            let tape = GradientTape::persistent();
            tape.watch(&x);
            tape.watch(&y);
            // floor/ceil/round/floor_div have no gradient (None); sign's is zero.
            let none = [
                ops::floor(&x).unwrap(),
                ops::ceil(&x).unwrap(),
                ops::round(&x).unwrap(),
                ops::floor_div(&x, &y).unwrap(),
            ];
            for t in &none {
                assert!(
                    tape.gradient(t, &[&x, &y])
                        .unwrap()
                        .iter()
                        .all(Option::is_none)
                );
            }
            let s = ops::sign(&x).unwrap();
            let g = tape.gradient(&s, &[&x]).unwrap();
            assert_eq!(values(g[0].as_ref().unwrap()), vec![0.0; 3]);
            // float -> float passes dy through; through an integer there is none.
            let c = ops::mul(&ops::cast(&x, DType::F32).unwrap(), &x).unwrap();
            let g = tape.gradient(&c, &[&x]).unwrap();
            let d: Vec<f64> = values(g[0].as_ref().unwrap());
            for (a, b) in d.iter().zip([-3.0, 0.6, 5.4]) {
                assert!((a - b).abs() < 1e-6, "{d:?}");
            }
            let i = ops::cast(&ops::cast(&x, DType::I32).unwrap(), DType::F32).unwrap();
            assert!(tape.gradient(&i, &[&x]).unwrap()[0].is_none());
        });
    }
}
