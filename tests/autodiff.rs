//! GradientTape semantics: watching, variables, persistence, unconnected sources, nested
//! tapes, stop_gradient, custom gradients, jacobians, memory release, and bad input.

mod common;

use common::gradcheck::Check;
use common::{Gen, devices, values};
use wgflow::{
    Axes, DType, Device, Error, GradientTape, LogicalDeviceConfiguration, TapeOptions, Tensor,
    UnconnectedGradients, Variable, custom_gradient, memory_info, ops, stop_gradient, with_device,
};

fn t(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(v, shape).unwrap()
}

fn scalar(g: &Option<Tensor>) -> f32 {
    g.as_ref().expect("a gradient").to_scalar::<f32>().unwrap()
}

#[test]
fn product_rule_with_broadcasting_and_repeated_inputs() {
    for dev in devices() {
        with_device(&dev, || {
            let x = t(&[1.0, 2.0, 3.0], &[3]);
            let y = t(&[4.0], &[1]);
            let tape = GradientTape::new();
            tape.watch(&x);
            tape.watch(&y);
            // z = x * x * y - x  ->  dz/dx = 2xy - 1, dz/dy = sum(x^2)
            let z = ops::sub(&ops::mul(&ops::mul(&x, &x).unwrap(), &y).unwrap(), &x).unwrap();
            let g = tape.gradient(&z, &[&x, &y]).unwrap();
            assert_eq!(values(g[0].as_ref().unwrap()), vec![7.0, 15.0, 23.0]);
            assert_eq!(values(g[1].as_ref().unwrap()), vec![14.0]);
        });
    }
}

#[test]
fn variables_are_watched_when_read_and_trainable() {
    for dev in devices() {
        with_device(&dev, || {
            let w = Variable::new(Tensor::scalar(3.0f32).unwrap(), "w", true);
            let frozen = Variable::new(Tensor::scalar(5.0f32).unwrap(), "frozen", false);
            let tape = GradientTape::new();
            let w1 = w.read_value();
            let y = ops::mul(
                &ops::mul(&w1, &w.read_value()).unwrap(),
                &frozen.read_value(),
            )
            .unwrap();
            assert_eq!(
                tape.watched_variables()
                    .iter()
                    .map(|v| v.name().to_string())
                    .collect::<Vec<_>>(),
                vec!["w"]
            );
            let g = tape.gradient(&y, &[&w, &frozen]).unwrap();
            assert_eq!(scalar(&g[0]), 30.0); // d(5 w^2)/dw
            assert!(g[1].is_none(), "a non-trainable variable is not watched");
        });
    }
}

#[test]
fn watch_accessed_variables_off_needs_explicit_watch() {
    let w = Variable::new(Tensor::scalar(2.0f32).unwrap(), "w", true);
    let tape = GradientTape::with_options(TapeOptions {
        persistent: true,
        watch_accessed_variables: false,
    });
    let y = ops::mul(&w.read_value(), &w.read_value()).unwrap();
    assert!(tape.gradient(&y, &[&w]).unwrap()[0].is_none());
    tape.watch(&w);
    let y = ops::mul(&w.read_value(), &w.read_value()).unwrap();
    assert_eq!(scalar(&tape.gradient(&y, &[&w]).unwrap()[0]), 4.0);
}

#[test]
fn assignments_do_not_carry_gradients() {
    let v = Variable::new(Tensor::scalar(2.0f32).unwrap(), "v", true);
    let tape = GradientTape::persistent();
    let a = ops::mul(&v.read_value(), &v.read_value()).unwrap();
    v.assign_add(&Tensor::scalar(1.0f32).unwrap()).unwrap();
    let b = ops::mul(&v.read_value(), &Tensor::scalar(10.0f32).unwrap()).unwrap();
    // d(a)/dv at the first read is 2*2; the read after the assignment is another value.
    let total = ops::add(&a, &b).unwrap();
    assert_eq!(scalar(&tape.gradient(&total, &[&v]).unwrap()[0]), 14.0);
    assert_eq!(v.read_value().to_scalar::<f32>().unwrap(), 3.0);
}

#[test]
fn persistent_tapes_allow_several_gradients_and_others_refuse() {
    let x = Tensor::scalar(3.0f32).unwrap();
    let tape = GradientTape::persistent();
    tape.watch(&x);
    let y = ops::mul(&x, &x).unwrap();
    let z = ops::mul(&y, &y).unwrap();
    assert_eq!(scalar(&tape.gradient(&y, &[&x]).unwrap()[0]), 6.0);
    assert_eq!(scalar(&tape.gradient(&z, &[&x]).unwrap()[0]), 108.0);

    let tape = GradientTape::new();
    tape.watch(&x);
    let y = ops::mul(&x, &x).unwrap();
    tape.gradient(&y, &[&x]).unwrap();
    let e = tape.gradient(&y, &[&x]).unwrap_err();
    assert!(matches!(e, Error::InvalidArgument { .. }), "{e}");
    assert!(e.to_string().contains("persistent"), "{e}");
}

