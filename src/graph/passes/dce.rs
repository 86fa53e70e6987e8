//! Dead-code elimination: drops nodes whose outputs nothing needs (stateful nodes such as
//! `print` and argument nodes stay).

use crate::error::Result;
use crate::graph::ir::{Graph, NodeKind};

pub fn run(g: &mut Graph) -> Result<bool> {
    let producers = g.producers();
    let mut live = vec![false; g.nodes.len()];
    let mut stack: Vec<usize> = g.roots().into_iter().map(|v| producers[v]).collect();
    for (i, n) in g.nodes.iter().enumerate() {
        if n.kind.is_stateful() || matches!(n.kind, NodeKind::Arg { .. }) {
            stack.push(i);
        }
    }
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut live[i], true) {
            continue;
        }
        stack.extend(g.nodes[i].inputs.iter().map(|&v| producers[v]));
    }
    let before = g.nodes.len();
    let mut i = 0;
    g.nodes.retain(|_| {
        i += 1;
        live[i - 1]
    });
    Ok(g.nodes.len() != before)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::Device;
    use crate::dtype::DType;
    use crate::ops::{ElementwiseOp, Meta, Op};

    #[test]
    fn drops_unused_nodes_and_keeps_prints() {
        let mut g = Graph::new(Device::cpu());
        let m = Meta::new([3], DType::F32);
        let x = g.add(
            NodeKind::Arg {
                index: 0,
                name: String::new(),
            },
            vec![],
            vec![m.clone()],
        )[0];
        let neg = Op::Elementwise(ElementwiseOp::Unary(crate::ops::UnaryOp::Neg));
        let used = g.add(NodeKind::Op(neg.clone()), vec![x], vec![m.clone()])[0];
        let _dead = g.add(NodeKind::Op(neg.clone()), vec![x], vec![m.clone()])[0];
        let printed = g.add(NodeKind::Op(neg), vec![used], vec![m.clone()])[0];
        g.add(
            NodeKind::Print {
                target: crate::graph::PrintTarget::Stdout,
            },
            vec![printed],
            vec![],
        );
        g.outputs = vec![used];
        let before = g.to_string();
        assert!(run(&mut g).unwrap());
        assert_eq!(
            before,
            "%0 = arg 0 : f32[3]\n%1 = neg(%0) : f32[3]\n%2 = neg(%0) : f32[3]\n\
             %3 = neg(%1) : f32[3]\nprint(stdout)(%3)\nreturn %1\n"
        );
        assert_eq!(
            g.to_string(),
            "%0 = arg 0 : f32[3]\n%1 = neg(%0) : f32[3]\n%3 = neg(%1) : f32[3]\n\
             print(stdout)(%3)\nreturn %1\n"
        );
        assert!(!run(&mut g).unwrap());
    }
}
