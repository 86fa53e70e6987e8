//! Core layers: Dense, Activation, Flatten, Reshape, Dropout, Rescaling.

use super::{BuildContext, Layer, Shape};
use crate::autodiff::Variable;
use crate::error::{Error, Result};
use crate::keras::activations::Activation as Act;
use crate::keras::initializers::Initializer;
use crate::keras::regularizers::Regularizer;
use crate::ops;
use crate::tensor::Tensor;
use std::sync::Arc;

fn last_dim(layer: &str, shape: &Shape) -> Result<usize> {
    match shape.last() {
        Some(Some(d)) if shape.len() >= 2 => Ok(*d),
        _ => Err(Error::shape(
            layer,
            format!(
                "needs inputs of rank 2 or more with a known last axis, got {}",
                super::fmt_shape(shape)
            ),
        )),
    }
}

/// `activation(inputs · kernel + bias)` over the last axis (Keras's `Dense`).
pub struct Dense {
    units: usize,
    activation: Act,
    use_bias: bool,
    kernel_initializer: Initializer,
    bias_initializer: Initializer,
    kernel_regularizer: Option<Regularizer>,
    bias_regularizer: Option<Regularizer>,
    input_dim: Option<usize>,
    kernel: Option<Variable>,
    bias: Option<Variable>,
}

impl Dense {
    /// `units` outputs, no activation, glorot-uniform kernel, zero bias (Keras's defaults).
    pub fn new(units: usize) -> Dense {
        Dense {
            units,
            activation: Act::Linear,
            use_bias: true,
            kernel_initializer: Initializer::glorot_uniform(),
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            bias_regularizer: None,
            input_dim: None,
            kernel: None,
            bias: None,
        }
    }
    pub fn activation(mut self, a: Act) -> Self {
        self.activation = a;
        self
    }
    pub fn use_bias(mut self, b: bool) -> Self {
        self.use_bias = b;
        self
    }
    pub fn kernel_initializer(mut self, i: Initializer) -> Self {
        self.kernel_initializer = i;
        self
    }
    pub fn bias_initializer(mut self, i: Initializer) -> Self {
        self.bias_initializer = i;
        self
    }
    pub fn kernel_regularizer(mut self, r: Regularizer) -> Self {
        self.kernel_regularizer = Some(r);
        self
    }
    pub fn bias_regularizer(mut self, r: Regularizer) -> Self {
        self.bias_regularizer = Some(r);
        self
    }
    /// Keras's `input_dim`: the model starting with this layer expects `[batch, dim]`.
    pub fn input_dim(mut self, dim: usize) -> Self {
        self.input_dim = Some(dim);
        self
    }
    pub fn units(&self) -> usize {
        self.units
    }
    pub fn kernel(&self) -> Option<&Variable> {
        self.kernel.as_ref()
    }
    pub fn bias(&self) -> Option<&Variable> {
        self.bias.as_ref()
    }
}

impl Layer for Dense {
    fn class_name(&self) -> &str {
        "Dense"
    }
    fn build(&mut self, ctx: &mut BuildContext, input_shapes: &[Shape]) -> Result<()> {
        let inputs = last_dim("Dense", &input_shapes[0])?;
        self.kernel = Some(ctx.add_weight(
            "kernel",
            &[inputs, self.units],
            self.kernel_initializer.clone(),
            true,
            self.kernel_regularizer,
        )?);
        if self.use_bias {
            self.bias = Some(ctx.add_weight(
                "bias",
                &[self.units],
                self.bias_initializer.clone(),
                true,
                self.bias_regularizer,
            )?);
        }
        Ok(())
    }
    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        let x = &inputs[0];
        let kernel = self.kernel.as_ref().expect("built").read_value();
        // Higher ranks: the last axis against the kernel, the others as rows.
        let y = if x.rank() == 2 {
            ops::matmul(x, &kernel)?
        } else {
            let k = *x.shape().last().unwrap_or(&0) as i64;
            let rows = ops::reshape(x, &[-1, k])?;
            let mut shape: Vec<i64> = x.shape().iter().map(|&d| d as i64).collect();
            *shape.last_mut().expect("rank >= 1") = self.units as i64;
            ops::reshape(&ops::matmul(&rows, &kernel)?, &shape)?
        };
        let y = match &self.bias {
            Some(b) => ops::bias_add(&y, &b.read_value())?,
            None => y,
        };
        self.activation.apply(&y)
    }
    fn compute_output_shape(&self, input_shapes: &[Shape]) -> Option<Result<Shape>> {
        let mut s = input_shapes[0].clone();
        Some(match s.last_mut() {
            Some(d) => {
                *d = Some(self.units);
                Ok(s)
            }
            None => Err(Error::shape("Dense", "needs inputs of rank 2 or more")),
        })
    }
    fn declared_input_shape(&self) -> Option<Shape> {
        self.input_dim.map(|d| vec![None, Some(d)])
    }
}

