//! Optimizers with Keras 3's semantics and defaults: [`SGD`], [`Adam`], [`AdamW`],
//! [`RMSprop`], [`Adagrad`].
//!
//! Each step of each variable is ONE fused kernel ([`ops::TrainingOp`]) computing the new
//! value and the new slots; hyperparameters are runtime constants of that kernel, so its
//! pipeline is compiled once. Slots are real [`Variable`]s created on a variable's first
//! update and named as Keras 3 names them (`dense_kernel_momentum`, `..._velocity`).
//! Gradient clipping (`clipnorm`, `clipvalue`, `global_clipnorm`) runs public ops first.
//!
//! ```
//! use wgflow::{Tensor, Variable};
//! use wgflow::optimizers::{Optimizer, SGD};
//! let v = Variable::new(Tensor::from_slice(&[1.0f32, 2.0], [2]).unwrap(), "v", true);
//! let opt = SGD::new(0.1);
//! let g = Tensor::from_slice(&[1.0f32, 1.0], [2]).unwrap();
//! opt.apply_gradients(&[(g, &v)]).unwrap();
//! assert_eq!(opt.iterations(), 1);
//! let got = v.read_value().to_vec::<f32>().unwrap();
//! assert!((got[0] - 0.9).abs() < 1e-6 && (got[1] - 1.9).abs() < 1e-6);
//! ```

pub mod schedules;

pub use schedules::{
    CosineDecay, ExponentialDecay, InverseTimeDecay, LearningRateSchedule, PiecewiseConstantDecay,
};

use crate::autodiff::{GradientTape, Variable, stop_recording};
use crate::dtype::Scalar;
use crate::error::{Error, Result};
use crate::ops::{self, Axes, Op, TrainingOp};
use crate::shape::fmt_shape;
use crate::tensor::Tensor;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

/// What every optimizer does. Object-safe: `&dyn Optimizer` works, and [`minimize`] takes
/// one.
pub trait Optimizer {
    /// Applies one step: clips the gradients (if configured), applies weight decay (if
    /// configured), updates each variable and its slots, then increments
    /// [`Optimizer::iterations`].
    fn apply_gradients(&self, grads_and_vars: &[(Tensor, &Variable)]) -> Result<()>;
    /// Steps applied so far.
    fn iterations(&self) -> i64;
    /// The learning rate the next step uses (a schedule evaluated at `iterations`).
    fn learning_rate(&self) -> f64;
    /// Replaces the learning rate (Keras's `optimizer.learning_rate = ...`); later steps,
    /// traced ones included, use it.
    fn set_learning_rate(&self, lr: LearningRate);
    /// The slot `name` (`"momentum"`, `"velocity"`, ...) of `var`, once created.
    fn get_slot(&self, var: &Variable, name: &str) -> Option<Variable>;
}

/// Computes `loss()` under a [`GradientTape`], takes its gradients with respect to `vars`
/// and applies them (variables without a gradient are skipped). Returns the loss.
pub fn minimize(
    opt: &dyn Optimizer,
    loss: impl FnOnce() -> Result<Tensor>,
    vars: &[&Variable],
) -> Result<Tensor> {
    let tape = GradientTape::new();
    let l = loss()?;
    let grads = tape.gradient(&l, vars)?;
    drop(tape);
    let pairs: Vec<(Tensor, &Variable)> = grads
        .into_iter()
        .zip(vars)
        .filter_map(|(g, v)| g.map(|g| (g, *v)))
        .collect();
    opt.apply_gradients(&pairs)?;
    Ok(l)
}

/// A learning rate: a constant or a schedule of the step.
#[derive(Clone)]
pub enum LearningRate {
    Constant(f64),
    Schedule(Arc<dyn LearningRateSchedule + Send + Sync>),
}

impl LearningRate {
    /// A schedule as a learning rate.
    pub fn schedule(s: impl LearningRateSchedule + Send + Sync + 'static) -> Self {
        LearningRate::Schedule(Arc::new(s))
    }
    /// The rate at `step`.
    pub fn at(&self, step: i64) -> f64 {
        match self {
            LearningRate::Constant(v) => *v,
            LearningRate::Schedule(s) => s.at(step),
        }
    }
}

