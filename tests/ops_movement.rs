//! Movement, gather-family and image ops against references written here with plain loops,
//! on every device: odd sizes, scalars, empty tensors, negative axes and bad input.

mod common;

use common::*;
use proptest::prelude::*;
use wgflow::{Tensor, ops, with_device};

/// Coordinates of linear index `i` in `shape`.
fn unravel(i: usize, shape: &[usize]) -> Vec<usize> {
    let st = strides(shape);
    (0..shape.len()).map(|d| (i / st[d]) % shape[d]).collect()
}

fn ravel(c: &[usize], shape: &[usize]) -> usize {
    let st = strides(shape);
    c.iter().zip(&st).map(|(a, b)| a * b).sum()
}

fn iota(n: usize) -> Vec<f32> {
    (0..n).map(|i| i as f32).collect()
}

#[test]
fn reshape_expand_squeeze_share_the_buffer() {
    for dev in devices() {
        with_device(&dev, || {
            let x = Tensor::from_slice(&iota(60), [3, 4, 5]).unwrap();
            let y = ops::reshape(&x, &[6, -1]).unwrap();
            assert_eq!(y.shape(), &[6, 10]);
            assert!(y.shares_buffer_with(&x), "reshape is zero-copy");
            assert_eq!(values(&y), values(&x));
            assert_eq!(ops::expand_dims(&x, -1).unwrap().shape(), &[3, 4, 5, 1]);
            assert_eq!(ops::expand_dims(&x, 0).unwrap().shape(), &[1, 3, 4, 5]);
            let s = Tensor::from_slice(&[1.0f32, 2.0], [1, 2, 1]).unwrap();
            assert_eq!(ops::squeeze(&s, &[]).unwrap().shape(), &[2]);
            assert_eq!(ops::squeeze(&s, &[-1]).unwrap().shape(), &[1, 2]);
            assert!(
                ops::squeeze(&s, &[1])
                    .unwrap_err()
                    .to_string()
                    .contains("cannot squeeze axis 1")
            );
            assert!(
                ops::reshape(&x, &[7, -1])
                    .unwrap_err()
                    .to_string()
                    .contains("60 elements")
            );
            assert_eq!(
                ops::reshape(&Tensor::scalar(2.0f32).unwrap(), &[1, 1])
                    .unwrap()
                    .shape(),
                &[1, 1]
            );
            let e = Tensor::from_slice::<f32>(&[], [0, 4]).unwrap();
            assert_eq!(ops::reshape(&e, &[-1, 2]).unwrap().shape(), &[0, 2]);
            // As TensorFlow: -1 cannot be inferred next to a 0.
            assert!(ops::reshape(&e, &[2, 0, -1]).is_err());
        });
    }
}

fn transpose_ref(x: &[f32], shape: &[usize], perm: &[usize]) -> Vec<f64> {
    let out: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    (0..x.len())
        .map(|i| {
            let c = unravel(i, &out);
            let mut src = vec![0; shape.len()];
            for (k, &p) in perm.iter().enumerate() {
                src[p] = c[k];
            }
            x[ravel(&src, shape)] as f64
        })
        .collect()
}

#[test]
fn transpose_and_broadcast_to() {
    for dev in devices() {
        with_device(&dev, || {
            let shape = [2, 3, 5, 1];
            let x = iota(30);
            let t = Tensor::from_slice(&x, shape).unwrap();
            for perm in [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 0, 2, 3]] {
                let y = ops::transpose(&t, &perm).unwrap();
                assert_close(
                    &format!("transpose {perm:?}"),
                    &values(&y),
                    &transpose_ref(&x, &shape, &perm),
                    0.0,
                    0.0,
                );
            }
            assert!(
                ops::transpose(&t, &[0, 0, 1, 2])
                    .unwrap_err()
                    .to_string()
                    .contains("not a permutation")
            );
            let b = ops::broadcast_to(
                &Tensor::from_slice(&[1.0f32, 2.0, 3.0], [3, 1]).unwrap(),
                &[2, 3, 4],
            )
            .unwrap();
            let want: Vec<f64> = (0..24).map(|i| ((i / 4) % 3 + 1) as f64).collect();
            assert_close("broadcast_to", &values(&b), &want, 0.0, 0.0);
            assert!(ops::broadcast_to(&t, &[2, 3]).is_err());
        });
    }
}

