//! Gradients of the movement, gather-family and image ops, first and second order, against
//! central finite differences of float64 references written here, on every device.
//!
//! Every op here is linear, so each check differentiates `sum(u * op(x)^2)`: the gradient
//! `2 * A^T (u * op(x))` then depends on `x`, and the second order differentiates the
//! gradient rules themselves (a linear op's own second derivative is zero and would test
//! nothing).

mod common;

use common::gradcheck::Check;
use common::*;
use wgflow::ops::{self, PadMode, ResizeMethod};
use wgflow::{Result, Tensor, with_device};

/// A term reading no input: a constant `weight` (pad's border value).
const BIAS: usize = usize::MAX;

/// For each output element, the `(input, element, weight)` terms it sums.
type Terms = Vec<Vec<(usize, usize, f64)>>;

fn unravel(i: usize, shape: &[usize]) -> Vec<usize> {
    let st = strides(shape);
    (0..shape.len()).map(|d| (i / st[d]) % shape[d]).collect()
}

fn ravel(c: &[usize], shape: &[usize]) -> usize {
    c.iter().zip(strides(shape)).map(|(a, b)| a * b).sum()
}

/// The terms of every element of an output of `shape`, from its coordinates.
fn terms_of(shape: &[usize], f: impl Fn(&[usize]) -> Vec<(usize, usize, f64)>) -> Terms {
    (0..numel(shape)).map(|i| f(&unravel(i, shape))).collect()
}

/// A copy of element `ravel(c, shape)` of input `i`.
fn read(i: usize, c: &[usize], shape: &[usize]) -> Vec<(usize, usize, f64)> {
    vec![(i, ravel(c, shape), 1.0)]
}

fn random_inputs(rng: &mut Gen, shapes: &[Vec<usize>]) -> Vec<(Vec<f64>, Vec<usize>)> {
    shapes
        .iter()
        .map(|s| {
            let v = (0..numel(s)).map(|_| rng.uniform(-1.0, 1.0)).collect();
            (v, s.clone())
        })
        .collect()
}

/// Checks the gradients of `op(x)^2` against the reference `terms` (output `out` shape).
fn check(
    rng: &mut Gen,
    name: &str,
    shapes: Vec<Vec<usize>>,
    out: &[usize],
    terms: Terms,
    op: impl Fn(&[Tensor]) -> Result<Tensor>,
) {
    assert_eq!(terms.len(), numel(out), "{name}: reference size");
    let reference = |xs: &[Vec<f64>]| -> Vec<f64> {
        terms
            .iter()
            .map(|t| {
                let y: f64 = t
                    .iter()
                    .map(|&(i, e, w)| if i == BIAS { w } else { w * xs[i][e] })
                    .sum();
                y * y
            })
            .collect()
    };
    let squared = |xs: &[Tensor]| -> Result<Tensor> {
        let y = op(xs)?;
        assert_eq!(y.shape(), out, "{name}: output shape");
        ops::mul(&y, &y)
    };
    Check::new(name, random_inputs(rng, &shapes)).run(rng, &reference, &squared);
}

fn i32s(v: &[i32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape).unwrap()
}

/// On every device with a fresh generator.
fn each_device(seed: u64, f: impl Fn(&mut Gen)) {
    for dev in devices() {
        let mut rng = Gen::new(seed);
        with_device(&dev, || f(&mut rng));
    }
}

