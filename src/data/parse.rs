//! `tf.io.parse_single_example` / `tf.io.parse_example`: serialized Examples to tensors by a
//! spec of [`FixedLenFeature`]s and [`VarLenFeature`]s.
//!
//! wgflow has no 64-bit and no string dtype, so the three TensorFlow feature dtypes land as:
//! `float32` → an `F32` tensor; `int64` → an `I32` tensor, each value checked (one outside
//! int32 is an error naming the feature, never a wrapped number); `string` → a host-side
//! [`BytesTensor`] (shape + byte strings), since byte strings cannot live in a GPU buffer.
//! Parsing happens on the host; the tensors are made on the current device.

use super::example::{Example, Feature, FeatureKind};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use std::fmt;

/// The dtype a feature spec reads: TensorFlow's `tf.float32`, `tf.int64`, `tf.string`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FeatureDType {
    /// A `float_list`, as an `F32` tensor.
    Float32,
    /// An `int64_list`, as an `I32` tensor (checked: wgflow has no 64-bit dtype).
    Int64,
    /// A `bytes_list`, as a [`BytesTensor`].
    String,
}

impl FeatureDType {
    /// The proto list this dtype is stored in.
    fn list_name(self) -> &'static str {
        match self {
            FeatureDType::Float32 => "float_list",
            FeatureDType::Int64 => "int64_list",
            FeatureDType::String => "bytes_list",
        }
    }
}

impl fmt::Display for FeatureDType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FeatureDType::Float32 => "float32",
            FeatureDType::Int64 => "int64",
            FeatureDType::String => "string",
        })
    }
}

/// A feature with exactly `shape.product()` values in every Example
/// (`tf.io.FixedLenFeature(shape, dtype, default_value)`).
#[derive(Clone, Debug, PartialEq)]
pub struct FixedLenFeature {
    pub shape: Vec<usize>,
    pub dtype: FeatureDType,
    /// Used where an Example lacks the feature: a list of the spec's dtype with exactly
    /// `shape.product()` values. Without it a missing feature is an error.
    pub default_value: Option<Feature>,
}

impl FixedLenFeature {
    /// A required feature of `shape` and `dtype`.
    pub fn new(shape: impl AsRef<[usize]>, dtype: FeatureDType) -> Self {
        FixedLenFeature {
            shape: shape.as_ref().to_vec(),
            dtype,
            default_value: None,
        }
    }
    /// The same spec with a default for Examples that lack the feature.
    pub fn with_default(mut self, default_value: impl Into<Feature>) -> Self {
        self.default_value = Some(default_value.into());
        self
    }
}

/// A feature with any number of values per Example, parsed into a [`SparseTensor`]
/// (`tf.io.VarLenFeature(dtype)`); a missing feature has no values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VarLenFeature {
    pub dtype: FeatureDType,
}

impl VarLenFeature {
    /// A variable-length feature of `dtype`.
    pub fn new(dtype: FeatureDType) -> Self {
        VarLenFeature { dtype }
    }
}

/// One entry of a parse spec.
#[derive(Clone, Debug, PartialEq)]
pub enum FeatureSpec {
    FixedLen(FixedLenFeature),
    VarLen(VarLenFeature),
}

impl From<FixedLenFeature> for FeatureSpec {
    fn from(f: FixedLenFeature) -> Self {
        FeatureSpec::FixedLen(f)
    }
}
impl From<VarLenFeature> for FeatureSpec {
    fn from(f: VarLenFeature) -> Self {
        FeatureSpec::VarLen(f)
    }
}

/// A host-side tensor of byte strings: what TensorFlow returns as a `tf.string` tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BytesTensor {
    shape: Vec<usize>,
    values: Vec<Vec<u8>>,
}

