//! Control flow: [`cond`], [`while_loop`], [`for_range`] and [`TensorArray`] (TensorFlow's
//! `tf.cond`, `tf.while_loop`, `tf.range` loops under autograph, `tf.TensorArray`).
//!
//! Eagerly they are plain host control flow: the predicate is read and one branch, or one
//! more iteration, runs (its ops are recorded by tapes as they run, so gradients come for
//! free). While tracing, each branch or body is traced once into a sub-graph of a
//! [`NodeKind::Cond`] or [`NodeKind::While`] node; a replay reads the predicate on the host
//! (a sync, as TensorFlow does on a GPU) and runs the chosen sub-plan. Tensors of the
//! enclosing trace that a body uses become node inputs (captures), so tapes and gradients
//! see them.

use super::function::Structure;
use super::ir::{Graph, NodeKind, ValueId};
use super::trace::{self, TraceGuard};
use crate::autodiff::{
    GradientTape, UnconnectedGradients, Variable, custom_gradient, stop_gradient,
};
use crate::device::{Device, current_device, with_device};
use crate::dtype::{DType, Scalar};
use crate::error::{Error, Result};
use crate::ops::{self, Axes, Meta};
use crate::shape::fmt_shape;
use crate::tensor::Tensor;
use std::rc::Rc;

/// A predicate must be a scalar: a bool, or a number (nonzero is true).
fn check_pred(op: &str, what: &str, pred: &Tensor) -> Result<()> {
    if pred.rank() != 0 {
        return Err(Error::shape(
            op,
            format!(
                "{what} must be a scalar, got a {} {} tensor",
                pred.dtype(),
                fmt_shape(pred.shape())
            ),
        ));
    }
    Ok(())
}

fn flat<S: Structure>(s: &S) -> Vec<Tensor> {
    let mut out = vec![];
    s.flatten(&mut out);
    out
}

fn metas(ts: &[Tensor]) -> Vec<Meta> {
    ts.iter().map(Meta::of).collect()
}

fn fmt_meta(m: &Meta) -> String {
    format!("{} {}", m.dtype, fmt_shape(&m.shape))
}

/// A traced branch or loop body.
struct Body {
    graph: Graph,
    /// The enclosing trace's tensors behind `Capture { index }`, in index order.
    captures: Vec<Tensor>,
    /// Variables the body assigned, with their final values in the body.
    writes: Vec<(Variable, ValueId)>,
}

impl Body {
    fn output_metas(&self) -> Vec<Meta> {
        output_metas(&self.graph)
    }

    /// The value of `Capture` of `t`, adding the capture if the body lacks it.
    fn capture(&mut self, t: &Tensor) -> ValueId {
        if let Some(i) = self.captures.iter().position(|c| c.id() == t.id()) {
            let found = self.graph.nodes.iter().find_map(|n| match n.kind {
                NodeKind::Capture { index } if index == i => Some(n.outputs[0]),
                _ => None,
            });
            if let Some(v) = found {
                return v;
            }
        }
        self.captures.push(t.clone());
        let index = self.captures.len() - 1;
        self.graph
            .add(NodeKind::Capture { index }, vec![], vec![Meta::of(t)])[0]
    }
}

fn output_metas(g: &Graph) -> Vec<Meta> {
    g.outputs.iter().map(|&v| g.values[v].clone()).collect()
}

/// Traces `f` on symbolic arguments of `args` into a body nested in the current trace.
fn trace_body<R: Structure>(
    device: &Device,
    args: &[Meta],
    f: impl FnOnce(&[Tensor]) -> Result<R>,
) -> Result<(Body, R)> {
    let guard = TraceGuard::begin_body(device.clone());
    let syms: Vec<Tensor> = args
        .iter()
        .enumerate()
        .map(|(i, m)| trace::arg(i, "", m.clone()))
        .collect();
    let out = with_device(device, || f(&syms))?;
    let outputs = flat(&out)
        .iter()
        .map(trace::value)
        .collect::<Result<Vec<_>>>()?;
    let mut t = guard.finish();
    t.graph.outputs = outputs;
    let writes = std::mem::take(&mut t.graph.variable_writes);
    Ok((
        Body {
            graph: t.graph,
            captures: t.captures,
            writes,
        },
        out,
    ))
}

/// Renumbers the bodies' captures into one list shared by the node (deduplicated).
fn union_captures(bodies: &mut [&mut Body]) -> Vec<Tensor> {
    let mut all: Vec<Tensor> = vec![];
    for b in bodies.iter_mut() {
        let remap: Vec<usize> = b
            .captures
            .iter()
            .map(|t| match all.iter().position(|a| a.id() == t.id()) {
                Some(i) => i,
                None => {
                    all.push(t.clone());
                    all.len() - 1
                }
            })
            .collect();
        for n in &mut b.graph.nodes {
            if let NodeKind::Capture { index } = &mut n.kind {
                *index = remap[*index];
            }
        }
        b.captures = all.clone();
    }
    all
}

fn tracing_device() -> Device {
    trace::device().expect("called while tracing")
}

