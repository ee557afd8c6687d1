//! shaders/conv2d.wgsl: conv2d, conv_transpose2d and the weight-gradient
//! correlation against f64 references on the awkward shapes the models use
//! (kernel 5 stride 2 padding 2 output_padding 1; kernel 4 stride 2 padding 1;
//! batch 1; 1×1 and 7×7 maps; 1, 3, 10 and 130 channels; dilation), the loop
//! splits that keep lavapipe's 65,535-iteration limit away, first- and
//! second-order gradient checks through all three ops, and `nn::Conv2d`'s
//! Keras 'same' padding against an f64 convolution of the zero-padded input.

use crate::common::*;
use balgan::nn::{same_padding, Conv2d, Init, Module, Padding};
use balgan::{Conv2dOptions, ConvTranspose2dOptions, Generator, Tensor};

/// conv2d from the definition: y[n,o,oy,ox] = b[o] + Σ x[n,i,oy·s−p+ky·d, ox·s−p+kx·d]·w[o,i,ky,kx].
pub(crate) fn conv_ref(
    x: &[f64],
    xs: [usize; 4],
    w: &[f64],
    ws: [usize; 4],
    b: Option<&[f64]>,
    o: Conv2dOptions,
) -> (Vec<f64>, [usize; 4]) {
    let [n, ci, h, wd] = xs;
    let [co, _, kh, kw] = ws;
    let (ho, wo) = (
        (h + 2 * o.padding.0 - o.dilation.0 * (kh - 1) - 1) / o.stride.0 + 1,
        (wd + 2 * o.padding.1 - o.dilation.1 * (kw - 1) - 1) / o.stride.1 + 1,
    );
    let mut y = vec![0.0; n * co * ho * wo];
    for b_ in 0..n {
        for oc in 0..co {
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut acc = b.map_or(0.0, |b| b[oc]);
                    for ic in 0..ci {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (oy * o.stride.0 + ky * o.dilation.0) as isize - o.padding.0 as isize;
                                let ix = (ox * o.stride.1 + kx * o.dilation.1) as isize - o.padding.1 as isize;
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < wd {
                                    acc += x[((b_ * ci + ic) * h + iy as usize) * wd + ix as usize]
                                        * w[((oc * ci + ic) * kh + ky) * kw + kx];
                                }
                            }
                        }
                    }
                    y[((b_ * co + oc) * ho + oy) * wo + ox] = acc;
                }
            }
        }
    }
    (y, [n, co, ho, wo])
}

