//! The peer-benchmark workloads of `../shared/benchmarks/WORKLOADS.md` (W1 matmul, W2
//! elementwise chain, W3 MLP training step) and the `tf.data` input pipelines of issue 6
//! (MNIST from memory and from a TFRecord file), measured by the same rules as the peers:
//! untimed warm-ups, then the median, minimum and maximum of timed repetitions that each
//! end with the result complete and visible to the host. Used by `wgflow bench` and the criterion benches.

use crate::device::{Device, with_device};
use crate::error::Result;
use crate::ops;
use crate::tensor::Tensor;
use std::time::Instant;

/// Timings of one figure, in milliseconds.
#[derive(Clone, Debug)]
pub struct Timing {
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub reps: usize,
}

/// Runs `f` `warmup` times untimed, then `reps` times timed.
pub fn measure(warmup: usize, reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<Timing> {
    for _ in 0..warmup {
        f()?;
    }
    let mut t = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let start = Instant::now();
        f()?;
        t.push(start.elapsed().as_secs_f64() * 1e3);
    }
    t.sort_by(|a, b| a.total_cmp(b));
    Ok(Timing {
        median_ms: t[t.len() / 2],
        min_ms: t[0],
        max_ms: t[t.len() - 1],
        reps: t.len(),
    })
}

/// W1: `C = A · B` for square `n`, random normal inputs created outside the timed region;
/// each repetition waits for the product.
pub fn w1_matmul(device: &Device, n: usize, reps: usize) -> Result<Timing> {
    with_device(device, || {
        let a = ops::random_normal([n, n], 0.0, 1.0, 1)?;
        let b = ops::random_normal([n, n], 0.0, 1.0, 2)?;
        device.synchronize()?;
        measure(3, reps, || {
            let c = ops::matmul(&a, &b)?;
            device.synchronize()?;
            drop(c);
            Ok(())
        })
    })
}

/// The W2 chain `sigmoid(tanh(x * 1.5 + 0.5) * x - 0.25)`, op by op.
pub fn w2_chain(x: &Tensor) -> Result<Tensor> {
    let t = ops::tanh(&((x * 1.5)? + 0.5)?)?;
    ops::sigmoid(&((&t * x)? - 0.25)?)
}

/// W2 eager: the chain on 1,048,576 floats; each repetition reads the result back to the
/// host (TensorFlow's peer calls `.numpy()`).
pub fn w2_eager(device: &Device, reps: usize) -> Result<Timing> {
    with_device(device, || {
        let x = ops::random_normal([1 << 20], 0.0, 1.0, 3)?;
        device.synchronize()?;
        measure(5, reps, || {
            let y = w2_chain(&x)?;
            let v = y.to_vec::<f32>()?;
            std::hint::black_box(v);
            Ok(())
        })
    })
}

/// W2 traced: the chain as a `function` (one fused kernel), each call read back.
pub fn w2_traced(device: &Device, reps: usize) -> Result<Timing> {
    with_device(device, || {
        let x = ops::random_normal([1 << 20], 0.0, 1.0, 3)?;
        let f = crate::graph::function(|a: &[crate::Arg]| w2_chain(a[0].tensor()?));
        f.call(crate::args![&x])?.to_vec::<f32>()?; // trace and compile
        measure(5, reps, || {
            let v = f.call(crate::args![&x])?.to_vec::<f32>()?;
            std::hint::black_box(v);
            Ok(())
        })
    })
}

/// The W3 MLP (784-512-256-10, ReLU) as plain variables: glorot-uniform kernels, zero biases.
pub struct W3Mlp {
    pub vars: Vec<crate::Variable>,
}

impl W3Mlp {
    pub fn new() -> Result<W3Mlp> {
        let sizes = [784, 512, 256, 10];
        let mut vars = Vec::new();
        for (i, w) in sizes.windows(2).enumerate() {
            let limit = (6.0 / (w[0] + w[1]) as f32).sqrt();
            let k = ops::random_uniform([w[0], w[1]], -limit, limit, 10 + i as u64)?;
            vars.push(crate::Variable::new(k, &format!("dense_{i}/kernel"), true));
            let b = ops::zeros([w[1]], crate::DType::F32)?;
            vars.push(crate::Variable::new(b, &format!("dense_{i}/bias"), true));
        }
        Ok(W3Mlp { vars })
    }

    /// Logits of a batch.
    pub fn call(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = x.clone();
        for (i, pair) in self.vars.chunks(2).enumerate() {
            h = ops::bias_add(
                &ops::matmul(&h, &pair[0].read_value())?,
                &pair[1].read_value(),
            )?;
            if i < 2 {
                h = ops::relu(&h)?;
            }
        }
        Ok(h)
    }

