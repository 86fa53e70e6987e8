//! Linear regression with a GradientTape, as in TensorFlow's eager tutorials:
//!
//! ```python
//! W = tf.Variable(tf.random.normal([])); b = tf.Variable(0.0)
//! for step in range(200):
//!     with tf.GradientTape() as tape:
//!         loss = tf.reduce_mean(tf.square(W * x + b - y))
//!     dW, db = tape.gradient(loss, [W, b])
//!     W.assign_sub(learning_rate * dW); b.assign_sub(learning_rate * db)
//! ```
//!
//! Fits y = 3x + 2 (plus noise) and prints the learned weight and bias.
//! Run: `cargo run --release --example linear_regression`

use wgflow::{Axes, GradientTape, Tensor, Variable, current_device, ops};

fn main() -> wgflow::Result<()> {
    println!("device: {}", current_device()?);
    let n = 1000;
    let x = ops::random_normal([n], 0.0, 1.0, 1)?;
    let noise = ops::random_normal([n], 0.0, 0.1, 2)?;
    let y = ((&(&x * 3.0)? + 2.0)? + &noise)?;

    let w = Variable::new(ops::random_normal([], 0.0, 1.0, 3)?, "W", true);
    let b = Variable::new(Tensor::scalar(0.0f32)?, "b", true);
    let learning_rate = 0.1;

    for step in 0..=100 {
        let tape = GradientTape::new();
        let prediction = (&(&w.read_value() * &x)? + &b.read_value())?;
        let loss = ops::reduce_mean(&ops::square(&(&prediction - &y)?)?, Axes::All, false)?;
        let grads = tape.gradient(&loss, &[&w, &b])?;
        let (dw, db) = (grads[0].as_ref().unwrap(), grads[1].as_ref().unwrap());
        w.assign_sub(&(dw * learning_rate)?)?;
        b.assign_sub(&(db * learning_rate)?)?;
        if step % 20 == 0 {
            println!("step {step:3}: loss = {:.5}", loss.to_scalar::<f32>()?);
        }
    }
    println!(
        "W = {:.4} (true 3), b = {:.4} (true 2)",
        w.read_value().to_scalar::<f32>()?,
        b.read_value().to_scalar::<f32>()?
    );
    Ok(())
}
