//! Keras's training API on a functional model with two inputs and two outputs: the logged
//! losses and metrics against float64 sums over `call_many`'s outputs, `train_on_batch_many`
//! against a hand-written GradientTape step, `fit` traced against `run_eagerly` and against
//! a dataset of lists, and the errors for data or a `compile` that does not fit the model.

mod common;

use common::Gen;
use wgflow::data::Dataset;
use wgflow::keras::activations::Activation::Relu;
use wgflow::keras::callbacks::Logs;
use wgflow::keras::layers::{Concatenate, Dense, Layer};
use wgflow::keras::losses::{Loss, MeanSquaredError, SparseCategoricalCrossentropy};
use wgflow::keras::metrics::SparseCategoricalAccuracy;
use wgflow::keras::regularizers::Regularizer;
use wgflow::keras::{
    ClassWeight, CompileOptions, EvaluateOptions, FitOptions, History, Input, LossArg, Model,
    PerOutput, Sequential, Verbose,
};
use wgflow::optimizers::{Adam, Optimizer, SGD};
use wgflow::{Device, GradientTape, Tensor, Variable, with_device};

const ROWS: usize = 10;
/// The classification head's share of the total loss.
const CLS_WEIGHT: f64 = 0.5;
/// The L2 factor on the regression head's kernel.
const L2: f32 = 0.01;

/// Inputs `a` [3] and `b` [2] through a Dense each, concatenated, into a regression head
/// `reg` (1 unit, L2 on its kernel) and a classification head `cls` (3 logits); fixed
/// weights from `seed`.
fn two_heads(seed: u64) -> Model {
    let a = Input::named(&[3], "a");
    let b = Input::named(&[2], "b");
    let ha = Dense::new(4)
        .activation(Relu)
        .into_ref()
        .apply(&[&a])
        .unwrap();
    let hb = Dense::new(3).into_ref().apply(&[&b]).unwrap();
    let h = Concatenate::new().into_ref().apply(&[&ha, &hb]).unwrap();
    let reg = Dense::new(1)
        .kernel_regularizer(Regularizer::l2(L2))
        .into_ref()
        .with_name("reg")
        .apply(&[&h])
        .unwrap();
    let cls = Dense::new(3)
        .into_ref()
        .with_name("cls")
        .apply(&[&h])
        .unwrap();
    let model = Model::new(&[a, b], &[reg, cls], "two_heads").unwrap();
    let mut g = Gen::new(seed);
    let init: Vec<Tensor> = model
        .weights()
        .iter()
        .map(|v| {
            let n: usize = v.shape().iter().product();
            Tensor::from_slice(&g.vec_f32(n, -0.6, 0.6), v.shape()).unwrap()
        })
        .collect();
    model.set_weights(&init).unwrap();
    model
}

/// `mse` on `reg`, sparse cross-entropy from logits on `cls` weighted by [`CLS_WEIGHT`],
/// and accuracy on `cls` only.
fn options() -> CompileOptions {
    CompileOptions::new(PerOutput::List(vec![
        "mse".into(),
        SparseCategoricalCrossentropy::new()
            .from_logits(true)
            .into(),
    ]))
    .loss_weights(PerOutput::by_name([("cls", CLS_WEIGHT)]))
    .metrics(PerOutput::by_name([("cls", vec!["accuracy".into()])]))
}

/// `x = [a, b]`, `y = [reg target, class label]` on [`ROWS`] rows.
struct Data {
    x: Vec<Tensor>,
    y: Vec<Tensor>,
    labels: Vec<i32>,
    targets: Vec<f32>,
}

