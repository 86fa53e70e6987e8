//! Prints kernel IR as WGSL. Every node of an [`Expr`] becomes one `let`; runtime constants
//! become reads of the `params` binding so kernels differing only in values share a
//! pipeline; shapes are compiled in. Hand-written families (`shaders/`) are templates
//! whose loaders and stores are filled in here.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernel::ir::*;
use std::fmt::Write;

const MATH: &str = include_str!("../../../shaders/math.wgsl");
const RANDOM: &str = include_str!("../../../shaders/random.wgsl");
const MATMUL: &str = include_str!("../../../shaders/matmul.wgsl");

/// Threads per workgroup of the generated one-dimensional kernels.
const WG: u32 = 256;

/// A kernel printed as WGSL, ready to be compiled and dispatched.
pub(crate) struct Compiled {
    /// A readable name: family, sizes and the ops it fuses.
    pub label: String,
    pub source: String,
    /// Workgroups to dispatch (laid out on a 2-D grid by the runtime).
    pub workgroups: u32,
    /// Words of the runtime-parameter binding.
    pub params: Vec<u32>,
    pub n_in: usize,
    pub n_out: usize,
}

pub(crate) fn ty(dt: DType) -> &'static str {
    match dt {
        DType::F32 => "f32",
        DType::I32 => "i32",
        DType::U32 => "u32",
        DType::Bool => "bool",
    }
}

/// Element type of a storage array (bool is stored as a u32 word).
pub(super) fn storage_ty(dt: DType) -> &'static str {
    match dt {
        DType::Bool => "u32",
        d => ty(d),
    }
}

/// A storage word converted to a value of `dt`.
fn from_word(dt: DType, w: &str) -> String {
    match dt {
        DType::Bool => format!("({w} != 0u)"),
        _ => w.to_string(),
    }
}

/// A value of `dt` converted to its storage word.
fn to_word(dt: DType, v: &str) -> String {
    match dt {
        DType::Bool => format!("select(0u, 1u, {v})"),
        _ => v.to_string(),
    }
}

fn literal(s: crate::dtype::Scalar) -> String {
    use crate::dtype::Scalar::*;
    match s {
        F32(v) if v.is_finite() => format!("f32({v:?})"),
        F32(v) => format!("bitcast<f32>({}u)", v.to_bits()),
        I32(v) if v == i32::MIN => "bitcast<i32>(2147483648u)".into(),
        I32(v) => format!("i32({v})"),
        U32(v) => format!("{v}u"),
        Bool(v) => format!("{v}"),
    }
}

fn uses(src: &str, name: &str) -> bool {
    src.contains(name)
}

/// Prints expressions into a function body, collecting runtime parameters.
pub(super) struct Printer {
    pub body: String,
    pub params: Vec<u32>,
    next: usize,
    /// When set, `Const` nodes take parameter slots from here instead of adding new ones.
    param_cursor: Option<usize>,
}

/// How the printer finds the coordinates of the current point.
struct Space<'a> {
    dims: &'a [usize],
    /// WGSL expression for coordinate `d`.
    coord: &'a dyn Fn(usize) -> String,
    /// The point's linear index in a contiguous space, when there is one.
    linear: Option<&'a str>,
    /// In a vec4 map: contiguous loads read component `lane` of the vec4 `l{input}`.
    lane: Option<usize>,
}

impl Printer {
    pub fn new() -> Self {
        Printer {
            body: String::new(),
            params: Vec::new(),
            next: 0,
            param_cursor: None,
        }
    }

    fn line(&mut self, indent: usize, s: &str) {
        for _ in 0..indent {
            self.body.push_str("    ");
        }
        self.body.push_str(s);
        self.body.push('\n');
    }

    /// Emits `e`; returns the variable names of its outputs.
    fn expr(
        &mut self,
        e: &Expr,
        inputs: &[DType],
        sp: &Space,
        acc: Option<&str>,
        indent: usize,
    ) -> Vec<String> {
        let prefix = format!("x{}_", self.next);
        self.next += 1;
        let name = |i: u32| format!("{prefix}{i}");
        let contiguous = contiguous_strides(sp.dims);
        for (i, node) in e.nodes.iter().enumerate() {
            let dt = e.dtypes[i];
            let rhs = match node {
                Node::Load { input, index } => {
                    let idx = match index {
                        Index::Affine { offset, strides } => {
                            let live = |d: usize| sp.dims[d] > 1 && strides[d] != 0;
                            let contig = (0..sp.dims.len())
                                .all(|d| sp.dims[d] <= 1 || strides[d] == contiguous[d]);
                            if let (Some(lane), true) = (sp.lane, contig) {
                                // Loaded once per thread as a vec4 (see `map_vec4`).
                                let w = format!("l{input}[{lane}]");
                                self.line(
                                    indent,
                                    &format!(
                                        "let {}: {} = {};",
                                        name(i as u32),
                                        ty(dt),
                                        from_word(inputs[*input as usize], &w)
                                    ),
                                );
                                continue;
                            }
                            match sp.linear {
                                Some(lin) if contig => format!("{lin} + {offset}"),
                                _ => {
                                    let mut s = format!("{offset}");
                                    for d in (0..sp.dims.len()).filter(|&d| live(d)) {
                                        let _ =
                                            write!(s, " + ({}) * {}", (sp.coord)(d), strides[d]);
                                    }
                                    s
                                }
                            }
                        }
                        Index::Node(ix) => {
                            format!(
                                "min(u32(max({}, 0)), arrayLength(&in{input}) - 1u)",
                                name(*ix)
                            )
                        }
                    };
                    from_word(inputs[*input as usize], &format!("in{input}[{idx}]"))
                }
                Node::Const(s) => {
                    // Re-emissions of one program (vec4 lanes) reuse its parameter slots.
                    let k = match &mut self.param_cursor {
                        Some(c) => {
                            *c += 1;
                            *c - 1
                        }
                        None => {
                            self.params.push(s.bits());
                            self.params.len() - 1
                        }
                    };
                    let w = format!("params[{k}]");
                    match s.dtype() {
                        DType::F32 => format!("bitcast<f32>({w})"),
                        DType::I32 => format!("bitcast<i32>({w})"),
                        DType::U32 => w,
                        DType::Bool => format!("({w} != 0u)"),
                    }
                }
                Node::Lit(s) => literal(*s),
                Node::Coord(d) => (sp.coord)(*d as usize),
                Node::Acc => acc.expect("Acc outside an epilogue").to_string(),
                Node::Unary(f, a) => unary(*f, e.dtypes[*a as usize], &name(*a)),
                Node::Binary(f, a, b) => binary(*f, e.dtypes[*a as usize], &name(*a), &name(*b)),
                Node::Select(c, a, b) => {
                    format!("select({}, {}, {})", name(*b), name(*a), name(*c))
                }
                Node::Cast(to, a) => cast(e.dtypes[*a as usize], *to, &name(*a)),
            };
            self.line(
                indent,
                &format!("let {}: {} = {};", name(i as u32), ty(dt), rhs),
            );
        }
        e.outputs.iter().map(|&o| name(o)).collect()
    }
}

