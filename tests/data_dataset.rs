//! `data::Dataset`: every transformation against a plain reference computed here on
//! random small datasets, plus shuffle's properties, parallel map, error items,
//! cardinalities and batches on wgpu.

mod common;

use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use wgflow::data::{AUTOTUNE, Cardinality, Dataset};
use wgflow::{DType, Device, Error, Result, Scalar, Tensor};

fn cpu() -> Device {
    Device::cpu()
}

/// A dataset of int32 scalars with these values.
fn ints(v: &[i32]) -> Dataset<Tensor> {
    let t = Tensor::from_slice_on(v, [v.len()], &cpu()).unwrap();
    Dataset::from_tensor_slices(t).unwrap()
}

fn scalar(v: i32) -> Tensor {
    Tensor::from_slice_on(&[v], [], &cpu()).unwrap()
}

/// Every element's values (each element flattened), failing on any error item.
fn values(ds: &Dataset<Tensor>) -> Vec<Vec<i32>> {
    ds.iter_on(&cpu())
        .unwrap()
        .map(|x| x.unwrap().to_vec::<i32>().unwrap())
        .collect()
}

/// The values of a dataset of scalars.
fn flat(ds: &Dataset<Tensor>) -> Vec<i32> {
    values(ds).into_iter().flatten().collect()
}

fn small_vec() -> impl Strategy<Value = Vec<i32>> {
    prop::collection::vec(-1000i32..1000, 0..24)
}

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(48)
}

#[test]
fn from_tensor_slices_of_tuples_and_maps() {
    let x = Tensor::from_slice_on(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2], &cpu()).unwrap();
    let y = Tensor::from_slice_on(&[7i32, 8, 9], [3], &cpu()).unwrap();
    let ds = Dataset::from_tensor_slices((x.clone(), y.clone())).unwrap();
    assert_eq!(ds.cardinality(), Cardinality::Finite(3));
    let mut rows = Vec::new();
    for item in ds.iter_on(&cpu()).unwrap() {
        let (a, b) = item.unwrap();
        assert_eq!(a.shape(), &[2]);
        assert_eq!(b.shape(), &[] as &[usize]);
        rows.push((a.to_vec::<f32>().unwrap(), b.to_scalar::<i32>().unwrap()));
    }
    assert_eq!(
        rows,
        vec![
            (vec![1.0, 2.0], 7),
            (vec![3.0, 4.0], 8),
            (vec![5.0, 6.0], 9)
        ]
    );

    let map: BTreeMap<String, Tensor> = [("image".to_string(), x), ("label".to_string(), y)]
        .into_iter()
        .collect();
    let ds = Dataset::from_tensor_slices(map).unwrap();
    let last = ds.iter_on(&cpu()).unwrap().last().unwrap().unwrap();
    assert_eq!(last["label"].to_scalar::<i32>().unwrap(), 9);
    assert_eq!(last["image"].to_vec::<f32>().unwrap(), vec![5.0, 6.0]);

    // An explicit `next`, and the end of the stream.
    let mut it = ints(&[4]).iter_on(&cpu()).unwrap();
    assert_eq!(it.next().unwrap().unwrap().to_scalar::<i32>().unwrap(), 4);
    assert!(it.next().is_none());
}

#[test]
fn from_tensor_slices_rejects_bad_input() {
    let a = Tensor::from_slice_on(&[1i32, 2, 3], [3], &cpu()).unwrap();
    let b = Tensor::from_slice_on(&[1i32, 2], [2], &cpu()).unwrap();
    let e = Dataset::from_tensor_slices((a, b)).unwrap_err();
    assert!(matches!(e, Error::Shape { .. }), "{e}");
    assert!(e.to_string().contains("Dataset.from_tensor_slices"), "{e}");
    assert!(
        e.to_string().contains("3") && e.to_string().contains("2"),
        "{e}"
    );
    let e = Dataset::from_tensor_slices(scalar(1)).unwrap_err();
    assert!(e.to_string().contains("scalar"), "{e}");
    // An empty first axis is an empty dataset.
    let empty = Tensor::from_slice_on::<f32>(&[], [0, 3], &cpu()).unwrap();
    assert_eq!(
        values(&Dataset::from_tensor_slices(empty).unwrap()).len(),
        0
    );
}