impl From<f64> for LearningRate {
    fn from(v: f64) -> Self {
        LearningRate::Constant(v)
    }
}
impl From<f32> for LearningRate {
    fn from(v: f32) -> Self {
        LearningRate::Constant(v as f64)
    }
}
macro_rules! lr_from_schedule {
    ($($t:ty),*) => {$(
        impl From<$t> for LearningRate {
            fn from(s: $t) -> Self {
                LearningRate::schedule(s)
            }
        }
    )*};
}
lr_from_schedule!(
    ExponentialDecay,
    PiecewiseConstantDecay,
    CosineDecay,
    InverseTimeDecay
);

impl std::fmt::Debug for LearningRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LearningRate::Constant(v) => write!(f, "{v}"),
            LearningRate::Schedule(_) => write!(f, "<schedule>"),
        }
    }
}

/// What all optimizers share: learning rate, clipping, weight decay, step count, slots.
/// Clones share the step count and slots (an optimizer handle, like a `Variable`).
#[derive(Clone)]
struct Base {
    name: String,
    /// Shared by clones, and read on every step, so `set_learning_rate` reaches traced
    /// steps too.
    lr: Arc<std::sync::RwLock<LearningRate>>,
    clipnorm: Option<f64>,
    clipvalue: Option<f64>,
    global_clipnorm: Option<f64>,
    weight_decay: Option<f64>,
    iterations: Arc<AtomicI64>,
    slots: Arc<Mutex<SlotMap>>,
}

/// Each variable's slots by variable id, with their names.
type SlotMap = HashMap<u64, Vec<(String, Variable)>>;

/// Builds an optimizer's update op from the learning rate, weight decay and step.
type MakeOp = Arc<dyn Fn(f32, Option<f32>, i64) -> TrainingOp + Send + Sync>;

