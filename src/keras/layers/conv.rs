//! Convolution and pooling layers on NHWC images (Keras's `channels_last`).

use super::{BuildContext, Layer, Shape};
use crate::autodiff::Variable;
use crate::error::{Error, Result};
use crate::keras::activations::Activation as Act;
use crate::keras::initializers::Initializer;
use crate::keras::regularizers::Regularizer;
use crate::ops::{self, Axes, Conv2dOptions, Padding, PoolOptions};
use crate::tensor::Tensor;

/// Output size of one spatial axis (TensorFlow's rule).
fn out_size(n: Option<usize>, k: usize, s: usize, d: usize, padding: Padding) -> Option<usize> {
    let n = n?;
    let eff = (k - 1) * d + 1;
    Some(match padding {
        Padding::Same => n.div_ceil(s),
        Padding::Valid => (n + 1).saturating_sub(eff).div_ceil(s),
        Padding::Explicit(_) => return None,
    })
}

fn image_shape(layer: &str, s: &Shape) -> Result<()> {
    if s.len() != 4 {
        return Err(Error::shape(
            layer,
            format!(
                "expects NHWC inputs of rank 4, got shape {}",
                super::fmt_shape(s)
            ),
        ));
    }
    Ok(())
}

/// 2-D convolution (Keras's `Conv2D`): `filters` kernels of `kernel_size`, then bias and
/// activation.
pub struct Conv2D {
    filters: usize,
    kernel_size: [usize; 2],
    strides: [usize; 2],
    padding: Padding,
    dilation_rate: [usize; 2],
    activation: Act,
    use_bias: bool,
    kernel_initializer: Initializer,
    bias_initializer: Initializer,
    kernel_regularizer: Option<Regularizer>,
    bias_regularizer: Option<Regularizer>,
    input_shape: Option<Shape>,
    kernel: Option<Variable>,
    bias: Option<Variable>,
}

impl Conv2D {
    /// `filters` outputs of a `kernel_size` square window, stride 1, `valid` padding.
    pub fn new(filters: usize, kernel_size: usize) -> Conv2D {
        Conv2D {
            filters,
            kernel_size: [kernel_size; 2],
            strides: [1, 1],
            padding: Padding::Valid,
            dilation_rate: [1, 1],
            activation: Act::Linear,
            use_bias: true,
            kernel_initializer: Initializer::glorot_uniform(),
            bias_initializer: Initializer::Zeros,
            kernel_regularizer: None,
            bias_regularizer: None,
            input_shape: None,
            kernel: None,
            bias: None,
        }
    }
    pub fn kernel_size(mut self, k: [usize; 2]) -> Self {
        self.kernel_size = k;
        self
    }
    pub fn strides(mut self, s: usize) -> Self {
        self.strides = [s, s];
        self
    }
    pub fn padding(mut self, p: Padding) -> Self {
        self.padding = p;
        self
    }
    pub fn dilation_rate(mut self, d: usize) -> Self {
        self.dilation_rate = [d, d];
        self
    }
    pub fn activation(mut self, a: Act) -> Self {
        self.activation = a;
        self
    }
    pub fn use_bias(mut self, b: bool) -> Self {
        self.use_bias = b;
        self
    }
    pub fn kernel_initializer(mut self, i: Initializer) -> Self {
        self.kernel_initializer = i;
        self
    }
    pub fn bias_initializer(mut self, i: Initializer) -> Self {
        self.bias_initializer = i;
        self
    }
    pub fn kernel_regularizer(mut self, r: Regularizer) -> Self {
        self.kernel_regularizer = Some(r);
        self
    }
    pub fn bias_regularizer(mut self, r: Regularizer) -> Self {
        self.bias_regularizer = Some(r);
        self
    }
    /// Keras's `input_shape`: per-sample `[height, width, channels]`.
    pub fn input_shape(mut self, hwc: [usize; 3]) -> Self {
        self.input_shape = Some(vec![None, Some(hwc[0]), Some(hwc[1]), Some(hwc[2])]);
        self
    }
    pub fn kernel(&self) -> Option<&Variable> {
        self.kernel.as_ref()
    }
    pub fn bias(&self) -> Option<&Variable> {
        self.bias.as_ref()
    }
}

