use wgflow::*;
fn main() -> Result<()> {
    for dev in [Device::cpu(), Device::wgpu(0)?] {
        println!("== {dev} {}", dev.physical_device().description());
        with_device(&dev, || -> Result<()> {
            let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0], [2, 2])?;
            let b = (&a + &a)?;
            println!("{b}");
            println!("{}", ops::exp(&a)?);
            println!("{}", ops::matmul(&a, &a)?);
            println!("{}", ops::reduce_sum(&a, Axes::All, false)?);
            println!("{}", ops::reduce_sum(&a, [0], true)?);
            println!("{}", ops::argmax(&a, 1)?);
            println!("{}", ops::softmax(&a, -1)?);
            println!("{}", ops::cumsum(&a, 1, false, false)?);
            println!("{}", ops::random_uniform([5], 0.0, 1.0, 42)?);
            println!("{}", ops::random_bits([4], 42)?);
            println!("{}", ops::random_normal([4], 0.0, 1.0, 42)?);
            println!("{}", ops::reduce_logsumexp(&a, [1], false)?);
            let big = ops::range(0.0f32, 100000.0, 1.0)?;
            println!("{}", ops::reduce_sum(&big, Axes::All, false)?);
            println!("{}", ops::reduce_mean(&a, Axes::All, false)?);
            println!("{}", ops::eye(3, 3, DType::F32)?);
            println!("{:?}", dev.stats());
            Ok(())
        })?;
    }
    Ok(())
}
