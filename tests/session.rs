//! TF1 graphs and sessions (`compat::v1`): placeholders and feeds, pruning, plan caching,
//! variables and assignments, gradients, and the errors for bad feeds and fetches.

mod common;

use wgflow::compat::v1::{self, Graph, Session};
use wgflow::graph::print_to;
use wgflow::{
    Arg, DType, Device, Error, GradientTape, Result, Tensor, Variable, args, cond, function, ops,
    while_loop, with_device,
};

fn devices() -> Vec<Device> {
    let mut d = vec![Device::cpu()];
    match Device::wgpu(0) {
        Ok(g) => d.push(g),
        Err(e) => eprintln!("note: skipping wgpu ({e})"),
    }
    d
}

fn close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (*g as f64 - w).abs() <= tol * (1.0 + w.abs()),
            "{what}: {got:?} vs {want:?}"
        );
    }
}

/// Deterministic inputs: `n` rows of `cols` values in [-1, 1).
fn rows(n: usize, cols: usize, seed: usize) -> Vec<f32> {
    (0..n * cols)
        .map(|i| (((i * 7 + seed * 13) % 17) as f32 / 8.5) - 1.0)
        .collect()
}

const W: [f32; 6] = [0.5, -1.0, 2.0, 0.25, -0.75, 1.5];
const B: [f32; 2] = [0.1, -0.2];

/// `relu(x @ W + b)` and its row sums of squares, in float64.
fn reference(x: &[f32], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut y = vec![0.0; n * 2];
    for r in 0..n {
        for c in 0..2 {
            let mut s = B[c] as f64;
            for k in 0..3 {
                s += x[r * 3 + k] as f64 * W[k * 2 + c] as f64;
            }
            y[r * 2 + c] = s.max(0.0);
        }
    }
    let z = (0..n)
        .map(|r| y[r * 2].powi(2) + y[r * 2 + 1].powi(2))
        .collect();
    (y, z)
}

/// A graph with `x: [None, 3]`, `y = relu(x @ W + b)` (`W` a captured constant, `b` a
/// variable) and `z = reduce_sum(y * y, 1)`.
fn dense_graph(b: &Variable) -> Result<(Graph, Tensor, Tensor, Tensor)> {
    let g = Graph::new()?;
    let (x, y, z) = g.as_default(|| {
        let x = v1::placeholder(DType::F32, &[None, Some(3)], "x")?;
        let w = Tensor::from_slice(&W, [3, 2])?;
        let y = ops::relu(&ops::add(&ops::matmul(&x, &w)?, &b.read_value())?)?;
        let z = ops::reduce_sum(&ops::mul(&y, &y)?, [1], false)?;
        Ok((x, y, z))
    })?;
    Ok((g, x, y, z))
}

#[test]
fn runs_match_eager_and_float64_on_every_device() {
    for dev in devices() {
        with_device(&dev, || {
            let b = Variable::new(Tensor::from_slice(&B, [2]).unwrap(), "b", true);
            let (g, x, y, z) = dense_graph(&b).unwrap();
            assert_eq!(g.device(), &dev);
            let sess = Session::new(&g);
            let xv = rows(4, 3, 1);
            let feed = Tensor::from_slice(&xv, [4, 3]).unwrap();
            let out = sess.run(&[&y, &z], &[(&x, &feed)]).unwrap();
            let (ry, rz) = reference(&xv, 4);
            assert_eq!(out[0].shape(), &[4, 2]);
            close(&out[0].to_vec::<f32>().unwrap(), &ry, 1e-5, "y");
            close(&out[1].to_vec::<f32>().unwrap(), &rz, 1e-5, "z");
            // The same computation eagerly (TF2).
            let w = Tensor::from_slice(&W, [3, 2]).unwrap();
            let ey =
                ops::relu(&ops::add(&ops::matmul(&feed, &w).unwrap(), &b.read_value()).unwrap())
                    .unwrap();
            assert_eq!(
                ey.to_vec::<f32>().unwrap(),
                out[0].to_vec::<f32>().unwrap(),
                "{dev}"
            );
        });
    }
}

