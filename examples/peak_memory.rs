//! Peak memory taken from the device's buffer pool, beyond the inputs, by FID
//! statistics of growing feature sets and by the weight gradient of a conv
//! layer at growing batch sizes. Each measurement runs on a fresh device.
//!
//! ```text
//! cargo run --release --example peak_memory
//! ```

use balgan::metrics::fid::feature_stats;
use balgan::{Conv2dOptions, Device, Result, Tensor};

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// Peak pool bytes on a fresh device for `op` on inputs of `input_floats`.
fn measure(
    input: impl Fn(&Device) -> Result<Vec<Tensor>>,
    op: impl Fn(&[Tensor]) -> Result<Tensor>,
) -> Result<(u64, u64)> {
    let dev = Device::new()?;
    let t = input(&dev)?;
    dev.synchronize()?;
    let live = dev.memory_stats().in_use;
    let out = op(&t)?;
    out.to_vec()?;
    Ok((live, dev.memory_stats().peak - live))
}

fn main() -> Result<()> {
    let d = 512;
    for n in [8192usize, 32768] {
        let x: Vec<f32> = (0..n * d).map(|i| ((i * 7919 % 1000) as f32) / 500.0 - 1.0).collect();
        let (live, extra) = measure(
            |dev| Ok(vec![Tensor::from_slice(dev, &x, &[n, d])?]),
            |t| Ok(feature_stats(&t[0])?.cov),
        )?;
        println!(
            "feature_stats n = {n:6}, d = {d}: inputs {:7.1} MiB, peak beyond them {:7.1} MiB",
            mib(live),
            mib(extra)
        );
    }
    let (ci, co, h, k) = (512usize, 512usize, 8usize, 3usize);
    let o = Conv2dOptions::new(1, 1);
    for n in [64usize, 256] {
        let x: Vec<f32> = (0..n * ci * h * h)
            .map(|i| ((i * 7919 % 1000) as f32) / 500.0 - 1.0)
            .collect();
        let g: Vec<f32> = (0..n * co * h * h)
            .map(|i| ((i * 104729 % 1000) as f32) / 500.0 - 1.0)
            .collect();
        let (live, extra) = measure(
            |dev| {
                Ok(vec![
                    Tensor::from_slice(dev, &x, &[n, ci, h, h])?,
                    Tensor::from_slice(dev, &g, &[n, co, h, h])?,
                ])
            },
            |t| t[0].conv2d_weight_grad(&t[1], (k, k), o),
        )?;
        println!(
            "conv weight grad {ci}→{co} {k}×{k} at {h}×{h}, batch {n:3}: inputs {:7.1} MiB, peak beyond them {:7.1} MiB",
            mib(live),
            mib(extra)
        );
    }
    Ok(())
}