/// `true_fn()` if `pred` holds, else `false_fn()` (TensorFlow's `tf.cond`). `pred` is a
/// scalar: a bool, or a number (nonzero is true).
///
/// Eagerly only the chosen branch runs. While tracing, both branches are traced into a
/// `cond` node and a replay runs the branch `pred` picks; both must return the same
/// structure of tensors (count, dtypes, shapes). Variables may be assigned in a branch:
/// the node also outputs each assigned variable's new value (the other branch passes the
/// current value through) and the function assigns it. Gradients flow through the branch
/// taken.
///
/// ```
/// use wgflow::{Tensor, graph::cond, ops};
/// let x = Tensor::scalar(3.0f32).unwrap();
/// let p = ops::greater(&x, &Tensor::scalar(0.0f32).unwrap()).unwrap();
/// let y = cond(&p, || ops::square(&x), || ops::neg(&x)).unwrap();
/// assert_eq!(y.to_scalar::<f32>().unwrap(), 9.0);
/// ```
pub fn cond<O: Structure>(
    pred: &Tensor,
    true_fn: impl FnOnce() -> Result<O>,
    false_fn: impl FnOnce() -> Result<O>,
) -> Result<O> {
    check_pred("cond", "pred", pred)?;
    if !trace::is_tracing() {
        return if super::executor::truthy(pred).map_err(|e| context("cond", e))? {
            true_fn()
        } else {
            false_fn()
        };
    }
    let device = tracing_device();
    let (a, then_out) =
        trace_body(&device, &[], |_| true_fn()).map_err(|e| context("cond: true_fn", e))?;
    let (b, _) =
        trace_body(&device, &[], |_| false_fn()).map_err(|e| context("cond: false_fn", e))?;
    let (ma, mb) = (a.output_metas(), b.output_metas());
    if ma.len() != mb.len() {
        return Err(Error::invalid(
            "cond",
            format!(
                "true_fn and false_fn must return the same structure: true_fn returns {} \
                 tensor(s), false_fn returns {}",
                ma.len(),
                mb.len()
            ),
        ));
    }
    for (k, (x, y)) in ma.iter().zip(&mb).enumerate() {
        if x != y {
            let msg = format!(
                "true_fn and false_fn must return the same dtypes and shapes: output {k} is \
                 {} in true_fn but {} in false_fn",
                fmt_meta(x),
                fmt_meta(y)
            );
            return Err(if x.dtype != y.dtype {
                Error::dtype("cond", msg)
            } else {
                Error::shape("cond", msg)
            });
        }
    }
    let n = ma.len();
    let outs = cond_node(pred, a, b)?;
    Ok(then_out.rebuild(&mut outs.into_iter().take(n)))
}

/// Adds the `cond` node for traced branches, with its gradient and variable writes;
/// returns its outputs (not generic: the gradient builds a `cond` of its own).
fn cond_node(pred: &Tensor, mut a: Body, mut b: Body) -> Result<Vec<Tensor>> {
    let (a_writes, b_writes) = (std::mem::take(&mut a.writes), std::mem::take(&mut b.writes));
    let n = a.graph.outputs.len();
    // Assigned variables become extra outputs of both branches.
    let mut written: Vec<Variable> = vec![];
    for (v, _) in a_writes.iter().chain(&b_writes) {
        if !written.iter().any(|w| w.id() == v.id()) {
            written.push(v.clone());
        }
    }
    for var in &written {
        for (body, writes) in [(&mut a, &a_writes), (&mut b, &b_writes)] {
            let v = match writes.iter().find(|(w, _)| w.id() == var.id()) {
                Some((_, v)) => *v,
                None => body.capture(&var.value_unrecorded()),
            };
            body.graph.outputs.push(v);
        }
    }
    let caps = union_captures(&mut [&mut a, &mut b]);
    let out_metas = a.output_metas();
    let then_graph = Rc::new(a.graph);
    let else_graph = Rc::new(b.graph);
    let mut inputs = vec![pred.clone()];
    inputs.extend(caps);
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let outs = trace::add_node(
        NodeKind::Cond {
            then_graph: Box::new((*then_graph).clone()),
            else_graph: Box::new((*else_graph).clone()),
        },
        &refs,
        out_metas,
    )?;
    let ins = inputs.clone();
    let outs = custom_gradient(&refs, move |_| {
        let grad = move |gs: &[Tensor]| -> Result<Vec<Option<Tensor>>> {
            let (pred, caps) = (&ins[0], &ins[1..]);
            let g: Vec<Tensor> = cond(
                pred,
                || vjp(&then_graph, &[], caps, gs),
                || vjp(&else_graph, &[], caps, gs),
            )?;
            let mut g = g.into_iter();
            let mut out = vec![None];
            out.extend(caps.iter().map(|c| is_float(c).then(|| g.next().unwrap())));
            Ok(out)
        };
        Ok((outs, grad))
    })?;
    for (var, t) in written.iter().zip(&outs[n..]) {
        trace::write_variable(var, t).expect("tracing")?;
    }
    Ok(outs)
}

fn is_float(t: &Tensor) -> bool {
    t.dtype() == DType::F32
}

/// Prefixes an error's op with where it happened (`cond: true_fn/matmul: ...`).
fn context(what: &str, e: Error) -> Error {
    match e {
        Error::InvalidArgument { op, msg } if !op.starts_with(what) => Error::InvalidArgument {
            op: format!("{what}/{op}"),
            msg,
        },
        Error::Shape { op, msg } if !op.starts_with(what) => Error::Shape {
            op: format!("{what}/{op}"),
            msg,
        },
        Error::DType { op, msg } if !op.starts_with(what) => Error::DType {
            op: format!("{what}/{op}"),
            msg,
        },
        e => e,
    }
}

