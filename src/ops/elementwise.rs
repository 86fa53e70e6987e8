//! Elementwise ops. Each is an expression over the kernel IR's primitives (one line in
//! [`UnaryOp::expr`] or [`BinaryOp::expr`]), so an eager op is one kernel and a fused chain
//! is one bigger kernel through the same path. Inputs broadcast NumPy-style.

use super::{
    GradContext, Lowering, Meta, Op, OpDef, apply1, expect_inputs, expect_same_dtype, map_kernel,
};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernel::ir::E;
use crate::shape::broadcast_all;
use crate::tensor::Tensor;

/// One-input elementwise ops (TensorFlow's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    Abs,
    Neg,
    Sign,
    Square,
    Sqrt,
    Rsqrt,
    Reciprocal,
    Exp,
    Expm1,
    Log,
    Log1p,
    Sin,
    Cos,
    Tan,
    Tanh,
    Sigmoid,
    Relu,
    Relu6,
    Elu,
    Selu,
    /// Exact GELU, `0.5 x (1 + erf(x / sqrt 2))`.
    Gelu,
    /// GELU's tanh approximation.
    GeluTanh,
    Silu,
    Softplus,
    Softsign,
    Erf,
    Floor,
    Ceil,
    /// Round half to even.
    Round,
    LogicalNot,
    IsNan,
    IsInf,
    IsFinite,
}

/// What dtypes a unary op takes.
enum Accepts {
    Float,
    Numeric,
    Bool,
}

const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;

impl UnaryOp {
    pub fn name(self) -> &'static str {
        use UnaryOp::*;
        match self {
            Abs => "abs",
            Neg => "neg",
            Sign => "sign",
            Square => "square",
            Sqrt => "sqrt",
            Rsqrt => "rsqrt",
            Reciprocal => "reciprocal",
            Exp => "exp",
            Expm1 => "expm1",
            Log => "log",
            Log1p => "log1p",
            Sin => "sin",
            Cos => "cos",
            Tan => "tan",
            Tanh => "tanh",
            Sigmoid => "sigmoid",
            Relu => "relu",
            Relu6 => "relu6",
            Elu => "elu",
            Selu => "selu",
            Gelu => "gelu",
            GeluTanh => "gelu_tanh",
            Silu => "silu",
            Softplus => "softplus",
            Softsign => "softsign",
            Erf => "erf",
            Floor => "floor",
            Ceil => "ceil",
            Round => "round",
            LogicalNot => "logical_not",
            IsNan => "is_nan",
            IsInf => "is_inf",
            IsFinite => "is_finite",
        }
    }

    fn accepts(self) -> Accepts {
        use UnaryOp::*;
        match self {
            Abs | Neg | Sign | Square | Relu | Relu6 | Floor | Ceil | Round => Accepts::Numeric,
            LogicalNot => Accepts::Bool,
            _ => Accepts::Float,
        }
    }

    fn out_dtype(self, x: DType) -> DType {
        match self {
            UnaryOp::IsNan | UnaryOp::IsInf | UnaryOp::IsFinite => DType::Bool,
            _ => x,
        }
    }

    /// The op as an expression of the kernel IR's primitives.
    pub fn expr(self, x: &E) -> E {
        use UnaryOp::*;
        let int = x.dtype.is_int();
        match self {
            Abs => x.abs(),
            Neg => -x,
            Sign => x.gt(&x.lit(0.0)).select(
                &x.lit(1.0),
                &x.lt(&x.lit(0.0)).select(&x.lit(-1.0), &(x * 0.0)),
            ),
            Square => x * x,
            Sqrt => x.sqrt(),
            Rsqrt => x.rsqrt(),
            Reciprocal => x.lit(1.0) / x,
            Exp => x.exp(),
            Expm1 => x.expm1(),
            Log => x.log(),
            Log1p => x.log1p(),
            Sin => x.sin(),
            Cos => x.cos(),
            Tan => x.tan(),
            Tanh => x.tanh(),
            // exp(-x) may overflow to inf, giving exactly 0.
            Sigmoid => x.lit(1.0) / ((-x).exp() + 1.0),
            Relu => x.max(&x.lit(0.0)),
            Relu6 => x.max(&x.lit(0.0)).min(&x.lit(6.0)),
            Elu => x.gt(&x.lit(0.0)).select(x, &x.expm1()),
            Selu => x
                .gt(&x.lit(0.0))
                .select(&(x * SELU_SCALE), &(x.expm1() * (SELU_ALPHA * SELU_SCALE))),
            Gelu => x * 0.5 * ((x * std::f64::consts::FRAC_1_SQRT_2).erf() + 1.0),
            GeluTanh => {
                let inner = (x + x * x * x * 0.044715) * (2.0 / std::f64::consts::PI).sqrt();
                x * 0.5 * (inner.tanh() + 1.0)
            }
            Silu => x / ((-x).exp() + 1.0),
            // TensorFlow's thresholds: x itself above -log(eps) - 2, exp(x) far below.
            Softplus => {
                let t = -(f32::EPSILON as f64).ln() - 2.0;
                let mid = x.exp().log1p();
                x.gt(&x.lit(t))
                    .select(x, &x.lt(&x.lit(-t)).select(&x.exp(), &mid))
            }
            Softsign => x / (x.abs() + 1.0),
            Erf => x.erf(),
            Floor if int => x.clone(),
            Ceil if int => x.clone(),
            Round if int => x.clone(),
            Floor => x.floor(),
            Ceil => x.ceil(),
            Round => x.round(),
            LogicalNot => x.not(),
            IsNan => x.is_nan(),
            IsInf => x.is_inf(),
            IsFinite => x.is_nan().or(&x.is_inf()).not(),
        }
    }
}