#[test]
fn concat_stack_split_unstack() {
    for dev in devices() {
        with_device(&dev, || {
            let a = Tensor::from_slice(&iota(6), [2, 3]).unwrap();
            let b = Tensor::from_slice(&[10.0f32, 11.0], [2, 1]).unwrap();
            let e = Tensor::from_slice::<f32>(&[], [2, 0]).unwrap();
            let c = ops::concat(&[&a, &e, &b], -1).unwrap();
            assert_eq!(c.shape(), &[2, 4]);
            assert_eq!(
                c.to_vec::<f32>().unwrap(),
                vec![0.0, 1.0, 2.0, 10.0, 3.0, 4.0, 5.0, 11.0]
            );
            let r = ops::concat(&[&a, &a], 0).unwrap();
            assert_eq!(r.to_vec::<f32>().unwrap(), [iota(6), iota(6)].concat());
            // Many inputs: one kernel each, no binding limit.
            let many: Vec<Tensor> = (0..40)
                .map(|i| Tensor::from_slice(&[i as f32], [1]).unwrap())
                .collect();
            assert_eq!(
                ops::concat(&many.iter().collect::<Vec<_>>(), 0)
                    .unwrap()
                    .to_vec::<f32>()
                    .unwrap(),
                iota(40)
            );
            assert!(
                ops::concat(&[&a, &b], 0)
                    .unwrap_err()
                    .to_string()
                    .contains("concat")
            );
            let s = ops::stack(&[&a, &a], 1).unwrap();
            assert_eq!(s.shape(), &[2, 2, 3]);
            assert_eq!(
                s.to_vec::<f32>().unwrap(),
                vec![0.0, 1.0, 2.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 3.0, 4.0, 5.0]
            );
            let parts = ops::split(&a, &[1, 2], 1).unwrap();
            assert_eq!(parts[1].to_vec::<f32>().unwrap(), vec![1.0, 2.0, 4.0, 5.0]);
            assert!(ops::split(&a, &[1, 1], 1).is_err());
            let u = ops::unstack(&a, 0).unwrap();
            assert_eq!(
                (u.len(), u[1].shape(), u[1].to_vec::<f32>().unwrap()),
                (2, &[3usize][..], vec![3.0, 4.0, 5.0])
            );
            let ints = Tensor::from_slice(&[1i32, 2], [2]).unwrap();
            assert_eq!(
                ops::stack(&[&ints, &ints], 0)
                    .unwrap()
                    .to_vec::<i32>()
                    .unwrap(),
                vec![1, 2, 1, 2]
            );
        });
    }
}

fn slice_ref(
    x: &[f32],
    shape: &[usize],
    begin: &[usize],
    step: &[i64],
    size: &[usize],
) -> Vec<f64> {
    (0..size.iter().product())
        .map(|i| {
            let c = unravel(i, size);
            let src: Vec<usize> = (0..shape.len())
                .map(|d| (begin[d] as i64 + c[d] as i64 * step[d]) as usize)
                .collect();
            x[ravel(&src, shape)] as f64
        })
        .collect()
}

#[test]
fn slices_and_strided_slices() {
    for dev in devices() {
        with_device(&dev, || {
            let shape = [7, 6, 8];
            let x = iota(336);
            let t = Tensor::from_slice(&x, shape).unwrap();
            let s = ops::slice(&t, &[1, 0, 2], &[2, -1, 3]).unwrap();
            assert_close(
                "slice",
                &values(&s),
                &slice_ref(&x, &shape, &[1, 0, 2], &[1, 1, 1], &[2, 6, 3]),
                0.0,
                0.0,
            );
            let ss = ops::strided_slice(
                &t,
                &[None, Some(1), None],
                &[None, Some(4), None],
                &[-2, 1, 3],
            )
            .unwrap();
            assert_eq!(ss.shape(), &[4, 3, 3]);
            assert_close(
                "strided_slice",
                &values(&ss),
                &slice_ref(&x, &shape, &[6, 1, 0], &[-2, 1, 3], &[4, 3, 3]),
                0.0,
                0.0,
            );
            // Negative bounds count from the end; out-of-range bounds clamp.
            let n = ops::strided_slice(&t, &[Some(-2)], &[Some(100)], &[1]).unwrap();
            assert_eq!(n.shape(), &[2, 6, 8]);
            let empty = ops::strided_slice(&t, &[Some(5)], &[Some(2)], &[1]).unwrap();
            assert_eq!(empty.shape(), &[0, 6, 8]);
            // x[1, ..., newaxis, ::2] with masks.
            let m = ops::strided_slice_masks(
                &t,
                &[1, 0, 0, 0],
                &[2, 0, 0, 0],
                &[1, 1, 1, 2],
                0b1000,
                0b1000,
                0b10,
                0b100,
                0b1,
            )
            .unwrap();
            assert_eq!(m.shape(), &[6, 1, 4]);
            let want: Vec<f64> = (0..6)
                .flat_map(|j| (0..4).map(move |k| (48 + j * 8 + 2 * k) as f64))
                .collect();
            assert_close("masks", &values(&m), &want, 0.0, 0.0);
            assert!(ops::slice(&t, &[0, 0, 6], &[1, 1, 3]).is_err());
            assert!(ops::strided_slice(&t, &[None], &[None], &[0]).is_err());
            assert!(
                ops::strided_slice_masks(&t, &[9], &[0], &[1], 0, 0, 0, 0, 1)
                    .unwrap_err()
                    .to_string()
                    .contains("out of bounds")
            );
        });
    }
}

