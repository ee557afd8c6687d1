//! SSIM, the structural similarity index (Wang et al. 2004), computed on the GPU
//! exactly as TensorFlow's `tf.image.ssim` computes it — the implementation the
//! SGBGAN and BAGAN-GP papers used.
//!
//! For two images x, y with the data range L (2 for images in [−1, 1], 1 for
//! [0, 1], 255 for bytes), every channel is filtered with an 11×11 Gaussian
//! window w (σ = 1.5, normalised to sum 1) without padding ("VALID"), giving at
//! each valid position p:
//!
//! ```text
//! μx = Σ w·x     μy = Σ w·y     E[x²+y²] = Σ w·(x² + y²)     E[xy] = Σ w·(x·y)
//! c1 = (K1·L)²,  c2 = (K2·L)²,  K1 = 0.01, K2 = 0.03
//! luminance = (2·μx·μy + c1) / (μx² + μy² + c1)
//! cs        = (2·E[xy] − 2·μx·μy + c2) / (E[x²+y²] − (μx² + μy²) + c2)
//!           = (2·σxy + c2) / (σx² + σy² + c2)
//! SSIM(p)   = luminance · cs
//! ```
//!
//! with σx² = E\[x²\] − μx², σy² = E\[y²\] − μy², σxy = E\[xy\] − μx·μy: the moments
//! are taken around the windowed means by subtracting squared means, and E\[x²\]
//! and E\[y²\] are filtered as the one sum x² + y², both as TensorFlow's
//! `_ssim_helper` does (it also uses the uncorrected compensation factor 1, as
//! here). The SSIM of an image pair is the mean of the SSIM map over all valid
//! positions and channels (TensorFlow takes the mean over the map per channel,
//! then over channels; with equal counts per channel that is the same number).
//! scikit-image's `structural_similarity(gaussian_weights=True, sigma=1.5,
//! use_sample_covariance=False)` gives the same number: it filters with
//! reflected borders but averages only the positions 5 pixels or more from
//! the border, whose windows lie inside the image.
//!
//! # Which range
//!
//! c1 and c2 are fixed fractions of L, but the luminance term depends on the
//! means themselves, so SSIM is not invariant to shifting the images: the
//! same pair gives different numbers on [0, 1] with L = 1 and on [−1, 1] with
//! L = 2 (a textured pair can score 0.55 and −0.69). Published SSIMs
//! (`tf.image.ssim` on [0, 1] or bytes, scikit-image) are of non-negative
//! images, so balgan's evaluation maps its [−1, 1] images to [0, 1]
//! ([`unit_range`]) and uses L = 1 ([`UNIT_DATA_RANGE`]). The functions here
//! take any images and range.
//!
//! # Global SSIM
//!
//! [`global_ssim`] is the form without a window, SGBGAN's eq. 13 (the
//! measure of its Table 4): one mean, variance and covariance per image
//! (per channel), c1 = (0.01·L)², c2 = (0.03·L)².
//!
//! On the GPU, channels become batch entries (N·C planes of H×W); the four maps
//! x, y, x² + y² and x·y are stacked and filtered separably. TensorFlow's 2-D
//! window (`_fspecial_gauss`: a softmax over −(i² + j²)/(2σ²)) is exactly the
//! outer product g·gᵀ of the normalised 1-D Gaussian g, so valid filtering is a
//! valid 1-D filter along the rows, then along the columns. Each 1-D filter is a
//! matrix product with a banded (Toeplitz) matrix, T[i, o] = g\[i − o\] for
//! 0 ≤ i − o < 11, else 0 (T_W is W × (W − 10), T_H is H × (H − 10)):
//!
//! ```text
//! R = P · T_W                    for each plane P (H × W): rows filtered, H × Wo
//! F = Rᵀ · T_H                   columns filtered, Wo × Ho (the map transposed)
//! ```
//!
//! Two matmuls (the transpose is a free flag) replace the 121-tap convolution
//! or the pair of 11-tap convolutions: on a CPU Vulkan driver (lavapipe), at
//! 64×64, the two products take 4–7× less time than two 11-tap conv2d calls
//! and a whole SSIM batch about 10× less (a one-output-channel convolution is
//! a product with a single output row there, which the register tiles fit
//! poorly). The products do W/11 and H/11 times more multiply-adds (the zeros
//! of T), which a matmul absorbs at 28–64 pixels; the sums are the same up to
//! f32 rounding order. The SSIM map is then formed elementwise on the
//! transposed maps (orientation does not matter for a mean)
//! and averaged per pair.

