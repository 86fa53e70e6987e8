//! Tensors made on the device from a few numbers: fills, ranges, identity matrices and
//! stateless random values (Philox 4x32-10: the same bits on every backend for a seed).

use super::{Lowering, Meta, Op, OpDef, apply1, expect_inputs, map_kernel};
use crate::dtype::{DType, Scalar};
use crate::error::{Error, Result};
use crate::kernel::ir::{E, Kernel, RandomDist, RandomKernel};
use crate::kernel::philox::key_from_seed;
use crate::tensor::Tensor;

/// Distributions of [`CreateOp::Random`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Distribution {
    /// Uniform in `[min, max)`.
    Uniform { min: f32, max: f32 },
    /// Normal with a mean and standard deviation.
    Normal { mean: f32, stddev: f32 },
    /// Normal truncated at two standard deviations (values redrawn), as Keras initialisers use.
    TruncatedNormal { mean: f32, stddev: f32 },
    /// Uniform integers in `[min, max)`.
    UniformInt { min: i32, max: i32 },
    /// The generator's raw 32-bit words.
    Bits,
}

/// Ops with no tensor inputs.
#[derive(Clone, Debug, PartialEq)]
pub enum CreateOp {
    Fill {
        shape: Vec<usize>,
        value: Scalar,
    },
    /// `start + i * delta` for `i` in `0..len`.
    Range {
        start: Scalar,
        delta: Scalar,
        len: usize,
    },
    /// `num` evenly spaced values from `start` to `stop` inclusive.
    Linspace {
        start: f32,
        stop: f32,
        num: usize,
    },
    /// Ones on the diagonal of a `rows x cols` matrix.
    Eye {
        rows: usize,
        cols: usize,
        dtype: DType,
    },
    Random {
        shape: Vec<usize>,
        dist: Distribution,
        seed: u64,
    },
}

impl OpDef for CreateOp {
    fn name(&self) -> &'static str {
        match self {
            CreateOp::Fill { .. } => "fill",
            CreateOp::Range { .. } => "range",
            CreateOp::Linspace { .. } => "linspace",
            CreateOp::Eye { .. } => "eye",
            CreateOp::Random { .. } => "random",
        }
    }

    fn infer(&self, ins: &[Meta]) -> Result<Vec<Meta>> {
        expect_inputs(self.name(), ins, 0)?;
        Ok(vec![match self {
            CreateOp::Fill { shape, value } => Meta::new(shape.clone(), value.dtype()),
            CreateOp::Range { start, delta, len } => {
                if start.dtype() != delta.dtype() || start.dtype() == DType::Bool {
                    return Err(Error::dtype(
                        "range",
                        "start and delta must share a numeric dtype",
                    ));
                }
                Meta::new(vec![*len], start.dtype())
            }
            CreateOp::Linspace { num, .. } => Meta::new(vec![*num], DType::F32),
            CreateOp::Eye { rows, cols, dtype } => Meta::new(vec![*rows, *cols], *dtype),
            CreateOp::Random { shape, dist, .. } => {
                let dtype = match dist {
                    Distribution::UniformInt { min, max } => {
                        if min >= max {
                            return Err(Error::invalid(
                                "random_uniform",
                                format!("minval {min} must be below maxval {max}"),
                            ));
                        }
                        DType::I32
                    }
                    Distribution::Bits => DType::U32,
                    _ => DType::F32,
                };
                Meta::new(shape.clone(), dtype)
            }
        }])
    }

    fn lower(&self, _ins: &[Meta], outs: &[Meta]) -> Result<Lowering> {
        let space = outs[0].shape.clone();
        let kernel = match self {
            CreateOp::Fill { value, .. } => map_kernel(&space, &[], |b, _| vec![b.param(*value)]),
            CreateOp::Range { start, delta, .. } => map_kernel(&space, &[], |b, _| {
                let i = b.coord(0).cast(start.dtype());
                vec![b.param(*start) + i * b.param(*delta)]
            }),
            CreateOp::Linspace { start, stop, num } => map_kernel(&space, &[], |b, _| {
                let step = if *num > 1 {
                    (stop - start) / (*num - 1) as f32
                } else {
                    0.0
                };
                let i = b.coord(0);
                let v = b.param(*start) + i.cast(DType::F32) * b.param(step);
                // The last value is exactly `stop`, as in TensorFlow (a single value is `start`).
                let last = if *num > 1 { *num as i64 - 1 } else { -1 };
                vec![i.eq(&b.lit_i(last)).select(&b.param(*stop), &v)]
            }),
            CreateOp::Eye { dtype, .. } => map_kernel(&space, &[], |b, _| {
                let on = b.coord(0).eq(&b.coord(1));
                vec![on.select(
                    &b.lit(Scalar::from_f64(*dtype, 1.0)),
                    &b.lit(Scalar::from_f64(*dtype, 0.0)),
                )]
            }),
            CreateOp::Random { dist, seed, .. } => return Ok(lower_random(&space, *dist, *seed)),
        };
        Ok(Lowering::single(kernel, 0, 1))
    }
}