#[test]
fn reshape_transpose_broadcast_reverse_tile() {
    each_device(1, |rng| {
        // Transposes of every rank up to 4, the scalar included.
        for (s, perm) in [
            (vec![], vec![]),
            (vec![5], vec![0]),
            (vec![3, 4], vec![1, 0]),
            (vec![2, 3, 5], vec![2, 0, 1]),
            (vec![3, 1, 2, 3], vec![3, 1, 0, 2]),
        ] {
            let out: Vec<usize> = perm.iter().map(|&p| s[p]).collect();
            let terms = terms_of(&out, |c| {
                let mut ic = vec![0; s.len()];
                for (k, &p) in perm.iter().enumerate() {
                    ic[p] = c[k];
                }
                read(0, &ic, &s)
            });
            let name = format!("transpose {s:?} {perm:?}");
            check(rng, &name, vec![s.clone()], &out, terms, |x| {
                ops::transpose(&x[0], &perm)
            });
        }
        // Reshape, expand_dims, squeeze: the same elements.
        let s = vec![3, 1, 4];
        let same = terms_of(&[12], |c| vec![(0, c[0], 1.0)]);
        check(rng, "reshape", vec![s.clone()], &[12], same.clone(), |x| {
            ops::reshape(&x[0], &[-1])
        });
        check(
            rng,
            "squeeze",
            vec![s.clone()],
            &[3, 4],
            same.clone(),
            |x| ops::squeeze(&x[0], &[]),
        );
        check(rng, "expand_dims", vec![vec![12]], &[12, 1], same, |x| {
            ops::expand_dims(&x[0], -1)
        });
        check(
            rng,
            "reshape scalar",
            vec![vec![]],
            &[1, 1],
            vec![vec![(0, 0, 1.0)]],
            |x| ops::reshape(&x[0], &[1, 1]),
        );
        // Broadcasting sums the copies.
        let (s, out) = (vec![3, 1], vec![2, 3, 4]);
        let terms = terms_of(&out, |c| read(0, &[c[1], 0], &s));
        check(rng, "broadcast_to", vec![s], &out, terms, |x| {
            ops::broadcast_to(&x[0], &[2, 3, 4])
        });
        // Reverse, negative axes and the scalar.
        let s = vec![3, 2, 5];
        let terms = terms_of(&s, |c| read(0, &[2 - c[0], c[1], 4 - c[2]], &[3, 2, 5]));
        check(rng, "reverse", vec![s.clone()], &s, terms, |x| {
            ops::reverse(&x[0], &[0, -1])
        });
        check(
            rng,
            "reverse scalar",
            vec![vec![]],
            &[],
            vec![vec![(0, 0, 1.0)]],
            |x| ops::reverse(&x[0], &[]),
        );
        // Tile: multiples of 1, several and 0, and the scalar.
        for (s, m) in [
            (vec![3, 2], vec![2, 3]),
            (vec![2, 1, 3], vec![1, 4, 1]),
            (vec![2, 3], vec![0, 2]),
            (vec![], vec![]),
        ] {
            let out: Vec<usize> = s.iter().zip(&m).map(|(a, b)| a * b).collect();
            let terms = terms_of(&out, |c| {
                let ic: Vec<usize> = c.iter().zip(&s).map(|(a, b)| a % b).collect();
                read(0, &ic, &s)
            });
            let name = format!("tile {s:?} {m:?}");
            check(rng, &name, vec![s.clone()], &out, terms, |x| {
                ops::tile(&x[0], &m)
            });
        }
    });
}

#[test]
fn concat_stack_split_unstack() {
    each_device(2, |rng| {
        // Three parts, one empty along the axis; the axis counted from the end.
        let shapes = vec![vec![2, 3, 2], vec![2, 0, 2], vec![2, 4, 2]];
        let out = vec![2, 7, 2];
        let terms = terms_of(&out, |c| {
            if c[1] < 3 {
                read(0, c, &shapes[0])
            } else {
                read(2, &[c[0], c[1] - 3, c[2]], &shapes[2])
            }
        });
        check(rng, "concat", shapes.clone(), &out, terms, |x| {
            ops::concat(&[&x[0], &x[1], &x[2]], -2)
        });
        // The same tensor twice: both slabs add up.
        let terms = terms_of(&[6], |c| vec![(0, c[0] % 3, 1.0)]);
        check(rng, "concat repeated", vec![vec![3]], &[6], terms, |x| {
            ops::concat(&[&x[0], &x[0]], 0)
        });
        let terms = terms_of(&[3, 2, 2], |c| read(c[1], &[c[0], c[2]], &[3, 2]));
        check(
            rng,
            "stack",
            vec![vec![3, 2], vec![3, 2]],
            &[3, 2, 2],
            terms,
            |x| ops::stack(&[&x[0], &x[1]], 1),
        );
        // One piece of several: the others get zeros.
        let s = vec![2, 5];
        let terms = terms_of(&[2, 2], |c| read(0, &[c[0], c[1] + 3], &s));
        check(rng, "split", vec![s.clone()], &[2, 2], terms, |x| {
            Ok(ops::split(&x[0], &[1, 2, 2], 1)?.swap_remove(2))
        });
        let terms = terms_of(&[2], |c| read(0, &[c[0], 3], &s));
        check(rng, "unstack", vec![s.clone()], &[2], terms, |x| {
            Ok(ops::unstack(&x[0], -1)?.swap_remove(3))
        });
    });
}

