//! TensorFlow's `tf.function` guide, in wgflow: a closure traced into a graph, retraced per
//! dtype and shape of tensor arguments and per value of host arguments; `println!` runs only
//! while tracing, `wgflow::print` on every call; captured variables are read and assigned in
//! the graph; control flow with `cond` and `while_loop`; the optimized graph's listing.
//!
//! Run: `cargo run --example tf_function`

use wgflow::{
    Arg, DType, Result, Tensor, TensorSpec, Variable, args, cond, function, ops, print, while_loop,
};

fn main() -> Result<()> {
    // The seeds' f(x): a host side effect and a graph print.
    let f = function(|a: &[Arg]| -> Result<()> {
        println!("The function is running in Python");
        let x = match &a[0] {
            Arg::Tensor(t) => t.clone(),
            Arg::Int(v) => Tensor::scalar(*v as i32)?,
            Arg::Float(v) => Tensor::scalar(*v as f32)?,
            other => panic!("unexpected argument {other:?}"),
        };
        print(&x)
    });
    println!("-- tensors: one trace per dtype and shape");
    f.call(args![Tensor::scalar(1i32)?])?;
    f.call(args![Tensor::scalar(2i32)?])?;
    f.call(args![Tensor::from_ndarray(&ndarray::arr0(2i32))?])?;
    f.call(args![Tensor::scalar(0.1f32)?])?;
    f.call(args![Tensor::scalar(0.2f32)?])?;
    println!("traces so far: {}", f.tracing_count());

    println!("-- host values: one trace per value");
    for a in [1, 2, 1]
        .map(Arg::Int)
        .into_iter()
        .chain([0.1, 0.2, 0.1].map(Arg::Float))
    {
        f.call(&[a])?;
    }
    println!("traces so far: {}", f.tracing_count());

    println!("-- a captured variable, assigned on every call (one trace: input signature)");
    let v = Variable::new(Tensor::scalar(1.0f32)?, "v", true);
    let v2 = v.clone();
    let addprint = function(move |a: &[Arg]| -> Result<Tensor> {
        v2.assign_add(a[0].tensor()?)?;
        let r = v2.read_value();
        print(&r)?;
        Ok(r)
    })
    .with_input_signature(vec![TensorSpec::of(&[], DType::F32)]);
    for _ in 0..3 {
        addprint.call(args![Tensor::scalar(2.0f32)?])?;
    }
    println!(
        "v = {}, traces: {}",
        v.read_value(),
        addprint.tracing_count()
    );

    println!("-- control flow: collatz steps of n (while_loop with a cond inside)");
    let collatz = function(|a: &[Arg]| -> Result<Tensor> {
        let n = a[0].tensor()?;
        let out = while_loop(
            |s: &Vec<Tensor>| ops::greater(&s[0], &ops::scalar_like(&s[0], 1.0)?),
            |s: &Vec<Tensor>| {
                let (n, steps) = (&s[0], &s[1]);
                let even = ops::equal(
                    &ops::floor_mod(n, &ops::scalar_like(n, 2.0)?)?,
                    &ops::scalar_like(n, 0.0)?,
                )?;
                let next = cond(
                    &even,
                    || ops::floor_div(n, &ops::scalar_like(n, 2.0)?),
                    || {
                        ops::add(
                            &ops::mul(n, &ops::scalar_like(n, 3.0)?)?,
                            &ops::scalar_like(n, 1.0)?,
                        )
                    },
                )?;
                Ok(vec![next, ops::add(steps, &ops::scalar_like(steps, 1.0)?)?])
            },
            vec![n.clone(), Tensor::scalar(0i32)?],
            None,
        )?;
        Ok(out[1].clone())
    });
    for n in [6, 7, 27] {
        let steps = collatz.call(args![Tensor::scalar(n)?])?;
        println!("collatz({n}) = {steps}");
    }
    println!("traces: {}", collatz.tracing_count());

    println!("-- the optimized graph of sigmoid(tanh(x * 1.5 + 0.5) * x - 0.25)");
    let w2 = function(|a: &[Arg]| -> Result<Tensor> {
        let x = a[0].tensor()?;
        let y = ops::tanh(&((x * 1.5)? + 0.5)?)?;
        ops::sigmoid(&((&y * x)? - 0.25)?)
    });
    let x = ops::random_normal([4, 3], 0.0, 1.0, 1)?;
    print!("{}", w2.get_concrete_function(args![&x])?.graph());
    Ok(())
}
