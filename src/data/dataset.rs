//! `Dataset`: a lazily evaluated, streaming pipeline of elements (TensorFlow's
//! `tf.data.Dataset`).
//!
//! A dataset is a recipe: every [`Dataset::iter`] makes a fresh stream from the source
//! through each transformation, so `repeat` re-reads its input and `shuffle` can reshuffle
//! each epoch. Elements are [`Structure`]s — a [`Tensor`], tuples, `Vec`s and named maps
//! of them — so `for batch in ds.iter()? { let (images, labels) = batch?; }` is typed.
//!
//! Where the work happens: like TensorFlow, which places input pipelines on the CPU, the
//! pipeline runs with the CPU device as the current device (user `map`/`filter` functions
//! included), and slicing, batching and padding copy words on the host rather than launch
//! a kernel per element. An element moves to the iterator's device only as it leaves the
//! iterator: one upload per tensor of each batch. `Tensor` is `Send + Sync`, so parallel
//! `map` and `prefetch` pass tensors between threads directly (see `parallel`); the
//! alternative, a host-only element type, would force every user function to convert.
//! In the browser (wasm32) there are no threads: parallel `map` runs sequentially and
//! `prefetch` passes elements through.
//!
//! Errors are items: a failing `map` or `filter` function yields an `Err` naming the op
//! and the element's index, and the stream goes on with the next element.
//!
//! ```
//! use wgflow::{Device, Tensor, data::Dataset};
//! let x = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0], [5]).unwrap();
//! let ds = Dataset::from_tensor_slices(x).unwrap()
//!     .map(|x| x * 2.0)
//!     .batch(2, false).unwrap();
//! let batches: Vec<Vec<f32>> = ds.iter_on(&Device::cpu()).unwrap()
//!     .map(|b| b.unwrap().to_vec::<f32>().unwrap())
//!     .collect();
//! assert_eq!(batches, vec![vec![2.0, 4.0], vec![6.0, 8.0], vec![10.0]]);
//! ```

#[cfg(not(target_arch = "wasm32"))]
mod file_cache;
#[cfg(not(target_arch = "wasm32"))]
mod parallel;
mod records;
mod structure;
pub(crate) mod transform;

pub use structure::Structure;

use crate::device::{Device, current_device, with_device};
use crate::dtype::{DType, Scalar};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::sync::Arc;
use structure::{Host, components, map_leaves, pad_stack, stack, to_device};

/// A stream of elements, each a `Result` so that one bad element stops nothing else.
pub(crate) type Stream<T> = Box<dyn Iterator<Item = Result<T>> + Send>;
type Factory<T> = Arc<dyn Fn() -> Result<Stream<T>> + Send + Sync>;

/// How many elements a dataset has, as far as it can tell without iterating
/// (TensorFlow's `cardinality`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cardinality {
    Finite(u64),
    Infinite,
    /// Depends on the data (`filter`, `from_generator`, `unbatch`, ...).
    Unknown,
}

impl Cardinality {
    /// TensorFlow's `tf.data.INFINITE_CARDINALITY`.
    pub const INFINITE: i64 = -1;
    /// TensorFlow's `tf.data.UNKNOWN_CARDINALITY`.
    pub const UNKNOWN: i64 = -2;

    /// The number TensorFlow's `cardinality()` returns: the count, `-1` or `-2`.
    pub fn as_i64(self) -> i64 {
        match self {
            Cardinality::Finite(n) => n.min(i64::MAX as u64) as i64,
            Cardinality::Infinite => Self::INFINITE,
            Cardinality::Unknown => Self::UNKNOWN,
        }
    }

    fn map_finite(self, f: impl FnOnce(u64) -> u64) -> Cardinality {
        match self {
            Cardinality::Finite(n) => Cardinality::Finite(f(n)),
            other => other,
        }
    }
}

/// A degree of parallelism: a fixed count, or [`AUTOTUNE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parallelism {
    Fixed(usize),
    /// Chosen by wgflow: the number of CPU cores for `map`, two batches for `prefetch`.
    Autotune,
}

/// TensorFlow's `tf.data.AUTOTUNE`.
pub const AUTOTUNE: Parallelism = Parallelism::Autotune;

impl From<usize> for Parallelism {
    fn from(n: usize) -> Self {
        Parallelism::Fixed(n)
    }
}