/// NumPy's positions of `begin:end:stride` on an axis of `dim`.
fn positions(dim: usize, begin: Option<i64>, end: Option<i64>, stride: i64) -> Vec<usize> {
    let d = dim as i64;
    let norm = |v: i64| if v < 0 { v + d } else { v };
    let mut out = Vec::new();
    if stride > 0 {
        let (mut i, e) = (
            begin.map_or(0, |v| norm(v).clamp(0, d)),
            end.map_or(d, |v| norm(v).clamp(0, d)),
        );
        while i < e {
            out.push(i as usize);
            i += stride;
        }
    } else {
        let (mut i, e) = (
            begin.map_or(d - 1, |v| norm(v).clamp(-1, d - 1)),
            end.map_or(-1, |v| norm(v).clamp(-1, d - 1)),
        );
        while i > e {
            out.push(i as usize);
            i += stride;
        }
    }
    out
}

#[test]
fn slices_with_any_stride() {
    type Spec = (Vec<usize>, Vec<(Option<i64>, Option<i64>, i64)>);
    let cases: Vec<Spec> = vec![
        (vec![7], vec![(Some(1), Some(6), 2)]),
        (vec![7], vec![(None, None, -1)]),
        (vec![8], vec![(Some(-2), Some(0), -3)]),
        (
            vec![7, 6, 8],
            vec![(None, None, -2), (Some(1), Some(4), 1), (None, None, 3)],
        ),
        (vec![5, 4], vec![(Some(4), Some(0), -4), (Some(1), None, 2)]),
        (
            vec![3, 5],
            vec![(Some(1), Some(2), 1), (Some(-1), None, -1)],
        ),
        // Empty results: the gradient is all zeros.
        (vec![4, 3], vec![(Some(3), Some(1), 1), (None, None, 1)]),
        (vec![], vec![]),
    ];
    each_device(3, |rng| {
        for (s, spec) in &cases {
            let pos: Vec<Vec<usize>> = spec
                .iter()
                .enumerate()
                .map(|(d, &(b, e, st))| positions(s[d], b, e, st))
                .collect();
            let out: Vec<usize> = pos.iter().map(Vec::len).collect();
            let terms = terms_of(&out, |c| {
                let ic: Vec<usize> = (0..c.len()).map(|d| pos[d][c[d]]).collect();
                read(0, &ic, s)
            });
            let (b, e, st): (Vec<_>, Vec<_>, Vec<_>) = (
                spec.iter().map(|t| t.0).collect(),
                spec.iter().map(|t| t.1).collect(),
                spec.iter().map(|t| t.2).collect(),
            );
            let name = format!("strided_slice {s:?} {spec:?}");
            check(rng, &name, vec![s.clone()], &out, terms, |x| {
                ops::strided_slice(&x[0], &b, &e, &st)
            });
        }
        // slice, and the masks: x[1, ::-2, newaxis] of [3, 5].
        let s = vec![4, 5, 3];
        let terms = terms_of(&[2, 5, 2], |c| read(0, &[c[0] + 1, c[1], c[2] + 1], &s));
        check(rng, "slice", vec![s.clone()], &[2, 5, 2], terms, |x| {
            ops::slice(&x[0], &[1, 0, 1], &[2, -1, -1])
        });
        let s = vec![3, 5];
        let terms = terms_of(&[3, 1], |c| read(0, &[1, 4 - 2 * c[0]], &s));
        check(
            rng,
            "strided_slice masks",
            vec![s.clone()],
            &[3, 1],
            terms,
            |x| ops::strided_slice_masks(&x[0], &[1, 0, 0], &[2, 0, 0], &[1, -2, 1], 2, 2, 0, 4, 1),
        );
    });
}

