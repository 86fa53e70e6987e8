//! A custom metric, as in TensorFlow's guide to Keras metrics: `SparseCategoricalAccuracy`
//! written again as a user struct implementing `Metric`, its state (`total`, `count`) in
//! `Variable`s so that `update_state` can run inside `fit`'s traced train step. It is
//! checked against the built-in metric on random data, then passed to `compile` beside the
//! built-in one for a small 3-class problem; both accuracies are printed.
//!
//! Run: `cargo run --example custom_metric`

use std::rc::Rc;
use wgflow::keras::activations::Activation;
use wgflow::keras::layers::{Dense, Layer};
use wgflow::keras::losses::SparseCategoricalCrossentropy;
use wgflow::keras::metrics::{Metric, SparseCategoricalAccuracy};
use wgflow::keras::{FitOptions, MetricArg, Sequential, Verbose};
use wgflow::optimizers::Adam;
use wgflow::{Axes, DType, Tensor, Variable, ops};

/// How often the integer label is the top-scoring class: the weighted number of hits in
/// `total`, the weighted number of samples in `count`.
struct MySparseCategoricalAccuracy {
    name: String,
    total: Variable,
    count: Variable,
}

impl MySparseCategoricalAccuracy {
    fn new(name: &str) -> wgflow::Result<Self> {
        let zero = || Tensor::scalar(0.0f32);
        Ok(MySparseCategoricalAccuracy {
            name: name.to_string(),
            total: Variable::new(zero()?, &format!("{name}/total"), false),
            count: Variable::new(zero()?, &format!("{name}/count"), false),
        })
    }
}

impl Metric for MySparseCategoricalAccuracy {
    fn name(&self) -> &str {
        &self.name
    }

    fn update_state(
        &self,
        y_true: &Tensor,
        y_pred: &Tensor,
        sample_weight: Option<&Tensor>,
    ) -> wgflow::Result<()> {
        // Labels [batch] or [batch, 1]; scores [batch, classes].
        let labels = ops::reshape(&ops::cast(y_true, DType::I32)?, &[-1])?;
        let predicted = ops::argmax(y_pred, -1)?;
        let hits = ops::cast(&ops::equal(&labels, &predicted)?, DType::F32)?;
        let (hits, weight) = match sample_weight {
            Some(w) => {
                let w = ops::reshape(&ops::cast(w, DType::F32)?, &[-1])?;
                (ops::mul(&hits, &w)?, ops::reduce_sum(&w, Axes::All, false)?)
            }
            None => {
                let n = ops::scalar_like(&hits, hits.size() as f64)?;
                (hits, n)
            }
        };
        self.total
            .assign_add(&ops::reduce_sum(&hits, Axes::All, false)?)?;
        self.count.assign_add(&weight)
    }

    fn result_tensor(&self) -> wgflow::Result<Tensor> {
        let count = self.count.read_value();
        // 0 before any update, as Keras's divide_no_nan.
        let safe = ops::maximum(&count, &ops::scalar_like(&count, 1e-30)?)?;
        ops::div(&self.total.read_value(), &safe)
    }

    fn reset_state(&self) -> wgflow::Result<()> {
        for v in [&self.total, &self.count] {
            v.assign(&ops::zeros_like(&v.read_value())?)?;
        }
        Ok(())
    }

    fn variables(&self) -> Vec<Variable> {
        vec![self.total.clone(), self.count.clone()]
    }
}

/// A small xorshift generator, so the example needs no extra crates.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
    fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f32) as usize).min(n - 1)
    }
}

/// Three noisy clusters in the plane: `samples` points `[samples, 2]`, labels `[samples]`.
fn clusters(rng: &mut Rng, samples: usize) -> wgflow::Result<(Tensor, Tensor)> {
    let centers = [[1.0f32, 1.0], [-1.0, 0.5], [0.0, -1.2]];
    let mut x = Vec::with_capacity(samples * 2);
    let mut y = Vec::with_capacity(samples);
    for _ in 0..samples {
        let c = rng.below(3);
        x.push(centers[c][0] + (rng.uniform() - 0.5) * 1.6);
        x.push(centers[c][1] + (rng.uniform() - 0.5) * 1.6);
        y.push(c as i32);
    }
    Ok((
        Tensor::from_slice(&x, [samples, 2])?,
        Tensor::from_slice(&y, [samples])?,
    ))
}

fn main() -> wgflow::Result<()> {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);

    // 1. The custom metric against the built-in one on random data, with sample weights.
    let (n, classes) = (500, 7);
    let labels: Vec<i32> = (0..n).map(|_| rng.below(classes) as i32).collect();
    let scores: Vec<f32> = (0..n * classes).map(|_| rng.uniform()).collect();
    let weights: Vec<f32> = (0..n).map(|_| rng.uniform() * 2.0).collect();
    let custom = MySparseCategoricalAccuracy::new("my_accuracy")?;
    let builtin = SparseCategoricalAccuracy::new();
    for (start, len) in [(0, 200), (200, 300)] {
        let t = Tensor::from_slice(&labels[start..start + len], [len])?;
        let p = Tensor::from_slice(
            &scores[start * classes..(start + len) * classes],
            [len, classes],
        )?;
        let w = Tensor::from_slice(&weights[start..start + len], [len])?;
        for m in [&custom as &dyn Metric, &builtin] {
            m.update_state(&t, &p, Some(&w))?;
        }
    }
    let (a, b) = (custom.result()?, builtin.result()?);
    println!("random data: custom {a:.6}, built-in {b:.6}");
    assert!(
        (a - b).abs() < 1e-6,
        "the custom metric disagrees: {a} vs {b}"
    );

    // 2. Both metrics in compile + fit.
    wgflow::keras::set_random_seed(1);
    let (x, y) = clusters(&mut rng, 300)?;
    let model = Sequential::new(vec![
        Dense::new(16)
            .activation(Activation::Relu)
            .input_dim(2)
            .into_ref(),
        Dense::new(3).into_ref(),
    ])?;
    let mine = Rc::new(MySparseCategoricalAccuracy::new("my_accuracy")?);
    model.compile(
        Adam::new(0.05),
        SparseCategoricalCrossentropy::new().from_logits(true),
        vec![
            MetricArg::Name("sparse_categorical_accuracy".into()),
            MetricArg::Metric(mine.clone()),
        ],
    )?;
    let history = model.fit(
        (&x, &y),
        FitOptions {
            epochs: 8,
            batch_size: 32,
            verbose: Verbose::OneLinePerEpoch,
            ..Default::default()
        },
    )?;
    let last = |key: &str| {
        history
            .get(key)
            .and_then(|v| v.last().copied())
            .unwrap_or(f64::NAN)
    };
    let (builtin, custom) = (last("sparse_categorical_accuracy"), last("my_accuracy"));
    println!("final epoch: sparse_categorical_accuracy {builtin:.4}, my_accuracy {custom:.4}");
    assert!((builtin - custom).abs() < 1e-6, "{builtin} vs {custom}");
    // The custom metric's variables hold the last epoch's counts.
    println!(
        "my_accuracy state: total {}, count {}",
        mine.total.read_value().to_scalar::<f32>()?,
        mine.count.read_value().to_scalar::<f32>()?
    );
    Ok(())
}
