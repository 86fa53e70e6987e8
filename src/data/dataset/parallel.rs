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

type Job<T> = (usize, T);

/// `map` over `workers` threads with at most `workers` elements in flight. Inputs are
/// pulled on the consuming thread; results come back tagged with their input index and
/// leave in input order when `deterministic`, else as they finish.
pub(crate) struct ParallelMap<T, U> {
    up: Stream<T>,
    jobs: Option<Sender<Job<T>>>,
    results: Receiver<Job<Result<U>>>,
    pending: BTreeMap<usize, Result<U>>,
    next_in: usize,
    next_out: usize,
    in_flight: usize,
    max: usize,
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
        let (jobs, job_rx) = channel::<Job<T>>();
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
                    let Ok((i, x)) = job else { return };
                    let r = with_device(&cpu, || catch_unwind(AssertUnwindSafe(|| f(x))))
                        .unwrap_or_else(|p| Err(panic_error("Dataset.map", p)))
                        .map_err(|e| at_element(e, "Dataset.map", i));
                    if res_tx.send((i, r)).is_err() {
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
            next_in: 0,
            next_out: 0,
            in_flight: 0,
            max: workers.max(1),
            up_done: false,
            deterministic,
        })
    }
}

impl<T: Send + 'static, U: Send + 'static> Iterator for ParallelMap<T, U> {
    type Item = Result<U>;
    fn next(&mut self) -> Option<Result<U>> {
        loop {
            while !self.up_done && self.in_flight < self.max {
                match self.up.next() {
                    Some(Ok(x)) => {
                        let sent = self.jobs.as_ref().map(|j| j.send((self.next_in, x)));
                        if let Some(Ok(())) = sent {
                            self.in_flight += 1;
                        } else {
                            let e = Error::invalid("Dataset.map", "the map workers stopped");
                            self.pending.insert(self.next_in, Err(e));
                        }
                    }
                    // An upstream error keeps its place in the order.
                    Some(Err(e)) => {
                        self.pending.insert(self.next_in, Err(e));
                    }
                    None => {
                        self.up_done = true;
                        self.jobs = None;
                        break;
                    }
                }
                self.next_in += 1;
            }
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
                return None;
            }
            match self.results.recv() {
                Ok((i, r)) => {
                    self.in_flight -= 1;
                    self.pending.insert(i, r);
                }
                Err(_) => {
                    self.in_flight = 0;
                    self.up_done = true;
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
