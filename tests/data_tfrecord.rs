//! TFRecord files and `tf.train.Example` parsing against files TensorFlow wrote
//! (`tests/fixtures/tensorflow/interop/examples.tfrecord{,.gz}`, contents in `examples.json`),
//! plus corruption of every byte and truncation at every length.

mod common;

use common::devices;
use serde_json::Value;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use wgflow::data::{
    Example, Feature, FeatureDType, FeatureSpec, Features, FixedLenFeature,
    TFRecordCompressionType, TFRecordDataset, TFRecordOptions, TFRecordReader, TFRecordWriter,
    VarLenFeature, encode_record, parse_example, parse_single_example,
};
use wgflow::{DType, Error, with_device};

const NONE: TFRecordCompressionType = TFRecordCompressionType::None;
const GZIP: TFRecordCompressionType = TFRecordCompressionType::Gzip;
const ZLIB: TFRecordCompressionType = TFRecordCompressionType::Zlib;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tensorflow/interop")
        .join(name)
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("wgflow_data_{tag}_{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The expected Examples, as TensorFlow's script dumped them: `image` is one byte string
/// (its bytes as numbers), `label` int64s, `score` float32s (exact as doubles), `tags` strings.
struct Expected {
    image: Vec<u8>,
    label: Vec<i64>,
    score: Vec<f32>,
    tags: Vec<String>,
}

fn expected() -> Vec<Expected> {
    let text = std::fs::read_to_string(fixture("examples.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let ints = |k: &str| -> Vec<i64> {
                e[k].as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_i64().unwrap())
                    .collect()
            };
            Expected {
                image: ints("image")
                    .iter()
                    .map(|&v| u8::try_from(v).unwrap())
                    .collect(),
                label: ints("label"),
                score: e["score"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| {
                        // Python printed each float32 exactly as the shortest double;
                        // serde_json's default parser may land one ulp off, which the
                        // rounding to float32 absorbs.
                        let d = v.as_f64().unwrap();
                        assert!(((d as f32) as f64 - d).abs() <= d.abs() * 1e-15, "{d}");
                        d as f32
                    })
                    .collect(),
                tags: e["tags"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect(),
            }
        })
        .collect()
}

fn read_records(path: &Path, c: TFRecordCompressionType) -> Vec<Vec<u8>> {
    TFRecordDataset::new([path], c)
        .collect::<wgflow::Result<Vec<_>>>()
        .unwrap()
}

fn read_mem(name: &str, bytes: &[u8], c: TFRecordCompressionType) -> (Vec<Vec<u8>>, Option<Error>) {
    let mut ok = Vec::new();
    for r in TFRecordReader::from_reader(name, Cursor::new(bytes.to_vec()), c) {
        match r {
            Ok(v) => ok.push(v),
            Err(e) => return (ok, Some(e)),
        }
    }
    (ok, None)
}

/// Byte offsets where records start, and the file length, from the framing itself.
fn record_starts(file: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    let mut at = 0;
    while at < file.len() {
        let len = u64::from_le_bytes(file[at..at + 8].try_into().unwrap()) as usize;
        at += 16 + len;
        starts.push(at);
    }
    assert_eq!(at, file.len());
    starts
}

