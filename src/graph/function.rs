//! `function`: TensorFlow's `tf.function`. A closure is traced into a graph once per input
//! signature, optimized, compiled into a [`Plan`] and replayed on later calls.
//!
//! Retracing follows TensorFlow: tensors key the cache by dtype and shape, host values
//! (TensorFlow's Python scalars) by value; with an input signature every call that matches
//! it shares one trace.

use super::executor::Plan;
use super::ir::Graph;
use super::trace::{self, TraceGuard};
use crate::device::{current_device, with_device};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::Meta;
use crate::shape::fmt_shape;
use crate::tensor::Tensor;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};

static RUN_EAGERLY: AtomicBool = AtomicBool::new(false);

/// Makes every [`Function`] run its closure eagerly instead of replaying a graph (for
/// debugging; TensorFlow's `tf.config.run_functions_eagerly`).
pub fn run_functions_eagerly(on: bool) {
    RUN_EAGERLY.store(on, Ordering::SeqCst);
}

/// Whether functions currently run eagerly.
pub fn functions_run_eagerly() -> bool {
    RUN_EAGERLY.load(Ordering::SeqCst)
}

/// One argument of a function call: a tensor, or a host value that keys the trace cache by
/// value (Python scalars in TensorFlow).
#[derive(Clone, Debug)]
pub enum Arg {
    Tensor(Tensor),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
}

impl Arg {
    /// The tensor, or an error naming what the argument is.
    pub fn tensor(&self) -> Result<&Tensor> {
        match self {
            Arg::Tensor(t) => Ok(t),
            other => Err(Error::invalid(
                "function",
                format!("expected a tensor argument, got {other:?}"),
            )),
        }
    }
    pub fn int(&self) -> Result<i64> {
        match self {
            Arg::Int(v) => Ok(*v),
            other => Err(Error::invalid(
                "function",
                format!("expected an integer argument, got {other:?}"),
            )),
        }
    }
    pub fn float(&self) -> Result<f64> {
        match self {
            Arg::Float(v) => Ok(*v),
            Arg::Int(v) => Ok(*v as f64),
            other => Err(Error::invalid(
                "function",
                format!("expected a float argument, got {other:?}"),
            )),
        }
    }
    pub fn bool(&self) -> Result<bool> {
        match self {
            Arg::Bool(v) => Ok(*v),
            other => Err(Error::invalid(
                "function",
                format!("expected a bool argument, got {other:?}"),
            )),
        }
    }
}

impl From<&Tensor> for Arg {
    fn from(t: &Tensor) -> Arg {
        Arg::Tensor(t.clone())
    }
}
impl From<Tensor> for Arg {
    fn from(t: Tensor) -> Arg {
        Arg::Tensor(t)
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(v)
    }
}
impl From<i32> for Arg {
    fn from(v: i32) -> Arg {
        Arg::Int(v as i64)
    }
}
impl From<usize> for Arg {
    fn from(v: usize) -> Arg {
        Arg::Int(v as i64)
    }
}
impl From<f64> for Arg {
    fn from(v: f64) -> Arg {
        Arg::Float(v)
    }
}
impl From<f32> for Arg {
    fn from(v: f32) -> Arg {
        Arg::Float(v as f64)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Arg {
        Arg::Bool(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Str(v.to_string())
    }
}

/// Function arguments from a list of tensors and host values: `args![&x, 2, 0.5]`.
#[macro_export]
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        &[$($crate::graph::Arg::from($a)),*][..]
    };
}

/// The expected dtype and shape of a tensor argument; `None` dimensions match any size.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TensorSpec {
    pub shape: Vec<Option<usize>>,
    pub dtype: DType,
}

impl TensorSpec {
    pub fn new(shape: impl Into<Vec<Option<usize>>>, dtype: DType) -> TensorSpec {
        TensorSpec {
            shape: shape.into(),
            dtype,
        }
    }
    /// A spec with every dimension known.
    pub fn of(shape: &[usize], dtype: DType) -> TensorSpec {
        TensorSpec::new(shape.iter().map(|&d| Some(d)).collect::<Vec<_>>(), dtype)
    }
    pub fn matches(&self, t: &Tensor) -> bool {
        t.dtype() == self.dtype
            && t.rank() == self.shape.len()
            && self
                .shape
                .iter()
                .zip(t.shape())
                .all(|(s, &d)| s.is_none_or(|s| s == d))
    }
}

impl std::fmt::Display for TensorSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let dims: Vec<String> = self
            .shape
            .iter()
            .map(|d| d.map_or("None".into(), |d| d.to_string()))
            .collect();
        write!(
            f,
            "TensorSpec(shape=({}), dtype={})",
            dims.join(", "),
            self.dtype
        )
    }
}

