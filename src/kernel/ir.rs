//! The backend-neutral kernel IR.
//!
//! Elementwise work is an [`Expr`]: a small SSA program (a list of [`Node`]s, each naming
//! earlier nodes by index) evaluated once per point of an iteration space. Loads name a
//! kernel input and an [`Index`]: either an affine map of the space's coordinates
//! (broadcasting, transposes, slices, reversals are all affine) or a computed integer node
//! (gathers, padding, tiling). The same program is printed as WGSL by the wgpu backend and
//! interpreted a block of elements per node by the CPU backend, so an eager op and a fused
//! chain of ops take one code path.
//!
//! Reduce, matmul, scan, scatter, random and softmax are kernel families with parameters;
//! reduce and matmul carry optional prologue/epilogue expressions so fusion can fold work
//! into them.

use crate::dtype::{DType, Scalar};
use std::cell::RefCell;
use std::rc::Rc;

pub type NodeId = u32;

/// One-argument math primitives. Ops such as `sigmoid` or `selu` are written as trees of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryFn {
    Neg,
    Abs,
    Exp,
    Log,
    Sqrt,
    Rsqrt,
    Sin,
    Cos,
    Tan,
    Tanh,
    /// `1 / (1 + e^-x)`: one primitive, so the CPU evaluates it in one pass over a block.
    Sigmoid,
    Erf,
    Expm1,
    Log1p,
    Floor,
    Ceil,
    /// Round half to even (TensorFlow's and WGSL's `round`).
    Round,
    Trunc,
    Not,
    IsNan,
    IsInf,
}

/// Two-argument primitives; comparisons produce `bool`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryFn {
    Add,
    Sub,
    Mul,
    /// Float division; integer division truncates and gives 0 for a zero divisor.
    Div,
    /// Remainder with the sign of the dividend (C `fmod`); 0 for an integer zero divisor.
    Rem,
    Pow,
    Max,
    Min,
    Atan2,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinaryFn {
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryFn::Eq | BinaryFn::Ne | BinaryFn::Lt | BinaryFn::Le | BinaryFn::Gt | BinaryFn::Ge
        )
    }
}

/// Where a load reads its input.
#[derive(Clone, Debug, PartialEq)]
pub enum Index {
    /// `offset + sum(coord[d] * strides[d])` over the iteration space's axes.
    Affine { offset: i64, strides: Vec<i64> },
    /// A computed `i32` node; backends clamp it into the input's range.
    Node(NodeId),
}

/// One SSA instruction.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Load {
        input: u32,
        index: Index,
    },
    /// A runtime parameter: passed at dispatch time, so kernels that differ only in
    /// constant values share one compiled pipeline.
    Const(Scalar),
    /// A literal compiled into the kernel (index arithmetic, formula constants).
    Lit(Scalar),
    /// The iteration-space coordinate along an axis, as `i32`.
    Coord(u32),
    /// The accumulated value, in a reduce or matmul epilogue.
    Acc,
    Unary(UnaryFn, NodeId),
    Binary(BinaryFn, NodeId, NodeId),
    /// `cond ? a : b`.
    Select(NodeId, NodeId, NodeId),
    Cast(DType, NodeId),
}

/// The nodes a node reads.
fn node_args(n: &Node) -> Vec<NodeId> {
    match *n {
        Node::Load {
            index: Index::Node(ix),
            ..
        } => vec![ix],
        Node::Unary(_, a) | Node::Cast(_, a) => vec![a],
        Node::Binary(_, a, b) => vec![a, b],
        Node::Select(c, a, b) => vec![c, a, b],
        _ => vec![],
    }
}

/// `n` with each node it reads renumbered by `f` (its leaves unchanged).
pub(crate) fn map_args(n: &Node, f: impl Fn(NodeId) -> NodeId) -> Node {
    match n.clone() {
        Node::Load {
            input,
            index: Index::Node(ix),
        } => Node::Load {
            input,
            index: Index::Node(f(ix)),
        },
        Node::Unary(u, a) => Node::Unary(u, f(a)),
        Node::Binary(b, x, y) => Node::Binary(b, f(x), f(y)),
        Node::Select(c, a, b) => Node::Select(f(c), f(a), f(b)),
        Node::Cast(t, a) => Node::Cast(t, f(a)),
        leaf => leaf,
    }
}

