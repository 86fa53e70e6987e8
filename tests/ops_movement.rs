//! Movement, gather-family and image ops against references written here with plain loops
//! over coordinates (f64 values), on every device: odd sizes, scalars, empty tensors,
//! negative axes, several dtypes, and bad input (a clean `Err`, never a panic).

mod common;

use common::*;
use proptest::prelude::*;
use wgflow::ops::{self, PadMode, ResizeMethod};
use wgflow::{Device, Error, Result, Tensor, with_device};

// ---- the reference: row-major f64 tensors built coordinate by coordinate ----

/// A reference tensor.
#[derive(Clone, Debug, PartialEq)]
struct R {
    shape: Vec<usize>,
    v: Vec<f64>,
}

/// Coordinates of linear index `i` in `shape`.
fn unravel(i: usize, shape: &[usize]) -> Vec<usize> {
    let st = strides(shape);
    (0..shape.len()).map(|d| (i / st[d]) % shape[d]).collect()
}

fn ravel(c: &[usize], shape: &[usize]) -> usize {
    c.iter().zip(strides(shape)).map(|(a, b)| a * b).sum()
}

impl R {
    fn new(shape: &[usize], v: Vec<f64>) -> R {
        assert_eq!(numel(shape), v.len());
        R {
            shape: shape.to_vec(),
            v,
        }
    }
    /// Output of `shape` whose element at `c` is `f(c)`.
    fn build(shape: &[usize], mut f: impl FnMut(&[usize]) -> f64) -> R {
        let v = (0..numel(shape)).map(|i| f(&unravel(i, shape))).collect();
        R::new(shape, v)
    }
    fn at(&self, c: &[usize]) -> f64 {
        self.v[ravel(c, &self.shape)]
    }
    fn rank(&self) -> usize {
        self.shape.len()
    }
}

fn rand_r(g: &mut Gen, shape: &[usize]) -> R {
    let v = g.vec_f32(numel(shape), -5.0, 5.0);
    R::new(shape, v.into_iter().map(f64::from).collect())
}

fn iota_r(shape: &[usize]) -> R {
    R::new(shape, (0..numel(shape)).map(|i| i as f64).collect())
}

fn tf(r: &R) -> Tensor {
    let v: Vec<f32> = r.v.iter().map(|&x| x as f32).collect();
    Tensor::from_slice(&v, &r.shape).unwrap()
}

fn ti(v: &[i32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape).unwrap()
}

/// `got` has the reference's shape and values (within `atol`).
fn check_tol(what: &str, got: &Tensor, want: &R, atol: f64) {
    assert_eq!(got.shape(), &want.shape[..], "{what}: shape");
    assert_close(what, &values(got), &want.v, atol, 0.0);
}

fn check(what: &str, got: Result<Tensor>, want: &R) {
    let got = got.unwrap_or_else(|e| panic!("{what}: {e}"));
    check_tol(what, &got, want, 0.0);
}

/// The call failed cleanly with a message naming each of `parts`.
fn fails(what: &str, r: Result<Tensor>, parts: &[&str]) {
    let e = r
        .err()
        .unwrap_or_else(|| panic!("{what}: expected an error"));
    let msg = e.to_string();
    for p in parts {
        assert!(msg.contains(p), "{what}: {msg:?} should mention {p:?}");
    }
}

fn transpose_ref(x: &R, perm: &[usize]) -> R {
    let out: Vec<usize> = perm.iter().map(|&p| x.shape[p]).collect();
    R::build(&out, |c| {
        let mut src = vec![0; x.rank()];
        for (k, &p) in perm.iter().enumerate() {
            src[p] = c[k];
        }
        x.at(&src)
    })
}

/// Elements `begin + i * step` along each axis, `size` of them.
fn window_ref(x: &R, begin: &[usize], step: &[i64], size: &[usize]) -> R {
    R::build(size, |c| {
        let src: Vec<usize> = (0..x.rank())
            .map(|d| (begin[d] as i64 + c[d] as i64 * step[d]) as usize)
            .collect();
        x.at(&src)
    })
}

/// Python's `range(*slice(b, e, s).indices(dim))`, written out as a list.
fn slice_indices(dim: usize, b: Option<i64>, e: Option<i64>, s: i64) -> Vec<usize> {
    let d = dim as i64;
    let fix = |v: i64, lo: i64, hi: i64| (if v < 0 { v + d } else { v }).clamp(lo, hi);
    let mut out = Vec::new();
    if s > 0 {
        let (mut i, e) = (b.map_or(0, |v| fix(v, 0, d)), e.map_or(d, |v| fix(v, 0, d)));
        while i < e {
            out.push(i as usize);
            i = i.saturating_add(s);
        }
    } else {
        let (mut i, e) = (
            b.map_or(d - 1, |v| fix(v, -1, d - 1)),
            e.map_or(-1, |v| fix(v, -1, d - 1)),
        );
        while i > e {
            out.push(i as usize);
            i = i.saturating_add(s);
        }
    }
    out
}

/// Picks `idx[d]` along every axis.
fn pick_ref(x: &R, idx: &[Vec<usize>]) -> R {
    let shape: Vec<usize> = idx.iter().map(Vec::len).collect();
    R::build(&shape, |c| {
        let src: Vec<usize> = (0..c.len()).map(|d| idx[d][c[d]]).collect();
        x.at(&src)
    })
}

/// Source index of each padded position along one axis (`None`: the constant), as NumPy
/// builds it: mirrored copies of the edges, with or without the edge element.
fn pad_indices(dim: usize, before: usize, after: usize, mode: PadMode) -> Vec<Option<usize>> {
    let mut v: Vec<Option<usize>> = match mode {
        PadMode::Constant(_) => vec![None; before],
        PadMode::Reflect => (1..=before).rev().map(Some).collect(),
        PadMode::Symmetric => (0..before).rev().map(Some).collect(),
    };
    v.extend((0..dim).map(Some));
    match mode {
        PadMode::Constant(_) => v.extend(vec![None; after]),
        PadMode::Reflect => v.extend((dim - 1 - after..dim - 1).rev().map(Some)),
        PadMode::Symmetric => v.extend((dim - after..dim).rev().map(Some)),
    }
    v
}

fn pad_ref(x: &R, paddings: &[[usize; 2]], mode: PadMode) -> R {
    let idx: Vec<Vec<Option<usize>>> = (0..x.rank())
        .map(|d| pad_indices(x.shape[d], paddings[d][0], paddings[d][1], mode))
        .collect();
    let shape: Vec<usize> = idx.iter().map(Vec::len).collect();
    R::build(&shape, |c| {
        let src: Option<Vec<usize>> = (0..c.len()).map(|d| idx[d][c[d]]).collect();
        match (src, mode) {
            (Some(s), _) => x.at(&s),
            (None, PadMode::Constant(v)) => v,
            (None, _) => unreachable!(),
        }
    })
}

fn concat_ref(xs: &[&R], axis: usize) -> R {
    let mut shape = xs[0].shape.clone();
    shape[axis] = xs.iter().map(|x| x.shape[axis]).sum();
    R::build(&shape, |c| {
        let mut c = c.to_vec();
        for x in xs {
            if c[axis] < x.shape[axis] {
                return x.at(&c);
            }
            c[axis] -= x.shape[axis];
        }
        unreachable!()
    })
}

/// `tf.gather(params, indices, axis, batch_dims)` with non-negative axis and batch_dims.
fn gather_ref(p: &R, idx: &[i32], ishape: &[usize], axis: usize, bd: usize) -> R {
    let ni = ishape.len() - bd;
    let mut shape = p.shape[..axis].to_vec();
    shape.extend(&ishape[bd..]);
    shape.extend(&p.shape[axis + 1..]);
    R::build(&shape, |c| {
        let mut ic = c[..bd].to_vec();
        ic.extend(&c[axis..axis + ni]);
        let mut src = c[..axis].to_vec();
        src.push(idx[ravel(&ic, ishape)] as usize);
        src.extend(&c[axis + ni..]);
        p.at(&src)
    })
}

fn gather_nd_ref(p: &R, idx: &[i32], ishape: &[usize], bd: usize) -> R {
    let (lead, k) = (ishape.len() - 1, ishape[ishape.len() - 1]);
    let mut shape = ishape[..lead].to_vec();
    shape.extend(&p.shape[bd + k..]);
    R::build(&shape, |c| {
        let mut src = c[..bd].to_vec();
        for j in 0..k {
            let mut ic = c[..lead].to_vec();
            ic.push(j);
            src.push(idx[ravel(&ic, ishape)] as usize);
        }
        src.extend(&c[lead..]);
        p.at(&src)
    })
}

