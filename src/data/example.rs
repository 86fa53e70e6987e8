//! `tf.train.Example` and its parts, as protobuf messages (TensorFlow's
//! `core/example/{example,feature}.proto`) declared with prost's derive, so no `protoc` runs
//! at build time.
//!
//! `Features.feature` is a protobuf `map<string, Feature>`. On the wire a map is a repeated
//! entry message `{key = 1; value = 2}`, and it is declared that way here so that entries
//! keep their order: a parsed Example serializes back to the same bytes, and a built one
//! serializes in insertion order. (TensorFlow's Python writes its map in hash-table order, so
//! reproducing its bytes means inserting in the order its file shows.) Lookups follow
//! protobuf's rule for repeated keys: the last entry wins.

use crate::error::{Error, Result};
use prost::Message;

/// A list of byte strings (`tf.train.BytesList`).
#[derive(Clone, PartialEq, Message)]
pub struct BytesList {
    #[prost(bytes = "vec", repeated, tag = "1")]
    pub value: Vec<Vec<u8>>,
}

/// A packed list of `float32` (`tf.train.FloatList`).
#[derive(Clone, PartialEq, Message)]
pub struct FloatList {
    #[prost(float, repeated, tag = "1")]
    pub value: Vec<f32>,
}

/// A packed list of `int64` (`tf.train.Int64List`).
#[derive(Clone, PartialEq, Message)]
pub struct Int64List {
    #[prost(int64, repeated, tag = "1")]
    pub value: Vec<i64>,
}

/// Which list a [`Feature`] holds (the proto's `oneof kind`).
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum FeatureKind {
    #[prost(message, tag = "1")]
    BytesList(BytesList),
    #[prost(message, tag = "2")]
    FloatList(FloatList),
    #[prost(message, tag = "3")]
    Int64List(Int64List),
}

/// One feature: a list of byte strings, floats or int64s (`tf.train.Feature`).
///
/// Built with [`Feature::bytes_list`], [`Feature::float_list`], [`Feature::int64_list`], or
/// from plain values: `Feature::from(3)`, `Feature::from(&[0.5f32, 1.5][..])`,
/// `Feature::from("cat")`.
#[derive(Clone, PartialEq, Message)]
pub struct Feature {
    /// `None` is a feature with no list set; parsing reads it as an empty list.
    #[prost(oneof = "FeatureKind", tags = "1, 2, 3")]
    pub kind: Option<FeatureKind>,
}

