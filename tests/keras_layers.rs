//! Keras layers BatchNormalization, LayerNormalization, Embedding, LSTM and GRU (and Dense,
//! Conv2D against TensorFlow): outputs and gradients against float64 references written
//! here (forward loops, gradients by central differences in f64) on every device, and
//! against values computed by TensorFlow 2.21 / Keras 3 (`fixtures/keras/layers.py`).

mod common;

use common::{Gen, assert_close};
use serde_json::Value;
use wgflow::keras::activations::Activation as Act;
use wgflow::keras::layers::{
    BatchNormalization, Conv2D, Dense, Embedding, GRU, Input, LSTM, Layer, LayerNormalization,
    LayerRef, Padding, known,
};
use wgflow::keras::losses::MeanSquaredError;
use wgflow::keras::{FitOptions, Sequential, Verbose};
use wgflow::optimizers::SGD;
use wgflow::{DType, Device, GradientTape, Tensor, Variable, ops, with_device};

// ---------------------------------------------------------------------------------------
// Helpers

fn tensor(data: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(data, shape).unwrap()
}

fn values(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec().unwrap()
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Builds `layer` for inputs of `shape` and sets its weights (in `weights()` order).
fn set_weights(layer: &LayerRef, shape: &[usize], weights: &[Vec<f32>]) {
    layer.build(&[known(shape)]).unwrap();
    let vars = layer.weights();
    assert_eq!(vars.len(), weights.len(), "{layer:?}: weight count");
    for (v, w) in vars.iter().zip(weights) {
        v.assign(&tensor(w, &v.shape())).unwrap();
    }
}

/// What a layer call gives: the output, the gradient of `sum(y * cot)` with respect to the
/// input (when float) and to the trainable weights.
struct Run {
    y: Vec<f64>,
    y_shape: Vec<usize>,
    grad_x: Option<Vec<f64>>,
    grad_w: Vec<Vec<f64>>,
}

fn run_layer(layer: &LayerRef, x: &Tensor, cot: &[f32], training: bool) -> Run {
    let float = x.dtype() == DType::F32;
    let tape = GradientTape::persistent();
    if float {
        tape.watch(x);
    }
    let y = layer.call(std::slice::from_ref(x), training).unwrap();
    let cot = tensor(cot, y.shape());
    let loss = ops::reduce_sum(&ops::mul(&y, &cot).unwrap(), wgflow::Axes::All, false).unwrap();
    let grad_x = float.then(|| {
        let g = tape.gradient(&loss, &[x]).unwrap();
        values(g[0].as_ref().expect("gradient for the input"))
    });
    let vars = layer.trainable_variables();
    let refs: Vec<&Variable> = vars.iter().collect();
    let grad_w = tape
        .gradient(&loss, &refs)
        .unwrap()
        .into_iter()
        .map(|g| values(&g.expect("gradient for a weight")))
        .collect();
    Run {
        y: values(&y),
        y_shape: y.shape().to_vec(),
        grad_x,
        grad_w,
    }
}

/// Gradients of `f` with respect to every entry of `params`, by central differences in
/// float64 (f is a float64 reference, so the error is ~1e-9).
fn numeric_grads(f: &dyn Fn(&[Vec<f64>]) -> f64, params: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let h = 1e-5;
    let mut p = params.to_vec();
    let mut out = Vec::new();
    for i in 0..params.len() {
        let mut g = vec![0.0; params[i].len()];
        for j in 0..params[i].len() {
            let orig = p[i][j];
            p[i][j] = orig + h;
            let up = f(&p);
            p[i][j] = orig - h;
            let down = f(&p);
            p[i][j] = orig;
            g[j] = (up - down) / (2.0 * h);
        }
        out.push(g);
    }
    out
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Compares a layer run with a float64 reference `forward(params) -> y`, where `params` is
/// `[x, trainable weights...]` (without `x` for an integer input).
fn check_against_reference(
    what: &str,
    run: &Run,
    forward: &dyn Fn(&[Vec<f64>]) -> Vec<f64>,
    params: &[Vec<f64>],
    cot: &[f32],
    tol: f64,
) {
    let cot = f64s(cot);
    assert_close(
        &format!("{what}: output"),
        &run.y,
        &forward(params),
        tol,
        tol,
    );
    let loss = |p: &[Vec<f64>]| dot(&forward(p), &cot);
    let grads = numeric_grads(&loss, params);
    let mut got: Vec<&Vec<f64>> = run.grad_x.iter().collect();
    got.extend(run.grad_w.iter());
    assert_eq!(got.len(), grads.len(), "{what}: gradient count");
    for (i, (g, want)) in got.iter().zip(&grads).enumerate() {
        assert_close(&format!("{what}: gradient {i}"), g, want, tol, tol);
    }
}

// ---------------------------------------------------------------------------------------
// Float64 references

/// Normalization over all axes but `axis` of `x` (shape `shape`): batch statistics when
/// `stats` is None, else the given mean and variance.
fn batch_norm_ref(
    x: &[f64],
    shape: &[usize],
    axis: usize,
    gamma: &[f64],
    beta: &[f64],
    stats: Option<(&[f64], &[f64])>,
    eps: f64,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let c = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let feat = |i: usize| (i / inner) % c;
    let count = (x.len() / c) as f64;
    let (mean, var) = match stats {
        Some((m, v)) => (m.to_vec(), v.to_vec()),
        None => {
            let mut mean = vec![0.0; c];
            for (i, v) in x.iter().enumerate() {
                mean[feat(i)] += v / count;
            }
            let mut var = vec![0.0; c];
            for (i, v) in x.iter().enumerate() {
                var[feat(i)] += (v - mean[feat(i)]).powi(2) / count;
            }
            (mean, var)
        }
    };
    let y = x
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let k = feat(i);
            gamma[k] * (v - mean[k]) / (var[k] + eps).sqrt() + beta[k]
        })
        .collect();
    (y, mean, var)
}