/// Two-input elementwise ops (TensorFlow's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    /// Float division; integer division truncates toward zero (0 for a zero divisor).
    Div,
    FloorDiv,
    FloorMod,
    Pow,
    Maximum,
    Minimum,
    Atan2,
    SquaredDifference,
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
    LogicalAnd,
    LogicalOr,
}

impl BinaryOp {
    pub fn name(self) -> &'static str {
        use BinaryOp::*;
        match self {
            Add => "add",
            Sub => "sub",
            Mul => "mul",
            Div => "div",
            FloorDiv => "floor_div",
            FloorMod => "floor_mod",
            Pow => "pow",
            Maximum => "maximum",
            Minimum => "minimum",
            Atan2 => "atan2",
            SquaredDifference => "squared_difference",
            Equal => "equal",
            NotEqual => "not_equal",
            Less => "less",
            LessEqual => "less_equal",
            Greater => "greater",
            GreaterEqual => "greater_equal",
            LogicalAnd => "logical_and",
            LogicalOr => "logical_or",
        }
    }

    fn check(self, x: DType) -> Result<DType> {
        use BinaryOp::*;
        let bad = |what: &str| {
            Err(Error::dtype(
                self.name(),
                format!("expects {what} tensors, got {x}"),
            ))
        };
        match self {
            LogicalAnd | LogicalOr => {
                if x != DType::Bool {
                    return bad("bool");
                }
                Ok(DType::Bool)
            }
            Equal | NotEqual => Ok(DType::Bool),
            Less | LessEqual | Greater | GreaterEqual => {
                if x == DType::Bool {
                    return bad("numeric");
                }
                Ok(DType::Bool)
            }
            Atan2 => {
                if x != DType::F32 {
                    return bad("float32");
                }
                Ok(x)
            }
            _ => {
                if x == DType::Bool {
                    return bad("numeric");
                }
                Ok(x)
            }
        }
    }

    /// The op as an expression of the kernel IR's primitives.
    pub fn expr(self, x: &E, y: &E) -> E {
        use BinaryOp::*;
        let int = x.dtype.is_int();
        match self {
            Add => x + y,
            Sub => x - y,
            Mul => x * y,
            Div => x / y,
            FloorDiv if int => {
                // Truncating division, corrected down when the signs differ and it is inexact.
                let q = x / y;
                let adjust = x
                    .rem(y)
                    .ne(&x.lit(0.0))
                    .and(&x.lt(&x.lit(0.0)).ne(&y.lt(&y.lit(0.0))));
                adjust.select(&(&q - 1.0), &q)
            }
            FloorDiv => (x / y).floor(),
            // TensorFlow: r = fmod(x, y); r + y when r is non-zero and its sign differs from y's.
            FloorMod => {
                let r = x.rem(y);
                let zero = x.lit(0.0);
                let adjust = r.ne(&zero).and(&r.lt(&zero).ne(&y.lt(&zero)));
                adjust.select(&(&r + y), &r)
            }
            Pow => x.pow(y),
            Maximum => x.max(y),
            Minimum => x.min(y),
            Atan2 => x.atan2(y),
            SquaredDifference => {
                let d = x - y;
                &d * &d
            }
            Equal => x.eq(y),
            NotEqual => x.ne(y),
            Less => x.lt(y),
            LessEqual => x.le(y),
            Greater => x.gt(y),
            GreaterEqual => x.ge(y),
            LogicalAnd => x.and(y),
            LogicalOr => x.or(y),
        }
    }
}

/// The elementwise family.
#[derive(Clone, Debug, PartialEq)]
pub enum ElementwiseOp {
    Unary(UnaryOp),
    Binary(BinaryOp),
    /// `where(condition, x, y)`, all three broadcast together.
    Where,
    /// `clip_by_value(x, lo, hi)`, bounds broadcast against `x`.
    ClipByValue,
    Cast(DType),
}

