//! The wgpu backend: WGSL kernels on any WebGPU-capable GPU (Vulkan, Metal, DX12, browser).
//!
//! Eager ops are queued, not waited for: every dispatch is encoded into one command
//! encoder that is submitted when a value is read, when a host buffer must be mapped, or
//! after [`BATCH`] dispatches. Kernel constants travel in a small parameter arena written
//! once per submission, so kernels that differ only in constant values share a pipeline.
//! wgpu validation errors are captured and returned as [`Error::Device`].

mod codegen;
mod matmul;

pub(crate) use codegen::{Compiled, Target, compile};

use crate::device::DeviceInner;
use crate::error::{Error, Result};
use crate::kernel::ir::Kernel;
use crate::memory::Counters;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Dispatches encoded before the queue is submitted without being asked.
const BATCH: usize = 256;
/// Bytes of one parameter-arena chunk.
const ARENA_CHUNK: u64 = 64 * 1024;

pub(crate) struct WgpuBackend {
    name: String,
    device: wgpu::Device,
    queue: wgpu::Queue,
    limits: wgpu::Limits,
    target: Target,
    pipelines: Mutex<HashMap<String, Arc<wgpu::ComputePipeline>>>,
    layouts: Mutex<HashMap<(usize, usize, bool), Arc<Layout>>>,
    pending: Mutex<Pending>,
    errors: Arc<Mutex<Vec<String>>>,
}

#[derive(Default)]
struct Pending {
    encoder: Option<wgpu::CommandEncoder>,
    dispatches: usize,
    /// Arena chunks used by the encoded dispatches, with their contents.
    chunks: Vec<(wgpu::Buffer, Vec<u32>)>,
    free_chunks: Vec<wgpu::Buffer>,
}

/// A bind-group layout and the pipeline layout over it, per (inputs, outputs, params).
type Layout = (wgpu::BindGroupLayout, wgpu::PipelineLayout);

/// A kernel ready to dispatch: its generated code and parameters, and its pipeline (none
/// when it has no workgroups).
pub(crate) struct Prepared {
    compiled: Compiled,
    pipeline: Option<(Arc<wgpu::ComputePipeline>, Arc<Layout>)>,
    /// Set for a kernel prepared for many replays (a planned graph).
    replay: Option<Replay>,
}

/// What a replayed kernel keeps between dispatches.
struct Replay {
    /// Its parameters, written once (an eager dispatch appends them to the arena instead).
    params: Option<wgpu::Buffer>,
    /// The last bind groups and the buffers they bind: a plan's replay binds the same
    /// buffers every call (the pool hands out the same ones in the same order), or
    /// alternates between two sets (a variable's old and new buffer swap roles each
    /// step), so each bind group is made once. Holding the handles keeps their ids from
    /// being reused.
    recent: Mutex<Vec<(Vec<wgpu::Buffer>, wgpu::BindGroup)>>,
}

