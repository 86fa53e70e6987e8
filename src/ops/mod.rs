//! The op catalog and its single entry point, [`apply`].
//!
//! Every op is a variant of [`Op`], grouped by family (one file each). A family defines, for
//! each of its ops, the shape and dtype rule ([`OpDef::infer`]), the lowering to kernels
//! ([`OpDef::lower`]), and data checks that need values ([`OpDef::check_values`]), side by
//! side. `apply` validates, lowers and runs; the gradient tape and the function tracer hook
//! in there, so every op — primitive or composed from primitives — is seen by both.
//!
//! Ops that are compositions of other ops (`dropout`, `stack`, `l2_normalize`,
//! ...) are plain functions calling `apply` through the primitives.

pub mod conv;
pub mod creation;
pub mod elementwise;
pub mod gather;
pub mod image;
pub mod linalg;
pub mod movement;
pub mod nn;
pub mod pool;
pub mod reduce;
pub mod training;

pub use conv::{Conv2dOptions, Padding};
pub use creation::*;
pub use elementwise::*;
pub use gather::GatherOp;
pub use image::*;
pub use linalg::*;
pub use movement::*;
pub use nn::*;
pub use pool::PoolOptions;
pub use reduce::*;
pub use training::TrainingOp;

use crate::device::{Device, current_device};
use crate::dtype::{DType, Scalar};
use crate::error::{Error, Result};
use crate::kernel::ir::{E, ExprBuilder, Kernel, MapKernel, broadcast_strides};
use crate::shape::fmt_shape;
use crate::tensor::Tensor;
use std::sync::Arc;

/// The shape and dtype of a tensor, without its values.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Meta {
    pub shape: Vec<usize>,
    pub dtype: DType,
}

impl Meta {
    pub fn new(shape: impl Into<Vec<usize>>, dtype: DType) -> Self {
        Meta {
            shape: shape.into(),
            dtype,
        }
    }
    pub fn of(t: &Tensor) -> Self {
        Meta {
            shape: t.shape().to_vec(),
            dtype: t.dtype(),
        }
    }
    pub fn size(&self) -> usize {
        self.shape.iter().product()
    }
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
}

/// A buffer a kernel call reads or writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Buf {
    In(usize),
    Out(usize),
    Temp(usize),
}

/// One kernel launch of a lowering.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub kernel: Kernel,
    pub inputs: Vec<Buf>,
    pub outputs: Vec<Buf>,
}

/// How an op runs: kernel calls over its inputs, outputs and temporaries, or (for
/// reshapes) its single output sharing an input's buffer.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Lowering {
    pub temps: Vec<Meta>,
    pub calls: Vec<Call>,
    pub alias: Option<usize>,
}

impl Lowering {
    /// One kernel reading all the op's inputs in order and writing all its outputs.
    pub fn single(kernel: Kernel, n_in: usize, n_out: usize) -> Self {
        Lowering {
            temps: vec![],
            calls: vec![Call {
                kernel,
                inputs: (0..n_in).map(Buf::In).collect(),
                outputs: (0..n_out).map(Buf::Out).collect(),
            }],
            alias: None,
        }
    }
    /// Output 0 is input `i`'s buffer under a new shape.
    pub fn alias(i: usize) -> Self {
        Lowering {
            alias: Some(i),
            ..Default::default()
        }
    }
    pub fn temp(&mut self, m: Meta) -> Buf {
        self.temps.push(m);
        Buf::Temp(self.temps.len() - 1)
    }
    pub fn call(&mut self, kernel: Kernel, inputs: Vec<Buf>, outputs: Vec<Buf>) {
        self.calls.push(Call {
            kernel,
            inputs,
            outputs,
        });
    }
}

