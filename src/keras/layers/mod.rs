//! Layers (`keras.layers`) and their life cycle.
//!
//! A layer is a value implementing [`Layer`]: `build` creates its weights (through
//! [`BuildContext::add_weight`]) from the input shapes on first use, `call` computes the
//! output. Models and users hold layers through a [`LayerRef`], the shared handle that runs
//! that life cycle: it names the layer (`dense`, `dense_1`, ... as Keras does), builds it
//! on the first call, checks later inputs against the built shapes, keeps the weights and
//! the `trainable` switch, and names the layer in every error raised inside it. Calling a
//! `LayerRef` on [`KerasTensor`]s (from [`Input`]) builds a functional graph instead of
//! computing.
//!
//! A user-defined layer, as in Keras's guide (`MyLayer` with `build`/`call`):
//!
//! ```
//! use wgflow::keras::layers::{BuildContext, Layer, Shape};
//! use wgflow::keras::initializers::Initializer;
//! use wgflow::{Tensor, Variable, ops};
//!
//! struct Scale { w: Option<Variable> }
//! impl Layer for Scale {
//!     fn class_name(&self) -> &str { "Scale" }
//!     fn build(&mut self, ctx: &mut BuildContext, input_shapes: &[Shape]) -> wgflow::Result<()> {
//!         let units = input_shapes[0].last().copied().flatten().unwrap_or(1);
//!         self.w = Some(ctx.add_weight("w", &[units], Initializer::Ones, true, None)?);
//!         Ok(())
//!     }
//!     fn call(&self, inputs: &[Tensor], _training: bool) -> wgflow::Result<Tensor> {
//!         ops::mul(&inputs[0], &self.w.as_ref().unwrap().read_value())
//!     }
//! }
//!
//! let layer = Scale { w: None }.into_ref();
//! let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap();
//! let y = layer.call(&[x], false).unwrap();
//! assert_eq!(y.to_vec::<f32>().unwrap(), vec![1.0, 2.0, 3.0, 4.0]);
//! assert_eq!(layer.weights()[0].name(), "scale/w");
//! ```

mod conv;
mod core;
mod embedding;
mod merge;
mod normalization;
mod rnn;

pub use self::conv::{
    AveragePooling2D, Conv2D, GlobalAveragePooling2D, GlobalMaxPooling2D, MaxPooling2D,
};
pub use self::core::{Activation, Dense, Dropout, Flatten, InputLayer, Rescaling, Reshape};
pub use self::embedding::Embedding;
pub use self::merge::{Add, Concatenate, Multiply};
pub use self::normalization::{BatchNormalization, LayerNormalization};
pub use self::rnn::{GRU, LSTM};
pub use crate::ops::Padding;

use super::initializers::Initializer;
use super::regularizers::Regularizer;
use crate::autodiff::{Variable, name_scope, unique_name};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;

/// A static shape: `None` where the size is not known (the batch axis of symbolic inputs).
pub type Shape = Vec<Option<usize>>;

/// Keras's shape notation: `(None, 4)`.
pub fn fmt_shape(shape: &[Option<usize>]) -> String {
    let dims: Vec<String> = shape
        .iter()
        .map(|d| d.map_or("None".to_string(), |d| d.to_string()))
        .collect();
    if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    }
}

/// A concrete shape as a [`Shape`].
pub fn known(shape: &[usize]) -> Shape {
    shape.iter().map(|&d| Some(d)).collect()
}

/// What a layer is: its weights are created in `build`, its output computed in `call`.
/// Implement it for your own layers; hold layers through [`LayerRef`] (`layer.into_ref()`).
pub trait Layer {
    /// Keras's class name (`"Dense"`), shown by `summary` and used for the default name.
    fn class_name(&self) -> &str;

    /// Creates the weights for inputs of these shapes (batch axis first, maybe `None`).
    /// Called once, before the first `call`.
    fn build(&mut self, ctx: &mut BuildContext, input_shapes: &[Shape]) -> Result<()> {
        let _ = (ctx, input_shapes);
        Ok(())
    }

    /// The output for `inputs` (one tensor for most layers). `training` switches layers
    /// such as `Dropout` and `BatchNormalization` between their training and inference
    /// behaviour.
    fn call(&self, inputs: &[Tensor], training: bool) -> Result<Tensor>;