impl Feature {
    /// A `bytes_list` feature.
    pub fn bytes_list<B: Into<Vec<u8>>>(values: impl IntoIterator<Item = B>) -> Self {
        Feature {
            kind: Some(FeatureKind::BytesList(BytesList {
                value: values.into_iter().map(Into::into).collect(),
            })),
        }
    }
    /// A `float_list` feature.
    pub fn float_list(values: impl IntoIterator<Item = f32>) -> Self {
        Feature {
            kind: Some(FeatureKind::FloatList(FloatList {
                value: values.into_iter().collect(),
            })),
        }
    }
    /// An `int64_list` feature.
    pub fn int64_list(values: impl IntoIterator<Item = i64>) -> Self {
        Feature {
            kind: Some(FeatureKind::Int64List(Int64List {
                value: values.into_iter().collect(),
            })),
        }
    }
    /// The byte strings, if this is a `bytes_list`.
    pub fn as_bytes_list(&self) -> Option<&[Vec<u8>]> {
        match &self.kind {
            Some(FeatureKind::BytesList(l)) => Some(&l.value),
            _ => None,
        }
    }
    /// The floats, if this is a `float_list`.
    pub fn as_float_list(&self) -> Option<&[f32]> {
        match &self.kind {
            Some(FeatureKind::FloatList(l)) => Some(&l.value),
            _ => None,
        }
    }
    /// The int64s, if this is an `int64_list`.
    pub fn as_int64_list(&self) -> Option<&[i64]> {
        match &self.kind {
            Some(FeatureKind::Int64List(l)) => Some(&l.value),
            _ => None,
        }
    }
    /// The list's proto name (`bytes_list`, `float_list`, `int64_list`) or `none`.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            Some(FeatureKind::BytesList(_)) => "bytes_list",
            Some(FeatureKind::FloatList(_)) => "float_list",
            Some(FeatureKind::Int64List(_)) => "int64_list",
            None => "none",
        }
    }
    /// Number of values in the list (0 when no list is set).
    pub fn len(&self) -> usize {
        match &self.kind {
            Some(FeatureKind::BytesList(l)) => l.value.len(),
            Some(FeatureKind::FloatList(l)) => l.value.len(),
            Some(FeatureKind::Int64List(l)) => l.value.len(),
            None => 0,
        }
    }
    /// Whether the list is empty or unset.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<f32> for Feature {
    fn from(v: f32) -> Self {
        Feature::float_list([v])
    }
}
impl From<&[f32]> for Feature {
    fn from(v: &[f32]) -> Self {
        Feature::float_list(v.iter().copied())
    }
}
impl From<Vec<f32>> for Feature {
    fn from(v: Vec<f32>) -> Self {
        Feature::float_list(v)
    }
}
impl<const N: usize> From<[f32; N]> for Feature {
    fn from(v: [f32; N]) -> Self {
        Feature::float_list(v)
    }
}
impl From<i64> for Feature {
    fn from(v: i64) -> Self {
        Feature::int64_list([v])
    }
}
/// Integer literals are `i32`; they become an `int64_list` as TensorFlow's would.
impl From<i32> for Feature {
    fn from(v: i32) -> Self {
        Feature::int64_list([v as i64])
    }
}
impl From<&[i64]> for Feature {
    fn from(v: &[i64]) -> Self {
        Feature::int64_list(v.iter().copied())
    }
}
impl From<Vec<i64>> for Feature {
    fn from(v: Vec<i64>) -> Self {
        Feature::int64_list(v)
    }
}
impl<const N: usize> From<[i64; N]> for Feature {
    fn from(v: [i64; N]) -> Self {
        Feature::int64_list(v)
    }
}
impl From<&[i32]> for Feature {
    fn from(v: &[i32]) -> Self {
        Feature::int64_list(v.iter().map(|&x| x as i64))
    }
}
impl<const N: usize> From<[i32; N]> for Feature {
    fn from(v: [i32; N]) -> Self {
        Feature::int64_list(v.map(|x| x as i64))
    }
}
/// One byte string (a `bytes_list` of one value), e.g. an encoded image.
impl From<&str> for Feature {
    fn from(v: &str) -> Self {
        Feature::bytes_list([v])
    }
}
/// One byte string (a `bytes_list` of one value).
impl From<String> for Feature {
    fn from(v: String) -> Self {
        Feature::bytes_list([v])
    }
}
/// One byte string (a `bytes_list` of one value), e.g. raw pixels.
impl From<&[u8]> for Feature {
    fn from(v: &[u8]) -> Self {
        Feature::bytes_list([v])
    }
}
/// One byte string (a `bytes_list` of one value).
impl From<Vec<u8>> for Feature {
    fn from(v: Vec<u8>) -> Self {
        Feature::bytes_list([v])
    }
}
/// Several byte strings (`["a", "b"]`).
impl From<&[&str]> for Feature {
    fn from(v: &[&str]) -> Self {
        Feature::bytes_list(v.iter().copied())
    }
}
impl<const N: usize> From<[&str; N]> for Feature {
    fn from(v: [&str; N]) -> Self {
        Feature::bytes_list(v)
    }
}

/// One `map<string, Feature>` entry as it is on the wire. Both fields are `optional` so they
/// are always written, as protobuf writes map entries, even an empty name or feature.
#[derive(Clone, PartialEq, Message)]
struct FeatureEntry {
    #[prost(string, optional, tag = "1")]
    key: Option<String>,
    #[prost(message, optional, tag = "2")]
    value: Option<Feature>,
}

/// Named features (`tf.train.Features`), kept in insertion (or file) order.
#[derive(Clone, PartialEq, Message)]
pub struct Features {
    #[prost(message, repeated, tag = "1")]
    feature: Vec<FeatureEntry>,
}

