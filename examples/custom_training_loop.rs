//! A hand-written training loop, as in TensorFlow's "custom training loop" guide: an MLP
//! 784-512-256-10 on MNIST, a `GradientTape` per step, Adam applying the gradients, and the
//! test accuracy after each epoch. The step is a traced function (TensorFlow's
//! `@tf.function`): forward, gradients and update are traced once and replayed as one plan.
//! `--eager` runs it eagerly instead (TensorFlow's `tf.config.run_functions_eagerly(True)`).
//!
//! Run: `cargo run --release --example custom_training_loop [MNIST_DIR] [EPOCHS] [--eager]`
//! MNIST_DIR holds the gzipped IDX files (`train-images.idx3-ubyte.gz`, ...); by default
//! `$WGFLOW_DATASETS/mnist`, then `../shared/data/mnist` beside the checkout. Without the
//! files the example says so and exits.

use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use wgflow::optimizers::{Adam, Optimizer};
use wgflow::{
    Arg, Axes, DType, GradientTape, Module, Tensor, Variable, args, current_device, function,
    name_scope, ops, run_functions_eagerly, unique_name,
};

/// Reads a gzipped IDX file: its dimensions and bytes (checks the magic number and size).
fn read_idx(path: &Path) -> Result<(Vec<usize>, Vec<u8>), String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    GzDecoder::new(file)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08 {
        return Err(format!("{}: not an unsigned-byte IDX file", path.display()));
    }
    let rank = bytes[3] as usize;
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(format!("{}: truncated header", path.display()));
    }
    let dims: Vec<usize> = (0..rank)
        .map(|i| u32::from_be_bytes(bytes[4 + 4 * i..8 + 4 * i].try_into().unwrap()) as usize)
        .collect();
    let n: usize = dims.iter().product();
    if bytes.len() != header + n {
        return Err(format!(
            "{}: {} data bytes, dimensions {dims:?} need {n}",
            path.display(),
            bytes.len() - header
        ));
    }
    Ok((dims, bytes[header..].to_vec()))
}

fn mnist_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::args().nth(1).map(PathBuf::from),
        std::env::var("WGFLOW_DATASETS")
            .ok()
            .map(|d| Path::new(&d).join("mnist")),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("train-images.idx3-ubyte.gz").is_file())
}

/// Images scaled to [0, 1] as `[n, 784]` and labels as int32 `[n]`.
fn load(dir: &Path, split: &str) -> Result<(Vec<f32>, Vec<i32>, usize), String> {
    let (dims, pixels) = read_idx(&dir.join(format!("{split}-images.idx3-ubyte.gz")))?;
    let (_, labels) = read_idx(&dir.join(format!("{split}-labels.idx1-ubyte.gz")))?;
    if dims.len() != 3 || dims[1] * dims[2] != 784 || labels.len() != dims[0] {
        return Err(format!(
            "{split}: unexpected shapes {dims:?} / {}",
            labels.len()
        ));
    }
    let x = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    let y = labels.iter().map(|&l| l as i32).collect();
    Ok((x, y, dims[0]))
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
    let Some(dir) = mnist_dir() else {
        println!(
            "MNIST not found: pass its folder (gzipped IDX files) as the first argument or set \
             WGFLOW_DATASETS; skipping this example."
        );
        return Ok(());
    };
    let epochs: usize = std::env::args()
        .nth(2)
        .and_then(|e| e.parse().ok())
        .unwrap_or(1);
    let eager = std::env::args().any(|a| a == "--eager");
    run_functions_eagerly(eager);
    let (x_train, y_train, n_train) = load(&dir, "train")?;
    let (x_test, y_test, n_test) = load(&dir, "t10k")?;
    println!(
        "device: {}; {n_train} training and {n_test} test images from {}",
        current_device()?,
        dir.display()
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
