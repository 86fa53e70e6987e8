//! Graph optimization passes, each a function `&mut Graph -> Result<bool>` (whether it
//! changed anything) in its own module with its own tests. Rewriting passes leave the nodes
//! they make unused in place; dead-code elimination removes them.

pub mod cse;
pub mod dce;
pub mod fold;
pub mod fusion;
pub mod literals;
pub mod simplify;

use super::ir::{Graph, ValueId};
use crate::error::Result;

/// The most elements a constant may have for the passes to compute it at compile time or
/// read it back: small enough that keeping it in the plan, or one readback while planning,
/// costs nothing worth measuring.
pub const SMALL_CONSTANT: usize = 4096;

/// Rounds of simplify/fold/cse at most: each can expose work for the others (a folded
/// `ones` makes `x * 1`, merged nodes make `neg(neg(x))`), but a few rounds reach the end.
const MAX_ROUNDS: usize = 4;

/// The standard pipeline, in order.
pub fn optimize(g: &mut Graph) -> Result<()> {
    for _ in 0..MAX_ROUNDS {
        let mut changed = simplify::run(g)?;
        changed |= fold::run(g)?;
        changed |= cse::run(g)?;
        if !changed {
            break;
        }
    }
    dce::run(g)?;
    let max_bindings = g.device.max_kernel_bindings();
    // Column sums first too: elementwise fusion would copy the matrix's producer into the
    // reduction, which then no longer reads what the matmul reads.
    while fusion::run_column_sums(g)? {
        dce::run(g)?;
    }
    if fusion::run(g, max_bindings)? {
        dce::run(g)?;
    }
    while fusion::run_column_sums(g)? {
        dce::run(g)?;
    }
    // A multi-output producer (a matmul with column sums) takes one epilogue per run.
    while fusion::run_epilogues(g, max_bindings)? {
        dce::run(g)?;
    }
    while fusion::run_map_tails(g, max_bindings)? {
        dce::run(g)?;
    }
    if fusion::run_operands(g, max_bindings)? {
        dce::run(g)?;
    }
    while fusion::run_siblings(g, max_bindings)? {}
    if literals::run(g)? {
        dce::run(g)?;
    }
    Ok(())
}

/// Makes every reader of value `from` — node inputs, graph outputs, variable writes — read
/// `to` instead; returns whether there was any. `to` must be defined before every reader of
/// `from` (it is when defined before `from`'s producer), so the order stays topological.
pub fn replace_uses(g: &mut Graph, from: ValueId, to: ValueId) -> bool {
    if from == to {
        return false;
    }
    let mut changed = false;
    let mut swap = |v: &mut ValueId| {
        if *v == from {
            *v = to;
            changed = true;
        }
    };
    for n in &mut g.nodes {
        n.inputs.iter_mut().for_each(&mut swap);
    }
    g.outputs.iter_mut().for_each(&mut swap);
    g.variable_writes.iter_mut().for_each(|(_, v)| swap(v));
    changed
}

/// Whether any value in `to` depends on a value in `from` (is computed from it, or is it).
/// Nodes must be in topological order. A rewrite that makes one node produce `from` and
/// read `to` would make a cycle.
pub fn reaches(g: &Graph, from: &[ValueId], to: &[ValueId]) -> bool {
    let mut reached = vec![false; g.values.len()];
    for &v in from {
        reached[v] = true;
    }
    for n in &g.nodes {
        if n.inputs.iter().any(|&i| reached[i]) {
            for &o in &n.outputs {
                reached[o] = true;
            }
        }
    }
    to.iter().any(|&v| reached[v])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Device;
    use crate::dtype::DType;
    use crate::graph::ir::NodeKind;
    use crate::ops::{ElementwiseOp, Meta, Op, UnaryOp};

    #[test]
    fn replace_uses_rewrites_inputs_outputs_and_variable_writes() {
        let mut g = Graph::new(Device::cpu());
        let m = Meta::new([2], DType::F32);
        let arg = |i| NodeKind::Arg {
            index: i,
            name: String::new(),
        };
        let x = g.add(arg(0), vec![], vec![m.clone()])[0];
        let y = g.add(arg(1), vec![], vec![m.clone()])[0];
        let neg = NodeKind::Op(Op::Elementwise(ElementwiseOp::Unary(UnaryOp::Neg)));
        let a = g.add(neg.clone(), vec![y], vec![m.clone()])[0];
        g.add(neg, vec![y], vec![m]);
        let zeros = crate::tensor::Tensor::from_slice_on(&[0f32, 0.], [2], &Device::cpu());
        let var = crate::autodiff::Variable::new(zeros.unwrap(), "v", true);
        g.variable_writes = vec![(var, y)];
        g.outputs = vec![y, a];
        assert!(replace_uses(&mut g, y, x));
        assert!(!replace_uses(&mut g, y, x));
        assert_eq!(
            g.to_string(),
            "%0 = arg 0 : f32[2]\n%1 = arg 1 : f32[2]\n%2 = neg(%0) : f32[2]\n\
             %3 = neg(%0) : f32[2]\nassign \"v\" <- %0\nreturn %0, %2\n"
        );
    }
}