    /// One eager training step: forward, mean sparse softmax cross-entropy, gradients on a
    /// tape, and the optimizer's update. Returns the loss (not yet read back).
    pub fn train_step(
        &self,
        x: &Tensor,
        y: &Tensor,
        optimizer: &dyn crate::optimizers::Optimizer,
    ) -> Result<Tensor> {
        let tape = crate::GradientTape::new();
        let logits = self.call(x)?;
        let loss = ops::reduce_mean(
            &ops::sparse_softmax_cross_entropy_with_logits(y, &logits)?,
            crate::Axes::All,
            false,
        )?;
        let refs: Vec<&crate::Variable> = self.vars.iter().collect();
        let grads = tape.gradient(&loss, &refs)?;
        let pairs: Vec<(Tensor, &crate::Variable)> = grads
            .into_iter()
            .zip(&self.vars)
            .filter_map(|(g, v)| g.map(|g| (g, v)))
            .collect();
        optimizer.apply_gradients(&pairs)?;
        Ok(loss)
    }
}

/// W3: the MLP training step (batch 128, SGD lr 0.01) eagerly; random normal inputs and
/// labels `(i * 7) % 10` created outside the timed region; each step reads the loss back.
/// Returns the timing and the loss before and after.
pub fn w3_mlp_step(device: &Device, reps: usize) -> Result<(Timing, f32, f32)> {
    with_device(device, || {
        let model = W3Mlp::new()?;
        let x = ops::random_normal([128, 784], 0.0, 1.0, 3)?;
        let labels: Vec<i32> = (0..128).map(|i| (i * 7) % 10).collect();
        let y = Tensor::from_slice(&labels, [128])?;
        let sgd = crate::optimizers::SGD::new(0.01);
        let first = model.train_step(&x, &y, &sgd)?.to_scalar::<f32>()?;
        let timing = measure(5, reps, || {
            model.train_step(&x, &y, &sgd)?.to_scalar::<f32>()?;
            Ok(())
        })?;
        let last = model.train_step(&x, &y, &sgd)?.to_scalar::<f32>()?;
        Ok((timing, first, last))
    })
}

/// W3 traced: the same step as one `function` (forward, gradients, update in one plan).
pub fn w3_mlp_step_traced(device: &Device, reps: usize) -> Result<(Timing, f32, f32)> {
    with_device(device, || {
        let model = std::rc::Rc::new(W3Mlp::new()?);
        let x = ops::random_normal([128, 784], 0.0, 1.0, 3)?;
        let labels: Vec<i32> = (0..128).map(|i| (i * 7) % 10).collect();
        let y = Tensor::from_slice(&labels, [128])?;
        let sgd = std::rc::Rc::new(crate::optimizers::SGD::new(0.01));
        let (m, o) = (model.clone(), sgd.clone());
        let step = crate::graph::function(move |a: &[crate::Arg]| {
            m.train_step(a[0].tensor()?, a[1].tensor()?, &*o)
        });
        let first = step.call(crate::args![&x, &y])?.to_scalar::<f32>()?;
        let timing = measure(5, reps, || {
            step.call(crate::args![&x, &y])?.to_scalar::<f32>()?;
            Ok(())
        })?;
        let last = step.call(crate::args![&x, &y])?.to_scalar::<f32>()?;
        Ok((timing, first, last))
    })
}

/// The input-pipeline workload's batch size.
pub const PIPELINE_BATCH: usize = 128;

/// `(image, label)` as the pipelines' first map sees it: cast to float32 and scaled to
/// [0, 1], the label passed through (TensorFlow's `tf.cast(x, tf.float32) / 255.`).
fn normalise((x, y): (Tensor, Tensor)) -> Result<(Tensor, Tensor)> {
    Ok(((&ops::cast(&x, crate::DType::F32)? / 255.0)?, y))
}

/// One pass of `ds` on the CPU device; the number of rows (samples) it yielded.
pub fn run_epoch(ds: &crate::data::Dataset<(Tensor, Tensor)>) -> Result<usize> {
    let mut rows = 0;
    for batch in ds.iter_on(&Device::cpu())? {
        let (x, _) = batch?;
        rows += x.shape()[0];
    }
    Ok(rows)
}

/// Runs `ds` to its end `reps` times after one untimed pass, checking that every pass
/// yields `samples` rows.
fn time_epochs(
    ds: &crate::data::Dataset<(Tensor, Tensor)>,
    samples: usize,
    reps: usize,
) -> Result<Timing> {
    measure(1, reps, || {
        let rows = run_epoch(ds)?;
        if rows != samples {
            return Err(crate::Error::invalid(
                "bench input-pipeline",
                format!("a pass yielded {rows} samples, expected {samples}"),
            ));
        }
        Ok(())
    })
}

