//! Keras metrics against the values TensorFlow 2.21 / Keras 3 computed for the same batches
//! (tests/fixtures/keras/losses_metrics.json, written by losses_metrics.py): the result
//! after each of several `update_state` calls (with and without sample weights) and after
//! `reset_state`, on every device. Also: a metric updated inside a traced function keeps
//! its state on the device and changes every call, `in_top_k`'s edge cases, metrics by
//! name in `compile`/`fit`, and the errors for bad input.

mod common;

use serde_json::Value;
use std::rc::Rc;
use wgflow::keras::layers::{Dense, Layer};
use wgflow::keras::losses::BinaryCrossentropy;
use wgflow::keras::metrics::{
    self, AUC, Accuracy, AucCurve, AucOptions, AucSummation, BinaryAccuracy, CategoricalAccuracy,
    Mean, Metric, Precision, PrecisionRecallOptions, Recall, SparseCategoricalAccuracy,
    SparseTopKCategoricalAccuracy, Sum, TopKCategoricalAccuracy,
};
use wgflow::keras::{FitOptions, Sequential, Verbose};
use wgflow::{Arg, DType, Device, Tensor, function, ops, with_device};

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

fn opt_floats(v: &Value) -> Option<Vec<f64>> {
    v.as_array()
        .map(|a| a.iter().map(|x| x.as_f64().unwrap()).collect())
}

fn make_metric(case: &Value) -> Box<dyn Metric> {
    let cfg = &case["config"];
    let k = cfg["k"].as_u64().map(|k| k as usize);
    match case["metric"].as_str().unwrap() {
        "Accuracy" => Box::new(Accuracy::new()),
        "SparseCategoricalAccuracy" => Box::new(SparseCategoricalAccuracy::new()),
        "CategoricalAccuracy" => Box::new(CategoricalAccuracy::new()),
        "BinaryAccuracy" => Box::new(BinaryAccuracy::with_threshold(
            cfg["threshold"].as_f64().unwrap(),
        )),
        "TopKCategoricalAccuracy" => Box::new(TopKCategoricalAccuracy::with_k(k.unwrap())),
        "SparseTopKCategoricalAccuracy" => {
            Box::new(SparseTopKCategoricalAccuracy::with_k(k.unwrap()))
        }
        kind @ ("Precision" | "Recall") => {
            let options = PrecisionRecallOptions {
                thresholds: opt_floats(&cfg["thresholds"]),
                top_k: cfg["top_k"].as_u64().map(|k| k as usize),
                class_id: cfg["class_id"].as_u64().map(|k| k as usize),
                name: None,
            };
            if kind == "Precision" {
                Box::new(Precision::with_options(options).unwrap())
            } else {
                Box::new(Recall::with_options(options).unwrap())
            }
        }
        "AUC" => Box::new(
            AUC::with_options(AucOptions {
                num_thresholds: cfg["num_thresholds"].as_u64().unwrap_or(200) as usize,
                curve: match cfg["curve"].as_str() {
                    Some("PR") => AucCurve::Pr,
                    _ => AucCurve::Roc,
                },
                summation_method: match cfg["summation_method"].as_str() {
                    Some("minoring") => AucSummation::Minoring,
                    Some("majoring") => AucSummation::Majoring,
                    _ => AucSummation::Interpolation,
                },
                thresholds: opt_floats(&cfg["thresholds"]),
                from_logits: cfg["from_logits"].as_bool().unwrap_or(false),
                multi_label: cfg["multi_label"].as_bool().unwrap_or(false),
                num_labels: cfg["num_labels"].as_u64().map(|n| n as usize),
                label_weights: opt_floats(&cfg["label_weights"]),
                name: None,
            })
            .unwrap(),
        ),
        "Mean" => Box::new(Mean::new("mean").unwrap()),
        "Sum" => Box::new(Sum::new("sum").unwrap()),
        other => panic!("metric {other}"),
    }
}

fn check_result(what: &str, m: &dyn Metric, want: &Value) {
    let got = m.result_tensor().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(got.shape(), shape_of(want).as_slice(), "{what}: shape");
    common::assert_close(what, &common::values(&got), &floats(want), 2e-5, 2e-5);
}

