//! `GradientTape`: records ops on watched tensors while alive, then walks the record
//! backwards calling each op's gradient rule.

use super::Variable;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::{self, GradContext, Op};
use crate::shape::fmt_shape;
use crate::tensor::Tensor;
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

/// A user-written gradient: output gradients in, one gradient (or `None`) per input out.
type CustomGrad = Rc<dyn Fn(&[Tensor]) -> Result<Vec<Option<Tensor>>>>;

#[derive(Clone)]
enum Backward {
    Op(Op),
    Custom(CustomGrad),
}

/// One recorded op: how to go backwards, and the tensors it read and wrote.
#[derive(Clone)]
struct Entry {
    backward: Backward,
    inputs: Vec<Tensor>,
    outputs: Vec<Tensor>,
}

impl Entry {
    fn name(&self) -> &'static str {
        match &self.backward {
            Backward::Op(op) => op.name(),
            Backward::Custom(_) => "custom_gradient",
        }
    }
}

struct TapeState {
    options: TapeOptions,
    /// Off while this tape computes a gradient or after a non-persistent tape was used.
    recording: bool,
    used: bool,
    /// Tensors watched, read from watched variables, or computed from either.
    watched: HashSet<u64>,
    entries: Vec<Entry>,
    /// Variables this tape watched, in first-access order.
    variables: Vec<Variable>,
    /// Every value read from each watched variable (by variable id).
    variable_reads: HashMap<u64, Vec<Tensor>>,
}

thread_local! {
    static ACTIVE: RefCell<Vec<Rc<RefCell<TapeState>>>> = const { RefCell::new(Vec::new()) };
    /// Above zero inside `stop_recording`: no tape records.
    static SUSPENDED: Cell<usize> = const { Cell::new(0) };
}

/// Called by [`ops::apply`] after every op: each recording tape that watches one of the inputs
/// keeps the op, and from then on watches its outputs.
pub(crate) fn record(op: &Op, inputs: &[&Tensor], outputs: &[Tensor]) {
    if inputs.is_empty() || SUSPENDED.with(Cell::get) > 0 {
        return;
    }
    if !outputs.iter().any(|o| o.dtype() == DType::F32) {
        return; // nothing differentiable comes out
    }
    ACTIVE.with(|active| {
        for tape in active.borrow().iter() {
            let mut t = tape.borrow_mut();
            if t.recording && inputs.iter().any(|x| t.watched.contains(&x.id())) {
                t.entries.push(Entry {
                    backward: Backward::Op(op.clone()),
                    inputs: inputs.iter().map(|&x| x.clone()).collect(),
                    outputs: outputs.to_vec(),
                });
                t.watched.extend(outputs.iter().map(Tensor::id));
            }
        }
    });
}

/// Called when a variable is read: tapes that watch accessed variables watch the value.
pub(crate) fn record_variable_read(var: &Variable, value: &Tensor) {
    if !var.trainable() || SUSPENDED.with(Cell::get) > 0 {
        return;
    }
    ACTIVE.with(|active| {
        for tape in active.borrow().iter() {
            let mut t = tape.borrow_mut();
            if t.recording && t.options.watch_accessed_variables {
                t.watch_variable(var, value);
            }
        }
    });
}

/// Runs `f` without recording on any tape (TensorFlow's `tape.stop_recording()`).
pub fn stop_recording<R>(f: impl FnOnce() -> R) -> R {
    struct Resume;
    impl Drop for Resume {
        fn drop(&mut self) {
            SUSPENDED.with(|s| s.set(s.get() - 1));
        }
    }
    SUSPENDED.with(|s| s.set(s.get() + 1));
    let _resume = Resume;
    f()
}

/// The same values as `x`, through which no gradient flows (shares `x`'s buffer).
pub fn stop_gradient(x: &Tensor) -> Tensor {
    if x.is_symbolic() {
        // A new id for the same graph value: tapes do not see through it.
        if let Some(t) = crate::graph::trace::alias(x) {
            return t;
        }
        if crate::graph::is_tracing() {
            let v = crate::graph::trace::value(x);
            if v.is_ok() {
                return crate::graph::trace::alias(x).expect("captured just now");
            }
        }
        return x.clone();
    }
    Tensor::from_buffer(x.buffer().clone(), x.shape().to_vec(), x.dtype())
}

