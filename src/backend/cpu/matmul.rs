//! Matmul on the CPU through the `gemm` crate (packed, cache-blocked, runtime-dispatched
//! SIMD micro-kernels, rayon threads). Expression operands (convolutions as implicit GEMM)
//! are materialised first, im2col style.

use super::check_len;
use super::eval::{BLOCK, Eval, Prepared, affine_range};
use crate::error::{Error, Result};
use crate::kernel::ir::{MatmulKernel, Operand};
use rayon::prelude::*;

/// A matrix view: words, offset of batch 0, batch strides, row and column strides.
struct View<'a> {
    data: &'a [u32],
    offset: i64,
    batch: Vec<i64>,
    row: i64,
    col: i64,
}

fn view<'a>(
    op: &'a Operand,
    ins: &'a [&'a [u32]],
    batch: &[usize],
    rows: usize,
    cols: usize,
    owned: &'a mut Vec<u32>,
) -> Result<View<'a>> {
    match op {
        Operand::Strided {
            input,
            offset,
            batch: bs,
            row,
            col,
        } => {
            let data = *ins
                .get(*input as usize)
                .ok_or_else(|| Error::invalid("matmul", "missing operand input"))?;
            let mut space = batch.to_vec();
            space.extend([rows, cols]);
            let mut strides = bs.clone();
            strides.extend([*row, *col]);
            if space.iter().all(|&d| d > 0) {
                let (lo, hi) = affine_range(&space, *offset, &strides);
                if lo < 0 || hi >= data.len() as i64 {
                    return Err(Error::invalid(
                        "matmul",
                        "operand view reaches outside its buffer",
                    ));
                }
            }
            Ok(View {
                data,
                offset: *offset,
                batch: bs.clone(),
                row: *row,
                col: *col,
            })
        }
        Operand::Expr {
            expr: e,
            rows: rd,
            cols: cd,
        } => {
            if rd.iter().product::<usize>() != rows || cd.iter().product::<usize>() != cols {
                return Err(Error::invalid(
                    "matmul",
                    "operand digits do not multiply to its size",
                ));
            }
            // Rows then columns in row-major digit order is the [rows, cols] layout.
            let mut space = batch.to_vec();
            space.extend(rd);
            space.extend(cd);
            let total: usize = space.iter().product();
            owned.resize(total, 0);
            let prep = Prepared::new(e, &space, ins)?;
            owned
                .par_chunks_mut(BLOCK * 16)
                .enumerate()
                .for_each(|(c, chunk)| {
                    let mut ev = Eval::new(&prep);
                    let mut t = 0;
                    while t < chunk.len() {
                        let n = BLOCK.min(chunk.len() - t);
                        ev.run(c * BLOCK * 16 + t, n, None);
                        ev.write_output(0, &mut chunk[t..t + n]);
                        t += n;
                    }
                });
            let per_batch = (rows * cols) as i64;
            let bs = crate::shape::strides(batch);
            Ok(View {
                data: owned,
                offset: 0,
                batch: bs.iter().map(|&s| s as i64 * per_batch).collect(),
                row: cols as i64,
                col: 1,
            })
        }
    }
}

