//! Image ops on `[height, width, channels]` or `[batch, height, width, channels]` tensors:
//! resizing with TensorFlow 2's `tf.image.resize` semantics (half-pixel centres) and its
//! transpose (the gradient, a scatter-add), flips and rotations (compositions of reverse and
//! transpose), and `convert_image_dtype` between integer and float pixels.

use super::{
    Buf, GradContext, Lowering, Meta, Op, OpDef, apply1, cast, clip_by_value_scalar, expect_inputs,
    reshape, reverse, transpose,
};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernel::ir::{E, ExprBuilder, Kernel, MapKernel, ScatterKernel, contiguous_strides};
use crate::shape::fmt_shape;
use crate::tensor::Tensor;

/// Interpolation of [`resize`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ResizeMethod {
    /// Weighted mean of the 4 nearest pixels (`'bilinear'`, no antialiasing); float32 out.
    Bilinear,
    /// The pixel whose centre is nearest (`'nearest'`); keeps the dtype, as TensorFlow 2.
    Nearest,
}

/// The image family: resizing of `[batch, height, width, channels]` images.
#[derive(Clone, Debug, PartialEq)]
pub enum ImageOp {
    Resize {
        size: [usize; 2],
        method: ResizeMethod,
    },
    /// The transpose of `Resize` to `[height, width] = size` (TensorFlow's
    /// ResizeBilinearGrad and ResizeNearestNeighborGrad): each pixel of the resized
    /// gradient added onto the source pixels it was read from, with their weights.
    ResizeGrad {
        size: [usize; 2],
        method: ResizeMethod,
    },
}

impl OpDef for ImageOp {
    fn name(&self) -> &'static str {
        match self {
            ImageOp::Resize { method, .. } => match method {
                ResizeMethod::Bilinear => "resize_bilinear",
                ResizeMethod::Nearest => "resize_nearest",
            },
            ImageOp::ResizeGrad { method, .. } => match method {
                ResizeMethod::Bilinear => "resize_bilinear_grad",
                ResizeMethod::Nearest => "resize_nearest_grad",
            },
        }
    }

    fn infer(&self, ins: &[Meta]) -> Result<Vec<Meta>> {
        let (ImageOp::Resize { size, method } | ImageOp::ResizeGrad { size, method }) = self;
        expect_inputs(self.name(), ins, 1)?;
        let x = &ins[0];
        if x.rank() != 4 {
            return Err(Error::shape(
                self.name(),
                format!(
                    "expects [batch, height, width, channels], got {}",
                    fmt_shape(&x.shape)
                ),
            ));
        }
        // Forward, an empty image has no pixels to read; backward, none to write to.
        let (from, to) = match self {
            ImageOp::Resize { .. } => ([x.shape[1], x.shape[2]], *size),
            ImageOp::ResizeGrad { .. } => (*size, [x.shape[1], x.shape[2]]),
        };
        if (from[0] == 0 || from[1] == 0) && to[0] > 0 && to[1] > 0 {
            return Err(Error::invalid(
                self.name(),
                format!("cannot resize an empty image {from:?} to {to:?}"),
            ));
        }
        let grad = matches!(self, ImageOp::ResizeGrad { .. });
        if (*method == ResizeMethod::Bilinear || grad) && x.dtype != DType::F32 {
            return Err(Error::dtype(
                self.name(),
                format!("expects float32 images, got {}", x.dtype),
            ));
        }
        let out = vec![x.shape[0], size[0], size[1], x.shape[3]];
        Ok(vec![Meta::new(
            super::movement::checked_shape(self.name(), out)?,
            x.dtype,
        )])
    }

    fn lower(&self, ins: &[Meta], outs: &[Meta]) -> Result<Lowering> {
        match self {
            ImageOp::Resize { method, .. } => Ok(lower_resize(*method, &ins[0], &outs[0])),
            ImageOp::ResizeGrad { method, .. } => Ok(lower_resize_grad(*method, &ins[0], &outs[0])),
        }
    }

    fn gradient(&self, g: &GradContext) -> Result<Vec<Option<Tensor>>> {
        let (x, dy) = (&g.inputs[0], g.grad());
        let hw = [x.shape()[1], x.shape()[2]];
        // Each is the other's transpose, so each one's gradient is the other.
        let op = match *self {
            ImageOp::Resize { method, .. } => ImageOp::ResizeGrad { size: hw, method },
            ImageOp::ResizeGrad { method, .. } => ImageOp::Resize { size: hw, method },
        };
        Ok(vec![g.to_input(0, || apply1(Op::Image(op), &[dy]))?])
    }
}

/// Where a pixel along one axis reads from: its centre `(o + 0.5) * in / out` in the
/// input (half-pixel centres), for output coordinate `axis` of the kernel's space.
struct Sampler<'a> {
    b: &'a ExprBuilder,
    axis: usize,
    scale: f32,
    len: i64,
}