impl OpDef for ElementwiseOp {
    fn name(&self) -> &'static str {
        match self {
            ElementwiseOp::Unary(u) => u.name(),
            ElementwiseOp::Binary(b) => b.name(),
            ElementwiseOp::Where => "where",
            ElementwiseOp::ClipByValue => "clip_by_value",
            ElementwiseOp::Cast(_) => "cast",
        }
    }

    fn infer(&self, ins: &[Meta]) -> Result<Vec<Meta>> {
        let name = self.name();
        let shapes: Vec<&[usize]> = ins.iter().map(|m| m.shape.as_slice()).collect();
        let dtype = match self {
            ElementwiseOp::Unary(u) => {
                expect_inputs(name, ins, 1)?;
                let x = ins[0].dtype;
                let ok = match u.accepts() {
                    Accepts::Float => x == DType::F32,
                    Accepts::Numeric => x.is_numeric(),
                    Accepts::Bool => x == DType::Bool,
                };
                if !ok {
                    let want = match u.accepts() {
                        Accepts::Float => "float32",
                        Accepts::Numeric => "numeric",
                        Accepts::Bool => "bool",
                    };
                    return Err(Error::dtype(
                        name,
                        format!("expects a {want} tensor, got {x}"),
                    ));
                }
                u.out_dtype(x)
            }
            ElementwiseOp::Binary(b) => {
                expect_inputs(name, ins, 2)?;
                expect_same_dtype(name, &ins[0], &ins[1])?;
                b.check(ins[0].dtype)?
            }
            ElementwiseOp::Where => {
                expect_inputs(name, ins, 3)?;
                if ins[0].dtype != DType::Bool {
                    return Err(Error::dtype(
                        name,
                        format!("condition must be bool, got {}", ins[0].dtype),
                    ));
                }
                expect_same_dtype(name, &ins[1], &ins[2])?;
                ins[1].dtype
            }
            ElementwiseOp::ClipByValue => {
                expect_inputs(name, ins, 3)?;
                expect_same_dtype(name, &ins[0], &ins[1])?;
                expect_same_dtype(name, &ins[0], &ins[2])?;
                if ins[0].dtype == DType::Bool {
                    return Err(Error::dtype(name, "expects numeric tensors, got bool"));
                }
                // The bounds broadcast against x; the result keeps x's shape.
                let s = broadcast_all(name, &shapes)?;
                if s != ins[0].shape {
                    return Err(Error::shape(
                        name,
                        format!(
                            "bounds must broadcast to x's shape {:?}, which would become {:?}",
                            ins[0].shape, s
                        ),
                    ));
                }
                ins[0].dtype
            }
            ElementwiseOp::Cast(to) => {
                expect_inputs(name, ins, 1)?;
                *to
            }
        };
        Ok(vec![Meta::new(broadcast_all(name, &shapes)?, dtype)])
    }

    fn lower(&self, ins: &[Meta], outs: &[Meta]) -> Result<Lowering> {
        let k = map_kernel(&outs[0].shape, ins, |_, x| {
            vec![match self {
                ElementwiseOp::Unary(u) => u.expr(&x[0]),
                ElementwiseOp::Binary(b) => b.expr(&x[0], &x[1]),
                ElementwiseOp::Where => x[0].select(&x[1], &x[2]),
                ElementwiseOp::ClipByValue => x[0].max(&x[1]).min(&x[2]),
                ElementwiseOp::Cast(to) => x[0].cast(*to),
            }]
        });
        Ok(Lowering::single(k, ins.len(), 1))
    }

    fn gradient(&self, g: &GradContext) -> Result<Vec<Option<Tensor>>> {
        let (x, dy) = (&g.inputs, g.grad());
        match self {
            ElementwiseOp::Binary(BinaryOp::Add) => Ok(vec![
                g.to_input(0, || Ok(dy.clone()))?,
                g.to_input(1, || Ok(dy.clone()))?,
            ]),
            ElementwiseOp::Binary(BinaryOp::Sub) => Ok(vec![
                g.to_input(0, || Ok(dy.clone()))?,
                g.to_input(1, || neg(dy))?,
            ]),
            ElementwiseOp::Binary(BinaryOp::Mul) => Ok(vec![
                g.to_input(0, || mul(dy, &x[1]))?,
                g.to_input(1, || mul(dy, &x[0]))?,
            ]),
            _ => Err(Error::invalid(
                self.name(),
                "no gradient is defined for this op",
            )),
        }
    }
}

pub(crate) fn unary(op: UnaryOp, x: &Tensor) -> Result<Tensor> {
    apply1(Op::Elementwise(ElementwiseOp::Unary(op)), &[x])
}

