//! Fusion: fewer kernels for the same values, all through the kernel IR (so a fused kernel
//! is WGSL on wgpu and interpreted on the CPU backend like any other).
//!
//! 1. **Producer inlining.** An elementwise producer (a node lowered to one map kernel) is
//!    copied into each consumer that reads it — a map's expression, a reduction's prologue —
//!    when the consumer reads it at the same coordinates (same iteration space, identity
//!    index), or when the producer is *linear* (it reads every input at its own linear index
//!    or as a scalar), which lets any index of the consumer stand for the producer's. Taken
//!    in topological order, chains collapse into their last consumer. Only values that
//!    every reader takes are inlined: one stored for some reader anyway is read by all.
//! 2. **Column sums.** `reduce_sum(g, axis=0)` of a matrix that a matmul also reads whole as
//!    its `b` operand — a dense layer's bias gradient beside its weight gradient `xᵀ·g` —
//!    becomes a second output of that matmul.
//! 3. **Epilogues.** A map that reads a matmul's or a reduction's result at its own
//!    coordinates (bias, activation, scale, an optimizer update) becomes that kernel's
//!    epilogue, `Acc` standing for the accumulated value; a matmul with column sums takes
//!    one for each output. The map may see the result through a finer shape (a conv's
//!    `[n, h, w, c]` for its matmul's `[n·h·w, c]`).
//!    A map that only reads the last kernel's output of a multi-kernel op (a max-pool
//!    gradient's map after its arg-max pass) joins that kernel.
//! 4. **Operands.** A map still standing alone is recomputed inside the matmul operands
//!    and reduction prologues reading it, when every reader can take it.
//! 5. **Siblings.** Maps over the same space with no path between them become one
//!    multi-output kernel: the updates of same-shaped variables (Adam's, which have three
//!    outputs and fold into no gradient kernel), or values needed both inside and outside
//!    a fused chain.
//!
//! A producer left without readers is removed by dead-code elimination afterwards. Kernels
//! never bind more buffers than the device allows; scalar constants become kernel
//! parameters instead of bound buffers.

use crate::dtype::DType;
use crate::error::Result;
use crate::graph::ir::{Graph, NodeKind, ValueId};
use crate::graph::passes::reaches;
use crate::kernel::ir::{
    ColumnSums, Expr, Index, Kernel, MapKernel, MatmulKernel, Node, NodeId, Operand, Patches,
    ReduceOp, contiguous_strides, map_args, merge_space,
};
use crate::ops::{Buf, Lowering};
use std::collections::HashMap;

/// A node's ops (for its listing name) and its lowering.
struct Part {
    ops: Vec<&'static str>,
    lowering: Lowering,
}

fn part_of(kind: &NodeKind, g: &Graph, node: usize) -> Result<Option<Part>> {
    let n = &g.nodes[node];
    Ok(match kind {
        NodeKind::Op(op) => {
            let ins: Vec<_> = n.inputs.iter().map(|&i| g.values[i].clone()).collect();
            let outs: Vec<_> = n.outputs.iter().map(|&o| g.values[o].clone()).collect();
            Some(Part {
                ops: vec![op.name()],
                lowering: op.lower(&ins, &outs)?,
            })
        }
        NodeKind::Fused { ops, lowering, .. } => Some(Part {
            ops: ops.clone(),
            lowering: lowering.clone(),
        }),
        _ => None,
    })
}

/// The map kernel of a node lowered to exactly one map call over its own inputs and outputs.
fn single_map(l: &Lowering) -> Option<&MapKernel> {
    if l.alias.is_some() || !l.temps.is_empty() || l.calls.len() != 1 {
        return None;
    }
    let c = &l.calls[0];
    let Kernel::Map(k) = &c.kernel else {
        return None;
    };
    let plain_ins = c.inputs.iter().enumerate().all(|(i, b)| *b == Buf::In(i));
    let plain_outs = c.outputs.iter().enumerate().all(|(i, b)| *b == Buf::Out(i));
    (k.store.is_none() && plain_ins && plain_outs).then_some(k)
}

/// Whether `index` reads a contiguous tensor of the space's shape at each point's own
/// coordinates. Strides along axes of size 1 do not matter: the coordinate there is 0
/// (broadcasting gives them stride 0).
fn is_identity(index: &Index, space: &[usize]) -> bool {
    let Index::Affine { offset: 0, strides } = index else {
        return false;
    };
    let want = contiguous_strides(space);
    strides.len() == space.len() && (0..space.len()).all(|d| space[d] == 1 || strides[d] == want[d])
}

fn is_constant(index: &Index) -> bool {
    matches!(index, Index::Affine { strides, .. } if strides.iter().all(|&s| s == 0))
}

/// Reads each input at its own linear index or as a scalar, without coordinates: the map
/// can be evaluated at any linear index a consumer reads it at.
fn is_linear(k: &MapKernel) -> bool {
    k.expr.nodes.iter().all(|n| match n {
        Node::Coord(_) => false,
        Node::Load { index, .. } => is_identity(index, &k.space) || is_constant(index),
        _ => true,
    })
}

/// An expression being assembled, with structural sharing of identical nodes.
#[derive(Default)]
struct Builder {
    nodes: Vec<Node>,
    dtypes: Vec<DType>,
    seen: HashMap<String, NodeId>,
}