/// Writes the product into `out` and, when the kernel asks for them, the column sums of `b`
/// into `sums`.
pub(crate) fn run(
    k: &MatmulKernel,
    ins: &[&[u32]],
    out: &mut [u32],
    sums: Option<&mut [u32]>,
) -> Result<()> {
    let nbatch: usize = k.batch.iter().product();
    let (m, n, kk) = (k.m, k.n, k.k);
    let total = nbatch * m * n;
    check_len("matmul", out.len(), total)?;
    if nbatch * n == 0 {
        return Ok(());
    }
    let (mut own_a, mut own_b) = (Vec::new(), Vec::new());
    let a = view(&k.a, ins, &k.batch, m, kk, &mut own_a)?;
    let b = view(&k.b, ins, &k.batch, kk, n, &mut own_b)?;
    let mut prod = if k.epilogue.is_some() {
        take_scratch(total)
    } else {
        Vec::new()
    };
    let dst: &mut [u32] = if k.epilogue.is_some() {
        &mut prod[..total]
    } else {
        &mut out[..total]
    };
    let bstrides = crate::shape::strides(&k.batch);
    let offset_of = |v: &View, bi: usize| -> i64 {
        v.offset
            + (0..k.batch.len())
                .map(|d| ((bi / bstrides[d]) % k.batch[d]) as i64 * v.batch[d])
                .sum::<i64>()
    };
    let threads = rayon::current_num_threads();
    let gemm_one = |bi: usize, c: &mut [u32], par: gemm::Parallelism| {
        if kk == 0 {
            c.fill(0);
            return;
        }
        let (ao, bo) = (offset_of(&a, bi), offset_of(&b, bi));
        let af: &[f32] = bytemuck::cast_slice(a.data);
        let bf: &[f32] = bytemuck::cast_slice(b.data);
        let cf: &mut [f32] = bytemuck::cast_slice_mut(c);
        // SAFETY: every index the views reach was checked against the buffers above, and
        // `c` holds exactly m * n elements written with row stride n.
        unsafe {
            gemm::gemm(
                m,
                n,
                kk,
                cf.as_mut_ptr(),
                1,
                n as isize,
                false,
                af.as_ptr().offset(ao as isize),
                a.col as isize,
                a.row as isize,
                bf.as_ptr().offset(bo as isize),
                b.col as isize,
                b.row as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                par,
            )
        }
    };
    let flops = 2 * m * n * kk;
    if total == 0 {
        // Nothing to multiply (m is 0); column sums may still be asked for.
    } else if nbatch >= threads && nbatch > 1 {
        dst.par_chunks_mut(m * n)
            .enumerate()
            .for_each(|(bi, c)| gemm_one(bi, c, gemm::Parallelism::None));
    } else {
        let par = if flops >= 1 << 16 {
            gemm::Parallelism::Rayon(threads)
        } else {
            gemm::Parallelism::None
        };
        for (bi, c) in dst.chunks_mut(m * n).enumerate() {
            gemm_one(bi, c, par);
        }
    }
    if let Some(e) = &k.epilogue {
        let mut space = k.batch.clone();
        space.extend([m, n]);
        // Over the threads like a map: a traced step's optimizer update runs here.
        apply_epilogue(e, &space, ins, &prod, &mut out[..total])?;
        give_back_scratch(prod);
    }
    if let Some(cs) = &k.column_sums {
        let sums = sums.ok_or_else(|| {
            Error::invalid("matmul", "a matmul with column sums needs a second output")
        })?;
        check_len("matmul", sums.len(), nbatch * n)?;
        let bf: &[f32] = bytemuck::cast_slice(b.data);
        let mut acc = vec![0f32; nbatch * n];
        // Row by row, so a row-major operand is read in order.
        acc.par_chunks_mut(n.max(1))
            .enumerate()
            .for_each(|(bi, row)| {
                let bo = offset_of(&b, bi);
                for r in 0..kk as i64 {
                    let base = bo + r * b.row;
                    for (c, s) in row.iter_mut().enumerate() {
                        *s += bf[(base + c as i64 * b.col) as usize];
                    }
                }
            });
        let acc: &[u32] = bytemuck::cast_slice(&acc);
        match &cs.epilogue {
            None => sums[..nbatch * n].copy_from_slice(acc),
            Some(e) => {
                let mut space = k.batch.clone();
                space.push(n);
                apply_epilogue(e, &space, ins, acc, &mut sums[..nbatch * n])?;
            }
        }
    }
    Ok(())
}

/// `out[i] = e(i)` over `space`, `Acc` reading `acc`, split over the threads when large.
fn apply_epilogue(
    e: &crate::kernel::ir::Expr,
    space: &[usize],
    ins: &[&[u32]],
    acc: &[u32],
    out: &mut [u32],
) -> Result<()> {
    let prep = Prepared::new(e, space, ins)?;
    let work = |start: usize, o: &mut [u32]| {
        let mut ev = Eval::new(&prep);
        let mut t = 0;
        while t < o.len() {
            let len = BLOCK.min(o.len() - t);
            ev.run_into(start + t, len, Some(acc), &mut o[t..t + len]);
            t += len;
        }
    };
    if out.len() < super::PARALLEL_MIN {
        work(0, out);
    } else {
        let chunk = super::chunk_len(out.len());
        out.par_chunks_mut(chunk)
            .enumerate()
            .for_each(|(c, o)| work(c * chunk, o));
    }
    Ok(())
}

thread_local! {
    /// The product buffer of matmuls with an epilogue, kept between calls: a traced step
    /// runs several such matmuls every replay, and a fresh zeroed buffer each time costs a
    /// memset of the whole product.
    static SCRATCH: std::cell::RefCell<Vec<u32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// This thread's scratch buffer, at least `len` words long (contents unspecified).
fn take_scratch(len: usize) -> Vec<u32> {
    let mut v = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
    if v.len() < len {
        v.resize(len, 0);
    }
    v
}

fn give_back_scratch(v: Vec<u32>) {
    SCRATCH.with(|s| *s.borrow_mut() = v);
}