#[test]
fn pads_fold_the_mirrored_border() {
    type Case = (Vec<usize>, Vec<[usize; 2]>, PadMode);
    let cases: Vec<Case> = vec![
        (vec![3, 4], vec![[1, 2], [0, 3]], PadMode::Constant(0.5)),
        (vec![0, 2], vec![[1, 1], [2, 0]], PadMode::Constant(0.0)),
        (vec![], vec![], PadMode::Reflect),
        (vec![4, 5], vec![[1, 2], [2, 1]], PadMode::Reflect),
        (
            vec![3, 2, 4],
            vec![[2, 2], [1, 0], [3, 3]],
            PadMode::Reflect,
        ),
        (vec![4, 3], vec![[1, 4], [3, 0]], PadMode::Symmetric),
        (
            vec![2, 3, 1],
            vec![[2, 1], [0, 3], [1, 1]],
            PadMode::Symmetric,
        ),
    ];
    each_device(4, |rng| {
        for (s, p, mode) in &cases {
            let out: Vec<usize> = (0..s.len()).map(|d| s[d] + p[d][0] + p[d][1]).collect();
            let terms = terms_of(&out, |c| {
                let mut ic = Vec::new();
                for d in 0..c.len() {
                    let (r, n) = (c[d] as i64 - p[d][0] as i64, s[d] as i64);
                    let r = match mode {
                        PadMode::Constant(_) if r < 0 || r >= n => return vec![],
                        PadMode::Constant(_) => r,
                        PadMode::Reflect if r < 0 => -r,
                        PadMode::Reflect if r >= n => 2 * (n - 1) - r,
                        PadMode::Symmetric if r < 0 => -r - 1,
                        PadMode::Symmetric if r >= n => 2 * n - 1 - r,
                        _ => r,
                    };
                    ic.push(r as usize);
                }
                read(0, &ic, s)
            });
            // The constant's value is part of the output (not of the gradient).
            let terms = match mode {
                PadMode::Constant(v) => terms
                    .into_iter()
                    .map(|t| if t.is_empty() { vec![(BIAS, 0, *v)] } else { t })
                    .collect(),
                _ => terms,
            };
            let name = format!("pad {s:?} {p:?} {mode:?}");
            check(rng, &name, vec![s.clone()], &out, terms, |x| {
                ops::pad(&x[0], p, *mode)
            });
        }
    });
}

/// `gather(params, indices, axis, batch_dims)` by coordinates.
fn gather_terms(
    ps: &[usize],
    is: &[usize],
    idx: &[i32],
    a: usize,
    b: usize,
) -> (Vec<usize>, Terms) {
    let ni = is.len() - b;
    let mut out = ps[..a].to_vec();
    out.extend(&is[b..]);
    out.extend(&ps[a + 1..]);
    let terms = terms_of(&out, |c| {
        let mut ic = c[..b].to_vec();
        ic.extend(&c[a..a + ni]);
        let mut pc = c[..a].to_vec();
        pc.push(idx[ravel(&ic, is)] as usize);
        pc.extend(&c[a + ni..]);
        read(0, &pc, ps)
    });
    (out, terms)
}

