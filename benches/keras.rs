//! Criterion benches of Keras's training API against hand-written steps in the same
//! process: the W3 MLP step through `Model::train_on_batch` (the traced train step, with the
//! loss tracker and reading the logs) next to the hand-written traced W3 step, and the W4
//! CNN step through `train_on_batch`. Every iteration reads the loss back.

use criterion::{Criterion, criterion_group, criterion_main};
use std::rc::Rc;
use wgflow::bench::{W3Mlp, w4_cnn};
use wgflow::keras::Sequential;
use wgflow::keras::activations::Activation::Relu;
use wgflow::keras::layers::{Dense, InputLayer, Layer};
use wgflow::keras::losses::SparseCategoricalCrossentropy;
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

fn labels(n: usize) -> Tensor {
    let l: Vec<i32> = (0..n as i32).map(|i| (i * 7) % 10).collect();
    Tensor::from_slice(&l, [n]).unwrap()
}

fn w3(c: &mut Criterion) {
    let mut g = c.benchmark_group("W3_keras_vs_hand_written");
    g.sample_size(10);
    for dev in devices() {
        with_device(&dev, || {
            let x = ops::random_normal([128, 784], 0.0, 1.0, 3).unwrap();
            let y = labels(128);
            let (m, o) = (Rc::new(W3Mlp::new().unwrap()), Rc::new(SGD::new(0.01)));
            let step = function(move |a: &[Arg]| m.train_step(a[0].tensor()?, a[1].tensor()?, &*o));
            g.bench_function(tag(&dev, "hand-written traced step"), |b| {
                b.iter(|| {
                    step.call(args![&x, &y])
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap()
                })
            });
            let model = Sequential::new(vec![
                InputLayer::new(&[784]).into_ref(),
                Dense::new(512).activation(Relu).into_ref(),
                Dense::new(256).activation(Relu).into_ref(),
                Dense::new(10).into_ref(),
            ])
            .unwrap();
            model
                .compile(
                    SGD::new(0.01),
                    SparseCategoricalCrossentropy::new().from_logits(true),
                    vec![],
                )
                .unwrap();
            g.bench_function(tag(&dev, "keras train_on_batch"), |b| {
                b.iter(|| model.train_on_batch(&x, &y).unwrap()["loss"])
            });
        });
    }
    g.finish();
}

fn w4(c: &mut Criterion) {
    let mut g = c.benchmark_group("W4_cnn_step");
    g.sample_size(10);
    for dev in devices() {
        with_device(&dev, || {
            let model = w4_cnn().unwrap();
            let x = ops::random_uniform([64, 28, 28, 1], 0.0, 1.0, 1).unwrap();
            let y = labels(64);
            g.bench_function(tag(&dev, "keras train_on_batch"), |b| {
                b.iter(|| model.train_on_batch(&x, &y).unwrap()["loss"])
            });
        });
    }
    g.finish();
}

criterion_group!(benches, w3, w4);
criterion_main!(benches);