#[test]
fn metrics_match_tensorflow_on_every_device() {
    let fx = fixture();
    let cases = fx["metrics"].as_array().unwrap();
    assert!(cases.len() > 40);
    for device in common::devices() {
        with_device(&device, || {
            for case in cases {
                let name = format!("{device}: {}", case["name"].as_str().unwrap());
                let m = make_metric(case);
                let batches: Vec<(Tensor, Tensor, Option<Tensor>)> = case["batches"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|b| {
                        (
                            tensor(&b["y_true"]),
                            tensor(&b["y_pred"]),
                            (!b["sample_weight"].is_null()).then(|| tensor(&b["sample_weight"])),
                        )
                    })
                    .collect();
                let results = case["results"].as_array().unwrap();
                for (i, ((t, p, w), want)) in batches.iter().zip(results).enumerate() {
                    m.update_state(t, p, w.as_ref())
                        .unwrap_or_else(|e| panic!("{name}: batch {i}: {e}"));
                    check_result(&format!("{name}: after batch {i}"), m.as_ref(), want);
                }
                m.reset_state().unwrap();
                check_result(
                    &format!("{name}: after reset"),
                    m.as_ref(),
                    &case["reset_result"],
                );
                // A reset metric starts over.
                let (t, p, w) = &batches[0];
                m.update_state(t, p, w.as_ref()).unwrap();
                check_result(&format!("{name}: again"), m.as_ref(), &results[0]);
            }
        });
    }
}

/// Updated inside a traced function, a metric's variables change on every call (the
/// update is a graph op on the device, not a side effect of tracing).
#[test]
fn metrics_update_inside_a_traced_function() {
    let mut g = common::Gen::new(9);
    let n = 16;
    let batches: Vec<(Vec<f32>, Vec<f32>)> = (0..4)
        .map(|_| {
            let labels = g.vec_i32(n, 0, 2).into_iter().map(|x| x as f32).collect();
            (labels, g.vec_f32(n, 0.0, 1.0))
        })
        .collect();
    for device in common::devices() {
        with_device(&device, || {
            let traced: Vec<Rc<dyn Metric>> = vec![
                Rc::new(AUC::new()),
                Rc::new(Precision::new()),
                Rc::new(Recall::new()),
                Rc::new(BinaryAccuracy::new()),
            ];
            let eager: Vec<Rc<dyn Metric>> = vec![
                Rc::new(AUC::new()),
                Rc::new(Precision::new()),
                Rc::new(Recall::new()),
                Rc::new(BinaryAccuracy::new()),
            ];
            let ms = traced.clone();
            let step = function(move |a: &[Arg]| -> wgflow::Result<Vec<Tensor>> {
                let (t, p) = (a[0].tensor()?, a[1].tensor()?);
                let mut out = Vec::new();
                for m in &ms {
                    m.update_state(t, p, None)?;
                    out.push(m.result_tensor()?);
                }
                Ok(out)
            });
            let mut previous: Option<Vec<f64>> = None;
            for (labels, preds) in &batches {
                let t = Tensor::from_slice(labels, [n]).unwrap();
                let p = Tensor::from_slice(preds, [n]).unwrap();
                let out = step.call(&[Arg::from(&t), Arg::from(&p)]).unwrap();
                for m in &eager {
                    m.update_state(&t, &p, None).unwrap();
                }
                let got: Vec<f64> = out.iter().map(|r| common::values(r)[0]).collect();
                let want: Vec<f64> = eager.iter().map(|m| m.result().unwrap()).collect();
                common::assert_close(&format!("{device}: traced"), &got, &want, 1e-6, 1e-6);
                // The state read back from the variables agrees with what the call returned.
                let read: Vec<f64> = traced.iter().map(|m| m.result().unwrap()).collect();
                common::assert_close(&format!("{device}: state"), &read, &got, 1e-6, 1e-6);
                if let Some(prev) = &previous {
                    assert_ne!(prev[0], got[0], "{device}: AUC did not change");
                }
                previous = Some(got);
            }
            assert_eq!(step.tracing_count(), 1);
            // The AUC's true positives at the lowest threshold count every positive label.
            let positives: f64 = batches
                .iter()
                .flat_map(|(l, _)| l.iter().map(|&x| x as f64))
                .sum();
            let tp = common::values(&traced[0].variables()[0].read_value());
            assert_eq!(tp.len(), 200);
            assert_eq!(tp[0], positives);
            assert_eq!(tp[199], 0.0);
        });
    }
}

