//! `function`: tracing, retracing rules, print, variables — the seeds' semantics.

mod common;

use common::Log;
use std::io::Write;
use wgflow::graph::print_to;
use wgflow::{Arg, Device, Result, Tensor, TensorSpec, Variable, args, function, ops, with_device};

const MSG: &str = "The function is running in Python";

fn devices() -> Vec<Device> {
    let mut d = vec![Device::cpu()];
    if let Ok(g) = Device::wgpu(0) {
        d.push(g);
    }
    d
}

/// The seeds' `f(x)`: a Rust side effect (only while tracing) and a graph print (every call).
fn seed_function(log: &Log) -> wgflow::Function<()> {
    let log = log.clone();
    function(move |a: &[Arg]| -> Result<()> {
        writeln!(log.clone(), "{MSG}").unwrap();
        let x = match &a[0] {
            Arg::Tensor(t) => t.clone(),
            Arg::Int(v) => Tensor::scalar(*v as i32)?,
            Arg::Float(v) => Tensor::scalar(*v as f32)?,
            other => panic!("unexpected {other:?}"),
        };
        print_to(log.target(), &[&x])
    })
}

#[test]
fn tensors_retrace_per_dtype_and_shape() {
    for dev in devices() {
        with_device(&dev, || {
            let log = Log::default();
            let f = seed_function(&log);
            let arr = ndarray::arr0(2i32);
            f.call(args![Tensor::scalar(1i32).unwrap()]).unwrap();
            f.call(args![Tensor::scalar(2i32).unwrap()]).unwrap();
            f.call(args![Tensor::from_ndarray(&arr).unwrap()]).unwrap();
            f.call(args![Tensor::scalar(0.1f32).unwrap()]).unwrap();
            f.call(args![Tensor::scalar(0.2f32).unwrap()]).unwrap();
            assert_eq!(
                log.lines(),
                [MSG, "1", "2", "2", MSG, "0.1", "0.2"],
                "{dev}"
            );
            assert_eq!(f.tracing_count(), 2);
        });
    }
}

#[test]
fn host_values_retrace_per_value() {
    let log = Log::default();
    let f = seed_function(&log);
    for a in [
        Arg::Int(1),
        Arg::Int(2),
        Arg::Int(1),
        Arg::Float(0.1),
        Arg::Float(0.2),
        Arg::Float(0.1),
    ] {
        f.call(&[a]).unwrap();
    }
    assert_eq!(
        log.lines(),
        [MSG, "1", MSG, "2", "1", MSG, "0.1", MSG, "0.2", "0.1"]
    );
    assert_eq!(f.tracing_count(), 4);
}

#[test]
fn captured_variable_is_read_and_assigned_every_call() {
    for dev in devices() {
        with_device(&dev, || {
            let log = Log::default();
            let v = Variable::new(Tensor::scalar(1.0f32).unwrap(), "v", true);
            let (v2, log2) = (v.clone(), log.clone());
            // The seeds' DemoModule.addprint with an input signature.
            let addprint = function(move |a: &[Arg]| -> Result<Tensor> {
                v2.assign_add(a[0].tensor()?)?;
                let r = v2.read_value();
                print_to(log2.target(), &[&r])?;
                Ok(r)
            })
            .with_input_signature(vec![TensorSpec::of(&[], wgflow::DType::F32)]);
            for _ in 0..3 {
                addprint
                    .call(args![Tensor::scalar(2.0f32).unwrap()])
                    .unwrap();
            }
            assert_eq!(v.read_value().to_scalar::<f32>().unwrap(), 7.0);
            assert_eq!(log.lines(), ["3", "5", "7"]);
            assert_eq!(addprint.tracing_count(), 1);
            let err = addprint
                .call(args![Tensor::scalar(2i32).unwrap()])
                .unwrap_err()
                .to_string();
            assert!(err.contains("does not match the input signature"), "{err}");
        });
    }
}

