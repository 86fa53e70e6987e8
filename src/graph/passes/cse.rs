//! Common-subexpression elimination: a node computing what an earlier node already computes
//! — the same op on the same input values — is dropped in favour of the earlier one (its
//! readers are rewritten; dead-code elimination removes it).
//!
//! Merged: op nodes with equal ops and inputs, constants holding the same tensor, reads of
//! the same variable (every read sees the value the variable had when the function
//! started; writes land after the last step). Never merged: arguments, prints (and any
//! stateful node), fused kernels, captures and host tensors (recomputed per call).
//!
//! Every op of the catalog is a pure function of its inputs and parameters. The random
//! ops too: they are stateless Philox streams keyed by the op's explicit `seed`, so two
//! random nodes with equal shape, distribution and seed hold the same values, and merging
//! them is what running both would give.

use super::replace_uses;
use crate::error::Result;
use crate::graph::ir::{Graph, NodeKind, ValueId};
use std::collections::HashMap;

/// What makes two nodes equal. Ops are keyed by their `Debug` text, which tells `-0.0` from
/// `0.0` (equal under `PartialEq`, not as fill values); a hit is confirmed with
/// `PartialEq`, which keeps ops with NaN parameters apart.
#[derive(PartialEq, Eq, Hash)]
enum Key {
    Op(String, Vec<ValueId>),
    Const(u64),
    Read(u64),
}

fn key(kind: &NodeKind, inputs: &[ValueId]) -> Option<Key> {
    match kind {
        NodeKind::Op(op) => Some(Key::Op(format!("{op:?}"), inputs.to_vec())),
        NodeKind::Const(t) => Some(Key::Const(t.id())),
        NodeKind::ReadVariable(v) => Some(Key::Read(v.id())),
        NodeKind::Arg { .. }
        | NodeKind::Capture { .. }
        | NodeKind::Fused { .. }
        | NodeKind::Print { .. }
        | NodeKind::HostTensor { .. }
        | NodeKind::Effect { .. }
        | NodeKind::Check(_)
        | NodeKind::Cond { .. }
        | NodeKind::While { .. } => None,
    }
}

pub fn run(g: &mut Graph) -> Result<bool> {
    let mut changed = false;
    let mut first: HashMap<Key, usize> = HashMap::new();
    // In topological order, so each node's inputs are already rewritten to the surviving
    // values when its key is taken, and the survivor precedes every reader it gains.
    for j in 0..g.nodes.len() {
        let n = &g.nodes[j];
        if n.kind.is_stateful() {
            continue;
        }
        let Some(k) = key(&n.kind, &n.inputs) else {
            continue;
        };
        let i = *first.entry(k).or_insert(j);
        if i == j || !same(g, i, j) {
            continue;
        }
        let pairs: Vec<(ValueId, ValueId)> = g.nodes[j]
            .outputs
            .iter()
            .copied()
            .zip(g.nodes[i].outputs.iter().copied())
            .collect();
        for (from, to) in pairs {
            changed |= replace_uses(g, from, to);
        }
    }
    Ok(changed)
}