/// TensorFlow's `in_top_k` on ties, out-of-range targets and non-finite rows.
#[test]
fn in_top_k_edge_cases() {
    for device in common::devices() {
        with_device(&device, || {
            let pred = Tensor::from_slice(
                &[
                    0.1f32,
                    0.5,
                    0.5,
                    0.2, // ties at the top: both in the top 1
                    0.1,
                    0.5,
                    0.5,
                    0.2, //
                    0.4,
                    0.3,
                    0.2,
                    0.1, // target 3 is last
                    0.4,
                    0.3,
                    0.2,
                    0.1, // out of range
                    0.4,
                    f32::NAN,
                    0.2,
                    0.1, // non-finite row
                    0.4,
                    0.3,
                    f32::INFINITY,
                    0.1,
                ],
                [6, 4],
            )
            .unwrap();
            let targets = Tensor::from_slice(&[1i32, 2, 3, 4, 0, 0], [6]).unwrap();
            let got = |k: usize| {
                let r = metrics::in_top_k(&targets, &pred, k).unwrap();
                assert_eq!(r.dtype(), DType::Bool);
                common::values(&ops::cast(&r, DType::F32).unwrap())
            };
            assert_eq!(got(1), vec![1.0, 1.0, 0.0, 0.0, 0.0, 0.0], "{device}");
            assert_eq!(got(3), vec![1.0, 1.0, 0.0, 0.0, 0.0, 0.0], "{device}");
            assert_eq!(got(4), vec![1.0, 1.0, 1.0, 0.0, 0.0, 0.0], "{device}");
        });
    }
}

#[test]
fn metrics_by_name() {
    with_device(&Device::cpu(), || {
        for (name, loss, want) in [
            ("precision", "binary_crossentropy", "precision"),
            ("recall", "binary_crossentropy", "recall"),
            ("auc", "binary_crossentropy", "auc"),
            (
                "top_k_categorical_accuracy",
                "categorical_crossentropy",
                "top_k_categorical_accuracy",
            ),
            (
                "sparse_top_k_categorical_accuracy",
                "sparse_categorical_crossentropy",
                "sparse_top_k_categorical_accuracy",
            ),
            ("accuracy", "sparse_categorical_crossentropy", "accuracy"),
        ] {
            assert_eq!(metrics::get(name, loss).unwrap().name(), want);
        }
        // Keras's defaults.
        let auc = AUC::new();
        let th = auc.thresholds().unwrap();
        assert_eq!(th.len(), 200);
        assert!(th[0] < 0.0 && th[199] > 1.0 && (th[1] - 1.0 / 199.0).abs() < 1e-7);
        assert_eq!(Precision::new().variables().len(), 2);
        assert_eq!(AUC::new().variables().len(), 4);
        let e = metrics::get("nope", "mse").err().unwrap().to_string();
        assert!(e.contains("nope"), "{e}");
    });
}