#[test]
fn gathers_scatter_their_gradient_back() {
    each_device(5, |rng| {
        // (params, indices shape, axis, batch_dims), duplicates likely.
        let cases: Vec<(Vec<usize>, Vec<usize>, i64, usize)> = vec![
            (vec![5, 3], vec![4, 2], 0, 0),
            (vec![3, 6, 2], vec![5], 1, 0),
            (vec![2, 3, 4], vec![3], -1, 0),
            (vec![4, 3], vec![], 0, 0),
            (vec![3, 2], vec![0], 0, 0),
            (vec![2, 5, 3], vec![2, 4], 1, 1),
            (vec![2, 3, 4, 2], vec![2, 3, 2], 3, 2),
            (vec![3, 2, 5], vec![3, 2], 2, 1),
        ];
        for (ps, is, axis, b) in &cases {
            let a = if *axis < 0 {
                ps.len() - 1
            } else {
                *axis as usize
            };
            let idx = rng.vec_i32(numel(is), 0, ps[a] as i32);
            let (out, terms) = gather_terms(ps, is, &idx, a, *b);
            let name = format!("gather {ps:?} {is:?} axis {axis} batch_dims {b}");
            check(rng, &name, vec![ps.clone()], &out, terms, |x| {
                ops::gather(&x[0], &i32s(&idx, is), *axis, *b as i64)
            });
        }
        // uint32 indices, and the embedding lookup built on gather.
        let (ps, is) = (vec![6, 2], vec![5]);
        let idx = rng.vec_i32(5, 0, 6);
        let (out, terms) = gather_terms(&ps, &is, &idx, 0, 0);
        let u: Vec<u32> = idx.iter().map(|&v| v as u32).collect();
        check(
            rng,
            "gather u32",
            vec![ps.clone()],
            &out,
            terms.clone(),
            |x| ops::gather(&x[0], &Tensor::from_slice(&u, &is)?, 0, 0),
        );
        check(rng, "embedding_lookup", vec![ps], &out, terms, |x| {
            ops::embedding_lookup(&x[0], &i32s(&idx, &is))
        });
    });
}

#[test]
fn gather_nd_and_scatter_nd() {
    each_device(6, |rng| {
        // (params, indices shape [.., k], batch_dims)
        let cases: Vec<(Vec<usize>, Vec<usize>, usize)> = vec![
            (vec![4, 5, 3], vec![6, 2], 0),
            (vec![3, 4], vec![2, 3, 2], 0),
            (vec![3, 4], vec![5, 1], 0),
            (vec![2, 4, 3], vec![2, 3, 1], 1),
            (vec![2, 3, 4, 2], vec![2, 3, 2], 1),
        ];
        for (ps, is, b) in &cases {
            let (ri, k) = (is.len(), is[is.len() - 1]);
            let idx: Vec<i32> = (0..numel(is))
                .map(|i| rng.vec_i32(1, 0, ps[b + i % k] as i32)[0])
                .collect();
            let mut out = is[..ri - 1].to_vec();
            out.extend(&ps[b + k..]);
            let terms = terms_of(&out, |c| {
                let mut pc = c[..*b].to_vec();
                for j in 0..k {
                    let mut ic = c[..ri - 1].to_vec();
                    ic.push(j);
                    pc.push(idx[ravel(&ic, is)] as usize);
                }
                pc.extend(&c[ri - 1..]);
                read(0, &pc, ps)
            });
            let name = format!("gather_nd {ps:?} {is:?} batch_dims {b}");
            check(rng, &name, vec![ps.clone()], &out, terms, |x| {
                ops::gather_nd(&x[0], &i32s(&idx, is), *b as i64)
            });
        }
        // scatter_nd of updates [5, 3] into [4, 3] rows, with duplicates.
        let (shape, is, us) = (vec![4, 3], vec![5, 1], vec![5, 3]);
        let idx = [2, 0, 2, 3, 0];
        let terms = terms_of(&shape, |c| {
            (0..5)
                .filter(|&m| idx[m] as usize == c[0])
                .map(|m| (0, ravel(&[m, c[1]], &us), 1.0))
                .collect()
        });
        check(rng, "scatter_nd", vec![us.clone()], &shape, terms, |x| {
            ops::scatter_nd(&i32s(&idx, &is), &x[0], &shape)
        });
    });
}