use super::classifier::Images;
use crate::autograd::no_grad;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::{HostRng, IndexTensor, Tensor};

/// Side of the square Gaussian window (TensorFlow's `filter_size` default).
pub const WINDOW: usize = 11;
/// Standard deviation of the Gaussian window in pixels (`filter_sigma`).
pub const SIGMA: f64 = 1.5;
/// Luminance stabiliser: c1 = (K1·L)².
pub const K1: f64 = 0.01;
/// Contrast-structure stabiliser: c2 = (K2·L)².
pub const K2: f64 = 0.03;

/// The data range of images in [0, 1], where balgan's evaluation computes
/// SSIM (see "Which range" in the module documentation).
pub const UNIT_DATA_RANGE: f32 = 1.0;

/// balgan's images, in [−1, 1], mapped to [0, 1] by x ↦ (x + 1)/2, the range
/// SSIM is published on; use with [`UNIT_DATA_RANGE`].
pub fn unit_range(signed: &[f32]) -> Vec<f32> {
    signed.iter().map(|&x| (x + 1.0) * 0.5).collect()
}

/// Image pairs per GPU pass: bounds the stacked maps (4 × pairs × C × H × W
/// floats) to about 64 MiB whatever the number of images.
const MAX_FLOATS_PER_PASS: usize = 1 << 22;

/// The normalised 1-D Gaussian of `size` taps: gᵢ = exp(−(i − (size−1)/2)² / (2σ²)) / Σⱼ exp(…).
/// The 2-D SSIM window is its outer product, w\[i\]\[j\] = gᵢ·gⱼ (sums to 1).
pub fn gaussian_window(size: usize, sigma: f64) -> Vec<f64> {
    let centre = (size as f64 - 1.0) / 2.0;
    let g: Vec<f64> = (0..size)
        .map(|i| {
            let d = i as f64 - centre;
            (-d * d / (2.0 * sigma * sigma)).exp()
        })
        .collect();
    let s: f64 = g.iter().sum();
    g.into_iter().map(|v| v / s).collect()
}

fn dims(op: &'static str, t: &Tensor) -> Result<(usize, usize, usize, usize)> {
    match *t.shape() {
        [n, c, h, w] => Ok((n, c, h, w)),
        ref s => Err(Error::invalid(
            op,
            format!("images must be [N, C, H, W], got shape {s:?}"),
        )),
    }
}

fn check_pair(op: &'static str, a: &Tensor, b: &Tensor, data_range: f32) -> Result<(usize, usize, usize, usize)> {
    let d = dims(op, a)?;
    dims(op, b)?;
    if a.shape() != b.shape() {
        return Err(Error::shape(
            op,
            a.shape(),
            b.shape(),
            "the two image sets must have the same shape",
        ));
    }
    let (_, c, h, w) = d;
    if h < WINDOW || w < WINDOW {
        return Err(Error::invalid(
            op,
            format!("images are {h}×{w} but SSIM's Gaussian window is {WINDOW}×{WINDOW} (valid filtering needs H, W ≥ {WINDOW})"),
        ));
    }
    if c == 0 {
        return Err(Error::invalid(op, "images have 0 channels"));
    }
    if !(data_range.is_finite() && data_range > 0.0) {
        return Err(Error::invalid(
            op,
            format!(
                "data_range must be positive and finite (2 for [-1, 1], 1 for [0, 1], 255 for bytes), got {data_range}"
            ),
        ));
    }
    Ok(d)
}

