//! Control flow: `cond`, `while_loop`, `for_range`, `TensorArray` — eager and traced (the
//! traced results must equal the eager ones), gradients through both, and clean errors.

use std::cell::Cell;
use std::rc::Rc;
use wgflow::graph::{cond, for_range, while_loop, while_loop_with};
use wgflow::{
    Arg, DType, Device, Error, GradientTape, Result, Tensor, TensorArray, TensorSpec,
    UnconnectedGradients, Variable, WhileOptions, args, function, ops, with_device,
};

fn devices() -> Vec<Device> {
    let mut d = vec![Device::cpu()];
    if let Ok(g) = Device::wgpu(0) {
        d.push(g);
    }
    d
}

fn f32s(t: &Tensor) -> Vec<f32> {
    t.to_vec::<f32>().unwrap()
}

fn close(a: &[f32], b: &[f32]) {
    assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
    for (x, y) in a.iter().zip(b) {
        assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{a:?} vs {b:?}");
    }
}

fn vec_t(v: &[f32]) -> Tensor {
    Tensor::from_slice(v, [v.len()]).unwrap()
}

fn c(x: &Tensor, v: f64) -> Tensor {
    ops::scalar_like(x, v).unwrap()
}

/// `x*x + 1` if `p`, else `-2x`.
fn branchy(x: &Tensor, p: &Tensor) -> Result<Tensor> {
    cond(
        p,
        || ops::add(&ops::mul(x, x)?, &c(x, 1.0)),
        || ops::mul(x, &c(x, -2.0)),
    )
}

#[test]
fn cond_traced_once_replays_both_branches() {
    for dev in devices() {
        with_device(&dev, || {
            let x = vec_t(&[1.0, -2.0, 3.0]);
            let (t, f) = (
                Tensor::scalar(true).unwrap(),
                Tensor::scalar(false).unwrap(),
            );
            let eager_t = f32s(&branchy(&x, &t).unwrap());
            let eager_f = f32s(&branchy(&x, &f).unwrap());
            assert_eq!(eager_t, [2.0, 5.0, 10.0]);
            assert_eq!(eager_f, [-2.0, 4.0, -6.0]);
            let closure_runs = Rc::new(Cell::new(0));
            let runs = closure_runs.clone();
            let tf = function(move |a: &[Arg]| {
                runs.set(runs.get() + 1);
                branchy(a[0].tensor()?, a[1].tensor()?)
            });
            for _ in 0..2 {
                assert_eq!(f32s(&tf.call(args![&x, &t]).unwrap()), eager_t, "{dev}");
                assert_eq!(f32s(&tf.call(args![&x, &f]).unwrap()), eager_f, "{dev}");
            }
            assert_eq!(tf.tracing_count(), 1);
            assert_eq!(
                closure_runs.get(),
                1,
                "the closure ran once: both branches traced"
            );
            let g = tf.get_concrete_function(args![&x, &t]).unwrap().graph();
            let listing = g.to_string();
            assert!(
                listing.contains("cond(") && listing.contains("then {"),
                "{listing}"
            );
            assert!(g.to_dot().contains("cond"));
        });
    }
}

#[test]
fn cond_numeric_pred_nested_structure_and_nested_cond() {
    for dev in devices() {
        with_device(&dev, || {
            let x = vec_t(&[0.5, 1.5]);
            let y = Tensor::scalar(4.0f32).unwrap();
            // Numeric predicates, a tuple with a vector inside, a cond in a branch, and a
            // concrete tensor (y) and an outer symbolic one (x) used by the branches.
            let f = |x: &Tensor, p: &Tensor, q: &Tensor| -> Result<(Tensor, Vec<Tensor>)> {
                let y = Tensor::scalar(4.0f32)?;
                cond(
                    p,
                    || {
                        let inner = cond(q, || ops::add(x, &y), || ops::sub(x, &y))?;
                        Ok((inner, vec![ops::reduce_sum(x, ops::Axes::All, false)?]))
                    },
                    || {
                        Ok((
                            ops::mul(x, &y)?,
                            vec![ops::reduce_max(x, ops::Axes::All, false)?],
                        ))
                    },
                )
            };
            let tf = function(move |a: &[Arg]| f(a[0].tensor()?, a[1].tensor()?, a[2].tensor()?));
            for (p, q) in [(1i32, 5i32), (1, 0), (0, 1), (-3, 0)] {
                let (p, q) = (Tensor::scalar(p).unwrap(), Tensor::scalar(q).unwrap());
                let (e0, e1) = f(&x, &p, &q).unwrap();
                let (t0, t1) = tf.call(args![&x, &p, &q]).unwrap();
                assert_eq!(f32s(&e0), f32s(&t0), "{dev}");
                assert_eq!(f32s(&e1[0]), f32s(&t1[0]), "{dev}");
            }
            let _ = y;
            assert_eq!(tf.tracing_count(), 1);
        });
    }
}

