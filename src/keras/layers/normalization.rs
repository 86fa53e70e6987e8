//! Normalization layers: BatchNormalization, LayerNormalization.

use super::{BuildContext, Layer, Shape, fmt_shape};
use crate::autodiff::{Variable, stop_recording};
use crate::error::{Error, Result};
use crate::keras::initializers::Initializer;
use crate::keras::regularizers::Regularizer;
use crate::ops;
use crate::tensor::Tensor;

/// `axis` (negative counts from the end) as an index into a shape of `rank`.
fn resolve_axis(layer: &str, axis: i64, rank: usize) -> Result<usize> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if a < 0 || a >= rank as i64 {
        return Err(Error::invalid(
            layer,
            format!("axis {axis} is out of bounds for inputs of rank {rank}"),
        ));
    }
    Ok(a as usize)
}

/// The size of axis `a` of `shape`, which must be known (weights are made from it).
fn known_dim(layer: &str, shape: &Shape, a: usize) -> Result<usize> {
    shape.get(a).copied().flatten().ok_or_else(|| {
        Error::shape(
            layer,
            format!(
                "axis {a} of the input must have a known size, got {}",
                fmt_shape(shape)
            ),
        )
    })
}

/// `p` (a weight over the axes `axes` of the input) reshaped to broadcast against an input of
/// `rank`: size 1 on every other axis. Axes already at the end need no reshape.
fn broadcastable(p: &Tensor, axes: &[usize], rank: usize) -> Result<Tensor> {
    let trailing = axes
        .iter()
        .enumerate()
        .all(|(i, &a)| a == rank - axes.len() + i);
    if trailing {
        return Ok(p.clone());
    }
    let mut shape = vec![1i64; rank];
    for (&a, &d) in axes.iter().zip(p.shape()) {
        shape[a] = d as i64;
    }
    ops::reshape(p, &shape)
}

/// Normalizes each feature with the batch's statistics while training and with moving
/// averages of them at inference (Keras's `BatchNormalization`): `gamma * (x - mean) /
/// sqrt(variance + epsilon) + beta`.
///
/// A training call computes the mean and (biased) variance over every axis but `axis` and
/// moves `moving_mean`/`moving_variance` towards them with `moving = moving * momentum +
/// batch * (1 - momentum)`, through [`Variable::assign`] so that the update also happens in a
/// traced train step (`Model::fit`). The moving statistics are non-trainable weights.
///
/// As in Keras, a frozen layer (`LayerRef::set_trainable(false)`) always uses (and keeps)
/// its moving statistics, the usual fine-tuning setup.
pub struct BatchNormalization {
    axis: i64,
    momentum: f32,
    epsilon: f32,
    center: bool,
    scale: bool,
    beta_initializer: Initializer,
    gamma_initializer: Initializer,
    moving_mean_initializer: Initializer,
    moving_variance_initializer: Initializer,
    beta_regularizer: Option<Regularizer>,
    gamma_regularizer: Option<Regularizer>,
    /// The feature axis as an index, once built.
    feature_axis: Option<usize>,
    gamma: Option<Variable>,
    beta: Option<Variable>,
    moving_mean: Option<Variable>,
    moving_variance: Option<Variable>,
    frozen: bool,
}

impl Default for BatchNormalization {
    fn default() -> Self {
        Self::new()
    }
}

impl BatchNormalization {
    /// Keras's defaults: `axis=-1`, `momentum=0.99`, `epsilon=1e-3`, `center` and `scale`
    /// on, gamma and the moving variance start at one, beta and the moving mean at zero.
    pub fn new() -> BatchNormalization {
        BatchNormalization {
            axis: -1,
            momentum: 0.99,
            epsilon: 1e-3,
            center: true,
            scale: true,
            frozen: false,
            beta_initializer: Initializer::Zeros,
            gamma_initializer: Initializer::Ones,
            moving_mean_initializer: Initializer::Zeros,
            moving_variance_initializer: Initializer::Ones,
            beta_regularizer: None,
            gamma_regularizer: None,
            feature_axis: None,
            gamma: None,
            beta: None,
            moving_mean: None,
            moving_variance: None,
        }
    }
    /// The feature axis (kept; the statistics are over all the others), e.g. 1 for NCHW.
    pub fn axis(mut self, axis: i64) -> Self {
        self.axis = axis;
        self
    }
    pub fn momentum(mut self, m: f32) -> Self {
        self.momentum = m;
        self
    }
    pub fn epsilon(mut self, e: f32) -> Self {
        self.epsilon = e;
        self
    }
    /// Whether to add the learned offset `beta`.
    pub fn center(mut self, c: bool) -> Self {
        self.center = c;
        self
    }
    /// Whether to multiply by the learned `gamma`.
    pub fn scale(mut self, s: bool) -> Self {
        self.scale = s;
        self
    }
    pub fn beta_initializer(mut self, i: Initializer) -> Self {
        self.beta_initializer = i;
        self
    }
    pub fn gamma_initializer(mut self, i: Initializer) -> Self {
        self.gamma_initializer = i;
        self
    }
    pub fn moving_mean_initializer(mut self, i: Initializer) -> Self {
        self.moving_mean_initializer = i;
        self
    }
    pub fn moving_variance_initializer(mut self, i: Initializer) -> Self {
        self.moving_variance_initializer = i;
        self
    }
    pub fn beta_regularizer(mut self, r: Regularizer) -> Self {
        self.beta_regularizer = Some(r);
        self
    }
    pub fn gamma_regularizer(mut self, r: Regularizer) -> Self {
        self.gamma_regularizer = Some(r);
        self
    }
    pub fn gamma(&self) -> Option<&Variable> {
        self.gamma.as_ref()
    }
    pub fn beta(&self) -> Option<&Variable> {
        self.beta.as_ref()
    }
    pub fn moving_mean(&self) -> Option<&Variable> {
        self.moving_mean.as_ref()
    }
    pub fn moving_variance(&self) -> Option<&Variable> {
        self.moving_variance.as_ref()
    }
}