/// An op with a user-defined gradient (TensorFlow's `tf.custom_gradient`). `f` computes the
/// outputs from the inputs (not recorded) and returns them with the gradient function, which
/// maps the outputs' gradients to one gradient (or `None`) per input. Ops inside the gradient
/// function are recorded by outer tapes, so it may itself be differentiated.
///
/// ```
/// use wgflow::{GradientTape, Tensor, custom_gradient, ops};
/// let x = Tensor::from_slice(&[1.0f32, 2.0], [2]).unwrap();
/// let tape = GradientTape::new();
/// tape.watch(&x);
/// // y = x^2 whose gradient is declared to be 10 * upstream.
/// let y = custom_gradient(&[&x], |xs| {
///     let y = ops::square(&xs[0])?;
///     Ok((vec![y], |g: &[Tensor]| Ok(vec![Some(ops::mul(&g[0], &ops::scalar_like(&g[0], 10.0)?)?)])))
/// })
/// .unwrap();
/// let g = tape.gradient(&y[0], &[&x]).unwrap();
/// assert_eq!(g[0].as_ref().unwrap().to_vec::<f32>().unwrap(), vec![10.0, 10.0]);
/// ```
pub fn custom_gradient<G>(
    inputs: &[&Tensor],
    f: impl FnOnce(&[Tensor]) -> Result<(Vec<Tensor>, G)>,
) -> Result<Vec<Tensor>>
where
    G: Fn(&[Tensor]) -> Result<Vec<Option<Tensor>>> + 'static,
{
    let ins: Vec<Tensor> = inputs.iter().map(|&x| x.clone()).collect();
    let (outs, grad) = stop_recording(|| f(&ins))?;
    // Fresh handles: an output that is an input must not look like its own producer.
    let outs: Vec<Tensor> = outs.iter().map(stop_gradient).collect();
    let grad: CustomGrad = Rc::new(grad);
    if SUSPENDED.with(Cell::get) == 0 {
        ACTIVE.with(|active| {
            for tape in active.borrow().iter() {
                let mut t = tape.borrow_mut();
                if t.recording && ins.iter().any(|x| t.watched.contains(&x.id())) {
                    t.entries.push(Entry {
                        backward: Backward::Custom(grad.clone()),
                        inputs: ins.clone(),
                        outputs: outs.clone(),
                    });
                    t.watched.extend(outs.iter().map(Tensor::id));
                }
            }
        });
    }
    Ok(outs)
}

/// What `gradient` returns for a source the target does not depend on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnconnectedGradients {
    #[default]
    None,
    Zero,
}

/// How a tape records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TapeOptions {
    /// Allows several `gradient` calls; otherwise the first releases the record.
    pub persistent: bool,
    /// Watches every trainable variable read while recording.
    pub watch_accessed_variables: bool,
}

impl Default for TapeOptions {
    fn default() -> Self {
        TapeOptions {
            persistent: false,
            watch_accessed_variables: true,
        }
    }
}

/// What a gradient is taken with respect to: a tensor or a variable.
pub enum SourceRef<'a> {
    Tensor(&'a Tensor),
    Variable(&'a Variable),
}

/// Tensors and variables can be watched and differentiated against.
pub trait Source {
    fn source(&self) -> SourceRef<'_>;
}
impl Source for Tensor {
    fn source(&self) -> SourceRef<'_> {
        SourceRef::Tensor(self)
    }
}
impl Source for Variable {
    fn source(&self) -> SourceRef<'_> {
        SourceRef::Variable(self)
    }
}

impl TapeState {
    fn watch_variable(&mut self, var: &Variable, value: &Tensor) {
        self.watched.insert(value.id());
        let reads = self.variable_reads.entry(var.id()).or_default();
        if reads.is_empty() {
            self.variables.push(var.clone());
        }
        if !reads.iter().any(|r| r.id() == value.id()) {
            reads.push(value.clone());
        }
    }
}

/// Records operations on watched tensors while it is alive (TensorFlow's `tf.GradientTape`).
///
/// ```
/// use wgflow::{GradientTape, Tensor, ops};
/// let x = Tensor::scalar(3.0f32).unwrap();
/// let tape = GradientTape::new();
/// tape.watch(&x);
/// let y = ops::mul(&x, &x).unwrap();
/// let dy_dx = tape.gradient(&y, &[&x]).unwrap();
/// assert_eq!(dy_dx[0].as_ref().unwrap().to_scalar::<f32>().unwrap(), 6.0);
/// ```
pub struct GradientTape {
    state: Rc<RefCell<TapeState>>,
}

impl Default for GradientTape {
    fn default() -> Self {
        Self::new()
    }
}

