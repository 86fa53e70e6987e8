//! Index-driven ops: gather, gather_nd, scatter_nd, unsorted_segment_sum and one_hot. Loads
//! of the data go through computed indices; scatters add through the scatter kernel (atomic
//! on the GPU). Indices out of range are errors found before any kernel runs (read back from
//! the device when they live there), as TensorFlow's CPU kernels report them.

use super::movement::{checked_shape, gather_op, index_sum, permute, zeros_on};
use super::{
    Buf, GradContext, Lowering, Meta, OpDef, add, broadcast_to, cast, concat, expect_index, less,
    reshape, where_,
};
use crate::dtype::{DType, Scalar};
use crate::error::{Error, Result};
use crate::kernel::ir::{E, ExprBuilder, Kernel, MapKernel, ScatterKernel, contiguous_strides};
use crate::shape::{fmt_shape, normalize_axis};
use crate::tensor::Tensor;

/// The gather family (a part of [`super::MovementOp`]).
#[derive(Clone, Debug, PartialEq)]
pub enum GatherOp {
    Gather {
        axis: i64,
        batch_dims: i64,
    },
    GatherNd {
        batch_dims: i64,
    },
    ScatterNd {
        shape: Vec<usize>,
    },
    UnsortedSegmentSum {
        num_segments: usize,
    },
    OneHot {
        depth: usize,
        on: f32,
        off: f32,
        axis: i64,
    },
}

/// Normalised `(axis, batch_dims)` of a gather.
fn gather_axes(p: &Meta, i: &Meta, axis: i64, batch_dims: i64) -> Result<(usize, usize)> {
    let b = if batch_dims < 0 {
        batch_dims + i.rank() as i64
    } else {
        batch_dims
    };
    if b < 0 || b as usize > i.rank() {
        return Err(Error::invalid(
            "gather",
            format!(
                "batch_dims {batch_dims} is out of range for indices of rank {}",
                i.rank()
            ),
        ));
    }
    let a = normalize_axis("gather", axis, p.rank())?;
    let b = b as usize;
    if a < b {
        return Err(Error::invalid(
            "gather",
            format!("axis {axis} must not be below batch_dims {batch_dims}"),
        ));
    }
    if p.shape[..b] != i.shape[..b] {
        return Err(Error::shape(
            "gather",
            format!(
                "the first {b} dimensions of params {} and indices {} must match",
                fmt_shape(&p.shape),
                fmt_shape(&i.shape)
            ),
        ));
    }
    Ok((a, b))
}

/// Affine strides that read `of` (contiguous) at output axes `map[k] = Some(axis of `of`)`.
fn picked_strides(of: &[usize], map: &[Option<usize>]) -> Vec<i64> {
    let st = contiguous_strides(of);
    map.iter().map(|m| m.map_or(0, |d| st[d])).collect()
}

/// An index load as i32 (u32 indices are reinterpreted; they are range-checked anyway).
fn as_index(e: E) -> E {
    if e.dtype == DType::I32 {
        e
    } else {
        e.cast(DType::I32)
    }
}

impl GatherOp {
    pub fn name(&self) -> &'static str {
        match self {
            GatherOp::Gather { .. } => "gather",
            GatherOp::GatherNd { .. } => "gather_nd",
            GatherOp::ScatterNd { .. } => "scatter_nd",
            GatherOp::UnsortedSegmentSum { .. } => "unsorted_segment_sum",
            GatherOp::OneHot { .. } => "one_hot",
        }
    }
}

