//! A hand-written training loop, as in TensorFlow's "custom training loop" guide: an MLP
//! 784-512-256-10 on MNIST, a `GradientTape` per step, Adam applying the gradients, and the
//! test accuracy after each epoch. The step is a traced function (TensorFlow's
//! `@tf.function`): forward, gradients and update are traced once and replayed as one plan.
//! `--eager` runs it eagerly instead (TensorFlow's `tf.config.run_functions_eagerly(True)`).
//!
//! Run: `cargo run --release --example custom_training_loop [MNIST_DIR] [EPOCHS] [--eager]`
//! MNIST_DIR holds the gzipped IDX files (`train-images-idx3-ubyte.gz` or
//! `train-images.idx3-ubyte.gz`, ...); without it `wgflow::datasets::mnist` finds them
//! (`$WGFLOW_DATASETS/mnist`, `~/.wgflow/datasets/mnist`, or a download), trying
//! `../shared/data/mnist` beside the checkout first when `WGFLOW_DATASETS` is unset. Without
//! the files the example says so and exits.

use std::path::Path;
use std::rc::Rc;
use wgflow::datasets::mnist;
use wgflow::optimizers::{Adam, Optimizer};
use wgflow::{
    Arg, Axes, DType, GradientTape, Module, Tensor, Variable, args, current_device, function,
    name_scope, ops, run_functions_eagerly, unique_name,
};

type Split = (ndarray::Array3<u8>, ndarray::Array1<u8>);

/// MNIST from the folder given as the first argument; else from `$WGFLOW_DATASETS/mnist`
/// or `~/.wgflow/datasets/mnist` (downloading it there if needed), with
/// `../shared/data/mnist` beside the checkout tried first when `WGFLOW_DATASETS` is unset.
fn load_mnist() -> wgflow::Result<(Split, Split)> {
    if let Some(dir) = std::env::args().nth(1).filter(|a| !a.starts_with("--")) {
        return mnist::load_data_from(dir);
    }
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist");
    if std::env::var_os("WGFLOW_DATASETS").is_none() && shared.is_dir() {
        return mnist::load_data_from(shared);
    }
    mnist::load_data()
}

/// Images scaled to [0, 1] as `[n * 784]` and labels as int32 `[n]`.
fn flatten((images, labels): &Split) -> (Vec<f32>, Vec<i32>, usize) {
    let x = images.iter().map(|&p| p as f32 / 255.0).collect();
    let y = labels.iter().map(|&l| l as i32).collect();
    (x, y, labels.len())
}

struct Dense {
    name: String,
    kernel: Variable,
    bias: Variable,
    relu: bool,
}

impl Dense {
    /// Keras's defaults: glorot-uniform kernel, zero bias.
    fn new(inputs: usize, units: usize, relu: bool, seed: u64) -> wgflow::Result<Dense> {
        let name = unique_name("dense");
        let limit = (6.0 / (inputs + units) as f32).sqrt();
        name_scope(&name.clone(), || {
            Ok(Dense {
                name,
                kernel: Variable::new(
                    ops::random_uniform([inputs, units], -limit, limit, seed)?,
                    "kernel",
                    true,
                ),
                bias: Variable::new(ops::zeros([units], DType::F32)?, "bias", true),
                relu,
            })
        })
    }

    fn call(&self, x: &Tensor) -> wgflow::Result<Tensor> {
        let y = ops::bias_add(
            &ops::matmul(x, &self.kernel.read_value())?,
            &self.bias.read_value(),
        )?;
        if self.relu { ops::relu(&y) } else { Ok(y) }
    }
}

impl Module for Dense {
    fn name(&self) -> &str {
        &self.name
    }
    fn own_variables(&self) -> Vec<Variable> {
        vec![self.kernel.clone(), self.bias.clone()]
    }
}

struct Mlp {
    layers: Vec<Dense>,
}

