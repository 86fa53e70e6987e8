//! 2-D convolutions (NHWC input, HWIO filter) and their two backprops, each one matmul kernel
//! whose operand is an expression over `[row, col]` (implicit GEMM): the GPU computes the
//! im2col indices on the fly, the CPU materialises them and calls its packed GEMM.

use super::{Lowering, Meta};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernel::ir::{E, ExprBuilder, Kernel, MatmulKernel, Operand};
use crate::shape::fmt_shape;

/// TensorFlow's padding schemes; `Explicit` gives `[[top, bottom], [left, right]]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Padding {
    Same,
    Valid,
    Explicit([[usize; 2]; 2]),
}

/// Strides, padding and dilations of a convolution (TensorFlow's defaults: 1, VALID, 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Conv2dOptions {
    pub strides: [usize; 2],
    pub padding: Padding,
    pub dilations: [usize; 2],
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions {
            strides: [1, 1],
            padding: Padding::Valid,
            dilations: [1, 1],
        }
    }
}

impl Conv2dOptions {
    pub fn new(strides: usize, padding: Padding) -> Self {
        Conv2dOptions {
            strides: [strides; 2],
            padding,
            dilations: [1, 1],
        }
    }
    pub fn dilations(mut self, d: usize) -> Self {
        self.dilations = [d; 2];
        self
    }
}

/// Output size and padding before, along one spatial axis (TensorFlow's arithmetic).
pub(crate) fn out_size(
    op: &str,
    input: usize,
    k: usize,
    stride: usize,
    dilation: usize,
    pad: Padding,
    axis: usize,
) -> Result<(usize, usize)> {
    if stride == 0 || dilation == 0 {
        return Err(Error::invalid(op, "strides and dilations must be positive"));
    }
    let eff = (k.max(1) - 1) * dilation + 1;
    Ok(match pad {
        Padding::Same => {
            let out = input.div_ceil(stride);
            let total = ((out.max(1) - 1) * stride + eff).saturating_sub(input);
            (out, total / 2)
        }
        Padding::Valid => (
            if input >= eff {
                (input - eff) / stride + 1
            } else {
                0
            },
            0,
        ),
        Padding::Explicit(p) => {
            let padded = input + p[axis][0] + p[axis][1];
            (
                if padded >= eff {
                    (padded - eff) / stride + 1
                } else {
                    0
                },
                p[axis][0],
            )
        }
    })
}

/// The geometry of a convolution: sizes of input, filter and output, and padding.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub ci: usize,
    pub kh: usize,
    pub kw: usize,
    pub co: usize,
    pub oh: usize,
    pub ow: usize,
    pub pad_top: usize,
    pub pad_left: usize,
    pub o: Conv2dOptions,
}

impl Geometry {
    pub fn new(op: &str, input: &[usize], filter: &[usize], o: Conv2dOptions) -> Result<Self> {
        if input.len() != 4 || filter.len() != 4 {
            return Err(Error::shape(
                op,
                format!(
                    "expects input [batch, height, width, channels] and filter [height, width, in, out], got {} and {}",
                    fmt_shape(input),
                    fmt_shape(filter)
                ),
            ));
        }
        if input[3] != filter[2] {
            return Err(Error::shape(
                op,
                format!(
                    "input depth {} does not match filter input depth {}",
                    input[3], filter[2]
                ),
            ));
        }
        let (oh, pad_top) = out_size(
            op,
            input[1],
            filter[0],
            o.strides[0],
            o.dilations[0],
            o.padding,
            0,
        )?;
        let (ow, pad_left) = out_size(
            op,
            input[2],
            filter[1],
            o.strides[1],
            o.dilations[1],
            o.padding,
            1,
        )?;
        Ok(Geometry {
            n: input[0],
            h: input[1],
            w: input[2],
            ci: input[3],
            kh: filter[0],
            kw: filter[1],
            co: filter[3],
            oh,
            ow,
            pad_top,
            pad_left,
            o,
        })
    }
    pub fn output(&self) -> Vec<usize> {
        vec![self.n, self.oh, self.ow, self.co]
    }
}

/// `x[n, y, x, c]` of an NHWC input where in range, else 0.
fn padded_load(b: &ExprBuilder, input: usize, g: &Geometry, n: &E, y: &E, x: &E, c: &E) -> E {
    let ok = y
        .ge(&b.lit_i(0))
        .and(&y.lt(&b.lit_i(g.h as i64)))
        .and(&x.ge(&b.lit_i(0)))
        .and(&x.lt(&b.lit_i(g.w as i64)));
    let idx = ((n * &b.lit_i(g.h as i64) + y) * b.lit_i(g.w as i64) + x) * b.lit_i(g.ci as i64) + c;
    let v = b.load_at(input, &idx);
    ok.select(&v, &b.lit(0.0f32))
}

/// The coordinates of an operand expression: three row digits, then three column digits.
fn coords(b: &ExprBuilder) -> ([E; 3], [E; 3]) {
    (
        [b.coord(0), b.coord(1), b.coord(2)],
        [b.coord(3), b.coord(4), b.coord(5)],
    )
}

fn expr_operand(b: ExprBuilder, v: &E, rows: [usize; 3], cols: [usize; 3]) -> Operand {
    Operand::Expr {
        expr: b.finish(&[v]),
        rows: rows.to_vec(),
        cols: cols.to_vec(),
    }
}

fn gemm(m: usize, n: usize, k: usize, a: Operand, b: Operand) -> Lowering {
    Lowering::single(
        Kernel::Matmul(MatmulKernel {
            batch: vec![],
            m,
            n,
            k,
            inputs: vec![DType::F32; 2],
            a,
            b,
            epilogue: None,
            column_sums: None,
        }),
        2,
        1,
    )
}

