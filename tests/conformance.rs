//! TensorFlow's own outputs: every case in `tests/fixtures/tensorflow/ops` must match on the CPU
//! and on wgpu, forward values and every gradient file (`grad_<input>.npy`, taken here with a
//! GradientTape), within the per-family tolerances of `wgflow::conformance`.

mod common;

use std::path::Path;
use wgflow::conformance::{Outcome, case_dirs, run_case_with};

#[test]
fn every_tensorflow_fixture_case_matches() {
    let cases = case_dirs(Path::new("tests/fixtures/tensorflow/ops")).unwrap();
    assert!(
        cases.len() >= 200,
        "fixtures are present ({} cases)",
        cases.len()
    );
    let (mut passed, mut failed, mut grads) = (0, Vec::new(), 0);
    for dev in common::devices() {
        for c in &cases {
            let r = run_case_with(c, &dev, true);
            grads += r.checked_grads;
            match r.outcome {
                Outcome::Pass => passed += 1,
                Outcome::Fail(msg) => failed.push(format!("{} on {}: {msg}", r.case, r.device)),
            }
        }
    }
    println!(
        "{} passed, {} failed, {grads} gradients checked",
        passed,
        failed.len()
    );
    assert!(grads >= 240, "gradient files are checked ({grads})");
    assert!(failed.is_empty(), "failing cases:\n{}", failed.join("\n"));
}
