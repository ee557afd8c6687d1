//! Dispatch overhead: long chains of tiny elementwise ops, counted with
//! `Device::dispatch_counts()`, timed for recording alone (the ops return as
//! soon as their dispatch is recorded) and in total (after `synchronize()`).
//!
//! ```text
//! cargo bench --bench dispatch
//! BALGAN_BENCH_QUICK=1 cargo bench --bench dispatch   # shorter chains
//! ```
//!
//! Each workload runs several times (5, or 3 in quick mode) and the run with
//! the median total time is reported: on a software adapter sharing the CPU
//! with the recording thread, single runs vary by 2× or more. Progress goes to
//! stderr; the markdown table is printed to stdout last, with a line
//! `RESULT dispatch.<workload> <µs> µs/dispatch` per workload (`chain_256`,
//! `chain_65536`, `round_trip`); `benches/dispatch.py` runs the same chains
//! in PyTorch (µs per op).

mod common;

use std::time::{Duration, Instant};

use balgan::{Device, Tensor};
use common::{adapter, config, quick, result};

struct Row {
    key: String,
    workload: String,
    dispatches: u64,
    batches: u64,
    record: Duration,
    total: Duration,
}

impl Row {
    fn markdown(&self) -> String {
        let per = |d: Duration| d.as_secs_f64() * 1e6 / self.dispatches.max(1) as f64;
        format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.2} | {:.1} | {:.0} |",
            self.workload,
            self.dispatches,
            self.batches,
            self.record.as_secs_f64() * 1e3,
            self.total.as_secs_f64() * 1e3,
            per(self.record),
            per(self.total),
            self.dispatches as f64 / self.total.as_secs_f64(),
        )
    }
}

/// `x ← (x·1.0001) + 0` repeated `reps` times on `elements` values (2 dispatches
/// each). Checks the result against the same chain in f32 on the host.
fn chain(dev: &Device, elements: usize, reps: usize) -> balgan::Result<Row> {
    let mut x = Tensor::ones(dev, &[elements])?;
    dev.synchronize()?;
    let (d0, b0) = dev.dispatch_counts();
    let start = Instant::now();
    for _ in 0..reps {
        x = x.mul_scalar(1.0001)?.add_scalar(0.0)?;
    }
    let record = start.elapsed();
    dev.synchronize()?;
    let total = start.elapsed();
    let (d1, b1) = dev.dispatch_counts();

    let mut expect = 1.0f32;
    for _ in 0..reps {
        expect = expect * 1.0001 + 0.0;
    }
    let got = x.to_vec()?;
    let worst = got.iter().fold(0.0f32, |m, &v| m.max((v - expect).abs() / expect));
    if worst > 1e-4 || !worst.is_finite() {
        eprintln!("FAILED: chain result differs from the host by {worst:e} (expected {expect})");
        std::process::exit(1);
    }
    Ok(Row {
        key: String::new(),
        workload: format!("{reps}× (mul_scalar, add_scalar), {elements} elements"),
        dispatches: d1 - d0,
        batches: b1 - b0,
        record,
        total,
    })
}

/// `reps` times: one tiny op, then read its single value back (submit + wait + map).
fn round_trips(dev: &Device, reps: usize) -> balgan::Result<Row> {
    let mut x = Tensor::zeros(dev, &[1])?;
    dev.synchronize()?;
    let (d0, b0) = dev.dispatch_counts();
    let start = Instant::now();
    let mut record = Duration::ZERO;
    for i in 0..reps {
        let t = Instant::now();
        x = x.add_scalar(1.0)?;
        record += t.elapsed();
        let v = x.item()?;
        if v != (i + 1) as f32 {
            eprintln!("FAILED: round trip {i} read {v}, expected {}", i + 1);
            std::process::exit(1);
        }
    }
    let total = start.elapsed();
    let (d1, b1) = dev.dispatch_counts();
    Ok(Row {
        key: String::new(),
        workload: format!("{reps}× (add_scalar, item()), 1 element"),
        dispatches: d1 - d0,
        batches: b1 - b0,
        record,
        total,
    })
}

/// The run with the median total time of `trials` runs of `f`.
fn median(trials: usize, mut f: impl FnMut() -> balgan::Result<Row>) -> balgan::Result<Row> {
    let mut runs = (0..trials).map(|_| f()).collect::<balgan::Result<Vec<Row>>>()?;
    runs.sort_by_key(|r| r.total);
    Ok(runs.swap_remove(trials / 2))
}

fn main() -> balgan::Result<()> {
    let quick = quick();
    let dev = Device::new()?;
    // Warm-up: compile the pipelines and fill the buffer pool.
    chain(&dev, 256, 100)?;
    round_trips(&dev, 5)?;

    let (scale, trials) = if quick { (4, 3) } else { (1, 5) };
    let mut rows = Vec::new();
    eprintln!("timing chains ...");
    let keyed = |key: &str, row: Row| Row { key: key.into(), ..row };
    rows.push(keyed("chain_256", median(trials, || chain(&dev, 256, 10_000))?));
    // 500 dispatches fit in one batch: nothing is submitted while recording,
    // so recording does not share the CPU with a software adapter's execution.
    rows.push(keyed("chain_256_one_batch", median(trials, || chain(&dev, 256, 250))?));
    rows.push(keyed(
        "chain_65536",
        median(trials, || chain(&dev, 65_536, 1_000 / scale))?,
    ));
    eprintln!("timing round trips ...");
    rows.push(keyed("round_trip", median(trials, || round_trips(&dev, 200 / scale))?));

    println!(
        "\ndispatch overhead on {}{} (median of {trials} runs)\n",
        dev.describe(),
        if quick { " (quick)" } else { "" }
    );
    println!(
        "| workload | dispatches | batches | record ms | total ms | record µs/dispatch | total µs/dispatch | dispatches/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in &rows {
        println!("{}", r.markdown());
    }
    println!();
    adapter(&dev);
    config(
        "dispatch",
        &[
            ("chain_256", "10000".into()),
            ("chain_256_one_batch", "250".into()),
            ("chain_65536", (1_000 / scale).to_string()),
            ("round_trip", (200 / scale).to_string()),
            ("trials", trials.to_string()),
        ],
    );
    for r in &rows {
        result(
            &format!("dispatch.{}", r.key),
            r.total.as_secs_f64() * 1e6 / r.dispatches.max(1) as f64,
            "µs/dispatch",
        );
    }
    Ok(())
}