impl Sampler<'_> {
    fn new(b: &ExprBuilder, axis: usize, len: usize, out: usize) -> Sampler<'_> {
        let scale = if out == 0 {
            0.0
        } else {
            len as f32 / out as f32
        };
        Sampler {
            b,
            axis,
            scale,
            len: len as i64,
        }
    }
    fn centre(&self) -> E {
        (self.b.coord(self.axis).cast(DType::F32) + 0.5) * self.b.lit(self.scale)
    }
    /// The nearest pixel.
    fn nearest(&self) -> E {
        let f = self.centre().floor().cast(DType::I32);
        f.min(&self.b.lit_i(self.len - 1))
    }
    /// TensorFlow's bilinear neighbours, floor and ceil of `centre - 0.5` clamped, and the
    /// weight of the upper one.
    fn bilinear(&self) -> (E, E, E) {
        let b = self.b;
        let p = self.centre() - 0.5;
        let f = p.floor();
        let lo = f.max(&b.lit(0.0f32)).cast(DType::I32);
        let hi = p.ceil().min(&b.lit((self.len - 1) as f32)).cast(DType::I32);
        (lo, hi, &p - &f)
    }
}

/// Linear index of pixel `(coord 0, y, x, coord 3)` in an image of `[_, h, w, c]`.
fn pixel(b: &ExprBuilder, hwc: [i64; 3], y: &E, x: &E) -> E {
    let [h, w, c] = hwc;
    ((&b.coord(0) * &b.lit_i(h) + y) * b.lit_i(w) + x) * b.lit_i(c) + b.coord(3)
}

fn lower_resize(method: ResizeMethod, x: &Meta, out: &Meta) -> Lowering {
    let (h, w) = (x.shape[1], x.shape[2]);
    let hwc = [h as i64, w as i64, x.shape[3] as i64];
    let b = ExprBuilder::new(&[x.dtype]);
    let (sy, sx) = (
        Sampler::new(&b, 1, h, out.shape[1]),
        Sampler::new(&b, 2, w, out.shape[2]),
    );
    let at = |y: &E, xx: &E| b.load_at(0, &pixel(&b, hwc, y, xx));
    let v = match method {
        ResizeMethod::Nearest => at(&sy.nearest(), &sx.nearest()),
        ResizeMethod::Bilinear => {
            let (y0, y1, ly) = sy.bilinear();
            let (x0, x1, lx) = sx.bilinear();
            let (tl, tr, bl, br) = (at(&y0, &x0), at(&y0, &x1), at(&y1, &x0), at(&y1, &x1));
            let top = &tl + &((&tr - &tl) * &lx);
            let bottom = &bl + &((&br - &bl) * &lx);
            &top + &((&bottom - &top) * &ly)
        }
    };
    let k = Kernel::Map(MapKernel {
        space: out.shape.clone(),
        inputs: vec![x.dtype],
        expr: b.finish(&[&v]),
        store: None,
    });
    Lowering::single(k, 1, 1)
}

/// Zeros, then one scatter-add of `dy` per source pixel a resized pixel reads (the nearest,
/// or each of the 4 bilinear corners with its weight, as TensorFlow's gradient kernels).
fn lower_resize_grad(method: ResizeMethod, dy: &Meta, out: &Meta) -> Lowering {
    let (h, w) = (out.shape[1], out.shape[2]);
    let hwc = [h as i64, w as i64, out.shape[3] as i64];
    let mut low = Lowering::default();
    let zb = ExprBuilder::new(&[]);
    let zero = zb.lit(0.0f32);
    low.call(
        Kernel::Map(MapKernel {
            space: out.shape.clone(),
            inputs: vec![],
            expr: zb.finish(&[&zero]),
            store: None,
        }),
        vec![],
        vec![Buf::Out(0)],
    );
    // Corner (bottom?, right?) for bilinear; the single nearest pixel otherwise.
    let corners: &[(bool, bool)] = match method {
        ResizeMethod::Nearest => &[(false, false)],
        ResizeMethod::Bilinear => &[(false, false), (false, true), (true, false), (true, true)],
    };
    for &(down, right) in corners {
        let b = ExprBuilder::new(&[DType::F32]);
        let (sy, sx) = (
            Sampler::new(&b, 1, h, dy.shape[1]),
            Sampler::new(&b, 2, w, dy.shape[2]),
        );
        let g = b.load_affine(0, 0, contiguous_strides(&dy.shape));
        let (idx, v) = match method {
            ResizeMethod::Nearest => (pixel(&b, hwc, &sy.nearest(), &sx.nearest()), g),
            ResizeMethod::Bilinear => {
                let pick = |s: &Sampler, far: bool| {
                    let (lo, hi, l) = s.bilinear();
                    if far {
                        (hi, l)
                    } else {
                        (lo, &b.lit(1.0f32) - &l)
                    }
                };
                let ((y, wy), (x, wx)) = (pick(&sy, down), pick(&sx, right));
                (pixel(&b, hwc, &y, &x), (&g * &wy) * wx)
            }
        };
        let k = ScatterKernel {
            space: dy.shape.clone(),
            inputs: vec![DType::F32],
            expr: b.finish(&[&idx, &v]),
            out_len: out.size(),
        };
        low.call(Kernel::Scatter(k), vec![Buf::In(0)], vec![Buf::Out(0)]);
    }
    low
}