fn format_error(e: &Error) -> (&str, &str) {
    match e {
        Error::Format { path, msg } => (path, msg),
        other => panic!("expected a format error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// TensorFlow's files

#[test]
fn reads_tensorflows_examples_exactly() {
    let want = expected();
    let records = read_records(&fixture("examples.tfrecord"), NONE);
    assert_eq!(records.len(), want.len());
    for (i, (rec, w)) in records.iter().zip(&want).enumerate() {
        let ex = Example::from_string(rec).unwrap();
        let keys: Vec<&str> = ex
            .features
            .as_ref()
            .unwrap()
            .iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys.len(), 4, "example {i}: {keys:?}");
        let f = |k: &str| {
            ex.feature(k)
                .unwrap_or_else(|| panic!("example {i} lacks {k}"))
        };
        assert_eq!(
            f("image").as_bytes_list().unwrap(),
            std::slice::from_ref(&w.image),
            "example {i}"
        );
        assert_eq!(
            f("label").as_int64_list().unwrap(),
            &w.label[..],
            "example {i}"
        );
        assert_eq!(
            f("score").as_float_list().unwrap(),
            &w.score[..],
            "example {i}"
        );
        let tags: Vec<Vec<u8>> = w.tags.iter().map(|t| t.as_bytes().to_vec()).collect();
        assert_eq!(f("tags").as_bytes_list().unwrap(), &tags[..], "example {i}");
        // Parsed and serialized again: TensorFlow's bytes (entry order is kept).
        assert_eq!(&ex.serialize_to_string(), rec, "example {i} re-serialized");
    }
}

#[test]
fn reads_tensorflows_gzip_file() {
    let plain = read_records(&fixture("examples.tfrecord"), NONE);
    let gz = read_records(&fixture("examples.tfrecord.gz"), GZIP);
    assert_eq!(gz, plain);
}

/// TensorFlow's Python writes `Features.feature` (a protobuf map) in its hash-table order;
/// the file shows score, image, tags, label, so inserting in that order reproduces it.
fn build_examples() -> Vec<Example> {
    expected()
        .iter()
        .map(|w| {
            Example::new()
                .with("score", w.score.clone())
                .with("image", w.image.clone())
                .with(
                    "tags",
                    Feature::bytes_list(w.tags.iter().map(|t| t.as_bytes())),
                )
                .with("label", w.label.clone())
        })
        .collect()
}

#[test]
fn writing_the_examples_reproduces_tensorflows_bytes() {
    let dir = TempDir::new("rewrite");
    let out = dir.path("examples.tfrecord");
    let mut w = TFRecordWriter::new(&out, NONE).unwrap();
    for ex in build_examples() {
        w.write(&ex.serialize_to_string()).unwrap();
    }
    w.close().unwrap();
    let tf = std::fs::read(fixture("examples.tfrecord")).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), tf);

    // GZIP: same records and the same gzip header as TensorFlow's (zlib and miniz may pick
    // different deflate blocks, so the compressed bodies are not compared).
    let gz_out = dir.path("examples.tfrecord.gz");
    let mut w = TFRecordWriter::new(&gz_out, GZIP).unwrap();
    for ex in build_examples() {
        w.write(&ex.serialize_to_string()).unwrap();
    }
    w.close().unwrap();
    let ours = std::fs::read(&gz_out).unwrap();
    let theirs = std::fs::read(fixture("examples.tfrecord.gz")).unwrap();
    assert_eq!(ours[..10], theirs[..10], "gzip header");
    let mut inflated = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&ours[..]), &mut inflated)
        .unwrap();
    assert_eq!(
        inflated, tf,
        "an independent gzip reader sees TensorFlow's record bytes"
    );
}

// ---------------------------------------------------------------------------------------
// Round trips

fn sample_records() -> Vec<Vec<u8>> {
    let mut v = vec![Vec::new(), b"x".to_vec(), b"hello, tfrecord".to_vec()];
    // Larger than every internal buffer, and barely compressible.
    let mut s = 0x9e37_79b9u32;
    v.push(
        (0..300_000)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                s as u8
            })
            .collect(),
    );
    v.push(vec![7u8; 70_000]);
    v
}

#[test]
fn zlib_and_gzip_round_trip_at_every_level() {
    let dir = TempDir::new("roundtrip");
    let records = sample_records();
    for c in [NONE, ZLIB, GZIP] {
        for level in [None, Some(0), Some(1), Some(9)] {
            let path = dir.path(&format!("r_{}_{level:?}.tfrecord", c.name()));
            let mut opts = TFRecordOptions::new(c);
            opts.compression_level = level;
            let mut w = TFRecordWriter::new(&path, opts).unwrap();
            for r in &records {
                w.write(r).unwrap();
            }
            w.flush().unwrap();
            w.close().unwrap();
            assert_eq!(read_records(&path, c), records, "{c:?} level {level:?}");
        }
    }
    // The zlib stream is a real one: flate2's own reader agrees.
    let path = dir.path("r_ZLIB_None.tfrecord");
    let mut plain = Vec::new();
    let z = std::fs::read(&path).unwrap();
    std::io::Read::read_to_end(&mut flate2::read::ZlibDecoder::new(&z[..]), &mut plain).unwrap();
    let mut framed = Vec::new();
    for r in &records {
        encode_record(r, &mut framed);
    }
    assert_eq!(plain, framed);
    assert!(
        TFRecordWriter::new(
            dir.path("bad"),
            TFRecordOptions::new(GZIP).with_compression_level(10)
        )
        .is_err()
    );
}