/// A lazily evaluated pipeline of elements of type `T` (see the module docs).
pub struct Dataset<T> {
    make: Factory<T>,
    cardinality: Cardinality,
}

impl<T> Clone for Dataset<T> {
    fn clone(&self) -> Self {
        Dataset {
            make: self.make.clone(),
            cardinality: self.cardinality,
        }
    }
}

impl<T> std::fmt::Debug for Dataset<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dataset(cardinality={:?})", self.cardinality)
    }
}

/// `e` with the op and the index of the element it came from, keeping its kind.
pub(crate) fn at_element(e: Error, op: &str, index: usize) -> Error {
    retag(e, op, &format!("element {index}"))
}

/// `e` as an error of `op` about `what` (`element 4`, `batch 2`), keeping its kind and the
/// name of the op that failed inside.
fn retag(e: Error, op: &str, what: &str) -> Error {
    let at = format!("{op} {what}");
    let inner = |o: String, msg: String| {
        if o == op {
            format!("{what}: {msg}")
        } else {
            format!("{what}: {o}: {msg}")
        }
    };
    match e {
        Error::Shape { op: o, msg } => Error::Shape {
            op: op.into(),
            msg: inner(o, msg),
        },
        Error::DType { op: o, msg } => Error::DType {
            op: op.into(),
            msg: inner(o, msg),
        },
        Error::InvalidArgument { op: o, msg } => Error::InvalidArgument {
            op: op.into(),
            msg: inner(o, msg),
        },
        Error::ResourceExhausted {
            device,
            requested,
            in_use,
            limit,
        } => Error::ResourceExhausted {
            device: format!("{device} ({at})"),
            requested,
            in_use,
            limit,
        },
        Error::Device { device, msg } => Error::Device {
            device,
            msg: format!("{at}: {msg}"),
        },
        Error::Io { path, source } => Error::Io {
            path: format!("{path} ({at})"),
            source,
        },
        Error::Format { path, msg } => Error::Format {
            path,
            msg: format!("{at}: {msg}"),
        },
    }
}

fn once_err<T: Send + 'static>(e: Error) -> Stream<T> {
    Box::new(std::iter::once(Err(e)))
}

impl<T: Structure> Dataset<T> {
    pub(crate) fn new(
        cardinality: Cardinality,
        make: impl Fn() -> Result<Stream<T>> + Send + Sync + 'static,
    ) -> Self {
        Dataset {
            make: Arc::new(make),
            cardinality,
        }
    }

    /// A fresh stream of the pipeline (on the calling thread's current device).
    pub(crate) fn stream(&self) -> Result<Stream<T>> {
        (self.make)()
    }

    /// One element per slice of the tensors along their first axis (TensorFlow's
    /// `from_tensor_slices`); all tensors of `tensors` must agree on that axis. The values
    /// are read to the host once, here.
    pub fn from_tensor_slices(tensors: T) -> Result<Dataset<T>> {
        const OP: &str = "Dataset.from_tensor_slices";
        let leaves = tensors.flatten();
        let hosts = Arc::new(leaves.iter().map(Host::of).collect::<Result<Vec<_>>>()?);
        let n = structure::rows(OP, &hosts)?;
        // Keep the nesting, not the caller's (possibly large, possibly GPU) tensors.
        let dummy = Host {
            dtype: DType::F32,
            shape: vec![],
            words: vec![0],
        }
        .tensor()?;
        let template = tensors.rebuild(&mut std::iter::repeat(dummy))?;
        Ok(Dataset::new(Cardinality::Finite(n as u64), move || {
            let (hosts, template) = (hosts.clone(), template.clone());
            Ok(Box::new((0..n).map(move |i| -> Result<T> {
                let leaves = hosts.iter().map(|h| h.row(i)).collect::<Result<Vec<_>>>()?;
                template.rebuild(&mut leaves.into_iter())
            })))
        }))
    }

    /// A dataset of exactly one element, `tensors` (TensorFlow's `from_tensors`).
    pub fn from_tensors(tensors: T) -> Dataset<T> {
        Dataset::new(Cardinality::Finite(1), move || {
            Ok(Box::new(std::iter::once(Ok(tensors.clone()))))
        })
    }

