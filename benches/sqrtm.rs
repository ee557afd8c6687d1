//! Matrix square root of a random SPD matrix (A = G·Gᵀ/(2d) + 0.01·I, G [d, 2d]
//! Gaussian, κ ≈ 30–60): coupled Newton–Schulz on the GPU
//! (`balgan::metrics::sqrtm::sqrtm_psd`) against an f64 CPU reference (cyclic
//! Jacobi eigendecomposition, one thread, √A = V·diag(√λ)·Vᵀ).
//!
//! ```text
//! cargo bench --bench sqrtm                        # d = 256, 512, 1024, 2048
//! BALGAN_BENCH_QUICK=1 cargo bench --bench sqrtm   # d ≤ 512
//! ```
//!
//! The GPU time is one call after a warm-up call (pipelines compiled, buffers
//! pooled), ending in a `synchronize()`; it includes the per-iteration trace
//! readbacks of the stopping rule. The CPU reference is skipped at a size when
//! the previous size's time × 8 (O(d³)) predicts more than 60 s. Error columns:
//! ‖√A_gpu − √A_ref‖_F/‖√A_ref‖_F and the trace's relative error. Progress goes
//! to stderr; the markdown table is printed to stdout last.

use std::time::Instant;

use balgan::metrics::sqrtm::{sqrtm_psd, SqrtmOptions};
use balgan::{Device, Generator, Tensor};

/// The f64 reference, shared with the tests.
#[path = "../tests/common/jacobi.rs"]
mod jacobi;
use jacobi::sqrt_ref;

fn main() -> balgan::Result<()> {
    let quick = std::env::var("BALGAN_BENCH_QUICK").is_ok_and(|v| v == "1");
    let dev = Device::new()?;
    let sizes: &[usize] = if quick { &[256, 512] } else { &[256, 512, 1024, 2048] };
    let rng = Generator::new(7);
    let opts = SqrtmOptions::default();
    let mut rows = Vec::new();
    let mut cpu_prev: Option<f64> = None;
    for &d in sizes {
        let g = rng.normal(&dev, &[d, 2 * d], 0.0, 1.0)?;
        let mut eye = vec![0.0f32; d * d];
        for i in 0..d {
            eye[i * d + i] = 0.01;
        }
        let a = balgan::no_grad(|| {
            g.matmul_t(&g, false, true)?
                .mul_scalar(1.0 / (2 * d) as f32)?
                .add(&Tensor::from_slice(&dev, &eye, &[d, d])?)
        })?;
        eprintln!("d = {d}: GPU warm-up");
        sqrtm_psd(&a, &opts)?;
        dev.synchronize()?;
        eprintln!("d = {d}: GPU timed run");
        let t = Instant::now();
        let r = sqrtm_psd(&a, &opts)?;
        dev.synchronize()?;
        let gpu_ms = t.elapsed().as_secs_f64() * 1e3;
        let predicted = cpu_prev.map(|p| p * 8.0).unwrap_or(0.0);
        let cpu = if predicted > 60.0 {
            eprintln!("d = {d}: CPU reference skipped (predicted {predicted:.0} s > 60 s)");
            None
        } else {
            eprintln!("d = {d}: CPU f64 Jacobi");
            let a64: Vec<f64> = a.to_vec()?.into_iter().map(f64::from).collect();
            let t = Instant::now();
            let want = sqrt_ref(&a64, d);
            let secs = t.elapsed().as_secs_f64();
            cpu_prev = Some(secs);
            let got = r.root.to_vec()?;
            let num: f64 = got.iter().zip(&want).map(|(&g, &w)| (g as f64 - w).powi(2)).sum();
            let den: f64 = want.iter().map(|w| w * w).sum();
            let tr: f64 = (0..d).map(|i| want[i * d + i]).sum();
            Some((secs * 1e3, (num / den).sqrt(), (r.trace - tr) / tr))
        };
        if cpu.is_none() {
            cpu_prev = Some(predicted);
        }
        rows.push((d, r.iterations, r.residual, gpu_ms, cpu));
    }
    println!("\nMatrix square root on {}\n", dev.describe());
    println!(
        "| d | NS iterations | residual | GPU ms | CPU f64 Jacobi ms | GPU/CPU speed-up | ‖Δ√A‖/‖√A‖ | Δtrace/trace |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (d, it, res, gpu, cpu) in rows {
        match cpu {
            Some((cpu_ms, err, terr)) => println!(
                "| {d} | {it} | {res:.1e} | {gpu:.1} | {cpu_ms:.0} | {:.1}× | {err:.1e} | {terr:.1e} |",
                cpu_ms / gpu
            ),
            None => println!("| {d} | {it} | {res:.1e} | {gpu:.1} | skipped (> 60 s) | – | – | – |"),
        }
    }
    Ok(())
}
