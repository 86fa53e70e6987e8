//! What a dataset element is: a tensor, or a tuple, vector or named map of elements
//! (TensorFlow's "nested structure"), and the host-side arithmetic on their leaves that
//! batching, unbatching and slicing need.

use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::shape::{fmt_shape, num_elements};
use crate::tensor::Tensor;
use std::collections::BTreeMap;

/// An element of a [`super::Dataset`]: a [`Tensor`], a tuple of up to six elements, a
/// `Vec` of elements or a `BTreeMap<String, _>` of named elements, nested freely.
///
/// Transformations that work on every tensor of an element (batch, unbatch, slicing,
/// moving to a device) go through [`Structure::flatten`] and [`Structure::rebuild`], so a
/// new element type needs only these three methods.
///
/// ```
/// use wgflow::{Tensor, data::Structure};
/// let x = Tensor::from_slice(&[1.0f32], [1]).unwrap();
/// let y = Tensor::from_slice(&[2i32], []).unwrap();
/// let pair = (x, y);
/// assert_eq!(pair.flatten().len(), 2);
/// assert_eq!(pair.structure(), "(tensor, tensor)");
/// ```
pub trait Structure: Clone + Send + Sync + 'static {
    /// The leaf tensors, depth first (maps in key order).
    fn flatten(&self) -> Vec<Tensor>;
    /// An element with `self`'s nesting whose leaves come from `leaves` in
    /// [`Structure::flatten`]'s order.
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor>) -> Result<Self>;
    /// The nesting without shapes, e.g. `(tensor, {image: tensor})`: batching checks that
    /// all elements of a batch agree on it.
    fn structure(&self) -> String;
}

impl Structure for Tensor {
    fn flatten(&self) -> Vec<Tensor> {
        vec![self.clone()]
    }
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor>) -> Result<Self> {
        leaves.next().ok_or_else(|| {
            Error::invalid("Dataset", "fewer tensors than the element structure needs")
        })
    }
    fn structure(&self) -> String {
        "tensor".into()
    }
}

macro_rules! tuple_structure {
    ($($name:ident $idx:tt),+) => {
        impl<$($name: Structure),+> Structure for ($($name,)+) {
            fn flatten(&self) -> Vec<Tensor> {
                let mut v = Vec::new();
                $(v.extend(self.$idx.flatten());)+
                v
            }
            fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor>) -> Result<Self> {
                Ok(($(self.$idx.rebuild(leaves)?,)+))
            }
            fn structure(&self) -> String {
                let parts: Vec<String> = vec![$(self.$idx.structure()),+];
                format!("({})", parts.join(", "))
            }
        }
    };
}
tuple_structure!(A 0);
tuple_structure!(A 0, B 1);
tuple_structure!(A 0, B 1, C 2);
tuple_structure!(A 0, B 1, C 2, D 3);
tuple_structure!(A 0, B 1, C 2, D 3, E 4);
tuple_structure!(A 0, B 1, C 2, D 3, E 4, F 5);

impl<S: Structure> Structure for Vec<S> {
    fn flatten(&self) -> Vec<Tensor> {
        self.iter().flat_map(|s| s.flatten()).collect()
    }
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor>) -> Result<Self> {
        self.iter().map(|s| s.rebuild(leaves)).collect()
    }
    fn structure(&self) -> String {
        let parts: Vec<String> = self.iter().map(|s| s.structure()).collect();
        format!("[{}]", parts.join(", "))
    }
}

impl<S: Structure> Structure for BTreeMap<String, S> {
    fn flatten(&self) -> Vec<Tensor> {
        self.values().flat_map(|s| s.flatten()).collect()
    }
    fn rebuild(&self, leaves: &mut dyn Iterator<Item = Tensor>) -> Result<Self> {
        self.iter()
            .map(|(k, s)| Ok((k.clone(), s.rebuild(leaves)?)))
            .collect()
    }
    fn structure(&self) -> String {
        let parts: Vec<String> = self
            .iter()
            .map(|(k, s)| format!("{k}: {}", s.structure()))
            .collect();
        format!("{{{}}}", parts.join(", "))
    }
}

