//! Dataset loaders in Keras's style (`tf.keras.datasets`): [`mnist`], [`fashion_mnist`]
//! and [`cifar10`], each with a `load_data()` returning
//! `((x_train, y_train), (x_test, y_test))`.
//!
//! The arrays are `ndarray` arrays of `u8`, Keras's dtype and shapes: images
//! `[n, 28, 28]` or `[n, 32, 32, 3]` (height, width, channels) and labels `[n]` (CIFAR-10:
//! `[n, 1]`). Host arrays rather than tensors because wgflow has no 8-bit dtype — a tensor
//! would take four times the memory — and because they usually go through a
//! [`Dataset`](crate::data::Dataset) or a cast and scale first; [`to_tensor`] widens one
//! to an `int32` tensor.
//!
//! Where the files come from, in order:
//! 1. `$WGFLOW_DATASETS/<name>/` when that variable is set (tests and CI point it at
//!    `../shared/data`);
//! 2. `~/.wgflow/datasets/<name>/`, the download cache;
//! 3. a download from the dataset's usual public mirror into that cache with [`get_file`]:
//!    verified against the SHA-256 published by TensorFlow Datasets, then renamed into
//!    place, so a failed or partial download leaves no file behind.
//!
//! Files found in a folder are used as they are, without a hash check: a user's copy may
//! be re-compressed (the copy in `../shared/data/mnist` is), and a downloaded copy was
//! verified before it got its name. IDX files are accepted under their canonical names
//! (`train-images-idx3-ubyte.gz`), with a dot before `idx` (`train-images.idx3-ubyte.gz`)
//! and uncompressed. `load_data_from(dir)` reads one folder and never downloads.
//!
//! ```no_run
//! use wgflow::datasets::mnist;
//! let ((x_train, y_train), (x_test, y_test)) = mnist::load_data()?;
//! assert_eq!(x_train.shape(), &[60000, 28, 28]);
//! assert_eq!((y_train.len(), x_test.shape()[0], y_test.len()), (60000, 10000, 10000));
//! # Ok::<(), wgflow::Error>(())
//! ```

pub mod cifar10;
mod download;
pub mod fashion_mnist;
mod idx;
pub mod mnist;
mod tar;

pub use download::{cache_dir, get_file, sha256_file};
pub use idx::{parse_idx, read_idx};

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use ndarray::{Array1, Array3, ArrayBase, Data, Dimension, Ix1, Ix3};
use std::path::{Path, PathBuf};

/// Keras's `((x_train, y_train), (x_test, y_test))`.
pub type TrainTest<X, Y> = ((X, Y), (X, Y));

/// The environment variable naming the first folder searched for datasets.
pub const ENV_VAR: &str = "WGFLOW_DATASETS";

/// The folders searched for `<name>/`, in order: `$WGFLOW_DATASETS` (when set and not
/// empty), then [`cache_dir()`] (when there is a home directory).
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os(ENV_VAR).filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(d));
    }
    if let Ok(d) = cache_dir() {
        dirs.push(d);
    }
    dirs
}

/// A `u8` array as an `int32` tensor of the same shape on the current device (wgflow has
/// no 8-bit dtype).
pub fn to_tensor<S: Data<Elem = u8>, D: Dimension>(a: &ArrayBase<S, D>) -> Result<Tensor> {
    let v: Vec<u8> = a.iter().copied().collect();
    Tensor::from_u8(&v, a.shape())
}

/// A file of a dataset as its mirror serves it: the name, and the SHA-256 that TensorFlow
/// Datasets records for it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Remote {
    pub name: &'static str,
    pub sha256: &'static str,
}

/// The names a file may have in a user's folder: the canonical one, `-idx` spelled `.idx`
/// (the copy in `../shared/data/mnist`), and both without `.gz`.
fn aliases(canonical: &str) -> Vec<String> {
    let mut names = vec![canonical.to_string()];
    let dotted = canonical.replacen("-idx", ".idx", 1);
    if dotted != canonical {
        names.push(dotted);
    }
    let plain: Vec<String> = names
        .iter()
        .filter_map(|n| n.strip_suffix(".gz").map(str::to_string))
        .collect();
    names.extend(plain);
    names
}