impl GradientTape {
    /// A tape that records until dropped, allowing one `gradient` call.
    pub fn new() -> Self {
        Self::with_options(TapeOptions::default())
    }

    /// A tape that allows several `gradient` calls.
    pub fn persistent() -> Self {
        Self::with_options(TapeOptions {
            persistent: true,
            ..Default::default()
        })
    }

    pub fn with_options(options: TapeOptions) -> Self {
        let state = Rc::new(RefCell::new(TapeState {
            options,
            recording: true,
            used: false,
            watched: HashSet::new(),
            entries: Vec::new(),
            variables: Vec::new(),
            variable_reads: HashMap::new(),
        }));
        ACTIVE.with(|a| a.borrow_mut().push(state.clone()));
        GradientTape { state }
    }

    /// Watches a tensor (or a variable's current value): ops on it are recorded from now on.
    pub fn watch<S: Source + ?Sized>(&self, source: &S) {
        let mut t = self.state.borrow_mut();
        match source.source() {
            SourceRef::Tensor(x) => {
                t.watched.insert(x.id());
            }
            SourceRef::Variable(v) => {
                let value = v.value_unrecorded();
                t.watch_variable(v, &value);
            }
        }
    }

    /// The variables this tape watches, in the order they were first read or watched.
    pub fn watched_variables(&self) -> Vec<Variable> {
        self.state.borrow().variables.clone()
    }

    /// Runs `f` without recording on this tape (other tapes still record).
    pub fn stop_recording<R>(&self, f: impl FnOnce() -> R) -> R {
        let was = std::mem::replace(&mut self.state.borrow_mut().recording, false);
        let r = f();
        self.state.borrow_mut().recording = was;
        r
    }

    /// Forgets everything recorded and watched, and records afresh.
    pub fn reset(&self) {
        let mut t = self.state.borrow_mut();
        t.entries.clear();
        t.watched.clear();
        t.variables.clear();
        t.variable_reads.clear();
        t.used = false;
        t.recording = true;
    }

    /// The gradient of `target` (summed if not a scalar) with respect to each source: `None`
    /// where the target does not depend on it.
    pub fn gradient<S: Source + ?Sized>(
        &self,
        target: &Tensor,
        sources: &[&S],
    ) -> Result<Vec<Option<Tensor>>> {
        self.gradient_with(target, sources, None, UnconnectedGradients::None)
    }

    /// [`GradientTape::gradient`] with the target's upstream gradient (`output_gradients`,
    /// the target's shape; ones by default) and the choice for unconnected sources.
    pub fn gradient_with<S: Source + ?Sized>(
        &self,
        target: &Tensor,
        sources: &[&S],
        output_gradients: Option<&Tensor>,
        unconnected: UnconnectedGradients,
    ) -> Result<Vec<Option<Tensor>>> {
        let plan = self.begin("gradient", target, sources)?;
        let seed = match output_gradients {
            Some(g) => {
                if g.shape() != target.shape() || g.dtype() != DType::F32 {
                    return Err(Error::shape(
                        "gradient",
                        format!(
                            "output_gradients is {} {} but the target is {} {}",
                            g.dtype(),
                            fmt_shape(g.shape()),
                            target.dtype(),
                            fmt_shape(target.shape())
                        ),
                    ));
                }
                g.clone()
            }
            None => ops::ones_like(target)?,
        };
        let result = self.paused(|| plan.run(target, seed, unconnected));
        self.finish();
        result
    }

    /// The Jacobian of `target` with respect to `source`: shape `target.shape + source.shape`
    /// (`None` when unconnected, zeros with [`UnconnectedGradients::Zero`]).
    pub fn jacobian<S: Source + ?Sized>(
        &self,
        target: &Tensor,
        source: &S,
        unconnected: UnconnectedGradients,
    ) -> Result<Option<Tensor>> {
        let plan = self.begin("jacobian", target, &[source])?;
        let result = self.paused(|| -> Result<Option<Tensor>> {
            let mut shape = target.shape().to_vec();
            shape.extend(&plan.source_shapes[0]);
            let seeds = (0..target.size()).map(|i| vec![i]);
            plan.stacked_rows(target, seeds, unconnected, 0, &shape)
        });
        self.finish();
        result
    }

