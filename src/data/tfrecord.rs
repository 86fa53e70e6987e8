//! TFRecord files: TensorFlow's record framing, optionally inside one GZIP or ZLIB stream.
//!
//! Each record is `length: u64 LE`, `masked CRC32C(length): u32 LE`, `length` data bytes,
//! `masked CRC32C(data): u32 LE`. Both checksums are verified on read, and the length's
//! checksum before any data is read, so a corrupt length never sizes an allocation. Every
//! problem with the bytes is an [`Error::Format`] naming the file and the byte offset of the
//! record; a file may end only between records, so a truncated file is an error, never a
//! silently shorter dataset. (A file cut exactly at a record boundary is a valid, shorter
//! TFRecord file; nothing in the format can tell it apart.)
//!
//! Compressed files are decompressed here with flate2's `Decompress` rather than its reader
//! types, which report a deflate stream cut short as a clean end of file.

use super::crc32c::masked_crc32c;
use crate::error::{Error, Result};
use flate2::{Compress, Compression, Crc, Decompress, FlushDecompress, Status};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// How a TFRecord file is compressed as a whole (TensorFlow's `compression_type`: `""`,
/// `"ZLIB"`, `"GZIP"`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TFRecordCompressionType {
    #[default]
    None,
    /// A zlib stream (RFC 1950).
    Zlib,
    /// A gzip stream (RFC 1952), e.g. `examples.tfrecord.gz`.
    Gzip,
}

impl TFRecordCompressionType {
    /// Parses TensorFlow's spelling: `""` or `"NONE"`, `"ZLIB"`, `"GZIP"` (any case).
    pub fn from_name(name: &str) -> Result<Self> {
        match name.to_ascii_uppercase().as_str() {
            "" | "NONE" => Ok(Self::None),
            "ZLIB" => Ok(Self::Zlib),
            "GZIP" => Ok(Self::Gzip),
            _ => Err(Error::invalid(
                "TFRecordOptions",
                format!("compression_type must be \"\", \"ZLIB\" or \"GZIP\", got {name:?}"),
            )),
        }
    }
    /// TensorFlow's name: `""`, `"ZLIB"` or `"GZIP"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "",
            Self::Zlib => "ZLIB",
            Self::Gzip => "GZIP",
        }
    }
}

/// Options of a [`TFRecordWriter`] (TensorFlow's `tf.io.TFRecordOptions`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TFRecordOptions {
    pub compression_type: TFRecordCompressionType,
    /// 0 (store) to 9 (smallest); `None` is zlib's default, 6, as in TensorFlow.
    pub compression_level: Option<u32>,
}

impl TFRecordOptions {
    /// Options with `compression_type` and the default level.
    pub fn new(compression_type: TFRecordCompressionType) -> Self {
        TFRecordOptions {
            compression_type,
            compression_level: None,
        }
    }
    /// The same options with `level` (0–9).
    pub fn with_compression_level(mut self, level: u32) -> Self {
        self.compression_level = Some(level);
        self
    }
}

impl From<TFRecordCompressionType> for TFRecordOptions {
    fn from(c: TFRecordCompressionType) -> Self {
        TFRecordOptions::new(c)
    }
}

/// Appends one framed record to `out`: the exact bytes TensorFlow's `TFRecordWriter` writes.
pub fn encode_record(data: &[u8], out: &mut Vec<u8>) {
    let len = (data.len() as u64).to_le_bytes();
    out.extend_from_slice(&len);
    out.extend_from_slice(&masked_crc32c(&len).to_le_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(&masked_crc32c(data).to_le_bytes());
}

// ---------------------------------------------------------------------------------------
// Writing

enum Sink {
    Plain(BufWriter<File>),
    Gzip(flate2::write::GzEncoder<BufWriter<File>>),
    Zlib(flate2::write::ZlibEncoder<BufWriter<File>>),
}

impl Sink {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Plain(w) => w,
            Sink::Gzip(w) => w,
            Sink::Zlib(w) => w,
        }
    }
    fn finish(self) -> io::Result<File> {
        let buffered = match self {
            Sink::Plain(w) => w,
            Sink::Gzip(w) => w.finish()?,
            Sink::Zlib(w) => w.finish()?,
        };
        let file = buffered.into_inner().map_err(|e| e.into_error())?;
        // The rename publishes the file; its bytes must be on disk before that.
        file.sync_all()?;
        Ok(file)
    }
}