/// The key's confirmation: equal ops (see [`Key`]) and outputs of equal types.
fn same(g: &Graph, i: usize, j: usize) -> bool {
    let (a, b) = (&g.nodes[i], &g.nodes[j]);
    let kinds = match (&a.kind, &b.kind) {
        (NodeKind::Op(x), NodeKind::Op(y)) => x == y,
        (NodeKind::Const(_), NodeKind::Const(_))
        | (NodeKind::ReadVariable(_), NodeKind::ReadVariable(_)) => true,
        _ => false,
    };
    kinds
        && a.outputs.len() == b.outputs.len()
        && a.outputs
            .iter()
            .zip(&b.outputs)
            .all(|(&x, &y)| g.values[x] == g.values[y])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autodiff::Variable;
    use crate::device::Device;
    use crate::dtype::{DType, Scalar};
    use crate::graph::PrintTarget;
    use crate::ops::{CreateOp, Distribution, ElementwiseOp, Meta, Op, UnaryOp};
    use crate::tensor::Tensor;

    fn arg(i: usize) -> NodeKind {
        NodeKind::Arg {
            index: i,
            name: String::new(),
        }
    }
    fn unary(u: UnaryOp) -> NodeKind {
        NodeKind::Op(Op::Elementwise(ElementwiseOp::Unary(u)))
    }
    fn add() -> NodeKind {
        NodeKind::Op(Op::Elementwise(ElementwiseOp::Binary(
            crate::ops::BinaryOp::Add,
        )))
    }

    #[test]
    fn merges_equal_ops_on_equal_inputs_transitively() {
        let mut g = Graph::new(Device::cpu());
        let m = Meta::new([3], DType::F32);
        let x = g.add(arg(0), vec![], vec![m.clone()])[0];
        let y = g.add(arg(1), vec![], vec![m.clone()])[0];
        let t1 = g.add(unary(UnaryOp::Tanh), vec![x], vec![m.clone()])[0];
        let t2 = g.add(unary(UnaryOp::Tanh), vec![x], vec![m.clone()])[0];
        let ty = g.add(unary(UnaryOp::Tanh), vec![y], vec![m.clone()])[0];
        let e = g.add(unary(UnaryOp::Exp), vec![x], vec![m.clone()])[0];
        // Equal only once t2 became t1.
        let s1 = g.add(add(), vec![t1, e], vec![m.clone()])[0];
        let s2 = g.add(add(), vec![t2, e], vec![m.clone()])[0];
        // Same inputs swapped: not the same node (no commutativity assumed).
        let s3 = g.add(add(), vec![e, t2], vec![m.clone()])[0];
        g.add(
            NodeKind::Print {
                target: PrintTarget::Stdout,
            },
            vec![t2],
            vec![],
        );
        g.outputs = vec![s1, s2, s3, ty, t2];
        assert_eq!(
            g.to_string(),
            "%0 = arg 0 : f32[3]\n%1 = arg 1 : f32[3]\n%2 = tanh(%0) : f32[3]\n\
             %3 = tanh(%0) : f32[3]\n%4 = tanh(%1) : f32[3]\n%5 = exp(%0) : f32[3]\n\
             %6 = add(%2, %5) : f32[3]\n%7 = add(%3, %5) : f32[3]\n%8 = add(%5, %3) : f32[3]\n\
             print(stdout)(%3)\nreturn %6, %7, %8, %4, %3\n"
        );
        assert!(run(&mut g).unwrap());
        assert_eq!(
            g.to_string(),
            "%0 = arg 0 : f32[3]\n%1 = arg 1 : f32[3]\n%2 = tanh(%0) : f32[3]\n\
             %3 = tanh(%0) : f32[3]\n%4 = tanh(%1) : f32[3]\n%5 = exp(%0) : f32[3]\n\
             %6 = add(%2, %5) : f32[3]\n%7 = add(%2, %5) : f32[3]\n%8 = add(%5, %2) : f32[3]\n\
             print(stdout)(%2)\nreturn %6, %6, %8, %4, %2\n"
        );
        assert!(!run(&mut g).unwrap());
        crate::graph::passes::dce::run(&mut g).unwrap();
        assert_eq!(
            g.to_string(),
            "%0 = arg 0 : f32[3]\n%1 = arg 1 : f32[3]\n%2 = tanh(%0) : f32[3]\n\
             %4 = tanh(%1) : f32[3]\n%5 = exp(%0) : f32[3]\n%6 = add(%2, %5) : f32[3]\n\
             %8 = add(%5, %2) : f32[3]\nprint(stdout)(%2)\nreturn %6, %6, %8, %4, %2\n"
        );
    }

    #[test]
    fn merges_reads_of_one_variable_never_args_prints_or_other_variables() {
        let cpu = Device::cpu();
        let mut g = Graph::new(cpu.clone());
        let m = Meta::new([2], DType::F32);
        let zeros = || Tensor::from_slice_on(&[0f32, 0.], [2], &cpu).unwrap();
        let (v, w) = (
            Variable::new(zeros(), "v", true),
            Variable::new(zeros(), "w", true),
        );
        let a0 = g.add(arg(0), vec![], vec![m.clone()])[0];
        let a1 = g.add(arg(0), vec![], vec![m.clone()])[0];
        let rv = g.add(NodeKind::ReadVariable(v.clone()), vec![], vec![m.clone()])[0];
        let rw = g.add(NodeKind::ReadVariable(w), vec![], vec![m.clone()])[0];
        let rv2 = g.add(NodeKind::ReadVariable(v.clone()), vec![], vec![m.clone()])[0];
        for _ in 0..2 {
            g.add(
                NodeKind::Print {
                    target: PrintTarget::Stdout,
                },
                vec![a0],
                vec![],
            );
        }
        g.outputs = vec![a0, a1, rv, rw];
        g.variable_writes = vec![(v, rv2)];
        assert!(run(&mut g).unwrap());
        assert_eq!(
            g.to_string(),
            "%0 = arg 0 : f32[2]\n%1 = arg 0 : f32[2]\n%2 = read_variable \"v\" : f32[2]\n\
             %3 = read_variable \"w\" : f32[2]\n%4 = read_variable \"v\" : f32[2]\n\
             print(stdout)(%0)\nprint(stdout)(%0)\nassign \"v\" <- %2\nreturn %0, %1, %2, %3\n"
        );
    }

    #[test]
    fn merges_constants_by_tensor_and_random_ops_by_seed() {
        let cpu = Device::cpu();
        let mut g = Graph::new(cpu.clone());
        let m = Meta::new([2], DType::F32);
        let t = Tensor::from_slice_on(&[1f32, 2.], [2], &cpu).unwrap();
        let same_values = Tensor::from_slice_on(&[1f32, 2.], [2], &cpu).unwrap();
        let c0 = g.add(NodeKind::Const(t.clone()), vec![], vec![m.clone()])[0];
        let c1 = g.add(NodeKind::Const(t), vec![], vec![m.clone()])[0];
        let c2 = g.add(NodeKind::Const(same_values), vec![], vec![m.clone()])[0];
        let random = |seed| {
            NodeKind::Op(Op::Create(CreateOp::Random {
                shape: vec![2],
                dist: Distribution::Uniform { min: 0.0, max: 1.0 },
                seed,
            }))
        };
        let r0 = g.add(random(7), vec![], vec![m.clone()])[0];
        let r1 = g.add(random(7), vec![], vec![m.clone()])[0];
        let r2 = g.add(random(8), vec![], vec![m.clone()])[0];
        let fill = |v: f32| {
            NodeKind::Op(Op::Create(CreateOp::Fill {
                shape: vec![2],
                value: Scalar::F32(v),
            }))
        };
        // 0.0 == -0.0 under PartialEq, but they are different fills (1/x tells them apart).
        let z0 = g.add(fill(0.0), vec![], vec![m.clone()])[0];
        let z1 = g.add(fill(-0.0), vec![], vec![m.clone()])[0];
        let n0 = g.add(fill(f32::NAN), vec![], vec![m.clone()])[0];
        let n1 = g.add(fill(f32::NAN), vec![], vec![m.clone()])[0];
        g.outputs = vec![c0, c1, c2, r0, r1, r2, z0, z1, n0, n1];
        assert!(run(&mut g).unwrap());
        assert_eq!(
            g.to_string().lines().last().unwrap(),
            "return %0, %0, %2, %3, %3, %5, %6, %7, %8, %9"
        );
        // Merging the equal-seed randoms is right: running both gives the same values.
        let ops = |seed| {
            crate::device::with_device(&cpu, || crate::ops::random_uniform([2], 0.0, 1.0, seed))
                .unwrap()
                .to_f64_vec()
                .unwrap()
        };
        assert_eq!(ops(7), ops(7));
        assert_ne!(ops(7), ops(8));
    }
}