/// A nested structure of tensors a function returns: a tensor, `()`, a `Vec`, a tuple, an
/// `Option`. Replays rebuild it from the graph's flat outputs.
pub trait Structure: Sized {
    fn flatten(&self, out: &mut Vec<Tensor>);
    /// The same structure as `self` with tensors taken from `flat` in order.
    fn rebuild(&self, flat: &mut dyn Iterator<Item = Tensor>) -> Self;
}

impl Structure for Tensor {
    fn flatten(&self, out: &mut Vec<Tensor>) {
        out.push(self.clone());
    }
    fn rebuild(&self, flat: &mut dyn Iterator<Item = Tensor>) -> Self {
        flat.next()
            .expect("structure has fewer tensors than its template")
    }
}
impl Structure for () {
    fn flatten(&self, _: &mut Vec<Tensor>) {}
    fn rebuild(&self, _: &mut dyn Iterator<Item = Tensor>) -> Self {}
}
impl<T: Structure> Structure for Vec<T> {
    fn flatten(&self, out: &mut Vec<Tensor>) {
        self.iter().for_each(|x| x.flatten(out));
    }
    fn rebuild(&self, flat: &mut dyn Iterator<Item = Tensor>) -> Self {
        self.iter().map(|x| x.rebuild(flat)).collect()
    }
}
impl<T: Structure> Structure for Option<T> {
    fn flatten(&self, out: &mut Vec<Tensor>) {
        if let Some(x) = self {
            x.flatten(out)
        }
    }
    fn rebuild(&self, flat: &mut dyn Iterator<Item = Tensor>) -> Self {
        self.as_ref().map(|x| x.rebuild(flat))
    }
}
macro_rules! tuple_structure {
    ($($t:ident $i:tt),*) => {
        impl<$($t: Structure),*> Structure for ($($t,)*) {
            fn flatten(&self, out: &mut Vec<Tensor>) {
                $(self.$i.flatten(out);)*
            }
            fn rebuild(&self, flat: &mut dyn Iterator<Item = Tensor>) -> Self {
                ($(self.$i.rebuild(flat),)*)
            }
        }
    };
}
tuple_structure!(A 0);
tuple_structure!(A 0, B 1);
tuple_structure!(A 0, B 1, C 2);
tuple_structure!(A 0, B 1, C 2, D 3);

/// How an argument keys the cache.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum ArgKey {
    Tensor {
        dtype: DType,
        shape: Vec<usize>,
        device: String,
    },
    Spec(usize),
    Int(i64),
    Float(u64),
    Bool(bool),
    Str(String),
}

/// A traced graph and the plans compiled from it for the shapes it has been called with.
pub struct ConcreteFunction<O> {
    name: String,
    /// The graph as traced (before optimization).
    traced: Graph,
    /// Optimized graph and plan per tuple of argument shapes.
    plans: RefCell<PlanCache>,
    template: O,
}

impl<O: Structure> ConcreteFunction<O> {
    fn new(name: &str, traced: Graph, template: O) -> Result<Self> {
        let cf = ConcreteFunction {
            name: name.to_string(),
            traced,
            plans: RefCell::new(HashMap::new()),
            template,
        };
        let shapes = cf.traced_shapes();
        // Stand-in sizes are planned when a call brings real ones.
        if !shapes.iter().any(|s| s.contains(&super::UNKNOWN_DIM)) {
            cf.plan_for(shapes)?;
        }
        Ok(cf)
    }

    fn traced_shapes(&self) -> Vec<Vec<usize>> {
        self.traced
            .args()
            .iter()
            .map(|&v| self.traced.values[v].shape.clone())
            .collect()
    }

    /// Whether the graph traced with stand-in sizes for unknown dimensions holds for other
    /// sizes: re-planned for another size, nothing may still carry the stand-in.
    fn is_shape_polymorphic(&self) -> bool {
        let other: Vec<Vec<usize>> = self
            .traced_shapes()
            .into_iter()
            .map(|s| {
                s.into_iter()
                    .map(|d| if d == super::UNKNOWN_DIM { 1013 } else { d })
                    .collect()
            })
            .collect();
        match super::specialize(&self.traced, &other) {
            Ok(g) => super::fixed_stand_in(&g).is_none(),
            Err(_) => false,
        }
    }

    fn plan_for(&self, shapes: Vec<Vec<usize>>) -> Result<Rc<(Graph, Plan)>> {
        if let Some(p) = self.plans.borrow().get(&shapes) {
            return Ok(p.clone());
        }
        let mut g = super::specialize(&self.traced, &shapes)?;
        super::passes::optimize(&mut g)?;
        let plan = Plan::compile(&g)?;
        let p = Rc::new((g, plan));
        self.plans.borrow_mut().insert(shapes, p.clone());
        Ok(p)
    }