/// What each op family defines for its ops.
pub trait OpDef {
    /// TensorFlow's name of the op.
    fn name(&self) -> &'static str;
    /// Output shapes and dtypes, or a clean error for inputs the op does not accept.
    fn infer(&self, inputs: &[Meta]) -> Result<Vec<Meta>>;
    /// The kernels that compute the outputs.
    fn lower(&self, inputs: &[Meta], outputs: &[Meta]) -> Result<Lowering>;
    /// Checks that need input values (e.g. gather indices in range): run before every eager
    /// call, and at run time by traced functions on the CPU.
    fn check_values(&self, _inputs: &[&Tensor]) -> Result<()> {
        Ok(())
    }
    /// Whether [`OpDef::check_values`] checks anything.
    fn checks_values(&self) -> bool {
        false
    }
    /// The inputs' gradients from the outputs' gradients, written with public ops so that
    /// it runs on every backend and an outer tape records it (second order). `None` for an
    /// input without a gradient (integer, index, or not in `needs`).
    fn gradient(&self, _g: &GradContext) -> Result<Vec<Option<Tensor>>> {
        Err(Error::invalid(
            self.name(),
            "no gradient is defined for this op",
        ))
    }
}

/// What a gradient rule sees of one recorded op.
pub struct GradContext<'a> {
    pub inputs: &'a [Tensor],
    pub outputs: &'a [Tensor],
    /// The gradient flowing into each output (zeros where none flowed).
    pub grads: &'a [Tensor],
    /// Which inputs a gradient is wanted for; a rule may return `None` for the others.
    pub needs: &'a [bool],
}

impl GradContext<'_> {
    /// The gradient of the single output.
    pub fn grad(&self) -> &Tensor {
        &self.grads[0]
    }
    /// `g` summed down to input `i`'s shape (undoing NumPy broadcasting), or `None` when
    /// input `i` is not wanted or is not a float.
    pub fn to_input(&self, i: usize, g: impl FnOnce() -> Result<Tensor>) -> Result<Option<Tensor>> {
        if !self.needs[i] || self.inputs[i].dtype() != DType::F32 {
            return Ok(None);
        }
        Ok(Some(sum_to_shape(&g()?, self.inputs[i].shape())?))
    }
}

/// `g` summed over the axes that broadcasting added or stretched, reshaped to `shape`.
pub fn sum_to_shape(g: &Tensor, shape: &[usize]) -> Result<Tensor> {
    if g.shape() == shape {
        return Ok(g.clone());
    }
    let lead = g.rank().saturating_sub(shape.len());
    let axes: Vec<i64> = (0..g.rank())
        .filter(|&d| d < lead || (shape[d - lead] == 1 && g.shape()[d] != 1))
        .map(|d| d as i64)
        .collect();
    let s = if axes.is_empty() {
        g.clone()
    } else {
        reduce_sum(g, axes, false)?
    };
    let target: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
    reshape(&s, &target)
}

/// Every op of the catalog.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Elementwise(ElementwiseOp),
    Create(CreateOp),
    Reduce(ReductionOp),
    Linalg(LinalgOp),
    Nn(NnOp),
    Movement(MovementOp),
    Image(ImageOp),
    Training(TrainingOp),
}

impl Op {
    fn def(&self) -> &dyn OpDef {
        match self {
            Op::Elementwise(o) => o,
            Op::Create(o) => o,
            Op::Reduce(o) => o,
            Op::Linalg(o) => o,
            Op::Nn(o) => o,
            Op::Movement(o) => o,
            Op::Image(o) => o,
            Op::Training(o) => o,
        }
    }
    pub fn name(&self) -> &'static str {
        self.def().name()
    }
    /// The op's checks of its input values (see [`OpDef::check_values`]).
    pub(crate) fn check_values(&self, inputs: &[&Tensor]) -> Result<()> {
        self.def().check_values(inputs)
    }
    pub fn infer(&self, inputs: &[Meta]) -> Result<Vec<Meta>> {
        self.def().infer(inputs)
    }
    pub fn lower(&self, inputs: &[Meta], outputs: &[Meta]) -> Result<Lowering> {
        self.def().lower(inputs, outputs)
    }
    pub fn gradient(&self, g: &GradContext) -> Result<Vec<Option<Tensor>>> {
        self.def().gradient(g)
    }
}