#[test]
fn cond_assigns_variables_in_a_branch() {
    for dev in devices() {
        with_device(&dev, || {
            let v = Variable::new(Tensor::scalar(1.0f32).unwrap(), "v", true);
            let w = Variable::new(Tensor::scalar(10.0f32).unwrap(), "w", true);
            let (v2, w2) = (v.clone(), w.clone());
            // v += x before the cond (the branch must see it), then: p → v *= 2, else w -= v.
            let step = move |x: &Tensor, p: &Tensor| -> Result<Tensor> {
                v2.assign_add(x)?;
                cond(
                    p,
                    || {
                        v2.assign(&ops::mul(&v2.read_value(), &c(x, 2.0))?)?;
                        Ok(v2.read_value())
                    },
                    || {
                        w2.assign_sub(&v2.read_value())?;
                        Ok(w2.read_value())
                    },
                )
            };
            let x = Tensor::scalar(1.0f32).unwrap();
            let (t, f) = (
                Tensor::scalar(true).unwrap(),
                Tensor::scalar(false).unwrap(),
            );
            // Eager: v=1 → (v=2, v=4) → (v=5, w=5) → (v=6, v=12).
            assert_eq!(step(&x, &t).unwrap().to_scalar::<f32>().unwrap(), 4.0);
            assert_eq!(step(&x, &f).unwrap().to_scalar::<f32>().unwrap(), 5.0);
            assert_eq!(step(&x, &t).unwrap().to_scalar::<f32>().unwrap(), 12.0);
            assert_eq!(v.read_value().to_scalar::<f32>().unwrap(), 12.0);
            assert_eq!(w.read_value().to_scalar::<f32>().unwrap(), 5.0);
            // Traced, from the same start.
            v.assign(&Tensor::scalar(1.0f32).unwrap()).unwrap();
            w.assign(&Tensor::scalar(10.0f32).unwrap()).unwrap();
            let tf = function(move |a: &[Arg]| step(a[0].tensor()?, a[1].tensor()?));
            assert_eq!(
                tf.call(args![&x, &t]).unwrap().to_scalar::<f32>().unwrap(),
                4.0
            );
            assert_eq!(
                tf.call(args![&x, &f]).unwrap().to_scalar::<f32>().unwrap(),
                5.0
            );
            assert_eq!(
                tf.call(args![&x, &t]).unwrap().to_scalar::<f32>().unwrap(),
                12.0
            );
            assert_eq!(v.read_value().to_scalar::<f32>().unwrap(), 12.0, "{dev}");
            assert_eq!(w.read_value().to_scalar::<f32>().unwrap(), 5.0, "{dev}");
            assert_eq!(tf.tracing_count(), 1);
        });
    }
}

/// d/dx of `cond(p, x^3, sin x) * 2` and, for a variable `w`, of `cond(p, w*x, w+x)`.
fn cond_grads(x: &Tensor, p: &Tensor, w: &Variable) -> Result<(Tensor, Tensor, Tensor)> {
    let tape = GradientTape::persistent();
    tape.watch(x);
    let y = cond(p, || ops::mul(&ops::square(x)?, x), || ops::sin(x))?;
    let y = ops::mul(&y, &c(&y, 2.0))?;
    let z = cond(
        p,
        || ops::mul(&w.read_value(), x),
        || ops::add(&w.read_value(), x),
    )?;
    let dx = tape.gradient(&y, &[x])?[0].clone().unwrap();
    let dw = tape.gradient(&z, &[w])?[0].clone().unwrap();
    let dzx = tape.gradient(&z, &[x])?[0].clone().unwrap();
    Ok((dx, dw, dzx))
}

