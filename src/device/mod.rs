//! The device layer: adapter choice, limits, buffer pool, pipeline cache, the
//! command recorder that batches dispatches, and readback.
//!
//! # Example
//!
//! ```
//! use balgan::{Device, Tensor};
//! # fn main() -> balgan::Result<()> {
//! let dev = Device::new()?;
//! println!("{}: {}", dev.describe(), dev.backend_reason());
//! assert!(!dev.adapter_info().name.is_empty());
//!
//! // Ops are recorded and submitted in batches; a readback waits for them.
//! let (dispatches, _) = dev.dispatch_counts();
//! let x = Tensor::ones(&dev, &[256, 256])?;
//! assert_eq!(x.sum_all()?.item()?, 65536.0);
//! assert!(dev.dispatch_counts().0 >= dispatches + 2); // the fill and the sum
//!
//! // Tensors live in buffers from the device's pool.
//! let mem = dev.memory_stats();
//! assert!(mem.in_use >= 256 * 256 * 4 && mem.peak >= mem.in_use);
//! # Ok(()) }
//! ```

mod adapter;
mod pipelines;
mod pool;
mod profile;
mod recorder;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use adapter::{DeviceOptions, Tuning};
pub use pipelines::ShaderSource;
pub use pool::MemoryStats;
pub use profile::{profile_summary, profile_table, KernelStat, ProfileSummary};

use crate::error::{Error, Result};
use pipelines::PipelineCache;
use pool::BufferPool;
use recorder::Recorder;

/// A GPU (or software-rasteriser) device. Cheap to clone: clones share the
/// same queue, buffer pool, pipeline cache and recorder.
#[derive(Clone)]
pub struct Device {
    pub(crate) inner: Arc<DeviceInner>,
}

pub(crate) struct DeviceInner {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    /// Why this adapter's backend (see [`Device::backend_reason`]).
    backend_reason: String,
    limits: wgpu::Limits,
    pool: BufferPool,
    pipelines: PipelineCache,
    recorder: Mutex<Recorder>,
    /// First error the GPU reported asynchronously; returned at the next sync point.
    gpu_error: Arc<Mutex<Option<String>>>,
    /// Fill every new tensor with NaN before its kernel runs (tests).
    poison: AtomicBool,
    tuning: Tuning,
    /// Lanes per subgroup where the device's kernels use subgroup operations
    /// (CPU tuning with a fixed subgroup width); `None` elsewhere.
    subgroup_size: Option<u32>,
    /// Floats one im2col buffer may hold on the CPU route of convolutions.
    im2col_budget: AtomicU64,
    /// How long a readback waits for the GPU ([`TIMEOUT_VAR`]).
    timeout: Duration,
    /// Floats of partial slabs (split-K, weight gradients) summed per pass.
    partial_budget: AtomicU64,
    /// `Some` while a per-kernel profile is being taken ([`Device::start_profile`]).
    profile: Mutex<Option<profile::Profile>>,
    id: u64,
}

/// One compute dispatch, as the kernel launchers describe it.
pub(crate) struct Dispatch<'a> {
    pub source: ShaderSource,
    pub entry: &'static str,
    pub constants: &'a [(&'static str, f64)],
    pub params: &'a [u8],
    pub inputs: &'a [&'a wgpu::Buffer],
    pub outputs: &'a [&'a wgpu::Buffer],
    pub workgroups: [u32; 3],
    /// Floating-point operations and bytes moved, for the profile's rates
    /// (0 where the launcher does not say).
    pub flops: f64,
    pub bytes: f64,
}

/// The environment variable that sets how long a readback may wait for the GPU.
pub const TIMEOUT_VAR: &str = "BALGAN_TIMEOUT_SECS";