    /// The Jacobian of each example: for `target` `[b, y...]` and `source` `[b, x...]` where
    /// example `i` of the target depends only on example `i` of the source, a tensor
    /// `[b, y..., x...]`.
    pub fn batch_jacobian<S: Source + ?Sized>(
        &self,
        target: &Tensor,
        source: &S,
        unconnected: UnconnectedGradients,
    ) -> Result<Option<Tensor>> {
        let plan = self.begin("batch_jacobian", target, &[source])?;
        let src_shape = plan.source_shapes[0].clone();
        if target.rank() == 0 || src_shape.first() != target.shape().first() {
            self.finish();
            return Err(Error::shape(
                "batch_jacobian",
                format!(
                    "target {} and source {} need the same leading (batch) dimension",
                    fmt_shape(target.shape()),
                    fmt_shape(&src_shape)
                ),
            ));
        }
        let result = self.paused(|| -> Result<Option<Tensor>> {
            let b = target.shape()[0];
            let inner: usize = target.shape()[1..].iter().product();
            let mut shape = target.shape().to_vec();
            shape.extend(&src_shape[1..]);
            // One-hot at j in every example: examples are independent, so row i of the
            // gradient is example i's derivative of its output j.
            let seeds = (0..inner).map(|j| (0..b).map(|i| i * inner + j).collect());
            plan.stacked_rows(target, seeds, unconnected, 1, &shape)
        });
        self.finish();
        result
    }

    /// Checks the call and snapshots what the walk needs.
    fn begin<S: Source + ?Sized>(
        &self,
        what: &str,
        target: &Tensor,
        sources: &[&S],
    ) -> Result<Plan> {
        let t = self.state.borrow();
        if t.used {
            return Err(Error::invalid(
                what,
                "this non-persistent GradientTape already computed a gradient and released its \
                 record; use GradientTape::persistent() to call it more than once",
            ));
        }
        if target.dtype() != DType::F32 {
            return Err(Error::dtype(
                what,
                format!(
                    "the target is {} {}: only float32 tensors have gradients",
                    target.dtype(),
                    fmt_shape(target.shape())
                ),
            ));
        }
        let mut source_ids = Vec::with_capacity(sources.len());
        let mut source_shapes = Vec::with_capacity(sources.len());
        let mut source_devices = Vec::with_capacity(sources.len());
        for (i, s) in sources.iter().enumerate() {
            let (ids, value) = match s.source() {
                SourceRef::Tensor(x) => {
                    if !t.watched.contains(&x.id()) {
                        return Err(Error::invalid(
                            what,
                            format!(
                                "source {i} ({} {}) is not watched by this tape: call \
                                 tape.watch(&x) before computing with it",
                                x.dtype(),
                                fmt_shape(x.shape())
                            ),
                        ));
                    }
                    (vec![x.id()], x.clone())
                }
                SourceRef::Variable(v) => {
                    let reads = t.variable_reads.get(&v.id());
                    let ids = reads.map_or(vec![], |r| r.iter().map(Tensor::id).collect());
                    (ids, v.value_unrecorded())
                }
            };
            if value.dtype() != DType::F32 {
                return Err(Error::dtype(
                    what,
                    format!(
                        "source {i} is {} {}: only float32 tensors have gradients",
                        value.dtype(),
                        fmt_shape(value.shape())
                    ),
                ));
            }
            source_ids.push(ids);
            source_shapes.push(value.shape().to_vec());
            source_devices.push(value.device().clone());
        }
        Ok(Plan {
            entries: t.entries.clone(),
            source_ids,
            source_shapes,
            source_devices,
        })
    }

    fn paused<R>(&self, f: impl FnOnce() -> R) -> R {
        self.stop_recording(f)
    }

    /// A non-persistent tape releases its record after its one gradient.
    fn finish(&self) {
        let mut t = self.state.borrow_mut();
        if !t.options.persistent {
            t.used = true;
            t.recording = false;
            t.entries = Vec::new();
            t.watched = HashSet::new();
            t.variable_reads = HashMap::new();
        }
    }
}

impl Drop for GradientTape {
    fn drop(&mut self) {
        let _ = ACTIVE.try_with(|a| a.borrow_mut().retain(|s| !Rc::ptr_eq(s, &self.state)));
    }
}

/// A snapshot of the record and the sources of one gradient request.
struct Plan {
    entries: Vec<Entry>,
    /// The tensor ids standing for each source (a variable may have been read several times).
    source_ids: Vec<Vec<u64>>,
    source_shapes: Vec<Vec<usize>>,
    source_devices: Vec<crate::device::Device>,
}