fn scatter_nd_ref(idx: &[i32], ishape: &[usize], u: &R, shape: &[usize]) -> R {
    let (lead, k) = (ishape.len() - 1, ishape[ishape.len() - 1]);
    let mut out = R::new(shape, vec![0.0; numel(shape)]);
    for i in 0..u.v.len() {
        let c = unravel(i, &u.shape);
        let mut dst: Vec<usize> = (0..k)
            .map(|j| {
                let mut ic = c[..lead].to_vec();
                ic.push(j);
                idx[ravel(&ic, ishape)] as usize
            })
            .collect();
        dst.extend(&c[lead..]);
        out.v[ravel(&dst, shape)] += u.v[i];
    }
    out
}

fn segment_sum_ref(data: &R, ids: &[i32], srank: usize, n: usize) -> R {
    let mut shape = vec![n];
    shape.extend(&data.shape[srank..]);
    let mut out = R::new(&shape, vec![0.0; numel(&shape)]);
    for i in 0..data.v.len() {
        let c = unravel(i, &data.shape);
        let id = ids[ravel(&c[..srank], &data.shape[..srank])];
        if id >= 0 {
            let mut dst = vec![id as usize];
            dst.extend(&c[srank..]);
            out.v[ravel(&dst, &shape)] += data.v[i];
        }
    }
    out
}

fn one_hot_ref(idx: &[i32], ishape: &[usize], depth: usize, on: f64, off: f64, a: usize) -> R {
    let mut shape = ishape.to_vec();
    shape.insert(a, depth);
    R::build(&shape, |c| {
        let mut ic = c.to_vec();
        let k = ic.remove(a);
        if idx[ravel(&ic, ishape)] == k as i32 {
            on
        } else {
            off
        }
    })
}

/// `tf.image.rot90` on `[H, W, C]`: `k` quarter turns counter-clockwise.
fn rot90_ref(x: &R, k: i64) -> R {
    let (h, w) = (x.shape[0], x.shape[1]);
    let k = k.rem_euclid(4);
    let shape = if k % 2 == 1 {
        vec![w, h, x.shape[2]]
    } else {
        x.shape.clone()
    };
    R::build(&shape, |c| {
        let (i, j) = (c[0], c[1]);
        let (y, xx) = match k {
            0 => (i, j),
            1 => (j, w - 1 - i),
            2 => (h - 1 - i, w - 1 - j),
            _ => (h - 1 - j, i),
        };
        x.at(&[y, xx, c[2]])
    })
}

/// TF2 `tf.image.resize` on `[N, H, W, C]`: half-pixel centres; positions in f32 as
/// TensorFlow's kernels compute them, values in f64.
fn resize_ref(x: &R, size: [usize; 2], method: ResizeMethod) -> R {
    let (h, w) = (x.shape[1], x.shape[2]);
    let shape = [x.shape[0], size[0], size[1], x.shape[3]];
    let src = |o: usize, inn: usize, out: usize| (o as f32 + 0.5) * (inn as f32 / out as f32);
    R::build(&shape, |c| match method {
        ResizeMethod::Nearest => {
            let y = (src(c[1], h, size[0]).floor() as usize).min(h - 1);
            let xx = (src(c[2], w, size[1]).floor() as usize).min(w - 1);
            x.at(&[c[0], y, xx, c[3]])
        }
        ResizeMethod::Bilinear => {
            let lerp = |o: usize, inn: usize, out: usize| {
                let p = src(o, inn, out) - 0.5;
                let lo = (p.floor().max(0.0)) as usize;
                let hi = (p.ceil() as usize).min(inn - 1);
                (lo, hi, (p - p.floor()) as f64)
            };
            let (y0, y1, ly) = lerp(c[1], h, size[0]);
            let (x0, x1, lx) = lerp(c[2], w, size[1]);
            let v = |y: usize, xx: usize| x.at(&[c[0], y, xx, c[3]]);
            let top = v(y0, x0) + (v(y0, x1) - v(y0, x0)) * lx;
            let bottom = v(y1, x0) + (v(y1, x1) - v(y1, x0)) * lx;
            top + (bottom - top) * ly
        }
    })
}

fn on_devices(mut f: impl FnMut(&Device)) {
    for dev in devices() {
        with_device(&dev, || f(&dev));
    }
}

// ---- reshapes ----

#[test]
fn reshape_expand_squeeze_share_the_buffer() {
    on_devices(|_| {
        let x = iota_r(&[3, 4, 5]);
        let t = tf(&x);
        let y = ops::reshape(&t, &[6, -1]).unwrap();
        let y2 = t.reshape(&[-1]).unwrap();
        assert!(y.shares_buffer_with(&t) && y2.shares_buffer_with(&t));
        check("reshape", Ok(y), &R::new(&[6, 10], x.v.clone()));
        assert_eq!(y2.shape(), &[60]);
        assert_eq!(t.expand_dims(-1).unwrap().shape(), &[3, 4, 5, 1]);
        assert_eq!(t.expand_dims(0).unwrap().shape(), &[1, 3, 4, 5]);
        assert_eq!(ops::expand_dims(&t, -4).unwrap().shape(), &[1, 3, 4, 5]);
        fails(
            "expand_dims",
            ops::expand_dims(&t, 4),
            &["expand_dims", "4"],
        );
        let s = Tensor::from_slice(&[1.0f32, 2.0], [1, 2, 1]).unwrap();
        assert_eq!(s.squeeze(&[]).unwrap().shape(), &[2]);
        assert_eq!(ops::squeeze(&s, &[-1]).unwrap().shape(), &[1, 2]);
        assert_eq!(ops::squeeze(&s, &[0, 2]).unwrap().shape(), &[2]);
        fails(
            "squeeze",
            ops::squeeze(&s, &[1]),
            &["cannot squeeze axis 1"],
        );
        fails("squeeze", ops::squeeze(&s, &[0, 0]), &["squeeze"]);
        fails(
            "reshape",
            ops::reshape(&t, &[7, -1]),
            &["60 elements", "[7, -1]"],
        );
        fails("reshape", ops::reshape(&t, &[-1, -1]), &["at most one -1"]);
        fails("reshape", ops::reshape(&t, &[-2, 30]), &["reshape"]);
        fails("reshape", ops::reshape(&t, &[61]), &["reshape"]);
        // Scalars: to and from shape [1, 1].
        let sc = Tensor::scalar(2.5f32).unwrap();
        let one = ops::reshape(&sc, &[1, 1]).unwrap();
        assert_eq!(one.shape(), &[1, 1]);
        assert_eq!(
            ops::reshape(&one, &[]).unwrap().to_vec::<f32>().unwrap(),
            [2.5]
        );
        assert_eq!(sc.expand_dims(0).unwrap().shape(), &[1]);
        assert_eq!(ops::squeeze(&sc, &[]).unwrap().shape(), &[] as &[usize]);
        // Empty tensors; as TensorFlow, -1 cannot be inferred next to a 0.
        let e = Tensor::from_slice::<f32>(&[], [0, 4]).unwrap();
        assert_eq!(ops::reshape(&e, &[-1, 2]).unwrap().shape(), &[0, 2]);
        assert_eq!(ops::reshape(&e, &[4, 0, 3]).unwrap().shape(), &[4, 0, 3]);
        assert!(ops::reshape(&e, &[2, 0, -1]).is_err());
        // Other dtypes keep their bits.
        let b = Tensor::from_slice(&[true, false, true, true], [4]).unwrap();
        assert_eq!(
            ops::reshape(&b, &[2, 2]).unwrap().to_vec::<bool>().unwrap(),
            [true, false, true, true]
        );
    });
}