/// Options of [`while_loop_with`].
#[derive(Clone, Debug, Default)]
pub struct WhileOptions {
    /// Per flattened loop variable, the shape it must keep (`None` dims may change in eager
    /// mode; a traced loop keeps static shapes). Default: each variable's entry shape.
    pub shape_invariants: Option<Vec<Vec<Option<usize>>>>,
    /// Stops after this many iterations even if `cond` still holds.
    pub maximum_iterations: Option<usize>,
}

/// Repeats `body` while `cond` holds (TensorFlow's `tf.while_loop`); returns the final loop
/// variables. `cond` returns a scalar (bool, or nonzero number); `body` returns new values
/// of the same dtypes and shapes (or shapes matching `shape_invariants`, one per variable).
///
/// ```
/// use wgflow::{Tensor, graph::while_loop, ops};
/// let (i, x) = (Tensor::scalar(0i32).unwrap(), Tensor::scalar(1.0f32).unwrap());
/// let out = while_loop(
///     |v| ops::less(&v[0], &Tensor::scalar(3i32)?),
///     |v| Ok(vec![ops::add(&v[0], &Tensor::scalar(1i32)?)?, ops::add(&v[1], &v[1])?]),
///     vec![i, x],
///     None,
/// )
/// .unwrap();
/// assert_eq!(out[1].to_scalar::<f32>().unwrap(), 8.0);
/// ```
pub fn while_loop(
    cond_fn: impl FnMut(&Vec<Tensor>) -> Result<Tensor>,
    body_fn: impl FnMut(&Vec<Tensor>) -> Result<Vec<Tensor>>,
    loop_vars: Vec<Tensor>,
    shape_invariants: Option<Vec<Vec<Option<usize>>>>,
) -> Result<Vec<Tensor>> {
    while_loop_with(
        cond_fn,
        body_fn,
        loop_vars,
        WhileOptions {
            shape_invariants,
            maximum_iterations: None,
        },
    )
}

/// [`while_loop`] over any [`Structure`] of loop variables (tensors, tuples, vectors,
/// [`TensorArray`]s), with [`WhileOptions`].
///
/// Eagerly the loop runs on the host and every op is recorded by tapes as it runs. Traced,
/// `cond` and `body` are each traced once into a `while` node; variable assignment inside
/// them is rejected (carry the value as a loop variable instead). Gradients of a traced
/// loop run a reverse loop that recomputes each iteration's inputs from the loop's entry
/// values (O(n²) body runs for n iterations, no stored history).
pub fn while_loop_with<S: Structure>(
    mut cond_fn: impl FnMut(&S) -> Result<Tensor>,
    mut body_fn: impl FnMut(&S) -> Result<S>,
    loop_vars: S,
    options: WhileOptions,
) -> Result<S> {
    let entry = metas(&flat(&loop_vars));
    let invariants = invariants(&entry, options.shape_invariants.as_deref())?;
    if trace::is_tracing() {
        return while_traced(cond_fn, body_fn, loop_vars, &entry, &invariants, options);
    }
    let mut vars = loop_vars;
    let mut done = 0;
    while options.maximum_iterations.is_none_or(|m| done < m) {
        let c = cond_fn(&vars).map_err(|e| context("while_loop: cond", e))?;
        check_pred("while_loop", "the value cond returns", &c)?;
        if !super::executor::truthy(&c).map_err(|e| context("while_loop", e))? {
            break;
        }
        let next = body_fn(&vars).map_err(|e| context("while_loop: body", e))?;
        check_body(&entry, &metas(&flat(&next)), &invariants, false)?;
        vars = next;
        done += 1;
    }
    Ok(vars)
}

/// The shape invariant of each loop variable (its entry shape when none is given).
fn invariants(
    entry: &[Meta],
    given: Option<&[Vec<Option<usize>>]>,
) -> Result<Vec<Vec<Option<usize>>>> {
    let Some(given) = given else {
        return Ok(entry
            .iter()
            .map(|m| m.shape.iter().map(|&d| Some(d)).collect())
            .collect());
    };
    if given.len() != entry.len() {
        return Err(Error::invalid(
            "while_loop",
            format!(
                "{} shape invariant(s) for {} loop variable(s)",
                given.len(),
                entry.len()
            ),
        ));
    }
    for (k, (m, inv)) in entry.iter().zip(given).enumerate() {
        if !compatible(&m.shape, inv) {
            return Err(Error::shape(
                "while_loop",
                format!(
                    "loop variable {k} enters as {} which does not match its shape invariant {}",
                    fmt_shape(&m.shape),
                    fmt_invariant(inv)
                ),
            ));
        }
    }
    Ok(given.to_vec())
}

fn compatible(shape: &[usize], inv: &[Option<usize>]) -> bool {
    shape.len() == inv.len()
        && shape
            .iter()
            .zip(inv)
            .all(|(&d, i)| i.is_none_or(|i| i == d))
}

fn fmt_invariant(inv: &[Option<usize>]) -> String {
    let dims: Vec<String> = inv
        .iter()
        .map(|d| d.map_or("None".into(), |d| d.to_string()))
        .collect();
    format!("[{}]", dims.join(", "))
}

