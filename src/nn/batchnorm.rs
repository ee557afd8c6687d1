//! Batch normalisation layers: `BatchNorm1d` over [N, C] or [N, C, L] and
//! `BatchNorm2d` over [N, C, H, W], with PyTorch's names, defaults and
//! semantics (see [`Tensor::batch_norm`] for the math).
//!
//! Parameters: `weight` (γ, initialised to 1) and `bias` (β, initialised to 0),
//! both [C]. Buffers: `running_mean` (0) and `running_var` (1), both [C],
//! updated in place by every training-mode forward. PyTorch's
//! `num_batches_tracked` counter is not kept (it only matters with
//! `momentum = None`, a cumulative average this layer does not offer).
//!
//! Presets: [`BatchNorm::pytorch`] (ε = 1e-5, momentum 0.1) and
//! [`BatchNorm::keras`] (ε = 1e-3, momentum 0.01, i.e. Keras's
//! `BatchNormalization()` with its momentum 0.99 converted:
//! `momentum = 1 − keras_momentum`).

use super::{Module, TrainingFlag};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Batch normalisation over `D` spatial dimensions (1 or 2); use the aliases
/// [`BatchNorm1d`] and [`BatchNorm2d`].
pub struct BatchNorm<const D: usize> {
    /// γ, `[C]`; `None` for a layer without learnable affine parameters.
    pub weight: Option<Tensor>,
    /// β, `[C]`; `None` for a layer without learnable affine parameters.
    pub bias: Option<Tensor>,
    /// `[C]`, starts at 0.
    pub running_mean: Tensor,
    /// `[C]`, starts at 1.
    pub running_var: Tensor,
    /// Added to the variance before the square root.
    pub eps: f32,
    /// Weight of the new batch in the running averages (PyTorch convention).
    pub momentum: f32,
    num_features: usize,
    training: TrainingFlag,
}

/// Batch norm over [N, C] or [N, C, L], per channel C.
pub type BatchNorm1d = BatchNorm<1>;
/// Batch norm over [N, C, H, W], per channel C.
pub type BatchNorm2d = BatchNorm<2>;

impl<const D: usize> BatchNorm<D> {
    const NAME: &'static str = if D == 1 { "BatchNorm1d" } else { "BatchNorm2d" };

    /// A layer for `num_features` channels with γ = 1, β = 0, running mean 0
    /// and running variance 1, in training mode. `momentum` weighs the new
    /// batch in the running averages (PyTorch's convention; Keras's momentum
    /// k is 1 − k here). `eps` must be finite and > 0, `momentum` finite in
    /// [0, 1]; the forward pass checks them again, as the fields are public.
    pub fn new(dev: &Device, num_features: usize, eps: f32, momentum: f32) -> Result<Self> {
        Self::with_affine(dev, num_features, eps, momentum, true)
    }

    /// As [`BatchNorm::new`]; `affine = false` leaves out γ and β (PyTorch's
    /// `affine=False`, Keras's `center=False, scale=False`).
    pub fn with_affine(dev: &Device, num_features: usize, eps: f32, momentum: f32, affine: bool) -> Result<Self> {
        const { assert!(D == 1 || D == 2, "BatchNorm has 1 or 2 spatial dimensions") };
        crate::ops::check_eps_momentum(Self::NAME, eps, momentum)?;
        let (weight, bias) = if affine {
            (
                Some(Tensor::ones(dev, &[num_features])?.requires_grad_()),
                Some(Tensor::zeros(dev, &[num_features])?.requires_grad_()),
            )
        } else {
            (None, None)
        };
        Ok(BatchNorm {
            weight,
            bias,
            running_mean: Tensor::zeros(dev, &[num_features])?,
            running_var: Tensor::ones(dev, &[num_features])?,
            eps,
            momentum,
            num_features,
            training: TrainingFlag::new(),
        })
    }

