//! Evaluates an [`Expr`] a block of points at a time: each node produces a whole block of
//! values (a constant, a borrowed input slice, or a scratch buffer), so the per-node loops
//! are tight and vectorised; nothing is interpreted per element.

use super::math;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernel::ir::{BinaryFn, Expr, Index, Node, UnaryFn};
use bytemuck::{cast_slice, cast_slice_mut};

/// Points per block: small enough that a block of every node stays in L1/L2.
pub(crate) const BLOCK: usize = 1024;

/// How a load node reads its input, decided once per kernel.
#[derive(Clone, Copy, Debug)]
enum LoadPlan {
    /// `input[offset + linear]`: a borrowed slice.
    Contiguous { offset: usize },
    /// One element for every point.
    Splat { offset: usize },
    /// A general affine map, walked by an odometer.
    Strided,
    /// A computed index.
    Computed,
}

/// An expression checked against its inputs, shareable between threads.
pub(crate) struct Prepared<'a> {
    pub expr: &'a Expr,
    pub space: &'a [usize],
    pub inputs: &'a [&'a [u32]],
    plans: Vec<Option<LoadPlan>>,
    cstrides: Vec<usize>,
}

/// Smallest and largest linear index an affine map reaches over a non-empty space.
pub(crate) fn affine_range(space: &[usize], offset: i64, strides: &[i64]) -> (i64, i64) {
    let (mut lo, mut hi) = (offset, offset);
    for (&d, &s) in space.iter().zip(strides) {
        let span = s * (d as i64 - 1);
        if span < 0 { lo += span } else { hi += span }
    }
    (lo, hi)
}

impl<'a> Prepared<'a> {
    pub fn new(expr: &'a Expr, space: &'a [usize], inputs: &'a [&'a [u32]]) -> Result<Self> {
        let cstrides = crate::shape::strides(space);
        let nonempty = space.iter().all(|&d| d > 0);
        let mut plans = vec![None; expr.nodes.len()];
        for (i, node) in expr.nodes.iter().enumerate() {
            let Node::Load { input, index } = node else {
                continue;
            };
            let data = inputs.get(*input as usize).ok_or_else(|| {
                Error::invalid("cpu kernel", format!("load of missing input {input}"))
            })?;
            plans[i] = Some(match index {
                Index::Node(_) => LoadPlan::Computed,
                Index::Affine { offset, strides } => {
                    if strides.len() != space.len() {
                        return Err(Error::invalid(
                            "cpu kernel",
                            "affine map rank differs from the space",
                        ));
                    }
                    if nonempty {
                        let (lo, hi) = affine_range(space, *offset, strides);
                        if lo < 0 || hi >= data.len() as i64 {
                            return Err(Error::invalid(
                                "cpu kernel",
                                format!(
                                    "load of input {input} reaches [{lo}, {hi}] outside its {} elements",
                                    data.len()
                                ),
                            ));
                        }
                    }
                    let live = |d: usize| space[d] > 1;
                    let off = (*offset).max(0) as usize;
                    if (0..space.len()).all(|d| !live(d) || strides[d] == 0) {
                        LoadPlan::Splat { offset: off }
                    } else if (0..space.len()).all(|d| !live(d) || strides[d] == cstrides[d] as i64)
                    {
                        LoadPlan::Contiguous { offset: off }
                    } else {
                        LoadPlan::Strided
                    }
                }
            });
        }
        Ok(Prepared {
            expr,
            space,
            inputs,
            plans,
            cstrides,
        })
    }
}

#[derive(Clone, Copy)]
enum V<'a> {
    /// One value for the whole block.
    S(u32),
    /// A borrowed input slice.
    Sl(&'a [u32]),
    /// The node's scratch buffer.
    Buf,
    /// Written straight into the caller's output slice (see [`Eval::run_into`]).
    Direct,
}

#[derive(Clone, Copy)]
enum Src<'b> {
    S(u32),
    V(&'b [u32]),
}

/// Per-thread evaluation state for one [`Prepared`] expression.
pub(crate) struct Eval<'p, 'a> {
    p: &'p Prepared<'a>,
    vals: Vec<V<'a>>,
    scratch: Vec<Vec<u32>>,
    len: usize,
}