impl BytesTensor {
    /// Byte strings in row-major order with `shape`; the counts must agree.
    pub fn new(values: Vec<Vec<u8>>, shape: impl AsRef<[usize]>) -> Result<Self> {
        let shape = shape.as_ref().to_vec();
        let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        if n != Some(values.len()) {
            return Err(Error::shape(
                "BytesTensor",
                format!("{} values do not fill shape {shape:?}", values.len()),
            ));
        }
        Ok(BytesTensor { shape, values })
    }
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }
    /// The byte strings in row-major order.
    pub fn values(&self) -> &[Vec<u8>] {
        &self.values
    }
    pub fn into_values(self) -> Vec<Vec<u8>> {
        self.values
    }
}

/// TensorFlow's `tf.sparse.SparseTensor`: `values[i]` sits at `indices[i]` of a dense tensor
/// of `dense_shape`. `indices` is `I32 [n, rank]` and `dense_shape` `I32 [rank]` (int64 in
/// TensorFlow); `values` is a [`Tensor`] of `[n]`, or a [`BytesTensor`] for strings.
#[derive(Clone, Debug)]
pub struct SparseTensor<V = Tensor> {
    pub indices: Tensor,
    pub values: V,
    pub dense_shape: Tensor,
}

/// One parsed feature.
#[derive(Clone, Debug)]
pub enum ParsedFeature {
    /// A [`FixedLenFeature`] of float32 or int64.
    Dense(Tensor),
    /// A [`FixedLenFeature`] of string.
    DenseBytes(BytesTensor),
    /// A [`VarLenFeature`] of float32 or int64.
    Sparse(SparseTensor),
    /// A [`VarLenFeature`] of string.
    SparseBytes(SparseTensor<BytesTensor>),
}

impl ParsedFeature {
    fn what(&self) -> &'static str {
        match self {
            ParsedFeature::Dense(_) => "a dense tensor (FixedLenFeature)",
            ParsedFeature::DenseBytes(_) => "dense byte strings (FixedLenFeature of string)",
            ParsedFeature::Sparse(_) => "a SparseTensor (VarLenFeature)",
            ParsedFeature::SparseBytes(_) => {
                "a SparseTensor of byte strings (VarLenFeature of string)"
            }
        }
    }
}

/// The result of parsing: one [`ParsedFeature`] per spec key (TensorFlow's output dict).
#[derive(Clone, Debug)]
pub struct ParsedFeatures {
    op: &'static str,
    features: BTreeMap<String, ParsedFeature>,
}

impl ParsedFeatures {
    /// Feature `key`, if the spec had it.
    pub fn get(&self, key: &str) -> Option<&ParsedFeature> {
        self.features.get(key)
    }
    fn entry(&self, key: &str) -> Result<&ParsedFeature> {
        self.features.get(key).ok_or_else(|| {
            Error::invalid(
                self.op,
                format!(
                    "no feature '{key}' in the parse spec (it has: {})",
                    self.features.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )
        })
    }
    fn wrong(&self, key: &str, got: &ParsedFeature, want: &str) -> Error {
        Error::invalid(
            self.op,
            format!("feature '{key}' was parsed as {}, not {want}", got.what()),
        )
    }
    /// The dense tensor of a float32/int64 [`FixedLenFeature`].
    pub fn tensor(&self, key: &str) -> Result<&Tensor> {
        match self.entry(key)? {
            ParsedFeature::Dense(t) => Ok(t),
            other => Err(self.wrong(key, other, "a dense tensor")),
        }
    }
    /// The byte strings of a string [`FixedLenFeature`].
    pub fn bytes(&self, key: &str) -> Result<&BytesTensor> {
        match self.entry(key)? {
            ParsedFeature::DenseBytes(t) => Ok(t),
            other => Err(self.wrong(key, other, "dense byte strings")),
        }
    }
    /// The SparseTensor of a float32/int64 [`VarLenFeature`].
    pub fn sparse(&self, key: &str) -> Result<&SparseTensor> {
        match self.entry(key)? {
            ParsedFeature::Sparse(t) => Ok(t),
            other => Err(self.wrong(key, other, "a SparseTensor")),
        }
    }
    /// The SparseTensor of a string [`VarLenFeature`].
    pub fn sparse_bytes(&self, key: &str) -> Result<&SparseTensor<BytesTensor>> {
        match self.entry(key)? {
            ParsedFeature::SparseBytes(t) => Ok(t),
            other => Err(self.wrong(key, other, "a SparseTensor of byte strings")),
        }
    }
    /// `(key, feature)` in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ParsedFeature)> {
        self.features.iter().map(|(k, v)| (k.as_str(), v))
    }
    pub fn len(&self) -> usize {
        self.features.len()
    }
    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }
    pub fn into_map(self) -> BTreeMap<String, ParsedFeature> {
        self.features
    }
}

