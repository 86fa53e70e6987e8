//! The graph passes on traced closures: simplification, constant folding and
//! common-subexpression elimination give the eager results, on the CPU and on wgpu, with
//! the work gone from the optimized graph.

use wgflow::{Arg, DType, Device, Result, Tensor, Variable, args, function, ops, with_device};

fn devices() -> Vec<Device> {
    let mut d = vec![Device::cpu()];
    if let Ok(g) = Device::wgpu(0) {
        d.push(g);
    }
    d
}

/// Traces `body` on `x`, checks the replay against running `body` eagerly (twice: the
/// trace call and a replay), and returns the traced and optimized listings.
fn traced(body: fn(&Tensor) -> Result<Tensor>, x: &Tensor) -> (String, String) {
    let want = body(x).unwrap().to_f64_vec().unwrap();
    let f = function(move |a: &[Arg]| body(a[0].tensor()?));
    for _ in 0..2 {
        let got = f.call(args![x]).unwrap().to_f64_vec().unwrap();
        assert_eq!(got.len(), want.len());
        for (a, b) in got.iter().zip(&want) {
            assert!((a - b).abs() <= 1e-6 * b.abs().max(1.0), "{a} vs {b}");
        }
    }
    let cf = f.get_concrete_function(args![x]).unwrap();
    (cf.traced_graph().to_string(), cf.graph().to_string())
}

fn x4() -> Tensor {
    Tensor::from_slice(&[-1.5f32, 0.0, 2.0, 3.25], [4]).unwrap()
}

#[test]
fn identity_arithmetic_leaves_the_argument() {
    for dev in devices() {
        with_device(&dev, || {
            let (before, after) = traced(
                |x| {
                    let y = ((x * 1.0)? + 0.0)?;
                    &y / 1.0
                },
                &x4(),
            );
            assert_eq!(before.matches("const").count(), 3, "{before}");
            assert_eq!(after, "%0 = arg 0 : f32[4]\nreturn %0\n", "{dev}");
            // ones_like is an op, not a captured constant: simplified as a fill.
            let (_, after) = traced(|x| &ops::ones_like(x)? * x, &x4());
            assert_eq!(after, "%0 = arg 0 : f32[4]\nreturn %0\n", "{dev}");
            // A constant that broadcasts x up is no identity.
            let (_, after) = traced(|x| x * &ops::ones([2, 4], DType::F32)?, &x4());
            assert!(after.contains("mul(%0, "), "{dev}: {after}");
        });
    }
}

#[test]
fn movement_chains_collapse() {
    for dev in devices() {
        with_device(&dev, || {
            let x = ops::reshape(&ops::range(0.0f32, 24.0, 1.0).unwrap(), &[2, 3, 4]).unwrap();
            let (_, after) = traced(
                |x| {
                    let t = ops::transpose(&ops::transpose(x, &[2, 0, 1])?, &[1, 2, 0])?;
                    let r = ops::reshape(&ops::reshape(&t, &[6, 4])?, &[2, 3, 4])?;
                    ops::neg(&ops::neg(&ops::cast(&r, DType::F32)?)?)
                },
                &x,
            );
            assert_eq!(after, "%0 = arg 0 : f32[2,3,4]\nreturn %0\n", "{dev}");
            let (_, after) = traced(
                |x| {
                    let t = ops::transpose(&ops::transpose(x, &[2, 0, 1])?, &[2, 1, 0])?;
                    ops::reshape(&ops::reshape(&t, &[6, 4])?, &[24])
                },
                &x,
            );
            assert_eq!(
                after,
                "%0 = arg 0 : f32[2,3,4]\n%2 = transpose(%0) : f32[3,2,4]\n\
                 %4 = reshape(%2) : f32[24]\nreturn %4\n",
                "{dev}"
            );
        });
    }
}

