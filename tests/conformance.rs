//! TensorFlow's own outputs: every forward case in `tests/fixtures/tensorflow/ops` must match on
//! the CPU and on wgpu, within the per-family tolerances of `wgflow::conformance::tolerance`.

mod common;

use std::path::Path;
use wgflow::conformance::{Outcome, case_dirs, run_case};

#[test]
fn every_tensorflow_fixture_case_matches() {
    let cases = case_dirs(Path::new("tests/fixtures/tensorflow/ops")).unwrap();
    assert!(
        cases.len() >= 200,
        "fixtures are present ({} cases)",
        cases.len()
    );
    let (mut passed, mut failed) = (0, Vec::new());
    for dev in common::devices() {
        for c in &cases {
            let r = run_case(c, &dev);
            match r.outcome {
                Outcome::Pass => passed += 1,
                Outcome::Fail(msg) => failed.push(format!("{} on {}: {msg}", r.case, r.device)),
            }
        }
    }
    println!("{} passed, {} failed", passed, failed.len());
    assert!(failed.is_empty(), "failing cases:\n{}", failed.join("\n"));
}