#[test]
fn cond_gradients_eager_and_traced() {
    for dev in devices() {
        with_device(&dev, || {
            let xs = [0.5f32, -1.0, 2.0];
            let x = vec_t(&xs);
            let w = Variable::new(vec_t(&[3.0, 3.0, 3.0]), "w", true);
            let w2 = w.clone();
            let tf = function(move |a: &[Arg]| cond_grads(a[0].tensor()?, a[1].tensor()?, &w2));
            for p in [true, false, true, false] {
                let pt = Tensor::scalar(p).unwrap();
                let (want_dx, want_dw, want_dzx): (Vec<f32>, Vec<f32>, Vec<f32>) = if p {
                    (
                        xs.iter().map(|x| 6.0 * x * x).collect(),
                        xs.to_vec(),
                        vec![3.0; 3],
                    )
                } else {
                    (
                        xs.iter().map(|x| 2.0 * x.cos()).collect(),
                        vec![1.0; 3],
                        vec![1.0; 3],
                    )
                };
                let (dx, dw, dzx) = cond_grads(&x, &pt, &w).unwrap();
                close(&f32s(&dx), &want_dx);
                close(&f32s(&dw), &want_dw);
                close(&f32s(&dzx), &want_dzx);
                let (dx, dw, dzx) = tf.call(args![&x, &pt]).unwrap();
                close(&f32s(&dx), &want_dx);
                close(&f32s(&dw), &want_dw);
                close(&f32s(&dzx), &want_dzx);
            }
            assert_eq!(tf.tracing_count(), 1, "{dev}");
        });
    }
}

#[test]
fn second_order_gradient_through_traced_cond() {
    // d²/dx² of cond(p, x^3, x^2): 6x or 2.
    let f = |x: &Tensor, p: &Tensor| -> Result<Tensor> {
        let outer = GradientTape::new();
        outer.watch(x);
        let inner = GradientTape::new();
        inner.watch(x);
        let y = cond(p, || ops::mul(&ops::square(x)?, x), || ops::square(x))?;
        let dy = inner.gradient(&y, &[x])?[0].clone().unwrap();
        Ok(outer.gradient(&dy, &[x])?[0].clone().unwrap())
    };
    let tf = function(move |a: &[Arg]| f(a[0].tensor()?, a[1].tensor()?));
    let x = vec_t(&[1.0, 2.0]);
    for (p, want) in [(true, [6.0, 12.0]), (false, [2.0, 2.0])] {
        let p = Tensor::scalar(p).unwrap();
        close(&f32s(&f(&x, &p).unwrap()), &want);
        close(&f32s(&tf.call(args![&x, &p]).unwrap()), &want);
    }
}

/// Collatz-like: while i < n { x = x * 1.5 + i; i += 1 }, plus a counter of halvings.
fn looped(x: &Tensor, n: &Tensor) -> Result<Vec<Tensor>> {
    let i0 = Tensor::scalar(0i32)?;
    while_loop(
        |v| ops::less(&v[0], n),
        |v| {
            let i = ops::add(&v[0], &Tensor::scalar(1i32)?)?;
            let fi = ops::cast(&v[0], DType::F32)?;
            let x = ops::add(&ops::mul(&v[1], &c(&v[1], 1.5))?, &fi)?;
            Ok(vec![i, x])
        },
        vec![i0, x.clone()],
        None,
    )
}

#[test]
fn while_loop_eager_and_traced() {
    for dev in devices() {
        with_device(&dev, || {
            let x = vec_t(&[1.0, -2.0]);
            let tf = function(move |a: &[Arg]| looped(a[0].tensor()?, a[1].tensor()?));
            for n in [0i32, 1, 4, 7] {
                let nt = Tensor::scalar(n).unwrap();
                let eager = looped(&x, &nt).unwrap();
                let traced = tf.call(args![&x, &nt]).unwrap();
                assert_eq!(eager[0].to_scalar::<i32>().unwrap(), n);
                assert_eq!(traced[0].to_scalar::<i32>().unwrap(), n, "{dev}");
                let mut want = vec![1.0f32, -2.0];
                for i in 0..n {
                    for w in &mut want {
                        *w = *w * 1.5 + i as f32;
                    }
                }
                close(&f32s(&eager[1]), &want);
                close(&f32s(&traced[1]), &want);
            }
            assert_eq!(tf.tracing_count(), 1);
            let listing = tf
                .get_concrete_function(args![&x, Tensor::scalar(1i32).unwrap()])
                .unwrap()
                .graph()
                .to_string();
            assert!(
                listing.contains("while(") && listing.contains("body {"),
                "{listing}"
            );
        });
    }
}