fn lit(b: &ExprBuilder, v: usize) -> E {
    b.lit_i(v as i64)
}

/// conv2d: rows (n, oy, ox), reduction (ky, kx, ci), columns co.
pub(crate) fn lower_conv2d(g: &Geometry) -> Lowering {
    let b = ExprBuilder::new(&[DType::F32, DType::F32]);
    let ([n, oy, ox], [ky, kx, ci]) = coords(&b);
    let (s, d) = (g.o.strides, g.o.dilations);
    let y = &oy * &lit(&b, s[0]) + &ky * &lit(&b, d[0]) - lit(&b, g.pad_top);
    let x = &ox * &lit(&b, s[1]) + &kx * &lit(&b, d[1]) - lit(&b, g.pad_left);
    let v = padded_load(&b, 0, g, &n, &y, &x, &ci);
    let a = expr_operand(b, &v, [g.n, g.oh, g.ow], [g.kh, g.kw, g.ci]);
    let f = Operand::Strided {
        input: 1,
        offset: 0,
        batch: vec![],
        row: g.co as i64,
        col: 1,
    };
    gemm(g.n * g.oh * g.ow, g.co, g.kh * g.kw * g.ci, a, f)
}

/// Gradient wrt the input: rows (n, iy, ix), reduction (ky, kx, co), columns ci. An input
/// pixel receives dy at the output positions it feeds: where `iy + pad - ky * d` is a
/// multiple of the stride inside the output.
pub(crate) fn lower_backprop_input(g: &Geometry) -> Lowering {
    // Inputs: 0 = filter, 1 = dy.
    let b = ExprBuilder::new(&[DType::F32, DType::F32]);
    let ([n, iy, ix], [ky, kx, co]) = coords(&b);
    let (s, d) = (g.o.strides, g.o.dilations);
    let ty = &iy + &lit(&b, g.pad_top) - &ky * &lit(&b, d[0]);
    let tx = &ix + &lit(&b, g.pad_left) - &kx * &lit(&b, d[1]);
    let (oy, ox) = (&ty / &lit(&b, s[0]), &tx / &lit(&b, s[1]));
    let zero = b.lit_i(0);
    let mut ok = ty
        .ge(&zero)
        .and(&tx.ge(&zero))
        .and(&oy.lt(&lit(&b, g.oh)))
        .and(&ox.lt(&lit(&b, g.ow)));
    // Only strided convolutions skip input pixels.
    for (t, stride) in [(&ty, s[0]), (&tx, s[1])] {
        if stride > 1 {
            ok = ok.and(&t.rem(&lit(&b, stride)).eq(&zero));
        }
    }
    let idx = ((&n * &lit(&b, g.oh) + &oy) * lit(&b, g.ow) + &ox) * lit(&b, g.co) + &co;
    let v = ok.select(&b.load_at(1, &idx), &b.lit(0.0f32));
    let a = expr_operand(b, &v, [g.n, g.h, g.w], [g.kh, g.kw, g.co]);
    // filter[ky, kx, ci, co] at reduction digits (ky, kx, co) and column ci.
    let fb = ExprBuilder::new(&[DType::F32, DType::F32]);
    let (ky, kx, co, ci) = (fb.coord(0), fb.coord(1), fb.coord(2), fb.coord(3));
    let fidx = ((&ky * &lit(&fb, g.kw) + &kx) * lit(&fb, g.ci) + ci) * lit(&fb, g.co) + co;
    let fv = fb.load_at(0, &fidx);
    let f = Operand::Expr {
        expr: fb.finish(&[&fv]),
        rows: vec![g.kh, g.kw, g.co],
        cols: vec![g.ci],
    };
    gemm(g.n * g.h * g.w, g.ci, g.kh * g.kw * g.co, a, f)
}

/// Gradient wrt the filter: rows (ky, kx, ci), reduction (n, oy, ox), columns co.
pub(crate) fn lower_backprop_filter(g: &Geometry) -> Lowering {
    // Inputs: 0 = input, 1 = dy.
    let b = ExprBuilder::new(&[DType::F32, DType::F32]);
    let ([ky, kx, ci], [n, oy, ox]) = coords(&b);
    let (s, d) = (g.o.strides, g.o.dilations);
    let y = &oy * &lit(&b, s[0]) + &ky * &lit(&b, d[0]) - lit(&b, g.pad_top);
    let x = &ox * &lit(&b, s[1]) + &kx * &lit(&b, d[1]) - lit(&b, g.pad_left);
    let v = padded_load(&b, 0, g, &n, &y, &x, &ci);
    let a = expr_operand(b, &v, [g.kh, g.kw, g.ci], [g.n, g.oh, g.ow]);
    let dy = Operand::Strided {
        input: 1,
        offset: 0,
        batch: vec![],
        row: g.co as i64,
        col: 1,
    };
    gemm(g.kh * g.kw * g.ci, g.co, g.n * g.oh * g.ow, a, dy)
}

/// Checks an `input_shape`/`filter_shape` argument against dy for the backprops.
pub(crate) fn check_dy(op: &str, g: &Geometry, dy: &Meta) -> Result<()> {
    if dy.shape != g.output() || dy.dtype != DType::F32 {
        return Err(Error::shape(
            op,
            format!(
                "out_backprop must be float32 {} for this convolution, got {} {}",
                fmt_shape(&g.output()),
                dy.dtype,
                fmt_shape(&dy.shape)
            ),
        ));
    }
    Ok(())
}
