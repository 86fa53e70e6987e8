//! The stream types behind transformations that keep state between elements.

use super::{Dataset, Factory, Stream, Structure, at_element, once_err};
use crate::error::Result;
use std::sync::{Arc, Mutex};

/// Groups of `size` elements, combined (`batch`, `padded_batch`). An upstream error is
/// passed on at once; the group being filled goes on filling.
pub(crate) struct Grouped<T> {
    pub up: Stream<T>,
    pub size: usize,
    pub drop_remainder: bool,
    pub buf: Vec<T>,
    pub index: usize,
    #[allow(clippy::type_complexity)]
    pub combine: Arc<dyn Fn(Vec<T>, usize) -> Result<T> + Send + Sync>,
}

impl<T> Iterator for Grouped<T> {
    type Item = Result<T>;
    fn next(&mut self) -> Option<Result<T>> {
        while self.buf.len() < self.size {
            match self.up.next() {
                Some(Ok(x)) => self.buf.push(x),
                Some(Err(e)) => return Some(Err(e)),
                None if self.buf.is_empty() || self.drop_remainder => return None,
                None => break,
            }
        }
        let group = std::mem::replace(&mut self.buf, Vec::with_capacity(self.size));
        self.index += 1;
        Some((self.combine)(group, self.index - 1))
    }
}

/// Fresh passes over a dataset, `left` more times (`None`: forever).
pub(crate) struct Repeat<T> {
    pub make: Factory<T>,
    pub cur: Option<Stream<T>>,
    pub left: Option<u64>,
    /// Whether the current pass produced anything: an empty pass ends an endless repeat.
    pub yielded: bool,
}

impl<T> Iterator for Repeat<T> {
    type Item = Result<T>;
    fn next(&mut self) -> Option<Result<T>> {
        loop {
            if self.cur.is_none() {
                match &mut self.left {
                    Some(0) => return None,
                    Some(k) => *k -= 1,
                    None => {}
                }
                match (self.make)() {
                    Ok(s) => self.cur = Some(s),
                    Err(e) => {
                        self.left = Some(0);
                        return Some(Err(e));
                    }
                }
                self.yielded = false;
            }
            match self.cur.as_mut().and_then(|s| s.next()) {
                Some(item) => {
                    self.yielded = true;
                    return Some(item);
                }
                None => {
                    self.cur = None;
                    if !self.yielded && self.left.is_none() {
                        return None;
                    }
                }
            }
        }
    }
}

/// A small, fast, seedable generator (Steele et al.'s SplitMix64): shuffling needs
/// reproducibility, not cryptographic quality, and the crate has no `rand` dependency.
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator for pass `epoch` of a shuffle seeded with `seed`.
    pub fn new(seed: u64, epoch: u64) -> Self {
        let mut g = SplitMix64(seed ^ epoch.wrapping_mul(0xD1B5_4A32_D192_ED03));
        g.next_u64();
        g
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-40 for our sizes).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

/// A seed for an unseeded shuffle: differs between calls and between runs.
pub(crate) fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    h.write_u64(CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.finish()
}

/// TensorFlow's shuffle buffer: fill it, then output a random slot and put the next
/// element in its place; once the input ends, drain the buffer in random order.
pub(crate) struct Shuffle<T> {
    pub up: Stream<T>,
    pub buf: Vec<Result<T>>,
    pub size: usize,
    pub rng: SplitMix64,
    pub filled: bool,
}

impl<T> Iterator for Shuffle<T> {
    type Item = Result<T>;
    fn next(&mut self) -> Option<Result<T>> {
        if !self.filled {
            self.filled = true;
            while self.buf.len() < self.size {
                match self.up.next() {
                    Some(x) => self.buf.push(x),
                    None => break,
                }
            }
        }
        if self.buf.is_empty() {
            return None;
        }
        let i = self.rng.below(self.buf.len());
        Some(match self.up.next() {
            Some(x) => std::mem::replace(&mut self.buf[i], x),
            None => self.buf.swap_remove(i),
        })
    }
}