impl Builder {
    fn push(&mut self, n: Node, dt: DType) -> NodeId {
        let key = format!("{n:?}/{dt:?}");
        if let Some(&id) = self.seen.get(&key) {
            return id;
        }
        self.nodes.push(n);
        self.dtypes.push(dt);
        let id = (self.nodes.len() - 1) as NodeId;
        self.seen.insert(key, id);
        id
    }
    fn finish(self, outputs: Vec<NodeId>) -> Expr {
        crate::kernel::ir::compact(&self.nodes, &self.dtypes, &outputs)
    }
}

/// How a load of the inlined value is replaced.
enum Site<'a> {
    /// The consumer reads at the producer's coordinates.
    Same,
    /// The consumer reads at this index (already in the builder's numbering).
    At(&'a Index),
}

/// Copies the producer's expression into `b` for one read, returning its output `out`'s
/// node. `pos[j]` is the consumer-call position of the producer's input `j`; `rank` the
/// consumer's space rank.
fn copy_producer(
    b: &mut Builder,
    p: &MapKernel,
    out: usize,
    pos: &[u32],
    site: Site,
    rank: usize,
) -> NodeId {
    let mut ids: Vec<NodeId> = Vec::with_capacity(p.expr.nodes.len());
    for (i, n) in p.expr.nodes.iter().enumerate() {
        let dt = p.expr.dtypes[i];
        let node = match (n, &site) {
            (Node::Load { input, index }, Site::At(at)) => {
                let index = if is_constant(index) {
                    let Index::Affine { offset, .. } = index else {
                        unreachable!()
                    };
                    Index::Affine {
                        offset: *offset,
                        strides: vec![0; rank],
                    }
                } else {
                    (*at).clone()
                };
                Node::Load {
                    input: pos[*input as usize],
                    index,
                }
            }
            (Node::Load { input, index }, Site::Same) => Node::Load {
                input: pos[*input as usize],
                index: match index {
                    Index::Node(ix) => Index::Node(ids[*ix as usize]),
                    a => a.clone(),
                },
            },
            (n, _) => map_args(n, |a| ids[a as usize]),
        };
        ids.push(b.push(node, dt));
    }
    ids[p.expr.outputs[out] as usize]
}

/// Rewrites `e` (a consumer call's expression over `space`) so that loads of call input
/// `k` read the producer instead. `pos` maps the producer's inputs to consumer positions;
/// `keep` maps the consumer's other positions to their new ones. `None` when some load of
/// `k` cannot take the producer.
fn substitute(
    e: &Expr,
    space: &[usize],
    k: u32,
    p: &MapKernel,
    out: usize,
    pos: &[u32],
    keep: &dyn Fn(u32) -> u32,
) -> Option<Expr> {
    let linear = is_linear(p);
    let same_space = p.space == space;
    let mut b = Builder::default();
    let mut ids: Vec<NodeId> = Vec::with_capacity(e.nodes.len());
    for (i, n) in e.nodes.iter().enumerate() {
        let dt = e.dtypes[i];
        let id = match n {
            Node::Load { input, index } if *input == k => {
                let index = match index {
                    Index::Node(ix) => Index::Node(ids[*ix as usize]),
                    a => a.clone(),
                };
                if same_space && is_identity(&index, space) {
                    copy_producer(&mut b, p, out, pos, Site::Same, space.len())
                } else if linear {
                    copy_producer(&mut b, p, out, pos, Site::At(&index), space.len())
                } else {
                    return None;
                }
            }
            Node::Load { input, index } => b.push(
                Node::Load {
                    input: keep(*input),
                    index: match index {
                        Index::Node(ix) => Index::Node(ids[*ix as usize]),
                        a => a.clone(),
                    },
                },
                dt,
            ),
            n => b.push(map_args(n, |a| ids[a as usize]), dt),
        };
        ids.push(id);
    }
    Some(b.finish(e.outputs.iter().map(|&o| ids[o as usize]).collect()))
}

/// The expression and space of a call that can take a producer: a map's body or a
/// reduction's prologue.
fn call_expr(k: &Kernel) -> Option<(&Expr, &[usize])> {
    match k {
        Kernel::Map(m) => Some((&m.expr, &m.space)),
        Kernel::Reduce(r) => Some((&r.prologue, &r.space)),
        _ => None,
    }
}

/// Producers larger than this are not recomputed inside a matmul's operand loads (each
/// operand element is loaded once per output tile).
const MAX_OPERAND_NODES: usize = 24;

/// Whether matmul `k` reads its input `input` only as a whole 2-D operand in row-major
/// order (not in the other operand or the epilogue): `Some(true)` for `a`, `Some(false)`
/// for `b`. Such an operand can become an expression computing the producer in place.
fn operand_site(k: &MatmulKernel, input: u32) -> Option<bool> {
    let reads = |o: &Operand| match o {
        Operand::Strided { input: x, .. } | Operand::Patches(Patches { input: x, .. }) => {
            *x == input
        }
        Operand::Expr { expr, .. } => expr
            .nodes
            .iter()
            .any(|n| matches!(n, Node::Load { input: x, .. } if *x == input)),
    };
    let whole = |o: &Operand, cols: usize| {
        matches!(o, Operand::Strided { input: x, offset: 0, batch, row, col: 1 }
            if *x == input && batch.is_empty() && *row == cols as i64)
    };
    let in_epilogue = k.epilogues().any(|e| {
        e.nodes
            .iter()
            .any(|n| matches!(n, Node::Load { input: x, .. } if *x == input))
    });
    if !k.batch.is_empty() || in_epilogue {
        return None;
    }
    match (whole(&k.a, k.k), whole(&k.b, k.n)) {
        (true, false) if !reads(&k.b) => Some(true),
        (false, true) if !reads(&k.a) => Some(false),
        _ => None,
    }
}

