//! Movement ops: reshapes (zero-copy), transposes, broadcasts, concatenation, strided windows
//! (slice and strided_slice), padding, tiling and reversal. Each is one map kernel whose
//! loads are affine maps (transpose, broadcast, window, reverse) or computed indices (pad,
//! tile); concat writes each input's region through an affine store. The gather family lives
//! in `gather.rs`.

use super::gather::{self, GatherOp};
use super::{Buf, GradContext, Lowering, Meta, Op, OpDef, apply, apply1, expect_inputs};
use crate::dtype::{DType, Scalar};
use crate::error::{Error, Result};
use crate::kernel::ir::{E, ExprBuilder, Kernel, MapKernel, broadcast_strides, contiguous_strides};
use crate::shape::{broadcast_shapes, fmt_shape, normalize_axes, normalize_axis, num_elements};
use crate::tensor::Tensor;

/// How [`pad`] fills the border.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PadMode {
    /// A constant value (TensorFlow's `CONSTANT` with `constant_values`).
    Constant(f64),
    /// Mirror without repeating the edge (`REFLECT`).
    Reflect,
    /// Mirror repeating the edge (`SYMMETRIC`).
    Symmetric,
}

/// The movement family.
#[derive(Clone, Debug, PartialEq)]
pub enum MovementOp {
    /// New shape, one dimension may be -1.
    Reshape {
        shape: Vec<i64>,
    },
    Transpose {
        perm: Vec<usize>,
    },
    BroadcastTo {
        shape: Vec<usize>,
    },
    Concat {
        axis: i64,
    },
    /// Elements `begin + i * stride` along each axis, `size` of them (the primitive behind
    /// `slice`, `strided_slice`, `split` and `unstack`).
    Window {
        begin: Vec<usize>,
        stride: Vec<i64>,
        size: Vec<usize>,
    },
    Pad {
        paddings: Vec<[usize; 2]>,
        mode: PadMode,
    },
    Tile {
        multiples: Vec<usize>,
    },
    Reverse {
        axes: Vec<i64>,
    },
    /// Gather, gather_nd, scatter_nd, unsorted_segment_sum, one_hot (see `gather.rs`).
    Gather(GatherOp),
}

/// Resolves a reshape target with at most one -1.
fn reshape_target(from: &[usize], shape: &[i64]) -> Result<Vec<usize>> {
    let n = num_elements(from);
    let mismatch = || {
        Error::shape(
            "reshape",
            format!(
                "cannot reshape a tensor of {n} elements ({}) into {shape:?}",
                fmt_shape(from)
            ),
        )
    };
    let unknown: Vec<usize> = (0..shape.len()).filter(|&i| shape[i] == -1).collect();
    if unknown.len() > 1 || shape.iter().any(|&d| d < -1) {
        return Err(Error::invalid(
            "reshape",
            format!("shape {shape:?} may hold at most one -1 and no other negative size"),
        ));
    }
    let mut out = shape
        .iter()
        .map(|&d| usize::try_from(d.max(0)).map_err(|_| mismatch()))
        .collect::<Result<Vec<usize>>>()?;
    // Checked: a huge target is a user error, not an overflow.
    let known = (0..out.len())
        .filter(|&i| shape[i] != -1)
        .try_fold(1usize, |a, i| a.checked_mul(out[i]))
        .ok_or_else(mismatch)?;
    match unknown.first() {
        // As TensorFlow: -1 cannot be inferred next to a 0.
        Some(_) if known == 0 || !n.is_multiple_of(known) => return Err(mismatch()),
        Some(&u) => out[u] = n / known,
        None if known != n => return Err(mismatch()),
        None => {}
    }
    Ok(out)
}

/// `shape`, or an error when its element count or a row-major stride (which empty shapes
/// have too) would overflow: huge sizes are bad input, not a reason to panic.
pub(crate) fn checked_shape(op: &str, shape: Vec<usize>) -> Result<Vec<usize>> {
    let span = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d.max(1)));
    if span.is_none_or(|s| s > i64::MAX as usize) {
        return Err(Error::invalid(
            op,
            format!("output shape {} has too many elements", fmt_shape(&shape)),
        ));
    }
    Ok(shape)
}