impl OpDef for GatherOp {
    fn name(&self) -> &'static str {
        GatherOp::name(self)
    }

    fn infer(&self, ins: &[Meta]) -> Result<Vec<Meta>> {
        let name = GatherOp::name(self);
        match self {
            GatherOp::Gather { axis, batch_dims } => {
                super::expect_inputs(name, ins, 2)?;
                let (p, i) = (&ins[0], &ins[1]);
                expect_index(name, "indices", i)?;
                let (a, b) = gather_axes(p, i, *axis, *batch_dims)?;
                let mut out = p.shape[..a].to_vec();
                out.extend(&i.shape[b..]);
                out.extend(&p.shape[a + 1..]);
                Ok(vec![Meta::new(checked_shape(name, out)?, p.dtype)])
            }
            GatherOp::GatherNd { batch_dims } => {
                super::expect_inputs(name, ins, 2)?;
                let (p, i) = (&ins[0], &ins[1]);
                expect_index(name, "indices", i)?;
                let b = *batch_dims as usize;
                let k = i.shape.last().copied().unwrap_or(0);
                if i.rank() == 0
                    || *batch_dims < 0
                    || b >= i.rank()
                    || b + k > p.rank()
                    || p.shape[..b] != i.shape[..b]
                {
                    return Err(Error::shape(
                        name,
                        format!(
                            "indices {} (batch_dims {batch_dims}) do not index params {}",
                            fmt_shape(&i.shape),
                            fmt_shape(&p.shape)
                        ),
                    ));
                }
                let mut out = i.shape[..i.rank() - 1].to_vec();
                out.extend(&p.shape[b + k..]);
                Ok(vec![Meta::new(checked_shape(name, out)?, p.dtype)])
            }
            GatherOp::ScatterNd { shape } => {
                super::expect_inputs(name, ins, 2)?;
                let (i, u) = (&ins[0], &ins[1]);
                expect_index(name, "indices", i)?;
                let k = i.shape.last().copied().unwrap_or(0);
                let mut want = i.shape[..i.rank().saturating_sub(1)].to_vec();
                if i.rank() == 0 || k > shape.len() {
                    return Err(Error::shape(
                        name,
                        format!(
                            "indices {} do not index shape {shape:?}",
                            fmt_shape(&i.shape)
                        ),
                    ));
                }
                want.extend(&shape[k..]);
                if u.shape != want {
                    return Err(Error::shape(
                        name,
                        format!(
                            "updates must have shape {} for indices {}, got {}",
                            fmt_shape(&want),
                            fmt_shape(&i.shape),
                            fmt_shape(&u.shape)
                        ),
                    ));
                }
                if u.dtype == DType::Bool {
                    return Err(Error::dtype(name, "updates must be numeric"));
                }
                Ok(vec![Meta::new(
                    checked_shape(name, shape.clone())?,
                    u.dtype,
                )])
            }
            GatherOp::UnsortedSegmentSum { num_segments } => {
                super::expect_inputs(name, ins, 2)?;
                let (d, s) = (&ins[0], &ins[1]);
                expect_index(name, "segment_ids", s)?;
                if s.rank() > d.rank() || d.shape[..s.rank()] != s.shape[..] {
                    return Err(Error::shape(
                        name,
                        format!(
                            "segment_ids {} must be a prefix of data's shape {}",
                            fmt_shape(&s.shape),
                            fmt_shape(&d.shape)
                        ),
                    ));
                }
                if d.dtype == DType::Bool {
                    return Err(Error::dtype(name, "data must be numeric"));
                }
                let mut out = vec![*num_segments];
                out.extend(&d.shape[s.rank()..]);
                Ok(vec![Meta::new(checked_shape(name, out)?, d.dtype)])
            }
            GatherOp::OneHot { depth, axis, .. } => {
                super::expect_inputs(name, ins, 1)?;
                expect_index(name, "indices", &ins[0])?;
                let a = if *axis == -1 {
                    ins[0].rank()
                } else {
                    normalize_axis(name, *axis, ins[0].rank() + 1)?
                };
                let mut out = ins[0].shape.clone();
                out.insert(a, *depth);
                Ok(vec![Meta::new(checked_shape(name, out)?, DType::F32)])
            }
        }
    }

    fn lower(&self, ins: &[Meta], outs: &[Meta]) -> Result<Lowering> {
        let out = &outs[0].shape;
        let dtypes: Vec<DType> = ins.iter().map(|m| m.dtype).collect();
        let b = ExprBuilder::new(&dtypes);
        let kernel = match self {
            GatherOp::Gather { axis, batch_dims } => {
                let (p, i) = (&ins[0], &ins[1]);
                let (a, bd) = gather_axes(p, i, *axis, *batch_dims)?;
                let ni = i.rank() - bd;
                // Output axes: params[..a], then indices[bd..], then params[a + 1..].
                let imap: Vec<Option<usize>> = (0..out.len())
                    .map(|d| {
                        if d < bd {
                            Some(d)
                        } else if d >= a && d < a + ni {
                            Some(bd + d - a)
                        } else {
                            None
                        }
                    })
                    .collect();
                let idx = as_index(b.load_affine(1, 0, picked_strides(&i.shape, &imap)));
                let ps = contiguous_strides(&p.shape);
                let mut terms: Vec<(E, i64)> = (0..a).map(|d| (b.coord(d), ps[d])).collect();
                terms.push((idx, ps[a]));
                terms.extend((a + 1..p.rank()).map(|d| (b.coord(a + ni + d - a - 1), ps[d])));
                let v = b.load_at(0, &index_sum(&b, terms));
                map_kernel(out, dtypes, b, &v)
            }
            GatherOp::GatherNd { batch_dims } => {
                let (p, i) = (&ins[0], &ins[1]);
                let bd = *batch_dims as usize;
                let k = *i.shape.last().expect("rank checked");
                let lead = i.rank() - 1;
                let ps = contiguous_strides(&p.shape);
                let is = contiguous_strides(&i.shape);
                let mut terms: Vec<(E, i64)> = (0..bd).map(|d| (b.coord(d), ps[d])).collect();
                for j in 0..k {
                    let st: Vec<i64> = (0..out.len())
                        .map(|d| if d < lead { is[d] } else { 0 })
                        .collect();
                    terms.push((as_index(b.load_affine(1, j as i64, st)), ps[bd + j]));
                }
                terms.extend((bd + k..p.rank()).map(|d| (b.coord(lead + d - bd - k), ps[d])));
                let v = b.load_at(0, &index_sum(&b, terms));
                map_kernel(out, dtypes, b, &v)
            }
            GatherOp::ScatterNd { shape } => {
                let (i, u) = (&ins[0], &ins[1]);
                let k = *i.shape.last().expect("rank checked");
                let lead = i.rank() - 1;
                let os = contiguous_strides(shape);
                let is = contiguous_strides(&i.shape);
                let mut terms = Vec::new();
                for (j, &stride) in os.iter().enumerate().take(k) {
                    let st: Vec<i64> = (0..u.rank())
                        .map(|d| if d < lead { is[d] } else { 0 })
                        .collect();
                    terms.push((as_index(b.load_affine(0, j as i64, st)), stride));
                }
                terms.extend((k..shape.len()).map(|d| (b.coord(lead + d - k), os[d])));
                let idx = index_sum(&b, terms);
                let v = b.load_affine(1, 0, contiguous_strides(&u.shape));
                return Ok(scatter(
                    out,
                    u.shape.clone(),
                    dtypes,
                    b.finish(&[&idx, &v]),
                    u.dtype,
                ));
            }
            GatherOp::UnsortedSegmentSum { .. } => {
                let (d, s) = (&ins[0], &ins[1]);
                let os = contiguous_strides(out);
                let smap: Vec<Option<usize>> =
                    (0..d.rank()).map(|a| (a < s.rank()).then_some(a)).collect();
                let seg = as_index(b.load_affine(1, 0, picked_strides(&s.shape, &smap)));
                let inner = index_sum(
                    &b,
                    (s.rank()..d.rank()).map(|a| (b.coord(a), os[1 + a - s.rank()])),
                );
                // TensorFlow drops negative segment ids.
                let idx = seg
                    .lt(&b.lit_i(0))
                    .select(&b.lit_i(-1), &(&seg * &b.lit_i(os[0]) + inner));
                let v = b.load_affine(0, 0, contiguous_strides(&d.shape));
                return Ok(scatter(
                    out,
                    d.shape.clone(),
                    dtypes,
                    b.finish(&[&idx, &v]),
                    d.dtype,
                ));
            }
            GatherOp::OneHot { on, off, axis, .. } => {
                let i = &ins[0];
                let a = if *axis == -1 {
                    i.rank()
                } else {
                    normalize_axis("one_hot", *axis, i.rank() + 1)?
                };
                let imap: Vec<Option<usize>> = (0..out.len())
                    .map(|d| {
                        if d < a {
                            Some(d)
                        } else if d > a {
                            Some(d - 1)
                        } else {
                            None
                        }
                    })
                    .collect();
                let idx = as_index(b.load_affine(0, 0, picked_strides(&i.shape, &imap)));
                let v = idx.eq(&b.coord(a)).select(&b.param(*on), &b.param(*off));
                map_kernel(out, dtypes, b, &v)
            }
        };
        Ok(Lowering::single(kernel, ins.len(), 1))
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn check_values(&self, inputs: &[&Tensor]) -> Result<()> {
        let name = GatherOp::name(self);
        match self {
            GatherOp::Gather { axis, batch_dims } => {
                let (a, _) = gather_axes(
                    &Meta::of(inputs[0]),
                    &Meta::of(inputs[1]),
                    *axis,
                    *batch_dims,
                )?;
                check_range(name, &index_values(inputs[1])?, inputs[0].shape()[a])
            }
            GatherOp::GatherNd { batch_dims } => {
                let k = *inputs[1].shape().last().unwrap_or(&0);
                let bounds = &inputs[0].shape()[*batch_dims as usize..*batch_dims as usize + k];
                check_tuples(name, &index_values(inputs[1])?, bounds)
            }
            GatherOp::ScatterNd { shape } => {
                let k = *inputs[0].shape().last().unwrap_or(&0);
                check_tuples(name, &index_values(inputs[0])?, &shape[..k])
            }
            GatherOp::UnsortedSegmentSum { num_segments } => {
                let ids = index_values(inputs[1])?;
                if let Some((i, &v)) = ids
                    .iter()
                    .enumerate()
                    .find(|(_, v)| **v >= *num_segments as i64)
                {
                    return Err(Error::invalid(
                        name,
                        format!("segment_ids[{i}] = {v} is not below num_segments {num_segments}"),
                    ));
                }
                Ok(())
            }
            GatherOp::OneHot { .. } => Ok(()),
        }
    }

    fn gradient(&self, g: &GradContext) -> Result<Vec<Option<Tensor>>> {
        let dy = g.grad();
        match self {
            GatherOp::Gather { axis, batch_dims } => {
                let (p, i) = (&g.inputs[0], &g.inputs[1]);
                let (a, b) = gather_axes(&Meta::of(p), &Meta::of(i), *axis, *batch_dims)?;
                Ok(vec![
                    g.to_input(0, || gather_grad(dy, p.shape(), i, a, b))?,
                    None,
                ])
            }
            GatherOp::GatherNd { batch_dims } => {
                let (p, i) = (&g.inputs[0], &g.inputs[1]);
                Ok(vec![
                    g.to_input(0, || {
                        let idx = with_batch_coords(i, *batch_dims as usize)?;
                        scatter_nd(&idx, dy, p.shape())
                    })?,
                    None,
                ])
            }
            GatherOp::ScatterNd { .. } => Ok(vec![
                None,
                g.to_input(1, || gather_nd(dy, &g.inputs[0], 0))?,
            ]),
            GatherOp::UnsortedSegmentSum { num_segments } => Ok(vec![
                g.to_input(0, || gather_drop_negatives(dy, &g.inputs[1], *num_segments))?,
                None,
            ]),
            // The output comes from integer indices only.
            GatherOp::OneHot { .. } => Ok(vec![None]),
        }
    }
}

