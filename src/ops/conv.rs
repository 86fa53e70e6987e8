//! 2-D convolutions (NHWC input, HWIO filter) and their two backprops, each one matmul kernel
//! whose operand is a patch matrix (implicit GEMM): the GPU computes the im2col indices on
//! the fly, the CPU copies the patches out and calls its packed GEMM.

use super::{Lowering, Meta};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernel::ir::{E, ExprBuilder, Kernel, MatmulKernel, Operand, Patches};
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

/// The patches of the convolution's input: rows `(n, oy, ox)`, columns `(ky, kx, ci)`.
fn input_patches(g: &Geometry, input: u32, transposed: bool) -> Operand {
    let (s, d) = (g.o.strides, g.o.dilations);
    Operand::Patches(Patches {
        input,
        source: [g.n, g.h, g.w, g.ci],
        grid: [g.oh, g.ow],
        window: [g.kh, g.kw],
        step: [s[0] as i64, s[1] as i64],
        dilation: [d[0] as i64, d[1] as i64],
        offset: [-(g.pad_top as i64), -(g.pad_left as i64)],
        div: [1, 1],
        transposed,
    })
}

/// conv2d: rows (n, oy, ox), reduction (ky, kx, ci), columns co.
pub(crate) fn lower_conv2d(g: &Geometry) -> Lowering {
    let f = Operand::Strided {
        input: 1,
        offset: 0,
        batch: vec![],
        row: g.co as i64,
        col: 1,
    };
    let a = input_patches(g, 0, false);
    gemm(g.n * g.oh * g.ow, g.co, g.kh * g.kw * g.ci, a, f)
}

/// Gradient wrt the input: rows (n, iy, ix), reduction (ky, kx, co), columns ci. An input
/// pixel receives dy at the output positions it feeds: where `t = iy + pad - ky * d` is a
/// multiple of the stride, at `oy = t / stride` inside the output.
pub(crate) fn lower_backprop_input(g: &Geometry) -> Lowering {
    // Inputs: 0 = filter, 1 = dy.
    let (s, d) = (g.o.strides, g.o.dilations);
    let a = Operand::Patches(Patches {
        input: 1,
        source: [g.n, g.oh, g.ow, g.co],
        grid: [g.h, g.w],
        window: [g.kh, g.kw],
        step: [1, 1],
        dilation: [-(d[0] as i64), -(d[1] as i64)],
        offset: [g.pad_top as i64, g.pad_left as i64],
        div: [s[0] as i64, s[1] as i64],
        transposed: false,
    });
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
    let a = input_patches(g, 0, true);
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
