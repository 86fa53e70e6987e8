//! `image_dataset_from_directory` (Keras's `keras.utils.image_dataset_from_directory`): a
//! folder with one subfolder per class becomes a [`Dataset`] of `(image, label)` batches.
//!
//! As in Keras: class names are the subfolder names, sorted (hidden ones skipped), and each
//! class's folder is searched recursively for `.jpg`, `.jpeg` and `.png` files (sorted by
//! folder, then name). With `shuffle` the file list is shuffled once with the seed, then
//! split into training and validation subsets (the last `validation_split` fraction is
//! validation), so two calls with the same seed get disjoint subsets that cover the files.
//! Each pass then shuffles the (path, label) pairs again through a buffer of
//! `8 * batch_size` (1024 unbatched), decodes and resizes the images in a parallel `map`,
//! and batches them.
//!
//! Decoding is lazy: listing the folder reads no image, and each pass reads every file
//! again. A file that cannot be read or decoded is an error item naming the file (the
//! pipeline goes on with the next one). Keras also lists `.bmp` and `.gif` files; wgflow
//! cannot decode them, so finding one is an error up front rather than a silently
//! smaller dataset.

use super::dataset::transform::{SplitMix64, random_seed};
use super::dataset::{AUTOTUNE, Dataset};
use super::image::decode;
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::{ResizeMethod, cast, resize};
use crate::tensor::Tensor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const OP: &str = "image_dataset_from_directory";
const EXTENSIONS: [&str; 3] = ["jpeg", "jpg", "png"];
/// Image files Keras would list but wgflow cannot decode.
const UNSUPPORTED: [&str; 2] = ["bmp", "gif"];

/// How labels are given (Keras's `label_mode`). For Keras's `label_mode=None` use
/// [`ImageDataset::images`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelMode {
    /// The class index, an int32 scalar per image (`'int'`).
    Int,
    /// A one-hot float32 vector of length `class_names.len()` (`'categorical'`).
    Categorical,
    /// 0.0 or 1.0 as a float32 `[1]` vector; exactly two classes (`'binary'`).
    Binary,
}

/// The channels images are decoded to (Keras's `color_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColorMode {
    Grayscale,
    Rgb,
    Rgba,
}

impl ColorMode {
    /// 1, 3 or 4.
    pub fn channels(self) -> u32 {
        match self {
            ColorMode::Grayscale => 1,
            ColorMode::Rgb => 3,
            ColorMode::Rgba => 4,
        }
    }
}

/// Which part of a `validation_split` to return (Keras's `subset`; for `'both'` call
/// [`image_dataset_from_directory_both`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subset {
    Training,
    Validation,
}

/// The options of [`image_dataset_from_directory`], with Keras's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageDatasetOptions {
    /// Default [`LabelMode::Int`].
    pub label_mode: LabelMode,
    /// Only these subfolders, labelled in this order; `None` (default): every subfolder,
    /// sorted.
    pub class_names: Option<Vec<String>>,
    /// Default [`ColorMode::Rgb`].
    pub color_mode: ColorMode,
    /// Images per batch; `None` yields single images. Default `Some(32)`.
    pub batch_size: Option<usize>,
    /// `[height, width]` every image is resized to. Default `[256, 256]`.
    pub image_size: [usize; 2],
    /// Shuffle the files (once, with the seed) and each pass's order. Default `true`.
    pub shuffle: bool,
    /// Seed of the shuffles; `None` draws one, which `validation_split` with `shuffle`
    /// does not allow (the two subsets would overlap).
    pub seed: Option<u64>,
    /// The fraction of files, in `(0, 1)`, kept for validation.
    pub validation_split: Option<f64>,
    /// Which side of the split; required with `validation_split`, and only with it.
    pub subset: Option<Subset>,
    /// Resize method; default bilinear, as Keras.
    pub interpolation: ResizeMethod,
}

