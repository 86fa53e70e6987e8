//! The CPU backend: ndarray-free word buffers, the block interpreter for expressions, rayon
//! for parallelism and the `gemm` crate's packed, cache-blocked kernels for matmul. It is
//! also the reference every other backend is tested against.

mod eval;
pub(crate) mod math;
mod matmul;
mod misc;
mod reduce;

pub(crate) use eval::{BLOCK, Eval, Prepared};

use crate::error::{Error, Result};
use crate::kernel::ir::{Kernel, MapKernel};
use rayon::prelude::*;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

pub(crate) struct CpuStorage {
    data: RwLock<Vec<u32>>,
}

impl CpuStorage {
    pub fn write(&self, words: &[u32]) {
        let mut d = self.data.write().unwrap_or_else(|e| e.into_inner());
        d[..words.len()].copy_from_slice(words);
    }
    pub fn read(&self, words: usize) -> Vec<u32> {
        self.data.read().unwrap_or_else(|e| e.into_inner())[..words].to_vec()
    }
    fn read_guard(&self) -> RwLockReadGuard<'_, Vec<u32>> {
        self.data.read().unwrap_or_else(|e| e.into_inner())
    }
    fn write_guard(&self) -> RwLockWriteGuard<'_, Vec<u32>> {
        self.data.write().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) struct CpuBackend;

/// Below this many points a kernel runs on the calling thread: rayon's hand-off costs more.
pub(crate) const PARALLEL_MIN: usize = 32 * 1024;

/// Splits `total` points into chunks of whole blocks, a few per thread.
pub(crate) fn chunk_len(total: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let per = total.div_ceil(threads * 4).max(BLOCK);
    per.div_ceil(BLOCK) * BLOCK
}

impl CpuBackend {
    pub fn new() -> Self {
        CpuBackend
    }

    pub fn create_storage(&self, bytes: u64) -> crate::backend::Storage {
        crate::backend::Storage::Cpu(CpuStorage {
            data: RwLock::new(vec![0u32; (bytes / 4) as usize]),
        })
    }

    pub fn run(
        &self,
        kernel: &Kernel,
        inputs: &[&CpuStorage],
        outputs: &[&CpuStorage],
    ) -> Result<()> {
        for (i, o) in outputs.iter().enumerate() {
            let aliased = inputs.iter().any(|s| std::ptr::eq(*s, *o))
                || outputs[..i].iter().any(|s| std::ptr::eq(*s, *o));
            if aliased {
                return Err(Error::invalid(
                    "cpu kernel",
                    "an output buffer is also bound as an input or another output",
                ));
            }
        }
        let in_guards: Vec<_> = inputs.iter().map(|s| s.read_guard()).collect();
        let ins: Vec<&[u32]> = in_guards.iter().map(|g| g.as_slice()).collect();
        let mut out_guards: Vec<_> = outputs.iter().map(|s| s.write_guard()).collect();
        let mut outs: Vec<&mut [u32]> = out_guards.iter_mut().map(|g| g.as_mut_slice()).collect();
        match kernel {
            Kernel::Map(k) => run_map(k, &ins, &mut outs),
            Kernel::Reduce(k) => reduce::run(k, &ins, outs.swap_remove(0)),
            Kernel::Matmul(k) => match outs.as_mut_slice() {
                [out] => matmul::run(k, &ins, out, None),
                [out, sums] => matmul::run(k, &ins, out, Some(sums)),
                _ => Err(Error::invalid("matmul", "one or two outputs expected")),
            },
            Kernel::Scan(k) => misc::scan(k, ins[0], outs.swap_remove(0)),
            Kernel::Scatter(k) => misc::scatter(k, &ins, outs.swap_remove(0)),
            Kernel::Random(k) => misc::random(k, outs.swap_remove(0)),
            Kernel::Softmax(k) => misc::softmax(k, ins[0], outs.swap_remove(0)),
        }
    }
}

fn check_len(op: &str, have: usize, need: usize) -> Result<()> {
    if have < need {
        return Err(Error::invalid(
            op,
            format!("output buffer holds {have} elements, the kernel writes {need}"),
        ));
    }
    Ok(())
}

