//! `Tensor`: an immutable, device-resident n-dimensional array. Cloning shares the buffer.

pub(crate) mod display;
mod overload;

use crate::device::{Buffer, Device, current_device};
use crate::dtype::{DType, Element, Scalar};
use crate::error::{Error, Result};
use crate::shape::{fmt_shape, num_elements};
use std::sync::Arc;

/// An immutable n-dimensional array on a device (TensorFlow's `tf.Tensor`).
///
/// ```
/// use wgflow::Tensor;
/// let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], [2, 2]).unwrap();
/// let b = (&a + &a).unwrap();
/// assert_eq!(b.to_vec::<f32>().unwrap(), vec![2.0, 4.0, 6.0, 8.0]);
/// ```
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<TensorInner>);

pub(crate) struct TensorInner {
    /// Unique for the life of the process: how tapes and traces recognise a tensor.
    pub id: u64,
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub data: Data,
}

/// Where a tensor's values are: a device buffer, or nowhere yet — a symbolic tensor stands
/// for a value of a graph being traced by [`crate::graph::function`].
pub(crate) enum Data {
    Buffer(Arc<Buffer>),
    Symbolic(Device),
}

impl Tensor {
    pub(crate) fn from_buffer(buffer: Arc<Buffer>, shape: Vec<usize>, dtype: DType) -> Tensor {
        Self::with_data(Data::Buffer(buffer), shape, dtype)
    }

    /// A placeholder for a value of the graph being traced.
    pub(crate) fn symbolic(shape: Vec<usize>, dtype: DType, device: Device) -> Tensor {
        Self::with_data(Data::Symbolic(device), shape, dtype)
    }

    fn with_data(data: Data, shape: Vec<usize>, dtype: DType) -> Tensor {
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        Tensor(Arc::new(TensorInner {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            shape,
            dtype,
            data,
        }))
    }

    /// Whether this tensor stands for a value of a graph being traced (it has no values).
    pub fn is_symbolic(&self) -> bool {
        matches!(self.0.data, Data::Symbolic(_))
    }