/// An element rebuilt with every leaf passed through `f`.
pub(crate) fn map_leaves<T: Structure>(
    x: &T,
    mut f: impl FnMut(&Tensor) -> Result<Tensor>,
) -> Result<T> {
    let leaves = x.flatten().iter().map(&mut f).collect::<Result<Vec<_>>>()?;
    x.rebuild(&mut leaves.into_iter())
}

/// `t` on `device`: a no-op when it is already there, else one read and one upload.
pub(crate) fn to_device(t: &Tensor, device: &Device) -> Result<Tensor> {
    if t.device() == device {
        return Ok(t.clone());
    }
    Tensor::from_words(&t.words()?, t.shape(), t.dtype(), device)
}

/// A tensor's values on the host. Pipeline work (slicing, batching, padding) is copying
/// words, which the host does without a kernel launch per element.
#[derive(Clone, Debug)]
pub(crate) struct Host {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub words: Vec<u32>,
}

impl Host {
    pub fn of(t: &Tensor) -> Result<Host> {
        Ok(Host {
            dtype: t.dtype(),
            shape: t.shape().to_vec(),
            words: t.words()?,
        })
    }

    /// The host tensor on the CPU device, where pipeline elements live until they leave
    /// the iterator.
    pub fn tensor(&self) -> Result<Tensor> {
        Tensor::from_words(&self.words, &self.shape, self.dtype, &Device::cpu())
    }

    /// Row `i` along the first axis (the caller checked the rank and the bound).
    pub fn row(&self, i: usize) -> Result<Tensor> {
        let inner = &self.shape[1..];
        let n = num_elements(inner);
        Tensor::from_words(
            &self.words[i * n..(i + 1) * n],
            inner,
            self.dtype,
            &Device::cpu(),
        )
    }
}

/// The shape and dtype of `t` as a message fragment: `float32 [2, 3]`.
pub(crate) fn describe(t: &Tensor) -> String {
    format!("{} {}", t.dtype(), fmt_shape(t.shape()))
}

/// The leaves of `elements` by component: `out[c][e]` is component `c` of element `e`,
/// after checking that every element has the first one's structure.
pub(crate) fn components<T: Structure>(op: &str, elements: &[T]) -> Result<Vec<Vec<Tensor>>> {
    let first = elements
        .first()
        .ok_or_else(|| Error::invalid(op, "no elements to combine"))?;
    let structure = first.structure();
    let mut out: Vec<Vec<Tensor>> = first.flatten().into_iter().map(|t| vec![t]).collect();
    for (e, x) in elements.iter().enumerate().skip(1) {
        let s = x.structure();
        if s != structure {
            return Err(Error::invalid(
                op,
                format!("element {e} has structure {s} but element 0 has {structure}"),
            ));
        }
        for (c, t) in x.flatten().into_iter().enumerate() {
            out[c].push(t);
        }
    }
    Ok(out)
}

/// Stacks equally shaped tensors along a new first axis, on the host.
pub(crate) fn stack(op: &str, component: usize, parts: &[Tensor]) -> Result<Tensor> {
    let first = &parts[0];
    let mut words = Vec::with_capacity(first.size() * parts.len());
    for (e, t) in parts.iter().enumerate() {
        if t.shape() != first.shape() || t.dtype() != first.dtype() {
            return Err(Error::shape(
                op,
                format!(
                    "component {component} of element {e} is {} but element 0's is {}; \
                     use padded_batch for elements of different shapes",
                    describe(t),
                    describe(first)
                ),
            ));
        }
        words.extend(t.words()?);
    }
    let mut shape = vec![parts.len()];
    shape.extend_from_slice(first.shape());
    Host {
        dtype: first.dtype(),
        shape,
        words,
    }
    .tensor()
}

