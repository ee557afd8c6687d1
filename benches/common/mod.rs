//! What the benches share: their environment settings, the machine-readable
//! lines `benches/compare.py` reads, and the per-kernel profile of a step.
//!
//! Every bench prints its human tables and, beside them, lines of the form
//!
//! ```text
//! ADAPTER <description>            the adapter it ran on
//! CONFIG <bench> key=value …        the sizes it ran (the PyTorch peer prints the same)
//! RESULT <name> <value> <unit>      one figure
//! ```
//!
//! Environment (each bench reads the ones it uses):
//! - `BALGAN_BENCH_QUICK=1`: the short sizes (a CPU adapter's run);
//! - `BALGAN_BENCH_SIZE`, `BALGAN_BENCH_BATCH`, `BALGAN_BENCH_STEPS`: override them;
//! - `BALGAN_BENCH_PROFILE=0`: no per-kernel profile (it is printed by default).

#![allow(dead_code)] // each bench uses its own part

use balgan::device::{profile_summary, profile_table, KernelStat};
use balgan::Device;

/// `BALGAN_BENCH_QUICK=1`.
pub fn quick() -> bool {
    std::env::var("BALGAN_BENCH_QUICK").is_ok_and(|v| v == "1")
}

/// A positive integer from the environment; a value that is set but not one
/// stops the bench (a silent default would time other sizes than asked).
pub fn env_usize(name: &str) -> Option<usize> {
    let v = std::env::var(name).ok()?;
    match v.trim().parse::<usize>() {
        Ok(n) if n > 0 => Some(n),
        _ => {
            eprintln!("{name}={v}: expected a positive integer");
            std::process::exit(2);
        }
    }
}

/// Whether to take the per-kernel profile of each step (on unless `BALGAN_BENCH_PROFILE=0`).
pub fn profiling() -> bool {
    std::env::var("BALGAN_BENCH_PROFILE").map_or(true, |v| v != "0")
}

/// `RESULT <name> <value> <unit>`: one figure for `benches/compare.py`.
pub fn result(name: &str, value: f64, unit: &str) {
    println!("RESULT {name} {value:.6} {unit}");
}

/// `ADAPTER <description>`: the adapter the figures are from.
pub fn adapter(dev: &Device) {
    println!("ADAPTER {}", dev.describe());
}

/// `CONFIG <bench> k=v …`: the sizes a bench ran, which its PyTorch peer must match.
pub fn config(bench: &str, pairs: &[(&str, String)]) {
    let kv: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("CONFIG {bench} {}", kv.join(" "));
}

/// Runs `step` once under the per-kernel profile and prints its table with
/// the dispatch count and the GEMMs' rate, as RESULT lines under `name` too.
/// The step must already have run once (pipelines compiled, buffers pooled),
/// or compilation is counted as kernel time.
pub fn profile_step(
    dev: &Device,
    title: &str,
    name: &str,
    step: impl FnOnce() -> balgan::Result<()>,
) -> balgan::Result<Vec<KernelStat>> {
    dev.synchronize()?;
    dev.start_profile()?;
    let run = step().and_then(|()| dev.synchronize());
    let rows = dev.take_profile();
    run?;
    let s = profile_summary(&rows);
    println!("\n{title}, per kernel (one step, each dispatch submitted alone and waited for):\n");
    println!("{}", profile_table(&rows));
    println!(
        "{title}: {} dispatches; GEMMs {:.2} GFLOP/s over the step ({} dispatches, {:.0} % of its profiled time)",
        s.dispatches,
        s.gemm_gflops(),
        s.gemm_dispatches,
        s.gemm_share() * 100.0
    );
    result(&format!("{name}.profile_dispatches"), s.dispatches as f64, "dispatches");
    result(&format!("{name}.profile_ms"), s.time.as_secs_f64() * 1e3, "ms");
    result(&format!("{name}.gemm_gflops"), s.gemm_gflops(), "GFLOP/s");
    result(&format!("{name}.gemm_share"), s.gemm_share() * 100.0, "%");
    Ok(rows)
}
