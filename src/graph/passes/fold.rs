//! Constant folding: an op node whose inputs are all constants (or that has no inputs at
//! all: fills, ranges, `eye`, random values) computes the same values on every call, so it
//! runs once while planning and becomes constant nodes. Folding takes nodes in topological
//! order, so whole constant subgraphs fold in one run.
//!
//! Only small results fold ([`SMALL_CONSTANT`] elements over all outputs): a constant is held
//! by the plan for its lifetime, while the op it replaces only holds its output during a
//! call. Random ops fold like the rest: they are stateless Philox streams keyed by their
//! explicit seed, the same values on every run.
//!
//! Folding runs the op eagerly, on the graph's device, through [`crate::ops::apply`]
//! outside any trace and tape. An op that fails there (a value check such as an index out
//! of range, which replays do not make) stays in the graph, so folding never changes what a
//! call does.

use super::SMALL_CONSTANT;
use crate::autodiff::stop_recording;
use crate::device::with_device;
use crate::error::{Error, Result};
use crate::graph::init_scope;
use crate::graph::ir::{Graph, Node, NodeKind, ValueId};
use crate::ops::{Meta, Op};
use crate::shape::fmt_shape;
use crate::tensor::Tensor;
use std::collections::HashMap;

/// Folded results by op text and input values, so that equal nodes fold to the same tensor
/// and common-subexpression elimination can merge their constants.
type Memo = HashMap<(String, Vec<ValueId>), (Op, Vec<Tensor>)>;

pub fn run(g: &mut Graph) -> Result<bool> {
    let mut constant: Vec<Option<Tensor>> = vec![None; g.values.len()];
    for n in &g.nodes {
        if let NodeKind::Const(t) = &n.kind {
            constant[n.outputs[0]] = Some(t.clone());
        }
    }
    // Nodes nothing reads are left to dead-code elimination, not computed.
    let mut used: Vec<bool> = g.use_counts().into_iter().map(|c| c > 0).collect();
    for v in g.roots() {
        used[v] = true;
    }
    let mut memo = Memo::new();
    let mut changed = false;
    let old = std::mem::take(&mut g.nodes);
    let mut nodes = Vec::with_capacity(old.len());
    for n in old {
        let folded = match &n.kind {
            NodeKind::Op(op) if n.outputs.iter().any(|&o| used[o]) => {
                fold(op, &n, &g.values, &constant, &g.device, &mut memo)?
            }
            _ => None,
        };
        match folded {
            Some(ts) => {
                changed = true;
                for (&o, t) in n.outputs.iter().zip(ts) {
                    constant[o] = Some(t.clone());
                    nodes.push(Node {
                        kind: NodeKind::Const(t),
                        inputs: vec![],
                        outputs: vec![o],
                    });
                }
            }
            None => nodes.push(n),
        }
    }
    g.nodes = nodes;
    Ok(changed)
}

