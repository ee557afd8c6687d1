//! BAGAN's class-conditional latent: per-class Gaussians of the trained
//! encoder's codes, fitted in f64 on the host (mean, unbiased covariance, a
//! ridge, Cholesky), and sampled on the device.

use super::RIDGE;
use crate::autograd::no_grad;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::models::latent_noise;
use crate::tensor::{Generator, IndexTensor, Tensor};

/// One class's latent Gaussian, on the host in f64 (row-major d×d matrices).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassGaussian {
    /// Training images of the class.
    pub count: usize,
    /// Mean μ of the class's codes (length d).
    pub mean: Vec<f64>,
    /// Unbiased covariance (divisor count − 1; zero for one image).
    pub cov: Vec<f64>,
    /// The ridge ρ added to the diagonal before factorising.
    pub ridge: f64,
    /// Lower-triangular L with L·Lᵀ = cov + ρ·I.
    pub chol: Vec<f64>,
}

/// Lower Cholesky factor of a symmetric d×d matrix, or `None` if it is not
/// positive definite.
pub fn cholesky(a: &[f64], d: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0f64; d * d];
    for i in 0..d {
        for j in 0..=i {
            let mut s = a[i * d + j];
            for k in 0..j {
                s -= l[i * d + k] * l[j * d + k];
            }
            if i == j {
                if s <= 0.0 || !s.is_finite() {
                    return None;
                }
                l[i * d + i] = s.sqrt();
            } else {
                l[i * d + j] = s / l[j * d + j];
            }
        }
    }
    Some(l)
}

pub(super) fn class_name(names: &[String], c: usize) -> String {
    match names.get(c) {
        Some(n) if !n.is_empty() => format!("class {c} ('{n}')"),
        _ => format!("class {c}"),
    }
}

/// Per-class mean, covariance and Cholesky factor of latent codes `latents`
/// ([N, dim] row-major) with labels in `0..classes`. `names` (may be empty)
/// only label errors. A class without codes is an error naming it.
pub fn class_gaussians(
    latents: &[f32],
    labels: &[u32],
    classes: usize,
    dim: usize,
    names: &[String],
) -> Result<Vec<ClassGaussian>> {
    if dim == 0 || latents.len() != labels.len() * dim {
        return Err(Error::invalid(
            "BAGAN class latents",
            format!(
                "{} values for {} labels of dimension {dim}",
                latents.len(),
                labels.len()
            ),
        ));
    }
    if let Some(&l) = labels.iter().find(|&&l| l as usize >= classes) {
        return Err(Error::invalid(
            "BAGAN class latents",
            format!("label {l} is not below the number of classes ({classes})"),
        ));
    }
    let mut counts = vec![0usize; classes];
    for &l in labels {
        counts[l as usize] += 1;
    }
    if let Some(c) = counts.iter().position(|&n| n == 0) {
        return Err(Error::invalid(
            "BAGAN",
            format!(
                "{} has no training images: BAGAN's class-conditional latent needs the encoder codes of at least \
                 one image per class",
                class_name(names, c)
            ),
        ));
    }
    let mut out = Vec::with_capacity(classes);
    for (c, &n) in counts.iter().enumerate() {
        let rows = || {
            labels
                .iter()
                .zip(latents.chunks_exact(dim))
                .filter(move |(&l, _)| l as usize == c)
                .map(|(_, r)| r)
        };
        let mut mean = vec![0.0f64; dim];
        for r in rows() {
            for (m, &v) in mean.iter_mut().zip(r) {
                *m += v as f64;
            }
        }
        for m in &mut mean {
            *m /= n as f64;
        }
        let mut cov = vec![0.0f64; dim * dim];
        if n > 1 {
            let mut dev = vec![0.0f64; dim];
            for r in rows() {
                for (o, (&v, &m)) in dev.iter_mut().zip(r.iter().zip(&mean)) {
                    *o = v as f64 - m;
                }
                for i in 0..dim {
                    for j in 0..=i {
                        cov[i * dim + j] += dev[i] * dev[j];
                    }
                }
            }
            for i in 0..dim {
                for j in 0..=i {
                    let v = cov[i * dim + j] / (n - 1) as f64;
                    cov[i * dim + j] = v;
                    cov[j * dim + i] = v;
                }
            }
        }
        if cov.iter().chain(&mean).any(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "BAGAN",
                format!("the encoder codes of {} are not finite", class_name(names, c)),
            ));
        }
        let trace: f64 = (0..dim).map(|i| cov[i * dim + i]).sum();
        let mut ridge = (RIDGE * trace / dim as f64).max(1e-12);
        let mut chol = None;
        for _ in 0..=10 {
            let mut a = cov.clone();
            for i in 0..dim {
                a[i * dim + i] += ridge;
            }
            chol = cholesky(&a, dim);
            if chol.is_some() {
                break;
            }
            ridge *= 10.0;
        }
        let Some(chol) = chol else {
            return Err(Error::invalid(
                "BAGAN",
                format!(
                    "the latent covariance of {} could not be factorised",
                    class_name(names, c)
                ),
            ));
        };
        out.push(ClassGaussian {
            count: n,
            mean,
            cov,
            ridge,
            chol,
        });
    }
    Ok(out)
}

