//! Input data: TFRecord files (TensorFlow's `tf.io` / `tf.data` file format). Host-side code
//! that reads and writes bytes; it sits above `ops` and knows no kernels.

mod crc32c;
mod tfrecord;

pub use crc32c::{crc32c, masked_crc32c};
pub use tfrecord::{
    TFRecordCompressionType, TFRecordDataset, TFRecordOptions, TFRecordReader, TFRecordWriter,
    encode_record,
};
