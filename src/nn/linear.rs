//! Fully connected layer: y = x·W + b.

use super::init::Init;
use super::Module;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::tensor::{Generator, Tensor};

/// y = x·W + b with W of shape [in, out] (stored input-major, so the forward
/// product needs no transpose) and b of shape `[out]`. Accepts any number of
/// leading batch axes.
pub struct Linear {
    /// [in_features, out_features]
    pub weight: Tensor,
    /// `[out_features]`, if the layer has a bias.
    pub bias: Option<Tensor>,
}

impl Linear {
    /// Weights ~ U(−1/√in, 1/√in) and bias likewise (PyTorch's default).
    pub fn new(dev: &Device, rng: &Generator, in_features: usize, out_features: usize, bias: bool) -> Result<Linear> {
        let bound = 1.0 / (in_features.max(1) as f32).sqrt();
        let weight = rng
            .uniform(dev, &[in_features, out_features], -bound, bound)?
            .requires_grad_();
        let bias = if bias {
            Some(rng.uniform(dev, &[out_features], -bound, bound)?.requires_grad_())
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }

    /// Weights and bias drawn from the given initialisers (fans of the
    /// weight: fan_in = `in_features`, fan_out = `out_features`); no bias
    /// when `bias_init` is `None`. `Init::GlorotUniform` with
    /// `Some(Init::Zeros)` gives Keras' `Dense` defaults.
    pub fn with_init(
        dev: &Device,
        rng: &Generator,
        in_features: usize,
        out_features: usize,
        weight_init: Init,
        bias_init: Option<Init>,
    ) -> Result<Linear> {
        let weight = weight_init.parameter(dev, rng, &[in_features, out_features])?;
        let bias = bias_init.map(|b| b.parameter(dev, rng, &[out_features])).transpose()?;
        Ok(Linear { weight, bias })
    }

    /// Input features.
    pub fn in_features(&self) -> usize {
        self.weight.shape()[0]
    }

    /// Output features.
    pub fn out_features(&self) -> usize {
        self.weight.shape()[1]
    }

    /// A layer on existing tensors: `weight` `[in, out]` and `bias` `[out]`.
    /// The layer uses the tensors given, so a gradient asked for through the
    /// caller's own handle is the layer's (a tensor that does not require a
    /// gradient is made a leaf on the same buffer that does; see
    /// [`Linear::weight`]). The output of ops is refused: pass a leaf.
    ///
    /// ```
    /// # fn main() -> balgan::Result<()> {
    /// use balgan::{grad, nn::{Linear, Module}, Device, Tensor};
    /// let dev = Device::new()?;
    /// let w = Tensor::from_slice(&dev, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[3, 2])?.requires_grad_();
    /// let layer = Linear::from_tensors(w.clone(), None)?;
    /// let x = Tensor::from_slice(&dev, &[1.0, 0.0, -1.0], &[1, 3])?;
    /// let loss = layer.forward(&x)?.sum_all()?;
    /// // d loss / dW[i][j] = x[i]: the gradient reaches the caller's `w`.
    /// let g = grad(&[&loss], &[&w], false)?.remove(0);
    /// assert_eq!(g.to_vec()?, vec![1.0, 1.0, 0.0, 0.0, -1.0, -1.0]);
    /// # Ok(()) }
    /// ```
    pub fn from_tensors(weight: Tensor, bias: Option<Tensor>) -> Result<Linear> {
        if weight.rank() != 2 {
            return Err(Error::invalid(
                "Linear",
                format!("weight must be [in, out], got {:?}", weight.shape()),
            ));
        }
        if weight.shape().contains(&0) {
            return Err(Error::invalid(
                "Linear",
                format!(
                    "weight {:?} has an empty axis; features must be at least 1",
                    weight.shape()
                ),
            ));
        }
        if let Some(b) = &bias {
            if b.shape() != [weight.shape()[1]] {
                return Err(Error::shape(
                    "Linear",
                    b.shape(),
                    &[weight.shape()[1]],
                    "bias must be [out]",
                ));
            }
        }
        Ok(Linear {
            weight: super::parameter("Linear", weight)?,
            bias: bias.map(|b| super::parameter("Linear", b)).transpose()?,
        })
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = x.matmul(&self.weight)?;
        match &self.bias {
            Some(b) => y.add(b),
            None => Ok(y),
        }
    }

    fn parameters(&self) -> Vec<(String, Tensor)> {
        let mut p = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            p.push(("bias".to_string(), b.clone()));
        }
        p
    }
}