/// Stacks tensors of one rank and dtype along a new first axis, each padded at the end of
/// every axis with `pad` up to `target` (per axis: a fixed size, or the batch's largest).
pub(crate) fn pad_stack(
    op: &str,
    component: usize,
    parts: &[Tensor],
    target: Option<&[Option<usize>]>,
    pad: u32,
) -> Result<Tensor> {
    let first = &parts[0];
    let rank = first.rank();
    for (e, t) in parts.iter().enumerate() {
        if t.rank() != rank || t.dtype() != first.dtype() {
            return Err(Error::shape(
                op,
                format!(
                    "component {component} of element {e} is {} but element 0's is {}; \
                     padding needs one rank and dtype",
                    describe(t),
                    describe(first)
                ),
            ));
        }
    }
    if let Some(target) = target
        && target.len() != rank
    {
        return Err(Error::shape(
            op,
            format!(
                "padded shape of component {component} has {} dimensions but its elements \
                 have rank {rank}",
                target.len()
            ),
        ));
    }
    let mut shape = vec![0; rank];
    for (a, dim) in shape.iter_mut().enumerate() {
        let largest = parts.iter().map(|t| t.shape()[a]).max().unwrap_or(0);
        *dim = match target.and_then(|t| t[a]) {
            Some(fixed) if fixed < largest => {
                return Err(Error::shape(
                    op,
                    format!(
                        "component {component} has size {largest} on axis {a}, more than \
                         its padded size {fixed}"
                    ),
                ));
            }
            Some(fixed) => fixed,
            None => largest,
        };
    }
    let n = num_elements(&shape);
    let mut words = vec![pad; n * parts.len()];
    for (e, t) in parts.iter().enumerate() {
        copy_padded(
            &t.words()?,
            t.shape(),
            &mut words[e * n..(e + 1) * n],
            &shape,
        );
    }
    let mut out_shape = vec![parts.len()];
    out_shape.extend_from_slice(&shape);
    Host {
        dtype: first.dtype(),
        shape: out_shape,
        words,
    }
    .tensor()
}

/// Copies a row-major `src` of shape `from` into the leading corner of `dst` of shape `to`.
fn copy_padded(src: &[u32], from: &[usize], dst: &mut [u32], to: &[usize]) {
    if src.is_empty() {
        return;
    }
    let Some((&inner, outer)) = from.split_last() else {
        dst[0] = src[0];
        return;
    };
    let to_inner = to[to.len() - 1];
    // Walk the outer index of `from` like an odometer, copying one innermost row each step.
    let mut idx = vec![0usize; outer.len()];
    for row in src.chunks(inner.max(1)) {
        let mut off = 0;
        for (a, &i) in idx.iter().enumerate() {
            off = off * to[a] + i;
        }
        dst[off * to_inner..off * to_inner + row.len()].copy_from_slice(row);
        for a in (0..outer.len()).rev() {
            idx[a] += 1;
            if idx[a] < outer[a] {
                break;
            }
            idx[a] = 0;
        }
    }
}

/// The rows of every component along the first axis, as elements of `x`'s structure.
pub(crate) fn unbatch<T: Structure>(op: &str, x: &T) -> Result<Vec<T>> {
    let hosts = x
        .flatten()
        .iter()
        .map(Host::of)
        .collect::<Result<Vec<_>>>()?;
    let n = rows(op, &hosts)?;
    (0..n)
        .map(|i| {
            let leaves = hosts.iter().map(|h| h.row(i)).collect::<Result<Vec<_>>>()?;
            x.rebuild(&mut leaves.into_iter())
        })
        .collect()
}

/// The common first dimension of `hosts`, checked.
pub(crate) fn rows(op: &str, hosts: &[Host]) -> Result<usize> {
    let mut n = None;
    for (c, h) in hosts.iter().enumerate() {
        let Some(&d) = h.shape.first() else {
            return Err(Error::shape(
                op,
                format!("component {c} is a scalar; slicing needs rank >= 1"),
            ));
        };
        match n {
            None => n = Some(d),
            Some(n0) if n0 != d => {
                return Err(Error::shape(
                    op,
                    format!(
                        "components have different first dimensions: {n0} (component 0) and \
                         {d} (component {c})"
                    ),
                ));
            }
            _ => {}
        }
    }
    n.ok_or_else(|| Error::invalid(op, "the element has no tensors"))
}