impl OpDef for MovementOp {
    fn name(&self) -> &'static str {
        match self {
            MovementOp::Reshape { .. } => "reshape",
            MovementOp::Transpose { .. } => "transpose",
            MovementOp::BroadcastTo { .. } => "broadcast_to",
            MovementOp::Concat { .. } => "concat",
            MovementOp::Window { .. } => "strided_slice",
            MovementOp::Pad { .. } => "pad",
            MovementOp::Tile { .. } => "tile",
            MovementOp::Reverse { .. } => "reverse",
            MovementOp::Gather(g) => g.name(),
        }
    }

    fn infer(&self, ins: &[Meta]) -> Result<Vec<Meta>> {
        let name = self.name();
        if let MovementOp::Gather(g) = self {
            return g.infer(ins);
        }
        if let MovementOp::Concat { axis } = self {
            return infer_concat(*axis, ins);
        }
        expect_inputs(name, ins, 1)?;
        let x = &ins[0];
        let shape = match self {
            MovementOp::Reshape { shape } => reshape_target(&x.shape, shape)?,
            MovementOp::Transpose { perm } => {
                let mut seen = vec![false; x.rank()];
                if perm.len() != x.rank()
                    || perm
                        .iter()
                        .any(|&p| p >= x.rank() || std::mem::replace(&mut seen[p], true))
                {
                    return Err(Error::invalid(
                        name,
                        format!(
                            "perm {perm:?} is not a permutation of 0..{} (input shape {})",
                            x.rank(),
                            fmt_shape(&x.shape)
                        ),
                    ));
                }
                perm.iter().map(|&p| x.shape[p]).collect()
            }
            MovementOp::BroadcastTo { shape } => {
                let b = broadcast_shapes(name, &x.shape, shape)?;
                if &b != shape {
                    return Err(Error::shape(
                        name,
                        format!(
                            "cannot broadcast {} to {}",
                            fmt_shape(&x.shape),
                            fmt_shape(shape)
                        ),
                    ));
                }
                shape.clone()
            }
            MovementOp::Window {
                begin,
                stride,
                size,
            } => {
                if begin.len() != x.rank() || stride.len() != x.rank() || size.len() != x.rank() {
                    return Err(Error::invalid(
                        name,
                        format!("window spec needs {} entries per list", x.rank()),
                    ));
                }
                for d in 0..x.rank() {
                    // i128: a huge size or stride must fail the range check, not overflow.
                    let last = begin[d] as i128 + (size[d] as i128 - 1) * stride[d] as i128;
                    if size[d] > 0
                        && (begin[d] >= x.shape[d] || last < 0 || last >= x.shape[d] as i128)
                    {
                        return Err(Error::invalid(
                            name,
                            format!(
                                "axis {d}: {} elements from {} in steps of {} leave [0, {})",
                                size[d], begin[d], stride[d], x.shape[d]
                            ),
                        ));
                    }
                }
                size.clone()
            }
            MovementOp::Pad { paddings, mode } => {
                if paddings.len() != x.rank() {
                    return Err(Error::invalid(
                        name,
                        format!(
                            "paddings has {} rows for a tensor of rank {}",
                            paddings.len(),
                            x.rank()
                        ),
                    ));
                }
                for (d, p) in paddings.iter().enumerate() {
                    let limit = match mode {
                        PadMode::Constant(_) => usize::MAX,
                        PadMode::Reflect => x.shape[d].saturating_sub(1),
                        PadMode::Symmetric => x.shape[d],
                    };
                    if p[0] > limit || p[1] > limit {
                        return Err(Error::invalid(
                            name,
                            format!(
                                "paddings {p:?} on axis {d} of size {} exceed {limit} for {mode:?}",
                                x.shape[d]
                            ),
                        ));
                    }
                }
                (0..x.rank())
                    .map(|d| {
                        x.shape[d]
                            .saturating_add(paddings[d][0])
                            .saturating_add(paddings[d][1])
                    })
                    .collect()
            }
            MovementOp::Tile { multiples } => {
                if multiples.len() != x.rank() {
                    return Err(Error::invalid(
                        name,
                        format!(
                            "multiples {multiples:?} needs one entry per axis of {}",
                            fmt_shape(&x.shape)
                        ),
                    ));
                }
                (0..x.rank())
                    .map(|d| x.shape[d].saturating_mul(multiples[d]))
                    .collect()
            }
            MovementOp::Reverse { axes } => {
                normalize_axes(name, axes, x.rank())?;
                x.shape.clone()
            }
            MovementOp::Concat { .. } | MovementOp::Gather(_) => unreachable!("handled above"),
        };
        Ok(vec![Meta::new(checked_shape(name, shape)?, x.dtype)])
    }

    fn lower(&self, ins: &[Meta], outs: &[Meta]) -> Result<Lowering> {
        let out = &outs[0].shape;
        let dt = |i: usize| vec![ins[i].dtype];
        let kernel = match self {
            MovementOp::Reshape { .. } => return Ok(Lowering::alias(0)),
            MovementOp::Gather(g) => return g.lower(ins, outs),
            MovementOp::Concat { axis } => return Ok(lower_concat(*axis, ins, outs)),
            MovementOp::Transpose { perm } => {
                let is = contiguous_strides(&ins[0].shape);
                affine_map(out, dt(0), 0, perm.iter().map(|&p| is[p]).collect())
            }
            MovementOp::BroadcastTo { .. } => {
                affine_map(out, dt(0), 0, broadcast_strides(&ins[0].shape, out))
            }
            MovementOp::Window {
                begin,
                stride,
                size,
            } => {
                let is = contiguous_strides(&ins[0].shape);
                let offset = (0..is.len()).map(|d| begin[d] as i64 * is[d]).sum();
                // A stride only matters past the first element (and may be huge there).
                let st = (0..is.len())
                    .map(|d| if size[d] > 1 { stride[d] * is[d] } else { 0 })
                    .collect();
                affine_map(out, dt(0), offset, st)
            }
            MovementOp::Reverse { axes } => {
                let x = &ins[0];
                let axes = normalize_axes("reverse", axes, x.rank())?;
                let is = contiguous_strides(&x.shape);
                let offset = axes
                    .iter()
                    .map(|&d| (x.shape[d] as i64 - 1).max(0) * is[d])
                    .sum();
                let st = (0..x.rank())
                    .map(|d| if axes.contains(&d) { -is[d] } else { is[d] })
                    .collect();
                affine_map(out, dt(0), offset, st)
            }
            MovementOp::Tile { .. } => {
                let x = &ins[0];
                let b = ExprBuilder::new(&[x.dtype]);
                let is = contiguous_strides(&x.shape);
                let idx = index_sum(
                    &b,
                    (0..x.rank())
                        .map(|d| (b.coord(d).rem(&b.lit_i(x.shape[d].max(1) as i64)), is[d])),
                );
                let v = b.load_at(0, &idx);
                map(out, dt(0), b, &v)
            }
            MovementOp::Pad { paddings, mode } => lower_pad(&ins[0], out, paddings, *mode),
        };
        Ok(Lowering::single(kernel, 1, 1))
    }

    fn check_values(&self, inputs: &[&Tensor]) -> Result<()> {
        match self {
            MovementOp::Gather(g) => g.check_values(inputs),
            _ => Ok(()),
        }
    }

    fn checks_values(&self) -> bool {
        matches!(self, MovementOp::Gather(g) if !matches!(g, GatherOp::OneHot { .. }))
    }

    fn gradient(&self, g: &GradContext) -> Result<Vec<Option<Tensor>>> {
        let x = &g.inputs[0];
        let dy = g.grad();
        match self {
            MovementOp::Gather(op) => op.gradient(g),
            MovementOp::Reshape { .. } => {
                let shape: Vec<i64> = x.shape().iter().map(|&d| d as i64).collect();
                Ok(vec![Some(reshape(dy, &shape)?)])
            }
            MovementOp::BroadcastTo { .. } => Ok(vec![g.to_input(0, || Ok(dy.clone()))?]),
            MovementOp::Transpose { perm } => {
                let mut inv = vec![0; perm.len()];
                for (i, &p) in perm.iter().enumerate() {
                    inv[p] = i;
                }
                Ok(vec![g.to_input(0, || transpose(dy, &inv))?])
            }
            // Each input gets its slab of dy.
            MovementOp::Concat { axis } => {
                let a = normalize_axis("concat", *axis, dy.rank())?;
                let mut at = 0;
                let mut out = Vec::with_capacity(g.inputs.len());
                for (i, x) in g.inputs.iter().enumerate() {
                    let mut begin = vec![0; x.rank()];
                    begin[a] = at;
                    at += x.shape()[a];
                    let ones = vec![1; x.rank()];
                    out.push(g.to_input(i, || strided_window(dy, &begin, &ones, x.shape()))?);
                }
                Ok(out)
            }
            MovementOp::Window { begin, stride, .. } => {
                Ok(vec![g.to_input(0, || {
                    window_grad(dy, x.shape(), begin, stride)
                })?])
            }
            MovementOp::Pad { paddings, mode } => {
                Ok(vec![g.to_input(0, || {
                    pad_grad(dy, x.shape(), paddings, *mode)
                })?])
            }
            // dy viewed as [m0, d0, m1, d1, ...], summed over the copies.
            MovementOp::Tile { multiples } => Ok(vec![g.to_input(0, || {
                let (mut split, mut axes) = (Vec::new(), Vec::new());
                for (&m, &d) in multiples.iter().zip(x.shape()) {
                    if m != 1 {
                        axes.push(split.len() as i64);
                        split.push(m as i64);
                    }
                    split.push(d as i64);
                }
                if axes.is_empty() {
                    return Ok(dy.clone());
                }
                super::reduce_sum(&reshape(dy, &split)?, axes, false)
            })?]),
            MovementOp::Reverse { axes } => Ok(vec![g.to_input(0, || reverse(dy, axes))?]),
        }
    }
}

