//! TFRecord files against files TensorFlow wrote
//! (`tests/fixtures/tensorflow/interop/examples.tfrecord{,.gz}`), plus corruption of every
//! byte and truncation at every length.

mod common;

use std::io::Cursor;
use std::path::{Path, PathBuf};
use wgflow::Error;
use wgflow::data::{
    TFRecordCompressionType, TFRecordDataset, TFRecordOptions, TFRecordReader, TFRecordWriter,
    encode_record,
};

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
#[test]
fn reads_tensorflows_gzip_file() {
    let plain = read_records(&fixture("examples.tfrecord"), NONE);
    let gz = read_records(&fixture("examples.tfrecord.gz"), GZIP);
    assert_eq!(gz, plain);
}

#[test]
fn rewriting_tensorflows_records_reproduces_its_bytes() {
    let dir = TempDir::new("rewrite");
    let tf = std::fs::read(fixture("examples.tfrecord")).unwrap();
    let records = read_records(&fixture("examples.tfrecord"), NONE);
    assert_eq!(records.len(), 5);
    let out = dir.path("examples.tfrecord");
    let mut w = TFRecordWriter::new(&out, NONE).unwrap();
    for r in &records {
        w.write(r).unwrap();
    }
    w.close().unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), tf);

    // GZIP: same records and the same gzip header as TensorFlow's (zlib and miniz may pick
    // different deflate blocks, so the compressed bodies are not compared).
    let gz_out = dir.path("examples.tfrecord.gz");
    let mut w = TFRecordWriter::new(&gz_out, GZIP).unwrap();
    for r in &records {
        w.write(r).unwrap();
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
