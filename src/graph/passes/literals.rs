//! Scalar constants into kernels: a one-element constant that a fused kernel reads only as
//! a scalar becomes a literal in the kernel's expression instead of a bound buffer. The
//! kernel binds fewer buffers (some devices allow only 8), and the shader compiler folds the
//! value (`x * 1.5` compiles to a multiply by an immediate, not a load per invocation).
//! Runs last: fusion decides what shares a kernel first.

use crate::dtype::Scalar;
use crate::error::Result;
use crate::graph::ir::{Graph, NodeKind};
use crate::graph::passes::fusion::{renumber_loads, renumber_operand};
use crate::kernel::ir::{Expr, Index, Kernel, Node, Operand, Patches};
use crate::ops::Buf;
use crate::tensor::Tensor;

pub fn run(g: &mut Graph) -> Result<bool> {
    let producers = g.producers();
    let mut changed = false;
    for c in 0..g.nodes.len() {
        // A plain op reading a constant becomes a one-op fused node holding its lowering.
        if let NodeKind::Op(op) = &g.nodes[c].kind
            && g.nodes[c].inputs.iter().any(
                |&v| matches!(g.nodes[producers[v]].kind, NodeKind::Const(ref t) if t.size() == 1),
            )
        {
            let n = &g.nodes[c];
            let ins: Vec<_> = n.inputs.iter().map(|&i| g.values[i].clone()).collect();
            let outs: Vec<_> = n.outputs.iter().map(|&o| g.values[o].clone()).collect();
            let lowering = op.lower(&ins, &outs)?;
            g.nodes[c].kind = NodeKind::Fused {
                name: op.name().to_string(),
                ops: vec![op.name()],
                lowering,
            };
        }
        let NodeKind::Fused { lowering, .. } = &g.nodes[c].kind else {
            continue;
        };
        if lowering.alias.is_some() || !lowering.temps.is_empty() || lowering.calls.len() != 1 {
            continue;
        }
        let mut low = lowering.clone();
        let mut inputs = g.nodes[c].inputs.clone();
        // From the last input down, so removing one keeps the earlier positions.
        for i in (0..inputs.len()).rev() {
            let p = producers[inputs[i]];
            let NodeKind::Const(t) = &g.nodes[p].kind else {
                continue;
            };
            let call = &mut low.calls[0];
            let Some(k) = call.inputs.iter().position(|b| *b == Buf::In(i)) else {
                continue;
            };
            if call.inputs.iter().filter(|b| **b == Buf::In(i)).count() > 1 {
                continue;
            }
            let Some(value) = scalar_value(t) else {
                continue;
            };
            if !inline_scalar(&mut call.kernel, k as u32, value) {
                continue;
            }
            call.inputs.remove(k);
            for b in &mut call.inputs {
                if let Buf::In(m) = b
                    && *m > i
                {
                    *m -= 1;
                }
            }
            inputs.remove(i);
            changed = true;
        }
        if inputs.len() != g.nodes[c].inputs.len() {
            let NodeKind::Fused { lowering, .. } = &mut g.nodes[c].kind else {
                unreachable!("checked above")
            };
            *lowering = low;
            g.nodes[c].inputs = inputs;
        }
    }
    Ok(changed)
}

/// The value of a one-element tensor (read back once, while planning).
fn scalar_value(t: &Tensor) -> Option<Scalar> {
    if t.size() != 1 {
        return None;
    }
    let w = *t.words().ok()?.first()?;
    Some(Scalar::from_bits(t.dtype(), w))
}