fn data(seed: u64) -> Data {
    let mut g = Gen::new(seed);
    let a = g.vec_f32(ROWS * 3, -1.0, 1.0);
    let b = g.vec_f32(ROWS * 2, -1.0, 1.0);
    let targets = g.vec_f32(ROWS, -1.0, 1.0);
    let labels = g.vec_i32(ROWS, 0, 3);
    Data {
        x: vec![
            Tensor::from_slice(&a, [ROWS, 3]).unwrap(),
            Tensor::from_slice(&b, [ROWS, 2]).unwrap(),
        ],
        y: vec![
            Tensor::from_slice(&targets, [ROWS, 1]).unwrap(),
            Tensor::from_slice(&labels, [ROWS]).unwrap(),
        ],
        labels,
        targets,
    }
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

fn silent_eval(batch_size: usize, sample_weight: Option<Tensor>) -> EvaluateOptions {
    EvaluateOptions {
        batch_size,
        verbose: Verbose::Silent,
        sample_weight,
        ..Default::default()
    }
}

/// What the logs must say, in float64 from the model's own outputs: each row's squared
/// error and cross-entropy, weighted by `sw`, summed and divided by the rows
/// (SUM_OVER_BATCH_SIZE, which the batch-size-weighted tracker keeps over batches), plus
/// the L2 penalty on `reg`'s kernel.
fn expected(model: &Model, d: &Data, sw: &[f64]) -> Logs {
    let out = model.call_many(&d.x, false).unwrap();
    let (reg, logits) = (values(&out[0]), values(&out[1]));
    let (mut se, mut ce, mut correct) = (0.0, 0.0, 0.0);
    for i in 0..ROWS {
        se += sw[i] * (reg[i] - d.targets[i] as f64).powi(2);
        let l = &logits[i * 3..i * 3 + 3];
        let max = l.iter().cloned().fold(f64::MIN, f64::max);
        let lse = max + l.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
        ce += sw[i] * (lse - l[d.labels[i] as usize]);
        let best = (0..3).max_by(|&p, &q| l[p].total_cmp(&l[q])).unwrap();
        if best == d.labels[i] as usize {
            correct += sw[i];
        }
    }
    let kernel = model.get_layer("reg").unwrap().weights()[0].read_value();
    let penalty = L2 as f64 * values(&kernel).iter().map(|v| v * v).sum::<f64>();
    let (reg_loss, cls_loss) = (se / ROWS as f64, ce / ROWS as f64);
    let mut logs = Logs::new();
    logs.insert("loss".into(), reg_loss + CLS_WEIGHT * cls_loss + penalty);
    logs.insert("reg_loss".into(), reg_loss);
    logs.insert("cls_loss".into(), cls_loss);
    logs.insert("cls_accuracy".into(), correct / sw.iter().sum::<f64>());
    logs
}

fn assert_logs(what: &str, got: &Logs, want: &Logs) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}: keys"
    );
    for (k, v) in want {
        common::assert_close(&format!("{what}: {k}"), &[got[k]], &[*v], 1e-5, 1e-5);
    }
}

/// `evaluate` (in batches of 4, so the last is short), `test_on_batch_many` and the
/// weighted versions log Σ weight·loss + penalty and each output's loss and accuracy as a
/// float64 computation from `call_many` does.
#[test]
fn logged_losses_are_the_weighted_sum_of_each_outputs_loss() {
    for device in common::devices() {
        with_device(&device, || {
            let model = two_heads(1);
            model.compile_with(SGD::new(0.1), options()).unwrap();
            assert_eq!(model.output_names(), ["reg", "cls"]);
            let d = data(2);
            let ones = vec![1.0; ROWS];
            let want = expected(&model, &d, &ones);
            let logs = model
                .evaluate((d.x.clone(), d.y.clone()), silent_eval(4, None))
                .unwrap();
            assert_logs(&format!("{device}: evaluate"), &logs, &want);
            let batch = model.test_on_batch_many(&d.x, &d.y, None).unwrap();
            assert_logs(&format!("{device}: test_on_batch_many"), &batch, &want);

            let sw = [0.5f32, 2.0, 0.0, 1.0, 3.0, 0.25, 1.5, 1.0, 0.0, 2.5];
            let w = Tensor::from_slice(&sw, [ROWS]).unwrap();
            let sw64: Vec<f64> = sw.iter().map(|&v| v as f64).collect();
            let want = expected(&model, &d, &sw64);
            let logs = model
                .evaluate((d.x.clone(), d.y.clone()), silent_eval(4, Some(w.clone())))
                .unwrap();
            assert_logs(&format!("{device}: weighted evaluate"), &logs, &want);
            let logs = model
                .evaluate((&d.x[..], &d.y[..], &w), silent_eval(3, None))
                .unwrap();
            assert_logs(&format!("{device}: (x, y, w) lists"), &logs, &want);
            let batch = model.test_on_batch_many(&d.x, &d.y, Some(&w)).unwrap();
            assert_logs(&format!("{device}: weighted test_on_batch"), &batch, &want);

            // predict_many gives every output, batch by batch as call_many does at once.
            let out = model.call_many(&d.x, false).unwrap();
            let pred = model.predict_many(&d.x, silent_eval(3, None)).unwrap();
            assert_eq!(pred.len(), 2);
            for (p, o) in pred.iter().zip(&out) {
                assert_eq!(p.shape(), o.shape());
                common::assert_close(
                    &format!("{device}: predict_many"),
                    &values(p),
                    &values(o),
                    1e-6,
                    1e-6,
                );
            }
            let on_batch = model.predict_on_batch_many(&d.x).unwrap();
            common::assert_close(
                &format!("{device}: predict_on_batch_many"),
                &values(&on_batch[1]),
                &values(&out[1]),
                1e-6,
                1e-6,
            );
        });
    }
}

