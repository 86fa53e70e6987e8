//! Matrix products: batched `matmul` with broadcast batch dimensions and transposes, and
//! `bias_add`.

use super::{GradContext, Lowering, Meta, Op, OpDef, apply1, expect_inputs};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernel::ir::{Kernel, MatmulKernel, Operand, broadcast_strides};
use crate::shape::{broadcast_shapes, fmt_shape};
use crate::tensor::Tensor;

/// The linear-algebra family.
#[derive(Clone, Debug, PartialEq)]
pub enum LinalgOp {
    MatMul {
        transpose_a: bool,
        transpose_b: bool,
    },
}

/// Rows and columns of the product's operands: `(m, k)` of a, `(k, n)` of b.
fn dims(a: &[usize], ta: bool) -> (usize, usize) {
    let (r, c) = (a[a.len() - 2], a[a.len() - 1]);
    if ta { (c, r) } else { (r, c) }
}

impl OpDef for LinalgOp {
    fn name(&self) -> &'static str {
        "matmul"
    }

    fn infer(&self, ins: &[Meta]) -> Result<Vec<Meta>> {
        let LinalgOp::MatMul {
            transpose_a,
            transpose_b,
        } = *self;
        expect_inputs("matmul", ins, 2)?;
        let (a, b) = (&ins[0], &ins[1]);
        for m in [a, b] {
            if m.dtype != DType::F32 {
                return Err(Error::dtype(
                    "matmul",
                    format!("expects float32 operands, got {}", m.dtype),
                ));
            }
            if m.rank() < 2 {
                return Err(Error::shape(
                    "matmul",
                    format!(
                        "operands need rank 2 or more, got shape {}",
                        fmt_shape(&m.shape)
                    ),
                ));
            }
        }
        let (m, k) = dims(&a.shape, transpose_a);
        let (k2, n) = dims(&b.shape, transpose_b);
        if k != k2 {
            return Err(Error::shape(
                "matmul",
                format!(
                    "inner dimensions differ: {:?} x {:?} (transpose_a={transpose_a}, transpose_b={transpose_b})",
                    a.shape, b.shape
                ),
            ));
        }
        let mut out =
            broadcast_shapes("matmul", &a.shape[..a.rank() - 2], &b.shape[..b.rank() - 2])?;
        out.extend([m, n]);
        Ok(vec![Meta::new(out, DType::F32)])
    }

    fn lower(&self, ins: &[Meta], outs: &[Meta]) -> Result<Lowering> {
        let LinalgOp::MatMul {
            transpose_a,
            transpose_b,
        } = *self;
        let out = &outs[0].shape;
        let batch = out[..out.len() - 2].to_vec();
        let operand = |input: u32, m: &Meta, t: bool| {
            let (r, c) = (m.shape[m.rank() - 2], m.shape[m.rank() - 1]);
            // Batch strides of m's own batch dims (each batch is r * c elements), broadcast.
            let mut bshape = m.shape[..m.rank() - 2].to_vec();
            bshape.push(r * c);
            let mut bs = broadcast_strides(&bshape, &{
                let mut o = batch.clone();
                o.push(r * c);
                o
            });
            bs.pop();
            let (row, col) = if t { (1, c as i64) } else { (c as i64, 1) };
            Operand::Strided {
                input,
                offset: 0,
                batch: bs,
                row,
                col,
            }
        };
        let (m, k) = dims(&ins[0].shape, transpose_a);
        let n = out[out.len() - 1];
        let a = operand(0, &ins[0], transpose_a);
        let b = operand(1, &ins[1], transpose_b);
        let k = Kernel::Matmul(MatmulKernel {
            batch,
            m,
            n,
            k,
            inputs: vec![DType::F32; 2],
            a,
            b,
            epilogue: None,
            column_sums: None,
        });
        Ok(Lowering::single(k, 2, 1))
    }

    /// TF's MatMulGrad: each operand's gradient is a product of dy with the other operand,
    /// transposed to match; broadcast batch dimensions are summed away.
    fn gradient(&self, g: &GradContext) -> Result<Vec<Option<Tensor>>> {
        let LinalgOp::MatMul {
            transpose_a: ta,
            transpose_b: tb,
        } = *self;
        let (a, b, dy) = (&g.inputs[0], &g.inputs[1], g.grad());
        let da = || match (ta, tb) {
            (false, false) => matmul_t(dy, b, false, true),
            (false, true) => matmul_t(dy, b, false, false),
            (true, false) => matmul_t(b, dy, false, true),
            (true, true) => matmul_t(b, dy, true, true),
        };
        let db = || match (ta, tb) {
            (false, false) => matmul_t(a, dy, true, false),
            (false, true) => matmul_t(dy, a, true, false),
            (true, false) => matmul_t(a, dy, false, false),
            (true, true) => matmul_t(dy, a, true, true),
        };
        Ok(vec![g.to_input(0, da)?, g.to_input(1, db)?])
    }
}

/// Matrix product `a · b` over the last two axes; leading axes are batch axes and broadcast.
pub fn matmul(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    matmul_t(a, b, false, false)
}

/// [`matmul`] with either operand transposed (TensorFlow's `transpose_a`/`transpose_b`).
pub fn matmul_t(a: &Tensor, b: &Tensor, transpose_a: bool, transpose_b: bool) -> Result<Tensor> {
    apply1(
        Op::Linalg(LinalgOp::MatMul {
            transpose_a,
            transpose_b,
        }),
        &[a, b],
    )
}

/// Adds a 1-D `bias` along the last axis of `value`.
pub fn bias_add(value: &Tensor, bias: &Tensor) -> Result<Tensor> {
    let last = value.shape().last().copied();
    if bias.rank() != 1 || last != Some(bias.shape()[0]) {
        return Err(Error::shape(
            "bias_add",
            format!(
                "bias must be 1-D with the size of value's last dimension: value {}, bias {}",
                fmt_shape(value.shape()),
                fmt_shape(bias.shape())
            ),
        ));
    }
    super::add(value, bias)
}

impl Tensor {
    /// [`matmul`].
    pub fn matmul(&self, other: &Tensor) -> Result<Tensor> {
        matmul(self, other)
    }
}
