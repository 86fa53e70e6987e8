//! 2-D max and average pooling (NHWC) and their gradients, as reduce kernels over a window
//! space: the forward reduces `[n, oy, ox, ky, kx, c]` over the window; the gradients reduce,
//! for each input pixel, over the few windows that contain it (a gather formulation: no
//! atomics, deterministic on every backend).

use super::conv::{Padding, out_size};
use super::{Buf, Lowering, Meta};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernel::ir::{
    E, ExprBuilder, Kernel, MapKernel, ReduceKernel, ReduceOp, contiguous_strides,
};
use crate::shape::fmt_shape;

/// Window size, strides and padding of a pooling op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolOptions {
    pub ksize: [usize; 2],
    pub strides: [usize; 2],
    pub padding: Padding,
}

impl PoolOptions {
    pub fn new(ksize: usize, strides: usize, padding: Padding) -> Self {
        PoolOptions {
            ksize: [ksize; 2],
            strides: [strides; 2],
            padding,
        }
    }
}

/// Sizes of a pooling op over an NHWC input.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PoolGeometry {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub oh: usize,
    pub ow: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub o: PoolOptions,
}

impl PoolGeometry {
    pub fn new(op: &str, input: &[usize], o: PoolOptions) -> Result<Self> {
        if input.len() != 4 {
            return Err(Error::shape(
                op,
                format!(
                    "expects [batch, height, width, channels], got {}",
                    fmt_shape(input)
                ),
            ));
        }
        if o.ksize.contains(&0) {
            return Err(Error::invalid(op, "ksize must be positive"));
        }
        let (oh, pad_top) = out_size(op, input[1], o.ksize[0], o.strides[0], 1, o.padding, 0)?;
        let (ow, pad_left) = out_size(op, input[2], o.ksize[1], o.strides[1], 1, o.padding, 1)?;
        Ok(PoolGeometry {
            n: input[0],
            h: input[1],
            w: input[2],
            c: input[3],
            oh,
            ow,
            pad_top,
            pad_left,
            o,
        })
    }
    pub fn output(&self) -> Vec<usize> {
        vec![self.n, self.oh, self.ow, self.c]
    }
}

/// Top-left input position of window `(oy, ox)` along one axis.
fn start(b: &ExprBuilder, o: &E, stride: usize, pad: usize) -> E {
    o * &b.lit_i(stride as i64) - b.lit_i(pad as i64)
}

/// Whether input pixel `(n, y, x, c)` lies inside the image (not padding), and its NHWC index.
fn pixel(b: &ExprBuilder, g: &PoolGeometry, n: &E, y: &E, x: &E, c: &E) -> (E, E) {
    let ok = y
        .ge(&b.lit_i(0))
        .and(&y.lt(&b.lit_i(g.h as i64)))
        .and(&x.ge(&b.lit_i(0)))
        .and(&x.lt(&b.lit_i(g.w as i64)));
    let idx = ((n * &b.lit_i(g.h as i64) + y) * b.lit_i(g.w as i64) + x) * b.lit_i(g.c as i64) + c;
    (ok, idx)
}

/// Number of in-image positions of a window starting at `s` of size `k` in `[0, n)`.
fn valid_count(b: &ExprBuilder, s: &E, k: usize, n: usize) -> E {
    let hi = (s + &b.lit_i(k as i64)).min(&b.lit_i(n as i64));
    hi - s.max(&b.lit_i(0))
}