/// The first of `names` that is a file in `dir`.
fn find_in(dir: &Path, names: &[String]) -> Option<PathBuf> {
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// `file` of dataset `name`: from the search folders, else downloaded from `base` + its
/// name into the cache.
fn locate(name: &str, base: &str, file: Remote) -> Result<PathBuf> {
    let names = aliases(file.name);
    let dirs = search_dirs();
    if let Some(p) = dirs.iter().find_map(|d| find_in(&d.join(name), &names)) {
        return Ok(p);
    }
    let url = format!("{base}{}", file.name);
    let searched = if dirs.is_empty() {
        format!("${ENV_VAR} is unset and there is no home directory")
    } else {
        let list: Vec<String> = dirs
            .iter()
            .map(|d| d.join(name).display().to_string())
            .collect();
        format!("not found in {}", list.join(" or "))
    };
    get_file(
        &format!("{name}/{}", file.name),
        &url,
        Some(file.sha256),
        None,
    )
    .map_err(|e| add_context(e, &format!("{name}: {} {searched}", file.name)))
}

/// `e` with `context` in front of its message, keeping its kind.
fn add_context(e: Error, context: &str) -> Error {
    match e {
        Error::Io { path, source } => Error::Io {
            path: format!("{path} ({context})"),
            source,
        },
        Error::Format { path, msg } => Error::Format {
            path,
            msg: format!("{msg} ({context})"),
        },
        Error::InvalidArgument { op, msg } => Error::InvalidArgument {
            op,
            msg: format!("{msg} ({context})"),
        },
        other => other,
    }
}

/// `file` in `dir` under any of its names, or a not-found error listing them.
fn in_dir(dir: &Path, file: Remote) -> Result<PathBuf> {
    let names = aliases(file.name);
    find_in(dir, &names).ok_or_else(|| {
        Error::io(
            dir.join(file.name).display(),
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("no file named {} in {}", names.join(", "), dir.display()),
            ),
        )
    })
}

/// The four IDX files of an MNIST-like dataset, in Keras's order.
pub(crate) struct IdxFiles {
    pub train_images: Remote,
    pub train_labels: Remote,
    pub test_images: Remote,
    pub test_labels: Remote,
}

type Images = Array3<u8>;
type Labels = Array1<u8>;

/// Loads an MNIST-like dataset from `dir`, or (without one) from the search folders or
/// the mirror `base`; labels must be below `classes`.
pub(crate) fn load_idx_dataset(
    name: &str,
    base: &str,
    files: &IdxFiles,
    dir: Option<&Path>,
    classes: u8,
) -> Result<TrainTest<Images, Labels>> {
    let path = |f: Remote| match dir {
        Some(d) => in_dir(d, f),
        None => locate(name, base, f),
    };
    let split = |images: Remote, labels: Remote| -> Result<(Images, Labels)> {
        let (ip, lp) = (path(images)?, path(labels)?);
        let x = read_idx(&ip)?;
        let y = read_idx(&lp)?;
        let x = x.into_dimensionality::<Ix3>().map_err(|_| {
            Error::format(
                ip.display(),
                "images must have 3 dimensions [n, rows, columns]",
            )
        })?;
        let y = y
            .into_dimensionality::<Ix1>()
            .map_err(|_| Error::format(lp.display(), "labels must have 1 dimension [n]"))?;
        if x.shape()[0] != y.len() {
            return Err(Error::format(
                lp.display(),
                format!(
                    "{} labels for {} images in {}",
                    y.len(),
                    x.shape()[0],
                    ip.display()
                ),
            ));
        }
        if let Some((i, &l)) = y.iter().enumerate().find(|(_, l)| **l >= classes) {
            return Err(Error::format(
                lp.display(),
                format!("label {i} is {l}; {name} has classes 0 to {}", classes - 1),
            ));
        }
        Ok((x, y))
    };
    Ok((
        split(files.train_images, files.train_labels)?,
        split(files.test_images, files.test_labels)?,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn aliases_cover_dotted_and_plain_names() {
        assert_eq!(
            super::aliases("train-images-idx3-ubyte.gz"),
            [
                "train-images-idx3-ubyte.gz",
                "train-images.idx3-ubyte.gz",
                "train-images-idx3-ubyte",
                "train-images.idx3-ubyte"
            ]
        );
    }
}