/// Renumbers the inputs a matmul operand reads.
pub(super) fn renumber_operand(o: &mut Operand, keep: &dyn Fn(u32) -> u32) {
    match o {
        Operand::Strided { input, .. } | Operand::Patches(Patches { input, .. }) => {
            *input = keep(*input)
        }
        Operand::Expr { expr, .. } => renumber_loads(expr, keep),
    }
}

pub(super) fn renumber_loads(e: &mut Expr, keep: &dyn Fn(u32) -> u32) {
    for n in &mut e.nodes {
        if let Node::Load { input, .. } = n {
            *input = keep(*input);
        }
    }
}

fn set_call_expr(k: &mut Kernel, e: Expr, inputs: Vec<DType>) {
    match k {
        Kernel::Map(m) => {
            m.expr = e;
            m.inputs = inputs;
        }
        Kernel::Reduce(r) => {
            r.prologue = e;
            r.inputs = inputs;
        }
        _ => unreachable!("call_expr accepted it"),
    }
}

/// A map node being inlined: its kernel, its node inputs, and which output is read.
struct Producer<'a> {
    kernel: &'a MapKernel,
    inputs: &'a [ValueId],
    out: usize,
}

/// Inlines the producer (whose output is consumer node input `i`) into every call of the
/// consumer that reads it; into matmul operands only when `operands`. Returns the new
/// lowering and node inputs, or `None`.
fn inline(
    consumer: &Lowering,
    inputs: &[ValueId],
    i: usize,
    producer: &Producer,
    max_bindings: usize,
    operands: bool,
) -> Option<(Lowering, Vec<ValueId>)> {
    let (p, p_inputs, out) = (producer.kernel, producer.inputs, producer.out);
    // New node inputs: the consumer's without `i` (if no call keeps reading it), plus the
    // producer's, shared where equal.
    let mut new_inputs: Vec<ValueId> = inputs.to_vec();
    let mut low = consumer.clone();
    let mut substituted = false;
    for call in &mut low.calls {
        let Some(k) = call.inputs.iter().position(|b| *b == Buf::In(i)) else {
            continue;
        };
        substituted = true;
        if call.inputs.iter().filter(|b| **b == Buf::In(i)).count() > 1 {
            return None;
        }
        // The call's new input list: its others, then the producer's that it lacks.
        let old_dtypes = call.kernel.input_dtypes();
        let mut bufs: Vec<Buf> = vec![];
        let mut dts: Vec<DType> = vec![];
        for (m, b) in call.inputs.iter().enumerate() {
            if m != k {
                bufs.push(*b);
                dts.push(old_dtypes[m]);
            }
        }
        let mut pos = Vec::with_capacity(p_inputs.len());
        for (j, v) in p_inputs.iter().enumerate() {
            let ni = match new_inputs.iter().position(|x| x == v) {
                Some(ni) => ni,
                None => {
                    new_inputs.push(*v);
                    new_inputs.len() - 1
                }
            };
            let q = match bufs.iter().position(|x| *x == Buf::In(ni)) {
                Some(q) => q,
                None => {
                    bufs.push(Buf::In(ni));
                    dts.push(p.inputs[j]);
                    bufs.len() - 1
                }
            };
            pos.push(q as u32);
        }
        if bufs.len() + call.outputs.len() > max_bindings {
            return None;
        }
        let keep = |m: u32| if m > k as u32 { m - 1 } else { m };
        if let Kernel::Matmul(mk) = &mut call.kernel {
            if !operands {
                return None;
            }
            // The operand becomes the producer's expression over [rows, cols].
            let is_a = operand_site(mk, k as u32)?;
            let (rows, cols) = if is_a { (mk.m, mk.k) } else { (mk.k, mk.n) };
            if p.space != [rows, cols] || p.expr.nodes.len() > MAX_OPERAND_NODES {
                return None;
            }
            let mut b = Builder::default();
            let v = copy_producer(&mut b, p, out, &pos, Site::Same, 2);
            let operand = Operand::Expr {
                expr: b.finish(vec![v]),
                rows: vec![rows],
                cols: vec![cols],
            };
            let other = if is_a { &mut mk.b } else { &mut mk.a };
            renumber_operand(other, &keep);
            for e in mk.epilogues_mut() {
                renumber_loads(e, &keep);
            }
            *(if is_a { &mut mk.a } else { &mut mk.b }) = operand;
            mk.inputs = dts;
        } else {
            let (e, space) = call_expr(&call.kernel)?;
            let e = substitute(e, space, k as u32, p, out, &pos, &keep)?;
            // A reduction that already took an epilogue: it must not read the inlined
            // value, and its other reads move with the renumbering.
            if let Kernel::Reduce(r) = &mut call.kernel
                && let Some(epi) = &mut r.epilogue
            {
                let reads_k = epi
                    .nodes
                    .iter()
                    .any(|n| matches!(n, Node::Load { input, .. } if *input == k as u32));
                if reads_k {
                    return None;
                }
                renumber_loads(epi, &keep);
            }
            set_call_expr(&mut call.kernel, e, dts);
        }
        call.inputs = bufs;
    }
    if !substituted || low.alias.is_some() {
        return None; // nothing to inline into (e.g. a reshape aliases its input)
    }
    // Drop input `i` if nothing reads it now, renumbering later positions.
    let still_read =
        low.calls.iter().any(|c| c.inputs.contains(&Buf::In(i))) || low.alias == Some(i);
    if !still_read {
        new_inputs.remove(i);
        for c in &mut low.calls {
            for b in &mut c.inputs {
                if let Buf::In(m) = b
                    && *m > i
                {
                    *m -= 1;
                }
            }
        }
        if let Some(a) = &mut low.alias
            && *a > i
        {
            *a -= 1;
        }
    }
    Some((low, new_inputs))
}

