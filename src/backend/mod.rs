//! Backends run kernels on buffers; they know nothing about ops.
//!
//! A backend allocates storage, copies words in and out, runs a [`Kernel`], and flushes or
//! waits for queued work. One runtime enum instead of a type parameter keeps `Tensor`
//! a single type (a later CUDA backend is another variant).

pub(crate) mod cpu;
pub(crate) mod wgpu;

use crate::device::DeviceInner;
use crate::error::Result;
use crate::kernel::Kernel;

/// Device memory of one backend.
pub(crate) enum Storage {
    Cpu(cpu::CpuStorage),
    Wgpu(::wgpu::Buffer),
}

/// A kernel made ready once for many runs: on wgpu its WGSL generated, its pipeline
/// compiled and its parameters uploaded, so a planned graph's replay skips all three (and
/// reuses its bind group while it binds the same buffers).
pub(crate) enum PreparedKernel {
    Cpu(Box<Kernel>),
    Wgpu(wgpu::Prepared),
}

#[allow(clippy::large_enum_variant)] // one per logical device
pub(crate) enum Backend {
    Cpu(cpu::CpuBackend),
    Wgpu(wgpu::WgpuBackend),
}

impl Backend {
    pub fn create_storage(&self, device: &str, bytes: u64) -> Result<Storage> {
        match self {
            Backend::Cpu(b) => Ok(b.create_storage(bytes)),
            Backend::Wgpu(b) => b.create_storage(device, bytes),
        }
    }

    /// Writes `words` at the start of `dst`.
    pub fn write(&self, dev: &DeviceInner, dst: &Storage, words: &[u32]) -> Result<()> {
        crate::memory::Counters::add(&dev.counters.uploads);
        match (self, dst) {
            (Backend::Cpu(_), Storage::Cpu(s)) => {
                s.write(words);
                Ok(())
            }
            (Backend::Wgpu(b), Storage::Wgpu(s)) => b.write(dev, s, words),
            _ => unreachable!("storage of another backend"),
        }
    }

    /// Reads the first `words` words of `src`, waiting for queued work that writes it.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read(&self, dev: &DeviceInner, src: &Storage, words: usize) -> Result<Vec<u32>> {
        crate::memory::Counters::add(&dev.counters.readbacks);
        match (self, src) {
            (Backend::Cpu(_), Storage::Cpu(s)) => Ok(s.read(words)),
            (Backend::Wgpu(b), Storage::Wgpu(s)) => pollster::block_on(b.read(dev, s, words)),
            _ => unreachable!("storage of another backend"),
        }
    }

    /// Reads without blocking the thread (the only way in a browser).
    pub async fn read_async(
        &self,
        dev: &DeviceInner,
        src: &Storage,
        words: usize,
    ) -> Result<Vec<u32>> {
        crate::memory::Counters::add(&dev.counters.readbacks);
        match (self, src) {
            (Backend::Cpu(_), Storage::Cpu(s)) => Ok(s.read(words)),
            (Backend::Wgpu(b), Storage::Wgpu(s)) => b.read(dev, s, words).await,
            _ => unreachable!("storage of another backend"),
        }
    }

    /// Runs `kernel` reading `inputs` and writing `outputs`.
    pub fn run(
        &self,
        dev: &DeviceInner,
        kernel: &Kernel,
        inputs: &[&Storage],
        outputs: &[&Storage],
    ) -> Result<()> {
        crate::memory::Counters::add(&dev.counters.dispatches);
        match self {
            Backend::Cpu(b) => {
                let ins: Vec<&cpu::CpuStorage> = inputs.iter().map(|s| s.cpu()).collect();
                let outs: Vec<&cpu::CpuStorage> = outputs.iter().map(|s| s.cpu()).collect();
                b.run(kernel, &ins, &outs)
            }
            Backend::Wgpu(b) => {
                let ins: Vec<&::wgpu::Buffer> = inputs.iter().map(|s| s.gpu()).collect();
                let outs: Vec<&::wgpu::Buffer> = outputs.iter().map(|s| s.gpu()).collect();
                b.run(dev, kernel, &ins, &outs)
            }
        }
    }

    /// Makes `kernel` ready to run many times (see [`PreparedKernel`]).
    pub fn prepare(&self, dev: &DeviceInner, kernel: &Kernel) -> Result<PreparedKernel> {
        match self {
            Backend::Cpu(_) => Ok(PreparedKernel::Cpu(Box::new(kernel.clone()))),
            Backend::Wgpu(b) => Ok(PreparedKernel::Wgpu(b.prepare(dev, kernel, true)?)),
        }
    }

    /// [`Backend::run`] for a kernel prepared on this backend.
    pub fn run_prepared(
        &self,
        dev: &DeviceInner,
        kernel: &PreparedKernel,
        inputs: &[&Storage],
        outputs: &[&Storage],
    ) -> Result<()> {
        crate::memory::Counters::add(&dev.counters.dispatches);
        match (self, kernel) {
            (Backend::Cpu(b), PreparedKernel::Cpu(k)) => {
                let ins: Vec<&cpu::CpuStorage> = inputs.iter().map(|s| s.cpu()).collect();
                let outs: Vec<&cpu::CpuStorage> = outputs.iter().map(|s| s.cpu()).collect();
                b.run(k, &ins, &outs)
            }
            (Backend::Wgpu(b), PreparedKernel::Wgpu(k)) => {
                let ins: Vec<&::wgpu::Buffer> = inputs.iter().map(|s| s.gpu()).collect();
                let outs: Vec<&::wgpu::Buffer> = outputs.iter().map(|s| s.gpu()).collect();
                b.run_prepared(dev, k, &ins, &outs)
            }
            _ => unreachable!("a kernel prepared for another backend"),
        }
    }

    /// Submits queued work without waiting.
    pub fn flush(&self, dev: &DeviceInner) -> Result<()> {
        match self {
            Backend::Cpu(_) => Ok(()),
            Backend::Wgpu(b) => b.flush(dev),
        }
    }

    /// Waits for all queued work.
    pub fn synchronize(&self, dev: &DeviceInner) -> Result<()> {
        match self {
            Backend::Cpu(_) => Ok(()),
            Backend::Wgpu(b) => b.synchronize(dev),
        }
    }
}

impl Storage {
    fn cpu(&self) -> &cpu::CpuStorage {
        match self {
            Storage::Cpu(s) => s,
            Storage::Wgpu(_) => unreachable!("wgpu storage on the CPU backend"),
        }
    }
    fn gpu(&self) -> &::wgpu::Buffer {
        match self {
            Storage::Wgpu(s) => s,
            Storage::Cpu(_) => unreachable!("CPU storage on the wgpu backend"),
        }
    }
}
