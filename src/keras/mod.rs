//! Keras in Rust (`tf.keras`): layers with Keras's life cycle (built on first use), models
//! (Sequential, functional, subclassed), losses, metrics, callbacks and the
//! `compile`/`fit`/`evaluate`/`predict` training API.
//!
//! Keras knows ops, never kernels (DESIGN.md): every layer is written with [`crate::ops`],
//! so it runs on every backend and, inside `fit`, is traced into the train step's one plan.
//!
//! ```
//! use wgflow::keras::layers::{Dense, Layer};
//! use wgflow::keras::{Input, Model};
//! let inputs = Input::named(&[4], "data");
//! let outputs = Dense::new(1).into_ref().apply(&[&inputs]).unwrap();
//! let model = Model::new(&[inputs], &[outputs], "linear").unwrap();
//! assert_eq!(model.count_params(), 5);
//! ```

pub mod activations;
pub mod callbacks;
pub mod initializers;
pub mod layers;
pub mod losses;
pub mod metrics;
mod model;
mod progress;
pub mod regularizers;
mod summary;

pub use layers::{Input, KerasTensor, Layer, LayerRef};
pub use model::{
    ClassWeight, CompileOptions, Compiled, EvaluateOptions, FitData, FitOptions, History, LossArg,
    MetricArg, Model, PerOutput, Sequential, class_weight_to_sample_weights,
};
pub use progress::Verbose;

use std::cell::Cell;

thread_local! {
    static SEED: Cell<Option<u64>> = const { Cell::new(None) };
}

/// Seeds every unseeded initializer, `Dropout` and `fit`'s shuffling on this thread (Keras's
/// `keras.utils.set_random_seed`): the same seed builds the same model and the same run.
pub fn set_random_seed(seed: u64) {
    SEED.with(|s| s.set(Some(seed)));
}

/// The next seed of this thread's sequence (SplitMix64), for things created without one.
/// Without [`set_random_seed`] the sequence starts from the clock, as Keras's does.
pub(crate) fn next_seed() -> u64 {
    SEED.with(|s| {
        let state = s.get().unwrap_or_else(clock_seed);
        let state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        s.set(Some(state));
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

#[cfg(not(target_arch = "wasm32"))]
fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9e37_79b9)
}

// The browser's clock is not reachable without js bindings: a fixed start.
#[cfg(target_arch = "wasm32")]
fn clock_seed() -> u64 {
    0x9e37_79b9
}

/// Rewrites an error from inside a layer so that it names the layer:
/// `layer 'dense_1' (Dense): matmul: ...`.
pub(crate) fn in_layer(e: crate::Error, name: &str, class: &str) -> crate::Error {
    use crate::Error;
    let tag = |op: String| {
        if op.starts_with("layer '") {
            op
        } else {
            format!("layer '{name}' ({class}): {op}")
        }
    };
    match e {
        Error::Shape { op, msg } => Error::Shape { op: tag(op), msg },
        Error::DType { op, msg } => Error::DType { op: tag(op), msg },
        Error::InvalidArgument { op, msg } => Error::InvalidArgument { op: tag(op), msg },
        other => other,
    }
}
