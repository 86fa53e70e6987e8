//! Image codecs (TensorFlow's `tf.io.decode_jpeg`, `decode_png`, `decode_image`,
//! `encode_png`, `encode_jpeg`): encoded bytes on the host to `[height, width, channels]`
//! tensors and back.
//!
//! **Pixels are `int32`, values `0..=255`.** TensorFlow decodes to `uint8`; wgflow keeps
//! every dtype in 32-bit words and has no 8-bit dtype. Both its integer dtypes go through
//! `cast`, `resize`, the flips and `rot90` alike (tests/data_image.rs checks both); int32
//! is chosen because arithmetic on pixels (differences, centring) may go negative, labels
//! are int32, and [`Tensor::from_u8`] already widens bytes to int32.
//! `cast(image, DType::F32)` gives floats in `0..=255` (what Keras models take);
//! [`crate::ops::convert_image_dtype`]`(image, DType::F32)` gives `[0, 1]`. The encoders take
//! int32 or uint32 pixels and check that every value fits in a byte.
//!
//! Decoders are pure Rust, so the browser build decodes too: JPEG with zune-jpeg in strict
//! mode (truncated or corrupt data is an error, as TensorFlow's default
//! `try_recover_truncated=False`), PNG with the `png` crate through `image`. As in
//! TensorFlow 2, whose decode ops share one kernel, each decode function sniffs the format,
//! so `decode_png` also reads a JPEG. GIF and BMP, which TensorFlow also reads, are refused
//! with an error that says so.
//!
//! Values can differ slightly from TensorFlow's: JPEG's inverse DCT and chroma upsampling
//! are the decoder's own (TensorFlow uses libjpeg's fast integer IDCT), so JPEG pixels may
//! differ by a few levels; 16-bit PNGs are rounded to 8 bits where libpng truncates. PNG
//! colour to grayscale uses libpng's integer formula, as TensorFlow (exactly so for 8-bit
//! files without a gamma chunk, where libpng takes that path too).
//!
//! ```
//! use wgflow::{Tensor, data::{decode_png, encode_png}};
//! let image = Tensor::from_slice(&[0i32, 128, 255, 64, 32, 16], [1, 2, 3]).unwrap();
//! let png = encode_png(&image).unwrap();
//! let back = decode_png(&png, 0).unwrap();
//! assert_eq!(back.shape(), &[1, 2, 3]);
//! assert_eq!(back.to_vec::<i32>().unwrap(), image.to_vec::<i32>().unwrap());
//! let gray = decode_png(&png, 1).unwrap();
//! assert_eq!(gray.shape(), &[1, 2, 1]);
//! ```

use crate::dtype::Scalar;
use crate::error::{Error, Result};
use crate::shape::fmt_shape;
use crate::tensor::Tensor;
use std::fmt;

/// The formats [`decode_image`] recognises by their first bytes (TensorFlow's
/// `ClassifyFileFormat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Jpeg,
    Png,
    Gif,
    Bmp,
}

fn sniff(bytes: &[u8]) -> Option<Format> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(Format::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(Format::Png)
    } else if bytes.starts_with(b"GIF8") {
        Some(Format::Gif)
    } else if bytes.starts_with(b"BM") {
        Some(Format::Bmp)
    } else {
        None
    }
}

/// Decoded 8-bit pixels in row-major `[height, width, channels]` order.
pub(crate) struct Pixels {
    pub height: usize,
    pub width: usize,
    pub channels: usize,
    pub data: Vec<u8>,
}

impl Pixels {
    fn tensor(&self) -> Result<Tensor> {
        Tensor::from_u8(&self.data, [self.height, self.width, self.channels])
    }
}

/// TensorFlow refuses images of 2^29 pixels or more (`PNG size too large for int`); the
/// same bound keeps a crafted header from asking for gigabytes.
const MAX_PIXELS: u64 = 1 << 29;

fn check_size(op: &str, what: &str, width: usize, height: usize) -> Result<()> {
    if width as u64 * height as u64 >= MAX_PIXELS {
        return Err(Error::format(
            op,
            format!("{what} image of {width}x{height} pixels is too large (at most 2^29 pixels)"),
        ));
    }
    Ok(())
}

/// The channel count `channels` asks for from an image that stores `stored`.
fn target_channels(channels: u32, stored: usize) -> usize {
    if channels == 0 {
        stored
    } else {
        channels as usize
    }
}

