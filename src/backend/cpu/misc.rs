//! The smaller kernel families on the CPU: scan, scatter-add, random and softmax.

use super::eval::{BLOCK, Eval, Prepared};
use super::{PARALLEL_MIN, check_len, math};
use crate::dtype::DType;
use crate::error::Result;
use crate::kernel::ir::{RandomDist, RandomKernel, ScanKernel, ScatterKernel, SoftmaxKernel};
use crate::kernel::philox;
use bytemuck::{cast_slice, cast_slice_mut};
use rayon::prelude::*;

pub(crate) fn scan(k: &ScanKernel, x: &[u32], out: &mut [u32]) -> Result<()> {
    let total = k.outer * k.len * k.inner;
    check_len("cumsum", out.len(), total)?;
    check_len("cumsum", x.len(), total)?;
    if total == 0 {
        return Ok(());
    }
    macro_rules! go {
        ($t:ty, $zero:expr, $one:expr, $add:expr, $mul:expr) => {{
            let xs: &[$t] = cast_slice(&x[..total]);
            let os: &mut [$t] = cast_slice_mut(&mut out[..total]);
            let step = |acc: $t, v: $t| {
                if k.product {
                    $mul(acc, v)
                } else {
                    $add(acc, v)
                }
            };
            let init: $t = if k.product { $one } else { $zero };
            os.par_chunks_mut(k.len * k.inner)
                .enumerate()
                .for_each(|(o, row)| {
                    let base = o * k.len * k.inner;
                    for i in 0..k.inner {
                        let mut acc = init;
                        for s in 0..k.len {
                            let j = if k.reverse { k.len - 1 - s } else { s };
                            let idx = j * k.inner + i;
                            let v = xs[base + idx];
                            if k.exclusive {
                                row[idx] = acc;
                                acc = step(acc, v);
                            } else {
                                acc = step(acc, v);
                                row[idx] = acc;
                            }
                        }
                    }
                });
        }};
    }
    match k.dtype {
        DType::F32 => go!(f32, 0.0, 1.0, |a: f32, b| a + b, |a: f32, b| a * b),
        DType::I32 => go!(i32, 0, 1, |a: i32, b| a.wrapping_add(b), |a: i32, b| a
            .wrapping_mul(b)),
        DType::U32 | DType::Bool => go!(u32, 0, 1, |a: u32, b| a.wrapping_add(b), |a: u32, b| a
            .wrapping_mul(b)),
    }
    Ok(())
}

pub(crate) fn scatter(k: &ScatterKernel, ins: &[&[u32]], out: &mut [u32]) -> Result<()> {
    let total: usize = k.space.iter().product();
    check_len("scatter", out.len(), k.out_len)?;
    if total == 0 {
        return Ok(());
    }
    let dt = k.expr.dtypes[k.expr.outputs[1] as usize];
    let prep = Prepared::new(&k.expr, &k.space, ins)?;
    let mut ev = Eval::new(&prep);
    let out = &mut out[..k.out_len];
    let mut t = 0;
    while t < total {
        let n = BLOCK.min(total - t);
        ev.run(t, n, None);
        for j in 0..n {
            let idx = ev.output_word(0, j) as i32;
            if idx < 0 || idx as usize >= out.len() {
                continue;
            }
            let v = ev.output_word(1, j);
            let o = &mut out[idx as usize];
            *o = match dt {
                DType::F32 => (f32::from_bits(*o) + f32::from_bits(v)).to_bits(),
                _ => o.wrapping_add(v),
            };
        }
        t += n;
    }
    Ok(())
}

pub(crate) fn random(k: &RandomKernel, out: &mut [u32]) -> Result<()> {
    check_len("random", out.len(), k.len)?;
    let key = k.key;
    let draw = |i: u32| -> u32 {
        match k.dist {
            RandomDist::Bits => philox::word(key, i, 0),
            RandomDist::Uniform => philox::uniform_from_bits(philox::word(key, i, 0)).to_bits(),
            RandomDist::Normal => philox::normal(key, i, 0).to_bits(),
            RandomDist::TruncatedNormal => philox::truncated_normal(key, i).to_bits(),
        }
    };
    out[..k.len]
        .par_chunks_mut(BLOCK * 16)
        .enumerate()
        .for_each(|(c, chunk)| {
            for (j, o) in chunk.iter_mut().enumerate() {
                *o = draw((c * BLOCK * 16 + j) as u32);
            }
        });
    Ok(())
}

pub(crate) fn softmax(k: &SoftmaxKernel, x: &[u32], out: &mut [u32]) -> Result<()> {
    let total = k.outer * k.len * k.inner;
    check_len("softmax", out.len(), total)?;
    check_len("softmax", x.len(), total)?;
    if total == 0 {
        return Ok(());
    }
    let xs: &[f32] = cast_slice(&x[..total]);
    let os: &mut [f32] = cast_slice_mut(&mut out[..total]);
    let (len, inner, log) = (k.len, k.inner, k.log);
    let per_row = |o: usize, row: &mut [f32]| {
        let base = o * len * inner;
        if inner == 1 {
            softmax_row(&xs[base..base + len], row, log);
            return;
        }
        let mut tmp = vec![0f32; len];
        let mut res = vec![0f32; len];
        for i in 0..inner {
            for j in 0..len {
                tmp[j] = xs[base + j * inner + i];
            }
            softmax_row(&tmp, &mut res, log);
            for j in 0..len {
                row[j * inner + i] = res[j];
            }
        }
    };
    if total < PARALLEL_MIN {
        os.chunks_mut(len * inner)
            .enumerate()
            .for_each(|(o, r)| per_row(o, r));
    } else {
        os.par_chunks_mut(len * inner)
            .enumerate()
            .for_each(|(o, r)| per_row(o, r));
    }
    Ok(())
}

fn softmax_row(x: &[f32], out: &mut [f32], log: bool) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports the features the clone is compiled for.
            unsafe { softmax_row_avx2(x, out, log) };
            return;
        }
    }
    softmax_row_generic(x, out, log)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_row_avx2(x: &[f32], out: &mut [f32], log: bool) {
    softmax_row_generic(x, out, log)
}

/// Subtracting the row maximum keeps exp finite for large logits.
#[inline(always)]
fn softmax_row_generic(x: &[f32], out: &mut [f32], log: bool) {
    let m = x.iter().fold(
        f32::NEG_INFINITY,
        |a, &v| if v > a || v.is_nan() { v } else { a },
    );
    let m = if m.is_infinite() { 0.0 } else { m };
    let mut lanes = [0f32; 8];
    for (o, &v) in out.iter_mut().zip(x) {
        *o = math::exp::<{ math::STATIC_FMA }>(v - m);
    }
    let mut chunks = out.chunks_exact(8);
    for c in &mut chunks {
        for i in 0..8 {
            lanes[i] += c[i];
        }
    }
    let sum: f32 = lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>();
    if log {
        let ls = math::log::<{ math::STATIC_FMA }>(sum);
        for (o, &v) in out.iter_mut().zip(x) {
            *o = v - m - ls;
        }
    } else {
        let inv = 1.0 / sum;
        for o in out.iter_mut() {
            *o *= inv;
        }
    }
}