#[test]
fn unknown_dimensions_take_any_fed_size() {
    for dev in devices() {
        with_device(&dev, || {
            let b = Variable::new(Tensor::from_slice(&B, [2]).unwrap(), "b", true);
            let (g, x, y, z) = dense_graph(&b).unwrap();
            let sess = Session::new(&g);
            for (k, n) in [1usize, 4, 7, 0, 4].into_iter().enumerate() {
                let xv = rows(n, 3, k);
                let feed = Tensor::from_slice(&xv, [n, 3]).unwrap();
                let out = sess.run(&[&y, &z], &[(&x, &feed)]).unwrap();
                let (ry, rz) = reference(&xv, n);
                assert_eq!(out[0].shape(), &[n, 2], "{dev}");
                assert_eq!(out[1].shape(), &[n], "{dev}");
                close(&out[0].to_vec::<f32>().unwrap(), &ry, 1e-5, "y");
                close(&out[1].to_vec::<f32>().unwrap(), &rz, 1e-5, "z");
            }
            // One plan per batch size; the second batch of 4 replayed the first's.
            assert_eq!(sess.cached_plans(), 4);
        });
    }
}

#[test]
fn plans_are_compiled_once_and_replayed() {
    let dev = Device::new(Device::cpu().physical_device(), Default::default()).unwrap();
    with_device(&dev, || {
        let b = Variable::new(Tensor::from_slice(&B, [2]).unwrap(), "b", true);
        let (g, x, y, z) = dense_graph(&b).unwrap();
        let sess = Session::new(&g);
        let feed = Tensor::from_slice(&rows(5, 3, 2), [5, 3]).unwrap();
        sess.run(&[&z], &[(&x, &feed)]).unwrap();
        let s0 = dev.stats().dispatches;
        let first = sess.run(&[&z], &[(&x, &feed)]).unwrap();
        let per_run = dev.stats().dispatches - s0;
        let second = sess.run(&[&z], &[(&x, &feed)]).unwrap();
        assert_eq!(dev.stats().dispatches - s0, 2 * per_run);
        assert_eq!(sess.cached_plans(), 1);
        assert_eq!(
            first[0].to_vec::<f32>().unwrap(),
            second[0].to_vec::<f32>().unwrap()
        );
        // Fused: fewer kernels than the ops the graph records (matmul, add, relu, mul, sum).
        assert!(per_run < 5, "{per_run} dispatches per run");
        // Another fetch set is another plan; the same one again is not.
        sess.run(&[&y], &[(&x, &feed)]).unwrap();
        sess.run(&[&y, &z], &[(&x, &feed)]).unwrap();
        sess.run(&[&y], &[(&x, &feed)]).unwrap();
        assert_eq!(sess.cached_plans(), 3);
        // A variable's new value is read by the cached plan (it is read when a run starts).
        b.assign(&Tensor::from_slice(&[100.0f32, 100.0], [2]).unwrap())
            .unwrap();
        let out = sess.run(&[&y], &[(&x, &feed)]).unwrap();
        assert!(out[0].to_vec::<f32>().unwrap().iter().all(|&v| v > 90.0));
        assert_eq!(sess.cached_plans(), 3);
        // A graph that grew is planned afresh; the old plans are dropped.
        g.as_default(|| ops::neg(&z)).unwrap();
        sess.run(&[&y], &[(&x, &feed)]).unwrap();
        assert_eq!(sess.cached_plans(), 1);
    });
}

