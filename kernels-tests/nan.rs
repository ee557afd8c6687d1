//! NaN and ±∞ through the activations (shaders/unary.wgsl, shaders/glu.wgsl)
//! against f64 references that follow PyTorch: relu(NaN) = NaN, every other
//! activation maps NaN to NaN, ±∞ go to the activation's limits. Backward
//! rules as PyTorch's derivatives.yaml: relu is `threshold_backward(g,
//! relu(x), 0)` (0 where relu(x) <= 0, g elsewhere, so g at NaN), leaky_relu
//! is g·(x > 0 ? 1 : slope).
//!
//! The special values sit at seeded positions among ordinary ones, in a
//! tensor longer than one workgroup, so a kernel that handled them only in
//! some lanes would show.

use crate::common::*;
use balgan::{grad, Tensor};

const N: usize = 1031;

/// Ordinary values in [-3, 3] with NaN, +∞, -∞, 0 and -0 at random places
/// (each at least twice).
fn specials(rng: &mut Rng) -> Vec<f32> {
    let mut x = rng.uniform(N, -3.0, 3.0);
    for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0] {
        for _ in 0..2 + rng.below(6) {
            let i = rng.below(N as u64) as usize;
            x[i] = v;
        }
    }
    x
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// PyTorch's relu: clamp_min(x, 0), which keeps NaN.
fn relu(x: f64) -> f64 {
    if x.is_nan() || x > 0.0 {
        x
    } else {
        0.0
    }
}

fn leaky(s: f64) -> impl Fn(f64) -> f64 {
    // PyTorch: x > 0 ? x : x·s (NaN·s = NaN, -∞·0 = NaN).
    move |x| if x > 0.0 { x } else { x * s }
}

type GpuFn = Box<dyn Fn(&Tensor) -> balgan::Result<Tensor>>;
type CpuFn = Box<dyn Fn(f64) -> f64>;

fn activations() -> Vec<(&'static str, GpuFn, CpuFn)> {
    vec![
        ("relu", Box::new(|t| t.relu()), Box::new(relu)),
        ("leaky_relu 0.2", Box::new(|t| t.leaky_relu(0.2)), Box::new(leaky(0.2))),
        ("leaky_relu 0.3", Box::new(|t| t.leaky_relu(0.3)), Box::new(leaky(0.3))),
        ("leaky_relu 0", Box::new(|t| t.leaky_relu(0.0)), Box::new(leaky(0.0))),
        ("sigmoid", Box::new(|t| t.sigmoid()), Box::new(sigmoid)),
        ("tanh", Box::new(|t| t.tanh()), Box::new(f64::tanh)),
    ]
}

#[test]
fn activations_propagate_nan_and_saturate_at_infinity() {
    let mut rng = Rng::new(0x4e41);
    for (name, gpu, cpu) in activations() {
        let x = specials(&mut rng);
        let got = gpu(&tensor(&x, &[N])).unwrap().to_vec().unwrap();
        let want: Vec<f64> = x.iter().map(|&v| cpu(v as f64)).collect();
        assert_close(&format!("{name} with NaN/±inf"), &got, &want, 1e-6, 2e-6);
    }
}

#[test]
fn activation_layers_propagate_nan() {
    use balgan::nn::{LeakyRelu, Module, Relu, Sigmoid, Tanh};
    let x = [f32::NAN, 1.0, -1.0, f32::NAN];
    let t = tensor(&x, &[2, 2]);
    let layers: [(&str, Box<dyn Module>); 4] = [
        ("Relu", Box::new(Relu)),
        ("LeakyRelu", Box::new(LeakyRelu::new(0.2).unwrap())),
        ("Sigmoid", Box::new(Sigmoid)),
        ("Tanh", Box::new(Tanh)),
    ];
    for (name, layer) in layers {
        let y = layer.forward(&t).unwrap().to_vec().unwrap();
        assert!(y[0].is_nan() && y[3].is_nan(), "{name}(NaN) must be NaN, got {y:?}");
        assert!(y[1].is_finite() && y[2].is_finite(), "{name} of ±1: {y:?}");
    }
}

#[test]
fn glu_propagates_nan_and_saturates_at_infinity() {
    let mut rng = Rng::new(0x4e42);
    // [2, 2h] split on the last axis: a = x[:, :h], b = x[:, h:].
    let h = 515;
    let x = {
        let mut v = specials(&mut rng);
        v.extend(specials(&mut rng));
        v.truncate(2 * 2 * h);
        v
    };
    let got = tensor(&x, &[2, 2 * h]).glu(-1).unwrap().to_vec().unwrap();
    let mut want = Vec::new();
    for r in 0..2 {
        for k in 0..h {
            let a = x[r * 2 * h + k] as f64;
            let b = x[r * 2 * h + h + k] as f64;
            want.push(a * sigmoid(b));
        }
    }
    assert_close("glu with NaN/±inf", &got, &want, 1e-6, 2e-6);
}

