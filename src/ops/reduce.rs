//! Reductions over any set of axes (with `keepdims`), arg-reductions, cumulative sums and
//! products, softmax and log-softmax.

use super::{
    Axes, Buf, GradContext, Lowering, Meta, Op, OpDef, apply1, expect_float, expect_inputs,
    expect_numeric,
};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernel::ir::{
    E, ExprBuilder, Kernel, ReduceKernel, ReduceOp, ScanKernel, SoftmaxKernel, contiguous_strides,
};
use crate::shape::normalize_axis;
use crate::tensor::Tensor;

/// What a [`ReductionOp::Reduce`] computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceKind {
    Sum,
    Prod,
    Max,
    Min,
    Mean,
    Any,
    All,
    LogSumExp,
}

/// The reduction family.
#[derive(Clone, Debug, PartialEq)]
pub enum ReductionOp {
    Reduce {
        kind: ReduceKind,
        axes: Axes,
        keepdims: bool,
    },
    ArgMax {
        axis: i64,
    },
    ArgMin {
        axis: i64,
    },
    /// Cumulative sum (or product) along an axis.
    Scan {
        axis: i64,
        product: bool,
        exclusive: bool,
        reverse: bool,
    },
    Softmax {
        axis: i64,
        log: bool,
    },
}

/// `[outer, len, inner]` sizes around an axis.
pub(crate) fn split_at_axis(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        shape[..axis].iter().product(),
        shape[axis],
        shape[axis + 1..].iter().product(),
    )
}

/// Reductions with at most this many outputs over at least `SPLIT_MIN` values each run in two
/// passes, so that more than a few workgroups (or threads) share the work.
const SPLIT_MAX_OUT: usize = 64;
const SPLIT_MIN: usize = 1 << 16;

impl ReductionOp {
    fn reduced_shape(shape: &[usize], axes: &[usize], keepdims: bool) -> Vec<usize> {
        (0..shape.len())
            .filter_map(|d| match (axes.contains(&d), keepdims) {
                (false, _) => Some(shape[d]),
                (true, true) => Some(1),
                (true, false) => None,
            })
            .collect()
    }
}

