//! TensorFlow 1 graphs and sessions (`tf.compat.v1`) on the IR that [`super::function`]
//! traces. A [`Graph`] records ops while one of its [`Graph::as_default`] blocks runs (the
//! same thread-local trace `function` uses, kept by the graph between blocks);
//! [`placeholder`]s are its arguments. [`Session::run`] prunes the graph to what the fetches
//! need, specializes it for the fed shapes, optimizes it, compiles a [`Plan`] once per
//! (fetches, feeds and their shapes) and replays that plan on later runs.
//!
//! ```
//! use wgflow::compat::v1;
//! use wgflow::{DType, Tensor, ops};
//! let g = v1::Graph::new().unwrap();
//! let (x, y) = g
//!     .as_default(|| {
//!         let x = v1::placeholder(DType::F32, &[None], "x")?;
//!         let y = ops::mul(&x, &x)?;
//!         Ok((x, y))
//!     })
//!     .unwrap();
//! let sess = v1::Session::new(&g);
//! let feed = Tensor::from_slice(&[1.0f32, 2.0, 3.0], [3]).unwrap();
//! let out = sess.run(&[&y], &[(&x, &feed)]).unwrap();
//! assert_eq!(out[0].to_vec::<f32>().unwrap(), vec![1.0, 4.0, 9.0]);
//! ```
//!
//! Semantics follow TF1 where the static-shape IR allows:
//! - A run computes only what its fetches need; a placeholder they need must be fed. Any
//!   graph tensor may be fed (its producer is then not run), as in TF1.
//! - Variables are read as they are when the run starts. [`assign`] builds an assignment
//!   that takes effect only in runs that fetch its result (after the run's values are
//!   computed); assigning a variable in place (`Variable::assign`, an optimizer) while
//!   building is an error, since TF1 would give it no handle to run it by.
//!   Create variables outside the block (or in [`crate::init_scope`]): their initial value
//!   is computed then, there is no initializer op to run.
//! - `print`s (and host effects) run in the runs that compute every value they read.
//! - Unknown dimensions (`None`) are traced with the stand-in size [`UNKNOWN_DIM`] and
//!   re-planned for each fed size. Code that reads a size while building — notably gradient
//!   rules, which bake the input's shape into broadcasts — fixes the stand-in; a run that
//!   would re-plan such a graph is refused with an error (give that dimension instead).
//!   A size read into a plain number (`1.0 / n as f32`) cannot be detected.

use super::executor::Plan;
use super::ir::{Graph as IrGraph, NodeKind, ValueId};
use super::trace::{self, Trace};
use crate::autodiff::Variable;
use crate::device::{Device, current_device, with_device};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::{self, Meta};
use crate::shape::fmt_shape;
use crate::tensor::Tensor;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

pub use super::UNKNOWN_DIM;

const RUN: &str = "Session.run";

/// A placeholder's declared dtype and shape (`None`: any size).
struct Spec {
    name: String,
    dtype: DType,
    shape: Vec<Option<usize>>,
}

impl Spec {
    fn matches(&self, t: &Tensor) -> bool {
        t.rank() == self.shape.len()
            && self
                .shape
                .iter()
                .zip(t.shape())
                .all(|(s, &d)| s.is_none_or(|s| s == d))
    }
    fn describe(&self) -> String {
        format!("'{}' ({} {})", self.name, self.dtype, fmt_dims(&self.shape))
    }
}

/// `(?, 3)`: a shape with unknown dimensions, in the style of [`fmt_shape`].
fn fmt_dims(dims: &[Option<usize>]) -> String {
    let d: Vec<String> = dims
        .iter()
        .map(|d| d.map_or("?".into(), |d| d.to_string()))
        .collect();
    match d.len() {
        1 => format!("({},)", d[0]),
        _ => format!("({})", d.join(", ")),
    }
}

/// A traced shape with its stand-in sizes shown as unknown.
fn traced_dims(shape: &[usize]) -> Vec<Option<usize>> {
    shape
        .iter()
        .map(|&d| (d != UNKNOWN_DIM).then_some(d))
        .collect()
}

struct Inner {
    id: u64,
    device: Device,
    /// The trace, while no `as_default` block of the graph is open (it is on the trace
    /// stack then).
    trace: RefCell<Option<Trace>>,
    /// Placeholder value → its declaration.
    placeholders: RefCell<HashMap<ValueId, Spec>>,
    /// Handle tensor id (from [`assign`]) → the write a run that fetches it applies.
    assigns: RefCell<HashMap<u64, (Variable, ValueId)>>,
}