#[test]
fn while_loop_maximum_iterations() {
    for dev in devices() {
        with_device(&dev, || {
            // cond is always true: only maximum_iterations stops it.
            let f = |x: &Tensor| -> Result<Tensor> {
                let out = while_loop_with(
                    |_: &Vec<Tensor>| Tensor::scalar(true),
                    |v: &Vec<Tensor>| Ok(vec![ops::add(&v[0], &v[0])?]),
                    vec![x.clone()],
                    WhileOptions {
                        maximum_iterations: Some(5),
                        ..Default::default()
                    },
                )?;
                Ok(out[0].clone())
            };
            let x = vec_t(&[1.0, 3.0]);
            assert_eq!(f32s(&f(&x).unwrap()), [32.0, 96.0]);
            let tf = function(move |a: &[Arg]| f(a[0].tensor()?));
            assert_eq!(f32s(&tf.call(args![&x]).unwrap()), [32.0, 96.0], "{dev}");
        });
    }
}

#[test]
fn while_loop_gradients_eager_and_traced() {
    for dev in devices() {
        with_device(&dev, || {
            // y = x * w^n (body x = x * w, n iterations); dy/dx = w^n, dy/dw = n x w^(n-1).
            // Also a float loop var that doubles: z = 2^n x, dz/dx = 2^n.
            let f = |x: &Tensor, w: &Tensor, n: &Tensor| -> Result<(Tensor, Tensor)> {
                let tape = GradientTape::new();
                tape.watch(x);
                tape.watch(w);
                let out = while_loop(
                    |v| ops::less(&v[0], n),
                    |v| {
                        Ok(vec![
                            ops::add(&v[0], &Tensor::scalar(1i32)?)?,
                            ops::mul(&v[1], w)?,
                            ops::add(&v[2], &v[2])?,
                        ])
                    },
                    vec![Tensor::scalar(0i32)?, x.clone(), x.clone()],
                    None,
                )?;
                let y = ops::add(&out[1], &out[2])?;
                // Zero: with n = 0 the eager loop never touches w.
                let g = tape.gradient_with(&y, &[x, w], None, UnconnectedGradients::Zero)?;
                Ok((g[0].clone().unwrap(), g[1].clone().unwrap()))
            };
            let tf = function(move |a: &[Arg]| f(a[0].tensor()?, a[1].tensor()?, a[2].tensor()?));
            let (xs, ws) = ([1.5f32, -0.5], [2.0f32, 0.5]);
            let (x, w) = (vec_t(&xs), vec_t(&ws));
            for n in [0i32, 1, 3] {
                let nt = Tensor::scalar(n).unwrap();
                let want_dx: Vec<f32> = ws.iter().map(|w| w.powi(n) + 2f32.powi(n)).collect();
                let want_dw: Vec<f32> = xs
                    .iter()
                    .zip(&ws)
                    .map(|(x, w)| n as f32 * x * w.powi((n - 1).max(0)))
                    .collect();
                let (dx, dw) = f(&x, &w, &nt).unwrap();
                close(&f32s(&dx), &want_dx);
                close(&f32s(&dw), &want_dw);
                let (dx, dw) = tf.call(args![&x, &w, &nt]).unwrap();
                close(&f32s(&dx), &want_dx);
                close(&f32s(&dw), &want_dw);
            }
            assert_eq!(tf.tracing_count(), 1, "{dev}");
        });
    }
}

#[test]
fn traced_while_gradient_with_cond_in_body() {
    // Body: x = cond(x > 1, x / 2, x * 3); three iterations from 0.5: 1.5 → 0.75 → 2.25
    // derivative 3 * 0.5 * 3 = 4.5.
    let f = |x: &Tensor| -> Result<(Tensor, Tensor)> {
        let tape = GradientTape::new();
        tape.watch(x);
        let y = for_range(3, x.clone(), |_, x| {
            let p = ops::greater(x, &c(x, 1.0))?;
            cond(&p, || ops::mul(x, &c(x, 0.5)), || ops::mul(x, &c(x, 3.0)))
        })?;
        let g = tape.gradient(&y, &[x])?[0].clone().unwrap();
        Ok((y, g))
    };
    let x = Tensor::scalar(0.5f32).unwrap();
    let (y, g) = f(&x).unwrap();
    assert_eq!(y.to_scalar::<f32>().unwrap(), 2.25);
    assert_eq!(g.to_scalar::<f32>().unwrap(), 4.5);
    let tf = function(move |a: &[Arg]| f(a[0].tensor()?));
    let (y, g) = tf.call(args![&x]).unwrap();
    assert_eq!(y.to_scalar::<f32>().unwrap(), 2.25);
    assert_eq!(g.to_scalar::<f32>().unwrap(), 4.5);
}