#[test]
fn a_dataset_reads_several_files_in_order() {
    let dir = TempDir::new("several");
    let files = [
        ("a.tfrecord", vec![b"a0".to_vec(), b"a1".to_vec()]),
        ("empty.tfrecord", vec![]),
        ("b.tfrecord", vec![b"b0".to_vec()]),
        (
            "c.tfrecord",
            vec![b"c0".to_vec(), Vec::new(), b"c2".to_vec()],
        ),
    ];
    for c in [NONE, GZIP, ZLIB] {
        let mut paths = Vec::new();
        for (name, recs) in &files {
            let p = dir.path(&format!("{}_{name}", c.name()));
            let mut w = TFRecordWriter::new(&p, c).unwrap();
            for r in recs {
                w.write(r).unwrap();
            }
            w.close().unwrap();
            paths.push(p);
        }
        let got: Vec<Vec<u8>> = TFRecordDataset::new(&paths, c)
            .collect::<wgflow::Result<_>>()
            .unwrap();
        let want: Vec<Vec<u8>> = files.iter().flat_map(|(_, r)| r.clone()).collect();
        assert_eq!(got, want, "{c:?}");
    }
    // A missing file: the earlier files' records, then an I/O error naming it, then the end.
    let missing = dir.path("missing.tfrecord");
    let mut it = TFRecordDataset::new([dir.path("_a.tfrecord"), missing.clone()], NONE);
    assert_eq!(it.next().unwrap().unwrap(), b"a0");
    assert_eq!(it.next().unwrap().unwrap(), b"a1");
    match it.next() {
        Some(Err(Error::Io { path, .. })) => assert_eq!(path, missing.display().to_string()),
        other => panic!("expected an I/O error, got {other:?}"),
    }
    assert!(it.next().is_none());
    // The wrong compression type is a clean format error, not garbage records.
    let e = TFRecordDataset::new([fixture("examples.tfrecord.gz")], NONE)
        .collect::<wgflow::Result<Vec<_>>>()
        .unwrap_err();
    format_error(&e);
    let e = TFRecordDataset::new([fixture("examples.tfrecord")], GZIP)
        .collect::<wgflow::Result<Vec<_>>>()
        .unwrap_err();
    assert!(format_error(&e).1.contains("gzip magic"), "{e}");
}

#[test]
fn writers_publish_only_on_close() {
    let dir = TempDir::new("atomic");
    let path = dir.path("out.tfrecord");
    std::fs::write(&path, b"old contents").unwrap();
    {
        let mut w = TFRecordWriter::new(&path, GZIP).unwrap();
        w.write(b"new").unwrap();
        w.flush().unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"old contents",
            "not visible before close"
        );
        // Dropped without close: nothing published, no temporary left behind.
    }
    assert_eq!(std::fs::read(&path).unwrap(), b"old contents");
    assert_eq!(dir.entries(), vec!["out.tfrecord".to_string()]);
    let mut w = TFRecordWriter::new(&path, NONE).unwrap();
    w.write(b"new").unwrap();
    w.close().unwrap();
    assert_eq!(read_records(&path, NONE), vec![b"new".to_vec()]);
    assert_eq!(dir.entries(), vec!["out.tfrecord".to_string()]);
    // A directory that does not exist: an I/O error naming the temporary beside the path.
    match TFRecordWriter::new(dir.path("no/such/dir.tfrecord"), NONE) {
        Err(Error::Io { path, .. }) => assert!(path.contains("dir.tfrecord"), "{path}"),
        Err(e) => panic!("expected an I/O error, got {e:?}"),
        Ok(_) => panic!("expected an I/O error"),
    }
}

// ---------------------------------------------------------------------------------------
// Corruption

/// Flips each byte of `file` in turn: the records before the damaged one still read, then a
/// CRC error naming the file and the damaged record's offset. Every byte of a record is
/// covered by one of its two CRCs, so no flip goes unnoticed.
fn check_every_flip(name: &str, file: &[u8]) {
    let records = read_mem(name, file, NONE);
    assert!(records.1.is_none());
    let starts = record_starts(file);
    for i in 0..file.len() {
        let mut bad = file.to_vec();
        bad[i] ^= 0xff;
        let k = starts.iter().rposition(|&s| s <= i).unwrap();
        let (ok, err) = read_mem(name, &bad, NONE);
        let err = err.unwrap_or_else(|| panic!("flipping byte {i} went unnoticed"));
        assert_eq!(ok, records.0[..k], "byte {i}: records before the damage");
        let (path, msg) = format_error(&err);
        assert_eq!(path, name);
        let within = i - starts[k];
        assert!(
            msg.contains(&format!("corrupted record at offset {}:", starts[k]))
                && msg.contains("CRC32C"),
            "byte {i}: {msg}"
        );
        let part = if within < 12 {
            "of the length"
        } else {
            "data bytes"
        };
        assert!(msg.contains(part), "byte {i}: {msg}");
    }
}

/// Cuts `file` at every length: a cut at a record boundary is a valid shorter file; any other
/// is a truncation error naming the file and the cut record's offset.
fn check_every_truncation(name: &str, file: &[u8]) {
    let all = read_mem(name, file, NONE).0;
    let starts = record_starts(file);
    for cut in 0..file.len() {
        let (ok, err) = read_mem(name, &file[..cut], NONE);
        let k = starts.iter().rposition(|&s| s <= cut).unwrap();
        assert_eq!(ok, all[..k], "cut {cut}");
        if starts[k] == cut {
            assert!(err.is_none(), "cut {cut} at a record boundary: {err:?}");
        } else {
            let err = err.unwrap_or_else(|| panic!("cutting at {cut} went unnoticed"));
            let (path, msg) = format_error(&err);
            assert_eq!(path, name);
            assert!(
                msg.contains(&format!("truncated record at offset {}:", starts[k])),
                "cut {cut}: {msg}"
            );
        }
    }
}