impl OpDef for ReductionOp {
    fn name(&self) -> &'static str {
        match self {
            ReductionOp::Reduce { kind, .. } => match kind {
                ReduceKind::Sum => "reduce_sum",
                ReduceKind::Prod => "reduce_prod",
                ReduceKind::Max => "reduce_max",
                ReduceKind::Min => "reduce_min",
                ReduceKind::Mean => "reduce_mean",
                ReduceKind::Any => "reduce_any",
                ReduceKind::All => "reduce_all",
                ReduceKind::LogSumExp => "reduce_logsumexp",
            },
            ReductionOp::ArgMax { .. } => "argmax",
            ReductionOp::ArgMin { .. } => "argmin",
            ReductionOp::Scan { product: false, .. } => "cumsum",
            ReductionOp::Scan { product: true, .. } => "cumprod",
            ReductionOp::Softmax { log: false, .. } => "softmax",
            ReductionOp::Softmax { log: true, .. } => "log_softmax",
        }
    }

    fn infer(&self, ins: &[Meta]) -> Result<Vec<Meta>> {
        let name = self.name();
        expect_inputs(name, ins, 1)?;
        let x = &ins[0];
        match self {
            ReductionOp::Reduce {
                kind,
                axes,
                keepdims,
            } => {
                let axes = axes.resolve(name, x.rank())?;
                match kind {
                    ReduceKind::Any | ReduceKind::All => {
                        if x.dtype != DType::Bool {
                            return Err(Error::dtype(
                                name,
                                format!("expects a bool tensor, got {}", x.dtype),
                            ));
                        }
                    }
                    ReduceKind::LogSumExp => expect_float(name, x)?,
                    _ => expect_numeric(name, x)?,
                }
                Ok(vec![Meta::new(
                    Self::reduced_shape(&x.shape, &axes, *keepdims),
                    x.dtype,
                )])
            }
            ReductionOp::ArgMax { axis } | ReductionOp::ArgMin { axis } => {
                expect_numeric(name, x)?;
                let a = normalize_axis(name, *axis, x.rank())?;
                if x.shape[a] == 0 {
                    return Err(Error::invalid(
                        name,
                        format!("cannot take the {name} of an empty axis {axis}"),
                    ));
                }
                Ok(vec![Meta::new(
                    Self::reduced_shape(&x.shape, &[a], false),
                    DType::I32,
                )])
            }
            ReductionOp::Scan { axis, .. } => {
                expect_numeric(name, x)?;
                normalize_axis(name, *axis, x.rank())?;
                Ok(vec![x.clone()])
            }
            ReductionOp::Softmax { axis, .. } => {
                expect_float(name, x)?;
                normalize_axis(name, *axis, x.rank())?;
                Ok(vec![x.clone()])
            }
        }
    }

    fn lower(&self, ins: &[Meta], _outs: &[Meta]) -> Result<Lowering> {
        let x = &ins[0];
        let name = self.name();
        match self {
            ReductionOp::Reduce { kind, axes, .. } => {
                lower_reduce(*kind, &x.shape, x.dtype, &axes.resolve(name, x.rank())?)
            }
            ReductionOp::ArgMax { axis } | ReductionOp::ArgMin { axis } => {
                let a = normalize_axis(name, *axis, x.rank())?;
                let op = if matches!(self, ReductionOp::ArgMax { .. }) {
                    ReduceOp::ArgMax
                } else {
                    ReduceOp::ArgMin
                };
                let k = reduce_kernel(&x.shape, x.dtype, vec![a], op, None);
                Ok(Lowering::single(k, 1, 1))
            }
            ReductionOp::Scan {
                axis,
                product,
                exclusive,
                reverse,
            } => {
                let (outer, len, inner) =
                    split_at_axis(&x.shape, normalize_axis(name, *axis, x.rank())?);
                let k = ScanKernel {
                    outer,
                    len,
                    inner,
                    dtype: x.dtype,
                    product: *product,
                    exclusive: *exclusive,
                    reverse: *reverse,
                };
                Ok(Lowering::single(Kernel::Scan(k), 1, 1))
            }
            ReductionOp::Softmax { axis, log } => {
                let (outer, len, inner) =
                    split_at_axis(&x.shape, normalize_axis(name, *axis, x.rank())?);
                Ok(Lowering::single(
                    Kernel::Softmax(SoftmaxKernel {
                        outer,
                        len,
                        inner,
                        log: *log,
                    }),
                    1,
                    1,
                ))
            }
        }
    }

    fn gradient(&self, g: &GradContext) -> Result<Vec<Option<Tensor>>> {
        let x = &g.inputs[0];
        match self {
            ReductionOp::Reduce {
                kind: kind @ (ReduceKind::Sum | ReduceKind::Mean),
                axes,
                ..
            } => {
                let axes = axes.resolve(self.name(), x.rank())?;
                let dy = keepdims_grad(g.grad(), x.shape(), &axes)?;
                let dx = super::broadcast_to(&dy, x.shape())?;
                Ok(vec![Some(if *kind == ReduceKind::Mean {
                    let r: usize = axes.iter().map(|&a| x.shape()[a]).product();
                    super::mul(&dx, &super::scalar_like(&dx, 1.0 / r.max(1) as f64)?)?
                } else {
                    dx
                })])
            }
            ReductionOp::Reduce { kind, axes, .. } => {
                let axes = axes.resolve(self.name(), x.rank())?;
                let dy = keepdims_grad(g.grad(), x.shape(), &axes)?;
                let y = keepdims_grad(&g.outputs[0], x.shape(), &axes)?;
                let ax: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
                Ok(vec![Some(match kind {
                    // Shared equally among ties, as TF.
                    ReduceKind::Max | ReduceKind::Min => {
                        let hit = super::cast(&super::equal(x, &y)?, DType::F32)?;
                        let count = reduce_sum(&hit, ax, true)?;
                        super::mul(&super::div(&hit, &count)?, &dy)?
                    }
                    ReduceKind::LogSumExp => super::mul(&dy, &super::exp(&super::sub(x, &y)?)?)?,
                    ReduceKind::Prod => prod_grad(x, &dy, &axes)?,
                    _ => return Ok(vec![None]),
                })])
            }
            // d cumsum = the reverse cumulative sum of dy (exclusive stays exclusive).
            ReductionOp::Scan {
                axis,
                product: false,
                exclusive,
                reverse,
            } => Ok(vec![Some(cumsum(g.grad(), *axis, *exclusive, !*reverse)?)]),
            // TF's CumprodGrad: cumsum(y * dy) in the other direction, over x (x != 0).
            ReductionOp::Scan {
                axis,
                product: true,
                exclusive,
                reverse,
            } => {
                let y = &g.outputs[0];
                let s = cumsum(&super::mul(y, g.grad())?, *axis, *exclusive, !*reverse)?;
                Ok(vec![Some(super::div(&s, x)?)])
            }
            ReductionOp::Softmax { axis, log } => {
                let (y, dy) = (&g.outputs[0], g.grad());
                Ok(vec![Some(if *log {
                    // dy - softmax * sum(dy)
                    let s = reduce_sum(dy, [*axis], true)?;
                    super::sub(dy, &super::mul(&super::exp(y)?, &s)?)?
                } else {
                    // y (dy - sum(dy y))
                    let s = reduce_sum(&super::mul(dy, y)?, [*axis], true)?;
                    super::mul(y, &super::sub(dy, &s)?)?
                })])
            }
            ReductionOp::ArgMax { .. } | ReductionOp::ArgMin { .. } => Ok(vec![None]),
        }
    }
}