/// Indices as int32 (the index arithmetic of the gradients below is signed).
fn to_i32(t: &Tensor) -> Result<Tensor> {
    if t.dtype() == DType::I32 {
        Ok(t.clone())
    } else {
        cast(t, DType::I32)
    }
}

/// An int32 tensor built on the host, on `like`'s device.
fn host_i32(like: &Tensor, values: Vec<usize>, shape: &[usize]) -> Result<Tensor> {
    let v = values
        .into_iter()
        .map(|x| i32::try_from(x).map_err(|_| Error::invalid("gradient", "index exceeds int32")))
        .collect::<Result<Vec<i32>>>()?;
    Tensor::from_slice_on(&v, shape, like.device())
}

/// The gradient of a gather into params of `shape` along axis `a` with `b` batch dims: dy's
/// slices summed into the rows they were read from (one segment per batch and row).
fn gather_grad(dy: &Tensor, shape: &[usize], idx: &Tensor, a: usize, b: usize) -> Result<Tensor> {
    let (ni, rank) = (idx.rank() - b, shape.len());
    // dy is [batch, outer, index axes, inner]; segments sum over leading axes.
    let perm: Vec<usize> = (0..b)
        .chain(a..a + ni)
        .chain(b..a)
        .chain(a + ni..dy.rank())
        .collect();
    let data = permute(dy, &perm)?;
    let (rows, batch) = (shape[a], shape[..b].iter().product::<usize>());
    let ids = if b == 0 {
        idx.clone()
    } else {
        let mut s = shape[..b].to_vec();
        s.extend(std::iter::repeat_n(1, ni));
        let offsets = host_i32(dy, (0..batch).map(|k| k * rows).collect(), &s)?;
        add(&to_i32(idx)?, &offsets)?
    };
    let summed = unsorted_segment_sum(&data, &ids, batch * rows)?;
    // [batch, rows, outer, inner] back to params' order.
    let split: Vec<i64> = shape[..b]
        .iter()
        .chain([&rows])
        .chain(&shape[b..a])
        .chain(&shape[a + 1..])
        .map(|&d| d as i64)
        .collect();
    let back: Vec<usize> = (0..b)
        .chain(b + 1..=a)
        .chain([b])
        .chain(a + 1..rank)
        .collect();
    permute(&reshape(&summed, &split)?, &back)
}

