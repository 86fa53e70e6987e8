//! A whole training step — forward, gradients, optimizer update — traced into one plan.

use std::rc::Rc;
use wgflow::bench::W3Mlp;
use wgflow::optimizers::LearningRate;
use wgflow::optimizers::schedules::ExponentialDecay;
use wgflow::optimizers::{Adagrad, Adam, AdamW, Optimizer, RMSprop, SGD};
use wgflow::{Arg, Device, Result, Tensor, args, function, ops, with_device};

fn fresh_devices() -> Vec<Device> {
    // Logical devices of the test's own: counters and peaks are per device.
    let mut d = vec![Device::new(Device::cpu().physical_device(), Default::default()).unwrap()];
    if let Ok(g) = Device::wgpu(0) {
        d.push(Device::new(g.physical_device(), Default::default()).unwrap());
    }
    d
}

fn batch() -> (Tensor, Tensor) {
    let x = ops::random_normal([128, 784], 0.0, 1.0, 3).unwrap();
    let labels: Vec<i32> = (0..128).map(|i| (i * 7) % 10).collect();
    (x, Tensor::from_slice(&labels, [128]).unwrap())
}

fn values(m: &W3Mlp) -> Vec<Vec<f32>> {
    m.vars
        .iter()
        .map(|v| v.read_value().to_vec::<f32>().unwrap())
        .collect()
}

fn assert_close(a: &[Vec<f32>], b: &[Vec<f32>], tol: f32, what: &str) {
    for (x, y) in a.iter().zip(b) {
        for (p, q) in x.iter().zip(y) {
            assert!((p - q).abs() <= tol * (1.0 + q.abs()), "{what}: {p} vs {q}");
        }
    }
}

/// Steps `n` times eagerly and traced from the same start; weights and losses must agree.
fn compare(dev: &Device, make_opt: &dyn Fn() -> Rc<dyn Optimizer>, n: usize) {
    with_device(dev, || {
        let (x, y) = batch();
        let eager_model = W3Mlp::new().unwrap();
        let traced_model = Rc::new(W3Mlp::new().unwrap());
        let (eager_opt, traced_opt) = (make_opt(), make_opt());
        let mut eager_losses = vec![];
        for _ in 0..n {
            let l = eager_model.train_step(&x, &y, &*eager_opt).unwrap();
            eager_losses.push(l.to_scalar::<f32>().unwrap());
        }
        let (m, o) = (traced_model.clone(), traced_opt.clone());
        let step = function(move |a: &[Arg]| m.train_step(a[0].tensor()?, a[1].tensor()?, &*o));
        let mut traced_losses = vec![];
        for _ in 0..n {
            let l = step.call(args![&x, &y]).unwrap();
            traced_losses.push(l.to_scalar::<f32>().unwrap());
        }
        assert_eq!(step.tracing_count(), 1);
        assert_eq!(traced_opt.iterations(), n as i64);
        assert_close(&[traced_losses], &[eager_losses], 1e-4, "loss");
        assert_close(
            &values(&traced_model),
            &values(&eager_model),
            1e-4,
            "weights",
        );
    });
}

#[test]
fn traced_sgd_step_matches_eager() {
    for dev in fresh_devices() {
        compare(&dev, &|| Rc::new(SGD::new(0.01)), 3);
    }
}

#[test]
fn traced_adam_step_matches_eager() {
    // Adam's bias correction changes every step: the traced update must not freeze it.
    for dev in fresh_devices() {
        compare(&dev, &|| Rc::new(Adam::new(1e-3)), 3);
    }
}

#[test]
fn every_optimizer_variant_traces_to_its_eager_step() {
    // Each formula reads its hyperparameters from a host-written tensor when traced: the
    // order must match the eager kernel's for every variant, and schedules must advance.
    let decay = || LearningRate::schedule(ExponentialDecay::new(0.05, 1.0, 0.5));
    let makers: Vec<Box<dyn Fn() -> Rc<dyn Optimizer>>> = vec![
        Box::new(|| Rc::new(SGD::new(0.01).momentum(0.9))),
        Box::new(|| {
            Rc::new(
                SGD::new(0.01)
                    .momentum(0.9)
                    .nesterov(true)
                    .weight_decay(0.1),
            )
        }),
        Box::new(move || Rc::new(SGD::new(decay()))),
        Box::new(|| Rc::new(Adam::new(1e-3).amsgrad(true))),
        Box::new(|| Rc::new(AdamW::new(1e-3))),
        Box::new(|| Rc::new(RMSprop::new(1e-3).momentum(0.5).centered(true))),
        Box::new(|| Rc::new(RMSprop::new(1e-3))),
        Box::new(|| Rc::new(Adagrad::new(0.01))),
    ];
    let dev = &fresh_devices()[0];
    for make in &makers {
        compare(dev, &|| make(), 3);
    }
    if let Some(gpu) = fresh_devices().get(1) {
        compare(gpu, &|| makers[5](), 2);
    }
}

/// The traced step uses fewer dispatches than eager, one submission on wgpu,
/// and no more peak memory.
#[test]
fn traced_step_dispatches_and_memory() {
    for dev in fresh_devices() {
        with_device(&dev, || -> Result<()> {
            let (x, y) = batch();
            let model = Rc::new(W3Mlp::new()?);
            let opt = Rc::new(SGD::new(0.01));
            model.train_step(&x, &y, &*opt)?; // warm: pipelines, pool
            dev.synchronize()?;
            dev.reset_peak();
            let s0 = dev.stats();
            let l = model.train_step(&x, &y, &*opt)?;
            let s1 = dev.stats();
            l.to_scalar::<f32>()?;
            let eager_peak = dev.memory_info().peak;
            let (m, o) = (model.clone(), opt.clone());
            let step = function(move |a: &[Arg]| m.train_step(a[0].tensor()?, a[1].tensor()?, &*o));
            step.call(args![&x, &y])?.to_scalar::<f32>()?; // trace, compile, warm
            step.call(args![&x, &y])?.to_scalar::<f32>()?; // variables' second buffers
            dev.synchronize()?;
            dev.reset_peak();
            let s2 = dev.stats();
            let l = step.call(args![&x, &y])?;
            let s3 = dev.stats();
            l.to_scalar::<f32>()?;
            let traced_peak = dev.memory_info().peak;
            let (eager, traced) = (s1.dispatches - s0.dispatches, s3.dispatches - s2.dispatches);
            println!("{dev}: eager {eager} dispatches, traced {traced}; peak {eager_peak} vs {traced_peak}");
            // At most a third of eager's (38 -> 10: each bias gradient is computed by its
            // weight gradient's matmul, each update inside the kernel computing its gradient).
            assert!(traced * 3 <= eager, "{dev}: traced {traced} vs eager {eager}");
            assert_eq!(s3.submissions - s2.submissions, 0, "nothing submitted before the read");
            // The replay binds the buffers of an earlier call: no new bind groups.
            assert_eq!(s3.bind_groups, s2.bind_groups, "{dev}: bind groups made again");
            assert!(traced_peak <= eager_peak, "{dev}: peak {traced_peak} > {eager_peak}");
            Ok(())
        })
        .unwrap();
    }
}