/// The class-conditional latent on the device: μ [K, d] and L [K, d, d].
pub struct ClassLatents {
    /// Per-class means μ, [K, d] (checkpoint entry `class_mean`).
    pub mean: Tensor,
    /// Per-class lower Cholesky factors L, [K, d, d] (checkpoint entry `class_chol`).
    pub chol: Tensor,
}

impl ClassLatents {
    /// Uploads the means and Cholesky factors of `g` (one per class, in class order) as f32;
    /// errors when `g` is empty or its dimensions disagree.
    pub fn from_gaussians(dev: &Device, g: &[ClassGaussian]) -> Result<ClassLatents> {
        let k = g.len();
        let d = g.first().map_or(0, |c| c.mean.len());
        if k == 0 || d == 0 || g.iter().any(|c| c.mean.len() != d || c.chol.len() != d * d) {
            return Err(Error::invalid("BAGAN class latents", "inconsistent class Gaussians"));
        }
        let mean: Vec<f32> = g.iter().flat_map(|c| c.mean.iter().map(|&v| v as f32)).collect();
        let chol: Vec<f32> = g.iter().flat_map(|c| c.chol.iter().map(|&v| v as f32)).collect();
        Ok(ClassLatents {
            mean: Tensor::from_slice(dev, &mean, &[k, d])?,
            chol: Tensor::from_slice(dev, &chol, &[k, d, d])?,
        })
    }

    /// Number of classes K.
    pub fn classes(&self) -> usize {
        self.mean.shape()[0]
    }

    /// Latent dimension d.
    pub fn dim(&self) -> usize {
        self.mean.shape()[1]
    }

    /// z = μ_y + L_y·ε, ε ~ N(0, I) from `rng`: [n, d], no graph.
    pub fn sample(&self, rng: &Generator, labels: &[u32]) -> Result<Tensor> {
        let (k, d) = (self.classes(), self.dim());
        if let Some(&l) = labels.iter().find(|&&l| l as usize >= k) {
            return Err(Error::invalid(
                "BAGAN",
                format!("label {l} is not below the number of classes ({k})"),
            ));
        }
        let dev = self.mean.device();
        let n = labels.len();
        no_grad(|| {
            let y = IndexTensor::new(dev, labels)?;
            let eps = latent_noise(dev, rng, n, d)?.reshape(&[n, d, 1])?;
            let mu = self.mean.index_select(0, &y)?;
            let l = self.chol.index_select(0, &y)?;
            mu.add(&l.matmul(&eps)?.reshape(&[n, d])?)
        })
    }
}
