//! Adapter choice: any backend, forced by `BALGAN_BACKEND` / `BALGAN_ADAPTER`.

use crate::error::{Error, Result};

/// How to pick an adapter. The defaults read the environment.
#[derive(Debug, Clone, Default)]
pub struct DeviceOptions {
    /// Backend to use: `vulkan`, `metal`, `dx12` or `gl`. `None` allows all.
    /// Defaults to the `BALGAN_BACKEND` environment variable.
    pub backend: Option<String>,
    /// Case-insensitive substring of the adapter name (e.g. `"llvmpipe"`,
    /// `"nvidia"`). Defaults to the `BALGAN_ADAPTER` environment variable.
    pub adapter: Option<String>,
    /// Do not print the chosen adapter to stderr.
    pub quiet: bool,
    /// Which kernel variants to use; `Auto` picks by adapter type.
    pub tuning: Tuning,
}

/// Kernel variants are tuned either for GPUs or for CPU drivers such as
/// lavapipe, where a workgroup runs on one thread, invocations run as SIMD
/// lanes, and every barrier suspends and resumes each invocation. Results are
/// the same either way (to rounding); only speed differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tuning {
    /// `Cpu` on CPU adapters, `Gpu` otherwise.
    #[default]
    Auto,
    /// Workgroup-memory tiling and workgroup-wide trees.
    Gpu,
    /// Barrier-free register tiles and one invocation per reduced row.
    Cpu,
}

impl DeviceOptions {
    /// Options taken from `BALGAN_BACKEND` and `BALGAN_ADAPTER`.
    pub fn from_env() -> DeviceOptions {
        let get = |k: &str| std::env::var(k).ok().filter(|s| !s.trim().is_empty());
        DeviceOptions {
            backend: get("BALGAN_BACKEND"),
            adapter: get("BALGAN_ADAPTER"),
            quiet: false,
            tuning: Tuning::Auto,
        }
    }
}

pub(crate) fn parse_backends(name: Option<&str>) -> Result<wgpu::Backends> {
    let Some(name) = name else {
        return Ok(wgpu::Backends::all());
    };
    match name.trim().to_ascii_lowercase().as_str() {
        "vulkan" | "vk" => Ok(wgpu::Backends::VULKAN),
        "metal" | "mtl" => Ok(wgpu::Backends::METAL),
        "dx12" | "d3d12" => Ok(wgpu::Backends::DX12),
        "gl" | "gles" | "opengl" => Ok(wgpu::Backends::GL),
        other => Err(Error::invalid(
            "BALGAN_BACKEND",
            format!("unknown backend '{other}'; use one of vulkan, metal, dx12, gl"),
        )),
    }
}

/// Rank adapters: discrete > integrated > virtual > software (CPU) > other.
fn preference(info: &wgpu::AdapterInfo) -> u32 {
    use wgpu::DeviceType::*;
    let kind = match info.device_type {
        DiscreteGpu => 4,
        IntegratedGpu => 3,
        VirtualGpu => 2,
        Cpu => 1,
        Other => 0,
    };
    // Prefer Vulkan/Metal/DX12 over GL for the same device: compute is a GL afterthought.
    let backend = match info.backend {
        wgpu::Backend::Gl => 0,
        _ => 1,
    };
    kind * 2 + backend
}

fn no_adapter_hint() -> String {
    let mut hint = String::from(
        "balgan needs a Vulkan, Metal, DX12 or GL driver. Without a GPU, install a software Vulkan driver: \
         on Debian/Ubuntu `sudo apt-get install mesa-vulkan-drivers` (lavapipe), on Fedora `sudo dnf install mesa-vulkan-drivers`, \
         on macOS Metal is always present, on Windows update the GPU driver or install WARP/Mesa.",
    );
    if std::env::var_os("VK_DRIVER_FILES").is_some() || std::env::var_os("VK_ICD_FILENAMES").is_some() {
        hint.push_str(" Note: VK_DRIVER_FILES/VK_ICD_FILENAMES is set and may hide installed drivers.");
    }
    hint
}

fn adapters_of(backends: wgpu::Backends) -> Vec<wgpu::Adapter> {
    if backends.is_empty() {
        return Vec::new();
    }
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
        backends,
        ..wgpu::InstanceDescriptor::new_without_display_handle()
    });
    pollster::block_on(instance.enumerate_adapters(backends))
}

pub(crate) fn choose_adapter(opts: &DeviceOptions) -> Result<wgpu::Adapter> {
    let backends = parse_backends(opts.backend.as_deref())?;
    // Probe GL only when no primary backend (Vulkan, Metal, DX12) has an
    // adapter: GL is the last resort for compute, and starting it is noisy.
    let mut adapters = adapters_of(backends & wgpu::Backends::PRIMARY);
    if adapters.is_empty() && backends.contains(wgpu::Backends::GL) {
        adapters = adapters_of(wgpu::Backends::GL);
    }
    let wanted = opts.adapter.as_ref().map(|s| s.to_ascii_lowercase());
    let names: Vec<String> = adapters
        .iter()
        .map(|a| {
            let i = a.get_info();
            format!("{} ({:?})", i.name, i.backend)
        })
        .collect();
    let best = adapters
        .into_iter()
        .filter(|a| match &wanted {
            Some(w) => a.get_info().name.to_ascii_lowercase().contains(w),
            None => true,
        })
        .max_by_key(|a| preference(&a.get_info()));
    best.ok_or_else(|| {
        let mut filter = String::new();
        if let Some(b) = &opts.backend {
            filter.push_str(&format!(" for backend '{b}'"));
        }
        if let Some(a) = &opts.adapter {
            filter.push_str(&format!(" matching '{a}'"));
        }
        let hint = if names.is_empty() {
            no_adapter_hint()
        } else {
            format!(
                "Adapters present: {}. Unset BALGAN_BACKEND/BALGAN_ADAPTER or choose one of these.",
                names.join(", ")
            )
        };
        Error::NoAdapter { filter, hint }
    })
}
