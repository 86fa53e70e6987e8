//! The seeds' `tf.data` pipeline on MNIST: `load_data()` → `from_tensor_slices((images,
//! labels))` → `map(rot90)` → `shuffle(10000)` → `batch(4)`, printing the first batch's
//! shapes and labels. As in TensorFlow the pipeline runs on the CPU; each batch lands on
//! the default device (a GPU when there is one) as it leaves the iterator.
//!
//! Run: `cargo run --release --example data_pipeline`. MNIST comes from
//! `$WGFLOW_DATASETS/mnist`, `~/.wgflow/datasets/mnist`, or a download into the latter;
//! without it the example says so and exits.

use wgflow::data::{AUTOTUNE, Dataset};
use wgflow::datasets::mnist;
use wgflow::{Device, Tensor, default_device, ops, with_device};

fn main() -> wgflow::Result<()> {
    let ((x_train, y_train), _) = match mnist::load_data() {
        Ok(data) => data,
        Err(e) => {
            println!(
                "MNIST not available ({e}); set WGFLOW_DATASETS to a folder with mnist/ in it. Skipping."
            );
            return Ok(());
        }
    };
    let n = y_train.len();
    println!(
        "x_train {:?} u8, y_train {:?} u8",
        x_train.shape(),
        y_train.shape()
    );

    // Images get a channel axis: rot90 turns [height, width, channels] images.
    let pixels: Vec<u8> = x_train.iter().copied().collect();
    let labels: Vec<u8> = y_train.iter().copied().collect();
    let (images, labels) = with_device(&Device::cpu(), || -> wgflow::Result<_> {
        Ok((
            Tensor::from_u8(&pixels, [n, 28, 28, 1])?,
            Tensor::from_u8(&labels, [n])?,
        ))
    })?;

    let ds = Dataset::from_tensor_slices((images, labels))?
        .map_parallel(
            |(image, label): (Tensor, Tensor)| Ok((ops::rot90(&image, 1)?, label)),
            AUTOTUNE,
        )
        .shuffle(10000, Some(42), true)?
        .batch(4, false)?
        .prefetch(AUTOTUNE);
    println!(
        "{} batches of 4, landing on {}",
        ds.cardinality().as_i64(),
        default_device()?
    );

    let mut it = ds.iter()?;
    let (x, y) = it.next().expect("MNIST has a first batch")?;
    println!(
        "first batch: images {:?} {}, labels {:?} {} = {:?}",
        x.shape(),
        x.dtype(),
        y.shape(),
        y.dtype(),
        y.to_vec::<i32>()?
    );
    // The first image of the batch, turned a quarter counter-clockwise, as text.
    let first = x.to_vec::<i32>()?;
    for row in first[..784].chunks(28) {
        let line: String = row
            .iter()
            .map(|&p| match p {
                0..=63 => ' ',
                64..=159 => '+',
                _ => '#',
            })
            .collect();
        println!("  {line}");
    }
    let mut rest = 0;
    for batch in it {
        batch?;
        rest += 1;
    }
    println!("{rest} more batches");
    Ok(())
}
