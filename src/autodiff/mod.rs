//! Reverse-mode automatic differentiation: [`GradientTape`] records the ops that
//! [`crate::ops::apply`] runs on watched tensors; [`Variable`] is the mutable, trainable state
//! that tapes watch automatically. Gradient rules live beside their ops
//! ([`crate::ops::OpDef::gradient`]) and are written with public ops, so a tape recording
//! while another computes a gradient gets second-order gradients.

mod tape;
mod variable;

pub(crate) use tape::record;
pub use tape::{
    GradientTape, Source, SourceRef, TapeOptions, UnconnectedGradients, custom_gradient,
    stop_gradient, stop_recording,
};
pub use variable::{Variable, name_scope, unique_name};
