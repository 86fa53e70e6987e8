//! Models: [`Sequential`], functional ([`Model::new`] from [`Input`]s to outputs) and
//! subclassed ([`Model::from_layer`] around a user layer with its own `call`), and the
//! training API (`compile`, `fit`, `evaluate`, `predict`, `train_on_batch`, ...).
//!
//! `fit`'s train step — forward, loss, gradients, optimizer update, loss tracker and
//! metric updates — is one traced [`crate::function`], so it is optimized, fused and
//! replayed as one plan per batch shape; `run_eagerly(true)` runs the same code eagerly.
//!
//! A model with several inputs or outputs takes `x` and `y` as lists (a tensor per input,
//! per output) and [`Model::compile_with`] sets a loss, a loss weight and metrics per
//! output; the step's arguments stay one flat list (counts first, as host values).

use super::callbacks::{Callback, CallbackList, Logs};
use super::layers::{KerasTensor, Layer, LayerRef, Shape, Source, fmt_shape};
use super::losses::Loss;
use super::metrics::{Mean, Metric};
use super::progress::{Progress, Verbose};
use crate::autodiff::{GradientTape, Variable, unique_name};
use crate::data::Dataset;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::graph::{Arg, Function, function};
use crate::ops::{self, Axes};
use crate::optimizers::Optimizer;
use crate::tensor::Tensor;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;

pub(crate) enum Kind {
    Sequential(RefCell<SequentialState>),
    Functional {
        inputs: Vec<KerasTensor>,
        outputs: Vec<KerasTensor>,
        /// The layer-made tensors in an order that computes inputs before their users.
        order: Vec<KerasTensor>,
    },
    Subclassed(LayerRef),
}

pub(crate) struct SequentialState {
    layers: Vec<LayerRef>,
    input_shape: Option<Shape>,
}

/// What a model is, shared by the model and its traced steps.
pub(crate) struct ModelCore {
    pub(crate) name: String,
    pub(crate) kind: Kind,
}

impl ModelCore {
    /// Every layer, in order, each once.
    pub(crate) fn layers(&self) -> Vec<LayerRef> {
        match &self.kind {
            Kind::Sequential(s) => s.borrow().layers.clone(),
            Kind::Functional { order, .. } => {
                let mut out: Vec<LayerRef> = Vec::new();
                for t in order {
                    if let Source::Layer { layer, .. } = &t.0.source
                        && !out.iter().any(|l| l.same(layer))
                    {
                        out.push(layer.clone());
                    }
                }
                out
            }
            Kind::Subclassed(l) => l.sublayers(),
        }
    }

    fn roots(&self) -> Vec<LayerRef> {
        match &self.kind {
            Kind::Subclassed(l) => vec![l.clone()],
            _ => self.layers(),
        }
    }

    fn collect(&self, f: impl Fn(&LayerRef) -> Vec<Variable>) -> Vec<Variable> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for l in self.roots() {
            for v in f(&l) {
                if seen.insert(v.id()) {
                    out.push(v);
                }
            }
        }
        out
    }

    pub(crate) fn call(&self, inputs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        self.call_observed(inputs, training, &mut |_, _| Ok(()))
    }

    /// [`ModelCore::call`], showing `observe` each layer call's outputs as they come (a
    /// subclassed model's one layer: its outputs).
    fn call_observed(
        &self,
        inputs: &[Tensor],
        training: bool,
        observe: &mut dyn FnMut(&LayerRef, &[Tensor]) -> Result<()>,
    ) -> Result<Vec<Tensor>> {
        match &self.kind {
            Kind::Sequential(s) => {
                let layers = s.borrow().layers.clone();
                if inputs.len() != 1 {
                    return Err(Error::invalid(
                        &self.name,
                        format!("a Sequential model takes one input, got {}", inputs.len()),
                    ));
                }
                let mut h = inputs[0].clone();
                for l in &layers {
                    h = sequential_output(&self.name, l, l.call_many(&[h], training)?)?;
                    observe(l, std::slice::from_ref(&h))?;
                }
                Ok(vec![h])
            }
            Kind::Functional {
                inputs: symbolic,
                outputs,
                order,
            } => {
                if inputs.len() != symbolic.len() {
                    return Err(Error::invalid(
                        &self.name,
                        format!(
                            "the model has {} input(s), got {}",
                            symbolic.len(),
                            inputs.len()
                        ),
                    ));
                }
                let mut values: HashMap<*const _, Tensor> = HashMap::new();
                for (s, t) in symbolic.iter().zip(inputs) {
                    check_input(&self.name, s, t)?;
                    values.insert(s.key(), t.clone());
                }
                // The outputs of each layer call (several for e.g. an LSTM with
                // return_state), computed once for all of that call's tensors.
                let mut calls: HashMap<(*const (), usize), Vec<Tensor>> = HashMap::new();
                for t in order {
                    if let Source::Layer {
                        layer,
                        inputs,
                        node_index,
                        output_index,
                    } = &t.0.source
                    {
                        let key = (layer.key(), *node_index);
                        let outs = match calls.entry(key) {
                            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                            std::collections::hash_map::Entry::Vacant(e) => {
                                let args: Vec<Tensor> =
                                    inputs.iter().map(|i| values[&i.key()].clone()).collect();
                                let outs = layer.call_many(&args, training)?;
                                observe(layer, &outs)?;
                                e.insert(outs)
                            }
                        };
                        values.insert(t.key(), outs[*output_index].clone());
                    }
                }
                Ok(outputs.iter().map(|o| values[&o.key()].clone()).collect())
            }
            Kind::Subclassed(l) => {
                let out = vec![l.call(inputs, training)?];
                observe(l, &out)?;
                Ok(out)
            }
        }
    }

    fn losses(&self) -> Result<Vec<Tensor>> {
        let mut out = Vec::new();
        for l in self.roots() {
            out.extend(l.losses()?);
        }
        Ok(out)
    }

    /// The names of the model's inputs, or `None` when it takes any number (a subclassed
    /// model's `call` gets a slice).
    fn input_names(&self) -> Option<Vec<String>> {
        match &self.kind {
            Kind::Sequential(_) => Some(vec!["input".into()]),
            Kind::Functional { inputs, .. } => {
                Some(inputs.iter().map(|i| tensor_name(i, "input")).collect())
            }
            Kind::Subclassed(_) => None,
        }
    }

    /// Keras's `output_names`: the layer that makes each output (a repeated name gets
    /// `_1`, `_2`, ... so that the log keys stay apart).
    pub(crate) fn output_names(&self) -> Vec<String> {
        match &self.kind {
            Kind::Sequential(s) => vec![
                s.borrow()
                    .layers
                    .last()
                    .map_or_else(|| self.name.clone(), |l| l.name()),
            ],
            Kind::Functional { outputs, .. } => {
                let mut names: Vec<String> = Vec::new();
                for o in outputs {
                    let base = tensor_name(o, "output");
                    let mut name = base.clone();
                    let mut k = 0;
                    while names.contains(&name) {
                        k += 1;
                        name = format!("{base}_{k}");
                    }
                    names.push(name);
                }
                names
            }
            Kind::Subclassed(_) => vec![self.name.clone()],
        }
    }

    /// What the data must look like for this model.
    fn arity(&self) -> Arity {
        Arity {
            model: self.name.clone(),
            inputs: self.input_names(),
            outputs: self.output_names(),
        }
    }
}

/// The name of the layer (or `Input`) that makes `t`.
fn tensor_name(t: &KerasTensor, fallback: &str) -> String {
    match &t.0.source {
        Source::Input { name } if !name.is_empty() => name.clone(),
        Source::Input { .. } => fallback.to_string(),
        Source::Layer { layer, .. } => layer.name(),
    }
}

/// The model's inputs and outputs by name, to check data against before a step runs.
#[derive(Clone)]
struct Arity {
    model: String,
    inputs: Option<Vec<String>>,
    outputs: Vec<String>,
}

/// The one output of a Sequential model's layer; a layer with several (an LSTM with
/// `return_state`) is an error, as in Keras.
fn sequential_output<T>(model: &str, l: &LayerRef, mut outs: Vec<T>) -> Result<T> {
    if outs.len() != 1 {
        return Err(Error::invalid(
            &format!("Sequential model '{model}'"),
            format!(
                "layer '{}' ({}) has {} outputs, but every layer of a Sequential model must \
                 have one; use the functional API for layers with several outputs",
                l.name(),
                l.class_name(),
                outs.len()
            ),
        ));
    }
    Ok(outs.swap_remove(0))
}

/// A functional model's input must match its `Input` (rank, known sizes, dtype).
fn check_input(model: &str, spec: &KerasTensor, t: &Tensor) -> Result<()> {
    let fits = spec.shape().len() == t.rank()
        && spec
            .shape()
            .iter()
            .zip(t.shape())
            .skip(1)
            .all(|(s, &d)| s.is_none_or(|s| s == d));
    if !fits {
        let name = match &spec.0.source {
            Source::Input { name } => name.clone(),
            _ => "input".into(),
        };
        return Err(Error::shape(
            &format!("model '{model}'"),
            format!(
                "input '{name}' expects shape {} but got {:?}",
                fmt_shape(spec.shape()),
                t.shape()
            ),
        ));
    }
    Ok(())
}

/// Orders the layer-made tensors that `outputs` need, inputs before users.
fn topological(outputs: &[KerasTensor], inputs: &[KerasTensor]) -> Result<Vec<KerasTensor>> {
    fn visit(
        t: &KerasTensor,
        inputs: &[KerasTensor],
        done: &mut HashSet<*const super::layers::KerasTensorNode>,
        out: &mut Vec<KerasTensor>,
    ) -> Result<()> {
        if done.contains(&t.key()) {
            return Ok(());
        }
        match &t.0.source {
            Source::Input { name } => {
                if !inputs.iter().any(|i| i.same(t)) {
                    return Err(Error::invalid(
                        "Model",
                        format!(
                            "the outputs depend on input '{name}', which is not among the model's inputs"
                        ),
                    ));
                }
            }
            Source::Layer { inputs: args, .. } => {
                for a in args {
                    visit(a, inputs, done, out)?;
                }
                out.push(t.clone());
            }
        }
        done.insert(t.key());
        Ok(())
    }
    let mut done = HashSet::new();
    let mut out = Vec::new();
    for o in outputs {
        visit(o, inputs, &mut done, &mut out)?;
    }
    Ok(out)
}

