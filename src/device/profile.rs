//! A per-kernel profile: when on, every dispatch is submitted on its own and
//! waited for, and its wall time is added to its kernel's row. That
//! serialises the GPU (no overlap between dispatches, one submission each),
//! so the total is above an unprofiled run's; the shares between kernels,
//! and each kernel's dispatch count, are what it is for.

use std::collections::HashMap;
use std::time::Duration;

/// One kernel's row of a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct KernelStat {
    /// `shader::entry`, with the override constants that select a variant.
    pub kernel: String,
    /// How many times the kernel was dispatched.
    pub dispatches: u64,
    /// Wall time from recording the dispatch to the GPU finishing it.
    pub time: Duration,
    /// Floating-point operations the launchers declared (0 where none did).
    pub flops: f64,
    /// Bytes the launchers declared moved (0 where none did).
    pub bytes: f64,
}

#[derive(Default)]
pub(crate) struct Profile {
    rows: HashMap<String, KernelStat>,
}

impl Profile {
    pub(crate) fn add(&mut self, kernel: String, time: Duration, flops: f64, bytes: f64) {
        let row = self.rows.entry(kernel.clone()).or_insert_with(|| KernelStat {
            kernel,
            dispatches: 0,
            time: Duration::ZERO,
            flops: 0.0,
            bytes: 0.0,
        });
        row.dispatches += 1;
        row.time += time;
        row.flops += flops;
        row.bytes += bytes;
    }

    /// The rows, most time first; empties the profile.
    pub(crate) fn take(&mut self) -> Vec<KernelStat> {
        let mut rows: Vec<KernelStat> = self.rows.drain().map(|(_, r)| r).collect();
        rows.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.kernel.cmp(&b.kernel)));
        rows
    }
}

/// What a profile adds up to: every dispatch, and the GEMMs among them (the
/// kernels whose launchers declare floating-point operations: the matmuls,
/// and through them the convolutions' products on CPU adapters).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfileSummary {
    /// Dispatches of every kernel.
    pub dispatches: u64,
    /// Wall time of every dispatch, summed.
    pub time: Duration,
    /// Dispatches of the kernels that declared floating-point operations.
    pub gemm_dispatches: u64,
    /// Wall time of those dispatches, summed.
    pub gemm_time: Duration,
    /// Floating-point operations those dispatches declared, summed.
    pub gemm_flops: f64,
}

impl ProfileSummary {
    /// The GEMMs' declared FLOPs over their time, in GFLOP/s (0 without any).
    pub fn gemm_gflops(&self) -> f64 {
        let t = self.gemm_time.as_secs_f64();
        if t > 0.0 {
            self.gemm_flops / t / 1e9
        } else {
            0.0
        }
    }

    /// The GEMMs' share of the profiled time, in [0, 1].
    pub fn gemm_share(&self) -> f64 {
        let t = self.time.as_secs_f64();
        if t > 0.0 {
            self.gemm_time.as_secs_f64() / t
        } else {
            0.0
        }
    }
}

/// The totals of a profile's rows (see [`ProfileSummary`]).
pub fn profile_summary(rows: &[KernelStat]) -> ProfileSummary {
    let mut s = ProfileSummary {
        dispatches: 0,
        time: Duration::ZERO,
        gemm_dispatches: 0,
        gemm_time: Duration::ZERO,
        gemm_flops: 0.0,
    };
    for r in rows {
        s.dispatches += r.dispatches;
        s.time += r.time;
        if r.flops > 0.0 {
            s.gemm_dispatches += r.dispatches;
            s.gemm_time += r.time;
            s.gemm_flops += r.flops;
        }
    }
    s
}

/// A profile as a Markdown table: kernel, dispatches, time, time per
/// dispatch, share, GFLOP/s and GB/s where declared; then a row for all
/// kernels and one for the GEMMs together (their GFLOP/s is the step's
/// average: declared FLOPs over GEMM time).
pub fn profile_table(rows: &[KernelStat]) -> String {
    let sum = profile_summary(rows);
    let total = sum.time.as_secs_f64();
    let share = |t: f64| if total > 0.0 { 100.0 * t / total } else { 0.0 };
    let per = |t: f64, n: u64| if n > 0 { t * 1e6 / n as f64 } else { 0.0 };
    let mut s = String::from(
        "| kernel | dispatches | ms | µs/dispatch | share | GFLOP/s | GB/s |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in rows {
        let t = r.time.as_secs_f64();
        let rate = |x: f64| {
            if x > 0.0 && t > 0.0 {
                format!("{:.2}", x / t / 1e9)
            } else {
                "".into()
            }
        };
        s.push_str(&format!(
            "| {} | {} | {:.1} | {:.0} | {:.1} % | {} | {} |\n",
            r.kernel,
            r.dispatches,
            t * 1e3,
            per(t, r.dispatches),
            share(t),
            rate(r.flops),
            rate(r.bytes)
        ));
    }
    s.push_str(&format!(
        "| all | {} | {:.1} | {:.0} | 100 % | | |\n",
        sum.dispatches,
        total * 1e3,
        per(total, sum.dispatches)
    ));
    let gemm = sum.gemm_time.as_secs_f64();
    s.push_str(&format!(
        "| GEMMs (kernels declaring FLOPs) | {} | {:.1} | {:.0} | {:.1} % | {:.2} | |\n",
        sum.gemm_dispatches,
        gemm * 1e3,
        per(gemm, sum.gemm_dispatches),
        share(gemm),
        sum.gemm_gflops()
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_every_dispatch_and_rates_the_gemms() {
        let mut p = Profile::default();
        p.add("matmul::a".into(), Duration::from_millis(2), 4e6, 0.0);
        p.add("matmul::a".into(), Duration::from_millis(2), 4e6, 0.0);
        p.add("binary::b".into(), Duration::from_millis(4), 0.0, 1e3);
        let rows = p.take();
        assert_eq!(rows[0].kernel, "binary::b"); // most time first, then by name
        let s = profile_summary(&rows);
        assert_eq!((s.dispatches, s.gemm_dispatches), (3, 2));
        assert_eq!(s.time, Duration::from_millis(8));
        assert!((s.gemm_gflops() - 2.0).abs() < 1e-9); // 8e6 FLOPs in 4 ms
        assert!((s.gemm_share() - 0.5).abs() < 1e-9);
        let table = profile_table(&rows);
        assert!(table.contains("| all | 3 | 8.0 |"), "{table}");
        assert!(
            table.contains("| GEMMs (kernels declaring FLOPs) | 2 | 4.0 | 2000 | 50.0 % | 2.00 |"),
            "{table}"
        );
        assert_eq!(profile_summary(&[]).gemm_gflops(), 0.0);
    }
}
