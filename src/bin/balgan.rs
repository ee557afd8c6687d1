//! The `balgan` command.
//!
//! - `balgan info`: the adapter balgan chooses and its limits (non-zero exit,
//!   with the fix, when there is none).
//! - `balgan data summary`: a dataset's per-class counts and imbalance rate,
//!   and the counts under each imbalance recipe.

use std::path::PathBuf;
use std::process::ExitCode;

use balgan::cli::data::{summary, DatasetKind, SummaryOptions};
use balgan::data::imbalance::Recipe;
use balgan::data::Split;
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
    /// Inspect datasets.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Per-class counts and imbalance rate, then the counts each imbalance recipe keeps.
    Summary {
        /// fashion-mnist (default; found without --data when the Debian package
        /// dataset-fashion-mnist is installed), cifar10, or folder (one sub-folder per class).
        #[arg(long, default_value = "fashion-mnist")]
        dataset: DatasetKind,
        /// Directory holding the dataset (or set BALGAN_DATA).
        #[arg(long)]
        data: Option<PathBuf>,
        /// train or test.
        #[arg(long, default_value = "train")]
        split: Split,
        /// Square size images from a folder are resized to.
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// An imbalance recipe, e.g. ir:100, bagan-gp:fashion-mnist, aggan:fashion-mnist,
        /// step:mu=0.1,rho=20, discard:class=0,rate=0.95 (repeatable; default: the
        /// published ones for the dataset).
        #[arg(long = "imbalance")]
        recipes: Vec<Recipe>,
        /// Seed of the random selection.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
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
    println!("tuning       {:?}", dev.tuning());
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
        Command::Data {
            command:
                DataCommand::Summary {
                    dataset,
                    data,
                    split,
                    size,
                    recipes,
                    seed,
                },
        } => summary(&SummaryOptions {
            dataset,
            data,
            split,
            size,
            recipes,
            seed,
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("balgan: {e}");
            ExitCode::FAILURE
        }
    }
}