/// Step 1: elementwise producers inline into the maps and reduction prologues reading
/// them; `max_bindings` is the most buffers one kernel may bind.
pub fn run(g: &mut Graph, max_bindings: usize) -> Result<bool> {
    inline_producers(g, max_bindings, false)
}

/// Step 4, after epilogues: a map that is still its own kernel inlines into matmul operands
/// too (recomputed in the operand loads), when every reader can take it. Later than step 1
/// so that a map right after a matmul becomes that matmul's epilogue (computed once).
pub fn run_operands(g: &mut Graph, max_bindings: usize) -> Result<bool> {
    inline_producers(g, max_bindings, true)
}

fn inline_producers(g: &mut Graph, max_bindings: usize, operands: bool) -> Result<bool> {
    // Whether a reader can take a value is only known by trying; a value that some reader
    // could not take stays stored, and recomputing it in the others would cost more than
    // reading it (e.g. `relu(conv + bias)` kept for a pool, recomputed in relu's gradient).
    // So such values are kept out and the pass runs again on the original graph.
    let mut kept_out = vec![false; g.values.len()];
    loop {
        let mut trial = g.clone();
        let (changed, inlined) = inline_pass(&mut trial, max_bindings, operands, &kept_out)?;
        let still_read: Vec<ValueId> = inlined
            .into_iter()
            .filter(|&v| trial.nodes.iter().any(|n| n.inputs.contains(&v)))
            .collect();
        if still_read.is_empty() {
            *g = trial;
            return Ok(changed);
        }
        for v in still_read {
            kept_out[v] = true;
        }
    }
}

/// One inlining pass that never inlines the values marked in `kept_out`; returns whether it
/// changed the graph and the values it inlined somewhere.
fn inline_pass(
    g: &mut Graph,
    max_bindings: usize,
    operands: bool,
    kept_out: &[bool],
) -> Result<(bool, Vec<ValueId>)> {
    let mut changed = false;
    let mut inlined_anywhere: Vec<ValueId> = vec![];
    let mut parts: Vec<Option<Part>> = (0..g.nodes.len())
        .map(|i| part_of(&g.nodes[i].kind.clone(), g, i))
        .collect::<Result<_>>()?;
    let producers = g.producers();
    // A value is only inlined when every reader can take it, so it disappears: inlining a
    // value that must be stored anyway would recompute it and keep its inputs alive.
    let roots = g.roots();
    let mut inlinable: Vec<bool> = kept_out.iter().map(|k| !k).collect();
    for v in &roots {
        inlinable[*v] = false;
    }
    for (c, n) in g.nodes.iter().enumerate() {
        for (i, &v) in n.inputs.iter().enumerate() {
            let takes = parts[c].as_ref().is_some_and(|p| {
                p.lowering.alias.is_none()
                    && p.lowering
                        .calls
                        .iter()
                        .filter(|call| call.inputs.contains(&Buf::In(i)))
                        .all(|call| match &call.kernel {
                            Kernel::Matmul(mk) if operands => call
                                .inputs
                                .iter()
                                .position(|b| *b == Buf::In(i))
                                .and_then(|k| operand_site(mk, k as u32))
                                .is_some(),
                            k => call_expr(k).is_some(),
                        })
            });
            inlinable[v] &= takes;
        }
    }
    for c in 0..g.nodes.len() {
        // Values already inlined into `c`: a second read of one (`t * t`) shares its nodes
        // in the expression, so its ops are not named twice.
        let mut inlined: Vec<ValueId> = vec![];
        'again: while let Some(cp) = &parts[c] {
            for (i, &v) in g.nodes[c].inputs.iter().enumerate() {
                let pi = producers[v];
                if pi == usize::MAX || pi == c || !inlinable[v] {
                    continue;
                }
                let Some(pp) = &parts[pi] else { continue };
                let Some(pk) = single_map(&pp.lowering) else {
                    continue;
                };
                let out = g.nodes[pi].outputs.iter().position(|&o| o == v).unwrap();
                let producer = Producer {
                    kernel: pk,
                    inputs: &g.nodes[pi].inputs,
                    out,
                };
                if let Some((low, inputs)) = inline(
                    &cp.lowering,
                    &g.nodes[c].inputs,
                    i,
                    &producer,
                    max_bindings,
                    operands,
                ) {
                    let mut ops = if inlined.contains(&v) {
                        vec![]
                    } else {
                        pp.ops.clone()
                    };
                    inlined.push(v);
                    inlined_anywhere.push(v);
                    ops.extend(cp.ops.iter().copied());
                    parts[c] = Some(Part { ops, lowering: low });
                    g.nodes[c].inputs = inputs;
                    changed = true;
                    continue 'again;
                }
            }
            break;
        }
    }
    write_back(g, parts);
    inlined_anywhere.sort_unstable();
    inlined_anywhere.dedup();
    Ok((changed, inlined_anywhere))
}