fn unary(f: UnaryFn, dt: DType, a: &str) -> String {
    use UnaryFn::*;
    if dt != DType::F32 {
        return match (f, dt) {
            (Neg, DType::I32) => format!("-{a}"),
            (Neg, _) => format!("(0u - {a})"),
            (Abs, DType::I32) => format!("abs({a})"),
            (Not, DType::Bool) => format!("!{a}"),
            (Not, DType::I32) => format!("({a} == 0)"),
            (Not, _) => format!("({a} == 0u)"),
            (IsNan | IsInf, _) => "false".into(),
            _ => a.to_string(),
        };
    }
    match f {
        Neg => format!("-{a}"),
        Abs => format!("abs({a})"),
        Exp => format!("exp({a})"),
        Log => format!("log({a})"),
        Sqrt => format!("sqrt({a})"),
        Rsqrt => format!("inverseSqrt({a})"),
        Sin => format!("wf_sin({a})"),
        Cos => format!("wf_cos({a})"),
        Tan => format!("wf_tan({a})"),
        Tanh => format!("wf_tanh({a})"),
        Sigmoid => format!("(1.0 / (1.0 + exp(-({a}))))"),
        Erf => format!("wf_erf({a})"),
        Expm1 => format!("wf_expm1({a})"),
        Log1p => format!("wf_log1p({a})"),
        Floor => format!("floor({a})"),
        Ceil => format!("ceil({a})"),
        Round => format!("round({a})"),
        Trunc => format!("trunc({a})"),
        Not => format!("({a} == 0.0)"),
        IsNan => format!("wf_isnan({a})"),
        IsInf => format!("wf_isinf({a})"),
    }
}

fn binary(f: BinaryFn, dt: DType, a: &str, b: &str) -> String {
    use BinaryFn::*;
    let zero = match dt {
        DType::I32 => "0",
        _ => "0u",
    };
    match (f, dt) {
        (Add, _) => format!("({a} + {b})"),
        (Sub, _) => format!("({a} - {b})"),
        (Mul, _) => format!("({a} * {b})"),
        (Div, DType::F32) => format!("({a} / {b})"),
        (Div, _) => format!("select({a} / {b}, {zero}, {b} == {zero})"),
        (Rem, DType::F32) => format!("wf_fmod({a}, {b})"),
        (Rem, _) => format!("select({a} % {b}, {zero}, {b} == {zero})"),
        (Pow, DType::F32) => format!("wf_pow({a}, {b})"),
        (Pow, DType::I32) => format!("wf_ipow({a}, {b})"),
        (Pow, _) => format!("wf_upow({a}, {b})"),
        (Max, DType::F32) => format!("wf_max({a}, {b})"),
        (Min, DType::F32) => format!("wf_min({a}, {b})"),
        (Max, _) => format!("max({a}, {b})"),
        (Min, _) => format!("min({a}, {b})"),
        (Atan2, DType::F32) => format!("wf_atan2({a}, {b})"),
        (Atan2, t) => format!("{}(atan2(f32({a}), f32({b})))", ty(t)),
        (Eq, _) => format!("({a} == {b})"),
        // `!(a == b)`: drivers may compile `!=` as an ordered compare, false for NaN.
        (Ne, _) => format!("!({a} == {b})"),
        (Lt, _) => format!("({a} < {b})"),
        (Le, _) => format!("({a} <= {b})"),
        (Gt, _) => format!("({a} > {b})"),
        (Ge, _) => format!("({a} >= {b})"),
        (And, _) => format!("({a} && {b})"),
        (Or, _) => format!("({a} || {b})"),
    }
}