#[test]
fn from_tensors_and_generator() {
    let t = Tensor::from_slice_on(&[1i32, 2], [2], &cpu()).unwrap();
    let ds = Dataset::from_tensors(t);
    assert_eq!(ds.cardinality(), Cardinality::Finite(1));
    assert_eq!(values(&ds), vec![vec![1, 2]]);

    let ds = Dataset::from_generator(|| {
        (0..5).map(|i| {
            if i == 2 {
                Err(Error::InvalidArgument {
                    op: "gen".into(),
                    msg: "bad record".into(),
                })
            } else {
                Tensor::from_slice_on(&[i], [], &Device::cpu())
            }
        })
    });
    assert_eq!(ds.cardinality(), Cardinality::Unknown);
    for _pass in 0..2 {
        let items: Vec<Result<Tensor>> = ds.iter_on(&cpu()).unwrap().collect();
        assert_eq!(items.len(), 5);
        assert!(items[2].as_ref().is_err());
        let ok: Vec<i32> = items
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|t| t.to_scalar::<i32>().unwrap())
            .collect();
        assert_eq!(ok, vec![0, 1, 3, 4]);
    }
}

#[test]
fn range_errors() {
    assert!(Dataset::range(0, 5, 0).is_err());
    let e = Dataset::range(0, 1 << 40, 1).unwrap_err();
    assert!(e.to_string().contains("Dataset.range"), "{e}");
    assert_eq!(flat(&Dataset::range(5, 0, 1).unwrap()), Vec::<i32>::new());
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn range_matches_reference(start in -20i64..20, stop in -20i64..20, step in prop_oneof![-5i64..0, 1i64..6]) {
        let ds = Dataset::range(start, stop, step).unwrap();
        let mut reference = Vec::new();
        let mut v = start;
        while (step > 0 && v < stop) || (step < 0 && v > stop) {
            reference.push(v as i32);
            v += step;
        }
        prop_assert_eq!(ds.cardinality(), Cardinality::Finite(reference.len() as u64));
        prop_assert_eq!(flat(&ds), reference);
    }

    #[test]
    fn map_and_filter_match_reference(v in small_vec(), k in 1i32..5) {
        let ds = ints(&v).map(move |x| &x * k as f32).filter(|x| Ok(x.to_scalar::<i32>()? % 3 != 0));
        let reference: Vec<i32> = v.iter().map(|x| x * k).filter(|x| x % 3 != 0).collect();
        prop_assert_eq!(flat(&ds), reference);
    }

    #[test]
    fn batch_matches_reference(v in small_vec(), size in 1usize..7, drop in any::<bool>()) {
        let ds = ints(&v).batch(size, drop).unwrap();
        let reference: Vec<Vec<i32>> = v
            .chunks(size)
            .filter(|c| !drop || c.len() == size)
            .map(|c| c.to_vec())
            .collect();
        prop_assert_eq!(ds.cardinality(), Cardinality::Finite(reference.len() as u64));
        let got: Vec<Tensor> = ds.iter_on(&cpu()).unwrap().map(|b| b.unwrap()).collect();
        for (b, r) in got.iter().zip(&reference) {
            prop_assert_eq!(b.shape(), &[r.len()]);
        }
        prop_assert_eq!(flat(&ds.clone().unbatch()), reference.concat());
        prop_assert_eq!(values(&ds), reference);
    }

    #[test]
    fn batch_of_tuples_keeps_structure(n in 0usize..12, size in 1usize..5) {
        let x: Vec<f32> = (0..n * 2).map(|i| i as f32).collect();
        let y: Vec<i32> = (0..n as i32).collect();
        let ds = Dataset::from_tensor_slices((
            Tensor::from_slice_on(&x, [n, 2], &cpu()).unwrap(),
            Tensor::from_slice_on(&y, [n], &cpu()).unwrap(),
        )).unwrap().batch(size, false).unwrap();
        let mut start = 0;
        for b in ds.iter_on(&cpu()).unwrap() {
            let (bx, by) = b.unwrap();
            let m = (n - start).min(size);
            prop_assert_eq!(bx.shape(), &[m, 2]);
            prop_assert_eq!(bx.to_vec::<f32>().unwrap(), x[start * 2..(start + m) * 2].to_vec());
            prop_assert_eq!(by.to_vec::<i32>().unwrap(), y[start..start + m].to_vec());
            start += m;
        }
        prop_assert_eq!(start, n);
    }

    #[test]
    fn repeat_take_skip_match_reference(
        v in prop::collection::vec(-50i32..50, 0..8),
        count in prop::option::of(0u64..4),
        take in -1i64..30,
        skip in -1i64..12,
    ) {
        let ds = ints(&v).repeat(count).skip(skip).take(take);
        let repeated: Vec<i32> = match count {
            Some(k) => (0..k).flat_map(|_| v.clone()).collect(),
            // Enough of the endless stream for any take below 30 after a skip below 12.
            None => std::iter::repeat_n(v.clone(), 50).flatten().collect(),
        };
        let skipped: Vec<i32> = if skip < 0 { vec![] } else { repeated.into_iter().skip(skip as usize).collect() };
        let reference: Vec<i32> = if take < 0 { skipped } else { skipped.into_iter().take(take as usize).collect() };
        // An endless repeat with nothing taken back (take -1) never ends: skip that case.
        if count.is_some() || take >= 0 || v.is_empty() || skip < 0 {
            prop_assert_eq!(flat(&ds), reference.clone());
        }
        let expected = match (count, v.is_empty()) {
            (None, false) if take < 0 && skip >= 0 => Cardinality::Infinite,
            _ => Cardinality::Finite(reference.len() as u64),
        };
        prop_assert_eq!(ds.cardinality(), expected);
    }

    #[test]
    fn zip_concatenate_enumerate_match_reference(a in small_vec(), b in small_vec(), start in -5i64..5) {
        let zipped = ints(&a).zip(ints(&b));
        prop_assert_eq!(zipped.cardinality(), Cardinality::Finite(a.len().min(b.len()) as u64));
        let got: Vec<(i32, i32)> = zipped.iter_on(&cpu()).unwrap().map(|p| {
            let (x, y) = p.unwrap();
            (x.to_scalar::<i32>().unwrap(), y.to_scalar::<i32>().unwrap())
        }).collect();
        let reference: Vec<(i32, i32)> = a.iter().copied().zip(b.iter().copied()).collect();
        prop_assert_eq!(got, reference);

        // zip with an endless dataset is as long as the finite one.
        let z = ints(&a).zip(ints(&[1]).repeat(None));
        prop_assert_eq!(z.cardinality(), Cardinality::Finite(a.len() as u64));
        prop_assert_eq!(z.iter_on(&cpu()).unwrap().count(), a.len());

        let cat = ints(&a).concatenate(ints(&b));
        prop_assert_eq!(cat.cardinality(), Cardinality::Finite((a.len() + b.len()) as u64));
        prop_assert_eq!(flat(&cat), [a.clone(), b.clone()].concat());

        let got: Vec<(i32, i32)> = ints(&a).enumerate(start).iter_on(&cpu()).unwrap().map(|p| {
            let (i, x) = p.unwrap();
            assert_eq!(i.dtype(), DType::I32);
            (i.to_scalar::<i32>().unwrap(), x.to_scalar::<i32>().unwrap())
        }).collect();
        let reference: Vec<(i32, i32)> = a.iter().enumerate().map(|(i, &x)| (start as i32 + i as i32, x)).collect();
        prop_assert_eq!(got, reference);
    }

    #[test]
    fn shuffle_is_a_buffered_permutation(v in small_vec(), size in 1usize..10, seed in any::<u64>()) {
        // Shuffle the positions so the output says where each element came from.
        let idx: Vec<i32> = (0..v.len() as i32).collect();
        let ds = ints(&idx).shuffle(size, Some(seed), true).unwrap();
        let out = flat(&ds);
        let mut sorted = out.clone();
        sorted.sort();
        prop_assert_eq!(&sorted, &idx);
        // Through a buffer of `size`, output k can only be one of the first k + size inputs.
        for (k, &i) in out.iter().enumerate() {
            prop_assert!((i as usize) < k + size, "output {} is input {} with buffer {}", k, i, size);
        }
        // The same seed gives the same order.
        prop_assert_eq!(flat(&ints(&idx).shuffle(size, Some(seed), true).unwrap()), out);
        // A buffer of one is the identity.
        prop_assert_eq!(flat(&ints(&v).shuffle(1, Some(seed), true).unwrap()), v);
    }

    #[test]
    fn parallel_map_equals_sequential(v in small_vec(), workers in 1usize..6) {
        let f = |x: Tensor| -> Result<Tensor> {
            let k = x.to_scalar::<i32>()?;
            if k % 7 == 0 {
                return Err(Error::InvalidArgument { op: "f".into(), msg: format!("multiple of 7: {k}") });
            }
            Tensor::from_slice(&[k * 3 + 1, k], [2])
        };
        let show = |ds: Dataset<Tensor>| -> Vec<std::result::Result<Vec<i32>, String>> {
            ds.iter_on(&cpu()).unwrap().map(|r| r.map(|t| t.to_vec::<i32>().unwrap()).map_err(|e| e.to_string())).collect()
        };
        let seq = show(ints(&v).map(f));
        prop_assert_eq!(&show(ints(&v).map_parallel(f, workers)), &seq);
        prop_assert_eq!(&show(ints(&v).map_parallel(f, AUTOTUNE).prefetch(2)), &seq);
        let mut unordered = show(ints(&v).map_parallel_unordered(f, workers));
        let mut sorted = seq.clone();
        unordered.sort();
        sorted.sort();
        prop_assert_eq!(unordered, sorted);
    }

    #[test]
    fn padded_batch_matches_reference(lens in prop::collection::vec(0usize..5, 0..10), size in 1usize..4) {
        let lens2 = lens.clone();
        let ds = Dataset::from_generator(move || {
            let lens = lens2.clone();
            lens.into_iter().enumerate().map(|(i, n)| {
                let v: Vec<i32> = (0..n as i32).map(|j| 10 * i as i32 + j + 1).collect();
                Tensor::from_slice(&v, [n])
            })
        });
        let got: Vec<(Vec<usize>, Vec<i32>)> = ds.padded_batch(size, false).unwrap().iter_on(&cpu()).unwrap()
            .map(|b| { let b = b.unwrap(); (b.shape().to_vec(), b.to_vec::<i32>().unwrap()) }).collect();
        let mut reference = Vec::new();
        for (c, chunk) in lens.chunks(size).enumerate() {
            let width = *chunk.iter().max().unwrap();
            let mut vals = Vec::new();
            for (j, &n) in chunk.iter().enumerate() {
                let i = c * size + j;
                for k in 0..width {
                    vals.push(if k < n { 10 * i as i32 + k as i32 + 1 } else { 0 });
                }
            }
            reference.push((vec![chunk.len(), width], vals));
        }
        prop_assert_eq!(got, reference);
    }

    #[test]
    fn interleave_matches_reference(lens in prop::collection::vec(0i32..5, 0..7), cycle in 1usize..4, block in 1usize..3) {
        // Input element i opens a dataset of `lens[i]` values 100 i, 100 i + 1, ...
        let l = lens.clone();
        let ds = ints(&(0..lens.len() as i32).collect::<Vec<_>>())
            .interleave(move |x| {
                let i = x.to_scalar::<i32>()?;
                Dataset::range(100 * i as i64, 100 * i as i64 + l[i as usize] as i64, 1)
            }, cycle, block).unwrap();
        // Reference (TensorFlow's order): `cycle` slots visited in turn; an empty slot takes
        // the next input and is read at once; a slot gives up to `block` values and is found
        // exhausted only when a read fails, which frees it and ends its turn.
        let mut inputs: std::collections::VecDeque<Vec<i32>> = lens.iter().enumerate()
            .map(|(i, &n)| (0..n).map(|j| 100 * i as i32 + j).collect()).collect();
        let mut slots: Vec<Option<std::collections::VecDeque<i32>>> = vec![None; cycle];
        let mut reference = Vec::new();
        let mut pos = 0;
        while !(inputs.is_empty() && slots.iter().all(Option::is_none)) {
            if slots[pos].is_none() && let Some(next) = inputs.pop_front() {
                slots[pos] = Some(next.into());
            }
            if let Some(s) = &mut slots[pos] {
                let mut got = 0;
                while got < block {
                    match s.pop_front() { Some(v) => { reference.push(v); got += 1; } None => break }
                }
                if got < block {
                    slots[pos] = None;
                }
            }
            pos = (pos + 1) % cycle;
        }
        prop_assert_eq!(flat(&ds), reference.clone());
        // Reading the open datasets on background threads keeps the order.
        for threads in [2usize, 8] {
            let l = lens.clone();
            let par = ints(&(0..lens.len() as i32).collect::<Vec<_>>())
                .interleave_parallel(move |x| {
                    let i = x.to_scalar::<i32>()?;
                    Dataset::range(100 * i as i64, 100 * i as i64 + l[i as usize] as i64, 1)
                }, cycle, block, threads).unwrap();
            prop_assert_eq!(flat(&par), reference.clone());
        }
    }
}