/// `t` with its axes permuted, skipping the identity.
pub(crate) fn permute(t: &Tensor, perm: &[usize]) -> Result<Tensor> {
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        return Ok(t.clone());
    }
    transpose(t, perm)
}

/// Zeros of `shape` (float32) on `like`'s device.
pub(crate) fn zeros_on(like: &Tensor, shape: &[usize]) -> Result<Tensor> {
    crate::device::with_device(like.device(), || super::zeros(shape, DType::F32))
}

/// The gradient of a window: `dy` scattered back into zeros of the input's `shape`. Axes
/// read backwards are reversed, each element is followed by `|stride| - 1` zeros (padding
/// a new axis of size 1), and the result is padded out to the first element read.
fn window_grad(dy: &Tensor, shape: &[usize], begin: &[usize], stride: &[i64]) -> Result<Tensor> {
    let (r, n) = (shape.len(), dy.shape().to_vec());
    if dy.size() == 0 {
        return zeros_on(dy, shape);
    }
    // A stride only matters past an axis's first element.
    let step: Vec<i64> = (0..r)
        .map(|d| if n[d] > 1 { stride[d] } else { 1 })
        .collect();
    let s: Vec<usize> = step.iter().map(|v| v.unsigned_abs() as usize).collect();
    // The lowest position read on each axis (infer checked the window fits).
    let lo: Vec<usize> = (0..r)
        .map(|d| {
            if step[d] < 0 {
                begin[d] - (n[d] - 1) * s[d]
            } else {
                begin[d]
            }
        })
        .collect();
    let back: Vec<i64> = (0..r).filter(|&d| step[d] < 0).map(|d| d as i64).collect();
    let mut t = if back.is_empty() {
        dy.clone()
    } else {
        reverse(dy, &back)?
    };
    if s.iter().any(|&v| v > 1) {
        // A size-1 axis after each strided one, padded to the stride.
        let (mut split, mut gaps) = (Vec::new(), Vec::new());
        for d in 0..r {
            split.push(n[d] as i64);
            gaps.push([0, 0]);
            if s[d] > 1 {
                split.push(1);
                gaps.push([0, s[d] - 1]);
            }
        }
        let wide: Vec<usize> = (0..r).map(|d| n[d] * s[d]).collect();
        let spread = pad(&reshape(&t, &split)?, &gaps, PadMode::Constant(0.0))?;
        t = reshape(&spread, &wide.iter().map(|&w| w as i64).collect::<Vec<_>>())?;
        // The last element's gap may run past the input's end.
        let fit: Vec<usize> = (0..r).map(|d| wide[d].min(shape[d] - lo[d])).collect();
        if fit != wide {
            t = strided_window(&t, &vec![0; r], &vec![1; r], &fit)?;
        }
    }
    let around: Vec<[usize; 2]> = (0..r)
        .map(|d| [lo[d], shape[d] - lo[d] - t.shape()[d]])
        .collect();
    if around.iter().all(|p| *p == [0, 0]) {
        return Ok(t);
    }
    pad(&t, &around, PadMode::Constant(0.0))
}

