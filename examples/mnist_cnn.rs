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

use wgflow::keras::Sequential;
use wgflow::keras::activations::Activation::Relu;
use wgflow::keras::layers::{Conv2D, Dense, Flatten, InputLayer, Layer, MaxPooling2D};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Default seed 1: see the README for the accuracy's spread over seeds.
    mnist_data::train(&[28, 28, 1], 64, 1, || {
        Sequential::new(vec![
            InputLayer::new(&[28, 28, 1]).into_ref(),
            Conv2D::new(32, 3).activation(Relu).into_ref(),
            MaxPooling2D::new(2).into_ref(),
            Conv2D::new(64, 3).activation(Relu).into_ref(),
            MaxPooling2D::new(2).into_ref(),
            Flatten.into_ref(),
            Dense::new(128).activation(Relu).into_ref(),
            Dense::new(10).into_ref(),
        ])
    })
}