/// An SSA program: nodes in dependency order, their dtypes, and which nodes are outputs.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub nodes: Vec<Node>,
    pub dtypes: Vec<DType>,
    pub outputs: Vec<NodeId>,
}

impl Expr {
    pub fn output_dtypes(&self) -> Vec<DType> {
        self.outputs
            .iter()
            .map(|&o| self.dtypes[o as usize])
            .collect()
    }
    /// Indices of the inputs this program loads.
    pub fn used_inputs(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self
            .nodes
            .iter()
            .filter_map(|n| {
                if let Node::Load { input, .. } = n {
                    Some(*input)
                } else {
                    None
                }
            })
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
    /// Whether any node reads a coordinate (directly or through an affine load).
    pub fn uses_coords(&self) -> bool {
        self.nodes.iter().any(|n| {
            matches!(
                n,
                Node::Coord(_)
                    | Node::Load {
                        index: Index::Affine { .. },
                        ..
                    }
            )
        })
    }
    /// The runtime parameters, in node order.
    pub fn params(&self) -> Vec<Scalar> {
        self.nodes
            .iter()
            .filter_map(|n| {
                if let Node::Const(s) = n {
                    Some(*s)
                } else {
                    None
                }
            })
            .collect()
    }
}

/// Builds an [`Expr`] with ordinary Rust arithmetic on [`E`] handles.
#[derive(Clone)]
pub struct ExprBuilder(Rc<RefCell<Program>>);

#[derive(Default)]
struct Program {
    inputs: Vec<DType>,
    nodes: Vec<Node>,
    dtypes: Vec<DType>,
}

/// A node under construction. Cheap to clone.
#[derive(Clone)]
pub struct E {
    b: Rc<RefCell<Program>>,
    pub id: NodeId,
    pub dtype: DType,
}

impl ExprBuilder {
    /// A builder whose loads read inputs of these dtypes.
    pub fn new(inputs: &[DType]) -> Self {
        ExprBuilder(Rc::new(RefCell::new(Program {
            inputs: inputs.to_vec(),
            ..Default::default()
        })))
    }
    fn push(&self, node: Node, dtype: DType) -> E {
        let mut p = self.0.borrow_mut();
        // Reuse an identical leaf (a load, literal or coordinate) instead of repeating it.
        if matches!(
            node,
            Node::Load { .. } | Node::Lit(_) | Node::Coord(_) | Node::Acc
        ) && let Some(i) = p.nodes.iter().position(|n| *n == node)
        {
            return E {
                b: self.0.clone(),
                id: i as NodeId,
                dtype: p.dtypes[i],
            };
        }
        p.nodes.push(node);
        p.dtypes.push(dtype);
        E {
            b: self.0.clone(),
            id: (p.nodes.len() - 1) as NodeId,
            dtype,
        }
    }
    pub fn input_dtype(&self, input: usize) -> DType {
        self.0.borrow().inputs[input]
    }
    /// Loads `input` at an affine map of the space's coordinates.
    pub fn load_affine(&self, input: usize, offset: i64, strides: Vec<i64>) -> E {
        let dt = self.input_dtype(input);
        self.push(
            Node::Load {
                input: input as u32,
                index: Index::Affine { offset, strides },
            },
            dt,
        )
    }
    /// Loads `input` at a computed linear index (an `i32` node).
    pub fn load_at(&self, input: usize, index: &E) -> E {
        debug_assert_eq!(index.dtype, DType::I32);
        let dt = self.input_dtype(input);
        self.push(
            Node::Load {
                input: input as u32,
                index: Index::Node(index.id),
            },
            dt,
        )
    }
    pub fn coord(&self, axis: usize) -> E {
        self.push(Node::Coord(axis as u32), DType::I32)
    }
    /// A compiled-in literal.
    pub fn lit(&self, v: impl Into<Scalar>) -> E {
        let v = v.into();
        self.push(Node::Lit(v), v.dtype())
    }
    pub fn lit_i(&self, v: i64) -> E {
        self.lit(Scalar::I32(v as i32))
    }
    /// A runtime parameter.
    pub fn param(&self, v: impl Into<Scalar>) -> E {
        let v = v.into();
        self.push(Node::Const(v), v.dtype())
    }
    pub fn acc(&self, dtype: DType) -> E {
        self.push(Node::Acc, dtype)
    }
    pub fn finish(self, outputs: &[&E]) -> Expr {
        let p = self.0.borrow();
        let outputs: Vec<NodeId> = outputs.iter().map(|e| e.id).collect();
        compact(&p.nodes, &p.dtypes, &outputs)
    }
}

/// An [`Expr`] of only what `outputs` depend on: builders leave unused nodes behind (index
/// arithmetic for a path not taken), and every backend would evaluate them.
pub fn compact(nodes: &[Node], dtypes: &[DType], outputs: &[NodeId]) -> Expr {
    let mut live = vec![false; nodes.len()];
    for &o in outputs {
        live[o as usize] = true;
    }
    for i in (0..nodes.len()).rev() {
        if live[i] {
            for a in node_args(&nodes[i]) {
                live[a as usize] = true;
            }
        }
    }
    let mut new_id = vec![0 as NodeId; nodes.len()];
    let (mut kept, mut kept_dtypes) = (Vec::new(), Vec::new());
    for (i, node) in nodes.iter().enumerate() {
        if !live[i] {
            continue;
        }
        new_id[i] = kept.len() as NodeId;
        kept.push(map_args(node, |a| new_id[a as usize]));
        kept_dtypes.push(dtypes[i]);
    }
    Expr {
        nodes: kept,
        dtypes: kept_dtypes,
        outputs: outputs.iter().map(|&o| new_id[o as usize]).collect(),
    }
}

impl E {
    fn builder(&self) -> ExprBuilder {
        ExprBuilder(self.b.clone())
    }
    fn unary(&self, f: UnaryFn) -> E {
        let dt = match f {
            UnaryFn::IsNan | UnaryFn::IsInf | UnaryFn::Not => DType::Bool,
            _ => self.dtype,
        };
        self.builder().push(Node::Unary(f, self.id), dt)
    }
    pub fn binary(&self, f: BinaryFn, other: &E) -> E {
        debug_assert_eq!(self.dtype, other.dtype, "{f:?} on mixed dtypes");
        // Identities with a literal right operand (index arithmetic is full of them): x * 1,
        // x / 1, x + 0, x - 0 are x.
        let lit = match self.b.borrow().nodes[other.id as usize] {
            Node::Lit(s) => Some(s.to_f64()),
            _ => None,
        };
        match (f, lit) {
            (BinaryFn::Mul | BinaryFn::Div, Some(1.0)) => return self.clone(),
            (BinaryFn::Add | BinaryFn::Sub, Some(0.0)) if self.dtype != DType::F32 => {
                return self.clone();
            }
            _ => {}
        }
        let dt = if f.is_comparison() {
            DType::Bool
        } else {
            self.dtype
        };
        self.builder().push(Node::Binary(f, self.id, other.id), dt)
    }
    /// A literal of this node's dtype.
    pub fn lit(&self, v: f64) -> E {
        self.builder().lit(Scalar::from_f64(self.dtype, v))
    }
    /// A runtime parameter in this node's program.
    pub fn param(&self, v: impl Into<Scalar>) -> E {
        self.builder().param(v)
    }
    /// A literal index (`i32`).
    pub fn lit_i(&self, v: i64) -> E {
        self.builder().lit_i(v)
    }
    pub fn neg(&self) -> E {
        self.unary(UnaryFn::Neg)
    }
    pub fn abs(&self) -> E {
        self.unary(UnaryFn::Abs)
    }
    pub fn exp(&self) -> E {
        self.unary(UnaryFn::Exp)
    }
    pub fn log(&self) -> E {
        self.unary(UnaryFn::Log)
    }
    pub fn sqrt(&self) -> E {
        self.unary(UnaryFn::Sqrt)
    }
    pub fn rsqrt(&self) -> E {
        self.unary(UnaryFn::Rsqrt)
    }
    pub fn sin(&self) -> E {
        self.unary(UnaryFn::Sin)
    }
    pub fn cos(&self) -> E {
        self.unary(UnaryFn::Cos)
    }
    pub fn tan(&self) -> E {
        self.unary(UnaryFn::Tan)
    }
    pub fn tanh(&self) -> E {
        self.unary(UnaryFn::Tanh)
    }
    pub fn sigmoid(&self) -> E {
        self.unary(UnaryFn::Sigmoid)
    }
    pub fn erf(&self) -> E {
        self.unary(UnaryFn::Erf)
    }
    pub fn expm1(&self) -> E {
        self.unary(UnaryFn::Expm1)
    }
    pub fn log1p(&self) -> E {
        self.unary(UnaryFn::Log1p)
    }
    pub fn floor(&self) -> E {
        self.unary(UnaryFn::Floor)
    }
    pub fn ceil(&self) -> E {
        self.unary(UnaryFn::Ceil)
    }
    pub fn round(&self) -> E {
        self.unary(UnaryFn::Round)
    }
    pub fn trunc(&self) -> E {
        self.unary(UnaryFn::Trunc)
    }
    pub fn not(&self) -> E {
        self.unary(UnaryFn::Not)
    }
    pub fn is_nan(&self) -> E {
        self.unary(UnaryFn::IsNan)
    }
    pub fn is_inf(&self) -> E {
        self.unary(UnaryFn::IsInf)
    }
    pub fn pow(&self, o: &E) -> E {
        self.binary(BinaryFn::Pow, o)
    }
    pub fn max(&self, o: &E) -> E {
        self.binary(BinaryFn::Max, o)
    }
    pub fn min(&self, o: &E) -> E {
        self.binary(BinaryFn::Min, o)
    }
    pub fn atan2(&self, o: &E) -> E {
        self.binary(BinaryFn::Atan2, o)
    }
    pub fn rem(&self, o: &E) -> E {
        self.binary(BinaryFn::Rem, o)
    }
    pub fn eq(&self, o: &E) -> E {
        self.binary(BinaryFn::Eq, o)
    }
    pub fn ne(&self, o: &E) -> E {
        self.binary(BinaryFn::Ne, o)
    }
    pub fn lt(&self, o: &E) -> E {
        self.binary(BinaryFn::Lt, o)
    }
    pub fn le(&self, o: &E) -> E {
        self.binary(BinaryFn::Le, o)
    }
    pub fn gt(&self, o: &E) -> E {
        self.binary(BinaryFn::Gt, o)
    }
    pub fn ge(&self, o: &E) -> E {
        self.binary(BinaryFn::Ge, o)
    }
    pub fn and(&self, o: &E) -> E {
        self.binary(BinaryFn::And, o)
    }
    pub fn or(&self, o: &E) -> E {
        self.binary(BinaryFn::Or, o)
    }
    /// `self ? a : b` (self is a bool node).
    pub fn select(&self, a: &E, b: &E) -> E {
        debug_assert_eq!(self.dtype, DType::Bool);
        debug_assert_eq!(a.dtype, b.dtype);
        self.builder()
            .push(Node::Select(self.id, a.id, b.id), a.dtype)
    }
    pub fn cast(&self, dtype: DType) -> E {
        if dtype == self.dtype {
            return self.clone();
        }
        self.builder().push(Node::Cast(dtype, self.id), dtype)
    }
    /// Clamps to `[lo, hi]` (integers: index arithmetic).
    pub fn clamp_i(&self, lo: i64, hi: i64) -> E {
        self.max(&self.lit_i(lo)).min(&self.lit_i(hi))
    }
}

macro_rules! e_binop {
    ($tr:ident, $m:ident, $f:expr) => {
        impl std::ops::$tr<E> for E {
            type Output = E;
            fn $m(self, o: E) -> E {
                self.binary($f, &o)
            }
        }
        impl std::ops::$tr<&E> for &E {
            type Output = E;
            fn $m(self, o: &E) -> E {
                self.binary($f, o)
            }
        }
        impl std::ops::$tr<&E> for E {
            type Output = E;
            fn $m(self, o: &E) -> E {
                self.binary($f, o)
            }
        }
        impl std::ops::$tr<E> for &E {
            type Output = E;
            fn $m(self, o: E) -> E {
                self.binary($f, &o)
            }
        }
        impl std::ops::$tr<f64> for E {
            type Output = E;
            fn $m(self, o: f64) -> E {
                let l = self.lit(o);
                self.binary($f, &l)
            }
        }
        impl std::ops::$tr<f64> for &E {
            type Output = E;
            fn $m(self, o: f64) -> E {
                let l = self.lit(o);
                self.binary($f, &l)
            }
        }
    };
}
e_binop!(Add, add, BinaryFn::Add);
e_binop!(Sub, sub, BinaryFn::Sub);
e_binop!(Mul, mul, BinaryFn::Mul);
e_binop!(Div, div, BinaryFn::Div);

impl std::ops::Neg for E {
    type Output = E;
    fn neg(self) -> E {
        E::neg(&self)
    }
}
impl std::ops::Neg for &E {
    type Output = E;
    fn neg(self) -> E {
        E::neg(self)
    }
}

/// Reductions a [`ReduceKernel`] performs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReduceOp {
    Sum,
    Prod,
    Max,
    Min,
    /// Index of the largest value (the first one on ties), as `i32`.
    ArgMax,
    ArgMin,
    Any,
    All,
}