impl Default for ImageDatasetOptions {
    fn default() -> Self {
        ImageDatasetOptions {
            label_mode: LabelMode::Int,
            class_names: None,
            color_mode: ColorMode::Rgb,
            batch_size: Some(32),
            image_size: [256, 256],
            shuffle: true,
            seed: None,
            validation_split: None,
            subset: None,
            interpolation: ResizeMethod::Bilinear,
        }
    }
}

/// What [`image_dataset_from_directory`] returns: the dataset and what Keras hangs on it.
#[derive(Clone, Debug)]
pub struct ImageDataset {
    /// `(images, labels)`: float32 `[batch, height, width, channels]` with values in
    /// `0..=255` (Keras's output, not rescaled), and labels as [`LabelMode`] says, batched.
    pub dataset: Dataset<(Tensor, Tensor)>,
    /// The class of each label value, in label order (Keras's `dataset.class_names`).
    pub class_names: Vec<String>,
    /// The files of this dataset after the seeded shuffle and the split (Keras's
    /// `dataset.file_paths`); each pass visits them in its own shuffled order.
    pub file_paths: Vec<PathBuf>,
    /// The class index of each of `file_paths`.
    pub labels: Vec<i32>,
}

impl ImageDataset {
    /// The images without labels (Keras's `label_mode=None`).
    pub fn images(&self) -> Dataset<Tensor> {
        self.dataset.clone().map(|(images, _)| Ok(images))
    }
}

/// Reads a folder of one subfolder per class as a dataset of `(image, label)` batches
/// (Keras's `image_dataset_from_directory`; see the module docs for the order of work).
///
/// ```no_run
/// use wgflow::data::{ImageDatasetOptions, Subset, image_dataset_from_directory};
/// let train = image_dataset_from_directory("PetImages", &ImageDatasetOptions {
///     image_size: [180, 180],
///     seed: Some(1337),
///     validation_split: Some(0.2),
///     subset: Some(Subset::Training),
///     ..Default::default()
/// })?;
/// println!("classes {:?}", train.class_names);
/// for batch in train.dataset.iter()? {
///     let (images, labels) = batch?; // float32 [32, 180, 180, 3], int32 [32]
/// }
/// # Ok::<(), wgflow::Error>(())
/// ```
pub fn image_dataset_from_directory(
    directory: impl AsRef<Path>,
    options: &ImageDatasetOptions,
) -> Result<ImageDataset> {
    let (files, seed) = index(directory.as_ref(), options, false)?;
    let take = match (options.validation_split, options.subset) {
        (Some(split), Some(subset)) => subset_of(&files, split, subset),
        _ => files.clone(),
    };
    build(directory.as_ref(), take, &files.class_names, options, seed)
}

/// Keras's `subset='both'`: the `(training, validation)` datasets of one directory
/// listing. Needs `validation_split`; `options.subset` must be `None`.
pub fn image_dataset_from_directory_both(
    directory: impl AsRef<Path>,
    options: &ImageDatasetOptions,
) -> Result<(ImageDataset, ImageDataset)> {
    let dir = directory.as_ref();
    let (files, seed) = index(dir, options, true)?;
    let split = options.validation_split.unwrap_or(0.0);
    let train = subset_of(&files, split, Subset::Training);
    let val = subset_of(&files, split, Subset::Validation);
    Ok((
        build(dir, train, &files.class_names, options, seed)?,
        build(dir, val, &files.class_names, options, seed)?,
    ))
}

/// The listed files, in the order of the seeded shuffle.
#[derive(Clone)]
struct Files {
    paths: Vec<PathBuf>,
    labels: Vec<i32>,
    class_names: Vec<String>,
}

