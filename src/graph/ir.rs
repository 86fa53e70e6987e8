//! The graph IR: nodes are ops of the single op catalog (plus graph-only kinds: arguments,
//! captured constants, variable reads, fused kernels, prints), edges are values with static
//! shapes. A traced function, a TF1 `Graph` and (later) a saved model are this structure.

use crate::autodiff::Variable;
use crate::device::Device;
use crate::dtype::DType;
use crate::ops::{Lowering, Meta, Op};
use crate::shape::fmt_shape;
use crate::tensor::Tensor;
use std::fmt::{self, Write as _};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// Index of a value (an edge) in [`Graph::values`].
pub type ValueId = usize;

/// Where a graph `print` writes.
#[derive(Clone)]
pub enum PrintTarget {
    Stdout,
    Stderr,
    Writer(Arc<Mutex<dyn Write + Send>>),
}

impl fmt::Debug for PrintTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PrintTarget::Stdout => "stdout",
            PrintTarget::Stderr => "stderr",
            PrintTarget::Writer(_) => "writer",
        })
    }
}

/// Computes a small tensor's values on the host on every call (see [`NodeKind::HostTensor`]).
pub type HostValues = Arc<dyn Fn() -> crate::error::Result<Vec<f32>> + Send + Sync>;
/// A host side effect of a graph (see [`NodeKind::Effect`]).
pub type HostEffect = Arc<dyn Fn() -> crate::error::Result<()> + Send + Sync>;

/// What a node does.
#[derive(Clone)]
pub enum NodeKind {
    /// Argument `index` of the function (a TF1 placeholder when `name` is set by `placeholder`).
    Arg { index: usize, name: String },
    /// A concrete tensor the trace captured (constants, tensors from outside the closure).
    Const(Tensor),
    /// A value of an enclosing graph used inside a branch or loop body (control flow).
    Capture { index: usize },
    /// The value a variable holds when the function starts.
    ReadVariable(Variable),
    /// An op of the catalog.
    Op(Op),
    /// Several ops fused into the kernels of one lowering.
    Fused {
        name: String,
        ops: Vec<&'static str>,
        lowering: Lowering,
    },
    /// Prints its inputs (space-separated) on every call: TensorFlow's `tf.print`.
    Print { target: PrintTarget },
    /// A small f32 vector computed on the host and uploaded on every call (no kernel): the
    /// values that change between calls, such as an optimizer's step-dependent learning
    /// rate, so that the ops reading them stay static and fusable.
    HostTensor {
        name: &'static str,
        make: HostValues,
    },
    /// A host side effect run at this point of every call (counting optimizer steps).
    Effect { name: &'static str, run: HostEffect },
    /// Checks the values of an op's inputs (its inputs) on every call, before the op runs:
    /// index ranges, as eager calls do (see [`crate::graph::trace::record_check`]).
    Check(Op),
    /// Runs one of two sub-graphs, chosen by input 0 (a scalar read on the host). Inputs 1..
    /// are the values both branches capture (`Capture { index }` is input `1 + index`);
    /// the outputs are the branch's outputs. See [`crate::graph::cond`].
    Cond {
        then_graph: Box<Graph>,
        else_graph: Box<Graph>,
    },
    /// Runs `body_graph` while `cond_graph` returns true (at most `maximum_iterations`
    /// times). Inputs are the `loop_vars` initial values (the sub-graphs' arguments) and
    /// then the captured values; outputs are the loop variables' final values. See
    /// [`crate::graph::while_loop`].
    While {
        cond_graph: Box<Graph>,
        body_graph: Box<Graph>,
        loop_vars: usize,
        maximum_iterations: Option<usize>,
    },
}

impl NodeKind {
    /// A short name for listings.
    pub fn name(&self) -> String {
        match self {
            NodeKind::Arg { name, .. } if !name.is_empty() => format!("placeholder \"{name}\""),
            NodeKind::Arg { index, .. } => format!("arg {index}"),
            NodeKind::Const(_) => "const".into(),
            NodeKind::Capture { index } => format!("capture {index}"),
            NodeKind::ReadVariable(v) => format!("read_variable \"{}\"", v.name()),
            NodeKind::Op(op) => op.name().into(),
            NodeKind::Fused { name, .. } => name.clone(),
            NodeKind::Print { target } => format!("print({target:?})"),
            NodeKind::HostTensor { name, .. } => format!("host {name}"),
            NodeKind::Effect { name, .. } => format!("effect {name}"),
            NodeKind::Check(op) => format!("check {}", op.name()),
            NodeKind::Cond { .. } => "cond".into(),
            NodeKind::While {
                maximum_iterations: Some(n),
                ..
            } => format!("while(maximum_iterations={n})"),
            NodeKind::While { .. } => "while".into(),
        }
    }
    /// Whether the node has an effect beyond its outputs (kept even when nothing uses them).
    pub fn is_stateful(&self) -> bool {
        match self {
            NodeKind::Print { .. } | NodeKind::Effect { .. } | NodeKind::Check(_) => true,
            NodeKind::Cond {
                then_graph: a,
                else_graph: b,
            }
            | NodeKind::While {
                cond_graph: a,
                body_graph: b,
                ..
            } => [a, b]
                .iter()
                .any(|g| g.nodes.iter().any(|n| n.kind.is_stateful())),
            _ => false,
        }
    }
    /// The sub-graphs of a control-flow node, labelled (for listings).
    pub fn subgraphs(&self) -> Vec<(&'static str, &Graph)> {
        match self {
            NodeKind::Cond {
                then_graph,
                else_graph,
            } => vec![("then", then_graph), ("else", else_graph)],
            NodeKind::While {
                cond_graph,
                body_graph,
                ..
            } => vec![("cond", cond_graph), ("body", body_graph)],
            _ => vec![],
        }
    }
}

/// One node: its kind, the values it reads and the values it defines.
#[derive(Clone)]
pub struct Node {
    pub kind: NodeKind,
    pub inputs: Vec<ValueId>,
    pub outputs: Vec<ValueId>,
}

/// A typed dataflow graph in topological order.
#[derive(Clone)]
pub struct Graph {
    pub nodes: Vec<Node>,
    /// The shape and dtype of each value.
    pub values: Vec<Meta>,
    /// The values the function returns.
    pub outputs: Vec<ValueId>,
    /// The value each variable holds when the function returns, for variables it assigned.
    pub variable_writes: Vec<(Variable, ValueId)>,
    /// The device every value lives on.
    pub device: Device,
}

impl Graph {
    pub fn new(device: Device) -> Graph {
        Graph {
            nodes: vec![],
            values: vec![],
            outputs: vec![],
            variable_writes: vec![],
            device,
        }
    }