/// Elementwise: `outputs[k][i] = expr.outputs[k]` at each point `i` of `space`.
#[derive(Clone, Debug, PartialEq)]
pub struct MapKernel {
    pub space: Vec<usize>,
    pub inputs: Vec<DType>,
    pub expr: Expr,
    /// Where each point is written: contiguous order when `None`, else an affine map into
    /// a larger output (e.g. one input's region of a `concat`).
    pub store: Option<(i64, Vec<i64>)>,
}

/// Reduces the `prologue` over `axes` of `space`; the output has the kept axes in order.
#[derive(Clone, Debug, PartialEq)]
pub struct ReduceKernel {
    pub space: Vec<usize>,
    pub axes: Vec<usize>,
    pub op: ReduceOp,
    pub inputs: Vec<DType>,
    /// One output, coordinates over `space`.
    pub prologue: Expr,
    /// Applied to the result (`Acc`), coordinates over the output space.
    pub epilogue: Option<Expr>,
}

/// One matmul operand: a strided matrix, or an expression (implicit GEMM).
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Strided {
        input: u32,
        offset: i64,
        batch: Vec<i64>,
        row: i64,
        col: i64,
    },
    /// An expression over the coordinates `[batch.., row digits.., column digits..]`: the
    /// row and column indices split into mixed-radix digits (`rows`, `cols`, most significant
    /// first), so a convolution reads `(n, y, x)` and `(ky, kx, c)` without dividing.
    Expr {
        expr: Expr,
        rows: Vec<usize>,
        cols: Vec<usize>,
    },
    /// A convolution's patch matrix, which a backend may copy out natively (im2col) instead
    /// of evaluating it as an expression.
    Patches(Patches),
}

