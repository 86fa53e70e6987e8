//! Keras models: `summary()` against the text Keras 3.15 printed for the same models
//! (tests/fixtures/keras/summaries.txt, written by summaries.py), the three ways to build
//! the seeds' linear model, `fit` against a hand-written traced loop and against
//! `run_eagerly`, and the errors for bad input.

mod common;

use common::Gen;
use std::rc::Rc;
use wgflow::keras::activations::Activation::Relu;
use wgflow::keras::callbacks::{CSVLogger, EarlyStopping, LearningRateScheduler, TerminateOnNaN};
use wgflow::keras::layers::{
    Add, Concatenate, Conv2D, Dense, Flatten, InputLayer, Layer, LayerRef, MaxPooling2D,
};
use wgflow::keras::losses::{Loss, MeanSquaredError, SparseCategoricalCrossentropy};
use wgflow::keras::{FitOptions, Input, Model, Sequential, Verbose};
use wgflow::optimizers::{Optimizer, SGD};
use wgflow::{Arg, Device, GradientTape, Tensor, Variable, function, with_device};

/// The table Keras printed for the model tagged `tag`.
fn keras_summary(tag: &str) -> String {
    let text = include_str!("fixtures/keras/summaries.txt");
    let start = text
        .find(&format!("===== {tag}\n"))
        .expect("tag in fixture");
    let body = &text[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    let end = body.find("=====").unwrap_or(body.len());
    body[..end].to_string()
}

struct Linear {
    dense: LayerRef,
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

#[test]
fn summaries_match_keras() {
    // Built in the order summaries.py builds them, so the automatic names agree.
    let seq = Sequential::new(vec![Dense::new(1).input_dim(4).into_ref()]).unwrap();
    assert_eq!(seq.summary(), keras_summary("seq_input_dim"));
    assert_eq!(seq.count_params(), 5);

    let inputs = Input::named(&[4], "data");
    let outputs = Dense::new(1).into_ref().apply(&[&inputs]).unwrap();
    let functional = Model::new(&[inputs], &[outputs], "linear").unwrap();
    assert_eq!(functional.summary(), keras_summary("functional"));

    let subclassed = Model::from_layer(Linear {
        dense: Dense::new(1).into_ref(),
    });
    assert_eq!(subclassed.summary(), keras_summary("subclassed_unbuilt"));
    subclassed
        .call(&Tensor::from_slice(&[0.0f32; 8], [2, 4]).unwrap(), false)
        .unwrap();
    assert_eq!(subclassed.summary(), keras_summary("subclassed_built"));

    let mlp = Sequential::new(vec![
        InputLayer::new(&[784]).into_ref(),
        Dense::new(512).activation(Relu).into_ref(),
        Dense::new(256).activation(Relu).into_ref(),
        Dense::new(10).into_ref(),
    ])
    .unwrap();
    assert_eq!(mlp.summary(), keras_summary("mlp"));

    let cnn = Sequential::new(vec![
        InputLayer::new(&[28, 28, 1]).into_ref(),
        Conv2D::new(32, 3).activation(Relu).into_ref(),
        MaxPooling2D::new(2).into_ref(),
        Conv2D::new(64, 3).activation(Relu).into_ref(),
        MaxPooling2D::new(2).into_ref(),
        Flatten.into_ref(),
        Dense::new(128).activation(Relu).into_ref(),
        Dense::new(10).into_ref(),
    ])
    .unwrap();
    assert_eq!(cnn.summary(), keras_summary("cnn"));

    let a = Input::named(&[8], "a");
    let b = Input::named(&[8], "b");
    let dense = Dense::new(8).into_ref();
    let da = dense.apply(&[&a]).unwrap();
    let db = dense.apply(&[&b]).unwrap();
    let x = Add.into_ref().apply(&[&da, &db]).unwrap();
    let y = Concatenate::new().into_ref().apply(&[&x, &a]).unwrap();
    let o1 = Dense::new(1)
        .into_ref()
        .with_name("o1")
        .apply(&[&y])
        .unwrap();
    let shared = Model::new(&[a, b], &[o1], "functional_3").unwrap();
    assert_eq!(shared.summary(), keras_summary("shared"));
    // The shared Dense holds one set of weights: 8*8+8, plus o1's 16+1.
    assert_eq!(shared.count_params(), 89);
}

/// `y = x · [2, -3, 0.5, 1] + 0.7` on 256 random rows.
fn linear_data(rows: usize) -> (Tensor, Tensor) {
    let mut g = Gen::new(7);
    let x = g.vec_f32(rows * 4, -1.0, 1.0);
    let w = [2.0f32, -3.0, 0.5, 1.0];
    let y: Vec<f32> = x
        .chunks(4)
        .map(|r| r.iter().zip(&w).map(|(a, b)| a * b).sum::<f32>() + 0.7)
        .collect();
    (
        Tensor::from_slice(&x, [rows, 4]).unwrap(),
        Tensor::from_slice(&y, [rows, 1]).unwrap(),
    )
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec().unwrap()
}

fn quiet(epochs: usize, batch_size: usize) -> FitOptions {
    FitOptions {
        epochs,
        batch_size,
        shuffle: false,
        verbose: Verbose::Silent,
        ..Default::default()
    }
}

#[test]
fn fit_recovers_linear_weights_on_every_device() {
    for device in common::devices() {
        with_device(&device, || {
            wgflow::keras::set_random_seed(1);
            let (x, y) = linear_data(256);
            let model = Sequential::new(vec![Dense::new(1).input_dim(4).into_ref()]).unwrap();
            model
                .compile(SGD::new(0.1), MeanSquaredError::new(), vec!["mae".into()])
                .unwrap();
            let history = model.fit((&x, &y), quiet(30, 32)).unwrap();
            let losses = history.get("loss").unwrap();
            assert_eq!(losses.len(), 30);
            assert!(losses[29] < 1e-4, "{device}: final loss {}", losses[29]);
            assert!(history.get("mae").unwrap()[29] < 1e-2);
            let w = model.get_weights();
            common::assert_close("kernel", &values(&w[0]), &[2.0, -3.0, 0.5, 1.0], 1e-2, 0.0);
            common::assert_close("bias", &values(&w[1]), &[0.7], 1e-2, 0.0);
            let logs = model
                .evaluate(
                    (&x, &y),
                    wgflow::keras::EvaluateOptions {
                        verbose: Verbose::Silent,
                        ..Default::default()
                    },
                )
                .unwrap();
            assert!(logs["loss"] < 1e-4);
            let pred = model
                .predict(
                    &x,
                    wgflow::keras::EvaluateOptions {
                        batch_size: 100,
                        verbose: Verbose::Silent,
                        ..Default::default()
                    },
                )
                .unwrap();
            assert_eq!(pred.shape(), &[256, 1]);
            common::assert_close("predict", &values(&pred), &values(&y), 2e-2, 0.0);
        });
    }
}

/// Same start, same batches: `fit`, `fit` with `run_eagerly`, and a hand-written traced
/// loop end with the same weights.
#[test]
fn fit_matches_a_hand_written_loop_and_eager_mode() {
    let device = Device::cpu();
    with_device(&device, || {
        let (x, y) = linear_data(96);
        let make = || {
            let m = Sequential::new(vec![
                Dense::new(3).activation(Relu).input_dim(4).into_ref(),
                Dense::new(1).into_ref(),
            ])
            .unwrap();
            wgflow::keras::set_random_seed(5);
            // Same initial weights in each model.
            let mut g = Gen::new(3);
            let init: Vec<Tensor> = m
                .weights()
                .iter()
                .map(|v| {
                    let n: usize = v.shape().iter().product();
                    Tensor::from_slice(&g.vec_f32(n, -0.5, 0.5), v.shape()).unwrap()
                })
                .collect();
            m.set_weights(&init).unwrap();
            m
        };
        let fitted = make();
        fitted
            .compile(SGD::new(0.05), MeanSquaredError::new(), vec![])
            .unwrap();
        fitted.fit((&x, &y), quiet(3, 32)).unwrap();

        let eager = make();
        eager
            .compile(SGD::new(0.05), MeanSquaredError::new(), vec![])
            .unwrap();
        eager.set_run_eagerly(true);
        eager.fit((&x, &y), quiet(3, 32)).unwrap();

        let manual = Rc::new(make());
        let opt = Rc::new(SGD::new(0.05));
        let (m, o) = (manual.clone(), opt.clone());
        let step = function(move |a: &[Arg]| -> wgflow::Result<Tensor> {
            let (xb, yb) = (a[0].tensor()?, a[1].tensor()?);
            let vars = m.trainable_variables();
            let tape = GradientTape::new();
            let loss = MeanSquaredError::new().compute(yb, &m.call(xb, true)?, None)?;
            let refs: Vec<&Variable> = vars.iter().collect();
            let grads = tape.gradient(&loss, &refs)?;
            let pairs: Vec<(Tensor, &Variable)> = grads
                .into_iter()
                .zip(&vars)
                .map(|(g, v)| (g.unwrap(), v))
                .collect();
            o.apply_gradients(&pairs)?;
            Ok(loss)
        });
        for _ in 0..3 {
            for start in (0..96).step_by(32) {
                let xb = wgflow::ops::slice(&x, &[start, 0], &[32, 4]).unwrap();
                let yb = wgflow::ops::slice(&y, &[start, 0], &[32, 1]).unwrap();
                step.call(&[Arg::from(&xb), Arg::from(&yb)]).unwrap();
            }
        }
        assert_eq!(opt.iterations(), 9);
        for ((a, b), c) in fitted
            .get_weights()
            .iter()
            .zip(eager.get_weights())
            .zip(manual.get_weights())
        {
            common::assert_close("fit vs eager", &values(a), &values(&b), 1e-5, 1e-5);
            common::assert_close("fit vs loop", &values(a), &values(&c), 1e-5, 1e-5);
        }
    });
}

#[test]
fn bad_input_names_the_layer() {
    let device = Device::cpu();
    with_device(&device, || {
        let model = Sequential::new(vec![
            Dense::new(2).input_dim(4).into_ref().with_name("first"),
            Dense::new(1).into_ref(),
        ])
        .unwrap();
        model
            .compile(SGD::new(0.1), MeanSquaredError::new(), vec![])
            .unwrap();
        // Wrong input width.
        let x = Tensor::from_slice(&[0.0f32; 6], [2, 3]).unwrap();
        let e = model.call(&x, false).unwrap_err().to_string();
        assert!(
            e.contains("layer 'first' (Dense)") && e.contains("(None, 4)"),
            "{e}"
        );
        // Labels of the wrong dtype for a sparse cross-entropy.
        let cls = Sequential::new(vec![Dense::new(3).input_dim(2).into_ref()]).unwrap();
        cls.compile(
            SGD::new(0.1),
            SparseCategoricalCrossentropy::new().from_logits(true),
            vec!["accuracy".into()],
        )
        .unwrap();
        let xs = Tensor::from_slice(&[0.0f32; 4], [2, 2]).unwrap();
        let labels = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0], [2, 2]).unwrap();
        let e = cls
            .fit((&xs, &labels), quiet(1, 2))
            .unwrap_err()
            .to_string();
        assert!(e.contains("sparse_categorical_crossentropy"), "{e}");
        // x and y with different numbers of rows.
        let y3 = Tensor::from_slice(&[0i32, 1, 2], [3]).unwrap();
        let e = cls.fit((&xs, &y3), quiet(1, 2)).unwrap_err().to_string();
        assert!(e.contains("2 rows") && e.contains("3"), "{e}");
        // An empty dataset.
        let empty = wgflow::data::Dataset::from_tensor_slices((
            Tensor::from_slice(&[0.0f32; 0], [0, 2]).unwrap(),
            Tensor::from_slice(&[0i32; 0], [0]).unwrap(),
        ))
        .unwrap()
        .batch(4, false)
        .unwrap();
        let e = cls.fit(&empty, quiet(1, 2)).unwrap_err().to_string();
        assert!(e.contains("no batches"), "{e}");
        // One layer used with two incompatible shapes.
        let dense = Dense::new(2).into_ref();
        dense
            .call(&[Tensor::from_slice(&[0.0f32; 4], [1, 4]).unwrap()], false)
            .unwrap();
        let e = dense
            .call(&[Tensor::from_slice(&[0.0f32; 5], [1, 5]).unwrap()], false)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("layer 'dense") && e.contains("(None, 4)") && e.contains("(1, 5)"),
            "{e}"
        );
        // Not compiled.
        let raw = Sequential::new(vec![Dense::new(1).into_ref()]).unwrap();
        let e = raw.fit((&xs, &y3), quiet(1, 2)).unwrap_err().to_string();
        assert!(e.contains("compile"), "{e}");
    });
}