/// conv_transpose2d from its scatter definition: every input element adds
/// x[n,i,iy,ix]·w[i,o,ky,kx] to output (iy·s−p+ky·d, ix·s−p+kx·d) when inside.
fn convt_ref(
    x: &[f64],
    xs: [usize; 4],
    w: &[f64],
    ws: [usize; 4],
    b: Option<&[f64]>,
    o: ConvTranspose2dOptions,
) -> (Vec<f64>, [usize; 4]) {
    let [n, ci, h, wd] = xs;
    let [_, co, kh, kw] = ws;
    let c = o.conv;
    let ho = (h - 1) * c.stride.0 + c.dilation.0 * (kh - 1) + o.output_padding.0 + 1 - 2 * c.padding.0;
    let wo = (wd - 1) * c.stride.1 + c.dilation.1 * (kw - 1) + o.output_padding.1 + 1 - 2 * c.padding.1;
    let mut y = vec![0.0; n * co * ho * wo];
    for b_ in 0..n {
        for oc in 0..co {
            for k in 0..ho * wo {
                y[(b_ * co + oc) * ho * wo + k] = b.map_or(0.0, |b| b[oc]);
            }
        }
        for ic in 0..ci {
            for iy in 0..h {
                for ix in 0..wd {
                    let v = x[((b_ * ci + ic) * h + iy) * wd + ix];
                    for oc in 0..co {
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let oy = (iy * c.stride.0 + ky * c.dilation.0) as isize - c.padding.0 as isize;
                                let ox = (ix * c.stride.1 + kx * c.dilation.1) as isize - c.padding.1 as isize;
                                if oy >= 0 && ox >= 0 && (oy as usize) < ho && (ox as usize) < wo {
                                    y[((b_ * co + oc) * ho + oy as usize) * wo + ox as usize] +=
                                        v * w[((ic * co + oc) * kh + ky) * kw + kx];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    (y, [n, co, ho, wo])
}

/// The weight gradient from its definition.
pub(crate) fn wgrad_ref(
    x: &[f64],
    xs: [usize; 4],
    g: &[f64],
    gs: [usize; 4],
    k: (usize, usize),
    o: Conv2dOptions,
) -> Vec<f64> {
    let [n, ci, h, wd] = xs;
    let [_, co, ho, wo] = gs;
    let mut dw = vec![0.0; co * ci * k.0 * k.1];
    for oc in 0..co {
        for ic in 0..ci {
            for ky in 0..k.0 {
                for kx in 0..k.1 {
                    let mut acc = 0.0;
                    for b_ in 0..n {
                        for oy in 0..ho {
                            for ox in 0..wo {
                                let iy = (oy * o.stride.0 + ky * o.dilation.0) as isize - o.padding.0 as isize;
                                let ix = (ox * o.stride.1 + kx * o.dilation.1) as isize - o.padding.1 as isize;
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < wd {
                                    acc += g[((b_ * co + oc) * ho + oy) * wo + ox]
                                        * x[((b_ * ci + ic) * h + iy as usize) * wd + ix as usize];
                                }
                            }
                        }
                    }
                    dw[((oc * ci + ic) * k.0 + ky) * k.1 + kx] = acc;
                }
            }
        }
    }
    dw
}

fn opts(k_s_p_d: (usize, usize, usize, usize)) -> Conv2dOptions {
    let (_, s, p, d) = k_s_p_d;
    Conv2dOptions {
        stride: (s, s),
        padding: (p, p),
        dilation: (d, d),
    }
}

/// (n, cin, h, w, cout, (k, stride, padding, dilation))
type Case = (usize, usize, usize, usize, usize, (usize, usize, usize, usize));

const CASES: [Case; 10] = [
    (2, 3, 8, 8, 5, (4, 2, 1, 1)),   // the GANs' down-sampling conv
    (1, 1, 7, 7, 3, (5, 2, 2, 1)),   // k5 s2 p2, batch 1, 7×7
    (2, 10, 6, 5, 4, (3, 1, 1, 1)),  // non-square, 10 channels
    (1, 3, 1, 1, 2, (1, 1, 0, 1)),   // 1×1 map, 1×1 kernel
    (1, 2, 1, 1, 3, (3, 1, 1, 1)),   // 1×1 map, padded 3×3 kernel
    (2, 130, 4, 4, 3, (3, 1, 1, 1)), // 130 channels
    (1, 2, 9, 9, 2, (3, 2, 2, 2)),   // dilation 2
    (3, 4, 5, 7, 6, (2, 3, 0, 1)),   // stride larger than the kernel
    (1, 130, 3, 3, 2, (9, 1, 4, 1)), // Cin·kh·kw = 10,530 > 8,192: two channel passes
    (1, 2, 19, 21, 3, (3, 2, 1, 1)), // 10×11 outputs: CPU im2col runs of 64 start mid-row
];

/// Shapes large enough for the implicit GEMM (both output sides ≥ 16, ≥ 32
/// taps), not multiples of the 64-wide tiles.
const GEMM_CASES: [Case; 5] = [
    (2, 8, 9, 9, 16, (3, 1, 1, 1)), // 81 output pixels: the CPU route's unfolded branch
    (2, 16, 6, 6, 20, (3, 1, 1, 1)),
    (1, 64, 9, 7, 70, (4, 2, 1, 1)),
    (3, 5, 8, 8, 17, (3, 2, 2, 2)),
    (2, 33, 4, 4, 65, (1, 1, 0, 1)),
];

/// One tolerance for all: sums of up to K = Cin·kh·kw ≈ 10^4 products of
/// values in [−1, 1], each f32 rounding ≤ 6e-8 relative: 1e-6·K absolute.
fn tol(k: usize) -> f64 {
    1e-6 * k as f64
}

fn on_device(d: &balgan::Device, data: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(d, data, shape).unwrap()
}

#[test]
fn conv2d_matches_f64_reference() {
    let mut rng = Rng::new(70);
    for (n, ci, h, w, co, ksp) in CASES.into_iter().chain(GEMM_CASES) {
        let o = opts(ksp);
        let k = ksp.0;
        let x = rng.uniform(n * ci * h * w, -1.0, 1.0);
        let wt = rng.uniform(co * ci * k * k, -1.0, 1.0);
        let b = rng.uniform(co, -1.0, 1.0);
        let (want, ys) = conv_ref(
            &to_f64(&x),
            [n, ci, h, w],
            &to_f64(&wt),
            [co, ci, k, k],
            Some(&to_f64(&b)),
            o,
        );
        let (want_nb, _) = conv_ref(&to_f64(&x), [n, ci, h, w], &to_f64(&wt), [co, ci, k, k], None, o);
        for (tuning, d) in product_devices() {
            let (xt, wt_) = (on_device(d, &x, &[n, ci, h, w]), on_device(d, &wt, &[co, ci, k, k]));
            let y = xt.conv2d(&wt_, Some(&on_device(d, &b, &[co])), o).unwrap();
            assert_eq!(y.shape(), &ys);
            let what = format!("{tuning:?} conv2d {:?} k{k} {o:?}", [n, ci, h, w]);
            assert_close(&what, &y.to_vec().unwrap(), &want, tol(ci * k * k), 1e-6);
            let y = xt.conv2d(&wt_, None, o).unwrap();
            assert_close(
                &format!("{what} without bias"),
                &y.to_vec().unwrap(),
                &want_nb,
                tol(ci * k * k),
                1e-6,
            );
        }
    }
}

#[test]
fn conv_transpose2d_matches_f64_reference() {
    let mut rng = Rng::new(71);
    // (n, cin, h, w, cout, (k, s, p, d), output_padding)
    let cases = [
        (2, 3, 4, 4, 5, (4, 2, 1, 1), 0),   // the GANs' up-sampling conv: 4 → 8
        (1, 2, 4, 4, 3, (5, 2, 2, 1), 1),   // k5 s2 p2 op1: 4 → 8
        (1, 130, 2, 2, 3, (4, 2, 1, 1), 0), // 130 channels
        (2, 1, 1, 1, 10, (4, 1, 0, 1), 0),  // 1×1 → 4×4 (a "project and reshape" start)
        (1, 3, 3, 5, 2, (3, 2, 1, 2), 1),   // dilation 2 with output padding
        (1, 2, 7, 7, 1, (3, 1, 1, 1), 0),   // 7×7, stride 1
        (1, 2, 9, 8, 3, (3, 1, 1, 1), 0),   // 72 input pixels: the CPU route's unfolded branch
        (2, 20, 3, 3, 18, (4, 2, 1, 1), 0), // implicit GEMM: 3 → 6
        (1, 40, 4, 5, 33, (5, 2, 2, 1), 1), // implicit GEMM with output padding
        (2, 3, 5, 6, 4, (4, 2, 1, 1), 1),   // 11×13 outputs: CPU col2im runs start mid-row
        (1, 2, 8, 9, 3, (3, 2, 1, 3), 0),   // dilation 3 > stride 2, unfolded CPU columns
    ];
    for (n, ci, h, w, co, ksp, op) in cases {
        let k = ksp.0;
        let o = ConvTranspose2dOptions {
            conv: opts(ksp),
            output_padding: (op, op),
        };
        let x = rng.uniform(n * ci * h * w, -1.0, 1.0);
        let wt = rng.uniform(ci * co * k * k, -1.0, 1.0);
        let b = rng.uniform(co, -1.0, 1.0);
        let (want, ys) = convt_ref(
            &to_f64(&x),
            [n, ci, h, w],
            &to_f64(&wt),
            [ci, co, k, k],
            Some(&to_f64(&b)),
            o,
        );
        for (tuning, d) in product_devices() {
            let xt = on_device(d, &x, &[n, ci, h, w]);
            let y = xt
                .conv_transpose2d(&on_device(d, &wt, &[ci, co, k, k]), Some(&on_device(d, &b, &[co])), o)
                .unwrap();
            assert_eq!(y.shape(), &ys, "{o:?}");
            let what = format!("{tuning:?} conv_transpose2d {:?} k{k} {o:?}", [n, ci, h, w]);
            assert_close(&what, &y.to_vec().unwrap(), &want, tol(ci * k * k), 1e-6);
        }
    }
}

#[test]
fn weight_grad_matches_f64_reference() {
    let mut rng = Rng::new(72);
    for (n, ci, h, w, co, ksp) in CASES.into_iter().chain(GEMM_CASES) {
        let o = opts(ksp);
        let k = ksp.0;
        let x = rng.uniform(n * ci * h * w, -1.0, 1.0);
        let (ho, wo) = o.output_size((h, w), (k, k)).unwrap();
        let g = rng.uniform(n * co * ho * wo, -1.0, 1.0);
        let want = wgrad_ref(&to_f64(&x), [n, ci, h, w], &to_f64(&g), [n, co, ho, wo], (k, k), o);
        for (tuning, d) in product_devices() {
            let xt = on_device(d, &x, &[n, ci, h, w]);
            let dw = xt
                .conv2d_weight_grad(&on_device(d, &g, &[n, co, ho, wo]), (k, k), o)
                .unwrap();
            assert_eq!(dw.shape(), &[co, ci, k, k]);
            let what = format!("{tuning:?} weight grad {:?} k{k} {o:?}", [n, ci, h, w]);
            assert_close(&what, &dw.to_vec().unwrap(), &want, tol(n * ho * wo), 1e-6);
        }
    }
}

/// N·Ho·Wo = 2·200·200 = 80,000 > 65,535 positions per weight: a kernel with
/// one invocation per weight walking every position would be cut short on
/// lavapipe; slabs of 4,096 positions keep it whole. Cout = 2 runs the direct
/// kernel, Cout = 16 with 36 taps the implicit GEMM; every product kernel (GPU tiles, subgroup product, register tiles).
#[test]
fn weight_grad_over_more_positions_than_the_loop_limit() {
    let mut rng = Rng::new(73);
    for (ci, co) in [(1usize, 2usize), (4, 16)] {
        let (n, h, w, k) = (2, 200, 200, 3);
        let o = Conv2dOptions::new(1, 1);
        let x = rng.uniform(n * ci * h * w, -1.0, 1.0);
        let g = rng.uniform(n * co * h * w, -1.0, 1.0);
        let want = wgrad_ref(&to_f64(&x), [n, ci, h, w], &to_f64(&g), [n, co, h, w], (k, k), o);
        for (tuning, d) in product_devices() {
            let xt = on_device(d, &x, &[n, ci, h, w]);
            let dw = xt
                .conv2d_weight_grad(&on_device(d, &g, &[n, co, h, w]), (k, k), o)
                .unwrap();
            // 80,000 terms of magnitude ≤ 1 summed in 20 slabs, then pairwise.
            let what = format!("{tuning:?} weight grad {ci}→{co}, 80,000 positions");
            assert_close(&what, &dw.to_vec().unwrap(), &want, 1e-3, 1e-5);
        }
    }
}

/// Cin·kh·kw > 65,535 taps per output element: a direct kernel walking every
/// tap in one invocation would be cut short by lavapipe's loop limit; the
/// launcher walks the channels in passes of ≤ 8,192 taps. 70,001 channels of
/// a 1×1 kernel exceed the limit in the channel loop alone, 7,300 channels of
/// a 3×3 kernel (65,700 taps, no padding, so no tap is skipped) in the nested
/// loops. Cout = 2 keeps the direct kernel on the GPU tuning (the reduction is
/// also longer than the implicit GEMM's 8,192); the CPU tuning runs im2col and
/// a matmul split along K. Transposed: 70,001 input channels.
#[test]
fn direct_conv_over_more_taps_than_the_loop_limit() {
    let mut rng = Rng::new(76);
    let o = Conv2dOptions::new(1, 0);
    for (ci, h, w, k) in [(70_001usize, 2usize, 2usize, 1usize), (7_300, 3, 4, 3)] {
        let (n, co) = (1, 2);
        let x = rng.uniform(n * ci * h * w, -1.0, 1.0);
        let wt = rng.uniform(co * ci * k * k, -1.0, 1.0);
        let (want, ys) = conv_ref(&to_f64(&x), [n, ci, h, w], &to_f64(&wt), [co, ci, k, k], None, o);
        for (tuning, d) in product_devices() {
            let y = on_device(d, &x, &[n, ci, h, w])
                .conv2d(&on_device(d, &wt, &[co, ci, k, k]), None, o)
                .unwrap();
            assert_eq!(y.shape(), &ys);
            // A sum of K = Cin·k² ≈ 7·10^4 products of magnitude ≤ 1 (about
            // ±90): rounding stays within tol(K) = 0.07. An unsplit walk is
            // cut short in both cases: with the channel passes disabled every
            // output was off by units to over a hundred on lavapipe.
            let what = format!("{tuning:?} conv2d {ci} channels k{k}: {} taps", ci * k * k);
            assert_close(&what, &y.to_vec().unwrap(), &want, tol(ci * k * k), 1e-6);
        }
    }
    let (n, ci, h, w, co) = (1usize, 70_001usize, 2usize, 2usize, 2usize);
    let ot = ConvTranspose2dOptions {
        conv: o,
        output_padding: (0, 0),
    };
    let x = rng.uniform(n * ci * h * w, -1.0, 1.0);
    let wt = rng.uniform(ci * co, -1.0, 1.0);
    let (want, ys) = convt_ref(&to_f64(&x), [n, ci, h, w], &to_f64(&wt), [ci, co, 1, 1], None, ot);
    for (tuning, d) in product_devices() {
        let y = on_device(d, &x, &[n, ci, h, w])
            .conv_transpose2d(&on_device(d, &wt, &[ci, co, 1, 1]), None, ot)
            .unwrap();
        assert_eq!(y.shape(), &ys);
        let what = format!("{tuning:?} conv_transpose2d {ci} channels");
        assert_close(&what, &y.to_vec().unwrap(), &want, tol(ci), 1e-6);
    }
}

/// The CPU route cuts batches into im2col chunks of whole images; a budget of
/// one image's columns forces one chunk per image (and a partial last chunk).
#[test]
fn cpu_route_splits_batches_into_chunks() {
    let mut rng = Rng::new(75);
    let opts = balgan::DeviceOptions {
        quiet: true,
        tuning: balgan::Tuning::Cpu,
        ..balgan::DeviceOptions::from_env()
    };
    let d = balgan::Device::with_options(opts).unwrap();
    d.set_poison_outputs(true);
    let (n, ci, h, w, co, k) = (5, 16, 6, 6, 20, 3);
    let o = Conv2dOptions::new(1, 1);
    d.set_im2col_budget(2 * ci * k * k * h * w); // two images per chunk: 2 + 2 + 1
    let x = rng.uniform(n * ci * h * w, -1.0, 1.0);
    let wt = rng.uniform(co * ci * k * k, -1.0, 1.0);
    let b = rng.uniform(co, -1.0, 1.0);
    let g = rng.uniform(n * co * h * w, -1.0, 1.0);
    let xt = on_device(&d, &x, &[n, ci, h, w]);
    let y = xt
        .conv2d(&on_device(&d, &wt, &[co, ci, k, k]), Some(&on_device(&d, &b, &[co])), o)
        .unwrap();
    let (want, _) = conv_ref(
        &to_f64(&x),
        [n, ci, h, w],
        &to_f64(&wt),
        [co, ci, k, k],
        Some(&to_f64(&b)),
        o,
    );
    assert_close("chunked conv2d", &y.to_vec().unwrap(), &want, tol(ci * k * k), 1e-6);
    let dw = xt
        .conv2d_weight_grad(&on_device(&d, &g, &[n, co, h, w]), (k, k), o)
        .unwrap();
    let want = wgrad_ref(&to_f64(&x), [n, ci, h, w], &to_f64(&g), [n, co, h, w], (k, k), o);
    assert_close(
        "chunked weight grad",
        &dw.to_vec().unwrap(),
        &want,
        tol(n * h * w),
        1e-6,
    );
    let ot = ConvTranspose2dOptions::new(2, 1, 0);
    let wt2 = rng.uniform(co * ci * 4 * 4, -1.0, 1.0);
    let gt = on_device(&d, &g, &[n, co, h, w]);
    let yt = gt
        .conv_transpose2d(
            &on_device(&d, &wt2, &[co, ci, 4, 4]),
            Some(&on_device(&d, &b[..ci], &[ci])),
            ot,
        )
        .unwrap();
    let (want, ys) = convt_ref(
        &to_f64(&g),
        [n, co, h, w],
        &to_f64(&wt2),
        [co, ci, 4, 4],
        Some(&to_f64(&b[..ci])),
        ot,
    );
    assert_eq!(yt.shape(), &ys);
    assert_close(
        "chunked conv_transpose2d",
        &yt.to_vec().unwrap(),
        &want,
        tol(co * 16),
        1e-6,
    );
}

#[test]
fn conv_gradients_first_and_second_order() {
    let mut rng = Rng::new(74);
    // (x shape, weight k, stride, padding, cout)
    for (xs, k, s, p, co) in [
        ([2usize, 2, 5, 5], 3usize, 2usize, 1usize, 3usize),
        ([1, 3, 4, 4], 4, 2, 1, 2),
        ([2, 1, 3, 3], 1, 1, 0, 2),
    ] {
        let o = Conv2dOptions::new(s, p);
        let ci = xs[1];
        let ws = [co, ci, k, k];
        check_op(OpCheck {
            name: &format!("conv2d {xs:?} k{k} s{s} p{p}"),
            inputs: vec![
                (rng.uniform(numel(&xs), -1.0, 1.0), xs.to_vec()),
                (rng.uniform(numel(&ws), -0.5, 0.5), ws.to_vec()),
                (rng.uniform(co, -0.5, 0.5), vec![co]),
            ],
            gpu: &|t| t[0].conv2d(&t[1], Some(&t[2]), o),
            cpu: &|v| conv_ref(&v[0], xs, &v[1], ws, Some(&v[2]), o).0,
            second_order: true,
        });
    }
    // Transposed: k4 s2 p1 (4 → 8 up-sampling at small scale) and k5 s2 p2 op1.
    for (xs, k, s, p, op, co) in [
        ([1usize, 2, 2, 2], 4usize, 2usize, 1usize, 0usize, 3usize),
        ([2, 2, 2, 3], 5, 2, 2, 1, 1),
    ] {
        let o = ConvTranspose2dOptions::new(s, p, op);
        let ws = [xs[1], co, k, k];
        check_op(OpCheck {
            name: &format!("conv_transpose2d {xs:?} k{k} s{s} p{p} op{op}"),
            inputs: vec![
                (rng.uniform(numel(&xs), -1.0, 1.0), xs.to_vec()),
                (rng.uniform(numel(&ws), -0.5, 0.5), ws.to_vec()),
                (rng.uniform(co, -0.5, 0.5), vec![co]),
            ],
            gpu: &|t| t[0].conv_transpose2d(&t[1], Some(&t[2]), o),
            cpu: &|v| convt_ref(&v[0], xs, &v[1], ws, Some(&v[2]), o).0,
            second_order: true,
        });
    }
    // The weight-gradient op itself (it sits inside double backward).
    let (xs, k, o) = ([2usize, 2, 4, 4], 3usize, Conv2dOptions::new(1, 1));
    let gs = [2usize, 3, 4, 4];
    check_op(OpCheck {
        name: "conv2d_weight_grad",
        inputs: vec![
            (rng.uniform(numel(&xs), -1.0, 1.0), xs.to_vec()),
            (rng.uniform(numel(&gs), -1.0, 1.0), gs.to_vec()),
        ],
        gpu: &|t| t[0].conv2d_weight_grad(&t[1], (k, k), o),
        cpu: &|v| wgrad_ref(&v[0], xs, &v[1], gs, (k, k), o),
        second_order: true,
    });
}

#[test]
fn bad_convolutions_are_clear_errors() {
    let x = Tensor::zeros(dev(), &[1, 3, 4, 4]).unwrap();
    let w = Tensor::zeros(dev(), &[2, 4, 3, 3]).unwrap();
    let e = x.conv2d(&w, None, Conv2dOptions::default()).unwrap_err().to_string();
    assert!(e.contains("input has 3 channels, weight expects 4"), "{e}");
    let w = Tensor::zeros(dev(), &[2, 3, 5, 5]).unwrap();
    let e = x.conv2d(&w, None, Conv2dOptions::default()).unwrap_err().to_string();
    assert!(e.contains("does not fit"), "{e}");
    let w = Tensor::zeros(dev(), &[2, 3, 3, 3]).unwrap();
    let b = Tensor::zeros(dev(), &[3]).unwrap();
    assert!(
        x.conv2d(&w, Some(&b), Conv2dOptions::default()).is_err(),
        "bias of the wrong size"
    );
    assert!(x.conv2d(&w, None, Conv2dOptions::new(0, 0)).is_err(), "stride 0");
    let flat = Tensor::zeros(dev(), &[3, 4, 4]).unwrap();
    assert!(flat
        .conv2d(&w, None, Conv2dOptions::default())
        .unwrap_err()
        .to_string()
        .contains("must be 4-D"));
    let wt = Tensor::zeros(dev(), &[3, 2, 4, 4]).unwrap();
    let e = x
        .conv_transpose2d(&wt, None, ConvTranspose2dOptions::new(2, 1, 2))
        .unwrap_err()
        .to_string();
    assert!(e.contains("output_padding"), "{e}");
}

/// `x` [n, c, h, w] with `h_pad` (before, after) zero rows and `w_pad` zero
/// columns around each map.
fn zero_pad(
    x: &[f64],
    [n, c, h, w]: [usize; 4],
    h_pad: (usize, usize),
    w_pad: (usize, usize),
) -> (Vec<f64>, [usize; 4]) {
    let (hp, wp) = (h + h_pad.0 + h_pad.1, w + w_pad.0 + w_pad.1);
    let mut out = vec![0.0; n * c * hp * wp];
    for m in 0..n * c {
        for y in 0..h {
            for x_ in 0..w {
                out[(m * hp + y + h_pad.0) * wp + x_ + w_pad.0] = x[(m * h + y) * w + x_];
            }
        }
    }
    (out, [n, c, hp, wp])
}

/// (x shape, kernel (kh, kw), stride (sh, sw), dilation, padding of H and of
/// W as (before, after)). The paddings are worked out by hand from Keras'
/// rule: output side ⌈n/s⌉, total max((⌈n/s⌉ − 1)·s + d·(k − 1) + 1 − n, 0),
/// ⌊total/2⌋ before and the rest after.
type SameCase = (
    [usize; 4],
    (usize, usize),
    (usize, usize),
    usize,
    (usize, usize),
    (usize, usize),
);

const SAME_CASES: [SameCase; 12] = [
    ([2, 3, 5, 5], (2, 2), (1, 1), 1, (0, 1), (0, 1)), // BAGAN's 2×2 output conv, odd side
    ([2, 3, 4, 4], (2, 2), (1, 1), 1, (0, 1), (0, 1)), // even side
    ([2, 3, 4, 4], (3, 3), (2, 2), 1, (0, 1), (0, 1)), // 3×3 s2 on an even side: 0 before, 1 after
    ([2, 3, 5, 5], (3, 3), (2, 2), 1, (1, 1), (1, 1)), // … on an odd side: 1/1
    ([1, 2, 7, 7], (3, 3), (2, 2), 1, (1, 1), (1, 1)),
    ([2, 3, 4, 4], (3, 3), (1, 1), 1, (1, 1), (1, 1)),
    ([2, 3, 4, 4], (5, 5), (1, 1), 1, (2, 2), (2, 2)),
    ([1, 2, 6, 5], (3, 5), (2, 1), 1, (0, 1), (2, 2)), // non-square kernel and stride
    ([1, 2, 5, 5], (3, 3), (1, 1), 2, (2, 2), (2, 2)), // dilation 2: span 5
    ([1, 2, 6, 6], (2, 2), (2, 2), 2, (0, 1), (0, 1)), // dilation 2, stride 2: span 3
    ([1, 2, 5, 5], (1, 1), (2, 2), 1, (0, 0), (0, 0)), // 1×1 s2: no padding
    ([1, 2, 2, 3], (5, 5), (1, 1), 1, (2, 2), (2, 2)), // kernel larger than the input
];

/// Keras' 'same' padding: the padding each side gets, the output side ⌈n/s⌉,
/// and the layer's forward, gradients (and, where the padding is uneven and
/// the layer appends a zero row/column, second order) against the f64
/// convolution of the explicitly zero-padded input.
#[test]
fn conv2d_same_padding_matches_keras_on_f64_reference() {
    let mut rng = Rng::new(76);
    for (xs, (kh, kw), (sh, sw), d, h_pad, w_pad) in SAME_CASES {
        let span = |k: usize| d * (k - 1) + 1;
        assert_eq!(same_padding(xs[2], span(kh), sh), h_pad, "H of {xs:?} k{kh} s{sh} d{d}");
        assert_eq!(same_padding(xs[3], span(kw), sw), w_pad, "W of {xs:?} k{kw} s{sw} d{d}");
        let co = 2;
        let ws = [co, xs[1], kh, kw];
        let options = Conv2dOptions {
            stride: (sh, sw),
            padding: (0, 0),
            dilation: (d, d),
        };
        let out = [xs[0], co, xs[2].div_ceil(sh), xs[3].div_ceil(sw)];
        let name = format!("'same' conv2d {xs:?} k{kh}×{kw} s{sh}×{sw} d{d}");
        check_op(OpCheck {
            name: &name,
            inputs: vec![
                (rng.uniform(numel(&xs), -1.0, 1.0), xs.to_vec()),
                (rng.uniform(numel(&ws), -0.5, 0.5), ws.to_vec()),
                (rng.uniform(co, -0.5, 0.5), vec![co]),
            ],
            gpu: &|t| {
                let conv = Conv2d {
                    weight: t[1].clone(),
                    bias: Some(t[2].clone()),
                    options,
                    padding: Padding::Same,
                };
                let y = conv.forward(&t[0])?;
                assert_eq!(y.shape(), &out, "{name}");
                Ok(y)
            },
            cpu: &|v| {
                let (xp, xps) = zero_pad(&v[0], xs, h_pad, w_pad);
                let (y, ys) = conv_ref(&xp, xps, &v[1], ws, Some(&v[2]), options);
                assert_eq!(ys, out, "{name}: the reference's output shape");
                y
            },
            second_order: h_pad.0 != h_pad.1 || w_pad.0 != w_pad.1,
        });
    }
}

/// Where 'same' pads evenly it is the explicit padding, bit for bit; the
/// constructor draws the same weights as `with_init`; bad settings are errors.
#[test]
fn conv2d_same_padding_is_explicit_padding_when_even_and_checks_its_settings() {
    let mut rng = Rng::new(77);
    let init = |seed| Generator::new(base_seed() ^ seed);
    for (xs, (kh, kw), (sh, sw), d, h_pad, w_pad) in SAME_CASES {
        if h_pad.0 != h_pad.1 || w_pad.0 != w_pad.1 {
            continue;
        }
        let options = Conv2dOptions {
            stride: (sh, sw),
            padding: (0, 0),
            dilation: (d, d),
        };
        let same = Conv2d::with_init(
            dev(),
            &init(1),
            (xs[1], 3),
            (kh, kw),
            options,
            Init::GlorotNormal,
            Some(Init::Zeros),
        )
        .unwrap()
        .with_padding(Padding::Same)
        .unwrap();
        let explicit = Conv2dOptions {
            padding: (h_pad.0, w_pad.0),
            ..options
        };
        let x = tensor(&rng.uniform(numel(&xs), -1.0, 1.0), &xs);
        let want = x
            .conv2d(&same.weight, same.bias.as_ref(), explicit)
            .unwrap()
            .to_vec()
            .unwrap();
        assert_eq!(
            same.forward(&x).unwrap().to_vec().unwrap(),
            want,
            "{xs:?} k{kh}×{kw} s{sh}×{sw} d{d}"
        );
    }

    let a = Conv2d::same(
        dev(),
        &init(2),
        (3, 4),
        (3, 3),
        2,
        Init::GlorotUniform,
        Some(Init::Zeros),
    )
    .unwrap();
    let b = Conv2d::with_init(
        dev(),
        &init(2),
        (3, 4),
        (3, 3),
        Conv2dOptions::new(2, 0),
        Init::GlorotUniform,
        Some(Init::Zeros),
    )
    .unwrap();
    assert_eq!(a.padding, Padding::Same);
    assert_eq!(b.padding, Padding::Explicit);
    assert_eq!(a.options, b.options);
    let names = |c: &Conv2d| c.parameters().into_iter().map(|(n, _)| n).collect::<Vec<_>>();
    assert_eq!(names(&a), ["weight", "bias"]);
    assert_eq!(a.weight.to_vec().unwrap(), b.weight.to_vec().unwrap());

    let err = Conv2d::same(dev(), &init(3), (3, 4), (3, 3), 0, Init::GlorotUniform, None)
        .err()
        .expect("stride 0");
    assert!(err.to_string().contains("stride"), "{err}");
    let padded = Conv2d::with_init(
        dev(),
        &init(3),
        (3, 4),
        (3, 3),
        Conv2dOptions::new(1, 1),
        Init::GlorotUniform,
        None,
    )
    .unwrap();
    let err = padded.with_padding(Padding::Same).err().expect("padding and 'same'");
    assert!(err.to_string().contains("padding"), "{err}");
    let err = a
        .forward(&Tensor::zeros(dev(), &[3, 5, 5]).unwrap())
        .expect_err("3-D input");
    assert!(err.to_string().contains("[N, C, H, W]"), "{err}");
}

/// The CPU route's small-map product writes its (image, pixel) columns
/// straight into NCHW with the bias added in the same write; with a reduction
/// longer than one split (Cin·kh·kw = 9,600 > 8,192) the slabs are summed
/// first and then placed. 1×1 and 2×2 outputs, 5 output channels (not a
/// multiple of 4), odd batch, checked against f64 on every product kernel.
#[test]
fn small_map_conv_writes_nchw_with_bias_through_split_k() {
    let mut rng = Rng::new(77);
    // (n, cin, h, w, cout, (k, s, p, d))
    for (n, ci, h, w, co, ksp) in [
        (3, 600, 3, 3, 5, (4, 2, 1, 1)), // 1×1 output, K = 9,600: two splits
        (3, 7, 4, 4, 5, (4, 2, 1, 1)),   // 2×2 output, one split
        (1, 3, 1, 1, 6, (1, 1, 0, 1)),   // 1×1 image, 1×1 kernel
    ] {
        let k = ksp.0;
        let o = opts(ksp);
        let x = rng.uniform(n * ci * h * w, -1.0, 1.0);
        let wt = rng.uniform(co * ci * k * k, -1.0, 1.0);
        let b = rng.uniform(co, -1.0, 1.0);
        let (want, ys) = conv_ref(
            &to_f64(&x),
            [n, ci, h, w],
            &to_f64(&wt),
            [co, ci, k, k],
            Some(&to_f64(&b)),
            o,
        );
        for (tuning, d) in product_devices() {
            let y = on_device(d, &x, &[n, ci, h, w])
                .conv2d(&on_device(d, &wt, &[co, ci, k, k]), Some(&on_device(d, &b, &[co])), o)
                .unwrap();
            assert_eq!(y.shape(), &ys);
            let what = format!("{tuning:?} small-map conv2d {:?} k{k}", [n, ci, h, w]);
            assert_close(&what, &y.to_vec().unwrap(), &want, tol(ci * k * k), 1e-6);
        }
    }
}

/// The public size helpers answer `None` for an empty kernel or a zero
/// stride, instead of overflowing or dividing by zero.
#[test]
fn output_sizes_of_degenerate_geometries_are_none() {
    let conv = Conv2dOptions::new(1, 0);
    assert_eq!(conv.output_size((5, 5), (3, 3)), Some((3, 3)));
    assert_eq!(conv.output_size((5, 5), (0, 3)), None);
    assert_eq!(Conv2dOptions::new(0, 0).output_size((5, 5), (3, 3)), None);
    let t = ConvTranspose2dOptions::new(2, 1, 0);
    assert_eq!(t.output_size((3, 3), (4, 4)), Some((6, 6)));
    assert_eq!(t.output_size((3, 3), (4, 0)), None);
    assert_eq!(ConvTranspose2dOptions::new(0, 0, 0).output_size((3, 3), (4, 4)), None);
    // Sizes past usize: None, not a wrapped number or an overflow panic.
    assert_eq!(conv.output_size((usize::MAX, 5), (3, 3)), Some((usize::MAX - 2, 3)));
    assert_eq!(
        Conv2dOptions::new(1, usize::MAX / 2 + 1).output_size((5, 5), (3, 3)),
        None
    );
    assert_eq!(t.output_size((usize::MAX / 2 + 2, 3), (4, 4)), None);
}