/// The patch matrix of a 2-D convolution over an NHWC tensor (im2col), read in place: row
/// `(n, o0, o1)` and column `(k0, k1, c)` hold `input[n, s0, s1, c]` where, along each
/// spatial axis, `t = o * step + k * dilation + offset` and `s = t / div` when `t >= 0`,
/// `t % div == 0` and `s < size`; elsewhere 0 (padding, or positions a strided convolution
/// skips). The forward and filter-gradient matmuls read the input's patches (`div` 1); the
/// input-gradient reads the output gradient's (`dilation` negative, `div` the stride).
#[derive(Clone, Debug, PartialEq)]
pub struct Patches {
    pub input: u32,
    /// `[n, h, w, c]` of the tensor read.
    pub source: [usize; 4],
    /// Positions `[o0, o1]` (row digits after `n`).
    pub grid: [usize; 2],
    /// Window `[k0, k1]` (column digits before `c`).
    pub window: [usize; 2],
    pub step: [i64; 2],
    pub dilation: [i64; 2],
    pub offset: [i64; 2],
    pub div: [i64; 2],
    /// Rows and columns swapped: `[(k0, k1, c), (n, o0, o1)]` (the filter gradient).
    pub transposed: bool,
}

impl Patches {
    /// Digits of the untransposed matrix: rows `(n, o0, o1)`, columns `(k0, k1, c)`.
    pub fn digits(&self) -> ([usize; 3], [usize; 3]) {
        let [n, _, _, c] = self.source;
        (
            [n, self.grid[0], self.grid[1]],
            [self.window[0], self.window[1], c],
        )
    }

