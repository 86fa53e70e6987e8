//! The seeds' linear model built the three Keras ways — `Sequential` with `input_dim=4`, the
//! functional API from `Input(shape=(4,), name="data")`, and a subclassed `Linear` model —
//! each compiled with `SGD(0.1)` and mean squared error and fitted to synthetic data
//! `y = x · [2, -3, 0.5, 1] + 0.7`; each recovers the weights.
//!
//! Run: `cargo run --release --example keras_linear`

use wgflow::keras::layers::{Dense, Layer, LayerRef};
use wgflow::keras::losses::MeanSquaredError;
use wgflow::keras::{FitOptions, Input, Model, Sequential, Verbose};
use wgflow::optimizers::SGD;
use wgflow::{Tensor, ops};

/// The subclassed model: a struct holding its layers, with its own `call`.
struct Linear {
    dense: LayerRef,
}

impl Linear {
    fn new() -> Linear {
        Linear {
            dense: Dense::new(1).into_ref(),
        }
    }
}

impl Layer for Linear {
    fn class_name(&self) -> &str {
        "Linear"
    }
    fn call(&self, inputs: &[Tensor], training: bool) -> wgflow::Result<Tensor> {
        self.dense.call(inputs, training)
    }
    fn sublayers(&self) -> Vec<LayerRef> {
        vec![self.dense.clone()]
    }
}

fn main() -> wgflow::Result<()> {
    wgflow::keras::set_random_seed(42);
    let true_w = Tensor::from_slice(&[2.0f32, -3.0, 0.5, 1.0], [4, 1])?;
    let x = ops::random_uniform([1000, 4], -1.0, 1.0, 7)?;
    let y = ops::add(&ops::matmul(&x, &true_w)?, &Tensor::scalar(0.7f32)?)?;

    let sequential = Sequential::new(vec![Dense::new(1).input_dim(4).into_ref()])?;
    let inputs = Input::named(&[4], "data");
    let outputs = Dense::new(1).into_ref().apply(&[&inputs])?;
    let functional = Model::new(&[inputs], &[outputs], "linear")?;
    let subclassed = Model::from_layer(Linear::new());

    for (how, model) in [
        ("Sequential", &sequential),
        ("functional", &functional),
        ("subclassed", &subclassed),
    ] {
        model.compile(SGD::new(0.1), MeanSquaredError::new(), vec![])?;
        let history = model.fit(
            (&x, &y),
            FitOptions {
                epochs: 20,
                batch_size: 32,
                verbose: Verbose::Silent,
                ..Default::default()
            },
        )?;
        println!("{how} model:");
        model.print_summary();
        let w = model.get_weights();
        println!(
            "loss {:.2e} -> {:.2e}; kernel {:?}, bias {:?}\n",
            history.get("loss").unwrap_or(&[])[0],
            history
                .get("loss")
                .unwrap_or(&[])
                .last()
                .copied()
                .unwrap_or(0.0),
            w[0].to_vec::<f32>()?,
            w[1].to_vec::<f32>()?
        );
    }
    Ok(())
}
