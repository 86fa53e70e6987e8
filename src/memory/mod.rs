//! A caching memory pool per logical device, with an optional hard limit.
//!
//! Buffers are rounded up to size classes and go back to the pool's free lists when their
//! last tensor drops, so steady-state training loops allocate nothing from the driver. An
//! allocation that would pass the limit first releases the cached buffers, then fails with
//! [`Error::ResourceExhausted`]; nothing is lost and the device keeps working.

use crate::backend::Storage;
use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Memory figures of a logical device, in bytes (TensorFlow's `get_memory_info` plus more).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryInfo {
    /// Bytes held by live tensors.
    pub current: u64,
    /// The most `current` has been since creation or the last `reset_peak`.
    pub peak: u64,
    /// Bytes of freed buffers kept for reuse.
    pub cached: u64,
    /// The device's hard limit, if it has one.
    pub limit: Option<u64>,
}

/// Work counters of a device: tests assert fusion with these, never with timings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceStats {
    /// Kernels run (one per compute dispatch on wgpu).
    pub dispatches: u64,
    /// Command-buffer submissions to the GPU queue (0 on the CPU backend).
    pub submissions: u64,
    /// Device-to-host reads.
    pub readbacks: u64,
    /// Host-to-device writes.
    pub uploads: u64,
    /// Compute pipelines compiled (wgpu; a kernel's first use compiles it, later uses and
    /// other logical devices of the same GPU reuse it).
    pub pipelines: u64,
    /// Bind groups created (wgpu: one per eager dispatch; a planned graph's replays reuse
    /// theirs while they bind the same buffers).
    pub bind_groups: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub dispatches: AtomicU64,
    pub submissions: AtomicU64,
    pub readbacks: AtomicU64,
    pub uploads: AtomicU64,
    pub pipelines: AtomicU64,
    pub bind_groups: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> DeviceStats {
        DeviceStats {
            dispatches: self.dispatches.load(Ordering::Relaxed),
            submissions: self.submissions.load(Ordering::Relaxed),
            readbacks: self.readbacks.load(Ordering::Relaxed),
            uploads: self.uploads.load(Ordering::Relaxed),
            pipelines: self.pipelines.load(Ordering::Relaxed),
            bind_groups: self.bind_groups.load(Ordering::Relaxed),
        }
    }
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The smallest class that holds `bytes`: powers of two up to 1 MiB, then steps of an
/// eighth of the power of two below (at most 12.5 % slack).
pub(crate) fn size_class(bytes: u64) -> u64 {
    let b = bytes.max(256);
    if b <= 1 << 20 {
        return b.next_power_of_two();
    }
    let step = (1u64 << (63 - b.leading_zeros())) / 8;
    b.div_ceil(step) * step
}

/// Cached bytes kept at most on a device without a limit.
const UNLIMITED_CACHE_CAP: u64 = 2 << 30;

pub(crate) struct MemoryPool {
    limit: Option<u64>,
    state: Mutex<PoolState>,
}

#[derive(Default)]
struct PoolState {
    in_use: u64,
    peak: u64,
    cached: u64,
    free: BTreeMap<u64, Vec<Storage>>,
}

impl MemoryPool {
    pub fn new(limit: Option<u64>) -> Self {
        MemoryPool {
            limit,
            state: Mutex::new(PoolState::default()),
        }
    }

    /// A buffer of at least `bytes`: from the free lists, else from `create`.
    pub fn acquire(
        &self,
        device_name: &str,
        bytes: u64,
        create: impl FnOnce(u64) -> Result<Storage>,
    ) -> Result<(Storage, u64)> {
        let class = size_class(bytes);
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = st.free.get_mut(&class).and_then(|v| v.pop()) {
            st.cached -= class;
            st.in_use += class;
            st.peak = st.peak.max(st.in_use);
            return Ok((s, class));
        }
        if let Some(limit) = self.limit {
            if st.in_use + st.cached + class > limit {
                st.free.clear();
                st.cached = 0;
            }
            if st.in_use + class > limit {
                return Err(Error::ResourceExhausted {
                    device: device_name.to_string(),
                    requested: class,
                    in_use: st.in_use,
                    limit,
                });
            }
        }
        let storage = create(class)?;
        st.in_use += class;
        st.peak = st.peak.max(st.in_use);
        Ok((storage, class))
    }

    /// Returns a buffer to the free lists.
    pub fn release(&self, storage: Storage, class: u64) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.in_use -= class;
        let cap = self.limit.unwrap_or(UNLIMITED_CACHE_CAP);
        if st.cached + class > cap {
            return; // dropping `storage` frees it
        }
        st.cached += class;
        st.free.entry(class).or_default().push(storage);
    }

    pub fn info(&self) -> MemoryInfo {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        MemoryInfo {
            current: st.in_use,
            peak: st.peak,
            cached: st.cached,
            limit: self.limit,
        }
    }

    pub fn reset_peak(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.peak = st.in_use;
    }

    /// Frees every cached buffer.
    pub fn empty_cache(&self) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.free.clear();
        st.cached = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::size_class;

    #[test]
    fn size_classes_round_up_with_bounded_slack() {
        assert_eq!(size_class(1), 256);
        assert_eq!(size_class(257), 512);
        assert_eq!(size_class(1 << 20), 1 << 20);
        assert_eq!(size_class((1 << 20) + 1), (1 << 20) + (1 << 17));
        for b in [3_000_000u64, 12_345_678, 1 << 30] {
            let c = size_class(b);
            assert!(c >= b && (c - b) * 8 <= b, "{b} -> {c}");
        }
    }
}