    /// The output shape without running, when the layer knows it. `None` (the default)
    /// lets [`LayerRef`] trace `call` symbolically to find it.
    fn compute_output_shape(&self, input_shapes: &[Shape]) -> Option<Result<Shape>> {
        let _ = input_shapes;
        None
    }

    /// Every output, for a layer with several (an RNN with `return_state`: the output,
    /// then the final states); `call` gives the first. The default is `call`'s output.
    fn call_many(&self, inputs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        Ok(vec![self.call(inputs, training)?])
    }

    /// The shapes of `call_many`'s outputs without running, when the layer knows them
    /// (by default `compute_output_shape`'s one shape).
    fn compute_output_shapes(&self, input_shapes: &[Shape]) -> Option<Result<Vec<Shape>>> {
        self.compute_output_shape(input_shapes)
            .map(|shape| shape.map(|s| vec![s]))
    }

    /// How many leading inputs `build` sees and later calls are checked against; inputs
    /// after them are call arguments that may be present or not (an RNN's initial state,
    /// Keras's `initial_state=`). `None` (the default): all of them.
    fn built_inputs(&self) -> Option<usize> {
        None
    }

    /// The input shape declared on the layer (Keras's `input_dim` / `input_shape`), batch
    /// axis included; a `Sequential` model starting with this layer is built from it.
    fn declared_input_shape(&self) -> Option<Shape> {
        None
    }

    /// Told when the layer's `trainable` switch changes ([`LayerRef::set_trainable`]); a
    /// frozen `BatchNormalization` stops using batch statistics, as in Keras.
    fn set_trainable(&mut self, trainable: bool) {
        let _ = trainable;
    }

    /// Clears the state a stateful layer carries from one call to the next (Keras's
    /// `reset_states`, for an RNN with `stateful`); nothing for other layers.
    fn reset_states(&self) -> Result<()> {
        Ok(())
    }

    /// Layers this layer calls (their weights are this layer's too).
    fn sublayers(&self) -> Vec<LayerRef> {
        Vec::new()
    }

    /// Axes of the input that `build` fixed (besides the rank): a later input must match
    /// them. Keras's `InputSpec`; empty (the default) means the last axis for a layer with
    /// weights and none for a layer without.
    fn fixed_input_axes(&self) -> Vec<usize> {
        Vec::new()
    }

    /// This layer as a shared handle (named, built on first use).
    fn into_ref(self) -> LayerRef
    where
        Self: Sized + 'static,
    {
        LayerRef::new(self)
    }
}

/// A weight a layer created, with its regularizer.
#[derive(Clone)]
struct Weight {
    variable: Variable,
    regularizer: Option<Regularizer>,
}

/// Handed to [`Layer::build`]: creates the layer's weights (Keras's `add_weight`) inside
/// the layer's name scope, outside any traced function.
pub struct BuildContext {
    weights: Vec<Weight>,
}

impl BuildContext {
    /// A float32 weight of `shape` drawn by `initializer`. A `regularizer` adds its penalty
    /// to the model's losses; `trainable: false` makes a state such as BatchNorm's moving
    /// mean.
    pub fn add_weight(
        &mut self,
        name: &str,
        shape: &[usize],
        initializer: Initializer,
        trainable: bool,
        regularizer: Option<Regularizer>,
    ) -> Result<Variable> {
        let value = crate::graph::init_scope(|| initializer.initialize(shape))?;
        let variable = Variable::new(value, name, trainable);
        self.weights.push(Weight {
            variable: variable.clone(),
            regularizer,
        });
        Ok(variable)
    }
}

struct LayerNode {
    name: RefCell<String>,
    class: String,
    layer: RefCell<Box<dyn Layer>>,
    /// The input shapes the layer was built with (batch axis `None`).
    built: RefCell<Option<Vec<Shape>>>,
    weights: RefCell<Vec<Weight>>,
    trainable: Cell<bool>,
    /// The shape of the last output (for `summary`).
    /// The shapes of the last call's outputs.
    output_shapes: RefCell<Option<Vec<Shape>>>,
    /// How many times the layer was applied to symbolic tensors (Keras's inbound nodes).
    symbolic_calls: Cell<usize>,
}

/// A shared handle to a layer: clones are the same layer with the same weights (a layer
/// used twice in a functional model shares its weights).
#[derive(Clone)]
pub struct LayerRef(Rc<LayerNode>);