/// The device an op on these inputs runs on: theirs (they must agree), or the current one.
fn op_device(name: &str, inputs: &[&Tensor]) -> Result<Device> {
    let Some(first) = inputs.first() else {
        return current_device();
    };
    for t in &inputs[1..] {
        if t.device() != first.device() {
            return Err(Error::invalid(
                name,
                format!(
                    "inputs are on different devices ({} and {}): copy one with Tensor::on",
                    first.device(),
                    t.device()
                ),
            ));
        }
    }
    Ok(first.device().clone())
}

/// Runs `op` on `inputs` eagerly: checks shapes and dtypes, lowers to kernels, queues them on
/// the inputs' device, and returns the outputs (whose values may still be computing).
pub fn apply(op: Op, inputs: &[&Tensor]) -> Result<Vec<Tensor>> {
    let metas: Vec<Meta> = inputs.iter().map(|t| Meta::of(t)).collect();
    let outs = op.infer(&metas)?;
    if crate::graph::is_tracing() {
        // Inside a function: a graph node, symbolic outputs; tapes record it all the same.
        if op.def().checks_values() {
            crate::graph::trace::record_check(&op, inputs)?;
        }
        let outputs = crate::graph::trace::record_op(op.clone(), inputs, outs)?;
        crate::autodiff::record(&op, inputs, &outputs);
        return Ok(outputs);
    }
    let device = op_device(op.name(), inputs)?;
    op.def().check_values(inputs)?;
    let lowering = op.lower(&metas, &outs)?;
    let outputs = execute(&device, &lowering, None, inputs, &outs)?;
    crate::autodiff::record(&op, inputs, &outputs);
    Ok(outputs)
}

/// [`apply`] for single-output ops.
pub fn apply1(op: Op, inputs: &[&Tensor]) -> Result<Tensor> {
    Ok(apply(op, inputs)?.swap_remove(0))
}

/// Runs a lowering: allocates its outputs and temporaries and runs its calls, with the
/// calls' kernels `prepared` beforehand when given (a planned graph's replay).
pub(crate) fn execute(
    device: &Device,
    low: &Lowering,
    prepared: Option<&[crate::backend::PreparedKernel]>,
    inputs: &[&Tensor],
    outs: &[Meta],
) -> Result<Vec<Tensor>> {
    if let Some(i) = low.alias {
        return Ok(vec![Tensor::from_buffer(
            inputs[i].buffer().clone(),
            outs[0].shape.clone(),
            outs[0].dtype,
        )]);
    }
    let out_bufs = outs
        .iter()
        .map(|m| device.alloc(m.size()).map(Arc::new))
        .collect::<Result<Vec<_>>>()?;
    let temp_bufs = low
        .temps
        .iter()
        .map(|m| device.alloc(m.size()))
        .collect::<Result<Vec<_>>>()?;
    let get = |b: &Buf| match *b {
        Buf::In(i) => inputs[i].buffer().storage(),
        Buf::Out(i) => out_bufs[i].storage(),
        Buf::Temp(i) => temp_bufs[i].storage(),
    };
    let dev = &device.0;
    for (i, call) in low.calls.iter().enumerate() {
        let ins: Vec<_> = call.inputs.iter().map(get).collect();
        let os: Vec<_> = call.outputs.iter().map(get).collect();
        match prepared {
            Some(p) => dev.backend.run_prepared(dev, &p[i], &ins, &os)?,
            None => dev.backend.run(dev, &call.kernel, &ins, &os)?,
        }
    }
    Ok(out_bufs
        .into_iter()
        .zip(outs)
        .map(|(b, m)| Tensor::from_buffer(b, m.shape.clone(), m.dtype))
        .collect())
}

// ---- helpers shared by the op families ----

