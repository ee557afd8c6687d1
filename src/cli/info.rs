//! `balgan info`: the adapter balgan chooses (honouring `BALGAN_BACKEND` and
//! `BALGAN_ADAPTER`), why its backend, its limits, and a self-test that proves
//! it runs kernels. With `--backend` it prints one machine-readable line
//! instead, which `./run` reads to decide whether to install Vulkan's software
//! driver.

use crate::device::{Device, DeviceOptions};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The backend and adapter type in lower case, e.g. `vulkan cpu`, `gl cpu`,
/// `vulkan discrete`, `metal integrated`. The backend is one of `vulkan`,
/// `metal`, `dx12`, `gl`; the type one of `discrete`, `integrated`,
/// `virtual`, `cpu` (a software driver such as lavapipe or llvmpipe), `other`.
pub fn backend_line(info: &wgpu::AdapterInfo) -> String {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => "discrete",
        wgpu::DeviceType::IntegratedGpu => "integrated",
        wgpu::DeviceType::VirtualGpu => "virtual",
        wgpu::DeviceType::Cpu => "cpu",
        wgpu::DeviceType::Other => "other",
    };
    format!("{} {kind}", info.backend.to_str())
}

/// A tiny round trip that proves the device really runs kernels.
pub fn self_test(dev: &Device) -> Result<()> {
    let t = Tensor::from_slice(dev, &[1.0, 2.0, 3.0], &[3])?;
    let s = t.mul(&t)?.sum_all()?.item()?;
    if s != 14.0 {
        return Err(Error::Gpu(format!(
            "self-test on {} computed 1²+2²+3² = {s}, expected 14",
            dev.describe()
        )));
    }
    Ok(())
}

/// Run `balgan info`. `backend_only`: run the self-test, then print only
/// [`backend_line`] (nothing on stdout when no adapter works: the error says
/// what to install).
pub fn info(backend_only: bool) -> Result<()> {
    let dev = Device::with_options(DeviceOptions {
        quiet: true,
        ..DeviceOptions::from_env()
    })?;
    let i = dev.adapter_info();
    if backend_only {
        self_test(&dev)?;
        println!("{}", backend_line(i));
        return Ok(());
    }
    let l = dev.limits();
    println!("adapter      {}", i.name);
    println!("backend      {}", dev.backend_reason());
    println!("type         {:?}", i.device_type);
    println!("driver       {} {}", i.driver, i.driver_info);
    println!("tuning       {:?}", dev.tuning());
    match dev.subgroup_size() {
        Some(n) => println!("subgroups    {n} lanes (the matrix product shares operands through them)"),
        None => println!("subgroups    not used"),
    }
    println!(
        "max storage binding      {} MiB",
        l.max_storage_buffer_binding_size / (1 << 20)
    );
    println!("max workgroups per dim   {}", l.max_compute_workgroups_per_dimension);
    println!("max invocations/group    {}", l.max_compute_invocations_per_workgroup);
    println!(
        "workgroup memory         {} KiB",
        l.max_compute_workgroup_storage_size / 1024
    );
    self_test(&dev)?;
    println!("self-test    ok");
    Ok(())
}