/// Parallel interleave: an error inside one inner dataset comes out at its place and the
/// others go on; stopping early (take) does not wait for the background readers.
#[test]
fn parallel_interleave_errors_and_early_stop() {
    let make = |threads: usize| {
        ints(&[0, 1, 2, 3])
            .interleave_parallel(
                |x| {
                    let i = x.to_scalar::<i32>()?;
                    let ds = Dataset::range(10 * i as i64, 10 * i as i64 + 3, 1)?;
                    Ok(ds.map(move |v| {
                        if i == 2 && v.to_scalar::<i32>()? == 21 {
                            return Err(wgflow::Error::InvalidArgument {
                                op: "test".into(),
                                msg: "bad value 21".into(),
                            });
                        }
                        Ok(v)
                    }))
                },
                2,
                1,
                threads,
            )
            .unwrap()
    };
    let collect = |ds: &Dataset<Tensor>| -> Vec<std::result::Result<i32, String>> {
        ds.iter_on(&cpu())
            .unwrap()
            .map(|r| {
                r.map(|t| t.to_scalar::<i32>().unwrap())
                    .map_err(|e| e.to_string())
            })
            .collect()
    };
    let sequential = collect(&make(1));
    let parallel = collect(&make(AUTOTUNE_THREADS));
    assert_eq!(sequential, parallel);
    assert_eq!(sequential.iter().filter(|r| r.is_err()).count(), 1);
    assert!(format!("{sequential:?}").contains("bad value 21"));
    let first: Vec<i32> = make(4)
        .take(3)
        .iter_on(&cpu())
        .unwrap()
        .map(|r| r.unwrap().to_scalar::<i32>().unwrap())
        .collect();
    assert_eq!(first, vec![0, 10, 1]);
}

