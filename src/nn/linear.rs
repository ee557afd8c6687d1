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

    /// A layer from existing tensors (they become leaves that require grad).
    pub fn from_tensors(weight: Tensor, bias: Option<Tensor>) -> Result<Linear> {
        if weight.rank() != 2 {
            return Err(Error::invalid(
                "Linear",
                format!("weight must be [in, out], got {:?}", weight.shape()),
            ));
        }
        if let Some(b) = &bias {
            if b.shape() != [weight.shape()[1]] {
                return Err(Error::shape("Linear", weight.shape(), b.shape(), "bias must be [out]"));
            }
        }
        Ok(Linear {
            weight: weight.detach().requires_grad_(),
            bias: bias.map(|b| b.detach().requires_grad_()),
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