impl Mlp {
    fn call(&self, x: &Tensor) -> wgflow::Result<Tensor> {
        let mut h = x.clone();
        for l in &self.layers {
            h = l.call(&h)?;
        }
        Ok(h)
    }
}

impl Module for Mlp {
    fn name(&self) -> &str {
        "mlp"
    }
    fn submodules(&self) -> Vec<&dyn Module> {
        self.layers.iter().map(|l| l as &dyn Module).collect()
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (train, test) = match load_mnist() {
        Ok(data) => data,
        Err(e) => {
            println!(
                "MNIST not available ({e}): pass its folder (gzipped IDX files) as the first \
                 argument or set WGFLOW_DATASETS; skipping this example."
            );
            return Ok(());
        }
    };
    let epochs: usize = std::env::args()
        .nth(2)
        .and_then(|e| e.parse().ok())
        .unwrap_or(1);
    let eager = std::env::args().any(|a| a == "--eager");
    run_functions_eagerly(eager);
    let (x_train, y_train, n_train) = flatten(&train);
    let (x_test, y_test, n_test) = flatten(&test);
    println!(
        "device: {}; {n_train} training and {n_test} test images",
        current_device()?
    );

    let model = name_scope("mlp", || -> wgflow::Result<Mlp> {
        Ok(Mlp {
            layers: vec![
                Dense::new(784, 512, true, 1)?,
                Dense::new(512, 256, true, 2)?,
                Dense::new(256, 10, false, 3)?,
            ],
        })
    })?;
    let model = Rc::new(model);
    let optimizer = Rc::new(Adam::new(1e-3));
    let (m, opt) = (model.clone(), optimizer.clone());
    // Traced on the first call; later calls with the same shapes replay the plan.
    let train_step = function(move |a: &[Arg]| -> wgflow::Result<Tensor> {
        let (x, y) = (a[0].tensor()?, a[1].tensor()?);
        let vars = m.trainable_variables();
        let tape = GradientTape::new();
        let logits = m.call(x)?;
        let loss = ops::reduce_mean(
            &ops::sparse_softmax_cross_entropy_with_logits(y, &logits)?,
            Axes::All,
            false,
        )?;
        let refs: Vec<&Variable> = vars.iter().collect();
        let grads = tape.gradient(&loss, &refs)?;
        let pairs: Vec<(Tensor, &Variable)> = grads
            .into_iter()
            .zip(&vars)
            .filter_map(|(g, v)| g.map(|g| (g, v)))
            .collect();
        opt.apply_gradients(&pairs)?;
        Ok(loss)
    });
    let batch = 128;
    let x_test_t = Tensor::from_slice(&x_test, [n_test, 784])?;
    let y_test_t = Tensor::from_slice(&y_test, [n_test])?;

    for epoch in 1..=epochs {
        let start = std::time::Instant::now();
        let mut loss_sum = 0.0;
        let steps = n_train / batch;
        for step in 0..steps {
            let rows = step * batch..(step + 1) * batch;
            let x = Tensor::from_slice(&x_train[rows.start * 784..rows.end * 784], [batch, 784])?;
            let y = Tensor::from_slice(&y_train[rows], [batch])?;
            let loss = train_step.call(args![&x, &y])?;
            if step % 100 == 0 || step + 1 == steps {
                let l = loss.to_scalar::<f32>()?;
                loss_sum = l;
                println!("epoch {epoch} step {step:4}/{steps}: loss {l:.4}");
            }
        }
        let predictions = ops::argmax(&model.call(&x_test_t)?, -1)?;
        let correct = ops::cast(&ops::equal(&predictions, &y_test_t)?, DType::F32)?;
        let accuracy = ops::reduce_mean(&correct, Axes::All, false)?.to_scalar::<f32>()?;
        println!(
            "epoch {epoch}: {:.1} s ({}), last loss {loss_sum:.4}, test accuracy {:.4}",
            start.elapsed().as_secs_f64(),
            if eager { "eager" } else { "traced step" },
            accuracy
        );
    }
    Ok(())
}
