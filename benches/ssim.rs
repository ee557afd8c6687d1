//! SSIM throughput on the GPU, in image pairs per second, for the image sizes
//! of the published models: 28×28×1 (MNIST, Fashion-MNIST), 64×64×1 and
//! 64×64×3 (BAGAN-GP, SGBGAN), batch 128. The time per batch covers the GPU
//! work and the readback of the N values; the images are already on the device.
//!
//! ```text
//! cargo bench --bench ssim
//! BALGAN_BENCH_QUICK=1 cargo bench --bench ssim   # batch 16 (for CPU drivers)
//! ```

use std::time::Instant;

use balgan::metrics::ssim::ssim;
use balgan::{Device, Tensor};

fn main() -> balgan::Result<()> {
    let quick = std::env::var("BALGAN_BENCH_QUICK").is_ok_and(|v| v == "1");
    let n = if quick { 16 } else { 128 };
    let reps = if quick { 3 } else { 10 };
    let dev = Device::new()?;
    println!("SSIM (11×11 Gaussian, valid), batch {n}, on {}", dev.describe());
    println!("{:<12} {:>12} {:>14}", "images", "ms / batch", "pairs / s");
    for (c, hw) in [(1usize, 64usize), (3, 64), (1, 28)] {
        let shape = [n, c, hw, hw];
        let a = Tensor::rand(&dev, &shape, 1)?.mul_scalar(2.0)?.add_scalar(-1.0)?;
        let b = Tensor::rand(&dev, &shape, 2)?.mul_scalar(2.0)?.add_scalar(-1.0)?;
        ssim(&a, &b, 2.0)?; // warm-up: pipelines, pool
        let start = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(ssim(&a, &b, 2.0)?);
        }
        let t = start.elapsed().as_secs_f64() / reps as f64;
        println!(
            "{:<12} {:>12.2} {:>14.0}",
            format!("{hw}×{hw}×{c}"),
            t * 1e3,
            n as f64 / t
        );
    }
    Ok(())
}