/// One `train_on_batch_many` step (traced) and one hand-written step — GradientTape over
/// both losses, weighted, plus the penalty, then the same optimizer — end with the same
/// weights, twice in a row (Adam's slots carry over).
#[test]
fn train_on_batch_matches_a_gradient_tape_step() {
    for device in common::devices() {
        with_device(&device, || {
            let d = data(3);
            let sw = Tensor::from_slice(
                &[1.0f32, 2.0, 0.5, 0.0, 1.0, 1.0, 3.0, 1.0, 0.5, 1.0],
                [ROWS],
            )
            .unwrap();
            let keras = two_heads(4);
            keras.compile_with(Adam::new(0.05), options()).unwrap();
            let manual = two_heads(4);
            let opt = Adam::new(0.05);
            for step in 0..2 {
                let logs = keras.train_on_batch_many(&d.x, &d.y, Some(&sw)).unwrap();
                let vars = manual.trainable_variables();
                let tape = GradientTape::new();
                let out = manual.call_many(&d.x, true).unwrap();
                let reg = MeanSquaredError::new()
                    .compute(&d.y[0], &out[0], Some(&sw))
                    .unwrap();
                let cls = SparseCategoricalCrossentropy::new()
                    .from_logits(true)
                    .compute(&d.y[1], &out[1], Some(&sw))
                    .unwrap();
                let mut total = (&reg + &(&cls * CLS_WEIGHT as f32).unwrap()).unwrap();
                for p in manual.losses().unwrap() {
                    total = (&total + &p).unwrap();
                }
                let refs: Vec<&Variable> = vars.iter().collect();
                let grads = tape.gradient(&total, &refs).unwrap();
                let pairs: Vec<(Tensor, &Variable)> = grads
                    .into_iter()
                    .zip(&vars)
                    .map(|(g, v)| (g.unwrap(), v))
                    .collect();
                opt.apply_gradients(&pairs).unwrap();
                // The logged loss is the loss before the step.
                common::assert_close(
                    &format!("{device}: step {step} loss"),
                    &[logs["loss"]],
                    &values(&total),
                    1e-5,
                    1e-5,
                );
                common::assert_close(
                    &format!("{device}: step {step} cls_loss"),
                    &[logs["cls_loss"]],
                    &values(&cls),
                    1e-5,
                    1e-5,
                );
                for (a, b) in keras.get_weights().iter().zip(manual.get_weights()) {
                    common::assert_close(
                        &format!("{device}: step {step} weights"),
                        &values(a),
                        &values(&b),
                        1e-5,
                        1e-5,
                    );
                }
            }
        });
    }
}