/// Applies an activation function (Keras's `Activation` layer).
pub struct Activation(pub Act);

impl Layer for Activation {
    fn class_name(&self) -> &str {
        "Activation"
    }
    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        self.0.apply(&inputs[0])
    }
    fn compute_output_shape(&self, input_shapes: &[Shape]) -> Option<Result<Shape>> {
        Some(Ok(input_shapes[0].clone()))
    }
}

/// Flattens every axis but the batch axis.
pub struct Flatten;

impl Layer for Flatten {
    fn class_name(&self) -> &str {
        "Flatten"
    }
    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        let x = &inputs[0];
        let batch = x.shape().first().copied().unwrap_or(1) as i64;
        let rest: usize = x.shape().iter().skip(1).product();
        ops::reshape(x, &[batch, rest as i64])
    }
    fn compute_output_shape(&self, input_shapes: &[Shape]) -> Option<Result<Shape>> {
        let s = &input_shapes[0];
        let rest: Option<usize> = s.iter().skip(1).try_fold(1usize, |a, d| d.map(|d| a * d));
        Some(Ok(vec![s.first().copied().flatten(), rest]))
    }
}

/// Reshapes each sample to `target_shape` (one entry may be -1).
pub struct Reshape {
    target_shape: Vec<i64>,
}

impl Reshape {
    pub fn new(target_shape: &[i64]) -> Reshape {
        Reshape {
            target_shape: target_shape.to_vec(),
        }
    }
}

impl Layer for Reshape {
    fn class_name(&self) -> &str {
        "Reshape"
    }
    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        let x = &inputs[0];
        let mut shape = vec![x.shape().first().copied().unwrap_or(1) as i64];
        shape.extend_from_slice(&self.target_shape);
        ops::reshape(x, &shape)
    }
}

/// Sets a fraction `rate` of the inputs to zero while training and scales the others by
/// `1 / (1 - rate)`; the identity at inference.
pub struct Dropout {
    rate: f32,
    seed: Option<u64>,
    noise_shape: Option<Vec<usize>>,
    calls: Arc<std::sync::atomic::AtomicU64>,
}

