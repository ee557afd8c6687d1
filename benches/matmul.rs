//! GFLOP/s of `Tensor::matmul` / `matmul_t`: square products, the three
//! products of a batch-128 linear layer (forward, dW = xᵀ·dy, dx = dy·Wᵀ), and
//! deep split-K products (M = N = 64, K = 32768); where the subgroup product
//! runs (CPU drivers with subgroups), 1024³ with each of its tiles forced.
//!
//! ```text
//! cargo bench --bench matmul
//! BALGAN_BENCH_QUICK=1 cargo bench --bench matmul   # fewer iterations, no 2048³
//! ```
//!
//! Each case is warmed up (pipeline compiled, buffers pooled), probed to pick
//! an iteration count that fills the time budget, then timed as N calls
//! between two `synchronize()`s. FLOPs = 2·M·N·K. Progress goes to stderr; the
//! markdown table is printed to stdout last, with a line
//! `RESULT matmul.<M>x<N>x<K>.<product> <GFLOP/s> GFLOP/s` per case (the
//! product as `ab`, `atb`, `abt`: which operand is transposed);
//! `benches/matmul.py` times the same products in PyTorch.

mod common;

use std::time::{Duration, Instant};

use balgan::{Device, Generator, Tensor};
use common::{adapter, config, quick, result};

struct Case {
    label: &'static str,
    op: &'static str,
    a: Tensor,
    b: Tensor,
    trans_a: bool,
    trans_b: bool,
    m: usize,
    n: usize,
    k: usize,
}

struct Timing {
    iters: usize,
    per_call: Duration,
}

struct Budget {
    target: Duration,
    probe: Duration,
    min_iters: usize,
    max_iters: usize,
}

/// Warm up, probe, then time `iters` calls between two synchronizations.
fn time_case(dev: &Device, case: &Case, budget: &Budget) -> balgan::Result<Timing> {
    let call = || case.a.matmul_t(&case.b, case.trans_a, case.trans_b);
    call()?;
    dev.synchronize()?;
    // Probe with a growing number of calls until the batch takes `probe`.
    let mut n = 1usize;
    let per_call = loop {
        let t = Instant::now();
        for _ in 0..n {
            call()?;
        }
        dev.synchronize()?;
        let elapsed = t.elapsed();
        if elapsed >= budget.probe || n >= budget.max_iters {
            break elapsed / n as u32;
        }
        n = (n * 4).min(budget.max_iters);
    };
    let iters = ((budget.target.as_secs_f64() / per_call.as_secs_f64().max(1e-9)) as usize)
        .clamp(budget.min_iters, budget.max_iters);
    let t = Instant::now();
    for _ in 0..iters {
        call()?;
    }
    dev.synchronize()?;
    Ok(Timing {
        iters,
        per_call: t.elapsed() / iters as u32,
    })
}