#[test]
fn segment_sums_drop_negative_ids() {
    each_device(7, |rng| {
        // (data, segment_ids and their shape, num_segments): rank-2 ids, negatives, empty
        // segments, no data.
        type Case = (Vec<usize>, Vec<i32>, Vec<usize>, usize);
        let cases: Vec<Case> = vec![
            (vec![6, 2], vec![1, -1, 3, 1, 0, -2], vec![6], 5),
            (vec![2, 3, 2], vec![0, 2, -1, 2, 2, 0], vec![2, 3], 3),
            (vec![4], vec![1, 1, 0, -1], vec![4], 2),
            (vec![0, 3], vec![], vec![0], 2),
        ];
        for (ds, ids, is, n) in &cases {
            let mut out = vec![*n];
            out.extend(&ds[is.len()..]);
            let inner: usize = numel(&ds[is.len()..]);
            let terms = terms_of(&out, |c| {
                let r = ravel(&c[1..], &out[1..]);
                (0..ids.len())
                    .filter(|&p| ids[p] == c[0] as i32)
                    .map(|p| (0, p * inner + r, 1.0))
                    .collect()
            });
            let name = format!("unsorted_segment_sum {ds:?} {ids:?}");
            check(rng, &name, vec![ds.clone()], &out, terms, |x| {
                ops::unsorted_segment_sum(&x[0], &i32s(ids, is), *n)
            });
        }
    });
}

/// TensorFlow's half-pixel sampling of an axis of `len` resized to `out`, in float32 as the
/// kernels compute it: per output index, the (source, weight) pairs.
fn sample(len: usize, out: usize, method: ResizeMethod) -> Vec<Vec<(usize, f64)>> {
    let scale = len as f32 / out as f32;
    (0..out)
        .map(|o| {
            let c = (o as f32 + 0.5) * scale;
            match method {
                ResizeMethod::Nearest => vec![((c.floor() as usize).min(len - 1), 1.0)],
                ResizeMethod::Bilinear => {
                    let p = c - 0.5;
                    let lo = p.floor().max(0.0) as usize;
                    let hi = (p.ceil() as usize).min(len - 1);
                    let l = (p - p.floor()) as f64;
                    vec![(lo, 1.0 - l), (hi, l)]
                }
            }
        })
        .collect()
}

/// Per pixel of an `[n, oh, ow, c]` resize of `[n, h, w, c]`: the weighted source pixels.
fn resize_terms(x: &[usize], size: [usize; 2], method: ResizeMethod) -> Terms {
    let (sy, sx) = (sample(x[1], size[0], method), sample(x[2], size[1], method));
    terms_of(&[x[0], size[0], size[1], x[3]], |c| {
        let mut t = Vec::new();
        for &(y, wy) in &sy[c[1]] {
            for &(xx, wx) in &sx[c[2]] {
                t.push((0, ravel(&[c[0], y, xx, c[3]], x), wy * wx));
            }
        }
        t
    })
}

