//! Shared by the integration tests: the devices every test runs on, seeded random data,
//! float64 reference helpers and comparisons.
#![allow(dead_code)]

pub mod gradcheck;

use std::sync::OnceLock;
use wgflow::{Device, KernelProfile, LogicalDeviceConfiguration, Tensor};

/// Whether the run must exercise wgpu (CI sets `WGFLOW_REQUIRE_GPU=1` with lavapipe installed).
pub fn require_gpu() -> bool {
    std::env::var("WGFLOW_REQUIRE_GPU").is_ok_and(|v| v == "1" || v == "true")
}

/// The wgpu device, if there is an adapter; with `WGFLOW_REQUIRE_GPU=1` its absence fails.
pub fn gpu() -> Option<Device> {
    match Device::wgpu(0) {
        Ok(d) => Some(d),
        Err(e) if require_gpu() => panic!("WGFLOW_REQUIRE_GPU=1 but no wgpu device: {e}"),
        Err(e) => {
            eprintln!("note: skipping wgpu ({e})");
            None
        }
    }
}

/// A second logical device on the same adapter compiling the kernels meant for hardware
/// GPUs (tiled matmul with workgroup memory), so both kernel sets are tested here.
pub fn gpu_hardware_profile() -> Option<Device> {
    static D: OnceLock<Option<Device>> = OnceLock::new();
    D.get_or_init(|| {
        let p = wgflow::device::list_physical_devices_of(wgflow::DeviceType::Gpu)
            .into_iter()
            .next()?;
        Some(
            Device::new(
                &p,
                LogicalDeviceConfiguration {
                    kernel_profile: KernelProfile::Hardware,
                    ..Default::default()
                },
            )
            .expect("second logical device"),
        )
    })
    .clone()
}

/// The CPU and (when present) the wgpu device.
pub fn devices() -> Vec<Device> {
    let mut v = vec![Device::cpu()];
    v.extend(gpu());
    v
}

/// [`devices`] plus the hardware-kernel profile on the wgpu adapter.
pub fn all_profiles() -> Vec<Device> {
    let mut v = devices();
    if v.len() > 1 {
        v.extend(gpu_hardware_profile());
    }
    v
}

/// A small deterministic generator (xorshift) for test data.
pub struct Gen(u64);

impl Gen {
    pub fn new(seed: u64) -> Self {
        Gen(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }
    pub fn vec_f32(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi) as f32).collect()
    }
    pub fn vec_i32(&mut self, n: usize, lo: i32, hi: i32) -> Vec<i32> {
        (0..n)
            .map(|_| lo + (self.next_u64() % (hi - lo) as u64) as i32)
            .collect()
    }
}

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major strides.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// NumPy broadcast of shapes, computed independently of wgflow.
pub fn broadcast(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i + a.len() >= r {
            a[i + a.len() - r]
        } else {
            1
        };
        let db = if i + b.len() >= r {
            b[i + b.len() - r]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return None;
        };
    }
    Some(out)
}

/// Index into a tensor of `shape` broadcast to `out` for output linear index `i`.
pub fn bcast_index(shape: &[usize], out: &[usize], i: usize) -> usize {
    let os = strides(out);
    let is = strides(shape);
    let off = out.len() - shape.len();
    let mut idx = 0;
    for d in 0..out.len() {
        let c = (i / os[d]) % out[d];
        if d >= off && shape[d - off] != 1 {
            idx += c * is[d - off];
        }
    }
    idx
}

/// Asserts `got` is within `atol + rtol * |want|` of `want` (NaNs and infinities must match).
pub fn assert_close(what: &str, got: &[f64], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        if g.is_nan() && w.is_nan() || g == w {
            continue;
        }
        assert!(
            (g - w).abs() <= atol + rtol * w.abs(),
            "{what}: element {i}: got {g}, want {w} (atol {atol}, rtol {rtol})"
        );
    }
}

/// A float tensor's values as f64.
pub fn values(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec().expect("read tensor")
}

/// erf in f64 (std has none): series near 0, continued fraction in the tails.
pub fn erf64(x: f64) -> f64 {
    if x.abs() < 3.0 {
        let (mut sum, mut term, mut n) = (0.0, x, 0.0);
        loop {
            let add = term / (2.0 * n + 1.0);
            sum += add;
            if add.abs() < 1e-17 * sum.abs().max(1e-300) || n > 200.0 {
                break;
            }
            n += 1.0;
            term *= -x * x / n;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        let a = x.abs();
        let mut f = 0.0;
        for k in (1..60).rev() {
            f = (k as f64 / 2.0) / (a + f);
        }
        (1.0 - (-a * a).exp() / (std::f64::consts::PI.sqrt() * (a + f))) * x.signum()
    }
}

/// A writer the tests can read back: what `println!`-style writes and graph prints sent,
/// in order.
#[derive(Clone, Default)]
pub struct Log(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Log {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Log {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
    pub fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_string).collect()
    }
    /// A print target writing here.
    pub fn target(&self) -> wgflow::graph::PrintTarget {
        wgflow::graph::PrintTarget::Writer(std::sync::Arc::new(std::sync::Mutex::new(self.clone())))
    }
}