/// A metric given to `compile`: Keras's name (`"accuracy"`, resolved against the loss as
/// Keras does) or a metric object.
#[derive(Clone)]
pub enum MetricArg {
    Name(String),
    Metric(Rc<dyn Metric>),
}

impl From<&str> for MetricArg {
    fn from(s: &str) -> Self {
        MetricArg::Name(s.to_string())
    }
}

impl<M: Metric + 'static> From<M> for MetricArg {
    fn from(m: M) -> Self {
        MetricArg::Metric(Rc::new(m))
    }
}

/// A loss given to [`Model::compile_with`]: Keras's name (`"mse"`, see
/// [`super::losses::get`]) or a loss object; `None` (Keras's `None` in a loss list) leaves
/// an output of a model with several without a loss: nothing trains through it, and its
/// metrics still run. At least one output needs a loss.
#[derive(Clone)]
pub enum LossArg {
    Name(String),
    Loss(Rc<dyn Loss>),
    None,
}

impl From<&str> for LossArg {
    fn from(s: &str) -> Self {
        LossArg::Name(s.to_string())
    }
}

impl<L: Loss + 'static> From<L> for LossArg {
    fn from(l: L) -> Self {
        LossArg::Loss(Rc::new(l))
    }
}

impl LossArg {
    fn resolve(self) -> Result<Option<Rc<dyn Loss>>> {
        match self {
            LossArg::Name(n) => Ok(Some(Rc::from(super::losses::get(&n)?))),
            LossArg::Loss(l) => Ok(Some(l)),
            LossArg::None => Ok(None),
        }
    }
}

/// A `compile` setting for the outputs of a model, as Keras takes it: one value for every
/// output, a list in the model's output order, or a map keyed by output name (the name of
/// the layer that makes the output, [`Model::output_names`]).
#[derive(Clone)]
pub enum PerOutput<T> {
    All(T),
    List(Vec<T>),
    Map(BTreeMap<String, T>),
}

