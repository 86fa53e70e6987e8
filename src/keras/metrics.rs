//! Metrics (`keras.metrics`): stateful accumulators with `update_state` / `result` /
//! `reset_state`. Their state lives in variables on the device, so `update_state` is a few
//! device ops (traced into `fit`'s train step) and only `result` reads a value back.
//! Besides the accuracies: top-k accuracies, `Precision`, `Recall` and `AUC` (per-threshold
//! confusion counts in variables), with Keras's semantics and defaults.
//!
//! ```
//! use wgflow::keras::metrics::{Metric, SparseCategoricalAccuracy};
//! use wgflow::Tensor;
//! let m = SparseCategoricalAccuracy::new();
//! let y_true = Tensor::from_slice(&[2i32, 1], [2]).unwrap();
//! let y_pred = Tensor::from_slice(&[0.1f32, 0.6, 0.3, 0.05, 0.95, 0.0], [2, 3]).unwrap();
//! m.update_state(&y_true, &y_pred, None).unwrap();
//! assert_eq!(m.result().unwrap(), 0.5);
//! ```

use crate::autodiff::{Variable, stop_recording};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::keras::losses::squeeze_or_expand_to_same_rank;
use crate::ops::{self, Axes};
use crate::tensor::Tensor;
use std::cell::RefCell;

/// What every metric does. Implement it for a custom metric (keep the state in
/// [`Variable`]s so it can be updated inside a traced step).
pub trait Metric {
    /// The name shown in logs and the progress bar (`"accuracy"`).
    fn name(&self) -> &str;
    /// Accumulates a batch.
    fn update_state(
        &self,
        y_true: &Tensor,
        y_pred: &Tensor,
        sample_weight: Option<&Tensor>,
    ) -> Result<()>;
    /// The metric's value as a tensor (no read back).
    fn result_tensor(&self) -> Result<Tensor>;
    /// Clears the state.
    fn reset_state(&self) -> Result<()>;
    /// The state variables.
    fn variables(&self) -> Vec<Variable>;
    /// The value, read back to the host.
    fn result(&self) -> Result<f64> {
        Ok(self
            .result_tensor()?
            .to_f64_vec()?
            .first()
            .copied()
            .unwrap_or(0.0))
    }
}

fn zero_state(name: &str, shape: &[usize]) -> Result<Variable> {
    let value = crate::graph::init_scope(|| ops::zeros(shape, DType::F32))?;
    Ok(Variable::new(value, name, false))
}

fn reset(vars: &[&Variable]) -> Result<()> {
    for v in vars {
        let zeros = crate::graph::init_scope(|| ops::zeros(v.shape(), DType::F32))?;
        v.assign(&zeros)?;
    }
    Ok(())
}

/// Rewrites an error from a metric's update so that it names the metric:
/// `metric 'precision': ...`.
fn in_metric(e: Error, name: &str) -> Error {
    let tag = |op: String| {
        if op.starts_with("metric '") {
            op
        } else {
            format!("metric '{name}': {op}")
        }
    };
    match e {
        Error::Shape { op, msg } => Error::Shape { op: tag(op), msg },
        Error::DType { op, msg } => Error::DType { op: tag(op), msg },
        Error::InvalidArgument { op, msg } => Error::InvalidArgument { op: tag(op), msg },
        other => other,
    }
}

/// The weighted mean of the values it is given (Keras's `Mean`); also `fit`'s loss
/// tracker.
pub struct Mean {
    name: String,
    total: Variable,
    count: Variable,
}

impl Mean {
    pub fn new(name: &str) -> Result<Mean> {
        Ok(Mean {
            name: name.to_string(),
            total: zero_state(&format!("{name}_total"), &[])?,
            count: zero_state(&format!("{name}_count"), &[])?,
        })
    }

    /// Adds `values` (any shape) with optional `sample_weight`, as Keras's `Mean` does:
    /// values are averaged down to the weight's rank (after matching ranks that differ by
    /// a trailing axis of 1), weighted, and counted once per sample (the sum of the
    /// weights when weighted, else the leading dimension).
    pub fn update(&self, values: &Tensor, sample_weight: Option<&Tensor>) -> Result<()> {
        stop_recording(|| {
            let mut values = ops::cast(values, DType::F32)?;
            let mut weight = None;
            if let Some(w) = sample_weight {
                let w = ops::cast(w, DType::F32)?;
                let (v, w) = squeeze_or_expand_to_same_rank(&values, &w, true)?;
                values = v;
                if values.rank() > w.rank() {
                    let axes: Vec<i64> = (w.rank()..values.rank()).map(|a| a as i64).collect();
                    values = ops::reduce_mean(&values, axes, false)?;
                }
                let w = ops::broadcast_to(&w, values.shape())?;
                values = ops::mul(&values, &w)?;
                weight = Some(if w.rank() > 1 {
                    let axes: Vec<i64> = (1..w.rank()).map(|a| a as i64).collect();
                    ops::reduce_mean(&w, axes, false)?
                } else {
                    w
                });
            }
            if values.rank() > 1 {
                let axes: Vec<i64> = (1..values.rank()).map(|a| a as i64).collect();
                values = ops::reduce_mean(&values, axes, false)?;
            }
            let count = match weight {
                Some(w) => ops::reduce_sum(&w, Axes::All, false)?,
                None => {
                    let n = values.shape().first().copied().unwrap_or(1);
                    ops::scalar_like(&values, n as f64)?
                }
            };
            self.total
                .assign_add(&ops::reduce_sum(&values, Axes::All, false)?)?;
            self.count.assign_add(&count)
        })
    }
}

impl Metric for Mean {
    fn name(&self) -> &str {
        &self.name
    }
    /// Adds `y_pred` (the values; `y_true` is ignored).
    fn update_state(&self, _y_true: &Tensor, y_pred: &Tensor, w: Option<&Tensor>) -> Result<()> {
        self.update(y_pred, w)
    }
    fn result_tensor(&self) -> Result<Tensor> {
        stop_recording(|| {
            let count = self.count.read_value();
            // 0 / 0 reads as 0, as Keras's divide_no_nan.
            let safe = ops::maximum(&count, &ops::scalar_like(&count, 1e-30)?)?;
            ops::div(&self.total.read_value(), &safe)
        })
    }
    fn reset_state(&self) -> Result<()> {
        reset(&[&self.total, &self.count])
    }
    fn variables(&self) -> Vec<Variable> {
        vec![self.total.clone(), self.count.clone()]
    }
}