fn main() -> balgan::Result<()> {
    let quick = quick();
    let dev = Device::new()?;
    let budget = if quick {
        Budget {
            target: Duration::from_millis(250),
            probe: Duration::from_millis(50),
            min_iters: 2,
            max_iters: 5_000,
        }
    } else {
        Budget {
            target: Duration::from_secs(1),
            probe: Duration::from_millis(100),
            min_iters: 3,
            max_iters: 20_000,
        }
    };
    let rng = Generator::new(0);
    // A random [rows, cols] operand.
    let mat = |rows: usize, cols: usize| rng.normal(&dev, &[rows, cols], 0.0, 1.0);

    let mut cases = Vec::new();
    let mut square = vec![256, 1024];
    if !quick {
        square.push(2048);
    }
    for s in square {
        cases.push(Case {
            label: "square",
            op: "A·B",
            a: mat(s, s)?,
            b: mat(s, s)?,
            trans_a: false,
            trans_b: false,
            m: s,
            n: s,
            k: s,
        });
    }
    // A linear layer y = x·W with x [128, d_in], W [d_in, d_out], dy [128, d_out].
    for (d_in, d_out) in [(784, 1024), (1024, 1024)] {
        let label = if d_in == 784 {
            "linear 784→1024, batch 128"
        } else {
            "linear 1024→1024, batch 128"
        };
        let x = mat(128, d_in)?;
        let w = mat(d_in, d_out)?;
        let dy = mat(128, d_out)?;
        cases.push(Case {
            label,
            op: "y = x·W",
            a: x.clone(),
            b: w.clone(),
            trans_a: false,
            trans_b: false,
            m: 128,
            n: d_out,
            k: d_in,
        });
        cases.push(Case {
            label,
            op: "dW = xᵀ·dy",
            a: x,
            b: dy.clone(),
            trans_a: true,
            trans_b: false,
            m: d_in,
            n: d_out,
            k: 128,
        });
        cases.push(Case {
            label,
            op: "dx = dy·Wᵀ",
            a: dy,
            b: w,
            trans_a: false,
            trans_b: true,
            m: 128,
            n: d_in,
            k: d_out,
        });
    }
    // Deep products: a weight gradient over 32768 positions (split-K).
    let (k, c) = (32768, 64);
    cases.push(Case {
        label: "split-K, A [32768, 64]",
        op: "Aᵀ·B",
        a: mat(k, c)?,
        b: mat(k, c)?,
        trans_a: true,
        trans_b: false,
        m: c,
        n: c,
        k,
    });
    cases.push(Case {
        label: "split-K, A [64, 32768]",
        op: "A·B",
        a: mat(c, k)?,
        b: mat(k, c)?,
        trans_a: false,
        trans_b: false,
        m: c,
        n: c,
        k,
    });
    dev.synchronize()?;

    let mut rows = Vec::new();
    for case in &cases {
        eprintln!(
            "timing {} {} ({}×{}×{}) ...",
            case.label, case.op, case.m, case.n, case.k
        );
        let t = time_case(&dev, case, &budget)?;
        let ms = t.per_call.as_secs_f64() * 1e3;
        let gflops = 2.0 * (case.m * case.n * case.k) as f64 / t.per_call.as_secs_f64() / 1e9;
        let product = match (case.trans_a, case.trans_b) {
            (false, false) => "ab",
            (true, false) => "atb",
            (false, true) => "abt",
            (true, true) => "atbt",
        };
        result(
            &format!("matmul.{}x{}x{}.{product}", case.m, case.n, case.k),
            gflops,
            "GFLOP/s",
        );
        rows.push(format!(
            "| {} | {} | {}×{}×{} | {} | {:.3} | {:.2} |",
            case.label, case.op, case.m, case.n, case.k, t.iters, ms, gflops
        ));
    }

    adapter(&dev);
    config("matmul", &[("quick", quick.to_string())]);
    println!(
        "\nmatmul on {}{}\n",
        dev.describe(),
        if quick { " (quick)" } else { "" }
    );
    println!("| shape | product | M×N×K | iters | ms/call | GFLOP/s |");
    println!("|---|---|---:|---:|---:|---:|");
    for r in rows {
        println!("{r}");
    }
    if dev.subgroup_size().is_some() {
        subgroup_tiles(&dev, &budget, &mat(1024, 1024)?, &mat(1024, 1024)?)?;
    }
    Ok(())
}

/// The subgroup product (CPU drivers with subgroups) at 1024³ with each
/// tile forced: the rates behind the launcher's choice
/// (`SHAPES` in src/kernels/matmul_subgroup.rs).
fn subgroup_tiles(dev: &Device, budget: &Budget, a: &Tensor, b: &Tensor) -> balgan::Result<()> {
    use balgan::kernels::matmul_subgroup::{tile_shapes, with_tile, SubgroupTile};
    let case = Case {
        label: "square",
        op: "A·B",
        a: a.clone(),
        b: b.clone(),
        trans_a: false,
        trans_b: false,
        m: 1024,
        n: 1024,
        k: 1024,
    };
    println!("\nsubgroup product, 1024³ A·B, each tile forced (R rows per lane, W shared columns)\n");
    println!("| R | W | ms/call | GFLOP/s |");
    println!("|---:|---:|---:|---:|");
    for (rows, cols) in tile_shapes() {
        eprintln!("timing the subgroup tile R = {rows}, W = {cols} ...");
        let t = with_tile(SubgroupTile { rows, cols }, || time_case(dev, &case, budget))?;
        let gflops = 2.0 * 1024f64.powi(3) / t.per_call.as_secs_f64() / 1e9;
        result(&format!("matmul.subgroup_r{rows}_w{cols}"), gflops, "GFLOP/s");
        println!(
            "| {rows} | {cols} | {:.3} | {gflops:.2} |",
            t.per_call.as_secs_f64() * 1e3
        );
    }
    Ok(())
}