/// A map kernel over `space` that loads each input broadcast to it.
pub(crate) fn map_kernel(
    space: &[usize],
    inputs: &[Meta],
    f: impl FnOnce(&ExprBuilder, &[E]) -> Vec<E>,
) -> Kernel {
    let dtypes: Vec<DType> = inputs.iter().map(|m| m.dtype).collect();
    let b = ExprBuilder::new(&dtypes);
    let xs: Vec<E> = inputs
        .iter()
        .enumerate()
        .map(|(i, m)| b.load_affine(i, 0, broadcast_strides(&m.shape, space)))
        .collect();
    let outs = f(&b, &xs);
    let refs: Vec<&E> = outs.iter().collect();
    Kernel::Map(MapKernel {
        space: space.to_vec(),
        inputs: dtypes,
        expr: b.finish(&refs),
        store: None,
    })
}

/// A 0-d tensor of `like`'s dtype and device holding `v` (a Python scalar's weak type).
pub fn scalar_like(like: &Tensor, v: f64) -> Result<Tensor> {
    Tensor::scalar_of(Scalar::from_f64(like.dtype(), v), like.device())
}

pub(crate) fn expect_inputs(op: &str, inputs: &[Meta], n: usize) -> Result<()> {
    if inputs.len() != n {
        return Err(Error::invalid(
            op,
            format!("expects {n} input(s), got {}", inputs.len()),
        ));
    }
    Ok(())
}

pub(crate) fn expect_float(op: &str, m: &Meta) -> Result<()> {
    if m.dtype != DType::F32 {
        return Err(Error::dtype(
            op,
            format!(
                "expects a float32 tensor, got {} with shape {}",
                m.dtype,
                fmt_shape(&m.shape)
            ),
        ));
    }
    Ok(())
}

pub(crate) fn expect_numeric(op: &str, m: &Meta) -> Result<()> {
    if !m.dtype.is_numeric() {
        return Err(Error::dtype(
            op,
            format!("expects a numeric tensor, got {}", m.dtype),
        ));
    }
    Ok(())
}

pub(crate) fn expect_index(op: &str, what: &str, m: &Meta) -> Result<()> {
    if !m.dtype.is_int() {
        return Err(Error::dtype(
            op,
            format!("{what} must be int32 or uint32, got {}", m.dtype),
        ));
    }
    Ok(())
}

pub(crate) fn expect_same_dtype(op: &str, a: &Meta, b: &Meta) -> Result<()> {
    if a.dtype != b.dtype {
        return Err(Error::dtype(
            op,
            format!(
                "dtypes differ: {} {} vs {} {} (cast one first)",
                a.dtype,
                fmt_shape(&a.shape),
                b.dtype,
                fmt_shape(&b.shape)
            ),
        ));
    }
    Ok(())
}

/// Axes to reduce over: all, or a list (negative values count from the end).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Axes {
    All,
    List(Vec<i64>),
}

impl From<i64> for Axes {
    fn from(a: i64) -> Self {
        Axes::List(vec![a])
    }
}
impl From<i32> for Axes {
    fn from(a: i32) -> Self {
        Axes::List(vec![a as i64])
    }
}
impl From<&[i64]> for Axes {
    fn from(a: &[i64]) -> Self {
        Axes::List(a.to_vec())
    }
}
impl From<Vec<i64>> for Axes {
    fn from(a: Vec<i64>) -> Self {
        Axes::List(a)
    }
}
impl<const N: usize> From<[i64; N]> for Axes {
    fn from(a: [i64; N]) -> Self {
        Axes::List(a.to_vec())
    }
}
impl From<Option<Vec<i64>>> for Axes {
    fn from(a: Option<Vec<i64>>) -> Self {
        a.map_or(Axes::All, Axes::List)
    }
}

impl Axes {
    /// Sorted, unique axes in `0..rank`.
    pub fn resolve(&self, op: &str, rank: usize) -> Result<Vec<usize>> {
        match self {
            Axes::All => Ok((0..rank).collect()),
            Axes::List(v) => crate::shape::normalize_axes(op, v, rank),
        }
    }
}
