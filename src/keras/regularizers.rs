//! Weight regularizers (`keras.regularizers`): a penalty on a weight that `fit` adds to the
//! loss (`model.losses()`).

use crate::error::Result;
use crate::ops::{self, Axes};
use crate::tensor::Tensor;

/// `l1 * sum(|w|) + l2 * sum(w²)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Regularizer {
    pub l1: f32,
    pub l2: f32,
}

impl Regularizer {
    pub fn l1(l1: f32) -> Self {
        Regularizer { l1, l2: 0.0 }
    }
    pub fn l2(l2: f32) -> Self {
        Regularizer { l1: 0.0, l2 }
    }
    pub fn l1_l2(l1: f32, l2: f32) -> Self {
        Regularizer { l1, l2 }
    }

    /// The penalty for `w`, a scalar.
    pub fn penalty(&self, w: &Tensor) -> Result<Tensor> {
        let mut total = ops::scalar_like(w, 0.0)?;
        if self.l1 != 0.0 {
            let s = ops::reduce_sum(&ops::abs(w)?, Axes::All, false)?;
            total = ops::add(
                &total,
                &ops::mul(&s, &ops::scalar_like(w, self.l1 as f64)?)?,
            )?;
        }
        if self.l2 != 0.0 {
            let s = ops::reduce_sum(&ops::square(w)?, Axes::All, false)?;
            total = ops::add(
                &total,
                &ops::mul(&s, &ops::scalar_like(w, self.l2 as f64)?)?,
            )?;
        }
        Ok(total)
    }
}
