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
            Sigmoid => x.sigmoid(),
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
        let (x, dy) = (g.inputs, g.grad());
        match self {
            ElementwiseOp::Unary(u) => Ok(vec![unary_grad(*u, g, &x[0], &g.outputs[0], dy)?]),
            ElementwiseOp::Binary(b) => binary_grad(*b, g, &x[0], &x[1], &g.outputs[0], dy),
            ElementwiseOp::Where => {
                // The condition picks which branch each element's gradient flows to.
                let zero = super::zeros_like(dy)?;
                Ok(vec![
                    None,
                    g.to_input(1, || where_(&x[0], dy, &zero))?,
                    g.to_input(2, || where_(&x[0], &zero, dy))?,
                ])
            }
            ElementwiseOp::ClipByValue => {
                // Inside [lo, hi] the gradient goes to x; below to lo, above to hi (as TF).
                let zero = super::zeros_like(dy)?;
                let below = less(&x[0], &x[1])?;
                let above = greater(&x[0], &x[2])?;
                let inside = logical_not(&logical_or(&below, &above)?)?;
                Ok(vec![
                    g.to_input(0, || where_(&inside, dy, &zero))?,
                    g.to_input(1, || where_(&below, dy, &zero))?,
                    g.to_input(2, || where_(&above, dy, &zero))?,
                ])
            }
            // A cast between floats passes the gradient; to or from integers there is none.
            ElementwiseOp::Cast(to) => Ok(vec![if *to == DType::F32 {
                g.to_input(0, || Ok(dy.clone()))?
            } else {
                None
            }]),
        }
    }
}

/// `d/dx` of a unary op times `dy`, from its input `x` and output `y`.
fn unary_grad(
    u: UnaryOp,
    g: &GradContext,
    x: &Tensor,
    y: &Tensor,
    dy: &Tensor,
) -> Result<Option<Tensor>> {
    use UnaryOp::*;
    let lit = |v: f64| super::scalar_like(x, v);
    let zero = || super::zeros_like(dy);
    // Piecewise constant or boolean-valued: no gradient (None, as TF registers them).
    if matches!(
        u,
        Floor | Ceil | Round | LogicalNot | IsNan | IsInf | IsFinite
    ) {
        return Ok(None);
    }
    g.to_input(0, || match u {
        Abs => mul(dy, &sign(x)?), // 0 at 0, as TF
        Neg => neg(dy),
        Sign => zero(),
        Square => mul(dy, &mul(x, &lit(2.0)?)?),
        Sqrt => div(dy, &mul(y, &lit(2.0)?)?),
        // d x^-1/2 = -1/2 y^3
        Rsqrt => mul(dy, &mul(&mul(&square(y)?, y)?, &lit(-0.5)?)?),
        Reciprocal => neg(&mul(dy, &square(y)?)?),
        Exp => mul(dy, y),
        Expm1 => mul(dy, &add(y, &lit(1.0)?)?),
        Log => div(dy, x),
        Log1p => div(dy, &add(x, &lit(1.0)?)?),
        Sin => mul(dy, &cos(x)?),
        Cos => neg(&mul(dy, &sin(x)?)?),
        Tan => mul(dy, &add(&square(y)?, &lit(1.0)?)?),
        Tanh => mul(dy, &sub(&lit(1.0)?, &square(y)?)?),
        Sigmoid => mul(dy, &mul(y, &sub(&lit(1.0)?, y)?)?),
        // Zero at the kink, as TF's ReluGrad; reads the output (y > 0 exactly where x > 0),
        // as TF does, so a traced step need not keep the pre-activation alive.
        Relu => where_(&greater(y, &lit(0.0)?)?, dy, &zero()?),
        Relu6 => {
            let inside = logical_and(&greater(x, &lit(0.0)?)?, &less(x, &lit(6.0)?)?)?;
            where_(&inside, dy, &zero()?)
        }
        // From the output, as TF's EluGrad: y < 0 -> dy (y + 1).
        Elu => {
            let neg_side = mul(dy, &add(y, &lit(1.0)?)?)?;
            where_(&less(y, &lit(0.0)?)?, &neg_side, dy)
        }
        Selu => {
            const SCALE: f64 = 1.050_700_987_355_480_5;
            const ALPHA: f64 = 1.673_263_242_354_377_3;
            let neg_side = mul(dy, &add(y, &lit(SCALE * ALPHA)?)?)?;
            let pos_side = mul(dy, &lit(SCALE)?)?;
            where_(&less(y, &lit(0.0)?)?, &neg_side, &pos_side)
        }
        // Phi(x) + x phi(x)
        Gelu => {
            let cdf = mul(
                &add(
                    &erf(&mul(x, &lit(std::f64::consts::FRAC_1_SQRT_2)?)?)?,
                    &lit(1.0)?,
                )?,
                &lit(0.5)?,
            )?;
            let pdf = mul(
                &exp(&mul(&square(x)?, &lit(-0.5)?)?)?,
                &lit(1.0 / (2.0 * std::f64::consts::PI).sqrt())?,
            )?;
            mul(dy, &add(&cdf, &mul(x, &pdf)?)?)
        }
        // t = tanh(c (x + a x^3)): 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 a x^2)
        GeluTanh => {
            let c = (2.0 / std::f64::consts::PI).sqrt();
            let a = 0.044715;
            let x2 = square(x)?;
            let inner = mul(&add(x, &mul(&mul(&x2, x)?, &lit(a)?)?)?, &lit(c)?)?;
            let t = tanh(&inner)?;
            let left = mul(&add(&t, &lit(1.0)?)?, &lit(0.5)?)?;
            let dinner = mul(&add(&mul(&x2, &lit(3.0 * a)?)?, &lit(1.0)?)?, &lit(c)?)?;
            let right = mul(
                &mul(&mul(x, &lit(0.5)?)?, &sub(&lit(1.0)?, &square(&t)?)?)?,
                &dinner,
            )?;
            mul(dy, &add(&left, &right)?)
        }
        // s (1 + x (1 - s))
        Silu => {
            let s = sigmoid(x)?;
            let d = mul(&s, &add(&mul(x, &sub(&lit(1.0)?, &s)?)?, &lit(1.0)?)?)?;
            mul(dy, &d)
        }
        Softplus => mul(dy, &sigmoid(x)?),
        Softsign => div(dy, &square(&add(&abs(x)?, &lit(1.0)?)?)?),
        Erf => mul(
            dy,
            &mul(
                &exp(&neg(&square(x)?)?)?,
                &lit(std::f64::consts::FRAC_2_SQRT_PI)?,
            )?,
        ),
        // Returned None above.
        Floor | Ceil | Round | LogicalNot | IsNan | IsInf | IsFinite => {
            Err(Error::invalid(u.name(), "not differentiable"))
        }
    })
}