thread_local! {
    /// The graphs whose `as_default` blocks are open on this thread, innermost last.
    static OPEN: RefCell<Vec<Rc<Inner>>> = const { RefCell::new(Vec::new()) };
}

/// A TF1 graph (`tf.Graph`): ops record into it inside [`Graph::as_default`]. Cloning gives
/// another handle to the same graph.
#[derive(Clone)]
pub struct Graph(Rc<Inner>);

impl Graph {
    /// An empty graph on the current device.
    pub fn new() -> Result<Graph> {
        Ok(Graph::on(&current_device()?))
    }

    /// An empty graph whose ops run on `device`.
    pub fn on(device: &Device) -> Graph {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        Graph(Rc::new(Inner {
            id,
            device: device.clone(),
            trace: RefCell::new(Some(Trace::for_graph(device.clone(), id))),
            placeholders: RefCell::new(HashMap::new()),
            assigns: RefCell::new(HashMap::new()),
        }))
    }

    pub fn device(&self) -> &Device {
        &self.0.device
    }

    /// Runs `f` with ops recording into this graph (TF's `with g.as_default():`), on the
    /// graph's device. Blocks may be entered again later and nested with other graphs';
    /// tensors of one graph cannot be used in another.
    pub fn as_default<R>(&self, f: impl FnOnce() -> Result<R>) -> Result<R> {
        let inner = &self.0;
        if trace::innermost_owner() == Some(inner.id) {
            return with_device(&inner.device, f);
        }
        let taken = inner.trace.borrow_mut().take();
        let (t, at) = match taken {
            Some(t) => (t, None),
            // Open further out: bring it to the top for this block.
            None => match trace::take_owned(inner.id) {
                Some((i, t)) => (t, Some(i)),
                None => {
                    return Err(Error::invalid(
                        "as_default",
                        "the graph is open in an as_default block outside the current \
                         init_scope; build it outside the init_scope",
                    ));
                }
            },
        };
        trace::resume(t);
        OPEN.with(|o| o.borrow_mut().push(inner.clone()));
        struct Close<'a>(&'a Inner, Option<usize>);
        impl Drop for Close<'_> {
            fn drop(&mut self) {
                OPEN.with(|o| o.borrow_mut().pop());
                let t = trace::end();
                debug_assert_eq!(t.owner, self.0.id);
                match self.1 {
                    Some(i) => trace::restore_at(i, t),
                    None => *self.0.trace.borrow_mut() = Some(t),
                }
            }
        }
        let _close = Close(inner, at);
        with_device(&inner.device, f)
    }

    /// The graph built so far, as the IR (TF's `as_graph_def`): for listings and DOT.
    pub fn as_graph_def(&self) -> Result<IrGraph> {
        self.with_trace("as_graph_def", |t| t.graph.clone())
    }

    /// Runs `f` on the graph's trace, wherever it is.
    fn with_trace<R>(&self, op: &str, f: impl FnOnce(&Trace) -> R) -> Result<R> {
        if let Some(t) = self.0.trace.borrow().as_ref() {
            return Ok(f(t));
        }
        trace::with_owned(self.0.id, f).ok_or_else(|| {
            Error::invalid(
                op,
                "the graph is open in an as_default block outside the current init_scope",
            )
        })
    }
}

/// The graph whose `as_default` block directly encloses this call.
fn building(op: &str) -> Result<Rc<Inner>> {
    let owner = trace::innermost_owner().filter(|&o| o != 0);
    owner
        .and_then(|o| OPEN.with(|g| g.borrow().iter().rev().find(|g| g.id == o).cloned()))
        .ok_or_else(|| {
            Error::invalid(
                op,
                "must be called directly inside a v1 Graph's as_default block (not eagerly, \
                 in a function or in a control-flow body)",
            )
        })
}

/// A graph input fed at every run that needs it (TF's `tf.compat.v1.placeholder`): `None`
/// dimensions take any size (see [`UNKNOWN_DIM`]). An empty or repeated name is made
/// unique (`Placeholder`, `x_1`).
pub fn placeholder(dtype: DType, shape: &[Option<usize>], name: &str) -> Result<Tensor> {
    let g = building("placeholder")?;
    let mut specs = g.placeholders.borrow_mut();
    let base = if name.is_empty() { "Placeholder" } else { name };
    let taken = |n: &str| specs.values().any(|s| s.name == n);
    let mut unique = base.to_string();
    let mut k = 0;
    while taken(&unique) {
        k += 1;
        unique = format!("{base}_{k}");
    }
    let traced: Vec<usize> = shape.iter().map(|d| d.unwrap_or(UNKNOWN_DIM)).collect();
    let t = trace::arg(specs.len(), &unique, Meta::new(traced, dtype));
    specs.insert(
        trace::value(&t)?,
        Spec {
            name: unique,
            dtype,
            shape: shape.to_vec(),
        },
    );
    Ok(t)
}