    /// Elements from a Rust iterator made anew by `generator` for every pass (TensorFlow's
    /// `from_generator`). The generator runs on the pipeline's thread with the CPU device
    /// current; its `Err` items pass through as error items.
    pub fn from_generator<F, I>(generator: F) -> Dataset<T>
    where
        F: Fn() -> I + Send + Sync + 'static,
        I: IntoIterator<Item = Result<T>>,
        I::IntoIter: Send + 'static,
    {
        Dataset::new(Cardinality::Unknown, move || {
            Ok(Box::new(generator().into_iter()))
        })
    }

    /// How many elements the dataset has, when known without iterating.
    pub fn cardinality(&self) -> Cardinality {
        self.cardinality
    }

    /// An iterator whose elements land on the current device ([`crate::with_device`] or
    /// the default device).
    pub fn iter(&self) -> Result<DatasetIterator<T>> {
        self.iter_on(&current_device()?)
    }

    /// An iterator whose elements land on `device` (one upload per tensor of an element).
    pub fn iter_on(&self, device: &Device) -> Result<DatasetIterator<T>> {
        let cpu = Device::cpu();
        let inner = with_device(&cpu, || self.stream())?;
        Ok(DatasetIterator {
            inner,
            device: device.clone(),
            cpu,
        })
    }

