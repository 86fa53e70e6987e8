//! Every op family traced equals the same closure run eagerly, on the CPU and on wgpu:
//! elementwise (with broadcasts and casts), creation, reductions, scans, movement, gather and
//! scatter, linear algebra, convolution and pooling, losses, softmax, random ops with seeds,
//! and gradients of each family taken inside the traced closure. The closures run after the
//! optimization passes (folding, simplification, CSE, fusion), so this also checks that the
//! passes preserve results.

use wgflow::ops::{self, Axes, Conv2dOptions, PadMode, Padding, PoolOptions, ResizeMethod};
use wgflow::{Arg, DType, Device, GradientTape, Result, Tensor, function, with_device};

type Case = fn(&[Tensor]) -> Result<Vec<Tensor>>;

fn devices() -> Vec<Device> {
    let mut d = vec![Device::cpu()];
    if let Ok(g) = Device::wgpu(0) {
        d.push(g);
    }
    d
}

fn normal(shape: &[usize], seed: u64) -> Tensor {
    ops::random_normal(shape, 0.0, 1.0, seed).unwrap()
}

fn ints(v: &[i32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape).unwrap()
}

/// Runs `case` eagerly, then traced (the tracing call and a replay), and compares.
fn check(name: &str, case: Case, inputs: &[Tensor]) {
    let eager = case(inputs).unwrap_or_else(|e| panic!("{name} eagerly: {e}"));
    let f = function(move |a: &[Arg]| {
        let ts: Vec<Tensor> = a
            .iter()
            .map(|x| x.tensor().cloned())
            .collect::<Result<_>>()?;
        case(&ts)
    });
    let args: Vec<Arg> = inputs.iter().map(|t| Arg::Tensor(t.clone())).collect();
    for call in 0..2 {
        let traced = f
            .call(&args)
            .unwrap_or_else(|e| panic!("{name} traced: {e}"));
        assert_eq!(traced.len(), eager.len(), "{name}");
        for (k, (t, e)) in traced.iter().zip(&eager).enumerate() {
            assert_eq!(t.shape(), e.shape(), "{name} output {k}");
            assert_eq!(t.dtype(), e.dtype(), "{name} output {k}");
            let (t, e) = (t.to_f64_vec().unwrap(), e.to_f64_vec().unwrap());
            for (i, (a, b)) in t.iter().zip(&e).enumerate() {
                let same = (a.is_nan() && b.is_nan()) || (a - b).abs() <= 1e-5 * (1.0 + b.abs());
                assert!(
                    same,
                    "{name} call {call} output {k}[{i}]: traced {a}, eager {b}"
                );
            }
        }
    }
    assert_eq!(f.tracing_count(), 1, "{name}");
}

/// `d(sum(y))/d(inputs)` for `y = body(inputs)`, taken inside the closure.
fn grads_of(xs: &[Tensor], body: impl Fn(&[Tensor]) -> Result<Tensor>) -> Result<Vec<Tensor>> {
    let tape = GradientTape::new();
    for x in xs {
        tape.watch(x);
    }
    let y = body(xs)?;
    let loss = ops::reduce_sum(&y, Axes::All, false)?;
    let refs: Vec<&Tensor> = xs.iter().collect();
    let grads = tape.gradient(&loss, &refs)?;
    let mut out = vec![loss];
    out.extend(grads.into_iter().map(|g| g.expect("connected")));
    Ok(out)
}