fn cast(from: DType, to: DType, a: &str) -> String {
    use DType::*;
    match (from, to) {
        (F32, I32) => format!("wf_f2i({a})"),
        (F32, U32) => format!("wf_f2u({a})"),
        (I32 | U32, F32) => format!("f32({a})"),
        (Bool, F32) => format!("select(0.0, 1.0, {a})"),
        (Bool, I32) => format!("select(0, 1, {a})"),
        (Bool, U32) => format!("select(0u, 1u, {a})"),
        (F32, Bool) => format!("!({a} == 0.0)"),
        (I32, Bool) => format!("({a} != 0)"),
        (U32, Bool) => format!("({a} != 0u)"),
        (I32, U32) => format!("bitcast<u32>({a})"),
        (U32, I32) => format!("bitcast<i32>({a})"),
        _ => a.to_string(),
    }
}

/// Storage declarations: inputs, outputs (optionally atomic), then the parameters.
fn bindings(inputs: &[DType], outputs: &[String], params: bool) -> String {
    let types: Vec<String> = inputs.iter().map(|d| storage_ty(*d).to_string()).collect();
    bindings_typed(&types, outputs, params)
}

/// [`bindings`] with the inputs' element types spelled out (e.g. `vec4<f32>`).
pub(super) fn bindings_typed(inputs: &[String], outputs: &[String], params: bool) -> String {
    let mut s = String::new();
    for (i, t) in inputs.iter().enumerate() {
        let _ = writeln!(
            s,
            "@group(0) @binding({i}) var<storage, read> in{i}: array<{t}>;"
        );
    }
    for (j, t) in outputs.iter().enumerate() {
        let _ = writeln!(
            s,
            "@group(0) @binding({}) var<storage, read_write> out{j}: array<{t}>;",
            inputs.len() + j
        );
    }
    if params {
        let _ = writeln!(
            s,
            "@group(0) @binding({}) var<storage, read> params: array<u32>;",
            inputs.len() + outputs.len()
        );
    }
    s
}

/// Coordinates of a linear index `var` over `dims`, as WGSL expressions.
pub(super) fn unravel(var: &str, dims: &[usize]) -> Vec<String> {
    let cs = crate::shape::strides(dims);
    (0..dims.len())
        .map(|d| match (dims[d], cs[d]) {
            (1, _) => "0".to_string(),
            (_, 1) if d == 0 => var.to_string(),
            (dim, 1) => format!("({var} % {dim})"),
            (_, s) if d == 0 => format!("({var} / {s})"),
            (dim, s) => format!("(({var} / {s}) % {dim})"),
        })
        .collect()
}

pub(super) fn assemble(
    label: String,
    head: &str,
    body: &str,
    p: Printer,
    workgroups: usize,
    n_in: usize,
    n_out: usize,
) -> Result<Compiled> {
    let mut source = format!("// wgflow {label}\n{head}\n");
    if uses(body, "wf_") || uses(head, "wf_") {
        source.push_str(MATH);
    }
    if uses(body, "wf_philox")
        || uses(body, "wf_word")
        || uses(body, "wf_normal")
        || uses(body, "wf_truncated")
    {
        source.push_str(RANDOM);
    }
    source.push_str(body);
    let workgroups = u32::try_from(workgroups).map_err(|_| {
        Error::invalid(
            &label,
            format!("{workgroups} workgroups is more than one dispatch allows"),
        )
    })?;
    Ok(Compiled {
        label,
        source,
        workgroups,
        params: p.params,
        n_in,
        n_out,
    })
}

const MAIN_1D: &str = "@compute @workgroup_size(256)\nfn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {\n    let p = i32((wid.x + wid.y * nwg.x) * 256u + li);\n";

/// What the printer may assume about the adapter.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Target {
    /// A software adapter (lavapipe, SwiftShader): workgroups run as SIMD loops on a CPU.
    pub software: bool,
}

pub(crate) fn compile(kernel: &Kernel, target: &Target) -> Result<Compiled> {
    match kernel {
        Kernel::Map(k) => map(k),
        Kernel::Reduce(k) => reduce(k),
        Kernel::Matmul(k) if target.software => super::matmul::blocked(&k.patches_as_exprs()),
        Kernel::Matmul(k) => matmul(&k.patches_as_exprs()),
        Kernel::Scan(k) => scan(k),
        Kernel::Scatter(k) => scatter(k),
        Kernel::Random(k) => random(k),
        Kernel::Softmax(k) => softmax(k),
    }
}

fn shape_label(dims: &[usize]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x")
}

/// Names the primitives a program uses, for kernel labels (`map_exp_mul_1024`).
fn op_names(e: &Expr) -> String {
    let mut names: Vec<String> = Vec::new();
    for n in &e.nodes {
        let s = match n {
            Node::Unary(f, _) => format!("{f:?}"),
            Node::Binary(f, _, _) => format!("{f:?}"),
            Node::Select(..) => "select".into(),
            Node::Cast(d, _) => format!("cast{}", ty(*d)),
            _ => continue,
        };
        let s = s.to_lowercase();
        if !names.contains(&s) {
            names.push(s);
        }
    }
    if names.is_empty() {
        "copy".into()
    } else {
        names.join("_")
    }
}