/// The gradient of a pad (TensorFlow's PadGrad and MirrorPadGrad): the interior of `dy`;
/// for mirror modes, plus each border slab reversed and added onto the elements it copied,
/// one axis at a time.
fn pad_grad(
    dy: &Tensor,
    shape: &[usize],
    paddings: &[[usize; 2]],
    mode: PadMode,
) -> Result<Tensor> {
    let r = shape.len();
    if let PadMode::Constant(_) = mode {
        let begin: Vec<usize> = paddings.iter().map(|p| p[0]).collect();
        return strided_window(dy, &begin, &vec![1; r], shape);
    }
    if num_elements(shape) == 0 {
        return zeros_on(dy, shape);
    }
    // Reflect mirrors about the edge element (skipping it), symmetric about the edge.
    let e = usize::from(mode == PadMode::Reflect);
    let mut t = dy.clone();
    for d in 0..r {
        let ([p0, p1], n) = (paddings[d], shape[d]);
        if p0 == 0 && p1 == 0 {
            continue;
        }
        let slab = |t: &Tensor, from: usize, len: usize| {
            let mut begin = vec![0; r];
            begin[d] = from;
            let mut size = t.shape().to_vec();
            size[d] = len;
            strided_window(t, &begin, &vec![1; r], &size)
        };
        let fold = |part: Tensor, before: usize, after: usize| {
            let mut p = vec![[0, 0]; r];
            p[d] = [before, after];
            pad(&reverse(&part, &[d as i64])?, &p, PadMode::Constant(0.0))
        };
        let mut acc = slab(&t, p0, n)?;
        if p0 > 0 {
            acc = super::add(&acc, &fold(slab(&t, 0, p0)?, e, n - p0 - e)?)?;
        }
        if p1 > 0 {
            acc = super::add(&acc, &fold(slab(&t, p0 + n, p1)?, n - p1 - e, e)?)?;
        }
        t = acc;
    }
    Ok(t)
}