/// The gradients of a binary op for both inputs, each summed to its input's shape.
fn binary_grad(
    b: BinaryOp,
    g: &GradContext,
    x: &Tensor,
    y: &Tensor,
    z: &Tensor,
    dy: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    use BinaryOp::*;
    let lit = |v: f64| super::scalar_like(dy, v);
    let zero = || super::zeros_like(dy);
    Ok(match b {
        Add => vec![
            g.to_input(0, || Ok(dy.clone()))?,
            g.to_input(1, || Ok(dy.clone()))?,
        ],
        Sub => vec![
            g.to_input(0, || Ok(dy.clone()))?,
            g.to_input(1, || neg(dy))?,
        ],
        Mul => vec![g.to_input(0, || mul(dy, y))?, g.to_input(1, || mul(dy, x))?],
        // d(x/y)/dy = -z / y
        Div => vec![
            g.to_input(0, || div(dy, y))?,
            g.to_input(1, || neg(&div(&mul(dy, z)?, y)?))?,
        ],
        FloorDiv => vec![None, None],
        // x - floor(x/y) y, with floor(x/y) treated as constant (TF's FloorModGrad).
        FloorMod => vec![
            g.to_input(0, || Ok(dy.clone()))?,
            g.to_input(1, || neg(&mul(dy, &floor_div(x, y)?)?))?,
        ],
        // dz/dx = y x^(y-1); dz/dy = z log x where x > 0, else 0 (TF's PowGrad).
        Pow => vec![
            g.to_input(0, || mul(dy, &mul(y, &pow(x, &sub(y, &lit(1.0)?)?)?)?))?,
            g.to_input(1, || {
                let safe = where_(&greater(x, &lit(0.0)?)?, x, &super::ones_like(x)?)?;
                mul(dy, &mul(z, &log(&safe)?)?)
            })?,
        ],
        // Ties go to x, as TF's MaximumGrad/MinimumGrad.
        Maximum | Minimum => {
            let to_x = if b == Maximum {
                greater_equal(x, y)?
            } else {
                less_equal(x, y)?
            };
            let to_x = super::broadcast_to(&to_x, dy.shape())?;
            vec![
                g.to_input(0, || where_(&to_x, dy, &zero()?))?,
                g.to_input(1, || where_(&to_x, &zero()?, dy))?,
            ]
        }
        // atan2(a, b): da = b / (a^2 + b^2), db = -a / (a^2 + b^2)
        Atan2 => {
            let r2 = add(&square(x)?, &square(y)?)?;
            vec![
                g.to_input(0, || mul(dy, &div(y, &r2)?))?,
                g.to_input(1, || neg(&mul(dy, &div(x, &r2)?)?))?,
            ]
        }
        SquaredDifference => {
            let d = mul(&mul(dy, &sub(x, y)?)?, &lit(2.0)?)?;
            vec![g.to_input(0, || Ok(d.clone()))?, g.to_input(1, || neg(&d))?]
        }
        Equal | NotEqual | Less | LessEqual | Greater | GreaterEqual | LogicalAnd | LogicalOr => {
            vec![None, None]
        }
    })
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
