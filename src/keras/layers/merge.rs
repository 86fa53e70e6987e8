//! Layers that merge several inputs: Add, Multiply, Concatenate.

use super::{Layer, Shape};
use crate::error::{Error, Result};
use crate::ops;
use crate::tensor::Tensor;

fn fold(
    name: &str,
    inputs: &[Tensor],
    f: fn(&Tensor, &Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let (first, rest) = inputs
        .split_first()
        .ok_or_else(|| Error::invalid(name, "needs at least one input"))?;
    rest.iter().try_fold(first.clone(), |acc, x| f(&acc, x))
}

/// The elementwise sum of its inputs (same shapes, or broadcastable).
pub struct Add;

impl Layer for Add {
    fn class_name(&self) -> &str {
        "Add"
    }
    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        fold("Add", inputs, ops::add)
    }
}

/// The elementwise product of its inputs.
pub struct Multiply;

impl Layer for Multiply {
    fn class_name(&self) -> &str {
        "Multiply"
    }
    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        fold("Multiply", inputs, ops::mul)
    }
}

/// Joins its inputs along `axis` (the last by default).
pub struct Concatenate {
    axis: i64,
}

impl Concatenate {
    pub fn new() -> Concatenate {
        Concatenate { axis: -1 }
    }
    pub fn axis(mut self, axis: i64) -> Self {
        self.axis = axis;
        self
    }
}

impl Default for Concatenate {
    fn default() -> Self {
        Concatenate::new()
    }
}

impl Layer for Concatenate {
    fn class_name(&self) -> &str {
        "Concatenate"
    }
    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        let refs: Vec<&Tensor> = inputs.iter().collect();
        ops::concat(&refs, self.axis)
    }
    fn compute_output_shape(&self, input_shapes: &[Shape]) -> Option<Result<Shape>> {
        let first = input_shapes.first()?;
        let rank = first.len() as i64;
        let axis = if self.axis < 0 {
            self.axis + rank
        } else {
            self.axis
        };
        if axis < 0 || axis >= rank || input_shapes.iter().any(|s| s.len() != first.len()) {
            return Some(Err(Error::shape(
                "Concatenate",
                format!(
                    "axis {} does not fit inputs of shapes {input_shapes:?}",
                    self.axis
                ),
            )));
        }
        let mut out = first.clone();
        out[axis as usize] = input_shapes
            .iter()
            .try_fold(0usize, |a, s| s[axis as usize].map(|d| a + d));
        Some(Ok(out))
    }
}
