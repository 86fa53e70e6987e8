//! Weight initializers (`keras.initializers`), with Keras's defaults: `glorot_uniform` for
//! kernels, `zeros` for biases. Fans follow Keras: for a kernel of shape
//! `[..receptive field.., fan_in, fan_out]`, both fans are multiplied by the receptive field.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops;
use crate::tensor::Tensor;

/// How a weight's first value is drawn. `seed: None` draws a seed from
/// [`super::set_random_seed`]'s sequence.
#[derive(Clone, Debug, PartialEq)]
pub enum Initializer {
    Zeros,
    Ones,
    Constant(f64),
    /// Uniform in `[minval, maxval)`.
    RandomUniform {
        minval: f32,
        maxval: f32,
        seed: Option<u64>,
    },
    RandomNormal {
        mean: f32,
        stddev: f32,
        seed: Option<u64>,
    },
    /// Normal truncated at two standard deviations.
    TruncatedNormal {
        mean: f32,
        stddev: f32,
        seed: Option<u64>,
    },
    /// Uniform in `±sqrt(6 / (fan_in + fan_out))` (Keras's default for kernels).
    GlorotUniform {
        seed: Option<u64>,
    },
    /// Truncated normal with stddev `sqrt(2 / (fan_in + fan_out))`.
    GlorotNormal {
        seed: Option<u64>,
    },
    /// Truncated normal with stddev `sqrt(2 / fan_in)`.
    HeNormal {
        seed: Option<u64>,
    },
    /// Uniform in `±sqrt(6 / fan_in)`.
    HeUniform {
        seed: Option<u64>,
    },
    /// Truncated normal with stddev `sqrt(1 / fan_in)`.
    LecunNormal {
        seed: Option<u64>,
    },
    /// Uniform in `±sqrt(3 / fan_in)`.
    LecunUniform {
        seed: Option<u64>,
    },
    /// An orthogonal matrix (rows or columns orthonormal) times `gain` (Keras's default for
    /// recurrent kernels).
    Orthogonal {
        gain: f32,
        seed: Option<u64>,
    },
}

impl Initializer {
    pub fn glorot_uniform() -> Self {
        Initializer::GlorotUniform { seed: None }
    }
    pub fn he_normal() -> Self {
        Initializer::HeNormal { seed: None }
    }
    pub fn random_normal(mean: f32, stddev: f32, seed: Option<u64>) -> Self {
        Initializer::RandomNormal { mean, stddev, seed }
    }

    /// A float32 tensor of `shape` on the current device.
    pub fn initialize(&self, shape: &[usize]) -> Result<Tensor> {
        use Initializer::*;
        let seed = |s: &Option<u64>| s.unwrap_or_else(super::next_seed);
        let (fan_in, fan_out) = fans(shape);
        // Truncated-normal variance scaling: Keras divides by the truncation's stddev loss.
        let truncated = |scale: f64, fan: f64, s: &Option<u64>| {
            let stddev = ((scale / fan.max(1.0)).sqrt() / 0.879_625_661_034_239_8) as f32;
            ops::truncated_normal(shape, 0.0, stddev, seed(s))
        };
        let uniform = |scale: f64, fan: f64, s: &Option<u64>| {
            let limit = (3.0 * scale / fan.max(1.0)).sqrt() as f32;
            ops::random_uniform(shape, -limit, limit, seed(s))
        };
        match self {
            Zeros => ops::zeros(shape, DType::F32),
            Ones => ops::ones(shape, DType::F32),
            Constant(v) => ops::fill(shape, *v as f32),
            RandomUniform {
                minval,
                maxval,
                seed: s,
            } => ops::random_uniform(shape, *minval, *maxval, seed(s)),
            RandomNormal {
                mean,
                stddev,
                seed: s,
            } => ops::random_normal(shape, *mean, *stddev, seed(s)),
            TruncatedNormal {
                mean,
                stddev,
                seed: s,
            } => ops::truncated_normal(shape, *mean, *stddev, seed(s)),
            GlorotUniform { seed: s } => uniform(1.0, (fan_in + fan_out) / 2.0, s),
            GlorotNormal { seed: s } => truncated(1.0, (fan_in + fan_out) / 2.0, s),
            HeNormal { seed: s } => truncated(2.0, fan_in, s),
            HeUniform { seed: s } => uniform(2.0, fan_in, s),
            LecunNormal { seed: s } => truncated(1.0, fan_in, s),
            LecunUniform { seed: s } => uniform(1.0, fan_in, s),
            Orthogonal { gain, seed: s } => orthogonal(shape, *gain, seed(s)),
        }
    }
}

/// Keras's `compute_fans`.
fn fans(shape: &[usize]) -> (f64, f64) {
    match shape {
        [] => (1.0, 1.0),
        [n] => (*n as f64, *n as f64),
        [a, b] => (*a as f64, *b as f64),
        [field @ .., a, b] => {
            let r: usize = field.iter().product();
            ((r * a) as f64, (r * b) as f64)
        }
    }
}

/// A random orthogonal matrix: QR of a normal matrix (modified Gram-Schmidt in f64 on the
/// host, once per weight), signs fixed by R's diagonal as Keras does.
fn orthogonal(shape: &[usize], gain: f32, seed: u64) -> Result<Tensor> {
    if shape.len() < 2 {
        return Err(Error::invalid(
            "Orthogonal",
            format!("needs a shape of rank 2 or more, got {shape:?}"),
        ));
    }
    let cols = shape[shape.len() - 1];
    let rows: usize = shape[..shape.len() - 1].iter().product();
    let (n, m) = (rows.max(cols), rows.min(cols));
    // Orthonormal columns of an n x m normal matrix.
    let a = ops::random_normal([n, m], 0.0, 1.0, seed)?.to_f64_vec()?;
    let mut q = a.clone();
    for j in 0..m {
        for k in 0..j {
            let dot: f64 = (0..n).map(|i| q[i * m + j] * q[i * m + k]).sum();
            for i in 0..n {
                q[i * m + j] -= dot * q[i * m + k];
            }
        }
        let norm: f64 = (0..n).map(|i| q[i * m + j].powi(2)).sum::<f64>().sqrt();
        // R's diagonal is the norm (positive), so Keras's sign fix leaves columns as they are.
        for i in 0..n {
            q[i * m + j] /= norm.max(f64::MIN_POSITIVE);
        }
    }
    let mut out = vec![0.0f32; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            let v = if rows >= cols {
                q[r * m + c]
            } else {
                q[c * m + r]
            };
            out[r * cols + c] = gain * v as f32;
        }
    }
    Tensor::from_vec(out, shape)
}
