//! Graph optimization passes, each a function `&mut Graph -> Result<bool>` (whether it
//! changed anything) in its own module with its own tests.

pub mod dce;
pub mod fusion;

use super::ir::Graph;
use crate::error::Result;

/// The standard pipeline, in order.
pub fn optimize(g: &mut Graph) -> Result<()> {
    dce::run(g)?;
    let max_bindings = g.device.max_kernel_bindings();
    if fusion::run(g, max_bindings)? {
        dce::run(g)?;
    }
    if fusion::run_epilogues(g, max_bindings)? {
        dce::run(g)?;
    }
    Ok(())
}
