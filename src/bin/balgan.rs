//! The `balgan` command. For now: `balgan info` describes the GPU adapter the
//! engine would use and its limits (and exits non-zero, with the fix, when
//! there is none).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "balgan", version, about = "GPU engine for class-rebalancing VAEs and GANs")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show the adapter balgan chooses (honours BALGAN_BACKEND and BALGAN_ADAPTER) and its limits.
    Info,
}

fn info() -> balgan::Result<()> {
    let dev = balgan::Device::with_options(balgan::DeviceOptions {
        quiet: true,
        ..balgan::DeviceOptions::from_env()
    })?;
    let i = dev.adapter_info();
    let l = dev.limits();
    println!("adapter      {}", i.name);
    println!("backend      {:?}", i.backend);
    println!("type         {:?}", i.device_type);
    println!("driver       {} {}", i.driver, i.driver_info);
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
    // A tiny round trip proves the device really runs kernels.
    let t = balgan::Tensor::from_slice(&dev, &[1.0, 2.0, 3.0], &[3])?;
    let s = t.mul(&t)?.sum_all()?.item()?;
    if s != 14.0 {
        return Err(balgan::Error::Gpu(format!(
            "self-test computed 1²+2²+3² = {s}, expected 14"
        )));
    }
    println!("self-test    ok");
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Info => info(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("balgan: {e}");
            ExitCode::FAILURE
        }
    }
}