#[test]
fn duplicate_computations_run_once() {
    for dev in devices() {
        with_device(&dev, || {
            let f = function(|a: &[Arg]| {
                let x = a[0].tensor()?;
                Ok((ops::tanh(x)?, ops::tanh(x)?))
            });
            let x = x4();
            let (a, b) = f.call(args![&x]).unwrap();
            let want = ops::tanh(&x).unwrap().to_f64_vec().unwrap();
            assert_eq!(a.to_f64_vec().unwrap(), want);
            assert_eq!(b.to_f64_vec().unwrap(), want);
            let cf = f.get_concrete_function(args![&x]).unwrap();
            assert_eq!(cf.traced_graph().to_string().matches("tanh").count(), 2);
            assert_eq!(
                cf.graph().to_string(),
                "%0 = arg 0 : f32[4]\n%1 = tanh(%0) : f32[4]\nreturn %1, %1\n",
                "{dev}"
            );
            // Inside an expression: one tanh feeds both operands.
            let (_, after) = traced(|x| &ops::tanh(x)? * &ops::tanh(x)?, &x);
            assert!(after.contains("fused[tanh,mul](%0)"), "{dev}: {after}");
        });
    }
}

#[test]
fn constant_subgraphs_fold() {
    for dev in devices() {
        with_device(&dev, || {
            let (before, after) = traced(
                |x| {
                    let r = ops::cast(&ops::range(0i32, 4, 1)?, DType::F32)?;
                    let c = (&ops::exp(&(&r * 0.5)?)? + &ops::fill([4], 1.0f32)?)?;
                    x + &c
                },
                &x4(),
            );
            assert_eq!(before.lines().count(), 10, "{before}");
            assert_eq!(
                after,
                "%0 = arg 0 : f32[4]\n%7 = const : f32[4]\n%8 = add(%0, %7) : f32[4]\nreturn %8\n",
                "{dev}"
            );
        });
    }
}

#[test]
fn random_ops_with_one_seed_are_one_value() {
    for dev in devices() {
        with_device(&dev, || {
            // Stateless by seed: eagerly the two draws are equal, so merging them is exact.
            let (_, after) = traced(
                |x| {
                    let a = (x * &ops::random_uniform([4], 0.0, 1.0, 11)?)?;
                    let b = (x * &ops::random_uniform([4], 0.0, 1.0, 11)?)?;
                    let c = (x * &ops::random_uniform([4], 0.0, 1.0, 12)?)?;
                    &(&a - &b)? + &c
                },
                &x4(),
            );
            assert_eq!(after.matches("const").count(), 2, "{dev}: {after}");
            assert_eq!(after.matches("fused[").count(), 1, "{dev}: {after}");
        });
    }
}

#[test]
fn variable_writes_follow_the_simplified_value() {
    for dev in devices() {
        with_device(&dev, || {
            let v = Variable::new(x4(), "v", true);
            let v2 = v.clone();
            let f = function(move |a: &[Arg]| -> Result<Tensor> {
                let y = ((&v2.read_value() * a[0].tensor()?)? + 0.0)?;
                v2.assign(&y)?;
                Ok(y)
            });
            let two = Tensor::from_slice(&[2.0f32; 4], [4]).unwrap();
            let out = f.call(args![&two]).unwrap();
            assert_eq!(out.to_f64_vec().unwrap(), [-3.0, 0.0, 4.0, 6.5]);
            assert_eq!(v.read_value().to_f64_vec().unwrap(), [-3.0, 0.0, 4.0, 6.5]);
            let g = f
                .get_concrete_function(args![&two])
                .unwrap()
                .graph()
                .to_string();
            assert_eq!(
                g,
                "%0 = arg 0 : f32[4]\n%1 = read_variable \"v\" : f32[4]\n\
                 %2 = mul(%1, %0) : f32[4]\nassign \"v\" <- %2\nreturn %2\n",
                "{dev}"
            );
        });
    }
}

#[test]
fn maps_after_reductions_and_matmuls_become_their_epilogues() {
    for dev in devices() {
        with_device(&dev, || {
            // A bias gradient and its update: reduce_sum, then an elementwise map.
            let x = ops::reshape(&ops::range(0.0f32, 12.0, 1.0).unwrap(), &[3, 4]).unwrap();
            let (_, after) = traced(
                |x| {
                    let b = ops::fill([4], 0.5f32)?;
                    &b - &(&ops::reduce_sum(x, 0, false)? * 0.1)?
                },
                &x,
            );
            assert!(
                after.contains("fused[reduce_sum,mul,sub]"),
                "{dev}: {after}"
            );
            assert_eq!(after.matches("fused").count(), 1, "{dev}: {after}");
            // An argmax keeps its own kernel: its result is an index.
            let (_, after) = traced(|x| &ops::cast(&ops::argmax(x, 1)?, DType::F32)? * 2.0, &x);
            assert!(!after.contains("fused[argmax"), "{dev}: {after}");
            // A matmul then an update-like map reading another value.
            let (_, after) = traced(
                |x| {
                    let w = ops::ones([4, 4], DType::F32)?;
                    let g = ops::matmul(&ops::transpose(x, &[1, 0])?, x)?;
                    &w - &(&g * 0.01)?
                },
                &x,
            );
            // The transpose is computed in the matmul's operand, the update in its epilogue.
            assert!(
                after.contains("fused[transpose,matmul,mul,sub]"),
                "{dev}: {after}"
            );
        });
    }
}

