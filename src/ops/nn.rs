//! Neural-network ops: convolutions and pooling with their gradients (see `conv.rs` and
//! `pool.rs`), dropout, the cross-entropy losses and embedding lookup.

use super::conv::{
    Conv2dOptions, Geometry, check_dy, lower_backprop_filter, lower_backprop_input, lower_conv2d,
};
use super::pool::{PoolGeometry, PoolOptions, lower_pool, lower_pool_grad};
use super::{Lowering, Meta, Op, OpDef, apply1, expect_float, expect_inputs, map_kernel};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::fmt_shape;
use crate::tensor::Tensor;

/// The neural-network family.
#[derive(Clone, Debug, PartialEq)]
pub enum NnOp {
    Conv2D(Conv2dOptions),
    /// Inputs: filter, out_backprop.
    Conv2DBackpropInput {
        input_shape: Vec<usize>,
        options: Conv2dOptions,
    },
    /// Inputs: input, out_backprop.
    Conv2DBackpropFilter {
        filter_shape: Vec<usize>,
        options: Conv2dOptions,
    },
    MaxPool(PoolOptions),
    AvgPool(PoolOptions),
    /// Inputs: original input, original output, gradient.
    MaxPoolGrad(PoolOptions),
    /// Input: gradient.
    AvgPoolGrad {
        input_shape: Vec<usize>,
        options: PoolOptions,
    },
    /// Inputs: labels, logits.
    SigmoidCrossEntropyWithLogits,
}

impl OpDef for NnOp {
    fn name(&self) -> &'static str {
        match self {
            NnOp::Conv2D(_) => "conv2d",
            NnOp::Conv2DBackpropInput { .. } => "conv2d_backprop_input",
            NnOp::Conv2DBackpropFilter { .. } => "conv2d_backprop_filter",
            NnOp::MaxPool(_) => "max_pool2d",
            NnOp::AvgPool(_) => "avg_pool2d",
            NnOp::MaxPoolGrad(_) => "max_pool2d_grad",
            NnOp::AvgPoolGrad { .. } => "avg_pool2d_grad",
            NnOp::SigmoidCrossEntropyWithLogits => "sigmoid_cross_entropy_with_logits",
        }
    }

    fn infer(&self, ins: &[Meta]) -> Result<Vec<Meta>> {
        let name = self.name();
        for m in ins {
            expect_float(name, m)?;
        }
        let shape = match self {
            NnOp::Conv2D(o) => {
                expect_inputs(name, ins, 2)?;
                Geometry::new(name, &ins[0].shape, &ins[1].shape, *o)?.output()
            }
            NnOp::Conv2DBackpropInput {
                input_shape,
                options,
            } => {
                expect_inputs(name, ins, 2)?;
                let g = Geometry::new(name, input_shape, &ins[0].shape, *options)?;
                check_dy(name, &g, &ins[1])?;
                input_shape.clone()
            }
            NnOp::Conv2DBackpropFilter {
                filter_shape,
                options,
            } => {
                expect_inputs(name, ins, 2)?;
                let g = Geometry::new(name, &ins[0].shape, filter_shape, *options)?;
                check_dy(name, &g, &ins[1])?;
                filter_shape.clone()
            }
            NnOp::MaxPool(o) | NnOp::AvgPool(o) => {
                expect_inputs(name, ins, 1)?;
                PoolGeometry::new(name, &ins[0].shape, *o)?.output()
            }
            NnOp::MaxPoolGrad(o) => {
                expect_inputs(name, ins, 3)?;
                let g = PoolGeometry::new(name, &ins[0].shape, *o)?;
                for m in &ins[1..] {
                    if m.shape != g.output() {
                        return Err(Error::shape(
                            name,
                            format!(
                                "orig_output and grad must be {}, got {}",
                                fmt_shape(&g.output()),
                                fmt_shape(&m.shape)
                            ),
                        ));
                    }
                }
                ins[0].shape.clone()
            }
            NnOp::AvgPoolGrad {
                input_shape,
                options,
            } => {
                expect_inputs(name, ins, 1)?;
                let g = PoolGeometry::new(name, input_shape, *options)?;
                if ins[0].shape != g.output() {
                    return Err(Error::shape(
                        name,
                        format!(
                            "grad must be {}, got {}",
                            fmt_shape(&g.output()),
                            fmt_shape(&ins[0].shape)
                        ),
                    ));
                }
                input_shape.clone()
            }
            NnOp::SigmoidCrossEntropyWithLogits => {
                expect_inputs(name, ins, 2)?;
                if ins[0].shape != ins[1].shape {
                    return Err(Error::shape(
                        name,
                        format!(
                            "labels {} and logits {} must have the same shape",
                            fmt_shape(&ins[0].shape),
                            fmt_shape(&ins[1].shape)
                        ),
                    ));
                }
                ins[1].shape.clone()
            }
        };
        Ok(vec![Meta::new(shape, DType::F32)])
    }

    fn lower(&self, ins: &[Meta], outs: &[Meta]) -> Result<Lowering> {
        let name = self.name();
        Ok(match self {
            NnOp::Conv2D(o) => {
                lower_conv2d(&Geometry::new(name, &ins[0].shape, &ins[1].shape, *o)?)
            }
            NnOp::Conv2DBackpropInput {
                input_shape,
                options,
            } => lower_backprop_input(&Geometry::new(name, input_shape, &ins[0].shape, *options)?),
            NnOp::Conv2DBackpropFilter {
                filter_shape,
                options,
            } => {
                lower_backprop_filter(&Geometry::new(name, &ins[0].shape, filter_shape, *options)?)
            }
            NnOp::MaxPool(o) => lower_pool(&PoolGeometry::new(name, &ins[0].shape, *o)?, true),
            NnOp::AvgPool(o) => lower_pool(&PoolGeometry::new(name, &ins[0].shape, *o)?, false),
            NnOp::MaxPoolGrad(o) => {
                lower_pool_grad(&PoolGeometry::new(name, &ins[0].shape, *o)?, true)
            }
            NnOp::AvgPoolGrad {
                input_shape,
                options,
            } => lower_pool_grad(&PoolGeometry::new(name, input_shape, *options)?, false),
            NnOp::SigmoidCrossEntropyWithLogits => {
                // TensorFlow's stable form: max(x, 0) - x * z + log1p(exp(-|x|)).
                let k = map_kernel(&outs[0].shape, ins, |_, v| {
                    let (z, x) = (&v[0], &v[1]);
                    vec![x.max(&x.lit(0.0)) - x * z + (-x.abs()).exp().log1p()]
                });
                Lowering::single(k, 2, 1)
            }
        })
    }
}

