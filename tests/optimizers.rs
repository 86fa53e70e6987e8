//! Optimizers against Keras 3 fixtures (tests/fixtures/tensorflow/optimizers), on the CPU
//! and wgpu devices: five steps each, 1e-6 relative + 1e-7 absolute.

mod common;

use common::devices;
use serde_json::Value;
use std::path::{Path, PathBuf};
use wgflow::optimizers::{
    Adagrad, Adam, AdamW, CosineDecay, ExponentialDecay, InverseTimeDecay, LearningRate,
    LearningRateSchedule, Optimizer, PiecewiseConstantDecay, RMSprop, SGD, minimize,
};
use wgflow::{Device, Error, Tensor, Variable, ops, with_device};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tensorflow/optimizers")
}

fn f(c: &Value, k: &str) -> Option<f64> {
    c.get(k).and_then(Value::as_f64)
}

/// Builds the optimizer a Keras config describes.
fn build(kind: &str, c: &Value) -> Box<dyn Optimizer> {
    let lr = f(c, "learning_rate").unwrap();
    macro_rules! common {
        ($o:expr) => {{
            let mut o = $o;
            if let Some(v) = f(c, "clipnorm") {
                o = o.clipnorm(v);
            }
            if let Some(v) = f(c, "clipvalue") {
                o = o.clipvalue(v);
            }
            if let Some(v) = f(c, "global_clipnorm") {
                o = o.global_clipnorm(v);
            }
            if let Some(v) = f(c, "weight_decay") {
                o = o.weight_decay(v);
            }
            Box::new(o)
        }};
    }
    match kind {
        k if k.starts_with("adamw") => common!(
            AdamW::new(lr)
                .beta_1(f(c, "beta_1").unwrap())
                .beta_2(f(c, "beta_2").unwrap())
                .epsilon(f(c, "epsilon").unwrap())
                .amsgrad(c["amsgrad"].as_bool().unwrap())
        ),
        k if k.starts_with("adam") => common!(
            Adam::new(lr)
                .beta_1(f(c, "beta_1").unwrap())
                .beta_2(f(c, "beta_2").unwrap())
                .epsilon(f(c, "epsilon").unwrap())
                .amsgrad(c["amsgrad"].as_bool().unwrap())
        ),
        k if k.starts_with("sgd") => common!(
            SGD::new(lr)
                .momentum(f(c, "momentum").unwrap())
                .nesterov(c["nesterov"].as_bool().unwrap())
        ),
        k if k.starts_with("rmsprop") => common!(
            RMSprop::new(lr)
                .rho(f(c, "rho").unwrap())
                .momentum(f(c, "momentum").unwrap())
                .epsilon(f(c, "epsilon").unwrap())
                .centered(c["centered"].as_bool().unwrap())
        ),
        k if k.starts_with("adagrad") => common!(
            Adagrad::new(lr)
                .initial_accumulator_value(f(c, "initial_accumulator_value").unwrap())
                .epsilon(f(c, "epsilon").unwrap())
        ),
        other => panic!("unknown optimizer {other}"),
    }
}

fn load(dir: &Path, name: &str) -> Tensor {
    let a = wgflow::npy::read_npy_array(dir.join(name)).unwrap();
    let data: Vec<f32> = a.words.iter().map(|&w| f32::from_bits(w)).collect();
    Tensor::from_slice(&data, &a.shape).unwrap()
}

fn host(dir: &Path, name: &str) -> Vec<f32> {
    let a = wgflow::npy::read_npy_array(dir.join(name)).unwrap();
    a.words.iter().map(|&w| f32::from_bits(w)).collect()
}

fn close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let tol = 1e-6 * w.abs() as f64 + 1e-7;
        assert!(
            ((g - w) as f64).abs() <= tol,
            "{what}[{i}]: got {g}, want {w} (diff {})",
            (g - w).abs()
        );
    }
}