/// Keras's `check_validation_split_arg`, then the listing and its one shuffle. Returns the
/// seed the pass shuffles use.
fn index(dir: &Path, options: &ImageDatasetOptions, both: bool) -> Result<(Files, u64)> {
    if let Some(s) = options.validation_split
        && !(s > 0.0 && s < 1.0)
    {
        return Err(Error::invalid(
            OP,
            format!("`validation_split` must be between 0 and 1, received: {s}"),
        ));
    }
    if both {
        if options.validation_split.is_none() || options.subset.is_some() {
            return Err(Error::invalid(
                OP,
                "subset 'both' needs `validation_split`, and `subset` left as None",
            ));
        }
    } else if options.validation_split.is_some() != options.subset.is_some() {
        return Err(Error::invalid(
            OP,
            "if `subset` is set, `validation_split` must be set, and inversely",
        ));
    }
    if options.validation_split.is_some() && options.shuffle && options.seed.is_none() {
        return Err(Error::invalid(
            OP,
            "if using `validation_split` and shuffling the data, you must provide a `seed`, \
             to make sure that there is no overlap between the training and validation subset",
        ));
    }
    let [h, w] = options.image_size;
    if h == 0 || w == 0 {
        return Err(Error::invalid(
            OP,
            format!(
                "`image_size` must be positive, got {:?}",
                options.image_size
            ),
        ));
    }
    if options.batch_size == Some(0) {
        return Err(Error::invalid(OP, "`batch_size` must be positive, got 0"));
    }

    let mut subdirs = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir.display(), e))? {
        let entry = entry.map_err(|e| Error::io(dir.display(), e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // `metadata` follows links, as Keras's `isdir`.
        if !name.starts_with('.') && std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()) {
            subdirs.push(name);
        }
    }
    subdirs.sort();
    let class_names = match &options.class_names {
        None => subdirs,
        Some(given) => {
            if let Some(missing) = given.iter().find(|c| !subdirs.contains(c)) {
                return Err(Error::invalid(
                    OP,
                    format!(
                        "class name '{missing}' is not a subfolder of {}; the subfolders are \
                         {subdirs:?}",
                        dir.display()
                    ),
                ));
            }
            given.clone()
        }
    };
    if options.label_mode == LabelMode::Binary && class_names.len() != 2 {
        return Err(Error::invalid(
            OP,
            format!(
                "label_mode Binary needs exactly 2 classes, found {}: {class_names:?}",
                class_names.len()
            ),
        ));
    }

    let (mut paths, mut labels) = (Vec::new(), Vec::new());
    for (label, class) in class_names.iter().enumerate() {
        let mut found = Vec::new();
        walk(&dir.join(class), &mut found)?;
        // Keras sorts by folder, then by file name.
        found.sort_by(|a, b| (a.parent(), a.file_name()).cmp(&(b.parent(), b.file_name())));
        labels.extend(std::iter::repeat_n(label as i32, found.len()));
        paths.extend(found);
    }
    if paths.is_empty() {
        return Err(Error::invalid(
            OP,
            format!(
                "no images found in directory {} (one subfolder per class, with files of \
                 extensions {EXTENSIONS:?})",
                dir.display()
            ),
        ));
    }
    let seed = options.seed.unwrap_or_else(random_seed);
    if options.shuffle {
        // Fisher-Yates over the (path, label) pairs.
        let mut rng = SplitMix64::new(seed, 0);
        for i in (1..paths.len()).rev() {
            let j = rng.below(i + 1);
            paths.swap(i, j);
            labels.swap(i, j);
        }
    }
    Ok((
        Files {
            paths,
            labels,
            class_names,
        },
        seed,
    ))
}

/// The image files under `dir`, recursively; folders reached through links are not
/// entered (Keras's `follow_links=False`), linked files are listed.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir.display(), e))? {
        let entry = entry.map_err(|e| Error::io(dir.display(), e))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| Error::io(path.display(), e))?;
        if kind.is_dir() {
            walk(&path, out)?;
            continue;
        }
        if kind.is_symlink() && !std::fs::metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        if EXTENSIONS.contains(&ext.as_str()) {
            out.push(path);
        } else if UNSUPPORTED.contains(&ext.as_str()) {
            return Err(Error::invalid(
                OP,
                format!(
                    "{} is a {} image, which Keras would read but wgflow cannot decode (JPEG \
                     and PNG only); convert or remove it",
                    path.display(),
                    ext.to_uppercase()
                ),
            ));
        }
    }
    Ok(())
}

