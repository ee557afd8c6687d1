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

/// Eigenvalues and eigenvectors (columns of V) of a symmetric n×n matrix by
/// cyclic Jacobi rotations in f64.
fn jacobi_eigh(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    // V stored transposed (row k = eigenvector k) so rotations touch rows.
    let mut vt = vec![0.0; n * n];
    for i in 0..n {
        vt[i * n + i] = 1.0;
    }
    let total: f64 = a.iter().map(|x| x * x).sum();
    for _sweep in 0..100 {
        let mut off = 0.0;
        for p in 0..n {
            for q in p + 1..n {
                off += a[p * n + q] * a[p * n + q];
            }
        }
        if off <= 1e-30 * total {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq.abs() <= 1e-300 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = if theta == 0.0 {
                    1.0
                } else {
                    theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt())
                };
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                // Columns p, q (A symmetric: update rows, then mirror).
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (vp, vq) = (vt[p * n + k], vt[q * n + k]);
                    vt[p * n + k] = c * vp - s * vq;
                    vt[q * n + k] = s * vp + c * vq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), vt)
}

/// √A = Σ_k √λ_k·v_k·v_kᵀ in f64.
fn sqrt_ref(a: &[f64], n: usize) -> Vec<f64> {
    let (w, vt) = jacobi_eigh(a, n);
    let mut out = vec![0.0; n * n];
    for k in 0..n {
        let r = w[k].max(0.0).sqrt();
        let v = &vt[k * n..(k + 1) * n];
        for i in 0..n {
            let vi = r * v[i];
            let row = &mut out[i * n..(i + 1) * n];
            for j in 0..n {
                row[j] += vi * v[j];
            }
        }
    }
    out
}

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