/// The body's results against the loop variables: same count and dtypes, shapes within the
/// invariants (and, traced, unchanged: graph values have static shapes).
fn check_body(
    entry: &[Meta],
    out: &[Meta],
    inv: &[Vec<Option<usize>>],
    traced: bool,
) -> Result<()> {
    if entry.len() != out.len() {
        return Err(Error::invalid(
            "while_loop",
            format!(
                "body must return the loop variables' structure: {} tensor(s) in, {} out (a \
                 TensorArray needs an element_shape to be a loop variable)",
                entry.len(),
                out.len()
            ),
        ));
    }
    for (k, ((m, o), inv)) in entry.iter().zip(out).zip(inv).enumerate() {
        if m.dtype != o.dtype {
            return Err(Error::dtype(
                "while_loop",
                format!(
                    "body changes loop variable {k} from {} to {}",
                    fmt_meta(m),
                    fmt_meta(o)
                ),
            ));
        }
        if !compatible(&o.shape, inv) {
            return Err(Error::shape(
                "while_loop",
                format!(
                    "body changes the shape of loop variable {k} from {} to {} against its \
                     shape invariant {}",
                    fmt_shape(&m.shape),
                    fmt_shape(&o.shape),
                    fmt_invariant(inv)
                ),
            ));
        }
        if traced && m.shape != o.shape {
            return Err(Error::shape(
                "while_loop",
                format!(
                    "body changes the shape of loop variable {k} from {} to {}: its shape \
                     invariant {} allows it, but a traced while_loop keeps static shapes",
                    fmt_shape(&m.shape),
                    fmt_shape(&o.shape),
                    fmt_invariant(inv)
                ),
            ));
        }
    }
    Ok(())
}

fn reject_writes(what: &str, writes: &[(Variable, ValueId)]) -> Result<()> {
    match writes.first() {
        None => Ok(()),
        Some((v, _)) => Err(Error::invalid(
            "while_loop",
            format!(
                "{what} assigns variable '{}': assignment inside a traced while_loop is not \
                 supported; carry the value as a loop variable and assign it after the loop",
                v.name()
            ),
        )),
    }
}

fn while_traced<S: Structure>(
    mut cond_fn: impl FnMut(&S) -> Result<Tensor>,
    mut body_fn: impl FnMut(&S) -> Result<S>,
    loop_vars: S,
    entry: &[Meta],
    invariants: &[Vec<Option<usize>>],
    options: WhileOptions,
) -> Result<S> {
    let device = tracing_device();
    let rebuild = |syms: &[Tensor]| loop_vars.rebuild(&mut syms.iter().cloned());
    let (c, c_out) = trace_body(&device, entry, |syms| cond_fn(&rebuild(syms)))
        .map_err(|e| context("while_loop: cond", e))?;
    check_pred("while_loop", "the value cond returns", &c_out)?;
    reject_writes("cond", &c.writes)?;
    let (b, _) = trace_body(&device, entry, |syms| body_fn(&rebuild(syms)))
        .map_err(|e| context("while_loop: body", e))?;
    check_body(entry, &b.output_metas(), invariants, true)?;
    reject_writes("body", &b.writes)?;
    let outs = while_node(flat(&loop_vars), entry, c, b, options.maximum_iterations)?;
    Ok(loop_vars.rebuild(&mut outs.into_iter()))
}

/// Adds the `while` node for a traced cond and body, with its gradient (not generic: the
/// gradient builds loops of its own).
fn while_node(
    vars: Vec<Tensor>,
    entry: &[Meta],
    mut c: Body,
    mut b: Body,
    max: Option<usize>,
) -> Result<Vec<Tensor>> {
    let caps = union_captures(&mut [&mut c, &mut b]);
    let n = entry.len();
    let mut inputs = vars;
    inputs.extend(caps);
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let (cond_graph, body_graph) = (Rc::new(c.graph), Rc::new(b.graph));
    let outs = trace::add_node(
        NodeKind::While {
            cond_graph: Box::new((*cond_graph).clone()),
            body_graph: Box::new((*body_graph).clone()),
            loop_vars: n,
            maximum_iterations: max,
        },
        &refs,
        entry.to_vec(),
    )?;
    let ins = inputs.clone();
    let outs = custom_gradient(&refs, move |_| {
        let grad = move |gs: &[Tensor]| while_grad(&cond_graph, &body_graph, max, &ins, n, gs);
        Ok((outs, grad))
    })?;
    Ok(outs)
}