/// Whether a map can process four consecutive points per thread with one vec4 load per
/// input: every load reads its input contiguously (or one splatted element), nothing uses
/// coordinates, and the size divides by 4. This quarters the load instructions, which is
/// what software adapters pay for, and widens memory transactions on GPUs.
fn vec4_inputs(k: &MapKernel) -> Option<Vec<bool>> {
    let total: usize = k.space.iter().product();
    if k.store.is_some() || !total.is_multiple_of(4) || total == 0 {
        return None;
    }
    let contiguous = contiguous_strides(&k.space);
    // Per input: read as vec4 (at which offset) or splatted.
    let mut vec = vec![None::<(bool, i64)>; k.inputs.len()];
    for n in &k.expr.nodes {
        match n {
            Node::Coord(_) => return None,
            Node::Load {
                input,
                index: Index::Affine { offset, strides },
            } => {
                let live = |d: usize| k.space[d] > 1;
                let contig = (0..k.space.len()).all(|d| !live(d) || strides[d] == contiguous[d]);
                let splat = (0..k.space.len()).all(|d| !live(d) || strides[d] == 0);
                let as_vec = if contig && offset % 4 == 0 {
                    true
                } else if splat {
                    false
                } else {
                    return None;
                };
                let slot = &mut vec[*input as usize];
                let this = (as_vec, if as_vec { *offset } else { 0 });
                if slot.is_some_and(|v| v != this) {
                    return None;
                }
                *slot = Some(this);
            }
            Node::Load { .. } => return None,
            _ => {}
        }
    }
    Some(
        vec.into_iter()
            .map(|v| v.is_some_and(|(as_vec, _)| as_vec))
            .collect(),
    )
}

fn map_vec4(k: &MapKernel, vec_in: &[bool]) -> Result<Compiled> {
    let total: usize = k.space.iter().product();
    let label = format!("map4_{}_{}", op_names(&k.expr), shape_label(&k.space));
    let mut p = Printer::new();
    let coord = |_: usize| unreachable!("vec4 maps use no coordinates");
    p.line(
        1,
        &format!("if (p >= {}) {{\n        return;\n    }}", total / 4),
    );
    for (i, &v) in vec_in.iter().enumerate() {
        if v {
            let off = k.expr.nodes.iter().find_map(|n| match n {
                Node::Load {
                    input,
                    index: Index::Affine { offset, .. },
                } if *input as usize == i => Some(*offset),
                _ => None,
            });
            p.line(
                1,
                &format!("let l{i} = in{i}[p + {}];", off.unwrap_or(0) / 4),
            );
        }
    }
    let mut lanes: Vec<Vec<String>> = Vec::new();
    for lane in 0..4 {
        let sp = Space {
            dims: &k.space,
            coord: &coord,
            linear: Some("p"),
            lane: Some(lane),
        };
        p.param_cursor = if lane == 0 { None } else { Some(0) };
        lanes.push(p.expr(&k.expr, &k.inputs, &sp, None, 1));
    }
    p.param_cursor = None;
    let dts = k.expr.output_dtypes();
    for (j, dt) in dts.iter().enumerate() {
        let vals: Vec<String> = lanes.iter().map(|l| to_word(*dt, &l[j])).collect();
        p.line(
            1,
            &format!(
                "out{j}[p] = vec4<{}>({});",
                storage_ty(*dt),
                vals.join(", ")
            ),
        );
    }
    let body = format!("{MAIN_1D}{}}}\n", p.body);
    let in_t: Vec<String> = k
        .inputs
        .iter()
        .zip(vec_in)
        .map(|(d, &v)| {
            if v {
                format!("vec4<{}>", storage_ty(*d))
            } else {
                storage_ty(*d).to_string()
            }
        })
        .collect();
    let outs_t: Vec<String> = dts
        .iter()
        .map(|d| format!("vec4<{}>", storage_ty(*d)))
        .collect();
    let head = bindings_typed(&in_t, &outs_t, !p.params.is_empty());
    assemble(
        label,
        &head,
        &body,
        p,
        (total / 4).div_ceil(WG as usize),
        k.inputs.len(),
        dts.len(),
    )
}

fn map(k: &MapKernel) -> Result<Compiled> {
    if let Some(vec_in) = vec4_inputs(k) {
        return map_vec4(k, &vec_in);
    }
    let total: usize = k.space.iter().product();
    let label = format!("map_{}_{}", op_names(&k.expr), shape_label(&k.space));
    let mut p = Printer::new();
    let coords = unravel("p", &k.space);
    let coord = |d: usize| coords[d].clone();
    let sp = Space {
        dims: &k.space,
        coord: &coord,
        linear: Some("p"),
        lane: None,
    };
    p.line(1, &format!("if (p >= {total}) {{\n        return;\n    }}"));
    let outs = p.expr(&k.expr, &k.inputs, &sp, None, 1);
    let store = match &k.store {
        None => "p".to_string(),
        Some((offset, strides)) => {
            let mut s = format!("{offset}");
            for d in 0..k.space.len() {
                if k.space[d] > 1 && strides[d] != 0 {
                    let _ = write!(s, " + {} * {}", coords[d], strides[d]);
                }
            }
            s
        }
    };
    let dts = k.expr.output_dtypes();
    for (j, v) in outs.iter().enumerate() {
        p.line(1, &format!("out{j}[{store}] = {};", to_word(dts[j], v)));
    }
    let body = format!("{MAIN_1D}{}}}\n", p.body);
    let outs_t: Vec<String> = dts.iter().map(|d| storage_ty(*d).to_string()).collect();
    let head = bindings(&k.inputs, &outs_t, !p.params.is_empty());
    let n_out = dts.len();
    assemble(
        label,
        &head,
        &body,
        p,
        total.div_ceil(WG as usize),
        k.inputs.len(),
        n_out,
    )
}