    /// A tensor of `shape` holding `words` (already in storage form) on `device`.
    pub(crate) fn from_words(
        words: &[u32],
        shape: &[usize],
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor> {
        let n = num_elements(shape);
        if words.len() != n {
            return Err(Error::shape(
                "constant",
                format!(
                    "{} values do not fill shape {} ({} elements)",
                    words.len(),
                    fmt_shape(shape),
                    n
                ),
            ));
        }
        let buf = device.alloc(n)?;
        device.0.backend.write(&device.0, buf.storage(), words)?;
        Ok(Tensor::from_buffer(Arc::new(buf), shape.to_vec(), dtype))
    }

    /// A tensor from host values in row-major order, on the current device.
    pub fn from_slice<T: Element>(data: &[T], shape: impl AsRef<[usize]>) -> Result<Tensor> {
        Self::from_slice_on(data, shape, &current_device()?)
    }

    /// A tensor from host values on `device`.
    pub fn from_slice_on<T: Element>(
        data: &[T],
        shape: impl AsRef<[usize]>,
        device: &Device,
    ) -> Result<Tensor> {
        let words: Vec<u32> = data.iter().map(|v| v.to_bits()).collect();
        Self::from_words(&words, shape.as_ref(), T::DTYPE, device)
    }

    /// A tensor from an owned vector.
    pub fn from_vec<T: Element>(data: Vec<T>, shape: impl AsRef<[usize]>) -> Result<Tensor> {
        Self::from_slice(&data, shape)
    }

    /// A 0-d tensor (TensorFlow's `tf.constant(3.0)`).
    pub fn scalar<T: Element>(value: T) -> Result<Tensor> {
        Self::from_slice(&[value], [])
    }

    /// A 0-d tensor of any dtype on `device`.
    pub fn scalar_of(value: Scalar, device: &Device) -> Result<Tensor> {
        Self::from_words(&[value.bits()], &[], value.dtype(), device)
    }

    /// A tensor from an `ndarray` array (any layout), on the current device.
    pub fn from_ndarray<T: Element, S, D>(array: &ndarray::ArrayBase<S, D>) -> Result<Tensor>
    where
        S: ndarray::Data<Elem = T>,
        D: ndarray::Dimension,
    {
        let data: Vec<T> = array.iter().copied().collect();
        Self::from_slice(&data, array.shape())
    }

    /// Host `i64` values checked into `int32` (TensorFlow's default integer is int64; wgflow
    /// stores 32-bit words).
    pub fn from_i64(data: &[i64], shape: impl AsRef<[usize]>) -> Result<Tensor> {
        let v = data
            .iter()
            .map(|&x| {
                i32::try_from(x)
                    .map_err(|_| Error::invalid("constant", format!("{x} does not fit in int32")))
            })
            .collect::<Result<Vec<i32>>>()?;
        Self::from_slice(&v, shape)
    }

    /// Host `f64` values rounded to `float32`.
    pub fn from_f64(data: &[f64], shape: impl AsRef<[usize]>) -> Result<Tensor> {
        let v: Vec<f32> = data.iter().map(|&x| x as f32).collect();
        Self::from_slice(&v, shape)
    }

    /// Host bytes widened to `int32` (e.g. image pixels, labels).
    pub fn from_u8(data: &[u8], shape: impl AsRef<[usize]>) -> Result<Tensor> {
        let v: Vec<i32> = data.iter().map(|&x| x as i32).collect();
        Self::from_slice(&v, shape)
    }

    /// A process-unique id: clones share it, every op output gets a new one.
    pub fn id(&self) -> u64 {
        self.0.id
    }
    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }
    pub fn dtype(&self) -> DType {
        self.0.dtype
    }
    pub fn rank(&self) -> usize {
        self.0.shape.len()
    }
    /// Number of elements.
    pub fn size(&self) -> usize {
        num_elements(&self.0.shape)
    }
    pub fn device(&self) -> &Device {
        match &self.0.data {
            Data::Buffer(b) => &b.device,
            Data::Symbolic(d) => d,
        }
    }
    /// The buffer of a concrete tensor. Ops reach here only after the tracer has taken
    /// every symbolic tensor, so a symbolic one is a bug in wgflow.
    pub(crate) fn buffer(&self) -> &Arc<Buffer> {
        match &self.0.data {
            Data::Buffer(b) => b,
            Data::Symbolic(_) => panic!("a symbolic tensor reached eager execution"),
        }
    }
    /// Whether two tensors share one buffer (e.g. a reshape of the other).
    pub fn shares_buffer_with(&self, other: &Tensor) -> bool {
        match (&self.0.data, &other.0.data) {
            (Data::Buffer(a), Data::Buffer(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    fn check_concrete(&self, op: &str) -> Result<()> {
        if self.is_symbolic() {
            return Err(Error::invalid(
                op,
                format!(
                    "this {} {} tensor is symbolic (a value of a function being traced): it \
                     has no values until the function runs; use wgflow::print to see it on \
                     every call, or return it from the function",
                    self.dtype(),
                    fmt_shape(self.shape())
                ),
            ));
        }
        Ok(())
    }

    fn check_read<T: Element>(&self, op: &str) -> Result<()> {
        if T::DTYPE != self.dtype() {
            return Err(Error::dtype(
                op,
                format!(
                    "cannot read a {} tensor as {}; cast it first",
                    self.dtype(),
                    T::DTYPE
                ),
            ));
        }
        Ok(())
    }

    /// The raw storage words (waits for queued work).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn words(&self) -> Result<Vec<u32>> {
        self.check_concrete("read")?;
        let dev = &self.device().0;
        dev.backend.read(dev, self.buffer().storage(), self.size())
    }

    /// The browser forbids blocking reads: graph steps that need a value on the host (a
    /// print, a `cond` predicate) fail there with this error.
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn words(&self) -> Result<Vec<u32>> {
        Err(Error::invalid(
            "read",
            "a blocking read is not possible in the browser; read with to_vec_async",
        ))
    }

    /// The first element as `f64` (a scalar's value on the host; waits for queued work).
    pub(crate) fn first_f64(&self) -> Result<f64> {
        let w = self.words()?;
        let w = w
            .first()
            .ok_or_else(|| Error::invalid("read", "the tensor is empty"))?;
        Ok(crate::dtype::Scalar::from_bits(self.dtype(), *w).to_f64())
    }

    pub(crate) async fn words_async(&self) -> Result<Vec<u32>> {
        self.check_concrete("read")?;
        let dev = &self.device().0;
        dev.backend
            .read_async(dev, self.buffer().storage(), self.size())
            .await
    }

    /// The values in row-major order (waits for queued work on the device).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        self.check_read::<T>("to_vec")?;
        Ok(self.words()?.into_iter().map(T::from_bits).collect())
    }

    /// [`Tensor::to_vec`] without blocking the thread (the browser cannot block).
    pub async fn to_vec_async<T: Element>(&self) -> Result<Vec<T>> {
        self.check_read::<T>("to_vec")?;
        Ok(self
            .words_async()
            .await?
            .into_iter()
            .map(T::from_bits)
            .collect())
    }

    /// The values as an `ndarray` array.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn to_ndarray<T: Element>(&self) -> Result<ndarray::ArrayD<T>> {
        let v = self.to_vec::<T>()?;
        ndarray::ArrayD::from_shape_vec(self.shape().to_vec(), v)
            .map_err(|e| Error::shape("to_ndarray", e))
    }

    pub async fn to_ndarray_async<T: Element>(&self) -> Result<ndarray::ArrayD<T>> {
        let v = self.to_vec_async::<T>().await?;
        ndarray::ArrayD::from_shape_vec(self.shape().to_vec(), v)
            .map_err(|e| Error::shape("to_ndarray", e))
    }

    /// The single value of a one-element tensor.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn to_scalar<T: Element>(&self) -> Result<T> {
        self.check_scalar()?;
        Ok(self.to_vec::<T>()?[0])
    }

    pub async fn to_scalar_async<T: Element>(&self) -> Result<T> {
        self.check_scalar()?;
        Ok(self.to_vec_async::<T>().await?[0])
    }

    fn check_scalar(&self) -> Result<()> {
        if self.size() != 1 {
            return Err(Error::shape(
                "to_scalar",
                format!(
                    "a tensor of shape {} has {} elements, not 1",
                    fmt_shape(self.shape()),
                    self.size()
                ),
            ));
        }
        Ok(())
    }

    /// The values converted to `f64`, whatever the dtype (for tests and printing).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn to_f64_vec(&self) -> Result<Vec<f64>> {
        let dt = self.dtype();
        Ok(self
            .words()?
            .into_iter()
            .map(|w| Scalar::from_bits(dt, w).to_f64())
            .collect())
    }

    /// A copy of this tensor on `device` (through the host when the devices differ).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn on(&self, device: &Device) -> Result<Tensor> {
        if self.device() == device {
            return Ok(self.clone());
        }
        Tensor::from_words(&self.words()?, self.shape(), self.dtype(), device)
    }
}

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Tensor(shape={}, dtype={}, device={})",
            fmt_shape(self.shape()),
            self.dtype(),
            self.device()
        )
    }
}