fn nn(op: NnOp, inputs: &[&Tensor]) -> Result<Tensor> {
    apply1(Op::Nn(op), inputs)
}

/// 2-D convolution of NHWC `input` with HWIO `filters` (TensorFlow's `tf.nn.conv2d`).
pub fn conv2d(input: &Tensor, filters: &Tensor, options: Conv2dOptions) -> Result<Tensor> {
    nn(NnOp::Conv2D(options), &[input, filters])
}

/// The gradient of [`conv2d`] with respect to its input.
pub fn conv2d_backprop_input(
    input_shape: &[usize],
    filters: &Tensor,
    out_backprop: &Tensor,
    options: Conv2dOptions,
) -> Result<Tensor> {
    nn(
        NnOp::Conv2DBackpropInput {
            input_shape: input_shape.to_vec(),
            options,
        },
        &[filters, out_backprop],
    )
}

/// The gradient of [`conv2d`] with respect to its filters.
pub fn conv2d_backprop_filter(
    input: &Tensor,
    filter_shape: &[usize],
    out_backprop: &Tensor,
    options: Conv2dOptions,
) -> Result<Tensor> {
    nn(
        NnOp::Conv2DBackpropFilter {
            filter_shape: filter_shape.to_vec(),
            options,
        },
        &[input, out_backprop],
    )
}

/// Max pooling over NHWC windows (padding never wins).
pub fn max_pool2d(input: &Tensor, options: PoolOptions) -> Result<Tensor> {
    nn(NnOp::MaxPool(options), &[input])
}

/// Average pooling over NHWC windows, dividing by the number of non-padding positions.
pub fn avg_pool2d(input: &Tensor, options: PoolOptions) -> Result<Tensor> {
    nn(NnOp::AvgPool(options), &[input])
}

/// The gradient of [`max_pool2d`]: each window's gradient goes to its first maximum.
pub fn max_pool2d_grad(
    orig_input: &Tensor,
    orig_output: &Tensor,
    grad: &Tensor,
    options: PoolOptions,
) -> Result<Tensor> {
    nn(NnOp::MaxPoolGrad(options), &[orig_input, orig_output, grad])
}