/// `interleave`: `slots` holds the open inner streams; `pos` is the slot whose turn it
/// is and `in_block` how many it has given this turn (TensorFlow's `InterleaveDataset`).
pub(crate) struct Interleave<T, U> {
    pub up: Stream<T>,
    #[allow(clippy::type_complexity)]
    pub f: Arc<dyn Fn(T) -> Result<Dataset<U>> + Send + Sync>,
    pub slots: Vec<Option<Stream<U>>>,
    pub pos: usize,
    pub in_block: usize,
    pub block_length: usize,
    pub up_done: bool,
    /// Input elements seen, for error messages.
    pub index: usize,
    /// How many open datasets may be read ahead on background threads (0: none).
    pub threads: usize,
    /// Which slots are read on a background thread.
    pub background: Vec<bool>,
}

impl<T, U: Structure> Interleave<T, U> {
    fn advance(&mut self) {
        self.in_block = 0;
        self.pos = (self.pos + 1) % self.slots.len();
    }

    /// A newly opened dataset's stream, moved to a background thread while fewer than
    /// `threads` are (it keeps a block and one more element ready, so the round-robin
    /// rarely waits).
    fn open(&mut self, slot: usize, stream: Stream<U>) -> Stream<U> {
        let busy = self.background.iter().filter(|&&b| b).count();
        if busy >= self.threads {
            return stream;
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            match super::parallel::prefetch(stream, self.block_length + 1) {
                Ok(s) => {
                    self.background[slot] = true;
                    s
                }
                Err(e) => once_err(e),
            }
        }
        #[cfg(target_arch = "wasm32")]
        {
            let _ = slot;
            stream
        }
    }
}

impl<T, U: Structure> Iterator for Interleave<T, U> {
    type Item = Result<U>;
    fn next(&mut self) -> Option<Result<U>> {
        loop {
            if let Some(s) = self.slots[self.pos].as_mut() {
                match s.next() {
                    Some(item) => {
                        self.in_block += 1;
                        if self.in_block == self.block_length {
                            self.advance();
                        }
                        return Some(item);
                    }
                    None => {
                        self.slots[self.pos] = None;
                        self.background[self.pos] = false;
                        self.advance();
                    }
                }
            } else if !self.up_done {
                let i = self.index;
                match self.up.next() {
                    Some(Ok(x)) => {
                        self.index += 1;
                        let inner = (self.f)(x)
                            .and_then(|d| d.stream())
                            .map_err(|e| at_element(e, "Dataset.interleave", i));
                        let stream = match inner {
                            Ok(s) => self.open(self.pos, s),
                            Err(e) => once_err(e),
                        };
                        self.slots[self.pos] = Some(stream);
                    }
                    Some(Err(e)) => {
                        self.index += 1;
                        return Some(Err(e));
                    }
                    None => self.up_done = true,
                }
            } else if self.slots.iter().all(Option::is_none) {
                return None;
            } else {
                self.advance();
            }
        }
    }
}

/// The elements of a completed pass, shared by all passes of a cached dataset.
pub(crate) type CacheStore<T> = Arc<Mutex<Option<Arc<Vec<T>>>>>;

/// A first pass of `cache`: passes elements on and records them; a pass that ends
/// cleanly fills the store. A pass dropped early or with errors is not kept.
pub(crate) struct Record<T> {
    pub up: Stream<T>,
    pub seen: Vec<T>,
    pub clean: bool,
    pub store: CacheStore<T>,
}

impl<T: Clone> Iterator for Record<T> {
    type Item = Result<T>;
    fn next(&mut self) -> Option<Result<T>> {
        match self.up.next() {
            Some(Ok(x)) => {
                self.seen.push(x.clone());
                Some(Ok(x))
            }
            Some(Err(e)) => {
                self.clean = false;
                Some(Err(e))
            }
            None => {
                if self.clean
                    && let Ok(mut store) = self.store.lock()
                    && store.is_none()
                {
                    *store = Some(Arc::new(std::mem::take(&mut self.seen)));
                }
                None
            }
        }
    }
}