/// Runs `f` on a 4-D view of a 3-D or 4-D image and restores the rank.
fn batched(op: &str, image: &Tensor, f: impl FnOnce(&Tensor) -> Result<Tensor>) -> Result<Tensor> {
    match image.rank() {
        4 => f(image),
        3 => {
            let s = image.shape();
            let y = f(&reshape(
                image,
                &[1, s[0] as i64, s[1] as i64, s[2] as i64],
            )?)?;
            let o = y.shape().to_vec();
            reshape(&y, &[o[1] as i64, o[2] as i64, o[3] as i64])
        }
        _ => Err(Error::shape(
            op,
            format!(
                "expects an image of rank 3 or 4, got {}",
                fmt_shape(image.shape())
            ),
        )),
    }
}

/// Resizes images to `size = [height, width]` (TensorFlow 2 `tf.image.resize`, half-pixel
/// centres, no antialiasing). Bilinear works on float32 (cast other dtypes first) and returns
/// float32; nearest keeps the dtype.
pub fn resize(images: &Tensor, size: [usize; 2], method: ResizeMethod) -> Result<Tensor> {
    batched("resize", images, |x| {
        let x = if method == ResizeMethod::Bilinear && x.dtype() != DType::F32 {
            cast(x, DType::F32)?
        } else {
            x.clone()
        };
        apply1(Op::Image(ImageOp::Resize { size, method }), &[&x])
    })
}

/// The gradient of [`resize`] for images of `size = [height, width]`: `grads` (the resized
/// shape) added back onto the pixels each resized pixel was read from (TensorFlow's
/// `ResizeBilinearGrad` / `ResizeNearestNeighborGrad`). Float32.
pub fn resize_grad(grads: &Tensor, size: [usize; 2], method: ResizeMethod) -> Result<Tensor> {
    batched("resize_grad", grads, |g| {
        apply1(Op::Image(ImageOp::ResizeGrad { size, method }), &[g])
    })
}

/// Mirrors images horizontally (the width axis).
pub fn flip_left_right(image: &Tensor) -> Result<Tensor> {
    batched("flip_left_right", image, |x| reverse(x, &[2]))
}

/// Mirrors images vertically (the height axis).
pub fn flip_up_down(image: &Tensor) -> Result<Tensor> {
    batched("flip_up_down", image, |x| reverse(x, &[1]))
}

/// Rotates images by `k` quarter turns counter-clockwise, as `tf.image.rot90`.
pub fn rot90(image: &Tensor, k: i64) -> Result<Tensor> {
    batched("rot90", image, |x| {
        let swap = |t: &Tensor| transpose(t, &[0, 2, 1, 3]);
        match k.rem_euclid(4) {
            0 => Ok(x.clone()),
            1 => swap(&reverse(x, &[2])?),
            2 => reverse(x, &[1, 2]),
            _ => reverse(&swap(x)?, &[2]),
        }
    })
}

/// Converts images between integer pixels `0..=255` and float pixels in `[0, 1]`
/// (`tf.image.convert_image_dtype` with `uint8` as the integer type: wgflow has no 8-bit
/// dtype, so its int32 and uint32 images hold uint8 values, as `data::decode_image` makes
/// them).
///
/// Integer to float32 is `cast(image) * (1 / 255)`, TensorFlow's formula. Float32 to an
/// integer dtype is `cast(image * 255.5)` after clamping to `[0, 1]` (TensorFlow's
/// `saturate=True`; without it TensorFlow's uint8 would wrap, which int32 cannot mimic).
/// Between the two integer dtypes it is a cast, and to the image's own dtype a no-op.
///
/// ```
/// use wgflow::{DType, Tensor, ops::convert_image_dtype};
/// let pixels = Tensor::from_slice(&[0i32, 51, 255], [1, 3, 1]).unwrap();
/// let x = convert_image_dtype(&pixels, DType::F32).unwrap();
/// assert_eq!(x.to_vec::<f32>().unwrap(), vec![0.0, 51.0 * (1.0 / 255.0), 1.0]);
/// let back = convert_image_dtype(&x, DType::I32).unwrap();
/// assert_eq!(back.to_vec::<i32>().unwrap(), vec![0, 51, 255]);
/// ```
pub fn convert_image_dtype(image: &Tensor, dtype: DType) -> Result<Tensor> {
    let from = image.dtype();
    if from == DType::Bool || dtype == DType::Bool {
        return Err(Error::dtype(
            "convert_image_dtype",
            format!("converts between float32, int32 and uint32 images, got {from} to {dtype}"),
        ));
    }
    match (from.is_float(), dtype.is_float()) {
        _ if from == dtype => Ok(image.clone()),
        (false, false) => cast(image, dtype),
        // TensorFlow multiplies by the float32 of 1 / MAX rather than dividing.
        (false, true) => cast(image, dtype)? * ((1.0f64 / 255.0) as f32),
        // 255.5 rather than 255 so that the truncating cast rounds (TensorFlow's choice).
        (true, _) => cast(&(clip_by_value_scalar(image, 0.0, 1.0)? * 255.5f32)?, dtype),
    }
}