#[test]
fn pad_tile_reverse() {
    for dev in devices() {
        with_device(&dev, || {
            let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [2, 3]).unwrap();
            let c = ops::pad(&x, &[[1, 0], [0, 2]], ops::PadMode::Constant(0.5)).unwrap();
            assert_eq!(
                c.to_vec::<f32>().unwrap(),
                vec![
                    0.5, 0.5, 0.5, 0.5, 0.5, 1.0, 2.0, 3.0, 0.5, 0.5, 4.0, 5.0, 6.0, 0.5, 0.5
                ]
            );
            let r = ops::pad(&x, &[[0, 0], [2, 2]], ops::PadMode::Reflect).unwrap();
            assert_eq!(
                r.to_vec::<f32>().unwrap()[..7],
                [3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0]
            );
            let s = ops::pad(&x, &[[0, 0], [2, 3]], ops::PadMode::Symmetric).unwrap();
            assert_eq!(
                s.to_vec::<f32>().unwrap()[..8],
                [2.0, 1.0, 1.0, 2.0, 3.0, 3.0, 2.0, 1.0]
            );
            assert!(ops::pad(&x, &[[0, 0], [3, 0]], ops::PadMode::Reflect).is_err());
            assert!(ops::pad(&x, &[[0, 0], [4, 0]], ops::PadMode::Symmetric).is_err());
            let e = Tensor::from_slice::<f32>(&[], [0]).unwrap();
            assert_eq!(
                ops::pad(&e, &[[1, 2]], ops::PadMode::Constant(7.0))
                    .unwrap()
                    .to_vec::<f32>()
                    .unwrap(),
                vec![7.0; 3]
            );
            let t = ops::tile(&x, &[2, 2]).unwrap();
            assert_eq!(t.shape(), &[4, 6]);
            assert_eq!(
                t.to_vec::<f32>().unwrap()[..12],
                [1.0, 2.0, 3.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 4.0, 5.0, 6.0]
            );
            let rv = ops::reverse(&x, &[0, -1]).unwrap();
            assert_eq!(
                rv.to_vec::<f32>().unwrap(),
                vec![6.0, 5.0, 4.0, 3.0, 2.0, 1.0]
            );
            let b = Tensor::from_slice(&[true, false], [2]).unwrap();
            assert_eq!(
                ops::tile(&b, &[2]).unwrap().to_vec::<bool>().unwrap(),
                vec![true, false, true, false]
            );
        });
    }
}

