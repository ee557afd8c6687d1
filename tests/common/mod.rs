//! Shared test machinery: one device per test binary, seeded random inputs,
//! closeness checks with stated tolerances, and finite-difference checks of
//! first and second derivatives against f64 references.
//!
//! Both test crates compile this one module: `tests/main.rs` as its own
//! `common`, `kernels-tests/main.rs` by path. Each uses only part of it (only
//! the kernel tests use the f64 kernel references and `check_op`, only the
//! end-to-end tests the installed-data checks), so unused items are allowed.

#![allow(dead_code)]

pub mod jacobi;
pub mod npy_files;
pub mod reference;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use balgan::{Device, DeviceOptions, HostRng, Tensor, Tuning};

/// The device every test uses, with output poisoning on: tensors start as NaN
/// so an element a kernel never writes fails the comparison.
pub fn dev() -> &'static Device {
    static DEV: OnceLock<Device> = OnceLock::new();
    DEV.get_or_init(|| {
        let d = Device::new().expect("kernel tests need a GPU or lavapipe (apt-get install mesa-vulkan-drivers)");
        d.set_poison_outputs(true);
        d
    })
}

/// One device per kernel tuning, so that kernels chosen by adapter type are
/// all tested on any machine (on lavapipe `Auto` would only pick `Cpu`).
pub fn tuned_devices() -> &'static [(Tuning, Device); 2] {
    static DEVS: OnceLock<[(Tuning, Device); 2]> = OnceLock::new();
    DEVS.get_or_init(private_tuned_devices)
}

/// Fresh devices, one per tuning, that no other test shares: for tests
/// that count dispatches (tests run in parallel, and a shared device counts
/// every test's dispatches).
pub fn private_tuned_devices() -> [(Tuning, Device); 2] {
    [Tuning::Gpu, Tuning::Cpu].map(|tuning| {
        let opts = DeviceOptions {
            quiet: true,
            tuning,
            ..DeviceOptions::from_env()
        };
        let d = Device::with_options(opts).expect("kernel tests need a GPU or lavapipe");
        d.set_poison_outputs(true);
        (tuning, d)
    })
}

/// A CPU-tuned device that keeps to the kernels without subgroup operations
/// (the register-tile products), fresh for each call. On an adapter with
/// subgroups, [`tuned_devices`]' CPU device runs the subgroup product instead,
/// so tests of the products add this one to cover both.
pub fn private_register_tile_device() -> Device {
    let opts = DeviceOptions {
        quiet: true,
        tuning: Tuning::Cpu,
        no_subgroups: true,
        ..DeviceOptions::from_env()
    };
    let d = Device::with_options(opts).expect("kernel tests need a GPU or lavapipe");
    d.set_poison_outputs(true);
    d
}