/// `sum(term * stride)` as an i32 node (0 for no terms).
pub(crate) fn index_sum(b: &ExprBuilder, terms: impl IntoIterator<Item = (E, i64)>) -> E {
    let mut acc: Option<E> = None;
    for (t, s) in terms {
        if s == 0 {
            continue;
        }
        let term = if s == 1 { t } else { &t * &b.lit_i(s) };
        acc = Some(match acc {
            None => term,
            Some(a) => a + term,
        });
    }
    acc.unwrap_or_else(|| b.lit_i(0))
}

fn map(space: &[usize], inputs: Vec<DType>, b: ExprBuilder, out: &E) -> Kernel {
    Kernel::Map(MapKernel {
        space: space.to_vec(),
        inputs,
        expr: b.finish(&[out]),
        store: None,
    })
}

/// A copy of input 0 through an affine map of the output coordinates.
fn affine_map(space: &[usize], inputs: Vec<DType>, offset: i64, strides: Vec<i64>) -> Kernel {
    let b = ExprBuilder::new(&inputs);
    let v = b.load_affine(0, offset, strides);
    map(space, inputs, b, &v)
}

fn infer_concat(axis: i64, ins: &[Meta]) -> Result<Vec<Meta>> {
    let first = ins
        .first()
        .ok_or_else(|| Error::invalid("concat", "needs at least one tensor"))?;
    let a = normalize_axis("concat", axis, first.rank())?;
    let mut shape = first.shape.clone();
    shape[a] = 0;
    for (i, m) in ins.iter().enumerate() {
        let same = m.rank() == first.rank()
            && (0..m.rank()).all(|d| d == a || m.shape[d] == first.shape[d]);
        let what = |m: &Meta| format!("{} {}", m.dtype, fmt_shape(&m.shape));
        let msg = format!(
            "input {i} is {} but input 0 is {}: all must match except along axis {axis}",
            what(m),
            what(first)
        );
        if !same {
            return Err(Error::shape("concat", msg));
        }
        if m.dtype != first.dtype {
            return Err(Error::dtype("concat", msg));
        }
        shape[a] += m.shape[a];
    }
    Ok(vec![Meta::new(shape, first.dtype)])
}

/// One kernel per input, each writing its slab of the output through an affine store.
fn lower_concat(axis: i64, ins: &[Meta], outs: &[Meta]) -> Lowering {
    let out = &outs[0].shape;
    let a = normalize_axis("concat", axis, out.len()).expect("checked by infer");
    let os = contiguous_strides(out);
    let mut low = Lowering::default();
    let mut at = 0;
    for (i, m) in ins.iter().enumerate() {
        if m.size() > 0 {
            let b = ExprBuilder::new(&[m.dtype]);
            let v = b.load_affine(0, 0, contiguous_strides(&m.shape));
            let k = MapKernel {
                space: m.shape.clone(),
                inputs: vec![m.dtype],
                expr: b.finish(&[&v]),
                store: Some((at as i64 * os[a], os.clone())),
            };
            low.call(Kernel::Map(k), vec![Buf::In(i)], vec![Buf::Out(0)]);
        }
        at += m.shape[a];
    }
    low
}

fn lower_pad(x: &Meta, out: &[usize], paddings: &[[usize; 2]], mode: PadMode) -> Kernel {
    let b = ExprBuilder::new(&[x.dtype]);
    let is = contiguous_strides(&x.shape);
    let mut valid: Option<E> = None;
    let mut terms = Vec::new();
    for d in 0..x.rank() {
        let (before, dim) = (paddings[d][0] as i64, x.shape[d] as i64);
        let r = &b.coord(d) - &b.lit_i(before);
        let r = match mode {
            PadMode::Constant(_) => {
                let ok = r.ge(&b.lit_i(0)).and(&r.lt(&b.lit_i(dim)));
                valid = Some(match valid {
                    None => ok,
                    Some(v) => v.and(&ok),
                });
                r
            }
            // Mirror positions before 0 and past the end back into the tensor.
            PadMode::Reflect => {
                let r = r.lt(&b.lit_i(0)).select(&-&r, &r);
                r.ge(&b.lit_i(dim))
                    .select(&(&b.lit_i(2 * (dim - 1)) - &r), &r)
            }
            PadMode::Symmetric => {
                let r = r.lt(&b.lit_i(0)).select(&(&-&r - &b.lit_i(1)), &r);
                r.ge(&b.lit_i(dim))
                    .select(&(&b.lit_i(2 * dim - 1) - &r), &r)
            }
        };
        terms.push((r, is[d]));
    }
    let v = b.load_at(0, &index_sum(&b, terms));
    let v = match (mode, valid) {
        (PadMode::Constant(c), Some(ok)) => ok.select(&v, &b.param(Scalar::from_f64(x.dtype, c))),
        _ => v,
    };
    map(out, vec![x.dtype], b, &v)
}