trait Word: bytemuck::Pod {}
impl Word for f32 {}
impl Word for i32 {}
impl Word for u32 {}

#[inline(always)]
fn word<T: Word>(bits: u32) -> T {
    bytemuck::cast(bits)
}

#[inline(always)]
fn map1<T: Word, R: Word>(a: Src, out: &mut [u32], f: impl Fn(T) -> R) {
    let out: &mut [R] = cast_slice_mut(out);
    match a {
        Src::S(x) => out.fill(f(word(x))),
        Src::V(xs) => {
            for (o, &x) in out.iter_mut().zip(cast_slice::<u32, T>(xs)) {
                *o = f(x)
            }
        }
    }
}

#[inline(always)]
fn map2<T: Word, R: Word>(a: Src, b: Src, out: &mut [u32], f: impl Fn(T, T) -> R) {
    let out: &mut [R] = cast_slice_mut(out);
    match (a, b) {
        (Src::S(x), Src::S(y)) => out.fill(f(word(x), word(y))),
        (Src::S(x), Src::V(ys)) => {
            let x: T = word(x);
            for (o, &y) in out.iter_mut().zip(cast_slice::<u32, T>(ys)) {
                *o = f(x, y)
            }
        }
        (Src::V(xs), Src::S(y)) => {
            let y: T = word(y);
            for (o, &x) in out.iter_mut().zip(cast_slice::<u32, T>(xs)) {
                *o = f(x, y)
            }
        }
        (Src::V(xs), Src::V(ys)) => {
            for ((o, &x), &y) in out
                .iter_mut()
                .zip(cast_slice::<u32, T>(xs))
                .zip(cast_slice::<u32, T>(ys))
            {
                *o = f(x, y)
            }
        }
    }
}

#[inline(always)]
fn b2u(b: bool) -> u32 {
    b as u32
}

/// NaN-propagating max/min, as TensorFlow's `maximum`/`minimum`.
#[inline(always)]
fn fmax(x: f32, y: f32) -> f32 {
    if x > y || x.is_nan() { x } else { y }
}
#[inline(always)]
fn fmin(x: f32, y: f32) -> f32 {
    if x < y || x.is_nan() { x } else { y }
}

fn ipow(base: i32, exp: i32) -> i32 {
    if exp < 0 {
        return match base {
            1 => 1,
            -1 => {
                if exp % 2 == 0 {
                    1
                } else {
                    -1
                }
            }
            _ => 0,
        };
    }
    let (mut r, mut b, mut e) = (1i32, base, exp as u32);
    while e > 0 {
        if e & 1 == 1 {
            r = r.wrapping_mul(b);
        }
        b = b.wrapping_mul(b);
        e >>= 1;
    }
    r
}

impl<'p, 'a> Eval<'p, 'a> {
    pub fn new(p: &'p Prepared<'a>) -> Self {
        let n = p.expr.nodes.len();
        Eval {
            p,
            vals: vec![V::S(0); n],
            scratch: vec![Vec::new(); n],
            len: 0,
        }
    }

