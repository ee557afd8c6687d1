//! Convolution throughput on the layer shapes of a 28×28 GAN (DCGAN on MNIST)
//! and a 64×64 GAN (BAGAN-GP/SGBGAN), batch 128: conv2d (critic), conv_transpose2d
//! (generator) and the weight-gradient correlation, each in GFLOP/s with
//! FLOPs = 2·N·Cout·Ho·Wo·Cin·kh·kw (the same count for all three products).
//!
//! ```text
//! cargo bench --bench conv
//! BALGAN_BENCH_QUICK=1 cargo bench --bench conv   # batch 16 (for CPU drivers)
//! ```

use std::time::Instant;

use balgan::{Conv2dOptions, ConvTranspose2dOptions, Device, Tensor};

struct Layer {
    name: &'static str,
    /// conv2d input [C, H, W] and output channels; k4 s2 p1 halves H and W.
    cin: usize,
    hw: usize,
    cout: usize,
}

fn time(dev: &Device, reps: usize, f: &dyn Fn() -> balgan::Result<Tensor>) -> balgan::Result<f64> {
    f()?;
    dev.synchronize()?;
    let start = Instant::now();
    for _ in 0..reps {
        f()?;
    }
    dev.synchronize()?;
    Ok(start.elapsed().as_secs_f64() / reps as f64)
}

fn main() -> balgan::Result<()> {
    let quick = std::env::var("BALGAN_BENCH_QUICK").is_ok_and(|v| v == "1");
    let n = if quick { 16 } else { 128 };
    let reps = if quick { 2 } else { 5 };
    let dev = Device::new()?;
    let layers = [
        Layer {
            name: "28×28 D conv1",
            cin: 1,
            hw: 28,
            cout: 64,
        },
        Layer {
            name: "28×28 D conv2",
            cin: 64,
            hw: 14,
            cout: 128,
        },
        Layer {
            name: "64×64 D conv1",
            cin: 1,
            hw: 64,
            cout: 64,
        },
        Layer {
            name: "64×64 D conv2",
            cin: 64,
            hw: 32,
            cout: 128,
        },
        Layer {
            name: "64×64 D conv3",
            cin: 128,
            hw: 16,
            cout: 128,
        },
        Layer {
            name: "64×64 D conv4",
            cin: 128,
            hw: 8,
            cout: 256,
        },
    ];
    let o = Conv2dOptions::new(2, 1);
    let ot = ConvTranspose2dOptions::new(2, 1, 0);
    let mut table = vec![
        format!("convolutions (k4 s2 p1, batch {n}) on {}", dev.describe()),
        String::new(),
        "| layer | conv2d ms | GFLOP/s | conv_transpose2d ms | GFLOP/s | weight grad ms | GFLOP/s |".into(),
        "|---|---:|---:|---:|---:|---:|---:|".into(),
    ];
    for l in &layers {
        let small = l.hw / 2;
        let flops = 2.0 * (n * l.cout * small * small * l.cin * 16) as f64;
        let x = Tensor::randn(&dev, &[n, l.cin, l.hw, l.hw], 1)?;
        let w = Tensor::randn(&dev, &[l.cout, l.cin, 4, 4], 2)?;
        let gy = Tensor::randn(&dev, &[n, l.cout, small, small], 3)?;
        // The generator's mirror layer: conv_transpose2d from cout×small² back to cin×hw².
        let tc = time(&dev, reps, &|| x.conv2d(&w, None, o))?;
        let tt = time(&dev, reps, &|| gy.conv_transpose2d(&w, None, ot))?;
        let tw = time(&dev, reps, &|| x.conv2d_weight_grad(&gy, (4, 4), o))?;
        let g = |t: f64| flops / t / 1e9;
        table.push(format!(
            "| {} ({}→{}, {}²) | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |",
            l.name,
            l.cin,
            l.cout,
            l.hw,
            tc * 1e3,
            g(tc),
            tt * 1e3,
            g(tt),
            tw * 1e3,
            g(tw)
        ));
        eprintln!("{}", table.last().unwrap_or(&String::new()));
    }
    println!("{}", table.join("\n"));
    Ok(())
}