/// gather_nd indices with `b` batch dims as full index tuples: each tuple prefixed by its
/// batch coordinates.
fn with_batch_coords(idx: &Tensor, b: usize) -> Result<Tensor> {
    if b == 0 {
        return Ok(idx.clone());
    }
    let lead = &idx.shape()[..b];
    let st = &contiguous_strides(lead);
    let n: usize = lead.iter().product();
    let coords = (0..n)
        .flat_map(|k| (0..b).map(move |d| (k / st[d] as usize) % lead[d]))
        .collect();
    let mut grid = lead.to_vec();
    grid.extend(std::iter::repeat_n(1, idx.rank() - 1 - b));
    grid.push(b);
    let mut full = idx.shape()[..idx.rank() - 1].to_vec();
    full.push(b);
    let coords = broadcast_to(&host_i32(idx, coords, &grid)?, &full)?;
    concat(&[&coords, &to_i32(idx)?], -1)
}

/// TensorFlow's `_GatherDropNegatives`: rows of `dy` at `ids`, zero where an id is
/// negative (those were dropped); they read an appended zero row.
fn gather_drop_negatives(dy: &Tensor, ids: &Tensor, num: usize) -> Result<Tensor> {
    if ids.dtype() == DType::U32 {
        return gather(dy, ids, 0, 0);
    }
    let mut zshape = dy.shape().to_vec();
    zshape[0] = 1;
    let padded = concat(&[dy, &zeros_on(dy, &zshape)?], 0)?;
    let zero = Tensor::scalar_of(Scalar::from(0i32), ids.device())?;
    let last = host_i32(ids, vec![num], &[])?;
    gather(&padded, &where_(&less(ids, &zero)?, &last, ids)?, 0, 0)
}