    fn src(&self, id: u32) -> Src<'_> {
        match self.vals[id as usize] {
            V::S(x) => Src::S(x),
            V::Sl(s) => Src::V(s),
            V::Buf => Src::V(&self.scratch[id as usize][..self.len]),
            V::Direct => unreachable!("a direct output is the last node and read by nobody"),
        }
    }

    /// Evaluates every node for points `start..start + len` of the space. `acc` gives the
    /// values of `Acc` for these points.
    pub fn run(&mut self, start: usize, len: usize, acc: Option<&'a [u32]>) {
        self.run_with(start, len, acc, None)
    }

    /// Like [`Eval::run`] for a single-output program, computing its last node straight into
    /// `out` (saves a copy of every block); other outputs stay readable as usual.
    pub fn run_into(&mut self, start: usize, len: usize, acc: Option<&'a [u32]>, out: &mut [u32]) {
        let last = self.p.expr.nodes.len() as u32 - 1;
        let direct = self.p.expr.outputs == [last]
            && !matches!(
                self.p.expr.nodes[last as usize],
                Node::Load { .. } | Node::Const(_) | Node::Lit(_) | Node::Acc
            );
        if direct {
            self.run_with(start, len, acc, Some(out));
        } else {
            self.run_with(start, len, acc, None);
            self.write_output(0, out);
        }
    }

    fn run_with(
        &mut self,
        start: usize,
        len: usize,
        acc: Option<&'a [u32]>,
        out: Option<&mut [u32]>,
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports the features the clone is compiled for.
                unsafe { self.run_avx512(start, len, acc, out) };
                return;
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                // SAFETY: the CPU supports the features the clone is compiled for.
                unsafe { self.run_avx2(start, len, acc, out) };
                return;
            }
        }
        self.run_generic::<{ math::STATIC_FMA }>(start, len, acc, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(
        &mut self,
        start: usize,
        len: usize,
        acc: Option<&'a [u32]>,
        out: Option<&mut [u32]>,
    ) {
        self.run_generic::<true>(start, len, acc, out)
    }

    /// The same loops over 16-lane registers.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
    unsafe fn run_avx512(
        &mut self,
        start: usize,
        len: usize,
        acc: Option<&'a [u32]>,
        out: Option<&mut [u32]>,
    ) {
        self.run_generic::<true>(start, len, acc, out)
    }

    /// `FMA`: whether the math functions may fuse multiply-adds (see [`math::STATIC_FMA`]).
    #[inline(always)]
    fn run_generic<const FMA: bool>(
        &mut self,
        start: usize,
        len: usize,
        acc: Option<&'a [u32]>,
        mut direct: Option<&mut [u32]>,
    ) {
        self.len = len;
        let p = self.p;
        let last = p.expr.nodes.len() - 1;
        for i in 0..p.expr.nodes.len() {
            let v = match &p.expr.nodes[i] {
                Node::Const(s) | Node::Lit(s) => V::S(s.bits()),
                Node::Load { input, index } => {
                    let data = p.inputs[*input as usize];
                    match (p.plans[i].expect("load plan"), index) {
                        (LoadPlan::Contiguous { offset }, _) => {
                            V::Sl(&data[offset + start..offset + start + len])
                        }
                        (LoadPlan::Splat { offset }, _) => V::S(data[offset]),
                        (LoadPlan::Strided, Index::Affine { offset, strides }) => {
                            let mut out = std::mem::take(&mut self.scratch[i]);
                            out.resize(len, 0);
                            strided_gather(
                                data,
                                p.space,
                                &p.cstrides,
                                *offset,
                                strides,
                                start,
                                &mut out,
                            );
                            self.scratch[i] = out;
                            V::Buf
                        }
                        (_, Index::Node(ix)) => {
                            let mut out = std::mem::take(&mut self.scratch[i]);
                            out.resize(len, 0);
                            let idx = self.src(*ix);
                            gather(data, idx, &mut out);
                            self.scratch[i] = out;
                            V::Buf
                        }
                        _ => unreachable!("plan matches index kind"),
                    }
                }
                // Borrowed, not copied: the product is read in place.
                Node::Acc => V::Sl(&acc.expect("Acc outside an epilogue")[start..start + len]),
                node if i == last && direct.is_some() => {
                    let out = direct.take().expect("checked");
                    self.eval_node::<FMA>(node, start, &mut out[..len]);
                    V::Direct
                }
                node => {
                    let mut out = std::mem::take(&mut self.scratch[i]);
                    out.resize(len, 0);
                    self.eval_node::<FMA>(node, start, &mut out);
                    self.scratch[i] = out;
                    V::Buf
                }
            };
            self.vals[i] = v;
        }
    }

    #[inline(always)]
    fn eval_node<const FMA: bool>(&self, node: &Node, start: usize, out: &mut [u32]) {
        let p = self.p;
        match *node {
            Node::Coord(axis) => {
                let axis = axis as usize;
                let (dim, cs) = (p.space[axis] as i32, p.cstrides[axis]);
                let mut pos = start;
                let end = start + out.len();
                let out: &mut [i32] = cast_slice_mut(out);
                if cs == 1 {
                    // Innermost axis: the coordinate counts up and wraps at `dim`.
                    let mut c = (pos % dim as usize) as i32;
                    for o in out.iter_mut() {
                        *o = c;
                        c += 1;
                        if c == dim {
                            c = 0;
                        }
                    }
                    return;
                }
                // One division per block: the coordinate then steps once per run of `cs`.
                let mut q = pos / cs;
                let mut c = (q % dim as usize) as i32;
                while pos < end {
                    let run_end = ((q + 1) * cs).min(end);
                    out[pos - start..run_end - start].fill(c);
                    pos = run_end;
                    q += 1;
                    c += 1;
                    if c == dim {
                        c = 0;
                    }
                }
            }
            Node::Unary(f, a) => {
                let src_dt = p.expr.dtypes[a as usize];
                let a = self.src(a);
                unary::<FMA>(f, src_dt, a, out)
            }
            Node::Binary(f, a, b) => {
                let src_dt = p.expr.dtypes[a as usize];
                binary(f, src_dt, self.src(a), self.src(b), out)
            }
            Node::Select(c, a, b) => select(self.src(c), self.src(a), self.src(b), out),
            Node::Cast(to, a) => {
                let from = p.expr.dtypes[a as usize];
                cast(from, to, self.src(a), out)
            }
            _ => unreachable!("leaf nodes are handled by run"),
        }
    }

    /// Copies output `k` of the expression for the last block into `dst`.
    pub fn write_output(&self, k: usize, dst: &mut [u32]) {
        let id = self.p.expr.outputs[k];
        match self.src(id) {
            Src::S(x) => dst.fill(x),
            Src::V(v) => dst.copy_from_slice(v),
        }
    }

    /// Output `k` for the last block as a slice or a splatted value.
    pub fn output_word(&self, k: usize, t: usize) -> u32 {
        match self.src(self.p.expr.outputs[k]) {
            Src::S(x) => x,
            Src::V(v) => v[t],
        }
    }

    /// Output `k` as a slice, filling `tmp` when it is a splatted constant.
    pub fn output_slice<'s>(&'s self, k: usize, tmp: &'s mut Vec<u32>) -> &'s [u32] {
        match self.src(self.p.expr.outputs[k]) {
            Src::S(x) => {
                tmp.clear();
                tmp.resize(self.len, x);
                tmp
            }
            Src::V(v) => v,
        }
    }
}