/// Bind groups a replayed kernel keeps (see [`Replay::recent`]).
const RECENT_BIND_GROUPS: usize = 2;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl WgpuBackend {
    pub fn new(
        adapter: &wgpu::Adapter,
        name: &str,
        profile: crate::device::KernelProfile,
    ) -> Result<Self> {
        let limits = adapter.limits();
        let desc = wgpu::DeviceDescriptor {
            label: Some(name),
            required_features: wgpu::Features::empty(),
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        };
        let (device, queue) =
            block_on(adapter.request_device(&desc)).map_err(|e| Error::device(name, e))?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            lock(&sink).push(e.to_string())
        }));
        let sink = errors.clone();
        device.set_device_lost_callback(move |reason, msg| {
            lock(&sink).push(format!("device lost ({reason:?}): {msg}"));
        });
        let software = match profile {
            crate::device::KernelProfile::Auto => {
                adapter.get_info().device_type == wgpu::DeviceType::Cpu
            }
            crate::device::KernelProfile::Software => true,
            crate::device::KernelProfile::Hardware => false,
        };
        Ok(WgpuBackend {
            name: name.to_string(),
            device,
            queue,
            limits,
            target: Target { software },
            pipelines: Mutex::new(HashMap::new()),
            layouts: Mutex::new(HashMap::new()),
            pending: Mutex::new(Pending::default()),
            errors,
        })
    }

    fn check_errors(&self) -> Result<()> {
        let mut errs = lock(&self.errors);
        if errs.is_empty() {
            return Ok(());
        }
        let msg = errs.join("; ");
        errs.clear();
        Err(Error::device(&self.name, msg))
    }

    pub fn max_bindings(&self) -> usize {
        // One binding is kept for the parameter arena.
        self.limits.max_storage_buffers_per_shader_stage as usize - 1
    }

    pub fn create_storage(&self, device: &str, bytes: u64) -> Result<crate::backend::Storage> {
        let max = self
            .limits
            .max_buffer_size
            .min(self.limits.max_storage_buffer_binding_size);
        if bytes > max {
            return Err(Error::invalid(
                "allocate",
                format!(
                    "{bytes} bytes is more than this adapter's largest storage buffer ({max} bytes) on {device}"
                ),
            ));
        }
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(crate::backend::Storage::Wgpu(buf))
    }

    fn encoder<'a>(&self, p: &'a mut Pending) -> &'a mut wgpu::CommandEncoder {
        p.encoder.get_or_insert_with(|| {
            self.device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor::default())
        })
    }

    pub fn write(&self, dev: &DeviceInner, dst: &wgpu::Buffer, words: &[u32]) -> Result<()> {
        if words.is_empty() {
            return Ok(());
        }
        let bytes: &[u8] = bytemuck::cast_slice(words);
        let mut p = lock(&self.pending);
        if p.dispatches == 0 && p.encoder.is_none() {
            // Nothing queued can read `dst`, so the queue's own staging is safe.
            self.queue.write_buffer(dst, 0, bytes);
            return Ok(());
        }
        // Queued dispatches may still read this (reused) buffer: copy in encoder order.
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("wgflow upload"),
            size: bytes.len() as u64,
            usage: wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: true,
        });
        staging
            .slice(..)
            .get_mapped_range_mut()
            .map_err(|e| Error::device(&self.name, e))?
            .copy_from_slice(bytes);
        staging.unmap();
        self.encoder(&mut p)
            .copy_buffer_to_buffer(&staging, 0, dst, 0, bytes.len() as u64);
        drop(p);
        let _ = dev;
        Ok(())
    }

    pub async fn read(
        &self,
        dev: &DeviceInner,
        src: &wgpu::Buffer,
        words: usize,
    ) -> Result<Vec<u32>> {
        if words == 0 {
            return Ok(Vec::new());
        }
        let bytes = (words * 4) as u64;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("wgflow readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        {
            let mut p = lock(&self.pending);
            self.encoder(&mut p)
                .copy_buffer_to_buffer(src, 0, &staging, 0, bytes);
        }
        self.flush(dev)?;
        let (tx, rx) = oneshot();
        staging
            .slice(..)
            .map_async(wgpu::MapMode::Read, move |r| tx.send(r));
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::device(&self.name, format!("waiting for the GPU: {e}")))?;
        rx.await
            .map_err(|e| Error::device(&self.name, format!("mapping a readback buffer: {e}")))?;
        self.check_errors()?;
        let out = {
            let view = staging
                .slice(..)
                .get_mapped_range()
                .map_err(|e| Error::device(&self.name, e))?;
            bytemuck::cast_slice::<u8, u32>(&view).to_vec()
        };
        staging.unmap();
        Ok(out)
    }

    /// Submits everything encoded so far.
    pub fn flush(&self, dev: &DeviceInner) -> Result<()> {
        let mut p = lock(&self.pending);
        let Some(encoder) = p.encoder.take() else {
            return Ok(());
        };
        for (buf, words) in &p.chunks {
            self.queue.write_buffer(buf, 0, bytemuck::cast_slice(words));
        }
        let chunks: Vec<_> = p.chunks.drain(..).map(|(b, _)| b).collect();
        p.free_chunks.extend(chunks);
        p.dispatches = 0;
        self.queue.submit([encoder.finish()]);
        Counters::add(&dev.counters.submissions);
        drop(p);
        self.check_errors()
    }

    pub fn synchronize(&self, dev: &DeviceInner) -> Result<()> {
        self.flush(dev)?;
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::device(&self.name, format!("waiting for the GPU: {e}")))?;
        self.check_errors()
    }

    fn layout(&self, n_in: usize, n_out: usize, params: bool) -> Arc<Layout> {
        let mut layouts = lock(&self.layouts);
        layouts
            .entry((n_in, n_out, params))
            .or_insert_with(|| {
                let entry = |binding: usize, read_only: bool| wgpu::BindGroupLayoutEntry {
                    binding: binding as u32,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                };
                let mut entries: Vec<_> = (0..n_in).map(|i| entry(i, true)).collect();
                entries.extend((0..n_out).map(|i| entry(n_in + i, false)));
                if params {
                    entries.push(entry(n_in + n_out, true));
                }
                let bgl = self
                    .device
                    .create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                        label: None,
                        entries: &entries,
                    });
                let pl = self
                    .device
                    .create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                        label: None,
                        bind_group_layouts: &[Some(&bgl)],
                        immediate_size: 0,
                    });
                Arc::new((bgl, pl))
            })
            .clone()
    }

    fn pipeline(&self, dev: &DeviceInner, c: &Compiled) -> Result<Arc<wgpu::ComputePipeline>> {
        if let Some(p) = lock(&self.pipelines).get(&c.source) {
            return Ok(p.clone());
        }
        if std::env::var_os("WGFLOW_DUMP_KERNELS").is_some() {
            eprintln!("// ---- wgflow kernel {} ----\n{}", c.label, c.source);
        }
        let layout = self.layout(c.n_in, c.n_out, !c.params.is_empty());
        #[cfg(not(target_arch = "wasm32"))]
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self
            .device
            .create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(&c.label),
                source: wgpu::ShaderSource::Wgsl(c.source.as_str().into()),
            });
        let pipeline = self
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&c.label),
                layout: Some(&layout.1),
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(e) = block_on(scope.pop()) {
            return Err(Error::device(
                &self.name,
                format!("kernel {} failed to compile: {e}", c.label),
            ));
        }
        let p = Arc::new(pipeline);
        Counters::add(&dev.counters.pipelines);
        lock(&self.pipelines).insert(c.source.clone(), p.clone());
        Ok(p)
    }

    pub fn run(
        &self,
        dev: &DeviceInner,
        kernel: &Kernel,
        inputs: &[&wgpu::Buffer],
        outputs: &[&wgpu::Buffer],
    ) -> Result<()> {
        let prepared = self.prepare(dev, kernel, false)?;
        self.run_prepared(dev, &prepared, inputs, outputs)
    }

    /// Generates the kernel's WGSL and gets its pipeline (compiled on first use), once:
    /// a planned graph keeps the result (`for_replay`) and skips both on every replay.
    pub fn prepare(
        &self,
        dev: &DeviceInner,
        kernel: &Kernel,
        for_replay: bool,
    ) -> Result<Prepared> {
        let compiled = compile(kernel, &self.target)?;
        if compiled.workgroups == 0 {
            return Ok(Prepared {
                compiled,
                pipeline: None,
                replay: None,
            });
        }
        if compiled.n_in + compiled.n_out > self.max_bindings() {
            return Err(Error::invalid(
                &compiled.label,
                "kernel binds more buffers than the adapter allows",
            ));
        }
        let pipeline = self.pipeline(dev, &compiled)?;
        let layout = self.layout(compiled.n_in, compiled.n_out, !compiled.params.is_empty());
        let replay = for_replay.then(|| Replay {
            params: (!compiled.params.is_empty()).then(|| {
                use wgpu::util::DeviceExt;
                self.device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some("wgflow kernel parameters"),
                        contents: bytemuck::cast_slice(&compiled.params),
                        usage: wgpu::BufferUsages::STORAGE,
                    })
            }),
            recent: Mutex::new(Vec::new()),
        });
        Ok(Prepared {
            compiled,
            pipeline: Some((pipeline, layout)),
            replay,
        })
    }

    /// Encodes one dispatch of a prepared kernel.
    pub fn run_prepared(
        &self,
        dev: &DeviceInner,
        prepared: &Prepared,
        inputs: &[&wgpu::Buffer],
        outputs: &[&wgpu::Buffer],
    ) -> Result<()> {
        let compiled = &prepared.compiled;
        let Some((pipeline, layout)) = &prepared.pipeline else {
            return Ok(()); // no workgroups: nothing to do
        };
        if compiled.n_in != inputs.len() || compiled.n_out != outputs.len() {
            return Err(Error::invalid(
                &compiled.label,
                format!(
                    "kernel binds {} inputs and {} outputs, got {} and {}",
                    compiled.n_in,
                    compiled.n_out,
                    inputs.len(),
                    outputs.len()
                ),
            ));
        }
        let mut p = lock(&self.pending);
        let bind_group = match &prepared.replay {
            Some(r) => {
                let mut recent = lock(&r.recent);
                let bound = inputs.iter().chain(outputs);
                let hit = recent.iter().position(|(bufs, _)| {
                    bufs.len() == inputs.len() + outputs.len()
                        && bufs.iter().zip(bound.clone()).all(|(a, b)| a == *b)
                });
                match hit {
                    Some(i) => recent[i].1.clone(),
                    None => {
                        let params = r.params.as_ref().map(|b| b.as_entire_binding());
                        let bg = self.bind_group(dev, layout, inputs, outputs, params);
                        if recent.len() == RECENT_BIND_GROUPS {
                            recent.remove(0);
                        }
                        recent.push((bound.map(|b| (*b).clone()).collect(), bg.clone()));
                        bg
                    }
                }
            }
            None => {
                let slot = (!compiled.params.is_empty())
                    .then(|| self.arena_slot(&mut p, &compiled.params));
                let params = slot.map(|(chunk, offset, size)| {
                    wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &p.chunks[chunk].0,
                        offset,
                        size: wgpu::BufferSize::new(size),
                    })
                });
                self.bind_group(dev, layout, inputs, outputs, params)
            }
        };
        let (x, y) = grid(
            compiled.workgroups,
            self.limits.max_compute_workgroups_per_dimension,
        );
        {
            let enc = self.encoder(&mut p);
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: None,
                timestamp_writes: None,
            });
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(x, y, 1);
        }
        p.dispatches += 1;
        let full = p.dispatches >= BATCH;
        drop(p);
        if full {
            self.flush(dev)?;
        }
        Ok(())
    }

    /// Binds `inputs`, `outputs` and the parameters (if any) in that order.
    fn bind_group(
        &self,
        dev: &DeviceInner,
        layout: &Layout,
        inputs: &[&wgpu::Buffer],
        outputs: &[&wgpu::Buffer],
        params: Option<wgpu::BindingResource>,
    ) -> wgpu::BindGroup {
        let mut entries: Vec<wgpu::BindGroupEntry> = inputs
            .iter()
            .chain(outputs)
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        if let Some(resource) = params {
            entries.push(wgpu::BindGroupEntry {
                binding: entries.len() as u32,
                resource,
            });
        }
        Counters::add(&dev.counters.bind_groups);
        self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &layout.0,
            entries: &entries,
        })
    }

    /// Appends `params` to the arena; returns (chunk, byte offset, byte size).
    fn arena_slot(&self, p: &mut Pending, params: &[u32]) -> (usize, u64, u64) {
        let align = (self.limits.min_storage_buffer_offset_alignment as usize / 4).max(1);
        let need = params.len().max(4);
        let fits = |words: &Vec<u32>| {
            (words.len().div_ceil(align) * align + need) * 4 <= ARENA_CHUNK as usize
        };
        if p.chunks.last().is_none_or(|(_, w)| !fits(w)) {
            let buf = p.free_chunks.pop().unwrap_or_else(|| {
                self.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("wgflow params"),
                    size: ARENA_CHUNK,
                    usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            });
            p.chunks.push((buf, Vec::new()));
        }
        let chunk = p.chunks.len() - 1;
        let words = &mut p.chunks[chunk].1;
        let start = words.len().div_ceil(align) * align;
        words.resize(start, 0);
        words.extend_from_slice(params);
        words.resize(start + need, 0);
        (chunk, (start * 4) as u64, (need * 4) as u64)
    }
}

/// Spreads `n` workgroups over a 2-D grid when one dimension is not enough; kernels
/// linearise `wid.x + wid.y * nwg.x`.
fn grid(n: u32, max: u32) -> (u32, u32) {
    if n <= max {
        (n, 1)
    } else {
        (max, n.div_ceil(max))
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn block_on<F: Future>(f: F) -> F::Output {
    pollster::block_on(f)
}

#[cfg(target_arch = "wasm32")]
fn block_on<F: Future>(_f: F) -> F::Output {
    unreachable!("the browser cannot block; wasm code paths use async calls")
}

/// A minimal one-shot channel for wgpu's map callbacks (no executor needed).
struct Shared<T> {
    value: Option<T>,
    waker: Option<Waker>,
}

struct Sender<T>(Arc<Mutex<Shared<T>>>);
struct Receiver<T>(Arc<Mutex<Shared<T>>>);

fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let s = Arc::new(Mutex::new(Shared {
        value: None,
        waker: None,
    }));
    (Sender(s.clone()), Receiver(s))
}

impl<T> Sender<T> {
    fn send(self, v: T) {
        let mut s = lock(&self.0);
        s.value = Some(v);
        if let Some(w) = s.waker.take() {
            w.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = lock(&self.0);
        match s.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