/// Writes records to a TFRecord file (TensorFlow's `tf.io.TFRecordWriter`).
///
/// The records go to a temporary file beside `path`, which [`close`](Self::close) renames
/// into place: a reader never sees a half-written file. A writer dropped without `close`
/// (an error or panic on the way) removes its temporary file and leaves `path` as it was.
///
/// ```
/// use wgflow::data::{TFRecordDataset, TFRecordWriter, TFRecordCompressionType};
/// let path = std::env::temp_dir().join(format!("doc_{}.tfrecord", std::process::id()));
/// let mut w = TFRecordWriter::new(&path, TFRecordCompressionType::None)?;
/// w.write(b"first")?;
/// w.write(b"second")?;
/// w.close()?;
/// let records = TFRecordDataset::new([&path], TFRecordCompressionType::None)
///     .collect::<wgflow::Result<Vec<_>>>()?;
/// assert_eq!(records, vec![b"first".to_vec(), b"second".to_vec()]);
/// # std::fs::remove_file(&path).unwrap();
/// # Ok::<(), wgflow::Error>(())
/// ```
pub struct TFRecordWriter {
    path: PathBuf,
    tmp: PathBuf,
    sink: Option<Sink>,
    frame: Vec<u8>,
}

impl TFRecordWriter {
    /// Starts a TFRecord file at `path` (written at [`close`](Self::close)).
    pub fn new(path: impl AsRef<Path>, options: impl Into<TFRecordOptions>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let options = options.into();
        let level = match options.compression_level {
            None => Compression::default(),
            Some(l @ 0..=9) => Compression::new(l),
            Some(l) => {
                return Err(Error::invalid(
                    "TFRecordWriter",
                    format!("compression_level must be 0 to 9, got {l}"),
                ));
            }
        };
        let tmp = crate::npy::temp_path_beside(&path);
        let file = File::create(&tmp).map_err(|e| Error::io(tmp.display(), e))?;
        let buffered = BufWriter::new(file);
        let sink = match options.compression_type {
            TFRecordCompressionType::None => Sink::Plain(buffered),
            // OS 3 (Unix) as zlib writes it, so the header matches TensorFlow's files.
            TFRecordCompressionType::Gzip => Sink::Gzip(
                flate2::GzBuilder::new()
                    .operating_system(3)
                    .write(buffered, level),
            ),
            TFRecordCompressionType::Zlib => Sink::Zlib(
                flate2::write::ZlibEncoder::new_with_compress(buffered, Compress::new(level, true)),
            ),
        };
        Ok(TFRecordWriter {
            path,
            tmp,
            sink: Some(sink),
            frame: Vec::new(),
        })
    }

    /// Appends one record.
    pub fn write(&mut self, record: &[u8]) -> Result<()> {
        self.frame.clear();
        encode_record(record, &mut self.frame);
        let sink = self.sink.as_mut().expect("a live writer has a sink");
        sink.writer()
            .write_all(&self.frame)
            .map_err(|e| Error::io(self.tmp.display(), e))
    }

    /// Pushes buffered records to the temporary file (the file appears at `close`).
    pub fn flush(&mut self) -> Result<()> {
        let sink = self.sink.as_mut().expect("a live writer has a sink");
        sink.writer()
            .flush()
            .map_err(|e| Error::io(self.tmp.display(), e))
    }

    /// Finishes the stream, syncs it and renames it to the writer's path.
    pub fn close(mut self) -> Result<()> {
        let sink = self.sink.take().expect("a live writer has a sink");
        let done = sink
            .finish()
            .map_err(|e| Error::io(self.tmp.display(), e))
            .and_then(|_| {
                std::fs::rename(&self.tmp, &self.path)
                    .map_err(|e| Error::io(self.path.display(), e))
            });
        if done.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        done
    }
}