/// TF's ProdGrad: the product of all other elements of each reduced group, as the product
/// of exclusive cumulative products from the left and the right (correct with zeros).
fn prod_grad(x: &Tensor, dy: &Tensor, axes: &[usize]) -> Result<Tensor> {
    let rank = x.rank();
    let kept: Vec<usize> = (0..rank).filter(|d| !axes.contains(d)).collect();
    let perm: Vec<usize> = kept.iter().chain(axes).copied().collect();
    let outer: usize = kept.iter().map(|&d| x.shape()[d]).product();
    let r: usize = axes.iter().map(|&d| x.shape()[d]).product();
    let flat = super::reshape(&super::transpose(x, &perm)?, &[outer as i64, r as i64])?;
    let left = cumprod(&flat, 1, true, false)?;
    let right = cumprod(&flat, 1, true, true)?;
    let others = super::mul(&left, &right)?;
    let permuted: Vec<i64> = perm.iter().map(|&d| x.shape()[d] as i64).collect();
    let mut inverse = vec![0; rank];
    for (i, &d) in perm.iter().enumerate() {
        inverse[d] = i;
    }
    let back = super::transpose(&super::reshape(&others, &permuted)?, &inverse)?;
    super::mul(&back, dy)
}

/// A reduction's output gradient reshaped to keep the reduced axes (as size 1), so that
/// it broadcasts against the input.
pub(crate) fn keepdims_grad(dy: &Tensor, x_shape: &[usize], axes: &[usize]) -> Result<Tensor> {
    let kept: Vec<i64> = (0..x_shape.len())
        .map(|d| {
            if axes.contains(&d) {
                1
            } else {
                x_shape[d] as i64
            }
        })
        .collect();
    super::reshape(dy, &kept)
}

/// Builds a reduce epilogue from the accumulated value.
type Epilogue<'a> = &'a dyn Fn(&ExprBuilder, &E) -> E;