/// Decodes `contents` (any supported format) into pixels with `channels` channels, by
/// TensorFlow's rules. Errors name `op`; a content error is `Error::Format` with `op` as its
/// place (callers that know a file name put it there instead).
pub(crate) fn decode(op: &str, contents: &[u8], channels: u32) -> Result<Pixels> {
    if !matches!(channels, 0 | 1 | 3 | 4) {
        return Err(Error::invalid(
            op,
            format!("`channels` must be 0, 1, 3 or 4 but got {channels}"),
        ));
    }
    if contents.is_empty() {
        return Err(Error::format(op, "the input is empty"));
    }
    match sniff(contents) {
        Some(Format::Jpeg) => {
            if channels == 4 {
                return Err(Error::invalid(op, "JPEG does not support 4 channels"));
            }
            decode_jpeg_pixels(op, contents, channels)
        }
        Some(Format::Png) => decode_png_pixels(op, contents, channels),
        Some(f @ (Format::Gif | Format::Bmp)) => Err(Error::format(
            op,
            format!(
                "{} images are not supported; wgflow decodes JPEG and PNG",
                if f == Format::Gif { "GIF" } else { "BMP" }
            ),
        )),
        None => Err(Error::format(
            op,
            format!(
                "unknown image file format (first bytes {:02x?}); one of JPEG, PNG required",
                &contents[..contents.len().min(8)]
            ),
        )),
    }
}

fn decode_jpeg_pixels(op: &str, contents: &[u8], channels: u32) -> Result<Pixels> {
    use zune_core::bytestream::ZCursor;
    use zune_core::colorspace::ColorSpace;
    use zune_core::options::DecoderOptions;
    let bad = |e: &dyn fmt::Display| {
        Error::format(
            op,
            format!("invalid JPEG data ({} bytes): {e}", contents.len()),
        )
    };
    // zune looks for the end of the data only between rows of blocks, so a file cut inside
    // the last row would decode with invented pixels, where TensorFlow (libjpeg without
    // `try_recover_truncated`) fails. An end-of-image marker after the last scan header
    // shows the scan data is whole (0xFF inside scan data is always stuffed or a restart).
    let last_scan = contents.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    if let Some(p) = last_scan
        && !contents[p..].windows(2).any(|w| w == [0xFF, 0xD9])
    {
        return Err(bad(
            &"truncated: no end-of-image marker after the last scan",
        ));
    }
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(usize::from(u16::MAX))
        .set_max_height(usize::from(u16::MAX));
    let mut d = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(contents), options);
    d.decode_headers().map_err(|e| bad(&e))?;
    let (width, height) = d.dimensions().ok_or_else(|| bad(&"no frame header"))?;
    check_size(op, "JPEG", width, height)?;
    let input = d
        .input_colorspace()
        .ok_or_else(|| bad(&"no colour space"))?;
    let stored_gray = matches!(input, ColorSpace::Luma | ColorSpace::LumaA);
    let want = target_channels(channels, if stored_gray { 1 } else { 3 });
    // For one channel libjpeg (hence TensorFlow) outputs the stored luma (Y) plane itself;
    // zune does the same from YCbCr. Other colour models go through RGB.
    let luma_direct = want == 1 && (stored_gray || input == ColorSpace::YCbCr);
    let out = if luma_direct {
        ColorSpace::Luma
    } else {
        ColorSpace::RGB
    };
    d.set_options(d.options().jpeg_set_out_colorspace(out));
    let data = d.decode().map_err(|e| bad(&e))?;
    let stored = out.num_components();
    if data.len() != width * height * stored {
        return Err(bad(&format!(
            "decoded {} bytes for {width}x{height}x{stored}",
            data.len()
        )));
    }
    Ok(Pixels {
        height,
        width,
        channels: want,
        data: convert_channels(data, stored, want, jpeg_gray),
    })
}