/// The devices of every product kernel: `Gpu` (workgroup-memory tiles),
/// `Cpu` (the subgroup product where the adapter has subgroups) and `Cpu`
/// without subgroups (register tiles), each with a label for messages.
pub fn product_devices() -> &'static [(&'static str, Device); 3] {
    static DEVS: OnceLock<[(&'static str, Device); 3]> = OnceLock::new();
    DEVS.get_or_init(|| {
        let [(_, gpu), (_, cpu)] = private_tuned_devices();
        let cpu_label = if cpu.subgroup_size().is_some() {
            "Cpu (subgroups)"
        } else {
            "Cpu"
        };
        [
            ("Gpu", gpu),
            (cpu_label, cpu),
            ("Cpu (register tiles)", private_register_tile_device()),
        ]
    })
}

/// Whether this is a CI run: `CI` set to anything but empty, `0` or `false`
/// (CI services set `CI=true`; so does `.ci/run`).
pub fn ci_from(value: Option<&str>) -> bool {
    matches!(value.map(|v| v.trim().to_ascii_lowercase()), Some(v) if !v.is_empty() && v != "0" && v != "false")
}

/// [`ci_from`] of the `CI` environment variable.
pub fn under_ci() -> bool {
    ci_from(std::env::var("CI").ok().as_deref())
}

/// Whether a test's data folder `dir` is there. When it is missing, a test
/// that needs it skips with a note on a developer's machine (returns false),
/// but fails under CI, which installs the data, so that a broken install
/// cannot pass as a green run of skipped tests.
pub fn data_or_skip(dir: &std::path::Path, what: &str, ci: bool) -> bool {
    if dir.is_dir() {
        return true;
    }
    if ci {
        panic!(
            "{what} is missing ({} is not a directory) and CI is set: CI must install it \
             (.ci/run and `./run test` do), so the tests that need it run instead of skipping",
            dir.display()
        );
    }
    eprintln!(
        "note: {what} is missing ({}); skipping (`./run test` installs it)",
        dir.display()
    );
    false
}

/// Whether Fashion-MNIST from Debian's `dataset-fashion-mnist` package is
/// installed; see [`data_or_skip`]. Use as
/// `if !fashion_mnist_or_skip() { return; }`.
pub fn fashion_mnist_or_skip() -> bool {
    data_or_skip(
        std::path::Path::new(balgan::data::fashion_mnist::FASHION_MNIST_DEBIAN_DIR),
        "Fashion-MNIST (apt-get install dataset-fashion-mnist)",
        under_ci(),
    )
}

/// The run's base seed: `BALGAN_TEST_SEED` if set, else fresh from the clock.
/// Every failure message prints it, so a failure can be replayed.
pub fn base_seed() -> u64 {
    static SEED: OnceLock<u64> = OnceLock::new();
    *SEED.get_or_init(|| match std::env::var("BALGAN_TEST_SEED") {
        Ok(s) => s.parse().expect("BALGAN_TEST_SEED must be an integer"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    })
}

/// A small, good host RNG for test inputs: the crate's SplitMix64 stream
/// started from the run's base seed.
pub struct Rng(HostRng);

impl Rng {
    /// A generator for one test: the base seed mixed with a per-test salt.
    pub fn new(salt: u64) -> Rng {
        Rng(HostRng::new(
            base_seed() ^ salt.wrapping_mul(balgan::tensor::GOLDEN_GAMMA),
        ))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform on [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform on [lo, hi), rounded to f32.
    pub fn uniform(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n)
            .map(|_| (lo as f64 + (hi - lo) as f64 * self.unit()) as f32)
            .collect()
    }

    /// Values with |x| in [lo, hi] and a random sign: keeps inputs away from
    /// kinks (relu, abs) and poles (div, log of |x|).
    pub fn away_from_zero(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let m = lo as f64 + (hi - lo) as f64 * self.unit();
                (if self.unit() < 0.5 { -m } else { m }) as f32
            })
            .collect()
    }

    /// Fisher–Yates shuffle (back to front, positions by [`Rng::below`]).
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        self.0.shuffle_by_remainder(v);
    }

    /// Uniform on `0..n`, without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        self.0.below_by_remainder(n as usize) as u64
    }
}

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

pub fn tensor(data: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(dev(), data, shape).expect("upload")
}

pub fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// Assert |got - want| <= atol + rtol·|want| elementwise (NaN never passes
/// unless both are NaN). Prints the seed and the first 5 mismatches.
pub fn assert_close(what: &str, got: &[f32], want: &[f64], atol: f64, rtol: f64) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: length {} vs reference {} (seed {})",
        got.len(),
        want.len(),
        base_seed()
    );
    let mut bad = Vec::new();
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let g = g as f64;
        let ok = if w.is_nan() {
            g.is_nan()
        } else if w.is_infinite() {
            g == w
        } else {
            (g - w).abs() <= atol + rtol * w.abs()
        };
        if !ok {
            bad.push((i, g, w));
        }
    }
    if !bad.is_empty() {
        let first: Vec<String> = bad
            .iter()
            .take(5)
            .map(|(i, g, w)| format!("[{i}] got {g:e} want {w:e}"))
            .collect();
        panic!(
            "{what}: {} of {} elements differ (atol {atol:e}, rtol {rtol:e}, seed {}): {}",
            bad.len(),
            got.len(),
            base_seed(),
            first.join(", ")
        );
    }
}