/// A reduce kernel over a contiguous input, with an optional epilogue builder.
fn reduce_kernel(
    shape: &[usize],
    dtype: DType,
    axes: Vec<usize>,
    op: ReduceOp,
    epilogue: Option<Epilogue>,
) -> Kernel {
    let b = ExprBuilder::new(&[dtype]);
    let x = b.load_affine(0, 0, contiguous_strides(shape));
    let prologue = b.finish(&[&x]);
    let epilogue = epilogue.map(|f| {
        let b = ExprBuilder::new(&[dtype]);
        let acc = b.acc(crate::kernel::ir::reduce_acc_dtype(op, dtype));
        let out = f(&b, &acc);
        b.finish(&[&out])
    });
    Kernel::Reduce(ReduceKernel {
        space: shape.to_vec(),
        axes,
        op,
        inputs: vec![dtype],
        prologue,
        epilogue,
    })
}

fn lower_reduce(
    kind: ReduceKind,
    shape: &[usize],
    dtype: DType,
    axes: &[usize],
) -> Result<Lowering> {
    let r: usize = axes.iter().map(|&d| shape[d]).product();
    let o: usize = shape.iter().product::<usize>() / r.max(1);
    let op = match kind {
        ReduceKind::Sum | ReduceKind::Mean => ReduceOp::Sum,
        ReduceKind::Prod => ReduceOp::Prod,
        ReduceKind::Max => ReduceOp::Max,
        ReduceKind::Min => ReduceOp::Min,
        ReduceKind::Any => ReduceOp::Any,
        ReduceKind::All => ReduceOp::All,
        ReduceKind::LogSumExp => return Ok(lower_logsumexp(shape, axes)),
    };
    let inv_r = 1.0 / r as f64;
    let mean = move |_: &ExprBuilder, acc: &E| {
        if acc.dtype == DType::F32 {
            acc * inv_r
        } else {
            acc / (r as f64)
        }
    };
    let epilogue: Option<Epilogue> = if kind == ReduceKind::Mean {
        Some(&mean)
    } else {
        None
    };
    // Few outputs over many values each: a first pass reduces chunks, a second the chunk results.
    let trailing = axes
        .iter()
        .enumerate()
        .all(|(i, &a)| a == shape.len() - axes.len() + i);
    if o <= SPLIT_MAX_OUT && r >= SPLIT_MIN && trailing && o > 0 {
        let root = (r as f64).sqrt().ceil() as usize;
        // An exact split (a divisor near the square root) reads the input as one contiguous
        // affine map; otherwise the last chunk is padded through a computed, clamped index.
        let exact = (root..=4 * root)
            .chain((root / 4..root).rev())
            .find(|&d| d > 1 && r.is_multiple_of(d));
        let chunk = exact.unwrap_or(root);
        let chunks = r.div_ceil(chunk);
        let b = ExprBuilder::new(&[dtype]);
        let v = if exact.is_some() {
            b.load_affine(0, 0, vec![r as i64, chunk as i64, 1])
        } else {
            padded_split_load(&b, op, dtype, r, o, chunk)
        };
        let prologue = b.finish(&[&v]);
        let mut low = Lowering::default();
        let partial = low.temp(Meta::new(vec![o, chunks], dtype));
        let pass1 = ReduceKernel {
            space: vec![o, chunks, chunk],
            axes: vec![2],
            op,
            inputs: vec![dtype],
            prologue,
            epilogue: None,
        };
        low.call(Kernel::Reduce(pass1), vec![Buf::In(0)], vec![partial]);
        let mut pass2 = reduce_kernel(&[o, chunks], dtype, vec![1], op, None);
        if let (Kernel::Reduce(k2), Some(f)) = (&mut pass2, epilogue) {
            let b = ExprBuilder::new(&[dtype]);
            let acc = b.acc(dtype);
            let out = f(&b, &acc);
            k2.epilogue = Some(b.finish(&[&out]));
        }
        low.call(pass2, vec![partial], vec![Buf::Out(0)]);
        return Ok(low);
    }
    Ok(Lowering::single(
        reduce_kernel(shape, dtype, axes.to_vec(), op, epilogue),
        1,
        1,
    ))
}

