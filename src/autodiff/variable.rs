//! `Variable`: a named, mutable, device-resident tensor (TensorFlow's `tf.Variable`), and
//! the name scopes that prefix variable names (`dense_1/kernel`).

use super::tape::{record_variable_read, stop_recording};
use crate::device::Device;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops;
use crate::shape::fmt_shape;
use crate::tensor::Tensor;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

struct VariableInner {
    id: u64,
    name: String,
    trainable: bool,
    value: RwLock<Tensor>,
}

/// A named, mutable tensor on a device. Cloning gives another handle to the same variable.
///
/// Assignments replace the value with one computed on the device (no host round trip);
/// tensors read before an assignment keep their values, as in TensorFlow's eager mode.
///
/// ```
/// use wgflow::{Tensor, Variable};
/// let v = Variable::new(Tensor::from_slice(&[1.0f32, 2.0], [2]).unwrap(), "v", true);
/// v.assign_add(&Tensor::from_slice(&[10.0f32, 10.0], [2]).unwrap()).unwrap();
/// assert_eq!(v.read_value().to_vec::<f32>().unwrap(), vec![11.0, 12.0]);
/// assert_eq!(v.name(), "v");
/// ```
#[derive(Clone)]
pub struct Variable(Arc<VariableInner>);

thread_local! {
    static SCOPES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    static NAME_COUNTS: RefCell<HashMap<String, usize>> = RefCell::new(HashMap::new());
}

/// Runs `f` with `name` pushed on the name scope: variables created inside are named
/// `name/...` (nested scopes join with `/`).
pub fn name_scope<R>(name: &str, f: impl FnOnce() -> R) -> R {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            SCOPES.with(|s| s.borrow_mut().pop());
        }
    }
    SCOPES.with(|s| s.borrow_mut().push(name.to_string()));
    let _pop = Pop;
    f()
}

/// `base`, then `base_1`, `base_2`, ... on later calls in this thread (Keras's layer names).
pub fn unique_name(base: &str) -> String {
    NAME_COUNTS.with(|c| {
        let mut c = c.borrow_mut();
        let n = c.entry(base.to_string()).or_insert(0);
        let name = if *n == 0 {
            base.to_string()
        } else {
            format!("{base}_{n}")
        };
        *n += 1;
        name
    })
}

fn scoped(name: &str) -> String {
    SCOPES.with(|s| {
        let s = s.borrow();
        if s.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", s.join("/"))
        }
    })
}

impl Variable {
    /// A variable holding `initial`, named `name` inside the current [`name_scope`].
    ///
    /// Inside a traced function, create variables from concrete values (e.g. under
    /// [`crate::graph::init_scope`]); a symbolic initial value has nothing to hold.
    pub fn new(initial: Tensor, name: &str, trainable: bool) -> Variable {
        assert!(
            !initial.is_symbolic(),
            "Variable::new: the initial value is symbolic; create variables outside the \
             function or inside wgflow::init_scope"
        );
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        let name = if name.is_empty() { "Variable" } else { name };
        Variable(Arc::new(VariableInner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            name: scoped(name),
            trainable,
            value: RwLock::new(stop_recording(|| super::stop_gradient(&initial))),
        }))
    }

    /// A unique id for the life of the process.
    pub fn id(&self) -> u64 {
        self.0.id
    }
    /// The full name, scopes included.
    pub fn name(&self) -> &str {
        &self.0.name
    }
    pub fn trainable(&self) -> bool {
        self.0.trainable
    }
    pub fn shape(&self) -> Vec<usize> {
        self.concrete_value().shape().to_vec()
    }
    pub fn dtype(&self) -> DType {
        self.concrete_value().dtype()
    }
    pub fn device(&self) -> Device {
        self.concrete_value().device().clone()
    }

    /// The current value; a recording tape that watches accessed variables records the read.
    pub fn read_value(&self) -> Tensor {
        let v = self.value_unrecorded();
        record_variable_read(self, &v);
        v
    }

    /// [`Variable::read_value`].
    pub fn value(&self) -> Tensor {
        self.read_value()
    }

    /// The value without recording the read on tapes; inside a traced function, the
    /// symbolic value at this point of the trace.
    pub(crate) fn value_unrecorded(&self) -> Tensor {
        let v = self.concrete_value();
        crate::graph::trace::read_variable(self, &v).unwrap_or(v)
    }

    /// The value the variable holds now, outside any trace.
    pub(crate) fn concrete_value(&self) -> Tensor {
        self.0
            .value
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn check(&self, op: &str, t: &Tensor) -> Result<()> {
        let cur = self.concrete_value();
        if t.shape() != cur.shape() || t.dtype() != cur.dtype() {
            return Err(Error::shape(
                op,
                format!(
                    "variable '{}' is {} {} but the value is {} {}",
                    self.name(),
                    cur.dtype(),
                    fmt_shape(cur.shape()),
                    t.dtype(),
                    fmt_shape(t.shape())
                ),
            ));
        }
        if t.device() != cur.device() {
            return Err(Error::invalid(
                op,
                format!(
                    "variable '{}' lives on {} but the value is on {}",
                    self.name(),
                    cur.device(),
                    t.device()
                ),
            ));
        }
        Ok(())
    }

    /// Sets the value (same shape and dtype). No gradient flows through an assignment.
    pub fn assign(&self, value: &Tensor) -> Result<()> {
        self.check("assign", value)?;
        if let Some(r) = crate::graph::trace::write_variable(self, value) {
            return r;
        }
        let fresh = super::stop_gradient(value);
        *self.0.value.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }

    /// `self += delta`, one kernel on the device.
    pub fn assign_add(&self, delta: &Tensor) -> Result<()> {
        self.check("assign_add", delta)?;
        let v = stop_recording(|| ops::add(&self.value_unrecorded(), delta))?;
        self.assign(&v)
    }

    /// `self -= delta`, one kernel on the device.
    pub fn assign_sub(&self, delta: &Tensor) -> Result<()> {
        self.check("assign_sub", delta)?;
        let v = stop_recording(|| ops::sub(&self.value_unrecorded(), delta))?;
        self.assign(&v)
    }
}

impl std::fmt::Debug for Variable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.concrete_value();
        write!(
            f,
            "Variable('{}', shape={}, dtype={}, trainable={})",
            self.name(),
            fmt_shape(v.shape()),
            v.dtype(),
            self.trainable()
        )
    }
}

impl std::fmt::Display for Variable {
    /// `<tf.Variable 'name' shape=(2,) dtype=float32, numpy=[1. 2.]>`-style.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.concrete_value();
        write!(
            f,
            "<Variable '{}' shape={} dtype={}, value={}>",
            self.name(),
            fmt_shape(v.shape()),
            v.dtype(),
            v
        )
    }
}
