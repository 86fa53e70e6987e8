//! Input pipelines (TensorFlow's `tf.data`): [`Dataset`] streams elements — a tensor, a
//! tuple, a vector or a named map of tensors — through lazy transformations into a
//! training loop.

pub mod dataset;
pub use dataset::*;