/// An assignment of `value` to `var` (TF1's `tf.compat.v1.assign`): it runs only in the
/// session runs that fetch the returned tensor, which holds the new value. Reads of `var`
/// in the graph see its value at the start of each run.
pub fn assign(var: &Variable, value: &Tensor) -> Result<Tensor> {
    let g = building("assign")?;
    let cur = var.concrete_value();
    if value.shape() != cur.shape() || value.dtype() != cur.dtype() {
        return Err(Error::shape(
            "assign",
            format!(
                "variable '{}' is {} {} but the value is {} {}",
                var.name(),
                cur.dtype(),
                fmt_shape(cur.shape()),
                value.dtype(),
                fmt_dims(&traced_dims(value.shape()))
            ),
        ));
    }
    if cur.device() != &g.device {
        return Err(Error::invalid(
            "assign",
            format!(
                "variable '{}' lives on {} but the graph runs on {}",
                var.name(),
                cur.device(),
                g.device
            ),
        ));
    }
    let v = trace::value(value)?;
    let handle = trace::alias(value).expect("a value of the innermost trace");
    g.assigns.borrow_mut().insert(handle.id(), (var.clone(), v));
    Ok(handle)
}

/// [`assign`] of `var + delta`.
pub fn assign_add(var: &Variable, delta: &Tensor) -> Result<Tensor> {
    building("assign_add")?;
    assign(var, &ops::add(&var.read_value(), delta)?)
}

/// [`assign`] of `var - delta`.
pub fn assign_sub(var: &Variable, delta: &Tensor) -> Result<Tensor> {
    building("assign_sub")?;
    assign(var, &ops::sub(&var.read_value(), delta)?)
}

/// What a plan is compiled for: the graph's size (it may grow between runs), the fetched
/// tensors, and the fed values with their shapes (sorted by value).
#[derive(Hash, PartialEq, Eq)]
struct PlanKey {
    nodes: usize,
    fetches: Vec<u64>,
    feeds: Vec<(ValueId, Vec<usize>)>,
}

struct Planned {
    plan: Plan,
    /// For each plan argument, its position in the sorted feeds.
    args: Vec<usize>,
}

/// Runs a [`Graph`] (TF's `tf.compat.v1.Session`).
pub struct Session {
    graph: Graph,
    plans: RefCell<HashMap<PlanKey, Rc<Planned>>>,
}