/// The SSIM of each image pair (a\[i\], b\[i\]): a and b are [N, C, H, W] with
/// H, W ≥ 11, values on a scale whose range is `data_range` (L: 2.0 for
/// [−1, 1], 1.0 for [0, 1], 255.0 for bytes). Returns N numbers, each the mean
/// of the SSIM map over the valid positions and the channels, as
/// `tf.image.ssim(a, b, max_val = L)` (see the module documentation for the
/// formulas). 1 for identical images, symmetric in a and b, at most 1.
///
/// Runs without recording gradients; large sets are processed in passes of at
/// most 2²² floats per stacked map.
pub fn ssim(a: &Tensor, b: &Tensor, data_range: f32) -> Result<Vec<f64>> {
    const OP: &str = "ssim";
    let (n, c, h, w) = check_pair(OP, a, b, data_range)?;
    let per_pass = (MAX_FLOATS_PER_PASS / (c * h * w)).max(1);
    let mut out = Vec::with_capacity(n);
    no_grad(|| {
        let mut start = 0;
        while start < n {
            let len = per_pass.min(n - start);
            let (x, y) = if len == n {
                (a.clone(), b.clone())
            } else {
                (a.narrow(0, start, len)?, b.narrow(0, start, len)?)
            };
            out.extend(ssim_pass(&x, &y, data_range)?);
            start += len;
        }
        Ok(out)
    })
}

/// One GPU pass over [n, C, H, W] pairs already validated.
fn ssim_pass(a: &Tensor, b: &Tensor, data_range: f32) -> Result<Vec<f64>> {
    let (n, c, h, w) = dims("ssim", a)?;
    let nc = n * c;
    let dev = a.device();
    let g = gaussian_window(WINDOW, SIGMA);
    let (ho, wo) = (h - WINDOW + 1, w - WINDOW + 1);
    let t_w = Tensor::from_slice(dev, &toeplitz(&g, w), &[w, wo])?;
    let t_h = Tensor::from_slice(dev, &toeplitz(&g, h), &[h, ho])?;
    let x = a.reshape(&[nc, h, w])?;
    let y = b.reshape(&[nc, h, w])?;
    let sq = x.square()?.add(&y.square()?)?;
    let xy = x.mul(&y)?;
    let stack = Tensor::concat(&[&x, &y, &sq, &xy], 0)?;
    let rows = stack.reshape(&[4 * nc * h, w])?.matmul(&t_w)?;
    let f = rows.reshape(&[4 * nc, h, wo])?.matmul_t(&t_h, true, false)?;
    let mu_x = f.narrow(0, 0, nc)?;
    let mu_y = f.narrow(0, nc, nc)?;
    let e_sq = f.narrow(0, 2 * nc, nc)?;
    let e_xy = f.narrow(0, 3 * nc, nc)?;
    let l = data_range as f64;
    let c1 = ((K1 * l) * (K1 * l)) as f32;
    let c2 = ((K2 * l) * (K2 * l)) as f32;
    // TensorFlow's _ssim_helper, term by term.
    let num0 = mu_x.mul(&mu_y)?.mul_scalar(2.0)?;
    let den0 = mu_x.square()?.add(&mu_y.square()?)?;
    let luminance = num0.add_scalar(c1)?.div(&den0.add_scalar(c1)?)?;
    let num1 = e_xy.mul_scalar(2.0)?;
    let cs = num1
        .sub(&num0)?
        .add_scalar(c2)?
        .div(&e_sq.sub(&den0)?.add_scalar(c2)?)?;
    let map = luminance.mul(&cs)?;
    let per_pair = map.reshape(&[n, c * ho * wo])?.mean(&[1], false)?;
    Ok(per_pair.to_vec()?.into_iter().map(f64::from).collect())
}

/// The banded matrix of a valid 1-D filter with taps `g` on `len` samples:
/// T[i, o] = g\[i − o\] for 0 ≤ i − o < |g|, else 0; shape len × (len − |g| + 1),
/// row-major, so that (v·T)\[o\] = Σₖ g\[k\]·v\[o + k\].
fn toeplitz(g: &[f64], len: usize) -> Vec<f32> {
    let out = len - g.len() + 1;
    let mut t = vec![0.0f32; len * out];
    for o in 0..out {
        for (k, &gk) in g.iter().enumerate() {
            t[(o + k) * out + o] = gk as f32;
        }
    }
    t
}