    /// Source position along spatial axis `d` of window offset `k` at position `o`, if the
    /// patch reads one there.
    pub fn source_index(&self, d: usize, o: usize, k: usize) -> Option<usize> {
        let t = o as i64 * self.step[d] + k as i64 * self.dilation[d] + self.offset[d];
        let s = t / self.div[d];
        (t >= 0 && t % self.div[d] == 0 && s < self.source[1 + d] as i64).then_some(s as usize)
    }

    /// The same matrix as an expression operand (for backends without a native im2col).
    pub fn to_expr(&self, inputs: &[DType]) -> Operand {
        let b = ExprBuilder::new(inputs);
        let (rows, cols) = self.digits();
        let coord = |i: usize| b.coord(if self.transposed { (i + 3) % 6 } else { i });
        let (n, o, k, c) = (
            coord(0),
            [coord(1), coord(2)],
            [coord(3), coord(4)],
            coord(5),
        );
        let term = |x: &E, f: i64| if f == 1 { x.clone() } else { x * &b.lit_i(f) };
        let zero = b.lit_i(0);
        let mut ok: Option<E> = None;
        let mut s = Vec::new();
        for d in 0..2 {
            let mut t = &term(&o[d], self.step[d]) + &term(&k[d], self.dilation[d]);
            if self.offset[d] != 0 {
                t = &t + &b.lit_i(self.offset[d]);
            }
            let sd = if self.div[d] > 1 {
                &t / &b.lit_i(self.div[d])
            } else {
                t.clone()
            };
            let mut cond = t.ge(&zero).and(&sd.lt(&b.lit_i(self.source[1 + d] as i64)));
            if self.div[d] > 1 {
                cond = cond.and(&t.rem(&b.lit_i(self.div[d])).eq(&zero));
            }
            ok = Some(match ok {
                None => cond,
                Some(prev) => prev.and(&cond),
            });
            s.push(sd);
        }
        let [_, h, w, ch] = self.source.map(|v| v as i64);
        let idx = ((&n * &b.lit_i(h) + &s[0]) * b.lit_i(w) + &s[1]) * b.lit_i(ch) + &c;
        let v = b.load_at(self.input as usize, &idx);
        let v = ok.expect("two axes").select(&v, &b.lit(0.0f32));
        let (rows, cols) = if self.transposed {
            (cols, rows)
        } else {
            (rows, cols)
        };
        Operand::Expr {
            expr: b.finish(&[&v]),
            rows: rows.to_vec(),
            cols: cols.to_vec(),
        }
    }
}

