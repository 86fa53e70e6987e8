//! A folder of images as TFRecord, the way TensorFlow pipelines store them: generate a few
//! small PNG and JPEG files in a temporary folder, write each as a `tf.train.Example`
//! (encoded image bytes, label, height, width, file name) to a GZIP-compressed TFRecord
//! file, read the records back, parse them with `parse_single_example` and decode the
//! images with `decode_image`; then parse the whole file at once with `parse_example`.
//!
//! Run: `cargo run --release --example tfrecord`

use std::path::Path;
use wgflow::data::{
    Example, FeatureDType, FeatureSpec, FixedLenFeature, TFRecordCompressionType, TFRecordDataset,
    TFRecordWriter, VarLenFeature, decode_image, encode_jpeg, encode_png, parse_example,
    parse_single_example,
};
use wgflow::ops::{ResizeMethod, resize};
use wgflow::{Error, Result, Tensor};

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// A `[height, width, 3]` image of int32 pixels: a colour gradient that depends on `seed`.
fn gradient(height: usize, width: usize, seed: usize) -> Result<Tensor> {
    let mut px = Vec::with_capacity(height * width * 3);
    for y in 0..height {
        for x in 0..width {
            px.push(((x * 255) / width.max(1)) as i32);
            px.push(((y * 255) / height.max(1)) as i32);
            px.push(((seed * 60) % 256) as i32);
        }
    }
    Tensor::from_slice(&px, [height, width, 3])
}

fn main() -> Result<()> {
    let dir = std::env::temp_dir().join(format!("wgflow_tfrecord_example_{}", std::process::id()));
    let images = dir.join("images");
    std::fs::create_dir_all(&images).map_err(io(&images))?;

    // 1. A folder of images of different sizes and both formats.
    let classes = ["cat", "dog"];
    for i in 0..4usize {
        let image = gradient(8 + 4 * i, 12 + 2 * i, i)?;
        let (name, bytes) = if i % 2 == 0 {
            (format!("{}_{i}.png", classes[i % 2]), encode_png(&image)?)
        } else {
            (
                format!("{}_{i}.jpg", classes[i % 2]),
                encode_jpeg(&image, 90)?,
            )
        };
        let path = images.join(name);
        std::fs::write(&path, bytes).map_err(io(&path))?;
    }

    // 2. The folder as TFRecord: one Example per file, dictionary style.
    let record_path = dir.join("images.tfrecord.gz");
    let mut files: Vec<_> = std::fs::read_dir(&images)
        .map_err(io(&images))?
        .map(|e| e.map(|e| e.path()).map_err(io(&images)))
        .collect::<Result<_>>()?;
    files.sort();
    let mut writer = TFRecordWriter::new(&record_path, TFRecordCompressionType::Gzip)?;
    for path in &files {
        let bytes = std::fs::read(path).map_err(io(path))?;
        // Height and width from the image itself, as a preprocessing script would.
        let shape = decode_image(&bytes, 0)?.shape().to_vec();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let label: i64 = if name.starts_with("dog") { 1 } else { 0 };
        let example = Example::new()
            .with("image/encoded", bytes)
            .with("image/height", shape[0] as i64)
            .with("image/width", shape[1] as i64)
            .with("image/filename", name.to_string())
            .with("label", label);
        writer.write(&example.serialize_to_string())?;
    }
    writer.close()?; // the file appears here, atomically
    println!("wrote {} images to {}", files.len(), record_path.display());

    // 3. Read back, parse, decode.
    let spec: Vec<(&str, FeatureSpec)> = vec![
        (
            "image/encoded",
            FixedLenFeature::new([], FeatureDType::String).into(),
        ),
        (
            "image/height",
            FixedLenFeature::new([], FeatureDType::Int64).into(),
        ),
        (
            "image/width",
            FixedLenFeature::new([], FeatureDType::Int64).into(),
        ),
        (
            "image/filename",
            FixedLenFeature::new([], FeatureDType::String).into(),
        ),
        (
            "label",
            FixedLenFeature::new([], FeatureDType::Int64).into(),
        ),
        // Not in the file: an optional list comes back empty, a default fills a fixed one.
        (
            "image/object/bbox",
            VarLenFeature::new(FeatureDType::Float32).into(),
        ),
        (
            "weight",
            FixedLenFeature::new([], FeatureDType::Float32)
                .with_default(1.0f32)
                .into(),
        ),
    ];
    let mut records = Vec::new();
    for record in TFRecordDataset::new([&record_path], TFRecordCompressionType::Gzip) {
        let record = record?;
        let parsed = parse_single_example(&record, &spec)?;
        let image = decode_image(&parsed.bytes("image/encoded")?.values()[0], 3)?;
        let (h, w) = (
            parsed.tensor("image/height")?.to_scalar::<i32>()?,
            parsed.tensor("image/width")?.to_scalar::<i32>()?,
        );
        assert_eq!(image.shape(), &[h as usize, w as usize, 3]);
        // Ready for a model: one size, float32.
        let input = resize(&image, [16, 16], ResizeMethod::Bilinear)?;
        println!(
            "{:<10} label {} weight {} image {} {:?} -> {} {:?}, boxes {}",
            String::from_utf8_lossy(&parsed.bytes("image/filename")?.values()[0]),
            parsed.tensor("label")?.to_scalar::<i32>()?,
            parsed.tensor("weight")?.to_scalar::<f32>()?,
            image.dtype(),
            image.shape(),
            input.dtype(),
            input.shape(),
            parsed.sparse("image/object/bbox")?.values.size(),
        );
        records.push(record);
    }

    // 4. Or the whole batch at once: dense features gain a batch dimension.
    let batch = parse_example(&records, &spec)?;
    println!("labels  {}", batch.tensor("label")?);
    println!("heights {}", batch.tensor("image/height")?);

    std::fs::remove_dir_all(&dir).map_err(io(&dir))?;
    Ok(())
}