impl<T> PerOutput<T> {
    /// A map by output name: `PerOutput::by_name([("class", vec!["accuracy".into()])])`.
    pub fn by_name<K: Into<String>>(entries: impl IntoIterator<Item = (K, T)>) -> Self {
        PerOutput::Map(entries.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
}

impl<T: Clone> PerOutput<T> {
    /// One value per output (`None` where a map leaves an output out), or an error naming
    /// the entry that does not fit the outputs.
    fn resolve(self, what: &str, model: &str, names: &[String]) -> Result<Vec<Option<T>>> {
        match self {
            PerOutput::All(v) => Ok(vec![Some(v); names.len()]),
            PerOutput::List(list) => {
                if list.len() != names.len() {
                    return Err(Error::invalid(
                        "compile",
                        format!(
                            "{what} has {} entries but model '{model}' has {} output(s) ({})",
                            list.len(),
                            names.len(),
                            quoted(names)
                        ),
                    ));
                }
                Ok(list.into_iter().map(Some).collect())
            }
            PerOutput::Map(mut map) => {
                if let Some(k) = map.keys().find(|k| !names.contains(k)) {
                    return Err(Error::invalid(
                        "compile",
                        format!(
                            "{what} names output '{k}', which model '{model}' does not have; \
                             its outputs are {}",
                            quoted(names)
                        ),
                    ));
                }
                Ok(names.iter().map(|n| map.remove(n)).collect())
            }
        }
    }
}

/// `'a', 'b'`.
fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// [`Model::compile_with`]'s options: Keras's `loss`, `loss_weights` and `metrics` for a
/// model with one or several outputs.
///
/// ```
/// use wgflow::keras::losses::SparseCategoricalCrossentropy;
/// use wgflow::keras::{CompileOptions, PerOutput};
/// // A regression head and a classification head, the second weighted by half.
/// let options = CompileOptions::new(PerOutput::List(vec![
///     "mse".into(),
///     SparseCategoricalCrossentropy::new().from_logits(true).into(),
/// ]))
/// .loss_weights(PerOutput::List(vec![1.0, 0.5]))
/// .metrics(PerOutput::by_name([("class", vec!["accuracy".into()])]));
/// ```
#[derive(Clone)]
pub struct CompileOptions {
    /// The loss of each output; a map must name every output.
    pub loss: PerOutput<LossArg>,
    /// Each output's factor in the total loss (default 1; a map may leave outputs out).
    pub loss_weights: Option<PerOutput<f64>>,
    /// The metrics of each output: `All` gives every output the list (names make one
    /// metric per output; a metric object can watch one output only).
    pub metrics: PerOutput<Vec<MetricArg>>,
}

impl CompileOptions {
    /// `loss` for the outputs, no loss weights, no metrics.
    pub fn new(loss: PerOutput<LossArg>) -> Self {
        CompileOptions {
            loss,
            loss_weights: None,
            metrics: PerOutput::All(Vec::new()),
        }
    }
    pub fn loss_weights(mut self, weights: PerOutput<f64>) -> Self {
        self.loss_weights = Some(weights);
        self
    }
    pub fn metrics(mut self, metrics: PerOutput<Vec<MetricArg>>) -> Self {
        self.metrics = metrics;
        self
    }
}

/// What the steps compute and track for the model's outputs: each output's loss and weight,
/// the metrics with the output each watches, and the trackers.
struct Heads {
    names: Vec<String>,
    /// Each output's loss; `None` for an output compiled without one.
    losses: Vec<Option<Rc<dyn Loss>>>,
    weights: Vec<f64>,
    metrics: Vec<Rc<dyn Metric>>,
    /// The output each metric watches, and its key in the logs.
    metric_outputs: Vec<usize>,
    metric_keys: Vec<String>,
    /// The total loss, penalties included.
    loss_tracker: Mean,
    /// Each output's unweighted loss, tracked when several outputs have a loss.
    output_trackers: Vec<Option<Mean>>,
}

impl Heads {
    fn new(core: &ModelCore, options: CompileOptions) -> Result<Heads> {
        let names = core.output_names();
        let model = core.name.as_str();
        let mut losses = Vec::with_capacity(names.len());
        for (name, loss) in names
            .iter()
            .zip(options.loss.resolve("loss", model, &names)?)
        {
            let loss = loss.ok_or_else(|| {
                Error::invalid(
                    "compile",
                    format!(
                        "loss has no entry for output '{name}'; give every output a loss \
                         (LossArg::None for one that is not trained)"
                    ),
                )
            })?;
            losses.push(loss.resolve()?);
        }
        if losses.iter().all(Option::is_none) {
            return Err(Error::invalid(
                "compile",
                format!(
                    "no loss to compute: every output of model '{model}' has LossArg::None; \
                     give at least one a loss"
                ),
            ));
        }
        let weights = match options.loss_weights {
            None => vec![1.0; names.len()],
            Some(w) => w
                .resolve("loss_weights", model, &names)?
                .into_iter()
                .map(|w| w.unwrap_or(1.0))
                .collect(),
        };
        if let Some((n, w)) = names.iter().zip(&weights).find(|(_, w)| !w.is_finite()) {
            return Err(Error::invalid(
                "compile",
                format!("loss_weights gives output '{n}' the weight {w}; it must be finite"),
            ));
        }
        let several = names.len() > 1;
        let (mut metrics, mut metric_outputs, mut metric_keys) =
            (Vec::new(), Vec::new(), Vec::new());
        let per_output = options.metrics.resolve("metrics", model, &names)?;
        for (o, list) in per_output.into_iter().enumerate() {
            for m in list.unwrap_or_default() {
                let m = match m {
                    MetricArg::Metric(m) => m,
                    MetricArg::Name(n) => {
                        let loss = losses[o].as_ref().map_or("", |l| l.name());
                        super::metrics::get(&n, loss)?
                    }
                };
                // A metric object holds its state: watching two outputs would mix them.
                let same = |j: &usize| {
                    let p: &Rc<dyn Metric> = &metrics[*j];
                    metric_outputs[*j] != o && std::ptr::addr_eq(Rc::as_ptr(p), Rc::as_ptr(&m))
                };
                if let Some(j) = (0..metrics.len()).find(same) {
                    return Err(Error::invalid(
                        "compile",
                        format!(
                            "metric '{}' is one object given for outputs '{}' and '{}', which \
                             would mix their states; give each output its own metric object \
                             (or the metric's name)",
                            m.name(),
                            names[metric_outputs[j]],
                            names[o]
                        ),
                    ));
                }
                metric_keys.push(match several {
                    true => format!("{}_{}", names[o], m.name()),
                    false => m.name().to_string(),
                });
                metric_outputs.push(o);
                metrics.push(m);
            }
        }
        // As in Keras, `<output>_loss` is logged only when several outputs have a loss.
        let several_losses = losses.iter().filter(|l| l.is_some()).count() > 1;
        let output_trackers = names
            .iter()
            .zip(&losses)
            .map(|(n, l)| match (several_losses, l) {
                (true, Some(_)) => Mean::new(&format!("{n}_loss")).map(Some),
                _ => Ok(None),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Heads {
            names,
            losses,
            weights,
            metrics,
            metric_outputs,
            metric_keys,
            loss_tracker: Mean::new("loss")?,
            output_trackers,
        })
    }

    /// The total loss — Σ weight_i · loss_i plus the model's penalties — and each output's
    /// unweighted loss.
    fn loss(
        &self,
        core: &ModelCore,
        y: &[Tensor],
        y_pred: &[Tensor],
        w: Option<&Tensor>,
    ) -> Result<(Tensor, Vec<Option<Tensor>>)> {
        if y.len() != y_pred.len() || y.len() != self.names.len() {
            return Err(Error::invalid(
                &core.name,
                format!(
                    "the model gave {} output(s) for {} target(s); compile set up {}",
                    y_pred.len(),
                    y.len(),
                    self.names.len()
                ),
            ));
        }
        let several = self.names.len() > 1;
        let mut total: Option<Tensor> = None;
        let mut each = Vec::with_capacity(y.len());
        for (i, (yt, yp)) in y.iter().zip(y_pred).enumerate() {
            let Some(loss) = &self.losses[i] else {
                each.push(None);
                continue;
            };
            let l = loss.compute(yt, yp, w);
            let l = match several {
                true => l.map_err(|e| in_output(e, &self.names[i]))?,
                false => l?,
            };
            // A weight of 1 adds nothing to the graph (the one-output step stays as it was).
            let k = self.weights[i];
            let weighted = match k == 1.0 {
                true => l.clone(),
                false => ops::mul(&l, &ops::scalar_like(&l, k)?)?,
            };
            total = Some(match total {
                None => weighted,
                Some(t) => ops::add(&t, &weighted)?,
            });
            each.push(Some(l));
        }
        let mut total = total.expect("compile checked that some output has a loss");
        for penalty in core.losses()? {
            total = ops::add(&total, &penalty)?;
        }
        Ok((total, each))
    }

    /// Updates the trackers and metrics in the step. As in Keras, the trackers weigh each
    /// batch's (already sample-weighted) loss by the batch size, while the metrics take
    /// the sample weights.
    fn update(
        &self,
        total: &Tensor,
        each: &[Option<Tensor>],
        batch: usize,
        y: &[Tensor],
        y_pred: &[Tensor],
        w: Option<&Tensor>,
    ) -> Result<()> {
        let count = ops::scalar_like(total, batch as f64)?;
        self.loss_tracker.update(total, Some(&count))?;
        for (t, l) in self.output_trackers.iter().zip(each) {
            if let (Some(t), Some(l)) = (t, l) {
                t.update(l, Some(&count))?;
            }
        }
        for (m, &o) in self.metrics.iter().zip(&self.metric_outputs) {
            m.update_state(&y[o], &y_pred[o], w)?;
        }
        Ok(())
    }

    /// `loss`, `<output>_loss` for each of several outputs, then the metrics.
    fn logs(&self, prefix: &str) -> Result<Logs> {
        let mut logs = Logs::new();
        logs.insert(format!("{prefix}loss"), self.loss_tracker.result()?);
        for (n, t) in self.names.iter().zip(&self.output_trackers) {
            if let Some(t) = t {
                logs.insert(format!("{prefix}{n}_loss"), t.result()?);
            }
        }
        for (k, m) in self.metric_keys.iter().zip(&self.metrics) {
            logs.insert(format!("{prefix}{k}"), m.result()?);
        }
        Ok(logs)
    }

    fn reset(&self) -> Result<()> {
        self.loss_tracker.reset_state()?;
        for t in self.output_trackers.iter().flatten() {
            t.reset_state()?;
        }
        for m in &self.metrics {
            m.reset_state()?;
        }
        Ok(())
    }
}

/// `e` raised in the loss of output `name`, saying so.
fn in_output(e: Error, name: &str) -> Error {
    let tag = |op: String| format!("output '{name}': {op}");
    match e {
        Error::Shape { op, msg } => Error::Shape { op: tag(op), msg },
        Error::DType { op, msg } => Error::DType { op: tag(op), msg },
        Error::InvalidArgument { op, msg } => Error::InvalidArgument { op: tag(op), msg },
        other => other,
    }
}

/// `e` about `what` (`validation_data`), saying so in its message.
fn in_context(e: Error, what: &str) -> Error {
    let tag = |msg: String| format!("{what}: {msg}");
    match e {
        Error::Shape { op, msg } => Error::Shape { op, msg: tag(msg) },
        Error::DType { op, msg } => Error::DType { op, msg: tag(msg) },
        Error::InvalidArgument { op, msg } => Error::InvalidArgument { op, msg: tag(msg) },
        other => other,
    }
}

/// What `compile` set up: the optimizer, losses, metrics and the traced steps.
pub struct Compiled {
    optimizer: Rc<dyn Optimizer>,
    heads: Rc<Heads>,
    train_step: Function<Tensor>,
    test_step: Function<Tensor>,
    predict_step: Function<Vec<Tensor>>,
}

impl Compiled {
    /// The loss (of the first output that has one, when there are several: see
    /// [`Compiled::losses`]).
    pub fn loss(&self) -> &Rc<dyn Loss> {
        self.heads
            .losses
            .iter()
            .flatten()
            .next()
            .expect("compile checked that some output has a loss")
    }
    /// Each output's loss, in output order (`None` for an output compiled without one).
    pub fn losses(&self) -> &[Option<Rc<dyn Loss>>] {
        &self.heads.losses
    }
    /// Each output's factor in the total loss.
    pub fn loss_weights(&self) -> &[f64] {
        &self.heads.weights
    }
    pub fn optimizer(&self) -> &Rc<dyn Optimizer> {
        &self.optimizer
    }
    /// Every output's metrics, in output order.
    pub fn metrics(&self) -> &[Rc<dyn Metric>] {
        &self.heads.metrics
    }
    /// The metrics' keys in the logs (`<output>_<metric>` when there are several outputs).
    pub fn metric_keys(&self) -> &[String] {
        &self.heads.metric_keys
    }
}

/// Training data: tensors `(x, y)` (sliced into batches by `fit`) or a dataset of
/// `(x, y)` batches, either with per-sample weights as a third member (Keras's
/// `(x, y, sample_weight)`; as `validation_data` too). For a model with several inputs or
/// outputs, `x` and `y` are lists: one tensor per input and per output, in order
/// (`(vec![x1, x2], vec![y1, y2])`), all with the same rows; a sample weight then weighs
/// every output's loss.
pub enum FitData {
    Tensors(Tensor, Tensor),
    Dataset(Dataset<(Tensor, Tensor)>),
    /// `(x, y, sample_weight)`: one weight per row of `x`.
    WeightedTensors(Tensor, Tensor, Tensor),
    /// A dataset of `(x, y, sample_weight)` batches.
    WeightedDataset(Dataset<(Tensor, Tensor, Tensor)>),
    /// `(x, y)` as lists: a tensor per model input, a tensor per output.
    MultiTensors(Vec<Tensor>, Vec<Tensor>),
    /// `(x, y, sample_weight)` with `x` and `y` as lists.
    WeightedMultiTensors(Vec<Tensor>, Vec<Tensor>, Tensor),
    /// A dataset of `(x, y)` batches with `x` and `y` as lists.
    MultiDataset(Dataset<(Vec<Tensor>, Vec<Tensor>)>),
    /// A dataset of `(x, y, sample_weight)` batches with `x` and `y` as lists.
    WeightedMultiDataset(Dataset<(Vec<Tensor>, Vec<Tensor>, Tensor)>),
}

impl FitData {
    fn from_parts(x: Vec<Tensor>, y: Vec<Tensor>, w: Option<Tensor>) -> FitData {
        match w {
            Some(w) => FitData::WeightedMultiTensors(x, y, w),
            None => FitData::MultiTensors(x, y),
        }
    }

    /// `(x, y, sample_weight)` of tensor data, `x` and `y` as lists.
    fn tensors(&self) -> Option<(Vec<Tensor>, Vec<Tensor>, Option<Tensor>)> {
        match self {
            FitData::Tensors(x, y) => Some((vec![x.clone()], vec![y.clone()], None)),
            FitData::WeightedTensors(x, y, w) => {
                Some((vec![x.clone()], vec![y.clone()], Some(w.clone())))
            }
            FitData::MultiTensors(x, y) => Some((x.clone(), y.clone(), None)),
            FitData::WeightedMultiTensors(x, y, w) => Some((x.clone(), y.clone(), Some(w.clone()))),
            FitData::Dataset(_)
            | FitData::WeightedDataset(_)
            | FitData::MultiDataset(_)
            | FitData::WeightedMultiDataset(_) => None,
        }
    }

    fn is_weighted(&self) -> bool {
        matches!(
            self,
            FitData::WeightedTensors(..)
                | FitData::WeightedDataset(_)
                | FitData::WeightedMultiTensors(..)
                | FitData::WeightedMultiDataset(_)
        )
    }

    /// A fresh pass over a dataset's batches as `(x, y, sample_weight)` with lists; `None`
    /// for tensor data.
    fn batches(&self) -> Result<Option<(BatchIter, Option<usize>)>> {
        let len = |c| match c {
            crate::data::Cardinality::Finite(n) => Some(n as usize),
            _ => None,
        };
        Ok(Some(match self {
            FitData::Tensors(..)
            | FitData::WeightedTensors(..)
            | FitData::MultiTensors(..)
            | FitData::WeightedMultiTensors(..) => return Ok(None),
            FitData::Dataset(ds) => (
                Box::new(ds.iter()?.map(|b| b.map(|(x, y)| (vec![x], vec![y], None)))) as BatchIter,
                len(ds.cardinality()),
            ),
            FitData::WeightedDataset(ds) => (
                Box::new(
                    ds.iter()?
                        .map(|b| b.map(|(x, y, w)| (vec![x], vec![y], Some(w)))),
                ) as BatchIter,
                len(ds.cardinality()),
            ),
            FitData::MultiDataset(ds) => (
                Box::new(ds.iter()?.map(|b| b.map(|(x, y)| (x, y, None)))) as BatchIter,
                len(ds.cardinality()),
            ),
            FitData::WeightedMultiDataset(ds) => (
                Box::new(ds.iter()?.map(|b| b.map(|(x, y, w)| (x, y, Some(w))))) as BatchIter,
                len(ds.cardinality()),
            ),
        }))
    }
}

impl From<(Vec<Tensor>, Vec<Tensor>)> for FitData {
    fn from((x, y): (Vec<Tensor>, Vec<Tensor>)) -> Self {
        FitData::MultiTensors(x, y)
    }
}
impl From<(&[Tensor], &[Tensor])> for FitData {
    fn from((x, y): (&[Tensor], &[Tensor])) -> Self {
        FitData::MultiTensors(x.to_vec(), y.to_vec())
    }
}
impl From<(Vec<Tensor>, Vec<Tensor>, Tensor)> for FitData {
    fn from((x, y, w): (Vec<Tensor>, Vec<Tensor>, Tensor)) -> Self {
        FitData::WeightedMultiTensors(x, y, w)
    }
}
impl From<(&[Tensor], &[Tensor], &Tensor)> for FitData {
    fn from((x, y, w): (&[Tensor], &[Tensor], &Tensor)) -> Self {
        FitData::WeightedMultiTensors(x.to_vec(), y.to_vec(), w.clone())
    }
}
impl From<Dataset<(Vec<Tensor>, Vec<Tensor>)>> for FitData {
    fn from(ds: Dataset<(Vec<Tensor>, Vec<Tensor>)>) -> Self {
        FitData::MultiDataset(ds)
    }
}
impl From<&Dataset<(Vec<Tensor>, Vec<Tensor>)>> for FitData {
    fn from(ds: &Dataset<(Vec<Tensor>, Vec<Tensor>)>) -> Self {
        FitData::MultiDataset(ds.clone())
    }
}
impl From<Dataset<(Vec<Tensor>, Vec<Tensor>, Tensor)>> for FitData {
    fn from(ds: Dataset<(Vec<Tensor>, Vec<Tensor>, Tensor)>) -> Self {
        FitData::WeightedMultiDataset(ds)
    }
}
impl From<&Dataset<(Vec<Tensor>, Vec<Tensor>, Tensor)>> for FitData {
    fn from(ds: &Dataset<(Vec<Tensor>, Vec<Tensor>, Tensor)>) -> Self {
        FitData::WeightedMultiDataset(ds.clone())
    }
}
impl From<(&Tensor, &Tensor)> for FitData {
    fn from((x, y): (&Tensor, &Tensor)) -> Self {
        FitData::Tensors(x.clone(), y.clone())
    }
}
impl From<(Tensor, Tensor)> for FitData {
    fn from((x, y): (Tensor, Tensor)) -> Self {
        FitData::Tensors(x, y)
    }
}
impl From<(&Tensor, &Tensor, &Tensor)> for FitData {
    fn from((x, y, w): (&Tensor, &Tensor, &Tensor)) -> Self {
        FitData::WeightedTensors(x.clone(), y.clone(), w.clone())
    }
}
impl From<(Tensor, Tensor, Tensor)> for FitData {
    fn from((x, y, w): (Tensor, Tensor, Tensor)) -> Self {
        FitData::WeightedTensors(x, y, w)
    }
}
impl From<&Dataset<(Tensor, Tensor)>> for FitData {
    fn from(ds: &Dataset<(Tensor, Tensor)>) -> Self {
        FitData::Dataset(ds.clone())
    }
}
impl From<Dataset<(Tensor, Tensor)>> for FitData {
    fn from(ds: Dataset<(Tensor, Tensor)>) -> Self {
        FitData::Dataset(ds)
    }
}
impl From<&Dataset<(Tensor, Tensor, Tensor)>> for FitData {
    fn from(ds: &Dataset<(Tensor, Tensor, Tensor)>) -> Self {
        FitData::WeightedDataset(ds.clone())
    }
}
impl From<Dataset<(Tensor, Tensor, Tensor)>> for FitData {
    fn from(ds: Dataset<(Tensor, Tensor, Tensor)>) -> Self {
        FitData::WeightedDataset(ds)
    }
}

/// Keras's `class_weight`: a weight per integer class label.
pub type ClassWeight = BTreeMap<usize, f64>;

/// `fit`'s options, with Keras's defaults.
pub struct FitOptions {
    pub epochs: usize,
    /// Rows per batch when `fit` gets tensors (ignored for datasets, which are batched).
    pub batch_size: usize,
    pub validation_data: Option<FitData>,
    /// The fraction of the tensors, taken from the end before shuffling, kept for
    /// validation.
    pub validation_split: f64,
    /// Reshuffles the rows of tensor data each epoch.
    pub shuffle: bool,
    pub callbacks: Vec<Box<dyn Callback>>,
    pub verbose: Verbose,
    pub initial_epoch: usize,
    /// Stops each epoch after this many batches.
    pub steps_per_epoch: Option<usize>,
    /// One float weight per row of tensor `x` (Keras's `sample_weight`; with several
    /// outputs it weighs each output's loss and metrics), shuffled, batched and split off
    /// by `validation_split` with `x` and `y`. A dataset carries its weights as
    /// `(x, y, sample_weight)` elements instead.
    pub sample_weight: Option<Tensor>,
    /// A weight per class (Keras's `class_weight`): each training row is weighted by its
    /// label's class (the rounded label of `y` shaped `[n]` or `[n, 1]`, the argmax of a
    /// one-hot row). Not with `sample_weight`, nor for a model with several outputs, as
    /// in Keras; not applied to validation.
    pub class_weight: Option<ClassWeight>,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            epochs: 1,
            batch_size: 32,
            validation_data: None,
            validation_split: 0.0,
            shuffle: true,
            callbacks: Vec::new(),
            verbose: Verbose::Auto,
            initial_epoch: 0,
            steps_per_epoch: None,
            sample_weight: None,
            class_weight: None,
        }
    }
}

/// `evaluate`'s and `predict`'s options.
pub struct EvaluateOptions {
    pub batch_size: usize,
    pub verbose: Verbose,
    pub callbacks: Vec<Box<dyn Callback>>,
    /// `evaluate`'s per-row weights of tensor `x`, for the loss and the metrics (as
    /// [`FitOptions::sample_weight`]); `predict` takes none.
    pub sample_weight: Option<Tensor>,
}

impl Default for EvaluateOptions {
    fn default() -> Self {
        EvaluateOptions {
            batch_size: 32,
            verbose: Verbose::Auto,
            callbacks: Vec::new(),
            sample_weight: None,
        }
    }
}

/// What `fit` returns: each epoch's logs (`history["loss"]`, `history["val_accuracy"]`).
#[derive(Clone, Debug, Default)]
pub struct History {
    pub epochs: Vec<usize>,
    pub history: std::collections::BTreeMap<String, Vec<f64>>,
}

impl History {
    /// The values of `key` per epoch.
    pub fn get(&self, key: &str) -> Option<&[f64]> {
        self.history.get(key).map(|v| v.as_slice())
    }
}

/// A Keras model: layers, the training configuration and the training loop.
pub struct Model {
    core: Rc<ModelCore>,
    compiled: RefCell<Option<Rc<Compiled>>>,
    run_eagerly: Cell<bool>,
    stop_training: Cell<bool>,
}

/// Keras's `Sequential`: a stack of layers, each feeding the next. `Sequential::new`
/// returns a [`Model`].
pub struct Sequential;

// Keras's `Sequential([...])` is a model: `Sequential::new` returns a `Model`.
#[allow(clippy::new_ret_no_self)]
impl Sequential {
    /// A stack of `layers`. A first layer that declares its input shape (`input_dim`, an
    /// [`super::layers::InputLayer`]) builds the model at once; otherwise it is built on
    /// the first call.
    pub fn new(layers: Vec<LayerRef>) -> Result<Model> {
        Sequential::named(layers, &unique_name("sequential"))
    }

