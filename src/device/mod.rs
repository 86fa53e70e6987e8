//! Physical and logical devices, the default device and per-thread device scopes.
//!
//! A [`PhysicalDevice`] is the CPU or one wgpu adapter. A logical [`Device`] is created from
//! a physical one with an optional memory limit (TensorFlow's `LogicalDeviceConfiguration`);
//! it owns a backend instance, a caching memory pool and work counters.

mod buffer;

pub(crate) use buffer::Buffer;

use crate::backend::{Backend, cpu::CpuBackend};
use crate::error::{Error, Result};
use crate::memory::{Counters, DeviceStats, MemoryInfo, MemoryPool};
use std::cell::RefCell;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// TensorFlow's device types.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceType {
    Cpu,
    Gpu,
}

impl DeviceType {
    pub fn name(self) -> &'static str {
        match self {
            DeviceType::Cpu => "CPU",
            DeviceType::Gpu => "GPU",
        }
    }
}

/// A device wgflow can run on: the host CPU or a wgpu adapter.
#[derive(Clone, Debug)]
pub struct PhysicalDevice {
    /// `/physical_device:CPU:0`, `/physical_device:GPU:0`, ...
    pub name: String,
    pub device_type: DeviceType,
    pub(crate) adapter: Option<wgpu::Adapter>,
}

impl PhysicalDevice {
    /// The adapter's description (name, backend, type, driver), or the host for the CPU.
    pub fn description(&self) -> String {
        match &self.adapter {
            None => format!(
                "host CPU, {} threads (ndarray + rayon)",
                rayon::current_num_threads()
            ),
            Some(a) => {
                let i = a.get_info();
                format!(
                    "{} ({:?}, {:?}, driver {} {})",
                    i.name, i.backend, i.device_type, i.driver, i.driver_info
                )
            }
        }
    }
    /// The wgpu adapter's info, for GPU devices.
    pub fn adapter_info(&self) -> Option<wgpu::AdapterInfo> {
        self.adapter.as_ref().map(|a| a.get_info())
    }
    /// The adapter's limits (buffer sizes, workgroup storage), for GPU devices.
    pub fn limits(&self) -> Option<wgpu::Limits> {
        self.adapter.as_ref().map(|a| a.limits())
    }
    /// Whether this is a hardware (or virtualised) GPU rather than a software rasteriser.
    pub fn is_hardware_gpu(&self) -> bool {
        self.adapter.as_ref().is_some_and(|a| {
            matches!(
                a.get_info().device_type,
                wgpu::DeviceType::DiscreteGpu
                    | wgpu::DeviceType::IntegratedGpu
                    | wgpu::DeviceType::VirtualGpu
            )
        })
    }
}

impl fmt::Display for PhysicalDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PhysicalDevice(name='{}', device_type='{}')",
            self.name,
            self.device_type.name()
        )
    }
}

fn instance() -> &'static wgpu::Instance {
    static INSTANCE: OnceLock<wgpu::Instance> = OnceLock::new();
    INSTANCE.get_or_init(|| {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        if std::env::var_os("WGPU_BACKEND").is_none() {
            desc.backends = wgpu::Backends::PRIMARY;
        }
        wgpu::Instance::new(desc)
    })
}

#[cfg(not(target_arch = "wasm32"))]
fn adapters() -> &'static [wgpu::Adapter] {
    static ADAPTERS: OnceLock<Vec<wgpu::Adapter>> = OnceLock::new();
    ADAPTERS.get_or_init(|| {
        let inst = instance();
        let backends = wgpu::Backends::from_env().unwrap_or(wgpu::Backends::PRIMARY);
        let mut v = pollster::block_on(inst.enumerate_adapters(backends));
        // Hardware GPUs first, then software adapters, in a stable order.
        v.sort_by_key(|a| {
            let i = a.get_info();
            let rank = match i.device_type {
                wgpu::DeviceType::DiscreteGpu => 0,
                wgpu::DeviceType::IntegratedGpu => 1,
                wgpu::DeviceType::VirtualGpu => 2,
                wgpu::DeviceType::Other => 3,
                wgpu::DeviceType::Cpu => 4,
            };
            (rank, i.backend as u32, i.name.clone())
        });
        v
    })
}

#[cfg(target_arch = "wasm32")]
fn adapters() -> &'static [wgpu::Adapter] {
    WASM_ADAPTERS.get().map(|v| v.as_slice()).unwrap_or(&[])
}

#[cfg(target_arch = "wasm32")]
static WASM_ADAPTERS: OnceLock<Vec<wgpu::Adapter>> = OnceLock::new();

/// In the browser adapters can only be found asynchronously: call this once before using
/// [`list_physical_devices`] or a GPU device.
#[cfg(target_arch = "wasm32")]
pub async fn init_gpu() -> Result<()> {
    let a = instance()
        .request_adapter(&wgpu::RequestAdapterOptions::default())
        .await
        .map_err(|e| Error::device("/physical_device:GPU:0", e))?;
    let _ = WASM_ADAPTERS.set(vec![a]);
    Ok(())
}

