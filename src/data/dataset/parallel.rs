//! The background-thread parts of a pipeline: parallel `map` and `prefetch`.
//!
//! Elements are [`Tensor`]s, which are `Send + Sync` (an `Arc` over a device buffer; the
//! devices' queues are shared state behind locks), so worker threads make and pass
//! tensors directly; there is no second, host-only element type. Workers run with the CPU
//! device as their current device, like the rest of the pipeline, and elements reach the
//! chosen device only when they leave the iterator. A panic in user code on a worker
//! becomes an error item instead of a silently shortened stream.

use super::{Stream, at_element};
use crate::device::{Device, with_device};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// The whole design rests on this: were `Tensor` not `Send`, elements would have to travel
// between threads as host arrays instead.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Tensor>();
};

/// A user function's panic as an error of `op` (its payload is usually a string).
pub(crate) fn panic_error(op: &str, payload: Box<dyn std::any::Any + Send>) -> Error {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into());
    Error::invalid(op, format!("the function panicked: {msg}"))
}

fn spawn(op: &str, f: impl FnOnce() + Send + 'static) -> Result<()> {
    std::thread::Builder::new()
        .name(format!("wgflow {op}"))
        .spawn(f)
        .map(|_| ())
        .map_err(|e| Error::invalid(op, format!("could not start a thread: {e}")))
}

/// A run of consecutive elements: the index of the first, and the elements.
type Chunk<T> = (usize, Vec<T>);
/// A chunk's results, and the time the worker spent on them.
type Done<U> = (usize, Vec<Result<U>>, Duration);

/// The work a chunk aims at: long enough that handing it to a worker and back (a channel
/// send, a wake-up, another send) costs a few percent, short enough to keep the workers
/// evenly loaded.
const CHUNK_TARGET: Duration = Duration::from_micros(250);
/// The most elements in one chunk.
const MAX_CHUNK: usize = 64;

/// `map` over `workers` threads. Inputs are pulled on the consuming thread and handed out
/// in chunks whose size adapts to the measured cost of `f`: one element at a time while an
/// element is expensive (a JPEG decode), up to [`MAX_CHUNK`] when it is cheap (a cast of a
/// small tensor), where a hand-off per element would cost more than the work — on two
/// cores it made parallel map four times slower than sequential map. Up to two chunks per
/// worker are in flight, so no worker waits for the consumer. Results come back tagged with
/// their input index and leave in input order when `deterministic`, else as they finish.
pub(crate) struct ParallelMap<T, U> {
    up: Stream<T>,
    jobs: Option<Sender<Chunk<T>>>,
    results: Receiver<Done<U>>,
    pending: BTreeMap<usize, Result<U>>,
    /// Elements pulled from `up` but not yet sent, and the index of the first.
    buf: Vec<T>,
    buf_start: usize,
    next_in: usize,
    next_out: usize,
    /// Elements sent to the workers and not yet back.
    in_flight: usize,
    workers: usize,
    chunk: usize,
    up_done: bool,
    deterministic: bool,
}

impl<T: Send + 'static, U: Send + 'static> ParallelMap<T, U> {
    pub fn new(
        up: Stream<T>,
        f: Arc<dyn Fn(T) -> Result<U> + Send + Sync>,
        workers: usize,
        deterministic: bool,
    ) -> Result<Self> {
        let (jobs, job_rx) = channel::<Chunk<T>>();
        let (res_tx, results) = channel();
        let job_rx = Arc::new(Mutex::new(job_rx));
        for _ in 0..workers {
            let (job_rx, res_tx, f) = (job_rx.clone(), res_tx.clone(), f.clone());
            spawn("Dataset.map", move || {
                let cpu = Device::cpu();
                loop {
                    let job = match job_rx.lock() {
                        Ok(rx) => rx.recv(),
                        Err(_) => return,
                    };
                    let Ok((start, items)) = job else { return };
                    let t0 = Instant::now();
                    let out: Vec<Result<U>> = items
                        .into_iter()
                        .enumerate()
                        .map(|(k, x)| {
                            with_device(&cpu, || catch_unwind(AssertUnwindSafe(|| f(x))))
                                .unwrap_or_else(|p| Err(panic_error("Dataset.map", p)))
                                .map_err(|e| at_element(e, "Dataset.map", start + k))
                        })
                        .collect();
                    if res_tx.send((start, out, t0.elapsed())).is_err() {
                        return;
                    }
                }
            })?;
        }
        Ok(ParallelMap {
            up,
            jobs: Some(jobs),
            results,
            pending: BTreeMap::new(),
            buf: Vec::new(),
            buf_start: 0,
            next_in: 0,
            next_out: 0,
            in_flight: 0,
            workers: workers.max(1),
            chunk: 1,
            up_done: false,
            deterministic,
        })
    }

