//! Input data (TensorFlow's `tf.data` and `tf.io`): [`Dataset`] streams elements — a
//! tensor, a tuple, a vector or a named map of tensors — through lazy transformations into
//! a training loop; TFRecord files and `tf.train.Example` are the on-disk formats; JPEG and
//! PNG images decode to tensors (`decode_image`) and a folder of them per class becomes a
//! labelled dataset (`image_dataset_from_directory`); [`datasets`] loads MNIST,
//! Fashion-MNIST and CIFAR-10 like `tf.keras.datasets`.
//! Host-side code: it reads and writes bytes and makes tensors with public constructors,
//! so it sits above `ops` and knows no kernels.
//!
//! ```
//! use wgflow::data::{Example, FeatureDType, FixedLenFeature, TFRecordCompressionType,
//!     TFRecordDataset, TFRecordWriter, parse_single_example};
//! let path = std::env::temp_dir().join(format!("data_doc_{}.tfrecord", std::process::id()));
//! let mut w = TFRecordWriter::new(&path, TFRecordCompressionType::Gzip)?;
//! for label in 0..3 {
//!     w.write(&Example::new().with("label", label).serialize_to_string())?;
//! }
//! w.close()?;
//! let spec = [("label", FixedLenFeature::new([], FeatureDType::Int64).into())];
//! let mut labels = Vec::new();
//! for record in TFRecordDataset::new([&path], TFRecordCompressionType::Gzip) {
//!     let parsed = parse_single_example(&record?, &spec)?;
//!     labels.push(parsed.tensor("label")?.to_scalar::<i32>()?);
//! }
//! assert_eq!(labels, vec![0, 1, 2]);
//! # std::fs::remove_file(&path).unwrap();
//! # Ok::<(), wgflow::Error>(())
//! ```

mod crc32c;
pub mod dataset;
pub mod datasets;
mod example;
pub mod image;
mod image_dataset;
mod parse;
mod tfrecord;

pub use crc32c::{crc32c, masked_crc32c};
pub use dataset::*;
pub use example::{BytesList, Example, Feature, FeatureKind, Features, FloatList, Int64List};
pub use image::{decode_image, decode_jpeg, decode_png, encode_jpeg, encode_png};
pub use image_dataset::{
    ColorMode, ImageDataset, ImageDatasetOptions, LabelMode, Subset, image_dataset_from_directory,
    image_dataset_from_directory_both,
};
pub use parse::{
    BytesTensor, FeatureDType, FeatureSpec, FixedLenFeature, ParsedFeature, ParsedFeatures,
    SparseTensor, VarLenFeature, parse_example, parse_single_example,
};
pub use tfrecord::{
    TFRecordCompressionType, TFRecordDataset, TFRecordOptions, TFRecordReader, TFRecordWriter,
    encode_record,
};