fn case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("case.json").exists())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn keras_fixtures_match() {
    let dirs = case_dirs();
    assert!(dirs.len() >= 10, "fixtures missing: {dirs:?}");
    for dev in devices() {
        with_device(&dev, || {
            for dir in &dirs {
                let case: Value =
                    serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap())
                        .unwrap();
                let kind = case["optimizer"].as_str().unwrap();
                let steps = case["steps"].as_u64().unwrap_or(5) as usize;
                let opt = build(kind, &case["config"]);
                let var = Variable::new(load(dir, "var_0.npy"), "dense/kernel", true);
                for k in 1..=steps {
                    let g = load(dir, &format!("grad_{k}.npy"));
                    opt.apply_gradients(&[(g, &var)]).unwrap();
                    assert_eq!(opt.iterations(), k as i64);
                    close(
                        &var.read_value().to_vec::<f32>().unwrap(),
                        &host(dir, &format!("var_{k}.npy")),
                        &format!("{kind} on {dev} step {k}"),
                    );
                }
            }
        });
    }
}

fn fresh(dev: &Device) -> Device {
    Device::new(dev.physical_device(), Default::default()).unwrap()
}

#[test]
fn one_dispatch_per_variable_per_step() {
    type Make = Box<dyn Fn() -> Box<dyn Optimizer>>;
    let opts: Vec<(&str, Make)> = vec![
        ("sgd", Box::new(|| Box::new(SGD::new(0.1)))),
        ("sgd_m", Box::new(|| Box::new(SGD::new(0.1).momentum(0.9)))),
        (
            "nesterov",
            Box::new(|| Box::new(SGD::new(0.1).momentum(0.9).nesterov(true))),
        ),
        ("adam", Box::new(|| Box::new(Adam::new(0.01)))),
        (
            "amsgrad",
            Box::new(|| Box::new(Adam::new(0.01).amsgrad(true))),
        ),
        ("adamw", Box::new(|| Box::new(AdamW::new(0.01)))),
        ("adagrad", Box::new(|| Box::new(Adagrad::new(0.1)))),
        ("rmsprop", Box::new(|| Box::new(RMSprop::new(0.01)))),
        (
            "rmsprop_cm",
            Box::new(|| Box::new(RMSprop::new(0.01).momentum(0.5).centered(true))),
        ),
    ];
    for dev in devices() {
        let d = fresh(&dev);
        with_device(&d, || {
            let a = Variable::new(Tensor::from_slice(&[1.0f32; 6], [2, 3]).unwrap(), "a", true);
            let b = Variable::new(Tensor::from_slice(&[2.0f32; 4], [4]).unwrap(), "b", true);
            let ga = Tensor::from_slice(&[0.5f32; 6], [2, 3]).unwrap();
            let gb = Tensor::from_slice(&[-0.25f32; 4], [4]).unwrap();
            for (name, make) in &opts {
                let opt = make();
                // The first step also creates the slots (fill kernels).
                opt.apply_gradients(&[(ga.clone(), &a), (gb.clone(), &b)])
                    .unwrap();
                for _ in 0..3 {
                    let before = d.stats().dispatches;
                    opt.apply_gradients(&[(ga.clone(), &a), (gb.clone(), &b)])
                        .unwrap();
                    assert_eq!(
                        d.stats().dispatches - before,
                        2,
                        "{name} on {dev}: one kernel per variable per step"
                    );
                }
                a.read_value().to_vec::<f32>().unwrap();
            }
        });
    }
}

#[test]
fn shape_mismatch_names_the_variable() {
    for dev in devices() {
        with_device(&dev, || {
            let v = Variable::new(Tensor::from_slice(&[1.0f32; 6], [2, 3]).unwrap(), "w", true);
            let g = Tensor::from_slice(&[1.0f32; 6], [3, 2]).unwrap();
            let opt = Adam::new(0.1);
            let e = opt.apply_gradients(&[(g, &v)]).unwrap_err();
            assert!(matches!(e, Error::Shape { .. }), "{e:?}");
            assert!(e.to_string().contains("'w'"), "{e}");
            assert_eq!(opt.iterations(), 0);
            assert_eq!(v.read_value().to_vec::<f32>().unwrap(), vec![1.0; 6]);
        });
    }
}