impl Features {
    /// No features.
    pub fn new() -> Self {
        Features::default()
    }
    /// Sets feature `name`, replacing an earlier one of that name in place; returns it.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        feature: impl Into<Feature>,
    ) -> Option<Feature> {
        let name = name.into();
        let feature = feature.into();
        let found = self
            .feature
            .iter()
            .rposition(|e| e.key.as_deref().unwrap_or("") == name);
        match found {
            Some(i) => {
                let old = self.feature[i].value.replace(feature).unwrap_or_default();
                // Earlier duplicates (only a foreign file has them) go, so that the entry set
                // here is the only one of its name.
                let mut j = 0;
                self.feature.retain(|e| {
                    let keep = j >= i || e.key.as_deref().unwrap_or("") != name;
                    j += 1;
                    keep
                });
                Some(old)
            }
            None => {
                self.feature.push(FeatureEntry {
                    key: Some(name),
                    value: Some(feature),
                });
                None
            }
        }
    }
    /// The same features with `name` set (for chained, dictionary-style building).
    pub fn with(mut self, name: impl Into<String>, feature: impl Into<Feature>) -> Self {
        self.insert(name, feature);
        self
    }
    /// Feature `name` (the last entry of that name, as protobuf maps read).
    pub fn get(&self, name: &str) -> Option<&Feature> {
        static EMPTY: Feature = Feature { kind: None };
        self.feature
            .iter()
            .rev()
            .find(|e| e.key.as_deref().unwrap_or("") == name)
            .map(|e| e.value.as_ref().unwrap_or(&EMPTY))
    }
    /// Whether feature `name` is present.
    pub fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
    /// `(name, feature)` in order as stored; a name a foreign file repeats shows each time
    /// (`get` sees the last).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Feature)> {
        static EMPTY: Feature = Feature { kind: None };
        self.feature.iter().map(|e| {
            (
                e.key.as_deref().unwrap_or(""),
                e.value.as_ref().unwrap_or(&EMPTY),
            )
        })
    }
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.feature.len()
    }
    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.feature.is_empty()
    }
}

impl<K: Into<String>, F: Into<Feature>> FromIterator<(K, F)> for Features {
    fn from_iter<I: IntoIterator<Item = (K, F)>>(iter: I) -> Self {
        let mut f = Features::new();
        for (k, v) in iter {
            f.insert(k, v);
        }
        f
    }
}

/// A `tf.train.Example`: the usual record of a TFRecord file.
///
/// ```
/// use wgflow::data::{Example, Feature};
/// let ex = Example::new()
///     .with("image", &[7u8, 8, 9][..])
///     .with("label", 3)
///     .with("score", [0.5f32, 1.5])
///     .with("tags", ["a", "b"]);
/// let bytes = ex.serialize_to_string();
/// let back = Example::from_string(&bytes)?;
/// assert_eq!(back, ex);
/// assert_eq!(back.feature("label").and_then(Feature::as_int64_list), Some(&[3i64][..]));
/// # Ok::<(), wgflow::Error>(())
/// ```
#[derive(Clone, PartialEq, Message)]
pub struct Example {
    #[prost(message, optional, tag = "1")]
    pub features: Option<Features>,
}

impl Example {
    /// An Example with no features.
    pub fn new() -> Self {
        Example::default()
    }
    /// An Example holding `features`.
    pub fn from_features(features: Features) -> Self {
        Example {
            features: Some(features),
        }
    }
    /// The same Example with feature `name` set.
    pub fn with(mut self, name: impl Into<String>, feature: impl Into<Feature>) -> Self {
        self.features
            .get_or_insert_with(Features::default)
            .insert(name, feature);
        self
    }
    /// Feature `name`, if present.
    pub fn feature(&self, name: &str) -> Option<&Feature> {
        self.features.as_ref()?.get(name)
    }
    /// The protobuf wire bytes (TensorFlow's `SerializeToString`).
    pub fn serialize_to_string(&self) -> Vec<u8> {
        self.encode_to_vec()
    }
    /// Parses protobuf wire bytes (TensorFlow's `Example.FromString`).
    pub fn from_string(bytes: &[u8]) -> Result<Self> {
        Example::decode(bytes).map_err(|e| {
            Error::invalid(
                "Example.FromString",
                format!("not a valid tf.train.Example ({} bytes): {e}", bytes.len()),
            )
        })
    }
}