/// The forward: max (padding reads -inf) or average over the valid positions.
pub(crate) fn lower_pool(g: &PoolGeometry, max: bool) -> Lowering {
    let [kh, kw] = g.o.ksize;
    let b = ExprBuilder::new(&[DType::F32]);
    // The window axes sit before the channels, as in memory: the CPU folds whole rows of
    // channels, and the output keeps the NHWC order.
    let (n, oy, ox, ky, kx, c) = (
        b.coord(0),
        b.coord(1),
        b.coord(2),
        b.coord(3),
        b.coord(4),
        b.coord(5),
    );
    let [sy, sx] = g.o.strides;
    let inside = g.pad_top == 0
        && g.pad_left == 0
        && (g.oh.max(1) - 1) * sy + kh <= g.h
        && (g.ow.max(1) - 1) * sx + kw <= g.w;
    let v = if inside {
        // Every window lies inside the image (VALID padding): the input index is affine in
        // the coordinates, one load with no bounds test (much cheaper on the CPU).
        let (w, c) = (g.w as i64, g.c as i64);
        let strides = vec![
            g.h as i64 * w * c,
            sy as i64 * w * c,
            sx as i64 * c,
            w * c,
            c,
            1,
        ];
        b.load_affine(0, 0, strides)
    } else {
        let y = start(&b, &oy, sy, g.pad_top) + &ky;
        let x = start(&b, &ox, sx, g.pad_left) + &kx;
        let (ok, idx) = pixel(&b, g, &n, &y, &x, &c);
        let v = b.load_at(0, &idx);
        ok.select(&v, &b.lit(if max { f32::NEG_INFINITY } else { 0.0 }))
    };
    let prologue = b.finish(&[&v]);
    let epilogue = (!max).then(|| {
        let e = ExprBuilder::new(&[DType::F32]);
        let acc = e.acc(DType::F32);
        let sy = start(&e, &e.coord(1), g.o.strides[0], g.pad_top);
        let sx = start(&e, &e.coord(2), g.o.strides[1], g.pad_left);
        let count = valid_count(&e, &sy, kh, g.h) * valid_count(&e, &sx, kw, g.w);
        let out = acc / count.cast(DType::F32);
        e.finish(&[&out])
    });
    let k = ReduceKernel {
        space: vec![g.n, g.oh, g.ow, kh, kw, g.c],
        axes: vec![3, 4],
        op: if max { ReduceOp::Max } else { ReduceOp::Sum },
        inputs: vec![DType::F32],
        prologue,
        epilogue,
    };
    Lowering::single(Kernel::Reduce(k), 1, 1)
}

/// Each window's first maximum (row-major offset from its corner, padding included) of
/// input 0, into a temporary.
fn argmax_temp(low: &mut Lowering, g: &PoolGeometry) -> Buf {
    let t = low.temp(Meta::new(g.output(), DType::I32));
    let mut fwd = lower_pool(g, true).calls.remove(0).kernel;
    if let Kernel::Reduce(k) = &mut fwd {
        k.op = ReduceOp::ArgMax;
    }
    low.call(fwd, vec![Buf::In(0)], vec![t]);
    t
}

/// Windows that may contain an input pixel, per axis: `ceil(k / stride)`.
fn candidates(k: usize, s: usize) -> usize {
    k.div_ceil(s)
}

/// For input pixel coordinate `i` and candidate `j`, the window `o = floor((i + pad) / s) - j`
/// and the offset of `i` inside it; valid when `0 <= o < out` and the offset is below `k`.
/// Without a candidate axis (`j` is `None`: one window per pixel), `o` is never negative.
fn window(
    b: &ExprBuilder,
    i: &E,
    j: Option<&E>,
    s: usize,
    pad: usize,
    k: usize,
    out: usize,
) -> (E, E, E) {
    let shifted = if pad > 0 {
        i + &b.lit_i(pad as i64)
    } else {
        i.clone()
    };
    let first = &shifted / &b.lit_i(s as i64);
    let o = match j {
        Some(j) => &first - j,
        None => first,
    };
    let off = &shifted - &(&o * &b.lit_i(s as i64));
    let inside = o.lt(&b.lit_i(out as i64)).and(&off.lt(&b.lit_i(k as i64)));
    let ok = match j {
        Some(_) => o.ge(&b.lit_i(0)).and(&inside),
        None => inside,
    };
    (o, off, ok)
}