#[test]
fn traced_matches_eager() {
    for dev in devices() {
        with_device(&dev, || {
            let f = |x: &Tensor| -> Result<Tensor> {
                let y = ops::mul(x, &ops::scalar_like(x, 1.5)?)?;
                let y = ops::tanh(&ops::add(&y, &ops::scalar_like(x, 0.5)?)?)?;
                ops::sigmoid(&ops::sub(&ops::mul(&y, x)?, &ops::scalar_like(x, 0.25)?)?)
            };
            let x = ops::random_normal([7, 5], 0.0, 1.0, 3).unwrap();
            let eager = f(&x).unwrap().to_vec::<f32>().unwrap();
            let tf = function(move |a: &[Arg]| f(a[0].tensor()?));
            for _ in 0..2 {
                let got = tf.call(args![&x]).unwrap().to_vec::<f32>().unwrap();
                for (a, b) in got.iter().zip(&eager) {
                    assert!((a - b).abs() < 1e-6, "{a} vs {b}");
                }
            }
        });
    }
}

#[test]
fn closure_error_leaves_the_cache_clean() {
    let f = function(|a: &[Arg]| -> Result<Tensor> {
        let x = a[0].tensor()?;
        ops::matmul(x, x)
    });
    let bad = Tensor::from_slice(&[1.0f32, 2.0, 3.0], [1, 3]).unwrap();
    assert!(f.call(args![&bad]).is_err());
    assert!(f.call(args![&bad]).is_err());
    assert_eq!(f.tracing_count(), 2, "a failed trace is not cached");
    let ok = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap();
    assert_eq!(
        f.call(args![&ok]).unwrap().to_vec::<f32>().unwrap(),
        vec![7.0, 10.0, 15.0, 22.0]
    );
    // Not tracing any more: eager ops work.
    assert!(!wgflow::graph::is_tracing());
}

#[test]
fn symbolic_tensors_have_no_values() {
    let f = function(|a: &[Arg]| -> Result<Tensor> {
        let x = a[0].tensor()?;
        let err = x.to_vec::<f32>().unwrap_err().to_string();
        assert!(err.contains("symbolic"), "{err}");
        Ok(x.clone())
    });
    let x = Tensor::from_slice(&[1.0f32], [1]).unwrap();
    assert_eq!(f.call(args![&x]).unwrap().to_vec::<f32>().unwrap(), [1.0]);
}

/// W2: `sigmoid(tanh(x*1.5+0.5)*x - 0.25)` is 6 kernels eagerly and 1 traced.
#[test]
fn w2_chain_is_one_dispatch_traced() {
    for shared in devices() {
        // A logical device of its own: counters are per device and tests run in parallel.
        let dev = Device::new(shared.physical_device(), Default::default()).unwrap();
        with_device(&dev, || {
            let chain = |x: &Tensor| -> Result<Tensor> {
                let a = ops::add(
                    &ops::mul(x, &ops::scalar_like(x, 1.5)?)?,
                    &ops::scalar_like(x, 0.5)?,
                )?;
                let b = ops::mul(&ops::tanh(&a)?, x)?;
                ops::sigmoid(&ops::sub(&b, &ops::scalar_like(x, 0.25)?)?)
            };
            let x = ops::random_uniform([333, 77], -2.0, 2.0, 5).unwrap();
            dev.synchronize().unwrap();
            let s0 = dev.stats().dispatches;
            let eager = chain(&x).unwrap();
            let s1 = dev.stats().dispatches;
            assert_eq!(s1 - s0, 6, "eager dispatches on {dev}");
            let f = function(move |a: &[Arg]| chain(a[0].tensor()?));
            f.call(args![&x]).unwrap(); // trace and compile
            let s2 = dev.stats().dispatches;
            let traced = f.call(args![&x]).unwrap();
            let s3 = dev.stats().dispatches;
            assert_eq!(s3 - s2, 1, "traced dispatches on {dev}");
            let (e, t) = (
                eager.to_vec::<f32>().unwrap(),
                traced.to_vec::<f32>().unwrap(),
            );
            for (a, b) in e.iter().zip(&t) {
                assert!((a - b).abs() < 1e-6, "{a} vs {b}");
            }
            let cf = f.get_concrete_function(args![&x]).unwrap();
            assert_eq!(cf.kernel_nodes(), 1, "{}", cf.graph());
        });
    }
}