/// Input pipeline (a): MNIST from memory → `map(normalise)` on `threads` threads (1:
/// sequential `map`) → `shuffle(10000)` → `batch(128)` → `prefetch(AUTOTUNE)`. `images`
/// are `[n, 28, 28]` and `labels` `[n]` (int32, widened from MNIST's bytes).
pub fn memory_pipeline(
    images: &Tensor,
    labels: &Tensor,
    threads: usize,
) -> Result<crate::data::Dataset<(Tensor, Tensor)>> {
    use crate::data::{AUTOTUNE, Dataset};
    let ds = Dataset::from_tensor_slices((images.clone(), labels.clone()))?;
    let ds = if threads > 1 {
        ds.map_parallel(normalise, threads)
    } else {
        ds.map(normalise)
    };
    Ok(ds
        .shuffle(10000, Some(1), true)?
        .batch(PIPELINE_BATCH, false)?
        .prefetch(AUTOTUNE))
}

/// [`memory_pipeline`] timed: each repetition is one pass over all samples.
pub fn input_pipeline_memory(
    images: &Tensor,
    labels: &Tensor,
    threads: usize,
    reps: usize,
) -> Result<Timing> {
    let ds = memory_pipeline(images, labels, threads)?;
    time_epochs(&ds, labels.shape()[0], reps)
}

/// Writes MNIST as a TFRecord file of `tf.train.Example`s: `image` the 784 raw pixel bytes
/// (a `bytes_list`), `label` an `int64_list` of one value — the usual layout.
pub fn write_mnist_tfrecord(path: &std::path::Path, images: &[u8], labels: &[u8]) -> Result<()> {
    use crate::data::{Example, Feature, TFRecordCompressionType, TFRecordWriter};
    let mut w = TFRecordWriter::new(path, TFRecordCompressionType::None)?;
    for (image, &label) in images.chunks_exact(784).zip(labels) {
        let ex = Example::new()
            .with("image", Feature::bytes_list([image.to_vec()]))
            .with("label", Feature::int64_list([label as i64]));
        w.write(&ex.serialize_to_string())?;
    }
    w.close()
}

/// Input pipeline (b): the TFRecord file of [`write_mnist_tfrecord`] → `map(parse)` on
/// `threads` threads, where parse is `parse_single_example` + the image bytes to a
/// `[28, 28]` tensor (TensorFlow's `decode_raw`) → `batch(128)` → `prefetch(AUTOTUNE)`.
pub fn tfrecord_pipeline(
    path: &std::path::Path,
    threads: usize,
) -> Result<crate::data::Dataset<(Tensor, Tensor)>> {
    use crate::data::{
        AUTOTUNE, FeatureDType, FixedLenFeature, TFRecordCompressionType, TFRecordDataset,
        parse_single_example,
    };
    let spec = [
        (
            "image",
            FixedLenFeature::new([], FeatureDType::String).into(),
        ),
        (
            "label",
            FixedLenFeature::new([], FeatureDType::Int64).into(),
        ),
    ];
    let parse = move |record: Vec<u8>| -> Result<(Tensor, Tensor)> {
        let parsed = parse_single_example(&record, &spec)?;
        let image = Tensor::from_u8(&parsed.bytes("image")?.values()[0], [28, 28])?;
        Ok((image, parsed.tensor("label")?.clone()))
    };
    Ok(TFRecordDataset::new([path], TFRecordCompressionType::None)
        .map(parse, threads)
        .batch(PIPELINE_BATCH, false)?
        .prefetch(AUTOTUNE))
}

/// [`tfrecord_pipeline`] timed: each repetition is one pass over the file's `samples`.
pub fn input_pipeline_tfrecord(
    path: &std::path::Path,
    samples: usize,
    threads: usize,
    reps: usize,
) -> Result<Timing> {
    time_epochs(&tfrecord_pipeline(path, threads)?, samples, reps)
}

/// The W4 convnet as a Keras `Sequential` (28x28x1 → Conv2D 32 → MaxPool → Conv2D 64 →
/// MaxPool → Flatten → Dense 128 → Dense 10), compiled with Adam 1e-3 and sparse
/// categorical cross-entropy from logits.
pub fn w4_cnn() -> Result<crate::keras::Model> {
    use crate::keras::activations::Activation::Relu;
    use crate::keras::layers::{Conv2D, Dense, Flatten, InputLayer, Layer, MaxPooling2D};
    let model = crate::keras::Sequential::new(vec![
        InputLayer::new(&[28, 28, 1]).into_ref(),
        Conv2D::new(32, 3).activation(Relu).into_ref(),
        MaxPooling2D::new(2).into_ref(),
        Conv2D::new(64, 3).activation(Relu).into_ref(),
        MaxPooling2D::new(2).into_ref(),
        Flatten.into_ref(),
        Dense::new(128).activation(Relu).into_ref(),
        Dense::new(10).into_ref(),
    ])?;
    model.compile(
        crate::optimizers::Adam::new(1e-3),
        crate::keras::losses::SparseCategoricalCrossentropy::new().from_logits(true),
        vec![],
    )?;
    Ok(model)
}