/// The fold of one value into an accumulator, in WGSL.
fn combine(op: ReduceOp, dt: DType, acc: &str, v: &str) -> String {
    match (op, dt) {
        (ReduceOp::Sum, _) => format!("{acc} + {v}"),
        (ReduceOp::Prod, _) => format!("{acc} * {v}"),
        (ReduceOp::Max, DType::F32) => format!("wf_max({v}, {acc})"),
        (ReduceOp::Min, DType::F32) => format!("wf_min({v}, {acc})"),
        (ReduceOp::Max | ReduceOp::Any, _) => format!("max({acc}, {v})"),
        (ReduceOp::Min | ReduceOp::All, _) => format!("min({acc}, {v})"),
        (ReduceOp::ArgMax | ReduceOp::ArgMin, _) => unreachable!("arg reductions track indices"),
    }
}

fn identity(op: ReduceOp, dt: DType) -> String {
    let (lo, hi) = match dt {
        DType::F32 => ("bitcast<f32>(0xff800000u)", "bitcast<f32>(0x7f800000u)"),
        DType::I32 => ("bitcast<i32>(2147483648u)", "2147483647"),
        _ => ("0u", "4294967295u"),
    };
    let (zero, one) = match dt {
        DType::F32 => ("0.0", "1.0"),
        DType::I32 => ("0", "1"),
        _ => ("0u", "1u"),
    };
    match op {
        ReduceOp::Sum | ReduceOp::Any => zero,
        ReduceOp::Prod | ReduceOp::All => one,
        ReduceOp::Max | ReduceOp::ArgMax => lo,
        ReduceOp::Min | ReduceOp::ArgMin => hi,
    }
    .to_string()
}

fn reduce(k: &ReduceKernel) -> Result<Compiled> {
    let rank = k.space.len();
    let kept: Vec<usize> = (0..rank).filter(|d| !k.axes.contains(d)).collect();
    let odims: Vec<usize> = kept.iter().map(|&d| k.space[d]).collect();
    let rdims: Vec<usize> = k.axes.iter().map(|&d| k.space[d]).collect();
    let o_count: usize = odims.iter().product();
    let r_count: usize = rdims.iter().product();
    let in_dt = k.prologue.output_dtypes()[0];
    // Bools fold as 0/1 words.
    let wdt = if in_dt == DType::Bool {
        DType::U32
    } else {
        in_dt
    };
    let wty = ty(wdt);
    let arg = matches!(k.op, ReduceOp::ArgMax | ReduceOp::ArgMin);
    let better = if k.op == ReduceOp::ArgMax { ">" } else { "<" };
    let out_dt = reduce_output_dtype(k);
    let acc_dt = reduce_acc_dtype(k.op, in_dt);
    let label = format!(
        "reduce_{:?}_{}_{}_axes{:?}",
        k.op,
        op_names(&k.prologue),
        shape_label(&k.space),
        k.axes
    )
    .to_lowercase();
    let per_workgroup = r_count > 64 && o_count < 4096;

    let mut p = Printer::new();
    let ocoords = unravel("o", &odims);
    let rcoords = unravel("r", &rdims);
    let coord = |d: usize| match kept.iter().position(|&x| x == d) {
        Some(j) => ocoords[j].clone(),
        None => rcoords[k
            .axes
            .iter()
            .position(|&x| x == d)
            .expect("axis is kept or reduced")]
        .clone(),
    };
    let sp = Space {
        dims: &k.space,
        coord: &coord,
        linear: None,
        lane: None,
    };
    let mut inner = Printer::new();
    let v = inner.expr(&k.prologue, &k.inputs, &sp, None, 2);
    let v = if in_dt == DType::Bool {
        format!("select(0u, 1u, {})", v[0])
    } else {
        v[0].clone()
    };
    let fold = if arg {
        format!(
            "if (bi < 0 || {v} {better} acc) {{\n            acc = {v};\n            bi = r;\n        }}"
        )
    } else {
        format!("acc = {};", combine(k.op, wdt, "acc", &v))
    };
    p.params = inner.params;
    p.next = inner.next;
    let (start, step) = if per_workgroup {
        ("i32(li)", "256")
    } else {
        ("0", "1")
    };
    let mut body = String::new();
    if per_workgroup {
        let _ = writeln!(
            body,
            "var<workgroup> sh: array<{wty}, 256>;\nvar<workgroup> shi: array<i32, 256>;"
        );
        body.push_str("@compute @workgroup_size(256)\nfn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {\n    let o = i32(wid.x + wid.y * nwg.x);\n");
    } else {
        body.push_str(MAIN_1D);
        body.push_str("    let o = p;\n");
    }
    let _ = writeln!(body, "    if (o >= {o_count}) {{\n        return;\n    }}");
    let _ = writeln!(
        body,
        "    var acc: {wty} = {};\n    var bi: i32 = -1;",
        identity(k.op, wdt)
    );
    let _ = writeln!(
        body,
        "    for (var r: i32 = {start}; r < {r_count}; r += {step}) {{\n{}        {fold}\n    }}",
        inner.body
    );
    if per_workgroup {
        body.push_str("    sh[li] = acc;\n    shi[li] = bi;\n    workgroupBarrier();\n    for (var s = 128u; s > 0u; s = s >> 1u) {\n        if (li < s) {\n");
        if arg {
            let _ = writeln!(
                body,
                "            let a = sh[li];\n            let ai = shi[li];\n            let b = sh[li + s];\n            let bj = shi[li + s];\n            if (bj >= 0 && (ai < 0 || b {better} a || (b == a && bj < ai))) {{\n                sh[li] = b;\n                shi[li] = bj;\n            }}"
            );
        } else {
            let _ = writeln!(
                body,
                "            sh[li] = {};",
                combine(k.op, wdt, "sh[li]", "sh[li + s]")
            );
        }
        body.push_str("        }\n        workgroupBarrier();\n    }\n    if (li != 0u) {\n        return;\n    }\n    acc = sh[0];\n    bi = shi[0];\n");
    }
    let result = if arg {
        "max(bi, 0)".to_string()
    } else if in_dt == DType::Bool {
        "(acc != 0u)".to_string()
    } else {
        "acc".to_string()
    };
    let result = match &k.epilogue {
        None => result,
        Some(e) => {
            let ocoord = |d: usize| ocoords[d].clone();
            let osp = Space {
                dims: &odims,
                coord: &ocoord,
                linear: Some("o"),
                lane: None,
            };
            let _ = writeln!(body, "    let acc_v: {} = {result};", ty(acc_dt));
            p.body.clear();
            let outs = p.expr(e, &k.inputs, &osp, Some("acc_v"), 1);
            body.push_str(&p.body);
            outs[0].clone()
        }
    };
    let _ = writeln!(body, "    out0[o] = {};\n}}", to_word(out_dt, &result));
    let head = bindings(
        &k.inputs,
        &[storage_ty(out_dt).to_string()],
        !p.params.is_empty(),
    );
    let groups = if per_workgroup {
        o_count
    } else {
        o_count.div_ceil(WG as usize)
    };
    p.body.clear();
    assemble(label, &head, &body, p, groups, k.inputs.len(), 1)
}