#[test]
fn gather_family_with_index_checks() {
    for dev in devices() {
        with_device(&dev, || {
            let p = Tensor::from_slice(&iota(12), [4, 3]).unwrap();
            let i = Tensor::from_slice(&[3i32, 0, 3], [3]).unwrap();
            assert_eq!(
                ops::gather(&p, &i, 0, 0).unwrap().to_vec::<f32>().unwrap(),
                vec![9.0, 10.0, 11.0, 0.0, 1.0, 2.0, 9.0, 10.0, 11.0]
            );
            let j = Tensor::from_slice(&[2u32, 1], [1, 2]).unwrap();
            let g1 = ops::gather(&p, &j, -1, 0).unwrap();
            assert_eq!(
                (g1.shape(), g1.to_vec::<f32>().unwrap()),
                (
                    &[4usize, 1, 2][..],
                    vec![2.0, 1.0, 5.0, 4.0, 8.0, 7.0, 11.0, 10.0]
                )
            );
            // batch_dims = 1: a different row of indices per batch.
            let bi = Tensor::from_slice(&[0i32, 2, 1, 1, 2, 0, 0, 0], [4, 2]).unwrap();
            let g2 = ops::gather(&p, &bi, 1, 1).unwrap();
            assert_eq!(
                g2.to_vec::<f32>().unwrap(),
                vec![0.0, 2.0, 4.0, 4.0, 8.0, 6.0, 9.0, 9.0]
            );
            let bad = Tensor::from_slice(&[4i32], [1]).unwrap();
            let e = ops::gather(&p, &bad, 0, 0).unwrap_err().to_string();
            assert!(
                e.contains("gather") && e.contains("4") && e.contains("[0, 4)"),
                "{e}"
            );
            assert!(ops::gather(&p, &Tensor::from_slice(&[-1i32], [1]).unwrap(), 0, 0).is_err());
            assert!(ops::gather(&p, &Tensor::from_slice(&[0.0f32], [1]).unwrap(), 0, 0).is_err());
            let nd = Tensor::from_slice(&[1i32, 2, 3, 0], [2, 2]).unwrap();
            assert_eq!(
                ops::gather_nd(&p, &nd, 0).unwrap().to_vec::<f32>().unwrap(),
                vec![5.0, 9.0]
            );
            let rows = Tensor::from_slice(&[2i32, 0], [2, 1]).unwrap();
            assert_eq!(ops::gather_nd(&p, &rows, 0).unwrap().shape(), &[2, 3]);
            assert!(
                ops::gather_nd(&p, &Tensor::from_slice(&[0i32, 3], [1, 2]).unwrap(), 0).is_err()
            );
            // Scatter: duplicates add.
            let si = Tensor::from_slice(&[1i32, 3, 1], [3, 1]).unwrap();
            let su = Tensor::from_slice(&[1.0f32, 2.0, 10.0], [3]).unwrap();
            assert_eq!(
                ops::scatter_nd(&si, &su, &[5])
                    .unwrap()
                    .to_vec::<f32>()
                    .unwrap(),
                vec![0.0, 11.0, 0.0, 2.0, 0.0]
            );
            assert!(ops::scatter_nd(&si, &su, &[3]).is_err());
            let ints = Tensor::from_slice(&[5i32, 6, 7], [3]).unwrap();
            assert_eq!(
                ops::scatter_nd(&si, &ints, &[4])
                    .unwrap()
                    .to_vec::<i32>()
                    .unwrap(),
                vec![0, 12, 0, 6]
            );
            let data = Tensor::from_slice(&iota(8), [4, 2]).unwrap();
            let seg = Tensor::from_slice(&[0i32, 2, 0, -1], [4]).unwrap();
            let us = ops::unsorted_segment_sum(&data, &seg, 3).unwrap();
            assert_eq!(
                us.to_vec::<f32>().unwrap(),
                vec![4.0, 6.0, 0.0, 0.0, 2.0, 3.0],
                "negative ids are dropped"
            );
            assert!(
                ops::unsorted_segment_sum(&data, &seg, 2)
                    .unwrap_err()
                    .to_string()
                    .contains("num_segments")
            );
            let oh = ops::one_hot(
                &Tensor::from_slice(&[0i32, 2, 5, -1], [4]).unwrap(),
                3,
                1.0,
                0.0,
                -1,
            )
            .unwrap();
            assert_eq!(
                oh.to_vec::<f32>().unwrap(),
                vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
            );
            let oh0 = ops::one_hot(
                &Tensor::from_slice(&[1i32, 0], [2]).unwrap(),
                2,
                5.0,
                -1.0,
                0,
            )
            .unwrap();
            assert_eq!(oh0.to_vec::<f32>().unwrap(), vec![-1.0, 5.0, 5.0, -1.0]);
        });
    }
}

#[test]
fn large_scatter_and_gather_agree_across_devices() {
    let Some(gpu) = gpu() else { return };
    let mut g = Gen::new(30);
    let data = g.vec_f32(5000 * 4, -1.0, 1.0);
    let ids = g.vec_i32(5000, 0, 37);
    let run = |dev: &wgflow::Device| {
        with_device(dev, || {
            let d = Tensor::from_slice(&data, [5000, 4]).unwrap();
            let s = Tensor::from_slice(&ids, [5000]).unwrap();
            values(&ops::unsorted_segment_sum(&d, &s, 37).unwrap())
        })
    };
    let mut want = vec![0.0f64; 37 * 4];
    for (r, &id) in ids.iter().enumerate() {
        for c in 0..4 {
            want[id as usize * 4 + c] += data[r * 4 + c] as f64;
        }
    }
    assert_close(
        "segment sum cpu",
        &run(&wgflow::Device::cpu()),
        &want,
        1e-4,
        1e-5,
    );
    assert_close(
        "segment sum gpu (atomic adds)",
        &run(&gpu),
        &want,
        1e-4,
        1e-5,
    );
}