/// `c ? a : b` per point, with the common shapes (a vector condition choosing between a
/// vector and a constant) as separate loops so that each vectorises.
#[inline(always)]
fn select(c: Src, a: Src, b: Src, out: &mut [u32]) {
    let Src::V(c) = c else {
        let Src::S(c) = c else { unreachable!() };
        return match if c != 0 { a } else { b } {
            Src::S(x) => out.fill(x),
            Src::V(v) => out.copy_from_slice(v),
        };
    };
    let pick = |c: u32, x: u32, y: u32| if c != 0 { x } else { y };
    match (a, b) {
        (Src::V(a), Src::S(y)) => {
            for ((o, &c), &x) in out.iter_mut().zip(c).zip(a) {
                *o = pick(c, x, y)
            }
        }
        (Src::S(x), Src::V(b)) => {
            for ((o, &c), &y) in out.iter_mut().zip(c).zip(b) {
                *o = pick(c, x, y)
            }
        }
        (Src::V(a), Src::V(b)) => {
            for (((o, &c), &x), &y) in out.iter_mut().zip(c).zip(a).zip(b) {
                *o = pick(c, x, y)
            }
        }
        (Src::S(x), Src::S(y)) => {
            for (o, &c) in out.iter_mut().zip(c) {
                *o = pick(c, x, y)
            }
        }
    }
}

/// Truncating i32 division through f64 (exact for every i32 pair, and it vectorises where
/// integer division does not); 0 for a zero divisor, and `MIN / -1` wraps, as in WGSL.
#[inline(always)]
fn div_i32(x: i32, y: i32) -> i32 {
    let q = (x as f64 / y as f64) as i32;
    let q = if y == -1 { x.wrapping_neg() } else { q };
    if y == 0 { 0 } else { q }
}

