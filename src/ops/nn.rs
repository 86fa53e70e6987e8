//! Neural-network ops: convolutions and pooling with their gradients (see `conv.rs` and
//! `pool.rs`), dropout, the cross-entropy losses and embedding lookup.

use super::conv::{
    Conv2dOptions, Geometry, check_dy, lower_backprop_filter, lower_backprop_input, lower_conv2d,
};
use super::pool::{
    PoolGeometry, PoolOptions, lower_max_pool_grad_grad, lower_pool, lower_pool_grad,
};
use super::reduce::split_at_axis;
use super::{
    Buf, GradContext, Lowering, Meta, Op, OpDef, apply1, expect_float, expect_index, expect_inputs,
    map_kernel,
};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernel::ir::{
    ExprBuilder, Kernel, MapKernel, ReduceKernel, ReduceOp, SoftmaxKernel, contiguous_strides,
};
use crate::shape::{fmt_shape, normalize_axis};
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
    /// The gradient of `MaxPoolGrad` wrt its gradient input. Inputs: original input,
    /// original output, a gradient shaped like the original input.
    MaxPoolGradGrad(PoolOptions),
    /// Input: gradient.
    AvgPoolGrad {
        input_shape: Vec<usize>,
        options: PoolOptions,
    },
    /// Inputs: labels, logits.
    SigmoidCrossEntropyWithLogits,
    /// Inputs: labels (probabilities), logits; reduces `axis`.
    SoftmaxCrossEntropyWithLogits {
        axis: i64,
    },
    /// Inputs: labels (class indices), logits (classes on the last axis).
    SparseSoftmaxCrossEntropyWithLogits,
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
            NnOp::MaxPoolGradGrad(_) => "max_pool2d_grad_grad",
            NnOp::AvgPoolGrad { .. } => "avg_pool2d_grad",
            NnOp::SigmoidCrossEntropyWithLogits => "sigmoid_cross_entropy_with_logits",
            NnOp::SoftmaxCrossEntropyWithLogits { .. } => "softmax_cross_entropy_with_logits",
            NnOp::SparseSoftmaxCrossEntropyWithLogits => "sparse_softmax_cross_entropy_with_logits",
        }
    }

    fn infer(&self, ins: &[Meta]) -> Result<Vec<Meta>> {
        let name = self.name();
        // Sparse labels are class indices; every other input is a float.
        let sparse = matches!(self, NnOp::SparseSoftmaxCrossEntropyWithLogits);
        for (i, m) in ins.iter().enumerate() {
            if sparse && i == 0 {
                expect_index(name, "labels", m)?;
            } else {
                expect_float(name, m)?;
            }
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
            NnOp::MaxPoolGradGrad(o) => {
                expect_inputs(name, ins, 3)?;
                let g = PoolGeometry::new(name, &ins[0].shape, *o)?;
                if ins[1].shape != g.output() || ins[2].shape != ins[0].shape {
                    return Err(Error::shape(
                        name,
                        format!(
                            "orig_output must be {} and grad {}, got {} and {}",
                            fmt_shape(&g.output()),
                            fmt_shape(&ins[0].shape),
                            fmt_shape(&ins[1].shape),
                            fmt_shape(&ins[2].shape)
                        ),
                    ));
                }
                g.output()
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
            NnOp::SigmoidCrossEntropyWithLogits | NnOp::SoftmaxCrossEntropyWithLogits { .. } => {
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
                match self {
                    NnOp::SoftmaxCrossEntropyWithLogits { axis } => {
                        let a = normalize_axis(name, *axis, ins[1].rank())?;
                        let mut s = ins[1].shape.clone();
                        s.remove(a);
                        s
                    }
                    _ => ins[1].shape.clone(),
                }
            }
            NnOp::SparseSoftmaxCrossEntropyWithLogits => {
                expect_inputs(name, ins, 3)?;
                let (labels, logits) = (&ins[0].shape, &ins[1].shape);
                if ins[2].shape != *logits {
                    return Err(Error::shape(
                        name,
                        format!(
                            "log-probabilities {} must have the logits' shape {}",
                            fmt_shape(&ins[2].shape),
                            fmt_shape(logits)
                        ),
                    ));
                }
                if logits.is_empty() || labels[..] != logits[..logits.len() - 1] {
                    return Err(Error::shape(
                        name,
                        format!(
                            "labels {} must be logits {} without the last axis",
                            fmt_shape(labels),
                            fmt_shape(logits)
                        ),
                    ));
                }
                labels.clone()
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
            NnOp::MaxPoolGradGrad(o) => {
                lower_max_pool_grad_grad(&PoolGeometry::new(name, &ins[0].shape, *o)?)
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
            NnOp::SoftmaxCrossEntropyWithLogits { axis } => {
                lower_softmax_ce(&ins[1].shape, normalize_axis(name, *axis, ins[1].rank())?)
            }
            NnOp::SparseSoftmaxCrossEntropyWithLogits => {
                lower_sparse_softmax_ce(ins[0].dtype, &ins[1].shape)
            }
        })
    }

    fn checks_values(&self) -> bool {
        matches!(self, NnOp::SparseSoftmaxCrossEntropyWithLogits)
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn check_values(&self, inputs: &[&Tensor]) -> Result<()> {
        if !self.checks_values() {
            return Ok(());
        }
        let labels: Vec<i64> = match inputs[0].dtype() {
            DType::U32 => inputs[0]
                .to_vec::<u32>()?
                .into_iter()
                .map(i64::from)
                .collect(),
            _ => inputs[0]
                .to_vec::<i32>()?
                .into_iter()
                .map(i64::from)
                .collect(),
        };
        let classes = inputs[1].shape().last().copied().unwrap_or(0);
        match labels
            .iter()
            .enumerate()
            .find(|(_, v)| !(0..classes as i64).contains(v))
        {
            Some((i, v)) => Err(Error::invalid(
                self.name(),
                format!("labels out of range: labels[{i}] = {v} is not in [0, {classes})"),
            )),
            None => Ok(()),
        }
    }

    fn gradient(&self, g: &GradContext) -> Result<Vec<Option<Tensor>>> {
        let (x, dy) = (g.inputs, g.grad());
        let shape = |i: usize| x[i].shape();
        match self {
            NnOp::Conv2D(o) => Ok(vec![
                g.to_input(0, || conv2d_backprop_input(shape(0), &x[1], dy, *o))?,
                g.to_input(1, || conv2d_backprop_filter(&x[0], shape(1), dy, *o))?,
            ]),
            // Each backprop is linear in each input; these are TensorFlow's rules (the
            // adjoints), so gradients of gradients stay convolutions.
            NnOp::Conv2DBackpropInput { options: o, .. } => Ok(vec![
                g.to_input(0, || conv2d_backprop_filter(dy, shape(0), &x[1], *o))?,
                g.to_input(1, || conv2d(dy, &x[0], *o))?,
            ]),
            NnOp::Conv2DBackpropFilter { options: o, .. } => Ok(vec![
                g.to_input(0, || conv2d_backprop_input(shape(0), dy, &x[1], *o))?,
                g.to_input(1, || conv2d(&x[0], dy, *o))?,
            ]),
            NnOp::MaxPool(o) => {
                Ok(vec![g.to_input(0, || {
                    max_pool2d_grad(&x[0], &g.outputs[0], dy, *o)
                })?])
            }
            NnOp::AvgPool(o) => Ok(vec![g.to_input(0, || avg_pool2d_grad(shape(0), dy, *o))?]),
            // The routing by arg-max is piecewise constant in the pooled input: zeros for it
            // and for the output (TensorFlow's MaxPoolGradGrad and MaxPoolGradGradGrad).
            NnOp::MaxPoolGrad(o) => Ok(vec![
                g.to_input(0, || super::zeros_like(&x[0]))?,
                g.to_input(1, || super::zeros_like(&x[1]))?,
                g.to_input(2, || max_pool2d_grad_grad(&x[0], &x[1], dy, *o))?,
            ]),
            NnOp::MaxPoolGradGrad(o) => Ok(vec![
                g.to_input(0, || super::zeros_like(&x[0]))?,
                g.to_input(1, || super::zeros_like(&x[1]))?,
                g.to_input(2, || max_pool2d_grad(&x[0], &x[1], dy, *o))?,
            ]),
            NnOp::AvgPoolGrad { options, .. } => {
                Ok(vec![g.to_input(0, || avg_pool2d(dy, *options))?])
            }
            // TensorFlow: dlabels = -dy * x, dlogits = dy * (sigmoid(x) - z).
            NnOp::SigmoidCrossEntropyWithLogits => Ok(vec![
                g.to_input(0, || super::neg(&super::mul(dy, &x[1])?))?,
                g.to_input(1, || {
                    super::mul(dy, &super::sub(&super::sigmoid(&x[1])?, &x[0])?)
                })?,
            ]),
            // TensorFlow's fused rule: dlogits = dy * (softmax - labels), exact only for
            // labels summing to one; dlabels = -dy * log_softmax.
            NnOp::SoftmaxCrossEntropyWithLogits { axis } => {
                let dy = super::expand_dims(dy, *axis)?;
                Ok(vec![
                    g.to_input(0, || {
                        super::mul(&dy, &super::neg(&super::log_softmax(&x[1], *axis)?)?)
                    })?,
                    g.to_input(1, || {
                        super::mul(&dy, &super::sub(&super::softmax(&x[1], *axis)?, &x[0])?)
                    })?,
                ])
            }
            // TensorFlow's fused rule, from the forward's log-probabilities (input 2, which is
            // log_softmax(logits): the whole gradient goes to the logits, none to it).
            NnOp::SparseSoftmaxCrossEntropyWithLogits => {
                let classes = shape(1).last().copied().unwrap_or(0);
                Ok(vec![
                    None,
                    g.to_input(1, || {
                        let onehot = super::one_hot(&x[0], classes, 1.0, 0.0, -1)?;
                        let p = super::sub(&super::exp(&x[2])?, &onehot)?;
                        super::mul(&super::expand_dims(dy, -1)?, &p)
                    })?,
                    None,
                ])
            }
        }
    }
}

/// Log-softmax of input `input` along `axis` into a new temporary.
fn log_softmax_temp(low: &mut Lowering, logits: &[usize], axis: usize, input: usize) -> Buf {
    let t = low.temp(Meta::new(logits, DType::F32));
    let (outer, len, inner) = split_at_axis(logits, axis);
    let k = SoftmaxKernel {
        outer,
        len,
        inner,
        log: true,
    };
    low.call(Kernel::Softmax(k), vec![Buf::In(input)], vec![t]);
    t
}

/// `-sum(labels * log_softmax(logits))` along `axis`: log-softmax, then one reduction.
fn lower_softmax_ce(shape: &[usize], axis: usize) -> Lowering {
    let mut low = Lowering::default();
    let lp = log_softmax_temp(&mut low, shape, axis, 1);
    let b = ExprBuilder::new(&[DType::F32; 2]);
    let z = b.load_affine(0, 0, contiguous_strides(shape));
    let l = b.load_affine(1, 0, contiguous_strides(shape));
    let v = -(z * l);
    let k = ReduceKernel {
        space: shape.to_vec(),
        axes: vec![axis],
        op: ReduceOp::Sum,
        inputs: vec![DType::F32; 2],
        prologue: b.finish(&[&v]),
        epilogue: None,
    };
    low.call(Kernel::Reduce(k), vec![Buf::In(0), lp], vec![Buf::Out(0)]);
    low
}

/// `-log_softmax(logits)[label]` per row: log-softmax, then one gather. A label out of range
/// (only reachable when values were not checked) gives NaN, like TensorFlow on GPUs.
/// `-log_probs[label]` per row: one map reading the log-probabilities at the label (NaN
/// for a label out of range), which fusion can fold into a following mean.
fn lower_sparse_softmax_ce(label_dtype: DType, logits: &[usize]) -> Lowering {
    let mut low = Lowering::default();
    let classes = logits.last().copied().unwrap_or(0);
    let rows: usize = logits[..logits.len().saturating_sub(1)].iter().product();
    let dtypes = [label_dtype, DType::F32, DType::F32];
    let b = ExprBuilder::new(&dtypes);
    let label = b.load_affine(0, 0, vec![1]).cast(DType::I32);
    let ok = label
        .ge(&b.lit_i(0))
        .and(&label.lt(&b.lit_i(classes as i64)));
    let idx = b.coord(0) * b.lit_i(classes as i64) + ok.select(&label, &b.lit_i(0));
    let v = ok.select(&-b.load_at(2, &idx), &b.lit(f32::NAN));
    let k = MapKernel {
        space: vec![rows],
        inputs: dtypes.to_vec(),
        expr: b.finish(&[&v]),
        store: None,
    };
    low.call(
        Kernel::Map(k),
        vec![Buf::In(0), Buf::In(1), Buf::In(2)],
        vec![Buf::Out(0)],
    );
    low
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

/// The gradient of [`max_pool2d_grad`] wrt its `grad`: each window's value of `grad` (shaped
/// like `orig_input`) at the window's first maximum (TensorFlow's `MaxPoolGradGrad`).
pub fn max_pool2d_grad_grad(
    orig_input: &Tensor,
    orig_output: &Tensor,
    grad: &Tensor,
    options: PoolOptions,
) -> Result<Tensor> {
    nn(
        NnOp::MaxPoolGradGrad(options),
        &[orig_input, orig_output, grad],
    )
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

/// `-sum(labels * log_softmax(logits))` along `axis`, with TensorFlow's fused gradient.
pub fn softmax_cross_entropy_with_logits(
    labels: &Tensor,
    logits: &Tensor,
    axis: i64,
) -> Result<Tensor> {
    nn(
        NnOp::SoftmaxCrossEntropyWithLogits { axis },
        &[labels, logits],
    )
}

/// `-log_softmax(logits)[label]` per example; labels are class indices in `[0, classes)`.
/// Two ops: the log-softmax, then the pick at the labels, whose gradient reads the
/// log-probabilities (so a traced step computes the softmax once, and the pick fuses into
/// a following mean).
pub fn sparse_softmax_cross_entropy_with_logits(
    labels: &Tensor,
    logits: &Tensor,
) -> Result<Tensor> {
    // Check the pair before the log-softmax, so errors name this op.
    let metas = [Meta::of(labels), Meta::of(logits), Meta::of(logits)];
    Op::Nn(NnOp::SparseSoftmaxCrossEntropyWithLogits).infer(&metas)?;
    // Recorded, so that the gradient (which reads it) can itself be differentiated; the
    // first-order pass sends nothing through it (the rule gives log_probs no gradient).
    let lp = super::log_softmax(logits, -1)?;
    nn(
        NnOp::SparseSoftmaxCrossEntropyWithLogits,
        &[labels, logits, &lp],
    )
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