    /// [`Sequential::new`] with a name.
    pub fn named(layers: Vec<LayerRef>, name: &str) -> Result<Model> {
        let model = Model::wrap(ModelCore {
            name: name.to_string(),
            kind: Kind::Sequential(RefCell::new(SequentialState {
                layers: Vec::new(),
                input_shape: None,
            })),
        });
        for l in layers {
            model.add(l)?;
        }
        Ok(model)
    }
}

impl Model {
    fn wrap(core: ModelCore) -> Model {
        Model {
            core: Rc::new(core),
            compiled: RefCell::new(None),
            run_eagerly: Cell::new(false),
            stop_training: Cell::new(false),
        }
    }

    /// A functional model from `inputs` to `outputs` (Keras's `Model(inputs, outputs,
    /// name)`): the layers called between them, shared layers included.
    pub fn new(inputs: &[KerasTensor], outputs: &[KerasTensor], name: &str) -> Result<Model> {
        for i in inputs {
            if !matches!(i.0.source, Source::Input { .. }) {
                return Err(Error::invalid(
                    "Model",
                    "the inputs must come from Input (not from a layer)",
                ));
            }
        }
        if outputs.is_empty() {
            return Err(Error::invalid("Model", "needs at least one output"));
        }
        let order = topological(outputs, inputs)?;
        let name = if name.is_empty() {
            unique_name("functional")
        } else {
            name.to_string()
        };
        Ok(Model::wrap(ModelCore {
            name,
            kind: Kind::Functional {
                inputs: inputs.to_vec(),
                outputs: outputs.to_vec(),
                order,
            },
        }))
    }

    /// A subclassed model: `layer` (usually a struct holding layers, with its own `call`)
    /// as a model, named after its class (`Linear` → `linear`) as Keras names subclasses.
    pub fn from_layer(layer: impl Layer + 'static) -> Model {
        let layer = LayerRef::new(layer);
        let name = layer.name();
        Model::wrap(ModelCore {
            name,
            kind: Kind::Subclassed(layer),
        })
    }

    pub fn name(&self) -> &str {
        &self.core.name
    }