/// Replays a stored (unoptimized) sub-graph through the ops, in the current context: the
/// ops are recorded by the current trace and by tapes. Prints are not repeated.
fn inline(g: &Graph, args: &[Tensor], caps: &[Tensor]) -> Result<Vec<Tensor>> {
    let mut vals: Vec<Option<Tensor>> = vec![None; g.values.len()];
    for n in &g.nodes {
        let ins: Vec<Tensor> = n
            .inputs
            .iter()
            .map(|&i| vals[i].clone().expect("sub-graph in topological order"))
            .collect();
        let refs: Vec<&Tensor> = ins.iter().collect();
        let outs = match &n.kind {
            NodeKind::Arg { index, .. } => vec![args[*index].clone()],
            NodeKind::Capture { index } => vec![caps[*index].clone()],
            NodeKind::Const(t) => vec![t.clone()],
            NodeKind::Op(op) => ops::apply(op.clone(), &refs)?,
            // Side effects happened in the forward run; a replay for gradients repeats none
            // (its ops check their values eagerly).
            NodeKind::Print { .. } | NodeKind::Effect { .. } | NodeKind::Check(_) => vec![],
            NodeKind::HostTensor { name, make } => vec![super::host_tensor(name, make.clone())?],
            NodeKind::Cond {
                then_graph,
                else_graph,
            } => cond(
                &ins[0],
                || inline(then_graph, &[], &ins[1..]),
                || inline(else_graph, &[], &ins[1..]),
            )?,
            NodeKind::While {
                cond_graph,
                body_graph,
                loop_vars,
                maximum_iterations,
            } => {
                let (vars, caps) = ins.split_at(*loop_vars);
                while_loop_with(
                    |v: &Vec<Tensor>| Ok(inline(cond_graph, v, caps)?.swap_remove(0)),
                    |v: &Vec<Tensor>| inline(body_graph, v, caps),
                    vars.to_vec(),
                    WhileOptions {
                        shape_invariants: None,
                        maximum_iterations: *maximum_iterations,
                    },
                )?
            }
            other => {
                return Err(Error::invalid(
                    "gradient",
                    format!(
                        "cannot differentiate through a '{}' node inside a control-flow body",
                        other.name()
                    ),
                ));
            }
        };
        for (&o, t) in n.outputs.iter().zip(outs) {
            vals[o] = Some(t);
        }
    }
    Ok(g.outputs
        .iter()
        .map(|&o| vals[o].clone().expect("outputs are defined"))
        .collect())
}

/// The vector-Jacobian product of sub-graph `g` at (`args`, `caps`) with output gradients
/// `gs`: one gradient per float argument, then per float capture (zeros if unconnected).
fn vjp(g: &Graph, args: &[Tensor], caps: &[Tensor], gs: &[Tensor]) -> Result<Vec<Tensor>> {
    // Fresh handles: an argument that is also a capture must not share its gradient.
    let args: Vec<Tensor> = args.iter().map(stop_gradient).collect();
    let tape = GradientTape::new();
    let sources: Vec<&Tensor> = args.iter().chain(caps).filter(|t| is_float(t)).collect();
    for s in &sources {
        tape.watch(*s);
    }
    let outs = inline(g, &args, caps)?;
    let mut target: Option<Tensor> = None;
    for (o, d) in outs.iter().zip(gs) {
        if !is_float(o) {
            continue;
        }
        let t = ops::reduce_sum(&ops::mul(o, d)?, Axes::All, false)?;
        target = Some(match target {
            Some(s) => ops::add(&s, &t)?,
            None => t,
        });
    }
    let target = match target {
        Some(t) => t,
        None => ops::zeros([], DType::F32)?,
    };
    let grads = tape.gradient_with(&target, &sources, None, UnconnectedGradients::Zero)?;
    Ok(grads
        .into_iter()
        .map(|g| g.expect("unconnected gradients are zeros"))
        .collect())
}

fn scalar_i32(v: i32, device: &Device) -> Result<Tensor> {
    Tensor::scalar_of(Scalar::I32(v), device)
}

/// The backward of a traced `while` node: count the iterations, then walk them in reverse,
/// recomputing iteration `k`'s inputs by running the body `k` times from the entry values.
fn while_grad(
    cond_graph: &Graph,
    body_graph: &Graph,
    max: Option<usize>,
    inputs: &[Tensor],
    n: usize,
    gs: &[Tensor],
) -> Result<Vec<Option<Tensor>>> {
    let (v0, caps) = inputs.split_at(n);
    let device = v0
        .first()
        .or(caps.first())
        .map(|t| t.device().clone())
        .map_or_else(current_device, Ok)?;
    let zero = scalar_i32(0, &device)?;
    let one = scalar_i32(1, &device)?;
    // One forward iteration on [counter, loop vars...].
    let advance = |s: &Vec<Tensor>| -> Result<Vec<Tensor>> {
        let mut next = vec![ops::add(&s[0], &one)?];
        next.extend(inline(body_graph, &s[1..], caps)?);
        Ok(next)
    };
    // 1. How many iterations the forward loop ran.
    let limit = max.map(|m| scalar_i32(m as i32, &device)).transpose()?;
    let mut init = vec![zero.clone()];
    init.extend(v0.iter().cloned());
    let counted = while_loop_with(
        |s: &Vec<Tensor>| {
            let c = inline(cond_graph, &s[1..], caps)?.swap_remove(0);
            let c = if c.dtype() == DType::Bool {
                c
            } else {
                ops::not_equal(&c, &ops::zeros_like(&c)?)?
            };
            match &limit {
                Some(l) => ops::logical_and(&ops::less(&s[0], l)?, &c),
                None => Ok(c),
            }
        },
        &advance,
        init,
        WhileOptions::default(),
    )?;
    let count = &counted[0];
    // 2. The reverse walk: [k, grads of float loop vars, accumulated grads of float caps].
    let fv: Vec<usize> = (0..n).filter(|&i| is_float(&v0[i])).collect();
    let fc: Vec<&Tensor> = caps.iter().filter(|c| is_float(c)).collect();
    let mut init = vec![ops::sub(count, &one)?];
    init.extend(fv.iter().map(|&i| gs[i].clone()));
    for c in &fc {
        init.push(ops::zeros_like(c)?);
    }
    let back = while_loop_with(
        |s: &Vec<Tensor>| ops::greater_equal(&s[0], &zero),
        |s: &Vec<Tensor>| {
            let k = &s[0];
            let mut start = vec![zero.clone()];
            start.extend(v0.iter().cloned());
            let state = while_loop_with(
                |t: &Vec<Tensor>| ops::less(&t[0], k),
                &advance,
                start,
                WhileOptions::default(),
            )?;
            let state = &state[1..];
            let mut g_all = vec![];
            let mut it = s[1..1 + fv.len()].iter();
            for x in state {
                g_all.push(if is_float(x) {
                    it.next().unwrap().clone()
                } else {
                    ops::zeros_like(x)?
                });
            }
            let d = vjp(body_graph, state, caps, &g_all)?;
            let mut next = vec![ops::sub(k, &one)?];
            next.extend(d[..fv.len()].iter().cloned());
            for (acc, dc) in s[1 + fv.len()..].iter().zip(&d[fv.len()..]) {
                next.push(ops::add(acc, dc)?);
            }
            Ok(next)
        },
        init,
        WhileOptions::default(),
    )?;
    let mut gv = back[1..1 + fv.len()].iter();
    let mut gc = back[1 + fv.len()..].iter();
    let mut out: Vec<Option<Tensor>> = v0
        .iter()
        .map(|x| is_float(x).then(|| gv.next().unwrap().clone()))
        .collect();
    out.extend(
        caps.iter()
            .map(|c| is_float(c).then(|| gc.next().unwrap().clone())),
    );
    Ok(out)
}