const AUTOTUNE_THREADS: usize = 4;

#[test]
fn shuffle_epochs() {
    let idx: Vec<i32> = (0..30).collect();
    let ds = ints(&idx)
        .shuffle(30, Some(7), true)
        .unwrap()
        .repeat(Some(2));
    let out = flat(&ds);
    assert_ne!(out[..30], out[30..], "each epoch reshuffles");
    // A new pipeline with the same seed repeats the orders; a second pass over the same
    // dataset reshuffles (TensorFlow's seed generator is per dataset).
    let again = ints(&idx)
        .shuffle(30, Some(7), true)
        .unwrap()
        .repeat(Some(2));
    assert_eq!(flat(&again), out, "a seeded pipeline is reproducible");
    assert_ne!(flat(&again)[..30], out[..30]);
    let ds = ints(&idx)
        .shuffle(30, Some(7), false)
        .unwrap()
        .repeat(Some(2));
    let out = flat(&ds);
    assert_eq!(
        out[..30],
        out[30..],
        "without reshuffling every epoch has one order"
    );
    assert_ne!(out[..30], idx[..]);
    assert!(ints(&idx).shuffle(0, None, true).is_err());
    // Unseeded shuffles differ between datasets.
    let a = flat(&ints(&idx).shuffle(30, None, true).unwrap());
    let b = flat(&ints(&idx).shuffle(30, None, true).unwrap());
    assert_ne!(a, b);
}