#[test]
fn elementwise_creation_and_casts() {
    for dev in devices() {
        with_device(&dev, || {
            let (a, b) = (normal(&[3, 1, 5], 1), normal(&[4, 5], 2));
            check(
                "unary and binary with broadcasting",
                |x| {
                    let (a, b) = (&x[0], &x[1]);
                    let s = ops::sigmoid(&(a * b)?)?;
                    let t = ops::tanh(&(&ops::exp(&ops::neg(a)?)? + &ops::abs(b)?)?)?;
                    let m = ops::maximum(&ops::sqrt(&ops::abs(a)?)?, &ops::square(b)?)?;
                    let w = ops::where_(&ops::greater(a, b)?, &s, &t)?;
                    Ok(vec![
                        w,
                        m,
                        ops::log1p(&ops::abs(&(a - b)?)?)?,
                        (a / &(b + 3.0)?)?,
                    ])
                },
                &[a.clone(), b.clone()],
            );
            check(
                "casts, integer and bool ops, clip",
                |x| {
                    let i = ops::cast(&(&x[0] * 10.0)?, DType::I32)?;
                    let j = ops::floor_mod(&i, &ops::scalar_like(&i, 3.0)?)?;
                    let pos = ops::logical_and(
                        &ops::greater(&x[0], &ops::scalar_like(&x[0], 0.0)?)?,
                        &ops::less(&x[0], &ops::scalar_like(&x[0], 1.0)?)?,
                    )?;
                    let c = ops::clip_by_value_scalar(&x[0], -0.5, 0.5)?;
                    Ok(vec![
                        i,
                        j,
                        ops::cast(&pos, DType::F32)?,
                        c,
                        ops::floor(&(&x[0] * 3.0)?)?,
                    ])
                },
                std::slice::from_ref(&a),
            );
            check(
                "creation ops fold to constants",
                |x| {
                    let r = ops::cast(&ops::range(0i32, 5, 1)?, DType::F32)?;
                    let e = ops::eye(5, 5, DType::F32)?;
                    let l = ops::linspace(0.0, 1.0, 5)?;
                    let big = ops::fill([70, 70], 0.5f32)?;
                    Ok(vec![
                        (&x[0] + &r)?,
                        ops::matmul(&x[1], &e)?,
                        l,
                        ops::reduce_sum(&big, Axes::All, false)?,
                    ])
                },
                &[normal(&[5], 3), b.clone()],
            );
            check(
                "seeded random ops",
                |x| {
                    let u = ops::random_uniform(x[0].shape(), -1.0, 1.0, 5)?;
                    let n = ops::truncated_normal(x[0].shape(), 0.0, 2.0, 6)?;
                    Ok(vec![(&x[0] * &u)?, n, ops::dropout(&x[0], 0.5, 7, None)?])
                },
                &[normal(&[6, 7], 4)],
            );
        });
    }
}

#[test]
fn reductions_scans_and_softmax() {
    for dev in devices() {
        with_device(&dev, || {
            check(
                "reductions over axes, keepdims, argmax",
                |x| {
                    let x = &x[0];
                    Ok(vec![
                        ops::reduce_sum(x, [0, 2], false)?,
                        ops::reduce_mean(x, [1], true)?,
                        ops::reduce_max(&ops::square(&(x - 0.5)?)?, Axes::All, false)?,
                        ops::reduce_min(x, [2], false)?,
                        ops::reduce_prod(&ops::sigmoid(x)?, [1], false)?,
                        ops::argmax(x, 1)?,
                        ops::argmin(x, -1)?,
                    ])
                },
                &[normal(&[3, 17, 5], 8)],
            );
            check(
                "cumsum, cumprod, softmax, log_softmax, l2_normalize",
                |x| {
                    let x = &x[0];
                    Ok(vec![
                        ops::cumsum(x, 1, false, false)?,
                        ops::cumsum(x, 0, true, true)?,
                        ops::cumprod(&ops::sigmoid(x)?, 1, false, false)?,
                        ops::softmax(x, -1)?,
                        ops::log_softmax(x, 0)?,
                        ops::l2_normalize(x, 1, 1e-12)?,
                    ])
                },
                &[normal(&[4, 9], 9)],
            );
        });
    }
}