/// A loop index or array position: a host integer, or a scalar integer tensor (symbolic
/// inside a traced loop).
#[derive(Clone, Debug)]
pub enum IndexArg {
    Host(i64),
    Tensor(Tensor),
}

impl From<i64> for IndexArg {
    fn from(v: i64) -> Self {
        IndexArg::Host(v)
    }
}
impl From<i32> for IndexArg {
    fn from(v: i32) -> Self {
        IndexArg::Host(v as i64)
    }
}
impl From<usize> for IndexArg {
    fn from(v: usize) -> Self {
        IndexArg::Host(v as i64)
    }
}
impl From<&Tensor> for IndexArg {
    fn from(t: &Tensor) -> Self {
        IndexArg::Tensor(t.clone())
    }
}
impl From<Tensor> for IndexArg {
    fn from(t: Tensor) -> Self {
        IndexArg::Tensor(t)
    }
}

impl IndexArg {
    /// The value on the host when it is known there (a host integer or a concrete tensor).
    fn host(&self, op: &str) -> Result<Option<i64>> {
        match self {
            IndexArg::Host(v) => Ok(Some(*v)),
            IndexArg::Tensor(t) => {
                self.check(op)?;
                if t.is_symbolic() {
                    Ok(None)
                } else {
                    Ok(Some(t.first_f64()? as i64))
                }
            }
        }
    }
    fn check(&self, op: &str) -> Result<()> {
        if let IndexArg::Tensor(t) = self
            && (t.rank() != 0 || !t.dtype().is_int())
        {
            return Err(Error::invalid(
                op,
                format!(
                    "the index must be a scalar integer tensor, got {} {}",
                    t.dtype(),
                    fmt_shape(t.shape())
                ),
            ));
        }
        Ok(())
    }
    /// A scalar int32 tensor on `device`.
    fn tensor(&self, op: &str, device: &Device) -> Result<Tensor> {
        self.check(op)?;
        match self {
            IndexArg::Host(v) => {
                let v = i32::try_from(*v)
                    .map_err(|_| Error::invalid(op, format!("index {v} does not fit in int32")))?;
                scalar_i32(v, device)
            }
            IndexArg::Tensor(t) if t.dtype() == DType::I32 => Ok(t.clone()),
            IndexArg::Tensor(t) => ops::cast(t, DType::I32),
        }
    }
}

fn default_device() -> Result<Device> {
    trace::device().map_or_else(current_device, Ok)
}

/// `body(i, vars)` for `i` in `0..n`, threading `vars` through (a `for i in tf.range(n)`
/// loop under autograph); a [`while_loop_with`] over `(i, vars)`, so it traces into one
/// `while` node and is differentiable the same way.
///
/// ```
/// use wgflow::{Tensor, graph::for_range, ops};
/// let x = Tensor::scalar(1.0f32).unwrap();
/// let y = for_range(4, x, |_, x| ops::add(x, x)).unwrap();
/// assert_eq!(y.to_scalar::<f32>().unwrap(), 16.0);
/// ```
pub fn for_range<S: Structure>(
    n: impl Into<IndexArg>,
    init: S,
    mut body: impl FnMut(&Tensor, &S) -> Result<S>,
) -> Result<S> {
    let device = default_device()?;
    let n = n.into().tensor("for_range", &device)?;
    let zero = scalar_i32(0, &device)?;
    let one = scalar_i32(1, &device)?;
    let (_, out) = while_loop_with(
        |(i, _): &(Tensor, S)| ops::less(i, &n),
        |(i, s): &(Tensor, S)| Ok((ops::add(i, &one)?, body(i, s)?)),
        (zero, init),
        WhileOptions::default(),
    )
    .map_err(|e| rename("for_range", e))?;
    Ok(out)
}

