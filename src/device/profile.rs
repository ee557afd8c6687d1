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

/// A profile as a Markdown table: kernel, dispatches, time, share, GFLOP/s
/// and GB/s where declared.
pub fn profile_table(rows: &[KernelStat]) -> String {
    let total: f64 = rows.iter().map(|r| r.time.as_secs_f64()).sum();
    let dispatches: u64 = rows.iter().map(|r| r.dispatches).sum();
    let mut s = String::from("| kernel | dispatches | ms | share | GFLOP/s | GB/s |\n|---|---:|---:|---:|---:|---:|\n");
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
            "| {} | {} | {:.1} | {:.1} % | {} | {} |\n",
            r.kernel,
            r.dispatches,
            t * 1e3,
            if total > 0.0 { 100.0 * t / total } else { 0.0 },
            rate(r.flops),
            rate(r.bytes)
        ));
    }
    s.push_str(&format!("| all | {dispatches} | {:.1} | 100 % | | |\n", total * 1e3));
    s
}
