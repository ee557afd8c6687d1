//! `shaders/optim.wgsl` through `balgan::optim::{Adam, Sgd, RmsProp}`, against an f64
//! CPU reference of PyTorch's `torch.optim.Adam` / `AdamW` / `SGD` / `RMSprop` over four
//! steps with fresh random gradients each step, parameter sizes 1, 7 and 1000,
//! and over 37 parameters of odd sizes (one dispatch updates up to
//! `slots_per_dispatch` of them, so these cross dispatch boundaries).
//!
//! The reference follows PyTorch's per-parameter state: a parameter's Adam
//! step count and its SGD momentum buffer start when it first has a gradient,
//! and a parameter whose gradient is `None` is skipped (unchanged, state
//! untouched).

use balgan::optim::{Adam, AdamConfig, RmsProp, RmsPropConfig, Sgd, SgdConfig};
use balgan::Tensor;

use crate::common::{base_seed, dev, tensor, to_f64, Rng};

const STEPS: usize = 4;
const SIZES: [usize; 3] = [1, 7, 1000];
const EPS32: f64 = f32::EPSILON as f64;

// ---------------------------------------------------------------- driver

/// The optimizer under test, behind one interface.
trait GpuOpt {
    fn set_lr(&mut self, lr: f32);
    fn step(&mut self) -> balgan::Result<()>;
}

impl GpuOpt for Adam {
    fn set_lr(&mut self, lr: f32) {
        self.config.lr = lr;
    }
    fn step(&mut self) -> balgan::Result<()> {
        Adam::step(self)
    }
}

impl GpuOpt for Sgd {
    fn set_lr(&mut self, lr: f32) {
        self.config.lr = lr;
    }
    fn step(&mut self) -> balgan::Result<()> {
        Sgd::step(self)
    }
}

/// The f64 reference: update parameter `i` (which has gradient `g`) in place
/// and add this step's error allowance to `tol`.
trait CpuOpt {
    fn step_param(&mut self, lr: f64, i: usize, theta: &mut [f64], g: &[f64], tol: &mut [f64]);
}

struct Case<'a> {
    name: &'a str,
    /// Learning rate for each step (set on the optimizer's config before it).
    lrs: [f32; STEPS],
    /// Whether parameter `i` has a gradient at step `s`: `has_grad(s, i)`.
    has_grad: &'a dyn Fn(usize, usize) -> bool,
    /// Parameter sizes.
    sizes: &'a [usize],
}

/// Random gradients on [-1, 1), with every 7th element scaled to ~1e-8 (where
/// Adam's ε is comparable to sqrt(v̂), so its placement matters) and every
/// 13th exactly zero.
fn gradient(rng: &mut Rng, n: usize) -> Vec<f32> {
    let mut g = rng.uniform(n, -1.0, 1.0);
    for (j, x) in g.iter_mut().enumerate() {
        if j % 7 == 3 {
            *x *= 1e-8;
        } else if j % 13 == 5 {
            *x = 0.0;
        }
    }
    g
}

/// Run `STEPS` steps of the GPU optimizer made by `make` and of `cpu` on the
/// same parameters and gradients; after every step compare every parameter
/// (per-element tolerance accumulated by the reference), and check that a
/// parameter without a gradient kept its exact bits.
fn run(case: &Case<'_>, salt: u64, make: &dyn Fn(&[Tensor]) -> Box<dyn GpuOpt>, cpu: &mut dyn CpuOpt) {
    let name = case.name;
    let mut rng = Rng::new(salt);
    let sizes = case.sizes;
    let init: Vec<Vec<f32>> = sizes.iter().map(|&n| rng.uniform(n, -1.0, 1.0)).collect();
    let params: Vec<Tensor> = init.iter().map(|x| tensor(x, &[x.len()]).requires_grad_()).collect();
    let mut opt = make(&params);
    let mut theta: Vec<Vec<f64>> = init.iter().map(|x| to_f64(x)).collect();
    let mut tol: Vec<Vec<f64>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
    let mut prev: Vec<Vec<f32>> = init.clone();

    for s in 0..STEPS {
        let lr = case.lrs[s];
        for (i, p) in params.iter().enumerate() {
            if (case.has_grad)(s, i) {
                let g = gradient(&mut rng, sizes[i]);
                p.set_grad(Some(tensor(&g, &[g.len()])));
                cpu.step_param(lr as f64, i, &mut theta[i], &to_f64(&g), &mut tol[i]);
            } else {
                p.set_grad(None);
            }
        }
        opt.set_lr(lr);
        opt.step().unwrap_or_else(|e| panic!("{name}: step {s} failed: {e}"));

        for (i, p) in params.iter().enumerate() {
            let got = p.to_vec().unwrap();
            let what = format!("{name}: step {} param {i} (size {})", s + 1, sizes[i]);
            if !(case.has_grad)(s, i) {
                let same = got.iter().zip(&prev[i]).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{what}: has no gradient but changed (seed {})", base_seed());
            }
            compare(&what, &got, &theta[i], &tol[i]);
            prev[i] = got;
        }
    }
}

