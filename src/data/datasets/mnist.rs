//! MNIST handwritten digits (Keras's `tf.keras.datasets.mnist`): 60,000 training and
//! 10,000 test images of 28x28 grey pixels, labels 0 to 9.

use super::{IdxFiles, Remote, TrainTest, load_idx_dataset};
use crate::error::Result;
use ndarray::{Array1, Array3};
use std::path::Path;

/// The mirror TensorFlow Datasets downloads MNIST from (LeCun's site no longer serves it).
pub const ORIGIN: &str = "https://storage.googleapis.com/cvdf-datasets/mnist/";

// Names and SHA-256 digests of the mirror's files as recorded by TensorFlow Datasets,
// tensorflow/datasets tensorflow_datasets/url_checksums/mnist.txt.
const FILES: IdxFiles = IdxFiles {
    train_images: Remote {
        name: "train-images-idx3-ubyte.gz",
        sha256: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    },
    train_labels: Remote {
        name: "train-labels-idx1-ubyte.gz",
        sha256: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    },
    test_images: Remote {
        name: "t10k-images-idx3-ubyte.gz",
        sha256: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    },
    test_labels: Remote {
        name: "t10k-labels-idx1-ubyte.gz",
        sha256: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
};

/// `((x_train, y_train), (x_test, y_test))`: images `[n, 28, 28]` and labels `[n]`, as
/// `u8` like Keras. Looks in `$WGFLOW_DATASETS/mnist/`, then `~/.wgflow/datasets/mnist/`,
/// then downloads (see [the module docs](super)).
pub fn load_data() -> Result<TrainTest<Array3<u8>, Array1<u8>>> {
    load_idx_dataset("mnist", ORIGIN, &FILES, None, 10)
}

/// [`load_data`] from the IDX files in `dir` only (never downloads).
pub fn load_data_from(dir: impl AsRef<Path>) -> Result<TrainTest<Array3<u8>, Array1<u8>>> {
    load_idx_dataset("mnist", ORIGIN, &FILES, Some(dir.as_ref()), 10)
}