#[test]
fn map_errors_carry_the_index_and_stop_nothing() {
    let v: Vec<i32> = (0..10).collect();
    let f = |x: Tensor| -> Result<Tensor> {
        // A shape error from a real op on element 4.
        if x.to_scalar::<i32>()? == 4 {
            wgflow::ops::reshape(&x, &[3])
        } else {
            Ok(x)
        }
    };
    for ds in [
        ints(&v).map(f),
        ints(&v).map_parallel(f, 3).prefetch(AUTOTUNE),
    ] {
        let items: Vec<Result<Tensor>> = ds.iter_on(&cpu()).unwrap().collect();
        assert_eq!(items.len(), 10);
        let e = items[4].as_ref().unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
        let msg = e.to_string();
        assert!(msg.starts_with("Dataset.map: element 4: reshape"), "{msg}");
        let rest: Vec<i32> = items[5..]
            .iter()
            .map(|r| r.as_ref().unwrap().to_scalar::<i32>().unwrap())
            .collect();
        assert_eq!(rest, vec![5, 6, 7, 8, 9]);
    }
    // A filter error too, and an error inside a batch stops only that element.
    let items: Vec<Result<Tensor>> = ints(&v)
        .filter(|x| {
            if x.to_scalar::<i32>()? == 2 {
                Err(Error::InvalidArgument {
                    op: "p".into(),
                    msg: "no".into(),
                })
            } else {
                Ok(true)
            }
        })
        .batch(4, false)
        .unwrap()
        .iter_on(&cpu())
        .unwrap()
        .collect();
    assert!(
        items[0]
            .as_ref()
            .unwrap_err()
            .to_string()
            .contains("Dataset.filter: element 2")
    );
    let batches: Vec<Vec<i32>> = items[1..]
        .iter()
        .map(|b| b.as_ref().unwrap().to_vec::<i32>().unwrap())
        .collect();
    assert_eq!(batches, vec![vec![0, 1, 3, 4], vec![5, 6, 7, 8], vec![9]]);
}

