//! The planned executor: a graph compiled once into a list of steps with their kernels
//! lowered and prepared (on wgpu: WGSL generated and pipelines compiled while planning),
//! and a replay that dispatches them.
//!
//! Planning decides, for every value, the step after which nothing reads it; a replay drops
//! the value's buffer there, so the device pool hands it to the next allocation of its size
//! class (liveness-based reuse: a replay never holds more than eager execution would). All
//! kernels of a replay are queued on the device without waiting, so on wgpu the whole plan
//! is encoded into one command encoder and submitted once, unless a `print` needs a value.

use super::ir::{Graph, HostEffect, HostValues, NodeKind, PrintTarget, ValueId};
use crate::autodiff::Variable;
use crate::backend::PreparedKernel;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::ops::{Lowering, Meta};
use crate::shape::fmt_shape;
use crate::tensor::Tensor;
use std::sync::{Arc, Mutex};

enum Step {
    Arg {
        index: usize,
        out: ValueId,
    },
    Const {
        tensor: Tensor,
        out: ValueId,
    },
    ReadVariable {
        var: Variable,
        out: ValueId,
    },
    Kernels {
        name: String,
        lowering: Lowering,
        /// The lowering's kernels, ready to dispatch (pipelines compiled while planning).
        prepared: Vec<PreparedKernel>,
        inputs: Vec<ValueId>,
        outputs: Vec<ValueId>,
    },
    Print {
        target: PrintTarget,
        inputs: Vec<ValueId>,
    },
    Check {
        op: crate::ops::Op,
        inputs: Vec<ValueId>,
    },
    HostTensor {
        name: &'static str,
        make: HostValues,
        out: ValueId,
        /// The tensor of the last call, rewritten in place when nothing else holds it: the
        /// kernels reading it then bind the same buffer every call (and keep their bind
        /// groups).
        last: Mutex<Option<Tensor>>,
    },
    Effect {
        name: &'static str,
        run: HostEffect,
    },
    /// A value of the enclosing plan (control-flow bodies).
    Capture {
        index: usize,
        out: ValueId,
    },
    Cond {
        pred: ValueId,
        captures: Vec<ValueId>,
        then_plan: Box<Plan>,
        else_plan: Box<Plan>,
        outputs: Vec<ValueId>,
    },
    While {
        inputs: Vec<ValueId>,
        loop_vars: usize,
        cond_plan: Box<Plan>,
        body_plan: Box<Plan>,
        maximum_iterations: Option<usize>,
        outputs: Vec<ValueId>,
    },
}

/// A compiled graph, ready to replay.
pub struct Plan {
    steps: Vec<Step>,
    /// Values to drop after each step.
    frees: Vec<Vec<ValueId>>,
    metas: Vec<Meta>,
    args: Vec<Meta>,
    outputs: Vec<ValueId>,
    variable_writes: Vec<(Variable, ValueId)>,
    device: Device,
    kernel_steps: usize,
}

impl Plan {
    /// Lowers every node and computes value lifetimes.
    pub fn compile(graph: &Graph) -> Result<Plan> {
        Plan::compile_graph(graph, false)
    }

    /// A control-flow body: optimized here (the passes see only the top-level graph), its
    /// `Capture` nodes bound by [`Plan::run_body`].
    fn compile_body(graph: &Graph) -> Result<Box<Plan>> {
        let mut g = graph.clone();
        super::passes::optimize(&mut g)?;
        Ok(Box::new(Plan::compile_graph(&g, true)?))
    }

