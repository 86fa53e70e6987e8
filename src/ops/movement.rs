//! (being written)
use super::{Lowering, Meta, OpDef};
use crate::error::Result;

#[derive(Clone, Debug, PartialEq)]
pub enum MovementOp {}

impl OpDef for MovementOp {
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