fn decode_png_pixels(op: &str, contents: &[u8], channels: u32) -> Result<Pixels> {
    use image::{ColorType, DynamicImage, ImageFormat};
    let img = image::load_from_memory_with_format(contents, ImageFormat::Png).map_err(|e| {
        Error::format(
            op,
            format!("invalid PNG data ({} bytes): {e}", contents.len()),
        )
    })?;
    let (width, height) = (img.width() as usize, img.height() as usize);
    check_size(op, "PNG", width, height)?;
    let has_alpha = img.color().has_alpha();
    // Palette and low bit depths arrive expanded to 8 bits; 16 bits are rounded to 8.
    let (stored, data) = match (img.color(), has_alpha) {
        (ColorType::L8 | ColorType::L16, _) => (1, img.into_luma8().into_raw()),
        (ColorType::La8 | ColorType::La16, _) => (2, img.into_luma_alpha8().into_raw()),
        (_, false) => (3, DynamicImage::into_rgb8(img).into_raw()),
        (_, true) => (4, DynamicImage::into_rgba8(img).into_raw()),
    };
    let want = target_channels(channels, stored);
    Ok(Pixels {
        height,
        width,
        channels: want,
        data: convert_channels(data, stored, want, png_gray),
    })
}

/// libpng's `png_set_rgb_to_gray(png, 1, 0.299, 0.587)` as TensorFlow calls it: the
/// coefficients in 1/32768 units truncated (9797, 19234, and the rest 3737 for blue), the
/// sum truncated, and gray pixels passed through.
fn png_gray(r: u8, g: u8, b: u8) -> u8 {
    if r == g && g == b {
        return r;
    }
    ((9797 * u32::from(r) + 19234 * u32::from(g) + 3737 * u32::from(b)) >> 15) as u8
}

/// libjpeg's RGB to grayscale (`rgb_gray_convert`: 0.299, 0.587, 0.114 in 1/65536 units,
/// rounded), for JPEGs whose colour model is not YCbCr.
fn jpeg_gray(r: u8, g: u8, b: u8) -> u8 {
    ((19595 * u32::from(r) + 38470 * u32::from(g) + 7471 * u32::from(b) + 32768) >> 16) as u8
}

/// Pixels of `from` channels (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA) as `to` channels: colour
/// to gray by `gray`, gray replicated to colour, alpha kept, dropped, or added as 255.
fn convert_channels(data: Vec<u8>, from: usize, to: usize, gray: fn(u8, u8, u8) -> u8) -> Vec<u8> {
    if from == to {
        return data;
    }
    let mut out = Vec::with_capacity(data.len() / from * to);
    for px in data.chunks_exact(from) {
        let alpha = if matches!(from, 2 | 4) {
            px[from - 1]
        } else {
            255
        };
        let rgb = if from >= 3 {
            [px[0], px[1], px[2]]
        } else {
            [px[0]; 3]
        };
        if to <= 2 {
            out.push(if from >= 3 {
                gray(rgb[0], rgb[1], rgb[2])
            } else {
                px[0]
            });
        } else {
            out.extend_from_slice(&rgb);
        }
        if matches!(to, 2 | 4) {
            out.push(alpha);
        }
    }
    out
}

/// Decodes a JPEG into an int32 `[height, width, channels]` tensor of values `0..=255`
/// (TensorFlow's `tf.io.decode_jpeg`). `channels`: 0 keeps the stored count (1 or 3), 1 is
/// grayscale (the stored luma), 3 is RGB; 4 is refused, as TensorFlow does. Like
/// TensorFlow 2 it also decodes a PNG given to it. Corrupt or truncated data is an
/// `Error::Format`. The tensor is made on the current device.
pub fn decode_jpeg(contents: &[u8], channels: u32) -> Result<Tensor> {
    decode("decode_jpeg", contents, channels)?.tensor()
}

/// Decodes a PNG into an int32 `[height, width, channels]` tensor of values `0..=255`
/// (TensorFlow's `tf.io.decode_png`). `channels`: 0 keeps the stored count (1, 2, 3 or 4),
/// 1 grayscale (libpng's weights 0.299, 0.587, 0.114, as TensorFlow), 3 RGB, 4 RGBA (alpha
/// 255 where the file has none). Like TensorFlow 2 it also decodes a JPEG given to it.
pub fn decode_png(contents: &[u8], channels: u32) -> Result<Tensor> {
    decode("decode_png", contents, channels)?.tensor()
}