fn lower_random(space: &[usize], dist: Distribution, seed: u64) -> Lowering {
    let len: usize = space.iter().product();
    let key = key_from_seed(seed);
    if dist == Distribution::Bits {
        return Lowering::single(
            Kernel::Random(RandomKernel {
                len,
                key,
                dist: RandomDist::Bits,
            }),
            0,
            1,
        );
    }
    // The raw stream and the map that scales it to the distribution.
    type Scale = Box<dyn Fn(&E) -> E>;
    let (raw, scale): (RandomDist, Scale) = match dist {
        Distribution::Uniform { min, max } => (
            RandomDist::Uniform,
            Box::new(move |u| u * u.param(max - min) + u.param(min)),
        ),
        Distribution::Normal { mean, stddev } | Distribution::TruncatedNormal { mean, stddev } => {
            let d = if matches!(dist, Distribution::Normal { .. }) {
                RandomDist::Normal
            } else {
                RandomDist::TruncatedNormal
            };
            (d, Box::new(move |z| z * z.param(stddev) + z.param(mean)))
        }
        Distribution::Bits => unreachable!("handled above"),
        Distribution::UniformInt { min, max } => {
            // floor(u * range) of a float is exact for ranges below 2^24; larger ranges use
            // the top bits of the word instead.
            let range = (max as i64 - min as i64) as f64;
            (
                RandomDist::Uniform,
                Box::new(move |u| {
                    let v = (u * range).floor().cast(DType::I32);
                    v.min(&v.lit_i(range as i64 - 1)) + v.param(Scalar::I32(min))
                }),
            )
        }
    };
    let mut low = Lowering::default();
    let tmp = low.temp(Meta::new(vec![len], DType::F32));
    low.call(
        Kernel::Random(RandomKernel {
            len,
            key,
            dist: raw,
        }),
        vec![],
        vec![tmp],
    );
    let k = map_kernel(space, &[Meta::new(space.to_vec(), DType::F32)], |_, x| {
        vec![scale(&x[0])]
    });
    low.call(k, vec![tmp], vec![super::Buf::Out(0)]);
    low
}

fn create(op: CreateOp) -> Result<Tensor> {
    apply1(Op::Create(op), &[])
}

/// A tensor of `shape` filled with `value` (its dtype is the value's).
pub fn fill(shape: impl AsRef<[usize]>, value: impl Into<Scalar>) -> Result<Tensor> {
    create(CreateOp::Fill {
        shape: shape.as_ref().to_vec(),
        value: value.into(),
    })
}

/// Zeros of a dtype.
pub fn zeros(shape: impl AsRef<[usize]>, dtype: DType) -> Result<Tensor> {
    fill(shape, Scalar::from_f64(dtype, 0.0))
}

/// Ones of a dtype.
pub fn ones(shape: impl AsRef<[usize]>, dtype: DType) -> Result<Tensor> {
    fill(shape, Scalar::from_f64(dtype, 1.0))
}

/// Zeros shaped like `x`, on `x`'s device.
pub fn zeros_like(x: &Tensor) -> Result<Tensor> {
    crate::device::with_device(x.device(), || zeros(x.shape(), x.dtype()))
}

/// Ones shaped like `x`, on `x`'s device.
pub fn ones_like(x: &Tensor) -> Result<Tensor> {
    crate::device::with_device(x.device(), || ones(x.shape(), x.dtype()))
}

/// `[start, start + delta, ...)` up to (not including) `limit`, like `tf.range`.
pub fn range(
    start: impl Into<Scalar>,
    limit: impl Into<Scalar>,
    delta: impl Into<Scalar>,
) -> Result<Tensor> {
    let (start, limit, delta) = (start.into(), limit.into(), delta.into());
    if start.dtype() != limit.dtype() || start.dtype() != delta.dtype() {
        return Err(Error::dtype(
            "range",
            "start, limit and delta must have one dtype",
        ));
    }
    let (s, l, d) = (start.to_f64(), limit.to_f64(), delta.to_f64());
    if d == 0.0 {
        return Err(Error::invalid("range", "delta must not be 0"));
    }
    let len = ((l - s) / d).ceil().max(0.0) as usize;
    create(CreateOp::Range { start, delta, len })
}

/// `num` evenly spaced values from `start` to `stop`, both included.
pub fn linspace(start: f32, stop: f32, num: usize) -> Result<Tensor> {
    create(CreateOp::Linspace { start, stop, num })
}

/// An identity matrix (`rows x cols`, ones on the main diagonal).
pub fn eye(rows: usize, cols: usize, dtype: DType) -> Result<Tensor> {
    create(CreateOp::Eye { rows, cols, dtype })
}

/// Uniform values in `[min, max)` from a stateless generator seeded by `seed`.
pub fn random_uniform(shape: impl AsRef<[usize]>, min: f32, max: f32, seed: u64) -> Result<Tensor> {
    create(CreateOp::Random {
        shape: shape.as_ref().to_vec(),
        dist: Distribution::Uniform { min, max },
        seed,
    })
}

/// Uniform integers in `[min, max)`.
pub fn random_uniform_int(
    shape: impl AsRef<[usize]>,
    min: i32,
    max: i32,
    seed: u64,
) -> Result<Tensor> {
    create(CreateOp::Random {
        shape: shape.as_ref().to_vec(),
        dist: Distribution::UniformInt { min, max },
        seed,
    })
}

/// Normal values.
pub fn random_normal(
    shape: impl AsRef<[usize]>,
    mean: f32,
    stddev: f32,
    seed: u64,
) -> Result<Tensor> {
    create(CreateOp::Random {
        shape: shape.as_ref().to_vec(),
        dist: Distribution::Normal { mean, stddev },
        seed,
    })
}

/// Normal values redrawn while more than two standard deviations from the mean.
pub fn truncated_normal(
    shape: impl AsRef<[usize]>,
    mean: f32,
    stddev: f32,
    seed: u64,
) -> Result<Tensor> {
    create(CreateOp::Random {
        shape: shape.as_ref().to_vec(),
        dist: Distribution::TruncatedNormal { mean, stddev },
        seed,
    })
}

/// Raw Philox words (u32), the generator's output before any distribution.
pub fn random_bits(shape: impl AsRef<[usize]>, seed: u64) -> Result<Tensor> {
    create(CreateOp::Random {
        shape: shape.as_ref().to_vec(),
        dist: Distribution::Bits,
        seed,
    })
}
