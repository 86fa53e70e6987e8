//! Tensor construction, reading, printing, devices and the random generators.

mod common;

use common::*;
use wgflow::{DType, Device, Scalar, Tensor, ops, with_device};

#[test]
fn construct_and_read_back_every_dtype() {
    for dev in devices() {
        with_device(&dev, || {
            let f = Tensor::from_slice(&[1.5f32, -2.0], [2]).unwrap();
            assert_eq!(
                (f.shape(), f.dtype(), f.rank(), f.size()),
                (&[2usize][..], DType::F32, 1, 2)
            );
            assert_eq!(f.to_vec::<f32>().unwrap(), vec![1.5, -2.0]);
            assert_eq!(
                Tensor::from_slice(&[7i32], [1, 1])
                    .unwrap()
                    .to_vec::<i32>()
                    .unwrap(),
                vec![7]
            );
            assert_eq!(
                Tensor::from_slice(&[u32::MAX], [1])
                    .unwrap()
                    .to_scalar::<u32>()
                    .unwrap(),
                u32::MAX
            );
            assert_eq!(
                Tensor::from_slice(&[true, false], [2])
                    .unwrap()
                    .to_vec::<bool>()
                    .unwrap(),
                vec![true, false]
            );
            assert_eq!(
                Tensor::scalar(3.0f32).unwrap().to_scalar::<f32>().unwrap(),
                3.0
            );
            assert!(
                Tensor::from_slice(&[1.0f32; 5], [2, 3])
                    .unwrap_err()
                    .to_string()
                    .contains("do not fill shape (2, 3)")
            );
            assert!(Tensor::from_i64(&[1 << 40], [1]).is_err());
            assert_eq!(
                Tensor::from_i64(&[-5, 6], [2])
                    .unwrap()
                    .to_vec::<i32>()
                    .unwrap(),
                vec![-5, 6]
            );
            assert_eq!(
                Tensor::from_u8(&[255, 0], [2])
                    .unwrap()
                    .to_vec::<i32>()
                    .unwrap(),
                vec![255, 0]
            );
            assert!(
                f.to_scalar::<f32>().is_err(),
                "two elements are not a scalar"
            );
            let e = Tensor::from_slice::<f32>(&[], [0, 3]).unwrap();
            assert_eq!((e.size(), e.to_vec::<f32>().unwrap()), (0, vec![]));
        });
    }
}

#[test]
fn ndarray_round_trip() {
    let a = ndarray::Array::from_shape_vec((2, 3), vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
    for dev in devices() {
        with_device(&dev, || {
            let t = Tensor::from_ndarray(&a.t()).unwrap();
            assert_eq!(t.shape(), &[3, 2]);
            assert_eq!(
                t.to_vec::<f32>().unwrap(),
                vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0],
                "logical order of a view"
            );
            let back = t.to_ndarray::<f32>().unwrap();
            assert_eq!(back, a.t().into_dyn());
        });
    }
}

#[test]
fn async_reads_give_the_same_values() {
    for dev in devices() {
        with_device(&dev, || {
            let t = ops::range(0i32, 10, 3).unwrap();
            assert_eq!(
                pollster::block_on(t.to_vec_async::<i32>()).unwrap(),
                vec![0, 3, 6, 9]
            );
            assert_eq!(
                pollster::block_on(
                    ops::reduce_sum(&t, wgflow::Axes::All, false)
                        .unwrap()
                        .to_scalar_async::<i32>()
                )
                .unwrap(),
                18
            );
            assert_eq!(
                pollster::block_on(t.to_ndarray_async::<i32>())
                    .unwrap()
                    .shape(),
                &[4]
            );
        });
    }
}