impl Drop for TFRecordWriter {
    fn drop(&mut self) {
        if self.sink.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Reading

/// Inflates a GZIP (possibly several members) or ZLIB stream from a `BufRead`, counting the
/// compressed bytes consumed for error messages. Every way the stream can be wrong is an
/// `InvalidData` or `UnexpectedEof` error: a bad header, corrupt deflate data, a checksum
/// mismatch, a stream that ends before its end marker, bytes after the end.
struct Inflater<R> {
    inner: R,
    gzip: bool,
    z: Decompress,
    crc: Crc,
    state: InflateState,
    /// Compressed bytes consumed so far.
    consumed: u64,
}

#[derive(PartialEq)]
enum InflateState {
    /// Before a gzip member or the zlib stream; `first` is true before any.
    Start {
        first: bool,
    },
    Body,
    End,
}

fn bad_data(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

impl<R: BufRead> Inflater<R> {
    fn new(inner: R, gzip: bool) -> Self {
        Inflater {
            inner,
            gzip,
            // gzip: raw deflate inside a header and trailer read here; zlib: miniz reads the
            // header and checks the Adler-32 itself.
            z: Decompress::new(!gzip),
            crc: Crc::new(),
            state: InflateState::Start { first: true },
            consumed: 0,
        }
    }

    fn read_exact_counted(&mut self, buf: &mut [u8], what: &str) -> io::Result<()> {
        let mut got = 0;
        while got < buf.len() {
            let n = self.inner.read(&mut buf[got..])?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("the stream ends inside the {what}"),
                ));
            }
            got += n;
            self.consumed += n as u64;
        }
        Ok(())
    }

    fn skip_zero_terminated(&mut self, what: &str) -> io::Result<()> {
        let mut b = [0u8];
        loop {
            self.read_exact_counted(&mut b, what)?;
            if b[0] == 0 {
                return Ok(());
            }
        }
    }

    /// Reads a gzip member header (RFC 1952 §2.3), checking its CRC-16 when present.
    fn gzip_header(&mut self) -> io::Result<()> {
        let start = self.consumed;
        let mut h = [0u8; 10];
        self.read_exact_counted(&mut h, "gzip header")?;
        if h[0] != 0x1f || h[1] != 0x8b {
            return Err(bad_data(format!(
                "no gzip magic at compressed byte {start} (not a GZIP file, or bytes after its end)"
            )));
        }
        if h[2] != 8 {
            return Err(bad_data(format!(
                "unknown gzip compression method {}",
                h[2]
            )));
        }
        let flags = h[3];
        if flags & 0xe0 != 0 {
            return Err(bad_data(format!("reserved gzip header flags {flags:#04x}")));
        }
        // The optional fields are not needed, only skipped; FHCRC is not checked either,
        // as zlib does not check it: the member's CRC-32 covers everything that matters.
        if flags & 4 != 0 {
            let mut xlen = [0u8; 2];
            self.read_exact_counted(&mut xlen, "gzip header")?;
            let mut extra = vec![0u8; u16::from_le_bytes(xlen) as usize];
            self.read_exact_counted(&mut extra, "gzip header")?;
        }
        if flags & 8 != 0 {
            self.skip_zero_terminated("gzip header's file name")?;
        }
        if flags & 16 != 0 {
            self.skip_zero_terminated("gzip header's comment")?;
        }
        if flags & 2 != 0 {
            let mut hcrc = [0u8; 2];
            self.read_exact_counted(&mut hcrc, "gzip header")?;
        }
        Ok(())
    }

    fn gzip_trailer(&mut self) -> io::Result<()> {
        let mut t = [0u8; 8];
        self.read_exact_counted(&mut t, "gzip trailer")?;
        let crc = u32::from_le_bytes([t[0], t[1], t[2], t[3]]);
        let size = u32::from_le_bytes([t[4], t[5], t[6], t[7]]);
        if crc != self.crc.sum() {
            return Err(bad_data(format!(
                "gzip CRC-32 mismatch: stored {crc:#010x}, data has {:#010x}",
                self.crc.sum()
            )));
        }
        if size != self.crc.amount() {
            return Err(bad_data(format!(
                "gzip size mismatch: stored {size}, data has {} (mod 2^32)",
                self.crc.amount()
            )));
        }
        Ok(())
    }
}