/// One side of the split: the last `floor(split * n)` files are validation.
fn subset_of(files: &Files, split: f64, subset: Subset) -> Files {
    let n = files.paths.len();
    let cut = n - (split * n as f64) as usize;
    let range = match subset {
        Subset::Training => 0..cut,
        Subset::Validation => cut..n,
    };
    Files {
        paths: files.paths[range.clone()].to_vec(),
        labels: files.labels[range].to_vec(),
        class_names: files.class_names.clone(),
    }
}

/// Reads, decodes (`channels` as `color_mode`) and resizes one image file to float32.
pub(crate) fn load_image(
    path: &Path,
    channels: u32,
    size: [usize; 2],
    method: ResizeMethod,
) -> Result<Tensor> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path.display(), e))?;
    let pixels = decode("decode_image", &bytes, channels).map_err(|e| match e {
        // Name the file rather than the op as the place of a content error.
        Error::Format { path: op, msg } => Error::format(path.display(), format!("{op}: {msg}")),
        e => e,
    })?;
    let image = Tensor::from_u8(&pixels.data, [pixels.height, pixels.width, pixels.channels])?;
    let resized = resize(&image, size, method)?;
    if resized.dtype() == DType::F32 {
        Ok(resized)
    } else {
        cast(&resized, DType::F32)
    }
}

fn build(
    dir: &Path,
    files: Files,
    class_names: &[String],
    options: &ImageDatasetOptions,
    seed: u64,
) -> Result<ImageDataset> {
    let n = files.paths.len();
    if n == 0 {
        return Err(Error::invalid(
            OP,
            format!(
                "no images left in directory {} for this subset: validation_split {:?} of \
                 the listed files rounds to none",
                dir.display(),
                options.validation_split
            ),
        ));
    }
    // Elements are (file index, label): tensors, so the dataset's own shuffle and batch
    // apply, and a pass reads the files only inside the parallel map.
    let cpu = Device::cpu();
    let index: Vec<i32> = (0..n as i32).collect();
    let pairs = (
        Tensor::from_slice_on(&index, [n], &cpu)?,
        Tensor::from_slice_on(&files.labels, [n], &cpu)?,
    );
    let mut ds = Dataset::from_tensor_slices(pairs)?;
    if options.shuffle {
        let buffer = options.batch_size.map_or(1024, |b| b.saturating_mul(8));
        ds = ds.shuffle(buffer, Some(seed), true)?;
    }
    let paths = Arc::new(files.paths.clone());
    let (channels, size, method) = (
        options.color_mode.channels(),
        options.image_size,
        options.interpolation,
    );
    let (mode, classes) = (options.label_mode, class_names.len());
    let ds = ds.map_parallel(
        move |(i, label): (Tensor, Tensor)| {
            let i = i.first_f64()? as usize;
            let image = load_image(&paths[i], channels, size, method)?;
            let label = match mode {
                LabelMode::Int => label,
                LabelMode::Categorical => {
                    let mut hot = vec![0.0f32; classes];
                    hot[label.first_f64()? as usize] = 1.0;
                    Tensor::from_slice(&hot, [classes])?
                }
                LabelMode::Binary => Tensor::from_slice(&[label.first_f64()? as f32], [1])?,
            };
            Ok((image, label))
        },
        AUTOTUNE,
    );
    let ds = match options.batch_size {
        Some(b) => ds.batch(b, false)?,
        None => ds,
    };
    Ok(ImageDataset {
        dataset: ds.prefetch(AUTOTUNE),
        class_names: class_names.to_vec(),
        file_paths: files.paths,
        labels: files.labels,
    })
}
