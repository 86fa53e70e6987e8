//! TFRecord and `tf.train.Example` in wgflow: write a few Examples to a GZIP-compressed
//! TFRecord file, read them back in order, and parse them into tensors with
//! `parse_single_example` and (batched) `parse_example`.
//!
//! The walkthrough stores images; image decoding is not part of this module, so each
//! "image" here is a small synthetic 2x3 tensor stored as raw bytes, as `tf.io.serialize_tensor`
//! or a raw-pixel pipeline would.
//!
//! Run: `cargo run --release --example tfrecord`

use wgflow::data::{
    Example, Feature, FeatureDType, FeatureSpec, FixedLenFeature, TFRecordCompressionType,
    TFRecordDataset, TFRecordWriter, VarLenFeature, parse_example, parse_single_example,
};
use wgflow::{Result, Tensor};

fn main() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("wgflow_tfrecord_example_{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| wgflow::Error::Io {
        path: dir.display().to_string(),
        source: e,
    })?;
    let path = dir.join("pixels.tfrecord.gz");

    // Write: one Example per synthetic image, dictionary style.
    let mut writer = TFRecordWriter::new(&path, TFRecordCompressionType::Gzip)?;
    for i in 0..4u8 {
        let pixels: Vec<u8> = (0..6).map(|p| i * 40 + p * 7).collect();
        let mean = pixels.iter().map(|&p| f32::from(p)).sum::<f32>() / pixels.len() as f32;
        let example = Example::new()
            .with("image", pixels) // one byte string: raw uint8 pixels of a 2x3 image
            .with("label", i64::from(i % 2))
            .with("mean", mean)
            .with(
                "tags",
                Feature::bytes_list((0..i).map(|t| format!("tag{t}"))),
            );
        writer.write(&example.serialize_to_string())?;
    }
    writer.close()?; // the file appears here, atomically
    println!("wrote {}", path.display());

    let spec: Vec<(&str, FeatureSpec)> = vec![
        (
            "image",
            FixedLenFeature::new([], FeatureDType::String).into(),
        ),
        (
            "label",
            FixedLenFeature::new([], FeatureDType::Int64).into(),
        ),
        (
            "mean",
            FixedLenFeature::new([1], FeatureDType::Float32).into(),
        ),
        ("tags", VarLenFeature::new(FeatureDType::String).into()),
        // Not in the file: the default fills it in.
        (
            "weight",
            FixedLenFeature::new([], FeatureDType::Float32)
                .with_default(1.0f32)
                .into(),
        ),
    ];

    // Read back one record at a time.
    let mut records = Vec::new();
    for record in TFRecordDataset::new([&path], TFRecordCompressionType::Gzip) {
        let record = record?;
        let parsed = parse_single_example(&record, &spec)?;
        let image = &parsed.bytes("image")?.values()[0];
        let image = Tensor::from_u8(image, [2, 3])?;
        let tags: Vec<String> = parsed
            .sparse_bytes("tags")?
            .values
            .values()
            .iter()
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .collect();
        println!(
            "label {} weight {} tags {tags:?}\nimage {image}",
            parsed.tensor("label")?,
            parsed.tensor("weight")?,
        );
        records.push(record);
    }

    // Or a whole batch at once: dense features gain a batch dimension, VarLen ones are sparse.
    let batch = parse_example(&records, &spec)?;
    println!("labels {}", batch.tensor("label")?);
    println!("means {}", batch.tensor("mean")?);
    let tags = batch.sparse_bytes("tags")?;
    println!(
        "tags indices {} dense_shape {}",
        tags.indices, tags.dense_shape
    );

    std::fs::remove_dir_all(&dir).map_err(|e| wgflow::Error::Io {
        path: dir.display().to_string(),
        source: e,
    })?;
    Ok(())
}