#[test]
fn slots_are_named_like_keras() {
    let v = Variable::new(
        Tensor::from_slice(&[1.0f32, 2.0], [2]).unwrap(),
        "dense/bias",
        true,
    );
    let opt = Adam::new(0.1).amsgrad(true);
    let g = Tensor::from_slice(&[1.0f32, 1.0], [2]).unwrap();
    assert!(opt.get_slot(&v, "momentum").is_none());
    opt.apply_gradients(&[(g, &v)]).unwrap();
    for (slot, name) in [
        ("momentum", "dense_bias_momentum"),
        ("velocity", "dense_bias_velocity"),
        ("velocity_hat", "dense_bias_velocity_hat"),
    ] {
        let s = opt.get_slot(&v, slot).unwrap();
        assert_eq!(s.name(), name);
        assert!(!s.trainable());
    }
    let m = opt.get_slot(&v, "momentum").unwrap().read_value();
    close(&m.to_vec::<f32>().unwrap(), &[0.1, 0.1], "m after one step");
    let acc = Adagrad::new(0.1);
    acc.apply_gradients(&[(Tensor::from_slice(&[0.0f32, 0.0], [2]).unwrap(), &v)])
        .unwrap();
    close(
        &acc.get_slot(&v, "accumulator")
            .unwrap()
            .read_value()
            .to_vec::<f32>()
            .unwrap(),
        &[0.1, 0.1],
        "initial accumulator",
    );
}

#[test]
fn clipping_follows_keras() {
    for dev in devices() {
        with_device(&dev, || {
            // clipnorm: per gradient. g = [3, 4] has norm 5 → scaled to norm 1.
            let v = Variable::new(Tensor::from_slice(&[0.0f32, 0.0], [2]).unwrap(), "v", true);
            let g = || Tensor::from_slice(&[3.0f32, 4.0], [2]).unwrap();
            SGD::new(1.0)
                .clipnorm(1.0)
                .apply_gradients(&[(g(), &v)])
                .unwrap();
            close(
                &v.read_value().to_vec::<f32>().unwrap(),
                &[-0.6, -0.8],
                "clipnorm",
            );
            // clipvalue.
            let v = Variable::new(Tensor::from_slice(&[0.0f32, 0.0], [2]).unwrap(), "v", true);
            SGD::new(1.0)
                .clipvalue(3.5)
                .apply_gradients(&[(g(), &v)])
                .unwrap();
            close(
                &v.read_value().to_vec::<f32>().unwrap(),
                &[-3.0, -3.5],
                "clipvalue",
            );
            // global_clipnorm: [3, 4] and [12] have global norm 13 → scaled by 2/13.
            let v = Variable::new(Tensor::from_slice(&[0.0f32, 0.0], [2]).unwrap(), "v", true);
            let w = Variable::new(Tensor::from_slice(&[0.0f32], [1]).unwrap(), "w", true);
            let h = Tensor::from_slice(&[12.0f32], [1]).unwrap();
            SGD::new(1.0)
                .global_clipnorm(2.0)
                .apply_gradients(&[(g(), &v), (h, &w)])
                .unwrap();
            close(
                &v.read_value().to_vec::<f32>().unwrap(),
                &[-6.0 / 13.0, -8.0 / 13.0],
                "global_clipnorm v",
            );
            close(
                &w.read_value().to_vec::<f32>().unwrap(),
                &[-24.0 / 13.0],
                "global_clipnorm w",
            );
            // A zero gradient stays zero (no NaN from the norm).
            let v = Variable::new(Tensor::from_slice(&[1.0f32, 1.0], [2]).unwrap(), "v", true);
            SGD::new(1.0)
                .clipnorm(1.0)
                .apply_gradients(&[(Tensor::from_slice(&[0.0f32, 0.0], [2]).unwrap(), &v)])
                .unwrap();
            close(
                &v.read_value().to_vec::<f32>().unwrap(),
                &[1.0, 1.0],
                "zero",
            );
        });
    }
}