#[test]
fn panics_in_parallel_map_become_errors() {
    let items: Vec<Result<Tensor>> = ints(&[1, 2, 3])
        .map_parallel(
            |x| {
                if x.to_scalar::<i32>()? == 2 {
                    panic!("boom");
                }
                Ok(x)
            },
            2,
        )
        .iter_on(&cpu())
        .unwrap()
        .collect();
    assert_eq!(items.len(), 3);
    assert!(items[1].as_ref().unwrap_err().to_string().contains("boom"));
    assert!(items[2].is_ok());
}

#[test]
fn batch_errors_name_op_and_shapes() {
    let ds = Dataset::from_generator(|| {
        [1usize, 2]
            .into_iter()
            .map(|n| Tensor::from_slice(&vec![0.0f32; n], [n]))
    });
    let e = ds
        .clone()
        .batch(2, false)
        .unwrap()
        .iter_on(&cpu())
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with("Dataset.batch: batch 0: component 0 of element 1 is float32 (2,)"),
        "{msg}"
    );
    assert!(ds.clone().batch(0, false).is_err());
    let e = ds
        .padded_batch_with(2, Some(vec![vec![Some(1)]]), None, false)
        .unwrap()
        .iter_on(&cpu())
        .unwrap()
        .next()
        .unwrap()
        .unwrap_err();
    assert!(e.to_string().contains("Dataset.padded_batch"), "{e}");
}

#[test]
fn padded_batch_with_shapes_and_values() {
    let ds = Dataset::from_generator(|| {
        [1usize, 3].into_iter().map(|n| {
            Ok((
                Tensor::from_slice(&vec![1.0f32; n], [n])?,
                Tensor::from_slice(&[n as i32], [])?,
            ))
        })
    });
    let (x, n) = ds
        .padded_batch_with(
            2,
            Some(vec![vec![Some(4)], vec![]]),
            Some(vec![Scalar::F32(-1.0), Scalar::I32(0)]),
            false,
        )
        .unwrap()
        .iter_on(&cpu())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(x.shape(), &[2, 4]);
    assert_eq!(
        x.to_vec::<f32>().unwrap(),
        vec![1.0, -1.0, -1.0, -1.0, 1.0, 1.0, 1.0, -1.0]
    );
    assert_eq!(n.to_vec::<i32>().unwrap(), vec![1, 3]);
}

#[test]
fn cardinalities() {
    let d = ints(&[1, 2, 3, 4, 5]);
    assert_eq!(d.cardinality().as_i64(), 5);
    assert_eq!(d.clone().repeat(None).cardinality().as_i64(), -1);
    assert_eq!(d.clone().filter(|_| Ok(true)).cardinality().as_i64(), -2);
    assert_eq!(
        d.clone().repeat(None).take(3).cardinality(),
        Cardinality::Finite(3)
    );
    assert_eq!(
        d.clone().repeat(None).skip(3).cardinality(),
        Cardinality::Infinite
    );
    assert_eq!(
        d.clone().batch(2, true).unwrap().cardinality(),
        Cardinality::Finite(2)
    );
    assert_eq!(
        d.clone().batch(2, false).unwrap().cardinality(),
        Cardinality::Finite(3)
    );
    assert_eq!(d.clone().unbatch().cardinality(), Cardinality::Unknown);
    assert_eq!(
        d.clone().concatenate(d.clone().repeat(None)).cardinality(),
        Cardinality::Infinite
    );
    assert_eq!(
        d.clone().zip(d.clone().filter(|_| Ok(true))).cardinality(),
        Cardinality::Unknown
    );
    assert_eq!(
        d.clone()
            .shuffle(3, None, true)
            .unwrap()
            .cardinality()
            .as_i64(),
        5
    );
    assert_eq!(d.clone().prefetch(1).cardinality().as_i64(), 5);
    assert_eq!(d.clone().repeat(Some(0)).cardinality().as_i64(), 0);
    assert_eq!(ints(&[]).repeat(None).cardinality().as_i64(), 0);
    assert_eq!(values(&ints(&[]).repeat(None)).len(), 0);
}

