//! Elementwise ops against float64 references written here, on every device, over scalars,
//! empty tensors, odd sizes and broadcasting on every axis; and GPU against CPU.

mod common;

use common::*;
use proptest::prelude::*;
use wgflow::{DType, Tensor, ops, with_device};

type UFn = fn(&Tensor) -> wgflow::Result<Tensor>;
/// (name, op, float64 reference, input range, relative tolerance)
type UnaryCase = (&'static str, UFn, fn(f64) -> f64, (f64, f64), f64);

fn unary_cases() -> Vec<UnaryCase> {
    let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
    vec![
        ("abs", ops::abs, f64::abs, (-5.0, 5.0), 0.0),
        ("neg", ops::neg, |x| -x, (-5.0, 5.0), 0.0),
        (
            "sign",
            ops::sign,
            |x| {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            },
            (-5.0, 5.0),
            0.0,
        ),
        ("square", ops::square, |x| x * x, (-5.0, 5.0), 2e-7),
        ("sqrt", ops::sqrt, f64::sqrt, (0.0, 50.0), 2e-7),
        ("rsqrt", ops::rsqrt, |x| 1.0 / x.sqrt(), (0.01, 50.0), 5e-7),
        ("reciprocal", ops::reciprocal, |x| 1.0 / x, (0.1, 5.0), 2e-7),
        ("exp", ops::exp, f64::exp, (-20.0, 20.0), 2e-6),
        ("expm1", ops::expm1, f64::exp_m1, (-3.0, 3.0), 2e-6),
        ("log", ops::log, f64::ln, (1e-3, 100.0), 2e-6),
        ("log1p", ops::log1p, f64::ln_1p, (-0.9, 10.0), 2e-6),
        ("sin", ops::sin, f64::sin, (-6.0, 6.0), 2e-5),
        ("cos", ops::cos, f64::cos, (-6.0, 6.0), 2e-5),
        ("tan", ops::tan, f64::tan, (-1.4, 1.4), 2e-5),
        ("tanh", ops::tanh, f64::tanh, (-8.0, 8.0), 5e-6),
        ("sigmoid", ops::sigmoid, sig, (-15.0, 15.0), 2e-6),
        ("relu", ops::relu, |x| x.max(0.0), (-5.0, 5.0), 0.0),
        ("relu6", ops::relu6, |x| x.clamp(0.0, 6.0), (-3.0, 9.0), 0.0),
        (
            "elu",
            ops::elu,
            |x| if x > 0.0 { x } else { x.exp_m1() },
            (-5.0, 5.0),
            2e-6,
        ),
        (
            "selu",
            ops::selu,
            |x| {
                1.0507009873554805
                    * if x > 0.0 {
                        x
                    } else {
                        1.6732632423543772 * x.exp_m1()
                    }
            },
            (-5.0, 5.0),
            2e-6,
        ),
        (
            "gelu",
            ops::gelu,
            |x| 0.5 * x * (1.0 + erf64(x / 2f64.sqrt())),
            (-5.0, 5.0),
            5e-6,
        ),
        (
            "gelu_tanh",
            ops::gelu_tanh,
            |x| {
                0.5 * x
                    * (1.0
                        + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh())
            },
            (-5.0, 5.0),
            5e-6,
        ),
        (
            "silu",
            ops::silu,
            move |x| x / (1.0 + (-x).exp()),
            (-10.0, 10.0),
            2e-6,
        ),
        (
            "softplus",
            ops::softplus,
            |x| if x > 30.0 { x } else { x.exp().ln_1p() },
            (-20.0, 20.0),
            2e-6,
        ),
        (
            "softsign",
            ops::softsign,
            |x| x / (1.0 + x.abs()),
            (-5.0, 5.0),
            2e-7,
        ),
        ("erf", ops::erf, erf64, (-4.5, 4.5), 5e-6),
        ("floor", ops::floor, f64::floor, (-5.0, 5.0), 0.0),
        ("ceil", ops::ceil, f64::ceil, (-5.0, 5.0), 0.0),
        ("round", ops::round, f64::round_ties_even, (-5.0, 5.0), 0.0),
    ]
}

const SHAPES: &[&[usize]] = &[
    &[],
    &[0],
    &[1],
    &[7],
    &[3, 257],
    &[2, 3, 5],
    &[1031],
    &[4, 256],
];

#[test]
fn unary_ops_match_f64_references() {
    let mut rng = Gen::new(1);
    for dev in devices() {
        with_device(&dev, || {
            for (name, f, r, (lo, hi), rtol) in unary_cases() {
                for shape in SHAPES {
                    let mut x = rng.vec_f32(numel(shape), lo, hi);
                    if name == "round" && !x.is_empty() {
                        x[0] = 2.5; // ties go to even
                    }
                    let t = Tensor::from_slice(&x, shape).unwrap();
                    let y = f(&t).unwrap();
                    assert_eq!(y.shape(), *shape, "{name} keeps the shape");
                    let want: Vec<f64> = x.iter().map(|&v| r(v as f64)).collect();
                    assert_close(
                        &format!("{name} {shape:?} on {dev}"),
                        &values(&y),
                        &want,
                        1e-6,
                        rtol,
                    );
                }
            }
        });
    }
}

#[test]
fn special_values_follow_tensorflow() {
    for dev in devices() {
        with_device(&dev, || {
            let x = Tensor::from_slice(
                &[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0],
                [5],
            )
            .unwrap();
            let v = |t: Tensor| t.to_vec::<f32>().unwrap();
            let e = v(ops::exp(&x).unwrap());
            assert!(
                e[0].is_nan() && e[1] == f32::INFINITY && e[2] == 0.0 && e[3] == 1.0,
                "{dev} exp {e:?}"
            );
            let l = v(ops::log(&x).unwrap());
            assert!(
                l[0].is_nan() && l[1] == f32::INFINITY && l[3] == f32::NEG_INFINITY,
                "{dev} log {l:?}"
            );
            let s = v(ops::sigmoid(&x).unwrap());
            assert!(
                s[0].is_nan() && s[1] == 1.0 && s[2] == 0.0 && s[3] == 0.5,
                "{dev} sigmoid {s:?}"
            );
            let t = v(ops::tanh(&x).unwrap());
            assert!(t[1] == 1.0 && t[2] == -1.0, "{dev} tanh {t:?}");
            let nan = ops::is_nan(&x).unwrap().to_vec::<bool>().unwrap();
            assert_eq!(nan, vec![true, false, false, false, false]);
            let fin = ops::is_finite(&x).unwrap().to_vec::<bool>().unwrap();
            assert_eq!(fin, vec![false, false, false, true, true]);
            let m = v(ops::maximum(&x, &Tensor::from_slice(&[1.0f32; 5], [5]).unwrap()).unwrap());
            assert!(
                m[0].is_nan() && m[1] == f32::INFINITY && m[2] == 1.0,
                "{dev} maximum propagates NaN: {m:?}"
            );
        });
    }
}

type BFn = fn(&Tensor, &Tensor) -> wgflow::Result<Tensor>;

fn floor_mod64(x: f64, y: f64) -> f64 {
    let r = x % y;
    if r != 0.0 && (r < 0.0) != (y < 0.0) {
        r + y
    } else {
        r
    }
}

type BinaryCase = (&'static str, BFn, fn(f64, f64) -> f64, f64);

fn binary_cases() -> Vec<BinaryCase> {
    vec![
        ("add", ops::add, |a, b| a + b, 2e-7),
        ("sub", ops::sub, |a, b| a - b, 2e-7),
        ("mul", ops::mul, |a, b| a * b, 2e-7),
        ("div", ops::div, |a, b| a / b, 2e-7),
        ("floor_div", ops::floor_div, |a, b| (a / b).floor(), 0.0),
        ("floor_mod", ops::floor_mod, floor_mod64, 2e-6),
        ("pow", ops::pow, f64::powf, 2e-6),
        ("maximum", ops::maximum, f64::max, 0.0),
        ("minimum", ops::minimum, f64::min, 0.0),
        ("atan2", ops::atan2, f64::atan2, 2e-6),
        (
            "squared_difference",
            ops::squared_difference,
            |a, b| (a - b) * (a - b),
            5e-7,
        ),
    ]
}

/// Shape pairs that broadcast along every axis position, plus scalars and empties.
const PAIRS: &[(&[usize], &[usize])] = &[
    (&[5, 4], &[5, 4]),
    (&[2, 1, 4], &[3, 1]),
    (&[4, 1], &[1, 6]),
    (&[], &[3, 5]),
    (&[3, 5], &[]),
    (&[], &[]),
    (&[1, 7, 1], &[3, 1, 2]),
    (&[0, 3], &[1, 3]),
    (&[2, 0], &[2, 1]),
    (&[300], &[300]),
];

#[test]
fn binary_ops_match_f64_references_with_broadcasting() {
    let mut rng = Gen::new(2);
    for dev in devices() {
        with_device(&dev, || {
            for (name, f, r, rtol) in binary_cases() {
                for (sa, sb) in PAIRS {
                    let lo = if name == "pow" { 0.1 } else { -4.0 };
                    let a = rng.vec_f32(numel(sa), lo, 4.0);
                    // Divisors away from 0 (and floor ops away from integer boundaries).
                    let b: Vec<f32> = rng
                        .vec_f32(numel(sb), 0.3, 3.0)
                        .iter()
                        .map(|v| {
                            if rng.next_u64().is_multiple_of(2) {
                                *v
                            } else {
                                -*v
                            }
                        })
                        .collect();
                    let ta = Tensor::from_slice(&a, sa).unwrap();
                    let tb = Tensor::from_slice(&b, sb).unwrap();
                    let y = f(&ta, &tb).unwrap();
                    let out = broadcast(sa, sb).unwrap();
                    assert_eq!(y.shape(), out.as_slice(), "{name} {sa:?} {sb:?}");
                    let want: Vec<f64> = (0..numel(&out))
                        .map(|i| {
                            r(
                                a[bcast_index(sa, &out, i)] as f64,
                                b[bcast_index(sb, &out, i)] as f64,
                            )
                        })
                        .collect();
                    assert_close(
                        &format!("{name} {sa:?} {sb:?} on {dev}"),
                        &values(&y),
                        &want,
                        1e-6,
                        rtol,
                    );
                }
            }
        });
    }
}

#[test]
fn integer_arithmetic_matches_tensorflow() {
    for dev in devices() {
        with_device(&dev, || {
            let a = Tensor::from_slice(&[7i32, -7, 7, -7, 0, 5, i32::MIN], [7]).unwrap();
            let b = Tensor::from_slice(&[2i32, 2, -2, -2, 3, 0, -1], [7]).unwrap();
            let v = |t: Tensor| t.to_vec::<i32>().unwrap();
            assert_eq!(
                v(ops::floor_div(&a, &b).unwrap()),
                vec![3, -4, -4, 3, 0, 0, i32::MIN],
                "{dev}"
            );
            assert_eq!(
                v(ops::floor_mod(&a, &b).unwrap()),
                vec![1, 1, -1, -1, 0, 0, 0],
                "{dev}"
            );
            assert_eq!(
                v(ops::div(&a, &b).unwrap()),
                vec![3, -3, -3, 3, 0, 0, i32::MIN],
                "{dev}"
            );
            assert_eq!(
                v(ops::add(&a, &b).unwrap()),
                vec![9, -5, 5, -9, 3, 5, i32::MAX],
                "{dev} wraps"
            );
            let p = Tensor::from_slice(&[2i32, -3, 5, 1, -1], [5]).unwrap();
            let e = Tensor::from_slice(&[10i32, 3, 0, -4, -3], [5]).unwrap();
            assert_eq!(
                v(ops::pow(&p, &e).unwrap()),
                vec![1024, -27, 1, 1, -1],
                "{dev}"
            );
            assert_eq!(
                v(ops::maximum(&a, &b).unwrap()),
                vec![7, 2, 7, -2, 3, 5, -1],
                "{dev}"
            );
            assert_eq!(v(ops::abs(&p).unwrap()), vec![2, 3, 5, 1, 1], "{dev}");
            assert_eq!(v(ops::sign(&p).unwrap()), vec![1, -1, 1, 1, -1], "{dev}");
            let c = ops::less(&a, &b).unwrap().to_vec::<bool>().unwrap();
            assert_eq!(
                c,
                vec![false, true, false, true, true, false, true],
                "{dev}"
            );
        });
    }
}

#[test]
fn where_clip_cast_and_logic() {
    for dev in devices() {
        with_device(&dev, || {
            let cond = Tensor::from_slice(&[true, false, true], [3, 1]).unwrap();
            let x = Tensor::from_slice(&[1.0f32, 2.0], [1, 2]).unwrap();
            let y = Tensor::scalar(-1.0f32).unwrap();
            let w = ops::where_(&cond, &x, &y).unwrap();
            assert_eq!(w.shape(), &[3, 2]);
            assert_eq!(
                w.to_vec::<f32>().unwrap(),
                vec![1.0, 2.0, -1.0, -1.0, 1.0, 2.0]
            );
            let c = ops::clip_by_value_scalar(
                &Tensor::from_slice(&[-2.0f32, 0.5, 3.0], [3]).unwrap(),
                -1.0,
                1.0,
            )
            .unwrap();
            assert_eq!(c.to_vec::<f32>().unwrap(), vec![-1.0, 0.5, 1.0]);
            let f = Tensor::from_slice(&[1.7f32, -1.7, 3e9, -3e9, f32::NAN, 0.0], [6]).unwrap();
            assert_eq!(
                f.cast(DType::I32).unwrap().to_vec::<i32>().unwrap(),
                vec![1, -1, i32::MAX, i32::MIN, 0, 0]
            );
            assert_eq!(
                f.cast(DType::Bool).unwrap().to_vec::<bool>().unwrap(),
                vec![true, true, true, true, true, false]
            );
            assert_eq!(
                f.cast(DType::U32).unwrap().to_vec::<u32>().unwrap(),
                vec![1, 0, 3_000_000_000, 0, 0, 0]
            );
            let b = Tensor::from_slice(&[true, false], [2]).unwrap();
            assert_eq!(
                b.cast(DType::F32).unwrap().to_vec::<f32>().unwrap(),
                vec![1.0, 0.0]
            );
            let i = Tensor::from_slice(&[-1i32, 7], [2]).unwrap();
            assert_eq!(
                i.cast(DType::F32).unwrap().to_vec::<f32>().unwrap(),
                vec![-1.0, 7.0]
            );
            assert_eq!(
                i.cast(DType::U32).unwrap().to_vec::<u32>().unwrap(),
                vec![u32::MAX, 7]
            );
            let n = ops::logical_not(&b).unwrap();
            assert_eq!(n.to_vec::<bool>().unwrap(), vec![false, true]);
            let a = ops::logical_and(&b, &n).unwrap().to_vec::<bool>().unwrap();
            let o = ops::logical_or(&b, &n).unwrap().to_vec::<bool>().unwrap();
            assert_eq!((a, o), (vec![false, false], vec![true, true]));
        });
    }
}

#[test]
fn operators_and_weak_scalars() {
    for dev in devices() {
        with_device(&dev, || {
            let a = Tensor::from_slice(&[1.0f32, 2.0], [2]).unwrap();
            let b = Tensor::from_slice(&[3.0f32, 5.0], [2]).unwrap();
            let y = (((&a + &b).unwrap() * 2.0).unwrap() - &a).unwrap();
            assert_eq!(y.to_vec::<f32>().unwrap(), vec![7.0, 12.0]);
            assert_eq!((-&a).unwrap().to_vec::<f32>().unwrap(), vec![-1.0, -2.0]);
            assert_eq!((1.0 / &a).unwrap().to_vec::<f32>().unwrap(), vec![1.0, 0.5]);
            let i = Tensor::from_slice(&[4i32, 9], [2]).unwrap();
            assert_eq!(
                (&i * 2.0).unwrap().to_vec::<i32>().unwrap(),
                vec![8, 18],
                "a float scalar takes the int dtype"
            );
        });
    }
}

#[test]
fn bad_inputs_are_errors_naming_the_op() {
    for dev in devices() {
        with_device(&dev, || {
            let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0], [3]).unwrap();
            let b = Tensor::from_slice(&[1.0f32, 2.0], [2]).unwrap();
            let e = ops::add(&a, &b).unwrap_err().to_string();
            assert!(
                e.contains("add") && e.contains("(3,)") && e.contains("(2,)"),
                "{e}"
            );
            let i = Tensor::from_slice(&[1i32, 2, 3], [3]).unwrap();
            let e = ops::mul(&a, &i).unwrap_err().to_string();
            assert!(
                e.contains("mul") && e.contains("int32") && e.contains("float32"),
                "{e}"
            );
            assert!(ops::exp(&i).unwrap_err().to_string().contains("exp"));
            let bo = Tensor::from_slice(&[true], [1]).unwrap();
            assert!(ops::add(&bo, &bo).is_err());
            assert!(ops::logical_and(&a, &a).is_err());
            assert!(ops::where_(&a, &a, &a).is_err());
            assert!(a.to_vec::<i32>().is_err(), "reading as the wrong dtype");
        });
    }
}

