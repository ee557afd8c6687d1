//! `shaders/rng.wgsl` through `Tensor::rand`/`randn` and `Generator`, against
//! an independent CPU Philox4x32-10 (checked against Random123's published
//! known-answer vectors) and CPU uniform / Box–Muller maps of the same words,
//! plus distribution statistics.

use balgan::{Generator, Tensor};

use crate::common::{base_seed, dev, Rng};

// ---------------------------------------------------------------- reference

const PHILOX_M0: u32 = 0xD251_1F53;
const PHILOX_M1: u32 = 0xCD9E_8D57;
const PHILOX_W0: u32 = 0x9E37_79B9;
const PHILOX_W1: u32 = 0xBB67_AE85;

/// High and low words of the 64-bit product.
fn mulhilo(a: u32, b: u32) -> (u32, u32) {
    let p = a as u64 * b as u64;
    ((p >> 32) as u32, p as u32)
}

/// Philox4x32-10 as defined in Random123 (philox.h): ten rounds, the key
/// bumped by the Weyl constants before every round after the first.
fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut c = counter;
    let mut k = key;
    for round in 0..10 {
        if round > 0 {
            k[0] = k[0].wrapping_add(PHILOX_W0);
            k[1] = k[1].wrapping_add(PHILOX_W1);
        }
        let (hi0, lo0) = mulhilo(PHILOX_M0, c[0]);
        let (hi1, lo1) = mulhilo(PHILOX_M1, c[2]);
        c = [hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0];
    }
    c
}

/// The first `n` words of stream (`seed`, `offset`): element 4t+r is word r
/// of philox(counter = (t, offset_lo, offset_hi, 0), key = (seed_lo, seed_hi)).
fn words(seed: u64, offset: u64, n: usize) -> Vec<u32> {
    let key = [seed as u32, (seed >> 32) as u32];
    let mut out = Vec::with_capacity(n);
    for t in 0..n.div_ceil(4) {
        let w = philox4x32_10([t as u32, offset as u32, (offset >> 32) as u32, 0], key);
        out.extend_from_slice(&w);
    }
    out.truncate(n);
    out
}

const TWO_M24: f64 = 1.0 / 16_777_216.0;

/// The top 24 bits as a multiple of 2^-24 in [0, 1): exact in f32 and f64.
fn unit(x: u32) -> f64 {
    (x >> 8) as f64 * TWO_M24
}

/// Uniform values on [low, high) as the kernel defines them: low + (high-low)·u
/// in f32. Returns both the separately rounded and the fused result, since a
/// compiler may contract the multiply-add (either is a correct f32 evaluation,
/// and they differ by at most one rounding).
fn uniform_ref(w: &[u32], low: f32, high: f32) -> Vec<(f32, f32)> {
    w.iter()
        .map(|&x| {
            let u = unit(x) as f32;
            (low + (high - low) * u, (high - low).mul_add(u, low))
        })
        .collect()
}

/// Standard normals by Box–Muller in f64 on word pairs (0,1) and (2,3) of each
/// group of 4: u1 = unit(w0) + 2^-24 in (0, 1], z0 = sqrt(-2 ln u1)·cos(2π·unit(w1)),
/// z1 = sqrt(-2 ln u1)·sin(2π·unit(w1)); likewise z2, z3 from words 2 and 3.
/// Returns (z, radius) for the first `n` elements of stream (`seed`, `offset`).
fn normals(seed: u64, offset: u64, n: usize) -> Vec<(f64, f64)> {
    // Whole groups of 4: a partial group still needs its pair's other word.
    let w = words(seed, offset, n.div_ceil(4) * 4);
    let mut out = Vec::with_capacity(w.len());
    for pair in w.chunks(2) {
        let r = (-2.0 * (unit(pair[0]) + TWO_M24).ln()).sqrt();
        let theta = std::f64::consts::TAU * unit(pair[1]);
        out.push((r * theta.cos(), r));
        out.push((r * theta.sin(), r));
    }
    out.truncate(n);
    out
}

/// A 64-bit seed whose high word is nonzero (so both key words matter).
fn seed64(salt: u64) -> u64 {
    Rng::new(salt).next_u64() | (1 << 47)
}

fn cpu_unit_f32(seed: u64, offset: u64, n: usize) -> Vec<f32> {
    words(seed, offset, n).iter().map(|&x| unit(x) as f32).collect()
}