/// Kernels per op, counted on a fresh logical device (the shared ones count other tests').
#[test]
fn kernel_counts() {
    for dev in devices() {
        let fresh = Device::new(dev.physical_device(), Default::default()).unwrap();
        with_device(&fresh, || {
            let x = tf(&iota_r(&[3, 4, 5]));
            let parts: Vec<Tensor> = (0..40).map(|i| tf(&iota_r(&[i % 3, 2]))).collect();
            let idx = ti(&[0, 2, 0], &[3, 1]);
            let count = |f: &dyn Fn()| {
                let before = fresh.stats().dispatches;
                f();
                fresh.stats().dispatches - before
            };
            let reshapes = count(&|| {
                x.reshape(&[6, -1]).unwrap();
                x.expand_dims(1).unwrap().squeeze(&[]).unwrap();
            });
            assert_eq!(reshapes, 0, "reshapes share the buffer");
            // One kernel per non-empty input, however many there are.
            let n = count(&|| drop(ops::concat(&parts.iter().collect::<Vec<_>>(), 0).unwrap()));
            assert_eq!(n, 26);
            // Zero-fill, then the scatter into the same buffer.
            let n = count(&|| drop(ops::scatter_nd(&idx, &tf(&iota_r(&[3, 5])), &[4, 5]).unwrap()));
            assert_eq!(n, 2);
            assert_eq!(count(&|| drop(ops::transpose(&x, &[2, 0, 1]).unwrap())), 1);
            assert_eq!(
                count(&|| drop(ops::strided_slice(&x, &[Some(1)], &[None], &[-1]).unwrap())),
                1
            );
            assert_eq!(
                count(&|| drop(ops::pad(&x, &[[1, 1]; 3], PadMode::Reflect).unwrap())),
                1
            );
            assert_eq!(
                count(&|| drop(ops::resize(&x, [7, 9], ResizeMethod::Bilinear).unwrap())),
                1
            );
        });
    }
}

// ---- transpose and broadcast_to ----

#[test]
fn transpose_every_permutation_and_dtypes() {
    let x = rand_r(&mut Gen::new(1), &[2, 3, 5, 1]);
    let perms = [
        [0, 1, 2, 3],
        [3, 2, 1, 0],
        [2, 0, 3, 1],
        [1, 0, 2, 3],
        [0, 3, 1, 2],
    ];
    on_devices(|_| {
        let t = tf(&x);
        for perm in perms {
            let what = format!("transpose {perm:?}");
            check(&what, t.transpose(&perm), &transpose_ref(&x, &perm));
        }
        // A matrix whose sides are not multiples of a workgroup.
        let m = iota_r(&[37, 65]);
        check(
            "transpose 2d",
            ops::transpose(&tf(&m), &[1, 0]),
            &transpose_ref(&m, &[1, 0]),
        );
        let sc = Tensor::scalar(3.0f32).unwrap();
        assert_eq!(
            ops::transpose(&sc, &[]).unwrap().to_vec::<f32>().unwrap(),
            [3.0]
        );
        let e = Tensor::from_slice::<f32>(&[], [2, 0, 3]).unwrap();
        assert_eq!(ops::transpose(&e, &[2, 0, 1]).unwrap().shape(), &[3, 2, 0]);
        let i = ti(&[1, 2, 3, 4, 5, 6], &[2, 3]);
        let it = ops::transpose(&i, &[1, 0]).unwrap();
        assert_eq!(it.to_vec::<i32>().unwrap(), [1, 4, 2, 5, 3, 6]);
        fails(
            "dup",
            ops::transpose(&i, &[0, 0]),
            &["transpose", "[0, 0]", "not a permutation of 0..2"],
        );
        fails(
            "short",
            ops::transpose(&t, &[0, 1]),
            &["transpose", "[0, 1]"],
        );
        fails(
            "range",
            ops::transpose(&i, &[0, 2]),
            &["transpose", "[0, 2]"],
        );
    });
}

#[test]
fn broadcast_to_every_axis() {
    let mut g = Gen::new(2);
    let cases: [(&[usize], &[usize]); 6] = [
        (&[3, 1], &[2, 3, 4]),
        (&[1, 4], &[3, 4]),
        (&[], &[2, 3]),
        (&[5], &[1, 5]),
        (&[2, 1, 3], &[2, 7, 3]),
        (&[3], &[0, 3]),
    ];
    on_devices(|_| {
        for (from, to) in cases {
            let x = rand_r(&mut g, from);
            let want = R::build(to, |c| {
                let off = to.len() - from.len();
                let src: Vec<usize> = (0..from.len())
                    .map(|d| if from[d] == 1 { 0 } else { c[d + off] })
                    .collect();
                x.at(&src)
            });
            check(
                &format!("broadcast_to {from:?} -> {to:?}"),
                ops::broadcast_to(&tf(&x), to),
                &want,
            );
        }
        let t = tf(&iota_r(&[2, 3]));
        fails("rank", ops::broadcast_to(&t, &[3]), &["broadcast_to"]);
        fails(
            "dim",
            ops::broadcast_to(&t, &[2, 4]),
            &["broadcast_to", "(2, 3)"],
        );
        fails(
            "shrink",
            ops::broadcast_to(&tf(&iota_r(&[1, 3])), &[0, 1]),
            &["broadcast_to"],
        );
    });
}

// ---- concat, stack, split, unstack ----

#[test]
fn concat_any_number_of_inputs() {
    let mut g = Gen::new(3);
    let (a, b, c) = (
        rand_r(&mut g, &[2, 3, 5]),
        rand_r(&mut g, &[2, 1, 5]),
        rand_r(&mut g, &[2, 0, 5]),
    );
    on_devices(|_| {
        let (ta, tb, tc) = (tf(&a), tf(&b), tf(&c));
        check(
            "concat 1",
            ops::concat(&[&ta, &tc, &tb, &ta], 1),
            &concat_ref(&[&a, &c, &b, &a], 1),
        );
        check(
            "concat -2",
            ops::concat(&[&tb, &ta], -2),
            &concat_ref(&[&b, &a], 1),
        );
        check(
            "concat 0",
            ops::concat(&[&ta, &ta], 0),
            &concat_ref(&[&a, &a], 0),
        );
        check(
            "concat -1",
            ops::concat(&[&ta, &ta, &ta], -1),
            &concat_ref(&[&a, &a, &a], 2),
        );
        check("concat one", ops::concat(&[&ta], 0), &a);
        // Large enough that each input's region is written by several threads.
        let (big_a, big_b) = (
            rand_r(&mut Gen::new(4), &[37, 300, 7]),
            rand_r(&mut Gen::new(5), &[37, 41, 7]),
        );
        check(
            "concat large",
            ops::concat(&[&tf(&big_a), &tf(&big_b)], 1),
            &concat_ref(&[&big_a, &big_b], 1),
        );
        assert_eq!(ops::concat(&[&tc, &tc], 1).unwrap().shape(), &[2, 0, 5]);
        // Many inputs: one kernel each, writing its region (no binding limit).
        let many: Vec<Tensor> = (0..40)
            .map(|i| Tensor::from_slice(&[i as f32, -(i as f32)], [1, 2]).unwrap())
            .collect();
        let m = ops::concat(&many.iter().collect::<Vec<_>>(), 0).unwrap();
        let want: Vec<f64> = (0..40).flat_map(|i| [i as f64, -(i as f64)]).collect();
        check("concat 40", Ok(m), &R::new(&[40, 2], want));
        let i = ti(&[1, 2], &[2]);
        assert_eq!(
            ops::concat(&[&i, &i], 0).unwrap().to_vec::<i32>().unwrap(),
            [1, 2, 1, 2]
        );
        fails(
            "shapes",
            ops::concat(&[&ta, &tb], 0),
            &["concat", "(2, 1, 5)", "(2, 3, 5)"],
        );
        fails(
            "dtypes",
            ops::concat(&[&i, &tf(&iota_r(&[2]))], 0),
            &["concat"],
        );
        fails("ranks", ops::concat(&[&ta, &i], 0), &["concat"]);
        fails("axis", ops::concat(&[&ta, &ta], 3), &["concat", "axis 3"]);
        fails(
            "scalar",
            ops::concat(&[&Tensor::scalar(1.0f32).unwrap()], 0),
            &["concat"],
        );
        fails("none", ops::concat(&[], 0), &["concat"]);
    });
}