#[test]
fn maps_read_only_by_matmuls_and_reductions_are_computed_in_their_operands() {
    for dev in devices() {
        with_device(&dev, || {
            let f = function(|a: &[Arg]| -> Result<Vec<Tensor>> {
                let (x, w, c) = (a[0].tensor()?, a[1].tensor()?, a[2].tensor()?);
                let d = ops::exp(&(x * c)?)?;
                // d feeds an `a` operand, a `b` operand (under a relu epilogue) and a sum.
                Ok(vec![
                    ops::matmul(&d, w)?,
                    ops::relu(&ops::matmul_t(x, &d, true, false)?)?,
                    ops::reduce_sum(&d, 0, false)?,
                ])
            });
            let x = ops::random_normal([6, 3], 0.0, 1.0, 1).unwrap();
            let w = ops::random_normal([3, 4], 0.0, 1.0, 2).unwrap();
            let c = ops::random_normal([6, 1], 0.0, 1.0, 3).unwrap();
            let d = ops::exp(&(&x * &c).unwrap()).unwrap();
            let want = [
                ops::matmul(&d, &w).unwrap(),
                ops::relu(&ops::matmul_t(&x, &d, true, false).unwrap()).unwrap(),
                ops::reduce_sum(&d, 0, false).unwrap(),
            ];
            let got = f.call(args![&x, &w, &c]).unwrap();
            for (g, e) in got.iter().zip(&want) {
                for (p, q) in g
                    .to_vec::<f32>()
                    .unwrap()
                    .iter()
                    .zip(e.to_vec::<f32>().unwrap())
                {
                    assert!((p - q).abs() <= 1e-5 * (1.0 + q.abs()), "{dev}: {p} vs {q}");
                }
            }
            let g = f
                .get_concrete_function(args![&x, &w, &c])
                .unwrap()
                .graph()
                .to_string();
            // The sum over d's rows is computed by the matmul reading d as its `b` operand.
            assert_eq!(g.matches("fused[mul,exp,").count(), 2, "{dev}: {g}");
            assert!(
                g.contains("fused[mul,exp,matmul,reduce_sum,relu]"),
                "{dev}: {g}"
            );
            assert!(!g.contains("= fused[mul,exp] "), "{dev}: {g}");
        });
    }
}