fn movement(op: MovementOp, x: &Tensor) -> Result<Tensor> {
    apply1(Op::Movement(op), &[x])
}

/// A new shape for the same elements (one dimension may be -1); shares the buffer.
pub fn reshape(x: &Tensor, shape: &[i64]) -> Result<Tensor> {
    let shape = shape.to_vec();
    movement(MovementOp::Reshape { shape }, x)
}

/// Inserts an axis of size 1 at `axis` (negative counts from the end of the result).
pub fn expand_dims(x: &Tensor, axis: i64) -> Result<Tensor> {
    let a = normalize_axis("expand_dims", axis, x.rank() + 1)?;
    let mut s: Vec<i64> = x.shape().iter().map(|&d| d as i64).collect();
    s.insert(a, 1);
    reshape(x, &s)
}

/// Removes axes of size 1: the listed ones, or all of them for an empty list.
pub fn squeeze(x: &Tensor, axes: &[i64]) -> Result<Tensor> {
    let drop = if axes.is_empty() {
        (0..x.rank()).filter(|&d| x.shape()[d] == 1).collect()
    } else {
        let a = normalize_axes("squeeze", axes, x.rank())?;
        if let Some(&d) = a.iter().find(|&&d| x.shape()[d] != 1) {
            return Err(Error::invalid(
                "squeeze",
                format!(
                    "cannot squeeze axis {d} of size {} (shape {})",
                    x.shape()[d],
                    fmt_shape(x.shape())
                ),
            ));
        }
        a
    };
    let s: Vec<i64> = (0..x.rank())
        .filter(|d| !drop.contains(d))
        .map(|d| x.shape()[d] as i64)
        .collect();
    reshape(x, &s)
}

/// Permutes the axes; `perm[i]` is the input axis that becomes output axis `i`.
pub fn transpose(x: &Tensor, perm: &[usize]) -> Result<Tensor> {
    let perm = perm.to_vec();
    movement(MovementOp::Transpose { perm }, x)
}

/// Broadcasts to `shape` (NumPy rules).
pub fn broadcast_to(x: &Tensor, shape: &[usize]) -> Result<Tensor> {
    let shape = shape.to_vec();
    movement(MovementOp::BroadcastTo { shape }, x)
}

/// Joins tensors along an existing axis.
pub fn concat(tensors: &[&Tensor], axis: i64) -> Result<Tensor> {
    apply1(Op::Movement(MovementOp::Concat { axis }), tensors)
}

/// Joins tensors along a new axis.
pub fn stack(tensors: &[&Tensor], axis: i64) -> Result<Tensor> {
    let first = tensors
        .first()
        .ok_or_else(|| Error::invalid("stack", "needs at least one tensor"))?;
    let a = normalize_axis("stack", axis, first.rank() + 1)?;
    for (i, t) in tensors.iter().enumerate() {
        if t.shape() != first.shape() {
            return Err(Error::shape(
                "stack",
                format!(
                    "input {i} has shape {} but input 0 has {}",
                    fmt_shape(t.shape()),
                    fmt_shape(first.shape())
                ),
            ));
        }
    }
    let expanded = tensors
        .iter()
        .map(|t| expand_dims(t, a as i64))
        .collect::<Result<Vec<_>>>()?;
    concat(&expanded.iter().collect::<Vec<_>>(), a as i64)
}

/// The elements `begin + i * stride` along each axis, `size` of them.
pub fn strided_window(
    x: &Tensor,
    begin: &[usize],
    stride: &[i64],
    size: &[usize],
) -> Result<Tensor> {
    let begin = begin.to_vec();
    let stride = stride.to_vec();
    let size = size.to_vec();
    movement(
        MovementOp::Window {
            begin,
            stride,
            size,
        },
        x,
    )
}

/// Splits along `axis` into pieces of the given sizes (they must add up to the axis length).
pub fn split(x: &Tensor, sizes: &[usize], axis: i64) -> Result<Vec<Tensor>> {
    let a = normalize_axis("split", axis, x.rank())?;
    if sizes.iter().try_fold(0usize, |t, &n| t.checked_add(n)) != Some(x.shape()[a]) {
        return Err(Error::invalid(
            "split",
            format!(
                "sizes {sizes:?} do not add up to the {} elements of axis {axis}",
                x.shape()[a]
            ),
        ));
    }
    let mut at = 0;
    sizes
        .iter()
        .map(|&n| {
            let mut begin = vec![0; x.rank()];
            begin[a] = at;
            let mut size = x.shape().to_vec();
            size[a] = n;
            at += n;
            strided_window(x, &begin, &vec![1; x.rank()], &size)
        })
        .collect()
}