/// A multi-label AUC whose label count comes from its first update builds its state
/// inside the traced train step; evaluate agrees with the metric run eagerly on predict.
#[test]
fn multi_label_auc_builds_in_the_traced_step() {
    with_device(&Device::cpu(), || {
        wgflow::keras::set_random_seed(5);
        let mut g = common::Gen::new(22);
        let rows = 96;
        let x = g.vec_f32(rows * 2, -1.0, 1.0);
        let y: Vec<f32> = x
            .chunks(2)
            .flat_map(|r| [r[0] > 0.0, r[1] > 0.2, r[0] + r[1] < 0.0].map(|b| b as i32 as f32))
            .collect();
        let x = Tensor::from_slice(&x, [rows, 2]).unwrap();
        let y = Tensor::from_slice(&y, [rows, 3]).unwrap();
        let model = Sequential::new(vec![
            Dense::new(3)
                .activation(wgflow::keras::activations::Activation::Sigmoid)
                .input_dim(2)
                .into_ref(),
        ])
        .unwrap();
        let options = || AucOptions {
            multi_label: true,
            name: Some("ml_auc".into()),
            ..Default::default()
        };
        let auc = AUC::with_options(options()).unwrap();
        assert!(auc.variables().is_empty(), "built on the first update");
        model
            .compile(
                wgflow::optimizers::SGD::new(1.0),
                BinaryCrossentropy::new(),
                vec![auc.into()],
            )
            .unwrap();
        let silent = || wgflow::keras::EvaluateOptions {
            verbose: Verbose::Silent,
            ..Default::default()
        };
        let h = model
            .fit(
                (&x, &y),
                FitOptions {
                    epochs: 10,
                    batch_size: 32,
                    verbose: Verbose::Silent,
                    ..Default::default()
                },
            )
            .unwrap();
        let v = h.get("ml_auc").unwrap();
        assert!(v[9] > 0.85 && v[9] > v[0], "{v:?}");
        let logs = model.evaluate((&x, &y), silent()).unwrap();
        let pred = model.predict(&x, silent()).unwrap();
        let eager = AUC::with_options(options()).unwrap();
        eager.update_state(&y, &pred, None).unwrap();
        assert_eq!(eager.variables()[0].shape(), &[200, 3]);
        assert!((logs["ml_auc"] - eager.result().unwrap()).abs() < 1e-5);
        // The mean of the three single-label AUCs.
        let mut mean = 0.0;
        for c in 0..3 {
            let column = |t: &Tensor| wgflow::ops::slice(t, &[0, c], &[-1, 1]).unwrap();
            let one = AUC::new();
            one.update_state(&column(&y), &column(&pred), None).unwrap();
            mean += one.result().unwrap() / 3.0;
        }
        assert!(
            (logs["ml_auc"] - mean).abs() < 1e-5,
            "{} vs {mean}",
            logs["ml_auc"]
        );
    });
}

/// `compile` with metrics by name and as objects, on a separable binary problem: the
/// metrics are updated inside the traced train step and logged per epoch.
#[test]
fn fit_logs_precision_recall_and_auc() {
    with_device(&Device::cpu(), || {
        wgflow::keras::set_random_seed(4);
        let mut g = common::Gen::new(21);
        let rows = 128;
        let x = g.vec_f32(rows * 2, -1.0, 1.0);
        let y: Vec<f32> = x
            .chunks(2)
            .map(|r| (r[0] + 0.5 * r[1] > 0.1) as i32 as f32)
            .collect();
        let x = Tensor::from_slice(&x, [rows, 2]).unwrap();
        let y = Tensor::from_slice(&y, [rows, 1]).unwrap();
        let model = Sequential::new(vec![
            Dense::new(1)
                .activation(wgflow::keras::activations::Activation::Sigmoid)
                .input_dim(2)
                .into_ref(),
        ])
        .unwrap();
        let pr_auc = AUC::with_options(AucOptions {
            curve: AucCurve::Pr,
            name: Some("pr_auc".into()),
            ..Default::default()
        })
        .unwrap();
        model
            .compile(
                wgflow::optimizers::SGD::new(1.0),
                BinaryCrossentropy::new(),
                vec![
                    "auc".into(),
                    "precision".into(),
                    "recall".into(),
                    pr_auc.into(),
                ],
            )
            .unwrap();
        let h = model
            .fit(
                (&x, &y),
                FitOptions {
                    epochs: 15,
                    batch_size: 32,
                    shuffle: false,
                    verbose: Verbose::Silent,
                    ..Default::default()
                },
            )
            .unwrap();
        for key in ["auc", "precision", "recall", "pr_auc"] {
            let v = h.get(key).unwrap_or_else(|| panic!("{key} logged"));
            assert_eq!(v.len(), 15);
            assert!(v[14] > 0.85, "{key}: {v:?}");
        }
        // evaluate agrees with the metrics computed from predict.
        let logs = model
            .evaluate(
                (&x, &y),
                wgflow::keras::EvaluateOptions {
                    verbose: Verbose::Silent,
                    ..Default::default()
                },
            )
            .unwrap();
        let pred = model
            .predict(
                &x,
                wgflow::keras::EvaluateOptions {
                    verbose: Verbose::Silent,
                    ..Default::default()
                },
            )
            .unwrap();
        let auc = AUC::new();
        auc.update_state(&y, &pred, None).unwrap();
        assert!((logs["auc"] - auc.result().unwrap()).abs() < 1e-5);
    });
}