#[inline(always)]
fn gather(data: &[u32], idx: Src, out: &mut [u32]) {
    if data.is_empty() {
        out.fill(0);
        return;
    }
    let last = data.len() as i32 - 1;
    match idx {
        Src::S(i) => out.fill(data[(i as i32).clamp(0, last) as usize]),
        Src::V(ix) => {
            for (o, &i) in out.iter_mut().zip(ix) {
                *o = data[(i as i32).clamp(0, last) as usize];
            }
        }
    }
}

/// `dst.copy_from_slice(src)` for the short runs of strided loads and stores and of im2col
/// (a channel row of 32, a pixel's few channels): fixed-size chunks copy inline, where a
/// `memmove` call per run would cost more than the copy.
#[inline(always)]
pub(crate) fn copy_run(dst: &mut [u32], src: &[u32]) {
    if dst.len() > 256 {
        dst.copy_from_slice(src);
        return;
    }
    let mut d = dst.chunks_exact_mut(8);
    let mut s = src.chunks_exact(8);
    for (d, s) in (&mut d).zip(&mut s) {
        let s: &[u32; 8] = s.try_into().expect("chunk of 8");
        d.copy_from_slice(s);
    }
    for (d, &s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = s;
    }
}

/// Walks `len` points of `space` from point `start` through an affine map with an
/// odometer, calling `f(t, base, run)` for each run along the innermost axis: points
/// `t..t + run` (counted from `start`) sit at `base + j * strides[last]`.
#[inline(always)]
fn affine_runs(
    space: &[usize],
    cstrides: &[usize],
    offset: i64,
    strides: &[i64],
    start: usize,
    len: usize,
    mut f: impl FnMut(usize, i64, usize),
) {
    let rank = space.len();
    if rank == 0 {
        if len > 0 {
            f(0, offset, 1);
        }
        return;
    }
    let mut coord: Vec<usize> = (0..rank)
        .map(|d| (start / cstrides[d]) % space[d])
        .collect();
    let mut base: i64 = offset + (0..rank).map(|d| coord[d] as i64 * strides[d]).sum::<i64>();
    let inner = rank - 1;
    let (idim, istride) = (space[inner], strides[inner]);
    let mut t = 0;
    while t < len {
        let run = (idim - coord[inner]).min(len - t);
        f(t, base, run);
        t += run;
        // Advance the odometer by `run` points.
        base += run as i64 * istride;
        coord[inner] += run;
        let mut d = inner;
        while coord[d] == space[d] && d > 0 {
            base -= space[d] as i64 * strides[d];
            coord[d] = 0;
            d -= 1;
            coord[d] += 1;
            base += strides[d];
        }
    }
}

/// Reads points `start..start + out.len()` of `space` through an affine map.
#[inline(always)]
fn strided_gather(
    data: &[u32],
    space: &[usize],
    cstrides: &[usize],
    offset: i64,
    strides: &[i64],
    start: usize,
    out: &mut [u32],
) {
    let istride = strides.last().copied().unwrap_or(0);
    affine_runs(
        space,
        cstrides,
        offset,
        strides,
        start,
        out.len(),
        |t, base, run| {
            let dst = &mut out[t..t + run];
            if istride == 1 {
                copy_run(dst, &data[base as usize..base as usize + run]);
            } else if istride == 0 {
                dst.fill(data[base as usize]);
            } else {
                for (j, o) in dst.iter_mut().enumerate() {
                    *o = data[(base + j as i64 * istride) as usize];
                }
            }
        },
    );
}

/// The inverse of [`strided_gather`]: writes `vals`, points `start..` of `space`, through
/// the affine map into `data`.
pub(crate) fn strided_scatter(
    vals: &[u32],
    space: &[usize],
    cstrides: &[usize],
    offset: i64,
    strides: &[i64],
    start: usize,
    data: &mut [u32],
) {
    let istride = strides.last().copied().unwrap_or(0);
    affine_runs(
        space,
        cstrides,
        offset,
        strides,
        start,
        vals.len(),
        |t, base, run| {
            let src = &vals[t..t + run];
            if istride == 1 {
                copy_run(&mut data[base as usize..base as usize + run], src);
            } else {
                for (j, &v) in src.iter().enumerate() {
                    data[(base + j as i64 * istride) as usize] = v;
                }
            }
        },
    );
}