fn small_file() -> Vec<u8> {
    let mut f = Vec::new();
    for r in [&b""[..], b"abc", b"0123456789ab"] {
        encode_record(r, &mut f);
    }
    f
}

#[test]
fn every_flipped_byte_is_a_crc_error() {
    check_every_flip("small.tfrecord", &small_file());
    check_every_flip(
        "examples.tfrecord",
        &std::fs::read(fixture("examples.tfrecord")).unwrap(),
    );
}

#[test]
fn every_truncation_is_an_error_unless_at_a_record_boundary() {
    check_every_truncation("small.tfrecord", &small_file());
    check_every_truncation(
        "examples.tfrecord",
        &std::fs::read(fixture("examples.tfrecord")).unwrap(),
    );
}

#[test]
fn corrupt_files_on_disk_name_the_file_and_offset() {
    let dir = TempDir::new("corrupt");
    let mut f = small_file();
    f[16 + 12 + 1] ^= 1; // second record ("abc"), starting at 16
    let p = dir.path("bad.tfrecord");
    std::fs::write(&p, &f).unwrap();
    let err = TFRecordDataset::new([&p], NONE)
        .collect::<wgflow::Result<Vec<_>>>()
        .unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains(&p.display().to_string()) && shown.contains("offset 16"),
        "{shown}"
    );
    // A length that is wrong but carries a matching CRC (a buggy writer): the data CRC or
    // the end of the file catches it.
    let mut f = Vec::new();
    encode_record(b"abcdef", &mut f);
    let len = 3u64.to_le_bytes();
    f[..8].copy_from_slice(&len);
    f[8..12].copy_from_slice(&wgflow::data::masked_crc32c(&len).to_le_bytes());
    let (_, err) = read_mem("wronglen", &f, NONE);
    assert!(
        format_error(&err.unwrap())
            .1
            .contains("CRC32C of the 3 data bytes")
    );
    let huge = (1u64 << 60).to_le_bytes();
    f[..8].copy_from_slice(&huge);
    f[8..12].copy_from_slice(&wgflow::data::masked_crc32c(&huge).to_le_bytes());
    let (_, err) = read_mem("hugelen", &f, NONE);
    assert!(
        format_error(&err.unwrap())
            .1
            .contains("truncated record at offset 0")
    );
}

/// Compressed files: a flip is caught by the deflate decoder, the gzip CRC-32 or a record
/// CRC, except in header bytes nothing checks (gzip's mtime, extra flags, OS), where the
/// records still read unchanged. Every cut is an error.
#[test]
fn damaged_gzip_and_zlib_files_are_clean_errors() {
    let gz = std::fs::read(fixture("examples.tfrecord.gz")).unwrap();
    let plain = std::fs::read(fixture("examples.tfrecord")).unwrap();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut z, &small_file()).unwrap();
    let zlib = z.finish().unwrap();
    for (c, file, name) in [
        (GZIP, &gz, "examples.tfrecord.gz"),
        (ZLIB, &zlib, "small.tfrecord.z"),
    ] {
        let all = read_mem(name, file, c);
        assert!(all.1.is_none());
        let mut unnoticed = Vec::new();
        for i in 0..file.len() {
            let mut bad = file.clone();
            bad[i] ^= 0xff;
            match read_mem(name, &bad, c) {
                (ok, None) => {
                    assert_eq!(ok, all.0, "{name}: byte {i} changed the records unnoticed");
                    unnoticed.push(i);
                }
                (_, Some(e)) => assert_eq!(format_error(&e).0, name),
            }
        }
        if c == GZIP {
            assert!(
                unnoticed.iter().all(|i| (4..10).contains(i)),
                "{unnoticed:?}"
            );
        } else {
            assert!(unnoticed.is_empty(), "{unnoticed:?}");
        }
        for cut in 1..file.len() {
            let (_, e) = read_mem(name, &file[..cut], c);
            let e = e.unwrap_or_else(|| panic!("{name}: cut at {cut} went unnoticed"));
            let (path, msg) = format_error(&e);
            assert_eq!(path, name);
            assert!(msg.contains("offset"), "{msg}");
        }
        let (ok, e) = read_mem(name, &[], c);
        assert!(ok.is_empty() && e.is_none(), "an empty file has no records");
    }
    // A corrupt record inside a sound gzip stream: the record offset is in the decompressed
    // stream and says so.
    let mut bad = plain.clone();
    bad[120] ^= 1;
    let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut g, &bad).unwrap();
    let (ok, e) = read_mem("x.gz", &g.finish().unwrap(), GZIP);
    assert_eq!(ok.len(), 1);
    let msg = e.unwrap().to_string();
    assert!(
        msg.contains("offset 116 of the decompressed GZIP stream"),
        "{msg}"
    );
}