impl<R: BufRead> Read for Inflater<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.state {
                InflateState::End => {
                    let rest = self.inner.fill_buf()?.len();
                    if rest > 0 {
                        return Err(bad_data(format!(
                            "{rest} or more bytes after the end of the ZLIB stream"
                        )));
                    }
                    return Ok(0);
                }
                InflateState::Start { first } => {
                    if self.inner.fill_buf()?.is_empty() {
                        // An empty file holds no records; after a complete gzip member the
                        // end of the input is the end of the stream.
                        self.state = InflateState::End;
                        continue;
                    }
                    if !first && !self.gzip {
                        self.state = InflateState::End;
                        continue;
                    }
                    if self.gzip {
                        self.gzip_header()?;
                        self.crc.reset();
                        self.z.reset(false);
                    }
                    self.state = InflateState::Body;
                }
                InflateState::Body => {
                    let input = self.inner.fill_buf()?;
                    // At the end of the input the decoder may still hold output (the last
                    // read had no room for it): drain that before calling the file short.
                    let eof = input.is_empty();
                    let truncated = || {
                        io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the compressed stream ends before its end marker (truncated file)",
                        )
                    };
                    let flush = if eof {
                        FlushDecompress::Finish
                    } else {
                        FlushDecompress::None
                    };
                    let (in0, out0) = (self.z.total_in(), self.z.total_out());
                    let status = match self.z.decompress(input, buf, flush) {
                        Ok(s) => s,
                        Err(_) if eof => return Err(truncated()),
                        Err(e) => return Err(bad_data(format!("corrupt deflate data: {e}"))),
                    };
                    let used = (self.z.total_in() - in0) as usize;
                    let produced = (self.z.total_out() - out0) as usize;
                    self.inner.consume(used);
                    self.consumed += used as u64;
                    if self.gzip {
                        self.crc.update(&buf[..produced]);
                    }
                    if status == Status::StreamEnd {
                        if self.gzip {
                            self.gzip_trailer()?;
                        }
                        self.state = InflateState::Start { first: false };
                    } else if used == 0 && produced == 0 {
                        if eof {
                            return Err(truncated());
                        }
                        // Input and room for output but no progress: never happens with a
                        // well-formed stream; bail out rather than spin.
                        return Err(bad_data("the deflate stream makes no progress"));
                    }
                    if produced > 0 {
                        return Ok(produced);
                    }
                }
            }
        }
    }
}

type Source = Box<dyn BufRead + Send>;

enum Input {
    Plain(Source),
    Inflate(Box<Inflater<Source>>),
}

/// Reads the records of one TFRecord file or stream in order, checking both CRCs of each.
///
/// Also an [`Iterator`] of `Result<Vec<u8>>` that ends after the first error.
pub struct TFRecordReader {
    name: String,
    compression: TFRecordCompressionType,
    input: Input,
    /// Byte offset of the next record in the (decompressed) record stream.
    offset: u64,
    done: bool,
}

