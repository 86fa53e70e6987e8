//! Graphs: tracing closures into a typed graph ([`function`]), optimizing it ([`passes`]),
//! and replaying it with a planned executor ([`Plan`]); TF1 graphs and sessions
//! ([`session`]) build and run the same IR.

pub mod control;
pub mod executor;
pub mod function;
pub mod ir;
pub mod passes;
pub mod print;
pub mod session;
pub(crate) mod trace;

pub use control::{
    IndexArg, TensorArray, WhileOptions, cond, for_range, while_loop, while_loop_with,
};
pub use executor::Plan;
pub use function::{
    Arg, ConcreteFunction, Function, Structure, TensorSpec, function, functions_run_eagerly,
    run_functions_eagerly,
};
pub use ir::{Graph, Node, NodeKind, PrintTarget, ValueId};
pub use print::{print, print_to};
pub use trace::{init_scope, is_tracing};

use crate::error::{Error, Result};
use crate::tensor::Tensor;
use ir::{HostEffect, HostValues};

/// The f32 vector `make` computes, as a tensor on the current device. Eagerly that is just
/// the values now; inside a trace it is a node that calls `make` again on every replay, so
/// values that change between calls (a learning rate that depends on the step) are not
/// frozen at trace time. `make` must give the same length every time.
pub fn host_tensor(name: &'static str, make: HostValues) -> Result<Tensor> {
    let values = make()?;
    if !is_tracing() {
        return Tensor::from_slice(&values, [values.len()]);
    }
    let meta = Meta::new([values.len()], crate::dtype::DType::F32);
    let mut outs = trace::add_node(NodeKind::HostTensor { name, make }, &[], vec![meta])?;
    Ok(outs.remove(0))
}

/// Runs `effect` now, or — inside a trace — on every call of the function at this point.
pub fn host_effect(name: &'static str, effect: HostEffect) -> Result<()> {
    if !is_tracing() {
        return effect();
    }
    trace::add_node(NodeKind::Effect { name, run: effect }, &[], vec![]).map(|_| ())
}
use crate::ops::Meta;
use crate::shape::fmt_shape;

/// `g` with its arguments given new shapes and every value's shape inferred again (the
/// closure is not run again). An op that cannot take the new shapes is an error naming it.
pub fn specialize(g: &Graph, arg_shapes: &[Vec<usize>]) -> Result<Graph> {
    let args = g.args();
    if args
        .iter()
        .zip(arg_shapes)
        .all(|(&v, s)| &g.values[v].shape == s)
    {
        return Ok(g.clone());
    }
    let mut out = g.clone();
    for n in &mut out.nodes {
        let metas: Vec<Meta> = match &n.kind {
            NodeKind::Arg { index, .. } => {
                vec![Meta::new(
                    arg_shapes[*index].clone(),
                    out.values[n.outputs[0]].dtype,
                )]
            }
            NodeKind::Op(op) => {
                let ins: Vec<Meta> = n.inputs.iter().map(|&i| out.values[i].clone()).collect();
                op.infer(&ins).map_err(|e| {
                    Error::shape(
                        "function",
                        format!(
                            "the graph cannot be re-planned for argument shapes {}: {e}",
                            arg_shapes
                                .iter()
                                .map(|s| fmt_shape(s))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    )
                })?
            }
            NodeKind::Cond { .. } | NodeKind::While { .. } => {
                let ins: Vec<Meta> = n.inputs.iter().map(|&i| out.values[i].clone()).collect();
                let (kind, metas) = control::specialize_node(&n.kind, &ins)?;
                n.kind = kind;
                metas
            }
            NodeKind::Fused { .. } => {
                return Err(Error::invalid(
                    "function",
                    "an optimized graph cannot be re-planned for new shapes",
                ));
            }
            _ => continue,
        };
        for (&o, m) in n.outputs.iter().zip(metas) {
            out.values[o] = m;
        }
    }
    for (var, v) in &out.variable_writes {
        let m = &out.values[*v];
        if m.shape != var.shape() {
            return Err(Error::shape(
                "function",
                format!(
                    "with these argument shapes the value assigned to '{}' is {}, not the \
                     variable's {}",
                    var.name(),
                    fmt_shape(&m.shape),
                    fmt_shape(&var.shape())
                ),
            ));
        }
    }
    Ok(out)
}

/// The size an unknown (`None`) dimension has while a graph is built: a prime unlikely to
/// be a real size, so that what was computed from it can be found afterwards.
pub const UNKNOWN_DIM: usize = 1009;

/// Where `g` (specialized away from the stand-in sizes) still depends on [`UNKNOWN_DIM`]:
/// a value whose shape keeps it (an op parameter fixed it), or a small constant holding
/// the size or its reciprocal (a gradient's `1/n`). `None` when the graph is free of it.
pub fn fixed_stand_in(g: &Graph) -> Option<String> {
    let n = UNKNOWN_DIM as f64;
    for node in &g.nodes {
        for &o in &node.outputs {
            if g.values[o].shape.contains(&UNKNOWN_DIM) {
                return Some(format!(
                    "'{}' still makes a {} value",
                    node.kind.name(),
                    fmt_shape(&g.values[o].shape)
                ));
            }
        }
        if let NodeKind::Const(t) = &node.kind
            && t.size() <= passes::SMALL_CONSTANT
            && let Ok(words) = t.words()
        {
            let dt = t.dtype();
            let hit = words.into_iter().any(|w| {
                let v = crate::dtype::Scalar::from_bits(dt, w).to_f64().abs();
                (v - n).abs() < 1e-3 * n || (v * n - 1.0).abs() < 1e-4
            });
            if hit {
                return Some(
                    "a constant holds the size (or 1/size) of an unknown dimension".into(),
                );
            }
        }
        for (_, sub) in node.kind.subgraphs() {
            if let Some(found) = fixed_stand_in(sub) {
                return Some(found);
            }
        }
    }
    None
}
