//! Image codecs and `image_dataset_from_directory`: PNG round trips exact, JPEG within a
//! stated tolerance, channel conversions against libpng's formula written out here,
//! truncated and corrupt inputs (every length, every byte) as errors, and a cats-vs-dogs
//! folder read both by the directory loader and by the seeds' filename → decode → resize
//! pipeline, with a float64 bilinear reference.

mod common;

use std::path::{Path, PathBuf};
use wgflow::data::{
    ColorMode, Dataset, ImageDatasetOptions, LabelMode, Subset, decode_image, decode_jpeg,
    decode_png, encode_jpeg, encode_png, image_dataset_from_directory,
    image_dataset_from_directory_both,
};
use wgflow::ops::{ResizeMethod, convert_image_dtype, flip_left_right, resize, rot90};
use wgflow::{DType, Device, Error, Tensor, with_device};

fn cpu() -> Device {
    Device::cpu()
}

/// Random pixels `[h, w, c]` in 0..=255.
fn noise(h: usize, w: usize, c: usize, seed: u64) -> Vec<i32> {
    common::Gen::new(seed).vec_i32(h * w * c, 0, 256)
}

/// A smooth image (gradients plus a little noise): JPEG keeps such images close.
fn smooth(h: usize, w: usize, c: usize, seed: u64) -> Vec<i32> {
    let mut g = common::Gen::new(seed);
    let mut v = Vec::with_capacity(h * w * c);
    for y in 0..h {
        for x in 0..w {
            for ch in 0..c {
                let base = 40.0
                    + 150.0 * (y as f64 / h as f64) * (ch as f64 + 1.0) / c as f64
                    + 50.0 * (x as f64 / w as f64);
                v.push((base + g.uniform(-3.0, 3.0)).round() as i32);
            }
        }
    }
    v
}

fn image(v: &[i32], shape: [usize; 3]) -> Tensor {
    Tensor::from_slice_on(v, shape, &cpu()).unwrap()
}

fn ints(t: &Tensor) -> Vec<i32> {
    t.to_vec::<i32>().unwrap()
}

/// Decodes on the CPU device (the default device may be a GPU).
fn on_cpu<T>(f: impl FnOnce() -> T) -> T {
    with_device(&cpu(), f)
}

#[test]
fn png_round_trips_exactly() {
    for c in 1..=4 {
        for (i, &(h, w)) in [(1, 1), (3, 5), (17, 9)].iter().enumerate() {
            let px = noise(h, w, c, (c * 10 + i) as u64);
            let png = encode_png(&image(&px, [h, w, c])).unwrap();
            for decoded in [
                on_cpu(|| decode_png(&png, 0)),
                on_cpu(|| decode_image(&png, 0)),
                on_cpu(|| decode_jpeg(&png, 0)), // TF2's decoders sniff the format
            ] {
                let t = decoded.unwrap();
                assert_eq!(t.shape(), &[h, w, c]);
                assert_eq!(t.dtype(), DType::I32);
                assert_eq!(ints(&t), px, "{h}x{w}x{c}");
            }
        }
    }
    // uint32 pixels encode too.
    let px: Vec<u32> = (0..12).map(|i| i * 20).collect();
    let t = Tensor::from_slice_on(&px, [2, 2, 3], &cpu()).unwrap();
    let back = on_cpu(|| decode_png(&encode_png(&t).unwrap(), 0)).unwrap();
    assert_eq!(
        ints(&back),
        px.iter().map(|&v| v as i32).collect::<Vec<_>>()
    );
}

/// Mean and largest absolute difference.
fn diff(a: &[i32], b: &[i32]) -> (f64, i32) {
    assert_eq!(a.len(), b.len());
    let max = a.iter().zip(b).map(|(x, y)| (x - y).abs()).max().unwrap();
    let mean = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() as f64)
        .sum::<f64>()
        / a.len() as f64;
    (mean, max)
}

#[test]
fn jpeg_round_trip_is_close() {
    // Tolerance at quality 95 on smooth images: mean error under 2 levels, none over 16.
    for (c, h, w) in [(3, 24, 32), (1, 13, 7), (3, 1, 1)] {
        let px = smooth(h, w, c, 5);
        let jpeg = encode_jpeg(&image(&px, [h, w, c]), 95).unwrap();
        assert_eq!(&jpeg[..3], &[0xFF, 0xD8, 0xFF]);
        let t = on_cpu(|| decode_jpeg(&jpeg, 0)).unwrap();
        assert_eq!(t.shape(), &[h, w, c]);
        let (mean, max) = diff(&ints(&t), &px);
        assert!(
            mean < 2.0 && max <= 16,
            "{h}x{w}x{c}: mean {mean}, max {max}"
        );
    }
    // Lower quality: larger but bounded error, and a smaller file.
    let px = smooth(24, 32, 3, 6);
    let hi = encode_jpeg(&image(&px, [24, 32, 3]), 95).unwrap();
    let lo = encode_jpeg(&image(&px, [24, 32, 3]), 10).unwrap();
    assert!(lo.len() < hi.len());
    let (mean, _) = diff(&ints(&on_cpu(|| decode_jpeg(&lo, 3)).unwrap()), &px);
    assert!(mean < 12.0, "quality 10: mean error {mean}");
}

