//! Keras losses against the values TensorFlow 2.21 / Keras 3 computed for the same inputs
//! (tests/fixtures/keras/losses_metrics.json, written by losses_metrics.py): every loss
//! class, each reduction, from_logits, label smoothing, sample weights of shape [batch]
//! and [batch, 1], Huber's delta, sparse labels of shape [batch] and [batch, 1]; on every
//! device. Also custom losses (the `Loss` trait and `LossFunction`) against float64
//! references, and the errors for bad labels.

mod common;

use serde_json::Value;
use wgflow::keras::losses::{
    self, BinaryCrossentropy, CategoricalCrossentropy, Huber, Loss, LossFunction,
    MeanAbsoluteError, MeanSquaredError, Reduction, SparseCategoricalCrossentropy,
};
use wgflow::keras::{FitOptions, Layer, Sequential, Verbose};
use wgflow::{Device, Tensor, ops, with_device};

fn fixture() -> Value {
    serde_json::from_str(include_str!("fixtures/keras/losses_metrics.json")).expect("fixture JSON")
}

fn shape_of(v: &Value) -> Vec<usize> {
    v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// A fixture tensor on the current device (float32 or int32 as written).
fn tensor(v: &Value) -> Tensor {
    let shape = shape_of(v);
    match v["dtype"].as_str().unwrap() {
        "int32" => {
            let data: Vec<i32> = floats(v).iter().map(|&x| x as i32).collect();
            Tensor::from_slice(&data, &shape).unwrap()
        }
        _ => Tensor::from_f64(&floats(v), &shape).unwrap(),
    }
}

fn reduction(name: &str) -> Reduction {
    match name {
        "sum_over_batch_size" => Reduction::SumOverBatchSize,
        "sum" => Reduction::Sum,
        "none" => Reduction::None,
        // wgflow's `Reduction::Mean` divides by the sum of the weights: Keras 3's
        // "mean_with_sample_weight" (Keras 3's "mean" is "sum_over_batch_size").
        "mean_with_sample_weight" => Reduction::Mean,
        other => panic!("reduction {other}"),
    }
}

fn make_loss(case: &Value) -> Box<dyn Loss> {
    let cfg = &case["config"];
    let r = reduction(case["reduction"].as_str().unwrap());
    let from_logits = cfg["from_logits"].as_bool().unwrap_or(false);
    let smoothing = cfg["label_smoothing"].as_f64().unwrap_or(0.0);
    match case["loss"].as_str().unwrap() {
        "MeanSquaredError" => Box::new(MeanSquaredError::new().reduction(r)),
        "MeanAbsoluteError" => Box::new(MeanAbsoluteError::new().reduction(r)),
        "Huber" => Box::new(
            Huber::new()
                .delta(cfg["delta"].as_f64().unwrap())
                .reduction(r),
        ),
        "SparseCategoricalCrossentropy" => Box::new(
            SparseCategoricalCrossentropy::new()
                .from_logits(from_logits)
                .reduction(r),
        ),
        "CategoricalCrossentropy" => Box::new(
            CategoricalCrossentropy::new()
                .from_logits(from_logits)
                .label_smoothing(smoothing)
                .reduction(r),
        ),
        "BinaryCrossentropy" => Box::new(
            BinaryCrossentropy::new()
                .from_logits(from_logits)
                .label_smoothing(smoothing)
                .reduction(r),
        ),
        other => panic!("loss {other}"),
    }
}

#[test]
fn losses_match_tensorflow_on_every_device() {
    let fx = fixture();
    let cases = fx["losses"].as_array().unwrap();
    assert!(cases.len() > 100);
    for device in common::devices() {
        with_device(&device, || {
            for case in cases {
                let name = format!("{device}: {}", case["name"].as_str().unwrap());
                let loss = make_loss(case);
                let y_true = tensor(&case["y_true"]);
                let y_pred = tensor(&case["y_pred"]);
                let w = (!case["sample_weight"].is_null()).then(|| tensor(&case["sample_weight"]));
                let got = loss
                    .compute(&y_true, &y_pred, w.as_ref())
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                let want = &case["expected"];
                assert_eq!(got.shape(), shape_of(want).as_slice(), "{name}: shape");
                common::assert_close(&name, &common::values(&got), &floats(want), 2e-5, 2e-5);
            }
        });
    }
}

/// Log-cosh, written as a user would, through the `Loss` trait.
struct LogCosh {
    reduction: Reduction,
}

impl Loss for LogCosh {
    fn name(&self) -> &str {
        "log_cosh"
    }
    fn call(&self, y_true: &Tensor, y_pred: &Tensor) -> wgflow::Result<Tensor> {
        // log(cosh(x)) = x + softplus(-2x) - log 2
        let x = ops::sub(y_pred, y_true)?;
        let two = ops::scalar_like(&x, -2.0)?;
        let l = ops::sub(
            &ops::add(&x, &ops::softplus(&ops::mul(&x, &two)?)?)?,
            &ops::scalar_like(&x, std::f64::consts::LN_2)?,
        )?;
        ops::reduce_mean(&l, -1, false)
    }
    fn reduction(&self) -> Reduction {
        self.reduction
    }
}

/// Per-row log-cosh in float64.
fn log_cosh_rows(t: &[f64], p: &[f64], cols: usize) -> Vec<f64> {
    t.chunks(cols)
        .zip(p.chunks(cols))
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(a, b)| (b - a).cosh().ln())
                .sum::<f64>()
                / cols as f64
        })
        .collect()
}

