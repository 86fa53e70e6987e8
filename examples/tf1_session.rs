//! The seeds' contrast between TensorFlow 1's static graph and TensorFlow 2's eager mode, on
//! one computation, `y = relu(x @ W + b)`:
//!
//! ```python
//! g = tf.Graph()
//! with g.as_default():                          # TF1: build a graph first ...
//!     x = tf.compat.v1.placeholder(tf.float32, [None, 3], name="x")
//!     y = tf.nn.relu(tf.matmul(x, W) + b)
//! with tf.compat.v1.Session(graph=g) as sess:   # ... then run it with feeds
//!     print(sess.run(y, feed_dict={x: batch}))
//! print(tf.nn.relu(tf.matmul(batch, W) + b))    # TF2: ops run as they are called
//! print(tf.function(dense)(batch))              # TF2: traced once, then replayed
//! ```
//!
//! Run: `cargo run --release --example tf1_session`

use wgflow::compat::v1;
use wgflow::{Arg, DType, Result, Tensor, args, function, ops};

fn dense(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    ops::relu(&ops::add(&ops::matmul(x, w)?, b)?)
}

fn main() -> Result<()> {
    let w = Tensor::from_slice(&[0.5f32, -1.0, 2.0, 0.25, -0.75, 1.5], [3, 2])?;
    let b = Tensor::from_slice(&[0.1f32, -0.2], [2])?;
    let batch = Tensor::from_slice(&[1.0f32, 2.0, 3.0, -1.0, 0.5, 0.0], [2, 3])?;

    // TF1: building computes nothing; `y` is a symbolic tensor of the graph.
    let g = v1::Graph::new()?;
    let (x, y) = g.as_default(|| {
        let x = v1::placeholder(DType::F32, &[None, Some(3)], "x")?;
        let y = dense(&x, &w, &b)?;
        Ok((x, y))
    })?;
    println!("TF1 y is symbolic: {}", y.is_symbolic());
    let sess = v1::Session::new(&g);
    println!(
        "TF1 Session.run:   {}",
        sess.run(&[&y], &[(&x, &batch)])?[0]
    );
    // The batch dimension is unknown: another size re-plans the same graph.
    let one = Tensor::from_slice(&[0.0f32, 1.0, 1.0], [1, 3])?;
    println!("TF1 batch of one:  {}", sess.run(&[&y], &[(&x, &one)])?[0]);
    // A placeholder the fetches need must be fed.
    if let Err(e) = sess.run(&[&y], &[]) {
        println!("TF1 without feeds: {e}");
    }

    // TF2 eager: each op runs when it is called.
    println!("TF2 eager:         {}", dense(&batch, &w, &b)?);

    // TF2 function: the closure is traced into the same IR once, then replayed.
    let f = function(move |a: &[Arg]| dense(a[0].tensor()?, &w, &b));
    println!("TF2 function:      {}", f.call(args![&batch])?);
    Ok(())
}
