//! Matmul on the CPU through the `gemm` crate (packed, cache-blocked, runtime-dispatched
//! SIMD micro-kernels, rayon threads). Expression operands (convolutions as implicit GEMM)
//! are materialised first, im2col style.

use super::check_len;
use super::eval::{BLOCK, Eval, Prepared, affine_range, copy_run};
use crate::error::{Error, Result};
use crate::kernel::ir::{MatmulKernel, Operand, Patches};
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
        Operand::Patches(p) => {
            let data = *ins
                .get(p.input as usize)
                .ok_or_else(|| Error::invalid("matmul", "missing operand input"))?;
            let (rd, cd) = p.digits();
            let (prows, pcols) = (rd.iter().product::<usize>(), cd.iter().product::<usize>());
            let (want_rows, want_cols) = if p.transposed {
                (pcols, prows)
            } else {
                (prows, pcols)
            };
            if !batch.is_empty() || (rows, cols) != (want_rows, want_cols) {
                return Err(Error::invalid(
                    "matmul",
                    "patch operand does not match the matmul's size",
                ));
            }
            check_len("conv2d patches", data.len(), p.source.iter().product())?;
            *owned = take_scratch(prows * pcols);
            im2col(p, data, 0, &mut owned[..prows * pcols]);
            // A transposed patch matrix is the same copy read down its columns.
            let (row, col) = if p.transposed {
                (1, pcols as i64)
            } else {
                (pcols as i64, 1)
            };
            Ok(View {
                data: owned,
                offset: 0,
                batch: vec![],
                row,
                col,
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
            *owned = take_scratch(total);
            let prep = Prepared::new(e, &space, ins)?;
            owned[..total]
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

/// Copies rows of the patch matrix `[(n, o0, o1), (k0, k1, c)]` of `src` into `out`, from
/// the rows of image row `first` (a row of `(n, o0)`) on: each window position is a run of
/// `c` contiguous channels, or zeros where the patch reads nothing.
fn im2col(p: &Patches, src: &[u32], first: usize, out: &mut [u32]) {
    let [_, h, w, c] = p.source;
    let [g0, g1] = p.grid;
    let [k0, k1] = p.window;
    let cols = k0 * k1 * c;
    if cols == 0 || out.is_empty() {
        return;
    }
    // Source rows and columns of every (position, window offset), computed once.
    let axis = |d: usize, g: usize, k: usize| -> Vec<Option<usize>> {
        (0..g * k)
            .map(|i| p.source_index(d, i / k, i % k))
            .collect()
    };
    let (ys, xs) = (axis(0, g0, k0), axis(1, g1, k1));
    // Where a window row's columns are all inside and adjacent (stride-1 reads), its
    // `k1 * c` values are one contiguous run of the source row.
    let adjacent: Vec<Option<usize>> = (0..g1)
        .map(|o1| {
            let row = &xs[o1 * k1..(o1 + 1) * k1];
            let x0 = row[0]?;
            row.iter()
                .enumerate()
                .all(|(b, x)| *x == Some(x0 + b))
                .then_some(x0)
        })
        .collect();
    let run = k1 * c;
    // One task per (n, o0): a row of g1 patches.
    out.par_chunks_mut(g1 * cols)
        .enumerate()
        .for_each(|(r, chunk)| {
            let r = first + r;
            let (n, o0) = (r / g0, r % g0);
            for (o1, patch) in chunk.chunks_mut(cols).enumerate() {
                for (a, row) in patch.chunks_mut(run).enumerate() {
                    let Some(y) = ys[o0 * k0 + a] else {
                        row.fill(0);
                        continue;
                    };
                    let base = (n * h + y) * w;
                    if let Some(x0) = adjacent[o1] {
                        let at = (base + x0) * c;
                        copy_run(row, &src[at..at + run]);
                        continue;
                    }
                    for (dst, x) in row.chunks_mut(c).zip(&xs[o1 * k1..(o1 + 1) * k1]) {
                        match x {
                            Some(x) => {
                                let at = (base + x) * c;
                                copy_run(dst, &src[at..at + c]);
                            }
                            None => dst.fill(0),
                        }
                    }
                }
            }
        });
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
    let blocked = patch_blocking(k, ins)?;
    let a = match blocked {
        Some(_) => None,
        None => Some(view(&k.a, ins, &k.batch, m, kk, &mut own_a)?),
    };
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
    // The product of batch `bi` over reduction indices `k0..k1` into `c`.
    let gemm_part = |bi: usize, k0: usize, k1: usize, c: &mut [u32], par: gemm::Parallelism| {
        if k1 == k0 {
            c.fill(0);
            return;
        }
        let a = a.as_ref().expect("a patch matrix in blocks has no view");
        let ao = offset_of(a, bi) + k0 as i64 * a.col;
        let bo = offset_of(&b, bi) + k0 as i64 * b.row;
        // SAFETY: every index the views reach was checked against the buffers above, and
        // `c` holds exactly m * n elements.
        unsafe {
            gemm_into(
                c,
                (m, n, k1 - k0),
                (a.data, ao, a.row, a.col),
                (b.data, bo, b.row, b.col),
                par,
            )
        }
    };
    let gemm_one = |bi: usize, c: &mut [u32], par| gemm_part(bi, 0, kk, c, par);
    let flops = 2 * m * n * kk;
    if total == 0 {
        // Nothing to multiply (m is 0); column sums may still be asked for.
    } else if let Some((p, src, per)) = blocked {
        patch_blocks(p, src, &b, (n, kk), per, dst);
    } else if nbatch >= threads && nbatch > 1 {
        dst.par_chunks_mut(m * n)
            .enumerate()
            .for_each(|(bi, c)| gemm_one(bi, c, gemm::Parallelism::None));
    } else if nbatch == 1
        && threads > 1
        && m * n <= SPLIT_K_MAX_OUTPUTS
        && kk >= SPLIT_K_MIN * threads
    {
        // Few outputs and a long reduction (a small filter's gradient over a whole batch):
        // the packed GEMM would split the outputs, which are too few to share; each thread
        // multiplies a slice of the reduction instead, and the partial products add up.
        let ranges = split(kk, threads);
        let partial: Vec<Vec<u32>> = ranges
            .par_iter()
            .map(|&(k0, k1)| {
                let mut c = vec![0u32; m * n];
                gemm_part(0, k0, k1, &mut c, gemm::Parallelism::None);
                c
            })
            .collect();
        add_up(&partial, dst);
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
        // Rows k0..k1 of every batch summed, row by row so a row-major operand is read in
        // order; the rows are split over the threads and the partial sums added up.
        let sum_rows = |(k0, k1): (usize, usize)| -> Vec<u32> {
            let mut acc = vec![0f32; nbatch * n];
            for (bi, row) in acc.chunks_mut(n.max(1)).enumerate() {
                let bo = offset_of(&b, bi);
                for r in k0 as i64..k1 as i64 {
                    let base = bo + r * b.row;
                    if b.col == 1 {
                        let src = &bf[base as usize..base as usize + row.len()];
                        for (s, &x) in row.iter_mut().zip(src) {
                            *s += x;
                        }
                    } else {
                        for (c, s) in row.iter_mut().enumerate() {
                            *s += bf[(base + c as i64 * b.col) as usize];
                        }
                    }
                }
            }
            bytemuck::cast_vec(acc)
        };
        let parts = if nbatch * n * kk >= super::PARALLEL_MIN {
            threads
        } else {
            1
        };
        let partial: Vec<Vec<u32>> = split(kk, parts).into_par_iter().map(sum_rows).collect();
        let mut acc = vec![0u32; nbatch * n];
        add_up(&partial, &mut acc);
        match &cs.epilogue {
            None => sums[..nbatch * n].copy_from_slice(&acc),
            Some(e) => {
                let mut space = k.batch.clone();
                space.push(n);
                apply_epilogue(e, &space, ins, &acc, &mut sums[..nbatch * n])?;
            }
        }
    }
    drop((a, b));
    for v in [own_a, own_b] {
        if !v.is_empty() {
            give_back_scratch(v);
        }
    }
    Ok(())
}

/// A strided matrix for [`gemm_into`]: its words, the offset of element (0, 0), and its
/// row and column strides.
type Strided<'a> = (&'a [u32], i64, i64, i64);

/// `c = a · b` for `m × k` and `k × n` f32 matrices, `c` row-major (row stride `n`), with
/// the packed GEMM.
///
/// # Safety
/// Every element the strided matrices reach lies inside their buffers, and `c` holds at
/// least `m · n` words.
unsafe fn gemm_into(
    c: &mut [u32],
    (m, n, k): (usize, usize, usize),
    a: Strided,
    b: Strided,
    par: gemm::Parallelism,
) {
    let cf: &mut [f32] = bytemuck::cast_slice_mut(c);
    let (af, bf): (&[f32], &[f32]) = (bytemuck::cast_slice(a.0), bytemuck::cast_slice(b.0));
    // SAFETY: the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            cf.as_mut_ptr(),
            1,
            n as isize,
            false,
            af.as_ptr().offset(a.1 as isize),
            a.3 as isize,
            a.2 as isize,
            bf.as_ptr().offset(b.1 as isize),
            b.3 as isize,
            b.2 as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

/// Floats of patches per block of [`patch_blocks`] (512 KiB: in L2 beside the packed
/// panels).
const PATCH_BLOCK: usize = 128 * 1024;

/// For a product of a (not transposed) patch matrix big enough for two blocks or more:
/// the patches, their source and the image rows per block.
fn patch_blocking<'a>(
    k: &'a MatmulKernel,
    ins: &[&'a [u32]],
) -> Result<Option<(&'a Patches, &'a [u32], usize)>> {
    let Operand::Patches(p) = &k.a else {
        return Ok(None);
    };
    if p.transposed || !k.batch.is_empty() || k.k == 0 {
        return Ok(None);
    }
    let (rd, cd) = p.digits();
    if (k.m, k.k) != (rd.iter().product(), cd.iter().product()) {
        return Err(Error::invalid(
            "matmul",
            "patch operand does not match the matmul's size",
        ));
    }
    let src = *ins
        .get(p.input as usize)
        .ok_or_else(|| Error::invalid("matmul", "missing operand input"))?;
    check_len("conv2d patches", src.len(), p.source.iter().product())?;
    let g1 = p.grid[1].max(1);
    let per = (PATCH_BLOCK / (g1 * k.k)).max(1);
    let image_rows = k.m / g1;
    Ok((image_rows >= 2 * per).then_some((p, src, per)))
}

/// `dst = patches · b` a block of `per` image rows at a time: each thread copies a block of
/// patches, which stays in cache, and multiplies it, where materialising the whole patch
/// matrix first (25 MB for W4's input gradient) sends it through memory twice.
fn patch_blocks(
    p: &Patches,
    src: &[u32],
    b: &View,
    (n, kk): (usize, usize),
    per: usize,
    dst: &mut [u32],
) {
    let rows = per * p.grid[1];
    dst.par_chunks_mut(rows * n)
        .enumerate()
        .for_each(|(ci, c)| {
            let block_rows = c.len() / n;
            let mut buf = take_scratch(block_rows * kk);
            let patches = &mut buf[..block_rows * kk];
            im2col(p, src, ci * per, patches);
            // SAFETY: `patches` holds block_rows × kk values (row stride kk), `b`'s reach
            // was checked against its buffer, and `c` holds block_rows × n.
            unsafe {
                gemm_into(
                    c,
                    (block_rows, n, kk),
                    (patches, 0, kk as i64, 1),
                    (b.data, b.offset, b.row, b.col),
                    gemm::Parallelism::None,
                )
            }
            give_back_scratch(buf);
        });
}

/// Matmuls with at most this many outputs may split their reduction over the threads.
const SPLIT_K_MAX_OUTPUTS: usize = 128 * 256;
/// The shortest reduction slice worth a thread of its own.
const SPLIT_K_MIN: usize = 2048;

/// `0..len` in `parts` nearly equal ranges (fewer when `len` is short; one when empty).
fn split(len: usize, parts: usize) -> Vec<(usize, usize)> {
    let step = len.div_ceil(parts.max(1)).max(1);
    let mut r: Vec<(usize, usize)> = (0..len)
        .step_by(step)
        .map(|s| (s, (s + step).min(len)))
        .collect();
    if r.is_empty() {
        r.push((0, 0));
    }
    r
}

/// `dst = sum of partial` elementwise, in f32.
fn add_up(partial: &[Vec<u32>], dst: &mut [u32]) {
    let dst: &mut [f32] = bytemuck::cast_slice_mut(dst);
    dst.fill(0.0);
    for p in partial {
        for (d, &x) in dst.iter_mut().zip(bytemuck::cast_slice::<u32, f32>(p)) {
            *d += x;
        }
    }
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
    /// Buffers of materialised operands and of products awaiting an epilogue, kept between
    /// calls: a traced step runs several such matmuls every replay, and fresh zeroed
    /// buffers each time cost a page-faulting memset of each.
    static SCRATCH: std::cell::RefCell<Vec<Vec<u32>>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The most buffers kept per thread (two operands and a product).
const SCRATCH_KEPT: usize = 3;

/// A scratch buffer of this thread, at least `len` words long (contents unspecified).
fn take_scratch(len: usize) -> Vec<u32> {
    let mut v = SCRATCH.with(|s| {
        let mut pool = s.borrow_mut();
        // The smallest kept buffer that is large enough, else the largest.
        let fit = (0..pool.len())
            .filter(|&i| pool[i].len() >= len)
            .min_by_key(|&i| pool[i].len())
            .or_else(|| (0..pool.len()).max_by_key(|&i| pool[i].len()));
        fit.map(|i| pool.swap_remove(i)).unwrap_or_default()
    });
    if v.len() < len {
        v.resize(len, 0);
    }
    v
}

fn give_back_scratch(v: Vec<u32>) {
    SCRATCH.with(|s| {
        let mut pool = s.borrow_mut();
        pool.push(v);
        if pool.len() > SCRATCH_KEPT {
            // Drop the smallest.
            let i = (0..pool.len())
                .min_by_key(|&i| pool[i].len())
                .expect("non-empty");
            pool.swap_remove(i);
        }
    });
}