#[test]
fn stack_split_unstack() {
    let mut g = Gen::new(4);
    let (a, b) = (rand_r(&mut g, &[3, 2]), rand_r(&mut g, &[3, 2]));
    on_devices(|_| {
        let (ta, tb) = (tf(&a), tf(&b));
        let stacked = |axis: usize| {
            let mut shape = a.shape.clone();
            shape.insert(axis, 2);
            R::build(&shape, |c| {
                let mut c = c.to_vec();
                let k = c.remove(axis);
                [&a, &b][k].at(&c)
            })
        };
        check("stack 0", ops::stack(&[&ta, &tb], 0), &stacked(0));
        check("stack -1", ops::stack(&[&ta, &tb], -1), &stacked(2));
        check("stack 1", ops::stack(&[&ta, &tb], 1), &stacked(1));
        let (s1, s2) = (
            Tensor::scalar(1.0f32).unwrap(),
            Tensor::scalar(2.0f32).unwrap(),
        );
        check(
            "stack scalars",
            ops::stack(&[&s1, &s2], 0),
            &R::new(&[2], vec![1.0, 2.0]),
        );
        fails(
            "stack shapes",
            ops::stack(&[&ta, &s1], 0),
            &["stack", "(3, 2)"],
        );
        fails("stack axis", ops::stack(&[&ta, &tb], 3), &["stack"]);
        fails("stack none", ops::stack(&[], 0), &["stack"]);

        let x = rand_r(&mut g, &[4, 7]);
        let parts = ops::split(&tf(&x), &[2, 0, 5], -1).unwrap();
        let mut at = 0;
        for (p, n) in parts.iter().zip([2, 0, 5]) {
            let want = window_ref(&x, &[0, at], &[1, 1], &[4, n]);
            check_tol("split", p, &want, 0.0);
            at += n;
        }
        let halves = ops::split_even(&tf(&x), 2, 0).unwrap();
        check_tol(
            "split_even",
            &halves[1],
            &window_ref(&x, &[2, 0], &[1, 1], &[2, 7]),
            0.0,
        );
        assert!(ops::split(&tf(&x), &[3, 3], 1).is_err());
        assert!(ops::split(&tf(&x), &[usize::MAX, 8], 1).is_err());
        assert!(ops::split_even(&tf(&x), 3, 1).is_err());
        assert!(ops::split_even(&tf(&x), 0, 1).is_err());

        let u = ops::unstack(&tf(&x), -1).unwrap();
        assert_eq!(u.len(), 7);
        for (j, t) in u.iter().enumerate() {
            check_tol("unstack", t, &R::build(&[4], |c| x.at(&[c[0], j])), 0.0);
        }
        let e = Tensor::from_slice::<f32>(&[], [0, 3]).unwrap();
        assert!(ops::unstack(&e, 0).unwrap().is_empty());
        assert_eq!(ops::unstack(&e, 1).unwrap()[2].shape(), &[0]);
        assert!(ops::unstack(&Tensor::scalar(1.0f32).unwrap(), 0).is_err());
    });
}

// ---- slices ----

#[test]
fn slice_and_strided_slice() {
    let x = rand_r(&mut Gen::new(5), &[7, 6, 8]);
    type Spec = (Option<i64>, Option<i64>, i64);
    let specs: [[Spec; 3]; 9] = [
        [(None, None, -2), (Some(1), Some(4), 1), (None, None, 3)],
        [(Some(-2), Some(100), 1), (None, None, 1), (None, None, -1)],
        [(Some(5), Some(2), 1), (None, None, 1), (None, None, 1)],
        [
            (Some(5), Some(2), -1),
            (Some(-1), Some(-7), -2),
            (Some(7), Some(0), -3),
        ],
        [
            (Some(-100), Some(100), 3),
            (Some(100), None, -4),
            (Some(-3), Some(-1), 1),
        ],
        [
            (Some(6), None, 1),
            (Some(0), Some(0), 1),
            (None, Some(-100), -1),
        ],
        [
            (None, None, i64::MAX),
            (None, None, i64::MIN),
            (Some(i64::MIN), Some(i64::MAX), 1),
        ],
        [
            (Some(3), Some(4), 1),
            (Some(i64::MAX), Some(i64::MIN), -1),
            (None, Some(3), 2),
        ],
        [
            (Some(-8), Some(-7), 1),
            (Some(-6), None, 5),
            (Some(-9), Some(-10), -1),
        ],
    ];
    on_devices(|_| {
        let t = tf(&x);
        check(
            "slice",
            ops::slice(&t, &[1, 0, 2], &[2, -1, 3]),
            &window_ref(&x, &[1, 0, 2], &[1, 1, 1], &[2, 6, 3]),
        );
        check(
            "slice empty",
            ops::slice(&t, &[7, 0, 8], &[0, 2, -1]),
            &window_ref(&x, &[0, 0, 0], &[1, 1, 1], &[0, 2, 0]),
        );
        for spec in specs {
            let (b, e, s): (Vec<_>, Vec<_>, Vec<_>) = (
                spec.iter().map(|p| p.0).collect(),
                spec.iter().map(|p| p.1).collect(),
                spec.iter().map(|p| p.2).collect(),
            );
            let idx: Vec<Vec<usize>> = (0..3)
                .map(|d| slice_indices(x.shape[d], b[d], e[d], s[d]))
                .collect();
            check(
                &format!("strided_slice {spec:?}"),
                ops::strided_slice(&t, &b, &e, &s),
                &pick_ref(&x, &idx),
            );
        }
        // Fewer entries than axes: the rest are whole.
        let idx = vec![
            slice_indices(7, Some(1), None, 2),
            (0..6).collect(),
            (0..8).collect(),
        ];
        check(
            "partial",
            ops::strided_slice(&t, &[Some(1)], &[None], &[2]),
            &pick_ref(&x, &idx),
        );
        let sc = Tensor::scalar(4.0f32).unwrap();
        assert_eq!(
            ops::slice(&sc, &[], &[]).unwrap().to_vec::<f32>().unwrap(),
            [4.0]
        );
        assert_eq!(
            ops::strided_slice(&sc, &[], &[], &[]).unwrap().shape(),
            &[] as &[usize]
        );
        fails(
            "slice past",
            ops::slice(&t, &[0, 0, 6], &[1, 1, 3]),
            &["slice", "axis 2"],
        );
        fails(
            "slice neg",
            ops::slice(&t, &[-1, 0, 0], &[1, 1, 1]),
            &["slice"],
        );
        fails(
            "slice size",
            ops::slice(&t, &[0, 0, 0], &[1, 1, -2]),
            &["slice"],
        );
        fails("slice rank", ops::slice(&t, &[0], &[1]), &["slice"]);
        fails(
            "slice huge",
            ops::slice(&t, &[i64::MAX, 0, 0], &[1, 1, 1]),
            &["slice"],
        );
        fails(
            "slice huge size",
            ops::slice(&t, &[1, 0, 0], &[i64::MAX, 1, 1]),
            &["slice"],
        );
        fails(
            "stride 0",
            ops::strided_slice(&t, &[None], &[None], &[0]),
            &["non-zero"],
        );
        fails(
            "lengths",
            ops::strided_slice(&t, &[None], &[None, None], &[1]),
            &["strided_slice"],
        );
        fails(
            "too many",
            ops::strided_slice(&t, &[None; 4], &[None; 4], &[1; 4]),
            &["strided_slice"],
        );
    });
}

#[test]
fn strided_slice_with_tensorflow_masks() {
    let x = rand_r(&mut Gen::new(6), &[7, 6, 8]);
    let all = |d: usize| (0..d).collect::<Vec<usize>>();
    on_devices(|_| {
        let t = tf(&x);
        let run = |b: &[i64], e: &[i64], s: &[i64], masks: [u32; 5]| {
            let [bm, em, el, na, sh] = masks;
            ops::strided_slice_masks(&t, b, e, s, bm, em, el, na, sh)
        };
        // x[1, ..., tf.newaxis, ::2]
        let want = R::build(&[6, 1, 4], |c| x.at(&[1, c[0], 2 * c[2]]));
        check(
            "x[1, ..., newaxis, ::2]",
            run(
                &[1, 0, 0, 0],
                &[2, 0, 0, 0],
                &[1, 1, 1, 2],
                [0b1000, 0b1000, 0b10, 0b100, 0b1],
            ),
            &want,
        );
        // x[..., -1]
        let want = R::build(&[7, 6], |c| x.at(&[c[0], c[1], 7]));
        check(
            "x[..., -1]",
            run(&[0, -1], &[0, 0], &[1, 1], [0, 0, 0b1, 0, 0b10]),
            &want,
        );
        // x[tf.newaxis, -3:, :, 5:1:-2] (end given, begin masked on axis 1)
        let idx = [
            slice_indices(7, Some(-3), None, 1),
            all(6),
            slice_indices(8, Some(5), Some(1), -2),
        ];
        let want = pick_ref(&x, &idx);
        let want = R::new(&[1, want.shape[0], want.shape[1], want.shape[2]], want.v);
        check(
            "x[newaxis, -3:, :, 5:1:-2]",
            run(
                &[0, -3, 9, 5],
                &[0, 0, 9, 1],
                &[1, 1, 1, -2],
                [0b100, 0b110, 0, 0b1, 0],
            ),
            &want,
        );
        // x[2:] alone: trailing axes whole (an implicit ellipsis).
        let want = pick_ref(&x, &[slice_indices(7, Some(2), None, 1), all(6), all(8)]);
        check("x[2:]", run(&[2], &[0], &[1], [0, 0b1, 0, 0, 0]), &want);
        // Shrinking every axis gives a scalar; the shrink ignores begin_mask, as TensorFlow.
        let got = run(&[-1, 2, 3], &[0, 0, 0], &[1, 1, 1], [0b1, 0, 0, 0, 0b111]).unwrap();
        assert_eq!(
            (got.shape(), values(&got)),
            (&[] as &[usize], vec![x.at(&[6, 2, 3])])
        );
        // More than 32 spec entries: the bits past 31 are clear.
        let got = run(&[0; 35], &[1; 35], &[1; 35], [0, 0, 0, u32::MAX, 0]).unwrap();
        assert_eq!(got.shape(), &[1; 35]);
        fails(
            "shrink oob",
            run(&[9], &[0], &[1], [0, 0, 0, 0, 1]),
            &["out of bounds", "9"],
        );
        fails(
            "shrink stride",
            run(&[1], &[2], &[-1], [0, 0, 0, 0, 1]),
            &["strided_slice", "stride"],
        );
        fails(
            "two ellipses",
            run(&[0, 0], &[0, 0], &[1, 1], [0, 0, 0b11, 0, 0]),
            &["ellipsis"],
        );
        fails(
            "too many",
            run(&[0; 4], &[1; 4], &[1; 4], [0; 5]),
            &["strided_slice", "rank 3"],
        );
        fails(
            "ellipsis + too many",
            run(&[0; 5], &[1; 5], &[1; 5], [0, 0, 1, 0, 0]),
            &["strided_slice"],
        );
        fails(
            "lengths",
            run(&[0; 2], &[1; 3], &[1; 2], [0; 5]),
            &["strided_slice"],
        );
    });
}