    /// Appends a node defining values of `metas`; returns their ids.
    pub fn add(&mut self, kind: NodeKind, inputs: Vec<ValueId>, metas: Vec<Meta>) -> Vec<ValueId> {
        let outputs: Vec<ValueId> = metas
            .into_iter()
            .map(|m| {
                self.values.push(m);
                self.values.len() - 1
            })
            .collect();
        self.nodes.push(Node {
            kind,
            inputs,
            outputs: outputs.clone(),
        });
        outputs
    }

    /// The argument values, in argument order.
    pub fn args(&self) -> Vec<ValueId> {
        let mut args: Vec<(usize, ValueId)> = self
            .nodes
            .iter()
            .filter_map(|n| match n.kind {
                NodeKind::Arg { index, .. } => Some((index, n.outputs[0])),
                _ => None,
            })
            .collect();
        args.sort_unstable();
        args.into_iter().map(|(_, v)| v).collect()
    }

    /// For each value, the index of the node defining it.
    pub fn producers(&self) -> Vec<usize> {
        let mut p = vec![usize::MAX; self.values.len()];
        for (i, n) in self.nodes.iter().enumerate() {
            for &o in &n.outputs {
                p[o] = i;
            }
        }
        p
    }

    /// For each value, how many node inputs read it (graph outputs and variable writes not
    /// counted).
    pub fn use_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.values.len()];
        for n in &self.nodes {
            for &i in &n.inputs {
                c[i] += 1;
            }
        }
        c
    }

    /// Values read outside the nodes: outputs and variable writes.
    pub fn roots(&self) -> Vec<ValueId> {
        let mut r = self.outputs.clone();
        r.extend(self.variable_writes.iter().map(|(_, v)| *v));
        r
    }

    /// Reorders nodes so each comes after the producers of its inputs (stable otherwise).
    pub fn toposort(&mut self) {
        let producers = self.producers();
        let n = self.nodes.len();
        let mut done = vec![false; n];
        let mut order = Vec::with_capacity(n);
        fn visit(
            i: usize,
            nodes: &[Node],
            producers: &[usize],
            done: &mut [bool],
            order: &mut Vec<usize>,
        ) {
            // Iterative DFS: graphs of training steps are deep chains.
            let mut stack = vec![(i, 0usize)];
            while let Some((node, k)) = stack.pop() {
                if done[node] {
                    continue;
                }
                if k < nodes[node].inputs.len() {
                    stack.push((node, k + 1));
                    let p = producers[nodes[node].inputs[k]];
                    if p != usize::MAX && !done[p] {
                        stack.push((p, 0));
                    }
                } else {
                    done[node] = true;
                    order.push(node);
                }
            }
        }
        for i in 0..n {
            visit(i, &self.nodes, &producers, &mut done, &mut order);
        }
        let mut old: Vec<Option<Node>> = std::mem::take(&mut self.nodes)
            .into_iter()
            .map(Some)
            .collect();
        self.nodes = order.into_iter().map(|i| old[i].take().unwrap()).collect();
    }

    /// Number of nodes that launch kernels (not arguments, constants or variable reads).
    pub fn op_count(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n.kind, NodeKind::Op(_) | NodeKind::Fused { .. }))
            .count()
    }

    /// Graphviz DOT text: one box per node, edges labelled with dtype and shape.
    pub fn to_dot(&self) -> String {
        let producers = self.producers();
        let mut s = String::from(
            "digraph function {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n",
        );
        for (i, n) in self.nodes.iter().enumerate() {
            let shape = match n.kind {
                NodeKind::Arg { .. } | NodeKind::Capture { .. } => "ellipse",
                NodeKind::Const(_) | NodeKind::ReadVariable(_) => "note",
                _ => "box",
            };
            let label = n.kind.name().replace('"', "\\\"");
            let _ = writeln!(s, "  n{i} [label=\"{label}\", shape={shape}];");
        }
        for (i, n) in self.nodes.iter().enumerate() {
            for &v in &n.inputs {
                let m = &self.values[v];
                let _ = writeln!(
                    s,
                    "  n{} -> n{i} [label=\"{} {}\"];",
                    producers[v],
                    m.dtype,
                    fmt_shape(&m.shape)
                );
            }
        }
        for (k, &v) in self.outputs.iter().enumerate() {
            let _ = writeln!(s, "  out{k} [label=\"output {k}\", shape=ellipse];");
            let _ = writeln!(s, "  n{} -> out{k};", producers[v]);
        }
        for (var, v) in &self.variable_writes {
            let name = var.name().replace('"', "\\\"");
            let _ = writeln!(
                s,
                "  var{v} [label=\"assign \\\"{name}\\\"\", shape=note];\n  n{} -> var{v};",
                producers[*v]
            );
        }
        s.push_str("}\n");
        s
    }
}