/// Keras's `to_snake_case`: `Dense` → `dense`, `Conv2D` → `conv2d`, `MaxPooling2D` →
/// `max_pooling2d`, `BatchNormalization` → `batch_normalization`.
fn snake_case(class: &str) -> String {
    let chars: Vec<char> = class.chars().collect();
    let mut out = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() && i > 0 && chars[i - 1] != '_' {
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            if next_lower || chars[i - 1].is_ascii_lowercase() {
                out.push('_');
            }
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

impl LayerRef {
    /// Wraps `layer`, naming it after its class (`Conv2D` → `conv2d`, `conv2d_1`, ...).
    pub fn new(layer: impl Layer + 'static) -> LayerRef {
        let class = layer.class_name().to_string();
        LayerRef(Rc::new(LayerNode {
            name: RefCell::new(unique_name(&snake_case(&class))),
            class,
            layer: RefCell::new(Box::new(layer)),
            built: RefCell::new(None),
            weights: RefCell::new(Vec::new()),
            trainable: Cell::new(true),
            output_shapes: RefCell::new(None),
            symbolic_calls: Cell::new(0),
        }))
    }

    /// Renames the layer (Keras's `name=`); do it before the layer is built, since its
    /// weights are named after it.
    pub fn with_name(self, name: &str) -> LayerRef {
        *self.0.name.borrow_mut() = name.to_string();
        self
    }

    pub fn name(&self) -> String {
        self.0.name.borrow().clone()
    }
    /// Keras's class name (`"Dense"`).
    pub fn class_name(&self) -> &str {
        &self.0.class
    }
    /// Whether two handles are the same layer.
    pub fn same(&self, other: &LayerRef) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
    /// An identity for maps keyed by layer.
    pub(crate) fn key(&self) -> *const () {
        Rc::as_ptr(&self.0) as *const ()
    }
    pub fn is_built(&self) -> bool {
        self.0.built.borrow().is_some()
    }
    /// The input shapes the layer was built with.
    pub fn built_input_shapes(&self) -> Option<Vec<Shape>> {
        self.0.built.borrow().clone()
    }
    /// The shape of the layer's last output (symbolic or eager), if it ran.
    pub fn output_shape(&self) -> Option<Shape> {
        self.0.output_shapes.borrow().as_ref().map(|s| s[0].clone())
    }

    /// Every output's shape (several for a layer such as an LSTM with `return_state`).
    pub fn output_shapes(&self) -> Option<Vec<Shape>> {
        self.0.output_shapes.borrow().clone()
    }
    /// The declared input shape of the wrapped layer (see [`Layer::declared_input_shape`]).
    pub fn declared_input_shape(&self) -> Option<Shape> {
        self.0.layer.borrow().declared_input_shape()
    }

    /// Runs `f` with the wrapped layer (to read its configuration).
    pub fn with_layer<R>(&self, f: impl FnOnce(&dyn Layer) -> R) -> R {
        f(self.0.layer.borrow().as_ref())
    }

    /// Keras's `trainable` switch: a frozen layer lists no trainable variables (its
    /// weights move to `non_trainable_variables`), so `fit` leaves them alone.
    pub fn set_trainable(&self, trainable: bool) {
        self.0.trainable.set(trainable);
        self.0.layer.borrow_mut().set_trainable(trainable);
        for s in self.sublayers() {
            s.set_trainable(trainable);
        }
    }
    pub fn trainable(&self) -> bool {
        self.0.trainable.get()
    }

    /// Keras's `reset_states`: a stateful RNN starts again from zeros (see
    /// [`Layer::reset_states`]); its sublayers too.
    pub fn reset_states(&self) -> Result<()> {
        self.0.layer.borrow().reset_states()?;
        for s in self.sublayers() {
            s.reset_states()?;
        }
        Ok(())
    }

    pub fn sublayers(&self) -> Vec<LayerRef> {
        self.0.layer.borrow().sublayers()
    }

    /// Every weight, this layer's own first (in creation order), then its sublayers', each
    /// once.
    pub fn weights(&self) -> Vec<Variable> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        self.collect(&mut seen, &mut out, &|_, _| true);
        out
    }

    /// The weights `fit` trains: trainable variables of trainable layers.
    pub fn trainable_variables(&self) -> Vec<Variable> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        self.collect(&mut seen, &mut out, &|l, v| l.trainable() && v.trainable());
        out
    }

    /// The other weights: frozen layers' weights and states such as moving averages.
    pub fn non_trainable_variables(&self) -> Vec<Variable> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        self.collect(&mut seen, &mut out, &|l, v| {
            !(l.trainable() && v.trainable())
        });
        out
    }

    fn collect(
        &self,
        seen: &mut HashSet<u64>,
        out: &mut Vec<Variable>,
        keep: &dyn Fn(&LayerRef, &Variable) -> bool,
    ) {
        for w in self.0.weights.borrow().iter() {
            if keep(self, &w.variable) && seen.insert(w.variable.id()) {
                out.push(w.variable.clone());
            }
        }
        for s in self.sublayers() {
            s.collect(seen, out, keep);
        }
    }

    /// The number of weight values.
    pub fn count_params(&self) -> usize {
        self.weights()
            .iter()
            .map(|v| v.shape().iter().product::<usize>())
            .sum()
    }

    /// The regularization penalties of this layer's (and its sublayers') weights, as
    /// scalars to add to the loss.
    pub fn losses(&self) -> Result<Vec<Tensor>> {
        let mut out = Vec::new();
        for w in self.0.weights.borrow().iter() {
            if let Some(r) = &w.regularizer {
                out.push(r.penalty(&w.variable.read_value())?);
            }
        }
        for s in self.sublayers() {
            out.extend(s.losses()?);
        }
        Ok(out)
    }

    fn error(&self, e: Error) -> Error {
        super::in_layer(e, &self.name(), &self.0.class)
    }

    /// Builds the layer for inputs of `input_shapes` if it is not built yet; else checks
    /// that they are compatible with the shapes it was built with.
    pub fn build(&self, input_shapes: &[Shape]) -> Result<()> {
        let built_inputs = self.0.layer.borrow().built_inputs();
        let input_shapes = match built_inputs {
            Some(n) => &input_shapes[..n.min(input_shapes.len())],
            None => input_shapes,
        };
        // The batch axis is free.
        let shapes: Vec<Shape> = input_shapes
            .iter()
            .map(|s| {
                let mut s = s.clone();
                if let Some(b) = s.first_mut() {
                    *b = None;
                }
                s
            })
            .collect();
        if let Some(built) = self.0.built.borrow().as_ref() {
            return self.check_compatible(built, &shapes, input_shapes);
        }
        let name = self.name();
        let mut ctx = BuildContext {
            weights: Vec::new(),
        };
        // `build` sees the batch size where it is known (a stateful RNN needs it); later
        // inputs are checked with the batch axis free.
        name_scope(&name, || {
            self.0.layer.borrow_mut().build(&mut ctx, input_shapes)
        })
        .map_err(|e| self.error(e))?;
        *self.0.weights.borrow_mut() = ctx.weights;
        *self.0.built.borrow_mut() = Some(shapes);
        Ok(())
    }

    /// `shapes` have a free batch axis; `given` are the shapes as passed (for the message).
    fn check_compatible(&self, built: &[Shape], shapes: &[Shape], given: &[Shape]) -> Result<()> {
        let fixed = self.0.layer.borrow().fixed_input_axes();
        let incompatible = |i: usize| -> Error {
            Error::shape(
                &format!("layer '{}' ({})", self.name(), self.0.class),
                format!(
                    "input {i} is incompatible with the layer: it was built for inputs of \
                     shape {} but got shape {}",
                    fmt_shape(&built[i]),
                    fmt_shape(&given[i])
                ),
            )
        };
        if built.len() != shapes.len() {
            return Err(Error::invalid(
                &format!("layer '{}' ({})", self.name(), self.0.class),
                format!(
                    "expects {} input(s), but it received {}",
                    built.len(),
                    shapes.len()
                ),
            ));
        }
        for (i, (b, s)) in built.iter().zip(shapes).enumerate() {
            if b.len() != s.len() {
                return Err(incompatible(i));
            }
            let has_weights = !self.0.weights.borrow().is_empty();
            let axes: Vec<usize> = if !fixed.is_empty() {
                fixed.clone()
            } else if has_weights {
                b.len()
                    .checked_sub(1)
                    .into_iter()
                    .filter(|&a| a > 0)
                    .collect()
            } else {
                Vec::new()
            };
            for a in axes {
                if let (Some(Some(want)), Some(Some(got))) = (b.get(a), s.get(a))
                    && want != got
                {
                    return Err(incompatible(i));
                }
            }
        }
        Ok(())
    }

    /// Calls the layer on concrete (or traced) tensors, building it first if needed.
    pub fn call(&self, inputs: &[Tensor], training: bool) -> Result<Tensor> {
        let shapes: Vec<Shape> = inputs.iter().map(|t| known(t.shape())).collect();
        self.build(&shapes)?;
        let name = self.name();
        let out = name_scope(&name, || self.0.layer.borrow().call(inputs, training))
            .map_err(|e| self.error(e))?;
        if self
            .0
            .output_shapes
            .borrow()
            .as_ref()
            .is_none_or(|s| s.len() == 1)
        {
            *self.0.output_shapes.borrow_mut() = Some(vec![known(out.shape())]);
        }
        Ok(out)
    }

    /// Every output of the layer ([`Layer::call_many`]: the output and the final states of
    /// an RNN with `return_state`), building it first if needed.
    pub fn call_many(&self, inputs: &[Tensor], training: bool) -> Result<Vec<Tensor>> {
        let shapes: Vec<Shape> = inputs.iter().map(|t| known(t.shape())).collect();
        self.build(&shapes)?;
        let name = self.name();
        let outs = name_scope(&name, || self.0.layer.borrow().call_many(inputs, training))
            .map_err(|e| self.error(e))?;
        *self.0.output_shapes.borrow_mut() = Some(outs.iter().map(|o| known(o.shape())).collect());
        Ok(outs)
    }

    /// The output shape and dtype for inputs of these shapes and dtypes, without computing
    /// (the first output of a layer with several).
    pub fn infer_output(&self, inputs: &[(Shape, DType)]) -> Result<(Shape, DType)> {
        Ok(self.infer_outputs(inputs)?.swap_remove(0))
    }

    /// Every output's shape and dtype for inputs of these shapes and dtypes, without
    /// computing: [`Layer::compute_output_shapes`], else `call_many` traced on placeholders
    /// (unknown sizes traced with a stand-in size and reported as `None`).
    pub fn infer_outputs(&self, inputs: &[(Shape, DType)]) -> Result<Vec<(Shape, DType)>> {
        let shapes: Vec<Shape> = inputs.iter().map(|(s, _)| s.clone()).collect();
        self.build(&shapes)?;
        let known_shapes = self.0.layer.borrow().compute_output_shapes(&shapes);
        if let Some(found) = known_shapes {
            let found = found.map_err(|e| self.error(e))?;
            *self.0.output_shapes.borrow_mut() = Some(found.clone());
            return Ok(found.into_iter().map(|s| (s, DType::F32)).collect());
        }
        use crate::compat::v1;
        let graph = v1::Graph::new()?;
        let name = self.name();
        let outs = graph
            .as_default(|| {
                let placeholders = inputs
                    .iter()
                    .enumerate()
                    .map(|(i, (s, d))| v1::placeholder(*d, s, &format!("input_{i}")))
                    .collect::<Result<Vec<_>>>()?;
                name_scope(&name, || {
                    self.0.layer.borrow().call_many(&placeholders, false)
                })
            })
            .map_err(|e| self.error(e))?;
        let found: Vec<(Shape, DType)> = outs
            .iter()
            .map(|out| {
                let shape = out
                    .shape()
                    .iter()
                    .map(|&d| (d != crate::graph::UNKNOWN_DIM).then_some(d))
                    .collect::<Shape>();
                (shape, out.dtype())
            })
            .collect();
        *self.0.output_shapes.borrow_mut() = Some(found.iter().map(|(s, _)| s.clone()).collect());
        Ok(found)
    }

    /// Calls the layer on symbolic tensors: builds it, infers the output's shape, and
    /// records the call for a functional [`super::Model`]. A layer with several outputs
    /// needs [`LayerRef::apply_many`].
    pub fn apply(&self, inputs: &[&KerasTensor]) -> Result<KerasTensor> {
        let mut outs = self.apply_many(inputs)?;
        if outs.len() != 1 {
            return Err(Error::invalid(
                &format!("layer '{}' ({})", self.name(), self.0.class),
                format!(
                    "the layer has {} outputs (e.g. return_state); call apply_many",
                    outs.len()
                ),
            ));
        }
        Ok(outs.swap_remove(0))
    }

    /// [`LayerRef::apply`] for every output of the layer (an RNN with `return_state`:
    /// `[output, states...]`), each a symbolic tensor of the same call.
    pub fn apply_many(&self, inputs: &[&KerasTensor]) -> Result<Vec<KerasTensor>> {
        let specs: Vec<(Shape, DType)> = inputs
            .iter()
            .map(|t| (t.shape().to_vec(), t.dtype()))
            .collect();
        let found = self.infer_outputs(&specs)?;
        let node_index = self.0.symbolic_calls.get();
        self.0.symbolic_calls.set(node_index + 1);
        let inputs: Vec<KerasTensor> = inputs.iter().map(|t| (*t).clone()).collect();
        Ok(found
            .into_iter()
            .enumerate()
            .map(|(output_index, (shape, dtype))| {
                KerasTensor(Rc::new(KerasTensorNode {
                    shape,
                    dtype,
                    source: Source::Layer {
                        layer: self.clone(),
                        inputs: inputs.clone(),
                        node_index,
                        output_index,
                    },
                }))
            })
            .collect())
    }
}

