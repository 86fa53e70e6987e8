//! Arithmetic operators. They return `Result<Tensor>` (shapes may not broadcast), so
//! expressions read `(&a + &b)?` or chain through `Result`: `((&a * 2.0)? - &b)?`.
//! A plain number takes the tensor's dtype, as a Python scalar does in TensorFlow.

use super::Tensor;
use crate::dtype::Scalar;
use crate::error::Result;
use crate::ops;
use std::ops::{Add, Div, Mul, Neg, Sub};

macro_rules! binop {
    ($tr:ident, $m:ident, $f:path) => {
        impl $tr<&Tensor> for &Tensor {
            type Output = Result<Tensor>;
            fn $m(self, o: &Tensor) -> Result<Tensor> {
                $f(self, o)
            }
        }
        impl $tr<Tensor> for Tensor {
            type Output = Result<Tensor>;
            fn $m(self, o: Tensor) -> Result<Tensor> {
                $f(&self, &o)
            }
        }
        impl $tr<&Tensor> for Tensor {
            type Output = Result<Tensor>;
            fn $m(self, o: &Tensor) -> Result<Tensor> {
                $f(&self, o)
            }
        }
        impl $tr<Tensor> for &Tensor {
            type Output = Result<Tensor>;
            fn $m(self, o: Tensor) -> Result<Tensor> {
                $f(self, &o)
            }
        }
        impl $tr<f32> for &Tensor {
            type Output = Result<Tensor>;
            fn $m(self, o: f32) -> Result<Tensor> {
                $f(self, &ops::scalar_like(self, o as f64)?)
            }
        }
        impl $tr<f32> for Tensor {
            type Output = Result<Tensor>;
            fn $m(self, o: f32) -> Result<Tensor> {
                $f(&self, &ops::scalar_like(&self, o as f64)?)
            }
        }
        impl $tr<&Tensor> for f32 {
            type Output = Result<Tensor>;
            fn $m(self, o: &Tensor) -> Result<Tensor> {
                $f(&ops::scalar_like(o, self as f64)?, o)
            }
        }
        impl $tr<Tensor> for f32 {
            type Output = Result<Tensor>;
            fn $m(self, o: Tensor) -> Result<Tensor> {
                $f(&ops::scalar_like(&o, self as f64)?, &o)
            }
        }
        impl $tr<Scalar> for &Tensor {
            type Output = Result<Tensor>;
            fn $m(self, o: Scalar) -> Result<Tensor> {
                $f(self, &Tensor::scalar_of(o, self.device())?)
            }
        }
        impl $tr<&Tensor> for Result<Tensor> {
            type Output = Result<Tensor>;
            fn $m(self, o: &Tensor) -> Result<Tensor> {
                $f(&self?, o)
            }
        }
    };
}

binop!(Add, add, ops::add);
binop!(Sub, sub, ops::sub);
binop!(Mul, mul, ops::mul);
binop!(Div, div, ops::div);

impl Neg for &Tensor {
    type Output = Result<Tensor>;
    fn neg(self) -> Result<Tensor> {
        ops::neg(self)
    }
}
impl Neg for Tensor {
    type Output = Result<Tensor>;
    fn neg(self) -> Result<Tensor> {
        ops::neg(&self)
    }
}