fn assert_bits_eq(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let bad: Vec<String> = got
        .iter()
        .zip(want)
        .enumerate()
        .filter(|(_, (g, w))| g.to_bits() != w.to_bits())
        .take(5)
        .map(|(i, (g, w))| format!("[{i}] got {g:e} want {w:e}"))
        .collect();
    assert!(
        bad.is_empty(),
        "{what}: differs from the CPU Philox reference (seed {}): {}",
        base_seed(),
        bad.join(", ")
    );
}

/// Each value must equal one of the two admissible f32 evaluations exactly.
fn assert_uniform_matches(what: &str, got: &[f32], want: &[(f32, f32)]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let bad: Vec<String> = got
        .iter()
        .zip(want)
        .enumerate()
        .filter(|(_, (g, (a, b)))| g.to_bits() != a.to_bits() && g.to_bits() != b.to_bits())
        .take(5)
        .map(|(i, (g, (a, b)))| format!("[{i}] got {g:e} want {a:e} (or fused {b:e})"))
        .collect();
    assert!(
        bad.is_empty(),
        "{what}: differs from the CPU reference (seed {}): {}",
        base_seed(),
        bad.join(", ")
    );
}

/// Normal values against the f64 Box–Muller reference.
///
/// Tolerance per element, for z = r·cos θ (or sin θ) with r the Box–Muller
/// radius (at most sqrt(48 ln 2) ≈ 5.8), all from f32 evaluation on the GPU:
/// - angle: f32(2π)·u carries up to ~4e-7 absolute error (the rounded
///   constant plus the product's rounding) and WGSL's sin/cos add their own
///   absolute error; both scale with r. Allowed: 4e-6·r.
/// - radius: WGSL allows log an absolute error of 2^-21 on [0.5, 2] (3 ulp
///   relative elsewhere), so r² = -2 ln u1 is off by up to δ = 2^-20 + 8 ulp·r²
///   and r by min(δ / 2r, sqrt δ). This dominates when u1 is near 1 (r small,
///   where lavapipe's log shows ~2^-24 absolute error: about a tenth of the
///   bound).
/// - a few ulps relative of |z| for sqrt, the products and mean + std·z.
///
/// On lavapipe the observed error is about a tenth of this; a mapping error (a
/// swapped word, sin for cos, a wrong constant) moves z by O(r).
fn assert_normal_close(what: &str, got: &[f32], want: &[(f64, f64)], mean: f64, std: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let ulp = f32::EPSILON as f64;
    let mut bad = Vec::new();
    for (i, (&g, &(z, r))) in got.iter().zip(want).enumerate() {
        let w = mean + std * z;
        let delta = 2f64.powi(-20) + 8.0 * ulp * r * r;
        let dr = (delta / (2.0 * r)).min(delta.sqrt());
        let tol = std * (4e-6 * r + dr + 16.0 * ulp * z.abs()) + 4.0 * ulp * w.abs();
        // Written so that NaN fails.
        let ok = (g as f64 - w).abs() <= tol;
        if !ok {
            bad.push(format!("[{i}] got {g:e} want {w:e} (r {r:e}, tol {tol:e})"));
        }
    }
    assert!(
        bad.is_empty(),
        "{what}: {} of {} differ from Box–Muller (seed {}): {}",
        bad.len(),
        got.len(),
        base_seed(),
        bad.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
    );
}

// ---------------------------------------------------------------- reference checks