/// Step 5: two maps over the same space, neither depending on the other, become one kernel
/// (one merge per run: run it again until it changes nothing).
pub fn run_siblings(g: &mut Graph, max_bindings: usize) -> Result<bool> {
    let parts: Vec<Option<Part>> = (0..g.nodes.len())
        .map(|i| part_of(&g.nodes[i].kind.clone(), g, i))
        .collect::<Result<_>>()?;
    let maps: Vec<Option<&MapKernel>> = parts
        .iter()
        .map(|p| p.as_ref().and_then(|p| single_map(&p.lowering)))
        .collect();
    for a in 0..g.nodes.len() {
        let Some(ka) = maps[a] else { continue };
        for b in a + 1..g.nodes.len() {
            let Some(kb) = maps[b] else { continue };
            if ka.space != kb.space {
                continue;
            }
            // The merged node's inputs: a's, then b's that a lacks.
            let mut inputs = g.nodes[a].inputs.clone();
            let mut dtypes = ka.inputs.clone();
            let pos_b: Vec<u32> = g.nodes[b]
                .inputs
                .iter()
                .enumerate()
                .map(|(j, v)| match inputs.iter().position(|x| x == v) {
                    Some(q) => q as u32,
                    None => {
                        inputs.push(*v);
                        dtypes.push(kb.inputs[j]);
                        (inputs.len() - 1) as u32
                    }
                })
                .collect();
            let n_out = ka.expr.outputs.len() + kb.expr.outputs.len();
            if inputs.len() + n_out > max_bindings
                || reaches(g, &g.nodes[a].outputs, &g.nodes[b].inputs)
            {
                continue;
            }
            let pos_a: Vec<u32> = (0..ka.inputs.len() as u32).collect();
            let rank = ka.space.len();
            let mut builder = Builder::default();
            let mut outs = vec![];
            for (k, pos) in [(ka, &pos_a), (kb, &pos_b)] {
                for o in 0..k.expr.outputs.len() {
                    outs.push(copy_producer(&mut builder, k, o, pos, Site::Same, rank));
                }
            }
            let kernel = Kernel::Map(MapKernel {
                space: ka.space.clone(),
                inputs: dtypes,
                expr: builder.finish(outs),
                store: None,
            });
            let ops: Vec<_> = [&parts[a], &parts[b]]
                .iter()
                .flat_map(|p| p.as_ref().expect("a map").ops.iter().copied())
                .collect();
            let mut outputs = g.nodes[a].outputs.clone();
            outputs.extend(&g.nodes[b].outputs);
            let n_in = inputs.len();
            // The merged node takes b's place (after both nodes' inputs); readers of a's
            // outputs before it move after it.
            g.nodes[b] = crate::graph::ir::Node {
                kind: NodeKind::Fused {
                    name: format!("fused[{}]", ops.join(",")),
                    ops,
                    lowering: Lowering::single(kernel, n_in, n_out),
                },
                inputs,
                outputs,
            };
            g.nodes[a].outputs.clear();
            remove_nodes(g, &[a]);
            return Ok(true);
        }
    }
    Ok(false)
}

/// Step 2: a column sum joins a matmul reading the same matrix (one per run: run it again
/// until it changes nothing).
pub fn run_column_sums(g: &mut Graph) -> Result<bool> {
    let mut parts: Vec<Option<Part>> = (0..g.nodes.len())
        .map(|i| part_of(&g.nodes[i].kind.clone(), g, i))
        .collect::<Result<_>>()?;
    let mut removed = vec![];
    for r in 0..g.nodes.len() {
        let Some((read, k, n)) = parts[r].as_ref().and_then(|p| column_sum(&p.lowering)) else {
            continue;
        };
        let v = g.nodes[r].inputs[read];
        let found = (0..g.nodes.len()).find(|&mi| {
            mi != r
                && parts[mi].as_ref().is_some_and(|p| {
                    sums_operand(&p.lowering, k, n)
                        .is_some_and(|j| g.nodes[mi].inputs[j as usize] == v)
                })
        });
        let Some(mi) = found else { continue };
        let outputs = vec![g.nodes[mi].outputs[0], g.nodes[r].outputs[0]];
        if reaches(g, &outputs, &g.nodes[mi].inputs) {
            continue;
        }
        let (mp, rp) = (parts[mi].take().unwrap(), parts[r].take().unwrap());
        let Kernel::Matmul(mut mk) = mp.lowering.calls[0].kernel.clone() else {
            unreachable!("sums_operand gives matmuls")
        };
        mk.column_sums = Some(Box::new(ColumnSums { epilogue: None }));
        let n_in = g.nodes[mi].inputs.len();
        let ops: Vec<_> = mp.ops.iter().chain(&rp.ops).copied().collect();
        // The merged node takes the later place; readers of the earlier node's output
        // between the two move after it (toposort below).
        let (later, earlier) = (mi.max(r), mi.min(r));
        g.nodes[later] = crate::graph::ir::Node {
            kind: NodeKind::Fused {
                name: format!("fused[{}]", ops.join(",")),
                ops,
                lowering: Lowering::single(Kernel::Matmul(mk), n_in, 2),
            },
            inputs: g.nodes[mi].inputs.clone(),
            outputs,
        };
        g.nodes[earlier].outputs.clear();
        removed.push(earlier);
        break; // the order is restored below before the next search
    }
    let changed = !removed.is_empty();
    remove_nodes(g, &removed);
    Ok(changed)
}