/// Math maps that are not activations: NaN in, NaN out; sign and the step
/// mask give 0 at NaN as PyTorch's sign and (x > t) do.
#[test]
fn other_unary_maps_keep_nan() {
    let x = tensor(&[f32::NAN, 2.0, f32::NAN], &[3]);
    type Map = fn(&Tensor) -> balgan::Result<Tensor>;
    let maps: [(&str, Map); 11] = [
        ("neg", |t| t.neg()),
        ("exp", |t| t.exp()),
        ("log", |t| t.log()),
        ("sqrt", |t| t.sqrt()),
        ("rsqrt", |t| t.rsqrt()),
        ("abs", |t| t.abs()),
        ("powf", |t| t.powf(3.0)),
        ("square", |t| t.square()),
        ("recip", |t| t.recip()),
        ("affine", |t| t.affine(0.0, 1.0)),
        ("mul_scalar", |t| t.mul_scalar(-2.0)),
    ];
    for (name, f) in maps {
        let y = f(&x).unwrap().to_vec().unwrap();
        assert!(y[0].is_nan() && y[2].is_nan(), "{name}(NaN) must be NaN, got {y:?}");
        assert!(y[1].is_finite(), "{name}(2): {y:?}");
    }
    let s = x.sign().unwrap().to_vec().unwrap();
    assert_eq!(s, [0.0, 1.0, 0.0], "sign(NaN) is 0 as in PyTorch");
    let m = x.gt_scalar(0.0).unwrap().to_vec().unwrap();
    assert_eq!(m, [0.0, 1.0, 0.0], "NaN > 0 is false");
}

/// The binary pow shares the unary one's helper: NaN in either operand is
/// NaN, except x^0 = 1 (PyTorch and IEEE pow).
#[test]
fn pow_keeps_nan() {
    let nan = f32::NAN;
    let base = tensor(&[nan, 2.0, nan, -2.0, 1.5], &[5]);
    let expo = tensor(&[3.0, nan, 0.0, 2.0, -1.0], &[5]);
    let y = base.pow(&expo).unwrap().to_vec().unwrap();
    assert!(y[0].is_nan() && y[1].is_nan(), "NaN^3 and 2^NaN: {y:?}");
    assert_eq!(y[2], 1.0, "NaN^0 = 1: {y:?}");
    assert_close("pow finite", &y[3..], &[4.0, 1.0 / 1.5], 1e-6, 1e-6);
}

/// Gradient of sum(f(x)·g) with respect to x, so `g` (which may hold ±∞ and
/// NaN) arrives unchanged as f's upstream gradient.
fn vjp(f: &dyn Fn(&Tensor) -> balgan::Result<Tensor>, x: &[f32], g: &[f32]) -> Vec<f32> {
    let xt = tensor(x, &[x.len()]).requires_grad_();
    let gt = tensor(g, &[g.len()]);
    let loss = f(&xt).unwrap().mul(&gt).unwrap().sum_all().unwrap();
    grad(&[&loss], &[&xt], false).unwrap()[0].to_vec().unwrap()
}

#[test]
fn relu_backward_follows_pytorch_threshold_backward() {
    let mut rng = Rng::new(0x4e43);
    let x = specials(&mut rng);
    // Upstream gradients: ordinary values with ±∞ and NaN mixed in.
    let g = specials(&mut rng);
    let got = vjp(&|t| t.relu(), &x, &g);
    // threshold_backward(g, relu(x), 0): relu(x) <= 0 ? 0 : g.
    let want: Vec<f64> = x
        .iter()
        .zip(&g)
        .map(|(&x, &g)| if relu(x as f64) <= 0.0 { 0.0 } else { g as f64 })
        .collect();
    assert_close("relu backward with NaN/±inf", &got, &want, 0.0, 0.0);
    // The cases spelled out: NaN input passes g, a negative input blocks even
    // an infinite or NaN g.
    let got = vjp(
        &|t| t.relu(),
        &[f32::NAN, -1.0, -1.0, 0.0, 2.0, f32::INFINITY, f32::NEG_INFINITY],
        &[3.0, f32::INFINITY, f32::NAN, 5.0, 7.0, 1.0, 1.0],
    );
    assert_eq!(got, [3.0, 0.0, 0.0, 0.0, 7.0, 1.0, 0.0]);
}

#[test]
fn leaky_relu_backward_follows_pytorch() {
    let mut rng = Rng::new(0x4e44);
    let x = specials(&mut rng);
    let g = rng.uniform(N, -2.0, 2.0);
    let got = vjp(&|t| t.leaky_relu(0.2), &x, &g);
    // leaky_relu_backward: x > 0 ? g : g·slope (so g·slope at NaN).
    let want: Vec<f64> = x
        .iter()
        .zip(&g)
        .map(|(&x, &g)| if x > 0.0 { g as f64 } else { g as f64 * 0.2 })
        .collect();
    assert_close("leaky_relu backward with NaN/±inf", &got, &want, 1e-7, 1e-6);
}