impl TFRecordReader {
    /// Opens the TFRecord file at `path`.
    pub fn open(path: impl AsRef<Path>, compression: TFRecordCompressionType) -> Result<Self> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io(path.display(), e))?;
        Ok(Self::from_reader(
            path.display().to_string(),
            BufReader::with_capacity(1 << 16, file),
            compression,
        ))
    }

    /// Reads records from any byte stream (e.g. bytes fetched in a browser); `name` stands
    /// for the file in error messages.
    pub fn from_reader(
        name: impl Into<String>,
        reader: impl BufRead + Send + 'static,
        compression: TFRecordCompressionType,
    ) -> Self {
        let source: Source = Box::new(reader);
        let input = match compression {
            TFRecordCompressionType::None => Input::Plain(source),
            TFRecordCompressionType::Gzip => Input::Inflate(Box::new(Inflater::new(source, true))),
            TFRecordCompressionType::Zlib => Input::Inflate(Box::new(Inflater::new(source, false))),
        };
        TFRecordReader {
            name: name.into(),
            compression,
            input,
            offset: 0,
            done: false,
        }
    }

    /// The file name used in errors.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Byte offset of the next record in the record stream (after decompression).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    fn position(&self) -> String {
        match self.compression {
            TFRecordCompressionType::None => format!("offset {}", self.offset),
            c => format!(
                "offset {} of the decompressed {} stream",
                self.offset,
                c.name()
            ),
        }
    }

    fn io_error(&self, e: io::Error) -> Error {
        match (&self.input, e.kind()) {
            (Input::Inflate(z), io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof) => {
                Error::format(
                    &self.name,
                    format!(
                        "corrupt {} stream at compressed byte {} (record at {}): {e}",
                        self.compression.name(),
                        z.consumed,
                        self.position()
                    ),
                )
            }
            _ => Error::io(&self.name, e),
        }
    }

    /// Reads until `buf` is full or the input ends; returns the bytes read.
    fn fill(&mut self, buf: &mut [u8]) -> Result<usize> {
        let mut got = 0;
        while got < buf.len() {
            let r = match &mut self.input {
                Input::Plain(r) => r.read(&mut buf[got..]),
                Input::Inflate(r) => r.read(&mut buf[got..]),
            };
            match r {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io_error(e)),
            }
        }
        Ok(got)
    }

    fn truncated(&self, msg: impl std::fmt::Display) -> Error {
        Error::format(
            &self.name,
            format!("truncated record at {}: {msg}", self.position()),
        )
    }

    fn corrupted(&self, msg: impl std::fmt::Display) -> Error {
        Error::format(
            &self.name,
            format!("corrupted record at {}: {msg}", self.position()),
        )
    }

    fn read_inner(&mut self) -> Result<Option<Vec<u8>>> {
        let mut header = [0u8; 12];
        let n = self.fill(&mut header)?;
        if n == 0 {
            return Ok(None);
        }
        if n < header.len() {
            return Err(self.truncated(format!("the file ends {n} bytes into the 12-byte header")));
        }
        let (len_bytes, crc_bytes) = header.split_at(8);
        let stored = u32::from_le_bytes(crc_bytes.try_into().expect("4 bytes"));
        let computed = masked_crc32c(len_bytes);
        if stored != computed {
            return Err(self.corrupted(format!(
                "CRC32C of the length does not match (stored {stored:#010x}, computed {computed:#010x})"
            )));
        }
        let len = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
        // Grows as bytes arrive, so even a length whose CRC happens to match cannot make
        // a huge allocation that the file does not back.
        let mut data = Vec::with_capacity(len.min(1 << 20) as usize);
        let got = match &mut self.input {
            Input::Plain(r) => r.by_ref().take(len).read_to_end(&mut data),
            Input::Inflate(r) => r.by_ref().take(len).read_to_end(&mut data),
        };
        got.map_err(|e| self.io_error(e))?;
        if (data.len() as u64) < len {
            return Err(self.truncated(format!(
                "the length is {len} but the file ends after {} data bytes",
                data.len()
            )));
        }
        let mut footer = [0u8; 4];
        let n = self.fill(&mut footer)?;
        if n < footer.len() {
            return Err(self.truncated(format!("the file ends {n} bytes into the 4-byte data CRC")));
        }
        let stored = u32::from_le_bytes(footer);
        let computed = masked_crc32c(&data);
        if stored != computed {
            return Err(self.corrupted(format!(
                "CRC32C of the {len} data bytes does not match (stored {stored:#010x}, computed {computed:#010x})"
            )));
        }
        self.offset += 16 + len;
        Ok(Some(data))
    }

    /// The next record, `None` at a clean end of the file.
    pub fn read_record(&mut self) -> Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        let r = self.read_inner();
        if !matches!(r, Ok(Some(_))) {
            self.done = true;
        }
        r
    }
}

impl Iterator for TFRecordReader {
    type Item = Result<Vec<u8>>;
    fn next(&mut self) -> Option<Self::Item> {
        self.read_record().transpose()
    }
}

/// The records of several TFRecord files, one file after another (TensorFlow's
/// `tf.data.TFRecordDataset(filenames, compression_type)`).
///
/// An iterator of `Result<Vec<u8>>` that opens each file when it reaches it and ends after
/// the first error; [`TFRecordDataset::map`] parses the records into a [`Dataset`](super::Dataset).
pub struct TFRecordDataset {
    filenames: std::vec::IntoIter<PathBuf>,
    compression: TFRecordCompressionType,
    current: Option<TFRecordReader>,
    failed: bool,
}

impl TFRecordDataset {
    /// Records of `filenames` in order, each file compressed as `compression_type` says.
    pub fn new<I, P>(filenames: I, compression_type: TFRecordCompressionType) -> Self
    where
        I: IntoIterator<Item = P>,
        P: AsRef<Path>,
    {
        let filenames: Vec<PathBuf> = filenames
            .into_iter()
            .map(|p| p.as_ref().to_path_buf())
            .collect();
        TFRecordDataset {
            filenames: filenames.into_iter(),
            compression: compression_type,
            current: None,
            failed: false,
        }
    }
}