/// The weighted sum of the values it is given (Keras's `Sum`).
pub struct Sum {
    name: String,
    total: Variable,
}

impl Sum {
    pub fn new(name: &str) -> Result<Sum> {
        Ok(Sum {
            name: name.to_string(),
            total: zero_state(&format!("{name}_total"), &[])?,
        })
    }
    pub fn update(&self, values: &Tensor, sample_weight: Option<&Tensor>) -> Result<()> {
        stop_recording(|| {
            let values = ops::cast(values, DType::F32)?;
            let values = match sample_weight {
                Some(w) => ops::mul(&values, &ops::cast(w, DType::F32)?)?,
                None => values,
            };
            self.total
                .assign_add(&ops::reduce_sum(&values, Axes::All, false)?)
        })
    }
}

impl Metric for Sum {
    fn name(&self) -> &str {
        &self.name
    }
    /// Adds `y_pred` (the values; `y_true` is ignored).
    fn update_state(&self, _y_true: &Tensor, y_pred: &Tensor, w: Option<&Tensor>) -> Result<()> {
        self.update(y_pred, w)
    }
    fn result_tensor(&self) -> Result<Tensor> {
        Ok(self.total.read_value())
    }
    fn reset_state(&self) -> Result<()> {
        reset(&[&self.total])
    }
    fn variables(&self) -> Vec<Variable> {
        vec![self.total.clone()]
    }
}

type MatchFn = fn(&Tensor, &Tensor) -> Result<Tensor>;
type PerSample = dyn Fn(&Tensor, &Tensor) -> Result<Tensor>;

/// A metric that averages a per-sample value of `(y_true, y_pred)` (Keras's
/// `MeanMetricWrapper`): the accuracies are these.
pub struct MeanMetricWrapper {
    mean: Mean,
    f: Box<PerSample>,
}

impl MeanMetricWrapper {
    pub fn new(
        name: &str,
        f: impl Fn(&Tensor, &Tensor) -> Result<Tensor> + 'static,
    ) -> Result<Self> {
        Ok(MeanMetricWrapper {
            mean: Mean::new(name)?,
            f: Box::new(f),
        })
    }
}

impl Metric for MeanMetricWrapper {
    fn name(&self) -> &str {
        self.mean.name()
    }
    fn update_state(&self, y_true: &Tensor, y_pred: &Tensor, w: Option<&Tensor>) -> Result<()> {
        let values =
            stop_recording(|| (self.f)(y_true, y_pred)).map_err(|e| in_metric(e, self.name()))?;
        self.mean
            .update(&values, w)
            .map_err(|e| in_metric(e, self.name()))
    }
    fn result_tensor(&self) -> Result<Tensor> {
        self.mean.result_tensor()
    }
    fn reset_state(&self) -> Result<()> {
        self.mean.reset_state()
    }
    fn variables(&self) -> Vec<Variable> {
        self.mean.variables()
    }
}

/// 1 where `y_true == y_pred` (after casting to `y_pred`'s dtype).
pub fn accuracy(y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
    let t = ops::cast(y_true, y_pred.dtype())?;
    ops::cast(&ops::equal(&t, y_pred)?, DType::F32)
}

/// 1 where the integer label equals the argmax of the scores.
pub fn sparse_categorical_accuracy(y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
    let labels = ops::cast(y_true, DType::I32)?;
    let labels = if labels.rank() == y_pred.rank() && labels.shape().last() == Some(&1) {
        let s: Vec<i64> = labels.shape()[..labels.rank() - 1]
            .iter()
            .map(|&d| d as i64)
            .collect();
        ops::reshape(&labels, &s)?
    } else {
        labels
    };
    let predicted = ops::cast(&ops::argmax(y_pred, -1)?, DType::I32)?;
    if labels.shape() != predicted.shape() {
        return Err(Error::shape(
            "sparse_categorical_accuracy",
            format!(
                "labels of shape {:?} do not fit predictions of shape {:?}",
                y_true.shape(),
                y_pred.shape()
            ),
        ));
    }
    ops::cast(&ops::equal(&labels, &predicted)?, DType::F32)
}

/// 1 where the argmax of the one-hot labels equals the argmax of the scores.
pub fn categorical_accuracy(y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
    sparse_categorical_accuracy(&ops::argmax(y_true, -1)?, y_pred)
}

/// Mean over the last axis of 1 where `y_pred > threshold` equals `y_true`.
pub fn binary_accuracy(y_true: &Tensor, y_pred: &Tensor, threshold: f64) -> Result<Tensor> {
    let predicted = ops::cast(
        &ops::greater(y_pred, &ops::scalar_like(y_pred, threshold)?)?,
        DType::F32,
    )?;
    let t = ops::cast(y_true, DType::F32)?;
    ops::reduce_mean(
        &ops::cast(&ops::equal(&t, &predicted)?, DType::F32)?,
        -1,
        false,
    )
}

/// `impl Metric` for a newtype over a [`MeanMetricWrapper`]: every method forwards.
macro_rules! delegate_metric {
    ($name:ident) => {
        impl Metric for $name {
            fn name(&self) -> &str {
                self.0.name()
            }
            fn update_state(&self, t: &Tensor, p: &Tensor, w: Option<&Tensor>) -> Result<()> {
                self.0.update_state(t, p, w)
            }
            fn result_tensor(&self) -> Result<Tensor> {
                self.0.result_tensor()
            }
            fn reset_state(&self) -> Result<()> {
                self.0.reset_state()
            }
            fn variables(&self) -> Vec<Variable> {
                self.0.variables()
            }
        }
    };
}