/// Replaces every load of kernel input `k` by `value` and renumbers the later inputs;
/// `false` (kernel unchanged) when some read of `k` is not a scalar load in an expression.
fn inline_scalar(kernel: &mut Kernel, k: u32, value: Scalar) -> bool {
    let mut exprs: Vec<&mut Expr> = match kernel {
        Kernel::Map(m) => vec![&mut m.expr],
        Kernel::Reduce(r) => std::iter::once(&mut r.prologue)
            .chain(r.epilogue.as_mut())
            .collect(),
        Kernel::Matmul(mk) => {
            let strided_reads = [&mk.a, &mk.b].iter().any(|o| match o {
                Operand::Strided { input, .. } | Operand::Patches(Patches { input, .. }) => {
                    *input == k
                }
                Operand::Expr { .. } => false,
            });
            if strided_reads {
                return false;
            }
            let mut v: Vec<&mut Expr> = vec![];
            for o in [&mut mk.a, &mut mk.b] {
                if let Operand::Expr { expr, .. } = o {
                    v.push(expr);
                }
            }
            let sums = mk.column_sums.as_mut().and_then(|c| c.epilogue.as_mut());
            v.extend(mk.epilogue.as_mut().into_iter().chain(sums));
            v
        }
        _ => return false,
    };
    let scalar_reads_only = exprs.iter().all(|e| {
        e.nodes.iter().all(|n| match n {
            Node::Load { input, index } if *input == k => {
                matches!(index, Index::Affine { offset: 0, strides } if strides.iter().all(|&s| s == 0))
            }
            _ => true,
        })
    });
    if !scalar_reads_only {
        return false;
    }
    for e in exprs.iter_mut() {
        for n in &mut e.nodes {
            if matches!(n, Node::Load { input, .. } if *input == k) {
                *n = Node::Lit(value);
            }
        }
    }
    let keep = |m: u32| if m > k { m - 1 } else { m };
    match kernel {
        Kernel::Map(m) => {
            renumber_loads(&mut m.expr, &keep);
            m.inputs.remove(k as usize);
        }
        Kernel::Reduce(r) => {
            renumber_loads(&mut r.prologue, &keep);
            if let Some(e) = &mut r.epilogue {
                renumber_loads(e, &keep);
            }
            r.inputs.remove(k as usize);
        }
        Kernel::Matmul(mk) => {
            renumber_operand(&mut mk.a, &keep);
            renumber_operand(&mut mk.b, &keep);
            for e in mk.epilogues_mut() {
                renumber_loads(e, &keep);
            }
            mk.inputs.remove(k as usize);
        }
        _ => unreachable!("returned above"),
    }
    true
}

#[cfg(test)]
mod tests {
    use crate::graph::ir::NodeKind;
    use crate::kernel::ir::{Kernel, Node};
    use crate::{Arg, Result, Tensor, args, function};

    /// The kernel nodes of `body`'s optimized graph on `x`: (node inputs, kernel literals).
    fn kernels(body: fn(&Tensor) -> Result<Tensor>, x: &Tensor) -> Vec<(usize, Vec<String>)> {
        let f = function(move |a: &[Arg]| body(a[0].tensor()?));
        let want = body(x).unwrap().to_vec::<f32>().unwrap();
        assert_eq!(f.call(args![x]).unwrap().to_vec::<f32>().unwrap(), want);
        let g = f.get_concrete_function(args![x]).unwrap().graph();
        g.nodes
            .iter()
            .filter_map(|n| match &n.kind {
                NodeKind::Fused { lowering, .. } => {
                    let Kernel::Map(m) = &lowering.calls[0].kernel else {
                        return Some((n.inputs.len(), vec![]));
                    };
                    let lits = m.expr.nodes.iter().filter_map(|e| match e {
                        Node::Lit(s) => Some(format!("{s:?}")),
                        _ => None,
                    });
                    Some((n.inputs.len(), lits.collect()))
                }
                NodeKind::Op(_) => Some((n.inputs.len(), vec![])),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn scalar_constants_become_literals() {
        let x = Tensor::from_slice(&[1f32, -2.0, 3.5], [3]).unwrap();
        let k = kernels(|x| (x * 1.5)? + 0.25, &x);
        assert_eq!(k.len(), 1);
        assert_eq!(k[0].0, 1, "only x stays bound");
        assert!(k[0].1.contains(&"F32(1.5)".to_string()), "{:?}", k[0].1);
        assert!(k[0].1.contains(&"F32(0.25)".to_string()), "{:?}", k[0].1);
        // A single op reading a constant takes it as a literal too.
        let k = kernels(|x| x * 3.0, &x);
        assert_eq!(
            (k[0].0, k[0].1.contains(&"F32(3.0)".to_string())),
            (1, true)
        );
    }

    #[test]
    fn constants_with_several_elements_stay_bound() {
        let x = Tensor::from_slice(&[1f32, -2.0, 3.5], [3]).unwrap();
        let k = kernels(
            |x| x * &Tensor::from_slice(&[1f32, 2.0, 3.0], [3]).unwrap(),
            &x,
        );
        assert_eq!(k[0].0, 2);
    }
}