    /// A layer on existing tensors, all `[C]`: γ (`weight`) and β (`bias`),
    /// both or neither (`affine = false`), and the running statistics, which
    /// every training-mode forward updates in place (so the caller's handles
    /// see the updates). γ and β are used as given, so a gradient asked for
    /// through the caller's own handles is the layer's (a tensor that does
    /// not require a gradient is made a leaf on the same buffer that does;
    /// see [`BatchNorm::weight`]); the output of ops is refused, and so are
    /// tensors that share a buffer. `eps` and `momentum` as in
    /// [`BatchNorm::new`]. The layer starts in training mode.
    ///
    /// ```
    /// # fn main() -> balgan::Result<()> {
    /// use balgan::{nn::{BatchNorm2d, Module}, Device, Tensor};
    /// let dev = Device::new()?;
    /// let (mean, var) = (Tensor::zeros(&dev, &[3])?, Tensor::ones(&dev, &[3])?);
    /// let bn = BatchNorm2d::from_tensors(
    ///     Some(Tensor::full(&dev, &[3], 2.0)?),
    ///     Some(Tensor::zeros(&dev, &[3])?),
    ///     mean.clone(),
    ///     var,
    ///     1e-5,
    ///     0.1,
    /// )?;
    /// let x = Tensor::full(&dev, &[4, 3, 2, 2], 5.0)?;
    /// bn.forward(&x)?;
    /// // The running mean moved a tenth of the way to the batch mean, 5.
    /// assert!(mean.to_vec()?.iter().all(|m| (m - 0.5).abs() < 1e-6));
    /// # Ok(()) }
    /// ```
    pub fn from_tensors(
        weight: Option<Tensor>,
        bias: Option<Tensor>,
        running_mean: Tensor,
        running_var: Tensor,
        eps: f32,
        momentum: f32,
    ) -> Result<Self> {
        const { assert!(D == 1 || D == 2, "BatchNorm has 1 or 2 spatial dimensions") };
        crate::ops::check_eps_momentum(Self::NAME, eps, momentum)?;
        if weight.is_some() != bias.is_some() {
            return Err(Error::invalid(
                Self::NAME,
                "give both weight and bias (affine) or neither (affine = false)",
            ));
        }
        let &[c] = running_mean.shape() else {
            return Err(Error::invalid(
                Self::NAME,
                format!("running_mean must be [C], got {:?}", running_mean.shape()),
            ));
        };
        if c == 0 {
            return Err(Error::invalid(Self::NAME, "needs at least one channel"));
        }
        for (name, t) in [
            ("running_var", Some(&running_var)),
            ("weight", weight.as_ref()),
            ("bias", bias.as_ref()),
        ] {
            if let Some(t) = t {
                if t.shape() != [c] {
                    return Err(Error::shape(
                        Self::NAME,
                        t.shape(),
                        &[c],
                        &format!("{name} must be [C] as running_mean"),
                    ));
                }
            }
        }
        // Every training forward writes the statistics in place: buffers
        // shared among them (or with γ, β) would overwrite each other.
        let tensors: Vec<&Tensor> = [Some(&running_mean), Some(&running_var), weight.as_ref(), bias.as_ref()]
            .into_iter()
            .flatten()
            .collect();
        for (i, a) in tensors.iter().enumerate() {
            if tensors[i + 1..].iter().any(|b| a.shares_storage(b)) {
                return Err(Error::invalid(
                    Self::NAME,
                    "running_mean, running_var, weight and bias must each have a buffer of their own \
                     (two of them share one)",
                ));
            }
        }
        Ok(BatchNorm {
            weight: weight.map(|t| super::parameter(Self::NAME, t)).transpose()?,
            bias: bias.map(|t| super::parameter(Self::NAME, t)).transpose()?,
            running_mean: running_mean.detach(),
            running_var: running_var.detach(),
            eps,
            momentum,
            num_features: c,
            training: TrainingFlag::new(),
        })
    }

    /// PyTorch's defaults: ε = 1e-5, momentum 0.1.
    pub fn pytorch(dev: &Device, num_features: usize) -> Result<Self> {
        Self::new(dev, num_features, 1e-5, 0.1)
    }

    /// Keras's `BatchNormalization()` defaults: ε = 1e-3, momentum 0.99,
    /// which is 0.01 in this layer's convention.
    pub fn keras(dev: &Device, num_features: usize) -> Result<Self> {
        // 1 − 0.99, written out: 1.0 - 0.99 in f32 is 0.00999999.
        Self::new(dev, num_features, 1e-3, 0.01)
    }

    /// Number of channels C.
    pub fn num_features(&self) -> usize {
        self.num_features
    }

    /// Whether the layer is in training mode.
    pub fn is_training(&self) -> bool {
        self.training.get()
    }

    fn check_input(&self, x: &Tensor) -> Result<()> {
        let c = self.num_features;
        let shape = x.shape();
        let (rank_ok, expected) = if D == 1 {
            (shape.len() == 2 || shape.len() == 3, format!("[N, {c}] or [N, {c}, L]"))
        } else {
            (shape.len() == 4, format!("[N, {c}, H, W]"))
        };
        if !rank_ok || shape[1] != c {
            return Err(Error::invalid(
                Self::NAME,
                format!("expected input of shape {expected}, got {shape:?}"),
            ));
        }
        Ok(())
    }
}

impl<const D: usize> Module for BatchNorm<D> {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.check_input(x)?;
        x.batch_norm(
            self.weight.as_ref(),
            self.bias.as_ref(),
            Some((&self.running_mean, &self.running_var)),
            self.training.get(),
            self.momentum,
            self.eps,
        )
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut p = Vec::new();
        if let Some(w) = &self.weight {
            p.push(("weight".to_string(), w.clone()));
        }
        if let Some(b) = &self.bias {
            p.push(("bias".to_string(), b.clone()));
        }
        p
    }

    fn buffers(&self) -> Vec<(String, Tensor)> {
        vec![
            ("running_mean".to_string(), self.running_mean.clone()),
            ("running_var".to_string(), self.running_var.clone()),
        ]
    }

    fn set_training(&self, training: bool) {
        self.training.set(training);
    }
}