#[test]
fn custom_losses_through_the_trait_and_a_closure() {
    let mut g = common::Gen::new(11);
    let (rows, cols) = (7, 3);
    let t = g.vec_f32(rows * cols, -2.0, 2.0);
    let p = g.vec_f32(rows * cols, -2.0, 2.0);
    let w = g.vec_f32(rows, 0.0, 2.0);
    let (t64, p64): (Vec<f64>, Vec<f64>) = (
        t.iter().map(|&x| x as f64).collect(),
        p.iter().map(|&x| x as f64).collect(),
    );
    let w64: Vec<f64> = w.iter().map(|&x| x as f64).collect();
    let rows_ref = log_cosh_rows(&t64, &p64, cols);
    let weighted: Vec<f64> = rows_ref.iter().zip(&w64).map(|(l, w)| l * w).collect();
    let sum: f64 = weighted.iter().sum();
    for device in common::devices() {
        with_device(&device, || {
            let yt = Tensor::from_slice(&t, [rows, cols]).unwrap();
            let yp = Tensor::from_slice(&p, [rows, cols]).unwrap();
            let sw = Tensor::from_slice(&w, [rows, 1]).unwrap();
            let check = |loss: &dyn Loss, want: &[f64], what: &str| {
                let got = loss.compute(&yt, &yp, Some(&sw)).unwrap();
                common::assert_close(
                    &format!("{device}: {what}"),
                    &common::values(&got),
                    want,
                    1e-5,
                    1e-5,
                );
            };
            for (r, want) in [
                (Reduction::SumOverBatchSize, vec![sum / rows as f64]),
                (Reduction::Sum, vec![sum]),
                (Reduction::Mean, vec![sum / w64.iter().sum::<f64>()]),
            ] {
                check(&LogCosh { reduction: r }, &want, &format!("trait {r:?}"));
            }
            // Reduction::None with [rows, 1] weights: [rows, 1] values, as Keras.
            let none = LogCosh {
                reduction: Reduction::None,
            }
            .compute(&yt, &yp, Some(&sw))
            .unwrap();
            assert_eq!(none.shape(), &[rows, 1]);
            common::assert_close("none", &common::values(&none), &weighted, 1e-5, 1e-5);

            let closure = LossFunction::new("log_cosh_fn", |t, p| {
                LogCosh {
                    reduction: Reduction::None,
                }
                .call(t, p)
            })
            .reduction(Reduction::Sum);
            assert_eq!(closure.name(), "log_cosh_fn");
            check(&closure, &[sum], "closure sum");
            let unweighted = closure.compute(&yt, &yp, None).unwrap();
            common::assert_close(
                "closure unweighted",
                &common::values(&unweighted),
                &[rows_ref.iter().sum::<f64>()],
                1e-5,
                1e-5,
            );
        });
    }
}