#[test]
fn gpu_matches_cpu_on_random_chains() {
    let Some(gpu) = gpu() else { return };
    let cpu = wgflow::Device::cpu();
    let mut rng = Gen::new(3);
    let x = rng.vec_f32(10_001, -3.0, 3.0);
    let run = |dev: &wgflow::Device| {
        with_device(dev, || {
            let t = Tensor::from_slice(&x, [10_001]).unwrap();
            let y = ops::sigmoid(
                &((&ops::tanh(&((&t * 1.5).unwrap() + 0.5).unwrap()).unwrap() * &t).unwrap()
                    - 0.25)
                    .unwrap(),
            )
            .unwrap();
            let z = ops::softplus(&ops::selu(&y).unwrap()).unwrap();
            values(&z)
        })
    };
    assert_close("chain gpu vs cpu", &run(&gpu), &run(&cpu), 1e-6, 1e-5);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn broadcasting_add_mul_match_reference(
        dims in proptest::collection::vec(1usize..4, 0..4),
        mask_a in proptest::collection::vec(any::<bool>(), 4),
        mask_b in proptest::collection::vec(any::<bool>(), 4),
        drop_a in 0usize..3,
        seed in any::<u64>(),
    ) {
        // Each operand keeps or broadcasts (size 1) each axis, and may drop leading axes.
        let sa: Vec<usize> = dims.iter().enumerate().map(|(i, &d)| if mask_a[i] { d } else { 1 }).skip(drop_a.min(dims.len())).collect();
        let sb: Vec<usize> = dims.iter().enumerate().map(|(i, &d)| if mask_b[i] { d } else { 1 }).collect();
        let mut rng = Gen::new(seed);
        let a = rng.vec_f32(numel(&sa), -2.0, 2.0);
        let b = rng.vec_f32(numel(&sb), -2.0, 2.0);
        let out = broadcast(&sa, &sb).unwrap();
        for dev in devices() {
            with_device(&dev, || {
                let ta = Tensor::from_slice(&a, &sa).unwrap();
                let tb = Tensor::from_slice(&b, &sb).unwrap();
                let s = ops::add(&ta, &tb).unwrap();
                let m = ops::mul(&ta, &tb).unwrap();
                let want_s: Vec<f64> = (0..numel(&out)).map(|i| a[bcast_index(&sa, &out, i)] as f64 + b[bcast_index(&sb, &out, i)] as f64).collect();
                let want_m: Vec<f64> = (0..numel(&out)).map(|i| a[bcast_index(&sa, &out, i)] as f64 * b[bcast_index(&sb, &out, i)] as f64).collect();
                assert_close("add", &values(&s), &want_s, 1e-6, 2e-7);
                assert_close("mul", &values(&m), &want_m, 1e-6, 2e-7);
            });
        }
    }
}