    /// Appends a layer to a `Sequential` model (building it if the input shape is known).
    pub fn add(&self, layer: LayerRef) -> Result<()> {
        let Kind::Sequential(state) = &self.core.kind else {
            return Err(Error::invalid(
                "Model.add",
                format!("'{}' is not a Sequential model", self.core.name),
            ));
        };
        let mut s = state.borrow_mut();
        let declared = layer.declared_input_shape();
        let is_input = layer.class_name() == "InputLayer";
        if let Some(shape) = declared {
            if s.layers.is_empty() && s.input_shape.is_none() {
                s.input_shape = Some(shape);
            } else if is_input {
                return Err(Error::invalid(
                    "Sequential.add",
                    "an InputLayer must be the first layer",
                ));
            }
        }
        if is_input {
            return Ok(());
        }
        // Infer shapes through the new layer when the model's input shape is known.
        if let Some(input) = s.input_shape.clone() {
            let mut spec = (input, DType::F32);
            for l in s.layers.iter().chain(std::iter::once(&layer)) {
                let outs = l.infer_outputs(std::slice::from_ref(&spec))?;
                spec = sequential_output(&self.core.name, l, outs)?;
            }
        }
        s.layers.push(layer);
        Ok(())
    }

    /// The layers, in order (a functional model's inputs are not layers here).
    pub fn layers(&self) -> Vec<LayerRef> {
        self.core.layers()
    }

    /// The layer named `name`.
    /// Keras's `reset_states`: every stateful layer starts again from zeros.
    pub fn reset_states(&self) -> Result<()> {
        for l in self.layers() {
            l.reset_states()?;
        }
        Ok(())
    }

    pub fn get_layer(&self, name: &str) -> Option<LayerRef> {
        self.layers().into_iter().find(|l| l.name() == name)
    }

    /// Every weight of every layer, each once.
    pub fn weights(&self) -> Vec<Variable> {
        self.core.collect(LayerRef::weights)
    }
    pub fn trainable_variables(&self) -> Vec<Variable> {
        self.core.collect(LayerRef::trainable_variables)
    }
    pub fn non_trainable_variables(&self) -> Vec<Variable> {
        self.core.collect(LayerRef::non_trainable_variables)
    }
    pub fn count_params(&self) -> usize {
        self.weights()
            .iter()
            .map(|v| v.shape().iter().product::<usize>())
            .sum()
    }
    /// The regularization penalties (Keras's `model.losses`).
    pub fn losses(&self) -> Result<Vec<Tensor>> {
        self.core.losses()
    }

    /// Sets every weight from `values` (in [`Model::weights`] order).
    pub fn set_weights(&self, values: &[Tensor]) -> Result<()> {
        let weights = self.weights();
        if weights.len() != values.len() {
            return Err(Error::invalid(
                "Model.set_weights",
                format!(
                    "the model has {} weights, got {} values",
                    weights.len(),
                    values.len()
                ),
            ));
        }
        for (w, v) in weights.iter().zip(values) {
            w.assign(v)?;
        }
        Ok(())
    }
    /// The weights' current values.
    pub fn get_weights(&self) -> Vec<Tensor> {
        self.weights().iter().map(Variable::read_value).collect()
    }

    /// Calls a one-input, one-output model (Keras's `model(x, training=...)`).
    pub fn call(&self, x: &Tensor, training: bool) -> Result<Tensor> {
        let mut out = self.core.call(std::slice::from_ref(x), training)?;
        if out.len() != 1 {
            return Err(Error::invalid(
                &self.core.name,
                format!("the model has {} outputs; use call_many", out.len()),
            ));
        }
        Ok(out.remove(0))
    }
    /// Calls a model with several inputs or outputs.
    pub fn call_many(&self, inputs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        self.core.call(inputs, training)
    }

    /// Builds the model for inputs of `input_shape` (batch axis included, `None` allowed)
    /// without data, as Keras's `model.build`.
    pub fn build(&self, input_shape: &[Option<usize>]) -> Result<()> {
        match &self.core.kind {
            Kind::Sequential(s) => {
                let layers = s.borrow().layers.clone();
                let mut spec = (input_shape.to_vec(), DType::F32);
                for l in &layers {
                    let outs = l.infer_outputs(std::slice::from_ref(&spec))?;
                    spec = sequential_output(&self.core.name, l, outs)?;
                }
                s.borrow_mut().input_shape = Some(input_shape.to_vec());
                Ok(())
            }
            Kind::Functional { .. } => Ok(()),
            Kind::Subclassed(l) => l
                .infer_output(&[(input_shape.to_vec(), DType::F32)])
                .map(|_| ()),
        }
    }

    /// Keras's `summary()` table, as text.
    pub fn summary(&self) -> String {
        super::summary::summary(self)
    }
    /// Prints [`Model::summary`].
    pub fn print_summary(&self) {
        print!("{}", self.summary());
    }

    pub(crate) fn core(&self) -> &ModelCore {
        &self.core
    }

    /// Keras's `run_eagerly`: runs the train, test and predict steps eagerly (for
    /// debugging) instead of as traced functions.
    pub fn set_run_eagerly(&self, eager: bool) {
        self.run_eagerly.set(eager);
    }
    pub fn run_eagerly(&self) -> bool {
        self.run_eagerly.get()
    }

    /// Keras's `stop_training` flag: a callback sets it to end `fit` after this epoch.
    pub fn set_stop_training(&self, stop: bool) {
        self.stop_training.set(stop);
    }
    pub fn stop_training(&self) -> bool {
        self.stop_training.get()
    }

    /// What `compile` set up, if it was called.
    pub fn compiled(&self) -> Option<Rc<Compiled>> {
        self.compiled.borrow().clone()
    }

    fn compiled_or_err(&self, op: &str) -> Result<Rc<Compiled>> {
        self.compiled().ok_or_else(|| {
            Error::invalid(
                op,
                format!(
                    "model '{}' must be compiled first (call compile)",
                    self.core.name
                ),
            )
        })
    }

    /// Configures training: the optimizer, the loss and the metrics (Keras's
    /// `compile(optimizer, loss, metrics)`). `"accuracy"` resolves to the accuracy that
    /// fits the loss, as in Keras. A model with several outputs gets `loss` and each metric
    /// on every output; [`Model::compile_with`] sets them per output.
    pub fn compile(
        &self,
        optimizer: impl Optimizer + 'static,
        loss: impl Loss + 'static,
        metrics: Vec<MetricArg>,
    ) -> Result<()> {
        self.compile_with(
            optimizer,
            CompileOptions::new(PerOutput::All(loss.into())).metrics(PerOutput::All(metrics)),
        )
    }

    /// Keras's `compile` with a loss, a loss weight and metrics per output (see
    /// [`CompileOptions`]). The total loss that `fit` minimises and logs as `loss` is
    /// Σ loss_weight_i · loss_i plus the regularization penalties; with several outputs
    /// the logs also hold each output's unweighted `<output>_loss` and its metrics as
    /// `<output>_<metric>`.
    pub fn compile_with(
        &self,
        optimizer: impl Optimizer + 'static,
        options: CompileOptions,
    ) -> Result<()> {
        let heads = Rc::new(Heads::new(&self.core, options)?);
        let optimizer: Rc<dyn Optimizer> = Rc::new(optimizer);
        let train_step = {
            let (core, opt, heads) = (self.core.clone(), optimizer.clone(), heads.clone());
            function(move |a: &[Arg]| -> Result<Tensor> {
                let (x, y, w) = batch_args(a)?;
                let tape = GradientTape::new();
                let y_pred = core.call(&x, true)?;
                // After the forward pass: a model built on its first call has weights now.
                let vars = core.collect(LayerRef::trainable_variables);
                let (total, each) = heads.loss(&core, &y, &y_pred, w.as_ref())?;
                let refs: Vec<&Variable> = vars.iter().collect();
                let grads = tape.gradient(&total, &refs)?;
                drop(tape);
                let pairs: Vec<(Tensor, &Variable)> = grads
                    .into_iter()
                    .zip(&vars)
                    .filter_map(|(g, v)| g.map(|g| (g, v)))
                    .collect();
                opt.apply_gradients(&pairs)?;
                heads.update(&total, &each, batch_rows(&x), &y, &y_pred, w.as_ref())?;
                Ok(total)
            })
            .with_name("train_step")
        };
        let test_step = {
            let (core, heads) = (self.core.clone(), heads.clone());
            function(move |a: &[Arg]| -> Result<Tensor> {
                let (x, y, w) = batch_args(a)?;
                let y_pred = core.call(&x, false)?;
                let (total, each) = heads.loss(&core, &y, &y_pred, w.as_ref())?;
                heads.update(&total, &each, batch_rows(&x), &y, &y_pred, w.as_ref())?;
                Ok(total)
            })
            .with_name("test_step")
        };
        let predict_step = {
            let core = self.core.clone();
            function(move |a: &[Arg]| -> Result<Vec<Tensor>> {
                let inputs = a
                    .iter()
                    .map(|a| a.tensor().cloned())
                    .collect::<Result<Vec<_>>>()?;
                core.call(&inputs, false)
            })
            .with_name("predict_step")
        };
        *self.compiled.borrow_mut() = Some(Rc::new(Compiled {
            optimizer,
            heads,
            train_step,
            test_step,
            predict_step,
        }));
        Ok(())
    }

    /// Keras's `output_names`: the name of the layer that makes each output (a
    /// Sequential model's last layer), the keys of [`PerOutput::Map`] and of the logs.
    pub fn output_names(&self) -> Vec<String> {
        self.core.output_names()
    }

    /// Runs `f`'s step traced, or eagerly under `run_eagerly`.
    fn run_step<O: crate::graph::Structure + 'static>(
        &self,
        f: &Function<O>,
        args: &[Arg],
    ) -> Result<O> {
        if self.run_eagerly.get() {
            let was = crate::graph::functions_run_eagerly();
            crate::graph::run_functions_eagerly(true);
            let out = f.call(args);
            crate::graph::run_functions_eagerly(was);
            out
        } else {
            f.call(args)
        }
    }

    /// The metric values (`loss` first among equals; keys sorted, as Keras 3 logs are).
    fn read_logs(&self, c: &Compiled, prefix: &str) -> Result<Logs> {
        c.heads.logs(prefix)
    }

    fn reset_metrics(&self, c: &Compiled) -> Result<()> {
        c.heads.reset()
    }