/// The pairing protocol of [`ssim_per_class`], exposed so reports can state
/// and reproduce it. For each class k (in 0..num_classes):
///
/// 1. G_k = the indices of the generated images labelled k, in order;
///    R_k = the indices of the real images labelled k, in order.
/// 2. R_k is shuffled by Fisher–Yates (for i from |R_k|−1 down to 1, swap i
///    with j = u mod (i + 1)) driven by SplitMix64 started at the state
///    `seed ^ (k + 1)·0xD1B54A32D192ED03`, u being successive outputs
///    ([`HostRng::shuffle_by_remainder`]). An output u ≥ 2^64 − (2^64 mod
///    (i + 1)) is skipped and the next one used, which removes the modulo
///    bias; it happens with probability below (i + 1)/2^64 per swap, so the
///    pairs are those of the plain "u mod (i + 1)" protocol in practice.
/// 3. Generated image G_k\[i\] is paired with the real image R_k\[i mod |R_k|\],
///    so every generated image is used once and the real images are cycled.
///
/// Returns, per class, the (generated index, real index) pairs; empty when the
/// class has no generated or no real image. Errors for a label ≥ num_classes.
pub fn pair_by_class(
    generated_labels: &[usize],
    real_labels: &[usize],
    num_classes: usize,
    seed: u64,
) -> Result<Vec<Vec<(usize, usize)>>> {
    const OP: &str = "ssim_per_class";
    let group = |labels: &[usize], what: &str| -> Result<Vec<Vec<usize>>> {
        let mut g = vec![Vec::new(); num_classes];
        for (i, &l) in labels.iter().enumerate() {
            if l >= num_classes {
                return Err(Error::invalid(
                    OP,
                    format!("{what} label {l} at index {i} is not below num_classes = {num_classes}"),
                ));
            }
            g[l].push(i);
        }
        Ok(g)
    };
    let gen = group(generated_labels, "generated")?;
    let mut real = group(real_labels, "real")?;
    let mut pairs = Vec::with_capacity(num_classes);
    for (k, (g, r)) in gen.iter().zip(real.iter_mut()).enumerate() {
        HostRng::new(seed ^ (k as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03)).shuffle_by_remainder(r);
        if r.is_empty() {
            pairs.push(Vec::new());
        } else {
            pairs.push(g.iter().enumerate().map(|(i, &gi)| (gi, r[i % r.len()])).collect());
        }
    }
    Ok(pairs)
}

/// Per class, the mean SSIM between generated images and real (test) images
/// of that class, with the fixed, seeded pairing of [`pair_by_class`]:
/// `result[k] = (1/|G_k|) Σᵢ SSIM(generated[G_k[i]], real[R_k[i mod |R_k|]])`,
/// `None` for a class without generated or without real images.
///
/// `generated` and `real` are [N, C, H, W] and [M, C, H, W] with the same
/// C, H, W (H, W ≥ 11) and labels of lengths N and M; `data_range` is L as in
/// [`ssim`]. The pairs are gathered on the GPU in passes.
pub fn ssim_per_class(
    generated: &Tensor,
    generated_labels: &[usize],
    real: &Tensor,
    real_labels: &[usize],
    num_classes: usize,
    data_range: f32,
    seed: u64,
) -> Result<Vec<Option<f64>>> {
    const OP: &str = "ssim_per_class";
    let (n, c, h, w) = dims(OP, generated)?;
    let (m, rc, rh, rw) = dims(OP, real)?;
    if (c, h, w) != (rc, rh, rw) {
        return Err(Error::shape(
            OP,
            generated.shape(),
            real.shape(),
            "generated and real images must have the same C, H, W",
        ));
    }
    if generated_labels.len() != n || real_labels.len() != m {
        return Err(Error::invalid(
            OP,
            format!(
                "{} generated labels for {n} images and {} real labels for {m} images",
                generated_labels.len(),
                real_labels.len()
            ),
        ));
    }
    // Image size (H, W ≥ 11), channels and data range, before any work.
    check_pair(OP, generated, generated, data_range)?;
    let pairs = pair_by_class(generated_labels, real_labels, num_classes, seed)?;
    let flat: Vec<(usize, usize)> = pairs.iter().flatten().copied().collect();
    if flat.is_empty() {
        return Ok(vec![None; num_classes]);
    }
    let per_pass = (MAX_FLOATS_PER_PASS / (c * h * w)).max(1);
    let dev = generated.device();
    let mut values = Vec::with_capacity(flat.len());
    no_grad(|| -> Result<()> {
        for chunk in flat.chunks(per_pass) {
            let gi: Vec<usize> = chunk.iter().map(|p| p.0).collect();
            let ri: Vec<usize> = chunk.iter().map(|p| p.1).collect();
            let x = generated.index_select(0, &IndexTensor::from_usize(dev, &gi)?)?;
            let y = real.index_select(0, &IndexTensor::from_usize(dev, &ri)?)?;
            values.extend(ssim(&x, &y, data_range)?);
        }
        Ok(())
    })?;
    Ok(class_means(&pairs, &values))
}

