//! Models: [`Sequential`], functional ([`Model::new`] from [`Input`]s to outputs) and
//! subclassed ([`Model::from_layer`] around a user layer with its own `call`), and the
//! training API (`compile`, `fit`, `evaluate`, `predict`, `train_on_batch`, ...).
//!
//! `fit`'s train step — forward, loss, gradients, optimizer update, loss tracker and
//! metric updates — is one traced [`crate::function`], so it is optimized, fused and
//! replayed as one plan per batch shape; `run_eagerly(true)` runs the same code eagerly.

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
                    h = l.call(&[h], training)?;
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
                for t in order {
                    if let Source::Layer { layer, inputs, .. } = &t.0.source {
                        let args: Vec<Tensor> =
                            inputs.iter().map(|i| values[&i.key()].clone()).collect();
                        let y = layer.call(&args, training)?;
                        values.insert(t.key(), y);
                    }
                }
                Ok(outputs.iter().map(|o| values[&o.key()].clone()).collect())
            }
            Kind::Subclassed(l) => Ok(vec![l.call(inputs, training)?]),
        }
    }

    fn losses(&self) -> Result<Vec<Tensor>> {
        let mut out = Vec::new();
        for l in self.roots() {
            out.extend(l.losses()?);
        }
        Ok(out)
    }
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

/// What `compile` set up: the optimizer, loss, metrics and the traced steps.
pub struct Compiled {
    optimizer: Rc<dyn Optimizer>,
    loss: Rc<dyn Loss>,
    metrics: Vec<Rc<dyn Metric>>,
    loss_tracker: Rc<Mean>,
    train_step: Function<Tensor>,
    test_step: Function<Tensor>,
    predict_step: Function<Vec<Tensor>>,
}

impl Compiled {
    pub fn loss(&self) -> &Rc<dyn Loss> {
        &self.loss
    }
    pub fn optimizer(&self) -> &Rc<dyn Optimizer> {
        &self.optimizer
    }
    pub fn metrics(&self) -> &[Rc<dyn Metric>] {
        &self.metrics
    }
}

/// Training data: tensors `(x, y)` (sliced into batches by `fit`) or a dataset of
/// `(x, y)` batches, either with per-sample weights as a third member (Keras's
/// `(x, y, sample_weight)`; as `validation_data` too).
pub enum FitData {
    Tensors(Tensor, Tensor),
    Dataset(Dataset<(Tensor, Tensor)>),
    /// `(x, y, sample_weight)`: one weight per row of `x`.
    WeightedTensors(Tensor, Tensor, Tensor),
    /// A dataset of `(x, y, sample_weight)` batches.
    WeightedDataset(Dataset<(Tensor, Tensor, Tensor)>),
}

impl FitData {
    fn from_parts(x: Tensor, y: Tensor, w: Option<Tensor>) -> FitData {
        match w {
            Some(w) => FitData::WeightedTensors(x, y, w),
            None => FitData::Tensors(x, y),
        }
    }

    /// `(x, y, sample_weight)` of tensor data.
    fn tensors(&self) -> Option<(&Tensor, &Tensor, Option<&Tensor>)> {
        match self {
            FitData::Tensors(x, y) => Some((x, y, None)),
            FitData::WeightedTensors(x, y, w) => Some((x, y, Some(w))),
            FitData::Dataset(_) | FitData::WeightedDataset(_) => None,
        }
    }