impl<L: Layer + 'static> From<L> for LayerRef {
    fn from(layer: L) -> LayerRef {
        LayerRef::new(layer)
    }
}

impl std::fmt::Debug for LayerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<{} name={}>", self.0.class, self.name())
    }
}

pub(crate) enum Source {
    Input {
        name: String,
    },
    Layer {
        layer: LayerRef,
        inputs: Vec<KerasTensor>,
        /// Which call of `layer` made this tensor (Keras's node index).
        node_index: usize,
        /// Which of that call's outputs it is (Keras's tensor index).
        output_index: usize,
    },
}

pub(crate) struct KerasTensorNode {
    shape: Shape,
    dtype: DType,
    pub(crate) source: Source,
}

/// A symbolic tensor of the functional API: a shape and dtype, and the layer call (or
/// [`Input`]) that makes it.
#[derive(Clone)]
pub struct KerasTensor(pub(crate) Rc<KerasTensorNode>);

impl KerasTensor {
    /// The shape, batch axis first (`None`).
    pub fn shape(&self) -> &[Option<usize>] {
        &self.0.shape
    }
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }
    /// Whether two handles are the same symbolic tensor.
    pub fn same(&self, other: &KerasTensor) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
    pub(crate) fn key(&self) -> *const KerasTensorNode {
        Rc::as_ptr(&self.0)
    }
}

