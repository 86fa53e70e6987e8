//! (being written)
use super::{Lowering, Meta, OpDef};
use crate::error::Result;

#[derive(Clone, Debug, PartialEq)]
pub enum NnOp {}

impl OpDef for NnOp {
    fn name(&self) -> &'static str {
        match *self {}
    }
    fn infer(&self, _ins: &[Meta]) -> Result<Vec<Meta>> {
        match *self {}
    }
    fn lower(&self, _ins: &[Meta], _outs: &[Meta]) -> Result<Lowering> {
        match *self {}
    }
}
