//! Fashion-MNIST (Keras's `tf.keras.datasets.fashion_mnist`): Zalando's 28x28 grey images
//! of clothing in 10 classes, 60,000 for training and 10,000 for test, in MNIST's format.

use super::{IdxFiles, Remote, TrainTest, load_idx_dataset};
use crate::error::Result;
use ndarray::{Array1, Array3};
use std::path::Path;

/// The mirror TensorFlow Datasets downloads Fashion-MNIST from (Zalando's; plain HTTP,
/// which the SHA-256 check makes safe).
pub const ORIGIN: &str = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";

/// The class names, by label.
pub const CLASS_NAMES: [&str; 10] = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
];

// Names and SHA-256 digests of the mirror's files as recorded by TensorFlow Datasets,
// tensorflow/datasets tensorflow_datasets/url_checksums/fashion_mnist.txt.
const FILES: IdxFiles = IdxFiles {
    train_images: Remote {
        name: "train-images-idx3-ubyte.gz",
        sha256: "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    },
    train_labels: Remote {
        name: "train-labels-idx1-ubyte.gz",
        sha256: "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    },
    test_images: Remote {
        name: "t10k-images-idx3-ubyte.gz",
        sha256: "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    },
    test_labels: Remote {
        name: "t10k-labels-idx1-ubyte.gz",
        sha256: "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
};

/// `((x_train, y_train), (x_test, y_test))`: images `[n, 28, 28]` and labels `[n]`, as
/// `u8` like Keras. Looks in `$WGFLOW_DATASETS/fashion_mnist/`, then
/// `~/.wgflow/datasets/fashion_mnist/`, then downloads (see [the module docs](super)).
pub fn load_data() -> Result<TrainTest<Array3<u8>, Array1<u8>>> {
    load_idx_dataset("fashion_mnist", ORIGIN, &FILES, None, 10)
}

/// [`load_data`] from the IDX files in `dir` only (never downloads).
pub fn load_data_from(dir: impl AsRef<Path>) -> Result<TrainTest<Array3<u8>, Array1<u8>>> {
    load_idx_dataset("fashion_mnist", ORIGIN, &FILES, Some(dir.as_ref()), 10)
}