/// Body of an operand loader (`return ...;`).
pub(super) fn operand(p: &mut Printer, op: &Operand, inputs: &[DType], batch: &[usize]) -> String {
    let bcoords = unravel("bi", batch);
    match op {
        Operand::Strided {
            input,
            offset,
            batch: bs,
            row,
            col,
        } => {
            let mut idx = format!("{offset} + r * {row} + c * {col}");
            for d in 0..batch.len() {
                if batch[d] > 1 && bs[d] != 0 {
                    let _ = write!(idx, " + {} * {}", bcoords[d], bs[d]);
                }
            }
            format!(
                "    return {};",
                from_word(inputs[*input as usize], &format!("in{input}[{idx}]"))
            )
        }
        Operand::Expr {
            expr: e,
            rows: rd,
            cols: cd,
        } => {
            let mut dims = batch.to_vec();
            dims.extend(rd);
            dims.extend(cd);
            let nb = batch.len();
            let (rc, cc) = (unravel("r", rd), unravel("c", cd));
            let coord = |d: usize| {
                if d < nb {
                    bcoords[d].clone()
                } else if d < nb + rd.len() {
                    rc[d - nb].clone()
                } else {
                    cc[d - nb - rd.len()].clone()
                }
            };
            let sp = Space {
                dims: &dims,
                coord: &coord,
                linear: None,
                lane: None,
            };
            p.body.clear();
            let outs = p.expr(e, inputs, &sp, None, 1);
            format!("{}    return {};", p.body, outs[0])
        }
        Operand::Patches(_) => unreachable!("patches are written as expressions first"),
    }
}

/// Body of the matmul `store(bi, r, c, acc)` function, with the epilogue if any.
pub(super) fn matmul_store(p: &mut Printer, k: &MatmulKernel) -> String {
    let mut dims = k.batch.clone();
    dims.extend([k.m, k.n]);
    let out_idx = format!("bi * {} + r * {} + c", k.m * k.n, k.n);
    epilogue_store(p, k, &dims, &k.epilogue, "out0", &out_idx, &["r", "c"])
}

/// The column-sum output, if the kernel has one: the `store_sum(bi, c, acc)` function and
/// its element type.
pub(super) fn matmul_sums_store(p: &mut Printer, k: &MatmulKernel) -> Option<(String, DType)> {
    let cs = k.column_sums.as_ref()?;
    let mut dims = k.batch.clone();
    dims.push(k.n);
    let idx = format!("bi * {} + c", k.n);
    let body = epilogue_store(p, k, &dims, &cs.epilogue, "out1", &idx, &["c"]);
    let f = format!("fn store_sum(bi: i32, c: i32, acc: f32) {{\n{body}\n}}\n");
    Some((f, k.column_sums_dtype().unwrap_or(DType::F32)))
}

/// Stores `acc` through an epilogue over `[batch.., own..]` (`own` names the trailing
/// coordinates) into `out[idx]`.
fn epilogue_store(
    p: &mut Printer,
    k: &MatmulKernel,
    dims: &[usize],
    epilogue: &Option<Expr>,
    out: &str,
    idx: &str,
    own: &[&str],
) -> String {
    let Some(e) = epilogue else {
        return format!("    {out}[{idx}] = acc;");
    };
    let nbd = k.batch.len();
    let bcoords = unravel("bi", &k.batch);
    let coord = |d: usize| {
        if d < nbd {
            bcoords[d].clone()
        } else {
            own[d - nbd].to_string()
        }
    };
    let sp = Space {
        dims,
        coord: &coord,
        linear: None,
        lane: None,
    };
    p.body.clear();
    let outs = p.expr(e, &k.inputs, &sp, Some("acc"), 1);
    format!(
        "{}    {out}[{idx}] = {};",
        p.body,
        to_word(e.output_dtypes()[0], &outs[0])
    )
}