    fn compile_graph(graph: &Graph, body: bool) -> Result<Plan> {
        let mut steps = Vec::with_capacity(graph.nodes.len());
        let mut args = vec![];
        for node in &graph.nodes {
            let metas: Vec<Meta> = node
                .outputs
                .iter()
                .map(|&o| graph.values[o].clone())
                .collect();
            let ins: Vec<Meta> = node
                .inputs
                .iter()
                .map(|&i| graph.values[i].clone())
                .collect();
            steps.push(match &node.kind {
                NodeKind::Arg { index, .. } => {
                    if args.len() <= *index {
                        args.resize(index + 1, metas[0].clone());
                    }
                    args[*index] = metas[0].clone();
                    Step::Arg {
                        index: *index,
                        out: node.outputs[0],
                    }
                }
                NodeKind::Const(t) => Step::Const {
                    tensor: t.clone(),
                    out: node.outputs[0],
                },
                NodeKind::Capture { index } if body => Step::Capture {
                    index: *index,
                    out: node.outputs[0],
                },
                NodeKind::Capture { .. } => {
                    return Err(Error::invalid(
                        "function",
                        "a captured value outside a control-flow body",
                    ));
                }
                NodeKind::Cond {
                    then_graph,
                    else_graph,
                } => Step::Cond {
                    pred: node.inputs[0],
                    captures: node.inputs[1..].to_vec(),
                    then_plan: Plan::compile_body(then_graph)?,
                    else_plan: Plan::compile_body(else_graph)?,
                    outputs: node.outputs.clone(),
                },
                NodeKind::While {
                    cond_graph,
                    body_graph,
                    loop_vars,
                    maximum_iterations,
                } => Step::While {
                    inputs: node.inputs.clone(),
                    loop_vars: *loop_vars,
                    cond_plan: Plan::compile_body(cond_graph)?,
                    body_plan: Plan::compile_body(body_graph)?,
                    maximum_iterations: *maximum_iterations,
                    outputs: node.outputs.clone(),
                },
                NodeKind::ReadVariable(v) => Step::ReadVariable {
                    var: v.clone(),
                    out: node.outputs[0],
                },
                NodeKind::Op(op) => kernels_step(graph, op.name(), op.lower(&ins, &metas)?, node)?,
                NodeKind::Fused { name, lowering, .. } => {
                    kernels_step(graph, name, lowering.clone(), node)?
                }
                NodeKind::Print { target } => Step::Print {
                    target: target.clone(),
                    inputs: node.inputs.clone(),
                },
                NodeKind::HostTensor { name, make } => Step::HostTensor {
                    name,
                    make: make.clone(),
                    out: node.outputs[0],
                    last: Mutex::new(None),
                },
                NodeKind::Effect { name, run } => Step::Effect {
                    name,
                    run: run.clone(),
                },
                NodeKind::Check(op) => Step::Check {
                    op: op.clone(),
                    inputs: node.inputs.clone(),
                },
            });
        }
        // Last reader of each value; roots live to the end.
        let mut last = vec![None; graph.values.len()];
        for (i, n) in graph.nodes.iter().enumerate() {
            for &v in &n.inputs {
                last[v] = Some(i);
            }
            for &v in &n.outputs {
                if last[v].is_none() {
                    last[v] = Some(i);
                }
            }
        }
        for v in graph.roots() {
            last[v] = None;
        }
        let mut frees = vec![vec![]; steps.len()];
        for (v, l) in last.into_iter().enumerate() {
            if let Some(i) = l {
                frees[i].push(v);
            }
        }
        let kernel_steps = steps
            .iter()
            .filter(|s| matches!(s, Step::Kernels { .. }))
            .count();
        Ok(Plan {
            steps,
            frees,
            metas: graph.values.clone(),
            args,
            outputs: graph.outputs.clone(),
            variable_writes: graph.variable_writes.clone(),
            device: graph.device.clone(),
            kernel_steps,
        })
    }

    /// Nodes that launch kernels.
    pub fn kernel_steps(&self) -> usize {
        self.kernel_steps
    }

    /// Runs the plan on `args`; returns the outputs (still computing on the device) after
    /// assigning the variables the graph writes.
    pub fn run(&self, args: &[&Tensor]) -> Result<Vec<Tensor>> {
        self.run_body(args, &[])
    }

