//! What only the wgpu backend has: 2-D dispatch grids past 65,535 workgroups, buffers larger
//! than the adapter allows, and queued work.

mod common;

use common::*;
use wgflow::{DType, Tensor, ops, with_device};

#[test]
fn grids_go_two_dimensional_past_65535_workgroups() {
    let Some(gpu) = gpu() else { return };
    with_device(&gpu, || {
        // An odd size keeps the one-point-per-thread kernel: 65,537 workgroups of 256.
        let n = 65_536 * 256 + 1;
        let x = ops::range(0i32, n as i32, 1).unwrap();
        let y = ops::add(&x, &Tensor::scalar(1i32).unwrap()).unwrap();
        let v = y.to_vec::<i32>().unwrap();
        assert_eq!(v.len(), n);
        for i in [
            0,
            1,
            255,
            256,
            65_535 * 256,
            65_535 * 256 + 255,
            65_536 * 256,
            n - 1,
        ] {
            assert_eq!(v[i], i as i32 + 1, "element {i}");
        }
    });
}

#[test]
fn buffers_past_the_adapter_limit_are_errors() {
    let Some(gpu) = gpu() else { return };
    let max = gpu
        .physical_device()
        .limits()
        .unwrap()
        .max_storage_buffer_binding_size;
    with_device(&gpu, || {
        let words = (max / 4 + 1024) as usize;
        let e = ops::zeros([words], DType::F32).unwrap_err().to_string();
        assert!(e.contains("largest storage buffer"), "{e}");
        // The device is fine afterwards.
        assert_eq!(
            ops::ones([3], DType::F32).unwrap().to_vec::<f32>().unwrap(),
            vec![1.0; 3]
        );
    });
}

#[test]
fn more_dispatches_than_a_batch_are_submitted_in_order() {
    let Some(gpu) = gpu() else { return };
    with_device(&gpu, || {
        let one = Tensor::scalar(1.0f32).unwrap();
        let mut y = Tensor::from_slice(&[0.0f32; 5], [5]).unwrap();
        for _ in 0..1000 {
            y = ops::add(&y, &one).unwrap();
        }
        assert_eq!(y.to_vec::<f32>().unwrap(), vec![1000.0; 5]);
        // Uploads between queued dispatches land in order even when buffers are reused.
        let mut acc = Tensor::from_slice(&[0.0f32; 64], [64]).unwrap();
        for i in 0..300 {
            let t = Tensor::from_slice(&vec![i as f32; 64], [64]).unwrap();
            acc = ops::add(&acc, &t).unwrap();
        }
        assert_eq!(
            acc.to_vec::<f32>().unwrap(),
            vec![(0..300).sum::<i32>() as f32; 64]
        );
    });
}