/// `out[b, m, n] = sum_k a[b, m, k] * b[b, k, n]`, f32, with an optional epilogue.
#[derive(Clone, Debug, PartialEq)]
pub struct MatmulKernel {
    pub batch: Vec<usize>,
    pub m: usize,
    pub n: usize,
    pub k: usize,
    pub inputs: Vec<DType>,
    pub a: Operand,
    pub b: Operand,
    /// Coordinates over `[batch.., m, n]`; `Acc` is the dot product.
    pub epilogue: Option<Expr>,
    /// A second output when set: the column sums of `b`, `sum_k b[batch.., k, n]`.
    pub column_sums: Option<Box<ColumnSums>>,
}

/// The column sums a matmul can write beside its product: a bias gradient computed by the
/// weight-gradient matmul that already reads the same operand (cuBLASLt's BGRADB epilogue),
/// instead of a reduction of its own.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnSums {
    /// Coordinates over `[batch.., n]`; `Acc` is the sum.
    pub epilogue: Option<Expr>,
}

impl MatmulKernel {
    /// Dtype of the product output.
    pub fn output_dtype(&self) -> DType {
        epilogue_dtype(&self.epilogue)
    }
    /// Dtype of the column-sum output, if any.
    pub fn column_sums_dtype(&self) -> Option<DType> {
        self.column_sums
            .as_ref()
            .map(|c| epilogue_dtype(&c.epilogue))
    }
    /// The epilogues (product, then column sums) that are set.
    pub fn epilogues(&self) -> impl Iterator<Item = &Expr> {
        let sums = self.column_sums.as_ref().and_then(|c| c.epilogue.as_ref());
        self.epilogue.iter().chain(sums)
    }
    /// This kernel with patch operands written as expressions (for backends that compute
    /// the im2col indices inside the matmul).
    pub fn patches_as_exprs(&self) -> std::borrow::Cow<'_, MatmulKernel> {
        if !matches!(
            (&self.a, &self.b),
            (Operand::Patches(_), _) | (_, Operand::Patches(_))
        ) {
            return std::borrow::Cow::Borrowed(self);
        }
        let mut k = self.clone();
        for o in [&mut k.a, &mut k.b] {
            if let Operand::Patches(p) = o {
                *o = p.to_expr(&self.inputs);
            }
        }
        std::borrow::Cow::Owned(k)
    }
    pub fn epilogues_mut(&mut self) -> impl Iterator<Item = &mut Expr> {
        let sums = self.column_sums.as_mut().and_then(|c| c.epilogue.as_mut());
        self.epilogue.iter_mut().chain(sums)
    }
}