#[test]
fn only_what_the_fetches_need_runs() {
    with_device(&Device::cpu(), || {
        let g = Graph::new().unwrap();
        let (x, t, h, y, loss) = g
            .as_default(|| {
                let x = v1::placeholder(DType::F32, &[None], "x")?;
                let t = v1::placeholder(DType::F32, &[None], "t")?;
                let h = (&x * 2.0)?;
                let y = (&h + 1.0)?;
                let loss = ops::reduce_sum(&ops::square(&(&y - &t)?)?, [0], false)?;
                Ok((x, t, h, y, loss))
            })
            .unwrap();
        let sess = Session::new(&g);
        let xv = Tensor::from_slice(&[1.0f32, 2.0, 3.0], [3]).unwrap();
        // `t` is not needed for `y`.
        let out = sess.run(&[&y], &[(&x, &xv)]).unwrap();
        assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![3.0, 5.0, 7.0]);
        // Missing feeds name the placeholder, its dtype and shape.
        let err = sess.run(&[&loss], &[(&x, &xv)]).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }));
        assert_eq!(
            err.to_string(),
            "Session.run: placeholder 't' (float32 (?,)) must be fed"
        );
        let err = sess.run(&[&y], &[]).unwrap_err().to_string();
        assert!(
            err.contains("placeholder 'x' (float32 (?,)) must be fed"),
            "{err}"
        );
        // Any graph tensor may be fed: `h` replaces its producer, so `x` is not needed.
        let hv = Tensor::from_slice(&[10.0f32, 20.0], [2]).unwrap();
        let tv = Tensor::from_slice(&[11.0f32, 20.0], [2]).unwrap();
        let out = sess.run(&[&y, &loss, &h], &[(&h, &hv), (&t, &tv)]).unwrap();
        assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![11.0, 21.0]);
        assert_eq!(out[1].to_scalar::<f32>().unwrap(), 1.0);
        assert_eq!(out[2].to_vec::<f32>().unwrap(), vec![10.0, 20.0]);
        // Fetching a fed placeholder returns the fed value.
        let out = sess.run(&[&x], &[(&x, &xv)]).unwrap();
        assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0]);
    });
}

#[test]
fn bad_feeds_are_clear_errors() {
    with_device(&Device::cpu(), || {
        let b = Variable::new(Tensor::from_slice(&B, [2]).unwrap(), "b", true);
        let (g, x, y, _) = dense_graph(&b).unwrap();
        let sess = Session::new(&g);
        let wrong_dtype = Tensor::from_slice(&[1i32, 2, 3], [1, 3]).unwrap();
        let err = sess.run(&[&y], &[(&x, &wrong_dtype)]).unwrap_err();
        assert!(matches!(err, Error::DType { .. }));
        assert_eq!(
            err.to_string(),
            "Session.run: cannot feed a int32 (1, 3) value for placeholder 'x' (float32 (?, 3))"
        );
        let wrong_shape = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap();
        let err = sess.run(&[&y], &[(&x, &wrong_shape)]).unwrap_err();
        assert!(matches!(err, Error::Shape { .. }));
        assert_eq!(
            err.to_string(),
            "Session.run: cannot feed a value of shape (2, 2) for placeholder 'x' (float32 (?, 3))"
        );
        let wrong_rank = Tensor::from_slice(&[1.0f32, 2.0, 3.0], [3]).unwrap();
        let err = sess
            .run(&[&y], &[(&x, &wrong_rank)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("shape (3,) for placeholder 'x'"), "{err}");
        let ok = Tensor::from_slice(&[1.0f32, 2.0, 3.0], [1, 3]).unwrap();
        let err = sess
            .run(&[&y], &[(&x, &ok), (&x, &ok)])
            .unwrap_err()
            .to_string();
        assert_eq!(err, "Session.run: feeds 0 and 1 feed the same tensor");
        // Feeding an intermediate tensor checks it like a placeholder (unknown rows).
        let err = sess.run(&[&y], &[(&y, &ok)]).unwrap_err().to_string();
        assert_eq!(
            err,
            "Session.run: cannot feed a value of shape (1, 3) for tensor (float32 (?, 2))"
        );
        if let Ok(gpu) = Device::wgpu(0) {
            let there = ok.on(&gpu).unwrap();
            let err = sess.run(&[&y], &[(&x, &there)]).unwrap_err().to_string();
            assert!(err.contains("copy it with Tensor::on"), "{err}");
        }
    });
}

#[test]
fn tensors_of_other_graphs_are_errors() {
    with_device(&Device::cpu(), || {
        let g1 = Graph::new().unwrap();
        let g2 = Graph::new().unwrap();
        let x1 = g1
            .as_default(|| v1::placeholder(DType::F32, &[Some(2)], "x"))
            .unwrap();
        let y2 = g2
            .as_default(|| {
                let x = v1::placeholder(DType::F32, &[Some(2)], "x")?;
                ops::neg(&x)
            })
            .unwrap();
        let sess = Session::new(&g1);
        let v = Tensor::from_slice(&[1.0f32, 2.0], [2]).unwrap();
        let err = sess.run(&[&y2], &[(&x1, &v)]).unwrap_err().to_string();
        assert_eq!(
            err,
            "Session.run: fetch 0 (float32 (2,)) is a tensor of another graph or function, \
             not a tensor of this session's graph"
        );
        let err = sess.run(&[&x1], &[(&y2, &v)]).unwrap_err().to_string();
        assert!(err.contains("the key of feed 0 (float32 (2,)) is a tensor of another graph"));
        let err = sess.run(&[&v], &[]).unwrap_err().to_string();
        assert!(
            err.contains("fetch 0 (float32 (2,)) is an eager tensor"),
            "{err}"
        );
        // Using one graph's tensor to build another is an error too, even nested.
        let err = g1
            .as_default(|| g2.as_default(|| ops::neg(&x1)))
            .unwrap_err()
            .to_string();
        assert!(err.contains("of another function or graph"), "{err}");
        // Outside as_default there is nothing to build into.
        let err = v1::placeholder(DType::F32, &[], "p")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("placeholder: must be called directly inside"),
            "{err}"
        );
    });
}

