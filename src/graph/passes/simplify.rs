//! Algebraic simplification: nodes that give back their input, or a chain that one node
//! computes, are rewritten.
//!
//! - `x * 1`, `1 * x`, `x + 0`, `0 + x`, `x - 0`, `x / 1` → `x`, when the constant holds one
//!   value throughout and the result has exactly `x`'s shape and dtype (a constant that
//!   broadcasts `x` up, or a division that changes the dtype, stays). As in TensorFlow's
//!   Grappler, `x + 0` is taken as `x` although IEEE gives `+0` for `-0 + 0`.
//! - `neg(neg(x))` → `x`; `cast(x)` to `x`'s own dtype → `x`.
//! - `transpose(transpose(x, p), q)` → one transpose by the composed permutation, or `x`
//!   when that is the identity (as is a single identity transpose).
//! - `reshape(reshape(x))` → one reshape of `x` to the final shape, or `x` when that is
//!   `x`'s shape (as is a single reshape to the input's shape).
//!
//! "→ `x`" rewrites every reader of the node's value (graph outputs and variable writes too)
//! to read `x`; the node is left for dead-code elimination.
//!
//! A constant's value is known from a `fill` op, or read back from a small constant tensor
//! ([`SMALL_CONSTANT`] elements at most; the browser cannot read back synchronously, so
//! there only fills count).

use super::{SMALL_CONSTANT, replace_uses};
use crate::error::Result;
use crate::graph::ir::{Graph, NodeKind, ValueId};
use crate::ops::{BinaryOp, CreateOp, ElementwiseOp, MovementOp, Op, UnaryOp};
use std::collections::HashMap;

pub fn run(g: &mut Graph) -> Result<bool> {
    // Rewrites change node kinds and inputs, never which node defines a value.
    let producers = g.producers();
    let mut known = Known::default();
    let mut changed = false;
    for i in 0..g.nodes.len() {
        let NodeKind::Op(op) = &g.nodes[i].kind else {
            continue;
        };
        let ins = g.nodes[i].inputs.clone();
        let out = g.nodes[i].outputs[0];
        // The op of the node defining input `k`, if an op node does.
        let input_op = |k: usize| match producers.get(ins[k]).and_then(|&p| g.nodes.get(p)) {
            Some(n) => match &n.kind {
                NodeKind::Op(op) => Some((op, &n.inputs)),
                _ => None,
            },
            None => None,
        };
        let rewrite = match op {
            Op::Elementwise(ElementwiseOp::Binary(b)) => {
                let (x, y) = (ins[0], ins[1]);
                let mut is = |v: ValueId, c: f64| known.uniform(g, &producers, v) == Some(c);
                match b {
                    BinaryOp::Mul if is(y, 1.0) => Rewrite::To(x),
                    BinaryOp::Mul if is(x, 1.0) => Rewrite::To(y),
                    BinaryOp::Add if is(y, 0.0) => Rewrite::To(x),
                    BinaryOp::Add if is(x, 0.0) => Rewrite::To(y),
                    BinaryOp::Sub if is(y, 0.0) => Rewrite::To(x),
                    BinaryOp::Div if is(y, 1.0) => Rewrite::To(x),
                    _ => Rewrite::None,
                }
            }
            Op::Elementwise(ElementwiseOp::Unary(UnaryOp::Neg)) => match input_op(0) {
                Some((Op::Elementwise(ElementwiseOp::Unary(UnaryOp::Neg)), inner)) => {
                    Rewrite::To(inner[0])
                }
                _ => Rewrite::None,
            },
            Op::Elementwise(ElementwiseOp::Cast(to)) if *to == g.values[ins[0]].dtype => {
                Rewrite::To(ins[0])
            }
            Op::Movement(MovementOp::Transpose { perm }) => {
                if is_identity(perm) {
                    Rewrite::To(ins[0])
                } else if let Some((Op::Movement(MovementOp::Transpose { perm: p }), inner)) =
                    input_op(0)
                {
                    // Output axis k is the inner result's axis perm[k], which is x's p[perm[k]].
                    let q: Vec<usize> = perm.iter().map(|&k| p[k]).collect();
                    if is_identity(&q) {
                        Rewrite::To(inner[0])
                    } else {
                        Rewrite::Node(Op::Movement(MovementOp::Transpose { perm: q }), inner[0])
                    }
                } else {
                    Rewrite::None
                }
            }
            Op::Movement(MovementOp::Reshape { .. }) => {
                let shape = &g.values[out].shape;
                if *shape == g.values[ins[0]].shape {
                    Rewrite::To(ins[0])
                } else if let Some((Op::Movement(MovementOp::Reshape { .. }), inner)) = input_op(0)
                {
                    let x = inner[0];
                    if *shape == g.values[x].shape {
                        Rewrite::To(x)
                    } else {
                        let shape = shape.iter().map(|&d| d as i64).collect();
                        Rewrite::Node(Op::Movement(MovementOp::Reshape { shape }), x)
                    }
                } else {
                    Rewrite::None
                }
            }
            _ => Rewrite::None,
        };
        match rewrite {
            Rewrite::None => {}
            // Only a value of exactly the node's type may stand for it.
            Rewrite::To(x) if g.values[x] == g.values[out] => {
                changed |= replace_uses(g, out, x);
            }
            Rewrite::To(_) => {}
            Rewrite::Node(op, x) => {
                // `x` is an input of the node's input, so it precedes the node.
                g.nodes[i].kind = NodeKind::Op(op);
                g.nodes[i].inputs = vec![x];
                changed = true;
            }
        }
    }
    Ok(changed)
}