#[test]
fn for_range_eager_and_traced() {
    for dev in devices() {
        with_device(&dev, || {
            // Sum of i^2 for i < n, and a host-count loop.
            let f = |n: &Tensor| -> Result<(Tensor, Tensor)> {
                let s = for_range(n, Tensor::scalar(0.0f32)?, |i, s| {
                    let fi = ops::cast(i, DType::F32)?;
                    ops::add(s, &ops::mul(&fi, &fi)?)
                })?;
                let p = for_range(3usize, Tensor::scalar(1.0f32)?, |_, p| {
                    ops::mul(p, &c(p, 3.0))
                })?;
                Ok((s, p))
            };
            let tf = function(move |a: &[Arg]| f(a[0].tensor()?));
            for n in [0i32, 1, 5] {
                let nt = Tensor::scalar(n).unwrap();
                let want: f32 = (0..n).map(|i| (i * i) as f32).sum();
                let (s, p) = f(&nt).unwrap();
                assert_eq!(
                    (s.to_scalar::<f32>().unwrap(), p.to_scalar::<f32>().unwrap()),
                    (want, 27.0)
                );
                let (s, p) = tf.call(args![&nt]).unwrap();
                assert_eq!(
                    (s.to_scalar::<f32>().unwrap(), p.to_scalar::<f32>().unwrap()),
                    (want, 27.0),
                    "{dev}"
                );
            }
            assert_eq!(tf.tracing_count(), 1);
        });
    }
}

#[test]
fn tensor_array_in_loops_eager_and_traced() {
    for dev in devices() {
        with_device(&dev, || {
            // Row i = x * i, written at a loop index; then reads, stack and unstack.
            let f = |x: &Tensor| -> Result<(Tensor, Tensor, Tensor)> {
                let ta = TensorArray::new(DType::F32, 4, false, Some(x.shape()))?;
                let ta = for_range(4, ta, |i, ta| {
                    ta.write(i, &ops::mul(x, &ops::cast(i, DType::F32)?)?)
                })?;
                let stacked = ta.stack()?;
                let third = ta.read(2)?;
                // Unstack and reverse-accumulate with a traced index.
                let back = TensorArray::new(DType::F32, 4, false, None)?.unstack(&stacked)?;
                let total = for_range(4, ops::zeros_like(x)?, |i, acc| {
                    let j = ops::sub(&Tensor::scalar(3i32)?, i)?;
                    ops::add(acc, &back.read(&j)?)
                })?;
                Ok((stacked, third, total))
            };
            let x = vec_t(&[1.0, 2.0, -1.0]);
            let (s, r, t) = f(&x).unwrap();
            let want_s = [
                0.0, 0.0, 0.0, 1.0, 2.0, -1.0, 2.0, 4.0, -2.0, 3.0, 6.0, -3.0,
            ];
            assert_eq!(s.shape(), [4, 3]);
            assert_eq!(f32s(&s), want_s);
            assert_eq!(f32s(&r), [2.0, 4.0, -2.0]);
            assert_eq!(f32s(&t), [6.0, 12.0, -6.0]);
            let tf = function(move |a: &[Arg]| f(a[0].tensor()?));
            let (s2, r2, t2) = tf.call(args![&x]).unwrap();
            assert_eq!(f32s(&s2), want_s, "{dev}");
            assert_eq!(f32s(&r2), f32s(&r));
            assert_eq!(f32s(&t2), f32s(&t));
        });
    }
}