pub(crate) fn binary(op: BinaryOp, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    apply1(Op::Elementwise(ElementwiseOp::Binary(op)), &[x, y])
}

macro_rules! unary_fns {
    ($($(#[$doc:meta])* $f:ident => $op:ident),* $(,)?) => {
        $( $(#[$doc])* pub fn $f(x: &Tensor) -> Result<Tensor> { unary(UnaryOp::$op, x) } )*
        impl Tensor {
            $( $(#[$doc])* pub fn $f(&self) -> Result<Tensor> { unary(UnaryOp::$op, self) } )*
        }
    };
}

macro_rules! binary_fns {
    ($($(#[$doc:meta])* $f:ident => $op:ident),* $(,)?) => {
        $( $(#[$doc])* pub fn $f(x: &Tensor, y: &Tensor) -> Result<Tensor> { binary(BinaryOp::$op, x, y) } )*
    };
}

unary_fns! {
    /// `|x|`.
    abs => Abs,
    /// `-x`.
    neg => Neg,
    /// -1, 0 or 1 (NaN stays NaN).
    sign => Sign,
    /// `x * x`.
    square => Square,
    sqrt => Sqrt,
    /// `1 / sqrt(x)`.
    rsqrt => Rsqrt,
    /// `1 / x`.
    reciprocal => Reciprocal,
    exp => Exp,
    /// `exp(x) - 1`, accurate near 0.
    expm1 => Expm1,
    /// Natural logarithm.
    log => Log,
    /// `log(1 + x)`, accurate near 0.
    log1p => Log1p,
    sin => Sin,
    cos => Cos,
    tan => Tan,
    tanh => Tanh,
    sigmoid => Sigmoid,
    relu => Relu,
    /// `min(max(x, 0), 6)`.
    relu6 => Relu6,
    elu => Elu,
    selu => Selu,
    /// Exact GELU (`approximate=False`).
    gelu => Gelu,
    /// GELU with the tanh approximation (`approximate=True`).
    gelu_tanh => GeluTanh,
    /// `x * sigmoid(x)` (swish).
    silu => Silu,
    /// `log(1 + exp(x))`, stable for large |x|.
    softplus => Softplus,
    /// `x / (1 + |x|)`.
    softsign => Softsign,
    erf => Erf,
    floor => Floor,
    ceil => Ceil,
    /// Round half to even.
    round => Round,
    logical_not => LogicalNot,
    is_nan => IsNan,
    is_inf => IsInf,
    is_finite => IsFinite,
}

binary_fns! {
    add => Add,
    /// `x - y`.
    sub => Sub,
    /// `x * y`.
    mul => Mul,
    /// `x / y` (integers truncate toward zero).
    div => Div,
    /// Division rounded toward negative infinity.
    floor_div => FloorDiv,
    /// Remainder with the sign of the divisor (Python's `%`).
    floor_mod => FloorMod,
    /// `x ** y`.
    pow => Pow,
    maximum => Maximum,
    minimum => Minimum,
    /// `atan2(x, y)`: the angle of the point (y, x), TensorFlow's argument order `atan2(y, x)`.
    atan2 => Atan2,
    /// `(x - y)^2`.
    squared_difference => SquaredDifference,
    equal => Equal,
    not_equal => NotEqual,
    less => Less,
    less_equal => LessEqual,
    greater => Greater,
    greater_equal => GreaterEqual,
    logical_and => LogicalAnd,
    logical_or => LogicalOr,
}

/// Elementwise choice: `x` where `condition` is true, else `y` (three-way broadcast).
pub fn where_(condition: &Tensor, x: &Tensor, y: &Tensor) -> Result<Tensor> {
    apply1(Op::Elementwise(ElementwiseOp::Where), &[condition, x, y])
}

/// Clamps `x` to `[lo, hi]`; the bounds broadcast against `x`.
pub fn clip_by_value(x: &Tensor, lo: &Tensor, hi: &Tensor) -> Result<Tensor> {
    apply1(Op::Elementwise(ElementwiseOp::ClipByValue), &[x, lo, hi])
}

/// [`clip_by_value`] with scalar bounds.
pub fn clip_by_value_scalar(x: &Tensor, lo: f64, hi: f64) -> Result<Tensor> {
    clip_by_value(x, &super::scalar_like(x, lo)?, &super::scalar_like(x, hi)?)
}

/// Converts to another dtype (floats to integers truncate toward zero and saturate).
pub fn cast(x: &Tensor, dtype: DType) -> Result<Tensor> {
    apply1(Op::Elementwise(ElementwiseOp::Cast(dtype)), &[x])
}

impl Tensor {
    /// Converts to another dtype.
    pub fn cast(&self, dtype: DType) -> Result<Tensor> {
        cast(self, dtype)
    }
}
