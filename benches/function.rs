//! Criterion benches of traced functions against the same work run eagerly, on every
//! device: the W2 chain (6 kernels eagerly, 1 traced) and the W3 MLP training step (SGD;
//! 38 dispatches eagerly, 13 traced). Each iteration reads its result back.

use criterion::{Criterion, criterion_group, criterion_main};
use std::rc::Rc;
use wgflow::bench::{W3Mlp, w2_chain};
use wgflow::optimizers::SGD;
use wgflow::{Arg, Device, Tensor, args, function, ops, with_device};

fn devices() -> Vec<Device> {
    let mut v = vec![Device::cpu()];
    v.extend(Device::wgpu(0).ok());
    v
}

fn tag(dev: &Device, variant: &str) -> String {
    format!("{}/{variant}", if dev.is_cpu() { "cpu" } else { "wgpu" })
}

fn w2(c: &mut Criterion) {
    let mut g = c.benchmark_group("W2_chain");
    g.sample_size(20);
    for dev in devices() {
        with_device(&dev, || {
            let x = ops::random_normal([1 << 20], 0.0, 1.0, 3).unwrap();
            let traced = function(|a: &[Arg]| w2_chain(a[0].tensor()?));
            g.bench_function(tag(&dev, "eager"), |b| {
                b.iter(|| w2_chain(&x).unwrap().to_vec::<f32>().unwrap())
            });
            g.bench_function(tag(&dev, "traced"), |b| {
                b.iter(|| traced.call(args![&x]).unwrap().to_vec::<f32>().unwrap())
            });
        });
    }
    g.finish();
}

fn w3(c: &mut Criterion) {
    let mut g = c.benchmark_group("W3_mlp_step");
    g.sample_size(10);
    for dev in devices() {
        with_device(&dev, || {
            let x = ops::random_normal([128, 784], 0.0, 1.0, 3).unwrap();
            let labels: Vec<i32> = (0..128).map(|i| (i * 7) % 10).collect();
            let y = Tensor::from_slice(&labels, [128]).unwrap();
            let (model, sgd) = (W3Mlp::new().unwrap(), SGD::new(0.01));
            g.bench_function(tag(&dev, "eager"), |b| {
                b.iter(|| {
                    let l = model.train_step(&x, &y, &sgd).unwrap();
                    l.to_scalar::<f32>().unwrap()
                })
            });
            let (m, o) = (Rc::new(W3Mlp::new().unwrap()), Rc::new(SGD::new(0.01)));
            let step = function(move |a: &[Arg]| m.train_step(a[0].tensor()?, a[1].tensor()?, &*o));
            g.bench_function(tag(&dev, "traced"), |b| {
                b.iter(|| {
                    step.call(args![&x, &y])
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap()
                })
            });
        });
    }
    g.finish();
}

criterion_group!(benches, w2, w3);
criterion_main!(benches);