#[test]
fn a_nan_loss_is_an_error_naming_the_layer() {
    with_device(&Device::cpu(), || {
        let model = Sequential::new(vec![
            Dense::new(2).input_dim(2).into_ref().with_name("ok"),
            wgflow::keras::layers::Activation(wgflow::keras::activations::Activation::Exponential)
                .into_ref()
                .with_name("blows_up"),
            Dense::new(1).into_ref(),
        ])
        .unwrap();
        model
            .compile(SGD::new(0.1), MeanSquaredError::new(), vec![])
            .unwrap();
        // Huge inputs overflow exp in the second layer.
        let x = Tensor::from_slice(&[1e6f32, -1e6, 1e6, 1e6], [2, 2]).unwrap();
        let y = Tensor::from_slice(&[0.0f32, 0.0], [2, 1]).unwrap();
        model
            .set_weights(&[
                Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0], [2, 2]).unwrap(),
                Tensor::from_slice(&[0.0f32, 0.0], [2]).unwrap(),
                Tensor::from_slice(&[1.0f32, 1.0], [2, 1]).unwrap(),
                Tensor::from_slice(&[0.0f32], [1]).unwrap(),
            ])
            .unwrap();
        let e = model.fit((&x, &y), quiet(1, 2)).unwrap_err().to_string();
        assert!(e.contains("'blows_up'") || e.contains("weight"), "{e}");

        // With TerminateOnNaN, training stops instead.
        model
            .set_weights(&[
                Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0], [2, 2]).unwrap(),
                Tensor::from_slice(&[0.0f32, 0.0], [2]).unwrap(),
                Tensor::from_slice(&[1.0f32, 1.0], [2, 1]).unwrap(),
                Tensor::from_slice(&[0.0f32], [1]).unwrap(),
            ])
            .unwrap();
        let stop = Rc::new(std::cell::RefCell::new(TerminateOnNaN::new()));
        let mut opts = quiet(3, 1);
        opts.callbacks.push(Box::new(stop.clone()));
        let h = model.fit((&x, &y), opts).unwrap();
        assert_eq!(stop.borrow().stopped_at_batch, Some(0));
        assert!(h.epochs.len() <= 1);

        // A functional model with two inputs: the culprit is found on its own branch.
        // Frozen layers keep their weights finite, so the layer walk decides.
        let a = Input::named(&[2], "a");
        let b = Input::named(&[2], "b");
        let ok = Dense::new(2).into_ref().with_name("ok");
        let blows_up =
            wgflow::keras::layers::Activation(wgflow::keras::activations::Activation::Exponential)
                .into_ref()
                .with_name("blows_up");
        let joined = Concatenate::new()
            .into_ref()
            .apply(&[&ok.apply(&[&a]).unwrap(), &blows_up.apply(&[&b]).unwrap()])
            .unwrap();
        let head = Dense::new(1).into_ref();
        let out = head.apply(&[&joined]).unwrap();
        let model = Model::new(&[a, b], &[out], "two_branches").unwrap();
        for l in [&ok, &head] {
            l.set_trainable(false);
        }
        model
            .compile(SGD::new(0.1), MeanSquaredError::new(), vec![])
            .unwrap();
        let small = Tensor::from_slice(&[0.5f32, -0.5, 0.25, 1.0], [2, 2]).unwrap();
        let e = model
            .fit((vec![small, x.clone()], vec![y.clone()]), quiet(1, 2))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("layer 'blows_up' (Activation) gives non-finite outputs"),
            "{e}"
        );
    });
}