fn type_str(m: &Meta) -> String {
    let dt = match m.dtype {
        DType::F32 => "f32",
        DType::I32 => "i32",
        DType::U32 => "u32",
        DType::Bool => "bool",
    };
    let dims: Vec<String> = m.shape.iter().map(|d| d.to_string()).collect();
    format!("{dt}[{}]", dims.join(","))
}

/// The text listing: one line per node, `%v` names values.
///
/// ```text
/// %0 = arg 0 : f32[4]
/// %1 = const : f32[]
/// %2 = Mul(%0, %1) : f32[4]
/// return %2
/// ```
impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for n in &self.nodes {
            let outs: Vec<String> = n.outputs.iter().map(|o| format!("%{o}")).collect();
            let ins: Vec<String> = n.inputs.iter().map(|i| format!("%{i}")).collect();
            let types: Vec<String> = n
                .outputs
                .iter()
                .map(|&o| type_str(&self.values[o]))
                .collect();
            let lhs = if outs.is_empty() {
                String::new()
            } else {
                format!("{} = ", outs.join(", "))
            };
            let args = if ins.is_empty() {
                String::new()
            } else {
                format!("({})", ins.join(", "))
            };
            let ty = if types.is_empty() {
                String::new()
            } else {
                format!(" : {}", types.join(", "))
            };
            writeln!(f, "{lhs}{}{args}{ty}", n.kind.name())?;
            for (label, sub) in n.kind.subgraphs() {
                writeln!(f, "  {label} {{")?;
                for line in sub.to_string().lines() {
                    writeln!(f, "    {line}")?;
                }
                writeln!(f, "  }}")?;
            }
        }
        for (var, v) in &self.variable_writes {
            writeln!(f, "assign \"{}\" <- %{v}", var.name())?;
        }
        let outs: Vec<String> = self.outputs.iter().map(|o| format!("%{o}")).collect();
        writeln!(f, "return {}", outs.join(", "))
    }
}