    /// One gradient step on one batch; returns the logs after it (Keras's
    /// `train_on_batch`, with `reset_metrics=True`).
    pub fn train_on_batch(&self, x: &Tensor, y: &Tensor) -> Result<Logs> {
        self.on_batch(true, std::slice::from_ref(x), std::slice::from_ref(y), None)
    }

    /// [`Model::train_on_batch`] with one weight per row of `x` (Keras's `sample_weight`;
    /// [`class_weight_to_sample_weights`] turns a `class_weight` into one).
    pub fn train_on_batch_weighted(
        &self,
        x: &Tensor,
        y: &Tensor,
        sample_weight: &Tensor,
    ) -> Result<Logs> {
        self.on_batch(
            true,
            std::slice::from_ref(x),
            std::slice::from_ref(y),
            Some(sample_weight),
        )
    }

    /// [`Model::train_on_batch`] for a model with several inputs or outputs: a tensor per
    /// input in `x`, per output in `y`, and an optional weight per row for every output.
    pub fn train_on_batch_many(
        &self,
        x: &[Tensor],
        y: &[Tensor],
        sample_weight: Option<&Tensor>,
    ) -> Result<Logs> {
        self.on_batch(true, x, y, sample_weight)
    }

    /// The loss and metrics on one batch, without training.
    pub fn test_on_batch(&self, x: &Tensor, y: &Tensor) -> Result<Logs> {
        self.on_batch(
            false,
            std::slice::from_ref(x),
            std::slice::from_ref(y),
            None,
        )
    }

    /// [`Model::test_on_batch`] with one weight per row of `x`.
    pub fn test_on_batch_weighted(
        &self,
        x: &Tensor,
        y: &Tensor,
        sample_weight: &Tensor,
    ) -> Result<Logs> {
        self.on_batch(
            false,
            std::slice::from_ref(x),
            std::slice::from_ref(y),
            Some(sample_weight),
        )
    }

    /// [`Model::test_on_batch`] for a model with several inputs or outputs.
    pub fn test_on_batch_many(
        &self,
        x: &[Tensor],
        y: &[Tensor],
        sample_weight: Option<&Tensor>,
    ) -> Result<Logs> {
        self.on_batch(false, x, y, sample_weight)
    }

    fn on_batch(
        &self,
        train: bool,
        x: &[Tensor],
        y: &[Tensor],
        w: Option<&Tensor>,
    ) -> Result<Logs> {
        let op = if train {
            "train_on_batch"
        } else {
            "test_on_batch"
        };
        let c = self.compiled_or_err(op)?;
        check_tensors(op, &self.core.arity(), x, Some(y), w)?;
        self.reset_metrics(&c)?;
        let step = if train { &c.train_step } else { &c.test_step };
        self.run_step(step, &step_args(x, y, w, None))?;
        self.read_logs(&c, "")
    }

    /// The outputs for one batch.
    pub fn predict_on_batch(&self, x: &Tensor) -> Result<Tensor> {
        self.one_output("predict_on_batch", "predict_on_batch_many")?;
        let mut out = self.predict_on_batch_many(std::slice::from_ref(x))?;
        Ok(out.remove(0))
    }

    /// Every output for one batch of a model with several inputs or outputs.
    pub fn predict_on_batch_many(&self, x: &[Tensor]) -> Result<Vec<Tensor>> {
        let c = self.compiled_or_err("predict_on_batch")?;
        check_tensors("predict_on_batch", &self.core.arity(), x, None, None)?;
        let args: Vec<Arg> = x.iter().map(Arg::from).collect();
        self.run_step(&c.predict_step, &args)
    }

    /// An error for a one-output API (`predict`) called on a model with several outputs,
    /// pointing to the one that returns them all.
    fn one_output(&self, op: &str, instead: &str) -> Result<()> {
        let names = self.core.output_names();
        if names.len() != 1 {
            return Err(Error::invalid(
                op,
                format!(
                    "model '{}' has {} outputs ({}); use {instead}, which returns them all",
                    self.core.name,
                    names.len(),
                    quoted(&names)
                ),
            ));
        }
        Ok(())
    }

    /// The outputs for `x`, computed `batch_size` rows at a time (the model need not be
    /// compiled). A model with several outputs needs [`Model::predict_many`].
    pub fn predict(&self, x: &Tensor, options: EvaluateOptions) -> Result<Tensor> {
        self.one_output("predict", "predict_many")?;
        let mut out = self.predict_many(std::slice::from_ref(x), options)?;
        Ok(out.remove(0))
    }

    /// Keras's `predict` for a model with several inputs or outputs: a tensor per input
    /// in `x` (the same rows in each), every output in order.
    pub fn predict_many(&self, x: &[Tensor], options: EvaluateOptions) -> Result<Vec<Tensor>> {
        if options.sample_weight.is_some() {
            return Err(Error::invalid("predict", "predict takes no sample_weight"));
        }
        check_tensors("predict", &self.core.arity(), x, None, None)?;
        let n = rows("predict", &x[0])?;
        if n == 0 {
            return Err(Error::invalid("predict", "the input has no rows"));
        }
        let step = self.compiled();
        let batch = options.batch_size.max(1);
        let mut outs: Vec<Vec<Tensor>> = Vec::new();
        let mut progress = Progress::new(options.verbose, Some(n.div_ceil(batch)));
        let device = crate::device::current_device()?;
        for (i, start) in (0..n).step_by(batch).enumerate() {
            let end = (start + batch).min(n);
            let xb = x
                .iter()
                .map(|t| slice_rows(t, start, end)?.on(&device))
                .collect::<Result<Vec<_>>>()?;
            let ys = match &step {
                Some(c) => {
                    let args: Vec<Arg> = xb.iter().map(Arg::from).collect();
                    self.run_step(&c.predict_step, &args)?
                }
                None => self.core.call(&xb, false)?,
            };
            outs.resize_with(ys.len(), Vec::new);
            for (o, y) in outs.iter_mut().zip(ys) {
                o.push(y);
            }
            progress.update(i + 1, &mut || Ok(Logs::new()))?;
        }
        progress.finish(&Logs::new());
        outs.iter()
            .map(|parts| ops::concat(&parts.iter().collect::<Vec<_>>(), 0))
            .collect()
    }

    /// The loss and metrics over `data` (Keras's `evaluate`), as logs.
    pub fn evaluate(&self, data: impl Into<FitData>, options: EvaluateOptions) -> Result<Logs> {
        let c = self.compiled_or_err("evaluate")?;
        let data = attach_sample_weight("evaluate", data.into(), options.sample_weight)?;
        check_data("evaluate", &self.core.arity(), &data)?;
        let mut callbacks = CallbackList::new(options.callbacks);
        self.run_evaluation(
            &c,
            &data,
            options.batch_size,
            options.verbose,
            &mut callbacks,
            "",
        )
    }

    fn run_evaluation(
        &self,
        c: &Compiled,
        data: &FitData,
        batch_size: usize,
        verbose: Verbose,
        callbacks: &mut CallbackList,
        prefix: &str,
    ) -> Result<Logs> {
        // Validation inside `fit` has a prefix; its errors belong to `fit`.
        let op = if prefix.is_empty() { "evaluate" } else { "fit" };
        self.reset_metrics(c)?;
        callbacks.on_test_begin(self)?;
        let mut batches = Batches::new(op, data, batch_size, self.core.arity(), None)?;
        let mut progress = Progress::new(verbose, batches.len());
        let mut step = 0;
        while let Some(args) = batches.next_batch()? {
            self.run_step(&c.test_step, &args)?;
            step += 1;
            progress.update(step, &mut || self.read_logs(c, ""))?;
        }
        if step == 0 {
            return Err(Error::invalid(op, "the data has no batches"));
        }
        let logs = self.read_logs(c, prefix)?;
        progress.finish(&self.read_logs(c, "")?);
        callbacks.on_test_end(self, &logs)?;
        Ok(logs)
    }