/// A dense layer's bias gradient `reduce_sum(g, 0)` is a second output of the weight
/// gradient's matmul `xᵀ·g`, and each gradient's update folds into its own output.
#[test]
fn bias_gradients_are_column_sums_of_the_weight_gradient_matmul() {
    for dev in devices() {
        with_device(&dev, || {
            // Odd sizes; 16 columns with 37 rows takes the masked vec4 path on lavapipe; 700
            // rows split the column sums over the CPU's threads.
            for (rows, units) in [(37, 13), (37, 16), (5, 64), (130, 70), (1, 1), (700, 64)] {
                let x = ops::random_normal([rows, 7], 0.0, 1.0, 1).unwrap();
                let g = ops::random_normal([rows, units], 0.0, 1.0, 2).unwrap();
                let w0 = ops::random_normal([7, units], 0.0, 1.0, 3).unwrap();
                let b0 = ops::random_normal([units], 0.0, 1.0, 4).unwrap();
                let w = Variable::new(w0.clone(), "w", true);
                let b = Variable::new(b0.clone(), "b", true);
                let (wc, bc) = (w.clone(), b.clone());
                let step = function(move |a: &[Arg]| -> Result<Tensor> {
                    let (x, g) = (a[0].tensor()?, a[1].tensor()?);
                    let dw = ops::matmul_t(x, g, true, false)?;
                    let db = ops::reduce_sum(g, 0, false)?;
                    wc.assign_sub(&(&dw * 0.5)?)?;
                    bc.assign_sub(&(&db * 0.5)?)?;
                    ops::reduce_sum(x, 0, false)
                });
                step.call(args![&x, &g]).unwrap();
                // The updated variables against a float64 reference.
                let (xs, gs) = (x.to_f64_vec().unwrap(), g.to_f64_vec().unwrap());
                let (ws, bs) = (w0.to_f64_vec().unwrap(), b0.to_f64_vec().unwrap());
                let (wn, bn) = (
                    w.read_value().to_f64_vec().unwrap(),
                    b.read_value().to_f64_vec().unwrap(),
                );
                let close = |p: f64, q: f64| (p - q).abs() <= 1e-4 * (1.0 + q.abs());
                for j in 0..units {
                    for i in 0..7 {
                        let dw: f64 = (0..rows).map(|r| xs[r * 7 + i] * gs[r * units + j]).sum();
                        let k = i * units + j;
                        assert!(close(wn[k], ws[k] - 0.5 * dw), "{dev}: w {rows}x{units}");
                    }
                    let db: f64 = (0..rows).map(|r| gs[r * units + j]).sum();
                    assert!(close(bn[j], bs[j] - 0.5 * db), "{dev}: b {rows}x{units}");
                }
                let listing = step
                    .get_concrete_function(args![&x, &g])
                    .unwrap()
                    .graph()
                    .to_string();
                assert!(
                    listing.contains("= fused[matmul,reduce_sum,mul,sub,mul,sub]("),
                    "{dev}: {listing}"
                );
                // That kernel and the returned sum over x.
                assert_eq!(listing.matches("= fused[").count(), 1, "{dev}: {listing}");
                assert_eq!(
                    listing.matches("= reduce_sum(").count(),
                    1,
                    "{dev}: {listing}"
                );
            }
        });
    }
}

/// A convolution's bias gradient (a sum over [n, h, w] of the output gradient) joins the
/// filter-gradient matmul as its column sums, also when the gradient comes from a relu's
/// backward that both consumers read.
#[test]
fn conv_bias_gradients_are_column_sums_of_the_filter_gradient() {
    use wgflow::ops::{Conv2dOptions, Padding};
    for dev in devices() {
        with_device(&dev, || {
            for (xs, fs, o) in [
                (
                    [2, 5, 6, 3],
                    [3, 2, 3, 4],
                    Conv2dOptions::new(1, Padding::Same),
                ),
                (
                    [3, 7, 7, 1],
                    [3, 3, 1, 9],
                    Conv2dOptions::new(2, Padding::Valid),
                ),
            ] {
                let x = ops::random_normal(xs, 0.0, 1.0, 1).unwrap();
                let y = ops::conv2d(&x, &ops::random_normal(fs, 0.0, 1.0, 2).unwrap(), o).unwrap();
                let g = ops::random_normal(y.shape(), 0.0, 1.0, 3).unwrap();
                let body = move |x: &Tensor, y: &Tensor, g: &Tensor| -> Result<(Tensor, Tensor)> {
                    // relu's backward: both consumers read this map.
                    let dy = ops::where_(
                        &ops::greater(y, &ops::zeros_like(y)?)?,
                        g,
                        &ops::zeros_like(g)?,
                    )?;
                    let df = ops::conv2d_backprop_filter(x, &fs, &dy, o)?;
                    Ok((df, ops::reduce_sum(&dy, vec![0, 1, 2], false)?))
                };
                let (df0, db0) = body(&x, &y, &g).unwrap();
                let f = Variable::new(ops::zeros(fs, DType::F32).unwrap(), "f", true);
                let b = Variable::new(ops::zeros([fs[3]], DType::F32).unwrap(), "b", true);
                let (fc, bc) = (f.clone(), b.clone());
                let step = function(move |a: &[Arg]| -> Result<Tensor> {
                    let (df, db) = body(a[0].tensor()?, a[1].tensor()?, a[2].tensor()?)?;
                    fc.assign(&df)?;
                    bc.assign(&db)?;
                    ops::reduce_sum(&db, 0, false)
                });
                step.call(args![&x, &y, &g]).unwrap();
                for (got, want) in [(f.read_value(), df0), (b.read_value(), db0)] {
                    let (got, want) = (got.to_f64_vec().unwrap(), want.to_f64_vec().unwrap());
                    for (p, q) in got.iter().zip(&want) {
                        assert!((p - q).abs() <= 1e-4 * (1.0 + q.abs()), "{dev}: {p} vs {q}");
                    }
                }
                let listing = step
                    .get_concrete_function(args![&x, &y, &g])
                    .unwrap()
                    .graph()
                    .to_string();
                assert!(
                    listing.contains("fused[conv2d_backprop_filter,reduce_sum"),
                    "{dev}: {listing}"
                );
                assert_eq!(
                    listing.matches("= reduce_sum(").count(),
                    1,
                    "{dev}: {listing}"
                );
            }
        });
    }
}