/// W4: one training step of [`w4_cnn`] on a fixed batch of 64 (uniform inputs, labels
/// `(i * 7) % 10`) through Keras's `train_on_batch` (the traced train step; reading the
/// logs waits for the loss). Returns the timing and the first and last losses.
pub fn w4_cnn_step(device: &Device, reps: usize) -> Result<(Timing, f64, f64)> {
    with_device(device, || {
        crate::keras::set_random_seed(1);
        let model = w4_cnn()?;
        let x = ops::random_uniform([64, 28, 28, 1], 0.0, 1.0, 1)?;
        let labels: Vec<i32> = (0..64).map(|i| (i * 7) % 10).collect();
        let y = Tensor::from_slice(&labels, [64])?;
        let first = model.train_on_batch(&x, &y)?["loss"];
        let mut last = first;
        let t = measure(5, reps, || {
            last = model.train_on_batch(&x, &y)?["loss"];
            Ok(())
        })?;
        Ok((t, first, last))
    })
}

/// What one W5 run measured: each epoch's wall time (on_epoch_begin → on_epoch_end) and
/// the test accuracy after each epoch (computed outside the timed span).
#[derive(Clone, Debug)]
pub struct FitRun {
    pub epoch_ms: Vec<f64>,
    pub test_accuracy: Vec<f64>,
}

/// W5: the W3 MLP built and trained with Keras's `fit` on the 60,000 MNIST training images
/// (scaled to [0, 1]), batch 128, Adam 1e-3, `epochs` epochs, seed `seed`.
pub fn w5_fit_mnist(
    device: &Device,
    train: (&Tensor, &Tensor),
    test: (&Tensor, &Tensor),
    epochs: usize,
    seed: u64,
) -> Result<FitRun> {
    use crate::keras::activations::Activation::Relu;
    use crate::keras::callbacks::{Callback, Logs};
    use crate::keras::layers::{Dense, InputLayer, Layer};
    use crate::keras::{EvaluateOptions, FitOptions, Model, Verbose};
    struct Timer {
        start: Instant,
        run: std::rc::Rc<std::cell::RefCell<FitRun>>,
        test: (Tensor, Tensor),
    }
    impl Callback for Timer {
        fn on_epoch_begin(&mut self, _: &Model, _: usize) -> Result<()> {
            self.start = Instant::now();
            Ok(())
        }
        fn on_epoch_end(&mut self, model: &Model, _: usize, _: &Logs) -> Result<()> {
            let ms = self.start.elapsed().as_secs_f64() * 1e3;
            let logs = model.evaluate(
                (&self.test.0, &self.test.1),
                EvaluateOptions {
                    batch_size: 1000,
                    verbose: Verbose::Silent,
                    ..Default::default()
                },
            )?;
            let mut run = self.run.borrow_mut();
            run.epoch_ms.push(ms);
            run.test_accuracy.push(logs["accuracy"]);
            Ok(())
        }
    }
    with_device(device, || {
        crate::keras::set_random_seed(seed);
        let model = crate::keras::Sequential::new(vec![
            InputLayer::new(&[784]).into_ref(),
            Dense::new(512).activation(Relu).into_ref(),
            Dense::new(256).activation(Relu).into_ref(),
            Dense::new(10).into_ref(),
        ])?;
        model.compile(
            crate::optimizers::Adam::new(1e-3),
            crate::keras::losses::SparseCategoricalCrossentropy::new().from_logits(true),
            vec!["accuracy".into()],
        )?;
        let run = std::rc::Rc::new(std::cell::RefCell::new(FitRun {
            epoch_ms: Vec::new(),
            test_accuracy: Vec::new(),
        }));
        let timer = Timer {
            start: Instant::now(),
            run: run.clone(),
            test: (test.0.clone(), test.1.clone()),
        };
        model.fit(
            (train.0, train.1),
            FitOptions {
                epochs,
                batch_size: 128,
                verbose: Verbose::Silent,
                callbacks: vec![Box::new(timer)],
                ..Default::default()
            },
        )?;
        let out = run.borrow().clone();
        Ok(out)
    })
}