#[test]
fn graphs_are_built_across_blocks_and_nesting() {
    with_device(&Device::cpu(), || {
        let g1 = Graph::new().unwrap();
        let g2 = Graph::new().unwrap();
        let x = g1
            .as_default(|| v1::placeholder(DType::F32, &[Some(2)], ""))
            .unwrap();
        // g1 again, entered inside g2 which is inside g1: each op goes to the innermost.
        let (y, z) = g1
            .as_default(|| {
                let y = (&x + 1.0)?;
                let z = g2.as_default(|| {
                    let p = v1::placeholder(DType::F32, &[Some(2)], "")?;
                    let y2 = g1.as_default(|| &y * 10.0)?;
                    Ok((y2, ops::neg(&p)?))
                })?;
                Ok((y, z))
            })
            .unwrap();
        let (y2, neg) = z;
        let v = Tensor::from_slice(&[1.0f32, 2.0], [2]).unwrap();
        let s1 = Session::new(&g1);
        let out = s1.run(&[&y, &y2], &[(&x, &v)]).unwrap();
        assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![2.0, 3.0]);
        assert_eq!(out[1].to_vec::<f32>().unwrap(), vec![20.0, 30.0]);
        let s2 = Session::new(&g2);
        let p = g2.as_graph_def().unwrap();
        assert_eq!(p.args().len(), 1);
        assert!(
            p.to_string()
                .starts_with("%0 = placeholder \"Placeholder\"")
        );
        let err = s2.run(&[&neg], &[]).unwrap_err().to_string();
        assert!(
            err.contains("placeholder 'Placeholder' (float32 (2,))"),
            "{err}"
        );
        // Running inside an as_default block runs for real, and functions still trace.
        let out = g1.as_default(|| s1.run(&[&y], &[(&x, &v)])).unwrap();
        assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![2.0, 3.0]);
        let f = function(|a: &[Arg]| ops::mul(a[0].tensor()?, a[0].tensor()?));
        let r = f.call(args![&v]).unwrap();
        assert_eq!(r.to_vec::<f32>().unwrap(), vec![1.0, 4.0]);
        // Names are made unique like TensorFlow's.
        let names = g1
            .as_default(|| {
                v1::placeholder(DType::F32, &[], "x")?;
                v1::placeholder(DType::F32, &[], "x")?;
                Ok(g1.as_graph_def()?.to_string())
            })
            .unwrap();
        assert!(names.contains("placeholder \"x\""), "{names}");
        assert!(names.contains("placeholder \"x_1\""), "{names}");
    });
}