/// A convolution's bias and activation become its epilogue (the map sees the matmul's
/// [n·h·w, c] result as [n, h, w, c]); a value that must be stored for one reader (a pool,
/// which cannot take `relu(conv + bias)`) is read by the others, not recomputed in them.
#[test]
fn conv_epilogues_and_stored_values_are_not_recomputed() {
    use wgflow::ops::{Conv2dOptions, Padding, PoolOptions};
    for dev in devices() {
        with_device(&dev, || {
            let x = ops::random_normal([2, 9, 8, 3], 0.0, 1.0, 1).unwrap();
            let f = ops::random_normal([3, 3, 3, 5], 0.0, 1.0, 2).unwrap();
            let b = ops::random_normal([5], 0.0, 1.0, 3).unwrap();
            let g = ops::random_normal([2, 7, 6, 5], 0.0, 1.0, 4).unwrap();
            let body = |x: &Tensor, f: &Tensor, b: &Tensor, g: &Tensor| -> Result<Vec<Tensor>> {
                let y = ops::relu(&ops::add(
                    &ops::conv2d(x, f, Conv2dOptions::new(1, Padding::Valid))?,
                    b,
                )?)?;
                let p = ops::max_pool2d(&y, PoolOptions::new(2, 2, Padding::Valid))?;
                // relu's backward reads y.
                let dy = ops::where_(
                    &ops::greater(&y, &ops::zeros_like(&y)?)?,
                    g,
                    &ops::zeros_like(g)?,
                )?;
                Ok(vec![p, dy])
            };
            let want = body(&x, &f, &b, &g).unwrap();
            let func = function(move |a: &[Arg]| {
                body(
                    a[0].tensor()?,
                    a[1].tensor()?,
                    a[2].tensor()?,
                    a[3].tensor()?,
                )
            });
            let got = func.call(args![&x, &f, &b, &g]).unwrap();
            for (got, want) in got.iter().zip(&want) {
                let (got, want) = (got.to_f64_vec().unwrap(), want.to_f64_vec().unwrap());
                for (p, q) in got.iter().zip(&want) {
                    assert!((p - q).abs() <= 1e-4 * (1.0 + q.abs()), "{dev}: {p} vs {q}");
                }
            }
            let listing = func
                .get_concrete_function(args![&x, &f, &b, &g])
                .unwrap()
                .graph()
                .to_string();
            assert!(
                listing.contains("fused[conv2d,add,relu]"),
                "{dev}: {listing}"
            );
            assert_eq!(listing.matches("relu").count(), 1, "{dev}: {listing}");
        });
    }
}

/// A map reading only the last kernel's output of a multi-kernel op (relu's gradient after
/// a max-pool gradient: an arg-max pass, then a map) joins that map: one pass less over the
/// image, the same values.
#[test]
fn a_map_after_a_pool_gradient_joins_its_last_kernel() {
    use wgflow::ops::{Padding, PoolOptions};
    for dev in devices() {
        with_device(&dev, || {
            let o = PoolOptions::new(2, 2, Padding::Valid);
            let y = ops::relu(&ops::random_normal([2, 6, 8, 3], 0.0, 1.0, 1).unwrap()).unwrap();
            let p = ops::max_pool2d(&y, o).unwrap();
            let g = ops::random_normal(p.shape(), 0.0, 1.0, 2).unwrap();
            let body = move |y: &Tensor, p: &Tensor, g: &Tensor| -> Result<Tensor> {
                let d = ops::max_pool2d_grad(y, p, g, o)?;
                ops::where_(
                    &ops::greater(y, &ops::zeros_like(y)?)?,
                    &d,
                    &ops::zeros_like(&d)?,
                )
            };
            let want = body(&y, &p, &g).unwrap().to_f64_vec().unwrap();
            let f = function(move |a: &[Arg]| body(a[0].tensor()?, a[1].tensor()?, a[2].tensor()?));
            let got = f.call(args![&y, &p, &g]).unwrap().to_f64_vec().unwrap();
            assert_eq!(got, want, "{dev}");
            let listing = f
                .get_concrete_function(args![&y, &p, &g])
                .unwrap()
                .graph()
                .to_string();
            assert!(
                listing.contains("fused[max_pool2d_grad,"),
                "{dev}: {listing}"
            );
            assert_eq!(listing.matches("fused[").count(), 1, "{dev}: {listing}");
            assert!(!listing.contains("= where("), "{dev}: {listing}");
        });
    }
}