#[test]
fn unconnected_sources_give_none_or_zeros() {
    let x = t(&[1.0, 2.0], &[2]);
    let u = t(&[5.0, 6.0, 7.0], &[3]);
    let tape = GradientTape::persistent();
    tape.watch(&x);
    tape.watch(&u);
    let y = ops::mul(&x, &x).unwrap();
    assert!(tape.gradient(&y, &[&u]).unwrap()[0].is_none());
    let z = tape
        .gradient_with(&y, &[&u], None, UnconnectedGradients::Zero)
        .unwrap();
    assert_eq!(values(z[0].as_ref().unwrap()), vec![0.0; 3]);
}

#[test]
fn bad_requests_are_clean_errors() {
    let x = Tensor::scalar(1.0f32).unwrap();
    let unwatched = Tensor::scalar(2.0f32).unwrap();
    let tape = GradientTape::persistent();
    tape.watch(&x);
    let y = ops::mul(&x, &x).unwrap();
    let e = tape.gradient(&y, &[&unwatched]).unwrap_err();
    assert!(e.to_string().contains("not watched"), "{e}");
    let i = Tensor::scalar(3i32).unwrap();
    tape.watch(&i);
    let yi = ops::mul(&i, &i).unwrap();
    assert!(matches!(
        tape.gradient(&yi, &[&i]).unwrap_err(),
        Error::DType { .. }
    ));
    assert!(matches!(
        tape.gradient(&y, &[&i]).unwrap_err(),
        Error::DType { .. }
    ));
    let wrong = t(&[1.0, 1.0], &[2]);
    assert!(matches!(
        tape.gradient_with(&y, &[&x], Some(&wrong), UnconnectedGradients::None)
            .unwrap_err(),
        Error::Shape { .. }
    ));
}

#[test]
fn nested_tapes_give_second_order_gradients() {
    for dev in devices() {
        with_device(&dev, || {
            let x = Tensor::scalar(3.0f32).unwrap();
            let outer = GradientTape::new();
            outer.watch(&x);
            let inner = GradientTape::new();
            inner.watch(&x);
            let y = ops::mul(&ops::mul(&x, &x).unwrap(), &x).unwrap(); // x^3
            let dy = inner.gradient(&y, &[&x]).unwrap()[0].clone().unwrap();
            assert_eq!(dy.to_scalar::<f32>().unwrap(), 27.0);
            let d2y = outer.gradient(&dy, &[&x]).unwrap();
            assert_eq!(scalar(&d2y[0]), 18.0);
        });
    }
}

#[test]
fn stop_gradient_and_stop_recording_block_the_flow() {
    let x = Tensor::scalar(2.0f32).unwrap();
    let tape = GradientTape::persistent();
    tape.watch(&x);
    let y = ops::mul(&x, &stop_gradient(&x)).unwrap();
    assert_eq!(scalar(&tape.gradient(&y, &[&x]).unwrap()[0]), 2.0);
    let z = tape.stop_recording(|| ops::mul(&x, &x).unwrap());
    let e = tape.gradient(&z, &[&x]).unwrap();
    assert!(e[0].is_none());
}

#[test]
fn custom_gradients_replace_the_rule_and_can_be_nested() {
    let x = t(&[1.0, -2.0, 3.0], &[3]);
    let tape = GradientTape::new();
    tape.watch(&x);
    // Gradient clipping in the backward pass only: forward is identity.
    let y = custom_gradient(&[&x], |xs| {
        Ok((vec![xs[0].clone()], |g: &[Tensor]| {
            Ok(vec![Some(ops::clip_by_value_scalar(&g[0], -0.5, 0.5)?)])
        }))
    })
    .unwrap();
    let z = ops::mul(&y[0], &t(&[2.0, -3.0, 0.1], &[3])).unwrap();
    let g = tape.gradient(&z, &[&x]).unwrap();
    assert_eq!(
        values(g[0].as_ref().unwrap()),
        vec![0.5, -0.5, 0.1f32 as f64]
    );
}

