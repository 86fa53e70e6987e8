//! Losses (`keras.losses`): classes implementing [`Loss`] with Keras's reductions, and the
//! per-sample functions they are built from (`mean_squared_error`, ...).
//!
//! ```
//! use wgflow::keras::losses::{Loss, MeanSquaredError};
//! use wgflow::Tensor;
//! let y_true = Tensor::from_slice(&[0.0f32, 1.0, 0.0, 0.0], [2, 2]).unwrap();
//! let y_pred = Tensor::from_slice(&[1.0f32, 1.0, 1.0, 0.0], [2, 2]).unwrap();
//! let loss = MeanSquaredError::new().compute(&y_true, &y_pred, None).unwrap();
//! assert_eq!(loss.to_scalar::<f32>().unwrap(), 0.5);
//! ```

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::{self, Axes};
use crate::tensor::Tensor;

/// How per-sample losses become the loss (Keras's `reduction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reduction {
    /// The weighted sum divided by the number of samples (Keras's default).
    #[default]
    SumOverBatchSize,
    /// The weighted sum.
    Sum,
    /// The weighted sum divided by the sum of the weights.
    Mean,
    /// No reduction: the per-sample losses.
    None,
}

/// A loss: `call` gives per-sample values, `compute` weights and reduces them.
/// Implement `call` (and `name`) for a custom loss.
pub trait Loss {
    /// Keras's name (`"mean_squared_error"`).
    fn name(&self) -> &str;
    /// Per-sample losses: `y_pred`'s shape without its last axis (for most losses).
    fn call(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor>;
    fn reduction(&self) -> Reduction {
        Reduction::SumOverBatchSize
    }
    /// The loss (Keras's `loss(y_true, y_pred, sample_weight)`): per-sample values times
    /// `sample_weight` (broadcast), reduced by [`Loss::reduction`].
    fn compute(
        &self,
        y_true: &Tensor,
        y_pred: &Tensor,
        sample_weight: Option<&Tensor>,
    ) -> Result<Tensor> {
        let per_sample = self.call(y_true, y_pred)?;
        reduce_weighted(&per_sample, sample_weight, self.reduction())
    }
}

/// Keras's `squeeze_or_expand_to_same_rank`: when the ranks differ by one and the longer
/// one ends in an axis of 1, squeeze it (or, with `expand_rank_1`, expand a rank-1
/// partner instead).
pub(crate) fn squeeze_or_expand_to_same_rank(
    x1: &Tensor,
    x2: &Tensor,
    expand_rank_1: bool,
) -> Result<(Tensor, Tensor)> {
    let (r1, r2) = (x1.rank(), x2.rank());
    let (mut a, mut b) = (x1.clone(), x2.clone());
    if r1 == r2 + 1 && x1.shape().last() == Some(&1) {
        if r2 == 1 && expand_rank_1 {
            b = ops::expand_dims(&b, -1)?;
        } else {
            a = ops::squeeze(&a, &[-1])?;
        }
    }
    if r2 == r1 + 1 && x2.shape().last() == Some(&1) {
        if r1 == 1 && expand_rank_1 {
            a = ops::expand_dims(&a, -1)?;
        } else {
            b = ops::squeeze(&b, &[-1])?;
        }
    }
    Ok((a, b))
}

/// Weights and reduces per-sample losses as Keras does.
pub fn reduce_weighted(
    per_sample: &Tensor,
    sample_weight: Option<&Tensor>,
    reduction: Reduction,
) -> Result<Tensor> {
    // Weights of shape [batch, 1] against losses of shape [batch] (and the reverse) line
    // up as in Keras instead of broadcasting to [batch, batch].
    let (per_sample, sample_weight) = match sample_weight {
        Some(w) => {
            let w = ops::cast(w, per_sample.dtype())?;
            let (p, w) = squeeze_or_expand_to_same_rank(per_sample, &w, true)?;
            (p, Some(w))
        }
        None => (per_sample.clone(), None),
    };
    let (per_sample, sample_weight) = (&per_sample, sample_weight.as_ref());
    let weighted = match sample_weight {
        Some(w) => ops::mul(per_sample, w)?,
        None => per_sample.clone(),
    };
    match reduction {
        Reduction::None => Ok(weighted),
        Reduction::Sum => ops::reduce_sum(&weighted, Axes::All, false),
        Reduction::SumOverBatchSize => {
            if weighted.size() == 0 {
                return ops::scalar_like(&weighted, 0.0);
            }
            ops::reduce_mean(&weighted, Axes::All, false)
        }
        Reduction::Mean => {
            let total = ops::reduce_sum(&weighted, Axes::All, false)?;
            let w = match sample_weight {
                Some(w) => ops::reduce_sum(
                    &ops::mul(
                        &ops::ones_like(per_sample)?,
                        &ops::cast(w, per_sample.dtype())?,
                    )?,
                    Axes::All,
                    false,
                )?,
                None => ops::scalar_like(per_sample, per_sample.size() as f64)?,
            };
            ops::div(&total, &w)
        }
    }
}

fn check_same_shape(op: &str, y_true: &Tensor, y_pred: &Tensor) -> Result<()> {
    if y_true.shape() != y_pred.shape() {
        return Err(Error::shape(
            op,
            format!(
                "y_true has shape {:?} but y_pred has shape {:?}",
                y_true.shape(),
                y_pred.shape()
            ),
        ));
    }
    Ok(())
}

fn float(t: &Tensor) -> Result<Tensor> {
    match t.dtype() {
        DType::F32 => Ok(t.clone()),
        _ => ops::cast(t, DType::F32),
    }
}

/// `mean((y_true - y_pred)², axis=-1)`.
pub fn mean_squared_error(y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
    let y_true = float(y_true)?;
    check_same_shape("mean_squared_error", &y_true, y_pred)?;
    ops::reduce_mean(&ops::square(&ops::sub(y_pred, &y_true)?)?, -1, false)
}

/// `mean(|y_true - y_pred|, axis=-1)`.
pub fn mean_absolute_error(y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
    let y_true = float(y_true)?;
    check_same_shape("mean_absolute_error", &y_true, y_pred)?;
    ops::reduce_mean(&ops::abs(&ops::sub(y_pred, &y_true)?)?, -1, false)
}

/// Huber loss with threshold `delta`, averaged over the last axis.
pub fn huber(y_true: &Tensor, y_pred: &Tensor, delta: f64) -> Result<Tensor> {
    let y_true = float(y_true)?;
    check_same_shape("huber", &y_true, y_pred)?;
    let err = ops::abs(&ops::sub(y_pred, &y_true)?)?;
    let d = ops::scalar_like(&err, delta)?;
    let quadratic = ops::mul(&ops::square(&err)?, &ops::scalar_like(&err, 0.5)?)?;
    let linear = ops::sub(
        &ops::mul(&d, &err)?,
        &ops::scalar_like(&err, 0.5 * delta * delta)?,
    )?;
    let l = ops::where_(&ops::less_equal(&err, &d)?, &quadratic, &linear)?;
    ops::reduce_mean(&l, -1, false)
}

/// Cross-entropy of integer labels `[..]` against class scores `[.., classes]`.
pub fn sparse_categorical_crossentropy(
    y_true: &Tensor,
    y_pred: &Tensor,
    from_logits: bool,
) -> Result<Tensor> {
    const OP: &str = "sparse_categorical_crossentropy";
    let labels = match y_true.dtype() {
        DType::I32 => y_true.clone(),
        DType::U32 => ops::cast(y_true, DType::I32)?,
        DType::F32 => ops::cast(y_true, DType::I32)?,
        other => {
            return Err(Error::dtype(
                OP,
                format!("labels must be integers, got {other}"),
            ));
        }
    };
    // Keras accepts labels of shape [batch, 1].
    let labels = if labels.rank() == y_pred.rank() && labels.shape().last() == Some(&1) {
        let s: Vec<i64> = labels.shape()[..labels.rank() - 1]
            .iter()
            .map(|&d| d as i64)
            .collect();
        ops::reshape(&labels, &s)?
    } else {
        labels
    };
    if labels.rank() + 1 != y_pred.rank() || labels.shape() != &y_pred.shape()[..labels.rank()] {
        return Err(Error::shape(
            OP,
            format!(
                "labels of shape {:?} do not fit predictions of shape {:?} (expected labels \
                 of shape {:?})",
                y_true.shape(),
                y_pred.shape(),
                &y_pred.shape()[..y_pred.rank().saturating_sub(1)]
            ),
        ));
    }
    let logits = if from_logits {
        y_pred.clone()
    } else {
        probabilities_to_logits(y_pred)?
    };
    ops::sparse_softmax_cross_entropy_with_logits(&labels, &logits)
}

/// Keras's treatment of probabilities: clip to `[ε, 1-ε]` and take the log (a valid
/// logits for the softmax cross-entropy, since the probabilities sum to one).
fn probabilities_to_logits(p: &Tensor) -> Result<Tensor> {
    const EPSILON: f64 = 1e-7;
    let sum = ops::reduce_sum(p, -1, true)?;
    let p = ops::div(p, &sum)?;
    ops::log(&ops::clip_by_value_scalar(&p, EPSILON, 1.0 - EPSILON)?)
}

/// Cross-entropy of one-hot (or soft) labels against class scores, with label smoothing.
pub fn categorical_crossentropy(
    y_true: &Tensor,
    y_pred: &Tensor,
    from_logits: bool,
    label_smoothing: f64,
) -> Result<Tensor> {
    let y_true = float(y_true)?;
    check_same_shape("categorical_crossentropy", &y_true, y_pred)?;
    let y_true = if label_smoothing > 0.0 {
        let classes = *y_pred.shape().last().unwrap_or(&1) as f64;
        ops::add(
            &ops::mul(&y_true, &ops::scalar_like(&y_true, 1.0 - label_smoothing)?)?,
            &ops::scalar_like(&y_true, label_smoothing / classes)?,
        )?
    } else {
        y_true
    };
    let logits = if from_logits {
        y_pred.clone()
    } else {
        probabilities_to_logits(y_pred)?
    };
    ops::softmax_cross_entropy_with_logits(&y_true, &logits, -1)
}

/// Binary cross-entropy averaged over the last axis, with label smoothing.
pub fn binary_crossentropy(
    y_true: &Tensor,
    y_pred: &Tensor,
    from_logits: bool,
    label_smoothing: f64,
) -> Result<Tensor> {
    let y_true = float(y_true)?;
    check_same_shape("binary_crossentropy", &y_true, y_pred)?;
    let y_true = if label_smoothing > 0.0 {
        ops::add(
            &ops::mul(&y_true, &ops::scalar_like(&y_true, 1.0 - label_smoothing)?)?,
            &ops::scalar_like(&y_true, 0.5 * label_smoothing)?,
        )?
    } else {
        y_true
    };
    let per_element = if from_logits {
        ops::sigmoid_cross_entropy_with_logits(&y_true, y_pred)?
    } else {
        // Keras: clip to [ε, 1-ε], then -(y log p + (1-y) log(1-p)).
        let p = ops::clip_by_value_scalar(y_pred, 1e-7, 1.0 - 1e-7)?;
        let one = ops::scalar_like(&p, 1.0)?;
        let pos = ops::mul(&y_true, &ops::log(&p)?)?;
        let neg = ops::mul(&ops::sub(&one, &y_true)?, &ops::log(&ops::sub(&one, &p)?)?)?;
        ops::neg(&ops::add(&pos, &neg)?)?
    };
    ops::reduce_mean(&per_element, -1, false)
}

macro_rules! loss_struct {
    ($(#[$doc:meta])* $name:ident, $keras:literal { $($field:ident : $ty:ty = $default:expr),* } |$s:ident, $t:ident, $p:ident| $body:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug)]
        pub struct $name {
            reduction: Reduction,
            $($field: $ty,)*
        }

        impl $name {
            pub fn new() -> Self {
                $name { reduction: Reduction::default(), $($field: $default,)* }
            }
            pub fn reduction(mut self, r: Reduction) -> Self {
                self.reduction = r;
                self
            }
            $(
                pub fn $field(mut self, v: $ty) -> Self {
                    self.$field = v;
                    self
                }
            )*
        }

        impl Default for $name {
            fn default() -> Self {
                $name::new()
            }
        }

        impl Loss for $name {
            fn name(&self) -> &str {
                $keras
            }
            fn call(&$s, $t: &Tensor, $p: &Tensor) -> Result<Tensor> {
                $body
            }
            fn reduction(&self) -> Reduction {
                self.reduction
            }
        }
    };
}

loss_struct!(
    /// Mean squared error over the last axis.
    MeanSquaredError, "mean_squared_error" {} |self, t, p| mean_squared_error(t, p)
);
loss_struct!(
    /// Mean absolute error over the last axis.
    MeanAbsoluteError, "mean_absolute_error" {} |self, t, p| mean_absolute_error(t, p)
);
loss_struct!(
    /// Huber loss (`delta` 1 by default).
    Huber, "huber_loss" { delta: f64 = 1.0 } |self, t, p| huber(t, p, self.delta)
);
loss_struct!(
    /// Cross-entropy of integer labels (`from_logits` for unnormalized scores).
    SparseCategoricalCrossentropy, "sparse_categorical_crossentropy" { from_logits: bool = false }
    |self, t, p| sparse_categorical_crossentropy(t, p, self.from_logits)
);
loss_struct!(
    /// Cross-entropy of one-hot labels, with `label_smoothing`.
    CategoricalCrossentropy, "categorical_crossentropy" { from_logits: bool = false, label_smoothing: f64 = 0.0 }
    |self, t, p| categorical_crossentropy(t, p, self.from_logits, self.label_smoothing)
);
loss_struct!(
    /// Binary cross-entropy, with `label_smoothing`.
    BinaryCrossentropy, "binary_crossentropy" { from_logits: bool = false, label_smoothing: f64 = 0.0 }
    |self, t, p| binary_crossentropy(t, p, self.from_logits, self.label_smoothing)
);

type LossClosure = dyn Fn(&Tensor, &Tensor) -> Result<Tensor>;

/// A loss from a closure giving per-sample values (Keras's `loss=my_function`).
pub struct LossFunction {
    name: String,
    f: Box<LossClosure>,
    reduction: Reduction,
}

impl LossFunction {
    pub fn new(name: &str, f: impl Fn(&Tensor, &Tensor) -> Result<Tensor> + 'static) -> Self {
        LossFunction {
            name: name.to_string(),
            f: Box::new(f),
            reduction: Reduction::default(),
        }
    }
    pub fn reduction(mut self, r: Reduction) -> Self {
        self.reduction = r;
        self
    }
}

impl Loss for LossFunction {
    fn name(&self) -> &str {
        &self.name
    }
    fn call(&self, y_true: &Tensor, y_pred: &Tensor) -> Result<Tensor> {
        (self.f)(y_true, y_pred)
    }
    fn reduction(&self) -> Reduction {
        self.reduction
    }
}

/// A loss by Keras's name or alias (`"mse"`, `"sparse_categorical_crossentropy"`, ...).
pub fn get(name: &str) -> Result<Box<dyn Loss>> {
    Ok(match name {
        "mse" | "mean_squared_error" => Box::new(MeanSquaredError::new()),
        "mae" | "mean_absolute_error" => Box::new(MeanAbsoluteError::new()),
        "huber" | "huber_loss" => Box::new(Huber::new()),
        "sparse_categorical_crossentropy" => Box::new(SparseCategoricalCrossentropy::new()),
        "categorical_crossentropy" => Box::new(CategoricalCrossentropy::new()),
        "binary_crossentropy" => Box::new(BinaryCrossentropy::new()),
        other => {
            return Err(Error::invalid(
                "losses.get",
                format!("unknown loss '{other}'"),
            ));
        }
    })
}