#[test]
fn resizes_and_their_transposes() {
    let cases: Vec<(Vec<usize>, [usize; 2])> = vec![
        (vec![1, 5, 4, 2], [9, 7]),
        (vec![2, 7, 6, 1], [3, 4]),
        (vec![1, 3, 5, 2], [3, 5]),
        (vec![1, 1, 3, 1], [4, 1]),
    ];
    each_device(8, |rng| {
        for method in [ResizeMethod::Bilinear, ResizeMethod::Nearest] {
            for (s, size) in &cases {
                let out = vec![s[0], size[0], size[1], s[3]];
                let terms = resize_terms(s, *size, method);
                let name = format!("resize {s:?} to {size:?} {method:?}");
                check(rng, &name, vec![s.clone()], &out, terms.clone(), |x| {
                    ops::resize(&x[0], *size, method)
                });
                // The gradient op: the same terms transposed.
                let mut back: Terms = vec![Vec::new(); numel(s)];
                for (o, t) in terms.iter().enumerate() {
                    for &(_, e, w) in t {
                        back[e].push((0, o, w));
                    }
                }
                let name = format!("resize_grad {size:?} to {s:?} {method:?}");
                let hw = [s[1], s[2]];
                check(rng, &name, vec![out.clone()], s, back, |x| {
                    ops::resize_grad(&x[0], hw, method)
                });
            }
        }
        // A 3-D image.
        let terms = resize_terms(&[1, 3, 4, 2], [5, 2], ResizeMethod::Bilinear);
        check(
            rng,
            "resize 3-D",
            vec![vec![3, 4, 2]],
            &[5, 2, 2],
            terms,
            |x| ops::resize(&x[0], [5, 2], ResizeMethod::Bilinear),
        );
        // Flips and rotations (compositions of reverse and transpose).
        let s = vec![2, 3, 4, 1];
        let terms = terms_of(&s, |c| read(0, &[c[0], c[1], 3 - c[2], c[3]], &s));
        check(rng, "flip_left_right", vec![s.clone()], &s, terms, |x| {
            ops::flip_left_right(&x[0])
        });
        let terms = terms_of(&s, |c| read(0, &[c[0], 2 - c[1], c[2], c[3]], &s));
        check(rng, "flip_up_down", vec![s.clone()], &s, terms, |x| {
            ops::flip_up_down(&x[0])
        });
        let s = vec![3, 4, 2];
        // rot90 (counter-clockwise): out[i, j] = in[j, w - 1 - i].
        let terms = terms_of(&[4, 3, 2], |c| read(0, &[c[1], 3 - c[0], c[2]], &s));
        check(rng, "rot90", vec![s.clone()], &[4, 3, 2], terms, |x| {
            ops::rot90(&x[0], 1)
        });
        let terms = terms_of(&[4, 3, 2], |c| read(0, &[2 - c[1], c[0], c[2]], &s));
        check(rng, "rot90 k=3", vec![s.clone()], &[4, 3, 2], terms, |x| {
            ops::rot90(&x[0], -1)
        });
    });
}

#[test]
fn one_hot_is_a_constant() {
    for dev in devices() {
        with_device(&dev, || {
            let ids = i32s(&[2, 0, 1], &[3]);
            let x = Tensor::from_slice(&[1.0f32; 9], [3, 3]).unwrap();
            let tape = wgflow::GradientTape::new();
            tape.watch(&x);
            let oh = ops::one_hot(&ids, 3, 1.0, 0.0, -1).unwrap();
            let y = ops::reduce_sum(&ops::mul(&oh, &x).unwrap(), wgflow::Axes::All, false);
            let g = tape.gradient(&y.unwrap(), &[&x]).unwrap();
            let want = [0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0];
            assert_eq!(values(g[0].as_ref().unwrap()), want);
        });
    }
}

#[test]
fn resize_grad_rejects_bad_input() {
    for dev in devices() {
        with_device(&dev, resize_grad_errors);
    }
}

fn resize_grad_errors() {
    let dy = Tensor::from_slice(&[1.0f32; 12], [1, 2, 3, 2]).unwrap();
    let bilinear = ResizeMethod::Bilinear;
    assert!(
        ops::resize_grad(&dy, [0, 3], bilinear).is_err(),
        "no pixels to add to"
    );
    assert!(
        ops::resize_grad(&dy, [usize::MAX, 3], bilinear).is_err(),
        "huge size"
    );
    let flat = ops::reshape(&dy, &[12]).unwrap();
    assert!(
        ops::resize_grad(&flat, [2, 2], bilinear).is_err(),
        "not an image"
    );
    let ints = Tensor::from_slice(&[1i32; 12], [1, 2, 3, 2]).unwrap();
    assert!(
        ops::resize_grad(&ints, [2, 2], ResizeMethod::Nearest).is_err(),
        "float32 only"
    );
    // An empty gradient to an empty image is fine.
    let empty = Tensor::from_slice::<f32>(&[], [1, 0, 3, 2]).unwrap();
    let g = ops::resize_grad(&empty, [0, 5], bilinear).unwrap();
    assert_eq!(g.shape(), [1, 0, 5, 2]);
    let g = ops::resize_grad(&empty, [2, 2], bilinear).unwrap();
    assert_eq!(values(&g), vec![0.0; 8]);
}