    /// Runs the graph on tensor arguments (host arguments were fixed when tracing).
    pub fn call(&self, args: &[&Tensor]) -> Result<O> {
        let shapes: Vec<Vec<usize>> = args.iter().map(|t| t.shape().to_vec()).collect();
        let p = self.plan_for(shapes)?;
        let outs = p.1.run(args).map_err(|e| name_error(&self.name, e))?;
        Ok(self.template.rebuild(&mut outs.into_iter()))
    }

    /// The graph as traced.
    pub fn traced_graph(&self) -> &Graph {
        &self.traced
    }

    /// The optimized graph the plan for the traced shapes runs.
    pub fn graph(&self) -> Graph {
        let shapes: Vec<Vec<usize>> = self
            .traced
            .args()
            .iter()
            .map(|&v| self.traced.values[v].shape.clone())
            .collect();
        self.plan_for(shapes)
            .map(|p| p.0.clone())
            .unwrap_or_else(|_| self.traced.clone())
    }

    /// Kernel-launching nodes of the optimized graph (each launches one or more dispatches).
    pub fn kernel_nodes(&self) -> usize {
        self.graph().op_count()
    }
}

fn name_error(name: &str, e: Error) -> Error {
    match e {
        Error::InvalidArgument { op, msg } if op == "function" => Error::InvalidArgument {
            op: format!("function '{name}'"),
            msg,
        },
        Error::Shape { op, msg } if op == "function" => Error::Shape {
            op: format!("function '{name}'"),
            msg,
        },
        e => e,
    }
}

/// Optimized graph and plan per tuple of argument shapes.
type PlanCache = HashMap<Vec<Vec<usize>>, Rc<(Graph, Plan)>>;

type Closure<O> = Box<dyn Fn(&[Arg]) -> Result<O>>;

/// A traced, cached, replayable function (TensorFlow's `tf.function`). See [`function`].
pub struct Function<O> {
    name: String,
    closure: Closure<O>,
    signature: Option<Vec<TensorSpec>>,
    cache: RefCell<HashMap<Vec<ArgKey>, Rc<ConcreteFunction<O>>>>,
    tracing_count: Cell<usize>,
    /// The signature's unknown dimensions cannot share one graph (see
    /// [`Function::with_input_signature`]): trace per concrete shape.
    per_shape: Cell<bool>,
}

/// Wraps `closure` as a [`Function`]: each call with a new input signature traces the
/// closure into a graph (its Rust side effects, such as `println!`, happen then); later
/// calls with that signature replay the optimized graph.
///
/// ```
/// use wgflow::{Tensor, args, function, ops};
/// let f = function(|a| ops::add(a[0].tensor()?, a[0].tensor()?));
/// let x = Tensor::from_slice(&[1.0f32, 2.0], [2]).unwrap();
/// assert_eq!(f.call(args![&x]).unwrap().to_vec::<f32>().unwrap(), vec![2.0, 4.0]);
/// f.call(args![&x]).unwrap();
/// assert_eq!(f.tracing_count(), 1);
/// ```
pub fn function<O, F>(closure: F) -> Function<O>
where
    O: Structure + 'static,
    F: Fn(&[Arg]) -> Result<O> + 'static,
{
    Function {
        name: "function".into(),
        closure: Box::new(closure),
        signature: None,
        cache: RefCell::new(HashMap::new()),
        tracing_count: Cell::new(0),
        per_shape: Cell::new(false),
    }
}

