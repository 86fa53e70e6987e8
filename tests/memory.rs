//! Memory pools with hard limits, and the work counters that fusion tests rely on.

mod common;

use common::*;
use wgflow::{DType, Device, Error, LogicalDeviceConfiguration, Tensor, ops, with_device};

fn limited(physical: &wgflow::PhysicalDevice, limit: u64) -> Device {
    Device::new(
        physical,
        LogicalDeviceConfiguration {
            memory_limit: Some(limit),
            ..Default::default()
        },
    )
    .unwrap()
}

/// Fills a device with a 64 MiB limit until the pool refuses, checks the error's numbers,
/// then frees everything and allocates again.
fn fill_until_exhausted(dev: &Device) {
    const MIB: u64 = 1 << 20;
    with_device(dev, || {
        let mut held = Vec::new();
        let err = loop {
            match ops::zeros([(MIB / 4) as usize], DType::F32) {
                Ok(t) => held.push(t),
                Err(e) => break e,
            }
            assert!(held.len() <= 64, "the limit was not enforced");
        };
        assert_eq!(held.len(), 64);
        match &err {
            Error::ResourceExhausted {
                device,
                requested,
                in_use,
                limit,
            } => {
                assert_eq!((*requested, *in_use, *limit), (MIB, 64 * MIB, 64 * MIB));
                assert_eq!(device, dev.name());
            }
            other => panic!("expected ResourceExhausted, got {other}"),
        }
        assert!(err.to_string().contains("memory limit"), "{err}");
        let info = dev.memory_info();
        assert_eq!(
            (info.current, info.peak, info.limit),
            (64 * MIB, 64 * MIB, Some(64 * MIB))
        );
        // The device still works: read a tensor back, then free everything.
        assert_eq!(held[3].to_vec::<f32>().unwrap()[0], 0.0);
        held.clear();
        assert_eq!(dev.memory_info().current, 0);
        let again: Vec<Tensor> = (0..32)
            .map(|_| ops::ones([(MIB / 2) as usize], DType::F32).unwrap())
            .collect();
        assert_eq!(again[31].to_vec::<f32>().unwrap()[0], 1.0);
        assert_eq!(dev.memory_info().current, 64 * MIB);
        drop(again);
        dev.reset_peak();
        assert_eq!(dev.memory_info().peak, 0);
    });
}

#[test]
fn memory_limit_is_enforced_and_recoverable_on_cpu() {
    let p = &wgflow::list_physical_devices()[0];
    fill_until_exhausted(&limited(p, 64 << 20));
}

#[test]
fn memory_limit_is_enforced_and_recoverable_on_wgpu() {
    if gpu().is_none() {
        return;
    }
    let p = &wgflow::list_physical_devices()[1];
    fill_until_exhausted(&limited(p, 64 << 20));
}

#[test]
fn cached_buffers_are_reused_and_released_under_pressure() {
    let dev = limited(&wgflow::list_physical_devices()[0], 4 << 20);
    with_device(&dev, || {
        let a = ops::zeros([1 << 18], DType::F32).unwrap(); // 1 MiB
        drop(a);
        let info = dev.memory_info();
        assert_eq!((info.current, info.cached), (0, 1 << 20));
        let _b = ops::zeros([1 << 18], DType::F32).unwrap();
        assert_eq!(dev.memory_info().cached, 0, "the cached buffer was reused");
        // A larger request than the cache leaves room for drops the cache first.
        drop(_b);
        let _c = ops::zeros([3 << 18], DType::F32).unwrap();
        assert_eq!(dev.memory_info().current, 3 << 20);
        assert!(ops::zeros([1 << 19], DType::F32).is_err());
    });
}

#[test]
fn dropped_outputs_return_their_memory() {
    with_device(&Device::cpu(), || {
        let before = Device::cpu().memory_info().current;
        let a = ops::zeros([1 << 16], DType::F32).unwrap();
        let b = ops::reduce_sum(&a, wgflow::Axes::All, true).unwrap();
        drop(b);
        assert_eq!(Device::cpu().memory_info().current - before, 1 << 18);
    });
}

#[test]
fn counters_count_dispatches_submissions_and_readbacks() {
    for dev in devices() {
        let fresh =
            Device::new(dev.physical_device(), LogicalDeviceConfiguration::default()).unwrap();
        with_device(&fresh, || {
            let x = ops::random_normal([1000], 0.0, 1.0, 1).unwrap(); // random + scale: 2 kernels
            let s0 = fresh.stats();
            assert_eq!((s0.dispatches, s0.readbacks), (2, 0));
            // The W2 chain: mul, add, tanh, mul, sub, sigmoid — six kernels, queued not waited.
            let y = wgflow::bench::w2_chain(&x).unwrap();
            let s1 = fresh.stats();
            assert_eq!(s1.dispatches - s0.dispatches, 6);
            assert_eq!(s1.readbacks, 0);
            if !fresh.is_cpu() {
                assert_eq!(
                    s1.submissions, 0,
                    "nothing is submitted before a value is read"
                );
            }
            y.to_vec::<f32>().unwrap();
            let s2 = fresh.stats();
            assert_eq!(s2.readbacks, 1);
            if !fresh.is_cpu() {
                assert_eq!(s2.submissions, 1, "one submission for the whole chain");
            }
        });
    }
}