fn matmul(k: &MatmulKernel) -> Result<Compiled> {
    let nb: usize = k.batch.iter().product();
    let (tm, tn) = (k.m.div_ceil(64), k.n.div_ceil(64));
    let out_dt = k
        .epilogue
        .as_ref()
        .map_or(DType::F32, |e| e.output_dtypes()[0]);
    let label = format!("matmul_{}x{}x{}_b{}", k.m, k.n, k.k, shape_label(&k.batch));
    let mut p = Printer::new();
    let load_a = operand(&mut p, &k.a, &k.inputs, &k.batch);
    let load_b = operand(&mut p, &k.b, &k.inputs, &k.batch);
    let store = matmul_store(&mut p, k);
    let sums = matmul_sums_store(&mut p, k);
    let mut outs = vec![storage_ty(out_dt).to_string()];
    outs.extend(sums.iter().map(|(_, dt)| storage_ty(*dt).to_string()));
    let head = bindings(&k.inputs, &outs, !p.params.is_empty());
    // Column sums: every thread adds up the B tile columns it reads anyway; the first row
    // of threads of the first row of tiles stores them.
    let (sum_fn, sum_decl, sum_acc, sum_store) = match &sums {
        Some((f, _)) => (
            f.as_str(),
            "    var csum = vec4<f32>(0.0);",
            "            csum += b;",
            "    if (row0 == 0 && ty == 0) {\n        for (var j = 0; j < 4; j++) {\n            if (c + j < N) {\n                store_sum(bi, c + j, csum[j]);\n            }\n        }\n    }",
        ),
        None => ("", "", "", ""),
    };
    let body = MATMUL
        .replace("{{BINDINGS}}", "")
        .replace("{{M}}", &k.m.to_string())
        .replace("{{N}}", &k.n.to_string())
        .replace("{{K}}", &k.k.to_string())
        .replace("{{TILES_M}}", &tm.to_string())
        .replace("{{TILES_N}}", &tn.to_string())
        .replace("{{BATCH}}", &nb.to_string())
        .replace("{{LOAD_A}}", &load_a)
        .replace("{{LOAD_B}}", &load_b)
        .replace("{{STORE}}", &store)
        .replace("{{STORE_SUM}}", sum_fn)
        .replace("{{SUM_DECL}}", sum_decl)
        .replace("{{SUM_ACC}}", sum_acc)
        .replace("{{SUM_STORE}}", sum_store);
    p.body.clear();
    assemble(
        label,
        &head,
        &body,
        p,
        tm * tn * nb,
        k.inputs.len(),
        outs.len(),
    )
}

fn scan(k: &ScanKernel) -> Result<Compiled> {
    let rows = k.outer * k.inner;
    let label = format!(
        "scan_{}_{}x{}x{}",
        if k.product { "prod" } else { "sum" },
        k.outer,
        k.len,
        k.inner
    );
    let t = ty(if k.dtype == DType::Bool {
        DType::U32
    } else {
        k.dtype
    });
    let init = match (k.product, k.dtype) {
        (false, DType::F32) => "0.0",
        (true, DType::F32) => "1.0",
        (false, DType::I32) => "0",
        (true, DType::I32) => "1",
        (false, _) => "0u",
        (true, _) => "1u",
    };
    let opr = if k.product { "*" } else { "+" };
    let j = if k.reverse {
        format!("{} - s", k.len as i64 - 1)
    } else {
        "s".into()
    };
    let step = if k.exclusive {
        format!("out0[idx] = acc;\n        acc = acc {opr} in0[idx];")
    } else {
        format!("acc = acc {opr} in0[idx];\n        out0[idx] = acc;")
    };
    let body = format!(
        "{MAIN_1D}    if (p >= {rows}) {{\n        return;\n    }}\n    let o = p / {inner};\n    let i = p % {inner};\n    var acc: {t} = {init};\n    for (var s = 0; s < {len}; s++) {{\n        let idx = o * {row} + ({j}) * {inner} + i;\n        {step}\n    }}\n}}\n",
        inner = k.inner,
        len = k.len,
        row = k.len * k.inner,
    );
    let head = bindings(&[k.dtype], &[storage_ty(k.dtype).to_string()], false);
    assemble(
        label,
        &head,
        &body,
        Printer::new(),
        rows.div_ceil(WG as usize),
        1,
        1,
    )
}