/// Every key of two histories agrees, epoch by epoch.
/// An output compiled with `LossArg::None` (Keras's `None` in a loss list) trains nothing:
/// its bias keeps its value (its kernel moves only by its L2 penalty), the total is the
/// other output's loss plus the penalty, the logs hold `loss` and the metrics (no
/// `<output>_loss` with one loss, as Keras logs it), and its metrics still run.
#[test]
fn an_output_without_a_loss_is_not_trained_but_keeps_its_metrics() {
    for device in common::devices() {
        with_device(&device, || {
            let d = data(5);
            let model = two_heads(6);
            let options = CompileOptions::new(PerOutput::List(vec![
                LossArg::None,
                SparseCategoricalCrossentropy::new()
                    .from_logits(true)
                    .into(),
            ]))
            .metrics(PerOutput::List(vec![
                vec!["mae".into()],
                vec!["accuracy".into()],
            ]));
            model.compile_with(SGD::new(0.5), options).unwrap();
            assert!(model.compiled().unwrap().losses()[0].is_none());
            let bias_before = values(&model.get_layer("reg").unwrap().weights()[1].read_value());
            let out = model.call_many(&d.x, false).unwrap();
            let reg = values(&out[0]);
            let mut want = expected(&model, &d, &[1.0; ROWS]);
            let mae = (0..ROWS)
                .map(|i| (reg[i] - d.targets[i] as f64).abs())
                .sum::<f64>()
                / ROWS as f64;
            let kernel = model.get_layer("reg").unwrap().weights()[0].read_value();
            let penalty = L2 as f64 * values(&kernel).iter().map(|v| v * v).sum::<f64>();
            let cls_loss = want["cls_loss"];
            want.remove("reg_loss");
            want.remove("cls_loss");
            want.insert("loss".into(), cls_loss + penalty);
            want.insert("reg_mae".into(), mae);
            let cls_before = values(&model.get_layer("cls").unwrap().weights()[1].read_value());
            let logs = model.train_on_batch_many(&d.x, &d.y, None).unwrap();
            assert_logs(&format!("{device}: train_on_batch"), &logs, &want);
            let bias_after = values(&model.get_layer("reg").unwrap().weights()[1].read_value());
            assert_eq!(
                bias_before, bias_after,
                "{device}: reg's bias must not train"
            );
            let cls_after = values(&model.get_layer("cls").unwrap().weights()[1].read_value());
            assert_ne!(cls_before, cls_after, "{device}: cls trains");

            // Every output without a loss: nothing to compute, as Keras says.
            let none = two_heads(6);
            let e = err(none.compile_with(
                SGD::new(0.1),
                CompileOptions::new(PerOutput::List(vec![LossArg::None, LossArg::None])),
            ));
            assert_names(&e, &["no loss to compute", "two_heads"]);
        });
    }
}

fn assert_same_history(what: &str, a: &History, b: &History) {
    assert_eq!(
        a.history.keys().collect::<Vec<_>>(),
        b.history.keys().collect::<Vec<_>>(),
        "{what}"
    );
    for (k, v) in &a.history {
        common::assert_close(&format!("{what}: {k}"), v, &b.history[k], 1e-5, 1e-5);
    }
}

fn assert_same_weights(what: &str, a: &Model, b: &Model) {
    for (x, y) in a.get_weights().iter().zip(b.get_weights()) {
        common::assert_close(what, &values(x), &values(&y), 1e-5, 1e-5);
    }
}

/// `fit` with sample weights and `validation_split` (every tensor split by the same rows)
/// logs Keras's keys, and gives the same history and weights traced as with
/// `run_eagerly`; a dataset of `(x list, y list, weight)` batches of the same rows agrees.
#[test]
fn fit_traced_matches_run_eagerly_and_a_dataset() {
    for device in common::devices() {
        with_device(&device, || {
            let d = data(5);
            let w = Tensor::from_slice(
                &[1.0f32, 0.5, 2.0, 1.0, 1.0, 0.0, 1.5, 1.0, 1.0, 2.0],
                [ROWS],
            )
            .unwrap();
            let opts = || {
                let mut o = quiet(3, 3);
                o.validation_split = 0.2;
                o.sample_weight = Some(w.clone());
                o
            };
            let traced = two_heads(6);
            traced.compile_with(SGD::new(0.1), options()).unwrap();
            let ht = traced.fit((d.x.clone(), d.y.clone()), opts()).unwrap();
            assert_eq!(
                ht.history.keys().collect::<Vec<_>>(),
                [
                    "cls_accuracy",
                    "cls_loss",
                    "loss",
                    "reg_loss",
                    "val_cls_accuracy",
                    "val_cls_loss",
                    "val_loss",
                    "val_reg_loss"
                ]
            );
            let eager = two_heads(6);
            eager.compile_with(SGD::new(0.1), options()).unwrap();
            eager.set_run_eagerly(true);
            let he = eager.fit((d.x.clone(), d.y.clone()), opts()).unwrap();
            assert_same_history(&format!("{device}: traced vs eager"), &ht, &he);
            assert_same_weights(&format!("{device}: traced vs eager"), &traced, &eager);

            // The validation logs are evaluate's on the held-out last 2 rows.
            let tail = |t: &Tensor| {
                let mut begin = vec![0i64; t.rank()];
                let mut size: Vec<i64> = t.shape().iter().map(|&s| s as i64).collect();
                begin[0] = 8;
                size[0] = 2;
                wgflow::ops::slice(t, &begin, &size).unwrap()
            };
            let held_x: Vec<Tensor> = d.x.iter().map(tail).collect();
            let held_y: Vec<Tensor> = d.y.iter().map(tail).collect();
            let val = traced
                .evaluate(
                    (held_x.clone(), held_y.clone(), tail(&w)),
                    silent_eval(3, None),
                )
                .unwrap();
            for k in ["loss", "reg_loss", "cls_loss", "cls_accuracy"] {
                common::assert_close(
                    &format!("{device}: val_{k}"),
                    &[ht.get(&format!("val_{k}")).unwrap()[2]],
                    &[val[k]],
                    1e-5,
                    1e-5,
                );
            }

            // The first 8 rows as a dataset of lists, batched by 3 as fit batched them.
            let head = |t: &Tensor| {
                let mut size: Vec<i64> = t.shape().iter().map(|&s| s as i64).collect();
                size[0] = 8;
                wgflow::ops::slice(t, &vec![0; t.rank()], &size).unwrap()
            };
            let ds = Dataset::from_tensor_slices((
                d.x.iter().map(head).collect::<Vec<_>>(),
                d.y.iter().map(head).collect::<Vec<_>>(),
                head(&w),
            ))
            .unwrap()
            .batch(3, false)
            .unwrap();
            let from_ds = two_heads(6);
            from_ds.compile_with(SGD::new(0.1), options()).unwrap();
            let mut o = quiet(3, 3);
            o.validation_data = Some((held_x, held_y, tail(&w)).into());
            let hd = from_ds.fit(&ds, o).unwrap();
            assert_same_history(&format!("{device}: dataset vs tensors"), &hd, &ht);
            assert_same_weights(&format!("{device}: dataset vs tensors"), &from_ds, &traced);
        });
    }
}