#[test]
fn prefetch_and_cache() {
    let v: Vec<i32> = (0..50).collect();
    assert_eq!(flat(&ints(&v).prefetch(3)), v);
    assert_eq!(flat(&ints(&v).prefetch(AUTOTUNE).prefetch(0)), v);
    // Dropping an iterator over an endless prefetched stream ends its thread.
    let mut it = ints(&v).repeat(None).prefetch(2).iter_on(&cpu()).unwrap();
    assert!(it.next().unwrap().is_ok());
    drop(it);

    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let ds = ints(&v)
        .map(move |x| {
            c.fetch_add(1, Ordering::Relaxed);
            Ok(x)
        })
        .cache();
    // A partial pass is not cached.
    assert_eq!(ds.iter_on(&cpu()).unwrap().take(3).count(), 3);
    assert_eq!(flat(&ds), v);
    assert_eq!(
        flat(&ds.clone().repeat(Some(2))),
        [v.clone(), v.clone()].concat()
    );
    assert_eq!(calls.load(Ordering::Relaxed), 53);
}

#[test]
fn batches_on_wgpu_equal_cpu() {
    let Some(gpu) = common::gpu() else { return };
    let n = 37;
    let x: Vec<f32> = (0..n * 3).map(|i| i as f32 * 0.5).collect();
    let y: Vec<i32> = (0..n as i32).collect();
    let make = || {
        Dataset::from_tensor_slices((
            Tensor::from_slice_on(&x, [n, 3], &gpu).unwrap(),
            Tensor::from_slice_on(&y, [n], &gpu).unwrap(),
        ))
        .unwrap()
        .shuffle(8, Some(3), true)
        .unwrap()
        .batch(5, false)
        .unwrap()
        .prefetch(2)
    };
    let read = |ds: Dataset<(Tensor, Tensor)>, device: &Device| -> Vec<(Vec<f32>, Vec<i32>)> {
        ds.iter_on(device)
            .unwrap()
            .map(|b| {
                let (bx, by) = b.unwrap();
                assert_eq!(bx.device(), device);
                assert_eq!(by.device(), device);
                (bx.to_vec::<f32>().unwrap(), by.to_vec::<i32>().unwrap())
            })
            .collect()
    };
    // Built before counting: making the GPU source tensors uploads too.
    let ds = make();
    let before = gpu.stats().uploads;
    let on_gpu = read(ds, &gpu);
    // One upload per tensor of each batch; slicing and batching stay on the host.
    assert_eq!(gpu.stats().uploads - before, 2 * on_gpu.len() as u64);
    assert_eq!(on_gpu.len(), 8);
    assert_eq!(on_gpu, read(make(), &cpu()));
}

