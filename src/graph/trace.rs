//! Tracing: while a trace is active on this thread, [`crate::ops::apply`] records a graph
//! node instead of running, and returns symbolic tensors. Concrete tensors an op reads are
//! captured as constants; variables are read and assigned symbolically (the graph's
//! variable writes take effect when the function runs).

use super::ir::{Graph, NodeKind, PrintTarget, ValueId};
use crate::autodiff::Variable;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::ops::{Meta, Op};
use crate::tensor::Tensor;
use std::cell::RefCell;
use std::collections::HashMap;

/// A graph under construction and how tensors and variables map to its values.
pub(crate) struct Trace {
    pub graph: Graph,
    /// Tensor id → value, for symbolic tensors made by this trace and captured ones.
    values: HashMap<u64, ValueId>,
    /// Variable id → the value it holds at this point of the trace.
    variables: HashMap<u64, ValueId>,
    /// Tensors of enclosing traces used here, in capture order (control-flow bodies).
    pub captures: Vec<Tensor>,
    /// A control-flow body (branch, loop cond or body): variables it reads are captured
    /// from the enclosing trace instead of read when the function starts.
    body: bool,
    /// Variable id → the enclosing trace's tensor for it (bodies; reads before any write).
    var_captures: HashMap<u64, Tensor>,
    /// The TF1 graph ([`super::session`]) this trace builds, which keeps it between its
    /// `as_default` blocks; 0 for functions and control-flow bodies.
    pub owner: u64,
}

impl Trace {
    fn new(device: Device, body: bool, owner: u64) -> Trace {
        Trace {
            graph: Graph::new(device),
            values: HashMap::new(),
            variables: HashMap::new(),
            captures: vec![],
            body,
            var_captures: HashMap::new(),
            owner,
        }
    }

    /// The trace of a TF1 graph: the graph puts it on the stack with [`resume`].
    pub(crate) fn for_graph(device: Device, owner: u64) -> Trace {
        Trace::new(device, false, owner)
    }

    /// The value of `t` in this trace, if the trace made or captured it.
    pub(crate) fn value_id(&self, t: &Tensor) -> Option<ValueId> {
        self.values.get(&t.id()).copied()
    }
}

thread_local! {
    static TRACES: RefCell<Vec<Trace>> = const { RefCell::new(Vec::new()) };
}

/// Whether ops on this thread are being recorded into a graph.
pub fn is_tracing() -> bool {
    TRACES.with(|t| !t.borrow().is_empty())
}

/// Starts a trace on `device`; ops record into it until [`end`].
pub(crate) fn begin(device: Device) {
    push(device, false);
}

fn push(device: Device, body: bool) {
    TRACES.with(|t| t.borrow_mut().push(Trace::new(device, body, 0)));
}

/// Puts a trace back on the stack: a TF1 graph entering an `as_default` block again.
pub(crate) fn resume(trace: Trace) {
    TRACES.with(|t| t.borrow_mut().push(trace));
}

/// Removes the trace of TF1 graph `owner` from the stack; returns its position with it.
pub(crate) fn take_owned(owner: u64) -> Option<(usize, Trace)> {
    TRACES.with(|t| {
        let mut t = t.borrow_mut();
        let i = t.iter().position(|x| x.owner == owner)?;
        Some((i, t.remove(i)))
    })
}

/// Puts a trace taken by [`take_owned`] back where it was.
pub(crate) fn restore_at(index: usize, trace: Trace) {
    TRACES.with(|t| t.borrow_mut().insert(index, trace));
}

/// Runs `f` on the trace of TF1 graph `owner` if it is on the stack.
pub(crate) fn with_owned<R>(owner: u64, f: impl FnOnce(&Trace) -> R) -> Option<R> {
    TRACES.with(|t| t.borrow().iter().find(|x| x.owner == owner).map(f))
}

/// The owner of the innermost trace (0: a function or a body); `None` when not tracing.
pub(crate) fn innermost_owner() -> Option<u64> {
    TRACES.with(|t| t.borrow().last().map(|t| t.owner))
}

/// The device of the innermost trace.
pub(crate) fn device() -> Option<Device> {
    TRACES.with(|t| t.borrow().last().map(|t| t.graph.device.clone()))
}

/// Ends the innermost trace and returns it.
pub(crate) fn end() -> Trace {
    TRACES.with(|t| t.borrow_mut().pop().expect("end without begin"))
}