fn cpu_physical() -> PhysicalDevice {
    PhysicalDevice {
        name: "/physical_device:CPU:0".into(),
        device_type: DeviceType::Cpu,
        adapter: None,
    }
}

/// Every device wgflow can use: the CPU, then each wgpu adapter (hardware GPUs first).
pub fn list_physical_devices() -> Vec<PhysicalDevice> {
    let mut v = vec![cpu_physical()];
    for (i, a) in adapters().iter().enumerate() {
        v.push(PhysicalDevice {
            name: format!("/physical_device:GPU:{i}"),
            device_type: DeviceType::Gpu,
            adapter: Some(a.clone()),
        });
    }
    v
}

/// The physical devices of one type.
pub fn list_physical_devices_of(device_type: DeviceType) -> Vec<PhysicalDevice> {
    list_physical_devices()
        .into_iter()
        .filter(|d| d.device_type == device_type)
        .collect()
}

/// Options for a logical device (TensorFlow's `LogicalDeviceConfiguration`).
#[derive(Clone, Debug, Default)]
pub struct LogicalDeviceConfiguration {
    /// A hard limit on the bytes this device's tensors may hold.
    pub memory_limit: Option<u64>,
    /// Which kernel variants a wgpu device compiles (tests use it to run the hardware
    /// kernels on a software adapter).
    pub kernel_profile: KernelProfile,
}

/// Kernel variants for a wgpu device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KernelProfile {
    /// Chosen from the adapter: software adapters (lavapipe) get kernels without workgroup
    /// memory, hardware GPUs the tiled ones.
    #[default]
    Auto,
    Hardware,
    Software,
}

/// A logical device: a backend instance, its memory pool and counters. Cheap to clone.
#[derive(Clone)]
pub struct Device(pub(crate) Arc<DeviceInner>);

pub(crate) struct DeviceInner {
    pub name: String,
    pub physical: PhysicalDevice,
    pub backend: Backend,
    pub pool: MemoryPool,
    pub counters: Counters,
}

impl PartialEq for Device {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
impl Eq for Device {}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Device({})", self.0.name)
    }
}
impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.name)
    }
}

static NEXT_CPU: AtomicUsize = AtomicUsize::new(0);
static NEXT_GPU: AtomicUsize = AtomicUsize::new(0);

impl Device {
    /// A new logical device on `physical` with the given configuration.
    pub fn new(physical: &PhysicalDevice, config: LogicalDeviceConfiguration) -> Result<Device> {
        let (backend, index) = match &physical.adapter {
            None => (
                Backend::Cpu(CpuBackend::new()),
                NEXT_CPU.fetch_add(1, Ordering::Relaxed),
            ),
            Some(adapter) => {
                let index = NEXT_GPU.fetch_add(1, Ordering::Relaxed);
                let name = format!("/device:GPU:{index}");
                (
                    Backend::Wgpu(crate::backend::wgpu::WgpuBackend::new(
                        adapter,
                        &name,
                        config.kernel_profile,
                    )?),
                    index,
                )
            }
        };
        let name = format!("/device:{}:{index}", physical.device_type.name());
        Ok(Device(Arc::new(DeviceInner {
            name,
            physical: physical.clone(),
            backend,
            pool: MemoryPool::new(config.memory_limit),
            counters: Counters::default(),
        })))
    }

    /// The shared CPU device (no memory limit).
    pub fn cpu() -> Device {
        static CPU: OnceLock<Device> = OnceLock::new();
        CPU.get_or_init(|| {
            Device::new(&cpu_physical(), LogicalDeviceConfiguration::default())
                .expect("the CPU device cannot fail to open")
        })
        .clone()
    }