#[inline(always)]
fn unary<const FMA: bool>(f: UnaryFn, dt: DType, a: Src, out: &mut [u32]) {
    use UnaryFn::*;
    match dt {
        DType::F32 => match f {
            Neg => map1(a, out, |x: f32| -x),
            Abs => map1(a, out, |x: f32| x.abs()),
            Exp => map1(a, out, math::exp::<FMA>),
            Log => map1(a, out, math::log::<FMA>),
            Sqrt => map1(a, out, |x: f32| x.sqrt()),
            Rsqrt => map1(a, out, |x: f32| 1.0 / x.sqrt()),
            Sin => map1(a, out, |x: f32| x.sin()),
            Cos => map1(a, out, |x: f32| x.cos()),
            Tan => map1(a, out, |x: f32| x.tan()),
            Tanh => map1(a, out, math::tanh::<FMA>),
            Sigmoid => map1(a, out, math::sigmoid::<FMA>),
            Erf => map1(a, out, math::erf::<FMA>),
            Expm1 => map1(a, out, |x: f32| x.exp_m1()),
            Log1p => map1(a, out, |x: f32| x.ln_1p()),
            Floor => map1(a, out, |x: f32| x.floor()),
            Ceil => map1(a, out, |x: f32| x.ceil()),
            Round => map1(a, out, |x: f32| x.round_ties_even()),
            Trunc => map1(a, out, |x: f32| x.trunc()),
            IsNan => map1(a, out, |x: f32| b2u(x.is_nan())),
            IsInf => map1(a, out, |x: f32| b2u(x.is_infinite())),
            Not => map1(a, out, |x: f32| b2u(x == 0.0)),
        },
        DType::I32 => match f {
            Neg => map1(a, out, |x: i32| x.wrapping_neg()),
            Abs => map1(a, out, |x: i32| x.wrapping_abs()),
            IsNan | IsInf => map1(a, out, |_: i32| 0u32),
            Not => map1(a, out, |x: i32| b2u(x == 0)),
            _ => map1(a, out, |x: i32| x),
        },
        DType::U32 | DType::Bool => match f {
            Neg => map1(a, out, |x: u32| x.wrapping_neg()),
            IsNan | IsInf => map1(a, out, |_: u32| 0u32),
            Not => map1(a, out, |x: u32| b2u(x == 0)),
            _ => map1(a, out, |x: u32| x),
        },
    }
}