/// Ends the innermost trace when dropped (also on panic or early return).
pub(crate) struct TraceGuard {
    done: bool,
}
impl TraceGuard {
    pub fn begin(device: Device) -> TraceGuard {
        begin(device);
        TraceGuard { done: false }
    }
    /// Starts the trace of a control-flow body nested in the current trace: outer tensors
    /// and variables it uses become captures.
    pub fn begin_body(device: Device) -> TraceGuard {
        push(device, true);
        TraceGuard { done: false }
    }
    pub fn finish(mut self) -> Trace {
        self.done = true;
        end()
    }
}
impl Drop for TraceGuard {
    fn drop(&mut self) {
        if !self.done {
            end();
        }
    }
}

/// Runs `f` outside every active trace: its ops run eagerly (TensorFlow's `tf.init_scope`),
/// e.g. to create an optimizer's slot variables on the first trace of a training step.
pub fn init_scope<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(Vec<Trace>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let saved = std::mem::take(&mut self.0);
            TRACES.with(|t| {
                let mut t = t.borrow_mut();
                let inner = std::mem::replace(&mut *t, saved);
                t.extend(inner);
            });
        }
    }
    let _restore = Restore(TRACES.with(|t| std::mem::take(&mut *t.borrow_mut())));
    f()
}

/// Makes a symbolic tensor for the new value `v` of the innermost trace.
fn symbolic(trace: &mut Trace, v: ValueId) -> Tensor {
    let m = &trace.graph.values[v];
    let t = Tensor::symbolic(m.shape.clone(), m.dtype, trace.graph.device.clone());
    trace.values.insert(t.id(), v);
    t
}

/// The value of `t` in trace `depth` of `stack`, capturing it if needed: a concrete tensor
/// becomes a constant, a tensor of an enclosing trace becomes a capture.
fn value_of(stack: &mut [Trace], depth: usize, t: &Tensor) -> Result<ValueId> {
    if let Some(&v) = stack[depth].values.get(&t.id()) {
        return Ok(v);
    }
    if t.device() != &stack[depth].graph.device && !t.is_symbolic() {
        return Err(Error::invalid(
            "function",
            format!(
                "a tensor on {} was used in a function traced on {}: copy it with Tensor::on",
                t.device(),
                stack[depth].graph.device
            ),
        ));
    }
    let kind = if !t.is_symbolic() {
        NodeKind::Const(t.clone())
    } else if depth > 0 && stack[depth].body && value_of_outer(stack, depth - 1, t) {
        // Only bodies capture: a function or TF1 graph traced inside another trace cannot
        // compile a capture, so the outer tensor is an error here rather than at planning.
        let trace = &mut stack[depth];
        trace.captures.push(t.clone());
        NodeKind::Capture {
            index: trace.captures.len() - 1,
        }
    } else {
        return Err(Error::invalid(
            "function",
            format!(
                "a symbolic {} {} tensor of another function or graph was used here: tensors \
                 made while tracing a function cannot leave it (return them instead)",
                t.dtype(),
                crate::shape::fmt_shape(t.shape())
            ),
        ));
    };
    let trace = &mut stack[depth];
    let v = trace.graph.add(kind, vec![], vec![Meta::of(t)])[0];
    trace.values.insert(t.id(), v);
    Ok(v)
}

/// Whether `t` is (or can be captured as) a value of trace `depth`.
fn value_of_outer(stack: &mut [Trace], depth: usize, t: &Tensor) -> bool {
    value_of(stack, depth, t).is_ok()
}

/// The value of `t` in the innermost trace.
pub(crate) fn value(t: &Tensor) -> Result<ValueId> {
    TRACES.with(|s| {
        let mut s = s.borrow_mut();
        let depth = s.len() - 1;
        value_of(&mut s, depth, t)
    })
}

/// Adds a node to the innermost trace; returns symbolic tensors for its outputs.
pub(crate) fn add_node(
    kind: NodeKind,
    inputs: &[&Tensor],
    metas: Vec<Meta>,
) -> Result<Vec<Tensor>> {
    TRACES.with(|s| {
        let mut s = s.borrow_mut();
        let depth = s.len() - 1;
        let ins = inputs
            .iter()
            .map(|t| value_of(&mut s, depth, t))
            .collect::<Result<Vec<_>>>()?;
        let trace = &mut s[depth];
        let outs = trace.graph.add(kind, ins, metas);
        Ok(outs.into_iter().map(|v| symbolic(trace, v)).collect())
    })
}