/// Independent maps over the same space share one kernel: two returned values of x, and the
/// Adam updates (three outputs each) of two same-shaped variables.
#[test]
fn sibling_maps_share_a_kernel() {
    use std::rc::Rc;
    use wgflow::optimizers::{Adam, Optimizer};
    for dev in devices() {
        with_device(&dev, || {
            let x = ops::random_normal([5, 3], 0.0, 1.0, 7).unwrap();
            let f = function(|a: &[Arg]| -> Result<Vec<Tensor>> {
                let x = a[0].tensor()?;
                Ok(vec![ops::exp(x)?, (x * 2.0)?])
            });
            let got = f.call(args![&x]).unwrap();
            let want = [ops::exp(&x).unwrap(), (&x * 2.0).unwrap()];
            for (g, w) in got.iter().zip(&want) {
                assert_eq!(g.to_vec::<f32>().unwrap(), w.to_vec::<f32>().unwrap());
            }
            let listing = f
                .get_concrete_function(args![&x])
                .unwrap()
                .graph()
                .to_string();
            assert!(
                listing.contains(", %3 = fused[exp,mul](%0)"),
                "{dev}: {listing}"
            );

            // Two same-shaped variables stepped by Adam, traced and eagerly.
            let run = |traced: bool| -> (Vec<f32>, Vec<f32>, String) {
                let w1 =
                    Variable::new(ops::random_normal([4, 3], 0.0, 1.0, 1).unwrap(), "w1", true);
                let w2 =
                    Variable::new(ops::random_normal([4, 3], 0.0, 1.0, 2).unwrap(), "w2", true);
                let opt = Rc::new(Adam::new(0.1));
                let (v1, v2, o) = (w1.clone(), w2.clone(), opt.clone());
                let step = move |x: &Tensor| -> Result<Tensor> {
                    let tape = wgflow::GradientTape::new();
                    let y =
                        (&ops::matmul(x, &v1.read_value())? * &ops::matmul(x, &v2.read_value())?)?;
                    let loss = ops::reduce_mean(&y, wgflow::Axes::All, false)?;
                    let g = tape.gradient(&loss, &[&v1, &v2])?;
                    let (g1, g2) = (g[0].clone().unwrap(), g[1].clone().unwrap());
                    o.apply_gradients(&[(g1, &v1), (g2, &v2)])?;
                    Ok(loss)
                };
                let x = ops::random_normal([6, 4], 0.0, 1.0, 3).unwrap();
                let mut listing = String::new();
                if traced {
                    let f = function(move |a: &[Arg]| step(a[0].tensor()?));
                    for _ in 0..3 {
                        f.call(args![&x]).unwrap();
                    }
                    listing = f
                        .get_concrete_function(args![&x])
                        .unwrap()
                        .graph()
                        .to_string();
                } else {
                    for _ in 0..3 {
                        step(&x).unwrap();
                    }
                }
                let read = |v: &Variable| v.read_value().to_vec::<f32>().unwrap();
                (read(&w1), read(&w2), listing)
            };
            let (e1, e2, _) = run(false);
            let (t1, t2, listing) = run(true);
            for (p, q) in t1.iter().chain(&t2).zip(e1.iter().chain(&e2)) {
                assert!((p - q).abs() <= 1e-5 * (1.0 + q.abs()), "{dev}: {p} vs {q}");
            }
            assert_eq!(
                listing
                    .matches("ResourceApplyAdam,ResourceApplyAdam]")
                    .count(),
                1,
                "{dev}: {listing}"
            );
        });
    }
}