impl Layer for Conv2D {
    fn class_name(&self) -> &str {
        "Conv2D"
    }
    fn build(&mut self, ctx: &mut BuildContext, input_shapes: &[Shape]) -> Result<()> {
        let s = &input_shapes[0];
        image_shape("Conv2D", s)?;
        let Some(channels) = s[3] else {
            return Err(Error::shape("Conv2D", "the channel axis must be known"));
        };
        let [kh, kw] = self.kernel_size;
        self.kernel = Some(ctx.add_weight(
            "kernel",
            &[kh, kw, channels, self.filters],
            self.kernel_initializer.clone(),
            true,
            self.kernel_regularizer,
        )?);
        if self.use_bias {
            self.bias = Some(ctx.add_weight(
                "bias",
                &[self.filters],
                self.bias_initializer.clone(),
                true,
                self.bias_regularizer,
            )?);
        }
        Ok(())
    }
    fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
        let options = Conv2dOptions {
            strides: self.strides,
            padding: self.padding,
            dilations: self.dilation_rate,
        };
        let kernel = self.kernel.as_ref().expect("built").read_value();
        let y = ops::conv2d(&inputs[0], &kernel, options)?;
        let y = match &self.bias {
            Some(b) => ops::bias_add(&y, &b.read_value())?,
            None => y,
        };
        self.activation.apply(&y)
    }
    fn compute_output_shape(&self, input_shapes: &[Shape]) -> Option<Result<Shape>> {
        let s = &input_shapes[0];
        if let Err(e) = image_shape("Conv2D", s) {
            return Some(Err(e));
        }
        let h = out_size(
            s[1],
            self.kernel_size[0],
            self.strides[0],
            self.dilation_rate[0],
            self.padding,
        );
        let w = out_size(
            s[2],
            self.kernel_size[1],
            self.strides[1],
            self.dilation_rate[1],
            self.padding,
        );
        Some(Ok(vec![s[0], h, w, Some(self.filters)]))
    }
    fn declared_input_shape(&self) -> Option<Shape> {
        self.input_shape.clone()
    }
    fn fixed_input_axes(&self) -> Vec<usize> {
        vec![3]
    }
}

macro_rules! pooling_layer {
    ($(#[$doc:meta])* $name:ident, $class:literal, $op:path) => {
        $(#[$doc])*
        pub struct $name {
            options: PoolOptions,
        }

        impl $name {
            /// A `pool_size` square window moved by `pool_size` (Keras's default
            /// `strides=None`), `valid` padding.
            pub fn new(pool_size: usize) -> $name {
                $name {
                    options: PoolOptions::new(pool_size, pool_size, Padding::Valid),
                }
            }
            pub fn strides(mut self, s: usize) -> Self {
                self.options.strides = [s, s];
                self
            }
            pub fn padding(mut self, p: Padding) -> Self {
                self.options.padding = p;
                self
            }
        }

        impl Layer for $name {
            fn class_name(&self) -> &str {
                $class
            }
            fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
                $op(&inputs[0], self.options)
            }
            fn compute_output_shape(&self, input_shapes: &[Shape]) -> Option<Result<Shape>> {
                let s = &input_shapes[0];
                if let Err(e) = image_shape($class, s) {
                    return Some(Err(e));
                }
                let o = &self.options;
                let h = out_size(s[1], o.ksize[0], o.strides[0], 1, o.padding);
                let w = out_size(s[2], o.ksize[1], o.strides[1], 1, o.padding);
                Some(Ok(vec![s[0], h, w, s[3]]))
            }
        }
    };
}

pooling_layer!(
    /// The maximum of each window (Keras's `MaxPooling2D`).
    MaxPooling2D,
    "MaxPooling2D",
    ops::max_pool2d
);
pooling_layer!(
    /// The mean of each window (Keras's `AveragePooling2D`).
    AveragePooling2D,
    "AveragePooling2D",
    ops::avg_pool2d
);

macro_rules! global_pooling_layer {
    ($(#[$doc:meta])* $name:ident, $class:literal, $op:path) => {
        $(#[$doc])*
        #[derive(Default)]
        pub struct $name {
            keepdims: bool,
        }

        impl $name {
            pub fn new() -> $name {
                $name { keepdims: false }
            }
            /// Keeps the spatial axes with size 1.
            pub fn keepdims(mut self, k: bool) -> Self {
                self.keepdims = k;
                self
            }
        }

        impl Layer for $name {
            fn class_name(&self) -> &str {
                $class
            }
            fn call(&self, inputs: &[Tensor], _training: bool) -> Result<Tensor> {
                $op(&inputs[0], Axes::from(vec![1i64, 2]), self.keepdims)
            }
            fn compute_output_shape(&self, input_shapes: &[Shape]) -> Option<Result<Shape>> {
                let s = &input_shapes[0];
                if let Err(e) = image_shape($class, s) {
                    return Some(Err(e));
                }
                Some(Ok(if self.keepdims {
                    vec![s[0], Some(1), Some(1), s[3]]
                } else {
                    vec![s[0], s[3]]
                }))
            }
        }
    };
}

global_pooling_layer!(
    /// The mean over height and width (Keras's `GlobalAveragePooling2D`).
    GlobalAveragePooling2D,
    "GlobalAveragePooling2D",
    ops::reduce_mean
);
global_pooling_layer!(
    /// The maximum over height and width (Keras's `GlobalMaxPooling2D`).
    GlobalMaxPooling2D,
    "GlobalMaxPooling2D",
    ops::reduce_max
);