fn rename(to: &str, e: Error) -> Error {
    match e {
        Error::InvalidArgument { op, msg } if op.starts_with("while_loop") => {
            Error::InvalidArgument {
                op: op.replacen("while_loop", to, 1),
                msg,
            }
        }
        Error::Shape { op, msg } if op.starts_with("while_loop") => Error::Shape {
            op: op.replacen("while_loop", to, 1),
            msg,
        },
        Error::DType { op, msg } if op.starts_with("while_loop") => Error::DType {
            op: op.replacen("while_loop", to, 1),
            msg,
        },
        e => e,
    }
}

/// A list of same-shaped tensors written one at a time (TensorFlow's `tf.TensorArray`),
/// for collecting per-iteration results in a loop.
///
/// It is one tensor of shape `[size, element_shape...]`, so it can be a loop variable of
/// [`while_loop_with`] (it is a [`Structure`]); `write` returns a new array (functional, as
/// in TensorFlow) built with a mask select, and `read` is a gather, so both take a traced
/// index and are differentiable. A host index is bounds-checked (and grows a
/// `dynamic_size` array); a traced index is not: writing out of range changes nothing.
/// Unwritten elements read as zeros.
#[derive(Clone, Debug)]
pub struct TensorArray {
    dtype: DType,
    size: usize,
    dynamic_size: bool,
    element_shape: Option<Vec<usize>>,
    /// `[size, element_shape...]`; `None` until the element shape is known.
    data: Option<Tensor>,
}

impl TensorArray {
    /// An array of `size` elements; with `element_shape` unknown, the first write fixes it
    /// (an array must know it to be a loop variable).
    pub fn new(
        dtype: DType,
        size: usize,
        dynamic_size: bool,
        element_shape: Option<&[usize]>,
    ) -> Result<TensorArray> {
        let mut ta = TensorArray {
            dtype,
            size,
            dynamic_size,
            element_shape: element_shape.map(<[usize]>::to_vec),
            data: None,
        };
        if let Some(es) = element_shape {
            ta.data = Some(ta.zeros(size, es)?);
        }
        Ok(ta)
    }

    fn zeros(&self, rows: usize, es: &[usize]) -> Result<Tensor> {
        let mut shape = vec![rows];
        shape.extend(es);
        let device = default_device()?;
        with_device(&device, || ops::zeros(&shape, self.dtype))
    }

    fn check_dtype(&self, op: &str, value: &Tensor) -> Result<()> {
        if value.dtype() != self.dtype {
            return Err(Error::dtype(
                op,
                format!(
                    "the array holds {} but the value is {}",
                    self.dtype,
                    value.dtype()
                ),
            ));
        }
        Ok(())
    }

    pub fn size(&self) -> usize {
        self.size
    }
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    pub fn element_shape(&self) -> Option<&[usize]> {
        self.element_shape.as_deref()
    }
    pub fn dynamic_size(&self) -> bool {
        self.dynamic_size
    }

    /// A new array with element `index` set to `value`.
    pub fn write(&self, index: impl Into<IndexArg>, value: &Tensor) -> Result<TensorArray> {
        const OP: &str = "TensorArray.write";
        let index = index.into();
        self.check_dtype(OP, value)?;
        if let Some(es) = &self.element_shape
            && es.as_slice() != value.shape()
        {
            return Err(Error::shape(
                OP,
                format!(
                    "the array's elements are {} but the value is {}",
                    fmt_shape(es),
                    fmt_shape(value.shape())
                ),
            ));
        }
        let mut ta = self.clone();
        let es = value.shape().to_vec();
        if ta.data.is_none() {
            ta.element_shape = Some(es.clone());
            ta.data = Some(ta.zeros(ta.size, &es)?);
        }
        if let Some(i) = index.host(OP)? {
            if i < 0 {
                return Err(Error::invalid(OP, format!("index {i} is negative")));
            }
            let i = i as usize;
            if i >= ta.size {
                if !ta.dynamic_size {
                    return Err(Error::invalid(
                        OP,
                        format!(
                            "index {i} is out of range for a TensorArray of size {} (use \
                             dynamic_size to grow it)",
                            ta.size
                        ),
                    ));
                }
                let grow = ta.zeros(i + 1 - ta.size, &es)?;
                ta.data = Some(ops::concat(&[ta.data.as_ref().unwrap(), &grow], 0)?);
                ta.size = i + 1;
            }
        }
        let data = ta.data.as_ref().unwrap();
        let idx = index.tensor(OP, data.device())?;
        // Positions as a constant `[size, 1, ...]` column: the mask broadcasts over elements.
        let pos: Vec<i32> = (0..ta.size as i32).collect();
        let mut col = vec![ta.size];
        col.extend(es.iter().map(|_| 1));
        let pos = Tensor::from_slice_on(&pos, &col, data.device())?;
        let mask = ops::equal(&pos, &idx)?;
        ta.data = Some(ops::where_(&mask, value, data)?);
        Ok(ta)
    }

    /// Element `index`.
    pub fn read(&self, index: impl Into<IndexArg>) -> Result<Tensor> {
        const OP: &str = "TensorArray.read";
        let index = index.into();
        let Some(data) = &self.data else {
            return Err(Error::invalid(
                OP,
                "nothing was written and the element shape is unknown",
            ));
        };
        if let Some(i) = index.host(OP)?
            && (i < 0 || i as usize >= self.size)
        {
            return Err(Error::invalid(
                OP,
                format!(
                    "index {i} is out of range for a TensorArray of size {}",
                    self.size
                ),
            ));
        }
        let idx = index.tensor(OP, data.device())?;
        ops::gather(data, &idx, 0, 0)
    }