impl<O: Structure + 'static> Function<O> {
    /// Names the function in errors and listings.
    pub fn with_name(mut self, name: &str) -> Self {
        self.name = name.to_string();
        self
    }

    /// Fixes the tensor arguments' specs: one trace serves every matching call, and a call
    /// that does not match is an error. Unknown (`None`) dimensions are traced with the
    /// stand-in size [`super::UNKNOWN_DIM`] and the graph is re-planned (not retraced) for
    /// each new combination of concrete shapes. A graph that fixed the stand-in somewhere
    /// (a mean's gradient scales by `1/n`; closure code may read the size) would be wrong
    /// at other sizes: such a function is traced again for each concrete shape instead,
    /// as without an input signature (its `tracing_count` shows it).
    pub fn with_input_signature(mut self, signature: Vec<TensorSpec>) -> Self {
        self.signature = Some(signature);
        self
    }

    /// How many times the closure has been traced.
    pub fn tracing_count(&self) -> usize {
        self.tracing_count.get()
    }

    fn key(&self, args: &[Arg]) -> Result<Vec<ArgKey>> {
        if let Some(sig) = &self.signature {
            let n_tensors = args.iter().filter(|a| matches!(a, Arg::Tensor(_))).count();
            if n_tensors != sig.len() {
                return Err(Error::invalid(
                    &format!("function '{}'", self.name),
                    format!(
                        "the input signature has {} tensor(s), the call passes {n_tensors}",
                        sig.len()
                    ),
                ));
            }
        }
        let mut k = 0;
        args.iter()
            .map(|a| {
                Ok(match a {
                    Arg::Tensor(t) => {
                        if let Some(sig) = &self.signature {
                            let spec = &sig[k];
                            k += 1;
                            if !spec.matches(t) {
                                return Err(Error::invalid(
                                    &format!("function '{}'", self.name),
                                    format!(
                                        "argument {} is a {} {} tensor, which does not match \
                                         the input signature's {spec}",
                                        k - 1,
                                        t.dtype(),
                                        fmt_shape(t.shape())
                                    ),
                                ));
                            }
                            if self.per_shape.get() {
                                ArgKey::Tensor {
                                    dtype: t.dtype(),
                                    shape: t.shape().to_vec(),
                                    device: t.device().name().to_string(),
                                }
                            } else {
                                ArgKey::Spec(k - 1)
                            }
                        } else {
                            ArgKey::Tensor {
                                dtype: t.dtype(),
                                shape: t.shape().to_vec(),
                                device: t.device().name().to_string(),
                            }
                        }
                    }
                    Arg::Int(v) => ArgKey::Int(*v),
                    Arg::Float(v) => ArgKey::Float(v.to_bits()),
                    Arg::Bool(v) => ArgKey::Bool(*v),
                    Arg::Str(v) => ArgKey::Str(v.clone()),
                })
            })
            .collect()
    }

    /// Calls the function: replays the graph traced for this signature (tracing it first if
    /// there is none). Inside another function's trace the closure is inlined; with
    /// [`run_functions_eagerly`] it simply runs.
    pub fn call(&self, args: &[Arg]) -> Result<O> {
        if functions_run_eagerly() || trace::is_tracing() {
            return (self.closure)(args);
        }
        let cf = self.concrete(args)?;
        let tensors: Vec<&Tensor> = args
            .iter()
            .filter_map(|a| match a {
                Arg::Tensor(t) => Some(t),
                _ => None,
            })
            .collect();
        cf.call(&tensors)
    }

    /// The concrete function for these arguments, tracing it if needed.
    pub fn get_concrete_function(&self, args: &[Arg]) -> Result<Rc<ConcreteFunction<O>>> {
        self.concrete(args)
    }

    fn concrete(&self, args: &[Arg]) -> Result<Rc<ConcreteFunction<O>>> {
        let key = self.key(args)?;
        if let Some(cf) = self.cache.borrow().get(&key) {
            return Ok(cf.clone());
        }
        let cf = Rc::new(self.trace(args)?);
        if !self.per_shape.get() && !cf.is_shape_polymorphic() {
            self.per_shape.set(true);
            return self.concrete(args);
        }
        self.cache.borrow_mut().insert(key, cf.clone());
        Ok(cf)
    }

    fn trace(&self, args: &[Arg]) -> Result<ConcreteFunction<O>> {
        let device = match args.iter().find_map(|a| match a {
            Arg::Tensor(t) => Some(t.device().clone()),
            _ => None,
        }) {
            Some(d) => d,
            None => current_device()?,
        };
        self.tracing_count.set(self.tracing_count.get() + 1);
        let guard = TraceGuard::begin(device.clone());
        let mut n = 0;
        let sym: Vec<Arg> = args
            .iter()
            .map(|a| match a {
                Arg::Tensor(t) => {
                    n += 1;
                    let mut meta = Meta::of(t);
                    if let Some(spec) = self.signature.as_ref().map(|s| &s[n - 1])
                        && !self.per_shape.get()
                    {
                        meta.shape = spec
                            .shape
                            .iter()
                            .map(|d| d.unwrap_or(super::UNKNOWN_DIM))
                            .collect();
                    }
                    Arg::Tensor(trace::arg(n - 1, "", meta))
                }
                other => other.clone(),
            })
            .collect();
        let result = with_device(&device, || (self.closure)(&sym));
        let out = match result {
            Ok(o) => o,
            Err(e) => {
                drop(guard);
                return Err(e);
            }
        };
        let mut flat = vec![];
        out.flatten(&mut flat);
        let outputs = flat.iter().map(trace::value).collect::<Result<Vec<_>>>();
        let mut t = guard.finish();
        t.graph.outputs = outputs?;
        ConcreteFunction::new(&self.name, t.graph, out)
    }
}
