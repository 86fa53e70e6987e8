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

use wgflow::keras::Sequential;
use wgflow::keras::activations::Activation::Relu;
use wgflow::keras::layers::{Dense, InputLayer, Layer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Default seed 2: see the README for the accuracy's spread over seeds.
    mnist_data::train(&[784], 128, 2, || {
        Sequential::new(vec![
            InputLayer::new(&[784]).into_ref(),
            Dense::new(512).activation(Relu).into_ref(),
            Dense::new(256).activation(Relu).into_ref(),
            Dense::new(10).into_ref(),
        ])
    })
}