#[test]
fn tensor_array_host_indices_dynamic_size_and_gradients() {
    let x = Tensor::scalar(2.0f32).unwrap();
    let tape = GradientTape::new();
    tape.watch(&x);
    // Element shape from the first write; dynamic growth with host indices.
    let ta = TensorArray::new(DType::F32, 0, true, None).unwrap();
    let ta = ta.write(0, &ops::square(&x).unwrap()).unwrap();
    let ta = ta.write(2, &ops::mul(&x, &c(&x, 5.0)).unwrap()).unwrap();
    assert_eq!(ta.size(), 3);
    assert_eq!(ta.element_shape(), Some(&[][..]));
    let s = ta.stack().unwrap();
    assert_eq!(f32s(&s), [4.0, 0.0, 10.0]);
    // d/dx sum(stack) = 2x + 5.
    let y = ops::reduce_sum(&s, ops::Axes::All, false).unwrap();
    let g = tape.gradient(&y, &[&x]).unwrap()[0].clone().unwrap();
    assert_eq!(g.to_scalar::<f32>().unwrap(), 9.0);

    let fixed = TensorArray::new(DType::F32, 2, false, Some(&[])).unwrap();
    let err = fixed.write(2, &x).unwrap_err().to_string();
    assert!(
        err.contains("TensorArray.write") && err.contains("out of range"),
        "{err}"
    );
    let err = fixed.read(-1).unwrap_err().to_string();
    assert!(err.contains("TensorArray.read"), "{err}");
    let err = fixed
        .write(0, &Tensor::scalar(1i32).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("TensorArray.write"), "{err}");
    let err = fixed.write(0, &vec_t(&[1.0])).unwrap_err().to_string();
    assert!(err.contains("TensorArray.write"), "{err}");
}

#[test]
fn gradient_through_tensor_array_in_a_traced_loop() {
    // ta[i] = x^(i+1) via a carried power; loss = sum(stack) = x + x^2 + x^3.
    let f = |x: &Tensor| -> Result<Tensor> {
        let tape = GradientTape::new();
        tape.watch(x);
        let ta = TensorArray::new(DType::F32, 3, false, Some(&[]))?;
        let (_, ta) = for_range(3, (x.clone(), ta), |i, (p, ta)| {
            Ok((ops::mul(p, x)?, ta.write(i, p)?))
        })?;
        let loss = ops::reduce_sum(&ta.stack()?, ops::Axes::All, false)?;
        Ok(tape.gradient(&loss, &[x])?[0].clone().unwrap())
    };
    let x = Tensor::scalar(2.0f32).unwrap();
    // 1 + 2x + 3x^2 = 17.
    assert_eq!(f(&x).unwrap().to_scalar::<f32>().unwrap(), 17.0);
    let tf = function(move |a: &[Arg]| f(a[0].tensor()?));
    assert_eq!(
        tf.call(args![&x]).unwrap().to_scalar::<f32>().unwrap(),
        17.0
    );
}

#[test]
fn control_flow_replans_for_new_shapes_under_an_input_signature() {
    let tf = function(|a: &[Arg]| -> Result<Tensor> {
        let x = a[0].tensor()?;
        let p = ops::greater(&ops::reduce_sum(x, ops::Axes::All, false)?, &c(x, 0.0))?;
        let y = cond(&p, || ops::mul(x, &c(x, 2.0)), || ops::neg(x))?;
        for_range(2, y, |_, y| ops::add(y, &c(y, 1.0)))
    })
    .with_input_signature(vec![TensorSpec::new(vec![None], DType::F32)]);
    assert_eq!(
        f32s(&tf.call(args![vec_t(&[1.0, 2.0])]).unwrap()),
        [4.0, 6.0]
    );
    assert_eq!(
        f32s(&tf.call(args![vec_t(&[-1.0, -2.0, 1.0])]).unwrap()),
        [3.0, 4.0, 1.0]
    );
    assert_eq!(tf.tracing_count(), 1);
}

