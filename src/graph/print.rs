//! `print`: TensorFlow's `tf.print`. Eagerly it prints at once; inside a traced function it
//! is a graph node that prints on every call (where a Rust `println!` in the closure prints
//! only while tracing).

use super::ir::PrintTarget;
use super::trace;
use crate::dtype::Scalar;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::io::Write;

/// Prints `x` to stdout (eagerly now; in a traced function, on every call).
pub fn print(x: &Tensor) -> Result<()> {
    print_to(PrintTarget::Stdout, &[x])
}

/// Prints `inputs` separated by spaces, then a newline, to `target`.
pub fn print_to(target: PrintTarget, inputs: &[&Tensor]) -> Result<()> {
    if trace::is_tracing() {
        return trace::record_print(inputs, target);
    }
    write(&target, inputs)
}

/// The values as `tf.print` shows them: `1`, `0.1`, `[1 2.5 3]`, `[[1 2] [3 4]]` (C++
/// stream formatting: six significant digits, no trailing zeros; at most 3 items at each
/// end of an axis past 1000 elements).
pub fn format_values(x: &Tensor) -> Result<String> {
    let dt = x.dtype();
    let vals: Vec<String> = x
        .words()?
        .into_iter()
        .map(|w| fmt_scalar(Scalar::from_bits(dt, w)))
        .collect();
    let mut out = String::new();
    nest(&vals, x.shape(), vals.len() > 1000, &mut out);
    Ok(out)
}

fn nest(vals: &[String], shape: &[usize], summarise: bool, out: &mut String) {
    let Some((&n, rest)) = shape.split_first() else {
        out.push_str(&vals[0]);
        return;
    };
    let inner: usize = rest.iter().product();
    out.push('[');
    let mut first = true;
    for i in 0..n {
        if summarise && n > 6 && (3..n - 3).contains(&i) {
            if i == 3 {
                out.push_str(" ...");
            }
            continue;
        }
        if !first {
            out.push(' ');
        }
        first = false;
        nest(&vals[i * inner..(i + 1) * inner], rest, summarise, out);
    }
    out.push(']');
}

/// `%g` with six significant digits, as C++ streams print floats.
fn fmt_scalar(s: Scalar) -> String {
    let Scalar::F32(v) = s else {
        return match s {
            Scalar::Bool(b) => b.to_string(),
            other => format!("{}", other.to_f64()),
        };
    };
    let v = v as f64;
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let exp = v.abs().log10().floor() as i32;
    if !(-5..6).contains(&exp) {
        let m = format!("{:.5e}", v);
        let (mant, e) = m.split_once('e').expect("exponent");
        let mant = trim_zeros(mant);
        let e: i32 = e.parse().expect("exponent digits");
        return format!("{mant}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs());
    }
    let decimals = (5 - exp).max(0) as usize;
    trim_zeros(&format!("{v:.decimals$}"))
}

fn trim_zeros(s: &str) -> String {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s.to_string()
    }
}

pub(crate) fn write(target: &PrintTarget, inputs: &[&Tensor]) -> Result<()> {
    let parts = inputs
        .iter()
        .map(|t| format_values(t))
        .collect::<Result<Vec<_>>>()?;
    let line = format!("{}\n", parts.join(" "));
    let io = |e: std::io::Error| Error::Io {
        path: format!("{target:?}"),
        source: e,
    };
    match target {
        PrintTarget::Stdout => std::io::stdout().write_all(line.as_bytes()).map_err(io),
        PrintTarget::Stderr => std::io::stderr().write_all(line.as_bytes()).map_err(io),
        PrintTarget::Writer(w) => w
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(line.as_bytes())
            .map_err(io),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_tf_print() {
        let f = |v: f32| fmt_scalar(Scalar::F32(v));
        assert_eq!(f(3.0), "3");
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(2.5), "2.5");
        assert_eq!(f(1.0 / 3.0), "0.333333");
        assert_eq!(f(123456.0), "123456");
        assert_eq!(f(1234567.0), "1.23457e+06");
        assert_eq!(f(1e-7), "1e-07");
        assert_eq!(f(-0.5), "-0.5");
        assert_eq!(fmt_scalar(Scalar::I32(-4)), "-4");
        let t = Tensor::from_slice(&[1.0f32, 2.5, 3.0, 4.0], [2, 2]).unwrap();
        assert_eq!(format_values(&t).unwrap(), "[[1 2.5] [3 4]]");
        let t = Tensor::from_slice(&(0..1200).collect::<Vec<i32>>(), [1200]).unwrap();
        assert_eq!(format_values(&t).unwrap(), "[0 1 2 ... 1197 1198 1199]");
    }
}