    /// Trains the model (Keras's `fit`): `epochs` passes over `data`, with validation,
    /// callbacks and a progress bar; returns the per-epoch logs.
    pub fn fit(&self, data: impl Into<FitData>, options: FitOptions) -> Result<History> {
        let c = self.compiled_or_err("fit")?;
        let data = data.into();
        if options.class_weight.is_some() && (options.sample_weight.is_some() || data.is_weighted())
        {
            return Err(both_weights_error("fit"));
        }
        let data = attach_sample_weight("fit", data, options.sample_weight)?;
        let arity = self.core.arity();
        check_data("fit", &arity, &data)?;
        if let Some(v) = &options.validation_data {
            check_data("fit", &arity, v).map_err(|e| in_context(e, "validation_data"))?;
        }
        let (train, validation) = match (data.tensors(), options.validation_split) {
            (Some((x, y, w)), split) if split > 0.0 => {
                if !(0.0..1.0).contains(&split) {
                    return Err(Error::invalid(
                        "fit",
                        format!("validation_split must be in [0, 1), got {split}"),
                    ));
                }
                let n = rows("fit", &x[0])?;
                let keep = n - ((n as f64) * split) as usize;
                // Every tensor splits by the same rows; the held-out rows keep their weights.
                let part = |a, b| -> Result<FitData> {
                    let cut = |ts: &[Tensor]| -> Result<Vec<Tensor>> {
                        ts.iter().map(|t| slice_rows(t, a, b)).collect()
                    };
                    Ok(FitData::from_parts(
                        cut(&x)?,
                        cut(&y)?,
                        w.as_ref().map(|w| slice_rows(w, a, b)).transpose()?,
                    ))
                };
                (part(0, keep)?, Some(part(keep, n)?))
            }
            (None, split) if split > 0.0 => {
                return Err(Error::invalid(
                    "fit",
                    "validation_split needs tensors; give a dataset validation_data instead",
                ));
            }
            _ => (data, None),
        };
        // As in Keras, class weights are taken after the split and weigh training only.
        let train = match options.class_weight {
            Some(cw) => attach_class_weight("fit", train, cw)?,
            None => train,
        };
        let validation = options.validation_data.or(validation);
        let mut callbacks = CallbackList::new(options.callbacks);
        let mut history = History::default();
        self.stop_training.set(false);
        let verbose = options.verbose;
        let mut shuffle_seed = super::next_seed();
        callbacks.on_train_begin(self)?;
        for epoch in options.initial_epoch..options.epochs {
            callbacks.on_epoch_begin(self, epoch)?;
            self.reset_metrics(&c)?;
            shuffle_seed = shuffle_seed.wrapping_add(1);
            let shuffle = options.shuffle.then_some(shuffle_seed);
            let mut batches =
                Batches::new("fit", &train, options.batch_size, arity.clone(), shuffle)?;
            let total = options.steps_per_epoch.map_or(batches.len(), |s| {
                batches.len().map_or(Some(s), |n| Some(n.min(s)))
            });
            if verbose.prints() {
                println!("Epoch {}/{}", epoch + 1, options.epochs);
            }
            let mut progress = Progress::new(verbose, total);
            let mut step = 0;
            while let Some(args) = batches.next_batch()? {
                if options.steps_per_epoch.is_some_and(|s| step >= s) {
                    break;
                }
                callbacks.on_train_batch_begin(self, step)?;
                let loss = self.run_step(&c.train_step, &args)?;
                step += 1;
                if callbacks.wants_batch_logs() {
                    let mut logs = self.read_logs(&c, "")?;
                    logs.insert("batch_loss".into(), loss.to_scalar::<f32>()? as f64);
                    callbacks.on_train_batch_end(self, step - 1, &logs)?;
                } else {
                    callbacks.on_train_batch_end(self, step - 1, &Logs::new())?;
                }
                progress.update(step, &mut || self.read_logs(&c, ""))?;
                if self.stop_training.get() {
                    break;
                }
            }
            if step == 0 {
                return Err(Error::invalid(
                    "fit",
                    "the training data has no batches (is the dataset empty?)",
                ));
            }
            let mut logs = self.read_logs(&c, "")?;
            let loss = logs["loss"];
            if !loss.is_finite() && !self.stop_training.get() {
                return Err(self.diagnose_non_finite(&train, epoch, loss));
            }
            if let Some(v) = &validation {
                let mut none = CallbackList::new(Vec::new());
                let val = self.run_evaluation(
                    &c,
                    v,
                    options.batch_size,
                    Verbose::Silent,
                    &mut none,
                    "val_",
                )?;
                logs.extend(val);
            }
            progress.finish(&logs);
            history.epochs.push(epoch);
            for (k, v) in &logs {
                history.history.entry(k.clone()).or_default().push(*v);
            }
            callbacks.on_epoch_end(self, epoch, &logs)?;
            if self.stop_training.get() {
                break;
            }
        }
        callbacks.on_train_end(self)?;
        Ok(history)
    }

    /// The error for a loss that is NaN or infinite after `epoch`: names the first layer
    /// whose output on the first batch is not finite, found by running the layers eagerly.
    fn diagnose_non_finite(&self, data: &FitData, epoch: usize, loss: f64) -> Error {
        let culprit = (|| -> Result<Option<String>> {
            // Every input's first rows (of the first batch of a dataset).
            let first: Option<Vec<Tensor>> = match (data.tensors(), data.batches()?) {
                (Some((x, ..)), _) => Some(
                    x.iter()
                        .map(|x| slice_rows(x, 0, rows("fit", x)?.min(32)))
                        .collect::<Result<_>>()?,
                ),
                (None, Some((mut iter, _))) => iter.next().transpose()?.map(|b| b.0),
                (None, None) => None,
            };
            let Some(x) = first else {
                return Ok(None);
            };
            let device = crate::device::current_device()?;
            let x = x
                .iter()
                .map(|x| x.on(&device))
                .collect::<Result<Vec<_>>>()?;
            for w in self.weights() {
                if !all_finite(&w.read_value())? {
                    return Ok(Some(format!("weight '{}' is not finite", w.name())));
                }
            }
            // The first layer call, in computing order, with a non-finite output.
            let mut culprit: Option<String> = None;
            self.core.call_observed(&x, false, &mut |l, outs| {
                if culprit.is_none() {
                    for o in outs {
                        if !all_finite(o)? {
                            culprit = Some(format!(
                                "layer '{}' ({}) gives non-finite outputs",
                                l.name(),
                                l.class_name()
                            ));
                            break;
                        }
                    }
                }
                Ok(())
            })?;
            Ok(culprit)
        })();
        let detail = match culprit {
            Ok(Some(d)) => format!("; {d}"),
            Ok(None) => "; every layer's output on the first batch is finite, so the loss \
                         (or the labels) produced it"
                .to_string(),
            Err(e) => format!("; looking for the layer failed: {e}"),
        };
        Error::invalid(
            "fit",
            format!(
                "the loss of model '{}' is {loss} after epoch {}{detail}",
                self.core.name,
                epoch + 1
            ),
        )
    }
}

fn all_finite(t: &Tensor) -> Result<bool> {
    if t.size() == 0 {
        return Ok(true);
    }
    ops::reduce_all(&ops::is_finite(t)?, Axes::All, false)?.to_scalar::<bool>()
}

/// The rows of a batch, for the loss trackers' weights.
fn batch_rows(x: &[Tensor]) -> usize {
    x.first()
        .and_then(|x| x.shape().first().copied())
        .unwrap_or(1)
}

/// A step's arguments: how many `x` and `y` tensors there are and whether a sample weight
/// follows (host values, so that each layout is traced apart), the `x` tensors, the `y`
/// tensors, the weight if any, and — when the step gathers its batch from the whole data —
/// the row indices.
fn step_args(x: &[Tensor], y: &[Tensor], w: Option<&Tensor>, idx: Option<&Tensor>) -> Vec<Arg> {
    let mut args = vec![
        Arg::Int(x.len() as i64),
        Arg::Int(y.len() as i64),
        Arg::Bool(w.is_some()),
    ];
    args.extend(x.iter().map(Arg::from));
    args.extend(y.iter().map(Arg::from));
    args.extend(w.map(Arg::from));
    args.extend(idx.map(Arg::from));
    args
}

/// `(x, y, sample_weight)` of a step from [`step_args`]: the batch itself, or the rows of
/// the whole data that the index tensor picks (so the gather is part of the plan).
fn batch_args(a: &[Arg]) -> Result<(Vec<Tensor>, Vec<Tensor>, Option<Tensor>)> {
    let count = |a: &Arg| -> Result<usize> {
        usize::try_from(a.int()?).map_err(|_| Error::invalid("step", "a negative tensor count"))
    };
    let (nx, ny, weighted) = (count(&a[0])?, count(&a[1])?, a[2].bool()?);
    let tensors = |from: usize, n: usize| -> Result<Vec<Tensor>> {
        a[from..from + n]
            .iter()
            .map(|t| t.tensor().cloned())
            .collect()
    };
    let x = tensors(3, nx)?;
    let y = tensors(3 + nx, ny)?;
    let mut next = 3 + nx + ny;
    let w = match weighted {
        true => {
            next += 1;
            Some(a[next - 1].tensor()?.clone())
        }
        false => None,
    };
    match a.get(next) {
        Some(idx) => {
            let idx = idx.tensor()?;
            let take = |t: &Tensor| ops::gather(t, idx, 0, 0);
            Ok((
                x.iter().map(take).collect::<Result<_>>()?,
                y.iter().map(take).collect::<Result<_>>()?,
                w.as_ref().map(take).transpose()?,
            ))
        }
        None => Ok((x, y, w)),
    }
}

/// A sample weight must be float with one weight per row of `x` (any trailing axes
/// broadcast against the per-sample losses, as Keras's temporal weights).
fn check_sample_weight(op: &str, x: &Tensor, w: &Tensor) -> Result<()> {
    if !w.dtype().is_float() {
        return Err(Error::dtype(
            op,
            format!("sample_weight must be float32, got {}", w.dtype()),
        ));
    }
    let n = rows(op, x)?;
    if w.shape().first() != Some(&n) {
        return Err(Error::shape(
            op,
            format!(
                "sample_weight needs one weight per row of x: x has {n} rows but \
                 sample_weight has shape {:?}",
                w.shape()
            ),
        ));
    }
    Ok(())
}

/// Tensor data must agree on its rows (datasets are checked batch by batch).
fn check_data(op: &str, arity: &Arity, data: &FitData) -> Result<()> {
    let Some((x, y, w)) = data.tensors() else {
        return Ok(());
    };
    check_tensors(op, arity, &x, Some(&y), w.as_ref())
}

/// `x` (and `y`, when given) must hold a tensor per model input (output), every tensor
/// and the sample weight with the same rows.
fn check_tensors(
    op: &str,
    arity: &Arity,
    x: &[Tensor],
    y: Option<&[Tensor]>,
    w: Option<&Tensor>,
) -> Result<()> {
    let model = &arity.model;
    if let Some(inputs) = &arity.inputs
        && x.len() != inputs.len()
    {
        return Err(Error::invalid(
            op,
            format!(
                "x has {} tensor(s) but model '{model}' has {} input(s) ({}); give one \
                 tensor per input, in order",
                x.len(),
                inputs.len(),
                quoted(inputs)
            ),
        ));
    }
    if x.is_empty() {
        return Err(Error::invalid(op, "x has no tensors"));
    }
    if let Some(y) = y
        && y.len() != arity.outputs.len()
    {
        return Err(Error::invalid(
            op,
            format!(
                "y has {} tensor(s) but model '{model}' has {} output(s) ({}); give one \
                 tensor per output, in order",
                y.len(),
                arity.outputs.len(),
                quoted(&arity.outputs)
            ),
        ));
    }
    // `x` when there is one tensor, else `x[1] (input 'b')`.
    let label = |what: &str, kind: &str, i: usize, names: Option<&Vec<String>>, count: usize| match (
        count,
        names.and_then(|n| n.get(i)),
    ) {
        (1, _) => what.to_string(),
        (_, Some(n)) => format!("{what}[{i}] ({kind} '{n}')"),
        (_, None) => format!("{what}[{i}]"),
    };
    let inputs = arity.inputs.as_ref();
    let y = y.unwrap_or_default();
    let n = rows(op, &x[0])?;
    let first = label("x", "input", 0, inputs, x.len());
    let tensors = x
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, t)| (label("x", "input", i, inputs, x.len()), t))
        .chain(
            y.iter()
                .enumerate()
                .map(|(i, t)| (label("y", "output", i, Some(&arity.outputs), y.len()), t)),
        );
    for (name, t) in tensors {
        if rows(op, t)? != n {
            return Err(Error::shape(
                op,
                format!(
                    "{first} has {n} rows but {name} has {} (shapes {:?} and {:?}); every \
                     tensor needs the same rows",
                    t.shape()[0],
                    x[0].shape(),
                    t.shape()
                ),
            ));
        }
    }
    if let Some(w) = w {
        check_sample_weight(op, &x[0], w)?;
    }
    Ok(())
}

