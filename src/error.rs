//! One error type for the whole engine. Every public op returns `Result<T>`; the message
//! names the op and the offending shapes, dtypes or values, as TensorFlow's messages do.

use std::fmt;

/// The error type of every fallible wgflow call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Shapes that do not fit together (`matmul: inner dimensions differ: [2, 3] x [4, 5]`).
    #[error("{op}: {msg}")]
    Shape { op: String, msg: String },
    /// A dtype the op does not accept, or two dtypes that must agree and do not.
    #[error("{op}: {msg}")]
    DType { op: String, msg: String },
    /// Any other bad argument: an axis out of range, an index out of bounds, a bad option.
    #[error("{op}: {msg}")]
    InvalidArgument { op: String, msg: String },
    /// An allocation would pass the logical device's memory limit.
    #[error(
        "resource exhausted on {device}: allocating {requested} bytes with {in_use} bytes in use would pass the memory limit of {limit} bytes"
    )]
    ResourceExhausted {
        device: String,
        requested: u64,
        in_use: u64,
        limit: u64,
    },
    /// The device reported an error (validation, out of memory) or was lost.
    #[error("{device}: {msg}")]
    Device { device: String, msg: String },
    /// Reading or writing a file failed.
    #[error("I/O error on {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// A file's contents are corrupt, truncated or not in the expected format.
    #[error("format error in {path}: {msg}")]
    Format { path: String, msg: String },
}

/// `Result` with wgflow's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn shape(op: &str, msg: impl fmt::Display) -> Self {
        Error::Shape {
            op: op.into(),
            msg: msg.to_string(),
        }
    }
    pub(crate) fn dtype(op: &str, msg: impl fmt::Display) -> Self {
        Error::DType {
            op: op.into(),
            msg: msg.to_string(),
        }
    }
    pub(crate) fn invalid(op: &str, msg: impl fmt::Display) -> Self {
        Error::InvalidArgument {
            op: op.into(),
            msg: msg.to_string(),
        }
    }
    pub(crate) fn device(device: &str, msg: impl fmt::Display) -> Self {
        Error::Device {
            device: device.into(),
            msg: msg.to_string(),
        }
    }
    pub(crate) fn io(path: impl fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_string(),
            source,
        }
    }
    pub(crate) fn format(path: impl fmt::Display, msg: impl fmt::Display) -> Self {
        Error::Format {
            path: path.to_string(),
            msg: msg.to_string(),
        }
    }
}
