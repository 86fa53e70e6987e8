//! Shared by the MNIST examples: command-line options, the data as tensors, and the
//! compile / fit / per-epoch test loop both examples run.

use std::path::Path;
use std::time::Instant;
use wgflow::datasets::mnist;
use wgflow::keras::callbacks::{Callback, Logs};
use wgflow::keras::losses::SparseCategoricalCrossentropy;
use wgflow::keras::{EvaluateOptions, FitOptions, Model, Verbose};
use wgflow::optimizers::Adam;
use wgflow::{Device, Tensor, current_device, device::parse_device_spec, with_device};

pub type Split = (ndarray::Array3<u8>, ndarray::Array1<u8>);

/// The value after `--name` on the command line.
pub fn option(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// MNIST from `--mnist DIR`, else `$WGFLOW_DATASETS/mnist` or `~/.wgflow/datasets/mnist`
/// (downloaded there on first use), trying `../shared/data/mnist` beside the checkout first
/// when `WGFLOW_DATASETS` is unset.
pub fn load() -> wgflow::Result<(Split, Split)> {
    if let Some(dir) = option("--mnist") {
        return mnist::load_data_from(dir);
    }
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    if std::env::var_os("WGFLOW_DATASETS").is_none() && shared.is_dir() {
        return mnist::load_data_from(shared);
    }
    mnist::load_data()
}

/// The first `limit` images scaled to [0, 1] with per-image shape `image_shape`, and
/// their labels as int32.
pub fn tensors(
    (images, labels): &Split,
    limit: usize,
    image_shape: &[usize],
) -> wgflow::Result<(Tensor, Tensor)> {
    let n = labels.len().min(limit);
    let x: Vec<f32> = images
        .iter()
        .take(n * 784)
        .map(|&p| p as f32 / 255.0)
        .collect();
    let y: Vec<i32> = labels.iter().take(n).map(|&l| l as i32).collect();
    let mut shape = vec![n];
    shape.extend_from_slice(image_shape);
    Ok((Tensor::from_vec(x, shape)?, Tensor::from_vec(y, [n])?))
}

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

/// Loads MNIST (or says why not and returns), builds the model with `build` on the chosen
/// device, compiles it with Adam 1e-3 and sparse categorical cross-entropy from logits, and
/// fits it with `batch_size`, scoring the test images after each epoch. Options:
/// `--epochs` (3), `--seed` (`default_seed`), `--subset`, `--device`, `--mnist`, `--eager`.
pub fn train(
    image_shape: &[usize],
    batch_size: usize,
    default_seed: u64,
    build: impl FnOnce() -> wgflow::Result<Model>,
) -> Result<(), Box<dyn std::error::Error>> {
    let (train, test) = match load() {
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
    let seed: u64 = option("--seed").map_or(Ok(default_seed), |e| e.parse())?;
    let subset: usize = option("--subset").map_or(Ok(usize::MAX), |e| e.parse())?;
    let device: Device = match option("--device") {
        Some(spec) => parse_device_spec(&spec)?,
        None => current_device()?,
    };
    // The data stays on the host, as Keras keeps numpy arrays: `fit` uploads each batch
    // (and on the CPU device gathers the batch inside the traced step).
    let host = Device::cpu();
    let (x_train, y_train) = with_device(&host, || tensors(&train, subset, image_shape))?;
    let (x_test, y_test) = with_device(&host, || tensors(&test, usize::MAX, image_shape))?;
    with_device(&device, || -> Result<(), Box<dyn std::error::Error>> {
        println!(
            "device: {device}; {} training and {} test images",
            x_train.shape()[0],
            x_test.shape()[0]
        );
        wgflow::keras::set_random_seed(seed);
        let model = build()?;
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
                batch_size,
                callbacks: vec![Box::new(scores)],
                ..Default::default()
            },
        )?;
        Ok(())
    })
}