#[test]
fn callbacks_stop_schedule_and_log() {
    with_device(&Device::cpu(), || {
        wgflow::keras::set_random_seed(3);
        let (x, y) = linear_data(64);
        let model = Sequential::new(vec![Dense::new(1).input_dim(4).into_ref()]).unwrap();
        model
            .compile(SGD::new(0.1), MeanSquaredError::new(), vec![])
            .unwrap();
        let dir = std::env::temp_dir().join(format!("wgflow-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("log.csv");
        let rates = Rc::new(std::cell::RefCell::new(Vec::new()));
        let seen = rates.clone();
        let early = Rc::new(std::cell::RefCell::new(
            EarlyStopping::new("val_loss").patience(1).min_delta(10.0),
        ));
        let mut opts = quiet(10, 16);
        opts.validation_split = 0.25;
        opts.callbacks = vec![
            Box::new(LearningRateScheduler::new(move |epoch, lr| {
                seen.borrow_mut().push(lr);
                if epoch == 0 { 0.2 } else { lr * 0.5 }
            })),
            Box::new(CSVLogger::new(&csv)),
            Box::new(early.clone()),
        ];
        let history = model.fit((&x, &y), opts).unwrap();
        // min_delta 10 means no epoch improves on the first: stop after patience 1.
        assert_eq!(history.epochs, vec![0, 1]);
        assert_eq!(early.borrow().stopped_epoch, 1);
        let r = rates.borrow();
        assert!(
            (r[0] - 0.1).abs() < 1e-9 && (r[1] - 0.2).abs() < 1e-9,
            "{r:?}"
        );
        assert!(history.get("val_loss").is_some());
        let text = std::fs::read_to_string(&csv).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "epoch,loss,val_loss");
        assert_eq!(lines.len(), 3);
        assert!(lines[2].starts_with("1,"));
        std::fs::remove_dir_all(&dir).unwrap();
    });
}

/// The README's main job on a slice of the real data (CI has `WGFLOW_DATASETS` when
/// `../shared/data` is there): the W5 MLP with `fit` on 10,000 training images for two epochs
/// reaches over 90 % on 2,000 test images, on every device. The full-data accuracy (≥ 97.5 %
/// after 3 epochs) is measured by `examples/mnist_mlp.rs` and reported in the README.
#[test]
fn mnist_mlp_learns_on_a_slice_of_real_mnist() {
    let Some(root) = std::env::var_os("WGFLOW_DATASETS") else {
        eprintln!("skipping the real-MNIST fit test: WGFLOW_DATASETS is not set");
        return;
    };
    let dir = std::path::Path::new(&root).join("mnist");
    if !dir.is_dir() {
        eprintln!(
            "skipping the real-MNIST fit test: {} is missing",
            dir.display()
        );
        return;
    }
    let ((xtr, ytr), (xte, yte)) = wgflow::datasets::mnist::load_data_from(&dir).unwrap();
    let take = |x: &ndarray::Array3<u8>, y: &ndarray::Array1<u8>, n: usize| {
        let xs: Vec<f32> = x.iter().take(n * 784).map(|&p| p as f32 / 255.0).collect();
        let ys: Vec<i32> = y.iter().take(n).map(|&l| l as i32).collect();
        (
            Tensor::from_vec(xs, [n, 784]).unwrap(),
            Tensor::from_vec(ys, [n]).unwrap(),
        )
    };
    for device in common::devices() {
        with_device(&device, || {
            wgflow::keras::set_random_seed(2);
            // Host data, as Keras's numpy arrays: on wgpu `fit` uploads each batch.
            let host = Device::cpu();
            let (x, y) = with_device(&host, || take(&xtr, &ytr, 10000));
            let (xt, yt) = with_device(&host, || take(&xte, &yte, 2000));
            let model = Sequential::new(vec![
                InputLayer::new(&[784]).into_ref(),
                Dense::new(512).activation(Relu).into_ref(),
                Dense::new(256).activation(Relu).into_ref(),
                Dense::new(10).into_ref(),
            ])
            .unwrap();
            model
                .compile(
                    wgflow::optimizers::Adam::new(1e-3),
                    SparseCategoricalCrossentropy::new().from_logits(true),
                    vec!["accuracy".into()],
                )
                .unwrap();
            let mut opts = quiet(2, 128);
            opts.shuffle = true;
            model.fit((&x, &y), opts).unwrap();
            let logs = model
                .evaluate(
                    (&xt, &yt),
                    wgflow::keras::EvaluateOptions {
                        batch_size: 500,
                        verbose: Verbose::Silent,
                        ..Default::default()
                    },
                )
                .unwrap();
            assert!(logs["accuracy"] > 0.9, "{device}: {logs:?}");
        });
    }
}

/// `fit` on a `Dataset` of batches and on the same tensors unshuffled train identically;
/// `validation_data` and `evaluate` take datasets too.
#[test]
fn fit_on_a_dataset_matches_fit_on_tensors() {
    with_device(&Device::cpu(), || {
        let (x, y) = linear_data(64);
        let make = || {
            wgflow::keras::set_random_seed(11);
            let m = Sequential::new(vec![Dense::new(1).input_dim(4).into_ref()]).unwrap();
            m.compile(SGD::new(0.1), MeanSquaredError::new(), vec!["mae".into()])
                .unwrap();
            m
        };
        let a = make();
        a.fit((&x, &y), quiet(3, 16)).unwrap();
        let b = make();
        let ds = wgflow::data::Dataset::from_tensor_slices((x.clone(), y.clone()))
            .unwrap()
            .batch(16, false)
            .unwrap();
        let mut opts = quiet(3, 999);
        opts.validation_data = Some((&ds).into());
        let h = b.fit(&ds, opts).unwrap();
        assert_eq!(h.get("val_loss").unwrap().len(), 3);
        for (wa, wb) in a.get_weights().iter().zip(b.get_weights()) {
            common::assert_close("dataset vs tensors", &values(wa), &values(&wb), 1e-6, 1e-6);
        }
        let logs = b
            .evaluate(
                &ds,
                wgflow::keras::EvaluateOptions {
                    verbose: Verbose::Silent,
                    ..Default::default()
                },
            )
            .unwrap();
        assert!((logs["loss"] - h.get("val_loss").unwrap()[2]).abs() < 1e-6);
    });
}

/// Sets every weight of `model` from a fixed generator, so that two models start equal.
fn init_weights(model: &Model, seed: u64) {
    let mut g = Gen::new(seed);
    let init: Vec<Tensor> = model
        .weights()
        .iter()
        .map(|v| {
            let n: usize = v.shape().iter().product();
            Tensor::from_slice(&g.vec_f32(n, -0.5, 0.5), v.shape()).unwrap()
        })
        .collect();
    model.set_weights(&init).unwrap();
}

fn silent_eval() -> wgflow::keras::EvaluateOptions {
    wgflow::keras::EvaluateOptions {
        verbose: Verbose::Silent,
        ..Default::default()
    }
}

/// Every key of two histories agrees, epoch by epoch.
fn assert_same_history(what: &str, a: &wgflow::keras::History, b: &wgflow::keras::History) {
    assert_eq!(
        a.history.keys().collect::<Vec<_>>(),
        b.history.keys().collect::<Vec<_>>(),
        "{what}"
    );
    for (k, v) in &a.history {
        common::assert_close(&format!("{what}: {k}"), v, &b.history[k], 1e-5, 1e-5);
    }
}

/// Integer weights are row counts: a fit with weights 1, 2, 0 (repeating) over all rows in
/// one batch equals an unweighted fit on the rows repeated that many times. The weights sum
/// to the number of rows, so the default SUM_OVER_BATCH_SIZE divides both losses by the
/// same count; rows of weight 0 carry wild labels that must not matter.
#[test]
fn weighted_fit_equals_fit_on_duplicated_rows() {
    for device in common::devices() {
        with_device(&device, || {
            let (x, y) = linear_data(12);
            let (xs, mut ys) = (values(&x), values(&y));
            let weights: Vec<f32> = (0..12).map(|i| [1.0, 2.0, 0.0][i % 3]).collect();
            let (mut xd, mut yd) = (Vec::new(), Vec::new());
            for (i, &w) in weights.iter().enumerate() {
                if w == 0.0 {
                    ys[i] = 1000.0;
                }
                for _ in 0..w as usize {
                    xd.extend(xs[i * 4..i * 4 + 4].iter().map(|&v| v as f32));
                    yd.push(ys[i] as f32);
                }
            }
            let yw: Vec<f32> = ys.iter().map(|&v| v as f32).collect();
            let y = Tensor::from_slice(&yw, [12, 1]).unwrap();
            let w = Tensor::from_slice(&weights, [12]).unwrap();
            assert_eq!(yd.len(), 12);
            let x_dup = Tensor::from_slice(&xd, [12, 4]).unwrap();
            let y_dup = Tensor::from_slice(&yd, [12, 1]).unwrap();

            let make = || {
                let m = Sequential::new(vec![Dense::new(1).input_dim(4).into_ref()]).unwrap();
                init_weights(&m, 3);
                m.compile(SGD::new(0.1), MeanSquaredError::new(), vec!["mae".into()])
                    .unwrap();
                m
            };
            let weighted = make();
            let mut opts = quiet(5, 12);
            opts.sample_weight = Some(w.clone());
            let hw = weighted.fit((&x, &y), opts).unwrap();
            let dup = make();
            let hd = dup.fit((&x_dup, &y_dup), quiet(5, 12)).unwrap();
            assert_same_history(&format!("{device}: weighted vs repeated"), &hw, &hd);
            for (a, b) in weighted.get_weights().iter().zip(dup.get_weights()) {
                common::assert_close(
                    &format!("{device}: weighted vs repeated weights"),
                    &values(a),
                    &values(&b),
                    1e-5,
                    1e-5,
                );
            }
            // The same through `(x, y, sample_weight)` data and train_on_batch_weighted.
            let tuple = make();
            let ht = tuple.fit((&x, &y, &w), quiet(5, 12)).unwrap();
            assert_same_history(&format!("{device}: tuple data"), &ht, &hw);
            let on_batch = make();
            for _ in 0..5 {
                on_batch.train_on_batch_weighted(&x, &y, &w).unwrap();
            }
            for (a, b) in on_batch.get_weights().iter().zip(weighted.get_weights()) {
                common::assert_close(
                    &format!("{device}: train_on_batch_weighted"),
                    &values(a),
                    &values(&b),
                    1e-6,
                    1e-6,
                );
            }
        });
    }
}

/// Shuffled small batches keep each weight with its row: rows of weight 0 carry wrong
/// labels, and the fit still recovers the true linear map (a weight that travelled to
/// another row would let them pull it off).
#[test]
fn sample_weights_follow_their_rows_when_shuffled() {
    for device in common::devices() {
        with_device(&device, || {
            wgflow::keras::set_random_seed(4);
            let (x, y) = linear_data(128);
            let mut ys = values(&y);
            let mut weights = vec![1.0f32; 128];
            for i in (0..128).step_by(4) {
                ys[i] = -50.0;
                weights[i] = 0.0;
            }
            let ys: Vec<f32> = ys.iter().map(|&v| v as f32).collect();
            let y = Tensor::from_slice(&ys, [128, 1]).unwrap();
            let w = Tensor::from_slice(&weights, [128]).unwrap();
            let model = Sequential::new(vec![Dense::new(1).input_dim(4).into_ref()]).unwrap();
            model
                .compile(SGD::new(0.1), MeanSquaredError::new(), vec![])
                .unwrap();
            let mut opts = quiet(40, 16);
            opts.shuffle = true;
            opts.sample_weight = Some(w);
            model.fit((&x, &y), opts).unwrap();
            let k = model.get_weights();
            common::assert_close(
                &format!("{device}: kernel"),
                &values(&k[0]),
                &[2.0, -3.0, 0.5, 1.0],
                2e-2,
                0.0,
            );
            common::assert_close(
                &format!("{device}: bias"),
                &values(&k[1]),
                &[0.7],
                2e-2,
                0.0,
            );
        });
    }
}

/// A small classifier with fixed weights, its data and hand-made per-row weights.
fn classifier() -> (Model, Tensor, Vec<f32>, Vec<i32>) {
    let model = Sequential::new(vec![Dense::new(3).input_dim(2).into_ref()]).unwrap();
    init_weights(&model, 9);
    model
        .compile(
            SGD::new(0.2),
            SparseCategoricalCrossentropy::new().from_logits(true),
            vec!["accuracy".into()],
        )
        .unwrap();
    let mut g = Gen::new(21);
    let xs = g.vec_f32(20, -2.0, 2.0);
    let labels = g.vec_i32(10, 0, 3);
    (model, Tensor::from_slice(&xs, [10, 2]).unwrap(), xs, labels)
}

/// `evaluate` with weights: the loss is sum(w·ce)/n (SUM_OVER_BATCH_SIZE, summed over
/// batches by the batch-size-weighted tracker) and the accuracy sum(w·correct)/sum(w),
/// against the same sums in f64; test_on_batch_weighted agrees.
#[test]
fn weighted_evaluate_matches_a_hand_computation() {
    for device in common::devices() {
        with_device(&device, || {
            let (model, x, xs, labels) = classifier();
            let y = Tensor::from_slice(&labels, [10]).unwrap();
            let sw = [0.5f32, 2.0, 0.0, 1.0, 3.0, 0.25, 1.5, 1.0, 0.0, 2.5];
            let w = Tensor::from_slice(&sw, [10]).unwrap();
            let p = model.get_weights();
            let (kernel, bias) = (values(&p[0]), values(&p[1]));
            let (mut loss, mut correct, mut plain) = (0.0f64, 0.0f64, 0.0f64);
            for i in 0..10 {
                let logits: Vec<f64> = (0..3)
                    .map(|c| {
                        xs[i * 2] as f64 * kernel[c]
                            + xs[i * 2 + 1] as f64 * kernel[3 + c]
                            + bias[c]
                    })
                    .collect();
                let max = logits.iter().cloned().fold(f64::MIN, f64::max);
                let lse = max + logits.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
                let ce = lse - logits[labels[i] as usize];
                let best = (0..3)
                    .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
                    .unwrap();
                loss += sw[i] as f64 * ce;
                plain += ce;
                if best == labels[i] as usize {
                    correct += sw[i] as f64;
                }
            }
            let total_w: f64 = sw.iter().map(|&v| v as f64).sum();
            let (want_loss, want_acc) = (loss / 10.0, correct / total_w);
            let mut opts = silent_eval();
            opts.batch_size = 4;
            opts.sample_weight = Some(w.clone());
            let logs = model.evaluate((&x, &y), opts).unwrap();
            common::assert_close(
                &format!("{device}: loss"),
                &[logs["loss"]],
                &[want_loss],
                1e-5,
                1e-5,
            );
            common::assert_close(
                &format!("{device}: accuracy"),
                &[logs["accuracy"]],
                &[want_acc],
                1e-6,
                1e-6,
            );
            let batch = model.test_on_batch_weighted(&x, &y, &w).unwrap();
            common::assert_close(
                &format!("{device}: test_on_batch loss"),
                &[batch["loss"]],
                &[want_loss],
                1e-5,
                1e-5,
            );
            common::assert_close(
                &format!("{device}: test_on_batch accuracy"),
                &[batch["accuracy"]],
                &[want_acc],
                1e-6,
                1e-6,
            );
            // Unweighted, the loss is the plain mean.
            let logs = model.evaluate((&x, &y), silent_eval()).unwrap();
            common::assert_close(
                &format!("{device}: unweighted loss"),
                &[logs["loss"]],
                &[plain / 10.0],
                1e-5,
                1e-5,
            );
        });
    }
}

/// `class_weight` is the sample weight of each row's class: fits with either are equal,
/// and the conversion reads integer, `[n, 1]` float and one-hot labels alike.
#[test]
fn class_weight_equals_the_matching_sample_weight() {
    with_device(&Device::cpu(), || {
        let cw: wgflow::keras::ClassWeight = [(0, 0.5), (1, 2.0), (2, 1.5)].into();
        let (by_class, x, _, labels) = classifier();
        let y = Tensor::from_slice(&labels, [10]).unwrap();
        let sw: Vec<f32> = labels.iter().map(|&l| cw[&(l as usize)] as f32).collect();
        let w = Tensor::from_slice(&sw, [10]).unwrap();
        let (by_sample, ..) = classifier();
        let fit = |m: &Model, sample: Option<Tensor>, class: Option<wgflow::keras::ClassWeight>| {
            wgflow::keras::set_random_seed(8);
            let mut opts = quiet(4, 3);
            opts.shuffle = true;
            opts.validation_split = 0.2;
            opts.sample_weight = sample;
            opts.class_weight = class;
            m.fit((&x, &y), opts).unwrap()
        };
        let hc = fit(&by_class, None, Some(cw.clone()));
        // Class weights weigh training only, so the held-out rows get no weights here.
        let mut unweighted_tail = sw.clone();
        unweighted_tail[8..].fill(1.0);
        let hs = fit(
            &by_sample,
            Some(Tensor::from_slice(&unweighted_tail, [10]).unwrap()),
            None,
        );
        assert_same_history("class_weight vs sample_weight", &hc, &hs);
        for (a, b) in by_class.get_weights().iter().zip(by_sample.get_weights()) {
            common::assert_close(
                "class_weight vs sample_weight",
                &values(a),
                &values(&b),
                1e-6,
                1e-6,
            );
        }
        assert_eq!(
            values(&wgflow::keras::class_weight_to_sample_weights(&y, &cw).unwrap()),
            values(&w)
        );
        let as_float: Vec<f32> = labels.iter().map(|&l| l as f32).collect();
        let column = Tensor::from_slice(&as_float, [10, 1]).unwrap();
        assert_eq!(
            values(&wgflow::keras::class_weight_to_sample_weights(&column, &cw).unwrap()),
            values(&w)
        );
        let one_hot = wgflow::ops::one_hot(&y, 3, 1.0, 0.0, -1).unwrap();
        assert_eq!(
            values(&wgflow::keras::class_weight_to_sample_weights(&one_hot, &cw).unwrap()),
            values(&w)
        );
    });
}

/// Weights ride in `(x, y, sample_weight)` datasets, in weighted `validation_data`, and
/// `class_weight` maps a dataset's batches; each trains as the same weights on tensors.
#[test]
fn weighted_datasets_match_weighted_tensors() {
    with_device(&Device::cpu(), || {
        let (x, y) = linear_data(48);
        let mut g = Gen::new(5);
        let w = Tensor::from_slice(&g.vec_f32(48, 0.0, 2.0), [48]).unwrap();
        let (xv, yv) = linear_data(16);
        let wv = Tensor::from_slice(&g.vec_f32(16, 0.0, 2.0), [16]).unwrap();
        let make = || {
            let m = Sequential::new(vec![Dense::new(1).input_dim(4).into_ref()]).unwrap();
            init_weights(&m, 6);
            m.compile(SGD::new(0.1), MeanSquaredError::new(), vec!["mae".into()])
                .unwrap();
            m
        };
        let a = make();
        let mut opts = quiet(3, 16);
        opts.sample_weight = Some(w.clone());
        opts.validation_data = Some((&xv, &yv, &wv).into());
        let ha = a.fit((&x, &y), opts).unwrap();
        let b = make();
        let ds = wgflow::data::Dataset::from_tensor_slices((x.clone(), y.clone(), w.clone()))
            .unwrap()
            .batch(16, false)
            .unwrap();
        let val = wgflow::data::Dataset::from_tensor_slices((xv.clone(), yv.clone(), wv.clone()))
            .unwrap()
            .batch(16, false)
            .unwrap();
        let mut opts = quiet(3, 999);
        opts.validation_data = Some((&val).into());
        let hb = b.fit(&ds, opts).unwrap();
        assert_same_history("weighted dataset vs tensors", &ha, &hb);
        for (wa, wb) in a.get_weights().iter().zip(b.get_weights()) {
            common::assert_close(
                "weighted dataset vs tensors",
                &values(wa),
                &values(&wb),
                1e-6,
                1e-6,
            );
        }
        let ea = a.evaluate((&x, &y, &w), silent_eval()).unwrap();
        let mut opts = silent_eval();
        opts.sample_weight = Some(w.clone());
        let eb = a.evaluate((&x, &y), opts).unwrap();
        assert_eq!(ea, eb);

        // class_weight over a dataset of integer labels.
        let (cls, xc, _, labels) = classifier();
        let yc = Tensor::from_slice(&labels, [10]).unwrap();
        let cw: wgflow::keras::ClassWeight = [(0, 3.0), (1, 0.5), (2, 1.0)].into();
        let mut opts = quiet(3, 5);
        opts.class_weight = Some(cw.clone());
        let hc = cls.fit((&xc, &yc), opts).unwrap();
        let (cls_ds, ..) = classifier();
        let dsc = wgflow::data::Dataset::from_tensor_slices((xc.clone(), yc.clone()))
            .unwrap()
            .batch(5, false)
            .unwrap();
        let mut opts = quiet(3, 999);
        opts.class_weight = Some(cw);
        let hd = cls_ds.fit(&dsc, opts).unwrap();
        assert_same_history("class_weight on a dataset", &hc, &hd);
    });
}

/// Traced and `run_eagerly` steps take the weights identically: shuffled weighted fits
/// with a weighted validation split and weighted evaluations agree.
#[test]
fn weighted_fit_traced_matches_run_eagerly() {
    with_device(&Device::cpu(), || {
        let (x, y) = linear_data(40);
        let mut g = Gen::new(17);
        let w = Tensor::from_slice(&g.vec_f32(40, 0.0, 3.0), [40]).unwrap();
        let run = |eager: bool| {
            let m = Sequential::new(vec![
                Dense::new(3).activation(Relu).input_dim(4).into_ref(),
                Dense::new(1).into_ref(),
            ])
            .unwrap();
            init_weights(&m, 2);
            m.compile(SGD::new(0.05), MeanSquaredError::new(), vec!["mae".into()])
                .unwrap();
            m.set_run_eagerly(eager);
            wgflow::keras::set_random_seed(12);
            let mut opts = quiet(3, 8);
            opts.shuffle = true;
            opts.validation_split = 0.25;
            opts.sample_weight = Some(w.clone());
            let h = m.fit((&x, &y), opts).unwrap();
            let mut eval = silent_eval();
            eval.batch_size = 7;
            eval.sample_weight = Some(w.clone());
            let logs = m.evaluate((&x, &y), eval).unwrap();
            (h, logs, m.get_weights())
        };
        let (ht, lt, wt) = run(false);
        let (he, le, we) = run(true);
        assert!(ht.get("val_loss").is_some());
        assert_same_history("traced vs eager", &ht, &he);
        for k in ["loss", "mae"] {
            common::assert_close(k, &[lt[k]], &[le[k]], 1e-5, 1e-5);
        }
        for (a, b) in wt.iter().zip(&we) {
            common::assert_close(
                "traced vs eager weights",
                &values(a),
                &values(b),
                1e-5,
                1e-5,
            );
        }
    });
}

#[test]
fn bad_sample_weights_are_errors() {
    with_device(&Device::cpu(), || {
        let (model, x, _, labels) = classifier();
        let y = Tensor::from_slice(&labels, [10]).unwrap();
        let with = |w: Tensor| {
            let mut opts = quiet(1, 4);
            opts.sample_weight = Some(w);
            opts
        };
        let short = Tensor::from_slice(&[1.0f32; 7], [7]).unwrap();
        let e = model
            .fit((&x, &y), with(short.clone()))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("fit:") && e.contains("10 rows") && e.contains("[7]"),
            "{e}"
        );
        let mut eval = silent_eval();
        eval.sample_weight = Some(short.clone());
        let e = model.evaluate((&x, &y), eval).unwrap_err().to_string();
        assert!(
            e.starts_with("evaluate:") && e.contains("10 rows") && e.contains("[7]"),
            "{e}"
        );
        let e = model
            .train_on_batch_weighted(&x, &y, &short)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("train_on_batch:") && e.contains("10 rows"),
            "{e}"
        );
        let e = model
            .fit(
                (&x, &y, &Tensor::from_slice(&[1.0f32], []).unwrap()),
                quiet(1, 4),
            )
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("fit:") && e.contains("shape []"), "{e}");

        let ints = Tensor::from_slice(&[1i32; 10], [10]).unwrap();
        let e = model.fit((&x, &y), with(ints)).unwrap_err().to_string();
        assert!(
            e.starts_with("fit:") && e.contains("float32") && e.contains("int32"),
            "{e}"
        );

        let mut opts = quiet(1, 4);
        opts.class_weight = Some([(0, 1.0), (1, 2.0)].into());
        let e = model.fit((&x, &y), opts).unwrap_err().to_string();
        assert!(
            e.starts_with("fit:") && e.contains("no weight for class 2"),
            "{e}"
        );

        let ones = Tensor::from_slice(&[1.0f32; 10], [10]).unwrap();
        let mut opts = with(ones.clone());
        opts.class_weight = Some([(0, 1.0), (1, 1.0), (2, 1.0)].into());
        let e = model.fit((&x, &y), opts).unwrap_err().to_string();
        assert!(
            e.starts_with("fit:") && e.contains("class_weight and sample_weight"),
            "{e}"
        );
        let e = model
            .fit((&x, &y, &ones), with(ones.clone()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("given twice"), "{e}");

        let ds = wgflow::data::Dataset::from_tensor_slices((x.clone(), y.clone()))
            .unwrap()
            .batch(4, false)
            .unwrap();
        let e = model.fit(&ds, with(ones.clone())).unwrap_err().to_string();
        assert!(e.starts_with("fit:") && e.contains("tensor data"), "{e}");
        // A dataset whose weights do not match its batches.
        let bad = wgflow::data::Dataset::from_tensor_slices((x.clone(), y.clone()))
            .unwrap()
            .batch(4, false)
            .unwrap()
            .map(|(x, y)| Ok((x, y, Tensor::from_slice(&[1.0f32; 3], [3])?)));
        let e = model.fit(&bad, quiet(1, 4)).unwrap_err().to_string();
        assert!(
            e.starts_with("fit:") && e.contains("4 rows") && e.contains("[3]"),
            "{e}"
        );
        let e = model.predict(&x, eval_with(ones)).unwrap_err().to_string();
        assert!(e.starts_with("predict:"), "{e}");
    });
}

fn eval_with(w: Tensor) -> wgflow::keras::EvaluateOptions {
    let mut opts = silent_eval();
    opts.sample_weight = Some(w);
    opts
}