impl Layer for BatchNormalization {
    fn class_name(&self) -> &str {
        "BatchNormalization"
    }
    fn build(&mut self, ctx: &mut BuildContext, input_shapes: &[Shape]) -> Result<()> {
        let shape = &input_shapes[0];
        let a = resolve_axis("BatchNormalization", self.axis, shape.len())?;
        let n = known_dim("BatchNormalization", shape, a)?;
        // Keras's creation order: gamma, beta, moving_mean, moving_variance.
        if self.scale {
            self.gamma = Some(ctx.add_weight(
                "gamma",
                &[n],
                self.gamma_initializer.clone(),
                true,
                self.gamma_regularizer,
            )?);
        }
        if self.center {
            self.beta = Some(ctx.add_weight(
                "beta",
                &[n],
                self.beta_initializer.clone(),
                true,
                self.beta_regularizer,
            )?);
        }
        self.moving_mean = Some(ctx.add_weight(
            "moving_mean",
            &[n],
            self.moving_mean_initializer.clone(),
            false,
            None,
        )?);
        self.moving_variance = Some(ctx.add_weight(
            "moving_variance",
            &[n],
            self.moving_variance_initializer.clone(),
            false,
            None,
        )?);
        self.feature_axis = Some(a);
        Ok(())
    }
    fn set_trainable(&mut self, trainable: bool) {
        self.frozen = !trainable;
    }
    fn call(&self, inputs: &[Tensor], training: bool) -> Result<Tensor> {
        let x = &inputs[0];
        let rank = x.rank();
        let a = self.feature_axis.expect("built");
        let moving_mean = self.moving_mean.as_ref().expect("built");
        let moving_variance = self.moving_variance.as_ref().expect("built");
        let (mean, variance) = if training && !self.frozen {
            let axes: Vec<i64> = (0..rank).filter(|&i| i != a).map(|i| i as i64).collect();
            let mean = ops::reduce_mean(x, axes.clone(), true)?;
            let variance = ops::reduce_mean(&ops::square(&ops::sub(x, &mean)?)?, axes, true)?;
            // The moving averages are state, not part of the differentiated computation.
            stop_recording(|| -> Result<()> {
                let n = [moving_mean.shape()[0] as i64];
                let m = self.momentum as f64;
                let update = |v: &Variable, batch: &Tensor| -> Result<()> {
                    let old = v.read_value();
                    let new = ops::add(
                        &ops::mul(&old, &ops::scalar_like(&old, m)?)?,
                        &ops::mul(&ops::reshape(batch, &n)?, &ops::scalar_like(&old, 1.0 - m)?)?,
                    )?;
                    v.assign(&new)
                };
                update(moving_mean, &mean)?;
                update(moving_variance, &variance)
            })?;
            (mean, variance)
        } else {
            (
                broadcastable(&moving_mean.read_value(), &[a], rank)?,
                broadcastable(&moving_variance.read_value(), &[a], rank)?,
            )
        };
        let mut inv = ops::rsqrt(&ops::add(
            &variance,
            &ops::scalar_like(&variance, self.epsilon as f64)?,
        )?)?;
        if let Some(g) = &self.gamma {
            inv = ops::mul(&inv, &broadcastable(&g.read_value(), &[a], rank)?)?;
        }
        let y = ops::mul(&ops::sub(x, &mean)?, &inv)?;
        match &self.beta {
            Some(b) => ops::add(&y, &broadcastable(&b.read_value(), &[a], rank)?),
            None => Ok(y),
        }
    }
    fn compute_output_shape(&self, input_shapes: &[Shape]) -> Option<Result<Shape>> {
        Some(Ok(input_shapes[0].clone()))
    }
    fn fixed_input_axes(&self) -> Vec<usize> {
        self.feature_axis.into_iter().collect()
    }
}