/// Drops the nodes at `removed` (their outputs now come from other nodes) and restores the
/// topological order.
fn remove_nodes(g: &mut Graph, removed: &[usize]) {
    if removed.is_empty() {
        return;
    }
    let mut i = 0;
    g.nodes.retain(|_| {
        i += 1;
        !removed.contains(&(i - 1))
    });
    g.toposort();
}

/// A plain `reduce_sum` over the leading axes of a contiguous f32 tensor, a matrix `[k, n]`
/// summed over its rows: which node input it reads, and `k`, `n`.
fn column_sum(l: &Lowering) -> Option<(usize, usize, usize)> {
    let (Kernel::Reduce(rk), _) = single_accumulator(l)? else {
        return None;
    };
    let e = &rk.prologue;
    let plain_load = e.nodes.len() == 1
        && matches!(&e.nodes[0], Node::Load { input: 0, index } if is_identity(index, &rk.space));
    // Leading axes reduced (a conv's bias gradient sums [n, h, w] of [n, h, w, c]).
    let lead = rk.axes.len();
    let leading =
        lead > 0 && lead < rk.space.len() && rk.axes.iter().enumerate().all(|(i, &a)| a == i);
    (rk.op == ReduceOp::Sum
        && rk.epilogue.is_none()
        && leading
        && rk.inputs == [DType::F32]
        && plain_load)
        .then(|| {
            let k = rk.space[..lead].iter().product();
            (0, k, rk.space[lead..].iter().product())
        })
}

/// The input of a plain 2-D matmul without epilogue that reads its `b` operand as a whole
/// contiguous `[k, n]` matrix.
fn sums_operand(l: &Lowering, k: usize, n: usize) -> Option<u32> {
    let (Kernel::Matmul(mk), _) = single_accumulator(l)? else {
        return None;
    };
    match &mk.b {
        Operand::Strided {
            input,
            offset: 0,
            batch,
            row,
            col: 1,
        } if batch.is_empty()
            && mk.batch.is_empty()
            && *row == n as i64
            && (mk.k, mk.n) == (k, n)
            && mk.epilogue.is_none()
            && mk.column_sums.is_none() =>
        {
            Some(*input)
        }
        _ => None,
    }
}

/// Step 3, run after dead-code elimination so use counts are exact. Returns whether it
/// changed anything; run it again until it does not (each run folds at most one epilogue
/// into a multi-output kernel).
pub fn run_epilogues(g: &mut Graph, max_bindings: usize) -> Result<bool> {
    let mut parts: Vec<Option<Part>> = (0..g.nodes.len())
        .map(|i| part_of(&g.nodes[i].kind.clone(), g, i))
        .collect::<Result<_>>()?;
    let (changed, removed) = epilogues(g, &mut parts, max_bindings);
    write_back(g, parts);
    remove_nodes(g, removed.as_slice());
    Ok(changed)
}

fn write_back(g: &mut Graph, parts: Vec<Option<Part>>) {
    for (c, p) in parts.into_iter().enumerate() {
        if let Some(p) = p
            && p.ops.len() > 1
        {
            g.nodes[c].kind = NodeKind::Fused {
                name: format!("fused[{}]", p.ops.join(",")),
                ops: p.ops,
                lowering: p.lowering,
            };
        }
    }
}

/// The kernel of a node lowered to one plain matmul or reduction call, with the space of
/// each output that has no epilogue yet (`None` for one that has).
fn single_accumulator(l: &Lowering) -> Option<(&Kernel, Vec<Option<Vec<usize>>>)> {
    if l.alias.is_some() || !l.temps.is_empty() || l.calls.len() != 1 {
        return None;
    }
    let c = &l.calls[0];
    let plain_ins = c.inputs.iter().enumerate().all(|(i, b)| *b == Buf::In(i));
    let plain_outs = c.outputs.iter().enumerate().all(|(i, b)| *b == Buf::Out(i));
    if !plain_ins || !plain_outs || c.outputs.len() != c.kernel.output_dtypes().len() {
        return None;
    }
    match &c.kernel {
        Kernel::Matmul(k) => {
            let mut space = k.batch.clone();
            space.extend([k.m, k.n]);
            let mut spaces = vec![k.epilogue.is_none().then_some(space)];
            if let Some(cs) = &k.column_sums {
                let mut space = k.batch.clone();
                space.push(k.n);
                spaces.push(cs.epilogue.is_none().then_some(space));
            }
            Some((&c.kernel, spaces))
        }
        // An arg reduction's result is an index, which an epilogue would not expect.
        Kernel::Reduce(k) if !matches!(k.op, ReduceOp::ArgMax | ReduceOp::ArgMin) => {
            let space = (0..k.space.len())
                .filter(|a| !k.axes.contains(a))
                .map(|a| k.space[a])
                .collect();
            Some((&c.kernel, vec![k.epilogue.is_none().then_some(space)]))
        }
        _ => None,
    }
}