#[test]
fn philox_reference_matches_random123_known_answers() {
    // Random123 kat_vectors, "philox4x32 10" lines.
    assert_eq!(
        philox4x32_10([0, 0, 0, 0], [0, 0]),
        [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]
    );
    assert_eq!(
        philox4x32_10([u32::MAX; 4], [u32::MAX; 2]),
        [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
    );
    assert_eq!(
        philox4x32_10(
            [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344],
            [0xa409_3822, 0x299f_31d0]
        ),
        [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
    );
}

// ---------------------------------------------------------------- uniform

#[test]
fn rand_is_bit_exact_philox_for_odd_lengths() {
    let d = dev();
    for (k, &n) in [1usize, 3, 5, 1023, 4099].iter().enumerate() {
        let seed = seed64(0x5EED_0000 + k as u64);
        let got = Tensor::rand(d, &[n], seed).unwrap().to_vec().unwrap();
        assert_bits_eq(&format!("rand n={n} seed {seed:#x}"), &got, &cpu_unit_f32(seed, 0, n));
    }
    // A multi-axis shape is the same stream, row-major.
    let seed = seed64(0x5EED_00FF);
    let got = Tensor::rand(d, &[3, 5, 7], seed).unwrap().to_vec().unwrap();
    assert_bits_eq("rand shape [3, 5, 7]", &got, &cpu_unit_f32(seed, 0, 105));
}

#[test]
fn rand_fixed_seeds_match_reference() {
    // Fixed seeds, independent of the run's base seed: zero, all-ones, and
    // words that differ between the halves.
    let d = dev();
    for seed in [0u64, u64::MAX, 0xDEAD_BEEF_0123_4567, 1 << 32] {
        let got = Tensor::rand(d, &[37], seed).unwrap().to_vec().unwrap();
        assert_bits_eq(&format!("rand seed {seed:#x}"), &got, &cpu_unit_f32(seed, 0, 37));
    }
}

#[test]
fn uniform_range_matches_reference() {
    let d = dev();
    let seed = seed64(0x0A11_CE00);
    for (k, &(low, high, n)) in [
        (-3.0f32, 5.0f32, 1023usize),
        (0.25, 0.5, 5),
        (-1e3, -1e-3, 4099),
        (2.0, 2.0, 7),
    ]
    .iter()
    .enumerate()
    {
        let g = Generator::new(seed ^ k as u64);
        let got = g.uniform(d, &[n], low, high).unwrap().to_vec().unwrap();
        let want = uniform_ref(&words(seed ^ k as u64, 0, n), low, high);
        assert_uniform_matches(&format!("uniform [{low}, {high}) n={n}"), &got, &want);
    }
}

/// Find a seed whose stream at offset 0 has, among its first 4 words, one with
/// all top 24 bits set (u = 1 - 2^-24, the largest uniform). ~2^22 tries.
fn seed_with_max_word(start: u64) -> (u64, usize) {
    let mut s = start;
    loop {
        let w = philox4x32_10([0, 0, 0, 0], [s as u32, (s >> 32) as u32]);
        if let Some(r) = w.iter().position(|&x| x >> 8 == 0x00FF_FFFF) {
            return (s, r);
        }
        s = s.wrapping_add(1);
    }
}

#[test]
fn uniform_stays_below_high_at_the_largest_word() {
    // The largest u is 1 - 2^-24. Mapped to [1, 1.5) in f32, 1 + 0.5·u rounds
    // to 1.5 (ulp 2^-23 near 1.5): the map must not return `high`.
    let d = dev();
    let (seed, r) = seed_with_max_word(base_seed() & 0xFFFF_FFFF);
    let got = Generator::new(seed)
        .uniform(d, &[4], 1.0, 1.5)
        .unwrap()
        .to_vec()
        .unwrap();
    assert!(
        got.iter().all(|&x| (1.0..1.5).contains(&x)),
        "uniform [1, 1.5) seed {seed:#x}: element {r} (u = 1 - 2^-24) gave {:?}, outside [low, high)",
        got
    );
    // rand on [0, 1) represents 1 - 2^-24 exactly.
    let got = Tensor::rand(d, &[4], seed).unwrap().to_vec().unwrap();
    assert_eq!(
        got[r],
        1.0 - TWO_M24 as f32,
        "rand at the largest word (seed {seed:#x})"
    );
}

// ---------------------------------------------------------------- generator

#[test]
fn generator_advances_offset_and_replays() {
    let d = dev();
    let seed = seed64(0x6E4E_0000);
    // A start offset with a nonzero high word, so both counter words matter.
    let start = (3u64 << 32) | 0xFFFF_FFFE;
    let g = Generator::new(seed);
    assert_eq!(g.seed(), seed);
    assert_eq!(g.offset(), 0, "a new generator starts at counter 0");
    g.set_offset(start);
    assert_eq!(g.offset(), start);

    let a = g.uniform(d, &[5], 0.0, 1.0).unwrap().to_vec().unwrap();
    assert_eq!(g.offset(), start + 2, "5 values take ceil(5/4) = 2 counters");
    let b = g.uniform(d, &[1023], 0.0, 1.0).unwrap().to_vec().unwrap();
    assert_eq!(g.offset(), start + 2 + 256, "1023 values take 256 counters");
    let c = g.normal(d, &[9], 0.0, 1.0).unwrap().to_vec().unwrap();
    assert_eq!(g.offset(), start + 2 + 256 + 3, "9 normals take 3 counters");
    let e = g.uniform(d, &[1, 4], 0.0, 1.0).unwrap().to_vec().unwrap();
    assert_eq!(g.offset(), start + 2 + 256 + 3 + 1);

    assert_bits_eq("first draw", &a, &cpu_unit_f32(seed, start, 5));
    // start + 2 crosses into the next high word: offset_lo wraps to 0.
    assert_bits_eq("second draw", &b, &cpu_unit_f32(seed, start + 2, 1023));
    assert_normal_close("third draw (normal)", &c, &normals(seed, start + 258, 9), 0.0, 1.0);
    assert_bits_eq("fourth draw", &e, &cpu_unit_f32(seed, start + 261, 4));

    // Replay from a saved offset.
    g.set_offset(start + 2);
    let b2 = g.uniform(d, &[1023], 0.0, 1.0).unwrap().to_vec().unwrap();
    assert_bits_eq("replayed second draw", &b2, &b);
    assert_eq!(g.offset(), start + 258);

    // An empty draw takes no counter.
    let z = g.uniform(d, &[0], 0.0, 1.0).unwrap();
    assert_eq!(z.numel(), 0);
    assert_eq!(g.offset(), start + 258, "an empty draw consumes nothing");
}

#[test]
fn rand_equals_generator_at_offset_zero() {
    let d = dev();
    let seed = seed64(0x6E4E_0001);
    let a = Tensor::rand(d, &[77], seed).unwrap().to_vec().unwrap();
    let b = Generator::new(seed)
        .uniform(d, &[77], 0.0, 1.0)
        .unwrap()
        .to_vec()
        .unwrap();
    assert_bits_eq("rand vs Generator::uniform", &a, &b);
    let a = Tensor::randn(d, &[77], seed).unwrap().to_vec().unwrap();
    let b = Generator::new(seed)
        .normal(d, &[77], 0.0, 1.0)
        .unwrap()
        .to_vec()
        .unwrap();
    assert_bits_eq("randn vs Generator::normal", &a, &b);
}

// ---------------------------------------------------------------- normal

#[test]
fn randn_matches_box_muller() {
    let d = dev();
    for (k, &n) in [1usize, 2, 3, 5, 1023, 4099].iter().enumerate() {
        let seed = seed64(0xB0C5_0000 + k as u64);
        let got = Tensor::randn(d, &[n], seed).unwrap().to_vec().unwrap();
        assert_normal_close(&format!("randn n={n}"), &got, &normals(seed, 0, n), 0.0, 1.0);
    }
}

#[test]
fn normal_with_mean_and_std_matches_box_muller() {
    let d = dev();
    let seed = seed64(0xB0C5_0100);
    let g = Generator::new(seed);
    g.set_offset(1 << 33);
    let got = g.normal(d, &[1001], 2.5, 3.0).unwrap().to_vec().unwrap();
    assert_normal_close("normal(2.5, 3)", &got, &normals(seed, 1 << 33, 1001), 2.5, 3.0);
}

// ---------------------------------------------------------------- statistics

const N_STAT: usize = 1 << 20;

fn mean_var(x: &[f32]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = x.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var)
}

/// |got - want| within 6 standard errors.
fn within_6se(what: &str, got: f64, want: f64, se: f64) {
    assert!(
        (got - want).abs() <= 6.0 * se,
        "{what}: {got} vs {want}, more than 6 standard errors ({se:e}) apart (seed {})",
        base_seed()
    );
}

#[test]
fn randn_statistics() {
    let d = dev();
    let x = Tensor::randn(d, &[N_STAT], seed64(0x57A7_0000))
        .unwrap()
        .to_vec()
        .unwrap();
    assert!(x.iter().all(|v| v.is_finite()), "randn produced a non-finite value");
    let n = N_STAT as f64;
    let (mean, var) = mean_var(&x);
    // SE of the mean 1/sqrt(n); of the sample variance sqrt(2/n) for a normal.
    within_6se("randn mean", mean, 0.0, 1.0 / n.sqrt());
    within_6se("randn variance", var, 1.0, (2.0 / n).sqrt());
    // Shape beyond two moments: P(|z| < 1) = erf(1/sqrt 2) = 0.682689...
    let p = 0.682_689_492_137_086;
    let frac = x.iter().filter(|v| v.abs() < 1.0).count() as f64 / n;
    within_6se("randn P(|z| < 1)", frac, p, (p * (1.0 - p) / n).sqrt());
    // Neighbours (including the cos/sin pair of one Box–Muller draw) are
    // uncorrelated: the lag-1 product has mean 0 and SE 1/sqrt(n).
    let lag1 = x.windows(2).map(|w| w[0] as f64 * w[1] as f64).sum::<f64>() / (n - 1.0);
    within_6se("randn lag-1 correlation", lag1, 0.0, 1.0 / (n - 1.0).sqrt());
}

#[test]
fn uniform_statistics() {
    let d = dev();
    let (low, high) = (-2.0f32, 3.0f32);
    let x = Generator::new(seed64(0x57A7_0001))
        .uniform(d, &[N_STAT], low, high)
        .unwrap()
        .to_vec()
        .unwrap();
    let outside: Vec<f32> = x.iter().copied().filter(|v| !(low..high).contains(v)).take(5).collect();
    assert!(
        outside.is_empty(),
        "uniform [{low}, {high}): values outside the range: {outside:?} (seed {})",
        base_seed()
    );
    let n = N_STAT as f64;
    let w = (high - low) as f64;
    let (mean, var) = mean_var(&x);
    // Var of U(low, high) is w²/12; the sample variance's SE is w²/sqrt(180 n)
    // (fourth central moment w⁴/80).
    within_6se(
        "uniform mean",
        mean,
        (low + high) as f64 / 2.0,
        (w * w / 12.0 / n).sqrt(),
    );
    within_6se("uniform variance", var, w * w / 12.0, w * w / (180.0 * n).sqrt());
    // 64 equal bins, each count within 6 binomial SE of n/64.
    let mut bins = [0usize; 64];
    for &v in &x {
        bins[(((v - low) as f64 / w) * 64.0) as usize] += 1;
    }
    let p = 1.0 / 64.0;
    for (b, &c) in bins.iter().enumerate() {
        within_6se(&format!("uniform bin {b}"), c as f64, n * p, (n * p * (1.0 - p)).sqrt());
    }
}

// ---------------------------------------------------------------- seeds

fn fraction_different(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).filter(|(x, y)| x.to_bits() != y.to_bits()).count() as f64 / a.len() as f64
}