/// Normalizes each sample over its feature axes (Keras's `LayerNormalization`): `gamma *
/// (x - mean) / sqrt(variance + epsilon) + beta` with the mean and (biased) variance of the
/// sample over `axis`. The same in training and inference; no state.
pub struct LayerNormalization {
    axis: Vec<i64>,
    epsilon: f32,
    center: bool,
    scale: bool,
    beta_initializer: Initializer,
    gamma_initializer: Initializer,
    beta_regularizer: Option<Regularizer>,
    gamma_regularizer: Option<Regularizer>,
    /// The normalized axes as indices, sorted, once built.
    axes: Vec<usize>,
    gamma: Option<Variable>,
    beta: Option<Variable>,
}

impl Default for LayerNormalization {
    fn default() -> Self {
        Self::new()
    }
}

impl LayerNormalization {
    /// Keras's defaults: `axis=-1`, `epsilon=1e-3`, `center` and `scale` on (gamma ones,
    /// beta zeros).
    pub fn new() -> LayerNormalization {
        LayerNormalization {
            axis: vec![-1],
            epsilon: 1e-3,
            center: true,
            scale: true,
            beta_initializer: Initializer::Zeros,
            gamma_initializer: Initializer::Ones,
            beta_regularizer: None,
            gamma_regularizer: None,
            axes: Vec::new(),
            gamma: None,
            beta: None,
        }
    }
    /// The axes normalized over (and that gamma and beta span), e.g. `[-2, -1]`.
    pub fn axis(mut self, axes: &[i64]) -> Self {
        self.axis = axes.to_vec();
        self
    }
    pub fn epsilon(mut self, e: f32) -> Self {
        self.epsilon = e;
        self
    }
    /// Whether to add the learned offset `beta`.
    pub fn center(mut self, c: bool) -> Self {
        self.center = c;
        self
    }
    /// Whether to multiply by the learned `gamma`.
    pub fn scale(mut self, s: bool) -> Self {
        self.scale = s;
        self
    }
    pub fn beta_initializer(mut self, i: Initializer) -> Self {
        self.beta_initializer = i;
        self
    }
    pub fn gamma_initializer(mut self, i: Initializer) -> Self {
        self.gamma_initializer = i;
        self
    }
    pub fn beta_regularizer(mut self, r: Regularizer) -> Self {
        self.beta_regularizer = Some(r);
        self
    }
    pub fn gamma_regularizer(mut self, r: Regularizer) -> Self {
        self.gamma_regularizer = Some(r);
        self
    }
    pub fn gamma(&self) -> Option<&Variable> {
        self.gamma.as_ref()
    }
    pub fn beta(&self) -> Option<&Variable> {
        self.beta.as_ref()
    }
}

impl Layer for LayerNormalization {
    fn class_name(&self) -> &str {
        "LayerNormalization"
    }
    fn build(&mut self, ctx: &mut BuildContext, input_shapes: &[Shape]) -> Result<()> {
        let shape = &input_shapes[0];
        let mut axes = self
            .axis
            .iter()
            .map(|&a| resolve_axis("LayerNormalization", a, shape.len()))
            .collect::<Result<Vec<_>>>()?;
        axes.sort_unstable();
        axes.dedup();
        let dims = axes
            .iter()
            .map(|&a| known_dim("LayerNormalization", shape, a))
            .collect::<Result<Vec<_>>>()?;
        if self.scale {
            self.gamma = Some(ctx.add_weight(
                "gamma",
                &dims,
                self.gamma_initializer.clone(),
                true,
                self.gamma_regularizer,
            )?);
        }
        if self.center {
            self.beta = Some(ctx.add_weight(
                "beta",
                &dims,
                self.beta_initializer.clone(),
                true,
                self.beta_regularizer,
            )?);
        }
        self.axes = axes;
        Ok(())
    }
    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        let x = &inputs[0];
        let rank = x.rank();
        let axes: Vec<i64> = self.axes.iter().map(|&a| a as i64).collect();
        let mean = ops::reduce_mean(x, axes.clone(), true)?;
        let centered = ops::sub(x, &mean)?;
        let variance = ops::reduce_mean(&ops::square(&centered)?, axes, true)?;
        let mut inv = ops::rsqrt(&ops::add(
            &variance,
            &ops::scalar_like(&variance, self.epsilon as f64)?,
        )?)?;
        if let Some(g) = &self.gamma {
            inv = ops::mul(&inv, &broadcastable(&g.read_value(), &self.axes, rank)?)?;
        }
        let y = ops::mul(&centered, &inv)?;
        match &self.beta {
            Some(b) => ops::add(&y, &broadcastable(&b.read_value(), &self.axes, rank)?),
            None => Ok(y),
        }
    }
    fn compute_output_shape(&self, input_shapes: &[Shape]) -> Option<Result<Shape>> {
        Some(Ok(input_shapes[0].clone()))
    }
    fn fixed_input_axes(&self) -> Vec<usize> {
        self.axes.clone()
    }
}