impl Session {
    pub fn new(graph: &Graph) -> Session {
        Session {
            graph: graph.clone(),
            plans: RefCell::new(HashMap::new()),
        }
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// How many plans the session keeps: one per distinct fetches, feeds and fed shapes
    /// (since the graph last grew).
    pub fn cached_plans(&self) -> usize {
        self.plans.borrow().len()
    }

    /// Computes `fetches` with `feeds` (graph tensor, concrete value) standing in for their
    /// graph values; applies the assignments among the fetches. Returns the fetched values
    /// in order (for an assignment, the value assigned).
    pub fn run(&self, fetches: &[&Tensor], feeds: &[(&Tensor, &Tensor)]) -> Result<Vec<Tensor>> {
        let inner = &self.graph.0;
        let (nodes, fetch_vals, feed_vals) = self.graph.with_trace(RUN, |t| {
            let fetch_vals = fetches
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    t.value_id(f)
                        .ok_or_else(|| foreign(&format!("fetch {i}"), f))
                })
                .collect::<Result<Vec<_>>>()?;
            let feed_vals = feeds
                .iter()
                .enumerate()
                .map(|(i, (k, _))| {
                    t.value_id(k)
                        .ok_or_else(|| foreign(&format!("the key of feed {i}"), k))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok::<_, Error>((t.graph.nodes.len(), fetch_vals, feed_vals))
        })??;
        let mut order: Vec<usize> = (0..feeds.len()).collect();
        order.sort_by_key(|&i| feed_vals[i]);
        for w in order.windows(2) {
            if feed_vals[w[0]] == feed_vals[w[1]] {
                return Err(Error::invalid(
                    RUN,
                    format!("feeds {} and {} feed the same tensor", w[0], w[1]),
                ));
            }
        }
        {
            let specs = inner.placeholders.borrow();
            for (i, (key, value)) in feeds.iter().enumerate() {
                check_feed(&specs, feed_vals[i], key, value, &inner.device)?;
            }
        }
        let key = PlanKey {
            nodes,
            fetches: fetches.iter().map(|f| f.id()).collect(),
            feeds: order
                .iter()
                .map(|&i| (feed_vals[i], feeds[i].1.shape().to_vec()))
                .collect(),
        };
        let cached = self.plans.borrow().get(&key).cloned();
        let planned = match cached {
            Some(p) => p,
            None => {
                let sorted: Vec<(ValueId, &Tensor)> =
                    order.iter().map(|&i| (feed_vals[i], feeds[i].1)).collect();
                let p = Rc::new(self.plan(fetches, &fetch_vals, &sorted)?);
                let mut plans = self.plans.borrow_mut();
                // Plans for the graph before it grew are not asked for again.
                plans.retain(|k, _| k.nodes == key.nodes);
                plans.insert(key, p.clone());
                p
            }
        };
        let args: Vec<&Tensor> = planned.args.iter().map(|&k| feeds[order[k]].1).collect();
        // Outside every trace: a run inside an `as_default` block runs, and assigns, for real.
        super::init_scope(|| planned.plan.run(&args))
    }

    /// Prunes, specializes, optimizes and compiles the graph for one kind of run.
    fn plan(
        &self,
        fetches: &[&Tensor],
        fetch_vals: &[ValueId],
        feeds: &[(ValueId, &Tensor)],
    ) -> Result<Planned> {
        let inner = &self.graph.0;
        let graph = self.graph.with_trace(RUN, |t| t.graph.clone())?;
        let writes: Vec<(Variable, ValueId)> = {
            let assigns = inner.assigns.borrow();
            fetches
                .iter()
                .filter_map(|f| assigns.get(&f.id()).cloned())
                .collect()
        };
        let specs = inner.placeholders.borrow();
        let (pruned, args) = prune(&graph, fetch_vals, &writes, feeds, &specs)?;
        let shapes: Vec<Vec<usize>> = args.iter().map(|&k| feeds[k].1.shape().to_vec()).collect();
        let fed = || {
            args.iter()
                .map(|&k| {
                    let shape = fmt_shape(feeds[k].1.shape());
                    match specs.get(&feeds[k].0) {
                        Some(s) => format!("'{}' {shape}", s.name),
                        None => format!("a tensor {shape}"),
                    }
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        // A stand-in size left after re-planning was fixed while building.
        let fixed = format!(
            "the stand-in size {UNKNOWN_DIM} of an unknown dimension was fixed while building \
             (by a gradient, or a size read in Rust): give the dimension in the placeholder's \
             shape"
        );
        let mut g = super::specialize(&pruned, &shapes).map_err(|e| {
            // `specialize` names the argument shapes; name the feeds instead.
            let detail = match &e {
                Error::Shape { op, msg } if op == "function" => msg
                    .split_once("): ")
                    .map_or_else(|| msg.clone(), |(_, d)| d.to_string()),
                e => e.to_string(),
            };
            let hint = if detail.contains(&UNKNOWN_DIM.to_string()) {
                format!("; {fixed}")
            } else {
                String::new()
            };
            Error::shape(
                RUN,
                format!("the feeds {} do not fit the graph: {detail}{hint}", fed()),
            )
        })?;
        let replanned = pruned
            .args()
            .iter()
            .zip(&shapes)
            .any(|(&v, s)| &pruned.values[v].shape != s);
        if replanned && let Some(what) = super::fixed_stand_in(&g) {
            return Err(Error::shape(
                RUN,
                format!("with the feeds {} {what}: {fixed}", fed()),
            ));
        }
        super::passes::optimize(&mut g)?;
        Ok(Planned {
            plan: Plan::compile(&g)?,
            args,
        })
    }
}

/// The error for a fetch or feed key that is not a tensor of the session's graph.
fn foreign(what: &str, t: &Tensor) -> Error {
    let kind = if t.is_symbolic() {
        "a tensor of another graph or function"
    } else {
        "an eager tensor"
    };
    Error::invalid(
        RUN,
        format!(
            "{what} ({} {}) is {kind}, not a tensor of this session's graph",
            t.dtype(),
            fmt_dims(&traced_dims(t.shape()))
        ),
    )
}

/// Checks a fed value against the placeholder (or graph tensor) it replaces.
fn check_feed(
    specs: &HashMap<ValueId, Spec>,
    v: ValueId,
    key: &Tensor,
    value: &Tensor,
    device: &Device,
) -> Result<()> {
    let (what, dtype, dims) = match specs.get(&v) {
        Some(s) => (
            format!("placeholder {}", s.describe()),
            s.dtype,
            s.shape.clone(),
        ),
        None => {
            let dims = traced_dims(key.shape());
            let what = format!("tensor ({} {})", key.dtype(), fmt_dims(&dims));
            (what, key.dtype(), dims)
        }
    };
    if value.is_symbolic() {
        return Err(Error::invalid(
            RUN,
            format!("the value fed for {what} is a graph tensor; feed a concrete tensor"),
        ));
    }
    if value.dtype() != dtype {
        return Err(Error::dtype(
            RUN,
            format!(
                "cannot feed a {} {} value for {what}",
                value.dtype(),
                fmt_shape(value.shape())
            ),
        ));
    }
    let spec = Spec {
        name: String::new(),
        dtype,
        shape: dims,
    };
    if !spec.matches(value) {
        return Err(Error::shape(
            RUN,
            format!(
                "cannot feed a value of shape {} for {what}",
                fmt_shape(value.shape())
            ),
        ));
    }
    if value.device() != device {
        return Err(Error::invalid(
            RUN,
            format!(
                "the value fed for {what} is on {} but the graph runs on {device}: copy it \
                 with Tensor::on",
                value.device()
            ),
        ));
    }
    Ok(())
}

/// The part of `g` a run needs: the producers of the fetches and written values, cut at the
/// fed values (which become arguments, in graph order), plus the stateful nodes whose inputs
/// that computes. Returns it with the feed position of each argument.
fn prune(
    g: &IrGraph,
    fetches: &[ValueId],
    writes: &[(Variable, ValueId)],
    feeds: &[(ValueId, &Tensor)],
    specs: &HashMap<ValueId, Spec>,
) -> Result<(IrGraph, Vec<usize>)> {
    let fed: HashMap<ValueId, usize> = feeds.iter().enumerate().map(|(k, f)| (f.0, k)).collect();
    let producers = g.producers();
    let mut needed = vec![false; g.nodes.len()];
    let mut seen = vec![false; g.values.len()];
    let mut stack: Vec<ValueId> = fetches.to_vec();
    stack.extend(writes.iter().map(|w| w.1));
    while let Some(v) = stack.pop() {
        if std::mem::replace(&mut seen[v], true) || fed.contains_key(&v) {
            continue;
        }
        let p = producers[v];
        if !std::mem::replace(&mut needed[p], true) {
            stack.extend(&g.nodes[p].inputs);
        }
    }
    for (i, n) in g.nodes.iter().enumerate() {
        if needed[i] && matches!(n.kind, NodeKind::Arg { .. }) {
            let what = specs
                .get(&n.outputs[0])
                .map_or_else(|| n.kind.name(), |s| s.describe());
            return Err(Error::invalid(
                RUN,
                format!("placeholder {what} must be fed"),
            ));
        }
    }
    let mut out = IrGraph::new(g.device.clone());
    let mut map: Vec<Option<ValueId>> = vec![None; g.values.len()];
    let mut args: Vec<usize> = vec![];
    // The argument standing for fed value `v` (added before its first reader).
    let mut arg = |v: ValueId, out: &mut IrGraph, map: &mut [Option<ValueId>]| {
        if let Some(a) = map[v] {
            return a;
        }
        let name = specs.get(&v).map_or_else(String::new, |s| s.name.clone());
        let index = args.len();
        args.push(fed[&v]);
        let a = out.add(
            NodeKind::Arg { index, name },
            vec![],
            vec![g.values[v].clone()],
        )[0];
        map[v] = Some(a);
        a
    };
    for (i, n) in g.nodes.iter().enumerate() {
        let stateful_ready = n.kind.is_stateful()
            && n.inputs
                .iter()
                .all(|v| map[*v].is_some() || fed.contains_key(v));
        if !needed[i] && !stateful_ready {
            continue;
        }
        let ins: Vec<ValueId> = n
            .inputs
            .iter()
            .map(|&v| match map[v] {
                Some(m) => m,
                None => arg(v, &mut out, &mut map),
            })
            .collect();
        let metas: Vec<Meta> = n.outputs.iter().map(|&o| g.values[o].clone()).collect();
        let outs = out.add(n.kind.clone(), ins, metas);
        for (&o, new) in n.outputs.iter().zip(outs) {
            if !fed.contains_key(&o) {
                map[o] = Some(new);
            }
        }
    }
    let mut value = |v: ValueId, out: &mut IrGraph| match map[v] {
        Some(m) => m,
        None => arg(v, out, &mut map),
    };
    out.outputs = fetches.iter().map(|&v| value(v, &mut out)).collect();
    out.variable_writes = writes
        .iter()
        .map(|(var, v)| (var.clone(), value(*v, &mut out)))
        .collect();
    Ok((out, args))
}