// ---------------------------------------------------------------------------------------
// Example parsing

fn fixture_spec() -> Vec<(&'static str, FeatureSpec)> {
    vec![
        (
            "image",
            FixedLenFeature::new([], FeatureDType::String).into(),
        ),
        (
            "label",
            FixedLenFeature::new([1], FeatureDType::Int64).into(),
        ),
        (
            "score",
            FixedLenFeature::new([3], FeatureDType::Float32).into(),
        ),
        ("tags", VarLenFeature::new(FeatureDType::String).into()),
    ]
}

#[test]
fn parse_single_example_reads_every_feature() {
    let want = expected();
    let records = read_records(&fixture("examples.tfrecord"), NONE);
    for dev in devices() {
        with_device(&dev, || {
            for (rec, w) in records.iter().zip(&want) {
                let p = parse_single_example(rec, &fixture_spec()).unwrap();
                let image = p.bytes("image").unwrap();
                assert_eq!(image.shape(), &[] as &[usize]);
                assert_eq!(image.values(), std::slice::from_ref(&w.image));
                let label = p.tensor("label").unwrap();
                assert_eq!((label.shape(), label.dtype()), (&[1usize][..], DType::I32));
                let label64: Vec<i64> = label
                    .to_vec::<i32>()
                    .unwrap()
                    .into_iter()
                    .map(i64::from)
                    .collect();
                assert_eq!(label64, w.label);
                let score = p.tensor("score").unwrap();
                assert_eq!(score.shape(), &[3]);
                assert_eq!(score.to_vec::<f32>().unwrap(), w.score);
                let tags = p.sparse_bytes("tags").unwrap();
                let n = w.tags.len();
                assert_eq!(tags.indices.shape(), &[n, 1]);
                assert_eq!(
                    tags.indices.to_vec::<i32>().unwrap(),
                    (0..n as i32).collect::<Vec<_>>()
                );
                assert_eq!(tags.dense_shape.to_vec::<i32>().unwrap(), vec![n as i32]);
                let got: Vec<&[u8]> = tags.values.values().iter().map(|v| &v[..]).collect();
                let exp: Vec<&[u8]> = w.tags.iter().map(|t| t.as_bytes()).collect();
                assert_eq!(got, exp);
            }
        });
    }
}

#[test]
fn parse_example_batches_the_fixture() {
    let want = expected();
    let records = read_records(&fixture("examples.tfrecord.gz"), GZIP);
    for dev in devices() {
        with_device(&dev, || {
            let p = parse_example(&records, &fixture_spec()).unwrap();
            let b = want.len();
            assert_eq!(p.len(), 4);
            assert_eq!(p.bytes("image").unwrap().shape(), &[b]);
            let images: Vec<Vec<u8>> = want.iter().map(|w| w.image.clone()).collect();
            assert_eq!(p.bytes("image").unwrap().values(), &images[..]);
            let label = p.tensor("label").unwrap();
            assert_eq!(label.shape(), &[b, 1]);
            let labels: Vec<i32> = want.iter().map(|w| w.label[0] as i32).collect();
            assert_eq!(label.to_vec::<i32>().unwrap(), labels);
            let score = p.tensor("score").unwrap();
            assert_eq!(score.shape(), &[b, 3]);
            let scores: Vec<f32> = want.iter().flat_map(|w| w.score.clone()).collect();
            assert_eq!(score.to_vec::<f32>().unwrap(), scores);
            let tags = p.sparse_bytes("tags").unwrap();
            let mut idx = Vec::new();
            let mut vals = Vec::new();
            for (i, w) in want.iter().enumerate() {
                for (j, t) in w.tags.iter().enumerate() {
                    idx.extend([i as i32, j as i32]);
                    vals.push(t.as_bytes().to_vec());
                }
            }
            assert_eq!(tags.indices.shape(), &[vals.len(), 2]);
            assert_eq!(tags.indices.to_vec::<i32>().unwrap(), idx);
            assert_eq!(tags.values.values(), &vals[..]);
            assert_eq!(tags.dense_shape.to_vec::<i32>().unwrap(), vec![b as i32, 2]);
        });
    }
}

