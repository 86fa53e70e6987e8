//! The Embedding layer.

use super::{BuildContext, Layer, Shape};
use crate::autodiff::Variable;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::keras::initializers::Initializer;
use crate::keras::regularizers::Regularizer;
use crate::ops;
use crate::tensor::Tensor;

/// Turns integer indices into dense vectors: each index `i` of the input becomes row `i` of
/// an `[input_dim, output_dim]` weight (Keras's `Embedding`), so the output has the input's
/// shape plus a last axis of `output_dim`.
///
/// Float inputs are cast to int32 first, as Keras does. An index outside `[0, input_dim)`
/// is an error naming the layer when the layer runs eagerly; inside a traced function the
/// indices are not known when the graph is built, so no such check is made there.
pub struct Embedding {
    input_dim: usize,
    output_dim: usize,
    embeddings_initializer: Initializer,
    embeddings_regularizer: Option<Regularizer>,
    embeddings: Option<Variable>,
}

impl Embedding {
    /// A vocabulary of `input_dim` indices, vectors of `output_dim`, drawn uniformly in
    /// `[-0.05, 0.05)` (Keras's default initializer).
    pub fn new(input_dim: usize, output_dim: usize) -> Embedding {
        Embedding {
            input_dim,
            output_dim,
            embeddings_initializer: Initializer::RandomUniform {
                minval: -0.05,
                maxval: 0.05,
                seed: None,
            },
            embeddings_regularizer: None,
            embeddings: None,
        }
    }
    pub fn embeddings_initializer(mut self, i: Initializer) -> Self {
        self.embeddings_initializer = i;
        self
    }
    pub fn embeddings_regularizer(mut self, r: Regularizer) -> Self {
        self.embeddings_regularizer = Some(r);
        self
    }
    pub fn input_dim(&self) -> usize {
        self.input_dim
    }
    pub fn output_dim(&self) -> usize {
        self.output_dim
    }
    /// The `[input_dim, output_dim]` table, once built.
    pub fn embeddings(&self) -> Option<&Variable> {
        self.embeddings.as_ref()
    }
}

impl Layer for Embedding {
    fn class_name(&self) -> &str {
        "Embedding"
    }
    fn build(&mut self, ctx: &mut BuildContext, _input_shapes: &[Shape]) -> Result<()> {
        if self.input_dim == 0 || self.output_dim == 0 {
            return Err(Error::invalid(
                "Embedding",
                format!(
                    "input_dim and output_dim must be positive, got {} and {}",
                    self.input_dim, self.output_dim
                ),
            ));
        }
        self.embeddings = Some(ctx.add_weight(
            "embeddings",
            &[self.input_dim, self.output_dim],
            self.embeddings_initializer.clone(),
            true,
            self.embeddings_regularizer,
        )?);
        Ok(())
    }
    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        let ids = &inputs[0];
        let ids = match ids.dtype() {
            DType::I32 | DType::U32 => ids.clone(),
            _ => ops::cast(ids, DType::I32)?,
        };
        let table = self.embeddings.as_ref().expect("built").read_value();
        ops::embedding_lookup(&table, &ids)
    }
    fn compute_output_shape(&self, input_shapes: &[Shape]) -> Option<Result<Shape>> {
        let mut s = input_shapes[0].clone();
        s.push(Some(self.output_dim));
        Some(Ok(s))
    }
    fn fixed_input_axes(&self) -> Vec<usize> {
        // Any sequence length: only the batch axis, which is always free, is "fixed" (an
        // empty list would fix the last axis, the default for layers with weights).
        vec![0]
    }
}
