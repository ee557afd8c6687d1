use balgan::kernels::matmul_subgroup::{with_tile, SubgroupTile};
use balgan::{Device, Generator};
use std::time::Instant;
fn main() -> balgan::Result<()> {
    let dev = Device::new()?;
    let rng = Generator::new(0);
    let args: Vec<usize> = std::env::args().skip(1).map(|s| s.parse().unwrap()).collect();
    let (m, n, k, ta, tb) = (args[0], args[1], args[2], args[3] == 1, args[4] == 1);
    let a = rng.normal(&dev, &if ta { [k, m] } else { [m, k] }, 0.0, 1.0)?;
    let b = rng.normal(&dev, &if tb { [n, k] } else { [k, n] }, 0.0, 1.0)?;
    let mut tiles = vec![None];
    for (r, w) in [(1, 16), (2, 16), (4, 16), (4, 32), (2, 32)] {
        for _ in 0..1 {
            tiles.push(Some(SubgroupTile { rows: r, cols: w }));
        }
    }
    for t in tiles {
        let run = || -> balgan::Result<f64> {
            let y = a.matmul_t(&b, ta, tb)?;
            y.to_vec()?;
            let t0 = Instant::now();
            let reps = 50;
            for _ in 0..reps {
                let y = a.matmul_t(&b, ta, tb)?;
                drop(y);
            }
            dev.synchronize()?;
            Ok(t0.elapsed().as_secs_f64() / reps as f64)
        };
        let s = match t {
            Some(t) => with_tile(t, run)?,
            None => run()?,
        };
        println!(
            "{:?}: {:.2} ms, {:.1} GFLOP/s",
            t,
            s * 1e3,
            2.0 * (m * n * k) as f64 / s / 1e9
        );
    }
    Ok(())
}