impl Plan {
    /// The gradient of the first source for each seed (ones at the given positions of the
    /// target), stacked along `axis` and shaped `shape`; `None` if the source is unconnected.
    fn stacked_rows(
        &self,
        target: &Tensor,
        seeds: impl Iterator<Item = Vec<usize>>,
        unconnected: UnconnectedGradients,
        axis: i64,
        shape: &[usize],
    ) -> Result<Option<Tensor>> {
        let mut rows = Vec::new();
        for ones in seeds {
            let mut v = vec![0.0f32; target.size()];
            for i in ones {
                v[i] = 1.0;
            }
            let seed = Tensor::from_slice_on(&v, target.shape(), target.device())?;
            match self.run(target, seed, unconnected)?.swap_remove(0) {
                Some(g) => rows.push(g),
                None => return Ok(None),
            }
        }
        if rows.is_empty() {
            return Ok(Some(ops::zeros(shape, DType::F32)?));
        }
        let refs: Vec<&Tensor> = rows.iter().collect();
        let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
        Ok(Some(ops::reshape(&ops::stack(&refs, axis)?, &dims)?))
    }

    /// One backward walk from `target` seeded with `seed`.
    fn run(
        &self,
        target: &Tensor,
        seed: Tensor,
        unconnected: UnconnectedGradients,
    ) -> Result<Vec<Option<Tensor>>> {
        let wanted: HashSet<u64> = self.source_ids.iter().flatten().copied().collect();
        // Tensors that depend on a source: only they need gradients.
        let mut depends = wanted.clone();
        for e in &self.entries {
            if e.inputs.iter().any(|x| depends.contains(&x.id())) {
                depends.extend(e.outputs.iter().map(Tensor::id));
            }
        }
        let mut grads: HashMap<u64, Tensor> = HashMap::new();
        if depends.contains(&target.id()) {
            grads.insert(target.id(), seed);
        }
        for e in self.entries.iter().rev() {
            if grads.is_empty() {
                break;
            }
            if !e.outputs.iter().any(|o| grads.contains_key(&o.id())) {
                continue;
            }
            let needs: Vec<bool> = e
                .inputs
                .iter()
                .map(|x| x.dtype() == DType::F32 && depends.contains(&x.id()))
                .collect();
            let out_grads = e
                .outputs
                .iter()
                .map(|o| {
                    let g = if wanted.contains(&o.id()) {
                        grads.get(&o.id()).cloned()
                    } else {
                        grads.remove(&o.id())
                    };
                    match g {
                        Some(g) => Ok(g),
                        None => ops::zeros_like(o),
                    }
                })
                .collect::<Result<Vec<Tensor>>>()?;
            if !needs.iter().any(|&n| n) {
                continue;
            }
            let in_grads = match &e.backward {
                Backward::Op(op) => op.gradient(&GradContext {
                    inputs: &e.inputs,
                    outputs: &e.outputs,
                    grads: &out_grads,
                    needs: &needs,
                })?,
                Backward::Custom(f) => f(&out_grads)?,
            };
            if in_grads.len() != e.inputs.len() {
                return Err(Error::invalid(
                    e.name(),
                    format!(
                        "the gradient function returned {} gradients for {} inputs",
                        in_grads.len(),
                        e.inputs.len()
                    ),
                ));
            }
            for ((x, g), &need) in e.inputs.iter().zip(in_grads).zip(&needs) {
                let Some(g) = g else { continue };
                if !need {
                    continue;
                }
                if g.shape() != x.shape() {
                    return Err(Error::shape(
                        e.name(),
                        format!(
                            "gradient {} does not match its input {}",
                            fmt_shape(g.shape()),
                            fmt_shape(x.shape())
                        ),
                    ));
                }
                let sum = match grads.remove(&x.id()) {
                    Some(prev) => ops::add(&prev, &g)?,
                    None => g,
                };
                grads.insert(x.id(), sum);
            }
        }
        self.source_ids
            .iter()
            .enumerate()
            .map(|(i, ids)| {
                let parts: Vec<&Tensor> = ids.iter().filter_map(|id| grads.get(id)).collect();
                let mut total: Option<Tensor> = None;
                for p in parts {
                    total = Some(match total {
                        Some(t) => ops::add(&t, p)?,
                        None => p.clone(),
                    });
                }
                match (total, unconnected) {
                    (Some(t), _) => Ok(Some(t)),
                    (None, UnconnectedGradients::None) => Ok(None),
                    (None, UnconnectedGradients::Zero) => {
                        crate::device::with_device(&self.source_devices[i], || {
                            ops::zeros(&self.source_shapes[i], DType::F32)
                        })
                        .map(Some)
                    }
                }
            })
            .collect()
    }
}
