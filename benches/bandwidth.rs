//! Memory-bound kernels: effective bandwidth (bytes the kernel must read and
//! write, divided by time) for elementwise maps, broadcasting, copies and
//! reductions on 4M-element tensors.
//!
//! ```text
//! cargo bench --bench bandwidth
//! BALGAN_BENCH_QUICK=1 cargo bench --bench bandwidth   # 1M elements, fewer repetitions
//! ```
//!
//! Bytes counted per element: unary 8 (read 4, write 4), binary 12, bias add 8
//! (the broadcast row stays in cache), transpose 8, sum 4 (+ the small output).

use std::time::Instant;

use balgan::{Device, Tensor};

/// A timed op: a closure producing a tensor.
type Op<'a> = Box<dyn Fn() -> balgan::Result<Tensor> + 'a>;

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
    let (rows, cols, reps) = if quick { (1024, 1024, 5) } else { (2048, 2048, 10) };
    let n = rows * cols;
    let dev = Device::new()?;
    let x = Tensor::randn(&dev, &[rows, cols], 1)?;
    let y = Tensor::randn(&dev, &[rows, cols], 2)?;
    let bias = Tensor::randn(&dev, &[cols], 3)?;
    let cases: Vec<(&str, usize, Op)> = vec![
        ("relu(x)", 8, Box::new(|| x.relu())),
        ("x + y", 12, Box::new(|| x.add(&y))),
        ("x + bias (row broadcast)", 8, Box::new(|| x.add(&bias))),
        ("x.transpose(0, 1)", 8, Box::new(|| x.transpose(0, 1))),
        ("x.sum(last axis)", 4, Box::new(|| x.sum(&[1], false))),
        ("x.sum(first axis)", 4, Box::new(|| x.sum(&[0], false))),
        ("x.max(all)", 4, Box::new(|| x.max_all())),
    ];
    let mut table = vec![
        format!("memory-bound kernels on {} ({rows}×{cols} f32)", dev.describe()),
        String::new(),
        "| op | bytes/elem | ms/call | GB/s |".into(),
        "|---|---:|---:|---:|".into(),
    ];
    for (name, bytes, f) in &cases {
        let s = time(&dev, reps, f.as_ref())?;
        table.push(format!(
            "| {name} | {bytes} | {:.3} | {:.2} |",
            s * 1e3,
            (*bytes * n) as f64 / s / 1e9
        ));
    }
    println!("{}", table.join("\n"));
    Ok(())
}