fn traced_err<O: wgflow::graph::Structure + 'static>(
    f: impl Fn(&Tensor) -> Result<O> + 'static,
) -> Error {
    let x = vec_t(&[1.0, 2.0]);
    let tf = function(move |a: &[Arg]| f(a[0].tensor()?));
    match tf.call(args![&x]) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

#[test]
fn bad_control_flow_is_a_clean_error() {
    let x = vec_t(&[1.0, 2.0]);
    let t = Tensor::scalar(true).unwrap();
    // Branches with different structures, dtypes, shapes (traced: both branches are seen).
    let e = traced_err(|x| {
        let p = Tensor::scalar(true)?;
        cond(
            &p,
            || Ok(vec![x.clone()]),
            || Ok(vec![x.clone(), x.clone()]),
        )
    })
    .to_string();
    assert!(
        e.starts_with("cond: ") && e.contains("same structure"),
        "{e}"
    );
    let e = traced_err(|x| {
        let p = Tensor::scalar(true)?;
        cond(&p, || Ok(x.clone()), || ops::cast(x, DType::I32))
    });
    assert!(matches!(e, Error::DType { .. }), "{e}");
    let e = e.to_string();
    assert!(
        e.starts_with("cond: ") && e.contains("f32 [2]") || e.contains("float32"),
        "{e}"
    );
    let e = traced_err(|x| {
        let p = Tensor::scalar(true)?;
        cond(
            &p,
            || Ok(x.clone()),
            || ops::reduce_sum(x, ops::Axes::All, false),
        )
    });
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    assert!(e.to_string().starts_with("cond: "), "{e}");
    // Non-scalar predicates, eager and traced.
    let e = cond(&x, || Ok(x.clone()), || Ok(x.clone()))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("cond: ") && e.contains("scalar"), "{e}");
    let e = traced_err(|x| cond(x, || Ok(x.clone()), || Ok(x.clone()))).to_string();
    assert!(e.starts_with("cond: ") && e.contains("scalar"), "{e}");
    let e = while_loop(
        |v| Ok(v[0].clone()),
        |v| Ok(v.clone()),
        vec![x.clone()],
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("while_loop: ") && e.contains("scalar"), "{e}");
    let e = traced_err(|x| {
        while_loop(
            |v| Ok(v[0].clone()),
            |v| Ok(v.clone()),
            vec![x.clone()],
            None,
        )
    })
    .to_string();
    assert!(e.starts_with("while_loop: ") && e.contains("scalar"), "{e}");
    // A body that changes a shape against its invariant, eager and traced.
    let grow =
        |v: &Vec<Tensor>| -> Result<Vec<Tensor>> { Ok(vec![ops::concat(&[&v[0], &v[0]], 0)?]) };
    let stop = |v: &Vec<Tensor>| {
        ops::less(
            &ops::reduce_sum(&v[0], ops::Axes::All, false)?,
            &c(&v[0], 100.0),
        )
    };
    let e = while_loop(stop, grow, vec![x.clone()], Some(vec![vec![Some(2)]]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("while_loop: ") && e.contains("invariant"),
        "{e}"
    );
    let e = traced_err(move |x| while_loop(stop, grow, vec![x.clone()], None));
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    assert!(e.to_string().contains("invariant") && e.to_string().starts_with("while_loop"));
    // An unknown dimension lets the eager loop grow; a traced loop cannot.
    let out = while_loop(stop, grow, vec![x.clone()], Some(vec![vec![None]])).unwrap();
    assert_eq!(out[0].shape(), [128]);
    let e = traced_err(move |x| while_loop(stop, grow, vec![x.clone()], Some(vec![vec![None]])))
        .to_string();
    assert!(
        e.starts_with("while_loop: ") && e.contains("static shapes"),
        "{e}"
    );
    // A body that changes a dtype, or the number of loop variables.
    let e = while_loop(
        |_| Tensor::scalar(true),
        |v| Ok(vec![ops::cast(&v[0], DType::I32)?]),
        vec![x.clone()],
        None,
    )
    .unwrap_err();
    assert!(matches!(e, Error::DType { .. }), "{e}");
    let e = traced_err(|x| {
        while_loop(
            |_| Tensor::scalar(true),
            |_| Ok(vec![]),
            vec![x.clone()],
            None,
        )
    })
    .to_string();
    assert!(
        e.starts_with("while_loop: ") && e.contains("structure"),
        "{e}"
    );
    // Invariants that do not fit the entry values.
    let e = while_loop(stop, grow, vec![x.clone()], Some(vec![vec![Some(3)]]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("while_loop: ") && e.contains("enters as"),
        "{e}"
    );
    // Assigning a variable in a traced loop body.
    let v = Variable::new(Tensor::scalar(0.0f32).unwrap(), "acc", true);
    let e = traced_err(move |x| {
        while_loop(
            |_| Tensor::scalar(false),
            |s| {
                v.assign(&Tensor::scalar(1.0f32)?)?;
                Ok(s.clone())
            },
            vec![x.clone()],
            None,
        )
    })
    .to_string();
    assert!(e.starts_with("while_loop: ") && e.contains("'acc'"), "{e}");
    // An error inside a branch names where it happened, and nothing is left tracing.
    let e = traced_err(move |x| {
        cond(
            &Tensor::scalar(true)?,
            || ops::matmul(x, x),
            || Ok(x.clone()),
        )
    })
    .to_string();
    assert!(e.starts_with("cond: true_fn/matmul"), "{e}");
    assert!(!wgflow::graph::is_tracing());
    let _ = t;
}