/// Splits along `axis` into `num` equal pieces.
pub fn split_even(x: &Tensor, num: usize, axis: i64) -> Result<Vec<Tensor>> {
    let a = normalize_axis("split", axis, x.rank())?;
    if num == 0 || !x.shape()[a].is_multiple_of(num) {
        return Err(Error::invalid(
            "split",
            format!(
                "axis {axis} of size {} does not split into {num}",
                x.shape()[a]
            ),
        ));
    }
    split(x, &vec![x.shape()[a] / num; num], axis)
}

/// The tensors along `axis`, each without that axis.
pub fn unstack(x: &Tensor, axis: i64) -> Result<Vec<Tensor>> {
    let a = normalize_axis("unstack", axis, x.rank())?;
    split(x, &vec![1; x.shape()[a]], a as i64)?
        .iter()
        .map(|t| squeeze(t, &[a as i64]))
        .collect()
}

/// `size` elements from `begin` on each axis (`-1` for the rest of the axis).
pub fn slice(x: &Tensor, begin: &[i64], size: &[i64]) -> Result<Tensor> {
    if begin.len() != x.rank() || size.len() != x.rank() {
        return Err(Error::invalid(
            "slice",
            format!(
                "begin and size need {} entries for shape {}",
                x.rank(),
                fmt_shape(x.shape())
            ),
        ));
    }
    let mut b = Vec::new();
    let mut s = Vec::new();
    for d in 0..x.rank() {
        // i128: no user-given begin or size can overflow the range check.
        let (bg, dim) = (begin[d] as i128, x.shape()[d] as i128);
        let n = if size[d] == -1 {
            dim - bg
        } else {
            size[d] as i128
        };
        if bg < 0 || n < 0 || bg + n > dim {
            return Err(Error::invalid(
                "slice",
                format!(
                    "axis {d}: begin {} and size {} do not fit in dimension {dim}",
                    begin[d], size[d]
                ),
            ));
        }
        b.push(bg as usize);
        s.push(n as usize);
    }
    strided_window(x, &b, &vec![1; x.rank()], &s)
}

/// One axis of a strided slice: where it starts, its stride and length.
fn slice_axis(
    dim: usize,
    begin: Option<i64>,
    end: Option<i64>,
    stride: i64,
) -> Result<(usize, i64, usize)> {
    if stride == 0 {
        return Err(Error::invalid("strided_slice", "strides must be non-zero"));
    }
    // i128: bounds and strides are any i64 (i64::MIN included) and only clamp.
    let (d, s) = (dim as i128, stride as i128);
    let norm = |v: i64| if v < 0 { v as i128 + d } else { v as i128 };
    let (b, e) = if s > 0 {
        (
            begin.map_or(0, |v| norm(v).clamp(0, d)),
            end.map_or(d, |v| norm(v).clamp(0, d)),
        )
    } else {
        (
            begin.map_or(d - 1, |v| norm(v).clamp(-1, d - 1)),
            end.map_or(-1, |v| norm(v).clamp(-1, d - 1)),
        )
    };
    let n = if s > 0 {
        (e - b + s - 1) / s
    } else {
        (b - e - s - 1) / -s
    };
    let n = n.max(0) as usize;
    Ok((if n == 0 { 0 } else { b as usize }, stride, n))
}

/// NumPy-style `x[b0:e0:s0, b1:e1:s1, ...]`: `None` is an omitted bound; negative values
/// count from the end and out-of-range bounds clamp, as in TensorFlow. Axes past the lists
/// are taken whole.
pub fn strided_slice(
    x: &Tensor,
    begin: &[Option<i64>],
    end: &[Option<i64>],
    strides: &[i64],
) -> Result<Tensor> {
    if begin.len() != end.len() || begin.len() != strides.len() || begin.len() > x.rank() {
        return Err(Error::invalid(
            "strided_slice",
            format!(
                "begin, end and strides need one entry each per axis (at most {}), got {}, {}, {}",
                x.rank(),
                begin.len(),
                end.len(),
                strides.len()
            ),
        ));
    }
    let (mut b, mut st, mut n) = (Vec::new(), Vec::new(), Vec::new());
    for d in 0..x.rank() {
        let (bd, sd, nd) = if d < begin.len() {
            slice_axis(x.shape()[d], begin[d], end[d], strides[d])?
        } else {
            (0, 1, x.shape()[d])
        };
        b.push(bd);
        st.push(sd);
        n.push(nd);
    }
    strided_window(x, &b, &st, &n)
}