/// How long a readback may wait for the GPU before giving up with an error:
/// `BALGAN_TIMEOUT_SECS` (seconds, a positive finite number) or 30 minutes.
/// A value that is not such a number is an error, not a silent default.
fn readback_timeout() -> Result<Duration> {
    let Some(raw) = std::env::var_os(TIMEOUT_VAR) else {
        return Ok(Duration::from_secs(1800));
    };
    let text = raw.to_string_lossy();
    let bad = |why: &str| {
        Error::invalid(
            "device",
            format!(
                "{TIMEOUT_VAR}={text:?} {why}; set it to a positive number of seconds (e.g. {TIMEOUT_VAR}=3600) or \
                 unset it for the default of 1800"
            ),
        )
    };
    let secs: f64 = text.trim().parse().map_err(|_| bad("is not a number"))?;
    if !secs.is_finite() || secs <= 0.0 {
        return Err(bad("is not a positive finite number of seconds"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| bad("is too large"))
}

static PRINTED: AtomicBool = AtomicBool::new(false);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Device {
    /// Open a device on the best adapter, honouring `BALGAN_BACKEND` and
    /// `BALGAN_ADAPTER`. Prints the chosen adapter once per process.
    pub fn new() -> Result<Device> {
        Device::with_options(DeviceOptions::from_env())
    }

    /// Open a device with explicit options.
    pub fn with_options(opts: DeviceOptions) -> Result<Device> {
        let timeout = readback_timeout()?;
        let (adapter, backend_reason) = adapter::choose_adapter(&opts)?;
        let info = adapter.get_info();
        // Ask for everything the adapter offers: the defaults are far below real
        // hardware (e.g. 128 MiB storage bindings, 16 KiB workgroup memory).
        let limits = adapter.limits();
        let tuning = match opts.tuning {
            Tuning::Auto if info.device_type == wgpu::DeviceType::Cpu => Tuning::Cpu,
            Tuning::Auto => Tuning::Gpu,
            t => t,
        };
        // Subgroups are asked for where they help: CPU drivers, whose subgroup
        // is one SIMD chunk of a fixed width (see kernels/matmul_subgroup.rs).
        let subgroup_size = (tuning == Tuning::Cpu
            && adapter.features().contains(wgpu::Features::SUBGROUP)
            && !opts.no_subgroups
            && info.subgroup_min_size == info.subgroup_max_size
            && crate::kernels::matmul_subgroup::SIZES.contains(&info.subgroup_min_size))
        .then_some(info.subgroup_min_size);
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("balgan"),
            required_features: match subgroup_size {
                Some(_) => wgpu::Features::SUBGROUP,
                None => wgpu::Features::empty(),
            },
            required_limits: limits.clone(),
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::DeviceRequest {
            adapter: info.name.clone(),
            message: e.to_string(),
        })?;
        let gpu_error: Arc<Mutex<Option<String>>> = Arc::default();
        {
            let sink = gpu_error.clone();
            device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
                let mut slot = lock(&sink);
                if slot.is_none() {
                    *slot = Some(e.to_string());
                }
            }));
            let sink = gpu_error.clone();
            device.set_device_lost_callback(move |reason, msg| {
                if reason != wgpu::DeviceLostReason::Destroyed {
                    let mut slot = lock(&sink);
                    if slot.is_none() {
                        *slot = Some(format!("device lost ({reason:?}): {msg}"));
                    }
                }
            });
        }
        if !opts.quiet && !PRINTED.swap(true, Ordering::Relaxed) {
            eprintln!(
                "balgan: adapter \"{}\" ({:?}, {:?})",
                info.name, info.backend, info.device_type
            );
            // GL is the slow route; say what would be faster.
            if info.backend == wgpu::Backend::Gl && opts.backend.is_none() {
                eprintln!("balgan: {backend_reason}");
            }
        }
        let recorder = Recorder::new(&device, limits.min_uniform_buffer_offset_alignment);
        Ok(Device {
            inner: Arc::new(DeviceInner {
                device,
                queue,
                info,
                backend_reason,
                limits,
                pool: BufferPool::default(),
                pipelines: PipelineCache::default(),
                recorder: Mutex::new(recorder),
                gpu_error,
                poison: AtomicBool::new(false),
                tuning,
                subgroup_size,
                im2col_budget: AtomicU64::new(16 << 20),
                timeout,
                partial_budget: AtomicU64::new(crate::kernels::reduce::MAX_PARTIAL_FLOATS as u64),
                profile: Mutex::new(None),
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            }),
        })
    }

    /// The adapter's name, backend, type and driver.
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.inner.info
    }

    /// Why balgan runs on this adapter's backend, e.g. `Vulkan: preferred over
    /// GL`, or `GL (software llvmpipe): no Vulkan driver found; install
    /// mesa-vulkan-drivers for up to twice the speed`.
    pub fn backend_reason(&self) -> &str {
        &self.inner.backend_reason
    }

    /// One line describing the adapter, e.g. `llvmpipe (LLVM 15.0.6, 256 bits) (Vulkan, Cpu)`.
    pub fn describe(&self) -> String {
        let i = &self.inner.info;
        format!("{} ({:?}, {:?})", i.name, i.backend, i.device_type)
    }

    /// Whether this adapter is a CPU (software) implementation such as lavapipe.
    pub fn is_software(&self) -> bool {
        self.inner.info.device_type == wgpu::DeviceType::Cpu
    }

    /// Lanes per subgroup when the device's kernels use subgroup operations
    /// (the matrix product on CPU drivers), `None` when they do not.
    pub fn subgroup_size(&self) -> Option<u32> {
        self.inner.subgroup_size
    }

    /// The kernel variants this device uses: `Gpu` or `Cpu`, never `Auto`.
    pub fn tuning(&self) -> Tuning {
        self.inner.tuning
    }

    /// How many floats the column buffer of a convolution may take when the
    /// device runs the im2col route (CPU drivers); batches are processed in
    /// chunks of whole images below it. Default 16 M floats (64 MiB); lower it
    /// to save memory, raise it for fewer, larger dispatches.
    pub fn set_im2col_budget(&self, floats: usize) {
        self.inner.im2col_budget.store(floats.max(1) as u64, Ordering::Relaxed);
    }

    /// Floats of partial slabs (the split-K products of long matmuls such as
    /// FID covariances, the chunks of convolution weight gradients) held at
    /// once before they are summed into the result: slabs are summed pass by
    /// pass as they are made, so the scratch stays within max(budget, 2 slabs)
    /// whatever the reduction length. Default
    /// [`MAX_PARTIAL_FLOATS`](crate::kernels::reduce::MAX_PARTIAL_FLOATS)
    /// (16 MiB); lower it to save memory, raise it for fewer passes.
    pub fn set_partial_budget(&self, floats: usize) {
        self.inner.partial_budget.store(floats.max(1) as u64, Ordering::Relaxed);
    }

    /// See [`Device::set_partial_budget`].
    pub fn partial_budget(&self) -> usize {
        self.inner.partial_budget.load(Ordering::Relaxed) as usize
    }

    pub(crate) fn im2col_budget(&self) -> usize {
        self.inner.im2col_budget.load(Ordering::Relaxed) as usize
    }

    /// The limits the device was opened with (the adapter's own).
    pub fn limits(&self) -> &wgpu::Limits {
        &self.inner.limits
    }

    /// Memory held by tensors, cached for reuse, and the peak.
    pub fn memory_stats(&self) -> MemoryStats {
        self.inner.pool.stats()
    }

    /// Give cached (free) buffers back to the driver.
    pub fn release_cached_memory(&self) {
        self.inner.pool.clear();
    }

    /// Restart [`MemoryStats::peak`] from the bytes allocated now, so that the
    /// peak of one stage of work can be measured on its own (call
    /// [`Device::release_cached_memory`] first to leave only live tensors).
    pub fn reset_peak_memory(&self) {
        self.inner.pool.reset_peak();
    }

    /// Total dispatches recorded and batches submitted on this device so far.
    pub fn dispatch_counts(&self) -> (u64, u64) {
        let r = lock(&self.inner.recorder);
        (r.total_dispatches, r.submissions)
    }

    /// When on, every newly allocated tensor is filled with NaN before the
    /// kernel that produces it runs, so an element a kernel fails to write
    /// shows up as NaN instead of a stale value. For tests; costs one fill
    /// dispatch per tensor.
    pub fn set_poison_outputs(&self, on: bool) {
        self.inner.poison.store(on, Ordering::Relaxed);
    }

    pub(crate) fn poison_outputs(&self) -> bool {
        self.inner.poison.load(Ordering::Relaxed)
    }

    /// Submit recorded work without waiting for it.
    pub fn flush(&self) -> Result<()> {
        lock(&self.inner.recorder).submit(&self.inner.queue);
        self.check_error()
    }

    /// Submit recorded work and wait until the GPU has finished all of it.
    pub fn synchronize(&self) -> Result<()> {
        let idx = lock(&self.inner.recorder).submit(&self.inner.queue);
        self.wait(idx)?;
        self.check_error()
    }

    pub(crate) fn same(&self, other: &Device) -> bool {
        self.inner.id == other.inner.id
    }

    fn check_error(&self) -> Result<()> {
        match lock(&self.inner.gpu_error).take() {
            Some(msg) => Err(Error::Gpu(msg)),
            None => Ok(()),
        }
    }

    fn wait(&self, idx: Option<wgpu::SubmissionIndex>) -> Result<()> {
        let deadline = Instant::now() + self.inner.timeout;
        loop {
            // No submission may run while a thread polls: wgpu-core 30.0.1 can
            // panic in `maintain` when a submit races a wait from another thread
            // (fixed upstream in gfx-rs/wgpu#9958). Every submit goes through the
            // recorder, so holding its lock serialises the two.
            let _no_submit = lock(&self.inner.recorder);
            let res = self.inner.device.poll(wgpu::PollType::Wait {
                submission_index: idx.clone(),
                timeout: Some(Duration::from_secs(5)),
            });
            match res {
                Ok(_) => return Ok(()),
                Err(wgpu::PollError::Timeout) if Instant::now() < deadline => continue,
                Err(e) => {
                    return Err(Error::Gpu(format!(
                        "waiting for the GPU failed: {e} (raise BALGAN_TIMEOUT_SECS for very long kernels)"
                    )))
                }
            }
        }
    }

    /// Check a buffer size against the adapter's limits before allocating it.
    pub(crate) fn check_binding_size(&self, what: &str, bytes: u64) -> Result<()> {
        let limit = (self.inner.limits.max_storage_buffer_binding_size).min(self.inner.limits.max_buffer_size);
        if bytes > limit {
            return Err(Error::LimitExceeded {
                what: format!("{what} of {bytes} bytes"),
                requested: bytes,
                limit,
            });
        }
        Ok(())
    }

    /// A pooled storage buffer of at least `bytes` (contents undefined: whatever
    /// the previous user left). Goes back to the pool when dropped.
    pub(crate) fn alloc(&self, bytes: u64) -> Result<PooledBuffer> {
        self.check_binding_size("tensor", bytes)?;
        let (buf, class) = self.inner.pool.take(&self.inner.device, bytes);
        Ok(PooledBuffer {
            buffer: Some(buf),
            class,
            device: self.clone(),
        })
    }

    /// A pooled buffer for `n` f32 values.
    pub(crate) fn alloc_f32(&self, n: usize) -> Result<PooledBuffer> {
        self.alloc((n as u64) * 4)
    }

    /// Copy host bytes into `dst`, ordered after all work recorded so far.
    pub(crate) fn upload(&self, dst: &wgpu::Buffer, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        use wgpu::util::DeviceExt;
        // A staging copy recorded into the encoder keeps queue order: a plain
        // `queue.write_buffer` would land before already-recorded dispatches that
        // may still read this (reused) buffer.
        let staging = self.inner.device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("balgan upload"),
            contents: bytes,
            usage: wgpu::BufferUsages::COPY_SRC,
        });
        let mut rec = lock(&self.inner.recorder);
        rec.encoder_for_copy(&self.inner.device)
            .copy_buffer_to_buffer(&staging, 0, dst, 0, bytes.len() as u64);
    }

    /// Read `bytes` bytes of `src` back to the host. Submits and waits.
    pub(crate) fn read(&self, src: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        if bytes == 0 {
            self.flush()?;
            return Ok(Vec::new());
        }
        let staging = self.inner.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("balgan readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let idx = {
            let mut rec = lock(&self.inner.recorder);
            rec.encoder_for_copy(&self.inner.device)
                .copy_buffer_to_buffer(src, 0, &staging, 0, bytes);
            rec.submit(&self.inner.queue)
        };
        let (tx, rx) = std::sync::mpsc::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        self.wait(idx)?;
        self.check_error()?;
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Error::Gpu(format!("mapping a readback buffer failed: {e}"))),
            Err(_) => return Err(Error::Gpu("readback never completed".into())),
        }
        let data = staging
            .get_mapped_range(..)
            .map_err(|e| Error::Gpu(format!("mapping a readback buffer failed: {e}")))?
            .to_vec();
        staging.unmap();
        Ok(data)
    }

    /// Record one dispatch: fetch (or build) the pipeline, bind, dispatch.
    pub(crate) fn dispatch(&self, d: &Dispatch<'_>) -> Result<()> {
        if d.workgroups.contains(&0) {
            return Ok(());
        }
        let max = self.inner.limits.max_compute_workgroups_per_dimension;
        if let Some(&w) = d.workgroups.iter().find(|&&w| w > max) {
            return Err(Error::LimitExceeded {
                what: format!("{} workgroups in one dimension", d.entry),
                requested: w as u64,
                limit: max as u64,
            });
        }
        let p = self.inner.pipelines.get(
            &self.inner.device,
            d.source,
            d.entry,
            d.constants,
            d.inputs.len() as u32,
            d.outputs.len() as u32,
        )?;
        let buffers: Vec<&wgpu::Buffer> = d.inputs.iter().chain(d.outputs.iter()).copied().collect();
        let profiling = lock(&self.inner.profile).is_some();
        if profiling {
            // Whatever was recorded before belongs to earlier rows.
            self.synchronize()?;
        }
        let start = Instant::now();
        lock(&self.inner.recorder).dispatch(
            &self.inner.device,
            &self.inner.queue,
            &p,
            d.params,
            &buffers,
            d.workgroups,
        )?;
        if profiling {
            self.synchronize()?;
            let mut name = format!("{}::{}", d.source.file.trim_end_matches(".wgsl"), d.entry);
            for (k, v) in d.constants {
                name.push_str(&format!(" {k}={v}"));
            }
            if let Some(p) = lock(&self.inner.profile).as_mut() {
                p.add(name, start.elapsed(), d.flops, d.bytes);
            }
        }
        Ok(())
    }

    /// Start a per-kernel profile (see [`Device::take_profile`]): from now on
    /// every dispatch is submitted alone and timed, which is slower.
    pub fn start_profile(&self) -> Result<()> {
        self.synchronize()?;
        *lock(&self.inner.profile) = Some(profile::Profile::default());
        Ok(())
    }

    /// Stop profiling and return each kernel's dispatches and time since
    /// [`Device::start_profile`], most time first (empty if none was started).
    pub fn take_profile(&self) -> Vec<KernelStat> {
        lock(&self.inner.profile)
            .take()
            .map(|mut p| p.take())
            .unwrap_or_default()
    }
}

/// A storage buffer borrowed from the device's pool; returned on drop.
pub(crate) struct PooledBuffer {
    buffer: Option<wgpu::Buffer>,
    class: u64,
    device: Device,
}

impl PooledBuffer {
    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        self.buffer.as_ref().expect("buffer is present until drop")
    }

    pub(crate) fn device(&self) -> &Device {
        &self.device
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        if let Some(buf) = self.buffer.take() {
            self.device.inner.pool.give_back(buf, self.class);
        }
    }
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Device({})", self.describe())
    }
}