impl Dropout {
    pub fn new(rate: f32) -> Dropout {
        Dropout {
            rate,
            seed: None,
            noise_shape: None,
            calls: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }
    /// Makes the masks reproducible: the n-th training call uses a seed derived from
    /// `seed` and n.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
    /// The mask's shape (size 1 axes are shared), e.g. `[batch, 1, features]`.
    pub fn noise_shape(mut self, shape: &[usize]) -> Self {
        self.noise_shape = Some(shape.to_vec());
        self
    }
}

/// SplitMix64: the mask seeds of `Dropout`, and the host mask of a traced `Dropout`.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// In a traced step, uniforms in [0, 1) of `shape` made on the host on every replay (the
/// n-th replay's from `seed` and n): a seed fixed at trace time would give the same mask
/// every step.
fn host_uniform(
    calls: Arc<std::sync::atomic::AtomicU64>,
    seed: u64,
    shape: &[usize],
) -> Result<Tensor> {
    let size: usize = shape.iter().product();
    let uniform = crate::graph::host_tensor(
        "dropout_noise",
        Arc::new(move || {
            let n = calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut state = mix(seed ^ mix(n));
            Ok((0..size)
                .map(|_| {
                    state = mix(state);
                    (state >> 40) as f32 / (1u64 << 24) as f32
                })
                .collect())
        }),
    )?;
    let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    ops::reshape(&uniform, &dims)
}

/// Dropout masks made fresh on every training call: `1 / (1 - rate)` where kept, 0 where
/// dropped. Eagerly each mask has its own seed from `seed` and a call count; in a traced
/// step (one plan replayed) the uniforms come from the host on every replay, as
/// [`Dropout`]'s do. The recurrent layers' `dropout` and `recurrent_dropout` use it.
#[derive(Clone)]
pub(crate) struct DropoutMasks {
    seed: u64,
    calls: Arc<std::sync::atomic::AtomicU64>,
}

impl DropoutMasks {
    pub(crate) fn new(seed: u64) -> DropoutMasks {
        DropoutMasks {
            seed,
            calls: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    /// A new mask of `shape` (float32) dropping `rate` of it.
    pub(crate) fn mask(&self, rate: f32, shape: &[usize]) -> Result<Tensor> {
        let base = self.seed;
        let scale = 1.0 / (1.0 - rate as f64);
        if !crate::graph::is_tracing() {
            let n = self
                .calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let ones = ops::ones(shape, crate::DType::F32)?;
            return ops::dropout(&ones, rate, mix(base ^ mix(n)), None);
        }
        let u = host_uniform(self.calls.clone(), base, shape)?;
        let keep = ops::greater_equal(&u, &ops::scalar_like(&u, rate as f64)?)?;
        ops::where_(
            &keep,
            &ops::scalar_like(&u, scale)?,
            &ops::scalar_like(&u, 0.0)?,
        )
    }
}

impl Layer for Dropout {
    fn class_name(&self) -> &str {
        "Dropout"
    }
    fn build(&mut self, _ctx: &mut BuildContext, _input_shapes: &[Shape]) -> Result<()> {
        if !(0.0..1.0).contains(&self.rate) {
            return Err(Error::invalid(
                "Dropout",
                format!("rate must be in [0, 1), got {}", self.rate),
            ));
        }
        if self.seed.is_none() {
            self.seed = Some(crate::keras::next_seed());
        }
        Ok(())
    }
    fn call(&self, inputs: &[Tensor], training: bool) -> Result<Tensor> {
        let x = &inputs[0];
        if !training || self.rate == 0.0 {
            return Ok(x.clone());
        }
        let base = self.seed.unwrap_or(0);
        let noise: Vec<usize> = self
            .noise_shape
            .clone()
            .unwrap_or_else(|| x.shape().to_vec());
        if !crate::graph::is_tracing() {
            let n = self
                .calls
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return ops::dropout(x, self.rate, mix(base ^ mix(n)), Some(&noise));
        }
        // A traced step replays one plan, so a seed fixed at trace time would give the same
        // mask every step: the uniform values come from the host on each call instead.
        let u = host_uniform(self.calls.clone(), base, &noise)?;
        let keep = ops::greater_equal(&u, &ops::scalar_like(&u, self.rate as f64)?)?;
        let scaled = ops::mul(x, &ops::scalar_like(x, 1.0 / (1.0 - self.rate as f64))?)?;
        ops::where_(&keep, &scaled, &ops::scalar_like(x, 0.0)?)
    }
    fn compute_output_shape(&self, input_shapes: &[Shape]) -> Option<Result<Shape>> {
        Some(Ok(input_shapes[0].clone()))
    }
}

/// `inputs * scale + offset` (e.g. `Rescaling(1/255)` for pixels).
pub struct Rescaling {
    scale: f64,
    offset: f64,
}

impl Rescaling {
    pub fn new(scale: f64, offset: f64) -> Rescaling {
        Rescaling { scale, offset }
    }
}

impl Layer for Rescaling {
    fn class_name(&self) -> &str {
        "Rescaling"
    }
    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        let x = ops::cast(&inputs[0], crate::DType::F32)?;
        let y = ops::mul(&x, &ops::scalar_like(&x, self.scale)?)?;
        ops::add(&y, &ops::scalar_like(&x, self.offset)?)
    }
    fn compute_output_shape(&self, input_shapes: &[Shape]) -> Option<Result<Shape>> {
        Some(Ok(input_shapes[0].clone()))
    }
}

/// Keras's `InputLayer` for `Sequential`: declares the per-sample input shape.
pub struct InputLayer {
    shape: Shape,
}

impl InputLayer {
    pub fn new(shape: &[usize]) -> InputLayer {
        let mut s = vec![None];
        s.extend(super::known(shape));
        InputLayer { shape: s }
    }
    /// Fixes the batch size (Keras's `Input(shape, batch_size=...)`), as a stateful RNN
    /// needs.
    pub fn batch_size(mut self, batch: usize) -> InputLayer {
        self.shape[0] = Some(batch);
        self
    }
}

impl Layer for InputLayer {
    fn class_name(&self) -> &str {
        "InputLayer"
    }
    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        Ok(inputs[0].clone())
    }
    fn declared_input_shape(&self) -> Option<Shape> {
        Some(self.shape.clone())
    }
}