#[test]
fn image_ops() {
    for dev in devices() {
        with_device(&dev, || {
            let img = Tensor::from_slice(&iota(12), [2, 3, 2]).unwrap(); // H=2, W=3, C=2
            let f = ops::flip_left_right(&img).unwrap();
            assert_eq!(
                f.to_vec::<f32>().unwrap(),
                vec![4.0, 5.0, 2.0, 3.0, 0.0, 1.0, 10.0, 11.0, 8.0, 9.0, 6.0, 7.0]
            );
            let u = ops::flip_up_down(&img).unwrap();
            assert_eq!(
                u.to_vec::<f32>().unwrap()[..6],
                [6.0, 7.0, 8.0, 9.0, 10.0, 11.0]
            );
            // rot90 k=1 turns the top-right pixel into the top-left one.
            let r = ops::rot90(&img, 1).unwrap();
            assert_eq!(r.shape(), &[3, 2, 2]);
            assert_eq!(r.to_vec::<f32>().unwrap()[..2], [4.0, 5.0]);
            let back = ops::rot90(&ops::rot90(&r, 2).unwrap(), 1).unwrap();
            assert_eq!(values(&back), values(&img), "four quarter turns");
            assert_eq!(
                values(&ops::rot90(&img, -1).unwrap()),
                values(&ops::rot90(&img, 3).unwrap())
            );
            // Upscaling a 2x2 image by 2 with half-pixel centres.
            let sq = Tensor::from_slice(&[0.0f32, 1.0, 2.0, 3.0], [2, 2, 1]).unwrap();
            let b = ops::resize(&sq, [4, 4], ops::ResizeMethod::Bilinear).unwrap();
            let v = b.to_vec::<f32>().unwrap();
            assert_eq!(v[..4], [0.0, 0.25, 0.75, 1.0]);
            assert_eq!(v[12..], [2.0, 2.25, 2.75, 3.0]);
            let n = ops::resize(&sq, [4, 4], ops::ResizeMethod::Nearest).unwrap();
            assert_eq!(n.to_vec::<f32>().unwrap()[..4], [0.0, 0.0, 1.0, 1.0]);
            let i = Tensor::from_slice(&[1i32, 2, 3, 4], [1, 2, 2, 1]).unwrap();
            assert_eq!(
                ops::resize(&i, [1, 1], ops::ResizeMethod::Bilinear)
                    .unwrap()
                    .to_vec::<f32>()
                    .unwrap(),
                vec![2.5]
            );
            assert!(
                ops::resize(
                    &Tensor::from_slice(&[1.0f32], [1]).unwrap(),
                    [2, 2],
                    ops::ResizeMethod::Nearest
                )
                .is_err()
            );
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn random_windows_transposes_and_gathers(
        shape in proptest::collection::vec(1usize..5, 1..4),
        seed in any::<u64>(),
    ) {
        let mut g = Gen::new(seed);
        let n = numel(&shape);
        let x = g.vec_f32(n, -1.0, 1.0);
        let rank = shape.len();
        let begin: Vec<usize> = shape.iter().map(|&d| (g.next_u64() as usize) % d).collect();
        let size: Vec<usize> = (0..rank).map(|d| 1 + (g.next_u64() as usize) % (shape[d] - begin[d])).collect();
        let mut perm: Vec<usize> = (0..rank).collect();
        perm.rotate_left((seed % rank as u64) as usize);
        let idx = g.vec_i32(5, 0, shape[0] as i32);
        for dev in devices() {
            with_device(&dev, || {
                let t = Tensor::from_slice(&x, &shape).unwrap();
                let b: Vec<i64> = begin.iter().map(|&v| v as i64).collect();
                let s: Vec<i64> = size.iter().map(|&v| v as i64).collect();
                let y = ops::slice(&t, &b, &s).unwrap();
                assert_close("slice", &values(&y), &slice_ref(&x, &shape, &begin, &vec![1; rank], &size), 0.0, 0.0);
                let tr = ops::transpose(&t, &perm).unwrap();
                assert_close("transpose", &values(&tr), &transpose_ref(&x, &shape, &perm), 0.0, 0.0);
                let gi = ops::gather(&t, &Tensor::from_slice(&idx, [5]).unwrap(), 0, 0).unwrap();
                let inner = n / shape[0];
                let want: Vec<f64> = idx.iter().flat_map(|&r| (0..inner).map(move |c| (r as usize * inner + c, c))).map(|(k, _)| x[k] as f64).collect();
                assert_close("gather", &values(&gi), &want, 0.0, 0.0);
            });
        }
    }
}