/// The gradients. Max: each window's gradient goes to its first maximum (found by an
/// arg-max pass into a temporary); average: each window spreads its gradient evenly over
/// its valid positions.
pub(crate) fn lower_pool_grad(g: &PoolGeometry, max: bool) -> Lowering {
    let [kh, kw] = g.o.ksize;
    let [sh, sw] = g.o.strides;
    if [sh, sw] == [kh, kw]
        && g.pad_top == 0
        && g.pad_left == 0
        && g.oh * kh <= g.h
        && g.ow * kw <= g.w
    {
        return lower_tiled_pool_grad(g, max);
    }
    let mut low = Lowering::default();
    // Inputs: max: 0 = orig input, 1 = orig output (unused), 2 = grad; avg: 0 = grad.
    let grad_in = if max { 2 } else { 0 };
    let mut dtypes = vec![DType::F32; if max { 3 } else { 1 }];
    let arg = if max {
        dtypes.push(DType::I32);
        Some(argmax_temp(&mut low, g))
    } else {
        None
    };
    let b = ExprBuilder::new(&dtypes);
    // When windows do not overlap (stride >= window), a pixel has at most one: a map over
    // the input. Otherwise a sum over the candidate windows, placed before the channels as
    // in the forward.
    let (cy, cx) = (candidates(kh, sh), candidates(kw, sw));
    let one = cy == 1 && cx == 1;
    let (n, iy, ix) = (b.coord(0), b.coord(1), b.coord(2));
    let c = b.coord(if one { 3 } else { 5 });
    let (jy, jx) = if one {
        (None, None)
    } else {
        (Some(b.coord(3)), Some(b.coord(4)))
    };
    let (oy, offy, oky) = window(&b, &iy, jy.as_ref(), sh, g.pad_top, kh, g.oh);
    let (ox, offx, okx) = window(&b, &ix, jx.as_ref(), sw, g.pad_left, kw, g.ow);
    let ok = oky.and(&okx);
    let oidx = ((&n * &b.lit_i(g.oh as i64) + &oy) * b.lit_i(g.ow as i64) + &ox)
        * b.lit_i(g.c as i64)
        + &c;
    let dy = b.load_at(grad_in, &oidx);
    let v = if max {
        // Padding shifts window positions: the arg-max counts from the window's corner.
        let here = &offy * &b.lit_i(kw as i64) + &offx;
        let best = b.load_at(3, &oidx);
        ok.and(&best.eq(&here)).select(&dy, &b.lit(0.0f32))
    } else {
        let sy = start(&b, &oy, sh, g.pad_top);
        let sx = start(&b, &ox, sw, g.pad_left);
        let count = valid_count(&b, &sy, kh, g.h) * valid_count(&b, &sx, kw, g.w);
        ok.select(
            &(&dy / &count.max(&b.lit_i(1)).cast(DType::F32)),
            &b.lit(0.0f32),
        )
    };
    let kernel = if one {
        Kernel::Map(MapKernel {
            space: vec![g.n, g.h, g.w, g.c],
            inputs: dtypes,
            expr: b.finish(&[&v]),
            store: None,
        })
    } else {
        Kernel::Reduce(ReduceKernel {
            space: vec![g.n, g.h, g.w, cy, cx, g.c],
            axes: vec![3, 4],
            op: ReduceOp::Sum,
            inputs: dtypes,
            prologue: b.finish(&[&v]),
            epilogue: None,
        })
    };
    let mut ins: Vec<Buf> = (0..if max { 3 } else { 1 }).map(Buf::In).collect();
    ins.extend(arg);
    low.call(kernel, ins, vec![Buf::Out(0)]);
    low
}

