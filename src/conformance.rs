//! The TensorFlow conformance runner: executes fixture cases written by TensorFlow itself
//! (`<dir>/<case>/case.json` naming the op, its attributes and `.npy` inputs, with
//! `output.npy` the expected result) on a device, and compares with per-family tolerances
//! stated in [`tolerance`].

use crate::device::{Device, with_device};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::npy::{NpyArray, read_npy_array};
use crate::ops::{self, Axes};
use crate::tensor::Tensor;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// How a case ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Pass,
    Fail(String),
}

/// The result of one case on one device.
#[derive(Clone, Debug)]
pub struct CaseReport {
    pub case: String,
    pub device: String,
    pub outcome: Outcome,
    /// Largest absolute and relative differences from TensorFlow's values.
    pub max_abs: f64,
    pub max_rel: f64,
    /// Gradient files in the case that were not checked (the runner was not asked to).
    pub skipped_grads: usize,
    /// Gradient files checked against TensorFlow's.
    pub checked_grads: usize,
}

/// `|got - want| <= atol + rtol * |want|`: the tolerance of each op family, in one place.
/// Exact ops must match bit for bit; float arithmetic within an ulp or two; transcendental
/// functions to 1e-5; sums, products, matmuls and convolutions scale with their length.
pub fn tolerance(op: &str, reduction_len: usize) -> (f64, f64) {
    let n = reduction_len.max(1) as f64;
    match op {
        "abs" | "neg" | "sign" | "relu" | "relu6" | "floor" | "ceil" | "round" | "maximum"
        | "minimum" | "cast" | "equal" | "less" | "greater_equal" | "where" | "clip_by_value"
        | "reshape" | "transpose" | "broadcast_to" | "concat" | "stack" | "slice"
        | "strided_slice" | "pad" | "tile" | "reverse" | "gather" | "gather_nd" | "expand_dims"
        | "one_hot" | "embedding_lookup" | "flip_left_right" | "rot90" | "argmax" | "argmin"
        | "reduce_max" | "reduce_min" | "max_pool2d" | "resize_nearest" => (0.0, 0.0),
        "add" | "sub" | "mul" | "div" | "square" | "squared_difference" | "reciprocal"
        | "floor_div" | "floor_mod" | "sqrt" | "bias_add" => (0.0, 2.5e-7),
        "reduce_sum"
        | "reduce_mean"
        | "cumsum"
        | "unsorted_segment_sum"
        | "avg_pool2d"
        | "l2_normalize" => (1e-6 * n.sqrt(), 2e-6 * n.sqrt()),
        "reduce_prod" => (1e-6, 2e-6 * n),
        "matmul" | "conv2d" => (1e-5 * n.sqrt(), 1e-5 * n.sqrt()),
        _ => (1e-6, 1e-5),
    }
}

fn attr_i64(attrs: &Value, key: &str) -> Result<i64> {
    attrs
        .get(key)
        .and_then(Value::as_i64)
        .ok_or_else(|| Error::format("case.json", format!("attribute '{key}' is missing")))
}

fn attr_f64(attrs: &Value, key: &str) -> Result<f64> {
    attrs
        .get(key)
        .and_then(Value::as_f64)
        .ok_or_else(|| Error::format("case.json", format!("attribute '{key}' is missing")))
}