/// The largest magnitude in `v` (at least 1), to scale absolute tolerances.
pub fn scale(v: &[f64]) -> f64 {
    v.iter().fold(1.0f64, |m, x| m.max(x.abs()))
}

/// One differentiable op under test.
pub struct OpCheck<'a> {
    pub name: &'a str,
    /// Input data and shapes.
    pub inputs: Vec<(Vec<f32>, Vec<usize>)>,
    /// The op on the GPU.
    pub gpu: &'a dyn Fn(&[Tensor]) -> balgan::Result<Tensor>,
    /// The same op in f64 on the CPU: returns (values, shape).
    pub cpu: &'a dyn Fn(&[Vec<f64>]) -> Vec<f64>,
    /// Skip the second-order check (ops whose second derivative is not defined
    /// at the sampled points are not among ours, but keep the switch).
    pub second_order: bool,
}

/// The scalar loss the gradient checks differentiate: L = Σ v·y + Σ u·y², with
/// y the op's output and u, v fixed random weights. The square makes the
/// upstream gradient depend on the inputs, so second-order checks exercise
/// every backward rule (for a linear op, Σ v·y alone would have no Hessian).
fn loss_cpu(check: &OpCheck<'_>, xs: &[Vec<f64>], u: &[f64], v: &[f64]) -> f64 {
    let y = (check.cpu)(xs);
    y.iter().zip(u).zip(v).map(|((y, u), v)| v * y + u * y * y).sum()
}

/// Central-difference gradient of L at xs, in f64.
fn fd_grad(check: &OpCheck<'_>, xs: &[Vec<f64>], u: &[f64], v: &[f64], h: f64) -> Vec<Vec<f64>> {
    let mut out = Vec::new();
    for i in 0..xs.len() {
        let mut gi = Vec::with_capacity(xs[i].len());
        for j in 0..xs[i].len() {
            let mut xp = xs.to_vec();
            let mut xm = xs.to_vec();
            let step = h * xs[i][j].abs().max(1.0);
            xp[i][j] += step;
            xm[i][j] -= step;
            gi.push((loss_cpu(check, &xp, u, v) - loss_cpu(check, &xm, u, v)) / (2.0 * step));
        }
        out.push(gi);
    }
    out
}

/// Forward against the reference, gradient against central differences of the
/// f64 reference, and (optionally) the Hessian-vector product from double
/// backward against central differences of the finite-difference gradient.
///
/// Tolerances: forward 1e-5·scale + 1e-5 relative (f32 rounding of one op,
/// a few ulps, plus summation over at most a few thousand terms); gradients
/// 2e-4·scale + 2e-3 relative (forward and backward in f32 through the loss's
/// square and sum; the f64 finite differences themselves are accurate to
/// ~1e-9 with h = 1e-6); second order 2e-3·scale + 1e-2 relative (nested
/// differences with h = 1e-4 have truncation error ~1e-7 and the GPU side
/// runs two backward passes in f32).
pub fn check_op(check: OpCheck<'_>) {
    check_op_tol(check, 1e-5, 2e-4, 2e-3)
}

