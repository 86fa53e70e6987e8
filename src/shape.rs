//! Shape arithmetic shared by every op: element counts, strides, NumPy broadcasting and
//! axis normalisation, each returning a clean error instead of panicking.

use crate::error::{Error, Result};

/// Number of elements of a shape (1 for a scalar).
pub fn num_elements(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major strides of a contiguous tensor, in elements.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// NumPy broadcasting of two shapes.
pub fn broadcast_shapes(op: &str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let mut out = vec![0; rank];
    for i in 0..rank {
        let da = if i + a.len() >= rank {
            a[i + a.len() - rank]
        } else {
            1
        };
        let db = if i + b.len() >= rank {
            b[i + b.len() - rank]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::shape(
                op,
                format!(
                    "shapes {} and {} are not broadcastable (dimension {} vs {})",
                    fmt_shape(a),
                    fmt_shape(b),
                    da,
                    db
                ),
            ));
        };
    }
    Ok(out)
}

/// Broadcast any number of shapes together.
pub fn broadcast_all(op: &str, shapes: &[&[usize]]) -> Result<Vec<usize>> {
    let mut out: Vec<usize> = Vec::new();
    for s in shapes {
        out = broadcast_shapes(op, &out, s)?;
    }
    Ok(out)
}

/// Turns a possibly negative axis into an index in `0..rank`.
pub fn normalize_axis(op: &str, axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r.max(0) {
        return Err(Error::invalid(
            op,
            format!(
                "axis {axis} is out of range for a tensor of rank {rank} (expected [-{rank}, {rank}))"
            ),
        ));
    }
    Ok(a as usize)
}

/// Normalises a list of axes, rejecting duplicates; returns them sorted.
pub fn normalize_axes(op: &str, axes: &[i64], rank: usize) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = normalize_axis(op, a, rank)?;
        if out.contains(&n) {
            return Err(Error::invalid(
                op,
                format!("axis {a} appears more than once in {axes:?}"),
            ));
        }
        out.push(n);
    }
    out.sort_unstable();
    Ok(out)
}

/// TensorFlow's shape spelling: `(2, 3)`, `(3,)`, `()`.
pub fn fmt_shape(shape: &[usize]) -> String {
    match shape.len() {
        0 => "()".into(),
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Which axes of `out` an input of shape `input` is broadcast along (size 1 or missing).
pub fn broadcast_axes(input: &[usize], out: &[usize]) -> Vec<usize> {
    let off = out.len() - input.len();
    (0..out.len())
        .filter(|&i| i < off || (input[i - off] == 1 && out[i] != 1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(
            broadcast_shapes("t", &[2, 1, 4], &[3, 1]).unwrap(),
            vec![2, 3, 4]
        );
        assert_eq!(broadcast_shapes("t", &[], &[3, 5]).unwrap(), vec![3, 5]);
        assert_eq!(broadcast_shapes("t", &[0, 1], &[1, 4]).unwrap(), vec![0, 4]);
        assert!(broadcast_shapes("t", &[2, 3], &[4, 3]).is_err());
    }

    #[test]
    fn axes_normalise_and_reject_out_of_range() {
        assert_eq!(normalize_axis("t", -1, 3).unwrap(), 2);
        assert!(normalize_axis("t", 3, 3).is_err());
        assert!(normalize_axis("t", 0, 0).is_err());
        assert!(normalize_axes("t", &[0, -3], 3).is_err());
        assert_eq!(fmt_shape(&[3]), "(3,)");
        assert_eq!(strides(&[2, 3, 4]), vec![12, 4, 1]);
    }
}