fn attr_bool(attrs: &Value, key: &str) -> bool {
    attrs.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn attr_ints(attrs: &Value, key: &str) -> Result<Vec<i64>> {
    match attrs.get(key) {
        Some(Value::Array(v)) => v
            .iter()
            .map(|x| {
                x.as_i64().ok_or_else(|| {
                    Error::format("case.json", format!("'{key}' holds a non-integer"))
                })
            })
            .collect(),
        Some(Value::Number(n)) => Ok(vec![n.as_i64().unwrap_or(0)]),
        _ => Err(Error::format(
            "case.json",
            format!("attribute '{key}' is missing"),
        )),
    }
}

fn axes(attrs: &Value) -> Result<Axes> {
    match attrs.get("axis") {
        None | Some(Value::Null) => Ok(Axes::All),
        _ => Ok(Axes::List(attr_ints(attrs, "axis")?)),
    }
}

fn padding(attrs: &Value) -> Result<ops::Padding> {
    match attrs.get("padding").and_then(Value::as_str) {
        Some("SAME") => Ok(ops::Padding::Same),
        Some("VALID") => Ok(ops::Padding::Valid),
        other => Err(Error::format(
            "case.json",
            format!("unknown padding {other:?}"),
        )),
    }
}

/// An integer or a list of per-axis integers (TensorFlow accepts both; NHWC lists have 4).
fn spatial(attrs: &Value, key: &str, default: usize) -> Result<[usize; 2]> {
    match attrs.get(key) {
        None | Some(Value::Null) => Ok([default; 2]),
        Some(_) => {
            let v = attr_ints(attrs, key)?;
            Ok(match v.len() {
                1 => [v[0] as usize; 2],
                2 => [v[0] as usize, v[1] as usize],
                4 => [v[1] as usize, v[2] as usize],
                _ => {
                    return Err(Error::format(
                        "case.json",
                        format!("'{key}' has {} entries", v.len()),
                    ));
                }
            })
        }
    }
}

fn conv_options(attrs: &Value) -> Result<ops::Conv2dOptions> {
    Ok(ops::Conv2dOptions {
        strides: spatial(attrs, "strides", 1)?,
        padding: padding(attrs)?,
        dilations: spatial(attrs, "dilations", 1)?,
    })
}

fn pool_options(attrs: &Value) -> Result<ops::PoolOptions> {
    Ok(ops::PoolOptions {
        ksize: spatial(attrs, "ksize", 1)?,
        strides: spatial(attrs, "strides", 1)?,
        padding: padding(attrs)?,
    })
}

/// Runs op `op` with TensorFlow's attributes on named inputs (in the case's order).
pub fn run_op(op: &str, attrs: &Value, inputs: &[(String, Tensor)]) -> Result<Tensor> {
    let x = |i: usize| -> Result<&Tensor> {
        inputs
            .get(i)
            .map(|(_, t)| t)
            .ok_or_else(|| Error::format("case.json", format!("{op}: input {i} is missing")))
    };
    let unary = |f: fn(&Tensor) -> Result<Tensor>| -> Result<Tensor> { f(x(0)?) };
    let binary = |f: fn(&Tensor, &Tensor) -> Result<Tensor>| -> Result<Tensor> { f(x(0)?, x(1)?) };
    let keep = attr_bool(attrs, "keepdims");
    match op {
        "abs" => unary(ops::abs),
        "neg" => unary(ops::neg),
        "sign" => unary(ops::sign),
        "square" => unary(ops::square),
        "sqrt" => unary(ops::sqrt),
        "rsqrt" => unary(ops::rsqrt),
        "reciprocal" => unary(ops::reciprocal),
        "exp" => unary(ops::exp),
        "expm1" => unary(ops::expm1),
        "log" => unary(ops::log),
        "log1p" => unary(ops::log1p),
        "sin" => unary(ops::sin),
        "cos" => unary(ops::cos),
        "tan" => unary(ops::tan),
        "tanh" => unary(ops::tanh),
        "sigmoid" => unary(ops::sigmoid),
        "relu" => unary(ops::relu),
        "relu6" => unary(ops::relu6),
        "elu" => unary(ops::elu),
        "selu" => unary(ops::selu),
        "gelu" => unary(ops::gelu),
        "gelu_tanh" => unary(ops::gelu_tanh),
        "silu" => unary(ops::silu),
        "softplus" => unary(ops::softplus),
        "softsign" => unary(ops::softsign),
        "erf" => unary(ops::erf),
        "floor" => unary(ops::floor),
        "ceil" => unary(ops::ceil),
        "round" => unary(ops::round),
        "add" => binary(ops::add),
        "sub" => binary(ops::sub),
        "mul" => binary(ops::mul),
        "div" => binary(ops::div),
        "floor_div" => binary(ops::floor_div),
        "floor_mod" => binary(ops::floor_mod),
        "pow" => binary(ops::pow),
        "maximum" => binary(ops::maximum),
        "minimum" => binary(ops::minimum),
        "atan2" => binary(ops::atan2),
        "squared_difference" => binary(ops::squared_difference),
        "equal" => binary(ops::equal),
        "not_equal" => binary(ops::not_equal),
        "less" => binary(ops::less),
        "less_equal" => binary(ops::less_equal),
        "greater" => binary(ops::greater),
        "greater_equal" => binary(ops::greater_equal),
        "where" => ops::where_(x(0)?, x(1)?, x(2)?),
        "cast" => {
            let name = attrs.get("dtype").and_then(Value::as_str).unwrap_or("");
            let dt = DType::from_name(name)
                .ok_or_else(|| Error::format("case.json", format!("unknown dtype {name}")))?;
            ops::cast(x(0)?, dt)
        }
        "clip_by_value" => ops::clip_by_value_scalar(
            x(0)?,
            attr_f64(attrs, "clip_value_min")?,
            attr_f64(attrs, "clip_value_max")?,
        ),
        "reduce_sum" => ops::reduce_sum(x(0)?, axes(attrs)?, keep),
        "reduce_mean" => ops::reduce_mean(x(0)?, axes(attrs)?, keep),
        "reduce_max" => ops::reduce_max(x(0)?, axes(attrs)?, keep),
        "reduce_min" => ops::reduce_min(x(0)?, axes(attrs)?, keep),
        "reduce_prod" => ops::reduce_prod(x(0)?, axes(attrs)?, keep),
        "reduce_logsumexp" => ops::reduce_logsumexp(x(0)?, axes(attrs)?, keep),
        "argmax" => ops::argmax(x(0)?, attr_i64(attrs, "axis")?),
        "argmin" => ops::argmin(x(0)?, attr_i64(attrs, "axis")?),
        "cumsum" => ops::cumsum(
            x(0)?,
            attr_i64(attrs, "axis")?,
            attr_bool(attrs, "exclusive"),
            attr_bool(attrs, "reverse"),
        ),
        "softmax" => ops::softmax(x(0)?, attr_i64(attrs, "axis")?),
        "log_softmax" => ops::log_softmax(x(0)?, attr_i64(attrs, "axis")?),
        "l2_normalize" => ops::l2_normalize(x(0)?, axes(attrs)?, 1e-12),
        "matmul" => ops::matmul_t(
            x(0)?,
            x(1)?,
            attr_bool(attrs, "transpose_a"),
            attr_bool(attrs, "transpose_b"),
        ),
        "bias_add" => ops::bias_add(x(0)?, x(1)?),
        "reshape" => ops::reshape(x(0)?, &attr_ints(attrs, "shape")?),
        "expand_dims" => ops::expand_dims(x(0)?, attr_i64(attrs, "axis")?),
        "transpose" => {
            let perm: Vec<usize> = attr_ints(attrs, "perm")?
                .iter()
                .map(|&p| p as usize)
                .collect();
            ops::transpose(x(0)?, &perm)
        }
        "broadcast_to" => {
            let shape: Vec<usize> = attr_ints(attrs, "shape")?
                .iter()
                .map(|&d| d as usize)
                .collect();
            ops::broadcast_to(x(0)?, &shape)
        }
        "concat" => ops::concat(
            &inputs.iter().map(|(_, t)| t).collect::<Vec<_>>(),
            attr_i64(attrs, "axis")?,
        ),
        "stack" => ops::stack(
            &inputs.iter().map(|(_, t)| t).collect::<Vec<_>>(),
            attr_i64(attrs, "axis")?,
        ),
        "slice" => ops::slice(
            x(0)?,
            &attr_ints(attrs, "begin")?,
            &attr_ints(attrs, "size")?,
        ),
        "strided_slice" => {
            let opt = |key: &str| -> Result<Vec<Option<i64>>> {
                match attrs.get(key) {
                    Some(Value::Array(v)) => Ok(v.iter().map(Value::as_i64).collect()),
                    _ => Err(Error::format(
                        "case.json",
                        format!("attribute '{key}' is missing"),
                    )),
                }
            };
            ops::strided_slice(
                x(0)?,
                &opt("begin")?,
                &opt("end")?,
                &attr_ints(attrs, "strides")?,
            )
        }
        "pad" => {
            let rows = attrs
                .get("paddings")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let paddings: Vec<[usize; 2]> = rows
                .iter()
                .map(|r| {
                    let v: Vec<usize> = r
                        .as_array()
                        .map(|a| {
                            a.iter()
                                .filter_map(Value::as_u64)
                                .map(|x| x as usize)
                                .collect()
                        })
                        .unwrap_or_default();
                    [
                        v.first().copied().unwrap_or(0),
                        v.get(1).copied().unwrap_or(0),
                    ]
                })
                .collect();
            let mode = match attrs
                .get("mode")
                .and_then(Value::as_str)
                .unwrap_or("CONSTANT")
            {
                "REFLECT" => ops::PadMode::Reflect,
                "SYMMETRIC" => ops::PadMode::Symmetric,
                _ => ops::PadMode::Constant(
                    attrs
                        .get("constant_values")
                        .and_then(Value::as_f64)
                        .unwrap_or(0.0),
                ),
            };
            ops::pad(x(0)?, &paddings, mode)
        }
        "tile" => {
            let m: Vec<usize> = attr_ints(attrs, "multiples")?
                .iter()
                .map(|&d| d as usize)
                .collect();
            ops::tile(x(0)?, &m)
        }
        "reverse" => ops::reverse(x(0)?, &attr_ints(attrs, "axis")?),
        "gather" => ops::gather(
            x(0)?,
            x(1)?,
            attr_i64(attrs, "axis")?,
            attrs.get("batch_dims").and_then(Value::as_i64).unwrap_or(0),
        ),
        "gather_nd" => ops::gather_nd(
            x(0)?,
            x(1)?,
            attrs.get("batch_dims").and_then(Value::as_i64).unwrap_or(0),
        ),
        "embedding_lookup" => ops::embedding_lookup(x(0)?, x(1)?),
        "unsorted_segment_sum" => {
            ops::unsorted_segment_sum(x(0)?, x(1)?, attr_i64(attrs, "num_segments")? as usize)
        }
        "one_hot" => ops::one_hot(x(0)?, attr_i64(attrs, "depth")? as usize, 1.0, 0.0, -1),
        "flip_left_right" => ops::flip_left_right(x(0)?),
        "flip_up_down" => ops::flip_up_down(x(0)?),
        "rot90" => ops::rot90(x(0)?, attr_i64(attrs, "k")?),
        "resize_bilinear" | "resize_nearest" => {
            let size = attr_ints(attrs, "size")?;
            let method = if op == "resize_nearest" {
                ops::ResizeMethod::Nearest
            } else {
                ops::ResizeMethod::Bilinear
            };
            ops::resize(x(0)?, [size[0] as usize, size[1] as usize], method)
        }
        "conv2d" => ops::conv2d(x(0)?, x(1)?, conv_options(attrs)?),
        "max_pool2d" => ops::max_pool2d(x(0)?, pool_options(attrs)?),
        "avg_pool2d" => ops::avg_pool2d(x(0)?, pool_options(attrs)?),
        "softmax_cross_entropy_with_logits" => {
            ops::softmax_cross_entropy_with_logits(x(0)?, x(1)?, -1)
        }
        "sparse_softmax_cross_entropy_with_logits" => {
            ops::sparse_softmax_cross_entropy_with_logits(x(0)?, x(1)?)
        }
        "sigmoid_cross_entropy_with_logits" => ops::sigmoid_cross_entropy_with_logits(x(0)?, x(1)?),
        other => Err(Error::invalid(
            "conformance",
            format!("op '{other}' is not mapped to wgflow"),
        )),
    }
}

/// The length of the reduction behind each output element, for tolerances.
fn reduction_len(op: &str, attrs: &Value, inputs: &[(String, Tensor)]) -> usize {
    let shape0 = inputs
        .first()
        .map(|(_, t)| t.shape().to_vec())
        .unwrap_or_default();
    match op {
        "matmul" => {
            let ta = attr_bool(attrs, "transpose_a");
            let r = shape0.len();
            if r < 2 {
                1
            } else if ta {
                shape0[r - 2]
            } else {
                shape0[r - 1]
            }
        }
        "conv2d" => inputs
            .get(1)
            .map(|(_, f)| f.shape()[..3].iter().product())
            .unwrap_or(1),
        "cumsum"
        | "reduce_sum"
        | "reduce_mean"
        | "reduce_prod"
        | "l2_normalize"
        | "unsorted_segment_sum" => shape0.iter().product(),
        _ => 1,
    }
}

fn compare(got: &[f64], want: &[f64], atol: f64, rtol: f64) -> (bool, f64, f64) {
    let (mut ok, mut max_abs, mut max_rel) = (true, 0f64, 0f64);
    for (&g, &w) in got.iter().zip(want) {
        if g.is_nan() && w.is_nan() || g == w {
            continue;
        }
        let d = (g - w).abs();
        max_abs = max_abs.max(d);
        if w != 0.0 {
            max_rel = max_rel.max(d / w.abs());
        }
        if d.is_nan() || d > atol + rtol * w.abs() {
            ok = false;
        }
    }
    (ok, max_abs, max_rel)
}

fn to_f64(a: &NpyArray) -> Vec<f64> {
    a.words
        .iter()
        .map(|&w| crate::dtype::Scalar::from_bits(a.dtype, w).to_f64())
        .collect()
}

/// Tolerance of a gradient: the forward op's, loosened because TensorFlow's gradient
/// kernels round differently (a sum of several terms, or a different formula).
pub fn grad_tolerance(op: &str, reduction_len: usize) -> (f64, f64) {
    let (a, r) = tolerance(op, reduction_len);
    (a.max(1e-6) * 4.0, r.max(1e-6) * 4.0)
}

/// Runs one case directory on `device` (forward values only).
#[cfg(not(target_arch = "wasm32"))]
pub fn run_case(dir: &Path, device: &Device) -> CaseReport {
    run_case_with(dir, device, false)
}

/// Runs one case on `device`; with `grads`, also checks every `grad_<input>.npy`: TensorFlow's
/// gradient of `sum(output * upstream)`, taken here with a [`crate::GradientTape`].
#[cfg(not(target_arch = "wasm32"))]
pub fn run_case_with(dir: &Path, device: &Device, grads: bool) -> CaseReport {
    let case = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut report = CaseReport {
        case,
        device: device.name().to_string(),
        outcome: Outcome::Pass,
        max_abs: 0.0,
        max_rel: 0.0,
        skipped_grads: 0,
        checked_grads: 0,
    };
    let result = (|| -> Result<(bool, f64, f64, usize)> {
        let path = dir.join("case.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(path.display(), e))?;
        let spec: Value =
            serde_json::from_str(&text).map_err(|e| Error::format(path.display(), e))?;
        let op = spec
            .get("op")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::format(path.display(), "no 'op'"))?;
        let attrs = spec.get("attrs").cloned().unwrap_or(Value::Null);
        let names: Vec<String> = spec
            .get("inputs")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let grad_names: Vec<String> = spec
            .get("grads")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        with_device(device, || {
            let inputs = names
                .iter()
                .map(|n| {
                    let a = read_npy_array(dir.join(format!("{n}.npy")))?;
                    Ok((
                        n.clone(),
                        Tensor::from_words(&a.words, &a.shape, a.dtype, device)?,
                    ))
                })
                .collect::<Result<Vec<_>>>()?;
            let want = read_npy_array(dir.join("output.npy"))?;
            let tape = crate::GradientTape::new();
            if grads {
                for (n, t) in &inputs {
                    if grad_names.contains(n) {
                        tape.watch(t);
                    }
                }
            }
            let got = run_op(op, &attrs, &inputs)?;
            if got.shape() != want.shape.as_slice() || got.dtype() != want.dtype {
                return Err(Error::shape(
                    op,
                    format!(
                        "got {:?} {}, TensorFlow gave {:?} {}",
                        got.shape(),
                        got.dtype(),
                        want.shape,
                        want.dtype
                    ),
                ));
            }
            let len = reduction_len(op, &attrs, &inputs);
            let (atol, rtol) = tolerance(op, len);
            let (mut ok, mut a, mut r) = compare(&got.to_f64_vec()?, &to_f64(&want), atol, rtol);
            if !grads || grad_names.is_empty() {
                return Ok((ok, a, r, grad_names.len()));
            }
            let upstream = read_npy_array(dir.join("upstream.npy"))?;
            let upstream =
                Tensor::from_words(&upstream.words, &upstream.shape, upstream.dtype, device)?;
            let sources: Vec<&Tensor> = grad_names
                .iter()
                .map(|n| {
                    inputs
                        .iter()
                        .find(|(m, _)| m == n)
                        .map(|(_, t)| t)
                        .ok_or_else(|| {
                            Error::format(
                                path.display(),
                                format!("gradient of unknown input '{n}'"),
                            )
                        })
                })
                .collect::<Result<_>>()?;
            let got = tape.gradient_with(
                &got,
                &sources,
                Some(&upstream),
                crate::UnconnectedGradients::Zero,
            )?;
            let (gatol, grtol) = grad_tolerance(op, len);
            for (n, g) in grad_names.iter().zip(got) {
                let want = read_npy_array(dir.join(format!("grad_{n}.npy")))?;
                let g = g.ok_or_else(|| Error::invalid(op, format!("no gradient for '{n}'")))?;
                if g.shape() != want.shape.as_slice() {
                    return Err(Error::shape(
                        op,
                        format!(
                            "gradient of '{n}' is {:?}, TensorFlow's is {:?}",
                            g.shape(),
                            want.shape
                        ),
                    ));
                }
                let (gok, ga, gr) = compare(&g.to_f64_vec()?, &to_f64(&want), gatol, grtol);
                if !gok {
                    return Err(Error::invalid(
                        op,
                        format!(
                            "gradient of '{n}' differs from TensorFlow's (max abs {ga:.3e}, max rel {gr:.3e})"
                        ),
                    ));
                }
                ok &= gok;
                a = a.max(ga);
                r = r.max(gr);
            }
            Ok((ok, a, r, grad_names.len()))
        })
    })();
    match result {
        Ok((ok, a, r, checked)) => {
            report.max_abs = a;
            report.max_rel = r;
            if grads {
                report.checked_grads = checked;
            } else {
                report.skipped_grads = checked;
            }
            if !ok {
                report.outcome = Outcome::Fail(format!(
                    "values differ beyond tolerance (max abs {a:.3e}, max rel {r:.3e})"
                ));
            }
        }
        Err(e) => report.outcome = Outcome::Fail(e.to_string()),
    }
    report
}

/// Every case directory under `dir`, sorted.
pub fn case_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir.display(), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("case.json").is_file())
        .collect();
    v.sort();
    Ok(v)
}