    /// `f` applied to every element, in order, on the consuming thread (TensorFlow's `map`).
    /// An error from `f` becomes that element's item, with its index; later elements still
    /// come.
    pub fn map<U, F>(self, f: F) -> Dataset<U>
    where
        U: Structure,
        F: Fn(T) -> Result<U> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let up = self.make;
        Dataset::new(self.cardinality, move || {
            let f = f.clone();
            Ok(Box::new(up()?.enumerate().map(move |(i, r)| {
                r.and_then(|x| f(x).map_err(|e| at_element(e, "Dataset.map", i)))
            })))
        })
    }

    /// `map` with `f` running on `num_parallel_calls` worker threads; elements still come
    /// out in input order (TensorFlow's `map(f, num_parallel_calls, deterministic=True)`).
    pub fn map_parallel<U, F>(self, f: F, num_parallel_calls: impl Into<Parallelism>) -> Dataset<U>
    where
        U: Structure,
        F: Fn(T) -> Result<U> + Send + Sync + 'static,
    {
        self.map_with(f, num_parallel_calls.into(), true)
    }

    /// Parallel `map` whose elements come out as they finish (`deterministic=False`):
    /// faster when element costs vary, at the price of a run-dependent order.
    pub fn map_parallel_unordered<U, F>(
        self,
        f: F,
        num_parallel_calls: impl Into<Parallelism>,
    ) -> Dataset<U>
    where
        U: Structure,
        F: Fn(T) -> Result<U> + Send + Sync + 'static,
    {
        self.map_with(f, num_parallel_calls.into(), false)
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn map_with<U, F>(self, f: F, n: Parallelism, deterministic: bool) -> Dataset<U>
    where
        U: Structure,
        F: Fn(T) -> Result<U> + Send + Sync + 'static,
    {
        let workers = match n {
            Parallelism::Fixed(n) => n,
            Parallelism::Autotune => std::thread::available_parallelism().map_or(2, |n| n.get()),
        };
        if workers <= 1 {
            return self.map(f);
        }
        let f: Arc<dyn Fn(T) -> Result<U> + Send + Sync> = Arc::new(f);
        let up = self.make;
        Dataset::new(self.cardinality, move || {
            let it = parallel::ParallelMap::new(up()?, f.clone(), workers, deterministic)?;
            Ok(Box::new(it))
        })
    }

    #[cfg(target_arch = "wasm32")]
    fn map_with<U, F>(self, f: F, _n: Parallelism, _deterministic: bool) -> Dataset<U>
    where
        U: Structure,
        F: Fn(T) -> Result<U> + Send + Sync + 'static,
    {
        self.map(f)
    }

    /// The elements for which `predicate` is true (TensorFlow's `filter`). A predicate
    /// error becomes that element's item, with its index.
    pub fn filter<F>(self, predicate: F) -> Dataset<T>
    where
        F: Fn(&T) -> Result<bool> + Send + Sync + 'static,
    {
        let p = Arc::new(predicate);
        let up = self.make;
        Dataset::new(Cardinality::Unknown, move || {
            let p = p.clone();
            Ok(Box::new(up()?.enumerate().filter_map(
                move |(i, r)| match r {
                    Err(e) => Some(Err(e)),
                    Ok(x) => match p(&x) {
                        Ok(true) => Some(Ok(x)),
                        Ok(false) => None,
                        Err(e) => Some(Err(at_element(e, "Dataset.filter", i))),
                    },
                },
            )))
        })
    }

    /// Consecutive elements stacked along a new first axis (TensorFlow's `batch`); the
    /// last batch may be smaller unless `drop_remainder`. Elements must agree in shape.
    pub fn batch(self, batch_size: usize, drop_remainder: bool) -> Result<Dataset<T>> {
        const OP: &str = "Dataset.batch";
        self.grouped(OP, batch_size, drop_remainder, |elements, b| {
            let comps =
                components(OP, &elements).map_err(|e| retag(e, OP, &format!("batch {b}")))?;
            let stacked = comps
                .iter()
                .enumerate()
                .map(|(c, parts)| stack(OP, c, parts))
                .collect::<Result<Vec<_>>>()
                .map_err(|e| retag(e, OP, &format!("batch {b}")))?;
            elements[0].rebuild(&mut stacked.into_iter())
        })
    }

    /// `batch` for elements of different shapes: each component is padded at the end of
    /// every axis with zeros (false for bool) to the largest size in the batch
    /// (TensorFlow's `padded_batch` without `padded_shapes`).
    pub fn padded_batch(self, batch_size: usize, drop_remainder: bool) -> Result<Dataset<T>> {
        self.padded_batch_with(batch_size, None, None, drop_remainder)
    }

    /// `padded_batch` with, per flattened component, a padded shape (`None` on an axis:
    /// the batch's largest) and a padding value (of the component's dtype).
    pub fn padded_batch_with(
        self,
        batch_size: usize,
        padded_shapes: Option<Vec<Vec<Option<usize>>>>,
        padding_values: Option<Vec<Scalar>>,
        drop_remainder: bool,
    ) -> Result<Dataset<T>> {
        const OP: &str = "Dataset.padded_batch";
        self.grouped(OP, batch_size, drop_remainder, move |elements, b| {
            let comps =
                components(OP, &elements).map_err(|e| retag(e, OP, &format!("batch {b}")))?;
            let check = |what: &str, len: usize| {
                if len != comps.len() {
                    return Err(Error::invalid(
                        OP,
                        format!("{len} {what} given for elements of {} tensors", comps.len()),
                    ));
                }
                Ok(())
            };
            if let Some(s) = &padded_shapes {
                check("padded shapes", s.len())?;
            }
            if let Some(v) = &padding_values {
                check("padding values", v.len())?;
            }
            let stacked = comps
                .iter()
                .enumerate()
                .map(|(c, parts)| {
                    let pad = match padding_values.as_ref().map(|v| v[c]) {
                        None => 0,
                        Some(v) if v.dtype() == parts[0].dtype() => v.bits(),
                        Some(v) => {
                            return Err(Error::dtype(
                                OP,
                                format!(
                                    "padding value {v:?} of component {c} is {} but the \
                                     component is {}",
                                    v.dtype(),
                                    parts[0].dtype()
                                ),
                            ));
                        }
                    };
                    let target = padded_shapes.as_ref().map(|s| s[c].as_slice());
                    pad_stack(OP, c, parts, target, pad)
                })
                .collect::<Result<Vec<_>>>()
                .map_err(|e| retag(e, OP, &format!("batch {b}")))?;
            elements[0].rebuild(&mut stacked.into_iter())
        })
    }

    /// Groups of `size` elements combined by `combine(group, group_index)`.
    fn grouped(
        self,
        op: &'static str,
        size: usize,
        drop_remainder: bool,
        combine: impl Fn(Vec<T>, usize) -> Result<T> + Send + Sync + 'static,
    ) -> Result<Dataset<T>> {
        if size == 0 {
            return Err(Error::invalid(op, "batch_size must be positive, got 0"));
        }
        let s = size as u64;
        let card = self
            .cardinality
            .map_finite(|n| if drop_remainder { n / s } else { n.div_ceil(s) });
        let combine = Arc::new(combine);
        let up = self.make;
        Ok(Dataset::new(card, move || {
            Ok(Box::new(transform::Grouped {
                up: up()?,
                size,
                drop_remainder,
                buf: Vec::with_capacity(size),
                index: 0,
                combine: combine.clone(),
            }))
        }))
    }

    /// Every row of every element along the first axis (TensorFlow's `unbatch`).
    pub fn unbatch(self) -> Dataset<T> {
        let up = self.make;
        Dataset::new(Cardinality::Unknown, move || {
            Ok(Box::new(up()?.enumerate().flat_map(|(i, r)| {
                let rows: Vec<Result<T>> = match r.and_then(|x| {
                    structure::unbatch("Dataset.unbatch", &x)
                        .map_err(|e| at_element(e, "Dataset.unbatch", i))
                }) {
                    Ok(rows) => rows.into_iter().map(Ok).collect(),
                    Err(e) => vec![Err(e)],
                };
                rows
            })))
        })
    }

    /// The dataset `count` times, or forever with `None` (TensorFlow's `repeat`). Each
    /// pass is a fresh stream; repeating an empty dataset forever yields nothing.
    pub fn repeat(self, count: Option<u64>) -> Dataset<T> {
        let card = match (self.cardinality, count) {
            (_, Some(0)) | (Cardinality::Finite(0), _) => Cardinality::Finite(0),
            (Cardinality::Finite(n), Some(k)) => Cardinality::Finite(n.saturating_mul(k)),
            (Cardinality::Finite(_) | Cardinality::Infinite, None) => Cardinality::Infinite,
            (c, _) => c,
        };
        let up = self.make;
        Dataset::new(card, move || {
            Ok(Box::new(transform::Repeat {
                make: up.clone(),
                cur: None,
                left: count,
                yielded: false,
            }))
        })
    }

    /// The first `count` elements; a negative count takes all (TensorFlow's `take`).
    pub fn take(self, count: i64) -> Dataset<T> {
        let Ok(n) = u64::try_from(count) else {
            return self;
        };
        let card = match self.cardinality {
            Cardinality::Finite(m) => Cardinality::Finite(m.min(n)),
            Cardinality::Infinite => Cardinality::Finite(n),
            Cardinality::Unknown => Cardinality::Unknown,
        };
        let up = self.make;
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        Dataset::new(card, move || Ok(Box::new(up()?.take(n))))
    }

    /// All but the first `count` elements; a negative count skips everything (TensorFlow's
    /// `skip`).
    pub fn skip(self, count: i64) -> Dataset<T> {
        let up = self.make;
        let Ok(n) = u64::try_from(count) else {
            return Dataset::new(Cardinality::Finite(0), || {
                Ok(Box::new(std::iter::empty::<Result<T>>()))
            });
        };
        let card = self.cardinality.map_finite(|m| m.saturating_sub(n));
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        Dataset::new(card, move || Ok(Box::new(up()?.skip(n))))
    }

    /// Pairs of elements of `self` and `other`, as long as the shorter (TensorFlow's
    /// `zip`); nest calls or zip tuples for more.
    pub fn zip<U: Structure>(self, other: Dataset<U>) -> Dataset<(T, U)> {
        let card = match (self.cardinality, other.cardinality) {
            (Cardinality::Unknown, _) | (_, Cardinality::Unknown) => Cardinality::Unknown,
            (Cardinality::Infinite, c) | (c, Cardinality::Infinite) => c,
            (Cardinality::Finite(a), Cardinality::Finite(b)) => Cardinality::Finite(a.min(b)),
        };
        let (a, b) = (self.make, other.make);
        Dataset::new(card, move || {
            Ok(Box::new(
                a()?.zip(b()?)
                    .map(|(x, y)| -> Result<(T, U)> { Ok((x?, y?)) }),
            ))
        })
    }

    /// The elements of `self`, then those of `other` (TensorFlow's `concatenate`).
    pub fn concatenate(self, other: Dataset<T>) -> Dataset<T> {
        let card = match (self.cardinality, other.cardinality) {
            (Cardinality::Infinite, _) | (_, Cardinality::Infinite) => Cardinality::Infinite,
            (Cardinality::Unknown, _) | (_, Cardinality::Unknown) => Cardinality::Unknown,
            (Cardinality::Finite(a), Cardinality::Finite(b)) => {
                Cardinality::Finite(a.saturating_add(b))
            }
        };
        let (a, b) = (self.make, other.make);
        Dataset::new(card, move || {
            let b = b.clone();
            // The second stream starts only when the first ends.
            let second = std::iter::once(()).flat_map(move |()| b().unwrap_or_else(once_err));
            Ok(Box::new(a()?.chain(second)))
        })
    }

    /// Each element with its position counted from `start`, as an `int32` scalar
    /// (TensorFlow's `enumerate`, whose index is `int64`).
    pub fn enumerate(self, start: i64) -> Dataset<(Tensor, T)> {
        let up = self.make;
        Dataset::new(self.cardinality, move || {
            Ok(Box::new(up()?.enumerate().map(
                move |(i, r)| -> Result<(Tensor, T)> {
                    let index = start
                        .checked_add(i as i64)
                        .and_then(|k| i32::try_from(k).ok())
                        .ok_or_else(|| {
                            Error::invalid(
                                "Dataset.enumerate",
                                format!("index {start} + {i} does not fit in int32"),
                            )
                        })?;
                    let t = Tensor::from_words(&[index as u32], &[], DType::I32, &Device::cpu())?;
                    Ok((t, r?))
                },
            )))
        })
    }

    /// The elements in a random order, drawn through a buffer of `buffer_size`
    /// (TensorFlow's algorithm: fill the buffer, output a random slot, refill that slot
    /// with the next element). A `seed` makes the order reproducible; with
    /// `reshuffle_each_iteration` each pass (each `iter`, each `repeat` epoch) draws a new
    /// order, else every pass repeats the first one.
    pub fn shuffle(
        self,
        buffer_size: usize,
        seed: Option<u64>,
        reshuffle_each_iteration: bool,
    ) -> Result<Dataset<T>> {
        if buffer_size == 0 {
            return Err(Error::invalid(
                "Dataset.shuffle",
                "buffer_size must be positive, got 0",
            ));
        }
        let seed = seed.unwrap_or_else(transform::random_seed);
        let epoch = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let up = self.make;
        Ok(Dataset::new(self.cardinality, move || {
            let e = if reshuffle_each_iteration {
                epoch.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            } else {
                0
            };
            Ok(Box::new(transform::Shuffle {
                up: up()?,
                buf: Vec::with_capacity(buffer_size.min(1 << 16)),
                size: buffer_size,
                rng: transform::SplitMix64::new(seed, e),
                filled: false,
            }))
        }))
    }

    /// Runs the pipeline so far on a background thread that keeps up to `buffer_size`
    /// elements ready (TensorFlow's `prefetch`; [`AUTOTUNE`] keeps two). `0` does nothing.
    pub fn prefetch(self, buffer_size: impl Into<Parallelism>) -> Dataset<T> {
        let n = match buffer_size.into() {
            Parallelism::Fixed(n) => n,
            Parallelism::Autotune => 2,
        };
        if n == 0 {
            return self;
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let up = self.make;
            Dataset::new(self.cardinality, move || parallel::prefetch(up()?, n))
        }
        #[cfg(target_arch = "wasm32")]
        self
    }

    /// For each element, a dataset from `f`; `cycle_length` of them are open at a time and
    /// their elements are taken round-robin, `block_length` at a time (TensorFlow's
    /// `interleave`, sequential).
    pub fn interleave<U, F>(
        self,
        f: F,
        cycle_length: usize,
        block_length: usize,
    ) -> Result<Dataset<U>>
    where
        U: Structure,
        F: Fn(T) -> Result<Dataset<U>> + Send + Sync + 'static,
    {
        self.interleave_with(f, cycle_length, block_length, 0)
    }

    /// [`Dataset::interleave`] reading up to `num_parallel_calls` of the open datasets at
    /// once, each on a background thread that keeps a few elements ready (TensorFlow's
    /// `interleave(..., num_parallel_calls)` with `deterministic=True`: the same order as
    /// the sequential form). [`AUTOTUNE`] reads all `cycle_length` at once; 1 is sequential.
    pub fn interleave_parallel<U, F>(
        self,
        f: F,
        cycle_length: usize,
        block_length: usize,
        num_parallel_calls: impl Into<Parallelism>,
    ) -> Result<Dataset<U>>
    where
        U: Structure,
        F: Fn(T) -> Result<Dataset<U>> + Send + Sync + 'static,
    {
        let threads = match num_parallel_calls.into() {
            Parallelism::Fixed(n) => n.min(cycle_length),
            Parallelism::Autotune => cycle_length,
        };
        // In the browser there are no threads: the sequential form gives the same elements.
        let threads = if cfg!(target_arch = "wasm32") || threads <= 1 {
            0
        } else {
            threads
        };
        self.interleave_with(f, cycle_length, block_length, threads)
    }

    fn interleave_with<U, F>(
        self,
        f: F,
        cycle_length: usize,
        block_length: usize,
        threads: usize,
    ) -> Result<Dataset<U>>
    where
        U: Structure,
        F: Fn(T) -> Result<Dataset<U>> + Send + Sync + 'static,
    {
        if cycle_length == 0 || block_length == 0 {
            return Err(Error::invalid(
                "Dataset.interleave",
                format!(
                    "cycle_length and block_length must be positive, got {cycle_length} and \
                     {block_length}"
                ),
            ));
        }
        let f = Arc::new(f);
        let up = self.make;
        Ok(Dataset::new(Cardinality::Unknown, move || {
            Ok(Box::new(transform::Interleave {
                up: up()?,
                f: f.clone(),
                slots: (0..cycle_length).map(|_| None).collect(),
                pos: 0,
                in_block: 0,
                block_length,
                up_done: false,
                index: 0,
                threads,
                background: vec![false; cycle_length],
            }))
        }))
    }

    /// Keeps the elements of the first complete, error-free pass in the file `path` and
    /// reads them from there on later passes, in this process or a later one (TensorFlow's
    /// `cache(filename)`). The file appears only when a pass ends cleanly (written beside it
    /// and renamed), so an interrupted pass leaves none; a damaged file is an error naming
    /// it. A pass reading the file still takes one element from the pipeline above, to
    /// learn the element's nesting.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn cache_file(self, path: impl AsRef<std::path::Path>) -> Dataset<T> {
        let path = path.as_ref().to_path_buf();
        let up = self.make;
        Dataset::new(self.cardinality, move || {
            if path.is_file() {
                let template = up()?.next().transpose()?;
                return Ok(Box::new(file_cache::Reader::open(&path, template)?));
            }
            Ok(Box::new(file_cache::Writer::new(up()?, &path)?))
        })
    }

    /// Keeps the elements of the first complete, error-free pass in memory and replays
    /// them on later passes (TensorFlow's `cache()` without a file name).
    pub fn cache(self) -> Dataset<T> {
        let store: transform::CacheStore<T> = Arc::default();
        let up = self.make;
        Dataset::new(self.cardinality, move || {
            if let Ok(guard) = store.lock()
                && let Some(done) = guard.as_ref()
            {
                let done = done.clone();
                return Ok(Box::new((0..done.len()).map(move |i| Ok(done[i].clone()))));
            }
            Ok(Box::new(transform::Record {
                up: up()?,
                seen: Vec::new(),
                clean: true,
                store: store.clone(),
            }))
        })
    }
}

