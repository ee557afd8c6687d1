//! [`HostRng`]: the seeded host random stream (SplitMix64) beside the device
//! [`Generator`](crate::Generator). It orders things on the host — batch
//! shuffles, class draws, imbalance selections, evaluation pairings — and
//! never touches the GPU, so the same seed gives the same orders on any
//! adapter.
//!
//! Bounded draws come in two forms, each kept because documented orders
//! depend on its exact stream:
//!
//! - [`HostRng::below`]: Lemire's multiply-shift with rejection (the batch
//!   shuffles, per-step label draws and imbalance selections);
//! - [`HostRng::below_by_remainder`]: `x % n` with rejection (the SSIM
//!   pairing protocol and the classifier's mini-batch order).
//!
//! Neither has modulo bias.

/// The SplitMix64 output function (Steele, Lea and Flood 2014): a bijective
/// mix of a 64-bit word, also used on its own to derive unrelated seeds from
/// nearby ones.
pub fn splitmix64_mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The SplitMix64 increment (2^64 / φ, rounded to odd).
pub const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// A seeded SplitMix64 stream on the host.
#[derive(Debug, Clone)]
pub struct HostRng(u64);

impl HostRng {
    /// A stream started at state `state`: the first output is
    /// `mix(state + GOLDEN_GAMMA)`.
    pub fn new(state: u64) -> HostRng {
        HostRng(state)
    }

    /// The stream of epoch (or step) `epoch` of a run seeded with `seed`:
    /// started at `mix(seed ^ mix(epoch + 0x6A09E667F3BCC909))`, so nearby
    /// epochs give unrelated streams.
    pub fn for_epoch(seed: u64, epoch: u64) -> HostRng {
        HostRng(splitmix64_mix(
            seed ^ splitmix64_mix(epoch.wrapping_add(0x6A09_E667_F3BC_C909)),
        ))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN_GAMMA);
        splitmix64_mix(self.0)
    }

    /// Uniform on `0..n` without modulo bias, by Lemire's multiply-shift: the
    /// high word of `x · n`, drawing again while the low word is below
    /// `2^64 mod n`. Panics for `n == 0`.
    pub fn below(&mut self, n: usize) -> usize {
        below_lemire(n as u64, || self.next_u64()) as usize
    }

    /// Uniform on `0..n` without modulo bias, by remainder: draws `x` until
    /// `x < 2^64 − (2^64 mod n)` and returns `x % n`. The result equals the
    /// plain `x % n` of the first draw except when that draw is rejected,
    /// which happens with probability `(2^64 mod n) / 2^64 < n / 2^64` — so
    /// orders documented as "u mod n" over successive outputs are unchanged
    /// in practice. Panics for `n == 0`.
    pub fn below_by_remainder(&mut self, n: usize) -> usize {
        below_remainder(n as u64, || self.next_u64()) as usize
    }

    /// Fisher–Yates shuffle from the last position down (`i` from `len − 1`
    /// to 1 swaps with [`below`](Self::below)`(i + 1)`).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }

    /// [`shuffle`](Self::shuffle) with the positions drawn by
    /// [`below_by_remainder`](Self::below_by_remainder).
    pub fn shuffle_by_remainder<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below_by_remainder(i + 1));
        }
    }

    /// `k` distinct indices of `0..n` (all of them, shuffled, when `k ≥ n`),
    /// in draw order: the first `k` positions of a Fisher–Yates shuffle run
    /// from the front (position `i` swaps with `i + below(n − i)`), which
    /// draws only `k` times.
    pub fn choose(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..n).collect();
        let k = k.min(n);
        for i in 0..k {
            let j = i + self.below(n - i);
            idx.swap(i, j);
        }
        idx.truncate(k);
        idx
    }
}

/// Lemire's bounded draw over a source of 64-bit words.
fn below_lemire(n: u64, mut next: impl FnMut() -> u64) -> u64 {
    assert!(n > 0, "HostRng::below: n must be at least 1");
    let threshold = n.wrapping_neg() % n;
    loop {
        let m = (next() as u128) * (n as u128);
        if (m as u64) >= threshold {
            return (m >> 64) as u64;
        }
    }
}