#[test]
fn movement_gather_and_scatter() {
    for dev in devices() {
        with_device(&dev, || {
            let x = normal(&[2, 3, 4], 10);
            check(
                "transpose, reshape, slice, concat, pad, tile, reverse, stack, split",
                |x| {
                    let x = &x[0];
                    let t = ops::transpose(x, &[2, 0, 1])?;
                    let r = ops::reshape(&t, &[4, 6])?;
                    let s = ops::slice(x, &[0, 1, 1], &[2, 2, -1])?;
                    let c = ops::concat(&[x, &ops::neg(x)?], 1)?;
                    let p = ops::pad(x, &[[0, 1], [1, 0], [2, 2]], PadMode::Reflect)?;
                    let tl = ops::tile(x, &[1, 2, 1])?;
                    let rv = ops::reverse(x, &[1])?;
                    let st = ops::stack(&[x, x], 0)?;
                    let parts = ops::split_even(x, 2, 2)?;
                    let b = ops::broadcast_to(&ops::expand_dims(&parts[1], 0)?, &[3, 2, 3, 2])?;
                    Ok(vec![r, s, c, p, tl, rv, st, b])
                },
                std::slice::from_ref(&x),
            );
            check(
                "gather, gather_nd, one_hot, unsorted_segment_sum, scatter_nd",
                |x| {
                    let (p, idx) = (&x[0], &x[1]);
                    let g = ops::gather(p, idx, 1, 0)?;
                    let nd = ops::gather_nd(p, &ops::reshape(idx, &[2, 1])?, 0)?;
                    let oh = ops::one_hot(idx, 4, 1.0, 0.0, -1)?;
                    let seg = ops::unsorted_segment_sum(
                        &ops::reshape(p, &[6, 4])?,
                        &ops::cast(&ops::range(0i32, 6, 1)?, DType::I32)?,
                        6,
                    )?;
                    let sc = ops::scatter_nd(
                        &ops::reshape(idx, &[2, 1])?,
                        &ops::ones([2, 3], DType::F32)?,
                        &[4, 3],
                    )?;
                    Ok(vec![g, nd, oh, seg, sc])
                },
                &[x.clone(), ints(&[1, 0], &[2])],
            );
        });
    }
}

#[test]
fn linear_algebra_convolution_pooling_and_losses() {
    for dev in devices() {
        with_device(&dev, || {
            check(
                "batched matmul with transposes, bias_add",
                |x| {
                    let m = ops::matmul_t(&x[0], &x[1], false, true)?;
                    Ok(vec![ops::relu(&ops::bias_add(&m, &x[2])?)?])
                },
                &[
                    normal(&[2, 5, 7], 11),
                    normal(&[2, 3, 7], 12),
                    normal(&[3], 13),
                ],
            );
            check(
                "conv2d, pools, resize",
                |x| {
                    let o = Conv2dOptions {
                        strides: [2, 1],
                        padding: Padding::Same,
                        dilations: [1, 1],
                    };
                    let c = ops::conv2d(&x[0], &x[1], o)?;
                    let mp = ops::max_pool2d(&c, PoolOptions::new(2, 2, Padding::Valid))?;
                    let ap = ops::avg_pool2d(&x[0], PoolOptions::new(3, 1, Padding::Same))?;
                    let rs = ops::resize(&x[0], [4, 9], ResizeMethod::Bilinear)?;
                    Ok(vec![c, mp, ap, rs])
                },
                &[normal(&[2, 7, 6, 3], 14), normal(&[3, 3, 3, 4], 15)],
            );
            check(
                "losses",
                |x| {
                    let (logits, labels) = (&x[0], &x[1]);
                    let sparse = ops::sparse_softmax_cross_entropy_with_logits(labels, logits)?;
                    let dense = ops::softmax_cross_entropy_with_logits(
                        &ops::one_hot(labels, 5, 1.0, 0.0, -1)?,
                        logits,
                        -1,
                    )?;
                    let sig =
                        ops::sigmoid_cross_entropy_with_logits(&ops::sigmoid(logits)?, logits)?;
                    Ok(vec![sparse, dense, sig, ops::l2_loss(logits)?])
                },
                &[normal(&[6, 5], 16), ints(&[0, 4, 2, 1, 3, 0], &[6])],
            );
        });
    }
}