impl TFRecordDataset {
    /// The records turned into elements by `parse`, as a [`Dataset`] (TensorFlow's
    /// `TFRecordDataset(filenames).map(parse, num_parallel_calls)`). wgflow has no string
    /// dtype, so records become tensors in this first `map` instead of travelling as
    /// elements; `parse` is typically [`parse_single_example`](super::parse_single_example)
    /// plus a conversion. Every pass re-reads the files this iterator has not opened yet
    /// (all of them, when called on a fresh one); output is in record order. A corrupt
    /// file is an error item that ends the pass; a failing `parse` is an error item for
    /// that record only.
    ///
    /// ```
    /// use wgflow::data::{Example, FeatureDType, FixedLenFeature, TFRecordCompressionType,
    ///     TFRecordDataset, TFRecordWriter, parse_single_example};
    /// let path = std::env::temp_dir().join(format!("map_doc_{}.tfrecord", std::process::id()));
    /// let mut w = TFRecordWriter::new(&path, TFRecordCompressionType::None)?;
    /// for label in 0..5 {
    ///     w.write(&Example::new().with("label", label).serialize_to_string())?;
    /// }
    /// w.close()?;
    /// let spec = [("label", FixedLenFeature::new([], FeatureDType::Int64).into())];
    /// let ds = TFRecordDataset::new([&path], TFRecordCompressionType::None)
    ///     .map(move |r| Ok(parse_single_example(&r, &spec)?.tensor("label")?.clone()), 2)
    ///     .batch(2, false)?;
    /// let batches: Vec<Vec<i32>> = ds.iter_on(&wgflow::Device::cpu())?
    ///     .map(|b| b?.to_vec::<i32>())
    ///     .collect::<wgflow::Result<_>>()?;
    /// assert_eq!(batches, vec![vec![0, 1], vec![2, 3], vec![4]]);
    /// # std::fs::remove_file(&path).unwrap();
    /// # Ok::<(), wgflow::Error>(())
    /// ```
    pub fn map<T, F>(
        self,
        parse: F,
        num_parallel_calls: impl Into<super::Parallelism>,
    ) -> super::Dataset<T>
    where
        T: super::Structure,
        F: Fn(Vec<u8>) -> Result<T> + Send + Sync + 'static,
    {
        let files: Vec<PathBuf> = self.filenames.as_slice().to_vec();
        let compression = self.compression;
        super::Dataset::from_records(
            move || Box::new(TFRecordDataset::new(files.clone(), compression)),
            parse,
            num_parallel_calls.into(),
        )
    }
}

impl Iterator for TFRecordDataset {
    type Item = Result<Vec<u8>>;
    fn next(&mut self) -> Option<Self::Item> {
        while !self.failed {
            if let Some(reader) = &mut self.current {
                match reader.read_record() {
                    Ok(Some(r)) => return Some(Ok(r)),
                    Ok(None) => self.current = None,
                    Err(e) => {
                        self.failed = true;
                        return Some(Err(e));
                    }
                }
            }
            let path = self.filenames.next()?;
            match TFRecordReader::open(&path, self.compression) {
                Ok(r) => self.current = Some(r),
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: Vec<u8>, c: TFRecordCompressionType) -> Result<Vec<Vec<u8>>> {
        TFRecordReader::from_reader("mem", io::Cursor::new(bytes), c).collect()
    }

    #[test]
    fn frame_layout() {
        let mut out = Vec::new();
        encode_record(b"abc", &mut out);
        assert_eq!(out.len(), 8 + 4 + 3 + 4);
        assert_eq!(&out[..8], &3u64.to_le_bytes());
        assert_eq!(&out[12..15], b"abc");
        assert_eq!(
            read_all(out, TFRecordCompressionType::None).unwrap(),
            vec![b"abc".to_vec()]
        );
    }

    #[test]
    fn zlib_stream_cut_short_or_extended_is_an_error() {
        let mut framed = Vec::new();
        for i in 0..20u8 {
            encode_record(&[i; 50], &mut framed);
        }
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), Compression::default());
        z.write_all(&framed).unwrap();
        let z = z.finish().unwrap();
        assert_eq!(
            read_all(z.clone(), TFRecordCompressionType::Zlib)
                .unwrap()
                .len(),
            20
        );
        for cut in 1..z.len() {
            let e = read_all(z[..cut].to_vec(), TFRecordCompressionType::Zlib).unwrap_err();
            assert!(matches!(e, Error::Format { .. }), "cut {cut}: {e}");
        }
        let mut longer = z.clone();
        longer.push(0);
        let e = read_all(longer, TFRecordCompressionType::Zlib).unwrap_err();
        assert!(
            e.to_string().contains("after the end of the ZLIB stream"),
            "{e}"
        );
    }

    #[test]
    fn compression_names() {
        for c in [
            TFRecordCompressionType::None,
            TFRecordCompressionType::Zlib,
            TFRecordCompressionType::Gzip,
        ] {
            assert_eq!(TFRecordCompressionType::from_name(c.name()).unwrap(), c);
        }
        assert!(TFRecordCompressionType::from_name("zip").is_err());
    }
}