/// The node's outputs computed now, or `None` when it does not fold.
fn fold(
    op: &Op,
    n: &Node,
    values: &[Meta],
    constant: &[Option<Tensor>],
    device: &crate::device::Device,
    memo: &mut Memo,
) -> Result<Option<Vec<Tensor>>> {
    let size: usize = n.outputs.iter().map(|&o| values[o].size()).sum();
    let Some(ins) = n
        .inputs
        .iter()
        .map(|&v| constant[v].clone())
        .collect::<Option<Vec<Tensor>>>()
    else {
        return Ok(None);
    };
    if size > SMALL_CONSTANT {
        return Ok(None);
    }
    let key = (format!("{op:?}"), n.inputs.clone());
    if let Some((o, ts)) = memo.get(&key)
        && o == op
    {
        return Ok(Some(ts.clone()));
    }
    let refs: Vec<&Tensor> = ins.iter().collect();
    let run = || with_device(device, || crate::ops::apply(op.clone(), &refs));
    let Ok(ts) = init_scope(|| stop_recording(run)) else {
        return Ok(None);
    };
    for (&o, t) in n.outputs.iter().zip(&ts) {
        let m = &values[o];
        if Meta::of(t) != *m {
            return Err(Error::invalid(
                op.name(),
                format!(
                    "constant folding computed a {} {} value where the graph has {} {}",
                    t.dtype(),
                    fmt_shape(t.shape()),
                    m.dtype,
                    fmt_shape(&m.shape)
                ),
            ));
        }
    }
    memo.insert(key, (op.clone(), ts.clone()));
    Ok(Some(ts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Device;
    use crate::dtype::{DType, Scalar};
    use crate::ops::{
        BinaryOp, CreateOp, ElementwiseOp, GatherOp, MovementOp, TrainingOp, UnaryOp,
    };

    fn konst(g: &mut Graph, data: &[f32], shape: &[usize]) -> ValueId {
        let t = Tensor::from_slice_on(data, shape, &Device::cpu()).unwrap();
        let m = Meta::of(&t);
        g.add(NodeKind::Const(t), vec![], vec![m])[0]
    }
    fn binary(b: BinaryOp) -> NodeKind {
        NodeKind::Op(Op::Elementwise(ElementwiseOp::Binary(b)))
    }
    /// The values of the constant node defining `v`.
    fn value(g: &Graph, v: ValueId) -> Vec<f64> {
        let n = g.nodes.iter().find(|n| n.outputs.contains(&v)).unwrap();
        match &n.kind {
            NodeKind::Const(t) => t.to_f64_vec().unwrap(),
            _ => panic!("%{v} is not a constant: {}", n.kind.name()),
        }
    }

    #[test]
    fn folds_constant_subgraphs_and_creation_ops() {
        let mut g = Graph::new(Device::cpu());
        let m3 = Meta::new([3], DType::F32);
        let x = g.add(
            NodeKind::Arg {
                index: 0,
                name: String::new(),
            },
            vec![],
            vec![m3.clone()],
        )[0];
        let c = konst(&mut g, &[1.0, 2.0, 3.0], &[3]);
        let two = konst(&mut g, &[2.0], &[]);
        let ones = g.add(
            NodeKind::Op(Op::Create(CreateOp::Fill {
                shape: vec![3],
                value: Scalar::F32(1.0),
            })),
            vec![],
            vec![m3.clone()],
        )[0];
        let prod = g.add(binary(BinaryOp::Mul), vec![c, two], vec![m3.clone()])[0];
        let sum = g.add(binary(BinaryOp::Add), vec![prod, ones], vec![m3.clone()])[0];
        let y = g.add(binary(BinaryOp::Add), vec![x, sum], vec![m3.clone()])[0];
        let exp = NodeKind::Op(Op::Elementwise(ElementwiseOp::Unary(UnaryOp::Exp)));
        let _dead = g.add(exp, vec![c], vec![m3.clone()])[0];
        let big = g.add(
            NodeKind::Op(Op::Create(CreateOp::Fill {
                shape: vec![SMALL_CONSTANT + 1],
                value: Scalar::F32(0.0),
            })),
            vec![],
            vec![Meta::new([SMALL_CONSTANT + 1], DType::F32)],
        )[0];
        g.outputs = vec![y, big];
        assert_eq!(
            g.to_string(),
            "%0 = arg 0 : f32[3]\n%1 = const : f32[3]\n%2 = const : f32[]\n\
             %3 = fill : f32[3]\n%4 = mul(%1, %2) : f32[3]\n%5 = add(%4, %3) : f32[3]\n\
             %6 = add(%0, %5) : f32[3]\n%7 = exp(%1) : f32[3]\n%8 = fill : f32[4097]\n\
             return %6, %8\n"
        );
        assert!(run(&mut g).unwrap());
        assert_eq!(
            g.to_string(),
            "%0 = arg 0 : f32[3]\n%1 = const : f32[3]\n%2 = const : f32[]\n\
             %3 = const : f32[3]\n%4 = const : f32[3]\n%5 = const : f32[3]\n\
             %6 = add(%0, %5) : f32[3]\n%7 = exp(%1) : f32[3]\n%8 = fill : f32[4097]\n\
             return %6, %8\n"
        );
        assert_eq!(value(&g, sum), [3.0, 5.0, 7.0]);
        assert!(!run(&mut g).unwrap());
    }

    #[test]
    fn folds_each_output_of_a_multi_output_op() {
        let mut g = Graph::new(Device::cpu());
        let m = Meta::new([2], DType::F32);
        let var = konst(&mut g, &[1.0, 2.0], &[2]);
        let grad = konst(&mut g, &[10.0, 20.0], &[2]);
        let mom = konst(&mut g, &[1.0, 1.0], &[2]);
        let sgd = Op::Training(TrainingOp::Sgd {
            lr: 0.1,
            momentum: Some(0.5),
            nesterov: false,
            weight_decay: None,
        });
        let outs = g.add(NodeKind::Op(sgd), vec![var, grad, mom], vec![m.clone(), m]);
        g.outputs = outs.clone();
        assert!(run(&mut g).unwrap());
        assert_eq!(
            g.to_string(),
            "%0 = const : f32[2]\n%1 = const : f32[2]\n%2 = const : f32[2]\n\
             %3 = const : f32[2]\n%4 = const : f32[2]\nreturn %3, %4\n"
        );
        // m = 0.5 * m - 0.1 * g; var += m.
        assert_eq!(value(&g, outs[1]), [0.5 - 1.0, 0.5 - 2.0]);
        assert_eq!(value(&g, outs[0]), [1.0 - 0.5, 2.0 - 1.5]);
    }

    #[test]
    fn leaves_ops_that_fail_eagerly_and_shares_equal_folds() {
        let mut g = Graph::new(Device::cpu());
        let params = konst(&mut g, &[1.0, 2.0, 3.0], &[3]);
        let idx = Tensor::from_slice_on(&[5i32], [1], &Device::cpu()).unwrap();
        let idx = g.add(
            NodeKind::Const(idx),
            vec![],
            vec![Meta::new([1], DType::I32)],
        )[0];
        let gather = Op::Movement(MovementOp::Gather(GatherOp::Gather {
            axis: 0,
            batch_dims: 0,
        }));
        let out = g.add(
            NodeKind::Op(gather),
            vec![params, idx],
            vec![Meta::new([1], DType::F32)],
        )[0];
        let range = || {
            NodeKind::Op(Op::Create(CreateOp::Range {
                start: Scalar::I32(0),
                delta: Scalar::I32(2),
                len: 3,
            }))
        };
        let r0 = g.add(range(), vec![], vec![Meta::new([3], DType::I32)])[0];
        let r1 = g.add(range(), vec![], vec![Meta::new([3], DType::I32)])[0];
        g.outputs = vec![out, r0, r1];
        assert!(run(&mut g).unwrap());
        assert_eq!(
            g.to_string(),
            "%0 = const : f32[3]\n%1 = const : i32[1]\n%2 = gather(%0, %1) : f32[1]\n\
             %3 = const : i32[3]\n%4 = const : i32[3]\nreturn %2, %3, %4\n"
        );
        assert_eq!(value(&g, r0), [0.0, 2.0, 4.0]);
        let id = |v: ValueId| match &g.nodes.iter().find(|n| n.outputs == [v]).unwrap().kind {
            NodeKind::Const(t) => t.id(),
            _ => unreachable!(),
        };
        assert_eq!(id(r0), id(r1));
    }
}