    /// The shared logical device of wgpu adapter `index` (hardware GPUs come first).
    pub fn wgpu(index: usize) -> Result<Device> {
        static GPUS: OnceLock<Vec<OnceLock<std::result::Result<Device, String>>>> = OnceLock::new();
        let slots = GPUS.get_or_init(|| adapters().iter().map(|_| OnceLock::new()).collect());
        let slot = slots.get(index).ok_or_else(|| {
            Error::invalid(
                "Device::wgpu",
                format!(
                    "no wgpu adapter {index}: {} adapter(s) found",
                    adapters().len()
                ),
            )
        })?;
        slot.get_or_init(|| {
            let p = list_physical_devices_of(DeviceType::Gpu).swap_remove(index);
            Device::new(&p, LogicalDeviceConfiguration::default()).map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| Error::device(&format!("/device:GPU:{index}"), e))
    }

    /// TensorFlow's device name, e.g. `/device:GPU:0`.
    pub fn name(&self) -> &str {
        &self.0.name
    }
    pub fn device_type(&self) -> DeviceType {
        self.0.physical.device_type
    }
    pub fn physical_device(&self) -> &PhysicalDevice {
        &self.0.physical
    }
    pub fn is_cpu(&self) -> bool {
        matches!(self.0.backend, Backend::Cpu(_))
    }

    /// Current, peak and cached bytes and the limit.
    pub fn memory_info(&self) -> MemoryInfo {
        self.0.pool.info()
    }
    /// Starts peak tracking again from the current usage.
    pub fn reset_peak(&self) {
        self.0.pool.reset_peak()
    }
    /// Frees every cached (unused) buffer.
    pub fn empty_cache(&self) {
        self.0.pool.empty_cache()
    }
    /// Dispatch, submission, readback and upload counts since creation.
    pub fn stats(&self) -> DeviceStats {
        self.0.counters.snapshot()
    }
    /// Waits until all queued work on the device has finished.
    pub fn synchronize(&self) -> Result<()> {
        self.0.backend.synchronize(&self.0)
    }
    /// Sends queued work to the device without waiting for it.
    pub fn flush(&self) -> Result<()> {
        self.0.backend.flush(&self.0)
    }

    /// The most buffers one kernel may bind (inputs and outputs) on this device.
    pub fn max_kernel_bindings(&self) -> usize {
        match &self.0.backend {
            Backend::Cpu(_) => 64,
            Backend::Wgpu(b) => b.max_bindings(),
        }
    }

    pub(crate) fn alloc(&self, words: usize) -> Result<Buffer> {
        Buffer::new(self, words)
    }
}

/// Current, peak and cached bytes of a device.
pub fn memory_info(device: &Device) -> MemoryInfo {
    device.memory_info()
}

/// Picks the default device: `WGFLOW_DEVICE` (`cpu`, `wgpu`, `wgpu:N`) if set; else a
/// hardware GPU if there is one, else the CPU. With `WGFLOW_REQUIRE_GPU=1` a missing
/// wgpu adapter is an error and a software adapter (e.g. lavapipe) is used rather than
/// falling back to the CPU backend.
fn choose_default() -> Result<Device> {
    let require_gpu = std::env::var("WGFLOW_REQUIRE_GPU").is_ok_and(|v| v == "1" || v == "true");
    if let Ok(spec) = std::env::var("WGFLOW_DEVICE") {
        return parse_device_spec(&spec);
    }
    let gpus = list_physical_devices_of(DeviceType::Gpu);
    if let Some(i) = gpus.iter().position(|p| p.is_hardware_gpu()) {
        return Device::wgpu(i);
    }
    if require_gpu {
        if gpus.is_empty() {
            return Err(Error::device(
                "default device",
                "WGFLOW_REQUIRE_GPU=1 but no wgpu adapter was found",
            ));
        }
        return Device::wgpu(0);
    }
    Ok(Device::cpu())
}

/// Parses `cpu`, `gpu`, `wgpu` or `wgpu:N` (also TensorFlow's `/device:GPU:N`).
pub fn parse_device_spec(spec: &str) -> Result<Device> {
    let s = spec.trim().to_ascii_lowercase();
    let s = s
        .trim_start_matches("/device:")
        .trim_start_matches("/physical_device:");
    if s == "cpu" || s == "cpu:0" {
        return Ok(Device::cpu());
    }
    for prefix in ["wgpu", "gpu"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            let index = if rest.is_empty() {
                0
            } else {
                rest.trim_start_matches(':').parse::<usize>().map_err(|_| {
                    Error::invalid("device", format!("cannot parse device '{spec}'"))
                })?
            };
            return Device::wgpu(index);
        }
    }
    Err(Error::invalid(
        "device",
        format!("unknown device '{spec}': expected cpu, wgpu or wgpu:N"),
    ))
}

/// The process-wide default device (see [`choose_default`] for the rules).
pub fn default_device() -> Result<Device> {
    static DEFAULT: OnceLock<std::result::Result<Device, String>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| choose_default().map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| Error::device("default device", e))
}

thread_local! {
    static SCOPE: RefCell<Vec<Device>> = const { RefCell::new(Vec::new()) };
}

/// The device new tensors are created on: the innermost [`with_device`] scope of this
/// thread, else the default device.
pub fn current_device() -> Result<Device> {
    if let Some(d) = SCOPE.with(|s| s.borrow().last().cloned()) {
        return Ok(d);
    }
    default_device()
}

/// Runs `f` with `device` as the current device of this thread (TensorFlow's
/// `with tf.device(...)`).
pub fn with_device<R>(device: &Device, f: impl FnOnce() -> R) -> R {
    struct Pop;
    impl Drop for Pop {
        fn drop(&mut self) {
            SCOPE.with(|s| s.borrow_mut().pop());
        }
    }
    SCOPE.with(|s| s.borrow_mut().push(device.clone()));
    let _pop = Pop;
    f()
}