#[test]
fn a_custom_loss_trains_a_model() {
    with_device(&Device::cpu(), || {
        wgflow::keras::set_random_seed(2);
        let mut g = common::Gen::new(5);
        let x = g.vec_f32(64 * 2, -1.0, 1.0);
        let y: Vec<f32> = x
            .chunks(2)
            .map(|r| 1.5 * r[0] - 0.5 * r[1] + 0.25)
            .collect();
        let x = Tensor::from_slice(&x, [64, 2]).unwrap();
        let y = Tensor::from_slice(&y, [64, 1]).unwrap();
        let model = Sequential::new(vec![
            wgflow::keras::layers::Dense::new(1).input_dim(2).into_ref(),
        ])
        .unwrap();
        model
            .compile(
                wgflow::optimizers::SGD::new(0.3),
                LossFunction::new("my_mse", losses::mean_squared_error),
                vec![],
            )
            .unwrap();
        let h = model
            .fit(
                (&x, &y),
                FitOptions {
                    epochs: 20,
                    batch_size: 16,
                    shuffle: false,
                    verbose: Verbose::Silent,
                    ..Default::default()
                },
            )
            .unwrap();
        let l = h.get("loss").unwrap();
        assert!(l[19] < 1e-3 && l[19] < l[0] / 100.0, "{l:?}");
    });
}

#[test]
fn bad_labels_name_the_loss() {
    with_device(&Device::cpu(), || {
        let probs = Tensor::from_slice(&[0.2f32, 0.8, 0.6, 0.4], [2, 2]).unwrap();
        let err = |loss: &dyn Loss, labels: &Tensor| {
            loss.compute(labels, &probs, None).unwrap_err().to_string()
        };
        // Sparse labels of the wrong shape and the wrong dtype.
        let three = Tensor::from_slice(&[0i32, 1, 1], [3]).unwrap();
        let e = err(&SparseCategoricalCrossentropy::new(), &three);
        assert!(
            e.contains("sparse_categorical_crossentropy") && e.contains("[3]"),
            "{e}"
        );
        let bools = ops::cast(
            &Tensor::from_slice(&[0i32, 1], [2]).unwrap(),
            wgflow::DType::Bool,
        )
        .unwrap();
        let e = err(&SparseCategoricalCrossentropy::new(), &bools);
        assert!(
            e.contains("sparse_categorical_crossentropy") && e.contains("integers"),
            "{e}"
        );
        // Dense losses want labels of y_pred's shape.
        let wide = Tensor::from_slice(&[0.0f32; 6], [2, 3]).unwrap();
        for loss in [
            Box::new(MeanSquaredError::new()) as Box<dyn Loss>,
            Box::new(MeanAbsoluteError::new()),
            Box::new(Huber::new()),
            Box::new(CategoricalCrossentropy::new()),
            Box::new(BinaryCrossentropy::new()),
        ] {
            let e = err(loss.as_ref(), &wide);
            assert!(
                e.contains(loss.name().trim_end_matches("_loss")) && e.contains("[2, 3]"),
                "{}: {e}",
                loss.name()
            );
        }
        // Sample weights that do not broadcast.
        let labels = Tensor::from_slice(&[1i32, 0], [2]).unwrap();
        let w = Tensor::from_slice(&[1.0f32, 1.0, 1.0], [3]).unwrap();
        assert!(
            SparseCategoricalCrossentropy::new()
                .compute(&labels, &probs, Some(&w))
                .is_err()
        );
    });
}

#[test]
fn losses_by_name() {
    for (alias, name) in [
        ("mse", "mean_squared_error"),
        ("mae", "mean_absolute_error"),
        ("huber", "huber_loss"),
        (
            "sparse_categorical_crossentropy",
            "sparse_categorical_crossentropy",
        ),
        ("categorical_crossentropy", "categorical_crossentropy"),
        ("binary_crossentropy", "binary_crossentropy"),
    ] {
        assert_eq!(losses::get(alias).unwrap().name(), name);
    }
    let e = losses::get("nope").err().unwrap().to_string();
    assert!(e.contains("nope"), "{e}");
}