impl Base {
    fn new(name: &str, lr: LearningRate) -> Self {
        Base {
            name: name.to_string(),
            lr: Arc::new(std::sync::RwLock::new(lr)),
            clipnorm: None,
            clipvalue: None,
            global_clipnorm: None,
            weight_decay: None,
            iterations: Arc::new(AtomicI64::new(0)),
            slots: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn get_slot(&self, var: &Variable, name: &str) -> Option<Variable> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots
            .get(&var.id())?
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// `var`'s slots, created (zeros, or `init(name)`) on first use.
    fn slots_for(
        &self,
        var: &Variable,
        names: &[&'static str],
        init: &dyn Fn(&str) -> f32,
    ) -> Result<Vec<Variable>> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let entry = slots.entry(var.id()).or_default();
        let mut out = Vec::with_capacity(names.len());
        for &n in names {
            if let Some((_, v)) = entry.iter().find(|(k, _)| k == n) {
                out.push(v.clone());
                continue;
            }
            // Slots are created on the first (possibly traced) step, eagerly.
            let value = crate::graph::init_scope(|| {
                crate::device::with_device(&var.device(), || {
                    ops::fill(var.shape(), Scalar::F32(init(n)))
                })
            })?;
            let slot_name = format!("{}_{n}", var.name().replace('/', "_"));
            let v = Variable::new(value, &slot_name, false);
            entry.push((n.to_string(), v.clone()));
            out.push(v);
        }
        Ok(out)
    }

    fn check(&self, grads_and_vars: &[(Tensor, &Variable)]) -> Result<()> {
        for (g, v) in grads_and_vars {
            let vs = v.shape();
            if g.shape() != vs.as_slice() || g.dtype() != v.dtype() {
                return Err(Error::shape(
                    "apply_gradients",
                    format!(
                        "{}: the gradient of variable '{}' is {} {} but the variable is {} {}",
                        self.name,
                        v.name(),
                        g.dtype(),
                        fmt_shape(g.shape()),
                        v.dtype(),
                        fmt_shape(&vs)
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Keras's `_clip_gradients`: `clipnorm` (per gradient), else `global_clipnorm`, else
    /// `clipvalue`.
    fn clip(&self, grads: Vec<Tensor>) -> Result<Vec<Tensor>> {
        if let Some(c) = self.clipnorm.filter(|&c| c > 0.0) {
            return grads.iter().map(|g| clip_by_norm(g, c)).collect();
        }
        if let Some(c) = self.global_clipnorm.filter(|&c| c > 0.0) {
            return clip_by_global_norm(&grads, c);
        }
        if let Some(c) = self.clipvalue.filter(|&c| c > 0.0) {
            return grads
                .iter()
                .map(|g| ops::clip_by_value_scalar(g, -c, c))
                .collect();
        }
        Ok(grads)
    }

    /// The shared step: check, clip, then one fused update per variable.
    fn apply(
        &self,
        grads_and_vars: &[(Tensor, &Variable)],
        make_op: MakeOp,
        init: &dyn Fn(&str) -> f32,
    ) -> Result<()> {
        self.check(grads_and_vars)?;
        stop_recording(|| {
            let grads = self.clip(grads_and_vars.iter().map(|(g, _)| g.clone()).collect())?;
            let (iterations, lr) = (self.iterations.clone(), self.lr.clone());
            let wd = self.weight_decay.map(|w| w as f32);
            let make = move || {
                let step = iterations.load(Ordering::SeqCst);
                let lr = lr.read().unwrap_or_else(|e| e.into_inner()).at(step);
                make_op(lr as f32, wd, step)
            };
            let op = make();
            // The update's scalars depend on the step: inside a traced function they are a
            // tensor recomputed from the host step count on every call, so the update is a
            // static op that fusion can fold into the kernel computing the gradient.
            let hyper = if crate::graph::is_tracing() {
                Some(crate::graph::host_tensor(
                    "hyperparameters",
                    Arc::new(move || Ok(make().hyperparameters())),
                )?)
            } else {
                None
            };
            let names = op.slot_names();
            for (g, (_, var)) in grads.iter().zip(grads_and_vars) {
                let slots = self.slots_for(var, &names, init)?;
                let value = var.value_unrecorded();
                let slot_values: Vec<Tensor> = slots.iter().map(|s| s.value_unrecorded()).collect();
                let mut inputs: Vec<&Tensor> = vec![&value, g];
                inputs.extend(slot_values.iter());
                inputs.extend(hyper.as_ref());
                let outs = ops::apply(Op::Training(op.clone()), &inputs)?;
                var.assign(&outs[0])?;
                for (s, o) in slots.iter().zip(&outs[1..]) {
                    s.assign(o)?;
                }
            }
            let iterations = self.iterations.clone();
            crate::graph::host_effect(
                "optimizer_step",
                Arc::new(move || {
                    iterations.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }),
            )
        })
    }
}

/// Keras's `_clip_by_norm`: `g * c / max(||g||, c)`, NaN-safe at a zero norm.
fn clip_by_norm(g: &Tensor, c: f64) -> Result<Tensor> {
    let l2sum = ops::reduce_sum(&ops::square(g)?, Axes::All, true)?;
    let zero = ops::scalar_like(g, 0.0)?;
    let pred = ops::greater(&l2sum, &zero)?;
    let safe = ops::where_(&pred, &l2sum, &ops::ones_like(&l2sum)?)?;
    let norm = ops::where_(&pred, &ops::sqrt(&safe)?, &l2sum)?;
    let cc = ops::scalar_like(g, c)?;
    ops::div(&ops::mul(g, &cc)?, &ops::maximum(&norm, &cc)?)
}

/// Keras's `clip_by_global_norm`.
fn clip_by_global_norm(grads: &[Tensor], c: f64) -> Result<Vec<Tensor>> {
    let Some(first) = grads.first() else {
        return Ok(vec![]);
    };
    let mut total = ops::scalar_like(first, 0.0)?;
    for g in grads {
        total = ops::add(
            &total,
            &ops::reduce_sum(&ops::square(g)?, Axes::All, false)?,
        )?;
    }
    let norm = ops::sqrt(&total)?;
    let one = ops::scalar_like(first, 1.0)?;
    let cc = ops::scalar_like(first, c)?;
    let inv_c = ops::scalar_like(first, 1.0 / c)?;
    let finite = ops::mul(&cc, &ops::minimum(&ops::div(&one, &norm)?, &inv_c)?)?;
    let scale = ops::add(&finite, &ops::sub(&norm, &norm)?)?;
    grads.iter().map(|g| ops::mul(g, &scale)).collect()
}

macro_rules! common_builders {
    ($t:ident) => {
        impl $t {
            /// Clips each gradient to this L2 norm.
            pub fn clipnorm(mut self, v: f64) -> Self {
                self.base.clipnorm = Some(v);
                self
            }
            /// Clips each gradient's elements to `[-v, v]`.
            pub fn clipvalue(mut self, v: f64) -> Self {
                self.base.clipvalue = Some(v);
                self
            }
            /// Scales all gradients together so their global L2 norm is at most `v`.
            pub fn global_clipnorm(mut self, v: f64) -> Self {
                self.base.global_clipnorm = Some(v);
                self
            }
            /// Decoupled weight decay: `var -= var * wd * lr` before each update.
            pub fn weight_decay(mut self, wd: f64) -> Self {
                self.base.weight_decay = Some(wd);
                self
            }
            /// The optimizer's name (Keras's `name`).
            pub fn name(mut self, name: &str) -> Self {
                self.base.name = name.to_string();
                self
            }
        }

        impl Optimizer for $t {
            fn apply_gradients(&self, grads_and_vars: &[(Tensor, &Variable)]) -> Result<()> {
                let me = self.clone();
                self.base.apply(
                    grads_and_vars,
                    Arc::new(move |lr, wd, step| me.op(lr, wd, step)),
                    &|n| self.slot_init(n),
                )
            }
            fn iterations(&self) -> i64 {
                self.base.iterations.load(Ordering::SeqCst)
            }
            fn learning_rate(&self) -> f64 {
                self.base
                    .lr
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .at(self.iterations())
            }
            fn set_learning_rate(&self, lr: LearningRate) {
                *self.base.lr.write().unwrap_or_else(|e| e.into_inner()) = lr;
            }
            fn get_slot(&self, var: &Variable, name: &str) -> Option<Variable> {
                self.base.get_slot(var, name)
            }
        }

        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(
                    f,
                    "{}(name={}, learning_rate={:?}, iterations={})",
                    stringify!($t),
                    self.base.name,
                    self.base.lr.read().unwrap_or_else(|e| e.into_inner()),
                    self.iterations()
                )
            }
        }
    };
}

/// Gradient descent, with optional (Nesterov) momentum. Slot: `momentum` (when momentum > 0).
#[derive(Clone)]
pub struct SGD {
    base: Base,
    momentum: f64,
    nesterov: bool,
}

impl SGD {
    /// Keras defaults: momentum 0, nesterov false.
    pub fn new(learning_rate: impl Into<LearningRate>) -> Self {
        SGD {
            base: Base::new("SGD", learning_rate.into()),
            momentum: 0.0,
            nesterov: false,
        }
    }
    pub fn momentum(mut self, m: f64) -> Self {
        self.momentum = m;
        self
    }
    pub fn nesterov(mut self, b: bool) -> Self {
        self.nesterov = b;
        self
    }
    fn op(&self, lr: f32, weight_decay: Option<f32>, _step: i64) -> TrainingOp {
        TrainingOp::Sgd {
            lr,
            momentum: (self.momentum != 0.0).then_some(self.momentum as f32),
            nesterov: self.nesterov,
            weight_decay,
        }
    }
    fn slot_init(&self, _n: &str) -> f32 {
        0.0
    }
}
common_builders!(SGD);

fn adam_op(
    lr: f32,
    weight_decay: Option<f32>,
    step: i64,
    beta_1: f64,
    beta_2: f64,
    epsilon: f64,
    amsgrad: bool,
) -> TrainingOp {
    let t = (step + 1) as f32;
    let b1p = (beta_1 as f32).powf(t);
    let b2p = (beta_2 as f32).powf(t);
    let alpha = lr * (1.0f32 - b2p).sqrt() / (1.0f32 - b1p);
    TrainingOp::Adam {
        lr,
        alpha,
        one_minus_beta_1: (1.0 - beta_1) as f32,
        one_minus_beta_2: (1.0 - beta_2) as f32,
        epsilon: epsilon as f32,
        amsgrad,
        weight_decay,
    }
}

/// Adam. Slots: `momentum`, `velocity` (and `velocity_hat` with AMSGrad).
#[derive(Clone)]
pub struct Adam {
    base: Base,
    beta_1: f64,
    beta_2: f64,
    epsilon: f64,
    amsgrad: bool,
}

impl Adam {
    /// Keras defaults: beta_1 0.9, beta_2 0.999, epsilon 1e-7, amsgrad false.
    pub fn new(learning_rate: impl Into<LearningRate>) -> Self {
        Adam {
            base: Base::new("adam", learning_rate.into()),
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
            amsgrad: false,
        }
    }
    pub fn beta_1(mut self, v: f64) -> Self {
        self.beta_1 = v;
        self
    }
    pub fn beta_2(mut self, v: f64) -> Self {
        self.beta_2 = v;
        self
    }
    pub fn epsilon(mut self, v: f64) -> Self {
        self.epsilon = v;
        self
    }
    pub fn amsgrad(mut self, b: bool) -> Self {
        self.amsgrad = b;
        self
    }
    fn op(&self, lr: f32, wd: Option<f32>, step: i64) -> TrainingOp {
        adam_op(
            lr,
            wd,
            step,
            self.beta_1,
            self.beta_2,
            self.epsilon,
            self.amsgrad,
        )
    }
    fn slot_init(&self, _n: &str) -> f32 {
        0.0
    }
}
common_builders!(Adam);

/// Adam with decoupled weight decay (Keras's `AdamW`): an [`Adam`] whose weight decay
/// (default 0.004) is applied before the Adam update, in the same kernel.
pub struct AdamW;

impl AdamW {
    /// Keras defaults: weight_decay 0.004, beta_1 0.9, beta_2 0.999, epsilon 1e-7.
    #[allow(clippy::new_ret_no_self)]
    pub fn new(learning_rate: impl Into<LearningRate>) -> Adam {
        let mut adam = Adam::new(learning_rate);
        adam.base.name = "adamw".to_string();
        adam.base.weight_decay = Some(0.004);
        adam
    }
}

/// RMSprop. Slots: `velocity`, `momentum` (momentum > 0), `average_gradient` (centered).
#[derive(Clone)]
pub struct RMSprop {
    base: Base,
    rho: f64,
    momentum: f64,
    epsilon: f64,
    centered: bool,
}

impl RMSprop {
    /// Keras defaults: rho 0.9, momentum 0, epsilon 1e-7, centered false.
    pub fn new(learning_rate: impl Into<LearningRate>) -> Self {
        RMSprop {
            base: Base::new("rmsprop", learning_rate.into()),
            rho: 0.9,
            momentum: 0.0,
            epsilon: 1e-7,
            centered: false,
        }
    }
    pub fn rho(mut self, v: f64) -> Self {
        self.rho = v;
        self
    }
    pub fn momentum(mut self, v: f64) -> Self {
        self.momentum = v;
        self
    }
    pub fn epsilon(mut self, v: f64) -> Self {
        self.epsilon = v;
        self
    }
    pub fn centered(mut self, b: bool) -> Self {
        self.centered = b;
        self
    }
    fn op(&self, lr: f32, weight_decay: Option<f32>, _step: i64) -> TrainingOp {
        TrainingOp::RmsProp {
            lr,
            rho: self.rho as f32,
            one_minus_rho: (1.0 - self.rho) as f32,
            momentum: (self.momentum > 0.0).then_some(self.momentum as f32),
            epsilon: self.epsilon as f32,
            centered: self.centered,
            weight_decay,
        }
    }
    fn slot_init(&self, _n: &str) -> f32 {
        0.0
    }
}
common_builders!(RMSprop);

/// Adagrad. Slot: `accumulator` (starting at `initial_accumulator_value`).
#[derive(Clone)]
pub struct Adagrad {
    base: Base,
    initial_accumulator_value: f64,
    epsilon: f64,
}

impl Adagrad {
    /// Keras defaults: initial_accumulator_value 0.1, epsilon 1e-7.
    pub fn new(learning_rate: impl Into<LearningRate>) -> Self {
        Adagrad {
            base: Base::new("adagrad", learning_rate.into()),
            initial_accumulator_value: 0.1,
            epsilon: 1e-7,
        }
    }
    pub fn initial_accumulator_value(mut self, v: f64) -> Self {
        self.initial_accumulator_value = v;
        self
    }
    pub fn epsilon(mut self, v: f64) -> Self {
        self.epsilon = v;
        self
    }
    fn op(&self, lr: f32, weight_decay: Option<f32>, _step: i64) -> TrainingOp {
        TrainingOp::Adagrad {
            lr,
            epsilon: self.epsilon as f32,
            weight_decay,
        }
    }
    fn slot_init(&self, _n: &str) -> f32 {
        self.initial_accumulator_value as f32
    }
}
common_builders!(Adagrad);