macro_rules! wrapper_metric {
    ($(#[$doc:meta])* $name:ident, $keras:literal, $f:expr) => {
        $(#[$doc])*
        pub struct $name(MeanMetricWrapper);

        impl $name {
            pub fn new() -> Self {
                Self::named($keras)
            }
            /// Panics only if the state variables cannot be created on the current device.
            pub fn named(name: &str) -> Self {
                let f: MatchFn = $f;
                $name(MeanMetricWrapper::new(name, f).expect("metric state on the current device"))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::new()
            }
        }

        delegate_metric!($name);
    };
}

wrapper_metric!(
    /// How often predictions equal labels.
    Accuracy,
    "accuracy",
    accuracy
);
wrapper_metric!(
    /// How often the integer label is the top-scoring class.
    SparseCategoricalAccuracy,
    "sparse_categorical_accuracy",
    sparse_categorical_accuracy
);
wrapper_metric!(
    /// How often the one-hot label's class is the top-scoring class.
    CategoricalAccuracy,
    "categorical_accuracy",
    categorical_accuracy
);

/// How often `y_pred > threshold` matches the binary label (threshold 0.5 by default).
pub struct BinaryAccuracy(MeanMetricWrapper);

impl BinaryAccuracy {
    pub fn new() -> Self {
        Self::with_threshold(0.5)
    }
    pub fn with_threshold(threshold: f64) -> Self {
        Self::named("binary_accuracy", threshold)
    }
    pub fn named(name: &str, threshold: f64) -> Self {
        BinaryAccuracy(
            MeanMetricWrapper::new(name, move |t, p| binary_accuracy(t, p, threshold))
                .expect("metric state on the current device"),
        )
    }
}

impl Default for BinaryAccuracy {
    fn default() -> Self {
        BinaryAccuracy::new()
    }
}

delegate_metric!(BinaryAccuracy);

/// TensorFlow's `in_top_k`: whether each row's target class is among the `k` highest
/// predictions. Ties straddling the boundary count as in the top `k` (the target is in
/// when fewer than `k` classes score strictly higher); a target out of range or a row
/// with a non-finite prediction gives false. `targets` `[n]` (integers), `predictions`
/// `[n, classes]`; the result is boolean `[n]`.
pub fn in_top_k(targets: &Tensor, predictions: &Tensor, k: usize) -> Result<Tensor> {
    const OP: &str = "in_top_k";
    if predictions.rank() != 2
        || targets.rank() != 1
        || targets.shape()[0] != predictions.shape()[0]
    {
        return Err(Error::shape(
            OP,
            format!(
                "targets of shape {:?} do not fit predictions of shape {:?} (expected [n] \
                 and [n, classes])",
                targets.shape(),
                predictions.shape()
            ),
        ));
    }
    let classes = predictions.shape()[1];
    let pred = ops::cast(predictions, DType::F32)?;
    let targets = ops::cast(targets, DType::I32)?;
    if classes == 0 {
        return ops::cast(&ops::zeros(targets.shape(), DType::F32)?, DType::Bool);
    }
    let ids = ops::range(0i32, classes as i32, 1i32)?;
    let is_target = ops::equal(&ops::expand_dims(&targets, 1)?, &ids)?;
    let target_score = ops::reduce_sum(
        &ops::where_(&is_target, &pred, &ops::scalar_like(&pred, 0.0)?)?,
        -1,
        true,
    )?;
    let in_range = ops::reduce_any(&is_target, -1, false)?;
    let finite = ops::reduce_all(&ops::is_finite(&pred)?, -1, false)?;
    let higher = ops::reduce_sum(
        &ops::cast(&ops::greater(&pred, &target_score)?, DType::F32)?,
        -1,
        false,
    )?;
    let in_k = ops::less(&higher, &ops::scalar_like(&higher, k as f64)?)?;
    ops::logical_and(&ops::logical_and(&in_k, &in_range)?, &finite)
}

/// Flattens `[.., classes]` scores to `[n, classes]` and the labels to `[n]`, runs
/// [`in_top_k`], and gives the matches (as floats) in the labels' shape.
fn top_k_matches(op: &str, labels: &Tensor, y_pred: &Tensor, k: usize) -> Result<Tensor> {
    if y_pred.rank() == 0 {
        return Err(Error::shape(
            op,
            "predictions need a class axis, got a scalar",
        ));
    }
    let classes = *y_pred.shape().last().unwrap_or(&0);
    let rows = y_pred.size() / classes.max(1);
    if labels.size() != rows || (classes == 0 && labels.size() != 0) {
        return Err(Error::shape(
            op,
            format!(
                "labels of shape {:?} do not fit predictions of shape {:?}",
                labels.shape(),
                y_pred.shape()
            ),
        ));
    }
    let pred = ops::reshape(y_pred, &[rows as i64, classes as i64])?;
    let flat = ops::reshape(labels, &[rows as i64])?;
    let matches = ops::cast(&in_top_k(&flat, &pred, k)?, DType::F32)?;
    let shape: Vec<i64> = labels.shape().iter().map(|&d| d as i64).collect();
    ops::reshape(&matches, &shape)
}

/// 1 where the integer label is among the `k` top-scoring classes (Keras's
/// `sparse_top_k_categorical_accuracy`; labels `[..]` or `[.., 1]`).
pub fn sparse_top_k_categorical_accuracy(
    y_true: &Tensor,
    y_pred: &Tensor,
    k: usize,
) -> Result<Tensor> {
    let labels = ops::cast(y_true, DType::I32)?;
    top_k_matches("sparse_top_k_categorical_accuracy", &labels, y_pred, k)
}

/// 1 where the one-hot label's class is among the `k` top-scoring classes (Keras's
/// `top_k_categorical_accuracy`).
pub fn top_k_categorical_accuracy(y_true: &Tensor, y_pred: &Tensor, k: usize) -> Result<Tensor> {
    const OP: &str = "top_k_categorical_accuracy";
    if y_true.shape() != y_pred.shape() {
        return Err(Error::shape(
            OP,
            format!(
                "one-hot labels of shape {:?} do not match predictions of shape {:?}",
                y_true.shape(),
                y_pred.shape()
            ),
        ));
    }
    if y_true.rank() == 0 {
        return Err(Error::shape(
            OP,
            "predictions need a class axis, got a scalar",
        ));
    }
    let labels = ops::argmax(&ops::cast(y_true, DType::F32)?, -1)?;
    top_k_matches(OP, &labels, y_pred, k)
}

macro_rules! top_k_metric {
    ($(#[$doc:meta])* $name:ident, $keras:literal, $f:ident) => {
        $(#[$doc])*
        pub struct $name(MeanMetricWrapper);

        impl $name {
            /// With `k = 5`, as Keras.
            pub fn new() -> Self {
                Self::with_k(5)
            }
            /// Counts a match when the label is among the `k` top-scoring classes.
            pub fn with_k(k: usize) -> Self {
                Self::named($keras, k)
            }
            /// Panics only if the state variables cannot be created on the current device.
            pub fn named(name: &str, k: usize) -> Self {
                $name(
                    MeanMetricWrapper::new(name, move |t, p| $f(t, p, k))
                        .expect("metric state on the current device"),
                )
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::new()
            }
        }

        delegate_metric!($name);
    };
}

top_k_metric!(
    /// How often the one-hot label's class is among the top `k` (5) predictions.
    TopKCategoricalAccuracy,
    "top_k_categorical_accuracy",
    top_k_categorical_accuracy
);
top_k_metric!(
    /// How often the integer label is among the top `k` (5) predictions.
    SparseTopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy",
    sparse_top_k_categorical_accuracy
);

/// Keras's `NEG_INF`: the threshold that makes every top-k prediction positive.
const NEG_INF: f64 = -1e10;
/// Keras's `backend.epsilon()`.
const EPSILON: f64 = 1e-7;

/// `x / y`, 0 where `y == 0` (TensorFlow's `divide_no_nan`).
fn divide_no_nan(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let zero = ops::equal(y, &ops::scalar_like(y, 0.0)?)?;
    let safe = ops::where_(&zero, &ops::scalar_like(y, 1.0)?, y)?;
    ops::where_(&zero, &ops::scalar_like(y, 0.0)?, &ops::div(x, &safe)?)
}

/// Keeps the `k` largest values along the last axis (the lower index first on ties, as
/// `top_k`) and sets the others to `NEG_INF`.
fn filter_top_k(x: &Tensor, k: usize) -> Result<Tensor> {
    let classes = *x.shape().last().unwrap_or(&0);
    if k >= classes {
        return Ok(x.clone());
    }
    let xi = ops::expand_dims(x, -1)?; // [.., C, 1]: the element ranked
    let xj = ops::expand_dims(x, -2)?; // [.., 1, C]: the ones it is compared with
    let ids = ops::range(0i32, classes as i32, 1i32)?;
    let earlier = ops::less(
        &ops::reshape(&ids, &[1, classes as i64])?,
        &ops::reshape(&ids, &[classes as i64, 1])?,
    )?;
    let beats = ops::logical_or(
        &ops::greater(&xj, &xi)?,
        &ops::logical_and(&ops::equal(&xj, &xi)?, &earlier)?,
    )?;
    let rank = ops::reduce_sum(&ops::cast(&beats, DType::F32)?, -1, false)?;
    let keep = ops::less(&rank, &ops::scalar_like(&rank, k as f64)?)?;
    ops::where_(&keep, x, &ops::scalar_like(x, NEG_INF)?)
}

/// The confusion-matrix state of Precision, Recall and AUC: per-threshold weighted counts
/// held in variables, updated as Keras's `update_confusion_matrix_variables` does.
/// How confusion counts treat the last axis of the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LabelAxis {
    /// Every element is one data point: counts `[T]`.
    Flat,
    /// One curve per label column of `[samples, labels]` data (Keras's `multi_label`):
    /// counts `[T, labels]`, the label count given or taken from the first update.
    PerLabel(Option<usize>),
}

struct Confusion {
    name: String,
    /// `[T]` float32, made once on the device at construction.
    thresholds: Tensor,
    top_k: Option<usize>,
    class_id: Option<usize>,
    /// Clip predictions to [0, 1] first (Keras's path for evenly spaced thresholds).
    clip: bool,
    from_logits: bool,
    labels: LabelAxis,
    /// `[labels]`: weights of each label's data points (`label_weights` in flat counts).
    label_weights: Option<Tensor>,
    /// Which of true/false positives, true/false negatives are kept.
    which: [bool; 4],
    /// `[tp, fp, tn, fn]`, `None` where not kept; empty until built (per-label counts of an
    /// unknown label count build on the first update).
    state: RefCell<Vec<Option<Variable>>>,
}

const TP: usize = 0;
const FP: usize = 1;
const TN: usize = 2;
const FN: usize = 3;

impl Confusion {
    #[allow(clippy::too_many_arguments)]
    fn new(
        name: &str,
        thresholds: &[f64],
        top_k: Option<usize>,
        class_id: Option<usize>,
        clip: bool,
        from_logits: bool,
        which: [bool; 4],
        labels: LabelAxis,
        label_weights: Option<&[f64]>,
    ) -> Result<Confusion> {
        let n = thresholds.len();
        let host: Vec<f32> = thresholds.iter().map(|&t| t as f32).collect();
        let thresholds = crate::graph::init_scope(|| Tensor::from_slice(&host, [n]))?;
        let label_weights = match label_weights {
            Some(w) => {
                if let Some(bad) = w.iter().find(|w| w.is_nan() || **w < 0.0) {
                    return Err(Error::invalid(
                        name,
                        format!("label_weights must be non-negative, got {bad}"),
                    ));
                }
                if let LabelAxis::PerLabel(Some(l)) = labels
                    && l != w.len()
                {
                    return Err(Error::invalid(
                        name,
                        format!(
                            "num_labels is {l} but label_weights has {} weights",
                            w.len()
                        ),
                    ));
                }
                let host: Vec<f32> = w.iter().map(|&w| w as f32).collect();
                Some(crate::graph::init_scope(|| {
                    Tensor::from_slice(&host, [host.len()])
                })?)
            }
            None => None,
        };
        let c = Confusion {
            name: name.to_string(),
            thresholds,
            top_k,
            class_id,
            clip,
            from_logits,
            labels,
            label_weights,
            which,
            state: RefCell::new(Vec::new()),
        };
        match labels {
            LabelAxis::Flat => c.build(None)?,
            LabelAxis::PerLabel(Some(l)) => c.build(Some(l))?,
            LabelAxis::PerLabel(None) => {}
        }
        Ok(c)
    }

    /// Creates the counts: `[T]`, or `[T, labels]`.
    fn build(&self, labels: Option<usize>) -> Result<()> {
        const NAMES: [&str; 4] = [
            "true_positives",
            "false_positives",
            "true_negatives",
            "false_negatives",
        ];
        let mut shape = vec![self.thresholds.size()];
        shape.extend(labels);
        let state = NAMES
            .iter()
            .zip(self.which)
            .map(|(what, on)| {
                on.then(|| zero_state(&format!("{}_{what}", self.name), &shape))
                    .transpose()
            })
            .collect::<Result<Vec<_>>>()?;
        *self.state.borrow_mut() = state;
        Ok(())
    }

    fn vars(&self) -> Vec<Variable> {
        self.state.borrow().iter().flatten().cloned().collect()
    }

    /// Count `k` (`TP`, `FP`, `TN` or `FN`); `None` before the first update of per-label
    /// counts with an unknown label count.
    fn value(&self, k: usize) -> Option<Tensor> {
        let state = self.state.borrow();
        let v = state.get(k)?;
        Some(
            v.as_ref()
                .expect("state variable of this metric")
                .read_value(),
        )
    }

    /// Labels as booleans `[n]`, predictions `[n]` and weights `[n]`, flattened after
    /// Keras's rank matching, top-k filtering and class selection.
    fn prepare(
        &self,
        y_true: &Tensor,
        y_pred: &Tensor,
        sample_weight: Option<&Tensor>,
    ) -> Result<(Tensor, Tensor, Option<Tensor>)> {
        let y_true = ops::cast(y_true, DType::F32)?;
        let mut y_pred = ops::cast(y_pred, DType::F32)?;
        if self.from_logits {
            y_pred = ops::sigmoid(&y_pred)?;
        }
        let (y_pred, y_true) = squeeze_or_expand_to_same_rank(&y_pred, &y_true, true)?;
        if y_true.shape() != y_pred.shape() {
            return Err(Error::shape(
                &self.name,
                format!(
                    "labels of shape {:?} do not match predictions of shape {:?}",
                    y_true.shape(),
                    y_pred.shape()
                ),
            ));
        }
        let weight = match sample_weight {
            Some(w) => {
                let w = ops::expand_dims(&ops::cast(w, DType::F32)?, -1)?;
                Some(squeeze_or_expand_to_same_rank(&y_true, &w, false)?.1)
            }
            None => None,
        };
        let mut y_pred = match self.top_k {
            Some(k) => filter_top_k(&y_pred, k)?,
            None => y_pred,
        };
        let mut y_true = y_true;
        if let Some(c) = self.class_id {
            let classes = *y_pred.shape().last().unwrap_or(&0);
            if y_pred.rank() < 2 || c >= classes {
                return Err(Error::invalid(
                    &self.name,
                    format!(
                        "class_id {c} needs predictions of shape [samples, classes] with more \
                         than {c} classes, got shape {:?}",
                        y_pred.shape()
                    ),
                ));
            }
            let mut begin = vec![0i64; y_pred.rank()];
            let mut size = vec![-1i64; y_pred.rank()];
            begin[y_pred.rank() - 1] = c as i64;
            size[y_pred.rank() - 1] = 1;
            y_pred = ops::slice(&y_pred, &begin, &size)?;
            y_true = ops::slice(&y_true, &begin, &size)?;
        }
        if self.clip {
            y_pred = ops::clip_by_value_scalar(&y_pred, 0.0, 1.0)?;
        }
        let weight = match weight {
            Some(w) => Some(ops::broadcast_to(&w, y_pred.shape())?),
            None => None,
        };
        // Flat counts weigh each point by its label's weight (Keras's label_weights
        // without multi_label); per-label counts use them only to average the curves.
        let weight = match (&self.label_weights, self.labels) {
            (Some(lw), LabelAxis::Flat) => {
                let columns = y_pred.shape().last().copied().unwrap_or(1);
                if lw.size() != columns {
                    return Err(Error::shape(
                        &self.name,
                        format!(
                            "label_weights has {} weights but the predictions have {columns} \
                             labels (shape {:?})",
                            lw.size(),
                            y_pred.shape()
                        ),
                    ));
                }
                let lw = ops::broadcast_to(lw, y_pred.shape())?;
                Some(match weight {
                    Some(w) => ops::mul(&w, &lw)?,
                    None => lw,
                })
            }
            _ => weight,
        };
        // `[n]` points, or `[n, labels]` for per-label counts.
        let flat: Vec<i64> = match self.labels {
            LabelAxis::Flat => vec![-1],
            LabelAxis::PerLabel(_) => {
                vec![-1, y_pred.shape().last().copied().unwrap_or(1) as i64]
            }
        };
        let weight = match weight {
            Some(w) => Some(ops::reshape(&w, &flat)?),
            None => None,
        };
        let labels = ops::not_equal(
            &ops::reshape(&y_true, &flat)?,
            &ops::scalar_like(&y_true, 0.0)?,
        )?;
        Ok((labels, ops::reshape(&y_pred, &flat)?, weight))
    }

    /// Adds the batch's weighted counts: a prediction is positive at threshold `t` when
    /// it is `> t` (predictions `[1, n]` against thresholds `[T, 1]`, summed over `n`).
    fn update(
        &self,
        y_true: &Tensor,
        y_pred: &Tensor,
        sample_weight: Option<&Tensor>,
    ) -> Result<()> {
        stop_recording(|| {
            let (labels, preds, weight) = self.prepare(y_true, y_pred, sample_weight)?;
            if let LabelAxis::PerLabel(_) = self.labels {
                let got = labels.shape()[1];
                if self.state.borrow().is_empty() {
                    self.build(Some(got))?;
                }
                let built = self.vars()[0].shape()[1];
                if got != built {
                    return Err(Error::shape(
                        &self.name,
                        format!(
                            "the metric counts {built} labels but the data has {got} (shape {:?})",
                            y_pred.shape()
                        ),
                    ));
                }
            }
            // Points `[1, n(, labels)]` against thresholds `[T, 1(, 1)]`, summed over `n`.
            let lead = |t: &Tensor| ops::expand_dims(t, 0);
            let mut th = vec![-1i64];
            th.extend(std::iter::repeat_n(1, labels.rank()));
            let label_pos = lead(&labels)?;
            let label_neg = ops::logical_not(&label_pos)?;
            let pred_pos = ops::greater(&lead(&preds)?, &ops::reshape(&self.thresholds, &th)?)?;
            let pred_neg = ops::logical_not(&pred_pos)?;
            let weight = match weight {
                Some(w) => Some(lead(&w)?),
                None => None,
            };
            let count = |label: &Tensor, pred: &Tensor| -> Result<Tensor> {
                let both = ops::logical_and(label, pred)?;
                let v = match &weight {
                    Some(w) => ops::where_(&both, w, &ops::scalar_like(w, 0.0)?)?,
                    None => ops::cast(&both, DType::F32)?,
                };
                ops::reduce_sum(&v, 1, false)
            };
            let state = self.state.borrow().clone();
            let pairs = [
                (&label_pos, &pred_pos),
                (&label_neg, &pred_pos),
                (&label_neg, &pred_neg),
                (&label_pos, &pred_neg),
            ];
            for (v, (label, pred)) in state.iter().zip(pairs) {
                if let Some(v) = v {
                    v.assign_add(&count(label, pred)?)?;
                }
            }
            Ok(())
        })
        .map_err(|e| in_metric(e, &self.name))
    }

    fn reset(&self) -> Result<()> {
        let vars = self.vars();
        reset(&vars.iter().collect::<Vec<_>>())
    }
}

fn check_thresholds(op: &str, thresholds: &[f64]) -> Result<()> {
    if thresholds.is_empty() {
        return Err(Error::invalid(op, "thresholds must not be empty"));
    }
    if let Some(t) = thresholds.iter().find(|t| !(0.0..=1.0).contains(*t)) {
        return Err(Error::invalid(
            op,
            format!("threshold values must be in [0, 1], got {t}"),
        ));
    }
    Ok(())
}

/// Options of [`Precision`] and [`Recall`] (Keras's constructor arguments).
#[derive(Clone, Debug, Default)]
pub struct PrecisionRecallOptions {
    /// Predictions above a threshold count as positive; one result per threshold
    /// (default `[0.5]`, or Keras's `NEG_INF` with `top_k`). Values in [0, 1].
    pub thresholds: Option<Vec<f64>>,
    /// Only the `k` top-scoring classes of each sample count as predicted positive.
    pub top_k: Option<usize>,
    /// Only this class (the last axis's index) is scored.
    pub class_id: Option<usize>,
    /// The metric's name (`"precision"` / `"recall"` by default).
    pub name: Option<String>,
}

impl PrecisionRecallOptions {
    fn confusion(&self, default_name: &str, which: [bool; 4]) -> Result<Confusion> {
        let name = self.name.as_deref().unwrap_or(default_name);
        let thresholds = match &self.thresholds {
            Some(t) => {
                check_thresholds(name, t)?;
                t.clone()
            }
            None if self.top_k.is_some() => vec![NEG_INF],
            None => vec![0.5],
        };
        if self.top_k == Some(0) {
            return Err(Error::invalid(name, "top_k must be at least 1"));
        }
        Confusion::new(
            name,
            &thresholds,
            self.top_k,
            self.class_id,
            false,
            false,
            which,
            LabelAxis::Flat,
            None,
        )
    }
}

/// One value when there is one threshold, else one per threshold.
fn per_threshold(v: Tensor) -> Result<Tensor> {
    if v.size() == 1 {
        ops::reshape(&v, &[])
    } else {
        Ok(v)
    }
}

macro_rules! confusion_metric {
    ($(#[$doc:meta])* $name:ident, $keras:literal, $which:expr, |$c:ident| $result:expr) => {
        $(#[$doc])*
        pub struct $name(Confusion);

        impl $name {
            /// With Keras's defaults (threshold 0.5).
            pub fn new() -> Self {
                Self::with_options(PrecisionRecallOptions::default())
                    .expect("metric state on the current device")
            }
            /// With thresholds, `top_k`, `class_id` or a name; thresholds outside [0, 1]
            /// and `top_k == 0` are errors.
            pub fn with_options(options: PrecisionRecallOptions) -> Result<Self> {
                Ok($name(options.confusion($keras, $which)?))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::new()
            }
        }

        impl Metric for $name {
            fn name(&self) -> &str {
                &self.0.name
            }
            /// Labels with `y_pred`'s shape (cast to bool), predictions in [0, 1];
            /// `sample_weight` broadcasts to the labels.
            fn update_state(&self, t: &Tensor, p: &Tensor, w: Option<&Tensor>) -> Result<()> {
                self.0.update(t, p, w)
            }
            fn result_tensor(&self) -> Result<Tensor> {
                let $c = &self.0;
                stop_recording(|| per_threshold($result?))
            }
            fn reset_state(&self) -> Result<()> {
                self.0.reset()
            }
            fn variables(&self) -> Vec<Variable> {
                self.0.vars()
            }
        }
    };
}

/// A count of flat confusion counts (always built).
fn count_value(c: &Confusion, k: usize) -> Tensor {
    c.value(k).expect("flat counts are built with the metric")
}

confusion_metric!(
    /// `true_positives / (true_positives + false_positives)` over all batches (Keras's
    /// `Precision`): state `true_positives` and `false_positives`, one per threshold.
    Precision,
    "precision",
    [true, true, false, false],
    |c| {
        let tp = count_value(c, TP);
        divide_no_nan(&tp, &ops::add(&tp, &count_value(c, FP))?)
    }
);
confusion_metric!(
    /// `true_positives / (true_positives + false_negatives)` over all batches (Keras's
    /// `Recall`): state `true_positives` and `false_negatives`, one per threshold.
    Recall,
    "recall",
    [true, false, false, true],
    |c| {
        let tp = count_value(c, TP);
        divide_no_nan(&tp, &ops::add(&tp, &count_value(c, FN))?)
    }
);

/// Which curve [`AUC`] integrates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AucCurve {
    /// True-positive rate against false-positive rate (Keras's default).
    #[default]
    Roc,
    /// Precision against recall.
    Pr,
}

/// How [`AUC`] sums the areas between thresholds (Keras's `summation_method`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AucSummation {
    /// Mid-point rule for ROC; for PR, Davis & Goadrich's interpolation (the default).
    #[default]
    Interpolation,
    /// The smaller of each interval's two heights.
    Minoring,
    /// The larger of each interval's two heights.
    Majoring,
}

/// Options of [`AUC`] (Keras's constructor arguments).
#[derive(Clone, Debug)]
pub struct AucOptions {
    /// Thresholds spread evenly over [0, 1] (200; at least 2). Ignored with `thresholds`.
    pub num_thresholds: usize,
    pub curve: AucCurve,
    pub summation_method: AucSummation,
    /// Explicit thresholds in [0, 1]; `-ε` and `1 + ε` are added at the ends.
    pub thresholds: Option<Vec<f64>>,
    /// Predictions are logits (a sigmoid is applied first).
    pub from_logits: bool,
    /// Data `[samples, labels]` holds independent labels: one curve per label column,
    /// averaged (Keras's `multi_label`). Otherwise every element is one point of one curve.
    pub multi_label: bool,
    /// The label count of `multi_label` data; taken from the first update when `None`.
    pub num_labels: Option<usize>,
    /// One non-negative weight per label: with `multi_label` the weights of the average
    /// of the label curves, without it the weights of each label's points.
    pub label_weights: Option<Vec<f64>>,
    /// The metric's name (`"auc"` by default).
    pub name: Option<String>,
}

impl Default for AucOptions {
    fn default() -> Self {
        AucOptions {
            num_thresholds: 200,
            curve: AucCurve::Roc,
            summation_method: AucSummation::Interpolation,
            thresholds: None,
            from_logits: false,
            multi_label: false,
            num_labels: None,
            label_weights: None,
            name: None,
        }
    }
}

/// The area under the ROC or precision-recall curve, approximated by a Riemann sum over
/// thresholds (Keras's `AUC`). State: `true_positives`, `false_positives`,
/// `true_negatives`, `false_negatives`, one per threshold (and per label with
/// `multi_label`); an update compares the batch's `n` predictions against all `T`
/// thresholds at once (`T × n` elements on the device).
pub struct AUC {
    c: Confusion,
    curve: AucCurve,
    summation: AucSummation,
}

impl AUC {
    /// With Keras's defaults: 200 thresholds, ROC, interpolation.
    pub fn new() -> Self {
        AUC::with_options(AucOptions::default()).expect("metric state on the current device")
    }

    /// With other options; fewer than 2 thresholds or thresholds outside [0, 1] are
    /// errors.
    pub fn with_options(options: AucOptions) -> Result<Self> {
        let name = options.name.as_deref().unwrap_or("auc");
        let inner: Vec<f64> = match &options.thresholds {
            Some(t) => {
                check_thresholds(name, t)?;
                let mut t = t.clone();
                t.sort_by(f64::total_cmp);
                t
            }
            None => {
                let n = options.num_thresholds;
                if n <= 1 {
                    return Err(Error::invalid(
                        name,
                        format!("num_thresholds must be an integer > 1, got {n}"),
                    ));
                }
                (0..n - 2)
                    .map(|i| (i + 1) as f64 / (n - 1) as f64)
                    .collect()
            }
        };
        // Keras's is_evenly_distributed_thresholds on [0] + inner + [1]: that case takes
        // its bucketed path, which clips predictions to [0, 1].
        let mut with_ends = vec![0.0];
        with_ends.extend(&inner);
        with_ends.push(1.0);
        let m = with_ends.len();
        let evenly = m >= 3
            && with_ends.iter().enumerate().all(|(i, &t)| {
                let e = (i as f32 / (m - 1) as f32) as f64;
                (t - e).abs() <= EPSILON + 1e-5 * e.abs()
            });
        let mut thresholds = vec![-EPSILON];
        thresholds.extend(&inner);
        thresholds.push(1.0 + EPSILON);
        Ok(AUC {
            c: Confusion::new(
                name,
                &thresholds,
                None,
                None,
                evenly,
                options.from_logits,
                [true, true, true, true],
                if options.multi_label {
                    LabelAxis::PerLabel(options.num_labels)
                } else {
                    LabelAxis::Flat
                },
                options.label_weights.as_deref(),
            )?,
            curve: options.curve,
            summation: options.summation_method,
        })
    }

    /// The thresholds, with the end points `-ε` and `1 + ε`.
    pub fn thresholds(&self) -> Result<Vec<f64>> {
        self.c.thresholds.to_f64_vec()
    }

    /// Davis & Goadrich's interpolation of the PR curve (Keras's `interpolate_pr_auc`).
    fn interpolate_pr_auc(&self, tp: &Tensor, fp: &Tensor, fn_: &Tensor) -> Result<Tensor> {
        let (head, tail) = (threshold_head, threshold_tail);
        let zero = ops::scalar_like(tp, 0.0)?;
        let dtp = ops::sub(&head(tp)?, &tail(tp)?)?;
        let p = ops::add(tp, fp)?;
        let (p_head, p_tail) = (head(&p)?, tail(&p)?);
        let dp = ops::sub(&p_head, &p_tail)?;
        let slope = divide_no_nan(&dtp, &ops::maximum(&dp, &zero)?)?;
        let intercept = ops::sub(&tail(tp)?, &ops::mul(&slope, &p_tail)?)?;
        let both_positive = ops::logical_and(
            &ops::greater(&p_head, &zero)?,
            &ops::greater(&p_tail, &zero)?,
        )?;
        let ratio = ops::where_(
            &both_positive,
            &divide_no_nan(&p_head, &ops::maximum(&p_tail, &zero)?)?,
            &ops::ones_like(&p_tail)?,
        )?;
        let increment = divide_no_nan(
            &ops::mul(
                &slope,
                &ops::add(&dtp, &ops::mul(&intercept, &ops::log(&ratio)?)?)?,
            )?,
            &ops::maximum(&ops::add(&tail(tp)?, &tail(fn_)?)?, &zero)?,
        )?;
        self.total(&increment)
    }

    /// The area from its per-interval terms `[T - 1]` or `[T - 1, labels]`: their sum, or
    /// with `multi_label` the mean (or `label_weights`-weighted mean) of each label's sum.
    fn total(&self, terms: &Tensor) -> Result<Tensor> {
        if self.c.labels == LabelAxis::Flat {
            return ops::reduce_sum(terms, Axes::All, false);
        }
        let by_label = ops::reduce_sum(terms, 0, false)?;
        match &self.c.label_weights {
            None => ops::reduce_mean(&by_label, Axes::All, false),
            Some(w) => divide_no_nan(
                &ops::reduce_sum(&ops::mul(&by_label, w)?, Axes::All, false)?,
                &ops::reduce_sum(w, Axes::All, false)?,
            ),
        }
    }
}

/// Counts at thresholds `0..T-1` (the first axis of `[T]` or `[T, labels]`).
fn threshold_head(v: &Tensor) -> Result<Tensor> {
    threshold_rows(v, 0)
}

/// Counts at thresholds `1..T`.
fn threshold_tail(v: &Tensor) -> Result<Tensor> {
    threshold_rows(v, 1)
}

fn threshold_rows(v: &Tensor, start: i64) -> Result<Tensor> {
    let mut begin = vec![0i64; v.rank()];
    let mut size = vec![-1i64; v.rank()];
    begin[0] = start;
    size[0] = v.shape()[0] as i64 - 1;
    ops::slice(v, &begin, &size)
}

impl Default for AUC {
    fn default() -> Self {
        AUC::new()
    }
}

impl Metric for AUC {
    fn name(&self) -> &str {
        &self.c.name
    }
    /// Labels with `y_pred`'s shape (cast to bool), predictions in [0, 1] (or logits
    /// with `from_logits`); every element is one data point.
    fn update_state(&self, t: &Tensor, p: &Tensor, w: Option<&Tensor>) -> Result<()> {
        self.c.update(t, p, w)
    }
    fn result_tensor(&self) -> Result<Tensor> {
        stop_recording(|| {
            let (Some(tp), Some(fp), Some(tn), Some(fn_)) = (
                self.c.value(TP),
                self.c.value(FP),
                self.c.value(TN),
                self.c.value(FN),
            ) else {
                // Per-label counts not built yet: no data seen.
                return crate::graph::init_scope(|| ops::zeros([], DType::F32));
            };
            if self.curve == AucCurve::Pr && self.summation == AucSummation::Interpolation {
                return self.interpolate_pr_auc(&tp, &fp, &fn_);
            }
            let recall = divide_no_nan(&tp, &ops::add(&tp, &fn_)?)?;
            let (x, y) = match self.curve {
                AucCurve::Roc => (divide_no_nan(&fp, &ops::add(&fp, &tn)?)?, recall),
                AucCurve::Pr => (recall, divide_no_nan(&tp, &ops::add(&tp, &fp)?)?),
            };
            let (y_head, y_tail) = (threshold_head(&y)?, threshold_tail(&y)?);
            let heights = match self.summation {
                AucSummation::Interpolation => ops::mul(
                    &ops::add(&y_head, &y_tail)?,
                    &ops::scalar_like(&y_head, 0.5)?,
                )?,
                AucSummation::Minoring => ops::minimum(&y_head, &y_tail)?,
                AucSummation::Majoring => ops::maximum(&y_head, &y_tail)?,
            };
            let widths = ops::sub(&threshold_head(&x)?, &threshold_tail(&x)?)?;
            self.total(&ops::mul(&widths, &heights)?)
        })
    }
    fn reset_state(&self) -> Result<()> {
        self.c.reset()
    }
    fn variables(&self) -> Vec<Variable> {
        self.c.vars()
    }
}

/// A metric by Keras's name. `"accuracy"` (or `"acc"`) picks the accuracy that fits the
/// loss named `loss`, as `compile` does in Keras.
pub fn get(name: &str, loss: &str) -> Result<std::rc::Rc<dyn Metric>> {
    use std::rc::Rc;
    Ok(match name {
        "accuracy" | "acc" => {
            if loss.contains("sparse_categorical") {
                Rc::new(SparseCategoricalAccuracy::named(name))
            } else if loss.contains("categorical") {
                Rc::new(CategoricalAccuracy::named(name))
            } else if loss.contains("binary") {
                Rc::new(BinaryAccuracy::named(name, 0.5))
            } else {
                Rc::new(Accuracy::named(name))
            }
        }
        "sparse_categorical_accuracy" => Rc::new(SparseCategoricalAccuracy::new()),
        "categorical_accuracy" => Rc::new(CategoricalAccuracy::new()),
        "binary_accuracy" => Rc::new(BinaryAccuracy::new()),
        "top_k_categorical_accuracy" => Rc::new(TopKCategoricalAccuracy::new()),
        "sparse_top_k_categorical_accuracy" => Rc::new(SparseTopKCategoricalAccuracy::new()),
        "precision" => Rc::new(Precision::with_options(PrecisionRecallOptions::default())?),
        "recall" => Rc::new(Recall::with_options(PrecisionRecallOptions::default())?),
        "auc" => Rc::new(AUC::with_options(AucOptions::default())?),
        // Named as given (`"mae"` logs as `mae`), as Keras wraps a metric function.
        "mse" | "mean_squared_error" => Rc::new(MeanMetricWrapper::new(
            name,
            crate::keras::losses::mean_squared_error,
        )?),
        "mae" | "mean_absolute_error" => Rc::new(MeanMetricWrapper::new(
            name,
            crate::keras::losses::mean_absolute_error,
        )?),
        other => {
            return Err(Error::invalid(
                "metrics.get",
                format!("unknown metric '{other}'"),
            ));
        }
    })
}
