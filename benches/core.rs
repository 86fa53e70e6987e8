//! Criterion benches of the core engine on every device: W1 matmul, the W2 chain run
//! eagerly, a 1M-element reduce_sum, the W4 convolution shapes, and the dispatch overhead
//! of 1,000 tiny adds. Each
//! iteration waits for its result (`Device::synchronize`), as the peers' rules require.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::time::Duration;
use wgflow::{Axes, Device, Tensor, ops, with_device};

fn devices() -> Vec<Device> {
    let mut v = vec![Device::cpu()];
    v.extend(Device::wgpu(0).ok());
    v
}

fn tag(dev: &Device) -> &'static str {
    if dev.is_cpu() { "cpu" } else { "wgpu" }
}

fn matmul(c: &mut Criterion) {
    let mut g = c.benchmark_group("W1_matmul");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for dev in devices() {
        for n in [256usize, 1024, 2048] {
            with_device(&dev, || {
                let a = ops::random_normal([n, n], 0.0, 1.0, 1).unwrap();
                let b = ops::random_normal([n, n], 0.0, 1.0, 2).unwrap();
                g.throughput(Throughput::Elements((2 * n * n * n) as u64));
                g.bench_with_input(BenchmarkId::new(tag(&dev), n), &n, |bch, _| {
                    bch.iter(|| {
                        let c = ops::matmul(&a, &b).unwrap();
                        dev.synchronize().unwrap();
                        c
                    })
                });
            });
        }
    }
    g.finish();
}

fn elementwise(c: &mut Criterion) {
    let mut g = c.benchmark_group("W2_chain_eager");
    g.sample_size(20);
    for dev in devices() {
        with_device(&dev, || {
            let x = ops::random_normal([1 << 20], 0.0, 1.0, 3).unwrap();
            g.bench_function(tag(&dev), |b| {
                b.iter(|| {
                    wgflow::bench::w2_chain(&x)
                        .unwrap()
                        .to_vec::<f32>()
                        .unwrap()
                })
            });
        });
    }
    g.finish();
}

fn reduce(c: &mut Criterion) {
    let mut g = c.benchmark_group("reduce_sum_1M");
    g.sample_size(20);
    for dev in devices() {
        with_device(&dev, || {
            let x = ops::random_uniform([1 << 20], 0.0, 1.0, 4).unwrap();
            g.bench_function(tag(&dev), |b| {
                b.iter(|| {
                    ops::reduce_sum(&x, Axes::All, false)
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap()
                })
            });
        });
    }
    g.finish();
}

fn dispatch_overhead(c: &mut Criterion) {
    let mut g = c.benchmark_group("dispatch_1000_tiny_adds");
    g.sample_size(10);
    for dev in devices() {
        with_device(&dev, || {
            let x = Tensor::from_slice(&[1.0f32; 4], [4]).unwrap();
            g.bench_function(tag(&dev), |b| {
                b.iter(|| {
                    let mut y = x.clone();
                    for _ in 0..1000 {
                        y = ops::add(&y, &x).unwrap();
                    }
                    dev.synchronize().unwrap();
                    y
                })
            });
        });
    }
    g.finish();
}

/// The W4 CNN's convolutions (batch 64, 28x28x1 input): forward of both layers and the
/// second layer's two backprops, as a training step runs them.
fn conv2d_w4(c: &mut Criterion) {
    use wgflow::ops::{Conv2dOptions, Padding};
    let mut g = c.benchmark_group("W4_conv2d");
    g.sample_size(10).measurement_time(Duration::from_secs(5));
    let o = Conv2dOptions::new(1, Padding::Valid);
    for dev in devices() {
        with_device(&dev, || {
            let x1 = ops::random_uniform([64, 28, 28, 1], 0.0, 1.0, 1).unwrap();
            let f1 = ops::random_normal([3, 3, 1, 32], 0.0, 0.1, 2).unwrap();
            let x2 = ops::random_uniform([64, 13, 13, 32], 0.0, 1.0, 3).unwrap();
            let f2 = ops::random_normal([3, 3, 32, 64], 0.0, 0.1, 4).unwrap();
            let dy2 = ops::random_normal([64, 11, 11, 64], 0.0, 1.0, 5).unwrap();
            let run = |f: &dyn Fn() -> wgflow::Result<Tensor>| {
                let y = f().unwrap();
                dev.synchronize().unwrap();
                y
            };
            g.bench_function(BenchmarkId::new("conv1_forward", tag(&dev)), |b| {
                b.iter(|| run(&|| ops::conv2d(&x1, &f1, o)))
            });
            g.bench_function(BenchmarkId::new("conv2_forward", tag(&dev)), |b| {
                b.iter(|| run(&|| ops::conv2d(&x2, &f2, o)))
            });
            g.bench_function(BenchmarkId::new("conv2_backprop_input", tag(&dev)), |b| {
                b.iter(|| run(&|| ops::conv2d_backprop_input(&[64, 13, 13, 32], &f2, &dy2, o)))
            });
            g.bench_function(BenchmarkId::new("conv2_backprop_filter", tag(&dev)), |b| {
                b.iter(|| run(&|| ops::conv2d_backprop_filter(&x2, &[3, 3, 32, 64], &dy2, o)))
            });
        });
    }
    g.finish();
}

/// W3: one eager MLP training step (forward, tape gradient, SGD update), loss read back.
fn mlp_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("W3_mlp_step_eager");
    g.sample_size(20);
    for dev in devices() {
        with_device(&dev, || {
            let model = wgflow::bench::W3Mlp::new().unwrap();
            let x = ops::random_normal([128, 784], 0.0, 1.0, 3).unwrap();
            let labels: Vec<i32> = (0..128).map(|i| (i * 7) % 10).collect();
            let y = Tensor::from_slice(&labels, [128]).unwrap();
            let sgd = wgflow::optimizers::SGD::new(0.01);
            g.bench_function(tag(&dev), |b| {
                b.iter(|| {
                    model
                        .train_step(&x, &y, &sgd)
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap()
                })
            });
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    mlp_step,
    matmul,
    elementwise,
    reduce,
    dispatch_overhead,
    conv2d_w4
);
criterion_main!(benches);