fn epilogue_dtype(e: &Option<Expr>) -> DType {
    e.as_ref().map_or(DType::F32, |e| e.output_dtypes()[0])
}

/// Cumulative sum or product along the middle axis of `[outer, len, inner]` (input 0).
#[derive(Clone, Debug, PartialEq)]
pub struct ScanKernel {
    pub outer: usize,
    pub len: usize,
    pub inner: usize,
    pub dtype: DType,
    pub product: bool,
    pub exclusive: bool,
    pub reverse: bool,
}

/// `out[index] += value` for each point of `space` (index < 0 skips the point). The
/// output must be initialised first; the expression has two outputs, index and value.
#[derive(Clone, Debug, PartialEq)]
pub struct ScatterKernel {
    pub space: Vec<usize>,
    pub inputs: Vec<DType>,
    pub expr: Expr,
    pub out_len: usize,
}

/// Random distributions of [`RandomKernel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RandomDist {
    /// Raw Philox 4x32-10 words (u32).
    Bits,
    /// Uniform in `[0, 1)` (f32).
    Uniform,
    /// Standard normal (Box-Muller, f32).
    Normal,
    /// Standard normal truncated to `[-2, 2]`, redrawn while outside (f32).
    TruncatedNormal,
}

/// `len` values from the stateless Philox 4x32-10 generator keyed by `key`; element `i`
/// uses counter `i` (and, for redraws, counters above it), so every backend gives the
/// same bits for the same key.
#[derive(Clone, Debug, PartialEq)]
pub struct RandomKernel {
    pub len: usize,
    pub key: [u32; 2],
    pub dist: RandomDist,
}

/// Softmax (or log-softmax) along the middle axis of `[outer, len, inner]` (input 0, f32).
#[derive(Clone, Debug, PartialEq)]
pub struct SoftmaxKernel {
    pub outer: usize,
    pub len: usize,
    pub inner: usize,
    pub log: bool,
}

/// A kernel any backend can run.
#[derive(Clone, Debug, PartialEq)]
pub enum Kernel {
    Map(MapKernel),
    Reduce(ReduceKernel),
    Matmul(MatmulKernel),
    Scan(ScanKernel),
    Scatter(ScatterKernel),
    Random(RandomKernel),
    Softmax(SoftmaxKernel),
}