/// Point (o, c, j) of a padded split reads x[o * r + c * chunk + j] when c * chunk + j < r,
/// else the reduction's identity.
fn padded_split_load(
    b: &ExprBuilder,
    op: ReduceOp,
    dtype: DType,
    r: usize,
    o: usize,
    chunk: usize,
) -> E {
    let (oc, c, j) = (b.coord(0), b.coord(1), b.coord(2));
    let pos = &c * &b.lit_i(chunk as i64) + &j;
    let valid = pos.lt(&b.lit_i(r as i64));
    let idx = (&oc * &b.lit_i(r as i64) + &pos).min(&b.lit_i((o * r) as i64 - 1));
    let v = b.load_at(0, &idx);
    let id = match (op, dtype) {
        (ReduceOp::Sum | ReduceOp::Any, _) => 0.0,
        (ReduceOp::Prod | ReduceOp::All, _) => 1.0,
        (ReduceOp::Max, DType::I32) => i32::MIN as f64,
        (ReduceOp::Min, DType::I32) => i32::MAX as f64,
        (ReduceOp::Max, DType::U32) => 0.0,
        (ReduceOp::Min, DType::U32) => u32::MAX as f64,
        (ReduceOp::Max, _) => f64::NEG_INFINITY,
        _ => f64::INFINITY,
    };
    valid.select(&v, &v.lit(id))
}

/// `log(sum(exp(x - m))) + m` with `m` the (finite) maximum: two kernels, the exp folded into
/// the sum's prologue and the log into its epilogue.
fn lower_logsumexp(shape: &[usize], axes: &[usize]) -> Lowering {
    let mut low = Lowering::default();
    let kept: Vec<usize> = (0..shape.len()).filter(|d| !axes.contains(d)).collect();
    let out_shape: Vec<usize> = kept.iter().map(|&d| shape[d]).collect();
    let m = low.temp(Meta::new(out_shape.clone(), DType::F32));
    low.call(
        reduce_kernel(shape, DType::F32, axes.to_vec(), ReduceOp::Max, None),
        vec![Buf::In(0)],
        vec![m],
    );
    // m broadcast over the input space: kept axes step through m, reduced axes repeat it.
    let ostr = contiguous_strides(&out_shape);
    let m_strides: Vec<i64> = (0..shape.len())
        .map(|d| kept.iter().position(|&k| k == d).map_or(0, |j| ostr[j]))
        .collect();
    let b = ExprBuilder::new(&[DType::F32, DType::F32]);
    let x = b.load_affine(0, 0, contiguous_strides(shape));
    let mraw = b.load_affine(1, 0, m_strides);
    let finite = mraw.is_nan().or(&mraw.is_inf()).not();
    let mv = finite.select(&mraw, &mraw.lit(0.0));
    let e = (&x - &mv).exp();
    let prologue = b.finish(&[&e]);
    let b = ExprBuilder::new(&[DType::F32, DType::F32]);
    let acc = b.acc(DType::F32);
    let mraw = b.load_affine(1, 0, ostr);
    let finite = mraw.is_nan().or(&mraw.is_inf()).not();
    let mv = finite.select(&mraw, &mraw.lit(0.0));
    let out = acc.log() + mv;
    let epilogue = b.finish(&[&out]);
    let k = ReduceKernel {
        space: shape.to_vec(),
        axes: axes.to_vec(),
        op: ReduceOp::Sum,
        inputs: vec![DType::F32, DType::F32],
        prologue,
        epilogue: Some(epilogue),
    };
    low.call(Kernel::Reduce(k), vec![Buf::In(0), m], vec![Buf::Out(0)]);
    low
}

fn reduction(op: ReductionOp, x: &Tensor) -> Result<Tensor> {
    apply1(Op::Reduce(op), &[x])
}

