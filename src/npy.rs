//! Reading and writing numpy `.npy` files (format versions 1–3), the format TensorFlow's
//! fixtures and many datasets use. Writes are atomic: a temporary file, then a rename.

use crate::dtype::DType;
use crate::error::{Error, Result};
#[cfg(not(target_arch = "wasm32"))]
use crate::tensor::Tensor;
use std::path::Path;

/// The contents of an `.npy` file in wgflow's storage form (32-bit words).
#[derive(Clone, Debug, PartialEq)]
pub struct NpyArray {
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub words: Vec<u32>,
}

const MAGIC: &[u8] = b"\x93NUMPY";

fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}'"))?;
    let rest = header[at + key.len() + 2..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start();
    Some(rest)
}

/// Parses `.npy` bytes; `name` is used in error messages.
pub fn parse_npy(bytes: &[u8], name: &str) -> Result<NpyArray> {
    let bad = |msg: String| Error::format(name, msg);
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("not an .npy file (bad magic)".into()));
    }
    let major = bytes[6];
    let (hlen, hstart) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad("truncated header".into()));
            }
            (
                u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
                12,
            )
        }
        v => return Err(bad(format!("unsupported .npy version {v}"))),
    };
    let header = bytes
        .get(hstart..hstart + hlen)
        .ok_or_else(|| bad("truncated header".into()))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text".into()))?;
    let descr = header_value(header, "descr")
        .and_then(|v| v.strip_prefix('\''))
        .and_then(|v| v.split('\'').next())
        .ok_or_else(|| bad("header has no descr".into()))?;
    let fortran = header_value(header, "fortran_order")
        .ok_or_else(|| bad("header has no fortran_order".into()))?;
    if fortran.starts_with("True") {
        return Err(bad("Fortran-ordered arrays are not supported".into()));
    }
    let shape_text = header_value(header, "shape")
        .and_then(|v| v.strip_prefix('('))
        .and_then(|v| v.split(')').next())
        .ok_or_else(|| bad("header has no shape".into()))?;
    let shape = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<usize>()
                .map_err(|_| bad(format!("bad shape entry '{s}'")))
        })
        .collect::<Result<Vec<_>>>()?;
    let n: usize = shape.iter().product();
    let data = &bytes[hstart + hlen..];
    let (size, big) = match descr.as_bytes().first() {
        Some(b'>') => (descr[2..].parse::<usize>().unwrap_or(0), true),
        _ => (
            descr
                .get(2..)
                .and_then(|s| s.parse::<usize>().ok())
                .unwrap_or(0),
            false,
        ),
    };
    if big && size > 1 {
        return Err(bad(format!(
            "big-endian arrays are not supported ({descr})"
        )));
    }
    if data.len() < n * size {
        return Err(bad(format!(
            "data is truncated: {} bytes for {n} elements of {descr}",
            data.len()
        )));
    }
    let kind = descr.as_bytes().get(1).copied().unwrap_or(0);
    let le4 = |i: usize| u32::from_le_bytes(data[i * 4..i * 4 + 4].try_into().expect("4 bytes"));
    let le8 = |i: usize| u64::from_le_bytes(data[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    let (dtype, words): (DType, Vec<u32>) = match (kind, size) {
        (b'f', 4) => (DType::F32, (0..n).map(le4).collect()),
        (b'f', 8) => (
            DType::F32,
            (0..n)
                .map(|i| (f64::from_bits(le8(i)) as f32).to_bits())
                .collect(),
        ),
        (b'i', 4) => (DType::I32, (0..n).map(le4).collect()),
        (b'u', 4) => (DType::U32, (0..n).map(le4).collect()),
        (b'i', 8) => {
            let v = (0..n)
                .map(|i| {
                    let x = le8(i) as i64;
                    i32::try_from(x)
                        .map(|x| x as u32)
                        .map_err(|_| bad(format!("int64 value {x} does not fit int32")))
                })
                .collect::<Result<Vec<_>>>()?;
            (DType::I32, v)
        }
        (b'u' | b'i', 1) => {
            let signed = kind == b'i';
            (
                DType::I32,
                data[..n]
                    .iter()
                    .map(|&b| {
                        if signed {
                            b as i8 as i32 as u32
                        } else {
                            b as u32
                        }
                    })
                    .collect(),
            )
        }
        (b'b', 1) => (
            DType::Bool,
            data[..n].iter().map(|&b| (b != 0) as u32).collect(),
        ),
        _ => return Err(bad(format!("unsupported dtype '{descr}'"))),
    };
    Ok(NpyArray {
        shape,
        dtype,
        words,
    })
}

/// Reads an `.npy` file into host memory.
pub fn read_npy_array(path: impl AsRef<Path>) -> Result<NpyArray> {
    let p = path.as_ref();
    let bytes = std::fs::read(p).map_err(|e| Error::io(p.display(), e))?;
    parse_npy(&bytes, &p.display().to_string())
}

/// Reads an `.npy` file into a tensor on the current device.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_npy(path: impl AsRef<Path>) -> Result<Tensor> {
    let a = read_npy_array(path)?;
    Tensor::from_words(
        &a.words,
        &a.shape,
        a.dtype,
        &crate::device::current_device()?,
    )
}

