//! TensorFlow's (numpy's) way of printing a tensor:
//! `tf.Tensor([[1. 2.] [3. 4.]], shape=(2, 2), dtype=float32)`, summarised past 1000 elements.

use super::Tensor;
use crate::dtype::{DType, Scalar};
use crate::shape::fmt_shape;
use std::fmt;

/// Tensors larger than this print only `EDGE` items at each end of each axis.
const THRESHOLD: usize = 1000;
const EDGE: usize = 3;

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_symbolic() {
            // TensorFlow prints a graph tensor without values.
            return write!(
                f,
                "Tensor(shape={}, dtype={})",
                fmt_shape(self.shape()),
                self.dtype()
            );
        }
        #[cfg(not(target_arch = "wasm32"))]
        let words = self.words();
        #[cfg(target_arch = "wasm32")]
        let words: crate::Result<Vec<u32>> = Err(crate::Error::invalid(
            "Display",
            "use to_vec_async in the browser",
        ));
        let body = match words {
            Ok(w) => {
                let vals: Vec<Scalar> = w
                    .into_iter()
                    .map(|x| Scalar::from_bits(self.dtype(), x))
                    .collect();
                format_array(&vals, self.shape(), self.dtype())
            }
            Err(e) => format!("<unreadable: {e}>"),
        };
        let sep = if self.rank() > 1 { "\n" } else { "" };
        write!(
            f,
            "tf.Tensor({sep}{body}, shape={}, dtype={})",
            fmt_shape(self.shape()),
            self.dtype()
        )
    }
}

/// numpy-style text of an array of values.
pub fn format_array(vals: &[Scalar], shape: &[usize], dtype: DType) -> String {
    let summarise = vals.len() > THRESHOLD;
    // Format only the elements that will be shown, so widths match numpy's.
    let mut shown = Vec::new();
    collect_shown(shape, 0, 0, summarise, &mut |i| shown.push(vals[i]));
    let fmt = ElementFormat::new(&shown, dtype);
    let mut out = String::new();
    write_block(&mut out, vals, shape, 0, 0, summarise, &fmt);
    out
}

fn collect_shown(
    shape: &[usize],
    axis: usize,
    base: usize,
    summarise: bool,
    f: &mut dyn FnMut(usize),
) {
    if axis == shape.len() {
        f(base);
        return;
    }
    let stride: usize = shape[axis + 1..].iter().product();
    for i in indices(shape[axis], summarise).into_iter().flatten() {
        collect_shown(shape, axis + 1, base + i * stride, summarise, f);
    }
}

/// The indices printed along an axis; `None` marks the `...`.
fn indices(n: usize, summarise: bool) -> Vec<Option<usize>> {
    if summarise && n > 2 * EDGE {
        (0..EDGE)
            .map(Some)
            .chain([None])
            .chain((n - EDGE..n).map(Some))
            .collect()
    } else {
        (0..n).map(Some).collect()
    }
}

fn write_block(
    out: &mut String,
    vals: &[Scalar],
    shape: &[usize],
    axis: usize,
    base: usize,
    summarise: bool,
    fmt: &ElementFormat,
) {
    if axis == shape.len() {
        out.push_str(&fmt.format(vals[base]));
        return;
    }
    let stride: usize = shape[axis + 1..].iter().product();
    let last_axis = axis + 1 == shape.len();
    out.push('[');
    let items = indices(shape[axis], summarise);
    for (k, item) in items.iter().enumerate() {
        if k > 0 {
            if last_axis {
                out.push(' ');
            } else {
                // Rows on new lines, a blank line between higher blocks, indented past '['.
                let blank = shape.len() - axis - 2;
                for _ in 0..=blank {
                    out.push('\n');
                }
                out.push_str(&" ".repeat(axis + 1));
            }
        }
        match item {
            Some(i) => write_block(
                out,
                vals,
                shape,
                axis + 1,
                base + i * stride,
                summarise,
                fmt,
            ),
            None => out.push_str("..."),
        }
    }
    out.push(']');
}

/// How every element of one array is printed: common width, fixed or scientific.
struct ElementFormat {
    dtype: DType,
    int_width: usize,
    frac_width: usize,
    scientific: Option<usize>,
    width: usize,
}

fn fixed_parts(v: f32) -> (String, String) {
    let mut s = format!("{v}");
    if let Some(dot) = s.find('.')
        && s.len() - dot - 1 > 8
    {
        s = format!("{v:.8}");
        while s.ends_with('0') {
            s.pop();
        }
    }
    match s.split_once('.') {
        Some((i, fr)) => (i.to_string(), fr.to_string()),
        None => (s, String::new()),
    }
}