/// Normalization of each row of `n` features.
fn layer_norm_ref(x: &[f64], n: usize, gamma: &[f64], beta: &[f64], eps: f64) -> Vec<f64> {
    x.chunks(n)
        .flat_map(|row| {
            let mean = row.iter().sum::<f64>() / n as f64;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
            row.iter()
                .enumerate()
                .map(move |(j, v)| gamma[j] * (v - mean) / (var + eps).sqrt() + beta[j])
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Sizes of a recurrent run.
#[derive(Clone, Copy)]
struct Rnn {
    batch: usize,
    time: usize,
    features: usize,
    units: usize,
    return_sequences: bool,
    go_backwards: bool,
}

impl Rnn {
    /// Runs `step(n, x_t row, h row) -> new h row` and collects the outputs as Keras does.
    fn run(&self, x: &[f64], mut step: impl FnMut(usize, &[f64], &[f64]) -> Vec<f64>) -> Vec<f64> {
        let (b, t, f, u) = (self.batch, self.time, self.features, self.units);
        let mut h = vec![0.0; b * u];
        let mut seq = vec![0.0; b * t * u];
        for s in 0..t {
            let ti = if self.go_backwards { t - 1 - s } else { s };
            for n in 0..b {
                let xt = &x[(n * t + ti) * f..(n * t + ti + 1) * f];
                let new = step(n, xt, &h[n * u..(n + 1) * u]);
                h[n * u..(n + 1) * u].copy_from_slice(&new);
                seq[(n * t + s) * u..(n * t + s + 1) * u].copy_from_slice(&new);
            }
        }
        if self.return_sequences { seq } else { h }
    }
}

/// `sum_i v[i] * m[i, col]` for a row-major matrix with `cols` columns.
fn vec_mat(v: &[f64], m: &[f64], cols: usize, col: usize) -> f64 {
    v.iter()
        .enumerate()
        .map(|(i, a)| a * m[i * cols + col])
        .sum()
}

/// Keras's LSTM (gates i, f, c, o) in float64: params `[x, kernel, recurrent, bias]`.
fn lstm_ref(cfg: Rnn, p: &[Vec<f64>]) -> Vec<f64> {
    let (k, rk, bias) = (&p[1], &p[2], &p[3]);
    let u = cfg.units;
    let g = 4 * u;
    let mut c = vec![0.0; cfg.batch * u];
    cfg.run(&p[0], |n, xt, h| {
        let z: Vec<f64> = (0..g)
            .map(|j| bias[j] + vec_mat(xt, k, g, j) + vec_mat(h, rk, g, j))
            .collect();
        (0..u)
            .map(|j| {
                let i = sigmoid(z[j]);
                let f = sigmoid(z[u + j]);
                let cc = z[2 * u + j].tanh();
                let o = sigmoid(z[3 * u + j]);
                let cell = &mut c[n * u + j];
                *cell = f * *cell + i * cc;
                o * cell.tanh()
            })
            .collect()
    })
}

/// Keras's GRU (gates z, r, h) in float64: params `[x, kernel, recurrent, bias]`, the bias
/// `[2, 3u]` with `reset_after`, else `[3u]`.
fn gru_ref(cfg: Rnn, reset_after: bool, p: &[Vec<f64>]) -> Vec<f64> {
    let (k, rk, bias) = (&p[1], &p[2], &p[3]);
    let u = cfg.units;
    let g = 3 * u;
    cfg.run(&p[0], |_, xt, h| {
        let xp: Vec<f64> = (0..g).map(|j| bias[j] + vec_mat(xt, k, g, j)).collect();
        if reset_after {
            let hp: Vec<f64> = (0..g).map(|j| bias[g + j] + vec_mat(h, rk, g, j)).collect();
            (0..u)
                .map(|j| {
                    let z = sigmoid(xp[j] + hp[j]);
                    let r = sigmoid(xp[u + j] + hp[u + j]);
                    let hh = (xp[2 * u + j] + r * hp[2 * u + j]).tanh();
                    z * h[j] + (1.0 - z) * hh
                })
                .collect()
        } else {
            let z: Vec<f64> = (0..u)
                .map(|j| sigmoid(xp[j] + vec_mat(h, rk, g, j)))
                .collect();
            let r: Vec<f64> = (0..u)
                .map(|j| sigmoid(xp[u + j] + vec_mat(h, rk, g, u + j)))
                .collect();
            let rh: Vec<f64> = (0..u).map(|i| r[i] * h[i]).collect();
            (0..u)
                .map(|j| {
                    let hh = (xp[2 * u + j] + vec_mat(&rh, rk, g, 2 * u + j)).tanh();
                    z[j] * h[j] + (1.0 - z[j]) * hh
                })
                .collect()
        }
    })
}

// ---------------------------------------------------------------------------------------
// Float64 references on every device

#[test]
fn batch_normalization_matches_float64_on_every_device() {
    // (shape, axis): features last, and features in the middle (statistics over 0 and 2).
    for (shape, axis) in [(vec![3usize, 4, 5], -1i64), (vec![3, 5, 2], 1)] {
        let a = if axis < 0 {
            shape.len() - 1
        } else {
            axis as usize
        };
        let c = shape[a];
        let n: usize = shape.iter().product();
        let mut g = Gen::new(11);
        let x = g.vec_f32(n, -2.0, 3.0);
        let w = [
            g.vec_f32(c, 0.5, 1.5),
            g.vec_f32(c, -1.0, 1.0),
            g.vec_f32(c, -1.0, 1.0),
            g.vec_f32(c, 0.5, 2.0),
        ];
        let cot = g.vec_f32(n, -1.0, 1.0);
        for device in common::devices() {
            with_device(&device, || {
                let what = format!("{device} {shape:?} axis {axis}");
                let bn = BatchNormalization::new().axis(axis).into_ref();
                set_weights(&bn, &shape, &w);
                let xt = tensor(&x, &shape);
                let train = run_layer(&bn, &xt, &cot, true);
                let fwd =
                    |p: &[Vec<f64>]| batch_norm_ref(&p[0], &shape, a, &p[1], &p[2], None, 1e-3).0;
                let params = [f64s(&x), f64s(&w[0]), f64s(&w[1])];
                check_against_reference(
                    &format!("{what} training"),
                    &train,
                    &fwd,
                    &params,
                    &cot,
                    2e-4,
                );
                // One training call moved the moving statistics 1% towards the batch's.
                let (_, mean, var) =
                    batch_norm_ref(&params[0], &shape, a, &params[1], &params[2], None, 1e-3);
                let mm: Vec<f64> = f64s(&w[2])
                    .iter()
                    .zip(&mean)
                    .map(|(m, b)| 0.99 * m + 0.01 * b)
                    .collect();
                let mv: Vec<f64> = f64s(&w[3])
                    .iter()
                    .zip(&var)
                    .map(|(m, b)| 0.99 * m + 0.01 * b)
                    .collect();
                let vars = bn.non_trainable_variables();
                assert_close(
                    &format!("{what} moving_mean"),
                    &values(&vars[0].read_value()),
                    &mm,
                    1e-5,
                    1e-5,
                );
                assert_close(
                    &format!("{what} moving_variance"),
                    &values(&vars[1].read_value()),
                    &mv,
                    1e-5,
                    1e-5,
                );
                // Inference uses (and does not move) the moving statistics.
                let infer = run_layer(&bn, &xt, &cot, false);
                let fwd = |p: &[Vec<f64>]| {
                    batch_norm_ref(&p[0], &shape, a, &p[1], &p[2], Some((&mm, &mv)), 1e-3).0
                };
                check_against_reference(
                    &format!("{what} inference"),
                    &infer,
                    &fwd,
                    &params,
                    &cot,
                    2e-4,
                );
                assert_close(
                    &format!("{what} moving_mean kept"),
                    &values(&vars[0].read_value()),
                    &mm,
                    1e-5,
                    1e-5,
                );
            });
        }
    }
}

#[test]
fn layer_normalization_matches_float64_on_every_device() {
    let (b, t, n) = (3, 4, 5);
    let mut g = Gen::new(12);
    let x = g.vec_f32(b * t * n, -2.0, 3.0);
    let w = [g.vec_f32(n, 0.5, 1.5), g.vec_f32(n, -1.0, 1.0)];
    let cot = g.vec_f32(b * t * n, -1.0, 1.0);
    for device in common::devices() {
        with_device(&device, || {
            let ln = LayerNormalization::new().into_ref();
            set_weights(&ln, &[b, t, n], &w);
            let run = run_layer(&ln, &tensor(&x, &[b, t, n]), &cot, true);
            let fwd = |p: &[Vec<f64>]| layer_norm_ref(&p[0], n, &p[1], &p[2], 1e-3);
            let params = [f64s(&x), f64s(&w[0]), f64s(&w[1])];
            check_against_reference(
                &format!("{device} layer_norm"),
                &run,
                &fwd,
                &params,
                &cot,
                2e-4,
            );
            // Two axes: each sample normalized over [time, features] with [t, n] weights.
            let ln2 = LayerNormalization::new().axis(&[-2, -1]).into_ref();
            let w2 = [g_like(t * n, 0.5, 1.5), g_like(t * n, -1.0, 1.0)];
            set_weights(&ln2, &[b, t, n], &w2);
            assert_eq!(ln2.weights()[0].shape(), vec![t, n]);
            let run = run_layer(&ln2, &tensor(&x, &[b, t, n]), &cot, false);
            let fwd = |p: &[Vec<f64>]| layer_norm_ref(&p[0], t * n, &p[1], &p[2], 1e-3);
            let params = [f64s(&x), f64s(&w2[0]), f64s(&w2[1])];
            check_against_reference(
                &format!("{device} layer_norm 2 axes"),
                &run,
                &fwd,
                &params,
                &cot,
                2e-4,
            );
        });
    }
}

/// Deterministic values for weights made inside a device loop.
fn g_like(n: usize, lo: f64, hi: f64) -> Vec<f32> {
    Gen::new(n as u64 + 99).vec_f32(n, lo, hi)
}

#[test]
fn embedding_matches_float64_on_every_device() {
    let (vocab, dim) = (7, 5);
    let mut g = Gen::new(13);
    let ids = g.vec_i32(3 * 4, 0, vocab as i32);
    let table = g.vec_f32(vocab * dim, -1.0, 1.0);
    let cot = g.vec_f32(3 * 4 * dim, -1.0, 1.0);
    for device in common::devices() {
        with_device(&device, || {
            let emb = Embedding::new(vocab, dim).into_ref();
            set_weights(&emb, &[3, 4], std::slice::from_ref(&table));
            let x = Tensor::from_slice(&ids, [3, 4]).unwrap();
            let run = run_layer(&emb, &x, &cot, false);
            assert_eq!(run.y_shape, vec![3, 4, dim]);
            let fwd = |p: &[Vec<f64>]| -> Vec<f64> {
                ids.iter()
                    .flat_map(|&i| p[0][i as usize * dim..(i as usize + 1) * dim].to_vec())
                    .collect()
            };
            check_against_reference(
                &format!("{device} embedding"),
                &run,
                &fwd,
                &[f64s(&table)],
                &cot,
                1e-5,
            );
            // A longer sequence is fine (only the batch axis and rank are fixed).
            let x6 = Tensor::from_slice(&[0i32, 1, 2, 3, 4, 5], [1, 6]).unwrap();
            assert_eq!(emb.call(&[x6], false).unwrap().shape(), &[1, 6, dim]);
            // Float indices are cast, as in Keras.
            let xf = tensor(&[6.0, 0.0], &[2, 1]);
            let y = values(&emb.call(&[xf], false).unwrap());
            assert_close("float ids", &y[..dim], &f64s(&table[6 * dim..]), 0.0, 0.0);
            // Out of range: a clean error naming the layer.
            for bad in [vocab as i32, -1] {
                let xb = Tensor::from_slice(&[0i32, bad], [1, 2]).unwrap();
                let e = emb.call(&[xb], false).unwrap_err().to_string();
                assert!(
                    e.contains("layer 'embedding")
                        && e.contains("(Embedding)")
                        && e.contains(&format!("{bad}"))
                        && e.contains("[0, 7)"),
                    "{e}"
                );
            }
        });
    }
}

fn rnn_weights(g: &mut Gen, f: usize, u: usize, gates: usize, bias_len: usize) -> Vec<Vec<f32>> {
    vec![
        g.vec_f32(f * gates * u, -0.6, 0.6),
        g.vec_f32(u * gates * u, -0.6, 0.6),
        g.vec_f32(bias_len, -0.5, 0.5),
    ]
}

#[test]
fn lstm_matches_float64_on_every_device() {
    let (b, t, f, u) = (3, 4, 5, 3);
    let mut g = Gen::new(14);
    let x = g.vec_f32(b * t * f, -1.0, 1.0);
    let w = rnn_weights(&mut g, f, u, 4, 4 * u);
    let configs = [(false, false), (true, false), (true, true)];
    for device in common::devices() {
        with_device(&device, || {
            for (seq, back) in configs {
                let cfg = Rnn {
                    batch: b,
                    time: t,
                    features: f,
                    units: u,
                    return_sequences: seq,
                    go_backwards: back,
                };
                let lstm = LSTM::new(u)
                    .return_sequences(seq)
                    .go_backwards(back)
                    .into_ref();
                set_weights(&lstm, &[b, t, f], &w);
                let out_len = if seq { b * t * u } else { b * u };
                let cot = g_like(out_len, -1.0, 1.0);
                let run = run_layer(&lstm, &tensor(&x, &[b, t, f]), &cot, true);
                assert_eq!(run.y_shape, if seq { vec![b, t, u] } else { vec![b, u] });
                let mut params = vec![f64s(&x)];
                params.extend(w.iter().map(|v| f64s(v)));
                let fwd = |p: &[Vec<f64>]| lstm_ref(cfg, p);
                check_against_reference(
                    &format!("{device} lstm seq={seq} back={back}"),
                    &run,
                    &fwd,
                    &params,
                    &cot,
                    1e-4,
                );
            }
        });
    }
}

#[test]
fn gru_matches_float64_on_every_device() {
    let (b, t, f, u) = (3, 4, 5, 3);
    let mut g = Gen::new(15);
    let x = g.vec_f32(b * t * f, -1.0, 1.0);
    let configs = [
        (false, false, true),
        (true, false, true),
        (true, true, true),
        (true, false, false),
    ];
    for (seq, back, reset_after) in configs {
        let w = rnn_weights(&mut g, f, u, 3, if reset_after { 6 * u } else { 3 * u });
        for device in common::devices() {
            with_device(&device, || {
                let cfg = Rnn {
                    batch: b,
                    time: t,
                    features: f,
                    units: u,
                    return_sequences: seq,
                    go_backwards: back,
                };
                let gru = GRU::new(u)
                    .return_sequences(seq)
                    .go_backwards(back)
                    .reset_after(reset_after)
                    .into_ref();
                set_weights(&gru, &[b, t, f], &w);
                let out_len = if seq { b * t * u } else { b * u };
                let cot = g_like(out_len, -1.0, 1.0);
                let run = run_layer(&gru, &tensor(&x, &[b, t, f]), &cot, true);
                let mut params = vec![f64s(&x)];
                params.extend(w.iter().map(|v| f64s(v)));
                let fwd = |p: &[Vec<f64>]| gru_ref(cfg, reset_after, p);
                check_against_reference(
                    &format!("{device} gru seq={seq} back={back} reset_after={reset_after}"),
                    &run,
                    &fwd,
                    &params,
                    &cot,
                    1e-4,
                );
            });
        }
    }
}

// ---------------------------------------------------------------------------------------
// TensorFlow fixtures

fn fixtures() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/keras/layers.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn f32s(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn fixture_layer(case: &str) -> LayerRef {
    match case {
        "dense" => Dense::new(4).activation(Act::Tanh).into_ref(),
        "conv2d" => Conv2D::new(3, 3)
            .kernel_size([3, 2])
            .strides(2)
            .padding(Padding::Same)
            .activation(Act::Relu)
            .into_ref(),
        "bn_train" | "bn_infer" => BatchNormalization::new().into_ref(),
        "layer_norm" => LayerNormalization::new().into_ref(),
        "embedding" => Embedding::new(7, 5).into_ref(),
        "lstm" => LSTM::new(3).into_ref(),
        "lstm_seq" => LSTM::new(3).return_sequences(true).into_ref(),
        "lstm_back_seq" => LSTM::new(3)
            .return_sequences(true)
            .go_backwards(true)
            .into_ref(),
        "gru" => GRU::new(3).into_ref(),
        "gru_seq" => GRU::new(3).return_sequences(true).into_ref(),
        "gru_reset_before_seq" => GRU::new(3)
            .return_sequences(true)
            .reset_after(false)
            .into_ref(),
        other => panic!("no layer for fixture case {other}"),
    }
}

#[test]
fn layers_match_tensorflow() {
    let fx = fixtures();
    let cases = fx["cases"].as_object().unwrap();
    assert!(cases.len() >= 12);
    for device in common::devices() {
        with_device(&device, || {
            for (name, c) in cases {
                let what = format!("{device} {name}");
                let layer = fixture_layer(name);
                assert_eq!(layer.class_name(), c["class"].as_str().unwrap(), "{what}");
                let shape = usizes(&c["x_shape"]);
                let weights: Vec<Vec<f32>> =
                    c["weights"].as_array().unwrap().iter().map(f32s).collect();
                set_weights(&layer, &shape, &weights);
                for (v, s) in layer
                    .weights()
                    .iter()
                    .zip(c["weight_shapes"].as_array().unwrap())
                {
                    assert_eq!(v.shape(), usizes(s), "{what}: weight shape of {}", v.name());
                }
                let x = if name == "embedding" {
                    let ids: Vec<i32> = c["x"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_i64().unwrap() as i32)
                        .collect();
                    Tensor::from_slice(&ids, &shape).unwrap()
                } else {
                    tensor(&f32s(&c["x"]), &shape)
                };
                let training = c["training"].as_bool().unwrap();
                let run = run_layer(&layer, &x, &f32s(&c["cotangent"]), training);
                let tol = 1e-4;
                assert_eq!(run.y_shape, usizes(&c["y_shape"]), "{what}: output shape");
                assert_close(
                    &format!("{what}: output"),
                    &run.y,
                    &f64s(&f32s(&c["y"])),
                    tol,
                    tol,
                );
                if let Some(gx) = &run.grad_x {
                    assert_close(
                        &format!("{what}: d/dx"),
                        gx,
                        &f64s(&f32s(&c["grad_x"])),
                        tol,
                        tol,
                    );
                }
                let want = c["grad_weights"].as_array().unwrap();
                assert_eq!(run.grad_w.len(), want.len(), "{what}: trainable weights");
                for (i, (g, w)) in run.grad_w.iter().zip(want).enumerate() {
                    assert_close(&format!("{what}: d/dw{i}"), g, &f64s(&f32s(w)), tol, tol);
                }
                // The moving statistics after BatchNormalization's training call.
                for (v, w) in layer
                    .weights()
                    .iter()
                    .zip(c["weights_after"].as_array().unwrap())
                {
                    assert_close(
                        &format!("{what}: {} after", v.name()),
                        &values(&v.read_value()),
                        &f64s(&f32s(w)),
                        1e-5,
                        1e-5,
                    );
                }
            }
        });
    }
}

#[test]
fn parameter_counts_defaults_and_shapes_match_keras() {
    let fx = fixtures();
    let counts = &fx["counts"];
    let count = |c: &str| counts[c].as_u64().unwrap() as usize;
    with_device(&Device::cpu(), || {
        let bn = BatchNormalization::new().into_ref();
        let y = bn.apply(&[&Input::new(&[4, 5])]).unwrap();
        assert_eq!(y.shape(), &[None, Some(4), Some(5)]);
        assert_eq!(bn.count_params(), count("bn5"));
        let nt: usize = bn
            .non_trainable_variables()
            .iter()
            .map(|v| v.shape().iter().product::<usize>())
            .sum();
        assert_eq!(nt, count("bn5_non_trainable"));
        let names: Vec<String> = bn.weights().iter().map(|v| v.name().to_string()).collect();
        assert!(
            names[0].ends_with("/gamma") && names[1].ends_with("/beta"),
            "{names:?}"
        );
        assert!(
            names[2].ends_with("/moving_mean") && names[3].ends_with("/moving_variance"),
            "{names:?}"
        );
        // Defaults: gamma and the moving variance ones, beta and the moving mean zeros.
        let v: Vec<Vec<f64>> = bn
            .weights()
            .iter()
            .map(|w| values(&w.read_value()))
            .collect();
        assert_eq!(
            v,
            vec![vec![1.0; 5], vec![0.0; 5], vec![0.0; 5], vec![1.0; 5]]
        );

        let lstm = LSTM::new(3).into_ref();
        assert_eq!(
            lstm.apply(&[&Input::new(&[4, 5])]).unwrap().shape(),
            &[None, Some(3)]
        );
        assert_eq!(lstm.count_params(), count("lstm_5_3"));
        // unit_forget_bias: ones on the forget gate only.
        assert_eq!(
            values(&lstm.weights()[2].read_value()),
            f64s(&f32s(&fx["lstm_default_bias"]))
        );
        // The recurrent kernel [3, 12] is orthogonal: its rows are orthonormal.
        let rk = values(&lstm.weights()[1].read_value());
        for a in 0..3 {
            for b in 0..3 {
                let d: f64 = (0..12).map(|i| rk[a * 12 + i] * rk[b * 12 + i]).sum();
                assert!(
                    (d - if a == b { 1.0 } else { 0.0 }).abs() < 1e-5,
                    "rk rows {a},{b}: {d}"
                );
            }
        }
        let lstm_seq = LSTM::new(3).return_sequences(true).into_ref();
        assert_eq!(
            lstm_seq.apply(&[&Input::new(&[4, 5])]).unwrap().shape(),
            &[None, Some(4), Some(3)]
        );

        let gru = GRU::new(3).into_ref();
        assert_eq!(
            gru.apply(&[&Input::new(&[4, 5])]).unwrap().shape(),
            &[None, Some(3)]
        );
        assert_eq!(gru.count_params(), count("gru_5_3"));
        assert_eq!(gru.weights()[2].shape(), vec![2, 9]);
        let gru_seq = GRU::new(3).return_sequences(true).into_ref();
        assert_eq!(
            gru_seq.apply(&[&Input::new(&[4, 5])]).unwrap().shape(),
            &[None, Some(4), Some(3)]
        );

        let emb = Embedding::new(7, 5).into_ref();
        let ids = Input::with(&[Some(4)], DType::I32, "ids");
        assert_eq!(
            emb.apply(&[&ids]).unwrap().shape(),
            &[None, Some(4), Some(5)]
        );
        assert_eq!(emb.count_params(), count("embedding_7_5"));
        let table = values(&emb.weights()[0].read_value());
        assert!(
            table.iter().all(|v| (-0.05..0.05).contains(v)),
            "uniform(-0.05, 0.05)"
        );

        let ln = LayerNormalization::new().into_ref();
        assert_eq!(
            ln.apply(&[&Input::new(&[4, 5])]).unwrap().shape(),
            &[None, Some(4), Some(5)]
        );
        assert_eq!(ln.count_params(), 10);

        // A BatchNormalization built for 5 features rejects 6.
        let e = bn
            .call(&[tensor(&[0.0; 12], &[2, 6])], false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("batch_normalization"), "{e}");
        // An LSTM needs [batch, time, features].
        let e = LSTM::new(2)
            .into_ref()
            .call(&[tensor(&[0.0; 4], &[2, 2])], false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("(LSTM)"), "{e}");
    });
}

#[test]
fn trainable_switch_moves_weights_between_lists() {
    with_device(&Device::cpu(), || {
        let bn = BatchNormalization::new().into_ref();
        bn.build(&[known(&[2, 5])]).unwrap();
        let names = |vs: Vec<Variable>| {
            vs.iter()
                .map(|v| v.name().rsplit('/').next().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(bn.trainable_variables()), ["gamma", "beta"]);
        assert_eq!(
            names(bn.non_trainable_variables()),
            ["moving_mean", "moving_variance"]
        );
        bn.set_trainable(false);
        assert!(bn.trainable_variables().is_empty());
        assert_eq!(
            names(bn.non_trainable_variables()),
            ["gamma", "beta", "moving_mean", "moving_variance"]
        );
        // Frozen, a training call normalizes with the moving statistics (mean 0, variance
        // 1 here) and leaves them alone, as Keras's.
        let x = Tensor::from_slice(
            &[1.0f32, 2.0, 3.0, 4.0, 5.0, 3.0, 1.0, 0.0, 2.0, 9.0],
            [2, 5],
        )
        .unwrap();
        let y = bn.call(std::slice::from_ref(&x), true).unwrap();
        let scale = 1.0 / (1.0f64 + 1e-3).sqrt();
        let want: Vec<f64> = x.to_f64_vec().unwrap().iter().map(|v| v * scale).collect();
        common::assert_close("frozen bn", &y.to_f64_vec().unwrap(), &want, 1e-5, 1e-5);
        let moving = bn.non_trainable_variables()[2]
            .read_value()
            .to_f64_vec()
            .unwrap();
        assert_eq!(moving, vec![0.0; 5]);
        bn.set_trainable(true);
        assert_eq!(bn.trainable_variables().len(), 2);

        let lstm = LSTM::new(2).into_ref();
        lstm.build(&[known(&[1, 3, 4])]).unwrap();
        assert_eq!(
            names(lstm.trainable_variables()),
            ["kernel", "recurrent_kernel", "bias"]
        );
        lstm.set_trainable(false);
        assert!(lstm.trainable_variables().is_empty());
        assert_eq!(lstm.non_trainable_variables().len(), 3);
    });
}

/// `fit` runs a traced train step: BatchNormalization's moving statistics must move on every
/// step (not only while tracing), exactly as the per-batch recurrence says.
#[test]
fn batch_normalization_updates_moving_statistics_inside_fit() {
    let (rows, feat, batch) = (24, 5, 8);
    let mut g = Gen::new(16);
    let x: Vec<f32> = (0..rows * feat)
        .map(|i| {
            (g.uniform(-1.0, 1.0) * (1.0 + (i % feat) as f64) + 2.0 * (i % feat) as f64) as f32
        })
        .collect();
    let y = g.vec_f32(rows, -1.0, 1.0);
    // Expected: one update per batch, in order (no shuffling).
    let mut mm = vec![0.0f64; feat];
    let mut mv = vec![1.0f64; feat];
    for b in 0..rows / batch {
        let xb = f64s(&x[b * batch * feat..(b + 1) * batch * feat]);
        let (_, mean, var) =
            batch_norm_ref(&xb, &[batch, feat], 1, &[1.0; 5], &[0.0; 5], None, 1e-3);
        for j in 0..feat {
            mm[j] = 0.99 * mm[j] + 0.01 * mean[j];
            mv[j] = 0.99 * mv[j] + 0.01 * var[j];
        }
    }
    for device in common::devices() {
        for eager in [false, true] {
            with_device(&device, || {
                let bn = BatchNormalization::new().into_ref();
                // A zero learning rate keeps gamma/beta at 1/0 so the statistics above hold.
                let model = Sequential::new(vec![bn.clone(), Dense::new(1).into_ref()]).unwrap();
                model
                    .compile(SGD::new(0.0), MeanSquaredError::new(), vec![])
                    .unwrap();
                model.set_run_eagerly(eager);
                let xt = tensor(&x, &[rows, feat]);
                let yt = tensor(&y, &[rows, 1]);
                let opts = FitOptions {
                    epochs: 1,
                    batch_size: batch,
                    shuffle: false,
                    verbose: Verbose::Silent,
                    ..Default::default()
                };
                model.fit((&xt, &yt), opts).unwrap();
                let what = format!("{device} eager={eager}");
                assert_eq!(model.non_trainable_variables().len(), 2, "{what}");
                let stats = bn.non_trainable_variables();
                assert_close(
                    &format!("{what}: moving_mean"),
                    &values(&stats[0].read_value()),
                    &mm,
                    1e-5,
                    1e-5,
                );
                assert_close(
                    &format!("{what}: moving_variance"),
                    &values(&stats[1].read_value()),
                    &mv,
                    1e-4,
                    1e-5,
                );
                // Inference (predict) uses the moving statistics and leaves them alone.
                let before = values(&stats[0].read_value());
                model
                    .predict(
                        &xt,
                        wgflow::keras::EvaluateOptions {
                            verbose: Verbose::Silent,
                            ..Default::default()
                        },
                    )
                    .unwrap();
                assert_eq!(values(&stats[0].read_value()), before, "{what}");
            });
        }
    }
}

/// `compute_output_shape` (used for symbolic inputs) agrees with a real call.
#[test]
fn compute_output_shape_agrees_with_call() {
    with_device(&Device::cpu(), || {
        let x = tensor(&Gen::new(17).vec_f32(2 * 3 * 4, -1.0, 1.0), &[2, 3, 4]);
        let layers: Vec<LayerRef> = vec![
            BatchNormalization::new().into_ref(),
            LayerNormalization::new().into_ref(),
            LSTM::new(2).into_ref(),
            LSTM::new(2).return_sequences(true).into_ref(),
            GRU::new(2).into_ref(),
            GRU::new(2).return_sequences(true).into_ref(),
        ];
        for l in layers {
            let y = l.call(std::slice::from_ref(&x), false).unwrap();
            let s =
                l.with_layer(|inner: &dyn Layer| inner.compute_output_shape(&[known(&[2, 3, 4])]));
            assert_eq!(s.unwrap().unwrap(), known(y.shape()), "{l:?}");
        }
    });
}

/// Embedding, LSTM and GRU inside a traced function give the eager values.
#[test]
fn recurrent_and_embedding_layers_trace() {
    for device in common::devices() {
        with_device(&device, || {
            let emb = Embedding::new(7, 4).into_ref();
            let lstm = LSTM::new(3).return_sequences(true).into_ref();
            let gru = GRU::new(2).into_ref();
            let ids = Tensor::from_slice(&[0i32, 3, 6, 2, 5, 1, 4, 4], [2, 4]).unwrap();
            let eager = gru
                .call(
                    &[lstm
                        .call(
                            &[emb.call(std::slice::from_ref(&ids), false).unwrap()],
                            false,
                        )
                        .unwrap()],
                    false,
                )
                .unwrap();
            let (e, l, g) = (emb.clone(), lstm.clone(), gru.clone());
            let f = wgflow::function(move |a: &[wgflow::Arg]| -> wgflow::Result<Tensor> {
                let x = e.call(&[a[0].tensor()?.clone()], false)?;
                let x = l.call(&[x], false)?;
                g.call(&[x], false)
            });
            let traced = f.call(&[wgflow::Arg::from(&ids)]).unwrap();
            assert_close(
                &format!("{device} traced"),
                &values(&traced),
                &values(&eager),
                1e-6,
                1e-6,
            );
        });
    }
}

fn fixture_state_layer(case: &str) -> LayerRef {
    match case {
        "lstm_state" | "lstm_state_zero" => LSTM::new(3).return_state(true).into_ref(),
        "lstm_seq_back_state" => LSTM::new(3)
            .return_sequences(true)
            .go_backwards(true)
            .return_state(true)
            .into_ref(),
        "gru_seq_state" => GRU::new(3)
            .return_sequences(true)
            .return_state(true)
            .into_ref(),
        "gru_reset_before_state" => GRU::new(3).reset_after(false).return_state(true).into_ref(),
        other => panic!("no layer for fixture case {other}"),
    }
}

/// `return_state` and initial states against Keras: every output (the sequence output,
/// then the final states) and the gradients of `Σ sum(y_i * cot_i)` with respect to the
/// input, the initial states and the weights.
#[test]
fn recurrent_states_match_tensorflow() {
    let fx = fixtures();
    let cases = fx["state_cases"].as_object().unwrap();
    assert_eq!(cases.len(), 5);
    for device in common::devices() {
        with_device(&device, || {
            for (name, c) in cases {
                let what = format!("{device} {name}");
                let layer = fixture_state_layer(name);
                let shape = usizes(&c["x_shape"]);
                let weights: Vec<Vec<f32>> =
                    c["weights"].as_array().unwrap().iter().map(f32s).collect();
                set_weights(&layer, &shape, &weights);
                let mut inputs = vec![tensor(&f32s(&c["x"]), &shape)];
                for (s, sh) in c["states"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .zip(c["state_shapes"].as_array().unwrap())
                {
                    inputs.push(tensor(&f32s(s), &usizes(sh)));
                }
                let tape = GradientTape::persistent();
                for t in &inputs {
                    tape.watch(t);
                }
                let ys = layer.call_many(&inputs, false).unwrap();
                let want_shapes = c["y_shapes"].as_array().unwrap();
                assert_eq!(ys.len(), want_shapes.len(), "{what}: outputs");
                let mut loss = ops::zeros([], DType::F32).unwrap();
                for (i, ((y, want), cot)) in ys
                    .iter()
                    .zip(c["ys"].as_array().unwrap())
                    .zip(c["cotangents"].as_array().unwrap())
                    .enumerate()
                {
                    assert_eq!(y.shape(), usizes(&want_shapes[i]), "{what}: output {i}");
                    let tol = 1e-4;
                    assert_close(
                        &format!("{what}: output {i}"),
                        &values(y),
                        &f64s(&f32s(want)),
                        tol,
                        tol,
                    );
                    let term = ops::mul(y, &tensor(&f32s(cot), y.shape())).unwrap();
                    let term = ops::reduce_sum(&term, wgflow::Axes::All, false).unwrap();
                    loss = ops::add(&loss, &term).unwrap();
                }
                let refs: Vec<&Tensor> = inputs.iter().collect();
                let grads = tape.gradient(&loss, &refs).unwrap();
                let mut want = vec![c["grad_x"].clone()];
                want.extend(c["grad_states"].as_array().unwrap().iter().cloned());
                for (i, (g, w)) in grads.iter().zip(&want).enumerate() {
                    let g = g.as_ref().expect("gradient for each input");
                    assert_close(
                        &format!("{what}: d/d input {i}"),
                        &values(g),
                        &f64s(&f32s(w)),
                        1e-4,
                        1e-4,
                    );
                }
                let vars = layer.trainable_variables();
                let refs: Vec<&Variable> = vars.iter().collect();
                let gw = tape.gradient(&loss, &refs).unwrap();
                for (i, (g, w)) in gw
                    .iter()
                    .zip(c["grad_weights"].as_array().unwrap())
                    .enumerate()
                {
                    assert_close(
                        &format!("{what}: d/dw{i}"),
                        &values(g.as_ref().expect("gradient for a weight")),
                        &f64s(&f32s(w)),
                        1e-4,
                        1e-4,
                    );
                }
            }
        });
    }
}

/// An encoder-decoder of the functional API: the encoder LSTM's final states start the
/// decoder LSTM. The model matches the layers called by hand, its summary lists the
/// encoder's three outputs and the decoder's connections to them, it trains with `fit`,
/// and bad initial states are errors naming the layer.
#[test]
fn encoder_states_start_a_decoder() {
    with_device(&Device::cpu(), || {
        wgflow::keras::set_random_seed(3);
        let enc_in = Input::named(&[5, 2], "enc");
        let dec_in = Input::named(&[4, 3], "dec");
        let encoder = LSTM::new(6).return_state(true).into_ref();
        let outs = encoder.apply_many(&[&enc_in]).unwrap();
        assert_eq!(outs.len(), 3);
        assert_eq!(outs[1].shape(), &[None, Some(6)]);
        let e = encoder.apply(&[&enc_in]).err().unwrap().to_string();
        assert!(e.contains("3 outputs") && e.contains("apply_many"), "{e}");
        let decoder = LSTM::new(6).return_sequences(true).into_ref();
        let seq = decoder.apply(&[&dec_in, &outs[1], &outs[2]]).unwrap();
        let head = Dense::new(1).into_ref();
        let y = head.apply(&[&seq]).unwrap();
        let model = wgflow::keras::Model::new(&[enc_in, dec_in], &[y], "seq2seq").unwrap();
        // Keras 3.15's summary of the same model, printed by it.
        let keras = "\
Model: \"seq2seq\"
┏━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━┓
┃ Layer (type)        ┃ Output Shape      ┃    Param # ┃ Connected to      ┃
┡━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━┩
│ enc (InputLayer)    │ (None, 5, 2)      │          0 │ -                 │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ dec (InputLayer)    │ (None, 4, 3)      │          0 │ -                 │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ lstm (LSTM)         │ [(None, 6),       │        216 │ enc[0][0]         │
│                     │ (None, 6), (None, │            │                   │
│                     │ 6)]               │            │                   │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ lstm_1 (LSTM)       │ (None, 4, 6)      │        240 │ dec[0][0],        │
│                     │                   │            │ lstm[0][1],       │
│                     │                   │            │ lstm[0][2]        │
├─────────────────────┼───────────────────┼────────────┼───────────────────┤
│ dense (Dense)       │ (None, 4, 1)      │          7 │ lstm_1[0][0]      │
└─────────────────────┴───────────────────┴────────────┴───────────────────┘
 Total params: 463 (1.81 KB)
 Trainable params: 463 (1.81 KB)
 Non-trainable params: 0 (0.00 B)
";
        assert_eq!(model.summary().trim_end(), keras.trim_end());

        let mut g = Gen::new(9);
        let xe = tensor(&g.vec_f32(8 * 5 * 2, -1.0, 1.0), &[8, 5, 2]);
        let xd = tensor(&g.vec_f32(8 * 4 * 3, -1.0, 1.0), &[8, 4, 3]);
        let got = model.call_many(&[xe.clone(), xd.clone()], false).unwrap();
        let states = encoder.call_many(std::slice::from_ref(&xe), false).unwrap();
        let by_hand = head
            .call(
                &[decoder
                    .call(&[xd.clone(), states[1].clone(), states[2].clone()], false)
                    .unwrap()],
                false,
            )
            .unwrap();
        assert_close("seq2seq", &values(&got[0]), &values(&by_hand), 1e-6, 1e-6);

        // The decoder learns to copy the encoder's last input feature onto every step.
        let last = ops::slice(&xe, &[0, 4, 0], &[-1, 1, 1]).unwrap();
        let target = ops::broadcast_to(&last, &[8, 4, 1]).unwrap();
        model
            .compile(SGD::new(0.3), MeanSquaredError::new(), vec![])
            .unwrap();
        let h = model
            .fit(
                (vec![xe.clone(), xd.clone()], vec![target]),
                FitOptions {
                    epochs: 30,
                    batch_size: 8,
                    verbose: Verbose::Silent,
                    ..Default::default()
                },
            )
            .unwrap();
        let loss = h.get("loss").unwrap();
        assert!(loss[29] < 0.5 * loss[0], "{loss:?}");

        // Initial states of the wrong count or shape.
        let e = decoder
            .call(&[xd.clone(), states[1].clone()], false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("lstm_1") && e.contains("2 initial state"), "{e}");
        let e = decoder
            .call(
                &[
                    xd,
                    states[1].clone(),
                    ops::zeros([8, 5], DType::F32).unwrap(),
                ],
                false,
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("initial state 1") && e.contains("[8, 6]"), "{e}");

        // A Sequential model takes layers with one output only, as Keras.
        let e = Sequential::new(vec![
            wgflow::keras::layers::InputLayer::new(&[5, 2]).into_ref(),
            LSTM::new(4).return_state(true).into_ref(),
        ])
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.contains("has 3 outputs") && e.contains("functional API"),
            "{e}"
        );
        let seq = Sequential::new(vec![LSTM::new(4).return_state(true).into_ref()]).unwrap();
        let e = seq.call(&xe, false).unwrap_err().to_string();
        assert!(e.contains("has 3 outputs"), "{e}");
    });
}

/// The input mask of a training call, recovered from the gradient of the output with
/// respect to the input: `[batch, features]` of 0 (dropped: zero gradient at every step)
/// or `1 / (1 - rate)`. Asserts that the mask is shared by all time steps.
fn recovered_input_mask(grad: &[f64], (b, t, f): (usize, usize, usize), rate: f64) -> Vec<f32> {
    let mut mask = vec![0.0f32; b * f];
    for i in 0..b {
        for j in 0..f {
            let zero: Vec<bool> = (0..t).map(|s| grad[(i * t + s) * f + j] == 0.0).collect();
            assert!(
                zero.iter().all(|&z| z == zero[0]),
                "row {i} feature {j}: the mask changes over time: {zero:?}"
            );
            mask[i * f + j] = if zero[0] {
                0.0
            } else {
                (1.0 / (1.0 - rate)) as f32
            };
        }
    }
    mask
}

/// `dropout`: in training one input mask per call, shared by the time steps (and by the
/// gates without recurrent dropout): the training output is the inference output of the
/// masked inputs. A new call draws a new mask; inference ignores the rates.
#[test]
fn rnn_input_dropout_is_one_mask_per_call() {
    let (b, t, f, u, rate) = (4, 5, 6, 3, 0.4);
    let mut g = Gen::new(21);
    let x = g.vec_f32(b * t * f, -1.0, 1.0);
    let cot = g_like(b * u, -1.0, 1.0);
    for device in common::devices() {
        with_device(&device, || {
            for gru in [false, true] {
                let (layer, plain) = if gru {
                    let w = rnn_weights(&mut Gen::new(22), f, u, 3, 6 * u);
                    let (l, p) = (
                        GRU::new(u).dropout(rate).seed(7).into_ref(),
                        GRU::new(u).into_ref(),
                    );
                    set_weights(&l, &[b, t, f], &w);
                    set_weights(&p, &[b, t, f], &w);
                    (l, p)
                } else {
                    let w = rnn_weights(&mut Gen::new(22), f, u, 4, 4 * u);
                    let (l, p) = (
                        LSTM::new(u).dropout(rate).seed(7).into_ref(),
                        LSTM::new(u).into_ref(),
                    );
                    set_weights(&l, &[b, t, f], &w);
                    set_weights(&p, &[b, t, f], &w);
                    (l, p)
                };
                let what = format!("{device} gru={gru}");
                let xt = tensor(&x, &[b, t, f]);
                let run = run_layer(&layer, &xt, &cot, true);
                let mask =
                    recovered_input_mask(run.grad_x.as_ref().unwrap(), (b, t, f), rate as f64);
                let dropped = mask.iter().filter(|&&m| m == 0.0).count();
                assert!(
                    dropped > 0 && dropped < b * f,
                    "{what}: {dropped} of {} dropped",
                    b * f
                );
                let masked: Vec<f32> = (0..b * t * f)
                    .map(|k| x[k] * mask[(k / (t * f)) * f + k % f])
                    .collect();
                let want = values(&plain.call(&[tensor(&masked, &[b, t, f])], false).unwrap());
                assert_close(
                    &format!("{what}: training = inference on masked x"),
                    &run.y,
                    &want,
                    1e-5,
                    1e-5,
                );
                // Inference: no dropout.
                let infer = values(&layer.call(std::slice::from_ref(&xt), false).unwrap());
                let plain_out = values(&plain.call(std::slice::from_ref(&xt), false).unwrap());
                assert_close(
                    &format!("{what}: inference"),
                    &infer,
                    &plain_out,
                    1e-6,
                    1e-6,
                );
                // The next training call draws another mask.
                let again = run_layer(&layer, &xt, &cot, true);
                assert_ne!(run.y, again.y, "{what}: a new mask per call");
            }
        });
    }
}

/// `recurrent_dropout` (Keras's implementation 1: a mask per gate on the previous state
/// where it enters that gate, fixed over the steps). With a recurrent kernel that is zero
/// but for the cell gate's columns, the gradient with respect to `h0` shows that gate's
/// mask, and the training output is the inference output from the masked `h0` (an LSTM's
/// carried state `c0` is not masked). Inference ignores the rate; a traced `fit` trains.
#[test]
fn lstm_recurrent_dropout_masks_the_state_entering_each_gate() {
    let (b, f, u, rate) = (5, 3, 4, 0.5);
    let mut g = Gen::new(23);
    let x = g.vec_f32(b * f, -1.0, 1.0);
    let h0 = g.vec_f32(b * u, -1.0, 1.0);
    let c0 = g.vec_f32(b * u, -1.0, 1.0);
    let mut w = rnn_weights(&mut g, f, u, 4, 4 * u);
    // Recurrent kernel [u, 4u]: only the cell gate's block (columns 2u..3u) is nonzero.
    for r in 0..u {
        for c in 0..4 * u {
            if !(2 * u..3 * u).contains(&c) {
                w[1][r * 4 * u + c] = 0.0;
            }
        }
    }
    for device in common::devices() {
        with_device(&device, || {
            let layer = LSTM::new(u).recurrent_dropout(rate).seed(3).into_ref();
            let plain = LSTM::new(u).into_ref();
            set_weights(&layer, &[b, 1, f], &w);
            set_weights(&plain, &[b, 1, f], &w);
            let (xt, h0t, c0t) = (
                tensor(&x, &[b, 1, f]),
                tensor(&h0, &[b, u]),
                tensor(&c0, &[b, u]),
            );
            let tape = GradientTape::new();
            tape.watch(&h0t);
            let y = layer
                .call(&[xt.clone(), h0t.clone(), c0t.clone()], true)
                .unwrap();
            let loss = ops::reduce_sum(&y, wgflow::Axes::All, false).unwrap();
            let gh = values(tape.gradient(&loss, &[&h0t]).unwrap()[0].as_ref().unwrap());
            let mask: Vec<f32> = gh
                .iter()
                .map(|&d| if d == 0.0 { 0.0 } else { 1.0 / (1.0 - rate) })
                .collect();
            let dropped = mask.iter().filter(|&&m| m == 0.0).count();
            assert!(
                dropped > 0 && dropped < b * u,
                "{device}: {dropped} dropped"
            );
            let h0m: Vec<f32> = h0.iter().zip(&mask).map(|(h, m)| h * m).collect();
            let want = plain
                .call(&[xt.clone(), tensor(&h0m, &[b, u]), c0t.clone()], false)
                .unwrap();
            assert_close(
                &format!("{device}: masked h0"),
                &values(&y),
                &values(&want),
                1e-5,
                1e-5,
            );
            let infer = layer
                .call(&[xt.clone(), h0t.clone(), c0t.clone()], false)
                .unwrap();
            let plain_out = plain.call(&[xt, h0t, c0t], false).unwrap();
            assert_close(
                &format!("{device}: inference"),
                &values(&infer),
                &values(&plain_out),
                1e-6,
                1e-6,
            );
        });
    }
}

/// Both dropouts in a traced training step: each `fit` step draws new masks (the loss is
/// not the same twice on the same batch with a learning rate of 0), and bad rates are
/// build errors naming the layer.
#[test]
fn rnn_dropout_trains_traced_with_fresh_masks() {
    for device in common::devices() {
        with_device(&device, || {
            wgflow::keras::set_random_seed(2);
            let mut g = Gen::new(24);
            let x = tensor(&g.vec_f32(8 * 4 * 3, -1.0, 1.0), &[8, 4, 3]);
            let y = tensor(&g.vec_f32(8, -1.0, 1.0), &[8, 1]);
            for gru in [false, true] {
                let rnn = if gru {
                    GRU::new(5)
                        .dropout(0.3)
                        .recurrent_dropout(0.3)
                        .reset_after(false)
                        .into_ref()
                } else {
                    LSTM::new(5).dropout(0.3).recurrent_dropout(0.3).into_ref()
                };
                let model = Sequential::new(vec![
                    wgflow::keras::layers::InputLayer::new(&[4, 3]).into_ref(),
                    rnn,
                    Dense::new(1).into_ref(),
                ])
                .unwrap();
                model
                    .compile(SGD::new(0.0), MeanSquaredError::new(), vec![])
                    .unwrap();
                let a = model.train_on_batch(&x, &y).unwrap()["loss"];
                let b = model.train_on_batch(&x, &y).unwrap()["loss"];
                assert_ne!(a, b, "{device} gru={gru}: the masks change between steps");
                let eval = |m: &wgflow::keras::Model| m.test_on_batch(&x, &y).unwrap()["loss"];
                assert_eq!(
                    eval(&model),
                    eval(&model),
                    "{device}: no dropout in evaluation"
                );
            }
            let e = LSTM::new(2)
                .dropout(1.0)
                .into_ref()
                .build(&[known(&[1, 2, 3])])
                .unwrap_err()
                .to_string();
            assert!(e.contains("LSTM") && e.contains("dropout"), "{e}");
        });
    }
}

/// `stateful`: each call starts from the previous call's final states, so two calls on a
/// sequence give what one call on the sequence twice as long gives; `reset_states` starts
/// again from zeros. Eagerly and through the traced `predict`, for LSTM and GRU. The states
/// are not weights; another batch size, or a batch size left open, is an error naming the
/// layer.
#[test]
fn stateful_rnns_carry_their_states_between_calls() {
    let (b, t, f, u) = (2, 3, 2, 4);
    let mut g = Gen::new(31);
    let x = g.vec_f32(b * t * f, -1.0, 1.0);
    // [x, x] along time.
    let twice: Vec<f32> = (0..b)
        .flat_map(|i| {
            let row = &x[i * t * f..(i + 1) * t * f];
            row.iter().chain(row).copied().collect::<Vec<_>>()
        })
        .collect();
    let predict = || wgflow::keras::EvaluateOptions {
        verbose: Verbose::Silent,
        ..Default::default()
    };
    for device in common::devices() {
        with_device(&device, || {
            for gru in [false, true] {
                let w = if gru {
                    rnn_weights(&mut Gen::new(32), f, u, 3, 6 * u)
                } else {
                    rnn_weights(&mut Gen::new(32), f, u, 4, 4 * u)
                };
                let make = |stateful: bool| -> LayerRef {
                    if gru {
                        GRU::new(u).stateful(stateful).into_ref()
                    } else {
                        LSTM::new(u).stateful(stateful).into_ref()
                    }
                };
                let what = format!("{device} gru={gru}");
                let plain = make(false);
                set_weights(&plain, &[b, 2 * t, f], &w);
                let whole = values(
                    &plain
                        .call(&[tensor(&twice, &[b, 2 * t, f])], false)
                        .unwrap(),
                );
                let first = values(&plain.call(&[tensor(&x, &[b, t, f])], false).unwrap());

                let rnn = make(true);
                let model = Sequential::new(vec![
                    wgflow::keras::layers::InputLayer::new(&[t, f])
                        .batch_size(b)
                        .into_ref(),
                    rnn.clone(),
                ])
                .unwrap();
                assert_eq!(model.weights().len(), 3, "{what}: states are not weights");
                for (v, w) in model.weights().iter().zip(&w) {
                    v.assign(&tensor(w, &v.shape())).unwrap();
                }
                let xt = tensor(&x, &[b, t, f]);
                // Eager calls.
                let a = values(&model.call(&xt, false).unwrap());
                let c = values(&model.call(&xt, false).unwrap());
                assert_close(&format!("{what}: first call"), &a, &first, 1e-5, 1e-5);
                assert_close(&format!("{what}: second call"), &c, &whole, 1e-5, 1e-5);
                // Traced predict, after a reset.
                model.reset_states().unwrap();
                let a = values(&model.predict(&xt, predict()).unwrap());
                let c = values(&model.predict(&xt, predict()).unwrap());
                assert_close(&format!("{what}: first predict"), &a, &first, 1e-5, 1e-5);
                assert_close(&format!("{what}: second predict"), &c, &whole, 1e-5, 1e-5);
                rnn.reset_states().unwrap();
                let a = values(&model.predict(&xt, predict()).unwrap());
                assert_close(&format!("{what}: after reset"), &a, &first, 1e-5, 1e-5);

                let e = model
                    .call(&tensor(&vec![0.0; 3 * t * f], &[3, t, f]), false)
                    .unwrap_err()
                    .to_string();
                assert!(
                    e.contains("stateful") && e.contains("of 2") && e.contains("of 3"),
                    "{e}"
                );
                let e = make(true)
                    .build(&[known(&[t, f]).into_iter().fold(vec![None], |mut s, d| {
                        s.push(d);
                        s
                    })])
                    .unwrap_err()
                    .to_string();
                assert!(e.contains("static batch size"), "{e}");
            }
        });
    }
}
