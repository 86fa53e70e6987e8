//! `run_functions_eagerly` is process-wide (as TensorFlow's), so it has a test binary of its
//! own: other tests' functions must not run eagerly while it is on.

use wgflow::{Arg, Result, Tensor, args, function};

#[test]
fn run_functions_eagerly_runs_the_closure_every_call() {
    let traces = std::rc::Rc::new(std::cell::Cell::new(0));
    let t = traces.clone();
    let f = function(move |a: &[Arg]| -> Result<Tensor> {
        t.set(t.get() + 1);
        wgflow::ops::neg(a[0].tensor()?)
    });
    let x = Tensor::scalar(1.0f32).unwrap();
    wgflow::run_functions_eagerly(true);
    for _ in 0..2 {
        assert_eq!(f.call(args![&x]).unwrap().to_scalar::<f32>().unwrap(), -1.0);
    }
    wgflow::run_functions_eagerly(false);
    assert_eq!(traces.get(), 2, "the closure ran on each call");
    assert_eq!(f.tracing_count(), 0);
    f.call(args![&x]).unwrap();
    f.call(args![&x]).unwrap();
    assert_eq!(traces.get(), 3, "traced once, then replayed");
    assert_eq!(f.tracing_count(), 1);
}
