//! Criterion benches of the `tf.data` input pipelines of `wgflow bench input-pipeline`:
//! MNIST from memory (map(normalise) → shuffle → batch(128) → prefetch) and from a TFRecord
//! file of Examples (parse_single_example → batch(128) → prefetch), with 1 and 2 map
//! threads; one iteration is one pass over the data. Uses real MNIST when wgflow's lookup
//! finds it (`WGFLOW_DATASETS`), else 60,000 synthetic images of the same size.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::time::Duration;
use wgflow::bench::{memory_pipeline, run_epoch, tfrecord_pipeline, write_mnist_tfrecord};
use wgflow::{Device, Tensor, with_device};

/// MNIST's training pixels and labels, or synthetic ones of the same shape.
fn data() -> (Vec<u8>, Vec<u8>) {
    let found = std::env::var_os("WGFLOW_DATASETS")
        .is_some()
        .then(wgflow::datasets::mnist::load_data)
        .and_then(|r| r.ok());
    match found {
        Some(((x, y), _)) => (x.iter().copied().collect(), y.iter().copied().collect()),
        None => {
            eprintln!("note: MNIST not found (set WGFLOW_DATASETS); using synthetic images");
            let n = 60000;
            let x = (0..n * 784).map(|i: usize| (i.wrapping_mul(2654435761) >> 24) as u8);
            (x.collect(), (0..n).map(|i| (i % 10) as u8).collect())
        }
    }
}

fn pipelines(c: &mut Criterion) {
    let (pixels, labels) = data();
    let n = labels.len();
    let (images, label_t) = with_device(&Device::cpu(), || {
        Ok::<_, wgflow::Error>((
            Tensor::from_u8(&pixels, [n, 28, 28]).unwrap(),
            Tensor::from_u8(&labels, [n]).unwrap(),
        ))
    })
    .unwrap();
    let path =
        std::env::temp_dir().join(format!("wgflow_bench_data_{}.tfrecord", std::process::id()));
    write_mnist_tfrecord(&path, &pixels, &labels).unwrap();

    let mut g = c.benchmark_group("input_pipeline");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(n as u64));
    for threads in [1usize, 2] {
        let ds = memory_pipeline(&images, &label_t, threads).unwrap();
        g.bench_with_input(BenchmarkId::new("memory", threads), &threads, |b, _| {
            b.iter(|| assert_eq!(run_epoch(&ds).unwrap(), n))
        });
        let ds = tfrecord_pipeline(&path, threads).unwrap();
        g.bench_with_input(BenchmarkId::new("tfrecord", threads), &threads, |b, _| {
            b.iter(|| assert_eq!(run_epoch(&ds).unwrap(), n))
        });
    }
    g.finish();
    let _ = std::fs::remove_file(&path);
}

criterion_group!(benches, pipelines);
criterion_main!(benches);
