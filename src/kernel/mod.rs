//! The kernel IR shared by every backend (see [`ir`]) and the Philox generator.

pub mod ir;
pub mod philox;

pub use ir::*;
