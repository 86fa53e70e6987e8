//! Metrics (`keras.metrics`): stateful accumulators with `update_state` / `result` /
//! `reset_state`. Their state lives in variables on the device, so `update_state` is a few
//! device ops (traced into `fit`'s train step) and only `result` reads a value back.
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
use crate::ops::{self, Axes};
use crate::tensor::Tensor;

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

    /// Adds `values` (any shape) with optional `sample_weight` (broadcast to them).
    pub fn update(&self, values: &Tensor, sample_weight: Option<&Tensor>) -> Result<()> {
        stop_recording(|| {
            let values = ops::cast(values, DType::F32)?;
            let (sum, count) = match sample_weight {
                Some(w) => {
                    let w = ops::mul(&ops::cast(w, DType::F32)?, &ops::ones_like(&values)?)?;
                    (
                        ops::reduce_sum(&ops::mul(&values, &w)?, Axes::All, false)?,
                        ops::reduce_sum(&w, Axes::All, false)?,
                    )
                }
                None => (
                    ops::reduce_sum(&values, Axes::All, false)?,
                    ops::scalar_like(&values, values.size() as f64)?,
                ),
            };
            self.total.assign_add(&sum)?;
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
        let values = stop_recording(|| (self.f)(y_true, y_pred))?;
        self.mean.update(&values, w)
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

impl Metric for BinaryAccuracy {
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
        "mse" | "mean_squared_error" => Rc::new(MeanMetricWrapper::new(
            "mean_squared_error",
            crate::keras::losses::mean_squared_error,
        )?),
        "mae" | "mean_absolute_error" => Rc::new(MeanMetricWrapper::new(
            "mean_absolute_error",
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