enum Rewrite {
    None,
    /// The node's value is this value.
    To(ValueId),
    /// The node becomes this op on this single input.
    Node(Op, ValueId),
}

fn is_identity(perm: &[usize]) -> bool {
    perm.iter().enumerate().all(|(i, &p)| i == p)
}

/// Constant values learned during one run, by tensor id (a readback is paid once).
#[derive(Default)]
struct Known(HashMap<u64, Option<f64>>);

impl Known {
    /// The value every element of `v` holds, when `v` is a constant holding one value.
    fn uniform(&mut self, g: &Graph, producers: &[usize], v: ValueId) -> Option<f64> {
        match &g.nodes.get(*producers.get(v)?)?.kind {
            NodeKind::Op(Op::Create(CreateOp::Fill { value, .. })) => Some(value.to_f64()),
            NodeKind::Const(t) => *self.0.entry(t.id()).or_insert_with(|| read_uniform(t)),
            _ => None,
        }
    }
}

fn read_uniform(t: &crate::tensor::Tensor) -> Option<f64> {
    if t.size() == 0 || t.size() > SMALL_CONSTANT {
        return None;
    }
    let v: Vec<f64> = t
        .words()
        .ok()?
        .into_iter()
        .map(|w| crate::dtype::Scalar::from_bits(t.dtype(), w).to_f64())
        .collect();
    v.iter().all(|&x| x == v[0]).then_some(v[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Device;
    use crate::dtype::{DType, Scalar};
    use crate::ops::Meta;
    use crate::tensor::Tensor;

    fn arg(g: &mut Graph, i: usize, m: &Meta) -> ValueId {
        let kind = NodeKind::Arg {
            index: i,
            name: String::new(),
        };
        g.add(kind, vec![], vec![m.clone()])[0]
    }
    fn konst(g: &mut Graph, data: &[f32], shape: &[usize]) -> ValueId {
        let t = Tensor::from_slice_on(data, shape, &Device::cpu()).unwrap();
        let m = Meta::of(&t);
        g.add(NodeKind::Const(t), vec![], vec![m])[0]
    }
    fn op(g: &mut Graph, op: Op, ins: Vec<ValueId>) -> ValueId {
        let metas: Vec<Meta> = ins.iter().map(|&v| g.values[v].clone()).collect();
        let out = op.infer(&metas).unwrap();
        g.add(NodeKind::Op(op), ins, out)[0]
    }
    fn bin(b: BinaryOp) -> Op {
        Op::Elementwise(ElementwiseOp::Binary(b))
    }

    #[test]
    fn drops_identity_arithmetic_with_uniform_constants() {
        let mut g = Graph::new(Device::cpu());
        let m = Meta::new([3], DType::F32);
        let x = arg(&mut g, 0, &m);
        let one = konst(&mut g, &[1.0], &[]);
        let zeros = konst(&mut g, &[0.0, 0.0, 0.0], &[3]);
        let mixed = konst(&mut g, &[1.0, 2.0, 1.0], &[3]);
        let ones_4x3 = op(
            &mut g,
            Op::Create(CreateOp::Fill {
                shape: vec![4, 3],
                value: Scalar::F32(1.0),
            }),
            vec![],
        );
        let a = op(&mut g, bin(BinaryOp::Mul), vec![x, one]);
        let b = op(&mut g, bin(BinaryOp::Add), vec![zeros, a]);
        let c = op(&mut g, bin(BinaryOp::Sub), vec![b, zeros]);
        let d = op(&mut g, bin(BinaryOp::Div), vec![c, one]);
        let e = op(&mut g, bin(BinaryOp::Mul), vec![one, d]);
        let f = op(&mut g, bin(BinaryOp::Add), vec![e, zeros]);
        // Not identities: a constant with two values, one that broadcasts x up, 0 - x, 1 / x.
        let keep1 = op(&mut g, bin(BinaryOp::Mul), vec![f, mixed]);
        let keep2 = op(&mut g, bin(BinaryOp::Mul), vec![f, ones_4x3]);
        let keep3 = op(&mut g, bin(BinaryOp::Sub), vec![zeros, f]);
        let keep4 = op(&mut g, bin(BinaryOp::Div), vec![one, f]);
        g.outputs = vec![f, keep1, keep2, keep3, keep4];
        assert!(run(&mut g).unwrap());
        crate::graph::passes::dce::run(&mut g).unwrap();
        assert_eq!(
            g.to_string(),
            "%0 = arg 0 : f32[3]\n%1 = const : f32[]\n%2 = const : f32[3]\n\
             %3 = const : f32[3]\n%4 = fill : f32[4,3]\n%11 = mul(%0, %3) : f32[3]\n\
             %12 = mul(%0, %4) : f32[4,3]\n%13 = sub(%2, %0) : f32[3]\n\
             %14 = div(%1, %0) : f32[3]\nreturn %0, %11, %12, %13, %14\n"
        );
        assert!(!run(&mut g).unwrap());
    }

    #[test]
    fn integer_identities_hold_too() {
        let mut g = Graph::new(Device::cpu());
        let x = arg(&mut g, 0, &Meta::new([2], DType::I32));
        let one = Tensor::from_slice_on(&[1i32], [], &Device::cpu()).unwrap();
        let one = g.add(
            NodeKind::Const(one),
            vec![],
            vec![Meta::new([], DType::I32)],
        )[0];
        let q = op(&mut g, bin(BinaryOp::Div), vec![x, one]);
        let p = op(&mut g, bin(BinaryOp::Mul), vec![one, x]);
        g.outputs = vec![q, p];
        assert!(run(&mut g).unwrap());
        assert_eq!(g.to_string().lines().last().unwrap(), "return %0, %0");
    }

    #[test]
    fn collapses_negations_casts_transposes_and_reshapes() {
        let mut g = Graph::new(Device::cpu());
        let x = arg(&mut g, 0, &Meta::new([2, 3, 4], DType::F32));
        let neg = || Op::Elementwise(ElementwiseOp::Unary(UnaryOp::Neg));
        let t = |perm: &[usize]| {
            Op::Movement(MovementOp::Transpose {
                perm: perm.to_vec(),
            })
        };
        let r = |shape: &[i64]| {
            Op::Movement(MovementOp::Reshape {
                shape: shape.to_vec(),
            })
        };
        let n1 = op(&mut g, neg(), vec![x]);
        let n2 = op(&mut g, neg(), vec![n1]);
        // neg(neg(neg(x))) is neg(x): the inner pair goes first.
        let n3 = op(&mut g, neg(), vec![n2]);
        let same = op(
            &mut g,
            Op::Elementwise(ElementwiseOp::Cast(DType::F32)),
            vec![x],
        );
        let to_int = op(
            &mut g,
            Op::Elementwise(ElementwiseOp::Cast(DType::I32)),
            vec![x],
        );
        // [2,3,4] -> [4,2,3] -> [3,2,4]; composed: [1,0,2].
        let t1 = op(&mut g, t(&[2, 0, 1]), vec![x]);
        let t2 = op(&mut g, t(&[2, 1, 0]), vec![t1]);
        // Back and forth: the identity.
        let t3 = op(&mut g, t(&[1, 2, 0]), vec![t1]);
        let t4 = op(&mut g, t(&[0, 1, 2]), vec![x]);
        let r1 = op(&mut g, r(&[6, -1]), vec![x]);
        let r2 = op(&mut g, r(&[24]), vec![r1]);
        let r3 = op(&mut g, r(&[2, 3, 4]), vec![r1]);
        let r4 = op(&mut g, r(&[2, 3, -1]), vec![x]);
        g.outputs = vec![n2, n3, same, to_int, t2, t3, t4, r2, r3, r4];
        assert!(run(&mut g).unwrap());
        crate::graph::passes::dce::run(&mut g).unwrap();
        assert_eq!(
            g.to_string(),
            "%0 = arg 0 : f32[2,3,4]\n%3 = neg(%0) : f32[2,3,4]\n%5 = cast(%0) : i32[2,3,4]\n\
             %7 = transpose(%0) : f32[3,2,4]\n%11 = reshape(%0) : f32[24]\n\
             return %0, %3, %0, %5, %7, %0, %0, %11, %0, %0\n"
        );
        let kind = |v: ValueId| match &g.nodes.iter().find(|n| n.outputs == [v]).unwrap().kind {
            NodeKind::Op(op) => op.clone(),
            _ => unreachable!(),
        };
        assert_eq!(kind(t2), t(&[1, 0, 2]));
        assert_eq!(kind(r2), r(&[24]));
        assert!(!run(&mut g).unwrap());
    }
}