/// Decodes a JPEG or PNG, recognised by its first bytes, into an int32
/// `[height, width, channels]` tensor of values `0..=255` (TensorFlow's `tf.io.decode_image`
/// with `expand_animations=False`). `channels` as [`decode_png`]; 4 on a JPEG is refused.
/// GIF, BMP and unknown formats are an `Error::Format` naming what was found.
pub fn decode_image(contents: &[u8], channels: u32) -> Result<Tensor> {
    decode("decode_image", contents, channels)?.tensor()
}

/// The pixels of an int32 or uint32 `[height, width, channels]` image as bytes, after
/// checking the dtype, the shape, the channel count, that height and width are in
/// `1..=max` (neither format has empty images; JPEG stores sides in 16 bits) and that
/// every value is in `0..=255`.
fn pixel_bytes(
    op: &str,
    image: &Tensor,
    channels: &[usize],
    max: usize,
) -> Result<(u32, u32, Vec<u8>)> {
    let dt = image.dtype();
    if !dt.is_int() {
        return Err(Error::dtype(
            op,
            format!(
                "expects int32 or uint32 pixels with values 0..=255 (TensorFlow's uint8), got \
                 {dt}; convert a float image in [0, 1] with convert_image_dtype(image, \
                 DType::I32), or cast one in 0..=255"
            ),
        ));
    }
    let shape = image.shape();
    if shape.len() != 3 {
        return Err(Error::shape(
            op,
            format!(
                "expects an image [height, width, channels], got shape {}",
                fmt_shape(shape)
            ),
        ));
    }
    let (h, w, c) = (shape[0], shape[1], shape[2]);
    if !channels.contains(&c) {
        return Err(Error::invalid(
            op,
            format!("image must have {channels:?} channels, got {c}"),
        ));
    }
    if h == 0 || w == 0 || h > max || w > max {
        return Err(Error::invalid(
            op,
            format!(
                "image of shape {} cannot be encoded: height and width must be in 1..={max}",
                fmt_shape(shape)
            ),
        ));
    }
    let words = image.words()?;
    let mut bytes = Vec::with_capacity(words.len());
    for (i, &word) in words.iter().enumerate() {
        let v = Scalar::from_bits(dt, word).to_f64();
        if !(0.0..=255.0).contains(&v) {
            let (y, x, ch) = (i / (w * c), i / c % w, i % c);
            return Err(Error::invalid(
                op,
                format!("pixel [{y}, {x}, {ch}] is {v}, outside 0..=255 (uint8 values)"),
            ));
        }
        bytes.push(v as u8);
    }
    Ok((w as u32, h as u32, bytes))
}

fn color_type(channels: usize) -> image::ExtendedColorType {
    use image::ExtendedColorType::*;
    match channels {
        1 => L8,
        2 => La8,
        3 => Rgb8,
        _ => Rgba8,
    }
}

/// PNG bytes of an int32 or uint32 `[height, width, channels]` image with values `0..=255`
/// and 1 (gray), 2 (gray + alpha), 3 (RGB) or 4 (RGBA) channels (TensorFlow's
/// `tf.io.encode_png`). Lossless: [`decode_png`] gives the same values back.
pub fn encode_png(image: &Tensor) -> Result<Vec<u8>> {
    use image::ImageEncoder;
    const OP: &str = "encode_png";
    let (w, h, bytes) = pixel_bytes(OP, image, &[1, 2, 3, 4], i32::MAX as usize)?;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&bytes, w, h, color_type(image.shape()[2]))
        .map_err(|e| Error::invalid(OP, e))?;
    Ok(out)
}

/// JPEG bytes of an int32 or uint32 `[height, width, channels]` image with values
/// `0..=255` and 1 (gray) or 3 (RGB) channels, at `quality` 0 to 100 (TensorFlow's
/// `tf.io.encode_jpeg`, whose default is 95; the encoder treats 0 as 1). Lossy: decoding
/// gives values close to, not equal to, the input.
pub fn encode_jpeg(image: &Tensor, quality: u8) -> Result<Vec<u8>> {
    const OP: &str = "encode_jpeg";
    if quality > 100 {
        return Err(Error::invalid(
            OP,
            format!("quality must be in [0, 100], got {quality}"),
        ));
    }
    let (w, h, bytes) = pixel_bytes(OP, image, &[1, 3], u16::MAX as usize)?;
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, quality.max(1))
        .encode(&bytes, w, h, color_type(image.shape()[2]))
        .map_err(|e| Error::invalid(OP, e))?;
    Ok(out)
}