#[test]
fn jacobians_full_and_per_example() {
    for dev in devices() {
        with_device(&dev, || {
            let x = t(&[1.0, 2.0, 3.0, 4.0], &[2, 2]);
            let tape = GradientTape::persistent();
            tape.watch(&x);
            let y = ops::mul(&x, &x).unwrap();
            let j = tape
                .jacobian(&y, &x, UnconnectedGradients::None)
                .unwrap()
                .unwrap();
            assert_eq!(j.shape(), &[2, 2, 2, 2]);
            let mut want = vec![0.0; 16];
            for i in 0..4 {
                want[i * 4 + i] = 2.0 * (i + 1) as f64;
            }
            assert_eq!(values(&j), want);
            let bj = tape
                .batch_jacobian(&y, &x, UnconnectedGradients::None)
                .unwrap()
                .unwrap();
            assert_eq!(bj.shape(), &[2, 2, 2]);
            assert_eq!(values(&bj), vec![2.0, 0.0, 0.0, 4.0, 6.0, 0.0, 0.0, 8.0]);
        });
    }
}

#[test]
fn a_non_persistent_tape_releases_its_intermediates() {
    for shared in devices() {
        // A logical device of its own: other tests allocate concurrently on the shared ones.
        let dev = Device::new(
            shared.physical_device(),
            LogicalDeviceConfiguration::default(),
        )
        .unwrap();
        with_device(&dev, || {
            let x = ops::random_uniform([256, 256], -1.0, 1.0, 1).unwrap();
            dev.synchronize().unwrap();
            let before = memory_info(&dev).current;
            let tape = GradientTape::new();
            tape.watch(&x);
            let mut y = x.clone();
            for _ in 0..8 {
                y = ops::mul(&y, &x).unwrap();
            }
            let loss = ops::reduce_sum(&y, Axes::All, false).unwrap_or(y.clone());
            drop(y);
            let during = memory_info(&dev).current;
            assert!(
                during >= before + 8 * 256 * 256 * 4,
                "intermediates are held"
            );
            let g = tape.gradient(&loss, &[&x]);
            drop(g);
            drop(loss);
            let after = memory_info(&dev).current;
            assert!(
                after < before + 256 * 256 * 4,
                "released: before {before}, during {during}, after {after}"
            );
        });
    }
}

#[test]
fn finite_differences_for_the_arithmetic_rules() {
    let mut rng = Gen::new(5);
    for dev in devices() {
        with_device(&dev, || {
            let a: Vec<f64> = (0..6).map(|_| rng.uniform(-2.0, 2.0)).collect();
            let b: Vec<f64> = (0..3).map(|_| rng.uniform(-2.0, 2.0)).collect();
            Check::new("x*y-x+y (broadcast)", vec![(a, vec![2, 3]), (b, vec![3])]).run(
                &mut rng,
                &|xs| {
                    (0..6)
                        .map(|i| xs[0][i] * xs[1][i % 3] - xs[0][i] + xs[1][i % 3])
                        .collect()
                },
                &|xs| {
                    let p = ops::mul(&xs[0], &xs[1])?;
                    ops::add(&ops::sub(&p, &xs[0])?, &xs[1])
                },
            );
        });
    }
    let _ = DType::F32;
}

struct Leaf {
    w: Variable,
    frozen: Variable,
}
impl wgflow::Module for Leaf {
    fn name(&self) -> &str {
        "leaf"
    }
    fn own_variables(&self) -> Vec<Variable> {
        vec![self.w.clone(), self.frozen.clone()]
    }
}
struct Tree {
    a: Leaf,
    b: Leaf,
}
impl wgflow::Module for Tree {
    fn name(&self) -> &str {
        "tree"
    }
    fn submodules(&self) -> Vec<&dyn wgflow::Module> {
        vec![&self.a, &self.b]
    }
}

#[test]
fn modules_list_nested_variables_once_with_scoped_names() {
    use wgflow::{Module, name_scope, unique_name};
    let leaf = |shared: &Variable| {
        let name = unique_name("leaf");
        name_scope(&name, || Leaf {
            w: Variable::new(Tensor::scalar(1.0f32).unwrap(), "w", true),
            frozen: shared.clone(),
        })
    };
    let tree = name_scope("tree", || {
        let shared = Variable::new(Tensor::scalar(0.0f32).unwrap(), "shared", false);
        Tree {
            a: leaf(&shared),
            b: leaf(&shared),
        }
    });
    let names = |vs: Vec<Variable>| vs.iter().map(|v| v.name().to_string()).collect::<Vec<_>>();
    assert_eq!(
        names(tree.variables()),
        ["tree/leaf/w", "tree/shared", "tree/leaf_1/w"]
    );
    assert_eq!(
        names(tree.trainable_variables()),
        ["tree/leaf/w", "tree/leaf_1/w"]
    );
    assert_eq!(names(tree.non_trainable_variables()), ["tree/shared"]);
}
