//! CIFAR-10 (Keras's `tf.keras.datasets.cifar10`): 32x32 colour images in 10 classes,
//! 50,000 for training and 10,000 for test.
//!
//! Read from the binary version (`cifar-10-binary.tar.gz`, TensorFlow Datasets' source
//! rather than Keras's pickled one): `data_batch_1.bin` to `data_batch_5.bin` and
//! `test_batch.bin`, each a run of 3,073-byte records — a label byte, then 1,024 red, 1,024
//! green and 1,024 blue pixels, rows top to bottom. Images come out as height, width,
//! channels, as Keras returns them by default.
//!
//! In a search folder `cifar10/` the batches may be extracted (`cifar-10-batches-bin/*.bin`
//! or `*.bin`) or left in the archive; the archive is read as a stream, never unpacked.

use super::{Remote, TrainTest, find_in, locate, tar};
use crate::error::{Error, Result};
use flate2::read::MultiGzDecoder;
use ndarray::{Array2, Array4};
use std::collections::BTreeMap;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// The archive's home, as TensorFlow Datasets downloads it.
pub const ORIGIN: &str = "https://www.cs.toronto.edu/~kriz/";

/// The class names, by label.
pub const CLASS_NAMES: [&str; 10] = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

// SHA-256 as recorded by TensorFlow Datasets,
// tensorflow/datasets tensorflow_datasets/url_checksums/cifar10.txt.
const ARCHIVE: Remote = Remote {
    name: "cifar-10-binary.tar.gz",
    sha256: "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
};

const TRAIN: [&str; 5] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
];
const TEST: &str = "test_batch.bin";
const SIDE: usize = 32;
const PIXELS: usize = SIDE * SIDE;
const RECORD: usize = 1 + 3 * PIXELS;

type Images = Array4<u8>;
type Labels = Array2<u8>;

/// `((x_train, y_train), (x_test, y_test))`: images `[n, 32, 32, 3]` and labels `[n, 1]`,
/// as `u8` like Keras. Looks in `$WGFLOW_DATASETS/cifar10/`, then
/// `~/.wgflow/datasets/cifar10/`, then downloads the archive (163 MiB; see
/// [the module docs](super)).
pub fn load_data() -> Result<TrainTest<Images, Labels>> {
    for dir in super::search_dirs() {
        let d = dir.join("cifar10");
        if let Some(found) = batches_in(&d) {
            return from_batches(&found);
        }
        if let Some(archive) = find_in(&d, &super::aliases(ARCHIVE.name)) {
            return read_archive(&archive);
        }
    }
    read_archive(&locate("cifar10", ORIGIN, ARCHIVE)?)
}

/// [`load_data`] from `dir` only (never downloads): extracted batches or the archive.
pub fn load_data_from(dir: impl AsRef<Path>) -> Result<TrainTest<Images, Labels>> {
    let d = dir.as_ref();
    if let Some(found) = batches_in(d) {
        return from_batches(&found);
    }
    read_archive(&super::in_dir(d, ARCHIVE)?)
}

/// The folder of extracted batches in `dir`, if the first batch is there.
fn batches_in(dir: &Path) -> Option<PathBuf> {
    [dir.join("cifar-10-batches-bin"), dir.to_path_buf()]
        .into_iter()
        .find(|d| d.join(TRAIN[0]).is_file())
}

fn from_batches(dir: &Path) -> Result<TrainTest<Images, Labels>> {
    let mut files = BTreeMap::new();
    for name in TRAIN.iter().chain([&TEST]) {
        let p = dir.join(name);
        let bytes = std::fs::read(&p).map_err(|e| Error::io(p.display(), e))?;
        files.insert(name.to_string(), bytes);
    }
    assemble(&files, &dir.display().to_string())
}

/// Reads the batches out of a `.tar.gz` (or `.tar`) archive.
pub fn read_archive(path: &Path) -> Result<TrainTest<Images, Labels>> {
    let name = path.display().to_string();
    let mut file = BufReader::with_capacity(
        1 << 20,
        std::fs::File::open(path).map_err(|e| Error::io(&name, e))?,
    );
    let gzipped = {
        use std::io::BufRead;
        let head = file.fill_buf().map_err(|e| Error::io(&name, e))?;
        head.starts_with(&[0x1f, 0x8b])
    };
    let stream: Box<dyn Read> = if gzipped {
        Box::new(MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let wanted = |n: &str| {
        let base = n.rsplit('/').next().unwrap_or(n);
        TRAIN.contains(&base) || base == TEST
    };
    let files = tar::read_files(stream, &name, wanted)?;
    // Keyed by base name; a second copy of a batch in the archive is ambiguous.
    let mut by_base = BTreeMap::new();
    for (full, data) in files {
        let base = full.rsplit('/').next().unwrap_or(&full).to_string();
        if by_base.insert(base.clone(), data).is_some() {
            return Err(Error::format(
                &name,
                format!("the archive holds {base} more than once"),
            ));
        }
    }
    assemble(&by_base, &name)
}

/// Keras's arrays from the six batch files (by base name); `source` names them in errors.
fn assemble(files: &BTreeMap<String, Vec<u8>>, source: &str) -> Result<TrainTest<Images, Labels>> {
    let get = |n: &str| {
        files
            .get(n)
            .ok_or_else(|| Error::format(source, format!("CIFAR-10 batch {n} is missing")))
    };
    let mut train = Vec::new();
    for n in TRAIN {
        train.push((n, get(n)?.as_slice()));
    }
    Ok((
        split(&train, source)?,
        split(&[(TEST, get(TEST)?)], source)?,
    ))
}

/// Images (HWC) and labels of the records of `batches`, in order.
fn split(batches: &[(&str, &[u8])], source: &str) -> Result<(Images, Labels)> {
    for (name, b) in batches {
        if b.len() % RECORD != 0 {
            return Err(Error::format(
                source,
                format!(
                    "{name} has {} bytes, not a whole number of {RECORD}-byte records",
                    b.len()
                ),
            ));
        }
    }
    let n: usize = batches.iter().map(|(_, b)| b.len() / RECORD).sum();
    let mut images = vec![0u8; n * 3 * PIXELS];
    let mut labels = Vec::with_capacity(n);
    let records = batches
        .iter()
        .flat_map(|(name, b)| b.chunks_exact(RECORD).enumerate().map(move |r| (*name, r)));
    for (i, (name, (k, rec))) in records.enumerate() {
        if rec[0] >= 10 {
            return Err(Error::format(
                source,
                format!(
                    "{name} record {k} has label {}; CIFAR-10 has 0 to 9",
                    rec[0]
                ),
            ));
        }
        labels.push(rec[0]);
        // Planar RGB to interleaved: pixel p's channel c is at 1 + c * 1024 + p.
        let img = &mut images[i * 3 * PIXELS..(i + 1) * 3 * PIXELS];
        for (c, plane) in rec[1..].chunks_exact(PIXELS).enumerate() {
            for (p, &v) in plane.iter().enumerate() {
                img[p * 3 + c] = v;
            }
        }
    }
    let x =
        Array4::from_shape_vec((n, SIDE, SIDE, 3), images).map_err(|e| Error::format(source, e))?;
    let y = Array2::from_shape_vec((n, 1), labels).map_err(|e| Error::format(source, e))?;
    Ok((x, y))
}