/// Per class, the mean of its pairs' values (`values` holds every class's
/// pairs in order); `None` for a class without pairs.
fn class_means<T>(pairs: &[Vec<T>], values: &[f64]) -> Vec<Option<f64>> {
    let mut at = 0;
    pairs
        .iter()
        .map(|p| {
            if p.is_empty() {
                return None;
            }
            let s: f64 = values[at..at + p.len()].iter().sum();
            at += p.len();
            Some(s / p.len() as f64)
        })
        .collect()
}

/// Both host image sets checked against their labels and each other (same
/// C, H, W), and the seeded within-class pairing of generated with real
/// images; with the number of values per image.
#[allow(clippy::type_complexity)]
fn checked_pairs(
    op: &'static str,
    (generated, generated_labels): (&Images<'_>, &[usize]),
    (real, real_labels): (&Images<'_>, &[usize]),
    num_classes: usize,
    seed: u64,
) -> Result<(usize, Vec<Vec<(usize, usize)>>)> {
    let per = check_host(op, "generated", generated, generated_labels.len())?;
    check_host(op, "real", real, real_labels.len())?;
    if generated.shape[1..] != real.shape[1..] {
        return Err(Error::shape(
            op,
            &generated.shape,
            &real.shape,
            "generated and real images must have the same C, H, W",
        ));
    }
    Ok((per, pair_by_class(generated_labels, real_labels, num_classes, seed)?))
}

/// Checks host images hold as many values as their shape says and as many
/// labels as images; returns C·H·W.
fn check_host(op: &'static str, what: &str, images: &Images<'_>, labels: usize) -> Result<usize> {
    let [n, c, h, w] = images.shape;
    if images.data.len() != n * c * h * w {
        return Err(Error::invalid(
            op,
            format!(
                "{what} images of shape {:?} need {} values, got {}",
                images.shape,
                n * c * h * w,
                images.data.len()
            ),
        ));
    }
    if labels != n {
        return Err(Error::invalid(op, format!("{labels} {what} labels for {n} images")));
    }
    Ok(c * h * w)
}

/// The images at `idx`, uploaded as one [idx.len(), C, H, W] batch.
fn gather(dev: &Device, images: &Images<'_>, idx: &[usize]) -> Result<Tensor> {
    let [_, c, h, w] = images.shape;
    let per = c * h * w;
    let mut host = Vec::with_capacity(idx.len() * per);
    for &i in idx {
        host.extend_from_slice(&images.data[i * per..(i + 1) * per]);
    }
    Tensor::from_slice(dev, &host, &[idx.len(), c, h, w])
}

/// SSIM of the pairs (first image, second image) of host images, `pass`
/// pairs uploaded at a time.
fn host_pairs(
    dev: &Device,
    a: &Images<'_>,
    b: &Images<'_>,
    pairs: &[(usize, usize)],
    pass: usize,
    data_range: f32,
) -> Result<Vec<f64>> {
    let mut values = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(pass.max(1)) {
        let ai: Vec<usize> = chunk.iter().map(|p| p.0).collect();
        let bi: Vec<usize> = chunk.iter().map(|p| p.1).collect();
        values.extend(ssim(&gather(dev, a, &ai)?, &gather(dev, b, &bi)?, data_range)?);
    }
    Ok(values)
}

/// [`ssim_per_class`] for images held on the host ([N, C, H, W] and
/// [M, C, H, W], row-major): the pairs are gathered on the host and uploaded
/// `pass` pairs at a time, so the device holds one pass's images and maps
/// whatever the set sizes, never the sets. Same pairing and same values as
/// uploading both sets and calling [`ssim_per_class`].
#[allow(clippy::too_many_arguments)]
pub fn ssim_per_class_host(
    dev: &Device,
    generated: Images<'_>,
    generated_labels: &[usize],
    real: Images<'_>,
    real_labels: &[usize],
    num_classes: usize,
    data_range: f32,
    seed: u64,
    pass: usize,
) -> Result<Vec<Option<f64>>> {
    let (_, pairs) = checked_pairs(
        "ssim_per_class",
        (&generated, generated_labels),
        (&real, real_labels),
        num_classes,
        seed,
    )?;
    let flat: Vec<(usize, usize)> = pairs.iter().flatten().copied().collect();
    let values = no_grad(|| host_pairs(dev, &generated, &real, &flat, pass, data_range))?;
    Ok(class_means(&pairs, &values))
}

/// [`within_class_ssim`] for images held on the host ([N, C, H, W],
/// row-major), the pairs uploaded `pass` at a time: the device never holds
/// the whole set. Same pairing and same values as [`within_class_ssim`].
pub fn within_class_ssim_host(
    dev: &Device,
    images: Images<'_>,
    labels: &[usize],
    num_classes: usize,
    data_range: f32,
    pass: usize,
) -> Result<Vec<Option<f64>>> {
    const OP: &str = "within_class_ssim";
    check_host(OP, "input", &images, labels.len())?;
    let pairs = within_class_pairs(OP, labels, num_classes)?;
    let flat: Vec<(usize, usize)> = pairs.iter().flatten().copied().collect();
    let values = no_grad(|| host_pairs(dev, &images, &images, &flat, pass, data_range))?;
    Ok(class_means(&pairs, &values))
}

/// Within-class similarity, a diversity measure (USERS: "all samples of a
/// class identical"): per class with n ≥ 2 images, the mean SSIM between image
/// i and image (i + ⌈n/2⌉) mod n of the class (in label order), so every pair
/// holds two different images and the pairing is fixed. High values mean the
/// images of the class look alike; a generator that collapsed to one image
/// per class scores 1. Compare with the same measure on real images. `None`
/// for a class with fewer than 2 images.
pub fn within_class_ssim(
    images: &Tensor,
    labels: &[usize],
    num_classes: usize,
    data_range: f32,
) -> Result<Vec<Option<f64>>> {
    const OP: &str = "within_class_ssim";
    let (n, _, _, _) = dims(OP, images)?;
    if labels.len() != n {
        return Err(Error::invalid(OP, format!("{} labels for {n} images", labels.len())));
    }
    let dev = images.device();
    let mut out = Vec::with_capacity(num_classes);
    for pairs in within_class_pairs(OP, labels, num_classes)? {
        if pairs.is_empty() {
            out.push(None);
            continue;
        }
        let (first, other): (Vec<usize>, Vec<usize>) = pairs.iter().copied().unzip();
        let x = images.index_select(0, &IndexTensor::from_usize(dev, &first)?)?;
        let y = images.index_select(0, &IndexTensor::from_usize(dev, &other)?)?;
        let v = no_grad(|| ssim(&x, &y, data_range))?;
        out.push(Some(v.iter().sum::<f64>() / pairs.len() as f64));
    }
    Ok(out)
}

/// The pairs [`within_class_ssim`] compares, per class: image i of the class
/// with image (i + ⌈m/2⌉) mod m (indices into `labels`); none for a class of
/// fewer than 2 images.
fn within_class_pairs(op: &'static str, labels: &[usize], num_classes: usize) -> Result<Vec<Vec<(usize, usize)>>> {
    let mut by_class = vec![Vec::new(); num_classes];
    for (i, &l) in labels.iter().enumerate() {
        if l >= num_classes {
            return Err(Error::invalid(
                op,
                format!("label {l} at index {i} is not below {num_classes}"),
            ));
        }
        by_class[l].push(i);
    }
    Ok(by_class
        .iter()
        .map(|idx| {
            let m = idx.len();
            if m < 2 {
                return Vec::new();
            }
            let shift = m.div_ceil(2);
            (0..m).map(|i| (idx[i], idx[(i + shift) % m])).collect()
        })
        .collect())
}

/// SSIM with global statistics, SGBGAN's eq. 13: for each channel plane of
/// the images `x` and `y` (the same length, `channels` planes of at least 2
/// values each),
///
/// ```text
/// μx = (1/N)·Σ xᵢ                        σx² = (1/(N−1))·Σ (xᵢ − μx)²
/// σxy = (1/(N−1))·Σ (xᵢ − μx)(yᵢ − μy)   (μy, σy² likewise)
/// SSIM = (2·μx·μy + c1)(2·σxy + c2) / ((μx² + μy² + c1)(σx² + σy² + c2))
/// c1 = (0.01·L)², c2 = (0.03·L)²
/// ```
///
/// (the N − 1 of Wang et al.'s eqs. 4 and 11), averaged over the channels.
/// Computed on the host in f64; `data_range` is L as in [`ssim`].
pub fn global_ssim(x: &[f32], y: &[f32], channels: usize, data_range: f64) -> Result<f64> {
    const OP: &str = "global_ssim";
    if x.len() != y.len() || channels == 0 || !x.len().is_multiple_of(channels) || x.len() / channels < 2 {
        return Err(Error::invalid(
            OP,
            format!(
                "images of {} and {} values in {channels} channel(s): need equal lengths and at least 2 values per channel",
                x.len(),
                y.len()
            ),
        ));
    }
    if !(data_range.is_finite() && data_range > 0.0) {
        return Err(Error::invalid(
            OP,
            format!("data_range must be positive and finite, got {data_range}"),
        ));
    }
    let (c1, c2) = ((K1 * data_range).powi(2), (K2 * data_range).powi(2));
    let plane = x.len() / channels;
    let n = plane as f64;
    let mut total = 0.0;
    for (px, py) in x.chunks(plane).zip(y.chunks(plane)) {
        let mx = px.iter().map(|&v| v as f64).sum::<f64>() / n;
        let my = py.iter().map(|&v| v as f64).sum::<f64>() / n;
        let (mut vx, mut vy, mut cxy) = (0.0, 0.0, 0.0);
        for (&a, &b) in px.iter().zip(py) {
            let (dx, dy) = (a as f64 - mx, b as f64 - my);
            vx += dx * dx;
            vy += dy * dy;
            cxy += dx * dy;
        }
        let (vx, vy, cxy) = (vx / (n - 1.0), vy / (n - 1.0), cxy / (n - 1.0));
        total += ((2.0 * mx * my + c1) * (2.0 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2));
    }
    Ok(total / channels as f64)
}

/// Per class, the mean [`global_ssim`] between generated and real (test)
/// images of that class over the pairs of [`pair_by_class`] (the pairs
/// [`ssim_per_class_host`] uses with the same seed); `None` for a class
/// without pairs. Images on the host, [N, C, H, W] and [M, C, H, W].
pub fn global_ssim_per_class_host(
    generated: Images<'_>,
    generated_labels: &[usize],
    real: Images<'_>,
    real_labels: &[usize],
    num_classes: usize,
    data_range: f32,
    seed: u64,
) -> Result<Vec<Option<f64>>> {
    let (per, pairs) = checked_pairs(
        "global_ssim_per_class",
        (&generated, generated_labels),
        (&real, real_labels),
        num_classes,
        seed,
    )?;
    let c = generated.shape[1];
    let mut values = Vec::new();
    for &(g, r) in pairs.iter().flatten() {
        values.push(global_ssim(
            &generated.data[g * per..(g + 1) * per],
            &real.data[r * per..(r + 1) * per],
            c,
            data_range as f64,
        )?);
    }
    Ok(class_means(&pairs, &values))
}