    /// [`Plan::run`] with the values of a body's captures.
    fn run_body(&self, args: &[&Tensor], captures: &[&Tensor]) -> Result<Vec<Tensor>> {
        if args.len() != self.args.len() {
            return Err(Error::invalid(
                "function",
                format!(
                    "expects {} tensor argument(s), got {}",
                    self.args.len(),
                    args.len()
                ),
            ));
        }
        for (i, (a, m)) in args.iter().zip(&self.args).enumerate() {
            if a.shape() != m.shape.as_slice() || a.dtype() != m.dtype {
                return Err(Error::shape(
                    "function",
                    format!(
                        "argument {i} is {} {} but the graph was traced for {} {}",
                        a.dtype(),
                        fmt_shape(a.shape()),
                        m.dtype,
                        fmt_shape(&m.shape)
                    ),
                ));
            }
            if a.device() != &self.device {
                return Err(Error::invalid(
                    "function",
                    format!(
                        "argument {i} is on {} but the graph runs on {}",
                        a.device(),
                        self.device
                    ),
                ));
            }
        }
        let mut vals: Vec<Option<Tensor>> = vec![None; self.metas.len()];
        let get = |vals: &[Option<Tensor>], v: ValueId| -> Tensor {
            vals[v]
                .clone()
                .expect("plan reads a value before it is written")
        };
        for (step, frees) in self.steps.iter().zip(&self.frees) {
            match step {
                Step::Arg { index, out } => vals[*out] = Some(args[*index].clone()),
                Step::Const { tensor, out } => vals[*out] = Some(tensor.clone()),
                Step::ReadVariable { var, out } => vals[*out] = Some(var.concrete_value()),
                Step::Kernels {
                    name,
                    lowering,
                    prepared,
                    inputs,
                    outputs,
                } => {
                    let ins: Vec<Tensor> = inputs.iter().map(|&i| get(&vals, i)).collect();
                    let refs: Vec<&Tensor> = ins.iter().collect();
                    let metas: Vec<Meta> = outputs.iter().map(|&o| self.metas[o].clone()).collect();
                    let outs =
                        crate::ops::execute(&self.device, lowering, Some(prepared), &refs, &metas)
                            .map_err(|e| prefix(name, e))?;
                    for (o, t) in outputs.iter().zip(outs) {
                        vals[*o] = Some(t);
                    }
                }
                Step::HostTensor {
                    name,
                    make,
                    out,
                    last,
                } => {
                    let values = make()?;
                    let want = &self.metas[*out].shape;
                    if want[..] != [values.len()] {
                        return Err(Error::shape(
                            name,
                            format!(
                                "computed {} values where the graph holds {}",
                                values.len(),
                                fmt_shape(want)
                            ),
                        ));
                    }
                    let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
                    let t = match last.as_ref() {
                        // Only this step holds it: no output or alias of an earlier call can
                        // see the new values (queued reads of them come first on the device).
                        Some(t) if Arc::strong_count(t.buffer()) == 1 => {
                            let words: Vec<u32> = values.iter().map(|v| v.to_bits()).collect();
                            let dev = &self.device.0;
                            dev.backend.write(dev, t.buffer().storage(), &words)?;
                            t.clone()
                        }
                        _ => {
                            let t = Tensor::from_slice_on(&values, [values.len()], &self.device)?;
                            *last = Some(t.clone());
                            t
                        }
                    };
                    vals[*out] = Some(t);
                }
                Step::Effect { name, run } => run().map_err(|e| prefix(name, e))?,
                Step::Check { op, inputs } => {
                    let ins: Vec<Tensor> = inputs.iter().map(|&i| get(&vals, i)).collect();
                    let refs: Vec<&Tensor> = ins.iter().collect();
                    op.check_values(&refs)?;
                }
                Step::Print { target, inputs } => {
                    let ins: Vec<Tensor> = inputs.iter().map(|&i| get(&vals, i)).collect();
                    let refs: Vec<&Tensor> = ins.iter().collect();
                    super::print::write(target, &refs)?;
                }
                Step::Capture { index, out } => vals[*out] = Some(captures[*index].clone()),
                Step::Cond {
                    pred,
                    captures,
                    then_plan,
                    else_plan,
                    outputs,
                } => {
                    let caps: Vec<Tensor> = captures.iter().map(|&i| get(&vals, i)).collect();
                    let refs: Vec<&Tensor> = caps.iter().collect();
                    // The host decides the branch: a sync, as in TensorFlow on a GPU.
                    let plan = if truthy(&get(&vals, *pred))? {
                        then_plan
                    } else {
                        else_plan
                    };
                    let outs = plan.run_body(&[], &refs)?;
                    for (o, t) in outputs.iter().zip(outs) {
                        vals[*o] = Some(t);
                    }
                }
                Step::While {
                    inputs,
                    loop_vars,
                    cond_plan,
                    body_plan,
                    maximum_iterations,
                    outputs,
                } => {
                    let caps: Vec<Tensor> = inputs[*loop_vars..]
                        .iter()
                        .map(|&i| get(&vals, i))
                        .collect();
                    let caps: Vec<&Tensor> = caps.iter().collect();
                    let mut state: Vec<Tensor> = inputs[..*loop_vars]
                        .iter()
                        .map(|&i| get(&vals, i))
                        .collect();
                    let mut done = 0;
                    while maximum_iterations.is_none_or(|m| done < m) {
                        let refs: Vec<&Tensor> = state.iter().collect();
                        if !truthy(&cond_plan.run_body(&refs, &caps)?[0])? {
                            break;
                        }
                        state = body_plan.run_body(&refs, &caps)?;
                        done += 1;
                    }
                    for (o, t) in outputs.iter().zip(state) {
                        vals[*o] = Some(t);
                    }
                }
            }
            for &v in frees {
                vals[v] = None;
            }
        }
        let outs: Vec<Tensor> = self.outputs.iter().map(|&o| get(&vals, o)).collect();
        for (var, v) in &self.variable_writes {
            var.assign(&get(&vals, *v))?;
        }
        Ok(outs)
    }
}

/// A node's kernels step, with its kernels prepared on the graph's device now (an error in
/// one — a WGSL compile error, too many bindings — surfaces while planning).
fn kernels_step(
    graph: &Graph,
    name: &str,
    lowering: Lowering,
    node: &super::ir::Node,
) -> Result<Step> {
    let dev = &graph.device.0;
    let prepared = lowering
        .calls
        .iter()
        .map(|c| dev.backend.prepare(dev, &c.kernel))
        .collect::<Result<Vec<_>>>()
        .map_err(|e| prefix(name, e))?;
    Ok(Step::Kernels {
        name: name.to_string(),
        lowering,
        prepared,
        inputs: node.inputs.clone(),
        outputs: node.outputs.clone(),
    })
}

/// Whether a scalar predicate holds: true, or a nonzero number (reads it to the host).
pub(crate) fn truthy(t: &Tensor) -> Result<bool> {
    Ok(t.first_f64()? != 0.0)
}

/// Names the graph node in a kernel error (the op may be a fused group).
fn prefix(node: &str, e: Error) -> Error {
    match e {
        Error::InvalidArgument { op, msg } => Error::InvalidArgument {
            op: format!("{node}/{op}"),
            msg,
        },
        e => e,
    }
}
