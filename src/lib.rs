//! # wgflow
//!
//! A TensorFlow-2-style machine-learning engine in Rust whose tensors live in GPU buffers and
//! whose ops are WGSL compute kernels run through wgpu (Vulkan, Metal, DX12, WebGPU in the
//! browser), with a CPU backend (rayon, packed GEMM) behind the same kernel IR.
//!
//! ```
//! use wgflow::{Tensor, ops};
//! let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap();
//! let y = ops::matmul(&x, &x).unwrap();
//! assert_eq!(y.to_vec::<f32>().unwrap(), vec![7.0, 10.0, 15.0, 22.0]);
//! ```
//!
//! The layers, top to bottom: [`ops`] (one catalog, one entry point [`ops::apply`]),
//! [`kernel`] (the backend-neutral IR), the backends (CPU and wgpu) and [`device`] /
//! [`memory`] (devices, pools with hard limits, counters).

pub mod autodiff;
pub(crate) mod backend;
#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
#[cfg(not(target_arch = "wasm32"))]
pub mod conformance;
pub mod data;
pub mod device;
pub mod dtype;
pub mod error;
pub mod graph;
// Keras's training loop reads losses and metrics back synchronously; in the browser every
// read is asynchronous, so Keras is not in the wasm32 build yet (an async `fit` is to come).
#[cfg(not(target_arch = "wasm32"))]
pub mod keras;
pub mod kernel;
pub mod memory;
pub mod module;
pub mod npy;
pub mod ops;
pub mod optimizers;
pub mod shape;
pub mod tensor;

/// TensorFlow's `tf.image` in one place: the image ops of [`ops::image`] (resize, flips,
/// `rot90`, `convert_image_dtype`) and the codecs of [`data::image`] (`decode_jpeg`,
/// `encode_png`, ...).
pub mod image {
    pub use crate::data::image::{decode_image, decode_jpeg, decode_png, encode_jpeg, encode_png};
    pub use crate::ops::image::*;
}

/// TensorFlow's `tf.compat`: `compat::v1` has TF1's graphs, placeholders and sessions.
pub mod compat {
    pub use crate::graph::session as v1;
}

/// Keras's `tf.keras.datasets`: `datasets::mnist::load_data()` and friends.
pub use data::datasets;

pub use autodiff::{
    GradientTape, Source, TapeOptions, UnconnectedGradients, Variable, custom_gradient, name_scope,
    stop_gradient, stop_recording, unique_name,
};
pub use device::{
    Device, DeviceType, KernelProfile, LogicalDeviceConfiguration, PhysicalDevice, current_device,
    default_device, list_physical_devices, memory_info, with_device,
};
pub use dtype::{DType, Element, Scalar};
pub use error::{Error, Result};
pub use graph::{
    Arg, Function, IndexArg, TensorArray, TensorSpec, WhileOptions, cond, for_range, function,
    init_scope, print, run_functions_eagerly, while_loop, while_loop_with,
};
pub use memory::{DeviceStats, MemoryInfo};
pub use module::Module;
pub use ops::Axes;
pub use tensor::Tensor;

/// Prints a kernel as the wgpu backend would compile it for a hardware GPU, or for a
/// software adapter such as lavapipe (for inspection and tests).
pub fn kernel_wgsl(kernel: &kernel::Kernel, software: bool) -> Result<String> {
    Ok(backend::wgpu::compile(kernel, &backend::wgpu::Target { software })?.source)
}