impl Dataset<Tensor> {
    /// `int32` scalars `start, start + step, ...` before `stop` (TensorFlow's `range`).
    pub fn range(start: i64, stop: i64, step: i64) -> Result<Dataset<Tensor>> {
        const OP: &str = "Dataset.range";
        if step == 0 {
            return Err(Error::invalid(OP, "step must not be 0"));
        }
        let (s, e, st) = (start as i128, stop as i128, step as i128);
        let n = if (st > 0 && e > s) || (st < 0 && e < s) {
            (e - s + st - st.signum()) / st
        } else {
            0
        };
        let last = s + (n - 1).max(0) * st;
        if n > 0 && (i32::try_from(s).is_err() || i32::try_from(last).is_err()) {
            return Err(Error::invalid(
                OP,
                format!("range({start}, {stop}, {step}) leaves int32, wgflow's integer dtype"),
            ));
        }
        let n = n as u64;
        Ok(Dataset::new(Cardinality::Finite(n), move || {
            Ok(Box::new((0..n).map(move |i| {
                let v = (start + i as i64 * step) as i32;
                Tensor::from_words(&[v as u32], &[], DType::I32, &Device::cpu())
            })))
        }))
    }
}

/// An iterator over a [`Dataset`]'s elements, each moved to the iterator's device.
pub struct DatasetIterator<T> {
    inner: Stream<T>,
    device: Device,
    cpu: Device,
}

impl<T: Structure> DatasetIterator<T> {
    /// The device elements land on.
    pub fn device(&self) -> &Device {
        &self.device
    }
}

impl<T: Structure> Iterator for DatasetIterator<T> {
    type Item = Result<T>;
    fn next(&mut self) -> Option<Result<T>> {
        let item = with_device(&self.cpu, || self.inner.next())?;
        Some(item.and_then(|x| map_leaves(&x, |t| to_device(t, &self.device))))
    }
}