/// Significant digits after the point that `v` needs in scientific notation (at most 8).
fn sci_digits(v: f32) -> usize {
    for d in 0..8 {
        let s = format!("{v:.d$e}");
        if s.parse::<f32>().ok() == Some(v) {
            return d;
        }
    }
    8
}

fn sci(v: f32, digits: usize) -> String {
    let s = format!("{v:.digits$e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    let m = if digits == 0 {
        format!("{m}.")
    } else {
        m.to_string()
    };
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

impl ElementFormat {
    fn new(vals: &[Scalar], dtype: DType) -> Self {
        let mut f = ElementFormat {
            dtype,
            int_width: 0,
            frac_width: 0,
            scientific: None,
            width: 0,
        };
        match dtype {
            DType::F32 => {
                let finite: Vec<f32> = vals
                    .iter()
                    .filter_map(|s| {
                        if let Scalar::F32(v) = s {
                            Some(*v)
                        } else {
                            None
                        }
                    })
                    .filter(|v| v.is_finite())
                    .collect();
                let max = finite.iter().fold(0f32, |a, v| a.max(v.abs()));
                let min = finite
                    .iter()
                    .filter(|v| **v != 0.0)
                    .fold(f32::INFINITY, |a, v| a.min(v.abs()));
                if max >= 1e8 || (min.is_finite() && (min < 1e-4 || max / min > 1e3)) {
                    let d = finite.iter().map(|&v| sci_digits(v)).max().unwrap_or(0);
                    f.scientific = Some(d);
                }
                for s in vals {
                    let Scalar::F32(v) = *s else { continue };
                    if !v.is_finite() {
                        f.width = f.width.max(format!("{v}").len());
                        continue;
                    }
                    match f.scientific {
                        Some(d) => f.width = f.width.max(sci(v, d).len()),
                        None => {
                            let (i, fr) = fixed_parts(v);
                            f.int_width = f.int_width.max(i.len());
                            f.frac_width = f.frac_width.max(fr.len());
                        }
                    }
                }
                if f.scientific.is_none() {
                    f.width = f.width.max(f.int_width + 1 + f.frac_width);
                }
            }
            _ => {
                f.width = vals
                    .iter()
                    .map(|s| Self::plain(*s).len())
                    .max()
                    .unwrap_or(0);
            }
        }
        f
    }

    fn plain(s: Scalar) -> String {
        match s {
            Scalar::Bool(b) => (if b { "True" } else { "False" }).to_string(),
            other => other.to_string(),
        }
    }

    fn format(&self, s: Scalar) -> String {
        let Scalar::F32(v) = s else {
            return format!("{:>w$}", Self::plain(s), w = self.width);
        };
        let _ = self.dtype;
        if !v.is_finite() {
            let t = if v.is_nan() {
                "nan".to_string()
            } else {
                format!("{v}")
            };
            return format!("{t:>w$}", w = self.width);
        }
        match self.scientific {
            Some(d) => format!("{:>w$}", sci(v, d), w = self.width),
            None => {
                let (i, fr) = fixed_parts(v);
                format!(
                    "{i:>iw$}.{fr:<fw$}",
                    iw = self.int_width,
                    fw = self.frac_width
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: &[f32], shape: &[usize]) -> String {
        let s: Vec<Scalar> = v.iter().map(|&x| Scalar::F32(x)).collect();
        format_array(&s, shape, DType::F32)
    }

    #[test]
    fn prints_like_numpy() {
        assert_eq!(f(&[1.0, 2.0, 3.0, 4.0], &[2, 2]), "[[1. 2.]\n [3. 4.]]");
        assert_eq!(f(&[1.5, 2.25], &[2]), "[1.5  2.25]");
        assert_eq!(f(&[3.0], &[]), "3.");
        assert_eq!(f(&[0.1, 0.2], &[2]), "[0.1 0.2]");
        assert_eq!(f(&[-1.0, 10.0], &[2]), "[-1. 10.]");
        assert_eq!(f(&[1e-5, 1.0], &[2]), "[1.e-05 1.e+00]");
        assert_eq!(
            f(&[1.0; 8], &[2, 2, 2]),
            "[[[1. 1.]\n  [1. 1.]]\n\n [[1. 1.]\n  [1. 1.]]]"
        );
        let ints: Vec<Scalar> = [1, -20, 3].iter().map(|&x| Scalar::I32(x)).collect();
        assert_eq!(format_array(&ints, &[3], DType::I32), "[  1 -20   3]");
        let big: Vec<f32> = (0..2000).map(|x| x as f32).collect();
        assert_eq!(
            f(&big, &[2000]),
            "[0.000e+00 1.000e+00 2.000e+00 ... 1.997e+03 1.998e+03 1.999e+03]"
        );
    }
}