/// libpng's 8-bit RGB to gray as TensorFlow configures it (`png_set_rgb_to_gray(png, 1,
/// 0.299, 0.587)`): coefficients 0.299 and 0.587 in 1/32768 units, truncated, blue the
/// rest; the weighted sum truncated; equal channels passed through.
fn libpng_gray(r: i32, g: i32, b: i32) -> i32 {
    let rc = 29900 * 32768 / 100000; // 9797
    let gc = 58700 * 32768 / 100000; // 19234
    let bc = 32768 - rc - gc; // 3737
    if r == g && g == b {
        r
    } else {
        (rc * r + gc * g + bc * b) >> 15
    }
}

#[test]
fn png_channel_conversions_follow_tensorflow() {
    let (h, w) = (6, 5);
    let rgba = noise(h, w, 4, 11);
    let png = encode_png(&image(&rgba, [h, w, 4])).unwrap();
    let px: Vec<&[i32]> = rgba.chunks(4).collect();

    let gray = ints(&on_cpu(|| decode_png(&png, 1)).unwrap());
    let want: Vec<i32> = px.iter().map(|p| libpng_gray(p[0], p[1], p[2])).collect();
    assert_eq!(gray, want);
    // The same within one level of TensorFlow's rgb_to_grayscale weights.
    for (g, p) in gray.iter().zip(&px) {
        let f = 0.2989 * p[0] as f64 + 0.5870 * p[1] as f64 + 0.1140 * p[2] as f64;
        assert!((*g as f64 - f).abs() <= 1.0, "{g} vs {f}");
    }
    // RGBA to RGB drops alpha.
    let rgb = ints(&on_cpu(|| decode_png(&png, 3)).unwrap());
    let want: Vec<i32> = px.iter().flat_map(|p| p[..3].to_vec()).collect();
    assert_eq!(rgb, want);

    // Gray to RGB replicates, to RGBA adds an opaque alpha.
    let g1 = noise(h, w, 1, 12);
    let png = encode_png(&image(&g1, [h, w, 1])).unwrap();
    let rgb = ints(&on_cpu(|| decode_image(&png, 3)).unwrap());
    assert_eq!(rgb, g1.iter().flat_map(|&v| [v, v, v]).collect::<Vec<_>>());
    let rgba = ints(&on_cpu(|| decode_image(&png, 4)).unwrap());
    assert_eq!(
        rgba,
        g1.iter().flat_map(|&v| [v, v, v, 255]).collect::<Vec<_>>()
    );

    // Gray + alpha keeps its two channels with channels=0; 1 drops alpha; 4 expands.
    let la = noise(h, w, 2, 13);
    let png = encode_png(&image(&la, [h, w, 2])).unwrap();
    let t = on_cpu(|| decode_png(&png, 0)).unwrap();
    assert_eq!(t.shape(), &[h, w, 2]);
    assert_eq!(ints(&t), la);
    let one = ints(&on_cpu(|| decode_png(&png, 1)).unwrap());
    assert_eq!(one, la.chunks(2).map(|p| p[0]).collect::<Vec<_>>());
    let four = ints(&on_cpu(|| decode_png(&png, 4)).unwrap());
    assert_eq!(
        four,
        la.chunks(2)
            .flat_map(|p| [p[0], p[0], p[0], p[1]])
            .collect::<Vec<_>>()
    );

    // RGB to RGBA adds alpha 255.
    let rgb = noise(h, w, 3, 14);
    let png = encode_png(&image(&rgb, [h, w, 3])).unwrap();
    let t = ints(&on_cpu(|| decode_png(&png, 4)).unwrap());
    assert_eq!(
        t,
        rgb.chunks(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect::<Vec<_>>()
    );
}

#[test]
fn jpeg_grayscale_is_the_stored_luma() {
    // channels=1 reads the Y plane as libjpeg does; Y = 0.299 R + 0.587 G + 0.114 B of the
    // decoded colour up to rounding and chroma upsampling (smooth, mid-range image: no
    // clipping), so within 3 levels of the weights applied to the RGB decode.
    let (h, w) = (16, 24);
    let px = smooth(h, w, 3, 21);
    let jpeg = encode_jpeg(&image(&px, [h, w, 3]), 90).unwrap();
    let gray = ints(&on_cpu(|| decode_jpeg(&jpeg, 1)).unwrap());
    let rgb = ints(&on_cpu(|| decode_jpeg(&jpeg, 3)).unwrap());
    assert_eq!(gray.len(), h * w);
    for (i, (g, p)) in gray.iter().zip(rgb.chunks(3)).enumerate() {
        let y = 0.299 * p[0] as f64 + 0.587 * p[1] as f64 + 0.114 * p[2] as f64;
        assert!((*g as f64 - y).abs() <= 3.0, "pixel {i}: {g} vs {y}");
    }
    // A grayscale JPEG: channels 0 keeps one channel, 3 replicates it.
    let g1 = smooth(h, w, 1, 22);
    let jpeg = encode_jpeg(&image(&g1, [h, w, 1]), 90).unwrap();
    let one = on_cpu(|| decode_image(&jpeg, 0)).unwrap();
    assert_eq!(one.shape(), &[h, w, 1]);
    let three = ints(&on_cpu(|| decode_image(&jpeg, 3)).unwrap());
    assert_eq!(
        three,
        ints(&one)
            .iter()
            .flat_map(|&v| [v, v, v])
            .collect::<Vec<_>>()
    );
}

fn message(e: &Error) -> String {
    e.to_string()
}

#[test]
fn channel_arguments_and_unknown_formats_are_tensorflows_errors() {
    let png = encode_png(&image(&noise(2, 2, 3, 1), [2, 2, 3])).unwrap();
    let jpeg = encode_jpeg(&image(&smooth(8, 8, 3, 1), [8, 8, 3]), 90).unwrap();
    for c in [2, 5, 100] {
        let e = decode_png(&png, c).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
        assert!(
            message(&e).contains(&format!("`channels` must be 0, 1, 3 or 4 but got {c}")),
            "{e}"
        );
    }
    let e = decode_jpeg(&jpeg, 4).unwrap_err();
    assert!(message(&e).contains("decode_jpeg: JPEG does not support 4 channels"));
    let e = decode_image(&jpeg, 4).unwrap_err();
    assert!(message(&e).contains("JPEG does not support 4 channels"));
    // A PNG asked for 4 channels through decode_jpeg decodes, as in TensorFlow 2.
    assert_eq!(on_cpu(|| decode_jpeg(&png, 4)).unwrap().shape(), &[2, 2, 4]);

    let e = decode_image(b"", 0).unwrap_err();
    assert!(
        matches!(e, Error::Format { .. }) && message(&e).contains("empty"),
        "{e}"
    );
    let e = decode_image(b"hello, world", 3).unwrap_err();
    assert!(
        matches!(e, Error::Format { .. })
            && message(&e).contains("decode_image")
            && message(&e).contains("unknown image file format"),
        "{e}"
    );
    let e = decode_image(b"GIF89a\x01\x00\x01\x00", 3).unwrap_err();
    assert!(message(&e).contains("GIF images are not supported"), "{e}");
    let e = decode_png(b"BM\x00\x00\x00\x00", 3).unwrap_err();
    assert!(message(&e).contains("BMP images are not supported"), "{e}");
}

/// Every prefix and every single-byte corruption of `bytes`: an error naming the op, or
/// (a corruption the format cannot detect) an image of the right shape; never a panic.
/// Returns how many prefixes decoded (each must be the whole image).
fn assault(bytes: &[u8], shape: &[usize], full: &[i32]) -> usize {
    let mut prefixes_ok = 0;
    for len in 0..bytes.len() {
        match on_cpu(|| decode_image(&bytes[..len], 0)) {
            Err(e) => {
                assert!(
                    matches!(e, Error::Format { .. } | Error::InvalidArgument { .. }),
                    "prefix {len}: {e:?}"
                );
                assert!(message(&e).contains("decode_image"), "prefix {len}: {e}");
            }
            Ok(t) => {
                // Only a complete image may come back from a prefix: never a shortened one.
                assert_eq!(t.shape(), shape, "prefix {len}");
                assert_eq!(ints(&t), full, "prefix {len} decoded to other pixels");
                prefixes_ok += 1;
            }
        }
    }
    for pos in 0..bytes.len() {
        for flip in [0xFFu8, 0x01] {
            let mut b = bytes.to_vec();
            b[pos] ^= flip;
            if let Err(e) = on_cpu(|| decode_image(&b, 0)) {
                assert!(message(&e).contains("decode_image"), "byte {pos}: {e}");
            }
        }
    }
    prefixes_ok
}

#[test]
fn truncated_and_corrupt_images_are_errors_not_panics() {
    let px = noise(5, 7, 3, 31);
    let png = encode_png(&image(&px, [5, 7, 3])).unwrap();
    let ok = assault(&png, &[5, 7, 3], &px);
    // The png crate stops once it has the pixels, so a PNG missing only its (empty) IEND
    // chunk may still decode, whole.
    assert!(ok <= 12, "{ok} PNG prefixes decoded");

    let jpx = smooth(12, 16, 3, 32);
    let jpeg = encode_jpeg(&image(&jpx, [12, 16, 3]), 90).unwrap();
    let full = ints(&on_cpu(|| decode_jpeg(&jpeg, 0)).unwrap());
    let ok = assault(&jpeg, &[12, 16, 3], &full);
    // No prefix decodes: not even one missing only its end-of-image marker.
    assert_eq!(ok, 0, "{ok} JPEG prefixes decoded");
}

#[test]
fn encoders_check_dtype_shape_and_values() {
    let f = Tensor::from_slice_on(&[0.5f32; 12], [2, 2, 3], &cpu()).unwrap();
    let e = encode_png(&f).unwrap_err();
    assert!(matches!(e, Error::DType { .. }), "{e}");
    assert!(message(&e).contains("convert_image_dtype"), "{e}");

    let mut px = vec![0; 12];
    px[5] = 256; // pixel [0, 1, 2]
    let e = encode_png(&image(&px, [2, 2, 3])).unwrap_err();
    assert!(
        message(&e).contains("encode_png: pixel [0, 1, 2] is 256, outside 0..=255"),
        "{e}"
    );
    px[5] = -1;
    let e = encode_jpeg(&image(&px, [2, 2, 3]), 90).unwrap_err();
    assert!(
        message(&e).contains("encode_jpeg: pixel [0, 1, 2] is -1"),
        "{e}"
    );

    let flat = Tensor::from_slice_on(&[0i32; 6], [2, 3], &cpu()).unwrap();
    assert!(matches!(encode_png(&flat), Err(Error::Shape { .. })));
    let five = image(&[0; 20], [2, 2, 5]);
    assert!(matches!(
        encode_png(&five),
        Err(Error::InvalidArgument { .. })
    ));
    for c in [2, 4] {
        let t = image(&vec![0; 4 * c], [2, 2, c]);
        let e = encode_jpeg(&t, 90).unwrap_err();
        assert!(message(&e).contains(&format!("channels, got {c}")), "{e}");
    }
    let e = encode_jpeg(&image(&[0; 12], [2, 2, 3]), 101).unwrap_err();
    assert!(
        message(&e).contains("quality must be in [0, 100], got 101"),
        "{e}"
    );
    assert!(encode_jpeg(&image(&[0; 12], [2, 2, 3]), 0).is_ok());
    let empty = image(&[], [0, 3, 3]);
    assert!(matches!(
        encode_png(&empty),
        Err(Error::InvalidArgument { .. })
    ));
}

#[test]
fn convert_image_dtype_follows_tensorflow() {
    let px = [0i32, 1, 127, 128, 254, 255];
    let t = Tensor::from_slice_on(&px, [1, 6, 1], &cpu()).unwrap();
    let f = convert_image_dtype(&t, DType::F32).unwrap();
    // TensorFlow multiplies by float32(1 / 255).
    let scale = (1.0f64 / 255.0) as f32;
    let want: Vec<f32> = px.iter().map(|&v| v as f32 * scale).collect();
    assert_eq!(f.to_vec::<f32>().unwrap(), want);
    assert_eq!(ints(&convert_image_dtype(&f, DType::I32).unwrap()), px);
    // Out-of-range floats saturate; float to float and int to int are casts.
    let g = Tensor::from_slice_on(&[-0.5f32, 0.0, 0.5, 1.0, 1.5], [5], &cpu()).unwrap();
    assert_eq!(
        ints(&convert_image_dtype(&g, DType::I32).unwrap()),
        vec![0, 0, 127, 255, 255] // TF: int(0.5 * 255.5)
    );
    assert_eq!(convert_image_dtype(&g, DType::F32).unwrap().id(), g.id());
    let u = convert_image_dtype(&t, DType::U32).unwrap();
    assert_eq!(u.dtype(), DType::U32);
    let b = Tensor::from_slice_on(&[true], [1], &cpu()).unwrap();
    assert!(matches!(
        convert_image_dtype(&b, DType::F32),
        Err(Error::DType { .. })
    ));
}

/// TensorFlow 2's bilinear resize (half-pixel centres, no antialiasing) of an
/// `[h, w, c]` image in float64.
fn bilinear_reference(px: &[i32], [h, w, c]: [usize; 3], [oh, ow]: [usize; 2]) -> Vec<f64> {
    let at = |y: usize, x: usize, ch: usize| px[(y * w + x) * c + ch] as f64;
    let axis = |o: usize, n: usize, out: usize| {
        let p = (o as f64 + 0.5) * n as f64 / out as f64 - 0.5;
        let lo = p.floor().max(0.0) as usize;
        let hi = (p.ceil() as usize).min(n - 1);
        (lo, hi, p - p.floor())
    };
    let mut out = Vec::with_capacity(oh * ow * c);
    for oy in 0..oh {
        let (y0, y1, ly) = axis(oy, h, oh);
        for ox in 0..ow {
            let (x0, x1, lx) = axis(ox, w, ow);
            for ch in 0..c {
                let top = at(y0, x0, ch) + (at(y0, x1, ch) - at(y0, x0, ch)) * lx;
                let bottom = at(y1, x0, ch) + (at(y1, x1, ch) - at(y1, x0, ch)) * lx;
                out.push(top + (bottom - top) * ly);
            }
        }
    }
    out
}

#[test]
fn decoded_images_feed_the_image_ops_on_every_device() {
    let (h, w) = (5, 7);
    let px = noise(h, w, 3, 41);
    let png = encode_png(&image(&px, [h, w, 3])).unwrap();
    let at = |y: usize, x: usize, ch: usize| px[(y * w + x) * 3 + ch];
    for dev in common::devices() {
        let img = with_device(&dev, || decode_png(&png, 3)).unwrap();
        assert_eq!(img.device(), &dev);
        // flip_left_right: out[y][x] = in[y][w-1-x].
        let flipped = ints(&flip_left_right(&img).unwrap());
        let mut want = Vec::new();
        for y in 0..h {
            for x in 0..w {
                want.extend((0..3).map(|ch| at(y, w - 1 - x, ch)));
            }
        }
        assert_eq!(flipped, want, "{dev:?}");
        // rot90 (counter-clockwise): shape [w, h], out[i][j] = in[j][w-1-i].
        let r = rot90(&img, 1).unwrap();
        assert_eq!(r.shape(), &[w, h, 3]);
        let mut want = Vec::new();
        for i in 0..w {
            for j in 0..h {
                want.extend((0..3).map(|ch| at(j, w - 1 - i, ch)));
            }
        }
        assert_eq!(ints(&r), want, "{dev:?}");
        // Nearest keeps int32; bilinear casts to float32.
        let n = resize(&img, [10, 14], ResizeMethod::Nearest).unwrap();
        assert_eq!(n.dtype(), DType::I32);
        let n = ints(&n);
        for y in 0..10 {
            for x in 0..14 {
                for ch in 0..3 {
                    assert_eq!(n[(y * 14 + x) * 3 + ch], at(y / 2, x / 2, ch));
                }
            }
        }
        let b = resize(&img, [3, 11], ResizeMethod::Bilinear).unwrap();
        assert_eq!(b.dtype(), DType::F32);
        common::assert_close(
            &format!("bilinear on {dev:?}"),
            &common::values(&b),
            &bilinear_reference(&px, [h, w, 3], [3, 11]),
            1e-3,
            1e-5,
        );
        let f = convert_image_dtype(&img, DType::F32).unwrap();
        let want: Vec<f64> = px.iter().map(|&v| v as f64 / 255.0).collect();
        common::assert_close("convert_image_dtype", &common::values(&f), &want, 1e-6, 0.0);
        // uint32 pixels work with the same ops (int32 is the decoders' choice for
        // arithmetic that may go negative, not because uint32 fails here).
        let u = img.cast(DType::U32).unwrap();
        for (a, b) in [
            (flip_left_right(&u).unwrap(), flip_left_right(&img).unwrap()),
            (rot90(&u, 3).unwrap(), rot90(&img, 3).unwrap()),
            (
                resize(&u, [4, 9], ResizeMethod::Nearest).unwrap(),
                resize(&img, [4, 9], ResizeMethod::Nearest).unwrap(),
            ),
            (
                resize(&u, [4, 9], ResizeMethod::Bilinear).unwrap(),
                resize(&img, [4, 9], ResizeMethod::Bilinear).unwrap(),
            ),
        ] {
            assert_eq!(common::values(&a), common::values(&b), "uint32 on {dev:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// image_dataset_from_directory

/// A fresh temporary folder, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p =
            std::env::temp_dir().join(format!("wgflow_data_image_{}_{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// A cats-vs-dogs-style folder: `birds/` (3 JPEGs), `cats/` (5 JPEGs), `dogs/` (3 JPEGs,
/// one PNG and one JPEG in a nested folder), of varied sizes, plus files and folders the
/// loader must ignore. Returns the image files by class in the loader's order.
fn pets(dir: &Path) -> Vec<Vec<PathBuf>> {
    let mut g = common::Gen::new(99);
    let mut jpeg = |path: PathBuf| {
        let (h, w) = (
            6 + g.next_u64() as usize % 20,
            6 + g.next_u64() as usize % 20,
        );
        let px = smooth(h, w, 3, g.next_u64());
        write(&path, &encode_jpeg(&image(&px, [h, w, 3]), 90).unwrap());
        path
    };
    let birds: Vec<PathBuf> = (0..3)
        .map(|i| jpeg(dir.join(format!("birds/b{i}.jpg"))))
        .collect();
    let cats: Vec<PathBuf> = ["a.jpg", "b.JPEG", "c.jpeg", "d.jpg", "e.jpg"]
        .iter()
        .map(|n| jpeg(dir.join("cats").join(n)))
        .collect();
    let mut dogs: Vec<PathBuf> = (0..3)
        .map(|i| jpeg(dir.join(format!("dogs/d{i}.jpg"))))
        .collect();
    let png = dir.join("dogs/d3.png");
    write(
        &png,
        &encode_png(&image(&noise(9, 4, 3, 7), [9, 4, 3])).unwrap(),
    );
    dogs.push(png);
    dogs.push(jpeg(dir.join("dogs/puppies/p0.jpg")));
    // Ignored: a non-image file, a top-level image, a hidden folder.
    write(&dir.join("dogs/notes.txt"), b"not an image");
    write(&dir.join("top.jpg"), b"not read");
    write(&dir.join(".cache/x.jpg"), b"not read");
    vec![birds, cats, dogs]
}

fn opts(size: [usize; 2], batch: Option<usize>) -> ImageDatasetOptions {
    ImageDatasetOptions {
        image_size: size,
        batch_size: batch,
        shuffle: false,
        ..Default::default()
    }
}

/// Every batch of a loader's dataset on `dev`: (image values, labels, image shape).
fn batches(ds: &Dataset<(Tensor, Tensor)>, dev: &Device) -> Vec<(Vec<f32>, Tensor, Vec<usize>)> {
    ds.iter_on(dev)
        .unwrap()
        .map(|b| {
            let (x, y) = b.unwrap();
            assert_eq!(x.device(), dev);
            (x.to_vec::<f32>().unwrap(), y, x.shape().to_vec())
        })
        .collect()
}

#[test]
fn cats_vs_dogs_folder_through_the_loader_and_the_seeds_pipeline() {
    let tmp = TempDir::new("pets");
    let classes = pets(&tmp.0);
    let size = [8, 10];
    let loaded = image_dataset_from_directory(&tmp.0, &opts(size, Some(4))).unwrap();
    assert_eq!(loaded.class_names, vec!["birds", "cats", "dogs"]);
    let expected_paths: Vec<PathBuf> = classes.iter().flatten().cloned().collect();
    assert_eq!(loaded.file_paths, expected_paths);
    let expected_labels: Vec<i32> = classes
        .iter()
        .enumerate()
        .flat_map(|(l, f)| vec![l as i32; f.len()])
        .collect();
    assert_eq!(loaded.labels, expected_labels);
    let n = expected_paths.len();
    assert_eq!(n, 13);
    assert_eq!(loaded.dataset.cardinality().as_i64(), 4);

    // Shapes and labels, on the CPU and (when present) the GPU.
    let mut per_device = Vec::new();
    for dev in common::devices() {
        let got = batches(&loaded.dataset, &dev);
        let shapes: Vec<Vec<usize>> = got.iter().map(|b| b.2.clone()).collect();
        assert_eq!(
            shapes,
            vec![
                vec![4, 8, 10, 3],
                vec![4, 8, 10, 3],
                vec![4, 8, 10, 3],
                vec![1, 8, 10, 3]
            ]
        );
        let labels: Vec<i32> = got.iter().flat_map(|b| ints(&b.1)).collect();
        assert_eq!(labels, expected_labels);
        per_device.push(got.into_iter().map(|b| b.0).collect::<Vec<_>>());
    }
    for other in &per_device[1..] {
        assert_eq!(other, &per_device[0], "GPU batches differ from CPU");
    }

    // The seeds' pipeline: file names -> read -> decode_jpeg -> resize -> batch.
    let files = std::sync::Arc::new(expected_paths.clone());
    let idx: Vec<i32> = (0..n as i32).collect();
    let seeds = Dataset::from_tensor_slices(Tensor::from_slice_on(&idx, [n], &cpu()).unwrap())
        .unwrap()
        .map(move |i| {
            let path = &files[i.to_scalar::<i32>()? as usize];
            let bytes = std::fs::read(path).unwrap();
            resize(&decode_jpeg(&bytes, 3)?, size, ResizeMethod::Bilinear)
        })
        .batch(4, false)
        .unwrap();
    let seeds_batches: Vec<Vec<f32>> = seeds
        .iter_on(&cpu())
        .unwrap()
        .map(|b| b.unwrap().to_vec::<f32>().unwrap())
        .collect();
    assert_eq!(seeds_batches, per_device[0]);

    // Against a float64 bilinear resize of each decoded file.
    let pixels: Vec<f64> = per_device[0].iter().flatten().map(|&v| v as f64).collect();
    let per = size[0] * size[1] * 3;
    for (k, path) in expected_paths.iter().enumerate() {
        let d = on_cpu(|| decode_image(&std::fs::read(path).unwrap(), 3)).unwrap();
        let s = d.shape();
        let want = bilinear_reference(&ints(&d), [s[0], s[1], s[2]], size);
        common::assert_close(
            &format!("{}", path.display()),
            &pixels[k * per..(k + 1) * per],
            &want,
            1e-3,
            1e-5,
        );
    }
}

#[test]
fn loader_options_labels_colours_and_unbatched() {
    let tmp = TempDir::new("options");
    let classes = pets(&tmp.0);
    let size = [4, 4];

    let cat = image_dataset_from_directory(
        &tmp.0,
        &ImageDatasetOptions {
            label_mode: LabelMode::Categorical,
            color_mode: ColorMode::Grayscale,
            ..opts(size, Some(5))
        },
    )
    .unwrap();
    let got = batches(&cat.dataset, &cpu());
    assert_eq!(got[0].2, vec![5, 4, 4, 1]);
    let onehot: Vec<f32> = got
        .iter()
        .flat_map(|b| b.1.to_vec::<f32>().unwrap())
        .collect();
    let want: Vec<f32> = cat
        .labels
        .iter()
        .flat_map(|&l| (0..3).map(move |k| if k == l { 1.0 } else { 0.0 }))
        .collect();
    assert_eq!(got[0].1.shape(), &[5, 3]);
    assert_eq!(onehot, want);

    // Binary needs two classes: choose them with class_names.
    let e = image_dataset_from_directory(
        &tmp.0,
        &ImageDatasetOptions {
            label_mode: LabelMode::Binary,
            ..opts(size, Some(5))
        },
    )
    .unwrap_err();
    assert!(message(&e).contains("exactly 2 classes"), "{e}");
    let bin = image_dataset_from_directory(
        &tmp.0,
        &ImageDatasetOptions {
            label_mode: LabelMode::Binary,
            class_names: Some(vec!["dogs".into(), "cats".into()]),
            ..opts(size, Some(100))
        },
    )
    .unwrap();
    assert_eq!(bin.class_names, vec!["dogs", "cats"]);
    let got = batches(&bin.dataset, &cpu());
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, vec![10, 4, 4, 3]);
    let labels = got[0].1.to_vec::<f32>().unwrap();
    assert_eq!(got[0].1.shape(), &[10, 1]);
    assert_eq!(labels, [vec![0.0; 5], vec![1.0; 5]].concat());
    assert_eq!(bin.file_paths[..5], classes[2][..]);

    // RGBA: as in TensorFlow (Keras calls decode_image with channels=4), a JPEG cannot be
    // read with 4 channels: each JPEG is an error item, the one PNG an opaque RGBA image.
    let rgba = image_dataset_from_directory(
        &tmp.0,
        &ImageDatasetOptions {
            color_mode: ColorMode::Rgba,
            ..opts(size, None)
        },
    )
    .unwrap();
    let items: Vec<_> = rgba.dataset.iter_on(&cpu()).unwrap().collect();
    assert_eq!(items.len(), 13);
    for (item, path) in items.iter().zip(&rgba.file_paths) {
        match item {
            Ok((x, _)) => {
                assert!(path.to_string_lossy().ends_with(".png"));
                assert_eq!(x.shape(), &[4, 4, 4]);
                let px = x.to_vec::<f32>().unwrap();
                assert!(px.chunks(4).all(|p| p[3] == 255.0));
            }
            Err(e) => assert!(
                message(e).contains("JPEG does not support 4 channels"),
                "{e}"
            ),
        }
    }
    assert_eq!(items.iter().filter(|r| r.is_ok()).count(), 1);

    // Unbatched: single images and scalar labels; images() drops the labels.
    let single = image_dataset_from_directory(&tmp.0, &opts(size, None)).unwrap();
    let first = single
        .dataset
        .iter_on(&cpu())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(first.0.shape(), &[4, 4, 3]);
    assert_eq!(first.1.shape(), &[] as &[usize]);
    let images: Vec<Tensor> = single
        .images()
        .iter_on(&cpu())
        .unwrap()
        .map(|x| x.unwrap())
        .collect();
    assert_eq!(images.len(), 13);
}

#[test]
fn loader_shuffle_and_validation_split_follow_keras() {
    let tmp = TempDir::new("split");
    let classes = pets(&tmp.0);
    let all: Vec<PathBuf> = classes.iter().flatten().cloned().collect();
    let size = [4, 5];
    let shuffled = |seed| ImageDatasetOptions {
        shuffle: true,
        seed: Some(seed),
        ..opts(size, Some(3))
    };
    // Same seed: same file order and the same first pass; another seed: another order.
    let a = image_dataset_from_directory(&tmp.0, &shuffled(7)).unwrap();
    let b = image_dataset_from_directory(&tmp.0, &shuffled(7)).unwrap();
    let c = image_dataset_from_directory(&tmp.0, &shuffled(8)).unwrap();
    assert_eq!(a.file_paths, b.file_paths);
    assert_ne!(a.file_paths, c.file_paths);
    assert_ne!(a.file_paths, all);
    let mut sorted = a.file_paths.clone();
    sorted.sort();
    let mut all_sorted = all.clone();
    all_sorted.sort();
    assert_eq!(sorted, all_sorted);
    let pass = |d: &wgflow::data::ImageDataset| -> Vec<i32> {
        batches(&d.dataset, &cpu())
            .iter()
            .flat_map(|x| ints(&x.1))
            .collect()
    };
    let (pa, pb) = (pass(&a), pass(&b));
    assert_eq!(pa, pb);
    // Each label comes out as often as its class has files.
    let mut counts = [0; 3];
    for l in &pa {
        counts[*l as usize] += 1;
    }
    assert_eq!(counts, [3, 5, 5]);

    // validation_split 0.25 of 13 files: the last 3 of the shuffled list are validation.
    let split = |subset| ImageDatasetOptions {
        validation_split: Some(0.25),
        subset: Some(subset),
        ..shuffled(3)
    };
    let train = image_dataset_from_directory(&tmp.0, &split(Subset::Training)).unwrap();
    let val = image_dataset_from_directory(&tmp.0, &split(Subset::Validation)).unwrap();
    assert_eq!((train.file_paths.len(), val.file_paths.len()), (10, 3));
    assert!(train.file_paths.iter().all(|p| !val.file_paths.contains(p)));
    let mut union = [train.file_paths.clone(), val.file_paths.clone()].concat();
    union.sort();
    assert_eq!(union, all_sorted);
    // A pass yields exactly each subset's labels.
    let mut tl = pass(&train);
    tl.sort();
    let mut want = train.labels.clone();
    want.sort();
    assert_eq!(tl, want);
    // 'both' is the two of them from one listing.
    let (t2, v2) = image_dataset_from_directory_both(
        &tmp.0,
        &ImageDatasetOptions {
            validation_split: Some(0.25),
            ..shuffled(3)
        },
    )
    .unwrap();
    assert_eq!(t2.file_paths, train.file_paths);
    assert_eq!(v2.file_paths, val.file_paths);
}

#[test]
fn loader_errors_are_clear() {
    let tmp = TempDir::new("errors");
    let bad = |o: ImageDatasetOptions, needle: &str| {
        let e = image_dataset_from_directory(&tmp.0, &o).unwrap_err();
        assert!(
            message(&e).contains("image_dataset_from_directory") && message(&e).contains(needle),
            "{e}"
        );
    };
    // Empty folder, and class folders without images.
    bad(opts([4, 4], Some(2)), "no images found");
    write(&tmp.0.join("cats/readme.txt"), b"x");
    bad(opts([4, 4], Some(2)), "no images found");
    let missing = image_dataset_from_directory(tmp.0.join("nope"), &opts([4, 4], None));
    assert!(matches!(missing, Err(Error::Io { .. })));

    pets(&tmp.0);
    let split = |s: f64| ImageDatasetOptions {
        validation_split: Some(s),
        subset: Some(Subset::Training),
        seed: Some(1),
        ..opts([4, 4], Some(2))
    };
    bad(split(1.5), "`validation_split` must be between 0 and 1");
    bad(split(0.0), "`validation_split` must be between 0 and 1");
    bad(
        ImageDatasetOptions {
            subset: Some(Subset::Validation),
            ..opts([4, 4], Some(2))
        },
        "if `subset` is set, `validation_split` must be set",
    );
    bad(
        ImageDatasetOptions {
            validation_split: Some(0.2),
            ..opts([4, 4], Some(2))
        },
        "if `subset` is set, `validation_split` must be set",
    );
    bad(
        ImageDatasetOptions {
            shuffle: true,
            seed: None,
            ..split(0.2)
        },
        "you must provide a `seed`",
    );
    bad(opts([0, 4], Some(2)), "`image_size` must be positive");
    bad(opts([4, 4], Some(0)), "`batch_size` must be positive");
    bad(
        ImageDatasetOptions {
            class_names: Some(vec!["cats".into(), "horses".into()]),
            ..opts([4, 4], Some(2))
        },
        "class name 'horses' is not a subfolder",
    );
    // A split too small to leave validation files.
    let e = image_dataset_from_directory(
        &tmp.0,
        &ImageDatasetOptions {
            subset: Some(Subset::Validation),
            ..split(0.01)
        },
    )
    .unwrap_err();
    assert!(message(&e).contains("no images left"), "{e}");

    // A corrupt file is one error item naming it; the other images still come.
    write(
        &tmp.0.join("cats/broken.jpg"),
        &[0xFF, 0xD8, 0xFF, 0xE0, 0, 16],
    );
    let ds = image_dataset_from_directory(&tmp.0, &opts([4, 4], None)).unwrap();
    let items: Vec<_> = ds.dataset.iter_on(&cpu()).unwrap().collect();
    assert_eq!(items.len(), 14);
    let errors: Vec<String> = items
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("broken.jpg") && errors[0].contains("decode_image"),
        "{}",
        errors[0]
    );

    // A GIF, which Keras would list, is refused up front by name.
    write(&tmp.0.join("dogs/anim.gif"), b"GIF89a");
    bad(opts([4, 4], Some(2)), "anim.gif");
}
