//! Element types. Every dtype is stored in 4 bytes (bool as a 0/1 word), so a buffer is
//! always a slice of 32-bit words on every backend: WGSL has no 8- or 16-bit storage
//! without packing, and one word size keeps the kernels and the memory pool simple.

use std::fmt;

/// The element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    F32,
    I32,
    U32,
    Bool,
}

impl DType {
    /// TensorFlow's name: `float32`, `int32`, `uint32`, `bool`.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::I32 => "int32",
            DType::U32 => "uint32",
            DType::Bool => "bool",
        }
    }
    /// Parses TensorFlow's and numpy's names (`float32`, `int32`, `uint32`, `bool`).
    pub fn from_name(name: &str) -> Option<DType> {
        Some(match name {
            "float32" | "f32" => DType::F32,
            "int32" | "i32" => DType::I32,
            "uint32" | "u32" => DType::U32,
            "bool" => DType::Bool,
            _ => return None,
        })
    }
    /// Bytes per element in device memory.
    pub const fn size(self) -> usize {
        4
    }
    pub fn is_float(self) -> bool {
        self == DType::F32
    }
    pub fn is_int(self) -> bool {
        matches!(self, DType::I32 | DType::U32)
    }
    /// Float or integer: the dtypes arithmetic is defined on.
    pub fn is_numeric(self) -> bool {
        self != DType::Bool
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A host element type that maps to a [`DType`].
pub trait Element: Copy + Send + Sync + fmt::Debug + PartialEq + 'static {
    const DTYPE: DType;
    fn to_bits(self) -> u32;
    fn from_bits(bits: u32) -> Self;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
    fn to_bits(self) -> u32 {
        f32::to_bits(self)
    }
    fn from_bits(bits: u32) -> Self {
        f32::from_bits(bits)
    }
}
impl Element for i32 {
    const DTYPE: DType = DType::I32;
    fn to_bits(self) -> u32 {
        self as u32
    }
    fn from_bits(bits: u32) -> Self {
        bits as i32
    }
}
impl Element for u32 {
    const DTYPE: DType = DType::U32;
    fn to_bits(self) -> u32 {
        self
    }
    fn from_bits(bits: u32) -> Self {
        bits
    }
}
impl Element for bool {
    const DTYPE: DType = DType::Bool;
    fn to_bits(self) -> u32 {
        self as u32
    }
    fn from_bits(bits: u32) -> Self {
        bits != 0
    }
}

/// One value of any dtype: attributes such as `clip_value_min` or a fill value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    F32(f32),
    I32(i32),
    U32(u32),
    Bool(bool),
}

impl Scalar {
    pub fn dtype(self) -> DType {
        match self {
            Scalar::F32(_) => DType::F32,
            Scalar::I32(_) => DType::I32,
            Scalar::U32(_) => DType::U32,
            Scalar::Bool(_) => DType::Bool,
        }
    }
    /// The 32-bit word this value is stored as.
    pub fn bits(self) -> u32 {
        match self {
            Scalar::F32(v) => v.to_bits(),
            Scalar::I32(v) => v as u32,
            Scalar::U32(v) => v,
            Scalar::Bool(v) => v as u32,
        }
    }
    pub fn from_bits(dtype: DType, bits: u32) -> Scalar {
        match dtype {
            DType::F32 => Scalar::F32(f32::from_bits(bits)),
            DType::I32 => Scalar::I32(bits as i32),
            DType::U32 => Scalar::U32(bits),
            DType::Bool => Scalar::Bool(bits != 0),
        }
    }
    /// `value` converted to `dtype` as a cast would (floats truncate toward zero).
    pub fn from_f64(dtype: DType, value: f64) -> Scalar {
        match dtype {
            DType::F32 => Scalar::F32(value as f32),
            DType::I32 => Scalar::I32(value as i32),
            DType::U32 => Scalar::U32(value as u32),
            DType::Bool => Scalar::Bool(value != 0.0),
        }
    }
    pub fn to_f64(self) -> f64 {
        match self {
            Scalar::F32(v) => v as f64,
            Scalar::I32(v) => v as f64,
            Scalar::U32(v) => v as f64,
            Scalar::Bool(v) => v as u8 as f64,
        }
    }
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::F32(v) => write!(f, "{v}"),
            Scalar::I32(v) => write!(f, "{v}"),
            Scalar::U32(v) => write!(f, "{v}"),
            Scalar::Bool(v) => write!(f, "{}", if *v { "True" } else { "False" }),
        }
    }
}

impl From<f32> for Scalar {
    fn from(v: f32) -> Self {
        Scalar::F32(v)
    }
}
impl From<i32> for Scalar {
    fn from(v: i32) -> Self {
        Scalar::I32(v)
    }
}
impl From<u32> for Scalar {
    fn from(v: u32) -> Self {
        Scalar::U32(v)
    }
}
impl From<bool> for Scalar {
    fn from(v: bool) -> Self {
        Scalar::Bool(v)
    }
}
