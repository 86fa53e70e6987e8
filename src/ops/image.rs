//! Image ops on `[height, width, channels]` or `[batch, height, width, channels]` tensors:
//! resizing with TensorFlow 2's `tf.image.resize` semantics (half-pixel centres), flips and
//! rotations (compositions of reverse and transpose).

use super::{Lowering, Meta, Op, OpDef, apply1, cast, expect_inputs, reshape, reverse, transpose};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernel::ir::{E, ExprBuilder, Kernel, MapKernel};
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
}

impl OpDef for ImageOp {
    fn name(&self) -> &'static str {
        match self {
            ImageOp::Resize {
                method: ResizeMethod::Bilinear,
                ..
            } => "resize_bilinear",
            ImageOp::Resize {
                method: ResizeMethod::Nearest,
                ..
            } => "resize_nearest",
        }
    }

    fn infer(&self, ins: &[Meta]) -> Result<Vec<Meta>> {
        let ImageOp::Resize { size, method } = self;
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
        if (x.shape[1] == 0 || x.shape[2] == 0) && size[0] * size[1] > 0 {
            return Err(Error::invalid(
                self.name(),
                format!(
                    "cannot resize an empty image {} to {size:?}",
                    fmt_shape(&x.shape)
                ),
            ));
        }
        if *method == ResizeMethod::Bilinear && x.dtype != DType::F32 {
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
        let ImageOp::Resize { method, .. } = self;
        let x = &ins[0];
        let (h, w, c) = (x.shape[1] as i64, x.shape[2] as i64, x.shape[3] as i64);
        let (oh, ow) = (outs[0].shape[1], outs[0].shape[2]);
        let b = ExprBuilder::new(&[x.dtype]);
        // Source position of an output pixel centre: (o + 0.5) * in / out.
        let scale = |inn: i64, out: usize| {
            if out == 0 {
                0.0
            } else {
                inn as f32 / out as f32
            }
        };
        let (sy, sx) = (scale(h, oh), scale(w, ow));
        let centre = |axis: usize, s: f32| (b.coord(axis).cast(DType::F32) + 0.5) * b.lit(s);
        let at = |y: &E, xx: &E| {
            let idx = ((&b.coord(0) * &b.lit_i(h) + y) * b.lit_i(w) + xx) * b.lit_i(c) + b.coord(3);
            b.load_at(0, &idx)
        };
        let v = match method {
            ResizeMethod::Nearest => {
                let y = centre(1, sy).floor().cast(DType::I32).min(&b.lit_i(h - 1));
                let xx = centre(2, sx).floor().cast(DType::I32).min(&b.lit_i(w - 1));
                at(&y, &xx)
            }
            ResizeMethod::Bilinear => {
                // TensorFlow's weights: neighbours floor/ceil of (o + 0.5) * scale - 0.5, clamped.
                let axis = |a: usize, s: f32, n: i64| {
                    let p = centre(a, s) - 0.5;
                    let f = p.floor();
                    let lo = f.max(&b.lit(0.0f32)).cast(DType::I32);
                    let hi = p.ceil().min(&b.lit((n - 1) as f32)).cast(DType::I32);
                    (lo, hi, &p - &f)
                };
                let (y0, y1, ly) = axis(1, sy, h);
                let (x0, x1, lx) = axis(2, sx, w);
                let (tl, tr, bl, br) = (at(&y0, &x0), at(&y0, &x1), at(&y1, &x0), at(&y1, &x1));
                let top = &tl + &((&tr - &tl) * &lx);
                let bottom = &bl + &((&br - &bl) * &lx);
                &top + &((&bottom - &top) * &ly)
            }
        };
        let k = Kernel::Map(MapKernel {
            space: outs[0].shape.clone(),
            inputs: vec![x.dtype],
            expr: b.finish(&[&v]),
            store: None,
        });
        Ok(Lowering::single(k, 1, 1))
    }
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