/// `compile_with` on a one-output model takes a list or a map by its last layer's name, and
/// logs as `compile` does (no per-output keys).
#[test]
fn one_output_models_take_per_output_options_too() {
    with_device(&Device::cpu(), || {
        let d = data(7);
        let make = || {
            let m = Sequential::new(vec![
                Dense::new(3).input_dim(3).into_ref().with_name("logits"),
            ])
            .unwrap();
            let mut g = Gen::new(8);
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
        let scce = || SparseCategoricalCrossentropy::new().from_logits(true);
        let plain = make();
        plain
            .compile(SGD::new(0.1), scce(), vec!["accuracy".into()])
            .unwrap();
        let hp = plain.fit((&d.x[0], &d.y[1]), quiet(2, 4)).unwrap();
        let by_name = make();
        assert_eq!(by_name.output_names(), ["logits"]);
        by_name
            .compile_with(
                SGD::new(0.1),
                CompileOptions::new(PerOutput::by_name([("logits", scce().into())]))
                    .metrics(PerOutput::List(vec![vec!["accuracy".into()]])),
            )
            .unwrap();
        let hn = by_name
            .fit((vec![d.x[0].clone()], vec![d.y[1].clone()]), quiet(2, 4))
            .unwrap();
        assert_eq!(hn.history.keys().collect::<Vec<_>>(), ["accuracy", "loss"]);
        assert_same_history("compile vs compile_with", &hp, &hn);
        assert_same_weights("compile vs compile_with", &plain, &by_name);
    });
}

fn err<T>(r: wgflow::Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

fn assert_names(e: &str, parts: &[&str]) {
    for p in parts {
        assert!(e.contains(p), "'{p}' not in: {e}");
    }
}

/// Data and `compile` options that do not fit the model are errors naming what is wrong.
#[test]
fn bad_data_and_options_name_the_problem() {
    with_device(&Device::cpu(), || {
        let d = data(9);
        let model = two_heads(10);
        let compile = |o: CompileOptions| err(model.compile_with(SGD::new(0.1), o));
        let scce = || SparseCategoricalCrossentropy::new().from_logits(true);

        // compile: a list of losses of the wrong length, a map with an unknown output or
        // one left out, loss weights and metrics that do not fit.
        let e = compile(CompileOptions::new(PerOutput::List(vec!["mse".into()])));
        assert_names(&e, &["loss has 1 entries", "2 output(s)", "'reg', 'cls'"]);
        let e = compile(CompileOptions::new(PerOutput::by_name([
            ("reg", "mse".into()),
            ("clss", scce().into()),
        ])));
        assert_names(&e, &["loss names output 'clss'", "'reg', 'cls'"]);
        let e = compile(CompileOptions::new(PerOutput::by_name([(
            "reg",
            "mse".into(),
        )])));
        assert_names(&e, &["no entry for output 'cls'"]);
        let e = compile(options().loss_weights(PerOutput::List(vec![1.0, 2.0, 3.0])));
        assert_names(&e, &["loss_weights has 3 entries", "2 output(s)"]);
        let e = compile(options().loss_weights(PerOutput::by_name([("head", 1.0)])));
        assert_names(&e, &["loss_weights names output 'head'"]);
        let e = compile(options().metrics(PerOutput::by_name([("acc", vec!["accuracy".into()])])));
        assert_names(&e, &["metrics names output 'acc'"]);
        let e = compile(options().metrics(PerOutput::List(vec![vec!["mae".into()]])));
        assert_names(&e, &["metrics has 1 entries"]);
        let e = compile(CompileOptions::new(PerOutput::List(vec![
            "mse".into(),
            "no_such_loss".into(),
        ])));
        assert_names(&e, &["no_such_loss"]);
        // One metric object cannot keep two outputs' state apart.
        let e = compile(
            CompileOptions::new(PerOutput::All("mse".into())).metrics(PerOutput::All(vec![
                SparseCategoricalAccuracy::new().into(),
            ])),
        );
        assert_names(&e, &["one object", "'reg' and 'cls'"]);
        let e = err(model.fit((d.x.clone(), d.y.clone()), quiet(1, 4)));
        assert_names(&e, &["compile"]);

        model.compile_with(SGD::new(0.1), options()).unwrap();
        // fit, evaluate and train_on_batch: the wrong number of x or y tensors.
        let e = err(model.fit((&d.x[0], &d.y[0]), quiet(1, 4)));
        assert_names(&e, &["x has 1 tensor(s)", "2 input(s) ('a', 'b')"]);
        let e = err(model.fit((d.x.clone(), vec![d.y[0].clone()]), quiet(1, 4)));
        assert_names(&e, &["y has 1 tensor(s)", "2 output(s) ('reg', 'cls')"]);
        let e = err(model.evaluate((d.x[..1].to_vec(), d.y.clone()), silent_eval(4, None)));
        assert_names(&e, &["evaluate", "x has 1 tensor(s)"]);
        let three = vec![d.y[0].clone(), d.y[1].clone(), d.y[1].clone()];
        let e = err(model.train_on_batch_many(&d.x, &three, None));
        assert_names(&e, &["train_on_batch", "y has 3 tensor(s)"]);
        let e = err(model.test_on_batch_many(&d.x[1..], &d.y, None));
        assert_names(&e, &["test_on_batch", "x has 1 tensor(s)"]);
        // Tensors whose rows disagree.
        let short = |t: &Tensor| {
            let mut size: Vec<i64> = t.shape().iter().map(|&s| s as i64).collect();
            size[0] = 9;
            wgflow::ops::slice(t, &vec![0; t.rank()], &size).unwrap()
        };
        let e = err(model.fit(
            (vec![d.x[0].clone(), short(&d.x[1])], d.y.clone()),
            quiet(1, 4),
        ));
        assert_names(
            &e,
            &["x[0] (input 'a') has 10 rows", "x[1] (input 'b') has 9"],
        );
        let e = err(model.fit(
            (d.x.clone(), vec![d.y[0].clone(), short(&d.y[1])]),
            quiet(1, 4),
        ));
        assert_names(&e, &["y[1] (output 'cls') has 9"]);
        let e = err(model.train_on_batch_many(&d.x, &d.y, Some(&short(&d.y[0]))));
        assert_names(&e, &["sample_weight", "10 rows"]);
        // validation_data is checked before training starts.
        let mut o = quiet(1, 4);
        o.validation_data = Some((d.x.clone(), d.y[..1].to_vec()).into());
        let e = err(model.fit((d.x.clone(), d.y.clone()), o));
        assert_names(&e, &["validation_data", "y has 1 tensor(s)"]);
        // A dataset's batches are checked as they come.
        let ds = Dataset::from_tensor_slices((d.x[..1].to_vec(), d.y.clone()))
            .unwrap()
            .batch(4, false)
            .unwrap();
        let e = err(model.fit(&ds, quiet(1, 4)));
        assert_names(&e, &["x has 1 tensor(s)", "2 input(s)"]);
        // class_weight is for one output, as in Keras.
        let mut o = quiet(1, 4);
        o.class_weight = Some(ClassWeight::from([(0, 1.0), (1, 1.0), (2, 1.0)]));
        let e = err(model.fit((d.x.clone(), d.y.clone()), o));
        assert_names(&e, &["class_weight", "one output"]);
        // A loss error says which output it came from.
        let float_labels = Tensor::from_slice(&[0.5f32; ROWS * 3], [ROWS, 3]).unwrap();
        let e = err(model.train_on_batch_many(&d.x, &[d.y[0].clone(), float_labels], None));
        assert_names(&e, &["output 'cls'", "sparse_categorical_crossentropy"]);
        // predict of a two-output model points to predict_many; one tensor for two inputs.
        let e = err(model.predict(&d.x[0], silent_eval(4, None)));
        assert_names(&e, &["2 outputs", "predict_many"]);
        let e = err(model.predict_many(&d.x[..1], silent_eval(4, None)));
        assert_names(&e, &["x has 1 tensor(s)", "'a', 'b'"]);
        let e = err(model.predict_on_batch(&d.x[0]));
        assert_names(&e, &["predict_on_batch_many"]);
    });
}

/// Shuffled small batches keep every tensor's rows together: `p = a·[1, -2] + 0.5` and
/// `q = a·[0.5, 1] + b·[-1, 2] - 0.3` are recovered from data whose rows of weight 0 carry
/// wild targets, which only works if `a`, `b`, both targets and the weights are gathered by
/// the same rows.
#[test]
fn shuffled_batches_keep_every_tensors_rows_together() {
    with_device(&Device::cpu(), || {
        wgflow::keras::set_random_seed(11);
        let n = 96;
        let mut g = Gen::new(12);
        let a = g.vec_f32(n * 2, -1.0, 1.0);
        let b = g.vec_f32(n * 2, -1.0, 1.0);
        let (mut p, mut q, mut w) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n {
            let (a0, a1, b0, b1) = (a[2 * i], a[2 * i + 1], b[2 * i], b[2 * i + 1]);
            let wild = i % 5 == 0;
            p.push(if wild { 40.0 } else { a0 - 2.0 * a1 + 0.5 });
            q.push(if wild {
                -40.0
            } else {
                0.5 * a0 + a1 - b0 + 2.0 * b1 - 0.3
            });
            w.push(if wild { 0.0f32 } else { 1.0 });
        }
        let ia = Input::named(&[2], "a");
        let ib = Input::named(&[2], "b");
        let op = Dense::new(1)
            .into_ref()
            .with_name("p")
            .apply(&[&ia])
            .unwrap();
        let ab = Concatenate::new().into_ref().apply(&[&ia, &ib]).unwrap();
        let oq = Dense::new(1)
            .into_ref()
            .with_name("q")
            .apply(&[&ab])
            .unwrap();
        let model = Model::new(&[ia, ib], &[op, oq], "aligned").unwrap();
        model
            .compile_with(
                SGD::new(0.1),
                CompileOptions::new(PerOutput::All("mse".into())),
            )
            .unwrap();
        let x = vec![
            Tensor::from_slice(&a, [n, 2]).unwrap(),
            Tensor::from_slice(&b, [n, 2]).unwrap(),
        ];
        let y = vec![
            Tensor::from_slice(&p, [n, 1]).unwrap(),
            Tensor::from_slice(&q, [n, 1]).unwrap(),
        ];
        let mut o = quiet(60, 8);
        o.shuffle = true;
        o.sample_weight = Some(Tensor::from_slice(&w, [n]).unwrap());
        let h = model.fit((x, y), o).unwrap();
        assert!(h.get("loss").unwrap()[59] < 1e-4, "{:?}", h.get("loss"));
        let wp = model.get_layer("p").unwrap().weights();
        let wq = model.get_layer("q").unwrap().weights();
        let close = |what, v: &Variable, want: &[f64]| {
            common::assert_close(what, &values(&v.read_value()), want, 2e-2, 0.0)
        };
        close("p kernel", &wp[0], &[1.0, -2.0]);
        close("p bias", &wp[1], &[0.5]);
        close("q kernel", &wq[0], &[0.5, 1.0, -1.0, 2.0]);
        close("q bias", &wq[1], &[-0.3]);
    });
}