    /// All elements stacked along a new axis 0: `[size, element_shape...]`.
    pub fn stack(&self) -> Result<Tensor> {
        match &self.data {
            Some(d) => Ok(d.clone()),
            None => Err(Error::invalid(
                "TensorArray.stack",
                "nothing was written and the element shape is unknown",
            )),
        }
    }

    /// A new array whose elements are `value`'s slices along axis 0.
    pub fn unstack(&self, value: &Tensor) -> Result<TensorArray> {
        const OP: &str = "TensorArray.unstack";
        self.check_dtype(OP, value)?;
        let Some((&rows, es)) = value.shape().split_first() else {
            return Err(Error::shape(OP, "cannot unstack a scalar"));
        };
        if let Some(want) = &self.element_shape
            && want.as_slice() != es
        {
            return Err(Error::shape(
                OP,
                format!(
                    "the array's elements are {} but the value's are {}",
                    fmt_shape(want),
                    fmt_shape(es)
                ),
            ));
        }
        if !self.dynamic_size && rows != self.size {
            return Err(Error::shape(
                OP,
                format!(
                    "the array has {} elements but the value has {rows}",
                    self.size
                ),
            ));
        }
        Ok(TensorArray {
            dtype: self.dtype,
            size: rows,
            dynamic_size: self.dynamic_size,
            element_shape: Some(es.to_vec()),
            data: Some(value.clone()),
        })
    }
}

impl Structure for TensorArray {
    fn flatten(&self, out: &mut Vec<Tensor>) {
        if let Some(d) = &self.data {
            out.push(d.clone());
        }
    }
    fn rebuild(&self, flat: &mut dyn Iterator<Item = Tensor>) -> Self {
        let mut ta = self.clone();
        if self.data.is_some() {
            let d = flat
                .next()
                .expect("structure has fewer tensors than its template");
            ta.size = d.shape()[0];
            ta.element_shape = Some(d.shape()[1..].to_vec());
            ta.data = Some(d);
        }
        ta
    }
}

/// A control-flow node's kind and output metas for new input metas (re-planning a traced
/// function for new argument shapes).
pub(crate) fn specialize_node(kind: &NodeKind, inputs: &[Meta]) -> Result<(NodeKind, Vec<Meta>)> {
    match kind {
        NodeKind::Cond {
            then_graph,
            else_graph,
        } => {
            let caps = &inputs[1..];
            let t = specialize_body(then_graph, &[], caps)?;
            let e = specialize_body(else_graph, &[], caps)?;
            let (mt, me) = (output_metas(&t), output_metas(&e));
            if mt != me {
                return Err(Error::shape(
                    "cond",
                    "with these argument shapes true_fn and false_fn return different shapes",
                ));
            }
            Ok((
                NodeKind::Cond {
                    then_graph: Box::new(t),
                    else_graph: Box::new(e),
                },
                mt,
            ))
        }
        NodeKind::While {
            cond_graph,
            body_graph,
            loop_vars,
            maximum_iterations,
        } => {
            let (vars, caps) = inputs.split_at(*loop_vars);
            let c = specialize_body(cond_graph, vars, caps)?;
            let b = specialize_body(body_graph, vars, caps)?;
            if output_metas(&b) != vars {
                return Err(Error::shape(
                    "while_loop",
                    "with these argument shapes the body changes a loop variable's shape",
                ));
            }
            Ok((
                NodeKind::While {
                    cond_graph: Box::new(c),
                    body_graph: Box::new(b),
                    loop_vars: *loop_vars,
                    maximum_iterations: *maximum_iterations,
                },
                vars.to_vec(),
            ))
        }
        other => Err(Error::invalid(
            "function",
            format!("'{}' is not a control-flow node", other.name()),
        )),
    }
}

fn specialize_body(g: &Graph, args: &[Meta], caps: &[Meta]) -> Result<Graph> {
    let mut out = g.clone();
    for i in 0..out.nodes.len() {
        let ins: Vec<Meta> = out.nodes[i]
            .inputs
            .iter()
            .map(|&v| out.values[v].clone())
            .collect();
        let n = &mut out.nodes[i];
        let metas = match &n.kind {
            NodeKind::Arg { index, .. } => vec![args[*index].clone()],
            NodeKind::Capture { index } => vec![caps[*index].clone()],
            NodeKind::Op(op) => op.infer(&ins)?,
            NodeKind::Cond { .. } | NodeKind::While { .. } => {
                let (kind, metas) = specialize_node(&n.kind, &ins)?;
                n.kind = kind;
                metas
            }
            NodeKind::Const(_)
            | NodeKind::ReadVariable(_)
            | NodeKind::Print { .. }
            | NodeKind::Effect { .. }
            | NodeKind::Check(_) => continue,
            other => {
                return Err(Error::invalid(
                    "function",
                    format!(
                        "a control-flow body with a '{}' node cannot be re-planned for new shapes",
                        other.name()
                    ),
                ));
            }
        };
        for (&o, m) in n.outputs.clone().iter().zip(metas) {
            out.values[o] = m;
        }
    }
    Ok(out)
}
