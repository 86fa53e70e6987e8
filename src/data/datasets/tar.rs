//! Just enough of the tar format to take named files out of an archive stream (CIFAR-10's
//! `cifar-10-binary.tar.gz`): 512-byte headers with an octal size and a checksum, each
//! file's data padded to 512 bytes, two zero blocks at the end. ustar prefixes, GNU long
//! names and pax headers are understood; links and special files are skipped.
//!
//! Every header's checksum is verified and a stream that ends inside a header or a file is
//! an [`Error::Format`] naming the archive and the byte offset, so a damaged download is
//! never read as a shorter archive.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::io::Read;

const BLOCK: usize = 512;

/// Reads exactly `buf.len()` bytes, or says how many came before the end.
fn fill(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A NUL-terminated header field as text.
fn field(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// An octal header number (space- or NUL-terminated), or GNU's base-256 form.
fn octal(bytes: &[u8]) -> Option<u64> {
    if bytes.first().is_some_and(|&b| b & 0x80 != 0) {
        let mut v = (bytes[0] & 0x7f) as u64;
        for &b in &bytes[1..] {
            v = v.checked_mul(256)?.checked_add(b as u64)?;
        }
        return Some(v);
    }
    let text = field(bytes);
    let text = text.trim_matches([' ', '\0']);
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(text, 8).ok()
}

/// The files of a tar stream for which `wanted(name)` holds, by name. `archive` names the
/// stream in errors.
pub(crate) fn read_files(
    mut r: impl Read,
    archive: &str,
    wanted: impl Fn(&str) -> bool,
) -> Result<BTreeMap<String, Vec<u8>>> {
    let bad =
        |offset: u64, msg: String| Error::format(archive, format!("tar, byte {offset}: {msg}"));
    let io = |offset: u64, e: std::io::Error| bad(offset, format!("read failed: {e}"));
    let mut out = BTreeMap::new();
    let mut offset = 0u64;
    let mut long_name: Option<String> = None;
    let mut header = [0u8; BLOCK];
    loop {
        let got = fill(&mut r, &mut header).map_err(|e| io(offset, e))?;
        if got == 0 {
            return Err(bad(
                offset,
                "the archive ends without its end-of-archive blocks".into(),
            ));
        }
        if got < BLOCK {
            return Err(bad(
                offset,
                format!("truncated header: {got} of {BLOCK} bytes"),
            ));
        }
        if header.iter().all(|&b| b == 0) {
            return Ok(out);
        }
        let stored = octal(&header[148..156])
            .ok_or_else(|| bad(offset, "unreadable header checksum".into()))?;
        // The checksum counts its own field as eight spaces.
        let sum: u64 = header
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    b' ' as u64
                } else {
                    b as u64
                }
            })
            .sum();
        if sum != stored {
            return Err(bad(
                offset,
                format!("header checksum is {stored} but the header sums to {sum}"),
            ));
        }
        let size =
            octal(&header[124..136]).ok_or_else(|| bad(offset, "unreadable file size".into()))?;
        let kind = header[156];
        let mut name = field(&header[..100]);
        if &header[257..262] == b"ustar" {
            let prefix = field(&header[345..500]);
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        if let Some(long) = long_name.take() {
            name = long;
        }
        let data_at = offset + BLOCK as u64;
        let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
        // Regular files ('0', or NUL in old archives) and GNU long names are read; others
        // (directories, links, pax headers) are skipped with their data.
        let keep = match kind {
            b'0' | 0 => wanted(&name),
            b'L' => true,
            _ => false,
        };
        if keep {
            let len = usize::try_from(size)
                .map_err(|_| bad(offset, format!("{name}: size {size} is too large")))?;
            let mut data = vec![0u8; len];
            let got = fill(&mut r, &mut data).map_err(|e| io(data_at, e))?;
            if got < len {
                return Err(bad(
                    data_at,
                    format!("{name} is truncated: {got} of {size} bytes"),
                ));
            }
            let mut pad = vec![0u8; (padded - size) as usize];
            fill(&mut r, &mut pad).map_err(|e| io(data_at + size, e))?;
            if kind == b'L' {
                long_name = Some(field(&data));
            } else {
                out.insert(name, data);
            }
        } else {
            let skipped = std::io::copy(&mut (&mut r).take(padded), &mut std::io::sink())
                .map_err(|e| io(data_at, e))?;
            if skipped < size {
                return Err(bad(
                    data_at,
                    format!("{name} is truncated: {skipped} of {size} bytes"),
                ));
            }
        }
        offset = data_at + padded;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ustar header for a regular file, checksum included.
    fn header(name: &str, size: usize) -> Vec<u8> {
        let mut h = vec![0u8; BLOCK];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000644\0");
        h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| b as u32).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        h
    }

    fn archive(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in files {
            out.extend(header(name, data.len()));
            out.extend(*data);
            out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
        }
        out.extend([0u8; 2 * BLOCK]);
        out
    }

    #[test]
    fn reads_wanted_files_and_rejects_damage() {
        let a = archive(&[
            ("d/a.bin", b"hello"),
            ("d/skip.txt", &[7; 600]),
            ("d/b.bin", b""),
        ]);
        let files = read_files(&a[..], "t.tar", |n| n.ends_with(".bin")).unwrap();
        assert_eq!(files.len(), 2);
        assert_eq!(files["d/a.bin"], b"hello");
        assert_eq!(files["d/b.bin"], b"");
        // Cut anywhere before the end blocks: an error, never a shorter archive.
        for cut in [0, 100, 512, 515, 1024, 1600, a.len() - 2 * BLOCK] {
            assert!(
                read_files(&a[..cut], "t.tar", |_| true).is_err(),
                "cut at {cut}"
            );
        }
        let mut flipped = a.clone();
        flipped[3] ^= 1;
        let e = read_files(&flipped[..], "t.tar", |_| true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("checksum"), "{e}");
    }
}