/// Records a run-time check of `op`'s input values (indices in range) in the innermost
/// trace, when it runs on the CPU, where reading the values costs nothing. On a GPU the
/// check would wait for the device on every call; there, as TensorFlow's GPU kernels,
/// a traced function does not check (eager calls always do).
pub(crate) fn record_check(op: &Op, inputs: &[&Tensor]) -> Result<()> {
    let on_cpu = TRACES.with(|s| s.borrow().last().is_some_and(|t| t.graph.device.is_cpu()));
    if on_cpu {
        add_node(NodeKind::Check(op.clone()), inputs, vec![])?;
    }
    Ok(())
}

/// Records `op` on `inputs` (the tracing half of [`crate::ops::apply`]).
pub(crate) fn record_op(op: Op, inputs: &[&Tensor], metas: Vec<Meta>) -> Result<Vec<Tensor>> {
    add_node(NodeKind::Op(op), inputs, metas)
}

/// A symbolic tensor for the argument `index` of the innermost trace.
pub(crate) fn arg(index: usize, name: &str, meta: Meta) -> Tensor {
    TRACES.with(|s| {
        let mut s = s.borrow_mut();
        let trace = s.last_mut().expect("arg outside a trace");
        let v = trace.graph.add(
            NodeKind::Arg {
                index,
                name: name.to_string(),
            },
            vec![],
            vec![meta],
        )[0];
        symbolic(trace, v)
    })
}

/// The variable's value at this point of the innermost trace (a symbolic tensor), or `None`
/// when not tracing.
pub(crate) fn read_variable(var: &Variable, concrete: &Tensor) -> Option<Tensor> {
    TRACES.with(|s| {
        let mut s = s.borrow_mut();
        let depth = s.len().checked_sub(1)?;
        Some(read_variable_at(&mut s, depth, var, concrete))
    })
}

/// The variable's value in trace `depth`. A control-flow body that has not assigned the
/// variable gets the enclosing trace's tensor itself (captured): a read at the start of the
/// function would miss assignments made before the body, and tapes see the read through
/// the control-flow node's inputs.
fn read_variable_at(
    stack: &mut [Trace],
    depth: usize,
    var: &Variable,
    concrete: &Tensor,
) -> Tensor {
    let trace = &mut stack[depth];
    if let Some(&v) = trace.variables.get(&var.id()) {
        return symbolic(trace, v);
    }
    if trace.body && depth > 0 {
        if let Some(t) = trace.var_captures.get(&var.id()) {
            return t.clone();
        }
        let outer = read_variable_at(stack, depth - 1, var, concrete);
        value_of(stack, depth, &outer).expect("a value of the enclosing trace can be captured");
        stack[depth].var_captures.insert(var.id(), outer.clone());
        return outer;
    }
    let v = trace.graph.add(
        NodeKind::ReadVariable(var.clone()),
        vec![],
        vec![Meta::of(concrete)],
    )[0];
    trace.variables.insert(var.id(), v);
    symbolic(trace, v)
}

/// Records an assignment in the innermost trace; `None` when not tracing.
pub(crate) fn write_variable(var: &Variable, value: &Tensor) -> Option<Result<()>> {
    if !is_tracing() {
        return None;
    }
    Some(TRACES.with(|s| {
        let mut s = s.borrow_mut();
        let depth = s.len() - 1;
        if s[depth].owner != 0 {
            // TF1 assignments are ops that run when fetched; an in-place write has no handle.
            return Err(Error::invalid(
                "assign",
                format!(
                    "variable '{}' cannot be assigned in place while building a v1 Graph: use \
                     compat::v1::assign and fetch its result to run the assignment",
                    var.name()
                ),
            ));
        }
        let v = value_of(&mut s, depth, value)?;
        let trace = &mut s[depth];
        trace.variables.insert(var.id(), v);
        let writes = &mut trace.graph.variable_writes;
        match writes.iter_mut().find(|(w, _)| w.id() == var.id()) {
            Some(w) => w.1 = v,
            None => writes.push((var.clone(), v)),
        }
        Ok(())
    }))
}

/// A new symbolic tensor for the same value as `t` (no gradient flows through the new id);
/// `None` when `t` is not a value of the innermost trace.
pub(crate) fn alias(t: &Tensor) -> Option<Tensor> {
    TRACES.with(|s| {
        let mut s = s.borrow_mut();
        let trace = s.last_mut()?;
        let v = *trace.values.get(&t.id())?;
        Some(symbolic(trace, v))
    })
}

/// Records a print of `inputs` in the innermost trace.
pub(crate) fn record_print(inputs: &[&Tensor], target: PrintTarget) -> Result<()> {
    add_node(NodeKind::Print { target }, inputs, vec![]).map(|_| ())
}
