//! Random ops on random (often invalid) shapes, dtypes and attributes: every call returns
//! `Ok` or a clean `Err`, never panics, and the devices keep working afterwards.

mod common;

use common::*;
use proptest::prelude::*;
use wgflow::{Axes, DType, Tensor, ops, with_device};

fn dtype(i: u8) -> DType {
    [DType::F32, DType::I32, DType::U32, DType::Bool][i as usize % 4]
}

fn tensor(shape: &[usize], dt: DType, seed: u64) -> Tensor {
    let mut g = Gen::new(seed);
    let n = numel(shape);
    match dt {
        DType::F32 => Tensor::from_slice(&g.vec_f32(n, -3.0, 3.0), shape),
        DType::I32 => Tensor::from_slice(&g.vec_i32(n, -5, 6), shape),
        DType::U32 => Tensor::from_slice(
            &g.vec_i32(n, 0, 6)
                .iter()
                .map(|&v| v as u32)
                .collect::<Vec<_>>(),
            shape,
        ),
        DType::Bool => Tensor::from_slice(
            &g.vec_i32(n, 0, 2)
                .iter()
                .map(|&v| v == 1)
                .collect::<Vec<_>>(),
            shape,
        ),
    }
    .unwrap()
}

/// Runs op number `which` on the inputs; the result may be an error, never a panic.
fn call(which: u8, a: &Tensor, b: &Tensor, c: &Tensor, axis: i64) -> wgflow::Result<Tensor> {
    let us = |v: &[usize]| v.iter().map(|&d| d % 4).collect::<Vec<usize>>();
    let shape_b: Vec<usize> = us(b.shape());
    let conv = ops::Conv2dOptions::new(
        1 + (axis.unsigned_abs() as usize % 2),
        if axis % 2 == 0 {
            ops::Padding::Same
        } else {
            ops::Padding::Valid
        },
    );
    let pool = ops::PoolOptions::new(
        1 + axis.unsigned_abs() as usize % 3,
        1 + (axis.unsigned_abs() as usize % 2),
        conv.padding,
    );
    match which % 50 {
        0 => ops::add(a, b),
        1 => ops::floor_mod(a, b),
        2 => ops::pow(a, b),
        3 => ops::exp(a),
        4 => ops::relu6(a),
        5 => ops::logical_and(a, b),
        6 => ops::where_(a, b, c),
        7 => ops::clip_by_value(a, b, c),
        8 => ops::cast(a, b.dtype()),
        9 => ops::reduce_sum(a, axis, axis % 2 == 0),
        10 => ops::reduce_max(a, Axes::List(vec![axis, -axis]), true),
        11 => ops::reduce_logsumexp(a, axis, false),
        12 => ops::argmax(a, axis),
        13 => ops::cumsum(a, axis, axis > 0, axis < 0),
        14 => ops::softmax(a, axis),
        15 => ops::matmul(a, b),
        16 => ops::matmul_t(a, b, axis % 2 == 0, axis % 3 == 0),
        17 => ops::bias_add(a, b),
        18 => ops::l2_normalize(a, axis, 1e-12),
        19 => ops::reduce_any(a, Axes::All, false),
        20 => ops::equal(a, b),
        21 => ops::squared_difference(a, b),
        22 => ops::sign(a),
        23 => ops::reduce_mean(a, axis, true),
        24 => ops::reshape(
            a,
            &b.shape().iter().map(|&d| d as i64 - 1).collect::<Vec<_>>(),
        ),
        25 => ops::transpose(a, &shape_b),
        26 => ops::broadcast_to(a, b.shape()),
        27 => ops::concat(&[a, b, c], axis),
        28 => ops::stack(&[a, b], axis),
        29 => ops::slice(a, &[axis, 0], &[1, -1]),
        30 => ops::strided_slice(
            a,
            &[Some(axis), None],
            &[None, Some(-axis)],
            &[1 + axis % 2, -1],
        ),
        31 => ops::pad(
            a,
            &[[1, 0], [0, 2]],
            if axis > 0 {
                ops::PadMode::Reflect
            } else {
                ops::PadMode::Symmetric
            },
        ),
        32 => ops::tile(a, &shape_b),
        33 => ops::reverse(a, &[axis]),
        34 => ops::gather(a, b, axis, 0),
        35 => ops::gather_nd(a, b, 0),
        36 => ops::scatter_nd(a, b, &shape_b),
        37 => ops::unsorted_segment_sum(a, b, axis.unsigned_abs() as usize),
        38 => ops::one_hot(a, axis.unsigned_abs() as usize, 1.0, 0.0, axis),
        39 => ops::split(a, &shape_b, axis).map(|v| v.into_iter().next().unwrap_or(c.clone())),
        40 => ops::resize(
            a,
            [shape_b.first().copied().unwrap_or(1), 2],
            ops::ResizeMethod::Bilinear,
        ),
        41 => ops::rot90(a, axis),
        42 => ops::conv2d(a, b, conv),
        43 => ops::conv2d_backprop_input(c.shape(), a, b, conv),
        44 => ops::conv2d_backprop_filter(a, c.shape(), b, conv),
        45 => ops::max_pool2d(a, pool),
        46 => ops::avg_pool2d_grad(b.shape(), a, pool),
        47 => ops::sparse_softmax_cross_entropy_with_logits(a, b),
        48 => ops::dropout(a, axis as f32 / 5.0, 1, None),
        _ => ops::squeeze(a, &[axis]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]
    #[test]
    fn random_calls_never_panic(
        which in any::<u8>(),
        sa in proptest::collection::vec(0usize..5, 0..5),
        sb in proptest::collection::vec(0usize..5, 0..4),
        sc in proptest::collection::vec(0usize..3, 0..3),
        da in any::<u8>(), db in any::<u8>(), dc in any::<u8>(),
        axis in -5i64..5,
        seed in any::<u64>(),
    ) {
        for dev in devices() {
            with_device(&dev, || {
                let (a, b, c) = (tensor(&sa, dtype(da), seed), tensor(&sb, dtype(db), seed ^ 1), tensor(&sc, dtype(dc), seed ^ 2));
                if let Ok(t) = call(which, &a, &b, &c, axis) {
                    // Results are readable, whatever they hold.
                    t.to_f64_vec().unwrap();
                }
            });
        }
    }
}

#[test]
fn devices_keep_working_after_errors() {
    for dev in devices() {
        with_device(&dev, || {
            let a = Tensor::from_slice(&[1.0f32, 2.0], [2]).unwrap();
            let b = Tensor::from_slice(&[1.0f32, 2.0, 3.0], [3]).unwrap();
            for _ in 0..10 {
                assert!(ops::matmul(&a, &b).is_err());
                assert!(ops::add(&a, &b).is_err());
            }
            assert_eq!(
                ops::add(&a, &a).unwrap().to_vec::<f32>().unwrap(),
                vec![2.0, 4.0]
            );
        });
    }
}
