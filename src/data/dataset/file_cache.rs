//! `cache(filename)`: the elements of the first complete pass, in a file that later passes
//! (and later runs) read instead of the pipeline above.
//!
//! Format, little-endian: the magic `WGFLOWDSC1`, then per element its number of leaf
//! tensors and per leaf its dtype (1 byte), rank (u32), dimensions (u64 each) and words
//! (u32 each); then the end marker `u32::MAX` and the element count (u64). The file is
//! written beside its final name and renamed there when the pass ends cleanly, so a file
//! with that name is always complete; one that is not (changed by hand, cut short) is an
//! `Error::Format` naming it and the byte offset.

use super::Stream;
use super::structure::Structure;
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 10] = b"WGFLOWDSC1";
const END: u32 = u32::MAX;

fn io_err(path: &Path, e: std::io::Error) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source: e,
    }
}

fn dtype_code(d: DType) -> u8 {
    match d {
        DType::F32 => 0,
        DType::I32 => 1,
        DType::U32 => 2,
        DType::Bool => 3,
    }
}

/// The first pass: passes elements on and appends them to a temporary file, renamed to
/// `path` when the pass ends without an error (dropped early or failed: removed).
pub(crate) struct Writer<T> {
    pub up: Stream<T>,
    path: PathBuf,
    tmp: PathBuf,
    out: Option<BufWriter<std::fs::File>>,
    count: u64,
}

impl<T> Writer<T> {
    pub fn new(up: Stream<T>, path: &Path) -> Result<Writer<T>> {
        let tmp = crate::npy::temp_path_beside(path);
        let file = std::fs::File::create(&tmp).map_err(|e| io_err(&tmp, e))?;
        let mut out = BufWriter::new(file);
        out.write_all(MAGIC).map_err(|e| io_err(&tmp, e))?;
        Ok(Writer {
            up,
            path: path.to_path_buf(),
            tmp,
            out: Some(out),
            count: 0,
        })
    }