#[test]
fn minimize_and_schedules() {
    // minimize (x - 3)^2 with SGD: x -= lr * 2 (x - 3).
    let x = Variable::new(Tensor::from_slice(&[0.0f32], [1]).unwrap(), "x", true);
    let opt = SGD::new(0.25);
    for _ in 0..3 {
        minimize(
            &opt,
            || {
                let three = Tensor::from_slice(&[3.0f32], [1]).unwrap();
                let d = ops::sub(&x.read_value(), &three)?;
                ops::mul(&d, &d)
            },
            &[&x],
        )
        .unwrap();
    }
    // 0 → 1.5 → 2.25 → 2.625
    close(
        &x.read_value().to_vec::<f32>().unwrap(),
        &[2.625],
        "minimize",
    );

    let e = ExponentialDecay::new(0.1, 10.0, 0.5);
    assert!((e.at(10) - 0.05).abs() < 1e-12);
    assert!((e.clone().staircase(true).at(15) - 0.05).abs() < 1e-12);
    let p = PiecewiseConstantDecay::new(vec![2, 4], vec![1.0, 0.5, 0.1]).unwrap();
    assert_eq!(
        (0..6).map(|s| p.at(s)).collect::<Vec<_>>(),
        vec![1.0, 1.0, 1.0, 0.5, 0.5, 0.1]
    );
    assert!(PiecewiseConstantDecay::new(vec![1], vec![1.0]).is_err());
    let c = CosineDecay::new(1.0, 10.0);
    assert!((c.at(5) - 0.5).abs() < 1e-12 && c.at(20).abs() < 1e-12);
    let cw = CosineDecay::new(0.0, 10.0).warmup(1.0, 4.0);
    assert!((cw.at(2) - 0.5).abs() < 1e-12 && (cw.at(4) - 1.0).abs() < 1e-12);
    let it = InverseTimeDecay::new(1.0, 1.0, 0.5);
    assert!((it.at(2) - 0.5).abs() < 1e-12);

    // An optimizer driven by a schedule: lr 1.0 then 0.5.
    let v = Variable::new(Tensor::from_slice(&[0.0f32], [1]).unwrap(), "v", true);
    let opt = SGD::new(PiecewiseConstantDecay::new(vec![0], vec![1.0, 0.5]).unwrap());
    assert_eq!(opt.learning_rate(), 1.0);
    let g = Tensor::from_slice(&[1.0f32], [1]).unwrap();
    opt.apply_gradients(&[(g.clone(), &v)]).unwrap();
    assert_eq!(opt.learning_rate(), 0.5);
    opt.apply_gradients(&[(g, &v)]).unwrap();
    close(
        &v.read_value().to_vec::<f32>().unwrap(),
        &[-1.5],
        "schedule",
    );
    let _ = LearningRate::from(0.1);
}