/// Values of one feature gathered across Examples, in the spec's dtype.
enum Column {
    F32(Vec<f32>),
    I32(Vec<i32>),
    Bytes(Vec<Vec<u8>>),
}

impl Column {
    fn new(dtype: FeatureDType) -> Self {
        match dtype {
            FeatureDType::Float32 => Column::F32(Vec::new()),
            FeatureDType::Int64 => Column::I32(Vec::new()),
            FeatureDType::String => Column::Bytes(Vec::new()),
        }
    }
    fn len(&self) -> usize {
        match self {
            Column::F32(v) => v.len(),
            Column::I32(v) => v.len(),
            Column::Bytes(v) => v.len(),
        }
    }
}

/// Where an error happened, for messages: the op, and the Example's index in a batch.
struct Ctx {
    op: &'static str,
    index: Option<usize>,
}

impl Ctx {
    fn err(&self, key: &str, msg: impl fmt::Display) -> Error {
        match self.index {
            Some(i) => Error::invalid(self.op, format!("example {i}, feature '{key}': {msg}")),
            None => Error::invalid(self.op, format!("feature '{key}': {msg}")),
        }
    }
    fn dtype_err(&self, key: &str, msg: impl fmt::Display) -> Error {
        match self.index {
            Some(i) => Error::dtype(self.op, format!("example {i}, feature '{key}': {msg}")),
            None => Error::dtype(self.op, format!("feature '{key}': {msg}")),
        }
    }

