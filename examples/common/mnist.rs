//! Shared by the MNIST examples: command-line options and the data as tensors.

use std::path::Path;
use wgflow::Tensor;
use wgflow::datasets::mnist;

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