#[test]
fn same_seed_same_output_different_seed_different_output() {
    let d = dev();
    let seed = seed64(0x5A3E_0000);
    let n = 4099;
    let a = Tensor::rand(d, &[n], seed).unwrap().to_vec().unwrap();
    let b = Tensor::rand(d, &[n], seed).unwrap().to_vec().unwrap();
    assert_bits_eq("rand twice with one seed", &a, &b);
    let a = Tensor::randn(d, &[n], seed).unwrap().to_vec().unwrap();
    let b = Tensor::randn(d, &[n], seed).unwrap().to_vec().unwrap();
    assert_bits_eq("randn twice with one seed", &a, &b);

    // Seeds differing in the low word, in the high word, and offsets
    // differing in either word: each gives an unrelated stream (two 24-bit
    // uniforms coincide with probability 2^-24).
    let base = Tensor::rand(d, &[n], seed).unwrap().to_vec().unwrap();
    for (what, other) in [("low seed word", seed ^ 1), ("high seed word", seed ^ (1 << 32))] {
        let o = Tensor::rand(d, &[n], other).unwrap().to_vec().unwrap();
        let f = fraction_different(&base, &o);
        assert!(
            f > 0.99,
            "rand with seeds differing in the {what}: only {f} of values differ"
        );
        let on = Tensor::randn(d, &[n], other).unwrap().to_vec().unwrap();
        let f = fraction_different(&a, &on);
        assert!(
            f > 0.99,
            "randn with seeds differing in the {what}: only {f} of values differ"
        );
    }
    for (what, off) in [("low offset word", 1u64), ("high offset word", 1 << 32)] {
        let g = Generator::new(seed);
        g.set_offset(off);
        let o = g.uniform(d, &[n], 0.0, 1.0).unwrap().to_vec().unwrap();
        let f = fraction_different(&base, &o);
        assert!(
            f > 0.99,
            "rand at offsets differing in the {what}: only {f} of values differ"
        );
    }
}