macro_rules! reduce_fns {
    ($($(#[$doc:meta])* $f:ident => $k:ident),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $f(x: &Tensor, axes: impl Into<Axes>, keepdims: bool) -> Result<Tensor> {
                reduction(ReductionOp::Reduce { kind: ReduceKind::$k, axes: axes.into(), keepdims }, x)
            }
        )*
    };
}

reduce_fns! {
    /// Sum over `axes` (`Axes::All` for every axis).
    reduce_sum => Sum,
    /// Product over `axes`.
    reduce_prod => Prod,
    /// Maximum over `axes` (NaN propagates).
    reduce_max => Max,
    /// Minimum over `axes`.
    reduce_min => Min,
    /// Mean over `axes` (integers: truncated).
    reduce_mean => Mean,
    /// Logical or over `axes`.
    reduce_any => Any,
    /// Logical and over `axes`.
    reduce_all => All,
    /// `log(sum(exp(x)))` over `axes`, computed stably.
    reduce_logsumexp => LogSumExp,
}

/// Index of the largest value along `axis` (the first on ties), as int32.
pub fn argmax(x: &Tensor, axis: i64) -> Result<Tensor> {
    reduction(ReductionOp::ArgMax { axis }, x)
}

/// Index of the smallest value along `axis` (the first on ties), as int32.
pub fn argmin(x: &Tensor, axis: i64) -> Result<Tensor> {
    reduction(ReductionOp::ArgMin { axis }, x)
}

/// Cumulative sum along `axis`; `exclusive` starts from 0, `reverse` runs from the end.
pub fn cumsum(x: &Tensor, axis: i64, exclusive: bool, reverse: bool) -> Result<Tensor> {
    reduction(
        ReductionOp::Scan {
            axis,
            product: false,
            exclusive,
            reverse,
        },
        x,
    )
}

/// Cumulative product along `axis`.
pub fn cumprod(x: &Tensor, axis: i64, exclusive: bool, reverse: bool) -> Result<Tensor> {
    reduction(
        ReductionOp::Scan {
            axis,
            product: true,
            exclusive,
            reverse,
        },
        x,
    )
}

/// `exp(x) / sum(exp(x))` along `axis`.
pub fn softmax(x: &Tensor, axis: i64) -> Result<Tensor> {
    reduction(ReductionOp::Softmax { axis, log: false }, x)
}

/// `x - log(sum(exp(x)))` along `axis`.
pub fn log_softmax(x: &Tensor, axis: i64) -> Result<Tensor> {
    reduction(ReductionOp::Softmax { axis, log: true }, x)
}

/// `x / sqrt(max(sum(x^2, axes), epsilon))`.
pub fn l2_normalize(x: &Tensor, axes: impl Into<Axes>, epsilon: f32) -> Result<Tensor> {
    let ss = reduce_sum(&super::square(x)?, axes, true)?;
    let eps = super::scalar_like(&ss, epsilon as f64)?;
    super::mul(x, &super::rsqrt(&super::maximum(&ss, &eps)?)?)
}

impl Tensor {
    /// [`reduce_sum`].
    pub fn reduce_sum(&self, axes: impl Into<Axes>, keepdims: bool) -> Result<Tensor> {
        reduce_sum(self, axes, keepdims)
    }
    /// [`reduce_mean`].
    pub fn reduce_mean(&self, axes: impl Into<Axes>, keepdims: bool) -> Result<Tensor> {
        reduce_mean(self, axes, keepdims)
    }
    /// [`reduce_max`].
    pub fn reduce_max(&self, axes: impl Into<Axes>, keepdims: bool) -> Result<Tensor> {
        reduce_max(self, axes, keepdims)
    }
    /// [`argmax`].
    pub fn argmax(&self, axis: i64) -> Result<Tensor> {
        argmax(self, axis)
    }
    /// [`softmax`].
    pub fn softmax(&self, axis: i64) -> Result<Tensor> {
        softmax(self, axis)
    }
}