    /// Appends `feature`'s values to `col`, checking its list matches the spec's dtype. An
    /// unset list counts as an empty one of any dtype.
    fn append(
        &self,
        key: &str,
        dtype: FeatureDType,
        feature: &Feature,
        col: &mut Column,
    ) -> Result<()> {
        match (&feature.kind, col) {
            (None, _) => {}
            (Some(FeatureKind::FloatList(l)), Column::F32(out)) => out.extend_from_slice(&l.value),
            (Some(FeatureKind::Int64List(l)), Column::I32(out)) => {
                for &v in &l.value {
                    let v = i32::try_from(v).map_err(|_| {
                        self.err(
                            key,
                            format!(
                                "int64 value {v} does not fit in int32 (wgflow stores int64 features as int32)"
                            ),
                        )
                    })?;
                    out.push(v);
                }
            }
            (Some(FeatureKind::BytesList(l)), Column::Bytes(out)) => {
                out.extend(l.value.iter().cloned())
            }
            _ => {
                return Err(self.dtype_err(
                    key,
                    format!(
                        "data types don't match: the example has a {}, the spec asks for {dtype} ({})",
                        feature.kind_name(),
                        dtype.list_name()
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn numel(op: &str, key: &str, shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| Error::invalid(op, format!("feature '{key}': shape {shape:?} is too large")))
}

fn i32_dim(op: &str, key: &str, n: usize) -> Result<i32> {
    i32::try_from(n).map_err(|_| {
        Error::invalid(
            op,
            format!("feature '{key}': dimension {n} does not fit in int32"),
        )
    })
}

fn dense(col: Column, shape: Vec<usize>) -> Result<ParsedFeature> {
    Ok(match col {
        Column::F32(v) => ParsedFeature::Dense(Tensor::from_slice(&v, &shape)?),
        Column::I32(v) => ParsedFeature::Dense(Tensor::from_slice(&v, &shape)?),
        Column::Bytes(v) => ParsedFeature::DenseBytes(BytesTensor::new(v, &shape)?),
    })
}

/// Builds a SparseTensor from per-Example value counts: row `b` holds `counts[b]` values
/// at columns `0..counts[b]`. Without a batch (`batched == false`) there is one row and the
/// indices are one-dimensional, as `parse_single_example` returns them.
fn sparse(
    op: &str,
    key: &str,
    col: Column,
    counts: &[usize],
    batched: bool,
) -> Result<ParsedFeature> {
    let n = col.len();
    let max = counts.iter().copied().max().unwrap_or(0);
    let (indices, dense_shape) = if batched {
        let mut idx = Vec::with_capacity(2 * n);
        for (b, &c) in counts.iter().enumerate() {
            let b = i32_dim(op, key, b)?;
            for j in 0..c {
                idx.push(b);
                idx.push(i32_dim(op, key, j)?);
            }
        }
        let shape = [i32_dim(op, key, counts.len())?, i32_dim(op, key, max)?];
        (
            Tensor::from_slice(&idx, [n, 2])?,
            Tensor::from_slice(&shape, [2])?,
        )
    } else {
        let idx = (0..n)
            .map(|j| i32_dim(op, key, j))
            .collect::<Result<Vec<_>>>()?;
        let shape = [i32_dim(op, key, n)?];
        (
            Tensor::from_slice(&idx, [n, 1])?,
            Tensor::from_slice(&shape, [1])?,
        )
    };
    Ok(match col {
        Column::F32(v) => ParsedFeature::Sparse(SparseTensor {
            indices,
            values: Tensor::from_slice(&v, [n])?,
            dense_shape,
        }),
        Column::I32(v) => ParsedFeature::Sparse(SparseTensor {
            indices,
            values: Tensor::from_slice(&v, [n])?,
            dense_shape,
        }),
        Column::Bytes(v) => ParsedFeature::SparseBytes(SparseTensor {
            indices,
            values: BytesTensor::new(v, [n])?,
            dense_shape,
        }),
    })
}

/// Checks the spec once, before any Example: distinct keys, defaults of the right dtype and
/// size.
fn check_spec(op: &'static str, features: &[(&str, FeatureSpec)]) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for (key, spec) in features {
        if !seen.insert(*key) {
            return Err(Error::invalid(
                op,
                format!("feature '{key}' appears twice in the spec"),
            ));
        }
        if let FeatureSpec::FixedLen(f) = spec {
            let n = numel(op, key, &f.shape)?;
            if let Some(d) = &f.default_value {
                let matches = matches!(
                    (&d.kind, f.dtype),
                    (None, _)
                        | (Some(FeatureKind::FloatList(_)), FeatureDType::Float32)
                        | (Some(FeatureKind::Int64List(_)), FeatureDType::Int64)
                        | (Some(FeatureKind::BytesList(_)), FeatureDType::String)
                );
                if !matches {
                    return Err(Error::dtype(
                        op,
                        format!(
                            "feature '{key}': default_value is a {}, but dtype {} needs a {}",
                            d.kind_name(),
                            f.dtype,
                            f.dtype.list_name()
                        ),
                    ));
                }
                let mut col = Column::new(f.dtype);
                Ctx { op, index: None }.append(key, f.dtype, d, &mut col)?;
                if col.len() != n {
                    return Err(Error::invalid(
                        op,
                        format!(
                            "feature '{key}': default_value has {} values but shape {:?} needs {n}",
                            col.len(),
                            f.shape
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn parse_examples(
    op: &'static str,
    examples: &[Example],
    features: &[(&str, FeatureSpec)],
    batched: bool,
) -> Result<ParsedFeatures> {
    check_spec(op, features)?;
    let mut out = BTreeMap::new();
    for (key, spec) in features {
        let ctx_of = |i: usize| Ctx {
            op,
            index: batched.then_some(i),
        };
        let parsed = match spec {
            FeatureSpec::FixedLen(f) => {
                let n = numel(op, key, &f.shape)?;
                let mut col = Column::new(f.dtype);
                for (i, ex) in examples.iter().enumerate() {
                    let ctx = ctx_of(i);
                    let before = col.len();
                    match (ex.feature(key), &f.default_value) {
                        (Some(feat), _) => ctx.append(key, f.dtype, feat, &mut col)?,
                        (None, Some(d)) => ctx.append(key, f.dtype, d, &mut col)?,
                        (None, None) => {
                            return Err(ctx.err(
                                key,
                                format!(
                                    "required ({} of shape {:?}) but could not be found, and the spec has no default_value",
                                    f.dtype, f.shape
                                ),
                            ));
                        }
                    }
                    let got = col.len() - before;
                    if got != n {
                        return Err(ctx.err(
                            key,
                            format!(
                                "expected {n} values for shape {:?}, the example has {got}",
                                f.shape
                            ),
                        ));
                    }
                }
                let mut shape = Vec::with_capacity(f.shape.len() + 1);
                if batched {
                    shape.push(examples.len());
                }
                shape.extend_from_slice(&f.shape);
                dense(col, shape)?
            }
            FeatureSpec::VarLen(v) => {
                let mut col = Column::new(v.dtype);
                let mut counts = Vec::with_capacity(examples.len());
                for (i, ex) in examples.iter().enumerate() {
                    let before = col.len();
                    if let Some(feat) = ex.feature(key) {
                        ctx_of(i).append(key, v.dtype, feat, &mut col)?;
                    }
                    counts.push(col.len() - before);
                }
                sparse(op, key, col, &counts, batched)?
            }
        };
        out.insert(key.to_string(), parsed);
    }
    Ok(ParsedFeatures { op, features: out })
}

/// Parses one serialized `tf.train.Example` (TensorFlow's `tf.io.parse_single_example`).
///
/// A [`FixedLenFeature`] gives a tensor of its `shape`; a [`VarLenFeature`] a
/// [`SparseTensor`] with indices `[n, 1]` and dense shape `[n]`.
///
/// ```
/// use wgflow::data::{Example, FeatureDType, FixedLenFeature, VarLenFeature, parse_single_example};
/// let bytes = Example::new()
///     .with("score", [0.5f32, 1.5])
///     .with("tags", ["a", "b", "c"])
///     .serialize_to_string();
/// let parsed = parse_single_example(
///     &bytes,
///     &[
///         ("score", FixedLenFeature::new([2], FeatureDType::Float32).into()),
///         ("label", FixedLenFeature::new([], FeatureDType::Int64).with_default(-1).into()),
///         ("tags", VarLenFeature::new(FeatureDType::String).into()),
///     ],
/// )?;
/// assert_eq!(parsed.tensor("score")?.to_vec::<f32>()?, vec![0.5, 1.5]);
/// assert_eq!(parsed.tensor("label")?.to_scalar::<i32>()?, -1);
/// assert_eq!(parsed.sparse_bytes("tags")?.values.values()[2], b"c");
/// # Ok::<(), wgflow::Error>(())
/// ```
pub fn parse_single_example(
    serialized: &[u8],
    features: &[(&str, FeatureSpec)],
) -> Result<ParsedFeatures> {
    const OP: &str = "parse_single_example";
    let ex = Example::from_string(serialized).map_err(|e| match e {
        Error::InvalidArgument { msg, .. } => Error::invalid(OP, msg),
        e => e,
    })?;
    parse_examples(OP, std::slice::from_ref(&ex), features, false)
}

/// Parses a batch of serialized `tf.train.Example`s (TensorFlow's `tf.io.parse_example`).
///
/// A [`FixedLenFeature`] gives a tensor of `[batch] + shape`; a [`VarLenFeature`] a
/// [`SparseTensor`] with indices `[n, 2]` (example, position) and dense shape
/// `[batch, longest]`. Errors name the example's index in the batch.
pub fn parse_example<B: AsRef<[u8]>>(
    serialized: &[B],
    features: &[(&str, FeatureSpec)],
) -> Result<ParsedFeatures> {
    const OP: &str = "parse_example";
    let examples = serialized
        .iter()
        .enumerate()
        .map(|(i, b)| {
            Example::from_string(b.as_ref()).map_err(|e| match e {
                Error::InvalidArgument { msg, .. } => {
                    Error::invalid(OP, format!("example {i}: {msg}"))
                }
                e => e,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    parse_examples(OP, &examples, features, true)
}
