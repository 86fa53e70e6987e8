//! Activations (`keras.activations`), by Keras's names.

use crate::error::{Error, Result};
use crate::ops;
use crate::tensor::Tensor;

/// An activation function a layer applies to its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Activation {
    #[default]
    Linear,
    Relu,
    Relu6,
    Sigmoid,
    Tanh,
    Softmax,
    LogSoftmax,
    Elu,
    Selu,
    Gelu,
    Silu,
    Softplus,
    Softsign,
    Exponential,
}

impl Activation {
    /// Keras's name (`"relu"`, ...).
    pub fn name(self) -> &'static str {
        use Activation::*;
        match self {
            Linear => "linear",
            Relu => "relu",
            Relu6 => "relu6",
            Sigmoid => "sigmoid",
            Tanh => "tanh",
            Softmax => "softmax",
            LogSoftmax => "log_softmax",
            Elu => "elu",
            Selu => "selu",
            Gelu => "gelu",
            Silu => "silu",
            Softplus => "softplus",
            Softsign => "softsign",
            Exponential => "exponential",
        }
    }

    /// The activation named `name` (`"relu"`, `"swish"`, `None`-like `"linear"`).
    pub fn get(name: &str) -> Result<Activation> {
        use Activation::*;
        Ok(match name {
            "linear" | "" => Linear,
            "relu" => Relu,
            "relu6" => Relu6,
            "sigmoid" => Sigmoid,
            "tanh" => Tanh,
            "softmax" => Softmax,
            "log_softmax" => LogSoftmax,
            "elu" => Elu,
            "selu" => Selu,
            "gelu" => Gelu,
            "silu" | "swish" => Silu,
            "softplus" => Softplus,
            "softsign" => Softsign,
            "exponential" => Exponential,
            other => {
                return Err(Error::invalid(
                    "activations.get",
                    format!("unknown activation '{other}'"),
                ));
            }
        })
    }

    /// Applies the activation (softmax over the last axis).
    pub fn apply(self, x: &Tensor) -> Result<Tensor> {
        use Activation::*;
        match self {
            Linear => Ok(x.clone()),
            Relu => ops::relu(x),
            Relu6 => ops::relu6(x),
            Sigmoid => ops::sigmoid(x),
            Tanh => ops::tanh(x),
            Softmax => ops::softmax(x, -1),
            LogSoftmax => ops::log_softmax(x, -1),
            Elu => ops::elu(x),
            Selu => ops::selu(x),
            Gelu => ops::gelu(x),
            Silu => ops::silu(x),
            Softplus => ops::softplus(x),
            Softsign => ops::softsign(x),
            Exponential => ops::exp(x),
        }
    }
}

impl TryFrom<&str> for Activation {
    type Error = Error;
    fn try_from(name: &str) -> Result<Activation> {
        Activation::get(name)
    }
}
