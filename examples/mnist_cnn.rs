//! Keras's MNIST convnet (workload W4): Conv2D(32, 3x3, relu) → MaxPooling2D → Conv2D(64,
//! 3x3, relu) → MaxPooling2D → Flatten → Dense(128, relu) → Dense(10), Adam 1e-3, sparse
//! categorical cross-entropy from logits, batch 64, trained with `fit` and scored
//! with `evaluate` on the 10,000 test images. Runs on the default device: a hardware GPU
//! when there is one, else the CPU (`--device cpu|wgpu` or `WGFLOW_DEVICE` chooses).
//!
//! Run: `cargo run --release --example mnist_cnn [-- --epochs 3] [--device cpu|wgpu]
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
use wgflow::keras::layers::{Conv2D, Dense, Flatten, InputLayer, Layer, MaxPooling2D};
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
    let seed: u64 = option("--seed").map_or(Ok(1), |e| e.parse())?;
    let subset: usize = option("--subset").map_or(Ok(usize::MAX), |e| e.parse())?;
    let device: Device = match option("--device") {
        Some(spec) => parse_device_spec(&spec)?,
        None => current_device()?,
    };
    // The data stays on the host, as Keras keeps numpy arrays: `fit` uploads each batch
    // (and on the CPU device gathers the batch inside the traced step).
    let host = Device::cpu();
    let (x_train, y_train) =
        with_device(&host, || mnist_data::tensors(&train, subset, &[28, 28, 1]))?;
    let (x_test, y_test) = with_device(&host, || {
        mnist_data::tensors(&test, usize::MAX, &[28, 28, 1])
    })?;
    with_device(&device, || -> Result<(), Box<dyn std::error::Error>> {
        println!(
            "device: {device}; {} training and {} test images",
            x_train.shape()[0],
            x_test.shape()[0]
        );
        wgflow::keras::set_random_seed(seed);
        let model = Sequential::new(vec![
            InputLayer::new(&[28, 28, 1]).into_ref(),
            Conv2D::new(32, 3).activation(Relu).into_ref(),
            MaxPooling2D::new(2).into_ref(),
            Conv2D::new(64, 3).activation(Relu).into_ref(),
            MaxPooling2D::new(2).into_ref(),
            Flatten.into_ref(),
            Dense::new(128).activation(Relu).into_ref(),
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
                batch_size: 64,
                callbacks: vec![Box::new(scores)],
                ..Default::default()
            },
        )?;
        Ok(())
    })
}