/// The gradient of [`avg_pool2d`].
pub fn avg_pool2d_grad(
    orig_input_shape: &[usize],
    grad: &Tensor,
    options: PoolOptions,
) -> Result<Tensor> {
    nn(
        NnOp::AvgPoolGrad {
            input_shape: orig_input_shape.to_vec(),
            options,
        },
        &[grad],
    )
}

/// `max(x, 0) - x * z + log1p(exp(-|x|))` for labels `z` and logits `x`.
pub fn sigmoid_cross_entropy_with_logits(labels: &Tensor, logits: &Tensor) -> Result<Tensor> {
    nn(NnOp::SigmoidCrossEntropyWithLogits, &[labels, logits])
}

/// `-sum(labels * log_softmax(logits))` along `axis`.
pub fn softmax_cross_entropy_with_logits(
    labels: &Tensor,
    logits: &Tensor,
    axis: i64,
) -> Result<Tensor> {
    if labels.shape() != logits.shape() {
        return Err(Error::shape(
            "softmax_cross_entropy_with_logits",
            format!(
                "labels {} and logits {} must have the same shape",
                fmt_shape(labels.shape()),
                fmt_shape(logits.shape())
            ),
        ));
    }
    let lp = super::log_softmax(logits, axis)?;
    super::neg(&super::reduce_sum(&super::mul(labels, &lp)?, axis, false)?)
}

/// `-log_softmax(logits)[label]` per example; labels are class indices in `[0, classes)`.
pub fn sparse_softmax_cross_entropy_with_logits(
    labels: &Tensor,
    logits: &Tensor,
) -> Result<Tensor> {
    let op = "sparse_softmax_cross_entropy_with_logits";
    if logits.rank() == 0 || labels.shape() != &logits.shape()[..logits.rank() - 1] {
        return Err(Error::shape(
            op,
            format!(
                "labels {} must be logits {} without the last axis",
                fmt_shape(labels.shape()),
                fmt_shape(logits.shape())
            ),
        ));
    }
    let lp = super::log_softmax(logits, -1)?;
    let r = labels.rank() as i64;
    let picked =
        super::gather(&lp, &super::expand_dims(labels, -1)?, r, r).map_err(|e| match e {
            Error::InvalidArgument { msg, .. } => {
                Error::invalid(op, format!("labels out of range: {msg}"))
            }
            other => other,
        })?;
    super::neg(&super::squeeze(&picked, &[-1])?)
}

/// Rows of `params` at `ids` (a gather along axis 0, with range checks).
pub fn embedding_lookup(params: &Tensor, ids: &Tensor) -> Result<Tensor> {
    super::gather(params, ids, 0, 0).map_err(|e| match e {
        Error::InvalidArgument { msg, .. } => Error::invalid("embedding_lookup", msg),
        other => other,
    })
}

/// `sum(x^2) / 2`.
pub fn l2_loss(x: &Tensor) -> Result<Tensor> {
    super::mul(
        &super::reduce_sum(&super::square(x)?, super::Axes::All, false)?,
        &super::scalar_like(x, 0.5)?,
    )
}

/// Keeps each element with probability `1 - rate`, scaled by `1 / (1 - rate)`, else 0. With
/// `noise_shape`, one draw is broadcast over the other axes. Stateless: `seed` picks the mask.
pub fn dropout(x: &Tensor, rate: f32, seed: u64, noise_shape: Option<&[usize]>) -> Result<Tensor> {
    if !(0.0..1.0).contains(&rate) {
        return Err(Error::invalid(
            "dropout",
            format!("rate must be in [0, 1), got {rate}"),
        ));
    }
    if x.dtype() != DType::F32 {
        return Err(Error::dtype(
            "dropout",
            format!("expects float32, got {}", x.dtype()),
        ));
    }
    if rate == 0.0 {
        return Ok(x.clone());
    }
    let shape = noise_shape.unwrap_or(x.shape()).to_vec();
    crate::shape::broadcast_shapes("dropout", &shape, x.shape())?;
    let u =
        crate::device::with_device(x.device(), || super::random_uniform(&shape, 0.0, 1.0, seed))?;
    let keep = super::greater_equal(&u, &super::scalar_like(&u, rate as f64)?)?;
    let scaled = super::mul(x, &super::scalar_like(x, 1.0 / (1.0 - rate as f64))?)?;
    super::where_(&keep, &scaled, &super::scalar_like(x, 0.0)?)
}