#[test]
fn variables_are_read_at_run_start_and_assigned_when_fetched() {
    for dev in devices() {
        with_device(&dev, || {
            let v = Variable::new(Tensor::from_slice(&[1.0f32, 2.0], [2]).unwrap(), "v", true);
            let g = Graph::new().unwrap();
            let (x, r, up) = g
                .as_default(|| {
                    let x = v1::placeholder(DType::F32, &[Some(2)], "x")?;
                    let r = (&v.read_value() * 2.0)?;
                    let up = v1::assign_add(&v, &x)?;
                    Ok((x, r, up))
                })
                .unwrap();
            let sess = Session::new(&g);
            let ten = Tensor::from_slice(&[10.0f32, 10.0], [2]).unwrap();
            // Not fetched: the assignment does not run (and `x` need not be fed).
            let out = sess.run(&[&r], &[]).unwrap();
            assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![2.0, 4.0]);
            assert_eq!(v.read_value().to_vec::<f32>().unwrap(), vec![1.0, 2.0]);
            // Fetched: it runs after the run's reads.
            let out = sess.run(&[&up, &r], &[(&x, &ten)]).unwrap();
            assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![11.0, 12.0]);
            assert_eq!(out[1].to_vec::<f32>().unwrap(), vec![2.0, 4.0]);
            assert_eq!(v.read_value().to_vec::<f32>().unwrap(), vec![11.0, 12.0]);
            sess.run(&[&up], &[(&x, &ten)]).unwrap();
            let out = sess.run(&[&r], &[]).unwrap();
            assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![42.0, 44.0], "{dev}");
            // In-place assignment has no handle to fetch in TF1: an error naming v1::assign.
            let err = g.as_default(|| v.assign(&ten)).unwrap_err().to_string();
            assert!(
                err.contains("variable 'v' cannot be assigned in place"),
                "{err}"
            );
            assert!(err.contains("compat::v1::assign"), "{err}");
            let err = g
                .as_default(|| v1::assign(&v, &Tensor::scalar(1.0f32)?))
                .unwrap_err()
                .to_string();
            assert_eq!(
                err,
                "assign: variable 'v' is float32 (2,) but the value is float32 ()"
            );
            let err = v1::assign(&v, &ten).unwrap_err().to_string();
            assert!(
                err.starts_with("assign: must be called directly inside"),
                "{err}"
            );
        });
    }
}

#[test]
fn prints_run_when_their_inputs_are_computed() {
    with_device(&Device::cpu(), || {
        let log = common::Log::default();
        let target = log.target();
        let g = Graph::new().unwrap();
        let (x, y, other) = g
            .as_default(|| {
                let x = v1::placeholder(DType::F32, &[None], "x")?;
                let y = (&x * 3.0)?;
                print_to(target, &[&y])?;
                Ok((x, y, Tensor::scalar(5.0f32).map(|c| ops::neg(&c))??))
            })
            .unwrap();
        let sess = Session::new(&g);
        let v = Tensor::from_slice(&[1.0f32, 2.0], [2]).unwrap();
        sess.run(&[&y], &[(&x, &v)]).unwrap();
        sess.run(&[&other], &[]).unwrap();
        sess.run(&[&y], &[(&x, &v)]).unwrap();
        assert_eq!(log.text(), "[3 6]\n[3 6]\n");
    });
}