/// Folds a single-output map that is the only reader of a matmul's or a reduction's result,
/// at the same coordinates, into that kernel as its epilogue (`Acc` is the dot product or
/// the reduced value): a bias add and activation after a matmul, an optimizer update after
/// the matmul or reduction computing its gradient. Returns whether it changed anything and
/// the nodes to remove: a multi-output producer whose outputs moved to the consumer's node
/// (the sweep stops there, as producers and uses changed).
fn epilogues(
    g: &mut Graph,
    parts: &mut [Option<Part>],
    max_bindings: usize,
) -> (bool, Option<usize>) {
    let producers = g.producers();
    let uses = g.use_counts();
    let roots = g.roots();
    let mut changed = false;
    for c in 0..g.nodes.len() {
        let Some(cp) = &parts[c] else { continue };
        let Some(ck) = single_map(&cp.lowering) else {
            continue;
        };
        if ck.expr.outputs.len() != 1 {
            continue;
        }
        for (i, &v) in g.nodes[c].inputs.iter().enumerate() {
            let mi = producers[v];
            if mi == usize::MAX || uses[v] != 1 || roots.contains(&v) {
                continue;
            }
            let Some(mp) = &parts[mi] else { continue };
            let Some((mk, spaces)) = single_accumulator(&mp.lowering) else {
                continue;
            };
            let o = g.nodes[mi].outputs.iter().position(|&x| x == v).unwrap();
            let Some(space) = spaces[o].clone() else {
                continue;
            };
            // The map may see the accumulator's points through a finer shape (a conv's
            // [n, h, w, c] output of its [n·h·w, c] matmul).
            let Some(expr) = (if space == ck.space {
                Some(ck.expr.clone())
            } else {
                merge_space(&ck.expr, &ck.space, &space)
            }) else {
                continue;
            };
            // The consumer's node will produce the producer's other outputs too: none of
            // its own inputs may depend on them.
            let others: Vec<ValueId> = g.nodes[mi]
                .outputs
                .iter()
                .copied()
                .filter(|&x| x != v)
                .collect();
            if !others.is_empty() && reaches(g, &others, &g.nodes[c].inputs) {
                continue;
            }
            let reads_v_at_same_point = expr.nodes.iter().all(|n| match n {
                Node::Load { input, index } if *input == i as u32 => is_identity(index, &space),
                _ => true,
            });
            if !reads_v_at_same_point {
                continue;
            }
            // Node inputs: the matmul's, then the map's others (shared where equal).
            let mut inputs = g.nodes[mi].inputs.clone();
            let mut dtypes = match mk {
                Kernel::Matmul(k) => k.inputs.clone(),
                Kernel::Reduce(k) => k.inputs.clone(),
                _ => unreachable!("single_accumulator gives matmuls and reductions"),
            };
            let mut pos = vec![0u32; g.nodes[c].inputs.len()];
            for (j, &u) in g.nodes[c].inputs.iter().enumerate() {
                if j == i {
                    continue;
                }
                pos[j] = match inputs.iter().position(|&x| x == u) {
                    Some(q) => q as u32,
                    None => {
                        inputs.push(u);
                        dtypes.push(ck.inputs[j]);
                        (inputs.len() - 1) as u32
                    }
                };
            }
            if inputs.len() + 1 > max_bindings {
                continue;
            }
            let mut b = Builder::default();
            let mut ids: Vec<NodeId> = vec![];
            for (n, &dt) in expr.nodes.iter().zip(&expr.dtypes) {
                let node = match n {
                    Node::Load { input, .. } if *input == i as u32 => Node::Acc,
                    Node::Load { input, index } => Node::Load {
                        input: pos[*input as usize],
                        index: match index {
                            Index::Node(ix) => Index::Node(ids[*ix as usize]),
                            a => a.clone(),
                        },
                    },
                    n => map_args(n, |a| ids[a as usize]),
                };
                ids.push(b.push(node, dt));
            }
            let epilogue = Some(b.finish(vec![ids[expr.outputs[0] as usize]]));
            let kernel = match mk.clone() {
                Kernel::Matmul(mut k) => {
                    k.inputs = dtypes;
                    match (o, &mut k.column_sums) {
                        (1, Some(cs)) => cs.epilogue = epilogue,
                        _ => k.epilogue = epilogue,
                    }
                    Kernel::Matmul(k)
                }
                Kernel::Reduce(mut k) => {
                    (k.inputs, k.epilogue) = (dtypes, epilogue);
                    Kernel::Reduce(k)
                }
                _ => unreachable!("single_accumulator gives matmuls and reductions"),
            };
            let n_in = inputs.len();
            let n_out = spaces.len();
            let mut ops = mp.ops.clone();
            ops.extend(cp.ops.iter().copied());
            parts[c] = Some(Part {
                ops,
                lowering: Lowering::single(kernel, n_in, n_out),
            });
            g.nodes[c].inputs = inputs;
            if n_out > 1 {
                let mut outputs = std::mem::take(&mut g.nodes[mi].outputs);
                outputs[o] = g.nodes[c].outputs[0];
                g.nodes[c].outputs = outputs;
                parts[mi] = None;
                return (true, Some(mi));
            }
            changed = true;
            break;
        }
    }
    (changed, None)
}