pub fn check_op_tol(check: OpCheck<'_>, fwd_tol: f64, grad_tol: f64, second_tol: f64) {
    let d = dev();
    let name = check.name;
    let xs64: Vec<Vec<f64>> = check.inputs.iter().map(|(x, _)| to_f64(x)).collect();
    let want = (check.cpu)(&xs64);
    let xs: Vec<Tensor> = check
        .inputs
        .iter()
        .map(|(x, s)| tensor(x, s).requires_grad_())
        .collect();
    let y = (check.gpu)(&xs).unwrap_or_else(|e| panic!("{name}: forward failed: {e}"));
    let got = y.to_vec().expect("readback");
    assert_close(&format!("{name} forward"), &got, &want, fwd_tol * scale(&want), fwd_tol);

    let mut rng = Rng::new(name.len() as u64 * 7919 + want.len() as u64);
    let v = rng.uniform(want.len(), -1.0, 1.0);
    let u = rng.uniform(want.len(), -0.5, 0.5);
    let v64 = to_f64(&v);
    let u64_ = to_f64(&u);
    let vt = tensor(&v, y.shape());
    let ut = tensor(&u, y.shape());
    let loss = y
        .mul(&vt)
        .unwrap()
        .add(&y.square().unwrap().mul(&ut).unwrap())
        .unwrap()
        .sum_all()
        .unwrap();
    let refs: Vec<&Tensor> = xs.iter().collect();

    // First order.
    let fd = fd_grad(&check, &xs64, &u64_, &v64, 1e-6);
    let grads =
        balgan::grad(&[&loss], &refs, check.second_order).unwrap_or_else(|e| panic!("{name}: backward failed: {e}"));
    for (i, (g, f)) in grads.iter().zip(&fd).enumerate() {
        assert_eq!(g.shape(), xs[i].shape(), "{name}: gradient shape of input {i}");
        let gv = g.to_vec().unwrap();
        assert_close(&format!("{name} d/dx{i}"), &gv, f, grad_tol * scale(f), 10.0 * grad_tol);
    }
    if !check.second_order {
        return;
    }

    // Second order: H = Σ_i <w_i, ∂L/∂x_i>; ∂H/∂x = (∇²L)·w.
    let ws: Vec<Vec<f32>> = xs64.iter().map(|x| rng.uniform(x.len(), -1.0, 1.0)).collect();
    let mut h = Tensor::scalar(d, 0.0).unwrap();
    for (g, (w, x)) in grads.iter().zip(ws.iter().zip(&xs)) {
        let wt = tensor(w, x.shape());
        h = h.add(&g.mul(&wt).unwrap().sum_all().unwrap()).unwrap();
    }
    if !h.requires_grad() {
        // The gradient does not depend on the inputs: the Hessian is zero.
        for (i, x) in xs64.iter().enumerate() {
            let eps = 1e-4;
            let shifted = |s: f64| -> Vec<f64> {
                let xs: Vec<Vec<f64>> = xs64
                    .iter()
                    .zip(&ws)
                    .map(|(x, w)| x.iter().zip(w).map(|(a, b)| a + s * *b as f64).collect())
                    .collect();
                fd_grad(&check, &xs, &u64_, &v64, 1e-5)[i].clone()
            };
            let (gp, gm) = (shifted(eps), shifted(-eps));
            let hv: Vec<f64> = gp.iter().zip(&gm).map(|(a, b)| (a - b) / (2.0 * eps)).collect();
            assert_close(
                &format!("{name} second order (constant gradient) x{i}"),
                &vec![0.0; x.len()],
                &hv,
                second_tol * scale(&hv),
                0.0,
            );
        }
        return;
    }
    let hg = balgan::grad(&[&h], &refs, false).unwrap_or_else(|e| panic!("{name}: double backward failed: {e}"));
    let eps = 1e-4;
    let shifted = |s: f64| -> Vec<Vec<f64>> {
        let xs: Vec<Vec<f64>> = xs64
            .iter()
            .zip(&ws)
            .map(|(x, w)| x.iter().zip(w).map(|(a, b)| a + s * *b as f64).collect())
            .collect();
        fd_grad(&check, &xs, &u64_, &v64, 1e-5)
    };
    let (gp, gm) = (shifted(eps), shifted(-eps));
    for (i, g) in hg.iter().enumerate() {
        let hv: Vec<f64> = gp[i].iter().zip(&gm[i]).map(|(a, b)| (a - b) / (2.0 * eps)).collect();
        assert_close(
            &format!("{name} second order d/dx{i}"),
            &g.to_vec().unwrap(),
            &hv,
            second_tol * scale(&hv),
            5.0 * second_tol,
        );
    }
}

/// A fresh directory under the system temp dir
/// (`balgan-test-<tag>-<pid>-<n>`, unique within the run), removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("balgan-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