// ---- pad, tile, reverse ----

#[test]
fn pad_every_mode() {
    let mut g = Gen::new(7);
    let x = rand_r(&mut g, &[3, 1, 5]);
    let cases: [[[usize; 2]; 3]; 3] = [
        [[1, 2], [0, 0], [4, 3]],
        [[2, 0], [0, 0], [0, 4]],
        [[0, 0], [0, 0], [0, 0]],
    ];
    on_devices(|_| {
        let t = tf(&x);
        for p in cases {
            for mode in [
                PadMode::Constant(0.0),
                PadMode::Constant(-2.5),
                PadMode::Reflect,
                PadMode::Symmetric,
            ] {
                check(
                    &format!("pad {p:?} {mode:?}"),
                    ops::pad(&t, &p, mode),
                    &pad_ref(&x, &p, mode),
                );
            }
        }
        // Symmetric may pad the whole dimension; constant any amount; size-1 axes.
        let p = [[3, 3], [1, 1], [5, 5]];
        check(
            "pad symmetric full",
            ops::pad(&t, &p, PadMode::Symmetric),
            &pad_ref(&x, &p, PadMode::Symmetric),
        );
        let p = [[0, 0], [2, 9], [0, 0]];
        check(
            "pad wide",
            ops::pad(&t, &p, PadMode::Constant(1.0)),
            &pad_ref(&x, &p, PadMode::Constant(1.0)),
        );
        let m = rand_r(&mut g, &[33, 70]);
        let p = [[1, 17], [32, 69]];
        check(
            "pad reflect big",
            ops::pad(&tf(&m), &p, PadMode::Reflect),
            &pad_ref(&m, &p, PadMode::Reflect),
        );
        let sc = Tensor::scalar(2.0f32).unwrap();
        assert_eq!(
            values(&ops::pad(&sc, &[], PadMode::Reflect).unwrap()),
            [2.0]
        );
        let e = Tensor::from_slice::<f32>(&[], [0]).unwrap();
        check(
            "pad empty",
            ops::pad(&e, &[[1, 2]], PadMode::Constant(7.0)),
            &R::new(&[3], vec![7.0; 3]),
        );
        let e2 = Tensor::from_slice::<f32>(&[], [2, 0]).unwrap();
        assert_eq!(
            ops::pad(&e2, &[[1, 1], [0, 0]], PadMode::Reflect)
                .unwrap()
                .shape(),
            &[4, 0]
        );
        let i = ti(&[1, 2, 3], &[3]);
        let got = ops::pad(&i, &[[2, 1]], PadMode::Constant(-4.0)).unwrap();
        assert_eq!(got.to_vec::<i32>().unwrap(), [-4, -4, 1, 2, 3, -4]);
        let got = ops::pad(&i, &[[2, 2]], PadMode::Reflect).unwrap();
        assert_eq!(got.to_vec::<i32>().unwrap(), [3, 2, 1, 2, 3, 2, 1]);
        fails(
            "reflect",
            ops::pad(&t, &[[0, 0], [0, 0], [5, 0]], PadMode::Reflect),
            &["pad", "axis 2", "Reflect"],
        );
        fails(
            "reflect size 1",
            ops::pad(&t, &[[0, 0], [1, 0], [0, 0]], PadMode::Reflect),
            &["pad"],
        );
        fails(
            "symmetric",
            ops::pad(&t, &[[0, 4], [0, 0], [0, 0]], PadMode::Symmetric),
            &["pad", "axis 0"],
        );
        fails(
            "rows",
            ops::pad(&t, &[[1, 1]], PadMode::Constant(0.0)),
            &["pad", "rank 3"],
        );
        fails(
            "huge",
            ops::pad(
                &t,
                &[[usize::MAX, 1], [0, 0], [0, 0]],
                PadMode::Constant(0.0),
            ),
            &["pad"],
        );
    });
}

#[test]
fn tile_and_reverse() {
    let mut g = Gen::new(8);
    let x = rand_r(&mut g, &[3, 1, 4]);
    on_devices(|_| {
        let t = tf(&x);
        for m in [[2, 3, 1], [1, 1, 1], [1, 5, 2], [0, 2, 1]] {
            let shape: Vec<usize> = (0..3).map(|d| x.shape[d] * m[d]).collect();
            let want = R::build(&shape, |c| {
                let src: Vec<usize> = (0..3).map(|d| c[d] % x.shape[d]).collect();
                x.at(&src)
            });
            check(&format!("tile {m:?}"), ops::tile(&t, &m), &want);
        }
        let b = Tensor::from_slice(&[true, false], [2]).unwrap();
        assert_eq!(
            ops::tile(&b, &[2]).unwrap().to_vec::<bool>().unwrap(),
            [true, false, true, false]
        );
        let sc = Tensor::scalar(1.5f32).unwrap();
        assert_eq!(values(&ops::tile(&sc, &[]).unwrap()), [1.5]);
        fails("tile len", ops::tile(&t, &[2, 2]), &["tile", "[2, 2]"]);
        fails("tile huge", ops::tile(&t, &[usize::MAX, 2, 1]), &["tile"]);
        fails("tile too big", ops::tile(&t, &[1 << 20, 1 << 20, 1]), &[]);

        for axes in [vec![], vec![0], vec![-1], vec![0, 2], vec![2, 1, 0]] {
            let norm: Vec<usize> = axes
                .iter()
                .map(|&a: &i64| a.rem_euclid(3) as usize)
                .collect();
            let want = R::build(&x.shape, |c| {
                let src: Vec<usize> = (0..3)
                    .map(|d| {
                        if norm.contains(&d) {
                            x.shape[d] - 1 - c[d]
                        } else {
                            c[d]
                        }
                    })
                    .collect();
                x.at(&src)
            });
            check(&format!("reverse {axes:?}"), ops::reverse(&t, &axes), &want);
        }
        let e = Tensor::from_slice::<f32>(&[], [0, 3]).unwrap();
        assert_eq!(ops::reverse(&e, &[0, 1]).unwrap().shape(), &[0, 3]);
        assert_eq!(values(&ops::reverse(&sc, &[]).unwrap()), [1.5]);
        fails(
            "reverse dup",
            ops::reverse(&t, &[0, -3]),
            &["reverse", "more than once"],
        );
        fails(
            "reverse axis",
            ops::reverse(&t, &[3]),
            &["reverse", "axis 3"],
        );
    });
}

// ---- the gather family ----