/// The pool gradient when the windows tile the image (stride = window, no padding, as a 2x2
/// pool): each input pixel lies in at most one window, so over the space
/// `[n, oy, ky, ox, kx, c]` — the input's own layout — the gradient is the window's incoming
/// gradient where the pixel is the window's arg-max (max) or its share (average). Affine
/// loads and no window search: much cheaper than the general case. Rows and columns past
/// the last window (an odd image under VALID padding) get zeros.
fn lower_tiled_pool_grad(g: &PoolGeometry, max: bool) -> Lowering {
    let [kh, kw] = g.o.ksize;
    let mut low = Lowering::default();
    let grad_in = if max { 2 } else { 0 };
    let mut dtypes = vec![DType::F32; if max { 3 } else { 1 }];
    let arg = if max {
        dtypes.push(DType::I32);
        Some(argmax_temp(&mut low, g))
    } else {
        None
    };
    let b = ExprBuilder::new(&dtypes);
    let (ow, c) = (g.ow as i64, g.c as i64);
    let window = vec![g.oh as i64 * ow * c, ow * c, 0, c, 0, 1];
    let dy = b.load_affine(grad_in, 0, window.clone());
    let v = if max {
        let here = &b.coord(2) * &b.lit_i(kw as i64) + b.coord(4);
        let best = b.load_affine(3, 0, window);
        best.eq(&here).select(&dy, &b.lit(0.0f32))
    } else {
        &dy / &b.lit((kh * kw) as f32)
    };
    let (h, w) = (g.h as i64, g.w as i64);
    let image = contiguous_strides(&[g.n, g.h, g.w, g.c]);
    let exact = g.h == g.oh * kh && g.w == g.ow * kw;
    let k = MapKernel {
        space: vec![g.n, g.oh, kh, g.ow, kw, g.c],
        inputs: dtypes,
        expr: b.finish(&[&v]),
        store: (!exact).then(|| {
            let (kh, kw) = (kh as i64, kw as i64);
            (0, vec![h * w * c, kh * w * c, w * c, kw * c, c, 1])
        }),
    };
    let mut ins: Vec<Buf> = (0..if max { 3 } else { 1 }).map(Buf::In).collect();
    ins.extend(arg);
    low.call(Kernel::Map(k), ins, vec![Buf::Out(0)]);
    // The uncovered bottom rows, then the uncovered right columns of the covered rows.
    let (th, tw) = (g.oh * kh, g.ow * kw);
    for (space, offset) in [
        ([g.n, g.h - th, g.w, g.c], th as i64 * w * c),
        ([g.n, th, g.w - tw, g.c], tw as i64 * c),
    ] {
        if space.iter().product::<usize>() > 0 {
            let z = ExprBuilder::new(&[]);
            let zero = z.lit(0.0f32);
            let k = MapKernel {
                space: space.to_vec(),
                inputs: vec![],
                expr: z.finish(&[&zero]),
                store: Some((offset, image.clone())),
            };
            low.call(Kernel::Map(k), vec![], vec![Buf::Out(0)]);
        }
    }
    low
}

/// The gradient of max-pool-grad wrt its `grad` (TensorFlow's MaxPoolGradGrad): for each
/// window, input 2 (shaped like the pooled input) at the window's first maximum. Inputs:
/// 0 = orig input, 1 = orig output (unused), 2 = grad.
pub(crate) fn lower_max_pool_grad_grad(g: &PoolGeometry) -> Lowering {
    let mut low = Lowering::default();
    let arg = argmax_temp(&mut low, g);
    let dtypes = [DType::F32, DType::F32, DType::F32, DType::I32];
    let b = ExprBuilder::new(&dtypes);
    let (n, oy, ox, c) = (b.coord(0), b.coord(1), b.coord(2), b.coord(3));
    let best = b.load_affine(3, 0, contiguous_strides(&g.output()));
    let kw = b.lit_i(g.o.ksize[1] as i64);
    let y = start(&b, &oy, g.o.strides[0], g.pad_top) + &best / &kw;
    let x = start(&b, &ox, g.o.strides[1], g.pad_left) + best.rem(&kw);
    // A window of padding only (explicit padding) has no maximum to read.
    let (ok, idx) = pixel(&b, g, &n, &y, &x, &c);
    let v = ok.select(&b.load_at(2, &idx), &b.lit(0.0f32));
    let k = MapKernel {
        space: g.output(),
        inputs: dtypes.to_vec(),
        expr: b.finish(&[&v]),
        store: None,
    };
    low.call(
        Kernel::Map(k),
        vec![Buf::In(0), Buf::In(1), Buf::In(2), arg],
        vec![Buf::Out(0)],
    );
    low
}
