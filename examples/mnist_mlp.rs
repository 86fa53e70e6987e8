//! Keras's MNIST MLP (workload W5): `Sequential` 784-512-256-10 with ReLU, Adam 1e-3,
//! sparse categorical cross-entropy from logits, batch 128, trained with `fit` and scored
//! with `evaluate` on the 10,000 test images. Runs on the default device: a hardware GPU
//! when there is one, else the CPU (`--device cpu|wgpu` or `WGFLOW_DEVICE` chooses).
//!
//! Run: `cargo run --release --example mnist_mlp [-- --epochs 3] [--device cpu|wgpu]
//!       [--subset N] [--seed N] [--mnist DIR] [--eager]`
//! The MNIST files come from `--mnist DIR`, else `$WGFLOW_DATASETS/mnist` or
//! `~/.wgflow/datasets/mnist` (downloaded there on first use, as Keras does), trying
//! `../shared/data/mnist` beside the checkout first when `WGFLOW_DATASETS` is unset.
//! `--subset N` trains on the first N images (for quick checks).

#[path = "common/mnist.rs"]
mod mnist_data;

use mnist_data::option;
use std::time::Instant;
use wgflow::keras::activations::Activation::Relu;
use wgflow::keras::callbacks::{Callback, Logs};
use wgflow::keras::layers::{Dense, InputLayer, Layer};
use wgflow::keras::losses::SparseCategoricalCrossentropy;
use wgflow::keras::{EvaluateOptions, FitOptions, Model, Sequential, Verbose};
use wgflow::optimizers::Adam;
use wgflow::{Device, Tensor, current_device, device::parse_device_spec, with_device};

/// Times each epoch (on_epoch_begin to on_epoch_end, as the W5 measurement does) and then
/// scores the test images, outside the timed span.
struct TestEachEpoch {
    x: Tensor,
    y: Tensor,
    start: Instant,
}

impl Callback for TestEachEpoch {
    fn on_epoch_begin(&mut self, _model: &Model, _epoch: usize) -> wgflow::Result<()> {
        self.start = Instant::now();
        Ok(())
    }
    fn on_epoch_end(&mut self, model: &Model, epoch: usize, _logs: &Logs) -> wgflow::Result<()> {
        let seconds = self.start.elapsed().as_secs_f64();
        let logs = model.evaluate(
            (&self.x, &self.y),
            EvaluateOptions {
                batch_size: 1000,
                verbose: Verbose::Silent,
                ..Default::default()
            },
        )?;
        println!(
            "epoch {}: {seconds:.2} s, test accuracy {:.4}, test loss {:.4}",
            epoch + 1,
            logs["accuracy"],
            logs["loss"]
        );
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (train, test) = match mnist_data::load() {
        Ok(data) => data,
        Err(e) => {
            println!(
                "MNIST not available ({e}): pass --mnist DIR (the gzipped IDX files) or set \
                 WGFLOW_DATASETS; skipping this example."
            );
            return Ok(());
        }
    };
    let epochs: usize = option("--epochs").map_or(Ok(3), |e| e.parse())?;
    // Seeds the weights and the shuffling (Keras's `set_random_seed`).
    let seed: u64 = option("--seed").map_or(Ok(2), |e| e.parse())?;
    let subset: usize = option("--subset").map_or(Ok(usize::MAX), |e| e.parse())?;
    let device: Device = match option("--device") {
        Some(spec) => parse_device_spec(&spec)?,
        None => current_device()?,
    };
    // The data stays on the host, as Keras keeps numpy arrays: `fit` uploads each batch
    // (and on the CPU device gathers the batch inside the traced step).
    let host = Device::cpu();
    let (x_train, y_train) = with_device(&host, || mnist_data::tensors(&train, subset, &[784]))?;
    let (x_test, y_test) = with_device(&host, || mnist_data::tensors(&test, usize::MAX, &[784]))?;
    with_device(&device, || -> Result<(), Box<dyn std::error::Error>> {
        println!(
            "device: {device}; {} training and {} test images",
            x_train.shape()[0],
            x_test.shape()[0]
        );
        wgflow::keras::set_random_seed(seed);
        let model = Sequential::new(vec![
            InputLayer::new(&[784]).into_ref(),
            Dense::new(512).activation(Relu).into_ref(),
            Dense::new(256).activation(Relu).into_ref(),
            Dense::new(10).into_ref(),
        ])?;
        model.print_summary();
        model.compile(
            Adam::new(1e-3),
            SparseCategoricalCrossentropy::new().from_logits(true),
            vec!["accuracy".into()],
        )?;
        model.set_run_eagerly(std::env::args().any(|a| a == "--eager"));
        let scores = TestEachEpoch {
            x: x_test,
            y: y_test,
            start: Instant::now(),
        };
        model.fit(
            (&x_train, &y_train),
            FitOptions {
                epochs,
                batch_size: 128,
                callbacks: vec![Box::new(scores)],
                ..Default::default()
            },
        )?;
        Ok(())
    })
}
