//! The peer-benchmark workloads of `../shared/benchmarks/WORKLOADS.md` (W1 matmul, W2
//! elementwise chain), measured by the same rules as the peers: untimed warm-ups, then the
//! median, minimum and maximum of timed repetitions that each end with the result complete
//! and visible to the host. Used by `wgflow bench` and the criterion benches.

use crate::device::{Device, with_device};
use crate::error::Result;
use crate::ops;
use crate::tensor::Tensor;
use std::time::Instant;

/// Timings of one figure, in milliseconds.
#[derive(Clone, Debug)]
pub struct Timing {
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    pub reps: usize,
}

/// Runs `f` `warmup` times untimed, then `reps` times timed.
pub fn measure(warmup: usize, reps: usize, mut f: impl FnMut() -> Result<()>) -> Result<Timing> {
    for _ in 0..warmup {
        f()?;
    }
    let mut t = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let start = Instant::now();
        f()?;
        t.push(start.elapsed().as_secs_f64() * 1e3);
    }
    t.sort_by(|a, b| a.total_cmp(b));
    Ok(Timing {
        median_ms: t[t.len() / 2],
        min_ms: t[0],
        max_ms: t[t.len() - 1],
        reps: t.len(),
    })
}

/// W1: `C = A · B` for square `n`, random normal inputs created outside the timed region;
/// each repetition waits for the product.
pub fn w1_matmul(device: &Device, n: usize, reps: usize) -> Result<Timing> {
    with_device(device, || {
        let a = ops::random_normal([n, n], 0.0, 1.0, 1)?;
        let b = ops::random_normal([n, n], 0.0, 1.0, 2)?;
        device.synchronize()?;
        measure(3, reps, || {
            let c = ops::matmul(&a, &b)?;
            device.synchronize()?;
            drop(c);
            Ok(())
        })
    })
}

/// The W2 chain `sigmoid(tanh(x * 1.5 + 0.5) * x - 0.25)`, op by op.
pub fn w2_chain(x: &Tensor) -> Result<Tensor> {
    let t = ops::tanh(&((x * 1.5)? + 0.5)?)?;
    ops::sigmoid(&((&t * x)? - 0.25)?)
}

/// W2 eager: the chain on 1,048,576 floats; each repetition reads the result back to the
/// host (TensorFlow's peer calls `.numpy()`).
pub fn w2_eager(device: &Device, reps: usize) -> Result<Timing> {
    with_device(device, || {
        let x = ops::random_normal([1 << 20], 0.0, 1.0, 3)?;
        device.synchronize()?;
        measure(5, reps, || {
            let y = w2_chain(&x)?;
            let v = y.to_vec::<f32>()?;
            std::hint::black_box(v);
            Ok(())
        })
    })
}