/// Planning compiles a concrete function's pipelines; calls only dispatch them.
#[test]
fn pipelines_are_compiled_while_planning() {
    let Ok(gpu) = Device::wgpu(0) else {
        return; // WGFLOW_REQUIRE_GPU makes CI fail earlier when wgpu is missing
    };
    let dev = Device::new(gpu.physical_device(), Default::default()).unwrap();
    with_device(&dev, || {
        // A shape no other test uses, so its kernel is not in the pipeline cache yet.
        let x = ops::random_uniform([7, 331], -2.0, 2.0, 5).unwrap();
        let f = function(|a: &[Arg]| {
            let x = a[0].tensor()?;
            ops::softplus(&((x * 0.75)? - 3.5)?)
        });
        let s0 = dev.stats();
        f.get_concrete_function(args![&x]).unwrap();
        let s1 = dev.stats();
        assert!(
            s1.pipelines > s0.pipelines,
            "planning compiled the fused kernel"
        );
        assert_eq!(s1.dispatches, s0.dispatches, "planning ran nothing");
        for _ in 0..3 {
            f.call(args![&x]).unwrap().to_vec::<f32>().unwrap();
        }
        let s2 = dev.stats();
        assert_eq!(s2.pipelines, s1.pipelines, "calls compile nothing");
        assert_eq!(s2.dispatches - s1.dispatches, 3);
    });
}

#[test]
fn unknown_dimensions_share_a_trace_only_when_the_graph_allows() {
    for dev in devices() {
        with_device(&dev, || {
            let spec = || vec![TensorSpec::new(vec![None, Some(3)], wgflow::DType::F32)];
            // Shape-free work: one trace for every batch size, 0 included.
            let f = function(|a: &[Arg]| -> Result<Tensor> {
                let x = a[0].tensor()?;
                ops::reduce_sum(&ops::tanh(&((x * 2.0)? + 1.0)?)?, [1], false)
            })
            .with_input_signature(spec());
            for n in [2, 5, 0, 1, 5] {
                let x = ops::random_normal([n, 3], 0.0, 1.0, n as u64).unwrap();
                let want = ops::reduce_sum(
                    &ops::tanh(&((&x * 2.0).unwrap() + 1.0).unwrap()).unwrap(),
                    [1],
                    false,
                )
                .unwrap();
                let got = f.call(args![&x]).unwrap();
                assert_eq!(got.shape(), [n]);
                assert_eq!(
                    got.to_vec::<f32>().unwrap(),
                    want.to_vec::<f32>().unwrap(),
                    "{dev} n={n}"
                );
            }
            assert_eq!(f.tracing_count(), 1, "{dev}");
            // A mean's gradient scales by 1/n: the graph holds n, so each size is traced.
            let grad_of_mean = |x: &Tensor| -> Result<Tensor> {
                let tape = wgflow::GradientTape::new();
                tape.watch(x);
                let loss = ops::reduce_mean(&ops::square(x)?, wgflow::ops::Axes::All, false)?;
                Ok(tape.gradient(&loss, &[x])?.remove(0).expect("connected"))
            };
            let g = function(move |a: &[Arg]| grad_of_mean(a[0].tensor()?))
                .with_input_signature(spec());
            for n in [2, 1, 4, 2] {
                let x = ops::random_normal([n, 3], 0.0, 1.0, 7).unwrap();
                let want = grad_of_mean(&x).unwrap().to_vec::<f32>().unwrap();
                let got = g.call(args![&x]).unwrap();
                assert_eq!(got.shape(), [n, 3], "{dev}");
                let got = got.to_vec::<f32>().unwrap();
                for (a, b) in got.iter().zip(&want) {
                    assert!((a - b).abs() < 1e-6, "{dev} n={n}: {a} vs {b}");
                }
            }
            // The stand-in trace, then one per distinct size.
            assert_eq!(g.tracing_count(), 4, "{dev}");
        });
    }
}