fn map_kernel(space: &[usize], inputs: Vec<DType>, b: ExprBuilder, v: &E) -> Kernel {
    Kernel::Map(MapKernel {
        space: space.to_vec(),
        inputs,
        expr: b.finish(&[v]),
        store: None,
    })
}

/// Zero the output, then add every point of `space` at its computed index (`expr` gives
/// the index and the value, reading the op's inputs in order).
fn scatter(
    out: &[usize],
    space: Vec<usize>,
    inputs: Vec<DType>,
    expr: crate::kernel::ir::Expr,
    dt: DType,
) -> Lowering {
    let mut low = Lowering::default();
    let zb = ExprBuilder::new(&[]);
    let zero = zb.lit(crate::dtype::Scalar::from_f64(dt, 0.0));
    low.call(
        map_kernel(out, vec![], zb, &zero),
        vec![],
        vec![Buf::Out(0)],
    );
    let n_in = inputs.len();
    let k = ScatterKernel {
        space,
        inputs,
        expr,
        out_len: out.iter().product(),
    };
    low.call(
        Kernel::Scatter(k),
        (0..n_in).map(Buf::In).collect(),
        vec![Buf::Out(0)],
    );
    low
}

/// Index values of an int tensor, read back to the host for range checks.
#[cfg(not(target_arch = "wasm32"))]
fn index_values(t: &Tensor) -> Result<Vec<i64>> {
    Ok(match t.dtype() {
        DType::U32 => t.to_vec::<u32>()?.into_iter().map(i64::from).collect(),
        _ => t.to_vec::<i32>()?.into_iter().map(i64::from).collect(),
    })
}