#[test]
fn gradients_from_a_tape_are_fetchable() {
    for dev in devices() {
        with_device(&dev, || {
            let w = Variable::new(
                Tensor::from_slice(&[0.5f32, -1.0, 2.0], [3]).unwrap(),
                "w",
                true,
            );
            let g = Graph::new().unwrap();
            let (x, loss, dw, dx) = g
                .as_default(|| {
                    let x = v1::placeholder(DType::F32, &[Some(3)], "x")?;
                    let tape = GradientTape::new();
                    tape.watch(&x);
                    // loss = sum(x * w^2); d/dw = 2 x w, d/dx = w^2.
                    let wv = w.read_value();
                    let loss = ops::reduce_sum(&ops::mul(&x, &ops::mul(&wv, &wv)?)?, [0], false)?;
                    let grads = tape.gradient(&loss, &[&wv, &x])?;
                    Ok((
                        x,
                        loss,
                        grads[0].clone().unwrap(),
                        grads[1].clone().unwrap(),
                    ))
                })
                .unwrap();
            let sess = Session::new(&g);
            let xv = Tensor::from_slice(&[1.0f32, 2.0, 3.0], [3]).unwrap();
            let out = sess.run(&[&loss, &dw, &dx], &[(&x, &xv)]).unwrap();
            close(
                &out[0].to_vec::<f32>().unwrap(),
                &[0.25 + 2.0 + 12.0],
                1e-6,
                "loss",
            );
            close(
                &out[1].to_vec::<f32>().unwrap(),
                &[1.0, -4.0, 12.0],
                1e-6,
                "dw",
            );
            close(
                &out[2].to_vec::<f32>().unwrap(),
                &[0.25, 1.0, 4.0],
                1e-6,
                "dx",
            );
        });
    }
}

#[test]
fn gradients_over_unknown_dimensions_are_refused_not_wrong() {
    with_device(&Device::cpu(), || {
        let g = Graph::new().unwrap();
        let (x, m, dx) = g
            .as_default(|| {
                let x = v1::placeholder(DType::F32, &[None], "x")?;
                let tape = GradientTape::new();
                tape.watch(&x);
                let m = ops::reduce_mean(&ops::square(&x)?, [0], false)?;
                let dx = tape.gradient(&m, &[&x])?[0].clone().unwrap();
                Ok((x, m, dx))
            })
            .unwrap();
        let sess = Session::new(&g);
        let xv = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], [4]).unwrap();
        // The forward value re-plans for any size.
        let out = sess.run(&[&m], &[(&x, &xv)]).unwrap();
        assert_eq!(out[0].to_scalar::<f32>().unwrap(), 7.5);
        // The gradient rule baked the stand-in size into a broadcast: refused, not wrong.
        for n in [1usize, 4] {
            let xv = Tensor::from_slice(&vec![1.0f32; n], [n]).unwrap();
            let err = sess.run(&[&dx], &[(&x, &xv)]).unwrap_err().to_string();
            assert!(err.starts_with("Session.run: "), "{err}");
            assert!(err.contains(&format!("the feeds 'x' ({n},)")), "{err}");
            assert!(
                err.contains(&format!("stand-in size {} of an unknown", v1::UNKNOWN_DIM)),
                "{err}"
            );
        }
    });
}