#[test]
fn fixed_len_shapes_and_defaults() {
    let full = Example::new()
        .with("m", Feature::float_list((0..6).map(|v| v as f32)))
        .with("k", 41)
        .with("s", "only")
        .with("e", Feature::float_list([]))
        .serialize_to_string();
    let sparse = Example::new().with("other", 1.0f32).serialize_to_string();
    let spec: Vec<(&str, FeatureSpec)> = vec![
        (
            "m",
            FixedLenFeature::new([2, 3], FeatureDType::Float32)
                .with_default(vec![9.0f32; 6])
                .into(),
        ),
        (
            "k",
            FixedLenFeature::new([], FeatureDType::Int64)
                .with_default(-7)
                .into(),
        ),
        (
            "s",
            FixedLenFeature::new([1], FeatureDType::String)
                .with_default(["none"])
                .into(),
        ),
        (
            "e",
            FixedLenFeature::new([0], FeatureDType::Float32)
                .with_default(Feature::float_list([]))
                .into(),
        ),
    ];
    for dev in devices() {
        with_device(&dev, || {
            let p = parse_example(&[&full, &sparse], &spec).unwrap();
            let m = p.tensor("m").unwrap();
            assert_eq!(m.shape(), &[2, 2, 3]);
            let mut mv: Vec<f32> = (0..6).map(|v| v as f32).collect();
            mv.extend([9.0; 6]);
            assert_eq!(m.to_vec::<f32>().unwrap(), mv);
            let k = p.tensor("k").unwrap();
            assert_eq!((k.shape(), k.dtype()), (&[2usize][..], DType::I32));
            assert_eq!(k.to_vec::<i32>().unwrap(), vec![41, -7]);
            assert_eq!(
                p.bytes("s").unwrap().values(),
                &[b"only".to_vec(), b"none".to_vec()]
            );
            assert_eq!(p.bytes("s").unwrap().shape(), &[2, 1]);
            // Shape [0]: no values, present or by default.
            assert_eq!(p.tensor("e").unwrap().shape(), &[2, 0]);
            let single = parse_single_example(&sparse, &spec).unwrap();
            assert_eq!(single.tensor("k").unwrap().shape(), &[] as &[usize]);
            assert_eq!(single.tensor("k").unwrap().to_scalar::<i32>().unwrap(), -7);
            assert_eq!(single.tensor("m").unwrap().shape(), &[2, 3]);
            // An empty batch: tensors with a zero batch dimension.
            let empty = parse_example::<Vec<u8>>(&[], &spec).unwrap();
            assert_eq!(empty.tensor("m").unwrap().shape(), &[0, 2, 3]);
        });
    }
}

#[test]
fn var_len_features_are_sparse_tensors() {
    let exs: Vec<Vec<u8>> = [
        Example::new()
            .with("v", Feature::float_list([]))
            .with("i", [3i64, -4, 5]),
        Example::new().with("v", [1.5f32, 2.5]),
        Example::new()
            .with("v", [3.5f32])
            .with("i", [i64::from(i32::MIN)]),
        Example::new(),
    ]
    .iter()
    .map(Example::serialize_to_string)
    .collect();
    let spec: Vec<(&str, FeatureSpec)> = vec![
        ("v", VarLenFeature::new(FeatureDType::Float32).into()),
        ("i", VarLenFeature::new(FeatureDType::Int64).into()),
    ];
    for dev in devices() {
        with_device(&dev, || {
            let p = parse_example(&exs, &spec).unwrap();
            let v = p.sparse("v").unwrap();
            assert_eq!(v.indices.shape(), &[3, 2]);
            assert_eq!(v.indices.to_vec::<i32>().unwrap(), vec![1, 0, 1, 1, 2, 0]);
            assert_eq!(v.values.to_vec::<f32>().unwrap(), vec![1.5, 2.5, 3.5]);
            assert_eq!(v.dense_shape.to_vec::<i32>().unwrap(), vec![4, 2]);
            let i = p.sparse("i").unwrap();
            assert_eq!(i.values.dtype(), DType::I32);
            assert_eq!(
                i.indices.to_vec::<i32>().unwrap(),
                vec![0, 0, 0, 1, 0, 2, 2, 0]
            );
            assert_eq!(i.values.to_vec::<i32>().unwrap(), vec![3, -4, 5, i32::MIN]);
            assert_eq!(i.dense_shape.to_vec::<i32>().unwrap(), vec![4, 3]);
            // Missing everywhere: an empty SparseTensor, indices [0, 1] for one example.
            let none = parse_single_example(&exs[3], &spec).unwrap();
            let v = none.sparse("v").unwrap();
            assert_eq!(v.indices.shape(), &[0, 1]);
            assert_eq!(v.values.shape(), &[0]);
            assert_eq!(v.dense_shape.to_vec::<i32>().unwrap(), vec![0]);
        });
    }
}

fn invalid_msg(r: wgflow::Result<wgflow::data::ParsedFeatures>) -> String {
    match r {
        Err(Error::InvalidArgument { op, msg }) => format!("{op}: {msg}"),
        Err(e) => panic!("expected an invalid-argument error, got {e:?}"),
        Ok(_) => panic!("expected an error"),
    }
}

