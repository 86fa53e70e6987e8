//! Reductions on the CPU. The prologue's space is permuted so that each output's points
//! are contiguous (reduced axes innermost), or, when the last axis is kept, so that the
//! reduced axes come just before it and whole rows of it fold into the outputs.

use super::eval::{BLOCK, Eval, Prepared};
use super::{PARALLEL_MIN, check_len};
use crate::dtype::DType;
use crate::error::Result;
use crate::kernel::ir::{Expr, Index, Node, ReduceKernel, ReduceOp, reduce_acc_dtype};
use bytemuck::{cast_slice, cast_slice_mut};
use rayon::prelude::*;

/// Arithmetic the folds need, for each word type.
trait Num: bytemuck::Pod + Send + Sync + PartialOrd {
    const ZERO: Self;
    const ONE: Self;
    const LOWEST: Self;
    const HIGHEST: Self;
    fn add(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    fn is_nan(self) -> bool {
        false
    }
}
impl Num for f32 {
    const ZERO: f32 = 0.0;
    const ONE: f32 = 1.0;
    const LOWEST: f32 = f32::NEG_INFINITY;
    const HIGHEST: f32 = f32::INFINITY;
    fn add(self, o: f32) -> f32 {
        self + o
    }
    fn mul(self, o: f32) -> f32 {
        self * o
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
}
impl Num for i32 {
    const ZERO: i32 = 0;
    const ONE: i32 = 1;
    const LOWEST: i32 = i32::MIN;
    const HIGHEST: i32 = i32::MAX;
    fn add(self, o: i32) -> i32 {
        self.wrapping_add(o)
    }
    fn mul(self, o: i32) -> i32 {
        self.wrapping_mul(o)
    }
}
impl Num for u32 {
    const ZERO: u32 = 0;
    const ONE: u32 = 1;
    const LOWEST: u32 = 0;
    const HIGHEST: u32 = u32::MAX;
    fn add(self, o: u32) -> u32 {
        self.wrapping_add(o)
    }
    fn mul(self, o: u32) -> u32 {
        self.wrapping_mul(o)
    }
}

fn identity<T: Num>(op: ReduceOp) -> T {
    match op {
        ReduceOp::Sum | ReduceOp::Any => T::ZERO,
        ReduceOp::Prod | ReduceOp::All => T::ONE,
        ReduceOp::Max | ReduceOp::ArgMax => T::LOWEST,
        ReduceOp::Min | ReduceOp::ArgMin => T::HIGHEST,
    }
}

/// NaN propagates through max and min, as in TensorFlow.
#[inline(always)]
fn combine<T: Num>(op: ReduceOp, a: T, b: T) -> T {
    match op {
        ReduceOp::Sum => a.add(b),
        ReduceOp::Prod => a.mul(b),
        ReduceOp::Max | ReduceOp::Any => {
            if b > a || b.is_nan() {
                b
            } else {
                a
            }
        }
        ReduceOp::Min | ReduceOp::All => {
            if b < a || b.is_nan() {
                b
            } else {
                a
            }
        }
        ReduceOp::ArgMax | ReduceOp::ArgMin => unreachable!("arg reductions track indices"),
    }
}

/// Folds a run of values; sums use eight partial accumulators (vectorised, and more
/// accurate than one running sum).
#[inline(always)]
fn fold<T: Num>(op: ReduceOp, init: T, xs: &[T]) -> T {
    if op == ReduceOp::Sum {
        let mut lanes = [T::ZERO; 8];
        let mut chunks = xs.chunks_exact(8);
        for c in &mut chunks {
            for i in 0..8 {
                lanes[i] = lanes[i].add(c[i]);
            }
        }
        let mut s = init;
        for l in lanes {
            s = s.add(l);
        }
        for &x in chunks.remainder() {
            s = s.add(x);
        }
        return s;
    }
    xs.iter().fold(init, |a, &x| combine(op, a, x))
}

/// The prologue rewritten for a permuted space (`perm[j]` = old axis of new axis `j`).
fn permute_expr(e: &Expr, perm: &[usize]) -> Expr {
    let mut inv = vec![0; perm.len()];
    for (j, &d) in perm.iter().enumerate() {
        inv[d] = j;
    }
    let mut out = e.clone();
    for n in out.nodes.iter_mut() {
        match n {
            Node::Coord(d) => *d = inv[*d as usize] as u32,
            Node::Load {
                index: Index::Affine { strides, .. },
                ..
            } => {
                *strides = perm.iter().map(|&d| strides[d]).collect();
            }
            _ => {}
        }
    }
    out
}

pub(crate) fn run(k: &ReduceKernel, ins: &[&[u32]], out: &mut [u32]) -> Result<()> {
    let rank = k.space.len();
    let kept: Vec<usize> = (0..rank).filter(|d| !k.axes.contains(d)).collect();
    let out_space: Vec<usize> = kept.iter().map(|&d| k.space[d]).collect();
    let o_count: usize = out_space.iter().product();
    let r_count: usize = k.axes.iter().map(|&d| k.space[d]).product();
    check_len("reduce", out.len(), o_count)?;
    if o_count == 0 {
        return Ok(());
    }
    let in_dt = k.prologue.output_dtypes()[0];
    let arg = matches!(k.op, ReduceOp::ArgMax | ReduceOp::ArgMin);
    let last = k.space.last().copied().unwrap_or(1);
    let inner = kept.is_empty() || k.axes.contains(&(rank - 1));
    // The last axis kept and long enough to fold along: each group of the other kept axes
    // reduces rows of it (a pooling window over channels). One group is `reduce_outer`.
    let grouped = !inner && last >= GROUP_MIN_LANES && (arg || o_count > last);
    let perm: Vec<usize> = if grouped {
        let outer = &kept[..kept.len() - 1];
        outer
            .iter()
            .chain(&k.axes)
            .chain([&(rank - 1)])
            .copied()
            .collect()
    } else if inner || arg {
        kept.iter().chain(&k.axes).copied().collect()
    } else {
        k.axes.iter().chain(&kept).copied().collect()
    };
    let inner = inner || (arg && !grouped);
    let pspace: Vec<usize> = perm.iter().map(|&d| k.space[d]).collect();
    let pexpr = permute_expr(&k.prologue, &perm);
    let prep = Prepared::new(&pexpr, &pspace, ins)?;
    let mut acc = vec![0u32; o_count];
    macro_rules! go {
        ($t:ty) => {{
            let a: &mut [$t] = cast_slice_mut(&mut acc);
            if grouped {
                reduce_grouped::<$t>(&prep, k.op, r_count, last, a)
            } else if arg {
                reduce_arg::<$t>(&prep, k.op, r_count, a)
            } else if inner {
                reduce_inner::<$t>(&prep, k.op, r_count, a)
            } else {
                reduce_outer::<$t>(&prep, k.op, r_count, a)
            }
        }};
    }
    match in_dt {
        DType::F32 => go!(f32),
        DType::I32 => go!(i32),
        DType::U32 | DType::Bool => go!(u32),
    }
    match &k.epilogue {
        None => out[..o_count].copy_from_slice(&acc),
        Some(e) => {
            let prep = Prepared::new(e, &out_space, ins)?;
            let mut ev = Eval::new(&prep);
            let mut t = 0;
            while t < o_count {
                let n = BLOCK.min(o_count - t);
                ev.run(t, n, Some(&acc));
                ev.write_output(0, &mut out[t..t + n]);
                t += n;
            }
        }
    }
    let _ = reduce_acc_dtype;
    Ok(())
}

/// Outputs whose points are contiguous runs of `r` in the permuted space.
fn reduce_inner<T: Num>(prep: &Prepared, op: ReduceOp, r: usize, acc: &mut [T]) {
    let id = identity::<T>(op);
    let work = |o0: usize, acc: &mut [T]| {
        acc.fill(id);
        if r == 0 {
            return;
        }
        let mut ev = Eval::new(prep);
        let mut tmp = Vec::new();
        let (mut p, end) = (o0 * r, (o0 + acc.len()) * r);
        while p < end {
            let n = BLOCK.min(end - p);
            ev.run(p, n, None);
            let vals: &[T] = cast_slice(ev.output_slice(0, &mut tmp));
            let mut t = 0;
            while t < n {
                let o = (p + t) / r;
                let seg = (r - (p + t) % r).min(n - t);
                let a = &mut acc[o - o0];
                *a = fold(op, *a, &vals[t..t + seg]);
                t += seg;
            }
            p += n;
        }
    };
    let points = acc.len() * r;
    if points < PARALLEL_MIN || acc.len() == 1 {
        if acc.len() == 1 && points >= PARALLEL_MIN {
            // One output: split its run across threads and combine partial results.
            let parts = rayon::current_num_threads().max(1) * 4;
            let step = r.div_ceil(parts).div_ceil(BLOCK) * BLOCK;
            let partial: Vec<T> = (0..r.div_ceil(step))
                .into_par_iter()
                .map(|c| {
                    let mut ev = Eval::new(prep);
                    let mut tmp = Vec::new();
                    let (mut p, end) = (c * step, ((c + 1) * step).min(r));
                    let mut a = id;
                    while p < end {
                        let n = BLOCK.min(end - p);
                        ev.run(p, n, None);
                        a = fold(op, a, cast_slice(ev.output_slice(0, &mut tmp)));
                        p += n;
                    }
                    a
                })
                .collect();
            acc[0] = partial.into_iter().fold(id, |a, b| combine(op, a, b));
            return;
        }
        work(0, acc);
        return;
    }
    let per = (PARALLEL_MIN / r.max(1))
        .max(1)
        .max(acc.len().div_ceil(rayon::current_num_threads() * 4));
    acc.par_chunks_mut(per)
        .enumerate()
        .for_each(|(c, a)| work(c * per, a));
}

/// Reduced axes outermost: point `p` belongs to output `p % o`; rows fold elementwise.
fn reduce_outer<T: Num>(prep: &Prepared, op: ReduceOp, r: usize, acc: &mut [T]) {
    let o = acc.len();
    let id = identity::<T>(op);
    let rows = |r0: usize, r1: usize| -> Vec<T> {
        let mut a = vec![id; o];
        let mut ev = Eval::new(prep);
        let mut tmp = Vec::new();
        let (mut p, end) = (r0 * o, r1 * o);
        while p < end {
            let n = BLOCK.min(end - p);
            ev.run(p, n, None);
            let vals: &[T] = cast_slice(ev.output_slice(0, &mut tmp));
            let mut t = 0;
            while t < n {
                let oi = (p + t) % o;
                let seg = (o - oi).min(n - t);
                for (x, &v) in a[oi..oi + seg].iter_mut().zip(&vals[t..t + seg]) {
                    *x = combine(op, *x, v);
                }
                t += seg;
            }
            p += n;
        }
        a
    };
    let threads = rayon::current_num_threads().max(1);
    if o * r < PARALLEL_MIN || threads == 1 || r < 2 || o > (64 << 20) / threads {
        acc.copy_from_slice(&rows(0, r));
        return;
    }
    let parts = threads.min(r);
    let step = r.div_ceil(parts);
    let partial: Vec<Vec<T>> = (0..parts)
        .into_par_iter()
        .map(|c| rows(c * step, ((c + 1) * step).min(r)))
        .collect();
    acc.fill(id);
    for p in partial {
        for (x, v) in acc.iter_mut().zip(p) {
            *x = combine(op, *x, v);
        }
    }
}

/// Shortest kept last axis that [`reduce_grouped`] folds along.
const GROUP_MIN_LANES: usize = 8;

/// Groups of `r` rows of `l` points, each group folding row by row into its `l` outputs;
/// arg reductions keep the row of each lane's first best value.
fn reduce_grouped<T: Num>(prep: &Prepared, op: ReduceOp, r: usize, l: usize, acc: &mut [T]) {
    let arg = matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin);
    let max = op == ReduceOp::ArgMax;
    let id = if arg {
        if max { T::LOWEST } else { T::HIGHEST }
    } else {
        identity::<T>(op)
    };
    let work = |g0: usize, acc: &mut [T]| {
        acc.fill(id);
        let mut rows = vec![-1i32; if arg { acc.len() } else { 0 }];
        let mut ev = Eval::new(prep);
        let mut tmp = Vec::new();
        let (mut p, end) = (g0 * r * l, (g0 * l + acc.len()) * r);
        while p < end {
            let n = BLOCK.min(end - p);
            ev.run(p, n, None);
            let vals: &[T] = cast_slice(ev.output_slice(0, &mut tmp));
            let mut t = 0;
            while t < n {
                let q = p + t;
                let (g, within) = (q / (r * l), q % (r * l));
                let (row, lane) = (within / l, within % l);
                let seg = (l - lane).min(n - t);
                let at = (g - g0) * l + lane;
                let (a, v) = (&mut acc[at..at + seg], &vals[t..t + seg]);
                if arg && row == 0 {
                    a.copy_from_slice(v);
                    rows[at..at + seg].fill(0);
                } else if arg {
                    // Branch-free, so it vectorises; ties keep the earlier row.
                    let row = row as i32;
                    let ri = &mut rows[at..at + seg];
                    for t in 0..seg {
                        let (x, b, i) = (v[t], a[t], ri[t]);
                        let better = if max { x > b } else { x < b };
                        a[t] = if better { x } else { b };
                        ri[t] = if better { row } else { i };
                    }
                } else {
                    for (b, &x) in a.iter_mut().zip(v) {
                        *b = combine(op, *b, x);
                    }
                }
                t += seg;
            }
            p += n;
        }
        for (a, i) in acc.iter_mut().zip(rows) {
            *a = bytemuck::cast::<u32, T>(i.max(0) as u32);
        }
    };
    let groups = acc.len() / l.max(1);
    if acc.len() * r < PARALLEL_MIN {
        work(0, acc);
        return;
    }
    let per = (PARALLEL_MIN / (r * l).max(1))
        .max(groups.div_ceil(rayon::current_num_threads() * 4))
        .max(1);
    acc.par_chunks_mut(per * l)
        .enumerate()
        .for_each(|(c, a)| work(c * per, a));
}

/// Index of the first largest (or smallest) value of each contiguous run.
fn reduce_arg<T: Num>(prep: &Prepared, op: ReduceOp, r: usize, acc: &mut [T]) {
    let max = op == ReduceOp::ArgMax;
    let work = |o0: usize, acc: &mut [T]| {
        let mut ev = Eval::new(prep);
        let mut tmp = Vec::new();
        let mut best: Vec<(T, i32)> =
            vec![(if max { T::LOWEST } else { T::HIGHEST }, -1); acc.len()];
        let (mut p, end) = (o0 * r, (o0 + acc.len()) * r);
        while p < end {
            let n = BLOCK.min(end - p);
            ev.run(p, n, None);
            let vals: &[T] = cast_slice(ev.output_slice(0, &mut tmp));
            for (t, &v) in vals.iter().enumerate() {
                let q = p + t;
                let (b, i) = &mut best[q / r - o0];
                let better = *i < 0 || if max { v > *b } else { v < *b };
                if better {
                    *b = v;
                    *i = (q % r) as i32;
                }
            }
            p += n;
        }
        for (a, (_, i)) in acc.iter_mut().zip(best) {
            *a = bytemuck::cast::<u32, T>(i.max(0) as u32);
        }
    };
    if acc.len() * r < PARALLEL_MIN {
        work(0, acc);
        return;
    }
    let per = (PARALLEL_MIN / r.max(1)).max(1);
    acc.par_chunks_mut(per)
        .enumerate()
        .for_each(|(c, a)| work(c * per, a));
}