/// Step 3b: a map that is the only reader of a value which a multi-kernel op writes with
/// its last kernel, a plain map (a max-pool gradient: an arg-max pass, then a map over the
/// input), joins that last map: relu's gradient after the pool's is computed in the same
/// pass instead of streaming the gradient through memory again. The consumer may read
/// other values only at its own points (or as scalars), which the producer's map — the
/// same points in the same order, maybe through a finer shape — reads the same way.
/// Returns whether it changed anything; dead-code elimination removes the producer.
pub fn run_map_tails(g: &mut Graph, max_bindings: usize) -> Result<bool> {
    let producers = g.producers();
    let uses = g.use_counts();
    let roots = g.roots();
    let mut changed = false;
    for c in 0..g.nodes.len() {
        let Some(cp) = part_of(&g.nodes[c].kind.clone(), g, c)? else {
            continue;
        };
        let Some(ck) = single_map(&cp.lowering) else {
            continue;
        };
        let plain = |index: &Index| is_identity(index, &ck.space) || is_constant(index);
        let simple = ck.expr.outputs.len() == 1
            && ck.expr.nodes.iter().all(|n| match n {
                Node::Coord(_) => false,
                Node::Load { index, .. } => plain(index),
                _ => true,
            });
        if !simple {
            continue;
        }
        for (i, &v) in g.nodes[c].inputs.iter().enumerate() {
            let pi = producers[v];
            if pi == usize::MAX || pi >= c || uses[v] != 1 || roots.contains(&v) {
                continue;
            }
            if g.nodes[pi].outputs.len() != 1 {
                continue;
            }
            let Some(pp) = part_of(&g.nodes[pi].kind.clone(), g, pi)? else {
                continue;
            };
            let Some(merged) = join_tail(
                &pp,
                &g.nodes[pi].inputs,
                ck,
                &g.nodes[c].inputs,
                i,
                max_bindings,
            ) else {
                continue;
            };
            let (lowering, inputs) = merged;
            let mut ops = pp.ops.clone();
            ops.extend(cp.ops.iter().copied());
            g.nodes[c].kind = NodeKind::Fused {
                name: format!("fused[{}]", ops.join(",")),
                ops,
                lowering,
            };
            g.nodes[c].inputs = inputs;
            changed = true;
            break;
        }
        if changed {
            // Producers and uses changed: the caller runs the pass again.
            return Ok(true);
        }
    }
    Ok(changed)
}

/// The producer's lowering with consumer map `ck` (reading the producer's output as its
/// input `i`) appended to its last kernel, and the joined node's inputs; `None` when the
/// producer's last kernel is not a plain map writing its whole output.
fn join_tail(
    pp: &Part,
    p_inputs: &[ValueId],
    ck: &MapKernel,
    c_inputs: &[ValueId],
    i: usize,
    max_bindings: usize,
) -> Option<(Lowering, Vec<ValueId>)> {
    let low = &pp.lowering;
    if low.alias.is_some() || low.calls.len() < 2 {
        return None;
    }
    let last = low.calls.last()?;
    let Kernel::Map(pk) = &last.kernel else {
        return None;
    };
    let earlier_write = low.calls[..low.calls.len() - 1]
        .iter()
        .any(|call| call.outputs.contains(&Buf::Out(0)));
    if pk.store.is_some()
        || last.outputs != [Buf::Out(0)]
        || pk.expr.outputs.len() != 1
        || earlier_write
        || pk.space.iter().product::<usize>() != ck.space.iter().product::<usize>()
    {
        return None;
    }
    // Node inputs: the producer's, then the consumer's others (shared where equal); the
    // last call binds the ones it lacks.
    let mut inputs = p_inputs.to_vec();
    let mut bufs = last.inputs.clone();
    let mut dtypes = pk.inputs.clone();
    let mut pos = vec![0u32; c_inputs.len()];
    for (j, &u) in c_inputs.iter().enumerate() {
        if j == i {
            continue;
        }
        let ni = match inputs.iter().position(|&x| x == u) {
            Some(ni) => ni,
            None => {
                inputs.push(u);
                inputs.len() - 1
            }
        };
        pos[j] = match bufs.iter().position(|b| *b == Buf::In(ni)) {
            Some(q) => q as u32,
            None => {
                bufs.push(Buf::In(ni));
                dtypes.push(ck.inputs[j]);
                (bufs.len() - 1) as u32
            }
        };
    }
    if bufs.len() + 1 > max_bindings {
        return None;
    }
    let rank = pk.space.len();
    let identity = contiguous_strides(&pk.space);
    let mut b = Builder::default();
    let mut ids: Vec<NodeId> = vec![];
    for (n, &dt) in pk.expr.nodes.iter().zip(&pk.expr.dtypes) {
        let node = match n {
            Node::Load { input, index } => Node::Load {
                input: *input,
                index: match index {
                    Index::Node(ix) => Index::Node(ids[*ix as usize]),
                    a => a.clone(),
                },
            },
            n => map_args(n, |a| ids[a as usize]),
        };
        ids.push(b.push(node, dt));
    }
    let produced = ids[pk.expr.outputs[0] as usize];
    let mut cids: Vec<NodeId> = vec![];
    for (n, &dt) in ck.expr.nodes.iter().zip(&ck.expr.dtypes) {
        let id = match n {
            Node::Load { input, .. } if *input == i as u32 => produced,
            Node::Load { input, index } => {
                let Index::Affine { offset, strides } = index else {
                    return None;
                };
                // The consumer's own points are the producer's in the same order.
                let strides = if strides.iter().all(|&s| s == 0) {
                    vec![0; rank]
                } else {
                    identity.clone()
                };
                let index = Index::Affine {
                    offset: *offset,
                    strides,
                };
                b.push(
                    Node::Load {
                        input: pos[*input as usize],
                        index,
                    },
                    dt,
                )
            }
            n => b.push(map_args(n, |a| cids[a as usize]), dt),
        };
        cids.push(id);
    }
    let expr = b.finish(vec![cids[ck.expr.outputs[0] as usize]]);
    let mut lowering = low.clone();
    let call = lowering.calls.last_mut().expect("checked");
    call.inputs = bufs;
    call.kernel = Kernel::Map(MapKernel {
        space: pk.space.clone(),
        inputs: dtypes,
        expr,
        store: None,
    });
    Some((lowering, inputs))
}