/// The remainder bounded draw over a source of 64-bit words: accepts
/// `x < 2^64 − (2^64 mod n)`, the largest multiple of `n` that fits.
fn below_remainder(n: u64, mut next: impl FnMut() -> u64) -> u64 {
    assert!(n > 0, "HostRng::below_by_remainder: n must be at least 1");
    // 2^64 mod n, computed without 128-bit arithmetic: (2^64 − n) mod n.
    let reject = n.wrapping_neg() % n;
    let limit = 0u64.wrapping_sub(reject); // 2^64 − reject, 0 meaning 2^64
    loop {
        let x = next();
        if limit == 0 || x < limit {
            return x % n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SplitMix64 as published (Steele, Lea and Flood, "Fast splittable
    /// pseudorandom number generators", OOPSLA 2014; Vigna's splitmix64.c).
    struct Reference(u64);

    impl Reference {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e3779b97f4a7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
            z ^ (z >> 31)
        }
    }

    #[test]
    fn stream_matches_published_splitmix64() {
        // The first outputs of splitmix64.c seeded with 0 (widely quoted).
        let mut r = HostRng::new(0);
        assert_eq!(r.next_u64(), 0xe220a8397b1dcdaf);
        assert_eq!(r.next_u64(), 0x6e789e6aa1b965f4);
        assert_eq!(r.next_u64(), 0x06c45d188009454f);
        for seed in [1u64, 42, 0xdead_beef, u64::MAX] {
            let (mut a, mut b) = (HostRng::new(seed), Reference(seed));
            for _ in 0..1000 {
                assert_eq!(a.next_u64(), b.next());
            }
        }
    }

    #[test]
    fn below_by_remainder_is_the_remainder_of_accepted_draws() {
        for seed in [3u64, 77, 1 << 40] {
            let (mut a, mut b) = (HostRng::new(seed), Reference(seed));
            for n in 1..200usize {
                assert_eq!(a.below_by_remainder(n), (b.next() % n as u64) as usize);
            }
        }
    }

    #[test]
    fn rejection_paths_draw_again() {
        // n = 3: 2^64 mod 3 = 1, so only u64::MAX is rejected (it would map
        // to 0 and over-weight it).
        let mut words = [u64::MAX, 7].into_iter();
        assert_eq!(below_remainder(3, || words.next().unwrap()), 1);
        let mut words = [u64::MAX - 1, 7].into_iter();
        assert_eq!(below_remainder(3, || words.next().unwrap()), (u64::MAX - 1) % 3);
        // Lemire, n = 3: the low word of x·3 must be ≥ 1; x = 0 gives 0 and is rejected.
        let mut words = [0u64, u64::MAX].into_iter();
        assert_eq!(below_lemire(3, || words.next().unwrap()), 2);
        // A power of two never rejects.
        let mut words = [u64::MAX].into_iter();
        assert_eq!(below_remainder(4, || words.next().unwrap()), 3);
    }

    /// Exhaustive check of exact uniformity on an 8-bit analogue would need a
    /// different word size; instead count outcomes over every word of a
    /// complete residue system at the top of the range, where `x % n` alone
    /// is biased.
    #[test]
    fn rejection_removes_the_bias_at_the_top_of_the_range() {
        let n = 3u64;
        let mut counts = [0usize; 3];
        let mut biased = [0usize; 3];
        // The last 3·1000 + 1 words of the range, from the top: plain `% 3`
        // sees one extra 0 (u64::MAX), which the rejection skips.
        let start = u64::MAX - 3000;
        let mut xs = (start..=u64::MAX).rev();
        for _ in 0..3000 {
            let v = below_remainder(n, || xs.next().unwrap());
            counts[v as usize] += 1;
        }
        for x in start..=u64::MAX {
            biased[(x % n) as usize] += 1;
        }
        assert_eq!(biased, [1001, 1000, 1000]);
        assert_eq!(counts, [1000, 1000, 1000]);
        assert_eq!(xs.next(), None, "every word was drawn, the rejected one too");
    }

    #[test]
    fn below_is_uniform_chi_square() {
        // 99.9% quantiles of χ² with n − 1 degrees of freedom.
        for (n, bound) in [(3usize, 13.82), (7, 22.46), (10, 27.88)] {
            let mut r = HostRng::new(12345 + n as u64);
            let draws = 60_000;
            let mut c = vec![0usize; n];
            for _ in 0..draws {
                c[r.below(n)] += 1;
            }
            let e = draws as f64 / n as f64;
            let chi2: f64 = c.iter().map(|&o| (o as f64 - e).powi(2) / e).sum();
            assert!(chi2 < bound, "n = {n}: χ² = {chi2}, counts {c:?}");
        }
    }

    #[test]
    fn shuffle_and_choose_give_permutations() {
        let mut r = HostRng::new(9);
        let mut v: Vec<usize> = (0..50).collect();
        r.shuffle(&mut v);
        let mut s = v.clone();
        s.sort_unstable();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
        assert_ne!(v, s, "a 50-element shuffle left everything in place");
        let c = r.choose(50, 10);
        assert_eq!(c.len(), 10);
        let mut d = c.clone();
        d.sort_unstable();
        d.dedup();
        assert_eq!(d.len(), 10);
        assert!(c.iter().all(|&i| i < 50));
        assert_eq!(r.choose(5, 9).len(), 5);
    }

    #[test]
    fn shuffle_follows_fisher_yates_from_the_back() {
        // Written out from the definition with the reference stream.
        let seed = 2024u64;
        let mut want: Vec<u32> = (0..20).collect();
        let mut b = Reference(seed);
        for i in (1..want.len()).rev() {
            let j = (b.next() % (i as u64 + 1)) as usize;
            want.swap(i, j);
        }
        let mut got: Vec<u32> = (0..20).collect();
        HostRng::new(seed).shuffle_by_remainder(&mut got);
        assert_eq!(got, want);
    }
}