    fn append(&mut self, leaves: &[Tensor]) -> Result<()> {
        let Some(out) = self.out.as_mut() else {
            return Ok(());
        };
        let mut buf: Vec<u8> = Vec::new();
        buf.extend((leaves.len() as u32).to_le_bytes());
        for t in leaves {
            buf.push(dtype_code(t.dtype()));
            buf.extend((t.shape().len() as u32).to_le_bytes());
            for &d in t.shape() {
                buf.extend((d as u64).to_le_bytes());
            }
            for w in t.words()? {
                buf.extend(w.to_le_bytes());
            }
        }
        out.write_all(&buf).map_err(|e| io_err(&self.tmp, e))?;
        self.count += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<()> {
        let Some(mut out) = self.out.take() else {
            return Ok(());
        };
        out.write_all(&END.to_le_bytes())
            .and_then(|_| out.write_all(&self.count.to_le_bytes()))
            .and_then(|_| out.flush())
            .and_then(|_| out.get_ref().sync_all())
            .map_err(|e| io_err(&self.tmp, e))?;
        drop(out);
        std::fs::rename(&self.tmp, &self.path).map_err(|e| io_err(&self.path, e))
    }

    /// Stops writing: the pass will not be kept.
    fn abandon(&mut self) {
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

impl<T> Drop for Writer<T> {
    fn drop(&mut self) {
        self.abandon();
    }
}

impl<T: Structure> Iterator for Writer<T> {
    type Item = Result<T>;
    fn next(&mut self) -> Option<Result<T>> {
        match self.up.next() {
            Some(Ok(x)) => {
                if let Err(e) = self.append(&x.flatten()) {
                    self.abandon();
                    return Some(Err(e));
                }
                Some(Ok(x))
            }
            Some(Err(e)) => {
                self.abandon();
                Some(Err(e))
            }
            None => match self.finish() {
                Ok(()) => None,
                Err(e) => Some(Err(e)),
            },
        }
    }
}

/// Later passes: elements read back from a complete cache file, rebuilt on the nesting of
/// `template` (an element of the pipeline above).
pub(crate) struct Reader<T> {
    path: PathBuf,
    input: BufReader<std::fs::File>,
    offset: u64,
    template: Option<T>,
    read: u64,
    done: bool,
}

impl<T: Structure> Reader<T> {
    /// Opens `path`, checking its magic number; `template` gives the element nesting.
    pub fn open(path: &Path, template: Option<T>) -> Result<Reader<T>> {
        let file = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
        let mut r = Reader {
            path: path.to_path_buf(),
            input: BufReader::new(file),
            offset: 0,
            template,
            read: 0,
            done: false,
        };
        let mut magic = [0u8; 10];
        r.bytes(&mut magic, "the magic number")?;
        if &magic != MAGIC {
            return Err(r.format(0, "not a wgflow dataset cache file (bad magic number)"));
        }
        Ok(r)
    }

    fn format(&self, at: u64, msg: &str) -> Error {
        Error::Format {
            path: self.path.display().to_string(),
            msg: format!("dataset cache, byte {at}: {msg}"),
        }
    }

    fn bytes(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        let at = self.offset;
        self.input
            .read_exact(buf)
            .map_err(|_| self.format(at, &format!("file ends inside {what}")))?;
        self.offset += buf.len() as u64;
        Ok(())
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        let mut b = [0u8; 4];
        self.bytes(&mut b, what)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        let mut b = [0u8; 8];
        self.bytes(&mut b, what)?;
        Ok(u64::from_le_bytes(b))
    }

    fn leaf(&mut self) -> Result<Tensor> {
        let at = self.offset;
        let mut code = [0u8; 1];
        self.bytes(&mut code, "a tensor header")?;
        let dtype = match code[0] {
            0 => DType::F32,
            1 => DType::I32,
            2 => DType::U32,
            3 => DType::Bool,
            c => return Err(self.format(at, &format!("unknown dtype code {c}"))),
        };
        let rank = self.u32("a tensor header")?;
        if rank > 32 {
            return Err(self.format(at, &format!("rank {rank} is not plausible")));
        }
        let mut shape = Vec::with_capacity(rank as usize);
        for _ in 0..rank {
            shape.push(self.u64("a tensor shape")? as usize);
        }
        let n = shape
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .filter(|&n| n <= 1 << 32)
            .ok_or_else(|| self.format(at, "the tensor's size overflows"))?;
        let mut raw = vec![0u8; n * 4];
        self.bytes(&mut raw, "a tensor's values")?;
        let words: Vec<u32> = raw
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        Tensor::from_words(&words, &shape, dtype, &Device::cpu())
    }

    fn element(&mut self) -> Result<Option<T>> {
        let at = self.offset;
        let n = self.u32("an element header")?;
        if n == END {
            let count = self.u64("the element count")?;
            if count != self.read {
                return Err(self.format(
                    at,
                    &format!("{} elements where the end marker says {count}", self.read),
                ));
            }
            return Ok(None);
        }
        let leaves = (0..n).map(|_| self.leaf()).collect::<Result<Vec<_>>>()?;
        let template = self
            .template
            .as_ref()
            .ok_or_else(|| self.format(at, "elements in the cache of an empty pipeline"))?;
        let mismatch = || {
            self.format(
                at,
                &format!(
                    "an element of {n} tensor(s) does not match the pipeline's {}",
                    template.structure()
                ),
            )
        };
        if leaves.len() != template.flatten().len() {
            return Err(mismatch());
        }
        let elem = template
            .rebuild(&mut leaves.into_iter())
            .map_err(|_| mismatch())?;
        self.read += 1;
        Ok(Some(elem))
    }
}

impl<T: Structure> Iterator for Reader<T> {
    type Item = Result<T>;
    fn next(&mut self) -> Option<Result<T>> {
        if self.done {
            return None;
        }
        match self.element() {
            Ok(Some(x)) => Some(Ok(x)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