#[cfg(not(target_arch = "wasm32"))]
fn check_range(name: &str, idx: &[i64], bound: usize) -> Result<()> {
    if let Some((i, &v)) = idx
        .iter()
        .enumerate()
        .find(|(_, v)| **v < 0 || **v >= bound as i64)
    {
        return Err(Error::invalid(
            name,
            format!("indices[{i}] = {v} is not in [0, {bound})"),
        ));
    }
    Ok(())
}

/// Checks index tuples (the last axis of `idx`) against per-position bounds.
#[cfg(not(target_arch = "wasm32"))]
fn check_tuples(name: &str, idx: &[i64], bounds: &[usize]) -> Result<()> {
    let k = bounds.len().max(1);
    for (t, tuple) in idx.chunks(k).enumerate() {
        for (j, &v) in tuple.iter().enumerate() {
            if v < 0 || v >= bounds[j] as i64 {
                return Err(Error::invalid(
                    name,
                    format!(
                        "index tuple {t} = {tuple:?} is out of bounds: position {j} must be in [0, {})",
                        bounds[j]
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// Gathers slices of `params` along `axis` at `indices` (TensorFlow's `tf.gather`).
pub fn gather(params: &Tensor, indices: &Tensor, axis: i64, batch_dims: i64) -> Result<Tensor> {
    gather_op(GatherOp::Gather { axis, batch_dims }, &[params, indices])
}

/// Gathers slices of `params` at index tuples in the last axis of `indices`.
pub fn gather_nd(params: &Tensor, indices: &Tensor, batch_dims: i64) -> Result<Tensor> {
    gather_op(GatherOp::GatherNd { batch_dims }, &[params, indices])
}

/// A zero tensor of `shape` with `updates` added at index tuples (duplicates add up).
pub fn scatter_nd(indices: &Tensor, updates: &Tensor, shape: &[usize]) -> Result<Tensor> {
    gather_op(
        GatherOp::ScatterNd {
            shape: shape.to_vec(),
        },
        &[indices, updates],
    )
}

/// Sums `data` into `num_segments` rows by `segment_ids` (negative ids are dropped).
pub fn unsorted_segment_sum(
    data: &Tensor,
    segment_ids: &Tensor,
    num_segments: usize,
) -> Result<Tensor> {
    gather_op(
        GatherOp::UnsortedSegmentSum { num_segments },
        &[data, segment_ids],
    )
}

/// One-hot float32 vectors of `depth` along `axis` (-1: a new last axis); out-of-range
/// indices give all `off_value`.
pub fn one_hot(
    indices: &Tensor,
    depth: usize,
    on_value: f32,
    off_value: f32,
    axis: i64,
) -> Result<Tensor> {
    gather_op(
        GatherOp::OneHot {
            depth,
            on: on_value,
            off: off_value,
            axis,
        },
        &[indices],
    )
}
