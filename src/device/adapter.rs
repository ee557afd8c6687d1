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
    /// Keep to the kernels that need no subgroup operations, even where the
    /// adapter has them (on CPU drivers the matrix product shares operands
    /// across SIMD lanes through them). `from_env` sets it when
    /// `BALGAN_SUBGROUPS` is `0`, `false`, `off` or `no`.
    pub no_subgroups: bool,
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
    /// Options taken from `BALGAN_BACKEND`, `BALGAN_ADAPTER` and
    /// `BALGAN_SUBGROUPS`.
    pub fn from_env() -> DeviceOptions {
        let get = |k: &str| std::env::var(k).ok().filter(|s| !s.trim().is_empty());
        DeviceOptions {
            backend: get("BALGAN_BACKEND"),
            adapter: get("BALGAN_ADAPTER"),
            quiet: false,
            tuning: Tuning::Auto,
            no_subgroups: matches!(
                get("BALGAN_SUBGROUPS")
                    .map(|v| v.trim().to_ascii_lowercase())
                    .as_deref(),
                Some("0" | "false" | "off" | "no")
            ),
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

/// Rank adapters: discrete > integrated > virtual > software (CPU) > other,
/// and for the same kind Vulkan/Metal/DX12 over GL: compute is a GL
/// afterthought, and Mesa's llvmpipe through GL has measured half the matmul
/// throughput of the same CPU through Vulkan (lavapipe).
fn preference(backend: wgpu::Backend, device_type: wgpu::DeviceType) -> u32 {
    use wgpu::DeviceType::*;
    let kind = match device_type {
        DiscreteGpu => 4,
        IntegratedGpu => 3,
        VirtualGpu => 2,
        Cpu => 1,
        Other => 0,
    };
    let backend = match backend {
        wgpu::Backend::Gl => 0,
        _ => 1,
    };
    kind * 2 + backend
}

/// Why balgan runs on this adapter's backend, in one line for `balgan info`:
/// chosen by `BALGAN_BACKEND` (`forced`), preferred over GL, or GL because no
/// Vulkan/Metal/DX12 driver has an adapter (with what to install).
pub(crate) fn backend_reason(
    backend: wgpu::Backend,
    device_type: wgpu::DeviceType,
    name: &str,
    forced: Option<&str>,
) -> String {
    let api = match backend {
        wgpu::Backend::Vulkan => "Vulkan",
        wgpu::Backend::Metal => "Metal",
        wgpu::Backend::Dx12 => "DX12",
        wgpu::Backend::Gl => "GL",
        other => other.to_str(),
    };
    let cpu = device_type == wgpu::DeviceType::Cpu;
    let what = if cpu {
        // Mesa's Vulkan and GL software drivers both call their adapter llvmpipe.
        let driver = match name.split_whitespace().next() {
            Some("llvmpipe") if backend == wgpu::Backend::Vulkan => "lavapipe",
            Some(first) => first,
            None => "adapter",
        };
        format!("{api} (software {driver})")
    } else {
        api.to_string()
    };
    if let Some(b) = forced {
        return format!("{what}: chosen by BALGAN_BACKEND={b}");
    }
    match (backend, cpu) {
        (wgpu::Backend::Gl, true) => {
            format!("{what}: no Vulkan driver found; install mesa-vulkan-drivers for up to twice the speed")
        }
        (wgpu::Backend::Gl, false) => format!(
            "{what}: no Vulkan, Metal or DX12 driver found; GL is the slowest route for compute, install the GPU's Vulkan driver"
        ),
        (_, true) => format!("{what}: preferred over GL (no GPU has a {api} driver here)"),
        (_, false) => format!("{what}: preferred over GL"),
    }
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

/// The best adapter for `opts`, and why its backend ([`backend_reason`]).
pub(crate) fn choose_adapter(opts: &DeviceOptions) -> Result<(wgpu::Adapter, String)> {
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
        .max_by_key(|a| {
            let i = a.get_info();
            preference(i.backend, i.device_type)
        });
    let Some(best) = best else {
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
        return Err(Error::NoAdapter { filter, hint });
    };
    let i = best.get_info();
    let mut reason = backend_reason(i.backend, i.device_type, &i.name, opts.backend.as_deref());
    if let Some(a) = &opts.adapter {
        reason.push_str(&format!(" (among adapters matching BALGAN_ADAPTER={a})"));
    }
    Ok((best, reason))
}

#[cfg(test)]
mod tests {
    use super::{backend_reason, preference};
    use wgpu::{Backend, DeviceType};

    #[test]
    fn vulkan_is_preferred_over_gl_for_the_same_adapter_kind() {
        for kind in [
            DeviceType::Cpu,
            DeviceType::IntegratedGpu,
            DeviceType::DiscreteGpu,
            DeviceType::VirtualGpu,
            DeviceType::Other,
        ] {
            for primary in [Backend::Vulkan, Backend::Metal, Backend::Dx12] {
                assert!(
                    preference(primary, kind) > preference(Backend::Gl, kind),
                    "{primary:?} vs Gl on {kind:?}"
                );
            }
        }
        // A real GPU still beats a software adapter, whatever the backend.
        assert!(preference(Backend::Gl, DeviceType::IntegratedGpu) > preference(Backend::Vulkan, DeviceType::Cpu));
    }

    #[test]
    fn backend_reason_says_why_and_what_to_install() {
        let name = "llvmpipe (LLVM 15.0.6, 256 bits)";
        let gl = backend_reason(Backend::Gl, DeviceType::Cpu, name, None);
        assert!(gl.starts_with("GL (software llvmpipe): no Vulkan driver found"), "{gl}");
        assert!(gl.contains("install mesa-vulkan-drivers"), "{gl}");
        let vk = backend_reason(Backend::Vulkan, DeviceType::Cpu, name, None);
        assert!(vk.starts_with("Vulkan (software lavapipe): "), "{vk}");
        assert!(vk.contains("preferred over GL"), "{vk}");
        assert!(!vk.contains("install"), "{vk}");
        let gpu = backend_reason(Backend::Vulkan, DeviceType::DiscreteGpu, "NVIDIA H100", None);
        assert_eq!(gpu, "Vulkan: preferred over GL");
        let gl_gpu = backend_reason(Backend::Gl, DeviceType::IntegratedGpu, "Mesa Intel(R) UHD", None);
        assert!(gl_gpu.contains("install the GPU's Vulkan driver"), "{gl_gpu}");
        assert!(!gl_gpu.contains("mesa-vulkan-drivers"), "{gl_gpu}");
        // A forced backend is the user's choice: no advice to install anything.
        let forced = backend_reason(Backend::Gl, DeviceType::Cpu, name, Some("gl"));
        assert_eq!(forced, "GL (software llvmpipe): chosen by BALGAN_BACKEND=gl");
    }
}
