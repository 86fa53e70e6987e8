//! TensorFlow's eager basics in wgflow: constants, arithmetic with broadcasting, matmul,
//! reductions, printing, and choosing a device.
//!
//! Run: `cargo run --release --example eager_basics` (`WGFLOW_DEVICE=wgpu` for the GPU).

use wgflow::{Axes, DType, Device, Result, Tensor, ops, with_device};

fn main() -> Result<()> {
    println!("default device: {}", wgflow::default_device()?);
    for p in wgflow::list_physical_devices() {
        println!("  {p}  {}", p.description());
    }

    // tf.constant and printing
    let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], [2, 2])?;
    let b = Tensor::from_slice(&[1.0f32, 1.0, 1.0, 1.0], [2, 2])?;
    println!("a = {a}");
    println!("a + b = {}", (&a + &b)?);
    println!("a * b = {}", (&a * &b)?);
    println!("matmul(a, b) = {}", ops::matmul(&a, &b)?);

    // Broadcasting: a row vector against a column vector.
    let row = Tensor::from_slice(&[1.0f32, 2.0, 3.0], [1, 3])?;
    let col = Tensor::from_slice(&[10.0f32, 20.0], [2, 1])?;
    println!("row + col = {}", (&row + &col)?);

    // Reductions, argmax and softmax.
    let c = Tensor::from_slice(&[4.0f32, 5.0, 10.0, 1.0], [2, 2])?;
    println!("reduce_max(c) = {}", ops::reduce_max(&c, Axes::All, false)?);
    println!("argmax(c, 1) = {}", ops::argmax(&c, 1)?);
    println!("softmax(c) = {}", ops::softmax(&c, -1)?);
    println!(
        "reduce_mean(c, axis=0) = {}",
        ops::reduce_mean(&c, [0], false)?
    );

    // Dtypes and casts, as in TensorFlow there is no implicit promotion.
    let i = Tensor::from_slice(&[1i32, 2, 3], [3])?;
    println!("cast(i, float32) / 2 = {}", (i.cast(DType::F32)? / 2.0)?);
    if let Err(e) = ops::add(&i, &row) {
        println!("mixing dtypes is an error: {e}");
    }

    // Random values from a stateless generator, identical on every backend for a seed.
    println!("uniform = {}", ops::random_uniform([2, 3], 0.0, 1.0, 42)?);

    // Choosing a device explicitly, like `with tf.device(...)`.
    let devices = [Some(Device::cpu()), Device::wgpu(0).ok()];
    for dev in devices.into_iter().flatten() {
        let y = with_device(&dev, || -> Result<Tensor> {
            let x = ops::random_normal([256, 256], 0.0, 1.0, 7)?;
            ops::reduce_sum(&ops::matmul(&x, &x)?, Axes::All, false)
        })?;
        println!(
            "on {dev}: sum(x @ x) = {:.4} ({:?})",
            y.to_scalar::<f32>()?,
            dev.stats()
        );
    }
    Ok(())
}