fn compare(what: &str, got: &[f32], want: &[f64], tol: &[f64]) {
    let mut bad = Vec::new();
    for (j, ((&g, &w), &t)) in got.iter().zip(want).zip(tol).enumerate() {
        // Written so that NaN fails.
        let ok = (g as f64 - w).abs() <= t;
        if !ok {
            bad.push(format!(
                "[{j}] got {g:e} want {w:e} (diff {:e}, tol {t:e})",
                (g as f64 - w).abs()
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{what}: {} of {} elements differ from the PyTorch reference (seed {}): {}",
        bad.len(),
        got.len(),
        base_seed(),
        bad.iter().take(5).cloned().collect::<Vec<_>>().join(", ")
    );
}

// ---------------------------------------------------------------- Adam reference

/// PyTorch's Adam (L2 weight decay folded into the gradient) and AdamW
/// (decoupled decay), in f64 from the f32 hyper-parameters:
///   t += 1 (per parameter, only when it has a gradient)
///   AdamW: θ ← θ·(1 − lr·wd);  Adam: g ← g + wd·θ
///   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²
///   θ ← θ − (lr / (1−β1^t)) · m / (sqrt(v) / sqrt(1−β2^t) + ε)
///
/// Error allowance per step and element: 3 ulp·|θ| (the GPU rounds θ at the
/// decay multiply and the final subtraction, and 1 − lr·wd once) plus 2e-4
/// of the update's size. The relative part covers the GPU's f32 bias
/// corrections (1 − β2^t in f32 loses ~3e-5 relative by cancellation at t = 4,
/// half of it after the square root) and the f32 rounding of m, v and the
/// quotient (a few ulps): an order of magnitude of margin, while a wrong bias
/// correction or step count moves the update by tens of percent and ε inside
/// the square root changes the tiny-gradient elements' update by ~100×.
struct AdamCpu {
    c: AdamConfig,
    state: Vec<(Vec<f64>, Vec<f64>, i32)>,
}

impl AdamCpu {
    fn new(c: AdamConfig, sizes: &[usize]) -> AdamCpu {
        AdamCpu {
            c,
            state: sizes.iter().map(|&n| (vec![0.0; n], vec![0.0; n], 0)).collect(),
        }
    }
}

impl CpuOpt for AdamCpu {
    fn step_param(&mut self, lr: f64, i: usize, theta: &mut [f64], g: &[f64], tol: &mut [f64]) {
        let (b1, b2, eps, wd) = (
            self.c.beta1 as f64,
            self.c.beta2 as f64,
            self.c.eps as f64,
            self.c.weight_decay as f64,
        );
        let (m, v, t) = &mut self.state[i];
        *t += 1;
        let bc1 = 1.0 - b1.powi(*t);
        let bc2 = 1.0 - b2.powi(*t);
        for j in 0..theta.len() {
            let mut gj = g[j];
            if self.c.decoupled_weight_decay {
                theta[j] *= 1.0 - lr * wd;
            } else {
                gj += wd * theta[j];
            }
            m[j] = b1 * m[j] + (1.0 - b1) * gj;
            v[j] = b2 * v[j] + (1.0 - b2) * gj * gj;
            let update = lr / bc1 * m[j] / (v[j].sqrt() / bc2.sqrt() + eps);
            theta[j] -= update;
            tol[j] += 3.0 * EPS32 * theta[j].abs() + 2e-4 * update.abs();
        }
    }
}

fn adam_case(case: &Case<'_>, salt: u64, c: AdamConfig) {
    run(
        case,
        salt,
        &|p| Box::new(Adam::new(p, c).expect("Adam::new")),
        &mut AdamCpu::new(c, case.sizes),
    );
}

const ALWAYS: &dyn Fn(usize, usize) -> bool = &|_, _| true;

#[test]
fn adam_default() {
    let c = AdamConfig::default();
    assert_eq!(
        (c.lr, c.beta1, c.beta2, c.eps, c.weight_decay),
        (1e-3, 0.9, 0.999, 1e-8, 0.0),
        "PyTorch's defaults"
    );
    assert!(!c.decoupled_weight_decay);
    let case = Case {
        name: "Adam default",
        lrs: [c.lr; STEPS],
        has_grad: ALWAYS,
        sizes: &SIZES,
    };
    adam_case(&case, 0xADA0, c);
}

#[test]
fn adam_l2_weight_decay() {
    let c = AdamConfig {
        lr: 1e-2,
        beta1: 0.8,
        beta2: 0.99,
        eps: 1e-6,
        weight_decay: 0.05,
        decoupled_weight_decay: false,
    };
    let case = Case {
        name: "Adam L2",
        // lr changes between steps: each step uses the current value.
        lrs: [1e-2, 1e-2, 3e-3, 2e-2],
        has_grad: ALWAYS,
        sizes: &SIZES,
    };
    adam_case(&case, 0xADA1, c);
}

#[test]
fn adamw_decoupled_weight_decay() {
    let c = AdamConfig {
        lr: 1e-2,
        weight_decay: 0.1,
        decoupled_weight_decay: true,
        ..AdamConfig::default()
    };
    let case = Case {
        name: "AdamW",
        lrs: [1e-2, 5e-3, 1e-2, 2e-2],
        has_grad: ALWAYS,
        sizes: &SIZES,
    };
    adam_case(&case, 0xADA2, c);
}

#[test]
fn adam_leaves_parameters_without_gradient_unchanged() {
    // Param 1 never has a gradient; param 2 only in the first two steps.
    let c = AdamConfig {
        lr: 1e-2,
        weight_decay: 0.1,
        decoupled_weight_decay: true,
        ..AdamConfig::default()
    };
    let case = Case {
        name: "Adam, missing gradients",
        lrs: [c.lr; STEPS],
        has_grad: &|s, i| i == 0 || (i == 2 && s < 2),
        sizes: &SIZES,
    };
    adam_case(&case, 0xADA3, c);
}

#[test]
fn adam_step_count_is_per_parameter() {
    // PyTorch keeps `step` per parameter and only counts steps where the
    // parameter had a gradient: param 1 first gets one at step 2, param 2
    // skips step 2. Their bias corrections must use their own counts.
    let c = AdamConfig {
        lr: 1e-2,
        ..AdamConfig::default()
    };
    let case = Case {
        name: "Adam, per-parameter step",
        lrs: [c.lr; STEPS],
        has_grad: &|s, i| !((i == 1 && s == 0) || (i == 2 && s == 1)),
        sizes: &SIZES,
    };
    adam_case(&case, 0xADA4, c);
}

// ---------------------------------------------------------------- SGD reference

/// PyTorch's SGD in f64 from the f32 hyper-parameters:
///   d ← g + wd·θ
///   if μ ≠ 0: buf ← d on the parameter's first step with a gradient, else
///             μ·buf + (1 − dampening)·d;  d ← nesterov ? d + μ·buf : buf
///   θ ← θ − lr·d
///
/// Error allowance per step and element: 2 ulp·|θ| (rounding of θ − lr·d,
/// at most one ulp) plus 32 ulp·lr·(|g| + |wd·θ| + (1 + μ)·|buf|): the GPU's
/// f32 evaluation of d, buf and lr·d rounds a handful of times per step, and
/// errors in buf carry into later steps scaled by μ < 1. A wrong formula
/// (dampening on the first step, missing Nesterov term, decay after momentum)
/// changes the update by a fraction of itself, ~1e6 times this allowance.
struct SgdCpu {
    c: SgdConfig,
    buf: Vec<Option<Vec<f64>>>,
}

impl SgdCpu {
    fn new(c: SgdConfig, sizes: &[usize]) -> SgdCpu {
        SgdCpu {
            c,
            buf: vec![None; sizes.len()],
        }
    }
}

impl CpuOpt for SgdCpu {
    fn step_param(&mut self, lr: f64, i: usize, theta: &mut [f64], g: &[f64], tol: &mut [f64]) {
        let (mu, damp, wd) = (
            self.c.momentum as f64,
            self.c.dampening as f64,
            self.c.weight_decay as f64,
        );
        let d: Vec<f64> = g.iter().zip(theta.iter()).map(|(g, t)| g + wd * t).collect();
        let step: Vec<f64> = if mu != 0.0 {
            let buf = match self.buf[i].take() {
                None => d.clone(),
                Some(b) => b.iter().zip(&d).map(|(b, d)| mu * b + (1.0 - damp) * d).collect(),
            };
            let step = if self.c.nesterov {
                d.iter().zip(&buf).map(|(d, b)| d + mu * b).collect()
            } else {
                buf.clone()
            };
            self.buf[i] = Some(buf);
            step
        } else {
            d.clone()
        };
        let buf = self.buf[i].clone().unwrap_or_else(|| vec![0.0; theta.len()]);
        for j in 0..theta.len() {
            let scale = g[j].abs() + (wd * theta[j]).abs() + (1.0 + mu) * buf[j].abs();
            theta[j] -= lr * step[j];
            tol[j] += 2.0 * EPS32 * theta[j].abs() + 32.0 * EPS32 * lr * scale;
        }
    }
}

fn sgd_case(case: &Case<'_>, salt: u64, c: SgdConfig) {
    run(
        case,
        salt,
        &|p| Box::new(Sgd::new(p, c).expect("Sgd::new")),
        &mut SgdCpu::new(c, case.sizes),
    );
}

#[test]
fn sgd_plain() {
    let c = SgdConfig::default();
    assert_eq!(
        (c.lr, c.momentum, c.dampening, c.weight_decay, c.nesterov),
        (0.01, 0.0, 0.0, 0.0, false),
        "PyTorch-like defaults"
    );
    let case = Case {
        name: "SGD plain",
        lrs: [0.01, 0.1, 0.05, 0.5],
        has_grad: ALWAYS,
        sizes: &SIZES,
    };
    sgd_case(&case, 0x56D0, SgdConfig { lr: 0.01, ..c });
}

#[test]
fn sgd_momentum_dampening_weight_decay() {
    let c = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0.3,
        weight_decay: 0.01,
        nesterov: false,
    };
    let case = Case {
        name: "SGD momentum + dampening + weight decay",
        lrs: [0.1, 0.1, 0.05, 0.2],
        has_grad: ALWAYS,
        sizes: &SIZES,
    };
    sgd_case(&case, 0x56D1, c);
}

#[test]
fn sgd_nesterov() {
    let c = SgdConfig {
        lr: 0.05,
        momentum: 0.8,
        dampening: 0.0,
        weight_decay: 0.02,
        nesterov: true,
    };
    let case = Case {
        name: "SGD Nesterov",
        lrs: [c.lr; STEPS],
        has_grad: ALWAYS,
        sizes: &SIZES,
    };
    sgd_case(&case, 0x56D2, c);
}

#[test]
fn sgd_leaves_parameters_without_gradient_unchanged() {
    let c = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0.0,
        weight_decay: 0.01,
        nesterov: false,
    };
    let case = Case {
        name: "SGD, missing gradients",
        lrs: [c.lr; STEPS],
        has_grad: &|s, i| i == 0 || (i == 2 && s < 2),
        sizes: &SIZES,
    };
    sgd_case(&case, 0x56D3, c);
}

#[test]
fn sgd_momentum_buffer_starts_at_first_gradient() {
    // PyTorch creates a parameter's momentum buffer as a copy of its first
    // gradient, whenever that comes: with dampening ≠ 0 a buffer started from
    // zero (μ·0 + (1 − dampening)·d) differs. Param 1 first gets a gradient
    // at step 2; param 2 skips step 2 (its buffer waits, unchanged).
    let c = SgdConfig {
        lr: 0.1,
        momentum: 0.9,
        dampening: 0.5,
        weight_decay: 0.0,
        nesterov: false,
    };
    let case = Case {
        name: "SGD, momentum buffer per parameter",
        lrs: [c.lr; STEPS],
        has_grad: &|s, i| !((i == 1 && s == 0) || (i == 2 && s == 1)),
        sizes: &SIZES,
    };
    sgd_case(&case, 0x56D4, c);
}

// ---------------------------------------------------------------- many tensors

/// 37 parameters: more than one dispatch holds on any adapter (at most 16),
/// sizes around the 256-wide workgroup (1, 255, 256, 257), odd ones, and one
/// of 70,001 elements (a grid folded past one row of workgroups on adapters
/// with small limits, and more elements than one invocation's loop budget:
/// the kernel has no per-element loop, its only loop runs over the ≤ 16
/// tensors of a dispatch).
const MANY: [usize; 37] = [
    1, 3, 255, 256, 257, 7, 1000, 2, 70_001, 5, 31, 1, 64, 129, 9, 4, 1, 300, 17, 6, 33, 1, 8, 511, 513, 11, 2, 1, 19,
    100, 3, 3, 77, 1, 200, 13, 1,
];

/// A pattern of missing gradients that gives the parameters three different
/// step counts (so three bias corrections, one group of dispatches each).
const SOME: &dyn Fn(usize, usize) -> bool = &|s, i| !((i % 5 == 1 && s == 0) || (i % 7 == 2 && s == 1));

#[test]
fn adam_many_tensors_match_the_reference() {
    for (salt, has_grad) in [(0xADA5, ALWAYS), (0xADA6, SOME)] {
        // Decoupled decay: with the L2 form, among 70,001 elements some have
        // g + wd·θ cancel to ~ε, where Adam's update g/(|g| + ε) turns the
        // f32 rounding of that sum into a large relative change (the L2 form
        // is covered on the small sizes above).
        let c = AdamConfig {
            lr: 1e-2,
            weight_decay: 0.01,
            decoupled_weight_decay: true,
            ..AdamConfig::default()
        };
        let case = Case {
            name: "Adam, 37 tensors",
            lrs: [1e-2, 3e-3, 1e-2, 2e-2],
            has_grad,
            sizes: &MANY,
        };
        adam_case(&case, salt, c);
    }
}

#[test]
fn sgd_many_tensors_match_the_reference() {
    for (salt, has_grad) in [(0x56D5, ALWAYS), (0x56D6, SOME)] {
        let c = SgdConfig {
            lr: 0.05,
            momentum: 0.9,
            dampening: 0.1,
            weight_decay: 0.01,
            nesterov: false,
        };
        let case = Case {
            name: "SGD, 37 tensors",
            lrs: [0.05, 0.02, 0.05, 0.1],
            has_grad,
            sizes: &MANY,
        };
        sgd_case(&case, salt, c);
    }
}

/// A step is one dispatch per `slots_per_dispatch` parameters with a gradient
/// (when they share a step count), not one per parameter.
#[test]
fn one_dispatch_updates_many_tensors() {
    // A device of its own: the tests running beside this one record on the
    // shared device, and the dispatch counter is per device.
    let own = balgan::Device::new().unwrap();
    let d = &own;
    let per = balgan::kernels::optim::slots_per_dispatch(d);
    let storage = d.limits().max_storage_buffers_per_shader_stage as usize;
    assert!(
        (1..=balgan::kernels::optim::MAX_SLOTS).contains(&per) && 2 + 2 * per <= storage,
        "{per} tensors per dispatch do not fit {storage} storage buffers"
    );
    let mut rng = Rng::new(0x0B7);
    let on = |v: &[f32]| Tensor::from_slice(d, v, &[v.len()]).unwrap();
    let params: Vec<Tensor> = MANY
        .iter()
        .map(|&n| on(&rng.uniform(n, -1.0, 1.0)).requires_grad_())
        .collect();
    let set_grads = |rng: &mut Rng| {
        for p in &params {
            p.set_grad(Some(on(&gradient(rng, p.numel()))));
        }
    };
    let mut adam = Adam::new(&params, AdamConfig::default()).unwrap();
    let mut sgd = Sgd::new(
        &params,
        SgdConfig {
            momentum: 0.9,
            ..SgdConfig::default()
        },
    )
    .unwrap();
    let want = MANY.len().div_ceil(per) as u64;
    for step in 0..2 {
        set_grads(&mut rng);
        let before = d.dispatch_counts().0;
        adam.step().unwrap();
        assert_eq!(
            d.dispatch_counts().0 - before,
            want,
            "Adam step {step}, {per} tensors per dispatch"
        );
        let before = d.dispatch_counts().0;
        sgd.step().unwrap();
        assert_eq!(
            d.dispatch_counts().0 - before,
            want,
            "SGD step {step}, {per} tensors per dispatch"
        );
    }
}

/// The state copied out per parameter ([`Adam::moments`]) is each parameter's
/// slice of the flat buffers, and [`Adam::set_moments`] writes it back, so a
/// restored optimizer continues bit for bit.
#[test]
fn flat_state_round_trips_per_parameter() {
    let mut rng = Rng::new(0x0B8);
    let sizes = [3usize, 257, 1, 40];
    let init: Vec<Vec<f32>> = sizes.iter().map(|&n| rng.uniform(n, -1.0, 1.0)).collect();
    let make = || -> Vec<Tensor> { init.iter().map(|x| tensor(x, &[x.len()]).requires_grad_()).collect() };
    let grads: Vec<Vec<Vec<f32>>> = (0..3)
        .map(|_| sizes.iter().map(|&n| gradient(&mut rng, n)).collect())
        .collect();
    let step = |opt: &mut Adam, params: &[Tensor], s: usize| {
        for (p, g) in params.iter().zip(&grads[s]) {
            p.set_grad(Some(tensor(g, &[g.len()])));
        }
        opt.step().unwrap();
    };
    let (pa, pb) = (make(), make());
    let mut a = Adam::new(&pa, AdamConfig::default()).unwrap();
    step(&mut a, &pa, 0);
    step(&mut a, &pa, 1);
    let (m, v) = a.moments().unwrap();
    for (t, p) in m.iter().chain(&v).zip(pa.iter().chain(&pa)) {
        assert_eq!(t.shape(), p.shape(), "a moment is shaped like its parameter");
    }
    // A second optimizer on copies of the parameters, given a's state.
    for (q, p) in pb.iter().zip(&pa) {
        q.assign_(p).unwrap();
    }
    let mut b = Adam::new(&pb, AdamConfig::default()).unwrap();
    b.set_moments(&m, &v).unwrap();
    b.set_step_counts(a.steps(), a.param_steps()).unwrap();
    step(&mut a, &pa, 2);
    step(&mut b, &pb, 2);
    for (i, (p, q)) in pa.iter().zip(&pb).enumerate() {
        let (x, y) = (p.to_vec().unwrap(), q.to_vec().unwrap());
        assert!(
            x.iter().zip(&y).all(|(a, b)| a.to_bits() == b.to_bits()),
            "param {i}: the restored optimizer's step differs"
        );
    }
    // Wrong shapes are refused.
    expect_invalid_or_shape("moments of the wrong count", b.set_moments(&m[..1], &v[..1]));
}

fn expect_invalid_or_shape<T>(what: &str, r: balgan::Result<T>) {
    match r {
        Err(balgan::Error::InvalidArgument { .. } | balgan::Error::ShapeMismatch { .. }) => {}
        Err(e) => panic!("{what}: expected InvalidArgument or ShapeMismatch, got {e}"),
        Ok(_) => panic!("{what}: was accepted"),
    }
}

// ---------------------------------------------------------------- constructors

fn expect_invalid<T>(what: &str, r: balgan::Result<T>) {
    match r {
        Err(balgan::Error::InvalidArgument { .. }) => {}
        Err(e) => panic!("{what}: expected InvalidArgument, got {e}"),
        Ok(_) => panic!("{what}: was accepted"),
    }
}

#[test]
fn constructors_reject_bad_parameters() {
    let d = dev();
    let leaf = Tensor::from_slice(d, &[1.0, 2.0, 3.0], &[3]).unwrap().requires_grad_();
    let non_leaf = leaf.square().unwrap();
    assert!(non_leaf.requires_grad() && !non_leaf.is_leaf());
    let no_grad = Tensor::from_slice(d, &[1.0, 2.0], &[2]).unwrap();
    assert!(!no_grad.requires_grad());

    expect_invalid(
        "Adam with a non-leaf",
        Adam::new(&[leaf.clone(), non_leaf.clone()], AdamConfig::default()),
    );
    expect_invalid(
        "Adam with a tensor that does not require grad",
        Adam::new(std::slice::from_ref(&no_grad), AdamConfig::default()),
    );
    expect_invalid("Sgd with a non-leaf", Sgd::new(&[non_leaf], SgdConfig::default()));
    expect_invalid(
        "Sgd with a tensor that does not require grad",
        Sgd::new(&[leaf.clone(), no_grad], SgdConfig::default()),
    );

    let nesterov = SgdConfig {
        nesterov: true,
        ..SgdConfig::default()
    };
    expect_invalid(
        "Sgd nesterov without momentum",
        Sgd::new(std::slice::from_ref(&leaf), nesterov),
    );
    expect_invalid(
        "Sgd nesterov with dampening",
        Sgd::new(
            std::slice::from_ref(&leaf),
            SgdConfig {
                momentum: 0.9,
                dampening: 0.1,
                ..nesterov
            },
        ),
    );
    // The valid counterparts are accepted.
    assert!(Sgd::new(
        std::slice::from_ref(&leaf),
        SgdConfig {
            momentum: 0.9,
            ..nesterov
        }
    )
    .is_ok());
    assert!(Adam::new(&[leaf], AdamConfig::default()).is_ok());
}

#[test]
fn adam_counts_steps() {
    let leaf = tensor(&[0.5], &[1]).requires_grad_();
    let mut opt = Adam::new(std::slice::from_ref(&leaf), AdamConfig::default()).unwrap();
    assert_eq!(opt.steps(), 0);
    leaf.set_grad(Some(tensor(&[1.0], &[1])));
    opt.step().unwrap();
    opt.step().unwrap();
    assert_eq!(opt.steps(), 2);
    // After zero_grad the parameter has no gradient and stays put.
    opt.zero_grad();
    assert!(leaf.grad().is_none());
    let before = leaf.to_vec().unwrap();
    opt.step().unwrap();
    assert_eq!(
        leaf.to_vec().unwrap(),
        before,
        "step after zero_grad moved the parameter"
    );
}

/// `minimize` steps on the gradient backpropagated into every leaf;
/// `minimize_own` on the gradient for the optimizer's parameters only, and
/// leaves other leaves' gradients as they were (a generator stepping through
/// a frozen critic).
#[test]
fn minimize_own_differentiates_for_its_own_parameters_only() {
    use balgan::optim::Optimizer;
    let d = dev();
    let g = Tensor::from_slice(d, &[2.0], &[1]).unwrap().requires_grad_();
    let c = Tensor::from_slice(d, &[3.0], &[1]).unwrap().requires_grad_();
    let sgd = SgdConfig {
        lr: 0.1,
        ..Default::default()
    };
    // loss = (g·c)²: ∂/∂g = 2·g·c² = 36, ∂/∂c = 2·g²·c = 24.
    let loss = || g.mul(&c).unwrap().square().unwrap().sum_all().unwrap();
    let mut opt_g = Sgd::new(std::slice::from_ref(&g), sgd).unwrap();
    opt_g.minimize_own(&loss()).unwrap();
    assert!((g.to_vec().unwrap()[0] - (2.0 - 0.1 * 36.0)).abs() < 1e-5);
    assert!(c.grad().is_none(), "minimize_own wrote a gradient into another leaf");
    assert_eq!(c.to_vec().unwrap(), [3.0]);

    // minimize: clears its own gradients first, backpropagates into both.
    let mut opt_c = Sgd::new(std::slice::from_ref(&c), sgd).unwrap();
    c.set_grad(Some(Tensor::from_slice(d, &[1000.0], &[1]).unwrap()));
    let gv = g.to_vec().unwrap()[0];
    opt_c.minimize(&loss()).unwrap();
    let want = 3.0 - 0.1 * 2.0 * gv * gv * 3.0;
    assert!(
        (c.to_vec().unwrap()[0] - want).abs() < 1e-4,
        "stale gradient not cleared"
    );
    assert!(g.grad().is_some(), "backward reaches every leaf");
}

// ---------------------------------------------------------------- RMSprop reference

/// PyTorch's RMSprop (not centered, no momentum), in f64 from the f32
/// hyper-parameters:
///   g ← g + wd·θ;  v ← α·v + (1−α)·g²;  θ ← θ − lr·g / (sqrt(v) + ε)
///
/// Error allowance per step and element: 3 ulp·|θ| (the subtraction's
/// rounding, and θ's in the decay term) plus 1e-5 of the update's size (f32
/// rounding of v, its square root and the quotient is a few ulps; 1 − α in
/// f32 is exact to 1e-7): a wrong α (v's weight), ε outside the square root
/// or a missing weight-decay term moves the update by percents or more.
struct RmsPropCpu {
    c: RmsPropConfig,
    v: Vec<Vec<f64>>,
}

impl CpuOpt for RmsPropCpu {
    fn step_param(&mut self, lr: f64, i: usize, theta: &mut [f64], g: &[f64], tol: &mut [f64]) {
        let (alpha, eps, wd) = (self.c.alpha as f64, self.c.eps as f64, self.c.weight_decay as f64);
        let v = &mut self.v[i];
        for j in 0..theta.len() {
            let gj = g[j] + wd * theta[j];
            v[j] = alpha * v[j] + (1.0 - alpha) * gj * gj;
            let update = lr * gj / (v[j].sqrt() + eps);
            theta[j] -= update;
            tol[j] += 3.0 * EPS32 * theta[j].abs() + 1e-5 * update.abs();
        }
    }
}

impl GpuOpt for RmsProp {
    fn set_lr(&mut self, lr: f32) {
        self.config.lr = lr;
    }
    fn step(&mut self) -> balgan::Result<()> {
        RmsProp::step(self)
    }
}

fn rmsprop_case(case: &Case<'_>, salt: u64, c: RmsPropConfig) {
    run(
        case,
        salt,
        &|p| Box::new(RmsProp::new(p, c).expect("RmsProp::new")),
        &mut RmsPropCpu {
            c,
            v: case.sizes.iter().map(|&n| vec![0.0; n]).collect(),
        },
    );
}

#[test]
fn rmsprop_matches_the_reference() {
    let d = RmsPropConfig::default();
    assert_eq!(
        (d.lr, d.alpha, d.eps, d.weight_decay),
        (0.01, 0.99, 1e-8, 0.0),
        "PyTorch's defaults"
    );
    // The WGAN's setting, PyTorch's defaults with weight decay, and α = 0.5.
    for (salt, c) in [
        (0x5250, RmsPropConfig { lr: 5e-5, ..d }),
        (
            0x5251,
            RmsPropConfig {
                weight_decay: 0.01,
                ..d
            },
        ),
        (
            0x5252,
            RmsPropConfig {
                alpha: 0.5,
                eps: 1e-6,
                ..d
            },
        ),
    ] {
        let case = Case {
            name: "RMSprop",
            lrs: [c.lr, c.lr * 2.0, c.lr, c.lr * 0.5],
            has_grad: ALWAYS,
            sizes: &SIZES,
        };
        rmsprop_case(&case, salt, c);
    }
    // Parameters without a gradient are skipped; 37 tensors cross dispatches.
    let case = Case {
        name: "RMSprop, missing gradients, 37 tensors",
        lrs: [0.01; STEPS],
        has_grad: SOME,
        sizes: &MANY,
    };
    rmsprop_case(&case, 0x5253, d);
    for bad in [
        RmsPropConfig { alpha: 1.5, ..d },
        RmsPropConfig { lr: -1.0, ..d },
        RmsPropConfig { eps: f32::NAN, ..d },
    ] {
        let p = tensor(&[1.0], &[1]).requires_grad_();
        assert!(RmsProp::new(&[p], bad).is_err(), "{bad:?}");
    }
}