#[test]
fn gather_with_axes_and_batch_dims() {
    let mut g = Gen::new(9);
    let p = rand_r(&mut g, &[4, 3, 5]);
    on_devices(|_| {
        let tp = tf(&p);
        // (indices, shape, axis, batch_dims)
        let cases: Vec<(Vec<i32>, Vec<usize>, i64, i64)> = vec![
            (vec![3, 0, 3], vec![3], 0, 0),
            (vec![2, 1, 0, 0, 2, 2], vec![2, 3], 1, 0),
            (vec![4, 0], vec![1, 2], -1, 0),
            (vec![1], vec![], 0, 0),
            (vec![], vec![0], 1, 0),
            (vec![0, 2, 1, 1, 2, 0, 0, 0], vec![4, 2], 1, 1),
            (vec![0, 4, 1, 3, 2, 2, 4, 0], vec![4, 2], -1, -1),
            (vec![2, 1, 0, 1, 0, 0, 1, 2, 2, 0, 0, 2], vec![4, 3], 2, 2),
        ];
        for (idx, ishape, axis, bd) in cases {
            let a = axis.rem_euclid(3) as usize;
            let b = if bd < 0 { bd + ishape.len() as i64 } else { bd } as usize;
            let want = gather_ref(&p, &idx, &ishape, a, b);
            let what = format!("gather {idx:?} axis {axis} batch_dims {bd}");
            check(&what, ops::gather(&tp, &ti(&idx, &ishape), axis, bd), &want);
            let u: Vec<u32> = idx.iter().map(|&v| v as u32).collect();
            let tu = Tensor::from_slice(&u, &ishape).unwrap();
            check(
                &format!("{what} (uint32)"),
                ops::gather(&tp, &tu, axis, bd),
                &want,
            );
        }
        let e = Tensor::from_slice::<f32>(&[], [0, 3]).unwrap();
        assert_eq!(
            ops::gather(&e, &ti(&[], &[0]), 0, 0).unwrap().shape(),
            &[0, 3]
        );
        let ints = ti(&[7, 8, 9], &[3]);
        assert_eq!(
            ops::gather(&ints, &ti(&[2, 2, 0], &[3]), 0, 0)
                .unwrap()
                .to_vec::<i32>()
                .unwrap(),
            [9, 9, 7]
        );
        fails(
            "range",
            ops::gather(&tp, &ti(&[0, 4], &[2]), 0, 0),
            &["gather", "4", "[0, 4)"],
        );
        fails(
            "negative",
            ops::gather(&tp, &ti(&[-1], &[1]), 1, 0),
            &["gather", "-1", "[0, 3)"],
        );
        let big = Tensor::from_slice(&[u32::MAX], [1]).unwrap();
        fails(
            "u32",
            ops::gather(&tp, &big, 0, 0),
            &["gather", "4294967295"],
        );
        fails(
            "empty params",
            ops::gather(&e, &ti(&[0], &[1]), 0, 0),
            &["gather", "[0, 0)"],
        );
        fails(
            "float",
            ops::gather(&tp, &tf(&iota_r(&[1])), 0, 0),
            &["gather", "int32"],
        );
        fails(
            "axis",
            ops::gather(&tp, &ti(&[0], &[1]), 3, 0),
            &["gather", "axis 3"],
        );
        fails(
            "batch > axis",
            ops::gather(&tp, &ti(&[0; 4], &[4, 1]), 0, 1),
            &["gather", "batch_dims"],
        );
        fails(
            "batch shape",
            ops::gather(&tp, &ti(&[0; 3], &[3, 1]), 1, 1),
            &["gather", "(3, 1)"],
        );
        fails(
            "batch rank",
            ops::gather(&tp, &ti(&[0], &[1]), 1, 2),
            &["gather", "batch_dims 2"],
        );
        fails(
            "scalar params",
            ops::gather(&Tensor::scalar(1.0f32).unwrap(), &ti(&[0], &[1]), 0, 0),
            &["gather"],
        );
    });
}

#[test]
fn gather_nd_and_scatter_nd() {
    let mut g = Gen::new(10);
    let p = rand_r(&mut g, &[4, 5, 3]);
    on_devices(|_| {
        let tp = tf(&p);
        // (indices, shape, batch_dims)
        let cases: Vec<(Vec<i32>, Vec<usize>, i64)> = vec![
            (vec![1, 2, 3, 0, 0, 4], vec![3, 2], 0),
            (vec![3, 4, 2, 0, 0, 0], vec![2, 3], 0),
            (vec![2, 0], vec![2, 1], 0),
            (vec![1, 2], vec![2], 0),
            (vec![], vec![2, 0], 0),
            (vec![], vec![0, 2], 0),
            (vec![4, 0, 2, 1], vec![4, 1], 1),
            (vec![4, 2, 0, 0, 1, 1, 3, 2], vec![4, 1, 2], 1),
        ];
        for (idx, ishape, bd) in cases {
            let what = format!("gather_nd {idx:?} {ishape:?} batch_dims {bd}");
            let want = gather_nd_ref(&p, &idx, &ishape, bd as usize);
            check(&what, ops::gather_nd(&tp, &ti(&idx, &ishape), bd), &want);
        }
        fails(
            "range",
            ops::gather_nd(&tp, &ti(&[0, 5], &[1, 2]), 0),
            &["gather_nd", "[0, 5]", "[0, 5)"],
        );
        fails(
            "negative",
            ops::gather_nd(&tp, &ti(&[-1], &[1, 1]), 0),
            &["gather_nd", "-1"],
        );
        fails(
            "too deep",
            ops::gather_nd(&tp, &ti(&[0; 4], &[1, 4]), 0),
            &["gather_nd"],
        );
        fails(
            "scalar indices",
            ops::gather_nd(&tp, &ti(&[0], &[]), 0),
            &["gather_nd"],
        );
        fails(
            "batch",
            ops::gather_nd(&tp, &ti(&[0; 3], &[3, 1]), 1),
            &["gather_nd"],
        );
        fails(
            "batch neg",
            ops::gather_nd(&tp, &ti(&[0], &[1, 1]), -1),
            &["gather_nd"],
        );

        // (indices, index shape, output shape); duplicates add.
        let cases: Vec<(Vec<i32>, Vec<usize>, Vec<usize>)> = vec![
            (vec![1, 3, 1, 0, 1], vec![5, 1], vec![6]),
            (vec![1, 3, 1, 0, 1, 2], vec![3, 2], vec![2, 4, 3]),
            (vec![2, 2, 0], vec![3, 1], vec![3, 7]),
            (vec![0, 1, 0, 1], vec![2, 2, 1], vec![2, 2]),
            (vec![], vec![0, 2], vec![3, 3]),
        ];
        for (idx, ishape, shape) in cases {
            let mut ushape = ishape[..ishape.len() - 1].to_vec();
            ushape.extend(&shape[ishape[ishape.len() - 1]..]);
            let u = rand_r(&mut Gen::new(idx.len() as u64), &ushape);
            let what = format!("scatter_nd {idx:?} into {shape:?}");
            let got = ops::scatter_nd(&ti(&idx, &ishape), &tf(&u), &shape).unwrap();
            check_tol(
                &what,
                &got,
                &scatter_nd_ref(&idx, &ishape, &u, &shape),
                1e-6,
            );
        }
        let got = ops::scatter_nd(&ti(&[1, 3, 1], &[3, 1]), &ti(&[5, 6, 7], &[3]), &[4]).unwrap();
        assert_eq!(got.to_vec::<i32>().unwrap(), [0, 12, 0, 6]);
        let u = tf(&iota_r(&[3]));
        let idx = ti(&[1, 3, 1], &[3, 1]);
        fails(
            "range",
            ops::scatter_nd(&idx, &u, &[3]),
            &["scatter_nd", "[3]", "[0, 3)"],
        );
        fails(
            "negative",
            ops::scatter_nd(&ti(&[-2], &[1, 1]), &tf(&iota_r(&[1])), &[3]),
            &["scatter_nd", "-2"],
        );
        fails(
            "updates",
            ops::scatter_nd(&idx, &tf(&iota_r(&[2])), &[4]),
            &["scatter_nd", "(3,)", "(2,)"],
        );
        fails(
            "bool",
            ops::scatter_nd(&idx, &Tensor::from_slice(&[true; 3], [3]).unwrap(), &[4]),
            &["scatter_nd"],
        );
        fails(
            "float indices",
            ops::scatter_nd(&u, &u, &[4]),
            &["scatter_nd", "int32"],
        );
        fails(
            "huge",
            ops::scatter_nd(
                &ti(&[0], &[1, 1]),
                &Tensor::from_slice(&[1.0f32; 2], [1, 2]).unwrap(),
                &[usize::MAX, 2],
            ),
            &["scatter_nd"],
        );
    });
}