/// TensorFlow's `tf.strided_slice` with its bit masks: `begin_mask`/`end_mask` ignore a
/// bound, `ellipsis_mask` marks the entry that stands for all remaining axes, `new_axis_mask`
/// inserts an axis of size 1, and `shrink_axis_mask` takes one element and drops the axis.
#[allow(clippy::too_many_arguments)]
pub fn strided_slice_masks(
    x: &Tensor,
    begin: &[i64],
    end: &[i64],
    strides: &[i64],
    begin_mask: u32,
    end_mask: u32,
    ellipsis_mask: u32,
    new_axis_mask: u32,
    shrink_axis_mask: u32,
) -> Result<Tensor> {
    let n = begin.len();
    if end.len() != n || strides.len() != n {
        return Err(Error::invalid(
            "strided_slice",
            "begin, end and strides must have the same length",
        ));
    }
    if ellipsis_mask.count_ones() > 1 {
        return Err(Error::invalid(
            "strided_slice",
            "at most one ellipsis is allowed",
        ));
    }
    // Bits past 31 are clear (TensorFlow's masks are 32-bit).
    let bit = |m: u32, i: usize| i < 32 && m >> i & 1 == 1;
    // Spec entries that consume input axes (all but new axes).
    let consuming = (0..n)
        .filter(|&i| !bit(new_axis_mask, i) && !bit(ellipsis_mask, i))
        .count();
    let mut axis = 0usize;
    let (mut b, mut st, mut sz) = (vec![0; x.rank()], vec![1i64; x.rank()], x.shape().to_vec());
    let mut out_shape: Vec<i64> = Vec::new();
    for i in 0..n {
        if bit(ellipsis_mask, i) {
            let covered = x.rank().checked_sub(consuming).ok_or_else(|| {
                Error::invalid(
                    "strided_slice",
                    format!("{consuming} indices for a tensor of rank {}", x.rank()),
                )
            })?;
            for _ in 0..covered {
                out_shape.push(x.shape()[axis] as i64);
                axis += 1;
            }
            continue;
        }
        if bit(new_axis_mask, i) {
            out_shape.push(1);
            continue;
        }
        if axis >= x.rank() {
            return Err(Error::invalid(
                "strided_slice",
                format!("too many indices for a tensor of rank {}", x.rank()),
            ));
        }
        let dim = x.shape()[axis];
        if bit(shrink_axis_mask, i) {
            if strides[i] <= 0 {
                return Err(Error::invalid(
                    "strided_slice",
                    format!(
                        "shrinking axis {axis} takes one element and needs a positive stride, got {}",
                        strides[i]
                    ),
                ));
            }
            let v = if begin[i] < 0 {
                begin[i] + dim as i64
            } else {
                begin[i]
            };
            if v < 0 || v >= dim as i64 {
                return Err(Error::invalid(
                    "strided_slice",
                    format!(
                        "index {} is out of bounds for axis {axis} of size {dim}",
                        begin[i]
                    ),
                ));
            }
            (b[axis], st[axis], sz[axis]) = (v as usize, 1, 1);
        } else {
            let bg = (!bit(begin_mask, i)).then_some(begin[i]);
            let en = (!bit(end_mask, i)).then_some(end[i]);
            let (bb, ss, nn) = slice_axis(dim, bg, en, strides[i])?;
            (b[axis], st[axis], sz[axis]) = (bb, ss, nn);
            out_shape.push(nn as i64);
        }
        axis += 1;
    }
    for d in axis..x.rank() {
        out_shape.push(x.shape()[d] as i64);
    }
    reshape(&strided_window(x, &b, &st, &sz)?, &out_shape)
}

/// Pads each axis by `paddings[d] = [before, after]`.
pub fn pad(x: &Tensor, paddings: &[[usize; 2]], mode: PadMode) -> Result<Tensor> {
    let paddings = paddings.to_vec();
    movement(MovementOp::Pad { paddings, mode }, x)
}

/// Repeats the tensor `multiples[d]` times along each axis.
pub fn tile(x: &Tensor, multiples: &[usize]) -> Result<Tensor> {
    let multiples = multiples.to_vec();
    movement(MovementOp::Tile { multiples }, x)
}

/// Reverses the order of elements along `axes`.
pub fn reverse(x: &Tensor, axes: &[i64]) -> Result<Tensor> {
    let axes = axes.to_vec();
    movement(MovementOp::Reverse { axes }, x)
}

pub(crate) fn gather_op(op: GatherOp, inputs: &[&Tensor]) -> Result<Tensor> {
    Ok(apply(Op::Movement(MovementOp::Gather(op)), inputs)?.swap_remove(0))
}

pub use gather::{gather, gather_nd, one_hot, scatter_nd, unsorted_segment_sum};

impl Tensor {
    /// [`reshape`].
    pub fn reshape(&self, shape: &[i64]) -> Result<Tensor> {
        reshape(self, shape)
    }
    /// [`transpose`].
    pub fn transpose(&self, perm: &[usize]) -> Result<Tensor> {
        transpose(self, perm)
    }
    /// [`expand_dims`].
    pub fn expand_dims(&self, axis: i64) -> Result<Tensor> {
        expand_dims(self, axis)
    }
    /// [`squeeze`].
    pub fn squeeze(&self, axes: &[i64]) -> Result<Tensor> {
        squeeze(self, axes)
    }
}