fn scatter(k: &ScatterKernel) -> Result<Compiled> {
    let total: usize = k.space.iter().product();
    let vdt = k.expr.dtypes[k.expr.outputs[1] as usize];
    let label = format!(
        "scatter_add_{}_{}",
        op_names(&k.expr),
        shape_label(&k.space)
    );
    let mut p = Printer::new();
    let coords = unravel("p", &k.space);
    let coord = |d: usize| coords[d].clone();
    let sp = Space {
        dims: &k.space,
        coord: &coord,
        linear: Some("p"),
        lane: None,
    };
    let outs = p.expr(&k.expr, &k.inputs, &sp, None, 1);
    let (idx, v) = (&outs[0], &outs[1]);
    let add = match vdt {
        DType::F32 => format!(
            "        var old = atomicLoad(&out0[{idx}]);\n        loop {{\n            let r = atomicCompareExchangeWeak(&out0[{idx}], old, bitcast<u32>(bitcast<f32>(old) + {v}));\n            if (r.exchanged) {{\n                break;\n            }}\n            old = r.old_value;\n        }}"
        ),
        _ => format!("        atomicAdd(&out0[{idx}], {});", to_word(vdt, v)),
    };
    let atom = match vdt {
        DType::I32 => "atomic<i32>",
        _ => "atomic<u32>",
    };
    let body = format!(
        "{MAIN_1D}    if (p >= {total}) {{\n        return;\n    }}\n{}    if ({idx} >= 0 && {idx} < {}) {{\n{add}\n    }}\n}}\n",
        p.body, k.out_len
    );
    let head = bindings(&k.inputs, &[atom.to_string()], !p.params.is_empty());
    p.body.clear();
    assemble(
        label,
        &head,
        &body,
        p,
        total.div_ceil(WG as usize),
        k.inputs.len(),
        1,
    )
}

fn random(k: &RandomKernel) -> Result<Compiled> {
    let label = format!("random_{:?}_{}", k.dist, k.len).to_lowercase();
    let mut p = Printer::new();
    p.params = vec![k.key[0], k.key[1]];
    let v = match k.dist {
        RandomDist::Bits => "wf_word(key, i, 0u)",
        RandomDist::Uniform => "wf_uniform(wf_word(key, i, 0u))",
        RandomDist::Normal => "wf_normal(key, i, 0u)",
        RandomDist::TruncatedNormal => "wf_truncated_normal(key, i)",
    };
    let body = format!(
        "{MAIN_1D}    if (p >= {}) {{\n        return;\n    }}\n    let key = vec2<u32>(params[0], params[1]);\n    let i = u32(p);\n    out0[p] = {v};\n}}\n",
        k.len
    );
    let out_t = if k.dist == RandomDist::Bits {
        "u32"
    } else {
        "f32"
    };
    let head = bindings(&[], &[out_t.to_string()], true);
    assemble(label, &head, &body, p, k.len.div_ceil(WG as usize), 0, 1)
}

fn softmax(k: &SoftmaxKernel) -> Result<Compiled> {
    let rows = k.outer * k.inner;
    let label = format!(
        "{}softmax_{}x{}x{}",
        if k.log { "log_" } else { "" },
        k.outer,
        k.len,
        k.inner
    );
    let at = |j: &str| format!("o * {} + ({j}) * {} + i", k.len * k.inner, k.inner);
    let write = if k.log {
        format!("out0[{}] = in0[{}] - m - log(s);", at("j"), at("j"))
    } else {
        format!("out0[{}] = exp(in0[{}] - m) / s;", at("j"), at("j"))
    };
    let head = bindings(&[DType::F32], &["f32".to_string()], false);
    // Subtracting the row maximum keeps exp finite for large logits.
    let fix_m = "    m = select(0.0, m, abs(m) < wf_inf());\n    m = select(m, wf_nan(), wf_isnan(mraw));\n";
    if k.len <= 256 {
        let body = format!(
            "{MAIN_1D}    if (p >= {rows}) {{\n        return;\n    }}\n    let o = p / {inner};\n    let i = p % {inner};\n    var mraw = bitcast<f32>(0xff800000u);\n    for (var j = 0; j < {len}; j++) {{\n        mraw = wf_max(in0[{a}], mraw);\n    }}\n    var m = mraw;\n{fix_m}    var s = 0.0;\n    for (var j = 0; j < {len}; j++) {{\n        s += exp(in0[{a}] - m);\n    }}\n    for (var j = 0; j < {len}; j++) {{\n        {write}\n    }}\n}}\n",
            inner = k.inner,
            len = k.len,
            a = at("j"),
        );
        return assemble(
            label,
            &head,
            &body,
            Printer::new(),
            rows.div_ceil(WG as usize),
            1,
            1,
        );
    }
    let body = format!(
        "var<workgroup> sh: array<f32, 256>;\n@compute @workgroup_size(256)\nfn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {{\n    let row = i32(wid.x + wid.y * nwg.x);\n    if (row >= {rows}) {{\n        return;\n    }}\n    let o = row / {inner};\n    let i = row % {inner};\n    var t = bitcast<f32>(0xff800000u);\n    for (var j = i32(li); j < {len}; j += 256) {{\n        t = wf_max(in0[{a}], t);\n    }}\n    sh[li] = t;\n    workgroupBarrier();\n    for (var s = 128u; s > 0u; s = s >> 1u) {{\n        if (li < s) {{\n            sh[li] = wf_max(sh[li], sh[li + s]);\n        }}\n        workgroupBarrier();\n    }}\n    let mraw = sh[0];\n    var m = mraw;\n{fix_m}    workgroupBarrier();\n    var u = 0.0;\n    for (var j = i32(li); j < {len}; j += 256) {{\n        u += exp(in0[{a}] - m);\n    }}\n    sh[li] = u;\n    workgroupBarrier();\n    for (var s = 128u; s > 0u; s = s >> 1u) {{\n        if (li < s) {{\n            sh[li] = sh[li] + sh[li + s];\n        }}\n        workgroupBarrier();\n    }}\n    let s = sh[0];\n    for (var j = i32(li); j < {len}; j += 256) {{\n        {write}\n    }}\n}}\n",
        inner = k.inner,
        len = k.len,
        a = at("j"),
    );
    assemble(label, &head, &body, Printer::new(), rows, 1, 1)
}