/// `data` with the options' `sample_weight` attached: tensors only, and only once.
fn attach_sample_weight(op: &str, data: FitData, w: Option<Tensor>) -> Result<FitData> {
    let Some(w) = w else {
        return Ok(data);
    };
    match data {
        FitData::Tensors(x, y) => Ok(FitData::WeightedTensors(x, y, w)),
        FitData::MultiTensors(x, y) => Ok(FitData::WeightedMultiTensors(x, y, w)),
        FitData::WeightedTensors(..) | FitData::WeightedMultiTensors(..) => Err(Error::invalid(
            op,
            "sample_weight is given twice: in the data (x, y, sample_weight) and in the options",
        )),
        FitData::Dataset(_)
        | FitData::WeightedDataset(_)
        | FitData::MultiDataset(_)
        | FitData::WeightedMultiDataset(_) => Err(Error::invalid(
            op,
            "sample_weight needs tensor data; a dataset carries its weights as \
             (x, y, sample_weight) elements",
        )),
    }
}

/// `data` weighted by `class_weight`: tensors at once, a dataset batch by batch (on the
/// host, as Keras's `class_weight` map over a `tf.data` pipeline). As in Keras, only for
/// one output.
fn attach_class_weight(op: &'static str, data: FitData, cw: ClassWeight) -> Result<FitData> {
    let one = |y: &[Tensor]| -> Result<()> {
        if y.len() != 1 {
            return Err(Error::invalid(
                op,
                format!(
                    "class_weight is only supported for models with one output (as in \
                     Keras); y has {} tensors: give a sample_weight instead",
                    y.len()
                ),
            ));
        }
        Ok(())
    };
    match data {
        FitData::Tensors(x, y) => {
            let w = class_sample_weights(op, &y, &cw)?;
            Ok(FitData::WeightedTensors(x, y, w))
        }
        FitData::MultiTensors(x, y) => {
            one(&y)?;
            let w = class_sample_weights(op, &y[0], &cw)?;
            Ok(FitData::WeightedMultiTensors(x, y, w))
        }
        FitData::Dataset(ds) => Ok(FitData::WeightedDataset(ds.map(move |(x, y)| {
            let w = class_sample_weights(op, &y, &cw)?;
            Ok((x, y, w))
        }))),
        FitData::MultiDataset(ds) => Ok(FitData::WeightedMultiDataset(ds.map(move |(x, y)| {
            one(&y)?;
            let w = class_sample_weights(op, &y[0], &cw)?;
            Ok((x, y, w))
        }))),
        FitData::WeightedTensors(..)
        | FitData::WeightedDataset(_)
        | FitData::WeightedMultiTensors(..)
        | FitData::WeightedMultiDataset(_) => Err(both_weights_error(op)),
    }
}

fn both_weights_error(op: &str) -> Error {
    Error::invalid(
        op,
        "you cannot use class_weight and sample_weight at the same time (as in Keras); \
         fold the class weights into sample_weight",
    )
}

/// Keras's `class_weight_to_sample_weights`: the weight of each row's class, the class
/// being the rounded label of `y` shaped `[n]` or `[n, 1]`, or the argmax of a one-hot
/// row of `y` shaped `[n, classes]`. A `[n]` float32 tensor on `y`'s device; a label
/// without a weight is an error (Keras 3 would give it 1).
pub fn class_weight_to_sample_weights(y: &Tensor, class_weight: &ClassWeight) -> Result<Tensor> {
    class_sample_weights("class_weight_to_sample_weights", y, class_weight)
}

fn class_sample_weights(op: &str, y: &Tensor, class_weight: &ClassWeight) -> Result<Tensor> {
    let (n, width) = match *y.shape() {
        [n] => (n, 1),
        [n, k] if k > 0 => (n, k),
        _ => {
            return Err(Error::shape(
                op,
                format!(
                    "class_weight needs labels of shape [n], [n, 1] or one-hot [n, classes]; \
                     y has shape {:?}",
                    y.shape()
                ),
            ));
        }
    };
    let labels = y.to_f64_vec()?;
    let mut weights = Vec::with_capacity(n);
    for (row, r) in labels.chunks(width).enumerate() {
        let class = if width > 1 {
            // The first largest entry, as numpy's argmax.
            let mut best = 0;
            for (i, &v) in r.iter().enumerate() {
                if v > r[best] {
                    best = i;
                }
            }
            best as f64
        } else {
            r[0].round_ties_even()
        };
        let weight = (class >= 0.0)
            .then(|| class_weight.get(&(class as usize)))
            .flatten()
            .ok_or_else(|| {
                Error::invalid(
                    op,
                    format!(
                        "class_weight has no weight for class {class} (row {row} of y's {n}); \
                         it has classes {:?}",
                        class_weight.keys().collect::<Vec<_>>()
                    ),
                )
            })?;
        weights.push(*weight as f32);
    }
    crate::device::with_device(y.device(), || Tensor::from_vec(weights, [n]))
}

fn rows(op: &str, x: &Tensor) -> Result<usize> {
    x.shape()
        .first()
        .copied()
        .ok_or_else(|| Error::shape(op, "the data must have a batch axis (rank 1 or more)"))
}

fn slice_rows(x: &Tensor, start: usize, end: usize) -> Result<Tensor> {
    let mut begin = vec![0i64; x.rank()];
    let mut size: Vec<i64> = x.shape().iter().map(|&d| d as i64).collect();
    begin[0] = start as i64;
    size[0] = (end - start) as i64;
    ops::slice(x, &begin, &size)
}

/// A dataset's batches as `(x, y, sample_weight)`, `x` and `y` as lists.
type BatchIter = Box<dyn Iterator<Item = Result<(Vec<Tensor>, Vec<Tensor>, Option<Tensor>)>>>;

/// The batches of an epoch, as step arguments.
enum Batches {
    Tensors {
        x: Vec<Tensor>,
        y: Vec<Tensor>,
        w: Option<Tensor>,
        order: Vec<i32>,
        batch: usize,
        next: usize,
    },
    Dataset {
        op: &'static str,
        arity: Arity,
        iter: BatchIter,
        len: Option<usize>,
    },
}

impl Batches {
    fn new(
        op: &'static str,
        data: &FitData,
        batch_size: usize,
        arity: Arity,
        shuffle: Option<u64>,
    ) -> Result<Batches> {
        if let Some((iter, len)) = data.batches()? {
            return Ok(Batches::Dataset {
                op,
                arity,
                iter,
                len,
            });
        }
        check_data(op, &arity, data)?;
        let (x, y, w) = data.tensors().expect("tensor data");
        let n = rows(op, &x[0])?;
        if batch_size == 0 {
            return Err(Error::invalid(op, "batch_size must be positive"));
        }
        let mut order: Vec<i32> = (0..n as i32).collect();
        if let Some(seed) = shuffle {
            let mut state = seed;
            for i in (1..n).rev() {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let j = ((state >> 33) % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
        }
        Ok(Batches::Tensors {
            x,
            y,
            w,
            order,
            batch: batch_size,
            next: 0,
        })
    }

    fn len(&self) -> Option<usize> {
        match self {
            Batches::Tensors { order, batch, .. } => Some(order.len().div_ceil(*batch)),
            Batches::Dataset { len, .. } => *len,
        }
    }

    fn next_batch(&mut self) -> Result<Option<Vec<Arg>>> {
        match self {
            Batches::Tensors {
                x,
                y,
                w,
                order,
                batch,
                next,
            } => {
                if *next >= order.len() {
                    return Ok(None);
                }
                let end = (*next + *batch).min(order.len());
                let rows = &order[*next..end];
                let idx = crate::device::with_device(x[0].device(), || {
                    Tensor::from_slice(rows, [rows.len()])
                })?;
                *next = end;
                let device = crate::device::current_device()?;
                let w = w.as_ref();
                if x.iter()
                    .chain(y.iter())
                    .chain(w)
                    .all(|t| t.device() == &device)
                {
                    // The gather of the batch's rows becomes part of the step's plan.
                    return Ok(Some(step_args(x, y, w, Some(&idx))));
                }
                // Data held elsewhere (e.g. on the host, as Keras keeps numpy arrays):
                // gather the batch there and upload only it.
                let take = |t: &Tensor| {
                    crate::device::with_device(t.device(), || {
                        ops::gather(t, &idx.on(t.device())?, 0, 0)?.on(&device)
                    })
                };
                let xb = x.iter().map(take).collect::<Result<Vec<_>>>()?;
                let yb = y.iter().map(take).collect::<Result<Vec<_>>>()?;
                let wb = w.map(take).transpose()?;
                Ok(Some(step_args(&xb, &yb, wb.as_ref(), None)))
            }
            Batches::Dataset {
                op, arity, iter, ..
            } => match iter.next() {
                None => Ok(None),
                Some(b) => {
                    let (x, y, w) = b?;
                    check_tensors(op, arity, &x, Some(&y), w.as_ref())?;
                    Ok(Some(step_args(&x, &y, w.as_ref(), None)))
                }
            },
        }
    }
}