#[test]
fn tf1_linear_regression_fits_y_equals_2x_plus_1() {
    for dev in devices() {
        with_device(&dev, || {
            let w = Variable::new(Tensor::scalar(0.0f32).unwrap(), "w", true);
            let b = Variable::new(Tensor::scalar(0.0f32).unwrap(), "b", true);
            let g = Graph::new().unwrap();
            let (x, y, loss, train) = g
                .as_default(|| {
                    let x = v1::placeholder(DType::F32, &[Some(8)], "x")?;
                    let y = v1::placeholder(DType::F32, &[Some(8)], "y")?;
                    let tape = GradientTape::new();
                    let pred = (&(&x * &w.read_value())? + &b.read_value())?;
                    let loss = ops::reduce_mean(&ops::square(&(&pred - &y)?)?, [0], false)?;
                    let grads = tape.gradient(&loss, &[&w, &b])?;
                    let lr = 0.1f32;
                    let dw = (grads[0].as_ref().unwrap() * lr)?;
                    let db = (grads[1].as_ref().unwrap() * lr)?;
                    let train = vec![v1::assign_sub(&w, &dw)?, v1::assign_sub(&b, &db)?];
                    Ok((x, y, loss, train))
                })
                .unwrap();
            let sess = Session::new(&g);
            let xs: Vec<f32> = (0..8).map(|i| i as f32 / 4.0 - 1.0).collect();
            let ys: Vec<f32> = xs.iter().map(|x| 2.0 * x + 1.0).collect();
            let xv = Tensor::from_slice(&xs, [8]).unwrap();
            let yv = Tensor::from_slice(&ys, [8]).unwrap();
            let feeds = [(&x, &xv), (&y, &yv)];
            let first = sess.run(&[&loss], &feeds).unwrap()[0]
                .to_scalar::<f32>()
                .unwrap();
            let mut last = first;
            for _ in 0..200 {
                let out = sess.run(&[&loss, &train[0], &train[1]], &feeds).unwrap();
                last = out[0].to_scalar::<f32>().unwrap();
            }
            assert!(first > 1.0, "{first}");
            assert!(last < 1e-4, "loss {first} -> {last} on {dev}");
            let (wv, bv) = (
                w.read_value().to_scalar::<f32>().unwrap(),
                b.read_value().to_scalar::<f32>().unwrap(),
            );
            assert!(
                (wv - 2.0).abs() < 0.02 && (bv - 1.0).abs() < 0.02,
                "{wv} {bv}"
            );
            assert_eq!(sess.cached_plans(), 2);
        });
    }
}

#[test]
fn control_flow_runs_in_a_session() {
    for dev in devices() {
        with_device(&dev, || {
            let g = Graph::new().unwrap();
            let (x, n, picked, doubled) = g
                .as_default(|| {
                    let x = v1::placeholder(DType::F32, &[None], "x")?;
                    let n = v1::placeholder(DType::I32, &[], "n")?;
                    let s = ops::reduce_sum(&x, [0], false)?;
                    let positive = ops::greater(&s, &ops::scalar_like(&s, 0.0)?)?;
                    let picked = cond(&positive, || &x * 2.0, || ops::neg(&x))?;
                    let out = while_loop(
                        |v| ops::less(&v[0], &v[2]),
                        |v| {
                            let i = ops::add(&v[0], &Tensor::scalar(1i32)?)?;
                            Ok(vec![i, (&v[1] * 2.0)?, v[2].clone()])
                        },
                        vec![Tensor::scalar(0i32)?, x.clone(), n.clone()],
                        None,
                    )?;
                    Ok((x, n, picked, out[1].clone()))
                })
                .unwrap();
            let sess = Session::new(&g);
            let up = Tensor::from_slice(&[1.0f32, 2.0, 3.0], [3]).unwrap();
            let down = Tensor::from_slice(&[-1.0f32, -2.0], [2]).unwrap();
            let three = Tensor::scalar(3i32).unwrap();
            let out = sess
                .run(&[&picked, &doubled], &[(&x, &up), (&n, &three)])
                .unwrap();
            assert_eq!(
                out[0].to_vec::<f32>().unwrap(),
                vec![2.0, 4.0, 6.0],
                "{dev}"
            );
            assert_eq!(
                out[1].to_vec::<f32>().unwrap(),
                vec![8.0, 16.0, 24.0],
                "{dev}"
            );
            let out = sess.run(&[&picked], &[(&x, &down)]).unwrap();
            assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![1.0, 2.0], "{dev}");
        });
    }
}