#[test]
fn unsorted_segment_sum_and_one_hot() {
    let mut g = Gen::new(11);
    let data = rand_r(&mut g, &[6, 2, 3]);
    on_devices(|_| {
        let td = tf(&data);
        let ids = [0, 2, 0, -1, 4, 2];
        check_tol(
            "segment 1-d ids",
            &ops::unsorted_segment_sum(&td, &ti(&ids, &[6]), 5).unwrap(),
            &segment_sum_ref(&data, &ids, 1, 5),
            1e-6,
        );
        let ids2 = [1, 0, -3, 1, 1, 2, 0, 0, 2, 2, 2, 1];
        let want = segment_sum_ref(&data, &ids2, 2, 3);
        check_tol(
            "segment 2-d ids",
            &ops::unsorted_segment_sum(&td, &ti(&ids2, &[6, 2]), 3).unwrap(),
            &want,
            1e-6,
        );
        let u: Vec<u32> = [1u32, 1, 0, 0, 1, 0].to_vec();
        let want = segment_sum_ref(&data, &[1, 1, 0, 0, 1, 0], 1, 2);
        check_tol(
            "segment u32",
            &ops::unsorted_segment_sum(&td, &Tensor::from_slice(&u, [6]).unwrap(), 2).unwrap(),
            &want,
            1e-6,
        );
        let empty = ops::unsorted_segment_sum(
            &Tensor::from_slice::<f32>(&[], [0, 2]).unwrap(),
            &ti(&[], &[0]),
            3,
        )
        .unwrap();
        assert_eq!(values(&empty), [0.0; 6]);
        assert_eq!(
            ops::unsorted_segment_sum(&td, &ti(&[-1; 6], &[6]), 0)
                .unwrap()
                .shape(),
            &[0, 2, 3]
        );
        fails(
            "too big",
            ops::unsorted_segment_sum(&td, &ti(&ids, &[6]), 4),
            &["unsorted_segment_sum", "4", "num_segments"],
        );
        fails(
            "prefix",
            ops::unsorted_segment_sum(&td, &ti(&[0; 2], &[2]), 4),
            &["unsorted_segment_sum", "(2,)"],
        );
        fails(
            "float ids",
            ops::unsorted_segment_sum(&td, &tf(&iota_r(&[6])), 4),
            &["unsorted_segment_sum"],
        );

        let idx = [0, 2, 5, -1, 1, 2];
        for (axis, a) in [(-1i64, 2usize), (0, 0), (1, 1), (2, 2)] {
            let want = one_hot_ref(&idx, &[2, 3], 4, 5.0, -1.0, a);
            check(
                &format!("one_hot axis {axis}"),
                ops::one_hot(&ti(&idx, &[2, 3]), 4, 5.0, -1.0, axis),
                &want,
            );
        }
        let u = Tensor::from_slice(&[3u32, 0, u32::MAX], [3]).unwrap();
        check(
            "one_hot u32",
            ops::one_hot(&u, 4, 1.0, 0.0, -1),
            &one_hot_ref(&[3, 0, -1], &[3], 4, 1.0, 0.0, 1),
        );
        check(
            "one_hot scalar",
            ops::one_hot(&ti(&[2], &[]), 3, 1.0, 0.0, -1),
            &R::new(&[3], vec![0.0, 0.0, 1.0]),
        );
        assert_eq!(
            ops::one_hot(&ti(&[], &[0]), 3, 1.0, 0.0, -1)
                .unwrap()
                .shape(),
            &[0, 3]
        );
        assert_eq!(
            ops::one_hot(&ti(&[1], &[1]), 0, 1.0, 0.0, 0)
                .unwrap()
                .shape(),
            &[0, 1]
        );
        fails(
            "one_hot axis",
            ops::one_hot(&ti(&idx, &[2, 3]), 4, 1.0, 0.0, 3),
            &["one_hot", "axis 3"],
        );
        fails(
            "one_hot dtype",
            ops::one_hot(&tf(&iota_r(&[2])), 4, 1.0, 0.0, -1),
            &["one_hot"],
        );
        fails(
            "one_hot huge",
            ops::one_hot(&ti(&idx, &[2, 3]), usize::MAX, 1.0, 0.0, -1),
            &["one_hot"],
        );
    });
}

#[test]
fn large_scatter_and_gather_agree_across_devices() {
    let mut g = Gen::new(30);
    let data = rand_r(&mut g, &[5000, 4]);
    let ids = g.vec_i32(5000, -3, 37);
    let want = segment_sum_ref(&data, &ids, 1, 37);
    on_devices(|dev| {
        let got = ops::unsorted_segment_sum(&tf(&data), &ti(&ids, &[5000]), 37).unwrap();
        // Atomic float adds on the GPU sum in any order.
        check_tol(&format!("segment sum on {dev}"), &got, &want, 1e-4);
        let gi: Vec<i32> = ids.iter().map(|&i| i.max(0) * 100).collect();
        let got = ops::gather(&tf(&data), &ti(&gi, &[50, 100]), 0, 0).unwrap();
        check_tol(
            "large gather",
            &got,
            &gather_ref(&data, &gi, &[50, 100], 0, 0),
            0.0,
        );
    });
}

// ---- image ops ----

#[test]
fn flips_and_rotations() {
    let mut g = Gen::new(12);
    let img = rand_r(&mut g, &[5, 7, 3]);
    let batch = rand_r(&mut g, &[2, 5, 7, 3]);
    on_devices(|_| {
        let t = tf(&img);
        let want = R::build(&img.shape, |c| img.at(&[c[0], 6 - c[1], c[2]]));
        check("flip_left_right", ops::flip_left_right(&t), &want);
        let want = R::build(&img.shape, |c| img.at(&[4 - c[0], c[1], c[2]]));
        check("flip_up_down", ops::flip_up_down(&t), &want);
        for k in -5..=5 {
            check(
                &format!("rot90 k={k}"),
                ops::rot90(&t, k),
                &rot90_ref(&img, k),
            );
            // Each image of a batch turns alone.
            let got = ops::rot90(&tf(&batch), k).unwrap();
            let n = numel(&batch.shape[1..]);
            for b in 0..2 {
                let one = R::new(&batch.shape[1..], batch.v[b * n..(b + 1) * n].to_vec());
                let out = ops::unstack(&got, 0).unwrap();
                check_tol(
                    &format!("rot90 batch k={k}"),
                    &out[b],
                    &rot90_ref(&one, k),
                    0.0,
                );
            }
        }
        let i = ti(&[1, 2, 3, 4], &[1, 4, 1]);
        assert_eq!(
            ops::flip_up_down(&ops::rot90(&i, 1).unwrap())
                .unwrap()
                .to_vec::<i32>()
                .unwrap(),
            [1, 2, 3, 4]
        );
        assert_eq!(
            ops::rot90(&tf(&iota_r(&[0, 3, 2])), 1).unwrap().shape(),
            &[3, 0, 2]
        );
        fails(
            "rank",
            ops::rot90(&tf(&iota_r(&[3, 2])), 1),
            &["rot90", "(3, 2)"],
        );
        fails(
            "rank",
            ops::flip_left_right(&tf(&iota_r(&[3]))),
            &["flip_left_right"],
        );
        fails(
            "rank",
            ops::flip_up_down(&tf(&iota_r(&[1, 1, 1, 1, 1]))),
            &["flip_up_down"],
        );
    });
}