#[test]
fn bad_input_names_the_metric() {
    with_device(&Device::cpu(), || {
        let probs = Tensor::from_slice(&[0.2f32, 0.8, 0.6, 0.4, 0.5, 0.5], [3, 2]).unwrap();
        let two_labels = Tensor::from_slice(&[1.0f32, 0.0], [2]).unwrap();
        let err = |m: &dyn Metric, labels: &Tensor| {
            m.update_state(labels, &probs, None)
                .unwrap_err()
                .to_string()
        };
        for m in [
            Box::new(Precision::new()) as Box<dyn Metric>,
            Box::new(Recall::new()),
            Box::new(AUC::new()),
        ] {
            let e = err(m.as_ref(), &two_labels);
            assert!(
                e.contains(&format!("metric '{}'", m.name())) && e.contains("[2]"),
                "{}: {e}",
                m.name()
            );
        }
        let e = err(&SparseTopKCategoricalAccuracy::new(), &two_labels);
        assert!(e.contains("sparse_top_k_categorical_accuracy"), "{e}");
        let e = err(&TopKCategoricalAccuracy::new(), &two_labels);
        assert!(
            e.contains("top_k_categorical_accuracy") && e.contains("[3, 2]"),
            "{e}"
        );
        let e = err(&SparseCategoricalAccuracy::new(), &two_labels);
        assert!(e.contains("sparse_categorical_accuracy"), "{e}");
        // Sample weights that do not broadcast to the labels.
        let labels = Tensor::from_slice(&[1.0f32, 0.0, 1.0, 1.0, 0.0, 0.0], [3, 2]).unwrap();
        let w = Tensor::from_slice(&[1.0f32, 2.0], [2]).unwrap();
        let e = Precision::new()
            .update_state(&labels, &probs, Some(&w))
            .unwrap_err()
            .to_string();
        assert!(e.contains("metric 'precision'"), "{e}");
        // class_id beyond the classes.
        let p = Precision::with_options(PrecisionRecallOptions {
            class_id: Some(2),
            ..Default::default()
        })
        .unwrap();
        let e = p
            .update_state(&labels, &probs, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("class_id 2"), "{e}");
        // Bad options.
        let e = AUC::with_options(AucOptions {
            num_thresholds: 1,
            ..Default::default()
        })
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("num_thresholds"), "{e}");
        let e = AUC::with_options(AucOptions {
            multi_label: true,
            num_labels: Some(2),
            label_weights: Some(vec![1.0, 2.0, 3.0]),
            ..Default::default()
        })
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.contains("num_labels is 2") && e.contains("3 weights"),
            "{e}"
        );
        // Data whose label count differs from the metric's, or from label_weights.
        let three = Tensor::from_slice(&[0.0f32, 1.0, 1.0, 0.2, 0.7, 0.4], [2, 3]).unwrap();
        let four = Tensor::from_slice(&[0.0f32; 8], [2, 4]).unwrap();
        let ml = AUC::with_options(AucOptions {
            multi_label: true,
            ..Default::default()
        })
        .unwrap();
        ml.update_state(&three, &three, None).unwrap();
        let e = ml.update_state(&four, &four, None).unwrap_err().to_string();
        assert!(e.contains("counts 3 labels") && e.contains("has 4"), "{e}");
        let weighted = AUC::with_options(AucOptions {
            label_weights: Some(vec![1.0, 2.0]),
            ..Default::default()
        })
        .unwrap();
        let e = weighted
            .update_state(&three, &three, None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("label_weights has 2") && e.contains("3 labels"),
            "{e}"
        );
        let e = Recall::with_options(PrecisionRecallOptions {
            thresholds: Some(vec![0.5, 1.5]),
            ..Default::default()
        })
        .err()
        .unwrap()
        .to_string();
        assert!(e.contains("recall") && e.contains("1.5"), "{e}");
        // A failed update leaves the state as it was.
        let r = Recall::new();
        r.update_state(&labels, &probs, None).unwrap();
        let before = r.result().unwrap();
        assert!(r.update_state(&two_labels, &probs, None).is_err());
        assert_eq!(r.result().unwrap(), before);
    });
}