impl std::fmt::Debug for KerasTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "<KerasTensor shape={}, dtype={}>",
            fmt_shape(&self.0.shape),
            self.0.dtype
        )
    }
}

/// Keras's `Input`: the symbolic input of a functional model.
pub struct Input;

// Keras's spelling `Input(shape)` gives a symbolic tensor, not an `Input`.
#[allow(clippy::new_ret_no_self)]
impl Input {
    /// A float32 input with per-sample `shape` (the batch axis is added in front).
    pub fn new(shape: &[usize]) -> KerasTensor {
        Input::with(&known(shape), DType::F32, &unique_name("input_layer"))
    }
    /// [`Input::new`] named `name` (Keras's `Input(shape, name=...)`).
    pub fn named(shape: &[usize], name: &str) -> KerasTensor {
        Input::with(&known(shape), DType::F32, name)
    }
    /// An input of any dtype whose per-sample shape may have unknown sizes.
    pub fn with(shape: &[Option<usize>], dtype: DType, name: &str) -> KerasTensor {
        Input::batched(shape, None, dtype, name)
    }
    /// [`Input::with`] with a fixed batch size (Keras's `batch_size=`), as a stateful RNN
    /// needs.
    pub fn batched(
        shape: &[Option<usize>],
        batch_size: Option<usize>,
        dtype: DType,
        name: &str,
    ) -> KerasTensor {
        let mut full = vec![batch_size];
        full.extend_from_slice(shape);
        KerasTensor(Rc::new(KerasTensorNode {
            shape: full,
            dtype,
            source: Source::Input {
                name: name.to_string(),
            },
        }))
    }
}