#[inline(always)]
fn binary(f: BinaryFn, dt: DType, a: Src, b: Src, out: &mut [u32]) {
    use BinaryFn::*;
    match dt {
        DType::F32 => match f {
            Add => map2(a, b, out, |x: f32, y| x + y),
            Sub => map2(a, b, out, |x: f32, y| x - y),
            Mul => map2(a, b, out, |x: f32, y| x * y),
            Div => map2(a, b, out, |x: f32, y| x / y),
            Rem => map2(a, b, out, |x: f32, y| x % y),
            Pow => map2(a, b, out, |x: f32, y| x.powf(y)),
            Max => map2(a, b, out, fmax),
            Min => map2(a, b, out, fmin),
            Atan2 => map2(a, b, out, |y: f32, x| y.atan2(x)),
            Eq => map2(a, b, out, |x: f32, y| b2u(x == y)),
            Ne => map2(a, b, out, |x: f32, y| b2u(x != y)),
            Lt => map2(a, b, out, |x: f32, y| b2u(x < y)),
            Le => map2(a, b, out, |x: f32, y| b2u(x <= y)),
            Gt => map2(a, b, out, |x: f32, y| b2u(x > y)),
            Ge => map2(a, b, out, |x: f32, y| b2u(x >= y)),
            And => map2(a, b, out, |x: f32, y| b2u(x != 0.0 && y != 0.0)),
            Or => map2(a, b, out, |x: f32, y| b2u(x != 0.0 || y != 0.0)),
        },
        DType::I32 => match f {
            Add => map2(a, b, out, |x: i32, y| x.wrapping_add(y)),
            Sub => map2(a, b, out, |x: i32, y| x.wrapping_sub(y)),
            Mul => map2(a, b, out, |x: i32, y| x.wrapping_mul(y)),
            Div => map2(a, b, out, div_i32),
            Rem => map2(a, b, out, |x: i32, y| {
                let r = x.wrapping_sub(div_i32(x, y).wrapping_mul(y));
                if y == 0 { 0 } else { r }
            }),
            Pow => map2(a, b, out, ipow),
            Max => map2(a, b, out, |x: i32, y| x.max(y)),
            Min => map2(a, b, out, |x: i32, y| x.min(y)),
            Atan2 => map2(a, b, out, |y: i32, x| (y as f32).atan2(x as f32) as i32),
            Eq => map2(a, b, out, |x: i32, y| b2u(x == y)),
            Ne => map2(a, b, out, |x: i32, y| b2u(x != y)),
            Lt => map2(a, b, out, |x: i32, y| b2u(x < y)),
            Le => map2(a, b, out, |x: i32, y| b2u(x <= y)),
            Gt => map2(a, b, out, |x: i32, y| b2u(x > y)),
            Ge => map2(a, b, out, |x: i32, y| b2u(x >= y)),
            And => map2(a, b, out, |x: i32, y| b2u(x != 0 && y != 0)),
            Or => map2(a, b, out, |x: i32, y| b2u(x != 0 || y != 0)),
        },
        DType::U32 | DType::Bool => match f {
            Add => map2(a, b, out, |x: u32, y| x.wrapping_add(y)),
            Sub => map2(a, b, out, |x: u32, y| x.wrapping_sub(y)),
            Mul => map2(a, b, out, |x: u32, y| x.wrapping_mul(y)),
            Div => map2(a, b, out, |x: u32, y| x.checked_div(y).unwrap_or(0)),
            Rem => map2(a, b, out, |x: u32, y| x.checked_rem(y).unwrap_or(0)),
            Pow => map2(a, b, out, |x: u32, y| x.wrapping_pow(y)),
            Max => map2(a, b, out, |x: u32, y| x.max(y)),
            Min => map2(a, b, out, |x: u32, y| x.min(y)),
            Atan2 => map2(a, b, out, |y: u32, x| (y as f32).atan2(x as f32) as u32),
            Eq => map2(a, b, out, |x: u32, y| b2u(x == y)),
            Ne => map2(a, b, out, |x: u32, y| b2u(x != y)),
            Lt => map2(a, b, out, |x: u32, y| b2u(x < y)),
            Le => map2(a, b, out, |x: u32, y| b2u(x <= y)),
            Gt => map2(a, b, out, |x: u32, y| b2u(x > y)),
            Ge => map2(a, b, out, |x: u32, y| b2u(x >= y)),
            And => map2(a, b, out, |x: u32, y| b2u(x != 0 && y != 0)),
            Or => map2(a, b, out, |x: u32, y| b2u(x != 0 || y != 0)),
        },
    }
}

#[inline(always)]
fn cast(from: DType, to: DType, a: Src, out: &mut [u32]) {
    use DType::*;
    match (from, to) {
        (F32, I32) => map1(a, out, |x: f32| x as i32),
        (F32, U32) => map1(a, out, |x: f32| x as u32),
        (F32, Bool) => map1(a, out, |x: f32| b2u(x != 0.0)),
        (I32, F32) => map1(a, out, |x: i32| x as f32),
        (U32, F32) => map1(a, out, |x: u32| x as f32),
        (Bool, F32) => map1(a, out, |x: u32| (x != 0) as u32 as f32),
        (I32 | U32, Bool) => map1(a, out, |x: u32| b2u(x != 0)),
        (Bool, I32 | U32) => map1(a, out, |x: u32| (x != 0) as u32),
        // i32 <-> u32 keeps the bits, as a C cast does; identical dtypes copy.
        _ => map1(a, out, |x: u32| x),
    }
}