/// The `.npy` bytes of an array.
pub fn npy_bytes(shape: &[usize], dtype: DType, words: &[u32]) -> Vec<u8> {
    let descr = match dtype {
        DType::F32 => "<f4",
        DType::I32 => "<i4",
        DType::U32 => "<u4",
        DType::Bool => "|b1",
    };
    let shape_txt = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_txt}, }}");
    // Pad so the data starts at a multiple of 64 bytes, ending the header with a newline.
    let total = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat(total.div_ceil(64) * 64 - total));
    header.push('\n');
    let mut out = MAGIC.to_vec();
    out.extend([1u8, 0]);
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    for &w in words {
        if dtype == DType::Bool {
            out.push((w != 0) as u8);
        } else {
            out.extend(w.to_le_bytes());
        }
    }
    out
}

/// A fresh temporary path beside `path`, for writing a file that is renamed into place:
/// unique per process and call, so concurrent writers never share one.
pub(crate) fn temp_path_beside(path: &Path) -> std::path::PathBuf {
    static SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let serial = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    dir.join(format!(".{name}.tmp{}.{serial}", std::process::id()))
}

/// Writes `bytes` to `path` atomically (a temporary file beside it, then a rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_path_beside(path);
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(tmp.display(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path.display(), e)
    })
}

/// Writes a tensor as an `.npy` file, atomically.
#[cfg(not(target_arch = "wasm32"))]
pub fn write_npy(path: impl AsRef<Path>, t: &Tensor) -> Result<()> {
    write_atomic(path.as_ref(), &npy_bytes(t.shape(), t.dtype(), &t.words()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_corrupt_files() {
        let words: Vec<u32> = [1.5f32, -2.0, 3.25].iter().map(|v| v.to_bits()).collect();
        let b = npy_bytes(&[3], DType::F32, &words);
        assert_eq!((b.len() - 12) % 64, 0, "data starts on a 64-byte boundary");
        let a = parse_npy(&b, "t").unwrap();
        assert_eq!(
            a,
            NpyArray {
                shape: vec![3],
                dtype: DType::F32,
                words
            }
        );
        assert!(parse_npy(&b[..b.len() - 1], "t").is_err());
        assert!(parse_npy(b"garbage", "t").is_err());
        let s = npy_bytes(&[], DType::I32, &[7]);
        assert_eq!(parse_npy(&s, "t").unwrap().shape, Vec::<usize>::new());
        let bools = npy_bytes(&[2, 1], DType::Bool, &[1, 0]);
        assert_eq!(parse_npy(&bools, "t").unwrap().words, vec![1, 0]);
    }
}