impl Kernel {
    /// A short family name for counters and kernel dumps.
    pub fn family(&self) -> &'static str {
        match self {
            Kernel::Map(_) => "map",
            Kernel::Reduce(_) => "reduce",
            Kernel::Matmul(_) => "matmul",
            Kernel::Scan(_) => "scan",
            Kernel::Scatter(_) => "scatter",
            Kernel::Random(_) => "random",
            Kernel::Softmax(_) => "softmax",
        }
    }
    /// Dtypes of the inputs the kernel reads.
    pub fn input_dtypes(&self) -> Vec<DType> {
        match self {
            Kernel::Map(k) => k.inputs.clone(),
            Kernel::Reduce(k) => k.inputs.clone(),
            Kernel::Matmul(k) => k.inputs.clone(),
            Kernel::Scan(k) => vec![k.dtype],
            Kernel::Scatter(k) => k.inputs.clone(),
            Kernel::Random(_) => vec![],
            Kernel::Softmax(_) => vec![DType::F32],
        }
    }
    /// Dtypes of the outputs it writes.
    pub fn output_dtypes(&self) -> Vec<DType> {
        match self {
            Kernel::Map(k) => k.expr.output_dtypes(),
            Kernel::Reduce(k) => vec![reduce_output_dtype(k)],
            Kernel::Matmul(k) => std::iter::once(k.output_dtype())
                .chain(k.column_sums_dtype())
                .collect(),
            Kernel::Scan(k) => vec![k.dtype],
            Kernel::Scatter(k) => vec![k.expr.dtypes[k.expr.outputs[1] as usize]],
            Kernel::Random(k) => vec![if k.dist == RandomDist::Bits {
                DType::U32
            } else {
                DType::F32
            }],
            Kernel::Softmax(_) => vec![DType::F32],
        }
    }
}

/// The dtype a reduce kernel writes.
pub fn reduce_output_dtype(k: &ReduceKernel) -> DType {
    if let Some(e) = &k.epilogue {
        return e.output_dtypes()[0];
    }
    match k.op {
        ReduceOp::ArgMax | ReduceOp::ArgMin => DType::I32,
        _ => k.prologue.output_dtypes()[0],
    }
}

/// The dtype of `Acc` in a reduce epilogue.
pub fn reduce_acc_dtype(op: ReduceOp, prologue: DType) -> DType {
    match op {
        ReduceOp::ArgMax | ReduceOp::ArgMin => DType::I32,
        _ => prologue,
    }
}

/// Affine strides that read a contiguous tensor of `in_shape` broadcast into `out_shape`
/// (right-aligned, NumPy rules; broadcast axes get stride 0).
pub fn broadcast_strides(in_shape: &[usize], out_shape: &[usize]) -> Vec<i64> {
    let cs = crate::shape::strides(in_shape);
    let off = out_shape.len() - in_shape.len();
    (0..out_shape.len())
        .map(|d| {
            if d < off || in_shape[d - off] == 1 {
                0
            } else {
                cs[d - off] as i64
            }
        })
        .collect()
}

/// Affine strides that read a contiguous tensor of exactly the space's shape.
pub fn contiguous_strides(shape: &[usize]) -> Vec<i64> {
    crate::shape::strides(shape)
        .into_iter()
        .map(|s| s as i64)
        .collect()
}

/// `e`, an expression over the space `from`, over `to`: the same points in row-major order
/// with runs of adjacent axes merged (`[n, h, w, c]` as a matmul's `[n·h·w, c]`). Possible
/// when `e` reads no coordinates and each affine load walks every run as one axis (strides
/// that nest, or 0 throughout); `None` otherwise.
pub fn merge_space(e: &Expr, from: &[usize], to: &[usize]) -> Option<Expr> {
    if from.iter().product::<usize>() != to.iter().product::<usize>() {
        return None;
    }
    // runs[j]: the axes of `from` that make axis j of `to`.
    let mut runs: Vec<Vec<usize>> = vec![];
    let mut d = 0;
    for &t in to {
        let mut run = vec![];
        let mut p = 1;
        while p < t && d < from.len() {
            p *= from[d];
            run.push(d);
            d += 1;
        }
        if p != t {
            return None;
        }
        runs.push(run);
    }
    if from[d..].iter().any(|&s| s != 1) {
        return None;
    }
    let merge = |strides: &[i64]| -> Option<Vec<i64>> {
        runs.iter()
            .map(|run| {
                let live: Vec<usize> = run.iter().copied().filter(|&a| from[a] > 1).collect();
                for w in live.windows(2) {
                    if strides[w[0]] != strides[w[1]] * from[w[1]] as i64 {
                        return None;
                    }
                }
                Some(live.last().map_or(0, |&a| strides[a]))
            })
            .collect()
    };
    let mut out = e.clone();
    for n in out.nodes.iter_mut() {
        match n {
            Node::Coord(_) => return None,
            Node::Load {
                index: Index::Affine { strides, .. },
                ..
            } => *strides = merge(strides)?,
            _ => {}
        }
    }
    Some(out)
}