    fn is_weighted(&self) -> bool {
        matches!(
            self,
            FitData::WeightedTensors(..) | FitData::WeightedDataset(_)
        )
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
    /// One float weight per row of tensor `x` (Keras's `sample_weight`), shuffled, batched
    /// and split off by `validation_split` with `x` and `y`. A dataset carries its weights
    /// as `(x, y, sample_weight)` elements instead.
    pub sample_weight: Option<Tensor>,
    /// A weight per class (Keras's `class_weight`): each training row is weighted by its
    /// label's class (the rounded label of `y` shaped `[n]` or `[n, 1]`, the argmax of a
    /// one-hot row). Not with `sample_weight`, as in Keras; not applied to validation.
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
                spec = l.infer_output(std::slice::from_ref(&spec))?;
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
                    spec = l.infer_output(std::slice::from_ref(&spec))?;
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
    /// fits the loss, as in Keras.
    pub fn compile(
        &self,
        optimizer: impl Optimizer + 'static,
        loss: impl Loss + 'static,
        metrics: Vec<MetricArg>,
    ) -> Result<()> {
        let loss: Rc<dyn Loss> = Rc::new(loss);
        let metrics = metrics
            .into_iter()
            .map(|m| match m {
                MetricArg::Metric(m) => Ok(m),
                MetricArg::Name(n) => super::metrics::get(&n, loss.name()),
            })
            .collect::<Result<Vec<_>>>()?;
        let optimizer: Rc<dyn Optimizer> = Rc::new(optimizer);
        let loss_tracker = Rc::new(Mean::new("loss")?);
        let train_step = {
            let (core, opt, loss, metrics, tracker) = (
                self.core.clone(),
                optimizer.clone(),
                loss.clone(),
                metrics.clone(),
                loss_tracker.clone(),
            );
            function(move |a: &[Arg]| -> Result<Tensor> {
                let (x, y, w) = batch_args(a)?;
                let tape = GradientTape::new();
                let y_pred = single(core.call(std::slice::from_ref(&x), true)?)?;
                // After the forward pass: a model built on its first call has weights now.
                let vars = core.collect(LayerRef::trainable_variables);
                let mut total = loss.compute(&y, &y_pred, w.as_ref())?;
                for penalty in core.losses()? {
                    total = ops::add(&total, &penalty)?;
                }
                let refs: Vec<&Variable> = vars.iter().collect();
                let grads = tape.gradient(&total, &refs)?;
                drop(tape);
                let pairs: Vec<(Tensor, &Variable)> = grads
                    .into_iter()
                    .zip(&vars)
                    .filter_map(|(g, v)| g.map(|g| (g, v)))
                    .collect();
                opt.apply_gradients(&pairs)?;
                update_trackers(&tracker, &metrics, &total, &x, &y, &y_pred, w.as_ref())?;
                Ok(total)
            })
            .with_name("train_step")
        };
        let test_step = {
            let (core, loss, metrics, tracker) = (
                self.core.clone(),
                loss.clone(),
                metrics.clone(),
                loss_tracker.clone(),
            );
            function(move |a: &[Arg]| -> Result<Tensor> {
                let (x, y, w) = batch_args(a)?;
                let y_pred = single(core.call(std::slice::from_ref(&x), false)?)?;
                let mut total = loss.compute(&y, &y_pred, w.as_ref())?;
                for penalty in core.losses()? {
                    total = ops::add(&total, &penalty)?;
                }
                update_trackers(&tracker, &metrics, &total, &x, &y, &y_pred, w.as_ref())?;
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
            loss,
            metrics,
            loss_tracker,
            train_step,
            test_step,
            predict_step,
        }));
        Ok(())
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
        let mut logs = Logs::new();
        logs.insert(format!("{prefix}loss"), c.loss_tracker.result()?);
        for m in &c.metrics {
            logs.insert(format!("{prefix}{}", m.name()), m.result()?);
        }
        Ok(logs)
    }

    fn reset_metrics(&self, c: &Compiled) -> Result<()> {
        c.loss_tracker.reset_state()?;
        for m in &c.metrics {
            m.reset_state()?;
        }
        Ok(())
    }

    /// One gradient step on one batch; returns the logs after it (Keras's
    /// `train_on_batch`, with `reset_metrics=True`).
    pub fn train_on_batch(&self, x: &Tensor, y: &Tensor) -> Result<Logs> {
        self.on_batch(true, x, y, None)
    }

    /// [`Model::train_on_batch`] with one weight per row of `x` (Keras's `sample_weight`;
    /// [`class_weight_to_sample_weights`] turns a `class_weight` into one).
    pub fn train_on_batch_weighted(
        &self,
        x: &Tensor,
        y: &Tensor,
        sample_weight: &Tensor,
    ) -> Result<Logs> {
        self.on_batch(true, x, y, Some(sample_weight))
    }

    /// The loss and metrics on one batch, without training.
    pub fn test_on_batch(&self, x: &Tensor, y: &Tensor) -> Result<Logs> {
        self.on_batch(false, x, y, None)
    }

    /// [`Model::test_on_batch`] with one weight per row of `x`.
    pub fn test_on_batch_weighted(
        &self,
        x: &Tensor,
        y: &Tensor,
        sample_weight: &Tensor,
    ) -> Result<Logs> {
        self.on_batch(false, x, y, Some(sample_weight))
    }

    fn on_batch(&self, train: bool, x: &Tensor, y: &Tensor, w: Option<&Tensor>) -> Result<Logs> {
        let op = if train {
            "train_on_batch"
        } else {
            "test_on_batch"
        };
        let c = self.compiled_or_err(op)?;
        if let Some(w) = w {
            check_sample_weight(op, x, w)?;
        }
        self.reset_metrics(&c)?;
        let step = if train { &c.train_step } else { &c.test_step };
        self.run_step(step, &step_args(x, y, w, None))?;
        self.read_logs(&c, "")
    }

    /// The outputs for one batch.
    pub fn predict_on_batch(&self, x: &Tensor) -> Result<Tensor> {
        let c = self.compiled_or_err("predict_on_batch")?;
        single(self.run_step(&c.predict_step, &[Arg::from(x)])?)
    }

    /// The outputs for `x`, computed `batch_size` rows at a time (the model need not be
    /// compiled).
    pub fn predict(&self, x: &Tensor, options: EvaluateOptions) -> Result<Tensor> {
        if options.sample_weight.is_some() {
            return Err(Error::invalid("predict", "predict takes no sample_weight"));
        }
        let n = rows("predict", x)?;
        if n == 0 {
            return Err(Error::invalid("predict", "the input has no rows"));
        }
        let step = self.compiled();
        let batch = options.batch_size.max(1);
        let mut outs = Vec::new();
        let mut progress = Progress::new(options.verbose, Some(n.div_ceil(batch)));
        for (i, start) in (0..n).step_by(batch).enumerate() {
            let xb = slice_rows(x, start, (start + batch).min(n))?;
            let xb = xb.on(&crate::device::current_device()?)?;
            let y = match &step {
                Some(c) => single(self.run_step(&c.predict_step, &[Arg::from(&xb)])?)?,
                None => self.call(&xb, false)?,
            };
            outs.push(y);
            progress.update(i + 1, &mut || Ok(Logs::new()))?;
        }
        progress.finish(&Logs::new());
        let refs: Vec<&Tensor> = outs.iter().collect();
        ops::concat(&refs, 0)
    }

    /// The loss and metrics over `data` (Keras's `evaluate`), as logs.
    pub fn evaluate(&self, data: impl Into<FitData>, options: EvaluateOptions) -> Result<Logs> {
        let c = self.compiled_or_err("evaluate")?;
        let data = attach_sample_weight("evaluate", data.into(), options.sample_weight)?;
        check_data("evaluate", &data)?;
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
        let mut batches = Batches::new(op, data, batch_size, false, None)?;
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
        check_data("fit", &data)?;
        let (train, validation) = match (data.tensors(), options.validation_split) {
            (Some((x, y, w)), split) if split > 0.0 => {
                if !(0.0..1.0).contains(&split) {
                    return Err(Error::invalid(
                        "fit",
                        format!("validation_split must be in [0, 1), got {split}"),
                    ));
                }
                let n = rows("fit", x)?;
                let keep = n - ((n as f64) * split) as usize;
                // The weights split with their rows: the held-out rows keep theirs.
                let part = |a, b| -> Result<FitData> {
                    Ok(FitData::from_parts(
                        slice_rows(x, a, b)?,
                        slice_rows(y, a, b)?,
                        w.map(|w| slice_rows(w, a, b)).transpose()?,
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
            let mut batches = Batches::new("fit", &train, options.batch_size, true, shuffle)?;
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
            let first = match data {
                FitData::Tensors(x, _) | FitData::WeightedTensors(x, ..) => {
                    Some(slice_rows(x, 0, rows("fit", x)?.min(32))?)
                }
                FitData::Dataset(ds) => ds.iter()?.next().transpose()?.map(|b| b.0),
                FitData::WeightedDataset(ds) => ds.iter()?.next().transpose()?.map(|b| b.0),
            };
            let Some(x) = first else {
                return Ok(None);
            };
            let x = x.on(&crate::device::current_device()?)?;
            for w in self.weights() {
                if !all_finite(&w.read_value())? {
                    return Ok(Some(format!("weight '{}' is not finite", w.name())));
                }
            }
            if let Kind::Sequential(s) = &self.core.kind {
                let mut h = x;
                for l in s.borrow().layers.clone() {
                    h = l.call(&[h], false)?;
                    if !all_finite(&h)? {
                        return Ok(Some(format!(
                            "layer '{}' ({}) gives non-finite outputs",
                            l.name(),
                            l.class_name()
                        )));
                    }
                }
            }
            Ok(None)
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

/// The loss tracker and the metrics, updated in the step. As in Keras, the tracker weighs
/// each batch's (already sample-weighted) loss by the batch size, while the metrics take
/// the sample weights.
fn update_trackers(
    tracker: &Mean,
    metrics: &[Rc<dyn Metric>],
    loss: &Tensor,
    x: &Tensor,
    y: &Tensor,
    y_pred: &Tensor,
    sample_weight: Option<&Tensor>,
) -> Result<()> {
    let batch = x.shape().first().copied().unwrap_or(1);
    tracker.update(loss, Some(&ops::scalar_like(loss, batch as f64)?))?;
    for m in metrics {
        m.update_state(y, y_pred, sample_weight)?;
    }
    Ok(())
}

fn single(mut outs: Vec<Tensor>) -> Result<Tensor> {
    if outs.len() != 1 {
        return Err(Error::invalid(
            "fit",
            format!(
                "compile/fit support models with one output; this one has {}",
                outs.len()
            ),
        ));
    }
    Ok(outs.remove(0))
}

/// A step's arguments: `x`, `y`, whether a sample weight follows (a host value, so the
/// weighted and unweighted steps are traced apart), the weight if so, and — when the step
/// gathers its batch from the whole data — the row indices.
fn step_args(x: &Tensor, y: &Tensor, w: Option<&Tensor>, idx: Option<&Tensor>) -> Vec<Arg> {
    let mut args = vec![Arg::from(x), Arg::from(y), Arg::Bool(w.is_some())];
    args.extend(w.map(Arg::from));
    args.extend(idx.map(Arg::from));
    args
}

/// `(x, y, sample_weight)` of a step from [`step_args`]: the batch itself, or the rows of
/// the whole data that the index tensor picks (so the gather is part of the plan).
fn batch_args(a: &[Arg]) -> Result<(Tensor, Tensor, Option<Tensor>)> {
    let (x, y) = (a[0].tensor()?.clone(), a[1].tensor()?.clone());
    let weighted = a[2].bool()?;
    let w = match weighted {
        true => Some(a[3].tensor()?.clone()),
        false => None,
    };
    match a.get(3 + usize::from(weighted)) {
        Some(idx) => {
            let idx = idx.tensor()?;
            let w = w.map(|w| ops::gather(&w, idx, 0, 0)).transpose()?;
            Ok((ops::gather(&x, idx, 0, 0)?, ops::gather(&y, idx, 0, 0)?, w))
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
fn check_data(op: &str, data: &FitData) -> Result<()> {
    let Some((x, y, w)) = data.tensors() else {
        return Ok(());
    };
    let n = rows(op, x)?;
    if rows(op, y)? != n {
        return Err(Error::shape(
            op,
            format!(
                "x has {n} rows but y has {} (shapes {:?} and {:?})",
                y.shape()[0],
                x.shape(),
                y.shape()
            ),
        ));
    }
    if let Some(w) = w {
        check_sample_weight(op, x, w)?;
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
        FitData::WeightedTensors(..) => Err(Error::invalid(
            op,
            "sample_weight is given twice: in the data (x, y, sample_weight) and in the options",
        )),
        FitData::Dataset(_) | FitData::WeightedDataset(_) => Err(Error::invalid(
            op,
            "sample_weight needs tensor data; a dataset carries its weights as \
             (x, y, sample_weight) elements",
        )),
    }
}

/// `data` weighted by `class_weight`: tensors at once, a dataset batch by batch (on the
/// host, as Keras's `class_weight` map over a `tf.data` pipeline).
fn attach_class_weight(op: &'static str, data: FitData, cw: ClassWeight) -> Result<FitData> {
    match data {
        FitData::Tensors(x, y) => {
            let w = class_sample_weights(op, &y, &cw)?;
            Ok(FitData::WeightedTensors(x, y, w))
        }
        FitData::Dataset(ds) => Ok(FitData::WeightedDataset(ds.map(move |(x, y)| {
            let w = class_sample_weights(op, &y, &cw)?;
            Ok((x, y, w))
        }))),
        FitData::WeightedTensors(..) | FitData::WeightedDataset(_) => Err(both_weights_error(op)),
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

/// A dataset's batches as `(x, y, sample_weight)`.
type BatchIter = Box<dyn Iterator<Item = Result<(Tensor, Tensor, Option<Tensor>)>>>;

/// The batches of an epoch, as step arguments.
enum Batches {
    Tensors {
        x: Tensor,
        y: Tensor,
        w: Option<Tensor>,
        order: Vec<i32>,
        batch: usize,
        next: usize,
    },
    Dataset {
        op: &'static str,
        iter: BatchIter,
        len: Option<usize>,
    },
}

impl Batches {
    fn new(
        op: &'static str,
        data: &FitData,
        batch_size: usize,
        _training: bool,
        shuffle: Option<u64>,
    ) -> Result<Batches> {
        let len = |c| match c {
            crate::data::Cardinality::Finite(n) => Some(n as usize),
            _ => None,
        };
        match data {
            FitData::Tensors(..) | FitData::WeightedTensors(..) => {
                check_data(op, data)?;
                let (x, y, w) = data.tensors().expect("tensor data");
                let n = rows(op, x)?;
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
                    x: x.clone(),
                    y: y.clone(),
                    w: w.cloned(),
                    order,
                    batch: batch_size,
                    next: 0,
                })
            }
            FitData::Dataset(ds) => Ok(Batches::Dataset {
                op,
                iter: Box::new(ds.iter()?.map(|b| b.map(|(x, y)| (x, y, None)))),
                len: len(ds.cardinality()),
            }),
            FitData::WeightedDataset(ds) => Ok(Batches::Dataset {
                op,
                iter: Box::new(ds.iter()?.map(|b| b.map(|(x, y, w)| (x, y, Some(w))))),
                len: len(ds.cardinality()),
            }),
        }
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
                let idx = crate::device::with_device(x.device(), || {
                    Tensor::from_slice(rows, [rows.len()])
                })?;
                *next = end;
                let device = crate::device::current_device()?;
                let w = w.as_ref();
                if x.device() == &device
                    && y.device() == &device
                    && w.is_none_or(|w| w.device() == &device)
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
                let wb = w.map(take).transpose()?;
                Ok(Some(step_args(&take(x)?, &take(y)?, wb.as_ref(), None)))
            }
            Batches::Dataset { op, iter, .. } => match iter.next() {
                None => Ok(None),
                Some(b) => {
                    let (x, y, w) = b?;
                    if let Some(w) = &w {
                        check_sample_weight(op, &x, w)?;
                    }
                    Ok(Some(step_args(&x, &y, w.as_ref(), None)))
                }
            },
        }
    }
}