#[test]
fn gradients_of_each_family_inside_the_trace() {
    for dev in devices() {
        with_device(&dev, || {
            check(
                "elementwise and reduction gradients",
                |x| {
                    grads_of(x, |x| {
                        let y = ops::tanh(&(&x[0] * &x[1])?)?;
                        ops::softmax(&(&y + &ops::reduce_max(&x[0], [1], true)?)?, -1)
                    })
                },
                &[normal(&[3, 4], 17), normal(&[1, 4], 18)],
            );
            check(
                "movement and gather gradients",
                |x| {
                    grads_of(x, |x| {
                        let t = ops::transpose(
                            &ops::pad(&x[0], &[[1, 0], [0, 2]], PadMode::Constant(0.0))?,
                            &[1, 0],
                        )?;
                        let g = ops::gather(&t, &ints(&[0, 2, 2], &[3]), 0, 0)?;
                        ops::concat(
                            &[
                                &g,
                                &ops::slice(&ops::tile(&x[0], &[2, 1])?, &[1, 0], &[3, -1])?,
                            ],
                            1,
                        )
                    })
                },
                &[normal(&[3, 3], 19)],
            );
            check(
                "matmul, conv and pooling gradients",
                |x| {
                    grads_of(x, |x| {
                        let c = ops::conv2d(&x[0], &x[1], Conv2dOptions::default())?;
                        let p = ops::max_pool2d(
                            &ops::relu(&c)?,
                            PoolOptions::new(2, 2, Padding::Same),
                        )?;
                        let flat = ops::reshape(&p, &[2, -1])?;
                        ops::matmul(&flat, &ops::transpose(&flat, &[1, 0])?)
                    })
                },
                &[normal(&[2, 5, 5, 2], 20), normal(&[3, 3, 2, 3], 21)],
            );
            check(
                "loss gradients",
                |x| {
                    grads_of(&x[..1], |l| {
                        ops::sparse_softmax_cross_entropy_with_logits(
                            &ints(&[1, 0, 3], &[3]),
                            &l[0],
                        )
                    })
                },
                &[normal(&[3, 4], 22)],
            );
        });
    }
}

/// Out-of-range indices fed to a traced function are errors on the CPU at every call, as
/// eagerly (the indices are read on the host before the op runs); the function and the
/// variables it writes are unharmed, and the next good call works.
#[test]
fn traced_index_checks_on_the_cpu() {
    use wgflow::Variable;
    with_device(&Device::cpu(), || {
        let params = normal(&[5, 3], 1);
        let total = Variable::new(ops::zeros([3], DType::F32).unwrap(), "total", true);
        let t = total.clone();
        let f = function(move |a: &[Arg]| -> Result<Tensor> {
            let rows = ops::gather(&params, a[0].tensor()?, 0, 0)?;
            let logits = a[1].tensor()?;
            let loss = ops::sparse_softmax_cross_entropy_with_logits(a[2].tensor()?, logits)?;
            t.assign_add(&ops::reduce_sum(&rows, 0, false)?)?;
            ops::reduce_sum(&loss, 0, false)
        });
        let logits = normal(&[2, 4], 2);
        let good = (ints(&[0, 4], &[2]), ints(&[3, 0], &[2]));
        f.call(wgflow::args![&good.0, &logits, &good.1]).unwrap();
        let after_good = total.read_value().to_vec::<f32>().unwrap();
        for (idx, labels, op, what) in [
            (
                ints(&[1, 5], &[2]),
                good.1.clone(),
                "gather",
                "indices[1] = 5 is not in [0, 5)",
            ),
            (
                good.0.clone(),
                ints(&[4, 0], &[2]),
                "sparse_softmax",
                "labels[0] = 4",
            ),
        ] {
            let err = f
                .call(wgflow::args![&idx, &logits, &labels])
                .unwrap_err()
                .to_string();
            assert!(err.contains(op) && err.contains(what), "{err}");
            assert_eq!(total.read_value().to_vec::<f32>().unwrap(), after_good);
        }
        f.call(wgflow::args![&good.0, &logits, &good.1]).unwrap();
        assert_eq!(f.tracing_count(), 1);
    });
}
