//! shaders/unary.wgsl: every unary op against f64, on empty, scalar, odd and
//! multi-workgroup shapes; first- and second-order gradient checks.

use crate::common::*;
use balgan::Tensor;

type GpuFn = fn(&Tensor) -> balgan::Result<Tensor>;
/// (name, gpu op, f64 reference, input domain: (lo, hi, away_from_zero), differentiable)
type Case = (&'static str, GpuFn, fn(f64) -> f64, (f32, f32, bool), bool);

fn cases() -> Vec<Case> {
    vec![
        ("neg", |t| t.neg(), |x| -x, (-3.0, 3.0, false), true),
        ("exp", |t| t.exp(), f64::exp, (-4.0, 4.0, false), true),
        ("log", |t| t.log(), f64::ln, (0.1, 5.0, false), true),
        ("sqrt", |t| t.sqrt(), f64::sqrt, (0.1, 5.0, false), true),
        ("rsqrt", |t| t.rsqrt(), |x| 1.0 / x.sqrt(), (0.2, 5.0, false), true),
        ("abs", |t| t.abs(), f64::abs, (0.1, 3.0, true), true),
        ("relu", |t| t.relu(), |x| x.max(0.0), (0.1, 3.0, true), true),
        (
            "leaky_relu",
            |t| t.leaky_relu(0.2),
            |x| if x > 0.0 { x } else { 0.2 * x },
            (0.1, 3.0, true),
            true,
        ),
        (
            "sigmoid",
            |t| t.sigmoid(),
            |x| 1.0 / (1.0 + (-x).exp()),
            (-6.0, 6.0, false),
            true,
        ),
        ("tanh", |t| t.tanh(), f64::tanh, (-3.0, 3.0, false), true),
        ("powf3", |t| t.powf(3.0), |x| x.powi(3), (-2.0, 2.0, false), true),
        ("powf-1.5", |t| t.powf(-1.5), |x| x.powf(-1.5), (0.3, 3.0, false), true),
        ("square", |t| t.square(), |x| x * x, (-2.0, 2.0, false), true),
        ("recip", |t| t.recip(), |x| 1.0 / x, (0.3, 3.0, true), true),
        (
            "affine",
            |t| t.affine(-1.5, 0.25),
            |x| -1.5 * x + 0.25,
            (-3.0, 3.0, false),
            true,
        ),
        (
            "sign",
            |t| t.sign(),
            |x| {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            },
            (0.1, 3.0, true),
            false,
        ),
        (
            "gt_scalar",
            |t| t.gt_scalar(0.5),
            |x| if x > 0.5 { 1.0 } else { 0.0 },
            (-3.0, 3.0, false),
            false,
        ),
    ]
}

fn inputs(rng: &mut Rng, n: usize, dom: (f32, f32, bool)) -> Vec<f32> {
    if dom.2 {
        rng.away_from_zero(n, dom.0, dom.1)
    } else {
        rng.uniform(n, dom.0, dom.1)
    }
}

#[test]
fn unary_kernels_match_f64_reference() {
    let mut rng = Rng::new(1);
    // Empty, rank 0, one element, odd, multi-dim, and more than one workgroup row.
    let shapes: [&[usize]; 6] = [&[0], &[], &[1], &[7], &[3, 5, 7], &[4099]];
    for (name, gpu, cpu, dom, _) in cases() {
        for shape in shapes {
            let x = inputs(&mut rng, numel(shape), dom);
            let y = gpu(&tensor(&x, shape)).unwrap();
            assert_eq!(y.shape(), shape);
            let want = reference_unary(&x, cpu);
            // f32 transcendental functions are accurate to a few ulps (~1e-6 relative).
            assert_close(&format!("{name} {shape:?}"), &y.to_vec().unwrap(), &want, 1e-6, 2e-6);
        }
    }
}

fn reference_unary(x: &[f32], f: fn(f64) -> f64) -> Vec<f64> {
    reference::unary(&to_f64(x), f)
}

#[test]
fn unary_gradients_first_and_second_order() {
    let mut rng = Rng::new(2);
    for (name, gpu, cpu, dom, diff) in cases() {
        if !diff {
            continue;
        }
        let x = inputs(&mut rng, 12, dom);
        check_op(OpCheck {
            name,
            inputs: vec![(x, vec![3, 4])],
            gpu: &|t| gpu(&t[0]),
            cpu: &|x| reference::unary(&x[0], cpu),
            second_order: true,
        });
    }
}

#[test]
fn sigmoid_and_tanh_stay_finite_at_extremes() {
    let x = [-1e4f32, -100.0, -88.0, 0.0, 88.0, 100.0, 1e4];
    let t = tensor(&x, &[7]);
    let s = t.sigmoid().unwrap().to_vec().unwrap();
    let th = t.tanh().unwrap().to_vec().unwrap();
    let want_s: Vec<f64> = x.iter().map(|&v| 1.0 / (1.0 + (-(v as f64)).exp())).collect();
    let want_t: Vec<f64> = x.iter().map(|&v| (v as f64).tanh()).collect();
    assert_close("sigmoid extremes", &s, &want_s, 1e-7, 1e-6);
    assert_close("tanh extremes", &th, &want_t, 1e-7, 1e-6);
}

#[test]
fn powf_follows_real_power_rules() {
    let x = [-2.0f32, -0.5, 0.0, 0.5, 2.0];
    let t = tensor(&x, &[5]);
    let cube = t.powf(3.0).unwrap().to_vec().unwrap();
    assert_close("(-x)^3", &cube, &[-8.0, -0.125, 0.0, 0.125, 8.0], 1e-6, 1e-6);
    let sq = t.powf(2.0).unwrap().to_vec().unwrap();
    assert_close("(-x)^2", &sq, &[4.0, 0.25, 0.0, 0.25, 4.0], 1e-6, 1e-6);
    let half = t.powf(0.5).unwrap().to_vec().unwrap();
    assert!(
        half[0].is_nan() && half[1].is_nan(),
        "negative base, fractional exponent is NaN: {half:?}"
    );
    assert_close("x^0.5", &half[2..], &[0.0, 0.5f64.sqrt(), 2f64.sqrt()], 1e-6, 1e-6);
}
