//! IDX files, the format of MNIST and Fashion-MNIST: two zero bytes, a dtype byte, the
//! number of dimensions, each dimension as a big-endian `u32`, then the values row-major.
//! Files may be gzipped (recognised by gzip's magic bytes, not by the file name).
//!
//! Only unsigned bytes (dtype `0x08`) are read — every file of these datasets is one — and
//! the other IDX dtypes are named in the error. The data must fill the dimensions exactly:
//! a short file is truncated, a long one is not what its header says, and both are
//! [`Error::Format`]s rather than a silently shorter or misread array.

use crate::error::{Error, Result};
use flate2::read::MultiGzDecoder;
use ndarray::{ArrayD, IxDyn};
use std::io::Read;
use std::path::Path;

/// The IDX dtype byte's meaning, for error messages.
fn dtype_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0x08 => "unsigned byte",
        0x09 => "signed byte",
        0x0B => "int16",
        0x0C => "int32",
        0x0D => "float32",
        0x0E => "float64",
        _ => return None,
    })
}

/// Parses IDX bytes (gzipped or not) into an unsigned-byte array of the header's shape;
/// `name` (a path or URL) appears in error messages.
///
/// ```
/// use wgflow::data::datasets::parse_idx;
/// // Two 2x3 "images": magic 0x00000803, dimensions 2, 2, 3, then 12 pixels.
/// let mut bytes = vec![0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3];
/// bytes.extend(0u8..12);
/// let a = parse_idx(&bytes, "images.idx3-ubyte")?;
/// assert_eq!(a.shape(), &[2, 2, 3]);
/// assert_eq!(a[[1, 0, 2]], 8);
/// assert!(parse_idx(&bytes[..15], "cut").is_err());
/// # Ok::<(), wgflow::Error>(())
/// ```
pub fn parse_idx(bytes: &[u8], name: &str) -> Result<ArrayD<u8>> {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut raw = Vec::new();
        MultiGzDecoder::new(bytes)
            .read_to_end(&mut raw)
            .map_err(|e| Error::format(name, format!("corrupt gzip stream: {e}")))?;
        return parse_raw(raw, name);
    }
    parse_raw(bytes.to_vec(), name)
}

/// Reads an IDX file (gzipped or not), as [`parse_idx`].
pub fn read_idx(path: impl AsRef<Path>) -> Result<ArrayD<u8>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path.display(), e))?;
    parse_idx(&bytes, &path.display().to_string())
}

fn parse_raw(mut bytes: Vec<u8>, name: &str) -> Result<ArrayD<u8>> {
    let bad = |msg: String| Error::format(name, msg);
    if bytes.len() < 4 {
        return Err(bad(format!(
            "truncated IDX header: {} bytes, the magic number alone needs 4",
            bytes.len()
        )));
    }
    if bytes[0] != 0 || bytes[1] != 0 {
        return Err(bad(format!(
            "not an IDX file: the magic number must start with two zero bytes, got \
             0x{:02x}{:02x}{:02x}{:02x}",
            bytes[0], bytes[1], bytes[2], bytes[3]
        )));
    }
    match dtype_name(bytes[2]) {
        Some(_) if bytes[2] == 0x08 => {}
        Some(dt) => {
            return Err(bad(format!(
                "IDX dtype 0x{:02x} ({dt}) is not supported; only unsigned bytes (0x08) are",
                bytes[2]
            )));
        }
        None => {
            return Err(bad(format!(
                "not an IDX file: unknown dtype byte 0x{:02x} (expected 0x08, 0x09, 0x0b-0x0e)",
                bytes[2]
            )));
        }
    }
    let rank = bytes[3] as usize;
    if rank == 0 {
        return Err(bad("IDX header declares 0 dimensions".into()));
    }
    let header = 4 + 4 * rank;
    if bytes.len() < header {
        return Err(bad(format!(
            "truncated IDX header: {rank} dimensions need {header} bytes, the file has {}",
            bytes.len()
        )));
    }
    let dims: Vec<usize> = bytes[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let n = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(format!("dimensions {dims:?} overflow the address space")))?;
    let data = bytes.len() - header;
    if data != n {
        let what = if data < n {
            "truncated"
        } else {
            "longer than its header says"
        };
        return Err(bad(format!(
            "IDX data {what}: dimensions {dims:?} need {n} bytes after the {header}-byte \
             header, the file has {data}"
        )));
    }
    bytes.drain(..header);
    ArrayD::from_shape_vec(IxDyn(&dims), bytes).map_err(|e| bad(e.to_string()))
}