/// Parallel map hands elements out in chunks sized by their cost: a long stream of cheap
/// elements (so chunks grow), some slow ones (so they shrink again), upstream errors and
/// function errors must still come out exactly as the sequential map's, in order.
#[test]
fn parallel_map_in_chunks_equals_sequential() {
    let n = 3000;
    let source = move || {
        Dataset::from_generator(move || {
            (0..n).map(|i| {
                if i % 97 == 5 {
                    Err(Error::InvalidArgument {
                        op: "source".into(),
                        msg: format!("bad element {i}"),
                    })
                } else {
                    Tensor::from_slice(&[i], [])
                }
            })
        })
    };
    let f = |x: Tensor| -> Result<Tensor> {
        let k = x.to_scalar::<i32>()?;
        if k % 13 == 0 {
            return Err(Error::InvalidArgument {
                op: "f".into(),
                msg: format!("multiple of 13: {k}"),
            });
        }
        if k % 500 == 1 {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        Tensor::from_slice(&[k * 2, -k], [2])
    };
    let show = |ds: Dataset<Tensor>| -> Vec<std::result::Result<Vec<i32>, String>> {
        ds.iter_on(&cpu())
            .unwrap()
            .map(|r| {
                r.map(|t| t.to_vec::<i32>().unwrap())
                    .map_err(|e| e.to_string())
            })
            .collect()
    };
    let seq = show(source().map(f));
    assert_eq!(seq.len(), n as usize);
    // 31 upstream errors (i % 97 == 5), 229 other multiples of 13.
    assert_eq!(seq.iter().filter(|r| r.is_err()).count(), 31 + 229);
    for workers in [2, 3, 8] {
        assert_eq!(
            show(source().map_parallel(f, workers)),
            seq,
            "{workers} workers"
        );
    }
    let mut unordered = show(source().map_parallel_unordered(f, 3));
    let mut sorted = seq.clone();
    unordered.sort();
    sorted.sort();
    assert_eq!(unordered, sorted);
}

/// `cache_file`: the first clean pass writes the file; later passes and a new pipeline (a
/// later run) read it without running the map again; interrupted or failed passes leave no
/// file; a damaged file is an error, never a panic or a shorter dataset.
#[test]
fn file_cache_round_trip_and_damage() {
    let dir = std::env::temp_dir().join(format!("wgflow_file_cache_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("pairs.cache");
    let _ = std::fs::remove_file(&path);
    let calls = Arc::new(AtomicUsize::new(0));
    let make = |calls: Arc<AtomicUsize>, path: std::path::PathBuf| {
        ints(&[0, 1, 2, 3, 4])
            .map(move |x| {
                calls.fetch_add(1, Ordering::SeqCst);
                let i = x.to_scalar::<i32>()?;
                let img: Vec<f32> = (0..6).map(|k| i as f32 + k as f32 * 0.5).collect();
                Ok((Tensor::from_slice(&img, [2, 3])?, x))
            })
            .cache_file(path)
    };
    let read = |ds: &Dataset<(Tensor, Tensor)>| -> Vec<(Vec<f32>, i32)> {
        ds.iter_on(&cpu())
            .unwrap()
            .map(|e| {
                let (img, label) = e.unwrap();
                assert_eq!(img.shape(), [2, 3]);
                (
                    img.to_vec::<f32>().unwrap(),
                    label.to_scalar::<i32>().unwrap(),
                )
            })
            .collect()
    };
    let ds = make(calls.clone(), path.clone());
    // An interrupted first pass keeps nothing.
    let partial: Vec<_> = ds.clone().take(2).iter_on(&cpu()).unwrap().collect();
    assert_eq!(partial.len(), 2);
    assert!(!path.exists(), "an interrupted pass leaves no cache file");
    let first = read(&ds);
    assert!(path.is_file());
    assert_eq!(first.len(), 5);
    assert_eq!(first[3].1, 3);
    assert_eq!(first[3].0[1], 3.5);
    let before = calls.load(Ordering::SeqCst);
    assert_eq!(read(&ds), first);
    // A new pipeline over the same file: the map runs once (for the element's nesting).
    let later = make(calls.clone(), path.clone());
    assert_eq!(read(&later), first);
    assert!(calls.load(Ordering::SeqCst) - before <= 2);

    // A failing pass writes nothing.
    let failing_path = dir.join("failing.cache");
    let failing = ints(&[0, 1, 2])
        .map(|x| {
            if x.to_scalar::<i32>()? == 1 {
                return Err(Error::InvalidArgument {
                    op: "test".into(),
                    msg: "bad element".into(),
                });
            }
            Ok(x)
        })
        .cache_file(&failing_path);
    let items: Vec<_> = failing.iter_on(&cpu()).unwrap().collect();
    assert_eq!(items.iter().filter(|r| r.is_err()).count(), 1);
    assert!(!failing_path.exists());

    // Damage: every truncation, and a wrong magic number.
    let bytes = std::fs::read(&path).unwrap();
    let damaged = dir.join("damaged.cache");
    for cut in (0..bytes.len()).step_by(7).chain([bytes.len() - 1]) {
        std::fs::write(&damaged, &bytes[..cut]).unwrap();
        let ds = make(Arc::new(AtomicUsize::new(0)), damaged.clone());
        let result: Result<Vec<_>> = ds.iter_on(&cpu()).and_then(|it| it.collect());
        match result {
            Err(Error::Format { path, msg }) => {
                assert!(
                    path.ends_with("damaged.cache") && msg.contains("byte"),
                    "{msg}"
                )
            }
            other => panic!("cut at {cut}: {:?}", other.map(|v| v.len())),
        }
    }
    let mut bad = bytes.clone();
    bad[0] ^= 0xff;
    std::fs::write(&damaged, &bad).unwrap();
    let ds = make(Arc::new(AtomicUsize::new(0)), damaged.clone());
    assert!(matches!(
        ds.iter_on(&cpu()).map(|_| ()),
        Err(Error::Format { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}