#[test]
fn resize_bilinear_and_nearest() {
    let mut g = Gen::new(13);
    let img = rand_r(&mut g, &[2, 6, 5, 3]);
    let sizes = [[13, 9], [4, 3], [6, 5], [1, 1], [7, 2], [12, 10], [3, 17]];
    on_devices(|_| {
        let t = tf(&img);
        for size in sizes {
            for method in [ResizeMethod::Bilinear, ResizeMethod::Nearest] {
                let what = format!("resize {size:?} {method:?}");
                check_tol(
                    &what,
                    &ops::resize(&t, size, method).unwrap(),
                    &resize_ref(&img, size, method),
                    1e-5,
                );
            }
        }
        // [H, W, C] images; integer images: bilinear gives float32, nearest keeps the dtype.
        let sq = ti(&[1, 2, 3, 4], &[2, 2, 1]);
        let b = ops::resize(&sq, [3, 5], ResizeMethod::Bilinear).unwrap();
        let want = resize_ref(
            &R::new(&[1, 2, 2, 1], vec![1.0, 2.0, 3.0, 4.0]),
            [3, 5],
            ResizeMethod::Bilinear,
        );
        assert_eq!(
            (b.shape(), b.dtype()),
            (&[3usize, 5, 1][..], wgflow::DType::F32)
        );
        assert_close("resize int bilinear", &values(&b), &want.v, 1e-6, 0.0);
        let n = ops::resize(&sq, [4, 4], ResizeMethod::Nearest).unwrap();
        assert_eq!(
            n.to_vec::<i32>().unwrap(),
            [1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4]
        );
        // An empty batch, and an empty output.
        let e = Tensor::from_slice::<f32>(&[], [0, 4, 4, 2]).unwrap();
        assert_eq!(
            ops::resize(&e, [2, 3], ResizeMethod::Bilinear)
                .unwrap()
                .shape(),
            &[0, 2, 3, 2]
        );
        assert_eq!(
            ops::resize(&t, [0, 3], ResizeMethod::Nearest)
                .unwrap()
                .shape(),
            &[2, 0, 3, 3]
        );
        let one = Tensor::from_slice(&[1.0f32], [1]).unwrap();
        fails(
            "rank",
            ops::resize(&one, [2, 2], ResizeMethod::Nearest),
            &["resize", "(1,)"],
        );
        let flat = Tensor::from_slice::<f32>(&[], [0, 4, 1]).unwrap();
        fails(
            "empty image",
            ops::resize(&flat, [2, 2], ResizeMethod::Bilinear),
            &["resize", "empty"],
        );
        fails(
            "huge",
            ops::resize(&t, [usize::MAX, 3], ResizeMethod::Bilinear),
            &["resize"],
        );
        fails(
            "too big",
            ops::resize(&t, [1 << 20, 1 << 20], ResizeMethod::Nearest),
            &[],
        );
    });
}

// ---- huge arguments ----

#[test]
fn huge_arguments_are_errors_not_panics() {
    on_devices(|_| {
        let x = Tensor::from_slice(&[1.0f32, 2.0], [1, 2]).unwrap();
        let i = ti(&[0], &[1]);
        let calls: Vec<(&str, Result<Tensor>)> = vec![
            ("reshape", ops::reshape(&x, &[i64::MAX, 2])),
            ("reshape -1", ops::reshape(&x, &[i64::MAX, i64::MAX, -1])),
            ("broadcast_to", ops::broadcast_to(&x, &[usize::MAX, 4, 2])),
            (
                "broadcast_to empty",
                ops::broadcast_to(&x, &[usize::MAX, 3, 0, 2]),
            ),
            (
                "window",
                ops::strided_window(&x, &[0, 0], &[1, 0], &[1, usize::MAX]),
            ),
            (
                "window stride",
                ops::strided_window(&x, &[0, 0], &[1, i64::MAX], &[1, usize::MAX]),
            ),
            (
                "window begin",
                ops::strided_window(&x, &[usize::MAX, 0], &[1, 1], &[1, 1]),
            ),
            ("segments", ops::unsorted_segment_sum(&x, &i, usize::MAX)),
            ("gather axis", ops::gather(&x, &i, i64::MIN, 0)),
            ("gather batch", ops::gather(&x, &i, 0, i64::MIN)),
            (
                "gather_nd batch",
                ops::gather_nd(&x, &ti(&[0], &[1, 1]), i64::MAX),
            ),
            ("expand_dims", ops::expand_dims(&x, i64::MIN)),
            ("squeeze", ops::squeeze(&x, &[i64::MAX])),
            (
                "masks",
                ops::strided_slice_masks(&x, &[i64::MIN], &[0], &[1], 0, 0, 0, 0, 1),
            ),
        ];
        for (what, r) in calls {
            assert!(r.is_err(), "{what} should fail");
        }
        // Extreme bounds and strides clamp, as TensorFlow.
        let ok = ops::strided_slice(
            &x,
            &[Some(i64::MIN), Some(i64::MAX)],
            &[Some(i64::MIN), Some(i64::MIN)],
            &[1, -1],
        );
        assert_eq!(ok.unwrap().shape(), &[0, 2]);
        let ok =
            ops::strided_slice(&x, &[None, Some(1)], &[None, None], &[i64::MIN, i64::MIN]).unwrap();
        assert_eq!(values(&ok), [2.0]);
        assert_eq!(
            ops::rot90(&ops::reshape(&x, &[1, 2, 1]).unwrap(), i64::MIN)
                .unwrap()
                .shape(),
            &[1, 2, 1]
        );
        // The kinds of error.
        assert!(matches!(
            ops::gather(&x, &ti(&[5], &[1]), 1, 0),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(matches!(
            ops::gather(&x, &x, 1, 0),
            Err(Error::DType { .. })
        ));
        assert!(matches!(
            ops::concat(&[&x, &i], 0),
            Err(Error::Shape { .. })
        ));
    });
}

// ---- random shapes ----

fn shape_strategy(max_rank: usize) -> impl Strategy<Value = Vec<usize>> {
    proptest::collection::vec(0usize..6, 1..=max_rank)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn random_transposes_and_slices(shape in shape_strategy(4), seed in any::<u64>()) {
        let mut g = Gen::new(seed);
        let x = rand_r(&mut g, &shape);
        let rank = shape.len();
        // A random permutation (Fisher-Yates).
        let mut perm: Vec<usize> = (0..rank).collect();
        for i in (1..rank).rev() {
            perm.swap(i, g.next_u64() as usize % (i + 1));
        }
        let begin: Vec<usize> = shape.iter().map(|&d| g.next_u64() as usize % (d + 1)).collect();
        let size: Vec<usize> = (0..rank).map(|d| g.next_u64() as usize % (shape[d] - begin[d] + 1)).collect();
        let spec: Vec<(Option<i64>, Option<i64>, i64)> = (0..rank)
            .map(|_| {
                let mut bound = || (!g.next_u64().is_multiple_of(3)).then(|| (g.next_u64() % 15) as i64 - 7);
                let (b, e) = (bound(), bound());
                let s = [-3, -2, -1, 1, 2, 3][g.next_u64() as usize % 6];
                (b, e, s)
            })
            .collect();
        for dev in devices() {
            with_device(&dev, || {
                let t = tf(&x);
                check("transpose", t.transpose(&perm), &transpose_ref(&x, &perm));
                let b: Vec<i64> = begin.iter().map(|&v| v as i64).collect();
                let s: Vec<i64> = size.iter().map(|&v| v as i64).collect();
                check("slice", ops::slice(&t, &b, &s), &window_ref(&x, &begin, &vec![1; rank], &size));
                let (sb, se, ss): (Vec<_>, Vec<_>, Vec<_>) =
                    (spec.iter().map(|p| p.0).collect(), spec.iter().map(|p| p.1).collect(), spec.iter().map(|p| p.2).collect());
                let idx: Vec<Vec<usize>> = (0..rank).map(|d| slice_indices(shape[d], sb[d], se[d], ss[d])).collect();
                check(&format!("strided_slice {spec:?}"), ops::strided_slice(&t, &sb, &se, &ss), &pick_ref(&x, &idx));
            });
        }
    }

    #[test]
    fn random_gathers_and_concats(
        shape in shape_strategy(3),
        axis_pick in any::<u16>(),
        n_inputs in 1usize..5,
        seed in any::<u64>(),
    ) {
        let mut g = Gen::new(seed);
        let rank = shape.len();
        let axis = axis_pick as usize % rank;
        let p = rand_r(&mut g, &shape);
        let ishape = vec![g.next_u64() as usize % 3, 1 + g.next_u64() as usize % 3];
        let idx = if shape[axis] == 0 {
            vec![0; 0]
        } else {
            g.vec_i32(numel(&ishape), 0, shape[axis] as i32)
        };
        let ishape = if shape[axis] == 0 { vec![0] } else { ishape };
        let parts: Vec<R> = (0..n_inputs)
            .map(|_| {
                let mut s = shape.clone();
                s[axis] = g.next_u64() as usize % 4;
                rand_r(&mut g, &s)
            })
            .collect();
        let neg_axis = axis as i64 - rank as i64;
        for dev in devices() {
            with_device(&dev, || {
                let got = ops::gather(&tf(&p), &ti(&idx, &ishape), neg_axis, 0);
                check("gather", got, &gather_ref(&p, &idx, &ishape, axis, 0));
                let ts: Vec<Tensor> = parts.iter().map(tf).collect();
                let refs: Vec<&R> = parts.iter().collect();
                check("concat", ops::concat(&ts.iter().collect::<Vec<_>>(), neg_axis), &concat_ref(&refs, axis));
            });
        }
    }
}