fn training_ops(lr: f32) -> Vec<wgflow::ops::TrainingOp> {
    use wgflow::ops::TrainingOp::*;
    let mut v = vec![];
    for wd in [None, Some(0.004)] {
        v.push(Sgd {
            lr,
            momentum: None,
            nesterov: false,
            weight_decay: wd,
        });
        for nesterov in [false, true] {
            v.push(Sgd {
                lr,
                momentum: Some(0.9),
                nesterov,
                weight_decay: wd,
            });
        }
        for amsgrad in [false, true] {
            v.push(Adam {
                lr,
                alpha: lr * 0.3,
                one_minus_beta_1: 0.1,
                one_minus_beta_2: 0.001,
                epsilon: 1e-7,
                amsgrad,
                weight_decay: wd,
            });
        }
        v.push(Adagrad {
            lr,
            epsilon: 1e-7,
            weight_decay: wd,
        });
        for (momentum, centered) in [
            (None, false),
            (Some(0.5), false),
            (None, true),
            (Some(0.5), true),
        ] {
            v.push(RmsProp {
                lr,
                rho: 0.9,
                one_minus_rho: 0.1,
                momentum,
                epsilon: 1e-7,
                centered,
                weight_decay: wd,
            });
        }
    }
    v
}

/// Each update is one map kernel with an output per written buffer; its hyperparameters are
/// runtime constants (the WGSL does not change with them), and it validates with naga.
#[test]
fn training_kernels_are_single_multi_output_maps() {
    use wgflow::kernel::Kernel;
    use wgflow::ops::{Meta, Op, OpDef};
    for (a, b) in training_ops(0.01).into_iter().zip(training_ops(0.5)) {
        let n = 2 + a.slot_names().len();
        let ins = vec![Meta::new(vec![3, 5], wgflow::DType::F32); n];
        let lower = |op: &wgflow::ops::TrainingOp| {
            let op = Op::Training(op.clone());
            let outs = op.infer(&ins).unwrap();
            assert_eq!(outs.len(), n - 1);
            let low = op.lower(&ins, &outs).unwrap();
            assert_eq!(low.calls.len(), 1, "{op:?}: one kernel");
            low.calls[0].kernel.clone()
        };
        let (ka, kb) = (lower(&a), lower(&b));
        let Kernel::Map(mk) = &ka else {
            panic!("{a:?}: not a map kernel")
        };
        assert_eq!(mk.expr.outputs.len(), n - 1, "{a:?}");
        let Kernel::Map(mkb) = &kb else {
            panic!("{b:?}: not a map kernel")
        };
        assert!(!mk.expr.params().is_empty(), "{a:?}: runtime constants");
        assert_ne!(
            mk.expr.params(),
            mkb.expr.params(),
            "{a:?}: the learning rate is a runtime constant"
        );
        for software in [false, true] {
            let src = wgflow::kernel_wgsl(&ka, software).unwrap();
            assert_eq!(
                src,
                wgflow::kernel_wgsl(&kb, software).unwrap(),
                "{a:?}: the WGSL is independent of the hyperparameters"
            );
            let module = naga::front::wgsl::parse_str(&src)
                .unwrap_or_else(|e| panic!("{a:?}: {}\n{src}", e.emit_to_string(&src)));
            naga::valid::Validator::new(
                naga::valid::ValidationFlags::all(),
                naga::valid::Capabilities::all(),
            )
            .validate(&module)
            .unwrap_or_else(|e| panic!("{a:?}: {e:?}\n{src}"));
        }
        assert!(OpDef::name(&a).starts_with("ResourceApply"));
    }
}

/// No gradient flows through an update: the tape sees it and gives `None`.
#[test]
fn updates_have_no_gradient() {
    let x = Tensor::from_slice(&[1.0f32, 2.0], [2]).unwrap();
    let g = Tensor::from_slice(&[0.5f32, 0.5], [2]).unwrap();
    let tape = wgflow::GradientTape::new();
    tape.watch(&x);
    tape.watch(&g);
    let op = wgflow::ops::TrainingOp::Sgd {
        lr: 0.1,
        momentum: None,
        nesterov: false,
        weight_decay: None,
    };
    let out = ops::apply(ops::Op::Training(op), &[&x, &g]).unwrap();
    close(&out[0].to_vec::<f32>().unwrap(), &[0.95, 1.95], "sgd op");
    let grads = tape.gradient(&out[0], &[&x, &g]).unwrap();
    assert!(grads.iter().all(Option::is_none), "{grads:?}");
}
