//! `Module`: TensorFlow's `tf.Module` in Rust. A struct exposes the variables it owns and
//! the modules it contains; `variables()` and `trainable_variables()` then walk the tree, so
//! optimizers and checkpoints find every variable without the user listing them.
//!
//! ```
//! use wgflow::{Module, Tensor, Variable, name_scope, ops};
//!
//! struct Dense { name: String, w: Variable, b: Variable }
//! impl Dense {
//!     fn new(name: &str, inputs: usize, units: usize) -> wgflow::Result<Dense> {
//!         name_scope(name, || Ok(Dense {
//!             name: name.to_string(),
//!             w: Variable::new(ops::random_normal([inputs, units], 0.0, 1.0, 1)?, "w", true),
//!             b: Variable::new(ops::zeros([units], wgflow::DType::F32)?, "b", true),
//!         }))
//!     }
//! }
//! impl Module for Dense {
//!     fn name(&self) -> &str { &self.name }
//!     fn own_variables(&self) -> Vec<Variable> { vec![self.w.clone(), self.b.clone()] }
//! }
//!
//! struct Mlp { l1: Dense, l2: Dense }
//! impl Module for Mlp {
//!     fn name(&self) -> &str { "mlp" }
//!     fn submodules(&self) -> Vec<&dyn Module> { vec![&self.l1, &self.l2] }
//! }
//!
//! let mlp = name_scope("mlp", || -> wgflow::Result<Mlp> {
//!     Ok(Mlp { l1: Dense::new("dense_1", 3, 4)?, l2: Dense::new("dense_2", 4, 2)? })
//! }).unwrap();
//! let names: Vec<String> = mlp.variables().iter().map(|v| v.name().to_string()).collect();
//! assert_eq!(names, ["mlp/dense_1/w", "mlp/dense_1/b", "mlp/dense_2/w", "mlp/dense_2/b"]);
//! ```

use crate::autodiff::Variable;
use std::collections::HashSet;

/// A named container of variables and nested modules.
pub trait Module {
    /// The module's name (its variables are usually created inside a `name_scope` of it).
    fn name(&self) -> &str;

    /// The variables this module holds directly (not those of its submodules).
    fn own_variables(&self) -> Vec<Variable> {
        Vec::new()
    }

    /// The modules this module holds directly.
    fn submodules(&self) -> Vec<&dyn Module> {
        Vec::new()
    }

    /// Every variable of this module and its submodules, depth first in declaration order,
    /// each once (a variable shared by two submodules is listed where first met).
    fn variables(&self) -> Vec<Variable> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        collect(self.own_variables(), self.submodules(), &mut seen, &mut out);
        out
    }

    /// [`Module::variables`] that are trainable.
    fn trainable_variables(&self) -> Vec<Variable> {
        self.variables()
            .into_iter()
            .filter(Variable::trainable)
            .collect()
    }

    /// [`Module::variables`] that are not trainable.
    fn non_trainable_variables(&self) -> Vec<Variable> {
        self.variables()
            .into_iter()
            .filter(|v| !v.trainable())
            .collect()
    }
}

fn collect(
    own: Vec<Variable>,
    subs: Vec<&dyn Module>,
    seen: &mut HashSet<u64>,
    out: &mut Vec<Variable>,
) {
    for v in own {
        if seen.insert(v.id()) {
            out.push(v);
        }
    }
    for m in subs {
        collect(m.own_variables(), m.submodules(), seen, out);
    }
}