fn run_map(k: &MapKernel, ins: &[&[u32]], outs: &mut [&mut [u32]]) -> Result<()> {
    let total = crate::shape::num_elements(&k.space);
    if total == 0 {
        return Ok(());
    }
    let prep = Prepared::new(&k.expr, &k.space, ins)?;
    if let Some((offset, strides)) = &k.store {
        return run_map_store(&prep, total, *offset, strides, outs);
    }
    for o in outs.iter() {
        check_len("map", o.len(), total)?;
    }
    let work = |start: usize, outs: &mut [&mut [u32]]| {
        let mut ev = Eval::new(&prep);
        let len = outs[0].len();
        let mut t = 0;
        while t < len {
            let n = BLOCK.min(len - t);
            if outs.len() == 1 {
                ev.run_into(start + t, n, None, &mut outs[0][t..t + n]);
            } else {
                ev.run(start + t, n, None);
                for (j, o) in outs.iter_mut().enumerate() {
                    ev.write_output(j, &mut o[t..t + n]);
                }
            }
            t += n;
        }
    };
    if total < PARALLEL_MIN {
        let mut v: Vec<&mut [u32]> = outs.iter_mut().map(|o| &mut o[..total]).collect();
        work(0, &mut v);
        return Ok(());
    }
    let chunk = chunk_len(total);
    let nchunks = total.div_ceil(chunk);
    let mut per_chunk: Vec<Vec<&mut [u32]>> = (0..nchunks).map(|_| Vec::new()).collect();
    for o in outs.iter_mut() {
        for (c, piece) in o[..total].chunks_mut(chunk).enumerate() {
            per_chunk[c].push(piece);
        }
    }
    per_chunk
        .into_par_iter()
        .enumerate()
        .for_each(|(c, mut v)| work(c * chunk, &mut v));
    Ok(())
}

/// A map that scatters its points through an affine store map (e.g. one piece of a concat).
/// When the outermost axis steps past everything the inner axes reach, runs of it write
/// disjoint slices of the output, in parallel.
fn run_map_store(
    prep: &Prepared,
    total: usize,
    offset: i64,
    strides: &[i64],
    outs: &mut [&mut [u32]],
) -> Result<()> {
    let space = prep.space;
    let (lo, hi) = eval::affine_range(space, offset, strides);
    for o in outs.iter() {
        if lo < 0 || hi >= o.len() as i64 {
            return Err(Error::invalid(
                "map",
                "store map reaches outside the output",
            ));
        }
    }
    let cs = crate::shape::strides(space);
    // Points `p0..p1` written into `outs`, whose element 0 is the output's `base`.
    let work = |p0: usize, p1: usize, base: i64, outs: &mut [&mut [u32]]| {
        let mut ev = Eval::new(prep);
        let mut tmp = Vec::new();
        let mut t = p0;
        while t < p1 {
            let n = BLOCK.min(p1 - t);
            ev.run(t, n, None);
            for (k, o) in outs.iter_mut().enumerate() {
                let vals = ev.output_slice(k, &mut tmp);
                eval::strided_scatter(vals, space, &cs, offset - base, strides, t, o);
            }
            t += n;
        }
    };
    let outer = space.first().copied().unwrap_or(1);
    let s0 = strides.first().copied().unwrap_or(0);
    let (rest_lo, rest_hi) = eval::affine_range(
        &space[1.min(space.len())..],
        0,
        &strides[1.min(strides.len())..],
    );
    let disjoint = outer > 1 && s0 > 0 && rest_lo >= 0 && rest_hi < s0;
    if total < PARALLEL_MIN || !disjoint {
        work(0, total, 0, outs);
        return Ok(());
    }
    let per = outer.div_ceil(rayon::current_num_threads() * 4);
    let chunks = outer.div_ceil(per);
    let mut per_chunk: Vec<Vec<&mut [u32]>> = (0..chunks).map(|_| Vec::new()).collect();
    for o in outs.iter_mut() {
        // Chunk c owns output elements [offset + c·per·s0, offset + (c+1)·per·s0).
        let region = &mut o[offset as usize..(hi + 1) as usize];
        for (c, piece) in region.chunks_mut(per * s0 as usize).enumerate() {
            per_chunk[c].push(piece);
        }
    }
    per_chunk
        .into_par_iter()
        .enumerate()
        .for_each(|(c, mut v)| {
            let base = offset + (c * per) as i64 * s0;
            work(
                c * per * cs[0],
                ((c + 1) * per).min(outer) * cs[0],
                base,
                &mut v,
            )
        });
    Ok(())
}