#[test]
fn prints_like_tensorflow() {
    for dev in devices() {
        with_device(&dev, || {
            let t = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap();
            assert_eq!(
                t.to_string(),
                "tf.Tensor(\n[[1. 2.]\n [3. 4.]], shape=(2, 2), dtype=float32)"
            );
            assert_eq!(
                Tensor::scalar(3.0f32).unwrap().to_string(),
                "tf.Tensor(3., shape=(), dtype=float32)"
            );
            assert_eq!(
                Tensor::from_slice(&[1i32, 2, 3], [3]).unwrap().to_string(),
                "tf.Tensor([1 2 3], shape=(3,), dtype=int32)"
            );
            assert_eq!(
                Tensor::from_slice(&[true, false], [2]).unwrap().to_string(),
                "tf.Tensor([ True False], shape=(2,), dtype=bool)"
            );
            let big = ops::range(0.0f32, 2000.0, 1.0).unwrap().to_string();
            assert!(
                big.contains("...") && big.ends_with("shape=(2000,), dtype=float32)"),
                "{big}"
            );
        });
    }
}

#[test]
fn creation_ops() {
    for dev in devices() {
        with_device(&dev, || {
            assert_eq!(
                ops::zeros([2, 2], DType::I32)
                    .unwrap()
                    .to_vec::<i32>()
                    .unwrap(),
                vec![0; 4]
            );
            assert_eq!(
                ops::ones([3], DType::F32).unwrap().to_vec::<f32>().unwrap(),
                vec![1.0; 3]
            );
            assert_eq!(
                ops::fill([2], 7u32).unwrap().to_vec::<u32>().unwrap(),
                vec![7, 7]
            );
            assert_eq!(
                ops::fill([1], true).unwrap().to_vec::<bool>().unwrap(),
                vec![true]
            );
            assert_eq!(
                ops::eye(2, 3, DType::F32).unwrap().to_vec::<f32>().unwrap(),
                vec![1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
            );
            assert_eq!(
                ops::range(5i32, 0, -2).unwrap().to_vec::<i32>().unwrap(),
                vec![5, 3, 1]
            );
            assert_eq!(
                ops::range(0.0f32, 1.0, 0.25)
                    .unwrap()
                    .to_vec::<f32>()
                    .unwrap(),
                vec![0.0, 0.25, 0.5, 0.75]
            );
            assert!(ops::range(0i32, 5, 0).is_err());
            assert!(ops::range(0i32, 5.0f32, 1i32).is_err());
            let l = ops::linspace(1.0, 2.0, 5).unwrap().to_vec::<f32>().unwrap();
            assert_eq!(l, vec![1.0, 1.25, 1.5, 1.75, 2.0]);
            assert_eq!(
                ops::linspace(3.0, 4.0, 1).unwrap().to_vec::<f32>().unwrap(),
                vec![3.0]
            );
            assert_eq!(
                ops::zeros_like(&ops::eye(2, 2, DType::F32).unwrap())
                    .unwrap()
                    .shape(),
                &[2, 2]
            );
        });
    }
}

#[test]
fn philox_gives_the_same_bits_on_every_backend() {
    let want: Vec<u32> = (0..1031)
        .map(|i| wgflow::kernel::philox::word(wgflow::kernel::philox::key_from_seed(42), i, 0))
        .collect();
    for dev in devices() {
        with_device(&dev, || {
            assert_eq!(
                ops::random_bits([1031], 42)
                    .unwrap()
                    .to_vec::<u32>()
                    .unwrap(),
                want,
                "{dev}"
            );
            let u = ops::random_uniform([1031], 0.0, 1.0, 42)
                .unwrap()
                .to_vec::<f32>()
                .unwrap();
            let exact: Vec<f32> = want
                .iter()
                .map(|&w| wgflow::kernel::philox::uniform_from_bits(w))
                .collect();
            assert_eq!(u, exact, "uniform floats are bit-exact on {dev}");
        });
    }
    // Normals use transcendental functions, which differ by a few ulp between backends.
    if let Some(gpu) = gpu() {
        let n = |d: &Device| {
            with_device(d, || {
                values(&ops::random_normal([4001], 0.0, 1.0, 7).unwrap())
            })
        };
        assert_close(
            "normal gpu vs cpu",
            &n(&gpu),
            &n(&Device::cpu()),
            1e-5,
            1e-5,
        );
    }
}

#[test]
fn random_distributions_have_their_moments() {
    for dev in devices() {
        with_device(&dev, || {
            let n = 200_000;
            let stats = |v: Vec<f64>| {
                let m = v.iter().sum::<f64>() / v.len() as f64;
                let s = (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt();
                let (lo, hi) = v
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
                (m, s, lo, hi)
            };
            let (m, s, lo, hi) = stats(values(&ops::random_uniform([n], -1.0, 3.0, 1).unwrap()));
            assert!(
                (m - 1.0).abs() < 0.02
                    && (s - 4.0 / 12f64.sqrt()).abs() < 0.02
                    && lo >= -1.0
                    && hi < 3.0,
                "{m} {s} {lo} {hi}"
            );
            let (m, s, ..) = stats(values(&ops::random_normal([n], 2.0, 0.5, 2).unwrap()));
            assert!(
                (m - 2.0).abs() < 0.01 && (s - 0.5).abs() < 0.01,
                "normal {m} {s}"
            );
            let (m, s, lo, hi) = stats(values(&ops::truncated_normal([n], 0.0, 1.0, 3).unwrap()));
            // A standard normal truncated at ±2 has standard deviation 0.8796.
            assert!(
                m.abs() < 0.01 && (s - 0.8796).abs() < 0.01 && lo >= -2.0 && hi <= 2.0,
                "truncated {m} {s} {lo} {hi}"
            );
            let ints = ops::random_uniform_int([n], -3, 4, 4)
                .unwrap()
                .to_vec::<i32>()
                .unwrap();
            assert!(ints.iter().all(|&v| (-3..4).contains(&v)));
            assert!((-3..4).all(|k| ints.contains(&k)));
            assert!(ops::random_uniform_int([2], 5, 5, 0).is_err());
            // Same seed, same values; another seed, other values.
            let a = ops::random_normal([8], 0.0, 1.0, 9)
                .unwrap()
                .to_vec::<f32>()
                .unwrap();
            assert_eq!(
                a,
                ops::random_normal([8], 0.0, 1.0, 9)
                    .unwrap()
                    .to_vec::<f32>()
                    .unwrap()
            );
            assert_ne!(
                a,
                ops::random_normal([8], 0.0, 1.0, 10)
                    .unwrap()
                    .to_vec::<f32>()
                    .unwrap()
            );
        });
    }
}

#[test]
fn devices_scopes_and_copies() {
    let cpu = Device::cpu();
    let phys = wgflow::list_physical_devices();
    assert_eq!(phys[0].device_type, wgflow::DeviceType::Cpu);
    assert!(phys[0].to_string().contains("/physical_device:CPU:0"));
    let t = with_device(&cpu, || Tensor::scalar(1.0f32).unwrap());
    assert_eq!(t.device(), &cpu);
    assert!(wgflow::device::parse_device_spec("tpu").is_err());
    assert_eq!(wgflow::device::parse_device_spec("cpu").unwrap(), cpu);
    if let Some(gpu) = gpu() {
        assert!(phys.len() >= 2 && phys[1].limits().is_some());
        let g = with_device(&gpu, || Tensor::from_slice(&[1.0f32, 2.0], [2]).unwrap());
        assert_eq!(g.device(), &gpu);
        let c = g.on(&cpu).unwrap();
        assert_eq!(
            (c.device(), c.to_vec::<f32>().unwrap()),
            (&cpu, vec![1.0, 2.0])
        );
        let e = ops::add(&g, &c).unwrap_err().to_string();
        assert!(e.contains("different devices"), "{e}");
        assert_eq!(wgflow::device::parse_device_spec("wgpu:0").unwrap(), gpu);
        assert_eq!(
            wgflow::device::parse_device_spec("/device:GPU:0").unwrap(),
            gpu
        );
    }
    let s = Tensor::scalar_of(Scalar::I32(-4), &cpu).unwrap();
    assert_eq!(s.to_scalar::<i32>().unwrap(), -4);
}