    /// Sends the elements pulled so far as one chunk.
    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let items = std::mem::take(&mut self.buf);
        let (start, n) = (self.buf_start, items.len());
        match self.jobs.as_ref().map(|j| j.send((start, items))) {
            Some(Ok(())) => self.in_flight += n,
            _ => {
                for i in start..start + n {
                    let e = Error::invalid("Dataset.map", "the map workers stopped");
                    self.pending.insert(i, Err(e));
                }
            }
        }
    }

    /// Pulls inputs and sends them out in chunks until the in-flight limit or the end.
    fn fill(&mut self) {
        let limit = 2 * self.workers * self.chunk;
        while !self.up_done && self.in_flight + self.buf.len() < limit {
            match self.up.next() {
                Some(Ok(x)) => {
                    if self.buf.is_empty() {
                        self.buf_start = self.next_in;
                    }
                    self.buf.push(x);
                    if self.buf.len() >= self.chunk {
                        self.flush();
                    }
                }
                // An upstream error keeps its place in the order.
                Some(Err(e)) => {
                    self.flush();
                    self.pending.insert(self.next_in, Err(e));
                }
                None => {
                    self.up_done = true;
                    self.flush();
                    self.jobs = None;
                    return;
                }
            }
            self.next_in += 1;
        }
        self.flush();
    }
}

impl<T: Send + 'static, U: Send + 'static> Iterator for ParallelMap<T, U> {
    type Item = Result<U>;
    fn next(&mut self) -> Option<Result<U>> {
        loop {
            self.fill();
            let ready = if self.deterministic {
                self.pending.remove(&self.next_out)
            } else {
                self.pending.pop_first().map(|(_, r)| r)
            };
            if let Some(r) = ready {
                self.next_out += 1;
                return Some(r);
            }
            if self.in_flight == 0 {
                if self.up_done {
                    return None;
                }
                continue;
            }
            match self.results.recv() {
                Ok((start, out, spent)) => {
                    let n = out.len();
                    self.in_flight -= n;
                    for (k, r) in out.into_iter().enumerate() {
                        self.pending.insert(start + k, r);
                    }
                    // Size later chunks so each takes about CHUNK_TARGET.
                    let per = spent.as_secs_f64() / n.max(1) as f64;
                    let want = CHUNK_TARGET.as_secs_f64() / per.max(1e-9);
                    self.chunk = (want as usize).clamp(1, MAX_CHUNK);
                }
                Err(_) => {
                    self.in_flight = 0;
                    self.up_done = true;
                    self.jobs = None;
                    return Some(Err(Error::invalid(
                        "Dataset.map",
                        "the map workers stopped",
                    )));
                }
            }
        }
    }
}

/// Runs `up` on a background thread that stays up to `buffer` elements ahead of the
/// consumer. The thread ends at the end of the stream or when the consumer is dropped.
pub(crate) fn prefetch<T: Send + 'static>(mut up: Stream<T>, buffer: usize) -> Result<Stream<T>> {
    let (tx, rx): (SyncSender<Result<T>>, Receiver<Result<T>>) = sync_channel(buffer);
    spawn("Dataset.prefetch", move || {
        with_device(&Device::cpu(), || {
            loop {
                let item = match catch_unwind(AssertUnwindSafe(|| up.next())) {
                    Ok(Some(item)) => item,
                    Ok(None) => return,
                    Err(p) => {
                        let _ = tx.send(Err(panic_error("Dataset.prefetch", p)));
                        return;
                    }
                };
                if tx.send(item).is_err() {
                    return;
                }
            }
        })
    })?;
    Ok(Box::new(rx.into_iter()))
}
