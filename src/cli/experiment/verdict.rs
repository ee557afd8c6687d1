//! A claim's verdict from per-seed numbers: "A is better than B" holds when
//! A's mean is better and the spreads (mean ± one standard deviation over
//! the seeds) do not overlap, does not hold when B's mean is at least as
//! good and the spreads do not overlap, and is inconclusive when they
//! overlap. One seed has no spread: its verdict compares the two numbers and
//! says that it rests on one seed.

/// Mean and sample standard deviation of one cell's values over the seeds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// Mean of the values.
    pub mean: f64,
    /// Sample standard deviation (n − 1); 0 for one value.
    pub std: f64,
    /// Number of values (seeds).
    pub n: usize,
}

impl Spread {
    /// `None` for no values.
    pub fn of(values: &[f64]) -> Option<Spread> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = if n > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Some(Spread { mean, std, n })
    }

    /// "0.812 ± 0.014" (or the mean alone for one value).
    pub fn text(&self, digits: usize) -> String {
        if self.n > 1 {
            format!("{:.*} ± {:.*}", digits, self.mean, digits, self.std)
        } else {
            format!("{:.*}", digits, self.mean)
        }
    }
}

/// What the numbers say of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The first is better and the spreads do not overlap (or, with one seed, its number is better).
    Holds,
    /// The second is at least as good and the spreads do not overlap.
    DoesNotHold,
    /// The spreads overlap.
    Inconclusive,
}

impl Verdict {
    /// The verdict as the report words it.
    pub fn text(self) -> &'static str {
        match self {
            Verdict::Holds => "holds",
            Verdict::DoesNotHold => "does not hold",
            Verdict::Inconclusive => "inconclusive (the spreads overlap)",
        }
    }
}

/// Means closer than this, relative to the larger, are the same number: the
/// measures come from f32 arithmetic, whose rounding alone moves the 7th
/// digit (two collapsed generators' SSIM of 0.9999992 and 0.9999995 are a
/// tie, not a win).
pub const TIE: f64 = 1e-6;

/// Whether `a` is better than `b` (higher is better when
/// `higher_is_better`, lower otherwise). Means within [`TIE`] of each other
/// do not make `a` better.
pub fn compare(a: Spread, b: Spread, higher_is_better: bool) -> Verdict {
    let sign = if higher_is_better { 1.0 } else { -1.0 };
    let (a_mean, b_mean) = (sign * a.mean, sign * b.mean);
    let overlap = (a.mean - b.mean).abs() <= a.std + b.std && (a.std + b.std) > 0.0;
    let tie = (a.mean - b.mean).abs() <= TIE * a.mean.abs().max(b.mean.abs());
    if overlap {
        Verdict::Inconclusive
    } else if a_mean > b_mean && !tie {
        Verdict::Holds
    } else {
        Verdict::DoesNotHold
    }
}

/// The seeds a verdict rests on ("0, 1, 2") and its caveats (" — one
/// seed, no spread; over cells cut short by the budget", or nothing).
pub fn provenance(seeds: u64, a: Spread, cut_short: bool) -> (String, String) {
    let list = (0..seeds).map(|s| s.to_string()).collect::<Vec<_>>().join(", ");
    let mut notes = Vec::new();
    if a.n == 1 {
        notes.push("one seed, no spread");
    }
    if cut_short {
        notes.push("over cells cut short by the budget");
    }
    let notes = if notes.is_empty() {
        String::new()
    } else {
        format!(" — {}", notes.join("; "))
    };
    (list, notes)
}