fn dtype_msg(r: wgflow::Result<wgflow::data::ParsedFeatures>) -> String {
    match r {
        Err(Error::DType { op, msg }) => format!("{op}: {msg}"),
        Err(e) => panic!("expected a dtype error, got {e:?}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn parse_errors_name_the_key_and_the_problem() {
    let good = Example::new()
        .with("score", [1.0f32, 2.0, 3.0])
        .with("label", 1)
        .serialize_to_string();
    let no_label = Example::new()
        .with("score", [1.0f32, 2.0, 3.0])
        .serialize_to_string();
    let score = || FixedLenFeature::new([3], FeatureDType::Float32);
    let label = || FixedLenFeature::new([], FeatureDType::Int64);

    // Missing without a default; in a batch the example's index is named.
    let m = invalid_msg(parse_example(
        &[&good, &no_label],
        &[("label", label().into())],
    ));
    assert!(
        m.starts_with("parse_example: example 1, feature 'label':")
            && m.contains("could not be found"),
        "{m}"
    );
    let m = invalid_msg(parse_single_example(
        &no_label,
        &[("label", label().into())],
    ));
    assert!(
        m.starts_with("parse_single_example: feature 'label':"),
        "{m}"
    );

    // Wrong type: the list the example has and the dtype the spec asks for.
    let m = dtype_msg(parse_single_example(
        &good,
        &[(
            "score",
            FixedLenFeature::new([3], FeatureDType::Int64).into(),
        )],
    ));
    assert!(
        m.contains("feature 'score'") && m.contains("float_list") && m.contains("int64"),
        "{m}"
    );
    let m = dtype_msg(parse_single_example(
        &good,
        &[("label", VarLenFeature::new(FeatureDType::String).into())],
    ));
    assert!(
        m.contains("feature 'label'") && m.contains("int64_list") && m.contains("string"),
        "{m}"
    );

    // Wrong number of values.
    let m = invalid_msg(parse_single_example(
        &good,
        &[(
            "score",
            FixedLenFeature::new([2, 2], FeatureDType::Float32).into(),
        )],
    ));
    assert!(
        m.contains("feature 'score'") && m.contains("expected 4 values") && m.contains("has 3"),
        "{m}"
    );

    // int64 values outside int32 (wgflow's integer dtype) are errors, not wrapped numbers.
    let big = Example::new()
        .with("label", 1i64 << 40)
        .serialize_to_string();
    let m = invalid_msg(parse_single_example(&big, &[("label", label().into())]));
    assert!(
        m.contains("feature 'label'") && m.contains("1099511627776") && m.contains("int32"),
        "{m}"
    );
    let m = invalid_msg(parse_single_example(
        &big,
        &[("label", VarLenFeature::new(FeatureDType::Int64).into())],
    ));
    assert!(m.contains("1099511627776"), "{m}");

    // Bad defaults are found before any example.
    let m = dtype_msg(parse_single_example(
        &good,
        &[("x", label().with_default(1.5f32).into())],
    ));
    assert!(
        m.contains("feature 'x'") && m.contains("default_value is a float_list"),
        "{m}"
    );
    let m = invalid_msg(parse_single_example(
        &good,
        &[("x", score().with_default([1.0f32]).into())],
    ));
    assert!(
        m.contains("feature 'x'") && m.contains("default_value has 1 values"),
        "{m}"
    );

    // A spec naming a key twice, and bytes that are not an Example.
    let m = invalid_msg(parse_single_example(
        &good,
        &[("score", score().into()), ("score", score().into())],
    ));
    assert!(m.contains("'score' appears twice"), "{m}");
    let m = invalid_msg(parse_example(
        &[&good[..], &[0xff, 0xff, 0xff][..]],
        &[("score", score().into())],
    ));
    assert!(
        m.starts_with("parse_example: example 1:") && m.contains("tf.train.Example"),
        "{m}"
    );

    // Asking the result for the wrong kind, or a key the spec did not have.
    let p = parse_single_example(&good, &[("score", score().into())]).unwrap();
    assert!(
        p.sparse("score")
            .unwrap_err()
            .to_string()
            .contains("dense tensor")
    );
    assert!(p.bytes("score").is_err());
    let e = p.tensor("scores").unwrap_err().to_string();
    assert!(e.contains("'scores'") && e.contains("score"), "{e}");
}

#[test]
fn features_keep_order_and_last_duplicate_wins() {
    let mut f: Features = [("b", Feature::from(1)), ("a", Feature::from(2.0f32))]
        .into_iter()
        .collect();
    assert_eq!(f.insert("b", "text"), Some(Feature::from(1)));
    let keys: Vec<&str> = f.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, vec!["b", "a"], "replaced in place");
    assert_eq!(
        f.get("b").unwrap().as_bytes_list().unwrap(),
        &[b"text".to_vec()]
    );
    assert!(f.get("c").is_none() && f.len() == 2);
    // Two serialized Examples concatenated merge as protobuf says: the map's later entry wins.
    let mut bytes = Example::new().with("k", 1).serialize_to_string();
    bytes.extend(Example::new().with("k", 2).serialize_to_string());
    let ex = Example::from_string(&bytes).unwrap();
    assert_eq!(ex.feature("k").unwrap().as_int64_list().unwrap(), &[2]);
    let p = parse_single_example(
        &bytes,
        &[("k", FixedLenFeature::new([], FeatureDType::Int64).into())],
    )
    .unwrap();
    assert_eq!(p.tensor("k").unwrap().to_scalar::<i32>().unwrap(), 2);
    // Setting it again leaves one entry.
    let mut f2 = ex.features.clone().unwrap();
    f2.insert("k", 3);
    assert_eq!(f2.len(), 1);
    // An empty Example and an empty feature list both survive a round trip.
    let e = Example::new().with("empty", Feature::int64_list([]));
    assert_eq!(Example::from_string(&e.serialize_to_string()).unwrap(), e);
    assert_eq!(Example::from_string(&[]).unwrap(), Example::new());
}

/// `TFRecordDataset::map`: records parsed into a `Dataset` sequentially and on worker
/// threads give the same batches; a record that is not an Example is an error item naming
/// its index and the others still come; a corrupt file ends the pass with an error item.
#[test]
fn tfrecord_dataset_map_parses_into_a_dataset() {
    let dir = TempDir::new("map");
    let path = dir.path("m.tfrecord");
    let mut w = TFRecordWriter::new(&path, NONE).unwrap();
    for i in 0..300i64 {
        if i == 123 {
            w.write(b"\xffnot an example").unwrap();
            continue;
        }
        let ex = Example::new()
            .with("x", Feature::float_list([i as f32, 0.5 * i as f32]))
            .with("label", Feature::int64_list([i]));
        w.write(&ex.serialize_to_string()).unwrap();
    }
    w.close().unwrap();
    let parse = |r: Vec<u8>| -> wgflow::Result<(wgflow::Tensor, wgflow::Tensor)> {
        let spec = [
            ("x", FixedLenFeature::new([2], FeatureDType::Float32).into()),
            (
                "label",
                FixedLenFeature::new([], FeatureDType::Int64).into(),
            ),
        ];
        let p = parse_single_example(&r, &spec)?;
        Ok((p.tensor("x")?.clone(), p.tensor("label")?.clone()))
    };
    type Item = std::result::Result<(Vec<f32>, Vec<i32>), String>;
    let run = |threads: usize| -> Vec<Item> {
        let ds = TFRecordDataset::new([&path], NONE).map(parse, threads);
        assert_eq!(ds.cardinality(), wgflow::data::Cardinality::Unknown);
        ds.iter_on(&wgflow::Device::cpu())
            .unwrap()
            .map(|r| {
                r.map(|(x, y)| (x.to_vec::<f32>().unwrap(), y.to_vec::<i32>().unwrap()))
                    .map_err(|e| e.to_string())
            })
            .collect()
    };
    let seq = run(1);
    assert_eq!(seq.len(), 300);
    for (i, item) in seq.iter().enumerate() {
        match item {
            Err(e) => {
                assert_eq!(i, 123);
                assert!(e.contains("element 123"), "{e}");
            }
            Ok((x, y)) => assert_eq!(
                (x.clone(), y.clone()),
                (vec![i as f32, 0.5 * i as f32], vec![i as i32])
            ),
        }
    }
    assert_eq!(run(3), seq);
    // Each pass re-reads the file.
    let ds = TFRecordDataset::new([&path], NONE)
        .map(parse, 2)
        .batch(7, false)
        .unwrap();
    for _ in 0..2 {
        let items: Vec<_> = ds.iter_on(&wgflow::Device::cpu()).unwrap().collect();
        assert_eq!(items.iter().filter(|r| r.is_err()).count(), 1);
        // 299 Examples in batches of 7, and the error item.
        assert_eq!(items.len(), 299usize.div_ceil(7) + 1);
    }
    // A corrupt file: the records before the damage, then one error item, then the end.
    let mut bytes = std::fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    for threads in [1, 2] {
        let items: Vec<_> = TFRecordDataset::new([&path], NONE)
            .map(parse, threads)
            .iter_on(&wgflow::Device::cpu())
            .unwrap()
            .collect();
        let last = items.last().unwrap();
        let e = last
            .as_ref()
            .expect_err("the pass ends with the corruption error");
        assert!(matches!(e, Error::Format { .. }), "{e:?}");
        assert!(items.len() < 300);
    }
}
